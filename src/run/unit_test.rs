//! Unit tests (`unit_tests:` in YAML): the model's SQL runs against the `given` rows instead of
//! its real inputs, and its result must equal the `expect` rows (on the expected columns).
//! Inputs may list only the columns the test needs: the others are NULL, typed from the real
//! relation. Rows come as dicts, CSV or SQL.
//!
//! Final-state expectations (a weir extension, dbt-core issue #8664): a unit test of an
//! incremental model with `config: {meta: {expect_final_state: true}}`, `this` given and
//! `overrides: {macros: {is_incremental: true}}` expects the table's rows AFTER the model's
//! incremental strategy (append, merge, delete+insert, insert_overwrite) is applied to the
//! `this` rows, honouring `unique_key`, `merge_update_columns`/`merge_exclude_columns`,
//! `partition_by` and `on_schema_change`, instead of the rows the SELECT returns.

use std::time::Instant;

use datafusion::arrow::datatypes::DataType;
use serde_json::{Map, Value as Json};

use super::{NodeResult, Status};
use crate::compile::{Compiled, UnitInput, UnitTestPlan};
use crate::diagnostics::{Code, Diagnostic, Result};
use crate::engine::Engine;
use crate::parse::Node;
use crate::project::config::{as_string_list, get_str};

fn literal(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => format!("'{}'", other.to_string().replace('\'', "''")),
    }
}

/// Rows of a `given` or `expect` as dicts: dict rows as they are, CSV parsed (values as text).
fn dict_rows(format: &str, rows: &Json, what: &str) -> Result<Vec<Map<String, Json>>> {
    match (format, rows) {
        ("dict", Json::Array(items)) => Ok(items
            .iter()
            .filter_map(|r| r.as_object().cloned())
            .collect()),
        ("csv", Json::String(text)) => {
            let mut reader = csv::ReaderBuilder::new().from_reader(text.trim().as_bytes());
            let headers: Vec<String> = reader
                .headers()
                .map_err(|e| Diagnostic::error(Code::E601, format!("{what}: bad CSV: {e}")))?
                .iter()
                .map(|h| h.trim().to_string())
                .collect();
            let mut out = Vec::new();
            for rec in reader.records() {
                let rec = rec
                    .map_err(|e| Diagnostic::error(Code::E601, format!("{what}: bad CSV: {e}")))?;
                out.push(
                    headers
                        .iter()
                        .cloned()
                        .zip(rec.iter().map(|v| {
                            if v.is_empty() {
                                Json::Null
                            } else {
                                Json::String(v.to_string())
                            }
                        }))
                        .collect(),
                );
            }
            Ok(out)
        }
        (f, _) => Err(Diagnostic::error(
            Code::E601,
            format!(
                "{what}: rows of format '{f}' must be {}",
                if f == "csv" {
                    "a CSV string"
                } else {
                    "a list of mappings"
                }
            ),
        )
        .help(
            "formats: dict (a list of mappings), csv (a string with a header line), sql (a query)",
        )
        .into()),
    }
}

