//! The monitoring services in the compose file: Prometheus, the exporters and Alertmanager
//! from their presets and the stack's blocks, the networks they join, how exporters reach
//! their databases, and the files they mount (only files stackc generates).
//! (The schema and docker-compose checks of the golden files are in `validators.rs`.)

use std::path::{Path, PathBuf};

use stackc::diagnostics::Diagnostic;
use stackc::emit::EmitOptions;
use stackc::ir::TargetKind;
use stackc::Options;

mod support;
use support::service_block;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn build(src: &str) -> (Vec<(String, String)>, Vec<Diagnostic>) {
    let emit =
        EmitOptions { targets: Some(vec![TargetKind::Compose, TargetKind::Prometheus]), ..EmitOptions::default() };
    let built = stackc::build("test.stack.kdl", src, &Options::default(), &emit);
    (built.files.into_iter().map(|f| (f.path, f.contents)).collect(), built.outcome.diagnostics)
}

fn compose(src: &str) -> (String, Vec<Diagnostic>) {
    let (files, diags) = build(src);
    let errors: Vec<String> =
        diags.iter().filter(|d| d.is_error()).map(|d| format!("{} {}", d.code.as_str(), d.message)).collect();
    assert!(errors.is_empty(), "unexpected errors: {errors:#?}");
    let text = files.into_iter().find(|(p, _)| p == "docker-compose.yml").expect("a compose file").1;
    (text, diags)
}

fn warnings(diags: &[Diagnostic]) -> Vec<String> {
    diags.iter().filter(|d| !d.is_error()).map(|d| format!("{} {}", d.code.as_str(), d.message)).collect()
}

/// "The compose file must be runnable as it stands": every `./…` it mounts is a file or
/// directory that stackc wrote next to it (user paths are rebased to `../..`).
#[test]
fn every_generated_mount_of_a_golden_compose_file_exists() {
    let mut checked = 0;
    for dir in std::fs::read_dir(root().join("golden")).unwrap().flatten().map(|e| e.path()) {
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()) {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            if !text.lines().any(|l| l == "services:") {
                continue;
            }
            for line in text.lines() {
                let Some(src) = line.trim_start().strip_prefix("- ./") else { continue };
                let rel = src.split(':').next().unwrap();
                assert!(dir.join(rel).exists(), "{}: mounts ./{rel}, which is not generated", f.display());
                checked += 1;
            }
        }
    }
    // The proxies' configurations and, for every example with monitoring, ./prometheus.
    assert!(checked >= 20, "expected generated mounts in the golden compose files, found {checked}");
}

#[test]
fn presets_fill_what_the_blocks_leave_out() {
    let (c, _) = compose(
        r#"
volume "tsdb"
monitoring {
    prometheus retention="30d" retention-size="10GiB" {
        publish 9090 host="127.0.0.1"
        mount "tsdb" "/prometheus"
    }
    exporters "node" "cadvisor" "blackbox"
    exporter "node" {
        image "quay.io/prometheus/node-exporter:v1.9.0"
    }
}
targets { compose; prometheus; }
"#,
    );
    let p = service_block(&c, "prometheus");
    assert!(p.contains("image: prom/prometheus:v2.53.0"), "{p}");
    assert!(p.contains("- --config.file=/etc/prometheus/prometheus.yml"), "{p}");
    assert!(p.contains("- --storage.tsdb.retention.time=30d"), "{p}");
    assert!(p.contains("- --storage.tsdb.retention.size=10GB"), "{p}");
    assert!(p.contains("- ./prometheus:/etc/prometheus:ro") && p.contains("- tsdb:/prometheus"), "{p}");
    // The user's own data volume replaces the generated one.
    assert!(!c.contains("prometheus-data"), "{c}");
    assert!(p.contains("- 127.0.0.1:9090:9090"), "{p}");
    assert!(p.contains("wget -q --spider http://127.0.0.1:9090/-/healthy"), "{p}");
    let n = service_block(&c, "node-exporter");
    assert!(n.contains("image: quay.io/prometheus/node-exporter:v1.9.0"), "{n}");
    assert!(n.contains("- --path.rootfs=/host") && n.contains("pid: host"), "{n}");
    assert!(n.contains("target: /host") && n.contains("propagation: rslave"), "{n}");
    assert!(!n.contains("ports:"), "nothing is published unless the stack says so: {n}");
    let ca = service_block(&c, "cadvisor-exporter");
    assert!(ca.contains("- /var/lib/docker/:/var/lib/docker:ro") && ca.contains("- /dev/kmsg"), "{ca}");
    assert!(ca.contains("privileged: true"), "{ca}");
    let b = service_block(&c, "blackbox-exporter");
    assert!(b.contains("image: prom/blackbox-exporter:v0.25.0"), "{b}");
}

