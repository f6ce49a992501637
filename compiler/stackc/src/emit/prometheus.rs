//! The Prometheus target: `prometheus/prometheus.yml`, one `prometheus/rules/<group>.yml` per
//! `alerts` group, and `alertmanager/alertmanager.yml` when the stack has a `notify`. The
//! compose target runs Prometheus and Alertmanager with these files mounted (the paths are
//! the `PROMETHEUS_DIR` / `ALERTMANAGER_DIR` of `emit/mod.rs`); see `docs/targets/prometheus.md`.
//!
//! Scrape targets are compose service names (`api:3001`), resolved by Docker's DNS on the
//! networks Prometheus shares with them. Params are rendered with their compile-time
//! defaults: Prometheus does not read the deploy environment (`check` warns where a param
//! with `env=` is used). Secrets never appear: Alertmanager reads webhook URLs from the
//! mounted secret files (`api_url_file`, `url_file`).

use indexmap::IndexMap;
use serde::Serialize;

use super::{exporter_job, exporter_preset, yaml, OutputFile, ALERTMANAGER_DIR, ALERTMANAGER_PORT, PROMETHEUS_DIR};
// The rule groups are shared with the k8s target's PrometheusRule.
use super::{duration, rule_group, rule_value as value, AnyRule, Multiline, Rule, RuleGroup};
use crate::diagnostics::{origin_span, Code, Diagnostic};
use crate::ir::*;

#[derive(Serialize)]
struct Config {
    #[serde(skip_serializing_if = "Option::is_none")]
    global: Option<Global>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rule_files: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alerting: Option<Alerting>,
    scrape_configs: Vec<ScrapeConfig>,
}

#[derive(Serialize)]
struct Global {
    #[serde(skip_serializing_if = "Option::is_none")]
    scrape_interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scrape_timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    evaluation_interval: Option<String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    external_labels: IndexMap<String, String>,
}

#[derive(Serialize)]
struct Alerting {
    alertmanagers: Vec<AlertmanagerConfig>,
}

#[derive(Serialize)]
struct AlertmanagerConfig {
    static_configs: Vec<StaticConfig>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct StaticConfig {
    pub targets: Vec<String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct DnsSdConfig {
    pub names: Vec<String>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub port: u16,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Relabel {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_labels: Vec<String>,
    pub target_label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

/// One scrape job, keys in the order of Prometheus' documentation (public for the tests
/// of the job derivation).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct ScrapeConfig {
    pub job_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub honor_labels: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub static_configs: Vec<StaticConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_sd_configs: Vec<DnsSdConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub relabel_configs: Vec<Relabel>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metric_relabel_configs: Vec<MetricRelabel>,
}

/// Basic auth for a scrape: the password from the secret's mounted file.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct BasicAuth {
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct TlsConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insecure_skip_verify: Option<bool>,
}

/// A rule of `metric_relabel_configs` (applied to the scraped samples).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct MetricRelabel {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_labels: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
}

impl ScrapeConfig {
    fn new(job: impl Into<String>) -> Self {
        ScrapeConfig {
            job_name: job.into(),
            honor_labels: None,
            scrape_interval: None,
            scrape_timeout: None,
            metrics_path: None,
            scheme: None,
            basic_auth: None,
            tls_config: None,
            static_configs: Vec::new(),
            dns_sd_configs: Vec::new(),
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
        }
    }

    fn path(mut self, path: &str) -> Self {
        // `/metrics` is Prometheus' default: written only when it differs.
        if path != "/metrics" {
            self.metrics_path = Some(path.to_string());
        }
        self
    }

    fn scheme(mut self, scheme: Option<&str>) -> Self {
        self.scheme = scheme.filter(|s| *s != "http").map(str::to_string);
        self
    }

