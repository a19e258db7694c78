//! Names: each node's database, schema and alias through `generate_*_name`, and the lookup of
//! nodes by name that tests and refs use.

#[allow(unused_imports)]
use super::*;
/// Resolves a node's database, schema and alias, through the project's `generate_*_name`
/// macros when it overrides them and in Rust (same rules) when it does not.
pub(super) struct Namer {
    pub(super) custom_schema: bool,
    pub(super) custom_alias: bool,
    pub(super) custom_database: bool,
    pub(super) target_schema: String,
    pub(super) target_database: String,
}

impl Namer {
    pub(super) fn new(jinja: &Jinja, project: &Project) -> Self {
        let reg = &jinja.shared.registry;
        let overridden = |name: &str| {
            project.packages.iter().any(|p| {
                reg.get(&p.name, name).is_some()
                    || reg.get(&p.name, &format!("default__{name}")).is_some()
            })
        };
        Namer {
            custom_schema: overridden("generate_schema_name"),
            custom_alias: overridden("generate_alias_name"),
            custom_database: overridden("generate_database_name"),
            target_schema: project.target.schema.clone(),
            target_database: project.target.database.clone(),
        }
    }

    pub(super) fn call(
        &self,
        jinja: &Jinja,
        n: &Node,
        macro_name: &str,
        custom: Option<&str>,
    ) -> Result<String> {
        let def = jinja
            .shared
            .registry
            .resolve(&jinja.shared.root_package, macro_name)
            .cloned()
            .ok_or_else(|| Diagnostic::internal(format!("{macro_name} is missing")))?;
        let scope = Arc::new(Scope {
            vars: context::FastMap::from_iter([
                (
                    "config",
                    Value::from_object(ConfigObj {
                        base: Arc::new(n.config.clone()),
                        recorder: None,
                    }),
                ),
                ("model", model_value(n)),
            ]),
            recorder: None,
            statements: Default::default(),
            introspected: Default::default(),
        });
        let arg = custom.map(Value::from).unwrap_or(Value::from(()));
        let v = jinja
            .call_macro(
                &def,
                &[arg, model_value(n)],
                scope,
                &jinja.shared.root_package,
            )
            .map_err(|d| {
                d.note(format!(
                    "while naming {} '{}'",
                    n.resource_type.as_str(),
                    n.name
                ))
            })?;
        Ok(v.to_string().trim().to_string())
    }

    pub(super) fn name(&self, jinja: &Jinja, n: &mut Node) -> Result<()> {
        let custom_schema = cfg::get_str(&n.config, "schema").map(str::to_string);
        let custom_db = cfg::get_str(&n.config, "database").map(str::to_string);
        let custom_alias = cfg::get_str(&n.config, "alias").map(str::to_string);
        if n.resource_type == ResourceType::Snapshot {
            if let Some(ts) = cfg::get_str(&n.config, "target_schema") {
                n.schema = ts.to_string();
                n.database = cfg::get_str(&n.config, "target_database")
                    .unwrap_or(&self.target_database)
                    .to_string();
                n.alias = custom_alias.unwrap_or_else(|| n.name.clone());
                return Ok(());
            }
        }
        n.schema = if self.custom_schema {
            self.call(jinja, n, "generate_schema_name", custom_schema.as_deref())?
        } else {
            match &custom_schema {
                Some(s) => format!("{}_{}", self.target_schema, s.trim()),
                None => self.target_schema.clone(),
            }
        };
        n.database = if self.custom_database {
            self.call(jinja, n, "generate_database_name", custom_db.as_deref())?
        } else {
            custom_db
                .map(|d| d.trim().to_string())
                .unwrap_or_else(|| self.target_database.clone())
        };
        if n.resource_type == ResourceType::Test {
            n.alias = custom_alias.unwrap_or_else(|| n.alias.clone());
            if n.alias.is_empty() {
                n.alias = n.name.clone();
            }
            return Ok(());
        }
        n.alias = if self.custom_alias {
            self.call(jinja, n, "generate_alias_name", custom_alias.as_deref())?
        } else {
            match custom_alias {
                Some(a) if !a.trim().is_empty() => a.trim().to_string(),
                _ => match &n.version {
                    Some(v) => format!("{}_v{}", n.name, v.replace('.', "_")),
                    None => n.name.clone(),
                },
            }
        };
        Ok(())
    }
}

/// Name → unique_id lookups over the enabled nodes.
pub struct NameLookup {
    pub(super) by_name: HashMap<String, Vec<(String, String)>>,
    pub(super) sources: HashMap<(String, String), String>,
}

impl NameLookup {
    pub fn new(m: &Manifest) -> Self {
        Self::of(m.nodes.values().map(|n| &**n), m.sources.values())
    }

    /// A lookup over these nodes and sources.
    pub fn of<'a>(
        nodes: impl Iterator<Item = &'a Node>,
        sources: impl Iterator<Item = &'a SourceNode>,
    ) -> Self {
        let mut by_name: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for n in nodes {
            if matches!(
                n.resource_type,
                ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
            ) {
                by_name
                    .entry(n.name.clone())
                    .or_default()
                    .push((n.package_name.clone(), n.unique_id.clone()));
            }
        }
        let sources = sources
            .map(|s| {
                (
                    (s.source_name.clone(), s.name.clone()),
                    format!("{}.{}.{}", s.package_name, s.source_name, s.name),
                )
            })
            .collect();
        NameLookup { by_name, sources }
    }

    /// dbt prefers the calling package's node, then the root project's, then any.
    pub fn resolve(&self, from_package: &str, r: &RefCall) -> Option<String> {
        self.resolve_id(from_package, r).map(str::to_string)
    }

    /// [`NameLookup::resolve`], borrowed.
    pub fn resolve_id(&self, from_package: &str, r: &RefCall) -> Option<&str> {
        let candidates = self.by_name.get(&r.name)?;
        if let Some(p) = &r.package {
            return candidates
                .iter()
                .find(|(pkg, _)| pkg == p)
                .map(|(_, id)| id.as_str());
        }
        candidates
            .iter()
            .find(|(pkg, _)| pkg == from_package)
            .or_else(|| candidates.first())
            .map(|(_, id)| id.as_str())
    }

    pub fn source_id(&self, source: &str, table: &str) -> Option<String> {
        self.sources
            .get(&(source.to_string(), table.to_string()))
            .cloned()
    }

    pub fn model_names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}
