//! The warehouse as a DataFusion catalog: `<root>/<schema>/<relation>/`.
//!
//! A schema is a sub-directory of the warehouse root. A relation is a sub-directory of a schema
//! holding either a Delta table (`_delta_log/`) or a stored view (`_weir_view.json`, which wins
//! when both exist, so that replacing one kind by the other is never seen half done). Nothing is
//! cached but Delta table providers, reused while their log has no newer commit, and planned
//! views (or, for small ones, their rows: see `view_result`), reused while their file and every
//! table under them are unchanged: every lookup reads
//! the directory, so relations created by this or another process are visible at once. Unquoted identifiers arrive lowercased from DataFusion; a directory whose
//! name differs only in case is found too.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};

use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::datasource::{TableProvider, TableType, ViewTable};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::context::SessionState;
use deltalake::DeltaTableBuilder;
use serde::{Deserialize, Serialize};
use url::Url;

/// The file that makes a relation directory a view.
pub const VIEW_FILE: &str = "_weir_view.json";
/// The Delta transaction log directory.
pub const DELTA_LOG: &str = "_delta_log";

/// What a relation in the warehouse is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    Table,
    View,
}

/// The content of `_weir_view.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ViewDefinition {
    /// Format version of this file.
    #[serde(default = "one")]
    pub format: u32,
    /// The view's SQL, as planned when it was created.
    pub sql: String,
}

fn one() -> u32 {
    1
}

/// Gives a snapshot of the engine's session state, to plan stored views with.
pub(crate) type StateSource = Box<dyn Fn() -> Option<SessionState> + Send + Sync>;

/// What the catalog, its schemas and the engine share.
pub(crate) struct Warehouse {
    pub root: PathBuf,
    /// Set once the SessionContext exists (it owns the catalog, so only a weak link back).
    pub state: OnceLock<StateSource>,
    /// Tables registered through SQL (`CREATE TABLE` / `CREATE VIEW` statements): kept in memory
    /// for the life of the engine only.
    pub memory: Mutex<HashMap<(String, String), Arc<dyn TableProvider>>>,
    /// Delta table providers already opened, by directory, with the log head they were read
    /// at: reused while the head is unchanged (a commit adds a newer log file, so a table
    /// written since, by this or another process, is read again).
    tables: Mutex<HashMap<PathBuf, CachedTable>>,
    /// Stored views already planned, by directory, with what their plan was built from: the
    /// view file and, through every view under it, the log head of every table it reads.
    /// Reused while all of those are unchanged.
    views: Mutex<HashMap<PathBuf, CachedView>>,
    /// Memory held by the kept rows of small views, in all.
    kept_bytes: std::sync::atomic::AtomicUsize,
}

/// A Delta table provider, the log head it was read at, and the bytes of its data files.
type CachedTable = (LogHead, Arc<dyn TableProvider>, u64);

/// What a planned view was built from, and the plan.
struct CachedView {
    deps: Vec<Dep>,
    provider: Arc<dyn TableProvider>,
    /// Memory held by kept rows (see `view_result`), 0 for a plan.
    bytes: usize,
}

/// One input of a planned view, as it was when the view was planned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Dep {
    /// A Delta table's newest commit.
    Table(PathBuf, Option<LogHead>),
    /// A view file's modification time and length.
    View(PathBuf, Option<(std::time::SystemTime, u64)>),
}

impl Dep {
    fn current(&self) -> Dep {
        match self {
            Dep::Table(dir, _) => Dep::Table(dir.clone(), log_head(dir)),
            Dep::View(dir, _) => Dep::View(dir.clone(), view_stamp(dir)),
        }
    }
}

/// The modification time and length of a view's definition file.
fn view_stamp(dir: &Path) -> Option<(std::time::SystemTime, u64)> {
    let meta = std::fs::metadata(dir.join(VIEW_FILE)).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The newest commit of a Delta log: its version and the file's modification time (a table
/// removed and created again starts over at version 0).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LogHead {
    version: u64,
    modified: Option<std::time::SystemTime>,
}

