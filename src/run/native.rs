//! `unique` and `not_null` tests over a plain relation, judged by scanning the columns they
//! check and counting in Rust, with no SQL to plan.
//!
//! The tests come from `fused` (their compiled SQL is exactly the built-in macros' text) and
//! read a relation named as weir renders relations (`"db"."schema"."name"`), not a `where`
//! subquery. One scan of the relation serves every such test on it. The counts are the ones
//! the tests' SQL gives:
//!
//! - `not_null(c)`: rows where `c` is NULL;
//! - `unique(c)`: distinct non-NULL values of `c` found on more than one row, for columns whose
//!   equality is byte equality (integers, decimals, strings, binary, booleans, dates,
//!   timestamps; not floating point, where SQL's grouping treats NaN and -0.0 its own way).
//!
//! `limit` caps a count, and `warn_if` / `error_if` of the form `<op> <integer>` (the default
//! is `!= 0`) are compared here. Anything else (another test, a subquery, a column that is not
//! there, a float column, another condition, more than [`MAX_DISTINCT`] distinct values) is
//! left to SQL.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::TableReference;
use datafusion::execution::context::SessionState;
use datafusion::execution::TaskContext;
use futures::StreamExt;

use super::fused::{Check, Recognized};
use super::{Judged, TestRule};
use crate::engine::Engine;

/// Beyond this many distinct values in one `unique` column, SQL (which can spill) takes over.
const MAX_DISTINCT: usize = 1 << 20;

/// `"a"."b"."c"` or `a.b.c` as DataFusion reads it: quoted parts exactly, bare parts
/// lowercased.
fn identifiers(text: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut rest = text.trim();
    loop {
        if let Some(r) = rest.strip_prefix('"') {
            let mut part = String::new();
            let mut chars = r.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => {
                        if r[i + 1..].starts_with('"') {
                            part.push('"');
                            chars.next();
                        } else {
                            break i + 1;
                        }
                    }
                    (_, ch) => part.push(ch),
                }
            };
            parts.push(part);
            rest = &r[end..];
        } else {
            let end = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len());
            let bare = &rest[..end];
            if bare.is_empty() || bare.starts_with(|ch: char| ch.is_ascii_digit()) {
                return None;
            }
            parts.push(bare.to_lowercase());
            rest = &rest[end..];
        }
        match rest.strip_prefix('.') {
            Some(r) => rest = r,
            None if rest.is_empty() => return Some(parts),
            None => return None,
        }
    }
}

/// `<op> <integer>` applied to `value`, if `condition` has that form.
fn compare(value: u64, condition: &str) -> Option<bool> {
    let c = condition.trim();
    let (op, n) = ["!=", "<>", ">=", "<=", "==", "=", ">", "<"]
        .iter()
        .find_map(|op| c.strip_prefix(op).map(|n| (*op, n.trim())))?;
    let n: i128 = n.parse().ok()?;
    let v = value as i128;
    Some(match op {
        "!=" | "<>" => v != n,
        ">=" => v >= n,
        "<=" => v <= n,
        "==" | "=" => v == n,
        ">" => v > n,
        _ => v < n,
    })
}

/// Types whose SQL equality is equality of their row encoding.
fn byte_equality(t: &DataType) -> bool {
    use DataType::*;
    matches!(
        t,
        Int8 | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Utf8
            | LargeUtf8
            | Utf8View
            | Binary
            | LargeBinary
            | BinaryView
            | Boolean
            | Date32
            | Date64
            | Timestamp(_, _)
            | Decimal128(_, _)
            | Decimal256(_, _)
    )
}

/// A test counted here: its batch index, whether it is `unique` (else `not_null`), its column.
type Counted<'a> = (usize, bool, &'a str);

/// Judge what can be judged here: `(batch index, (failures, should_warn, should_error))`.
/// `tests` are recognized built-in tests by batch index; `rules` are indexed the same way.
pub(super) async fn judge(
    engine: &Engine,
    rules: &[TestRule],
    tests: &[(usize, Recognized)],
) -> Vec<(usize, Judged)> {
    // Relation text -> its tests (index, is_unique, column).
    let mut by_model: Vec<(&str, Vec<Counted>)> = Vec::new();
    for (i, r) in tests {
        let rule = &rules[*i];
        if rule.fail_calc.trim() != "count(*)"
            || compare(0, &rule.warn_if).is_none()
            || compare(0, &rule.error_if).is_none()
        {
            continue;
        }
        let (unique, column) = match &r.check {
            Check::Unique(c) => (true, c.as_str()),
            Check::NotNull(c) => (false, c.as_str()),
            Check::AcceptedValues(..) => continue,
        };
        match by_model.iter_mut().find(|(m, _)| *m == r.model) {
            Some((_, v)) => v.push((*i, unique, column)),
            None => by_model.push((&r.model, vec![(*i, unique, column)])),
        }
    }
    // Relations are opened and scanned a few at a time, so one waiting on storage does not
    // hold the others up.
    if by_model.is_empty() {
        return Vec::new();
    }
    // One copy of the session for the whole batch (a copy clones every function registry).
    let state = engine.context().state();
    let task = state.task_ctx();
    let mut counted = Vec::with_capacity(by_model.len());
    for chunk in by_model.chunks(4) {
        let mut scans = Vec::with_capacity(chunk.len());
        for (model, checks) in chunk {
            scans.push(count(engine, &state, &task, model, checks));
        }
        counted.extend(futures::future::join_all(scans).await);
    }
    let mut out = Vec::new();
    for ((_, checks), counts) in by_model.iter().zip(counted) {
        if let Some(counts) = counts {
            for ((i, _, _), failures) in checks.iter().zip(counts) {
                let Some(failures) = failures else { continue };
                let rule = &rules[*i];
                let failures = rule.limit.map_or(failures, |n| failures.min(n));
                let warn = compare(failures, &rule.warn_if).unwrap_or(false);
                let error = compare(failures, &rule.error_if).unwrap_or(false);
                out.push((*i, (failures, warn, error)));
            }
        }
    }
    out
}

