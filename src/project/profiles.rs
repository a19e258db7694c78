//! `profiles.yml`: where dbt looks for it, which target it picks, and weir's embedded default.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use super::memory::{MemoryLimit, DEFAULT_MEMORY_LIMIT};
use crate::diagnostics::{io_error, Code, Diagnostic, Location, Result};

/// The resolved connection target. For weir: where the warehouse lives and how to run.
#[derive(Debug, Clone)]
pub struct Target {
    pub profile_name: String,
    pub name: String,
    pub adapter_type: String,
    pub schema: String,
    pub database: String,
    pub threads: usize,
    /// Absolute path (or URL) of the warehouse root; tables live at `<warehouse>/<schema>/<name>`.
    pub warehouse: String,
    /// The memory every query of a command shares (`--memory-limit`, else `memory_limit`,
    /// else [`DEFAULT_MEMORY_LIMIT`]).
    pub memory_limit: MemoryLimit,
    /// `temp_directory` (absolute: relative paths are taken from the project directory); when
    /// unset, queries spill under the target path (`Project::temp_dir`).
    pub temp_directory: Option<PathBuf>,
    /// Every field of the output as written (after Jinja), exposed as `target.*`.
    pub fields: Map<String, Json>,
    /// Where the target came from, for messages: a profiles.yml path, or None for the default.
    pub profiles_path: Option<PathBuf>,
}

pub struct ProfileRequest<'a> {
    pub project_dir: &'a Path,
    pub profile_name: &'a str,
    pub profiles_dir: Option<&'a Path>,
    pub target: Option<&'a str>,
    pub threads: Option<usize>,
    pub memory_limit: Option<MemoryLimit>,
}

/// dbt's search order: `--profiles-dir`, else `DBT_PROFILES_DIR`, else the project dir, then
/// `~/.dbt`. An explicit directory is the only one searched.
fn find_profiles(req: &ProfileRequest) -> Option<PathBuf> {
    let explicit = req
        .profiles_dir
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("DBT_PROFILES_DIR").map(PathBuf::from));
    let dirs: Vec<PathBuf> = match explicit {
        Some(d) => vec![d],
        None => {
            let mut dirs = vec![req.project_dir.to_path_buf()];
            if let Some(home) = std::env::var_os("HOME") {
                dirs.push(PathBuf::from(home).join(".dbt"));
            }
            dirs
        }
    };
    dirs.into_iter()
        .map(|d| d.join("profiles.yml"))
        .find(|p| p.is_file())
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The embedded default: DataFusion in-process, schema `main`, `./warehouse` in the project.
pub fn default_target(req: &ProfileRequest) -> Target {
    let warehouse = req.project_dir.join("warehouse");
    let threads = req.threads.unwrap_or_else(default_threads);
    let mut fields = Map::new();
    fields.insert("type".into(), "datafusion".into());
    fields.insert("schema".into(), "main".into());
    fields.insert("database".into(), "warehouse".into());
    fields.insert("threads".into(), threads.into());
    fields.insert("warehouse".into(), warehouse.display().to_string().into());
    Target {
        profile_name: req.profile_name.to_string(),
        name: req.target.unwrap_or("dev").to_string(),
        adapter_type: "datafusion".into(),
        schema: "main".into(),
        database: "warehouse".into(),
        threads,
        warehouse: warehouse.display().to_string(),
        memory_limit: req.memory_limit.unwrap_or(DEFAULT_MEMORY_LIMIT),
        temp_directory: None,
        fields,
        profiles_path: None,
    }
}

