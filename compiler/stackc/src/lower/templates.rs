//! Templates: `template "name" { … }` holds service settings, and `use "name" …` applies
//! them to a `service` (or to another template, to `defaults`, or to the services of
//! `monitoring > prometheus` and `monitoring > exporter`: every node whose children are the
//! `service` children). The node's own settings are merged over the templates' by the same
//! rules as an `env` overlay over the base, so a service overrides what it sets, adds keyed
//! nodes and `env` keys, and removes a template's node with `#null`.
//!
//! Templates are expanded after the environment is merged (an overlay may change a template
//! or a service's `use`) and before `defaults`, so every later stage sees plain services.
//! A copied node keeps its span in the template: a diagnostic about it points at the
//! template's line, and [`TemplateUses::relate`] adds the `use` lines that brought it in.

use std::collections::HashMap;

use indexmap::IndexMap;

use super::merge::merge_level;
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::schema::{self, NodeSpec};
use crate::source::Span;
use crate::syntax::ast::{Entry, Node};

/// The `service` children: what a template holds and what `use` merges into.
fn service_specs() -> &'static [NodeSpec] {
    schema::top("service").map(NodeSpec::child_specs).unwrap_or_default()
}

/// The stack with every `use` replaced by the templates' settings and the `template` nodes
/// removed; unknown templates (E0213) and templates that use themselves (E0406) reported.
pub fn expand(nodes: Vec<Node>) -> (Vec<Node>, Vec<Diagnostic>) {
    let mut x = Expander { templates: IndexMap::new(), done: HashMap::new(), diags: Vec::new() };
    for n in nodes.iter().filter(|n| n.name.name == "template") {
        if let Some(name) = n.arg_str(0) {
            // A second template of the same name is E0202 (the shape check); the first is kept.
            x.templates.entry(name.to_string()).or_insert_with(|| n.clone());
        }
    }
    if x.templates.is_empty() && !nodes.iter().any(uses_templates) {
        return (nodes, Vec::new());
    }
    let mut out: Vec<Node> = nodes.into_iter().filter(|n| n.name.name != "template").collect();
    for n in &mut out {
        match n.name.name.as_str() {
            "service" | "defaults" => x.apply(n, &mut Vec::new()),
            "monitoring" => {
                for c in n.children.iter_mut().flatten() {
                    if c.name.name == "prometheus" || c.name.name == "exporter" {
                        x.apply(c, &mut Vec::new());
                    }
                }
            }
            _ => {}
        }
    }
    (out, x.diags)
}

fn uses_templates(n: &Node) -> bool {
    n.children().iter().any(|c| c.name.name == "use" || uses_templates(c))
}

struct Expander {
    templates: IndexMap<String, Node>,
    /// Each template's children with its own `use` applied, once resolved.
    done: HashMap<String, Vec<Node>>,
    diags: Vec<Diagnostic>,
}

impl Expander {
    /// Replaces the `use` children of `node` by the templates' settings (in `use` order, a
    /// later template over an earlier one), with the node's own settings merged over them.
    /// `chain`: the templates being resolved, to find a template that uses itself.
    fn apply(&mut self, node: &mut Node, chain: &mut Vec<String>) {
        let Some(children) = node.children.take() else { return };
        if !children.iter().any(|c| c.name.name == "use") {
            node.children = Some(children);
            return;
        }
        let (uses, own): (Vec<Node>, Vec<Node>) = children.into_iter().partition(|c| c.name.name == "use");
        let mut base = Vec::new();
        for entry in uses.iter().flat_map(|u| &u.args) {
            let Some(name) = entry.value.as_str() else { continue };
            if let Some(kids) = self.resolved(name, entry, chain) {
                base = merge_level(base, &kids, service_specs());
            }
        }
        node.children = Some(merge_level(base, &own, service_specs()));
    }

    fn resolved(&mut self, name: &str, at: &Entry, chain: &mut Vec<String>) -> Option<Vec<Node>> {
        if let Some(kids) = self.done.get(name) {
            return Some(kids.clone());
        }
        if let Some(i) = chain.iter().position(|c| c == name) {
            let mut path: Vec<String> = chain[i..].iter().map(|c| format!("`{c}`")).collect();
            path.push(format!("`{name}`"));
            let first = self.templates.get(name).map(|t| t.head_span());
            let mut d = Diagnostic::error(
                Code::SelfReference,
                format!("template `{name}` uses itself: {}", path.join(" -> ")),
            )
            .at(at.span, "closes the loop")
            .help("a template cannot take its own settings; remove this `use`, or move the shared settings into a third template both use");
            if let Some(span) = first {
                d = d.label(span, format!("template `{name}` is declared here"));
            }
            self.diags.push(d);
            return None;
        }
        let Some(template) = self.templates.get(name).cloned() else {
            let presets = super::presets::PRESETS.iter().map(|(p, _)| *p);
            let help = match did_you_mean(name, self.templates.keys().map(String::as_str).chain(presets)) {
                Some(m) => format!("did you mean `{m}`?"),
                None => format!(
                    "declare it: `template \"{name}\" {{ … }}` with the service settings to share (stackc's presets: {})",
                    super::presets::PRESETS.iter().map(|(p, _)| format!("`{p}`")).collect::<Vec<_>>().join(", ")
                ),
            };
            self.diags.push(
                Diagnostic::error(Code::UnknownTemplate, format!("unknown template `{name}`"))
                    .at(at.span, "no template of this name")
                    .help(help),
            );
            return None;
        };
        chain.push(name.to_string());
        let mut node = template;
        self.apply(&mut node, chain);
        chain.pop();
        let kids = node.children.unwrap_or_default();
        self.done.insert(name.to_string(), kids.clone());
        Some(kids)
    }
}

