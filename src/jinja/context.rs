//! The dbt context: the root object templates read names from, macro calls, `ref`/`source`/
//! `config` for each phase, `var`, `adapter`, and the error plumbing that carries our
//! diagnostics through minijinja.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, Value, ValueKind};
use minijinja::{Error, ErrorKind, State};
use serde_json::{Map, Value as Json};

use super::objects::{Quoting, Relation};
use crate::diagnostics::{Code, Diagnostic};
use crate::project::config::Config;

pub use super::adapter::{Adapter, RelationExists};

/// Adapter prefixes tried by `adapter.dispatch`, most specific first.
pub const DISPATCH_PREFIXES: &[&str] = &["datafusion", "duckdb", "default"];
/// The package that holds weir's built-in macros (dbt's internal macros live there too).
pub const INTERNAL_PACKAGE: &str = "dbt";

/// A diagnostic carried inside a minijinja error, so minijinja can attach the call's location.
#[derive(Debug)]
pub struct DiagError(pub Diagnostic);

impl fmt::Display for DiagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for DiagError {}

pub fn diag_err(d: Diagnostic) -> Error {
    Error::new(ErrorKind::InvalidOperation, d.message.clone()).with_source(DiagError(d))
}

// ---------------------------------------------------------------------------------------------
// Macros

#[derive(Debug, Clone)]
pub struct MacroDef {
    /// Shared with the contexts of its calls.
    pub package: Arc<str>,
    pub name: String,
    /// Name of the macro inside the rewritten template.
    pub internal: String,
    /// Template name in the environment (the file's project-relative path).
    pub template: String,
    pub original_file_path: String,
    pub unique_id: String,
    /// The macro's own source text, for the manifest.
    pub raw_code: String,
    pub arguments: Vec<String>,
    /// A macro whose block does not compile: the error is raised where it is called, so the
    /// message names the caller too.
    pub broken: Option<Diagnostic>,
}

#[derive(Debug, Default)]
pub struct MacroRegistry {
    pub by_package: FastMap<String, FastMap<String, Arc<MacroDef>>>,
    pub root: String,
    /// `dispatch:` config: namespace -> packages to search.
    pub dispatch: HashMap<String, Vec<String>>,
}

impl MacroRegistry {
    pub fn get(&self, package: &str, name: &str) -> Option<&Arc<MacroDef>> {
        self.by_package.get(package)?.get(name)
    }

    /// dbt's order for an unqualified name: the calling package, the root project, then the
    /// internal macros.
    pub fn resolve(&self, from_package: &str, name: &str) -> Option<&Arc<MacroDef>> {
        self.get(from_package, name)
            .or_else(|| self.get(&self.root, name))
            .or_else(|| self.get(INTERNAL_PACKAGE, name))
    }

    pub fn is_package(&self, name: &str) -> bool {
        self.by_package.contains_key(name)
    }

    /// `adapter.dispatch(name, macro_namespace)`.
    pub fn dispatch(
        &self,
        name: &str,
        namespace: Option<&str>,
        from_package: &str,
    ) -> Option<&Arc<MacroDef>> {
        let packages: Vec<Option<String>> = match namespace {
            Some(ns) => match self.dispatch.get(ns) {
                Some(order) => order.iter().map(|p| Some(p.clone())).collect(),
                None => vec![Some(ns.to_string())],
            },
            None => vec![None],
        };
        for package in &packages {
            for prefix in DISPATCH_PREFIXES {
                let candidate = format!("{prefix}__{name}");
                let found = match package {
                    Some(p) => self.get(p, &candidate),
                    None => self.resolve(from_package, &candidate),
                };
                if let Some(m) = found {
                    return Some(m);
                }
            }
        }
        // dbt falls back to the internal package for the `dbt` namespace.
        if namespace == Some(INTERNAL_PACKAGE) || namespace.is_none() {
            for prefix in DISPATCH_PREFIXES {
                if let Some(m) = self.get(INTERNAL_PACKAGE, &format!("{prefix}__{name}")) {
                    return Some(m);
                }
            }
        }
        None
    }

    pub fn all_names(&self) -> impl Iterator<Item = &str> {
        self.by_package
            .values()
            .flat_map(|m| m.keys().map(String::as_str))
    }
}

const RETURN_MARKER: &str = "__weir_return__";

