//! Policy lints: named checks with default levels that `policy { deny|warn|allow }` and the
//! CLI (`-D`, `-W`, `-A`) change.

use std::collections::HashMap;

use super::values;
use super::Symbols;
use crate::diagnostics::{Code, Diagnostic, Diagnostics, Severity};
use crate::syntax::ast::{Node, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Allow,
    Warn,
    Deny,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "allow" => Some(Level::Allow),
            "warn" => Some(Level::Warn),
            "deny" => Some(Level::Deny),
            _ => None,
        }
    }
}

pub struct Lint {
    pub code: Code,
    pub default: Level,
}

/// The lint registry. Names and summaries are in the diagnostics catalogue.
pub const LINTS: &[Lint] = &[
    Lint { code: Code::PublicDatabase, default: Level::Deny },
    Lint { code: Code::MissingHealthcheck, default: Level::Warn },
    Lint { code: Code::LatestTag, default: Level::Warn },
    Lint { code: Code::SharedVolumeReplicas, default: Level::Warn },
    Lint { code: Code::UnscrapedAlertJob, default: Level::Warn },
    Lint { code: Code::PlaintextSecret, default: Level::Warn },
    Lint { code: Code::PublicPort, default: Level::Warn },
    Lint { code: Code::RootUser, default: Level::Warn },
    // Reported by the targets (emit), after validation: see [`apply_to_target_diagnostics`].
    Lint { code: Code::TargetApproximation, default: Level::Warn },
];

pub fn lint_by_name(name: &str) -> Option<&'static Lint> {
    LINTS.iter().find(|l| l.code.info().name == name)
}

/// Lint levels from the command line; they win over the stack's `policy`.
#[derive(Debug, Clone, Default)]
pub struct LintConfig {
    pub overrides: Vec<(String, Level)>,
}

/// Each lint's level (its default, then the stack's policy in order, then the command line)
/// and the `reason=` of the policy rule that set it (none once the command line overrides
/// it: the reason is no longer why).
pub struct Levels {
    levels: HashMap<Code, Level>,
    reasons: HashMap<Code, String>,
}

impl LintConfig {
    /// The levels from the stack's `policy` nodes (validation reads the AST).
    pub fn levels(&self, nodes: &[Node]) -> Levels {
        let rules = nodes.iter().filter(|n| n.name.name == "policy").flat_map(|p| p.children()).flat_map(|rule| {
            rule.args
                .iter()
                .filter_map(move |a| Some((a.value.as_str()?, rule.name.name.as_str(), rule.prop_str("reason"))))
        });
        self.resolve(rules)
    }

    /// `(lint name, level word, reason)` in the order the stack gives them.
    fn resolve<'a>(&self, rules: impl Iterator<Item = (&'a str, &'a str, Option<&'a str>)>) -> Levels {
        let mut levels: HashMap<Code, Level> = LINTS.iter().map(|l| (l.code, l.default)).collect();
        let mut reasons = HashMap::new();
        for (name, word, reason) in rules {
            let (Some(l), Some(level)) = (lint_by_name(name), Level::parse(word)) else { continue };
            levels.insert(l.code, level);
            match reason {
                Some(why) => reasons.insert(l.code, why.to_string()),
                None => reasons.remove(&l.code),
            };
        }
        for (name, level) in &self.overrides {
            if let Some(l) = lint_by_name(name) {
                levels.insert(l.code, *level);
                reasons.remove(&l.code);
            }
        }
        Levels { levels, reasons }
    }
}

/// The targets' W0501 warnings under the levels the stack's `policy` (lowered into the IR)
/// and the command line set: dropped when allowed, errors when denied, each with the note
/// that says how to change it, exactly as validation's lints. Other diagnostics pass as they
/// are.
pub fn apply_to_target_diagnostics(
    diags: Vec<Diagnostic>,
    policy: &indexmap::IndexMap<String, String>,
    policy_reasons: &indexmap::IndexMap<String, String>,
    config: &LintConfig,
) -> Vec<Diagnostic> {
    let levels = config.resolve(
        policy.iter().map(|(name, word)| (name.as_str(), word.as_str(), policy_reasons.get(name).map(String::as_str))),
    );
    let mut out = Diagnostics::new();
    let mut sink = Sink { levels: &levels, diags: &mut out };
    for d in diags {
        if d.code == Code::TargetApproximation {
            sink.push(d);
        } else {
            sink.diags.push(d);
        }
    }
    out.iter().cloned().collect()
}