    fn target(mut self, target: String) -> Self {
        self.static_configs.push(StaticConfig { targets: vec![target], labels: IndexMap::new() });
        self
    }
}

#[derive(Serialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Serialize)]
struct AmConfig {
    route: AmRoute,
    receivers: Vec<AmReceiver>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    inhibit_rules: Vec<AmInhibit>,
}

#[derive(Serialize)]
struct AmRoute {
    receiver: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    matchers: Vec<String>,
    #[serde(rename = "continue", skip_serializing_if = "std::ops::Not::not")]
    continue_: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    group_by: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_wait: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat_interval: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<AmRoute>,
}

#[derive(Serialize)]
struct AmInhibit {
    source_matchers: Vec<String>,
    target_matchers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    equal: Vec<String>,
}

#[derive(Serialize)]
struct AmReceiver {
    name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    slack_configs: Vec<SlackConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    webhook_configs: Vec<WebhookConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    email_configs: Vec<EmailConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pagerduty_configs: Vec<PagerDutyConfig>,
}

impl AmReceiver {
    fn new(name: &str) -> Self {
        AmReceiver {
            name: name.to_string(),
            slack_configs: Vec::new(),
            webhook_configs: Vec::new(),
            email_configs: Vec::new(),
            pagerduty_configs: Vec::new(),
        }
    }
}

#[derive(Serialize)]
struct EmailConfig {
    to: String,
    from: String,
    smarthost: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_password_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    require_tls: Option<bool>,
    send_resolved: bool,
}

#[derive(Serialize)]
struct PagerDutyConfig {
    routing_key_file: String,
    send_resolved: bool,
}

#[derive(Serialize)]
struct SlackConfig {
    api_url_file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<String>,
    send_resolved: bool,
}

#[derive(Serialize)]
struct WebhookConfig {
    url_file: String,
    send_resolved: bool,
}

/// The params a stack string uses.
fn params_of(s: &str) -> Vec<String> {
    Text::from_default(s).0.into_iter().filter_map(|p| if let Piece::Param(n) = p { Some(n) } else { None }).collect()
}

/// The file of an `alerts` group under `prometheus/`.
fn rule_file(group: &str) -> String {
    let safe: String =
        group.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    format!("rules/{safe}.yml")
}

/// The scrape job of a service with `metrics`: one target for one replica; for several, a DNS
/// A lookup of the service name, so that each replica is its own target (a static
/// `api:3001` would reach whichever replica Docker's DNS answers with first, and `up`
/// would say nothing about the others).
/// A job from a `metrics` node, without its targets.
fn metrics_job(m: &Metrics) -> ScrapeConfig {
    let mut job = ScrapeConfig::new(m.job.clone()).path(&m.path).scheme(Some(&m.scheme));
    job.scrape_interval = m.interval_ms.map(duration);
    job
}

pub fn service_job(svc: &Service, m: &Metrics) -> ScrapeConfig {
    let mut job = metrics_job(m);
    if svc.replicas > 1 {
        job.dns_sd_configs.push(DnsSdConfig { names: vec![svc.name.clone()], kind: "A", port: m.port });
        job
    } else {
        job.target(format!("{}:{}", svc.name, m.port))
    }
}

/// The `blackbox` job: one static group per module (kept as the `module` label), each probe
/// URL the `target` parameter and the `instance` label, every scrape sent to the exporter.
pub fn blackbox_job(stack: &Stack, probes: &[BlackboxProbe], exporter: &str) -> ScrapeConfig {
    let mut job = ScrapeConfig::new("blackbox").path("/probe");
    for p in probes {
        let module = value(stack, &p.module);
        let url = value(stack, &p.url);
        match job.static_configs.iter_mut().find(|g| g.labels.get("module") == Some(&module)) {
            Some(g) => {
                if !g.targets.contains(&url) {
                    g.targets.push(url)
                }
            }
            None => job
                .static_configs
                .push(StaticConfig { targets: vec![url], labels: IndexMap::from([("module".to_string(), module)]) }),
        }
    }
    let relabel = |from: &str, to: &str| Relabel {
        source_labels: vec![from.to_string()],
        target_label: to.to_string(),
        replacement: None,
    };
    job.relabel_configs = vec![
        relabel("__address__", "__param_target"),
        relabel("__param_target", "instance"),
        relabel("module", "__param_module"),
        Relabel { source_labels: Vec::new(), target_label: "__address__".into(), replacement: Some(exporter.into()) },
    ];
    job
}

/// Every scrape job, in order: Prometheus itself, the services with `metrics`, the
/// exporters, the probes, the extra `scrape`s.
pub fn scrape_jobs(stack: &Stack) -> Vec<ScrapeConfig> {
    let Some(mon) = &stack.monitoring else { return Vec::new() };
    let own = match &mon.prometheus_service.metrics {
        Some(m) => metrics_job(m).target(format!("localhost:{}", m.port)),
        None => ScrapeConfig::new("prometheus").target(format!("localhost:{}", super::PROMETHEUS_PORT)),
    };
    let mut jobs = vec![own];
    for svc in stack.services.values() {
        if let Some(m) = &svc.metrics {
            jobs.push(service_job(svc, m));
        }
    }
    for e in &mon.exporters {
        let (job, path, port) = exporter_job(e);
        let j = match &e.service.metrics {
            Some(m) => metrics_job(m),
            None => ScrapeConfig::new(job).path(&path),
        };
        jobs.push(j.target(format!("{}:{port}", e.service.name)));
    }
    if !mon.probes.is_empty() {
        let exporter = mon.exporters.iter().find(|e| e.kind == "blackbox");
        let port = exporter_preset("blackbox").map_or(9115, |p| p.port);
        let address = format!("{}:{port}", exporter.map_or("blackbox-exporter", |e| e.service.name.as_str()));
        jobs.push(blackbox_job(stack, &mon.probes, &address));
    }
    for s in &mon.scrapes {
        jobs.push(extra_scrape_job(stack, s));
    }
    jobs
}

/// The job of a `scrape`: its targets, timing, authentication and sample rewriting.
fn extra_scrape_job(stack: &Stack, s: &Scrape) -> ScrapeConfig {
    let mut j = ScrapeConfig::new(s.name.clone())
        .path(&value(stack, s.path.as_deref().unwrap_or("/metrics")))
        .scheme(s.scheme.as_deref());
    j.scrape_interval = s.interval_ms.map(duration);
    j.scrape_timeout = s.timeout_ms.map(duration);
    j.honor_labels = s.honor_labels;
    j.basic_auth = s.basic_auth_user.as_deref().map(|u| BasicAuth {
        username: value(stack, u),
        password_file: s.basic_auth_password_secret.as_deref().map(secret_file),
    });
    if s.tls_server_name.is_some() || s.insecure_skip_verify.is_some() {
        j.tls_config = Some(TlsConfig {
            server_name: s.tls_server_name.as_deref().map(|h| value(stack, h)),
            insecure_skip_verify: s.insecure_skip_verify,
        });
    }
    let mut targets = vec![value(stack, &s.target)];
    for t in &s.more_targets {
        let t = value(stack, t);
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    j.static_configs.push(StaticConfig { targets, labels: IndexMap::new() });
    for re in &s.drop_metrics {
        j.metric_relabel_configs.push(MetricRelabel {
            source_labels: vec!["__name__".into()],
            regex: Some(value(stack, re)),
            target_label: None,
            action: Some("drop"),
        });
    }
    // A rename is a copy to the new name, then the old label dropped.
    for (from, to) in &s.rename_labels {
        j.metric_relabel_configs.push(MetricRelabel {
            source_labels: vec![from.clone()],
            regex: None,
            target_label: Some(to.clone()),
            action: None,
        });
        j.metric_relabel_configs.push(MetricRelabel {
            source_labels: Vec::new(),
            regex: Some(from.clone()),
            target_label: None,
            action: Some("labeldrop"),
        });
    }
    j
}

/// What Prometheus cannot do for this stack.
pub fn check(stack: &Stack) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // Rules without an Alertmanager are the lint `alerts-without-receiver` (W0116), reported
    // by validation: one report, with the lint's level and policy.
    let Some(mon) = &stack.monitoring else {
        return out;
    };
    if let (Some(origin), false) = (mon.alertmanager.origin, mon.has_alertmanager()) {
        out.push(
            Diagnostic::warning(
                Code::TargetApproximation,
                "the `alertmanager` settings are not written: the stack has no `notify`, so no Alertmanager",
            )
            .at(origin_span(origin), "these settings apply to nothing")
            .help("add `notify \"webhook\" webhook=(secret)\"…\"` (or another receiver) to `monitoring`, or remove `alertmanager`"),
        );
    }
    if let Some(b) = stack.backups.values().next().filter(|_| !mon.exporters.iter().any(|e| e.kind == "node")) {
        out.push(
            Diagnostic::warning(
                Code::TargetApproximation,
                "the backups' age alerts are written, but nothing reads their last-success files: the stack runs no node exporter",
            )
            .at(origin_span(b.origin), "its last success is written to backup/metrics/, which no one scrapes")
            .help("add `exporters \"node\"` to `monitoring`: compose mounts backup/metrics/ into it as its textfile directory"),
        );
    }
    if let Some(g) =
        stack.alert_groups.iter().find(|g| rule_file(&g.name) == BACKUP_RULES).filter(|_| backup_rules(stack).is_some())
    {
        out.push(
            Diagnostic::error(
                Code::TargetCannotExpress,
                format!("the alerts group `{}` has the file of the backups' alerts", g.name),
            )
            .at(origin_span(g.origin), "written to prometheus/rules/stackc-backups.yml")
            .help("give the group another name: stackc writes the backups' age alerts there"),
        );
    }
    // Two jobs of one name: Prometheus refuses the configuration.
    let mut seen: Vec<String> = Vec::new();
    for j in scrape_jobs(stack) {
        if seen.contains(&j.job_name) {
            let origin = stack
                .services
                .values()
                .find(|s| s.metrics.as_ref().is_some_and(|m| m.job == j.job_name))
                .map(|s| s.origin)
                .unwrap_or(mon.prometheus_service.origin);
            out.push(
                Diagnostic::error(Code::TargetCannotExpress, format!("two Prometheus scrape jobs are named `{}`", j.job_name))
                    .at(origin_span(origin), "a job of this name")
                    .help("job names are unique: give one of them another name with `metrics job=\"…\"` or another `scrape` name (exporters take their kind as job name, `blackbox` is the probe job)"),
            );
        } else {
            seen.push(j.job_name);
        }
    }
    if !mon.probes.is_empty() && !mon.exporters.iter().any(|e| e.kind == "blackbox") {
        out.push(
            Diagnostic::error(
                Code::TargetCannotExpress,
                "the probes need the blackbox exporter, which the stack does not run",
            )
            .at(origin_span(mon.prometheus_service.origin), "monitoring with probes")
            .help("add `exporters \"blackbox\"` to `monitoring`: the blackbox exporter runs the probes"),
        );
    }
    out.extend(mon.probes.iter().filter_map(|p| loopback_probe(stack, p)));
    // Every string the configuration is built from, with where it is declared.
    let mut strings: Vec<(&str, Origin)> = Vec::new();
    let here = mon.prometheus_service.origin;
    for p in &mon.probes {
        strings.push((&p.url, here));
        strings.push((&p.module, here));
    }
    for s in &mon.scrapes {
        strings.push((&s.target, here));
        strings.extend(s.path.as_deref().map(|p| (p, here)));
        strings.extend(s.more_targets.iter().chain(&s.drop_metrics).map(|t| (t.as_str(), here)));
        strings.extend([&s.basic_auth_user, &s.tls_server_name].into_iter().flatten().map(|v| (v.as_str(), here)));
    }
    for n in &mon.notify {
        strings.extend(n.channel.as_deref().map(|c| (c, here)));
    }
    for e in &mon.emails {
        strings.extend([&e.to, &e.from, &e.smarthost].map(|v| (v.as_str(), here)));
        strings.extend(e.auth_username.as_deref().map(|u| (u, here)));
    }
    strings.extend(mon.prometheus.external_labels.values().map(|v| (v.as_str(), here)));
    for g in &stack.alert_groups {
        for r in &g.records {
            strings.push((&r.expr, r.origin));
            strings.extend(r.labels.values().map(|v| (v.as_str(), r.origin)));
        }
        for a in &g.alerts {
            strings.push((&a.expr, a.origin));
            for s in [&a.summary, &a.description, &a.runbook].into_iter().flatten() {
                strings.push((s, a.origin));
            }
            strings.extend(a.labels.values().map(|v| (v.as_str(), a.origin)));
        }
    }
    let mut warned: Vec<String> = Vec::new();
    for (s, origin) in strings {
        for name in params_of(s) {
            let Some(p) = stack.params.get(&name) else { continue };
            if stack.param_value(&name).is_none() {
                out.push(
                    Diagnostic::error(
                        Code::TargetCannotExpress,
                        format!("the Prometheus configuration uses param `{name}`, which has no default"),
                    )
                    .at(origin_span(origin), "used here")
                    .label(origin_span(p.origin), "declared here")
                    .help("give the param a `default=`: Prometheus does not read the deploy environment, so its files get params' defaults"),
                );
            } else if let (Some(var), false) = (&p.env, warned.contains(&name)) {
                warned.push(name.clone());
                out.push(
                    Diagnostic::warning(
                        Code::TargetApproximation,
                        format!("the Prometheus configuration gets param `{name}` as its default, not from `{var}`"),
                    )
                    .at(origin_span(origin), "uses the param")
                    .label(origin_span(p.origin), "its default is used")
                    .help(format!("Prometheus does not read the deploy environment: when `{var}` is set to another value, change the param's default (or an `env` overlay) and rebuild")),
                );
            }
        }
    }
    out
}

/// The host and port of a probe URL (`https://shop.example.com/health` → the host, 443).
fn url_host_port(url: &str) -> Option<(String, u16, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let default = if scheme == "https" { 443 } else { 80 };
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, after) = v6.split_once(']')?;
            (h.to_string(), after.strip_prefix(':').and_then(|p| p.parse().ok()).unwrap_or(default))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().ok()?),
            None => (authority.to_string(), default),
        },
    };
    Some((host.to_ascii_lowercase(), port, path.to_string()))
}

