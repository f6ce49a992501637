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

// ---------------------------------------------------------------------------------------
// Devices and privileges, the image's health check, start-interval, DNS aliases.

const DEVICES: &str = r#"stack "devices"
service "zigbee" {
    image "koenkk/zigbee2mqtt:1.40.2"
    port 8080
    health http="/" start-period="2m" start-interval="5s" interval="30s"
    device "/dev/ttyUSB0" target="/dev/ttyACM0" permissions="rw"
    device "/dev/dri"
    device-cgroup-rule "c 189:* rmw"
    privileged #true
    alias "mqtt-bridge" "zigbee-legacy"
}
service "ml" {
    image "ghcr.io/example/ml:2.1"
    port 9000
    gpu "gpu" "utility" count=2
    image-health #false
}
service "render" {
    image "ghcr.io/example/render:1.0"
    gpu device-ids="0,1" driver="nvidia"
}
policy {
    allow "privileged-or-root" service="zigbee" reason="the coordinator stick needs raw USB access"
}
"#;

#[test]
fn compose_writes_devices_privileges_gpus_health_and_aliases() {
    let (files, diags) = build(DEVICES);
    assert!(!diags.iter().any(Diagnostic::is_error), "{diags:#?}");
    let compose = file(&files, "docker-compose.yml");
    let zigbee = service_block(compose, "zigbee");
    for want in [
        // The implicit network is the stack's name.
        "networks:\n  devices:\n    aliases:\n    - mqtt-bridge\n    - zigbee-legacy\n",
        "start_period: 2m\n  start_interval: 5s\n",
        "devices:\n- /dev/ttyUSB0:/dev/ttyACM0:rw\n- /dev/dri:/dev/dri\nprivileged: true\n",
        "device_cgroup_rules:\n- c 189:* rmw",
    ] {
        assert!(zigbee.contains(want), "{want}\n{zigbee}");
    }
    let ml = service_block(compose, "ml");
    // The image's HEALTHCHECK off; GPUs a device reservation.
    assert!(ml.contains("healthcheck:\n  disable: true\n"), "{ml}");
    assert!(
        ml.contains(
            "reservations:\n      devices:\n      - driver: nvidia\n        count: 2\n        capabilities:\n        - gpu\n        - utility\n"
        ),
        "{ml}"
    );
    let render = service_block(compose, "render");
    assert!(
        render.contains("- driver: nvidia\n        device_ids:\n        - \"0\"\n        - \"1\"\n        capabilities:\n        - gpu\n"),
        "{render}"
    );
}

#[test]
fn the_devices_compose_file_passes_the_schema_and_docker_compose_v2() {
    let (files, _) = build(DEVICES);
    validate_compose("devices", file(&files, "docker-compose.yml"), &[], Vec::new());
}

#[test]
fn kubernetes_maps_privileged_gpus_start_interval_and_aliases_and_reports_the_rest() {
    let (files, diags) = build(DEVICES);
    let zigbee = file(&files, "k8s/deployment-zigbee.yaml");
    assert!(zigbee.contains("privileged: true"), "{zigbee}");
    // The API server refuses a privileged container that may not escalate.
    assert!(!zigbee.contains("allowPrivilegeEscalation"), "{zigbee}");
    // The startup probe checks at `start-interval` for `start-period` (2m / 5s = 24) plus docker's 3 retries.
    let startup = &zigbee[zigbee.find("startupProbe:").expect("a startup probe")..];
    assert!(
        startup.contains(
            "periodSeconds: 5
"
        ) && startup.contains(
            "failureThreshold: 27
"
        ),
        "{startup}"
    );
    let ml = file(&files, "k8s/deployment-ml.yaml");
    assert!(
        ml.contains(
            "limits:
            nvidia.com/gpu: \"2\"
"
        ),
        "{ml}"
    );
    for alias in ["mqtt-bridge", "zigbee-legacy"] {
        let svc = file(&files, &format!("k8s/service-{alias}.yaml"));
        assert!(
            svc.contains(&format!(
                "  name: {alias}
"
            )),
            "{svc}"
        );
        assert!(
            svc.contains(
                "selector:
    app.kubernetes.io/name: zigbee
"
            ),
            "{svc}"
        );
        assert!(
            svc.contains(
                "port: 8080
"
            ),
            "{svc}"
        );
    }
    let reported = |setting: &str, service: &str| {
        diags.iter().find(|d| {
            d.code == Code::TargetApproximation
                && d.message.starts_with(&format!("service `{service}`"))
                && d.message.contains(setting)
        })
    };
    for (setting, service) in
        [("`device`", "zigbee"), ("`device-cgroup-rule`", "zigbee"), ("utility", "ml"), ("device-ids", "render")]
    {
        let d = reported(setting, service).unwrap_or_else(|| panic!("no W0501 for {setting}: {diags:#?}"));
        let at = d.primary.as_ref().unwrap().span;
        let node = setting.trim_matches('`');
        let node = if node == "utility" || node == "device-ids" { "gpu" } else { node };
        assert!(DEVICES[at.offset..].starts_with(node), "{setting}: {:?}", &DEVICES[at.offset..]);
    }
    // The lint names `privileged`, and the stack's policy allows it for this service only.
    let lint = build(&DEVICES.replace(" service=\"zigbee\"", " service=\"ml\"")).1;
    let w = lint.iter().find(|d| d.code == Code::PrivilegedOrRoot).expect("privileged-or-root");
    assert_eq!(w.message, "service `zigbee` is privileged");
    assert!(!diags.iter().any(|d| d.code == Code::PrivilegedOrRoot), "{diags:#?}");
}

