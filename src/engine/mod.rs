//! The engine: compiled SQL run on embedded DataFusion, materialized as Delta Lake tables.
//!
//! The warehouse is a directory: `<warehouse>/<schema>/<relation>/` holds a Delta table or a
//! stored view (see [`catalog`]). One [`Engine`] owns one DataFusion `SessionContext` in which
//! the warehouse is a catalog named after the database (`warehouse.main.orders`), also the
//! default catalog, so `main.orders` and `orders` (in the default schema) resolve too.
//!
//! Every materialization is one Delta commit, so readers see the old version or the new one,
//! never a mix, and a failing query leaves the previous version in place:
//!
//! | method | Delta operation |
//! |---|---|
//! | [`Engine::create_table_as`], [`Engine::load_seed`] | write, overwrite, schema overwrite |
//! | [`Engine::append`] | write, append |
//! | [`Engine::merge`] | merge: update matched, insert the rest |
//! | [`Engine::delete_insert`] | merge: delete matched, insert all new rows |
//! | [`Engine::insert_overwrite`] | write, overwrite with a `replaceWhere` predicate |
//!
//! Incremental writes into an existing table follow dbt's `on_schema_change: ignore`: the new
//! data is matched to the table's columns by name (case-insensitively) and cast to their types;
//! columns the table lacks are dropped and columns the data lacks are NULL.

pub mod catalog;
mod columns;
pub(crate) mod compat;
mod duckdb_types;
mod functions;
mod seed;
mod session;
mod view_result;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::common::{Column, DFSchema, ScalarValue, TableReference};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::context::{SQLOptions, SessionState};
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{cast, col, lit, Expr};
use datafusion::prelude::{DataFrame, SessionContext};
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};

use crate::diagnostics::{io_error, Diagnostic, Error, Result};
use catalog::{dir_url, kind_at, read_view, ViewDefinition, Warehouse, WarehouseCatalog};
pub use catalog::{RelationKind, DELTA_LOG, VIEW_FILE};
use columns::{
    align, key_predicate, partition_predicate, present_columns, resolve_columns, resolve_in_target,
    source_col, unqualified,
};
pub use session::EngineOptions;

/// Error codes of this layer.
/// The SQL type name for an Arrow type, for casts in generated SQL (typed NULLs, literal rows).
pub fn sql_type(t: &DataType) -> String {
    match t {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 => {
            "integer".into()
        }
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "bigint".into(),
        DataType::Float16 | DataType::Float32 => "real".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("decimal({p}, {s})"),
        DataType::Boolean => "boolean".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        _ => "varchar".into(),
    }
}

