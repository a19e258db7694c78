//! Values dbt's Jinja context hands to templates: relations, mutable lists and dicts,
//! and agate-like tables.

use std::fmt;
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};

/// Python's methods on plain values (strings, lists, dicts): minijinja-contrib's `pycompat`,
/// with `str.count('')` as Python's (`len + 1`; pycompat never ends) and `str.find`/`rfind`
/// counting characters, not bytes.
pub fn py_method(
    state: &State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    if let Some(s) = value.as_str() {
        match method {
            "count" => {
                let (what,): (&str,) = minijinja::value::from_args(args)?;
                return Ok(Value::from(if what.is_empty() {
                    s.chars().count() + 1
                } else {
                    s.matches(what).count()
                }));
            }
            "find" | "rfind" => {
                let (what,): (&str,) = minijinja::value::from_args(args)?;
                let at = if method == "find" {
                    s.find(what)
                } else {
                    s.rfind(what)
                };
                return Ok(Value::from(
                    at.map_or(-1, |b| s[..b].chars().count() as i64),
                ));
            }
            _ => {}
        }
    }
    if value.kind() == minijinja::value::ValueKind::Seq && matches!(method, "index" | "count") {
        let (x,): (Value,) = minijinja::value::from_args(args)?;
        let mut items = value.try_iter()?;
        if method == "count" {
            return Ok(Value::from(items.filter(|v| *v == x).count()));
        }
        return items
            .position(|v| v == x)
            .map(Value::from)
            .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, format!("{x} is not in list")));
    }
    let out = minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)?;
    // Python's `split` makes a new list, which the template may then change.
    if value.as_str().is_some() && matches!(method, "split" | "rsplit" | "splitlines") {
        return new_list(Some(out));
    }
    Ok(out)
}

/// Which parts of a relation name are quoted (the project's `quoting:` config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoting {
    pub database: bool,
    pub schema: bool,
    pub identifier: bool,
}

impl Default for Quoting {
    fn default() -> Self {
        Quoting {
            database: true,
            schema: true,
            identifier: true,
        }
    }
}

/// `api.Relation`: a database object named by up to three parts, rendered quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub database: Option<String>,
    pub schema: Option<String>,
    pub identifier: Option<String>,
    pub kind: Option<String>,
    pub quoting: Quoting,
    /// `.include()` can leave parts out of the rendered name.
    pub include: [bool; 3],
    /// Ephemeral models render as their CTE name.
    pub cte_name: Option<String>,
}

impl Relation {
    pub fn new(database: &str, schema: &str, identifier: &str, quoting: Quoting) -> Self {
        Relation {
            database: Some(database.to_string()),
            schema: Some(schema.to_string()),
            identifier: Some(identifier.to_string()),
            kind: None,
            quoting,
            include: [true; 3],
            cte_name: None,
        }
    }

