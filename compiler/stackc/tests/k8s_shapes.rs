//! The workload shapes of the Kubernetes target, on `tests/k8s_shapes/shapes.stack.kdl`: a
//! service on every node with host access, Service types and ports, probes with headers and a
//! startup probe, init steps, a ServiceAccount token. The manifests and the compose file are
//! snapshotted, the values that matter are asserted, and the output passes
//! `kubernetes-validate --strict`, `kubectl kustomize` and Docker Compose v2 `config -q`. `kubectl kustomize` also renders every golden `k8s/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use stackc::emit::{EmitOptions, OutputFile};
use stackc::ir::TargetKind;
use stackc::Options;

mod support;
use support::{file, in_ci, root, service_block};

fn fixture() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/k8s_shapes/shapes.stack.kdl"))
        .expect("the shapes fixture")
}

/// The fixture's files and its diagnostics as `CODE line:col message`.
fn build() -> (Vec<OutputFile>, Vec<String>) {
    let text = fixture();
    let emit = EmitOptions {
        targets: Some(vec![TargetKind::Compose, TargetKind::K8s]),
        base_dir: "../..".into(),
        ..EmitOptions::default()
    };
    let built = stackc::build("shapes.stack.kdl", &text, &Options::default(), &emit);
    let diags: Vec<String> = built
        .outcome
        .diagnostics
        .iter()
        .map(|d| {
            let line = d.primary.as_ref().map_or(0, |l| text[..l.span.offset].lines().count());
            format!("{} line {line}: {}", d.code.as_str(), d.message)
        })
        .collect();
    assert!(!diags.iter().any(|d| d.starts_with('E')), "{diags:#?}");
    (built.files, diags)
}

/// The file of the fixture's line that holds `needle`, 1-based.
fn line_of(needle: &str) -> usize {
    fixture().lines().position(|l| l.contains(needle)).map(|i| i + 1).expect(needle)
}

#[test]
fn manifests_compose_file_and_warnings_match_the_snapshot() {
    let (files, diags) = build();
    let mut out = String::new();
    for f in &files {
        if f.path.starts_with("k8s/") || f.path == "docker-compose.yml" {
            out.push_str(&format!("=== {}\n{}\n", f.path, f.contents));
        }
    }
    out.push_str("=== diagnostics\n");
    out.push_str(&diags.join("\n"));
    insta::assert_snapshot!(out);
}

#[test]
fn a_global_service_is_a_daemonset_on_the_nodes_network_with_its_paths_and_tolerations() {
    let (files, diags) = build();
    let d = file(&files, "k8s/daemonset-node-exporter.yaml");
    assert!(d.contains("kind: DaemonSet\n"), "{d}");
    assert!(!d.contains("replicas:") && !d.contains("  strategy:"), "a DaemonSet has neither: {d}");
    assert!(
        d.contains("  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate:\n      maxUnavailable: 2\n"),
        "{d}"
    );
    assert!(d.contains("      hostPID: true\n"), "{d}");
    assert!(d.contains("      hostNetwork: true\n      dnsPolicy: ClusterFirstWithHostNet\n"), "{d}");
    assert!(d.contains("        - name: host-1\n          mountPath: /host\n          readOnly: true\n"), "{d}");
    assert!(d.contains("      - name: host-1\n        hostPath:\n          path: /\n"), "{d}");
    assert!(
        d.contains(
            "      tolerations:\n      - operator: Exists\n      - key: node-role.kubernetes.io/control-plane\n        \
             operator: Exists\n        effect: NoSchedule\n      - key: dedicated\n        operator: Equal\n        \
             value: monitoring\n        effect: NoExecute\n"
        ),
        "{d}"
    );
    assert!(!files.iter().any(|f| f.path == "k8s/deployment-node-exporter.yaml"));

    // Compose: one container per node, on the host's network, in no stack network.
    let compose = file(&files, "docker-compose.yml");
    let c = service_block(compose, "node-exporter");
    assert!(c.contains("network_mode: host\n") && !c.contains("networks:"), "{c}");
    assert!(c.contains("deploy:\n  mode: global\n") && !c.contains("replicas"), "{c}");
    assert!(c.contains("volumes:\n- /:/host:ro\n"), "{c}");
    let at = |line: usize, what: &str| diags.iter().any(|d| d.starts_with(&format!("W0501 line {line}: {what}")));
    assert!(at(line_of("    toleration"), "compose has no node taints"), "{diags:#?}");

    // A host path on a service that is not global is not mounted from some node.
    let admin = file(&files, "k8s/deployment-admin.yaml");
    assert!(!admin.contains("hostPath") && !admin.contains("/host-logs"), "{admin}");
    assert!(at(line_of("mount \"/var/log\""), "service `admin`: the host path `/var/log`"), "{diags:#?}");
}

