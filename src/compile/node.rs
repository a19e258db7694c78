//! One node to SQL: its template rendered with resolved relations, its hooks, its generic test.
//! [`RenderCtx::render`] serves `compile` for every node up front; a node whose render needs
//! relations that the same `run`/`build` has yet to create (introspection such as
//! `get_columns_in_relation`, `run_query`) is compiled again just before it runs, by the
//! [`LateCompiler`], as dbt compiles each node just before running it.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use minijinja::value::Value;
use serde_json::Value as Json;

use super::builtin_tests;
use crate::diagnostics::{Code, Diagnostic};
use crate::jinja::context::{self, ConfigObj, Handed, RefFn, Resolver, Scope, SourceFn, VarFn};
use crate::jinja::Jinja;
use crate::parse::{self, Node};
use crate::project::config as cfg;

/// (id, SQL, pre-hooks, post-hooks, whether the render read the warehouse) of one node.
pub(super) type Rendered = (String, String, Vec<String>, Vec<String>, bool);

/// What rendering a node needs, owned, so that it outlives `compile` for late compiles.
pub(super) struct RenderCtx {
    pub(super) jinja: Jinja,
    pub(super) native: builtin_tests::NativeTests,
    pub(super) resolver: Arc<dyn Resolver>,
    pub(super) graph: Value,
    pub(super) warehouse: PathBuf,
    pub(super) full_refresh: bool,
}

impl RenderCtx {
    /// Render one node: its parse-phase render when that still holds, else its template.
    pub(super) fn render(
        &self,
        id: &str,
        n: &Node,
        parsed: Option<parse::ParseRender>,
        reused_count: &AtomicUsize,
    ) -> std::result::Result<Rendered, Diagnostic> {
        let (jinja, resolver) = (&self.jinja, &self.resolver);
        if let Some(md) = &n.test_metadata {
            if let Some(sql) = native_generic_test(jinja, &self.native, n, md, resolver) {
                return Ok((id.to_string(), sql, Vec::new(), Vec::new(), false));
            }
        }
        let _in_flight = crate::diagnostics::in_flight(id);
        let incremental = n.materialized() == "incremental"
            && !n.full_refresh(self.full_refresh)
            && self
                .warehouse
                .join(&n.schema)
                .join(&n.alias)
                .join("_delta_log")
                .is_dir();
        let reused = match (&n.test_metadata, parsed) {
            (None, Some(r)) if still_holds(&r, n, resolver, incremental, jinja) => Some(r.sql),
            _ => None,
        };
        // (`render_hooks` renders arrays only.)
        let no_hooks = ["pre-hook", "post-hook"].iter().all(|k| {
            cfg::get(&n.config, k)
                .and_then(Json::as_array)
                .is_none_or(Vec::is_empty)
        });
        if reused.is_some() {
            reused_count.fetch_add(1, Ordering::Relaxed);
        }
        let reused = match (reused, no_hooks) {
            (Some(sql), true) => return Ok((id.to_string(), sql, Vec::new(), Vec::new(), false)),
            (reused, _) => reused,
        };
        let scope = compile_scope(jinja, n, resolver, &self.graph, incremental);
        let watch = scope.clone();
        let pre = render_hooks(jinja, n, "pre-hook", &scope)?;
        let post = render_hooks(jinja, n, "post-hook", &scope)?;
        let sql = if let Some(sql) = reused {
            sql
        } else if let Some(md) = &n.test_metadata {
            compile_generic_test(jinja, n, md, scope)?
        } else {
            jinja
                .render(&n.display_path, &n.raw_code, scope, &n.package_name)
                .map_err(|d| {
                    d.note(format!(
                        "while compiling {} '{}'",
                        n.resource_type.as_str(),
                        n.name
                    ))
                })?
        };
        let introspected = watch.introspected.load(Ordering::Relaxed);
        Ok((id.to_string(), sql, pre, post, introspected))
    }
}

/// Compiles a node whose up-front render failed, just before it runs.
pub struct LateCompiler {
    pub(super) ctx: RenderCtx,
}

