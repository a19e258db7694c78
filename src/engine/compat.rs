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
        // `interval '1 quarter'` (DuckDB, PostgreSQL): three months.
        E::Interval(iv) => {
            let E::Value(v) = &*iv.value else {
                return None;
            };
            let Value::SingleQuotedString(text) = &v.value else {
                return None;
            };
            let (n, unit) = text.trim().split_once(char::is_whitespace)?;
            let n: i64 = n.parse().ok()?;
            matches!(unit.trim().to_lowercase().as_str(), "quarter" | "quarters")
                .then(|| parse_expr(&format!("interval '{} months'", n * 3)))
                .flatten()
        }
        // `x AT TIME ZONE 'a' AT TIME ZONE 'b'` (PostgreSQL, DuckDB): the outer one turns an
        // instant into the wall-clock time in 'b', a timestamp without zone; DataFusion would
        // keep the instant.
        E::AtTimeZone { timestamp, .. }
            if matches!(&**timestamp, E::AtTimeZone { .. })
                || matches!(&**timestamp, E::Nested(inner) if matches!(**inner, E::AtTimeZone { .. })) =>
        {
            parse_expr(&format!("to_local_time({e})"))
        }
        // `cast('1997-09-29 06:14:00-07:53' as timestamp)`: DuckDB drops the offset and keeps
        // the wall-clock time; DataFusion would convert to UTC.
        E::Cast {
            kind,
            expr,
            data_type:
                data_type @ (sqlparser::ast::DataType::Timestamp(
                    _,
                    sqlparser::ast::TimezoneInfo::None
                    | sqlparser::ast::TimezoneInfo::WithoutTimeZone,
                )
                | sqlparser::ast::DataType::Datetime(_)),
            array,
            format,
        } => {
            let E::Value(v) = &**expr else { return None };
            let Value::SingleQuotedString(text) = &v.value else {
                return None;
            };
            let wall = strip_utc_offset(text)?;
            Some(E::Cast {
                kind: kind.clone(),
                expr: Box::new(E::Value(Value::SingleQuotedString(wall.to_string()).into())),
                data_type: data_type.clone(),
                array: *array,
                format: format.clone(),
            })
        }
        // `regexp_matches(s, p) > 0`, `(a = b) = 1`: DuckDB compares a boolean with a number as
        // 0/1; DataFusion refuses. (Only where the boolean is visible in the SQL itself.)
        E::BinaryOp { left, op, right }
            if matches!(
                op,
                Op::Eq | Op::NotEq | Op::Lt | Op::LtEq | Op::Gt | Op::GtEq
            ) && (is_boolean(left) && is_number(right)
                || is_number(left) && is_boolean(right)) =>
        {
            let side = |x: &E| {
                if is_boolean(x) {
                    format!("cast(({x}) as integer)")
                } else {
                    x.to_string()
                }
            };
            parse_expr(&format!("{} {op} {}", side(left), side(right)))
        }
        // `extract(isodow from x)`: DuckDB's part names and numbering.
        E::Extract { field, expr, .. } => {
            let part = field.to_string().to_lowercase();
            duckdb_date_part(&part, &expr.to_string())
        }
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
                // DuckDB's date part functions (each a BIGINT there) and names.
                ("monthname", [x]) => parse_expr(&format!("to_char({x}, '%B')")),
                ("dayname", [x]) => parse_expr(&format!("to_char({x}, '%A')")),
                ("strftime", [x, fmt]) => parse_expr(&format!("to_char({x}, {fmt})")),
                (
                    "year" | "month" | "day" | "dayofmonth" | "quarter" | "hour" | "minute"
                    | "dayofyear" | "dayofweek" | "week" | "weekofyear" | "isodow" | "epoch",
                    [x],
                ) => {
                    let part = match name.as_str() {
                        "dayofmonth" => "day",
                        "dayofyear" => "doy",
                        "dayofweek" => "dow",
                        "weekofyear" => "week",
                        other => other,
                    };
                    let expr = match part {
                        "isodow" => return duckdb_date_part("isodow", x),
                        "epoch" => return parse_expr(&format!("date_part('epoch', {x})")),
                        _ => format!("date_part('{part}', {x})"),
                    };
                    parse_expr(&format!("cast({expr} as bigint)"))
                }
                ("date_part" | "datepart", [part, x]) => {
                    let part = part.strip_prefix('\'')?.strip_suffix('\'')?.to_lowercase();
                    duckdb_date_part(&part, x)
                }
                ("regexp_matches", [s, p]) => parse_expr(&format!("regexp_like({s}, {p})")),
                ("regexp_matches", [s, p, flags]) => {
                    // DuckDB's options: `c` (case-sensitive, the default) and `g` mean nothing
                    // to a match; `i`, `m`, `s` are the regex flags.
                    let flags = match flags.strip_prefix('\'').and_then(|f| f.strip_suffix('\'')) {
                        Some(f) => format!("'{}'", f.replace(['c', 'g'], "")),
                        None => flags.clone(),
                    };
                    if flags == "''" {
                        parse_expr(&format!("regexp_like({s}, {p})"))
                    } else {
                        parse_expr(&format!("regexp_like({s}, {p}, {flags})"))
                    }
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// A number literal (`0`, `1.5`, `-1`).
fn is_number(x: &sqlparser::ast::Expr) -> bool {
    use sqlparser::ast::{Expr as E, UnaryOperator, Value};
    match x {
        E::Value(v) => matches!(v.value, Value::Number(..)),
        E::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => is_number(expr),
        E::Nested(inner) => is_number(inner),
        _ => false,
    }
}

/// An expression that is a boolean by its shape: a comparison, `and`/`or`/`not`, `is null`,
/// `like`, a boolean literal, or a function that returns one.
fn is_boolean(x: &sqlparser::ast::Expr) -> bool {
    use sqlparser::ast::{BinaryOperator as Op, Expr as E, UnaryOperator, Value};
    match x {
        E::Nested(inner) => is_boolean(inner),
        E::Value(v) => matches!(v.value, Value::Boolean(_)),
        E::BinaryOp { op, .. } => matches!(
            op,
            Op::Eq | Op::NotEq | Op::Lt | Op::LtEq | Op::Gt | Op::GtEq | Op::And | Op::Or
        ),
        E::UnaryOp {
            op: UnaryOperator::Not,
            ..
        } => true,
        E::IsNull(_) | E::IsNotNull(_) | E::IsTrue(_) | E::IsFalse(_) => true,
        E::Like { .. } | E::ILike { .. } | E::InList { .. } | E::Between { .. } => true,
        E::Function(f) => matches!(
            f.name.to_string().to_lowercase().as_str(),
            "regexp_like" | "regexp_matches" | "starts_with" | "ends_with" | "contains" | "isnan"
        ),
        _ => false,
    }
}

/// `1997-09-29 06:14:00-07:53` → `1997-09-29 06:14:00`: the text before a trailing UTC offset
/// (`+HH`, `-HH:MM`, `+HHMM`, `Z`) that follows a time of day.
fn strip_utc_offset(text: &str) -> Option<&str> {
    let t = text.trim_end();
    if let Some(rest) = t.strip_suffix('Z').or_else(|| t.strip_suffix(" UTC")) {
        return rest.contains(':').then_some(rest.trim_end());
    }
    let at = t.rfind(['+', '-'])?;
    let (time, offset) = t.split_at(at);
    let digits: String = offset[1..].chars().filter(|c| *c != ':').collect();
    let is_offset = matches!(digits.len(), 2 | 4) && digits.chars().all(|c| c.is_ascii_digit());
    // A date's own dashes come before any ':' of the time.
    (is_offset && time.contains(':')).then_some(time.trim_end())
}

/// `date_part(part, x)` with DuckDB's part names (`dayofyear`, `dayofweek`, `weekday`,
/// `dayofmonth`) and numbering (`isodow` is Monday 1 .. Sunday 7; DataFusion counts from 0),
/// as a BIGINT like DuckDB's. `None` for parts DataFusion reads as DuckDB does.
fn duckdb_date_part(part: &str, x: &str) -> Option<sqlparser::ast::Expr> {
    let expr = match part {
        "dayofyear" => format!("date_part('doy', {x})"),
        "dayofweek" | "weekday" => format!("date_part('dow', {x})"),
        "dayofmonth" => format!("date_part('day', {x})"),
        "isodow" => format!("((date_part('dow', {x}) + 6) % 7 + 1)"),
        _ => return None,
    };
    parse_expr(&format!("cast({expr} as bigint)"))
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
            let is_date = |t: &DataType| matches!(t, DataType::Date32 | DataType::Date64);
            // `date ± interval` is a timestamp in DuckDB (and PostgreSQL); DataFusion would keep
            // a date and drop the hours of `interval '1 hour'`.
            if matches!(op, Operator::Plus | Operator::Minus)
                && (is_string(&lt) && is_interval(&rt)
                    || is_interval(&lt) && is_string(&rt)
                    || is_date(&lt) && is_interval(&rt)
                    || is_interval(&lt) && is_date(&rt))
            {
                let ts =
                    DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Nanosecond, None);
                let (l, r) = if !is_interval(&lt) {
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