#[test]
fn service_types_ports_and_names() {
    let (files, diags) = build();
    let web = file(&files, "k8s/service-web.yaml");
    assert!(
        web.contains(
            "  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n    protocol: TCP\n  type: LoadBalancer\n"
        ),
        "{web}"
    );
    assert!(!web.contains("clusterIP"), "{web}");
    let pod = file(&files, "k8s/deployment-web.yaml");
    assert!(pod.contains("        - name: http\n          containerPort: 8080\n"), "{pod}");
    // The Ingress reaches the Service's port, the probes the container's.
    let ing = file(&files, "k8s/ingress-shop-example-com.yaml");
    assert!(ing.contains("            name: web\n            port:\n              number: 80\n"), "{ing}");
    assert!(pod.contains("            path: /health\n            port: 8080\n"), "{pod}");

    let peers = file(&files, "k8s/service-peers.yaml");
    assert!(peers.contains("  clusterIP: None\n"), "{peers}");
    assert!(
        peers.contains("  - name: gossip\n    port: 7000\n") && peers.contains("  - name: tcp-7001\n    port: 7001\n"),
        "{peers}"
    );
    let admin = file(&files, "k8s/service-admin.yaml");
    assert!(admin.contains("  type: NodePort\n") && !admin.contains("  - name:"), "{admin}");

    // Compose reaches the container's port, and says what it cannot express.
    let c = service_block(file(&files, "docker-compose.yml"), "web");
    assert!(c.contains("expose:\n- \"8080\"\n"), "{c}");
    let line = line_of("port 80 target=8080");
    assert!(
        diags.contains(&format!(
            "W0501 line {line}: compose has no Service ports: other containers reach `web` on port 8080, not 80"
        )),
        "{diags:#?}"
    );
    let line = line_of("service-type \"load-balancer\"");
    assert!(
        diags.contains(&format!(
            "W0501 line {line}: compose has no Service types: `service-type` of `web` is not expressed"
        )),
        "{diags:#?}"
    );
    assert!(
        !diags.iter().any(|d| d.contains("`service-type` of `peers`")),
        "headless is what compose does: {diags:#?}"
    );
}

#[test]
fn start_period_is_a_startup_probe_and_http_probes_send_headers() {
    let (files, _) = build();
    let pod = file(&files, "k8s/deployment-web.yaml");
    // 30s at a 5s period is 6 periods, then the 2 retries.
    assert!(
        pod.contains(
            "        startupProbe:\n          httpGet:\n            path: /health\n            port: 8080\n            \
             httpHeaders:\n            - name: Host\n              value: shop.example.com\n          periodSeconds: 5\n          \
             failureThreshold: 8\n"
        ),
        "{pod}"
    );
    assert!(!pod.contains("initialDelaySeconds"), "{pod}");
    // The readiness probe is its own, and also waits for the startup probe.
    assert!(pod.contains("        readinessProbe:\n          httpGet:\n            path: /ready\n            port: 8080\n          periodSeconds: 2\n"), "{pod}");
    let c = service_block(file(&files, "docker-compose.yml"), "web");
    assert!(
        c.contains(
            "wget -q --header='Host: shop.example.com' -O /dev/null http://127.0.0.1:8080/health || curl -fsS -H 'Host: shop.example.com' -o /dev/null http://127.0.0.1:8080/health || exit 1"
        ),
        "{c}"
    );
    assert!(c.contains("\n  start_period: 30s"), "{c}");
}

