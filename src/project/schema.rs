//! Schema ("properties") YAML files: models, seeds, snapshots, analyses, sources, macros,
//! exposures, unit tests; and `{% docs %}` blocks from Markdown files.
//!
//! Shapes are typed so a wrong shape is reported by serde_yaml with its line and column.

use std::sync::Arc;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value as Json};

use crate::diagnostics::{Code, Diagnostic, Location, Result};

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct SchemaFile {
    pub version: Option<serde_yaml::Value>,
    pub models: Vec<NodePatch>,
    pub seeds: Vec<NodePatch>,
    pub snapshots: Vec<NodePatch>,
    pub analyses: Vec<NodePatch>,
    pub sources: Vec<SourceDef>,
    pub macros: Vec<MacroPatch>,
    pub exposures: Vec<ExposureDef>,
    pub unit_tests: Vec<UnitTestDef>,
}

/// Properties of a model, seed, snapshot or analysis.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct NodePatch {
    pub name: String,
    pub description: Option<String>,
    pub config: Map<String, Json>,
    pub columns: Vec<ColumnDef>,
    pub tests: Vec<Json>,
    #[serde(rename = "data_tests")]
    pub data_tests_extra: Vec<Json>,
    pub docs: Option<Json>,
    pub meta: Map<String, Json>,
    pub tags: Option<Json>,
    pub constraints: Vec<Json>,
    pub access: Option<String>,
    pub group: Option<String>,
    pub versions: Vec<Json>,
    pub latest_version: Option<Json>,
    pub deprecation_date: Option<Json>,
}