/// dbt's `return(value)`: ends the current macro with a value instead of its rendered text.
/// The value waits in the macro call's own context, where the call that ends takes it.
pub fn return_fn(state: &State, args: &[Value]) -> Result<Value, Error> {
    // Python's `return(x)` takes exactly one argument, as dbt's does.
    let [value] = args else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("return() takes exactly one argument ({} given)", args.len()),
        ));
    };
    let ctx = current_ctx(state)?;
    if let Ok(mut slot) = ctx.returned.lock() {
        *slot = Some(value.clone());
    }
    Err(Error::new(ErrorKind::InvalidOperation, RETURN_MARKER))
}

fn is_return(err: &Error) -> bool {
    let mut e: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cur) = e {
        if let Some(me) = cur.downcast_ref::<Error>() {
            if me.detail() == Some(RETURN_MARKER) {
                return true;
            }
        }
        e = cur.source();
    }
    false
}

/// A macro as a callable: every call evaluates the macro's file in a fresh state whose context
/// is the caller's, with the macro's package as the resolution package.
#[derive(Debug)]
pub struct MacroFn(pub Arc<MacroDef>);

/// A call's arguments split as Jinja2 splits them for a macro with `kwargs`/`varargs`: those
/// the signature names (positional first, then keyword), the other keyword arguments as a
/// dict, the positional ones beyond the signature as a list.
fn split_extra_args(args: &[Value], names: &[String]) -> Result<(Vec<Value>, Value, Value), Error> {
    let (positional, kwargs) = match args.split_last() {
        Some((last, rest)) if last.is_kwargs() => (
            rest,
            Some(minijinja::value::Kwargs::try_from(last.clone())?),
        ),
        _ => (args, None),
    };
    let n = positional.len().min(names.len());
    let mut call: Vec<Value> = positional[..n].to_vec();
    let varargs = Value::from(positional[n..].to_vec());
    let mut known: Vec<(String, Value)> = Vec::new();
    let mut extra = indexmap::IndexMap::new();
    if let Some(kw) = kwargs {
        for key in kw.args() {
            let v: Value = kw.peek(key)?;
            if names.iter().any(|a| a == key) {
                known.push((key.to_string(), v));
            } else {
                extra.insert(Value::from(key), v);
            }
        }
    }
    if !known.is_empty() {
        call.push(Value::from(
            known.into_iter().collect::<minijinja::value::Kwargs>(),
        ));
    }
    Ok((call, Value::from_iter(extra), varargs))
}

/// Wraps a `caller` macro so a macro in another template state can call back into the state
/// that created it. Valid only while the outer call runs; `alive` guards later use.
struct CallerProxy {
    inner: Value,
    state: *const (),
    alive: Arc<AtomicBool>,
}

// SAFETY: the pointer is only dereferenced while `alive` is true, which the creating call
// guarantees by clearing it before it returns; rendering of one node happens on one thread.
unsafe impl Send for CallerProxy {}
unsafe impl Sync for CallerProxy {}

impl fmt::Debug for CallerProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<caller>")
    }
}

impl Object for CallerProxy {
    fn call(self: &Arc<Self>, _state: &State, args: &[Value]) -> Result<Value, Error> {
        if !self.alive.load(Ordering::SeqCst) {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "caller() used after its call block ended",
            ));
        }
        // SAFETY: see the Send/Sync note above.
        let outer: &State = unsafe { &*(self.state as *const State) };
        self.inner.call(outer, args)
    }
}

