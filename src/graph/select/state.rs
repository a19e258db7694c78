//! `--state`: the artifacts of an earlier invocation, for `result:` and `source_status:`.

use std::collections::HashMap;

use serde_json::Value;

use super::{SelectError, SelectionCriteria, SelectionGraph};

/// dbt's `PreviousState`, as far as `result:` and `source_status:` need it: the artifacts of
/// an earlier invocation in the `--state` directory, and the current `target/sources.json`.
#[derive(Debug, Clone, Default)]
pub struct PreviousState {
    /// The `--state` directory (for messages).
    pub dir: std::path::PathBuf,
    /// `<state>/run_results.json`: unique_id -> status (`success`, `error`, `fail`, ...).
    pub results: Option<HashMap<String, String>>,
    /// `<state>/sources.json`: unique_id -> `max_loaded_at` (`None`: the check errored).
    pub sources: Option<HashMap<String, Option<chrono::NaiveDateTime>>>,
    /// The current project's `target/sources.json`, in the same shape.
    pub sources_current: Option<HashMap<String, Option<chrono::NaiveDateTime>>>,
}

impl PreviousState {
    /// Read what exists of `<state>/run_results.json`, `<state>/sources.json` and
    /// `<target>/sources.json`. A missing file leaves its part empty (the selector that needs
    /// it says so); a file that is not JSON of the expected shape is an error.
    pub fn load(state: &std::path::Path, target: &std::path::Path) -> Result<Self, SelectError> {
        let read = |path: std::path::PathBuf| -> Result<Option<Value>, SelectError> {
            match std::fs::read_to_string(&path) {
                Ok(text) => serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|e| SelectError::new(format!("cannot read {}: {e}", path.display()))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(SelectError::new(format!(
                    "cannot read {}: {e}",
                    path.display()
                ))),
            }
        };
        let results_of = |doc: &Value| -> Vec<Value> {
            doc.get("results")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let results = read(state.join("run_results.json"))?.map(|doc| {
            results_of(&doc)
                .iter()
                .filter_map(|r| {
                    Some((
                        r.get("unique_id")?.as_str()?.to_string(),
                        r.get("status")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        });
        let freshness = |doc: Value| -> HashMap<String, Option<chrono::NaiveDateTime>> {
            results_of(&doc)
                .iter()
                .filter_map(|r| {
                    let id = r.get("unique_id")?.as_str()?.to_string();
                    // dbt writes no max_loaded_at for a source whose check errored.
                    let errored = r.get("status").and_then(Value::as_str) == Some("runtime error");
                    let at = r
                        .get("max_loaded_at")
                        .and_then(Value::as_str)
                        .and_then(parse_loaded_at)
                        .filter(|_| !errored);
                    Some((id, at))
                })
                .collect()
        };
        Ok(PreviousState {
            dir: state.to_path_buf(),
            results,
            sources: read(state.join("sources.json"))?.map(freshness),
            sources_current: read(target.join("sources.json"))?.map(freshness),
        })
    }
}

/// `max_loaded_at` as dbt and weir write it (`2024-01-02T03:04:05+00:00`,
/// `2024-01-02 03:04:05.123456`, ...), as UTC.
pub(super) fn parse_loaded_at(s: &str) -> Option<chrono::NaiveDateTime> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    if let Ok(t) = chrono::DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(t.naive_utc());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
}

impl SelectionGraph {
    pub(super) fn missing_state(&self, c: &SelectionCriteria, file: &str) -> SelectError {
        match &self.state {
            None => SelectError::new(format!(
                "'{}' compares with an earlier run, but no --state directory was given",
                c.raw
            ))
            .with_hint(format!(
                "pass --state <dir>, a directory holding the {file} of that run (e.g. a copy of its target/)"
            )),
            Some(s) => SelectError::new(format!(
                "'{}' needs {}, which does not exist",
                c.raw,
                s.dir.join(file).display()
            ))
            .with_hint(format!(
                "--state must hold the {file} of an earlier run (e.g. a copy of its target/)"
            )),
        }
    }
}
