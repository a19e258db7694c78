//! `on_schema_change` for incremental runs: what happens when a model's query no longer returns
//! the columns (or types) of the table it writes into.
//!
//! - `ignore`: nothing; new columns are dropped and missing ones written as NULL (the new rows
//!   are converted to the table's types).
//! - `fail`: any new, missing or retyped column (nested struct fields included) is an error.
//! - `append_new_columns`: the table gains the new columns, and new fields inside struct
//!   columns, NULL in existing rows; nothing is removed.
//! - `sync_all_columns`: as `append_new_columns`, and columns the query no longer returns are
//!   dropped, and changed types are widened where no value can be lost (integers to wider
//!   integers, or to `double` from 32 bits or less, `real` to `double`, decimals to a precision
//!   and scale that hold both, inside structs and lists too); a type change that could lose
//!   values is an error that says what changed and how to rebuild.
//!
//! Evolving the table is one overwrite commit before the incremental step, so a failure in that
//! step leaves the evolved (not half-written) table.

use datafusion::arrow::datatypes::{DataType, Field, Fields};
use std::sync::Arc;

use crate::diagnostics::{Code, Diagnostic, Result};
use crate::engine::Engine;
use crate::parse::Node;
use crate::project::config::get_str;

/// A type as a Delta table stores it: one string type, one binary type, dictionary encoding
/// (how partition columns are read) and timestamp units (Delta keeps microseconds) dropped.
fn stored(t: &DataType) -> DataType {
    use datafusion::arrow::datatypes::TimeUnit;
    use DataType::*;
    match t {
        Dictionary(_, v) => stored(v),
        Utf8 | LargeUtf8 | Utf8View => Utf8,
        Binary | LargeBinary | BinaryView => Binary,
        Timestamp(_, tz) => Timestamp(TimeUnit::Microsecond, tz.as_ref().map(|_| "UTC".into())),
        Date64 => Date32,
        Struct(fields) => Struct(Fields::from(
            fields
                .iter()
                .map(|f| {
                    f.as_ref()
                        .clone()
                        .with_data_type(stored(f.data_type()))
                        .with_nullable(true)
                })
                .collect::<Vec<_>>(),
        )),
        List(f) | LargeList(f) => List(Arc::new(
            f.as_ref()
                .clone()
                .with_data_type(stored(f.data_type()))
                .with_nullable(true),
        )),
        other => other.clone(),
    }
}

/// The same type for a warehouse table (see [`stored`]).
fn same(a: &DataType, b: &DataType) -> bool {
    a == b || stored(a) == stored(b)
}

fn int_bits(t: &DataType) -> Option<(bool, u32)> {
    use DataType::*;
    Some(match t {
        Int8 => (true, 8),
        Int16 => (true, 16),
        Int32 => (true, 32),
        Int64 => (true, 64),
        UInt8 => (false, 8),
        UInt16 => (false, 16),
        UInt32 => (false, 32),
        UInt64 => (false, 64),
        _ => return None,
    })
}

/// Digits left of the decimal point an integer type needs.
fn int_digits(bits: u32) -> u8 {
    match bits {
        8 => 3,
        16 => 5,
        32 => 10,
        _ => 20,
    }
}

/// A scalar type that holds every value of both, if there is one.
fn wider(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    if same(a, b) {
        return Some(a.clone());
    }
    let (a, b) = (&stored(a), &stored(b));
    if let (Some((sa, ba)), Some((sb, bb))) = (int_bits(a), int_bits(b)) {
        return match (sa, sb) {
            (true, true) | (false, false) => Some(if ba >= bb { a.clone() } else { b.clone() }),
            // signed and unsigned: a signed type wider than the unsigned one
            (true, false) if ba > bb => Some(a.clone()),
            (false, true) if bb > ba => Some(b.clone()),
            _ => None,
        };
    }
    let float = |t: &DataType| matches!(t, Float16 | Float32 | Float64);
    match (a, b) {
        (x, y) if float(x) && float(y) => Some(Float64),
        (x, f) | (f, x) if float(f) && int_bits(x).is_some_and(|(_, bits)| bits <= 32) => {
            Some(Float64)
        }
        (Decimal128(p1, s1), Decimal128(p2, s2)) => {
            let scale = (*s1).max(*s2);
            let int = (*p1 as i16 - *s1 as i16).max(*p2 as i16 - *s2 as i16);
            let p = int + scale as i16;
            (p <= 38).then_some(Decimal128(p as u8, scale))
        }
        (Decimal128(p, s), x) | (x, Decimal128(p, s)) if int_bits(x).is_some() => {
            let (_, bits) = int_bits(x)?;
            let int = (*p as i16 - *s as i16).max(int_digits(bits) as i16);
            let p = int + *s as i16;
            (p <= 38).then_some(Decimal128(p as u8, *s))
        }
        (Null, t) | (t, Null) => Some(t.clone()),
        _ => None,
    }
}

