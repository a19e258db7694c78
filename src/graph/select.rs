//! dbt node selection: `--select` / `--exclude` / `--selector`, as `dbt ls` resolves them.
//!
//! Modelled on dbt-core 1.8: `graph/selector_spec.py` (spec grammar), `graph/cli.py`
//! (how CLI words become unions/intersections/differences), `graph/selector.py`
//! (graph operators, indirect test selection, warnings) and `graph/selector_methods.py`
//! (what each `method:` matches). Comments point out where dbt's behaviour is surprising
//! so nobody "fixes" it back into a divergence.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::OnceLock;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use regex::Regex;
use serde_json::Value;

use super::selectors_yml::SelectorDefinition;

/// One selectable resource, as the lead builds it from the manifest.
#[derive(Debug, Clone)]
pub struct SelectNode {
    pub unique_id: String,
    pub name: String,
    pub resource_type: String,
    pub package_name: String,
    pub fqn: Vec<String>,
    pub original_file_path: String,
    pub tags: Vec<String>,
    pub config: Value,
    pub source_name: Option<String>,
    pub test_type: Option<String>,
    pub test_name: Option<String>,
    pub depends_on: Vec<String>,
    pub attached_node: Option<String>,
}

/// dbt's `--indirect-selection`: which tests come along with the nodes they test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndirectSelection {
    /// A test is selected if ANY of its parents is selected (dbt's default).
    #[default]
    Eager,
    /// A test is selected only if ALL of its parents are selected.
    Cautious,
    /// Like cautious, but parents that are ancestors of the selection also count.
    Buildable,
    /// Never select tests indirectly.
    Empty,
}

impl IndirectSelection {
    pub fn parse(s: &str) -> Result<Self, SelectError> {
        match s {
            "eager" => Ok(Self::Eager),
            "cautious" => Ok(Self::Cautious),
            "buildable" => Ok(Self::Buildable),
            "empty" => Ok(Self::Empty),
            _ => Err(
                SelectError::new(format!("'{s}' is not a valid IndirectSelection"))
                    .with_hint("expected one of: eager, cautious, buildable, empty"),
            ),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eager => "eager",
            Self::Cautious => "cautious",
            Self::Buildable => "buildable",
            Self::Empty => "empty",
        }
    }
}

impl std::str::FromStr for IndirectSelection {
    type Err = SelectError;
    fn from_str(s: &str) -> Result<Self, SelectError> {
        Self::parse(s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectError {
    pub message: String,
    pub hint: Option<String>,
}

impl SelectError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for SelectError {}

/// The result of a selection: selected unique_ids plus dbt's
/// "does not match any enabled nodes" warnings, in the order dbt emits them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub ids: BTreeSet<String>,
    pub warnings: Vec<String>,
}

// ---------------------------------------------------------------------------
// Selection specs (dbt's SelectionCriteria / SelectionUnion / ...)
// ---------------------------------------------------------------------------

/// Every method name dbt 1.8 accepts in `method:value`. Some need artifacts weir does not
/// have (state, run results, model versions); those parse fine (a selectors.yml that merely
/// *defines* them must still load) and fail only when evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Fqn,
    Tag,
    Group,
    Access,
    Source,
    Path,
    File,
    Package,
    Config,
    TestName,
    TestType,
    ResourceType,
    State,
    Exposure,
    Metric,
    Result,
    SourceStatus,
    Wildcard,
    Version,
    SemanticModel,
    SavedQuery,
    UnitTest,
}

const METHODS: &[(&str, Method)] = &[
    ("fqn", Method::Fqn),
    ("tag", Method::Tag),
    ("group", Method::Group),
    ("access", Method::Access),
    ("source", Method::Source),
    ("path", Method::Path),
    ("file", Method::File),
    ("package", Method::Package),
    ("config", Method::Config),
    ("test_name", Method::TestName),
    ("test_type", Method::TestType),
    ("resource_type", Method::ResourceType),
    ("state", Method::State),
    ("exposure", Method::Exposure),
    ("metric", Method::Metric),
    ("result", Method::Result),
    ("source_status", Method::SourceStatus),
    ("wildcard", Method::Wildcard),
    ("version", Method::Version),
    ("semantic_model", Method::SemanticModel),
    ("saved_query", Method::SavedQuery),
    ("unit_test", Method::UnitTest),
];

impl Method {
    pub fn from_name(name: &str) -> Option<Method> {
        METHODS.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
    }

    pub fn name(self) -> &'static str {
        METHODS
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("?", |(n, _)| n)
    }
}

/// The `@`, `N+` and `+N` modifiers of one criterion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphOperators {
    pub childrens_parents: bool,
    pub parents: bool,
    /// `None` = unlimited.
    pub parents_depth: Option<usize>,
    pub children: bool,
    pub children_depth: Option<usize>,
}

/// One `[@][N+]method[.args]:value[+N]` term.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectionCriteria {
    pub raw: String,
    pub method: Method,
    /// `config.meta.owner` -> `["meta", "owner"]`.
    pub method_arguments: Vec<String>,
    pub value: String,
    pub ops: GraphOperators,
    /// `None` = whatever `--indirect-selection` says at evaluation time.
    pub indirect_selection: Option<IndirectSelection>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    Union,
    Intersection,
    /// First component minus the union of the rest.
    Difference,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SelectionGroup {
    pub op: SetOp,
    pub components: Vec<SelectionSpec>,
    /// dbt warns when a group with this flag selects nothing (set for each CLI word).
    pub expect_exists: bool,
    pub raw: String,
    pub indirect_selection: Option<IndirectSelection>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SelectionSpec {
    Criteria(SelectionCriteria),
    Group(SelectionGroup),
}

impl SelectionSpec {
    pub fn group(op: SetOp, components: Vec<SelectionSpec>, raw: impl Into<String>) -> Self {
        SelectionSpec::Group(SelectionGroup {
            op,
            components,
            expect_exists: false,
            raw: raw.into(),
            indirect_selection: None,
        })
    }
}

fn spec_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // dbt's RAW_SELECTOR_PATTERN, verbatim (`\Z` is `\z` in Rust).
        Regex::new(
            r"\A(?P<childrens_parents>@)?(?P<parents>(?P<parents_depth>\d*)\+)?((?P<method>[\w.]+):)?(?P<value>.*?)(?P<children>\+(?P<children_depth>\d*))?\z",
        )
        .expect("static selector regex")
    })
}

/// dbt's `_match_to_int` for CLI depths: empty means unlimited.
fn parse_depth(raw: Option<&str>) -> Result<Option<usize>, SelectError> {
    match raw {
        None | Some("") => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| {
            SelectError::new(format!(
                "Invalid node spec - could not handle parent depth {s}"
            ))
        }),
    }
}

/// dbt's `default_method`: a bare word with a `/` is a path, one ending in a file extension
/// dbt parses is a file name, anything else is an fqn/name. (`.yml` is deliberately absent:
/// dbt treats `schema.yml` as an fqn, which matches nothing.)
fn default_method(value: &str) -> Method {
    let lower = value.to_lowercase();
    if value.contains('/') {
        Method::Path
    } else if [".sql", ".py", ".csv"]
        .iter()
        .any(|ext| lower.ends_with(ext))
    {
        Method::File
    } else {
        Method::Fqn
    }
}

fn parse_method(raw_method: &str) -> Result<(Method, Vec<String>), SelectError> {
    let mut parts = raw_method.split('.');
    let name = parts.next().unwrap_or_default();
    let method = Method::from_name(name).ok_or_else(|| {
        let valid: Vec<&str> = METHODS.iter().map(|(n, _)| *n).collect();
        SelectError::new(format!("'{name}' is not a valid method name"))
            .with_hint(format!("valid methods: {}", valid.join(", ")))
    })?;
    Ok((method, parts.map(str::to_string).collect()))
}

impl SelectionCriteria {
    /// Parse one CLI term (no spaces or commas: those are split off by [`parse_union`]).
    pub fn from_single_spec(
        raw: &str,
        indirect_selection: Option<IndirectSelection>,
    ) -> Result<Self, SelectError> {
        let caps = spec_regex()
            .captures(raw)
            .ok_or_else(|| SelectError::new(format!("Invalid selector spec \"{raw}\"")))?;
        let group = |name: &str| caps.name(name).map(|m| m.as_str());
        let ops = GraphOperators {
            childrens_parents: group("childrens_parents").is_some(),
            parents: group("parents").is_some(),
            parents_depth: parse_depth(group("parents_depth"))?,
            children: group("children").is_some(),
            children_depth: parse_depth(group("children_depth"))?,
        };
        let value = group("value").unwrap_or_default().to_string();
        Self::build(
            raw.to_string(),
            group("method"),
            value,
            ops,
            indirect_selection,
        )
    }

    /// Shared by the CLI grammar and selectors.yml dictionaries.
    pub fn build(
        raw: String,
        method: Option<&str>,
        value: String,
        ops: GraphOperators,
        indirect_selection: Option<IndirectSelection>,
    ) -> Result<Self, SelectError> {
        let (method, method_arguments) = match method {
            Some(m) => parse_method(m)?,
            None => (default_method(&value), Vec::new()),
        };
        if ops.children && ops.childrens_parents {
            return Err(SelectError::new(format!(
                "Invalid node spec {raw} - \"@\" prefix and \"+\" suffix are incompatible"
            )));
        }
        Ok(Self {
            raw,
            method,
            method_arguments,
            value,
            ops,
            indirect_selection,
        })
    }
}

