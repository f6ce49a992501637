//! The Prometheus target, judged by the real tools: `promtool check config` on every golden
//! `prometheus.yml` (it also loads the rule files the configuration names), `promtool check
//! rules` on every rule file, `amtool check-config` on every `alertmanager.yml`, and
//! `promtool test rules` with the unit tests in `tests/prometheus/` that make the examples'
//! alerts fire on synthetic series. Plus the shape of the scrape jobs and a secret canary.
//!
//! promtool and amtool come from Debian's `prometheus` and `prometheus-alertmanager`
//! packages (`.ci/install-validators`). In CI (`CI` set) a missing tool fails the test;
//! elsewhere the test prints NOT RUN and passes, so that `cargo test` works on a fresh machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use stackc::emit::EmitOptions;
use stackc::ir::TargetKind;
use stackc::Options;

mod support;
use support::{in_ci, root};

fn require(name: &str) -> Option<PathBuf> {
    let out = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().ok();
    let found = out.and_then(|o| {
        let p = String::from_utf8_lossy(&o.stdout).trim().to_string();
        (o.status.success() && !p.is_empty()).then(|| PathBuf::from(p))
    });
    match found {
        Some(p) => Some(p),
        None if in_ci() => panic!("{name} is not installed: CI must run .ci/install-validators first"),
        None => {
            support::report_not_run(&format!(
                "{name} is not installed; run .ci/install-validators (CI always runs this check)"
            ));
            None
        }
    }
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stackc-prometheus-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_tree(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// Golden output directories that have `rel` (e.g. `prometheus/prometheus.yml`).
fn golden_with(rel: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("golden"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(rel).is_file())
        .collect();
    out.sort();
    out
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("the tool runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// `promtool check config` on the generated files, written to a scratch directory (the
/// configuration loads the rule files it lists): success and output; `None` without promtool.
fn promtool_check_config(files: &[(String, String)], name: &str) -> Option<(bool, String)> {
    let promtool = require("promtool")?;
    let work = scratch(name);
    for (p, text) in files {
        let f = work.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, text).unwrap();
    }
    let out = run(Command::new(&promtool).arg("check").arg("config").arg(work.join("prometheus/prometheus.yml")));
    let _ = std::fs::remove_dir_all(&work);
    Some(out)
}

/// `amtool check-config` on an alertmanager.yml: success and output; `None` without amtool.
fn amtool_check(am: &str, name: &str) -> Option<(bool, String)> {
    let amtool = require("amtool")?;
    let work = scratch(name);
    std::fs::write(work.join("alertmanager.yml"), am).unwrap();
    let out = run(Command::new(&amtool).arg("check-config").arg(work.join("alertmanager.yml")));
    let _ = std::fs::remove_dir_all(&work);
    Some(out)
}

#[test]
fn promtool_accepts_every_golden_config_and_rule_file() {
    let dirs = golden_with("prometheus/prometheus.yml");
    // Every example has monitoring or alerts; a scan that finds none is broken.
    assert!(dirs.len() >= 5, "expected golden prometheus.yml files, found {dirs:?}");
    let Some(promtool) = require("promtool") else { return };
    let mut failures = Vec::new();
    let mut rule_files = 0;
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        // A copy, so that nothing next to the golden files can satisfy a reference by accident.
        let work = scratch(&format!("config-{name}"));
        copy_tree(&dir.join("prometheus"), &work.join("prometheus"));
        let (ok, text) =
            run(Command::new(&promtool).arg("check").arg("config").arg(work.join("prometheus/prometheus.yml")));
        if !ok {
            failures.push(format!("{name}/prometheus/prometheus.yml:\n{text}"));
        }
        let rules = work.join("prometheus/rules");
        if rules.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&rules).unwrap().flatten().map(|e| e.path()).collect();
            files.sort();
            for f in files {
                rule_files += 1;
                let (ok, text) = run(Command::new(&promtool).arg("check").arg("rules").arg(&f));
                if !ok {
                    failures
                        .push(format!("{name}/prometheus/rules/{}:\n{text}", f.file_name().unwrap().to_string_lossy()));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&work);
    }
    assert!(rule_files >= 5, "expected the examples' rule files, checked {rule_files}");
    assert!(failures.is_empty(), "promtool refused:\n{}", failures.join("\n"));
}

#[test]
fn amtool_accepts_every_golden_alertmanager_config() {
    let dirs = golden_with("alertmanager/alertmanager.yml");
    assert!(!dirs.is_empty(), "cobalt notifies Slack: expected a golden alertmanager.yml");
    let Some(amtool) = require("amtool") else { return };
    let mut failures = Vec::new();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let (ok, text) = run(Command::new(&amtool).arg("check-config").arg(dir.join("alertmanager/alertmanager.yml")));
        if !ok {
            failures.push(format!("{name}/alertmanager/alertmanager.yml:\n{text}"));
        }
    }
    assert!(failures.is_empty(), "amtool refused:\n{}", failures.join("\n"));
}

/// `tests/prometheus/<example>.test.yml` runs against `golden/<example>/prometheus/rules/`:
/// the alerts as generated fire (and stay quiet) when they should.
#[test]
fn promtool_rule_unit_tests_pass_on_the_golden_rules() {
    let tests_dir = root().join("compiler/stackc/tests/prometheus");
    let mut tests: Vec<PathBuf> = std::fs::read_dir(&tests_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".test.yml"))
        .collect();
    tests.sort();
    assert!(tests.len() >= 2, "expected rule unit tests in {}", tests_dir.display());
    let Some(promtool) = require("promtool") else { return };
    let mut failures = Vec::new();
    for t in tests {
        let file = t.file_name().unwrap().to_string_lossy().to_string();
        let example = file.trim_end_matches(".test.yml");
        let work = scratch(&format!("test-{example}"));
        copy_tree(&root().join("golden").join(example).join("prometheus/rules"), &work.join("rules"));
        std::fs::copy(&t, work.join(&file)).unwrap();
        let (ok, text) = run(Command::new(&promtool).arg("test").arg("rules").arg(work.join(&file)));
        if !ok {
            failures.push(format!("{file}:\n{text}"));
        }
        let _ = std::fs::remove_dir_all(&work);
    }
    assert!(failures.is_empty(), "promtool test rules failed:\n{}", failures.join("\n"));
}

fn build(src: &str, targets: Vec<TargetKind>) -> Vec<(String, String)> {
    let emit = EmitOptions { targets: Some(targets), ..EmitOptions::default() };
    let built = stackc::build("test.stack.kdl", src, &Options::default(), &emit);
    let errors: Vec<String> = built
        .outcome
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{} {}", d.code.as_str(), d.message))
        .collect();
    assert!(errors.is_empty(), "unexpected errors: {errors:#?}");
    built.files.into_iter().map(|f| (f.path, f.contents)).collect()
}

fn errors_of(src: &str) -> Vec<String> {
    let emit = EmitOptions { targets: Some(vec![TargetKind::Prometheus]), ..EmitOptions::default() };
    let built = stackc::build("test.stack.kdl", src, &Options::default(), &emit);
    built
        .outcome
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{} {}", d.code.as_str(), d.message))
        .collect()
}

const CANARY: &str = "https://hooks.slack.com/services/T0CANARY/B0CANARY/canary-b1f3c9";

