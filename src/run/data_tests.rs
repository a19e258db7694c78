//! Data tests: how a test is judged from its config (`fail_calc`, `warn_if`, `error_if`,
//! `limit`, `store_failures`), and ready tests judged together in one query.

#[allow(unused_imports)]
use super::*;

/// How a data test is judged, from its config.
pub(super) struct TestRule {
    pub(super) fail_calc: String,
    pub(super) warn_if: String,
    pub(super) error_if: String,
    /// The `limit` config: at most this many failing rows are counted (and stored).
    pub(super) limit: Option<u64>,
}

impl TestRule {
    pub(super) fn of(n: &Node) -> TestRule {
        let cfg = |k: &str, d: &str| get_str(&n.config, k).unwrap_or(d).to_string();
        TestRule {
            fail_calc: cfg("fail_calc", "count(*)"),
            warn_if: cfg("warn_if", "!= 0"),
            error_if: cfg("error_if", "!= 0"),
            limit: n.config.get("limit").and_then(Json::as_u64),
        }
    }

    /// `\nlimit N`, or empty.
    pub(super) fn limit_sql(&self) -> String {
        self.limit
            .map(|l| format!("\nlimit {l}"))
            .unwrap_or_default()
    }

    /// The query that judges the test: one row of `failures, should_warn, should_error`, as
    /// dbt's `get_test_sql` writes it.
    pub(super) fn check_sql(&self, sql: &str) -> String {
        let TestRule {
            fail_calc,
            warn_if,
            error_if,
            ..
        } = self;
        let limit = self.limit_sql();
        format!(
            "select {fail_calc} as failures, ({fail_calc}) {warn_if} as should_warn, ({fail_calc}) {error_if} as should_error \
             from (\nselect * from (\n{sql}\n) dbt_internal_test_rows{limit}\n) dbt_internal_test"
        )
    }
}

pub(super) fn stores_failures(n: &Node) -> bool {
    n.config
        .get("store_failures")
        .and_then(Json::as_bool)
        .unwrap_or(false)
}

/// A data test as dbt runs it: `fail_calc` over the failing rows (optionally `limit`ed), compared
/// with `warn_if` / `error_if`; `store_failures` keeps the failing rows as a Delta table in the
/// `<schema>_dbt_test__audit` schema. A failure's message carries the first failing rows.
pub(super) async fn run_test(engine: &Engine, n: &Node, sql: &str) -> Result<Outcome> {
    let rule = TestRule::of(n);
    if stores_failures(n) {
        let audit = get_str(&n.config, "schema")
            .unwrap_or("")
            .trim()
            .to_string();
        let schema = if audit.is_empty() || audit == "dbt_test__audit" {
            format!("{}_dbt_test__audit", n.schema)
        } else {
            audit
        };
        engine
            .create_table_as(
                &schema,
                &n.alias,
                &format!(
                    "select * from (\n{sql}\n) dbt_internal_test{}",
                    rule.limit_sql()
                ),
                &[],
            )
            .await?;
    }
    let batches = engine.query(&rule.check_sql(sql)).await?;
    let failures = first_u64(&batches).unwrap_or(0);
    let flag = |col: usize| -> bool {
        use datafusion::arrow::array::{Array, AsArray};
        batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .and_then(|b| {
                b.column(col)
                    .as_boolean_opt()
                    .map(|a| !a.is_null(0) && a.value(0))
            })
            .unwrap_or(false)
    };
    test_outcome(engine, n, sql, &rule, failures, flag(1), flag(2)).await
}

/// The status of a judged test, and for a warning or failure the message with its first rows.
pub(super) async fn test_outcome(
    engine: &Engine,
    n: &Node,
    sql: &str,
    rule: &TestRule,
    failures: u64,
    should_warn: bool,
    should_error: bool,
) -> Result<Outcome> {
    let severity = get_str(&n.config, "severity")
        .unwrap_or("error")
        .to_lowercase();
    let status = if severity == "error" && should_error {
        Status::Fail
    } else if should_warn || (severity == "warn" && should_error) {
        Status::Warn
    } else {
        Status::Pass
    };
    if status == Status::Pass {
        return Ok((status, "PASS".into(), None, Some(failures)));
    }
    let rule = if status == Status::Fail {
        format!("fail if {}", rule.error_if)
    } else {
        format!("warn if {}", rule.warn_if)
    };
    let mut msg = format!(
        "Got {failures} result{}, configured to {rule}",
        if failures == 1 { "" } else { "s" }
    );
    let preview = engine
        .query(&format!(
            "select * from (\n{sql}\n) dbt_internal_test limit 5"
        ))
        .await?;
    if let Ok(table) = datafusion::arrow::util::pretty::pretty_format_batches(&preview) {
        msg.push_str(&format!("\nfirst failing rows:\n{table}"));
    }
    Ok((status, msg, None, Some(failures)))
}

/// Tests that can share one query with others: no stored failures (those write a table each)
/// and the default `fail_calc`, so that every test's `failures` is a plain count.
pub(super) fn batchable(n: &Node) -> bool {
    n.resource_type == ResourceType::Test
        && !stores_failures(n)
        && get_str(&n.config, "fail_calc").is_none_or(|f| f.trim().eq_ignore_ascii_case("count(*)"))
}

