//! The docker compose target: the file a team would otherwise hand-write for
//! `docker compose up -d` on one production host, in the Compose Specification format (no
//! top-level `version:`), plus a `.env.example` listing every variable it reads.
//!
//! Values: `$` in user strings becomes `$$`; a param with `env=` becomes `${VAR:-default}`,
//! a required one `${VAR:?…}`, any other param its compile-time default. Secrets never
//! appear: env-sourced ones are read from the deploy environment (`${VAR:?…}`), file
//! secrets are mounted under `/run/secrets` (images that read `*_FILE` variables get those).

mod backup;

use indexmap::IndexMap;
use serde::Serialize;

// The backup core is shared with the Kubernetes target; `backup` (a child) reaches it here.
use super::{header, shell_word as sh, BackupEngine, BackupJob, EmitOptions, OutputFile, BACKUP_STAMP_FORMAT};
use crate::diagnostics::{origin_span, Code, Diagnostic};
use crate::ir::*;

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
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    environment: IndexMap<String, String>,
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    networks: Vec<String>,
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
    },
}

#[derive(Serialize)]
struct CBindOptions {
    propagation: String,
}

#[derive(Serialize)]
struct CHealth {
    test: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_period: Option<String>,
}

#[derive(Serialize, Default)]
struct CDeploy {
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
}

#[derive(Serialize)]
struct CIpam {
    config: Vec<CIpamConfig>,
}

#[derive(Serialize)]
struct CIpamConfig {
    subnet: String,
}

#[derive(Serialize, Default)]
struct CVolume {
    #[serde(skip_serializing_if = "Option::is_none")]
    external: Option<bool>,
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

/// `$` is compose's interpolation character: a literal one is written `$$`.
fn esc(s: &str) -> String {
    s.replace('$', "$$")
}

/// A `Text` with params rendered for compose. Secrets inside it (only in env values) are
/// rendered by `secret`.
fn render(stack: &Stack, t: &Text, mut secret: impl FnMut(&str) -> String) -> String {
    let mut out = String::new();
    for p in &t.0 {
        match p {
            Piece::Lit(s) => out.push_str(&esc(s)),
            Piece::Param(name) => out.push_str(&param(stack, name)),
            Piece::Secret(name) => out.push_str(&secret(name)),
        }
    }
    out
}

fn render_plain(stack: &Stack, t: &Text) -> String {
    render(stack, t, |s| format!("${{secret:{s}}}"))
}

fn render_opt(stack: &Stack, t: &Option<Text>) -> Option<String> {
    t.as_ref().map(|t| render_plain(stack, t))
}

fn render_all(stack: &Stack, ts: &[Text]) -> Vec<String> {
    ts.iter().map(|t| render_plain(stack, t)).collect()
}

/// A stack-relative path as seen from the output directory, params rendered. Whether it is
/// absolute is decided with the params' compile-time defaults (`${data-root}/x` with a
/// default of `/srv` stays absolute).
fn render_path(stack: &Stack, opts: &EmitOptions, t: &Text) -> String {
    let rendered = render_plain(stack, t);
    if stack.compile_time(t).starts_with('/') {
        rendered
    } else {
        opts.rebase(&rendered)
    }
}

fn param(stack: &Stack, name: &str) -> String {
    param_depth(stack, name, 0)
}

/// A param's default may refer to other params (`default="https://${domain}/api"`); compose
/// nests them (`${API_URL:-https://${DOMAIN:-localhost}/api}`). Validation rejects loops;
/// the depth limit only guards against a bug there.
fn param_depth(stack: &Stack, name: &str, depth: usize) -> String {
    let Some(p) = stack.params.get(name) else { return String::new() };
    let default = |d: &Text| {
        if depth > 16 {
            return String::new();
        }
        d.0.iter()
            .map(|piece| match piece {
                Piece::Lit(s) => esc(s),
                Piece::Param(n) => param_depth(stack, n, depth + 1),
                Piece::Secret(_) => String::new(),
            })
            .collect::<String>()
    };
    match (&p.env, p.required, &p.default) {
        (Some(var), true, _) => format!("${{{var}:?param {name} must be set}}"),
        (Some(var), false, Some(d)) => format!("${{{var}:-{}}}", default(&Text::from_default(d))),
        (Some(var), false, None) => format!("${{{var}:-}}"),
        (None, _, Some(d)) => default(&Text::from_default(d)),
        (None, _, None) => String::new(),
    }
}

/// The compose reference to an env-sourced secret's variable.
fn env_secret(secret: &Secret, var: &str) -> String {
    if secret.optional {
        format!("${{{var}:-}}")
    } else {
        format!("${{{var}:?secret {} must be set}}", secret.name)
    }
}

/// A duration or size in compose's spelling (`fmt`). One that names a param read at deploy
/// time stays an interpolation, so that the deploy-time value reaches it; when it is that
/// param alone, its default is written in compose's spelling too (`${HC_INTERVAL:-1m30s}`).
fn amount(stack: &Stack, a: &Option<Amount>, fmt: fn(u64) -> String) -> Option<String> {
    let a = a.as_ref()?;
    match &a.text {
        Some(t) if stack.reads_deploy_env(t) => Some(match (t.0.as_slice(), a.value) {
            ([Piece::Param(name)], Some(v)) => match stack.params.get(name) {
                Some(Param { env: Some(var), required: false, .. }) => format!("${{{var}:-{}}}", fmt(v)),
                _ => render_plain(stack, t),
            },
            _ => render_plain(stack, t),
        }),
        _ => a.value.map(fmt),
    }
}

/// Durations in compose's Go-duration spelling: `1m30s`, `500ms`.
pub fn duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, milli) = (rest / 1000, rest % 1000);
    let mut out = String::new();
    for (v, u) in [(h, "h"), (m, "m"), (s, "s"), (milli, "ms")] {
        if v > 0 {
            out.push_str(&format!("{v}{u}"));
        }
    }
    out
}

/// Bytes in docker's units, which are binary (`1g` = 1 GiB): the largest exact unit, or
/// plain bytes.
pub fn docker_bytes(b: u64) -> String {
    for (unit, size) in [("g", 1u64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if b >= size && b.is_multiple_of(size) {
            return format!("{}{unit}", b / size);
        }
    }
    b.to_string()
}

fn cpus(milli: u64) -> String {
    let whole = milli / 1000;
    let frac = milli % 1000;
    if frac == 0 {
        format!("{whole}")
    } else {
        format!("{whole}.{}", format!("{frac:03}").trim_end_matches('0'))
    }
}

/// Env variables that official images read from a file when `NAME_FILE` is set.
fn file_variable(image: &str, key: &str) -> Option<String> {
    let base = image.split('@').next().unwrap_or(image);
    let base = base.rsplit('/').next().unwrap_or(base);
    let base = base.split(':').next().unwrap_or(base);
    let supported = match base {
        "postgres" | "postgis" | "timescaledb" => key.starts_with("POSTGRES_"),
        "mysql" => key.starts_with("MYSQL_"),
        "mariadb" => key.starts_with("MARIADB_") || key.starts_with("MYSQL_"),
        "mongo" => key.starts_with("MONGO_INITDB_"),
        "minio" => key.starts_with("MINIO_ROOT_"),
        // Grafana reads `GF_<SECTION>_<KEY>__FILE`.
        "grafana" | "grafana-oss" | "grafana-enterprise" => {
            return key.starts_with("GF_").then(|| format!("{key}__FILE"))
        }
        _ => false,
    };
    supported.then(|| format!("{key}_FILE"))
}

fn image_literal(stack: &Stack, svc: &Service) -> String {
    svc.image.as_ref().map(|i| stack.compile_time(i)).unwrap_or_default()
}

/// Images that ship neither curl nor wget, so an `http=` check cannot run inside them.
fn lacks_http_client(image: &str) -> bool {
    let tag = image.rsplit(':').next().unwrap_or("");
    image.contains("distroless")
        || image == "scratch"
        || (image.contains(':') && tag.contains("slim") && !tag.contains("alpine"))
}

fn health(stack: &Stack, svc: &Service, p: &Probe) -> CHealth {
    let test = match &p.check {
        Check::Cmd(c) => vec!["CMD-SHELL".into(), render_plain(stack, c)],
        // The URL is fixed at build time (params take their defaults): a deploy-time value
        // would reach the shell unquoted.
        Check::Http { path, port } => {
            let url = sh(&format!("http://127.0.0.1:{port}{}", stack.compile_time(path)));
            vec![
                "CMD-SHELL".into(),
                esc(&format!("wget -q -O /dev/null {url} || curl -fsS -o /dev/null {url} || exit 1")),
            ]
        }
        Check::Tcp(port) => vec![
            "CMD-SHELL".into(),
            format!("nc -z 127.0.0.1 {port} || bash -c ': </dev/tcp/127.0.0.1/{port}' || exit 1"),
        ],
    };
    let _ = (stack, svc);
    CHealth {
        test,
        interval: amount(stack, &p.interval, duration),
        timeout: amount(stack, &p.timeout, duration),
        retries: p.retries,
        start_period: amount(stack, &p.start_period, duration),
    }
}

fn update(stack: &Stack, u: &UpdateConfig) -> Option<CUpdate> {
    let c = CUpdate {
        parallelism: u.parallelism,
        delay: amount(stack, &u.delay, duration),
        failure_action: u.failure_action.clone(),
        monitor: amount(stack, &u.monitor, duration),
        max_failure_ratio: u.max_failure_ratio,
        order: u.order.clone(),
    };
    let empty = c.parallelism.is_none()
        && c.delay.is_none()
        && c.failure_action.is_none()
        && c.monitor.is_none()
        && c.max_failure_ratio.is_none()
        && c.order.is_none();
    (!empty).then_some(c)
}

fn limits(cpus_milli: Option<u64>, memory: Option<String>, pids: Option<u64>) -> Option<CLimits> {
    let l = CLimits { cpus: cpus_milli.map(cpus), memory, pids };
    (l.cpus.is_some() || l.memory.is_some() || l.pids.is_some()).then_some(l)
}

struct Secrets<'a> {
    stack: &'a Stack,
    opts: &'a EmitOptions,
    used: IndexMap<String, CSecret>,
}