#[test]
fn annotations_reach_the_pods_and_containers_and_the_instance_label_every_object() {
    let (files, _) = build();
    let pod = file(&files, "k8s/deployment-web.yaml");
    assert!(
        pod.contains(
            "      annotations:\n        example.com/owner: web-team\n        sidecar.istio.io/inject: \"true\"\n"
        ),
        "{pod}"
    );
    for f in files
        .iter()
        .filter(|f| f.path.starts_with("k8s/") && f.path.ends_with(".yaml") && !f.path.ends_with("kustomization.yaml"))
    {
        assert!(f.contents.contains("    app.kubernetes.io/instance: shapes\n"), "{}: {}", f.path, f.contents);
    }
    // Selectors stay on the name only: a Deployment's selector cannot change.
    assert!(pod.contains("  selector:\n    matchLabels:\n      app.kubernetes.io/name: web\n  template:"), "{pod}");
    let c = service_block(file(&files, "docker-compose.yml"), "web");
    assert!(c.contains("annotations:\n  example.com/owner: web-team\n  sidecar.istio.io/inject: \"true\""), "{c}");
}

#[test]
fn a_postgres_data_directory_and_sub_path_mounts_are_volume_subdirectories() {
    let (files, _) = build();
    let db = file(&files, "k8s/statefulset-db.yaml");
    assert!(
        db.contains(
            "        - name: db-data\n          mountPath: /var/lib/postgresql/data\n          subPath: pgdata\n"
        ),
        "{db}"
    );
    assert!(db.contains("        - name: assets\n          mountPath: /srv/assets\n          subPath: public\n          readOnly: true\n"), "{db}");
    let c = service_block(file(&files, "docker-compose.yml"), "db");
    // Compose's volumes hold no lost+found: the data directory stays the volume's root there.
    assert!(c.contains("- db-data:/var/lib/postgresql/data\n"), "{c}");
    assert!(c.contains("- type: volume\n  source: assets\n  target: /srv/assets\n  read_only: true\n  volume:\n    subpath: public"), "{c}");
}

#[test]
fn scratch_is_an_empty_dir_on_disk() {
    let (files, diags) = build();
    let pod = file(&files, "k8s/deployment-web.yaml");
    assert!(pod.contains("        - name: scratch-1\n          mountPath: /var/cache/web\n"), "{pod}");
    // No `medium: Memory`: on the node's disk, as large as `size=`.
    assert!(pod.contains("      - name: scratch-1\n        emptyDir:\n          sizeLimit: 2Gi\n"), "{pod}");
    let c = service_block(file(&files, "docker-compose.yml"), "web");
    assert!(c.contains("volumes:\n- /var/cache/web\n"), "an anonymous volume: {c}");
    let line = line_of("scratch \"/var/cache/web\"");
    assert!(
        diags.iter().any(|d| d.starts_with(&format!("W0501 line {line}: compose cannot size a volume"))),
        "{diags:#?}"
    );
}

#[test]
fn grpc_probes_are_native_on_kubernetes_and_a_probe_program_in_compose() {
    let (files, diags) = build();
    let pod = file(&files, "k8s/deployment-rpc.yaml");
    assert!(
        pod.contains("        livenessProbe:\n          periodSeconds: 10\n          grpc:\n            port: 50051\n"),
        "{pod}"
    );
    assert!(
        pod.contains(
            "        readinessProbe:\n          periodSeconds: 10\n          grpc:\n            port: 50051\n"
        ),
        "{pod}"
    );
    let c = service_block(file(&files, "docker-compose.yml"), "rpc");
    assert!(c.contains("  test:\n  - CMD\n  - grpc_health_probe\n  - -addr=127.0.0.1:50051\n"), "{c}");
    let line = line_of("health grpc=");
    assert!(
        diags.iter().any(|d| d.starts_with(&format!("W0501 line {line}: docker has no gRPC health check"))),
        "{diags:#?}"
    );
}

/// The Job's file of a one-shot service `migrate` in `src`.
fn job_file(src: &str) -> String {
    let emit = EmitOptions { targets: Some(vec![TargetKind::K8s]), ..EmitOptions::default() };
    let built = stackc::build("job.stack.kdl", src, &Options::default(), &emit);
    built.files.iter().find(|f| f.path.starts_with("k8s/job-migrate-")).expect("the Job").path.clone()
}

