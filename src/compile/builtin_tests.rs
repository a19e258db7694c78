//! dbt's four built-in generic tests (`unique`, `not_null`, `accepted_values`,
//! `relationships`) rendered in Rust, byte for byte as the Jinja macros in
//! `templates/macros/tests.sql` render them.
//!
//! Used only when the project and its packages leave those macros alone: the `test_<name>`
//! macro a node resolves to must be weir's own, `adapter.dispatch('test_<name>', 'dbt')` must
//! land on weir's own `default__test_<name>`, and (for `not_null`) `should_store_failures`
//! must be weir's. Anything else (an override, an unexpected argument, a value whose
//! rendering is not plain) goes through Jinja. The unit tests below render the same tests both
//! ways and compare.

use std::sync::Arc;

use minijinja::value::{Value, ValueKind};

use crate::jinja::context::{MacroDef, MacroRegistry, INTERNAL_PACKAGE};

/// Which built-in tests may be rendered natively in this project.
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeTests {
    unique: bool,
    not_null: bool,
    accepted_values: bool,
    relationships: bool,
}

/// The macro the registry returns is weir's own internal one.
fn is_internal(found: Option<&Arc<MacroDef>>, reg: &MacroRegistry, name: &str) -> bool {
    match (found, reg.get(INTERNAL_PACKAGE, name)) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

impl NativeTests {
    /// Decide, for a project's macro registry, which tests keep weir's built-in behaviour:
    /// `adapter.dispatch('test_<name>', 'dbt')` lands on weir's own default implementation.
    /// The caller also checks that the node's `test_<name>` macro is weir's own
    /// ([`NativeTests::is_builtin`]).
    pub fn new(reg: &MacroRegistry) -> Self {
        let ok = |test: &str| {
            is_internal(
                reg.dispatch(
                    &format!("test_{test}"),
                    Some(INTERNAL_PACKAGE),
                    INTERNAL_PACKAGE,
                ),
                reg,
                &format!("default__test_{test}"),
            )
        };
        NativeTests {
            unique: ok("unique"),
            not_null: ok("not_null")
                && is_internal(
                    reg.resolve(INTERNAL_PACKAGE, "should_store_failures"),
                    reg,
                    "should_store_failures",
                ),
            accepted_values: ok("accepted_values"),
            relationships: ok("relationships"),
        }
    }

    /// `def` (the macro a test node resolved to) is weir's built-in `test_<name>`.
    pub fn is_builtin(reg: &MacroRegistry, def: &Arc<MacroDef>) -> bool {
        &*def.package == INTERNAL_PACKAGE && is_internal(Some(def), reg, &def.name)
    }

    /// Render test `name` with its evaluated keyword arguments, or `None` to use Jinja.
    /// `store_failures` is the test's `store_failures` config as a Jinja value (none when
    /// unset).
    pub fn render(
        &self,
        name: &str,
        kwargs: &[(String, Value)],
        store_failures: &Value,
    ) -> Option<String> {
        let get = |k: &str| kwargs.iter().find(|(key, _)| key == k).map(|(_, v)| v);
        let only = |allowed: &[&str]| kwargs.iter().all(|(k, _)| allowed.contains(&k.as_str()));
        // A value as `{{ v }}` writes it (no auto-escaping in weir's environment).
        let text = |v: Option<&Value>| -> Option<String> {
            match v {
                Some(v) if !v.is_undefined() => Some(v.to_string()),
                _ => None,
            }
        };
        match name {
            "unique" if self.unique => {
                if !only(&["model", "column_name"]) {
                    return None;
                }
                let (m, c) = (text(get("model"))?, text(get("column_name"))?);
                Some(format!(
                    "\n\nselect\n    {c} as unique_field,\n    count(*) as n_records\n\nfrom {m}\nwhere {c} is not null\ngroup by {c}\nhaving count(*) > 1\n\n"
                ))
            }
            "not_null" if self.not_null => {
                if !only(&["model", "column_name"]) {
                    return None;
                }
                let (m, c) = (text(get("model"))?, text(get("column_name"))?);
                let cols = if store_failures.is_true() {
                    "*".to_string()
                } else {
                    c.clone()
                };
                Some(format!("select {cols}\nfrom {m}\nwhere {c} is null\n\n"))
            }
            "accepted_values" if self.accepted_values => {
                if !only(&["model", "column_name", "values", "quote"]) {
                    return None;
                }
                let (m, c) = (text(get("model"))?, text(get("column_name"))?);
                let values = get("values")?;
                if values.kind() != ValueKind::Seq {
                    return None;
                }
                let quote = match get("quote") {
                    None => true,
                    Some(q) if q.is_undefined() => return None,
                    Some(q) => q.is_true(),
                };
                let items: Vec<Value> = values.try_iter().ok()?.collect();
                let mut list = String::new();
                for (i, v) in items.iter().enumerate() {
                    if quote {
                        list.push('\'');
                        list.push_str(&v.to_string());
                        list.push('\'');
                    } else {
                        list.push_str(&v.to_string());
                    }
                    if i + 1 < items.len() {
                        list.push(',');
                    }
                }
                Some(format!(
                    "\n\nwith all_values as (\n\n    select\n        {c} as value_field,\n        count(*) as n_records\n\n    from {m}\n    group by {c}\n\n)\n\nselect *\nfrom all_values\nwhere value_field not in (\n    {list}\n)\n\n"
                ))
            }
            "relationships" if self.relationships => {
                if !only(&["model", "column_name", "to", "field"]) {
                    return None;
                }
                let (m, c) = (text(get("model"))?, text(get("column_name"))?);
                let (to, field) = (text(get("to"))?, text(get("field"))?);
                Some(format!(
                    "\n\nwith child as (\n    select {c} as from_field\n    from {m}\n    where {c} is not null\n),\n\nparent as (\n    select {field} as to_field\n    from {to}\n)\n\nselect\n    from_field\n\nfrom child\nleft join parent\n    on child.from_field = parent.to_field\n\nwhere parent.to_field is null\n\n"
                ))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::Arc;

    use minijinja::value::Value;

    use crate::compile::node::{compile_generic_test, compile_scope, native_generic_test};
    use crate::compile::CompileResolver;
    use crate::jinja::context::Resolver;
    use crate::parse::Parsed;
    use crate::parse::{self, ParseOptions};
    use crate::project::{self, LoadOptions};

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    const SCHEMA: &str = r#"
version: 2
sources:
  - name: raw
    tables:
      - name: things
        columns:
          - name: id
            data_tests: [not_null, unique]
models:
  - name: orders
    data_tests:
      - unique:
          column_name: "id || '-' || status"
      - not_null:
          column_name: customer_id
          config:
            where: "status != 'x'"
    columns:
      - name: id
        data_tests:
          - unique
          - not_null
          - not_null:
              config:
                store_failures: true
          - unique:
              config:
                where: "id > 1"
                store_failures: false
          - relationships:
              to: ref('customers')
              field: id
          - relationships:
              arguments:
                to: source('raw', 'things')
                field: "\"id\""
      - name: status
        data_tests:
          - accepted_values:
              values: ['placed', 'shipped', "it's", 'a"b']
          - accepted_values:
              values: [1, 2, 3]
              quote: false
          - accepted_values:
              values: [1.5, 2.0, -3, true, null]
              quote: false
          - accepted_values:
              arguments:
                values: ['one']
                quote: true
          - accepted_values:
              values: []
          - accepted_values:
              values: ['x', 'y']
              config:
                severity: warn
                store_failures: true
  - name: customers
    columns:
      - name: id
        data_tests:
          - unique
          - not_null
          - relationships:
              to: ref('eph')
              field: id
  - name: eph
    columns:
      - name: id
        data_tests: [unique, not_null]
"#;

    /// (test unique_id, native SQL if rendered natively, Jinja SQL) for every generic test.
    fn both_ways(dir: &Path) -> Vec<(String, Option<String>, String)> {
        let project = project::load(&LoadOptions {
            project_dir: dir.to_path_buf(),
            profiles_dir: Some(dir.join("no-profiles")),
            target: None,
            vars: None,
            threads: None,
            memory_limit: None,
        })
        .unwrap();
        let Parsed {
            manifest, jinja, ..
        } = parse::parse(&project, &ParseOptions::default()).unwrap();
        let resolver: Arc<dyn Resolver> =
            Arc::new(CompileResolver::new(&manifest, jinja.shared.quoting));
        let native = super::NativeTests::new(&jinja.shared.registry);
        let graph = parse::empty_graph();
        let mut out = Vec::new();
        for n in manifest.nodes.values() {
            let Some(md) = &n.test_metadata else { continue };
            let fast = native_generic_test(&jinja, &native, n, md, &resolver);
            let scope = compile_scope(&jinja, n, &resolver, &graph, false);
            let slow = compile_generic_test(&jinja, n, md, scope).unwrap();
            out.push((n.unique_id.clone(), fast, slow));
        }
        out.sort();
        out
    }

    fn project(dir: &Path) {
        write(
            dir,
            "dbt_project.yml",
            "name: p\nversion: '1'\nprofile: p\nmodels:\n  p:\n    eph:\n      +materialized: ephemeral\n",
        );
        write(
            dir,
            "models/orders.sql",
            "select 1 as id, 'placed' as status, 1 as customer_id",
        );
        write(dir, "models/customers.sql", "select 1 as id");
        write(dir, "models/eph.sql", "select 1 as id");
        write(dir, "models/schema.yml", SCHEMA);
    }

    #[test]
    fn native_tests_match_the_jinja_macros() {
        let tmp = tempfile::tempdir().unwrap();
        project(tmp.path());
        let results = both_ways(tmp.path());
        assert!(results.len() >= 19, "{results:#?}");
        for (id, fast, slow) in &results {
            let fast = fast
                .as_ref()
                .unwrap_or_else(|| panic!("{id} was not rendered natively"));
            assert_eq!(fast, slow, "{id}");
        }
        // The ephemeral parent renders as its CTE name, `where` as a subquery.
        let all: String = results.iter().map(|r| r.2.as_str()).collect();
        assert!(all.contains("__dbt__cte__eph"));
        assert!(all.contains("dbt_subquery"));
        assert!(all.contains("select *\nfrom "));
    }

    #[test]
    fn overridden_tests_go_through_jinja() {
        let tmp = tempfile::tempdir().unwrap();
        project(tmp.path());
        write(
            tmp.path(),
            "macros/overrides.sql",
            "{% test unique(model, column_name) %}select 'mine' from {{ model }}{% endtest %}\n\
             {% macro default__test_not_null(model, column_name) %}select 'mine too'{% endmacro %}\n",
        );
        write(
            tmp.path(),
            "dbt_project.yml",
            "name: p\nversion: '1'\nprofile: p\ndispatch:\n  - macro_namespace: dbt\n    search_order: ['p', 'dbt']\nmodels:\n  p:\n    eph:\n      +materialized: ephemeral\n",
        );
        let results = both_ways(tmp.path());
        let mut seen = BTreeMap::new();
        for (id, fast, slow) in &results {
            let kind = id.split('.').nth(2).unwrap().split('_').next().unwrap();
            if id.contains(".unique_")
                || id.contains(".not_null_")
                || id.contains("source_unique")
                || id.contains("source_not_null")
            {
                assert!(fast.is_none(), "{id} must go through Jinja");
                assert!(slow.contains("mine"), "{id}: {slow}");
            } else if let Some(f) = fast {
                assert_eq!(f, slow, "{id}");
            }
            *seen.entry(kind.to_string()).or_insert(0) += 1;
        }
        assert!(seen.len() >= 3, "{seen:?}");
    }

    #[test]
    fn unexpected_arguments_go_through_jinja() {
        let native = super::NativeTests {
            unique: true,
            not_null: true,
            accepted_values: true,
            relationships: true,
        };
        let none = Value::from(());
        let kw = |pairs: &[(&str, Value)]| -> Vec<(String, Value)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect()
        };
        let m = Value::from("t");
        // an extra argument, a missing column, values that are not a list
        assert!(native
            .render(
                "unique",
                &kw(&[
                    ("model", m.clone()),
                    ("column_name", Value::from("a")),
                    ("x", Value::from(1))
                ]),
                &none
            )
            .is_none());
        assert!(native
            .render("not_null", &kw(&[("model", m.clone())]), &none)
            .is_none());
        assert!(native
            .render(
                "accepted_values",
                &kw(&[
                    ("model", m.clone()),
                    ("column_name", Value::from("a")),
                    ("values", Value::from("abc"))
                ]),
                &none
            )
            .is_none());
        assert!(native
            .render("custom", &kw(&[("model", m)]), &none)
            .is_none());
    }
}
