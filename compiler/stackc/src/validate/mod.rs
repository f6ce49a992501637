//! Validation: shape and value domains of the file as written, then for every merged
//! environment: references, cross-field rules and policy lints.

pub mod alert_jobs;
pub mod alerting;
mod depth;
mod edge;
mod fastcgi;
pub mod lints;
mod policy_lints;
pub mod promql_position;
pub mod rules;
mod storage_rules;
pub mod values;
pub mod walk;

use indexmap::{IndexMap, IndexSet};

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::syntax::ast::{Node, Value};
pub use lints::{Level, LintConfig};

/// The names a merged stack declares, for reference checks.
pub struct Symbols<'a> {
    pub services: IndexMap<&'a str, &'a Node>,
    pub volumes: IndexMap<&'a str, &'a Node>,
    pub networks: IndexMap<&'a str, &'a Node>,
    pub secrets: IndexMap<&'a str, &'a Node>,
    pub params: IndexMap<&'a str, &'a Node>,
    pub rate_limits: IndexMap<&'a str, &'a Node>,
    pub env_groups: IndexMap<&'a str, &'a Node>,
    lints: IndexSet<&'static str>,
    /// Names per reference kind: hash lookups for the reference checks (a `Vec` scan made
    /// them O(references × declarations)), in declaration order for "did you mean".
    tables: [IndexSet<&'a str>; 6],
}

impl<'a> Symbols<'a> {
    pub fn collect(nodes: &'a [Node]) -> Self {
        let mut s = Symbols {
            services: IndexMap::new(),
            volumes: IndexMap::new(),
            networks: IndexMap::new(),
            secrets: IndexMap::new(),
            params: IndexMap::new(),
            rate_limits: IndexMap::new(),
            env_groups: IndexMap::new(),
            lints: lints::LINTS.iter().map(|l| l.code.info().name).collect(),
            tables: Default::default(),
        };
        for n in nodes {
            let Some(name) = n.arg_str(0) else {
                if n.name.name == "proxy" {
                    for z in n.children_named("rate-limit") {
                        if let Some(zn) = z.arg_str(0) {
                            s.rate_limits.entry(zn).or_insert(z);
                        }
                    }
                }
                continue;
            };
            let map = match n.name.name.as_str() {
                "service" => &mut s.services,
                "volume" => &mut s.volumes,
                "network" => &mut s.networks,
                "secret" => &mut s.secrets,
                "param" => &mut s.params,
                "env-group" => &mut s.env_groups,
                _ => continue,
            };
            map.entry(name).or_insert(n);
        }
        let mut services: IndexSet<&str> = s.services.keys().copied().collect();
        for n in nodes.iter().filter(|n| n.name.name == "monitoring") {
            services.extend(generated_services(n));
        }
        s.tables = [
            services,
            s.volumes.keys().copied().collect(),
            s.networks.keys().copied().collect(),
            s.secrets.keys().copied().collect(),
            s.rate_limits.keys().copied().collect(),
            s.env_groups.keys().copied().collect(),
        ];
        s
    }

    pub fn table(&self, kind: crate::schema::RefKind) -> &IndexSet<&'a str> {
        use crate::schema::RefKind::*;
        match kind {
            Service => &self.tables[0],
            Volume => &self.tables[1],
            Network => &self.tables[2],
            Secret => &self.tables[3],
            RateLimit => &self.tables[4],
            Lint => &self.lints,
            EnvGroup => &self.tables[5],
        }
    }
}

/// The services `monitoring` adds, which other services may depend on.
pub fn generated_services(monitoring: &Node) -> Vec<&'static str> {
    let mut out = vec!["prometheus"];
    for e in monitoring.children().iter().filter(|c| c.name.name == "exporters" || c.name.name == "exporter") {
        for a in &e.args {
            if let Some(i) = a.value.as_str().and_then(|k| crate::schema::EXPORTERS.iter().position(|x| *x == k)) {
                out.push(crate::schema::EXPORTER_SERVICES[i]);
            }
        }
    }
    if monitoring.children().iter().any(|c| alerting::RECEIVER_NODES.contains(&c.name.name.as_str())) {
        out.push("alertmanager");
    }
    out
}

/// Checks the file as written (every node, including environment blocks).
pub fn shape(nodes: &[Node], diags: &mut Diagnostics) {
    walk::shape(nodes, diags);
}

/// The document as the user meant it, for the checks of the merged stacks (the shape check
/// has reported the typos on the document as written): misspelt node and property names
/// take their suggestion ([`walk::as_meant`]), and an overlay service named like a typo of
/// a base service (`service "apii"` in an `env` block of a stack with `api`: not declared
/// by the base, unable to stand on its own without `image` or `build`) gets E0203 and the
/// base name, instead of reading as a new service that "needs `image` or `build`".
pub fn as_meant(mut out: Vec<Node>, diags: &mut Diagnostics) -> Vec<Node> {
    walk::as_meant(&mut out);
    let base: Vec<String> =
        out.iter().filter(|n| n.name.name == "service").filter_map(|n| n.arg_str(0)).map(str::to_string).collect();
    for env in out.iter_mut().filter(|n| n.name.name == "env") {
        let env_name = env.arg_str(0).unwrap_or("?").to_string();
        for svc in env.children.iter_mut().flatten().filter(|c| c.name.name == "service") {
            let Some(name) = svc.arg_str(0) else { continue };
            let standalone = svc.children().iter().any(|c| ["image", "build", "use"].contains(&c.name.name.as_str()));
            if standalone || base.iter().any(|b| b == name) {
                continue;
            }
            let Some(meant) = crate::diagnostics::did_you_mean(name, base.iter().map(String::as_str)) else { continue };
            diags.push(
                Diagnostic::error(
                    Code::UnknownService,
                    format!("environment `{env_name}` changes service `{name}`, which the base does not declare"),
                )
                .at(svc.args[0].span, "no service of this name")
                .help(format!("did you mean `{meant}`? (a new service in an environment needs `image` or `build`)")),
            );
            svc.args[0].value = Value::String(meant.to_string());
        }
    }
    out
}

/// Checks one merged stack: references, cross-field rules and lints.
pub fn semantic(nodes: &[Node], lint_config: &LintConfig, env: Option<&str>, diags: &mut Diagnostics) {
    let symbols = Symbols::collect(nodes);
    walk::refs(nodes, &symbols, diags);
    rules::check(nodes, &symbols, diags);
    depth::check(&symbols, diags);
    alerting::check(nodes, diags);
    let levels = lint_config.levels(nodes);
    lints::check(nodes, &symbols, &levels, env, diags);
}

pub use rules::route_port as rules_route_port;
