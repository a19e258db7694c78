//! The command line: dbt's commands and flags, each command returning data that one printer
//! writes. Exit codes as dbt's: 0 success, 1 model or test failure, 2 project or usage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{json, Value as Json};

use crate::artifacts;
use crate::compile::{self, CompileOptions};
use crate::diagnostics::{Code, Diagnostic, Result, Severity};
use crate::graph::select::selectors_yml;
use crate::graph::select::{IndirectSelection, SelectNode, SelectionGraph};
use crate::parse::{self, Manifest, ParseOptions, ResourceType};
use crate::project::memory::MemoryLimit;
use crate::project::{self, LoadOptions};

mod deps_cmd;
mod run_cmd;

#[derive(Parser, Debug)]
#[command(name = "weir", version, about = "Compile and run dbt projects on embedded DataFusion and Delta Lake", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Render every selected node to plain SQL under target/compiled and write target/manifest.json
    Compile(CompileArgs),
    /// Read the project and write target/manifest.json without compiling SQL
    Parse(ProjectArgs),
    /// List resources, with dbt's selection syntax
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Remove the folders listed in clean-targets (target/ by default); never the warehouse
    Clean(ProjectArgs),
    /// Load seeds (CSV files) into Delta tables
    Seed(RunArgs),
    /// Materialize models (views, tables, incremental models) in DAG order
    Run(RunArgs),
    /// Run data tests against the warehouse
    Test(RunArgs),
    /// Seeds, models and tests together in DAG order; a failing test skips what depends on its model
    Build(RunArgs),
    /// Print rows of a model's query, or of an inline query
    Show(ShowArgs),
    /// Run one SQL statement against the warehouse and print its result
    Sql(SqlArgs),
    /// Install the packages of packages.yml (hub, git, local, tarball) into dbt_packages/ and pin them in package-lock.yml
    Deps(DepsArgs),
    /// Source commands: `weir source freshness`
    Source {
        #[command(subcommand)]
        command: SourceCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum SourceCommand {
    /// Check how recently each source was loaded (loaded_at_field, warn_after, error_after) and write target/sources.json
    Freshness(FreshnessArgs),
}

#[derive(Args, Debug)]
pub struct FreshnessArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub selection: SelectArgs,
}

#[derive(Args, Debug)]
pub struct DepsArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Resolve the packages again (newest matching hub versions, branch heads), ignoring
    /// package-lock.yml
    #[arg(long)]
    pub upgrade: bool,
    /// Only write package-lock.yml; install nothing
    #[arg(long)]
    pub lock: bool,
    /// Also consider hub versions whose require_dbt_version excludes dbt 1.12
    #[arg(long)]
    pub no_version_check: bool,
    /// Add a package to packages.yml first, then install: `org/name@1.1.1` (a range:
    /// `org/name@>=1.0.0,<2.0.0`), `<git url>@<revision>` or a local path
    #[arg(long, value_name = "NAME@VERSION")]
    pub add_package: Option<String>,
    /// Where the package of --add-package comes from
    #[arg(long, value_enum, default_value_t = PackageSource::Hub, requires = "add_package")]
    pub source: PackageSource,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageSource {
    Hub,
    Git,
    Local,
}

