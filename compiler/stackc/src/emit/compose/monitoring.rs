//! Monitoring: Prometheus, the exporters and Alertmanager, with the files the Prometheus
//! target writes mounted read-only (`docs/targets/compose.md`, "Monitoring").

use indexmap::IndexMap;

use super::secrets::Secrets;
use super::service::{image_literal, service};
use super::values::{env_secret, env_text};
use super::*;

/// Why compose does not run a monitoring service, and the fix.
pub(super) const MONITORING_NOT_RUN: &str =
    "compose runs the monitoring services when the stack's `targets` include `prometheus`, which writes their configuration";

/// The monitoring services compose runs: none unless the stack has `monitoring` and selects
/// the Prometheus target (which writes the configuration they mount).
pub(super) fn monitoring_services(stack: &Stack) -> Vec<String> {
    let Some(mon) = stack.monitoring.as_ref().filter(|_| super::monitoring_generated(stack)) else {
        return Vec::new();
    };
    let mut out = vec![mon.prometheus_service.name.clone()];
    out.extend(mon.exporters.iter().map(|e| e.service.name.clone()));
    if mon.has_alertmanager() {
        out.push("alertmanager".into());
    }
    out
}

/// The image's name without registry path, tag or digest (`postgres` for `postgres:16-alpine`).
/// The first service running one of `images` (the database an exporter watches).
fn service_with_image<'a>(stack: &'a Stack, images: &[&str]) -> Option<&'a Service> {
    stack.services.values().find(|s| images.contains(&image_base(&image_literal(stack, s))))
}

/// The networks of the generated monitoring services that the user did not place: Prometheus
/// joins every network of what it scrapes (so each target is reachable by name); an exporter
/// of a database joins the database's networks, and the others (node, cadvisor, blackbox)
/// Prometheus' networks. With an implicit stack network everything is already on it.
pub(super) struct MonitoringNetworks {
    pub(super) prometheus: Vec<String>,
    pub(super) exporters: IndexMap<String, Vec<String>>,
}

pub(super) fn push_all(into: &mut Vec<String>, from: &[String]) {
    for n in from {
        if !into.contains(n) {
            into.push(n.clone());
        }
    }
}

fn database_images(kind: &str) -> &'static [&'static str] {
    match kind {
        "postgres" => POSTGRES_IMAGES,
        "mysql" => &["mysql", "mariadb", "percona"],
        "redis" => &["redis", "valkey"],
        "mongodb" => &["mongo"],
        "nginx" => &["nginx"],
        _ => &[],
    }
}

pub(super) fn monitoring_networks(stack: &Stack, mon: &Monitoring) -> MonitoringNetworks {
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
        ..CHealth::default()
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

/// The command-line flag of a `prometheus` setting.
fn flag_of(setting: &str) -> &'static str {
    match setting {
        "retention=" => "--storage.tsdb.retention.time",
        "retention-size=" => "--storage.tsdb.retention.size",
        _ => "--web.enable-lifecycle",
    }
}

/// The flags stackc runs Prometheus with.
fn prometheus_flags(mon: &Monitoring) -> Vec<String> {
    let mut cmd =
        vec!["--config.file=/etc/prometheus/prometheus.yml".to_string(), "--storage.tsdb.path=/prometheus".to_string()];
    if let Some(ms) = mon.prometheus.retention_ms {
        cmd.push(format!("--storage.tsdb.retention.time={}", prometheus_duration(ms)));
    }
    if let Some(b) = mon.prometheus.retention_size_bytes {
        cmd.push(format!("--storage.tsdb.retention.size={}", prometheus_bytes(b)));
    }
    if mon.prometheus.lifecycle {
        cmd.push("--web.enable-lifecycle".to_string());
    }
    cmd
}

/// The argument of `command` that sets the same flag as `flag` (`--x=…` or `--x`), if any.
fn user_flag<'a>(command: &'a [String], flag: &str) -> Option<&'a String> {
    let name = flag.split('=').next().unwrap_or(flag);
    command.iter().find(|a| *a == name || a.strip_prefix(name).is_some_and(|rest| rest.starts_with('=')))
}