/// A Job's template cannot change in place: its name follows what it runs, so that the next
/// `kubectl apply` creates a new Job for a change and leaves an unchanged one alone.
#[test]
fn a_one_shot_job_is_renamed_by_what_it_runs_and_only_by_that() {
    let stack = |image: &str, level: &str, other: &str| {
        format!(
            "stack \"s\"\nenv-group \"cfg\" LOG_LEVEL=\"{level}\"\nservice \"migrate\" {{\n    image \"{image}\"\n    \
             env-from \"cfg\"\n    restart \"no\"\n}}\nservice \"web\" {{\n    image \"{other}\"\n    health cmd=\"true\"\n}}\n"
        )
    };
    let base = job_file(&stack("acme/api:1.0.0", "info", "nginx:1.27"));
    assert!(base.starts_with("k8s/job-migrate-") && base.len() == "k8s/job-migrate-12345678.yaml".len(), "{base}");
    assert_eq!(base, job_file(&stack("acme/api:1.0.0", "info", "nginx:1.27")), "deterministic");
    assert_eq!(base, job_file(&stack("acme/api:1.0.0", "info", "nginx:1.28")), "another service does not rename it");
    assert_ne!(base, job_file(&stack("acme/api:1.1.0", "info", "nginx:1.27")), "a new image is a new Job");
    // kustomize renames the env-group's ConfigMap when its data change, which changes the
    // Job's template: the Job's name must change with it.
    assert_ne!(base, job_file(&stack("acme/api:1.0.0", "debug", "nginx:1.27")), "a new env-group value is a new Job");
}

