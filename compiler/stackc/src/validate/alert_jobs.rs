//! The `unscraped-alert-job` lint: an alert whose expression selects series the stack's
//! Prometheus never has can never fire, which looks exactly like "all is well". Checked
//! against the job names the Prometheus target emits (`emit::exporter_default_job`, the
//! `metrics job=` of services, Prometheus and exporters, `scrape`s, `blackbox`), for every
//! kind of `job` matcher, and against the metric names only an exporter provides.

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, Expr};

use super::Symbols;
use crate::diagnostics::{did_you_mean, Code, Diagnostic};
use crate::syntax::ast::Node;

/// Metric name prefixes that only one exporter kind provides (`redis_up`: the redis
/// exporter), for "the stack does not run the exporter this alert needs".
const EXPORTER_METRICS: &[(&str, &str)] = &[
    ("node_", "node"),
    ("container_", "cadvisor"),
    ("pg_", "postgres"),
    ("mysql_", "mysql"),
    ("redis_", "redis"),
    ("mongodb_", "mongodb"),
    ("probe_", "blackbox"),
    ("nginx_", "nginx"),
];

/// One selector of an expression: its metric name and its `job` matchers.
#[derive(Debug, Clone)]
pub struct Selector {
    pub metric: Option<String>,
    pub jobs: Vec<Matcher>,
}