impl Secrets<'_> {
    fn declare(&mut self, name: &str) {
        let Some(s) = self.stack.secrets.get(name) else { return };
        if self.used.contains_key(name) {
            return;
        }
        let entry = match &s.source {
            SecretSource::File(f) => {
                CSecret { file: Some(render_path(self.stack, self.opts, f)), ..CSecret::default() }
            }
            SecretSource::Env(v) => CSecret { environment: Some(v.clone()), ..CSecret::default() },
            SecretSource::External => CSecret { external: Some(true), ..CSecret::default() },
        };
        self.used.insert(name.to_string(), entry);
    }
}

/// An `env` value: params rendered, embedded secrets read from their deploy-time variables.
fn env_text(stack: &Stack, t: &Text) -> String {
    render(stack, t, |name| match stack.secrets.get(name).map(|s| &s.source) {
        Some(SecretSource::Env(var)) => stack.secrets.get(name).map(|s| env_secret(s, var)).unwrap_or_default(),
        _ => String::new(),
    })
}

fn logging(stack: &Stack, l: &Logging) -> CLogging {
    let mut options = IndexMap::new();
    if let Some(b) = amount(stack, &l.max_size, docker_bytes) {
        options.insert("max-size".into(), b);
    }
    if let Some(n) = l.max_file {
        options.insert("max-file".into(), n.to_string());
    }
    if let Some(a) = &l.address {
        options.insert(format!("{}-address", l.driver), render_plain(stack, a));
    }
    if let Some(t) = &l.tag {
        options.insert("tag".into(), render_plain(stack, t));
    }
    CLogging { driver: l.driver.clone(), options }
}

/// What the stack says of every service, given to the services compose generates (the
/// proxy, certbot, monitoring, backups): its labels and `defaults > logging`. A setting of
/// the generated service's own block wins.
fn stack_wide(stack: &Stack, c: &mut CService) {
    for (k, v) in &stack.labels {
        c.labels.entry(k.clone()).or_insert_with(|| render_plain(stack, v));
    }
    if c.logging.is_none() {
        c.logging = stack.default_logging.as_ref().map(|l| logging(stack, l));
    }
}

/// A `mount` of a service or of the proxy: the short syntax, or the long one for a bind
/// option (`propagation=`, which validation allows on bind mounts only).
fn mount(stack: &Stack, opts: &EmitOptions, m: &Mount) -> CMount {
    let source = match &m.source {
        MountSource::Volume(v) => v.clone(),
        MountSource::Bind(p) => render_path(stack, opts, p),
    };
    let target = render_plain(stack, &m.target);
    match &m.propagation {
        // Validation allows `propagation=` on bind mounts only.
        Some(prop) => CMount::Long {
            kind: "bind",
            source,
            target,
            read_only: m.read_only.then_some(true),
            bind: Some(CBindOptions { propagation: prop.clone() }),
        },
        None => {
            let ro = if m.read_only { ":ro" } else { "" };
            CMount::Short(format!("{source}:{target}{ro}"))
        }
    }
}

