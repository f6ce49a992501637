//! The custom resources of the Kubernetes target. On `tests/k8s_crds/crds.stack.kdl`: with
//! `targets > k8s monitoring="prometheus-operator"`, a ServiceMonitor per service with
//! `metrics` and a PrometheusRule holding the stack's `alerts` groups, whose rules are the
//! Prometheus target's rule files' groups, value for value. On `tests/k8s_crds/routes.stack.kdl`:
//! with `routing="gateway-api"`, an HTTPRoute per site instead of an Ingress.
//!
//! kubernetes-validate knows no CRD: the objects are checked with `check-jsonschema` against
//! `tests/k8s_crds/*.schema.json`, the required fields, limits, enums and patterns of the
//! CRD schemas (prometheus-operator's, the Gateway API's) for the fields stackc writes, closed
//! where stackc writes the object (the API server prunes unknown fields of a CRD silently).
//! The directories must also render with `kubectl kustomize` and pass checkov.

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

fn routes_fixture() -> String {
    std::fs::read_to_string(fixture_path("routes.stack.kdl")).expect("the routes fixture")
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

/// The files `keep` selects, then the diagnostics.
fn snapshot(files: &[OutputFile], diags: &[String], keep: impl Fn(&str) -> bool) -> String {
    let mut out = String::new();
    for f in files.iter().filter(|f| keep(&f.path)) {
        out.push_str(&format!("=== {}\n{}\n", f.path, f.contents));
    }
    out.push_str("=== diagnostics\n");
    out.push_str(&diags.join("\n"));
    out
}

#[test]
fn manifests_and_warnings_match_the_snapshot() {
    let (files, diags) = build();
    insta::assert_snapshot!(snapshot(&files, &diags, |p| p.starts_with("k8s/")));
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

/// A fresh directory with the `k8s/` files, the directory returned.
fn written(files: &[OutputFile], tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "stackc-k8s-crds-{tag}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
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

/// The custom resources of `files` (kinds by file prefix, with their count) pass
/// `check-jsonschema` against `schema`, the directory renders with `kubectl kustomize`, and
/// checkov fails no check on a custom resource.
fn check_directory(files: &[OutputFile], tag: &str, schema: &str, kinds: &[(&str, &str, usize)]) {
    let dir = written(files, tag);
    let crs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            kinds.iter().any(|(prefix, _, _)| n.starts_with(prefix))
        })
        .collect();
    assert_eq!(crs.len(), kinds.iter().map(|k| k.2).sum::<usize>(), "{crs:?}");
    if let Some(cj) = require("jsonschema", "check-jsonschema") {
        let out = Command::new(cj).arg("--schemafile").arg(fixture_path(schema)).args(&crs).output().unwrap();
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
        for (_, kind, n) in kinds {
            assert_eq!(rendered.matches(&format!("kind: {kind}\n")).count(), *n, "{rendered}");
        }
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
        // Checkov reads the custom resources (resource_count) and fails none of them; the
        // workloads' failures are tests/k8s.rs's, accepted there by id on every golden directory.
        let resources: u64 = reports.iter().filter_map(|r| r["summary"]["resource_count"].as_u64()).sum();
        assert!(resources as usize >= crs.len(), "checkov read {resources} resources");
        let failed: Vec<String> = reports
            .iter()
            .flat_map(|r| r["results"]["failed_checks"].as_array().cloned().unwrap_or_default())
            .map(|f| format!("{} {}", f["check_id"].as_str().unwrap_or(""), f["resource"].as_str().unwrap_or("")))
            .filter(|f| kinds.iter().any(|(_, kind, _)| f.contains(kind)))
            .collect();
        assert!(failed.is_empty(), "{failed:#?}");
    }
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn the_monitoring_resources_match_the_crd_schemas_render_with_kustomize_and_pass_checkov() {
    check_directory(
        &build().0,
        "monitoring",
        "monitoring.coreos.com.schema.json",
        &[("servicemonitor-", "ServiceMonitor", 2), ("prometheusrule-", "PrometheusRule", 1)],
    );
}

// ---------------------------------------------------------------------------------------
// Routing: the Gateway API.
// ---------------------------------------------------------------------------------------

fn routes() -> (Vec<OutputFile>, Vec<String>) {
    build_for(&routes_fixture(), vec![TargetKind::K8s])
}

#[test]
fn routes_and_warnings_match_the_snapshot() {
    let (files, diags) = routes();
    insta::assert_snapshot!(
        snapshot(&files, &diags, |p| p.starts_with("k8s/httproute") || p == "k8s/kustomization.yaml")
    );
}

#[test]
fn a_site_is_an_http_route_on_the_named_gateway_instead_of_an_ingress() {
    let (files, diags) = routes();
    assert!(!files.iter().any(|f| f.path.starts_with("k8s/ingress-")), "no Ingress with gateway-api");
    let r = object(&files, "k8s/httproute-shop-example-com.yaml");
    assert_eq!(r["apiVersion"], "gateway.networking.k8s.io/v1");
    assert_eq!(r["spec"]["parentRefs"], serde_json::json!([{"name": "public", "namespace": "gateways"}]));
    assert_eq!(r["spec"]["hostnames"], serde_json::json!(["shop.example.com", "www.shop.example.com"]));
    let rules = r["spec"]["rules"].as_array().unwrap();
    // The plan's match order: exact, then prefixes longest first; the regex is left out.
    let paths: Vec<(String, String)> = rules
        .iter()
        .map(|r| {
            (
                r["matches"][0]["path"]["type"].as_str().unwrap().into(),
                r["matches"][0]["path"]["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = [("Exact", "/healthz"), ("PathPrefix", "/api/"), ("PathPrefix", "/")];
    assert_eq!(paths, want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec());
    // Backends by the Service's port: `port 80 target=8080` is 80.
    assert_eq!(rules[2]["backendRefs"], serde_json::json!([{"name": "web", "port": 80}]));
    assert_eq!(rules[1]["backendRefs"], serde_json::json!([{"name": "api", "port": 3000}]));
    // Header modifiers: set, and an empty value removes; hide-header removes a response header.
    let api = &rules[1]["filters"];
    assert_eq!(
        api[0],
        serde_json::json!({"type": "RequestHeaderModifier", "requestHeaderModifier": {
            "set": [{"name": "X-Forwarded-Prefix", "value": "/api"}], "remove": ["Proxy"]}})
    );
    assert_eq!(api[1]["type"], "ResponseHeaderModifier");
    let set = api[1]["responseHeaderModifier"]["set"].as_array().unwrap();
    assert!(set.contains(&serde_json::json!({"name": "X-Frame-Options", "value": "DENY"})), "{set:?}");
    assert_eq!(api[1]["responseHeaderModifier"]["remove"], serde_json::json!(["X-Powered-By"]));
    assert_eq!(
        api[2],
        serde_json::json!({"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}})
    );
    assert_eq!(rules[1]["timeouts"], serde_json::json!({"request": "45s"}));
    // What it cannot express is a W0501 at the route.
    let src = routes_fixture();
    let line = |needle: &str| src.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let regex = format!("W0501 line {}: route `^/v[0-9]+/`: a regular expression path", line("regex=#true"));
    let redirect = format!("W0501 line {}: route `/old`: the redirect", line("redirect="));
    // The proxy's settings are the Gateway implementation's, said in the HTTPRoute's words.
    let gzip = format!("W0501 line {}: an HTTPRoute does not compress responses", line("gzip #true"));
    for want in [regex, redirect, gzip] {
        assert!(diags.iter().any(|d| d.starts_with(&want)), "{want}\n{diags:#?}");
    }
    // The NetworkPolicies let the Gateway's namespace reach the routed ports.
    let np = file(&files, "k8s/networkpolicy-web.yaml");
    assert!(np.contains("kubernetes.io/metadata.name: gateways\n"), "{np}");
}

#[test]
fn gateway_api_without_a_gateway_is_an_error() {
    let src = routes_fixture().replace(" gateway=\"public\"", "");
    let emit = EmitOptions { targets: Some(vec![TargetKind::K8s]), ..EmitOptions::default() };
    let built = stackc::build("routes.stack.kdl", &src, &Options::default(), &emit);
    let errors: Vec<String> = built
        .outcome
        .diagnostics
        .iter()
        .filter(|d| d.code.as_str().starts_with('E'))
        .map(|d| format!("{} {}", d.code.as_str(), d.message))
        .collect();
    assert_eq!(errors, ["E0501 `targets > k8s routing=\"gateway-api\"` needs the Gateway the HTTPRoutes attach to"]);
}

#[test]
fn the_http_routes_match_the_crd_schema_render_with_kustomize_and_pass_checkov() {
    check_directory(&routes().0, "routes", "gateway.networking.k8s.io.schema.json", &[("httproute-", "HTTPRoute", 1)]);
}

#[test]
fn gateway_options_without_gateway_api_are_a_warning() {
    let src = routes_fixture().replace("routing=\"gateway-api\" ", "");
    let (files, diags) = build_for(&src, vec![TargetKind::K8s]);
    assert!(files.iter().any(|f| f.path == "k8s/ingress-shop-example-com.yaml"), "an Ingress without the option");
    assert!(
        diags.iter().any(|d| d.starts_with(
            "W0501 line 0: `gateway=` and `gateway-namespace=` only take effect with `routing=\"gateway-api\"`"
        )),
        "{diags:#?}"
    );
}

/// What the HTTPRoute has no field for on a whole site, its own port and raw directives
/// included, is a W0501 at the site.
#[test]
fn a_sites_port_and_raw_directives_are_reported_on_the_http_route() {
    let src = routes_fixture().replacen(
        "site \"shop.example.com\"",
        "site \"plain.example.com\" {\n    listen 8081\n    nginx \"add_header X-A 1;\"\n    route \"/\" to=\"web\"\n}\nsite \"shop.example.com\"",
        1,
    );
    assert_ne!(src, routes_fixture());
    let (_, diags) = build_for(&src, vec![TargetKind::K8s]);
    assert!(
        diags.iter().any(|d| d.starts_with("W0501")
            && d.contains("an HTTPRoute does not express `listen`, raw `nginx`/`caddy` directives")),
        "{diags:#?}"
    );
}
