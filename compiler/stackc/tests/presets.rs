//! The presets in `stdlib/presets/` (embedded in stackc): each is one template named like its
//! file plus the volumes and secrets it refers to, checks cleanly, and a service that uses it
//! gets its image, port, health check, data volume and secrets by reference, runs as a
//! StatefulSet on Kubernetes, is found by the exporters and backups, and passes the compose
//! spec schema and Docker Compose v2 `config -q`. The stack's own declarations win.

use stackc::diagnostics::{render_human, Diagnostics, RenderOptions, Severity};
use stackc::emit::{EmitOptions, OutputFile};
use stackc::lower::presets::PRESETS;
use stackc::source::SourceMap;
use stackc::Options;

mod support;
use support::{file, service_block, validate_compose};

fn build(text: &str) -> (Vec<OutputFile>, Vec<stackc::diagnostics::Diagnostic>) {
    let built = stackc::build("app.stack.kdl", text, &Options::default(), &EmitOptions::default());
    (built.files, built.outcome.diagnostics)
}

fn build_ok(text: &str) -> Vec<OutputFile> {
    let (files, diags) = build(text);
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| format!("{} {}", d.code.as_str(), d.message))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    files
}

#[test]
fn each_preset_is_one_template_of_its_name_with_the_declarations_it_needs() {
    for (name, text) in PRESETS {
        let mut sources = SourceMap::new();
        let id = sources.add(format!("{name}.kdl"), *text);
        let (doc, parse) = stackc::syntax::parse(id, text);
        assert!(parse.is_empty(), "{name}: {parse:?}");
        let doc = doc.unwrap();
        let mut diags = Diagnostics::new();
        stackc::validate::shape(&doc.nodes, &mut diags);
        assert!(diags.is_empty(), "{name}: {:?}", diags.iter().collect::<Vec<_>>());
        let templates: Vec<Option<&str>> =
            doc.nodes.iter().filter(|n| n.name.name == "template").map(|n| n.arg_str(0)).collect();
        assert_eq!(templates, [Some(*name)], "{name}");
        for n in doc.nodes.iter().filter(|n| n.name.name != "template") {
            assert!(["volume", "secret"].contains(&n.name.name.as_str()), "{name}: `{}` in a preset", n.name.name);
        }
    }
}

const ALL: &str = r#"stack "presets"
service "db" {
    use "postgres"
    env POSTGRES_DB="shop"
}
service "cache" {
    use "redis"
}
service "sql" {
    use "mariadb"
}
service "files" {
    use "minio"
}
monitoring {
    exporters "postgres" "redis"
}
backup "db" service="db" schedule="0 3 * * *" to="/var/backups/db" retain="7d"
"#;

#[test]
fn services_get_what_their_preset_sets() {
    let files = build_ok(ALL);
    let compose = file(&files, "docker-compose.yml");
    let db = service_block(compose, "db");
    for want in [
        "image: postgres:16.4-alpine",
        "POSTGRES_DB: shop",
        "POSTGRES_USER: app",
        "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?secret postgres-password must be set}",
        "- postgres-data:/var/lib/postgresql/data",
        "- pg_isready -h 127.0.0.1 -U $$POSTGRES_USER -d $$POSTGRES_DB",
        "- \"5432\"",
    ] {
        assert!(db.contains(want), "{want}:\n{db}");
    }
    let cache = service_block(compose, "cache");
    assert!(cache.contains("REDISCLI_AUTH: ${REDIS_PASSWORD:?secret redis-password must be set}"), "{cache}");
    assert!(cache.contains("--requirepass \"$$REDIS_PASSWORD\""), "{cache}");
    // Through the image's entrypoint, which drops root for the `redis` user.
    assert!(cache.contains("exec docker-entrypoint.sh redis-server --appendonly yes"), "{cache}");
    assert!(service_block(compose, "sql").contains("- healthcheck.sh --connect --innodb_initialized"));
    assert!(service_block(compose, "files").contains("- mc ready local"));
    for v in ["postgres-data:", "redis-data:", "mariadb-data:", "minio-data:"] {
        assert!(compose.lines().any(|l| l.trim() == format!("{v} {{}}")), "volume {v}\n{compose}");
    }
    // The exporters find the database by its image and read its password by reference.
    let exporter = service_block(compose, "postgres-exporter");
    assert!(exporter.contains("DATA_SOURCE_URI: db:5432/shop?sslmode=disable"), "{exporter}");
    assert!(
        exporter.contains("DATA_SOURCE_PASS: ${POSTGRES_PASSWORD:?secret postgres-password must be set}"),
        "{exporter}"
    );
    assert!(service_block(compose, "redis-exporter").contains("REDIS_ADDR: redis://cache:6379"));
    // The backup dumps it as postgres.
    assert!(files.iter().any(|f| f.path == "backup/db.sh"), "{:?}", files.iter().map(|f| &f.path).collect::<Vec<_>>());
    // Kubernetes: a StatefulSet per preset service.
    for s in ["db", "cache", "sql", "files"] {
        let set = file(&files, &format!("k8s/statefulset-{s}.yaml"));
        assert!(set.contains("kind: StatefulSet"), "{set}");
    }
    let env = file(&files, ".env.example");
    for var in
        ["POSTGRES_PASSWORD=", "REDIS_PASSWORD=", "MARIADB_PASSWORD=", "MARIADB_ROOT_PASSWORD=", "MINIO_ROOT_PASSWORD="]
    {
        assert!(env.lines().any(|l| l == var), "{var} in:\n{env}");
    }
}

