//! The IR: the contract between the front end and the emitters. Ordered maps only,
//! references resolved (every name here exists), no KDL types, and each entity keeps an
//! opaque [`Origin`] for diagnostics. Imports nothing else from the crate.

use indexmap::IndexMap;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;

/// Where an entity was declared: an opaque source position for diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Origin {
    pub source: u32,
    pub offset: usize,
    pub len: usize,
}

/// Characters that show as nothing or reorder the text around them: bidirectional controls
/// and zero-width characters. A reviewer reading a generated file would not see what the
/// tool reads, so validation refuses them in configuration values and the emitters escape them in YAML.
pub fn is_hidden(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}'
            | '\u{200B}'..='\u{200D}'
            | '\u{2060}'
            | '\u{FEFF}'
    )
}

/// A string that may contain `${param}` references, kept apart so that each target can
/// render them its own way (compose `${VAR:-default}`, Caddy `{$VAR:default}`, or the default).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Text(pub Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Piece {
    Lit(String),
    Param(String),
    /// A secret's value; only ever inside an environment value (validated).
    Secret(String),
}

impl Text {
    pub fn lit(s: impl Into<String>) -> Self {
        Text(vec![Piece::Lit(s.into())])
    }

    /// A param's default, which may itself refer to params (`https://${domain}/api`).
    pub fn from_default(s: &str) -> Text {
        let mut pieces = Vec::new();
        let mut rest = s;
        while let Some(i) = rest.find('$') {
            let (before, after) = rest.split_at(i);
            if !before.is_empty() {
                pieces.push(Piece::Lit(before.to_string()));
            }
            if let Some(tail) = after.strip_prefix("$$") {
                pieces.push(Piece::Lit("$".into()));
                rest = tail;
            } else if let Some((name, tail)) = after.strip_prefix("${").and_then(|a| a.split_once('}')) {
                pieces.push(Piece::Param(name.to_string()));
                rest = tail;
            } else {
                pieces.push(Piece::Lit("$".into()));
                rest = &after[1..];
            }
        }
        if !rest.is_empty() {
            pieces.push(Piece::Lit(rest.to_string()));
        }
        Text(pieces)
    }

    /// The literal text, when there is no param in it.
    pub fn as_literal(&self) -> Option<String> {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Lit(s) => Some(s.as_str()),
                Piece::Param(_) | Piece::Secret(_) => None,
            })
            .collect()
    }

    /// Renders params with `f` (which gets the param name). Texts outside `env` values
    /// hold no secrets; in an `env` value a secret renders as `${secret:name}` here, and
    /// emitters that allow them use [`Text::render_with`].
    pub fn render(&self, mut f: impl FnMut(&str) -> String) -> String {
        self.render_with(&mut f, |s| format!("${{secret:{s}}}"))
    }

    pub fn render_with(&self, mut param: impl FnMut(&str) -> String, mut secret: impl FnMut(&str) -> String) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Lit(s) => s.clone(),
                Piece::Param(name) => param(name),
                Piece::Secret(name) => secret(name),
            })
            .collect()
    }

    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            Piece::Secret(s) => Some(s.as_str()),
            _ => None,
        })
    }
}

/// A duration (milliseconds) or a size (bytes) that may be given as `${param}`. Targets
/// that read the deploy environment (compose) render `text`; the others use `value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Amount {
    /// With params at their compile-time values; `None` when one has no value at build time.
    pub value: Option<u64>,
    /// As written, when it names params.
    pub text: Option<Text>,
    /// The property or argument that sets it.
    pub origin: Origin,
}

impl Amount {
    pub fn known(value: u64) -> Amount {
        Amount { value: Some(value), text: None, origin: Origin::default() }
    }

    /// The params it names.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.text.iter().flat_map(|t| t.0.iter()).filter_map(|p| match p {
            Piece::Param(n) => Some(n.as_str()),
            _ => None,
        })
    }
}

/// The compile-time value of an optional [`Amount`] (`p.interval.value()`).
pub trait AmountValue {
    fn value(&self) -> Option<u64>;
}

