//! Artifacts in dbt's published shapes: `manifest.json` (v12), `run_results.json` (v6). Tools
//! that read dbt artifacts read ours.

mod run_results;
pub use run_results::run_results_json;

use minijinja::value::Value;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Map, Value as Json};

use indexmap::IndexMap;

use crate::parse::{ColumnInfo, Manifest, Node, ResourceType, SourceNode};
use crate::project::config as cfg;
use crate::project::Project;

pub const MANIFEST_SCHEMA: &str = "https://schemas.getdbt.com/dbt/manifest/v12.json";
/// The dbt version whose artifacts and behaviour weir follows.
pub const DBT_COMPAT_VERSION: &str = "1.8.0";

/// dbt's config defaults for a kind of node, in the order dbt writes them. A key the project
/// sets takes the default's place; keys dbt has no default for follow.
fn config_defaults(rt: ResourceType) -> &'static [(&'static str, Json)] {
    use std::sync::OnceLock;
    static MODEL: OnceLock<Vec<(&'static str, Json)>> = OnceLock::new();
    static SEED: OnceLock<Vec<(&'static str, Json)>> = OnceLock::new();
    static SNAPSHOT: OnceLock<Vec<(&'static str, Json)>> = OnceLock::new();
    static TEST: OnceLock<Vec<(&'static str, Json)>> = OnceLock::new();
    static OTHER: OnceLock<Vec<(&'static str, Json)>> = OnceLock::new();
    let head = |schema: Json| -> Vec<(&'static str, Json)> {
        vec![
            ("enabled", json!(true)),
            ("alias", Json::Null),
            ("schema", schema),
            ("database", Json::Null),
            ("tags", json!([])),
            ("meta", json!({})),
            ("group", Json::Null),
            ("static_analysis", Json::Null),
            // Filled from the node (`Node::materialized`).
            ("materialized", Json::Null),
        ]
    };
    let node = || -> Vec<(&'static str, Json)> {
        let mut v = head(Json::Null);
        v.extend([
            ("incremental_strategy", Json::Null),
            ("batch_size", Json::Null),
            ("lookback", json!(1)),
            ("begin", Json::Null),
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
            ("event_time", Json::Null),
            ("concurrent_batches", Json::Null),
        ]);
        v
    };
    match rt {
        ResourceType::Test => TEST.get_or_init(|| {
            let mut v = head(json!("dbt_test__audit"));
            v.extend([
                ("severity", json!("ERROR")),
                ("store_failures", Json::Null),
                ("store_failures_as", Json::Null),
                ("sql_header", Json::Null),
                ("where", Json::Null),
                ("limit", Json::Null),
                ("fail_calc", json!("count(*)")),
                ("warn_if", json!("!= 0")),
                ("error_if", json!("!= 0")),
            ]);
            v
        }),
        ResourceType::Model => MODEL.get_or_init(|| {
            let mut v = node();
            v.extend([
                ("access", json!("protected")),
                ("freshness", Json::Null),
                ("on_error", Json::Null),
                (
                    "latest_version_pointer",
                    json!({"enabled": null, "alias": null}),
                ),
            ]);
            v
        }),
        ResourceType::Seed => SEED.get_or_init(|| {
            let mut v = node();
            v.extend([("delimiter", json!(",")), ("quote_columns", Json::Null)]);
            v
        }),
        ResourceType::Snapshot => SNAPSHOT.get_or_init(|| {
            let mut v = node();
            v.extend([
                ("strategy", Json::Null),
                ("target_schema", Json::Null),
                ("target_database", Json::Null),
                ("updated_at", Json::Null),
                ("check_cols", Json::Null),
                (
                    "snapshot_meta_column_names",
                    json!({"dbt_valid_to": null, "dbt_valid_from": null, "dbt_scd_id": null,
                           "dbt_updated_at": null, "dbt_is_deleted": null}),
                ),
                ("dbt_valid_to_current", Json::Null),
            ]);
            v
        }),
        _ => OTHER.get_or_init(node),
    }
}

/// `default` with `set`'s keys laid over it (dbt merges dict configs such as `docs` and
/// `contract` into their defaults).
fn merged(default: &Json, set: &Json) -> Json {
    match (default, set) {
        (Json::Object(d), Json::Object(s)) => {
            let mut out = d.clone();
            for (k, v) in s {
                out.insert(k.clone(), v.clone());
            }
            Json::Object(out)
        }
        _ => set.clone(),
    }
}

/// A config value as dbt writes it: hooks as `{sql, transaction, index}` objects, dict configs
/// merged into their defaults.
fn config_value(key: &str, v: &Json, default: Option<&Json>) -> Json {
    match (key, v) {
        ("pre-hook" | "post-hook", _) => {
            let items = match v {
                Json::Array(items) => items.clone(),
                Json::Null => vec![],
                one => vec![one.clone()],
            };
            Json::Array(
                items
                    .into_iter()
                    .map(|h| match h {
                        Json::String(s) => json!({"sql": s, "transaction": true, "index": null}),
                        Json::Object(h) => {
                            let mut out = json!({"sql": "", "transaction": true, "index": null});
                            for (k, v) in h {
                                out[&k] = v;
                            }
                            out
                        }
                        other => other,
                    })
                    .collect(),
            )
        }
        ("docs" | "contract" | "latest_version_pointer" | "snapshot_meta_column_names", _) => {
            match default {
                Some(d) => merged(d, v),
                None => v.clone(),
            }
        }
        _ => v.clone(),
    }
}

/// A node's config as dbt writes it: dbt's defaults for the node's kind in dbt's order, with
/// what the project set in their place, then the project's other keys.
struct ConfigOut<'a>(&'a Node);

impl Serialize for ConfigOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.0;
        let defaults = config_defaults(n.resource_type);
        let mut m = s.serialize_map(None)?;
        for (k, d) in defaults {
            match *k {
                "materialized" => m.serialize_entry(k, n.materialized())?,
                "tags" => m.serialize_entry(k, &n.tags())?,
                "store_failures_as" => m.serialize_entry(k, &store_failures_as(n))?,
                _ => match cfg::get(&n.config, k) {
                    Some(v) => m.serialize_entry(k, &config_value(k, v, Some(d)))?,
                    None => m.serialize_entry(k, d)?,
                },
            }
        }
        for (k, v) in &n.config {
            if !defaults.iter().any(|(d, _)| d == k) {
                m.serialize_entry(k, &config_value(k, v, None))?;
            }
        }
        m.end()
    }
}

/// Project-level facts the manifest needs beyond the node itself. Without one (a node handed
/// to templates, `ls`), relations are quoted in full and seeds have no `root_path`.
struct Ctx<'a> {
    project: &'a Project,
    manifest: &'a Manifest,
}

impl Ctx<'_> {
    fn package(&self, name: &str) -> Option<&crate::project::Package> {
        self.project.packages.iter().find(|p| p.name == name)
    }
    /// The project's `quoting:` for (database, schema, identifier); dbt's default is to quote.
    fn quoting(&self) -> [bool; 3] {
        let q = &self.project.file.quoting;
        let get = |k: &str| q.get(k).and_then(Json::as_bool).unwrap_or(true);
        [get("database"), get("schema"), get("identifier")]
    }
    /// `path` for something found in a YAML or Markdown file: relative to the resource folder
    /// it was found under, as dbt has it.
    fn resource_path(&self, package: &str, original: &str, docs: bool) -> String {
        let Some(p) = self.package(package) else {
            return original.to_string();
        };
        let dirs = if docs {
            p.file.docs_paths()
        } else {
            p.file.model_paths()
        };
        dirs.iter()
            .filter_map(|d| {
                let d = d.trim_end_matches('/');
                original
                    .strip_prefix(d)
                    .and_then(|r| r.strip_prefix('/'))
                    .map(|r| (d.len(), r))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, r)| r.to_string())
            .unwrap_or_else(|| original.to_string())
    }
}

