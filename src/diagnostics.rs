//! User-facing errors and warnings, rendered the way rustc and ruff render them.
//!
//! Every stage reports problems as a [`Diagnostic`]: a stable code, a message, an optional
//! location (project-relative file, byte span into that file's text) and help lines. Line and
//! column are computed only when rendering. This module must not know about any stage's types.

use std::fmt::{self, Write as _};
use std::sync::Arc;

include!(concat!(env!("OUT_DIR"), "/codes.rs"));

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lets tests and callers compare a code with its text (`code == "E501"`).
impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Who is at fault, which decides the exit code and the wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The project, its configuration or the command line is wrong (exit 2, as dbt).
    User,
    /// The machine: files that cannot be read or written.
    Io,
    /// A bug in weir.
    Internal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// A place in a file: the project-relative path, its full text, and a byte range.
#[derive(Debug, Clone)]
pub struct Location {
    pub path: String,
    pub text: Arc<str>,
    pub start: usize,
    pub end: usize,
}

impl Location {
    pub fn new(path: impl Into<String>, text: Arc<str>, start: usize, end: usize) -> Self {
        let len = text.len();
        let start = start.min(len);
        Location {
            path: path.into(),
            text,
            start,
            end: end.clamp(start, len),
        }
    }

    /// A location from a 1-based line and column (serde_yaml and minijinja report those).
    pub fn at_line_col(
        path: impl Into<String>,
        text: Arc<str>,
        line: usize,
        col: usize,
        width: usize,
    ) -> Self {
        let start = offset_of(&text, line, col);
        Location::new(path, text, start, start + width)
    }

    /// 1-based line and column of the start.
    pub fn line_col(&self) -> (usize, usize) {
        let before = &self.text[..self.start];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rfind('\n')
            .map_or(before.chars().count(), |p| before[p + 1..].chars().count())
            + 1;
        (line, col)
    }
}

/// Byte offset of a 1-based line and column (columns counted in chars).
pub fn offset_of(text: &str, line: usize, col: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let within: usize = l
                .chars()
                .take(col.saturating_sub(1))
                .map(char::len_utf8)
                .sum();
            return offset + within;
        }
        offset += l.len();
    }
    text.len()
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub kind: Kind,
    pub severity: Severity,
    /// Stable code, listed in docs/errors.md (`E1xx` project, `E2xx` Jinja, `E3xx` graph, ...).
    pub code: Code,
    pub message: String,
    pub location: Option<Location>,
    /// Lines printed as `= note: ...`, e.g. "in macro `x` called from model `y`", or a cause chain.
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            kind: Kind::User,
            severity: Severity::Error,
            code,
            message: message.into(),
            location: None,
            notes: Vec::new(),
            help: None,
        }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn io(message: impl Into<String>) -> Self {
        Diagnostic {
            kind: Kind::Io,
            ..Diagnostic::error(Code::E001, message)
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Diagnostic {
            kind: Kind::Internal,
            help: Some("this is a bug in weir; please report it with the command you ran".into()),
            ..Diagnostic::error(Code::E000, message)
        }
    }

    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    pub fn at_opt(mut self, location: Option<Location>) -> Self {
        if self.location.is_none() {
            self.location = location;
        }
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Render without colours, rustc style:
    ///
    /// ```text
    /// error[E301]: model 'orders' refers to 'stg_orderz', which does not exist
    ///  --> models/orders.sql:3:15
    ///   |
    /// 3 | select * from {{ ref('stg_orderz') }}
    ///   |               ^^^^^^^^^^^^^^^^^^^^^^^
    ///   = help: did you mean 'stg_orders'?
    /// ```
    /// Secret values are scrubbed (`*****`).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{label}[{}]: {}", self.code.as_str(), self.message);
        if let Some(loc) = &self.location {
            let (line, col) = loc.line_col();
            let gutter = line.to_string().len();
            let pad = " ".repeat(gutter);
            let _ = writeln!(out, "{pad}--> {}:{line}:{col}", loc.path);
            let src_line = loc.text.lines().nth(line - 1).unwrap_or("");
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(
                out,
                "{}",
                format!("{line} | {}", src_line.trim_end()).trim_end()
            );
            let line_start = loc.start - (col_bytes(&loc.text, loc.start));
            let line_end = line_start + src_line.len();
            let caret_end = loc.end.min(line_end).max(loc.start);
            let width = loc.text[loc.start..caret_end].chars().count().max(1);
            let _ = writeln!(out, "{pad} | {}{}", " ".repeat(col - 1), "^".repeat(width));
            for note in &self.notes {
                let _ = writeln!(out, "{pad} = note: {note}");
            }
            if let Some(help) = &self.help {
                let _ = writeln!(out, "{pad} = help: {help}");
            }
        } else {
            for note in &self.notes {
                let _ = writeln!(out, "  = note: {note}");
            }
            if let Some(help) = &self.help {
                let _ = writeln!(out, "  = help: {help}");
            }
        }
        match scrub(&out) {
            std::borrow::Cow::Borrowed(_) => out,
            std::borrow::Cow::Owned(scrubbed) => scrubbed,
        }
    }
}

