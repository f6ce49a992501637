//! The language as data: every node, where it may appear, its arguments and properties
//! with their value kinds. Shape checking, "did you mean", environment merging and the
//! language reference all read this one table.

/// What a reference points to; checked against the stack's declarations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Service,
    Volume,
    Network,
    Secret,
    RateLimit,
    Lint,
    EnvGroup,
}

impl RefKind {
    pub fn noun(self) -> &'static str {
        match self {
            RefKind::Service => "service",
            RefKind::Volume => "volume",
            RefKind::Network => "network",
            RefKind::Secret => "secret",
            RefKind::RateLimit => "rate-limit zone",
            RefKind::Lint => "lint",
            RefKind::EnvGroup => "env-group",
        }
    }
}

/// The domain of a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Any string on one line, without control or invisible characters: it may reach any
    /// generated file.
    Str,
    /// Free text that may span lines (descriptions, commands, alert annotations): written
    /// only where the target quotes it (YAML, comments).
    Text,
    /// A name of a thing: `[a-z][a-z0-9-]{0,62}`.
    Name,
    Int(i128, i128),
    /// An integer or a decimal number in the range.
    Number(f64, f64),
    Bool,
    /// A scalar of any type (env values, param defaults).
    Scalar,
    Port,
    /// A port number or the name of one of the service's ports.
    PortRef,
    Duration,
    Size,
    Cpus,
    Cidr,
    Cron,
    Host,
    /// An IP address.
    Address,
    Image,
    EnvName,
    /// A file path, relative or absolute.
    Path,
    /// An absolute path inside a container.
    AbsPath,
    /// An absolute path inside a container that a mount or tmpfs lands on: no `:`.
    MountTarget,
    /// The name of a generated file: one path component, inside the output directory.
    FileName,
    /// A URL path (`/api/`).
    UrlPath,
    /// A route's path: a URL path, or a regular expression with `regex=#true`.
    RoutePath,
    /// A named volume, or a bind-mount path starting with `./`, `../` or `/`.
    MountSource,
    /// A request rate: `10r/s`, `30r/m`.
    Rate,
    Promql,
    /// A backup destination: `s3://bucket/prefix` or an absolute path.
    Destination,
    /// An http(s) URL.
    Url,
    /// An HTTP header name (an RFC 7230 token).
    HeaderName,
    /// An HTTP header value: one line, at most 4096 bytes.
    HeaderValue,
    /// A Prometheus label name.
    LabelName,
    /// A Kubernetes object name (DNS-1123 subdomain): an ingress or storage class.
    ObjectName,
    /// An image tag (`1.27-alpine`).
    ImageTag,
    /// `host:port`.
    HostPort,
    /// An HTTP basic-auth user: one line without `:` (RFC 7617; htpasswd's separator).
    AuthUser,
    /// A media type without parameters (`application/wasm`).
    MediaType,
    Enum(&'static [&'static str]),
    Ref(RefKind),
    /// The name of a service or network, or a DNS alias: a [`Kind::Name`], or one with `_`
    /// (`app_db`) that compose users keep. Compose writes it as it is; Kubernetes refuses it.
    ComposeName,
    /// Raw nginx directives for a server or location block, written verbatim: balanced
    /// braces, every directive ended (`;` or a block).
    RawNginx,
    /// Raw Caddyfile directives for a site or route block, written verbatim: balanced braces.
    RawCaddy,
    /// A CORS origin as browsers send it (`https://app.example.com`, with a port if any), or
    /// `*` for any.
    Origin,
}

impl Kind {
    /// Written byte for byte into one target (raw proxy directives): no `${param}`.
    pub fn verbatim(self) -> bool {
        matches!(self, Kind::RawNginx | Kind::RawCaddy)
    }

    pub fn describe(&self) -> String {
        match self {
            Kind::Str => "a string".into(),
            Kind::Text => "text (may span lines)".into(),
            Kind::Name => "a name (`[a-z][a-z0-9-]*`)".into(),
            Kind::Int(lo, hi) => format!("an integer from {lo} to {hi}"),
            Kind::Number(lo, hi) => format!("a number from {lo} to {hi}"),
            Kind::Bool => "`#true` or `#false`".into(),
            Kind::Scalar => "a string, number or boolean".into(),
            Kind::Port => "a port number (1-65535)".into(),
            Kind::PortRef => "a port number or a port name".into(),
            Kind::Duration => "a duration such as \"30s\", \"5m\" or \"1h30m\"".into(),
            Kind::Size => "a size such as \"512Mi\", \"2G\" or \"10M\"".into(),
            Kind::Cpus => "a CPU amount such as 0.5 or \"500m\"".into(),
            Kind::Cidr => "a CIDR such as \"10.0.0.0/8\"".into(),
            Kind::Cron => "a cron schedule such as \"0 3 * * *\"".into(),
            Kind::Host => "a host name".into(),
            Kind::Address => "an IP address".into(),
            Kind::Image => "an image reference such as \"postgres:16-alpine\"".into(),
            Kind::EnvName => "an environment variable name".into(),
            Kind::Path => "a path".into(),
            Kind::AbsPath => "an absolute path".into(),
            Kind::MountTarget => "an absolute path without `:`".into(),
            Kind::FileName => "a file name such as \"docker-compose.prod.yml\"".into(),
            Kind::UrlPath => "a URL path starting with `/`".into(),
            Kind::RoutePath => "a URL path starting with `/`, or a regex with `regex=#true`".into(),
            Kind::MountSource => "a volume name or a path starting with `./` or `/`".into(),
            Kind::Rate => "a rate such as \"10r/s\" or \"30r/m\"".into(),
            Kind::Promql => "a PromQL expression".into(),
            Kind::Destination => "\"s3://bucket/prefix\" or an absolute path".into(),
            Kind::Url => "an http(s) URL".into(),
            Kind::HeaderName => "a header name such as \"X-Frame-Options\"".into(),
            Kind::HeaderValue => "a header value (one line, at most 4096 bytes)".into(),
            Kind::LabelName => "a Prometheus label name such as \"team\"".into(),
            Kind::ObjectName => "a Kubernetes object name such as \"nginx\" or \"fast-ssd\"".into(),
            Kind::ImageTag => "an image tag such as \"1.27\"".into(),
            Kind::HostPort => "`host:port`, e.g. \"api.internal:9100\"".into(),
            Kind::AuthUser => "a user name without `:`".into(),
            Kind::MediaType => "a media type such as \"application/wasm\"".into(),
            Kind::Origin => "an origin such as \"https://app.example.com\", or \"*\"".into(),
            Kind::Enum(words) => {
                let w: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
                format!("one of {}", w.join(", "))
            }
            Kind::Ref(r) => format!("the name of a {}", r.noun()),
            Kind::ComposeName => "a name (`[a-z][a-z0-9_-]*`)".into(),
            Kind::RawNginx => "nginx directives, written verbatim (balanced braces, each ended by `;`)".into(),
            Kind::RawCaddy => "Caddyfile directives, written verbatim (balanced braces)".into(),
        }
    }
}

