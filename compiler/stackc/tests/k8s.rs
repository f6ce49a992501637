//! The Kubernetes target (`docs/targets/k8s.md`): every golden manifest passes
//! `kubernetes-validate --strict` against Kubernetes 1.30, every `kustomization.yaml` lists
//! exactly the manifests written next to it, the mapping of each concept (probes, resources,
//! secret references, env expansion, volumes, labels), determinism, and secret canaries: no
//! value reaches a generated file, and `create-secrets.sh` (run with a stand-in `kubectl`)
//! hands values to kubectl through files, never on its command line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use stackc::emit::{EmitOptions, OutputFile};
use stackc::ir::TargetKind;
use stackc::Options;

mod support;
use support::{file, in_ci, root};

/// `kubernetes-validate` from `.ci/tools/k8s`, else PATH; in CI a missing tool fails.
fn validator() -> Option<PathBuf> {
    python_tool("k8s", "kubernetes-validate")
}

/// A validator `.ci/install-validators` puts in the virtualenv `.ci/tools/VENV`, else from
/// PATH; in CI a missing tool fails, elsewhere the test prints NOT RUN.
fn python_tool(venv: &str, name: &str) -> Option<PathBuf> {
    let local = root().join(format!(".ci/tools/{venv}/bin/{name}"));
    if local.is_file() {
        return Some(local);
    }
    let out = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && !p.is_empty() {
        return Some(PathBuf::from(p));
    }
    if in_ci() {
        panic!("{name} is not installed: CI must run .ci/install-validators first");
    }
    support::report_not_run(&format!(
        "{name} is not installed; run .ci/install-validators (CI always runs this check)"
    ));
    None
}

/// Every golden `k8s/` directory.
fn golden_k8s_dirs() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("golden"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("k8s"))
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

fn yaml_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_example_that_selects_k8s_has_golden_manifests() {
    let dirs: Vec<String> = golden_k8s_dirs()
        .iter()
        .map(|d| d.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // fullstack, cashstage and contravento select k8s; cashstage's environments drop it.
    for expected in
        ["cashstage", "contravento", "contravento.dev", "contravento.staging", "fullstack", "fullstack.staging"]
    {
        assert!(dirs.iter().any(|d| d == expected), "no golden/{expected}/k8s: {dirs:?}");
    }
    assert!(!dirs.iter().any(|d| d == "cashstage.staging"), "cashstage's staging drops k8s (k8s #null)");
}

#[test]
fn golden_manifests_pass_kubernetes_validate_strict() {
    let Some(tool) = validator() else { return };
    let mut files = Vec::new();
    for dir in golden_k8s_dirs() {
        for f in yaml_files(&dir) {
            if f != "kustomization.yaml" {
                files.push(dir.join(f));
            }
        }
    }
    assert!(files.len() >= 30, "expected the examples' manifests, found {}", files.len());
    let out =
        Command::new(&tool).args(["--strict", "-k", "1.30.0"]).args(&files).output().expect("run kubernetes-validate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kubernetes-validate --strict -k 1.30.0:\n{stdout}{stderr}");
    // A file it could not match to a schema is a warning, not a failure: none may be left.
    assert!(!stdout.contains("WARN") && !stderr.contains("WARN"), "{stdout}{stderr}");
    let passed = stdout.lines().filter(|l| l.contains(" passed for resource ")).count();
    assert_eq!(passed, files.len(), "every file must be validated:\n{stdout}");
}

/// The `resources:` list of a kustomization.yaml (the generated form: `- name` lines).
fn kustomization_resources(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if line == "resources:" {
            inside = true;
        } else if inside {
            match line.strip_prefix("- ") {
                Some(item) => out.push(item.to_string()),
                None => inside = false,
            }
        }
    }
    out
}

#[test]
fn kustomization_lists_exactly_the_manifests_written() {
    let dirs = golden_k8s_dirs();
    assert!(dirs.len() >= 6);
    for dir in dirs {
        let text = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
        assert!(text.contains("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"), "{text}");
        let listed = kustomization_resources(&text);
        let mut sorted = listed.clone();
        sorted.sort();
        let written: Vec<String> = yaml_files(&dir).into_iter().filter(|f| f != "kustomization.yaml").collect();
        assert_eq!(sorted, written, "{}", dir.display());
        let unique: BTreeSet<&String> = listed.iter().collect();
        assert_eq!(unique.len(), listed.len(), "listed twice in {}", dir.display());
        // Apply order: the Namespace first.
        assert!(listed[0].starts_with("namespace-"), "{listed:?}");
        // The configMapGenerator's files (the backup scripts, the env-groups' variables) exist,
        // and every one is packed.
        let generated: BTreeSet<String> = text
            .lines()
            .filter_map(|l| {
                l.trim_start().strip_prefix("- ").and_then(|i| i.split_once('=')).map(|(_, f)| f.to_string())
            })
            .collect();
        for f in &generated {
            assert!(dir.join(f).is_file(), "{}: {f} is listed but not written", dir.display());
        }
        let mut packed: BTreeSet<String> = BTreeSet::new();
        files_below(&dir, &dir.join("backup"), &mut packed);
        files_below(&dir, &dir.join("env"), &mut packed);
        assert_eq!(packed, generated, "{}", dir.display());
    }
}

/// Every file below `dir`, relative to `base`.
fn files_below(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_below(base, &p, out);
        } else {
            out.insert(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
        }
    }
}

// ---------------------------------------------------------------------------------------
// The mapping, on small stacks.
// ---------------------------------------------------------------------------------------

fn build_with(src: &str, env: Option<&str>) -> (Vec<OutputFile>, Vec<String>) {
    let emit = EmitOptions { targets: Some(vec![TargetKind::K8s]), base_dir: "../..".into(), ..EmitOptions::default() };
    let built =
        stackc::build("test.stack.kdl", src, &Options { env: env.map(str::to_string), ..Options::default() }, &emit);
    let diags: Vec<String> =
        built.outcome.diagnostics.iter().map(|d| format!("{} {}", d.code.as_str(), d.message)).collect();
    (built.files, diags)
}

fn build(src: &str) -> (Vec<OutputFile>, Vec<String>) {
    let (files, diags) = build_with(src, None);
    assert!(!diags.iter().any(|d| d.starts_with('E')), "{diags:#?}");
    (files, diags)
}

const SHOP: &str = r#"stack "shop"
param "tag" default="1.4.2" env="TAG"
param "client-id" env="CLIENT_ID" required=#true
secret "db-password" env="DB_PASSWORD"
secret "smtp-pass" env="SMTP_PASS" optional=#true
secret "api-key" file="secrets/api-key.txt"
volume "pg-data" size="20Gi" class="fast"
volume "cache"
env-group "common" NODE_ENV="production"
service "api" {
    image "ghcr.io/acme/api:${tag}"
    port 8080 name="http"
    env DATABASE_URL="postgresql://shop:${secret:db-password}@postgres:5432/shop?x=$$(not-a-var)"
    env SMTP_PASS=(secret)"smtp-pass"
    env CLIENT_ID="${client-id}"
    env-from "common"
    secret "api-key" target="/etc/api/key" mode=0o400
    health http="/health" port="http" interval="10s" timeout="2s" retries=4 start-period="20s"
    readiness tcp="http" interval="5s"
    resources cpus=1 memory="1Gi" reserve-cpus="250m" reserve-memory="256Mi"
    metrics path="/metrics" port="http" job="shop-api"
    mount "cache" "/cache"
    depends-on "postgres" healthy=#true
    labels team="core"
}
service "postgres" {
    image "postgres:16-alpine"
    port 5432
    stateful #true
    env POSTGRES_PASSWORD=(secret)"db-password"
    mount "pg-data" "/var/lib/postgresql/data"
    health cmd="pg_isready -U shop" interval="10s"
}
targets {
    k8s namespace="shop-prod" secret-name="shop-secrets" {
        namespace-labels environment="production"
    }
}
"#;

