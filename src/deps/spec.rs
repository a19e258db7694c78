//! `packages.yml`, `dependencies.yml` and `package-lock.yml` read into typed entries, with
//! `env_var()` (secrets allowed, as dbt allows them here) and `var()` rendered in every string, each
//! entry's place in its file for messages, and dbt's `sha1_hash` of the specification.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value as Json};
use serde_yaml::Value as Yaml;

use super::versions::Requirement;
use crate::diagnostics::{closest, io_error, Code, Diagnostic, Location, Result};
use crate::project::profiles::{render_config_text, EnvVarFn};

/// Where a package comes from, rendered.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Hub {
        package: String,
        versions: Vec<Requirement>,
        install_prerelease: bool,
    },
    Git {
        url: String,
        /// As written, before `env_var()` (what the lock file records, as dbt does).
        url_unrendered: String,
        revision: Option<String>,
        warn_unpinned: bool,
        subdirectory: Option<String>,
    },
    Local {
        path: String,
    },
    Tarball {
        url: String,
        url_unrendered: String,
        name: String,
    },
}

/// One entry of a `packages:` list.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) kind: Kind,
    /// The entry's start in its file, for messages.
    pub(crate) at: Option<Location>,
    /// The entry as dbt serializes it for `sha1_hash`: rendered keys, plus `unrendered`.
    hash_json: Json,
}

/// The `packages:` of one file.
#[derive(Debug, Default)]
pub(crate) struct SpecFile {
    /// The file, as messages name it (`packages.yml`).
    pub(crate) shown: String,
    pub(crate) entries: Vec<Entry>,
    pub(crate) warnings: Vec<Diagnostic>,
    /// `sha1_hash:` (lock files).
    pub(crate) sha1_hash: Option<String>,
    /// The `packages:` key, for messages about the whole list.
    packages_at: Option<Location>,
}

/// How package files are rendered, as dbt's package renderer does: `env_var()` (secrets
/// allowed) and `var()` over the command's `--vars`.
pub(crate) struct Render {
    pub(crate) env_var: EnvVarFn,
    pub(crate) vars: Map<String, Json>,
}

impl Render {
    fn text(&self, text: &str, shown: &str) -> Result<String> {
        render_config_text(text, shown, self.env_var, Some(&self.vars))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// `packages.yml`: only `packages:` is allowed.
    Packages,
    /// `dependencies.yml`: `packages:`, and dbt Mesh's `projects:` (skipped).
    Dependencies,
    /// `package-lock.yml`: `packages:` and `sha1_hash:`.
    Lock,
}

fn read(path: &Path) -> Result<Option<Arc<str>>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(Arc::from(t))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path, e)),
    }
}

/// The packages a project (or an installed package) asks for: `packages.yml`, or the
/// `packages:` of `dependencies.yml` (both is an error, as in dbt). `shown_prefix` names `dir`
/// in messages.
pub(crate) fn read_dir_spec(dir: &Path, shown_prefix: &str, r: &Render) -> Result<SpecFile> {
    let packages = read(&dir.join("packages.yml"))?;
    let dependencies = read(&dir.join("dependencies.yml"))?;
    let packages = match packages {
        Some(text) => Some(parse(
            text,
            &format!("{shown_prefix}packages.yml"),
            Role::Packages,
            r,
        )?),
        None => None,
    };
    let dependencies = match dependencies {
        Some(text) => Some(parse(
            text,
            &format!("{shown_prefix}dependencies.yml"),
            Role::Dependencies,
            r,
        )?),
        None => None,
    };
    match (packages, dependencies) {
        (Some(p), Some(d)) if !p.entries.is_empty() && !d.entries.is_empty() => {
            Err(Diagnostic::error(
                Code::E701,
                format!("{} and {} both list packages", p.shown, d.shown),
            )
            .at_opt(d.packages_at)
            .help(format!(
                "keep the `packages:` list in one of the two files ({} or {})",
                p.shown, d.shown
            ))
            .into())
        }
        (Some(p), Some(d)) => Ok(if d.entries.is_empty() {
            SpecFile {
                warnings: [p.warnings, d.warnings].concat(),
                ..p
            }
        } else {
            SpecFile {
                warnings: [p.warnings, d.warnings].concat(),
                ..d
            }
        }),
        (Some(f), None) | (None, Some(f)) => Ok(f),
        (None, None) => Ok(SpecFile {
            shown: format!("{shown_prefix}packages.yml"),
            ..SpecFile::default()
        }),
    }
}