/// A property a node takes.
#[derive(Debug, Clone, Copy)]
pub struct PropSpec {
    pub name: &'static str,
    pub kind: Kind,
    /// Must be a `(secret)"name"` reference: a literal would put a secret in the stack file.
    pub secret_only: bool,
}

pub const fn p(name: &'static str, kind: Kind) -> PropSpec {
    PropSpec { name, kind, secret_only: false }
}

/// A property whose value is a secret: only a `(secret)"name"` reference is accepted.
pub const fn ps(name: &'static str, kind: Kind) -> PropSpec {
    PropSpec { name, kind, secret_only: true }
}

/// How a node in an environment overlay combines with the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// The node appears once per parent; the overlay's replaces it.
    Once,
    /// Identified by the argument at this index; the overlay's replaces it.
    Key(usize),
    /// Identified by all of its arguments and properties (firewall rules): only added or removed.
    Whole,
    /// Once per parent, and its properties and children merge with the base's (`service`,
    /// `proxy`, ...): nodes in both are merged recursively.
    Deep,
    /// Identified by the first argument; merged recursively like `Deep`.
    DeepKey,
    /// Free key=value properties (`env`, `labels`): merged key by key; `KEY=#null` removes one.
    Props,
}

#[derive(Debug, Clone, Copy)]
pub enum Children {
    None,
    Nodes(&'static [NodeSpec]),
    /// `env` blocks: any top-level node.
    TopLevel,
}

#[derive(Debug, Clone, Copy)]
pub struct NodeSpec {
    pub name: &'static str,
    /// Positional arguments; the first `min_args` are required.
    pub args: &'static [(&'static str, Kind)],
    pub min_args: usize,
    /// Further arguments after `args`.
    pub rest: Option<(&'static str, Kind)>,
    pub props: &'static [PropSpec],
    /// Arbitrary `KEY=value` properties (env vars, labels, build args).
    pub free_props: Option<(Kind, Kind, bool)>,
    pub required: &'static [&'static str],
    /// Exactly one of these properties must be given.
    pub one_of: &'static [&'static str],
    /// Children of which at least one must be present (checked on the merged stack).
    pub required_children: &'static [&'static [&'static str]],
    pub children: Children,
    pub merge: Merge,
    pub summary: &'static str,
    /// For a keyed node: a property that tells siblings with the same key apart (two
    /// `alert "QueueBacklog"`, a warning and a critical, are valid Prometheus). An overlay's
    /// node replaces the base's with the same key and value of this property, else the first
    /// with the key; a removal removes every node with the key.
    pub key_prop: Option<&'static str>,
}

const fn n(name: &'static str, summary: &'static str) -> NodeSpec {
    NodeSpec {
        name,
        args: &[],
        min_args: 0,
        rest: None,
        props: &[],
        free_props: None,
        required: &[],
        one_of: &[],
        required_children: &[],
        children: Children::None,
        merge: Merge::Once,
        summary,
        key_prop: None,
    }
}

impl NodeSpec {
    const fn args(mut self, args: &'static [(&'static str, Kind)], min: usize) -> Self {
        self.args = args;
        self.min_args = min;
        self
    }
    const fn rest(mut self, name: &'static str, kind: Kind, min: usize) -> Self {
        self.rest = Some((name, kind));
        self.min_args = min;
        self
    }
    const fn props(mut self, props: &'static [PropSpec]) -> Self {
        self.props = props;
        self
    }
    const fn free(mut self, key: Kind, value: Kind, secret_ok: bool) -> Self {
        self.free_props = Some((key, value, secret_ok));
        self.merge = Merge::Props;
        self
    }
    const fn required(mut self, r: &'static [&'static str]) -> Self {
        self.required = r;
        self
    }
    const fn one_of(mut self, r: &'static [&'static str]) -> Self {
        self.one_of = r;
        self
    }
    const fn needs(mut self, r: &'static [&'static [&'static str]]) -> Self {
        self.required_children = r;
        self
    }
    const fn kids(mut self, c: &'static [NodeSpec]) -> Self {
        self.children = Children::Nodes(c);
        self
    }
    const fn overlay(mut self) -> Self {
        self.children = Children::TopLevel;
        self
    }
    const fn merge(mut self, m: Merge) -> Self {
        self.merge = m;
        self
    }
    /// Named things: first argument is the identity.
    const fn keyed(self) -> Self {
        self.merge(Merge::Key(0))
    }
    const fn key_prop(mut self, prop: &'static str) -> Self {
        self.key_prop = Some(prop);
        self
    }

    pub fn prop(&self, name: &str) -> Option<&'static PropSpec> {
        self.props.iter().find(|p| p.name == name)
    }

    pub fn child(&self, name: &str) -> Option<&'static NodeSpec> {
        match self.children {
            Children::Nodes(c) => c.iter().find(|s| s.name == name),
            Children::TopLevel => TOP.iter().find(|s| s.name == name),
            Children::None => None,
        }
    }

    pub fn child_specs(&self) -> &'static [NodeSpec] {
        match self.children {
            Children::Nodes(c) => c,
            Children::TopLevel => TOP,
            Children::None => &[],
        }
    }
}

use Kind::*;

pub const NAME: (&str, Kind) = ("name", Name);
/// The name of a service or a network: `_` allowed for compose (see [`Kind::ComposeName`]).
pub const COMPOSE_NAME: (&str, Kind) = ("name", ComposeName);
const DUR: Kind = Duration;
const PROTOCOLS: Kind = Enum(&["tcp", "udp"]);
pub const DATABASE_EXPORTERS: &[&str] = &["postgres", "mysql", "redis", "mongodb"];
pub const EXPORTERS: &[&str] = &["node", "cadvisor", "postgres", "mysql", "redis", "mongodb", "blackbox", "nginx"];
/// The service each exporter becomes, in the order of [`EXPORTERS`].
pub const EXPORTER_SERVICES: &[&str] = &[
    "node-exporter",
    "cadvisor-exporter",
    "postgres-exporter",
    "mysql-exporter",
    "redis-exporter",
    "mongodb-exporter",
    "blackbox-exporter",
    "nginx-exporter",
];

