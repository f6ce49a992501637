//! Policy lints: named checks with default levels that `policy { deny|warn|allow }` and the
//! CLI (`-D`, `-W`, `-A`) change.

use std::collections::{HashMap, HashSet};

use super::values;
use super::Symbols;
use crate::diagnostics::{Code, Diagnostic, Diagnostics, Severity, Suppressed};
use crate::source::Span;
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
    // Reported by the targets (emit), after validation: see [`apply_to_target_diagnostics`].
    Lint { code: Code::TargetApproximation, default: Level::Warn },
    // The deployment-policy lints (`policy_lints.rs`).
    Lint { code: Code::DockerBypassesFirewall, default: Level::Warn },
    Lint { code: Code::MissingResourceLimits, default: Level::Allow },
    Lint { code: Code::NoHsts, default: Level::Warn },
    Lint { code: Code::DebugInProduction, default: Level::Deny },
    Lint { code: Code::DockerSocketMount, default: Level::Warn },
    Lint { code: Code::PrivilegedOrRoot, default: Level::Warn },
    Lint { code: Code::SingleReplicaPublic, default: Level::Warn },
    Lint { code: Code::WildcardCors, default: Level::Warn },
    Lint { code: Code::AlertsWithoutReceiver, default: Level::Warn },
    Lint { code: Code::BackupUnmonitored, default: Level::Allow },
    Lint { code: Code::ImageNotPinned, default: Level::Allow },
    Lint { code: Code::RawProxyConfig, default: Level::Warn },
];

/// Whether an environment variable's name says it holds a secret (`plaintext-secret`, and
/// `stackc import`, which turns such variables into `secret` declarations).
pub fn looks_secret(env_name: &str) -> bool {
    let key = env_name.to_ascii_uppercase();
    ["PASSWORD", "SECRET", "TOKEN", "API_KEY", "PRIVATE_KEY", "ACCESS_KEY"].iter().any(|w| key.contains(w))
        && !key.ends_with("_FILE")
}

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
    /// Lints the stack's policy turns off (not their default, not the command line): their
    /// findings are kept as suppressed, with the reason.
    policy_allowed: HashSet<Code>,
    /// `policy { LEVEL "lint" service="NAME" }`, in order: a level for the findings inside
    /// one service.
    scoped: Vec<Scoped>,
}

struct Scoped {
    code: Code,
    level: Level,
    /// The span of the service's (`service=`) or site's (`site=`) node.
    span: Span,
    reason: Option<String>,
}

impl LintConfig {
    /// The levels from the stack's `policy` nodes (validation reads the AST).
    pub fn levels(&self, nodes: &[Node]) -> Levels {
        let policy_rules = || nodes.iter().filter(|n| n.name.name == "policy").flat_map(|p| p.children());
        let rules =
            policy_rules().filter(|r| r.prop("service").is_none() && r.prop("site").is_none()).flat_map(|rule| {
                rule.args
                    .iter()
                    .filter_map(move |a| Some((a.value.as_str()?, rule.name.name.as_str(), rule.prop_str("reason"))))
            });
        let mut levels = self.resolve(rules);
        for rule in policy_rules() {
            let Some(svc) = scope_node(nodes, rule) else { continue };
            let Some(level) = Level::parse(&rule.name.name) else { continue };
            for name in rule.args.iter().filter_map(|a| a.value.as_str()) {
                let Some(l) = lint_by_name(name) else { continue };
                // The command line wins over the stack, for one service too.
                if self.overrides.iter().any(|(n, _)| n == name) {
                    continue;
                }
                let reason = rule.prop_str("reason").map(str::to_string);
                levels.scoped.push(Scoped { code: l.code, level, span: svc.span, reason });
            }
        }
        levels
    }

    /// `(lint name, level word, reason)` in the order the stack gives them.
    fn resolve<'a>(&self, rules: impl Iterator<Item = (&'a str, &'a str, Option<&'a str>)>) -> Levels {
        let mut levels: HashMap<Code, Level> = LINTS.iter().map(|l| (l.code, l.default)).collect();
        let mut reasons = HashMap::new();
        let mut policy_allowed = HashSet::new();
        for (name, word, reason) in rules {
            let (Some(l), Some(level)) = (lint_by_name(name), Level::parse(word)) else { continue };
            levels.insert(l.code, level);
            if level == Level::Allow {
                policy_allowed.insert(l.code);
            } else {
                policy_allowed.remove(&l.code);
            }
            match reason {
                Some(why) => reasons.insert(l.code, why.to_string()),
                None => reasons.remove(&l.code),
            };
        }
        for (name, level) in &self.overrides {
            if let Some(l) = lint_by_name(name) {
                levels.insert(l.code, *level);
                reasons.remove(&l.code);
                policy_allowed.remove(&l.code);
            }
        }
        Levels { levels, reasons, policy_allowed, scoped: Vec::new() }
    }
}

/// The `service=` or `site=` (by its first host) node a policy rule is scoped to.
fn scope_node<'a>(nodes: &'a [Node], rule: &Node) -> Option<&'a Node> {
    let (kind, name) = match (rule.prop_str("service"), rule.prop_str("site")) {
        (Some(service), _) => ("service", service),
        (None, Some(host)) => ("site", host),
        (None, None) => return None,
    };
    nodes.iter().find(|n| n.name.name == kind && n.arg_str(0) == Some(name))
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

