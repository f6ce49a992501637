//! The docker compose target: the file a team would otherwise hand-write for
//! `docker compose up -d` on one production host, in the Compose Specification format (no
//! top-level `version:`), plus a `.env.example` listing every variable it reads.
//!
//! Values: `$` in user strings becomes `$$`; a param with `env=` becomes `${VAR:-default}`,
//! a required one `${VAR:?…}`, any other param its compile-time default. Secrets never
//! appear: env-sourced ones are read from the deploy environment (`${VAR:?…}`), file
//! secrets are mounted under `/run/secrets` (images that read `*_FILE` variables get those).

mod backup;
mod certbot;
mod devices;
mod env;
mod init_steps;
mod monitoring;
mod networks;
mod pass_through;
mod proxy;
mod secrets;
mod security;
mod service;
mod values;

use indexmap::IndexMap;
use serde::Serialize;

// The backup core is shared with the Kubernetes target; `backup` (a child) reaches it here.
use super::{header, shell_word as sh, BackupEngine, BackupJob, EmitOptions, OutputFile, BACKUP_STAMP_FORMAT};
use super::{image_base, POSTGRES_IMAGES};
use super::{
    provisioned_grafanas, GRAFANA_DASHBOARDS, GRAFANA_DASHBOARDS_DIR, GRAFANA_PROVISIONING, GRAFANA_PROVISIONING_DIR,
};
use super::{BACKUP_METRIC, BACKUP_METRICS_DIR, TEXTFILE_DIR};
// What the targets share, reached by the children here (`super::super` is not allowed in emit/).
use super::{
    comment_text, exporter_preset, monitoring_generated, ALERTMANAGER_DIR, ALERTMANAGER_IMAGE, ALERTMANAGER_PORT,
    PROMETHEUS_DIR, PROMETHEUS_IMAGE, PROMETHEUS_PORT,
};
use super::{image_repository_and_tag, is_certbot_image};
use crate::diagnostics::{origin_span, Code, Diagnostic};
use crate::ir::*;
use env::env_example;
use monitoring::{check_monitoring, monitoring_plan};
use networks::{check_volumes, networks, volumes};
use pass_through::CEnvironment;
use proxy::{check_proxy, init_script, proxy_plan};
pub use proxy::{proxy_kind, ProxyKind, INIT_SCRIPT};
use secrets::Secrets;
use service::{check_service, service, stack_wide};
pub use values::{docker_bytes, duration};
// `backup` (a child) reaches these here.
use values::{env_secret, env_text, render_path, render_plain};

/// The compose file name: `targets { compose file="…" }` or `docker-compose.yml`.
pub fn file_name(stack: &Stack) -> String {
    stack
        .targets
        .options
        .get("compose")
        .and_then(|o| o.get("file"))
        .cloned()
        .unwrap_or_else(|| "docker-compose.yml".into())
}

#[derive(Serialize)]
struct Compose {
    name: String,
    services: IndexMap<String, CService>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    networks: IndexMap<String, CNetwork>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    volumes: IndexMap<String, CVolume>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    secrets: IndexMap<String, CSecret>,
}

/// Keys in the order compose files are conventionally written.
#[derive(Serialize, Default)]
struct CService {
    /// `description`: compose has no such key; an extension field (`x-`) is kept by compose
    /// and shown by `docker compose config`.
    #[serde(rename = "x-description", skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    build: Option<CBuild>,
    /// Only the backup services have one (`backup`), so that `up -d` leaves them out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    profiles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    init: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    restart: Option<String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    depends_on: IndexMap<String, CDepends>,
    #[serde(skip_serializing_if = "CEnvironment::is_empty")]
    environment: CEnvironment,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    secrets: Vec<CServiceSecret>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    expose: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volumes: Vec<CMount>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tmpfs: Vec<String>,
    #[serde(skip_serializing_if = "CNetworks::is_empty")]
    networks: CNetworks,
    #[serde(skip_serializing_if = "Option::is_none")]
    network_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    healthcheck: Option<CHealth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deploy: Option<CDeploy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logging: Option<CLogging>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    labels: IndexMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    read_only: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cap_drop: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cap_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    security_opt: Vec<String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    ulimits: IndexMap<String, CUlimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shm_size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    devices: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    privileged: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_grace_period: Option<String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    annotations: IndexMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pull_policy: Option<String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    sysctls: IndexMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    group_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    env_file: Vec<CEnvFile>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    device_cgroup_rules: Vec<String>,
    /// `alias`: given on the service's networks once they are final (`devices::aliases`).
    #[serde(skip)]
    aliases: Vec<String>,
}

/// An `env_file` entry: the short form, or the long one for an optional file.
#[derive(Serialize)]
#[serde(untagged)]
enum CEnvFile {
    Short(String),
    Long { path: String, required: bool },
}

#[derive(Serialize)]
struct CBuild {
    context: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    dockerfile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    args: IndexMap<String, String>,
}

