//! Matching and shaping columns for writes: names resolved as the warehouse resolves them,
//! new data shaped as its target table, and the predicates of merges and `replaceWhere`.

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::logical_expr::{cast, col, lit, Expr};
use datafusion::prelude::DataFrame;

use super::{config_error, functions, sql_error, SOURCE, TARGET};
use crate::diagnostics::Result;

pub(super) fn unqualified(name: &str) -> Expr {
    col(Column::new_unqualified(name))
}

pub(super) fn source_col(name: &str) -> Expr {
    col(Column::new(Some(SOURCE), name))
}

pub(super) fn target_col(name: &str) -> Expr {
    col(Column::new(Some(TARGET), name))
}

pub(super) fn key_predicate(keys: &[String]) -> Expr {
    keys.iter()
        .map(|k| target_col(k).eq(source_col(k)))
        .reduce(Expr::and)
        .unwrap_or_else(|| lit(false))
}

/// The name of a column of `schema` matching `wanted` exactly, else ignoring case.
fn find_column<'a>(
    names: impl Iterator<Item = &'a String> + Clone,
    wanted: &str,
) -> Option<String> {
    names
        .clone()
        .find(|n| n.as_str() == wanted)
        .or_else(|| names.into_iter().find(|n| n.eq_ignore_ascii_case(wanted)))
        .cloned()
}

pub(super) fn resolve_columns(
    schema: &DFSchema,
    wanted: &[String],
    config: &str,
    what: &str,
) -> Result<Vec<String>> {
    let names = schema.fields().iter().map(|f| f.name());
    wanted
        .iter()
        .map(|w| {
            find_column(names.clone(), w).ok_or_else(|| {
                let available: Vec<&str> = names.clone().map(String::as_str).collect();
                config_error(format!(
                    "{config} column `{w}` is not in {what} (columns: {})",
                    available.join(", ")
                ))
            })
        })
        .collect()
}

pub(super) fn resolve_in_target(
    target: &SchemaRef,
    wanted: &[String],
    config: &str,
    schema: &str,
    name: &str,
) -> Result<Vec<String>> {
    let names = target.fields().iter().map(|f| f.name());
    wanted
        .iter()
        .map(|w| {
            find_column(names.clone(), w).ok_or_else(|| {
                config_error(format!(
                    "{config} column `{w}` is not a column of {schema}.{name}"
                ))
            })
        })
        .collect()
}

/// Target columns that the new data has.
pub(super) fn present_columns(src: &DFSchema, target: &SchemaRef) -> Vec<String> {
    let names = src.fields().iter().map(|f| f.name());
    target
        .fields()
        .iter()
        .filter(|f| find_column(names.clone(), f.name()).is_some())
        .map(|f| f.name().clone())
        .collect()
}

/// The new data shaped as the target: its columns in its order and types (by name, ignoring
/// case); target columns the data lacks are NULL, data columns the target lacks are dropped.
/// The values are cast to those types when they run (`functions::as_planned`), whatever type
/// DataFusion's physical plan gives them.
pub(super) fn align(df: DataFrame, target: &SchemaRef) -> Result<DataFrame> {
    let names: Vec<String> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let exprs: Vec<Expr> = target
        .fields()
        .iter()
        .map(|f| match find_column(names.iter(), f.name()) {
            Some(src) => {
                let from = df
                    .schema()
                    .field_with_unqualified_name(&src)
                    .map(|f| f.data_type().clone())
                    .unwrap_or(DataType::Null);
                functions::as_planned(conform(unqualified(&src), &from, f.data_type()))
                    .alias(f.name())
            }
            None => cast(lit(ScalarValue::Null), f.data_type().clone()).alias(f.name()),
        })
        .collect();
    df.select(exprs).map_err(sql_error)
}

/// `expr` (of type `from`) converted to `to`: structs field by field, matched by name ignoring
/// case (fields `to` has and `from` lacks are NULL, the others dropped), anything else by a
/// cast. A plain cast of one struct to another would match fields by position.
fn conform(expr: Expr, from: &DataType, to: &DataType) -> Expr {
    match (from, to) {
        _ if from == to => expr,
        (DataType::Struct(from_fields), DataType::Struct(to_fields)) => {
            let mut args = Vec::with_capacity(to_fields.len() * 2);
            for f in to_fields {
                args.push(lit(f.name().as_str()));
                let src = from_fields
                    .iter()
                    .find(|s| s.name().eq_ignore_ascii_case(f.name()));
                args.push(match src {
                    Some(s) => conform(
                        datafusion::functions::core::expr_fn::get_field(
                            expr.clone(),
                            s.name().as_str(),
                        ),
                        s.data_type(),
                        f.data_type(),
                    ),
                    None => cast(lit(ScalarValue::Null), f.data_type().clone()),
                });
            }
            // A NULL struct stays NULL rather than becoming a struct of NULLs.
            Expr::Case(datafusion::logical_expr::expr::Case {
                expr: None,
                when_then_expr: vec![(
                    Box::new(expr.is_null()),
                    Box::new(cast(lit(ScalarValue::Null), to.clone())),
                )],
                else_expr: Some(Box::new(
                    datafusion::functions::core::expr_fn::named_struct(args),
                )),
            })
        }
        _ => cast(expr, to.clone()),
    }
}

/// `replaceWhere` predicate matching the partition value tuples in `values`.
pub(super) fn partition_predicate(parts: &[String], values: &[RecordBatch]) -> Result<Expr> {
    let scalar = |b: &RecordBatch, c: usize, r: usize| {
        ScalarValue::try_from_array(b.column(c), r).map_err(sql_error)
    };
    if parts.len() == 1 {
        let mut list = Vec::new();
        let mut has_null = false;
        for b in values {
            for r in 0..b.num_rows() {
                if b.column(0).is_null(r) {
                    has_null = true;
                } else {
                    list.push(lit(scalar(b, 0, r)?));
                }
            }
        }
        let c = unqualified(&parts[0]);
        let mut terms = Vec::new();
        if !list.is_empty() {
            terms.push(c.clone().in_list(list, false));
        }
        if has_null {
            terms.push(c.is_null());
        }
        return Ok(balanced(terms, Expr::or).unwrap_or_else(|| lit(false)));
    }
    let mut tuples = Vec::new();
    for b in values {
        for r in 0..b.num_rows() {
            let mut conj = Vec::with_capacity(parts.len());
            for (c, p) in parts.iter().enumerate() {
                conj.push(if b.column(c).is_null(r) {
                    unqualified(p).is_null()
                } else {
                    unqualified(p).eq(lit(scalar(b, c, r)?))
                });
            }
            tuples.extend(balanced(conj, Expr::and));
        }
    }
    Ok(balanced(tuples, Expr::or).unwrap_or_else(|| lit(false)))
}

/// Combine terms as a balanced tree, so thousands of terms do not make a deep expression.
fn balanced(mut terms: Vec<Expr>, op: fn(Expr, Expr) -> Expr) -> Option<Expr> {
    while terms.len() > 1 {
        let mut next = Vec::with_capacity(terms.len().div_ceil(2));
        let mut it = terms.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => op(a, b),
                None => a,
            });
        }
        terms = next;
    }
    terms.pop()
}
