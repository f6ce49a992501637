//! Presets: templates shipped with stackc (`stdlib/presets/<name>.kdl`, embedded, so they
//! are versioned with the compiler). A preset file holds one `template "<name>"` and the
//! top-level declarations it refers to (its data volume, its secrets).
//!
//! `use "postgres"` takes the preset when the stack declares no template of that name (a
//! stack's own template wins). The preset's nodes are added to the document before any
//! check, each from its own source (`stdlib/presets/postgres.kdl`, so a diagnostic there
//! shows the preset's line), and its declarations only where the stack declares nothing of
//! that kind and name: `secret "postgres-password" file="…"` in the stack replaces the
//! preset's `env=` secret.

use crate::source::SourceMap;
use crate::syntax::{self, ast::Node};

/// `(name, source)` of every preset, by name.
pub const PRESETS: &[(&str, &str)] = &[
    ("certbot", include_str!("../../../../stdlib/presets/certbot.kdl")),
    ("grafana", include_str!("../../../../stdlib/presets/grafana.kdl")),
    ("loki", include_str!("../../../../stdlib/presets/loki.kdl")),
    ("mariadb", include_str!("../../../../stdlib/presets/mariadb.kdl")),
    ("minio", include_str!("../../../../stdlib/presets/minio.kdl")),
    ("postgres", include_str!("../../../../stdlib/presets/postgres.kdl")),
    ("promtail", include_str!("../../../../stdlib/presets/promtail.kdl")),
    ("redis", include_str!("../../../../stdlib/presets/redis.kdl")),
];

/// The source of preset `name`.
pub fn preset(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

/// Adds the presets that `nodes` use (through `use`, also inside `env` blocks and other
/// templates, presets included) and that the stack does not declare as templates.
pub fn add_used(nodes: &mut Vec<Node>, sources: &mut SourceMap) {
    let mut added: Vec<&str> = Vec::new();
    loop {
        let declared = templates_declared(nodes);
        let mut wanted = Vec::new();
        collect_uses(nodes, &mut wanted);
        let Some((name, text)) = wanted
            .iter()
            .filter(|w| !declared.contains(w) && !added.contains(&w.as_str()))
            .find_map(|w| PRESETS.iter().find(|(n, _)| n == w))
        else {
            return;
        };
        added.push(name);
        let id = sources.add(format!("stdlib/presets/{name}.kdl"), *text);
        // The presets parse (tests/presets.rs); a broken one adds nothing rather than panic.
        let (Some(doc), _) = syntax::parse(id, text) else { continue };
        for n in doc.nodes {
            let clash = n.name.name != "template"
                && nodes.iter().any(|m| m.name.name == n.name.name && m.arg_str(0) == n.arg_str(0));
            if !clash {
                nodes.push(n);
            }
        }
    }
}

fn templates_declared(nodes: &[Node]) -> Vec<String> {
    let mut out = Vec::new();
    for n in nodes {
        if n.name.name == "template" {
            out.extend(n.arg_str(0).map(str::to_string));
        }
        if n.name.name == "env" {
            out.extend(templates_declared(n.children()));
        }
    }
    out
}

fn collect_uses(nodes: &[Node], out: &mut Vec<String>) {
    for n in nodes {
        if n.name.name == "use" {
            for a in &n.args {
                if let Some(s) = a.value.as_str().filter(|s| !out.iter().any(|o| o == s)) {
                    out.push(s.to_string());
                }
            }
        }
        collect_uses(n.children(), out);
    }
}