/// The failure count of each check on `model`, from one scan (None for a check left to SQL),
/// or None to leave them all to SQL.
async fn count(
    engine: &Engine,
    state: &SessionState,
    task: &Arc<TaskContext>,
    model: &str,
    checks: &[Counted<'_>],
) -> Option<Vec<Option<u64>>> {
    let parts = identifiers(model)?;
    let reference = match parts.as_slice() {
        [db, schema, name] => TableReference::full(db.as_str(), schema.as_str(), name.as_str()),
        [schema, name] => TableReference::partial(schema.as_str(), name.as_str()),
        _ => return None,
    };
    let ctx = engine.context();
    let provider = ctx.table_provider(reference).await.ok()?;
    let schema = provider.schema();
    // Each check's column, as an index into the scan's projection; checks that cannot be
    // counted here (a column that is not there, a type without byte equality) keep SQL.
    let mut projection: Vec<usize> = Vec::new();
    let mut slots: Vec<Option<usize>> = Vec::with_capacity(checks.len());
    for (_, unique, column) in checks {
        let index = identifiers(column)
            .and_then(|name| match name.as_slice() {
                [name] => schema.index_of(name).ok(),
                _ => None,
            })
            .filter(|index| !*unique || byte_equality(schema.field(*index).data_type()));
        slots.push(
            index.map(|index| match projection.iter().position(|p| *p == index) {
                Some(s) => s,
                None => {
                    projection.push(index);
                    projection.len() - 1
                }
            }),
        );
    }
    if projection.is_empty() {
        return None;
    }
    let plan = provider
        .scan(state, Some(&projection), &[], None)
        .await
        .ok()?;
    let mut stream = datafusion::physical_plan::execute_stream(plan, Arc::clone(task)).ok()?;
    let mut nulls = vec![0u64; checks.len()];
    let mut seen: Vec<HashMap<Box<[u8]>, u64>> = vec![HashMap::new(); checks.len()];
    let mut converters: Vec<Option<RowConverter>> = Vec::with_capacity(checks.len());
    for ((_, unique, _), slot) in checks.iter().zip(&slots) {
        converters.push(match (unique, slot) {
            (true, Some(slot)) => Some(
                RowConverter::new(vec![SortField::new(
                    schema.field(projection[*slot]).data_type().clone(),
                )])
                .ok()?,
            ),
            _ => None,
        });
    }
    while let Some(batch) = stream.next().await {
        let batch = batch.ok()?;
        for (k, slot) in slots.iter().enumerate() {
            let Some(slot) = slot else { continue };
            let array = batch.column(*slot);
            match &converters[k] {
                None => nulls[k] += array.logical_null_count() as u64,
                Some(converter) => {
                    let rows = converter
                        .convert_columns(std::slice::from_ref(array))
                        .ok()?;
                    let valid = array.logical_nulls();
                    for (r, row) in rows.iter().enumerate() {
                        if valid.as_ref().is_some_and(|v| v.is_null(r)) {
                            continue;
                        }
                        // A key is copied only the first time it is seen.
                        match seen[k].get_mut(row.as_ref()) {
                            Some(n) => *n += 1,
                            None => {
                                seen[k].insert(row.as_ref().into(), 1);
                            }
                        }
                    }
                    if seen[k].len() > MAX_DISTINCT {
                        return None;
                    }
                }
            }
        }
    }
    Some(
        (0..checks.len())
            .map(|k| {
                slots[k]?;
                Some(match converters[k] {
                    None => nulls[k],
                    Some(_) => seen[k].values().filter(|n| **n > 1).count() as u64,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_relation_names_as_sql_does() {
        assert_eq!(
            identifiers("\"warehouse\".\"main\".\"Orders\"").unwrap(),
            ["warehouse", "main", "Orders"]
        );
        assert_eq!(identifiers("Main.orders").unwrap(), ["main", "orders"]);
        assert_eq!(identifiers("\"a\"\"b\".c").unwrap(), ["a\"b", "c"]);
        assert_eq!(identifiers("(select 1) x"), None);
        assert_eq!(identifiers("a.b c"), None);
    }

    #[test]
    fn compares_like_sql() {
        assert_eq!(compare(0, "!= 0"), Some(false));
        assert_eq!(compare(3, "> 2"), Some(true));
        assert_eq!(compare(2, ">2"), Some(false));
        assert_eq!(compare(2, ">= 2"), Some(true));
        assert_eq!(compare(1, "<> 1"), Some(false));
        assert_eq!(compare(1, "= 1"), Some(true));
        assert_eq!(compare(1, "> 1 or true"), None);
    }
}
