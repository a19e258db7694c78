//! Artifacts in dbt's published shapes: `manifest.json` (v12). Tools that read dbt artifacts
//! read ours.

use minijinja::value::Value;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Map, Value as Json};

use crate::parse::{Manifest, Node, ResourceType, SourceNode};
use crate::project::Project;

pub const MANIFEST_SCHEMA: &str = "https://schemas.getdbt.com/dbt/manifest/v12.json";
/// The dbt version whose artifacts and behaviour weir follows.
pub const DBT_COMPAT_VERSION: &str = "1.8.0";

/// dbt's config defaults for a kind of node (tests have their own).
fn config_defaults(test: bool) -> &'static [(&'static str, Json)] {
    static NODE: std::sync::OnceLock<Vec<(&'static str, Json)>> = std::sync::OnceLock::new();
    static TEST: std::sync::OnceLock<Vec<(&'static str, Json)>> = std::sync::OnceLock::new();
    let common = || -> Vec<(&'static str, Json)> {
        vec![
            ("enabled", json!(true)),
            ("alias", Json::Null),
            ("schema", Json::Null),
            ("database", Json::Null),
            ("tags", json!([])),
            ("meta", json!({})),
            ("group", Json::Null),
        ]
    };
    if test {
        TEST.get_or_init(|| {
            let mut v = common();
            v.extend([
                ("schema", json!("dbt_test__audit")),
                ("severity", json!("ERROR")),
                ("store_failures", Json::Null),
                ("store_failures_as", Json::Null),
                ("where", Json::Null),
                ("limit", Json::Null),
                ("fail_calc", json!("count(*)")),
                ("warn_if", json!("!= 0")),
                ("error_if", json!("!= 0")),
            ]);
            v
        })
    } else {
        NODE.get_or_init(|| {
            let mut v = common();
            v.extend([
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
            ]);
            v
        })
    }
}

/// A node's config as dbt writes it: dbt's defaults, then what the project set (severity
/// upper-cased, hooks as `{sql, transaction, index}` objects).
struct ConfigOut<'a>(&'a Node);

impl Serialize for ConfigOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.0;
        let mut m = s.serialize_map(None)?;
        let mut seen: Vec<&str> = Vec::with_capacity(32);
        for (k, v) in config_defaults(n.resource_type == ResourceType::Test) {
            if !n.config.contains_key(*k) && !seen.contains(k) {
                m.serialize_entry(k, v)?;
                seen.push(k);
            }
        }
        if !n.config.contains_key("materialized") {
            m.serialize_entry("materialized", n.materialized())?;
        }
        for (k, v) in &n.config {
            match (k.as_str(), v) {
                ("severity", Json::String(sev)) => m.serialize_entry(k, &sev.to_uppercase())?,
                ("pre-hook" | "post-hook", Json::Array(items)) => {
                    let hooks: Vec<Json> = items
                        .iter()
                        .map(|h| match h {
                            Json::String(s) => {
                                json!({"sql": s, "transaction": true, "index": null})
                            }
                            other => other.clone(),
                        })
                        .collect();
                    m.serialize_entry(k, &hooks)?
                }
                _ => m.serialize_entry(k, v)?,
            }
        }
        m.end()
    }
}

fn relation_name(n: &Node) -> Option<String> {
    match n.resource_type {
        ResourceType::Model if n.is_ephemeral() => None,
        ResourceType::Analysis | ResourceType::Test => None,
        _ => Some(format!(
            "\"{}\".\"{}\".\"{}\"",
            n.database, n.schema, n.alias
        )),
    }
}

#[derive(serde::Serialize)]
struct RefOut<'a> {
    name: &'a str,
    package: &'a Option<String>,
    version: &'a Option<String>,
}

#[derive(serde::Serialize)]
struct DependsOn<'a> {
    macros: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    nodes: Option<&'a [String]>,
}

/// One node in the manifest's shape, serialized straight from the node (no intermediate
/// JSON tree: the manifest of a large project is tens of megabytes).
pub struct NodeOut<'a>(pub &'a Node);

