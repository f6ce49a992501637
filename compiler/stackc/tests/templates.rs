//! Templates (`template "name" { … }`, `use "name"`): a stack that uses them builds to the
//! same files as the stack written out by hand, overrides and removals included; overlays
//! and `defaults` combine with them in the documented order; and a diagnostic about a
//! setting inside a template labels the `use` lines. (The compose files of a stack with a
//! template also go through the validators: `examples/cashstage.stack.kdl` uses one.)

use stackc::diagnostics::{Code, Diagnostic};
use stackc::emit::{EmitOptions, OutputFile};
use stackc::Options;

mod support;
use support::{file, service_block};

fn build_env(text: &str, env: Option<&str>) -> (Vec<OutputFile>, Vec<Diagnostic>) {
    let opts = Options { env: env.map(str::to_string), ..Options::default() };
    let built = stackc::build("app.stack.kdl", text, &opts, &EmitOptions::default());
    let errors: Vec<String> =
        built.outcome.diagnostics.iter().filter(|d| d.is_error()).map(|d| format!("{d:?}")).collect();
    assert_eq!(built.files.is_empty(), !errors.is_empty(), "errors without files or files with errors: {errors:?}");
    (built.files, built.outcome.diagnostics)
}

fn build_ok(text: &str, env: Option<&str>) -> Vec<OutputFile> {
    let (files, diags) = build_env(text, env);
    let errors: Vec<&Diagnostic> = diags.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    files
}

const COMMON: &str = r#"
stack "tpl"
secret "db-password" env="DB_PASSWORD"
volume "pg-data"
volume "cache"
service "postgres" {
    image "postgres:16-alpine"
    port 5432
    env POSTGRES_PASSWORD=(secret)"db-password"
    mount "pg-data" "/var/lib/postgresql/data"
    health cmd="pg_isready" interval="10s"
}
"#;

const TEMPLATED: &str = r#"
template "worker" {
    image "ghcr.io/acme/worker:1.0"
    restart "unless-stopped"
    env LOG_LEVEL="info" DB_PASSWORD=(secret)"db-password"
    depends-on "postgres" healthy=#true
    health cmd="pgrep worker" interval="30s"
    mount "cache" "/var/cache/worker"
    resources cpus=0.5 memory="256M"
    readiness cmd="test -f /tmp/ready"
}

template "queue-worker" {
    use "worker"
    env QUEUE="default"
    labels team="jobs"
}

service "mailer" {
    use "queue-worker"
    env QUEUE="mail" LOG_LEVEL=#null
    health #null
    mount "cache" "/srv/cache"
}

service "reports" {
    use "worker"
    image "ghcr.io/acme/reports:2.0"
    replicas 2
    resources cpus=1
}
"#;

/// What `TEMPLATED` means, written out: each service's own settings replace the
/// templates' (`image`, `resources` whole), `env` merges key by key, keyed nodes (`mount`
/// by target) are added, and `#null` removes.
const WRITTEN_OUT: &str = r#"
service "mailer" {
    image "ghcr.io/acme/worker:1.0"
    restart "unless-stopped"
    env DB_PASSWORD=(secret)"db-password"
    depends-on "postgres" healthy=#true
    mount "cache" "/var/cache/worker"
    resources cpus=0.5 memory="256M"
    readiness cmd="test -f /tmp/ready"
    env QUEUE="mail"
    labels team="jobs"
    mount "cache" "/srv/cache"
}

service "reports" {
    image "ghcr.io/acme/reports:2.0"
    restart "unless-stopped"
    env LOG_LEVEL="info" DB_PASSWORD=(secret)"db-password"
    depends-on "postgres" healthy=#true
    health cmd="pgrep worker" interval="30s"
    mount "cache" "/var/cache/worker"
    resources cpus=1
    readiness cmd="test -f /tmp/ready"
    replicas 2
}
"#;