#[derive(Args, Debug)]
pub struct SqlArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The statement (tables are `schema.name`, e.g. `select * from main.orders`)
    pub statement: String,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub selection: SelectArgs,
    /// Rebuild incremental models and seeds from scratch
    #[arg(long)]
    pub full_refresh: bool,
    /// Stop at the first failure
    #[arg(long, short = 'x')]
    pub fail_fast: bool,
    /// No progress bar, even on a terminal (it is off when stdout is not a terminal)
    #[arg(long)]
    pub no_progress: bool,
    /// No colours (they are off when stdout is not a terminal, or NO_COLOR is set)
    #[arg(long)]
    pub no_color: bool,
    /// `json`: one JSON object per finished node on stdout
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Wait up to this long (30s, 10m, 1h) for another weir command writing to the same
    /// warehouse to finish; by default a held warehouse fails at once
    #[arg(long, value_name = "DURATION", value_parser = crate::run::lock::parse_timeout, default_value = "0")]
    pub lock_timeout: std::time::Duration,
    /// Microbatch models: build only the batches from this time on (a date or timestamp)
    #[arg(long, value_name = "TIME")]
    pub event_time_start: Option<String>,
    /// Microbatch models: build only the batches before this time (a date or timestamp)
    #[arg(long, value_name = "TIME")]
    pub event_time_end: Option<String>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub selection: SelectArgs,
    /// A query to run instead of a model (plain SQL)
    #[arg(long)]
    pub inline: Option<String>,
    /// Rows to print
    #[arg(long, default_value_t = 5)]
    pub limit: usize,
}

#[derive(Args, Debug, Clone)]
pub struct ProjectArgs {
    /// The dbt project directory (holding dbt_project.yml)
    #[arg(long, env = "DBT_PROJECT_DIR", default_value = ".")]
    pub project_dir: PathBuf,
    /// Where profiles.yml is (default: DBT_PROFILES_DIR, the project dir, ~/.dbt)
    #[arg(long)]
    pub profiles_dir: Option<PathBuf>,
    /// Target in the profile
    #[arg(long, short = 't')]
    pub target: Option<String>,
    /// Variables as YAML or JSON: '{key: value}'
    #[arg(long)]
    pub vars: Option<String>,
    /// Worker threads
    #[arg(long)]
    pub threads: Option<usize>,
    /// Memory all queries of the command share, over the profile's `memory_limit`: a size
    /// (4GB, 512MB, 1.5GiB, bytes) or a percentage of the machine's memory (60%, the default)
    #[arg(long, value_name = "SIZE", value_parser = parse_memory_limit)]
    pub memory_limit: Option<MemoryLimit>,
    /// Print only errors
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Args, Debug, Clone)]
pub struct SelectArgs {
    /// Nodes to include (dbt selection syntax)
    #[arg(long, short = 's', num_args = 1.., alias = "models", short_alias = 'm')]
    pub select: Vec<String>,
    /// Nodes to exclude
    #[arg(long, num_args = 1..)]
    pub exclude: Vec<String>,
    /// A named selector from selectors.yml
    #[arg(long)]
    pub selector: Option<String>,
    /// How tests attached to selected nodes are picked up
    #[arg(long, value_enum, default_value_t = Indirect::Eager)]
    pub indirect_selection: Indirect,
    /// Artifacts of an earlier run (run_results.json, sources.json), for `result:` and
    /// `source_status:` selection
    #[arg(long, env = "DBT_STATE")]
    pub state: Option<PathBuf>,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum Indirect {
    Eager,
    Cautious,
    Buildable,
    Empty,
}

#[derive(Args, Debug)]
pub struct CompileArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub selection: SelectArgs,
    /// Compile as if incremental models were being rebuilt
    #[arg(long)]
    pub full_refresh: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Selector,
    Name,
    Path,
    Json,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(flatten)]
    pub selection: SelectArgs,
    /// Only these resource types
    #[arg(long, num_args = 1.., alias = "resource-types")]
    pub resource_type: Vec<String>,
    /// Output format
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Selector)]
    pub output: Output,
    /// With --output json: the keys to print
    #[arg(long, num_args = 1..)]
    pub output_keys: Vec<String>,
}

pub fn main() -> ExitCode {
    crate::diagnostics::install_panic_hook();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprint!("{}", e.diagnostic().render());
            ExitCode::from(e.exit_code())
        }
    }
}

