//! Materializations of models: contracts and constraints checked before the write, then the
//! view, table or incremental strategy as one table commit.

#[allow(unused_imports)]
use super::*;
use crate::diagnostics::Code;

pub(super) async fn materialize(
    engine: &Engine,
    n: &Node,
    sql: &str,
    full_refresh: bool,
) -> Result<Outcome> {
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

pub(super) async fn write_model(
    engine: &Engine,
    n: &Node,
    sql: &str,
    full_refresh: bool,
) -> Result<Outcome> {
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
                        Code::E521,
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
            Code::E522,
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
pub(super) fn type_matches(
    declared: &str,
    actual: &datafusion::arrow::datatypes::DataType,
) -> Option<bool> {
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
pub(super) async fn check_contract(engine: &Engine, n: &Node, sql: &str) -> Result<()> {
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
            Code::E525,
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
            return Err(Diagnostic::error(Code::E525, format!("model '{}' breaks its not_null constraint: {nulls} row(s) with NULL in '{name}'", n.name))
                .help("nothing was written; fix the data or the model")
                .into());
        }
    }
    Ok(())
}
