//! Functions beyond DataFusion's own: JSON (`datafusion-functions-json`, with the `->` and
//! `->>` operators), Spark's (`datafusion-spark`) and a few warehouse spellings.
//!
//! Spark functions are added only under names DataFusion does not already have: Spark's
//! `concat`, `substring`, `like`, `date_trunc`, `abs`, ... differ from DataFusion's (which follow
//! PostgreSQL and DuckDB, as dbt-duckdb projects expect) in null handling, argument order or
//! return type, so DataFusion's win. What Spark adds is `date_add`, `date_sub`, `add_months`,
//! `last_day`, `next_day`, `sha1`/`sha2`, `crc32`, `base64`, `pmod`, `url_encode`, ...
//! DataFusion already has `nvl`, `ifnull`, `nvl2` and `coalesce`.
//!
//! Ours: `iff(cond, a, b)` (Snowflake; simplified to `CASE`, so only the chosen branch is
//! evaluated), `hash(x, ...)` (a stable signed 64-bit hash) and the aggregate `count_if(cond)`
//! (Snowflake, DuckDB, Spark).

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::compute::kernels::zip::zip;
use datafusion::arrow::compute::prep_null_mask_filter;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{plan_err, Result, ScalarValue};
use datafusion::execution::context::SessionState;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::expr::Case;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::type_coercion::binary::type_union_resolution;
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, Expr, ReturnFieldArgs,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Register everything on a session state (before the SessionContext is made from it).
pub(super) fn register_all(state: &mut SessionState) -> Result<()> {
    datafusion_functions_json::register_all(state)?;
    // `1.5` is a decimal(2, 1) literal, as in DuckDB. Decimal arithmetic is typed as DuckDB
    // types it when weir plans SQL (`compat::rewrite_plan`), and again for plans built another
    // way (the rule is idempotent on its own output).
    state.add_analyzer_rule(std::sync::Arc::new(super::duckdb_types::DuckDbDecimals {
        before_coercion: false,
    }));
    state.add_analyzer_rule(std::sync::Arc::new(
        datafusion::optimizer::analyzer::type_coercion::TypeCoercion::new(),
    ));
    state
        .config_mut()
        .options_mut()
        .sql_parser
        .parse_float_as_decimal = true;

    for f in datafusion_spark::all_default_scalar_functions() {
        let taken = std::iter::once(f.name())
            .chain(f.aliases().iter().map(String::as_str))
            .any(|n| state.scalar_functions().contains_key(n));
        if !taken {
            state.register_udf(f)?;
        }
    }
    for f in datafusion_spark::all_default_aggregate_functions() {
        let taken = std::iter::once(f.name())
            .chain(f.aliases().iter().map(String::as_str))
            .any(|n| state.aggregate_functions().contains_key(n));
        if !taken {
            state.register_udaf(f)?;
        }
    }
    for f in datafusion_spark::all_default_window_functions() {
        let taken = std::iter::once(f.name())
            .chain(f.aliases().iter().map(String::as_str))
            .any(|n| state.window_functions().contains_key(n));
        if !taken {
            state.register_udwf(f)?;
        }
    }

    state.register_udf(super::compat::IntervalMul::udf())?;
    if !state.scalar_functions().contains_key("iff") {
        state.register_udf(Arc::new(ScalarUDF::new_from_impl(Iff::new())))?;
    }
    if !state.scalar_functions().contains_key("hash") {
        state.register_udf(Arc::new(ScalarUDF::new_from_impl(Hash64::new())))?;
    }
    // For SQL that weir writes itself (snapshots): `weir_as_planned(x)`.
    state.register_udf(as_planned_udf())?;
    if !state.aggregate_functions().contains_key("count_if") {
        state.register_udaf(Arc::new(AggregateUDF::new_from_impl(CountIf::new())))?;
    }
    Ok(())
}

/// `hash(x, ...)`: a signed 64-bit hash of one or more values, the same in every run and on
/// every machine: FNV-1a over each value's text (NULL hashes as a marker of its own), the
/// values separated. Warehouses each have their own `hash` (DuckDB's, Snowflake's and Spark's
/// values all differ), so this gives weir's values, for bucketing and keys.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Hash64 {
    signature: Signature,
}

impl Hash64 {
    fn new() -> Self {
        Hash64 {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Hash64 {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "hash"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let texts: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| {
                let array = a.to_array(rows)?;
                Ok(datafusion::arrow::compute::cast(&array, &DataType::Utf8)?)
            })
            .collect::<Result<_>>()?;
        let mut out = Vec::with_capacity(rows);
        for r in 0..rows {
            let mut h = crate::project::Fingerprint::default();
            for t in &texts {
                let t = t.as_string::<i32>();
                if t.is_null(r) {
                    h.bytes(&[0xff, 0x00]);
                } else {
                    h.bytes(&[0x01]);
                    h.bytes(t.value(r).as_bytes());
                }
                h.bytes(&[0x1f]);
            }
            out.push(h.finish() as i64);
        }
        Ok(ColumnarValue::Array(Arc::new(Int64Array::from(out))))
    }
}

/// `iff(cond, a, b)`: `a` when `cond` is true, else `b` (a NULL condition picks `b`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Iff {
    signature: Signature,
}