impl Object for MacroFn {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "name" => Some(Value::from(self.0.name.clone())),
            "package_name" => Some(Value::from(self.0.package.clone())),
            _ => None,
        }
    }

    fn call(self: &Arc<Self>, state: &State, args: &[Value]) -> Result<Value, Error> {
        let def = &self.0;
        if let Some(d) = &def.broken {
            return Err(diag_err(d.clone()));
        }
        let ctx = current_ctx(state)?;
        if let Some(rec) = &ctx.scope.recorder {
            let mut macros = rec
                .macros
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !macros.contains(&def.unique_id) {
                macros.insert(def.unique_id.clone());
            }
        }
        let call_depth = ctx.frame.as_ref().map_or(0, |f| f.depth) + 1;
        if call_depth > MAX_MACRO_DEPTH {
            if let Some(f) = &ctx.frame {
                return Err(recursion_error(f, &def.name));
            }
        }
        let returned: Arc<Mutex<Option<Value>>> = Arc::default();
        // Jinja2 hands a macro that mentions `kwargs`/`varargs` the arguments its signature
        // does not name (`test_x(model, **kwargs)` forwarding to `default__test_x`).
        let extra = (def.raw_code.contains("kwargs") || def.raw_code.contains("varargs"))
            .then(|| split_extra_args(args, &def.arguments))
            .transpose()?;
        let (args, extra_args) = match &extra {
            Some((a, kw, va)) => (a.as_slice(), Some(Arc::new((kw.clone(), va.clone())))),
            None => (args, None),
        };
        let inner_ctx = Ctx {
            extra_args,
            shared: ctx.shared.clone(),
            scope: ctx.scope.clone(),
            package: def.package.clone(),
            returned: returned.clone(),
            frame: Some(Arc::new(Frame {
                name: def.name.clone().into(),
                depth: call_depth,
                parent: ctx.frame.clone(),
            })),
        };
        let tmpl = state.env().get_template(&def.template)?;
        let captured = tmpl.render_captured_to(Value::from_object(inner_ctx), std::io::sink())?;
        let st = captured.state();
        let Some(mac) = st.lookup(&def.internal) else {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("macro '{}' not found in {}", def.name, def.template),
            ));
        };
        let wrapped = wrap_caller(state, args);
        let result = mac.call(st, wrapped.as_ref().map_or(args, |(a, _)| a));
        if let Some((_, alive)) = &wrapped {
            alive.store(false, Ordering::SeqCst);
        }
        match result {
            Ok(v) => Ok(v),
            Err(e) if is_return(&e) => Ok(returned
                .lock()
                .ok()
                .and_then(|mut r| r.take())
                .unwrap_or(Value::from(()))),
            Err(e) if is_recursion_error(&e) => Err(e),
            Err(e) => {
                // A new error without a location: minijinja gives it the caller's location, and
                // the macro's own error (with its file and line) stays as the cause.
                Err(Error::new(e.kind(), format!("in macro '{}'", def.name)).with_source(e))
            }
        }
    }
}

/// `args` with a `caller=` keyword argument wrapped in a [`CallerProxy`], and the flag that
/// ends the proxy's life; `None` when there is none (the arguments go as they are).
fn wrap_caller(state: &State, args: &[Value]) -> Option<(Vec<Value>, Arc<AtomicBool>)> {
    let last = args.last()?;
    let kwargs = Kwargs::try_from(last.clone()).ok()?;
    let caller = kwargs.peek::<Value>("caller").ok()?;
    let alive = Arc::new(AtomicBool::new(true));
    let proxy = Value::from_object(CallerProxy {
        inner: caller,
        state: state as *const State as *const (),
        alive: alive.clone(),
    });
    let mut pairs: Vec<(String, Value)> = Vec::new();
    for key in kwargs.args() {
        let v = if key == "caller" {
            proxy.clone()
        } else {
            kwargs.peek::<Value>(key).unwrap_or_default()
        };
        pairs.push((key.to_string(), v));
    }
    let mut out = args[..args.len() - 1].to_vec();
    out.push(Value::from(Kwargs::from_iter(pairs)));
    Some((out, alive))
}

/// `dbt_utils.star(...)`: the macros of one package.
#[derive(Debug)]
pub struct PackageNs {
    pub package: String,
    pub shared: Arc<Shared>,
}

impl Object for PackageNs {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let m = self.shared.registry.get(&self.package, key.as_str()?)?;
        Some(Value::from_object(MacroFn(m.clone())))
    }
    fn call_method(
        self: &Arc<Self>,
        state: &State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match self.shared.registry.get(&self.package, method) {
            Some(m) => Value::from_object(MacroFn(m.clone())).call(state, args),
            None => Err(undefined_macro(
                &self.shared,
                &format!("{}.{method}", self.package),
            )),
        }
    }
}

pub fn undefined_macro(shared: &Shared, name: &str) -> Error {
    let short = name.rsplit('.').next().unwrap_or(name);
    let mut d = Diagnostic::error(
        Code::E203,
        format!("'{name}' is undefined: no macro, variable or function has that name"),
    );
    if let Some(c) = crate::diagnostics::closest(
        short,
        shared.registry.all_names().filter(|n| !n.contains("__")),
    ) {
        d = d.help(format!("did you mean '{c}'?"));
    } else {
        d = d.help(
            "define it in macros/, or install the package that provides it under dbt_packages/",
        );
    }
    diag_err(d)
}