    pub fn render(&self) -> String {
        if let Some(cte) = &self.cte_name {
            return cte.clone();
        }
        let parts = [
            (&self.database, self.quoting.database, self.include[0]),
            (&self.schema, self.quoting.schema, self.include[1]),
            (&self.identifier, self.quoting.identifier, self.include[2]),
        ];
        let mut out = String::new();
        for (part, quote, include) in parts {
            let Some(p) = part else { continue };
            if !include || p.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push('.');
            }
            if quote {
                out.push('"');
                out.push_str(&p.replace('"', "\"\""));
                out.push('"');
            } else {
                out.push_str(p);
            }
        }
        out
    }

    fn part(&self, key: &str) -> Value {
        let v = match key {
            "database" => &self.database,
            "schema" => &self.schema,
            "identifier" | "name" | "table" => &self.identifier,
            _ => return Value::UNDEFINED,
        };
        v.as_deref().map(Value::from).unwrap_or(Value::from(()))
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// The keys of dbt's `BaseRelation.to_dict()`: a relation is a mapping, and packages test it
/// that way (`obj is mapping and obj.get('metadata')['type'].endswith('Relation')`).
const RELATION_KEYS: &[&str] = &[
    "path",
    "type",
    "quote_policy",
    "include_policy",
    "quote_character",
    "metadata",
];

impl Object for Relation {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(RELATION_KEYS)
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        Some(match key {
            "database" | "schema" | "identifier" | "name" | "table" => self.part(key),
            "type" => self
                .kind
                .as_deref()
                .map(Value::from)
                .unwrap_or(Value::from(())),
            "is_table" => Value::from(self.kind.as_deref() == Some("table")),
            "is_view" => Value::from(self.kind.as_deref() == Some("view")),
            "is_cte" => Value::from(self.cte_name.is_some()),
            "path" => Value::from_iter([
                ("database", self.part("database")),
                ("schema", self.part("schema")),
                ("identifier", self.part("identifier")),
            ]),
            "quote_policy" => Value::from_iter([
                ("database", self.quoting.database),
                ("schema", self.quoting.schema),
                ("identifier", self.quoting.identifier),
            ]),
            "include_policy" => Value::from_iter([
                ("database", self.include[0]),
                ("schema", self.include[1]),
                ("identifier", self.include[2]),
            ]),
            "quote_character" => Value::from("\""),
            "metadata" => Value::from_iter([("type", "DataFusionRelation")]),
            _ => return None,
        })
    }

    fn call_method(
        self: &Arc<Self>,
        state: &State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        if matches!(method, "get" | "items" | "keys" | "values") {
            return py_method(state, &Value::from_dyn_object(self.clone()), method, args);
        }
        let (_, kwargs): (&[Value], Kwargs) = minijinja::value::from_args(args)?;
        let mut r = (**self).clone();
        match method {
            "include" => {
                for (i, k) in ["database", "schema", "identifier"].iter().enumerate() {
                    if let Some(v) = kwargs.get::<Option<bool>>(k)? {
                        r.include[i] = v;
                    }
                }
            }
            "quote" => {
                for (k, slot) in [
                    ("database", &mut r.quoting.database),
                    ("schema", &mut r.quoting.schema),
                    ("identifier", &mut r.quoting.identifier),
                ] {
                    if let Some(v) = kwargs.get::<Option<bool>>(k)? {
                        *slot = v;
                    }
                }
            }
            "incorporate" => {
                if let Some(path) = kwargs.get::<Option<Value>>("path")? {
                    for k in ["database", "schema", "identifier"] {
                        if let Ok(v) = path.get_attr(k) {
                            if !v.is_undefined() {
                                let s = if v.is_none() {
                                    None
                                } else {
                                    Some(v.to_string())
                                };
                                match k {
                                    "database" => r.database = s,
                                    "schema" => r.schema = s,
                                    _ => r.identifier = s,
                                }
                            }
                        }
                    }
                }
                if let Some(t) = kwargs.get::<Option<String>>("type")? {
                    r.kind = Some(t);
                }
            }
            "render" => return Ok(Value::from(Relation::render(self))),
            "replace_path" => {
                for k in ["database", "schema", "identifier"] {
                    if let Some(v) = kwargs.get::<Option<String>>(k)? {
                        match k {
                            "database" => r.database = Some(v),
                            "schema" => r.schema = Some(v),
                            _ => r.identifier = Some(v),
                        }
                    }
                }
            }
            "without_identifier" => r.include[2] = false,
            _ => {
                return Err(Error::new(
                    ErrorKind::UnknownMethod,
                    format!("relation has no method '{method}'"),
                ))
            }
        }
        kwargs.assert_all_used().ok();
        Ok(Value::from_object(r))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Relation::render(self))
    }
}

/// `api.Relation.create(...)` and friends.
#[derive(Debug)]
pub struct RelationApi {
    pub quoting: Quoting,
}