const PROBE_PROPS: &[PropSpec] = &[
    p("http", UrlPath),
    p("cmd", Text),
    p("tcp", PortRef),
    p("grpc", PortRef),
    p("port", PortRef),
    p("interval", DUR),
    p("timeout", DUR),
    p("retries", Int(1, 100)),
    p("start-period", DUR),
    p("start-interval", DUR),
];

/// What an `http=` probe sends besides the request line (a `Host` a virtual host needs).
const PROBE_KIDS: &[NodeSpec] = &[n("header", "an HTTP header an `http=` probe sends")
    .args(&[("name", HeaderName), ("value", HeaderValue)], 2)
    .keyed()];

const SCALE_SELECT: Kind = Enum(&["max", "min", "disabled"]);
const SCALE_POLICY_PROPS: &[PropSpec] = &[p("percent", Int(1, 1000)), p("pods", Int(1, 1000)), p("period", DUR)];
const SCALE_POLICIES: &[NodeSpec] = &[
    n("scale-up", "an HPA scale-up policy: at most `percent` or `pods` per `period`")
        .props(SCALE_POLICY_PROPS)
        .one_of(&["percent", "pods"])
        .required(&["period"])
        .merge(Merge::Whole),
    n("scale-down", "an HPA scale-down policy: at most `percent` or `pods` per `period`")
        .props(SCALE_POLICY_PROPS)
        .one_of(&["percent", "pods"])
        .required(&["period"])
        .merge(Merge::Whole),
];

const BUILD: &[NodeSpec] = &[n("arg", "a build argument: `arg NAME=\"value\"`").free(EnvName, Scalar, false)];

const MOUNT: NodeSpec = n("mount", "mount a named volume or bind-mount a host path")
    .args(&[("source", MountSource), ("target", MountTarget)], 2)
    .props(&[
        p("read-only", Bool),
        p("propagation", Enum(&["rprivate", "private", "rshared", "shared", "rslave", "slave"])),
        p("sub-path", Path),
        p("create-host-path", Bool),
        p("selinux", Enum(&["shared", "private"])),
        p("nocopy", Bool),
    ])
    .merge(Merge::Key(1));

/// A volume's or network's driver options (compose `driver_opts`), as `KEY="value"`.
const DRIVER_OPTS: &[NodeSpec] =
    &[n("driver-opts", "driver options (compose `driver_opts`): `driver-opts type=\"nfs\" o=\"addr=10.0.0.5\"`")
        .free(Str, Str, false)
        .merge(Merge::Deep)];

/// `address`: a service's fixed addresses on one of its networks.
const ADDRESS: NodeSpec =
    n("address", "fixed addresses of the service on one of its networks (compose `ipv4_address`)")
        .args(&[("network", Ref(RefKind::Network))], 1)
        .props(&[p("ipv4", Address), p("ipv6", Address)])
        .keyed();