#[test]
fn the_stacks_own_declarations_and_templates_win() {
    let text = format!(
        "{ALL}secret \"postgres-password\" file=\"secrets/pg.txt\"\ntemplate \"redis\" {{\n    image \"valkey/valkey:8.0\"\n    health cmd=\"valkey-cli ping\"\n}}\n"
    );
    let files = build_ok(&text);
    let compose = file(&files, "docker-compose.yml");
    let db = service_block(compose, "db");
    assert!(db.contains("POSTGRES_PASSWORD_FILE: /run/secrets/postgres-password"), "{db}");
    let cache = service_block(compose, "cache");
    assert!(cache.contains("image: valkey/valkey:8.0") && !cache.contains("redis-data"), "{cache}");
    assert!(!compose.contains("redis-data"), "the redis preset is not used: {compose}");
}

#[test]
fn a_diagnostic_in_a_preset_points_at_the_preset_and_the_use_line() {
    // Two replicas of the preset's `stateful` service would share its volumes in compose:
    // the warning is at the preset's `stateful`.
    let src = ALL.replacen("    use \"postgres\"\n", "    use \"postgres\"\n    replicas 2\n", 1);
    assert_ne!(src, ALL);
    let built = stackc::build("app.stack.kdl", &src, &Options::default(), &EmitOptions::default());
    let diags = &built.outcome.diagnostics;
    let stateful = diags
        .iter()
        .find(|d| d.message.starts_with("`stateful` of `db`: compose's 2 replicas share its named volumes"))
        .expect("W0501");
    let use_label = stateful.labels.iter().find(|l| l.text == "service `db` uses template `postgres` here");
    assert!(use_label.is_some(), "{stateful:#?}");
    assert_ne!(stateful.primary.as_ref().unwrap().span.source, use_label.unwrap().span.source);
    // The report shows the preset's line, and names the `use` line of the stack under it.
    let report = render_human(stateful, &built.outcome.sources, RenderOptions::default());
    assert!(report.contains("stdlib/presets/postgres.kdl:"), "{report}");
    assert!(report.contains("note: service `db` uses template `postgres` here (app.stack.kdl:3:9)"), "{report}");
}

#[test]
fn preset_compose_files_pass_the_schema_and_docker_compose_v2() {
    let files = build_ok(ALL);
    let env =
        ["POSTGRES_PASSWORD", "REDIS_PASSWORD", "MARIADB_PASSWORD", "MARIADB_ROOT_PASSWORD", "MINIO_ROOT_PASSWORD"]
            .iter()
            .map(|v| (v.to_string(), "placeholder".to_string()))
            .collect();
    validate_compose("presets", file(&files, "docker-compose.yml"), &[], env);
}

// ---------------------------------------------------------------------------------------
// loki, promtail, certbot: `tests/presets/logs.stack.kdl`, its compose file snapshotted.

fn logs_fixture() -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/presets/logs.stack.kdl"))
        .expect("the logs fixture")
}