impl AmountValue for Option<Amount> {
    fn value(&self) -> Option<u64> {
        self.as_ref().and_then(|a| a.value)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Param {
    pub name: String,
    pub default: Option<String>,
    pub env: Option<String>,
    pub required: bool,
    pub description: Option<String>,
    pub origin: Origin,
    /// `optional=#true`: no value unless the deploy environment sets `env=`; targets that can
    /// leave the variable unset do (compose passes it through, Kubernetes an optional key).
    pub optional: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Network {
    pub name: String,
    pub subnet: Option<String>,
    pub internal: bool,
    pub external: bool,
    pub driver: Option<String>,
    /// True for the network stackc adds when a stack declares none.
    pub implicit: bool,
    pub origin: Origin,
    /// `gateway=`: the IPv4 gateway of `subnet=`.
    pub gateway: Option<String>,
    /// `ipv6=`, or implied by `ipv6-subnet=`.
    pub ipv6: bool,
    pub ipv6_subnet: Option<String>,
    pub ipv6_gateway: Option<String>,
    /// `name=`: the network's name on the host (an existing one for `external=#true`).
    pub host_name: Option<String>,
    /// `driver-opts`, in the order written.
    pub driver_opts: IndexMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Volume {
    pub name: String,
    pub size_bytes: Option<u64>,
    pub class: Option<String>,
    pub external: bool,
    pub origin: Origin,
    pub driver: Option<String>,
    /// `nfs="server:/export"`: an NFS export (compose: the local driver's NFS options;
    /// Kubernetes: an `nfs` pod volume).
    pub nfs: Option<NfsExport>,
    /// `driver-opts`, in the order written.
    pub driver_opts: IndexMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NfsExport {
    pub server: String,
    /// Absolute, on the server.
    pub path: String,
    /// `nfs-options=`: mount options (`nfsvers=4,hard`), without `addr=`.
    pub options: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SecretSource {
    /// The path, relative to the stack file unless absolute; may hold params.
    File(Text),
    Env(String),
    External,
}

#[derive(Debug, Clone, Serialize)]
pub struct Secret {
    pub name: String,
    pub source: SecretSource,
    /// An `env=` secret that may be unset at deploy time.
    pub optional: bool,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum EnvValue {
    Text(Text),
    /// The value of the named secret; never the value itself.
    Secret(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Protocol {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Serialize)]
pub struct Port {
    /// The port the container listens on (`target=` when given).
    pub port: u16,
    pub name: Option<String>,
    pub protocol: Protocol,
    /// `port 80 target=8080`: the port other services use in Kubernetes (the Service's), when
    /// it differs from the container's.
    pub service_port: Option<u16>,
    pub origin: Origin,
}

impl Port {
    /// The port a Kubernetes Service exposes for it.
    pub fn service_port(&self) -> u16 {
        self.service_port.unwrap_or(self.port)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Publish {
    pub host_port: u16,
    pub target: u16,
    /// `None`: all addresses. An address or a `${param}` (cashstage binds its database to
    /// `${private-ip}`): a param is never taken for "all addresses".
    pub host: Option<Text>,
    pub protocol: Protocol,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum MountSource {
    Volume(String),
    /// A host path, relative to the stack file unless absolute; may hold params.
    Bind(Text),
}

#[derive(Debug, Clone, Serialize)]
pub struct Mount {
    pub source: MountSource,
    pub target: Text,
    pub read_only: bool,
    pub propagation: Option<String>,
    /// `sub-path=`: a directory of the volume mounted instead of its root (relative, no `..`).
    pub sub_path: Option<String>,
    /// `create-host-path=` (bind mounts): `Some(false)` refuses a missing host path.
    pub create_host_path: Option<bool>,
    /// `selinux=`: `"shared"` (relabel `z`) or `"private"` (`Z`), bind mounts.
    pub selinux: Option<String>,
    /// `nocopy=#true` (named volumes): the image's files are not copied into a new volume.
    pub nocopy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Condition {
    Started,
    Healthy,
    Completed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dependency {
    pub service: String,
    pub condition: Condition,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Check {
    Http {
        path: Text,
        port: u16,
    },
    Cmd(Text),
    Tcp(u16),
    /// The gRPC health checking protocol on this port.
    Grpc(u16),
}

#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub check: Check,
    pub interval: Option<Amount>,
    pub timeout: Option<Amount>,
    pub retries: Option<u32>,
    pub start_period: Option<Amount>,
    /// Headers an `http=` probe sends.
    pub headers: Vec<(Text, Text)>,
    /// `start-interval=`: the interval of the checks during `start-period`.
    pub start_interval: Option<Amount>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Resources {
    pub cpus_milli: Option<u64>,
    pub memory: Option<Amount>,
    pub reserve_cpus_milli: Option<u64>,
    pub reserve_memory: Option<Amount>,
    pub pids: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    /// The scrape job's name (the service name unless `job=` says otherwise).
    pub job: String,
    pub path: String,
    pub port: u16,
    pub interval_ms: Option<u64>,
    pub scheme: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Autoscale {
    pub min: u32,
    pub max: u32,
    pub cpu_percent: Option<u32>,
    pub memory_percent: Option<u32>,
    pub scale_up_window_ms: Option<u64>,
    pub scale_down_window_ms: Option<u64>,
    pub scale_up_select: Option<String>,
    pub scale_down_select: Option<String>,
    pub policies: Vec<ScalePolicy>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpdateConfig {
    pub parallelism: Option<u32>,
    pub delay: Option<Amount>,
    pub failure_action: Option<String>,
    pub monitor: Option<Amount>,
    pub max_failure_ratio: Option<f64>,
    pub max_surge: Option<u32>,
    pub max_unavailable: Option<u32>,
    pub order: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Logging {
    pub driver: String,
    pub max_size: Option<Amount>,
    pub max_file: Option<u32>,
    pub address: Option<Text>,
    pub tag: Option<Text>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecretFile {
    pub secret: String,
    /// Where it is mounted; `None`: the target's default (`/run/secrets/<name>`).
    pub target: Option<Text>,
    pub mode: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScalePolicy {
    /// `up` or `down`.
    pub direction: String,
    pub percent: Option<u32>,
    pub pods: Option<u32>,
    pub period_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Build {
    pub context: Text,
    pub dockerfile: Option<Text>,
    pub target: Option<Text>,
    pub args: IndexMap<String, Text>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tmpfs {
    pub path: Text,
    pub size_bytes: Option<u64>,
    /// `mode=` (tmpfs only): the permission bits of the filesystem's root.
    pub mode: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub name: String,
    pub description: Option<String>,
    pub image: Option<Text>,
    pub build: Option<Box<Build>>,
    pub replicas: u32,
    pub command: Option<Vec<Text>>,
    pub entrypoint: Option<Vec<Text>>,
    pub ports: Vec<Port>,
    pub publish: Vec<Publish>,
    pub env: IndexMap<String, EnvValue>,
    /// Where each `env` variable is set, for diagnostics.
    pub env_origins: IndexMap<String, Origin>,
    pub mounts: Vec<Mount>,
    pub depends_on: Vec<Dependency>,
    pub health: Option<Probe>,
    pub readiness: Option<Probe>,
    pub resources: Resources,
    pub restart: Option<String>,
    pub restart_max_attempts: Option<u32>,
    pub restart_delay: Option<Amount>,
    pub restart_window: Option<Amount>,
    pub max_replicas_per_node: Option<u32>,
    pub pid: Option<String>,
    /// The networks it joins (the implicit stack network when the stack declares none).
    pub networks: Vec<String>,
    pub metrics: Option<Box<Metrics>>,
    pub autoscale: Option<Box<Autoscale>>,
    pub update: Option<Box<UpdateConfig>>,
    pub rollback: Option<Box<UpdateConfig>>,
    pub labels: IndexMap<String, Text>,
    pub logging: Option<Box<Logging>>,
    pub user: Option<Text>,
    pub working_dir: Option<Text>,
    pub hostname: Option<Text>,
    pub stop_grace_period: Option<Amount>,
    pub read_only: bool,
    pub tmpfs: Vec<Tmpfs>,
    pub cap_drop: Vec<Text>,
    pub cap_add: Vec<Text>,
    pub security_opt: Vec<Text>,
    pub ulimits: Vec<Ulimit>,
    pub init: bool,
    pub shm_size: Option<Amount>,
    pub platform: Option<Text>,
    pub stateful: bool,
    /// `env-group`s whose variables it takes.
    pub env_from: Vec<String>,
    /// Secrets mounted as files.
    pub secret_files: Vec<SecretFile>,
    /// Secrets it uses (from `env` values and secret files), in first-use order.
    pub secrets: Vec<String>,
    pub origin: Origin,
    /// Where each setting is (the first node of each name: `resources`, `user`, `mount`, …),
    /// so that a diagnostic about one points at it rather than at the whole service.
    pub origins: IndexMap<String, Origin>,
    /// `mode "global"`: one container on every node.
    pub global: bool,
    /// `network-mode "host"`: the node's network stack (and no stack network).
    pub host_network: bool,
    pub tolerations: Vec<Toleration>,
    pub service_type: ServiceType,
    /// `annotations`: of the pods (and compose's containers).
    pub annotations: IndexMap<String, Text>,
    /// Compose-only settings (issue 12): `profiles`, `pull-policy`, `stop-signal`,
    /// `container-name`, `sysctl`, `group-add`.
    pub profiles: Vec<String>,
    pub pull_policy: Option<String>,
    pub stop_signal: Option<Text>,
    pub container_name: Option<Text>,
    pub sysctls: Vec<(Text, Text)>,
    pub group_add: Vec<Text>,
    /// `env-file`: read by compose at deploy time, never by stackc.
    pub env_files: Vec<EnvFile>,
    /// `scratch`: empty directories on disk (`tmpfs` is in memory).
    pub scratch: Vec<Tmpfs>,
    /// `service-account token=#true`: the Kubernetes pods mount their API token.
    pub service_account_token: bool,
    /// `init-step`s, in order: each must succeed before the next, and the last before the
    /// service's container starts.
    pub init_steps: Vec<InitStep>,
    /// `sidecar`s: containers beside the service's, with its volumes and security settings
    /// and their own `env` only (`command` empty: the image's).
    pub sidecars: Vec<InitStep>,
    /// `address`: fixed addresses on the service's networks, by network.
    pub addresses: Vec<StaticAddress>,
    /// Devices and privileges (issue 12): `privileged`, `device`, `device-cgroup-rule`, `gpu`.
    pub privileged: bool,
    pub devices: Vec<Device>,
    pub device_cgroup_rules: Vec<Text>,
    pub gpu: Option<Box<Gpu>>,
    /// `image-health #false`: the image's own HEALTHCHECK is turned off.
    pub image_health_off: bool,
    /// `alias`: more DNS names of the service.
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaticAddress {
    pub network: String,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    pub origin: Origin,
}

/// `device PATH target= permissions=`: a host device in the container.
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    pub path: Text,
    /// `None`: the same path in the container.
    pub target: Option<Text>,
    /// cgroup permissions (`rwm` by default, Docker's).
    pub permissions: Option<String>,
}

/// `gpu [CAPABILITY…] driver= count= device-ids=`: GPUs reserved for the container.
#[derive(Debug, Clone, Serialize)]
pub struct Gpu {
    /// `nvidia` unless the stack says otherwise (the driver most GPU hosts run).
    pub driver: Text,
    pub count: Option<u32>,
    /// `device-ids=`, comma-separated.
    pub device_ids: Option<Text>,
    /// `["gpu"]` unless the stack lists others.
    pub capabilities: Vec<String>,
}

/// `init-step NAME { image command env }`: a command run to completion before the service
/// starts, in the service's volumes, secret files, `env-from` and security settings.
#[derive(Debug, Clone, Serialize)]
pub struct InitStep {
    pub name: String,
    /// `None`: the service's image.
    pub image: Option<Text>,
    pub command: Vec<Text>,
    /// The service's `env` with the step's own merged over it.
    pub env: IndexMap<String, EnvValue>,
    pub env_origins: IndexMap<String, Origin>,
    pub origin: Origin,
}

/// `toleration [KEY] value= effect=`: no key tolerates every taint; no value, any value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Toleration {
    pub key: Option<Text>,
    pub value: Option<Text>,
    /// `no-schedule`, `prefer-no-schedule` or `no-execute`; `None`: every effect.
    pub effect: Option<String>,
}

/// How a service's Kubernetes Service is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum ServiceType {
    #[default]
    ClusterIp,
    LoadBalancer,
    NodePort,
    /// No virtual IP: the name resolves to every ready pod (a StatefulSet's always is).
    Headless,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvFile {
    /// Relative to the stack file's directory, or absolute.
    pub path: Text,
    /// `required=#false`: a missing file is no error.
    pub required: bool,
    pub origin: Origin,
}

impl Service {
    /// Where its `setting` node is; the service itself when it has none.
    pub fn origin_of(&self, setting: &str) -> Origin {
        self.origins.get(setting).copied().unwrap_or(self.origin)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Tls {
    pub email: Option<String>,
    pub profile: String,
    pub hsts: Option<Amount>,
    pub ocsp: bool,
    pub hsts_subdomains: bool,
    pub hsts_preload: bool,
    pub session_timeout_ms: Option<u64>,
    pub session_tickets: Option<bool>,
    /// `letsencrypt`, `self-signed`, `external`, or `none` (plain HTTP).
    pub certificates: String,
    /// ACME directory: `None` for Let's Encrypt production, "staging", or a URL.
    pub acme_ca: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RateLimit {
    pub name: String,
    pub requests: u64,
    /// `s` or `m`.
    pub per: char,
    pub burst: Option<u32>,
    pub nodelay: bool,
    /// Shared-memory size of the zone (nginx `zone=name:SIZE`).
    pub size_bytes: Option<u64>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Upstream {
    pub balance: Option<String>,
    pub max_fails: Option<u32>,
    pub fail_timeout_ms: Option<u64>,
    pub keepalive: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Proxy {
    pub tls: Tls,
    pub security_headers: String,
    pub headers: Vec<(String, String)>,
    pub rate_limits: IndexMap<String, RateLimit>,
    pub body_limit: Option<Amount>,
    pub gzip: bool,
    pub upstreams: IndexMap<String, Upstream>,
    /// Extra mounts into the proxy container (e.g. static files a `files=` route serves).
    pub mounts: Vec<Mount>,
    /// `cache`: the proxy cache zone, if written.
    pub cache: Option<ProxyCache>,
    /// `client-timeouts`, if written.
    pub client_timeouts: Option<ClientTimeouts>,
    /// `networks`: the networks the proxy joins, as named (empty: chosen by the target).
    pub networks: Vec<String>,
    /// `ports http= https=`: the host ports the proxy is published on (may hold `${param}`).
    pub http_port: Option<Text>,
    pub https_port: Option<Text>,
    /// `gzip level=`.
    pub gzip_level: Option<u32>,
    /// `gzip-types`: compressed besides the default types.
    pub gzip_types: Vec<String>,
    pub real_ip: Option<proxy::RealIp>,
    /// `forwarded-for "replace"`.
    pub forwarded_for_replace: bool,
    /// Where `forwarded-for` is written, if it is.
    pub forwarded_for_origin: Option<Origin>,
    /// `mode="host"`: where it is written when the proxy runs on the host, not in compose.
    pub host_mode: Option<Origin>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Match {
    Prefix,
    Exact,
    Regex,
}

#[derive(Debug, Clone, Serialize)]
pub enum Action {
    Proxy {
        service: String,
        port: u16,
    },
    Files {
        root: String,
    },
    Redirect {
        to: String,
        status: u16,
    },
    /// A fixed status with an empty body (e.g. 404 for `/metrics` from the internet).
    Respond {
        status: u16,
    },
    /// `fastcgi=`: PHP (or another FastCGI application) run by `service` on `port`, its
    /// scripts and static files under `root`, a path the proxy sees too.
    FastCgi {
        service: String,
        port: u16,
        root: String,
    },
}

impl Action {
    /// The service and port the proxy sends requests to (HTTP or FastCGI).
    pub fn upstream(&self) -> Option<(&str, u16)> {
        match self {
            Action::Proxy { service, port } | Action::FastCgi { service, port, .. } => Some((service, *port)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Route {
    pub path: String,
    pub matching: Match,
    pub action: Action,
    pub strip_prefix: bool,
    pub websocket: bool,
    pub rate_limit: Option<String>,
    pub access_log: bool,
    pub timeout: Option<Amount>,
    pub buffering: Option<bool>,
    pub body_limit: Option<Amount>,
    pub cache_ms: Option<u64>,
    pub immutable: bool,
    /// Single-page apps: serve this file when no file matches.
    pub fallback: Option<String>,
    pub internal: bool,
    pub origin: Origin,
    /// `request-header`: sent to the upstream (an empty value removes the header).
    pub request_headers: Vec<RouteHeader>,
    /// `header` of the route: on its responses, after the site's.
    pub response_headers: Vec<RouteHeader>,
    /// `hide-header`: upstream response headers not passed on (`value` empty).
    pub hide_headers: Vec<RouteHeader>,
    /// Timeouts, buffering, the proxy cache and `cache-control` (issue 11).
    pub handling: RouteHandling,
    /// `nginx`/`caddy`: raw directives for the route's block in one target.
    pub raw: Vec<RawDirectives>,
    // Static files, matching priority and rewrites (issue 11).
    /// `fallback-to=` of a `files=` route: the service (and port) that gets the requests
    /// for which no file exists, with their URI unchanged.
    pub fallback_to: Option<(String, u16)>,
    /// `index=`: the file served for a directory (`index.html` by default).
    pub index: Option<String>,
    /// `precompressed=#true`: a file's `.gz` sibling is sent to clients that accept gzip.
    pub precompressed: bool,
    /// `before-regex=#true`: a prefix matched before the regular expressions (nginx `^~`).
    pub before_regex: bool,
    /// `replace-prefix=`: the matched prefix is replaced by this path before proxying.
    pub replace_prefix: Option<String>,
    /// `cors` of the route (replacing the site's).
    pub cors: Option<proxy::Cors>,
    /// `methods`: the only methods accepted.
    pub methods: Vec<String>,
}

/// A route's timeouts, buffering, proxy cache and `Cache-Control` directives, as written.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RouteHandling {
    pub connect_timeout: Option<Amount>,
    pub read_timeout: Option<Amount>,
    pub send_timeout: Option<Amount>,
    pub request_buffering: Option<bool>,
    pub buffer_size: Option<Amount>,
    /// `proxy-cache=`: how long 200, 301 and 302 responses are kept.
    pub proxy_cache: Option<Amount>,
    /// `cache-valid STATUS FOR`, in order.
    pub cache_valid: Vec<(u16, Amount)>,
    /// `cache-control`: the flag directives in order, then `(directive, amount)` for the
    /// ones with seconds (`max-age`, `s-maxage`, `stale-while-revalidate`, `stale-if-error`).
    pub cache_control: Option<CacheControl>,
    /// Where the route's `proxy-cache=` / `cache-valid` / `cache-control` are written.
    pub cache_origin: Origin,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CacheControl {
    pub flags: Vec<String>,
    pub seconds: Vec<(String, Amount)>,
    pub origin: Origin,
}

/// The proxy's `cache` zone (`proxy > cache`) as written.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyCache {
    pub path: Option<String>,
    pub size: Option<Amount>,
    pub inactive: Option<Amount>,
    pub max_size: Option<Amount>,
    pub origin: Origin,
}

/// `proxy > client-timeouts`.
#[derive(Debug, Clone, Serialize)]
pub struct ClientTimeouts {
    pub header: Option<Amount>,
    pub body: Option<Amount>,
    pub origin: Origin,
}

/// Raw directives (`site`/`route > nginx`, `caddy`) for one proxy target, written verbatim
/// into that target's block: validation made sure they stay inside it.
#[derive(Debug, Clone, Serialize)]
pub struct RawDirectives {
    /// [`TargetKind::Nginx`] or [`TargetKind::Caddy`].
    pub target: TargetKind,
    /// One per argument; each may span lines.
    pub directives: Vec<String>,
    pub origin: Origin,
}

impl Route {
    /// The service and container port this route's requests may reach: `to=`'s or
    /// `fastcgi=`'s, or the `fallback-to=` of a `files=` route.
    pub fn proxied(&self) -> Option<(&str, u16)> {
        match (&self.action, &self.fallback_to) {
            (Action::Files { .. }, Some((service, port))) => Some((service, *port)),
            _ => self.action.upstream(),
        }
    }

    /// `index=` and `replace-prefix=` as `(setting, value)`: strings the proxy targets write
    /// and check as they check `files=`.
    pub fn static_values(&self) -> Vec<(&'static str, &str)> {
        [("index=", self.index.as_deref()), ("replace-prefix=", self.replace_prefix.as_deref())]
            .into_iter()
            .filter_map(|(what, v)| Some((what, v?)))
            .collect()
    }
}

/// A header setting of a route, with where it is written.
#[derive(Debug, Clone, Serialize)]
pub struct RouteHeader {
    pub name: String,
    pub value: String,
    pub origin: Origin,
}

#[derive(Debug, Clone, Serialize)]
pub struct BasicAuth {
    pub user: String,
    /// The secret holding the password hash.
    pub password_secret: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Site {
    pub hosts: Vec<Text>,
    /// Hosts that redirect permanently to the first host.
    pub redirect_from: Vec<String>,
    pub routes: Vec<Route>,
    pub allow_from: Vec<String>,
    pub basic_auth: Vec<BasicAuth>,
    pub headers: Vec<(String, String)>,
    pub security_headers: Option<String>,
    pub body_limit: Option<Amount>,
    pub gzip: Option<bool>,
    pub origin: Origin,
    /// `nginx`/`caddy`: raw directives for the site's block in one target.
    pub raw: Vec<RawDirectives>,
    /// `listen`: the port the site is served on over plain HTTP, instead of 80 and 443.
    pub listen: Option<u16>,
    /// `gzip level=` of the site (else the proxy's).
    pub gzip_level: Option<u32>,
    /// The site's `gzip-types` (else the proxy's).
    pub gzip_types: Vec<String>,
    /// `mime-type`: `(media type, extensions without the dot)`.
    pub mime_types: Vec<(String, Vec<String>)>,
    /// `cors`: the default of the site's routes.
    pub cors: Option<proxy::Cors>,
    pub error_pages: Vec<proxy::ErrorPage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FirewallRule {
    /// `allow`, `deny` or `limit`.
    pub action: String,
    pub port: u16,
    pub protocol: Option<Protocol>,
    pub from: Option<String>,
    pub comment: Option<String>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Serialize)]
pub struct Firewall {
    pub incoming: String,
    pub outgoing: String,
    pub routed: Option<String>,
    pub rules: Vec<FirewallRule>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Prometheus {
    pub retention_ms: Option<u64>,
    pub retention_size_bytes: Option<u64>,
    pub scrape_interval_ms: Option<u64>,
    pub evaluation_interval_ms: Option<u64>,
    pub scrape_timeout_ms: Option<u64>,
    /// `--web.enable-lifecycle`: reload and shutdown over HTTP.
    pub lifecycle: bool,
    /// `monitoring > external-labels`.
    pub external_labels: IndexMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlackboxProbe {
    pub url: String,
    pub module: String,
    pub origin: Origin,
}

#[derive(Debug, Clone, Serialize)]
pub struct Scrape {
    pub name: String,
    pub target: String,
    pub path: Option<String>,
    pub interval_ms: Option<u64>,
    pub scheme: Option<String>,
    /// `targets`: more `host:port` targets after `target`.
    pub more_targets: Vec<String>,
    pub timeout_ms: Option<u64>,
    pub honor_labels: Option<bool>,
    pub basic_auth_user: Option<String>,
    pub basic_auth_password_secret: Option<String>,
    pub tls_server_name: Option<String>,
    pub insecure_skip_verify: Option<bool>,
    /// `drop-metric` regular expressions, anchored by Prometheus.
    pub drop_metrics: Vec<String>,
    /// `rename-label FROM TO` pairs.
    pub rename_labels: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Exporter {
    pub kind: String,
    /// Settings for the generated service (`exporter "node" { publish … }`); its image,
    /// when not given, is the target's default for this exporter.
    pub service: Service,
}

#[derive(Debug, Clone, Serialize)]
pub struct Notify {
    pub kind: String,
    pub webhook_secret: String,
    pub channel: Option<String>,
    pub send_resolved: bool,
    /// The Alertmanager receiver this belongs to (`receiver=`, else [`DEFAULT_RECEIVER`]).
    pub receiver: String,
}

/// The receiver of the `notify`/`email`/`pagerduty` nodes without `receiver=`: where alerts
/// that match no `route` go.
pub const DEFAULT_RECEIVER: &str = "stackc";

/// `monitoring > email`.
#[derive(Debug, Clone, Serialize)]
pub struct EmailNotify {
    pub to: String,
    pub from: String,
    pub smarthost: String,
    pub auth_username: Option<String>,
    pub auth_password_secret: Option<String>,
    pub require_tls: Option<bool>,
    pub send_resolved: bool,
    pub receiver: String,
}

/// `monitoring > pagerduty`.
#[derive(Debug, Clone, Serialize)]
pub struct PagerDutyNotify {
    pub routing_key_secret: String,
    pub send_resolved: bool,
    pub receiver: String,
}

/// `monitoring > alertmanager > route`: alerts matching `matchers` go to `receiver`.
#[derive(Debug, Clone, Serialize)]
pub struct AlertRoute {
    pub receiver: String,
    /// Alertmanager matchers (`severity="critical", team=~"db|infra"`), one per item.
    pub matchers: Vec<String>,
    pub continue_: bool,
    pub group_wait_ms: Option<u64>,
    pub group_interval_ms: Option<u64>,
    pub repeat_interval_ms: Option<u64>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Serialize)]
pub struct Monitoring {
    pub prometheus: Prometheus,
    /// Settings for the generated Prometheus service.
    pub prometheus_service: Service,
    pub exporters: Vec<Exporter>,
    pub probes: Vec<BlackboxProbe>,
    pub scrapes: Vec<Scrape>,
    pub notify: Vec<Notify>,
    /// `monitoring > alertmanager`: how alerts are batched, repeated and inhibited (its
    /// defaults when the stack has no such node).
    pub alertmanager: AlertmanagerSettings,
    pub emails: Vec<EmailNotify>,
    pub pagerduty: Vec<PagerDutyNotify>,
}

impl Monitoring {
    /// Whether Alertmanager runs: some receiver sends alerts somewhere.
    pub fn has_alertmanager(&self) -> bool {
        !self.notify.is_empty() || !self.emails.is_empty() || !self.pagerduty.is_empty()
    }

    /// The secrets Prometheus reads from files (a `scrape`'s basic-auth password), once each.
    pub fn prometheus_secrets(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in self.scrapes.iter().filter_map(|s| s.basic_auth_password_secret.as_deref()) {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    /// The secrets Alertmanager reads from files, once each, in the stack's order.
    pub fn alertmanager_secrets(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let all = self.notify.iter().map(|n| n.webhook_secret.as_str());
        let all = all.chain(self.emails.iter().filter_map(|e| e.auth_password_secret.as_deref()));
        for s in all.chain(self.pagerduty.iter().map(|p| p.routing_key_secret.as_str())) {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }
}

/// `monitoring > alertmanager`; what it leaves out is Alertmanager's default.
#[derive(Debug, Clone, Serialize)]
pub struct AlertmanagerSettings {
    pub group_by: Vec<String>,
    pub group_wait_ms: Option<u64>,
    pub group_interval_ms: Option<u64>,
    pub repeat_interval_ms: Option<u64>,
    pub inhibit: Vec<Inhibit>,
    pub routes: Vec<AlertRoute>,
    /// Where the stack declares them; `None` when it does not.
    pub origin: Option<Origin>,
}

/// While an alert with `severity=source` fires, alerts with `severity=target` and the same
/// values of the `equal` labels are not sent.
#[derive(Debug, Clone, Serialize)]
pub struct Inhibit {
    pub source: String,
    pub target: String,
    pub equal: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub name: String,
    pub expr: String,
    pub for_ms: Option<u64>,
    pub severity: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub runbook: Option<String>,
    pub labels: IndexMap<String, String>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertGroup {
    pub name: String,
    pub interval_ms: Option<u64>,
    pub alerts: Vec<Alert>,
    pub origin: Origin,
    /// `limit=`: the most alerts (and recorded series) one evaluation may produce.
    pub limit: Option<u64>,
    /// The recording rules, evaluated before the alerts (which may use them).
    pub records: Vec<RecordRule>,
}

/// `alerts > record`.
#[derive(Debug, Clone, Serialize)]
pub struct RecordRule {
    pub metric: String,
    pub expr: String,
    pub labels: IndexMap<String, String>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Serialize)]
pub struct Backup {
    pub name: String,
    /// What is backed up: a database service's dump, or a volume's files.
    pub service: Option<String>,
    pub volume: Option<String>,
    /// `postgres` or `redis` for service backups.
    pub engine: Option<String>,
    pub schedule: String,
    pub retain_ms: Option<u64>,
    pub to: String,
    pub copy_to: Option<String>,
    pub encrypt_secret: Option<String>,
    pub no_owner: bool,
    pub no_privileges: bool,
    pub env: IndexMap<String, EnvValue>,
    pub database: Option<String>,
    pub user: Option<String>,
    pub password_secret: Option<String>,
    pub format: Option<String>,
    pub compress: bool,
    pub origin: Origin,
    /// The longest time between two runs of `schedule` (a weekday schedule's weekend gap),
    /// which the backup-age alert allows twice over.
    pub max_gap_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum TargetKind {
    Compose,
    Nginx,
    Caddy,
    Ufw,
    Prometheus,
    K8s,
}

impl TargetKind {
    pub const ALL: [TargetKind; 6] = [
        TargetKind::Compose,
        TargetKind::Nginx,
        TargetKind::Caddy,
        TargetKind::Ufw,
        TargetKind::Prometheus,
        TargetKind::K8s,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Compose => "compose",
            TargetKind::Nginx => "nginx",
            TargetKind::Caddy => "caddy",
            TargetKind::Ufw => "ufw",
            TargetKind::Prometheus => "prometheus",
            TargetKind::K8s => "k8s",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Targets {
    /// The targets to build: those of the `targets` node, or all of them.
    pub selected: Vec<TargetKind>,
    /// Options per target, as given (e.g. compose `file`, k8s `namespace`).
    pub options: IndexMap<String, IndexMap<String, String>>,
    /// Labels on the generated k8s Namespace.
    pub namespace_labels: IndexMap<String, String>,
    /// `targets > k8s > egress|ingress`: connections the NetworkPolicies allow beyond the graph.
    pub k8s_edges: Vec<K8sEdge>,
}

/// A connection between a service and something outside the stack's graph.
#[derive(Debug, Clone, Serialize)]
pub struct K8sEdge {
    pub service: String,
    /// `ingress` (into the service) rather than `egress` (out of it).
    pub incoming: bool,
    pub cidr: Option<Text>,
    pub namespace: Option<String>,
    pub port: u16,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum GraphNode {
    Internet,
    Service(String),
    Volume(String),
    Network(String),
    Secret(String),
    Route {
        host: String,
        path: String,
    },
    HostPort {
        address: String,
        port: u16,
        protocol: Protocol,
    },
    /// A lint level set by the stack's `policy`.
    Policy {
        lint: String,
        level: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum GraphEdge {
    DependsOn(Condition, Origin),
    Mounts { target: String, read_only: bool },
    Joins,
    UsesSecret,
    RoutesTo { port: u16 },
    Serves,
    Publishes { target: u16 },
}

#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub graph: DiGraph<GraphNode, GraphEdge>,
    pub services: IndexMap<String, NodeIndex>,
}

#[derive(Debug, Clone, Default)]
pub struct Stack {
    pub name: String,
    pub description: Option<String>,
    pub domain: Option<String>,
    /// Labels on every generated object.
    pub labels: IndexMap<String, Text>,
    /// `defaults > logging`: also for the services the targets generate (proxy, monitoring,
    /// backups), which `defaults` (merged into `service` nodes) does not reach.
    pub default_logging: Option<Logging>,
    /// The environment merged in, if any.
    pub environment: Option<String>,
    pub params: IndexMap<String, Param>,
    pub networks: IndexMap<String, Network>,
    pub volumes: IndexMap<String, Volume>,
    pub secrets: IndexMap<String, Secret>,
    /// Named sets of environment variables (`env-group`), taken with `env-from`.
    pub env_groups: IndexMap<String, IndexMap<String, Text>>,
    pub services: IndexMap<String, Service>,
    pub proxy: Option<Proxy>,
    /// Where each setting of `proxy` is (`tls`, `gzip`, `header`, `upstream NAME`, …: the first
    /// node of each name), so that a target that cannot express one points at it.
    pub proxy_origins: IndexMap<String, Origin>,
    pub sites: Vec<Site>,
    pub firewall: Option<Firewall>,
    pub monitoring: Option<Monitoring>,
    pub alert_groups: Vec<AlertGroup>,
    pub backups: IndexMap<String, Backup>,
    /// Lint levels the stack's `policy` sets, by lint name.
    pub policy: IndexMap<String, String>,
    /// The `reason=` given with a lint's level in `policy`, by lint name.
    pub policy_reasons: IndexMap<String, String>,
    pub targets: Targets,
    pub graph: Graph,
    /// Durations and sizes whose params have no value at build time, in settings that every
    /// target writes as a number: left out, with a warning.
    pub unvalued: Vec<Origin>,
    /// The sites as the proxy targets render them (`lower::proxy`); `None` without sites.
    pub proxy_plan: Option<proxy::ProxyPlan>,
}

impl Stack {
    /// A param's compile-time value: its default with the params it names expanded; `None`
    /// for a param without a default, or one whose default names such a param. For targets
    /// that cannot read the deploy environment (nginx, Prometheus, …). Validation rejects
    /// loops between defaults; the depth bound only guards against a bug there.
    pub fn param_value(&self, name: &str) -> Option<String> {
        self.param_value_at(name, 0)
    }

    fn param_value_at(&self, name: &str, depth: usize) -> Option<String> {
        let d = self.params.get(name)?.default.as_deref()?;
        if depth > 16 {
            return None;
        }
        Text::from_default(d)
            .0
            .iter()
            .map(|piece| match piece {
                Piece::Lit(s) => Some(s.clone()),
                Piece::Param(n) => self.param_value_at(n, depth + 1),
                Piece::Secret(_) => None,
            })
            .collect()
    }

    /// Whether `t` names a param whose value is read at deploy time (`env=`), directly or
    /// through another param's default.
    pub fn reads_deploy_env(&self, t: &Text) -> bool {
        fn at(stack: &Stack, t: &Text, depth: usize) -> bool {
            depth <= 16
                && t.0.iter().any(|p| match p {
                    Piece::Param(n) => stack.params.get(n).is_some_and(|p| {
                        p.env.is_some()
                            || p.default.as_deref().is_some_and(|d| at(stack, &Text::from_default(d), depth + 1))
                    }),
                    _ => false,
                })
        }
        at(self, t, 0)
    }

    /// `t` with every param replaced by its compile-time value (empty for one without).
    pub fn compile_time(&self, t: &Text) -> String {
        t.render(|name| self.param_value(name).unwrap_or_default())
    }
}

pub mod proxy;
