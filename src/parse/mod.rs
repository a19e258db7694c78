//! Parse: turn a loaded [`Project`] into a [`Manifest`]. Every node's template is rendered once
//! in the parse phase to collect `config()`, `ref()` and `source()` calls; schema YAML adds
//! properties, generic tests, sources, exposures and unit tests; configs are resolved
//! (project tree, then YAML `config:`, then the file's `config()`, as dbt orders them); and each
//! node gets its database, schema and alias.

pub mod generic_tests;
pub mod nodes;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use indexmap::IndexMap;
use minijinja::value::Value;
use rayon::prelude::*;
use serde_json::{Map, Value as Json};

use crate::diagnostics::{closest, Diagnostic, Location, Result};
use crate::jinja::context::{
    self, ConfigObj, Handed, Recorder, RefCall, RefFn, Resolver, Scope, SourceFn, VarFn,
};
use crate::jinja::objects::{Quoting, Relation};
use crate::jinja::{Jinja, JinjaInputs};
use crate::project::config::{self as cfg, Config};
use crate::project::schema::{self, ColumnDef, NodePatch, SchemaFile};
use crate::project::{FileKind, Package, Project, SourceFile};
pub use nodes::*;

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
        let cpu = cpu_now - std::mem::replace(&mut *CPU.lock().unwrap(), cpu_now);
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
                        "E107",
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
                return Err(Diagnostic::error("E106", format!("two resources are named '{}': {} and {}", n.name, prev.display_path, n.display_path))
                    .note(format!("also defined in {}", prev.display_path))
                    .help("model names must be unique within a project: rename one of the files (set `alias` in its config if the table name must stay the same)")
                    .into());
            }
        }
    }

    // Sources.
    for sd in &schema_docs {
        for src in &sd.doc.sources {
            for t in &src.tables {
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
                        identifier: t.identifier.clone().unwrap_or_else(|| t.name.clone()),
                        database: src
                            .database
                            .clone()
                            .unwrap_or_else(|| project.target.database.clone()),
                        schema: src.schema.clone().unwrap_or_else(|| src.name.clone()),
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
                    let handed = std::mem::take(&mut *probe.handed.lock().unwrap());
                    render = Some(ParseRender { sql, handed });
                }
            } else {
                drop(scope);
            }
            let mut n = Arc::try_unwrap(shared).unwrap_or_else(|shared| (*shared).clone());
            let recorded = std::mem::take(&mut *rec.config.lock().unwrap());
            let mut w = Vec::new();
            for key in recorded.keys() {
                if !cfg::KNOWN_KEYS.contains(&key.as_str()) && !key.starts_with("__") {
                    w.push(
                        Diagnostic::warning("W101", format!("unknown config key '{key}' in {} '{}'", n.resource_type.as_str(), n.name))
                            .at(find_in(&n.display_path, &n.raw_code, key))
                            .help(match closest(key, cfg::KNOWN_KEYS.iter().copied()) {
                                Some(c) => format!("did you mean '{c}'?"),
                                None => "weir keeps it in the node's config, but no materialization reads it; custom keys belong under `meta:`".into(),
                            }),
                    );
                }
            }
            cfg::merge(&mut n.config, &recorded);
            n.refs = std::mem::take(&mut *rec.refs.lock().unwrap());
            n.sources = std::mem::take(&mut *rec.sources.lock().unwrap());
            n.depends_on_macros = rec.macros.lock().unwrap().iter().cloned().collect();
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
            n.refs = std::mem::take(&mut *rec.refs.lock().unwrap());
            n.sources = std::mem::take(&mut *rec.sources.lock().unwrap());
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
                            "E301",
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
            let refs = std::mem::take(&mut *rec.refs.lock().unwrap());
            let sources = std::mem::take(&mut *rec.sources.lock().unwrap());
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
                        "E302",
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
                Diagnostic::warning("W101", format!("unknown config key '{key}' under `{tree_name}:{}` in dbt_project.yml", path.iter().map(|p| format!(" {p}:")).collect::<String>()))
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
                        "W102",
                        format!(
                            "`{tree_name}: {}` in dbt_project.yml applies to no {}",
                            path.join("."),
                            rt.as_str()
                        ),
                    )
                    .at(find_in(
                        "dbt_project.yml",
                        &project.file_text,
                        &format!("{}:", path.last().unwrap()),
                    ))
                    .help("check the folder and project names in this config path"),
                );
            }
        }
    }
    warnings.extend(
        jinja
            .take_warnings()
            .into_iter()
            .map(|w| Diagnostic::warning("W201", w)),
    );
    Ok(Parsed {
        manifest,
        jinja,
        warnings,
        renders,
    })
}

fn with_node(d: Diagnostic, n: &Node) -> Diagnostic {
    let label = format!(
        "while parsing {} '{}' ({})",
        n.resource_type.as_str(),
        n.name,
        n.display_path
    );
    if d.location
        .as_ref()
        .is_some_and(|l| l.path == n.display_path)
    {
        d
    } else {
        d.note(label)
    }
}

/// A location for a name inside a text, for errors whose position minijinja cannot know.
pub fn find_in(display: &str, text: &Arc<str>, needle: &str) -> Location {
    let start = text.find(needle).unwrap_or(0);
    let end = if text.find(needle).is_some() {
        start + needle.len()
    } else {
        0
    };
    Location::new(display, text.clone(), start, end)
}

fn yml_dirs(resource_path: &str) -> Vec<String> {
    let mut parts: Vec<String> = resource_path.split('/').map(str::to_string).collect();
    parts.pop();
    parts
}