#[test]
fn deployment_probes_resources_and_labels() {
    let (files, _) = build(SHOP);
    let d = file(&files, "k8s/deployment-api.yaml");
    assert!(d.contains("kind: Deployment\n"), "{d}");
    assert!(d.contains("  namespace: shop-prod\n"), "{d}");
    assert!(d.contains("image: ghcr.io/acme/api:1.4.2\n"), "param default: {d}");
    assert!(
        d.contains(
            "        livenessProbe:\n          httpGet:\n            path: /health\n            port: 8080\n          \
             periodSeconds: 10\n          timeoutSeconds: 2\n          failureThreshold: 4\n"
        ),
        "{d}"
    );
    // `start-period="20s"` is a startup probe that gates the others: 20s at a 10s period, then
    // the 4 retries docker would allow.
    assert!(
        d.contains(
            "        startupProbe:\n          httpGet:\n            path: /health\n            port: 8080\n          \
             periodSeconds: 10\n          timeoutSeconds: 2\n          failureThreshold: 6\n"
        ),
        "{d}"
    );
    assert!(!d.contains("initialDelaySeconds"), "{d}");
    assert!(
        d.contains(
            "        readinessProbe:\n          tcpSocket:\n            port: 8080\n          periodSeconds: 5\n"
        ),
        "{d}"
    );
    assert!(
        d.contains(
            "        resources:\n          requests:\n            cpu: 250m\n            memory: 256Mi\n          limits:\n            cpu: '1'\n            memory: 1Gi\n"
        ) || d.contains(
            "        resources:\n          requests:\n            cpu: 250m\n            memory: 256Mi\n          limits:\n            cpu: \"1\"\n            memory: 1Gi\n"
        ),
        "{d}"
    );
    // Metrics: annotations and the job label on the pods; the selector label is stackc's.
    assert!(d.contains("        prometheus.io/scrape: \"true\"\n        prometheus.io/path: /metrics\n        prometheus.io/port: \"8080\"\n"), "{d}");
    assert!(d.contains("        job: shop-api\n"), "{d}");
    assert!(d.contains("        team: core\n"), "{d}");
    assert!(d.contains("    matchLabels:\n      app.kubernetes.io/name: api\n"), "{d}");
    assert!(
        d.contains("      - configMapRef:\n            name: common\n")
            || d.contains("        - configMapRef:\n            name: common\n"),
        "{d}"
    );
    let ns = file(&files, "k8s/namespace-shop-prod.yaml");
    assert!(ns.contains("    environment: production\n") && !ns.contains("namespace: shop-prod"), "{ns}");
    // The env-group is generated by kustomize from a file per variable: its name gets a hash
    // of the data, so a changed value rolls the pods that take it.
    assert!(!files.iter().any(|f| f.path == "k8s/configmap-common.yaml"));
    assert_eq!(file(&files, "k8s/env/common/NODE_ENV"), "production");
    let k = file(&files, "k8s/kustomization.yaml");
    assert!(k.contains("- name: common\n  namespace: shop-prod\n  files:\n  - NODE_ENV=env/common/NODE_ENV\n  options:\n    labels:\n"), "{k}");
}

#[test]
fn secrets_are_references_and_embedded_ones_are_declared_first() {
    let (files, _) = build(SHOP);
    let d = file(&files, "k8s/deployment-api.yaml");
    let helper = d.find("        - name: DB_PASSWORD\n          valueFrom:\n            secretKeyRef:\n              name: shop-secrets\n              key: DB_PASSWORD\n").expect(d);
    let url = d
        .find("        - name: DATABASE_URL\n          value: postgresql://shop:$(DB_PASSWORD)@postgres:5432/shop?x=$$(not-a-var)\n")
        .expect(d);
    assert!(helper < url, "the secret's variable must come before the value that expands it:\n{d}");
    assert!(d.contains("              key: SMTP_PASS\n              optional: true\n"), "{d}");
    // A param without a value is read at deploy time from the params ConfigMap.
    assert!(d.contains("        - name: CLIENT_ID\n          valueFrom:\n            configMapKeyRef:\n              name: shop-params\n              key: CLIENT_ID\n"), "{d}");
    // A secret file: the Secret's key mounted at the target, read-only.
    assert!(
        d.contains("          mountPath: /etc/api/key\n          subPath: api-key\n          readOnly: true\n"),
        "{d}"
    );
    assert!(d.contains("          secretName: shop-secrets\n          items:\n          - key: api-key\n            path: api-key\n            mode: 256\n"), "{d}");
    // No Secret manifest: the script creates it.
    assert!(
        !files.iter().any(|f| f.path.contains("secret-") && f.path.ends_with(".yaml")),
        "a Secret manifest was written"
    );
    let script = file(&files, "k8s/create-secrets.sh");
    assert!(files.iter().any(|f| f.path == "k8s/create-secrets.sh" && f.executable));
    assert!(script.contains(": \"${DB_PASSWORD:?secret db-password must be set}\"\n"), "{script}");
    assert!(script.contains("if [ -n \"${SMTP_PASS+set}\" ]"), "{script}");
    assert!(script.contains("cat -- ../../../secrets/api-key.txt >\"$tmp/secret/api-key\"\n"), "{script}");
    assert!(script.contains("kubectl create secret generic shop-secrets --namespace shop-prod"), "{script}");
    assert!(script.contains("kubectl create configmap shop-params --namespace shop-prod"), "{script}");
}

#[test]
fn stateful_services_get_a_statefulset_headless_service_and_claim_templates() {
    let (files, _) = build(SHOP);
    let s = file(&files, "k8s/statefulset-postgres.yaml");
    assert!(s.contains("  serviceName: postgres\n"), "{s}");
    assert!(s.contains("  volumeClaimTemplates:\n  - apiVersion: v1\n    kind: PersistentVolumeClaim\n    metadata:\n      name: pg-data\n"), "{s}");
    assert!(s.contains("      storageClassName: fast\n") && s.contains("          storage: 20Gi\n"), "{s}");
    assert!(s.contains("          exec:\n            command:\n            - sh\n            - -c\n            - pg_isready -U shop\n"), "{s}");
    let svc = file(&files, "k8s/service-postgres.yaml");
    assert!(svc.contains("  clusterIP: None\n"), "{svc}");
    // No standalone claim for a volume only a StatefulSet mounts.
    assert!(!files.iter().any(|f| f.path == "k8s/persistentvolumeclaim-pg-data.yaml"));
    // The api's cache: a claim, ReadWriteOnce (one pod), the cluster's default size warning.
    let pvc = file(&files, "k8s/persistentvolumeclaim-cache.yaml");
    assert!(pvc.contains("  - ReadWriteOnce\n") && pvc.contains("      storage: 1Gi\n"), "{pvc}");
    // A ReadWriteOnce claim cannot be handed over by a rolling update.
    assert!(file(&files, "k8s/deployment-api.yaml").contains("  strategy:\n    type: Recreate\n"));
    let svc = file(&files, "k8s/service-api.yaml");
    // The port's own name is kept, even on the only port (service meshes read it).
    assert!(svc.contains("  - name: http\n    port: 8080\n    targetPort: 8080\n    protocol: TCP\n"), "{svc}");
}

#[test]
fn what_kubernetes_cannot_express_is_a_warning() {
    let (_, diags) = build(SHOP);
    let has = |s: &str| diags.iter().any(|d| d.starts_with("W0501") && d.contains(s));
    assert!(has("cannot read `TAG` at deploy time"), "{diags:#?}");
    assert!(has("volume `cache` has no size"), "{diags:#?}");
    assert!(has("`depends-on` is not expressed"), "{diags:#?}");
    let (_, diags) = build(
        r#"stack "s"
service "db" {
    image "postgres:16-alpine"
    port 5432
    publish 5432 host="127.0.0.1"
    mount "./init" "/docker-entrypoint-initdb.d"
    health cmd="pg_isready"
}
"#,
    );
    assert!(diags.iter().any(|d| d.contains("`publish 5432` has no Kubernetes meaning")), "{diags:#?}");
    assert!(diags.iter().any(|d| d.contains("host path `./init`")), "{diags:#?}");
}

#[test]
fn a_value_less_param_outside_env_is_an_error() {
    let (files, diags) = build_with(
        r#"stack "s"
param "tag" env="TAG" required=#true
service "api" {
    image "ghcr.io/acme/api:${tag}"
    health tcp=8080
    port 8080
}
"#,
        None,
    );
    assert!(files.is_empty());
    assert!(diags.iter().any(|d| d.starts_with("E0501") && d.contains("param `tag` has no value")), "{diags:#?}");
}

#[test]
fn shared_volumes_ask_for_read_write_many_and_autoscaled_deployments_have_no_replicas() {
    let (files, diags) = build(
        r#"stack "s"
volume "uploads" size="5Gi"
service "web" {
    image "ghcr.io/acme/web:1.0.0"
    port 3000
    replicas 2
    mount "uploads" "/uploads"
    health http="/"
}
"#,
    );
    assert!(file(&files, "k8s/persistentvolumeclaim-uploads.yaml").contains("  - ReadWriteMany\n"));
    assert!(diags.iter().any(|d| d.contains("ReadWriteMany")), "{diags:#?}");
    let d = file(&files, "k8s/deployment-web.yaml");
    assert!(d.contains("  replicas: 2\n") && !d.contains("Recreate"), "{d}");
}

#[test]
fn one_shot_services_are_jobs() {
    let (files, _) = build(
        r#"stack "s"
service "migrate" {
    image "ghcr.io/acme/api:1.0.0"
    command "python" "-m" "alembic" "upgrade" "head"
    restart "no"
}
"#,
    );
    // The name carries a hash of what the Job runs (tests/k8s_shapes.rs checks when it changes).
    let job = files.iter().find(|f| f.path.starts_with("k8s/job-migrate-")).expect("the Job");
    let j = &job.contents;
    assert!(job.path.len() == "k8s/job-migrate-".len() + 8 + ".yaml".len(), "{}", job.path);
    assert!(j.contains("apiVersion: batch/v1\nkind: Job\n"), "{j}");
    assert!(j.contains("      restartPolicy: OnFailure\n"), "{j}");
    assert!(j.contains("        args:\n        - python\n"), "`command` is the image's CMD, so args: {j}");
    assert!(!files.iter().any(|f| f.path == "k8s/service-migrate.yaml"), "no ports, no Service");
}

#[test]
fn output_is_deterministic() {
    let a = build(SHOP).0;
    for _ in 0..3 {
        assert_eq!(a, build(SHOP).0);
    }
}

// ---------------------------------------------------------------------------------------
// Secret canaries.
// ---------------------------------------------------------------------------------------

const CANARY: &str = "canary-7f3a9c1e-not-for-files";

