//! Run: execute selected nodes in DAG order on N concurrent workers against the engine.
//! A failed node skips everything downstream of it; `--fail-fast` stops scheduling at the first
//! failure. Every write is one table commit (see `engine`), so a failure leaves the previous
//! version of a table readable. Results come back as data; `cli` prints them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value as Json;
use tokio::task::JoinSet;

use crate::compile::Compiled;
use crate::diagnostics::{Code, Diagnostic, Result};
use crate::engine::codes::OUT_OF_MEMORY;
use crate::engine::Engine;
use crate::parse::{Node, ResourceType};
use crate::project::config::{as_string_list, get_str};
use crate::project::Project;
use unit_test::UnitTest;

mod constraints;
mod data_tests;
mod fused;
pub mod lock;
mod materialize;
mod microbatch;
mod native;
mod schema_change;
mod snapshot;
mod sql_location;
mod unit_test;
use data_tests::*;
use materialize::*;
use microbatch::*;
use schema_change::check_schema_change;
use snapshot::*;

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
                Diagnostic::error(
                    Code::E105,
                    format!("{flag} '{v}' is not a date or timestamp"),
                )
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
                Code::E105,
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
    // Nodes compiled at their turn (see `compile::LateCompiler`), and the ephemeral models
    // their SQL may need.
    let deferred: Arc<BTreeSet<String>> = Arc::new(compiled.deferred.clone());
    let late = compiled.late.clone();
    let ephemerals: Arc<BTreeMap<String, Node>> = Arc::new(
        m.nodes
            .values()
            .filter(|n| n.is_ephemeral() && n.compiled_code.is_some())
            .map(|n| (n.unique_id.clone(), (**n).clone()))
            .collect(),
    );
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

    // Nodes share the engine's memory pool. One that runs out of memory while others hold part
    // of it runs again with the pool to itself: it takes this lock for writing, which waits for
    // the nodes running (each holds it for reading) and holds back the next ones.
    let pool = Arc::new(tokio::sync::RwLock::new(()));
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    while done < total {
        while !stop && running.len() < threads {
            if let Some(id) = ready_units.pop_first() {
                let (engine, units, pool) = (engine.clone(), units.clone(), pool.clone());
                running.spawn(async move {
                    let _shared = pool.read().await;
                    vec![units[&id].run(&engine).await]
                });
                continue;
            }
            let Some(id) = ready.pop_first() else { break };
            let batch = take_test_batch(&id, &nodes, &deferred, &mut ready);
            let engine = engine.clone();
            let nodes = nodes.clone();
            let (deferred, late, ephemerals) = (deferred.clone(), late.clone(), ephemerals.clone());
            let project = project.clone();
            let full_refresh = opts.full_refresh;
            let (pool, in_flight, started) = (pool.clone(), in_flight.clone(), started.clone());
            running.spawn(async move {
                let shared = pool.read().await;
                if batch.len() > 1 {
                    let tests: Vec<&Node> = batch.iter().map(|id| &nodes[id]).collect();
                    for n in &tests {
                        let sql = n.compiled_code.as_deref().unwrap_or_default();
                        if let Err(e) = record_statement(&project, n, sql, full_refresh) {
                            return batch
                                .iter()
                                .map(|id| node_result(id, Err(e.clone()), 0.0))
                                .collect::<Vec<_>>();
                        }
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
                let start = Instant::now();
                let late_node;
                let n = match (deferred.contains(&id), &late) {
                    (true, Some(late)) => {
                        let (late, node, ephemerals) =
                            (late.clone(), nodes[&id].clone(), ephemerals.clone());
                        // Rendering may query the warehouse through its own runtime.
                        let compiled =
                            tokio::task::spawn_blocking(move || late.compile(&ephemerals, &node))
                                .await
                                .unwrap_or_else(|e| {
                                    Err(Diagnostic::internal(format!(
                                        "a late compile panicked: {e}"
                                    )))
                                });
                        match compiled {
                            Ok(node) => {
                                late_node = node;
                                &late_node
                            }
                            Err(d) => {
                                let seconds = start.elapsed().as_secs_f64();
                                return vec![node_result(&id, Err(d.into()), seconds)];
                            }
                        }
                    }
                    (true, None) => {
                        let d = Diagnostic::internal("a node to compile late, without a compiler");
                        return vec![node_result(&id, Err(d.into()), 0.0)];
                    }
                    (false, _) => &nodes[&id],
                };
                if deferred.contains(&id) {
                    if let Some(sql) = &n.compiled_code {
                        let path = project.target_dir.join("compiled").join(n.compiled_path());
                        if let Err(e) = crate::compile::write_if_changed(&path, sql) {
                            return vec![node_result(&id, Err(e), 0.0)];
                        }
                    }
                }
                // Did another node run at some time during this one: one already running
                // when it started, or one started after it?
                let running_before = in_flight.fetch_add(1, Ordering::SeqCst);
                let order = started.fetch_add(1, Ordering::SeqCst);
                let outcome = run_node(&engine, &project, n, full_refresh).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                let shared_pool = running_before > 0 || started.load(Ordering::SeqCst) > order + 1;
                drop(shared);
                let outcome = match outcome {
                    Err(e) if e.diagnostic().code == OUT_OF_MEMORY && shared_pool => {
                        let _alone = pool.write().await;
                        run_node(&engine, &project, n, full_refresh)
                            .await
                            .map_err(|e| {
                                let e = name_out_of_memory(e, n, engine.memory_limit());
                                if e.diagnostic().code != OUT_OF_MEMORY {
                                    return e;
                                }
                                e.diagnostic()
                                    .clone()
                                    .note(
                                        "it ran out of memory while other nodes ran, then \
                                         again with the memory limit to itself",
                                    )
                                    .into()
                            })
                    }
                    other => other.map_err(|e| name_out_of_memory(e, n, engine.memory_limit())),
                }
                .map_err(|e| sql_location::locate(n, e.diagnostic().clone()).into());
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
    deferred: &BTreeSet<String>,
    ready: &mut BTreeSet<String>,
) -> Vec<String> {
    let mut batch = vec![first.to_string()];
    // A test compiled at its turn runs alone.
    let batchable = |id: &str| batchable(&nodes[id]) && !deferred.contains(id);
    if !batchable(first) {
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
    let candidates: Vec<&String> = ready.iter().filter(|id| batchable(id)).collect();
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
fn record_statement(
    project: &ProjectContext,
    n: &Node,
    sql: &str,
    full_refresh: bool,
) -> Result<()> {
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
    crate::compile::write_if_changed(&path, &text)
}

async fn run_node(
    engine: &Engine,
    project: &ProjectContext,
    n: &Node,
    full_refresh: bool,
) -> Result<Outcome> {
    let _in_flight = crate::diagnostics::in_flight(&n.unique_id);
    let full_refresh = n.full_refresh(full_refresh);
    let sql = n.compiled_code.clone().unwrap_or_default();
    record_statement(project, n, &sql, full_refresh)?;
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

/// An out-of-memory error of the engine, told as the node's: the node and the limit are
/// named in the message, DataFusion's account stays as a note.
fn name_out_of_memory(
    e: crate::diagnostics::Error,
    n: &Node,
    limit: usize,
) -> crate::diagnostics::Error {
    if e.diagnostic().code != OUT_OF_MEMORY {
        return e;
    }
    let mut d = e.diagnostic().clone();
    d.message = format!(
        "{} '{}' ran out of memory: it needs more than the memory limit of {} in a step that \
         cannot spill to disk",
        n.resource_type.as_str(),
        n.name,
        crate::project::memory::human_size(limit as u64),
    );
    d.into()
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

pub fn describe_node(n: &Node) -> String {
    describe(n)
}