fn columns(defs: &[ColumnDef]) -> IndexMap<String, ColumnInfo> {
    defs.iter()
        .map(|c| {
            (
                c.name.clone(),
                ColumnInfo {
                    name: c.name.clone(),
                    description: c.description.clone().unwrap_or_default(),
                    meta: c.meta.clone(),
                    data_type: c.data_type.clone(),
                    constraints: c.constraints.clone(),
                    quote: c.quote,
                    tags: c.tags.clone(),
                    granularity: c.granularity.clone(),
                },
            )
        })
        .collect()
}

fn tree_for(file: &crate::project::ProjectFile, rt: ResourceType) -> &Json {
    match rt {
        ResourceType::Seed => &file.seeds,
        ResourceType::Snapshot => &file.snapshots,
        ResourceType::Test => &file.tests,
        ResourceType::Analysis => &file.analyses,
        _ => &file.models,
    }
}

fn new_node(
    project: &Project,
    p: &Package,
    root: &Package,
    f: &SourceFile,
    rt: ResourceType,
    name: &str,
    raw: Arc<str>,
) -> Node {
    let mut fqn = vec![p.name.clone()];
    fqn.extend(yml_dirs(&f.resource_path));
    fqn.push(name.to_string());
    let mut config = Config::new();
    cfg::from_tree(tree_for(&p.file, rt), &fqn, &mut config);
    if !p.is_root {
        cfg::from_tree(tree_for(&root.file, rt), &fqn, &mut config);
    }
    let checksum = {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(f.text.as_bytes()))
    };
    let _ = project;
    Node {
        unique_id: format!("{}.{}.{}", rt.as_str(), p.name, name),
        resource_type: rt,
        package_name: p.name.clone(),
        name: name.to_string(),
        path: f.resource_path.clone(),
        original_file_path: f.original_file_path.clone(),
        display_path: f.display.clone(),
        fqn,
        raw_code: raw,
        config,
        database: String::new(),
        schema: String::new(),
        alias: String::new(),
        description: String::new(),
        columns: IndexMap::new(),
        patch_path: None,
        refs: Vec::new(),
        sources: Vec::new(),
        depends_on_nodes: Vec::new(),
        depends_on_macros: Vec::new(),
        test_metadata: None,
        column_name: None,
        attached_node: None,
        file_key_name: None,
        checksum,
        version: None,
        contract_enforced: false,
        constraints: Vec::new(),
        compiled_code: None,
        pre_hooks: Vec::new(),
        post_hooks: Vec::new(),
    }
}

fn probe_node(package: &str, name: &str, f: &SourceFile) -> Node {
    let p = Package {
        name: package.to_string(),
        root: Default::default(),
        prefix: String::new(),
        is_root: true,
        file: Default::default(),
        files: Vec::new(),
    };
    let mut n = new_node(
        &dummy_project(),
        &p,
        &p,
        f,
        ResourceType::Exposure,
        name,
        Arc::from(""),
    );
    n.config.clear();
    n
}

fn dummy_project() -> Project {
    Project {
        root: Default::default(),
        name: String::new(),
        file: Default::default(),
        file_text: Arc::from(""),
        target: crate::project::profiles::default_target(
            &crate::project::profiles::ProfileRequest {
                project_dir: std::path::Path::new("."),
                profile_name: "",
                profiles_dir: None,
                target: None,
                threads: Some(1),
            },
        ),
        cli_vars: Map::new(),
        packages: Vec::new(),
        warnings: Vec::new(),
        fingerprint: 0,
    }
}

/// YAML properties: description, columns, docs, meta, tags, and `config:` (which sits between
/// the project tree and the file's own `config()`).
fn apply_patch(n: &mut Node, p: &Patched, jinja: &Jinja, warnings: &mut Vec<Diagnostic>) {
    let patch = p.patch;
    n.description = patch.description.clone().unwrap_or_default();
    n.columns = columns(&patch.columns);
    n.constraints = patch.constraints.clone();
    n.patch_path = Some(format!("{}://{}", n.package_name, p.file));
    let mut yaml_config = patch.config.clone();
    if !patch.meta.is_empty() {
        let mut meta = Config::new();
        meta.insert("meta".into(), Json::Object(patch.meta.clone()));
        cfg::merge(&mut yaml_config, &meta);
    }
    if let Some(tags) = &patch.tags {
        let mut t = Config::new();
        t.insert("tags".into(), tags.clone());
        cfg::merge(&mut yaml_config, &t);
    }
    if let Some(docs) = &patch.docs {
        yaml_config.insert("docs".into(), docs.clone());
    }
    for key in yaml_config.keys() {
        if !cfg::KNOWN_KEYS.contains(&key.as_str()) {
            warnings.push(
                Diagnostic::warning(
                    "W101",
                    format!(
                        "unknown config key '{key}' for {} '{}'",
                        n.resource_type.as_str(),
                        n.name
                    ),
                )
                .at(find_in(p.display, p.text, &format!("{key}:")))
                .help("check the spelling; custom keys belong under `meta:`"),
            );
        }
    }
    cfg::merge(&mut n.config, &yaml_config);
    n.contract_enforced = n
        .config
        .get("contract")
        .and_then(|c| c.get("enforced"))
        .and_then(Json::as_bool)
        .unwrap_or(false);
    let _ = jinja;
}

