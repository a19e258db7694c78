//! `selectors.yml`: named YAML selectors, parsed the way dbt-core 1.8's `graph/cli.py`
//! (`parse_from_selectors_definition`) and `config/selectors.py` do.
//!
//! The text handed in must already be rendered (dbt renders `env_var()` etc. first).

use indexmap::IndexMap;
use serde_yaml::{Mapping, Value};

use super::{
    GraphOperators, IndirectSelection, SelectError, SelectionCriteria, SelectionSpec, SetOp,
};

#[derive(Debug, Clone, PartialEq)]
pub struct SelectorDefinition {
    pub name: String,
    pub description: String,
    /// `default: true`: used when no `--select`/`--exclude`/`--selector` is given.
    pub default: bool,
    pub definition: SelectionSpec,
}

/// Parse a selectors.yml document into its selectors, in file order. A selector may
/// reference (`method: selector`) only selectors defined above it, as in dbt.
pub fn parse_selectors(
    yaml_text: &str,
) -> Result<IndexMap<String, SelectorDefinition>, SelectError> {
    let mut doc: Value = serde_yaml::from_str(yaml_text)
        .map_err(|e| SelectError::new(format!("Could not parse selector file data: {e}")))?;
    // YAML anchors are resolved by the parser; `<<:` merge keys need an explicit pass.
    doc.apply_merge()
        .map_err(|e| SelectError::new(format!("Could not parse selector file data: {e}")))?;
    if doc.is_null() {
        return Ok(IndexMap::new());
    }
    let entries = doc
        .get("selectors")
        .and_then(Value::as_sequence)
        .ok_or_else(|| file_error("the file must have a top-level `selectors:` list"))?;

    let mut out: IndexMap<String, SelectorDefinition> = IndexMap::new();
    let mut default_name: Option<String> = None;
    for entry in entries {
        let map = entry.as_mapping().ok_or_else(|| {
            file_error(format!(
                "each selector must be a mapping, found {}",
                show(entry)
            ))
        })?;
        let name = map
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| file_error(format!("selector has no string `name`: {}", show(entry))))?
            .to_string();
        let definition = map
            .get("definition")
            .ok_or_else(|| file_error(format!("selector '{name}' has no `definition`")))?;
        let description = match map.get("description") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(file_error(format!(
                    "selector '{name}': `description` must be a string, found {}",
                    show(other)
                )))
            }
        };
        let default = match map.get("default") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            // Rendered Jinja (`{{ target.name == 'prod' }}`) arrives as a string.
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
            Some(other) => {
                return Err(file_error(format!(
                    "selector '{name}': `default` must be a boolean, found {}",
                    show(other)
                )))
            }
        };
        if default {
            if let Some(first) = &default_name {
                return Err(SelectError::new(format!(
                    "Error when parsing the selector file. Found multiple selectors with `default: true`:{first} and {name}"
                )));
            }
            default_name = Some(name.clone());
        }
        let definition = parse_definition(definition, true, &out).map_err(|e| SelectError {
            message: format!("Could not read selector file data: {}", e.message),
            hint: e.hint,
        })?;
        out.insert(
            name.clone(),
            SelectorDefinition {
                name,
                description,
                default,
                definition,
            },
        );
    }
    Ok(out)
}

/// The selector marked `default: true`, if any (at most one, enforced by [`parse_selectors`]).
pub fn default_selector(
    selectors: &IndexMap<String, SelectorDefinition>,
) -> Option<&SelectorDefinition> {
    selectors.values().find(|s| s.default)
}

fn file_error(detail: impl std::fmt::Display) -> SelectError {
    SelectError::new(format!("Could not parse selector file data: {detail}")).with_hint(
        "Valid root-level selector definitions: union, intersection, string, dictionary. \
         See https://docs.getdbt.com/reference/node-selection/yaml-selectors",
    )
}

/// Compact one-line rendering of a YAML value for messages and `raw`.
fn show(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| format!("{v:?}"))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "str",
        Value::Sequence(_) => "list",
        Value::Mapping(_) => "dict",
        Value::Tagged(_) => "tagged value",
    }
}

type Known = IndexMap<String, SelectorDefinition>;