/// A test's `store_failures_as`: as set, else `table` when `store_failures` is on (dbt fills
/// it in so).
fn store_failures_as(n: &Node) -> Json {
    match cfg::get(&n.config, "store_failures_as") {
        Some(v) if !v.is_null() => v.clone(),
        _ if cfg::get(&n.config, "store_failures") == Some(&Json::Bool(true)) => {
            json!("table")
        }
        _ => Json::Null,
    }
}

fn relation_name(n: &Node, ctx: Option<&Ctx>) -> Option<String> {
    match n.resource_type {
        ResourceType::Model if n.is_ephemeral() => return None,
        ResourceType::Analysis => return None,
        // A test has a relation only when its failures are stored (in a table or view).
        ResourceType::Test if !matches!(store_failures_as(n).as_str(), Some("table" | "view")) => {
            return None
        }
        _ => {}
    }
    let mut quote = ctx.map(Ctx::quoting).unwrap_or([true; 3]);
    if let Some(Json::Object(q)) = cfg::get(&n.config, "quoting") {
        for (i, k) in ["database", "schema", "identifier"].iter().enumerate() {
            if let Some(b) = q.get(*k).and_then(Json::as_bool) {
                quote[i] = b;
            }
        }
    }
    let parts = [&n.database, &n.schema, &n.alias];
    Some(
        parts
            .iter()
            .zip(quote)
            .map(|(p, q)| if q { format!("\"{p}\"") } else { p.to_string() })
            .collect::<Vec<_>>()
            .join("."),
    )
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

/// A column constraint with dbt's defaults filled in, in dbt's key order.
fn constraint_out(c: &Json) -> Json {
    let Json::Object(c) = c else {
        return c.clone();
    };
    let mut out = Map::new();
    for (k, d) in [
        ("type", Json::Null),
        ("name", Json::Null),
        ("expression", Json::Null),
        ("warn_unenforced", json!(true)),
        ("warn_unsupported", json!(true)),
        ("to", Json::Null),
        ("to_columns", json!([])),
    ] {
        out.insert(k.into(), c.get(k).cloned().unwrap_or(d));
    }
    for (k, v) in c {
        if !out.contains_key(k) {
            out.insert(k.clone(), v.clone());
        }
    }
    Json::Object(out)
}

#[derive(serde::Serialize)]
struct Checksum<'a> {
    name: &'a str,
    checksum: &'a str,
}

