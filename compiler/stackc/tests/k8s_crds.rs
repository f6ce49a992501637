//! The custom resources of the Kubernetes target, on `tests/k8s_crds/crds.stack.kdl`: with
//! `targets > k8s monitoring="prometheus-operator"`, a ServiceMonitor per service with
//! `metrics` and a PrometheusRule holding the stack's `alerts` groups, whose rules are the
//! Prometheus target's rule files' groups, byte for byte.
//!
//! kubernetes-validate knows no CRD: the objects are checked with `check-jsonschema` against
//! `tests/k8s_crds/monitoring.coreos.com.schema.json`, the required fields, enums and
//! patterns of the operator's CRD schemas for the fields stackc writes, closed where stackc
//! writes the object (the API server prunes unknown fields of a CRD silently). The directory
//! must also render with `kubectl kustomize` and pass checkov.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use stackc::emit::{EmitOptions, OutputFile};
use stackc::ir::TargetKind;
use stackc::Options;

mod support;
use support::{file, in_ci, require};

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/k8s_crds").join(name)
}

fn fixture() -> String {
    std::fs::read_to_string(fixture_path("crds.stack.kdl")).expect("the CRD fixture")
}

/// The files of `src` for `targets` and its diagnostics as `CODE line N: message`.
fn build_for(src: &str, targets: Vec<TargetKind>) -> (Vec<OutputFile>, Vec<String>) {
    let emit = EmitOptions { targets: Some(targets), ..EmitOptions::default() };
    let built = stackc::build("crds.stack.kdl", src, &Options::default(), &emit);
    let diags: Vec<String> = built
        .outcome
        .diagnostics
        .iter()
        .map(|d| {
            let line = d.primary.as_ref().map_or(0, |l| src[..l.span.offset].lines().count());
            format!("{} line {line}: {}", d.code.as_str(), d.message)
        })
        .collect();
    assert!(!diags.iter().any(|d| d.starts_with('E')), "{diags:#?}");
    (built.files, diags)
}

fn build() -> (Vec<OutputFile>, Vec<String>) {
    build_for(&fixture(), vec![TargetKind::K8s, TargetKind::Prometheus])
}

fn object(files: &[OutputFile], path: &str) -> Value {
    serde_saphyr::from_str(file(files, path)).unwrap()
}

#[test]
fn manifests_and_warnings_match_the_snapshot() {
    let (files, diags) = build();
    let mut out = String::new();
    for f in &files {
        if f.path.starts_with("k8s/") {
            out.push_str(&format!("=== {}\n{}\n", f.path, f.contents));
        }
    }
    out.push_str("=== diagnostics\n");
    out.push_str(&diags.join("\n"));
    insta::assert_snapshot!(out);
}