/// A SELECT producing `rows` with exactly `columns` (name, type); missing values are NULL.
fn rows_sql(rows: &[Map<String, Json>], columns: &[(String, Option<DataType>)]) -> String {
    let select = |row: Option<&Map<String, Json>>| -> String {
        columns
            .iter()
            .map(|(c, t)| {
                let v = row
                    .and_then(|r| {
                        r.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(c))
                            .map(|(_, v)| v)
                    })
                    .unwrap_or(&Json::Null);
                match t {
                    Some(t) => format!(
                        "cast({} as {}) as \"{c}\"",
                        literal(v),
                        crate::engine::sql_type(t)
                    ),
                    None => format!("{} as \"{c}\"", literal(v)),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if rows.is_empty() {
        return format!("select {} where false", select(None));
    }
    rows.iter()
        .map(|r| format!("select {}", select(Some(r))))
        .collect::<Vec<_>>()
        .join("\nunion all\n")
}

async fn input_sql(
    engine: &Engine,
    input: &UnitInput,
    test: &str,
    typed_by: Option<&datafusion::arrow::datatypes::Schema>,
) -> Result<String> {
    if input.format == "sql" {
        return Ok(input.rows.as_str().unwrap_or_default().to_string());
    }
    let rows = dict_rows(
        &input.format,
        &input.rows,
        &format!("unit test '{test}', input {}", input.cte),
    )?;
    // Columns and types from the real relation when it exists, else from the rows.
    let mut columns: Vec<(String, Option<DataType>)> = match &input.relation {
        Some((schema, name)) if engine.exists(schema, name) => engine
            .columns(schema, name)
            .await?
            .into_iter()
            .map(|(c, t)| (c, Some(t)))
            .collect(),
        _ => Vec::new(),
    };
    if columns.is_empty() {
        // No relation yet: the columns the rows name, typed like the same-named columns of
        // `typed_by` (the model's output, for `this` in a final-state test) when given.
        for r in &rows {
            for k in r.keys() {
                if !columns.iter().any(|(c, _)| c == k) {
                    let t = typed_by.and_then(|s| {
                        s.fields()
                            .iter()
                            .find(|f| f.name().eq_ignore_ascii_case(k))
                            .map(|f| f.data_type().clone())
                    });
                    columns.push((k.clone(), t));
                }
            }
        }
    }
    Ok(rows_sql(&rows, &columns))
}

/// A unit test ready to run on its own (in a worker of the DAG scheduler): its plan and what it
/// needs from the manifest.
#[derive(Debug, Clone)]
pub(super) struct UnitTest {
    pub plan: UnitTestPlan,
    /// The model under test.
    model: Option<Node>,
    /// Ephemeral parents of the model the test does not give, as CTEs (name, SQL).
    ephemerals: Vec<(String, String)>,
    /// `Some(is_incremental)` for a final-state test.
    final_state: Option<bool>,
}

impl UnitTest {
    pub(super) fn new(compiled: &Compiled, plan: &UnitTestPlan) -> UnitTest {
        let model = compiled
            .manifest
            .nodes
            .values()
            .find(|n| n.name == plan.model && n.resource_type == crate::parse::ResourceType::Model)
            .map(|n| (**n).clone());
        // Ephemeral parents that were not given still come in as CTEs.
        let mut ephemerals = Vec::new();
        for dep in model.iter().flat_map(|m| &m.depends_on_nodes) {
            if let Some(d) = compiled
                .manifest
                .nodes
                .get(dep)
                .filter(|d| d.is_ephemeral())
            {
                let name = format!("__dbt__cte__{}", d.name);
                if plan.model_sql.contains(&name) {
                    ephemerals.push((name, d.compiled_code.clone().unwrap_or_default()));
                }
            }
        }
        let final_state = compiled
            .manifest
            .unit_tests
            .get(&plan.unique_id)
            .filter(|u| wants_final_state(&u.config))
            .map(|u| {
                u.overrides
                    .as_ref()
                    .and_then(|o| o.get("macros"))
                    .and_then(|m| m.get("is_incremental"))
                    .and_then(Json::as_bool)
                    .unwrap_or(false)
            });
        UnitTest {
            plan: plan.clone(),
            model,
            ephemerals,
            final_state,
        }
    }

    /// Run it against what the warehouse holds now; the result in the executor's shape.
    pub(super) async fn run(&self, engine: &Engine) -> NodeResult {
        let start = Instant::now();
        let (status, message, error) = match run_one(engine, self).await {
            Ok((s, m)) => (s, m, None),
            Err(e) => (
                Status::Error,
                e.diagnostic().message.clone(),
                Some(e.diagnostic().clone()),
            ),
        };
        NodeResult {
            unique_id: self.plan.unique_id.clone(),
            status,
            message,
            seconds: start.elapsed().as_secs_f64(),
            rows: None,
            failures: None,
            error,
        }
    }
}

async fn run_one(engine: &Engine, unit: &UnitTest) -> Result<(Status, String)> {
    let plan = &unit.plan;
    if let Some(e) = &plan.error {
        return Err(e.clone().into());
    }
    let mut ctes = Vec::new();
    for input in &plan.inputs {
        ctes.push((
            input.cte.clone(),
            input_sql(engine, input, &plan.name, None).await?,
        ));
    }
    ctes.extend(unit.ephemerals.iter().cloned());
    let mut actual_model = crate::sql::inject_ctes(&plan.model_sql, &ctes);
    let mut strategy_label = None;
    if let Some(incremental) = unit.final_state {
        let model = unit.model.as_ref().ok_or_else(|| {
            Diagnostic::error(
                Code::E604,
                format!(
                    "unit test '{}': model '{}' not found",
                    plan.name, plan.model
                ),
            )
        })?;
        let (sql, label) =
            final_state_sql(engine, plan, model, &mut ctes, actual_model, incremental).await?;
        actual_model = sql;
        strategy_label = Some(label);
    }
    let expect = if plan.expect_format == "sql" {
        None
    } else {
        Some(dict_rows(
            &plan.expect_format,
            &plan.expect_rows,
            &format!("unit test '{}', expect", plan.name),
        )?)
    };
    let actual_schema = engine.schema_of(&actual_model).await.map_err(|e| {
        e.diagnostic().clone().note(format!(
            "while running the model of unit test '{}'",
            plan.name
        ))
    })?;
    let (expected_sql, columns): (String, Vec<String>) = match &expect {
        Some(rows) => {
            let mut cols: Vec<(String, Option<DataType>)> = Vec::new();
            for r in rows {
                for k in r.keys() {
                    if !cols.iter().any(|(c, _)| c == k) {
                        let t = actual_schema
                            .fields()
                            .iter()
                            .find(|f| f.name().eq_ignore_ascii_case(k))
                            .map(|f| f.data_type().clone());
                        if t.is_none() {
                            return Err(Diagnostic::error(Code::E603, format!("unit test '{}' expects a column '{k}' that model '{}' does not return", plan.name, plan.model))
                                .note(format!("the model returns: {}", actual_schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")))
                                .into());
                        }
                        cols.push((k.clone(), t));
                    }
                }
            }
            (
                rows_sql(rows, &cols),
                cols.into_iter().map(|(c, _)| c).collect(),
            )
        }
        None => (
            plan.expect_rows.as_str().unwrap_or_default().to_string(),
            actual_schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
        ),
    };
    let col_list = columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let actual = format!("select {col_list} from (\n{actual_model}\n) weir_actual");
    let expected = format!("select {col_list} from (\n{expected_sql}\n) weir_expected");
    let missing = engine
        .query_result(&format!("{expected} except all {actual}"))
        .await?;
    let unexpected = engine
        .query_result(&format!("{actual} except all {expected}"))
        .await?;
    if missing.rows.is_empty() && unexpected.rows.is_empty() {
        return Ok((Status::Pass, "PASS".into()));
    }
    let show = |r: &crate::jinja::objects::QueryResult| -> String {
        r.rows
            .iter()
            .take(10)
            .map(|row| {
                format!(
                    "    ({})",
                    row.iter()
                        .map(|v| if v.is_null() {
                            "NULL".into()
                        } else {
                            v.to_string()
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut msg = match &strategy_label {
        Some(how) => format!(
            "the table's final state ({how}) differs from expected (columns: {})",
            columns.join(", ")
        ),
        None => format!(
            "actual rows differ from expected (columns: {})",
            columns.join(", ")
        ),
    };
    if !missing.rows.is_empty() {
        msg.push_str(&format!(
            "\n  - missing (expected, not returned):\n{}",
            show(&missing)
        ));
    }
    if !unexpected.rows.is_empty() {
        msg.push_str(&format!(
            "\n  + unexpected (returned, not expected):\n{}",
            show(&unexpected)
        ));
    }
    Ok((Status::Fail, msg))
}

/// `config: {meta: {expect_final_state: true}}` on a unit test.
fn wants_final_state(config: &crate::project::config::Config) -> bool {
    match config.get("meta").and_then(|m| m.get("expect_final_state")) {
        Some(Json::Bool(b)) => *b,
        Some(Json::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn quote(c: &str) -> String {
    format!("\"{}\"", c.replace('"', "\"\""))
}

/// The SQL of the table's final state for a final-state unit test: the model's incremental
/// strategy applied to the `this` rows and the model's output (`model_sql`, with its inputs
/// injected). Without `is_incremental` the model rebuilds the table, so the output is the final
/// state. Returns the SQL and a short description of what was applied.
async fn final_state_sql(
    engine: &Engine,
    plan: &UnitTestPlan,
    model: &Node,
    ctes: &mut [(String, String)],
    model_sql: String,
    incremental: bool,
) -> Result<(String, String)> {
    let err = |msg: String| -> crate::diagnostics::Error {
        Diagnostic::error(Code::E604, format!("unit test '{}': {msg}", plan.name)).into()
    };
    if model.materialized() != "incremental" {
        return Err(err(format!(
            "expect_final_state needs an incremental model; '{}' is materialized as {}",
            model.name,
            model.materialized()
        )));
    }
    if !incremental {
        return Ok((
            model_sql,
            "full build: the model's rows replace the table".into(),
        ));
    }
    // `this` is the input whose relation is the model's own.
    let this_index = plan
        .inputs
        .iter()
        .position(|i| i.relation.as_ref() == Some(&(model.schema.clone(), model.alias.clone())))
        .ok_or_else(|| {
            crate::diagnostics::Error::from(
                Diagnostic::error(
                    Code::E604,
                    format!(
                        "unit test '{}' expects a final state but gives no rows for `this`",
                        plan.name
                    ),
                )
                .help("add `- input: this` with the table's rows before the run to `given`"),
            )
        })?;
    let this_input = &plan.inputs[this_index];
    let mut model_sql = model_sql;
    if this_input.format != "sql" && !engine.exists(&model.schema, &model.alias) {
        // No table yet: type the given `this` rows like the model's output columns.
        let out = engine.schema_of(&model_sql).await?;
        let typed = input_sql(engine, this_input, &plan.name, Some(out.as_ref())).await?;
        if let Some(c) = ctes.iter_mut().find(|(name, _)| *name == this_input.cte) {
            c.1 = typed;
        }
        model_sql = crate::sql::inject_ctes(&plan.model_sql, ctes);
    }
    let this_sql = ctes
        .iter()
        .find(|(name, _)| *name == this_input.cte)
        .map(|(_, sql)| sql.clone())
        .unwrap_or_default();
    let target_ref = engine.schema_of(&this_sql).await?;
    let source_ref = engine.schema_of(&model_sql).await?;
    let (target, source) = (target_ref.as_ref(), source_ref.as_ref());
    let find = |s: &datafusion::arrow::datatypes::Schema, c: &str| {
        s.fields()
            .iter()
            .find(|f| f.name().eq_ignore_ascii_case(c))
            .cloned()
    };

    // The table's columns after on_schema_change.
    let mode = get_str(&model.config, "on_schema_change").unwrap_or("ignore");
    let added: Vec<_> = source
        .fields()
        .iter()
        .filter(|f| find(target, f.name()).is_none())
        .cloned()
        .collect();
    let removed: Vec<String> = target
        .fields()
        .iter()
        .filter(|f| find(source, f.name()).is_none())
        .map(|f| f.name().clone())
        .collect();
    let mut columns: Vec<(String, DataType)> = Vec::new();
    match mode {
        "ignore" => {}
        "fail" if added.is_empty() && removed.is_empty() => {}
        "fail" => {
            return Err(err(format!(
                "the model's columns differ from `this` (new: [{}]; missing: [{}]) and on_schema_change is 'fail', so the run would fail",
                added.iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", "),
                removed.join(", ")
            )))
        }
        "append_new_columns" | "sync_all_columns" => {}
        other => return Err(err(format!("unknown on_schema_change '{other}'"))),
    }
    for f in target.fields() {
        if mode == "sync_all_columns" && removed.contains(f.name()) {
            continue;
        }
        columns.push((f.name().clone(), f.data_type().clone()));
    }
    if matches!(mode, "append_new_columns" | "sync_all_columns") {
        columns.extend(
            added
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone())),
        );
    }
    let typed =
        |side: &str, schema: &datafusion::arrow::datatypes::Schema, c: &str, t: &DataType| {
            let ty = crate::engine::sql_type(t);
            match find(schema, c) {
                Some(f) => format!("cast({side}.{} as {ty})", quote(f.name())),
                None => format!("cast(null as {ty})"),
            }
        };
    let from_target = |c: &str, t: &DataType| typed("t", target, c, t);
    let from_source = |c: &str, t: &DataType| typed("s", source, c, t);
    let list = |f: &dyn Fn(&str, &DataType) -> String| {
        columns
            .iter()
            .map(|(c, t)| format!("{} as {}", f(c, t), quote(c)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let t_rel = format!("(\n{this_sql}\n)");
    let s_rel = format!("(\n{model_sql}\n)");
    let resolve = |keys: &[String], what: &str| -> Result<Vec<String>> {
        keys.iter()
            .map(|k| {
                let in_t = find(target, k);
                let in_s = find(source, k);
                match (in_t, in_s) {
                    (Some(t), Some(s)) => {
                        Ok(format!("s.{} = t.{}", quote(s.name()), quote(t.name())))
                    }
                    _ => Err(err(format!(
                        "{what} column '{k}' must be in both `this` and the model's output"
                    ))),
                }
            })
            .collect()
    };
    let append = || {
        format!(
            "select {} from {t_rel} t\nunion all\nselect {} from {s_rel} s",
            list(&from_target),
            list(&from_source)
        )
    };
    // Target rows no new row replaces (matched on `on`), then `inserted`.
    let replace = |on: &[String], inserted: String| {
        format!(
            "select {} from {t_rel} t where not exists (select 1 from {s_rel} s where {})\nunion all\n{inserted}",
            list(&from_target),
            on.join(" and ")
        )
    };
    let unique_key = as_string_list(model.config.get("unique_key"));
    let strategy = model.incremental_strategy();
    let keys_label = unique_key.join(", ");
    let sql = match strategy {
        "append" => append(),
        "merge" | "delete+insert" if unique_key.is_empty() => append(),
        "merge" => {
            let on = resolve(&unique_key, "unique_key")?;
            // A merge refuses new data with duplicate keys (as the run does).
            let key_cols = unique_key.iter().map(|k| quote(k)).collect::<Vec<_>>().join(", ");
            let dup = engine
                .query_result(&format!(
                    "select {key_cols} from {s_rel} s group by {key_cols} having count(*) > 1 limit 1"
                ))
                .await?;
            if !dup.rows.is_empty() {
                return Err(err(format!(
                    "the model returns more than one row for a unique_key ({keys_label}) value, so the merge would fail"
                )));
            }
            let lower = |v: Vec<String>| v.into_iter().map(|c| c.to_lowercase()).collect::<Vec<_>>();
            let update: Vec<String> = match (
                model.config.get("merge_update_columns"),
                model.config.get("merge_exclude_columns"),
            ) {
                (Some(u), _) => lower(as_string_list(Some(u))),
                (None, Some(x)) => {
                    let x = lower(as_string_list(Some(x)));
                    source
                        .fields()
                        .iter()
                        .map(|f| f.name().to_lowercase())
                        .filter(|c| !x.contains(c))
                        .collect()
                }
                (None, None) => source.fields().iter().map(|f| f.name().to_lowercase()).collect(),
            };
            let merged = columns
                .iter()
                .map(|(c, t)| {
                    let expr = if update.contains(&c.to_lowercase()) && find(source, c).is_some() {
                        from_source(c, t)
                    } else {
                        format!(
                            "case when t.__weir_matched then {} else {} end",
                            from_target(c, t),
                            from_source(c, t)
                        )
                    };
                    format!("{expr} as {}", quote(c))
                })
                .collect::<Vec<_>>()
                .join(", ");
            replace(
                &on,
                format!(
                    "select {merged} from {s_rel} s left join (select *, true as __weir_matched from {t_rel} weir_this) t on {}",
                    on.join(" and ")
                ),
            )
        }
        "delete+insert" => {
            let on = resolve(&unique_key, "unique_key")?;
            replace(&on, format!("select {} from {s_rel} s", list(&from_source)))
        }
        "insert_overwrite" => {
            let partitions = model.partition_columns();
            let inserted = format!("select {} from {s_rel} s", list(&from_source));
            if partitions.is_empty() {
                inserted
            } else {
                let on: Vec<String> = resolve(&partitions, "partition_by")?
                    .into_iter()
                    .map(|eq| eq.replacen(" = ", " is not distinct from ", 1))
                    .collect();
                replace(&on, inserted)
            }
        }
        other => {
            return Err(crate::diagnostics::Error::from(
                Diagnostic::error(
                    Code::E604,
                    format!(
                        "unit test '{}': a final state cannot be computed for incremental_strategy '{other}'",
                        plan.name
                    ),
                )
                .help("final-state expectations support append, merge, delete+insert and insert_overwrite; remove expect_final_state to check the rows the model returns"),
            ))
        }
    };
    let label = match strategy {
        "merge" | "delete+insert" if !unique_key.is_empty() => {
            format!("{strategy} on {keys_label} into `this`")
        }
        other => format!("{other} into `this`"),
    };
    Ok((sql, label))
}