// ---------------------------------------------------------------------------------------------
// The context object

/// Everything shared by every render of one project.
pub struct Shared {
    pub registry: MacroRegistry,
    pub root_package: String,
    pub quoting: Quoting,
    /// Project-wide values (`target`, `project_name`, `invocation_id`, ...).
    pub globals: FastMap<String, Value>,
    pub docs: HashMap<(String, String), String>,
    pub vars: VarScope,
    /// Environment variables read while rendering, for the compile cache.
    pub env_vars_read: Mutex<BTreeMap<String, Option<String>>>,
    pub query: Option<super::objects::QueryRunner>,
    /// `--full-refresh` was given.
    pub full_refresh: bool,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<shared>")
    }
}

/// What one node's render records: the parse phase reads these back.
#[derive(Debug, Default)]
pub struct Recorder {
    pub refs: Mutex<Vec<RefCall>>,
    pub sources: Mutex<Vec<(String, String)>>,
    pub config: Mutex<Config>,
    pub macros: Mutex<BTreeSet<String>>,
    /// Set for a node's parse render, whose output the compile phase may reuse.
    pub probe: Option<Probe>,
}

/// What a parse render read that can differ at compile time. The compile phase reuses the
/// parse output only if every value handed out here is what compile would hand out, and
/// nothing it cannot compare (`execute`, `model`, `graph`) was read.
#[derive(Debug, Default)]
pub struct Probe {
    pub opaque: AtomicBool,
    pub handed: Mutex<Vec<Handed>>,
}

/// One phase-dependent value a parse render was given.
#[derive(Debug, Clone, PartialEq)]
pub enum Handed {
    Ref(RefCall, Relation),
    Source(String, String, Relation),
    This(Relation),
    Schema(String),
    Database(String),
    /// `config.get` / `config.require`: the key and what was found.
    Config(String, Option<Json>),
    Incremental(bool),
    FullRefresh(bool),
}

impl Probe {
    fn hand(&self, h: Handed) {
        let mut handed = self
            .handed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !handed.contains(&h) {
            handed.push(h);
        }
    }

    /// A name read from the context.
    fn read(&self, name: &str, value: &Value) {
        match name {
            "execute" | "model" | "graph" => self.opaque.store(true, Ordering::Relaxed),
            "this" => match value.downcast_object_ref::<Relation>() {
                Some(r) => self.hand(Handed::This(r.clone())),
                None => self.opaque.store(true, Ordering::Relaxed),
            },
            "schema" => self.hand(Handed::Schema(value.to_string())),
            "database" => self.hand(Handed::Database(value.to_string())),
            _ => {}
        }
    }
}

impl Recorder {
    /// A recorder for a render whose output may be reused (see [`Probe`]).
    pub fn probing() -> Self {
        Recorder {
            probe: Some(Probe::default()),
            ..Default::default()
        }
    }

    fn hand(&self, h: Handed) {
        if let Some(p) = &self.probe {
            p.hand(h);
        }
    }
}

