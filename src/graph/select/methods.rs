//! What each `method:value` matches (dbt's `graph/selector_methods.py`).

use super::*;

impl SelectionGraph {
    pub(super) fn matching(&self, scope: Scope, pred: impl Fn(&SelectNode) -> bool) -> Ids {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| scope.contains(self.kinds[*i]) && pred(n))
            .map(|(i, _)| NodeIndex::new(i))
            .collect()
    }

    /// dbt's per-method `search`.
    pub(super) fn search(&self, c: &SelectionCriteria) -> Result<Ids, SelectError> {
        let value = c.value.as_str();
        let ids = match c.method {
            Method::Fqn => {
                let sel = FqnSelector::new(value);
                self.matching(Scope::NonSource, |n| sel.matches(&n.fqn))
            }
            Method::Tag => {
                let glob = Glob::new(value);
                self.matching(Scope::All, |n| n.tags.iter().any(|t| glob.is_match(t)))
            }
            Method::Group => self.matching(Scope::Groupable, |n| {
                n.config.get("group").and_then(Value::as_str) == Some(value)
            }),
            Method::Access => self.matching(Scope::Parsed, |n| {
                // Models without an explicit access are "protected" in dbt.
                n.resource_type == "model"
                    && n.config
                        .get("access")
                        .and_then(Value::as_str)
                        .unwrap_or("protected")
                        == value
            }),
            Method::Source => {
                let parts: Vec<&str> = value.split('.').collect();
                let (pkg, src, table) = match parts.as_slice() {
                    [src] => ("*", *src, "*"),
                    [src, table] => ("*", *src, *table),
                    [pkg, src, table] => (*pkg, *src, *table),
                    _ => {
                        return Err(SelectError::new(format!(
                        "Invalid source selector value \"{value}\". Sources must be of the form \
                             `${{source_name}}`, `${{source_name}}.${{target_name}}`, or \
                             `${{package_name}}.${{source_name}}.${{target_name}}"
                    )))
                    }
                };
                let (pkg, src, table) = (Glob::new(pkg), Glob::new(src), Glob::new(table));
                self.matching(Scope::Only(Kind::Source), |n| {
                    pkg.is_match(&n.package_name)
                        && src.is_match(n.source_name.as_deref().unwrap_or_default())
                        && table.is_match(&n.name)
                })
            }
            Method::Exposure
            | Method::Metric
            | Method::SemanticModel
            | Method::SavedQuery
            | Method::UnitTest => {
                let kind = match c.method {
                    Method::Exposure => Kind::Exposure,
                    Method::Metric => Kind::Metric,
                    Method::SemanticModel => Kind::SemanticModel,
                    Method::SavedQuery => Kind::SavedQuery,
                    _ => Kind::UnitTest,
                };
                let parts: Vec<&str> = value.split('.').collect();
                let (pkg, name) = match parts.as_slice() {
                    [name] => ("*", *name),
                    [pkg, name] => (*pkg, *name),
                    _ => {
                        let m = c.method.name();
                        return Err(SelectError::new(format!(
                            "Invalid {m} selector value \"{value}\". Values must be of the form \
                             ${{{m}_name}} or ${{package_name.{m}_name}}"
                        )));
                    }
                };
                let (pkg, name) = (Glob::new(pkg), Glob::new(name));
                self.matching(Scope::Only(kind), |n| {
                    pkg.is_match(&n.package_name) && name.is_match(&n.name)
                })
            }
            Method::Path => {
                let pattern = PathPattern::parse(value)?;
                self.matching(Scope::All, |n| {
                    pattern.matches_file_or_parent(&n.original_file_path)
                })
            }
            Method::File => {
                let glob = Glob::new(value);
                self.matching(Scope::All, |n| {
                    let name = n.original_file_path.rsplit('/').next().unwrap_or_default();
                    glob.is_match(name) || glob.is_match(file_stem(name))
                })
            }
            Method::Package => {
                let glob = Glob::new(if value == "this" {
                    &self.root_package
                } else {
                    value
                });
                self.matching(Scope::All, |n| glob.is_match(&n.package_name))
            }
            Method::Config => self.matching(Scope::Configurable, |n| {
                config_matches(&n.config, &c.method_arguments, value)
            }),
            Method::TestName => {
                let glob = Glob::new(value);
                self.matching(Scope::ParsedAndUnit, |n| match n.resource_type.as_str() {
                    // dbt matches test_metadata.name, which has no namespace; the namespaced
                    // form (`dbt_utils.expression_is_true`) is accepted too.
                    "test" => n.test_name.as_deref().is_some_and(|full| {
                        let bare = full.rsplit('.').next().unwrap_or(full);
                        glob.is_match(bare) || (bare != full && glob.is_match(full))
                    }),
                    "unit_test" => glob.is_match(&n.name),
                    _ => false,
                })
            }
            Method::TestType => {
                let wanted: &[&str] = match value {
                    "generic" | "schema" => &["generic"],
                    "singular" => &["singular"],
                    // Since 1.8 "data test" means every non-unit test.
                    "data" => &["generic", "singular"],
                    "unit" => &["unit"],
                    _ => {
                        return Err(SelectError::new(format!(
                            "Invalid test type selector {value}: expected \"generic\", \
                             \"singular\", \"unit\", or \"data\""
                        )))
                    }
                };
                self.matching(Scope::ParsedAndUnit, |n| {
                    test_kind(n).is_some_and(|k| wanted.contains(&k))
                })
            }
            Method::ResourceType => {
                if !NODE_TYPES.contains(&value) {
                    return Err(SelectError::new(format!(
                        "Invalid resource_type selector \"{value}\""
                    ))
                    .with_hint(format!("valid resource types: {}", NODE_TYPES.join(", "))));
                }
                self.matching(Scope::All, |n| n.resource_type == value)
            }
            Method::Result => {
                // dbt: every node whose status in the previous run_results.json is the value.
                let results = self
                    .state
                    .as_ref()
                    .and_then(|s| s.results.as_ref())
                    .ok_or_else(|| self.missing_state(c, "run_results.json"))?;
                const STATUSES: &[&str] = &[
                    "success",
                    "error",
                    "fail",
                    "warn",
                    "pass",
                    "skipped",
                    "runtime error",
                ];
                if !STATUSES.contains(&value) {
                    return Err(SelectError::new(format!(
                        "Invalid result selector value \"{value}\""
                    ))
                    .with_hint(format!("valid results: {}", STATUSES.join(", "))));
                }
                self.matching(Scope::All, |n| {
                    results.get(&n.unique_id).map(String::as_str) == Some(value)
                })
            }
            Method::SourceStatus => {
                let state = self.state.as_ref();
                let previous = state
                    .and_then(|s| s.sources.as_ref())
                    .ok_or_else(|| self.missing_state(c, "sources.json"))?;
                let current = state
                    .and_then(|s| s.sources_current.as_ref())
                    .ok_or_else(|| {
                        SelectError::new(format!(
                            "'{}' needs the current freshness results in target/sources.json",
                            c.raw
                        ))
                        .with_hint("run `weir source freshness` first")
                    })?;
                if value != "fresher" {
                    return Err(SelectError::new(format!(
                        "Invalid source_status selector value \"{value}\""
                    ))
                    .with_hint("the only source status is 'fresher'"));
                }
                // dbt: a source is fresher when its current max_loaded_at is later than in the
                // state's sources.json, or it was not checked then; a check that errored in
                // either run never counts.
                self.matching(Scope::All, |n| match current.get(&n.unique_id) {
                    Some(Some(now)) => match previous.get(&n.unique_id) {
                        None => true,
                        Some(Some(before)) => now > before,
                        Some(None) => false,
                    },
                    _ => false,
                })
            }
            Method::State | Method::Version | Method::Wildcard => {
                return Err(SelectError::new(format!(
                    "unsupported selector method {}",
                    c.method.name()
                ))
                .with_hint(format!(
                    "weir does not implement `{}:` selection yet (in '{}')",
                    c.method.name(),
                    c.raw
                )))
            }
        };
        Ok(ids)
    }
}