/// dbt's `parse_union`: every space-separated word is an intersection of its
/// comma-separated terms, and the words are unioned.
pub fn parse_union(words: &[String], expect_exists: bool) -> Result<SelectionSpec, SelectError> {
    let mut components = Vec::new();
    for word in words.iter().flat_map(|w| w.split_whitespace()) {
        let terms = word
            .split(',')
            .map(|t| SelectionCriteria::from_single_spec(t, None).map(SelectionSpec::Criteria))
            .collect::<Result<Vec<_>, _>>()?;
        components.push(SelectionSpec::Group(SelectionGroup {
            op: SetOp::Intersection,
            components: terms,
            expect_exists,
            raw: word.to_string(),
            indirect_selection: None,
        }));
    }
    Ok(SelectionSpec::group(
        SetOp::Union,
        components,
        words.join(" "),
    ))
}

/// What `dbt ls` selects with no `--select`: everything (sources are not matched by `fqn`).
const DEFAULT_INCLUDES: &[&str] = &[
    "fqn:*",
    "source:*",
    "exposure:*",
    "metric:*",
    "semantic_model:*",
    "saved_query:*",
];

/// dbt's `parse_difference`: (select or the default) minus exclude.
pub fn parse_difference(
    select: &[String],
    exclude: &[String],
) -> Result<SelectionSpec, SelectError> {
    let included = if select.is_empty() {
        let defaults: Vec<String> = DEFAULT_INCLUDES.iter().map(|s| s.to_string()).collect();
        parse_union(&defaults, false)?
    } else {
        parse_union(select, true)?
    };
    let excluded = parse_union(exclude, true)?;
    Ok(SelectionSpec::group(
        SetOp::Difference,
        vec![included, excluded],
        "",
    ))
}

