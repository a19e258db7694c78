//! Compile: render every enabled node with resolved relations into plain SQL, inject ephemeral
//! models as CTEs, and write `target/compiled/...` and `target/manifest.json`.
//!
//! A content-keyed cache (`target/weir_cache.json`) makes a no-op re-compile skip everything.

pub mod builtin_tests;
mod node;

pub use node::LateCompiler;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use minijinja::value::{Object, Value};
use rayon::prelude::*;
use serde_json::Value as Json;

use crate::diagnostics::{io_error, Code, Diagnostic, Result};
use crate::graph::Dag;
use crate::jinja::context::{self, RefCall, Resolver, Scope, VarFn};
use crate::jinja::objects::{Quoting, Relation};
use crate::jinja::Jinja;
use crate::parse::{self, Manifest, NameLookup, Node, Parsed, ResourceType};
use crate::project::Project;

pub struct Compiled {
    pub manifest: Manifest,
    pub dag: Dag,
    pub warnings: Vec<Diagnostic>,
    /// The project's `on-run-start` / `on-run-end` statements, rendered.
    pub on_run_start: Vec<String>,
    pub on_run_end: Vec<String>,
    pub unit_tests: Vec<UnitTestPlan>,
    /// Nodes `run` compiles just before they run (`CompileOptions::compile_late`): their render
    /// failed up front, or read the warehouse. Set only with `late`.
    pub deferred: BTreeSet<String>,
    pub late: Option<Arc<LateCompiler>>,
}

#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    pub full_refresh: bool,
    /// Compile only these ids (None: every enabled node).
    pub only: Option<std::collections::BTreeSet<String>>,
    /// Keep nodes whose render fails for a compile just before they run (as dbt compiles each
    /// node then), rather than failing the whole command.
    pub compile_late: bool,
}

/// Relations of resolved nodes; ephemeral models render as their CTE name.
struct CompileResolver {
    lookup: NameLookup,
    relations: HashMap<String, Relation>,
    sources: HashMap<String, Relation>,
}

impl CompileResolver {
    fn new(m: &Manifest, quoting: Quoting) -> Self {
        // What ref() can name: models, seeds and snapshots.
        let relations = m
            .nodes
            .values()
            .filter(|n| {
                matches!(
                    n.resource_type,
                    ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
                )
            })
            .map(|n| (n.unique_id.clone(), n.relation(quoting)))
            .collect();
        let sources = m
            .sources
            .values()
            .map(|s| {
                (
                    s.unique_id.clone(),
                    Relation::new(&s.database, &s.schema, &s.identifier, quoting),
                )
            })
            .collect();
        CompileResolver {
            lookup: NameLookup::new(m),
            relations,
            sources,
        }
    }
}

impl Resolver for CompileResolver {
    fn resolve_ref(&self, from: &str, call: &RefCall) -> std::result::Result<Relation, Diagnostic> {
        self.lookup
            .resolve_id(from, call)
            .and_then(|id| self.relations.get(id).cloned())
            .ok_or_else(|| {
                Diagnostic::error(
                    Code::E301,
                    format!(
                        "ref('{}') points to a model that does not exist or is disabled",
                        call.name
                    ),
                )
            })
    }
    fn resolve_source(
        &self,
        source: &str,
        table: &str,
    ) -> std::result::Result<Relation, Diagnostic> {
        self.lookup
            .source_id(source, table)
            .and_then(|id| self.sources.get(&format!("source.{id}")).cloned())
            .ok_or_else(|| {
                Diagnostic::error(
                    Code::E303,
                    format!("source('{source}', '{table}') is not defined"),
                )
            })
    }
}

/// `graph` in templates: built on first use, since few templates read it.
#[derive(Debug)]
struct LazyGraph {
    json: Arc<Json>,
    value: OnceLock<Value>,
}

impl Object for LazyGraph {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.value
            .get_or_init(|| Value::from_serialize(&*self.json))
            .get_attr(key.as_str()?)
            .ok()
    }
}