/// Every vector selector of a PromQL expression (none when it does not parse: E0313 says so).
pub fn promql_selectors(expr: &str) -> Vec<Selector> {
    fn walk(e: &Expr, out: &mut Vec<Selector>) {
        match e {
            Expr::VectorSelector(v) => {
                let name = v.name.clone().or_else(|| {
                    v.matchers
                        .matchers
                        .iter()
                        .find(|m| m.name == "__name__" && matches!(m.op, MatchOp::Equal))
                        .map(|m| m.value.clone())
                });
                let jobs = v.matchers.matchers.iter().filter(|m| m.name == "job").cloned().collect();
                out.push(Selector { metric: name, jobs });
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
    out
}

/// What the stack's Prometheus scrapes, as the Prometheus target names it.
struct Scraped {
    /// Every job name, in the order of `prometheus.yml`.
    jobs: Vec<String>,
    /// The exporter kinds the stack runs.
    exporters: Vec<String>,
    /// The services' jobs: a service may embed an exporter, so it may serve an exporter's
    /// metrics when an alert selects its job.
    services: Vec<String>,
    /// The extra `scrape`s' jobs: an exporter elsewhere may be any of them.
    scrapes: Vec<String>,
}

fn scraped(nodes: &[Node], symbols: &Symbols) -> Scraped {
    let mut s = Scraped { jobs: Vec::new(), exporters: Vec::new(), services: Vec::new(), scrapes: Vec::new() };
    let Some(m) = nodes.iter().find(|n| n.name.name == "monitoring") else {
        for (name, svc) in &symbols.services {
            if let Some(metrics) = svc.child("metrics") {
                s.jobs.push(metrics.prop_str("job").unwrap_or(name).to_string());
            }
        }
        s.services = s.jobs.clone();
        return s;
    };
    let job_of = |block: Option<&Node>, default: String| {
        block.and_then(|b| b.child("metrics")).and_then(|x| x.prop_str("job")).map_or(default, str::to_string)
    };
    s.jobs.push(job_of(m.child("prometheus"), "prometheus".into()));
    for (name, svc) in &symbols.services {
        if let Some(metrics) = svc.child("metrics") {
            let job = metrics.prop_str("job").unwrap_or(name).to_string();
            s.services.push(job.clone());
            s.jobs.push(job);
        }
    }
    for e in m.children().iter().filter(|c| c.name.name == "exporters" || c.name.name == "exporter") {
        for kind in e.args.iter().filter_map(|a| a.value.as_str()) {
            if s.exporters.iter().any(|k| k == kind) {
                continue;
            }
            // A block's `metrics job=` renames the job; the last `exporter` block wins, as
            // in lowering.
            let block = m.children_named("exporter").filter(|b| b.arg_str(0) == Some(kind)).last();
            s.jobs.push(job_of(block, crate::emit::exporter_default_job(kind).0));
            s.exporters.push(kind.to_string());
        }
    }
    if m.children_named("probe").next().is_some() {
        s.jobs.push("blackbox".into());
    }
    for x in m.children_named("scrape").filter_map(|x| x.arg_str(0)) {
        s.jobs.push(x.to_string());
        s.scrapes.push(x.to_string());
    }
    s
}

/// The help for a job that is not scraped: the real job it was meant to be, else how to
/// scrape it.
fn job_help(job: &str, s: &Scraped) -> String {
    // `node-exporter` is the exporter's service, not its job (`node`).
    let kind = job.strip_suffix("-exporter").unwrap_or(job);
    let default_job = crate::emit::exporter_preset(kind).map(|_| crate::emit::exporter_default_job(kind).0);
    if let Some(default_job) = default_job {
        if s.exporters.iter().any(|k| k == kind) {
            return format!("the {kind} exporter's job is `{default_job}`: select `job=\"{default_job}\"`");
        }
        return format!("add `exporters \"{kind}\"` to `monitoring`: its job is `{default_job}`");
    }
    match did_you_mean(job, s.jobs.iter().map(String::as_str)) {
        Some(d) => format!("did you mean job `{d}`?"),
        None => format!(
            "{}; or scrape `{job}`: add `metrics` to service `{job}`, or a `scrape \"{job}\"` in `monitoring`",
            job_list(s)
        ),
    }
}

fn job_list(s: &Scraped) -> String {
    if s.jobs.is_empty() {
        return "the stack scrapes no job".into();
    }
    format!("the jobs are {}", s.jobs.iter().map(|j| format!("`{j}`")).collect::<Vec<_>>().join(", "))
}

/// The `unscraped-alert-job` warnings of the stack's alerts.
pub fn unscraped(nodes: &[Node], symbols: &Symbols) -> Vec<Diagnostic> {
    let s = scraped(nodes, symbols);
    let mut out = Vec::new();
    for group in nodes.iter().filter(|n| n.name.name == "alerts") {
        for alert in group.children_named("alert") {
            let Some(expr) = alert.prop("expr") else { continue };
            let Some(text) = expr.value.as_str() else { continue };
            let name = alert.arg_str(0).unwrap_or("?");
            let warn = |message: String, label: &str, help: String| {
                Diagnostic::warning(Code::UnscrapedAlertJob, message).at(expr.span, label).help(help)
            };
            let mut said: Vec<String> = Vec::new();
            for sel in promql_selectors(text) {
                for m in &sel.jobs {
                    let selected: Vec<&String> = s.jobs.iter().filter(|j| m.is_match(j)).collect();
                    let message = match &m.op {
                        MatchOp::Equal if selected.is_empty() => {
                            format!("alert `{name}` selects job `{}`, which the stack does not scrape", m.value)
                        }
                        MatchOp::Re(_) if selected.is_empty() => format!(
                            "alert `{name}` selects `job=~\"{}\"`, which matches no job the stack scrapes",
                            m.value
                        ),
                        // A negative matcher that excludes nothing names a job that is not
                        // there: a typo, or a job renamed since.
                        MatchOp::NotEqual | MatchOp::NotRe(_) if selected.len() == s.jobs.len() => format!(
                            "alert `{name}` excludes `job{}\"{}\"`, which matches no job the stack scrapes",
                            m.op, m.value
                        ),
                        _ => continue,
                    };
                    let help = match &m.op {
                        MatchOp::Re(_) | MatchOp::NotRe(_) => job_list(&s),
                        _ => job_help(&m.value, &s),
                    };
                    let label = match &m.op {
                        MatchOp::NotEqual | MatchOp::NotRe(_) => "this matcher excludes nothing",
                        _ => "this alert can never fire",
                    };
                    if !said.contains(&message) {
                        said.push(message.clone());
                        out.push(warn(message, label, help));
                    }
                }
                let Some(metric) = &sel.metric else { continue };
                let Some((_, kind)) = EXPORTER_METRICS.iter().find(|(prefix, _)| metric.starts_with(prefix)) else {
                    continue;
                };
                // Only the exporter serves it, unless a `scrape` the selector does not rule
                // out may, or a service the selector asks for by its job.
                let selects = |j: &String| sel.jobs.iter().all(|m| m.is_match(j));
                let foreign = s.scrapes.iter().any(selects) || (!sel.jobs.is_empty() && s.services.iter().any(selects));
                if s.exporters.iter().any(|k| k == kind) || foreign {
                    continue;
                }
                let message = format!(
                    "alert `{name}` uses `{metric}`, a metric of the {kind} exporter, which the stack does not run"
                );
                if !said.contains(&message) {
                    said.push(message.clone());
                    let job = crate::emit::exporter_default_job(kind).0;
                    out.push(warn(
                        message,
                        "this alert can never fire",
                        format!("add `exporters \"{kind}\"` to `monitoring` (its job is `{job}`)"),
                    ));
                }
            }
        }
    }
    out
}
