//! Decimal arithmetic typed as DuckDB types it, so that a model's columns have the types dbt-duckdb
//! gives them (docs/compatibility.md, "Decimals").
//!
//! DataFusion and DuckDB agree on the values of decimal arithmetic but not on its types:
//!
//! | expression (`d` decimal(p, s)) | DataFusion | DuckDB (weir) |
//! | --- | --- | --- |
//! | `avg(d)` | decimal(p + 4, s + 4) | double |
//! | `d / x`, `x / d` | decimal | double |
//! | `sum(d)` | decimal(min(38, p + 10), s) | decimal(38, s) |
//! | `d1 * d2` | decimal(p1 + p2 + 1, s1 + s2) | decimal(min(38, p1 + p2), s1 + s2) |
//! | `d1 + d2`, `d1 - d2` | decimal(max(p1 - s1, p2 - s2) + max(s1, s2) + 1, max(s1, s2)) | the same |
//!
//! An integer operand counts as a decimal of its integer type's width (tinyint 3, smallint 5,
//! integer 10, bigint 19, scale 0); an integer literal as the narrowest of those that holds
//! it, as DuckDB types a literal. When SQL is planned (`compat::rewrite_plan`) the rule runs
//! before DataFusion's type coercion for `avg` and division (so that what is coerced around
//! them, a comparison or a union with a table's column, sees a double), then after it for
//! everything, then coercion runs once more. It runs again among the session's analyzer
//! rules, for plans built another way; on its own output it changes no type.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    BinaryExpr, Cast, Expr, ExprSchemable, LogicalPlan, Operator, WindowFunctionDefinition,
};
use datafusion::optimizer::analyzer::AnalyzerRule;

/// The analyzer rule (see the module documentation). Before type coercion it only turns
/// `avg` and division over doubles (types that decide how everything around them is
/// coerced); the precision rules need coerced operands (before coercion a `case` has the type
/// of its first branch), so they wait for the pass after.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct DuckDbDecimals {
    pub before_coercion: bool,
}

impl AnalyzerRule for DuckDbDecimals {
    fn name(&self) -> &str {
        "weir_duckdb_decimals"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let rule = *self;
        Ok(plan
            .transform_up_with_subqueries(|p| analyze_node(p, rule))?
            .data)
    }
}

fn analyze_node(plan: LogicalPlan, rule: DuckDbDecimals) -> Result<Transformed<LogicalPlan>> {
    let mut schema = merge_schema(&plan.inputs());
    if let LogicalPlan::TableScan(ts) = &plan {
        let source =
            DFSchema::try_from_qualified_schema(ts.table_name.clone(), &ts.source.schema())?;
        schema.merge(&source);
    }
    let names = NamePreserver::new(&plan);
    let out = plan.map_expressions(|expr| {
        let saved = names.save(&expr);
        expr.transform_up(|e| rewrite(e, &schema, rule))
            .map(|t| t.update_data(|e| saved.restore(e)))
    })?;
    if out.transformed {
        out.map_data(|p| p.recompute_schema())
    } else {
        Ok(out)
    }
}

/// The decimal type DuckDB sees in `e`: its own, or the width of the integer it casts.
fn decimal_view(e: &Expr, schema: &DFSchema) -> Option<(u8, i8)> {
    // The casts type coercion puts around integers (to decimal(3|5|10|20, 0)); a cast the SQL
    // wrote itself keeps its own type.
    if let Expr::Cast(Cast { expr, data_type }) = e {
        if matches!(data_type, DataType::Decimal128(3 | 5 | 10 | 20, 0)) {
            if let Expr::Literal(v, _) = expr.as_ref() {
                if let Some(w) = literal_width(v) {
                    return Some((w, 0));
                }
            }
            if let Ok(t) = expr.get_type(schema) {
                if let Some(w) = integer_width(&t) {
                    return Some((w, 0));
                }
            }
        }
    }
    if let Expr::Literal(v, _) = e {
        if let Some(w) = literal_width(v) {
            return Some((w, 0));
        }
    }
    match e.get_type(schema).ok()? {
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => Some((p, s)),
        t => integer_width(&t).map(|w| (w, 0)),
    }
}

fn integer_width(t: &DataType) -> Option<u8> {
    Some(match t {
        DataType::Int8 | DataType::UInt8 => 3,
        DataType::Int16 | DataType::UInt16 => 5,
        DataType::Int32 | DataType::UInt32 => 10,
        DataType::Int64 => 19,
        DataType::UInt64 => 20,
        _ => return None,
    })
}