fn service(stack: &Stack, svc: &Service, secrets: &mut Secrets, opts: &EmitOptions) -> CService {
    let image = image_literal(stack, svc);
    let mut c = CService {
        description: svc.description.as_deref().map(|d| render_plain(stack, &Text::from_default(d))),
        image: svc.image.as_ref().map(|t| render_plain(stack, t)),
        build: svc.build.as_ref().map(|b| CBuild {
            context: render_path(stack, opts, &b.context),
            dockerfile: render_opt(stack, &b.dockerfile),
            target: render_opt(stack, &b.target),
            args: b.args.iter().map(|(k, v)| (k.clone(), render_plain(stack, v))).collect(),
        }),
        command: svc.command.as_ref().map(|c| c.iter().map(|t| render_plain(stack, t)).collect()),
        entrypoint: svc.entrypoint.as_ref().map(|c| c.iter().map(|t| render_plain(stack, t)).collect()),
        hostname: render_opt(stack, &svc.hostname),
        user: render_opt(stack, &svc.user),
        working_dir: render_opt(stack, &svc.working_dir),
        platform: render_opt(stack, &svc.platform),
        init: svc.init.then_some(true),
        restart: svc.restart.clone(),
        read_only: svc.read_only.then_some(true),
        cap_drop: render_all(stack, &svc.cap_drop),
        cap_add: render_all(stack, &svc.cap_add),
        security_opt: render_all(stack, &svc.security_opt),
        shm_size: amount(stack, &svc.shm_size, docker_bytes),
        pid: svc.pid.clone(),
        stop_grace_period: amount(stack, &svc.stop_grace_period, duration),
        ..CService::default()
    };
    // A dependency on a monitoring service that is not generated (the stack does not select
    // the Prometheus target) is dropped; `check` warns about it.
    let generated = monitoring_services(stack);
    for d in svc.depends_on.iter().filter(|d| stack.services.contains_key(&d.service) || generated.contains(&d.service))
    {
        let condition = match d.condition {
            Condition::Started => "service_started",
            Condition::Healthy => "service_healthy",
            Condition::Completed => "service_completed_successfully",
        };
        c.depends_on.insert(d.service.clone(), CDepends { condition });
    }
    for group in &svc.env_from {
        if let Some(vars) = stack.env_groups.get(group) {
            for (k, v) in vars {
                c.environment.insert(k.clone(), render_plain(stack, v));
            }
        }
    }
    for (key, value) in &svc.env {
        match value {
            EnvValue::Secret(name) => {
                let Some(s) = stack.secrets.get(name) else { continue };
                match &s.source {
                    SecretSource::Env(var) => {
                        c.environment.insert(key.clone(), env_secret(s, var));
                    }
                    _ => {
                        // `check` refuses the cases no `_FILE` variable can carry.
                        if let Some(file_key) = file_variable(&image, key) {
                            secrets.declare(name);
                            c.secrets.push(CServiceSecret { source: name.clone(), target: None, mode: None });
                            c.environment.insert(file_key, format!("/run/secrets/{name}"));
                        }
                    }
                }
            }
            EnvValue::Text(t) => {
                c.environment.insert(key.clone(), env_text(stack, t));
            }
        }
    }
    for f in &svc.secret_files {
        secrets.declare(&f.secret);
        let target = render_opt(stack, &f.target);
        if !c.secrets.iter().any(|s| s.source == f.secret && s.target == target) {
            c.secrets.push(CServiceSecret { source: f.secret.clone(), target, mode: f.mode });
        }
    }
    for p in &svc.publish {
        let proto = if p.protocol == Protocol::Udp { "/udp" } else { "" };
        // An IPv6 address (or a param whose default is one) is bracketed in the short syntax.
        let host = match &p.host {
            Some(h) if stack.compile_time(h).contains(':') => format!("[{}]:", render_plain(stack, h)),
            Some(h) => format!("{}:", render_plain(stack, h)),
            None => String::new(),
        };
        c.ports.push(format!("{host}{}:{}{proto}", p.host_port, p.target));
    }
    for p in &svc.ports {
        let proto = if p.protocol == Protocol::Udp { "/udp" } else { "" };
        let e = format!("{}{proto}", p.port);
        if !c.expose.contains(&e) {
            c.expose.push(e);
        }
    }
    c.volumes.extend(svc.mounts.iter().map(|m| mount(stack, opts, m)));
    c.tmpfs = svc
        .tmpfs
        .iter()
        .map(|t| match t.size_bytes {
            Some(b) => format!("{}:size={b}", render_plain(stack, &t.path)),
            None => render_plain(stack, &t.path),
        })
        .collect();
    c.networks = svc.networks.clone();
    c.healthcheck = svc.health.as_ref().map(|h| health(stack, svc, h));
    let mut deploy = CDeploy { replicas: (svc.replicas != 1).then_some(svc.replicas), ..CDeploy::default() };
    let r = &svc.resources;
    let res = CResources {
        limits: limits(r.cpus_milli, amount(stack, &r.memory, docker_bytes), r.pids),
        reservations: limits(r.reserve_cpus_milli, amount(stack, &r.reserve_memory, docker_bytes), None),
    };
    if res.limits.is_some() || res.reservations.is_some() {
        deploy.resources = Some(res);
    }
    if svc.restart_max_attempts.is_some() || svc.restart_delay.is_some() || svc.restart_window.is_some() {
        let condition = match svc.restart.as_deref() {
            Some("no") => "none",
            Some("on-failure") => "on-failure",
            _ => "any",
        };
        deploy.restart_policy = Some(CRestartPolicy {
            condition: condition.into(),
            delay: amount(stack, &svc.restart_delay, duration),
            max_attempts: svc.restart_max_attempts,
            window: amount(stack, &svc.restart_window, duration),
        });
    }
    deploy.update_config = svc.update.as_ref().and_then(|u| update(stack, u));
    deploy.rollback_config = svc.rollback.as_ref().and_then(|u| update(stack, u));
    deploy.placement = svc.max_replicas_per_node.map(|n| CPlacement { max_replicas_per_node: n });
    let deploy_set = deploy.replicas.is_some()
        || deploy.resources.is_some()
        || deploy.restart_policy.is_some()
        || deploy.update_config.is_some()
        || deploy.rollback_config.is_some()
        || deploy.placement.is_some();
    c.deploy = deploy_set.then_some(deploy);
    c.logging = svc.logging.as_ref().map(|l| logging(stack, l));
    for (k, v) in stack.labels.iter().chain(svc.labels.iter()) {
        c.labels.insert(k.clone(), render_plain(stack, v));
    }
    for u in &svc.ulimits {
        let v = match (u.soft, u.hard) {
            (Some(s), Some(h)) if s != h => CUlimit::Pair { soft: s, hard: h },
            (Some(s), _) | (None, Some(s)) => CUlimit::Single(s),
            (None, None) => continue,
        };
        c.ulimits.insert(u.name.clone(), v);
    }
    c
}

/// Why compose does not run a monitoring service, and the fix.
const MONITORING_NOT_RUN: &str =
    "compose runs the monitoring services when the stack's `targets` include `prometheus`, which writes their configuration";

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
    for v in stack.volumes.values() {
        if v.size_bytes.is_some() || v.class.is_some() {
            out.push(
                Diagnostic::warning(
                    Code::TargetApproximation,
                    format!("compose does not size volume `{}` or pick its storage class", v.name),
                )
                .at(origin_span(v.origin), "size and class apply to Kubernetes claims")
                .help("a local docker volume grows with the host's disk"),
            );
        }
    }
    out.extend(check_proxy(stack));
    out.extend(check_monitoring(stack));
    out.extend(backup::check(stack));
    out
}

/// What compose cannot express of one service (of the stack, or one it generates).
fn check_service(stack: &Stack, svc: &Service, out: &mut Vec<Diagnostic>) {
    let image = image_literal(stack, svc);
    let span = origin_span(svc.origin);
    for (key, value) in &svc.env {
        let secret_names: Vec<&str> = match value {
            EnvValue::Secret(n) => vec![n.as_str()],
            EnvValue::Text(t) => t.secrets().collect(),
        };
        for name in secret_names {
            let Some(s) = stack.secrets.get(name) else { continue };
            if matches!(s.source, SecretSource::Env(_)) {
                continue;
            }
            let whole = matches!(value, EnvValue::Secret(_));
            if whole && file_variable(&image, key).is_some() {
                continue;
            }
            let kind = if s.source == SecretSource::External { "an external" } else { "a file" };
            out.push(
                Diagnostic::error(
                    Code::TargetCannotExpress,
                    format!("compose cannot put {kind} secret into `{key}` of service `{}`", svc.name),
                )
                .at(svc.env_origins.get(key).map(|o| origin_span(*o)).unwrap_or(span), "compose cannot set this from a file")
                .label(origin_span(s.origin), format!("secret `{name}` is declared here"))
                .help(if whole {
                    format!("compose passes secrets as files, and `{image}` is not known to read `{key}_FILE`; declare the secret with `env=` so compose reads it from the deploy environment, or mount it with `secret \"{name}\"` and have the program read `/run/secrets/{name}`")
                } else {
                    format!("compose can build `{key}` only from secrets it reads from the deploy environment: declare `{name}` with `env=`")
                }),
            );
        }
    }
    if let Some(a) = &svc.autoscale {
        out.push(
            Diagnostic::warning(Code::TargetApproximation, format!("compose cannot autoscale `{}`: it runs {} replicas", svc.name, svc.replicas))
                .at(origin_span(a.origin), "autoscaling is for Kubernetes")
                .help("compose runs a fixed number of replicas; the Kubernetes target turns this into a HorizontalPodAutoscaler"),
        );
    }
    if let Some(Probe { check: Check::Http { .. }, .. }) = &svc.health {
        if lacks_http_client(&image) {
            out.push(
                Diagnostic::warning(
                    Code::TargetApproximation,
                    format!(
                        "the compose health check of `{}` needs wget or curl, which `{image}` does not ship",
                        svc.name
                    ),
                )
                .at(origin_span(svc.origin_of("health")), "http check runs inside the container")
                .help("use `health cmd=\"…\"` with a program the image has, or an image that ships wget or curl"),
            );
        }
    }
    let generated = monitoring_services(stack);
    for d in
        svc.depends_on.iter().filter(|d| !stack.services.contains_key(&d.service) && !generated.contains(&d.service))
    {
        out.push(
            Diagnostic::warning(
                Code::TargetApproximation,
                format!("compose does not run `{}`, so `{}` does not wait for it", d.service, svc.name),
            )
            .at(origin_span(d.origin), "dropped from depends_on")
            .help(MONITORING_NOT_RUN),
        );
    }
    // Settings compose has no key for: a warning at the setting, once per service.
    let mut unexpressed = |setting: &str, message: String, help: String| {
        out.push(
            Diagnostic::warning(Code::TargetApproximation, message)
                .at(origin_span(svc.origin_of(setting)), "not in the compose file")
                .help(help),
        );
    };
    if svc.stateful {
        unexpressed(
            "stateful",
            format!("`stateful` of `{}` has no meaning in compose", svc.name),
            "compose runs it as a plain service with its named volumes; StatefulSets are a Kubernetes feature".into(),
        );
    }
    if svc.readiness.is_some() {
        unexpressed(
            "readiness",
            format!("compose has no readiness probes: `readiness` of `{}` is not expressed", svc.name),
            "compose's only probe is `health` (its healthcheck, which `depends-on … healthy=#true` waits for); the Kubernetes target makes `readiness` the pod's readiness probe".into(),
        );
    }
    if let Some(u) = &svc.update {
        let surge: Vec<&str> = [u.max_surge.map(|_| "max-surge="), u.max_unavailable.map(|_| "max-unavailable=")]
            .into_iter()
            .flatten()
            .collect();
        if !surge.is_empty() {
            unexpressed(
                "update",
                format!(
                    "compose's update_config has no surge: `{}` of `{}` {} not expressed",
                    surge.join("` and `"),
                    svc.name,
                    if surge.len() > 1 { "are" } else { "is" }
                ),
                "compose replaces `parallelism=` containers at a time; `order=\"start-first\"` starts each new one before stopping the old one".into(),
            );
        }
    }
    for u in svc.ulimits.iter().filter(|u| u.soft.is_none() && u.hard.is_none()) {
        unexpressed(
            "ulimit",
            format!(
                "`ulimit \"{}\"` of `{}` sets neither `soft=` nor `hard=`: compose writes no limit",
                u.name, svc.name
            ),
            format!("give the limit: `ulimit \"{}\" soft=1024 hard=4096`", u.name),
        );
    }
}

