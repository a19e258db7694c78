//! Semantics that dbt projects written for DuckDB (and most warehouses) rely on and DataFusion
//! does differently.
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

/// Rewrite a freshly planned query (before DataFusion's own analysis) so its schema already
/// says what it will produce: writers (Delta) take the declared schema from the plan.
pub fn rewrite_plan(plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
    let plan = FloatDivision.analyze(plan, config)?;
    datafusion::optimizer::analyzer::type_coercion::TypeCoercion::new().analyze(plan, config)
}

/// The same for a DataFrame.
pub fn rewrite_df(
    df: datafusion::dataframe::DataFrame,
) -> Result<datafusion::dataframe::DataFrame> {
    let (state, plan) = df.into_parts();
    let plan = rewrite_plan(plan, state.config_options())?;
    Ok(datafusion::dataframe::DataFrame::new(state, plan))
}

#[derive(Debug, Default)]
pub struct FloatDivision;

fn rewrite_expr(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    expr.transform_up(|e| {
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
