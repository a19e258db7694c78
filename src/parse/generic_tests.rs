//! Generic tests declared in YAML: names, ids and metadata exactly as dbt synthesizes them.

use crate::diagnostics::{Code, Diagnostic};
use serde_json::{Map, Value as Json};

/// Config keys a test entry may give at its top level (dbt's legacy form).
pub const TEST_CONFIG_ARGS: &[&str] = &[
    "severity",
    "tags",
    "enabled",
    "where",
    "limit",
    "warn_if",
    "error_if",
    "fail_calc",
    "store_failures",
    "store_failures_as",
    "meta",
    "database",
    "schema",
    "alias",
];

/// One test entry from YAML: `- unique`, `- accepted_values: {values: [...]}`, or the
/// `arguments:` form; split into the test's name, its namespace, arguments and config.
#[derive(Debug, Clone)]
pub struct TestEntry {
    pub name: String,
    pub namespace: Option<String>,
    pub args: Map<String, Json>,
    pub config: Map<String, Json>,
    pub custom_name: Option<String>,
    pub description: Option<String>,
}

/// One entry of a `data_tests:`/`tests:` list. A malformed entry is an `E103` diagnostic
/// without a location: the caller knows where the entry is.
pub fn parse_entry(entry: &Json) -> Result<TestEntry, Diagnostic> {
    let bad = |m: &str| Diagnostic::error(Code::E103, format!("invalid test definition: {m}"));
    let (full_name, body) = match entry {
        Json::String(s) => (s.clone(), Map::new()),
        Json::Object(m) if m.contains_key("test_name") => {
            let mut m = m.clone();
            let name = m
                .remove("test_name")
                .and_then(|v| v.as_str().map(str::to_string))
                .ok_or_else(|| bad("test_name must be a string"))?;
            (name, m)
        }
        Json::Object(m) if m.len() == 1 => {
            let Some((k, v)) = m.iter().next() else {
                return Err(bad(
                    "a test entry must have exactly one key: the test's name",
                ));
            };
            match v {
                Json::Object(args) => (k.clone(), args.clone()),
                Json::Null => (k.clone(), Map::new()),
                _ => {
                    return Err(bad(&format!(
                        "the arguments of test '{k}' must be a mapping"
                    )))
                }
            }
        }
        Json::Object(_) => {
            return Err(bad(
                "a test entry must have exactly one key: the test's name",
            ))
        }
        _ => return Err(bad("a test entry must be a name or a mapping")),
    };
    let (namespace, name) = match full_name.split_once('.') {
        Some((ns, n)) => (Some(ns.to_string()), n.to_string()),
        None => (None, full_name.clone()),
    };
    let mut args = body;
    let mut config = Map::new();
    for key in TEST_CONFIG_ARGS {
        if let Some(v) = args.remove(*key) {
            config.insert(key.to_string(), v);
        }
    }
    if let Some(Json::Object(c)) = args.remove("config") {
        for (k, v) in c {
            config.insert(k, v);
        }
    }
    if let Some(Json::Object(a)) = args.remove("arguments") {
        for (k, v) in a {
            args.insert(k, v);
        }
    }
    let custom_name = args
        .remove("name")
        .and_then(|v| v.as_str().map(str::to_string));
    let description = args
        .remove("description")
        .and_then(|v| v.as_str().map(str::to_string));
    Ok(TestEntry {
        name,
        namespace,
        args,
        config,
        custom_name,
        description,
    })
}

fn py_str(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => "None".into(),
        Json::Bool(true) => "True".into(),
        Json::Bool(false) => "False".into(),
        Json::Number(n) => n.to_string(),
        Json::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Json::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", py_repr_str(k), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Python's `repr()` of a str.
fn py_repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn py_repr(v: &Json) -> String {
    match v {
        Json::String(s) => py_repr_str(s),
        other => py_str(other),
    }
}

/// dbt's `get_hashable_md`: dicts with sorted keys, lists kept, everything else `str()`.
/// (The reference [`test_hash_of`] is checked against.)
#[cfg(test)]
fn hashable(v: &Json) -> String {
    let mut out = String::new();
    write_hashable(v, &mut out);
    out
}

fn write_hashable(v: &Json, out: &mut String) {
    match v {
        Json::Object(m) => write_hashable_dict(m, out),
        Json::Array(a) => {
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_hashable(item, out);
            }
            out.push(']');
        }
        Json::String(s) => out.push_str(&py_repr_str(s)),
        other => out.push_str(&py_repr_str(&py_str(other))),
    }
}