/// `package-lock.yml` in `dir`, if there is one.
pub(crate) fn read_lock(dir: &Path, r: &Render) -> Result<Option<SpecFile>> {
    match read(&dir.join(super::LOCK_FILE))? {
        Some(text) => Ok(Some(parse(text, super::LOCK_FILE, Role::Lock, r)?)),
        None => Ok(None),
    }
}

/// Entries given as values (a hub package's `packages` in the hub's JSON), named `shown`.
pub(crate) fn parse_items(items: &[Yaml], shown: &str, r: &Render) -> Result<Vec<Entry>> {
    let spot = Spot {
        shown,
        text: None,
        span: None,
    };
    items
        .iter()
        .map(|item| parse_entry(item.clone(), &spot, r))
        .collect()
}

fn malformed(
    shown: &str,
    at: Option<Location>,
    message: String,
    help: impl Into<String>,
) -> crate::diagnostics::Error {
    let d = Diagnostic::error(Code::E701, message).help(help);
    match at {
        Some(at) => d.at(at),
        None => d.note(format!("in {shown}")),
    }
    .into()
}

/// Read one file's text.
pub(crate) fn parse(text: Arc<str>, shown: &str, role: Role, r: &Render) -> Result<SpecFile> {
    let doc: Yaml = serde_yaml::from_str(&text)
        .map_err(|e| crate::project::profiles::yaml_error(shown, &text, &e))?;
    let mut out = SpecFile {
        shown: shown.to_string(),
        ..SpecFile::default()
    };
    let top = match doc {
        Yaml::Null => return Ok(out),
        Yaml::Mapping(m) => m,
        _ => {
            return Err(malformed(
                shown,
                Some(Location::new(shown, text.clone(), 0, 0)),
                format!("{shown} is not a mapping"),
                "write `packages:` followed by a list of packages",
            ))
        }
    };
    let spans = item_spans(&text);
    let mut list = None;
    for (k, v) in top {
        let key = k.as_str().unwrap_or_default();
        match (key, role) {
            ("packages", _) => list = Some(v),
            ("sha1_hash", Role::Lock) => out.sha1_hash = v.as_str().map(str::to_string),
            // dbt drops a `sha1_hash:` found in packages.yml.
            ("sha1_hash", _) => {}
            ("projects", Role::Dependencies) => out.warnings.push(
                Diagnostic::warning(
                    Code::W702,
                    format!(
                        "{shown}: `projects:` (dbt Mesh cross-project dependencies) is skipped"
                    ),
                )
                .help("weir installs `packages:` only; refer to other projects' models as sources"),
            ),
            (_, Role::Dependencies) => {}
            _ => {
                return Err(malformed(
                    shown,
                    top_key_location(shown, &text, key),
                    format!("unexpected key `{key}` in {shown}"),
                    "the file holds one key, `packages:`, with a list of packages",
                ))
            }
        }
    }
    out.packages_at = top_key_location(shown, &text, "packages");
    let items = match list {
        None | Some(Yaml::Null) => return Ok(out),
        Some(Yaml::Sequence(items)) => items,
        Some(_) => {
            return Err(malformed(
                shown,
                top_key_location(shown, &text, "packages"),
                "`packages:` must be a list".into(),
                "write each package as a list item: `- package: dbt-labs/dbt_utils`",
            ))
        }
    };
    for (i, item) in items.into_iter().enumerate() {
        let span = spans.get(i).copied();
        let spot = Spot {
            shown,
            text: Some(&text),
            span,
        };
        let entry = parse_entry(item, &spot, r)?;
        out.entries.push(entry);
    }
    Ok(out)
}