// ---------------------------------------------------------------------------
// Glob matching (Python's fnmatch and pathlib.Path.glob, which dbt uses)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum GlobToken {
    Literal(char),
    AnyChar,
    AnyRun,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled `fnmatch` pattern: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`; `*` crosses `/` and `.`.
#[derive(Debug, Clone)]
pub struct Glob {
    tokens: Vec<GlobToken>,
    literal: Option<String>,
}

impl Glob {
    pub fn new(pattern: &str) -> Self {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' => {
                    if !matches!(tokens.last(), Some(GlobToken::AnyRun)) {
                        tokens.push(GlobToken::AnyRun);
                    }
                }
                '?' => tokens.push(GlobToken::AnyChar),
                '[' => {
                    // Same scan as fnmatch.translate: a `]` right after `[` or `[!` is a member;
                    // an unclosed `[` is a literal.
                    let mut j = i;
                    if chars.get(j) == Some(&'!') {
                        j += 1;
                    }
                    if chars.get(j) == Some(&']') {
                        j += 1;
                    }
                    while j < chars.len() && chars[j] != ']' {
                        j += 1;
                    }
                    if j >= chars.len() {
                        tokens.push(GlobToken::Literal('['));
                        continue;
                    }
                    let mut body = &chars[i..j];
                    i = j + 1;
                    let negated = body.first() == Some(&'!');
                    if negated {
                        body = &body[1..];
                    }
                    let mut ranges = Vec::new();
                    let mut k = 0;
                    while k < body.len() {
                        if k + 2 < body.len() && body[k + 1] == '-' {
                            ranges.push((body[k], body[k + 2]));
                            k += 3;
                        } else {
                            ranges.push((body[k], body[k]));
                            k += 1;
                        }
                    }
                    tokens.push(GlobToken::Class { negated, ranges });
                }
                c => tokens.push(GlobToken::Literal(c)),
            }
        }
        let literal = tokens
            .iter()
            .all(|t| matches!(t, GlobToken::Literal(_)))
            .then(|| pattern.to_string());
        Glob { tokens, literal }
    }

    pub fn is_match(&self, name: &str) -> bool {
        if let Some(lit) = &self.literal {
            return lit == name;
        }
        let text: Vec<char> = name.chars().collect();
        let single = |tok: &GlobToken, c: char| match tok {
            GlobToken::Literal(l) => *l == c,
            GlobToken::AnyChar => true,
            GlobToken::Class { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated
            }
            GlobToken::AnyRun => false,
        };
        // Classic wildcard matching with single-star backtracking.
        let (mut t, mut i) = (0, 0);
        let mut backtrack: Option<(usize, usize)> = None;
        while i < text.len() {
            match self.tokens.get(t) {
                Some(GlobToken::AnyRun) => {
                    backtrack = Some((t, i));
                    t += 1;
                    continue;
                }
                Some(tok) if single(tok, text[i]) => {
                    t += 1;
                    i += 1;
                    continue;
                }
                _ => {}
            }
            match backtrack {
                Some((bt, bi)) => {
                    t = bt + 1;
                    i = bi + 1;
                    backtrack = Some((bt, bi + 1));
                }
                None => return false,
            }
        }
        self.tokens[t..]
            .iter()
            .all(|tok| matches!(tok, GlobToken::AnyRun))
    }
}

/// Python's `fnmatch.fnmatch(name, pattern)` on POSIX (case-sensitive).
pub fn fnmatch(name: &str, pattern: &str) -> bool {
    Glob::new(pattern).is_match(name)
}

fn path_components(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect()
}

/// `path:` — dbt globs the pattern under the project root and selects nodes whose file,
/// or any parent directory of it, is among the results. Without touching the filesystem
/// that is: the pathlib-style glob matches the file path or one of its directory prefixes.
struct PathPattern(Vec<Glob>, Vec<bool>);

impl PathPattern {
    fn parse(pattern: &str) -> Result<Self, SelectError> {
        if pattern.starts_with('/') {
            return Err(SelectError::new(format!(
                "Invalid path selector \"{pattern}\": non-relative patterns are unsupported"
            ))
            .with_hint("paths are relative to the project root"));
        }
        let segs = path_components(pattern);
        // pathlib refuses an empty pattern (`path:` or `path:.`), and so does dbt.
        if segs.is_empty() {
            return Err(SelectError::new(format!(
                "Invalid path selector \"{pattern}\": Unacceptable pattern"
            )));
        }
        Ok(PathPattern(
            segs.iter().map(|s| Glob::new(s)).collect(),
            segs.iter().map(|s| *s == "**").collect(),
        ))
    }

    fn glob(&self, p: usize, path: &[&str]) -> bool {
        match self.0.get(p) {
            None => path.is_empty(),
            // `**` spans zero or more directories.
            Some(_) if self.1[p] => (0..=path.len()).any(|skip| self.glob(p + 1, &path[skip..])),
            Some(g) => path.first().is_some_and(|c| g.is_match(c)) && self.glob(p + 1, &path[1..]),
        }
    }

    fn matches_file_or_parent(&self, file: &str) -> bool {
        let comps = path_components(file);
        (0..=comps.len()).any(|k| self.glob(0, &comps[..k]))
    }
}

/// dbt's `is_selected_node`, with the selector pre-split once rather than per node.
struct FqnSelector {
    whole: String,
    parts: Vec<String>,
    /// Index of the first part holding a wildcard, and a glob of the remainder.
    slurp: Option<(usize, Glob)>,
}

impl FqnSelector {
    fn new(selector: &str) -> Self {
        let parts: Vec<String> = selector.split('.').map(str::to_string).collect();
        let slurp = parts
            .iter()
            .position(|p| p.contains(['*', '?', '[', ']']))
            .map(|ix| (ix, Glob::new(&parts[ix..].join("."))));
        FqnSelector {
            whole: selector.to_string(),
            parts,
            slurp,
        }
    }

    fn matches_exact(&self, fqn: &[String]) -> bool {
        // The leaf (model name) matches outright, even when it contains dots.
        if fqn.last() == Some(&self.whole) {
            return true;
        }
        // dbt 1.12 also globs a one-part selector against the leaf (`stg_*`).
        if let (1, Some((_, glob)), Some(leaf)) = (self.parts.len(), &self.slurp, fqn.last()) {
            if glob.is_match(leaf) {
                return true;
            }
        }
        // Dots in fqn segments act as namespace separators.
        let flat: Vec<&str> = fqn.iter().flat_map(|s| s.split('.')).collect();
        if flat.len() < self.parts.len() {
            return false;
        }
        let literal_len = self.slurp.as_ref().map_or(self.parts.len(), |(ix, _)| *ix);
        if (0..literal_len).any(|i| flat[i] != self.parts[i]) {
            return false;
        }
        match &self.slurp {
            // A selector prefix matches everything below it, so `staging` selects a folder.
            None => true,
            Some((ix, glob)) => glob.is_match(&flat[*ix..].join(".")),
        }
    }

    /// dbt tries the fqn with and without its package prefix.
    fn matches(&self, fqn: &[String]) -> bool {
        self.matches_exact(fqn) || (fqn.len() > 1 && self.matches_exact(&fqn[1..]))
    }
}

// ---------------------------------------------------------------------------
// The graph
// ---------------------------------------------------------------------------

/// Which manifest collection a node lives in; dbt's methods each search a fixed
/// subset of collections (e.g. `fqn` never matches sources, `config` never exposures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `manifest.nodes`: models, seeds, snapshots, tests, analyses, operations.
    Parsed,
    Source,
    Exposure,
    Metric,
    UnitTest,
    SemanticModel,
    SavedQuery,
}

impl Kind {
    fn of(resource_type: &str) -> Kind {
        match resource_type {
            "source" => Kind::Source,
            "exposure" => Kind::Exposure,
            "metric" => Kind::Metric,
            "unit_test" => Kind::UnitTest,
            "semantic_model" => Kind::SemanticModel,
            "saved_query" => Kind::SavedQuery,
            _ => Kind::Parsed,
        }
    }
}

/// dbt's node iterators (`all_nodes`, `configurable_nodes`, ...).
#[derive(Debug, Clone, Copy)]
enum Scope {
    All,
    Parsed,
    Configurable,
    NonSource,
    Groupable,
    ParsedAndUnit,
    Only(Kind),
}

impl Scope {
    fn contains(self, kind: Kind) -> bool {
        match self {
            Scope::All => true,
            Scope::Parsed => kind == Kind::Parsed,
            Scope::Configurable => matches!(kind, Kind::Parsed | Kind::Source),
            Scope::NonSource => kind != Kind::Source,
            Scope::Groupable => matches!(kind, Kind::Parsed | Kind::Metric),
            Scope::ParsedAndUnit => matches!(kind, Kind::Parsed | Kind::UnitTest),
            Scope::Only(k) => kind == k,
        }
    }
}

/// dbt's `NodeType` values: anything else is an invalid `resource_type:`.
const NODE_TYPES: &[&str] = &[
    "model",
    "analysis",
    "test",
    "snapshot",
    "operation",
    "seed",
    "rpc",
    "sql_operation",
    "doc",
    "source",
    "macro",
    "exposure",
    "metric",
    "group",
    "saved_query",
    "semantic_model",
    "unit_test",
    "fixture",
];

type Ids = BTreeSet<NodeIndex>;

/// The selectable DAG, built once per invocation. Node `i` of `graph` is `nodes[i]`;
/// edges run parent -> child.
#[derive(Debug, Clone)]
pub struct SelectionGraph {
    nodes: Vec<SelectNode>,
    kinds: Vec<Kind>,
    graph: DiGraph<(), ()>,
    by_id: HashMap<String, NodeIndex>,
    root_package: String,
    state: Option<PreviousState>,
}

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
fn parse_loaded_at(s: &str) -> Option<chrono::NaiveDateTime> {
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
    pub fn new(nodes: Vec<SelectNode>, root_package: &str) -> Self {
        let mut graph = DiGraph::new();
        let mut by_id = HashMap::new();
        let mut kept = Vec::new();
        for mut node in nodes {
            // Macros are never selectable, and a duplicate id keeps its first definition.
            if node.resource_type == "macro" || by_id.contains_key(&node.unique_id) {
                continue;
            }
            // dbt always has an fqn; keep `fqn:*` total if a caller leaves it empty.
            if node.fqn.is_empty() {
                node.fqn = vec![node.package_name.clone(), node.name.clone()];
            }
            by_id.insert(node.unique_id.clone(), graph.add_node(()));
            kept.push(node);
        }
        for (i, node) in kept.iter().enumerate() {
            let child = NodeIndex::new(i);
            for dep in &node.depends_on {
                // Parents outside the graph (macros, disabled nodes) carry no selection edges.
                if let Some(&parent) = by_id.get(dep) {
                    if parent != child {
                        graph.update_edge(parent, child, ());
                    }
                }
            }
        }
        let kinds = kept.iter().map(|n| Kind::of(&n.resource_type)).collect();
        SelectionGraph {
            nodes: kept,
            kinds,
            graph,
            by_id,
            root_package: root_package.to_string(),
            state: None,
        }
    }

    /// The artifacts `result:` and `source_status:` compare against (`--state`).
    pub fn with_state(mut self, state: PreviousState) -> Self {
        self.state = Some(state);
        self
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn contains(&self, unique_id: &str) -> bool {
        self.by_id.contains_key(unique_id)
    }

    /// `--select` / `--exclude` as dbt takes them. An empty `select` selects everything.
    pub fn select(
        &self,
        select: &[String],
        exclude: &[String],
        indirect: IndirectSelection,
    ) -> Result<Selection, SelectError> {
        self.select_spec(&parse_difference(select, exclude)?, indirect)
    }

    /// `--selector name`: a selectors.yml definition. `indirect` is the resolved
    /// `--indirect-selection` flag; an `indirect_selection:` key in the YAML wins over it.
    pub fn select_with_selector(
        &self,
        def: &SelectorDefinition,
        indirect: IndirectSelection,
    ) -> Result<Selection, SelectError> {
        self.select_spec(&def.definition, indirect)
    }

    /// Evaluate any spec tree (dbt's `NodeSelector.get_selected`).
    pub fn select_spec(
        &self,
        spec: &SelectionSpec,
        indirect: IndirectSelection,
    ) -> Result<Selection, SelectError> {
        let mut warnings = Vec::new();
        let (direct, _indirect_only) = self.eval(spec, indirect, &mut warnings)?;
        let ids = direct
            .iter()
            .map(|ix| self.nodes[ix.index()].unique_id.clone())
            .collect();
        Ok(Selection { ids, warnings })
    }

    /// dbt's `select_nodes_recursively`: returns (direct, indirect) where `indirect` holds
    /// tests that some component wanted but that did not (yet) qualify under the mode.
    fn eval(
        &self,
        spec: &SelectionSpec,
        flag: IndirectSelection,
        warnings: &mut Vec<String>,
    ) -> Result<(Ids, Ids), SelectError> {
        let group = match spec {
            SelectionSpec::Criteria(c) => return self.eval_criteria(c, flag),
            SelectionSpec::Group(g) => g,
        };
        let mut directs = Vec::with_capacity(group.components.len());
        let mut indirects = Vec::with_capacity(group.components.len());
        for component in &group.components {
            let (direct, indirect) = self.eval(component, flag, warnings)?;
            indirects.push(direct.union(&indirect).copied().collect::<Ids>());
            directs.push(direct);
        }
        let initial = combine(group.op, directs);
        let indirect = combine(group.op, indirects);
        let mode = group.indirect_selection.unwrap_or(flag);
        let direct = self.incorporate_indirect(initial, &indirect, mode);
        if group.expect_exists && direct.is_empty() {
            warnings.push(format!(
                "The selection criterion '{}' does not match any enabled nodes",
                group.raw
            ));
        }
        Ok((direct, indirect))
    }

    /// dbt's `get_nodes_from_criteria`: match, add graph neighbours, then pull in tests.
    fn eval_criteria(
        &self,
        c: &SelectionCriteria,
        flag: IndirectSelection,
    ) -> Result<(Ids, Ids), SelectError> {
        let collected = self.search(c)?;
        let mut selected = collected.clone();
        if c.ops.childrens_parents {
            // `@`: descendants, plus every ancestor of those descendants.
            let mut below: Ids = self.reachable(&collected, Direction::Outgoing, None);
            below.extend(collected.iter().copied());
            selected.extend(self.reachable(&below, Direction::Incoming, None));
            selected.extend(below);
        }
        if c.ops.parents {
            selected.extend(self.reachable(&collected, Direction::Incoming, c.ops.parents_depth));
        }
        if c.ops.children {
            selected.extend(self.reachable(&collected, Direction::Outgoing, c.ops.children_depth));
        }
        match c.indirect_selection.unwrap_or(flag) {
            IndirectSelection::Empty => Ok((selected, Ids::new())),
            mode => Ok(self.expand_selection(selected, mode)),
        }
    }

    /// Multi-source BFS; returns the nodes reached within `depth` hops (not the starts).
    /// Equivalent to dbt's per-node `bfs_edges(..., depth_limit)` once unioned with the start
    /// set, which every caller does.
    fn reachable(&self, start: &Ids, dir: Direction, depth: Option<usize>) -> Ids {
        let mut seen: HashSet<NodeIndex> = start.iter().copied().collect();
        let mut out = Ids::new();
        let mut frontier: Vec<NodeIndex> = start.iter().copied().collect();
        let mut level = 0;
        while !frontier.is_empty() && depth.is_none_or(|d| level < d) {
            let mut next = Vec::new();
            for n in frontier {
                for m in self.graph.neighbors_directed(n, dir) {
                    if seen.insert(m) {
                        out.insert(m);
                        next.push(m);
                    }
                }
            }
            frontier = next;
            level += 1;
        }
        out
    }

    fn parents(&self, ix: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph.neighbors_directed(ix, Direction::Incoming)
    }

    fn is_test(&self, ix: NodeIndex) -> bool {
        matches!(
            self.nodes[ix.index()].resource_type.as_str(),
            "test" | "unit_test"
        )
    }

    /// dbt's `expand_selection`: tests that are direct children of the selection.
    fn expand_selection(&self, selected: Ids, mode: IndirectSelection) -> (Ids, Ids) {
        // Buildable also accepts parents that are upstream of the selection, and any source.
        let buildable_ok: Ids = if mode == IndirectSelection::Buildable {
            let mut set = self.reachable(&selected, Direction::Incoming, None);
            set.extend(selected.iter().copied());
            set.extend(
                (0..self.nodes.len())
                    .map(NodeIndex::new)
                    .filter(|ix| self.kinds[ix.index()] == Kind::Source),
            );
            set
        } else {
            Ids::new()
        };
        let mut direct = selected.clone();
        let mut indirect = Ids::new();
        let successors: Ids = selected
            .iter()
            .flat_map(|&ix| self.graph.neighbors_directed(ix, Direction::Outgoing))
            .collect();
        for ix in successors.into_iter().filter(|&ix| self.is_test(ix)) {
            let qualifies = mode == IndirectSelection::Eager
                || self.parents(ix).all(|p| selected.contains(&p))
                || (mode == IndirectSelection::Buildable
                    && self.parents(ix).all(|p| buildable_ok.contains(&p)));
            // Tests that don't qualify yet may still do so once components are combined.
            if qualifies {
                direct.insert(ix);
            } else {
                indirect.insert(ix);
            }
        }
        (direct, indirect)
    }

    /// dbt's `incorporate_indirect_nodes`: after combining components, a test left pending
    /// by one component may now have all of its parents selected (e.g. `a b` in cautious
    /// mode selects a relationships test between a and b).
    fn incorporate_indirect(&self, direct: Ids, indirect: &Ids, mode: IndirectSelection) -> Ids {
        if direct == *indirect {
            return direct;
        }
        let accept: Ids = match mode {
            IndirectSelection::Cautious => direct.clone(),
            IndirectSelection::Buildable => {
                let mut set = self.reachable(&direct, Direction::Incoming, None);
                set.extend(direct.iter().copied());
                set
            }
            IndirectSelection::Eager | IndirectSelection::Empty => return direct,
        };
        let mut selected = direct;
        for &ix in indirect {
            // dbt only re-checks `manifest.nodes` here, so unit tests are not reconsidered.
            if self.kinds[ix.index()] == Kind::Parsed
                && self.parents(ix).all(|p| accept.contains(&p))
            {
                selected.insert(ix);
            }
        }
        selected
    }

    fn matching(&self, scope: Scope, pred: impl Fn(&SelectNode) -> bool) -> Ids {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| scope.contains(self.kinds[*i]) && pred(n))
            .map(|(i, _)| NodeIndex::new(i))
            .collect()
    }

    /// dbt's per-method `search`.
    fn search(&self, c: &SelectionCriteria) -> Result<Ids, SelectError> {
        let value = c.value.as_str();
        let ids = match c.method {
            Method::Fqn => {
                let sel = FqnSelector::new(value);
                self.matching(Scope::NonSource, |n| sel.matches(&n.fqn))
            }
            Method::Tag => {
                let glob = Glob::new(value);
                self.matching(Scope::All, |n| n.tags.iter().any(|t| glob.is_match(t)))
            }
            Method::Group => self.matching(Scope::Groupable, |n| {
                n.config.get("group").and_then(Value::as_str) == Some(value)
            }),
            Method::Access => self.matching(Scope::Parsed, |n| {
                // Models without an explicit access are "protected" in dbt.
                n.resource_type == "model"
                    && n.config
                        .get("access")
                        .and_then(Value::as_str)
                        .unwrap_or("protected")
                        == value
            }),
            Method::Source => {
                let parts: Vec<&str> = value.split('.').collect();
                let (pkg, src, table) = match parts.as_slice() {
                    [src] => ("*", *src, "*"),
                    [src, table] => ("*", *src, *table),
                    [pkg, src, table] => (*pkg, *src, *table),
                    _ => {
                        return Err(SelectError::new(format!(
                        "Invalid source selector value \"{value}\". Sources must be of the form \
                             `${{source_name}}`, `${{source_name}}.${{target_name}}`, or \
                             `${{package_name}}.${{source_name}}.${{target_name}}"
                    )))
                    }
                };
                let (pkg, src, table) = (Glob::new(pkg), Glob::new(src), Glob::new(table));
                self.matching(Scope::Only(Kind::Source), |n| {
                    pkg.is_match(&n.package_name)
                        && src.is_match(n.source_name.as_deref().unwrap_or_default())
                        && table.is_match(&n.name)
                })
            }
            Method::Exposure
            | Method::Metric
            | Method::SemanticModel
            | Method::SavedQuery
            | Method::UnitTest => {
                let kind = match c.method {
                    Method::Exposure => Kind::Exposure,
                    Method::Metric => Kind::Metric,
                    Method::SemanticModel => Kind::SemanticModel,
                    Method::SavedQuery => Kind::SavedQuery,
                    _ => Kind::UnitTest,
                };
                let parts: Vec<&str> = value.split('.').collect();
                let (pkg, name) = match parts.as_slice() {
                    [name] => ("*", *name),
                    [pkg, name] => (*pkg, *name),
                    _ => {
                        let m = c.method.name();
                        return Err(SelectError::new(format!(
                            "Invalid {m} selector value \"{value}\". Values must be of the form \
                             ${{{m}_name}} or ${{package_name.{m}_name}}"
                        )));
                    }
                };
                let (pkg, name) = (Glob::new(pkg), Glob::new(name));
                self.matching(Scope::Only(kind), |n| {
                    pkg.is_match(&n.package_name) && name.is_match(&n.name)
                })
            }
            Method::Path => {
                let pattern = PathPattern::parse(value)?;
                self.matching(Scope::All, |n| {
                    pattern.matches_file_or_parent(&n.original_file_path)
                })
            }
            Method::File => {
                let glob = Glob::new(value);
                self.matching(Scope::All, |n| {
                    let name = n.original_file_path.rsplit('/').next().unwrap_or_default();
                    glob.is_match(name) || glob.is_match(file_stem(name))
                })
            }
            Method::Package => {
                let glob = Glob::new(if value == "this" {
                    &self.root_package
                } else {
                    value
                });
                self.matching(Scope::All, |n| glob.is_match(&n.package_name))
            }
            Method::Config => self.matching(Scope::Configurable, |n| {
                config_matches(&n.config, &c.method_arguments, value)
            }),
            Method::TestName => {
                let glob = Glob::new(value);
                self.matching(Scope::ParsedAndUnit, |n| match n.resource_type.as_str() {
                    // dbt matches test_metadata.name, which has no namespace; the namespaced
                    // form (`dbt_utils.expression_is_true`) is accepted too.
                    "test" => n.test_name.as_deref().is_some_and(|full| {
                        let bare = full.rsplit('.').next().unwrap_or(full);
                        glob.is_match(bare) || (bare != full && glob.is_match(full))
                    }),
                    "unit_test" => glob.is_match(&n.name),
                    _ => false,
                })
            }
            Method::TestType => {
                let wanted: &[&str] = match value {
                    "generic" | "schema" => &["generic"],
                    "singular" => &["singular"],
                    // Since 1.8 "data test" means every non-unit test.
                    "data" => &["generic", "singular"],
                    "unit" => &["unit"],
                    _ => {
                        return Err(SelectError::new(format!(
                            "Invalid test type selector {value}: expected \"generic\", \
                             \"singular\", \"unit\", or \"data\""
                        )))
                    }
                };
                self.matching(Scope::ParsedAndUnit, |n| {
                    test_kind(n).is_some_and(|k| wanted.contains(&k))
                })
            }
            Method::ResourceType => {
                if !NODE_TYPES.contains(&value) {
                    return Err(SelectError::new(format!(
                        "Invalid resource_type selector \"{value}\""
                    ))
                    .with_hint(format!("valid resource types: {}", NODE_TYPES.join(", "))));
                }
                self.matching(Scope::All, |n| n.resource_type == value)
            }
            Method::Result => {
                // dbt: every node whose status in the previous run_results.json is the value.
                let results = self
                    .state
                    .as_ref()
                    .and_then(|s| s.results.as_ref())
                    .ok_or_else(|| self.missing_state(c, "run_results.json"))?;
                const STATUSES: &[&str] = &[
                    "success",
                    "error",
                    "fail",
                    "warn",
                    "pass",
                    "skipped",
                    "runtime error",
                ];
                if !STATUSES.contains(&value) {
                    return Err(SelectError::new(format!(
                        "Invalid result selector value \"{value}\""
                    ))
                    .with_hint(format!("valid results: {}", STATUSES.join(", "))));
                }
                self.matching(Scope::All, |n| {
                    results.get(&n.unique_id).map(String::as_str) == Some(value)
                })
            }
            Method::SourceStatus => {
                let state = self.state.as_ref();
                let previous = state
                    .and_then(|s| s.sources.as_ref())
                    .ok_or_else(|| self.missing_state(c, "sources.json"))?;
                let current = state
                    .and_then(|s| s.sources_current.as_ref())
                    .ok_or_else(|| {
                        SelectError::new(format!(
                            "'{}' needs the current freshness results in target/sources.json",
                            c.raw
                        ))
                        .with_hint("run `weir source freshness` first")
                    })?;
                if value != "fresher" {
                    return Err(SelectError::new(format!(
                        "Invalid source_status selector value \"{value}\""
                    ))
                    .with_hint("the only source status is 'fresher'"));
                }
                // dbt: a source is fresher when its current max_loaded_at is later than in the
                // state's sources.json, or it was not checked then; a check that errored in
                // either run never counts.
                self.matching(Scope::All, |n| match current.get(&n.unique_id) {
                    Some(Some(now)) => match previous.get(&n.unique_id) {
                        None => true,
                        Some(Some(before)) => now > before,
                        Some(None) => false,
                    },
                    _ => false,
                })
            }
            Method::State | Method::Version | Method::Wildcard => {
                return Err(SelectError::new(format!(
                    "unsupported selector method {}",
                    c.method.name()
                ))
                .with_hint(format!(
                    "weir does not implement `{}:` selection yet (in '{}')",
                    c.method.name(),
                    c.raw
                )))
            }
        };
        Ok(ids)
    }
}