/// Snapshot files hold `{% snapshot name %}...{% endsnapshot %}` blocks. Each block becomes a
/// text of the file's length where everything outside the block is blanked (newlines kept), so
/// offsets and lines in errors stay those of the file.
fn snapshot_blocks(f: &SourceFile) -> Result<Vec<(String, Arc<str>)>> {
    static OPEN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    static CLOSE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let open = OPEN.get_or_init(|| {
        regex::Regex::new(r"\{%-?\s*snapshot\s+([A-Za-z_][A-Za-z0-9_]*)\s*-?%\}").unwrap()
    });
    let close = CLOSE.get_or_init(|| regex::Regex::new(r"\{%-?\s*endsnapshot\s*-?%\}").unwrap());
    let text = &f.text;
    let mut out = Vec::new();
    for cap in open.captures_iter(text) {
        let whole = cap.get(0).unwrap();
        let Some(end) = close.find_at(text, whole.end()) else {
            return Err(Diagnostic::error(
                "E202",
                format!("snapshot block '{}' is never closed", &cap[1]),
            )
            .at(Location::new(
                f.display.clone(),
                text.clone(),
                whole.start(),
                whole.end(),
            ))
            .help("end it with {% endsnapshot %}")
            .into());
        };
        let blank = |s: &str| -> String {
            s.chars()
                .map(|c| if c == '\n' { '\n' } else { ' ' })
                .collect()
        };
        let mut body = String::with_capacity(text.len());
        body.push_str(&blank(&text[..whole.end()]));
        body.push_str(&text[whole.end()..end.start()]);
        body.push_str(&blank(&text[end.start()..]));
        out.push((
            cap[1].to_string(),
            Arc::from(body.trim_end().to_string() + "\n"),
        ));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Generic tests

#[derive(Clone)]
enum TestTarget {
    Node { name: String, rt: ResourceType },
    Source { source: String, table: String },
}

fn generic_test(
    project: &Project,
    sd: &SchemaDoc,
    target: &TestTarget,
    column: Option<&str>,
    entry: &Json,
) -> Result<Node> {
    let e = generic_tests::parse_entry(entry).map_err(|m| {
        Diagnostic::error("E103", format!("invalid test definition: {m}"))
            .at(find_in(
                &sd.file.display,
                &sd.file.text,
                &entry
                    .as_object()
                    .and_then(|o| o.keys().next().cloned())
                    .unwrap_or_else(|| entry.to_string()),
            ))
            .help(
                "write `- unique`, `- accepted_values: {values: [a, b]}`, or the `arguments:` form",
            )
    })?;
    let mut args = e.args.clone();
    if let Some(c) = column {
        args.insert("column_name".into(), Json::String(c.to_string()));
    }
    let (model_str, target_name, type_prefix) = match target {
        TestTarget::Node { name, .. } => (
            format!("{{{{ get_where_subquery(ref('{name}')) }}}}"),
            name.clone(),
            "",
        ),
        TestTarget::Source { source, table } => (
            format!("{{{{ get_where_subquery(source('{source}', '{table}')) }}}}"),
            format!("{source}_{table}"),
            "source_",
        ),
    };
    args.insert("model".into(), Json::String(model_str));
    let mut test_type = format!("{type_prefix}{}", e.name);
    if let Some(ns) = &e.namespace {
        test_type = format!("{ns}_{test_type}");
    }
    let (short, full) = match &e.custom_name {
        Some(n) => (n.clone(), n.clone()),
        None => generic_tests::synthesize_names(&test_type, &target_name, &args),
    };
    let hash = generic_tests::test_hash_of(&full, &e.name, &args, e.namespace.as_deref());
    let pkg = &sd.package;
    let mut fqn = vec![pkg.clone()];
    fqn.extend(yml_dirs(&sd.file.resource_path));
    fqn.push(full.clone());
    let mut config = Config::new();
    let package = project
        .packages
        .iter()
        .find(|p| &p.name == pkg)
        .unwrap_or(project.root_package());
    cfg::from_tree(&package.file.tests, &fqn, &mut config);
    if !package.is_root {
        cfg::from_tree(&project.root_package().file.tests, &fqn, &mut config);
    }
    cfg::merge(&mut config, &e.config);
    if short != full && !config.contains_key("alias") {
        config.insert("alias".into(), Json::String(short.clone()));
    }
    let raw = format!(
        "{{{{ {}test_{}(**_dbt_generic_test_kwargs) }}}}",
        e.namespace
            .as_ref()
            .map(|n| format!("{n}."))
            .unwrap_or_default(),
        e.name
    );
    Ok(Node {
        unique_id: format!("test.{pkg}.{full}.{hash}"),
        resource_type: ResourceType::Test,
        package_name: pkg.clone(),
        name: full.clone(),
        path: format!("{short}.sql"),
        original_file_path: sd.file.original_file_path.clone(),
        display_path: sd.file.display.clone(),
        fqn,
        raw_code: Arc::from(raw),
        config,
        database: String::new(),
        schema: String::new(),
        alias: short,
        description: e.description.clone().unwrap_or_default(),
        columns: IndexMap::new(),
        patch_path: None,
        refs: Vec::new(),
        sources: Vec::new(),
        depends_on_nodes: Vec::new(),
        depends_on_macros: Vec::new(),
        test_metadata: Some(TestMetadata {
            name: e.name.clone(),
            kwargs: args,
            namespace: e.namespace.clone(),
        }),
        column_name: column.map(str::to_string),
        attached_node: None,
        file_key_name: Some(match target {
            TestTarget::Node { name, rt } => format!(
                "{}.{name}",
                match rt {
                    ResourceType::Seed => "seeds",
                    ResourceType::Snapshot => "snapshots",
                    _ => "models",
                }
            ),
            TestTarget::Source { source, .. } => format!("sources.{source}"),
        }),
        checksum: String::new(),
        version: None,
        contract_enforced: false,
        constraints: Vec::new(),
        compiled_code: None,
        pre_hooks: Vec::new(),
        post_hooks: Vec::new(),
    })
}

fn attached_from_kwargs(n: &Node, lookup: &NameLookup) -> Option<String> {
    let model = n.test_metadata.as_ref()?.kwargs.get("model")?.as_str()?;
    let start = model.find("ref('")? + 5;
    let name = &model[start..start + model[start..].find('\'')?];
    lookup.resolve(
        &n.package_name,
        &RefCall {
            package: None,
            name: name.to_string(),
            version: None,
        },
    )
}

/// dbt renders a generic test's keyword arguments as Jinja; arguments that look like
/// `ref(...)`, `source(...)`, `var(...)`, `env_var(...)` or `doc(...)` are wrapped in braces.
pub fn eval_test_kwarg(
    jinja: &Jinja,
    key: &str,
    value: &Json,
    scope: Arc<Scope>,
    package: &str,
) -> std::result::Result<Value, Diagnostic> {
    static FUNC: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let func = FUNC.get_or_init(|| {
        regex::Regex::new(r"^\s*(env_var|ref|var|source|doc)\s*\(.+\)\s*$").unwrap()
    });
    match value {
        Json::String(s) if key != "column_name" => {
            if let Some(v) = fast_relation_kwarg(jinja, s, &scope) {
                return v;
            }
            let trimmed = s.trim();
            if func.is_match(s) {
                return jinja_eval(jinja, trimmed, scope, package);
            }
            if let Some(inner) = trimmed
                .strip_prefix("{{")
                .and_then(|t| t.strip_suffix("}}"))
            {
                if !inner.contains("{{") {
                    return jinja_eval(jinja, inner.trim(), scope, package);
                }
            }
            if s.contains("{{") || s.contains("{%") {
                let text: Arc<str> = Arc::from(s.as_str());
                return jinja
                    .render("<test argument>", &text, scope, package)
                    .map(Value::from);
            }
            Ok(Value::from(s.clone()))
        }
        Json::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                out.push(eval_test_kwarg(jinja, "", item, scope.clone(), package)?);
            }
            Ok(Value::from(out))
        }
        other => Ok(Value::from_serialize(other)),
    }
}