#[test]
fn a_service_monitor_selects_the_service_and_scrapes_its_metrics_port_by_name() {
    let (files, _) = build();
    let sm = object(&files, "k8s/servicemonitor-api.yaml");
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(sm["metadata"]["namespace"], "shop");
    // The stack's labels reach it: that is how an operator's serviceMonitorSelector finds it.
    assert_eq!(sm["metadata"]["labels"]["release"], "kube-prometheus");
    assert_eq!(sm["spec"]["selector"]["matchLabels"], serde_json::json!({"app.kubernetes.io/name": "api"}));
    assert_eq!(sm["spec"]["namespaceSelector"]["matchNames"], serde_json::json!(["shop"]));
    let ep = &sm["spec"]["endpoints"][0];
    assert_eq!(ep["port"], "metrics");
    assert_eq!(ep["path"], "/internal/metrics");
    assert_eq!(ep["scheme"], "http");
    assert_eq!(ep["interval"], "30s");
    // The job is the stack's `job=`, as in the Prometheus target, not the Service's name.
    assert_eq!(
        ep["relabelings"],
        serde_json::json!([{"action": "replace", "targetLabel": "job", "replacement": "shop-api"}])
    );

    // The selector matches the Service's labels, and the port name is one the Service has.
    let svc = object(&files, "k8s/service-api.yaml");
    assert_eq!(svc["metadata"]["labels"]["app.kubernetes.io/name"], "api");
    let names: Vec<&str> = svc["spec"]["ports"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert!(names.contains(&"metrics"), "{names:?}");

    // An unnamed single port is reached by number.
    let worker = object(&files, "k8s/servicemonitor-worker.yaml");
    assert_eq!(worker["spec"]["endpoints"][0]["targetPort"], 9000);
    assert!(worker["spec"]["endpoints"][0].get("port").is_none());
    assert!(worker["spec"]["endpoints"][0].get("interval").is_none(), "the operator's default interval");
}

#[test]
fn the_operator_replaces_the_scrape_annotations_and_their_interval_warning() {
    let (files, diags) = build();
    let pod = file(&files, "k8s/deployment-api.yaml");
    assert!(!pod.contains("prometheus.io/"), "{pod}");
    assert!(!diags.iter().any(|d| d.contains("interval=")), "{diags:#?}");
    // A metrics port the Service does not list cannot be scraped through it: said, not dropped.
    assert!(!files.iter().any(|f| f.path == "k8s/servicemonitor-cron.yaml"));
    let line = fixture().lines().position(|l| l.contains("metrics port=9200")).unwrap() + 1;
    assert!(
        diags.iter().any(|d| d.starts_with(&format!("W0501 line {line}: service `cron` has no port 9200"))),
        "{diags:#?}"
    );
    let kustomization = file(&files, "k8s/kustomization.yaml");
    assert!(
        kustomization.contains("- servicemonitor-api.yaml\n- servicemonitor-worker.yaml\n- prometheusrule-shop.yaml\n"),
        "{kustomization}"
    );
}

#[test]
fn the_prometheus_rule_holds_the_groups_the_prometheus_target_writes() {
    let (files, _) = build();
    let rule = object(&files, "k8s/prometheusrule-shop.yaml");
    let rules_file: Value = serde_saphyr::from_str(file(&files, "prometheus/rules/shop.yml")).unwrap();
    assert_eq!(rule["spec"]["groups"], rules_file["groups"]);
    let group = &rule["spec"]["groups"][0];
    assert_eq!(group["interval"], "1m");
    assert_eq!(group["rules"][0]["record"], "job:http_errors:rate5m");
    assert_eq!(group["rules"][1]["alert"], "ApiErrors");
    assert_eq!(group["rules"][1]["for"], "5m");
    assert_eq!(group["rules"][1]["annotations"]["description"], "line one\nline two");
}

#[test]
fn without_the_option_the_pods_keep_their_annotations_and_no_custom_resource_is_written() {
    let src = fixture().replace(" monitoring=\"prometheus-operator\"", "");
    let (files, diags) = build_for(&src, vec![TargetKind::K8s]);
    assert!(!files.iter().any(|f| f.path.contains("servicemonitor") || f.path.contains("prometheusrule")));
    let pod = file(&files, "k8s/deployment-api.yaml");
    assert!(pod.contains("prometheus.io/port: '9100'") || pod.contains("prometheus.io/port: \"9100\""), "{pod}");
    assert!(diags.iter().any(|d| d.contains("carry prometheus.io annotations")), "{diags:#?}");
}

/// A fresh directory with the fixture's `k8s/` files.
fn written() -> PathBuf {
    let (files, _) = build();
    let dir =
        std::env::temp_dir().join(format!("stackc-k8s-crds-{}-{:?}", std::process::id(), std::thread::current().id()));
    let _ = std::fs::remove_dir_all(&dir);
    for f in files.iter().filter(|f| f.path.starts_with("k8s/")) {
        let p = dir.join(&f.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &f.contents).unwrap();
    }
    dir.join("k8s")
}

fn kubectl() -> Option<PathBuf> {
    let out = Command::new("sh").arg("-c").arg("command -v kubectl").output().ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && !p.is_empty() {
        return Some(PathBuf::from(p));
    }
    assert!(!in_ci(), "kubectl is not installed: CI must have it");
    support::report_not_run("kubectl is not installed");
    None
}

#[test]
fn the_custom_resources_match_the_crd_schemas_render_with_kustomize_and_pass_checkov() {
    let dir = written();
    let crs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("servicemonitor-") || n.starts_with("prometheusrule-")
        })
        .collect();
    assert_eq!(crs.len(), 3, "{crs:?}");
    if let Some(cj) = require("jsonschema", "check-jsonschema") {
        let out = Command::new(cj)
            .arg("--schemafile")
            .arg(fixture_path("monitoring.coreos.com.schema.json"))
            .args(&crs)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if let Some(kubectl) = kubectl() {
        let out = Command::new(kubectl).arg("kustomize").arg(&dir).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let rendered = String::from_utf8_lossy(&out.stdout);
        assert_eq!(rendered.matches("kind: ServiceMonitor\n").count(), 2, "{rendered}");
        assert_eq!(rendered.matches("kind: PrometheusRule\n").count(), 1, "{rendered}");
    }
    if let Some(checkov) = require("checkov", "checkov") {
        let out = Command::new(checkov)
            .args(["--framework", "kubernetes", "--compact", "--quiet", "--skip-download", "-o", "json", "-d"])
            .arg(&dir)
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("checkov: {e}\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
        });
        let reports = match report {
            Value::Array(v) => v,
            other => vec![other],
        };
        // The custom resources add no failed check: checkov's failures here are only those of
        // the workloads, which tests/k8s.rs accepts by id on every golden directory.
        let failed: Vec<String> = reports
            .iter()
            .flat_map(|r| r["results"]["failed_checks"].as_array().cloned().unwrap_or_default())
            .map(|f| format!("{} {}", f["check_id"].as_str().unwrap_or(""), f["resource"].as_str().unwrap_or("")))
            .filter(|f| f.contains("ServiceMonitor") || f.contains("PrometheusRule"))
            .collect();
        assert!(failed.is_empty(), "{failed:#?}");
    }
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}
