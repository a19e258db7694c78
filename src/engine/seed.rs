//! Seed CSV files to Arrow, with dbt-duckdb's type inference.
//!
//! dbt builds an agate table with dbt's type tester (`dbt_common/clients/agate_helper.py`),
//! creates the table with the adapter's type for each column, then dbt-duckdb `COPY`s the file
//! in. Per column, the first type every non-null value parses as wins, in this order:
//!
//! | agate type | values | DuckDB type | here |
//! |---|---|---|---|
//! | Number, no decimals | `-12`, `7` | `integer` | Int32 (Int64 if a value does not fit: DuckDB would fail) |
//! | Number with decimals | `1.5`, `2e3` | `float8` | Float64 |
//! | Date | `%Y-%m-%d` | `date` | Date32 |
//! | DateTime / ISODateTime | `%Y-%m-%d %H:%M[:%S[.f]]`, ISO 8601 with `T` | `timestamp` | Timestamp(µs), offsets converted to UTC |
//! | Boolean | `true` / `false`, any case | `boolean` | Boolean |
//! | Text | anything | `text` | Utf8 |
//!
//! An empty cell is NULL, and so is `null` (any case) in a non-text column; in a text column
//! `null` stays a string, as DuckDB's COPY keeps it. A column with no values at all is an
//! integer column, as with dbt. Column names are lowercased. `column_types` overrides keep the
//! raw text and cast it with SQL, so any type DataFusion parses works (`varchar`,
//! `decimal(10,2)`, `bigint`, `date`, ...).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

/// A seed as Arrow: the batch, and the `column_types` overrides still to apply.
pub(crate) struct SeedData {
    pub batch: RecordBatch,
    /// Column (as in the batch, raw text) -> SQL type to cast it to.
    pub casts: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inferred {
    Int,
    Float,
    Date,
    Timestamp,
    Bool,
    Text,
}

const ORDER: [Inferred; 6] = [
    Inferred::Int,
    Inferred::Float,
    Inferred::Date,
    Inferred::Timestamp,
    Inferred::Bool,
    Inferred::Text,
];

pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn is_null(v: &str) -> bool {
    v.is_empty() || v.eq_ignore_ascii_case("null")
}

fn parse_int(v: &str) -> Option<i64> {
    let v = v.trim();
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

fn parse_float(v: &str) -> Option<f64> {
    let v = v.trim();
    if !v.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

fn parse_date(v: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").ok()
}

/// `2021-01-01 10:30` → `2021-01-01 10:30:00`; anything else as it is.
fn with_seconds(v: &str) -> String {
    let t = v.trim();
    if NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M").is_ok() {
        format!("{t}:00")
    } else {
        v.to_string()
    }
}

fn parse_timestamp(v: &str) -> Option<NaiveDateTime> {
    let v = v.trim();
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, fmt) {
            return Some(t);
        }
    }
    if !v.contains('T') {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(t.naive_utc());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z"] {
        if let Ok(t) = DateTime::parse_from_str(v, fmt) {
            return Some(t.naive_utc());
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, fmt) {
            return Some(t);
        }
    }
    None
}

fn parse_bool(v: &str) -> Option<bool> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn parses_as(t: Inferred, v: &str) -> bool {
    match t {
        Inferred::Int => parse_int(v).is_some(),
        Inferred::Float => parse_float(v).is_some(),
        Inferred::Date => parse_date(v).is_some(),
        Inferred::Timestamp => parse_timestamp(v).is_some(),
        Inferred::Bool => parse_bool(v).is_some(),
        Inferred::Text => true,
    }
}

fn infer(values: &[String]) -> Inferred {
    let mut possible = ORDER.to_vec();
    for v in values.iter().filter(|v| !is_null(v)) {
        possible.retain(|t| parses_as(*t, v));
        if possible == [Inferred::Text] {
            break;
        }
    }
    possible[0]
}

fn typed<T>(values: &[String], parse: impl Fn(&str) -> Option<T>) -> Vec<Option<T>> {
    values
        .iter()
        .map(|v| if is_null(v) { None } else { parse(v) })
        .collect()
}

