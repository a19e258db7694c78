//! A node's JSON, in the shape of dbt's manifest (v12): what `manifest.json` holds for it and
//! what a model's Jinja sees as `model`. The parse phase owns it because the render needs it;
//! `artifacts` writes the manifest from it.

use minijinja::value::Value;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Map, Value as Json};

use indexmap::IndexMap;

use super::{ColumnInfo, Manifest, Node, ResourceType, SourceNode};
use crate::project::config as cfg;
use crate::project::Project;

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
pub(crate) struct Ctx<'a> {
    pub(crate) project: &'a Project,
    pub(crate) manifest: &'a Manifest,
}

impl Ctx<'_> {
    fn package(&self, name: &str) -> Option<&crate::project::Package> {
        self.project.packages.iter().find(|p| p.name == name)
    }
    /// The project's `quoting:` for (database, schema, identifier); dbt's default is to quote.
    pub(crate) fn quoting(&self) -> [bool; 3] {
        let q = &self.project.file.quoting;
        let get = |k: &str| q.get(k).and_then(Json::as_bool).unwrap_or(true);
        [get("database"), get("schema"), get("identifier")]
    }
    /// `path` for something found in a YAML or Markdown file: relative to the resource folder
    /// it was found under, as dbt has it.
    pub(crate) fn resource_path(&self, package: &str, original: &str, docs: bool) -> String {
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
pub(crate) struct NodeSer<'a>(pub(crate) &'a Node, pub(crate) Option<&'a Ctx<'a>>);

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

pub(crate) fn source_out(s: &SourceNode, ctx: Option<&Ctx>) -> Json {
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
