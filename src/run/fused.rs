//! Built-in tests on the same relation judged from one scan of it.
//!
//! A project's `unique` and `not_null` tests usually come in pairs on the same column of the
//! same model, and `accepted_values` often sits beside them. Run one by one, each test plans,
//! optimizes and executes its own query over the model (and over every view under it). Here
//! the tests of one batch whose compiled SQL is exactly what dbt's built-in macros write (the
//! text is recognized and re-rendered to make sure) are grouped by the relation they read, and
//! each group is judged by one aggregate over one scan of it:
//!
//! - `not_null(c)`: `count(*) filter (where c is null)`, the number of rows the test returns;
//! - `accepted_values(c, values)`: `count(distinct c) filter (where c not in (values))`, the
//!   number of `group by c` rows the test returns (a null `c` fails `not in` in both);
//! - `unique(c)`: the relation grouped by `c` once, counting the groups of a non-null `c` with
//!   more than one row; `not_null` tests of the same relation ride along as per-group counts
//!   that are summed (`accepted_values` does not: it needs its own grouping).
//!
//! Only plain column names are fused, so that moving `c` from the test's `where` into a filter
//! cannot change how the expression binds. Everything else keeps its own branch.

use super::TestRule;

/// What a recognized built-in test checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Check {
    Unique(String),
    NotNull(String),
    /// The column and the rendered list of values (`'a','b'` or `1,2`).
    AcceptedValues(String, String),
}

/// A test whose compiled SQL is exactly a built-in test over relation `model` (the text after
/// `from`, e.g. `"warehouse"."main"."orders"` or `(select * from ... where ...) dbt_subquery`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Recognized {
    pub model: String,
    pub check: Check,
}

fn unique_sql(c: &str, m: &str) -> String {
    format!(
        "\n\nselect\n    {c} as unique_field,\n    count(*) as n_records\n\nfrom {m}\nwhere {c} is not null\ngroup by {c}\nhaving count(*) > 1\n\n"
    )
}

fn not_null_sql(c: &str, m: &str) -> String {
    format!("select {c}\nfrom {m}\nwhere {c} is null\n\n")
}

fn accepted_values_sql(c: &str, m: &str, list: &str) -> String {
    format!(
        "\n\nwith all_values as (\n\n    select\n        {c} as value_field,\n        count(*) as n_records\n\n    from {m}\n    group by {c}\n\n)\n\nselect *\nfrom all_values\nwhere value_field not in (\n    {list}\n)\n\n"
    )
}

/// A plain column name: an identifier, or a double-quoted one, optionally qualified.
fn plain_column(c: &str) -> bool {
    !c.is_empty()
        && c.split('.').all(|part| {
            let quoted = part.len() >= 2
                && part.starts_with('"')
                && part.ends_with('"')
                && !part[1..part.len() - 1].contains('"');
            let bare = part
                .chars()
                .next()
                .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
                && part
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
            quoted || bare
        })
}

/// The built-in test `sql` is, if it is one of those fused here, rendered the way weir's (and
/// dbt's) macros render it.
pub(super) fn recognize(sql: &str) -> Option<Recognized> {
    let found = recognize_unique(sql)
        .or_else(|| recognize_not_null(sql))
        .or_else(|| recognize_accepted_values(sql))?;
    let column = match &found.check {
        Check::Unique(c) | Check::NotNull(c) | Check::AcceptedValues(c, _) => c,
    };
    (plain_column(column) && !found.model.trim().is_empty()).then_some(found)
}

fn recognize_unique(sql: &str) -> Option<Recognized> {
    let rest = sql.strip_prefix("\n\nselect\n    ")?;
    let (c, rest) = rest.split_once(" as unique_field,\n    count(*) as n_records\n\nfrom ")?;
    let m = rest.strip_suffix(&format!(
        "\nwhere {c} is not null\ngroup by {c}\nhaving count(*) > 1\n\n"
    ))?;
    (unique_sql(c, m) == sql).then(|| Recognized {
        model: m.to_string(),
        check: Check::Unique(c.to_string()),
    })
}

fn recognize_not_null(sql: &str) -> Option<Recognized> {
    let rest = sql.strip_prefix("select ")?;
    let (c, rest) = rest.split_once("\nfrom ")?;
    let m = rest.strip_suffix(&format!("\nwhere {c} is null\n\n"))?;
    (not_null_sql(c, m) == sql).then(|| Recognized {
        model: m.to_string(),
        check: Check::NotNull(c.to_string()),
    })
}