/// Resolve the target as dbt does, falling back to the embedded default when no profiles.yml
/// exists anywhere.
pub fn resolve(req: &ProfileRequest, env_var: EnvVarFn) -> Result<Target> {
    let Some(path) = find_profiles(req) else {
        return Ok(default_target(req));
    };
    let text: Arc<str> = std::fs::read_to_string(&path)
        .map_err(|e| io_error("read", &path, e))?
        .into();
    let shown = path.display().to_string();
    let rendered = render_env_vars(&text, &shown, env_var)?;
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&rendered).map_err(|e| yaml_error(&shown, &text, &e))?;
    let doc: Json = serde_json::to_value(doc)
        .map_err(|e| Diagnostic::error(Code::E102, format!("{shown}: {e}")))?;
    let Some(profile) = doc.get(req.profile_name) else {
        let known: Vec<&str> = doc
            .as_object()
            .map(|m| {
                m.keys()
                    .map(String::as_str)
                    .filter(|k| *k != "config")
                    .collect()
            })
            .unwrap_or_default();
        let mut d = Diagnostic::error(Code::E110, format!("profile '{}' not found in {shown}", req.profile_name))
            .help(format!(
                "add a '{}' profile to {shown}, or remove that file to use weir's embedded default (DataFusion, ./warehouse)",
                req.profile_name
            ));
        if !known.is_empty() {
            d = d.note(format!("profiles there: {}", known.join(", ")));
        }
        return Err(d.into());
    };
    let target_name = req
        .target
        .map(str::to_string)
        .or_else(|| {
            profile
                .get("target")
                .and_then(Json::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "default".into());
    let outputs = profile.get("outputs").and_then(Json::as_object);
    let Some(output) = outputs
        .and_then(|o| o.get(&target_name))
        .and_then(Json::as_object)
    else {
        let names: Vec<&str> = outputs
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        return Err(Diagnostic::error(
            Code::E111,
            format!(
                "target '{target_name}' is not an output of profile '{}' in {shown}",
                req.profile_name
            ),
        )
        .note(format!("outputs: {}", names.join(", ")))
        .help("pick one with --target, or add the output to profiles.yml")
        .into());
    };
    let adapter_type = output
        .get("type")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_string();
    if adapter_type != "datafusion" {
        let datafusion_outputs: Vec<&str> = outputs
            .map(|o| {
                o.iter()
                    .filter(|(_, v)| v.get("type").and_then(Json::as_str) == Some("datafusion"))
                    .map(|(k, _)| k.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let help = if let Some(first) = datafusion_outputs.first() {
            format!("this profile has a datafusion output: run with --target {first}")
        } else {
            format!(
                "add an output with `type: datafusion` to profile '{}' (for example `weir: {{type: datafusion, schema: main, warehouse: ./warehouse}}`) and select it with --target, or set it as the profile's `target`",
                req.profile_name
            )
        };
        return Err(Diagnostic::error(
            Code::E112,
            format!("target '{target_name}' of profile '{}' has type '{adapter_type}'; weir runs only type 'datafusion'", req.profile_name),
        )
        .note(format!("in {shown}"))
        .help(help)
        .into());
    }
    validate_output(output, &target_name, &shown, &text)?;
    let schema = output
        .get("schema")
        .and_then(Json::as_str)
        .unwrap_or("main")
        .to_string();
    let database = output
        .get("database")
        .and_then(Json::as_str)
        .unwrap_or("warehouse")
        .to_string();
    let threads = req
        .threads
        .or_else(|| output.get("threads").and_then(threads_value))
        .unwrap_or_else(default_threads);
    let warehouse_raw = output
        .get("warehouse")
        .and_then(Json::as_str)
        .unwrap_or("./warehouse");
    let warehouse = if warehouse_raw.contains("://") || Path::new(warehouse_raw).is_absolute() {
        warehouse_raw.to_string()
    } else {
        req.project_dir.join(warehouse_raw).display().to_string()
    };
    let profile_limit =
        match output.get("memory_limit") {
            Some(v) => Some(memory_limit_value(v).map_err(|e| {
                bad_memory_field((&target_name, &shown, &text), "memory_limit", v, &e)
            })?),
            None => None,
        };
    let memory_limit = req
        .memory_limit
        .or(profile_limit)
        .unwrap_or(DEFAULT_MEMORY_LIMIT);
    let temp_directory = output
        .get("temp_directory")
        .and_then(Json::as_str)
        .map(|d| req.project_dir.join(d));
    // `target.*` in templates: a secret read here (a token, a password) renders as `*****`,
    // so it cannot reach compiled SQL, the warehouse or the artifacts.
    let mut fields: Map<String, Json> = output
        .iter()
        .map(|(k, v)| (k.clone(), scrub_json(v)))
        .collect();
    fields.insert("schema".into(), scrub_json(&schema.clone().into()));
    fields.insert("database".into(), scrub_json(&database.clone().into()));
    fields.insert("threads".into(), threads.into());
    fields.insert("warehouse".into(), scrub_json(&warehouse.clone().into()));
    Ok(Target {
        profile_name: req.profile_name.to_string(),
        name: target_name,
        adapter_type,
        schema,
        database,
        threads,
        warehouse,
        memory_limit,
        temp_directory,
        fields,
        profiles_path: Some(path),
    })
}

/// profiles.yml may call `env_var()`; render it with a minimal Jinja environment.
pub type EnvVarFn = fn(&str, Option<&str>) -> Result<String>;

fn render_env_vars(text: &str, shown: &str, env_var: EnvVarFn) -> Result<String> {
    render_config_text(text, shown, env_var, None)
}

/// `text` rendered with `env_var()` and, when `vars` is given, `var()` over them (the
/// `--vars` of the command, as dbt's package renderer has it).
pub(crate) fn render_config_text(
    text: &str,
    shown: &str,
    env_var: EnvVarFn,
    vars: Option<&Map<String, Json>>,
) -> Result<String> {
    if !text.contains("{{") && !text.contains("{%") {
        return Ok(text.to_string());
    }
    let mut env = minijinja::Environment::new();
    let failure = std::sync::Arc::new(std::sync::Mutex::new(None));
    if let Some(vars) = vars {
        let vars = vars.clone();
        let failure_ref = failure.clone();
        env.add_function(
            "var",
            move |name: String,
                  default: Option<minijinja::Value>|
                  -> Result<minijinja::Value, minijinja::Error> {
                match (vars.get(&name), default) {
                    (Some(v), _) => Ok(minijinja::Value::from_serialize(v)),
                    (None, Some(d)) => Ok(d),
                    (None, None) => {
                        let msg = format!("required var '{name}' is not set");
                        *failure_ref
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(
                            Diagnostic::error(Code::E207, msg.clone())
                                .help(format!("pass it: --vars '{{{name}: ...}}', or give a default: var('{name}', 'value')"))
                                .into(),
                        );
                        Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg))
                    }
                }
            },
        );
    }
    let failure_ref = failure.clone();
    env.add_function(
        "env_var",
        move |name: String, default: Option<String>| -> Result<String, minijinja::Error> {
            env_var(&name, default.as_deref()).map_err(|e| {
                let msg = e.diagnostic().message.clone();
                *failure_ref
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
                minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg)
            })
        },
    );
    env.render_str(text, ()).map_err(|e| {
        if let Some(err) = failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            return err;
        }
        Diagnostic::error(Code::E201, format!("{shown}: {e}")).into()
    })
}

