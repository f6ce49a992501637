//! Nothing the stack says is dropped silently: each construct below once passed `check`,
//! built with exit 0 and produced output that did less than the stack says. Each test
//! asserts the value that must now reach the output (or the diagnostic that reports it).

use stackc::diagnostics::Diagnostic;
use stackc::emit::EmitOptions;
use stackc::ir::TargetKind;
use stackc::Options;

mod support;
use support::service_block;

fn build(src: &str, targets: &[TargetKind]) -> (Vec<(String, String)>, Vec<Diagnostic>) {
    let emit = EmitOptions { targets: Some(targets.to_vec()), ..EmitOptions::default() };
    let built = stackc::build("test.stack.kdl", src, &Options::default(), &emit);
    (built.files.into_iter().map(|f| (f.path, f.contents)).collect(), built.outcome.diagnostics)
}

fn file<'a>(files: &'a [(String, String)], path: &str) -> &'a str {
    let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    &files.iter().find(|(p, _)| p == path).unwrap_or_else(|| panic!("no {path} among {paths:?}")).1
}

fn codes(diags: &[Diagnostic]) -> Vec<String> {
    diags.iter().map(|d| format!("{} {}", d.code.as_str(), d.message)).collect()
}

fn no_errors(diags: &[Diagnostic]) {
    let errors: Vec<String> = codes(&diags.iter().filter(|d| d.is_error()).cloned().collect::<Vec<_>>());
    assert!(errors.is_empty(), "unexpected errors: {errors:#?}");
}

/// The diagnostic of this code whose message contains `needle`.
fn find<'a>(diags: &'a [Diagnostic], code: &str, needle: &str) -> &'a Diagnostic {
    diags
        .iter()
        .find(|d| d.code.as_str() == code && d.message.contains(needle))
        .unwrap_or_else(|| panic!("no {code} with `{needle}` among {:#?}", codes(diags)))
}

/// The text a diagnostic's first label points at.
fn pointed_at<'a>(src: &'a str, d: &Diagnostic) -> &'a str {
    let l = d.primary.as_ref().unwrap_or_else(|| panic!("no label on {}", d.message));
    &src[l.span.offset..l.span.offset + l.span.len]
}

const DURATIONS: &str = r#"
stack "t"
param "hc-interval" default="45s" env="HC_INTERVAL"
param "grace" default="90s"
param "mem" default="512Mi" env="MEM"
param "hsts" default="365d"
param "body" default="20M"
service "api" {
    image "nginx:1.27"
    port 8080 name="http"
    health http="/health" port="http" interval="${hc-interval}" timeout="${hc-interval}" start-period="${grace}"
    stop-grace-period "${grace}"
    shm-size "${mem}"
    resources memory="${mem}" reserve-memory="${mem}"
    restart "on-failure" delay="${hc-interval}" window="${grace}"
    update delay="${hc-interval}" monitor="${grace}"
    logging max-size="${mem}"
}
proxy {
    tls hsts="${hsts}"
    body-limit "${body}"
}
site "example.com" {
    route "/" to="api" timeout="${grace}" body-limit="${body}"
}
"#;