impl NodePatch {
    /// `tests:` and `data_tests:` both hold tests (dbt 1.8 renamed the key).
    pub fn all_tests(&self) -> impl Iterator<Item = &Json> {
        self.tests.iter().chain(self.data_tests_extra.iter())
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ColumnDef {
    pub name: String,
    pub description: Option<String>,
    pub data_type: Option<String>,
    pub meta: Map<String, Json>,
    pub tags: Vec<String>,
    pub quote: Option<bool>,
    pub tests: Vec<Json>,
    #[serde(rename = "data_tests")]
    pub data_tests_extra: Vec<Json>,
    pub constraints: Vec<Json>,
    pub config: Map<String, Json>,
    pub granularity: Option<String>,
}

impl ColumnDef {
    pub fn all_tests(&self) -> impl Iterator<Item = &Json> {
        self.tests.iter().chain(self.data_tests_extra.iter())
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct SourceDef {
    pub name: String,
    pub description: Option<String>,
    pub database: Option<String>,
    pub schema: Option<String>,
    pub loader: Option<String>,
    pub loaded_at_field: Option<String>,
    pub loaded_at_query: Option<String>,
    pub freshness: Option<Json>,
    pub quoting: Map<String, Json>,
    pub meta: Map<String, Json>,
    pub tags: Vec<String>,
    pub config: Map<String, Json>,
    pub overrides: Option<String>,
    pub tables: Vec<SourceTableDef>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct SourceTableDef {
    pub name: String,
    pub description: Option<String>,
    pub identifier: Option<String>,
    pub loaded_at_field: Option<String>,
    pub loaded_at_query: Option<String>,
    /// `Some(Json::Null)` when the table says `freshness: null` (no check, even if the source
    /// has one); `None` when it says nothing (the source's applies).
    #[serde(deserialize_with = "present")]
    pub freshness: Option<Json>,
    pub external: Option<Json>,
    pub quoting: Map<String, Json>,
    pub meta: Map<String, Json>,
    pub tags: Vec<String>,
    pub config: Map<String, Json>,
    pub columns: Vec<ColumnDef>,
    pub tests: Vec<Json>,
    #[serde(rename = "data_tests")]
    pub data_tests_extra: Vec<Json>,
}

impl SourceTableDef {
    pub fn all_tests(&self) -> impl Iterator<Item = &Json> {
        self.tests.iter().chain(self.data_tests_extra.iter())
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct MacroPatch {
    pub name: String,
    pub description: Option<String>,
    pub arguments: Vec<Json>,
    pub meta: Map<String, Json>,
    pub docs: Option<Json>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ExposureDef {
    pub name: String,
    #[serde(rename = "type")]
    pub exposure_type: String,
    pub label: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub maturity: Option<String>,
    pub owner: Map<String, Json>,
    #[serde(deserialize_with = "string_list")]
    pub depends_on: Vec<String>,
    pub tags: Vec<String>,
    pub meta: Map<String, Json>,
    pub config: Map<String, Json>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct UnitTestDef {
    pub name: String,
    pub model: String,
    pub description: Option<String>,
    pub given: Vec<Json>,
    pub expect: Json,
    pub overrides: Option<Json>,
    pub config: Map<String, Json>,
    pub versions: Option<Json>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Json>, D::Error> {
    Json::deserialize(d).map(Some)
}

fn string_list<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    Vec::<String>::deserialize(d)
}

/// Parse one schema file. An empty file is an empty schema, as in dbt.
pub fn parse(display: &str, text: &Arc<str>) -> Result<SchemaFile> {
    if text.trim().is_empty() {
        return Ok(SchemaFile::default());
    }
    let parsed: std::result::Result<Option<SchemaFile>, _> = serde_yaml::from_str(text);
    match parsed {
        Ok(v) => Ok(v.unwrap_or_default()),
        Err(e) => Err(shape_error(display, text, &e)),
    }
}

/// A YAML syntax or shape error with its location and a hint for the common shape mistakes.
fn shape_error(
    display: &str,
    text: &Arc<str>,
    err: &serde_yaml::Error,
) -> crate::diagnostics::Error {
    let full = err.to_string();
    // Shape errors come from serde ("invalid type", "missing field", ...); everything else is
    // the YAML scanner, whose message says where the broken construct started.
    let is_shape = [
        "invalid type",
        "missing field",
        "invalid value",
        "invalid length",
        "unknown variant",
    ]
    .iter()
    .any(|k| full.contains(k));
    let msg = full.split(" at line ").next().unwrap_or(&full).to_string();
    let (code, what) = if is_shape {
        (Code::E103, "YAML of the wrong shape")
    } else {
        (Code::E102, "invalid YAML")
    };
    let mut d = Diagnostic::error(code, format!("{what}: {msg}"));
    // "while scanning a quoted scalar at line 4 column 18": point at where it started.
    static STARTED: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let started = STARTED.get_or_init(|| {
        regex::Regex::new(r"while (scanning|parsing) ([a-z ]+?) at line (\d+) column (\d+)")
            .expect("a valid regex")
    });
    let position = match started.captures(&full) {
        Some(c) => {
            d.message = format!("{what}: {msg}, while {} {}", &c[1], &c[2]);
            if c[2].contains("quoted scalar") {
                d = d.help("close the string with a matching quote");
            }
            Some((c[3].parse().unwrap_or(1), c[4].parse().unwrap_or(1)))
        }
        None => err.location().map(|l| (l.line(), l.column())),
    };
    if let Some((line, col)) = position {
        let start = crate::diagnostics::offset_of(text, line, col).min(text.trim_end().len());
        let end = text[start..].find('\n').map_or(text.len(), |n| start + n);
        d = d.at(Location::new(
            display,
            text.clone(),
            start,
            end.max(start + 1),
        ));
    } else {
        d = d.note(format!("in {display}"));
    }
    if msg.contains("expected a sequence") {
        d = d.help("this key takes a list: write each item on its own line starting with `- `");
    } else if msg.contains("expected a map") || msg.contains("expected struct") {
        d = d.help("this key takes a mapping of `key: value` lines");
    }
    d.into()
}

/// One `{% docs name %}...{% enddocs %}` block.
#[derive(Debug, Clone)]
pub struct DocsBlock {
    pub name: String,
    pub contents: String,
}

/// Docs blocks of a Markdown file. Their bodies are kept verbatim (dbt does not render them
/// until a description uses them).
pub fn docs_blocks(display: &str, text: &Arc<str>) -> Result<Vec<DocsBlock>> {
    let mut out = Vec::new();
    let open = regex_lite_docs_open();
    let mut rest_start = 0;
    while let Some(m) = open.captures(&text[rest_start..]) {
        let whole = m.get(0).expect("group 0 is the whole match");
        let name = m
            .get(1)
            .expect("the pattern has this group")
            .as_str()
            .to_string();
        let body_start = rest_start + whole.end();
        let close = docs_close();
        let Some(c) = close.find(&text[body_start..]) else {
            return Err(Diagnostic::error(
                Code::E202,
                format!("docs block '{name}' is never closed"),
            )
            .at(Location::new(
                display,
                text.clone(),
                rest_start + whole.start(),
                rest_start + whole.end(),
            ))
            .help("end it with {% enddocs %}")
            .into());
        };
        out.push(DocsBlock {
            name,
            contents: text[body_start..body_start + c.start()].trim().to_string(),
        });
        rest_start = body_start + c.end();
    }
    Ok(out)
}

fn regex_lite_docs_open() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"\{%-?\s*docs\s+([A-Za-z_][A-Za-z0-9_]*)\s*-?%\}")
            .expect("a valid regex")
    })
}

fn docs_close() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"\{%-?\s*enddocs\s*-?%\}").expect("a valid regex"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_where_list_wanted_is_a_shape_error_with_location() {
        let text: Arc<str> = "version: 2\nmodels:\n  - name: a\n    columns: id\n".into();
        let err = parse("models/s.yml", &text).unwrap_err();
        let d = err.diagnostic();
        assert_eq!(d.code, Code::E103);
        assert_eq!(
            d.location.as_ref().unwrap().line_col().0,
            4,
            "{}",
            d.render()
        );
    }

    #[test]
    fn docs_blocks_are_read() {
        let text: Arc<str> =
            "{% docs a %}\nhello\n{% enddocs %}\n{% docs b %}x{% enddocs %}".into();
        let blocks = docs_blocks("d.md", &text).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].contents, "hello");
    }
}