/// [`eval_test_kwarg`] without Jinja: `None` when the value needs a Jinja render (an
/// expression, a `{{ ... }}` string other than the relation forms `fast_relation_kwarg`
/// knows). Needs only `ref`, `source` and `config` in the scope; gives the same value.
pub fn eval_test_kwarg_static(
    jinja: &Jinja,
    key: &str,
    value: &Json,
    scope: &Arc<Scope>,
) -> Option<std::result::Result<Value, Diagnostic>> {
    match value {
        Json::String(s) if key != "column_name" => {
            if let Some(v) = fast_relation_kwarg(jinja, s, scope) {
                return Some(v);
            }
            if s.contains("{{") || s.contains("{%") || s.contains('(') {
                return None;
            }
            Some(Ok(Value::from(s.clone())))
        }
        Json::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match eval_test_kwarg_static(jinja, "", item, scope)? {
                    Ok(v) => out.push(v),
                    Err(d) => return Some(Err(d)),
                }
            }
            Some(Ok(Value::from(out)))
        }
        other => Some(Ok(Value::from_serialize(other))),
    }
}

/// The names [`eval_test_kwarg_static`] reads: `ref`, `source` and `config` of a node.
pub fn kwarg_scope(
    resolver: Arc<dyn Resolver>,
    recorder: Option<Arc<Recorder>>,
    n: &Node,
) -> Arc<Scope> {
    let mut vars = context::FastMap::with_capacity_and_hasher(3, Default::default());
    vars.insert(
        "ref",
        Value::from_object(RefFn {
            resolver: resolver.clone(),
            recorder: recorder.clone(),
            package: n.package_name.clone(),
        }),
    );
    vars.insert(
        "source",
        Value::from_object(SourceFn {
            resolver,
            recorder: recorder.clone(),
        }),
    );
    vars.insert(
        "config",
        Value::from_object(ConfigObj {
            base: Arc::new(n.config.clone()),
            recorder: recorder.clone(),
        }),
    );
    Arc::new(Scope { vars, recorder })
}

/// `ref('a')`, `ref('a', 'b')`, `source('a', 'b')`, alone or as
/// `{{ get_where_subquery(...) }}` (spaces allowed between the parts, names without quotes in
/// them): (wrapped, is it `ref`, first name, second name).
fn relation_kwarg_parts(s: &str) -> Option<(bool, bool, &str, Option<&str>)> {
    fn quoted(s: &str) -> Option<(&str, &str)> {
        let rest = s.strip_prefix('\'')?;
        let end = rest.find(['\'', '"'])?;
        (end > 0 && rest[end..].starts_with('\'')).then(|| (&rest[..end], &rest[end + 1..]))
    }
    let mut rest = s.trim_start();
    let wrapped = match rest.strip_prefix("{{") {
        Some(r) => {
            rest = r
                .trim_start()
                .strip_prefix("get_where_subquery(")?
                .trim_start();
            true
        }
        None => false,
    };
    let (is_ref, r) = match rest.strip_prefix("ref(") {
        Some(r) => (true, r),
        None => (false, rest.strip_prefix("source(")?),
    };
    let (a, r) = quoted(r.trim_start())?;
    let r = r.trim_start();
    let (b, r) = match r.strip_prefix(',') {
        Some(r) => {
            let (b, r) = quoted(r.trim_start())?;
            (Some(b), r.trim_start())
        }
        None => (None, r),
    };
    let mut r = r.strip_prefix(')')?;
    if wrapped {
        r = r
            .trim_start()
            .strip_prefix(')')?
            .trim_start()
            .strip_prefix("}}")?;
    }
    r.trim().is_empty().then_some((wrapped, is_ref, a, b))
}