/// The reverse proxy the compose file runs for the stack's sites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    Nginx,
    Caddy,
}

/// The proxy of the stack's `targets` (not of `--target`, so that building compose alone
/// gives the same file): nginx when selected (also when both are), else Caddy; `None` when
/// the stack has no sites or selects neither proxy target.
pub fn proxy_kind(stack: &Stack) -> Option<ProxyKind> {
    if stack.sites.is_empty() {
        return None;
    }
    let selected = &stack.targets.selected;
    if selected.contains(&TargetKind::Nginx) {
        Some(ProxyKind::Nginx)
    } else if selected.contains(&TargetKind::Caddy) {
        Some(ProxyKind::Caddy)
    } else {
        None
    }
}

/// Pinned images of the generated services.
const CERTBOT_IMAGE: &str = "certbot/certbot:v2.11.0";
const CADDY_IMAGE: &str = "caddy:2.8-alpine";
/// What the nginx target writes and assumes (`docs/targets/nginx.md`; backends do not import
/// each other, so `tests/compose_proxy.rs` checks that these match its output).
const NGINX_CONF_DIR: &str = "nginx/conf.d";
const NGINX_DEFAULT_VERSION: &str = "1.22";
/// Where the nginx target expects things (`docs/targets/nginx.md`).
const ACME_WEBROOT: &str = "/var/www/certbot";
/// The Caddyfile the Caddy target writes (`docs/targets/caddy.md`).
const CADDYFILE: &str = "caddy/Caddyfile";
/// The script that obtains the first certificates.
pub const INIT_SCRIPT: &str = "init-certificates.sh";

fn certificates(stack: &Stack) -> &str {
    stack.proxy.as_ref().map(|p| p.tls.certificates.as_str()).unwrap_or("letsencrypt")
}

/// The services, volumes and files that serve the stack's sites.
struct ProxyPlan {
    services: Vec<(String, CService)>,
    volumes: Vec<String>,
}

impl ProxyPlan {
    fn service_names(kind: ProxyKind, stack: &Stack) -> Vec<&'static str> {
        match kind {
            ProxyKind::Nginx if certificates(stack) == "letsencrypt" => vec!["nginx", "certbot"],
            ProxyKind::Nginx => vec!["nginx"],
            ProxyKind::Caddy => vec!["caddy"],
        }
    }

    fn volume_names(kind: ProxyKind, stack: &Stack) -> Vec<&'static str> {
        let basic_auth = stack.sites.iter().any(|s| !s.basic_auth.is_empty());
        match (kind, certificates(stack)) {
            (ProxyKind::Caddy, _) => vec!["caddy-data", "caddy-config"],
            (ProxyKind::Nginx, c) => {
                let mut v = match c {
                    "letsencrypt" => vec!["letsencrypt", "certbot-webroot"],
                    "none" => vec![],
                    _ => vec!["nginx-certs"],
                };
                if basic_auth {
                    v.push("nginx-htpasswd");
                }
                v
            }
        }
    }
}

/// Routed services (the stack's and the monitoring services compose runs), in route order,
/// and the networks they are on.
fn routed(stack: &Stack) -> (Vec<&str>, Vec<String>) {
    let generated = monitoring_services(stack);
    let mut services: Vec<&str> = Vec::new();
    for site in &stack.sites {
        for r in &site.routes {
            if let Action::Proxy { service, .. } = &r.action {
                let runs = stack.services.contains_key(service) || generated.contains(service);
                if runs && !services.contains(&service.as_str()) {
                    services.push(service);
                }
            }
        }
    }
    let monitoring = stack.monitoring.as_ref().map(|m| (m, monitoring_networks(stack, m)));
    let mut networks: Vec<String> = Vec::new();
    for s in &services {
        let nets = match (stack.services.get(*s), &monitoring) {
            (Some(svc), _) => svc.networks.as_slice(),
            (None, Some((m, nets))) => {
                match m.exporters.iter().find(|e| e.service.name == *s) {
                    Some(e) => nets.exporters.get(&e.kind).map(Vec::as_slice).unwrap_or_default(),
                    // Prometheus and Alertmanager.
                    None => nets.prometheus.as_slice(),
                }
            }
            (None, None) => &[],
        };
        push_all(&mut networks, nets);
    }
    (services, networks)
}

fn proxy_plan(stack: &Stack, opts: &EmitOptions) -> Option<ProxyPlan> {
    let kind = proxy_kind(stack)?;
    let certs = certificates(stack);
    let tls = certs != "none";
    let (routed, networks) = routed(stack);
    let mut ports = vec!["80:80".to_string()];
    if tls {
        ports.push("443:443".into());
        if kind == ProxyKind::Caddy {
            ports.push("443:443/udp".into());
        }
    }
    let depends_on =
        routed.iter().map(|s| (s.to_string(), CDepends { condition: "service_started" })).collect::<IndexMap<_, _>>();
    let mut volumes: Vec<CMount> = Vec::new();
    let mut services = Vec::new();
    match kind {
        ProxyKind::Nginx => {
            volumes.push(CMount::Short(format!("./{NGINX_CONF_DIR}:/etc/nginx/conf.d:ro")));
            match certs {
                "letsencrypt" => {
                    volumes.push(CMount::Short(format!("certbot-webroot:{ACME_WEBROOT}:ro")));
                    volumes.push(CMount::Short("letsencrypt:/etc/letsencrypt:ro".into()));
                }
                "none" => {}
                // Written by `init-certificates.sh` (self-signed) or by the operator
                // (external), so not read-only.
                _ => volumes.push(CMount::Short("nginx-certs:/etc/nginx/certs".into())),
            }
            if stack.sites.iter().any(|s| !s.basic_auth.is_empty()) {
                volumes.push(CMount::Short("nginx-htpasswd:/etc/nginx/htpasswd:ro".into()));
            }
        }
        ProxyKind::Caddy => {
            volumes.push(CMount::Short(format!("./{CADDYFILE}:/etc/caddy/Caddyfile:ro")));
            volumes.push(CMount::Short("caddy-data:/data".into()));
            volumes.push(CMount::Short("caddy-config:/config".into()));
        }
    }
    volumes.extend(stack.proxy.iter().flat_map(|p| &p.mounts).map(|m| mount(stack, opts, m)));
    let proxy = match kind {
        ProxyKind::Nginx => {
            let version = stack
                .targets
                .options
                .get("nginx")
                .and_then(|o| o.get("version"))
                .map_or(NGINX_DEFAULT_VERSION, String::as_str);
            // Certificates renewed by certbot are picked up by a reload every 6 hours.
            let command = tls.then(|| {
                vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    "while :; do sleep 6h & wait $${!}; nginx -s reload; done & exec nginx -g 'daemon off;'".into(),
                ]
            });
            CService {
                image: Some(format!("nginx:{version}-alpine")),
                command,
                restart: Some("unless-stopped".into()),
                depends_on,
                ports,
                volumes,
                networks: networks.clone(),
                healthcheck: Some(CHealth {
                    // `/run/nginx.pid` is also `/var/run/nginx.pid` (a symlink) on Alpine.
                    test: vec!["CMD-SHELL".into(), "kill -0 $$(cat /run/nginx.pid) || exit 1".into()],
                    interval: Some("30s".into()),
                    timeout: Some("5s".into()),
                    retries: Some(3),
                    start_period: None,
                }),
                ..CService::default()
            }
        }
        ProxyKind::Caddy => {
            let mut environment = IndexMap::new();
            // The Caddyfile reads params with `env=` as `{$VAR:default}`: the same value
            // reaches Caddy as the rest of the stack.
            for name in caddy_params(stack) {
                if let Some(var) = stack.params.get(name).and_then(|p| p.env.as_ref()) {
                    environment.entry(var.clone()).or_insert_with(|| param(stack, name));
                }
            }
            for name in proxy_secrets(stack) {
                if let Some(s) = stack.secrets.get(name) {
                    if let SecretSource::Env(var) = &s.source {
                        environment.insert(var.clone(), env_secret(s, var));
                    }
                }
            }
            // The Caddyfile is written for `targets > caddy version=`: run that Caddy.
            let image = stack
                .targets
                .options
                .get("caddy")
                .and_then(|o| o.get("version"))
                .map_or_else(|| CADDY_IMAGE.to_string(), |v| format!("caddy:{v}-alpine"));
            CService {
                image: Some(image),
                restart: Some("unless-stopped".into()),
                depends_on,
                environment,
                ports,
                volumes,
                networks: networks.clone(),
                healthcheck: Some(CHealth {
                    test: vec![
                        "CMD-SHELL".into(),
                        "wget -q -O /dev/null http://127.0.0.1:2019/config/ || exit 1".into(),
                    ],
                    interval: Some("30s".into()),
                    timeout: Some("5s".into()),
                    retries: Some(3),
                    start_period: None,
                }),
                ..CService::default()
            }
        }
    };
    services.push((if kind == ProxyKind::Nginx { "nginx" } else { "caddy" }.to_string(), proxy));
    if kind == ProxyKind::Nginx && certs == "letsencrypt" {
        services.push((
            "certbot".to_string(),
            CService {
                image: Some(CERTBOT_IMAGE.into()),
                entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
                command: Some(vec![format!(
                    "trap exit TERM; while :; do certbot renew --webroot -w {ACME_WEBROOT} --quiet; sleep 12h & wait $${{!}}; done"
                )]),
                restart: Some("unless-stopped".into()),
                volumes: vec![
                    CMount::Short(format!("certbot-webroot:{ACME_WEBROOT}")),
                    CMount::Short("letsencrypt:/etc/letsencrypt".into()),
                ],
                // nginx's networks, rather than a `default` network compose would add for it.
                networks: networks.clone(),
                ..CService::default()
            },
        ));
    }
    let volumes = ProxyPlan::volume_names(kind, stack).into_iter().map(str::to_string).collect();
    Some(ProxyPlan { services, volumes })
}

