//! Artifacts in dbt's published shapes: `manifest.json` (v12). Tools that read dbt artifacts
//! read ours.

use minijinja::value::Value;
use serde_json::{json, Map, Value as Json};

use crate::parse::{ColumnInfo, Manifest, Node, ResourceType, SourceNode};
use crate::project::Project;

pub const MANIFEST_SCHEMA: &str = "https://schemas.getdbt.com/dbt/manifest/v12.json";
/// The dbt version whose artifacts and behaviour weir follows.
pub const DBT_COMPAT_VERSION: &str = "1.8.0";

fn columns_json(cols: &indexmap::IndexMap<String, ColumnInfo>) -> Json {
    Json::Object(
        cols.iter()
            .map(|(k, c)| {
                (
                    k.clone(),
                    json!({
                        "name": c.name, "description": c.description, "meta": c.meta,
                        "data_type": c.data_type, "constraints": c.constraints, "quote": c.quote,
                        "tags": c.tags, "granularity": null,
                    }),
                )
            })
            .collect(),
    )
}

/// A node's config as dbt writes it: dbt's defaults, then what the project set.
fn config_json(n: &Node) -> Json {
    let mut c = Map::new();
    let defaults: &[(&str, Json)] = &[
        ("enabled", json!(true)),
        ("alias", Json::Null),
        ("schema", Json::Null),
        ("database", Json::Null),
        ("tags", json!([])),
        ("meta", json!({})),
        ("group", Json::Null),
        ("materialized", json!(n.materialized())),
    ];
    for (k, v) in defaults {
        c.insert(k.to_string(), v.clone());
    }
    match n.resource_type {
        ResourceType::Test => {
            for (k, v) in [
                ("severity", json!("ERROR")),
                ("store_failures", Json::Null),
                ("store_failures_as", Json::Null),
                ("where", Json::Null),
                ("limit", Json::Null),
                ("fail_calc", json!("count(*)")),
                ("warn_if", json!("!= 0")),
                ("error_if", json!("!= 0")),
            ] {
                c.insert(k.into(), v);
            }
            c.insert("schema".into(), json!("dbt_test__audit"));
        }
        _ => {
            for (k, v) in [
                ("persist_docs", json!({})),
                ("post-hook", json!([])),
                ("pre-hook", json!([])),
                ("quoting", json!({})),
                ("column_types", json!({})),
                ("full_refresh", Json::Null),
                ("unique_key", Json::Null),
                ("on_schema_change", json!("ignore")),
                ("on_configuration_change", json!("apply")),
                ("grants", json!({})),
                ("packages", json!([])),
                ("docs", json!({"show": true, "node_color": null})),
                ("contract", json!({"enforced": false, "alias_types": true})),
                ("access", json!("protected")),
            ] {
                c.insert(k.into(), v);
            }
        }
    }
    for (k, v) in &n.config {
        c.insert(k.clone(), v.clone());
    }
    if let Some(Json::String(sev)) = c.get("severity") {
        let up = sev.to_uppercase();
        c.insert("severity".into(), json!(up));
    }
    for hook in ["pre-hook", "post-hook"] {
        if let Some(Json::Array(items)) = c.get(hook) {
            let normalized: Vec<Json> = items
                .iter()
                .map(|h| match h {
                    Json::String(s) => json!({"sql": s, "transaction": true, "index": null}),
                    other => other.clone(),
                })
                .collect();
            c.insert(hook.into(), Json::Array(normalized));
        }
    }
    Json::Object(c)
}

fn relation_name(n: &Node) -> Json {
    match n.resource_type {
        ResourceType::Model if n.is_ephemeral() => Json::Null,
        ResourceType::Analysis | ResourceType::Test => Json::Null,
        _ => json!(format!(
            "\"{}\".\"{}\".\"{}\"",
            n.database, n.schema, n.alias
        )),
    }
}

