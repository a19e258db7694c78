//! Artifacts in dbt's published shapes: `manifest.json` (v12), `run_results.json` (v6). Tools
//! that read dbt artifacts read ours.

mod run_results;
pub use run_results::run_results_json;

use serde::ser::{Serialize, Serializer};
use serde_json::{json, Map, Value as Json};

use crate::parse::node_json::*;
use crate::parse::{Manifest, Node, ResourceType};
use crate::project::Project;

pub const MANIFEST_SCHEMA: &str = "https://schemas.getdbt.com/dbt/manifest/v12.json";
/// The dbt version whose artifacts and behaviour weir follows.
pub const DBT_COMPAT_VERSION: &str = "1.8.0";

/// Write `target/compiled/...` (only files whose content changed) and, at the same time, the
/// manifest.
pub fn write_target(
    project: &Project,
    c: &crate::compile::Compiled,
    invocation_id: &str,
) -> crate::diagnostics::Result<()> {
    let (files, manifest) = rayon::join(
        || crate::compile::write_compiled_files(project, c),
        || write_manifest(project, &c.manifest, invocation_id),
    );
    files?;
    manifest
}

/// `target/manifest.json`.
pub fn write_manifest(
    project: &Project,
    m: &Manifest,
    invocation_id: &str,
) -> crate::diagnostics::Result<()> {
    let mut t = std::time::Instant::now();
    let path = project.target_dir().join("manifest.json");
    write_manifest_file(project, m, invocation_id, &path)
        .map_err(|e| crate::diagnostics::io_error("write", &path, e))?;
    crate::parse::timing("manifest written", &mut t);
    Ok(())
}

/// Write `manifest.json` to `path`. Nodes (most of it) are serialized in parallel, a slice
/// at a time, and streamed to the file in key order; the file appears whole (written beside it,
/// then renamed) or not at all. The old file is not read: its `generated_at` always differs.
fn write_manifest_file(
    project: &Project,
    m: &Manifest,
    invocation_id: &str,
    path: &std::path::Path,
) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::fsio::write_atomic_with(path, |file| {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
        write_manifest_to(project, m, invocation_id, &mut out)?;
        out.into_inner().map_err(|e| e.into_error())?;
        Ok(())
    })
}

fn write_manifest_to(
    project: &Project,
    m: &Manifest,
    invocation_id: &str,
    out: &mut (impl std::io::Write + Send),
) -> std::io::Result<()> {
    use rayon::prelude::*;
    let ctx = Ctx {
        project,
        manifest: m,
    };
    // Everything but the nodes and the two id maps is small: one JSON document with markers
    // where those go.
    let mut doc = manifest_json_with_nodes(&ctx, invocation_id, Map::new());
    let obj = doc.as_object_mut().expect("the manifest is an object");
    for key in ["nodes", "parent_map", "child_map"] {
        obj.insert(key.into(), json!(format!("__WEIR_{key}__")));
    }
    let text = doc.to_string();
    drop(doc);
    let marker = |key: &str| format!("\"__WEIR_{key}__\"");
    let (head, rest) = text
        .split_once(&marker("nodes"))
        .expect("marker is present");
    let (between, rest) = rest
        .split_once(&marker("parent_map"))
        .expect("marker is present");
    let (middle, tail) = rest
        .split_once(&marker("child_map"))
        .expect("marker is present");
    let nodes: Vec<(&String, &Node)> = m.nodes.iter().map(|(id, n)| (id, &**n)).collect();
    let ctx = &ctx;
    // A thread of its own writes the pieces in order, so that every rayon worker serializes.
    // Nodes go in slices, which bound the memory held at once: each is serialized a run of
    // nodes per buffer while the previous one is written. The id maps are serialized beside
    // the first slices.
    use std::borrow::Cow;
    let (send, receive) = std::sync::mpsc::sync_channel::<Vec<Cow<[u8]>>>(1);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> std::io::Result<()> {
            for pieces in receive {
                for b in &pieces {
                    out.write_all(b)?;
                }
            }
            Ok(())
        });
        // A failed send means the writer stopped on an error, which its join returns.
        let _ = send.send(vec![Cow::Borrowed(head.as_bytes())]);
        let ((parents, children), ()) = rayon::join(
            || {
                let parents = m.parents();
                let children = Manifest::children(&parents);
                let mut p = Vec::with_capacity(64 * parents.len());
                serde_json::to_writer(&mut p, &IdLists(&parents)).expect("ids serialize");
                let mut c = Vec::with_capacity(64 * children.len());
                serde_json::to_writer(&mut c, &IdLists(&children)).expect("ids serialize");
                (p, c)
            },
            || {
                for (s, slice) in nodes.chunks(2048).enumerate() {
                    let bufs: Vec<Cow<[u8]>> = slice
                        .par_chunks(64)
                        .enumerate()
                        .map(|(c, run)| {
                            let mut buf = Vec::with_capacity(run.len() * 4096);
                            for (i, (id, n)) in run.iter().enumerate() {
                                let first = s == 0 && c == 0 && i == 0;
                                buf.push(if first { b'{' } else { b',' });
                                serde_json::to_writer(&mut buf, id).expect("strings serialize");
                                buf.push(b':');
                                serde_json::to_writer(&mut buf, &NodeSer(n, Some(ctx)))
                                    .expect("nodes serialize");
                            }
                            Cow::Owned(buf)
                        })
                        .collect();
                    if send.send(bufs).is_err() {
                        return;
                    }
                }
            },
        );
        let close: &[u8] = if nodes.is_empty() { b"{}" } else { b"}" };
        let _ = send.send(vec![
            Cow::Borrowed(close),
            Cow::Borrowed(between.as_bytes()),
            Cow::Owned(parents),
            Cow::Borrowed(middle.as_bytes()),
            Cow::Owned(children),
            Cow::Borrowed(tail.as_bytes()),
        ]);
        drop(send);
        writer.join().expect("the manifest writer does not panic")
    })
}