/// Where one entry is, for messages.
struct Spot<'a> {
    shown: &'a str,
    text: Option<&'a Arc<str>>,
    span: Option<(usize, usize)>,
}

impl Spot<'_> {
    fn entry(&self) -> Option<Location> {
        let (s, _) = self.span?;
        Some(Location::new(self.shown, self.text?.clone(), s, s + 1))
    }

    /// Where `key:` is in this entry: the key's offset, and its value's offset and length
    /// (the key's when the value is on other lines).
    fn find(&self, key: &str) -> Option<(usize, usize, usize)> {
        let (start, end) = self.span?;
        let text = self.text?;
        let mut offset = start;
        for line in text[start..end].split_inclusive('\n') {
            let body = line.trim_start().trim_start_matches('-').trim_start();
            let lead = line.len() - body.len();
            if let Some(rest) = body.strip_prefix(key) {
                if let Some(after) = rest.trim_start().strip_prefix(':') {
                    let value = after.trim();
                    let key_at = offset + lead;
                    return Some(if value.is_empty() {
                        (key_at, key_at, key.len())
                    } else {
                        (
                            key_at,
                            offset + line.len() - after.trim_start().len(),
                            value.len(),
                        )
                    });
                }
            }
            offset += line.len();
        }
        None
    }

    /// The value of `key:` in this entry, else the entry.
    fn value(&self, key: &str) -> Option<Location> {
        match (self.find(key), self.text) {
            (Some((_, at, len)), Some(text)) => {
                Some(Location::new(self.shown, text.clone(), at, at + len))
            }
            _ => self.entry(),
        }
    }

    /// The key itself, for a key that should not be there.
    fn key(&self, key: &str) -> Option<Location> {
        match (self.find(key), self.text) {
            (Some((at, _, _)), Some(text)) => {
                Some(Location::new(self.shown, text.clone(), at, at + key.len()))
            }
            _ => self.entry(),
        }
    }

    fn err(
        &self,
        key: Option<&str>,
        message: String,
        help: impl Into<String>,
    ) -> crate::diagnostics::Error {
        let at = match key {
            Some(k) => self.value(k),
            None => self.entry(),
        };
        malformed(self.shown, at, message, help)
    }
}

const HUB_KEYS: &[&str] = &["package", "version", "install_prerelease", "name"];
const GIT_KEYS: &[&str] = &["git", "revision", "warn-unpinned", "subdirectory", "name"];
const LOCAL_KEYS: &[&str] = &["local", "name"];
const TARBALL_KEYS: &[&str] = &["tarball", "name"];

fn yaml_to_json(v: &Yaml) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

/// Every string in `v` rendered (`env_var()`), as dbt renders package specs.
fn render(v: &Json, spot: &Spot<'_>, key: &str, r: &Render) -> Result<Json> {
    Ok(match v {
        Json::String(s) if s.contains("{{") || s.contains("{%") => {
            Json::String(r.text(s, spot.shown).map_err(|e| {
                crate::diagnostics::Error::from(e.diagnostic().clone().at_opt(spot.value(key)))
            })?)
        }
        Json::Array(a) => Json::Array(
            a.iter()
                .map(|x| render(x, spot, key, r))
                .collect::<Result<_>>()?,
        ),
        other => other.clone(),
    })
}

