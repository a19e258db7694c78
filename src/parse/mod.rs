//! Parse: turn a loaded [`Project`] into a [`Manifest`]. Every node's template is rendered once
//! in the parse phase to collect `config()`, `ref()` and `source()` calls; schema YAML adds
//! properties, generic tests, sources, exposures and unit tests; configs are resolved
//! (project tree, then YAML `config:`, then the file's `config()`, as dbt orders them); and each
//! node gets its database, schema and alias.

pub mod generic_tests;
mod names;
pub mod node_json;
pub mod nodes;
mod patch;
mod resolver;
mod test_args;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use indexmap::IndexMap;
use minijinja::value::Value;
use rayon::prelude::*;
use serde_json::{Map, Value as Json};

use crate::diagnostics::{closest, Code, Diagnostic, Location, Result};
use crate::jinja::context::{
    self, ConfigObj, Handed, Recorder, RefCall, RefFn, Resolver, Scope, SourceFn, VarFn,
};
use crate::jinja::objects::{Quoting, Relation};
use crate::jinja::{Jinja, JinjaInputs};
use crate::project::config::{self as cfg, Config};
use crate::project::schema::{self, ColumnDef, NodePatch, SchemaFile};
use crate::project::{FileKind, Package, Project, SourceFile};
pub use names::NameLookup;
use names::Namer;
pub use nodes::*;
pub use patch::find_in;
use patch::*;
use resolver::*;
pub use resolver::{doc_fn, empty_graph};
use test_args::*;
pub use test_args::{eval_test_kwarg, eval_test_kwarg_static, jinja_eval, kwarg_scope};

pub struct Parsed {
    pub manifest: Manifest,
    pub jinja: Jinja,
    pub warnings: Vec<Diagnostic>,
    /// Parse-phase outputs the compile phase may reuse, by node id (see [`ParseRender`]).
    pub renders: HashMap<String, ParseRender>,
}

/// A node's parse-phase output, kept when the template read nothing phase-dependent but what
/// [`Handed`] lists. If compile would hand out the same values, the output is the compiled SQL
/// and the node is not rendered a second time.
#[derive(Debug)]
pub struct ParseRender {
    pub sql: String,
    pub handed: Vec<Handed>,
}

/// Parse-time options decided by the command.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    pub invocation_id: String,
    pub full_refresh: bool,
    /// The warehouse, for `run_query` and introspection while compiling.
    pub query: Option<crate::jinja::objects::QueryRunner>,
}

fn quoting(project: &Project) -> Quoting {
    let q = &project.file.quoting;
    let get = |k: &str| q.get(k).and_then(Json::as_bool).unwrap_or(true);
    Quoting {
        database: get("database"),
        schema: get("schema"),
        identifier: get("identifier"),
    }
}

/// A patch from YAML, with the file it came from.
struct Patched<'a> {
    patch: &'a NodePatch,
    file: &'a str,
    display: &'a str,
    text: &'a Arc<str>,
}

struct SchemaDoc {
    package: String,
    file: SourceFile,
    doc: SchemaFile,
}

/// Phase timings on stderr when `WEIR_TIMINGS` is set (for benchmarks and profiling).
// `WEIR_TIMINGS=1` profiling lines for developers, on stderr.
#[allow(clippy::print_stderr)]
pub fn timing(label: &str, since: &mut std::time::Instant) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("WEIR_TIMINGS").is_some()) {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let mem = |k: &str| {
            status
                .lines()
                .find(|l| l.starts_with(k))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(0, |kb| kb / 1024)
        };
        // Process CPU time since the last mark: wall time against it shows idle cores.
        static CPU: std::sync::Mutex<f64> = std::sync::Mutex::new(0.0);
        let cpu_now = {
            // SAFETY: getrusage fills the struct it is given.
            let mut u: libc::rusage = unsafe { std::mem::zeroed() };
            unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
            let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            secs(u.ru_utime) + secs(u.ru_stime)
        };
        let cpu = cpu_now
            - std::mem::replace(
                &mut *CPU
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                cpu_now,
            );
        eprintln!(
            "[timing] {label}: {:.1} ms, cpu {:.1} ms (rss {} MiB, peak {} MiB)",
            since.elapsed().as_secs_f64() * 1000.0,
            cpu * 1000.0,
            mem("VmRSS:"),
            mem("VmHWM:")
        );
    }
    *since = std::time::Instant::now();
}