/// Params the Caddy target writes into the Caddyfile (hosts, `redirect-from`, header values,
/// the ACME email, `basic-auth` users), with the params their defaults use, in first-use order.
fn caddy_params(stack: &Stack) -> Vec<&str> {
    let mut texts: Vec<Text> = stack.sites.iter().flat_map(|s| s.hosts.iter().cloned()).collect();
    let strings = stack
        .sites
        .iter()
        .flat_map(|s| s.redirect_from.iter().chain(s.headers.iter().map(|(_, v)| v)))
        .chain(stack.proxy.iter().flat_map(|p| p.headers.iter().map(|(_, v)| v).chain(&p.tls.email)))
        .chain(stack.sites.iter().flat_map(|s| s.basic_auth.iter().map(|b| &b.user)));
    texts.extend(strings.map(|s| Text::from_default(s)));
    let mut out: Vec<&str> = Vec::new();
    let mut queue: Vec<String> = texts
        .iter()
        .flat_map(|t| &t.0)
        .filter_map(|p| if let Piece::Param(n) = p { Some(n.clone()) } else { None })
        .collect();
    queue.reverse();
    while let Some(n) = queue.pop() {
        let Some((name, p)) = stack.params.get_key_value(n.as_str()) else { continue };
        if out.contains(&name.as_str()) {
            continue;
        }
        out.push(name);
        for piece in p.default.as_deref().map(Text::from_default).unwrap_or_default().0.into_iter().rev() {
            if let Piece::Param(m) = piece {
                queue.push(m);
            }
        }
    }
    out
}

/// Env secrets the proxy reads (Caddy's `basic-auth` password hashes), in site order.
fn proxy_secrets(stack: &Stack) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    if proxy_kind(stack) != Some(ProxyKind::Caddy) {
        return out;
    }
    for b in stack.sites.iter().flat_map(|s| &s.basic_auth) {
        if !out.contains(&b.password_secret.as_str()) {
            out.push(&b.password_secret);
        }
    }
    out
}

/// What the generated proxy services cannot do for this stack.
fn check_proxy(stack: &Stack) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(site) = stack.sites.first() else { return out };
    let site_span = origin_span(site.origin);
    let selected = &stack.targets.selected;
    let Some(kind) = proxy_kind(stack) else {
        out.push(
            Diagnostic::warning(
                Code::TargetApproximation,
                "the compose file runs no reverse proxy: the stack selects neither `nginx` nor `caddy`",
            )
            .at(site_span, "nothing serves this site in compose")
            .help("add `nginx` or `caddy` to `targets`: compose then runs that proxy with its generated configuration"),
        );
        return out;
    };
    if selected.contains(&TargetKind::Nginx) && selected.contains(&TargetKind::Caddy) {
        out.push(
            Diagnostic::warning(
                Code::TargetApproximation,
                "the stack selects both `nginx` and `caddy`: the compose file runs nginx",
            )
            .at(site_span, "served by nginx in compose")
            .help(
                "the Caddy files are generated but no compose service uses them; remove one of the two from `targets`",
            ),
        );
    }
    for name in ProxyPlan::service_names(kind, stack) {
        if let Some(svc) = stack.services.get(name) {
            out.push(
                Diagnostic::error(
                    Code::TargetCannotExpress,
                    format!("service `{name}` clashes with the `{name}` service that compose generates for the sites"),
                )
                .at(origin_span(svc.origin), "declared here")
                .label(site_span, "sites make the proxy a service of the stack")
                .help(format!("rename the service: compose runs the reverse proxy as `{name}`")),
            );
        }
    }
    for name in ProxyPlan::volume_names(kind, stack) {
        if let Some(v) = stack.volumes.get(name) {
            out.push(
                Diagnostic::error(
                    Code::TargetCannotExpress,
                    format!("volume `{name}` clashes with the `{name}` volume that compose generates for the proxy"),
                )
                .at(origin_span(v.origin), "declared here")
                .label(site_span, "sites make the proxy a service of the stack")
                .help("rename the volume; the proxy keeps its certificates and state in volumes of these names"),
            );
        }
    }
    let generated = monitoring_services(stack);
    for r in stack.sites.iter().flat_map(|s| &s.routes) {
        if let Action::Proxy { service, .. } = &r.action {
            if !stack.services.contains_key(service) && !generated.contains(service) {
                out.push(
                    Diagnostic::error(
                        Code::TargetCannotExpress,
                        format!("route `{}` goes to `{service}`, which the compose file does not run", r.path),
                    )
                    .at(origin_span(r.origin), "the proxy would not find this service")
                    .help(MONITORING_NOT_RUN),
                );
            }
        }
    }
    // The htpasswd file `basic-auth` needs is reported by the nginx target (`nginx::check`).
    out
}

/// The site's hosts as the proxy configuration spells them (params at their defaults).
fn site_hosts(stack: &Stack, site: &Site) -> Vec<String> {
    site.hosts
        .iter()
        .map(|h| stack.compile_time(h))
        .chain(site.redirect_from.iter().map(|h| stack.compile_time(&Text::from_default(h))))
        .collect()
}

