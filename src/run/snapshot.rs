//! Snapshots: type-2 history tables, written as one commit per run.

#[allow(unused_imports)]
use super::*;
use crate::diagnostics::Code;

/// A snapshot (type-2 history, dbt's `timestamp` and `check` strategies): the first run copies
/// the query with `dbt_scd_id`, `dbt_updated_at`, `dbt_valid_from`, `dbt_valid_to`; later runs
/// close the current version of changed rows (and of deleted rows with `hard_deletes:
/// invalidate`) and add new versions. The new state is written as one table commit.
pub(super) async fn snapshot(engine: &Engine, n: &Node, sql: &str) -> Result<Outcome> {
    let schema = n.schema.as_str();
    let name = n.alias.as_str();
    let keys = as_string_list(n.config.get("unique_key"));
    if keys.is_empty() {
        return Err(Diagnostic::error(
            Code::E523,
            format!("snapshot '{}' has no unique_key", n.name),
        )
        .help("set unique_key in the snapshot's config")
        .into());
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
                    Code::E523,
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
                Code::E523,
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
    // The new rows are compared with and unioned to the table's rows: their values must have
    // the types the plan declared, which DataFusion's operators do not always produce (decimal
    // precision and scale after `round`, `avg`, ...; a union of inputs of two types panics in
    // DataFusion 53, a comparison fails).
    let src = format!(
        "src as (select {} from (\n{sql}\n) weir_src)",
        columns
            .iter()
            .map(|c| format!("weir_as_planned(weir_src.{0}) as {0}", quote(c)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !engine.exists(schema, name) {
        let first = format!("with {src}\n{}", new_version("from src"));
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
        "with {src},\ncur as (select * from {target} where dbt_valid_to is null),\nclosing as ({closing})\n\
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
