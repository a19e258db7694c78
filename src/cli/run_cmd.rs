//! `weir seed | run | test | build | show`: compile, select, execute on the engine, print.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::FreshnessArgs;
use super::{load_opts, print_warnings, select, LogFormat, RunArgs, ShowArgs, SqlArgs};
use crate::artifacts;
use crate::compile::{self, CompileOptions};
use crate::diagnostics::{Code, Diagnostic, Result};
use crate::parse::{self, Node, ParseOptions, ResourceType};
use crate::project;
use crate::run::{self, NodeResult, Reporter, RunOptions, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Seed,
    Run,
    Test,
    Build,
}

impl Mode {
    fn types(self) -> &'static [&'static str] {
        match self {
            Mode::Seed => &["seed"],
            Mode::Run => &["model"],
            Mode::Test => &["test", "unit_test"],
            Mode::Build => &["seed", "model", "test", "snapshot", "unit_test"],
        }
    }
}

/// How results are shown: dbt-style lines (`1 of 8 OK created table model main.customers
/// ..... [OK in 0.02s]`), above a progress bar on a terminal, or one JSON object per line.
struct Printer {
    quiet: bool,
    json: bool,
    /// Status tags in colour: a terminal, no `--no-color`, no `NO_COLOR` in the environment.
    color: bool,
    bar: Option<indicatif::ProgressBar>,
    lock: Mutex<()>,
}