impl SelectionGraph {
    fn missing_state(&self, c: &SelectionCriteria, file: &str) -> SelectError {
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

fn combine(op: SetOp, sets: Vec<Ids>) -> Ids {
    let mut iter = sets.into_iter();
    let Some(first) = iter.next() else {
        return Ids::new();
    };
    match op {
        SetOp::Union => iter.fold(first, |mut acc, s| {
            acc.extend(s);
            acc
        }),
        SetOp::Intersection => iter.fold(first, |acc, s| acc.intersection(&s).copied().collect()),
        SetOp::Difference => iter.fold(first, |acc, s| acc.difference(&s).copied().collect()),
    }
}

/// Python's `Path(name).stem`.
fn file_stem(name: &str) -> &str {
    match name.rfind('.') {
        Some(ix) if ix > 0 => &name[..ix],
        _ => name,
    }
}

/// "generic" | "singular" | "unit" for tests, `None` for everything else.
fn test_kind(n: &SelectNode) -> Option<&'static str> {
    match n.resource_type.as_str() {
        "unit_test" => Some("unit"),
        "test" => Some(match n.test_type.as_deref() {
            Some("generic" | "schema") => "generic",
            Some("unit") => "unit",
            Some(_) => "singular",
            None if n.test_name.is_some() => "generic",
            None => "singular",
        }),
        _ => None,
    }
}

/// dbt's `ConfigSelectorMethod`: walk `config.a.b`, then compare. Lists match when they
/// contain the value; booleans match "true"/"false" in any case; `severity` compares
/// case-insensitively. Numbers compare by their text (dbt only matches them from YAML).
fn config_matches(config: &Value, path: &[String], selector: &str) -> bool {
    let mut current = config;
    for key in path {
        match current.get(key.as_str()) {
            Some(v) => current = v,
            None => return false,
        }
    }
    let case_insensitive = path.len() == 1 && path[0] == "severity";
    let scalar = |v: &Value| match v {
        Value::String(s) if case_insensitive => s.to_uppercase() == selector.to_uppercase(),
        Value::String(s) => s == selector,
        Value::Bool(b) => selector.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Value::Number(n) => n.to_string() == selector,
        _ => false,
    };
    match current {
        Value::Array(items) => items.iter().any(scalar),
        other => scalar(other),
    }
}

#[cfg(test)]
mod tests {
    use super::super::selectors_yml::{default_selector, parse_selectors};
    use super::*;
    use serde_json::json;