/// dbt's `parse_from_definition`.
fn parse_definition(
    def: &Value,
    root_level: bool,
    known: &Known,
) -> Result<SelectionSpec, SelectError> {
    match def {
        // A string is ONE criterion: dbt does not split it on spaces or commas.
        Value::String(s) => Ok(SelectionSpec::Criteria(SelectionCriteria::from_single_spec(s, None)?)),
        Value::Mapping(m) => {
            let has_set_op = m.contains_key("union") || m.contains_key("intersection");
            if root_level && has_set_op && m.len() > 1 {
                let keys: Vec<String> = m.keys().map(key_text).collect();
                return Err(SelectError::new(format!(
                    "Only a single 'union' or 'intersection' key is allowed in a root level selector definition; found {}.",
                    keys.join(",")
                )));
            }
            if m.contains_key("union") {
                parse_set_op(m, "union", SetOp::Union, known)
            } else if m.contains_key("intersection") {
                parse_set_op(m, "intersection", SetOp::Intersection, known)
            } else {
                parse_dict(m, known)
            }
        }
        Value::Sequence(_) if root_level => Err(SelectError::new(
            "Valid root-level selector definitions: union, intersection, string, dictionary. No lists.",
        )),
        other => Err(SelectError::new(format!(
            "Expected to find union, intersection, str or dict, instead found {}: {}",
            type_name(other),
            show(other)
        ))),
    }
}

fn key_text(k: &Value) -> String {
    k.as_str().map_or_else(|| show(k), str::to_string)
}

/// dbt's `_get_list_dicts`: `key` must hold a list of strings and string-keyed dicts.
fn list_of_defs<'a>(m: &'a Mapping, key: &str) -> Result<&'a [Value], SelectError> {
    let items = m.get(key).and_then(Value::as_sequence).ok_or_else(|| {
        SelectError::new(format!("Invalid value for key \"{key}\". Expected a list."))
    })?;
    for item in items {
        match item {
            Value::String(_) => {}
            Value::Mapping(inner) => {
                if let Some(bad) = inner.keys().find(|k| !k.is_string()) {
                    return Err(SelectError::new(format!(
                        "Expected all keys to \"{key}\" dict to be strings, but \"{}\" is a \"{}\"",
                        show(bad),
                        type_name(bad)
                    )));
                }
            }
            other => {
                return Err(SelectError::new(format!(
                    "Invalid value type {} in key \"{key}\", expected dict or str (value: {}).",
                    type_name(other),
                    show(other)
                )))
            }
        }
    }
    Ok(items)
}

/// dbt's `_parse_exclusions`: one exclusion is used as-is, several are unioned.
fn parse_exclusions(m: &Mapping, known: &Known) -> Result<Option<SelectionSpec>, SelectError> {
    let items = list_of_defs(m, "exclude")?;
    let mut parsed = items
        .iter()
        .map(|d| parse_definition(d, false, known))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match parsed.len() {
        0 => None,
        1 => parsed.pop(),
        _ => Some(SelectionSpec::group(
            SetOp::Union,
            parsed,
            show(&m["exclude"]),
        )),
    })
}

fn with_exclusion(
    base: SelectionSpec,
    exclude: Option<SelectionSpec>,
    raw: String,
) -> SelectionSpec {
    match exclude {
        None => base,
        Some(ex) => SelectionSpec::group(SetOp::Difference, vec![base, ex], raw),
    }
}

/// `union:` / `intersection:` lists, where one `exclude:` entry subtracts from the result.
fn parse_set_op(
    m: &Mapping,
    key: &str,
    op: SetOp,
    known: &Known,
) -> Result<SelectionSpec, SelectError> {
    let mut include = Vec::new();
    let mut exclude: Option<SelectionSpec> = None;
    for item in list_of_defs(m, key)? {
        match item {
            Value::Mapping(inner) if inner.contains_key("exclude") => {
                if exclude.is_some() {
                    return Err(SelectError::new(format!(
                        "You cannot provide multiple exclude arguments to the same selector set operator:\n{}",
                        show(item)
                    )));
                }
                exclude = parse_exclusions(inner, known)?;
            }
            other => include.push(parse_definition(other, false, known)?),
        }
    }
    let raw = show(&Value::Mapping(m.clone()));
    Ok(with_exclusion(
        SelectionSpec::group(op, include, raw.clone()),
        exclude,
        raw,
    ))
}

