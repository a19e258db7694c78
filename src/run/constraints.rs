//! Model constraints, as dbt enforces them under `contract: {enforced: true}`: `not_null`,
//! `unique`, `primary_key` (not null and unique) and `check` (an `expression`), declared on a
//! column or at model level (`constraints:` with `columns:`).
//!
//! A warehouse enforces these as DDL while it inserts; a Delta table has no such DDL for
//! `unique`/`primary_key`, so weir checks the data itself, once, before the write: the model's
//! query runs into memory (a temporary relation, [`Staged`]), the constraints are checked on it
//! with one query each, and only then is the new version written from it — the query is not
//! computed twice, and on a violation nothing is written (the previous version stays as it
//! was). `foreign_key` and `custom` constraints are not enforced: a warning says so (unless
//! `warn_unenforced: false`), as dbt does on platforms that do not enforce them.
//!
//! Constraints apply to `table` and `incremental` models (dbt does not apply them to views).
//! For an incremental run into an existing table, `unique`/`primary_key` also hold against the
//! rows the table keeps: the new rows may not repeat a key of an existing row, unless the
//! strategy replaces that row (`merge`/`delete+insert` on its `unique_key`).

use datafusion::arrow::util::pretty::pretty_format_batches;
use serde_json::Value as Json;

use crate::diagnostics::{Code, Diagnostic, Result};
use crate::engine::Engine;
use crate::parse::Node;
use crate::project::config::as_string_list;

/// Error code of a violated constraint.
pub(super) const CODE: Code = Code::E527;
/// Warning code of a constraint weir does not enforce.
pub(super) const UNENFORCED: Code = Code::W527;
/// Rows shown in an error.
const SHOWN: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    NotNull,
    Unique,
    PrimaryKey,
    Check,
    /// `foreign_key`, `custom`, or a type weir does not know.
    Unenforced,
}

/// One declared constraint.
#[derive(Debug, Clone)]
pub(super) struct Constraint {
    kind: Kind,
    type_name: String,
    name: Option<String>,
    columns: Vec<String>,
    expression: Option<String>,
    warn_unenforced: bool,
}

impl Constraint {
    fn from_json(c: &Json, column: Option<&str>) -> Option<Constraint> {
        let type_name = c.get("type")?.as_str()?.to_lowercase();
        let kind = match type_name.as_str() {
            "not_null" => Kind::NotNull,
            "unique" => Kind::Unique,
            "primary_key" => Kind::PrimaryKey,
            "check" => Kind::Check,
            _ => Kind::Unenforced,
        };
        let columns = match column {
            Some(c) => vec![c.to_string()],
            None => as_string_list(c.get("columns")),
        };
        Some(Constraint {
            kind,
            type_name,
            name: c.get("name").and_then(Json::as_str).map(str::to_string),
            columns,
            expression: c
                .get("expression")
                .and_then(Json::as_str)
                .map(str::to_string),
            warn_unenforced: c
                .get("warn_unenforced")
                .and_then(Json::as_bool)
                .unwrap_or(true),
        })
    }

    /// `unique constraint on (a, b)`, `check constraint positive_amount (amount > 0)`.
    fn describe(&self) -> String {
        let mut s = format!("{} constraint", self.type_name);
        if let Some(name) = &self.name {
            s.push_str(&format!(" '{name}'"));
        }
        if !self.columns.is_empty() {
            s.push_str(&format!(" on ({})", self.columns.join(", ")));
        }
        if let Some(e) = &self.expression {
            s.push_str(&format!(" `{e}`"));
        }
        s
    }
}

/// The constraints of a model: its columns', then its own.
pub(super) fn declared(n: &Node) -> Vec<Constraint> {
    let mut out: Vec<Constraint> = n
        .columns
        .iter()
        .flat_map(|(name, c)| {
            c.constraints
                .iter()
                .filter_map(move |k| Constraint::from_json(k, Some(name)))
        })
        .collect();
    out.extend(
        n.constraints
            .iter()
            .filter_map(|k| Constraint::from_json(k, None)),
    );
    out
}

/// Does this model's run check constraints on its data?
pub(super) fn applies(n: &Node) -> bool {
    n.contract_enforced
        && matches!(n.materialized(), "table" | "incremental")
        && !declared(n).is_empty()
}