/// Where templates are declared and used in a document (the base and its `env` blocks), to
/// show the `use` lines with a diagnostic inside a template.
#[derive(Debug, Default, Clone)]
pub struct TemplateUses {
    templates: Vec<(String, Span)>,
    uses: Vec<UseSite>,
}

#[derive(Debug, Clone)]
struct UseSite {
    template: String,
    /// What uses it, as a message names it: `service \`api\``.
    user: String,
    /// The name a message about the user quotes (`api`), and whether the user is a template.
    user_name: String,
    user_is_template: bool,
    at: Span,
}

/// Labels added to one diagnostic for the `use` lines, at most.
const MAX_USE_LABELS: usize = 4;

impl TemplateUses {
    pub fn collect(nodes: &[Node]) -> Self {
        let mut out = TemplateUses::default();
        for n in nodes {
            out.node(n, None);
            if n.name.name == "env" {
                for c in n.children() {
                    out.node(c, None);
                }
            }
        }
        out
    }

    fn node(&mut self, n: &Node, owner: Option<(&str, &str, bool)>) {
        let name = n.arg_str(0).unwrap_or_default();
        let me = match n.name.name.as_str() {
            "template" => {
                self.templates.push((name.to_string(), n.span));
                Some(("template", name, true))
            }
            "service" => Some(("service", name, false)),
            "defaults" => Some(("defaults", "", false)),
            "prometheus" => Some(("prometheus", "prometheus", false)),
            "exporter" => Some(("exporter", name, false)),
            "monitoring" => {
                for c in n.children() {
                    self.node(c, None);
                }
                return;
            }
            "use" => {
                let Some((kind, user_name, user_is_template)) = owner else { return };
                let user = if user_name.is_empty() { format!("`{kind}`") } else { format!("{kind} `{user_name}`") };
                for a in &n.args {
                    if let Some(t) = a.value.as_str() {
                        self.uses.push(UseSite {
                            template: t.to_string(),
                            user: user.clone(),
                            user_name: user_name.to_string(),
                            user_is_template,
                            at: a.span,
                        });
                    }
                }
                return;
            }
            _ => return,
        };
        for c in n.children().iter().filter(|c| c.name.name == "use") {
            self.node(c, me);
        }
    }

    /// The template whose body holds `span`.
    fn template_at(&self, span: Span) -> Option<&str> {
        self.templates
            .iter()
            .find(|(_, t)| t.source == span.source && t.offset <= span.offset && span.end() <= t.end())
            .map(|(name, _)| name.as_str())
    }

    /// The `use` sites that bring `template` into a service: its direct uses, and the uses of
    /// the templates that use it.
    fn sites(&self, template: &str) -> Vec<&UseSite> {
        let mut out: Vec<&UseSite> = Vec::new();
        let mut queue = vec![template.to_string()];
        let mut seen = vec![template.to_string()];
        while let Some(t) = queue.pop() {
            for u in self.uses.iter().filter(|u| u.template == t) {
                out.push(u);
                if u.user_is_template && !seen.contains(&u.user_name) {
                    seen.push(u.user_name.clone());
                    queue.push(u.user_name.clone());
                }
            }
        }
        out.sort_by_key(|u| (u.at.source.0, u.at.offset));
        out
    }

    /// Adds to each diagnostic at a setting inside a template the `use` lines that apply it:
    /// those of the services its message names, or all of them.
    pub fn relate(&self, diags: &mut [Diagnostic]) {
        if self.templates.is_empty() {
            return;
        }
        for d in diags.iter_mut() {
            let Some(primary) = d.primary.as_ref().map(|l| l.span) else { continue };
            let Some(template) = self.template_at(primary) else { continue };
            let sites = self.sites(template);
            let named: Vec<&&UseSite> = sites
                .iter()
                .filter(|u| !u.user_is_template && !u.user_name.is_empty())
                .filter(|u| d.message.contains(&format!("`{}`", u.user_name)))
                .collect();
            let chosen: Vec<&UseSite> =
                if named.is_empty() { sites.clone() } else { named.into_iter().copied().collect() };
            for u in chosen.into_iter().take(MAX_USE_LABELS) {
                if primary == u.at || d.labels.iter().any(|l| l.span == u.at) {
                    continue;
                }
                d.labels.push(crate::diagnostics::Label {
                    span: u.at,
                    text: format!("{} uses template `{}` here", u.user, u.template),
                });
            }
        }
    }
}
