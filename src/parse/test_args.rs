//! Generic tests from schema YAML: their names, the node they attach to, and their arguments
//! evaluated as dbt does (plain relation arguments read without Jinja).

#[allow(unused_imports)]
use super::*;
#[derive(Clone)]
pub(super) enum TestTarget {
    Node { name: String, rt: ResourceType },
    Source { source: String, table: String },
}

pub(super) fn generic_test(
    project: &Project,
    sd: &SchemaDoc,
    target: &TestTarget,
    column: Option<&str>,
    entry: &Json,
) -> Result<Node> {
    let e = generic_tests::parse_entry(entry).map_err(|d| {
        d.at(find_in(
            &sd.file.display,
            &sd.file.text,
            &entry
                .as_object()
                .and_then(|o| o.keys().next().cloned())
                .unwrap_or_else(|| entry.to_string()),
        ))
        .help("write `- unique`, `- accepted_values: {values: [a, b]}`, or the `arguments:` form")
    })?;
    let mut args = e.args.clone();
    if let Some(c) = column {
        args.insert("column_name".into(), Json::String(c.to_string()));
    }
    let (model_str, target_name, type_prefix) = match target {
        TestTarget::Node { name, .. } => (
            format!("{{{{ get_where_subquery(ref('{name}')) }}}}"),
            name.clone(),
            "",
        ),
        TestTarget::Source { source, table } => (
            format!("{{{{ get_where_subquery(source('{source}', '{table}')) }}}}"),
            format!("{source}_{table}"),
            "source_",
        ),
    };
    args.insert("model".into(), Json::String(model_str));
    let mut test_type = format!("{type_prefix}{}", e.name);
    if let Some(ns) = &e.namespace {
        test_type = format!("{ns}_{test_type}");
    }
    let (short, full) = match &e.custom_name {
        Some(n) => (n.clone(), n.clone()),
        None => generic_tests::synthesize_names(&test_type, &target_name, &args),
    };
    let hash = generic_tests::test_hash_of(&full, &e.name, &args, e.namespace.as_deref());
    let pkg = &sd.package;
    let mut fqn = vec![pkg.clone()];
    fqn.extend(yml_dirs(&sd.file.resource_path));
    fqn.push(full.clone());
    let mut config = Config::new();
    let package = project
        .packages
        .iter()
        .find(|p| &p.name == pkg)
        .unwrap_or(project.root_package());
    cfg::from_tree(&package.file.tests, &fqn, &mut config);
    if !package.is_root {
        cfg::from_tree(&project.root_package().file.tests, &fqn, &mut config);
    }
    cfg::merge(&mut config, &e.config);
    if short != full && !config.contains_key("alias") {
        config.insert("alias".into(), Json::String(short.clone()));
    }
    let raw = format!(
        "{{{{ {}test_{}(**_dbt_generic_test_kwargs) }}}}",
        e.namespace
            .as_ref()
            .map(|n| format!("{n}."))
            .unwrap_or_default(),
        e.name
    );
    Ok(Node {
        unique_id: format!("test.{pkg}.{full}.{hash}"),
        resource_type: ResourceType::Test,
        package_name: pkg.clone(),
        name: full.clone(),
        path: format!("{short}.sql"),
        original_file_path: sd.file.original_file_path.clone(),
        display_path: sd.file.display.clone(),
        fqn,
        raw_code: Arc::from(raw),
        config,
        database: String::new(),
        schema: String::new(),
        alias: short,
        description: e.description.clone().unwrap_or_default(),
        columns: IndexMap::new(),
        patch_path: None,
        refs: Vec::new(),
        sources: Vec::new(),
        depends_on_nodes: Vec::new(),
        depends_on_macros: Vec::new(),
        test_metadata: Some(TestMetadata {
            name: e.name.clone(),
            kwargs: args,
            namespace: e.namespace.clone(),
        }),
        column_name: column.map(str::to_string),
        attached_node: None,
        file_key_name: Some(match target {
            TestTarget::Node { name, rt } => format!(
                "{}.{name}",
                match rt {
                    ResourceType::Seed => "seeds",
                    ResourceType::Snapshot => "snapshots",
                    _ => "models",
                }
            ),
            TestTarget::Source { source, .. } => format!("sources.{source}"),
        }),
        checksum: String::new(),
        version: None,
        contract_enforced: false,
        constraints: Vec::new(),
        compiled_code: None,
        pre_hooks: Vec::new(),
        post_hooks: Vec::new(),
    })
}

