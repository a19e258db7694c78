//! The parse-phase context: `ref`/`source` that check the target exists and record the call,
//! the config predictions made before rendering, and the scope a parse render sees.

#[allow(unused_imports)]
use super::*;
use crate::diagnostics::Code;
/// Checks that a ref'd node or a source exists (failing inside the call, so the error has the
/// call's location) and returns a placeholder relation.
pub(super) struct ParseResolver {
    pub(super) names: HashMap<String, Vec<String>>,
    pub(super) sources: HashSet<(String, String)>,
    pub(super) source_tables: Vec<String>,
    pub(super) database: String,
    pub(super) schema: String,
    pub(super) quoting: Quoting,
    pub(super) predicted: Predicted,
}

/// Names as the compile phase will most likely resolve them, so that a parse render can be
/// reused as the compiled SQL (see [`ParseRender`]). A wrong guess costs a second render,
/// never a wrong result: the compile phase compares every value handed out.
pub(super) struct Predicted {
    pub(super) lookup: NameLookup,
    pub(super) nodes: HashMap<String, PredictedNode>,
    pub(super) sources: HashMap<(String, String), Relation>,
}

pub(super) struct PredictedNode {
    pub(super) relation: Relation,
    pub(super) this: Relation,
    pub(super) schema: String,
    pub(super) database: String,
}

impl Predicted {
    pub(super) fn relation(&self, from: &str, call: &RefCall) -> Option<Relation> {
        let id = self.lookup.resolve_id(from, call)?;
        self.nodes.get(id).map(|p| p.relation.clone())
    }
}

/// Each node's config as its `{{ config(...) }}` calls will set it, when they are plain
/// expression blocks whose arguments name nothing but `config`; `None` when that cannot be
/// told without rendering.
pub(super) fn predict_config(
    jinja: &Jinja,
    n: &Node,
    seen: &std::sync::Mutex<HashMap<String, Option<cfg::Config>>>,
) -> Option<cfg::Config> {
    static CALL: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    static BLOCK: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let text = &n.raw_code;
    if n.resource_type == ResourceType::Seed || !text.contains("config") {
        return Some(cfg::Config::default());
    }
    let call = CALL.get_or_init(|| regex::Regex::new(r"\bconfig\s*\(").expect("a valid regex"));
    let block = BLOCK.get_or_init(|| {
        regex::Regex::new(r"\{\{-?\s*(config\s*\((?s:.*?)\))\s*-?\}\}").expect("a valid regex")
    });
    let mut blocks = 0;
    let mut recorded = cfg::Config::default();
    for cap in block.captures_iter(text) {
        // Most projects repeat a few config() calls; each distinct one is evaluated once.
        let known = seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&cap[1])
            .cloned();
        let set = match known {
            Some(set) => set,
            None => {
                let set = (|| {
                    let expr = jinja.env.compile_expression(&cap[1]).ok()?;
                    let names = expr.undeclared_variables(false);
                    if names.len() != 1 || !names.contains("config") {
                        return None;
                    }
                    let rec = Arc::new(Recorder::default());
                    let scope = Arc::new(Scope {
                        vars: context::FastMap::from_iter([(
                            "config",
                            Value::from_object(ConfigObj {
                                base: Arc::new(cfg::Config::default()),
                                recorder: Some(rec.clone()),
                            }),
                        )]),
                        recorder: None,
                        statements: Default::default(),
                        introspected: Default::default(),
                    });
                    expr.eval(jinja.ctx(scope, &n.package_name)).ok()?;
                    // (A binding: the lock guard must not outlive `rec`.)
                    let set = std::mem::take(
                        &mut *rec
                            .config
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner),
                    );
                    Some(set)
                })();
                seen.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(cap[1].to_string(), set.clone());
                set
            }
        };
        cfg::merge(&mut recorded, &set?);
        blocks += 1;
    }
    if blocks != call.find_iter(text).count() {
        return None;
    }
    Some(recorded)
}