#[test]
fn a_client_that_names_an_alias_may_connect_under_the_network_policies() {
    let stack = format!("{DEVICES}service \"bridge-client\" {{\n    image \"ghcr.io/example/client:1.0\"\n    env MQTT_HOST=\"mqtt-bridge\"\n}}\n");
    let (files, _) = build(&stack);
    let policy = file(&files, "k8s/networkpolicy-bridge-client.yaml");
    assert!(policy.contains("app.kubernetes.io/name: zigbee\n"), "{policy}");
}

#[test]
fn the_devices_and_pass_through_manifests_pass_kubernetes_validate() {
    kubernetes_validate("devices", DEVICES);
    kubernetes_validate("pass-through", PASS_THROUGH);
}

fn kubernetes_validate(label: &str, stack: &str) {
    let (files, _) = build(stack);
    let Some(kv) = support::require("k8s", "kubernetes-validate") else { return };
    let dir = std::env::temp_dir().join(format!("stackc-{label}-k8s-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut manifests = Vec::new();
    for f in files
        .iter()
        .filter(|f| f.path.starts_with("k8s/") && f.path.ends_with(".yaml") && !f.path.ends_with("kustomization.yaml"))
    {
        let p = dir.join(f.path.trim_start_matches("k8s/"));
        std::fs::write(&p, &f.contents).unwrap();
        manifests.push(p);
    }
    let out = Command::new(kv).args(["--strict", "-k", "1.30.0"]).args(&manifests).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && !text.contains("WARN"), "{text}");
    assert_eq!(text.matches(" passed for resource ").count(), manifests.len(), "{text}");
}

#[test]
fn the_new_settings_refuse_what_cannot_work() {
    let errors = |text: &str| -> Vec<(Code, String)> {
        build(text).1.into_iter().filter(Diagnostic::is_error).map(|d| (d.code, d.message)).collect()
    };
    let svc = |body: &str| {
        format!("stack \"e\"\nservice \"a\" {{\n    image \"busybox:1.36\"\n{body}}}\nservice \"b\" {{\n    image \"busybox:1.36\"\n    alias \"shared\"\n}}\n")
    };
    assert_eq!(
        errors(&svc("    health cmd=\"true\"\n    image-health #false\n")),
        [(Code::Conflicting, "service `a` turns its image's health check off and declares its own".into())]
    );
    assert_eq!(
        errors(&svc("    health cmd=\"true\" start-interval=\"5s\"\n")),
        [(Code::MissingRequired, "service `a`: `health start-interval=` has no `start-period=`".into())]
    );
    assert_eq!(
        errors(&svc("    alias \"b\" \"shared\"\n")),
        [
            (Code::DuplicateName, "service `a` has the alias `b`, which is a service's name".into()),
            (Code::DuplicateName, "services `a` and `b` both have the alias `shared`".into()),
        ]
    );
    assert_eq!(
        errors(&svc("    network-mode \"host\"\n    alias \"mine\"\n")),
        [(
            Code::TargetCannotExpress,
            "service `a` has DNS aliases on the host's network: compose has no network to give them on".into()
        )]
    );
    assert_eq!(
        errors(&svc("    gpu\n")).into_iter().map(|(c, _)| c).collect::<Vec<_>>(),
        [Code::MissingRequired],
        "`gpu` needs `count=` or `device-ids=`"
    );
}

// ---------------------------------------------------------------------------------------
// Names compose users keep: `app_db`, `api_server` as service, job and network names.

const SNAKE: &str = r#"stack "names"
network "app_net"
service "app_db" {
    image "postgres:16.4-alpine"
    port 5432
    networks "app_net"
    health cmd="pg_isready"
    env POSTGRES_PASSWORD="dev"
}
service "api_server" {
    image "ghcr.io/example/api:1.0"
    port 8080
    networks "app_net"
    depends-on "app_db" healthy=#true
    env DATABASE_HOST="app_db"
    health http="/health"
}
service "migrate_db" {
    image "ghcr.io/example/api:1.0"
    command "migrate"
    restart "no"
    networks "app_net"
    depends-on "app_db" healthy=#true
}
site "api.example.com" {
    route "/" to="api_server"
}
targets {
    compose
    nginx
}
"#;

#[test]
fn snake_case_service_job_and_network_names_are_kept_by_compose_and_the_proxy() {
    let (files, diags) = build(SNAKE);
    assert!(!diags.iter().any(Diagnostic::is_error), "{diags:#?}");
    let compose = file(&files, "docker-compose.yml");
    for key in ["\n  app_db:\n", "\n  api_server:\n", "\n  migrate_db:\n", "\nnetworks:\n  app_net: {}\n"] {
        assert!(compose.contains(key), "{key}\n{compose}");
    }
    assert!(service_block(compose, "api_server").contains("depends_on:\n  app_db:\n    condition: service_healthy"));
    let nginx = files.iter().find(|f| f.path.ends_with(".conf") && f.contents.contains("upstream")).expect("nginx");
    assert!(nginx.contents.contains("server api_server:8080"), "{}", nginx.contents);
    validate_compose("snake-names", compose, &[], Vec::new());
}

#[test]
fn kubernetes_refuses_snake_case_names_and_says_how_to_keep_them() {
    let with_k8s = SNAKE.replace("    nginx\n", "    nginx\n    k8s\n");
    let errors: Vec<(String, String)> = build(&with_k8s)
        .1
        .into_iter()
        .filter(|d| d.code == Code::TargetCannotExpress)
        .map(|d| (d.message, d.help.unwrap_or_default()))
        .collect();
    let messages: Vec<&str> = errors.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        messages,
        [
            "network `app_net`: Kubernetes names cannot contain `_`",
            "service `app_db`: Kubernetes names cannot contain `_`",
            "service `api_server`: Kubernetes names cannot contain `_`",
            "service `migrate_db`: Kubernetes names cannot contain `_`",
        ]
    );
    assert!(errors[1]
        .1
        .starts_with("name it `app-db` and keep `app_db` for compose's clients with `alias \"app_db\"`"));
    // The way out: a kebab-case name, and the old one as a compose alias (no Service in Kubernetes).
    let kept = r#"stack "names"
service "app-db" {
    image "postgres:16.4-alpine"
    port 5432
    alias "app_db"
    health cmd="pg_isready"
}
"#;
    let (files, diags) = build(kept);
    assert!(!diags.iter().any(Diagnostic::is_error), "{diags:#?}");
    assert!(service_block(file(&files, "docker-compose.yml"), "app-db").contains("aliases:\n    - app_db\n"));
    assert!(!files.iter().any(|f| f.path == "k8s/service-app_db.yaml"));
    assert!(diags.iter().any(|d| d.code == Code::TargetApproximation
        && d.message == "service `app-db`: the alias `app_db` is not a DNS label; Kubernetes gets no Service for it"));
}