/// `is_incremental()` / `should_full_refresh()` in the parse phase: false, and noted.
pub fn noted_fn(rec: &Arc<Recorder>, incremental: bool) -> Value {
    let rec = rec.clone();
    Value::from_function(move |_args: &[Value]| -> Result<Value, Error> {
        rec.hand(if incremental {
            Handed::Incremental(false)
        } else {
            Handed::FullRefresh(false)
        });
        Ok(Value::from(false))
    })
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct RefCall {
    pub package: Option<String>,
    pub name: String,
    pub version: Option<String>,
}

/// A map keyed by names the program or the project chose (no untrusted input): hashed with
/// foldhash, several times faster than the standard SipHash on these short keys.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Per-node names: `this`, `model`, `ref`, `config`, ... chosen by the phase.
pub struct Scope {
    pub vars: FastMap<&'static str, Value>,
    pub recorder: Option<Arc<Recorder>>,
    /// `{% call statement(name) %}` results of this render, for `load_result(name)`.
    pub statements: Mutex<HashMap<String, super::objects::QueryResult>>,
    /// Whether this render read the warehouse (`run_query`, `get_columns_in_relation`,
    /// `get_relation`): in a run, such a node is rendered again at its turn, when what it
    /// reads has been built.
    pub introspected: std::sync::atomic::AtomicBool,
}

/// Note that the render in progress read the warehouse (see [`Scope::introspected`]).
pub fn mark_introspected(state: &State) {
    if let Ok(ctx) = current_ctx(state) {
        ctx.scope.introspected.store(true, Ordering::Relaxed);
    }
}

#[derive(Clone)]
pub struct Ctx {
    pub shared: Arc<Shared>,
    pub scope: Arc<Scope>,
    pub package: Arc<str>,
    /// The macro call this context renders, innermost first; `None` at the top of a render.
    pub frame: Option<Arc<Frame>>,
    /// What `return()` hands back from the macro this context renders.
    pub returned: Arc<Mutex<Option<Value>>>,
    /// Jinja2's `kwargs` and `varargs` in a macro that mentions them: the keyword and
    /// positional arguments its signature does not name.
    pub extra_args: Option<Arc<(Value, Value)>>,
}

/// One macro call in the chain that led to the current one. Every call renders its macro in
/// a template state of its own, whose recursion counter starts at zero, so the depth of the
/// chain is what bounds recursion.
#[derive(Debug)]
pub struct Frame {
    pub name: Arc<str>,
    pub depth: usize,
    pub parent: Option<Arc<Frame>>,
}

/// The deepest chain of macro calls a render may make (Python's default recursion limit of
/// 1000 frames stops dbt at a similar depth, with "maximum recursion depth exceeded").
pub const MAX_MACRO_DEPTH: usize = 250;

/// The error for a chain of calls deeper than [`MAX_MACRO_DEPTH`], naming the chain (its
/// first calls and its last ones; a recursive chain repeats itself).
fn recursion_error(frame: &Frame, next: &str) -> Error {
    let mut names = vec![next.to_string()];
    let mut f = Some(frame);
    while let Some(fr) = f {
        names.push(fr.name.to_string());
        f = fr.parent.as_deref();
    }
    names.reverse();
    let shown = if names.len() > 8 {
        format!(
            "{} -> ... -> {}",
            names[..4].join(" -> "),
            names[names.len() - 4..].join(" -> ")
        )
    } else {
        names.join(" -> ")
    };
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "maximum recursion depth exceeded: more than {MAX_MACRO_DEPTH} nested macro calls ({shown}); a macro that calls itself needs a condition that ends the recursion"
        ),
    )
}

fn is_recursion_error(e: &Error) -> bool {
    e.detail()
        .is_some_and(|d| d.starts_with("maximum recursion depth exceeded"))
}

impl fmt::Debug for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<context of package {}>", self.package)
    }
}

pub fn current_ctx(state: &State) -> Result<Arc<Ctx>, Error> {
    state
        .lookup("__ctx")
        .and_then(|v| v.downcast_object::<Ctx>())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                "weir: no dbt context in this template (internal error)",
            )
        })
}

impl Object for Ctx {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        if name == "__ctx" {
            return Some(Value::from_dyn_object(self.clone()));
        }
        if let (Some(extra), "kwargs" | "varargs") = (&self.extra_args, name) {
            return Some(if name == "kwargs" {
                extra.0.clone()
            } else {
                extra.1.clone()
            });
        }
        if let Some(v) = self.scope.vars.get(name) {
            if let Some(p) = self.scope.recorder.as_ref().and_then(|r| r.probe.as_ref()) {
                p.read(name, v);
            }
            return Some(v.clone());
        }
        if let Some(v) = self.shared.globals.get(name) {
            return Some(v.clone());
        }
        if let Some(m) = self.shared.registry.resolve(&self.package, name) {
            return Some(Value::from_object(MacroFn(m.clone())));
        }
        if self.shared.registry.is_package(name) {
            return Some(Value::from_object(PackageNs {
                package: name.to_string(),
                shared: self.shared.clone(),
            }));
        }
        None
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }
}

// ---------------------------------------------------------------------------------------------
// ref / source / config / var

/// How names resolve in a phase: the parse phase checks existence and records; the compile
/// phase returns the relation of the resolved node.
pub trait Resolver: Send + Sync {
    fn resolve_ref(&self, from_package: &str, call: &RefCall) -> Result<Relation, Diagnostic>;
    fn resolve_source(&self, source: &str, table: &str) -> Result<Relation, Diagnostic>;
}

pub struct RefFn {
    pub resolver: Arc<dyn Resolver>,
    pub recorder: Option<Arc<Recorder>>,
    pub package: String,
}

