//! Config resolution: `dbt_project.yml` trees walked by fqn, then `config()` in the file, then YAML.
//!
//! Merge rules follow dbt: `tags` accumulate, `meta` and `docs` merge key by key, hooks append,
//! every other key is replaced by the more specific level.

use serde_json::{Map, Value as Json};

pub type Config = Map<String, Json>;

/// Config keys dbt knows. Unprefixed keys in a project tree are configs when listed here and
/// folders otherwise; `+key` is always a config.
pub const KNOWN_KEYS: &[&str] = &[
    "enabled",
    "tags",
    "meta",
    "docs",
    "materialized",
    "schema",
    "database",
    "alias",
    "persist_docs",
    "pre-hook",
    "post-hook",
    "pre_hook",
    "post_hook",
    "quoting",
    "column_types",
    "full_refresh",
    "unique_key",
    "on_schema_change",
    "on_configuration_change",
    "grants",
    "packages",
    "contract",
    "event_time",
    "batch_size",
    "begin",
    "lookback",
    "concurrent_batches",
    "incremental_strategy",
    "incremental_predicates",
    "partition_by",
    "cluster_by",
    "merge_update_columns",
    "merge_exclude_columns",
    "group",
    "access",
    "sql_header",
    "file_format",
    "location",
    "table_format",
    "quote_columns",
    "delimiter",
    "target_schema",
    "target_database",
    "strategy",
    "updated_at",
    "check_cols",
    "snapshot_meta_column_names",
    "hard_deletes",
    "invalidate_hard_deletes",
    "dbt_valid_to_current",
    "severity",
    "warn_if",
    "error_if",
    "fail_calc",
    "where",
    "limit",
    "store_failures",
    "store_failures_as",
    "loaded_at_field",
    "loaded_at_query",
    "freshness",
    "labels",
    "persist_docs",
    "transient",
    "copy_grants",
    "compression",
    "format",
    "options",
    "catalog",
    "deprecation_date",
];

/// Keys whose value is itself a mapping; a mapping under any other unprefixed key is a folder.
const MAPPING_KEYS: &[&str] = &[
    "meta",
    "docs",
    "persist_docs",
    "quoting",
    "column_types",
    "grants",
    "contract",
    "partition_by",
    "freshness",
    "snapshot_meta_column_names",
    "labels",
    "options",
];

fn normalize_key(key: &str) -> &str {
    match key {
        "pre_hook" => "pre-hook",
        "post_hook" => "post-hook",
        other => other,
    }
}

/// Merge `from` into `into`, `from` being the more specific level.
pub fn merge(into: &mut Config, from: &Config) {
    for (key, value) in from {
        let key = normalize_key(key);
        match key {
            "tags" => {
                let mut tags = as_string_list(into.get("tags"));
                for t in as_string_list(Some(value)) {
                    if !tags.contains(&t) {
                        tags.push(t);
                    }
                }
                into.insert("tags".into(), Json::from(tags));
            }
            "meta" | "docs" | "persist_docs" | "grants" | "quoting" | "column_types" => {
                match (into.get_mut(key), value) {
                    (Some(Json::Object(existing)), Json::Object(new)) => {
                        for (k, v) in new {
                            existing.insert(k.clone(), v.clone());
                        }
                    }
                    _ => {
                        into.insert(key.into(), value.clone());
                    }
                }
            }
            "pre-hook" | "post-hook" => {
                let mut hooks = match into.remove(key) {
                    Some(Json::Array(a)) => a,
                    Some(Json::Null) | None => Vec::new(),
                    Some(other) => vec![other],
                };
                match value {
                    Json::Array(a) => hooks.extend(a.iter().cloned()),
                    Json::Null => {}
                    other => hooks.push(other.clone()),
                }
                into.insert(key.into(), Json::Array(hooks));
            }
            _ => {
                into.insert(key.into(), value.clone());
            }
        }
    }
}