struct Sink<'a> {
    levels: &'a Levels,
    diags: &'a mut Diagnostics,
}

impl Sink<'_> {
    fn on(&self, code: Code) -> bool {
        self.levels.levels.get(&code).is_some_and(|l| *l != Level::Allow)
    }

    fn push(&mut self, mut d: Diagnostic) {
        let level = self.levels.levels.get(&d.code).copied().unwrap_or(Level::Warn);
        d.severity = if level == Level::Deny { Severity::Error } else { Severity::Warning };
        let name = d.code.info().name;
        let note = match level {
            Level::Deny => {
                format!("`{name}` is denied by policy; `policy {{ warn \"{name}\" }}` would make it a warning")
            }
            _ => format!("silence with `policy {{ allow \"{name}\" }}`"),
        };
        // The stack's own word for why it set this level, under the note.
        let note = match self.levels.reasons.get(&d.code) {
            Some(why) => format!("{note}\npolicy reason: {}", crate::diagnostics::quote(why)),
            None => note,
        };
        d.help = Some(match d.help.take() {
            Some(h) => format!("{h}\n{note}"),
            None => note,
        });
        if level != Level::Allow {
            self.diags.push(d);
        }
    }
}

const DB_IMAGES: &[&str] = &[
    "postgres",
    "postgis",
    "timescaledb",
    "mysql",
    "mariadb",
    "mongo",
    "redis",
    "valkey",
    "keydb",
    "memcached",
    "elasticsearch",
    "opensearch",
    "cassandra",
    "couchdb",
    "clickhouse",
    "influxdb",
    "neo4j",
    "rabbitmq",
];
const DB_PORTS: &[i128] = &[5432, 3306, 27017, 6379, 11211, 9200, 9042, 5984, 8123, 9000, 8086, 7687, 5672];

/// The repository name of an image, without registry, namespace or tag.
fn image_base(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split(':').next().unwrap_or(last)
}

pub fn is_database(svc: &Node) -> bool {
    let img = svc.child("image").and_then(|i| i.arg_str(0)).unwrap_or("");
    let base = image_base(img);
    DB_IMAGES.iter().any(|d| base == *d || base.starts_with(&format!("{d}-")))
}

fn public(publish: &Node) -> bool {
    match publish.prop_str("host") {
        None => true,
        Some(h) => values::address(h).is_ok_and(|a| a.is_unspecified()),
    }
}