impl fmt::Debug for RefFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<ref>")
    }
}

impl Object for RefFn {
    fn call(self: &Arc<Self>, _state: &State, args: &[Value]) -> Result<Value, Error> {
        let (pos, kwargs): (&[Value], Kwargs) = minijinja::value::from_args(args)?;
        let version = kwargs
            .get::<Option<Value>>("version")?
            .or(kwargs.get::<Option<Value>>("v")?)
            .filter(|v| !v.is_none())
            .map(|v| v.to_string());
        let strs: Vec<String> = pos
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "ref() takes strings"))
            })
            .collect::<Result<_, _>>()?;
        let call = match strs.as_slice() {
            [name] => RefCall {
                package: None,
                name: name.clone(),
                version,
            },
            [package, name] => RefCall {
                package: Some(package.clone()),
                name: name.clone(),
                version,
            },
            _ => {
                return Err(diag_err(
                    Diagnostic::error(
                        Code::E205,
                        format!("ref() takes one or two names, got {}", strs.len()),
                    )
                    .help("use ref('model') or ref('package', 'model')"),
                ))
            }
        };
        let rel = self
            .resolver
            .resolve_ref(&self.package, &call)
            .map_err(diag_err)?;
        if let Some(rec) = &self.recorder {
            rec.hand(Handed::Ref(call.clone(), rel.clone()));
            rec.refs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(call);
        }
        Ok(Value::from_object(rel))
    }
}

pub struct SourceFn {
    pub resolver: Arc<dyn Resolver>,
    pub recorder: Option<Arc<Recorder>>,
}

impl fmt::Debug for SourceFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<source>")
    }
}

impl Object for SourceFn {
    fn call(self: &Arc<Self>, _state: &State, args: &[Value]) -> Result<Value, Error> {
        let (source, table): (String, String) =
            minijinja::value::from_args(args).map_err(|_| {
                diag_err(
                    Diagnostic::error(Code::E205, "source() takes two names")
                        .help("use source('source_name', 'table_name')"),
                )
            })?;
        let rel = self
            .resolver
            .resolve_source(&source, &table)
            .map_err(diag_err)?;
        if let Some(rec) = &self.recorder {
            rec.hand(Handed::Source(source.clone(), table.clone(), rel.clone()));
            rec.sources
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((source, table));
        }
        Ok(Value::from_object(rel))
    }
}

/// `config(...)`, `config.get(...)`, `config.require(...)`.
pub struct ConfigObj {
    /// Config known before the call (project tree and YAML); at compile time, the final config.
    pub base: Arc<Config>,
    /// Parse phase: where `config(...)` calls go.
    pub recorder: Option<Arc<Recorder>>,
}

impl fmt::Debug for ConfigObj {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<config>")
    }
}

impl ConfigObj {
    fn lookup(&self, key: &str) -> Option<Json> {
        let found = self
            .recorder
            .as_ref()
            .and_then(|rec| {
                rec.config
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .get(key)
                    .cloned()
            })
            .or_else(|| self.base.get(key).cloned());
        if let Some(rec) = self.recorder.as_ref().filter(|r| r.probe.is_some()) {
            rec.hand(Handed::Config(key.to_string(), found.clone()));
        }
        found
    }
}

impl Object for ConfigObj {
    fn call(self: &Arc<Self>, _state: &State, args: &[Value]) -> Result<Value, Error> {
        if let Some(rec) = &self.recorder {
            let (pos, kwargs): (&[Value], Kwargs) = minijinja::value::from_args(args)?;
            let mut set = Map::new();
            if let Some(d) = pos.first() {
                if let Json::Object(m) = serde_json::to_value(d).unwrap_or(Json::Null) {
                    set.extend(m);
                }
            }
            for key in kwargs.args() {
                let v: Value = kwargs.peek(key)?;
                set.insert(
                    key.to_string(),
                    serde_json::to_value(&v).unwrap_or(Json::Null),
                );
            }
            crate::project::config::merge(
                &mut rec
                    .config
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                &set,
            );
        }
        Ok(Value::from(""))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "get" => {
                let (key, default): (String, Option<Value>) = minijinja::value::from_args(args)?;
                Ok(self
                    .lookup(&key)
                    .map(|v| Value::from_serialize(&v))
                    .or(default)
                    .unwrap_or(Value::from(())))
            }
            "require" => {
                let (key,): (String,) = minijinja::value::from_args(args)?;
                self.lookup(&key)
                    .map(|v| Value::from_serialize(&v))
                    .ok_or_else(|| {
                        diag_err(
                            Diagnostic::error(
                                Code::E206,
                                format!("required config '{key}' is not set"),
                            )
                            .help(format!(
                                "set it with {{{{ config({key}=...) }}}} or in dbt_project.yml"
                            )),
                        )
                    })
            }
            "set" => Ok(Value::from(())),
            "persist_relation_docs" | "persist_column_docs" => Ok(Value::from(false)),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("config has no method '{method}'"),
            )),
        }
    }
}