fn graph_json(m: &Manifest) -> Json {
    let nodes: serde_json::Map<String, Json> = m
        .nodes
        .values()
        .map(|n| (n.unique_id.clone(), crate::parse::node_json::node_json(n)))
        .collect();
    let sources: serde_json::Map<String, Json> = m
        .sources
        .values()
        .map(|s| (s.unique_id.clone(), crate::parse::node_json::source_json(s)))
        .collect();
    serde_json::json!({"nodes": nodes, "sources": sources, "exposures": {}, "metrics": {}, "macros": {}})
}

pub fn compile(project: &Project, parsed: Parsed, opts: &CompileOptions) -> Result<Compiled> {
    let Parsed {
        mut manifest,
        jinja,
        mut warnings,
        renders,
    } = parsed;
    let mut t = std::time::Instant::now();
    let resolver: Arc<dyn Resolver> =
        Arc::new(CompileResolver::new(&manifest, jinja.shared.quoting));
    // `graph` costs a full serialization of the manifest: build it only if a template reads it.
    let reads_graph = manifest
        .nodes
        .values()
        .any(|n| n.raw_code.contains("graph"))
        || manifest
            .macros
            .values()
            .any(|m| m.macro_sql.contains("graph"));
    let graph = if reads_graph {
        Value::from_object(LazyGraph {
            json: Arc::new(graph_json(&manifest)),
            value: OnceLock::new(),
        })
    } else {
        parse::empty_graph()
    };
    let warehouse = Path::new(&project.target.warehouse).to_path_buf();

    // What is rendered (seeds are not), in id order.
    let nodes: Vec<(&String, &Node)> = manifest
        .nodes
        .iter()
        .filter(|(id, n)| {
            n.resource_type != ResourceType::Seed
                && opts
                    .only
                    .as_ref()
                    .is_none_or(|o| o.contains(*id) || n.is_ephemeral())
        })
        .map(|(id, n)| (id, &**n))
        .collect();
    let templates = nodes
        .iter()
        .filter(|(_, n)| n.test_metadata.is_none())
        .count();
    // Each node's parse render, handed over (not copied) to the node's compile.
    let mut renders = renders;
    let slots: Vec<Option<parse::ParseRender>> =
        nodes.iter().map(|(id, _)| renders.remove(*id)).collect();
    drop(renders);
    let ctx = node::RenderCtx {
        native: builtin_tests::NativeTests::new(&jinja.shared.registry),
        jinja,
        resolver: resolver.clone(),
        graph: graph.clone(),
        warehouse,
        full_refresh: opts.full_refresh,
    };
    let reused_count = std::sync::atomic::AtomicUsize::new(0);
    let render = || -> Vec<std::result::Result<node::Rendered, Diagnostic>> {
        nodes
            .par_iter()
            .zip(slots.into_par_iter())
            .map(|((id, n), parsed)| ctx.render(id, n, parsed, &reused_count))
            .collect()
    };
    // The graph (and its cycle check, which wins over render errors) is built alongside.
    let (dag, rendered) = rayon::join(|| Dag::build(&manifest), render);
    let dag = dag?;
    // In a run (`compile_late`), a node that fails here, or that read the warehouse while
    // rendering, is rendered again at its turn: it may read relations the run creates first.
    // Ephemeral models are part of other nodes' SQL and are rendered here only.
    let mut deferred: BTreeSet<String> = BTreeSet::new();
    let mut kept_nodes: Vec<(&String, &Node)> = Vec::with_capacity(nodes.len());
    let mut kept: Vec<node::Rendered> = Vec::with_capacity(nodes.len());
    for ((id, n), r) in nodes.iter().zip(rendered) {
        let late = opts.compile_late && !n.is_ephemeral();
        match r {
            Ok(r) if late && r.4 => {
                deferred.insert((*id).clone());
            }
            Ok(r) => {
                kept_nodes.push((*id, *n));
                kept.push(r);
            }
            Err(_) if late => {
                deferred.insert((*id).clone());
            }
            Err(d) => return Err(d.into()),
        }
    }
    let (nodes, rendered) = (kept_nodes, kept);
    let jinja = &ctx.jinja;
    let on_run_start = render_project_hooks(jinja, project, "on-run-start", &graph)?;
    let on_run_end = render_project_hooks(jinja, project, "on-run-end", &graph)?;

    parse::timing(
        &format!(
            "compile render ({} of {templates} nodes from the parse render)",
            reused_count.into_inner()
        ),
        &mut t,
    );
    // Ephemeral models become CTEs of their consumers, deepest first, each once.
    let injected: Vec<Option<String>> = if manifest.nodes.values().any(|n| n.is_ephemeral()) {
        // Each ephemeral model's node and SQL, by id.
        let bodies: HashMap<&str, (&Node, &str)> = rendered
            .iter()
            .zip(&nodes)
            .filter(|(_, (_, n))| n.is_ephemeral())
            .map(|((_, sql, ..), (id, n))| (id.as_str(), (*n, sql.as_str())))
            .collect();
        rendered
            .par_iter()
            .zip(nodes.par_iter())
            .map(|((_, sql, ..), (_, n))| {
                let mut ctes: Vec<(String, String)> = Vec::new();
                node::collect_ephemerals(&bodies, &n.depends_on_nodes, &mut ctes, &mut Vec::new());
                (!ctes.is_empty()).then(|| crate::sql::inject_ctes(sql, &ctes))
            })
            .collect()
    } else {
        Vec::new()
    };
    // Results are in id order, as the nodes are: one walk hands each its SQL and hooks.
    let mut results = rendered
        .into_iter()
        .zip(injected.into_iter().chain(std::iter::repeat(None)))
        .peekable();
    for (id, n) in manifest.nodes.iter_mut() {
        if results.peek().is_some_and(|((rid, ..), _)| rid == id) {
            let ((_, sql, pre, post, _), with_ctes) = results.next().expect("peeked");
            n.pre_hooks = pre;
            n.post_hooks = post;
            n.compiled_code = Some(with_ctes.unwrap_or(sql));
        }
    }
    debug_assert!(results.next().is_none(), "every result belongs to a node");
    warnings.extend(
        jinja
            .take_warnings()
            .into_iter()
            .map(|w| Diagnostic::warning(Code::W201, w)),
    );
    let unit_tests = plan_unit_tests(jinja, &manifest, &resolver, &graph, opts)?;
    Ok(Compiled {
        manifest,
        dag,
        warnings,
        on_run_start,
        on_run_end,
        unit_tests,
        late: (!deferred.is_empty()).then(|| Arc::new(LateCompiler { ctx })),
        deferred,
    })
}