/// The kwargs weir itself generates (`{{ get_where_subquery(ref('x')) }}`) and plain
/// `ref('x')` / `source('a', 'b')` arguments resolve without Jinja when the project does not
/// override `get_where_subquery`: same result, a fraction of the cost, for every generic test.
fn fast_relation_kwarg(
    jinja: &Jinja,
    s: &str,
    scope: &Arc<Scope>,
) -> Option<std::result::Result<Value, Diagnostic>> {
    let (wrapped, is_ref, a, b) = relation_kwarg_parts(s)?;
    let reg = &jinja.shared.registry;
    if wrapped
        && reg.by_package.iter().any(|(p, m)| {
            p != context::INTERNAL_PACKAGE && m.keys().any(|k| k.ends_with("get_where_subquery"))
        })
    {
        return None;
    }
    let (a, b) = (a.to_string(), b.map(str::to_string));
    let rel = if is_ref {
        let f = scope.vars.get("ref")?.downcast_object_ref::<RefFn>()?;
        let call = match b {
            Some(name) => RefCall {
                package: Some(a),
                name,
                version: None,
            },
            None => RefCall {
                package: None,
                name: a,
                version: None,
            },
        };
        let rel = match f.resolver.resolve_ref(&f.package, &call) {
            Ok(r) => r,
            Err(d) => return Some(Err(d)),
        };
        if let Some(rec) = &f.recorder {
            rec.refs.lock().unwrap().push(call);
        }
        rel
    } else {
        let f = scope
            .vars
            .get("source")?
            .downcast_object_ref::<SourceFn>()?;
        let table = b?;
        let rel = match f.resolver.resolve_source(&a, &table) {
            Ok(r) => r,
            Err(d) => return Some(Err(d)),
        };
        if let Some(rec) = &f.recorder {
            rec.sources.lock().unwrap().push((a, table));
        }
        rel
    };
    if wrapped {
        let cfg = scope
            .vars
            .get("config")?
            .downcast_object_ref::<ConfigObj>()?;
        if let Some(Json::String(w)) = cfg.base.get("where") {
            return Some(Ok(Value::from(format!(
                "(select * from {rel} where {w}) dbt_subquery"
            ))));
        }
    }
    Some(Ok(Value::from_object(rel)))
}

/// Evaluate one Jinja expression in a node's context.
pub fn jinja_eval(
    jinja: &Jinja,
    expr: &str,
    scope: Arc<Scope>,
    package: &str,
) -> std::result::Result<Value, Diagnostic> {
    let e = jinja
        .env
        .compile_expression(expr)
        .map_err(|e| jinja.convert_error(&e, None))?;
    e.eval(jinja.ctx(scope, package))
        .map_err(|e| jinja.convert_error(&e, None))
}

// ---------------------------------------------------------------------------------------------
// Parse-phase context

/// Checks that a ref'd node or a source exists (failing inside the call, so the error has the
/// call's location) and returns a placeholder relation.
struct ParseResolver {
    names: HashMap<String, Vec<String>>,
    sources: HashSet<(String, String)>,
    source_tables: Vec<String>,
    database: String,
    schema: String,
    quoting: Quoting,
    predicted: Predicted,
}

/// Names as the compile phase will most likely resolve them, so that a parse render can be
/// reused as the compiled SQL (see [`ParseRender`]). A wrong guess costs a second render,
/// never a wrong result: the compile phase compares every value handed out.
struct Predicted {
    lookup: NameLookup,
    nodes: HashMap<String, PredictedNode>,
    sources: HashMap<(String, String), Relation>,
}

struct PredictedNode {
    relation: Relation,
    this: Relation,
    schema: String,
    database: String,
}

impl Predicted {
    fn relation(&self, from: &str, call: &RefCall) -> Option<Relation> {
        let id = self.lookup.resolve_id(from, call)?;
        self.nodes.get(id).map(|p| p.relation.clone())
    }
}

/// Each node's config as its `{{ config(...) }}` calls will set it, when they are plain
/// expression blocks whose arguments name nothing but `config`; `None` when that cannot be
/// told without rendering.
fn predict_config(
    jinja: &Jinja,
    n: &Node,
    seen: &std::sync::Mutex<HashMap<String, Option<cfg::Config>>>,
) -> Option<cfg::Config> {
    static CALL: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    static BLOCK: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let text = &n.raw_code;
    if n.resource_type == ResourceType::Seed || !text.contains("config") {
        return Some(cfg::Config::default());
    }
    let call = CALL.get_or_init(|| regex::Regex::new(r"\bconfig\s*\(").unwrap());
    let block = BLOCK
        .get_or_init(|| regex::Regex::new(r"\{\{-?\s*(config\s*\((?s:.*?)\))\s*-?\}\}").unwrap());
    let mut blocks = 0;
    let mut recorded = cfg::Config::default();
    for cap in block.captures_iter(text) {
        // Most projects repeat a few config() calls; each distinct one is evaluated once.
        let known = seen.lock().unwrap().get(&cap[1]).cloned();
        let set = match known {
            Some(set) => set,
            None => {
                let set = (|| {
                    let expr = jinja.env.compile_expression(&cap[1]).ok()?;
                    let names = expr.undeclared_variables(false);
                    if names.len() != 1 || !names.contains("config") {
                        return None;
                    }
                    let rec = Arc::new(Recorder::default());
                    let scope = Arc::new(Scope {
                        vars: context::FastMap::from_iter([(
                            "config",
                            Value::from_object(ConfigObj {
                                base: Arc::new(cfg::Config::default()),
                                recorder: Some(rec.clone()),
                            }),
                        )]),
                        recorder: None,
                    });
                    expr.eval(jinja.ctx(scope, &n.package_name)).ok()?;
                    // (A binding: the lock guard must not outlive `rec`.)
                    let set = std::mem::take(&mut *rec.config.lock().unwrap());
                    Some(set)
                })();
                seen.lock().unwrap().insert(cap[1].to_string(), set.clone());
                set
            }
        };
        cfg::merge(&mut recorded, &set?);
        blocks += 1;
    }
    if blocks != call.find_iter(text).count() {
        return None;
    }
    Some(recorded)
}