fn parse_entry(item: Yaml, spot: &Spot<'_>, r: &Render) -> Result<Entry> {
    let Yaml::Mapping(m) = &item else {
        return Err(spot.err(
            None,
            format!("a package entry in {} is not a mapping", spot.shown),
            "write `- package: org/name` with `version:`, `- git: <url>`, `- local: <path>` or `- tarball: <url>` with `name:`",
        ));
    };
    let unrendered = yaml_to_json(&item);
    let mut rendered = Map::new();
    for (k, v) in m {
        let Some(key) = k.as_str() else {
            return Err(spot.err(
                None,
                "a package entry has a key that is not a string".into(),
                "keys are names such as `package` or `version`",
            ));
        };
        rendered.insert(key.to_string(), render(&yaml_to_json(v), spot, key, r)?);
    }
    let kinds: Vec<&str> = ["package", "git", "local", "tarball", "private"]
        .into_iter()
        .filter(|k| rendered.contains_key(*k))
        .collect();
    let kind = match kinds.as_slice() {
        [one] => *one,
        [] => return Err(spot.err(
            None,
            "a package entry names no source: it needs `package`, `git`, `local` or `tarball`"
                .into(),
            "for example `- package: dbt-labs/dbt_utils` with `version: [\">=1.0.0\", \"<2.0.0\"]`",
        )),
        [a, b, ..] => {
            return Err(spot.err(
                Some(b),
                format!("a package entry has both `{a}` and `{b}`"),
                "give each package one source, in its own list item",
            ))
        }
    };
    let allowed =
        match kind {
            "package" => HUB_KEYS,
            "git" => GIT_KEYS,
            "local" => LOCAL_KEYS,
            "tarball" => TARBALL_KEYS,
            _ => return Err(spot.err(
                Some("private"),
                "`private:` packages (dbt platform git integrations) are not supported by weir"
                    .into(),
                "use `git:` with the repository's URL (an access token can come from `env_var()`)",
            )),
        };
    for key in rendered.keys() {
        if !allowed.contains(&key.as_str()) {
            let help = match closest(key, allowed.iter().copied()) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!("a `{kind}` entry takes {}", allowed.join(", ")),
            };
            return Err(malformed(
                spot.shown,
                spot.key(key),
                format!("unexpected key `{key}` in a `{kind}` entry"),
                help,
            ));
        }
    }
    let string = |key: &str| -> Result<Option<String>> {
        match rendered.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) if s.trim().is_empty() => Err(spot.err(
                Some(key),
                format!("`{key}` is empty"),
                format!("give `{key}` a value, or check the environment variable it reads"),
            )),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            // dbt takes numbers where it takes a revision or a version (`revision: 1.0`).
            Some(Json::Number(n)) if key == "revision" => Ok(Some(n.to_string())),
            Some(other) => Err(spot.err(
                Some(key),
                format!("`{key}` must be a string, not `{other}`"),
                format!("quote the value: {key}: \"...\""),
            )),
        }
    };
    let boolean = |key: &str| -> Result<Option<bool>> {
        match rendered.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(spot.err(
                Some(key),
                format!("`{key}` must be true or false, not `{other}`"),
                format!("{key}: true"),
            )),
        }
    };
    let unrendered_str = |key: &str| {
        unrendered
            .get(key)
            .and_then(Json::as_str)
            .map(str::to_string)
    };
    let name = string("name")?;
    let kind = match kind {
        "package" => {
            let package = string("package")?.unwrap_or_default();
            if !package.contains('/') {
                return Err(spot.err(
                    Some("package"),
                    format!("hub package `{package}` has no namespace"),
                    "hub packages are named `org/name`, for example `dbt-labs/dbt_utils`",
                ));
            }
            let raw = match rendered.get("version") {
                None | Some(Json::Null) => Vec::new(),
                Some(Json::Array(a)) => a.clone(),
                Some(v) => vec![v.clone()],
            };
            if raw.is_empty() {
                return Err(spot.err(
                    Some("package"),
                    format!("hub package `{package}` has no `version`"),
                    "add `version: [\">=1.0.0\", \"<2.0.0\"]` (a range) or an exact `version: 1.1.1`",
                ));
            }
            let mut versions = Vec::new();
            for v in raw {
                let text = match &v {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let Some(req) = Requirement::parse(&text) else {
                    let help = if text.contains(',') {
                        "write a range as a list: version: [\">=1.0.0\", \"<2.0.0\"]".to_string()
                    } else {
                        "a version is `1.2.3`, or a bound such as `>=1.2.0` or `<2.0.0`".to_string()
                    };
                    return Err(spot.err(
                        Some("version"),
                        format!("`{text}` is not a valid semantic version for `{package}`"),
                        help,
                    ));
                };
                versions.push(req);
            }
            Kind::Hub {
                package,
                versions,
                install_prerelease: boolean("install_prerelease")?.unwrap_or(false),
            }
        }
        "git" => {
            let url = string("git")?.unwrap_or_default();
            Kind::Git {
                url_unrendered: unrendered_str("git").unwrap_or_else(|| url.clone()),
                url,
                revision: string("revision")?,
                warn_unpinned: boolean("warn-unpinned")? != Some(false),
                subdirectory: string("subdirectory")?,
            }
        }
        "local" => Kind::Local {
            path: string("local")?.unwrap_or_default(),
        },
        _ => {
            let url = string("tarball")?.unwrap_or_default();
            let Some(name) = name.clone() else {
                return Err(spot.err(
                    Some("tarball"),
                    "a `tarball` package needs a `name:`".into(),
                    "add `name: <project name>`: the directory it is installed as",
                ));
            };
            Kind::Tarball {
                url_unrendered: unrendered_str("tarball").unwrap_or_else(|| url.clone()),
                url,
                name,
            }
        }
    };
    // dbt's `to_dict()`: every field of the entry's dataclass, rendered, with its default
    // when not written (`null`, `install_prerelease: false`), except a `name` that is not
    // set; and the entry as written under `unrendered`.
    let mut hash = rendered;
    let defaults: &[(&str, Json)] = match kind {
        Kind::Hub { .. } => &[("install_prerelease", Json::Bool(false))],
        Kind::Git { .. } => &[
            ("revision", Json::Null),
            ("warn-unpinned", Json::Null),
            ("subdirectory", Json::Null),
        ],
        Kind::Local { .. } | Kind::Tarball { .. } => &[],
    };
    for (k, v) in defaults {
        hash.entry(k.to_string()).or_insert_with(|| v.clone());
    }
    if hash.get("name").is_some_and(Json::is_null) {
        hash.remove("name");
    }
    hash.insert("unrendered".into(), unrendered);
    Ok(Entry {
        kind,
        at: spot.entry(),
        hash_json: Json::Object(hash),
    })
}