/// `init-certificates.sh`: the first certificate of each site, before the first
/// `docker compose up -d` (nginx does not start while a certificate it names is missing, so
/// certbot answers the ACME challenge itself on port 80).
fn init_script(stack: &Stack) -> Option<String> {
    if proxy_kind(stack) != Some(ProxyKind::Nginx) {
        return None;
    }
    let certs = certificates(stack);
    if certs == "none" {
        return None;
    }
    let file = sh(&file_name(stack));
    let mut out = String::from("#!/bin/sh\n");
    out.push_str(&super::header("#", stack));
    out.push_str(
        "# Run once, from this directory, before the first `docker compose up -d`: nginx does not\n\
         # start while a certificate it names is missing.\n\
         set -eu\ncd \"$(dirname \"$0\")\"\n",
    );
    let tls = stack.proxy.as_ref().map(|p| &p.tls);
    for site in &stack.sites {
        let hosts = site_hosts(stack, site);
        let Some(first) = hosts.first() else { continue };
        out.push_str(&format!("\n# site {}\n", sh(first)));
        match certs {
            "letsencrypt" => {
                // certbot serves the challenge itself on port 80 (`--standalone`); the
                // `certbot` service renews through nginx's webroot afterwards.
                let mut cmd = format!(
                    "docker compose -f {file} run --rm --no-deps --publish 80:80 --entrypoint certbot certbot \\\n    certonly --standalone --non-interactive --agree-tos --keep-until-expiring --cert-name {}",
                    sh(first)
                );
                match tls.and_then(|t| t.email.as_ref()) {
                    Some(e) => cmd.push_str(&format!(" --email {}", sh(&stack.compile_time(&Text::from_default(e))))),
                    None => cmd.push_str(" --register-unsafely-without-email"),
                }
                match tls.and_then(|t| t.acme_ca.as_deref()) {
                    Some("staging") => cmd.push_str(" --staging"),
                    Some(url) => cmd.push_str(&format!(" --server {}", sh(url))),
                    None => {}
                }
                for h in &hosts {
                    cmd.push_str(&format!(" -d {}", sh(h)));
                }
                out.push_str(&cmd);
                out.push('\n');
            }
            "self-signed" => {
                let san = hosts.iter().map(|h| format!("DNS:{h}")).collect::<Vec<_>>().join(",");
                let dir = format!("/etc/nginx/certs/{first}");
                let script = format!(
                    "apk add --no-cache openssl >/dev/null && mkdir -p {dir} && openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj /CN={first} -addext subjectAltName={san} -keyout {dir}/privkey.pem -out {dir}/fullchain.pem"
                );
                out.push_str(&format!(
                    "docker compose -f {file} run --rm --no-deps --entrypoint /bin/sh nginx -c {}\n",
                    sh(&script)
                ));
            }
            _ => {
                out.push_str(&format!(
                    "# external certificate: copy fullchain.pem, privkey.pem and chain.pem into\n# /etc/nginx/certs/{first}/ of the nginx-certs volume, for example:\n# docker compose -f {file} run --rm --no-deps -v \"$PWD/certs/{first}:/src:ro\" --entrypoint /bin/sh nginx -c 'mkdir -p /etc/nginx/certs/{first} && cp /src/*.pem /etc/nginx/certs/{first}/'\n"
                ));
            }
        }
    }
    out.push_str(&format!("\ndocker compose -f {file} up -d\n"));
    Some(out)
}

pub fn emit(stack: &Stack, opts: &EmitOptions) -> Vec<OutputFile> {
    let mut secrets = Secrets { stack, opts, used: IndexMap::new() };
    let mut services = IndexMap::new();
    for svc in stack.services.values() {
        services.insert(svc.name.clone(), service(stack, svc, &mut secrets, opts));
    }
    let networks = stack
        .networks
        .values()
        .map(|n| {
            let c = CNetwork {
                driver: n.driver.clone(),
                internal: n.internal.then_some(true),
                external: n.external.then_some(true),
                ipam: n.subnet.as_ref().map(|s| CIpam { config: vec![CIpamConfig { subnet: s.clone() }] }),
            };
            (n.name.clone(), c)
        })
        .collect();
    let mut volumes: IndexMap<String, CVolume> =
        stack.volumes.values().map(|v| (v.name.clone(), CVolume { external: v.external.then_some(true) })).collect();
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
        }
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

// ---------------------------------------------------------------------------------------
// Monitoring: Prometheus, the exporters and Alertmanager, with the files the Prometheus
// target writes mounted read-only (`docs/targets/compose.md`, "Monitoring").

/// The monitoring services compose runs: none unless the stack has `monitoring` and selects
/// the Prometheus target (which writes the configuration they mount).
fn monitoring_services(stack: &Stack) -> Vec<String> {
    let Some(mon) = stack.monitoring.as_ref().filter(|_| super::monitoring_generated(stack)) else {
        return Vec::new();
    };
    let mut out = vec![mon.prometheus_service.name.clone()];
    out.extend(mon.exporters.iter().map(|e| e.service.name.clone()));
    if !mon.notify.is_empty() {
        out.push("alertmanager".into());
    }
    out
}

/// The image's name without registry path, tag or digest (`postgres` for `postgres:16-alpine`).
fn image_base(image: &str) -> &str {
    let base = image.split('@').next().unwrap_or(image);
    let base = base.rsplit('/').next().unwrap_or(base);
    base.split(':').next().unwrap_or(base)
}

/// The first service running one of `images` (the database an exporter watches).
fn service_with_image<'a>(stack: &'a Stack, images: &[&str]) -> Option<&'a Service> {
    stack.services.values().find(|s| images.contains(&image_base(&image_literal(stack, s))))
}

/// The networks of the generated monitoring services that the user did not place: Prometheus
/// joins every network of what it scrapes (so each target is reachable by name); an exporter
/// of a database joins the database's networks, and the others (node, cadvisor, blackbox)
/// Prometheus' networks. With an implicit stack network everything is already on it.
struct MonitoringNetworks {
    prometheus: Vec<String>,
    exporters: IndexMap<String, Vec<String>>,
}

fn push_all(into: &mut Vec<String>, from: &[String]) {
    for n in from {
        if !into.contains(n) {
            into.push(n.clone());
        }
    }
}

fn database_images(kind: &str) -> &'static [&'static str] {
    match kind {
        "postgres" => &["postgres", "postgis", "timescaledb"],
        "mysql" => &["mysql", "mariadb", "percona"],
        "redis" => &["redis", "valkey"],
        "mongodb" => &["mongo"],
        "nginx" => &["nginx"],
        _ => &[],
    }
}

fn monitoring_networks(stack: &Stack, mon: &Monitoring) -> MonitoringNetworks {
    let mut exporters: IndexMap<String, Vec<String>> = IndexMap::new();
    for e in &mon.exporters {
        let nets = if !e.service.networks.is_empty() {
            e.service.networks.clone()
        } else {
            service_with_image(stack, database_images(&e.kind)).map(|s| s.networks.clone()).unwrap_or_default()
        };
        exporters.insert(e.kind.clone(), nets);
    }
    let prometheus = if !mon.prometheus_service.networks.is_empty() {
        mon.prometheus_service.networks.clone()
    } else {
        let mut nets = Vec::new();
        for s in stack.services.values().filter(|s| s.metrics.is_some()) {
            push_all(&mut nets, &s.networks);
        }
        for n in exporters.values() {
            push_all(&mut nets, n);
        }
        nets
    };
    for n in exporters.values_mut().filter(|n| n.is_empty()) {
        n.clone_from(&prometheus);
    }
    MonitoringNetworks { prometheus, exporters }
}

/// `--storage.tsdb.retention.size` in Prometheus' units (powers of 1024: `10GB` is 10 GiB).
fn prometheus_bytes(b: u64) -> String {
    for (unit, size) in [("TB", 1u64 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)] {
        if b >= size && b.is_multiple_of(size) {
            return format!("{}{unit}", b / size);
        }
    }
    format!("{b}B")
}