fn predict(
    jinja: &Jinja,
    project: &Project,
    pending: &mut [Node],
    manifest: &Manifest,
    quoting: Quoting,
) -> Predicted {
    let namer = Namer::new(jinja, project);
    let seen = std::sync::Mutex::new(HashMap::new());
    // Each node is named in place with its guessed config, and given back its own config and
    // names afterwards (cheaper than naming a copy of every node).
    let guesses: Vec<Option<(bool, PredictedNode)>> = pending
        .par_iter_mut()
        .map(|n| {
            let recorded = predict_config(jinja, n, &seen)?;
            let config = (!recorded.is_empty()).then(|| {
                let own = n.config.clone();
                cfg::merge(&mut n.config, &recorded);
                own
            });
            let names = (
                std::mem::take(&mut n.database),
                std::mem::take(&mut n.schema),
                n.alias.clone(),
            );
            let guess = namer.name(jinja, n).ok().map(|()| {
                (
                    cfg::enabled(&n.config),
                    PredictedNode {
                        relation: n.relation(quoting),
                        this: n.this_relation(quoting),
                        schema: n.schema.clone(),
                        database: n.database.clone(),
                    },
                )
            });
            if let Some(own) = config {
                n.config = own;
            }
            (n.database, n.schema, n.alias) = names;
            guess
        })
        .collect();
    let lookup = NameLookup::of(
        pending
            .iter()
            .zip(&guesses)
            .filter(|(_, g)| g.as_ref().is_some_and(|(enabled, _)| *enabled))
            .map(|(n, _)| n),
        manifest.sources.values(),
    );
    Predicted {
        lookup,
        nodes: pending
            .iter()
            .zip(guesses)
            .filter_map(|(n, g)| g.map(|(_, p)| (n.unique_id.clone(), p)))
            .collect(),
        sources: manifest
            .sources
            .values()
            .map(|s| {
                (
                    (s.source_name.clone(), s.name.clone()),
                    Relation::new(&s.database, &s.schema, &s.identifier, quoting),
                )
            })
            .collect(),
    }
}

impl ParseResolver {
    fn new(
        nodes: &[Node],
        manifest: &Manifest,
        project: &Project,
        quoting: Quoting,
        predicted: Predicted,
    ) -> Self {
        let mut names: HashMap<String, Vec<String>> = HashMap::new();
        for n in nodes {
            if matches!(
                n.resource_type,
                ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
            ) {
                names
                    .entry(n.name.clone())
                    .or_default()
                    .push(n.package_name.clone());
            }
        }
        let sources = manifest
            .sources
            .values()
            .map(|s| (s.source_name.clone(), s.name.clone()))
            .collect::<HashSet<_>>();
        let source_tables = manifest
            .sources
            .values()
            .map(|s| format!("{}.{}", s.source_name, s.name))
            .collect();
        ParseResolver {
            names,
            sources,
            source_tables,
            database: project.target.database.clone(),
            schema: project.target.schema.clone(),
            quoting,
            predicted,
        }
    }
}

impl Resolver for ParseResolver {
    fn resolve_ref(&self, from: &str, call: &RefCall) -> std::result::Result<Relation, Diagnostic> {
        let found = match (&call.package, self.names.get(&call.name)) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(p), Some(pkgs)) => pkgs.contains(p),
        };
        if !found {
            let mut d = Diagnostic::error(
                "E301",
                format!("ref('{}') points to a model that does not exist", call.name),
            );
            d = match closest(&call.name, self.names.keys().map(String::as_str)) {
                Some(c) => d.help(format!("did you mean '{c}'?")),
                None => d.help("check the name: ref() takes the file name of a model, seed or snapshot, without extension"),
            };
            return Err(d);
        }
        if let Some(rel) = self.predicted.relation(from, call) {
            return Ok(rel);
        }
        Ok(Relation::new(
            &self.database,
            &self.schema,
            &call.name,
            self.quoting,
        ))
    }

    fn resolve_source(
        &self,
        source: &str,
        table: &str,
    ) -> std::result::Result<Relation, Diagnostic> {
        if !self
            .sources
            .contains(&(source.to_string(), table.to_string()))
        {
            let wanted = format!("{source}.{table}");
            let mut d = Diagnostic::error(
                "E303",
                format!("source('{source}', '{table}') is not defined in any YAML file"),
            );
            let tables: Vec<&str> = self
                .source_tables
                .iter()
                .filter_map(|t| t.strip_prefix(&format!("{source}.")))
                .collect();
            d = match closest(&wanted, self.source_tables.iter().map(String::as_str)) {
                Some(c) => d.help(format!("did you mean '{c}'?")),
                None if !tables.is_empty() => d.help(format!("source '{source}' has no table '{table}'; its tables: {}", tables.join(", "))),
                None => d.help(format!("declare it under `sources:` in a .yml file: a source named '{source}' with a table '{table}'")),
            };
            return Err(d);
        }
        if let Some(rel) = self
            .predicted
            .sources
            .get(&(source.to_string(), table.to_string()))
        {
            return Ok(rel.clone());
        }
        Ok(Relation::new(&self.database, source, table, self.quoting))
    }
}