/// dbt's `sha1_hash`: each entry as `json.dumps(sort_keys=True)`, the lines sorted, joined by
/// newlines, SHA-1 in hex. It changes whenever the specification does.
pub(crate) fn sha1_hash(entries: &[Entry]) -> String {
    use sha1::Digest;
    let mut lines: Vec<String> = entries
        .iter()
        .map(|e| {
            let mut s = String::new();
            python_json(&e.hash_json, &mut s);
            s
        })
        .collect();
    lines.sort();
    let digest = sha1::Sha1::digest(lines.join("\n").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `json.dumps(v, sort_keys=True)` as Python writes it: `", "` and `": "` separators and
/// non-ASCII escaped.
fn python_json(v: &Json, out: &mut String) {
    match v {
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_str(k, out);
                out.push_str(": ");
                python_json(&m[k], out);
            }
            out.push('}');
        }
        Json::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_json(x, out);
            }
            out.push(']');
        }
        Json::String(s) => python_str(s, out),
        Json::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e16 => {
                out.push_str(&format!("{f:.1}"))
            }
            _ => out.push_str(&n.to_string()),
        },
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Null => out.push_str("null"),
    }
}

fn python_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Byte ranges of the block-style items of the top-level `packages:` list, from the `-` to
/// the end of the item's last line (flow-style lists give none, and messages then name the
/// file without a line).
pub(super) fn item_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut in_list = false;
    let mut indent = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let body = line.trim_start();
        let lead = line.len() - body.len();
        if body.trim().is_empty() || body.starts_with('#') {
            continue;
        }
        if lead == 0 && !body.starts_with('-') {
            in_list = body.starts_with("packages:");
            continue;
        }
        if in_list && (body.starts_with("- ") || body.trim_end() == "-") {
            let i = *indent.get_or_insert(lead);
            if lead == i {
                if let Some(last) = spans.last_mut() {
                    last.1 = start;
                }
                spans.push((start + lead, offset));
                continue;
            }
        }
        if let Some(last) = spans.last_mut().filter(|_| in_list) {
            last.1 = offset;
        }
    }
    spans
}