fn recognize_accepted_values(sql: &str) -> Option<Recognized> {
    let rest = sql.strip_prefix("\n\nwith all_values as (\n\n    select\n        ")?;
    let (c, rest) =
        rest.split_once(" as value_field,\n        count(*) as n_records\n\n    from ")?;
    let (m, rest) = rest.split_once(&format!("\n    group by {c}\n\n)\n\n"))?;
    let list = rest
        .strip_prefix("select *\nfrom all_values\nwhere value_field not in (\n    ")?
        .strip_suffix("\n)\n\n")?;
    (accepted_values_sql(c, m, list) == sql).then(|| Recognized {
        model: m.to_string(),
        check: Check::AcceptedValues(c.to_string(), list.to_string()),
    })
}

/// One fused query: the batch indexes of its tests, in the order of its `weir_f<k>` columns.
#[derive(Debug)]
pub(super) struct Group {
    model: String,
    unique: Option<(usize, String)>,
    others: Vec<(usize, Check)>,
}

/// Group recognized tests (`(batch index, recognized)`) by relation: each `unique` test opens a
/// group of its own (one `group by` each); the `not_null` tests of a relation join its first
/// `unique` group, or a plain aggregate with its `accepted_values` tests. A group of one test
/// gains nothing and is left out (the caller runs it as its own branch).
pub(super) fn group(tests: Vec<(usize, Recognized)>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    // Unique tests first, so that not_null tests find their relation's grouped query.
    let (uniques, rest): (Vec<_>, Vec<_>) = tests
        .into_iter()
        .partition(|(_, r)| matches!(r.check, Check::Unique(_)));
    for (i, r) in uniques {
        let Check::Unique(c) = r.check else { continue };
        groups.push(Group {
            model: r.model,
            unique: Some((i, c)),
            others: Vec::new(),
        });
    }
    for (i, r) in rest {
        let fits = |g: &Group| {
            g.model == r.model && (matches!(r.check, Check::NotNull(_)) || g.unique.is_none())
        };
        match groups.iter_mut().find(|g| fits(g)) {
            Some(g) => g.others.push((i, r.check)),
            None => groups.push(Group {
                model: r.model,
                unique: None,
                others: vec![(i, r.check)],
            }),
        }
    }
    groups.retain(|g| g.tests().count() > 1);
    groups
}