#[derive(Serialize)]
struct CDepends {
    condition: &'static str,
}

#[derive(Serialize)]
struct CServiceSecret {
    source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<u32>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum CMount {
    Short(String),
    Long {
        #[serde(rename = "type")]
        kind: &'static str,
        source: String,
        target: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        read_only: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        bind: Option<CBindOptions>,
        #[serde(skip_serializing_if = "Option::is_none")]
        volume: Option<CVolumeOptions>,
    },
}

#[derive(Serialize, Default)]
struct CVolumeOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    nocopy: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subpath: Option<String>,
}

#[derive(Serialize, Default)]
struct CBindOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    propagation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    create_host_path: Option<bool>,
    /// `z` (shared) or `Z` (private) SELinux relabelling.
    #[serde(skip_serializing_if = "Option::is_none")]
    selinux: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct CHealth {
    /// Empty only with `disable` (`image-health #false`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    test: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_period: Option<String>,
    /// Compose spec 2.20 (Docker Engine 25).
    #[serde(skip_serializing_if = "Option::is_none")]
    start_interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disable: Option<bool>,
}

#[derive(Serialize, Default)]
struct CDeploy {
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replicas: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resources: Option<CResources>,
    #[serde(skip_serializing_if = "Option::is_none")]
    restart_policy: Option<CRestartPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    update_config: Option<CUpdate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rollback_config: Option<CUpdate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    placement: Option<CPlacement>,
}

#[derive(Serialize, Default)]
struct CResources {
    #[serde(skip_serializing_if = "Option::is_none")]
    limits: Option<CLimits>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reservations: Option<CLimits>,
}

#[derive(Serialize, Default)]
struct CLimits {
    #[serde(skip_serializing_if = "Option::is_none")]
    cpus: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pids: Option<u64>,
    /// Reservations only: GPUs (`gpu`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    devices: Vec<devices::CDeviceRequest>,
}

#[derive(Serialize)]
struct CRestartPolicy {
    condition: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    delay: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_attempts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<String>,
}

#[derive(Serialize)]
struct CUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    parallelism: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delay: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    monitor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_failure_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order: Option<String>,
}

#[derive(Serialize)]
struct CPlacement {
    max_replicas_per_node: u32,
}

#[derive(Serialize)]
struct CLogging {
    driver: String,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    options: IndexMap<String, String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum CUlimit {
    Single(u64),
    Pair { soft: u64, hard: u64 },
}

#[derive(Serialize, Default)]
struct CNetwork {
    #[serde(skip_serializing_if = "Option::is_none")]
    driver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    internal: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipam: Option<CIpam>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enable_ipv6: Option<bool>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    driver_opts: IndexMap<String, String>,
}

#[derive(Serialize)]
struct CIpam {
    config: Vec<CIpamConfig>,
}

#[derive(Serialize)]
struct CIpamConfig {
    subnet: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<String>,
}

#[derive(Serialize, Default)]
struct CVolume {
    #[serde(skip_serializing_if = "Option::is_none")]
    external: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    driver: Option<String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    driver_opts: IndexMap<String, String>,
}

/// A service's `networks`: the names, written in compose's map form when the service has a
/// fixed address on one of them (`address`); the list form cannot carry one.
#[derive(Default)]
struct CNetworks {
    names: Vec<String>,
    addresses: IndexMap<String, CNetAttach>,
}

#[derive(Serialize, Default)]
struct CNetAttach {
    /// `alias`: the service's other DNS names, on each of its networks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    aliases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv4_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv6_address: Option<String>,
}

impl CNetworks {
    fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

impl From<Vec<String>> for CNetworks {
    fn from(names: Vec<String>) -> Self {
        CNetworks { names, addresses: IndexMap::new() }
    }
}

impl std::ops::Deref for CNetworks {
    type Target = Vec<String>;
    fn deref(&self) -> &Vec<String> {
        &self.names
    }
}

impl std::ops::DerefMut for CNetworks {
    fn deref_mut(&mut self) -> &mut Vec<String> {
        &mut self.names
    }
}

impl Serialize for CNetworks {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if self.addresses.is_empty() {
            return self.names.serialize(s);
        }
        // A network without an address is `name: null`, which compose reads as joined.
        let mut map = s.serialize_map(Some(self.names.len()))?;
        for n in &self.names {
            map.serialize_entry(n, &self.addresses.get(n))?;
        }
        map.end()
    }
}

#[derive(Serialize, Default)]
struct CSecret {
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external: Option<bool>,
}

/// What compose cannot express for this stack: errors where the output would be wrong,
/// warnings where it is approximated or ignored.
pub fn check(stack: &Stack) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // The monitoring services compose runs are built from the same settings as the stack's
    // (`service`), so they are checked the same way.
    let generated = stack
        .monitoring
        .iter()
        .filter(|_| super::monitoring_generated(stack))
        .flat_map(|m| std::iter::once(&m.prometheus_service).chain(m.exporters.iter().map(|e| &e.service)));
    for svc in stack.services.values().chain(generated) {
        check_service(stack, svc, &mut out);
    }
    check_volumes(stack, &mut out);
    service::check_container_names(stack, &mut out);
    devices::check_aliases(stack, &mut out);
    pass_through::check_pass_through(stack, &mut out);
    init_steps::check_init_step_names(stack, &mut out);
    out.extend(check_proxy(stack));
    out.extend(check_monitoring(stack));
    out.extend(backup::check(stack));
    out
}