impl Serialize for NodeOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.0;
        let seed = n.resource_type == ResourceType::Seed;
        let empty = Json::Object(Map::new());
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("database", &n.database)?;
        m.serialize_entry("schema", &n.schema)?;
        m.serialize_entry("name", &n.name)?;
        m.serialize_entry("resource_type", n.resource_type.as_str())?;
        m.serialize_entry("package_name", &n.package_name)?;
        m.serialize_entry("path", &n.path)?;
        m.serialize_entry("original_file_path", &n.original_file_path)?;
        m.serialize_entry("unique_id", &n.unique_id)?;
        m.serialize_entry("fqn", &n.fqn)?;
        m.serialize_entry("alias", &n.alias)?;
        let (cname, csum) = if n.checksum.is_empty() {
            ("none", "")
        } else {
            ("sha256", n.checksum.as_str())
        };
        m.serialize_entry("checksum", &json!({"name": cname, "checksum": csum}))?;
        m.serialize_entry("config", &ConfigOut(n))?;
        m.serialize_entry("tags", &n.tags())?;
        m.serialize_entry("description", &n.description)?;
        m.serialize_entry("columns", &n.columns)?;
        m.serialize_entry("meta", n.config.get("meta").unwrap_or(&empty))?;
        m.serialize_entry("group", &())?;
        match n.config.get("docs") {
            Some(d) => m.serialize_entry("docs", d)?,
            None => m.serialize_entry("docs", &json!({"show": true, "node_color": null}))?,
        }
        m.serialize_entry("patch_path", &n.patch_path)?;
        m.serialize_entry("build_path", &())?;
        m.serialize_entry("unrendered_config", &empty)?;
        m.serialize_entry("created_at", &0.0)?;
        m.serialize_entry("relation_name", &relation_name(n))?;
        if seed {
            m.serialize_entry("raw_code", "")?;
            m.serialize_entry("root_path", &())?;
            m.serialize_entry(
                "depends_on",
                &DependsOn {
                    macros: &n.depends_on_macros,
                    nodes: None,
                },
            )?;
            return m.end();
        }
        m.serialize_entry("raw_code", &*n.raw_code)?;
        m.serialize_entry("language", "sql")?;
        let refs: Vec<RefOut> = n
            .refs
            .iter()
            .map(|r| RefOut {
                name: &r.name,
                package: &r.package,
                version: &r.version,
            })
            .collect();
        m.serialize_entry("refs", &refs)?;
        let sources: Vec<[&str; 2]> = n
            .sources
            .iter()
            .map(|(s, t)| [s.as_str(), t.as_str()])
            .collect();
        m.serialize_entry("sources", &sources)?;
        m.serialize_entry("metrics", &[(); 0])?;
        m.serialize_entry(
            "depends_on",
            &DependsOn {
                macros: &n.depends_on_macros,
                nodes: Some(&n.depends_on_nodes),
            },
        )?;
        m.serialize_entry(
            "compiled_path",
            &n.compiled_code
                .as_ref()
                .map(|_| format!("target/compiled/{}", n.compiled_path())),
        )?;
        m.serialize_entry("compiled", &n.compiled_code.is_some())?;
        m.serialize_entry("compiled_code", &n.compiled_code)?;
        m.serialize_entry("extra_ctes_injected", &n.compiled_code.is_some())?;
        m.serialize_entry("extra_ctes", &[(); 0])?;
        m.serialize_entry(
            "contract",
            &json!({"enforced": n.contract_enforced, "alias_types": true, "checksum": null}),
        )?;
        match n.resource_type {
            ResourceType::Model => {
                m.serialize_entry("access", "protected")?;
                m.serialize_entry("constraints", &[(); 0])?;
                m.serialize_entry("version", &n.version)?;
                m.serialize_entry("latest_version", &())?;
                m.serialize_entry("deprecation_date", &())?;
                m.serialize_entry("primary_key", &[(); 0])?;
                m.serialize_entry("time_spine", &())?;
            }
            ResourceType::Test => {
                if let Some(md) = &n.test_metadata {
                    m.serialize_entry("test_metadata", md)?;
                    m.serialize_entry("column_name", &n.column_name)?;
                    m.serialize_entry("file_key_name", &n.file_key_name)?;
                    m.serialize_entry("attached_node", &n.attached_node)?;
                }
            }
            _ => {}
        }
        m.end()
    }
}