/// DuckDB's name for the SQL type of an Arrow type, as dbt-duckdb's `information_schema` and
/// `get_columns_in_relation` report it (`INTEGER`, `VARCHAR`, `DECIMAL(18,3)`, `INTEGER[]`),
/// so that packages can cast to it.
pub fn duckdb_type_name(t: &DataType) -> String {
    match t {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INTEGER".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt8 => "UTINYINT".into(),
        DataType::UInt16 => "USMALLINT".into(),
        DataType::UInt32 => "UINTEGER".into(),
        DataType::UInt64 => "UBIGINT".into(),
        DataType::Float16 | DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("DECIMAL({p},{s})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "BLOB".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Time32(_) | DataType::Time64(_) => "TIME".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        DataType::Timestamp(_, Some(_)) => "TIMESTAMP WITH TIME ZONE".into(),
        DataType::Interval(_) | DataType::Duration(_) => "INTERVAL".into(),
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) => {
            format!("{}[]", duckdb_type_name(f.data_type()))
        }
        DataType::Struct(fields) => format!(
            "STRUCT({})",
            fields
                .iter()
                .map(|f| format!("\"{}\" {}", f.name(), duckdb_type_name(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        DataType::Null => "\"NULL\"".into(),
        other => other.to_string(),
    }
}

pub mod codes {
    use crate::diagnostics::Code;

    /// SQL that does not plan or fails while running.
    pub const SQL: Code = Code::E501;
    /// A relation that does not exist.
    pub const NOT_FOUND: Code = Code::E502;
    /// A Delta read, write or commit that failed.
    pub const DELTA: Code = Code::E503;
    /// Duplicate `unique_key` values in the new data of a merge.
    pub const DUPLICATE_KEY: Code = Code::E504;
    /// A seed file that cannot be read or typed.
    pub const SEED: Code = Code::E505;
    /// A column named in a config (`unique_key`, `partition_by`, ...) that is not there, or a
    /// relation of the wrong kind.
    pub const CONFIG: Code = Code::E506;
    /// A query that needed more memory than the memory limit, in an operator that cannot
    /// spill (or after spilling as far as it could).
    pub const OUT_OF_MEMORY: Code = Code::E507;
}

/// The aliases of the new rows and the existing table in a merge, as dbt names them (lowercase:
/// `incremental_predicates` are SQL, whose unquoted identifiers DataFusion lowercases).
const SOURCE: &str = "dbt_internal_source";
const TARGET: &str = "dbt_internal_dest";
const DELETE_MARK: &str = "__weir_delete";

fn sql_error(e: DataFusionError) -> Error {
    let message = e.strip_backtrace();
    out_of_memory(&message).unwrap_or_else(|| Diagnostic::error(codes::SQL, message).into())
}

fn delta_error(what: &str, e: DeltaTableError) -> Error {
    let message = match e {
        DeltaTableError::Arrow { source } => source.to_string(),
        other => other.to_string(),
    };
    let message = format!("{what}: {message}");
    out_of_memory(&message).unwrap_or_else(|| Diagnostic::error(codes::DELTA, message).into())
}

/// DataFusion's text for a memory pool that refused an allocation.
const EXHAUSTED: &str = "Resources exhausted: ";

/// The error for a query that ran out of memory, if `message` is one. Matched on the text:
/// deltalake turns the DataFusion errors of its writes into strings (`DeltaTableError::Generic`)
/// and DataFusion nests them in context and Arrow errors, so the variant is not always there to
/// match. The run layer adds the node and the limit (see [`Engine::memory_limit`]).
fn out_of_memory(message: &str) -> Option<Error> {
    let at = message.find(EXHAUSTED)?;
    let cause = message[at + EXHAUSTED.len()..].trim();
    Some(
        Diagnostic::error(
            codes::OUT_OF_MEMORY,
            "the query needs more memory than the memory limit, in a step that cannot spill to disk",
        )
        .note(format!("DataFusion: {cause}"))
        .help(MEMORY_HELP)
        .into(),
    )
}

/// How to give queries more memory.
pub const MEMORY_HELP: &str = "raise the limit with `memory_limit` in the output of profiles.yml \
     (`memory_limit: 8GB` or `memory_limit: 80%`) or with `--memory-limit`, or make the query \
     need less (fewer rows or columns in one group, a smaller join side)";

fn config_error(message: impl Into<String>) -> Error {
    Diagnostic::error(codes::CONFIG, message).into()
}

/// The engine over one warehouse directory.
pub struct Engine {
    ctx: SessionContext,
    wh: Arc<Warehouse>,
    database: String,
    default_schema: String,
    memory_limit: usize,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("warehouse", &self.wh.root)
            .field("database", &self.database)
            .field("default_schema", &self.default_schema)
            .finish()
    }
}

impl Engine {
    /// Open the warehouse (a local path; created if missing) as catalog `database`, which is
    /// also the default catalog, with `default_schema` as the default schema (created if
    /// missing). Relations created later, by this or another process, are visible at once.
    /// Queries share one memory pool and spill as `options` say (see [`session`]).
    pub async fn open(
        warehouse: &str,
        database: &str,
        default_schema: &str,
        options: &EngineOptions,
    ) -> Result<Engine> {
        let root = Path::new(warehouse);
        std::fs::create_dir_all(root)
            .map_err(|e| io_error("create the warehouse directory", root, e))?;
        let root = root
            .canonicalize()
            .map_err(|e| io_error("resolve the warehouse directory", root, e))?;
        let wh = Arc::new(Warehouse::new(root));
        if wh.schema_dir(default_schema).is_none() {
            let dir = wh.root.join(default_schema);
            std::fs::create_dir_all(&dir).map_err(|e| io_error("create", &dir, e))?;
        }

        let ctx = session::build_context(database, default_schema, options)?;

        let weak = ctx.state_weak_ref();
        let _ = wh
            .state
            .set(Box::new(move || weak.upgrade().map(|s| s.read().clone())));
        let catalog = Arc::new(WarehouseCatalog {
            wh: Arc::clone(&wh),
        });
        ctx.register_catalog(database, catalog.clone());
        let lower = database.to_lowercase();
        if lower != database {
            ctx.register_catalog(lower, catalog);
        }
        Ok(Engine {
            ctx,
            wh,
            database: database.to_string(),
            default_schema: default_schema.to_string(),
            memory_limit: options.memory_limit,
        })
    }

    /// The DataFusion session, for callers that need more than this API.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The warehouse directory (absolute).
    pub fn warehouse(&self) -> &Path {
        &self.wh.root
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    pub fn default_schema(&self) -> &str {
        &self.default_schema
    }

    /// The memory pool every query of this engine shares, in bytes.
    pub fn memory_limit(&self) -> usize {
        self.memory_limit
    }

    /// Run any SQL statement (a query, or DDL such as `CREATE SCHEMA`) and collect the result.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let plan = compat::plan_sql(&self.ctx.state(), sql)
            .await
            .map_err(sql_error)?;
        let df = self
            .ctx
            .execute_logical_plan(plan)
            .await
            .map_err(sql_error)?;
        df.collect().await.map_err(sql_error)
    }

    /// Run a query for Jinja (`run_query`, `statement`, introspection): rows as JSON values.
    pub async fn query_result(&self, sql: &str) -> Result<crate::jinja::objects::QueryResult> {
        let batches = self.query(sql).await?;
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => self
                .schema_of(sql)
                .await
                .unwrap_or_else(|_| Arc::new(datafusion::arrow::datatypes::Schema::empty())),
        };
        let columns: Vec<(String, String)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), duckdb_type_name(f.data_type())))
            .collect();
        let mut writer = datafusion::arrow::json::ArrayWriter::new(Vec::new());
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        writer
            .write_batches(&refs)
            .map_err(|e| Error::from(Diagnostic::error(codes::SQL, e.to_string())))?;
        writer
            .finish()
            .map_err(|e| Error::from(Diagnostic::error(codes::SQL, e.to_string())))?;
        let data = writer.into_inner();
        let objects: Vec<serde_json::Map<String, serde_json::Value>> = if data.is_empty() {
            Vec::new()
        } else {
            serde_json::from_slice(&data).unwrap_or_default()
        };
        let rows = objects
            .into_iter()
            .map(|mut o| {
                columns
                    .iter()
                    .map(|(c, _)| o.remove(c).unwrap_or(serde_json::Value::Null))
                    .collect()
            })
            .collect();
        Ok(crate::jinja::objects::QueryResult { columns, rows })
    }

    /// The result schema of a query, planned but not run.
    pub async fn schema_of(&self, sql: &str) -> Result<SchemaRef> {
        let df = self.plan_select(sql).await?;
        Ok(Arc::clone(df.schema().inner()))
    }

    /// Is there a table or a view `schema.name` in the warehouse?
    pub fn exists(&self, schema: &str, name: &str) -> bool {
        self.wh.kind(schema, name).is_some()
    }

    pub fn kind(&self, schema: &str, name: &str) -> Option<RelationKind> {
        self.wh.kind(schema, name)
    }

    /// Column names and types of a table or view.
    pub async fn columns(&self, schema: &str, name: &str) -> Result<Vec<(String, DataType)>> {
        if !self.exists(schema, name) {
            return Err(Diagnostic::error(
                codes::NOT_FOUND,
                format!("relation {}.{schema}.{name} does not exist", self.database),
            )
            .into());
        }
        let provider = self
            .ctx
            .table_provider(TableReference::full(self.database.as_str(), schema, name))
            .await
            .map_err(sql_error)?;
        Ok(provider
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect())
    }

    /// CTAS: run the query and write its result as a new version of the Delta table
    /// `schema.name` in one commit (overwrite, schema and partitioning replaced), creating the
    /// table if absent and replacing a view of that name. A query that fails leaves the
    /// previous version as it was. Returns the number of rows written.
    pub async fn create_table_as(
        &self,
        schema: &str,
        name: &str,
        sql: &str,
        partition_by: &[String],
    ) -> Result<u64> {
        let df = self.plan_select(sql).await?;
        let dir = self.prepare_dir(schema, name)?;
        let table = self.load_table(&dir, schema, name).await?;
        self.overwrite(table, &dir, df, partition_by, schema, name)
            .await
    }

    /// Store a view: plan the SQL (it must plan now), then write `_weir_view.json` in the
    /// relation's directory atomically (temporary file + rename), replacing a table of that
    /// name. A view that would depend on itself is refused.
    pub async fn create_view(&self, schema: &str, name: &str, sql: &str) -> Result<()> {
        self.plan_select(sql).await?;
        self.check_view_cycle(schema, name, sql)?;
        let dir = self.prepare_dir(schema, name)?;
        let def = ViewDefinition {
            format: 1,
            sql: sql.to_string(),
        };
        let text = serde_json::to_string_pretty(&def)
            .map_err(|e| Diagnostic::internal(format!("cannot serialize a view: {e}")))?;
        let tmp = dir.join(format!(".{VIEW_FILE}.{}.tmp", uuid::Uuid::new_v4()));
        std::fs::write(&tmp, text).map_err(|e| io_error("write", &tmp, e))?;
        let path = dir.join(VIEW_FILE);
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_error("write", &path, e)
        })?;
        // The view file now wins over any table here; remove the table's files.
        let entries = std::fs::read_dir(&dir).map_err(|e| io_error("read", &dir, e))?;
        for entry in entries.flatten() {
            if entry.file_name() == VIEW_FILE {
                continue;
            }
            let p = entry.path();
            let removed = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            removed.map_err(|e| io_error("remove", &p, e))?;
        }
        Ok(())
    }

    /// Append the query's rows to the table (created if absent). Returns the rows written.
    pub async fn append(&self, schema: &str, name: &str, sql: &str) -> Result<u64> {
        let df = self.plan_select(sql).await?;
        let dir = self.prepare_dir(schema, name)?;
        let table = self.load_table(&dir, schema, name).await?;
        self.append_df(table, &dir, df, schema, name).await
    }

    /// Rewrite the table's columns as `columns` (name and type, in order), in one overwrite
    /// commit, shaped as new data is (see [`align`]): existing columns converted (structs field
    /// by field), new ones NULL, the table's other columns dropped. For `on_schema_change`.
    pub async fn evolve_columns(
        &self,
        schema: &str,
        name: &str,
        columns: &[(String, DataType)],
        partition_by: &[String],
    ) -> Result<()> {
        let df = self
            .plan_select(&format!(
                "select * from {}.{}",
                seed::quote_ident(schema),
                seed::quote_ident(name)
            ))
            .await?;
        let target = Arc::new(datafusion::arrow::datatypes::Schema::new(
            columns
                .iter()
                .map(|(c, t)| datafusion::arrow::datatypes::Field::new(c, t.clone(), true))
                .collect::<Vec<_>>(),
        ));
        let df = align(df, &target)?;
        let dir = self.prepare_dir(schema, name)?;
        let table = self.load_table(&dir, schema, name).await?;
        self.overwrite(table, &dir, df, partition_by, schema, name)
            .await
            .map(|_| ())
    }

    /// MERGE on `unique_key`: target rows whose key matches a new row are updated (all
    /// columns, or only `update_columns`), the other new rows inserted, in one commit
    /// (deltalake's merge builder). Duplicate keys in the new data are an error naming the
    /// key; rows with a NULL key never match and are inserted. Without `unique_key` this is an
    /// append. Returns the rows inserted plus updated.
    pub async fn merge(
        &self,
        schema: &str,
        name: &str,
        sql: &str,
        unique_key: &[String],
        update_columns: Option<&[String]>,
        predicates: &[String],
    ) -> Result<u64> {
        let df = self.plan_select(sql).await?;
        let dir = self.prepare_dir(schema, name)?;
        let table = self.load_table(&dir, schema, name).await?;
        if unique_key.is_empty() {
            return self.append_df(table, &dir, df, schema, name).await;
        }
        let (src, _) = self.materialize(df).await?;
        let src_keys = resolve_columns(src.schema(), unique_key, "unique_key", "the new data")?;
        self.check_duplicates(&src, &src_keys, schema, name).await?;
        if !is_table(&table) {
            return self.overwrite(table, &dir, src, &[], schema, name).await;
        }

        let target = target_schema(&table, schema, name)?;
        let present = present_columns(src.schema(), &target);
        let keys = resolve_in_target(&target, unique_key, "unique_key", schema, name)?;
        let updates: Vec<String> = match update_columns {
            Some(cols) => resolve_in_target(&target, cols, "merge_update_columns", schema, name)?,
            None => present.clone(),
        };
        let src = align(src, &target)?;
        let on = key_predicate(&keys).and(self.merge_predicates(&target, &src, predicates)?);

        let mut builder = table
            .merge(src, on)
            .with_source_alias(SOURCE)
            .with_target_alias(TARGET)
            .with_session_state(self.session());
        if !updates.is_empty() {
            builder = builder
                .when_matched_update(|mut u| {
                    for c in &updates {
                        u = u.update(Column::new_unqualified(c), source_col(c));
                    }
                    u
                })
                .map_err(|e| delta_error(&format!("merge into {schema}.{name}"), e))?;
        }
        let (_, metrics) = builder
            .when_not_matched_insert(|mut i| {
                for f in target.fields() {
                    i = i.set(Column::new_unqualified(f.name()), source_col(f.name()));
                }
                i
            })
            .map_err(|e| delta_error(&format!("merge into {schema}.{name}"), e))?
            .await
            .map_err(|e| delta_error(&format!("merge into {schema}.{name}"), e))?;
        Ok((metrics.num_target_rows_inserted + metrics.num_target_rows_updated) as u64)
    }

    /// delete+insert: delete the target rows whose `unique_key` is in the new data, then insert
    /// all new rows, in ONE commit. Done as a Delta merge whose source is the new rows (never
    /// matching) plus the distinct new keys (matching, with a delete action): unlike a
    /// `replaceWhere` write this needs no predicate listing every key, scales to any number of
    /// keys and to composite keys, and keeps dbt's semantics (a NULL key deletes nothing,
    /// duplicate keys in the new data are all inserted). Without `unique_key` this is an
    /// append. Returns the rows inserted.
    pub async fn delete_insert(
        &self,
        schema: &str,
        name: &str,
        sql: &str,
        unique_key: &[String],
        predicates: &[String],
    ) -> Result<u64> {
        let df = self.plan_select(sql).await?;
        let dir = self.prepare_dir(schema, name)?;
        let table = self.load_table(&dir, schema, name).await?;
        if unique_key.is_empty() {
            return self.append_df(table, &dir, df, schema, name).await;
        }
        let (src, _) = self.materialize(df).await?;
        resolve_columns(src.schema(), unique_key, "unique_key", "the new data")?;
        if !is_table(&table) {
            return self.overwrite(table, &dir, src, &[], schema, name).await;
        }
        let target = target_schema(&table, schema, name)?;
        let keys = resolve_in_target(&target, unique_key, "unique_key", schema, name)?;
        let src = align(src, &target)?;
        let extra = self.merge_predicates(&target, &src, predicates)?;

        let inserts = src
            .clone()
            .with_column(DELETE_MARK, lit(false))
            .map_err(sql_error)?;
        let key_set: HashSet<&str> = keys.iter().map(String::as_str).collect();
        let mut delete_cols: Vec<Expr> = target
            .fields()
            .iter()
            .map(|f| {
                if key_set.contains(f.name().as_str()) {
                    unqualified(f.name())
                } else {
                    cast(lit(ScalarValue::Null), f.data_type().clone()).alias(f.name())
                }
            })
            .collect();
        delete_cols.push(lit(true).alias(DELETE_MARK));
        let deletes = src
            .select(keys.iter().map(|k| unqualified(k)).collect::<Vec<_>>())
            .and_then(|d| d.distinct())
            .and_then(|d| d.select(delete_cols))
            .map_err(sql_error)?;
        let source = inserts.union(deletes).map_err(sql_error)?;

        let what = format!("delete+insert into {schema}.{name}");
        let (_, metrics) = table
            .merge(
                source,
                key_predicate(&keys).and(source_col(DELETE_MARK)).and(extra),
            )
            .with_source_alias(SOURCE)
            .with_target_alias(TARGET)
            .with_session_state(self.session())
            .when_matched_delete(|d| d)
            .map_err(|e| delta_error(&what, e))?
            .when_not_matched_insert(|mut i| {
                i = i.predicate(!source_col(DELETE_MARK));
                for f in target.fields() {
                    i = i.set(Column::new_unqualified(f.name()), source_col(f.name()));
                }
                i
            })
            .map_err(|e| delta_error(&what, e))?
            .await
            .map_err(|e| delta_error(&what, e))?;
        Ok(metrics.num_target_rows_inserted as u64)
    }

    /// insert_overwrite: replace the partitions (values of `partition_by`) present in the new
    /// data, in one commit (a Delta overwrite with a `replaceWhere` predicate listing them).
    /// Without `partition_by` the whole table is replaced (keeping its schema). New data with
    /// no rows changes nothing. Returns the rows written.
    pub async fn insert_overwrite(
        &self,
        schema: &str,
        name: &str,
        sql: &str,
        partition_by: &[String],
    ) -> Result<u64> {
        let df = self.plan_select(sql).await?;
        let dir = self.prepare_dir(schema, name)?;
        let table = self.load_table(&dir, schema, name).await?;
        if !is_table(&table) {
            return self
                .overwrite(table, &dir, df, partition_by, schema, name)
                .await;
        }
        let target = target_schema(&table, schema, name)?;
        let what = format!("insert_overwrite into {schema}.{name}");
        if partition_by.is_empty() {
            let df = align(df, &target)?;
            let table = table
                .write(Vec::new())
                .with_input_plan(df.into_unoptimized_plan())
                .with_session_state(self.session())
                .with_save_mode(SaveMode::Overwrite)
                .await
                .map_err(|e| delta_error(&what, e))?;
            return Ok(added_rows(&table).await);
        }
        let parts = resolve_in_target(&target, partition_by, "partition_by", schema, name)?;
        let (src, rows) = self.materialize(df).await?;
        if rows == 0 {
            return Ok(0);
        }
        let src = align(src, &target)?;
        let values = src
            .clone()
            .select(parts.iter().map(|p| unqualified(p)).collect::<Vec<_>>())
            .and_then(|d| d.distinct())
            .map_err(sql_error)?
            .collect()
            .await
            .map_err(sql_error)?;
        let predicate = partition_predicate(&parts, &values)?;
        let table = table
            .write(Vec::new())
            .with_input_plan(src.into_unoptimized_plan())
            .with_session_state(self.session())
            .with_save_mode(SaveMode::Overwrite)
            .with_replace_where(predicate)
            .await
            .map_err(|e| delta_error(&what, e))?;
        Ok(added_rows(&table).await)
    }

    /// Replace the rows matching `predicate` (SQL) by the query's rows, in one commit (Delta
    /// `replaceWhere`); creates the table when it does not exist. Microbatch uses it per batch.
    pub async fn replace_where(
        &self,
        schema: &str,
        name: &str,
        sql: &str,
        predicate: &str,
    ) -> Result<u64> {
        let df = self.plan_select(sql).await?;
        let dir = self.prepare_dir(schema, name)?;
        let table = self.load_table(&dir, schema, name).await?;
        if !is_table(&table) {
            return self.overwrite(table, &dir, df, &[], schema, name).await;
        }
        let target = target_schema(&table, schema, name)?;
        let df = align(df, &target)?;
        let what = format!("replace rows of {schema}.{name} where {predicate}");
        let table = table
            .write(Vec::new())
            .with_input_plan(df.into_unoptimized_plan())
            .with_session_state(self.session())
            .with_save_mode(SaveMode::Overwrite)
            .with_replace_where(predicate.to_string())
            .await
            .map_err(|e| delta_error(&what, e))?;
        Ok(added_rows(&table).await)
    }

    /// Drop a table or view (its whole directory). Nothing to drop is not an error.
    pub async fn drop_relation(&self, schema: &str, name: &str) -> Result<()> {
        if let Ok(mut memory) = self.wh.memory.lock() {
            memory.remove(&(schema.to_string(), name.to_string()));
        }
        if let Some(dir) = self.wh.relation_dir(schema, name) {
            std::fs::remove_dir_all(&dir).map_err(|e| io_error("remove", &dir, e))?;
        }
        Ok(())
    }

    /// Load a seed CSV as the Delta table `schema.name` (overwrite): header row, `delimiter`,
    /// dbt-duckdb's type inference, lowercased column names, `column_types` overrides (column ->
    /// SQL type). See `engine::seed` (private) for the rules. Returns the rows written.
    pub async fn load_seed(
        &self,
        schema: &str,
        name: &str,
        csv: &Path,
        delimiter: u8,
        column_types: &BTreeMap<String, String>,
    ) -> Result<u64> {
        let data = seed::read_seed(csv, delimiter, column_types)
            .map_err(|m| Error::from(Diagnostic::error(codes::SEED, m)))?;
        let seed_error = |e: DataFusionError| -> Error {
            Diagnostic::error(
                codes::SEED,
                format!("seed {}: {}", csv.display(), e.strip_backtrace()),
            )
            .into()
        };
        let fields = data.batch.schema().fields().clone();
        let mut df = self.ctx.read_batch(data.batch).map_err(seed_error)?;
        if !data.casts.is_empty() {
            let mut exprs = Vec::with_capacity(fields.len());
            for f in &fields {
                match data.casts.get(f.name()) {
                    Some(sql_type) => {
                        let sql = format!("CAST({} AS {sql_type})", seed::quote_ident(f.name()));
                        let e = df.parse_sql_expr(&sql).map_err(|e| {
                            Error::from(Diagnostic::error(
                                codes::SEED,
                                format!(
                                    "seed {}: column_types: `{}: {sql_type}`: {}",
                                    csv.display(),
                                    f.name(),
                                    e.strip_backtrace()
                                ),
                            ))
                        })?;
                        exprs.push(e.alias(f.name()));
                    }
                    None => exprs.push(unqualified(f.name())),
                }
            }
            df = df.select(exprs).map_err(seed_error)?;
            // Run the casts now, so a value that does not cast is reported as a seed error.
            let (checked, _) = self.materialize(df).await.map_err(|e| {
                let d = e.diagnostic();
                Error::from(Diagnostic::error(
                    codes::SEED,
                    format!("seed {}: {}", csv.display(), d.message),
                ))
            })?;
            df = checked;
        }
        let dir = self.prepare_dir(schema, name)?;
        let table = self.load_table(&dir, schema, name).await?;
        self.overwrite(table, &dir, df, &[], schema, name).await
    }

    // ---- helpers ----

    /// `incremental_predicates`: SQL conditions over `DBT_INTERNAL_DEST` (the existing table)
    /// and `DBT_INTERNAL_SOURCE` (the new rows), ANDed into the merge condition, so a merge
    /// only looks at (and Delta only reads the files of) the part of the table they admit.
    fn merge_predicates(
        &self,
        target: &SchemaRef,
        src: &DataFrame,
        predicates: &[String],
    ) -> Result<Expr> {
        if predicates.is_empty() {
            return Ok(lit(true));
        }
        let qualified = DFSchema::try_from_qualified_schema(TARGET, target)
            .and_then(|t| {
                DFSchema::try_from_qualified_schema(SOURCE, src.schema().inner())
                    .and_then(|s| t.join(&s))
            })
            .map_err(sql_error)?;
        let state = self.ctx.state();
        let mut all = lit(true);
        for p in predicates {
            let e = state.create_logical_expr(p, &qualified).map_err(|e| {
                Error::from(
                    Diagnostic::error(
                        codes::CONFIG,
                        format!("incremental_predicates: cannot use `{p}`: {}", e.strip_backtrace()),
                    )
                    .help("write conditions over DBT_INTERNAL_DEST.<column> (the existing table) and DBT_INTERNAL_SOURCE.<column> (the new rows)"),
                )
            })?;
            all = all.and(e);
        }
        Ok(all)
    }

    fn session(&self) -> Arc<SessionState> {
        Arc::new(self.ctx.state())
    }

    /// Plan a query; statements that would change something (DDL, DML, SET) are refused.
    async fn plan_select(&self, sql: &str) -> Result<DataFrame> {
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let plan = compat::plan_sql(&self.ctx.state(), sql)
            .await
            .map_err(sql_error)?;
        options.verify_plan(&plan).map_err(sql_error)?;
        self.ctx.execute_logical_plan(plan).await.map_err(sql_error)
    }

    /// Run a query into memory; a DataFrame over the result and its row count.
    async fn materialize(&self, df: DataFrame) -> Result<(DataFrame, usize)> {
        let schema = Arc::clone(df.schema().inner());
        let batches = df.collect().await.map_err(sql_error)?;
        let rows = batches.iter().map(RecordBatch::num_rows).sum();
        let schema = batches.first().map(|b| b.schema()).unwrap_or(schema);
        let mem = MemTable::try_new(schema, vec![batches]).map_err(sql_error)?;
        let df = self.ctx.read_table(Arc::new(mem)).map_err(sql_error)?;
        Ok((df, rows))
    }

    /// The relation's directory, created (with its schema directory) if missing.
    fn prepare_dir(&self, schema: &str, name: &str) -> Result<PathBuf> {
        let dir = self.wh.target_dir(schema, name);
        std::fs::create_dir_all(&dir).map_err(|e| io_error("create", &dir, e))?;
        Ok(dir)
    }

    /// The Delta table in `dir`: loaded at its latest version, or not yet initialized.
    async fn load_table(&self, dir: &Path, schema: &str, name: &str) -> Result<DeltaTable> {
        let url = dir_url(dir).map_err(|m| Error::from(Diagnostic::internal(m)))?;
        DeltaTable::try_from_url(url)
            .await
            .map_err(|e| delta_error(&format!("cannot open {schema}.{name}"), e))
    }

    /// Overwrite (or create) the table with the DataFrame's rows, schema and partitioning
    /// replaced; a view file in `dir` is removed once the commit is done.
    async fn overwrite(
        &self,
        table: DeltaTable,
        dir: &Path,
        df: DataFrame,
        partition_by: &[String],
        schema: &str,
        name: &str,
    ) -> Result<u64> {
        let partition_by = resolve_columns(df.schema(), partition_by, "partition_by", "the query")?;
        let columns: Vec<Expr> = df
            .schema()
            .iter()
            .map(|(q, f)| functions::nullable(col(Column::from((q, f)))).alias(f.name()))
            .collect();
        let df = df.select(columns).map_err(sql_error)?;
        let table = table
            .write(Vec::new())
            .with_input_plan(df.into_unoptimized_plan())
            .with_session_state(self.session())
            .with_save_mode(SaveMode::Overwrite)
            .with_schema_mode(SchemaMode::Overwrite)
            .with_partition_columns(partition_by)
            .await
            .map_err(|e| delta_error(&format!("cannot write {schema}.{name}"), e))?;
        remove_view_file(dir)?;
        Ok(added_rows(&table).await)
    }

    async fn append_df(
        &self,
        table: DeltaTable,
        dir: &Path,
        df: DataFrame,
        schema: &str,
        name: &str,
    ) -> Result<u64> {
        if kind_at(dir) == Some(RelationKind::View) {
            return Err(config_error(format!(
                "cannot append to {schema}.{name}: it is a view"
            )));
        }
        if !is_table(&table) {
            return self.overwrite(table, dir, df, &[], schema, name).await;
        }
        let target = target_schema(&table, schema, name)?;
        let df = align(df, &target)?;
        let table = table
            .write(Vec::new())
            .with_input_plan(df.into_unoptimized_plan())
            .with_session_state(self.session())
            .with_save_mode(SaveMode::Append)
            .await
            .map_err(|e| delta_error(&format!("cannot append to {schema}.{name}"), e))?;
        Ok(added_rows(&table).await)
    }

    async fn check_duplicates(
        &self,
        src: &DataFrame,
        keys: &[String],
        schema: &str,
        name: &str,
    ) -> Result<()> {
        let not_null = keys
            .iter()
            .map(|k| unqualified(k).is_not_null())
            .reduce(Expr::and)
            .unwrap_or_else(|| lit(true));
        let found = src
            .clone()
            .filter(not_null)
            .and_then(|d| {
                d.aggregate(
                    keys.iter().map(|k| unqualified(k)).collect(),
                    vec![count(lit(1)).alias("__weir_n")],
                )
            })
            .and_then(|d| d.filter(col("__weir_n").gt(lit(1i64))))
            .and_then(|d| d.limit(0, Some(1)))
            .map_err(sql_error)?
            .collect()
            .await
            .map_err(sql_error)?;
        let Some(batch) = found.iter().find(|b| b.num_rows() > 0) else {
            return Ok(());
        };
        let key = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let v = array_value_to_string(batch.column(i), 0).unwrap_or_default();
                format!("{k} = {v}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let n = batch
            .column(keys.len())
            .as_any()
            .downcast_ref::<Int64Array>()
            .map(|a| a.value(0))
            .unwrap_or(2);
        Err(Diagnostic::error(
            codes::DUPLICATE_KEY,
            format!(
                "merge into {schema}.{name}: the new data has {n} rows with unique_key {key}; \
                 a merge needs at most one row per key"
            ),
        )
        .help("make the model's rows unique on the unique_key, or use the delete+insert strategy")
        .into())
    }

    fn check_view_cycle(&self, schema: &str, name: &str, sql: &str) -> Result<()> {
        let state = self.ctx.state();
        let options = state.config().options();
        let dialect = options.sql_parser.dialect;
        let default_catalog = options.catalog.default_catalog.clone();
        let default_schema = options.catalog.default_schema.clone();
        let mut stack = vec![(sql.to_string(), format!("{schema}.{name}"))];
        let mut seen: HashSet<PathBuf> = HashSet::new();
        while let Some((sql, path)) = stack.pop() {
            let Ok(statement) = state.sql_to_statement(&sql, &dialect) else {
                continue;
            };
            let Ok(refs) = state.resolve_table_references(&statement) else {
                continue;
            };
            for r in refs {
                let r = r.resolve(&default_catalog, &default_schema);
                if !r.catalog.eq_ignore_ascii_case(&self.database) {
                    continue;
                }
                let step = format!("{path} -> {}.{}", r.schema, r.table);
                if r.schema.eq_ignore_ascii_case(schema) && r.table.eq_ignore_ascii_case(name) {
                    return Err(config_error(format!(
                        "view {schema}.{name} would depend on itself: {step}"
                    )));
                }
                if let Some(dir) = self.wh.relation_dir(&r.schema, &r.table) {
                    if kind_at(&dir) == Some(RelationKind::View) && seen.insert(dir.clone()) {
                        if let Ok(def) = read_view(&dir) {
                            stack.push((def.sql, step));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

fn is_table(table: &DeltaTable) -> bool {
    table.version().is_some()
}

fn remove_view_file(dir: &Path) -> Result<()> {
    let path = dir.join(VIEW_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("remove", &path, e)),
    }
}

/// Rows added by the table's last commit, from its `operationMetrics`.
async fn added_rows(table: &DeltaTable) -> u64 {
    let Ok(mut history) = table.history(Some(1)).await else {
        return 0;
    };
    history
        .next()
        .and_then(|c| {
            c.info
                .get("operationMetrics")?
                .get("num_added_rows")?
                .as_u64()
        })
        .unwrap_or(0)
}

fn target_schema(table: &DeltaTable, schema: &str, name: &str) -> Result<SchemaRef> {
    let state = table
        .snapshot()
        .map_err(|e| delta_error(&format!("cannot read {schema}.{name}"), e))?;
    Ok(state.snapshot().arrow_schema())
}
