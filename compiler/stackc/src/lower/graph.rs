//! The dependency graph (petgraph) and its checks: full `depends-on` cycles, every edge of
//! the loop labelled at its `depends-on`. Also DOT and Mermaid renderings for `stackc graph`.

use std::collections::BTreeSet;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::diagnostics::{Code, Diagnostic};
use crate::ir::*;
use crate::source::{SourceId, Span};

fn span(o: Origin) -> Span {
    Span::new(SourceId(o.source), o.offset, o.len)
}

pub fn build(st: &Stack) -> Graph {
    let mut g: DiGraph<GraphNode, GraphEdge> = DiGraph::new();
    let mut services = indexmap::IndexMap::new();
    for name in st.services.keys() {
        services.insert(name.clone(), g.add_node(GraphNode::Service(name.clone())));
    }
    let volumes: indexmap::IndexMap<&str, NodeIndex> =
        st.volumes.keys().map(|v| (v.as_str(), g.add_node(GraphNode::Volume(v.clone())))).collect();
    let networks: indexmap::IndexMap<&str, NodeIndex> =
        st.networks.keys().map(|v| (v.as_str(), g.add_node(GraphNode::Network(v.clone())))).collect();
    let secrets: indexmap::IndexMap<&str, NodeIndex> =
        st.secrets.keys().map(|v| (v.as_str(), g.add_node(GraphNode::Secret(v.clone())))).collect();
    for (name, svc) in &st.services {
        let me = services[name];
        for d in &svc.depends_on {
            if let Some(&t) = services.get(&d.service) {
                g.add_edge(me, t, GraphEdge::DependsOn(d.condition, d.origin));
            }
        }
        for m in &svc.mounts {
            if let MountSource::Volume(v) = &m.source {
                if let Some(&t) = volumes.get(v.as_str()) {
                    g.add_edge(
                        me,
                        t,
                        GraphEdge::Mounts { target: m.target.render(|p| format!("${{{p}}}")), read_only: m.read_only },
                    );
                }
            }
        }
        for n in &svc.networks {
            if let Some(&t) = networks.get(n.as_str()) {
                g.add_edge(me, t, GraphEdge::Joins);
            }
        }
        for s in &svc.secrets {
            if let Some(&t) = secrets.get(s.as_str()) {
                g.add_edge(me, t, GraphEdge::UsesSecret);
            }
        }
        for p in &svc.publish {
            let address =
                p.host.as_ref().map(|h| h.render(|n| format!("${{{n}}}"))).unwrap_or_else(|| "0.0.0.0".into());
            let hp = g.add_node(GraphNode::HostPort { address, port: p.host_port, protocol: p.protocol });
            g.add_edge(hp, me, GraphEdge::Publishes { target: p.target });
        }
    }
    if !st.sites.is_empty() {
        let internet = g.add_node(GraphNode::Internet);
        for site in &st.sites {
            let host = site.hosts.first().map(|h| h.render(|p| format!("${{{p}}}"))).unwrap_or_default();
            for r in &site.routes {
                let rn = g.add_node(GraphNode::Route { host: host.clone(), path: r.path.clone() });
                g.add_edge(internet, rn, GraphEdge::Serves);
                if let Some((service, port)) = r.proxied() {
                    if let Some(&t) = services.get(service) {
                        g.add_edge(rn, t, GraphEdge::RoutesTo { port });
                    }
                }
            }
        }
    }
    for (lint, level) in &st.policy {
        g.add_node(GraphNode::Policy { lint: lint.clone(), level: level.clone() });
    }
    Graph { graph: g, services }
}

/// Every `depends-on` loop, reported once, with each edge labelled.
pub fn cycles(graph: &Graph) -> Vec<Diagnostic> {
    let g = &graph.graph;
    let deps = g.filter_map(
        |_, n| match n {
            GraphNode::Service(s) => Some(s.clone()),
            _ => None,
        },
        |_, e| match e {
            GraphEdge::DependsOn(_, o) => Some(*o),
            _ => None,
        },
    );
    let mut out = Vec::new();
    let mut sccs = petgraph::algo::tarjan_scc(&deps);
    // Deterministic order: by the smallest index in each loop.
    for scc in &mut sccs {
        scc.sort();
    }
    sccs.sort();
    for scc in sccs {
        // A service depending on itself is E0406 (validate), not a cycle to report twice.
        if scc.len() < 2 {
            continue;
        }
        let path = cycle_path(&deps, &scc);
        let names: Vec<&str> = path.iter().map(|&i| deps[i].as_str()).collect();
        let mut d = Diagnostic::error(Code::DependencyCycle, format!("dependency cycle: {}", names.join(" -> ")));
        for w in path.windows(2) {
            let Some(e) = deps.edges_connecting(w[0], w[1]).next() else {
                continue;
            };
            let text = format!("`{}` depends on `{}`", deps[w[0]], deps[w[1]]);
            if d.primary.is_none() {
                d = d.at(span(*e.weight()), text);
            } else {
                d = d.label(span(*e.weight()), text);
            }
        }
        out.push(d.help("services in a loop wait for each other forever; remove one `depends-on` of the loop"));
    }
    out
}