pub(super) struct MonitoringPlan {
    pub(super) services: Vec<(String, CService)>,
    pub(super) volumes: Vec<String>,
}

pub(super) fn monitoring_plan(stack: &Stack, secrets: &mut Secrets, opts: &EmitOptions) -> Option<MonitoringPlan> {
    let mon = stack.monitoring.as_ref().filter(|_| super::monitoring_generated(stack))?;
    let nets = monitoring_networks(stack, mon);
    let mut services = Vec::new();
    let mut volumes = Vec::new();

    let user = &mon.prometheus_service;
    let mut p = service(stack, user, secrets, opts);
    super::security::read_only_opt_out(user, &mut p);
    p.image.get_or_insert_with(|| super::PROMETHEUS_IMAGE.into());
    // A `command` of the block replaces the image's arguments: stackc's flags are added to
    // it (the configuration file, the data path, retention, lifecycle), except those it sets
    // itself, so that the stack's settings still apply.
    let command = p.command.get_or_insert_with(Vec::new);
    for flag in prometheus_flags(mon) {
        if user_flag(command, &flag).is_none() {
            command.push(flag);
        }
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
    if mon.has_alertmanager() {
        p.depends_on.entry("alertmanager".into()).or_insert(CDepends { condition: "service_started" });
    }
    for name in mon.prometheus_secrets() {
        // prometheus.yml reads a scrape's basic-auth password from /run/secrets/<name>.
        secrets.declare(name);
        if !p.secrets.iter().any(|s| s.source == name) {
            p.secrets.push(CServiceSecret { source: name.to_string(), target: None, mode: None });
        }
    }
    services.extend(super::init_steps::init_step_services(stack, user, &mut p, secrets, opts));
    services.push((user.name.clone(), p));
    services.extend(super::init_steps::sidecar_services(stack, user, secrets, opts));

    for e in &mon.exporters {
        let preset = super::exporter_preset(&e.kind);
        let mut c = service(stack, &e.service, secrets, opts);
        super::security::read_only_opt_out(&e.service, &mut c);
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
                // The backups' last-success files (backup/<name>.sh writes them).
                if !stack.backups.is_empty() {
                    let flag = format!("--collector.textfile.directory={}", super::TEXTFILE_DIR);
                    let command = c.command.get_or_insert_with(Vec::new);
                    if !command.iter().any(|a| a.starts_with("--collector.textfile.directory")) {
                        command.push(flag);
                    }
                    c.volumes.push(ro_bind(&format!("./{}", super::BACKUP_METRICS_DIR), super::TEXTFILE_DIR));
                }
                if !user_mounts {
                    c.volumes.push(CMount::Long {
                        kind: "bind",
                        source: "/".into(),
                        target: "/host".into(),
                        read_only: Some(true),
                        bind: Some(CBindOptions { propagation: Some("rslave".into()), ..CBindOptions::default() }),
                        volume: None,
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
            c.networks = nets.exporters.get(&e.kind).cloned().unwrap_or_default().into();
        }
        c.restart.get_or_insert_with(|| "unless-stopped".into());
        services.extend(super::init_steps::init_step_services(stack, &e.service, &mut c, secrets, opts));
        services.push((e.service.name.clone(), c));
        services.extend(super::init_steps::sidecar_services(stack, &e.service, secrets, opts));
    }

    if mon.has_alertmanager() {
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
            networks: nets.prometheus.clone().into(),
            healthcheck: Some(wget_health(super::ALERTMANAGER_PORT, "/-/healthy")),
            ..CService::default()
        };
        for name in mon.alertmanager_secrets() {
            // alertmanager.yml reads webhook URLs, keys and passwords from /run/secrets/<name>.
            secrets.declare(name);
            a.secrets.push(CServiceSecret { source: name.to_string(), target: None, mode: None });
        }
        services.push(("alertmanager".to_string(), a));
        volumes.push("alertmanager-data".to_string());
    }
    Some(MonitoringPlan { services, volumes })
}

/// A Grafana of the stack reads the Prometheus target's provisioning files and the
/// dashboards folder beside them, read-only.
pub(super) fn mount_grafana_provisioning(stack: &Stack, services: &mut IndexMap<String, CService>) {
    for g in super::provisioned_grafanas(stack) {
        let Some(c) = services.get_mut(&g.name) else { continue };
        c.volumes.push(ro_bind(&format!("./{}", super::GRAFANA_PROVISIONING_DIR), super::GRAFANA_PROVISIONING));
        c.volumes.push(ro_bind(&format!("./{}", super::GRAFANA_DASHBOARDS_DIR), super::GRAFANA_DASHBOARDS));
    }
}

/// Secrets the generated monitoring services read (for `.env.example`).
pub(super) fn monitoring_secrets(stack: &Stack) -> Vec<&str> {
    let Some(mon) = stack.monitoring.as_ref().filter(|_| super::monitoring_generated(stack)) else {
        return Vec::new();
    };
    let mut out: Vec<&str> = mon.prometheus_service.secrets.iter().map(String::as_str).collect();
    for e in &mon.exporters {
        out.extend(e.service.secrets.iter().map(String::as_str));
    }
    out.extend(mon.alertmanager_secrets());
    out.extend(mon.prometheus_secrets());
    out
}

/// What the generated monitoring services cannot do for this stack.
pub(super) fn check_monitoring(stack: &Stack) -> Vec<Diagnostic> {
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
    // stackc's flags are added to a `command`, unless it sets the same flag: then the
    // command's value wins over the stack's setting.
    let command: Vec<String> = mon.prometheus_service.command.iter().flatten().map(|a| stack.compile_time(a)).collect();
    let settings = [
        (mon.prometheus.retention_ms.is_some(), "retention="),
        (mon.prometheus.retention_size_bytes.is_some(), "retention-size="),
        (mon.prometheus.lifecycle, "lifecycle="),
    ];
    let flags = prometheus_flags(mon);
    let overridden: Vec<(&str, &String)> = settings
        .iter()
        .filter(|(set, _)| *set)
        .filter_map(|(_, setting)| {
            let flag = flags.iter().find(|f| flag_of(setting) == f.split('=').next().unwrap_or(f))?;
            Some((*setting, user_flag(&command, flag)?))
        })
        .collect();
    for (setting, arg) in overridden {
        out.push(
            Diagnostic::warning(
                Code::TargetApproximation,
                format!("Prometheus's `command` sets `{arg}`, which wins over `{setting}`"),
            )
            .at(origin_span(mon.prometheus_service.origin_of("command")), "sets the flag itself")
            .help(format!("remove `{arg}` from the command, or `{setting}` from `prometheus`")),
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
    if mon.has_alertmanager() {
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
        if !share_a_network(&prom, &target_nets) {
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
    // The provisioned datasource is Prometheus' service name: Grafana resolves it only over a
    // network they share.
    for g in super::provisioned_grafanas(stack) {
        if !share_a_network(&prom, &g.networks) {
            out.push(
                Diagnostic::warning(
                    Code::TargetApproximation,
                    format!(
                        "Grafana `{}` cannot reach Prometheus, its provisioned datasource: they share no network",
                        g.name
                    ),
                )
                .at(origin_span(g.origin), "queries Prometheus")
                .label(span, "Prometheus' networks")
                .help(format!("add one of Prometheus' networks to `{}`'s `networks`", g.name)),
            );
        }
    }
    out
}

/// Two services reach each other by name over a network they share; with no networks given
/// both are on the stack's implicit one.
fn share_a_network(a: &[String], b: &[String]) -> bool {
    if a.is_empty() || b.is_empty() {
        a.is_empty() && b.is_empty()
    } else {
        b.iter().any(|n| a.contains(n))
    }
}
