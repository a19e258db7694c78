//! Semantics that dbt projects written for DuckDB (and most warehouses) rely on and DataFusion
//! does differently.
//!
//! Interval arithmetic: dbt's cross-database date macros write `n * interval '1 day'` and
//! `'2024-01-01' + interval '1 day'`, which DataFusion rejects; `number * interval` becomes
//! `weir_interval_mul(number, interval)` and a string next to an interval is read as a timestamp.
//!
//! Integer division: `7 / 2` is 3.5 in DuckDB, Snowflake, BigQuery and Spark, and 3 in
//! DataFusion (and PostgreSQL). jaffle_shop's `amount / 100` turns cents into dollars that way,
//! so weir divides integers as floating point, after type coercion, wherever `/` has two
//! integer operands. `div(a, b)` or `cast(a / b as bigint)` still give an integer.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::expr::BinaryExpr;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{cast, Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::optimizer::AnalyzerRule;

/// Plan SQL the way weir's engine reads it: parsed, warehouse spellings rewritten in the AST,
/// planned, then the plan rewritten (see the module's comment).
pub(crate) async fn plan_sql(
    state: &datafusion::execution::context::SessionState,
    sql: &str,
) -> Result<LogicalPlan> {
    let dialect = state.config().options().sql_parser.dialect;
    let mut statement = state.sql_to_statement(sql, &dialect)?;
    if let datafusion::sql::parser::Statement::Statement(s) = &mut statement {
        rewrite_ast(s);
    }
    let plan = state.statement_to_plan(statement).await?;
    rewrite_plan(plan, state.config_options())
}

