//! Jinja: the minijinja environment with dbt's context and macros from the project, its
//! packages and weir's built-ins; rendering of nodes and macros; conversion of minijinja errors
//! into diagnostics that point at the user's own file, line and column.
//!
//! This stage renders text. It does not decide what a node is or where it lives: callers pass
//! the per-node [`context::Scope`] for the phase they are in.

pub mod adapter;
pub mod context;
pub mod objects;
pub mod pydatetime;
pub mod pyre;
pub mod rewrite;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value as Json;

use crate::diagnostics::{Code, Diagnostic, Location};
use crate::project::{FileKind, Project};
use context::{diag_err, Ctx, DiagError, MacroDef, MacroRegistry, Scope, Shared, INTERNAL_PACKAGE};
use objects::Quoting;
use rewrite::OffsetMap;

/// weir's built-in macros (dbt's internal package): (template name, source).
pub const BUILTIN_MACROS: &[(&str, &str)] = &[
    (
        "weir://macros/naming.sql",
        include_str!("../../templates/macros/naming.sql"),
    ),
    (
        "weir://macros/tests.sql",
        include_str!("../../templates/macros/tests.sql"),
    ),
    (
        "weir://macros/cross_db.sql",
        include_str!("../../templates/macros/cross_db.sql"),
    ),
    (
        "weir://macros/helpers.sql",
        include_str!("../../templates/macros/helpers.sql"),
    ),
];

/// A template's user-visible text and how rewritten offsets map back to it.
struct TemplateSource {
    display: String,
    original: Arc<str>,
    map: Option<OffsetMap>,
}

pub struct Jinja {
    pub env: Environment<'static>,
    pub shared: Arc<Shared>,
    sources: HashMap<String, TemplateSource>,
    pub warnings: Arc<Mutex<Vec<String>>>,
}

/// The command this process runs, as dbt's `flags.WHICH` names it (`run`, `build`, `test`,
/// ...); `compile` until the CLI says otherwise.
static WHICH: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Set `flags.WHICH` for this process (once; later calls are ignored).
pub fn set_which(command: &'static str) {
    let _ = WHICH.set(command);
}

/// Project-wide inputs to the context that the caller decides.
pub struct JinjaInputs {
    pub invocation_id: String,
    pub run_started_at: chrono::NaiveDateTime,
    pub docs: HashMap<(String, String), String>,
    pub quoting: Quoting,
    pub warehouse: String,
    /// How `run_query`/`statement`/introspection reach the warehouse, when they can.
    pub query: Option<objects::QueryRunner>,
    /// `--full-refresh` (`flags.FULL_REFRESH`, `should_full_refresh()`).
    pub full_refresh: bool,
}