pub fn check(nodes: &[Node], symbols: &Symbols, levels: &Levels, diags: &mut Diagnostics) {
    let mut sink = Sink { levels, diags };
    for (name, svc) in &symbols.services {
        let db = is_database(svc);
        for p in svc.children_named("publish").filter(|p| public(p)) {
            let port = p.arg(0).and_then(|a| a.value.as_int()).unwrap_or(0);
            let target = p.prop("target").and_then(|t| t.value.as_int()).unwrap_or(port);
            if db || DB_PORTS.contains(&target) {
                if sink.on(Code::PublicDatabase) {
                    sink.push(
                        Diagnostic::error(Code::PublicDatabase, format!("database `{name}` is published on all host addresses (port {port})"))
                            .at(p.head_span(), "reachable from the internet")
                            .help(format!("other services reach it over the network as `{name}:{target}` without `publish`; to reach it from the host, bind to loopback: `publish {port} host=\"127.0.0.1\"`. Docker publishes past UFW, so a firewall `deny` does not protect it")),
                    );
                }
            } else if ![80, 443].contains(&port) && p.prop("host").is_none() && sink.on(Code::PublicPort) {
                sink.push(
                    Diagnostic::warning(Code::PublicPort, format!("`{name}` publishes port {port} on all host addresses"))
                        .at(p.head_span(), "public, and Docker's published ports bypass UFW")
                        .help("bind to loopback with `host=\"127.0.0.1\"`, or say it is meant to be public with `host=\"0.0.0.0\"`; serve HTTP through a `site` instead"),
                );
            }
        }
        let long_running = svc.child("restart").and_then(|r| r.arg_str(0)) != Some("no");
        if svc.child("health").is_none() && long_running && sink.on(Code::MissingHealthcheck) {
            sink.push(
                Diagnostic::warning(Code::MissingHealthcheck, format!("service `{name}` has no health check"))
                    .at(svc.head_span(), "no `health`")
                    .help("add `health http=\"/health\"`, `health cmd=\"…\"` or `health tcp=PORT`; without it, restarts and rolling updates cannot tell a broken container from a working one"),
            );
        }
        if let Some(img) = svc.child("image").and_then(|i| i.arg(0)).filter(|i| i.ty.is_none()) {
            // An image whose params cannot be substituted is reported as such elsewhere.
            let resolved = img.value.as_str().and_then(|s| super::rules::substitute(s, symbols));
            if let Some(resolved) = resolved {
                if !values::image_is_pinned(&resolved) && sink.on(Code::LatestTag) {
                    sink.push(
                        Diagnostic::warning(
                            Code::LatestTag,
                            format!("image `{resolved}` of `{name}` is not pinned to a version"),
                        )
                        .at(img.span, "`latest` changes under you")
                        .help(format!("pin a tag or digest, e.g. `{}:1.2.3`", resolved.trim_end_matches(":latest"))),
                    );
                }
            }
        }
        let replicas = svc
            .child("replicas")
            .and_then(|r| r.arg(0))
            .and_then(|a| a.value.as_int())
            .unwrap_or(1)
            .max(svc.child("autoscale").and_then(|a| a.prop("max")).and_then(|m| m.value.as_int()).unwrap_or(1));
        let stateful = svc.child("stateful").and_then(|s| s.arg(0)).and_then(|a| a.value.as_bool()) == Some(true);
        if replicas > 1 && !stateful && sink.on(Code::SharedVolumeReplicas) {
            for m in svc.children_named("mount") {
                let Some(src) = m.arg_str(0) else { continue };
                if values::is_bind_source(src)
                    || !symbols.volumes.contains_key(src)
                    || m.prop_bool("read-only") == Some(true)
                {
                    continue;
                }
                sink.push(
                    Diagnostic::warning(Code::SharedVolumeReplicas, format!("the {replicas} replicas of `{name}` share volume `{src}`"))
                        .at(m.head_span(), "mounted by every replica")
                        .help("this works on one host, but a ReadWriteOnce claim can be mounted by one node only; use `stateful #true` for a volume per replica, or mount it read-only"),
                );
            }
        }
        for env in svc.children_named("env") {
            for p in &env.props {
                let key = p.key.name.to_ascii_uppercase();
                let secretish = ["PASSWORD", "SECRET", "TOKEN", "API_KEY", "PRIVATE_KEY", "ACCESS_KEY"]
                    .iter()
                    .any(|w| key.contains(w))
                    && !key.ends_with("_FILE");
                let literal =
                    matches!(&p.value.value, Value::String(s) if !s.is_empty() && !values::has_interpolation(s));
                if secretish && literal && p.value.ty.is_none() && sink.on(Code::PlaintextSecret) {
                    sink.push(
                        Diagnostic::warning(
                            Code::PlaintextSecret,
                            format!("`{}` of `{name}` holds a literal value", p.key.name),
                        )
                        .at(p.value.span, "a secret in plain text")
                        .help(format!(
                            "declare `secret \"…\" env=\"{}\"` (or `file=`) and write `{}=(secret)\"…\"`",
                            p.key.name, p.key.name
                        )),
                    );
                }
            }
        }
    }
    root_users(symbols, &mut sink);
    unscraped_alert_jobs(nodes, symbols, &mut sink);
}