/// Milliseconds as a Prometheus duration flag (`90d`, `36h`).
fn prometheus_duration(ms: u64) -> String {
    let mut rest = ms;
    let mut out = String::new();
    for (unit, size) in [("d", 86_400_000u64), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    if out.is_empty() {
        "0s".into()
    } else {
        out
    }
}

fn wget_health(port: u16, path: &str) -> CHealth {
    CHealth {
        // The prom/* images are busybox-based: wget is there, curl is not.
        test: vec!["CMD-SHELL".into(), format!("wget -q --spider http://127.0.0.1:{port}{path} || exit 1")],
        interval: Some("30s".into()),
        timeout: Some("5s".into()),
        retries: Some(3),
        start_period: None,
    }
}

fn ro_bind(source: &str, target: &str) -> CMount {
    CMount::Short(format!("{source}:{target}:ro"))
}

/// How an exporter reaches its database when its block sets no `env`: derived from the
/// database service of the stack. `Err` says what is missing.
fn exporter_environment(stack: &Stack, kind: &str, c: &mut CService, secrets: &mut Secrets) -> Result<(), String> {
    let db = service_with_image(stack, database_images(kind));
    match kind {
        "postgres" => {
            let db = db.ok_or("no service of the stack runs a postgres image")?;
            let text = |key: &str| match db.env.get(key) {
                Some(EnvValue::Text(t)) => Some(env_text(stack, t)),
                _ => None,
            };
            let user = text("POSTGRES_USER").unwrap_or_else(|| "postgres".into());
            let database = text("POSTGRES_DB").unwrap_or_else(|| user.clone());
            let port = db.ports.first().map_or(5432, |p| p.port);
            c.environment.insert("DATA_SOURCE_URI".into(), format!("{}:{port}/{database}?sslmode=disable", db.name));
            c.environment.insert("DATA_SOURCE_USER".into(), user);
            match db.env.get("POSTGRES_PASSWORD") {
                Some(EnvValue::Text(t)) => {
                    c.environment.insert("DATA_SOURCE_PASS".into(), env_text(stack, t));
                }
                Some(EnvValue::Secret(name)) => match stack.secrets.get(name) {
                    Some(s @ Secret { source: SecretSource::Env(var), .. }) => {
                        c.environment.insert("DATA_SOURCE_PASS".into(), env_secret(s, var));
                    }
                    Some(_) => {
                        secrets.declare(name);
                        c.secrets.push(CServiceSecret { source: name.clone(), target: None, mode: None });
                        c.environment.insert("DATA_SOURCE_PASS_FILE".into(), format!("/run/secrets/{name}"));
                    }
                    None => {}
                },
                None => return Err(format!("`{}` sets no POSTGRES_PASSWORD", db.name)),
            }
            c.depends_on.insert(db.name.clone(), CDepends { condition: "service_started" });
            Ok(())
        }
        "redis" => {
            let db = db.ok_or("no service of the stack runs a redis image")?;
            let port = db.ports.first().map_or(6379, |p| p.port);
            c.environment.insert("REDIS_ADDR".into(), format!("redis://{}:{port}", db.name));
            match db.env.get("REDIS_PASSWORD") {
                Some(EnvValue::Text(t)) => {
                    c.environment.insert("REDIS_PASSWORD".into(), env_text(stack, t));
                }
                Some(EnvValue::Secret(name)) => match stack.secrets.get(name) {
                    Some(s @ Secret { source: SecretSource::Env(var), .. }) => {
                        c.environment.insert("REDIS_PASSWORD".into(), env_secret(s, var));
                    }
                    // redis_exporter's password file is a JSON map, not the secret itself.
                    Some(_) => return Err(format!("the password of `{}` is a file secret", db.name)),
                    None => {}
                },
                // No password in its environment: the server needs none.
                None => {}
            }
            c.depends_on.insert(db.name.clone(), CDepends { condition: "service_started" });
            Ok(())
        }
        "node" | "cadvisor" | "blackbox" => Ok(()),
        _ => Err(format!("stackc does not derive the connection of the {kind} exporter")),
    }
}

struct MonitoringPlan {
    services: Vec<(String, CService)>,
    volumes: Vec<String>,
}

fn monitoring_plan(stack: &Stack, secrets: &mut Secrets, opts: &EmitOptions) -> Option<MonitoringPlan> {
    let mon = stack.monitoring.as_ref().filter(|_| super::monitoring_generated(stack))?;
    let nets = monitoring_networks(stack, mon);
    let mut services = Vec::new();
    let mut volumes = Vec::new();

    let user = &mon.prometheus_service;
    let mut p = service(stack, user, secrets, opts);
    p.image.get_or_insert_with(|| super::PROMETHEUS_IMAGE.into());
    if p.command.is_none() {
        let mut cmd = vec![
            "--config.file=/etc/prometheus/prometheus.yml".to_string(),
            "--storage.tsdb.path=/prometheus".to_string(),
        ];
        if let Some(ms) = mon.prometheus.retention_ms {
            cmd.push(format!("--storage.tsdb.retention.time={}", prometheus_duration(ms)));
        }
        if let Some(b) = mon.prometheus.retention_size_bytes {
            cmd.push(format!("--storage.tsdb.retention.size={}", prometheus_bytes(b)));
        }
        p.command = Some(cmd);
    }
    let mut mounts = vec![ro_bind(&format!("./{}", super::PROMETHEUS_DIR), "/etc/prometheus")];
    if !user.mounts.iter().any(|m| stack.compile_time(&m.target).trim_end_matches('/') == "/prometheus") {
        mounts.push(CMount::Short("prometheus-data:/prometheus".into()));
        volumes.push("prometheus-data".to_string());
    }
    mounts.append(&mut p.volumes);
    p.volumes = mounts;
    if p.networks.is_empty() {
        p.networks.clone_from(&nets.prometheus);
    }
    p.restart.get_or_insert_with(|| "unless-stopped".into());
    p.healthcheck.get_or_insert_with(|| wget_health(super::PROMETHEUS_PORT, "/-/healthy"));
    if !mon.notify.is_empty() {
        p.depends_on.entry("alertmanager".into()).or_insert(CDepends { condition: "service_started" });
    }
    services.push((user.name.clone(), p));

    for e in &mon.exporters {
        let preset = super::exporter_preset(&e.kind);
        let mut c = service(stack, &e.service, secrets, opts);
        if let Some(pr) = preset {
            c.image.get_or_insert_with(|| pr.image.into());
        }
        let user_mounts = !e.service.mounts.is_empty();
        match e.kind.as_str() {
            // node_exporter's documented container setup: the host's root file system under
            // /host (rslave, so later mounts show up) and the host's PID namespace.
            "node" => {
                c.command.get_or_insert_with(|| vec!["--path.rootfs=/host".into()]);
                c.pid.get_or_insert_with(|| "host".into());
                if !user_mounts {
                    c.volumes.push(CMount::Long {
                        kind: "bind",
                        source: "/".into(),
                        target: "/host".into(),
                        read_only: Some(true),
                        bind: Some(CBindOptions { propagation: "rslave".into() }),
                    });
                }
            }
            // cAdvisor's documented `docker run`: these read-only mounts, /dev/kmsg, privileged.
            "cadvisor" => {
                if !user_mounts {
                    for (s, t) in [
                        ("/", "/rootfs"),
                        ("/var/run", "/var/run"),
                        ("/sys", "/sys"),
                        ("/var/lib/docker/", "/var/lib/docker"),
                        ("/dev/disk/", "/dev/disk"),
                    ] {
                        c.volumes.push(ro_bind(s, t));
                    }
                }
                c.devices.push("/dev/kmsg".into());
                c.privileged = Some(true);
            }
            _ => {}
        }
        if e.service.env.is_empty() && e.service.env_from.is_empty() && e.service.command.is_none() {
            // `check` warns when this fails.
            let _ = exporter_environment(stack, &e.kind, &mut c, secrets);
        }
        if c.networks.is_empty() {
            c.networks = nets.exporters.get(&e.kind).cloned().unwrap_or_default();
        }
        c.restart.get_or_insert_with(|| "unless-stopped".into());
        services.push((e.service.name.clone(), c));
    }

    if !mon.notify.is_empty() {
        let mut a = CService {
            image: Some(super::ALERTMANAGER_IMAGE.into()),
            command: Some(vec![
                "--config.file=/etc/alertmanager/alertmanager.yml".into(),
                "--storage.path=/alertmanager".into(),
            ]),
            restart: Some("unless-stopped".into()),
            volumes: vec![
                ro_bind(&format!("./{}", super::ALERTMANAGER_DIR), "/etc/alertmanager"),
                CMount::Short("alertmanager-data:/alertmanager".into()),
            ],
            networks: nets.prometheus.clone(),
            healthcheck: Some(wget_health(super::ALERTMANAGER_PORT, "/-/healthy")),
            ..CService::default()
        };
        for n in &mon.notify {
            // alertmanager.yml reads the webhook URL from /run/secrets/<name>.
            secrets.declare(&n.webhook_secret);
            if !a.secrets.iter().any(|s| s.source == n.webhook_secret) {
                a.secrets.push(CServiceSecret { source: n.webhook_secret.clone(), target: None, mode: None });
            }
        }
        services.push(("alertmanager".to_string(), a));
        volumes.push("alertmanager-data".to_string());
    }
    Some(MonitoringPlan { services, volumes })
}

/// Secrets the generated monitoring services read (for `.env.example`).
fn monitoring_secrets(stack: &Stack) -> Vec<&str> {
    let Some(mon) = stack.monitoring.as_ref().filter(|_| super::monitoring_generated(stack)) else {
        return Vec::new();
    };
    let mut out: Vec<&str> = mon.prometheus_service.secrets.iter().map(String::as_str).collect();
    for e in &mon.exporters {
        out.extend(e.service.secrets.iter().map(String::as_str));
    }
    out.extend(mon.notify.iter().map(|n| n.webhook_secret.as_str()));
    out
}

/// What the generated monitoring services cannot do for this stack.
fn check_monitoring(stack: &Stack) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(mon) = &stack.monitoring else { return out };
    let span = origin_span(mon.prometheus_service.origin);
    if !super::monitoring_generated(stack) {
        out.push(
            Diagnostic::warning(
                Code::TargetApproximation,
                "the compose file runs no monitoring services: the stack's `targets` do not include `prometheus`",
            )
            .at(span, "not run by compose")
            .help("add `prometheus` to `targets`: it writes the configuration that compose mounts into Prometheus"),
        );
        return out;
    }
    let retention = [
        mon.prometheus.retention_ms.map(|_| "retention="),
        mon.prometheus.retention_size_bytes.map(|_| "retention-size="),
    ];
    let retention: Vec<&str> = retention.into_iter().flatten().collect();
    if mon.prometheus_service.command.is_some() && !retention.is_empty() {
        out.push(
            Diagnostic::warning(
                Code::TargetApproximation,
                format!(
                    "Prometheus runs the `command` of its block, so `{}` (a command-line flag) is not applied",
                    retention.join("` and `")
                ),
            )
            .at(origin_span(mon.prometheus_service.origin_of("command")), "replaces the flags stackc would write")
            .help("add `--storage.tsdb.retention.time=…`/`--storage.tsdb.retention.size=…` to the command, or drop the command"),
        );
    }
    let user_mounts_data = mon
        .prometheus_service
        .mounts
        .iter()
        .any(|m| stack.compile_time(&m.target).trim_end_matches('/') == "/prometheus");
    let mut generated_volumes = Vec::new();
    if !user_mounts_data {
        generated_volumes.push("prometheus-data");
    }
    if !mon.notify.is_empty() {
        generated_volumes.push("alertmanager-data");
    }
    for name in generated_volumes {
        if let Some(v) = stack.volumes.get(name) {
            out.push(
                Diagnostic::error(
                    Code::TargetCannotExpress,
                    format!("volume `{name}` clashes with the `{name}` volume that compose generates for monitoring"),
                )
                .at(origin_span(v.origin), "declared here")
                .label(span, "monitoring keeps its data in a volume of this name")
                .help("rename the volume, or mount it into Prometheus yourself: `prometheus { mount \"…\" \"/prometheus\" }`"),
            );
        }
    }
    for e in &mon.exporters {
        if !e.service.env.is_empty() || !e.service.env_from.is_empty() || e.service.command.is_some() {
            continue;
        }
        let mut scratch = Secrets { stack, opts: &EmitOptions::default(), used: IndexMap::new() };
        if let Err(why) = exporter_environment(stack, &e.kind, &mut CService::default(), &mut scratch) {
            let what = match e.kind.as_str() {
                "postgres" => "DATA_SOURCE_NAME (or DATA_SOURCE_URI, DATA_SOURCE_USER, DATA_SOURCE_PASS)",
                "redis" => "REDIS_ADDR and REDIS_PASSWORD",
                "mysql" => "MYSQLD_EXPORTER_PASSWORD and `command \"--mysqld.address=…\" \"--mysqld.username=…\"`",
                "mongodb" => "MONGODB_URI",
                "nginx" => {
                    "`command \"--nginx.scrape-uri=http://…/stub_status\"` (and a stub_status location in nginx)"
                }
                _ => "its connection settings",
            };
            out.push(
                Diagnostic::warning(
                    Code::TargetApproximation,
                    format!("the {} exporter is not told where its server is: {why}", e.kind),
                )
                .at(origin_span(e.service.origin), "runs with the image's defaults")
                .help(format!("set {what} in `exporter \"{}\" {{ env … }}`", e.kind)),
            );
        }
    }
    // Prometheus reaches a target by name only over a network they share.
    let nets = monitoring_networks(stack, mon);
    let prom: Vec<String> = if mon.prometheus_service.networks.is_empty() {
        nets.prometheus.clone()
    } else {
        mon.prometheus_service.networks.clone()
    };
    let mut targets: Vec<(&str, Vec<String>, Origin)> = Vec::new();
    for s in stack.services.values().filter(|s| s.metrics.is_some()) {
        targets.push((&s.name, s.networks.clone(), s.origin));
    }
    for e in &mon.exporters {
        let n = nets.exporters.get(&e.kind).cloned().unwrap_or_default();
        targets.push((&e.service.name, n, e.service.origin));
    }
    for (name, target_nets, origin) in targets {
        let shared = if prom.is_empty() || target_nets.is_empty() {
            prom.is_empty() && target_nets.is_empty()
        } else {
            target_nets.iter().any(|n| prom.contains(n))
        };
        if !shared {
            out.push(
                Diagnostic::warning(
                    Code::TargetApproximation,
                    format!("Prometheus cannot reach `{name}`: they share no network"),
                )
                .at(origin_span(origin), "scraped by Prometheus")
                .label(span, "Prometheus' networks")
                .help(format!("add one of `{name}`'s networks to `prometheus {{ networks … }}`")),
            );
        }
    }
    out
}