fn literal_width(v: &ScalarValue) -> Option<u8> {
    let n: i128 = match v {
        ScalarValue::Int8(Some(n)) => (*n).into(),
        ScalarValue::Int16(Some(n)) => (*n).into(),
        ScalarValue::Int32(Some(n)) => (*n).into(),
        ScalarValue::Int64(Some(n)) => (*n).into(),
        ScalarValue::UInt8(Some(n)) => (*n).into(),
        ScalarValue::UInt16(Some(n)) => (*n).into(),
        ScalarValue::UInt32(Some(n)) => (*n).into(),
        ScalarValue::UInt64(Some(n)) => (*n).into(),
        _ => return None,
    };
    Some(if i8::try_from(n).is_ok() {
        3
    } else if i16::try_from(n).is_ok() {
        5
    } else if i32::try_from(n).is_ok() {
        10
    } else {
        19
    })
}

fn is_decimal(e: &Expr, schema: &DFSchema) -> bool {
    matches!(
        e.get_type(schema),
        Ok(DataType::Decimal128(..) | DataType::Decimal256(..))
    )
}

fn cast(e: Expr, t: DataType) -> Expr {
    Expr::Cast(Cast::new(Box::new(e), t))
}

fn rewrite(e: Expr, schema: &DFSchema, rule: DuckDbDecimals) -> Result<Transformed<Expr>> {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right })
            if op == Operator::Divide
                && (is_decimal(&left, schema) || is_decimal(&right, schema)) =>
        {
            Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                Box::new(cast(*left, DataType::Float64)),
                op,
                Box::new(cast(*right, DataType::Float64)),
            ))))
        }
        Expr::BinaryExpr(b)
            if !rule.before_coercion
                && matches!(b.op, Operator::Multiply | Operator::Plus | Operator::Minus) =>
        {
            let target = arithmetic_type(&b, schema);
            let expr = Expr::BinaryExpr(b);
            match (target, expr.get_type(schema)?) {
                (Some((p, s)), DataType::Decimal128(dp, ds)) if (dp, ds) != (p, s) => {
                    Ok(Transformed::yes(cast(expr, DataType::Decimal128(p, s))))
                }
                _ => Ok(Transformed::no(expr)),
            }
        }
        Expr::AggregateFunction(mut agg) => {
            let name = agg.func.name().to_ascii_lowercase();
            let changed = retype_input(&name, &mut agg.params.args, schema, rule)?;
            Ok(Transformed::new_transformed(
                Expr::AggregateFunction(agg),
                changed,
            ))
        }
        Expr::WindowFunction(mut w) => {
            let changed = match &w.fun {
                WindowFunctionDefinition::AggregateUDF(f) => {
                    let name = f.name().to_ascii_lowercase();
                    retype_input(&name, &mut w.params.args, schema, rule)?
                }
                WindowFunctionDefinition::WindowUDF(_) => false,
            };
            Ok(Transformed::new_transformed(
                Expr::WindowFunction(w),
                changed,
            ))
        }
        other => Ok(Transformed::no(other)),
    }
}

/// DuckDB's type for decimal `+`, `-` or `*` (see the module's table); `None` unless one operand
/// is a decimal and the other a decimal or an integer.
fn arithmetic_type(b: &BinaryExpr, schema: &DFSchema) -> Option<(u8, i8)> {
    let (p1, s1) = decimal_view(&b.left, schema)?;
    let (p2, s2) = decimal_view(&b.right, schema)?;
    if !is_decimal(&b.left, schema) && !is_decimal(&b.right, schema) {
        return None;
    }
    let (p, s) = if b.op == Operator::Multiply {
        (u16::from(p1) + u16::from(p2), i16::from(s1) + i16::from(s2))
    } else {
        let s = s1.max(s2);
        let int_digits = (i16::from(p1) - i16::from(s1)).max(i16::from(p2) - i16::from(s2));
        ((int_digits + i16::from(s) + 1).max(1) as u16, i16::from(s))
    };
    let (p, s) = (p.min(38) as u8, s.clamp(0, 38) as i8);
    (s <= p as i8).then_some((p, s))
}

/// Casts the one decimal input of `avg`/`sum` (an aggregate or a window function) to the type
/// [`aggregate_input`] gives; whether it did.
fn retype_input(
    name: &str,
    args: &mut [Expr],
    schema: &DFSchema,
    rule: DuckDbDecimals,
) -> Result<bool> {
    let [arg] = args else {
        return Ok(false);
    };
    let Some(new_type) = aggregate_input(name, &arg.get_type(schema)?, rule) else {
        return Ok(false);
    };
    let old = std::mem::replace(arg, Expr::Literal(ScalarValue::Null, None));
    *arg = cast(old, new_type);
    Ok(true)
}

/// The type an aggregate's decimal input is cast to: `avg` over doubles, `sum` over
/// decimal(38, s).
fn aggregate_input(name: &str, t: &DataType, rule: DuckDbDecimals) -> Option<DataType> {
    let (DataType::Decimal128(p, s) | DataType::Decimal256(p, s)) = t else {
        return None;
    };
    match name {
        "avg" | "mean" => Some(DataType::Float64),
        "sum" if *p < 38 && !rule.before_coercion => Some(DataType::Decimal128(38, *s)),
        _ => None,
    }
}