/// `parent_map`/`child_map`: ids to lists of ids, in the order given.
struct IdLists<'a, L>(&'a [(&'a str, L)]);

impl<L: Serialize> Serialize for IdLists<'_, L> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

fn ctx_node_json(n: &Node, ctx: &Ctx) -> Json {
    serde_json::to_value(NodeSer(n, Some(ctx))).expect("nodes serialize")
}

/// CSV fixture rows as dbt stores them: a list of dicts with string values (`csv.DictReader`).
fn csv_rows(text: &str) -> Option<Json> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.trim().as_bytes());
    let headers: Vec<String> = r.headers().ok()?.iter().map(str::to_string).collect();
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.ok()?;
        let row: Map<String, Json> = headers
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let v = rec.get(i).map_or(Json::Null, |v| json!(v));
                (h.clone(), v)
            })
            .collect();
        rows.push(Json::Object(row));
    }
    Some(Json::Array(rows))
}

/// A unit test's `given` input or `expect` in dbt's shape: `rows`, `format` (default `dict`),
/// `fixture`, with CSV rows given inline parsed into dicts.
fn fixture_out(f: &Json, input: bool) -> Json {
    let Json::Object(f) = f else {
        return f.clone();
    };
    let format = f.get("format").and_then(Json::as_str).unwrap_or("dict");
    let rows = match f.get("rows") {
        Some(Json::String(text)) if format == "csv" => {
            csv_rows(text).unwrap_or_else(|| json!(text))
        }
        Some(v) => v.clone(),
        None => Json::Null,
    };
    let mut out = Map::new();
    if input {
        out.insert("input".into(), f.get("input").cloned().unwrap_or_default());
    }
    out.insert("rows".into(), rows);
    out.insert("format".into(), json!(format));
    out.insert(
        "fixture".into(),
        f.get("fixture").cloned().unwrap_or_default(),
    );
    for (k, v) in f {
        if !out.contains_key(k) {
            out.insert(k.clone(), v.clone());
        }
    }
    Json::Object(out)
}

fn unit_test_out(u: &crate::parse::UnitTestNode, ctx: &Ctx) -> Json {
    use sha2::{Digest, Sha256};
    let given: Vec<Json> = u.given.iter().map(|g| fixture_out(g, true)).collect();
    let expect = fixture_out(&u.expect, false);
    let overrides = u.overrides.as_ref().map(|o| {
        let mut out = json!({"macros": {}, "vars": {}, "env_vars": {}});
        if let Json::Object(o) = o {
            for (k, v) in o {
                out[k] = v.clone();
            }
        }
        out
    });
    // dbt hashes the test's definition (model, versions, given, expect, overrides); ours is
    // the same inputs as JSON, so it changes exactly when the definition does.
    let checksum = format!(
        "{:x}",
        Sha256::digest(
            json!([u.model, null, given, expect, overrides])
                .to_string()
                .as_bytes()
        )
    );
    // dbt's unit test `schema` is the tested model's.
    let tested = u
        .depends_on_nodes
        .iter()
        .filter_map(|id| ctx.manifest.nodes.get(id))
        .find(|n| n.resource_type == ResourceType::Model && n.name == u.model)
        .or_else(|| {
            u.depends_on_nodes
                .iter()
                .find_map(|id| ctx.manifest.nodes.get(id))
        });
    json!({
        "model": u.model, "given": given, "expect": expect, "name": u.name,
        "resource_type": "unit_test", "package_name": u.package_name,
        "path": ctx.resource_path(&u.package_name, &u.original_file_path, false),
        "original_file_path": u.original_file_path,
        "unique_id": u.unique_id, "fqn": u.fqn, "description": u.description,
        "overrides": overrides, "depends_on": {"macros": [], "nodes": u.depends_on_nodes},
        "config": {"tags": [], "meta": {}, "enabled": true, "static_analysis": null},
        "checksum": checksum, "schema": tested.map(|n| n.schema.as_str()),
        "created_at": 0.0, "versions": null, "version": null,
    })
}

