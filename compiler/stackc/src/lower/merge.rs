//! Environment overlays: `env "staging" { … }` merged over the base, node by node, as the
//! schema's [`Merge`] rule for each node says.

use crate::schema::{self, Merge, NodeSpec};
use crate::syntax::ast::{Node, Value};
use crate::validate::walk::{identity, is_removal};

/// The environments a stack declares, in file order.
pub fn environments(nodes: &[Node]) -> Vec<&Node> {
    nodes.iter().filter(|n| n.name.name == "env" && n.arg_str(0).is_some()).collect()
}

/// The base stack (without `env` blocks), with `env` merged over it when given.
pub fn merged(nodes: &[Node], env: Option<&Node>) -> Vec<Node> {
    let base: Vec<Node> = nodes.iter().filter(|n| n.name.name != "env").cloned().collect();
    let merged = match env {
        Some(e) => merge_level(base, e.children(), schema::TOP),
        None => base,
    };
    apply_defaults(merged)
}

/// `defaults { … }`: each setting is added to every service that does not set it itself.
fn apply_defaults(mut nodes: Vec<Node>) -> Vec<Node> {
    let Some(defaults) = nodes.iter().find(|n| n.name.name == "defaults").cloned() else {
        return nodes;
    };
    let Some(svc_spec) = schema::top("service") else { return nodes };
    for svc in nodes.iter_mut().filter(|n| n.name.name == "service") {
        let mut children = svc.children.take().unwrap_or_default();
        for d in defaults.children() {
            let Some(spec) = svc_spec.child(&d.name.name) else { continue };
            if spec.merge == Merge::Props {
                let mut extra = d.clone();
                extra.props.retain(|p| {
                    !children
                        .iter()
                        .any(|c| c.name.name == d.name.name && c.props.iter().any(|q| q.key.name == p.key.name))
                });
                if !extra.props.is_empty() {
                    children.push(extra);
                }
            } else {
                let own = children.iter().any(|c| c.name.name == d.name.name && identity(c, spec) == identity(d, spec));
                if !own {
                    children.push(d.clone());
                }
            }
        }
        svc.children = Some(children);
    }
    nodes
}

fn same_whole(a: &Node, b: &Node) -> bool {
    let vals = |n: &Node| -> (Vec<Value>, Vec<(String, Value)>) {
        (
            n.args.iter().map(|e| e.value.clone()).collect(),
            n.props.iter().map(|p| (p.key.name.clone(), p.value.value.clone())).collect(),
        )
    };
    a.name.name == b.name.name && vals(a) == vals(b)
}

fn merge_level(mut out: Vec<Node>, overlay: &[Node], specs: &'static [NodeSpec]) -> Vec<Node> {
    for o in overlay {
        let Some(spec) = specs.iter().find(|s| s.name == o.name.name) else {
            continue;
        };
        let same = |n: &Node| {
            n.name.name == o.name.name && identity(n, spec).is_some() && identity(n, spec) == identity(o, spec)
        };
        if is_removal(o, spec) {
            out.retain(|n| !same(n));
            continue;
        }
        match spec.merge {
            Merge::Whole => {
                if !out.iter().any(|n| same_whole(n, o)) {
                    out.push(o.clone());
                }
            }
            Merge::Props => {
                let mut leftover = o.clone();
                leftover.props.clear();
                for p in &o.props {
                    let mut found = false;
                    for n in out.iter_mut().filter(|n| n.name.name == o.name.name) {
                        if let Some(i) = n.props.iter().position(|q| q.key.name == p.key.name) {
                            found = true;
                            if p.value.value == Value::Null {
                                n.props.remove(i);
                            } else {
                                n.props[i] = p.clone();
                            }
                        }
                    }
                    if !found && p.value.value != Value::Null {
                        leftover.props.push(p.clone());
                    }
                }
                if !leftover.props.is_empty() {
                    out.push(leftover);
                }
            }
            Merge::Deep | Merge::DeepKey => match out.iter().position(same) {
                Some(i) => {
                    let base = out[i].clone();
                    out[i] = deep(base, o, spec);
                }
                None => out.push(o.clone()),
            },
            Merge::Once | Merge::Key(_) => match out.iter().position(same) {
                Some(i) => out[i] = o.clone(),
                None => out.push(o.clone()),
            },
        }
    }
    out
}

fn deep(mut base: Node, o: &Node, spec: &'static NodeSpec) -> Node {
    for p in &o.props {
        base.props.retain(|q| q.key.name != p.key.name);
        if p.value.value != Value::Null {
            base.props.push(p.clone());
        }
    }
    if let Some(children) = &o.children {
        let b = base.children.take().unwrap_or_default();
        base.children = Some(merge_level(b, children, spec.child_specs()));
    }
    base
}