pub(super) fn attached_from_kwargs(n: &Node, lookup: &NameLookup) -> Option<String> {
    let model = n.test_metadata.as_ref()?.kwargs.get("model")?.as_str()?;
    let start = model.find("ref('")? + 5;
    let name = &model[start..start + model[start..].find('\'')?];
    lookup.resolve(
        &n.package_name,
        &RefCall {
            package: None,
            name: name.to_string(),
            version: None,
        },
    )
}

/// dbt renders a generic test's keyword arguments as Jinja; arguments that look like
/// `ref(...)`, `source(...)`, `var(...)`, `env_var(...)` or `doc(...)` are wrapped in braces.
pub fn eval_test_kwarg(
    jinja: &Jinja,
    key: &str,
    value: &Json,
    scope: Arc<Scope>,
    package: &str,
) -> std::result::Result<Value, Diagnostic> {
    static FUNC: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let func = FUNC.get_or_init(|| {
        regex::Regex::new(r"^\s*(env_var|ref|var|source|doc)\s*\(.+\)\s*$").expect("a valid regex")
    });
    match value {
        Json::String(s) if key != "column_name" => {
            if let Some(v) = fast_relation_kwarg(jinja, s, &scope) {
                return v;
            }
            let trimmed = s.trim();
            if func.is_match(s) {
                return jinja_eval(jinja, trimmed, scope, package);
            }
            if let Some(inner) = trimmed
                .strip_prefix("{{")
                .and_then(|t| t.strip_suffix("}}"))
            {
                if !inner.contains("{{") {
                    return jinja_eval(jinja, inner.trim(), scope, package);
                }
            }
            if s.contains("{{") || s.contains("{%") {
                let text: Arc<str> = Arc::from(s.as_str());
                return jinja
                    .render("<test argument>", &text, scope, package)
                    .map(Value::from);
            }
            Ok(Value::from(s.clone()))
        }
        Json::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                out.push(eval_test_kwarg(jinja, "", item, scope.clone(), package)?);
            }
            Ok(Value::from(out))
        }
        other => Ok(Value::from_serialize(other)),
    }
}

/// [`eval_test_kwarg`] without Jinja: `None` when the value needs a Jinja render (an
/// expression, a `{{ ... }}` string other than the relation forms `fast_relation_kwarg`
/// knows). Needs only `ref`, `source` and `config` in the scope; gives the same value.
pub fn eval_test_kwarg_static(
    jinja: &Jinja,
    key: &str,
    value: &Json,
    scope: &Arc<Scope>,
) -> Option<std::result::Result<Value, Diagnostic>> {
    match value {
        Json::String(s) if key != "column_name" => {
            if let Some(v) = fast_relation_kwarg(jinja, s, scope) {
                return Some(v);
            }
            if s.contains("{{") || s.contains("{%") || s.contains('(') {
                return None;
            }
            Some(Ok(Value::from(s.clone())))
        }
        Json::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match eval_test_kwarg_static(jinja, "", item, scope)? {
                    Ok(v) => out.push(v),
                    Err(d) => return Some(Err(d)),
                }
            }
            Some(Ok(Value::from(out)))
        }
        other => Some(Ok(Value::from_serialize(other))),
    }
}

/// The names [`eval_test_kwarg_static`] reads: `ref`, `source` and `config` of a node.
pub fn kwarg_scope(
    resolver: Arc<dyn Resolver>,
    recorder: Option<Arc<Recorder>>,
    n: &Node,
) -> Arc<Scope> {
    let mut vars = context::FastMap::with_capacity_and_hasher(3, Default::default());
    vars.insert(
        "ref",
        Value::from_object(RefFn {
            resolver: resolver.clone(),
            recorder: recorder.clone(),
            package: n.package_name.clone(),
        }),
    );
    vars.insert(
        "source",
        Value::from_object(SourceFn {
            resolver,
            recorder: recorder.clone(),
        }),
    );
    vars.insert(
        "config",
        Value::from_object(ConfigObj {
            base: Arc::new(n.config.clone()),
            recorder: recorder.clone(),
        }),
    );
    Arc::new(Scope {
        vars,
        recorder,
        statements: Default::default(),
        introspected: Default::default(),
    })
}