impl Object for RelationApi {
    fn call_method(
        self: &Arc<Self>,
        _state: &State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        if method != "create" {
            return Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("api.Relation has no method '{method}'"),
            ));
        }
        let (pos, kwargs): (&[Value], Kwargs) = minijinja::value::from_args(args)?;
        let get = |i: usize, k: &str| -> Result<Option<String>, Error> {
            if let Some(v) = kwargs.get::<Option<Value>>(k)? {
                return Ok(if v.is_none() || v.is_undefined() {
                    None
                } else {
                    Some(v.to_string())
                });
            }
            Ok(pos.get(i).filter(|v| !v.is_none()).map(|v| v.to_string()))
        };
        let r = Relation {
            database: get(0, "database")?,
            schema: get(1, "schema")?,
            identifier: get(2, "identifier")?,
            kind: kwargs.get::<Option<String>>("type")?,
            quoting: self.quoting,
            include: [true; 3],
            cte_name: None,
        };
        Ok(Value::from_object(r))
    }
}

/// A list that `.append()`, `.extend()`, `.pop()` and `.insert()` can change, as Python's.
#[derive(Debug, Default)]
pub struct MutableList(pub Mutex<Vec<Value>>);

impl Object for MutableList {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let items = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let idx = key.as_i64()?;
        let idx = if idx < 0 {
            items.len() as i64 + idx
        } else {
            idx
        };
        items.get(usize::try_from(idx).ok()?).cloned()
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        )
    }
    fn call_method(
        self: &Arc<Self>,
        state: &State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let mut items = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match (method, args) {
            ("append", [v]) => items.push(v.clone()),
            ("extend", [v]) => items.extend(v.try_iter()?),
            ("insert", [i, v]) => {
                let i = (i.as_i64().unwrap_or(0).max(0) as usize).min(items.len());
                items.insert(i, v.clone());
            }
            ("pop", []) => return Ok(items.pop().unwrap_or(Value::from(()))),
            ("pop", [i]) => {
                let i = i.as_i64().unwrap_or(-1);
                let i = if i < 0 { items.len() as i64 + i } else { i } as usize;
                if i < items.len() {
                    return Ok(items.remove(i));
                }
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "pop index out of range",
                ));
            }
            ("remove", [v]) => {
                if let Some(p) = items.iter().position(|x| x == v) {
                    items.remove(p);
                }
            }
            ("reverse", []) => items.reverse(),
            ("sort", []) => items.sort(),
            ("index", [v]) => {
                return items
                    .iter()
                    .position(|x| x == v)
                    .map(Value::from)
                    .ok_or_else(|| {
                        Error::new(ErrorKind::InvalidOperation, "value is not in list")
                    });
            }
            ("copy", []) => return Ok(Value::from_object(MutableList(Mutex::new(items.clone())))),
            _ => {
                let snapshot = Value::from(items.clone());
                drop(items);
                return py_method(state, &snapshot, method, args);
            }
        }
        Ok(Value::from(()))
    }
}

/// A dict that `.update()`, `.pop()` and `.setdefault()` can change, as Python's.
#[derive(Debug, Default)]
pub struct MutableDict(pub Mutex<indexmap::IndexMap<Value, Value>>);

impl Object for MutableDict {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .keys()
                .cloned()
                .collect(),
        )
    }
    fn call_method(
        self: &Arc<Self>,
        state: &State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match (method, args) {
            ("update", [other]) => {
                for k in other.try_iter()? {
                    let v = other.get_item(&k)?;
                    map.insert(k, v);
                }
            }
            ("pop", [k]) => return Ok(map.shift_remove(k).unwrap_or(Value::from(()))),
            ("pop", [k, d]) => return Ok(map.shift_remove(k).unwrap_or_else(|| d.clone())),
            ("setdefault", [k, d]) => {
                return Ok(map.entry(k.clone()).or_insert_with(|| d.clone()).clone())
            }
            ("copy", []) => return Ok(Value::from_object(MutableDict(Mutex::new(map.clone())))),
            _ => {
                let snapshot = Value::from_iter(map.iter().map(|(k, v)| (k.clone(), v.clone())));
                drop(map);
                return py_method(state, &snapshot, method, args);
            }
        }
        Ok(Value::from(()))
    }
}