/// Services whose `user` is root: the escape hatch for images that need it, named so that a
/// reviewer sees each one (the k8s target drops its capabilities and keeps `runAsNonRoot` off).
fn root_users(symbols: &Symbols, sink: &mut Sink) {
    if !sink.on(Code::RootUser) {
        return;
    }
    for (name, svc) in &symbols.services {
        let Some(user) = svc.child("user").and_then(|u| u.arg(0)) else { continue };
        let Some(value) = user.value.as_str() else { continue };
        let who = value.split(':').next().unwrap_or(value);
        if who == "root" || who == "0" {
            sink.push(
                Diagnostic::warning(Code::RootUser, format!("service `{name}` runs as root"))
                    .at(user.span, "root in the container")
                    .help("run it as an unprivileged user (`user \"1000:1000\"`, owning what it writes); if the image needs root, say why with `policy { allow \"root-user\" reason=\"…\" }`"),
            );
        }
    }
}

fn unscraped_alert_jobs(nodes: &[Node], symbols: &Symbols, sink: &mut Sink) {
    if !sink.on(Code::UnscrapedAlertJob) {
        return;
    }
    let mut jobs: Vec<String> = symbols
        .services
        .iter()
        .filter_map(|(n, s)| s.child("metrics").map(|m| m.prop_str("job").unwrap_or(n).to_string()))
        .collect();
    let monitoring = nodes.iter().find(|n| n.name.name == "monitoring");
    if let Some(m) = monitoring {
        jobs.push("prometheus".into());
        for e in m.children().iter().filter(|c| c.name.name == "exporters" || c.name.name == "exporter") {
            for a in &e.args {
                if let Some(x) = a.value.as_str() {
                    jobs.push(format!("{x}-exporter"));
                    jobs.push(x.to_string());
                }
            }
        }
        for s in m.children_named("scrape") {
            if let Some(x) = s.arg_str(0) {
                jobs.push(x.to_string());
            }
        }
        if m.children_named("probe").next().is_some() {
            jobs.push("blackbox".into());
        }
    }
    for group in nodes.iter().filter(|n| n.name.name == "alerts") {
        for alert in group.children_named("alert") {
            let Some(expr) = alert.prop("expr") else {
                continue;
            };
            let Some(text) = expr.value.as_str() else {
                continue;
            };
            for job in promql_jobs(text) {
                if !jobs.iter().any(|j| j == &job) {
                    let known: Vec<&str> = jobs.iter().map(String::as_str).collect();
                    let dym = crate::diagnostics::did_you_mean(&job, known.iter().copied());
                    sink.push(
                        Diagnostic::warning(
                            Code::UnscrapedAlertJob,
                            format!(
                                "alert `{}` selects job `{job}`, which the stack does not scrape",
                                alert.arg_str(0).unwrap_or("?")
                            ),
                        )
                        .at(expr.span, "this alert can never fire")
                        .help(match dym {
                            Some(d) => format!("did you mean job `{d}`?"),
                            None => format!(
                                "scrape it: add `metrics` to service `{job}`, or a `scrape \"{job}\"` in `monitoring`"
                            ),
                        }),
                    );
                }
            }
        }
    }
}

/// The `job` label values an expression selects with `=`.
pub fn promql_jobs(expr: &str) -> Vec<String> {
    use promql_parser::label::MatchOp;
    use promql_parser::parser::{self, Expr};
    fn walk(e: &Expr, out: &mut Vec<String>) {
        match e {
            Expr::VectorSelector(v) => {
                for m in &v.matchers.matchers {
                    if m.name == "job" && matches!(m.op, MatchOp::Equal) {
                        out.push(m.value.clone());
                    }
                }
            }
            Expr::MatrixSelector(m) => walk(&Expr::VectorSelector(m.vs.clone()), out),
            Expr::Aggregate(a) => walk(&a.expr, out),
            Expr::Unary(u) => walk(&u.expr, out),
            Expr::Binary(b) => {
                walk(&b.lhs, out);
                walk(&b.rhs, out);
            }
            Expr::Paren(p) => walk(&p.expr, out),
            Expr::Subquery(s) => walk(&s.expr, out),
            Expr::Call(c) => {
                for a in &c.args.args {
                    walk(a, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(e) = parser::parse(expr) {
        walk(&e, &mut out);
    }
    out.sort();
    out.dedup();
    out
}