/// The webhook URL is a secret: it reaches Alertmanager as a mounted file, never as text in
/// any generated file, whether the secret comes from the environment or from a file.
#[test]
fn no_secret_value_reaches_any_monitoring_output() {
    let work = scratch("canary");
    std::fs::write(work.join("webhook.txt"), CANARY).unwrap();
    // The deploy environment holds the value; the library must not look (and cannot: no I/O).
    std::env::set_var("STACKC_TEST_SLACK_WEBHOOK", CANARY);
    for source in ["env=\"STACKC_TEST_SLACK_WEBHOOK\"", &format!("file=\"{}\"", work.join("webhook.txt").display())] {
        let src = format!(
            r##"
secret "slack-webhook" {source}
secret "hook" env="STACKC_TEST_SLACK_WEBHOOK"
service "api" {{
    image "ghcr.io/acme/api:1.0.0"
    port 8080 name="http"
    metrics
}}
monitoring {{
    notify "slack" webhook=(secret)"slack-webhook" channel="#ops"
    notify "webhook" webhook=(secret)"hook"
}}
alerts "api" {{
    alert "ApiDown" expr=#"up{{job="api"}} == 0"# for="1m" severity="critical"
}}
targets {{
    compose
    prometheus
}}
"##
        );
        let files = build(&src, vec![TargetKind::Compose, TargetKind::Prometheus]);
        let am = files.iter().find(|(p, _)| p == "alertmanager/alertmanager.yml").expect("alertmanager.yml");
        // Not vacuous: the secrets are referenced, by file.
        assert!(am.1.contains("api_url_file: /run/secrets/slack-webhook"), "{}", am.1);
        assert!(am.1.contains("url_file: /run/secrets/hook"), "{}", am.1);
        for (path, text) in &files {
            assert!(!text.contains(CANARY) && !text.contains("canary-b1f3c9"), "{path} contains the secret value");
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn a_probe_without_the_blackbox_exporter_is_refused() {
    let errors = errors_of(
        r#"
monitoring {
    probe "https://example.com/health"
}
targets { prometheus; }
"#,
    );
    assert!(errors.iter().any(|e| e.starts_with("E0501") && e.contains("blackbox")), "{errors:#?}");
}

#[test]
fn two_jobs_of_one_name_are_refused() {
    let errors = errors_of(
        r#"
service "db-metrics" {
    image "ghcr.io/acme/sidecar:1.0.0"
    port 9187
    metrics job="postgres"
}
monitoring {
    exporters "postgres"
}
targets { prometheus; }
"#,
    );
    assert!(errors.iter().any(|e| e.starts_with("E0501") && e.contains("`postgres`")), "{errors:#?}");
}

#[test]
fn the_configuration_uses_only_params_with_defaults() {
    let errors = errors_of(
        r#"
param "domain" env="DOMAIN" required=#true
monitoring {
    exporters "blackbox"
    probe "https://${domain}/health"
}
targets { prometheus; }
"#,
    );
    assert!(errors.iter().any(|e| e.starts_with("E0501") && e.contains("`domain`")), "{errors:#?}");
}

/// Without the tool this still checks the text; with promtool the small stacks' configs are
/// judged too.
#[test]
fn small_stacks_pass_promtool() {
    let src = r##"
param "domain" default="example.com"
service "api" {
    image "ghcr.io/acme/api:1.0.0"
    replicas 3
    port 8080 name="http"
    metrics path="/internal/metrics" interval="30s" scheme="https"
}
service "worker" {
    image "ghcr.io/acme/worker:1.0.0"
    port 9000
    metrics job="jobs"
}
monitoring {
    prometheus scrape-interval="15s" evaluation-interval="30s"
    exporters "node" "cadvisor" "blackbox"
    probe "https://${domain}/" module="http_2xx"
    probe "https://tcp.example.com/" module="http_post_2xx"
    scrape "legacy" target="10.0.0.12:9100" interval="1m"
}
alerts "api" interval="1m" {
    alert "ApiDown" expr=#"up{job="api"} == 0"# for="90s" severity="critical" {
        summary "API down on {{ $labels.instance }}"
        runbook "https://wiki.example.com/${domain}"
        labels team="backend"
    }
}
alerts "jobs" {
    alert "JobsDown" expr=#"up{job="jobs"} == 0"#
}
targets { prometheus; }
"##;
    let files = build(src, vec![TargetKind::Prometheus]);
    let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["prometheus/prometheus.yml", "prometheus/rules/api.yml", "prometheus/rules/jobs.yml"]);
    let rules = &files[1].1;
    assert!(rules.contains("for: 1m30s") && rules.contains("interval: 1m"), "{rules}");
    assert!(rules.contains("runbook_url: https://wiki.example.com/example.com"), "{rules}");
    assert!(rules.contains("summary: API down on {{ $labels.instance }}"), "{rules}");
    let Some((ok, text)) = promtool_check_config(&files, "small") else { return };
    assert!(ok, "{text}\n{}", files[0].1);
}

// ---------------------------------------------------------------------------------------
// The scrape jobs, as data.

fn stack(src: &str) -> stackc::ir::Stack {
    let out = stackc::compile("t.stack.kdl", src, &Options::default());
    out.stack.unwrap_or_else(|| panic!("{:#?}", out.diagnostics))
}

fn jobs(src: &str) -> serde_json::Value {
    serde_json::to_value(stackc::emit::prometheus::scrape_jobs(&stack(src))).unwrap_or_default()
}

#[test]
fn replicas_are_found_by_dns_one_replica_is_static() {
    let j = jobs(
        r#"
service "api" {
image "a:1"
replicas 3
port 3001 name="http"
metrics path="/api/v1/metrics" job="mustache-api" interval="30s"
}
service "web" {
image "w:1"
port 3000 name="http"
metrics port="http"
}
monitoring { prometheus; }
"#,
    );
    assert_eq!(
        j[0],
        serde_json::json!({"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]})
    );
    assert_eq!(
        j[1],
        serde_json::json!({
            "job_name": "mustache-api",
            "scrape_interval": "30s",
            "metrics_path": "/api/v1/metrics",
            "dns_sd_configs": [{"names": ["api"], "type": "A", "port": 3001}],
        })
    );
    assert_eq!(j[2], serde_json::json!({"job_name": "web", "static_configs": [{"targets": ["web:3000"]}]}));
}

#[test]
fn exporters_are_scraped_under_their_kind() {
    let j = jobs(
        r#"
monitoring {
exporters "node" "postgres" "redis" "cadvisor" "blackbox"
exporter "mysql" { metrics job="db" port=9999 path="/m"; port 9999; }
}
"#,
    );
    let names: Vec<(&str, &str)> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["job_name"].as_str().unwrap(), x["static_configs"][0]["targets"][0].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("prometheus", "localhost:9090"),
            ("node", "node-exporter:9100"),
            ("postgres", "postgres-exporter:9187"),
            ("redis", "redis-exporter:9121"),
            ("cadvisor", "cadvisor-exporter:8080"),
            ("blackbox-exporter", "blackbox-exporter:9115"),
            ("db", "mysql-exporter:9999"),
        ]
    );
    assert_eq!(j[6]["metrics_path"], "/m");
}

#[test]
fn probes_go_through_the_blackbox_exporter_grouped_by_module() {
    let j = jobs(
        r#"
param "domain" default="shop.example.com" env="DOMAIN"
monitoring {
exporters "blackbox"
probe "https://${domain}/health"
probe "https://db.example.com:8443/" module="tls_connect"
probe "https://example.com/" module="http_2xx"
}
"#,
    );
    let bb = j.as_array().unwrap().iter().find(|x| x["job_name"] == "blackbox").unwrap();
    assert_eq!(bb["metrics_path"], "/probe");
    assert_eq!(
        bb["static_configs"],
        serde_json::json!([
            {"targets": ["https://shop.example.com/health", "https://example.com/"], "labels": {"module": "http_2xx"}},
            {"targets": ["https://db.example.com:8443/"], "labels": {"module": "tls_connect"}},
        ])
    );
    assert_eq!(
        bb["relabel_configs"],
        serde_json::json!([
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"source_labels": ["module"], "target_label": "__param_module"},
            {"target_label": "__address__", "replacement": "blackbox-exporter:9115"},
        ])
    );
}