/// A probe of `localhost` runs in the blackbox exporter's container, where `localhost` is
/// the exporter itself: the probe fails (or, worse, succeeds against the wrong thing) and
/// its alert fires forever. The exporter reaches a service by its name on the shared network,
/// and a site by its public URL; the help says which of the two fits.
fn loopback_probe(stack: &Stack, probe: &BlackboxProbe) -> Option<Diagnostic> {
    let url = value(stack, &probe.url);
    let (host, port, path) = url_host_port(&url)?;
    let loopback = host == "localhost"
        || host.ends_with(".localhost")
        || host.starts_with("127.")
        || host == "::1"
        || host == "0.0.0.0";
    if !loopback {
        return None;
    }
    // The service that serves (or publishes) this port on the host, if any.
    let service = stack.services.values().find_map(|s| {
        s.ports
            .iter()
            .find(|p| p.port == port)
            .map(|p| (s, p.port))
            .or_else(|| s.publish.iter().find(|p| p.host_port == port).map(|p| (s, p.target)))
    });
    let site = stack.sites.iter().flat_map(|s| s.hosts.first()).next();
    let site = site.map(|h| h.render(|n| stack.param_value(n).unwrap_or_default()));
    let help = match (service, site) {
        (Some((s, p)), _) => format!(
            "probe the service by its name on the network the exporter shares with it: `probe \"http://{}:{p}{path}\"`",
            s.name
        ),
        (None, Some(site)) => {
            format!("probe the site's public URL, as users reach it: `probe \"https://{site}{path}\"`")
        }
        (None, None) => {
            "probe a service by its name (`http://api:8080/health`) or a site by its public URL".to_string()
        }
    };
    Some(
        Diagnostic::error(
            Code::TargetCannotExpress,
            format!("the probe of `{url}` runs inside the blackbox exporter's container, where `{host}` is the exporter itself"),
        )
        .at(origin_span(probe.origin), "a probe of the exporter's own loopback")
        .help(help),
    )
}