/// A list of strings from a string or a list (dbt accepts `tags: nightly`).
pub fn as_string_list(v: Option<&Json>) -> Vec<String> {
    match v {
        Some(Json::String(s)) => vec![s.clone()],
        Some(Json::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Configs set at one level of a project tree (its `+key`s and known plain keys).
fn level_configs(level: &Map<String, Json>) -> Config {
    let mut out = Config::new();
    for (key, value) in level {
        if let Some(stripped) = key.strip_prefix('+') {
            out.insert(normalize_key(stripped).to_string(), value.clone());
        } else if is_plain_config(key, value) {
            out.insert(normalize_key(key).to_string(), value.clone());
        }
    }
    out
}

fn is_plain_config(key: &str, value: &Json) -> bool {
    KNOWN_KEYS.contains(&key) && (!value.is_object() || MAPPING_KEYS.contains(&key))
}

/// Walk a project config tree (`models:` etc.) along `fqn` (package, folders..., name), merging
/// each level's configs from the least to the most specific.
pub fn from_tree(tree: &Json, fqn: &[String], out: &mut Config) {
    let Json::Object(level) = tree else { return };
    let mut level = level;
    merge(out, &level_configs(level));
    for part in fqn {
        match level.get(part.as_str()) {
            Some(v @ Json::Object(next)) if !is_plain_config(part, v) => {
                level = next;
                merge(out, &level_configs(level));
            }
            _ => return,
        }
    }
}

/// Plain keys in a tree that are neither known configs nor folders: dbt warns about them.
pub fn unknown_keys(tree: &Json, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    let Json::Object(level) = tree else { return };
    for (key, value) in level {
        if key.starts_with('+') {
            continue;
        }
        if value.is_object() && !MAPPING_KEYS.contains(&key.as_str()) {
            path.push(key.clone());
            unknown_keys(value, path, out);
            path.pop();
        } else if !KNOWN_KEYS.contains(&key.as_str()) {
            out.push((path.clone(), key.clone()));
        }
    }
}

/// Folders named in a tree (paths of plain mapping keys), to report trees that match nothing.
pub fn tree_paths(tree: &Json, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let Json::Object(level) = tree else { return };
    for (key, value) in level {
        if !key.starts_with('+') && value.is_object() && !MAPPING_KEYS.contains(&key.as_str()) {
            path.push(key.clone());
            out.push(path.clone());
            tree_paths(value, path, out);
            path.pop();
        }
    }
}

/// `enabled` as dbt reads it (true unless set false).
pub fn enabled(config: &Config) -> bool {
    !matches!(get(config, "enabled"), Some(Json::Bool(false)))
}

pub fn get_str<'a>(config: &'a Config, key: &str) -> Option<&'a str> {
    get(config, key).and_then(Json::as_str)
}

/// `config.get(key)`. Most configs hold a few keys, which a scan finds faster than hashing
/// the name (the map hashes with SipHash); every compile asks each node several times.
pub fn get<'a>(config: &'a Config, key: &str) -> Option<&'a Json> {
    if config.len() <= 8 {
        config.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    } else {
        config.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tree_walk_with_and_without_plus() {
        let tree = json!({
            "+tags": ["all"],
            "shop": {
                "materialized": "view",
                "marts": {"+materialized": "table", "tags": "mart", "orders": {"+alias": "o"}}
            }
        });
        let mut c = Config::new();
        let fqn: Vec<String> = ["shop", "marts", "orders"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        from_tree(&tree, &fqn, &mut c);
        assert_eq!(c["materialized"], "table");
        assert_eq!(c["tags"], json!(["all", "mart"]));
        assert_eq!(c["alias"], "o");
    }

    #[test]
    fn hooks_append_and_meta_merges() {
        let mut c = Config::new();
        merge(
            &mut c,
            json!({"pre-hook": "a", "meta": {"x": 1}})
                .as_object()
                .unwrap(),
        );
        merge(
            &mut c,
            json!({"pre_hook": ["b"], "meta": {"y": 2}})
                .as_object()
                .unwrap(),
        );
        assert_eq!(c["pre-hook"], json!(["a", "b"]));
        assert_eq!(c["meta"], json!({"x": 1, "y": 2}));
    }
}