fn col_bytes(text: &str, offset: usize) -> usize {
    offset - text[..offset].rfind('\n').map_or(0, |p| p + 1)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// The one error type: a diagnostic, boxed to keep `Result` small.
#[derive(Debug, Clone)]
pub struct Error(pub Box<Diagnostic>);

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn diagnostic(&self) -> &Diagnostic {
        &self.0
    }
    /// dbt's exit codes: 2 for a project or usage error and for crashes.
    pub fn exit_code(&self) -> u8 {
        2
    }
}

impl From<Diagnostic> for Error {
    fn from(d: Diagnostic) -> Self {
        Error(Box::new(d))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.render())
    }
}

impl std::error::Error for Error {}

/// Environment variables whose names start with this hold secrets: dbt's convention.
pub const SECRET_ENV_PREFIX: &str = "DBT_ENV_SECRET";

/// The values of the secret environment variables, longest first (so a secret that contains
/// another is replaced whole).
fn secrets() -> &'static [String] {
    static SECRETS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SECRETS.get_or_init(|| {
        let mut v: Vec<String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, v)| k.starts_with(SECRET_ENV_PREFIX) && !v.is_empty())
            .map(|(_, v)| v)
            .collect();
        v.sort_by_key(|s| std::cmp::Reverse(s.len()));
        v.dedup();
        v
    })
}

/// `text` with the value of every secret environment variable replaced by `*****`, as dbt
/// scrubs its logs. Rendered diagnostics, progress and log lines, `target.*` and the files written
/// with `fsio::write_atomic` go through it (the streamed manifest does not).
pub fn scrub(text: &str) -> std::borrow::Cow<'_, str> {
    let secrets = secrets();
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for s in secrets {
        out = out.replace(s.as_str(), "*****");
    }
    std::borrow::Cow::Owned(out)
}

/// Whether any secret environment variable is set (no scrubbing work otherwise).
pub fn has_secrets() -> bool {
    !secrets().is_empty()
}

/// The nodes being worked on right now, so that a crash can say which one it was processing.
static IN_FLIGHT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Marks a node as being worked on until the guard drops.
#[must_use = "the node counts as in flight only while the guard lives"]
pub struct InFlight(String);

pub fn in_flight(unique_id: &str) -> InFlight {
    if let Ok(mut v) = IN_FLIGHT.lock() {
        v.push(unique_id.to_string());
    }
    InFlight(unique_id.to_string())
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut v) = IN_FLIGHT.lock() {
            if let Some(i) = v.iter().rposition(|id| *id == self.0) {
                v.swap_remove(i);
            }
        }
    }
}

/// The nodes in flight (empty if the registry is busy: a crash report must not block).
pub fn nodes_in_flight() -> Vec<String> {
    IN_FLIGHT.try_lock().map(|v| v.clone()).unwrap_or_default()
}

/// Exit code of a crash: a bug in weir, told apart from the project's own errors (2).
pub const CRASH_EXIT: i32 = 3;

/// Replaces Rust's panic output with a short report that says it is weir's bug, where it
/// happened and which nodes were being processed, then exits with [`CRASH_EXIT`] at once, from
/// whichever thread panicked (a panic inside a worker must not turn into a hang or a success).
/// Tables are never half-written: each Delta commit is atomic, and an exit before it leaves the
/// previous version.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let nodes = nodes_in_flight();
        let working = if nodes.is_empty() {
            String::new()
        } else {
            format!("\n  = note: while processing {}", nodes.join(", "))
        };
        let report = format!(
            "error: internal error (this is a bug in weir, not in your project): {message}{place}{working}\n  = help: please report it with this message and the command you ran; tables keep their last committed version\n"
        );
        use std::io::Write;
        let _ = std::io::stderr().write_all(report.as_bytes());
        std::process::exit(CRASH_EXIT);
    }));
}

/// Shorthand for an I/O error that names the path.
pub fn io_error(action: &str, path: &std::path::Path, err: std::io::Error) -> Error {
    Diagnostic::io(format!("cannot {action} {}: {err}", path.display())).into()
}

/// The closest candidate by edit distance, for "did you mean" hints.
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(wanted, c), c))
        .filter(|(d, c)| *d <= (wanted.len().max(c.len()) / 3).max(2))
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_span() {
        let text: Arc<str> = "select 1\nfrom {{ ref('x') }}\n".into();
        let d = Diagnostic::error(Code::E301, "bad ref")
            .at(Location::new("models/a.sql", text, 14, 27))
            .help("did you mean 'y'?");
        let r = d.render();
        assert!(r.contains(" --> models/a.sql:2:6"), "{r}");
        assert!(r.contains("2 | from {{ ref('x') }}"), "{r}");
        assert!(r.contains("  |      ^^^^^^^^^^^^^"), "{r}");
    }

    #[test]
    fn closest_suggests_near_names_only() {
        assert_eq!(
            closest("stg_orderz", ["stg_orders", "customers"]),
            Some("stg_orders")
        );
        assert_eq!(closest("zzz", ["stg_orders"]), None);
    }
}