#[test]
fn a_templated_stack_builds_the_same_files_as_the_stack_written_out() {
    let templated = build_ok(&format!("{COMMON}{TEMPLATED}"), None);
    let written = build_ok(&format!("{COMMON}{WRITTEN_OUT}"), None);
    let paths = |fs: &[OutputFile]| fs.iter().map(|f| f.path.clone()).collect::<Vec<_>>();
    assert_eq!(paths(&templated), paths(&written));
    // Every target: compose, k8s, nginx, Caddy, UFW, Prometheus.
    assert!(templated.len() > 5, "{:?}", paths(&templated));
    for (a, b) in templated.iter().zip(&written) {
        assert_eq!(a.contents, b.contents, "{} differs", a.path);
    }
}

#[test]
fn services_get_the_templates_settings_with_their_own_over_them() {
    let files = build_ok(&format!("{COMMON}{TEMPLATED}"), None);
    let compose = file(&files, "docker-compose.yml");
    let mailer = service_block(compose, "mailer");
    assert!(mailer.contains("image: ghcr.io/acme/worker:1.0"), "{mailer}");
    assert!(mailer.contains("restart: unless-stopped"), "{mailer}");
    // The secret reaches the service through two templates, read from the deploy environment.
    assert!(mailer.contains("DB_PASSWORD: ${DB_PASSWORD:?secret db-password must be set}"), "{mailer}");
    assert!(mailer.contains("QUEUE: mail"), "the service's value wins: {mailer}");
    assert!(!mailer.contains("LOG_LEVEL"), "`LOG_LEVEL=#null` removes the template's key: {mailer}");
    assert!(!mailer.contains("healthcheck"), "`health #null` removes the template's check: {mailer}");
    assert!(mailer.contains("condition: service_healthy"), "{mailer}");
    assert!(mailer.contains("- cache:/var/cache/worker") && mailer.contains("- cache:/srv/cache"), "{mailer}");
    assert!(mailer.contains("team: jobs"), "{mailer}");
    let reports = service_block(compose, "reports");
    assert!(reports.contains("image: ghcr.io/acme/reports:2.0"), "{reports}");
    assert!(reports.contains("LOG_LEVEL: info") && !reports.contains("QUEUE"), "{reports}");
    assert!(reports.contains("- pgrep worker"), "{reports}");
    // `resources` appears once per service: the service's replaces the template's.
    assert!(reports.contains("cpus: \"1\"") || reports.contains("cpus: '1'"), "{reports}");
    assert!(!reports.contains("memory"), "{reports}");
    assert!(reports.contains("replicas: 2"), "{reports}");
}

#[test]
fn an_overlay_changes_a_template_for_every_service_that_uses_it() {
    let text = format!(
        "{COMMON}{TEMPLATED}\nenv \"staging\" {{\n    template \"worker\" {{\n        env LOG_LEVEL=\"debug\"\n    }}\n    service \"mailer\" {{\n        use \"worker\"\n    }}\n}}\n"
    );
    let base = build_ok(&text, None);
    let staging = build_ok(&text, Some("staging"));
    let reports = service_block(file(&staging, "docker-compose.yml"), "reports");
    assert!(reports.contains("LOG_LEVEL: debug"), "{reports}");
    // The overlay replaces mailer's `use`: it takes `worker` alone, no longer `queue-worker`.
    let mailer = service_block(file(&staging, "docker-compose.yml"), "mailer");
    assert!(!mailer.contains("QUEUE: default") && !mailer.contains("team: jobs"), "{mailer}");
    assert!(mailer.contains("QUEUE: mail"), "{mailer}");
    let base_reports = service_block(file(&base, "docker-compose.yml"), "reports");
    assert!(base_reports.contains("LOG_LEVEL: info"), "{base_reports}");
}