#[test]
fn loki_and_promtail_ship_the_containers_logs_and_grafana_reads_them() {
    let files = build_ok(&logs_fixture());
    let compose = file(&files, "docker-compose.yml");
    insta::assert_snapshot!("logs_compose", compose);
    let loki = service_block(compose, "loki");
    for want in [
        "image: grafana/loki:3.3.2",
        "- \"3100\"",
        "- loki-data:/loki",
        "- wget -q -O /dev/null http://127.0.0.1:3100/ready || exit 1",
        "start_period: 30s",
    ] {
        assert!(loki.contains(want), "{want}:\n{loki}");
    }
    let promtail = service_block(compose, "promtail");
    for want in [
        "image: grafana/promtail:3.3.2",
        "LOKI_URL: http://loki:3100",
        "- /var/run/docker.sock:/var/run/docker.sock:ro",
        "- /var/lib/promtail:/var/lib/promtail",
        "read_only: true",
        "tmpfs:\n- /tmp",
        "mode: global",
        // Compose leaves `${LOKI_URL}` to the container; promtail expands it in its config.
        "url: $${LOKI_URL}/loki/api/v1/push",
        "docker_sd_configs:",
        "__meta_docker_container_label_com_docker_compose_service]\\n        target_label: service",
        "exec /usr/bin/promtail -config.file=/tmp/promtail.yml -config.expand-env=true",
    ] {
        assert!(promtail.contains(want), "{want}:\n{promtail}");
    }
    // Prometheus scrapes both; Grafana gets Loki as a datasource.
    let prometheus = file(&files, "prometheus/prometheus.yml");
    for job in [
        "- job_name: loki\n  static_configs:\n  - targets:\n    - loki:3100",
        "- job_name: promtail\n  static_configs:\n  - targets:\n    - promtail:9080",
    ] {
        assert!(prometheus.contains(job), "{job}:\n{prometheus}");
    }
    let sources = file(&files, "grafana/provisioning/datasources/stack.yaml");
    assert!(
        sources.contains("- name: Loki\n  type: loki\n  uid: loki\n  access: proxy\n  url: http://loki:3100"),
        "{sources}"
    );
    // Kubernetes: Loki keeps its claim in a StatefulSet, Promtail reads every node.
    assert!(file(&files, "k8s/statefulset-loki.yaml").contains("kind: StatefulSet"));
    let daemon = file(&files, "k8s/daemonset-promtail.yaml");
    assert!(daemon.contains("hostPath:\n          path: /var/run/docker.sock"), "{daemon}");
    assert!(daemon.contains("hostPath:\n          path: /var/lib/promtail"), "{daemon}");
    assert!(daemon.contains("readOnlyRootFilesystem: true"), "{daemon}");
}

#[test]
fn the_certbot_preset_is_the_certbot_compose_generates_for_nginx() {
    let files = build_ok(&logs_fixture());
    let compose = file(&files, "docker-compose.yml");
    let own = service_block(compose, "certbot");
    // The same stack name and network as the fixture, with stackc's nginx and Let's Encrypt.
    let proxied = build_ok(
        "stack \"logs\"\nservice \"web\" {\n    image \"ghcr.io/acme/web:1.0\"\n    port 3000\n    health http=\"/\"\n}\n\
         proxy {\n    tls email=\"ops@example.com\"\n}\nsite \"example.com\" {\n    route \"/\" to=\"web\"\n}\n\
         targets {\n    compose\n    nginx\n}\n",
    );
    let generated = service_block(file(&proxied, "docker-compose.yml"), "certbot");
    assert_eq!(own, generated);
    for want in
        ["image: certbot/certbot:v2.11.0", "- certbot-webroot:/var/www/certbot", "- letsencrypt:/etc/letsencrypt"]
    {
        assert!(own.contains(want), "{want}:\n{own}");
    }
    // Kubernetes leaves certbot out (cert-manager renews there), with the claims only it used.
    let built = stackc::build(
        "logs.stack.kdl",
        &logs_fixture().replace("    mount \"certbot-webroot\" \"/var/www/certbot\" read-only=#true\n", ""),
        &Options::default(),
        &EmitOptions::default(),
    );
    let paths: Vec<&str> = built.files.iter().map(|f| f.path.as_str()).filter(|p| p.starts_with("k8s/")).collect();
    assert!(!paths.iter().any(|p| p.contains("certbot-webroot") || p.ends_with("-certbot.yaml")), "{paths:?}");
    assert!(paths.contains(&"k8s/persistentvolumeclaim-letsencrypt.yaml"), "nginx still reads it: {paths:?}");
    let left_out: Vec<&str> = built
        .outcome
        .diagnostics
        .iter()
        .filter(|d| d.code.as_str() == "W0501" && d.message.contains("certbot"))
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(left_out, ["service `certbot` runs certbot, which the k8s target leaves out"]);
}

#[test]
fn a_certbot_preset_beside_the_generated_certbot_is_one_error() {
    let text = "stack \"shop\"\nservice \"web\" {\n    image \"ghcr.io/acme/web:1.0\"\n    port 3000\n    health http=\"/\"\n}\n\
                service \"renew\" {\n    use \"certbot\"\n}\nsite \"example.com\" {\n    route \"/\" to=\"web\"\n}\n\
                targets {\n    compose\n    nginx\n}\n";
    let (_, diags) = build(text);
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| format!("{} {}", d.code.as_str(), d.message))
        .collect();
    assert_eq!(
        errors,
        ["E0501 service `renew` runs certbot beside the `certbot` that compose generates for the sites"]
    );
}

#[test]
fn logs_presets_compose_file_passes_the_schema_and_docker_compose_v2() {
    let files = build_ok(&logs_fixture());
    let env = vec![("GRAFANA_ADMIN_PASSWORD".to_string(), "placeholder".to_string())];
    validate_compose("presets-logs", file(&files, "docker-compose.yml"), &[], env);
}
