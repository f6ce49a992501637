//! Service settings of compose's model that the language gained for issue 12: `profiles`,
//! `pull-policy`, `stop-signal`, `container-name`, `sysctl`, `group-add`, `env-file`. Compose writes each;
//! Kubernetes maps `pull-policy` and reports the others (W0501 at the setting); compose
//! refuses the container names it cannot run (E0501).

use stackc::diagnostics::{Code, Diagnostic};
use stackc::emit::{EmitOptions, OutputFile};
use stackc::Options;

mod support;
use support::{file, service_block, validate_compose};

fn build(text: &str) -> (Vec<OutputFile>, Vec<Diagnostic>) {
    let built = stackc::build("app.stack.kdl", text, &Options::default(), &EmitOptions::default());
    (built.files, built.outcome.diagnostics)
}

const STACK: &str = r#"stack "settings"
param "stop-signal" default="SIGINT"
param "backlog" default="1024" env="BACKLOG"
service "db" {
    image "postgres:16.4-alpine"
    health cmd="pg_isready"
    container-name "app_db"
    stop-signal "${stop-signal}"
    sysctl "net.core.somaxconn" "${backlog}"
    sysctl "net.ipv4.tcp_keepalive_time" 600
    group-add "video" "44"
    pull-policy "missing"
    env-file "./db.env"
    env-file "./local.env" required=#false
}
service "debug" {
    image "busybox:1.36"
    profiles "debug" "tools"
    pull-policy "build"
    build context="./debug"
    command "sleep" "infinity"
    health cmd="true"
}
"#;

#[test]
fn compose_writes_each_setting() {
    let (files, diags) = build(STACK);
    assert!(!diags.iter().any(Diagnostic::is_error), "{diags:#?}");
    let compose = file(&files, "docker-compose.yml");
    let db = service_block(compose, "db");
    for want in [
        "stop_signal: SIGINT",
        "container_name: app_db",
        "pull_policy: missing",
        // Params render as everywhere: a compile-time default, or read at deploy time.
        "sysctls:\n  net.core.somaxconn: ${BACKLOG:-1024}\n  net.ipv4.tcp_keepalive_time: \"600\"",
        "group_add:\n- video\n- \"44\"",
        // Relative to the output directory (`build/<stem>` by default): never read, never copied.
        "env_file:\n- ./db.env\n- path: ./local.env\n  required: false",
    ] {
        assert!(db.contains(want), "{want}:\n{db}");
    }
    let debug = service_block(compose, "debug");
    assert!(debug.contains("profiles:\n- debug\n- tools"), "{debug}");
    assert!(debug.contains("pull_policy: build"), "{debug}");
}

#[test]
fn kubernetes_maps_the_pull_policy_and_reports_the_rest_at_the_setting() {
    let (files, diags) = build(STACK);
    assert!(file(&files, "k8s/deployment-db.yaml").contains("imagePullPolicy: IfNotPresent"));
    assert!(!file(&files, "k8s/deployment-debug.yaml").contains("imagePullPolicy"));
    for (setting, service) in [
        ("container-name", "db"),
        ("stop-signal", "db"),
        ("sysctl", "db"),
        ("group-add", "db"),
        ("profiles", "debug"),
        ("pull-policy", "debug"),
        ("env-file", "db"),
    ] {
        let d = diags
            .iter()
            .find(|d| {
                d.message
                    == format!("service `{service}`: `{setting}` has no Kubernetes setting here; it is not expressed")
            })
            .unwrap_or_else(|| panic!("no W0501 for {setting}: {diags:#?}"));
        assert_eq!(d.code, Code::TargetApproximation);
        let at = d.primary.as_ref().unwrap().span;
        assert!(STACK[at.offset..].starts_with(setting), "{setting}: {:?}", &STACK[at.offset..at.offset + at.len]);
    }
}

#[test]
fn compose_refuses_container_names_it_cannot_run() {
    let errors = |text: &str| -> Vec<String> {
        build(text).1.into_iter().filter(|d| d.code == Code::TargetCannotExpress).map(|d| d.message).collect()
    };
    let replicas = STACK.replace("    container-name \"app_db\"\n", "    container-name \"app_db\"\n    replicas 2\n");
    assert_eq!(
        errors(&replicas),
        ["service `db` has `container-name` and 2 replicas: compose cannot name them all `app_db`"]
    );
    assert_eq!(errors(&STACK.replace("\"app_db\"", "\"_db\"")), ["`_db` is not a container name docker accepts"]);
    let twice = STACK.replace(
        "    profiles \"debug\" \"tools\"\n",
        "    profiles \"debug\" \"tools\"\n    container-name \"app_db\"\n",
    );
    assert_eq!(errors(&twice), ["services `db` and `debug` both take the container name `app_db`"]);
}

#[test]
fn the_compose_file_passes_the_schema_and_docker_compose_v2() {
    let (files, _) = build(STACK);
    // The required env file must exist for `config`; the optional one may be missing. The
    // build context is not read by `config`.
    let env_file = [("db.env", "POSTGRES_PASSWORD=x\n")];
    validate_compose("settings", file(&files, "docker-compose.yml"), &env_file, Vec::new());
}