/// Item 1: durations and sizes given as `${param}` reach compose (deploy-time params as
/// interpolations, with the default in compose's spelling), nginx, Caddy and k8s.
#[test]
fn durations_and_sizes_from_params_reach_every_target() {
    let (files, diags) = build(DURATIONS, &[TargetKind::Compose, TargetKind::Nginx, TargetKind::Caddy]);
    no_errors(&diags);
    let api = service_block(file(&files, "docker-compose.yml"), "api");
    for want in [
        "interval: ${HC_INTERVAL:-45s}",
        "timeout: ${HC_INTERVAL:-45s}",
        "start_period: 1m30s",
        "stop_grace_period: 1m30s",
        "shm_size: ${MEM:-512m}",
        "limits:\n      memory: ${MEM:-512m}",
        "reservations:\n      memory: ${MEM:-512m}",
        "restart_policy:\n    condition: on-failure\n    delay: ${HC_INTERVAL:-45s}\n    window: 1m30s",
        "update_config:\n    delay: ${HC_INTERVAL:-45s}",
        "monitor: 1m30s",
        "max-size: ${MEM:-512m}",
    ] {
        assert!(api.contains(want), "compose lacks `{want}`:\n{api}");
    }
    let nginx = file(&files, "nginx/conf.d/t.conf");
    for want in ["max-age=31536000", "client_max_body_size 20000000;", "proxy_read_timeout 90s"] {
        assert!(nginx.contains(want), "nginx lacks `{want}`:\n{nginx}");
    }
    let caddy = file(&files, "caddy/Caddyfile");
    for want in ["max-age=31536000", "max_size 20000000B", "read_timeout 90s"] {
        assert!(caddy.contains(want), "Caddy lacks `{want}`:\n{caddy}");
    }

    let (files, diags) = build(DURATIONS, &[TargetKind::K8s]);
    no_errors(&diags);
    let k8s: String = files.iter().map(|(_, c)| c.as_str()).collect();
    for want in [
        "periodSeconds: 45",
        "timeoutSeconds: 45",
        // `start-period` (90s) is a startup probe: 90s at the 45s period, then docker's 3 retries.
        "startupProbe:",
        "failureThreshold: 5",
        "terminationGracePeriodSeconds: 90",
        "memory: 512Mi",
    ] {
        assert!(k8s.contains(want), "k8s lacks `{want}`");
    }
    // The manifests cannot read `HC_INTERVAL`/`MEM` at deploy time: said, at the param.
    let warned: Vec<&Diagnostic> = diags.iter().filter(|d| d.code.as_str() == "W0501").collect();
    assert!(warned.iter().any(|d| d.message.contains("HC_INTERVAL")), "{:#?}", codes(&diags));
    assert!(warned.iter().any(|d| d.message.contains("MEM")), "{:#?}", codes(&diags));
}