/// `ref('a')`, `ref('a', 'b')`, `source('a', 'b')`, alone or as
/// `{{ get_where_subquery(...) }}` (spaces allowed between the parts, names without quotes in
/// them): (wrapped, is it `ref`, first name, second name).
pub(super) fn relation_kwarg_parts(s: &str) -> Option<(bool, bool, &str, Option<&str>)> {
    fn quoted(s: &str) -> Option<(&str, &str)> {
        let rest = s.strip_prefix('\'')?;
        let end = rest.find(['\'', '"'])?;
        (end > 0 && rest[end..].starts_with('\'')).then(|| (&rest[..end], &rest[end + 1..]))
    }
    let mut rest = s.trim_start();
    let wrapped = match rest.strip_prefix("{{") {
        Some(r) => {
            rest = r
                .trim_start()
                .strip_prefix("get_where_subquery(")?
                .trim_start();
            true
        }
        None => false,
    };
    let (is_ref, r) = match rest.strip_prefix("ref(") {
        Some(r) => (true, r),
        None => (false, rest.strip_prefix("source(")?),
    };
    let (a, r) = quoted(r.trim_start())?;
    let r = r.trim_start();
    let (b, r) = match r.strip_prefix(',') {
        Some(r) => {
            let (b, r) = quoted(r.trim_start())?;
            (Some(b), r.trim_start())
        }
        None => (None, r),
    };
    let mut r = r.strip_prefix(')')?;
    if wrapped {
        r = r
            .trim_start()
            .strip_prefix(')')?
            .trim_start()
            .strip_prefix("}}")?;
    }
    r.trim().is_empty().then_some((wrapped, is_ref, a, b))
}

/// The kwargs weir itself generates (`{{ get_where_subquery(ref('x')) }}`) and plain
/// `ref('x')` / `source('a', 'b')` arguments resolve without Jinja when the project does not
/// override `get_where_subquery`: same result, a fraction of the cost, for every generic test.
pub(super) fn fast_relation_kwarg(
    jinja: &Jinja,
    s: &str,
    scope: &Arc<Scope>,
) -> Option<std::result::Result<Value, Diagnostic>> {
    let (wrapped, is_ref, a, b) = relation_kwarg_parts(s)?;
    let reg = &jinja.shared.registry;
    if wrapped
        && reg.by_package.iter().any(|(p, m)| {
            p != context::INTERNAL_PACKAGE && m.keys().any(|k| k.ends_with("get_where_subquery"))
        })
    {
        return None;
    }
    let (a, b) = (a.to_string(), b.map(str::to_string));
    let rel = if is_ref {
        let f = scope.vars.get("ref")?.downcast_object_ref::<RefFn>()?;
        let call = match b {
            Some(name) => RefCall {
                package: Some(a),
                name,
                version: None,
            },
            None => RefCall {
                package: None,
                name: a,
                version: None,
            },
        };
        let rel = match f.resolver.resolve_ref(&f.package, &call) {
            Ok(r) => r,
            Err(d) => return Some(Err(d)),
        };
        if let Some(rec) = &f.recorder {
            rec.refs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(call);
        }
        rel
    } else {
        let f = scope
            .vars
            .get("source")?
            .downcast_object_ref::<SourceFn>()?;
        let table = b?;
        let rel = match f.resolver.resolve_source(&a, &table) {
            Ok(r) => r,
            Err(d) => return Some(Err(d)),
        };
        if let Some(rec) = &f.recorder {
            rec.sources
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((a, table));
        }
        rel
    };
    if wrapped {
        let cfg = scope
            .vars
            .get("config")?
            .downcast_object_ref::<ConfigObj>()?;
        if let Some(Json::String(w)) = cfg.base.get("where") {
            return Some(Ok(Value::from(format!(
                "(select * from {rel} where {w}) dbt_subquery"
            ))));
        }
    }
    Some(Ok(Value::from_object(rel)))
}

/// Evaluate one Jinja expression in a node's context.
pub fn jinja_eval(
    jinja: &Jinja,
    expr: &str,
    scope: Arc<Scope>,
    package: &str,
) -> std::result::Result<Value, Diagnostic> {
    let rewritten = crate::jinja::rewrite::expression(expr);
    let e = jinja
        .env
        .compile_expression(rewritten.as_deref().unwrap_or(expr))
        .map_err(|e| jinja.convert_error(&e, None))?;
    e.eval(jinja.ctx(scope, package))
        .map_err(|e| jinja.convert_error(&e, None))
}