fn header(stack: &Stack) -> String {
    super::header("#", stack)
}

fn prometheus_yml(stack: &Stack) -> String {
    let mon = stack.monitoring.as_ref();
    let p = mon.map(|m| &m.prometheus);
    let global = Global {
        scrape_interval: p.and_then(|p| p.scrape_interval_ms).map(duration),
        scrape_timeout: p.and_then(|p| p.scrape_timeout_ms).map(duration),
        evaluation_interval: p.and_then(|p| p.evaluation_interval_ms).map(duration),
        external_labels: p
            .map(|p| p.external_labels.iter().map(|(k, v)| (k.clone(), value(stack, v))).collect())
            .unwrap_or_default(),
    };
    let set = global.scrape_interval.is_some()
        || global.scrape_timeout.is_some()
        || global.evaluation_interval.is_some()
        || !global.external_labels.is_empty();
    let global = set.then_some(global);
    let mut rule_files: Vec<String> = Vec::new();
    for g in &stack.alert_groups {
        let f = rule_file(&g.name);
        if !rule_files.contains(&f) {
            rule_files.push(f);
        }
    }
    if backup_rules(stack).is_some() {
        rule_files.push(BACKUP_RULES.to_string());
    }
    let alerting = mon.filter(|m| m.has_alertmanager()).map(|_| Alerting {
        alertmanagers: vec![AlertmanagerConfig {
            static_configs: vec![StaticConfig {
                targets: vec![format!("alertmanager:{ALERTMANAGER_PORT}")],
                labels: IndexMap::new(),
            }],
        }],
    });
    let config = Config { global, rule_files, alerting, scrape_configs: scrape_jobs(stack) };
    let mut text = header(stack);
    if stack.services.values().any(|s| s.metrics.is_some() && s.replicas > 1) {
        text.push_str(
            "# Services with several replicas are scraped through a DNS A lookup of the service name\n\
             # (dns_sd_configs): each replica is its own target, where a static `name:port` would\n\
             # reach whichever replica Docker's DNS answers with first.\n",
        );
    }
    text.push_str(&yaml(&config));
    text
}

