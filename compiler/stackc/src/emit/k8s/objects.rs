//! The Kubernetes objects stackc writes, as serde structs with their keys in the order
//! manifests are conventionally written.

use super::*;

// ---------------------------------------------------------------------------------------
// The objects, with their keys in the order manifests are conventionally written.
// ---------------------------------------------------------------------------------------

#[derive(Serialize, Default, Clone)]
pub(super) struct Meta {
    pub(super) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) namespace: Option<String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub(super) labels: IndexMap<String, String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub(super) annotations: IndexMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Object<S: Serialize> {
    pub(super) api_version: &'static str,
    pub(super) kind: &'static str,
    pub(super) metadata: Meta,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) spec: Option<S>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) data: Option<IndexMap<String, String>>,
}

#[derive(Serialize)]
pub(super) struct Empty {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WorkloadSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) replicas: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) service_name: Option<String>,
    pub(super) selector: Selector,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) strategy: Option<Strategy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) min_ready_seconds: Option<u64>,
    pub(super) template: PodTemplate,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) volume_claim_templates: Vec<Object<PvcSpec>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JobSpec {
    pub(super) backoff_limit: u32,
    pub(super) template: PodTemplate,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Selector {
    pub(super) match_labels: IndexMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Strategy {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) rolling_update: Option<RollingUpdate>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RollingUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) max_surge: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) max_unavailable: Option<u32>,
}

#[derive(Serialize)]
pub(super) struct PodTemplate {
    pub(super) metadata: PodMeta,
    pub(super) spec: PodSpec,
}

#[derive(Serialize)]
pub(super) struct PodMeta {
    pub(super) labels: IndexMap<String, String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub(super) annotations: IndexMap<String, String>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct PodSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) restart_policy: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) hostname: Option<String>,
    #[serde(rename = "hostPID", skip_serializing_if = "Option::is_none")]
    pub(super) host_pid: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) termination_grace_period_seconds: Option<u64>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub(super) node_selector: IndexMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) topology_spread_constraints: Vec<Spread>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) init_containers: Vec<Container>,
    pub(super) containers: Vec<Container>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) volumes: Vec<PodVolume>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) host_network: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) dns_policy: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) tolerations: Vec<K8sToleration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) service_account_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) automount_service_account_token: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) security_context: Option<PodSecurityContext>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct PodSecurityContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) fs_group: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) fs_group_change_policy: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) seccomp_profile: Option<SeccompProfile>,
}

#[derive(Clone, Serialize)]
pub(super) struct SeccompProfile {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Spread {
    pub(super) max_skew: u32,
    pub(super) topology_key: &'static str,
    pub(super) when_unsatisfiable: &'static str,
    pub(super) label_selector: Selector,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct Container {
    pub(super) name: String,
    pub(super) image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) args: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) working_dir: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) ports: Vec<ContainerPort>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) env_from: Vec<EnvFrom>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) env: Vec<EnvVar>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) resources: Option<ResourceReqs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) liveness_probe: Option<K8sProbe>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) readiness_probe: Option<K8sProbe>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) volume_mounts: Vec<VolumeMount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) security_context: Option<SecurityContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) startup_probe: Option<K8sProbe>,
    /// `pull-policy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) image_pull_policy: Option<&'static str>,
    /// `Always` on an init container: a native sidecar (`sidecar`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) restart_policy: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ContainerPort {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<String>,
    pub(super) container_port: u16,
    pub(super) protocol: &'static str,
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EnvFrom {
    pub(super) config_map_ref: NameRef,
}

#[derive(Clone, Serialize)]
pub(super) struct NameRef {
    pub(super) name: String,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct EnvVar {
    pub(super) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) value_from: Option<ValueFrom>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) enum ValueFrom {
    SecretKeyRef(KeyRef),
    ConfigMapKeyRef(KeyRef),
}

#[derive(Serialize, Clone, PartialEq)]
pub(super) struct KeyRef {
    pub(super) name: String,
    pub(super) key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) optional: Option<bool>,
}

#[derive(Serialize, Default)]
pub(super) struct ResourceReqs {
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub(super) requests: IndexMap<&'static str, String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub(super) limits: IndexMap<&'static str, String>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct K8sProbe {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) http_get: Option<HttpGet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tcp_socket: Option<TcpSocket>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) exec: Option<Exec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) initial_delay_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) period_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) timeout_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) failure_threshold: Option<u32>,
    /// The gRPC health service on a port (`grpc.port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) grpc: Option<TcpSocket>,
}

#[derive(Serialize)]
pub(super) struct HttpGet {
    pub(super) path: String,
    pub(super) port: u16,
    #[serde(rename = "httpHeaders", skip_serializing_if = "Vec::is_empty")]
    pub(super) http_headers: Vec<NameValue>,
}

#[derive(Serialize)]
pub(super) struct TcpSocket {
    pub(super) port: u16,
}