/// Item 1: a duration whose param has no value at build time is an error for the targets
/// that cannot read the deploy environment, at the property, never a missing key.
#[test]
fn a_duration_without_a_build_time_value_is_reported_at_the_property() {
    let src = r#"
stack "t"
param "timeout" env="ROUTE_TIMEOUT" required=#true
service "api" {
    image "nginx:1.27"
    port 8080
}
site "example.com" {
    route "/" to="api" timeout="${timeout}"
}
"#;
    for target in [TargetKind::Nginx, TargetKind::Caddy] {
        let (_, diags) = build(src, &[target]);
        let e = find(&diags, "E0501", "timeout=");
        assert_eq!(pointed_at(src, e), r#"timeout="${timeout}""#);
    }
}

/// Item 2: a bind-mount source from a param is rendered like every other string; written
/// as is, compose read `${upload-location}` as `${upload:-location}`, a volume `location`.
#[test]
fn a_bind_mount_source_from_a_param_is_rendered() {
    let src = r#"
stack "t"
param "upload-location" default="/srv/uploads" env="UPLOAD_LOCATION"
param "config-dir" default="./config"
service "api" {
    image "nginx:1.27"
    mount "${upload-location}" "/data"
    mount "${config-dir}/api.toml" "/etc/api.toml" read-only=#true
}
"#;
    let (files, diags) = build(src, &[TargetKind::Compose]);
    no_errors(&diags);
    let compose = file(&files, "docker-compose.yml");
    let api = service_block(compose, "api");
    assert!(api.contains("- ${UPLOAD_LOCATION:-/srv/uploads}:/data"), "{api}");
    assert!(api.contains("- ./config/api.toml:/etc/api.toml:ro"), "{api}");
    assert!(!compose.contains("upload-location"), "{compose}");
}

/// Item 2: a mount source with `${…}` whose value is not a host path is refused at the
/// source: a volume is named without params.
#[test]
fn a_mount_source_param_that_is_not_a_path_is_an_error() {
    let src = r#"
stack "t"
param "where" default="uploads"
volume "uploads"
service "api" {
    image "nginx:1.27"
    mount "${where}" "/data"
}
"#;
    let (_, diags) = build(src, &[TargetKind::Compose]);
    let e = find(&diags, "E0311", "not a host path");
    assert_eq!(pointed_at(src, e), r#""${where}""#);
}

/// Item 6: `--target compose` alone writes every file the compose file mounts (the proxy's
/// and Prometheus' configuration), for every example and each of its environments.
#[test]
fn compose_alone_writes_what_it_mounts() {
    let mut checked = 0;
    for f in support::examples() {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let src = std::fs::read_to_string(&f).unwrap();
        let envs = stackc::compile(name, &src, &Options::default()).environments;
        for env in std::iter::once(None).chain(envs.into_iter().map(Some)) {
            // User paths are rebased onto `../..`, so `./…` is what stackc generates.
            let emit = EmitOptions {
                targets: Some(vec![TargetKind::Compose]),
                base_dir: "../..".into(),
                ..EmitOptions::default()
            };
            let built = stackc::build(name, &src, &Options { env: env.clone(), ..Options::default() }, &emit);
            no_errors(&built.outcome.diagnostics);
            let paths: Vec<&str> = built.files.iter().map(|f| f.path.as_str()).collect();
            for compose in built.files.iter().filter(|f| f.contents.lines().any(|l| l == "services:")) {
                for line in compose.contents.lines() {
                    let line = line.trim_start();
                    let Some(src) = line.strip_prefix("- ./").or_else(|| line.strip_prefix("source: ./")) else {
                        continue;
                    };
                    let rel = src.split(':').next().unwrap().trim_end_matches('/');
                    assert!(
                        paths.iter().any(|p| *p == rel || p.starts_with(&format!("{rel}/"))),
                        "{name} {env:?}: {} mounts ./{rel}, which `--target compose` did not write; it wrote {paths:?}",
                        compose.path
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 10, "only {checked} mounts checked");
}

const ROUTE_TO_PROMETHEUS: &str = r#"
stack "t"
secret "grafana-hash" env="ADMIN_HASH"
secret "slack" file="secrets/slack.txt"
service "api" {
    image "nginx:1.27"
    port 8080 name="http"
    metrics port="http"
}
monitoring {
    exporters "node"
    notify "slack" webhook=(secret)"slack"
}
site "ops.example.com" {
    basic-auth "admin" password-hash=(secret)"grafana-hash"
    route "/" to="prometheus"
    route "/alerts" to="alertmanager"
    route "/node" to="node-exporter"
    route "/api" to="api"
}
"#;

/// Item 3: a route to a service that `monitoring` generates reaches it on its port in
/// nginx, Caddy and compose (the proxy joins its network); it vanished before, and Caddy
/// then answered an empty 200 behind basic-auth.
#[test]
fn a_route_to_a_generated_monitoring_service_is_proxied() {
    let all = [TargetKind::Compose, TargetKind::Nginx, TargetKind::Caddy, TargetKind::Prometheus];
    let (files, diags) = build(ROUTE_TO_PROMETHEUS, &all);
    no_errors(&diags);
    let nginx = file(&files, "nginx/conf.d/t.conf");
    for want in ["server prometheus:9090", "server alertmanager:9093", "server node-exporter:9100"] {
        assert!(nginx.contains(want), "nginx lacks `{want}`:\n{nginx}");
    }
    let caddy = file(&files, "caddy/Caddyfile");
    for want in ["reverse_proxy prometheus:9090", "reverse_proxy alertmanager:9093", "reverse_proxy node-exporter:9100"]
    {
        assert!(caddy.contains(want), "Caddy lacks `{want}`:\n{caddy}");
    }
    let nginx_svc = service_block(file(&files, "docker-compose.yml"), "nginx");
    assert!(nginx_svc.contains("prometheus:\n"), "the proxy does not wait for prometheus:\n{nginx_svc}");
}

/// Item 3: where the generated service does not run, the route is reported at the route:
/// compose without the Prometheus target (E0501: nginx would not find the host), and k8s,
/// which runs no monitoring services (W0501: the Ingress leaves the path out).
#[test]
fn a_route_to_a_monitoring_service_that_does_not_run_is_reported() {
    let src = ROUTE_TO_PROMETHEUS.replace("stack \"t\"", "stack \"t\"\ntargets {\n    compose\n    nginx\n}");
    let (_, diags) = build(&src, &[TargetKind::Compose]);
    let e = find(&diags, "E0501", "`prometheus`");
    assert_eq!(pointed_at(&src, e), r#"route "/" to="prometheus""#);

    let (files, diags) = build(ROUTE_TO_PROMETHEUS, &[TargetKind::K8s]);
    no_errors(&diags);
    let w = find(&diags, "W0501", "`alertmanager`");
    assert_eq!(pointed_at(ROUTE_TO_PROMETHEUS, w), r#"route "/alerts" to="alertmanager""#);
    let ingress: String = files.iter().filter(|(p, _)| p.contains("ingress")).map(|(_, c)| c.as_str()).collect();
    assert!(ingress.contains("name: api"), "{ingress}");
    assert!(!ingress.contains("name: prometheus"), "{ingress}");
}

/// Item 3: a generated service has no named ports, so a named `port=` cannot be resolved:
/// an error at the port instead of a route that silently goes to the default port.
#[test]
fn a_named_port_on_a_generated_service_is_an_error() {
    let src = ROUTE_TO_PROMETHEUS.replace(r#"route "/" to="prometheus""#, r#"route "/" to="prometheus" port="web""#);
    let (_, diags) = build(&src, &[TargetKind::Nginx]);
    let e = find(&diags, "E0210", "no named ports");
    assert_eq!(pointed_at(&src, e), r#""web""#);
}

/// Item 7: alert rules without an Alertmanager fire nowhere: said at the `alerts` block.
#[test]
fn alerts_without_an_alertmanager_are_reported() {
    let alerts = "alerts \"uptime\" {\n    alert \"ApiDown\" expr=\"up{job=\\\"api\\\"} == 0\" for=\"2m\"\n}\n";
    let with_notify = format!("{ROUTE_TO_PROMETHEUS}{alerts}");
    let src = with_notify
        .replace("    notify \"slack\" webhook=(secret)\"slack\"\n", "")
        .replace("    route \"/alerts\" to=\"alertmanager\"\n", "");
    let (files, diags) = build(&src, &[TargetKind::Prometheus]);
    no_errors(&diags);
    assert!(files.iter().any(|(p, _)| p.starts_with("prometheus/rules/")), "the rules are still written");
    // One report, the lint's (the target adds no W0501 of its own).
    let w = find(&diags, "W0116", "no receiver");
    assert_eq!(pointed_at(&src, w), r#""ApiDown""#);
    assert!(
        !diags.iter().any(|d| d.code.as_str() == "W0501" && d.message.contains("reach no one")),
        "{:#?}",
        codes(&diags)
    );

    // With a receiver, the same rules reach Alertmanager: no warning.
    let (_, diags) = build(&with_notify, &[TargetKind::Prometheus]);
    no_errors(&diags);
    assert!(!diags.iter().any(|d| d.code.as_str() == "W0116"), "{:#?}", codes(&diags));
}

/// Item 5: the stack's labels and `defaults > logging` reach the services compose generates,
/// certbot joins nginx's network (compose invented a `default` one), and `caddy version=`
/// pins the Caddy image the way nginx's `version=` pins nginx.
#[test]
fn generated_services_get_what_the_stack_says_of_every_service() {
    let src = r#"
stack "t" {
    labels team="ops"
}
secret "slack" env="SLACK_URL"
defaults {
    logging driver="json-file" max-size="10M" max-file=3
}
network "edge"
service "api" {
    image "nginx:1.27"
    port 8080 name="http"
    metrics port="http"
    networks "edge"
}
monitoring {
    exporters "node"
    notify "slack" webhook=(secret)"slack"
}
site "example.com" {
    route "/" to="api"
}
"#;
    let (files, diags) = build(src, &[TargetKind::Compose]);
    no_errors(&diags);
    let compose = file(&files, "docker-compose.yml");
    for name in ["nginx", "certbot", "prometheus", "node-exporter", "alertmanager"] {
        let block = service_block(compose, name);
        assert!(block.contains("labels:\n  team: ops"), "{name} lacks the stack's labels:\n{block}");
        assert!(
            block
                .contains("logging:\n  driver: json-file\n  options:\n    max-size: \"10000000\"\n    max-file: \"3\""),
            "{name} lacks the default logging:\n{block}"
        );
    }
    assert!(service_block(compose, "certbot").contains("networks:\n- edge"), "{compose}");
    assert!(!compose.contains("\n  default:"), "{compose}");

    let caddy = src.replace("stack \"t\" {", "targets {\n    compose\n    caddy version=\"2.10\"\n}\nstack \"t\" {");
    let (files, diags) = build(&caddy, &[TargetKind::Compose]);
    no_errors(&diags);
    let block = service_block(file(&files, "docker-compose.yml"), "caddy");
    assert!(block.contains("image: caddy:2.10-alpine"), "{block}");
}

/// Item 8: a target's warning about one setting points at that setting, not at the whole
/// service block.
#[test]
fn target_warnings_point_at_the_setting() {
    let src = r#"
stack "t"
service "api" {
    image "nginx:1.27"
    port 8080 name="http"
    init #true
    user "app"
    resources cpus=1 pids=100
    mount "./config" "/etc/api" read-only=#true
    stateful #true
    replicas 2
}
"#;
    let (_, diags) = build(src, &[TargetKind::K8s, TargetKind::Compose]);
    no_errors(&diags);
    let at = |needle: &str| pointed_at(src, find(&diags, "W0501", needle)).to_string();
    assert_eq!(at("`init`"), "init #true");
    assert_eq!(at("numeric user"), r#"user "app""#);
    assert_eq!(at("pids="), "resources cpus=1 pids=100");
    assert_eq!(at("host path"), r#"mount "./config" "/etc/api" read-only=#true"#);
    assert_eq!(at("`stateful`"), "stateful #true");
}

/// Item 4: `metrics job=… interval=…` in an `exporter` or `prometheus` block (which need not
/// declare a port) reaches the scrape job; `retention=` that a `command` override drops is
/// reported at the command.
#[test]
fn metrics_and_retention_in_generated_service_blocks_are_kept_or_reported() {
    let src = r#"
stack "t"
monitoring {
    prometheus retention="30d" {
        metrics job="self" interval="1m"
        command "--config.file=/etc/prometheus/prometheus.yml"
    }
    exporter "node" {
        metrics job="hosts" interval="30s"
    }
}
"#;
    let (files, diags) = build(src, &[TargetKind::Compose, TargetKind::Prometheus]);
    no_errors(&diags);
    let prom = file(&files, "prometheus/prometheus.yml");
    for want in [
        "job_name: self\n  scrape_interval: 1m\n  static_configs:\n  - targets:\n    - localhost:9090",
        "job_name: hosts\n  scrape_interval: 30s\n  static_configs:\n  - targets:\n    - node-exporter:9100",
    ] {
        assert!(prom.contains(want), "prometheus.yml lacks\n{want}\nin\n{prom}");
    }
    // The command's own flag is kept, and stackc's others are added to it: retention applies.
    let compose = file(&files, "docker-compose.yml");
    assert!(
        compose.contains(
            "    command:\n    - --config.file=/etc/prometheus/prometheus.yml\n    - --storage.tsdb.path=/prometheus\n    - --storage.tsdb.retention.time=30d\n"
        ),
        "{compose}"
    );
    assert!(!codes(&diags).iter().any(|d| d.contains("retention=")), "{:#?}", codes(&diags));
}

/// Item 1: a duration or size that every target writes as a number, given by a param that
/// has no value at build time, is reported at the property instead of vanishing.
#[test]
fn a_number_only_setting_without_a_build_time_value_is_reported() {
    let src = r#"
stack "t"
param "fail-timeout" env="FAIL_TIMEOUT" required=#true
service "api" {
    image "nginx:1.27"
    port 8080
}
proxy {
    upstream "api" max-fails=3 fail-timeout="${fail-timeout}"
}
site "example.com" {
    route "/" to="api"
}
"#;
    let (_, diags) = build(src, &[TargetKind::Nginx]);
    no_errors(&diags);
    let w = find(&diags, "W0501", "without a value at build time");
    assert_eq!(pointed_at(src, w), r#"fail-timeout="${fail-timeout}""#);
}

const GENERATED_BLOCKS: &str = r#"
stack "t"
service "api" {
    image "ghcr.io/acme/api:1"
    port 8000 name="http"
    readiness http="/ready"
    update parallelism=1 max-surge=1 max-unavailable=0
    ulimit "nofile"
}
monitoring {
    prometheus {
        health http="/-/ready" interval="17s"
        readiness http="/-/ready"
        autoscale min=1 max=3 cpu=70
    }
    exporter "node" {
        health tcp=9100
    }
}
targets { compose; prometheus; }
"#;

/// The `prometheus`/`exporter` blocks take a service's settings: a probe without a port
/// probes the generated service's own port (it was dropped: the block declares no `port`).
#[test]
fn probes_of_a_generated_service_reach_the_compose_file() {
    let (files, diags) = build(GENERATED_BLOCKS, &[TargetKind::Compose, TargetKind::Prometheus]);
    no_errors(&diags);
    let compose = file(&files, "docker-compose.yml");
    assert!(compose.contains("http://127.0.0.1:9090/-/ready"), "{compose}");
    assert!(compose.contains("interval: 17s"), "{compose}");
    assert!(compose.contains("nc -z 127.0.0.1 9100"), "{compose}");
}

/// What compose cannot express is reported at the setting, for the stack's services and the
/// generated ones alike, once per service.
#[test]
fn what_compose_cannot_express_is_reported_at_the_setting() {
    let (_, diags) = build(GENERATED_BLOCKS, &[TargetKind::Compose, TargetKind::Prometheus]);
    no_errors(&diags);
    let readiness: Vec<&Diagnostic> = diags
        .iter()
        .filter(|d| d.code.as_str() == "W0501" && d.message.starts_with("compose has no readiness probes"))
        .collect();
    assert_eq!(readiness.len(), 2, "{:#?}", codes(&diags));
    assert!(readiness.iter().all(|d| pointed_at(GENERATED_BLOCKS, d).starts_with("readiness http=")));
    assert!(readiness.iter().any(|d| d.message.contains("`readiness` of `prometheus`")));
    let surge = find(&diags, "W0501", "`max-surge=` and `max-unavailable=` of `api`");
    assert!(pointed_at(GENERATED_BLOCKS, surge).starts_with("update parallelism=1"));
    let ulimit = find(&diags, "W0501", "`ulimit \"nofile\"` of `api` sets neither");
    assert_eq!(pointed_at(GENERATED_BLOCKS, ulimit), "ulimit \"nofile\"");
    let autoscale = find(&diags, "W0501", "compose cannot autoscale `prometheus`");
    assert!(pointed_at(GENERATED_BLOCKS, autoscale).starts_with("autoscale min=1"));
}

/// `propagation=` of a `proxy > mount` was written in the short syntax, which has no room
/// for it.
#[test]
fn a_proxy_mount_keeps_its_propagation() {
    let src = r#"
stack "t"
service "web" {
    image "nginx:1.27"
    port 80
}
proxy {
    mount "/srv/static" "/srv/static" read-only=#true propagation="rslave"
}
site "t.example.com" {
    route "/" to="web"
}
targets { compose; nginx; }
"#;
    let (files, diags) = build(src, &[TargetKind::Compose, TargetKind::Nginx]);
    no_errors(&diags);
    let compose = file(&files, "docker-compose.yml");
    let long = "    - type: bind\n      source: /srv/static\n      target: /srv/static\n      read_only: true\n      bind:\n        propagation: rslave\n";
    assert!(compose.contains(long), "{compose}");
}

/// Descriptions reach the compose file: the stack's as a comment, a service's as
/// `x-description` (compose keeps extension fields); params rendered as everywhere.
#[test]
fn descriptions_reach_the_compose_file() {
    let src = r#"
stack "t" {
    description "the ${what} stack"
}
param "what" default="shop" env="WHAT"
service "api" {
    description "serves the ${what} API, $5 a call"
    image "ghcr.io/acme/api:1"
}
"#;
    let compose = compose_alone(src);
    assert!(compose.lines().nth(1) == Some("# the shop stack"), "{compose}");
    assert!(compose.contains("x-description: serves the ${WHAT:-shop} API, $$5 a call\n"), "{compose}");
}

/// The compose file of a stack that builds without errors, compose alone.
fn compose_alone(src: &str) -> String {
    let (files, diags) = build(src, &[TargetKind::Compose]);
    no_errors(&diags);
    file(&files, "docker-compose.yml").to_string()
}

/// A CPU amount from a param took no value at all (the string did not parse as CPUs).
#[test]
fn cpus_from_a_param_take_its_value() {
    let src = r#"
stack "t"
param "cpu" default="0.75"
service "api" {
    image "ghcr.io/acme/api:1"
    resources cpus="${cpu}" reserve-cpus="${cpu}"
}
"#;
    let compose = compose_alone(src);
    assert_eq!(compose.matches("cpus: '0.75'").count() + compose.matches("cpus: \"0.75\"").count(), 2, "{compose}");
}

/// A port reference from a param resolved to no port, and the probe vanished.
#[test]
fn a_port_reference_from_a_param_is_an_error() {
    let src = r#"
stack "t"
param "p" default="http"
service "api" {
    image "ghcr.io/acme/api:1"
    port 8000 name="http"
    health http="/health" port="${p}"
}
"#;
    let (_, diags) = build(src, &[TargetKind::Compose]);
    let e = find(&diags, "E0311", "cannot contain `${");
    assert_eq!(pointed_at(src, e), "\"${p}\"");
}

/// A subnet, a cron schedule and a param's description from params were written as
/// `${…}`, which neither docker nor cron reads: they take the params' build-time values.
#[test]
fn strings_written_as_they_are_take_the_params_values() {
    let src = r#"
stack "t"
param "net" default="10.17.0.0/16"
param "when" default="17 3 * * *"
param "what" default="the shop"
param "tag" default="1" env="TAG" description="the image tag of ${what}"
network "backend" subnet="${net}"
volume "data"
service "db" {
    image "postgres:16-alpine"
    env POSTGRES_PASSWORD="x"
    networks "backend"
    mount "data" "/var/lib/postgresql/data"
}
backup "db" service="db" schedule="${when}" to="/var/backups/t"
"#;
    let (files, diags) = build(src, &[TargetKind::Compose]);
    no_errors(&diags);
    assert!(file(&files, "docker-compose.yml").contains("subnet: 10.17.0.0/16"));
    assert!(file(&files, "backup/crontab").contains("17 3 * * *"), "{}", file(&files, "backup/crontab"));
    assert!(file(&files, ".env.example").contains("# param `tag`: the image tag of the shop (optional"));
}

/// An environment variable's name or an output file's name from a param named nothing: the
/// value was written as `${…}` or ignored.
#[test]
fn names_of_variables_and_files_cannot_hold_params() {
    let src = r#"
stack "t"
param "p" default="X"
secret "token" env="${p}"
service "api" {
    image "ghcr.io/acme/api:1"
    env TOKEN=(secret)"token"
}
targets {
    compose file="${p}.yml"
}
"#;
    let (_, diags) = build(src, &[TargetKind::Compose]);
    let spans: Vec<&str> = diags
        .iter()
        .filter(|d| d.code.as_str() == "E0311" && d.message.contains("cannot contain `${"))
        .map(|d| pointed_at(src, d))
        .collect();
    assert_eq!(spans, ["\"${p}\"", "\"${p}.yml\""], "{:#?}", codes(&diags));
}

/// `stateful` with one replica is what a compose service with named volumes is: no warning
/// (the presets set it); with several, compose shares the volumes between them: W0501.
#[test]
fn stateful_warns_in_compose_only_when_replicas_would_share_its_volumes() {
    let src = |replicas: u32| {
        format!(
            "stack \"t\"\nvolume \"data\"\nservice \"db\" {{\n    image \"postgres:16\"\n    mount \"data\" \"/var/lib/postgresql/data\"\n    stateful #true\n    replicas {replicas}\n}}\n"
        )
    };
    let stateful = |diags: &[Diagnostic]| diags.iter().filter(|d| d.message.contains("`stateful`")).count();
    let (_, one) = build(&src(1), &[TargetKind::Compose]);
    no_errors(&one);
    assert_eq!(stateful(&one), 0, "{one:?}");
    let (_, two) = build(&src(2), &[TargetKind::Compose]);
    assert_eq!(stateful(&two), 1, "{two:?}");
    assert!(find(&two, "W0501", "`stateful`").message.contains("2 replicas share its named volumes"));
}