fn model_value(n: &Node) -> Value {
    crate::artifacts::node_value(n)
}

fn parse_scope(
    jinja: &Jinja,
    n: &Arc<Node>,
    resolver: &Arc<ParseResolver>,
    rec: &Arc<Recorder>,
) -> Arc<Scope> {
    let predicted = resolver.predicted.nodes.get(&n.unique_id);
    let resolver: Arc<dyn Resolver> = resolver.clone();
    let mut vars = context::FastMap::default();
    vars.insert(
        "ref",
        Value::from_object(RefFn {
            resolver: resolver.clone(),
            recorder: Some(rec.clone()),
            package: n.package_name.clone(),
        }),
    );
    vars.insert(
        "source",
        Value::from_object(SourceFn {
            resolver,
            recorder: Some(rec.clone()),
        }),
    );
    vars.insert(
        "config",
        Value::from_object(ConfigObj {
            base: Arc::new(n.config.clone()),
            recorder: Some(rec.clone()),
        }),
    );
    vars.insert(
        "var",
        Value::from_object(VarFn {
            shared: jinja.shared.clone(),
        }),
    );
    vars.insert("is_incremental", context::noted_fn(rec, true));
    vars.insert("should_full_refresh", context::noted_fn(rec, false));
    vars.insert("execute", Value::from(false));
    vars.insert("model", crate::artifacts::shared_node_value(n.clone()));
    vars.insert("graph", empty_graph());
    vars.insert("doc", doc_fn(jinja, &n.package_name));
    if let Some(p) = predicted {
        vars.insert("this", Value::from_object(p.this.clone()));
        vars.insert("schema", Value::from(p.schema.clone()));
        vars.insert("database", Value::from(p.database.clone()));
        return Arc::new(Scope {
            vars,
            recorder: Some(rec.clone()),
        });
    }
    let target_db = jinja
        .shared
        .globals
        .get("target")
        .and_then(|t| t.get_attr("database").ok())
        .map(|v| v.to_string())
        .unwrap_or_default();
    let target_schema = jinja
        .shared
        .globals
        .get("target")
        .and_then(|t| t.get_attr("schema").ok())
        .map(|v| v.to_string())
        .unwrap_or_default();
    vars.insert(
        "this",
        Value::from_object(Relation::new(
            &target_db,
            &target_schema,
            &n.name,
            jinja.shared.quoting,
        )),
    );
    vars.insert("schema", Value::from(target_schema));
    vars.insert("database", Value::from(target_db));
    Arc::new(Scope {
        vars,
        recorder: Some(rec.clone()),
    })
}

pub fn empty_graph() -> Value {
    let empty = || Value::from(BTreeMap::<String, Value>::new());
    Value::from_iter([
        ("nodes", empty()),
        ("sources", empty()),
        ("exposures", empty()),
        ("macros", empty()),
        ("metrics", empty()),
    ])
}