#[test]
fn no_secret_value_reaches_a_generated_file() {
    let dir = std::env::temp_dir().join(format!("stackc-k8s-canary-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    std::fs::write(dir.join("secrets/api-key.txt"), CANARY).unwrap();
    // The compiler never reads files or the environment; the canary is where a deploy puts it.
    let (files, _) = build(SHOP);
    for f in &files {
        assert!(!f.contents.contains(CANARY), "{} holds the canary", f.path);
        assert!(!f.contents.contains("canary"), "{}", f.path);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the generated script with a stand-in `kubectl` that records its arguments and the
/// files it was handed: values arrive byte for byte, and never on a command line.
#[test]
fn create_secrets_hands_values_to_kubectl_through_files_only() {
    let base = std::env::temp_dir().join(format!("stackc-k8s-script-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let out_dir = base.join("build/shop");
    std::fs::create_dir_all(out_dir.join("k8s")).unwrap();
    std::fs::create_dir_all(base.join("secrets")).unwrap();
    std::fs::write(base.join("secrets/api-key.txt"), format!("{CANARY}-file\n")).unwrap();
    let (files, _) = build(SHOP);
    for f in files.iter().filter(|f| f.path.starts_with("k8s/")) {
        let p = out_dir.join(&f.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, &f.contents).unwrap();
    }
    let bin = base.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = base.join("kubectl.log");
    let got = base.join("got");
    std::fs::create_dir_all(&got).unwrap();
    // `create … --from-file=DIR`: copy what it was given; `apply -f FILE`: record the file's name.
    let stub = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >>'{log}'\nfor a in \"$@\"; do case \"$a\" in --from-file=*) d=${{a#--from-file=}}; cp -r \"$d\" '{got}/';; esac; done\nexit 0\n",
        log = log.display(),
        got = got.display()
    );
    std::fs::write(bin.join("kubectl"), stub).unwrap();
    Command::new("chmod").arg("+x").arg(bin.join("kubectl")).status().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let run = |envs: &[(&str, String)]| {
        let mut c = Command::new("sh");
        c.arg(out_dir.join("k8s/create-secrets.sh"))
            .env("PATH", &path)
            .env_remove("DB_PASSWORD")
            .env_remove("SMTP_PASS")
            .env_remove("CLIENT_ID");
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    // A missing required secret stops the script before kubectl sees anything of it.
    let out = run(&[("CLIENT_ID", "client".into())]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("secret db-password must be set"));

    let db = format!("{CANARY}-db 'quoted' $(not run) \\n");
    let out = run(&[("DB_PASSWORD", db.clone()), ("CLIENT_ID", "client-123".into())]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(!calls.contains(CANARY), "a value reached kubectl's command line:\n{calls}");
    assert!(calls.contains("apply -f namespace-shop-prod.yaml"), "{calls}");
    assert!(calls.contains("create secret generic shop-secrets --namespace shop-prod"), "{calls}");
    assert_eq!(std::fs::read_to_string(got.join("secret/DB_PASSWORD")).unwrap(), db);
    assert_eq!(std::fs::read_to_string(got.join("secret/api-key")).unwrap(), format!("{CANARY}-file\n"));
    // The optional secret was unset: no key, and the reference is optional.
    assert!(!got.join("secret/SMTP_PASS").exists());
    assert_eq!(std::fs::read_to_string(got.join("params/CLIENT_ID")).unwrap(), "client-123");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn autoscale_is_a_horizontal_pod_autoscaler_with_behaviour() {
    let (files, _) = build(
        r#"stack "s"
service "web" {
    image "ghcr.io/acme/web:1.0.0"
    port 3000
    health http="/"
    resources cpus=1 reserve-cpus="250m" reserve-memory="256Mi"
    autoscale min=3 max=10 cpu=70 memory=80 scale-up-window="0s" scale-down-window="300s" scale-up-select="max" {
        scale-down percent=50 period="60s"
        scale-up percent=100 period="15s"
        scale-up pods=4 period="15s"
    }
}
"#,
    );
    let h = file(&files, "k8s/horizontalpodautoscaler-web.yaml");
    assert!(h.contains("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\n"), "{h}");
    assert!(h.contains("  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: web\n  minReplicas: 3\n  maxReplicas: 10\n"), "{h}");
    assert!(h.contains("  - type: Resource\n    resource:\n      name: cpu\n      target:\n        type: Utilization\n        averageUtilization: 70\n"), "{h}");
    assert!(
        h.contains("      name: memory\n      target:\n        type: Utilization\n        averageUtilization: 80\n"),
        "{h}"
    );
    assert!(
        h.contains(
            "    scaleUp:\n      stabilizationWindowSeconds: 0\n      selectPolicy: Max\n      policies:\n      - type: Percent\n        value: 100\n        periodSeconds: 15\n      - type: Pods\n        value: 4\n        periodSeconds: 15\n"
        ),
        "{h}"
    );
    assert!(h.contains("    scaleDown:\n      stabilizationWindowSeconds: 300\n      policies:\n      - type: Percent\n        value: 50\n        periodSeconds: 60\n"), "{h}");
    // The Deployment leaves the replica count to the autoscaler.
    assert!(!file(&files, "k8s/deployment-web.yaml").contains("replicas:"));
    let k = file(&files, "k8s/kustomization.yaml");
    assert!(k.find("- deployment-web.yaml").unwrap() < k.find("- horizontalpodautoscaler-web.yaml").unwrap(), "{k}");
}

const SITES: &str = r##"stack "shop"
service "api" {
    image "ghcr.io/acme/api:1.0.0"
    port 8080 name="http"
    health http="/health"
}
service "web" {
    image "ghcr.io/acme/web:1.0.0"
    port 3000
    health http="/"
}
proxy {
    rate-limit "api" rate="100r/s" burst=500
    rate-limit "auth" rate="5r/m" burst=3
    body-limit "10Mi"
}
site "shop.example.com" "www.shop.example.com" {
    route "/api/" to="api" rate-limit="api" timeout="60s" buffering=#false
    route "/health" to="api" exact=#true access-log=#false
    route #"^/auth/(login|register)"# regex=#true to="api" rate-limit="auth"
    route "/metrics" to="api" exact=#true internal=#true
    route "/static/" files="/srv/static"
    route "/" to="web"
}
site "admin.example.com" {
    route "/" to="web"
    allow-from "10.0.0.0/8"
}
targets {
    k8s ingress-class="nginx" cluster-issuer="letsencrypt-prod"
}
"##;

#[test]
fn sites_are_ingresses_with_tls_cert_manager_and_nginx_annotations() {
    let (files, diags) = build(SITES);
    let main = file(&files, "k8s/ingress-shop-example-com.yaml");
    assert!(main.contains("apiVersion: networking.k8s.io/v1\nkind: Ingress\n"), "{main}");
    assert!(main.contains("  ingressClassName: nginx\n"), "{main}");
    assert!(main.contains("    cert-manager.io/cluster-issuer: letsencrypt-prod\n"), "{main}");
    assert!(
        main.contains("  tls:\n  - hosts:\n    - shop.example.com\n    - www.shop.example.com\n    secretName: shop-example-com-tls\n"),
        "{main}"
    );
    // Both host names get the same paths.
    assert!(
        main.contains("  - host: shop.example.com\n") && main.contains("  - host: www.shop.example.com\n"),
        "{main}"
    );
    assert!(
        main.contains("      - path: /api/\n        pathType: Prefix\n        backend:\n          service:\n            name: api\n            port:\n              number: 8080\n"),
        "{main}"
    );
    assert!(main.contains("    nginx.ingress.kubernetes.io/limit-rps: \"100\"\n"), "{main}");
    assert!(main.contains("    nginx.ingress.kubernetes.io/limit-burst-multiplier: \"5\"\n"), "{main}");
    assert!(main.contains("    nginx.ingress.kubernetes.io/proxy-read-timeout: \"60\"\n"), "{main}");
    assert!(main.contains("    nginx.ingress.kubernetes.io/proxy-buffering: \"off\"\n"), "{main}");
    assert!(main.contains("    nginx.ingress.kubernetes.io/proxy-body-size: 10m\n"), "{main}");
    // Routes with other settings are other Ingresses of the same host; only the first asks
    // cert-manager for the certificate, all of them use it.
    let others: Vec<&OutputFile> =
        files.iter().filter(|f| f.path.starts_with("k8s/ingress-shop-example-com-")).collect();
    assert_eq!(others.len(), 4, "{:?}", others.iter().map(|f| &f.path).collect::<Vec<_>>());
    for f in &others {
        assert!(!f.contents.contains("cert-manager.io"), "{}", f.contents);
        assert!(f.contents.contains("    secretName: shop-example-com-tls\n"), "{}", f.contents);
    }
    let all: String = others.iter().map(|f| f.contents.as_str()).collect();
    assert!(all.contains("      - path: /health\n        pathType: Exact\n"), "{all}");
    assert!(all.contains("    nginx.ingress.kubernetes.io/enable-access-log: \"false\"\n"), "{all}");
    assert!(all.contains("    nginx.ingress.kubernetes.io/use-regex: \"true\"\n"), "{all}");
    assert!(all.contains("      - path: ^/auth/(login|register)\n        pathType: ImplementationSpecific\n"), "{all}");
    assert!(all.contains("    nginx.ingress.kubernetes.io/limit-rpm: \"5\"\n"), "{all}");
    // Internal routes are refused to every client.
    assert!(all.contains("    nginx.ingress.kubernetes.io/denylist-source-range: 0.0.0.0/0,::/0\n"), "{all}");
    assert!(!all.contains("/static/") && !main.contains("/static/"), "files= routes have no Ingress form");
    let admin = file(&files, "k8s/ingress-admin-example-com.yaml");
    assert!(admin.contains("    nginx.ingress.kubernetes.io/whitelist-source-range: 10.0.0.0/8\n"), "{admin}");
    let has = |s: &str| diags.iter().any(|d| d.starts_with("W0501") && d.contains(s));
    assert!(has("burst as a multiple of the rate: 5 instead of 3"), "{diags:#?}");
    assert!(has("route `/static/`: Kubernetes runs no proxy container"), "{diags:#?}");
    assert!(has("does not set response headers"), "{diags:#?}");
}

#[test]
fn without_the_nginx_class_what_annotations_would_say_is_a_warning() {
    let src = SITES.replace(r#"k8s ingress-class="nginx" cluster-issuer="letsencrypt-prod""#, "k8s");
    let (files, diags) = build(&src);
    let main = file(&files, "k8s/ingress-shop-example-com.yaml");
    assert!(!main.contains("ingressClassName") && !main.contains("annotations:"), "{main}");
    assert!(!files.iter().any(|f| f.contents.contains("nginx.ingress.kubernetes.io")));
    let has = |s: &str| diags.iter().any(|d| d.starts_with("W0501") && d.contains(s));
    assert!(has("route `/metrics` is internal, but without `ingress-class=\"nginx\"`"), "{diags:#?}");
    assert!(has("route `/api/`: the Ingress does not express `rate-limit`, `body-limit`, `timeout`"), "{diags:#?}");
    assert!(has("a regular expression path needs `ingress-class=\"nginx\"`"), "{diags:#?}");
    assert!(has("`allow-from` needs"), "{diags:#?}");
    assert!(has("no `targets > k8s cluster-issuer=`"), "{diags:#?}");
}

#[test]
fn plain_http_sites_have_no_tls_and_a_shared_tls_secret_is_used_by_every_site() {
    let src = SITES.replace("proxy {", "proxy {\n    tls certificates=\"none\"");
    let (files, _) = build(&src);
    assert!(!files.iter().any(|f| f.path.contains("ingress") && f.contents.contains("tls:")));
    let src = SITES.replace(r#"cluster-issuer="letsencrypt-prod""#, r#"tls-secret="shop-tls""#);
    let (files, _) = build(&src);
    for f in files.iter().filter(|f| f.path.starts_with("k8s/ingress-")) {
        assert!(f.contents.contains("    secretName: shop-tls\n"), "{}", f.contents);
        assert!(!f.contents.contains("cert-manager.io"), "{}", f.contents);
    }
}

// ---------------------------------------------------------------------------------------
// Backups: CronJobs.
// ---------------------------------------------------------------------------------------

const BACKUPS: &str = r#"stack "shop"
secret "db-password" env="DB_PASSWORD"
secret "gpg" env="BACKUP_PASSPHRASE"
secret "aws-key" env="AWS_SECRET_ACCESS_KEY"
volume "pg-data" size="20Gi"
volume "uploads" size="5Gi"
service "postgres" {
    image "postgres:16-alpine"
    port 5432
    stateful #true
    env POSTGRES_USER="shop" POSTGRES_PASSWORD=(secret)"db-password"
    mount "pg-data" "/var/lib/postgresql/data"
    health cmd="pg_isready"
}
service "web" {
    image "ghcr.io/acme/web:1.0.0"
    port 3000
    mount "uploads" "/uploads"
    health http="/"
}
backup "db" service="postgres" schedule="*/30 * * * *" to="s3://shop-backups/db" format="custom" encrypt=(secret)"gpg" {
    env AWS_ACCESS_KEY_ID="AKIDEXAMPLE" AWS_SECRET_ACCESS_KEY=(secret)"aws-key"
}
backup "files" volume="uploads" schedule="0 3 * * *" to="/var/backups/shop" retain="7d" compress=#true
"#;

#[test]
fn backups_are_cronjobs_whose_steps_run_in_order() {
    let (files, diags) = build(BACKUPS);
    let c = file(&files, "k8s/cronjob-backup-db.yaml");
    assert!(c.contains("apiVersion: batch/v1\nkind: CronJob\n"), "{c}");
    assert!(c.contains("  schedule: '*/30 * * * *'\n") || c.contains("  schedule: \"*/30 * * * *\"\n"), "{c}");
    assert!(c.contains("  timeZone: Etc/UTC\n  concurrencyPolicy: Forbid\n"), "{c}");
    assert!(c.contains("      backoffLimit: 0\n"), "{c}");
    // dump (the database's image) and encrypt run first; upload is the last container.
    let dump = c.find("          - name: dump\n            image: postgres:16-alpine\n").expect(c);
    let encrypt = c.find("          - name: encrypt\n").expect(c);
    let upload =
        c.find("          containers:\n          - name: upload\n            image: amazon/aws-cli:2.17.0\n").expect(c);
    assert!(dump < encrypt && encrypt < upload, "{c}");
    assert!(c.contains("            - name: PGHOST\n              value: postgres\n"), "{c}");
    assert!(c.contains("            - name: PGUSER\n              value: shop\n"), "{c}");
    // The password is the database's own secret, by reference.
    assert!(c.contains("            - name: PGPASSWORD\n              valueFrom:\n                secretKeyRef:\n                  name: shop-secrets\n                  key: DB_PASSWORD\n"), "{c}");
    assert!(c.contains("              - key: BACKUP_PASSPHRASE\n                path: passphrase\n"), "{c}");
    assert!(c.contains("            - name: BACKUP_S3_TO\n              value: s3://shop-backups/db\n"), "{c}");
    assert!(c.contains("            - name: AWS_SECRET_ACCESS_KEY\n              valueFrom:\n"), "{c}");
    // S3: a spool, no claim, and a warning that S3 is not pruned (no retain here: none).
    assert!(c.contains("          - name: backup\n            emptyDir: {}\n"), "{c}");
    let dump_sh = file(&files, "k8s/backup/db-dump.sh");
    assert!(dump_sh.contains("pg_dump --format=custom --file=\"$tmp\"\n"), "{dump_sh}");
    assert!(dump_sh.contains("out=\"$BACKUP_DIR/.db-${stamp}.dump.clear\"\n"), "{dump_sh}");
    let enc = file(&files, "k8s/backup/db-encrypt.sh");
    assert!(enc.contains("--passphrase-file \"$BACKUP_PASSPHRASE_FILE\""), "{enc}");
    let up = file(&files, "k8s/backup/db-upload.sh");
    assert!(up.contains("aws s3 cp --only-show-errors \"$BACKUP_DIR/$file\" \"${BACKUP_S3_TO%/}/$file\"\n"), "{up}");
    // The kustomization packs the scripts into the ConfigMap the CronJob mounts.
    let k = file(&files, "k8s/kustomization.yaml");
    assert!(k.contains("configMapGenerator:\n- name: backup-db\n  namespace: shop\n  files:\n  - dump.sh=backup/db-dump.sh\n  - encrypt.sh=backup/db-encrypt.sh\n  - upload.sh=backup/db-upload.sh\n"), "{k}");
    assert!(c.contains("            configMap:\n              name: backup-db\n"), "{c}");

    // A volume archive to a directory: a claim for the files, the volume read-only, prune last.
    let f = file(&files, "k8s/cronjob-backup-files.yaml");
    assert!(f.contains("          containers:\n          - name: prune\n            image: alpine:3.20\n"), "{f}");
    assert!(
        f.contains("            - name: data\n              mountPath: /data\n              readOnly: true\n"),
        "{f}"
    );
    assert!(f.contains("            persistentVolumeClaim:\n              claimName: uploads\n"), "{f}");
    assert!(f.contains("            persistentVolumeClaim:\n              claimName: backup-files\n"), "{f}");
    assert!(file(&files, "k8s/persistentvolumeclaim-backup-files.yaml").contains("      storage: 10Gi\n"));
    let prune = file(&files, "k8s/backup/files-prune.sh");
    assert!(prune.contains("-name 'files-????????T??????Z.tar.gz' -mmin +10079 -exec rm -f {} \\;\n"), "{prune}");
    let has = |s: &str| diags.iter().any(|d| d.starts_with("W0501") && d.contains(s));
    assert!(has("the files go to the claim `backup-files` (10Gi)"), "{diags:#?}");
    assert!(has("backup `files` mounts the claim `uploads` read-only"), "{diags:#?}");
}

/// The backup steps as the pod runs them, with stand-ins for pg_dump and aws: the dump gets
/// its final name only after it succeeded, the upload sends that file, and a failing dump
/// leaves nothing and stops the chain (init containers run only after the previous one
/// succeeded, so the upload would not run).
#[test]
fn backup_steps_run_in_order_and_a_failed_dump_leaves_nothing() {
    let (files, _) = build(BACKUPS.replace(r#" encrypt=(secret)"gpg""#, "").as_str());
    let base = std::env::temp_dir().join(format!("stackc-k8s-backup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    for d in ["scripts", "state", "backup", "bin"] {
        std::fs::create_dir_all(base.join(d)).unwrap();
    }
    for step in ["dump", "upload"] {
        std::fs::write(base.join(format!("scripts/{step}.sh")), file(&files, &format!("k8s/backup/db-{step}.sh")))
            .unwrap();
    }
    let log = base.join("aws.log");
    std::fs::write(
        base.join("bin/pg_dump"),
        "#!/bin/sh\n[ -z \"${FAIL:-}\" ] || exit 3\nfor a in \"$@\"; do case \"$a\" in --file=*) printf 'dump of %s\\n' \"$PGDATABASE\" >\"${a#--file=}\";; esac; done\n",
    )
    .unwrap();
    std::fs::write(base.join("bin/aws"), format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >>'{}'\n", log.display())).unwrap();
    Command::new("chmod").arg("+x").arg(base.join("bin/pg_dump")).arg(base.join("bin/aws")).status().unwrap();
    let path = format!("{}:{}", base.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let run = |step: &str, fail: bool| {
        let mut c = Command::new("sh");
        c.arg(base.join(format!("scripts/{step}.sh")))
            .env("PATH", &path)
            .env("BACKUP_DIR", base.join("backup"))
            .env("STACKC_STATE", base.join("state"))
            .env("PGDATABASE", "shop")
            .env("BACKUP_S3_TO", "s3://shop-backups/db/");
        if fail {
            c.env("FAIL", "1");
        }
        c.output().unwrap()
    };
    let out = run("dump", true);
    assert!(!out.status.success());
    assert_eq!(std::fs::read_dir(base.join("backup")).unwrap().count(), 0, "a failed dump left a file");
    let out = run("dump", false);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written: Vec<String> = std::fs::read_dir(base.join("backup"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(written[0].starts_with("db-") && written[0].ends_with(".dump"), "{written:?}");
    assert_eq!(std::fs::read_to_string(base.join("backup").join(&written[0])).unwrap(), "dump of shop\n");
    let out = run("upload", false);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls,
        format!(
            "s3 cp --only-show-errors {}/{} s3://shop-backups/db/{}\n",
            base.join("backup").display(),
            written[0],
            written[0]
        )
    );
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn two_objects_of_one_kind_and_name_are_an_error() {
    let (files, diags) = build_with(
        r#"stack "s"
volume "backup-db" size="1Gi"
env-group "backup-db" A="1"
service "postgres" {
    image "postgres:16-alpine"
    port 5432
    env POSTGRES_PASSWORD="x"
    env-from "backup-db"
    mount "backup-db" "/var/lib/postgresql/data"
    health cmd="pg_isready"
}
backup "db" service="postgres" schedule="0 3 * * *" to="/var/backups"
policy {
    allow "plaintext-secret"
}
"#,
        None,
    );
    assert!(files.is_empty());
    assert!(
        diags.iter().any(|d| d.starts_with("E0501") && d.contains("two objects named ConfigMap `backup-db`")),
        "{diags:#?}"
    );
    assert!(diags.iter().any(|d| d.contains("two objects named PersistentVolumeClaim `backup-db`")), "{diags:#?}");
}

#[test]
fn update_maps_to_a_rolling_update() {
    let deployment = |update: &str| {
        let src = format!(
            "stack \"s\"\nservice \"web\" {{\n    image \"ghcr.io/acme/web:1.0.0\"\n    port 3000\n    health http=\"/\"\n    replicas 3\n    {update}\n}}\n"
        );
        let (files, diags) = build(&src);
        (file(&files, "k8s/deployment-web.yaml").to_string(), diags)
    };
    let (d, _) = deployment(r#"update max-surge=1 max-unavailable=0 monitor="30s""#);
    assert!(d.contains("  strategy:\n    type: RollingUpdate\n    rollingUpdate:\n      maxSurge: 1\n      maxUnavailable: 0\n  minReadySeconds: 30\n"), "{d}");
    let (d, _) = deployment(r#"update order="stop-first""#);
    assert!(d.contains("    rollingUpdate:\n      maxSurge: 0\n      maxUnavailable: 1\n"), "{d}");
    let (d, _) = deployment(r#"update order="start-first""#);
    assert!(!d.contains("strategy:"), "Kubernetes' default surge starts first: {d}");
    let (d, diags) = deployment("update max-surge=0 max-unavailable=0");
    assert!(d.contains("      maxSurge: 0\n      maxUnavailable: 1\n"), "{d}");
    assert!(diags.iter().any(|d| d.contains("cannot progress")), "{diags:#?}");
}

/// The W0501 warnings of a k8s build, each with the source line its label points at.
fn warnings_at(src: &str) -> (Vec<OutputFile>, Vec<(String, String)>) {
    let emit = EmitOptions { targets: Some(vec![TargetKind::K8s]), base_dir: "../..".into(), ..EmitOptions::default() };
    let built = stackc::build("test.stack.kdl", src, &Options::default(), &emit);
    assert!(!built.outcome.diagnostics.iter().any(|d| d.is_error()), "{:#?}", built.outcome.diagnostics);
    let warnings = built
        .outcome
        .diagnostics
        .iter()
        .filter(|d| d.code.as_str() == "W0501")
        .map(|d| {
            let at = d.primary.as_ref().map_or(0, |l| l.span.offset);
            let start = src[..at].rfind('\n').map_or(0, |i| i + 1);
            let end = src[at..].find('\n').map_or(src.len(), |i| at + i);
            (d.message.clone(), src[start..end].trim().to_string())
        })
        .collect();
    (built.files, warnings)
}

#[test]
fn settings_a_pod_has_no_field_for_are_warnings_at_the_setting() {
    let src = r#"stack "s"
defaults {
    logging driver="json-file" max-size="10Mi"
}
service "api" {
    description "the public API"
    image "ghcr.io/acme/api:1.0"
    build context="./api"
    restart "on-failure" delay="5s" window="1m"
    update parallelism=2 delay="10s" max-surge=1
    rollback parallelism=1
    port 8080 name="http"
    metrics port="http" interval="30s"
}
service "worker" {
    image "ghcr.io/acme/worker:1.0"
    update max-surge=1 max-unavailable=0
}
"#;
    let (files, warnings) = warnings_at(src);
    let at = |what: &str| -> Vec<&str> {
        warnings.iter().filter(|(m, _)| m.contains(what)).map(|(_, line)| line.as_str()).collect()
    };
    assert_eq!(at("`build`"), ["build context=\"./api\""], "{warnings:#?}");
    assert_eq!(at("`restart` delay=, window="), ["restart \"on-failure\" delay=\"5s\" window=\"1m\""], "{warnings:#?}");
    assert_eq!(
        at("`update` parallelism=, delay="),
        ["update parallelism=2 delay=\"10s\" max-surge=1"],
        "{warnings:#?}"
    );
    assert_eq!(at("`rollback`"), ["rollback parallelism=1"], "{warnings:#?}");
    assert_eq!(at("`metrics interval=`"), ["metrics port=\"http\" interval=\"30s\""], "{warnings:#?}");
    // Two services take the `defaults` logging: one warning, at the defaults.
    assert_eq!(
        at("`logging` (driver=\"json-file\", max-size=)"),
        ["logging driver=\"json-file\" max-size=\"10Mi\""],
        "{warnings:#?}"
    );
    // An update of only what a rolling update reads is no warning.
    assert_eq!(at("`update`").len(), 1, "{warnings:#?}");
    let api = file(&files, "k8s/deployment-api.yaml");
    assert!(api.contains("  annotations:\n    description: the public API\n"), "{api}");
    assert!(api.contains("maxSurge: 1"), "{api}");
}

#[test]
fn stack_description_and_params_in_target_options_reach_the_manifests() {
    let (files, _) = build(
        r#"stack "s" {
    description "shop, ${region}"
}
param "region" default="eu-1"
param "class" default="fast-ssd"
param "ingress" default="nginx"
param "metrics-path" default="/internal/metrics"
param "cpu" default="0.5"
volume "data" size="1Gi" class="${class}"
service "api" {
    image "ghcr.io/acme/api:1.0"
    port 8080
    mount "data" "/data"
    metrics path="${metrics-path}"
    resources cpus="${cpu}" reserve-cpus="${cpu}"
}
site "shop.example.com" {
    route "/" to="api"
}
targets {
    k8s ingress-class="${ingress}" cluster-issuer="${region}-issuer" {
        namespace-labels region="${region}"
    }
}
"#,
    );
    let ns = file(&files, "k8s/namespace-s.yaml");
    assert!(ns.contains("    region: eu-1\n"), "{ns}");
    assert!(ns.contains("  annotations:\n    description: shop, eu-1\n"), "{ns}");
    let api = file(&files, "k8s/deployment-api.yaml");
    assert!(api.contains("prometheus.io/path: /internal/metrics"), "{api}");
    assert!(api.contains("requests:\n            cpu: 500m\n"), "{api}");
    assert!(api.contains("limits:\n            cpu: 500m\n"), "{api}");
    let pvc = file(&files, "k8s/persistentvolumeclaim-data.yaml");
    assert!(pvc.contains("storageClassName: fast-ssd"), "{pvc}");
    let ing = file(&files, "k8s/ingress-shop-example-com.yaml");
    assert!(ing.contains("ingressClassName: nginx"), "{ing}");
    assert!(ing.contains("cert-manager.io/cluster-issuer: eu-1-issuer"), "{ing}");
    assert!(!files.iter().any(|f| f.contents.contains("${")), "a param reached a manifest unresolved");
}

#[test]
fn site_without_host_serves_the_stack_domain() {
    let (files, _) = build(
        r#"stack "s" {
    domain "shop.example.com"
}
service "api" {
    image "ghcr.io/acme/api:1.0"
    port 8080
}
site {
    route "/" to="api"
}
targets { k8s; }
"#,
    );
    let ing = file(&files, "k8s/ingress-shop-example-com.yaml");
    assert!(ing.contains("- host: shop.example.com"), "{ing}");
}

#[test]
fn proxy_settings_the_ingress_cannot_carry_are_warnings_at_the_setting() {
    let proxy = r#"stack "s"
service "api" {
    image "ghcr.io/acme/api:1.0"
    port 8080
}
proxy {
    tls email="ops@example.com" hsts="365d" session-tickets=#false
    gzip #true
    upstream "api" balance="least-conn" keepalive=16
    rate-limit "default" rate="10r/s" burst=20 size="20Mi"
}
site "shop.example.com" {
    route "/" to="api" rate-limit="default"
}
"#;
    let (_, warnings) = warnings_at(&format!("{proxy}targets {{ k8s; }}\n"));
    let at = |ws: &[(String, String)], what: &str| -> Vec<String> {
        ws.iter().filter(|(m, _)| m.contains(what)).map(|(_, line)| line.clone()).collect()
    };
    assert_eq!(
        at(&warnings, "`tls` email=, hsts=, session-tickets="),
        ["tls email=\"ops@example.com\" hsts=\"365d\" session-tickets=#false"],
        "{warnings:#?}"
    );
    assert_eq!(at(&warnings, "`gzip`"), ["gzip #true"], "{warnings:#?}");
    assert_eq!(
        at(&warnings, "`upstream \"api\"` balance=, keepalive="),
        ["upstream \"api\" balance=\"least-conn\" keepalive=16"],
        "{warnings:#?}"
    );
    // Without the nginx class the zone is not enforced at all; with it, only its size is lost.
    let zone = ["rate-limit \"default\" rate=\"10r/s\" burst=20 size=\"20Mi\""];
    assert_eq!(at(&warnings, "applies no `rate-limit`: `default`"), zone, "{warnings:#?}");
    let (files, warnings) = warnings_at(&format!("{proxy}targets {{ k8s ingress-class=\"nginx\"; }}\n"));
    assert_eq!(at(&warnings, "`rate-limit \"default\"` size=, nodelay=#false"), zone, "{warnings:#?}");
    assert!(at(&warnings, "applies no `rate-limit`").is_empty(), "{warnings:#?}");
    let ing = file(&files, "k8s/ingress-shop-example-com.yaml");
    assert!(ing.contains("nginx.ingress.kubernetes.io/limit-rps: \"10\""), "{ing}");
}

#[test]
fn a_service_without_image_takes_the_defaults_image() {
    let (files, _) = build(
        r#"stack "s"
param "img" default="ghcr.io/acme/all:2.0"
defaults {
    image "${img}"
}
service "api" {
    port 8080
    health cmd="true"
}
targets { k8s; }
"#,
    );
    let api = file(&files, "k8s/deployment-api.yaml");
    assert!(api.contains("        image: ghcr.io/acme/all:2.0\n"), "{api}");
}

#[test]
fn labels_with_keys_kubernetes_rejects_are_left_out_with_a_warning() {
    let src = r#"stack "shop"
service "api" {
    image "nginx:1.27"
    labels "com.example/team"="core" "Example.com/tier"="web" "bad key"="x"
}
targets { k8s }
"#;
    let (files, diags) = build(src);
    let d = file(&files, "k8s/deployment-api.yaml");
    assert!(d.contains("com.example/team: core\n"), "{d}");
    assert!(!d.contains("tier") && !d.contains("bad key"), "{d}");
    let warned: Vec<&String> = diags.iter().filter(|m| m.contains("not a valid Kubernetes label key")).collect();
    assert_eq!(warned.len(), 2, "{diags:#?}");
    assert!(warned[0].contains("`Example.com/tier`") && warned[1].contains("`bad key`"), "{warned:#?}");
}

// ---------------------------------------------------------------------------------------
// checkov: the policy scanner operators run on manifests.
// ---------------------------------------------------------------------------------------

/// The checkov checks the golden manifests may fail, each justified in `docs/targets/k8s.md`
/// ("checkov"). The test asserts that exactly these fail, so the list can neither grow
/// silently nor keep an id that no longer fails.
const CHECKOV_ACCEPTED: &[&str] = &[
    "CKV_K8S_10", // CPU requests: the stack's `resources`, not invented
    "CKV_K8S_11", // CPU limits: idem
    "CKV_K8S_12", // memory requests: idem
    "CKV_K8S_13", // memory limits: idem
    "CKV_K8S_15", // imagePullPolicy Always: tags are pinned (W0103)
    "CKV_K8S_22", // readOnlyRootFilesystem: the stack's `read-only`
    "CKV_K8S_23", // root containers: images whose user stackc does not know
    "CKV_K8S_25", // added capabilities: the volume backup reads every file
    "CKV_K8S_35", // secrets in env: the stack's `env`, `secret-file` is the alternative
    "CKV_K8S_40", // uid >= 10000: the images' own users
    "CKV_K8S_43", // image digests: the stack names tags
    "CKV_K8S_8",  // liveness probe: the stack's `health`
    "CKV_K8S_9",  // readiness probe: idem
];

/// `checkov` from `.ci/tools/checkov`, else PATH; in CI a missing tool fails.
fn checkov() -> Option<PathBuf> {
    python_tool("checkov", "checkov")
}

/// The failed checks of one checkov run, as (check id, file, resource).
fn checkov_failures(report: &serde_json::Value) -> Vec<(String, String, String)> {
    let reports = match report {
        serde_json::Value::Array(v) => v.clone(),
        other => vec![other.clone()],
    };
    let mut out = Vec::new();
    for r in reports {
        let failed = r["results"]["failed_checks"].as_array().cloned().unwrap_or_default();
        for f in failed {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            out.push((s("check_id"), s("file_path"), s("resource")));
        }
    }
    out
}

#[test]
fn golden_manifests_fail_only_the_accepted_checkov_checks() {
    let Some(checkov) = checkov() else { return };
    let accepted: BTreeSet<&str> = CHECKOV_ACCEPTED.iter().copied().collect();
    let mut failed_ids: BTreeSet<String> = BTreeSet::new();
    let mut unexpected = Vec::new();
    for dir in golden_k8s_dirs() {
        // --skip-download: no guideline fetch from the vendor's API (CI may have no network).
        let out = Command::new(&checkov)
            .args(["--framework", "kubernetes", "--compact", "--quiet", "--skip-download", "-o", "json", "-d"])
            .arg(&dir)
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "checkov on {}: {e}\n{}\n{}",
                dir.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let failures = checkov_failures(&report);
        assert!(
            report.get("summary").is_none_or(|s| s["resource_count"].as_u64() > Some(0)),
            "checkov read no resource in {}",
            dir.display()
        );
        for (id, file, resource) in failures {
            if !accepted.contains(id.as_str()) {
                unexpected.push(format!("{}: {id} on {resource} ({file})", dir.display()));
            }
            failed_ids.insert(id);
        }
    }
    assert!(unexpected.is_empty(), "checkov checks failed that are not accepted:\n{}", unexpected.join("\n"));
    let stale: Vec<&&str> = accepted.iter().filter(|id| !failed_ids.contains(**id)).collect();
    assert!(
        stale.is_empty(),
        "accepted checkov checks that no longer fail (remove them here and in the docs): {stale:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Least privilege: security contexts, service accounts, disruption budgets.
// ---------------------------------------------------------------------------------------

#[test]
fn every_pod_runs_with_secure_defaults_and_the_stacks_privileges() {
    let (files, _) = build(
        r#"stack "shop"
service "api" {
    image "ghcr.io/acme/api:1.0"
    port 8080
    user "1000:2000"
    read-only #true
    cap-add "SYS_PTRACE"
    cap-drop "ALL" "NET_RAW"
    mount "uploads" "/uploads"
}
service "web" {
    image "ghcr.io/acme/web:1.0"
    port 80
    security-opt "no-new-privileges:false" "seccomp=unconfined"
}
service "postgres" {
    image "postgres:16-alpine"
    port 5432
    stateful #true
    mount "pg-data" "/var/lib/postgresql/data"
}
volume "uploads"
volume "pg-data"
"#,
    );
    // The stack's user, non-root: runAsNonRoot, and the claim owned by its group.
    let api = file(&files, "k8s/deployment-api.yaml");
    assert!(
        api.contains(
            "        securityContext:\n          runAsUser: 1000\n          runAsGroup: 2000\n          \
             readOnlyRootFilesystem: true\n          allowPrivilegeEscalation: false\n          capabilities:\n            \
             add:\n            - SYS_PTRACE\n            drop:\n            - ALL\n            - NET_RAW\n          runAsNonRoot: true\n"
        ),
        "{api}"
    );
    assert!(
        api.contains(
            "      serviceAccountName: api\n      automountServiceAccountToken: false\n      securityContext:\n        \
             fsGroup: 2000\n        fsGroupChangePolicy: OnRootMismatch\n        seccompProfile:\n          type: RuntimeDefault\n"
        ),
        "{api}"
    );
    // An unknown image's user stays the image's; port 80 keeps the one capability it needs;
    // the opt-outs lift allowPrivilegeEscalation and the seccomp profile.
    let web = file(&files, "k8s/deployment-web.yaml");
    assert!(
        web.contains(
            "        securityContext:\n          capabilities:\n            add:\n            - NET_BIND_SERVICE\n            \
             drop:\n            - ALL\n      serviceAccountName: web\n"
        ),
        "{web}"
    );
    assert!(web.contains("        seccompProfile:\n          type: Unconfined\n"), "{web}");
    assert!(!web.contains("runAsNonRoot") && !web.contains("allowPrivilegeEscalation"), "{web}");
    // The official postgres image's Alpine user, known to stackc.
    let pg = file(&files, "k8s/statefulset-postgres.yaml");
    assert!(pg.contains("          runAsUser: 70\n          runAsGroup: 70\n"), "{pg}");
    assert!(pg.contains("        fsGroup: 70\n"), "{pg}");
    // One ServiceAccount per workload, without a token.
    for name in ["api", "web", "postgres"] {
        let sa = file(&files, &format!("k8s/serviceaccount-{name}.yaml"));
        assert!(sa.contains("kind: ServiceAccount\n") && sa.ends_with("automountServiceAccountToken: false\n"), "{sa}");
    }
}

#[test]
fn services_with_more_than_one_replica_get_a_disruption_budget() {
    let (files, _) = build(
        r#"stack "shop"
service "api" {
    image "ghcr.io/acme/api:1.0"
    replicas 3
}
service "web" {
    image "ghcr.io/acme/web:1.0"
    autoscale min=1 max=4 cpu=70
    resources reserve-cpus="250m"
}
service "worker" {
    image "ghcr.io/acme/worker:1.0"
}
"#,
    );
    for name in ["api", "web"] {
        let pdb = file(&files, &format!("k8s/poddisruptionbudget-{name}.yaml"));
        assert!(
            pdb.contains("apiVersion: policy/v1\nkind: PodDisruptionBudget\n")
                && pdb.ends_with(&format!(
                    "spec:\n  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: {name}\n"
                )),
            "{pdb}"
        );
    }
    assert!(!files.iter().any(|f| f.path == "k8s/poddisruptionbudget-worker.yaml"));
}

// ---------------------------------------------------------------------------------------
// NetworkPolicies, evaluated as Kubernetes does.
// ---------------------------------------------------------------------------------------

use serde_json::Value;
use stackc::emit::k8s::{network_edges, Peer};

/// One end of a connection: a pod (namespace, labels) or an address range.
#[derive(Clone, Debug)]
enum Endpoint {
    Pod { ns: String, labels: Vec<(String, String)> },
    Ip(String),
}

/// Labels as (key, value) pairs, and ports as (protocol, number).
type Labels = Vec<(String, String)>;
type Ports = Vec<(String, u64)>;

fn str_of(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
}

/// `matchLabels` of a selector: every pair among `labels` (an empty selector selects all).
fn selects(selector: &Value, labels: &[(String, String)]) -> bool {
    let Some(m) = selector.get("matchLabels").and_then(Value::as_object) else { return true };
    m.iter().all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && *lv == str_of(v)))
}

fn peer_matches(peer: &Value, policy_ns: &str, other: &Endpoint) -> bool {
    match (peer.get("ipBlock"), other) {
        (Some(b), Endpoint::Ip(c)) => str_of(&b["cidr"]) == *c,
        (Some(_), Endpoint::Pod { .. }) | (None, Endpoint::Ip(_)) => false,
        (None, Endpoint::Pod { ns, labels }) => {
            let ns_ok = match peer.get("namespaceSelector") {
                Some(s) => selects(s, &[("kubernetes.io/metadata.name".to_string(), ns.clone())]),
                None => ns == policy_ns,
            };
            ns_ok && peer.get("podSelector").is_none_or(|s| selects(s, labels))
        }
    }
}

/// Whether the policies of `subject`'s namespace let it take part in a connection with
/// `other` on `port`: `direction` "Ingress" (other connects to subject) or "Egress".
fn policies_allow(
    policies: &[Value],
    ns: &str,
    subject: &[(String, String)],
    direction: &str,
    other: &Endpoint,
    proto: &str,
    port: u64,
) -> bool {
    let applying: Vec<&Value> = policies
        .iter()
        .filter(|p| selects(&p["spec"]["podSelector"], subject))
        .filter(|p| p["spec"]["policyTypes"].as_array().is_some_and(|t| t.iter().any(|t| t == direction)))
        .collect();
    if applying.is_empty() {
        return true;
    }
    let (rules_key, peers_key) = if direction == "Ingress" { ("ingress", "from") } else { ("egress", "to") };
    applying.iter().any(|p| {
        p["spec"][rules_key].as_array().into_iter().flatten().any(|rule| {
            let peers_ok = match rule.get(peers_key).and_then(Value::as_array) {
                Some(peers) if !peers.is_empty() => peers.iter().any(|peer| peer_matches(peer, ns, other)),
                _ => true,
            };
            let ports_ok = match rule.get("ports").and_then(Value::as_array) {
                Some(ports) if !ports.is_empty() => ports.iter().any(|pp| {
                    pp.get("protocol").map_or("TCP".to_string(), str_of) == proto && pp["port"].as_u64() == Some(port)
                }),
                _ => true,
            };
            peers_ok && ports_ok
        })
    })
}

#[test]
fn network_policies_allow_exactly_the_stacks_edges() {
    for dir in golden_k8s_dirs() {
        let golden = dir.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
        let (example, env) = golden.split_once('.').map_or((golden.as_str(), None), |(e, v)| (e, Some(v)));
        let path = root().join(format!("examples/{example}.stack.kdl"));
        let text = std::fs::read_to_string(&path).unwrap();
        let out = stackc::compile(
            &path.display().to_string(),
            &text,
            &Options { env: env.map(str::to_string), ..Options::default() },
        );
        let stack = out.stack.expect("the example compiles");
        let edges = network_edges(&stack);

        // The stack's pods (labels, ports) and its NetworkPolicies, from the golden manifests.
        let mut policies = Vec::new();
        let mut pods: Vec<(String, Labels, Ports)> = Vec::new();
        let mut ns = String::new();
        for f in yaml_files(&dir).iter().filter(|f| *f != "kustomization.yaml") {
            let text = std::fs::read_to_string(dir.join(f)).unwrap();
            let obj: Value = serde_saphyr::from_str(&text).unwrap();
            let template = match str_of(&obj["kind"]).as_str() {
                "NetworkPolicy" => {
                    ns = str_of(&obj["metadata"]["namespace"]);
                    policies.push(obj);
                    continue;
                }
                "Deployment" | "StatefulSet" | "Job" => obj["spec"]["template"].clone(),
                "CronJob" => obj["spec"]["jobTemplate"]["spec"]["template"].clone(),
                _ => continue,
            };
            let labels: Vec<(String, String)> = template["metadata"]["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), str_of(v)))
                .collect();
            let name = labels.iter().find(|(k, _)| k == "app.kubernetes.io/name").unwrap().1.clone();
            let ports = template["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
                .map(|p| (str_of(&p["protocol"]), p["containerPort"].as_u64().unwrap()))
                .collect();
            pods.push((name, labels, ports));
        }
        assert!(!policies.is_empty() && !ns.is_empty(), "{golden}: no NetworkPolicy");

        // Every endpoint: the pods, and what the edges name outside the namespace.
        let mut endpoints: Vec<(Peer, Endpoint, Ports)> = pods
            .iter()
            .map(|(name, labels, ports)| {
                (Peer::Pod(name.clone()), Endpoint::Pod { ns: ns.clone(), labels: labels.clone() }, ports.clone())
            })
            .collect();
        for e in &edges {
            for peer in [&e.from, &e.to] {
                if endpoints.iter().any(|(p, _, _)| p == peer) {
                    continue;
                }
                let endpoint = match peer {
                    Peer::Namespace(n) => Endpoint::Pod { ns: n.clone(), labels: Vec::new() },
                    Peer::Cidr(c) => Endpoint::Ip(c.clone()),
                    Peer::Pod(p) => panic!("{golden}: edge {e} names pod `{p}` that no manifest runs"),
                };
                endpoints.push((peer.clone(), endpoint, Vec::new()));
            }
        }
        // Ports of outside endpoints are those the edges name; every pod is tried on each
        // port of every endpoint.
        let mut checked = 0;
        for (to_peer, to, to_ports) in &endpoints {
            let mut ports = to_ports.clone();
            for e in edges.iter().filter(|e| &e.to == to_peer) {
                let p =
                    (if e.protocol == stackc::ir::Protocol::Udp { "UDP" } else { "TCP" }.to_string(), e.port as u64);
                if !ports.contains(&p) {
                    ports.push(p);
                }
            }
            for (from_peer, from, _) in &endpoints {
                if from_peer == to_peer {
                    continue;
                }
                for (proto, port) in &ports {
                    let egress = match from {
                        Endpoint::Pod { ns: n, labels } if *n == ns => {
                            policies_allow(&policies, &ns, labels, "Egress", to, proto, *port)
                        }
                        _ => true,
                    };
                    let ingress = match to {
                        Endpoint::Pod { ns: n, labels } if *n == ns => {
                            policies_allow(&policies, &ns, labels, "Ingress", from, proto, *port)
                        }
                        _ => true,
                    };
                    // Two outside ends: no policy of the stack is involved.
                    if !matches!(from, Endpoint::Pod { ns: n, .. } if *n == ns)
                        && !matches!(to, Endpoint::Pod { ns: n, .. } if *n == ns)
                    {
                        continue;
                    }
                    let declared = edges.iter().any(|e| {
                        &e.from == from_peer
                            && &e.to == to_peer
                            && e.port as u64 == *port
                            && (e.protocol == stackc::ir::Protocol::Udp) == (proto == "UDP")
                    });
                    assert_eq!(
                        egress && ingress,
                        declared,
                        "{golden}: {from_peer} -> {to_peer} {port}/{proto}: policies allow {}, the stack declares {}",
                        egress && ingress,
                        declared
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 0 && !edges.is_empty(), "{golden}: nothing checked");
    }
}

#[test]
fn the_allowed_edges_come_from_the_graph_and_the_k8s_target_options() {
    let src = r#"stack "shop"
param "partner" default="203.0.113.0/24"
service "api" {
    image "ghcr.io/acme/api:1.0"
    port 8080
    env DATABASE_URL="postgresql://shop@postgres:5432/shop"
    env CACHE="redis://cache:6379"
    env NOT_A_HOST="my-web-thing"
    metrics port=8080
}
service "web" {
    image "ghcr.io/acme/web:1.0"
    port 3000
    depends-on "api"
}
service "postgres" {
    image "postgres:16"
    port 5432
}
service "cache" {
    image "redis:7"
    port 6379
}
site "shop.example.com" {
    route "/" to="web"
}
targets {
    k8s ingress-namespace="traefik" prometheus-namespace="observability" {
        egress "api" cidr="${partner}" port=443
        ingress "cache" namespace="reports" port=6379
    }
}
"#;
    let out = stackc::compile("test.stack.kdl", src, &Options::default());
    let stack = out.stack.expect("compiles");
    let edges: Vec<String> = network_edges(&stack).iter().map(|e| e.to_string()).collect();
    assert_eq!(
        edges,
        [
            "api -> cache 6379/tcp (env CACHE)",
            "api -> postgres 5432/tcp (env DATABASE_URL)",
            "api -> 203.0.113.0/24 443/tcp (k8s egress)",
            "web -> api 8080/tcp (depends-on)",
            "namespace observability -> api 8080/tcp (metrics)",
            "namespace reports -> cache 6379/tcp (k8s ingress)",
            "namespace traefik -> web 3000/tcp (site route)",
        ],
        "{edges:#?}"
    );
    let (files, _) = build(src);
    let cache = file(&files, "k8s/networkpolicy-cache.yaml");
    assert!(
        cache.contains(
            "  ingress:\n  - from:\n    - podSelector:\n        matchLabels:\n          app.kubernetes.io/name: api\n    ports:\n    - protocol: TCP\n      port: 6379\n  - from:\n    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: reports\n"
        ),
        "{cache}"
    );
    let api = file(&files, "k8s/networkpolicy-api.yaml");
    assert!(
        api.contains(
            "    - ipBlock:\n        cidr: 203.0.113.0/24\n    ports:\n    - protocol: TCP\n      port: 443\n"
        ),
        "{api}"
    );
    // Opting out writes none.
    let (files, _) = build(&src.replace("k8s ingress-namespace", "k8s network-policies=#false ingress-namespace"));
    assert!(!files.iter().any(|f| f.path.contains("networkpolicy")));
}

// ---------------------------------------------------------------------------------------
// The Ingress reads the proxy plan (`ir/proxy.rs`), as nginx and Caddy do.

/// A zone without `burst=` allows no burst in nginx and Caddy; ingress-nginx allows five
/// times the rate unless told otherwise: the Ingress sets the smallest multiplier it takes,
/// and says what remains.
#[test]
fn a_zone_without_burst_gets_the_smallest_multiplier() {
    let src = SITES.replace(r#"rate-limit "api" rate="100r/s" burst=500"#, r#"rate-limit "api" rate="100r/s""#);
    assert_ne!(src, SITES);
    let (files, diags) = build(&src);
    let main = file(&files, "k8s/ingress-shop-example-com.yaml");
    assert!(main.contains("    nginx.ingress.kubernetes.io/limit-burst-multiplier: \"1\"\n"), "{main}");
    let has = |s: &str| diags.iter().any(|d| d.starts_with("W0501") && d.contains(s));
    assert!(
        has("rate limit `api`: ingress-nginx sets the burst as a multiple of the rate: 100 instead of 0"),
        "{diags:#?}"
    );
}

/// The route's upstream, port, limits and body limit are the plan's: a route to a service
/// on a second port, the site's body limit over the proxy's and the route's over the site's.
#[test]
fn ingress_paths_are_the_plans_routes_in_the_order_written() {
    let src = SITES
        .replace(
            "    port 8080 name=\"http\"\n    health http=\"/health\"\n",
            "    port 8080 name=\"http\"\n    port 9090 name=\"admin\"\n    health http=\"/health\"\n",
        )
        .replace(
            "site \"admin.example.com\" {\n    route \"/\" to=\"web\"\n",
            "site \"admin.example.com\" {\n    body-limit \"2Mi\"\n    route \"/uploads/\" to=\"api\" port=\"admin\" body-limit=\"1Gi\"\n    route \"/\" to=\"web\"\n",
        );
    let (files, _) = build(&src);
    let admin: String = files
        .iter()
        .filter(|f| f.path.starts_with("k8s/ingress-admin-example-com"))
        .map(|f| f.contents.as_str())
        .collect();
    assert!(admin.contains("      - path: /uploads/\n        pathType: Prefix\n        backend:\n          service:\n            name: api\n            port:\n              number: 9090\n"), "{admin}");
    assert!(admin.contains("    nginx.ingress.kubernetes.io/proxy-body-size: 1g\n"), "{admin}");
    assert!(admin.contains("    nginx.ingress.kubernetes.io/proxy-body-size: 2m\n"), "{admin}");
    // In the order written (nginx's), not the plan's match order: the first route's
    // settings make the first Ingress.
    let first = file(&files, "k8s/ingress-admin-example-com.yaml");
    assert!(first.contains("      - path: /uploads/\n") && !first.contains("path: /\n"), "{first}");
}

// CORS, the real client IP, allowed methods and error pages (issue 11) on the Ingress.

#[test]
fn cors_is_ingress_nginx_annotations_and_the_rest_is_reported_at_its_node() {
    let src = include_str!("proxy_edge/edge.stack.kdl").replace(
        "targets {\n    nginx version=\"1.28\"\n    caddy version=\"2.8\"\n}",
        "targets {\n    k8s ingress-class=\"nginx\"\n}",
    );
    let (files, warnings) = warnings_at(&src);
    let ingresses: Vec<&str> =
        files.iter().filter(|f| f.path.starts_with("k8s/ingress-shop")).map(|f| f.contents.as_str()).collect();
    const A: &str = "nginx.ingress.kubernetes.io/";
    let site_policy = [
        format!("    {A}cors-allow-credentials: \"true\"\n"),
        format!("    {A}cors-allow-headers: Content-Type, Authorization\n"),
        format!("    {A}cors-allow-methods: GET, POST, PUT, DELETE\n"),
        format!("    {A}cors-allow-origin: https://shop.example.com, https://admin.example.com\n"),
        format!("    {A}cors-expose-headers: X-Request-Id\n"),
        format!("    {A}cors-max-age: \"600\"\n"),
        format!("    {A}enable-cors: \"true\"\n"),
    ];
    assert!(
        ingresses.iter().any(|i| site_policy.iter().all(|l| i.contains(l.as_str()))),
        "no Ingress with the site's policy: {ingresses:#?}"
    );
    // `/feed/`'s own policy (any origin, no credentials) is an Ingress of its own.
    let feed = ingresses.iter().find(|i| i.contains("path: /feed/")).expect("an Ingress for /feed/");
    assert!(feed.contains(&format!("    {A}cors-allow-origin: \"*\"\n")), "{feed}");
    assert!(feed.contains(&format!("    {A}cors-allow-credentials: \"false\"\n")), "{feed}");
    assert!(!feed.contains("path: /api/"), "{feed}");
    let at = |needle: &str, line: &str| warnings.iter().any(|(m, l)| m.contains(needle) && l.starts_with(line));
    assert!(at("`real-ip`", "real-ip \"10.0.0.0/8\""), "{warnings:#?}");
    assert!(at("error pages", "error-page 502 503 504"), "{warnings:#?}");
    assert!(at("error pages", "error-page 500 502"), "{warnings:#?}");
    assert!(at("route `/api/`: the Ingress does not refuse methods", "route \"/api/\""), "{warnings:#?}");
    assert!(at("(`forwarded-for`)", "forwarded-for \"replace\""), "{warnings:#?}");
    assert!(!warnings.iter().any(|(m, _)| m.contains("does not answer CORS")), "{warnings:#?}");
    // Without ingress-nginx, CORS is reported at the policy that covers the route.
    let (_, warnings) = warnings_at(&src.replace("k8s ingress-class=\"nginx\"", "k8s"));
    let cors: Vec<&(String, String)> = warnings.iter().filter(|(m, _)| m.contains("does not answer CORS")).collect();
    assert_eq!(cors.len(), 3, "{warnings:#?}");
    assert!(cors.iter().any(|(m, l)| m.contains("`/feed/`") && l == "cors \"*\""), "{cors:#?}");
}