/// One `given` input of a unit test: the CTE that replaces the ref/source, and its rows.
#[derive(Debug, Clone)]
pub struct UnitInput {
    pub cte: String,
    /// The relation the input stands for (its columns and types type the rows).
    pub relation: Option<(String, String)>,
    pub format: String,
    pub rows: Json,
}

/// A unit test, compiled: the model rendered against its inputs, and the expected rows.
#[derive(Debug, Clone)]
pub struct UnitTestPlan {
    pub unique_id: String,
    pub name: String,
    pub model: String,
    pub inputs: Vec<UnitInput>,
    pub model_sql: String,
    pub expect_format: String,
    pub expect_rows: Json,
    /// The model's render for this test failed (in a run, that is this test's error alone).
    pub error: Option<Diagnostic>,
}

/// `ref()`/`source()` resolve to the unit test's input CTEs when given, else as usual.
struct UnitResolver {
    inner: Arc<dyn Resolver>,
    refs: HashMap<String, String>,
    sources: HashMap<(String, String), String>,
}

impl Resolver for UnitResolver {
    fn resolve_ref(&self, from: &str, call: &RefCall) -> std::result::Result<Relation, Diagnostic> {
        let mut rel = self.inner.resolve_ref(from, call)?;
        if let Some(cte) = self.refs.get(&call.name) {
            rel.cte_name = Some(cte.clone());
        }
        Ok(rel)
    }
    fn resolve_source(
        &self,
        source: &str,
        table: &str,
    ) -> std::result::Result<Relation, Diagnostic> {
        let mut rel = self.inner.resolve_source(source, table)?;
        if let Some(cte) = self.sources.get(&(source.to_string(), table.to_string())) {
            rel.cte_name = Some(cte.clone());
        }
        Ok(rel)
    }
}