/// What changes, for a message: `path: old -> new`.
#[derive(Default)]
struct Changes {
    added: Vec<String>,
    retyped: Vec<String>,
    unsafe_types: Vec<String>,
}

/// The type column `path` should have in the table, from its `existing` and `incoming` types:
/// struct fields matched by name (new fields appended when `add`), types widened when `widen`.
fn evolve(
    path: &str,
    existing: &DataType,
    incoming: &DataType,
    add: bool,
    widen: bool,
    changes: &mut Changes,
) -> DataType {
    use DataType::*;
    match (existing, incoming) {
        (Struct(old), Struct(new)) => {
            let mut fields: Vec<Field> = Vec::with_capacity(old.len());
            for f in old {
                let t = match new.iter().find(|n| n.name().eq_ignore_ascii_case(f.name())) {
                    Some(n) => evolve(
                        &format!("{path}.{}", f.name()),
                        f.data_type(),
                        n.data_type(),
                        add,
                        widen,
                        changes,
                    ),
                    None => f.data_type().clone(),
                };
                fields.push(f.as_ref().clone().with_data_type(t).with_nullable(true));
            }
            for n in new {
                if !old.iter().any(|f| f.name().eq_ignore_ascii_case(n.name())) {
                    changes.added.push(format!("{path}.{}", n.name()));
                    if add {
                        fields.push(n.as_ref().clone().with_nullable(true));
                    }
                }
            }
            Struct(Fields::from(fields))
        }
        (List(old), List(new)) | (LargeList(old), LargeList(new)) => {
            let t = evolve(
                &format!("{path}[]"),
                old.data_type(),
                new.data_type(),
                add,
                widen,
                changes,
            );
            let field = Arc::new(old.as_ref().clone().with_data_type(t));
            if matches!(existing, List(_)) {
                List(field)
            } else {
                LargeList(field)
            }
        }
        (a, b) if same(a, b) => a.clone(),
        (a, b) => {
            let change = format!("{path}: {a} -> {b}");
            match wider(a, b) {
                None => {
                    changes.unsafe_types.push(change);
                    a.clone()
                }
                // Widened only when asked and when the table's type does not hold the new
                // values already.
                Some(w) => {
                    changes.retyped.push(change);
                    if widen && !same(&w, a) {
                        w
                    } else {
                        a.clone()
                    }
                }
            }
        }
    }
}