impl Jinja {
    pub fn new(project: &Project, inputs: JinjaInputs) -> crate::diagnostics::Result<Jinja> {
        let mut env = Environment::new();
        // Debug info would copy the template source into every error, and `return()` is an
        // error: weir builds its own locations (`convert_error`), so it is off.
        env.set_debug(false);
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_keep_trailing_newline(false);
        env.set_recursion_limit(500);
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(objects::py_method);
        add_functions(&mut env);

        let mut registry = MacroRegistry {
            root: project.name.clone(),
            ..Default::default()
        };
        for d in &project.file.dispatch {
            registry
                .dispatch
                .insert(d.macro_namespace.clone(), d.search_order.clone());
        }
        let mut sources = HashMap::new();
        let mut files: Vec<(String, String, String, Arc<str>)> = BUILTIN_MACROS
            .iter()
            .map(|(name, text)| {
                (
                    INTERNAL_PACKAGE.to_string(),
                    name.to_string(),
                    name.trim_start_matches("weir://").to_string(),
                    Arc::from(*text),
                )
            })
            .collect();
        for package in &project.packages {
            registry.by_package.entry(package.name.clone()).or_default();
            for f in package.files.iter().filter(|f| f.kind == FileKind::Macro) {
                files.push((
                    package.name.clone(),
                    f.display.clone(),
                    f.original_file_path.clone(),
                    f.text.clone(),
                ));
            }
        }
        for (package, display, original_file_path, text) in files {
            let rw = rewrite::macro_file(&text);
            for m in &rw.macros {
                let template = format!("{display}#{}", m.name);
                let (block, map) = rewrite::macro_block(&text, m);
                let broken = env
                    .add_template_owned(template.clone(), block)
                    .err()
                    .map(|e| {
                        let mut d = convert_error_with(&e, &|n| {
                            (n == template)
                                .then(|| (display.clone(), text.clone(), Some(map.clone())))
                        });
                        d.message = d.message.replacen(
                            "Jinja syntax error",
                            &format!("Jinja syntax error in macro '{}'", m.name),
                            1,
                        );
                        d
                    });
                let def = MacroDef {
                    package: Arc::from(package.as_str()),
                    name: m.name.clone(),
                    internal: m.internal.clone(),
                    template: template.clone(),
                    original_file_path: original_file_path.clone(),
                    unique_id: format!("macro.{package}.{}", m.name),
                    raw_code: text[m.start..m.end].to_string(),
                    arguments: macro_arguments(&text[m.start..m.end]),
                    broken,
                };
                let previous = registry
                    .by_package
                    .entry(package.clone())
                    .or_default()
                    .insert(m.name.clone(), Arc::new(def));
                // dbt refuses two macros of one name in one package (weir's built-in macros
                // are a package of their own, which a project may override).
                if let Some(prev) = previous {
                    return Err(Diagnostic::error(
                        Code::E106,
                        format!(
                            "two macros in package '{package}' are named '{}': in {} and {}",
                            m.name, prev.original_file_path, original_file_path
                        ),
                    )
                    .at({
                        let at = m.start + text[m.start..].find(m.name.as_str()).unwrap_or(0);
                        crate::diagnostics::Location::new(
                            display.clone(),
                            text.clone(),
                            at,
                            at + m.name.len(),
                        )
                    })
                    .note(format!("also defined in {}", prev.original_file_path))
                    .help("rename or remove one of them")
                    .into());
                }
                sources.insert(
                    template,
                    TemplateSource {
                        display: display.clone(),
                        original: text.clone(),
                        map: Some(map),
                    },
                );
            }
        }

        let warnings = Arc::new(Mutex::new(Vec::new()));
        let mut globals = context::FastMap::default();
        let target = Value::from_serialize(&project.target.fields);
        let mut target_map: serde_json::Map<String, Json> = project.target.fields.clone();
        target_map.insert("name".into(), project.target.name.clone().into());
        target_map.insert("target_name".into(), project.target.name.clone().into());
        target_map.insert(
            "profile_name".into(),
            project.target.profile_name.clone().into(),
        );
        target_map.insert("type".into(), project.target.adapter_type.clone().into());
        let _ = target;
        globals.insert("target".into(), Value::from_serialize(&target_map));
        globals.insert("project_name".into(), Value::from(project.name.clone()));
        globals.insert(
            "invocation_id".into(),
            Value::from(inputs.invocation_id.clone()),
        );
        globals.insert(
            "run_started_at".into(),
            pydatetime::DateTime::utc(inputs.run_started_at),
        );
        globals.insert("dbt_version".into(), Value::from("1.8.0"));
        globals.insert(
            "exceptions".into(),
            Value::from_object(context::Exceptions {
                warnings: warnings.clone(),
            }),
        );
        globals.insert(
            "api".into(),
            Value::from_iter([(
                "Relation",
                Value::from_object(objects::RelationApi {
                    quoting: inputs.quoting,
                }),
            )]),
        );
        globals.insert(
            "modules".into(),
            Value::from_iter([
                (
                    "datetime",
                    Value::from_object(pydatetime::DatetimeModule::Module),
                ),
                ("pytz", Value::from_object(pydatetime::PytzModule)),
                ("re", Value::from_object(pyre::ReModule)),
            ]),
        );
        globals.insert(
            "flags".into(),
            Value::from_iter([
                ("FULL_REFRESH", Value::from(inputs.full_refresh)),
                ("WHICH", Value::from(*WHICH.get().unwrap_or(&"compile"))),
            ]),
        );
        let warehouse = inputs.warehouse.clone();
        globals.insert(
            "adapter".into(),
            Value::from_object(context::Adapter {
                warehouse: Arc::new(std::path::PathBuf::from(&inputs.warehouse)),
                shared_quoting: inputs.quoting,
                exists: Arc::new(move |schema: &str, ident: &str| {
                    std::path::Path::new(&warehouse)
                        .join(schema)
                        .join(ident)
                        .join("_delta_log")
                        .is_dir()
                }),
            }),
        );

        let mut project_vars = HashMap::new();
        for p in &project.packages {
            if let Json::Object(m) = &p.file.vars {
                project_vars.insert(p.name.clone(), m.clone());
            }
        }
        let shared = Arc::new_cyclic(|_weak| Shared {
            registry,
            root_package: project.name.clone(),
            quoting: inputs.quoting,
            globals,
            docs: inputs.docs,
            vars: context::VarScope {
                cli: project.cli_vars.clone(),
                root_package: project.name.clone(),
                project_vars,
            },
            env_vars_read: Mutex::new(Default::default()),
            query: inputs.query.clone(),
            full_refresh: inputs.full_refresh,
        });
        Ok(Jinja {
            env,
            shared,
            sources,
            warnings,
        })
    }

