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
// What the workload shapes and security.rs share with the other targets (`super::super`
// is not allowed in emit/).
use super::{image_base, image_repository_and_tag, is_certbot_image, yaml, POSTGRES_IMAGES};
// The Prometheus target's rule groups, which the PrometheusRule holds (monitoring.rs).
use super::{duration, rule_group, RuleGroup};
use crate::diagnostics::{origin_span, Code, Diagnostic};
use crate::ir::*;

mod backup;
mod certbot;
mod config;
mod devices;
mod disruption;
mod edge;
mod ingress;
mod init_steps;
mod jobs;
mod monitoring;
mod network_policy;
mod nodes;
mod objects;
mod probes;
mod routes;
mod security;
mod services;
mod storage;
mod storage_options;
mod workloads;

pub use network_policy::{network_edges, network_policies_enabled, NetworkEdge, Peer};
use objects::*;
use storage::volume_writers;

/// Where every file of this target goes.
pub const DIR: &str = "k8s";
/// The script that creates the Secret (and the ConfigMap of deploy-time params).
pub const SECRETS_SCRIPT: &str = "create-secrets.sh";
/// The label every workload selects its pods by.
const SELECTOR_KEY: &str = "app.kubernetes.io/name";
/// The size a claim asks for when the volume has no `size=` (a claim must ask for one).
const DEFAULT_CLAIM_BYTES: u64 = 1 << 30;

/// Every file of the target and its diagnostics, from one run of the builder (a check that
/// rendered the manifests only to drop them, then a second rendering, cost twice the time).
pub fn run(stack: &Stack, opts: &EmitOptions) -> (Vec<OutputFile>, Vec<Diagnostic>) {
    let (stack, mut diags) = certbot::without_certbot(stack);
    let (files, more) = Builder::new(&stack, opts).run();
    diags.extend(more);
    (files, diags)
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

/// A label key Kubernetes accepts: an optional prefix (a DNS subdomain of at most 253
/// characters) and `/`, then a name of at most 63 characters as for a value, not empty.
pub fn valid_label_key(k: &str) -> bool {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
    });
    prefix_ok && !name.is_empty() && valid_label_value(name)
}

/// A container port name (IANA_SVC_NAME): at most 15 characters, a letter among them, no
/// `--`. Stack port names may be longer; those ports stay unnamed.
fn valid_port_name(n: &str) -> bool {
    n.len() <= 15 && !n.contains("--") && n.chars().any(|c| c.is_ascii_lowercase())
}

// ---------------------------------------------------------------------------------------
// The builder
// ---------------------------------------------------------------------------------------

/// The apply order of kinds (what `kubectl apply -k` would do anyway, written out).
const KIND_ORDER: &[&str] = &[
    "Namespace",
    "ServiceAccount",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Service",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Ingress",
    "HTTPRoute",
    "CronJob",
    "NetworkPolicy",
    "ServiceMonitor",
    "PrometheusRule",
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
    /// `stack_labels()`, computed once (every object carries them; its warnings are the same
    /// each time).
    stack_labels: Option<IndexMap<String, String>>,
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
            stack_labels: None,
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
        self.compose_names();
        self.namespace_object();
        self.configmaps();
        self.volumes();
        self.storage_options_not_expressed();
        let stack = self.stack;
        for svc in stack.services.values() {
            self.service(svc);
        }
        if routes::gateway_api(stack) {
            self.http_routes();
        } else {
            self.unused_gateway_options();
            self.ingresses();
        }
        self.backups();
        self.network_policies();
        self.monitoring_objects();
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

    /// Labels on every object: the stack's, then stackc's own.
    fn stack_labels(&mut self) -> IndexMap<String, String> {
        if let Some(labels) = &self.stack_labels {
            return labels.clone();
        }
        let labels = self.compute_stack_labels();
        self.stack_labels = Some(labels.clone());
        labels
    }

    fn compute_stack_labels(&mut self) -> IndexMap<String, String> {
        let mut out = IndexMap::new();
        let labels: Vec<(String, Text)> = self.stack.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (k, v) in labels {
            let v = self.text(&v, Origin::default(), "a label");
            out.insert(k, v);
        }
        out.entry("app.kubernetes.io/part-of".to_string()).or_insert_with(|| self.stack.name.clone());
        // The stack's instance is its namespace (one per environment the cluster runs). Not
        // in any selector: a selector is immutable, and the label may change with the namespace.
        out.entry("app.kubernetes.io/instance".to_string()).or_insert_with(|| self.ns.clone());
        out.insert("app.kubernetes.io/managed-by".to_string(), "stackc".to_string());
        self.clean_labels(out, self.stack.services.first().map(|(_, s)| s.origin).unwrap_or_default())
    }

    /// Drops labels whose key or value Kubernetes rejects, with a warning.
    fn clean_labels(&mut self, labels: IndexMap<String, String>, origin: Origin) -> IndexMap<String, String> {
        let mut out = IndexMap::new();
        for (k, v) in labels {
            if !valid_label_key(&k) {
                self.warn(
                    origin,
                    format!("label key `{k}` is not a valid Kubernetes label key: the label is left out of the manifests"),
                    "here",
                    "a label key is an optional DNS-subdomain prefix and `/`, then at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit",
                );
            } else if valid_label_value(&v) {
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

    fn stack_warnings(&mut self) {
        if let Some(m) = self.stack.monitoring.as_ref().filter(|_| monitoring::prometheus_operator(self.stack)) {
            let origin = m.prometheus_service.origin;
            self.warn(
                origin,
                "the k8s target does not run Prometheus, its exporters or Alertmanager: the cluster's \
                 prometheus-operator scrapes the ServiceMonitors and evaluates the PrometheusRule, and its \
                 Alertmanager routes the alerts (the stack's receivers are not written)",
                "monitoring",
                "let the operator's Prometheus select the namespace's ServiceMonitors and PrometheusRules \
                 (serviceMonitorSelector / ruleSelector; the stack's `labels` are on both)",
            );
        } else if let Some(m) = &self.stack.monitoring {
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
            if network_policies_enabled(self.stack) {
                self.warn(
                    origin,
                    "the k8s target does not express `networks`: its NetworkPolicies allow the connections the stack \
                     declares instead, whatever networks the services join",
                    "networks",
                    "declare every connection a service makes (`depends-on`, an env value naming the service, \
                     `targets > k8s > egress`); `stackc build` lists them",
                );
            } else {
                self.warn(
                    origin,
                    "the k8s target does not express `networks`: every pod of the namespace reaches every Service",
                    "networks",
                    "add NetworkPolicies to isolate pods (leave out `network-policies=#false`)",
                );
            }
        }
    }
}

/// The names of the properties that are set, for a warning that lists what is not expressed.
fn set_properties(props: &[(&'static str, bool)]) -> Vec<&'static str> {
    props.iter().filter(|(_, set)| *set).map(|(name, _)| *name).collect()
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
        assert!(valid_label_key("app.kubernetes.io/name"));
        assert!(valid_label_key("tier"));
        assert!(valid_label_key("Team_Name"));
        assert!(!valid_label_key("com.example/"));
        assert!(!valid_label_key("/tier"));
        assert!(!valid_label_key("Example.com/tier"));
        assert!(!valid_label_key("a/b/c"));
        assert!(!valid_label_key("has space"));
        assert!(!valid_label_key(&format!("{}/x", "a".repeat(254))));
        assert!(!valid_label_key(&"a".repeat(64)));
    }
}
