//! Selection specs: dbt's `SelectionCriteria`, `SelectionUnion`, `SelectionDifference`, parsed
//! from CLI words (`graph/selector_spec.py` and `graph/cli.py`).

use std::sync::OnceLock;

use regex::Regex;

use super::*;

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

pub(super) const METHODS: &[(&str, Method)] = &[
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

pub(super) fn spec_regex() -> &'static Regex {
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
pub(super) fn parse_depth(raw: Option<&str>) -> Result<Option<usize>, SelectError> {
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
pub(super) fn default_method(value: &str) -> Method {
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

pub(super) fn parse_method(raw_method: &str) -> Result<(Method, Vec<String>), SelectError> {
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
pub(super) const DEFAULT_INCLUDES: &[&str] = &[
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