/// A query runner for Jinja backed by the project's warehouse, opened on first use (most
/// projects never query while compiling). A failure to open it is the query's error.
pub(crate) fn warehouse_runner(project: &project::Project) -> crate::jinja::objects::QueryRunner {
    type Opened = Result<(tokio::runtime::Runtime, crate::engine::Engine), Diagnostic>;
    let opened: std::sync::Arc<std::sync::OnceLock<Opened>> = Default::default();
    let (warehouse, database, schema) = (
        project.target.warehouse.clone(),
        project.target.database.clone(),
        project.target.schema.clone(),
    );
    let options = engine_options(&project.target, project.temp_dir());
    crate::jinja::objects::QueryRunner(std::sync::Arc::new(move |sql: &str| {
        let opened = opened.get_or_init(|| {
            let options = options.as_ref().map_err(|e| e.diagnostic().clone())?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .map_err(|e| {
                    Diagnostic::internal(format!("cannot start the query runtime: {e}"))
                })?;
            let engine = runtime
                .block_on(crate::engine::Engine::open(
                    &warehouse, &database, &schema, options,
                ))
                .map_err(|e| e.diagnostic().clone())?;
            Ok((runtime, engine))
        });
        let (runtime, engine) = opened.as_ref().map_err(Clone::clone)?;
        runtime
            .block_on(engine.query_result(sql))
            .map_err(|e| e.diagnostic().clone())
    }))
}

/// Load and parse the project: every command starts here. `warehouse` lets `run_query` and
/// introspection reach the warehouse while compiling.
pub(crate) fn load_and_parse(
    args: &ProjectArgs,
    full_refresh: bool,
    warehouse: bool,
) -> Result<(project::Project, parse::Parsed, String)> {
    let project = project::load(&load_opts(args))?;
    let invocation = uuid::Uuid::new_v4().to_string();
    let query = warehouse.then(|| warehouse_runner(&project));
    let parsed = parse::parse(
        &project,
        &ParseOptions {
            invocation_id: invocation.clone(),
            full_refresh,
            query,
        },
    )?;
    print_warnings(&parsed.warnings, args.quiet);
    Ok((project, parsed, invocation))
}

/// The project's warehouse as an engine.
pub(crate) async fn open_engine(project: &project::Project) -> Result<crate::engine::Engine> {
    crate::engine::Engine::open(
        &project.target.warehouse,
        &project.target.database,
        &project.target.schema,
        &engine_options(&project.target, project.temp_dir())?,
    )
    .await
}

fn parse_memory_limit(text: &str) -> std::result::Result<MemoryLimit, String> {
    MemoryLimit::parse(text)
}

/// The target's memory limit in bytes on this machine, and where queries spill.
pub(crate) fn engine_options(
    target: &project::profiles::Target,
    temp_directory: std::path::PathBuf,
) -> Result<crate::engine::EngineOptions> {
    let bytes = target.memory_limit.bytes().map_err(|e| {
        Diagnostic::error(
            Code::E114,
            format!("memory limit {}: {e}", target.memory_limit),
        )
    })?;
    Ok(crate::engine::EngineOptions {
        memory_limit: usize::try_from(bytes).unwrap_or(usize::MAX),
        temp_directory,
    })
}

pub(crate) fn load_opts(p: &ProjectArgs) -> LoadOptions {
    LoadOptions {
        project_dir: p.project_dir.clone(),
        profiles_dir: p.profiles_dir.clone(),
        target: p.target.clone(),
        vars: p.vars.clone(),
        threads: p.threads,
        memory_limit: p.memory_limit,
    }
}