#[derive(serde::Serialize)]
struct Contract {
    enforced: bool,
    alias_types: bool,
    checksum: Option<String>,
}

#[derive(serde::Serialize)]
struct ColumnConfig<'a, M, T> {
    meta: &'a M,
    tags: &'a T,
}

/// A column as dbt writes it (`ColumnInfo` plus the keys dbt 1.10+ adds).
struct ColumnOut<'a>(&'a ColumnInfo);

impl Serialize for ColumnOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &c.name)?;
        m.serialize_entry("description", &c.description)?;
        m.serialize_entry("meta", &c.meta)?;
        m.serialize_entry("data_type", &c.data_type)?;
        let constraints: Vec<Json> = c.constraints.iter().map(constraint_out).collect();
        m.serialize_entry("constraints", &constraints)?;
        m.serialize_entry("quote", &c.quote)?;
        m.serialize_entry(
            "config",
            &ColumnConfig {
                meta: &c.meta,
                tags: &c.tags,
            },
        )?;
        m.serialize_entry("tags", &c.tags)?;
        m.serialize_entry("granularity", &c.granularity)?;
        m.serialize_entry("dimension", &())?;
        m.serialize_entry("entity", &())?;
        m.serialize_entry("doc_blocks", &[(); 0])?;
        m.end()
    }
}

struct ColumnsOut<'a>(&'a IndexMap<String, ColumnInfo>);

