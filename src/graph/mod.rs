//! The DAG over node ids (petgraph): topological order, cycle errors that print the cycle, and
//! selection (`select`).

pub mod select;

use std::collections::HashMap;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::diagnostics::{Code, Diagnostic, Result};
use crate::parse::{find_in, Manifest};

pub struct Dag {
    pub graph: DiGraph<String, ()>,
    pub index: HashMap<String, NodeIndex>,
}

impl Dag {
    /// Edges parent → child over nodes, sources, exposures and unit tests; ids inserted in
    /// sorted order so everything derived from the graph is deterministic.
    pub fn build(m: &Manifest) -> Result<Dag> {
        let parents = m.parents();
        let mut graph = DiGraph::with_capacity(parents.len(), parents.len() * 2);
        let mut index = HashMap::with_capacity(parents.len());
        for (id, _) in &parents {
            index.insert(id.to_string(), graph.add_node(id.to_string()));
        }
        for (child, ps) in &parents {
            for p in ps.iter() {
                if let (Some(&a), Some(&b)) = (index.get(p), index.get(*child)) {
                    graph.add_edge(a, b, ());
                }
            }
        }
        let dag = Dag { graph, index };
        dag.check_cycles(m)?;
        Ok(dag)
    }

    fn check_cycles(&self, m: &Manifest) -> Result<()> {
        for scc in tarjan_scc(&self.graph) {
            let self_loop = scc.len() == 1 && self.graph.contains_edge(scc[0], scc[0]);
            if scc.len() < 2 && !self_loop {
                continue;
            }
            // Walk the cycle in edge order, starting from the smallest id.
            let members: std::collections::HashSet<NodeIndex> = scc.iter().copied().collect();
            let start = *scc
                .iter()
                .min_by_key(|i| &self.graph[**i])
                .expect("a cycle has members");
            let mut order = vec![start];
            let mut cur = start;
            loop {
                let next = self
                    .graph
                    .neighbors(cur)
                    .filter(|n| members.contains(n))
                    .min_by_key(|n| &self.graph[*n])
                    .expect("every member of a cycle has a successor in it");
                if next == start || order.contains(&next) {
                    break;
                }
                order.push(next);
                cur = next;
            }
            let names: Vec<String> = order.iter().map(|i| self.graph[*i].clone()).collect();
            let short = |id: &String| m.nodes.get(id).map_or(id.clone(), |n| n.name.clone());
            let shown: Vec<String> = names.iter().map(short).collect();
            let mut d = Diagnostic::error(
                Code::E305,
                format!("dependency cycle: {} -> {}", shown.join(" -> "), shown[0]),
            );
            for (i, id) in names.iter().enumerate() {
                let next = &names[(i + 1) % names.len()];
                if let Some(n) = m.nodes.get(next) {
                    let parent_name = m.nodes.get(id).map(|p| p.name.clone()).unwrap_or_default();
                    d = d.note(format!(
                        "{} refers to {} ({})",
                        n.name, parent_name, n.display_path
                    ));
                    if d.location.is_none() {
                        d.location = Some(find_in(
                            &n.display_path,
                            &n.raw_code,
                            &format!("'{parent_name}'"),
                        ));
                    }
                }
            }
            return Err(d.help("a model cannot depend on itself, directly or through others; remove one of these refs").into());
        }
        Ok(())
    }

    /// Node ids in dependency order (parents first), ties broken by id.
    pub fn topo_order(&self) -> Vec<String> {
        let mut indegree: HashMap<NodeIndex, usize> =
            self.graph.node_indices().map(|i| (i, 0)).collect();
        for e in self.graph.edge_indices() {
            if let Some((_, b)) = self.graph.edge_endpoints(e) {
                *indegree.entry(b).or_default() += 1;
            }
        }
        let mut ready: std::collections::BTreeSet<(String, NodeIndex)> = indegree
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(i, _)| (self.graph[*i].clone(), *i))
            .collect();
        let mut out = Vec::with_capacity(indegree.len());
        while let Some(first) = ready.iter().next().cloned() {
            ready.remove(&first);
            out.push(first.0.clone());
            for child in self.graph.neighbors(first.1) {
                let d = indegree.entry(child).or_default();
                *d = d.saturating_sub(1);
                if *d == 0 {
                    ready.insert((self.graph[child].clone(), child));
                }
            }
        }
        out
    }
}