pub fn new_list(items: Option<Value>) -> Result<Value, Error> {
    let items: Vec<Value> = match items {
        Some(v) if !v.is_undefined() && !v.is_none() => v.try_iter()?.collect(),
        _ => Vec::new(),
    };
    Ok(Value::from_object(MutableList(Mutex::new(items))))
}

pub fn new_dict(items: Option<Value>) -> Result<Value, Error> {
    let mut map = indexmap::IndexMap::new();
    if let Some(v) = items.filter(|v| !v.is_undefined() && !v.is_none()) {
        for k in v.try_iter()? {
            let val = v.get_item(&k)?;
            map.insert(k, val);
        }
    }
    Ok(Value::from_object(MutableDict(Mutex::new(map))))
}

/// What `run_query` and `load_result(...).table` return while no engine runs: an empty table
/// with agate's shape (`rows`, `columns`, `column_names`).
#[derive(Debug)]
pub struct EmptyTable;

impl Object for EmptyTable {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "rows" | "columns" | "column_names" | "column_types" => {
                Some(Value::from(Vec::<Value>::new()))
            }
            _ => None,
        }
    }
    fn call_method(
        self: &Arc<Self>,
        _state: &State,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "print_table" => Ok(Value::from(())),
            "values" => Ok(Value::from(Vec::<Value>::new())),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("table has no method '{method}'"),
            )),
        }
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(Vec::new())
    }
}

/// Rows a query returned, as the warehouse gave them (JSON values, column names and types).
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    pub columns: Vec<(String, String)>,
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// Runs SQL on the warehouse for `run_query`, `statement` and adapter introspection. Given by
/// the command (which owns the engine); absent when nothing can be queried.
#[derive(Clone)]
pub struct QueryRunner(pub Arc<QueryFn>);

/// SQL in, rows (or the engine's message) out.
pub type QueryFn =
    dyn Fn(&str) -> Result<QueryResult, crate::diagnostics::Diagnostic> + Send + Sync;

impl fmt::Debug for QueryRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<query runner>")
    }
}

/// An agate-like table: `rows` (indexable rows), `columns` (with `.name` and `.values()`),
/// `column_names`, `column_types`, as dbt's `run_query` returns.
#[derive(Debug)]
pub struct AgateTable(pub QueryResult);

#[derive(Debug)]
struct AgateColumn {
    name: String,
    data_type: String,
    values: Vec<Value>,
}

impl Object for AgateColumn {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "name" => Some(Value::from(self.name.clone())),
            "data_type" | "dtype" => Some(Value::from(self.data_type.clone())),
            _ => None,
        }
    }
    fn call_method(
        self: &Arc<Self>,
        _state: &State,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "values" | "values_distinct" => Ok(Value::from(self.values.clone())),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("column has no method '{method}'"),
            )),
        }
    }
}

/// An agate row: a sequence of values that is also reached by column name (`row.table_name`,
/// `row['id']`).
#[derive(Debug)]
struct AgateRow {
    names: Arc<Vec<String>>,
    values: Vec<Value>,
}

impl Object for AgateRow {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str() {
            Some(name) => {
                let i = self.names.iter().position(|n| n == name)?;
                self.values.get(i).cloned()
            }
            None => {
                let i = key.as_i64()?;
                let i = if i < 0 {
                    self.values.len() as i64 + i
                } else {
                    i
                };
                self.values.get(usize::try_from(i).ok()?).cloned()
            }
        }
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.values.len())
    }
}

/// agate's `table.columns`: a sequence of columns that is also reached by name
/// (`columns['id']`, `columns.items()`, `keys()`, `values()`).
#[derive(Debug)]
struct MappedColumns(Vec<(String, Value)>);

impl Object for MappedColumns {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str() {
            Some(name) => self
                .0
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, c)| c.clone()),
            None => {
                let i = key.as_i64()?;
                let i = if i < 0 { self.0.len() as i64 + i } else { i };
                self.0.get(usize::try_from(i).ok()?).map(|(_, c)| c.clone())
            }
        }
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.0.len())
    }
    fn call_method(
        self: &Arc<Self>,
        _state: &State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let () = minijinja::value::from_args(args)?;
        match method {
            "items" => Ok(Value::from(
                self.0
                    .iter()
                    .map(|(n, c)| Value::from(vec![Value::from(n.clone()), c.clone()]))
                    .collect::<Vec<_>>(),
            )),
            "keys" => Ok(Value::from(
                self.0.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
            )),
            "values" => Ok(Value::from(
                self.0.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>(),
            )),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("columns have no method '{method}'"),
            )),
        }
    }
}