    /// A context for one render.
    pub fn ctx(&self, scope: Arc<Scope>, package: &str) -> Value {
        Value::from_object(Ctx {
            extra_args: None,
            shared: self.shared.clone(),
            scope,
            package: Arc::from(package),
            frame: None,
            returned: Default::default(),
        })
    }

    /// Render a node's template (`display` is its project-relative path).
    pub fn render(
        &self,
        display: &str,
        text: &Arc<str>,
        scope: Arc<Scope>,
        package: &str,
    ) -> Result<String, Diagnostic> {
        if !text.contains("{{") && !text.contains("{%") && !text.contains("{#") {
            return Ok(text.strip_suffix('\n').unwrap_or(text).to_string());
        }
        let rewritten = rewrite::node_template(text);
        let source: &str = rewritten.as_ref().map_or(text, |(t, _)| t.as_str());
        let result = self
            .env
            .template_from_named_str(display, source)
            .and_then(|t| t.render(self.ctx(scope, package)));
        result.map_err(|e| {
            let map = rewritten.as_ref().map(|(_, m)| m.clone());
            self.convert_error(&e, Some((display, text, map)))
        })
    }

    /// Call a macro by definition, with positional and keyword arguments.
    pub fn call_macro(
        &self,
        def: &Arc<MacroDef>,
        args: &[Value],
        scope: Arc<Scope>,
        package: &str,
    ) -> Result<Value, Diagnostic> {
        static EMPTY: &str = "";
        let tmpl = self
            .env
            .template_from_named_str("<call>", EMPTY)
            .map_err(|e| self.convert_error(&e, None))?;
        let captured = tmpl
            .render_captured_to(self.ctx(scope, package), std::io::sink())
            .map_err(|e| self.convert_error(&e, None))?;
        Value::from_object(context::MacroFn(def.clone()))
            .call(captured.state(), args)
            .map_err(|e| self.convert_error(&e, None))
    }

    /// Turn a minijinja error (and its chain of macro calls) into one diagnostic.
    pub fn convert_error(
        &self,
        err: &minijinja::Error,
        node: Option<(&str, &Arc<str>, Option<OffsetMap>)>,
    ) -> Diagnostic {
        let mut d = self.convert_error_raw(err, node);
        // minijinja says "unknown function: x is unknown"; say it as dbt users need it.
        if d.code == Code::E203 && d.help.is_none() {
            let name = d
                .message
                .split("unknown function: ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_string);
            if let Some(name) = name {
                let names = self
                    .shared
                    .registry
                    .all_names()
                    .filter(|n| !n.contains("__"));
                d.message =
                    format!("'{name}' is undefined: no macro, variable or function has that name");
                d.help = Some(match crate::diagnostics::closest(&name, names) {
                    Some(c) => format!("did you mean '{c}'?"),
                    None => "define it in macros/, or install the package that provides it under dbt_packages/".into(),
                });
            }
        }
        d
    }

    fn convert_error_raw(
        &self,
        err: &minijinja::Error,
        node: Option<(&str, &Arc<str>, Option<OffsetMap>)>,
    ) -> Diagnostic {
        convert_error_with(err, &|name| {
            if let Some((display, text, map)) = &node {
                if name == *display {
                    return Some((display.to_string(), Arc::clone(text), map.clone()));
                }
            }
            self.sources
                .get(name)
                .map(|s| (s.display.clone(), s.original.clone(), s.map.clone()))
        })
    }

    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(
            &mut self
                .warnings
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// The argument names in a macro's header, for the manifest.
fn macro_arguments(block: &str) -> Vec<String> {
    let Some(open) = block.find('(') else {
        return Vec::new();
    };
    let mut depth = 0;
    let mut end = open;
    for (i, c) in block[open..].char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    end = open + i;
                    break;
                }
            }
            _ => {}
        }
    }
    let inner = &block[open + 1..end];
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in inner.chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .filter_map(|a| a.split('=').next().map(|s| s.trim().to_string()))
        .filter(|a| !a.is_empty())
        .collect()
}

