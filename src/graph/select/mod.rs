//! dbt node selection: `--select` / `--exclude` / `--selector`, as `dbt ls` resolves them.
//!
//! Modelled on dbt-core 1.8: `graph/selector_spec.py` (spec grammar), `graph/cli.py`
//! (how CLI words become unions/intersections/differences), `graph/selector.py`
//! (graph operators, indirect test selection, warnings) and `graph/selector_methods.py`
//! (what each `method:` matches). Comments point out where dbt's behaviour is surprising
//! so nobody "fixes" it back into a divergence.

mod glob;
mod methods;
pub mod selectors_yml;
mod spec;
mod state;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use serde_json::Value;

pub use glob::{fnmatch, Glob};
use glob::{FqnSelector, PathPattern};
pub use spec::*;
pub use state::PreviousState;

use selectors_yml::SelectorDefinition;

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