fn scrub_json(v: &Json) -> Json {
    match v {
        Json::String(s) => Json::String(crate::diagnostics::scrub(s).into_owned()),
        Json::Array(a) => Json::Array(a.iter().map(scrub_json).collect()),
        Json::Object(m) => {
            Json::Object(m.iter().map(|(k, v)| (k.clone(), scrub_json(v))).collect())
        }
        other => other.clone(),
    }
}

/// `threads` as dbt takes it: a positive integer (a string of digits is what an `env_var()`
/// renders to).
fn threads_value(v: &Json) -> Option<usize> {
    let n = match v {
        Json::Number(n) => n.as_u64()?,
        Json::String(s) => s.trim().parse::<u64>().ok()?,
        _ => return None,
    };
    usize::try_from(n).ok().filter(|n| *n > 0)
}

/// `memory_limit` as written: a size string, a percentage string, or a number of bytes.
fn memory_limit_value(v: &Json) -> std::result::Result<MemoryLimit, String> {
    match v {
        Json::String(s) => MemoryLimit::parse(s),
        Json::Number(n) => match n.as_u64() {
            Some(b) if b > 0 => Ok(MemoryLimit::Bytes(b)),
            _ => Err(format!("`{n}` is not a positive number of bytes")),
        },
        _ => Err("it must be a size such as 4GB or 512MB, or a percentage such as 60%".into()),
    }
}

