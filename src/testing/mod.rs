//! Unit tests (`unit_tests:` in YAML): the model's SQL runs against the `given` rows instead of
//! its real inputs, and its result must equal the `expect` rows (on the expected columns).
//! Inputs may list only the columns the test needs: the others are NULL, typed from the real
//! relation. Rows come as dicts, CSV or SQL.

use std::time::Instant;

use datafusion::arrow::datatypes::DataType;
use serde_json::{Map, Value as Json};

use crate::compile::{Compiled, UnitInput, UnitTestPlan};
use crate::diagnostics::{Diagnostic, Result};
use crate::engine::Engine;
use crate::run::{NodeResult, Status};

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
                .map_err(|e| Diagnostic::error("E601", format!("{what}: bad CSV: {e}")))?
                .iter()
                .map(|h| h.trim().to_string())
                .collect();
            let mut out = Vec::new();
            for rec in reader.records() {
                let rec =
                    rec.map_err(|e| Diagnostic::error("E601", format!("{what}: bad CSV: {e}")))?;
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
            "E601",
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

async fn input_sql(engine: &Engine, input: &UnitInput, test: &str) -> Result<String> {
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
        for r in &rows {
            for k in r.keys() {
                if !columns.iter().any(|(c, _)| c == k) {
                    columns.push((k.clone(), None));
                }
            }
        }
    }
    Ok(rows_sql(&rows, &columns))
}

async fn run_one(
    engine: &Engine,
    compiled: &Compiled,
    plan: &UnitTestPlan,
) -> Result<(Status, String)> {
    let mut ctes = Vec::new();
    for input in &plan.inputs {
        ctes.push((
            input.cte.clone(),
            input_sql(engine, input, &plan.name).await?,
        ));
    }
    // Ephemeral parents that were not given still come in as CTEs.
    if let Some(model) = compiled
        .manifest
        .nodes
        .values()
        .find(|n| n.name == plan.model && n.resource_type == crate::parse::ResourceType::Model)
    {
        for dep in &model.depends_on_nodes {
            if let Some(d) = compiled
                .manifest
                .nodes
                .get(dep)
                .filter(|d| d.is_ephemeral())
            {
                let name = format!("__dbt__cte__{}", d.name);
                if plan.model_sql.contains(&name) {
                    ctes.push((name, d.compiled_code.clone().unwrap_or_default()));
                }
            }
        }
    }
    let actual_model = crate::sql::inject_ctes(&plan.model_sql, &ctes);
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
                            return Err(Diagnostic::error("E603", format!("unit test '{}' expects a column '{k}' that model '{}' does not return", plan.name, plan.model))
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
    let mut msg = format!(
        "actual rows differ from expected (columns: {})",
        columns.join(", ")
    );
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

/// Run the selected unit tests; results in the executor's shape.
pub async fn run_unit_tests(
    engine: &Engine,
    compiled: &Compiled,
    selected: &std::collections::BTreeSet<String>,
) -> Vec<NodeResult> {
    let mut out = Vec::new();
    for plan in compiled
        .unit_tests
        .iter()
        .filter(|p| selected.contains(&p.unique_id))
    {
        let start = Instant::now();
        let (status, message, error) = match run_one(engine, compiled, plan).await {
            Ok((s, m)) => (s, m, None),
            Err(e) => (
                Status::Error,
                e.diagnostic().message.clone(),
                Some(e.diagnostic().clone()),
            ),
        };
        out.push(NodeResult {
            unique_id: plan.unique_id.clone(),
            status,
            message,
            seconds: start.elapsed().as_secs_f64(),
            rows: None,
            failures: None,
            error,
        });
    }
    out
}