    fn node(uid: &str, deps: &[&str]) -> SelectNode {
        let parts: Vec<&str> = uid.split('.').collect();
        let resource_type = parts[0].to_string();
        let package = parts[1].to_string();
        let name = parts.last().copied().unwrap_or_default().to_string();
        SelectNode {
            unique_id: uid.to_string(),
            name: name.clone(),
            resource_type,
            package_name: package.clone(),
            fqn: vec![package, name],
            original_file_path: String::new(),
            tags: vec![],
            config: json!({"enabled": true}),
            source_name: None,
            test_type: None,
            test_name: None,
            depends_on: deps.iter().map(|s| s.to_string()).collect(),
            attached_node: None,
        }
    }

    fn model(name: &str, folder: &str, deps: &[&str], tags: &[&str], config: Value) -> SelectNode {
        let mut n = node(&format!("model.shop.{name}"), deps);
        n.fqn = vec!["shop".into(), folder.into(), name.into()];
        n.original_file_path = format!("models/{folder}/{name}.sql");
        n.tags = tags.iter().map(|s| s.to_string()).collect();
        n.config = config;
        n
    }

    fn test(
        name: &str,
        deps: &[&str],
        test_name: Option<&str>,
        path: &str,
        severity: &str,
    ) -> SelectNode {
        let mut n = node(&format!("test.shop.{name}.abc123"), deps);
        n.name = name.into();
        n.fqn = vec!["shop".into(), name.into()];
        n.original_file_path = path.into();
        n.test_name = test_name.map(str::to_string);
        n.test_type = Some(
            if test_name.is_some() {
                "generic"
            } else {
                "singular"
            }
            .into(),
        );
        n.attached_node = deps.first().map(|s| s.to_string());
        n.config = json!({"enabled": true, "severity": severity});
        n
    }

    /// seeds -> staging -> marts, with a source, tests, a unit test, an exposure,
    /// an analysis, a snapshot, a package model and a macro.
    fn graph() -> SelectionGraph {
        let mut raw_orders = node("seed.shop.raw_orders", &[]);
        raw_orders.original_file_path = "seeds/raw_orders.csv".into();
        let mut raw_customers = node("seed.shop.raw_customers", &[]);
        raw_customers.original_file_path = "seeds/raw_customers.csv".into();

        let mut payments = node("source.shop.ext.payments", &[]);
        payments.source_name = Some("ext".into());
        payments.fqn = vec![
            "shop".into(),
            "staging".into(),
            "ext".into(),
            "payments".into(),
        ];
        payments.original_file_path = "models/staging/sources.yml".into();

        let mut unit = node(
            "unit_test.shop.orders.test_orders_math",
            &["model.shop.orders"],
        );
        unit.fqn = vec![
            "shop".into(),
            "marts".into(),
            "orders".into(),
            "test_orders_math".into(),
        ];
        unit.original_file_path = "models/marts/_unit.yml".into();
        unit.test_type = Some("unit".into());
        unit.attached_node = Some("model.shop.orders".into());

        let mut exposure = node("exposure.shop.dashboard", &["model.shop.customers"]);
        exposure.original_file_path = "models/marts/exposures.yml".into();

        let mut analysis = node("analysis.shop.adhoc", &["model.shop.orders"]);
        analysis.fqn = vec!["shop".into(), "analysis".into(), "adhoc".into()];
        analysis.original_file_path = "analyses/adhoc.sql".into();

        let mut snap = node("snapshot.shop.orders_snap", &["model.shop.stg_orders"]);
        snap.fqn = vec!["shop".into(), "orders_snap".into(), "orders_snap".into()];
        snap.original_file_path = "snapshots/orders_snap.sql".into();

        let mut util = node("model.dbt_utils.util_model", &[]);
        util.original_file_path = "models/util_model.sql".into();

        let nodes = vec![
            raw_orders,
            raw_customers,
            payments,
            model(
                "stg_orders",
                "staging",
                &["seed.shop.raw_orders"],
                &["nightly"],
                json!({"materialized": "view", "tags": ["nightly"], "enabled": true}),
            ),
            model(
                "stg_customers",
                "staging",
                &["seed.shop.raw_customers"],
                &[],
                json!({"materialized": "view", "meta": {"owner": "alice"}, "enabled": true}),
            ),
            model(
                "stg_payments",
                "staging",
                &["source.shop.ext.payments"],
                &["nightly", "finance"],
                json!({"materialized": "view", "tags": ["nightly", "finance"], "enabled": true}),
            ),
            model(
                "orders",
                "marts",
                &["model.shop.stg_orders", "model.shop.stg_payments"],
                &["finance"],
                json!({"materialized": "table", "meta": {"owner": "bob"}, "contract": {"enforced": true},
                       "group": "sales", "access": "public", "retries": 3}),
            ),
            model(
                "customers",
                "marts",
                &["model.shop.stg_customers", "model.shop.orders"],
                &[],
                json!({"materialized": "table", "contract": {"enforced": false}}),
            ),
            test(
                "not_null_stg_orders_order_id",
                &["model.shop.stg_orders"],
                Some("not_null"),
                "models/staging/schema.yml",
                "ERROR",
            ),
            test(
                "unique_stg_customers_customer_id",
                &["model.shop.stg_customers"],
                Some("unique"),
                "models/staging/schema.yml",
                "ERROR",
            ),
            test(
                "relationships_orders_customer_id",
                &["model.shop.orders", "model.shop.customers"],
                Some("relationships"),
                "models/marts/schema.yml",
                "warn",
            ),
            test(
                "source_not_null_ext_payments_id",
                &["source.shop.ext.payments"],
                Some("not_null"),
                "models/staging/sources.yml",
                "ERROR",
            ),
            test(
                "assert_positive_total",
                &["model.shop.orders"],
                None,
                "tests/assert_positive_total.sql",
                "ERROR",
            ),
            test(
                "expression_is_true_orders",
                &["model.shop.orders"],
                Some("dbt_utils.expression_is_true"),
                "models/marts/schema.yml",
                "ERROR",
            ),
            unit,
            exposure,
            analysis,
            snap,
            util,
            node("macro.shop.cents_to_dollars", &[]),
        ];
        SelectionGraph::new(nodes, "shop")
    }