/// Template name -> (path shown to users, original text, offset map back to it).
type SourceLookup<'a> = dyn Fn(&str) -> Option<(String, Arc<str>, Option<OffsetMap>)> + 'a;

/// One template frame of an error chain: name, span, line, detail.
type Frame = (
    String,
    Option<std::ops::Range<usize>>,
    Option<usize>,
    String,
);

fn convert_error_with(err: &minijinja::Error, lookup: &SourceLookup) -> Diagnostic {
    // Walk the chain: our own diagnostic (from ref/source/config/...) gives code and help; each
    // minijinja error with a template name is a frame, innermost last.
    let mut frames: Vec<Frame> = Vec::new();
    let mut ours: Option<Diagnostic> = None;
    let mut innermost_msg = String::new();
    let mut kind = err.kind();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(me) = e.downcast_ref::<minijinja::Error>() {
            if let Some(name) = me.name() {
                frames.push((
                    name.to_string(),
                    me.range(),
                    me.line(),
                    me.detail().unwrap_or("").to_string(),
                ));
            }
            if !me.detail().unwrap_or("").starts_with("in macro '") {
                innermost_msg = me
                    .detail()
                    .map(str::to_string)
                    .unwrap_or_else(|| me.kind().to_string());
                kind = me.kind();
            }
        } else if let Some(d) = e.downcast_ref::<DiagError>() {
            ours = Some(d.0.clone());
        }
        cur = e.source();
    }
    let mut diag = ours.unwrap_or_else(|| {
        let (code, msg, help) = match kind {
            minijinja::ErrorKind::SyntaxError => (
                Code::E201,
                format!("Jinja syntax error: {innermost_msg}"),
                None,
            ),
            minijinja::ErrorKind::UnknownFunction
            | minijinja::ErrorKind::UnknownFilter
            | minijinja::ErrorKind::UnknownTest => {
                (Code::E203, format!("{}: {innermost_msg}", kind), None)
            }
            minijinja::ErrorKind::UndefinedError => (
                Code::E203,
                format!("undefined value: {innermost_msg}"),
                Some("check the spelling, or define the macro or variable"),
            ),
            minijinja::ErrorKind::TemplateNotFound => (Code::E201, innermost_msg.clone(), None),
            _ => (Code::E210, format!("Jinja error: {innermost_msg}"), None),
        };
        let mut d = Diagnostic::error(code, msg.trim_end_matches(": ").to_string());
        if let Some(h) = help {
            d = d.help(h);
        }
        d
    });
    // Primary location: the innermost frame with a span; outer frames become notes.
    let located: Vec<_> = frames
        .iter()
        .filter_map(|(name, range, line, _)| {
            let (display, text, map) = lookup(name)?;
            let loc = match (range, line) {
                (Some(r), _) => {
                    let (s, e) = match &map {
                        Some(m) => (
                            m.to_original(r.start),
                            m.to_original(r.end.max(r.start + 1) - 1) + 1,
                        ),
                        None => (r.start, r.end),
                    };
                    Location::new(display.trim_start_matches("weir://"), text, s, e)
                }
                (None, Some(l)) => {
                    Location::at_line_col(display.trim_start_matches("weir://"), text, *l, 1, 0)
                }
                _ => return None,
            };
            Some(loc)
        })
        .collect();
    if diag.location.is_some() {
        // The diagnostic already points at its own place (a broken macro): every frame is a
        // caller.
        for outer in located.iter().rev() {
            let (l, c) = outer.line_col();
            diag.notes
                .push(format!("called from {}:{l}:{c}", outer.path));
        }
    } else if let Some(primary) = located.last() {
        diag.location = Some(primary.clone());
        for outer in located.iter().rev().skip(1) {
            let (l, c) = outer.line_col();
            diag.notes
                .push(format!("called from {}:{l}:{c}", outer.path));
        }
    } else if let Some((name, _, line, _)) = frames.first() {
        diag.notes.push(format!(
            "in {name}{}",
            line.map(|l| format!(":{l}")).unwrap_or_default()
        ));
    }
    diag
}