#[test]
fn extra_scrapes_keep_their_settings() {
    let j = jobs(
        r#"
monitoring {
scrape "legacy-billing" target="10.0.0.12:9100" interval="30s" path="/x" scheme="https"
}
"#,
    );
    assert_eq!(
        j[1],
        serde_json::json!({
            "job_name": "legacy-billing",
            "scrape_interval": "30s",
            "metrics_path": "/x",
            "scheme": "https",
            "static_configs": [{"targets": ["10.0.0.12:9100"]}],
        })
    );
}

/// Prometheus reads no environment: a scrape port, path and alert name given by a param are
/// its value. (They were dropped: the port as a port *name* `${…}`, which removed the whole
/// scrape job, the path and the alert name written as `${…}` literally.)
#[test]
fn scrape_settings_and_alert_names_from_params_get_their_values() {
    let src = r##"
param "metrics-port" default="9100"
param "metrics-path" default="/internal/metrics"
param "alert" default="ApiDown"
service "api" {
    image "ghcr.io/acme/api:1.0.0"
    port 8080 name="http"
    port 9100 name="metrics"
    metrics port="metrics" path="${metrics-path}"
}
monitoring {
    prometheus
}
alerts "api" {
    alert "${alert}" expr=#"up{job="api"} == 0"# for="1m"
}
targets {
    prometheus
}
"##;
    let files = build(src, vec![TargetKind::Prometheus]);
    let text = |p: &str| files.iter().find(|(f, _)| f == p).unwrap_or_else(|| panic!("no {p}: {files:?}")).1.clone();
    let prom = text("prometheus/prometheus.yml");
    // The api job: from its `job_name` to the next job.
    let start = prom.find("job_name: api").unwrap_or_else(|| panic!("no api job: {prom}"));
    let job = &prom[start..prom[start + 1..].find("job_name:").map_or(prom.len(), |i| start + 1 + i)];
    assert!(job.contains("metrics_path: /internal/metrics"), "{job}");
    assert!(job.contains("api:9100"), "{job}");
    let rules = text("prometheus/rules/api.yml");
    assert!(rules.contains("alert: ApiDown") && !rules.contains("${"), "{rules}");
    // A port reference names one of the service's ports: it cannot come from a param (E0311),
    // which would leave the job without a port.
    let from_param = src.replace(r#"port="metrics" path"#, r#"port="${metrics-port}" path"#);
    let errors = errors_of(&from_param);
    assert!(errors.iter().any(|e| e.starts_with("E0311")), "{errors:?}");
}

// ---------------------------------------------------------------------------------------
// Alertmanager: grouping, timing, inhibition.

const ALERTMANAGER_STACK: &str = r##"
secret "hook" env="HOOK_URL"
monitoring {
    notify "slack" webhook=(secret)"hook"
    alertmanager group-wait="10s" group-interval="2m" repeat-interval="90m" {
        group-by "alertname" "job"
        inhibit "alertname" "instance" source="critical" target="warning"
        inhibit source="warning" target="info"
    }
}
targets { prometheus; }
"##;

#[test]
fn alertmanager_settings_become_the_route_and_the_inhibit_rules() {
    let files = build(ALERTMANAGER_STACK, vec![TargetKind::Prometheus]);
    let am = &files.iter().find(|(p, _)| p == "alertmanager/alertmanager.yml").expect("alertmanager.yml").1;
    let body: String = am.lines().filter(|l| !l.starts_with('#')).map(|l| format!("{l}\n")).collect();
    assert_eq!(
        body,
        r#"route:
  receiver: stackc
  group_by:
  - alertname
  - job
  group_wait: 10s
  group_interval: 2m
  repeat_interval: 1h30m
receivers:
- name: stackc
  slack_configs:
  - api_url_file: /run/secrets/hook
    send_resolved: true
inhibit_rules:
- source_matchers:
  - severity="critical"
  target_matchers:
  - severity="warning"
  equal:
  - alertname
  - instance
- source_matchers:
  - severity="warning"
  target_matchers:
  - severity="info"
"#
    );
    let Some((ok, text)) = amtool_check(am, "alertmanager-settings") else { return };
    assert!(ok && text.contains("2 inhibit rules"), "{text}\n{am}");
}

#[test]
fn alertmanager_defaults_group_by_alert_name_and_set_no_timing() {
    let src = ALERTMANAGER_STACK.replace(
        r#"    alertmanager group-wait="10s" group-interval="2m" repeat-interval="90m" {
        group-by "alertname" "job"
        inhibit "alertname" "instance" source="critical" target="warning"
        inhibit source="warning" target="info"
    }
"#,
        "",
    );
    let files = build(&src, vec![TargetKind::Prometheus]);
    let am = &files.iter().find(|(p, _)| p == "alertmanager/alertmanager.yml").expect("alertmanager.yml").1;
    assert!(am.contains("  group_by:\n  - alertname\nreceivers:"), "{am}");
    assert!(!am.contains("group_wait") && !am.contains("inhibit_rules"), "{am}");
}

/// Without a `notify` there is no Alertmanager: its settings are reported where they are
/// written, not dropped.
#[test]
fn alertmanager_settings_without_notify_are_reported() {
    let src = ALERTMANAGER_STACK.replace("    notify \"slack\" webhook=(secret)\"hook\"\n", "");
    let emit = EmitOptions { targets: Some(vec![TargetKind::Prometheus]), ..EmitOptions::default() };
    let built = stackc::build("test.stack.kdl", &src, &Options::default(), &emit);
    let warnings: Vec<(String, String, usize)> = built
        .outcome
        .diagnostics
        .iter()
        .map(|d| (d.code.as_str().to_string(), d.message.clone(), d.primary.as_ref().map_or(0, |l| l.span.offset)))
        .collect();
    let at = src.find("alertmanager group-wait").unwrap();
    assert_eq!(
        warnings,
        [(
            "W0501".to_string(),
            "the `alertmanager` settings are not written: the stack has no `notify`, so no Alertmanager".to_string(),
            at
        )]
    );
    assert!(built.files.iter().all(|f| !f.path.starts_with("alertmanager/")));
}

// ---------------------------------------------------------------------------------------
// `unscraped-alert-job`: against the job names prometheus.yml has.