/// Apply the model's `on_schema_change` before an incremental step (see the module docs).
pub(super) async fn check_schema_change(engine: &Engine, n: &Node, sql: &str) -> Result<()> {
    let mode = get_str(&n.config, "on_schema_change").unwrap_or("ignore");
    if mode == "ignore" {
        return Ok(());
    }
    if !matches!(mode, "fail" | "append_new_columns" | "sync_all_columns") {
        return Err(Diagnostic::error(
            Code::E524,
            format!("model '{}': unknown on_schema_change '{mode}'", n.name),
        )
        .help("use ignore, fail, append_new_columns or sync_all_columns")
        .into());
    }
    let existing = engine.columns(&n.schema, &n.alias).await?;
    let incoming = engine.schema_of(sql).await?;
    let sync = mode == "sync_all_columns";
    let mut changes = Changes::default();
    let mut removed = Vec::new();
    let mut target: Vec<(String, DataType)> = Vec::new();
    for (c, t) in &existing {
        match incoming
            .fields()
            .iter()
            .find(|f| f.name().eq_ignore_ascii_case(c))
        {
            Some(f) => {
                let t = evolve(c, t, f.data_type(), mode != "fail", sync, &mut changes);
                target.push((c.clone(), t));
            }
            None => {
                removed.push(c.clone());
                if !sync {
                    target.push((c.clone(), t.clone()));
                }
            }
        }
    }
    for f in incoming.fields() {
        if !existing
            .iter()
            .any(|(c, _)| c.eq_ignore_ascii_case(f.name()))
        {
            changes.added.push(f.name().clone());
            target.push((f.name().clone(), f.data_type().clone()));
        }
    }
    let what = || {
        let list = |v: &[String]| v.join(", ");
        let mut parts = Vec::new();
        if !changes.added.is_empty() {
            parts.push(format!("new columns: [{}]", list(&changes.added)));
        }
        if !removed.is_empty() {
            parts.push(format!("missing columns: [{}]", list(&removed)));
        }
        let retyped: Vec<String> = changes
            .retyped
            .iter()
            .chain(&changes.unsafe_types)
            .cloned()
            .collect();
        if !retyped.is_empty() {
            parts.push(format!("changed types: [{}]", list(&retyped)));
        }
        parts.join("; ")
    };
    let changed = !changes.added.is_empty()
        || !removed.is_empty()
        || !changes.retyped.is_empty()
        || !changes.unsafe_types.is_empty();
    if mode == "fail" {
        if changed {
            return Err(Diagnostic::error(Code::E524, format!(
                "the columns of incremental model '{}' changed ({}) and on_schema_change is 'fail'",
                n.name,
                what()
            ))
            .help("run with --full-refresh to rebuild the table, or set on_schema_change to 'append_new_columns' or 'sync_all_columns'")
            .into());
        }
        return Ok(());
    }
    if sync && !changes.unsafe_types.is_empty() {
        return Err(Diagnostic::error(
            Code::E524,
            format!(
                "incremental model '{}' changes column types in a way that could lose values ({}); on_schema_change 'sync_all_columns' only widens types",
                n.name,
                changes.unsafe_types.join(", ")
            ),
        )
        .help("run with --full-refresh to rebuild the table with the new types, or cast the column in the model to its current type")
        .into());
    }
    if existing.len() == target.len()
        && existing
            .iter()
            .zip(&target)
            .all(|((a, ta), (b, tb))| a == b && same(ta, tb))
    {
        return Ok(());
    }
    // Written as Delta stores them (a partition column reads back dictionary-encoded).
    let target: Vec<(String, DataType)> =
        target.into_iter().map(|(c, t)| (c, stored(&t))).collect();
    engine
        .evolve_columns(&n.schema, &n.alias, &target, &n.partition_columns())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use DataType::*;

    fn changes() -> Changes {
        Changes::default()
    }

    #[test]
    fn widening_keeps_every_value() {
        assert_eq!(wider(&Int32, &Int64), Some(Int64));
        assert_eq!(wider(&Int64, &Int32), Some(Int64));
        assert_eq!(wider(&UInt32, &Int64), Some(Int64));
        assert_eq!(wider(&UInt64, &Int64), None);
        assert_eq!(wider(&Int32, &Float64), Some(Float64));
        assert_eq!(wider(&Int64, &Float64), None, "2^53 + 1 has no double");
        assert_eq!(wider(&Float32, &Float64), Some(Float64));
        assert_eq!(
            wider(&Decimal128(10, 2), &Decimal128(12, 4)),
            Some(Decimal128(12, 4))
        );
        assert_eq!(
            wider(&Decimal128(10, 2), &Decimal128(5, 4)),
            Some(Decimal128(12, 4))
        );
        assert_eq!(wider(&Decimal128(5, 2), &Int32), Some(Decimal128(12, 2)));
        assert_eq!(wider(&Utf8, &Utf8View), Some(Utf8));
        let dict = Dictionary(Box::new(UInt16), Box::new(Utf8));
        assert!(same(&dict, &Utf8View), "a partition column read back");
        use datafusion::arrow::datatypes::TimeUnit::{Microsecond, Nanosecond};
        assert!(same(
            &Timestamp(Microsecond, None),
            &Timestamp(Nanosecond, None)
        ));
        assert!(!same(
            &Timestamp(Microsecond, None),
            &Timestamp(Microsecond, Some("UTC".into()))
        ));
        assert_eq!(wider(&Utf8, &Int32), None);
        assert_eq!(
            wider(
                &Date32,
                &Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, None)
            ),
            None
        );
    }

    #[test]
    fn structs_evolve_by_field_name() {
        let st = |fs: Vec<(&str, DataType)>| {
            Struct(Fields::from(
                fs.into_iter()
                    .map(|(n, t)| Field::new(n, t, true))
                    .collect::<Vec<_>>(),
            ))
        };
        let old = st(vec![("a", Int32), ("b", Utf8)]);
        let new = st(vec![("b", Utf8), ("c", Boolean), ("a", Int64)]);
        let mut ch = changes();
        let t = evolve("s", &old, &new, true, true, &mut ch);
        assert_eq!(t, st(vec![("a", Int64), ("b", Utf8), ("c", Boolean)]));
        assert_eq!(ch.added, ["s.c"]);
        assert_eq!(ch.retyped, ["s.a: Int32 -> Int64"]);
        // append_new_columns: fields are added, types are kept.
        let mut ch = changes();
        let t = evolve("s", &old, &new, true, false, &mut ch);
        assert_eq!(t, st(vec![("a", Int32), ("b", Utf8), ("c", Boolean)]));
        // A change that could lose values is reported, the type kept.
        let mut ch = changes();
        evolve(
            "s",
            &st(vec![("a", Int32)]),
            &st(vec![("a", Utf8)]),
            true,
            true,
            &mut ch,
        );
        assert_eq!(ch.unsafe_types, ["s.a: Int32 -> Utf8"]);
    }
}