const SERVICE: &[NodeSpec] = &[
    n("description", "what the service is for").args(&[("text", Text)], 1),
    n("image", "the container image").args(&[("image", Image)], 1),
    n("build", "build the image from a Dockerfile")
        .props(&[p("context", Path), p("dockerfile", Path), p("target", Str)])
        .required(&["context"])
        .kids(BUILD)
        .merge(Merge::Deep),
    n("replicas", "how many containers run").args(&[("count", Int(0, 1000))], 1),
    n("command", "the command, replacing the image's CMD").rest("word", Text, 1),
    n("entrypoint", "the entrypoint, replacing the image's ENTRYPOINT").rest("word", Text, 1),
    n("port", "a container port reachable by other services (never published on the host)")
        .args(&[("port", Port)], 1)
        .props(&[p("name", Name), p("protocol", PROTOCOLS), p("target", Port)])
        .keyed(),
    n("publish", "publish a host port")
        .args(&[("host-port", Port)], 1)
        .props(&[p("target", Port), p("host", Address), p("protocol", PROTOCOLS)])
        .keyed(),
    n("env", "environment variables: `env NAME=\"value\" OTHER=(secret)\"name\"`").free(EnvName, Scalar, true),
    MOUNT,
    n("depends-on", "start after another service")
        .args(&[("service", Ref(RefKind::Service))], 1)
        .props(&[p("healthy", Bool), p("completed", Bool)])
        .keyed(),
    n("health", "a health check: liveness and readiness")
        .props(PROBE_PROPS)
        .one_of(&["http", "cmd", "tcp", "grpc"])
        .kids(PROBE_KIDS),
    n("readiness", "a readiness-only probe (Kubernetes); `health` stays the liveness probe")
        .props(PROBE_PROPS)
        .one_of(&["http", "cmd", "tcp", "grpc"])
        .kids(PROBE_KIDS),
    n("resources", "CPU and memory limits and reservations").props(&[
        p("cpus", Cpus),
        p("memory", Size),
        p("reserve-cpus", Cpus),
        p("reserve-memory", Size),
        p("pids", Int(1, 4_194_304)),
    ]),
    n("restart", "restart policy")
        .args(&[("policy", Enum(&["no", "always", "on-failure", "unless-stopped"]))], 1)
        .props(&[p("max-attempts", Int(1, 1000)), p("delay", DUR), p("window", DUR)]),
    n("placement", "how replicas spread over nodes").props(&[p("max-replicas-per-node", Int(1, 1000))]),
    n("pid", "the PID namespace: \"host\" lets a node exporter see every process")
        .args(&[("mode", Enum(&["host"]))], 1),
    n("networks", "the networks the service joins").rest("network", Ref(RefKind::Network), 1),
    n("metrics", "a Prometheus scrape job for this service").props(&[
        p("job", Name),
        p("path", UrlPath),
        p("port", PortRef),
        p("interval", DUR),
        p("scheme", Enum(&["http", "https"])),
    ]),
    n("autoscale", "horizontal autoscaling (k8s HPA); compose runs `min` replicas")
        .props(&[
            p("min", Int(1, 1000)),
            p("max", Int(1, 1000)),
            p("cpu", Int(1, 100)),
            p("memory", Int(1, 100)),
            p("scale-up-window", DUR),
            p("scale-down-window", DUR),
            p("scale-up-select", SCALE_SELECT),
            p("scale-down-select", SCALE_SELECT),
        ])
        .required(&["min", "max"])
        .kids(SCALE_POLICIES),
    n("update", "rolling update settings").props(&[
        p("parallelism", Int(1, 1000)),
        p("delay", DUR),
        p("failure-action", Enum(&["continue", "rollback", "pause"])),
        p("monitor", DUR),
        p("max-failure-ratio", Number(0.0, 1.0)),
        p("max-surge", Int(0, 1000)),
        p("max-unavailable", Int(0, 1000)),
        p("order", Enum(&["stop-first", "start-first"])),
    ]),
    n("rollback", "rollback settings after a failed update").props(&[
        p("parallelism", Int(1, 1000)),
        p("delay", DUR),
        p("failure-action", Enum(&["continue", "pause"])),
        p("monitor", DUR),
        p("order", Enum(&["stop-first", "start-first"])),
    ]),
    n("labels", "container labels: `labels com.example.team=\"api\"`").free(Str, Str, false),
    n("logging", "log driver and rotation").props(&[
        p("driver", Enum(&["json-file", "local", "journald", "syslog", "none"])),
        p("max-size", Size),
        p("max-file", Int(1, 100)),
        p("address", Str),
        p("tag", Str),
    ]),
    n("user", "the user (and group) the process runs as").args(&[("user", Str)], 1),
    n("working-dir", "the working directory").args(&[("path", AbsPath)], 1),
    n("hostname", "the container's host name").args(&[("name", Host)], 1),
    n("stop-grace-period", "time between SIGTERM and SIGKILL").args(&[("duration", DUR)], 1),
    n("read-only", "a read-only root filesystem").args(&[("read-only", Bool)], 1),
    n("tmpfs", "an in-memory filesystem")
        .args(&[("path", MountTarget)], 1)
        .props(&[p("size", Size), p("mode", Int(0, 0o7777))])
        .keyed(),
    n("cap-drop", "Linux capabilities to drop").rest("capability", Str, 1),
    n("cap-add", "Linux capabilities to add").rest("capability", Str, 1),
    n("security-opt", "security options, e.g. \"no-new-privileges:true\"").rest("option", Str, 1),
    n("ulimit", "a resource limit")
        .args(&[("name", Str)], 1)
        .props(&[p("soft", Int(0, i64::MAX as i128)), p("hard", Int(0, i64::MAX as i128))])
        .keyed(),
    n("init", "run an init process as PID 1").args(&[("init", Bool)], 1),
    n("shm-size", "size of /dev/shm").args(&[("size", Size)], 1),
    n("platform", "target platform, e.g. \"linux/amd64\"").args(&[("platform", Str)], 1),
    n("stateful", "k8s: run as a StatefulSet with a claim per replica for its volumes").args(&[("stateful", Bool)], 1),
    n("secret", "mount a secret as a file (compose secrets, k8s secret volume)")
        .args(&[("secret", Ref(RefKind::Secret))], 1)
        .props(&[p("target", MountTarget), p("mode", Int(0, 0o777))])
        .keyed(),
    n("env-from", "take every variable of an `env-group`").rest("group", Ref(RefKind::EnvGroup), 1),
    // Workload shapes.
    n("mode", "\"global\": one container on every node (compose `deploy.mode: global`, a Kubernetes DaemonSet)")
        .args(&[("mode", Enum(&["replicated", "global"]))], 1),
    n("network-mode", "\"host\": the node's own network stack, e.g. for a node exporter")
        .args(&[("mode", Enum(&["host"]))], 1),
    n("toleration", "k8s: a node taint the pods tolerate (`value=` matches it, without a key every taint)")
        .args(&[("key", Str)], 0)
        .props(&[p("value", Str), p("effect", Enum(&["no-schedule", "prefer-no-schedule", "no-execute"]))])
        .merge(Merge::Whole),
    n("service-type", "k8s: how the Service is reached (\"cluster-ip\" by default)")
        .args(&[("type", Enum(&["cluster-ip", "load-balancer", "node-port", "headless"]))], 1),
    n(
        "annotations",
        "annotations of the pods (k8s) and containers (compose): `annotations \"example.com/team\"=\"api\"`",
    )
    .free(Str, Str, false),
    n("use", "apply templates: their settings, with this block's own merged over them").rest("template", Name, 1),
    // What compose services say that the rest of the language had no node for (issue 12).
    n("profiles", "compose profiles: the service starts only when one of them is enabled").rest("profile", Name, 1),
    n("pull-policy", "when the image is pulled").args(&[("policy", Enum(&["always", "missing", "never", "build"]))], 1),
    n("stop-signal", "the signal that stops the container, e.g. \"SIGQUIT\"").args(&[("signal", Str)], 1),
    n("container-name", "a fixed container name for compose (one replica only)").args(&[("name", Str)], 1),
    n("sysctl", "a namespaced kernel parameter: `sysctl \"net.core.somaxconn\" \"1024\"`")
        .args(&[("name", Str), ("value", Scalar)], 2)
        .keyed(),
    n("group-add", "supplementary groups of the process, by name or GID").rest("group", Str, 1),
    n("env-file", "variables read from a file at deploy time (compose `env_file`); never copied")
        .args(&[("path", Path)], 1)
        .props(&[p("required", Bool)])
        .keyed(),
    n(
        "scratch",
        "a scratch directory on the node's disk, empty at each start (k8s emptyDir; compose an anonymous volume)",
    )
    .args(&[("path", MountTarget)], 1)
    .props(&[p("size", Size)])
    .keyed(),
    n(
        "service-account",
        "k8s: the pods' ServiceAccount; `token=#true` mounts its API token (for a service that talks to the Kubernetes API)",
    )
    .props(&[p("token", Bool)]),
    n(
        "init-step",
        "a command that must succeed before the container starts (k8s init container; compose a one-shot service)",
    )
    .args(&[NAME], 1)
    .kids(INIT_STEP)
    .needs(&[&["command"]])
    .merge(Merge::DeepKey),
    n(
        "sidecar",
        "a container beside the service's for its whole life (k8s native sidecar; compose a service in its network)",
    )
    .args(&[NAME], 1)
    .kids(SIDECAR)
    .needs(&[&["image"]])
    .merge(Merge::DeepKey),
    ADDRESS,
    // Devices, privileges and names (issue 12).
    n("privileged", "every device and capability of the host: root in the container is close to root on the host")
        .args(&[("privileged", Bool)], 1),
    n("device", "a host device in the container: `device \"/dev/ttyUSB0\" target=\"/dev/ttyACM0\" permissions=\"rw\"`")
        .args(&[("path", MountTarget)], 1)
        .props(&[p("target", MountTarget), p("permissions", Enum(&["r", "w", "m", "rw", "rm", "wm", "rwm"]))])
        .keyed(),
    n("device-cgroup-rule", "a device cgroup rule: `device-cgroup-rule \"c 189:* rmw\"`").rest("rule", Str, 1),
    n("gpu", "reserve GPUs: `gpu count=1` or `gpu device-ids=\"0,1\"`, with capabilities (\"gpu\" when none)")
        .rest("capability", Name, 0)
        .props(&[p("driver", Str), p("count", Int(1, 1024)), p("device-ids", Str)])
        .one_of(&["count", "device-ids"]),
    n("image-health", "`#false`: turn off the HEALTHCHECK the image declares (compose `healthcheck: disable: true`)")
        .args(&[("on", Bool)], 1),
    n("alias", "more DNS names of the service, on each of its networks (a Kubernetes Service each)").rest("name", ComposeName, 1),
];

