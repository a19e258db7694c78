//! `adapter` in templates: dispatch, quoting, and introspection of the warehouse
//! (`get_relation`, `get_columns_in_relation`, `list_relations_without_caching`, ...); methods
//! that would change the warehouse and are not supported yet fail loudly.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Kwargs, Object, Value};
use minijinja::{Error, ErrorKind, State};

use super::context::*;
use super::objects::{EmptyTable, Quoting, Relation};
use crate::diagnostics::{Code, Diagnostic};

/// `adapter`: dispatch, quoting and (until an engine runs) empty introspection.
pub struct Adapter {
    pub shared_quoting: Quoting,
    pub exists: RelationExists,
    /// The warehouse folder: one folder per schema, one per relation.
    pub warehouse: Arc<std::path::PathBuf>,
}

/// Whether `schema.identifier` exists in the warehouse.
pub type RelationExists = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

impl fmt::Debug for Adapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<adapter>")
    }
}

impl Object for Adapter {
    fn call_method(
        self: &Arc<Self>,
        state: &State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "dispatch" => {
                let (pos, kwargs): (&[Value], Kwargs) = minijinja::value::from_args(args)?;
                let name = pos
                    .first()
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or(kwargs.get::<Option<String>>("macro_name")?)
                    .unwrap_or_default();
                let namespace: Option<String> = match pos.get(1) {
                    Some(v) if !v.is_none() => Some(v.to_string()),
                    _ => kwargs.get::<Option<String>>("macro_namespace")?,
                };
                let _ = kwargs.get::<Option<Value>>("packages");
                let ctx = current_ctx(state)?;
                match ctx
                    .shared
                    .registry
                    .dispatch(&name, namespace.as_deref(), &ctx.package)
                {
                    Some(m) => Ok(Value::from_object(MacroFn(m.clone()))),
                    None => {
                        let tried: Vec<String> = DISPATCH_PREFIXES
                            .iter()
                            .map(|p| format!("{p}__{name}"))
                            .collect();
                        Err(diag_err(
                            Diagnostic::error(
                                Code::E208,
                                format!(
                                    "adapter.dispatch found no implementation of '{name}'{}",
                                    namespace
                                        .map(|n| format!(" in namespace '{n}'"))
                                        .unwrap_or_default()
                                ),
                            )
                            .help(format!("define one of: {}", tried.join(", "))),
                        ))
                    }
                }
            }
            "quote" => {
                let (s,): (String,) = minijinja::value::from_args(args)?;
                Ok(Value::from(format!("\"{}\"", s.replace('"', "\"\""))))
            }
            "quote_as_configured" | "quote_seed_column" => {
                let s = args.first().map(|v| v.to_string()).unwrap_or_default();
                Ok(Value::from(format!("\"{s}\"")))
            }
            "type" => Ok(Value::from("datafusion")),
            "get_relation" | "load_relation" | "get_relation_by_name" => {
                mark_introspected(state);
                let (pos, kwargs): (&[Value], Kwargs) = minijinja::value::from_args(args)?;
                if method == "load_relation" {
                    let rel = pos.first().cloned().unwrap_or_default();
                    let schema = rel.get_attr("schema")?.to_string();
                    let ident = rel.get_attr("identifier")?.to_string();
                    return Ok(if (self.exists)(&schema, &ident) {
                        rel
                    } else {
                        Value::from(())
                    });
                }
                let get = |i: usize, k: &str| -> Result<String, Error> {
                    Ok(kwargs
                        .get::<Option<String>>(k)?
                        .or_else(|| pos.get(i).map(|v| v.to_string()))
                        .unwrap_or_default())
                };
                let (db, schema, ident) = (
                    get(0, "database")?,
                    get(1, "schema")?,
                    get(2, "identifier")?,
                );
                if (self.exists)(&schema, &ident) {
                    let mut r = Relation::new(&db, &schema, &ident, self.shared_quoting);
                    r.kind = Some("table".into());
                    Ok(Value::from_object(r))
                } else {
                    Ok(Value::from(()))
                }
            }
            "get_columns_in_relation" => {
                mark_introspected(state);
                let rel = args.first().cloned().unwrap_or_default();
                let ctx = current_ctx(state)?;
                let executing = state.lookup("execute").is_some_and(|v| v.is_true());
                match (&ctx.shared.query, executing) {
                    (Some(runner), true) => {
                        let r =
                            (runner.0)(&format!("select * from {rel} limit 0")).map_err(|e| {
                                diag_err(Diagnostic::error(
                                    Code::E211,
                                    format!("cannot read the columns of {rel}: {e}"),
                                ))
                            })?;
                        Ok(Value::from(
                            r.columns
                                .iter()
                                .map(|(n, t)| super::objects::column_value(n, t))
                                .collect::<Vec<_>>(),
                        ))
                    }
                    _ => Ok(Value::from(Vec::<Value>::new())),
                }
            }
            "get_columns_in_table" => {
                let (schema, identifier): (String, String) = minijinja::value::from_args(args)?;
                let mut rel = Relation::new("", &schema, &identifier, self.shared_quoting);
                rel.include[0] = false;
                self.call_method(state, "get_columns_in_relation", &[Value::from_object(rel)])
            }
            "get_missing_columns" => {
                // Columns of the first relation that the second lacks (names compared without
                // case), as dbt's.
                let (from, to): (Value, Value) = minijinja::value::from_args(args)?;
                let cols = |r: Value| -> Result<Vec<Value>, Error> {
                    Ok(self
                        .call_method(state, "get_columns_in_relation", &[r])?
                        .try_iter()?
                        .collect())
                };
                let name = |c: &Value| {
                    c.get_attr("name")
                        .map(|n| n.to_string().to_lowercase())
                        .unwrap_or_default()
                };
                let have: std::collections::HashSet<String> = cols(to)?.iter().map(name).collect();
                Ok(Value::from(
                    cols(from)?
                        .into_iter()
                        .filter(|c| !have.contains(&name(c)))
                        .collect::<Vec<_>>(),
                ))
            }
            "list_relations_without_caching" => {
                mark_introspected(state);
                let (rel,): (Value,) = minijinja::value::from_args(args)?;
                let schema = rel.get_attr("schema")?.to_string();
                let dir = self.warehouse.join(&schema);
                let mut out = Vec::new();
                if let Ok(entries) = std::fs::read_dir(&dir) {
                    let mut names: Vec<(String, &str)> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter_map(|p| {
                            let kind = if p.join("_delta_log").is_dir() {
                                "table"
                            } else if p.join("_weir_view.json").is_file() {
                                "view"
                            } else {
                                return None;
                            };
                            Some((p.file_name()?.to_string_lossy().to_string(), kind))
                        })
                        .collect();
                    names.sort();
                    let db = rel.get_attr("database").map(|d| d.to_string()).unwrap_or_default();
                    for (name, kind) in names {
                        let mut r = Relation::new(&db, &schema, &name, self.shared_quoting);
                        r.kind = Some(kind.into());
                        out.push(Value::from_object(r));
                    }
                }
                Ok(Value::from(out))
            }
            "check_schema_exists" => {
                mark_introspected(state);
                let (_database, schema): (Value, String) = minijinja::value::from_args(args)?;
                Ok(Value::from(self.warehouse.join(schema).is_dir()))
            }
            "already_exists" => {
                mark_introspected(state);
                let (schema, name): (String, String) = minijinja::value::from_args(args)?;
                Ok(Value::from(
                    (self.exists)(&schema, &name)
                        || self.warehouse.join(&schema).join(&name).join("_weir_view.json").is_file(),
                ))
            }
            "create_schema" => {
                // A schema is a folder of the warehouse.
                let (rel,): (Value,) = minijinja::value::from_args(args)?;
                let dir = self.warehouse.join(rel.get_attr("schema")?.to_string());
                std::fs::create_dir_all(&dir).map_err(|e| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!("adapter.create_schema: cannot create {}: {e}", dir.display()),
                    )
                })?;
                Ok(Value::from(()))
            }
            // Every write of weir's is its own Delta commit: there is no open transaction.
            "commit" => Ok(Value::from(())),
            "drop_relation"
            | "truncate_relation"
            | "rename_relation"
            | "expand_target_column_types"
            | "drop_schema" => Err(diag_err(
                Diagnostic::error(
                    Code::E210,
                    format!("adapter.{method}() is not supported by weir yet"),
                )
                .help("weir's materializations change tables themselves; a macro that needs this cannot run on weir yet"),
            )),
            "execute" => {
                let (sql,): (String,) = minijinja::value::from_args(&args[..1.min(args.len())])?;
                let ctx = current_ctx(state)?;
                let r = match &ctx.shared.query {
                    Some(runner) => (runner.0)(&sql).map_err(|e| {
                        diag_err(Diagnostic::error(
                            Code::E211,
                            format!("adapter.execute failed: {e}"),
                        ))
                    })?,
                    None => Default::default(),
                };
                Ok(Value::from_iter([
                    Value::from(()),
                    Value::from_object(super::objects::AgateTable(r)),
                ]))
            }
            "__unused_execute" => Ok(Value::from_iter([
                Value::from(()),
                Value::from_object(EmptyTable),
            ])),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("adapter has no method '{method}'"),
            )),
        }
    }
}