#[test]
fn a_name_with_underscores_is_still_a_name() {
    let errors = |name: &str| -> Vec<Code> {
        let text = format!(
            "stack \"n\"\nservice \"{name}\" {{\n    image \"busybox:1.36\"\n}}\ntargets {{\n    compose\n}}\n"
        );
        build(&text).1.into_iter().filter(Diagnostic::is_error).map(|d| d.code).collect()
    };
    assert_eq!(errors("app_db"), []);
    for bad in ["App_db", "_db", "db_", "2_db", "app db"] {
        assert_eq!(errors(bad), [Code::InvalidName], "{bad}");
    }
    // Volumes, secrets and the rest stay kebab-case: only what compose users must keep takes `_`.
    let volume = "stack \"n\"\nvolume \"pg_data\"\nservice \"a\" {\n    image \"busybox:1.36\"\n}\n";
    assert!(build(volume).1.iter().any(|d| d.code == Code::InvalidName));
}

/// A service with a fixed address and aliases: one long-form entry per network carries both
/// (the two features fill the same `networks` map).
#[test]
fn aliases_and_a_fixed_address_share_the_long_form_of_networks() {
    let text = r#"stack "lan"
network "lan" subnet="172.30.0.0/24"
network "back"
service "db" {
    image "postgres:16.4"
    networks "lan" "back"
    address "lan" ipv4="172.30.0.10"
    alias "app_db" "database"
}
"#;
    let (files, diags) = build(text);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    let compose = &files.iter().find(|f| f.path == "docker-compose.yml").unwrap().contents;
    let start = compose.find("  db:\n").unwrap();
    let block = &compose[start..];
    assert!(
        block.contains(
            "    networks:\n      lan:\n        aliases:\n        - app_db\n        - database\n        ipv4_address: \"172.30.0.10\"\n      back:\n        aliases:\n        - app_db\n        - database\n"
        ),
        "{block}"
    );
}