fn rules_yml(stack: &Stack, group: &AlertGroup) -> String {
    let file = RuleFile { groups: vec![rule_group(stack, group)] };
    let mut text = header(stack);
    text.push_str(&yaml(&file));
    text
}

/// The file Alertmanager reads a secret from: compose mounts each at `/run/secrets/<name>`.
fn secret_file(name: &str) -> String {
    format!("/run/secrets/{name}")
}

/// The receivers, in the order of their first `notify`/`email`/`pagerduty`; the default
/// receiver first, which the top route names (empty when every receiver is named: the
/// validation requires a catch-all route then).
fn receivers(stack: &Stack, mon: &Monitoring) -> Vec<AmReceiver> {
    let mut out = vec![AmReceiver::new(DEFAULT_RECEIVER)];
    fn at<'a>(out: &'a mut Vec<AmReceiver>, name: &str) -> &'a mut AmReceiver {
        let i = match out.iter().position(|r| r.name == name) {
            Some(i) => i,
            None => {
                out.push(AmReceiver::new(name));
                out.len() - 1
            }
        };
        &mut out[i]
    }
    for n in &mon.notify {
        let file = secret_file(&n.webhook_secret);
        let r = at(&mut out, &n.receiver);
        match n.kind.as_str() {
            "slack" => r.slack_configs.push(SlackConfig {
                api_url_file: file,
                channel: n.channel.as_deref().map(|c| value(stack, c)),
                send_resolved: n.send_resolved,
            }),
            _ => r.webhook_configs.push(WebhookConfig { url_file: file, send_resolved: n.send_resolved }),
        }
    }
    for e in &mon.emails {
        at(&mut out, &e.receiver).email_configs.push(EmailConfig {
            to: value(stack, &e.to),
            from: value(stack, &e.from),
            smarthost: value(stack, &e.smarthost),
            auth_username: e.auth_username.as_deref().map(|u| value(stack, u)),
            auth_password_file: e.auth_password_secret.as_deref().map(secret_file),
            require_tls: e.require_tls,
            send_resolved: e.send_resolved,
        });
    }
    for p in &mon.pagerduty {
        at(&mut out, &p.receiver).pagerduty_configs.push(PagerDutyConfig {
            routing_key_file: secret_file(&p.routing_key_secret),
            send_resolved: p.send_resolved,
        });
    }
    out
}