    /// Short names of the selected ids, sorted, for compact assertions.
    fn names(sel: &Selection) -> Vec<String> {
        sel.ids
            .iter()
            .map(|id| {
                let parts: Vec<&str> = id.split('.').collect();
                match parts[0] {
                    "test" => parts[2].to_string(),
                    _ => parts.last().copied().unwrap_or_default().to_string(),
                }
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn run(
        g: &SelectionGraph,
        select: &str,
        exclude: &str,
        mode: IndirectSelection,
    ) -> Vec<String> {
        names(
            &g.select(&words(select), &words(exclude), mode)
                .expect(select),
        )
    }

    /// Graph-operator checks use `empty` so tests don't ride along.
    fn sel(g: &SelectionGraph, select: &str) -> Vec<String> {
        run(g, select, "", IndirectSelection::Empty)
    }

    fn eager(g: &SelectionGraph, select: &str) -> Vec<String> {
        run(g, select, "", IndirectSelection::Eager)
    }

    fn err(g: &SelectionGraph, select: &str) -> SelectError {
        g.select(&words(select), &[], IndirectSelection::Eager)
            .expect_err(select)
    }

    fn v(items: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        out.sort();
        out
    }

    #[test]
    fn spec_grammar() {
        let c = SelectionCriteria::from_single_spec("1+config.meta.owner:bob+2", None).unwrap();
        assert_eq!(c.method, Method::Config);
        assert_eq!(c.method_arguments, vec!["meta", "owner"]);
        assert_eq!(c.value, "bob");
        assert_eq!(
            c.ops,
            GraphOperators {
                parents: true,
                parents_depth: Some(1),
                children: true,
                children_depth: Some(2),
                ..Default::default()
            }
        );
        let c = SelectionCriteria::from_single_spec("@stg_orders", None).unwrap();
        assert!(c.ops.childrens_parents && !c.ops.parents && !c.ops.children);
        assert_eq!(c.method, Method::Fqn);
        assert_eq!(
            SelectionCriteria::from_single_spec("models/staging", None)
                .unwrap()
                .method,
            Method::Path
        );
        assert_eq!(
            SelectionCriteria::from_single_spec("orders.SQL", None)
                .unwrap()
                .method,
            Method::File
        );
        assert_eq!(
            SelectionCriteria::from_single_spec("schema.yml", None)
                .unwrap()
                .method,
            Method::Fqn
        );
        assert!(SelectionCriteria::from_single_spec("@a+", None)
            .unwrap_err()
            .message
            .contains("incompatible"));
        let e = SelectionCriteria::from_single_spec("foo:bar", None).unwrap_err();
        assert_eq!(e.message, "'foo' is not a valid method name");
        assert!(e.hint.unwrap().contains("resource_type"));
    }

    #[test]
    fn glob_matching() {
        assert!(fnmatch("stg_orders", "stg_*"));
        assert!(fnmatch("a.b/c", "*"));
        assert!(fnmatch("abc", "a?c"));
        assert!(fnmatch("abc", "[a-c]bc") && !fnmatch("dbc", "[a-c]bc"));
        assert!(fnmatch("dbc", "[!a-c]bc") && !fnmatch("abc", "[!a-c]bc"));
        assert!(fnmatch("[x", "[x"), "unclosed bracket is literal");
        assert!(fnmatch("]", "[]]"));
        assert!(fnmatch("aXbXc", "a*b*c") && !fnmatch("aXbXd", "a*b*c"));
        assert!(fnmatch("", "*") && !fnmatch("", "?"));
        assert_eq!(file_stem("orders.sql"), "orders");
        assert_eq!(file_stem(".hidden"), ".hidden");
    }

    #[test]
    fn bare_names_and_fqn() {
        let g = graph();
        assert_eq!(sel(&g, "stg_orders"), v(&["stg_orders"]));
        // A folder name selects everything under it (fqn prefix), with or without package.
        assert_eq!(
            sel(&g, "staging"),
            v(&["stg_orders", "stg_customers", "stg_payments"])
        );
        assert_eq!(
            sel(&g, "shop.staging"),
            v(&["stg_orders", "stg_customers", "stg_payments"])
        );
        assert_eq!(
            sel(&g, "fqn:staging.*"),
            v(&["stg_orders", "stg_customers", "stg_payments"])
        );
        assert_eq!(sel(&g, "staging.stg_c*"), v(&["stg_customers"]));
        assert_eq!(
            sel(&g, "*.marts.*"),
            v(&["orders", "customers", "test_orders_math"])
        );
        // fqn never matches sources; it does match exposures and unit tests.
        assert_eq!(sel(&g, "payments"), Vec::<String>::new());
        assert_eq!(sel(&g, "dashboard"), v(&["dashboard"]));
        assert_eq!(sel(&g, "test_orders_math"), v(&["test_orders_math"]));
        assert_eq!(sel(&g, "dbt_utils"), v(&["util_model"]));
        // Everything except sources and the macro.
        assert_eq!(sel(&g, "fqn:*").len(), g.len() - 1);
        assert!(!g.contains("macro.shop.cents_to_dollars"));
    }

    #[test]
    fn graph_operators() {
        let g = graph();
        assert_eq!(
            sel(&g, "+orders"),
            v(&[
                "orders",
                "stg_orders",
                "stg_payments",
                "raw_orders",
                "payments"
            ])
        );
        assert_eq!(
            sel(&g, "1+orders"),
            v(&["orders", "stg_orders", "stg_payments"])
        );
        assert_eq!(sel(&g, "0+orders"), v(&["orders"]));
        // Children include tests and other resource types.
        assert_eq!(
            sel(&g, "customers+"),
            v(&["customers", "relationships_orders_customer_id", "dashboard"])
        );
        assert_eq!(
            sel(&g, "1+stg_orders+1"),
            v(&[
                "stg_orders",
                "raw_orders",
                "orders",
                "orders_snap",
                "not_null_stg_orders_order_id"
            ])
        );
        assert_eq!(
            sel(&g, "orders+1"),
            v(&[
                "orders",
                "customers",
                "adhoc",
                "test_orders_math",
                "relationships_orders_customer_id",
                "assert_positive_total",
                "expression_is_true_orders"
            ])
        );
        // `@`: descendants plus all their ancestors (through tests, too).
        assert_eq!(
            sel(&g, "@stg_customers"),
            v(&[
                "stg_customers",
                "unique_stg_customers_customer_id",
                "customers",
                "relationships_orders_customer_id",
                "dashboard",
                "raw_customers",
                "orders",
                "stg_orders",
                "stg_payments",
                "raw_orders",
                "payments"
            ])
        );
        assert!(err(&g, "@orders+").message.contains("incompatible"));
        assert!(err(&g, "99999999999999999999999+orders")
            .message
            .contains("parent depth"));
    }

    #[test]
    fn methods() {
        let g = graph();
        assert_eq!(sel(&g, "tag:nightly"), v(&["stg_orders", "stg_payments"]));
        assert_eq!(sel(&g, "tag:fin*"), v(&["stg_payments", "orders"]));
        assert_eq!(
            sel(&g, "path:models/staging"),
            v(&[
                "stg_orders",
                "stg_customers",
                "stg_payments",
                "payments",
                "not_null_stg_orders_order_id",
                "unique_stg_customers_customer_id",
                "source_not_null_ext_payments_id"
            ])
        );
        assert_eq!(sel(&g, "models/staging/stg_orders.sql"), v(&["stg_orders"]));
        assert_eq!(
            sel(&g, "path:./models/marts/*.sql/"),
            v(&["orders", "customers"])
        );
        assert_eq!(sel(&g, "path:models/**/orders.sql"), v(&["orders"]));
        assert_eq!(sel(&g, "path:seeds"), v(&["raw_orders", "raw_customers"]));
        assert_eq!(
            sel(&g, "path:model"),
            Vec::<String>::new(),
            "no partial-segment matches"
        );
        assert!(err(&g, "path:/etc").message.contains("non-relative"));
        assert!(err(&g, "path:.").message.contains("Unacceptable pattern"));
        assert_eq!(sel(&g, "file:orders.sql"), v(&["orders"]));
        assert_eq!(sel(&g, "file:orders"), v(&["orders"]));
        assert_eq!(sel(&g, "orders.sql"), v(&["orders"]));
        assert_eq!(sel(&g, "raw_*.csv"), v(&["raw_orders", "raw_customers"]));
        assert_eq!(sel(&g, "source:ext"), v(&["payments"]));
        assert_eq!(sel(&g, "source:ext.payments"), v(&["payments"]));
        assert_eq!(sel(&g, "source:shop.e*.*"), v(&["payments"]));
        assert_eq!(sel(&g, "source:other.payments"), Vec::<String>::new());
        assert!(err(&g, "source:a.b.c.d")
            .message
            .contains("Invalid source selector"));
        assert_eq!(
            sel(&g, "resource_type:seed"),
            v(&["raw_orders", "raw_customers"])
        );
        assert_eq!(sel(&g, "resource_type:source"), v(&["payments"]));
        assert_eq!(sel(&g, "resource_type:exposure"), v(&["dashboard"]));
        assert_eq!(sel(&g, "resource_type:macro"), Vec::<String>::new());
        assert!(err(&g, "resource_type:bogus")
            .message
            .contains("Invalid resource_type"));
        assert_eq!(sel(&g, "package:dbt_utils"), v(&["util_model"]));
        assert_eq!(sel(&g, "package:dbt_*"), v(&["util_model"]));
        assert_eq!(sel(&g, "package:this").len(), g.len() - 1);
        assert_eq!(sel(&g, "exposure:dashboard"), v(&["dashboard"]));
        assert_eq!(sel(&g, "exposure:shop.dash*"), v(&["dashboard"]));
        assert_eq!(sel(&g, "unit_test:test_orders_*"), v(&["test_orders_math"]));
        assert_eq!(sel(&g, "group:sales"), v(&["orders"]));
        assert_eq!(sel(&g, "access:public"), v(&["orders"]));
        assert_eq!(
            sel(&g, "access:protected"),
            v(&[
                "stg_orders",
                "stg_customers",
                "stg_payments",
                "customers",
                "util_model"
            ])
        );
        assert_eq!(sel(&g, "metric:*"), Vec::<String>::new());
        let e = err(&g, "version:latest");
        assert_eq!(e.message, "unsupported selector method version");
        assert!(err(&g, "state:modified")
            .message
            .contains("unsupported selector method state"));
        assert!(err(&g, "bogus:x")
            .message
            .contains("'bogus' is not a valid method name"));
    }

    #[test]
    fn result_and_source_status_compare_with_state() {
        let g = graph();
        // Without --state, the methods say what they need.
        let e = err(&g, "result:fail");
        assert!(e.message.contains("no --state"), "{}", e.message);
        assert!(err(&g, "source_status:fresher")
            .message
            .contains("no --state"));

        let at = |s: &str| parse_loaded_at(s);
        let state = PreviousState {
            dir: "prev".into(),
            results: Some(
                [
                    ("model.shop.stg_orders", "error"),
                    ("model.shop.orders", "skipped"),
                    ("seed.shop.raw_orders", "success"),
                ]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            ),
            sources: Some(
                [(
                    "source.shop.ext.payments".to_string(),
                    at("2024-01-01 00:00:00"),
                )]
                .into_iter()
                .collect(),
            ),
            sources_current: Some(
                [(
                    "source.shop.ext.payments".to_string(),
                    at("2024-01-02T00:00:00+00:00"),
                )]
                .into_iter()
                .collect(),
            ),
        };
        let g = g.with_state(state.clone());
        assert_eq!(sel(&g, "result:error"), v(&["stg_orders"]));
        assert_eq!(sel(&g, "result:skipped"), v(&["orders"]));
        assert_eq!(sel(&g, "result:fail"), Vec::<String>::new());
        // Graph operators apply as to any method.
        let down = sel(&g, "result:error+");
        assert!(down.contains(&"orders".to_string()), "{down:?}");
        assert!(!down.contains(&"stg_customers".to_string()), "{down:?}");
        assert!(err(&g, "result:bogus").message.contains("Invalid result"));

        assert_eq!(sel(&g, "source_status:fresher"), v(&["payments"]));
        let with_children = sel(&g, "source_status:fresher+");
        assert!(with_children.len() > 1, "{with_children:?}");
        // Not fresher when max_loaded_at did not move, or when the check errored.
        let mut same = state.clone();
        same.sources_current = same.sources.clone();
        let g2 = graph().with_state(same);
        assert_eq!(sel(&g2, "source_status:fresher"), Vec::<String>::new());
        let mut errored = state;
        errored.sources_current = Some(
            [("source.shop.ext.payments".to_string(), None)]
                .into_iter()
                .collect(),
        );
        let g3 = graph().with_state(errored);
        assert_eq!(sel(&g3, "source_status:fresher"), Vec::<String>::new());
    }

    #[test]
    fn config_method() {
        let g = graph();
        assert_eq!(
            sel(&g, "config.materialized:table"),
            v(&["orders", "customers"])
        );
        assert_eq!(sel(&g, "config.meta.owner:alice"), v(&["stg_customers"]));
        assert_eq!(
            sel(&g, "config.tags:nightly"),
            v(&["stg_orders", "stg_payments"])
        );
        assert_eq!(sel(&g, "config.contract.enforced:true"), v(&["orders"]));
        assert_eq!(sel(&g, "config.contract.enforced:False"), v(&["customers"]));
        assert_eq!(sel(&g, "config.retries:3"), v(&["orders"]));
        // severity compares case-insensitively; other keys do not.
        assert_eq!(
            sel(&g, "config.severity:warn"),
            v(&["relationships_orders_customer_id"])
        );
        assert_eq!(
            sel(&g, "config.severity:WARN"),
            v(&["relationships_orders_customer_id"])
        );
        assert_eq!(sel(&g, "config.materialized:TABLE"), Vec::<String>::new());
        // config never looks at exposures or unit tests; missing keys never match
        // (orders and customers carry no `enabled` key in this fixture).
        assert_eq!(sel(&g, "config.enabled:true").len(), 15);
        assert_eq!(sel(&g, "config.nope.deeper:x"), Vec::<String>::new());
        assert_eq!(sel(&g, "config:table"), Vec::<String>::new());
    }

    #[test]
    fn test_methods() {
        let g = graph();
        let generic = v(&[
            "not_null_stg_orders_order_id",
            "unique_stg_customers_customer_id",
            "relationships_orders_customer_id",
            "source_not_null_ext_payments_id",
            "expression_is_true_orders",
        ]);
        assert_eq!(sel(&g, "test_type:generic"), generic);
        assert_eq!(sel(&g, "test_type:schema"), generic);
        assert_eq!(sel(&g, "test_type:singular"), v(&["assert_positive_total"]));
        assert_eq!(sel(&g, "test_type:unit"), v(&["test_orders_math"]));
        assert_eq!(sel(&g, "test_type:data").len(), generic.len() + 1);
        assert!(err(&g, "test_type:bogus")
            .message
            .contains("Invalid test type selector"));
        assert_eq!(
            sel(&g, "test_name:not_null"),
            v(&[
                "not_null_stg_orders_order_id",
                "source_not_null_ext_payments_id"
            ])
        );
        assert_eq!(
            sel(&g, "test_name:expression_is_true"),
            v(&["expression_is_true_orders"])
        );
        assert_eq!(
            sel(&g, "test_name:dbt_utils.expression_is_true"),
            v(&["expression_is_true_orders"])
        );
        assert_eq!(
            sel(&g, "test_name:test_orders_math"),
            v(&["test_orders_math"])
        );
        assert_eq!(sel(&g, "resource_type:test").len(), 6);
    }

    #[test]
    fn unions_intersections_excludes() {
        let g = graph();
        assert_eq!(
            sel(&g, "stg_orders stg_customers"),
            v(&["stg_orders", "stg_customers"])
        );
        // One shell word holding a space is split like dbt does.
        assert_eq!(
            names(
                &g.select(
                    &["stg_orders stg_customers".into()],
                    &[],
                    IndirectSelection::Empty
                )
                .unwrap()
            ),
            v(&["stg_orders", "stg_customers"])
        );
        assert_eq!(
            sel(&g, "tag:nightly,path:models/staging"),
            v(&["stg_orders", "stg_payments"])
        );
        assert_eq!(sel(&g, "+orders,+customers"), sel(&g, "+orders"));
        assert_eq!(
            sel(&g, "stg_orders+,stg_payments+"),
            v(&[
                "orders",
                "customers",
                "adhoc",
                "dashboard",
                "test_orders_math",
                "relationships_orders_customer_id",
                "assert_positive_total",
                "expression_is_true_orders"
            ])
        );
        // Each intersection term brings its own tests before intersecting.
        assert_eq!(
            eager(&g, "tag:nightly,path:models/staging"),
            v(&["stg_orders", "stg_payments", "not_null_stg_orders_order_id"])
        );
        assert_eq!(
            run(&g, "+orders", "stg_payments", IndirectSelection::Empty),
            v(&["orders", "stg_orders", "raw_orders", "payments"])
        );
        // Excluding a model excludes its tests, even ones that touch other models.
        assert_eq!(
            run(
                &g,
                "orders customers",
                "customers",
                IndirectSelection::Eager
            ),
            v(&[
                "orders",
                "test_orders_math",
                "assert_positive_total",
                "expression_is_true_orders"
            ])
        );
        assert_eq!(
            run(
                &g,
                "path:models/staging",
                "source:ext",
                IndirectSelection::Eager
            ),
            v(&[
                "stg_orders",
                "stg_customers",
                "stg_payments",
                "not_null_stg_orders_order_id",
                "unique_stg_customers_customer_id"
            ])
        );
    }

    #[test]
    fn indirect_selection_modes() {
        let g = graph();
        let orders_tests = [
            "test_orders_math",
            "assert_positive_total",
            "expression_is_true_orders",
        ];
        let mut with_rel = orders_tests.to_vec();
        with_rel.extend(["orders", "relationships_orders_customer_id"]);
        assert_eq!(
            run(&g, "orders", "", IndirectSelection::Eager),
            v(&with_rel)
        );
        let mut cautious = orders_tests.to_vec();
        cautious.push("orders");
        assert_eq!(
            run(&g, "orders", "", IndirectSelection::Cautious),
            v(&cautious)
        );
        assert_eq!(
            run(&g, "orders", "", IndirectSelection::Buildable),
            v(&cautious)
        );
        assert_eq!(
            run(&g, "orders", "", IndirectSelection::Empty),
            v(&["orders"])
        );
        // Cautious: a test pending in one word is picked up when another word selects its other parent.
        let both = run(&g, "orders customers", "", IndirectSelection::Cautious);
        assert!(both.contains(&"relationships_orders_customer_id".to_string()));
        // Buildable: parents upstream of the selection count.
        assert_eq!(
            run(&g, "customers", "", IndirectSelection::Buildable),
            v(&["customers", "relationships_orders_customer_id"])
        );
        assert_eq!(
            run(&g, "customers", "", IndirectSelection::Cautious),
            v(&["customers"])
        );
        // Source tests follow their source.
        assert_eq!(
            run(&g, "source:ext", "", IndirectSelection::Cautious),
            v(&["payments", "source_not_null_ext_payments_id"])
        );
        // Directly selected tests stay whatever the mode.
        assert_eq!(
            run(&g, "test_type:singular", "", IndirectSelection::Empty),
            v(&["assert_positive_total"])
        );
    }

    #[test]
    fn defaults_and_warnings() {
        let g = graph();
        let all = g.select(&[], &[], IndirectSelection::Eager).unwrap();
        assert_eq!(all.ids.len(), g.len());
        assert!(all.warnings.is_empty());
        let some = g
            .select(&[], &words("tag:nightly"), IndirectSelection::Eager)
            .unwrap();
        assert_eq!(
            some.ids.len(),
            g.len() - 3,
            "two models and the test on stg_orders"
        );

        let none = g
            .select(
                &words("nope stg_orders"),
                &words("zilch"),
                IndirectSelection::Eager,
            )
            .unwrap();
        assert_eq!(
            names(&none),
            v(&["stg_orders", "not_null_stg_orders_order_id"])
        );
        assert_eq!(
            none.warnings,
            vec![
                "The selection criterion 'nope' does not match any enabled nodes".to_string(),
                "The selection criterion 'zilch' does not match any enabled nodes".to_string(),
            ]
        );
        let empty_intersection = g
            .select(
                &words("tag:nightly,tag:nope"),
                &[],
                IndirectSelection::Eager,
            )
            .unwrap();
        assert!(empty_intersection.ids.is_empty());
        assert_eq!(empty_intersection.warnings.len(), 1);
        assert!(empty_intersection.warnings[0].contains("'tag:nightly,tag:nope'"));
    }

    const SELECTORS: &str = r#"
selectors:
  - name: nightly_cli
    description: plain CLI string
    definition: "+tag:nightly"
  - name: key_value
    definition:
      tag: finance
  - name: full
    definition:
      method: fqn
      value: stg_orders
      children: true
      children_depth: 1
      parents: true
      indirect_selection: empty
  - name: staging_no_payments
    default: true
    definition:
      union:
        - method: path
          value: models/staging
          indirect_selection: empty
        - exclude:
            - stg_payments
            - source:ext
  - name: common
    definition:
      intersection:
        - "+orders"
        - "+customers"
        - "resource_type:model"
  - name: reuse
    definition:
      union:
        - method: selector
          value: key_value
        - "resource_type:seed"
  - name: dict_exclude
    definition:
      method: tag
      value: nightly
      exclude:
        - stg_orders
  - name: at_sign
    definition:
      method: fqn
      value: stg_customers
      childrens_parents: true
      indirect_selection: empty
  - name: string_is_one_term
    definition: "tag:nightly,path:models/staging"
"#;

    #[test]
    fn selectors_yml() {
        let g = graph();
        let sels = parse_selectors(SELECTORS).unwrap();
        // File order is kept.
        assert_eq!(
            sels.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "nightly_cli",
                "key_value",
                "full",
                "staging_no_payments",
                "common",
                "reuse",
                "dict_exclude",
                "at_sign",
                "string_is_one_term"
            ]
        );
        assert_eq!(default_selector(&sels).unwrap().name, "staging_no_payments");
        assert_eq!(sels["nightly_cli"].description, "plain CLI string");
        let pick = |name: &str, mode| names(&g.select_with_selector(&sels[name], mode).unwrap());

        assert_eq!(
            pick("nightly_cli", IndirectSelection::Empty),
            v(&["stg_orders", "stg_payments", "raw_orders", "payments"])
        );
        assert_eq!(
            pick("key_value", IndirectSelection::Empty),
            v(&["stg_payments", "orders"])
        );
        // `indirect_selection:` in YAML wins over the flag.
        assert_eq!(
            pick("full", IndirectSelection::Eager),
            v(&[
                "stg_orders",
                "raw_orders",
                "orders",
                "orders_snap",
                "not_null_stg_orders_order_id"
            ])
        );
        assert_eq!(
            pick("staging_no_payments", IndirectSelection::Eager),
            v(&[
                "stg_orders",
                "stg_customers",
                "not_null_stg_orders_order_id",
                "unique_stg_customers_customer_id"
            ])
        );
        assert_eq!(
            pick("common", IndirectSelection::Empty),
            v(&["orders", "stg_orders", "stg_payments"])
        );
        // Eager: every term brings the tests of what it matched, so tests on the common
        // models survive the intersection (as in dbt).
        assert_eq!(
            pick("common", IndirectSelection::Eager),
            v(&[
                "orders",
                "stg_orders",
                "stg_payments",
                "not_null_stg_orders_order_id",
                "relationships_orders_customer_id",
                "assert_positive_total",
                "expression_is_true_orders",
                "test_orders_math"
            ])
        );
        assert_eq!(
            pick("reuse", IndirectSelection::Empty),
            v(&["stg_payments", "orders", "raw_orders", "raw_customers"])
        );
        // Without a YAML override the flag applies.
        assert_eq!(
            pick("reuse", IndirectSelection::Cautious),
            v(&[
                "stg_payments",
                "orders",
                "raw_orders",
                "raw_customers",
                "test_orders_math",
                "assert_positive_total",
                "expression_is_true_orders"
            ])
        );
        assert_eq!(
            pick("dict_exclude", IndirectSelection::Eager),
            v(&["stg_payments"])
        );
        assert_eq!(
            pick("at_sign", IndirectSelection::Eager),
            sel(&g, "@stg_customers")
        );
        // dbt parses a string definition as ONE term: commas and spaces are not set operators.
        assert_eq!(
            pick("string_is_one_term", IndirectSelection::Eager),
            Vec::<String>::new()
        );
        // YAML selectors never emit "does not match" warnings.
        assert!(g
            .select_with_selector(&sels["string_is_one_term"], IndirectSelection::Eager)
            .unwrap()
            .warnings
            .is_empty());
    }

    #[test]
    fn selectors_yml_errors() {
        let bad = |yaml: &str| parse_selectors(yaml).unwrap_err().message;
        assert!(bad("selectors:\n  - {name: a, default: true, definition: x}\n  - {name: b, default: true, definition: y}\n")
            .contains("multiple selectors with `default: true`"));
        assert!(
            bad("selectors:\n  - name: a\n    definition:\n      union: [a]\n      tag: x\n")
                .contains("Only a single 'union' or 'intersection' key")
        );
        assert!(bad("selectors:\n  - name: a\n    definition: [a, b]\n").contains("No lists"));
        assert!(bad("selectors:\n  - name: a\n    definition: {method: selector, value: later}\n  - {name: later, definition: x}\n")
            .contains("Existing selector definition for later not found"));
        assert!(bad("selectors:\n  - name: a\n    definition:\n      union:\n        - exclude: [a]\n        - exclude: [b]\n")
            .contains("multiple exclude"));
        assert!(
            bad("selectors:\n  - name: a\n    definition: {method: tag}\n")
                .contains("'method' is not a valid method name")
        );
        assert!(
            bad("selectors:\n  - name: a\n    definition: {method: tag, foo: 1, bar: 2}\n")
                .contains("Expected either 1 key or else \"method\" and \"value\" keys")
        );
        assert!(bad("selectors:\n  - name: a\n    definition: {bogus: x}\n")
            .contains("'bogus' is not a valid method name"));
        assert!(bad("selectors:\n  - name: a\n    definition: {union: a}\n")
            .contains("Expected a list"));
        assert!(
            bad("selectors:\n  - name: a\n    definition: {union: [1]}\n")
                .contains("expected dict or str")
        );
        assert!(bad("selectors:\n  - name: a\n    definition: {method: tag, value: x, indirect_selection: lazy}\n")
            .contains("not a valid IndirectSelection"));
        assert!(bad("selectors:\n  - definition: x\n").contains("name"));
        assert!(bad("selectors: 3\n").contains("selectors"));
        assert!(bad("selectors: [\n").contains("Could not parse"));
        // Unsupported methods still parse (they only fail when used).
        assert!(
            parse_selectors("selectors:\n  - {name: a, definition: 'state:modified'}\n").is_ok()
        );
        assert!(parse_selectors("").unwrap().is_empty());
        assert!(default_selector(&parse_selectors("selectors: []").unwrap()).is_none());
    }

    #[test]
    fn selectors_yml_scalars_and_anchors() {
        let g = graph();
        let sels = parse_selectors(
            r#"
selectors:
  - name: base
    definition: &base
      method: config.contract.enforced
      value: true
  - name: merged
    default: "False"
    definition:
      <<: *base
      parents: true
      parents_depth: 1
      indirect_selection: empty
  - name: zero_depth_is_unlimited
    definition: {method: fqn, value: orders, parents: true, parents_depth: 0, indirect_selection: empty}
"#,
        )
        .unwrap();
        assert!(default_selector(&sels).is_none());
        assert_eq!(
            names(
                &g.select_with_selector(&sels["base"], IndirectSelection::Empty)
                    .unwrap()
            ),
            v(&["orders"])
        );
        assert_eq!(
            names(
                &g.select_with_selector(&sels["merged"], IndirectSelection::Eager)
                    .unwrap()
            ),
            v(&["orders", "stg_orders", "stg_payments"])
        );
        // dbt's `_match_to_int` turns 0 into "no limit".
        assert_eq!(
            names(
                &g.select_with_selector(&sels["zero_depth_is_unlimited"], IndirectSelection::Eager)
                    .unwrap()
            ),
            sel(&g, "+orders")
        );
    }
}
