//! Environment overlays: `env "staging" { … }` merged over the base, node by node, as the
//! schema's [`Merge`] rule for each node says.

use std::collections::HashMap;

use crate::diagnostics::Diagnostic;
use crate::schema::{self, Merge, NodeSpec};
use crate::syntax::ast::{Node, Value};
use crate::validate::walk::{identity, is_removal};

/// The environments a stack declares, in file order.
pub fn environments(nodes: &[Node]) -> Vec<&Node> {
    nodes.iter().filter(|n| n.name.name == "env" && n.arg_str(0).is_some()).collect()
}

/// The base stack (without `env` blocks), with `env` merged over it when given, its
/// templates expanded (with what went wrong there) and `defaults` applied.
pub fn merged(nodes: &[Node], env: Option<&Node>) -> (Vec<Node>, Vec<Diagnostic>) {
    let (nodes, diags) = expanded(nodes, env);
    (apply_defaults(nodes), diags)
}

/// [`merged`] before `defaults`: what `stackc show` prints.
pub fn expanded(nodes: &[Node], env: Option<&Node>) -> (Vec<Node>, Vec<Diagnostic>) {
    let base: Vec<Node> = nodes.iter().filter(|n| n.name.name != "env").cloned().collect();
    let merged = match env {
        Some(e) => merge_level(base, e.children(), schema::TOP),
        None => base,
    };
    super::templates::expand(merged)
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

/// The specs' identity of every node that has one: (node name, identity) → its positions
/// in `out`, in order. Finding the node an overlay node replaces is then a hash lookup
/// instead of a scan of the level, which made merging O(overlay × base).
type Index = HashMap<(String, String), Vec<usize>>;

fn index(out: &[Option<Node>], specs: &'static [NodeSpec]) -> Index {
    let mut index = Index::new();
    for (i, n) in out.iter().enumerate() {
        let Some(n) = n else { continue };
        let Some(spec) = specs.iter().find(|s| s.name == n.name.name) else { continue };
        if let Some(id) = identity(n, spec) {
            index.entry((n.name.name.clone(), id)).or_default().push(i);
        }
    }
    index
}

/// `overlay` merged over `base`, node by node, by each node's rule in `specs` (also how a
/// node's own settings merge over the templates it uses).
pub(super) fn merge_level(base: Vec<Node>, overlay: &[Node], specs: &'static [NodeSpec]) -> Vec<Node> {
    // Removed nodes leave a `None`, so that the positions in the index stay valid.
    let mut out: Vec<Option<Node>> = base.into_iter().map(Some).collect();
    let mut index = index(&out, specs);
    let push = |out: &mut Vec<Option<Node>>, index: &mut Index, key: Option<(String, String)>, node: Node| {
        if let Some(key) = key {
            index.entry(key).or_default().push(out.len());
        }
        out.push(Some(node));
    };
    for o in overlay {
        let Some(spec) = specs.iter().find(|s| s.name == o.name.name) else {
            continue;
        };
        let key = identity(o, spec).map(|id| (o.name.name.clone(), id));
        let first = key.as_ref().and_then(|k| index.get(k)).and_then(|at| same_sibling(at, &out, o, spec));
        if is_removal(o, spec) {
            for i in key.and_then(|k| index.remove(&k)).unwrap_or_default() {
                out[i] = None;
            }
            continue;
        }
        match spec.merge {
            Merge::Whole => {
                if !out.iter().flatten().any(|n| same_whole(n, o)) {
                    push(&mut out, &mut index, None, o.clone());
                }
            }
            Merge::Props => {
                let mut leftover = o.clone();
                leftover.props.clear();
                for p in &o.props {
                    let mut found = false;
                    for n in out.iter_mut().flatten().filter(|n| n.name.name == o.name.name) {
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
                    push(&mut out, &mut index, None, leftover);
                }
            }
            // Neither replacing nor deep-merging changes a node's name or identity, so the
            // index stays as it is.
            Merge::Deep | Merge::DeepKey => match first.and_then(|i| out[i].take().map(|n| (i, n))) {
                Some((i, base)) => out[i] = Some(deep(base, o, spec)),
                None => push(&mut out, &mut index, key, o.clone()),
            },
            Merge::Once | Merge::Key(_) => match first {
                Some(i) => out[i] = Some(o.clone()),
                None => push(&mut out, &mut index, key, o.clone()),
            },
        }
    }
    out.into_iter().flatten().collect()
}

/// Of the base nodes with the overlay node's key (positions `at`), the one it replaces: the
/// one with the same value of the spec's `key_prop` (an alert's severity) if there is one,
/// else the first.
fn same_sibling(at: &[usize], out: &[Option<Node>], o: &Node, spec: &NodeSpec) -> Option<usize> {
    let value = |n: &Node| spec.key_prop.and_then(|p| n.prop(p)).map(|v| v.value.clone());
    let own = spec.key_prop.and_then(|_| value(o));
    own.and_then(|v| at.iter().copied().find(|&i| out[i].as_ref().and_then(value).as_ref() == Some(&v)))
        .or_else(|| at.first().copied())
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