fn alertmanager_yml(stack: &Stack, mon: &Monitoring) -> String {
    let am = &mon.alertmanager;
    let route = |receiver: &str, group_by: Vec<String>, w: Option<u64>, i: Option<u64>, r: Option<u64>| AmRoute {
        receiver: receiver.to_string(),
        matchers: Vec::new(),
        continue_: false,
        group_by,
        group_wait: w.map(duration),
        group_interval: i.map(duration),
        repeat_interval: r.map(duration),
        routes: Vec::new(),
    };
    let mut top =
        route(DEFAULT_RECEIVER, am.group_by.clone(), am.group_wait_ms, am.group_interval_ms, am.repeat_interval_ms);
    // Child routes inherit grouping and timing from the top route, unless they set their own.
    for r in &am.routes {
        let mut child = route(&r.receiver, Vec::new(), r.group_wait_ms, r.group_interval_ms, r.repeat_interval_ms);
        child.matchers = r.matchers.clone();
        child.continue_ = r.continue_;
        top.routes.push(child);
    }
    let config = AmConfig {
        route: top,
        receivers: receivers(stack, mon),
        inhibit_rules: am
            .inhibit
            .iter()
            .map(|i| AmInhibit {
                source_matchers: vec![format!("severity=\"{}\"", i.source)],
                target_matchers: vec![format!("severity=\"{}\"", i.target)],
                equal: i.equal.clone(),
            })
            .collect(),
    };
    let mut text = header(stack);
    text.push_str(if am.routes.is_empty() {
        "# Every alert goes to every `notify` of the stack; webhook URLs are read from the mounted secrets.\n"
    } else {
        "# Alerts go to the first `route` they match, else to the receiver of the `notify`s without `receiver=`; secrets are read from the mounted files.\n"
    });
    text.push_str(&yaml(&config));
    text
}

/// The rule file of the backups' age alerts.
const BACKUP_RULES: &str = "rules/stackc-backups.yml";

