//! The Prometheus target, end to end: `tests/e2e/monitoring.stack.kdl` compiled with the
//! library, its `prometheus.yml`, rule file and `alertmanager.yml` run on the real Prometheus
//! and Alertmanager (Debian's `prometheus` and `prometheus-alertmanager`), with small
//! `/metrics` servers as the scrape targets and a webhook server as the Slack receiver
//! (`tests/e2e/monitoring_e2e.py` holds the expectations; `docs/targets/prometheus.md` lists
//! them).
//!
//! Everything runs inside `unshare -m -n`: a private network namespace with only a loopback
//! interface (no port of the machine is used) and a private mount namespace in which a hosts
//! file maps every host the files name (`api`, `node-exporter`, `alertmanager`, …) to
//! 127.0.0.1. So the generated files are used as they are, but for one path: the secret files
//! Alertmanager reads the receivers' URLs from (`/run/secrets/…`) are in the test's directory. The servers' command lines are compose's (`--config.file`,
//! `--storage.*path` in the test's directory) plus `--cluster.listen-address=` for
//! Alertmanager, whose gossip needs a non-loopback address the namespace does not have.
//!
//! Needs root, prometheus, prometheus-alertmanager, python3, `ip` and `mount`. In CI (`CI`
//! set) a missing tool fails the test; elsewhere it prints NOT RUN and passes.

use std::path::Path;

use stackc::emit::EmitOptions;
use stackc::ir::TargetKind;
use stackc::Options;

#[allow(dead_code)]
#[path = "e2e/harness.rs"]
mod harness;
use harness::namespace;

/// The Slack receiver the test runs; the secret file holds its URL.
const RECEIVER_PORT: u16 = 5001;

/// Replaces `from` by `to` in `text`, and fails when `from` is not there: a substitution that
/// silently stops applying would test a different configuration.
fn replace_all(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the generated file no longer contains {from:?}:\n{text}");
    text.replace(from, to)
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn prometheus_and_alertmanager_run_the_generated_monitoring() {
    let src = std::fs::read_to_string(harness::e2e_dir().join("monitoring.stack.kdl")).unwrap();
    let emit = EmitOptions { targets: Some(vec![TargetKind::Prometheus]), ..EmitOptions::default() };
    let built = stackc::build("monitoring.stack.kdl", &src, &Options::default(), &emit);
    let diags: Vec<String> =
        built.outcome.diagnostics.iter().map(|d| format!("{} {}", d.code.as_str(), d.message)).collect();
    assert!(diags.is_empty(), "the e2e stack checks clean: {diags:?}");
    let stack = built.outcome.stack.as_ref().expect("the e2e stack compiles");
    let file = |path: &str| {
        built.files.iter().find(|f| f.path == path).unwrap_or_else(|| panic!("{path} not generated")).contents.clone()
    };

    // The critical's expression spans lines: Prometheus evaluates it from a block scalar.
    let rules = file("prometheus/rules/queue.yml");
    assert!(rules.contains("    expr: |-\n      queue_depth{job=\"api\"}\n        > 1000\n"), "{rules}");

    // The scrape targets as the configuration names them: one server per `host:port`.
    let jobs = stackc::emit::prometheus::scrape_jobs(stack);
    let mut targets = Vec::new();
    let mut hosts = vec!["alertmanager".to_string()];
    for job in &jobs {
        if job.job_name == "prometheus" || job.job_name == "blackbox" {
            continue; // Prometheus itself; the probes go to the blackbox exporter's server
        }
        for t in job.static_configs.iter().flat_map(|g| &g.targets) {
            let (host, port) = t.rsplit_once(':').expect("host:port");
            let kind = match job.job_name.as_str() {
                "api" => "service",
                "blackbox-exporter" => "blackbox",
                _ => "exporter",
            };
            targets.push(serde_json::json!({"job": job.job_name, "port": port.parse::<u16>().unwrap(), "kind": kind}));
            hosts.push(host.to_string());
        }
    }
    let probe = &stack.monitoring.as_ref().unwrap().probes[0];

    let Some((prometheus, python)) =
        harness::require("monitoring end-to-end test", "prometheus", &["prometheus-alertmanager"])
    else {
        return;
    };

    let dir = std::env::temp_dir().join(format!("stackc-monitoring-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.display().to_string();
    let config = dir.join("prometheus/prometheus.yml");
    for f in &built.files {
        if f.path.starts_with("prometheus/") {
            write(&dir.join(&f.path), &f.contents);
        }
    }
    let am_config = dir.join("alertmanager/alertmanager.yml");
    write(&am_config, &replace_all(&file("alertmanager/alertmanager.yml"), "/run/secrets/", &format!("{d}/secrets/")));
    // Each receiver's URL is the test's webhook server, under the secret's name: the path
    // tells which receiver a notification went through.
    for secret in stack.monitoring.as_ref().unwrap().alertmanager_secrets() {
        write(&dir.join("secrets").join(secret), &format!("http://127.0.0.1:{RECEIVER_PORT}/{secret}\n"));
    }

    let plan = serde_json::json!({
        "prometheus": [
            prometheus, format!("--config.file={}", config.display()), format!("--storage.tsdb.path={d}/data/prometheus"),
        ],
        "alertmanager": [
            "prometheus-alertmanager", format!("--config.file={}", am_config.display()),
            format!("--storage.path={d}/data/alertmanager"), "--cluster.listen-address=",
        ],
        "dir": d,
        "hosts": hosts,
        "targets": targets,
        "jobs": jobs.iter().map(|j| j.job_name.clone()).collect::<Vec<_>>(),
        "probe": {"url": probe.url, "module": probe.module},
        "receiver_port": RECEIVER_PORT,
        "alerts": {
            "name": "QueueBacklog", "metric": "queue_depth", "warning_value": 500, "critical_value": 5000,
            // The default receiver's secret, and the one of the route for critical alerts.
            "warning_path": "/alert-hook", "critical_path": "/oncall-hook",
        },
        "outer_namespaces": { "mnt": namespace("mnt"), "net": namespace("net") },
    });
    let plan_path = dir.join("plan.json");
    std::fs::write(&plan_path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();

    let (out, ok) = harness::run_script_sandboxed(&python, "monitoring_e2e.py", &plan_path, &dir);
    println!("{out}");
    if ok {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(ok, "the generated monitoring failed end to end (files kept in {d}):\n{out}");
    // The script really ran its checks (its summary line and the inhibition's).
    assert!(out.contains("PASS: the generated monitoring works end to end"), "{out}");
    assert!(out.contains("the warning is suppressed (inhibited by"), "{out}");
}