/// Python's `Path(name).stem`.
pub(super) fn file_stem(name: &str) -> &str {
    match name.rfind('.') {
        Some(ix) if ix > 0 => &name[..ix],
        _ => name,
    }
}

/// "generic" | "singular" | "unit" for tests, `None` for everything else.
pub(super) fn test_kind(n: &SelectNode) -> Option<&'static str> {
    match n.resource_type.as_str() {
        "unit_test" => Some("unit"),
        "test" => Some(match n.test_type.as_deref() {
            Some("generic" | "schema") => "generic",
            Some("unit") => "unit",
            Some(_) => "singular",
            None if n.test_name.is_some() => "generic",
            None => "singular",
        }),
        _ => None,
    }
}

/// dbt's `ConfigSelectorMethod`: walk `config.a.b`, then compare. Lists match when they
/// contain the value; booleans match "true"/"false" in any case; `severity` compares
/// case-insensitively. Numbers compare by their text (dbt only matches them from YAML).
pub(super) fn config_matches(config: &Value, path: &[String], selector: &str) -> bool {
    let mut current = config;
    for key in path {
        match current.get(key.as_str()) {
            Some(v) => current = v,
            None => return false,
        }
    }
    let case_insensitive = path.len() == 1 && path[0] == "severity";
    let scalar = |v: &Value| match v {
        Value::String(s) if case_insensitive => s.to_uppercase() == selector.to_uppercase(),
        Value::String(s) => s == selector,
        Value::Bool(b) => selector.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Value::Number(n) => n.to_string() == selector,
        _ => false,
    };
    match current {
        Value::Array(items) => items.iter().any(scalar),
        other => scalar(other),
    }
}