/// The backups' age alerts, when the stack has monitoring and backups: for each backup, one
/// when its last success (the node exporter's textfile, written by compose's backup script)
/// is older than twice the longest gap of its schedule, and one when it never succeeded.
fn backup_rules(stack: &Stack) -> Option<String> {
    stack.monitoring.as_ref()?;
    if stack.backups.is_empty() {
        return None;
    }
    let mut rules = Vec::new();
    for b in stack.backups.values() {
        let Some(gap) = b.max_gap_ms else { continue };
        let limit = duration(2 * gap);
        let selector = format!("{}{{backup=\"{}\"}}", super::BACKUP_METRIC, b.name);
        let labels =
            IndexMap::from([("severity".to_string(), "warning".to_string()), ("backup".to_string(), b.name.clone())]);
        let annotations = |summary: String, description: String| {
            IndexMap::from([
                ("summary".to_string(), Multiline(summary)),
                ("description".to_string(), Multiline(description)),
            ])
        };
        rules.push(AnyRule::Alert(Rule {
            alert: "BackupTooOld".into(),
            expr: Multiline(format!("time() - {selector} > {}", 2 * gap / 1000)),
            for_: None,
            labels: labels.clone(),
            annotations: annotations(
                format!("Backup {} last succeeded {{{{ $value | humanizeDuration }}}} ago", b.name),
                format!(
                    "`{}` runs at most {} apart: two runs in a row failed or did not run.",
                    b.schedule,
                    duration(gap)
                ),
            ),
        }));
        rules.push(AnyRule::Alert(Rule {
            alert: "BackupNeverSucceeded".into(),
            expr: Multiline(format!("absent({selector})")),
            for_: Some(limit.clone()),
            labels,
            annotations: annotations(
                format!("Backup {} has not succeeded since {limit}", b.name),
                "No last-success time: the backup never completed, or the node exporter does not read backup/metrics/."
                    .into(),
            ),
        }));
    }
    let file =
        RuleFile { groups: vec![RuleGroup { name: "stackc-backups".into(), interval: None, limit: None, rules }] };
    let mut text = header(stack);
    text.push_str("# The age of the backups' last success, which backup/<name>.sh writes for the node exporter.\n");
    text.push_str(&yaml(&file));
    Some(text)
}

// Grafana provisioning (`docs/targets/prometheus.md`, "Grafana").

#[derive(Serialize)]
struct GrafanaDatasources {
    #[serde(rename = "apiVersion")]
    api_version: u8,
    datasources: Vec<GrafanaDatasource>,
}

#[derive(Serialize)]
struct GrafanaDatasource {
    name: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    uid: &'static str,
    access: &'static str,
    url: String,
    #[serde(rename = "isDefault")]
    is_default: bool,
    editable: bool,
}

#[derive(Serialize)]
struct GrafanaProviders {
    #[serde(rename = "apiVersion")]
    api_version: u8,
    providers: Vec<GrafanaProvider>,
}

#[derive(Serialize)]
struct GrafanaProvider {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "allowUiUpdates")]
    allow_ui_updates: bool,
    options: GrafanaProviderOptions,
}

#[derive(Serialize)]
struct GrafanaProviderOptions {
    path: &'static str,
    #[serde(rename = "foldersFromFilesStructure")]
    folders_from_files_structure: bool,
}

/// The datasources a Grafana of the stack gets: the stack's Prometheus (the default) and each
/// Loki, at the addresses compose's DNS resolves on their shared network.
fn grafana_datasources(stack: &Stack, mon: &Monitoring) -> String {
    let source = |name, kind, uid, url, is_default| GrafanaDatasource {
        name,
        kind,
        uid,
        access: "proxy",
        url,
        is_default,
        editable: false,
    };
    let mut datasources = vec![source(
        "Prometheus",
        "prometheus",
        "prometheus",
        format!("http://{}:{}", mon.prometheus_service.name, super::PROMETHEUS_PORT),
        true,
    )];
    // A uid is unique per Grafana: a second Loki would clash, and a stack runs one.
    if let Some(loki) = super::services_with_images(stack, super::LOKI_IMAGES).next() {
        let port = loki.ports.first().map_or(super::LOKI_PORT, |p| p.port);
        datasources.push(source("Loki", "loki", "loki", format!("http://{}:{port}", loki.name), false));
    }
    let mut text = header(stack);
    text.push_str(&yaml(&GrafanaDatasources { api_version: 1, datasources }));
    text
}