/// The W0105 warnings of a stack with `alerts` appended: (message, help).
fn unscraped(stack: &str, alerts: &str) -> Vec<(String, String)> {
    let src = format!("{stack}\nalerts \"a\" {{\n{alerts}\n}}\n");
    let out = stackc::check("t.stack.kdl", &src, &Options::default());
    out.diagnostics
        .iter()
        .filter(|d| d.code.as_str() == "W0105")
        .map(|d| {
            let help = d.help.clone().unwrap_or_default();
            (d.message.clone(), help.lines().next().unwrap_or_default().to_string())
        })
        .collect()
}

const SCRAPED: &str = r#"
service "api" {
    image "a:1"
    port 8080 name="http"
    metrics
}
service "web" {
    image "w:1"
    port 3000 name="http"
    metrics job="frontend"
}
monitoring {
    exporters "node" "blackbox"
    exporter "postgres" {
        metrics job="db"
    }
    probe "https://example.com/"
    scrape "legacy" target="10.0.0.1:9100"
}
"#;

#[test]
fn alerts_on_emitted_job_names_are_quiet() {
    let alerts = [
        r##"alert "A" expr=#"up{job="api"} == 0"#"##,
        r##"alert "B" expr=#"up{job="frontend"} == 0"#"##,
        r##"alert "C" expr=#"up{job="node"} == 0"#"##,
        r##"alert "D" expr=#"up{job="blackbox-exporter"} == 0"#"##,
        r##"alert "E" expr=#"probe_success{job="blackbox"} == 0"#"##,
        r##"alert "F" expr=#"pg_up{job="db"} == 0"#"##,
        r##"alert "G" expr=#"up{job="legacy"} == 0"#"##,
        r##"alert "H" expr=#"up{job="prometheus"} == 0"#"##,
        r##"alert "I" expr=#"up{job=~"api|frontend"} == 0"#"##,
        r##"alert "J" expr=#"up{job!="legacy"} == 0"#"##,
        r##"alert "K" expr=#"node_load1 > 4"#"##,
        // redis_ metrics from the `scrape` (an exporter elsewhere) are possible.
        r##"alert "L" expr=#"redis_up == 0"#"##,
    ];
    assert_eq!(unscraped(SCRAPED, &alerts.join("\n")), Vec::<(String, String)>::new());
}

#[test]
fn alerts_on_jobs_that_are_not_emitted_are_warned_with_the_real_name() {
    let got = unscraped(
        SCRAPED,
        r##"
alert "ByService" expr=#"up{job="node-exporter"} == 0"#
alert "Renamed" expr=#"up{job="postgres"} == 0"#
alert "Absent" expr=#"up{job="redis"} == 0"#
alert "Typo" expr=#"up{job="fronted"} == 0"#
alert "Regex" expr=#"up{job=~"api-.*"} == 0"#
alert "Negative" expr=#"up{job!="apii"} == 0"#
alert "NegativeRegex" expr=#"up{job!~"x.*"} == 0"#
"##,
    );
    let want = [
        (
            "alert `ByService` selects job `node-exporter`, which the stack does not scrape",
            "the node exporter's job is `node`: select `job=\"node\"`",
        ),
        (
            "alert `Renamed` selects job `postgres`, which the stack does not scrape",
            "the postgres exporter's job is `postgres`: select `job=\"postgres\"`",
        ),
        (
            "alert `Absent` selects job `redis`, which the stack does not scrape",
            "add `exporters \"redis\"` to `monitoring`: its job is `redis`",
        ),
        ("alert `Typo` selects job `fronted`, which the stack does not scrape", "did you mean job `frontend`?"),
        (
            "alert `Regex` selects `job=~\"api-.*\"`, which matches no job the stack scrapes",
            "the jobs are `prometheus`, `api`, `frontend`, `node`, `blackbox-exporter`, `db`, `blackbox`, `legacy`",
        ),
        (
            "alert `Negative` excludes `job!=\"apii\"`, which matches no job the stack scrapes",
            "did you mean job `api`?",
        ),
        (
            "alert `NegativeRegex` excludes `job!~\"x.*\"`, which matches no job the stack scrapes",
            "the jobs are `prometheus`, `api`, `frontend`, `node`, `blackbox-exporter`, `db`, `blackbox`, `legacy`",
        ),
    ];
    let want: Vec<(String, String)> = want.iter().map(|(m, h)| (m.to_string(), h.to_string())).collect();
    assert_eq!(got, want);
}