impl Serialize for ColumnsOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, c) in self.0 {
            m.serialize_entry(k, &ColumnOut(c))?;
        }
        m.end()
    }
}

/// Python's `repr()` of a string, for checksums dbt takes over Python values.
fn py_repr(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

fn py_repr_json(v: &Json) -> String {
    match v {
        Json::Null => "None".into(),
        Json::Bool(true) => "True".into(),
        Json::Bool(false) => "False".into(),
        Json::String(s) => py_repr(s),
        Json::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(py_repr_json)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// dbt's `contract.checksum` for a model with an enforced contract: sha256 over the columns'
/// names, data types and constraints (as Python prints them), sorted by name, then the
/// materialization and model constraints when the materialization enforces constraints.
fn contract_checksum(n: &Node) -> Option<String> {
    use sha2::{Digest, Sha256};
    if !n.contract_enforced {
        return None;
    }
    let mut cols: Vec<&ColumnInfo> = n.columns.values().collect();
    cols.sort_by(|a, b| a.name.cmp(&b.name));
    let mut state = String::new();
    for c in cols {
        state.push('|');
        state.push_str(&c.name);
        state.push_str(c.data_type.as_deref().unwrap_or("None"));
        let cs: Vec<String> = c
            .constraints
            .iter()
            .map(|k| {
                let k = constraint_out(k);
                let ty = k["type"].as_str().unwrap_or_default();
                format!(
                    "ColumnLevelConstraint(type=<ConstraintType.{ty}: '{ty}'>, name={}, \
                     expression={}, warn_unenforced={}, warn_unsupported={}, to={}, \
                     to_columns={})",
                    py_repr_json(&k["name"]),
                    py_repr_json(&k["expression"]),
                    py_repr_json(&k["warn_unenforced"]),
                    py_repr_json(&k["warn_unsupported"]),
                    py_repr_json(&k["to"]),
                    py_repr_json(&k["to_columns"]),
                )
            })
            .collect();
        state.push_str(&format!("[{}]", cs.join(", ")));
    }
    if matches!(n.materialized(), "table" | "incremental") {
        // Then the model-level constraints, which weir does not carry (always empty).
        state.push_str(n.materialized());
        state.push_str("[]");
    }
    Some(format!("{:x}", Sha256::digest(state.as_bytes())))
}

/// One node in the manifest's shape, serialized straight from the node (no intermediate
/// JSON tree: the manifest of a large project is tens of megabytes).
pub struct NodeOut<'a>(pub &'a Node);

impl Serialize for NodeOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        NodeSer(self.0, None).serialize(s)
    }
}

/// A node as written to `manifest.json`, with the project at hand.
struct NodeSer<'a>(&'a Node, Option<&'a Ctx<'a>>);

impl Serialize for NodeSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (n, ctx) = (self.0, self.1);
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
        let (name, checksum) = if n.checksum.is_empty() {
            ("none", "")
        } else {
            ("sha256", n.checksum.as_str())
        };
        m.serialize_entry("checksum", &Checksum { name, checksum })?;
        m.serialize_entry("config", &ConfigOut(n))?;
        m.serialize_entry("tags", &n.tags())?;
        m.serialize_entry("description", &n.description)?;
        m.serialize_entry("columns", &ColumnsOut(&n.columns))?;
        m.serialize_entry("meta", cfg::get(&n.config, "meta").unwrap_or(&empty))?;
        m.serialize_entry("group", &())?;
        static DOCS: std::sync::OnceLock<Json> = std::sync::OnceLock::new();
        let docs = DOCS.get_or_init(|| json!({"show": true, "node_color": null}));
        match cfg::get(&n.config, "docs") {
            Some(d) => m.serialize_entry("docs", &merged(docs, d))?,
            None => m.serialize_entry("docs", docs)?,
        }
        m.serialize_entry("patch_path", &n.patch_path)?;
        m.serialize_entry("build_path", &())?;
        m.serialize_entry("unrendered_config", &empty)?;
        m.serialize_entry("created_at", &0.0)?;
        m.serialize_entry("relation_name", &relation_name(n, ctx))?;
        if seed {
            m.serialize_entry("raw_code", "")?;
            m.serialize_entry("doc_blocks", &[(); 0])?;
            let root = ctx
                .and_then(|c| c.package(&n.package_name))
                .map(|p| p.root.display().to_string());
            m.serialize_entry("root_path", &root)?;
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
        m.serialize_entry("doc_blocks", &[(); 0])?;
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
        m.serialize_entry("functions", &[(); 0])?;
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
            &Contract {
                enforced: n.contract_enforced,
                alias_types: true,
                checksum: contract_checksum(n),
            },
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
                    m.serialize_entry("column_name", &n.column_name)?;
                    m.serialize_entry("file_key_name", &n.file_key_name)?;
                    m.serialize_entry("attached_node", &n.attached_node)?;
                    m.serialize_entry("test_metadata", md)?;
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
    source_out(s, None)
}