#[test]
fn monitoring_joins_the_networks_of_what_it_scrapes() {
    let (c, diags) = compose(
        r#"
network "front"
network "data" internal=#true
network "ops"
service "api" {
    image "ghcr.io/acme/api:1.0.0"
    port 8080 name="http"
    metrics
    networks "front" "data"
}
service "db" {
    image "postgres:16-alpine"
    port 5432
    env POSTGRES_USER="shop" POSTGRES_DB="shop" POSTGRES_PASSWORD="not-a-secret-here"
    networks "data"
}
service "grafana" {
    image "grafana/grafana:11.1.0"
    depends-on "prometheus"
    networks "ops"
}
monitoring {
    exporters "postgres" "node"
}
targets { compose; prometheus; }
"#,
    );
    let p = service_block(&c, "prometheus");
    assert!(p.contains("networks:\n- front\n- data\n"), "Prometheus reaches api and the exporter: {p}");
    let pg = service_block(&c, "postgres-exporter");
    assert!(pg.contains("networks:\n- data"), "the exporter sits next to its database: {pg}");
    let node = service_block(&c, "node-exporter");
    assert!(node.contains("networks:\n- front\n- data"), "{node}");
    // A dependency on a generated service is kept.
    let g = service_block(&c, "grafana");
    assert!(g.contains("depends_on:\n  prometheus:\n    condition: service_started"), "{g}");
    assert!(warnings(&diags).iter().all(|w| !w.contains("does not run")), "{:#?}", warnings(&diags));

    // Prometheus placed by the user on a network the api is not on: a warning, not silence.
    let (_, diags) = compose(
        r#"
network "front"
network "ops"
service "api" {
    image "ghcr.io/acme/api:1.0.0"
    port 8080 name="http"
    metrics
    networks "front"
}
monitoring {
    prometheus { networks "ops"; }
}
targets { compose; prometheus; }
"#,
    );
    let w = warnings(&diags);
    assert!(w.iter().any(|w| w.contains("Prometheus cannot reach `api`")), "{w:#?}");
}

#[test]
fn exporters_find_their_database() {
    let (c, diags) = compose(
        r#"
secret "pg" file="./pg.txt"
secret "redis-pass" env="REDIS_PASSWORD"
service "pg" {
    image "postgres:16"
    port 5433
    env POSTGRES_USER="app" POSTGRES_DB="${db}" POSTGRES_PASSWORD=(secret)"pg"
}
service "cache" {
    image "redis:7-alpine"
    port 6379
    env REDIS_PASSWORD=(secret)"redis-pass"
}
param "db" default="shop" env="DB_NAME"
monitoring {
    exporters "postgres" "redis"
}
targets { compose; prometheus; }
"#,
    );
    let pg = service_block(&c, "postgres-exporter");
    assert!(pg.contains("DATA_SOURCE_URI: pg:5433/${DB_NAME:-shop}?sslmode=disable"), "{pg}");
    assert!(pg.contains("DATA_SOURCE_USER: app"), "{pg}");
    // A file secret is mounted, not read into a variable.
    assert!(pg.contains("DATA_SOURCE_PASS_FILE: /run/secrets/pg") && pg.contains("- source: pg"), "{pg}");
    assert!(pg.contains("depends_on:\n  pg:"), "{pg}");
    let r = service_block(&c, "redis-exporter");
    assert!(r.contains("REDIS_ADDR: redis://cache:6379"), "{r}");
    assert!(r.contains("REDIS_PASSWORD: ${REDIS_PASSWORD:?secret redis-pass must be set}"), "{r}");
    assert!(warnings(&diags).iter().all(|w| !w.contains("exporter is not told")), "{:#?}", warnings(&diags));

    // Nothing to derive from: a warning that says what to set.
    let (_, diags) = compose(
        r#"
monitoring {
    exporters "postgres" "mysql"
}
targets { compose; prometheus; }
"#,
    );
    let w = warnings(&diags);
    assert!(w.iter().any(|w| w.contains("postgres exporter is not told where its server is")), "{w:#?}");
    assert!(w.iter().any(|w| w.contains("mysql exporter is not told")), "{w:#?}");
}