/// dbt's `parse_dict_definition`: `{method: value}`, a selector reference, or the full form.
fn parse_dict(m: &Mapping, known: &Known) -> Result<SelectionSpec, SelectError> {
    let raw = show(&Value::Mapping(m.clone()));
    if let Some((key, value)) = m.iter().next().filter(|_| m.len() == 1) {
        let method = key.as_str().ok_or_else(|| {
            SelectError::new(format!(
                "Expected definition key to be a \"str\", got one of type \"{}\" ({})",
                type_name(key),
                show(key)
            ))
        })?;
        return criteria(raw, method, value, &Mapping::new()).map(SelectionSpec::Criteria);
    }
    if m.get("method").and_then(Value::as_str) == Some("selector") {
        let name = m
            .get("value")
            .map(key_text)
            .unwrap_or_else(|| "None".into());
        // The referenced selector's own settings apply; keys next to the reference are ignored.
        return known
            .get(&name)
            .map(|d| d.definition.clone())
            .ok_or_else(|| {
                SelectError::new(format!(
                    "Existing selector definition for {name} not found."
                ))
            });
    }
    let (Some(method), Some(value)) = (m.get("method"), m.get("value")) else {
        let keys: Vec<String> = m.keys().map(key_text).collect();
        return Err(SelectError::new(format!(
            "Expected either 1 key or else \"method\" and \"value\" keys, but got [{}]",
            keys.join(", ")
        )));
    };
    let method = method.as_str().ok_or_else(|| {
        SelectError::new(format!(
            "Invalid node spec \"{raw}\" - `method` must be a string"
        ))
    })?;
    let exclude = if m.contains_key("exclude") {
        parse_exclusions(m, known)?
    } else {
        None
    };
    let base = SelectionSpec::Criteria(criteria(raw.clone(), method, value, m)?);
    Ok(with_exclusion(base, exclude, raw))
}

/// dbt's `selection_criteria_from_dict`, reading graph operators from `opts`.
fn criteria(
    raw: String,
    method: &str,
    value: &Value,
    opts: &Mapping,
) -> Result<SelectionCriteria, SelectError> {
    let value = match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => {
            return Err(SelectError::new(format!(
                "Invalid node spec \"{raw}\" - no search value!"
            )))
        }
        other => {
            return Err(SelectError::new(format!(
                "Invalid node spec \"{raw}\" - the value must be a string, found {}",
                type_name(other)
            )))
        }
    };
    let flag = |key: &str| opts.get(key).is_some_and(truthy);
    let ops = GraphOperators {
        childrens_parents: flag("childrens_parents"),
        parents: flag("parents"),
        parents_depth: depth(opts.get("parents_depth"))?,
        children: flag("children"),
        children_depth: depth(opts.get("children_depth"))?,
    };
    // Falsy (absent, null, "") means "use the --indirect-selection flag".
    let indirect = match opts.get("indirect_selection") {
        Some(v) if truthy(v) => Some(IndirectSelection::parse(v.as_str().unwrap_or(&show(v)))?),
        _ => None,
    };
    SelectionCriteria::build(raw, Some(method), value, ops, indirect)
}

/// Python truthiness, which dbt applies to `parents:`, `children:`, `childrens_parents:`.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Sequence(s) => !s.is_empty(),
        Value::Mapping(m) => !m.is_empty(),
        Value::Tagged(t) => truthy(&t.value),
    }
}

/// dbt's `_match_to_int`: falsy (including 0) means unlimited.
fn depth(v: Option<&Value>) -> Result<Option<usize>, SelectError> {
    let Some(v) = v.filter(|v| truthy(v)) else {
        return Ok(None);
    };
    let parsed = match v {
        Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(true) => Some(1),
        _ => None,
    };
    parsed.map(Some).ok_or_else(|| {
        SelectError::new(format!(
            "Invalid node spec - could not handle parent depth {}",
            show(v)
        ))
    })
}