/// A fresh directory with the fixture's files.
fn written() -> PathBuf {
    let (files, _) = build();
    let dir = std::env::temp_dir().join(format!(
        "stackc-k8s-shapes-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for f in &files {
        let p = dir.join(&f.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &f.contents).unwrap();
    }
    dir
}

/// A tool from `.ci/tools/<local>`, else (`on_path`) from PATH; in CI a missing tool fails.
fn tool(local: &str, on_path: Option<&str>) -> Option<PathBuf> {
    let p = root().join(".ci/tools").join(local);
    if p.is_file() {
        return Some(p);
    }
    if let Some(name) = on_path {
        let out = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().ok()?;
        let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !found.is_empty() {
            return Some(PathBuf::from(found));
        }
    }
    assert!(!in_ci(), "{local} is not installed: CI must have it");
    support::report_not_run(&format!("{local} is not installed (.ci/tools or PATH)"));
    None
}

#[test]
fn the_shapes_pass_kubernetes_validate_kustomize_and_docker_compose() {
    let dir = written();
    if let Some(kv) = tool("k8s/bin/kubernetes-validate", Some("kubernetes-validate")) {
        let manifests: Vec<PathBuf> = std::fs::read_dir(dir.join("k8s"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("kustomization.yaml"))
            .collect();
        let out = Command::new(kv).args(["--strict", "-k", "1.30.0"]).args(&manifests).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && !text.contains("WARN"), "{text}");
        assert_eq!(text.matches(" passed for resource ").count(), manifests.len(), "{text}");
    }
    if let Some(kubectl) = tool("kubectl", Some("kubectl")) {
        let out = Command::new(kubectl).arg("kustomize").arg(dir.join("k8s")).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let rendered = String::from_utf8_lossy(&out.stdout);
        assert!(rendered.contains("kind: DaemonSet\n") && rendered.contains("type: LoadBalancer\n"), "{rendered}");
    }
    if let Some(dc) = tool("compose2/real/docker-compose", None) {
        let out =
            // The secret of `api` comes from the deploy environment, as compose requires it.
            Command::new(dc)
                .arg("-f")
                .arg(dir.join("docker-compose.yml"))
                .args(["config", "-q"])
                .env("DB_PASSWORD", "not-a-secret")
                .output()
                .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `kubectl kustomize` renders every golden `k8s/` directory (the order, the generators, the
/// files they pack).
#[test]
fn kubectl_kustomize_renders_every_golden_k8s_directory() {
    let Some(kubectl) = tool("kubectl", Some("kubectl")) else { return };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("golden"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("k8s"))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 5, "{dirs:?}");
    for dir in dirs {
        let out = Command::new(&kubectl).arg("kustomize").arg(&dir).output().unwrap();
        assert!(out.status.success(), "{}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn a_service_account_token_is_mounted_only_where_the_stack_asks() {
    let (files, diags) = build();
    let admin = file(&files, "k8s/deployment-admin.yaml");
    assert!(admin.contains("      serviceAccountName: admin\n      automountServiceAccountToken: true\n"), "{admin}");
    // The account itself keeps no token: another pod naming it does not get one by default.
    let account = file(&files, "k8s/serviceaccount-admin.yaml");
    assert!(account.contains("automountServiceAccountToken: false\n"), "{account}");
    let web = file(&files, "k8s/deployment-web.yaml");
    assert!(web.contains("      automountServiceAccountToken: false\n"), "{web}");
    let line = line_of("service-account token=#true");
    assert!(
        diags.contains(&format!(
            "W0501 line {line}: compose has no Kubernetes API: `service-account token=#true` of `admin` is not expressed"
        )),
        "{diags:#?}"
    );
}

#[test]
fn init_steps_are_init_containers_and_one_shot_compose_services_the_service_waits_for() {
    let (files, _) = build();
    let d = file(&files, "k8s/deployment-api.yaml");
    let (init, main) = d.split_once("      containers:\n").expect("containers");
    // In order, each with its command as args (the image's entrypoint stays), its image or
    // the service's, the service's env with its own over it, and the service's mounts and
    // security context.
    assert!(
        init.contains(
            "      - name: wait-for-db\n        image: busybox:1.36\n        args:\n        - sh\n        \
             - -c\n        - until nc -z db 5432; do sleep 1; done\n"
        ),
        "{d}"
    );
    assert!(
        init.contains("      - name: migrate\n        image: ghcr.io/acme/api:1.4.0\n        args:\n        - api\n        - migrate\n        - --wait\n"),
        "{d}"
    );
    // The sidecar first: the steps may need it.
    assert!(init.contains("      initContainers:\n      - name: log-shipper\n"), "{d}");
    assert!(init.find("name: wait-for-db") < init.find("name: migrate"), "{d}");
    assert!(init.contains("        - name: MIGRATE_TIMEOUT\n          value: 60s\n"), "{d}");
    assert_eq!(init.matches("              name: shapes-secrets\n              key: DB_PASSWORD\n").count(), 2, "{d}");
    assert_eq!(init.matches("        - name: uploads\n          mountPath: /srv/uploads\n").count(), 3, "{d}");
    assert_eq!(init.matches("          allowPrivilegeEscalation: false\n").count(), 3, "{d}");
    assert!(!main.contains("MIGRATE_TIMEOUT") && !main.contains("migrate"), "the step's env is its own: {main}");

    let compose = file(&files, "docker-compose.yml");
    let wait = service_block(compose, "api-wait-for-db");
    assert!(wait.contains("image: busybox:1.36\n") && wait.contains("restart: \"no\"\n"), "{wait}");
    assert!(wait.contains("volumes:\n- uploads:/srv/uploads\n") && !wait.contains("healthcheck"), "{wait}");
    let migrate = service_block(compose, "api-migrate");
    assert!(
        migrate.contains("image: ghcr.io/acme/api:1.4.0\n") && migrate.contains("MIGRATE_TIMEOUT: 60s\n"),
        "{migrate}"
    );
    assert!(
        migrate.contains("depends_on:\n  api-wait-for-db:\n    condition: service_completed_successfully\n"),
        "{migrate}"
    );
    assert!(!migrate.contains("expose:"), "{migrate}");
    let api = service_block(compose, "api");
    assert!(
        api.contains(
            "depends_on:\n  api-wait-for-db:\n    condition: service_completed_successfully\n  api-migrate:\n    \
             condition: service_completed_successfully\n"
        ),
        "{api}"
    );
}

/// The error diagnostics of a small stack built for compose and Kubernetes, as `CODE message`.
fn errors_of(text: &str) -> Vec<String> {
    let emit = EmitOptions { targets: Some(vec![TargetKind::Compose, TargetKind::K8s]), ..EmitOptions::default() };
    let built = stackc::build("steps.stack.kdl", text, &Options::default(), &emit);
    built
        .outcome
        .diagnostics
        .iter()
        .filter(|d| d.code.as_str().starts_with('E'))
        .map(|d| format!("{} {}", d.code.as_str(), d.message))
        .collect()
}

#[test]
fn init_step_names_that_clash_and_steps_without_a_command_are_refused() {
    let targets = "targets {\n    compose\n    k8s\n}\n";
    // The step's container would have the main container's name.
    let errors = errors_of(&format!(
        "stack \"s\"\nservice \"api\" {{\n    image \"ghcr.io/acme/api:1.0.0\"\n    init-step \"api\" {{\n        command \"migrate\"\n    }}\n}}\n{targets}"
    ));
    assert_eq!(
        errors,
        ["E0501 service `api`: the container name `api` is taken (by the service or another step or sidecar)"],
        "{errors:#?}"
    );
    // `api-migrate` is the compose service of the step.
    let errors = errors_of(&format!(
        "stack \"s\"\nservice \"api\" {{\n    image \"ghcr.io/acme/api:1.0.0\"\n    init-step \"migrate\" {{\n        command \"migrate\"\n    }}\n}}\nservice \"api-migrate\" {{\n    image \"ghcr.io/acme/api:1.0.0\"\n}}\n{targets}"
    ));
    assert_eq!(
        errors,
        ["E0501 service `api-migrate` clashes with the compose service of `api`'s `migrate`"],
        "{errors:#?}"
    );
    let errors = errors_of(&format!(
        "stack \"s\"\nservice \"api\" {{\n    image \"ghcr.io/acme/api:1.0.0\"\n    init-step \"migrate\" {{\n        env A=\"1\"\n    }}\n}}\n{targets}"
    ));
    assert!(errors.len() == 1 && errors[0].contains("command"), "{errors:#?}");
    // One name for a step and a sidecar: one container name (k8s), one compose service.
    let errors = errors_of(&format!(
        "stack \"s\"\nservice \"api\" {{\n    image \"ghcr.io/acme/api:1.0.0\"\n    init-step \"x\" {{\n        command \"migrate\"\n    }}\n    sidecar \"x\" {{\n        image \"busybox:1.36\"\n    }}\n}}\n{targets}"
    ));
    assert_eq!(
        errors,
        [
            "E0501 service `api`: the container name `x` is taken (by the service or another step or sidecar)",
            "E0501 service `api`: a step and a sidecar are both named `x`",
        ],
        "{errors:#?}"
    );
}

#[test]
fn a_sidecar_is_a_native_sidecar_and_a_compose_service_in_the_services_network() {
    let (files, _) = build();
    let d = file(&files, "k8s/deployment-api.yaml");
    let (init, main) = d.split_once("      containers:\n").expect("containers");
    let (shipper, _) = init.split_once("      - name: wait-for-db\n").expect("the steps after the sidecar");
    assert!(shipper.contains("        image: fluent/fluent-bit:3.1.9\n"), "{shipper}");
    assert!(shipper.ends_with("        restartPolicy: Always\n"), "{shipper}");
    // Its own env only: none of the API's variables or secrets.
    assert!(
        shipper.contains("        env:\n        - name: SHIPPER_TAG\n          value: api\n        volumeMounts:\n"),
        "{shipper}"
    );
    assert!(!shipper.contains("DB_PASSWORD") && !shipper.contains("DATABASE_HOST"), "{shipper}");
    assert!(shipper.contains("        - name: uploads\n          mountPath: /srv/uploads\n"), "{shipper}");
    assert!(!main.contains("log-shipper") && !main.contains("restartPolicy"), "{main}");

    let c = service_block(file(&files, "docker-compose.yml"), "api-log-shipper");
    assert!(c.contains("network_mode: service:api\n") && !c.contains("networks:"), "{c}");
    assert!(c.contains("depends_on:\n  api:\n    condition: service_started\n"), "{c}");
    assert!(c.contains("environment:\n  SHIPPER_TAG: api\nvolumes:\n- uploads:/srv/uploads\n"), "{c}");
    assert!(!c.contains("restart:") && !c.contains("expose:") && !c.contains("healthcheck:"), "{c}");
}