impl Printer {
    fn new(quiet: bool, json: bool, no_progress: bool, no_color: bool, total: usize) -> Printer {
        let bar = (!json && !quiet && !no_progress && std::io::stdout().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{bar:30}] {pos}/{len} {wide_msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        let color = !json
            && !no_color
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stdout().is_terminal();
        Printer {
            quiet,
            json,
            color,
            bar,
            lock: Mutex::new(()),
        }
    }

    fn line(&self, text: &str) {
        let text = &*crate::diagnostics::scrub(text);
        match &self.bar {
            Some(bar) => bar.println(text),
            None => println!("{text}"),
        }
    }

    /// `tag` in the colour of its status, as dbt shows it: green for OK/PASS, yellow for
    /// WARN and SKIP, red for ERROR/FAIL.
    fn paint(&self, status: Status, tag: &str) -> String {
        if !self.color {
            return tag.to_string();
        }
        let code = match status {
            Status::Success | Status::Pass => "32",
            Status::Warn | Status::Skipped => "33",
            _ => "31",
        };
        format!("\x1b[{code}m{tag}\x1b[0m")
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Printer {
    fn unit_line(&self, index: usize, total: usize, r: &NodeResult) {
        if self.json {
            let event = serde_json::json!({"event": "unit_test_finished", "unique_id": r.unique_id, "status": r.status, "message": r.message, "execution_time": r.seconds});
            println!("{}", crate::diagnostics::scrub(&event.to_string()));
            return;
        }
        if self.quiet && !r.status.is_failure() {
            return;
        }
        let name = r
            .unique_id
            .splitn(3, '.')
            .nth(2)
            .unwrap_or(&r.unique_id)
            .replacen('.', "::", 1);
        let left = format!("{index} of {total} {} unit_test {name} ", r.status.label());
        let tag = format!("[{} in {:.2}s]", r.status.label(), r.seconds);
        let dots = ".".repeat(80usize.saturating_sub(left.len() + tag.len()).max(3));
        self.line(&format!("{left}{dots} {}", self.paint(r.status, &tag)));
    }
}

impl Reporter for Printer {
    fn unit_test_finished(&self, index: usize, total: usize, r: &NodeResult) {
        let _g = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(index as u64);
            bar.set_message(format!("{} {}", r.status.label(), r.unique_id));
        }
        self.unit_line(index, total, r);
    }

    fn finished(&self, index: usize, total: usize, node: &Node, r: &NodeResult) {
        let _g = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(index as u64);
            bar.set_message(format!("{} {}", r.status.label(), node.name));
        }
        if self.json {
            let event = serde_json::json!({
                "event": "node_finished", "index": index, "total": total,
                "unique_id": node.unique_id, "resource_type": node.resource_type.as_str(),
                "relation": format!("{}.{}", node.schema, node.alias),
                "status": r.status, "message": r.message, "execution_time": r.seconds,
                "rows": r.rows, "failures": r.failures,
                "error": r.error.as_ref().map(|d| d.render()),
            });
            println!("{}", crate::diagnostics::scrub(&event.to_string()));
            return;
        }
        if self.quiet && !r.status.is_failure() {
            return;
        }
        let what = run::describe_node(node);
        let verb = match (r.status, node.resource_type) {
            (Status::Success, ResourceType::Seed) => format!("OK loaded {what}"),
            (Status::Success, _) => format!("OK created {what}"),
            (Status::Skipped, _) => format!("SKIP {what}"),
            (Status::Error, ResourceType::Test) => format!("ERROR {what}"),
            (Status::Error, _) => format!("ERROR creating {what}"),
            (s, _) => format!("{} {what}", s.label()),
        };
        let tag = match r.status {
            Status::Success => format!(
                "[{} in {:.2}s]",
                r.message.lines().next().unwrap_or(""),
                r.seconds
            ),
            Status::Skipped => "[SKIP]".to_string(),
            s => format!("[{} in {:.2}s]", s.label(), r.seconds),
        };
        let left = format!("{index} of {total} {verb} ");
        let dots = ".".repeat(80usize.saturating_sub(left.len() + tag.len()).max(3));
        self.line(&format!("{left}{dots} {}", self.paint(r.status, &tag)));
    }
}

pub(super) fn cmd_run(args: &RunArgs, mode: Mode) -> Result<ExitCode> {
    // Flags are checked before any work.
    let event_time = run::event_time_range(
        args.event_time_start.as_deref(),
        args.event_time_end.as_deref(),
    )?;
    let start = Instant::now();
    let (project, parsed, invocation) =
        super::load_and_parse(&args.project, args.full_refresh, true)?;
    // Before compiling: which tables exist decides how incremental models compile.
    let lock = run::lock::acquire(
        Path::new(&project.target.warehouse),
        &format!("weir {}", format!("{mode:?}").to_lowercase()),
        args.lock_timeout,
    )?;
    if let (Some(gone), false) = (&lock.took_over, args.project.quiet) {
        eprintln!(
            "note: the last holder of the warehouse lock, `{}` (pid {}, since {}), ended without finishing; tables it was writing keep their last committed version",
            gone.command, gone.pid, gone.started_at
        );
    }
    let types: Vec<String> = mode.types().iter().map(|s| s.to_string()).collect();
    let (mut selected, warnings) = select(&project, &parsed.manifest, &args.selection, &types)?;
    print_warnings(&warnings, args.project.quiet);
    let compiled = compile::compile(
        &project,
        parsed,
        &CompileOptions {
            full_refresh: args.full_refresh,
            // As dbt: what is selected (and the ephemeral models it reads), each node that
            // needs relations this run creates compiled again at its turn.
            only: Some(selected.clone()),
            compile_late: true,
        },
    )?;
    artifacts::write_target(&project, &compiled, &invocation)?;
    selected.retain(|id| {
        compiled.manifest.nodes.contains_key(id) || compiled.manifest.unit_tests.contains_key(id)
    });
    if !args.project.quiet && args.log_format == LogFormat::Text {
        println!("{}", super::found_line(&compiled.manifest));
    }
    let threads = args.project.threads.unwrap_or(project.target.threads);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| Diagnostic::internal(e.to_string()))?;
    let printer = Arc::new(Printer::new(
        args.project.quiet,
        args.log_format == LogFormat::Json,
        args.no_progress,
        args.no_color,
        selected.len(),
    ));
    let reporter: Arc<dyn Reporter> = printer.clone();
    let results = runtime.block_on(async {
        let engine = Arc::new(super::open_engine(&project).await?);
        let opts = RunOptions {
            threads,
            full_refresh: args.full_refresh,
            fail_fast: args.fail_fast,
            tests_gate_children: mode == Mode::Build,
            event_time,
        };
        if mode != Mode::Test {
            run::run_project_hooks(&engine, "on-run-start", &compiled.on_run_start).await?;
        }
        // Unit tests are nodes of the DAG (see `run::execute`).
        let results = run::execute(
            &project,
            &compiled,
            engine.clone(),
            &selected,
            &opts,
            reporter,
        )
        .await;
        // A failing on-run-end hook is reported after the results are written.
        let end = if mode != Mode::Test {
            run::run_project_hooks(&engine, "on-run-end", &compiled.on_run_end).await
        } else {
            Ok(())
        };
        Ok::<_, crate::diagnostics::Error>((results, end))
    });
    printer.finish();
    let (results, end) = results?;
    let elapsed = start.elapsed().as_secs_f64();
    let rr = crate::artifacts::run_results_json(
        &results,
        &compiled,
        &invocation,
        elapsed,
        serde_json::json!({"which": format!("{mode:?}").to_lowercase()}),
    );
    compile::write_if_changed(
        &project.target_dir().join("run_results.json"),
        &rr.to_string(),
    )?;
    if let Err(e) = end {
        summarize(
            &results,
            &compiled,
            elapsed,
            args.log_format,
            args.project.quiet,
        );
        return Err(e);
    }
    Ok(summarize(
        &results,
        &compiled,
        elapsed,
        args.log_format,
        args.project.quiet,
    ))
}