impl AgateTable {
    fn rows(&self) -> Vec<Value> {
        let names: Arc<Vec<String>> =
            Arc::new(self.0.columns.iter().map(|(n, _)| n.clone()).collect());
        self.0
            .rows
            .iter()
            .map(|r| {
                Value::from_object(AgateRow {
                    names: names.clone(),
                    values: r.iter().map(Value::from_serialize).collect(),
                })
            })
            .collect()
    }
    fn columns(&self) -> Vec<Value> {
        self.0
            .columns
            .iter()
            .enumerate()
            .map(|(i, (name, ty))| {
                let values = self
                    .0
                    .rows
                    .iter()
                    .map(|r| r.get(i).map(Value::from_serialize).unwrap_or_default())
                    .collect();
                Value::from_object(AgateColumn {
                    name: name.clone(),
                    data_type: ty.clone(),
                    values,
                })
            })
            .collect()
    }
}

impl Object for AgateTable {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "rows" => Value::from(self.rows()),
            "columns" => Value::from_object(MappedColumns(
                self.0
                    .columns
                    .iter()
                    .map(|(n, _)| n.clone())
                    .zip(self.columns())
                    .collect(),
            )),
            "column_names" => Value::from(
                self.0
                    .columns
                    .iter()
                    .map(|(n, _)| n.clone())
                    .collect::<Vec<_>>(),
            ),
            "column_types" => Value::from(
                self.0
                    .columns
                    .iter()
                    .map(|(_, t)| t.clone())
                    .collect::<Vec<_>>(),
            ),
            _ => return None,
        })
    }
    fn call_method(
        self: &Arc<Self>,
        _state: &State,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "print_table" => Ok(Value::from(())),
            "values" => Ok(Value::from(self.rows())),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("table has no method '{method}'"),
            )),
        }
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.rows())
    }
}

/// `adapter.get_columns_in_relation` items: dbt's Column (`.name`, `.column`, `.data_type`,
/// `.dtype`, `.quoted`).
pub fn column_value(name: &str, data_type: &str) -> Value {
    Value::from_object(Column {
        name: name.to_string(),
        data_type: data_type.to_string(),
    })
}

/// dbt's `api.Column`: `name`, `data_type`, `quoted` and the type tests packages branch on
/// (`is_string()`, `is_number()`, `is_float()`, ...), read from DuckDB's type names. A mapping,
/// as dbt's columns are (`col['name']`).
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub data_type: String,
}

const COLUMN_KEYS: &[&str] = &["name", "column", "data_type", "dtype", "quoted"];