impl Iff {
    fn new() -> Self {
        Iff {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Iff {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "iff"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 3 {
            return plan_err!("iff takes 3 arguments (condition, then, else)");
        }
        let Some(common) = type_union_resolution(&arg_types[1..]) else {
            return plan_err!(
                "iff: no common type for {} and {}",
                arg_types[1],
                arg_types[2]
            );
        };
        Ok(vec![DataType::Boolean, common.clone(), common])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[1].clone())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let nullable = args.arg_fields[1].is_nullable() || args.arg_fields[2].is_nullable();
        Ok(Arc::new(Field::new(
            self.name(),
            args.arg_fields[1].data_type().clone(),
            nullable,
        )))
    }

    fn simplify(&self, mut args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        if args.len() != 3 {
            return Ok(ExprSimplifyResult::Original(args));
        }
        let otherwise = args.pop().map(Box::new);
        let then = args.pop().map(Box::new);
        let cond = args.pop().map(Box::new);
        match (cond, then) {
            (Some(cond), Some(then)) => Ok(ExprSimplifyResult::Simplified(Expr::Case(Case {
                expr: None,
                when_then_expr: vec![(cond, then)],
                else_expr: otherwise,
            }))),
            _ => unreachable!("three arguments"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays: Vec<ArrayRef> = ColumnarValue::values_to_arrays(&args.args)?;
        let mask = prep_null_mask_filter(arrays[0].as_boolean());
        Ok(ColumnarValue::Array(zip(&mask, &arrays[1], &arrays[2])?))
    }
}

/// `x` unchanged, but typed nullable: tables are created from query results, and a column
/// DataFusion knows has no NULL today (a literal, a `coalesce`) must still take NULLs in later
/// appends and merges, as warehouse tables made by `CREATE TABLE AS` do. Its values have the
/// type the plan declared for `x`, as [`as_planned`] gives them.
pub(crate) fn nullable(expr: Expr) -> Expr {
    static UDF: std::sync::LazyLock<Arc<ScalarUDF>> = std::sync::LazyLock::new(|| {
        Arc::new(ScalarUDF::new_from_impl(AsPlanned {
            signature: Signature::any(1, Volatility::Immutable),
            nullable: true,
        }))
    });
    UDF.call(vec![expr])
}

/// `x` with the values of the type the logical plan declared for it. DataFusion's physical
/// operators do not always produce the type its logical plan promised (decimal precision and
/// scale after `sum`, `avg`, `round`, a `case` over two decimal types): the Delta writer takes
/// the table's schema from the logical plan and refuses batches of another type. Every write
/// ends in this (see `Engine::overwrite` and `align`), so the data is cast to the declared type
/// there; a value that does not fit the declared type is an error, never a NULL.
pub(crate) fn as_planned(expr: Expr) -> Expr {
    as_planned_udf().call(vec![expr])
}

fn as_planned_udf() -> Arc<ScalarUDF> {
    static UDF: std::sync::LazyLock<Arc<ScalarUDF>> = std::sync::LazyLock::new(|| {
        Arc::new(ScalarUDF::new_from_impl(AsPlanned {
            signature: Signature::any(1, Volatility::Immutable),
            nullable: false,
        }))
    });
    Arc::clone(&UDF)
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct AsPlanned {
    signature: Signature,
    /// Type the result nullable (`weir_nullable`), or keep the argument's nullability.
    nullable: bool,
}

impl ScalarUDFImpl for AsPlanned {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        if self.nullable {
            "weir_nullable"
        } else {
            "weir_as_planned"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let field = args.arg_fields[0].as_ref().clone();
        let nullable = self.nullable || field.is_nullable();
        Ok(Arc::new(field.with_nullable(nullable)))
    }

    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let value = args.args.swap_remove(0);
        let planned = args.return_field.data_type();
        if value.data_type() == *planned {
            return Ok(value);
        }
        value.cast_to(planned, None)
    }
}

/// `count_if(cond)`: how many rows have `cond` true.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CountIf {
    signature: Signature,
}

impl CountIf {
    fn new() -> Self {
        CountIf {
            signature: Signature::exact(vec![DataType::Boolean], Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for CountIf {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "count_if"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(CountIfAccumulator { count: 0 }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "count"),
            DataType::Int64,
            false,
        ))])
    }

    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(0)))
    }
}

#[derive(Debug)]
struct CountIfAccumulator {
    count: i64,
}

impl Accumulator for CountIfAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.count += values[0].as_boolean().true_count() as i64;
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.count -= values[0].as_boolean().true_count() as i64;
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let counts: &Int64Array = states[0].as_primitive();
        self.count += counts.iter().flatten().sum::<i64>();
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int64(Some(self.count))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(self.count)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}