/// The newest commit file in `dir/_delta_log`, without reading any of it.
fn log_head(dir: &Path) -> Option<LogHead> {
    let log = dir.join(DELTA_LOG);
    let mut best: Option<(u64, std::ffi::OsString)> = None;
    for entry in std::fs::read_dir(&log).ok()?.flatten() {
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        let Ok(version) = stem.parse::<u64>() else {
            continue;
        };
        if best.as_ref().is_none_or(|(v, _)| version > *v) {
            best = Some((version, name));
        }
    }
    let (version, name) = best?;
    let modified = std::fs::metadata(log.join(name))
        .and_then(|m| m.modified())
        .ok();
    Some(LogHead { version, modified })
}

impl fmt::Debug for Warehouse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Warehouse")
            .field("root", &self.root)
            .finish()
    }
}

impl Warehouse {
    pub(crate) fn new(root: PathBuf) -> Self {
        Warehouse {
            root,
            state: OnceLock::new(),
            memory: Mutex::new(HashMap::new()),
            tables: Mutex::new(HashMap::new()),
            views: Mutex::new(HashMap::new()),
            kept_bytes: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The relations a view's SQL reads, as dependencies (views followed down to their
    /// tables), or None when that cannot be worked out (the view is then not cached).
    fn view_deps(&self, state: &SessionState, sql: &str, depth: usize) -> Option<Vec<Dep>> {
        if depth > 64 {
            return None;
        }
        let dialect = state.config().options().sql_parser.dialect;
        let statement = state.sql_to_statement(sql, &dialect).ok()?;
        let refs = state.resolve_table_references(&statement).ok()?;
        // Views are planned in the engine's session: bare names are in its default schema.
        let schema = state.config().options().catalog.default_schema.clone();
        let mut deps = Vec::new();
        for r in refs {
            let (ref_schema, name) = match &r {
                datafusion::common::TableReference::Bare { table } => {
                    (schema.to_string(), table.to_string())
                }
                datafusion::common::TableReference::Partial { schema, table } => {
                    (schema.to_string(), table.to_string())
                }
                datafusion::common::TableReference::Full { schema, table, .. } => {
                    (schema.to_string(), table.to_string())
                }
            };
            if self.memory_table(&ref_schema, &name).is_some() {
                return None;
            }
            // A name that is not in the warehouse (a table function, a CTE the resolver did
            // not see as one, a relation yet to come) is not cached against.
            let dir = self.relation_dir(&ref_schema, &name)?;
            match kind_at(&dir)? {
                RelationKind::Table => deps.push(Dep::Table(dir.clone(), log_head(&dir))),
                RelationKind::View => {
                    let def = read_view(&dir).ok()?;
                    deps.push(Dep::View(dir.clone(), view_stamp(&dir)));
                    deps.extend(self.view_deps(state, &def.sql, depth + 1)?);
                }
            }
        }
        Some(deps)
    }

    /// The provider of the Delta table in `dir`: the one opened before if the log has no newer
    /// commit since, else opened now (and kept).
    async fn delta_table(&self, dir: &Path) -> DfResult<Arc<dyn TableProvider>> {
        let head = log_head(dir);
        if let Some(head) = &head {
            let tables = self.tables.lock().map_err(|e| df_err(e.to_string()))?;
            if let Some((seen, provider, _)) = tables.get(dir) {
                if seen == head {
                    return Ok(Arc::clone(provider));
                }
            }
        }
        let state = self.session_state();
        let (provider, bytes) = delta_provider(dir, state.as_ref()).await?;
        if let Some(head) = head {
            let mut tables = self.tables.lock().map_err(|e| df_err(e.to_string()))?;
            tables.insert(dir.to_path_buf(), (head, Arc::clone(&provider), bytes));
        }
        Ok(provider)
    }

    /// The bytes of data files under a view, from the tables it was planned with (as opened
    /// for it, at the log heads in `deps`); None if any is not at hand.
    fn bytes_under(&self, deps: &[Dep]) -> Option<u64> {
        let tables = self.tables.lock().ok()?;
        let mut total = 0;
        for dep in deps {
            if let Dep::Table(dir, head) = dep {
                let (seen, _, bytes) = tables.get(dir)?;
                if Some(seen) != head.as_ref() {
                    return None;
                }
                total += bytes;
            }
        }
        Some(total)
    }

    fn session_state(&self) -> Option<SessionState> {
        self.state.get().and_then(|f| f())
    }

    /// The directory of a schema: the exact name, else the one directory equal ignoring case.
    pub(crate) fn schema_dir(&self, schema: &str) -> Option<PathBuf> {
        find_dir(&self.root, schema)
    }

    /// The directory of an existing relation (table or view).
    pub(crate) fn relation_dir(&self, schema: &str, name: &str) -> Option<PathBuf> {
        let schema_dir = self.schema_dir(schema)?;
        let exact = schema_dir.join(name);
        if kind_at(&exact).is_some() {
            return Some(exact);
        }
        list_dirs(&schema_dir)
            .into_iter()
            .filter(|n| n.eq_ignore_ascii_case(name))
            .map(|n| schema_dir.join(n))
            .find(|p| kind_at(p).is_some())
    }

    /// Where a relation lives or would live: the existing directory, else one named as given
    /// (inside the existing schema directory, if any).
    pub(crate) fn target_dir(&self, schema: &str, name: &str) -> PathBuf {
        if let Some(dir) = self.relation_dir(schema, name) {
            return dir;
        }
        let schema_dir = self
            .schema_dir(schema)
            .unwrap_or_else(|| self.root.join(schema));
        schema_dir.join(name)
    }

    pub(crate) fn kind(&self, schema: &str, name: &str) -> Option<RelationKind> {
        self.relation_dir(schema, name).and_then(|d| kind_at(&d))
    }

    fn memory_table(&self, schema: &str, name: &str) -> Option<Arc<dyn TableProvider>> {
        let memory = self.memory.lock().ok()?;
        memory.get(&(schema.to_string(), name.to_string())).cloned()
    }
}

/// A directory's relation kind, from the files in it.
pub fn kind_at(dir: &Path) -> Option<RelationKind> {
    if dir.join(VIEW_FILE).is_file() {
        Some(RelationKind::View)
    } else if dir.join(DELTA_LOG).is_dir() {
        Some(RelationKind::Table)
    } else {
        None
    }
}

/// Sub-directory names, sorted, skipping hidden and `_`-prefixed ones.
fn list_dirs(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') && !n.starts_with('_'))
        .collect();
    names.sort();
    names
}

fn find_dir(parent: &Path, name: &str) -> Option<PathBuf> {
    let exact = parent.join(name);
    if exact.is_dir() {
        return Some(exact);
    }
    list_dirs(parent)
        .into_iter()
        .find(|n| n.eq_ignore_ascii_case(name))
        .map(|n| parent.join(n))
}

pub fn read_view(dir: &Path) -> Result<ViewDefinition, String> {
    let path = dir.join(VIEW_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))
}

pub fn dir_url(dir: &Path) -> Result<Url, String> {
    Url::from_directory_path(dir).map_err(|()| format!("not an absolute path: {}", dir.display()))
}

fn df_err(message: impl Into<String>) -> DataFusionError {
    DataFusionError::Execution(message.into())
}

/// A table provider for the Delta table in `dir`, read at its latest version, and the bytes
/// of its data files.
pub(crate) async fn delta_provider(
    dir: &Path,
    state: Option<&SessionState>,
) -> DfResult<(Arc<dyn TableProvider>, u64)> {
    let url = dir_url(dir).map_err(df_err)?;
    // Loaded with its file list: the provider's scans start from it instead of replaying
    // the log from storage at every scan (a query may scan the same table many times).
    let cannot_open = |e: deltalake::DeltaTableError| {
        df_err(format!("cannot open Delta table {}: {e}", dir.display()))
    };
    let table = DeltaTableBuilder::from_url(url)
        .map_err(cannot_open)?
        .load()
        .await
        .map_err(cannot_open)?;
    let mut builder = table.table_provider();
    if let Some(state) = state {
        table
            .update_datafusion_session(state)
            .map_err(|e| df_err(e.to_string()))?;
        builder = builder.with_session(Arc::new(state.clone()));
    }
    let bytes = table
        .snapshot()
        .map(|s| s.log_data().iter().map(|f| f.size().max(0) as u64).sum())
        .unwrap_or(u64::MAX);
    Ok((builder.await?, bytes))
}

/// The catalog: one per engine, registered under the database name.
#[derive(Debug)]
pub(crate) struct WarehouseCatalog {
    pub wh: Arc<Warehouse>,
}

impl CatalogProvider for WarehouseCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        list_dirs(&self.wh.root)
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let dir = self.wh.schema_dir(name)?;
        let schema = dir.file_name()?.to_str()?.to_string();
        Some(Arc::new(WarehouseSchema {
            wh: Arc::clone(&self.wh),
            schema,
        }))
    }

    /// `CREATE SCHEMA x` makes the directory.
    fn register_schema(
        &self,
        name: &str,
        _schema: Arc<dyn SchemaProvider>,
    ) -> DfResult<Option<Arc<dyn SchemaProvider>>> {
        let dir = self.wh.root.join(name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| df_err(format!("cannot create {}: {e}", dir.display())))?;
        Ok(None)
    }

    /// `DROP SCHEMA x [CASCADE]` removes the directory.
    fn deregister_schema(
        &self,
        name: &str,
        cascade: bool,
    ) -> DfResult<Option<Arc<dyn SchemaProvider>>> {
        let Some(provider) = self.schema(name) else {
            return Ok(None);
        };
        let Some(dir) = self.wh.schema_dir(name) else {
            return Ok(None);
        };
        if !cascade && !provider.table_names().is_empty() {
            return Err(df_err(format!(
                "cannot drop schema {name}: it is not empty (use CASCADE)"
            )));
        }
        std::fs::remove_dir_all(&dir)
            .map_err(|e| df_err(format!("cannot remove {}: {e}", dir.display())))?;
        Ok(Some(provider))
    }
}