/// The closing lines: what failed or warned (on stderr, always), then the counts — dbt-style
/// text lines, one `run_finished` JSON event with `--log-format json`, nothing with `-q`.
fn summarize(
    results: &[NodeResult],
    compiled: &compile::Compiled,
    elapsed: f64,
    format: LogFormat,
    quiet: bool,
) -> ExitCode {
    let count = |f: &dyn Fn(Status) -> bool| results.iter().filter(|r| f(r.status)).count();
    let pass = count(&|s| matches!(s, Status::Success | Status::Pass));
    let warn = count(&|s| s == Status::Warn);
    let error = count(&|s| s.is_failure());
    let skip = count(&|s| s == Status::Skipped);
    let text = format == LogFormat::Text && !quiet;
    if text {
        println!();
        println!("Finished running {} nodes in {elapsed:.2}s.", results.len());
    }
    for r in results
        .iter()
        .filter(|r| r.status.is_failure() || r.status == Status::Warn)
    {
        let n = compiled.manifest.nodes.get(&r.unique_id);
        let unit = compiled.manifest.unit_tests.get(&r.unique_id);
        let (kind, name) = match (n, unit) {
            (Some(n), _) => (n.resource_type.as_str(), n.name.as_str()),
            (None, Some(u)) => ("unit_test", u.name.as_str()),
            _ => ("node", r.unique_id.as_str()),
        };
        let label = match r.status {
            Status::Fail => "Failure",
            Status::Warn => "Warning",
            _ => "Error",
        };
        eprintln!();
        eprintln!("{label} in {kind} {name}");
        if let Some(u) = unit {
            eprintln!(
                "  on model {}, defined in {}",
                u.model, u.original_file_path
            );
        }
        if let Some(n) = n.filter(|n| n.resource_type == ResourceType::Test) {
            let model = n
                .attached_node
                .as_ref()
                .and_then(|m| compiled.manifest.nodes.get(m))
                .map(|m| m.name.as_str());
            match (model, &n.column_name) {
                (Some(m), Some(c)) => eprintln!("  on model {m}, column {c}"),
                (Some(m), None) => eprintln!("  on model {m}"),
                _ => {}
            }
        }
        match &r.error {
            Some(d) => eprint!("{}", d.render()),
            None => {
                for line in r.message.lines() {
                    eprintln!("  {line}");
                }
            }
        }
        if let Some(n) = n {
            eprintln!("  compiled code at target/compiled/{}", n.compiled_path());
        }
    }
    if text {
        println!();
        println!(
            "Done. PASS={pass} WARN={warn} ERROR={error} SKIP={skip} TOTAL={}",
            results.len()
        );
    } else if format == LogFormat::Json {
        let event = serde_json::json!({
            "event": "run_finished", "elapsed": elapsed, "pass": pass, "warn": warn,
            "error": error, "skip": skip, "total": results.len(),
        });
        println!("{event}");
    }
    if error > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

pub(super) fn cmd_show(args: &ShowArgs) -> Result<ExitCode> {
    let project = project::load(&load_opts(&args.project))?;
    let invocation = uuid::Uuid::new_v4().to_string();
    let sql = match &args.inline {
        Some(sql) => sql.clone(),
        None => {
            if args.selection.select.is_empty() && args.selection.selector.is_none() {
                return Err(Diagnostic::error(
                    Code::E403,
                    "weir show needs a model: --select <model> or --inline \"select ...\"",
                )
                .into());
            }
            let parsed = parse::parse(
                &project,
                &ParseOptions {
                    invocation_id: invocation.clone(),
                    full_refresh: false,
                    query: Some(super::warehouse_runner(&project)),
                },
            )?;
            let (ids, _) = select(
                &project,
                &parsed.manifest,
                &args.selection,
                &[
                    "model".into(),
                    "seed".into(),
                    "snapshot".into(),
                    "analysis".into(),
                ],
            )?;
            let ids: BTreeSet<String> = ids;
            if ids.len() > 1 {
                let names: Vec<&str> = ids
                    .iter()
                    .filter_map(|id| parsed.manifest.nodes.get(id).map(|n| n.name.as_str()))
                    .collect();
                return Err(Diagnostic::error(
                    Code::E403,
                    format!(
                        "weir show shows one node, and the selection matches {}: {}",
                        ids.len(),
                        names.join(", ")
                    ),
                )
                .help("select a single model, e.g. --select orders")
                .into());
            }
            let Some(id) = ids.iter().next().cloned() else {
                return Err(Diagnostic::error(
                    Code::E403,
                    "weir show needs a model: --select <model> or --inline \"select ...\"",
                )
                .into());
            };
            let compiled = compile::compile(
                &project,
                parsed,
                &CompileOptions {
                    full_refresh: false,
                    only: Some(ids),
                    compile_late: false,
                },
            )?;
            let n = &compiled.manifest.nodes[&id];
            match n.resource_type {
                ResourceType::Seed => format!("select * from {}.{}", n.schema, n.alias),
                _ => n.compiled_code.clone().unwrap_or_default(),
            }
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Diagnostic::internal(e.to_string()))?;
    let limit = args.limit;
    let text = runtime.block_on(async {
        let engine = super::open_engine(&project).await?;
        let batches = engine
            .query(&format!(
                "select * from (\n{sql}\n) weir_show limit {limit}"
            ))
            .await?;
        datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .map(|t| t.to_string())
            .map_err(|e| {
                crate::diagnostics::Error::from(Diagnostic::error(Code::E501, e.to_string()))
            })
    })?;
    println!("{text}");
    let _ = std::io::stdout().is_terminal();
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_sql(args: &SqlArgs) -> Result<ExitCode> {
    let project = project::load(&load_opts(&args.project))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Diagnostic::internal(e.to_string()))?;
    let text = runtime.block_on(async {
        let engine = super::open_engine(&project).await?;
        let batches = engine.query(&args.statement).await?;
        datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .map(|t| t.to_string())
            .map_err(|e| {
                crate::diagnostics::Error::from(Diagnostic::error(Code::E501, e.to_string()))
            })
    })?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// `weir source freshness`: for each selected source table with a `freshness` policy and a
/// `loaded_at_field`, the age of its newest row against `warn_after` / `error_after`;
/// results in `target/sources.json` (dbt's v3 shape). Exit 1 when any source is stale (error).
pub(super) fn cmd_freshness(args: &FreshnessArgs) -> Result<ExitCode> {
    let start = Instant::now();
    let (project, parsed, invocation) = super::load_and_parse(&args.project, false, false)?;
    let (selected, _) = select(
        &project,
        &parsed.manifest,
        &args.selection,
        &["source".into()],
    )?;
    // Only tables with a freshness policy and a loaded_at_field or loaded_at_query are checked
    // (dbt skips the rest).
    let sources: Vec<_> = parsed
        .manifest
        .sources
        .values()
        .filter(|s| {
            selected.contains(&s.unique_id)
                && (s.loaded_at_field.is_some() || s.loaded_at_query.is_some())
                && s.freshness.as_ref().is_some_and(|f| !f.is_null())
        })
        .cloned()
        .collect();
    let seconds = |p: &serde_json::Value| -> Option<f64> {
        let count = p.get("count")?.as_f64()?;
        let unit = match p.get("period")?.as_str()? {
            "minute" => 60.0,
            "hour" => 3600.0,
            "day" => 86400.0,
            _ => return None,
        };
        Some(count * unit)
    };
    // A policy weir cannot read is an error, not a source that always passes: a set `count`
    // needs a number and a period `seconds` knows.
    for s in &sources {
        let Some(policy) = &s.freshness else { continue };
        for key in ["warn_after", "error_after"] {
            let Some(p) = policy.get(key).filter(|p| !p.is_null()) else {
                continue;
            };
            if p.get("count").is_some_and(|c| !c.is_null()) && seconds(p).is_none() {
                return Err(Diagnostic::error(
                    Code::E103,
                    format!(
                        "source '{}.{}': freshness {key} is {p}; it must be {{count: <number>, period: minute | hour | day}}",
                        s.source_name, s.name
                    ),
                )
                .note(format!("in {}", s.original_file_path))
                .help("set period to minute, hour or day, and count to a number")
                .into());
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Diagnostic::internal(e.to_string()))?;
    let results = runtime.block_on(async {
        let engine = super::open_engine(&project).await?;
        let mut out = Vec::new();
        for (i, s) in sources.iter().enumerate() {
            let Some(policy) = s.freshness.clone().filter(|f| !f.is_null()) else { continue };
            let t0 = Instant::now();
            let sql = if let Some(field) = s.loaded_at_field.clone() {
                let filter = policy.get("filter").and_then(|f| f.as_str()).map(|f| format!(" where {f}")).unwrap_or_default();
                format!(
                    "select cast(max(cast({field} as timestamp)) as varchar) as max_loaded_at, cast(now() as varchar) as snapshotted_at, \
                     cast(extract(epoch from (now() - max(cast({field} as timestamp)))) as double) as age from {}.{}{filter}",
                    s.schema, s.identifier
                )
            } else {
                // loaded_at_query: one value, the time of the last load (plain SQL).
                let query = s.loaded_at_query.clone().unwrap_or_default();
                let query = query.trim().trim_end_matches(';');
                format!(
                    "select cast(t as varchar) as max_loaded_at, cast(now() as varchar) as snapshotted_at, \
                     cast(extract(epoch from (now() - t)) as double) as age from (select cast(({query}) as timestamp) as t) weir_loaded_at"
                )
            };
            let (status, row) = match engine.query_result(&sql).await {
                Ok(r) => {
                    let row = r.rows.first().cloned().unwrap_or_default();
                    let age = row.get(2).and_then(|v| v.as_f64());
                    let over = |k: &str| match (age, policy.get(k).and_then(seconds)) {
                        (Some(a), Some(limit)) => a > limit,
                        _ => false,
                    };
                    let status = if age.is_none() { "runtime error" } else if over("error_after") { "error" } else if over("warn_after") { "warn" } else { "pass" };
                    (status, row)
                }
                Err(e) => {
                    eprint!("{}", e.diagnostic().render());
                    ("runtime error", Vec::new())
                }
            };
            if !args.project.quiet {
                let label = match status { "pass" => "PASS", "warn" => "WARN", "error" => "ERROR STALE", _ => "ERROR" };
                let left = format!("{} of {} {label} freshness of {}.{} ", i + 1, sources.len(), s.source_name, s.name);
                let tag = format!("[{label} in {:.2}s]", t0.elapsed().as_secs_f64());
                println!("{left}{} {tag}", ".".repeat(80usize.saturating_sub(left.len() + tag.len()).max(3)));
            }
            out.push(serde_json::json!({
                "unique_id": s.unique_id,
                "max_loaded_at": row.first().cloned().unwrap_or(serde_json::Value::Null),
                "snapshotted_at": row.get(1).cloned().unwrap_or(serde_json::Value::Null),
                "max_loaded_at_time_ago_in_s": row.get(2).cloned().unwrap_or(serde_json::Value::Null),
                "status": status,
                "criteria": {"warn_after": policy.get("warn_after"), "error_after": policy.get("error_after"), "filter": policy.get("filter")},
                "adapter_response": {},
                "timing": [],
                "thread_id": "Thread-1",
                "execution_time": t0.elapsed().as_secs_f64(),
            }));
        }
        Ok::<_, crate::diagnostics::Error>(out)
    })?;
    let failed = results
        .iter()
        .any(|r| matches!(r["status"].as_str(), Some("error" | "runtime error")));
    let doc = serde_json::json!({
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/sources/v3.json",
            "dbt_version": crate::artifacts::DBT_COMPAT_VERSION,
            "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "invocation_id": invocation,
            "env": {},
        },
        "results": results,
        "elapsed_time": start.elapsed().as_secs_f64(),
    });
    compile::write_if_changed(&project.target_dir().join("sources.json"), &doc.to_string())?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