fn source_out(s: &SourceNode, ctx: Option<&Ctx>) -> Json {
    let mut quoting = json!({"database": null, "schema": null, "identifier": null, "column": null});
    for (k, v) in &s.quoting {
        quoting[k] = v.clone();
    }
    let mut quote = ctx.map(Ctx::quoting).unwrap_or([true; 3]);
    for (i, k) in ["database", "schema", "identifier"].iter().enumerate() {
        if let Some(b) = s.quoting.get(*k).and_then(Json::as_bool) {
            quote[i] = b;
        }
    }
    let relation_name = [&s.database, &s.schema, &s.identifier]
        .iter()
        .zip(quote)
        .map(|(p, q)| if q { format!("\"{p}\"") } else { p.to_string() })
        .collect::<Vec<_>>()
        .join(".");
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
        "quoting": quoting,
        "loaded_at_field": s.loaded_at_field,
        "loaded_at_query": null,
        "freshness": s.freshness.clone().unwrap_or(json!({"warn_after": {"count": null, "period": null}, "error_after": {"count": null, "period": null}, "filter": null})),
        "external": null,
        "description": s.description,
        "columns": ColumnsOut(&s.columns),
        "meta": s.meta,
        "source_meta": {},
        "tags": s.tags,
        "config": {"enabled": true, "event_time": null, "freshness": s.freshness, "loaded_at_field": s.loaded_at_field, "loaded_at_query": s.loaded_at_query, "meta": s.meta, "tags": s.tags, "static_analysis": null},
        "patch_path": null,
        "unrendered_config": {},
        "relation_name": relation_name,
        "created_at": 0.0,
        "unrendered_database": null,
        "unrendered_schema": null,
        "doc_blocks": [],
    })
}

/// `model` in templates: the node as dbt's Jinja sees it. Built on first use: most templates
/// never read it, and building the full dict for every node would dominate compile time.
pub fn node_value(n: &Node) -> Value {
    shared_node_value(std::sync::Arc::new(n.clone()))
}

/// [`node_value`] of a node the caller shares rather than copies.
pub fn shared_node_value(node: std::sync::Arc<Node>) -> Value {
    Value::from_object(NodeView {
        node,
        full: std::sync::OnceLock::new(),
    })
}

#[derive(Debug)]
struct NodeView {
    node: std::sync::Arc<Node>,
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

/// Write `manifest.json` to `path`. Nodes (most of it) are serialized in parallel, a slice
/// at a time, and streamed to the file in key order; the file appears whole (written beside it,
/// then renamed) or not at all. The old file is not read: its `generated_at` always differs.
pub fn write_manifest(
    project: &Project,
    m: &Manifest,
    invocation_id: &str,
    path: &std::path::Path,
) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let file = std::fs::File::create(&tmp)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
    write_manifest_to(project, m, invocation_id, &mut out)?;
    out.into_inner().map_err(|e| e.into_error())?;
    std::fs::rename(&tmp, path)
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