/// A file provider for the dashboards folder: the deployment's JSON dashboards, read-only in
/// the UI (an edit there would be lost at the next start), sub-folders as Grafana folders.
fn grafana_dashboards(stack: &Stack) -> String {
    let provider = GrafanaProvider {
        name: stack.name.clone(),
        kind: "file",
        allow_ui_updates: false,
        options: GrafanaProviderOptions { path: super::GRAFANA_DASHBOARDS, folders_from_files_structure: true },
    };
    let mut text = header(stack);
    text.push_str(&yaml(&GrafanaProviders { api_version: 1, providers: vec![provider] }));
    text
}

pub fn emit(stack: &Stack) -> Vec<OutputFile> {
    if stack.monitoring.is_none() && stack.alert_groups.is_empty() {
        return Vec::new();
    }
    let mut files = vec![OutputFile::new(format!("{PROMETHEUS_DIR}/prometheus.yml"), prometheus_yml(stack))];
    for g in &stack.alert_groups {
        files.push(OutputFile::new(format!("{PROMETHEUS_DIR}/{}", rule_file(&g.name)), rules_yml(stack, g)));
    }
    if let Some(text) = backup_rules(stack) {
        files.push(OutputFile::new(format!("{PROMETHEUS_DIR}/{BACKUP_RULES}"), text));
    }
    if let Some(mon) = stack.monitoring.as_ref().filter(|m| m.has_alertmanager()) {
        files.push(OutputFile::new(format!("{ALERTMANAGER_DIR}/alertmanager.yml"), alertmanager_yml(stack, mon)));
    }
    if let Some(mon) = stack.monitoring.as_ref().filter(|_| !super::provisioned_grafanas(stack).is_empty()) {
        let dir = super::GRAFANA_PROVISIONING_DIR;
        files.push(OutputFile::new(format!("{dir}/datasources/stack.yaml"), grafana_datasources(stack, mon)));
        files.push(OutputFile::new(format!("{dir}/dashboards/stack.yaml"), grafana_dashboards(stack)));
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(15_000), "15s");
        assert_eq!(duration(90_000), "1m30s");
        assert_eq!(duration(90 * 86_400_000), "90d");
        assert_eq!(duration(500), "500ms");
        assert_eq!(duration(0), "0s");
    }

    /// The value of `k: |…` as YAML reads a literal block scalar (YAML 1.2 §8.1): the
    /// indentation from the indicator or the first line, the chomping from `-`/`+`.
    fn literal_block(yaml: &str) -> String {
        let mut lines = yaml.lines();
        let header = lines.next().unwrap().strip_prefix("k: |").expect("a literal block");
        let digit = header.chars().find_map(|c| c.to_digit(10)).map(|d| d as usize);
        let body: Vec<&str> = lines.collect();
        let indent = digit.unwrap_or_else(|| {
            body.iter().find(|l| !l.is_empty()).map_or(0, |l| l.len() - l.trim_start_matches(' ').len())
        });
        let mut text: String = body.iter().map(|l| format!("{}\n", l.get(indent..).unwrap_or(""))).collect();
        if header.contains('+') {
            return text;
        }
        let kept = text.trim_end_matches('\n').len();
        text.truncate(kept);
        if !header.contains('-') && kept > 0 {
            text.push('\n');
        }
        text
    }

    /// Multi-line text is a block scalar that reads back as the same string, whatever its
    /// edges (leading spaces, trailing newlines, blank lines, a `#`, a `: `).
    #[test]
    fn multiline_text_is_a_block_scalar_that_reads_back_unchanged() {
        let cases = [
            "a\nb",
            "  indented first\nline",
            "trailing newline\n",
            "two trailing\n\n",
            "blank\n\nline",
            "# not a comment\nkey: value",
            "tab\tinside\nx",
            "line with trailing space \nnext",
        ];
        for text in cases {
            let yaml = yaml(&IndexMap::from([("k", Multiline(text.to_string()))]));
            assert!(yaml.starts_with("k: |"), "{text:?} became {yaml}");
            assert_eq!(literal_block(&yaml), text, "{yaml}");
        }
        // One line, or an invisible character: a quoted or plain scalar (escaped by `yaml`).
        let one = yaml(&IndexMap::from([("k", Multiline("up == 0".into()))]));
        assert_eq!(one, "k: up == 0\n");
        let hidden = yaml(&IndexMap::from([("k", Multiline("a\u{200b}\nb".into()))]));
        assert!(!hidden.contains('|') && hidden.contains("\\u200B"), "{hidden}");
    }

    #[test]
    fn rule_file_names_are_plain() {
        assert_eq!(rule_file("production-critical"), "rules/production-critical.yml");
        assert_eq!(rule_file("a/b"), "rules/a_b.yml");
    }
}