pub fn doc_fn(jinja: &Jinja, package: &str) -> Value {
    let shared = jinja.shared.clone();
    let package = package.to_string();
    Value::from_function(
        move |args: &[Value]| -> std::result::Result<Value, minijinja::Error> {
            let names: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            let (pkg, name) = match names.as_slice() {
                [n] => (package.clone(), n.clone()),
                [p, n] => (p.clone(), n.clone()),
                _ => {
                    return Err(minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        "doc() takes one or two names",
                    ))
                }
            };
            let found = shared.docs.get(&(pkg.clone(), name.clone())).or_else(|| {
                shared
                    .docs
                    .iter()
                    .find(|((_, n), _)| *n == name)
                    .map(|(_, v)| v)
            });
            match found {
                Some(text) => Ok(Value::from(text.clone())),
                None => Err(context::diag_err(
                    Diagnostic::error(
                        "E304",
                        format!("doc('{name}') refers to a docs block that does not exist"),
                    )
                    .help(format!(
                        "add {{% docs {name} %}}...{{% enddocs %}} to a .md file in the project"
                    )),
                )),
            }
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Names

/// Resolves a node's database, schema and alias, through the project's `generate_*_name`
/// macros when it overrides them and in Rust (same rules) when it does not.
struct Namer {
    custom_schema: bool,
    custom_alias: bool,
    custom_database: bool,
    target_schema: String,
    target_database: String,
}

impl Namer {
    fn new(jinja: &Jinja, project: &Project) -> Self {
        let reg = &jinja.shared.registry;
        let overridden = |name: &str| {
            project.packages.iter().any(|p| {
                reg.get(&p.name, name).is_some()
                    || reg.get(&p.name, &format!("default__{name}")).is_some()
            })
        };
        Namer {
            custom_schema: overridden("generate_schema_name"),
            custom_alias: overridden("generate_alias_name"),
            custom_database: overridden("generate_database_name"),
            target_schema: project.target.schema.clone(),
            target_database: project.target.database.clone(),
        }
    }

    fn call(
        &self,
        jinja: &Jinja,
        n: &Node,
        macro_name: &str,
        custom: Option<&str>,
    ) -> Result<String> {
        let def = jinja
            .shared
            .registry
            .resolve(&jinja.shared.root_package, macro_name)
            .cloned()
            .ok_or_else(|| Diagnostic::internal(format!("{macro_name} is missing")))?;
        let scope = Arc::new(Scope {
            vars: context::FastMap::from_iter([
                (
                    "config",
                    Value::from_object(ConfigObj {
                        base: Arc::new(n.config.clone()),
                        recorder: None,
                    }),
                ),
                ("model", model_value(n)),
            ]),
            recorder: None,
        });
        let arg = custom.map(Value::from).unwrap_or(Value::from(()));
        let v = jinja
            .call_macro(
                &def,
                &[arg, model_value(n)],
                scope,
                &jinja.shared.root_package,
            )
            .map_err(|d| {
                d.note(format!(
                    "while naming {} '{}'",
                    n.resource_type.as_str(),
                    n.name
                ))
            })?;
        Ok(v.to_string().trim().to_string())
    }

    fn name(&self, jinja: &Jinja, n: &mut Node) -> Result<()> {
        let custom_schema = cfg::get_str(&n.config, "schema").map(str::to_string);
        let custom_db = cfg::get_str(&n.config, "database").map(str::to_string);
        let custom_alias = cfg::get_str(&n.config, "alias").map(str::to_string);
        if n.resource_type == ResourceType::Snapshot {
            if let Some(ts) = cfg::get_str(&n.config, "target_schema") {
                n.schema = ts.to_string();
                n.database = cfg::get_str(&n.config, "target_database")
                    .unwrap_or(&self.target_database)
                    .to_string();
                n.alias = custom_alias.unwrap_or_else(|| n.name.clone());
                return Ok(());
            }
        }
        n.schema = if self.custom_schema {
            self.call(jinja, n, "generate_schema_name", custom_schema.as_deref())?
        } else {
            match &custom_schema {
                Some(s) => format!("{}_{}", self.target_schema, s.trim()),
                None => self.target_schema.clone(),
            }
        };
        n.database = if self.custom_database {
            self.call(jinja, n, "generate_database_name", custom_db.as_deref())?
        } else {
            custom_db
                .map(|d| d.trim().to_string())
                .unwrap_or_else(|| self.target_database.clone())
        };
        if n.resource_type == ResourceType::Test {
            n.alias = custom_alias.unwrap_or_else(|| n.alias.clone());
            if n.alias.is_empty() {
                n.alias = n.name.clone();
            }
            return Ok(());
        }
        n.alias = if self.custom_alias {
            self.call(jinja, n, "generate_alias_name", custom_alias.as_deref())?
        } else {
            match custom_alias {
                Some(a) if !a.trim().is_empty() => a.trim().to_string(),
                _ => match &n.version {
                    Some(v) => format!("{}_v{}", n.name, v.replace('.', "_")),
                    None => n.name.clone(),
                },
            }
        };
        Ok(())
    }
}

/// Name → unique_id lookups over the enabled nodes.
pub struct NameLookup {
    by_name: HashMap<String, Vec<(String, String)>>,
    sources: HashMap<(String, String), String>,
}

impl NameLookup {
    pub fn new(m: &Manifest) -> Self {
        Self::of(m.nodes.values().map(|n| &**n), m.sources.values())
    }

    /// A lookup over these nodes and sources.
    pub fn of<'a>(
        nodes: impl Iterator<Item = &'a Node>,
        sources: impl Iterator<Item = &'a SourceNode>,
    ) -> Self {
        let mut by_name: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for n in nodes {
            if matches!(
                n.resource_type,
                ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
            ) {
                by_name
                    .entry(n.name.clone())
                    .or_default()
                    .push((n.package_name.clone(), n.unique_id.clone()));
            }
        }
        let sources = sources
            .map(|s| {
                (
                    (s.source_name.clone(), s.name.clone()),
                    format!("{}.{}.{}", s.package_name, s.source_name, s.name),
                )
            })
            .collect();
        NameLookup { by_name, sources }
    }

    /// dbt prefers the calling package's node, then the root project's, then any.
    pub fn resolve(&self, from_package: &str, r: &RefCall) -> Option<String> {
        self.resolve_id(from_package, r).map(str::to_string)
    }

    /// [`NameLookup::resolve`], borrowed.
    pub fn resolve_id(&self, from_package: &str, r: &RefCall) -> Option<&str> {
        let candidates = self.by_name.get(&r.name)?;
        if let Some(p) = &r.package {
            return candidates
                .iter()
                .find(|(pkg, _)| pkg == p)
                .map(|(_, id)| id.as_str());
        }
        candidates
            .iter()
            .find(|(pkg, _)| pkg == from_package)
            .or_else(|| candidates.first())
            .map(|(_, id)| id.as_str())
    }

    pub fn source_id(&self, source: &str, table: &str) -> Option<String> {
        self.sources
            .get(&(source.to_string(), table.to_string()))
            .cloned()
    }

    pub fn model_names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::relation_kwarg_parts as parts;

    #[test]
    fn relation_kwargs_are_read_without_jinja_only_in_their_plain_forms() {
        assert_eq!(
            parts("{{ get_where_subquery(ref('orders')) }}"),
            Some((true, true, "orders", None))
        );
        assert_eq!(
            parts("  {{get_where_subquery( source( 'raw' , 'orders' ) )}} "),
            Some((true, false, "raw", Some("orders")))
        );
        assert_eq!(
            parts("ref('pkg', 'm')"),
            Some((false, true, "pkg", Some("m")))
        );
        // Anything else goes through Jinja.
        for s in [
            "ref('a') }}",
            "{{ get_where_subquery(ref('a')) ",
            "{{ ref('a') }}",
            "ref(\"a\")",
            "ref('')",
            "ref('a\"b')",
            "ref('a') ~ 'x'",
            "source('a')x",
            "refs('a')",
            "ref('a', version=2)",
        ] {
            assert_eq!(parts(s).map(|p| p.2), None, "{s}");
        }
        // `source` with one name is read here and refused by the caller, as before.
        assert_eq!(parts("source('a')"), Some((false, false, "a", None)));
    }
}