/// Functions that do not depend on the node being rendered.
fn add_functions(env: &mut Environment<'static>) {
    env.add_function("return", context::return_fn);
    env.add_function("__weir_list", objects::new_list);
    env.add_function("__weir_dict", objects::new_dict);
    env.add_function("__weir_arith", pydatetime::arith);
    env.add_function(
        "fromjson",
        |s: String, default: Option<Value>| -> Result<Value, minijinja::Error> {
            match serde_json::from_str::<Json>(&s) {
                Ok(v) => Ok(Value::from_serialize(&v)),
                Err(e) => default.ok_or_else(|| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        format!("fromjson: {e}"),
                    )
                }),
            }
        },
    );
    env.add_function(
        "tojson",
        |v: Value, kwargs: minijinja::value::Kwargs| -> Result<String, minijinja::Error> {
            let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
            let _ = kwargs.get::<Option<Value>>("indent");
            let mut json = serde_json::to_value(&v).map_err(|e| {
                minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
            })?;
            if sort_keys {
                json = sort_json(json);
            }
            Ok(python_json(&json))
        },
    );
    env.add_function(
        "fromyaml",
        |s: String, default: Option<Value>| -> Result<Value, minijinja::Error> {
            match serde_yaml::from_str::<serde_yaml::Value>(&s) {
                Ok(v) => Ok(Value::from_serialize(&v)),
                Err(e) => default.ok_or_else(|| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        format!("fromyaml: {e}"),
                    )
                }),
            }
        },
    );
    env.add_function("toyaml", |v: Value| -> Result<String, minijinja::Error> {
        serde_yaml::to_string(&v).map_err(|e| {
            minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
        })
    });
    env.add_function(
        "log",
        |msg: Value, kwargs: minijinja::value::Kwargs| -> Result<String, minijinja::Error> {
            if kwargs.get::<Option<bool>>("info")?.unwrap_or(false) {
                // The project's own output (dbt prints it in its log), scrubbed of secrets.
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("{}", crate::diagnostics::scrub(&msg.to_string()));
                }
            }
            Ok(String::new())
        },
    );
    env.add_function("print", |msg: Value| -> String {
        println!("{msg}");
        String::new()
    });
    env.add_function("local_md5", |s: String| -> String {
        format!("{:x}", md5::compute(s.as_bytes()))
    });
    env.add_function(
        "zip",
        |a: Value, b: Value| -> Result<Value, minijinja::Error> {
            Ok(Value::from(
                a.try_iter()?
                    .zip(b.try_iter()?)
                    .map(|(x, y)| Value::from(vec![x, y]))
                    .collect::<Vec<_>>(),
            ))
        },
    );
    env.add_function(
        "set",
        |v: Option<Value>| -> Result<Value, minijinja::Error> {
            let mut out: Vec<Value> = Vec::new();
            if let Some(v) = v {
                for x in v.try_iter()? {
                    if !out.contains(&x) {
                        out.push(x);
                    }
                }
            }
            Ok(Value::from(out))
        },
    );
    env.add_function(
        "env_var",
        |state: &minijinja::State,
         name: String,
         default: Option<String>|
         -> Result<String, minijinja::Error> {
            let value = std::env::var(&name).ok();
            if let Ok(ctx) = context::current_ctx(state) {
                ctx.shared
                    .env_vars_read
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(name.clone(), value.clone());
            }
            crate::project::env_var(&name, default.as_deref())
                .map_err(|e| diag_err(e.diagnostic().clone()))
        },
    );
    // Queries run on the warehouse while `execute` is true (compile and run), and return
    // nothing while it is false (parse), as in dbt.
    env.add_function(
        "__weir_statement",
        |state: &minijinja::State,
         name: Option<Value>,
         sql: Value,
         fetch: Option<bool>|
         -> Result<String, minijinja::Error> {
            let result = run_sql(state, &sql.to_string())?;
            let name = name.map(|n| n.to_string()).unwrap_or_else(|| "main".into());
            let _ = fetch;
            if let Ok(mut statements) = context::current_ctx(state)?.scope.statements.lock() {
                statements.insert(name, result);
            }
            Ok(String::new())
        },
    );
    env.add_function(
        "run_query",
        |state: &minijinja::State, sql: Value| -> Result<Value, minijinja::Error> {
            if !state.lookup("execute").is_some_and(|v| v.is_true()) {
                return Ok(Value::from(()));
            }
            Ok(Value::from_object(objects::AgateTable(run_sql(
                state,
                &sql.to_string(),
            )?)))
        },
    );
    env.add_function(
        "load_result",
        |state: &minijinja::State, name: Value| -> Result<Value, minijinja::Error> {
            let result = context::current_ctx(state)?
                .scope
                .statements
                .lock()
                .ok()
                .and_then(|s| s.get(&name.to_string()).cloned());
            match result {
                Some(r) => {
                    let data: Vec<Value> = r
                        .rows
                        .iter()
                        .map(|row| {
                            Value::from(row.iter().map(Value::from_serialize).collect::<Vec<_>>())
                        })
                        .collect();
                    Ok(Value::from_iter([
                        ("table", Value::from_object(objects::AgateTable(r))),
                        ("data", Value::from(data)),
                        ("response", Value::from(())),
                    ]))
                }
                None => Ok(Value::from(())),
            }
        },
    );
    env.add_function(
        "store_result",
        |_name: Value, _kwargs: minijinja::value::Kwargs| -> String { String::new() },
    );
    env.add_filter("as_bool", |v: Value| -> Value {
        match v.as_str() {
            Some(s) => Value::from(matches!(
                s.trim().to_lowercase().as_str(),
                "true" | "1" | "yes"
            )),
            None => Value::from(v.is_true()),
        }
    });
    env.add_filter("as_number", |v: Value| -> Value {
        match v.as_str().map(str::trim) {
            Some(s) => s
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| s.parse::<f64>().map(Value::from))
                .unwrap_or(v.clone()),
            None => v,
        }
    });
    env.add_filter("as_text", |v: Value| -> String { v.to_string() });
    env.add_filter("as_native", |v: Value| -> Value { v });
    // Python's `list(x)` is a new, mutable list (`(xs | list).pop()`).
    env.add_filter("list", |v: Value| objects::new_list(Some(v)));
}