#[test]
fn alertmanager_reads_the_webhook_from_a_compose_secret() {
    let (c, _) = compose(
        r##"
secret "hook" env="SLACK_WEBHOOK_URL"
monitoring {
    notify "slack" webhook=(secret)"hook" channel="#ops"
}
targets { compose; prometheus; }
"##,
    );
    let a = service_block(&c, "alertmanager");
    assert!(a.contains("image: prom/alertmanager:v0.27.0"), "{a}");
    assert!(a.contains("- ./alertmanager:/etc/alertmanager:ro") && a.contains("- source: hook"), "{a}");
    assert!(c.contains("secrets:\n  hook:\n    environment: SLACK_WEBHOOK_URL"), "{c}");
    assert!(c.contains("  alertmanager-data: {}"), "{c}");
}

#[test]
fn without_the_prometheus_target_compose_runs_no_monitoring_and_says_so() {
    let src = r#"
service "grafana" {
    image "grafana/grafana:11.1.0"
    depends-on "prometheus"
}
monitoring {
    exporters "node"
}
targets { compose; }
"#;
    let emit = EmitOptions { targets: Some(vec![TargetKind::Compose]), ..EmitOptions::default() };
    let built = stackc::build("test.stack.kdl", src, &Options::default(), &emit);
    let c = &built.files.iter().find(|f| f.path == "docker-compose.yml").unwrap().contents;
    assert!(!c.contains("prometheus:") && !c.contains("node-exporter"), "{c}");
    let w = warnings(&built.outcome.diagnostics);
    assert!(w.iter().any(|w| w.contains("runs no monitoring services")), "{w:#?}");
    assert!(w.iter().any(|w| w.contains("compose does not run `prometheus`")), "{w:#?}");
}

#[test]
fn a_volume_named_like_the_generated_one_is_refused() {
    let (_, diags) = build(
        r#"
volume "prometheus-data"
service "x" {
    image "busybox:1.36"
    mount "prometheus-data" "/data"
}
monitoring { prometheus; }
targets { compose; prometheus; }
"#,
    );
    assert!(diags.iter().any(|d| d.is_error() && d.message.contains("volume `prometheus-data` clashes")), "{diags:#?}");
}

// ---------------------------------------------------------------------------------------
// Read-only roots of the generated monitoring and backup services.

#[test]
fn generated_monitoring_and_backup_services_run_with_a_read_only_root_unless_their_block_says_not() {
    let src = r#"
secret "pg" env="PG_PASSWORD"
service "pg" {
    image "postgres:16"
    port 5432
    env POSTGRES_PASSWORD=(secret)"pg"
    health cmd="pg_isready"
}
monitoring {
    exporters "node" "postgres" "cadvisor"
    exporter "postgres" {
        read-only #false
    }
}
backup "pg" service="pg" schedule="0 3 * * *" to="/var/backups/pg" retain="7d"
targets { compose; prometheus; }
"#;
    let (c, _) = compose(src);
    for name in ["prometheus", "node-exporter"] {
        let block = service_block(&c, name);
        assert!(block.contains("read_only: true"), "{name}:\n{block}");
        assert!(!block.contains("tmpfs:"), "{name} writes only to its volumes:\n{block}");
    }
    // The block's `read-only #false` is kept (and written, so nothing makes it read-only).
    assert!(service_block(&c, "postgres-exporter").contains("read_only: false"), "{c}");
    // cAdvisor is privileged: its root stays writable.
    assert!(!service_block(&c, "cadvisor-exporter").contains("read_only"), "{c}");
    // The backup's steps write to the backup directory and /tmp only.
    let dump = service_block(&c, "backup-pg-dump");
    assert!(dump.contains("read_only: true") && dump.contains("tmpfs:\n- /tmp"), "{dump}");
    // The stack's own service is as the stack says.
    assert!(!service_block(&c, "pg").contains("read_only"), "{c}");
}