pub(super) struct Sink<'a> {
    levels: &'a Levels,
    diags: &'a mut Diagnostics,
}

impl Sink<'_> {
    /// Whether a lint's findings are wanted: reported, or kept as suppressed by the policy.
    pub(super) fn on(&self, code: Code) -> bool {
        self.levels.levels.get(&code).is_some_and(|l| *l != Level::Allow)
            || self.levels.policy_allowed.contains(&code)
            || self.levels.scoped.iter().any(|s| s.code == code)
    }

    pub(super) fn push(&mut self, mut d: Diagnostic) {
        // The last rule for the service the finding is in, else the stack-wide level.
        let at = d.primary.as_ref().map(|l| l.span);
        let scoped = self.levels.scoped.iter().rev().find(|s| {
            s.code == d.code
                && at.is_some_and(|at| {
                    at.source == s.span.source && s.span.offset <= at.offset && at.end() <= s.span.end()
                })
        });
        let (level, reason, by_policy) = match scoped {
            Some(s) => (s.level, s.reason.clone(), true),
            None => (
                self.levels.levels.get(&d.code).copied().unwrap_or(Level::Warn),
                self.levels.reasons.get(&d.code).cloned(),
                self.levels.policy_allowed.contains(&d.code),
            ),
        };
        d.severity = if level == Level::Deny { Severity::Error } else { Severity::Warning };
        if level == Level::Allow {
            if by_policy {
                self.diags.suppress(Suppressed { diagnostic: d, reason });
            }
            return;
        }
        let name = d.code.info().name;
        let note = match level {
            Level::Deny => {
                format!("`{name}` is denied by policy; `policy {{ warn \"{name}\" }}` would make it a warning")
            }
            _ => format!("silence with `policy {{ allow \"{name}\" }}`"),
        };
        // The stack's own word for why it set this level, under the note.
        let note = match &reason {
            Some(why) => format!("{note}\npolicy reason: {}", crate::diagnostics::quote(why)),
            None => note,
        };
        d.help = Some(match d.help.take() {
            Some(h) => format!("{h}\n{note}"),
            None => note,
        });
        self.diags.push(d);
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
pub(super) fn image_base(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split(':').next().unwrap_or(last)
}

pub fn is_database(svc: &Node) -> bool {
    let img = svc.child("image").and_then(|i| i.arg_str(0)).unwrap_or("");
    let base = image_base(img);
    DB_IMAGES.iter().any(|d| base.strip_prefix(d).is_some_and(|rest| rest.is_empty() || rest.starts_with('-')))
}

fn public(publish: &Node) -> bool {
    match publish.prop_str("host") {
        None => true,
        Some(h) => values::address(h).is_ok_and(|a| a.is_unspecified()),
    }
}

pub fn check(nodes: &[Node], symbols: &Symbols, levels: &Levels, env: Option<&str>, diags: &mut Diagnostics) {
    let mut sink = Sink { levels, diags };
    super::policy_lints::check(nodes, symbols, env, &mut sink);
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
                let secretish = looks_secret(&key);
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
    unscraped_alert_jobs(nodes, symbols, &mut sink);
    param_bound_publishes(symbols, &mut sink);
}

/// `publish host="${param}"` where the deploy environment sets the param: an empty or
/// `0.0.0.0` value publishes on all addresses, and the UFW script (which reads the stack, not
/// the deploy environment) governs only publishes without `host=`.
fn param_bound_publishes(symbols: &Symbols, sink: &mut Sink) {
    if !sink.on(Code::PublicPort) {
        return;
    }
    for (name, svc) in &symbols.services {
        for p in svc.children_named("publish") {
            let Some(host) = p.prop("host") else { continue };
            let Some(text) = host.value.as_str() else { continue };
            let settable = crate::ir::Text::from_default(text).0.into_iter().find_map(|piece| match piece {
                crate::ir::Piece::Param(n) => {
                    let env = symbols.params.get(n.as_str())?.prop_str("env")?;
                    Some((n, env.to_string()))
                }
                _ => None,
            });
            let Some((param, env)) = settable else { continue };
            let port = p.arg(0).and_then(|a| a.value.as_int()).unwrap_or(0);
            sink.push(
                Diagnostic::warning(
                    Code::PublicPort,
                    format!("`{name}` binds port {port} to param `{param}`, which the deploy environment sets (`{env}`)"),
                )
                .at(host.span, "`0.0.0.0` or an empty value here publishes on all addresses")
                .help(format!(
                    "with `{env}=0.0.0.0` the port is public, and Docker's published ports bypass UFW (the firewall script governs only a `publish` without `host=`); keep the address in the stack (`host=\"10.0.0.1\"`), or drop `env=` from param `{param}`"
                )),
            );
        }
    }
}

fn unscraped_alert_jobs(nodes: &[Node], symbols: &Symbols, sink: &mut Sink) {
    if !sink.on(Code::UnscrapedAlertJob) {
        return;
    }
    for d in super::alert_jobs::unscraped(nodes, symbols) {
        sink.push(d);
    }
}