#[test]
fn defaults_fill_in_only_what_neither_service_nor_template_sets() {
    let text = format!("{COMMON}{TEMPLATED}\ndefaults {{\n    restart \"always\"\n    stop-grace-period \"45s\"\n}}\n");
    let files = build_ok(&text, None);
    let reports = service_block(file(&files, "docker-compose.yml"), "reports");
    assert!(reports.contains("restart: unless-stopped"), "the template's restart wins: {reports}");
    assert!(reports.contains("stop_grace_period: 45s"), "{reports}");
}

#[test]
fn a_build_in_a_template_is_completed_by_the_service() {
    let text = r#"
stack "tpl"
template "app" {
    build context="." target="production"
}
service "web" {
    use "app"
    build dockerfile="apps/web/Dockerfile"
    image "ghcr.io/acme/web:1.0"
    health cmd="true"
}
"#;
    let files = build_ok(text, None);
    let web = service_block(file(&files, "docker-compose.yml"), "web");
    for want in ["context: '.'", "dockerfile: apps/web/Dockerfile", "target: production"] {
        assert!(web.contains(want), "{want} missing: {web}");
    }
    // Without the template's context the merged `build` lacks it: an error on the merged stack.
    let (_, diags) = build_env(&text.replace("context=\".\" ", ""), None);
    assert!(diags.iter().any(|d| d.code == Code::MissingRequired && d.message.contains("context=")), "{diags:#?}");
}

#[test]
fn a_target_diagnostic_inside_a_template_labels_the_use_lines() {
    let text = format!("{COMMON}{TEMPLATED}");
    let (_, diags) = build_env(&text, None);
    // compose has no readiness probes: W0501 at the template's `readiness`, for each service.
    let readiness_at = text.find("readiness cmd").unwrap();
    let warnings: Vec<&Diagnostic> = diags
        .iter()
        .filter(|d| d.code == Code::TargetApproximation && d.message.starts_with("compose has no readiness"))
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    for (d, service) in warnings.iter().zip(["mailer", "reports"]) {
        assert_eq!(d.primary.as_ref().unwrap().span.offset, readiness_at, "{d:#?}");
        assert!(d.message.contains(&format!("`{service}`")), "{d:#?}");
        let labels: Vec<&str> = d.labels.iter().map(|l| l.text.as_str()).collect();
        let template = if service == "mailer" { "queue-worker" } else { "worker" };
        assert!(
            labels.contains(&format!("service `{service}` uses template `{template}` here").as_str()),
            "{labels:?}"
        );
        // Only the services the message is about.
        let other = if service == "mailer" { "reports" } else { "mailer" };
        assert!(!labels.iter().any(|l| l.contains(&format!("`{other}`"))), "{labels:?}");
        let use_at = d.labels.iter().find(|l| l.text.starts_with(&format!("service `{service}`"))).unwrap().span;
        assert_eq!(&text[use_at.offset..use_at.offset + use_at.len], format!("\"{template}\""));
    }
}

#[test]
fn unknown_and_self_using_templates_are_errors() {
    let (files, diags) = build_env(
        &format!("{COMMON}{}", TEMPLATED.replace("use \"worker\"\n    env QUEUE", "use \"wroker\"\n    env QUEUE")),
        None,
    );
    assert!(files.is_empty());
    let unknown = diags.iter().find(|d| d.code == Code::UnknownTemplate).expect("E0213");
    assert_eq!(unknown.message, "unknown template `wroker`");
    assert_eq!(unknown.help.as_deref(), Some("did you mean `worker`?"));

    let looped = TEMPLATED.replace("template \"worker\" {\n", "template \"worker\" {\n    use \"queue-worker\"\n");
    let (files, diags) = build_env(&format!("{COMMON}{looped}"), None);
    assert!(files.is_empty());
    let cycles: Vec<&Diagnostic> = diags.iter().filter(|d| d.code == Code::SelfReference).collect();
    assert_eq!(cycles.len(), 1, "one loop, one error: {cycles:#?}");
    assert!(
        cycles[0].message.contains("-> `queue-worker` ->") || cycles[0].message.contains("-> `worker` ->"),
        "{}",
        cycles[0].message
    );
}