/// A field of the output that cannot be used (`code`: E113 for dbt's own fields, E114 for the
/// memory and spill settings), at its line in profiles.yml.
fn bad_field(
    code: Code,
    (target_name, shown, text): (&str, &str, &Arc<str>),
    key: &str,
    v: &Json,
    why: &str,
    help: String,
) -> crate::diagnostics::Error {
    let d = Diagnostic::error(
        code,
        format!("`{key}: {v}` in output '{target_name}' is not valid: {why}"),
    )
    .help(help);
    match key_location(shown, text, key) {
        Some(l) => d.at(l),
        None => d.note(format!("in {shown}")),
    }
    .into()
}

/// E114, with the examples that fit every memory and spill setting.
fn bad_memory_field(
    output: (&str, &str, &Arc<str>),
    key: &str,
    v: &Json,
    why: &str,
) -> crate::diagnostics::Error {
    let help = format!(
        "in {}, write for example `memory_limit: 4GB`, `memory_limit: 60%` (of the machine's memory) or `temp_directory: target/tmp`",
        output.1
    );
    bad_field(Code::E114, output, key, v, why, help)
}

/// The fields weir reads from an output have the shape dbt's credentials contract gives them;
/// anything else is refused with the line it is on, rather than replaced by a default.
fn validate_output(
    output: &Map<String, Json>,
    target_name: &str,
    shown: &str,
    text: &Arc<str>,
) -> Result<()> {
    let at = (target_name, shown, text);
    let bad = |key: &str, v: &Json, expected: &str| {
        let why = format!("{key} must be {expected}");
        bad_field(
            Code::E113,
            at,
            key,
            v,
            &why,
            format!("set `{key}` to {expected} in {shown}"),
        )
    };
    if let Some(v) = output.get("temp_directory") {
        if !v.is_string() {
            return Err(bad_memory_field(
                at,
                "temp_directory",
                v,
                "temp_directory must be a string (a path, relative to the project directory)",
            ));
        }
    }
    if let Some(v) = output.get("threads") {
        if threads_value(v).is_none() {
            return Err(bad("threads", v, "a positive integer"));
        }
    }
    for key in ["schema", "database", "warehouse", "type"] {
        if let Some(v) = output.get(key) {
            if !v.is_string() {
                return Err(bad(key, v, "a string"));
            }
        }
    }
    Ok(())
}

/// The first line of `text` that sets `key:` (profiles are small; the key names are distinct
/// enough that the first hit is the one meant, and a miss only loses the location).
pub(super) fn key_location(path: &str, text: &Arc<str>, key: &str) -> Option<Location> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key) {
            if rest.trim_start().starts_with(':') {
                let start = offset + (line.len() - trimmed.len());
                return Some(Location::new(path, text.clone(), start, start + key.len()));
            }
        }
        offset += line.len();
    }
    None
}

pub fn yaml_error(
    path: &str,
    text: &Arc<str>,
    err: &serde_yaml::Error,
) -> crate::diagnostics::Error {
    let msg = err.to_string();
    // serde_yaml appends " at line X column Y"; the location is shown separately.
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    let mut d = Diagnostic::error(Code::E102, format!("invalid YAML: {msg}"));
    if let Some(loc) = err.location() {
        d = d.at(Location::at_line_col(
            path,
            text.clone(),
            loc.line(),
            loc.column(),
            1,
        ));
    } else {
        d = d.note(format!("in {path}"));
    }
    d.into()
}