pub fn emit(stack: &Stack, opts: &EmitOptions) -> Vec<OutputFile> {
    let mut secrets = Secrets { stack, opts, used: IndexMap::new() };
    let mut services = IndexMap::new();
    for svc in stack.services.values() {
        let mut main = service(stack, svc, &mut secrets, opts);
        for (name, step) in init_steps::init_step_services(stack, svc, &mut main, &mut secrets, opts) {
            services.insert(name, step);
        }
        services.insert(svc.name.clone(), main);
        services.extend(init_steps::sidecar_services(stack, svc, &mut secrets, opts));
    }
    monitoring::mount_grafana_provisioning(stack, &mut services);
    let networks = networks(stack);
    let mut volumes = volumes(stack);
    // `check` refuses a stack whose names clash with the generated ones.
    if let Some(plan) = proxy_plan(stack, opts) {
        for (name, svc) in plan.services {
            services.entry(name).or_insert(svc);
        }
        for v in plan.volumes {
            volumes.entry(v).or_default();
        }
    }
    if let Some(plan) = monitoring_plan(stack, &mut secrets, opts) {
        for (name, svc) in plan.services {
            services.entry(name).or_insert(svc);
        }
        for v in plan.volumes {
            volumes.entry(v).or_default();
        }
    }
    let project = stack
        .targets
        .options
        .get("compose")
        .and_then(|o| o.get("project"))
        .cloned()
        .unwrap_or_else(|| stack.name.clone());
    // Backups come last: `check` refuses a stack whose names clash with theirs.
    let mut backup_files = Vec::new();
    if let Some(plan) = backup::plan(stack, opts, &mut secrets, &project) {
        for (name, svc) in plan.services {
            services.entry(name).or_insert(svc);
        }
        for v in plan.volumes {
            volumes.entry(v).or_default();
        }
        backup_files = plan.files;
    }
    for (name, c) in services.iter_mut() {
        if !stack.services.contains_key(name) {
            stack_wide(stack, c);
            security::generated_capabilities(c);
            security::generated_read_only(c);
        }
        security::no_new_privileges(c);
        devices::aliases(c);
    }
    let used = secrets.used;
    let compose = Compose { name: project, services, networks, volumes, secrets: used };
    let yaml = super::yaml(&compose);
    let mut text = super::header("#", stack);
    // A comment: compose interpolates values, not comments, so params take their build-time values.
    if let Some(d) = &stack.description {
        for line in stack.compile_time(&Text::from_default(d)).lines() {
            text.push_str(format!("# {line}").trim_end());
            text.push('\n');
        }
    }
    text.push_str(&yaml);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let mut files = vec![OutputFile::new(file_name(stack), text), OutputFile::new(".env.example", env_example(stack))];
    if let Some(script) = init_script(stack) {
        files.push(OutputFile { executable: true, ..OutputFile::new(INIT_SCRIPT, script) });
    }
    files.append(&mut backup_files);
    files
}

#[cfg(test)]
mod tests {
    use super::service::file_variable;
    use super::values::{cpus, esc};
    use super::*;

    #[test]
    fn units() {
        assert_eq!(duration(90_000), "1m30s");
        assert_eq!(duration(500), "500ms");
        assert_eq!(duration(3_600_000), "1h");
        assert_eq!(docker_bytes(512 << 20), "512m");
        assert_eq!(docker_bytes(2 << 30), "2g");
        assert_eq!(docker_bytes(10_000_000), "10000000");
        assert_eq!(cpus(500), "0.5");
        assert_eq!(cpus(2000), "2");
        assert_eq!(cpus(250), "0.25");
        assert_eq!(esc("a$b${c}"), "a$$b$${c}");
    }

    #[test]
    fn file_variables() {
        assert_eq!(file_variable("postgres:16-alpine", "POSTGRES_PASSWORD").as_deref(), Some("POSTGRES_PASSWORD_FILE"));
        assert_eq!(
            file_variable("grafana/grafana:11.1.0", "GF_SECURITY_ADMIN_PASSWORD").as_deref(),
            Some("GF_SECURITY_ADMIN_PASSWORD__FILE")
        );
        assert_eq!(file_variable("ghcr.io/acme/api:1", "DB_PASSWORD"), None);
        assert_eq!(file_variable("redis:7", "REDIS_PASSWORD"), None);
    }
}