/// The settings of a `sidecar`: its volumes and security settings are its service's, its
/// environment only its own.
const SIDECAR: &[NodeSpec] = &[
    n("image", "the sidecar's image").args(&[("image", Image)], 1),
    n("command", "the sidecar's command (the image's CMD by default)").rest("word", Text, 1),
    n("env", "variables of the sidecar (the service's are not passed)").free(EnvName, Scalar, true),
];

/// The settings of an `init-step`: the rest (volumes, secret files, `env-from`, user,
/// security settings) are its service's.
const INIT_STEP: &[NodeSpec] = &[
    n("image", "the step's image (the service's by default)").args(&[("image", Image)], 1),
    n("command", "the step's command").rest("word", Text, 1),
    n("env", "variables of the step, over the service's `env`").free(EnvName, Scalar, true),
];

const ROUTE_PROPS: &[PropSpec] = &[
    p("to", Ref(RefKind::Service)),
    p("fallback", UrlPath),
    p("immutable", Bool),
    p("port", PortRef),
    p("exact", Bool),
    p("regex", Bool),
    p("strip-prefix", Bool),
    p("websocket", Bool),
    p("rate-limit", Ref(RefKind::RateLimit)),
    p("access-log", Bool),
    p("timeout", DUR),
    p("buffering", Bool),
    p("body-limit", Size),
    p("files", AbsPath),
    p("cache", DUR),
    p("internal", Bool),
    p("redirect", Str),
    p("status", Int(300, 399)),
    p("respond", Int(200, 599)),
    // FastCGI upstreams (PHP-FPM): `fastcgi="app" root="/var/www/html"`.
    p("fastcgi", Ref(RefKind::Service)),
    p("root", AbsPath),
    // Timeouts, buffering and the proxy cache (issue 11).
    p("connect-timeout", DUR),
    p("read-timeout", DUR),
    p("send-timeout", DUR),
    p("request-buffering", Bool),
    p("buffer-size", Size),
    p("proxy-cache", DUR),
    // Static files, matching priority and rewrites (issue 11).
    p("fallback-to", Ref(RefKind::Service)),
    p("index", Str),
    p("precompressed", Bool),
    p("before-regex", Bool),
    p("replace-prefix", UrlPath),
];

const HEADER: NodeSpec =
    n("header", "a response header on every response").args(&[("name", HeaderName), ("value", HeaderValue)], 2).keyed();
const SECURITY_HEADERS: NodeSpec =
    n("security-headers", "a preset of security headers").args(&[("preset", Enum(&["strict", "basic", "off"]))], 1);

// CORS, real client IP, allowed methods and error pages (issue 11: reverse-proxy depth).

/// The methods a route may allow (`methods`) or a CORS policy may name.
pub const HTTP_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

const CORS_KIDS: &[NodeSpec] = &[
    n("methods", "methods a cross-origin request may use (default GET, HEAD, POST)").rest(
        "method",
        Enum(HTTP_METHODS),
        1,
    ),
    n("headers", "request headers a cross-origin request may send (default: those the preflight asks for)")
        .rest("name", HeaderName, 1),
    n("expose", "response headers the calling page may read").rest("name", HeaderName, 1),
];

/// CORS of a site (the default of its routes) or of one route: the proxy answers preflights.
const CORS: NodeSpec =
    n("cors", "cross-origin requests allowed from these origins (or \"*\"); the proxy answers preflights")
        .rest("origin", Origin, 1)
        .props(&[p("credentials", Bool), p("max-age", DUR)])
        .kids(CORS_KIDS)
        .merge(Merge::Deep);

const ROUTE_METHODS: NodeSpec = n("methods", "the only methods the route accepts; others get 405")
    .rest("method", Enum(HTTP_METHODS), 1)
    .merge(Merge::Once);

const ERROR_PAGE: NodeSpec = n("error-page", "a page from a directory instead of the proxy's own for these statuses")
    .rest("status", Int(400, 599), 1)
    .props(&[p("page", UrlPath), p("root", AbsPath), p("intercept", Bool)])
    .required(&["page", "root"])
    .merge(Merge::Whole);

const REAL_IP: NodeSpec =
    n("real-ip", "addresses of load balancers/CDNs trusted to tell the client's address in a header")
        .rest("cidr", Cidr, 1)
        .props(&[p("header", HeaderName)]);

const FORWARDED_FOR: NodeSpec =
    n("forwarded-for", "X-Forwarded-For to upstreams: appended to the client's, or replaced")
        .args(&[("mode", Enum(&["append", "replace"]))], 1);

/// Per-route request handling (issue 11).
const ROUTE_KIDS: &[NodeSpec] = &[
    n("request-header", "a header sent to the upstream instead of the client's (\"\" removes it)")
        .args(&[("name", HeaderName), ("value", HeaderValue)], 2)
        .keyed(),
    n("header", "a response header on this route's responses")
        .args(&[("name", HeaderName), ("value", HeaderValue)], 2)
        .keyed(),
    n("hide-header", "upstream response headers not passed to the client").rest("name", HeaderName, 1),
    CACHE_VALID,
    CACHE_CONTROL,
    RAW_NGINX,
    RAW_CADDY,
    CORS,
    ROUTE_METHODS,
];

/// How long the proxy cache keeps a response of one status (`proxy-cache=` is for 200, 301, 302).
const CACHE_VALID: NodeSpec = n("cache-valid", "how long the proxy cache keeps responses of one status")
    .args(&[("status", Int(100, 599)), ("for", DUR)], 2)
    .keyed();

/// The `Cache-Control` directives a route's responses carry (RFC 9111, RFC 8246, RFC 5861).
const CACHE_CONTROL: NodeSpec = n("cache-control", "the Cache-Control header of the route's responses")
    .rest(
        "directive",
        Enum(&[
            "public",
            "private",
            "no-cache",
            "no-store",
            "no-transform",
            "must-revalidate",
            "proxy-revalidate",
            "must-understand",
            "immutable",
        ]),
        0,
    )
    .props(&[p("max-age", DUR), p("s-maxage", DUR), p("stale-while-revalidate", DUR), p("stale-if-error", DUR)]);