pub(super) fn predict(
    jinja: &Jinja,
    project: &Project,
    pending: &mut [Node],
    manifest: &Manifest,
    quoting: Quoting,
) -> Predicted {
    let namer = Namer::new(jinja, project);
    let seen = std::sync::Mutex::new(HashMap::new());
    // Each node is named in place with its guessed config, and given back its own config and
    // names afterwards (cheaper than naming a copy of every node).
    let guesses: Vec<Option<(bool, PredictedNode)>> = pending
        .par_iter_mut()
        .map(|n| {
            let recorded = predict_config(jinja, n, &seen)?;
            let config = (!recorded.is_empty()).then(|| {
                let own = n.config.clone();
                cfg::merge(&mut n.config, &recorded);
                own
            });
            let names = (
                std::mem::take(&mut n.database),
                std::mem::take(&mut n.schema),
                n.alias.clone(),
            );
            let guess = namer.name(jinja, n).ok().map(|()| {
                (
                    cfg::enabled(&n.config),
                    PredictedNode {
                        relation: n.relation(quoting),
                        this: n.this_relation(quoting),
                        schema: n.schema.clone(),
                        database: n.database.clone(),
                    },
                )
            });
            if let Some(own) = config {
                n.config = own;
            }
            (n.database, n.schema, n.alias) = names;
            guess
        })
        .collect();
    let lookup = NameLookup::of(
        pending
            .iter()
            .zip(&guesses)
            .filter(|(_, g)| g.as_ref().is_some_and(|(enabled, _)| *enabled))
            .map(|(n, _)| n),
        manifest.sources.values(),
    );
    Predicted {
        lookup,
        nodes: pending
            .iter()
            .zip(guesses)
            .filter_map(|(n, g)| g.map(|(_, p)| (n.unique_id.clone(), p)))
            .collect(),
        sources: manifest
            .sources
            .values()
            .map(|s| {
                (
                    (s.source_name.clone(), s.name.clone()),
                    Relation::new(&s.database, &s.schema, &s.identifier, quoting),
                )
            })
            .collect(),
    }
}

impl ParseResolver {
    pub(super) fn new(
        nodes: &[Node],
        manifest: &Manifest,
        project: &Project,
        quoting: Quoting,
        predicted: Predicted,
    ) -> Self {
        let mut names: HashMap<String, Vec<String>> = HashMap::new();
        for n in nodes {
            if matches!(
                n.resource_type,
                ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
            ) {
                names
                    .entry(n.name.clone())
                    .or_default()
                    .push(n.package_name.clone());
            }
        }
        let sources = manifest
            .sources
            .values()
            .map(|s| (s.source_name.clone(), s.name.clone()))
            .collect::<HashSet<_>>();
        let source_tables = manifest
            .sources
            .values()
            .map(|s| format!("{}.{}", s.source_name, s.name))
            .collect();
        ParseResolver {
            names,
            sources,
            source_tables,
            database: project.target.database.clone(),
            schema: project.target.schema.clone(),
            quoting,
            predicted,
        }
    }
}

impl Resolver for ParseResolver {
    fn resolve_ref(&self, from: &str, call: &RefCall) -> std::result::Result<Relation, Diagnostic> {
        let found = match (&call.package, self.names.get(&call.name)) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(p), Some(pkgs)) => pkgs.contains(p),
        };
        if !found {
            let mut d = Diagnostic::error(
                Code::E301,
                format!("ref('{}') points to a model that does not exist", call.name),
            );
            d = match closest(&call.name, self.names.keys().map(String::as_str)) {
                Some(c) => d.help(format!("did you mean '{c}'?")),
                None => d.help("check the name: ref() takes the file name of a model, seed or snapshot, without extension"),
            };
            return Err(d);
        }
        if let Some(rel) = self.predicted.relation(from, call) {
            return Ok(rel);
        }
        Ok(Relation::new(
            &self.database,
            &self.schema,
            &call.name,
            self.quoting,
        ))
    }

    fn resolve_source(
        &self,
        source: &str,
        table: &str,
    ) -> std::result::Result<Relation, Diagnostic> {
        if !self
            .sources
            .contains(&(source.to_string(), table.to_string()))
        {
            let wanted = format!("{source}.{table}");
            let mut d = Diagnostic::error(
                Code::E303,
                format!("source('{source}', '{table}') is not defined in any YAML file"),
            );
            let tables: Vec<&str> = self
                .source_tables
                .iter()
                .filter_map(|t| t.strip_prefix(&format!("{source}.")))
                .collect();
            d = match closest(&wanted, self.source_tables.iter().map(String::as_str)) {
                Some(c) => d.help(format!("did you mean '{c}'?")),
                None if !tables.is_empty() => d.help(format!("source '{source}' has no table '{table}'; its tables: {}", tables.join(", "))),
                None => d.help(format!("declare it under `sources:` in a .yml file: a source named '{source}' with a table '{table}'")),
            };
            return Err(d);
        }
        if let Some(rel) = self
            .predicted
            .sources
            .get(&(source.to_string(), table.to_string()))
        {
            return Ok(rel.clone());
        }
        Ok(Relation::new(&self.database, source, table, self.quoting))
    }
}