pub(crate) fn print_warnings(warnings: &[Diagnostic], quiet: bool) {
    if quiet {
        return;
    }
    for w in warnings.iter().filter(|w| w.severity == Severity::Warning) {
        eprint!("{}", w.render());
    }
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    crate::jinja::set_which(match &cli.command {
        Command::Compile(_) => "compile",
        Command::Parse(_) => "parse",
        Command::Ls(_) => "list",
        Command::Clean(_) => "clean",
        Command::Seed(_) => "seed",
        Command::Run(_) => "run",
        Command::Test(_) => "test",
        Command::Build(_) => "build",
        Command::Show(_) => "show",
        Command::Sql(_) => "sql",
        Command::Deps(_) => "deps",
        Command::Source { .. } => "freshness",
    });
    match cli.command {
        Command::Compile(args) => cmd_compile(&args),
        Command::Parse(args) => {
            let start = Instant::now();
            let (project, parsed, invocation) = load_and_parse(&args, false, false)?;
            crate::graph::Dag::build(&parsed.manifest)?;
            artifacts::write_manifest(&project, &parsed.manifest, &invocation)?;
            if !args.quiet {
                println!("{}", found_line(&parsed.manifest));
                println!("Parsed in {:.2}s", start.elapsed().as_secs_f64());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ls(args) => cmd_ls(&args),
        Command::Seed(args) => run_cmd::cmd_run(&args, run_cmd::Mode::Seed),
        Command::Run(args) => run_cmd::cmd_run(&args, run_cmd::Mode::Run),
        Command::Test(args) => run_cmd::cmd_run(&args, run_cmd::Mode::Test),
        Command::Build(args) => run_cmd::cmd_run(&args, run_cmd::Mode::Build),
        Command::Show(args) => run_cmd::cmd_show(&args),
        Command::Sql(args) => run_cmd::cmd_sql(&args),
        Command::Deps(args) => deps_cmd::cmd_deps(&args),
        Command::Source {
            command: SourceCommand::Freshness(args),
        } => run_cmd::cmd_freshness(&args),
        Command::Clean(args) => {
            let project = project::load(&load_opts(&args))?;
            let targets = project
                .file
                .clean_targets
                .clone()
                .unwrap_or_else(|| vec![project.file.target_path()]);
            for t in targets {
                let path = project.root.join(&t);
                let wh = std::path::Path::new(&project.target.warehouse);
                if path == wh || wh.starts_with(&path) {
                    eprintln!("skipping {t}: it holds the warehouse, which clean never removes");
                    continue;
                }
                if path.exists() {
                    std::fs::remove_dir_all(&path)
                        .map_err(|e| crate::diagnostics::io_error("remove", &path, e))?;
                    println!("Removed {t}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// dbt's "Found 5 models, 3 seeds, 20 data tests, ..." line.
pub fn found_line(m: &Manifest) -> String {
    let count = |rt: ResourceType| m.nodes.values().filter(|n| n.resource_type == rt).count();
    let mut parts = Vec::new();
    for (n, one, many) in [
        (count(ResourceType::Model), "model", "models"),
        (count(ResourceType::Snapshot), "snapshot", "snapshots"),
        (count(ResourceType::Seed), "seed", "seeds"),
        (count(ResourceType::Test), "data test", "data tests"),
        (count(ResourceType::Analysis), "analysis", "analyses"),
        (m.sources.len(), "source", "sources"),
        (m.exposures.len(), "exposure", "exposures"),
        (m.unit_tests.len(), "unit test", "unit tests"),
        (m.macros.len(), "macro", "macros"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    }
    format!("Found {}", parts.join(", "))
}

fn cmd_compile(args: &CompileArgs) -> Result<ExitCode> {
    let start = Instant::now();
    let mut t = Instant::now();
    let project = project::load(&load_opts(&args.project))?;
    parse::timing("load project", &mut t);
    let no_selection = args.selection.select.is_empty()
        && args.selection.exclude.is_empty()
        && args.selection.selector.is_none();
    let mut opts = CompileOptions {
        full_refresh: args.full_refresh,
        only: None,
        compile_late: false,
    };
    // A no-op re-compile: same inputs as the last successful compile, outputs still there.
    if no_selection {
        if let Some(cache) = compile::read_cache(&project) {
            if cache.key == compile::cache_key(&project, &opts, &cache.env_vars)
                && project.target_dir().join("manifest.json").is_file()
            {
                if !args.project.quiet {
                    println!("Nothing changed since the last compile ({} nodes); outputs are up to date in {:.2}s", cache.nodes, start.elapsed().as_secs_f64());
                }
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
    let invocation = uuid::Uuid::new_v4().to_string();
    let parsed = parse::parse(
        &project,
        &ParseOptions {
            invocation_id: invocation.clone(),
            full_refresh: args.full_refresh,
            query: Some(warehouse_runner(&project)),
        },
    )?;
    if !no_selection {
        let selection = select(&project, &parsed.manifest, &args.selection, &[])?;
        print_warnings(&selection.1, args.project.quiet);
        opts.only = Some(selection.0);
    }
    let env_vars = parsed
        .jinja
        .shared
        .env_vars_read
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let compiled = compile::compile(&project, parsed, &opts)?;
    print_warnings(&compiled.warnings, args.project.quiet);
    artifacts::write_target(&project, &compiled, &invocation)?;
    let env_vars_after = env_vars_read_total(&env_vars);
    if no_selection {
        compile::write_cache(
            &project,
            &compile::CacheFile {
                key: compile::cache_key(&project, &opts, &env_vars_after),
                env_vars: env_vars_after,
                nodes: compiled.manifest.nodes.len(),
            },
        )?;
    }
    if !args.project.quiet {
        println!("{}", found_line(&compiled.manifest));
        let n = compiled
            .manifest
            .nodes
            .values()
            .filter(|n| n.compiled_code.is_some())
            .count();
        println!(
            "Compiled {n} nodes to {}/compiled in {:.2}s",
            project.file.target_path(),
            start.elapsed().as_secs_f64()
        );
    }
    // The process ends here: freeing every node, file and string one at a time would only
    // delay the exit (tens of milliseconds on a large project).
    std::mem::forget(compiled);
    std::mem::forget(project);
    Ok(ExitCode::SUCCESS)
}

fn env_vars_read_total(
    v: &std::collections::BTreeMap<String, Option<String>>,
) -> std::collections::BTreeMap<String, Option<String>> {
    v.clone()
}

/// Build the selection graph from the manifest and apply --select/--exclude/--selector.
pub fn select(
    project: &project::Project,
    m: &Manifest,
    sel: &SelectArgs,
    resource_types: &[String],
) -> Result<(std::collections::BTreeSet<String>, Vec<Diagnostic>)> {
    let mut graph = SelectionGraph::new(select_nodes(m), &project.name);
    if let Some(state) = &sel.state {
        let dir = if state.is_absolute() || state.exists() {
            state.clone()
        } else {
            project.root.join(state)
        };
        if !dir.is_dir() {
            return Err(Diagnostic::error(
                Code::E401,
                format!("--state {}: no such directory", state.display()),
            )
            .help("pass the directory holding the earlier run's artifacts (a copy of its target/)")
            .into());
        }
        let previous = crate::graph::select::PreviousState::load(&dir, &project.target_dir())
            .map_err(|e| {
                crate::diagnostics::Error::from(Diagnostic::error(Code::E401, e.message))
            })?;
        graph = graph.with_state(previous);
    }
    let indirect = match sel.indirect_selection {
        Indirect::Eager => IndirectSelection::Eager,
        Indirect::Cautious => IndirectSelection::Cautious,
        Indirect::Buildable => IndirectSelection::Buildable,
        Indirect::Empty => IndirectSelection::Empty,
    };
    let to_err = |e: crate::graph::select::SelectError| -> crate::diagnostics::Error {
        let mut d = Diagnostic::error(Code::E401, e.message.clone());
        if let Some(h) = e.hint {
            d = d.help(h);
        }
        d.into()
    };
    let selectors_path = project.root.join("selectors.yml");
    let selectors = if selectors_path.is_file() {
        let text = std::fs::read_to_string(&selectors_path)
            .map_err(|e| crate::diagnostics::io_error("read", &selectors_path, e))?;
        selectors_yml::parse_selectors(&text).map_err(to_err)?
    } else {
        Default::default()
    };
    let selection = if let Some(name) = &sel.selector {
        let def = selectors.get(name).ok_or_else(|| {
            Diagnostic::error(
                Code::E402,
                format!("selector '{name}' is not defined in selectors.yml"),
            )
            .help(format!(
                "defined selectors: {}",
                selectors.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        graph.select_with_selector(def, indirect).map_err(to_err)?
    } else if sel.select.is_empty() && sel.exclude.is_empty() {
        match selectors_yml::default_selector(&selectors) {
            Some(def) => graph.select_with_selector(def, indirect).map_err(to_err)?,
            None => graph.select(&[], &[], indirect).map_err(to_err)?,
        }
    } else {
        graph
            .select(&sel.select, &sel.exclude, indirect)
            .map_err(to_err)?
    };
    let mut ids = selection.ids;
    if !resource_types.is_empty() {
        let rt_of = |id: &str| id.split('.').next().unwrap_or("").to_string();
        ids.retain(|id| {
            resource_types
                .iter()
                .any(|rt| rt == &rt_of(id) || (rt == "test" && rt_of(id) == "test"))
        });
    }
    let warnings = selection
        .warnings
        .into_iter()
        .map(|w| Diagnostic::warning(Code::W401, w))
        .collect();
    Ok((ids, warnings))
}

pub fn select_nodes(m: &Manifest) -> Vec<SelectNode> {
    let mut out = Vec::new();
    for n in m.nodes.values() {
        let mut config = serde_json::to_value(&n.config).unwrap_or(Json::Null);
        if let Json::Object(c) = &mut config {
            c.entry("materialized")
                .or_insert_with(|| json!(n.materialized()));
            c.entry("enabled").or_insert(json!(true));
        }
        out.push(SelectNode {
            unique_id: n.unique_id.clone(),
            name: n.name.clone(),
            resource_type: n.resource_type.as_str().to_string(),
            package_name: n.package_name.clone(),
            fqn: n.fqn.clone(),
            original_file_path: n.original_file_path.clone(),
            tags: n.tags(),
            config,
            source_name: None,
            test_type: (n.resource_type == ResourceType::Test).then(|| {
                if n.test_metadata.is_some() {
                    "generic".into()
                } else {
                    "singular".into()
                }
            }),
            test_name: n.test_metadata.as_ref().map(|md| match &md.namespace {
                Some(ns) => format!("{ns}.{}", md.name),
                None => md.name.clone(),
            }),
            depends_on: n.depends_on_nodes.clone(),
            attached_node: n.attached_node.clone(),
        });
    }
    for s in m.sources.values() {
        out.push(SelectNode {
            unique_id: s.unique_id.clone(),
            name: s.name.clone(),
            resource_type: "source".into(),
            package_name: s.package_name.clone(),
            fqn: s.fqn.clone(),
            original_file_path: s.original_file_path.clone(),
            tags: s.tags.clone(),
            config: serde_json::to_value(&s.config).unwrap_or(Json::Null),
            source_name: Some(s.source_name.clone()),
            test_type: None,
            test_name: None,
            depends_on: Vec::new(),
            attached_node: None,
        });
    }
    for e in m.exposures.values() {
        out.push(SelectNode {
            unique_id: e.unique_id.clone(),
            name: e.name.clone(),
            resource_type: "exposure".into(),
            package_name: e.package_name.clone(),
            fqn: e.fqn.clone(),
            original_file_path: e.original_file_path.clone(),
            tags: e.tags.clone(),
            config: serde_json::to_value(&e.config).unwrap_or(Json::Null),
            source_name: None,
            test_type: None,
            test_name: None,
            depends_on: e.depends_on_nodes.clone(),
            attached_node: None,
        });
    }
    for u in m.unit_tests.values() {
        out.push(SelectNode {
            unique_id: u.unique_id.clone(),
            name: u.name.clone(),
            resource_type: "unit_test".into(),
            package_name: u.package_name.clone(),
            fqn: u.fqn.clone(),
            original_file_path: u.original_file_path.clone(),
            tags: Vec::new(),
            config: serde_json::to_value(&u.config).unwrap_or(Json::Null),
            source_name: None,
            test_type: Some("unit".into()),
            test_name: None,
            depends_on: u.depends_on_nodes.clone(),
            attached_node: u.depends_on_nodes.first().cloned(),
        });
    }
    out
}

fn cmd_ls(args: &LsArgs) -> Result<ExitCode> {
    let project = project::load(&load_opts(&args.project))?;
    let parsed = parse::parse(
        &project,
        &ParseOptions {
            invocation_id: uuid::Uuid::new_v4().to_string(),
            full_refresh: false,
            query: None,
        },
    )?;
    print_warnings(&parsed.warnings, args.project.quiet);
    crate::graph::Dag::build(&parsed.manifest)?;
    let m = &parsed.manifest;
    // dbt ls lists every resource type but analyses unless --resource-type says otherwise.
    let default_types: Vec<String> = [
        "model",
        "seed",
        "snapshot",
        "test",
        "source",
        "exposure",
        "unit_test",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let types = if args.resource_type.is_empty() {
        &default_types
    } else {
        &args.resource_type
    };
    let (ids, warnings) = select(&project, m, &args.selection, types)?;
    print_warnings(&warnings, args.project.quiet);
    let mut lines = Vec::new();
    for id in &ids {
        lines.push(ls_line(m, id, args.output, &args.output_keys));
    }
    // dbt prints in unique_id order, whatever the output format.
    for l in lines.into_iter().flatten() {
        println!("{l}");
    }
    Ok(ExitCode::SUCCESS)
}

fn ls_line(m: &Manifest, id: &str, output: Output, keys: &[String]) -> Option<String> {
    let (name, rt, pkg, path, selector, extra): (String, &str, String, String, String, Json) =
        if let Some(n) = m.nodes.get(id) {
            (
                n.name.clone(),
                n.resource_type.as_str(),
                n.package_name.clone(),
                n.original_file_path.clone(),
                n.fqn.join("."),
                crate::parse::node_json::node_json(n),
            )
        } else if let Some(s) = m.sources.get(id) {
            (
                format!("{}.{}", s.source_name, s.name),
                "source",
                s.package_name.clone(),
                s.original_file_path.clone(),
                format!("source:{}", s.fqn.join(".")),
                crate::parse::node_json::source_json(s),
            )
        } else if let Some(e) = m.exposures.get(id) {
            (
                e.name.clone(),
                "exposure",
                e.package_name.clone(),
                e.original_file_path.clone(),
                format!("exposure:{}", e.fqn.join(".")),
                json!({"unique_id": e.unique_id}),
            )
        } else if let Some(u) = m.unit_tests.get(id) {
            (
                u.name.clone(),
                "unit_test",
                u.package_name.clone(),
                u.original_file_path.clone(),
                format!("unit_test:{}.{}", u.package_name, u.name),
                json!({"unique_id": u.unique_id}),
            )
        } else {
            return None;
        };
    Some(match output {
        Output::Name => name,
        Output::Path => path,
        Output::Selector => selector,
        Output::Json => {
            let mut obj = serde_json::Map::new();
            let all: [(&str, Json); 9] = [
                ("name", json!(name)),
                ("resource_type", json!(rt)),
                ("package_name", json!(pkg)),
                ("original_file_path", json!(path)),
                ("unique_id", json!(id)),
                ("alias", json!(extra.get("alias"))),
                ("config", json!(extra.get("config"))),
                ("tags", json!(extra.get("tags"))),
                ("depends_on", json!(extra.get("depends_on"))),
            ];
            for (k, v) in all {
                let k = k.to_string();
                if keys.is_empty() || keys.contains(&k) {
                    obj.insert(k, v);
                }
            }
            Json::Object(obj).to_string()
        }
    })
}