#[derive(Serialize)]
pub(super) struct Exec {
    pub(super) command: Vec<String>,
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct VolumeMount {
    pub(super) name: String,
    pub(super) mount_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) sub_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) read_only: Option<bool>,
    /// `HostToContainer` for a hostPath mounted with `propagation="rslave"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) mount_propagation: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PodVolume {
    pub(super) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) persistent_volume_claim: Option<ClaimRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) empty_dir: Option<EmptyDir>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) secret: Option<SecretVolume>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) config_map: Option<NameRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) host_path: Option<HostPath>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClaimRef {
    pub(super) claim_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EmptyDir {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) medium: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) size_limit: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SecretVolume {
    pub(super) secret_name: String,
    pub(super) items: Vec<KeyToPath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) optional: Option<bool>,
}

#[derive(Serialize)]
pub(super) struct KeyToPath {
    pub(super) key: String,
    pub(super) path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) mode: Option<u32>,
}

#[derive(Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct SecurityContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) run_as_user: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) run_as_group: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) read_only_root_filesystem: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) allow_privilege_escalation: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) capabilities: Option<Capabilities>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) run_as_non_root: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) privileged: Option<bool>,
}

#[derive(Clone, Serialize, Default)]
pub(super) struct Capabilities {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) drop: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ServiceSpec {
    #[serde(rename = "clusterIP", skip_serializing_if = "Option::is_none")]
    pub(super) cluster_ip: Option<&'static str>,
    pub(super) selector: IndexMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) ports: Vec<ServicePort>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub(super) kind: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ServicePort {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<String>,
    pub(super) port: u16,
    pub(super) target_port: u16,
    pub(super) protocol: &'static str,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct PvcSpec {
    pub(super) access_modes: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) storage_class_name: Option<String>,
    pub(super) resources: PvcResources,
    /// The PersistentVolume the claim binds to (an NFS volume's, `storage_options.rs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) volume_name: Option<String>,
}

#[derive(Serialize, Clone)]
pub(super) struct PvcResources {
    pub(super) requests: IndexMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct HpaSpec {
    pub(super) scale_target_ref: TargetRef,
    pub(super) min_replicas: u32,
    pub(super) max_replicas: u32,
    pub(super) metrics: Vec<HpaMetric>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) behavior: Option<HpaBehavior>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TargetRef {
    pub(super) api_version: &'static str,
    pub(super) kind: &'static str,
    pub(super) name: String,
}

#[derive(Serialize)]
pub(super) struct HpaMetric {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) resource: HpaResource,
}

#[derive(Serialize)]
pub(super) struct HpaResource {
    pub(super) name: &'static str,
    pub(super) target: HpaTarget,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct HpaTarget {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) average_utilization: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct HpaBehavior {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) scale_up: Option<HpaRules>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) scale_down: Option<HpaRules>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct HpaRules {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) stabilization_window_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) select_policy: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) policies: Vec<HpaPolicy>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct HpaPolicy {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) value: u32,
    pub(super) period_seconds: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IngressSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) ingress_class_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) tls: Vec<IngressTls>,
    pub(super) rules: Vec<IngressRule>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct IngressTls {
    pub(super) hosts: Vec<String>,
    pub(super) secret_name: String,
}

#[derive(Serialize)]
pub(super) struct IngressRule {
    pub(super) host: String,
    pub(super) http: IngressHttp,
}

#[derive(Serialize)]
pub(super) struct IngressHttp {
    pub(super) paths: Vec<IngressPath>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct IngressPath {
    pub(super) path: String,
    pub(super) path_type: &'static str,
    pub(super) backend: IngressBackend,
}

#[derive(Serialize, Clone)]
pub(super) struct IngressBackend {
    pub(super) service: BackendService,
}

#[derive(Serialize, Clone)]
pub(super) struct BackendService {
    pub(super) name: String,
    pub(super) port: BackendPort,
}

#[derive(Serialize, Clone)]
pub(super) struct BackendPort {
    pub(super) number: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Kustomization {
    pub(super) api_version: &'static str,
    pub(super) kind: &'static str,
    pub(super) resources: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) config_map_generator: Vec<ConfigMapGenerator>,
}

/// A ConfigMap kustomize builds from files next to the kustomization (the backup scripts),
/// so that they stay files that shellcheck and the tests read.
#[derive(Serialize)]
pub(super) struct ConfigMapGenerator {
    pub(super) name: String,
    pub(super) namespace: String,
    pub(super) files: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) options: Option<GeneratorOptions>,
}

/// The labels kustomize puts on a generated ConfigMap (the stack's, as on every object).
#[derive(Serialize)]
pub(super) struct GeneratorOptions {
    pub(super) labels: IndexMap<String, String>,
}

// ---------------------------------------------------------------------------------------
// Workload shapes: DaemonSets, host paths, tolerations.
// ---------------------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DaemonSetSpec {
    pub(super) selector: Selector,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) update_strategy: Option<Strategy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) min_ready_seconds: Option<u64>,
    pub(super) template: PodTemplate,
}

#[derive(Serialize)]
pub(super) struct HostPath {
    pub(super) path: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct K8sToleration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) key: Option<String>,
    pub(super) operator: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) effect: Option<&'static str>,
}

// ---------------------------------------------------------------------------------------
// Probes: headers.
// ---------------------------------------------------------------------------------------

#[derive(Serialize)]
pub(super) struct NameValue {
    pub(super) name: String,
    pub(super) value: String,
}