/// A path through the strongly connected component from its smallest node back to it.
fn cycle_path<N, E>(g: &DiGraph<N, E>, scc: &[NodeIndex]) -> Vec<NodeIndex> {
    let set: BTreeSet<NodeIndex> = scc.iter().copied().collect();
    let start = scc[0];
    let mut stack = vec![(start, vec![start])];
    let mut seen = BTreeSet::new();
    while let Some((n, path)) = stack.pop() {
        let mut succ: Vec<NodeIndex> = g.neighbors(n).filter(|m| set.contains(m)).collect();
        succ.sort();
        succ.dedup();
        succ.reverse();
        for m in succ {
            if m == start {
                let mut p = path.clone();
                p.push(start);
                return p;
            }
            if seen.insert(m) {
                let mut p = path.clone();
                p.push(m);
                stack.push((m, p));
            }
        }
    }
    vec![start, start]
}

fn node_label(n: &GraphNode) -> (String, &'static str) {
    match n {
        GraphNode::Internet => ("internet".into(), "internet"),
        GraphNode::Service(s) => (s.clone(), "service"),
        GraphNode::Volume(s) => (format!("volume {s}"), "volume"),
        GraphNode::Network(s) => (format!("network {s}"), "network"),
        GraphNode::Secret(s) => (format!("secret {s}"), "secret"),
        GraphNode::Route { host, path } => (format!("{host}{path}"), "route"),
        GraphNode::HostPort { address, port, protocol } => {
            let p = if *protocol == Protocol::Udp { "/udp" } else { "" };
            (format!("{address}:{port}{p}"), "port")
        }
        GraphNode::Policy { lint, level } => (format!("{level} {lint}"), "policy"),
    }
}

fn edge_label(e: &GraphEdge) -> String {
    match e {
        GraphEdge::DependsOn(Condition::Healthy, _) => "depends on (healthy)".into(),
        GraphEdge::DependsOn(Condition::Completed, _) => "depends on (completed)".into(),
        GraphEdge::DependsOn(Condition::Started, _) => "depends on".into(),
        GraphEdge::Mounts { target, read_only } => {
            format!("mounts at {target}{}", if *read_only { " (ro)" } else { "" })
        }
        GraphEdge::Joins => "joins".into(),
        GraphEdge::UsesSecret => "uses".into(),
        GraphEdge::RoutesTo { port } => format!("port {port}"),
        GraphEdge::Serves => String::new(),
        GraphEdge::Publishes { target } => format!("-> {target}"),
    }
}

/// The graph in Graphviz DOT: services, volumes, networks, routes from the internet and
/// published ports (secrets and policies are left out to keep the picture readable).
pub fn to_dot(graph: &Graph) -> String {
    let g = &graph.graph;
    let shown = |n: &GraphNode| !matches!(n, GraphNode::Secret(_) | GraphNode::Policy { .. });
    let mut out = String::from("digraph stack {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
    for i in g.node_indices() {
        if !shown(&g[i]) {
            continue;
        }
        let (label, kind) = node_label(&g[i]);
        let shape = match kind {
            "service" => "box",
            "volume" => "cylinder",
            "network" => "hexagon",
            "internet" => "doublecircle",
            "route" => "note",
            _ => "ellipse",
        };
        out.push_str(&format!("  n{} [label={}, shape={shape}];\n", i.index(), dot_quote(&label)));
    }
    for e in g.edge_references() {
        if !shown(&g[e.source()]) || !shown(&g[e.target()]) {
            continue;
        }
        out.push_str(&format!(
            "  n{} -> n{} [label={}];\n",
            e.source().index(),
            e.target().index(),
            dot_quote(&edge_label(e.weight()))
        ));
    }
    out.push_str("}\n");
    out
}

fn dot_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The same graph as a Mermaid flowchart.
pub fn to_mermaid(graph: &Graph) -> String {
    let g = &graph.graph;
    let shown = |n: &GraphNode| !matches!(n, GraphNode::Secret(_) | GraphNode::Policy { .. });
    let mut out = String::from("flowchart LR\n");
    for i in g.node_indices() {
        if !shown(&g[i]) {
            continue;
        }
        let (label, kind) = node_label(&g[i]);
        let label = mermaid_text(&label);
        let shape = match kind {
            "service" => format!("[\"{label}\"]"),
            "volume" => format!("[(\"{label}\")]"),
            "network" => format!("{{{{\"{label}\"}}}}"),
            "internet" => format!("((\"{label}\"))"),
            _ => format!("(\"{label}\")"),
        };
        out.push_str(&format!("  n{}{shape}\n", i.index()));
    }
    for e in g.edge_references() {
        if !shown(&g[e.source()]) || !shown(&g[e.target()]) {
            continue;
        }
        let label = edge_label(e.weight());
        if label.is_empty() {
            out.push_str(&format!("  n{} --> n{}\n", e.source().index(), e.target().index()));
        } else {
            out.push_str(&format!(
                "  n{} -->|\"{}\"| n{}\n",
                e.source().index(),
                mermaid_text(&label),
                e.target().index()
            ));
        }
    }
    out
}

fn mermaid_text(s: &str) -> String {
    s.replace('"', "#quot;")
}