/// The model's rows, computed once into a temporary in-memory relation of the warehouse.
pub(super) struct Staged {
    /// The temporary relation (schema, name); `None` when nothing needed checking on the data.
    temp: Option<(String, String)>,
    /// What the materialization writes: `select * from <the staged relation>`, or the model's
    /// own SQL when nothing was staged.
    pub sql: String,
}

impl Staged {
    /// Forget the temporary relation.
    pub(super) async fn drop(self, engine: &Engine) {
        if let Some((schema, name)) = self.temp {
            let _ = engine.drop_relation(&schema, &name).await;
        }
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Warn about the constraints weir does not enforce, then, when some are enforced, run the
/// model's query into memory and check them there. On a violation the temporary relation is
/// dropped and the error returned; otherwise the caller writes from `Staged::sql` and then
/// drops it.
// Warns about constraints weir does not enforce as the model runs (W527), on stderr.
#[allow(clippy::print_stderr)]
pub(super) async fn stage_and_check(
    engine: &Engine,
    n: &Node,
    sql: &str,
    full_refresh: bool,
) -> Result<Staged> {
    let constraints = declared(n);
    for c in constraints.iter().filter(|c| c.kind == Kind::Unenforced) {
        if c.warn_unenforced {
            eprint!(
                "{}",
                Diagnostic::warning(
                    UNENFORCED,
                    format!(
                        "model '{}': the {} is not enforced by weir",
                        n.name,
                        c.describe()
                    ),
                )
                .help("weir enforces not_null, unique, primary_key and check; set warn_unenforced: false to silence this")
                .render()
            );
        }
    }
    if constraints.iter().all(|c| c.kind == Kind::Unenforced) {
        return Ok(Staged {
            temp: None,
            sql: sql.to_string(),
        });
    }
    let schema = engine.default_schema().to_string();
    let name = format!("__weir_staged_{}", uuid::Uuid::new_v4().simple());
    let relation = format!("{}.{}", quote(&schema), quote(&name));
    engine
        .query(&format!(
            "create table {relation} as select * from (\n{sql}\n) weir_model"
        ))
        .await?;
    let staged = Staged {
        temp: Some((schema, name)),
        sql: format!("select * from {relation}"),
    };
    match check(engine, n, &constraints, &relation, full_refresh).await {
        Ok(()) => Ok(staged),
        Err(e) => {
            staged.drop(engine).await;
            Err(e)
        }
    }
}

async fn check(
    engine: &Engine,
    n: &Node,
    constraints: &[Constraint],
    relation: &str,
    full_refresh: bool,
) -> Result<()> {
    let columns: Vec<String> = engine
        .schema_of(&format!("select * from {relation}"))
        .await?
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let resolve = |c: &Constraint| -> Result<Vec<String>> {
        c.columns
            .iter()
            .map(|w| {
                columns
                    .iter()
                    .find(|have| have.as_str() == w)
                    .or_else(|| columns.iter().find(|have| have.eq_ignore_ascii_case(w)))
                    .map(|have| quote(have))
                    .ok_or_else(|| {
                        Diagnostic::error(
                            CODE,
                            format!(
                                "model '{}': the {} names column '{w}', which the model does not return",
                                n.name,
                                c.describe()
                            ),
                        )
                        .help(format!("the model's columns: {}", columns.join(", ")))
                        .into()
                    })
            })
            .collect()
    };
    // An incremental run into an existing table: the table's rows that stay.
    let existing = incremental_target(engine, n, relation, full_refresh);
    for c in constraints {
        match c.kind {
            Kind::Unenforced => {}
            Kind::NotNull | Kind::PrimaryKey | Kind::Unique | Kind::Check => {
                let cols = resolve(c)?;
                if matches!(c.kind, Kind::NotNull | Kind::PrimaryKey) {
                    if cols.is_empty() {
                        return Err(no_columns(n, c));
                    }
                    let nulls = cols
                        .iter()
                        .map(|q| format!("{q} is null"))
                        .collect::<Vec<_>>()
                        .join(" or ");
                    let failing = format!("select * from {relation} where {nulls}");
                    violation(engine, n, c, &failing, &|k| {
                        format!("{k} row(s) with NULL in ({})", c.columns.join(", "))
                    })
                    .await?;
                }
                if matches!(c.kind, Kind::Unique | Kind::PrimaryKey) {
                    if cols.is_empty() {
                        return Err(no_columns(n, c));
                    }
                    let list = cols.join(", ");
                    let not_null = cols
                        .iter()
                        .map(|q| format!("{q} is not null"))
                        .collect::<Vec<_>>()
                        .join(" and ");
                    // Rows whose key another new row repeats (NULL keys never collide, as in SQL).
                    let failing = format!(
                        "select {list}, count(*) as n_rows from {relation} where {not_null} \
                         group by {list} having count(*) > 1"
                    );
                    violation(engine, n, c, &failing, &|k| {
                        format!("{k} value(s) of ({}) repeated", c.columns.join(", "))
                    })
                    .await?;
                    if let Some((target, kept)) = &existing {
                        let on = cols
                            .iter()
                            .map(|q| format!("t.{q} = s.{q}"))
                            .collect::<Vec<_>>()
                            .join(" and ");
                        let failing = format!(
                            "select distinct {} from {relation} s join {target} t on {on} where {kept}",
                            cols.iter()
                                .map(|q| format!("s.{q}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                        violation(engine, n, c, &failing, &|k| {
                            format!(
                                "{k} new value(s) of ({}) already in {}.{}",
                                c.columns.join(", "),
                                n.schema,
                                n.alias
                            )
                        })
                        .await?;
                    }
                }
                if c.kind == Kind::Check {
                    let Some(expr) = &c.expression else {
                        return Err(Diagnostic::error(
                            CODE,
                            format!("model '{}': a check constraint needs an expression", n.name),
                        )
                        .help("add `expression: <a SQL condition on the model's columns>`")
                        .into());
                    };
                    // As in SQL, a row violates a CHECK when the condition is false (not NULL).
                    let failing = format!(
                        "select * from {relation} where ({expr}) is not distinct from false"
                    );
                    violation(engine, n, c, &failing, &|k| {
                        format!("{k} row(s) where `{expr}` is false")
                    })
                    .await?;
                }
            }
        }
    }
    Ok(())
}

fn no_columns(n: &Node, c: &Constraint) -> crate::diagnostics::Error {
    Diagnostic::error(
        CODE,
        format!(
            "model '{}': a model-level {} constraint needs `columns:`",
            n.name, c.type_name
        ),
    )
    .help("list the key's columns: `columns: [id]`")
    .into()
}

/// For an incremental run into an existing table: the table, and a condition on its rows `t`
/// that holds for the rows the run keeps (compared with the new rows in `s`'s relation).
fn incremental_target(
    engine: &Engine,
    n: &Node,
    relation: &str,
    full_refresh: bool,
) -> Option<(String, String)> {
    if n.materialized() != "incremental" || full_refresh || !engine.exists(&n.schema, &n.alias) {
        return None;
    }
    let target = format!("{}.{}", quote(&n.schema), quote(&n.alias));
    let unique_key = as_string_list(n.config.get("unique_key"));
    let kept = match n.incremental_strategy() {
        // A target row whose unique_key a new row has is replaced by it.
        "merge" | "delete+insert" if !unique_key.is_empty() => {
            let on = unique_key
                .iter()
                .map(|k| format!("s2.{0} = t.{0}", quote(k)))
                .collect::<Vec<_>>()
                .join(" and ");
            format!("not exists (select 1 from {relation} s2 where {on})")
        }
        // insert_overwrite replaces whole partitions (or the table): checked on the new data only.
        "insert_overwrite" => return None,
        _ => "true".to_string(),
    };
    Some((target, kept))
}

/// Run `failing` (the violating rows or keys); if it returns any, the error, with the count
/// (`what`) and the first rows.
async fn violation(
    engine: &Engine,
    n: &Node,
    c: &Constraint,
    failing: &str,
    what: &(dyn Fn(u64) -> String + Sync),
) -> Result<()> {
    let count = engine
        .query(&format!("select count(*) from ({failing}) weir_violations"))
        .await?;
    let found = super::first_u64(&count).unwrap_or(0);
    if found == 0 {
        return Ok(());
    }
    let rows = engine
        .query(&format!(
            "select * from ({failing}) weir_violations limit {SHOWN}"
        ))
        .await?;
    let table = pretty_format_batches(&rows)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let shown = if found as usize > SHOWN {
        format!("; the first {SHOWN}")
    } else {
        String::new()
    };
    Err(Diagnostic::error(
        CODE,
        format!(
            "model '{}' violates its {}: {}{shown}:\n{table}",
            n.name,
            c.describe(),
            what(found)
        ),
    )
    .help(format!(
        "nothing was written: {}.{} keeps its previous version; fix the model or its data",
        n.schema, n.alias
    ))
    .into())
}
