//! Issue 12, compose depth: variables whose absence stays absence, devices and privileges,
//! health check `start-interval` and `image-health`, DNS aliases. Each is written by compose
//! and mapped or reported (W0501 at the setting) by Kubernetes; the compose files pass the
//! compose spec schema and Docker Compose v2.

use std::process::Command;

use stackc::diagnostics::{Code, Diagnostic};
use stackc::emit::{EmitOptions, OutputFile};
use stackc::Options;

mod support;
use support::{file, require_compose_v2, service_block, validate_compose};

fn build(text: &str) -> (Vec<OutputFile>, Vec<Diagnostic>) {
    let built = stackc::build("app.stack.kdl", text, &Options::default(), &EmitOptions::default());
    (built.files, built.outcome.diagnostics)
}

// ---------------------------------------------------------------------------------------
// Pass-through variables: an optional param without a default stays unset when unset.

const PASS_THROUGH: &str = r#"stack "pass"
param "sentry-dsn" env="SENTRY_DSN" optional=#true
param "token" env="TOKEN" optional=#true
param "region" env="REGION" default="eu"
service "api" {
    image "ghcr.io/example/api:1.0"
    env SENTRY_DSN="${sentry-dsn}" API_TOKEN="${token}" REGION="${region}" MODE="prod"
}
"#;

#[test]
fn an_optional_variable_under_its_own_name_is_passed_through() {
    let (files, diags) = build(PASS_THROUGH);
    assert!(!diags.iter().any(Diagnostic::is_error), "{diags:#?}");
    let api = service_block(file(&files, "docker-compose.yml"), "api");
    // `SENTRY_DSN:` without a value; a default keeps the interpolation.
    assert!(
        api.contains(
            "environment:\n  SENTRY_DSN: null\n  API_TOKEN: ${TOKEN:-}\n  REGION: ${REGION:-eu}\n  MODE: prod"
        ),
        "{api}"
    );
}

#[test]
fn an_optional_variable_under_another_name_is_reported_at_its_env_entry() {
    let (_, diags) = build(PASS_THROUGH);
    let w: Vec<&Diagnostic> = diags.iter().filter(|d| d.message.contains("cannot leave")).collect();
    assert_eq!(w.len(), 1, "{diags:#?}");
    assert_eq!(w[0].code, Code::TargetApproximation);
    assert_eq!(
        w[0].message,
        "service `api`: compose sets `API_TOKEN` to an empty string when `TOKEN` is unset; it cannot leave `API_TOKEN` unset"
    );
    let at = w[0].primary.as_ref().unwrap().span;
    assert!(PASS_THROUGH[at.offset..].starts_with("API_TOKEN="), "{:?}", &PASS_THROUGH[at.offset..]);
}

/// What the container of `service` gets from Docker Compose v2 with `env` as the deploy
/// environment (`config --format json`): `None` for a variable it does not set.
fn container_env(compose: &str, service: &str, env: &[(&str, &str)]) -> Option<serde_json::Value> {
    let dc = require_compose_v2()?;
    let dir = std::env::temp_dir().join(format!("stackc-pass-through-{}-{}", std::process::id(), env.len()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("docker-compose.yml"), compose).unwrap();
    let out = Command::new(dc)
        .args(["-f", "docker-compose.yml", "config", "--format", "json"])
        .current_dir(&dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("run docker-compose");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    Some(config["services"][service]["environment"].clone())
}

#[test]
fn docker_compose_leaves_an_unset_pass_through_variable_unset() {
    let (files, _) = build(PASS_THROUGH);
    let compose = file(&files, "docker-compose.yml");
    let Some(unset) = container_env(compose, "api", &[]) else { return };
    // `null`: compose gives the container no `SENTRY_DSN` at all (an empty string would be `""`).
    assert_eq!(unset["SENTRY_DSN"], serde_json::Value::Null, "{unset}");
    assert_eq!(unset["API_TOKEN"], "", "{unset}");
    assert_eq!(unset["REGION"], "eu", "{unset}");
    let set = container_env(compose, "api", &[("SENTRY_DSN", "https://k@sentry.example/1")]).unwrap();
    assert_eq!(set["SENTRY_DSN"], "https://k@sentry.example/1", "{set}");
    validate_compose("pass-through", compose, &[], Vec::new());
}

#[test]
fn kubernetes_reads_an_optional_param_from_an_optional_key_written_only_when_set() {
    let (files, _) = build(PASS_THROUGH);
    let deployment = file(&files, "k8s/deployment-api.yaml");
    for (var, key) in [("SENTRY_DSN", "SENTRY_DSN"), ("API_TOKEN", "TOKEN")] {
        let want = format!(
            "- name: {var}\n          valueFrom:\n            configMapKeyRef:\n              name: pass-params\n              key: {key}\n              optional: true\n"
        );
        assert!(deployment.contains(&want), "{want}\n{deployment}");
    }
    let script = file(&files, "k8s/create-secrets.sh");
    assert!(
        script.contains(
            "if [ -n \"${SENTRY_DSN+set}\" ]; then printf '%s' \"$SENTRY_DSN\" >\"$tmp/params/SENTRY_DSN\"; fi\n"
        ),
        "{script}"
    );
    // Commented out in `.env.example`: an uncommented `SENTRY_DSN=` would set it, empty.
    assert!(file(&files, ".env.example").contains("(optional, unset unless set)\n#SENTRY_DSN=\n"));
}

#[test]
fn an_optional_param_has_an_env_and_neither_a_default_nor_required() {
    let errors = |param: &str| -> Vec<(Code, String)> {
        let text = format!("stack \"p\"\n{param}\nservice \"a\" {{\n    image \"busybox:1.36\"\n}}\n");
        build(&text).1.into_iter().filter(Diagnostic::is_error).map(|d| (d.code, d.message)).collect()
    };
    assert_eq!(errors(r#"param "x" env="X" optional=#true"#), []);
    assert_eq!(
        errors(r#"param "x" optional=#true"#),
        [(Code::MissingRequired, "param `x` is optional but has no `env=`".to_string())]
    );
    assert_eq!(
        errors(r#"param "x" env="X" optional=#true default="a""#),
        [(Code::Conflicting, "param `x` is optional and has `default=`".to_string())]
    );
    assert_eq!(
        errors(r#"param "x" env="X" optional=#true required=#true"#),
        [(Code::Conflicting, "param `x` is optional and has `required=`".to_string())]
    );
}