/// Run SQL through the context's query runner. While `execute` is false (the parse render)
/// nothing runs and the result is empty, as in dbt; with `execute` true and no warehouse to run
/// on, the query is an error rather than a silently empty result.
fn run_sql(state: &minijinja::State, sql: &str) -> Result<objects::QueryResult, minijinja::Error> {
    if !state.lookup("execute").is_some_and(|v| v.is_true()) {
        return Ok(Default::default());
    }
    context::mark_introspected(state);
    let Some(runner) = context::current_ctx(state)?.shared.query.clone() else {
        return Err(diag_err(
            Diagnostic::error(
                Code::E211,
                "a query run from Jinja has no warehouse to run on in this command",
            )
            .note(format!("query: {}", sql.trim())),
        ));
    };
    (runner.0)(sql).map_err(|e| {
        diag_err(
            Diagnostic::error(
                Code::E211,
                format!("a query run from Jinja failed: {}", e.message),
            )
            .note(format!("query: {}", sql.trim())),
        )
    })
}

fn sort_json(v: Json) -> Json {
    match v {
        Json::Object(m) => {
            let mut entries: Vec<_> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_json(v)))
                    .collect(),
            )
        }
        Json::Array(a) => Json::Array(a.into_iter().map(sort_json).collect()),
        other => other,
    }
}

/// JSON as Python's `json.dumps` writes it (`, ` and `: ` separators), which dbt's `tojson` uses.
fn python_json(v: &Json) -> String {
    match v {
        Json::Object(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", Json::String(k.clone()), python_json(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Json::Array(a) => format!(
            "[{}]",
            a.iter().map(python_json).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_arguments_are_read_from_the_header() {
        assert_eq!(
            macro_arguments("{% macro m(a, b=[1, 2], c='x') %}"),
            ["a", "b", "c"]
        );
        assert!(macro_arguments("{% macro m() %}").is_empty());
    }

    #[test]
    fn python_json_separators() {
        assert_eq!(
            python_json(&serde_json::json!({"a": [1, "b"]})),
            r#"{"a": [1, "b"]}"#
        );
    }
}
