//! Run: execute selected nodes in DAG order on N concurrent workers against the engine.
//! A failed node skips everything downstream of it; `--fail-fast` stops scheduling at the first
//! failure. Every write is one table commit (see `engine`), so a failure leaves the previous
//! version of a table readable. Results come back as data; `cli` prints them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value as Json};
use tokio::task::JoinSet;

use crate::compile::Compiled;
use crate::diagnostics::{Diagnostic, Result};
use crate::engine::Engine;
use crate::parse::{Node, ResourceType};
use crate::project::config::{as_string_list, get_str};
use crate::project::Project;
use crate::testing::UnitTest;

mod constraints;
mod fused;
mod native;
mod schema_change;
use schema_change::check_schema_change;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Success,
    Error,
    Skipped,
    Pass,
    Fail,
    Warn,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Success => "OK",
            Status::Error => "ERROR",
            Status::Skipped => "SKIP",
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Warn => "WARN",
        }
    }
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Error | Status::Fail)
    }
}

#[derive(Debug, Clone)]
pub struct NodeResult {
    pub unique_id: String,
    pub status: Status,
    pub message: String,
    pub seconds: f64,
    pub rows: Option<u64>,
    pub failures: Option<u64>,
    pub error: Option<Diagnostic>,
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub threads: usize,
    pub full_refresh: bool,
    pub fail_fast: bool,
    /// `build`: a model's tests gate its descendants (a failing test skips them).
    pub tests_gate_children: bool,
    /// `--event-time-start` / `--event-time-end`: the window microbatch models build.
    pub event_time: EventTimeRange,
}

/// Bounds given on the command line for microbatch models (either may be absent).
#[derive(Debug, Clone, Copy, Default)]
pub struct EventTimeRange {
    pub start: Option<chrono::NaiveDateTime>,
    pub end: Option<chrono::NaiveDateTime>,
}

