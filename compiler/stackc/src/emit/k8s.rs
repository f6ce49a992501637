//! The Kubernetes target (1.30: apps/v1, batch/v1, autoscaling/v2, networking.k8s.io/v1):
//! one YAML file per object under `k8s/`, a `kustomization.yaml` listing them in apply order
//! (`kubectl apply -k`), and `create-secrets.sh`, which creates the stack's one Opaque Secret
//! from the deploy environment and files.
//!
//! Values: manifests cannot read the deploy environment, so a param is its compile-time
//! value (W0501 where it has `env=`). A param without a value (`required=#true`) can only be
//! used in `env` values: the script puts it in the ConfigMap `STACK-params`. Secrets never
//! appear in a manifest: a whole secret value is a `secretKeyRef`; a value that embeds one
//! declares the secret as a variable first and expands it with `$(VAR)`. Literal `$` that
//! Kubernetes would read as `$(…)` or `$$` are escaped.

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;
use serde::Serialize;

// The backup core is shared with the compose target; `backup` (a child) reaches it here.
use super::{header, shell_word, BackupEngine, BackupJob, EmitOptions, OutputFile, BACKUP_STAMP_FORMAT};
use crate::diagnostics::{origin_span, Code, Diagnostic};
use crate::ir::*;

mod backup;

/// Where every file of this target goes.
pub const DIR: &str = "k8s";
/// The script that creates the Secret (and the ConfigMap of deploy-time params).
pub const SECRETS_SCRIPT: &str = "create-secrets.sh";
/// The label every workload selects its pods by.
const SELECTOR_KEY: &str = "app.kubernetes.io/name";
/// The size a claim asks for when the volume has no `size=` (a claim must ask for one).
const DEFAULT_CLAIM_BYTES: u64 = 1 << 30;

pub fn check(stack: &Stack) -> Vec<Diagnostic> {
    Builder::new(stack, &EmitOptions::default()).run().1
}

pub fn emit(stack: &Stack, opts: &EmitOptions) -> Vec<OutputFile> {
    Builder::new(stack, opts).run().0
}

/// The namespace of every object: `targets > k8s namespace=`, else the stack name.
pub fn namespace(stack: &Stack) -> String {
    option(stack, "namespace").unwrap_or_else(|| stack.name.clone())
}

/// The one Opaque Secret: `targets > k8s secret-name=`, else `STACK-secrets`.
pub fn secret_name(stack: &Stack) -> String {
    option(stack, "secret-name").unwrap_or_else(|| format!("{}-secrets", stack.name))
}

/// The ConfigMap of the params that have no compile-time value, filled by the script.
pub fn params_configmap(stack: &Stack) -> String {
    format!("{}-params", stack.name)
}

/// A `targets > k8s` option, params at their compile-time value (a manifest cannot read one
/// later).
fn option(stack: &Stack, key: &str) -> Option<String> {
    stack.targets.options.get("k8s").and_then(|o| o.get(key)).map(|v| stack.compile_time(&Text::from_default(v)))
}

/// The key of a secret in the Secret that holds it: the variable name of an `env=` secret
/// (the keys a hand-written secret.yaml uses), the secret's name otherwise.
pub fn secret_key(secret: &Secret) -> String {
    match &secret.source {
        SecretSource::Env(var) => var.clone(),
        SecretSource::File(_) | SecretSource::External => secret.name.clone(),
    }
}

/// The Secret that holds a secret: an external one is its own Secret, named after it.
fn secret_object(stack: &Stack, secret: &Secret) -> String {
    match secret.source {
        SecretSource::External => secret.name.clone(),
        _ => secret_name(stack),
    }
}

/// Kubernetes expands `$(VAR)` and reduces `$$` to `$` in env values, command and args; a `$`
/// followed by `(` or `$` is doubled so that the text arrives as written.
pub fn escape_dollar(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '$' && matches!(chars.peek(), Some('(') | Some('$')) {
            out.push('$');
        }
    }
    out
}

/// A CPU quantity: whole CPUs, else millicores.
pub fn cpu(milli: u64) -> String {
    if milli.is_multiple_of(1000) {
        format!("{}", milli / 1000)
    } else {
        format!("{milli}m")
    }
}

/// A byte quantity in the largest unit that divides it (binary units first).
pub fn bytes(b: u64) -> String {
    const UNITS: &[(&str, u64)] = &[
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
        ("T", 1_000_000_000_000),
        ("G", 1_000_000_000),
        ("M", 1_000_000),
        ("k", 1_000),
    ];
    for (unit, f) in UNITS {
        if b >= *f && b.is_multiple_of(*f) {
            return format!("{}{unit}", b / f);
        }
    }
    b.to_string()
}