impl Column {
    /// The type's base name, upper-case, without its size (`DECIMAL(18,3)` → `DECIMAL`).
    fn base(&self) -> String {
        self.data_type
            .split('(')
            .next()
            .unwrap_or_default()
            .trim()
            .to_uppercase()
    }
    fn is_string(&self) -> bool {
        let b = self.base();
        matches!(
            b.as_str(),
            "VARCHAR"
                | "TEXT"
                | "STRING"
                | "CHAR"
                | "BPCHAR"
                | "CHARACTER"
                | "CHARACTER VARYING"
                | "NVARCHAR"
                | "UTF8"
                | "LARGEUTF8"
                | "UTF8VIEW"
        )
    }
    fn is_integer(&self) -> bool {
        let b = self.base();
        matches!(
            b.as_str(),
            "INTEGER"
                | "INT"
                | "BIGINT"
                | "SMALLINT"
                | "TINYINT"
                | "HUGEINT"
                | "UBIGINT"
                | "UINTEGER"
                | "USMALLINT"
                | "UTINYINT"
                | "INT2"
                | "INT4"
                | "INT8"
                | "INT16"
                | "INT32"
                | "INT64"
                | "UINT8"
                | "UINT16"
                | "UINT32"
                | "UINT64"
                | "LONG"
                | "SHORT"
        )
    }
    fn is_float(&self) -> bool {
        let b = self.base();
        matches!(
            b.as_str(),
            "FLOAT"
                | "DOUBLE"
                | "REAL"
                | "FLOAT4"
                | "FLOAT8"
                | "DOUBLE PRECISION"
                | "FLOAT32"
                | "FLOAT64"
        )
    }
    fn is_numeric(&self) -> bool {
        let b = self.base();
        b.starts_with("DECIMAL") || b.starts_with("NUMERIC")
    }
    /// The fields of a `STRUCT("a" INTEGER, "b" VARCHAR)` as columns.
    fn fields(&self) -> Vec<Value> {
        let t = self.data_type.trim();
        let Some(inner) = t.strip_prefix("STRUCT(").and_then(|r| r.strip_suffix(')')) else {
            return Vec::new();
        };
        let (mut depth, mut start, mut out) = (0i32, 0usize, Vec::new());
        let mut push = |part: &str| {
            let part = part.trim();
            if let Some((name, ty)) = part.split_once(' ') {
                out.push(column_value(name.trim_matches('"'), ty.trim()));
            }
        };
        for (i, c) in inner.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    push(&inner[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        push(&inner[start..]);
        out
    }

    /// `(precision, scale)` of a `DECIMAL(p, s)`.
    fn precision_scale(&self) -> Option<(i64, i64)> {
        let inner = self.data_type.split_once('(')?.1.trim_end_matches(')');
        let (p, s) = inner.split_once(',')?;
        Some((p.trim().parse().ok()?, s.trim().parse().ok()?))
    }
}

impl Object for Column {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(COLUMN_KEYS)
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "name" | "column" => Value::from(self.name.clone()),
            "data_type" | "dtype" => Value::from(self.data_type.clone()),
            "quoted" => Value::from(format!("\"{}\"", self.name.replace('"', "\"\""))),
            "numeric_precision" => self
                .precision_scale()
                .map_or(Value::from(()), |p| Value::from(p.0)),
            "numeric_scale" => self
                .precision_scale()
                .map_or(Value::from(()), |p| Value::from(p.1)),
            "char_size" => Value::from(()),
            // Nested fields of a STRUCT column (dbt-duckdb's columns have them), else none.
            "fields" => Value::from(self.fields()),
            _ => return None,
        })
    }
    fn call_method(
        self: &Arc<Self>,
        state: &State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let no_args = || -> Result<(), Error> { minijinja::value::from_args(args) };
        let yes = |b: bool| -> Result<Value, Error> {
            no_args()?;
            Ok(Value::from(b))
        };
        match method {
            "is_string" => yes(self.is_string()),
            "is_integer" => yes(self.is_integer()),
            "is_float" => yes(self.is_float()),
            "is_numeric" => yes(self.is_numeric()),
            "is_number" => yes(self.is_integer() || self.is_float() || self.is_numeric()),
            "string_size" => {
                no_args()?;
                if !self.is_string() {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!("string_size: column '{}' is not a string", self.name),
                    ));
                }
                // DuckDB's strings have no length limit; dbt-duckdb reports 256 too.
                Ok(Value::from(256))
            }
            "literal" => {
                let (v,): (Value,) = minijinja::value::from_args(args)?;
                Ok(Value::from(format!("cast({v} as {})", self.data_type)))
            }
            "can_expand_to" => {
                let (other,): (Value,) = minijinja::value::from_args(args)?;
                let other = other.downcast_object_ref::<Column>().cloned();
                Ok(Value::from(
                    other.is_some_and(|o| self.is_string() && o.is_string()),
                ))
            }
            "get" | "items" | "keys" | "values" => {
                py_method(state, &Value::from_dyn_object(self.clone()), method, args)
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("column has no method '{method}'"),
            )),
        }
    }
}