pub(super) fn model_value(n: &Node) -> Value {
    crate::parse::node_json::node_value(n)
}

pub(super) fn parse_scope(
    jinja: &Jinja,
    n: &Arc<Node>,
    resolver: &Arc<ParseResolver>,
    rec: &Arc<Recorder>,
) -> Arc<Scope> {
    let predicted = resolver.predicted.nodes.get(&n.unique_id);
    let resolver: Arc<dyn Resolver> = resolver.clone();
    let mut vars = context::FastMap::default();
    vars.insert(
        "ref",
        Value::from_object(RefFn {
            resolver: resolver.clone(),
            recorder: Some(rec.clone()),
            package: n.package_name.clone(),
        }),
    );
    vars.insert(
        "source",
        Value::from_object(SourceFn {
            resolver,
            recorder: Some(rec.clone()),
        }),
    );
    vars.insert(
        "config",
        Value::from_object(ConfigObj {
            base: Arc::new(n.config.clone()),
            recorder: Some(rec.clone()),
        }),
    );
    vars.insert(
        "var",
        Value::from_object(VarFn {
            shared: jinja.shared.clone(),
        }),
    );
    vars.insert("is_incremental", context::noted_fn(rec, true));
    vars.insert("should_full_refresh", context::noted_fn(rec, false));
    vars.insert("execute", Value::from(false));
    vars.insert(
        "model",
        crate::parse::node_json::shared_node_value(n.clone()),
    );
    vars.insert("graph", empty_graph());
    vars.insert("doc", doc_fn(jinja, &n.package_name));
    if let Some(p) = predicted {
        vars.insert("this", Value::from_object(p.this.clone()));
        vars.insert("schema", Value::from(p.schema.clone()));
        vars.insert("database", Value::from(p.database.clone()));
        return Arc::new(Scope {
            vars,
            recorder: Some(rec.clone()),
            statements: Default::default(),
            introspected: Default::default(),
        });
    }
    let target_db = jinja
        .shared
        .globals
        .get("target")
        .and_then(|t| t.get_attr("database").ok())
        .map(|v| v.to_string())
        .unwrap_or_default();
    let target_schema = jinja
        .shared
        .globals
        .get("target")
        .and_then(|t| t.get_attr("schema").ok())
        .map(|v| v.to_string())
        .unwrap_or_default();
    vars.insert(
        "this",
        Value::from_object(Relation::new(
            &target_db,
            &target_schema,
            &n.name,
            jinja.shared.quoting,
        )),
    );
    vars.insert("schema", Value::from(target_schema));
    vars.insert("database", Value::from(target_db));
    Arc::new(Scope {
        vars,
        recorder: Some(rec.clone()),
        statements: Default::default(),
        introspected: Default::default(),
    })
}

pub fn empty_graph() -> Value {
    let empty = || Value::from(BTreeMap::<String, Value>::new());
    Value::from_iter([
        ("nodes", empty()),
        ("sources", empty()),
        ("exposures", empty()),
        ("macros", empty()),
        ("metrics", empty()),
    ])
}

pub fn doc_fn(jinja: &Jinja, package: &str) -> Value {
    let shared = jinja.shared.clone();
    let package = package.to_string();
    Value::from_function(
        move |args: &[Value]| -> std::result::Result<Value, minijinja::Error> {
            let names: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            let (pkg, name) = match names.as_slice() {
                [n] => (package.clone(), n.clone()),
                [p, n] => (p.clone(), n.clone()),
                _ => {
                    return Err(minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        "doc() takes one or two names",
                    ))
                }
            };
            let found = shared.docs.get(&(pkg.clone(), name.clone())).or_else(|| {
                shared
                    .docs
                    .iter()
                    .find(|((_, n), _)| *n == name)
                    .map(|(_, v)| v)
            });
            match found {
                Some(text) => Ok(Value::from(text.clone())),
                None => Err(context::diag_err(
                    Diagnostic::error(
                        Code::E304,
                        format!("doc('{name}') refers to a docs block that does not exist"),
                    )
                    .help(format!(
                        "add {{% docs {name} %}}...{{% enddocs %}} to a .md file in the project"
                    )),
                )),
            }
        },
    )
}