/// (short name for the compiled file and alias, full name for the id and fqn).
pub fn synthesize_names(
    test_type: &str,
    target_name: &str,
    args: &Map<String, Json>,
) -> (String, String) {
    let mut keys: Vec<&String> = args.keys().filter(|k| *k != "model").collect();
    keys.sort();
    let mut flat: Vec<String> = Vec::new();
    for k in keys {
        match &args[k] {
            Json::Object(m) => flat.extend(m.values().map(py_str)),
            Json::Array(a) => flat.extend(a.iter().map(py_str)),
            other => flat.push(py_str(other)),
        }
    }
    // Each value with every run of characters outside [0-9a-zA-Z_] made one `_`.
    let mut unique = String::new();
    for (i, a) in flat.iter().enumerate() {
        if i > 0 {
            unique.push_str("__");
        }
        let mut in_run = false;
        for c in a.chars() {
            if c.is_ascii_alphanumeric() || c == '_' {
                unique.push(c);
                in_run = false;
            } else if !in_run {
                unique.push('_');
                in_run = true;
            }
        }
    }
    let identifier = format!("{test_type}_{target_name}");
    let full = format!("{identifier}_{unique}");
    if full.len() >= 64 {
        let trunc: String = identifier.chars().take(30).collect();
        (format!("{trunc}_{:x}", md5::compute(full.as_bytes())), full)
    } else {
        (full.clone(), full)
    }
}

/// A dict as `hashable` writes it: keys sorted.
fn write_hashable_dict(m: &Map<String, Json>, out: &mut String) {
    let mut entries: Vec<(&String, &Json)> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&py_repr_str(k));
        out.push_str(": ");
        write_hashable(v, out);
    }
    out.push('}');
}

/// The 10-character suffix of a generic test's unique_id: the md5 of the full name and dbt's
/// `get_hashable_md` of the metadata `{name, kwargs, namespace}`, written without building it.
pub fn test_hash_of(
    full_name: &str,
    name: &str,
    kwargs: &Map<String, Json>,
    namespace: Option<&str>,
) -> String {
    // The metadata's keys in sorted order, as `hashable` writes a dict.
    let mut text = String::with_capacity(full_name.len() + 128);
    text.push_str(full_name);
    text.push_str("{'kwargs': ");
    write_hashable_dict(kwargs, &mut text);
    text.push_str(", 'name': ");
    text.push_str(&py_repr_str(name));
    text.push_str(", 'namespace': ");
    text.push_str(&py_repr_str(namespace.unwrap_or("None")));
    text.push('}');
    let digest = format!("{:x}", md5::compute(text.as_bytes()));
    digest[digest.len() - 10..].to_string()
}

/// The 10-character suffix of a generic test's unique_id, from the whole metadata as dbt
/// hashes it (the reference [`test_hash_of`] is checked against).
#[cfg(test)]
fn test_hash(full_name: &str, metadata: &Json) -> String {
    let digest = format!(
        "{:x}",
        md5::compute(format!("{full_name}{}", hashable(metadata)).as_bytes())
    );
    digest[digest.len() - 10..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_as_dbt() {
        let args = json!({"column_name": "status", "values": ["placed", "shipped"], "model": "x"});
        let (short, full) =
            synthesize_names("accepted_values", "orders", args.as_object().unwrap());
        assert_eq!(full, "accepted_values_orders_status__placed__shipped");
        assert_eq!(short, full);
        let args =
            json!({"column_name": "customer_id", "to": "ref('customers')", "field": "customer_id"});
        let (_, full) = synthesize_names("relationships", "orders", args.as_object().unwrap());
        assert_eq!(
            full,
            "relationships_orders_customer_id__customer_id__ref_customers_"
        );
    }

    #[test]
    fn long_names_are_hashed() {
        let args = json!({"column_name": "a_very_long_column_name_indeed", "values": ["one", "two", "three", "four"]});
        let (short, full) =
            synthesize_names("accepted_values", "some_model", args.as_object().unwrap());
        assert!(full.len() >= 64);
        // "accepted_values_some_model" is under 30 characters, so it is kept whole.
        assert_eq!(short.len(), "accepted_values_some_model".len() + 1 + 32);
        assert!(short.starts_with("accepted_values_some_model_"));
    }

    #[test]
    fn test_hash_of_parts_equals_hash_of_metadata() {
        for (kwargs, ns) in [
            (
                json!({"model": "{{ get_where_subquery(ref('orders')) }}", "column_name": "id"}),
                None,
            ),
            (
                json!({"values": ["a", "it's"], "quote": false, "n": 3, "m": null}),
                Some("dbt_utils"),
            ),
            (json!({}), None),
        ] {
            let md = json!({"name": "not_null", "kwargs": kwargs, "namespace": ns});
            assert_eq!(
                test_hash_of("t", "not_null", kwargs.as_object().unwrap(), ns),
                test_hash("t", &md)
            );
        }
    }

    #[test]
    fn python_repr_of_metadata() {
        let md = json!({"name": "not_null", "kwargs": {"model": "{{ get_where_subquery(ref('orders')) }}", "column_name": "id"}, "namespace": null});
        assert_eq!(
            hashable(&md),
            r#"{'kwargs': {'column_name': 'id', 'model': "{{ get_where_subquery(ref('orders')) }}"}, 'name': 'not_null', 'namespace': 'None'}"#
        );
    }
}