/// One node in the manifest's shape.
pub fn node_json(n: &Node) -> Json {
    let refs: Vec<Json> = n
        .refs
        .iter()
        .map(|r| json!({"name": r.name, "package": r.package, "version": r.version}))
        .collect();
    let sources: Vec<Json> = n.sources.iter().map(|(s, t)| json!([s, t])).collect();
    let config = config_json(n);
    let mut v = json!({
        "database": n.database,
        "schema": n.schema,
        "name": n.name,
        "resource_type": n.resource_type.as_str(),
        "package_name": n.package_name,
        "path": n.path,
        "original_file_path": n.original_file_path,
        "unique_id": n.unique_id,
        "fqn": n.fqn,
        "alias": n.alias,
        "checksum": if n.checksum.is_empty() { json!({"name": "none", "checksum": ""}) } else { json!({"name": "sha256", "checksum": n.checksum}) },
        "config": config,
        "tags": n.tags(),
        "description": n.description,
        "columns": columns_json(&n.columns),
        "meta": n.config.get("meta").cloned().unwrap_or(json!({})),
        "group": null,
        "docs": n.config.get("docs").cloned().unwrap_or(json!({"show": true, "node_color": null})),
        "patch_path": n.patch_path,
        "build_path": null,
        "unrendered_config": {},
        "created_at": 0.0,
        "relation_name": relation_name(n),
        "raw_code": &*n.raw_code,
        "language": "sql",
        "refs": refs,
        "sources": sources,
        "metrics": [],
        "depends_on": {"macros": n.depends_on_macros, "nodes": n.depends_on_nodes},
        "compiled_path": n.compiled_code.as_ref().map(|_| format!("target/compiled/{}", n.compiled_path())),
        "compiled": n.compiled_code.is_some(),
        "compiled_code": n.compiled_code,
        "extra_ctes_injected": n.compiled_code.is_some(),
        "extra_ctes": [],
        "contract": {"enforced": n.contract_enforced, "alias_types": true, "checksum": null},
    });
    let o = v.as_object_mut().unwrap();
    match n.resource_type {
        ResourceType::Model => {
            o.insert("access".into(), json!("protected"));
            o.insert("constraints".into(), json!([]));
            o.insert("version".into(), json!(n.version));
            o.insert("latest_version".into(), Json::Null);
            o.insert("deprecation_date".into(), Json::Null);
            o.insert("primary_key".into(), json!([]));
            o.insert("time_spine".into(), Json::Null);
        }
        ResourceType::Seed => {
            for k in [
                "refs",
                "sources",
                "metrics",
                "compiled_path",
                "compiled",
                "compiled_code",
                "extra_ctes_injected",
                "extra_ctes",
                "contract",
                "language",
            ] {
                o.remove(k);
            }
            o.insert("root_path".into(), Json::Null);
            o.insert("depends_on".into(), json!({"macros": n.depends_on_macros}));
            o.insert("raw_code".into(), json!(""));
        }
        ResourceType::Test => {
            if let Some(md) = &n.test_metadata {
                o.insert(
                    "test_metadata".into(),
                    json!({"name": md.name, "kwargs": md.kwargs, "namespace": md.namespace}),
                );
                o.insert("column_name".into(), json!(n.column_name));
                o.insert("file_key_name".into(), json!(n.file_key_name));
                o.insert("attached_node".into(), json!(n.attached_node));
            }
        }
        _ => {}
    }
    v
}

pub fn source_json(s: &SourceNode) -> Json {
    json!({
        "database": s.database,
        "schema": s.schema,
        "name": s.name,
        "resource_type": "source",
        "package_name": s.package_name,
        "path": s.path,
        "original_file_path": s.original_file_path,
        "unique_id": s.unique_id,
        "fqn": s.fqn,
        "source_name": s.source_name,
        "source_description": s.source_description,
        "loader": s.loader,
        "identifier": s.identifier,
        "quoting": {"database": null, "schema": null, "identifier": null, "column": null},
        "loaded_at_field": s.loaded_at_field,
        "loaded_at_query": null,
        "freshness": s.freshness.clone().unwrap_or(json!({"warn_after": {"count": null, "period": null}, "error_after": {"count": null, "period": null}, "filter": null})),
        "external": null,
        "description": s.description,
        "columns": columns_json(&s.columns),
        "meta": s.meta,
        "source_meta": {},
        "tags": s.tags,
        "config": {"enabled": true, "event_time": null, "freshness": s.freshness, "loaded_at_field": s.loaded_at_field, "loaded_at_query": null, "meta": s.meta, "tags": s.tags},
        "patch_path": null,
        "unrendered_config": {},
        "relation_name": format!("\"{}\".\"{}\".\"{}\"", s.database, s.schema, s.identifier),
        "created_at": 0.0,
        "unrendered_database": null,
        "unrendered_schema": null,
        "doc_blocks": [],
    })
}

/// `model` in templates: the node as dbt's Jinja sees it.
pub fn node_value(n: &Node) -> Value {
    Value::from_serialize(node_json(n))
}

pub fn manifest_json(project: &Project, m: &Manifest, invocation_id: &str) -> Json {
    let nodes: Map<String, Json> = m
        .nodes
        .values()
        .map(|n| (n.unique_id.clone(), node_json(n)))
        .collect();
    let sources: Map<String, Json> = m
        .sources
        .values()
        .map(|s| (s.unique_id.clone(), source_json(s)))
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
                json!({"name": d.name, "resource_type": "doc", "package_name": d.package_name, "path": d.original_file_path,
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
                    "path": e.original_file_path, "original_file_path": e.original_file_path,
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
        .map(|u| {
            (
                u.unique_id.clone(),
                json!({
                    "model": u.model, "given": u.given, "expect": u.expect, "name": u.name,
                    "resource_type": "unit_test", "package_name": u.package_name,
                    "path": u.original_file_path, "original_file_path": u.original_file_path,
                    "unique_id": u.unique_id, "fqn": u.fqn, "description": u.description,
                    "overrides": u.overrides, "depends_on": {"macros": [], "nodes": u.depends_on_nodes},
                    "config": {"tags": [], "meta": {}, "enabled": true}, "checksum": null, "schema": null,
                    "created_at": 0.0, "versions": null, "version": null,
                }),
            )
        })
        .collect();
    let disabled: Map<String, Json> = m
        .disabled
        .iter()
        .map(|(k, v)| (k.clone(), Json::Array(v.iter().map(node_json).collect())))
        .collect();
    json!({
        "metadata": {
            "dbt_schema_version": MANIFEST_SCHEMA,
            "dbt_version": DBT_COMPAT_VERSION,
            "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "invocation_id": invocation_id,
            "env": {},
            "project_name": project.name,
            "project_id": format!("{:x}", md5::compute(project.name.as_bytes())),
            "user_id": null,
            "send_anonymous_usage_stats": false,
            "adapter_type": "datafusion",
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
        "parent_map": m.parent_map(),
        "child_map": m.child_map(),
        "group_map": {},
        "saved_queries": {},
        "semantic_models": {},
        "unit_tests": unit_tests,
    })
}
