//! The stack's services as compose services (and the services compose generates, which are
//! built from the same settings), and what compose cannot express of them.

use indexmap::IndexMap;

use super::monitoring::{monitoring_services, MONITORING_NOT_RUN};
use super::secrets::Secrets;
use super::values::*;
use super::*;

/// Env variables that official images read from a file when `NAME_FILE` is set.
pub(super) fn file_variable(image: &str, key: &str) -> Option<String> {
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

pub(super) fn image_literal(stack: &Stack, svc: &Service) -> String {
    svc.image.as_ref().map(|i| stack.compile_time(i)).unwrap_or_default()
}

/// Images that ship neither curl nor wget, so an `http=` check cannot run inside them.
fn lacks_http_client(image: &str) -> bool {
    let tag = image.rsplit(':').next().unwrap_or("");
    image.contains("distroless")
        || image == "scratch"
        || (image.contains(':') && tag.contains("slim") && !tag.contains("alpine"))
}

/// The program a compose gRPC health check runs (github.com/grpc-ecosystem/grpc-health-probe).
const GRPC_PROBE: &str = "grpc_health_probe";

fn health(stack: &Stack, svc: &Service, p: &Probe) -> CHealth {
    let test = match &p.check {
        Check::Cmd(c) => vec!["CMD-SHELL".into(), render_plain(stack, c)],
        // The URL is fixed at build time (params take their defaults): a deploy-time value
        // would reach the shell unquoted.
        Check::Http { path, port } => {
            let url = sh(&format!("http://127.0.0.1:{port}{}", stack.compile_time(path)));
            let headers: Vec<String> = p
                .headers
                .iter()
                .map(|(k, v)| sh(&format!("{}: {}", stack.compile_time(k), stack.compile_time(v))))
                .collect();
            let wget: String = headers.iter().map(|h| format!(" --header={h}")).collect();
            let curl: String = headers.iter().map(|h| format!(" -H {h}")).collect();
            vec![
                "CMD-SHELL".into(),
                esc(&format!("wget -q{wget} -O /dev/null {url} || curl -fsS{curl} -o /dev/null {url} || exit 1")),
            ]
        }
        // Docker has no gRPC check: the image must ship the probe (W0501 says so).
        Check::Grpc(port) => vec!["CMD".into(), GRPC_PROBE.into(), format!("-addr=127.0.0.1:{port}")],
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
        start_interval: amount(stack, &p.start_interval, duration),
        disable: None,
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

pub(super) fn limits(cpus_milli: Option<u64>, memory: Option<String>, pids: Option<u64>) -> Option<CLimits> {
    let l = CLimits { cpus: cpus_milli.map(cpus), memory, pids, ..CLimits::default() };
    (l.cpus.is_some() || l.memory.is_some() || l.pids.is_some()).then_some(l)
}

pub(super) fn logging(stack: &Stack, l: &Logging) -> CLogging {
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
pub(super) fn stack_wide(stack: &Stack, c: &mut CService) {
    for (k, v) in &stack.labels {
        c.labels.entry(k.clone()).or_insert_with(|| render_plain(stack, v));
    }
    if c.logging.is_none() {
        c.logging = stack.default_logging.as_ref().map(|l| logging(stack, l));
    }
}

/// A `mount` of a service or of the proxy: the short syntax, or the long one for the options
/// it cannot say (`propagation=`, `create-host-path=`, `sub-path=`, `nocopy=`).
pub(super) fn mount(stack: &Stack, opts: &EmitOptions, m: &Mount) -> CMount {
    let source = match &m.source {
        MountSource::Volume(v) => v.clone(),
        MountSource::Bind(p) => render_path(stack, opts, p),
    };
    let target = render_plain(stack, &m.target);
    // Validation allows the bind options on bind mounts only, and the volume options on
    // named volumes only. Compose creates a missing host path for the short syntax, and for
    // the long one only when told: the short syntax is kept where it can say everything
    // (SELinux labels are a mode there: `./config:/etc/app:ro,z`).
    let selinux = m.selinux.as_deref().map(|l| if l == "private" { "Z" } else { "z" });
    if m.propagation.is_some() || m.create_host_path.is_some() {
        CMount::Long {
            kind: "bind",
            source,
            target,
            read_only: m.read_only.then_some(true),
            bind: Some(CBindOptions {
                propagation: m.propagation.clone(),
                create_host_path: m.create_host_path,
                selinux,
            }),
            volume: None,
        }
    } else if m.sub_path.is_some() || m.nocopy {
        CMount::Long {
            kind: "volume",
            source,
            target,
            read_only: m.read_only.then_some(true),
            bind: None,
            volume: Some(CVolumeOptions { nocopy: m.nocopy.then_some(true), subpath: m.sub_path.clone() }),
        }
    } else {
        let modes: Vec<&str> = [m.read_only.then_some("ro"), selinux].into_iter().flatten().collect();
        match modes.is_empty() {
            true => CMount::Short(format!("{source}:{target}")),
            false => CMount::Short(format!("{source}:{target}:{}", modes.join(","))),
        }
    }
}

pub(super) fn service(stack: &Stack, svc: &Service, secrets: &mut Secrets, opts: &EmitOptions) -> CService {
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
            // Passed through under its own name, so that an unset variable stays unset.
            EnvValue::Text(t) if super::pass_through::optional_variable(stack, t) == Some(key.as_str()) => {
                c.environment.pass_through(key.clone());
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
    c.ports.extend(super::proxy::host_mode_publishes(stack, svc));
    for p in &svc.ports {
        let proto = if p.protocol == Protocol::Udp { "/udp" } else { "" };
        let e = format!("{}{proto}", p.port);
        if !c.expose.contains(&e) {
            c.expose.push(e);
        }
    }
    c.volumes.extend(svc.mounts.iter().map(|m| mount(stack, opts, m)));
    // An anonymous volume: on disk, and a new one each time the container is created.
    c.volumes.extend(svc.scratch.iter().map(|s| CMount::Short(render_plain(stack, &s.path))));
    c.tmpfs = svc
        .tmpfs
        .iter()
        .map(|t| {
            let mut options = Vec::new();
            if let Some(b) = t.size_bytes {
                options.push(format!("size={b}"));
            }
            if let Some(mode) = t.mode {
                options.push(format!("mode={mode:o}"));
            }
            match options.is_empty() {
                true => render_plain(stack, &t.path),
                false => format!("{}:{}", render_plain(stack, &t.path), options.join(",")),
            }
        })
        .collect();
    c.networks = svc.networks.clone().into();
    for a in &svc.addresses {
        let attach = c.networks.addresses.entry(a.network.clone()).or_default();
        attach.ipv4_address.clone_from(&a.ipv4);
        attach.ipv6_address.clone_from(&a.ipv6);
    }
    if svc.host_network {
        c.network_mode = Some("host".into());
    }
    c.healthcheck = svc.health.as_ref().map(|h| health(stack, svc, h));
    let mut deploy = CDeploy {
        // A global service runs one container per node; validation refuses `replicas` with it.
        mode: svc.global.then_some("global"),
        replicas: (svc.replicas != 1 && !svc.global).then_some(svc.replicas),
        ..CDeploy::default()
    };
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
    let deploy_set = deploy.mode.is_some()
        || deploy.replicas.is_some()
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
    c.annotations = svc.annotations.iter().map(|(k, v)| (k.clone(), render_plain(stack, v))).collect();
    for u in &svc.ulimits {
        let v = match (u.soft, u.hard) {
            (Some(s), Some(h)) if s != h => CUlimit::Pair { soft: s, hard: h },
            (Some(s), _) | (None, Some(s)) => CUlimit::Single(s),
            (None, None) => continue,
        };
        c.ulimits.insert(u.name.clone(), v);
    }
    compose_only(stack, opts, svc, &mut c);
    super::devices::devices(stack, svc, &mut c);
    c
}

/// The settings only compose has (`check_compose_only` reports what it refuses).
fn compose_only(stack: &Stack, opts: &EmitOptions, svc: &Service, c: &mut CService) {
    c.env_file = svc
        .env_files
        .iter()
        .map(|f| {
            let path = render_path(stack, opts, &f.path);
            if f.required {
                CEnvFile::Short(path)
            } else {
                CEnvFile::Long { path, required: false }
            }
        })
        .collect();
    c.profiles.extend(svc.profiles.iter().cloned());
    c.pull_policy.clone_from(&svc.pull_policy);
    c.stop_signal = render_opt(stack, &svc.stop_signal);
    c.container_name = render_opt(stack, &svc.container_name);
    c.sysctls = svc.sysctls.iter().map(|(k, v)| (render_plain(stack, k), render_plain(stack, v))).collect();
    c.group_add = render_all(stack, &svc.group_add);
}

/// Docker's rule for container names.
fn valid_container_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// What compose refuses of `container-name`: several replicas (one name cannot name them
/// all), a name docker rejects, or one name on two services.
pub(super) fn check_container_names(stack: &Stack, out: &mut Vec<Diagnostic>) {
    let mut seen: IndexMap<String, &Service> = IndexMap::new();
    for svc in stack.services.values() {
        // Checked with params at their defaults: compose reads the name at deploy time.
        let Some(name) = svc.container_name.as_ref().map(|n| stack.compile_time(n)) else { continue };
        let name = name.as_str();
        let at = origin_span(svc.origin_of("container-name"));
        if svc.replicas > 1 || svc.autoscale.is_some() {
            out.push(
                Diagnostic::error(
                    Code::TargetCannotExpress,
                    format!("service `{}` has `container-name` and {} replicas: compose cannot name them all `{name}`", svc.name, svc.replicas.max(2)),
                )
                .at(at, "one container name")
                .label(origin_span(svc.origin_of(if svc.autoscale.is_some() { "autoscale" } else { "replicas" })), "several replicas")
                .help("drop `container-name` (other services reach it by the service name, or by an alias), or run one replica"),
            );
        }
        if !valid_container_name(name) {
            out.push(
                Diagnostic::error(
                    Code::TargetCannotExpress,
                    format!("`{name}` is not a container name docker accepts"),
                )
                .at(at, "not `[a-zA-Z0-9][a-zA-Z0-9_.-]*`")
                .help("use letters, digits, `_`, `.` and `-`, starting with a letter or digit"),
            );
        }
        if let Some(first) = seen.insert(name.to_string(), svc) {
            out.push(
                Diagnostic::error(
                    Code::TargetCannotExpress,
                    format!("services `{}` and `{}` both take the container name `{name}`", first.name, svc.name),
                )
                .at(at, "taken again here")
                .label(origin_span(first.origin_of("container-name")), "first taken here")
                .help("give each service its own `container-name`"),
            );
        }
    }
}

/// What compose cannot express of one service (of the stack, or one it generates).
pub(super) fn check_service(stack: &Stack, svc: &Service, out: &mut Vec<Diagnostic>) {
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
    // One instance with its named volumes is what `stateful` means; compose says that as it
    // is. Only replicas differ: a StatefulSet gives each its own volumes, compose shares them.
    if svc.stateful && svc.replicas > 1 {
        unexpressed(
            "stateful",
            format!(
                "`stateful` of `{}`: compose's {} replicas share its named volumes (a StatefulSet gives each its own)",
                svc.name, svc.replicas
            ),
            "run one replica in compose (an `env` overlay can set `replicas 1`), or give the replicas volumes of their own".into(),
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
    shape_warnings(svc, out);
    if let Some(Probe { check: Check::Grpc(port), .. }) = &svc.health {
        out.push(
            Diagnostic::warning(
                Code::TargetApproximation,
                format!(
                    "docker has no gRPC health check: the compose check of `{}` runs `{GRPC_PROBE} -addr=127.0.0.1:{port}`, \
                     which the image must ship",
                    svc.name
                ),
            )
            .at(origin_span(svc.origin_of("health")), "a gRPC check")
            .help(format!("add {GRPC_PROBE} to the image, or check with `cmd=` (Kubernetes probes gRPC natively)")),
        );
    }
}

/// The workload shapes compose has no key for: taints, Service types, Service ports.
fn shape_warnings(svc: &Service, out: &mut Vec<Diagnostic>) {
    let mut warn = |origin: Origin, message: String, help: String| {
        out.push(
            Diagnostic::warning(Code::TargetApproximation, message)
                .at(origin_span(origin), "not in the compose file")
                .help(help),
        );
    };
    if !svc.tolerations.is_empty() {
        warn(
            svc.origin_of("toleration"),
            format!("compose has no node taints: `toleration` of `{}` is not expressed", svc.name),
            "compose runs every container on its one host; the Kubernetes target makes it the pods' tolerations".into(),
        );
    }
    if svc.scratch.iter().any(|s| s.size_bytes.is_some()) {
        warn(
            svc.origin_of("scratch"),
            format!("compose cannot size a volume: `scratch … size=` of `{}` is not expressed", svc.name),
            "the anonymous volume takes what the disk has; the Kubernetes target makes it the emptyDir's sizeLimit"
                .into(),
        );
    }
    if svc.service_account_token {
        warn(
            svc.origin_of("service-account"),
            format!("compose has no Kubernetes API: `service-account token=#true` of `{}` is not expressed", svc.name),
            "the Kubernetes target mounts the pods' ServiceAccount token; compose containers have no API to talk to"
                .into(),
        );
    }
    if matches!(svc.service_type, ServiceType::LoadBalancer | ServiceType::NodePort) {
        warn(
            svc.origin_of("service-type"),
            format!("compose has no Service types: `service-type` of `{}` is not expressed", svc.name),
            "compose reaches a container from outside through `publish` only".into(),
        );
    }
    for p in &svc.ports {
        let Some(service_port) = p.service_port else { continue };
        warn(
            p.origin,
            format!(
                "compose has no Service ports: other containers reach `{}` on port {}, not {service_port}",
                svc.name, p.port
            ),
            format!(
                "on Kubernetes the Service listens on {service_port}; in compose, addresses need port {} (or drop `target=`)",
                p.port
            ),
        );
    }
}