/// The escape hatch (issue 11): directives the model does not cover, written verbatim into
/// one proxy target's site or route block (and flagged by the `raw-proxy-config` lint).
const RAW_NGINX: NodeSpec = n(
    "nginx",
    "raw nginx directives, written verbatim into this block of the nginx target only",
)
.rest("directive", RawNginx, 1);
const RAW_CADDY: NodeSpec = n(
    "caddy",
    "raw Caddyfile directives, written verbatim into this block of the Caddy target only",
)
.rest("directive", RawCaddy, 1);
// Compression settings (issue 11): the level, and media types besides the default ones.
const GZIP_PROPS: &[PropSpec] = &[p("level", Int(1, 9))];
const GZIP_TYPES: NodeSpec =
    n("gzip-types", "media types compressed besides the default ones").rest("type", MediaType, 1);

const SITE: &[NodeSpec] = &[
    n("route", "send requests for a path to a service, static files, a redirect or a FastCGI application")
        .args(&[("path", RoutePath)], 1)
        .props(ROUTE_PROPS)
        .one_of(&["to", "files", "redirect", "respond", "fastcgi"])
        .kids(ROUTE_KIDS)
        .keyed(),
    n("allow-from", "only these address ranges may use the site; others get 403").rest("cidr", Cidr, 1),
    n("basic-auth", "HTTP basic authentication")
        .args(&[("user", AuthUser)], 1)
        .props(&[ps("password-hash", Str)])
        .required(&["password-hash"])
        .keyed(),
    HEADER,
    SECURITY_HEADERS,
    n("body-limit", "largest request body").args(&[("size", Size)], 1),
    n("gzip", "compress responses").args(&[("on", Bool)], 1).props(GZIP_PROPS),
    GZIP_TYPES,
    n("redirect-from", "host names that redirect permanently to the site's first host").rest("host", Host, 1),
    RAW_NGINX,
    RAW_CADDY,
    n("listen", "serve this site over plain HTTP on a port of its own instead of 80 and 443")
        .args(&[("port", Port)], 1),
    // Static files (issue 11).
    n("mime-type", "the media type of the files with these extensions that `files=` routes serve")
        .args(&[("type", MediaType)], 1)
        .rest("extension", Str, 2)
        .keyed(),
    CORS,
    ERROR_PAGE,
];

const PROXY: &[NodeSpec] = &[
    n("tls", "TLS certificates and settings").props(&[
        p("email", Str),
        p("profile", Enum(&["intermediate", "modern"])),
        p("hsts", DUR),
        p("ocsp", Bool),
        p("hsts-subdomains", Bool),
        p("hsts-preload", Bool),
        p("session-timeout", DUR),
        p("session-tickets", Bool),
        p("certificates", Enum(&["letsencrypt", "self-signed", "external", "none"])),
        p("acme-ca", Str),
    ]),
    SECURITY_HEADERS,
    HEADER,
    n("rate-limit", "a rate-limit zone that routes refer to")
        .args(&[NAME], 1)
        .props(&[p("rate", Rate), p("burst", Int(0, 100_000)), p("nodelay", Bool), p("size", Size)])
        .required(&["rate"])
        .keyed(),
    n("body-limit", "largest request body").args(&[("size", Size)], 1),
    n("gzip", "compress responses").args(&[("on", Bool)], 1).props(GZIP_PROPS),
    GZIP_TYPES,
    n("upstream", "load-balancing options for one service's upstream")
        .args(&[("service", Ref(RefKind::Service))], 1)
        .props(&[
            p("balance", Enum(&["round-robin", "least-conn", "ip-hash"])),
            p("max-fails", Int(0, 1000)),
            p("fail-timeout", DUR),
            p("keepalive", Int(0, 10_000)),
        ])
        .keyed(),
    MOUNT,
    n("cache", "the proxy cache that `proxy-cache=` routes use").props(&[
        p("path", AbsPath),
        p("size", Size),
        p("inactive", DUR),
        p("max-size", Size),
    ]),
    n("client-timeouts", "how long the proxy waits for a client's request header and body")
        .props(&[p("header", DUR), p("body", DUR)]),
    n(
        "networks",
        "the networks the proxy joins (its edge networks): by default the fewest that reach every routed service",
    )
    .rest("network", Ref(RefKind::Network), 1),
    n("ports", "the host ports the proxy is published on, instead of 80 and 443")
        .props(&[p("http", Port), p("https", Port)]),
    REAL_IP,
    FORWARDED_FOR,
];

const FW_RULE_PROPS: &[PropSpec] = &[p("from", Cidr), p("protocol", PROTOCOLS), p("comment", Str)];
const FW_POLICY: Kind = Enum(&["deny", "allow", "reject"]);

const FIREWALL: &[NodeSpec] = &[
    n("default", "default policies").props(&[
        p("incoming", FW_POLICY),
        p("outgoing", FW_POLICY),
        p("routed", FW_POLICY),
    ]),
    n("allow", "allow incoming traffic to a port").args(&[("port", Port)], 1).props(FW_RULE_PROPS).merge(Merge::Whole),
    n("deny", "deny incoming traffic to a port").args(&[("port", Port)], 1).props(FW_RULE_PROPS).merge(Merge::Whole),
    n("limit", "allow, but rate-limit new connections (ufw limit)")
        .args(&[("port", Port)], 1)
        .props(FW_RULE_PROPS)
        .merge(Merge::Whole),
];

