//! The parsed project: nodes, sources, macros, docs, exposures, unit tests — dbt's manifest
//! contents before compilation.

use std::collections::BTreeMap;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::jinja::context::RefCall;
use crate::jinja::objects::{Quoting, Relation};
use crate::project::config::{self as cfg, Config};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    Model,
    Seed,
    Snapshot,
    Test,
    Analysis,
    Source,
    Exposure,
    UnitTest,
    Macro,
}

impl ResourceType {
    pub fn as_str(&self) -> &'static str {
        match self {
            ResourceType::Model => "model",
            ResourceType::Seed => "seed",
            ResourceType::Snapshot => "snapshot",
            ResourceType::Test => "test",
            ResourceType::Analysis => "analysis",
            ResourceType::Source => "source",
            ResourceType::Exposure => "exposure",
            ResourceType::UnitTest => "unit_test",
            ResourceType::Macro => "macro",
        }
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct ColumnInfo {
    pub name: String,
    pub description: String,
    pub meta: Map<String, Json>,
    pub data_type: Option<String>,
    pub constraints: Vec<Json>,
    pub quote: Option<bool>,
    pub tags: Vec<String>,
    pub granularity: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestMetadata {
    pub name: String,
    pub kwargs: Map<String, Json>,
    pub namespace: Option<String>,
}

/// A model, seed, snapshot, analysis or test.
#[derive(Debug, Clone)]
pub struct Node {
    pub unique_id: String,
    pub resource_type: ResourceType,
    pub package_name: String,
    pub name: String,
    /// dbt's `path`: relative to the resource folder (tests: the compiled file's path).
    pub path: String,
    pub original_file_path: String,
    /// Project-relative path shown in messages.
    pub display_path: String,
    pub fqn: Vec<String>,
    pub raw_code: Arc<str>,
    pub config: Config,
    pub database: String,
    pub schema: String,
    pub alias: String,
    pub description: String,
    pub columns: IndexMap<String, ColumnInfo>,
    pub patch_path: Option<String>,
    pub refs: Vec<RefCall>,
    pub sources: Vec<(String, String)>,
    pub depends_on_nodes: Vec<String>,
    pub depends_on_macros: Vec<String>,
    pub test_metadata: Option<TestMetadata>,
    pub column_name: Option<String>,
    pub attached_node: Option<String>,
    pub file_key_name: Option<String>,
    pub checksum: String,
    pub version: Option<String>,
    pub contract_enforced: bool,
    /// Model-level `constraints:` from the YAML (column-level ones are on the columns).
    pub constraints: Vec<Json>,
    pub compiled_code: Option<String>,
    /// `pre-hook` / `post-hook` statements, rendered at compile time.
    pub pre_hooks: Vec<String>,
    pub post_hooks: Vec<String>,
}

impl Node {
    pub fn materialized(&self) -> &str {
        cfg::get(&self.config, "materialized")
            .and_then(Json::as_str)
            .unwrap_or(match self.resource_type {
                ResourceType::Seed => "seed",
                ResourceType::Snapshot => "snapshot",
                ResourceType::Test => "test",
                _ => "view",
            })
    }
    /// dbt's `should_full_refresh()`: the node's own `full_refresh` config, else the flag
    /// (`full_refresh: false` keeps a large incremental table through `--full-refresh`).
    pub fn full_refresh(&self, flag: bool) -> bool {
        cfg::get(&self.config, "full_refresh")
            .and_then(Json::as_bool)
            .unwrap_or(flag)
    }
    /// The incremental strategy: the configured one, else `merge` with a `unique_key` and
    /// `append` without.
    pub fn incremental_strategy(&self) -> &str {
        cfg::get(&self.config, "incremental_strategy")
            .and_then(Json::as_str)
            .unwrap_or(
                if cfg::as_string_list(cfg::get(&self.config, "unique_key")).is_empty() {
                    "append"
                } else {
                    "merge"
                },
            )
    }
    /// `partition_by` as dbt's dict form (`{field: x}` / `{fields: [...]}`) or a plain list.
    pub fn partition_columns(&self) -> Vec<String> {
        use crate::project::config::as_string_list;
        match self.config.get("partition_by") {
            Some(Json::Object(m)) => m
                .get("field")
                .or_else(|| m.get("fields"))
                .map(|v| as_string_list(Some(v)))
                .unwrap_or_default(),
            other => as_string_list(other),
        }
    }
    pub fn is_ephemeral(&self) -> bool {
        self.resource_type == ResourceType::Model && self.materialized() == "ephemeral"
    }
    /// What `ref()` to this node returns at compile time; ephemeral models render as their CTE.
    pub fn relation(&self, quoting: Quoting) -> Relation {
        let mut r = Relation::new(&self.database, &self.schema, &self.alias, quoting);
        r.kind = Some(match self.materialized() {
            "view" => "view".into(),
            "ephemeral" => "cte".into(),
            _ => "table".into(),
        });
        if self.is_ephemeral() {
            r.cte_name = Some(format!("__dbt__cte__{}", self.name));
        }
        r
    }
    /// `this` while compiling the node.
    pub fn this_relation(&self, quoting: Quoting) -> Relation {
        let mut this = Relation::new(&self.database, &self.schema, &self.alias, quoting);
        this.kind = Some(if self.materialized() == "view" {
            "view".into()
        } else {
            "table".into()
        });
        this
    }
    pub fn tags(&self) -> Vec<String> {
        cfg::as_string_list(cfg::get(&self.config, "tags"))
    }
    /// `target/compiled/<package>/<path>`, as dbt lays it out.
    pub fn compiled_path(&self) -> String {
        match self.resource_type {
            ResourceType::Test if self.test_metadata.is_some() => {
                format!(
                    "{}/{}/{}",
                    self.package_name, self.original_file_path, self.path
                )
            }
            _ => format!("{}/{}", self.package_name, self.original_file_path),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SourceNode {
    pub unique_id: String,
    pub package_name: String,
    pub source_name: String,
    pub name: String,
    pub identifier: String,
    pub database: String,
    pub schema: String,
    pub description: String,
    pub source_description: String,
    pub loader: String,
    pub loaded_at_field: Option<String>,
    /// A query returning the time the data was last loaded (instead of `loaded_at_field`).
    pub loaded_at_query: Option<String>,
    pub freshness: Option<Json>,
    pub quoting: Map<String, Json>,
    pub columns: IndexMap<String, ColumnInfo>,
    pub meta: Map<String, Json>,
    pub tags: Vec<String>,
    pub config: Config,
    pub original_file_path: String,
    pub path: String,
    pub fqn: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ExposureNode {
    pub unique_id: String,
    pub package_name: String,
    pub name: String,
    pub exposure_type: String,
    pub label: Option<String>,
    pub description: String,
    pub url: Option<String>,
    pub maturity: Option<String>,
    pub owner: Map<String, Json>,
    pub depends_on_nodes: Vec<String>,
    pub refs: Vec<RefCall>,
    pub sources: Vec<(String, String)>,
    pub tags: Vec<String>,
    pub meta: Map<String, Json>,
    pub config: Config,
    pub original_file_path: String,
    pub fqn: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct UnitTestNode {
    pub unique_id: String,
    pub package_name: String,
    pub name: String,
    pub model: String,
    pub description: String,
    pub given: Vec<Json>,
    pub expect: Json,
    pub overrides: Option<Json>,
    pub config: Config,
    pub depends_on_nodes: Vec<String>,
    pub original_file_path: String,
    pub fqn: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct DocNode {
    pub unique_id: String,
    pub package_name: String,
    pub name: String,
    pub block_contents: String,
    pub original_file_path: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MacroNode {
    pub unique_id: String,
    pub package_name: String,
    pub name: String,
    pub original_file_path: String,
    pub macro_sql: String,
    pub arguments: Vec<String>,
    pub description: String,
}

/// The parsed project. Maps are ordered so output is deterministic.
#[derive(Debug, Default)]
pub struct Manifest {
    pub nodes: BTreeMap<String, Box<Node>>,
    pub sources: BTreeMap<String, SourceNode>,
    pub exposures: BTreeMap<String, ExposureNode>,
    pub unit_tests: BTreeMap<String, UnitTestNode>,
    pub docs: BTreeMap<String, DocNode>,
    pub macros: BTreeMap<String, MacroNode>,
    pub disabled: BTreeMap<String, Vec<Node>>,
}

impl Manifest {
    /// Every node, source, exposure and unit test id with its parents, sorted by id: dbt's
    /// `parent_map`, borrowed.
    pub fn parents(&self) -> Vec<(&str, &[String])> {
        let none: &[String] = &[];
        let mut out: Vec<(&str, &[String])> = Vec::with_capacity(
            self.nodes.len() + self.sources.len() + self.exposures.len() + self.unit_tests.len(),
        );
        out.extend(
            self.nodes
                .values()
                .map(|n| (n.unique_id.as_str(), n.depends_on_nodes.as_slice())),
        );
        out.extend(self.sources.values().map(|s| (s.unique_id.as_str(), none)));
        out.extend(
            self.exposures
                .values()
                .map(|e| (e.unique_id.as_str(), e.depends_on_nodes.as_slice())),
        );
        out.extend(
            self.unit_tests
                .values()
                .map(|u| (u.unique_id.as_str(), u.depends_on_nodes.as_slice())),
        );
        out.sort_unstable_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// dbt's `child_map` from [`Manifest::parents`]: every id (and every parent named but not
    /// present) with its children, sorted and without repeats.
    pub fn children<'a>(parents: &[(&'a str, &'a [String])]) -> Vec<(&'a str, Vec<&'a str>)> {
        let pos: std::collections::HashMap<&str, usize> = parents
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (*id, i))
            .collect();
        let mut out: Vec<(&str, Vec<&str>)> =
            parents.iter().map(|(id, _)| (*id, Vec::new())).collect();
        let mut dangling: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        // Children are visited in id order, so each list comes out sorted.
        for (child, ps) in parents {
            for p in ps.iter() {
                match pos.get(p.as_str()) {
                    Some(&i) => out[i].1.push(child),
                    None => dangling.entry(p.as_str()).or_default().push(child),
                }
            }
        }
        let had_dangling = !dangling.is_empty();
        out.extend(dangling);
        if had_dangling {
            out.sort_by(|a, b| a.0.cmp(b.0));
        }
        for (_, v) in &mut out {
            v.dedup();
        }
        out
    }
}