fn manifest_json_with_nodes(ctx: &Ctx, invocation_id: &str, nodes: Map<String, Json>) -> Json {
    let (project, m) = (ctx.project, ctx.manifest);
    let sources: Map<String, Json> = m
        .sources
        .values()
        .map(|s| (s.unique_id.clone(), source_out(s, Some(ctx))))
        .collect();
    let macros: Map<String, Json> = m
        .macros
        .values()
        .map(|mac| {
            (
                mac.unique_id.clone(),
                json!({
                    "name": mac.name, "resource_type": "macro", "package_name": mac.package_name,
                    "path": mac.original_file_path, "original_file_path": mac.original_file_path,
                    "unique_id": mac.unique_id, "macro_sql": mac.macro_sql,
                    "depends_on": {"macros": []}, "description": mac.description, "meta": {},
                    "docs": {"show": true, "node_color": null}, "patch_path": null,
                    "arguments": mac.arguments.iter().map(|a| json!({"name": a, "type": null, "description": ""})).collect::<Vec<_>>(),
                    "created_at": 0.0, "supported_languages": null,
                }),
            )
        })
        .collect();
    let docs: Map<String, Json> = m
        .docs
        .values()
        .map(|d| {
            (
                d.unique_id.clone(),
                json!({"name": d.name, "resource_type": "doc", "package_name": d.package_name,
                       "path": ctx.resource_path(&d.package_name, &d.original_file_path, true),
                       "original_file_path": d.original_file_path, "unique_id": d.unique_id, "block_contents": d.block_contents}),
            )
        })
        .collect();
    let exposures: Map<String, Json> = m
        .exposures
        .values()
        .map(|e| {
            (
                e.unique_id.clone(),
                json!({
                    "name": e.name, "resource_type": "exposure", "package_name": e.package_name,
                    "path": ctx.resource_path(&e.package_name, &e.original_file_path, false),
                    "original_file_path": e.original_file_path,
                    "unique_id": e.unique_id, "fqn": e.fqn, "type": e.exposure_type,
                    "owner": e.owner, "description": e.description, "label": e.label,
                    "maturity": e.maturity, "meta": e.meta, "tags": e.tags,
                    "config": {"enabled": true, "tags": e.tags, "meta": e.meta},
                    "unrendered_config": {}, "url": e.url,
                    "depends_on": {"macros": [], "nodes": e.depends_on_nodes},
                    "refs": e.refs.iter().map(|r| json!({"name": r.name, "package": r.package, "version": r.version})).collect::<Vec<_>>(),
                    "sources": e.sources.iter().map(|(s, t)| json!([s, t])).collect::<Vec<_>>(),
                    "metrics": [], "created_at": 0.0,
                }),
            )
        })
        .collect();
    let unit_tests: Map<String, Json> = m
        .unit_tests
        .values()
        .map(|u| (u.unique_id.clone(), unit_test_out(u, ctx)))
        .collect();
    let disabled: Map<String, Json> = m
        .disabled
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Json::Array(v.iter().map(|n| ctx_node_json(n, ctx)).collect()),
            )
        })
        .collect();
    let [q_database, q_schema, q_identifier] = ctx.quoting();
    let now = chrono::Utc::now();
    let micros = |z: bool| now.to_rfc3339_opts(chrono::SecondsFormat::Micros, z);
    json!({
        "metadata": {
            "dbt_schema_version": MANIFEST_SCHEMA,
            "dbt_version": DBT_COMPAT_VERSION,
            "generated_at": micros(true),
            "invocation_id": invocation_id,
            // The manifest writer is not told when the invocation started; it is written at
            // the end of parsing/compiling, so this is late by that much.
            "invocation_started_at": micros(true),
            "env": {},
            "project_name": project.name,
            "project_id": format!("{:x}", md5::compute(project.name.as_bytes())),
            "user_id": null,
            "send_anonymous_usage_stats": false,
            "adapter_type": "datafusion",
            "quoting": {
                "database": q_database,
                "schema": q_schema,
                "identifier": q_identifier,
                "column": project.file.quoting.get("column").cloned().unwrap_or_default(),
            },
            "run_started_at": micros(false),
        },
        "nodes": nodes,
        "sources": sources,
        "macros": macros,
        "docs": docs,
        "exposures": exposures,
        "metrics": {},
        "groups": {},
        "selectors": {},
        "disabled": disabled,
        // Filled in by the writer, which streams them.
        "parent_map": {},
        "child_map": {},
        "group_map": {},
        "saved_queries": {},
        "semantic_models": {},
        "unit_tests": unit_tests,
        "functions": {},
    })
}