const MONITORING: &[NodeSpec] = &[
    n("prometheus", "the Prometheus server; its children customise its service like a `service` block")
        .props(&[
            p("retention", DUR),
            p("retention-size", Size),
            p("scrape-interval", DUR),
            p("evaluation-interval", DUR),
            p("scrape-timeout", DUR),
            p("lifecycle", Bool),
        ])
        .kids(SERVICE)
        .merge(Merge::Deep),
    n("exporters", "exporters to run and scrape").rest("exporter", Enum(EXPORTERS), 1),
    n("exporter", "one exporter, with its service customised like a `service` block")
        .args(&[("kind", Enum(EXPORTERS))], 1)
        .kids(SERVICE)
        .merge(Merge::DeepKey),
    n("notify", "where Alertmanager sends alerts")
        .args(&[("kind", Enum(&["slack", "webhook"]))], 1)
        .props(&[ps("webhook", Str), p("channel", Str), p("send-resolved", Bool), p("receiver", Name)])
        .required(&["webhook"])
        .keyed()
        .key_prop("receiver"),
    n("probe", "a blackbox probe of a URL").args(&[("url", Url)], 1).props(&[p("module", Str)]).keyed(),
    n("scrape", "an extra scrape job")
        .args(&[NAME], 1)
        .props(&[
            p("target", HostPort),
            p("path", UrlPath),
            p("interval", DUR),
            p("scheme", Enum(&["http", "https"])),
            p("timeout", DUR),
            p("honor-labels", Bool),
            p("basic-auth-user", Str),
            ps("basic-auth-password", Str),
            p("tls-server-name", Host),
            p("insecure-skip-verify", Bool),
        ])
        .required(&["target"])
        .kids(SCRAPE)
        .keyed(),
    n("external-labels", "labels Prometheus adds to what leaves it (alerts, federation, remote storage)")
        .free(LabelName, Str, false),
    n("email", "Alertmanager sends alerts by e-mail, through an SMTP server")
        .args(&[("to", Str)], 1)
        .props(&[
            p("from", Str),
            p("smarthost", HostPort),
            p("auth-username", Str),
            ps("auth-password", Str),
            p("require-tls", Bool),
            p("send-resolved", Bool),
            p("receiver", Name),
        ])
        .required(&["from", "smarthost"])
        .keyed()
        .key_prop("receiver"),
    n("pagerduty", "Alertmanager sends alerts to PagerDuty (Events API v2)")
        .props(&[ps("routing-key", Str), p("send-resolved", Bool), p("receiver", Name)])
        .required(&["routing-key"])
        .key_prop("receiver"),
    n("alertmanager", "how Alertmanager batches, repeats and inhibits the alerts it sends")
        .props(&[p("group-wait", DUR), p("group-interval", DUR), p("repeat-interval", DUR)])
        .kids(ALERTMANAGER)
        .merge(Merge::Deep),
];

/// What a `scrape` job does with the samples and targets it gets.
const SCRAPE: &[NodeSpec] = &[
    n("targets", "more `host:port` targets of the job, besides `target=`").rest("target", HostPort, 1),
    n("drop-metric", "drop the metrics whose name matches this regular expression").args(&[("regex", Str)], 1).keyed(),
    n("rename-label", "rename a label of every sample").args(&[("from", LabelName), ("to", LabelName)], 2).keyed(),
];

/// The severities of `alert severity=` (the same list), which inhibit rules match on.
const SEVERITIES: Kind = Enum(&["critical", "warning", "info"]);

const ALERTMANAGER: &[NodeSpec] = &[
    n("group-by", "the labels that batch alerts into one notification").rest("label", LabelName, 1),
    n(
        "inhibit",
        "while an alert of severity `source=` fires, alerts of severity `target=` with the same labels are not sent",
    )
    .rest("equal", LabelName, 0)
    .props(&[p("source", SEVERITIES), p("target", SEVERITIES)])
    .required(&["source", "target"])
    .merge(Merge::Whole),
    n("route", "alerts that match go to this receiver instead of the default one")
        .args(&[("receiver", Name)], 1)
        .props(&[
            p("match", Str),
            p("continue", Bool),
            p("group-wait", DUR),
            p("group-interval", DUR),
            p("repeat-interval", DUR),
        ])
        .merge(Merge::Whole),
];

const ALERT: &[NodeSpec] = &[
    n("summary", "one-line summary annotation").args(&[("text", Text)], 1),
    n("description", "description annotation").args(&[("text", Text)], 1),
    n("runbook", "runbook URL annotation").args(&[("url", Str)], 1),
    n("labels", "extra alert labels").free(LabelName, Str, false),
];

const ALERTS: &[NodeSpec] = &[
    n("alert", "an alerting rule")
        .args(&[("name", Str)], 1)
        .props(&[p("expr", Promql), p("for", DUR), p("severity", Enum(&["critical", "warning", "info"]))])
        .required(&["expr"])
        .kids(ALERT)
        .keyed()
        .key_prop("severity"),
    n("pack", "stackc's ready-made alerts of one kind, with their thresholds as options")
        .args(&[("pack", Enum(ALERT_PACKS))], 1)
        .free(Name, Scalar, false)
        .keyed(),
    n("record", "a recording rule: the expression's result stored as a new metric")
        .args(&[("metric", Str)], 1)
        .props(&[p("expr", Promql)])
        .required(&["expr"])
        .kids(RECORD)
        .keyed(),
];

const RECORD: &[NodeSpec] = &[n("labels", "labels added to the recorded series").free(LabelName, Str, false)];

/// stackc's alert packs (`stdlib/alerts/<name>.kdl`, `lower::packs`).
pub const ALERT_PACKS: &[&str] =
    &["targets", "hosts", "postgres", "redis", "certificates", "http-errors", "http-latency"];

pub const BACKUP_ENGINES: &[&str] = &["postgres", "redis"];
const BACKUP: &[NodeSpec] =
    &[n("env", "environment of the backup job (e.g. S3 credentials)").free(EnvName, Scalar, true)];

/// Why the stack sets a lint's level, shown with its diagnostics; `service=` keeps the
/// rule to the findings inside one service.
const POLICY_PROPS: &[PropSpec] = &[p("reason", Str), p("service", Ref(RefKind::Service)), p("site", Host)];
const POLICY: &[NodeSpec] = &[
    n("deny", "make lints errors").rest("lint", Ref(RefKind::Lint), 1).props(POLICY_PROPS).merge(Merge::Whole),
    n("warn", "make lints warnings").rest("lint", Ref(RefKind::Lint), 1).props(POLICY_PROPS).merge(Merge::Whole),
    n("allow", "turn lints off").rest("lint", Ref(RefKind::Lint), 1).props(POLICY_PROPS).merge(Merge::Whole),
];

const K8S: &[NodeSpec] = &[
    n("namespace-labels", "labels on the generated Namespace").free(Str, Str, false),
    // Edges the graph does not show (NetworkPolicies): `docs/targets/k8s.md`, "Network policies".
    n("egress", "let a service connect to an address range or another namespace")
        .args(&[("service", Ref(RefKind::Service))], 1)
        .props(K8S_EDGE_PROPS)
        .required(&["port"])
        .one_of(&["cidr", "namespace"])
        .merge(Merge::Whole),
    n("ingress", "let an address range or another namespace connect to a service")
        .args(&[("service", Ref(RefKind::Service))], 1)
        .props(K8S_EDGE_PROPS)
        .required(&["port"])
        .one_of(&["cidr", "namespace"])
        .merge(Merge::Whole),
];
const K8S_EDGE_PROPS: &[PropSpec] = &[p("cidr", Cidr), p("namespace", Name), p("port", Port), p("protocol", PROTOCOLS)];