/// A date (`2024-03-01`) or timestamp (`2024-03-01 10:00:00`, `2024-03-01T10:00:00`).
fn parse_time(text: &str) -> Option<chrono::NaiveDateTime> {
    use chrono::{NaiveDate, NaiveDateTime};
    let text = text.trim();
    text.parse::<NaiveDateTime>()
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").ok())
        .or_else(|| {
            text.parse::<NaiveDate>()
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

/// Read `--event-time-start` / `--event-time-end`, as dbt does: both are times, the start
/// before the end.
pub fn event_time_range(start: Option<&str>, end: Option<&str>) -> Result<EventTimeRange> {
    let read = |flag: &str, v: Option<&str>| -> Result<Option<chrono::NaiveDateTime>> {
        v.map(|v| {
            parse_time(v).ok_or_else(|| {
                Diagnostic::error("E105", format!("{flag} '{v}' is not a date or timestamp"))
                    .help("write it as 2024-03-01 or 2024-03-01 10:00:00")
                    .into()
            })
        })
        .transpose()
    };
    let range = EventTimeRange {
        start: read("--event-time-start", start)?,
        end: read("--event-time-end", end)?,
    };
    if let (Some(s), Some(e)) = (range.start, range.end) {
        if s >= e {
            return Err(Diagnostic::error(
                "E105",
                format!("--event-time-start ({s}) must be before --event-time-end ({e})"),
            )
            .into());
        }
    }
    Ok(range)
}

/// Events for the printer, in completion order.
pub trait Reporter: Send + Sync {
    fn finished(&self, index: usize, total: usize, node: &Node, result: &NodeResult);
    fn unit_test_finished(&self, index: usize, total: usize, result: &NodeResult);
}

fn describe(n: &Node) -> String {
    match n.resource_type {
        ResourceType::Seed => format!("seed file {}.{}", n.schema, n.alias),
        ResourceType::Test => format!("test {}", n.name),
        ResourceType::Snapshot => format!("snapshot {}.{}", n.schema, n.alias),
        _ => format!("{} model {}.{}", n.materialized(), n.schema, n.alias),
    }
}

/// Execute `selected` (unique ids) from the compiled manifest.
pub async fn execute(
    project: &Project,
    compiled: &Compiled,
    engine: Arc<Engine>,
    selected: &BTreeSet<String>,
    opts: &RunOptions,
    reporter: Arc<dyn Reporter>,
) -> Vec<NodeResult> {
    let m = &compiled.manifest;
    // Runnable nodes: selected, not ephemeral (those live inside their consumers).
    let runnable: BTreeSet<String> = selected
        .iter()
        .filter(|id| {
            m.nodes
                .get(*id)
                .is_some_and(|n| !n.is_ephemeral() && n.resource_type != ResourceType::Analysis)
        })
        .cloned()
        .collect();
    // Dependencies among runnable nodes, looking through ephemeral models.
    let runnable_parents = |deps: &[String]| {
        let mut ps = BTreeSet::new();
        let mut stack: Vec<String> = deps.to_vec();
        while let Some(p) = stack.pop() {
            if runnable.contains(&p) {
                ps.insert(p);
            } else if let Some(pn) = m.nodes.get(&p) {
                if pn.is_ephemeral() {
                    stack.extend(pn.depends_on_nodes.iter().cloned());
                }
            }
        }
        ps
    };
    let mut parents: HashMap<String, BTreeSet<String>> = runnable
        .iter()
        .map(|id| (id.clone(), runnable_parents(&m.nodes[id].depends_on_nodes)))
        .collect();
    if opts.tests_gate_children {
        // In `build`, what depends on a model waits for the model's tests, as in dbt.
        let tests_of: Vec<(String, String)> = runnable
            .iter()
            // Tests of one model only: a test across models (relationships) would otherwise
            // make a model wait on a test that waits on that model.
            .filter(|id| {
                m.nodes[*id].resource_type == ResourceType::Test && parents[*id].len() == 1
            })
            .flat_map(|t| parents[t].iter().map(move |p| (p.clone(), t.clone())))
            .collect();
        for (model, test) in tests_of {
            for (child, ps) in parents.iter_mut() {
                if ps.contains(&model)
                    && m.nodes[child].resource_type != ResourceType::Test
                    && *child != test
                {
                    ps.insert(test.clone());
                }
            }
        }
    }
    // Unit tests, as dbt's `build` runs them: once everything their model waits for is done,
    // so inputs are typed from the real relations; in `build` the model waits for its unit
    // tests (a failing one skips it and what depends on it). Without the model in the run
    // (`test`), they run against whatever exists.
    let units: Arc<BTreeMap<String, UnitTest>> = Arc::new(
        compiled
            .unit_tests
            .iter()
            .filter(|p| selected.contains(&p.unique_id))
            .map(|p| (p.unique_id.clone(), UnitTest::new(compiled, p)))
            .collect(),
    );
    for id in units.keys() {
        let model = m
            .unit_tests
            .get(id)
            .and_then(|u| u.depends_on_nodes.first());
        let ps = match model.and_then(|model| parents.get(model)) {
            // What the model waits for (its parents, and their tests in `build`).
            Some(ps) => ps
                .iter()
                .filter(|p| !units.contains_key(*p))
                .cloned()
                .collect(),
            None => model
                .and_then(|model| m.nodes.get(model))
                .map(|n| runnable_parents(&n.depends_on_nodes))
                .unwrap_or_default(),
        };
        if opts.tests_gate_children {
            if let Some(ps) = model.and_then(|model| parents.get_mut(model)) {
                ps.insert(id.clone());
            }
        }
        parents.insert(id.clone(), ps);
    }
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    for (id, ps) in &parents {
        for p in ps {
            children.entry(p.clone()).or_default().push(id.clone());
        }
    }
    let mut waiting: HashMap<String, usize> =
        parents.iter().map(|(k, v)| (k.clone(), v.len())).collect();
    // Unit tests wait in their own queue (they are not `Node`s), and go first.
    let (mut ready_units, mut ready): (BTreeSet<String>, BTreeSet<String>) = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(k, _)| k.clone())
        .partition(|id| units.contains_key(id));
    let total = runnable.len() + units.len();
    let mut results: BTreeMap<String, NodeResult> = BTreeMap::new();
    let mut running: JoinSet<Vec<NodeResult>> = JoinSet::new();
    let mut done = 0usize;
    let mut stop = false;
    let threads = opts.threads.max(1);
    let mut project = project_context(project);
    project.event_time = opts.event_time;
    // Microbatch filters each upstream that declares an event_time to the batch's window.
    for id in &runnable {
        let n = &m.nodes[id];
        if get_str(&n.config, "incremental_strategy") != Some("microbatch") {
            continue;
        }
        let parents: Vec<(Vec<String>, String)> = n
            .depends_on_nodes
            .iter()
            .filter_map(|p| m.nodes.get(p))
            .filter_map(|p| {
                let col = get_str(&p.config, "event_time")?.to_string();
                let names = vec![
                    format!("\"{}\".\"{}\".\"{}\"", p.database, p.schema, p.alias),
                    format!("{}.{}.{}", p.database, p.schema, p.alias),
                ];
                Some((names, col))
            })
            .collect();
        project.event_time_parents.insert(id.clone(), parents);
    }
    let project = Arc::new(project);
    let nodes: Arc<BTreeMap<String, Node>> = Arc::new(
        runnable
            .iter()
            .map(|id| (id.clone(), (*m.nodes[id]).clone()))
            .collect(),
    );

    let report = |index: usize, result: &NodeResult| match nodes.get(&result.unique_id) {
        Some(n) => reporter.finished(index, total, n, result),
        None if units.contains_key(&result.unique_id) => {
            reporter.unit_test_finished(index, total, result)
        }
        None => {}
    };
    let name_of = |id: &str| -> String {
        match (nodes.get(id), units.get(id)) {
            (Some(n), _) => n.name.clone(),
            (None, Some(u)) => u.plan.name.clone(),
            _ => id.to_string(),
        }
    };

    while done < total {
        while !stop && running.len() < threads {
            if let Some(id) = ready_units.pop_first() {
                let (engine, units) = (engine.clone(), units.clone());
                running.spawn(async move { vec![units[&id].run(&engine).await] });
                continue;
            }
            let Some(id) = ready.pop_first() else { break };
            let batch = take_test_batch(&id, &nodes, &mut ready);
            let engine = engine.clone();
            let nodes = nodes.clone();
            let project = project.clone();
            let full_refresh = opts.full_refresh;
            running.spawn(async move {
                if batch.len() > 1 {
                    let tests: Vec<&Node> = batch.iter().map(|id| &nodes[id]).collect();
                    for n in &tests {
                        let sql = n.compiled_code.as_deref().unwrap_or_default();
                        record_statement(&project, n, sql, full_refresh);
                    }
                    let start = Instant::now();
                    let outcomes = run_test_batch(&engine, &tests).await;
                    let seconds = start.elapsed().as_secs_f64() / tests.len() as f64;
                    return batch
                        .iter()
                        .zip(outcomes)
                        .map(|(id, outcome)| node_result(id, outcome, seconds))
                        .collect::<Vec<_>>();
                }
                let n = &nodes[&id];
                let start = Instant::now();
                let outcome = run_node(&engine, &project, n, full_refresh).await;
                vec![node_result(&id, outcome, start.elapsed().as_secs_f64())]
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let batch = match joined {
            Ok(r) => r,
            Err(e) => vec![NodeResult {
                unique_id: String::new(),
                status: Status::Error,
                message: format!("internal error: a worker panicked: {e}"),
                seconds: 0.0,
                rows: None,
                failures: None,
                error: Some(Diagnostic::internal(format!("a worker panicked: {e}"))),
            }],
        };
        for result in batch {
            done += 1;
            let id = result.unique_id.clone();
            report(done, &result);
            let failed = result.status.is_failure();
            if failed && opts.fail_fast {
                stop = true;
            }
            results.insert(id.clone(), result);
            if failed {
                // Everything downstream is skipped, and reported as such.
                let mut stack = children.get(&id).cloned().unwrap_or_default();
                while let Some(c) = stack.pop() {
                    if results.contains_key(&c) {
                        continue;
                    }
                    waiting.remove(&c);
                    ready.remove(&c);
                    ready_units.remove(&c);
                    let skipped = NodeResult {
                        unique_id: c.clone(),
                        status: Status::Skipped,
                        message: format!("skipped because '{}' failed", name_of(&id)),
                        seconds: 0.0,
                        rows: None,
                        failures: None,
                        error: None,
                    };
                    done += 1;
                    report(done, &skipped);
                    results.insert(c.clone(), skipped);
                    stack.extend(children.get(&c).cloned().unwrap_or_default());
                }
            } else {
                for c in children.get(&id).cloned().unwrap_or_default() {
                    if let Some(w) = waiting.get_mut(&c) {
                        *w -= 1;
                        if *w == 0 && !results.contains_key(&c) {
                            if units.contains_key(&c) {
                                ready_units.insert(c);
                            } else {
                                ready.insert(c);
                            }
                        }
                    }
                }
            }
        }
        if stop && running.is_empty() {
            break;
        }
    }
    // With --fail-fast, what never started is reported as skipped.
    for id in nodes.keys().chain(units.keys()) {
        if !results.contains_key(id) {
            results.insert(
                id.clone(),
                NodeResult {
                    unique_id: id.clone(),
                    status: Status::Skipped,
                    message: "skipped: run stopped by --fail-fast".into(),
                    seconds: 0.0,
                    rows: None,
                    failures: None,
                    error: None,
                },
            );
        }
    }
    results.into_values().collect()
}

/// Most tests judged by one query (see `run_test_batch`).
const TEST_BATCH: usize = 32;

/// The nodes to run together with `first`, taken out of `ready`: `first` alone unless it is a
/// test that can be batched; then other ready batchable tests, those on the same parents first.
fn take_test_batch(
    first: &str,
    nodes: &BTreeMap<String, Node>,
    ready: &mut BTreeSet<String>,
) -> Vec<String> {
    let mut batch = vec![first.to_string()];
    if !batchable(&nodes[first]) {
        return batch;
    }
    let parents = |id: &str| -> BTreeSet<&str> {
        nodes[id]
            .depends_on_nodes
            .iter()
            .map(String::as_str)
            .collect()
    };
    let own = parents(first);
    let candidates: Vec<&String> = ready.iter().filter(|id| batchable(&nodes[*id])).collect();
    let (same, other): (Vec<&String>, Vec<&String>) =
        candidates.into_iter().partition(|id| parents(id) == own);
    batch.extend(same.into_iter().chain(other).take(TEST_BATCH - 1).cloned());
    for id in &batch[1..] {
        ready.remove(id);
    }
    batch
}

fn node_result(id: &str, outcome: Result<Outcome>, seconds: f64) -> NodeResult {
    match outcome {
        Ok((status, message, rows, failures)) => NodeResult {
            unique_id: id.to_string(),
            status,
            message,
            seconds,
            rows,
            failures,
            error: None,
        },
        Err(e) => NodeResult {
            unique_id: id.to_string(),
            status: Status::Error,
            message: e.diagnostic().message.clone(),
            seconds,
            rows: None,
            failures: None,
            error: Some(e.diagnostic().clone()),
        },
    }
}

/// What a node needs from the project while it runs.
struct ProjectContext {
    root: std::path::PathBuf,
    packages: HashMap<String, std::path::PathBuf>,
    target_dir: std::path::PathBuf,
    /// For microbatch models: their parents' relation names (as rendered) and event_time.
    event_time_parents: HashMap<String, Vec<(Vec<String>, String)>>,
    /// `--event-time-start` / `--event-time-end`.
    event_time: EventTimeRange,
}

fn project_context(p: &Project) -> ProjectContext {
    ProjectContext {
        root: p.root.clone(),
        packages: p
            .packages
            .iter()
            .map(|pk| (pk.name.clone(), pk.root.clone()))
            .collect(),
        event_time_parents: HashMap::new(),
        event_time: EventTimeRange::default(),
        target_dir: p.target_dir(),
    }
}

type Outcome = (Status, String, Option<u64>, Option<u64>);

/// `target/run/<path>`: what this node runs, as SQL a person can read (the writes themselves go
/// through Delta's API, so the statement names the operation rather than warehouse DDL).
fn record_statement(project: &ProjectContext, n: &Node, sql: &str, full_refresh: bool) {
    let relation = format!("{}.{}", n.schema, n.alias);
    let text = match (n.resource_type, n.materialized()) {
        (ResourceType::Seed, _) => format!(
            "-- load seed {} into {relation} (Delta, one commit)\n",
            n.original_file_path
        ),
        (ResourceType::Test, _) => {
            format!("select count(*) as failures from (\n{sql}\n) dbt_internal_test\n")
        }
        (_, "view") => format!("create or replace view {relation} as (\n{sql}\n)\n"),
        (_, "incremental") if !full_refresh => format!(
            "-- incremental ({}) into {relation} (Delta, one commit)\n{sql}\n",
            n.incremental_strategy()
        ),
        (ResourceType::Snapshot, _) => {
            format!("-- snapshot into {relation} (Delta, one commit)\n{sql}\n")
        }
        _ => format!("create or replace table {relation} as (\n{sql}\n)\n"),
    };
    let path = project.target_dir.join("run").join(n.compiled_path());
    let _ = crate::compile::write_if_changed(&path, &text);
}

async fn run_node(
    engine: &Engine,
    project: &ProjectContext,
    n: &Node,
    full_refresh: bool,
) -> Result<Outcome> {
    let full_refresh = n.full_refresh(full_refresh);
    let sql = n.compiled_code.clone().unwrap_or_default();
    record_statement(project, n, &sql, full_refresh);
    let schema = n.schema.as_str();
    let name = n.alias.as_str();
    match n.resource_type {
        ResourceType::Seed => {
            let root = project
                .packages
                .get(&n.package_name)
                .unwrap_or(&project.root);
            let path = root.join(&n.original_file_path);
            let delimiter = get_str(&n.config, "delimiter")
                .and_then(|d| d.bytes().next())
                .unwrap_or(b',');
            let column_types: BTreeMap<String, String> = n
                .config
                .get("column_types")
                .and_then(Json::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            (
                                k.to_lowercase(),
                                v.as_str().unwrap_or("varchar").to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let rows = engine
                .load_seed(schema, name, &path, delimiter, &column_types)
                .await?;
            Ok((Status::Success, format!("INSERT {rows}"), Some(rows), None))
        }
        ResourceType::Test => run_test(engine, n, &sql).await,
        ResourceType::Snapshot => snapshot(engine, n, &sql).await,
        _ => {
            for hook in &n.pre_hooks {
                run_hook(engine, n, "pre-hook", hook).await?;
            }
            let outcome = if get_str(&n.config, "incremental_strategy") == Some("microbatch")
                && n.materialized() == "incremental"
            {
                let parents = project
                    .event_time_parents
                    .get(&n.unique_id)
                    .cloned()
                    .unwrap_or_default();
                microbatch(engine, n, &sql, &parents, project.event_time, full_refresh).await?
            } else {
                materialize(engine, n, &sql, full_refresh).await?
            };
            for hook in &n.post_hooks {
                run_hook(engine, n, "post-hook", hook).await?;
            }
            Ok(outcome)
        }
    }
}

async fn run_hook(engine: &Engine, n: &Node, kind: &str, sql: &str) -> Result<()> {
    engine.query(sql).await.map(|_| ()).map_err(|e| {
        let d = e.diagnostic().clone().note(format!(
            "in a {kind} of {} '{}': {}",
            n.resource_type.as_str(),
            n.name,
            sql.trim()
        ));
        d.into()
    })
}

/// Run `on-run-start` or `on-run-end` statements; the first failure stops them.
pub async fn run_project_hooks(engine: &Engine, which: &str, hooks: &[String]) -> Result<()> {
    for sql in hooks {
        engine.query(sql).await.map_err(|e| {
            let d = e
                .diagnostic()
                .clone()
                .note(format!("in {which}: {}", sql.trim()));
            crate::diagnostics::Error::from(d)
        })?;
    }
    Ok(())
}

/// How a data test is judged, from its config.
struct TestRule {
    fail_calc: String,
    warn_if: String,
    error_if: String,
    /// The `limit` config: at most this many failing rows are counted (and stored).
    limit: Option<u64>,
}

impl TestRule {
    fn of(n: &Node) -> TestRule {
        let cfg = |k: &str, d: &str| get_str(&n.config, k).unwrap_or(d).to_string();
        TestRule {
            fail_calc: cfg("fail_calc", "count(*)"),
            warn_if: cfg("warn_if", "!= 0"),
            error_if: cfg("error_if", "!= 0"),
            limit: n.config.get("limit").and_then(Json::as_u64),
        }
    }

    /// `\nlimit N`, or empty.
    fn limit_sql(&self) -> String {
        self.limit
            .map(|l| format!("\nlimit {l}"))
            .unwrap_or_default()
    }

    /// The query that judges the test: one row of `failures, should_warn, should_error`, as
    /// dbt's `get_test_sql` writes it.
    fn check_sql(&self, sql: &str) -> String {
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

fn stores_failures(n: &Node) -> bool {
    n.config
        .get("store_failures")
        .and_then(Json::as_bool)
        .unwrap_or(false)
}

/// A data test as dbt runs it: `fail_calc` over the failing rows (optionally `limit`ed), compared
/// with `warn_if` / `error_if`; `store_failures` keeps the failing rows as a Delta table in the
/// `<schema>_dbt_test__audit` schema. A failure's message carries the first failing rows.
async fn run_test(engine: &Engine, n: &Node, sql: &str) -> Result<Outcome> {
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
async fn test_outcome(
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
fn batchable(n: &Node) -> bool {
    n.resource_type == ResourceType::Test
        && !stores_failures(n)
        && get_str(&n.config, "fail_calc").is_none_or(|f| f.trim().eq_ignore_ascii_case("count(*)"))
}

/// Run several data tests as one query: each test's judging query (exactly the one it would run
/// alone) becomes a branch of a `union all`, tagged with its index, so the tables they read are
/// opened and planned once. Results are identical to running them one by one; if the combined
/// query fails (one broken test), every test runs alone so each error lands on its own test.
async fn run_test_batch(engine: &Engine, tests: &[&Node]) -> Vec<Result<Outcome>> {
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
async fn judge_batch(engine: &Engine, rules: &[TestRule], sqls: &[String]) -> Option<Vec<Judged>> {
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
type Judged = (u64, bool, bool);

/// `(failures, should_warn, should_error)` per test index, if every test has its row.
fn judged_rows(
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

fn first_u64(batches: &[datafusion::arrow::record_batch::RecordBatch]) -> Option<u64> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Int64Type, UInt64Type};
    let b = batches.iter().find(|b| b.num_rows() > 0)?;
    let col = b.column(0);
    if let Some(a) = col.as_primitive_opt::<Int64Type>() {
        return (!a.is_null(0)).then(|| a.value(0) as u64);
    }
    col.as_primitive_opt::<UInt64Type>().map(|a| a.value(0))
}

async fn materialize(engine: &Engine, n: &Node, sql: &str, full_refresh: bool) -> Result<Outcome> {
    if n.contract_enforced {
        check_contract(engine, n, sql).await?;
    }
    if !constraints::applies(n) {
        return write_model(engine, n, sql, full_refresh).await;
    }
    // Constraints: the query runs once into memory, is checked, then written from there.
    let staged = constraints::stage_and_check(engine, n, sql, full_refresh).await?;
    let outcome = write_model(engine, n, &staged.sql, full_refresh).await;
    staged.drop(engine).await;
    outcome
}

async fn write_model(engine: &Engine, n: &Node, sql: &str, full_refresh: bool) -> Result<Outcome> {
    let schema = n.schema.as_str();
    let name = n.alias.as_str();
    let partition_by = n.partition_columns();
    match n.materialized() {
        "view" => {
            engine.create_view(schema, name, sql).await?;
            Ok((Status::Success, "CREATE VIEW".into(), None, None))
        }
        "table" => {
            let rows = engine
                .create_table_as(schema, name, sql, &partition_by)
                .await?;
            Ok((Status::Success, format!("SELECT {rows}"), Some(rows), None))
        }
        "incremental" => {
            let exists = engine.exists(schema, name);
            if !exists || full_refresh {
                let rows = engine
                    .create_table_as(schema, name, sql, &partition_by)
                    .await?;
                return Ok((Status::Success, format!("SELECT {rows}"), Some(rows), None));
            }
            check_schema_change(engine, n, sql).await?;
            let unique_key = as_string_list(n.config.get("unique_key"));
            let predicates = as_string_list(n.config.get("incremental_predicates"));
            let strategy = n.incremental_strategy();
            let rows = match strategy {
                "append" => engine.append(schema, name, sql).await?,
                "merge" => {
                    if unique_key.is_empty() {
                        engine.append(schema, name, sql).await?
                    } else {
                        let mut update = n
                            .config
                            .get("merge_update_columns")
                            .map(|v| as_string_list(Some(v)));
                        // merge_exclude_columns: update every column but these.
                        if let (None, Some(excluded)) =
                            (&update, n.config.get("merge_exclude_columns"))
                        {
                            let excluded: Vec<String> = as_string_list(Some(excluded))
                                .iter()
                                .map(|c| c.to_lowercase())
                                .collect();
                            let columns = engine.schema_of(sql).await?;
                            update = Some(
                                columns
                                    .fields()
                                    .iter()
                                    .map(|f| f.name().clone())
                                    .filter(|c| !excluded.contains(&c.to_lowercase()))
                                    .collect(),
                            );
                        }
                        engine
                            .merge(
                                schema,
                                name,
                                sql,
                                &unique_key,
                                update.as_deref(),
                                &predicates,
                            )
                            .await?
                    }
                }
                "delete+insert" => {
                    engine
                        .delete_insert(schema, name, sql, &unique_key, &predicates)
                        .await?
                }
                "insert_overwrite" => {
                    engine
                        .insert_overwrite(schema, name, sql, &partition_by)
                        .await?
                }
                other => {
                    return Err(Diagnostic::error(
                        "E521",
                        format!(
                            "model '{}': incremental_strategy '{other}' is not supported",
                            n.name
                        ),
                    )
                    .help("use one of: append, merge, delete+insert, insert_overwrite")
                    .into())
                }
            };
            Ok((
                Status::Success,
                format!("{} {rows}", strategy.to_uppercase()),
                Some(rows),
                None,
            ))
        }
        other => Err(Diagnostic::error(
            "E522",
            format!(
                "model '{}': materialization '{other}' is not supported",
                n.name
            ),
        )
        .help("use view, table, incremental or ephemeral")
        .into()),
    }
}

/// Does a declared `data_type` accept this Arrow type? `None` when weir does not know the
/// declared type (then only the name is checked).
fn type_matches(declared: &str, actual: &datafusion::arrow::datatypes::DataType) -> Option<bool> {
    use datafusion::arrow::datatypes::DataType as T;
    let d = declared.trim().to_lowercase();
    let base = d.split('(').next().unwrap_or("").trim();
    Some(match base {
        "integer" | "int" | "int4" => matches!(actual, T::Int32),
        "bigint" | "int8" | "long" => matches!(actual, T::Int64),
        "smallint" | "int2" => matches!(actual, T::Int16),
        "varchar" | "text" | "string" | "char" | "character varying" => {
            matches!(actual, T::Utf8 | T::Utf8View | T::LargeUtf8)
        }
        "double" | "float8" | "double precision" => matches!(actual, T::Float64),
        "float" | "real" | "float4" => matches!(actual, T::Float32),
        "decimal" | "numeric" => matches!(actual, T::Decimal128(..) | T::Decimal256(..)),
        "date" => matches!(actual, T::Date32 | T::Date64),
        "timestamp" | "datetime" | "timestamp_ntz" => matches!(actual, T::Timestamp(..)),
        "boolean" | "bool" => matches!(actual, T::Boolean),
        _ => return None,
    })
}

/// `contract: {enforced: true}`: the query's columns must be the declared ones (any order)
/// with the declared types, and `not_null` constraints must hold, before anything is written.
async fn check_contract(engine: &Engine, n: &Node, sql: &str) -> Result<()> {
    let planned = engine.schema_of(sql).await?;
    let mut problems = Vec::new();
    for (name, col) in &n.columns {
        match planned
            .fields()
            .iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
        {
            None => problems.push(format!(
                "column '{name}' is declared but the query does not return it"
            )),
            Some(f) => {
                if let Some(dt) = &col.data_type {
                    if type_matches(dt, f.data_type()) == Some(false) {
                        problems.push(format!(
                            "column '{name}' is declared {dt} but the query returns {}",
                            f.data_type()
                        ));
                    }
                }
            }
        }
    }
    for f in planned.fields() {
        if !n.columns.keys().any(|c| c.eq_ignore_ascii_case(f.name())) {
            problems.push(format!(
                "the query returns column '{}', which the contract does not declare",
                f.name()
            ));
        }
    }
    if !problems.is_empty() {
        return Err(Diagnostic::error(
            "E525",
            format!("model '{}' does not meet its contract", n.name),
        )
        .note(problems.join("; "))
        .help("change the model's SQL or the columns in its YAML; nothing was written")
        .into());
    }
    if constraints::applies(n) {
        // Checked on the data, with the other constraints (see `constraints`).
        return Ok(());
    }
    let not_null: Vec<&String> = n
        .columns
        .iter()
        .filter(|(_, c)| {
            c.constraints
                .iter()
                .any(|k| k.get("type").and_then(Json::as_str) == Some("not_null"))
        })
        .map(|(name, _)| name)
        .collect();
    for name in not_null {
        let batches = engine
            .query(&format!(
                "select count(*) from (\n{sql}\n) weir_contract where \"{name}\" is null"
            ))
            .await?;
        let nulls = first_u64(&batches).unwrap_or(0);
        if nulls > 0 {
            return Err(Diagnostic::error("E525", format!("model '{}' breaks its not_null constraint: {nulls} row(s) with NULL in '{name}'", n.name))
                .help("nothing was written; fix the data or the model")
                .into());
        }
    }
    Ok(())
}

/// A snapshot (type-2 history, dbt's `timestamp` and `check` strategies): the first run copies
/// the query with `dbt_scd_id`, `dbt_updated_at`, `dbt_valid_from`, `dbt_valid_to`; later runs
/// close the current version of changed rows (and of deleted rows with `hard_deletes:
/// invalidate`) and add new versions. The new state is written as one table commit.
async fn snapshot(engine: &Engine, n: &Node, sql: &str) -> Result<Outcome> {
    let schema = n.schema.as_str();
    let name = n.alias.as_str();
    let keys = as_string_list(n.config.get("unique_key"));
    if keys.is_empty() {
        return Err(
            Diagnostic::error("E523", format!("snapshot '{}' has no unique_key", n.name))
                .help("set unique_key in the snapshot's config")
                .into(),
        );
    }
    let strategy = get_str(&n.config, "strategy").unwrap_or("timestamp");
    let columns: Vec<String> = engine
        .schema_of(sql)
        .await?
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let quote = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
    let key_expr = |alias: &str| {
        keys.iter()
            .map(|k| format!("cast({alias}.{} as varchar)", quote(k)))
            .collect::<Vec<_>>()
            .join(" || '|' || ")
    };
    let now = format!(
        "cast('{}' as timestamp)",
        chrono::Utc::now()
            .naive_utc()
            .format("%Y-%m-%d %H:%M:%S%.6f")
    );
    let (updated_at, changed) = match strategy {
        "timestamp" => {
            let col = get_str(&n.config, "updated_at").ok_or_else(|| {
                Diagnostic::error(
                    "E523",
                    format!(
                        "snapshot '{}' uses the timestamp strategy without updated_at",
                        n.name
                    ),
                )
                .help("set updated_at to the column holding the row's last change time")
            })?;
            (
                format!("cast(src.{} as timestamp)", quote(col)),
                format!("cast(src.{} as timestamp) > cur.dbt_updated_at", quote(col)),
            )
        }
        "check" => {
            let cols: Vec<String> = match n.config.get("check_cols") {
                Some(Json::String(s)) if s == "all" => columns
                    .iter()
                    .filter(|c| !keys.contains(c))
                    .cloned()
                    .collect(),
                other => as_string_list(other),
            };
            let diff = cols
                .iter()
                .map(|c| format!("(src.{0} is distinct from cur.{0})", quote(c)))
                .collect::<Vec<_>>()
                .join(" or ");
            (
                now.clone(),
                if diff.is_empty() {
                    "false".into()
                } else {
                    format!("({diff})")
                },
            )
        }
        other => {
            return Err(Diagnostic::error(
                "E523",
                format!("snapshot '{}': unknown strategy '{other}'", n.name),
            )
            .help("use timestamp or check")
            .into())
        }
    };
    let src_cols = columns
        .iter()
        .map(|c| format!("src.{}", quote(c)))
        .collect::<Vec<_>>()
        .join(", ");
    let new_version = |from: &str| {
        format!(
            "select {src_cols}, md5({} || '|' || cast({updated_at} as varchar)) as dbt_scd_id, {updated_at} as dbt_updated_at, {updated_at} as dbt_valid_from, cast(null as timestamp) as dbt_valid_to {from}",
            key_expr("src")
        )
    };
    if !engine.exists(schema, name) {
        let first = format!("with src as (\n{sql}\n)\n{}", new_version("from src"));
        let rows = engine.create_table_as(schema, name, &first, &[]).await?;
        return Ok((Status::Success, format!("INSERT {rows}"), Some(rows), None));
    }
    let target = format!("{}.{}", quote(schema), quote(name));
    let join = keys
        .iter()
        .map(|k| format!("src.{0} = cur.{0}", quote(k)))
        .collect::<Vec<_>>()
        .join(" and ");
    let invalidate_deleted = get_str(&n.config, "hard_deletes") == Some("invalidate")
        || n.config
            .get("invalidate_hard_deletes")
            .and_then(Json::as_bool)
            == Some(true);
    let closing = format!(
        "select {} as k from src join cur on {join} where {changed}{}",
        key_expr("src"),
        if invalidate_deleted {
            format!(" union all select {} as k from cur where not exists (select 1 from src where {join})", key_expr("cur"))
        } else {
            String::new()
        }
    );
    let all_cols = columns
        .iter()
        .map(|c| format!("snap.{}", quote(c)))
        .collect::<Vec<_>>()
        .join(", ");
    let merged = format!(
        "with src as (\n{sql}\n),\ncur as (select * from {target} where dbt_valid_to is null),\nclosing as ({closing})\n\
         select {all_cols}, snap.dbt_scd_id, snap.dbt_updated_at, snap.dbt_valid_from, \
         case when snap.dbt_valid_to is null and closing.k is not null then {now} else snap.dbt_valid_to end as dbt_valid_to \
         from {target} snap left join (select distinct k from closing) closing on {} = closing.k\n\
         union all {}\n\
         union all {}",
        key_expr("snap"),
        new_version(&format!("from src join cur on {join} where {changed}")),
        new_version(&format!("from src where not exists (select 1 from cur where {join})")),
    );
    let rows = engine.create_table_as(schema, name, &merged, &[]).await?;
    Ok((
        Status::Success,
        format!("SNAPSHOT {rows}"),
        Some(rows),
        None,
    ))
}

/// Microbatch: the model runs once per `batch_size` window of its `event_time`, from `begin`
/// (first run, `--full-refresh`) or from `lookback` batches before the current one (later runs).
/// Each batch reads its parents filtered to the window (parents that declare an `event_time`)
/// and replaces the window's rows in the table in one commit.
async fn microbatch(
    engine: &Engine,
    n: &Node,
    sql: &str,
    parents: &[(Vec<String>, String)],
    window: EventTimeRange,
    full_refresh: bool,
) -> Result<Outcome> {
    use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};
    let err = |msg: String| -> crate::diagnostics::Error {
        Diagnostic::error("E526", format!("microbatch model '{}': {msg}", n.name)).into()
    };
    let event_time = get_str(&n.config, "event_time")
        .ok_or_else(|| err("set event_time (the column holding each row's time)".into()))?;
    let size = get_str(&n.config, "batch_size")
        .ok_or_else(|| err("set batch_size (hour, day, month or year)".into()))?;
    let truncate = |t: NaiveDateTime| -> NaiveDateTime {
        let d = t.date();
        match size {
            "hour" => d.and_hms_opt(t.hour(), 0, 0).unwrap(),
            "day" => d.and_hms_opt(0, 0, 0).unwrap(),
            "month" => NaiveDate::from_ymd_opt(d.year(), d.month(), 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
            _ => NaiveDate::from_ymd_opt(d.year(), 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
        }
    };
    let step = |t: NaiveDateTime, k: i64| -> NaiveDateTime {
        match size {
            "hour" => t + Duration::hours(k),
            "day" => t + Duration::days(k),
            "month" => {
                let months = t.year() as i64 * 12 + t.month0() as i64 + k;
                NaiveDate::from_ymd_opt((months / 12) as i32, (months % 12) as u32 + 1, 1)
                    .unwrap()
                    .and_hms_opt(0, 0, 0)
                    .unwrap()
            }
            _ => NaiveDate::from_ymd_opt(t.year() + k as i32, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
        }
    };
    if !matches!(size, "hour" | "day" | "month" | "year") {
        return Err(err(format!(
            "batch_size '{size}' is not one of hour, day, month, year"
        )));
    }
    let now = chrono::Utc::now().naive_utc();
    let exists = engine.exists(&n.schema, &n.alias);
    // Batches run while their start is before `stop`: up to now, or before --event-time-end.
    let stop = window.end.unwrap_or(now);
    let start = if let Some(start) = window.start {
        truncate(start)
    } else if !exists || full_refresh {
        let begin = get_str(&n.config, "begin")
            .ok_or_else(|| err("set begin (the time of the first batch)".into()))?;
        let parsed = begin
            .parse::<NaiveDateTime>()
            .or_else(|_| NaiveDateTime::parse_from_str(begin, "%Y-%m-%d %H:%M:%S"))
            .or_else(|_| {
                begin
                    .parse::<NaiveDate>()
                    .map(|d| d.and_hms_opt(0, 0, 0).unwrap())
            })
            .map_err(|_| err(format!("begin '{begin}' is not a date or timestamp")))?;
        truncate(parsed)
    } else {
        let lookback = n.config.get("lookback").and_then(Json::as_i64).unwrap_or(1);
        step(truncate(now), -lookback)
    };
    let mut total = 0u64;
    let mut batches = 0u64;
    let mut batch = start;
    let mut first = !exists || full_refresh;
    while batch < stop || (window.end.is_none() && batch == stop) {
        let end = step(batch, 1);
        let (lo, hi) = (
            batch.format("%Y-%m-%d %H:%M:%S"),
            end.format("%Y-%m-%d %H:%M:%S"),
        );
        let mut batch_sql = sql.to_string();
        for (names, col) in parents {
            for name in names {
                batch_sql = batch_sql.replace(
                    name.as_str(),
                    &format!("(select * from {name} where {col} >= cast('{lo}' as timestamp) and {col} < cast('{hi}' as timestamp))"),
                );
            }
        }
        let window = format!("select * from (\n{batch_sql}\n) weir_batch where {event_time} >= cast('{lo}' as timestamp) and {event_time} < cast('{hi}' as timestamp)");
        total += if first {
            first = false;
            engine
                .create_table_as(&n.schema, &n.alias, &window, &n.partition_columns())
                .await?
        } else {
            let predicate = format!("{event_time} >= '{lo}' and {event_time} < '{hi}'");
            engine
                .replace_where(&n.schema, &n.alias, &window, &predicate)
                .await?
        };
        batches += 1;
        batch = end;
    }
    Ok((
        Status::Success,
        format!("MICROBATCH {batches} batches, {total} rows"),
        Some(total),
        None,
    ))
}

/// `target/run_results.json` in dbt's v6 shape.
pub fn run_results_json(
    results: &[NodeResult],
    compiled: &Compiled,
    invocation_id: &str,
    elapsed: f64,
    args: Json,
) -> Json {
    let items: Vec<Json> = results
        .iter()
        .map(|r| {
            let n = compiled.manifest.nodes.get(&r.unique_id);
            json!({
                "status": r.status,
                "timing": [],
                "thread_id": "Thread-1",
                "execution_time": r.seconds,
                "adapter_response": r.rows.map(|rows| json!({"_message": r.message, "rows_affected": rows})).unwrap_or(json!({})),
                "message": r.message,
                "failures": r.failures,
                "unique_id": r.unique_id,
                "compiled": n.map(|n| n.compiled_code.is_some()),
                "compiled_code": n.and_then(|n| n.compiled_code.clone()),
                "relation_name": n.filter(|n| !matches!(n.resource_type, ResourceType::Test)).map(|n| format!("\"{}\".\"{}\".\"{}\"", n.database, n.schema, n.alias)),
                "batch_results": null,
            })
        })
        .collect();
    json!({
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
            "dbt_version": crate::artifacts::DBT_COMPAT_VERSION,
            "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "invocation_id": invocation_id,
            "env": {},
        },
        "results": items,
        "elapsed_time": elapsed,
        "args": args,
    })
}

pub fn describe_node(n: &Node) -> String {
    describe(n)
}