/// A name that lives as long as the process (scope variables are keyed by `&'static str`);
/// each distinct name is leaked once.
fn interned(name: &str) -> &'static str {
    static NAMES: OnceLock<std::sync::Mutex<std::collections::HashSet<&'static str>>> =
        OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.get(name) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// `var()` with a unit test's `overrides: vars:` first.
#[derive(Debug)]
struct VarOverride {
    overrides: serde_json::Map<String, Json>,
    inner: Value,
}

impl Object for VarOverride {
    fn call(
        self: &Arc<Self>,
        state: &minijinja::State,
        args: &[Value],
    ) -> std::result::Result<Value, minijinja::Error> {
        if let Some(v) = args
            .first()
            .and_then(Value::as_str)
            .and_then(|n| self.overrides.get(n))
        {
            return Ok(Value::from_serialize(v));
        }
        self.inner.call(state, args)
    }
}

/// `ref('x')`, `ref('pkg', 'x')` or `source('s', 't')` as a unit test input.
fn input_call_re() -> &'static regex::Regex {
    static CALL: OnceLock<regex::Regex> = OnceLock::new();
    CALL.get_or_init(|| {
        regex::Regex::new(r#"^(ref|source)\(\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]+)['"]\s*)?\)$"#)
            .expect("a valid regex")
    })
}