/// One schema directory.
#[derive(Debug)]
pub(crate) struct WarehouseSchema {
    wh: Arc<Warehouse>,
    /// The directory name, as on disk.
    schema: String,
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl WarehouseSchema {
    async fn open(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(t) = self.wh.memory_table(&self.schema, name) {
            return Ok(Some(t));
        }
        let Some(dir) = self.wh.relation_dir(&self.schema, name) else {
            return Ok(None);
        };
        // The session state is cloned only to open what is not cached (a clone copies every
        // function registry, and a query may name hundreds of relations).
        match kind_at(&dir) {
            None => Ok(None),
            Some(RelationKind::Table) => Ok(Some(self.wh.delta_table(&dir).await?)),
            Some(RelationKind::View) => {
                if let Ok(views) = self.wh.views.lock() {
                    if let Some(cached) = views.get(&dir) {
                        if cached.deps.iter().all(|d| d.current() == *d) {
                            return Ok(Some(Arc::clone(&cached.provider)));
                        }
                    }
                }
                let stamp = view_stamp(&dir);
                let def = read_view(&dir).map_err(df_err)?;
                let state = self
                    .wh
                    .session_state()
                    .ok_or_else(|| df_err("the engine is closed"))?;
                // What the plan is built from, read before planning: a change in between
                // makes the entry stale at once rather than wrong.
                let deps = self.wh.view_deps(&state, &def.sql, 0).map(|mut deps| {
                    deps.insert(0, Dep::View(dir.clone(), stamp));
                    // Views that share views or tables under them list them once.
                    let mut seen = std::collections::HashSet::new();
                    deps.retain(|d| seen.insert(d.clone()));
                    deps
                });
                let plan = super::compat::plan_sql(&state, &def.sql)
                    .await
                    .map_err(|e| {
                        df_err(format!(
                            "view {}.{name} no longer plans: {}",
                            self.schema,
                            e.strip_backtrace()
                        ))
                    })?;
                // Small views are run once and their rows kept (see `view_result`).
                use std::sync::atomic::Ordering::Relaxed;
                let small = deps
                    .as_deref()
                    .and_then(|deps| self.wh.bytes_under(deps))
                    .is_some_and(|b| b <= super::view_result::SMALL_INPUT_BYTES)
                    && self.wh.kept_bytes.load(Relaxed) < super::view_result::KEPT_BUDGET;
                let kept = match small {
                    true => super::view_result::compute(&state, &plan, &def.sql).await,
                    false => None,
                };
                let (provider, bytes): (Arc<dyn TableProvider>, usize) = match kept {
                    Some(kept) => kept,
                    None => (Arc::new(ViewTable::new(plan, Some(def.sql))), 0),
                };
                if let Some(deps) = deps {
                    if let Ok(mut views) = self.wh.views.lock() {
                        self.wh.kept_bytes.fetch_add(bytes, Relaxed);
                        let entry = CachedView {
                            deps,
                            provider: Arc::clone(&provider),
                            bytes,
                        };
                        if let Some(old) = views.insert(dir.clone(), entry) {
                            self.wh.kept_bytes.fetch_sub(old.bytes, Relaxed);
                        }
                    }
                }
                Ok(Some(provider))
            }
        }
    }
}

impl SchemaProvider for WarehouseSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .wh
            .schema_dir(&self.schema)
            .map(|dir| {
                list_dirs(&dir)
                    .into_iter()
                    .filter(|n| kind_at(&dir.join(n)).is_some())
                    .collect()
            })
            .unwrap_or_default();
        if let Ok(memory) = self.wh.memory.lock() {
            for (schema, name) in memory.keys() {
                if *schema == self.schema && !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        names.sort();
        names
    }

    // The two async methods are written out the way `#[async_trait]` expands them (the crate
    // is not a dependency of ours).
    fn table<'life0, 'life1, 'async_trait>(
        &'life0 self,
        name: &'life1 str,
    ) -> BoxFut<'async_trait, DfResult<Option<Arc<dyn TableProvider>>>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.open(name))
    }

    fn table_type<'life0, 'life1, 'async_trait>(
        &'life0 self,
        name: &'life1 str,
    ) -> BoxFut<'async_trait, DfResult<Option<TableType>>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            if let Some(t) = self.wh.memory_table(&self.schema, name) {
                return Ok(Some(t.table_type()));
            }
            Ok(self.wh.kind(&self.schema, name).map(|k| match k {
                RelationKind::Table => TableType::Base,
                RelationKind::View => TableType::View,
            }))
        })
    }

    /// `CREATE TABLE` / `CREATE VIEW` statements: in memory only.
    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if self.wh.kind(&self.schema, &name).is_some() {
            return Err(df_err(format!(
                "relation {}.{name} already exists in the warehouse",
                self.schema
            )));
        }
        let mut memory = self.wh.memory.lock().map_err(|e| df_err(e.to_string()))?;
        Ok(memory.insert((self.schema.clone(), name), table))
    }

    /// `DROP TABLE` / `DROP VIEW` statements: a memory table is forgotten, a stored relation's
    /// directory is removed.
    fn deregister_table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        {
            let mut memory = self.wh.memory.lock().map_err(|e| df_err(e.to_string()))?;
            if let Some(t) = memory.remove(&(self.schema.clone(), name.to_string())) {
                return Ok(Some(t));
            }
        }
        let Some(dir) = self.wh.relation_dir(&self.schema, name) else {
            return Ok(None);
        };
        let kind = kind_at(&dir);
        std::fs::remove_dir_all(&dir)
            .map_err(|e| df_err(format!("cannot remove {}: {e}", dir.display())))?;
        // DataFusion only needs to know something was there.
        Ok(kind.map(|_| {
            Arc::new(datafusion::datasource::empty::EmptyTable::new(Arc::new(
                datafusion::arrow::datatypes::Schema::empty(),
            ))) as Arc<dyn TableProvider>
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.wh.memory_table(&self.schema, name).is_some()
            || self.wh.kind(&self.schema, name).is_some()
    }
}