#[test]
fn metrics_of_an_exporter_the_stack_does_not_run_are_warned() {
    let stack = r#"
service "api" {
    image "a:1"
    port 8080 name="http"
    metrics
}
monitoring {
    exporters "node"
}
"#;
    let got = unscraped(
        stack,
        r##"
alert "RedisDown" expr="redis_up == 0"
alert "PgDown" expr=#"pg_up{instance="db:9187"} == 0"#
alert "Embedded" expr=#"redis_connected_clients{job="api"} > 100"#
alert "Node" expr="node_load1 > 4"
"##,
    );
    assert_eq!(
        got,
        [
            (
                "alert `RedisDown` uses `redis_up`, a metric of the redis exporter, which the stack does not run"
                    .to_string(),
                "add `exporters \"redis\"` to `monitoring` (its job is `redis`)".to_string()
            ),
            (
                "alert `PgDown` uses `pg_up`, a metric of the postgres exporter, which the stack does not run"
                    .to_string(),
                "add `exporters \"postgres\"` to `monitoring` (its job is `postgres`)".to_string()
            ),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Probes run in the blackbox exporter's container.

fn probe_errors(extra: &str, probe: &str) -> Vec<(String, String)> {
    let src = format!(
        r#"
service "api" {{
    image "a:1"
    port 8080 name="http"
    publish 18080 target=8080 host="127.0.0.1"
}}
{extra}
monitoring {{
    exporters "blackbox"
    probe "{probe}"
}}
targets {{ prometheus; }}
"#
    );
    let emit = EmitOptions { targets: Some(vec![TargetKind::Prometheus]), ..EmitOptions::default() };
    let built = stackc::build("test.stack.kdl", &src, &Options::default(), &emit);
    built
        .outcome
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| (format!("{} {}", d.code.as_str(), d.message), d.help.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn a_probe_of_localhost_is_refused_with_the_address_the_exporter_reaches() {
    // The service's port, or the host port it publishes: the service by its name.
    for url in ["http://localhost:8080/health", "http://127.0.0.1:18080/health"] {
        assert_eq!(
            probe_errors("", url),
            [(
                format!("E0501 the probe of `{url}` runs inside the blackbox exporter's container, where `{}` is the exporter itself", if url.contains("localhost") { "localhost" } else { "127.0.0.1" }),
                "probe the service by its name on the network the exporter shares with it: `probe \"http://api:8080/health\"`".to_string()
            )],
            "{url}"
        );
    }
    // Another port, with a site: the public URL.
    let site = r#"site "shop.example.com" { route "/" to="api"; }"#;
    assert_eq!(
        probe_errors(site, "https://localhost/health"),
        [(
            "E0501 the probe of `https://localhost/health` runs inside the blackbox exporter's container, where `localhost` is the exporter itself".to_string(),
            "probe the site's public URL, as users reach it: `probe \"https://shop.example.com/health\"`".to_string()
        )]
    );
    // What the exporter reaches is accepted.
    assert_eq!(probe_errors(site, "http://api:8080/health"), []);
    assert_eq!(probe_errors(site, "https://shop.example.com/health"), []);
}

// ---------------------------------------------------------------------------------------
// One alert name, several severities (the warning/critical pair Prometheus allows).

const PAIR: &str = r##"
service "api" {
    image "a:1"
    port 8080 name="http"
    metrics
}
monitoring { prometheus; }
alerts "q" {
    alert "QueueBacklog" expr=#"queue_depth{job="api"} > 100"# severity="warning"
    alert "QueueBacklog" expr=#"queue_depth{job="api"} > 1000"# severity="critical"
}
env "staging" {
    alerts "q" {
        alert "QueueBacklog" expr=#"queue_depth{job="api"} > 5000"# severity="critical"
    }
}
env "quiet" {
    alerts "q" {
        alert "QueueBacklog" #null
    }
}
targets { prometheus; }
"##;

/// The (expr, severity) of every rule of group `q` in environment `env`.
fn pair_rules(src: &str, env: Option<&str>) -> Vec<(String, String)> {
    let opts = Options { env: env.map(str::to_string), ..Options::default() };
    let out = stackc::compile("t.stack.kdl", src, &opts);
    let stack = out.stack.unwrap_or_else(|| panic!("{:#?}", out.diagnostics));
    stack.alert_groups[0].alerts.iter().map(|a| (a.expr.clone(), a.severity.clone().unwrap_or_default())).collect()
}

#[test]
fn one_alert_name_with_two_severities_is_allowed_and_merged_by_severity() {
    let rule = |threshold: &str, sev: &str| (format!("queue_depth{{job=\"api\"}} > {threshold}"), sev.to_string());
    assert_eq!(pair_rules(PAIR, None), [rule("100", "warning"), rule("1000", "critical")]);
    // An overlay replaces the alert of its name and severity, not the first of its name.
    assert_eq!(pair_rules(PAIR, Some("staging")), [rule("100", "warning"), rule("5000", "critical")]);
    // A removal by name removes every severity.
    assert_eq!(pair_rules(PAIR, Some("quiet")), []);
    let files = build(PAIR, vec![TargetKind::Prometheus]);
    let rules = &files.iter().find(|(p, _)| p == "prometheus/rules/q.yml").unwrap().1;
    assert_eq!(rules.matches("- alert: QueueBacklog\n").count(), 2, "{rules}");
}

#[test]
fn one_alert_name_twice_with_one_severity_is_still_a_duplicate() {
    let src = PAIR.replace(r##"> 1000"# severity="critical""##, r##"> 1000"# severity="warning""##);
    let out = stackc::check("t.stack.kdl", &src, &Options::default());
    let codes: Vec<&str> = out.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["E0108"], "{:#?}", out.diagnostics);
}

/// E0313 points at the character PromQL stops at when the string's source is its value
/// (plain or raw), and at the whole value when escapes make them differ.
#[test]
fn promql_errors_point_into_the_expression() {
    let primary = |expr: &str| {
        let src = format!("alerts \"q\" {{\n    alert \"A\" expr={expr}\n}}\n");
        let out = stackc::check("t.stack.kdl", &src, &Options::default());
        let d = out.diagnostics.iter().find(|d| d.code.as_str() == "E0313").expect("E0313");
        let span = d.primary.as_ref().unwrap().span;
        src[span.offset..span.offset + span.len].to_string()
    };
    assert_eq!(primary(r#""rate(x[5q])""#), "q");
    assert_eq!(primary(r##"#"sum(rate(x{job="api"}[5m])"#"##), "(");
    assert_eq!(primary(r#""up{job=\"api\" == 0""#), r#""up{job=\"api\" == 0""#);
}

// ---------------------------------------------------------------------------------------
// Receivers (Slack, webhook, e-mail, PagerDuty) and routes.

const RECEIVERS: &str = r##"
param "ops-mail" default="ops@example.com"
secret "slack-hook" env="SLACK_URL"
secret "pd-key" env="PD_KEY"
secret "smtp-password" env="SMTP_PASSWORD"
monitoring {
    notify "slack" webhook=(secret)"slack-hook" channel="#ops"
    email "${ops-mail}" from="alertmanager@example.com" smarthost="smtp.example.com:587" auth-username="alertmanager" auth-password=(secret)"smtp-password" require-tls=#true receiver="oncall"
    pagerduty routing-key=(secret)"pd-key" receiver="oncall"
    alertmanager repeat-interval="4h" {
        route "oncall" match=#"severity="critical", team=~"db|infra""# continue=#true repeat-interval="1h"
    }
}
targets { compose; prometheus; }
"##;

#[test]
fn receivers_and_routes_become_the_alertmanager_tree() {
    let files = build(RECEIVERS, vec![TargetKind::Prometheus, TargetKind::Compose]);
    let am = &files.iter().find(|(p, _)| p == "alertmanager/alertmanager.yml").expect("alertmanager.yml").1;
    let body: String = am.lines().filter(|l| !l.starts_with('#')).map(|l| format!("{l}\n")).collect();
    assert_eq!(
        body,
        r##"route:
  receiver: stackc
  group_by:
  - alertname
  repeat_interval: 4h
  routes:
  - receiver: oncall
    matchers:
    - severity="critical"
    - team=~"db|infra"
    continue: true
    repeat_interval: 1h
receivers:
- name: stackc
  slack_configs:
  - api_url_file: /run/secrets/slack-hook
    channel: "#ops"
    send_resolved: true
- name: oncall
  email_configs:
  - to: ops@example.com
    from: alertmanager@example.com
    smarthost: smtp.example.com:587
    auth_username: alertmanager
    auth_password_file: /run/secrets/smtp-password
    require_tls: true
    send_resolved: false
  pagerduty_configs:
  - routing_key_file: /run/secrets/pd-key
    send_resolved: true
"##
    );
    // Compose mounts every secret Alertmanager reads, and nothing else of them.
    let compose = &files.iter().find(|(p, _)| p == "docker-compose.yml").expect("compose").1;
    let am_service = support::service_block(compose, "alertmanager");
    for s in ["slack-hook", "smtp-password", "pd-key"] {
        assert!(am_service.contains(&format!("source: {s}")), "{s} not mounted:\n{am_service}");
    }
    let Some((ok, text)) = amtool_check(am, "receivers") else { return };
    assert!(ok && text.contains("2 receivers"), "{text}\n{am}");
}

/// The errors of a `monitoring` block (with the secrets of `RECEIVERS`): (code message, help).
fn alerting_errors(monitoring: &str) -> Vec<(String, String)> {
    let src = format!(
        "secret \"slack-hook\" env=\"SLACK_URL\"\nsecret \"pd-key\" env=\"PD_KEY\"\nmonitoring {{\n{monitoring}\n}}\ntargets {{ prometheus; }}\n"
    );
    let out = stackc::check("t.stack.kdl", &src, &Options::default());
    out.diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| (format!("{} {}", d.code.as_str(), d.message), d.help.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn routes_name_real_receivers_with_valid_matchers() {
    let errors = alerting_errors(
        r##"
    notify "slack" webhook=(secret)"slack-hook"
    pagerduty routing-key=(secret)"pd-key" receiver="oncall"
    alertmanager {
        route "oncal" match=#"severity="critical""#
        route "oncall" match=#"severity=="critical""#
    }
"##,
    );
    assert_eq!(
        errors,
        [
            (
                "E0109 no `notify`, `email` or `pagerduty` has `receiver=\"oncal\"`".to_string(),
                "did you mean receiver `oncall`?".to_string()
            ),
            (
                "E0313 the route's matchers are not valid: unexpected '=' in label matching, expected string"
                    .to_string(),
                r##"write Alertmanager matchers: `match=#"severity="critical", team=~"db|infra""#`"##.to_string()
            ),
        ]
    );
}

#[test]
fn alerts_matching_no_route_need_a_default_receiver() {
    let named = r##"
    notify "slack" webhook=(secret)"slack-hook" receiver="team"
    pagerduty routing-key=(secret)"pd-key" receiver="oncall"
    alertmanager {
        route "oncall" match=#"severity="critical""#
"##;
    let errors = alerting_errors(&format!("{named}    }}"));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].0.starts_with("E0109 alerts that match no `route` reach no one"), "{errors:?}");
    // A last route without `match=` takes the rest.
    assert_eq!(alerting_errors(&format!("{named}        route \"team\"\n    }}")), []);
}

// ---------------------------------------------------------------------------------------
// What a `scrape` of something outside the stack sets.

const EXTERNAL_SCRAPE: &str = r##"
secret "billing-metrics" env="BILLING_METRICS_PASSWORD"
monitoring {
    scrape "legacy-billing" target="10.0.0.12:9100" scheme="https" interval="30s" timeout="10s" honor-labels=#true basic-auth-user="prometheus" basic-auth-password=(secret)"billing-metrics" tls-server-name="billing.internal" insecure-skip-verify=#false {
        targets "10.0.0.13:9100" "10.0.0.12:9100"
        drop-metric "go_.*"
        rename-label "host" "hostname"
    }
}
targets { compose; prometheus; }
"##;

#[test]
fn an_external_scrape_keeps_auth_tls_timing_and_relabelling() {
    let j = jobs(EXTERNAL_SCRAPE);
    assert_eq!(
        j[1],
        serde_json::json!({
            "job_name": "legacy-billing",
            "honor_labels": true,
            "scrape_interval": "30s",
            "scrape_timeout": "10s",
            "scheme": "https",
            "basic_auth": {"username": "prometheus", "password_file": "/run/secrets/billing-metrics"},
            "tls_config": {"server_name": "billing.internal", "insecure_skip_verify": false},
            "static_configs": [{"targets": ["10.0.0.12:9100", "10.0.0.13:9100"]}],
            "metric_relabel_configs": [
                {"source_labels": ["__name__"], "regex": "go_.*", "action": "drop"},
                {"source_labels": ["host"], "target_label": "hostname"},
                {"regex": "host", "action": "labeldrop"},
            ],
        })
    );
    let files = build(EXTERNAL_SCRAPE, vec![TargetKind::Prometheus, TargetKind::Compose]);
    let compose = &files.iter().find(|(p, _)| p == "docker-compose.yml").expect("compose").1;
    assert!(support::service_block(compose, "prometheus").contains("source: billing-metrics"), "{compose}");
    let Some((ok, text)) = promtool_check_config(&files, "external-scrape") else { return };
    assert!(ok, "{text}");
}

#[test]
fn a_scrape_regex_must_parse_and_a_password_needs_a_user() {
    let src = r#"
secret "p" env="P"
monitoring {
    scrape "x" target="10.0.0.1:9100" basic-auth-password=(secret)"p" {
        drop-metric "go_(.*"
    }
}
"#;
    let errors = errors_of(src);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0], "E0109 `basic-auth-password=` needs `basic-auth-user=`");
    assert_eq!(errors[1], "E0310 `go_(.*` is not a valid regular expression: unclosed group");
}

// ---------------------------------------------------------------------------------------
// Recording rules, group limits, external labels, Prometheus' own flags.

const SERVER: &str = r##"
param "region" default="eu-west"
service "api" {
    image "a:1"
    port 8080 name="http"
    metrics
}
monitoring {
    prometheus retention="30d" scrape-interval="15s" scrape-timeout="5s" lifecycle=#true
    external-labels cluster="prod" region="${region}"
}
alerts "api" limit=50 {
    alert "ApiErrors" expr="job:http_errors:rate5m > 0.05" severity="warning"
    record "job:http_errors:rate5m" expr=#"sum by (job) (rate(http_requests_total{job="api",status=~"5.."}[5m]))"# {
        labels team="backend"
    }
}
targets { compose; prometheus; }
"##;

#[test]
fn recording_rules_come_first_in_their_group_with_its_limit() {
    let files = build(SERVER, vec![TargetKind::Prometheus]);
    let rules = &files.iter().find(|(p, _)| p == "prometheus/rules/api.yml").unwrap().1;
    let body: String = rules.lines().filter(|l| !l.starts_with('#')).map(|l| format!("{l}\n")).collect();
    assert_eq!(
        body,
        r#"groups:
- name: api
  limit: 50
  rules:
  - record: job:http_errors:rate5m
    expr: sum by (job) (rate(http_requests_total{job="api",status=~"5.."}[5m]))
    labels:
      team: backend
  - alert: ApiErrors
    expr: job:http_errors:rate5m > 0.05
    labels:
      severity: warning
"#
    );
    let prom = &files.iter().find(|(p, _)| p == "prometheus/prometheus.yml").unwrap().1;
    assert!(
        prom.contains(
            "global:\n  scrape_interval: 15s\n  scrape_timeout: 5s\n  external_labels:\n    cluster: prod\n    region: eu-west\n"
        ),
        "{prom}"
    );
    let Some((ok, text)) = promtool_check_config(&files, "records") else { return };
    assert!(ok && text.contains("SUCCESS: 2 rules found"), "{text}");
}

/// The command-line of the compose service of Prometheus, one flag per item.
fn prometheus_command(src: &str) -> (Vec<String>, Vec<String>) {
    let emit =
        EmitOptions { targets: Some(vec![TargetKind::Compose, TargetKind::Prometheus]), ..EmitOptions::default() };
    let built = stackc::build("test.stack.kdl", src, &Options::default(), &emit);
    let compose = &built.files.iter().find(|f| f.path == "docker-compose.yml").expect("compose").contents;
    let block = support::service_block(compose, "prometheus");
    let command: Vec<String> = block
        .lines()
        .skip_while(|l| !l.starts_with("command:"))
        .skip(1)
        .take_while(|l| l.starts_with("- "))
        .map(|l| l[2..].to_string())
        .collect();
    let warnings = built.outcome.diagnostics.iter().map(|d| format!("{} {}", d.code.as_str(), d.message)).collect();
    (command, warnings)
}

#[test]
fn prometheus_flags_are_kept_when_its_command_is_overridden() {
    let (command, _) = prometheus_command(SERVER);
    assert_eq!(
        command,
        [
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            "--storage.tsdb.retention.time=30d",
            "--web.enable-lifecycle",
        ]
    );
    // A command adds its own flags; stackc's are kept, except the one it sets itself.
    let own = SERVER.replace(
        "lifecycle=#true\n",
        "lifecycle=#true {\n        command \"--storage.tsdb.retention.time=7d\" \"--query.timeout=1m\"\n    }\n",
    );
    let (command, warnings) = prometheus_command(&own);
    assert_eq!(
        command,
        [
            "--storage.tsdb.retention.time=7d",
            "--query.timeout=1m",
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            "--web.enable-lifecycle",
        ]
    );
    assert!(
        warnings.contains(
            &"W0501 Prometheus's `command` sets `--storage.tsdb.retention.time=7d`, which wins over `retention=`"
                .to_string()
        ),
        "{warnings:?}"
    );
}

#[test]
fn a_recorded_metric_needs_a_prometheus_name() {
    let errors = errors_of("alerts \"a\" {\n    record \"job:http errors\" expr=\"up\"\n}\n");
    assert_eq!(errors, ["E0201 `job:http errors` is not a Prometheus metric name"]);
}

// ---------------------------------------------------------------------------------------
// stackc's alert packs (`stdlib/alerts/`).

/// `stdlib/alerts/<pack>.test.yml` runs against the rules of `alerts "pack" { pack "<pack>" }`:
/// each pack fires on a synthetic series of trouble and stays silent on a healthy one.
#[test]
fn every_alert_pack_passes_its_promtool_tests() {
    let dir = root().join("stdlib/alerts");
    let mut rule_files = Vec::new();
    for pack in stackc::schema::ALERT_PACKS {
        let src = format!("alerts \"pack\" {{\n    pack \"{pack}\"\n}}\ntargets {{ prometheus; }}\n");
        let files = build(&src, vec![TargetKind::Prometheus]);
        let rules = files.into_iter().find(|(p, _)| p == "prometheus/rules/pack.yml").expect("pack.yml").1;
        assert!(rules.contains("- alert: "), "{pack}: {rules}");
        assert!(dir.join(format!("{pack}.test.yml")).is_file(), "{pack} has no promtool test");
        rule_files.push((pack, rules));
    }
    let Some(promtool) = require("promtool") else { return };
    let mut failures = Vec::new();
    for (pack, rules) in rule_files {
        let work = scratch(&format!("pack-{pack}"));
        std::fs::write(work.join("pack.yml"), &rules).unwrap();
        std::fs::copy(dir.join(format!("{pack}.test.yml")), work.join("test.yml")).unwrap();
        let (ok, text) = run(Command::new(&promtool).arg("test").arg("rules").arg(work.join("test.yml")));
        if !ok {
            failures.push(format!("{pack}:\n{text}\n{rules}"));
        }
        let _ = std::fs::remove_dir_all(&work);
    }
    assert!(failures.is_empty(), "promtool test rules failed:\n{}", failures.join("\n"));
}

#[test]
fn an_alert_pack_takes_its_options_and_refuses_others() {
    let src = "alerts \"hosts\" {\n    pack \"hosts\" disk-free-percent=20 for=\"30m\"\n}\ntargets { prometheus; }\n";
    let files = build(src, vec![TargetKind::Prometheus]);
    let rules = &files.iter().find(|(p, _)| p == "prometheus/rules/hosts.yml").unwrap().1;
    assert!(rules.contains("/ node_filesystem_size_bytes * 100 < 20\n    for: 30m"), "{rules}");
    assert!(rules.contains("node_memory_MemTotal_bytes * 100 < 10\n    for: 30m"), "{rules}");
    let errors = errors_of("alerts \"h\" {\n    pack \"hosts\" disk-free=20 for=5\n}\n");
    assert_eq!(
        errors,
        [
            "E0103 the `hosts` alert pack has no option `disk-free`",
            "E0106 option `for` of the `hosts` alert pack is a duration",
        ]
    );
}

/// The HTTP packs read the stack's own metric and label names; a name Prometheus would refuse
/// is an error at the option, not a rule file promtool rejects.
#[test]
fn the_http_packs_take_metric_and_label_names() {
    let src = "alerts \"web\" {\n    pack \"http-errors\" metric=\"app_requests_total\" status-label=\"status\" percent=2\n    pack \"http-latency\" metric=\"app_latency_seconds_bucket\" percentile=99 seconds=1.5 window=\"10m\"\n}\ntargets { prometheus; }\n";
    let files = build(src, vec![TargetKind::Prometheus]);
    let rules = &files.iter().find(|(p, _)| p == "prometheus/rules/web.yml").unwrap().1;
    assert!(
        rules.contains(
            "expr: sum by (job) (rate(app_requests_total{status=~\"5..\"}[5m])) / sum by (job) (rate(app_requests_total[5m])) * 100 > 2\n"
        ),
        "{rules}"
    );
    assert!(
        rules.contains(
            "expr: histogram_quantile(99 / 100, sum by (job, le) (rate(app_latency_seconds_bucket[10m]))) > 1.5\n    for: 10m"
        ),
        "{rules}"
    );
    let errors = errors_of(
        "alerts \"w\" {\n    pack \"http-errors\" metric=\"app-requests\" status-label=\"status:code\"\n    pack \"http-latency\" metric=5\n}\n",
    );
    assert_eq!(
        errors,
        [
            "E0106 option `metric` of the `http-errors` alert pack is a Prometheus metric name",
            "E0106 option `status-label` of the `http-errors` alert pack is a Prometheus label name",
            "E0106 option `metric` of the `http-latency` alert pack is a Prometheus metric name",
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Grafana: provisioned with the stack's Prometheus and Loki, a dashboards folder, the admin
// password by secret.

const GRAFANA: &str = r#"stack "obs"
service "api" {
    image "ghcr.io/acme/api:1.0"
    port 8080
    metrics path="/metrics"
}
service "dashboards" {
    use "grafana"
}
service "logs" {
    image "grafana/loki:3.2.0"
    port 3110
}
monitoring {
    exporters "node"
}
"#;

fn yaml_value(text: &str) -> serde_json::Value {
    serde_saphyr::from_str(text).unwrap()
}

#[test]
fn a_grafana_of_the_stack_is_provisioned_with_its_prometheus_and_loki() {
    let files = build(GRAFANA, vec![TargetKind::Compose, TargetKind::Prometheus]);
    let get = |path: &str| &files.iter().find(|(p, _)| p == path).unwrap_or_else(|| panic!("no {path}")).1;
    let sources = yaml_value(get("grafana/provisioning/datasources/stack.yaml"));
    assert_eq!(
        sources,
        serde_json::json!({"apiVersion": 1, "datasources": [
            {"name": "Prometheus", "type": "prometheus", "uid": "prometheus", "access": "proxy",
             "url": "http://prometheus:9090", "isDefault": true, "editable": false},
            {"name": "Loki", "type": "loki", "uid": "loki", "access": "proxy",
             "url": "http://logs:3110", "isDefault": false, "editable": false},
        ]})
    );
    let providers = yaml_value(get("grafana/provisioning/dashboards/stack.yaml"));
    assert_eq!(
        providers,
        serde_json::json!({"apiVersion": 1, "providers": [
            {"name": "obs", "type": "file", "allowUiUpdates": false,
             "options": {"path": "/var/lib/grafana/dashboards", "foldersFromFilesStructure": true}},
        ]})
    );
    let compose = get("docker-compose.yml");
    let grafana = support::service_block(compose, "dashboards");
    for want in [
        "- ./grafana/provisioning:/etc/grafana/provisioning:ro",
        "- ./grafana/dashboards:/var/lib/grafana/dashboards:ro",
        "GF_SECURITY_ADMIN_PASSWORD__FILE: /run/secrets/grafana-admin-password",
        "- source: grafana-admin-password",
        "- grafana-data:/var/lib/grafana",
    ] {
        assert!(grafana.contains(want), "{want}:\n{grafana}");
    }
    // The password reaches Grafana as a file only: never in its environment.
    assert!(!grafana.contains("GF_SECURITY_ADMIN_PASSWORD:"), "{grafana}");
    assert!(compose.contains("  grafana-admin-password:\n    environment: GRAFANA_ADMIN_PASSWORD\n"), "{compose}");
    support::validate_compose("grafana", compose, &[], vec![("GRAFANA_ADMIN_PASSWORD".into(), "canary-7f3e".into())]);
    assert!(files.iter().all(|(_, text)| !text.contains("canary-7f3e")));

    // Without Loki: Prometheus only. Without the Prometheus target nobody writes the files,
    // so compose mounts nothing.
    let no_loki = GRAFANA.replace("grafana/loki:3.2.0", "ghcr.io/acme/worker:1.0");
    let files = build(&no_loki, vec![TargetKind::Compose, TargetKind::Prometheus]);
    let text = &files.iter().find(|(p, _)| p == "grafana/provisioning/datasources/stack.yaml").unwrap().1;
    assert_eq!(yaml_value(text)["datasources"].as_array().unwrap().len(), 1, "{text}");
    let files = build(&format!("{GRAFANA}targets {{ compose; }}\n"), vec![TargetKind::Compose]);
    assert!(files.iter().all(|(p, _)| !p.starts_with("grafana/")));
    let compose = &files.iter().find(|(p, _)| p == "docker-compose.yml").unwrap().1;
    assert!(!compose.contains("/etc/grafana/provisioning"), "{compose}");

    // A Grafana that mounts its own provisioning (or a part of it) keeps it, alone: compose
    // refuses two mounts at one path.
    let own = GRAFANA.replace(
        "    use \"grafana\"\n",
        "    use \"grafana\"\n    mount \"./grafana-sources\" \"/etc/grafana/provisioning/datasources/\"\n",
    );
    let files = build(&own, vec![TargetKind::Compose, TargetKind::Prometheus]);
    assert!(files.iter().all(|(p, _)| !p.starts_with("grafana/")));
    let compose = &files.iter().find(|(p, _)| p == "docker-compose.yml").unwrap().1;
    let grafana = support::service_block(compose, "dashboards");
    assert!(grafana.contains(":/etc/grafana/provisioning/datasources"), "{grafana}");
    assert!(!grafana.contains("/etc/grafana/provisioning:ro") && !grafana.contains("/var/lib/grafana/dashboards"));

    // A Grafana on a network Prometheus is not on could not use its datasource: W0501.
    let apart = GRAFANA
        .replace("    use \"grafana\"\n", "    use \"grafana\"\n    networks \"front\"\n")
        .replace("    metrics path=", "    networks \"back\"\n    metrics path=")
        .replace("stack \"obs\"\n", "stack \"obs\"\nnetwork \"front\"\nnetwork \"back\"\n");
    let emit =
        EmitOptions { targets: Some(vec![TargetKind::Compose, TargetKind::Prometheus]), ..EmitOptions::default() };
    let built = stackc::build("test.stack.kdl", &apart, &Options::default(), &emit);
    let warnings: Vec<String> =
        built.outcome.diagnostics.iter().map(|d| format!("{} {}", d.code.as_str(), d.message)).collect();
    assert!(
        warnings.contains(
            &"W0501 Grafana `dashboards` cannot reach Prometheus, its provisioned datasource: they share no network"
                .to_string()
        ),
        "{warnings:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// Backups report their last success; alerts when it is older than twice the schedule.

const BACKUPS: &str = r##"
service "db" {
    image "postgres:16-alpine"
    port 5432
}
volume "uploads"
monitoring {
    exporters "node"
}
backup "db" service="db" schedule="0 3 * * *" to="/var/backups/db"
backup "files" volume="uploads" schedule="0 3 * * 1-5" to="/var/backups/files"
targets { compose; prometheus; }
"##;

#[test]
fn the_longest_gap_of_a_schedule() {
    let gap = |s: &str| stackc::lower::schedule_max_gap_ms(s).map(|ms| ms / 60_000);
    assert_eq!(gap("0 3 * * *"), Some(24 * 60));
    assert_eq!(gap("0 3 * * 1-5"), Some(3 * 24 * 60), "Friday to Monday");
    assert_eq!(gap("*/15 * * * *"), Some(15));
    assert_eq!(gap("0 0 1 * *"), Some(31 * 24 * 60), "the longest month");
    assert_eq!(gap("not a schedule"), None);
}

#[test]
fn backups_report_success_and_their_age_is_alerted() {
    let files = build(BACKUPS, vec![TargetKind::Compose, TargetKind::Prometheus]);
    let text = |p: &str| files.iter().find(|(f, _)| f == p).unwrap_or_else(|| panic!("no {p}")).1.clone();
    // The script writes the last success where the node exporter reads it.
    let script = text("backup/db.sh");
    assert!(
        script.contains("> backup/metrics/db.prom.tmp\nmv backup/metrics/db.prom.tmp backup/metrics/db.prom\n"),
        "{script}"
    );
    let node = support::service_block(&text("docker-compose.yml"), "node-exporter");
    assert!(node.contains("- --collector.textfile.directory=/var/lib/node_exporter/textfile"), "{node}");
    assert!(node.contains("- ./backup/metrics:/var/lib/node_exporter/textfile:ro"), "{node}");
    assert!(text("prometheus/prometheus.yml").contains("rule_files:\n- rules/stackc-backups.yml\n"));
    let Some(promtool) = require("promtool") else { return };
    let work = scratch("backups");
    std::fs::create_dir_all(work.join("rules")).unwrap();
    std::fs::write(work.join("rules/stackc-backups.yml"), text("prometheus/rules/stackc-backups.yml")).unwrap();
    std::fs::copy(root().join("compiler/stackc/tests/prometheus/generated/backups.test.yml"), work.join("test.yml"))
        .unwrap();
    let (ok, out) = run(Command::new(&promtool).arg("test").arg("rules").arg(work.join("test.yml")));
    assert!(ok, "{out}\n{}", text("prometheus/rules/stackc-backups.yml"));
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn backups_without_a_node_exporter_are_reported() {
    let src = BACKUPS.replace("    exporters \"node\"\n", "    prometheus\n");
    let emit = EmitOptions { targets: Some(vec![TargetKind::Prometheus]), ..EmitOptions::default() };
    let built = stackc::build("test.stack.kdl", &src, &Options::default(), &emit);
    let w: Vec<String> =
        built.outcome.diagnostics.iter().map(|d| format!("{} {}", d.code.as_str(), d.message)).collect();
    assert!(
        w.contains(&"W0501 the backups' age alerts are written, but nothing reads their last-success files: the stack runs no node exporter".to_string()),
        "{w:?}"
    );
}

#[test]
fn a_webhook_has_no_channel() {
    let errors = errors_of(
        "secret \"h\" env=\"H\"\nmonitoring {\n    notify \"webhook\" webhook=(secret)\"h\" channel=\"#ops\"\n}\n",
    );
    assert_eq!(errors, ["E0103 `channel=` is a Slack setting: a webhook has no channel"]);
}