fn top_key_location(shown: &str, text: &Arc<str>, key: &str) -> Option<Location> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with(key) && line[key.len()..].trim_start().starts_with(':') {
            return Some(Location::new(
                shown,
                text.clone(),
                offset,
                offset + key.len(),
            ));
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake() -> Render {
        Render {
            env_var: fake_env,
            vars: Map::new(),
        }
    }

    fn fake_env(name: &str, default: Option<&str>) -> Result<String> {
        match name {
            "MYTOK" => Ok("abc".into()),
            "REPO_DIR" => Ok("/tmp/grepo".into()),
            _ => Ok(default.unwrap_or_default().to_string()),
        }
    }

    /// The hashes dbt-core 1.12.6 computed (`dbt.task.deps._create_sha1_hash`) for these files.
    #[test]
    fn sha1_hash_is_dbts() {
        let text = r#"packages:
  - package: dbt-labs/dbt_utils
    version: [">=1.0.0", "<2.0.0"]
  - package: calogica/dbt_date
    version: 0.10.1
    install_prerelease: true
  - git: "https://{{ env_var('MYTOK') }}@github.com/dbt-labs/dbt-codegen.git"
    revision: 0.12.1
    subdirectory: sub
    warn-unpinned: false
  - local: ../other
  - tarball: https://example.com/x.tar.gz
    name: xpkg
"#;
        let f = parse(Arc::from(text), "packages.yml", Role::Packages, &fake()).unwrap();
        assert_eq!(f.entries.len(), 5);
        assert_eq!(
            sha1_hash(&f.entries),
            "7dfda7ba4e3aeb9043a0b708c56f9dbfb3dfa833"
        );
        // Fields not written are `null` in dbt's dict (git's revision, warn-unpinned, ...).
        let git = "packages:\n  - git: \"file://{{ env_var('REPO_DIR') }}\"\n    revision: v1.0\n    subdirectory: sub/pkg\n  - tarball: http://127.0.0.1:8765/dl/gamma.tar.gz\n    name: gamma\n  - git: file:///tmp/grepo\n    subdirectory: sub/pkg\n";
        let f = parse(Arc::from(git), "packages.yml", Role::Packages, &fake()).unwrap();
        assert_eq!(
            sha1_hash(&f.entries),
            "793600232e9c4219bdffd97aeb7adea4e1729f06"
        );
        let local = "packages:\n  - local: sub/other\n";
        let f = parse(Arc::from(local), "packages.yml", Role::Packages, &fake()).unwrap();
        assert_eq!(
            sha1_hash(&f.entries),
            "347e0c10d7f460106a2f7cb3de4f00cbc9feab07"
        );
    }

    #[test]
    fn entries_are_located() {
        let text =
            "packages:\n  - local: a\n\n  - package: dbt-labs/dbt_utils\n    versoin: 1.0.0\n";
        let err = parse(Arc::from(text), "packages.yml", Role::Packages, &fake()).unwrap_err();
        let r = err.diagnostic().render();
        assert!(r.contains("packages.yml:5:5"), "{r}");
        assert!(r.contains("did you mean `version`?"), "{r}");
        assert_eq!(item_spans(text).len(), 2);
    }

    #[test]
    fn python_json_matches_json_dumps() {
        let mut s = String::new();
        python_json(&serde_json::json!({"b": [1, 1.0, "é"], "a": null}), &mut s);
        assert_eq!(s, r#"{"a": null, "b": [1, 1.0, "\u00e9"]}"#);
    }
}