/// Where `var()` finds values: CLI first, then the root project's vars (package-scoped first),
/// then the calling package's own vars.
#[derive(Debug, Default, Clone)]
pub struct VarScope {
    pub cli: Map<String, Json>,
    pub root_package: String,
    pub project_vars: HashMap<String, Map<String, Json>>,
}

impl VarScope {
    pub fn lookup(&self, package: &str, name: &str) -> Option<Json> {
        if let Some(v) = self.cli.get(name) {
            return Some(v.clone());
        }
        let root = self.project_vars.get(&self.root_package);
        if let Some(v) = root.and_then(|r| r.get(package)).and_then(|p| p.get(name)) {
            return Some(v.clone());
        }
        if let Some(v) = root.and_then(|r| r.get(name)) {
            if !(v.is_object() && self.project_vars.contains_key(name)) {
                return Some(v.clone());
            }
        }
        let own = self.project_vars.get(package);
        if let Some(v) = own.and_then(|r| r.get(package)).and_then(|p| p.get(name)) {
            return Some(v.clone());
        }
        own.and_then(|r| r.get(name)).cloned()
    }
}

#[derive(Debug)]
pub struct VarFn {
    pub shared: Arc<Shared>,
}

impl Object for VarFn {
    fn call(self: &Arc<Self>, state: &State, args: &[Value]) -> Result<Value, Error> {
        let (name, default): (String, Option<Value>) = minijinja::value::from_args(args)?;
        let package = current_ctx(state)
            .map(|c| c.package.to_string())
            .unwrap_or_default();
        match self.shared.vars.lookup(&package, &name) {
            Some(v) => Ok(Value::from_serialize(&v)),
            None => default.ok_or_else(|| {
                diag_err(
                    Diagnostic::error(Code::E207, format!("required var '{name}' is not set"))
                        .help(format!("pass it with --vars '{{{name}: ...}}', set it under `vars:` in dbt_project.yml, or give a default: var('{name}', ...)")),
                )
            }),
        }
    }
    fn call_method(
        self: &Arc<Self>,
        state: &State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        if method == "has_var" {
            let (name,): (String,) = minijinja::value::from_args(args)?;
            let package = current_ctx(state)
                .map(|c| c.package.to_string())
                .unwrap_or_default();
            return Ok(Value::from(
                self.shared.vars.lookup(&package, &name).is_some(),
            ));
        }
        Err(Error::new(
            ErrorKind::UnknownMethod,
            format!("var has no method '{method}'"),
        ))
    }
}

/// `exceptions.raise_compiler_error` and friends.
#[derive(Debug)]
pub struct Exceptions {
    pub warnings: Arc<Mutex<Vec<String>>>,
}

impl Object for Exceptions {
    fn call_method(
        self: &Arc<Self>,
        _state: &State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let msg = args.first().map(|v| v.to_string()).unwrap_or_default();
        match method {
            "warn" => {
                self.warnings
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(msg);
                Ok(Value::from(""))
            }
            "raise_compiler_error"
            | "raise_not_implemented"
            | "raise_fail_fast_error"
            | "raise_database_error"
            | "raise_dependency_error" => Err(diag_err(Diagnostic::error(
                Code::E209,
                format!("compilation error raised by the project: {msg}"),
            ))),
            _ => Err(diag_err(Diagnostic::error(
                Code::E209,
                format!("{method}: {msg}"),
            ))),
        }
    }
}

/// Build an `is_incremental()` function with a fixed answer.
pub fn const_fn(answer: bool) -> Value {
    Value::from_function(move |_args: &[Value]| -> Result<Value, Error> { Ok(Value::from(answer)) })
}

pub fn is_callable(v: &Value) -> bool {
    v.kind() == ValueKind::Plain || v.kind() == ValueKind::Undefined
}