impl LateCompiler {
    /// The node with its SQL (ephemeral models it reads injected as CTEs, from `ephemerals`,
    /// the compiled ephemeral nodes by id) and hooks, rendered now against the warehouse as
    /// it is.
    pub fn compile(
        &self,
        ephemerals: &BTreeMap<String, Node>,
        n: &Node,
    ) -> std::result::Result<Node, Diagnostic> {
        let (_, sql, pre, post, _) =
            self.ctx
                .render(&n.unique_id, n, None, &AtomicUsize::new(0))?;
        let bodies: HashMap<&str, (&Node, &str)> = ephemerals
            .iter()
            .filter_map(|(id, e)| Some((id.as_str(), (e, e.compiled_code.as_deref()?))))
            .collect();
        let mut ctes = Vec::new();
        collect_ephemerals(&bodies, &n.depends_on_nodes, &mut ctes, &mut Vec::new());
        let mut out = n.clone();
        out.compiled_code = Some(if ctes.is_empty() {
            sql
        } else {
            crate::sql::inject_ctes(&sql, &ctes)
        });
        out.pre_hooks = pre;
        out.post_hooks = post;
        Ok(out)
    }
}

/// A node's hooks (strings, or `{sql: ...}` objects), rendered in the node's context.
pub(super) fn render_hooks(
    jinja: &Jinja,
    n: &Node,
    key: &str,
    scope: &Arc<Scope>,
) -> std::result::Result<Vec<String>, Diagnostic> {
    let Some(Json::Array(items)) = cfg::get(&n.config, key) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in items {
        let text = match item {
            Json::String(s) => s.clone(),
            Json::Object(o) => o
                .get("sql")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string(),
            _ => continue,
        };
        let sql = jinja
            .render(
                &n.display_path,
                &Arc::from(text.as_str()),
                scope.clone(),
                &n.package_name,
            )
            .map_err(|d| {
                d.note(format!(
                    "in a {key} of {} '{}'",
                    n.resource_type.as_str(),
                    n.name
                ))
            })?;
        if !sql.trim().is_empty() {
            out.push(sql);
        }
    }
    Ok(out)
}

/// The ephemeral models among `deps` and, first, their own: (CTE name, SQL), each once.
pub(super) fn collect_ephemerals<'a>(
    ephemeral: &HashMap<&str, (&'a Node, &str)>,
    deps: &'a [String],
    out: &mut Vec<(String, String)>,
    seen: &mut Vec<&'a str>,
) {
    for dep in deps {
        let Some((d, sql)) = ephemeral.get(dep.as_str()) else {
            continue;
        };
        if seen.contains(&dep.as_str()) {
            continue;
        }
        seen.push(dep);
        collect_ephemerals(ephemeral, &d.depends_on_nodes, out, seen);
        out.push((format!("__dbt__cte__{}", d.name), sql.to_string()));
    }
}

/// Whether a parse-phase render is what compiling the node would produce: compile would hand
/// the template every value the parse render was handed (see [`parse::ParseRender`]).
pub(super) fn still_holds(
    r: &parse::ParseRender,
    n: &Node,
    resolver: &Arc<dyn Resolver>,
    incremental: bool,
    jinja: &Jinja,
) -> bool {
    let quoting = jinja.shared.quoting;
    r.handed.iter().all(|h| match h {
        Handed::Ref(call, rel) => resolver
            .resolve_ref(&n.package_name, call)
            .is_ok_and(|r| &r == rel),
        Handed::Source(s, t, rel) => resolver.resolve_source(s, t).is_ok_and(|r| &r == rel),
        Handed::This(rel) => &n.this_relation(quoting) == rel,
        Handed::Schema(s) => &n.schema == s,
        Handed::Database(d) => &n.database == d,
        Handed::Config(key, v) => cfg::get(&n.config, key) == v.as_ref(),
        Handed::Incremental(v) => incremental == *v,
        Handed::FullRefresh(v) => n.full_refresh(jinja.shared.full_refresh) == *v,
    })
}

pub(super) fn compile_scope(
    jinja: &Jinja,
    n: &Node,
    resolver: &Arc<dyn Resolver>,
    graph: &Value,
    incremental: bool,
) -> Arc<Scope> {
    let mut vars = context::FastMap::default();
    vars.insert(
        "ref",
        Value::from_object(RefFn {
            resolver: resolver.clone(),
            recorder: None,
            package: n.package_name.clone(),
        }),
    );
    vars.insert(
        "source",
        Value::from_object(SourceFn {
            resolver: resolver.clone(),
            recorder: None,
        }),
    );
    vars.insert(
        "config",
        Value::from_object(ConfigObj {
            base: Arc::new(n.config.clone()),
            recorder: None,
        }),
    );
    vars.insert(
        "var",
        Value::from_object(VarFn {
            shared: jinja.shared.clone(),
        }),
    );
    vars.insert("is_incremental", context::const_fn(incremental));
    vars.insert(
        "should_full_refresh",
        context::const_fn(n.full_refresh(jinja.shared.full_refresh)),
    );
    vars.insert("execute", Value::from(true));
    vars.insert(
        "this",
        Value::from_object(n.this_relation(jinja.shared.quoting)),
    );
    vars.insert("model", crate::parse::node_json::node_value(n));
    vars.insert("schema", Value::from(n.schema.clone()));
    vars.insert("database", Value::from(n.database.clone()));
    vars.insert("graph", graph.clone());
    vars.insert("doc", parse::doc_fn(jinja, &n.package_name));
    Arc::new(Scope {
        vars,
        recorder: None,
        statements: Default::default(),
        introspected: Default::default(),
    })
}