pub fn parse(project: &Project, opts: &ParseOptions) -> Result<Parsed> {
    let mut t = std::time::Instant::now();
    let mut warnings: Vec<Diagnostic> = project.warnings.clone();
    let quoting = quoting(project);

    // Docs blocks.
    let mut docs_map: HashMap<(String, String), String> = HashMap::new();
    let mut manifest = Manifest::default();
    for p in &project.packages {
        for f in p.files.iter().filter(|f| f.kind == FileKind::Docs) {
            for block in schema::docs_blocks(&f.display, &f.text)? {
                let uid = format!("doc.{}.{}", p.name, block.name);
                docs_map.insert((p.name.clone(), block.name.clone()), block.contents.clone());
                manifest.docs.insert(
                    uid.clone(),
                    DocNode {
                        unique_id: uid,
                        package_name: p.name.clone(),
                        name: block.name,
                        block_contents: block.contents,
                        original_file_path: f.original_file_path.clone(),
                    },
                );
            }
        }
    }

    let jinja = Jinja::new(
        project,
        JinjaInputs {
            invocation_id: opts.invocation_id.clone(),
            run_started_at: chrono::Utc::now().naive_utc(),
            docs: docs_map.clone(),
            quoting,
            warehouse: project.target.warehouse.clone(),
            query: opts.query.clone(),
            full_refresh: opts.full_refresh,
        },
    )?;
    for (pkg, defs) in &jinja.shared.registry.by_package {
        for def in defs.values() {
            manifest.macros.insert(
                def.unique_id.clone(),
                MacroNode {
                    unique_id: def.unique_id.clone(),
                    package_name: pkg.clone(),
                    name: def.name.clone(),
                    original_file_path: def.original_file_path.clone(),
                    macro_sql: def.raw_code.clone(),
                    arguments: def.arguments.clone(),
                    description: String::new(),
                },
            );
        }
    }

    timing("jinja env + docs", &mut t);
    // Schema YAML.
    let schema_files: Vec<(&Package, &SourceFile)> = project
        .packages
        .iter()
        .flat_map(|p| {
            p.files
                .iter()
                .filter(|f| f.kind == FileKind::Schema)
                .map(move |f| (p, f))
        })
        .collect();
    let schema_docs: Vec<SchemaDoc> = schema_files
        .par_iter()
        .map(|(p, f)| {
            Ok(SchemaDoc {
                package: p.name.clone(),
                file: (*f).clone(),
                doc: schema::parse(&f.display, &f.text)?,
            })
        })
        .collect::<Result<_>>()?;
    let mut patches: HashMap<(String, ResourceType, String), Patched> = HashMap::new();
    for sd in &schema_docs {
        for (rt, list) in [
            (ResourceType::Model, &sd.doc.models),
            (ResourceType::Seed, &sd.doc.seeds),
            (ResourceType::Snapshot, &sd.doc.snapshots),
            (ResourceType::Analysis, &sd.doc.analyses),
        ] {
            for patch in list {
                let key = (sd.package.clone(), rt, patch.name.clone());
                if let Some(prev) = patches.get(&key) {
                    return Err(Diagnostic::error(
                        Code::E107,
                        format!(
                            "{} '{}' is described twice in YAML",
                            rt.as_str(),
                            patch.name
                        ),
                    )
                    .at(find_in(
                        &sd.file.display,
                        &sd.file.text,
                        &format!("name: {}", patch.name),
                    ))
                    .note(format!("first described in {}", prev.display))
                    .help("keep one entry per model; merge the two")
                    .into());
                }
                patches.insert(
                    key,
                    Patched {
                        patch,
                        file: &sd.file.original_file_path,
                        display: &sd.file.display,
                        text: &sd.file.text,
                    },
                );
            }
        }
        for m in &sd.doc.macros {
            let uid = format!("macro.{}.{}", sd.package, m.name);
            if let Some(node) = manifest.macros.get_mut(&uid) {
                node.description = m.description.clone().unwrap_or_default();
            }
        }
    }

    timing("schema yaml", &mut t);
    // Nodes from files.
    let root_pkg = project.root_package();
    let node_files: Vec<(&Package, &SourceFile, ResourceType)> = project
        .packages
        .iter()
        .flat_map(|p| {
            p.files.iter().filter_map(move |f| {
                let rt = match f.kind {
                    FileKind::Model => ResourceType::Model,
                    FileKind::Seed => ResourceType::Seed,
                    FileKind::Snapshot => ResourceType::Snapshot,
                    FileKind::Analysis => ResourceType::Analysis,
                    FileKind::SingularTest => ResourceType::Test,
                    _ => return None,
                };
                Some((p, f, rt))
            })
        })
        .collect();
    let pending: Vec<Vec<Node>> = node_files
        .par_iter()
        .map(|(p, f, rt)| {
            if *rt == ResourceType::Snapshot {
                Ok(snapshot_blocks(f)?
                    .into_iter()
                    .map(|(name, text)| new_node(project, p, root_pkg, f, *rt, &name, text))
                    .collect())
            } else {
                let stem = f
                    .resource_path
                    .rsplit('/')
                    .next()
                    .unwrap_or(&f.resource_path);
                let name = stem.rsplit_once('.').map_or(stem, |(n, _)| n).to_string();
                Ok(vec![new_node(
                    project,
                    p,
                    root_pkg,
                    f,
                    *rt,
                    &name,
                    f.text.clone(),
                )])
            }
        })
        .collect::<Result<_>>()?;
    let mut pending: Vec<Node> = pending.into_iter().flatten().collect();

    // Duplicate names among models, seeds and snapshots of a package are an error, as in dbt.
    let mut by_name: HashMap<(String, String), &Node> = HashMap::new();
    for n in &pending {
        if matches!(
            n.resource_type,
            ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
        ) {
            if let Some(prev) = by_name.insert((n.package_name.clone(), n.name.clone()), n) {
                return Err(Diagnostic::error(Code::E106, format!("two resources are named '{}': {} and {}", n.name, prev.display_path, n.display_path))
                    .note(format!("also defined in {}", prev.display_path))
                    .help("model names must be unique within a project: rename one of the files (set `alias` in its config if the table name must stay the same)")
                    .into());
            }
        }
    }

    // Sources. Their `database`, `schema` and `identifier` may be Jinja (`"{{ target.schema
    // ~ '_raw' }}"`), rendered as dbt renders them.
    let render_prop = |sd: &SchemaDoc, text: &str| {
        render_yaml_string(&jinja, &sd.file.display, &sd.package, text)
    };
    for sd in &schema_docs {
        for src in &sd.doc.sources {
            let src_schema = render_prop(sd, src.schema.as_deref().unwrap_or(&src.name))?;
            let src_database = match &src.database {
                Some(d) => render_prop(sd, d)?,
                None => project.target.database.clone(),
            };
            for t in &src.tables {
                let identifier = render_prop(sd, t.identifier.as_deref().unwrap_or(&t.name))?;
                let uid = format!("source.{}.{}.{}", sd.package, src.name, t.name);
                let mut config = Config::new();
                let fqn_path = yml_dirs(&sd.file.resource_path);
                let mut fqn = vec![sd.package.clone()];
                fqn.extend(fqn_path);
                fqn.push(src.name.clone());
                fqn.push(t.name.clone());
                cfg::from_tree(&root_pkg.file.sources, &fqn, &mut config);
                cfg::merge(&mut config, &src.config);
                cfg::merge(&mut config, &t.config);
                let mut tags = src.tags.clone();
                tags.extend(t.tags.iter().cloned());
                manifest.sources.insert(
                    uid.clone(),
                    SourceNode {
                        unique_id: uid,
                        package_name: sd.package.clone(),
                        source_name: src.name.clone(),
                        name: t.name.clone(),
                        identifier,
                        database: src_database.clone(),
                        schema: src_schema.clone(),
                        description: t.description.clone().unwrap_or_default(),
                        source_description: src.description.clone().unwrap_or_default(),
                        loader: src.loader.clone().unwrap_or_default(),
                        loaded_at_field: t.loaded_at_field.clone().or(src.loaded_at_field.clone()),
                        loaded_at_query: t.loaded_at_query.clone().or(src.loaded_at_query.clone()),
                        freshness: t.freshness.clone().or(src.freshness.clone()),
                        quoting: src
                            .quoting
                            .clone()
                            .into_iter()
                            .chain(t.quoting.clone())
                            .collect(),
                        columns: columns(&t.columns),
                        meta: src.meta.clone().into_iter().chain(t.meta.clone()).collect(),
                        tags,
                        config,
                        original_file_path: sd.file.original_file_path.clone(),
                        path: sd.file.original_file_path.clone(),
                        fqn,
                    },
                );
            }
        }
    }

    // YAML properties and configs before rendering (the template's config.get sees them).
    let patch_warnings: Vec<Vec<Diagnostic>> = pending
        .par_iter_mut()
        .map(|n| {
            let mut w = Vec::new();
            if let Some(p) = patches.get(&(n.package_name.clone(), n.resource_type, n.name.clone()))
            {
                apply_patch(n, p, &jinja, &mut w);
            }
            w
        })
        .collect();
    warnings.extend(patch_warnings.into_iter().flatten());
    // Which nodes exist, for YAML entries that describe none.
    let existing: std::collections::HashSet<(String, ResourceType, String)> = pending
        .iter()
        .map(|n| (n.package_name.clone(), n.resource_type, n.name.clone()))
        .collect();
    timing("nodes + sources", &mut t);
    let predicted = predict(&jinja, project, &mut pending, &manifest, quoting);
    let resolver = Arc::new(ParseResolver::new(
        &pending, &manifest, project, quoting, predicted,
    ));

    timing("names guessed", &mut t);
    // Render every node once in the parse phase, in parallel.
    type Rendered = (Node, Vec<Diagnostic>, Option<ParseRender>);
    let results: Vec<std::result::Result<Rendered, Diagnostic>> = pending
        .into_par_iter()
        .map(|n| {
            // `model` in the template shares the node; it is the node's only owner again once
            // the render is over.
            let shared = Arc::new(n);
            let rec = Arc::new(Recorder::probing());
            let scope = parse_scope(&jinja, &shared, &resolver, &rec);
            let mut render = None;
            if shared.resource_type != ResourceType::Seed {
                let n = &shared;
                let sql = jinja.render(&n.display_path, &n.raw_code, scope, &n.package_name).map_err(|d| with_node(d, n))?;
                let probe = rec.probe.as_ref().expect("a probing recorder");
                if !probe.opaque.load(std::sync::atomic::Ordering::Relaxed) {
                    let handed = std::mem::take(&mut *probe.handed.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
                    render = Some(ParseRender { sql, handed });
                }
            } else {
                drop(scope);
            }
            let mut n = Arc::try_unwrap(shared).unwrap_or_else(|shared| (*shared).clone());
            let recorded = std::mem::take(&mut *rec.config.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            let mut w = Vec::new();
            for key in recorded.keys() {
                if !cfg::KNOWN_KEYS.contains(&key.as_str()) && !key.starts_with("__") {
                    w.push(
                        Diagnostic::warning(Code::W101, format!("unknown config key '{key}' in {} '{}'", n.resource_type.as_str(), n.name))
                            .at(find_in(&n.display_path, &n.raw_code, key))
                            .help(match closest(key, cfg::KNOWN_KEYS.iter().copied()) {
                                Some(c) => format!("did you mean '{c}'?"),
                                None => "weir keeps it in the node's config, but no materialization reads it; custom keys belong under `meta:`".into(),
                            }),
                    );
                }
            }
            cfg::merge(&mut n.config, &recorded);
            n.refs = std::mem::take(&mut *rec.refs.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            n.sources = std::mem::take(&mut *rec.sources.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            n.depends_on_macros = rec.macros.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned().collect();
            Ok((n, w, render))
        })
        .collect();
    let mut parsed_nodes = Vec::with_capacity(results.len());
    let mut renders = HashMap::new();
    for r in results {
        let (n, w, render) = r?;
        warnings.extend(w);
        if let Some(render) = render {
            renders.insert(n.unique_id.clone(), render);
        }
        parsed_nodes.push(n);
    }
    // A macro that does not compile is reported where it is called; one nobody calls is
    // still an error, as in dbt.
    let mut broken: Vec<&Diagnostic> = jinja
        .shared
        .registry
        .by_package
        .values()
        .flat_map(|m| m.values())
        .filter_map(|d| d.broken.as_ref())
        .collect();
    broken.sort_by_key(|d| d.location.as_ref().map(|l| (l.path.clone(), l.start)));
    if let Some(d) = broken.first() {
        return Err((*d).clone().into());
    }

    timing("parse render", &mut t);
    // Generic tests from YAML.
    // (schema file, target, column, entry) for every test entry, then built in parallel.
    let mut entries: Vec<(&SchemaDoc, TestTarget, Option<&str>, &Json)> = Vec::new();
    for sd in &schema_docs {
        for (rt, list) in [
            (ResourceType::Model, &sd.doc.models),
            (ResourceType::Seed, &sd.doc.seeds),
            (ResourceType::Snapshot, &sd.doc.snapshots),
        ] {
            for patch in list {
                // dbt: properties for a node that does not exist are a warning, and their tests
                // are not created.
                if !existing.contains(&(sd.package.clone(), rt, patch.name.clone())) {
                    warnings.push(
                        Diagnostic::warning(
                            Code::W106,
                            format!(
                                "{} '{}' is described in YAML but does not exist; its tests are skipped",
                                rt.as_str(),
                                patch.name
                            ),
                        )
                        .at(find_in(
                            &sd.file.display,
                            &sd.file.text,
                            &format!("name: {}", patch.name),
                        ))
                        .help("remove the entry, or add the file it describes"),
                    );
                    continue;
                }
                let target = || TestTarget::Node {
                    name: patch.name.clone(),
                    rt,
                };
                entries.extend(patch.all_tests().map(|t| (sd, target(), None, t)));
                for c in &patch.columns {
                    entries.extend(
                        c.all_tests()
                            .map(|t| (sd, target(), Some(c.name.as_str()), t)),
                    );
                }
            }
        }
        for src in &sd.doc.sources {
            for table in &src.tables {
                let target = || TestTarget::Source {
                    source: src.name.clone(),
                    table: table.name.clone(),
                };
                entries.extend(table.all_tests().map(|t| (sd, target(), None, t)));
                for c in &table.columns {
                    entries.extend(
                        c.all_tests()
                            .map(|t| (sd, target(), Some(c.name.as_str()), t)),
                    );
                }
            }
        }
    }
    let mut test_nodes: Vec<Node> = entries
        .par_iter()
        .map(|(sd, target, column, t)| generic_test(project, sd, target, *column, t))
        .collect::<Result<_>>()?;
    drop(entries);
    // Only exposures and unit tests are read from the YAML from here on: the rest is freed
    // now (on every core), so that what follows reuses its memory.
    let schema_docs: Vec<SchemaDoc> = schema_docs
        .into_par_iter()
        .map(|mut sd| {
            sd.doc = SchemaFile {
                exposures: std::mem::take(&mut sd.doc.exposures),
                unit_tests: std::mem::take(&mut sd.doc.unit_tests),
                ..SchemaFile::default()
            };
            sd
        })
        .collect();
    // Test kwargs are evaluated in the parse phase to find what the test depends on.
    let test_results: Vec<Result<()>> = test_nodes
        .par_iter_mut()
        .map(|n| {
            // Jinja in a test's YAML config (`enabled: "{{ target.type != 'x' }}"`), rendered
            // to a native value as dbt renders it.
            for v in n.config.values_mut() {
                if let Json::String(text) = v {
                    if text.contains("{{") || text.contains("{%") {
                        let out =
                            render_yaml_string(&jinja, &n.display_path, &n.package_name, text)?;
                        *v = native_value(&out);
                    }
                }
            }
            let no_kwargs = Map::new();
            let kwargs = n.test_metadata.as_ref().map_or(&no_kwargs, |m| &m.kwargs);
            // Most arguments (`model`, `column_name`, plain values) need no Jinja: evaluate
            // them with a small scope, and only build the full context when one does. A
            // failed attempt leaves nothing recorded.
            let quick = {
                let rec = Arc::new(Recorder::default());
                let dyn_resolver: Arc<dyn Resolver> = resolver.clone();
                let scope = kwarg_scope(dyn_resolver, Some(rec.clone()), n);
                kwargs
                    .iter()
                    .all(|(k, v)| {
                        matches!(eval_test_kwarg_static(&jinja, k, v, &scope), Some(Ok(_)))
                    })
                    .then_some(rec)
            };
            let rec = match quick {
                Some(rec) => rec,
                None => {
                    let rec = Arc::new(Recorder::default());
                    let scope = parse_scope(&jinja, &Arc::new(n.clone()), &resolver, &rec);
                    for (k, v) in kwargs {
                        eval_test_kwarg(&jinja, k, v, scope.clone(), &n.package_name)
                            .map_err(|d| with_node(d, n))?;
                    }
                    rec
                }
            };
            n.refs = std::mem::take(
                &mut *rec
                    .refs
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            n.sources = std::mem::take(
                &mut *rec
                    .sources
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            Ok(())
        })
        .collect();
    for t in test_results {
        t?;
    }
    parsed_nodes.append(&mut test_nodes);

    timing("test kwargs", &mut t);
    // Names: database, schema, alias.
    let namer = Namer::new(&jinja, project);
    let named: Vec<Result<()>> = parsed_nodes
        .par_iter_mut()
        .map(|n| namer.name(&jinja, n))
        .collect();
    for n in named {
        n?;
    }

    timing("naming", &mut t);
    // Enabled nodes go to the manifest; disabled ones are kept aside.
    let mut enabled: Vec<Box<Node>> = Vec::with_capacity(parsed_nodes.len());
    for n in parsed_nodes {
        if cfg::enabled(&n.config) {
            enabled.push(Box::new(n));
        } else {
            manifest
                .disabled
                .entry(n.unique_id.clone())
                .or_default()
                .push(n);
        }
    }
    // In id order, the map is built in one pass (a later node with the same id wins, as with
    // inserts).
    enabled.sort_by(|a, b| a.unique_id.cmp(&b.unique_id));
    manifest.nodes = enabled
        .into_iter()
        .map(|n| (n.unique_id.clone(), n))
        .collect();

    // Resolve refs and sources into dependencies.
    let lookup = NameLookup::new(&manifest);
    // (id, depends_on, attached node), for every node in parallel; errors in node order.
    let all: Vec<&Node> = manifest.nodes.values().map(|n| &**n).collect();
    type Resolved = (Vec<String>, Option<String>);
    let resolved: Vec<Result<Resolved>> = all
        .par_iter()
        .map(|n| {
            let mut deps = Vec::new();
            for r in &n.refs {
                match lookup.resolve(&n.package_name, r) {
                    Some(uid) => deps.push(uid),
                    None => {
                        let disabled = manifest
                            .disabled
                            .values()
                            .flatten()
                            .any(|d| d.name == r.name);
                        let what = if disabled {
                            "which is disabled"
                        } else {
                            "which was not found"
                        };
                        return Err(Diagnostic::error(
                            Code::E301,
                            format!(
                                "{} '{}' depends on '{}', {what}",
                                n.resource_type.as_str(),
                                n.name,
                                r.name
                            ),
                        )
                        .at(find_in(&n.display_path, &n.raw_code, &r.name))
                        .help(if disabled {
                            "enable that model, or remove the ref".to_string()
                        } else {
                            "check the name".to_string()
                        })
                        .into());
                    }
                }
            }
            for (s, t) in &n.sources {
                deps.push(format!(
                    "source.{}",
                    lookup.source_id(s, t).unwrap_or_default()
                ));
            }
            deps.sort();
            deps.dedup();
            // A generic test is attached to the node it tests.
            let attached = n.test_metadata.as_ref().and_then(|_| {
                attached_from_kwargs(n, &lookup)
                    .or_else(|| deps.iter().find(|d| !d.starts_with("source.")).cloned())
            });
            Ok((deps, attached))
        })
        .collect();
    let resolved: Vec<Resolved> = resolved.into_iter().collect::<Result<_>>()?;
    // Resolved in the map's order: one walk hands each node its own.
    for ((deps, attached), n) in resolved.into_iter().zip(manifest.nodes.values_mut()) {
        if n.test_metadata.is_some() {
            n.attached_node = attached;
        }
        n.depends_on_nodes = deps;
    }

    timing("refs resolved", &mut t);
    // Exposures and unit tests.
    for sd in &schema_docs {
        for e in &sd.doc.exposures {
            let rec = Arc::new(Recorder::default());
            let probe = probe_node(&sd.package, &e.name, &sd.file);
            let scope = parse_scope(&jinja, &Arc::new(probe), &resolver, &rec);
            for dep in &e.depends_on {
                let expr = dep
                    .trim()
                    .trim_start_matches("{{")
                    .trim_end_matches("}}")
                    .trim()
                    .to_string();
                jinja_eval(&jinja, &expr, scope.clone(), &sd.package).map_err(|d| {
                    d.note(format!("in exposure '{}' ({})", e.name, sd.file.display))
                })?;
            }
            let refs = std::mem::take(
                &mut *rec
                    .refs
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            let sources = std::mem::take(
                &mut *rec
                    .sources
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            let mut deps: Vec<String> = refs
                .iter()
                .filter_map(|r| lookup.resolve(&sd.package, r))
                .collect();
            deps.extend(
                sources
                    .iter()
                    .filter_map(|(s, t)| lookup.source_id(s, t).map(|id| format!("source.{id}"))),
            );
            deps.sort();
            let uid = format!("exposure.{}.{}", sd.package, e.name);
            let mut fqn = vec![sd.package.clone()];
            fqn.extend(yml_dirs(&sd.file.resource_path));
            fqn.push(e.name.clone());
            manifest.exposures.insert(
                uid.clone(),
                ExposureNode {
                    unique_id: uid,
                    package_name: sd.package.clone(),
                    name: e.name.clone(),
                    exposure_type: e.exposure_type.clone(),
                    label: e.label.clone(),
                    description: e.description.clone().unwrap_or_default(),
                    url: e.url.clone(),
                    maturity: e.maturity.clone(),
                    owner: e.owner.clone(),
                    depends_on_nodes: deps,
                    refs,
                    sources,
                    tags: e.tags.clone(),
                    meta: e.meta.clone(),
                    config: e.config.clone(),
                    original_file_path: sd.file.original_file_path.clone(),
                    fqn,
                },
            );
        }
        for u in &sd.doc.unit_tests {
            let model_id = lookup
                .resolve(
                    &sd.package,
                    &RefCall {
                        package: None,
                        name: u.model.clone(),
                        version: None,
                    },
                )
                .ok_or_else(|| {
                    Diagnostic::error(
                        Code::E302,
                        format!(
                            "unit test '{}' tests model '{}', which was not found",
                            u.name, u.model
                        ),
                    )
                    .at(find_in(
                        &sd.file.display,
                        &sd.file.text,
                        &format!("model: {}", u.model),
                    ))
                    .help(
                        closest(&u.model, lookup.model_names())
                            .map(|c| format!("did you mean '{c}'?"))
                            .unwrap_or_else(|| "check the model name".into()),
                    )
                })?;
            let uid = format!("unit_test.{}.{}.{}", sd.package, u.model, u.name);
            let mut fqn = vec![sd.package.clone()];
            fqn.extend(yml_dirs(&sd.file.resource_path));
            fqn.push(u.model.clone());
            fqn.push(u.name.clone());
            let mut config = Config::new();
            cfg::from_tree(&root_pkg.file.unit_tests, &fqn, &mut config);
            cfg::merge(&mut config, &u.config);
            manifest.unit_tests.insert(
                uid.clone(),
                UnitTestNode {
                    unique_id: uid,
                    package_name: sd.package.clone(),
                    name: u.name.clone(),
                    model: u.model.clone(),
                    description: u.description.clone().unwrap_or_default(),
                    given: u.given.clone(),
                    expect: u.expect.clone(),
                    overrides: u.overrides.clone(),
                    config,
                    depends_on_nodes: vec![model_id],
                    original_file_path: sd.file.original_file_path.clone(),
                    fqn,
                },
            );
        }
    }

    // dbt warns about config paths in dbt_project.yml that match no resource.
    for (tree_name, tree, rt) in [
        ("models", &root_pkg.file.models, ResourceType::Model),
        ("seeds", &root_pkg.file.seeds, ResourceType::Seed),
        (
            "snapshots",
            &root_pkg.file.snapshots,
            ResourceType::Snapshot,
        ),
    ] {
        let mut unknown = Vec::new();
        cfg::unknown_keys(tree, &mut Vec::new(), &mut unknown);
        for (path, key) in unknown {
            warnings.push(
                Diagnostic::warning(Code::W101, format!("unknown config key '{key}' under `{tree_name}:{}` in dbt_project.yml", path.iter().map(|p| format!(" {p}:")).collect::<String>()))
                    .at(find_in("dbt_project.yml", &project.file_text, &format!("{key}:")))
                    .help(format!("prefix configs with '+' (`+{key}:`) to make them explicit; a mapping here would be a folder")),
            );
        }
        let mut paths = Vec::new();
        cfg::tree_paths(tree, &mut Vec::new(), &mut paths);
        for path in paths {
            let matched = manifest
                .nodes
                .values()
                .map(|n| &**n)
                .chain(manifest.disabled.values().flatten())
                .any(|n| n.resource_type == rt && n.fqn.starts_with(&path));
            if !matched {
                warnings.push(
                    Diagnostic::warning(
                        Code::W102,
                        format!(
                            "`{tree_name}: {}` in dbt_project.yml applies to no {}",
                            path.join("."),
                            rt.as_str()
                        ),
                    )
                    .at(find_in(
                        "dbt_project.yml",
                        &project.file_text,
                        &format!("{}:", path.last().map_or("", String::as_str)),
                    ))
                    .help("check the folder and project names in this config path"),
                );
            }
        }
    }
    // Two nodes writing one relation would overwrite each other: dbt refuses it.
    let mut by_relation: HashMap<(String, String, String), &Node> = HashMap::new();
    for n in manifest.nodes.values() {
        let n: &Node = n;
        if !matches!(
            n.resource_type,
            ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
        ) || n.materialized() == "ephemeral"
        {
            continue;
        }
        let key = (
            n.database.to_lowercase(),
            n.schema.to_lowercase(),
            n.alias.to_lowercase(),
        );
        if let Some(prev) = by_relation.insert(key, n) {
            // Point at the one that set an alias, which is most likely the one to change.
            let has_alias = |x: &Node| x.config.get("alias").is_some_and(|v| !v.is_null());
            let (prev, n) = if has_alias(prev) && !has_alias(n) {
                (n, prev)
            } else {
                (prev, n)
            };
            return Err(Diagnostic::error(
                Code::E106,
                format!(
                    "'{}' ({}) and '{}' ({}) are both the relation {}.{}",
                    prev.name, prev.display_path, n.name, n.display_path, n.schema, n.alias
                ),
            )
            .at({
                let at = n.raw_code.find("alias").unwrap_or(0);
                Location::new(n.display_path.clone(), n.raw_code.clone(), at, at + 5)
            })
            .note(format!("also {}", prev.display_path))
            .help("give one of them another `alias` (or `schema`)")
            .into());
        }
    }
    warnings.extend(
        jinja
            .take_warnings()
            .into_iter()
            .map(|w| Diagnostic::warning(Code::W201, w)),
    );
    Ok(Parsed {
        manifest,
        jinja,
        warnings,
        renders,
    })
}

/// A YAML string with Jinja, rendered as dbt renders YAML properties: with `target`, `var`,
/// `env_var` and the project's macros.
fn render_yaml_string(jinja: &Jinja, display: &str, package: &str, text: &str) -> Result<String> {
    if !(text.contains("{{") || text.contains("{%")) {
        return Ok(text.to_string());
    }
    let mut vars = context::FastMap::default();
    vars.insert(
        "var",
        Value::from_object(VarFn {
            shared: jinja.shared.clone(),
        }),
    );
    let scope = Arc::new(Scope {
        vars,
        recorder: None,
        statements: Default::default(),
        introspected: Default::default(),
    });
    let out = jinja.render(display, &Arc::from(text), scope, package)?;
    Ok(out.trim().to_string())
}

/// A rendered value as dbt's native rendering reads it: `True`/`False`, numbers, else text.
fn native_value(text: &str) -> Json {
    match text {
        "True" | "true" => return Json::Bool(true),
        "False" | "false" => return Json::Bool(false),
        "None" | "none" => return Json::Null,
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return Json::from(i);
    }
    if let Some(f) = text
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
    {
        return Json::Number(f);
    }
    Json::String(text.to_string())
}
