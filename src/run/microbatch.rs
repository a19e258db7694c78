//! Microbatch incremental models: one run of the model per `event_time` window.

#[allow(unused_imports)]
use super::*;
use crate::diagnostics::Code;

/// Microbatch: the model runs once per `batch_size` window of its `event_time`, from `begin`
/// (first run, `--full-refresh`) or from `lookback` batches before the current one (later runs).
/// Each batch reads its parents filtered to the window (parents that declare an `event_time`).
/// On a new table or a full refresh all batches are written in one commit; later runs replace
/// each window's rows in a commit per batch.
pub(super) async fn microbatch(
    engine: &Engine,
    n: &Node,
    sql: &str,
    parents: &[(Vec<String>, String)],
    window: EventTimeRange,
    full_refresh: bool,
) -> Result<Outcome> {
    use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};
    let err = |msg: String| -> crate::diagnostics::Error {
        Diagnostic::error(Code::E526, format!("microbatch model '{}': {msg}", n.name)).into()
    };
    let event_time = get_str(&n.config, "event_time")
        .ok_or_else(|| err("set event_time (the column holding each row's time)".into()))?;
    let size = get_str(&n.config, "batch_size")
        .ok_or_else(|| err("set batch_size (hour, day, month or year)".into()))?;
    let truncate = |t: NaiveDateTime| -> NaiveDateTime {
        let d = t.date();
        match size {
            "hour" => d.and_hms_opt(t.hour(), 0, 0).expect("a valid time of day"),
            "day" => d.and_hms_opt(0, 0, 0).expect("a valid time of day"),
            "month" => NaiveDate::from_ymd_opt(d.year(), d.month(), 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .expect("the first day of a month of a valid date is valid"),
            _ => NaiveDate::from_ymd_opt(d.year(), 1, 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .expect("the first day of a month of a valid date is valid"),
        }
    };
    let step = |t: NaiveDateTime, k: i64| -> NaiveDateTime {
        match size {
            "hour" => t + Duration::hours(k),
            "day" => t + Duration::days(k),
            "month" => {
                let months = t.year() as i64 * 12 + t.month0() as i64 + k;
                NaiveDate::from_ymd_opt((months / 12) as i32, (months % 12) as u32 + 1, 1)
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .expect("batches stay within chrono's range of years")
            }
            _ => NaiveDate::from_ymd_opt(t.year() + k as i32, 1, 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .expect("the first day of a month of a valid date is valid"),
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
                    .map(|d| d.and_hms_opt(0, 0, 0).expect("a valid time of day"))
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
    // A new table or a full refresh: every batch from `begin`, committed together.
    let rebuild = !exists || full_refresh;
    let mut whole: Vec<String> = Vec::new();
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
        if rebuild {
            whole.push(window);
        } else {
            let predicate = format!("{event_time} >= '{lo}' and {event_time} < '{hi}'");
            total += engine
                .replace_where(&n.schema, &n.alias, &window, &predicate)
                .await?;
        }
        batches += 1;
        batch = end;
    }
    if !whole.is_empty() {
        // Each batch keeps its own query (a batch reads only its window of the parents), and
        // the table is replaced once by all of them: a kill during a full refresh leaves the
        // previous table, not an empty one that later runs would never refill.
        let all = whole
            .iter()
            .map(|w| format!("select * from (\n{w}\n) weir_batch_all"))
            .collect::<Vec<_>>()
            .join("\nunion all\n");
        total = engine
            .create_table_as(&n.schema, &n.alias, &all, &n.partition_columns())
            .await?;
    }
    Ok((
        Status::Success,
        format!("MICROBATCH {batches} batches, {total} rows"),
        Some(total),
        None,
    ))
}