impl Group {
    /// The batch indexes of the group's tests.
    pub(super) fn tests(&self) -> impl Iterator<Item = usize> + '_ {
        self.unique
            .iter()
            .map(|(i, _)| *i)
            .chain(self.others.iter().map(|(i, _)| *i))
    }

    /// A `union all` branch giving `weir_test_index, failures, should_warn, should_error` for
    /// each test of the group, from one aggregate over the relation. `rules` are indexed by
    /// batch index. Each test's `limit` caps its count as `limit` caps the rows it counts.
    pub(super) fn branch_sql(&self, rules: &[TestRule]) -> String {
        let capped = |i: usize, expr: String| match rules[i].limit {
            Some(n) => format!("least({expr}, {n})"),
            None => expr,
        };
        let mut cols: Vec<(usize, String)> = Vec::new();
        let from = match &self.unique {
            Some((u_index, u)) => {
                let mut inner = vec![format!("{u} as weir_key"), "count(*) as weir_n".into()];
                cols.push((
                    *u_index,
                    capped(
                        *u_index,
                        "count(*) filter (where weir_key is not null and weir_n > 1)".into(),
                    ),
                ));
                for (k, (i, check)) in self.others.iter().enumerate() {
                    let Check::NotNull(c) = check else {
                        unreachable!("only not_null joins a unique group")
                    };
                    inner.push(format!("count(*) filter (where {c} is null) as weir_nn{k}"));
                    cols.push((*i, capped(*i, format!("coalesce(sum(weir_nn{k}), 0)"))));
                }
                format!(
                    "(\nselect {}\nfrom {}\ngroup by {u}\n) weir_grouped",
                    inner.join(", "),
                    self.model
                )
            }
            None => {
                for (i, check) in &self.others {
                    let expr = match check {
                        Check::NotNull(c) => format!("count(*) filter (where {c} is null)"),
                        Check::AcceptedValues(c, list) => format!(
                            "count(distinct {c}) filter (where {c} not in (\n    {list}\n))"
                        ),
                        Check::Unique(_) => unreachable!("a unique test opens its own group"),
                    };
                    cols.push((*i, capped(*i, expr)));
                }
                self.model.clone()
            }
        };
        let select = cols
            .iter()
            .enumerate()
            .map(|(k, (_, expr))| format!("{expr} as weir_f{k}"))
            .collect::<Vec<_>>()
            .join(",\n       ");
        let case = |value: &dyn Fn(usize, &str) -> String| {
            let arms: String = cols
                .iter()
                .enumerate()
                .map(|(k, (i, _))| format!(" when {i} then {}", value(*i, &format!("weir_f{k}"))))
                .collect();
            format!("case weir_t.i{arms} end")
        };
        let values = cols
            .iter()
            .map(|(i, _)| format!("({i})"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "select weir_t.i as weir_test_index, {} as failures, {} as should_warn, {} as should_error\n\
             from (\nselect {select}\nfrom {from}\n) weir_fused\ncross join (values {values}) as weir_t(i)",
            case(&|_, f| f.to_string()),
            case(&|i, f| format!("({f}) {}", rules[i].warn_if)),
            case(&|i, f| format!("({f}) {}", rules[i].error_if)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &str = "\"warehouse\".\"main\".\"orders\"";

    #[test]
    fn recognizes_what_the_builtin_macros_render() {
        assert_eq!(
            recognize(&unique_sql("id", M)),
            Some(Recognized {
                model: M.into(),
                check: Check::Unique("id".into())
            })
        );
        assert_eq!(
            recognize(&not_null_sql("\"Order Id\"", M)).map(|r| r.check),
            Some(Check::NotNull("\"Order Id\"".into()))
        );
        let sub = "(select * from \"w\".\"main\".\"orders\" where status != 'x') dbt_subquery";
        assert_eq!(
            recognize(&accepted_values_sql("status", sub, "'a','b'")),
            Some(Recognized {
                model: sub.into(),
                check: Check::AcceptedValues("status".into(), "'a','b'".into())
            })
        );
    }

    #[test]
    fn leaves_everything_else_alone() {
        // Expressions, overridden macros (other text), ephemeral CTEs, store_failures' `*`.
        assert_eq!(recognize(&unique_sql("id || '-' || status", M)), None);
        assert_eq!(recognize(&not_null_sql("a or b", M)), None);
        assert_eq!(recognize(&format!("{} ", unique_sql("id", M))), None);
        assert_eq!(recognize(&unique_sql("id", M).replace("> 1", ">= 2")), None);
        assert_eq!(
            recognize(&format!(
                "with __dbt__cte__x as (select 1)\n{}",
                not_null_sql("id", M)
            )),
            None
        );
        assert_eq!(recognize("select * from t"), None);
    }

    #[test]
    fn groups_by_relation() {
        let r = |m: &str, check: Check| Recognized {
            model: m.into(),
            check,
        };
        let groups = group(vec![
            (0, r("a", Check::NotNull("id".into()))),
            (1, r("a", Check::Unique("id".into()))),
            (2, r("b", Check::Unique("id".into()))),
            (3, r("a", Check::AcceptedValues("s".into(), "'x'".into()))),
            (4, r("a", Check::NotNull("s".into()))),
            (5, r("c", Check::NotNull("id".into()))),
            (6, r("a", Check::Unique("k".into()))),
        ]);
        let tests: Vec<Vec<usize>> = groups.iter().map(|g| g.tests().collect()).collect();
        // b and c have one test each and keep their own branches; a's accepted_values test
        // needs a group of its own, alone, so it too is left out.
        assert_eq!(tests, vec![vec![1, 0, 4]]);
    }

    /// Fused judging gives exactly what each test's own query gives, on a real Delta table
    /// with duplicate and null keys, null and unexpected values, on an empty table and through
    /// a `where` subquery, with `limit`, `warn_if` and `error_if` set.
    #[test]
    fn fused_results_equal_one_by_one() {
        use crate::engine::Engine;
        use crate::run::{judge_batch, TestRule};
        let dir = std::env::temp_dir().join(format!("weir-fused-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let options = crate::engine::EngineOptions {
                memory_limit: 1 << 30,
                temp_directory: std::env::temp_dir().join("weir-spill"),
            };
            let engine = Engine::open(dir.to_str().unwrap(), "warehouse", "main", &options)
                .await
                .unwrap();
            engine
                .create_table_as(
                    "main",
                    "t",
                    "select id, status, k, cast(\"F\" as double) as \"F\" from (values (1, 'a', 10, 1.5), (1, 'b', 11, 1.5), (2, null, 12, null), \
                     (null, 'c', 12, 2.0), (null, 'z', 13, 3.0), (3, 'a', 14, 4.0), (3, 'y', 14, 5.0), \
                     (3, 'a', null, 6.0)) as v(id, status, k, \"F\")",
                    &[],
                )
                .await
                .unwrap();
            engine
                .create_table_as("main", "e", "select * from t where id > 100", &[])
                .await
                .unwrap();
            let t = "\"warehouse\".\"main\".\"t\"";
            let e = "\"warehouse\".\"main\".\"e\"";
            let sub = "(select * from \"warehouse\".\"main\".\"t\" where k >= 12) dbt_subquery";
            let mut sqls = Vec::new();
            for m in [t, e, sub] {
                sqls.push(unique_sql("id", m));
                sqls.push(unique_sql("k", m));
                sqls.push(not_null_sql("id", m));
                sqls.push(not_null_sql("status", m));
                sqls.push(not_null_sql("k", m));
                sqls.push(accepted_values_sql("status", m, "'a','b'"));
                sqls.push(accepted_values_sql("k", m, "10,11,12"));
                sqls.push(unique_sql("\"F\"", m));
                sqls.push(not_null_sql("\"F\"", m));
            }
            let rule = |i: usize| TestRule {
                fail_calc: "count(*)".into(),
                warn_if: if i % 3 == 0 {
                    "> 1".into()
                } else {
                    "!= 0".into()
                },
                error_if: if i % 4 == 0 {
                    ">= 2".into()
                } else {
                    "!= 0".into()
                },
                limit: (i % 5 == 0).then_some(1),
            };
            let rules: Vec<TestRule> = (0..sqls.len()).map(rule).collect();
            let recognized: Vec<_> = sqls
                .iter()
                .enumerate()
                .filter_map(|(i, s)| recognize(s).map(|r| (i, r)))
                .collect();
            assert_eq!(recognized.len(), sqls.len());
            let natively = crate::run::native::judge(&engine, &rules, &recognized).await;
            assert_eq!(natively.len(), 12, "unique/not_null on t and e, but unique(F), a float");
            let groups = group(recognized);
            assert_eq!(groups.len(), 6, "{groups:?}");
            // Each fused group's SQL (what runs when a test cannot be counted natively).
            let mut via_sql = vec![None; sqls.len()];
            for g in &groups {
                let rows = engine
                    .query(&g.branch_sql(&rules))
                    .await
                    .expect("a fused group runs");
                let mine: Vec<usize> = g.tests().collect();
                let done: Vec<Option<(u64, bool, bool)>> = (0..sqls.len())
                    .map(|i| (!mine.contains(&i)).then_some((0, false, false)))
                    .collect();
                for (i, row) in crate::run::judged_rows(&rows, sqls.len(), &done).unwrap() {
                    via_sql[i] = Some(row);
                }
            }
            assert_eq!(via_sql.iter().flatten().count(), 21);
            let batch = judge_batch(&engine, &rules, &sqls)
                .await
                .expect("the batch runs");
            let mut failing = 0;
            for (i, (rule, sql)) in rules.iter().zip(&sqls).enumerate() {
                // The test's own judging query, as it runs alone.
                let rows = engine
                    .query(&rule.check_sql(sql))
                    .await
                    .expect("runs alone");
                let alone = crate::run::judged_rows(
                    &rows
                        .iter()
                        .map(|b| {
                            let index = std::sync::Arc::new(
                                datafusion::arrow::array::Int64Array::from(vec![0i64; b.num_rows()]),
                            ) as datafusion::arrow::array::ArrayRef;
                            let mut cols = vec![index];
                            cols.extend(b.columns().iter().cloned());
                            datafusion::arrow::record_batch::RecordBatch::try_from_iter(
                                cols.into_iter().enumerate().map(|(k, c)| (format!("c{k}"), c)),
                            )
                            .unwrap()
                        })
                        .collect::<Vec<_>>(),
                    1,
                    &[None],
                )
                .expect("one row")[0]
                    .1;
                assert_eq!(batch[i], alone, "test {i}:\n{sql}");
                if let Some(fused) = via_sql[i] {
                    assert_eq!(fused, alone, "fused test {i}:\n{sql}");
                }
                failing += usize::from(alone.0 > 0);
            }
            assert!(failing >= 10, "the data must make tests fail ({failing})");
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