/// A value for a `.env` file: docker compose interpolates `$` in unquoted and double-quoted
/// values, not in single-quoted ones.
fn env_file_value(v: &str) -> String {
    let plain = v.bytes().all(|b| b.is_ascii_alphanumeric() || b"/:._-@+,=".contains(&b));
    if plain {
        v.to_string()
    } else if !v.contains('\'') && !v.contains('\n') {
        format!("'{v}'")
    } else {
        let mut out = String::from("\"");
        for c in v.chars() {
            match c {
                '\\' | '"' | '$' => {
                    out.push('\\');
                    out.push(c);
                }
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

/// Every variable the compose file reads, required ones marked, no secret values.
fn env_example(stack: &Stack) -> String {
    let mut out = super::header("#", stack);
    out.push_str("# Variables the compose file reads. Copy to `.env` next to it and fill in the required ones.\n");
    let mut seen = Vec::new();
    for p in stack.params.values() {
        let Some(var) = &p.env else { continue };
        if seen.contains(var) {
            continue;
        }
        seen.push(var.clone());
        out.push('\n');
        let desc = p
            .description
            .as_deref()
            .map(|d| format!(": {}", super::comment_text(&stack.compile_time(&Text::from_default(d)))))
            .unwrap_or_default();
        if p.required {
            out.push_str(&format!("# param `{}`{desc} (required)\n{var}=\n", p.name));
        } else {
            // The default as compose applies it: nested params at their own defaults (a
            // raw `${domain}` here would be read as a variable once uncommented).
            let value = stack.compile_time(&Text::from_default(p.default.as_deref().unwrap_or_default()));
            out.push_str(&format!(
                "# param `{}`{desc} (optional, default shown)\n#{var}={}\n",
                p.name,
                env_file_value(&value)
            ));
        }
    }
    // A set: with a secret per ten services, a list made this quadratic.
    let used: std::collections::HashSet<&str> = stack
        .services
        .values()
        .flat_map(|s| s.secrets.iter().map(String::as_str))
        .chain(proxy_secrets(stack))
        .chain(monitoring_secrets(stack))
        .chain(backup::secrets(stack))
        .collect();
    for s in stack.secrets.values() {
        let SecretSource::Env(var) = &s.source else { continue };
        if !used.contains(s.name.as_str()) || seen.contains(var) {
            continue;
        }
        seen.push(var.clone());
        let req = if s.optional { "optional" } else { "required" };
        out.push_str(&format!("\n# secret `{}` ({req}; never commit its value)\n{var}=\n", s.name));
    }
    out
}

#[cfg(test)]
mod tests {
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