fn plan_unit_tests(
    jinja: &Jinja,
    m: &Manifest,
    resolver: &Arc<dyn Resolver>,
    graph: &Value,
    opts: &CompileOptions,
) -> Result<Vec<UnitTestPlan>> {
    let mut plans = Vec::new();
    for u in m.unit_tests.values() {
        if opts
            .only
            .as_ref()
            .is_some_and(|o| !o.contains(&u.unique_id))
        {
            continue;
        }
        let Some(model) = u.depends_on_nodes.first().and_then(|id| m.nodes.get(id)) else {
            continue;
        };
        let mut refs = HashMap::new();
        let mut sources = HashMap::new();
        let mut inputs = Vec::new();
        let mut this_cte = None;
        for (i, g) in u.given.iter().enumerate() {
            let input = g
                .get("input")
                .and_then(Json::as_str)
                .unwrap_or("")
                .trim()
                .to_string();
            let cte = format!("__weir_unit_input_{i}");
            let call = input_call_re();
            let relation = if input == "this" {
                this_cte = Some(cte.clone());
                Some((model.schema.clone(), model.alias.clone()))
            } else if let Some(c) = call.captures(&input) {
                let (kind, a, b) = (
                    &c[1],
                    c[2].to_string(),
                    c.get(3).map(|x| x.as_str().to_string()),
                );
                let rel = if kind == "ref" {
                    let name = b.clone().unwrap_or_else(|| a.clone());
                    refs.insert(name.clone(), cte.clone());
                    resolver.resolve_ref(
                        &model.package_name,
                        &RefCall {
                            package: b.as_ref().map(|_| a.clone()),
                            name,
                            version: None,
                        },
                    )
                } else {
                    let table = b.clone().unwrap_or_default();
                    sources.insert((a.clone(), table.clone()), cte.clone());
                    resolver.resolve_source(&a, &table)
                };
                rel.ok().map(|r| {
                    (
                        r.schema.unwrap_or_default(),
                        r.identifier.unwrap_or_default(),
                    )
                })
            } else {
                return Err(Diagnostic::error(
                    Code::E602,
                    format!("unit test '{}': cannot read input '{input}'", u.name),
                )
                .help("inputs are ref('model'), source('source', 'table') or this")
                .note(format!("in {}", u.original_file_path))
                .into());
            };
            inputs.push(UnitInput {
                cte,
                relation,
                format: g
                    .get("format")
                    .and_then(Json::as_str)
                    .unwrap_or("dict")
                    .to_string(),
                rows: g.get("rows").cloned().unwrap_or(Json::Array(Vec::new())),
            });
        }
        let overrides = u.overrides.clone().unwrap_or(Json::Null);
        let unit_resolver: Arc<dyn Resolver> = Arc::new(UnitResolver {
            inner: resolver.clone(),
            refs,
            sources,
        });
        let incremental = overrides
            .get("macros")
            .and_then(|mac| mac.get("is_incremental"))
            .and_then(Json::as_bool)
            .unwrap_or(false);
        let base = node::compile_scope(jinja, model, &unit_resolver, graph, incremental);
        let mut vars = base.vars.clone();
        // `overrides: macros:`: a macro (or built-in) called by that name returns the given value.
        if let Some(Json::Object(macros)) = overrides.get("macros") {
            for (name, value) in macros {
                if name == "is_incremental" || name.contains('.') {
                    continue;
                }
                let value = Value::from_serialize(value);
                vars.insert(
                    interned(name),
                    Value::from_function(
                        move |_args: &[Value]| -> std::result::Result<Value, minijinja::Error> {
                            Ok(value.clone())
                        },
                    ),
                );
            }
        }
        // `overrides: env_vars:`: env_var() sees these first.
        if let Some(Json::Object(env)) = overrides.get("env_vars") {
            let env: HashMap<String, String> = env
                .iter()
                .map(|(k, v)| {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    (k.clone(), v)
                })
                .collect();
            vars.insert(
                "env_var",
                Value::from_function(
                    move |name: String,
                          default: Option<String>|
                          -> std::result::Result<Value, minijinja::Error> {
                        if let Some(v) = env.get(&name) {
                            return Ok(Value::from(v.clone()));
                        }
                        crate::project::env_var(&name, default.as_deref())
                            .map(Value::from)
                            .map_err(|e| {
                                minijinja::Error::new(
                                    minijinja::ErrorKind::InvalidOperation,
                                    e.diagnostic().message.clone(),
                                )
                            })
                    },
                ),
            );
        }
        if let Some(Json::Object(v)) = overrides.get("vars") {
            let inner = vars.get("var").cloned().unwrap_or_default();
            vars.insert(
                "var",
                Value::from_object(VarOverride {
                    overrides: v.clone(),
                    inner,
                }),
            );
        }
        if let Some(cte) = &this_cte {
            let mut this = Relation::new(
                &model.database,
                &model.schema,
                &model.alias,
                jinja.shared.quoting,
            );
            this.cte_name = Some(cte.clone());
            vars.insert("this", Value::from_object(this));
        }
        let scope = Arc::new(Scope {
            vars,
            recorder: None,
            statements: Default::default(),
            introspected: Default::default(),
        });
        let rendered = jinja
            .render(
                &model.display_path,
                &model.raw_code,
                scope,
                &model.package_name,
            )
            .map_err(|d| {
                d.note(format!(
                    "while rendering model '{}' for unit test '{}'",
                    model.name, u.name
                ))
            });
        let (model_sql, error) = match rendered {
            Ok(sql) => (sql, None),
            Err(d) if opts.compile_late => (String::new(), Some(d)),
            Err(d) => return Err(d.into()),
        };
        plans.push(UnitTestPlan {
            unique_id: u.unique_id.clone(),
            name: u.name.clone(),
            model: model.name.clone(),
            inputs,
            model_sql,
            error,
            expect_format: u
                .expect
                .get("format")
                .and_then(Json::as_str)
                .unwrap_or("dict")
                .to_string(),
            expect_rows: u
                .expect
                .get("rows")
                .cloned()
                .unwrap_or(Json::Array(Vec::new())),
        });
    }
    Ok(plans)
}

/// `on-run-start` / `on-run-end` of the root project.
fn render_project_hooks(
    jinja: &Jinja,
    project: &Project,
    key: &str,
    graph: &Value,
) -> Result<Vec<String>> {
    let hooks = match key {
        "on-run-start" => project.file.on_run_start.as_ref(),
        _ => project.file.on_run_end.as_ref(),
    };
    let Some(hooks) = hooks else {
        return Ok(Vec::new());
    };
    let mut vars = context::FastMap::default();
    vars.insert(
        "var",
        Value::from_object(VarFn {
            shared: jinja.shared.clone(),
        }),
    );
    vars.insert("execute", Value::from(true));
    vars.insert("graph", graph.clone());
    vars.insert("results", Value::from(Vec::<Value>::new()));
    vars.insert("schemas", Value::from(vec![project.target.schema.clone()]));
    vars.insert("database_schemas", Value::from(Vec::<Value>::new()));
    let scope = Arc::new(Scope {
        vars,
        recorder: None,
        statements: Default::default(),
        introspected: Default::default(),
    });
    let mut out = Vec::new();
    for text in hooks.to_vec() {
        let sql = jinja
            .render(
                "dbt_project.yml",
                &Arc::from(text.as_str()),
                scope.clone(),
                &project.name,
            )
            .map_err(|d| d.note(format!("in {key} of dbt_project.yml")))?;
        if !sql.trim().is_empty() {
            out.push(sql);
        }
    }
    Ok(out)
}