/// Whole seconds, rounded up (a probe period of 1.5s cannot be shorter than asked).
fn seconds(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

/// A label value Kubernetes accepts: at most 63 characters of `[A-Za-z0-9._-]`, starting
/// and ending with a letter or digit (or empty).
pub fn valid_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// A container port name (IANA_SVC_NAME): at most 15 characters, a letter among them, no
/// `--`. Stack port names may be longer; those ports stay unnamed.
fn valid_port_name(n: &str) -> bool {
    n.len() <= 15 && !n.contains("--") && n.chars().any(|c| c.is_ascii_lowercase())
}

// ---------------------------------------------------------------------------------------
// The objects, with their keys in the order manifests are conventionally written.
// ---------------------------------------------------------------------------------------

#[derive(Serialize, Default, Clone)]
struct Meta {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    labels: IndexMap<String, String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    annotations: IndexMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Object<S: Serialize> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Meta,
    #[serde(skip_serializing_if = "Option::is_none")]
    spec: Option<S>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<IndexMap<String, String>>,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WorkloadSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    replicas: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_name: Option<String>,
    selector: Selector,
    #[serde(skip_serializing_if = "Option::is_none")]
    strategy: Option<Strategy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_ready_seconds: Option<u64>,
    template: PodTemplate,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volume_claim_templates: Vec<Object<PvcSpec>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JobSpec {
    backoff_limit: u32,
    template: PodTemplate,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Selector {
    match_labels: IndexMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Strategy {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rolling_update: Option<RollingUpdate>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RollingUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_surge: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_unavailable: Option<u32>,
}

#[derive(Serialize)]
struct PodTemplate {
    metadata: PodMeta,
    spec: PodSpec,
}

#[derive(Serialize)]
struct PodMeta {
    labels: IndexMap<String, String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    annotations: IndexMap<String, String>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct PodSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    restart_policy: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    #[serde(rename = "hostPID", skip_serializing_if = "Option::is_none")]
    host_pid: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    termination_grace_period_seconds: Option<u64>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    node_selector: IndexMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    topology_spread_constraints: Vec<Spread>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    init_containers: Vec<Container>,
    containers: Vec<Container>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volumes: Vec<PodVolume>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Spread {
    max_skew: u32,
    topology_key: &'static str,
    when_unsatisfiable: &'static str,
    label_selector: Selector,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Container {
    name: String,
    image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_dir: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<ContainerPort>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    env_from: Vec<EnvFrom>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    env: Vec<EnvVar>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resources: Option<ResourceReqs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    liveness_probe: Option<K8sProbe>,
    #[serde(skip_serializing_if = "Option::is_none")]
    readiness_probe: Option<K8sProbe>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volume_mounts: Vec<VolumeMount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    security_context: Option<SecurityContext>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ContainerPort {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    container_port: u16,
    protocol: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvFrom {
    config_map_ref: NameRef,
}

#[derive(Serialize)]
struct NameRef {
    name: String,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct EnvVar {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_from: Option<ValueFrom>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
enum ValueFrom {
    SecretKeyRef(KeyRef),
    ConfigMapKeyRef(KeyRef),
}

#[derive(Serialize, Clone, PartialEq)]
struct KeyRef {
    name: String,
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    optional: Option<bool>,
}

#[derive(Serialize, Default)]
struct ResourceReqs {
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    requests: IndexMap<&'static str, String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    limits: IndexMap<&'static str, String>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct K8sProbe {
    #[serde(skip_serializing_if = "Option::is_none")]
    http_get: Option<HttpGet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcp_socket: Option<TcpSocket>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exec: Option<Exec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    initial_delay_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    period_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_threshold: Option<u32>,
}

#[derive(Serialize)]
struct HttpGet {
    path: String,
    port: u16,
}

#[derive(Serialize)]
struct TcpSocket {
    port: u16,
}

#[derive(Serialize)]
struct Exec {
    command: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VolumeMount {
    name: String,
    mount_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    read_only: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PodVolume {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    persistent_volume_claim: Option<ClaimRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    empty_dir: Option<EmptyDir>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<SecretVolume>,
    #[serde(skip_serializing_if = "Option::is_none")]
    config_map: Option<NameRef>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClaimRef {
    claim_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EmptyDir {
    #[serde(skip_serializing_if = "Option::is_none")]
    medium: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_limit: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecretVolume {
    secret_name: String,
    items: Vec<KeyToPath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    optional: Option<bool>,
}

#[derive(Serialize)]
struct KeyToPath {
    key: String,
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<u32>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct SecurityContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    run_as_user: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_as_group: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    read_only_root_filesystem: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_privilege_escalation: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    capabilities: Option<Capabilities>,
}

#[derive(Serialize, Default)]
struct Capabilities {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    drop: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceSpec {
    #[serde(rename = "clusterIP", skip_serializing_if = "Option::is_none")]
    cluster_ip: Option<&'static str>,
    selector: IndexMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<ServicePort>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServicePort {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    port: u16,
    target_port: u16,
    protocol: &'static str,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct PvcSpec {
    access_modes: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    storage_class_name: Option<String>,
    resources: PvcResources,
}

#[derive(Serialize, Clone)]
struct PvcResources {
    requests: IndexMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HpaSpec {
    scale_target_ref: TargetRef,
    min_replicas: u32,
    max_replicas: u32,
    metrics: Vec<HpaMetric>,
    #[serde(skip_serializing_if = "Option::is_none")]
    behavior: Option<HpaBehavior>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetRef {
    api_version: &'static str,
    kind: &'static str,
    name: String,
}

#[derive(Serialize)]
struct HpaMetric {
    #[serde(rename = "type")]
    kind: &'static str,
    resource: HpaResource,
}

#[derive(Serialize)]
struct HpaResource {
    name: &'static str,
    target: HpaTarget,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HpaTarget {
    #[serde(rename = "type")]
    kind: &'static str,
    average_utilization: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HpaBehavior {
    #[serde(skip_serializing_if = "Option::is_none")]
    scale_up: Option<HpaRules>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scale_down: Option<HpaRules>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HpaRules {
    #[serde(skip_serializing_if = "Option::is_none")]
    stabilization_window_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    select_policy: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    policies: Vec<HpaPolicy>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HpaPolicy {
    #[serde(rename = "type")]
    kind: &'static str,
    value: u32,
    period_seconds: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IngressSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    ingress_class_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tls: Vec<IngressTls>,
    rules: Vec<IngressRule>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct IngressTls {
    hosts: Vec<String>,
    secret_name: String,
}

#[derive(Serialize)]
struct IngressRule {
    host: String,
    http: IngressHttp,
}

#[derive(Serialize)]
struct IngressHttp {
    paths: Vec<IngressPath>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct IngressPath {
    path: String,
    path_type: &'static str,
    backend: IngressBackend,
}

#[derive(Serialize, Clone)]
struct IngressBackend {
    service: BackendService,
}

#[derive(Serialize, Clone)]
struct BackendService {
    name: String,
    port: BackendPort,
}

#[derive(Serialize, Clone)]
struct BackendPort {
    number: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Kustomization {
    api_version: &'static str,
    kind: &'static str,
    resources: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    config_map_generator: Vec<ConfigMapGenerator>,
}

/// A ConfigMap kustomize builds from files next to the kustomization (the backup scripts),
/// so that they stay files that shellcheck and the tests read.
#[derive(Serialize)]
struct ConfigMapGenerator {
    name: String,
    namespace: String,
    files: Vec<String>,
}

// ---------------------------------------------------------------------------------------
// The builder
// ---------------------------------------------------------------------------------------

/// The apply order of kinds (what `kubectl apply -k` would do anyway, written out).
const KIND_ORDER: &[&str] = &[
    "Namespace",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Service",
    "Deployment",
    "StatefulSet",
    "Job",
    "HorizontalPodAutoscaler",
    "Ingress",
    "CronJob",
];

struct Builder<'a> {
    stack: &'a Stack,
    opts: &'a EmitOptions,
    ns: String,
    diags: Vec<Diagnostic>,
    /// Params whose deploy-time variable the manifests cannot read (warned once each).
    warned_params: BTreeSet<String>,
    /// Params without a compile-time value that `env` values read from the params ConfigMap.
    deploy_params: BTreeSet<String>,
    /// Secrets the manifests refer to.
    used_secrets: BTreeSet<String>,
    /// (kind, name, YAML)
    objects: Vec<(&'static str, String, String)>,
    /// Files other than manifests (the backup scripts), and the ConfigMaps made of them.
    extra_files: Vec<OutputFile>,
    generators: Vec<ConfigMapGenerator>,
    /// `volume_writers()`, computed once: every workload looks its volumes up in it.
    writers: BTreeMap<String, u32>,
}

impl<'a> Builder<'a> {
    fn new(stack: &'a Stack, opts: &'a EmitOptions) -> Self {
        Builder {
            stack,
            opts,
            ns: namespace(stack),
            diags: Vec::new(),
            warned_params: BTreeSet::new(),
            deploy_params: BTreeSet::new(),
            used_secrets: BTreeSet::new(),
            objects: Vec::new(),
            extra_files: Vec::new(),
            generators: Vec::new(),
            writers: volume_writers(stack),
        }
    }

    fn warn(&mut self, origin: Origin, message: impl Into<String>, label: &str, help: impl Into<String>) {
        self.diags.push(
            Diagnostic::warning(Code::TargetApproximation, message)
                .at(origin_span(origin), label.to_string())
                .help(help),
        );
    }

    fn run(mut self) -> (Vec<OutputFile>, Vec<Diagnostic>) {
        self.namespace_object();
        self.configmaps();
        self.volumes();
        let stack = self.stack;
        for svc in stack.services.values() {
            self.service(svc);
        }
        self.ingresses();
        self.backups();
        self.stack_warnings();
        self.name_clashes();
        let mut files = Vec::new();
        let mut order: Vec<(usize, String, String)> = Vec::new();
        for (kind, name, yaml) in std::mem::take(&mut self.objects) {
            let file = format!("{}-{name}.yaml", kind.to_ascii_lowercase());
            let rank = KIND_ORDER.iter().position(|k| *k == kind).unwrap_or(KIND_ORDER.len());
            order.push((rank, file.clone(), name));
            files.push(OutputFile::new(format!("{DIR}/{file}"), yaml));
        }
        order.sort();
        let k = Kustomization {
            api_version: "kustomize.config.k8s.io/v1beta1",
            kind: "Kustomization",
            resources: order.into_iter().map(|(_, f, _)| f).collect(),
            config_map_generator: std::mem::take(&mut self.generators),
        };
        files.push(OutputFile::new(
            format!("{DIR}/kustomization.yaml"),
            format!("{}{}", header("#", self.stack), super::yaml(&k)),
        ));
        if let Some(script) = self.secrets_script() {
            files.push(OutputFile { executable: true, ..OutputFile::new(format!("{DIR}/{SECRETS_SCRIPT}"), script) });
        }
        files.append(&mut self.extra_files);
        files.sort_by(|a, b| a.path.cmp(&b.path));
        // Labels are cleaned for every object that carries them: say it once.
        let mut seen = std::collections::HashSet::new();
        let diags = self.diags.into_iter().filter(|d| seen.insert(d.clone())).collect();
        (files, diags)
    }

    /// Objects of one kind share one namespace: an env-group, a backup's scripts and the
    /// params are all ConfigMaps, a volume and a backup's directory both claims.
    fn name_clashes(&mut self) {
        let mut seen: BTreeSet<(&str, String)> = BTreeSet::new();
        let mut clashes = Vec::new();
        let generated = self.generators.iter().map(|g| ("ConfigMap", g.name.clone()));
        let params = (!self.deploy_params.is_empty()).then(|| ("ConfigMap", params_configmap(self.stack)));
        let all = self.objects.iter().map(|(k, n, _)| (*k, n.clone())).chain(generated).chain(params);
        for (kind, name) in all {
            if !seen.insert((kind, name.clone())) {
                clashes.push(format!("{kind} `{name}`"));
            }
        }
        for what in clashes {
            self.diags.push(
                Diagnostic::error(
                    Code::TargetCannotExpress,
                    format!("the k8s target would write two objects named {what}"),
                )
                .help(
                    "env-groups, backups (`backup-NAME`) and the params (`STACK-params`) are ConfigMaps, volumes and \
                     backup directories (`backup-NAME`) claims: rename one of them",
                ),
            );
        }
    }

    fn push<S: Serialize>(&mut self, obj: Object<S>) {
        let yaml = format!("{}{}", header("#", self.stack), super::yaml(&obj));
        self.objects.push((obj.kind, obj.metadata.name.clone(), yaml));
    }

    // -- values ---------------------------------------------------------------------------

    /// A text outside `env` values: params by their compile-time value.
    fn text(&mut self, t: &Text, origin: Origin, what: &str) -> String {
        for p in &t.0 {
            if let Piece::Param(name) = p {
                self.note_param(name, origin, what);
            }
        }
        self.stack.compile_time(t)
    }

    /// A duration or size by its compile-time value, its params recorded as used.
    fn amount(&mut self, a: &Option<Amount>, what: &str) -> Option<u64> {
        let a = a.as_ref()?;
        for name in a.params() {
            self.note_param(name, a.origin, what);
        }
        a.value
    }

    /// Records the use of a param by its compile-time value: W0501 once when it has `env=`
    /// (the manifests cannot read it), E0501 when it has no value at all.
    fn note_param(&mut self, name: &str, origin: Origin, what: &str) {
        let Some(p) = self.stack.params.get(name) else { return };
        if self.stack.param_value(name).is_none() {
            self.diags.push(
                Diagnostic::error(
                    Code::TargetCannotExpress,
                    format!("param `{name}` has no value for the k8s target ({what})"),
                )
                .at(origin_span(origin), "used here")
                .help(
                    "Kubernetes manifests cannot read the deploy environment: give the param a `default=`, \
                     or use it only in `env` values (read at deploy time by k8s/create-secrets.sh)",
                ),
            );
            return;
        }
        if let Some(var) = &p.env {
            if self.warned_params.insert(name.to_string()) {
                let value = self.stack.param_value(name).unwrap_or_default();
                let origin = p.origin;
                self.warn(
                    origin,
                    format!("k8s manifests cannot read `{var}` at deploy time: param `{name}` is `{value}` there"),
                    "read at deploy time by other targets only",
                    "change the default (or the environment's param) to change the manifests",
                );
            }
        }
    }

    /// The key reference of a secret, recorded as used.
    fn secret_ref(&mut self, name: &str) -> Option<KeyRef> {
        let s = self.stack.secrets.get(name)?;
        self.used_secrets.insert(name.to_string());
        Some(KeyRef { name: secret_object(self.stack, s), key: secret_key(s), optional: s.optional.then_some(true) })
    }

    fn param_ref(&mut self, name: &str) -> Option<KeyRef> {
        let var = self.stack.params.get(name)?.env.clone()?;
        self.deploy_params.insert(name.to_string());
        Some(KeyRef { name: params_configmap(self.stack), key: var, optional: None })
    }

    /// The container's `env`: variables that hold secrets (and params without a value)
    /// embedded in other values come first, so that `$(VAR)` can expand them.
    fn env(&mut self, svc: &Service) -> Vec<EnvVar> {
        self.env_list(&svc.env, &svc.env_origins, svc.origin)
    }

    fn env_list(
        &mut self,
        vars: &IndexMap<String, EnvValue>,
        origins: &IndexMap<String, Origin>,
        origin: Origin,
    ) -> Vec<EnvVar> {
        // The helper variable of each embedded secret or value-less param, in first-use order.
        #[derive(PartialEq, Clone)]
        enum Src {
            Secret(String),
            Param(String),
        }
        let mut helpers: IndexMap<String, (Src, KeyRef)> = IndexMap::new();
        let mut helper_of: BTreeMap<String, String> = BTreeMap::new();
        let stack = self.stack;
        let whole_ref = |v: &EnvValue| -> Option<Src> {
            match v {
                EnvValue::Secret(s) => Some(Src::Secret(s.clone())),
                EnvValue::Text(t) => match t.0.as_slice() {
                    [Piece::Param(p)] if stack.param_value(p).is_none() => Some(Src::Param(p.clone())),
                    _ => None,
                },
            }
        };
        for (var, value) in vars {
            let EnvValue::Text(t) = value else { continue };
            if whole_ref(value).is_some() {
                continue;
            }
            for piece in &t.0 {
                let (src, key, base) = match piece {
                    Piece::Secret(s) => {
                        let Some(r) = self.secret_ref(s) else { continue };
                        let base = self.stack.secrets.get(s).map(|sec| match &sec.source {
                            SecretSource::Env(v) => v.clone(),
                            _ => s.to_ascii_uppercase().replace('-', "_"),
                        });
                        (Src::Secret(s.clone()), r, base.unwrap_or_default())
                    }
                    Piece::Param(p) if self.stack.param_value(p).is_none() => {
                        let Some(r) = self.param_ref(p) else {
                            self.note_param(p, origins.get(var).copied().unwrap_or(origin), "in env");
                            continue;
                        };
                        let base = r.key.clone();
                        (Src::Param(p.clone()), r, base)
                    }
                    _ => continue,
                };
                let id = match &src {
                    Src::Secret(s) => format!("s:{s}"),
                    Src::Param(p) => format!("p:{p}"),
                };
                if helper_of.contains_key(&id) {
                    continue;
                }
                // A user variable of the same name is reused when it is the same value, and
                // avoided otherwise.
                let name = match vars.get(&base) {
                    Some(v) if whole_ref(v).as_ref() == Some(&src) => base,
                    Some(_) => format!("STACKC_{base}"),
                    None => base,
                };
                helper_of.insert(id, name.clone());
                helpers.insert(name, (src, key));
            }
        }
        let mut out: Vec<EnvVar> = helpers
            .iter()
            .map(|(name, (src, key))| EnvVar {
                name: name.clone(),
                value: None,
                value_from: Some(match src {
                    Src::Secret(_) => ValueFrom::SecretKeyRef(key.clone()),
                    Src::Param(_) => ValueFrom::ConfigMapKeyRef(key.clone()),
                }),
            })
            .collect();
        for (var, value) in vars {
            if helpers.contains_key(var) {
                continue;
            }
            let origin = origins.get(var).copied().unwrap_or(origin);
            let entry = match whole_ref(value) {
                Some(Src::Secret(s)) => self.secret_ref(&s).map(ValueFrom::SecretKeyRef),
                Some(Src::Param(p)) => self.param_ref(&p).map(ValueFrom::ConfigMapKeyRef),
                None => None,
            };
            if let Some(vf) = entry {
                out.push(EnvVar { name: var.clone(), value: None, value_from: Some(vf) });
                continue;
            }
            let EnvValue::Text(t) = value else { continue };
            let mut s = String::new();
            for piece in &t.0 {
                match piece {
                    Piece::Lit(l) => s.push_str(&escape_dollar(l)),
                    Piece::Param(p) if self.stack.param_value(p).is_none() => {
                        if let Some(h) = helper_of.get(&format!("p:{p}")) {
                            s.push_str(&format!("$({h})"));
                        }
                    }
                    Piece::Param(p) => {
                        self.note_param(p, origin, "in env");
                        s.push_str(&escape_dollar(&self.stack.param_value(p).unwrap_or_default()));
                    }
                    Piece::Secret(sec) => {
                        if let Some(h) = helper_of.get(&format!("s:{sec}")) {
                            s.push_str(&format!("$({h})"));
                        }
                    }
                }
            }
            out.push(EnvVar { name: var.clone(), value: Some(s), value_from: None });
        }
        out
    }

    // -- labels ---------------------------------------------------------------------------

    /// Labels on every object: the stack's, then stackc's own.
    fn stack_labels(&mut self) -> IndexMap<String, String> {
        let mut out = IndexMap::new();
        let labels: Vec<(String, Text)> = self.stack.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (k, v) in labels {
            let v = self.text(&v, Origin::default(), "a label");
            out.insert(k, v);
        }
        out.entry("app.kubernetes.io/part-of".to_string()).or_insert_with(|| self.stack.name.clone());
        out.insert("app.kubernetes.io/managed-by".to_string(), "stackc".to_string());
        self.clean_labels(out, self.stack.services.first().map(|(_, s)| s.origin).unwrap_or_default())
    }

    /// Drops label values Kubernetes rejects, with a warning.
    fn clean_labels(&mut self, labels: IndexMap<String, String>, origin: Origin) -> IndexMap<String, String> {
        let mut out = IndexMap::new();
        for (k, v) in labels {
            if valid_label_value(&v) {
                out.insert(k, v);
            } else {
                self.warn(
                    origin,
                    format!("label `{k}={v}` is not a valid Kubernetes label value: it is left out of the manifests"),
                    "here",
                    "a label value has at most 63 letters, digits, `-`, `_` or `.`, and starts and ends with a letter or digit",
                );
            }
        }
        out
    }

    fn meta(&mut self, name: &str, extra: &[(&str, &str)]) -> Meta {
        let mut labels = self.stack_labels();
        for (k, v) in extra {
            labels.insert(k.to_string(), v.to_string());
        }
        Meta { name: name.to_string(), namespace: Some(self.ns.clone()), labels, annotations: IndexMap::new() }
    }

    // -- objects --------------------------------------------------------------------------

    fn namespace_object(&mut self) {
        let mut labels = self.stack_labels();
        for (k, v) in &self.stack.targets.namespace_labels {
            labels.insert(k.clone(), self.stack.compile_time(&Text::from_default(v)));
        }
        let origin = self.stack.services.first().map(|(_, s)| s.origin).unwrap_or_default();
        let labels = self.clean_labels(labels, origin);
        let ns = self.ns.clone();
        let mut annotations = IndexMap::new();
        if let Some(d) = &self.stack.description {
            annotations.insert("description".to_string(), self.text(&Text::from_default(d), origin, "`description`"));
        }
        self.push(Object::<Empty> {
            api_version: "v1",
            kind: "Namespace",
            metadata: Meta { name: ns, namespace: None, labels, annotations },
            spec: None,
            data: None,
        });
    }

    fn configmaps(&mut self) {
        let groups: Vec<(String, IndexMap<String, Text>)> =
            self.stack.env_groups.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (name, vars) in groups {
            let origin = self.stack.services.first().map(|(_, s)| s.origin).unwrap_or_default();
            let data: IndexMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.clone(), self.text(v, origin, &format!("in env-group `{name}`"))))
                .collect();
            let metadata = self.meta(&name, &[]);
            self.push(Object::<Empty> { api_version: "v1", kind: "ConfigMap", metadata, spec: None, data: Some(data) });
        }
    }

    fn claim_spec(&mut self, vol: &Volume, shared: bool) -> PvcSpec {
        let size = match vol.size_bytes {
            Some(b) => b,
            None => {
                self.warn(
                    vol.origin,
                    format!(
                        "volume `{}` has no size: its Kubernetes claim asks for {}",
                        vol.name,
                        bytes(DEFAULT_CLAIM_BYTES)
                    ),
                    "no `size=`",
                    "give the volume a `size=` (for example `size=\"10Gi\"`)",
                );
                DEFAULT_CLAIM_BYTES
            }
        };
        let mut requests = IndexMap::new();
        requests.insert("storage", bytes(size));
        PvcSpec {
            access_modes: vec![if shared { "ReadWriteMany" } else { "ReadWriteOnce" }],
            storage_class_name: vol
                .class
                .as_ref()
                .map(|c| self.text(&Text::from_default(c), vol.origin, "a volume's `class=`"))
                .or_else(|| option(self.stack, "storage-class")),
            resources: PvcResources { requests },
        }
    }

    /// A claim per named volume that non-stateful services mount.
    fn volumes(&mut self) {
        let writers = self.writers.clone();
        let vols: Vec<Volume> = self.stack.volumes.values().cloned().collect();
        for vol in vols {
            let Some(&pods) = writers.get(&vol.name) else { continue };
            if vol.external {
                continue;
            }
            let shared = pods > 1;
            if shared {
                self.warn(
                    vol.origin,
                    format!(
                        "volume `{}` is mounted by up to {pods} pods at once: its claim asks for ReadWriteMany, \
                         which needs a storage class that supports it (NFS, CephFS, EFS, ...)",
                        vol.name
                    ),
                    "shared by several pods",
                    "give the volume a `class=` that supports ReadWriteMany, or mount it from one replica only",
                );
            }
            let spec = self.claim_spec(&vol, shared);
            let metadata = self.meta(&vol.name, &[]);
            self.push(Object {
                api_version: "v1",
                kind: "PersistentVolumeClaim",
                metadata,
                spec: Some(spec),
                data: None,
            });
        }
    }

    fn probe(&mut self, p: &Probe, origin: Origin) -> K8sProbe {
        let mut out = K8sProbe {
            initial_delay_seconds: self.amount(&p.start_period, "a health check").map(seconds),
            period_seconds: self.amount(&p.interval, "a health check").map(|ms| seconds(ms).max(1)),
            timeout_seconds: self.amount(&p.timeout, "a health check").map(|ms| seconds(ms).max(1)),
            failure_threshold: p.retries,
            ..K8sProbe::default()
        };
        match &p.check {
            Check::Http { path, port } => {
                out.http_get = Some(HttpGet { path: self.text(path, origin, "a health check"), port: *port })
            }
            Check::Tcp(port) => out.tcp_socket = Some(TcpSocket { port: *port }),
            // Probes are not expanded by Kubernetes, and `cmd=` is shell syntax (as in compose).
            Check::Cmd(c) => {
                out.exec =
                    Some(Exec { command: vec!["sh".into(), "-c".into(), self.text(c, origin, "a health check")] })
            }
        }
        out
    }

    fn resources(&mut self, svc: &Service) -> Option<ResourceReqs> {
        let r = &svc.resources;
        let mut out = ResourceReqs::default();
        if let Some(m) = r.reserve_cpus_milli {
            out.requests.insert("cpu", cpu(m));
        }
        if let Some(b) = self.amount(&r.reserve_memory, "resources") {
            out.requests.insert("memory", bytes(b));
        }
        if let Some(m) = r.cpus_milli {
            out.limits.insert("cpu", cpu(m));
        }
        if let Some(b) = self.amount(&r.memory, "resources") {
            out.limits.insert("memory", bytes(b));
        }
        if r.pids.is_some() {
            self.warn(
                svc.origin_of("resources"),
                format!("service `{}`: `resources pids=` has no per-container setting in Kubernetes", svc.name),
                "here",
                "the kubelet's `podPidsLimit` sets it for every pod of a node",
            );
        }
        (!out.requests.is_empty() || !out.limits.is_empty()).then_some(out)
    }

    fn security(&mut self, svc: &Service) -> Option<SecurityContext> {
        let mut sc = SecurityContext::default();
        let mut any = false;
        if let Some(u) = &svc.user {
            let u = self.text(u, svc.origin_of("user"), "`user`");
            let (user, group) = u.split_once(':').map_or((u.as_str(), None), |(a, b)| (a, Some(b)));
            match (user.parse::<u64>(), group.map(str::parse::<u64>)) {
                (Ok(uid), None | Some(Ok(_))) => {
                    sc.run_as_user = Some(uid);
                    sc.run_as_group = group.and_then(|g| g.parse().ok());
                    any = true;
                }
                _ => self.warn(
                    svc.origin_of("user"),
                    format!("service `{}`: Kubernetes runs containers as a numeric user only, not `{u}`", svc.name),
                    "here",
                    "write the numeric id (`user \"1000:1000\"`)",
                ),
            }
        }
        if svc.read_only {
            sc.read_only_root_filesystem = Some(true);
            any = true;
        }
        for opt in &svc.security_opt {
            let o = self.text(opt, svc.origin_of("security-opt"), "`security-opt`");
            if o == "no-new-privileges:true" || o == "no-new-privileges" {
                sc.allow_privilege_escalation = Some(false);
                any = true;
            } else {
                self.warn(
                    svc.origin_of("security-opt"),
                    format!("service `{}`: `security-opt \"{o}\"` has no Kubernetes equivalent here", svc.name),
                    "here",
                    "only `no-new-privileges:true` is expressed (allowPrivilegeEscalation: false)",
                );
            }
        }
        let add: Vec<String> = svc.cap_add.iter().map(|c| self.stack.compile_time(c)).collect();
        let drop: Vec<String> = svc.cap_drop.iter().map(|c| self.stack.compile_time(c)).collect();
        if !add.is_empty() || !drop.is_empty() {
            sc.capabilities = Some(Capabilities { add, drop });
            any = true;
        }
        any.then_some(sc)
    }

    /// `update` as a rolling update: `order="stop-first"` is no surge (the old pod goes
    /// before its replacement starts), `"start-first"` Kubernetes' default surge.
    fn rolling_update(&mut self, svc: &Service, u: &UpdateConfig) -> Option<Strategy> {
        let stop_first = u.order.as_deref() == Some("stop-first");
        let max_surge = u.max_surge.or(stop_first.then_some(0));
        let mut max_unavailable = u.max_unavailable.or((max_surge == Some(0)).then_some(1));
        if max_surge == Some(0) && max_unavailable == Some(0) {
            self.warn(
                svc.origin_of("update"),
                format!(
                    "service `{}`: an update with neither a surge nor an unavailable replica cannot progress; \
                     Kubernetes gets maxUnavailable 1",
                    svc.name
                ),
                "update",
                "allow `max-surge=1` (start-first) or `max-unavailable=1`",
            );
            max_unavailable = Some(1);
        }
        (max_surge.is_some() || max_unavailable.is_some()).then_some(Strategy {
            kind: "RollingUpdate",
            rolling_update: Some(RollingUpdate { max_surge, max_unavailable }),
        })
    }

    fn service(&mut self, svc: &Service) {
        let name = svc.name.clone();
        let mut selector = IndexMap::new();
        selector.insert(SELECTOR_KEY.to_string(), name.clone());

        // Pod labels: the stack's, the service's, the scrape job, and the selector (last, so
        // that no label of the stack can detach the pods from their workload).
        let mut pod_labels = self.stack_labels();
        let svc_labels: Vec<(String, Text)> = svc.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (k, v) in svc_labels {
            let v = self.text(&v, svc.origin, "a label");
            pod_labels.insert(k, v);
        }
        let mut annotations = IndexMap::new();
        if let Some(m) = &svc.metrics {
            pod_labels.insert("job".into(), m.job.clone());
            annotations.insert("prometheus.io/scrape".to_string(), "true".to_string());
            let path = self.text(&Text::from_default(&m.path), svc.origin_of("metrics"), "`metrics path=`");
            annotations.insert("prometheus.io/path".to_string(), path);
            annotations.insert("prometheus.io/port".to_string(), m.port.to_string());
            if m.scheme != "http" {
                annotations.insert("prometheus.io/scheme".to_string(), m.scheme.clone());
            }
            if m.interval_ms.is_some() {
                self.warn(
                    svc.origin_of("metrics"),
                    "the scrape annotations of a pod have no interval: `metrics interval=` is not expressed on Kubernetes",
                    "not expressed on Kubernetes",
                    "the cluster's scrape configuration sets the interval (a PodMonitor's `interval` with the operator)",
                );
            }
        }
        pod_labels.insert(SELECTOR_KEY.to_string(), name.clone());
        let pod_labels = self.clean_labels(pod_labels, svc.origin);

        let image = match &svc.image {
            Some(i) => self.text(i, svc.origin, "the image"),
            None => {
                self.diags.push(
                    Diagnostic::error(
                        Code::TargetCannotExpress,
                        format!("service `{name}` has no `image`: Kubernetes pulls images and never builds them"),
                    )
                    .at(origin_span(svc.origin), "only `build` here")
                    .help("add `image \"registry/name:tag\"` next to `build`: compose builds and tags it, Kubernetes pulls it"),
                );
                return;
            }
        };
        let dollar = |b: &mut Self, ts: &Option<Vec<Text>>, what: &str| -> Option<Vec<String>> {
            ts.as_ref().map(|v| v.iter().map(|t| escape_dollar(&b.text(t, svc.origin, what))).collect())
        };
        let command = dollar(self, &svc.entrypoint, "`entrypoint`");
        let args = dollar(self, &svc.command, "`command`");

        let mut container = Container {
            name: name.clone(),
            image,
            command,
            args,
            working_dir: svc.working_dir.as_ref().map(|w| self.stack.compile_time(w)),
            ..Container::default()
        };
        for p in &svc.ports {
            container.ports.push(ContainerPort {
                name: p.name.clone().filter(|n| valid_port_name(n)),
                container_port: p.port,
                protocol: protocol(p.protocol),
            });
        }
        container.env_from =
            svc.env_from.iter().map(|g| EnvFrom { config_map_ref: NameRef { name: g.clone() } }).collect();
        container.env = self.env(svc);
        container.resources = self.resources(svc);
        if let Some(h) = &svc.health {
            container.liveness_probe = Some(self.probe(h, svc.origin_of("health")));
        }
        if let Some(r) = svc.readiness.as_ref().or(svc.health.as_ref()) {
            let at = svc.origin_of(if svc.readiness.is_some() { "readiness" } else { "health" });
            container.readiness_probe = Some(self.probe(r, at));
        }
        container.security_context = self.security(svc);

        // Volumes and mounts.
        let mut pod = PodSpec::default();
        let mut claim_templates = Vec::new();
        let mut mounted: BTreeSet<String> = BTreeSet::new();
        for m in &svc.mounts {
            let target = self.text(&m.target, svc.origin_of("mount"), "a mount target");
            match &m.source {
                MountSource::Volume(v) => {
                    if mounted.insert(v.clone()) {
                        let Some(vol) = self.stack.volumes.get(v).cloned() else { continue };
                        if svc.stateful && !vol.external {
                            let spec = self.claim_spec(&vol, false);
                            claim_templates.push(Object {
                                api_version: "v1",
                                kind: "PersistentVolumeClaim",
                                metadata: Meta { name: v.clone(), ..Meta::default() },
                                spec: Some(spec),
                                data: None,
                            });
                        } else {
                            pod.volumes.push(PodVolume {
                                name: v.clone(),
                                persistent_volume_claim: Some(ClaimRef { claim_name: v.clone() }),
                                empty_dir: None,
                                secret: None,
                                config_map: None,
                            });
                        }
                    }
                    container.volume_mounts.push(VolumeMount {
                        name: v.clone(),
                        mount_path: target,
                        sub_path: None,
                        read_only: m.read_only.then_some(true),
                    });
                    if m.propagation.is_some() {
                        self.warn(
                            svc.origin_of("mount"),
                            format!("service `{name}`: mount propagation is not expressed for Kubernetes"),
                            "here",
                            "propagation matters for host paths, which Kubernetes pods do not mount",
                        );
                    }
                }
                MountSource::Bind(path) => {
                    let path = self.stack.compile_time(path);
                    self.warn(
                        svc.origin_of("mount"),
                        format!(
                            "service `{name}`: the host path `{path}` mounted at `{target}` has no Kubernetes meaning; \
                             it is left out of the manifests"
                        ),
                        "mounts a host path",
                        "use a named volume, or bake the files into the image (a ConfigMap for configuration)",
                    );
                }
            }
        }
        for (i, t) in svc.tmpfs.iter().enumerate() {
            let vname = format!("tmpfs-{}", i + 1);
            pod.volumes.push(PodVolume {
                name: vname.clone(),
                persistent_volume_claim: None,
                empty_dir: Some(EmptyDir { medium: Some("Memory"), size_limit: t.size_bytes.map(bytes) }),
                secret: None,
                config_map: None,
            });
            let path = self.stack.compile_time(&t.path);
            container.volume_mounts.push(VolumeMount {
                name: vname,
                mount_path: path,
                sub_path: None,
                read_only: None,
            });
        }
        if let Some(b) = self.amount(&svc.shm_size, "shm-size") {
            pod.volumes.push(PodVolume {
                name: "dshm".into(),
                persistent_volume_claim: None,
                empty_dir: Some(EmptyDir { medium: Some("Memory"), size_limit: Some(bytes(b)) }),
                secret: None,
                config_map: None,
            });
            container.volume_mounts.push(VolumeMount {
                name: "dshm".into(),
                mount_path: "/dev/shm".into(),
                sub_path: None,
                read_only: None,
            });
        }
        for f in &svc.secret_files {
            let Some(r) = self.secret_ref(&f.secret) else { continue };
            let vname = format!("secret-{}", f.secret);
            let target = match &f.target {
                Some(t) => self.text(t, svc.origin, "a secret's target"),
                None => format!("/run/secrets/{}", f.secret),
            };
            pod.volumes.push(PodVolume {
                name: vname.clone(),
                persistent_volume_claim: None,
                empty_dir: None,
                secret: Some(SecretVolume {
                    secret_name: r.name,
                    items: vec![KeyToPath { key: r.key, path: f.secret.clone(), mode: f.mode }],
                    optional: r.optional,
                }),
                config_map: None,
            });
            // subPath puts the one file at the path the image expects, next to the image's own files.
            container.volume_mounts.push(VolumeMount {
                name: vname,
                mount_path: target,
                sub_path: Some(f.secret.clone()),
                read_only: Some(true),
            });
        }

        // Pod settings.
        pod.hostname = svc.hostname.as_ref().map(|h| self.stack.compile_time(h));
        pod.host_pid = (svc.pid.as_deref() == Some("host")).then_some(true);
        pod.termination_grace_period_seconds = self.amount(&svc.stop_grace_period, "stop-grace-period").map(seconds);
        if let Some(p) = &svc.platform {
            let p = self.stack.compile_time(p);
            let mut parts = p.split('/');
            if let Some(os) = parts.next().filter(|s| !s.is_empty()) {
                pod.node_selector.insert("kubernetes.io/os".into(), os.to_string());
            }
            if let Some(arch) = parts.next().filter(|s| !s.is_empty()) {
                pod.node_selector.insert("kubernetes.io/arch".into(), arch.to_string());
            }
        }
        if let Some(n) = svc.max_replicas_per_node {
            pod.topology_spread_constraints.push(Spread {
                max_skew: n,
                topology_key: "kubernetes.io/hostname",
                when_unsatisfiable: "DoNotSchedule",
                label_selector: Selector { match_labels: selector.clone() },
            });
            self.warn(
                svc.origin_of("placement"),
                format!(
                    "service `{name}`: `placement max-replicas-per-node={n}` becomes a topology spread with maxSkew {n}, \
                     which bounds the difference between nodes, not the count per node"
                ),
                "here",
                "the scheduler keeps replicas within that skew of each other across nodes",
            );
        }
        for (what, setting, present) in [("`init`", "init", svc.init), ("`ulimit`", "ulimit", !svc.ulimits.is_empty())]
        {
            if present {
                self.warn(
                    svc.origin_of(setting),
                    format!("service `{name}`: {what} has no Kubernetes pod setting; it is not expressed"),
                    "here",
                    "build it into the image (an init such as tini as entrypoint; limits in the runtime's configuration)",
                );
            }
        }
        self.swarm_settings(svc);
        if let Some(d) = svc.depends_on.first() {
            self.warn(
                d.origin,
                format!(
                    "service `{name}`: Kubernetes starts pods in no order; `depends-on` is not expressed \
                     (the pod restarts until what it needs answers, and its readiness probe keeps traffic away until then)"
                ),
                "start order",
                "make the program retry its connections at start-up",
            );
        }

        let one_shot = svc.restart.as_deref() == Some("no");
        let pod_meta = PodMeta { labels: pod_labels, annotations };
        let mut meta = self.meta(&name, &[(SELECTOR_KEY, &name)]);
        if let Some(d) = &svc.description {
            let d = self.text(&Text::from_default(d), svc.origin_of("description"), "`description`");
            meta.annotations.insert("description".into(), d);
        }
        if one_shot {
            // A job to completion (compose `restart: "no"`, `depends-on … completed=#true`):
            // its pod retries on failure, as a start order would otherwise have to.
            pod.restart_policy = Some("OnFailure");
            pod.containers.push(container);
            self.push(Object {
                api_version: "batch/v1",
                kind: "Job",
                metadata: meta,
                spec: Some(JobSpec { backoff_limit: 6, template: PodTemplate { metadata: pod_meta, spec: pod } }),
                data: None,
            });
        } else {
            pod.containers.push(container);
            let strategy = if svc.stateful {
                None
            } else if svc.mounts.iter().any(|m| match &m.source {
                MountSource::Volume(v) => self.writers.get(v).is_some_and(|n| *n <= 1),
                MountSource::Bind(_) => false,
            }) {
                // A ReadWriteOnce claim attaches to one node: a rolling update would start the
                // new pod while the old one holds the volume, and wait forever.
                Some(Strategy { kind: "Recreate", rolling_update: None })
            } else {
                svc.update.as_ref().and_then(|u| self.rolling_update(svc, u))
            };
            let spec = WorkloadSpec {
                // With an autoscaler the replica count is its: a count here would be reset on
                // every apply and then scaled again.
                replicas: if svc.autoscale.is_some() { None } else { Some(svc.replicas) },
                service_name: svc.stateful.then(|| name.clone()),
                selector: Selector { match_labels: selector.clone() },
                strategy,
                min_ready_seconds: svc.update.as_ref().and_then(|u| self.amount(&u.monitor, "update")).map(seconds),
                template: PodTemplate { metadata: pod_meta, spec: pod },
                volume_claim_templates: claim_templates,
            };
            let (api_version, kind) = if svc.stateful { ("apps/v1", "StatefulSet") } else { ("apps/v1", "Deployment") };
            self.push(Object { api_version, kind, metadata: meta, spec: Some(spec), data: None });
            self.autoscaler(svc, kind);
        }

        // The Service: ClusterIP on the container ports, so that the addresses the stack uses
        // (`postgres:5432`) are the same as in compose. A StatefulSet's is headless.
        if !svc.ports.is_empty() || svc.stateful {
            let named = svc.ports.len() > 1;
            let ports = svc
                .ports
                .iter()
                .map(|p| ServicePort {
                    name: named.then(|| {
                        p.name
                            .clone()
                            .filter(|n| valid_port_name(n))
                            .unwrap_or_else(|| format!("{}-{}", protocol(p.protocol).to_ascii_lowercase(), p.port))
                    }),
                    port: p.port,
                    target_port: p.port,
                    protocol: protocol(p.protocol),
                })
                .collect();
            let metadata = self.meta(&name, &[(SELECTOR_KEY, &name)]);
            self.push(Object {
                api_version: "v1",
                kind: "Service",
                metadata,
                spec: Some(ServiceSpec {
                    cluster_ip: svc.stateful.then_some("None"),
                    selector: selector.clone(),
                    ports,
                }),
                data: None,
            });
        }
        for p in &svc.publish {
            self.warn(
                p.origin,
                format!(
                    "service `{name}`: `publish {}` has no Kubernetes meaning; the port is reachable inside the cluster \
                     through the Service `{name}`",
                    p.host_port
                ),
                "host port",
                "expose HTTP through a `site` (an Ingress); for other protocols, add a LoadBalancer Service yourself",
            );
        }
    }

    /// Settings of compose (and swarm) that a pod has no field for. The messages do not name
    /// the service: a setting from `defaults` is one warning at the `defaults` node, however
    /// many services take it (identical diagnostics are merged).
    fn swarm_settings(&mut self, svc: &Service) {
        if svc.build.is_some() {
            self.warn(
                svc.origin_of("build"),
                "k8s cannot build images: `build` (its context=, dockerfile= and `arg`s) is not expressed; \
                 Kubernetes pulls `image`",
                "not built on Kubernetes",
                "build and push the image before applying the manifests (compose builds it with `docker compose build`)",
            );
        }
        if let Some(l) = &svc.logging {
            let mut set = vec![format!("driver=\"{}\"", l.driver)];
            set.extend(
                set_properties(&[
                    ("max-size=", l.max_size.is_some()),
                    ("max-file=", l.max_file.is_some()),
                    ("address=", l.address.is_some()),
                    ("tag=", l.tag.is_some()),
                ])
                .into_iter()
                .map(String::from),
            );
            self.warn(
                svc.origin_of("logging"),
                format!(
                    "cluster logging is not set per pod: `logging` ({}) is not expressed on Kubernetes",
                    set.join(", ")
                ),
                "not set per pod",
                "the kubelet rotates container logs (containerLogMaxSize, containerLogMaxFiles) and the cluster's log \
                 collector ships them",
            );
        }
        let restart: Vec<&str> = set_properties(&[
            ("max-attempts=", svc.restart_max_attempts.is_some()),
            ("delay=", svc.restart_delay.is_some()),
            ("window=", svc.restart_window.is_some()),
        ]);
        if !restart.is_empty() {
            self.warn(
                svc.origin_of("restart"),
                format!(
                    "Kubernetes restarts a pod's containers with its own back-off: `restart` {} is not expressed",
                    restart.join(", ")
                ),
                "not expressed on Kubernetes",
                "the kubelet retries with an exponential back-off (10s up to 5 minutes), without a limit",
            );
        }
        if let Some(u) = &svc.update {
            let lost: Vec<&str> = set_properties(&[
                ("parallelism=", u.parallelism.is_some()),
                ("delay=", u.delay.is_some()),
                ("failure-action=", u.failure_action.is_some()),
                ("max-failure-ratio=", u.max_failure_ratio.is_some()),
            ]);
            if !lost.is_empty() {
                self.warn(
                    svc.origin_of("update"),
                    format!(
                        "a Kubernetes rolling update has no batch size, pause or failure action: `update` {} \
                         (swarm settings) are not expressed",
                        lost.join(", ")
                    ),
                    "swarm only",
                    "max-surge=, max-unavailable=, order= and monitor= (minReadySeconds) are what a rolling update reads",
                );
            }
        }
        if svc.rollback.is_some() {
            self.warn(
                svc.origin_of("rollback"),
                "Kubernetes does not roll back a failed update by itself: `rollback` (a swarm setting) is not expressed",
                "swarm only",
                "roll back with `kubectl rollout undo`; progressDeadlineSeconds marks a stuck rollout as failed",
            );
        }
    }

    /// The HorizontalPodAutoscaler of an `autoscale` (autoscaling/v2).
    fn autoscaler(&mut self, svc: &Service, kind: &'static str) {
        let Some(a) = &svc.autoscale else { return };
        let mut metrics = Vec::new();
        for (name, pct) in [("cpu", a.cpu_percent), ("memory", a.memory_percent)] {
            if let Some(p) = pct {
                metrics.push(HpaMetric {
                    kind: "Resource",
                    resource: HpaResource { name, target: HpaTarget { kind: "Utilization", average_utilization: p } },
                });
            }
        }
        let rules = |dir: &str, window: Option<u64>, select: &Option<String>| -> Option<HpaRules> {
            let policies: Vec<HpaPolicy> = a
                .policies
                .iter()
                .filter(|p| p.direction == dir)
                .filter_map(|p| {
                    let (kind, value) = match (p.percent, p.pods) {
                        (Some(v), _) => ("Percent", v),
                        (None, Some(v)) => ("Pods", v),
                        (None, None) => return None,
                    };
                    Some(HpaPolicy { kind, value, period_seconds: seconds(p.period_ms) })
                })
                .collect();
            let select_policy = select.as_deref().map(|s| match s {
                "min" => "Min",
                "disabled" => "Disabled",
                _ => "Max",
            });
            // An explicit 0s window is kept: it says "no stabilisation" on purpose.
            let stabilization_window_seconds = window.map(|ms| ms / 1000);
            (stabilization_window_seconds.is_some() || select_policy.is_some() || !policies.is_empty())
                .then_some(HpaRules { stabilization_window_seconds, select_policy, policies })
        };
        let scale_up = rules("up", a.scale_up_window_ms, &a.scale_up_select);
        let scale_down = rules("down", a.scale_down_window_ms, &a.scale_down_select);
        let behavior = (scale_up.is_some() || scale_down.is_some()).then_some(HpaBehavior { scale_up, scale_down });
        let metadata = self.meta(&svc.name, &[(SELECTOR_KEY, &svc.name)]);
        self.push(Object {
            api_version: "autoscaling/v2",
            kind: "HorizontalPodAutoscaler",
            metadata,
            spec: Some(HpaSpec {
                scale_target_ref: TargetRef { api_version: "apps/v1", kind, name: svc.name.clone() },
                min_replicas: a.min,
                max_replicas: a.max,
                metrics,
                behavior,
            }),
            data: None,
        });
    }

    // -- sites ----------------------------------------------------------------------------

    /// One Ingress per site and set of route settings: ingress-nginx reads limits, timeouts
    /// and access rules from annotations of the whole Ingress, so routes that differ in them
    /// go into separate Ingresses of the same host (the controller merges them per host).
    fn ingresses(&mut self) {
        if self.stack.sites.is_empty() {
            return;
        }
        let class = option(self.stack, "ingress-class");
        let nginx = class.as_deref() == Some("nginx");
        let issuer = option(self.stack, "cluster-issuer");
        let shared_secret = option(self.stack, "tls-secret");
        let certs = self.stack.proxy.as_ref().map_or("letsencrypt", |p| p.tls.certificates.as_str()).to_string();
        let https = certs != "none";
        let stack = self.stack;
        // With one TLS secret for every site, one Ingress asks cert-manager for it (two
        // Certificates for one secret would fight), listing every host.
        let all_hosts: Vec<String> =
            stack.sites.iter().flat_map(|s| s.hosts.iter().map(|h| stack.compile_time(h))).collect();
        self.proxy_warnings(https);
        let mut issuer_done = false;
        let mut names: BTreeSet<String> = BTreeSet::new();
        for site in &stack.sites {
            let hosts: Vec<String> = site.hosts.iter().map(|h| self.text(h, site.origin, "a site's host")).collect();
            let Some(first) = hosts.first() else { continue };
            let mut base = ingress_name(first);
            while !names.insert(base.clone()) {
                base.push_str("-x");
            }
            self.site_warnings(site, nginx, https);
            self.zone_warnings(site, nginx);
            // Routes grouped by their annotations, in first-seen order.
            let mut groups: IndexMap<Vec<(String, String)>, Vec<IngressPath>> = IndexMap::new();
            for route in &site.routes {
                let Some((path, annotations)) = self.route(site, route, nginx) else { continue };
                groups.entry(annotations).or_default().push(path);
            }
            if groups.is_empty() {
                continue;
            }
            let secret = shared_secret.clone().unwrap_or_else(|| format!("{base}-tls"));
            if https && issuer.is_none() && shared_secret.is_none() && certs == "letsencrypt" {
                self.warn(
                    site.origin,
                    format!(
                        "no `targets > k8s cluster-issuer=`: the Ingress expects the TLS secret `{secret}` to exist \
                         (nothing in the cluster obtains the certificate)"
                    ),
                    "site",
                    "name cert-manager's ClusterIssuer with `cluster-issuer=`, or create the secret and name it with `tls-secret=`",
                );
            }
            for (i, (annotations, paths)) in groups.into_iter().enumerate() {
                let name = if i == 0 { base.clone() } else { format!("{base}-{}", i + 1) };
                let mut meta = self.meta(&name, &[]);
                for (k, v) in annotations {
                    meta.annotations.insert(k, v);
                }
                let mut tls = Vec::new();
                if https {
                    let mut tls_hosts = hosts.clone();
                    if i == 0 && !issuer_done && certs == "letsencrypt" {
                        if let Some(iss) = &issuer {
                            meta.annotations.insert("cert-manager.io/cluster-issuer".into(), iss.clone());
                            issuer_done = shared_secret.is_some();
                            if shared_secret.is_some() {
                                tls_hosts = all_hosts.clone();
                            }
                        }
                    }
                    tls.push(IngressTls { hosts: tls_hosts, secret_name: secret.clone() });
                }
                let rules = hosts
                    .iter()
                    .map(|h| IngressRule { host: h.clone(), http: IngressHttp { paths: paths.clone() } })
                    .collect();
                self.push(Object {
                    api_version: "networking.k8s.io/v1",
                    kind: "Ingress",
                    metadata: meta,
                    spec: Some(IngressSpec { ingress_class_name: class.clone(), tls, rules }),
                    data: None,
                });
            }
        }
    }

    /// The settings of `proxy` an Ingress has no field or annotation for: they are the
    /// ingress controller's (its ConfigMap) or cert-manager's, said once at each setting.
    fn proxy_warnings(&mut self, https: bool) {
        let Some(proxy) = &self.stack.proxy else { return };
        let stack = self.stack;
        let at = |key: &str| stack.proxy_origins.get(key).copied();
        if let Some(origin) = at("tls") {
            let t = &proxy.tls;
            let lost = set_properties(&[
                ("email=", t.email.is_some()),
                ("acme-ca=", t.acme_ca.is_some()),
                ("hsts=", t.hsts.is_some()),
                ("hsts-subdomains=", t.hsts_subdomains),
                ("hsts-preload=", t.hsts_preload),
                ("ocsp=", t.ocsp && https),
                ("session-timeout=", t.session_timeout_ms.is_some()),
                ("session-tickets=", t.session_tickets.is_some()),
                ("profile=", t.profile != "intermediate"),
                ("certificates=", t.certificates == "self-signed"),
            ]);
            if !lost.is_empty() {
                self.warn(
                    origin,
                    format!(
                        "the Ingress does not express `tls` {}: on Kubernetes certificates come from cert-manager \
                         (`cluster-issuer=`) and TLS settings from the ingress controller",
                        lost.join(", ")
                    ),
                    "not expressed on the Ingress",
                    "set the ACME account in the ClusterIssuer, and HSTS, OCSP stapling, sessions and ciphers in the \
                     ingress controller's configuration (ingress-nginx: its ConfigMap)",
                );
            }
        }
        if proxy.gzip {
            if let Some(origin) = at("gzip") {
                self.warn(
                    origin,
                    "the Ingress does not compress responses: `gzip` is the ingress controller's setting on Kubernetes",
                    "not expressed on the Ingress",
                    "enable compression in the controller's configuration (ingress-nginx: `use-gzip` in its ConfigMap)",
                );
            }
        }
        for (name, u) in &proxy.upstreams {
            let Some(origin) = at(&format!("upstream {name}")) else { continue };
            let set: Vec<&str> = set_properties(&[
                ("balance=", u.balance.is_some()),
                ("max-fails=", u.max_fails.is_some()),
                ("fail-timeout=", u.fail_timeout_ms.is_some()),
                ("keepalive=", u.keepalive.is_some()),
            ]);
            if set.is_empty() {
                continue;
            }
            self.warn(
                origin,
                format!(
                    "the Ingress does not express `upstream \"{name}\"` {}: the Service balances over ready pods",
                    set.join(", ")
                ),
                "not expressed on the Ingress",
                "Kubernetes sends traffic only to pods whose readiness probe passes; balancing is the controller's setting",
            );
        }
    }

    /// The rate-limit zones a site's routes use, where the Ingress cannot apply them as written.
    fn zone_warnings(&mut self, site: &Site, nginx: bool) {
        let Some(proxy) = &self.stack.proxy else { return };
        for route in &site.routes {
            let Some(zone) = route.rate_limit.as_ref().and_then(|z| proxy.rate_limits.get(z)) else { continue };
            if !nginx {
                self.warn(
                    zone.origin,
                    format!(
                        "the Ingress of this class applies no `rate-limit`: `{}` (rate=, burst=) is not enforced on \
                         Kubernetes",
                        zone.name
                    ),
                    "not enforced on the Ingress",
                    "set `targets > k8s ingress-class=\"nginx\"` (limit-rps annotations), or limit in the application",
                );
                continue;
            }
            let mut lost = Vec::new();
            if zone.size_bytes.is_some() {
                lost.push("size=");
            }
            if !zone.nodelay && zone.burst.is_some() {
                lost.push("nodelay=#false");
            }
            if !lost.is_empty() {
                self.warn(
                    zone.origin,
                    format!("the Ingress does not express `rate-limit \"{}\"` {}", zone.name, lost.join(", ")),
                    "not expressed on the Ingress",
                    "ingress-nginx sizes its zones itself, and serves a burst without delay: the Ingress limits by \
                     rate and burst only",
                );
            }
        }
    }

    /// What the Ingress cannot carry for a whole site.
    fn site_warnings(&mut self, site: &Site, nginx: bool, https: bool) {
        if let Some(proxy) = &self.stack.proxy {
            let stack = self.stack;
            let headers = super::site_headers(proxy, site, https, |v| stack.compile_time(&Text::from_default(v)));
            if !headers.is_empty() {
                let names: Vec<String> = headers.iter().map(|(n, _)| n.clone()).collect();
                self.warn(
                    site.origin,
                    format!(
                        "the Ingress does not set response headers (`security-headers`, `header`): {} are not sent by \
                         this site on Kubernetes",
                        names.join(", ")
                    ),
                    "site",
                    "set them in the application, or in the ingress controller's configuration (ingress-nginx: add-headers)",
                );
            }
        }
        if !site.redirect_from.is_empty() {
            self.warn(
                site.origin,
                "the Ingress does not redirect other host names (`redirect-from`)",
                "site",
                "serve them as hosts of the site, or redirect at the DNS or controller level",
            );
        }
        if !site.basic_auth.is_empty() {
            self.warn(
                site.origin,
                "basic authentication is not expressed on the Ingress yet: the site is open on Kubernetes",
                "site",
                "protect the site in the application, or add ingress-nginx auth-type/auth-secret annotations yourself",
            );
        }
        if !site.allow_from.is_empty() && !nginx {
            self.warn(
                site.origin,
                "`allow-from` needs `ingress-class=\"nginx\"` (whitelist-source-range): the site is open to everyone on Kubernetes",
                "site",
                "set `targets > k8s ingress-class=\"nginx\"`, or restrict access in the controller",
            );
        }
    }

    /// The Ingress path of a route and the annotations it needs; `None` when the route has
    /// no Ingress form (with a warning).
    fn route(&mut self, site: &Site, route: &Route, nginx: bool) -> Option<(IngressPath, Vec<(String, String)>)> {
        const A: &str = "nginx.ingress.kubernetes.io/";
        let mut ann: Vec<(String, String)> = Vec::new();
        let mut lost: Vec<&str> = Vec::new();
        let blocked = route.internal || matches!(route.action, Action::Respond { .. });
        let (service, port) = match &route.action {
            Action::Proxy { service, .. } if !self.stack.services.contains_key(service) => {
                self.warn(
                    route.origin,
                    format!(
                        "route `{}`: the k8s target does not run `{service}`: the Ingress leaves the path out",
                        route.path
                    ),
                    "not routed in the Ingress",
                    "the cluster's own monitoring serves it; route to it with that Service's own Ingress",
                );
                return None;
            }
            Action::Proxy { service, port } => (service.clone(), *port),
            Action::Respond { status } if nginx => {
                // Nothing is proxied: every client is refused (403) before the backend.
                self.warn(
                    route.origin,
                    format!("route `{}`: the Ingress answers 403 instead of {status}", route.path),
                    "respond",
                    "ingress-nginx refuses every address with denylist-source-range; a fixed status needs a snippet",
                );
                self.any_backend(site)?
            }
            Action::Respond { .. } => {
                self.warn(
                    route.origin,
                    format!(
                        "route `{}`: the Ingress cannot answer a fixed status: the path is served by the site's other routes",
                        route.path
                    ),
                    "respond",
                    "use `ingress-class=\"nginx\"`, or answer the path in the application",
                );
                return None;
            }
            Action::Files { root } => {
                self.warn(
                    route.origin,
                    format!(
                        "route `{}`: Kubernetes runs no proxy container with files in `{root}`; the path is served by \
                         the site's other routes",
                        route.path
                    ),
                    "files",
                    "serve the files from a service (an image with the files, or the application itself)",
                );
                return None;
            }
            Action::Redirect { to, .. } => {
                self.warn(
                    route.origin,
                    format!("route `{}`: the redirect to `{to}` is not expressed on the Ingress yet", route.path),
                    "redirect",
                    "redirect in the application until then",
                );
                return None;
            }
        };
        if route.internal {
            if nginx {
                ann.push((format!("{A}denylist-source-range"), "0.0.0.0/0,::/0".into()));
            } else {
                self.warn(
                    route.origin,
                    format!(
                        "route `{}` is internal, but without `ingress-class=\"nginx\"` the Ingress cannot refuse it: \
                         it is reachable from outside on Kubernetes",
                        route.path
                    ),
                    "internal",
                    "set `targets > k8s ingress-class=\"nginx\"`, or refuse the path in the application",
                );
            }
        } else if blocked {
            ann.push((format!("{A}denylist-source-range"), "0.0.0.0/0,::/0".into()));
        }
        let path_type = match route.matching {
            Match::Prefix => "Prefix",
            Match::Exact => "Exact",
            Match::Regex if nginx => {
                ann.push((format!("{A}use-regex"), "true".into()));
                self.warn(
                    route.origin,
                    format!(
                        "route `{}`: ingress-nginx applies `use-regex` to every path of the host, and matches regular \
                         expressions without case",
                        route.path
                    ),
                    "regex",
                    "check the host's other paths still match as intended",
                );
                "ImplementationSpecific"
            }
            Match::Regex => {
                self.warn(
                    route.origin,
                    format!(
                        "route `{}`: a regular expression path needs `ingress-class=\"nginx\"`; the path is served \
                         by the site's other routes",
                        route.path
                    ),
                    "regex",
                    "set `targets > k8s ingress-class=\"nginx\"`, or use prefix routes",
                );
                return None;
            }
        };
        let proxy = self.stack.proxy.as_ref();
        if let Some(zone) = route.rate_limit.as_ref().and_then(|z| proxy.and_then(|p| p.rate_limits.get(z))) {
            if nginx {
                let key = if zone.per == 'm' { "limit-rpm" } else { "limit-rps" };
                ann.push((format!("{A}{key}"), zone.requests.to_string()));
                if let Some(burst) = zone.burst {
                    let mult = (u64::from(burst)).div_ceil(zone.requests.max(1)).max(1);
                    ann.push((format!("{A}limit-burst-multiplier"), mult.to_string()));
                    if mult * zone.requests != u64::from(burst) {
                        self.warn(
                            zone.origin,
                            format!(
                                "rate limit `{}`: ingress-nginx sets the burst as a multiple of the rate: {} instead of {burst}",
                                zone.name,
                                mult * zone.requests
                            ),
                            "burst",
                            "make the burst a multiple of the rate to get the same limit everywhere",
                        );
                    }
                }
            } else {
                lost.push("`rate-limit`");
            }
        }
        let body = [&route.body_limit, &site.body_limit, proxy.map_or(&None, |p| &p.body_limit)]
            .into_iter()
            .find(|a| a.is_some())
            .and_then(|a| self.amount(a, "a body limit"));
        if let Some(b) = body {
            if nginx {
                ann.push((format!("{A}proxy-body-size"), nginx_size(b)));
            } else {
                lost.push("`body-limit`");
            }
        }
        if let Some(ms) = self.amount(&route.timeout, "a route timeout") {
            if nginx {
                ann.push((format!("{A}proxy-read-timeout"), seconds(ms).to_string()));
                ann.push((format!("{A}proxy-send-timeout"), seconds(ms).to_string()));
            } else {
                lost.push("`timeout`");
            }
        }
        if let Some(b) = route.buffering {
            if nginx {
                ann.push((format!("{A}proxy-buffering"), if b { "on" } else { "off" }.into()));
            } else {
                lost.push("`buffering`");
            }
        }
        if !route.access_log {
            if nginx {
                ann.push((format!("{A}enable-access-log"), "false".into()));
            } else {
                lost.push("`access-log=#false`");
            }
        }
        if !site.allow_from.is_empty() && nginx && !blocked {
            ann.push((format!("{A}whitelist-source-range"), site.allow_from.join(",")));
        }
        if route.strip_prefix {
            lost.push("`strip-prefix`");
        }
        if route.cache_ms.is_some() {
            lost.push("its Cache-Control header");
        }
        if !lost.is_empty() {
            self.warn(
                route.origin,
                format!("route `{}`: the Ingress does not express {}", route.path, lost.join(", ")),
                "route",
                if nginx {
                    "set it in the application or the controller's configuration"
                } else {
                    "with `targets > k8s ingress-class=\"nginx\"` stackc writes ingress-nginx annotations for limits, timeouts and buffering"
                },
            );
        }
        ann.sort();
        let path = IngressPath {
            path: route.path.clone(),
            path_type,
            backend: IngressBackend { service: BackendService { name: service, port: BackendPort { number: port } } },
        };
        Some((path, ann))
    }

    /// A backend for a path that is refused before any backend is reached (an Ingress path
    /// must name one): the site's first proxied service.
    fn any_backend(&self, site: &Site) -> Option<(String, u16)> {
        site.routes.iter().find_map(|r| match &r.action {
            Action::Proxy { service, port } if self.stack.services.contains_key(service) => {
                Some((service.clone(), *port))
            }
            _ => None,
        })
    }

    fn stack_warnings(&mut self) {
        if let Some(m) = &self.stack.monitoring {
            let origin = m.prometheus_service.origin;
            self.warn(
                origin,
                "the k8s target does not run Prometheus, its exporters or Alertmanager: the pods of services \
                 with `metrics` carry prometheus.io annotations and a `job` label for the cluster's Prometheus",
                "monitoring",
                "scrape annotated pods with the cluster's Prometheus (kubernetes_sd_configs role: pod)",
            );
        }
        if let Some(n) = self.stack.networks.values().find(|n| !n.implicit) {
            let origin = n.origin;
            self.warn(
                origin,
                "the k8s target does not express `networks`: every pod of the namespace reaches every Service",
                "networks",
                "add NetworkPolicies to isolate pods",
            );
        }
    }

    // -- the secrets script ---------------------------------------------------------------

    /// `create-secrets.sh`: the Secret from the deploy environment and files, and the
    /// ConfigMap of value-less params. Values travel through files in a private temporary
    /// directory, never through a command line or a manifest.
    fn secrets_script(&self) -> Option<String> {
        let secrets: Vec<&Secret> = self
            .stack
            .secrets
            .values()
            .filter(|s| self.used_secrets.contains(&s.name) && s.source != SecretSource::External)
            .collect();
        if secrets.is_empty() && self.deploy_params.is_empty() {
            return None;
        }
        let q = shell_word;
        let mut s = String::new();
        s.push_str("#!/bin/sh\n");
        s.push_str(&header("#", self.stack));
        s.push_str(&format!(
            "# Creates or updates the Secret {} (and the ConfigMap of deploy-time params) in namespace\n\
             # {} from the deploy environment and files, then `kubectl apply -k` applies the rest.\n\
             # Values go through files in a private temporary directory: never a command line, never a\n\
             # manifest. Run it from anywhere, with kubectl pointed at the cluster.\n",
            secret_name(self.stack),
            self.ns
        ));
        s.push_str("set -eu\ncd \"$(dirname \"$0\")\"\n");
        s.push_str(&format!("kubectl apply -f {}\n", q(&format!("namespace-{}.yaml", self.ns))));
        s.push_str("umask 077\ntmp=$(mktemp -d)\ntrap 'rm -rf \"$tmp\"' EXIT\n");
        if !secrets.is_empty() {
            s.push_str("mkdir \"$tmp/secret\"\n");
            for sec in &secrets {
                let key = secret_key(sec);
                match &sec.source {
                    SecretSource::Env(var) if sec.optional => s.push_str(&format!(
                        "# secret {} (optional)\nif [ -n \"${{{var}+set}}\" ]; then printf '%s' \"${var}\" >\"$tmp/secret/{key}\"; fi\n",
                        sec.name
                    )),
                    SecretSource::Env(var) => s.push_str(&format!(
                        "# secret {}\n: \"${{{var}:?secret {} must be set}}\"\nprintf '%s' \"${var}\" >\"$tmp/secret/{key}\"\n",
                        sec.name, sec.name
                    )),
                    SecretSource::File(path) => {
                        let p = self.opts.rebase(&self.stack.compile_time(path));
                        // The script runs in k8s/, one level below the output directory.
                        let p = if p.starts_with('/') { p } else { format!("../{p}") };
                        s.push_str(&format!("# secret {}\ncat -- {} >\"$tmp/secret/{key}\"\n", sec.name, q(&p)));
                    }
                    SecretSource::External => {}
                }
            }
            s.push_str(&format!(
                "kubectl create secret generic {} --namespace {} --from-file=\"$tmp/secret\" --dry-run=client -o yaml >\"$tmp/secret.yaml\"\n\
                 kubectl apply -f \"$tmp/secret.yaml\"\n",
                q(&secret_name(self.stack)),
                q(&self.ns)
            ));
        }
        if !self.deploy_params.is_empty() {
            s.push_str("mkdir \"$tmp/params\"\n");
            for name in &self.deploy_params {
                let Some(var) = self.stack.params.get(name).and_then(|p| p.env.clone()) else { continue };
                s.push_str(&format!(
                    "# param {name}\n: \"${{{var}:?param {name} must be set}}\"\nprintf '%s' \"${var}\" >\"$tmp/params/{var}\"\n"
                ));
            }
            s.push_str(&format!(
                "kubectl create configmap {} --namespace {} --from-file=\"$tmp/params\" --dry-run=client -o yaml >\"$tmp/params.yaml\"\n\
                 kubectl apply -f \"$tmp/params.yaml\"\n",
                q(&params_configmap(self.stack)),
                q(&self.ns)
            ));
        }
        Some(s)
    }
}

/// An Ingress name from a host: its labels joined by `-` (`shop.example.com` → `shop-example-com`).
/// The names of the properties that are set, for a warning that lists what is not expressed.
fn set_properties(props: &[(&'static str, bool)]) -> Vec<&'static str> {
    props.iter().filter(|(_, set)| *set).map(|(name, _)| *name).collect()
}

fn ingress_name(host: &str) -> String {
    let mut s: String =
        host.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    let s = s.trim_matches('-');
    let s: String = s.chars().take(60).collect();
    let s = s.trim_end_matches('-').to_string();
    if s.is_empty() {
        "site".into()
    } else {
        s
    }
}

/// An nginx size (`proxy-body-size`): nginx's `k`, `m` and `g` are binary.
fn nginx_size(b: u64) -> String {
    if b > 0 && b.is_multiple_of(1 << 30) {
        format!("{}g", b >> 30)
    } else if b > 0 && b.is_multiple_of(1 << 20) {
        format!("{}m", b >> 20)
    } else if b > 0 && b.is_multiple_of(1 << 10) {
        format!("{}k", b >> 10)
    } else {
        b.to_string()
    }
}

fn protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
    }
}

/// How many pods mount each volume read-write at once (stateful services excluded:
/// each of their replicas gets its own claim).
fn volume_writers(stack: &Stack) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for svc in stack.services.values().filter(|s| !s.stateful) {
        let pods = svc.autoscale.as_ref().map_or(svc.replicas, |a| a.max.max(svc.replicas));
        for m in &svc.mounts {
            if let MountSource::Volume(v) = &m.source {
                *out.entry(v.clone()).or_insert(0) += pods;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_escaped_only_where_kubernetes_expands() {
        assert_eq!(escape_dollar("a$b"), "a$b");
        assert_eq!(escape_dollar("$(X)"), "$$(X)");
        assert_eq!(escape_dollar("a$$b"), "a$$$b");
        assert_eq!(escape_dollar("end$"), "end$");
    }

    #[test]
    fn quantities() {
        assert_eq!(cpu(250), "250m");
        assert_eq!(cpu(2000), "2");
        assert_eq!(bytes(1 << 30), "1Gi");
        assert_eq!(bytes(512 << 20), "512Mi");
        assert_eq!(bytes(100_000_000), "100M");
        assert_eq!(bytes(1023), "1023");
        assert_eq!(seconds(1500), 2);
    }

    #[test]
    fn label_values() {
        assert!(valid_label_value("v1.0.0"));
        assert!(valid_label_value(""));
        assert!(!valid_label_value("has space"));
        assert!(!valid_label_value("-x"));
        assert!(!valid_label_value(&"a".repeat(64)));
    }
}