/// Run several data tests as one query: each test's judging query (exactly the one it would run
/// alone) becomes a branch of a `union all`, tagged with its index, so the tables they read are
/// opened and planned once. Results are identical to running them one by one; if the combined
/// query fails (one broken test), every test runs alone so each error lands on its own test.
pub(super) async fn run_test_batch(engine: &Engine, tests: &[&Node]) -> Vec<Result<Outcome>> {
    let rules: Vec<TestRule> = tests.iter().map(|n| TestRule::of(n)).collect();
    let sqls: Vec<String> = tests
        .iter()
        .map(|n| n.compiled_code.clone().unwrap_or_default())
        .collect();
    let Some(judged) = judge_batch(engine, &rules, &sqls).await else {
        let mut out = Vec::with_capacity(tests.len());
        for (n, sql) in tests.iter().zip(&sqls) {
            out.push(run_test(engine, n, sql).await);
        }
        return out;
    };
    let mut out = Vec::with_capacity(tests.len());
    for (i, n) in tests.iter().enumerate() {
        let (failures, warn, error) = judged[i];
        out.push(test_outcome(engine, n, &sqls[i], &rules[i], failures, warn, error).await);
    }
    out
}

/// `(failures, should_warn, should_error)` of each test (rules and compiled SQL by index),
/// from one query; `None` if that query fails.
pub(super) async fn judge_batch(
    engine: &Engine,
    rules: &[TestRule],
    sqls: &[String],
) -> Option<Vec<Judged>> {
    // Built-in tests on the same relation share one aggregate (see `fused`); the rest keep
    // their own judging query.
    let recognized: Vec<(usize, fused::Recognized)> = sqls
        .iter()
        .enumerate()
        .filter_map(|(i, sql)| fused::recognize(sql).map(|r| (i, r)))
        .collect();
    // `unique` / `not_null` on a plain relation: counted from a scan, without SQL.
    let mut judged: Vec<Option<Judged>> = vec![None; sqls.len()];
    for (i, outcome) in native::judge(engine, rules, &recognized).await {
        judged[i] = Some(outcome);
    }
    let recognized: Vec<(usize, fused::Recognized)> = recognized
        .into_iter()
        .filter(|(i, _)| judged[*i].is_none())
        .collect();
    let groups = fused::group(recognized);
    let in_group: BTreeSet<usize> = groups.iter().flat_map(|g| g.tests()).collect();
    let query = groups
        .iter()
        .map(|g| g.branch_sql(rules))
        .chain(
            rules
                .iter()
                .zip(sqls)
                .enumerate()
                .filter(|(i, _)| !in_group.contains(i) && judged[*i].is_none())
                .map(|(i, (rule, sql))| {
                    format!(
                        "select {i} as weir_test_index, failures, should_warn, should_error from (\n{}\n) weir_test_{i}",
                        rule.check_sql(sql)
                    )
                }),
        )
        .collect::<Vec<_>>()
        .join("\nunion all\n");
    if !query.is_empty() {
        let batches = engine.query(&query).await.ok()?;
        let rows = judged_rows(&batches, sqls.len(), &judged)?;
        for (i, row) in rows {
            judged[i] = Some(row);
        }
    }
    judged.into_iter().collect()
}

/// A judged data test: `(failures, should_warn, should_error)`.
pub(super) type Judged = (u64, bool, bool);

/// `(failures, should_warn, should_error)` per test index, if every test has its row.
pub(super) fn judged_rows(
    batches: &[datafusion::arrow::record_batch::RecordBatch],
    count: usize,
    done: &[Option<Judged>],
) -> Option<Vec<(usize, Judged)>> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::{DataType, Int64Type};
    let mut out: Vec<Option<Judged>> = vec![None; count];
    for b in batches {
        let index = cast(b.column(0), &DataType::Int64).ok()?;
        let index = index.as_primitive_opt::<Int64Type>()?;
        let failures = cast(b.column(1), &DataType::Int64).ok()?;
        let failures = failures.as_primitive_opt::<Int64Type>()?;
        let flag = |col: usize, row: usize| {
            b.column(col)
                .as_boolean_opt()
                .is_some_and(|a| !a.is_null(row) && a.value(row))
        };
        for row in 0..b.num_rows() {
            let i = usize::try_from(index.value(row)).ok()?;
            let f = if failures.is_null(row) {
                0
            } else {
                failures.value(row).max(0) as u64
            };
            *out.get_mut(i)? = Some((f, flag(2, row), flag(3, row)));
        }
    }
    // Every test not judged before has its row.
    let mut rows = Vec::new();
    for (i, row) in out.into_iter().enumerate() {
        match (row, done.get(i).copied().flatten()) {
            (Some(row), None) => rows.push((i, row)),
            (None, Some(_)) => {}
            _ => return None,
        }
    }
    Some(rows)
}

pub(super) fn first_u64(batches: &[datafusion::arrow::record_batch::RecordBatch]) -> Option<u64> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Int64Type, UInt64Type};
    let b = batches.iter().find(|b| b.num_rows() > 0)?;
    let col = b.column(0);
    if let Some(a) = col.as_primitive_opt::<Int64Type>() {
        return (!a.is_null(0)).then(|| a.value(0) as u64);
    }
    col.as_primitive_opt::<UInt64Type>().map(|a| a.value(0))
}