/// Write `target/compiled/...`: only files whose content changed.
pub fn write_compiled_files(project: &Project, c: &Compiled) -> Result<()> {
    let mut t = std::time::Instant::now();
    let compiled_dir = project.target_dir().join("compiled");
    let files: Vec<(std::path::PathBuf, &String)> = c
        .manifest
        .nodes
        .values()
        .filter_map(|n| {
            n.compiled_code
                .as_ref()
                .map(|sql| (compiled_dir.join(n.compiled_path()), sql))
        })
        .collect();
    // Each folder once, rather than a `create_dir_all` per file.
    let mut dirs: std::collections::HashSet<&Path> = std::collections::HashSet::new();
    let mut last = None;
    for dir in files.iter().filter_map(|(p, _)| p.parent()) {
        // Files of a folder mostly come together: skip hashing the folder just seen.
        if last != Some(dir) {
            dirs.insert(dir);
            last = Some(dir);
        }
    }
    for dir in dirs {
        std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
    }
    let writes: Vec<Result<()>> = files
        .par_iter()
        .map(|(path, sql)| {
            if std::fs::read(path).is_ok_and(|old| old == sql.as_bytes()) {
                return Ok(());
            }
            crate::fsio::write_atomic(path, sql.as_bytes()).map_err(|e| io_error("write", path, e))
        })
        .collect();
    for w in writes {
        w?;
    }
    parse::timing("compiled files written", &mut t);
    Ok(())
}

pub fn write_if_changed(path: &Path, text: &str) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
    }
    crate::fsio::write_atomic(path, text.as_bytes()).map_err(|e| io_error("write", path, e))
}

/// The compile cache: everything compile reads, hashed. Equal key and present outputs mean a
/// re-compile has nothing to do.
pub fn cache_key(
    project: &Project,
    opts: &CompileOptions,
    env_vars: &BTreeMap<String, Option<String>>,
) -> String {
    let mut h = crate::project::Fingerprint::default();
    h.add(env!("CARGO_PKG_VERSION"));
    h.add(&project.fingerprint.to_string());
    h.add(&format!("{:?}", opts.full_refresh));
    h.add(&format!("{:?}", opts.only));
    for (k, v) in env_vars {
        h.add(k);
        h.add(&format!(
            "{:?}",
            std::env::var(k)
                .ok()
                .or(v.clone())
                .filter(|_| std::env::var(k).is_ok())
        ));
    }
    // Existing tables change what is_incremental() returns.
    let wh = Path::new(&project.target.warehouse);
    if let Ok(schemas) = std::fs::read_dir(wh) {
        let mut names: Vec<String> = Vec::new();
        for s in schemas.flatten() {
            if let Ok(tables) = std::fs::read_dir(s.path()) {
                names.extend(tables.flatten().map(|t| t.path().display().to_string()));
            }
        }
        names.sort();
        h.add(&names.join("\n"));
    }
    format!("{:016x}", h.finish())
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct CacheFile {
    pub key: String,
    pub env_vars: BTreeMap<String, Option<String>>,
    pub nodes: usize,
}

pub fn read_cache(project: &Project) -> Option<CacheFile> {
    let text = std::fs::read_to_string(project.target_dir().join("weir_cache.json")).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn write_cache(project: &Project, cache: &CacheFile) -> Result<()> {
    let text = serde_json::to_string(cache).map_err(|e| Diagnostic::internal(e.to_string()))?;
    write_if_changed(&project.target_dir().join("weir_cache.json"), &text)
}