fn build_column(values: &[String], t: Inferred) -> (DataType, ArrayRef) {
    match t {
        Inferred::Int => {
            let ints = typed(values, parse_int);
            let fits = ints.iter().flatten().all(|i| i32::try_from(*i).is_ok());
            if fits {
                let a: Int32Array = ints.iter().map(|i| i.map(|i| i as i32)).collect();
                (DataType::Int32, Arc::new(a))
            } else {
                (DataType::Int64, Arc::new(Int64Array::from(ints)))
            }
        }
        Inferred::Float => (
            DataType::Float64,
            Arc::new(Float64Array::from(typed(values, parse_float))),
        ),
        Inferred::Date => {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
            let days = typed(values, |v| {
                parse_date(v).map(|d| (d - epoch).num_days() as i32)
            });
            (DataType::Date32, Arc::new(Date32Array::from(days)))
        }
        Inferred::Timestamp => {
            let micros = typed(values, |v| {
                parse_timestamp(v).map(|t| t.and_utc().timestamp_micros())
            });
            (
                DataType::Timestamp(TimeUnit::Microsecond, None),
                Arc::new(TimestampMicrosecondArray::from(micros)),
            )
        }
        Inferred::Bool => (
            DataType::Boolean,
            Arc::new(BooleanArray::from(typed(values, parse_bool))),
        ),
        Inferred::Text => raw_text(values),
    }
}

/// Text as read; only an empty cell is NULL.
fn raw_text(values: &[String]) -> (DataType, ArrayRef) {
    let a: StringArray = values
        .iter()
        .map(|v| if v.is_empty() { None } else { Some(v.as_str()) })
        .collect();
    (DataType::Utf8, Arc::new(a))
}

/// Read and type a seed file.
pub(crate) fn read_seed(
    path: &Path,
    delimiter: u8,
    column_types: &BTreeMap<String, String>,
) -> Result<SeedData, String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .from_path(path)
        .map_err(|e| format!("cannot read seed {}: {e}", path.display()))?;
    let headers = reader
        .headers()
        .map_err(|e| format!("cannot read the header of {}: {e}", path.display()))?
        .clone();
    let mut names: Vec<String> = Vec::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        let h = if i == 0 {
            h.trim_start_matches('\u{feff}')
        } else {
            h
        };
        let name = h.trim().to_lowercase();
        if name.is_empty() {
            return Err(format!(
                "seed {}: column {} has an empty name",
                path.display(),
                i + 1
            ));
        }
        if names.contains(&name) {
            return Err(format!(
                "seed {}: column `{name}` appears twice (names are compared lowercased)",
                path.display()
            ));
        }
        names.push(name);
    }

    let mut columns: Vec<Vec<String>> = vec![Vec::new(); names.len()];
    for record in reader.records() {
        let record = record.map_err(|e| format!("seed {}: {e}", path.display()))?;
        for (col, value) in columns.iter_mut().zip(record.iter()) {
            col.push(value.to_string());
        }
    }

    let overrides: BTreeMap<String, &String> = column_types
        .iter()
        .map(|(k, v)| (k.to_lowercase(), v))
        .collect();
    let mut fields = Vec::with_capacity(names.len());
    let mut arrays = Vec::with_capacity(names.len());
    let mut casts = BTreeMap::new();
    for (name, values) in names.iter().zip(&columns) {
        let (data_type, array) = match overrides.get(name) {
            Some(sql_type) => {
                casts.insert(name.clone(), sql_type.to_string());
                let lower = sql_type.to_lowercase();
                if lower.starts_with("timestamp") || lower.starts_with("datetime") {
                    // `2021-01-01 00:00` (no seconds) is a timestamp to DuckDB; the cast wants
                    // the seconds written.
                    raw_text(&values.iter().map(|v| with_seconds(v)).collect::<Vec<_>>())
                } else {
                    raw_text(values)
                }
            }
            None => build_column(values, infer(values)),
        };
        fields.push(Field::new(name, data_type, true));
        arrays.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema, arrays)
        .map_err(|e| format!("seed {}: {e}", path.display()))?;
    Ok(SeedData { batch, casts })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn infers_like_dbt() {
        assert_eq!(infer(&s(&["1", "-2", ""])), Inferred::Int);
        assert_eq!(infer(&s(&["1", "2.5"])), Inferred::Float);
        assert_eq!(infer(&s(&["2024-01-31", "null"])), Inferred::Date);
        assert_eq!(
            infer(&s(&["2024-01-31 10:00:00", "2024-01-31T10:00:00Z"])),
            Inferred::Timestamp
        );
        assert_eq!(
            infer(&s(&["2024-01-31 10:00", "2024-01-31 10:00:00.5"])),
            Inferred::Timestamp
        );
        assert_eq!(with_seconds("2021-01-01 00:00"), "2021-01-01 00:00:00");
        assert_eq!(
            infer(&s(&["2024-01-31", "2024-01-31 10:00:00"])),
            Inferred::Text
        );
        assert_eq!(infer(&s(&["True", "false"])), Inferred::Bool);
        assert_eq!(infer(&s(&["1", "yes"])), Inferred::Text);
        assert_eq!(infer(&s(&["", ""])), Inferred::Int);
        assert_eq!(infer(&s(&["0042"])), Inferred::Int);
    }
}