const TARGETS: &[NodeSpec] = &[
    n("compose", "docker compose file").props(&[p("file", FileName), p("project", Name)]),
    n("nginx", "nginx configuration").props(&[p("version", ImageTag)]),
    n("caddy", "Caddyfile").props(&[p("version", ImageTag)]),
    n("ufw", "UFW firewall script"),
    n("prometheus", "Prometheus configuration and alert rules"),
    n("k8s", "Kubernetes manifests")
        .props(&[
            p("namespace", Name),
            p("ingress-class", ObjectName),
            p("cluster-issuer", ObjectName),
            p("storage-class", ObjectName),
            p("secret-name", Name),
            p("tls-secret", Name),
            p("network-policies", Bool),
            p("ingress-namespace", Name),
            p("prometheus-namespace", Name),
            p("monitoring", Enum(&["annotations", "prometheus-operator"])),
            p("routing", Enum(&["ingress", "gateway-api"])),
            p("gateway", ObjectName),
            p("gateway-namespace", Name),
        ])
        .kids(K8S)
        .merge(Merge::Deep),
];

const STACK: &[NodeSpec] = &[
    n("description", "what the stack is").args(&[("text", Text)], 1),
    n("labels", "labels on every generated object").free(Str, Str, false),
    n("domain", "default host for a `site` without a name").args(&[("host", Host)], 1),
];

/// The top level of a stack file (and of an `env` block).
pub const TOP: &[NodeSpec] = &[
    n("stack", "the stack's name and description").args(&[NAME], 1).kids(STACK).merge(Merge::Deep),
    n("param", "a value set at compile time or deploy time")
        .args(&[NAME], 1)
        .props(&[
            p("default", Scalar),
            p("env", EnvName),
            p("required", Bool),
            p("description", Text),
            p("optional", Bool),
        ])
        .keyed(),
    n("network", "a network")
        .args(&[COMPOSE_NAME], 1)
        .props(&[
            p("subnet", Cidr),
            p("internal", Bool),
            p("external", Bool),
            p("driver", Enum(&["bridge", "overlay"])),
            p("gateway", Address),
            p("ipv6", Bool),
            p("ipv6-subnet", Cidr),
            p("ipv6-gateway", Address),
            p("name", Str),
        ])
        .kids(DRIVER_OPTS)
        .keyed(),
    n("volume", "a named volume")
        .args(&[NAME], 1)
        .props(&[
            p("size", Size),
            p("class", ObjectName),
            p("external", Bool),
            p("driver", Str),
            p("nfs", Str),
            p("nfs-options", Str),
        ])
        .kids(DRIVER_OPTS)
        .keyed(),
    n("secret", "a secret, referenced as `(secret)\"name\"`")
        .args(&[NAME], 1)
        .props(&[p("file", Path), p("env", EnvName), p("external", Bool), p("optional", Bool)])
        .one_of(&["file", "env", "external"])
        .keyed(),
    n("service", "a containerised service")
        .args(&[COMPOSE_NAME], 1)
        .kids(SERVICE)
        .needs(&[&["image", "build"]])
        .merge(Merge::DeepKey),
    n("env-group", "a named set of environment variables that services take with `env-from`")
        .args(&[NAME], 1)
        .free(EnvName, Scalar, false)
        .merge(Merge::DeepKey),
    n("defaults", "service settings applied to every service (a service's own setting wins)")
        .kids(SERVICE)
        .merge(Merge::Deep),
    n("template", "named service settings that services apply with `use` (their own settings win)")
        .args(&[NAME], 1)
        .kids(SERVICE)
        .merge(Merge::DeepKey),
    n("proxy", "reverse proxy settings shared by all sites")
        .props(&[p("mode", Enum(&["container", "host"]))])
        .kids(PROXY)
        .merge(Merge::Deep),
    n("site", "a public site served by the reverse proxy").rest("host", Host, 0).kids(SITE).merge(Merge::DeepKey),
    n("firewall", "host firewall (UFW)").kids(FIREWALL).merge(Merge::Deep),
    n("monitoring", "Prometheus and exporters").kids(MONITORING).merge(Merge::Deep),
    n("alerts", "a group of alerting rules")
        .args(&[NAME], 1)
        .props(&[p("interval", DUR), p("limit", Int(1, 1_000_000))])
        .kids(ALERTS)
        .merge(Merge::DeepKey),
    n("backup", "a scheduled dump of a database service, or an archive of a volume")
        .args(&[NAME], 1)
        .props(&[
            p("service", Ref(RefKind::Service)),
            p("volume", Ref(RefKind::Volume)),
            p("engine", Enum(BACKUP_ENGINES)),
            p("schedule", Cron),
            p("retain", DUR),
            p("to", Destination),
            p("copy-to", Destination),
            p("database", Str),
            p("user", Str),
            ps("password", Str),
            ps("encrypt", Str),
            p("format", Enum(&["custom", "plain"])),
            p("compress", Bool),
            p("no-owner", Bool),
            p("no-privileges", Bool),
        ])
        .required(&["schedule", "to"])
        .one_of(&["service", "volume"])
        .kids(BACKUP)
        .keyed(),
    n("env", "an environment overlay: differences from the base").args(&[NAME], 1).overlay().keyed(),
    n("policy", "lint levels").kids(POLICY).merge(Merge::Deep),
    n("targets", "which outputs to build").kids(TARGETS).merge(Merge::Deep),
];

pub fn top(name: &str) -> Option<&'static NodeSpec> {
    TOP.iter().find(|s| s.name == name)
}

/// Where a node name is valid, as "`a > b`" paths, for "belongs inside ..." help.
pub fn places_of(name: &str) -> Vec<String> {
    fn walk(specs: &'static [NodeSpec], path: &mut Vec<&'static str>, name: &str, out: &mut Vec<String>) {
        for s in specs {
            if s.name == name && !path.is_empty() {
                out.push(path.join(" > "));
            }
            if let Children::Nodes(c) = s.children {
                path.push(s.name);
                walk(c, path, name, out);
                path.pop();
            }
        }
    }
    let mut out = Vec::new();
    if top(name).is_some() {
        out.push("the top level".into());
    }
    walk(TOP, &mut Vec::new(), name, &mut out);
    out.sort();
    out.dedup();
    out
}