pub fn node_json(n: &Node) -> Json {
    serde_json::to_value(NodeOut(n)).expect("nodes serialize")
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
        "columns": s.columns,
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

/// `model` in templates: the node as dbt's Jinja sees it. Built on first use: most templates
/// never read it, and building the full dict for every node would dominate compile time.
pub fn node_value(n: &Node) -> Value {
    Value::from_object(NodeView {
        node: n.clone(),
        full: std::sync::OnceLock::new(),
    })
}

#[derive(Debug)]
struct NodeView {
    node: Node,
    full: std::sync::OnceLock<Value>,
}

impl minijinja::value::Object for NodeView {
    fn get_value(self: &std::sync::Arc<Self>, key: &Value) -> Option<Value> {
        let n = &self.node;
        Some(match key.as_str()? {
            "name" => Value::from(n.name.clone()),
            "unique_id" => Value::from(n.unique_id.clone()),
            "resource_type" => Value::from(n.resource_type.as_str()),
            "package_name" => Value::from(n.package_name.clone()),
            "alias" => Value::from(n.alias.clone()),
            "schema" => Value::from(n.schema.clone()),
            "database" => Value::from(n.database.clone()),
            "version" => n
                .version
                .clone()
                .map(Value::from)
                .unwrap_or(Value::from(())),
            other => {
                return self
                    .full
                    .get_or_init(|| Value::from_serialize(node_json(n)))
                    .get_attr(other)
                    .ok()
                    .filter(|v| !v.is_undefined())
            }
        })
    }
    fn enumerate(self: &std::sync::Arc<Self>) -> minijinja::value::Enumerator {
        let full = self
            .full
            .get_or_init(|| Value::from_serialize(node_json(&self.node)));
        minijinja::value::Enumerator::Values(
            full.try_iter().map(|i| i.collect()).unwrap_or_default(),
        )
    }
}

/// The manifest as text. Nodes are serialized in parallel (they are most of it) and spliced
/// into the document, keeping key order.
pub fn manifest_text(project: &Project, m: &Manifest, invocation_id: &str) -> String {
    use rayon::prelude::*;
    let nodes: Vec<Vec<u8>> = m
        .nodes
        .par_iter()
        .map(|(id, n)| {
            let mut buf = Vec::with_capacity(4096);
            serde_json::to_writer(&mut buf, id).expect("strings serialize");
            buf.push(b':');
            serde_json::to_writer(&mut buf, &NodeOut(n)).expect("nodes serialize");
            buf
        })
        .collect();
    let mut doc = manifest_json_with_nodes(project, m, invocation_id, Map::new());
    doc.as_object_mut()
        .unwrap()
        .insert("nodes".into(), json!("__WEIR_NODES__"));
    let text = doc.to_string();
    let (before, after) = text
        .split_once("\"__WEIR_NODES__\"")
        .expect("marker is present");
    let total = before.len() + after.len() + nodes.iter().map(|b| b.len() + 1).sum::<usize>() + 2;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(before.as_bytes());
    out.push(b'{');
    for (i, b) in nodes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b);
    }
    out.push(b'}');
    out.extend_from_slice(after.as_bytes());
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

pub fn manifest_json(project: &Project, m: &Manifest, invocation_id: &str) -> Json {
    let nodes: Map<String, Json> = m
        .nodes
        .values()
        .map(|n| (n.unique_id.clone(), node_json(n)))
        .collect();
    manifest_json_with_nodes(project, m, invocation_id, nodes)
}

fn manifest_json_with_nodes(
    project: &Project,
    m: &Manifest,
    invocation_id: &str,
    nodes: Map<String, Json>,
) -> Json {
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