/// A built-in generic test (see [`builtin_tests`]) rendered without Jinja, when its macro,
/// arguments and config allow; `None` means: render it through Jinja.
pub(super) fn native_generic_test(
    jinja: &Jinja,
    native: &builtin_tests::NativeTests,
    n: &Node,
    md: &parse::TestMetadata,
    resolver: &Arc<dyn Resolver>,
) -> Option<String> {
    let reg = &jinja.shared.registry;
    let macro_name = format!("test_{}", md.name);
    let def = match &md.namespace {
        Some(ns) => reg.get(ns, &macro_name),
        None => reg.resolve(&n.package_name, &macro_name),
    }?;
    if !builtin_tests::NativeTests::is_builtin(reg, def) {
        return None;
    }
    // Hooks need the full context.
    for key in ["pre-hook", "post-hook"] {
        match cfg::get(&n.config, key) {
            None => {}
            Some(Json::Array(items)) if items.is_empty() => {}
            Some(_) => return None,
        }
    }
    let scope = parse::kwarg_scope(resolver.clone(), None, n);
    let mut kwargs = Vec::with_capacity(md.kwargs.len());
    for (k, v) in &md.kwargs {
        match parse::eval_test_kwarg_static(jinja, k, v, &scope)? {
            Ok(v) => kwargs.push((k.clone(), v)),
            Err(_) => return None,
        }
    }
    let store_failures = cfg::get(&n.config, "store_failures")
        .map(Value::from_serialize)
        .unwrap_or(Value::from(()));
    native.render(&md.name, &kwargs, &store_failures)
}

/// A generic test compiles to its macro's output, called with the rendered keyword arguments.
pub(super) fn compile_generic_test(
    jinja: &Jinja,
    n: &Node,
    md: &parse::TestMetadata,
    scope: Arc<Scope>,
) -> std::result::Result<String, Diagnostic> {
    let reg = &jinja.shared.registry;
    let macro_name = format!("test_{}", md.name);
    let def = match &md.namespace {
        Some(ns) => reg.get(ns, &macro_name),
        None => reg.resolve(&n.package_name, &macro_name),
    }
    .cloned()
    .ok_or_else(|| {
        Diagnostic::error(Code::E203, format!("test '{}' is not defined: no macro '{}'", md.name, macro_name))
            .at(parse::find_in(&n.display_path, &jinja_text(n), &md.name))
            .help(format!("define it with {{% test {}(model, column_name) %}} in macros/ or tests/generic/, or install the package that provides it", md.name))
    })?;
    let mut kwargs = Vec::new();
    for (k, v) in &md.kwargs {
        let value = parse::eval_test_kwarg(jinja, k, v, scope.clone(), &n.package_name)
            .map_err(|d| d.note(format!("in argument '{k}' of test '{}'", n.name)))?;
        // A YAML list is a Python list in dbt: the test may append to it.
        let value = if value.kind() == minijinja::value::ValueKind::Seq {
            crate::jinja::objects::new_list(Some(value))
                .map_err(|e| jinja.convert_error(&e, None))?
        } else {
            value
        };
        kwargs.push((k.clone(), value));
    }
    let args = [Value::from(minijinja::value::Kwargs::from_iter(kwargs))];
    let out = jinja
        .call_macro(&def, &args, scope, &n.package_name)
        .map_err(|d| {
            d.note(format!(
                "while compiling test '{}' defined in {}",
                n.name, n.display_path
            ))
        })?;
    Ok(out.to_string())
}

pub(super) fn jinja_text(n: &Node) -> Arc<str> {
    std::fs::read_to_string(&n.display_path)
        .map(Arc::from)
        .unwrap_or_else(|_| n.raw_code.clone())
}