/// Rewrites on the SQL AST, for spellings DataFusion cannot even plan:
/// `n * interval '...'`, `'2024-01-01' + interval '...'`, `listagg`/`group_concat`,
/// `date(x)`, `dateadd(part, n, x)`, `datediff(part, a, b)`, `parse_json(x)`.
pub(crate) fn rewrite_ast(statement: &mut sqlparser::ast::Statement) {
    let _ = sqlparser::ast::visit_expressions_mut(statement, |e| {
        if let Some(new) = rewrite_sql_expr(e) {
            *e = new;
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

fn parse_expr(text: &str) -> Option<sqlparser::ast::Expr> {
    sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
        .try_with_sql(text)
        .ok()?
        .parse_expr()
        .ok()
}

fn rewrite_sql_expr(e: &sqlparser::ast::Expr) -> Option<sqlparser::ast::Expr> {
    use sqlparser::ast::{
        BinaryOperator as Op, Expr as E, FunctionArg, FunctionArgExpr, FunctionArguments, Value,
    };
    let is_interval = |x: &E| {
        matches!(x, E::Interval(_))
            || matches!(x, E::Nested(inner) if matches!(**inner, E::Interval(_)))
    };
    let is_string =
        |x: &E| matches!(x, E::Value(v) if matches!(v.value, Value::SingleQuotedString(_)));
    match e {
        // `varchar(n)`, `character varying(n)`, `char(n)`: DuckDB ignores the length (and has
        // no fixed-width strings); DataFusion refuses some of these spellings.
        E::Cast {
            kind,
            expr,
            data_type:
                sqlparser::ast::DataType::CharacterVarying(Some(_))
                | sqlparser::ast::DataType::Character(_)
                | sqlparser::ast::DataType::Char(_)
                | sqlparser::ast::DataType::Nvarchar(_),
            array,
            format,
        } => Some(E::Cast {
            kind: kind.clone(),
            expr: expr.clone(),
            data_type: sqlparser::ast::DataType::Varchar(None),
            array: *array,
            format: format.clone(),
        }),
        E::BinaryOp {
            left,
            op: Op::Multiply,
            right,
        } if is_interval(left) || is_interval(right) => {
            let (n, iv) = if is_interval(right) {
                (left, right)
            } else {
                (right, left)
            };
            parse_expr(&format!("weir_interval_mul({n}, {iv})"))
        }
        E::BinaryOp {
            left,
            op: op @ (Op::Plus | Op::Minus),
            right,
        } if is_string(left) && is_interval(right) => {
            parse_expr(&format!("(cast({left} as timestamp) {op} {right})"))
        }
        E::Function(f) => {
            let name = f.name.to_string().to_lowercase();
            let FunctionArguments::List(list) = &f.args else {
                return None;
            };
            let args: Vec<String> = list
                .args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => Some(x.to_string()),
                    _ => None,
                })
                .collect::<Option<_>>()?;
            match (name.as_str(), args.as_slice()) {
                ("listagg" | "group_concat", [x]) => parse_expr(&format!(
                    "string_agg({}{x}, ','{})",
                    distinct(list),
                    order_by(f)
                )),
                ("listagg" | "group_concat", [x, sep]) => parse_expr(&format!(
                    "string_agg({}{x}, {sep}{})",
                    distinct(list),
                    order_by(f)
                )),
                ("date", [x]) => parse_expr(&format!("cast({x} as date)")),
                // DuckDB's names for splitting a string into a list.
                ("string_split" | "str_split" | "string_to_array", [x, sep]) => {
                    parse_expr(&format!("string_to_array({x}, {sep})"))
                        .filter(|_| name != "string_to_array")
                }
                // `count(distinct a, b)` (Snowflake, MySQL): distinct combinations of values
                // that are all non-NULL.
                ("count", [_, _, ..]) if list.duplicate_treatment.is_some() => {
                    let all_set = args
                        .iter()
                        .map(|a| format!("{a} is not null"))
                        .collect::<Vec<_>>()
                        .join(" and ");
                    parse_expr(&format!(
                        "count(distinct case when {all_set} then ({}) end)",
                        args.join(", ")
                    ))
                }
                ("parse_json" | "try_parse_json", [x]) => {
                    parse_expr(&format!("cast({x} as varchar)"))
                }
                ("datediff" | "timestampdiff", [part, a, b]) => {
                    let part = part.trim_matches(|c| c == '\'' || c == '"').to_lowercase();
                    let years = format!("(extract(year from {b}) - extract(year from {a}))");
                    let seconds = format!(
                        "extract(epoch from (cast({b} as timestamp) - cast({a} as timestamp)))"
                    );
                    let days = format!("(cast({b} as date) - cast({a} as date))");
                    let expr = match part.as_str() {
                        "year" => years,
                        "quarter" => format!(
                            "({years} * 4 + extract(quarter from {b}) - extract(quarter from {a}))"
                        ),
                        "month" => format!(
                            "({years} * 12 + extract(month from {b}) - extract(month from {a}))"
                        ),
                        "week" => format!("({days} / 7)"),
                        "day" => days,
                        "hour" => format!("({seconds} / 3600)"),
                        "minute" => format!("({seconds} / 60)"),
                        "second" => seconds,
                        _ => return None,
                    };
                    parse_expr(&format!("cast({expr} as bigint)"))
                }
                ("dateadd" | "timestampadd", [part, n, x]) => {
                    let part = part.trim_matches(|c| c == '\'' || c == '"').to_lowercase();
                    parse_expr(&format!(
                        "({x} + weir_interval_mul({n}, interval '1 {part}'))"
                    ))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn distinct(list: &sqlparser::ast::FunctionArgumentList) -> &'static str {
    if list.duplicate_treatment.is_some() {
        "distinct "
    } else {
        ""
    }
}

/// Snowflake's `listagg(x, ',') within group (order by y)` as string_agg's own ORDER BY.
fn order_by(f: &sqlparser::ast::Function) -> String {
    if f.within_group.is_empty() {
        String::new()
    } else {
        format!(
            " order by {}",
            f.within_group
                .iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Rewrite a freshly planned query (before DataFusion's own analysis) so its schema already
/// says what it will produce: writers (Delta) take the declared schema from the plan.
pub(crate) fn rewrite_plan(plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
    let plan = FloatDivision.analyze(plan, config)?;
    // Decimal arithmetic typed as DuckDB types it, before coercion (so what is coerced around
    // it sees the final types) and here, so that a DataFrame's schema, which writes cast to,
    // has them.
    use super::duckdb_types::DuckDbDecimals;
    let coercion = datafusion::optimizer::analyzer::type_coercion::TypeCoercion::new();
    let plan = DuckDbDecimals {
        before_coercion: true,
    }
    .analyze(plan, config)?;
    let plan = coercion.analyze(plan, config)?;
    let plan = DuckDbDecimals {
        before_coercion: false,
    }
    .analyze(plan, config)?;
    coercion.analyze(plan, config)
}

#[derive(Debug, Default)]
pub(crate) struct FloatDivision;

/// `n * interval` (either order) as one interval: months, days and nanoseconds each times n.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct IntervalMul {
    signature: datafusion::logical_expr::Signature,
}

impl IntervalMul {
    pub(crate) fn udf() -> std::sync::Arc<datafusion::logical_expr::ScalarUDF> {
        static UDF: std::sync::OnceLock<std::sync::Arc<datafusion::logical_expr::ScalarUDF>> =
            std::sync::OnceLock::new();
        UDF.get_or_init(|| {
            std::sync::Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
                IntervalMul {
                    signature: datafusion::logical_expr::Signature::any(
                        2,
                        datafusion::logical_expr::Volatility::Immutable,
                    ),
                },
            ))
        })
        .clone()
    }
}

impl datafusion::logical_expr::ScalarUDFImpl for IntervalMul {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn name(&self) -> &str {
        "weir_interval_mul"
    }
    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Interval(
            datafusion::arrow::datatypes::IntervalUnit::MonthDayNano,
        ))
    }
    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> Result<datafusion::logical_expr::ColumnarValue> {
        use datafusion::arrow::array::{Array, AsArray, IntervalMonthDayNanoArray};
        use datafusion::arrow::datatypes::{
            Float64Type, IntervalMonthDayNano, IntervalMonthDayNanoType,
        };
        let rows = args.number_rows;
        let arrays = datafusion::logical_expr::ColumnarValue::values_to_arrays(&args.args)?;
        let n = datafusion::arrow::compute::cast(&arrays[0], &DataType::Float64)?;
        let n = n.as_primitive::<Float64Type>();
        let iv = datafusion::arrow::compute::cast(
            &arrays[1],
            &DataType::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano),
        )?;
        let iv = iv.as_primitive::<IntervalMonthDayNanoType>();
        let out: IntervalMonthDayNanoArray = (0..rows.max(n.len()))
            .map(|i| {
                let (a, b) = (i.min(n.len() - 1), i.min(iv.len() - 1));
                if n.is_null(a) || iv.is_null(b) {
                    return None;
                }
                let (k, v) = (n.value(a), iv.value(b));
                Some(IntervalMonthDayNano {
                    months: (v.months as f64 * k).round() as i32,
                    days: (v.days as f64 * k).round() as i32,
                    nanoseconds: (v.nanoseconds as f64 * k).round() as i64,
                })
            })
            .collect();
        Ok(datafusion::logical_expr::ColumnarValue::Array(
            std::sync::Arc::new(out),
        ))
    }
}

fn rewrite_expr(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    expr.transform_up(|e| {
        if let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e {
            let (lt, rt) = (left.get_type(schema)?, right.get_type(schema)?);
            let is_interval = |t: &DataType| matches!(t, DataType::Interval(_));
            let is_number = |t: &DataType| t.is_numeric();
            let is_string = |t: &DataType| {
                matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
            };
            if *op == Operator::Multiply
                && (is_number(&lt) && is_interval(&rt) || is_interval(&lt) && is_number(&rt))
            {
                let (n, iv) = if is_number(&lt) {
                    (left, right)
                } else {
                    (right, left)
                };
                return Ok(Transformed::yes(
                    IntervalMul::udf().call(vec![(**n).clone(), (**iv).clone()]),
                ));
            }
            if matches!(op, Operator::Plus | Operator::Minus)
                && (is_string(&lt) && is_interval(&rt) || is_interval(&lt) && is_string(&rt))
            {
                let ts =
                    DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Nanosecond, None);
                let (l, r) = if is_string(&lt) {
                    (cast((**left).clone(), ts), (**right).clone())
                } else {
                    ((**left).clone(), cast((**right).clone(), ts))
                };
                return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                    Box::new(l),
                    *op,
                    Box::new(r),
                ))));
            }
        }
        if let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Divide,
            right,
        }) = &e
        {
            let (lt, rt) = (left.get_type(schema)?, right.get_type(schema)?);
            if lt.is_integer() && rt.is_integer() {
                let l = cast((**left).clone(), DataType::Float64);
                let r = cast((**right).clone(), DataType::Float64);
                return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                    Box::new(l),
                    Operator::Divide,
                    Box::new(r),
                ))));
            }
        }
        Ok(Transformed::no(e))
    })
}

impl AnalyzerRule for FloatDivision {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            let inputs = plan.inputs();
            let schema = if inputs.is_empty() {
                plan.schema().as_ref().clone()
            } else {
                merge_schema(&inputs)
            };
            // Every node's schema is recomputed: a parent's output types change when a
            // division below it does, even though its own expressions do not.
            plan.map_expressions(|e| rewrite_expr(e, &schema))?
                .map_data(|p| p.recompute_schema())
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "weir_float_division"
    }
}
