//! AST -> IR: applies the selected environment, resolves references and defaults, and
//! builds the dependency graph. Runs only on a stack that validated without errors, so a
//! value that does not parse here has already been reported and is skipped.

pub mod edge;
pub mod graph;
pub mod merge;
pub mod packs;
pub mod presets;
pub mod proxy;
mod storage;
pub use storage::split_nfs;
pub mod templates;

use indexmap::IndexMap;

use crate::ir::*;
use crate::source::Span;
use crate::syntax::ast::{Entry, Node, Value};
use crate::validate::{rules_route_port, values};

pub fn origin(span: Span) -> Origin {
    Origin { source: span.source.0, offset: span.offset, len: span.len }
}

fn text(s: &str) -> Text {
    match values::interpolation(s) {
        Ok(pieces) => Text(
            pieces
                .into_iter()
                .map(|p| match p {
                    values::Piece::Text(t) => Piece::Lit(t),
                    values::Piece::Param(n, _) => Piece::Param(n.to_string()),
                    values::Piece::Secret(n, _) => Piece::Secret(n.to_string()),
                })
                .collect(),
        ),
        Err(_) => Text::lit(s),
    }
}

fn entry_text(e: &Entry) -> Text {
    match &e.value {
        Value::String(s) => text(s),
        v => Text::lit(v.display()),
    }
}

/// A property that may hold `${param}`.
fn t(n: &Node, key: &str) -> Option<Text> {
    n.prop(key).map(entry_text)
}

/// The first argument, which may hold `${param}`.
fn arg_text(n: Option<&Node>) -> Option<Text> {
    n.and_then(|n| n.arg(0)).map(entry_text)
}

fn s(n: &Node, key: &str) -> Option<String> {
    n.prop(key).map(|e| e.value.display())
}

/// A property with `${param}` replaced by the params' compile-time values, for settings
/// that targets only ever write as one value (a scrape path, a subnet, a cron schedule).
fn compile_time(cx: &Cx, n: &Node, key: &str) -> Option<String> {
    t(n, key).map(|t| cx.params.compile_time(&t))
}

/// What lowering needs besides the nodes: the params, to give `${param}` durations and sizes
/// their compile-time value, and where one was left without (see [`Stack::unvalued`]).
struct Cx {
    params: Stack,
    unvalued: std::cell::RefCell<Vec<Origin>>,
}

impl Cx {
    /// The value of a duration or size that the targets only ever write as a number.
    fn value(&self, a: Amount) -> Option<u64> {
        if a.value.is_none() {
            self.unvalued.borrow_mut().push(a.origin);
        }
        a.value
    }
}

/// A duration or size as written. `${param}` keeps its text (for targets that read the
/// deploy environment) and gets its value from the params' compile-time values (for the
/// others): a value given by a param is never lost.
fn amount(cx: &Cx, e: &Entry, parse: fn(&str) -> values::VResult<u64>) -> Option<Amount> {
    let origin = origin(e.entry_span);
    match &e.value {
        Value::Int(i) => Some(Amount { value: Some(u64::try_from(*i).ok()?), text: None, origin }),
        Value::String(s) if values::has_interpolation(s) => {
            let t = text(s);
            Some(Amount { value: parse(&cx.params.compile_time(&t)).ok(), text: Some(t), origin })
        }
        Value::String(s) => Some(Amount { value: Some(parse(s).ok()?), text: None, origin }),
        _ => None,
    }
}

/// A duration property.
fn dur_amount(cx: &Cx, n: &Node, key: &str) -> Option<Amount> {
    n.prop(key).filter(|e| matches!(e.value, Value::String(_))).and_then(|e| amount(cx, e, values::duration))
}

fn dur(cx: &Cx, n: &Node, key: &str) -> Option<u64> {
    cx.value(dur_amount(cx, n, key)?)
}

fn size_amount(cx: &Cx, e: &Entry) -> Option<Amount> {
    amount(cx, e, values::size)
}

/// A size property.
fn size_prop(cx: &Cx, n: &Node, key: &str) -> Option<Amount> {
    size_amount(cx, n.prop(key)?)
}

fn size(cx: &Cx, n: &Node, key: &str) -> Option<u64> {
    cx.value(size_prop(cx, n, key)?)
}

fn int<T: TryFrom<i128>>(n: &Node, key: &str) -> Option<T> {
    n.prop(key).and_then(|e| e.value.as_int()).and_then(|i| T::try_from(i).ok())
}

/// A CPU amount in millicores; from a param, its compile-time value (as a duration's).
fn cpus(cx: &Cx, n: &Node, key: &str) -> Option<u64> {
    n.prop(key).and_then(|e| match &e.value {
        Value::Int(i) => values::cpus_num(*i as f64).ok(),
        Value::Float(f) => values::cpus_num(*f).ok(),
        Value::String(s) if values::has_interpolation(s) => {
            let t = text(s);
            let value = values::cpus_str(&cx.params.compile_time(&t)).ok();
            cx.value(Amount { value, text: Some(t), origin: origin(e.entry_span) })
        }
        Value::String(s) => values::cpus_str(s).ok(),
        _ => None,
    })
}

fn flag(n: &Node, key: &str) -> bool {
    n.prop_bool(key) == Some(true)
}

fn arg_bool(n: Option<&Node>) -> bool {
    n.and_then(|n| n.arg(0)).and_then(|a| a.value.as_bool()) == Some(true)
}

fn words(n: Option<&Node>) -> Vec<String> {
    n.map(|n| n.args.iter().map(|a| a.value.display()).collect()).unwrap_or_default()
}

fn word_texts(n: Option<&Node>) -> Vec<Text> {
    n.map(|n| n.args.iter().map(entry_text).collect()).unwrap_or_default()
}

fn protocol(n: &Node) -> Protocol {
    if n.prop_str("protocol") == Some("udp") {
        Protocol::Udp
    } else {
        Protocol::Tcp
    }
}

/// Free-form properties whose values may hold `${param}` (labels).
fn free_texts(nodes: impl Iterator<Item = impl std::ops::Deref<Target = Node>>) -> IndexMap<String, Text> {
    let mut out = IndexMap::new();
    for n in nodes {
        for p in &n.props {
            out.insert(p.key.name.clone(), entry_text(&p.value));
        }
    }
    out
}

fn free_props(nodes: impl Iterator<Item = impl std::ops::Deref<Target = Node>>) -> IndexMap<String, String> {
    let mut out = IndexMap::new();
    for n in nodes {
        for p in &n.props {
            out.insert(p.key.name.clone(), p.value.value.display());
        }
    }
    out
}

/// Lowers a merged, validated stack.
pub fn lower(nodes: &[Node], environment: Option<&str>) -> Stack {
    let mut st = Stack { environment: environment.map(str::to_string), ..Stack::default() };
    if let Some(stack) = nodes.iter().find(|n| n.name.name == "stack") {
        st.name = stack.arg_str(0).unwrap_or("stack").to_string();
        st.description = stack.child("description").and_then(|d| d.arg_str(0)).map(str::to_string);
        st.domain = stack.child("domain").and_then(|d| d.arg_str(0)).map(str::to_string);
        st.labels = free_texts(stack.children_named("labels"));
    } else {
        st.name = "stack".into();
    }
    for n in nodes.iter().filter(|n| n.name.name == "param") {
        let name = n.arg_str(0).unwrap_or_default().to_string();
        st.params.insert(
            name.clone(),
            Param {
                name,
                default: s(n, "default"),
                env: s(n, "env"),
                required: flag(n, "required"),
                description: s(n, "description"),
                origin: origin(n.span),
                optional: flag(n, "optional"),
            },
        );
    }
    // What lowering needs to give `${param}` durations and sizes their compile-time value.
    let cx = Cx { params: Stack { params: st.params.clone(), ..Stack::default() }, unvalued: Default::default() };
    for n in nodes {
        let name = n.arg_str(0).unwrap_or_default().to_string();
        match n.name.name.as_str() {
            "network" => {
                st.networks.insert(
                    name.clone(),
                    Network {
                        name,
                        subnet: compile_time(&cx, n, "subnet"),
                        internal: flag(n, "internal"),
                        external: flag(n, "external"),
                        driver: s(n, "driver"),
                        implicit: false,
                        origin: origin(n.span),
                        gateway: compile_time(&cx, n, "gateway"),
                        ipv6: flag(n, "ipv6") || n.prop("ipv6-subnet").is_some(),
                        ipv6_subnet: compile_time(&cx, n, "ipv6-subnet"),
                        ipv6_gateway: compile_time(&cx, n, "ipv6-gateway"),
                        host_name: compile_time(&cx, n, "name"),
                        driver_opts: storage::driver_opts(&cx, n),
                    },
                );
            }
            "volume" => {
                st.volumes.insert(
                    name.clone(),
                    Volume {
                        name,
                        size_bytes: size(&cx, n, "size"),
                        class: s(n, "class"),
                        external: flag(n, "external"),
                        origin: origin(n.span),
                        driver: compile_time(&cx, n, "driver"),
                        nfs: storage::nfs(&cx, n),
                        driver_opts: storage::driver_opts(&cx, n),
                    },
                );
            }
            "env-group" => {
                let vars = n.props.iter().map(|p| (p.key.name.clone(), entry_text(&p.value))).collect();
                st.env_groups.insert(name, vars);
            }
            "secret" => {
                let source = if let Some(f) = t(n, "file") {
                    SecretSource::File(f)
                } else if let Some(e) = s(n, "env") {
                    SecretSource::Env(e)
                } else {
                    SecretSource::External
                };
                st.secrets.insert(
                    name.clone(),
                    Secret { name, source, optional: flag(n, "optional"), origin: origin(n.span) },
                );
            }
            _ => {}
        }
    }
    if st.networks.is_empty() {
        let name = st.name.clone();
        st.networks.insert(
            name.clone(),
            Network {
                name,
                subnet: None,
                internal: false,
                external: false,
                driver: None,
                implicit: true,
                origin: Origin::default(),
                gateway: None,
                ipv6: false,
                ipv6_subnet: None,
                ipv6_gateway: None,
                host_name: None,
                driver_opts: IndexMap::new(),
            },
        );
    }
    let default_network = st.networks.values().find(|n| n.implicit).map(|n| n.name.clone());
    let services: IndexMap<&str, &Node> =
        nodes.iter().filter(|n| n.name.name == "service").filter_map(|n| Some((n.arg_str(0)?, n))).collect();
    for (name, n) in &services {
        st.services.insert(name.to_string(), service(&cx, name, n, default_network.as_deref()));
    }
    for n in nodes {
        match n.name.name.as_str() {
            "proxy" => {
                st.proxy = Some(proxy(&cx, n));
                for c in n.children() {
                    let key = match c.name.name.as_str() {
                        "upstream" => format!("upstream {}", c.arg_str(0).unwrap_or_default()),
                        other => other.to_string(),
                    };
                    st.proxy_origins.entry(key).or_insert_with(|| origin(c.span));
                }
            }
            "site" => st.sites.push(site(&cx, n, &services, st.domain.as_deref())),
            "firewall" => st.firewall = Some(firewall(n)),
            "monitoring" => st.monitoring = Some(monitoring(&cx, n, default_network.as_deref())),
            "alerts" => st.alert_groups.push(alerts(&cx, n)),
            "backup" => {
                let name = n.arg_str(0).unwrap_or_default().to_string();
                st.backups.insert(name.clone(), backup(&cx, &name, n, &services));
            }
            "defaults" => st.default_logging = n.child("logging").map(|l| logging(&cx, l)),
            "policy" => {
                // A rule for one service (`service=`) is validation's, never stack-wide.
                for rule in n.children().iter().filter(|r| r.prop("service").is_none()) {
                    for a in &rule.args {
                        st.policy.insert(a.value.display(), rule.name.name.clone());
                        match rule.prop_str("reason") {
                            Some(why) => st.policy_reasons.insert(a.value.display(), why.to_string()),
                            None => st.policy_reasons.shift_remove(&a.value.display()),
                        };
                    }
                }
            }
            "targets" => {
                for t in n.children() {
                    if let Some(kind) = TargetKind::ALL.iter().find(|k| k.name() == t.name.name) {
                        st.targets.selected.push(*kind);
                        st.targets.options.insert(t.name.name.clone(), free_props(std::iter::once(t)));
                        if *kind == TargetKind::K8s {
                            st.targets.namespace_labels = free_props(t.children_named("namespace-labels"));
                            st.targets.k8s_edges = k8s_edges(t);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    generated_route_ports(&mut st);
    st.unvalued = cx.unvalued.take();
    if !st.sites.is_empty() && st.proxy.is_none() {
        st.proxy = Some(proxy_defaults());
    }
    if !nodes.iter().any(|n| n.name.name == "targets") {
        st.targets.selected = TargetKind::ALL.to_vec();
    }
    st.graph = graph::build(&st);
    st.proxy_plan = proxy::plan(&st);
    st
}

/// Routes to a service that `monitoring` generates (Prometheus, Alertmanager, an exporter)
/// reach it on the port it serves on.
fn generated_route_ports(st: &mut Stack) {
    let Some(m) = &st.monitoring else { return };
    let port_of = |name: &str| match name {
        "prometheus" => Some(crate::emit::PROMETHEUS_PORT),
        "alertmanager" => Some(crate::emit::ALERTMANAGER_PORT),
        _ => m.exporters.iter().find(|e| e.service.name == name).map(|e| crate::emit::exporter_job(e).2),
    };
    for r in st.sites.iter_mut().flat_map(|s| s.routes.iter_mut()) {
        if let Action::Proxy { service, port: port @ 0 } = &mut r.action {
            *port = port_of(service).unwrap_or(0);
        }
    }
}

/// `own_port`: the port a service that `monitoring` generates serves on, which its block
/// need not declare with `port`; a probe that names none probes it.
fn probe(cx: &Cx, n: &Node, svc: &Node, own_port: Option<u16>) -> Option<Probe> {
    let port_of = |e: Option<&Entry>| match e.map(|e| &e.value) {
        // A port number need not be declared with `port` to be probed.
        Some(Value::Int(i)) => u16::try_from(*i).ok(),
        _ => rules_route_port(svc, e)
            .ok()
            .and_then(container_port)
            .and_then(|i| u16::try_from(i).ok())
            .or(own_port.filter(|_| e.is_none())),
    };
    let check = if let Some(path) = n.prop_str("http") {
        Check::Http { path: text(path), port: port_of(n.prop("port"))? }
    } else if let Some(cmd) = n.prop_str("cmd") {
        Check::Cmd(text(cmd))
    } else if n.prop("grpc").is_some() {
        Check::Grpc(port_of(n.prop("grpc"))?)
    } else {
        Check::Tcp(port_of(n.prop("tcp"))?)
    };
    Some(Probe {
        check,
        interval: dur_amount(cx, n, "interval"),
        timeout: dur_amount(cx, n, "timeout"),
        retries: int(n, "retries"),
        start_period: dur_amount(cx, n, "start-period"),
        start_interval: dur_amount(cx, n, "start-interval"),
        headers: n
            .children_named("header")
            .filter_map(|h| Some((entry_text(h.arg(0)?), entry_text(h.arg(1)?))))
            .collect(),
    })
}

fn update(cx: &Cx, n: &Node) -> UpdateConfig {
    UpdateConfig {
        parallelism: int(n, "parallelism"),
        delay: dur_amount(cx, n, "delay"),
        failure_action: s(n, "failure-action"),
        monitor: dur_amount(cx, n, "monitor"),
        max_failure_ratio: n.prop("max-failure-ratio").and_then(|e| e.value.as_f64()),
        max_surge: int(n, "max-surge"),
        max_unavailable: int(n, "max-unavailable"),
        order: s(n, "order"),
    }
}

fn env_value(e: &Entry, secrets: &mut Vec<String>) -> EnvValue {
    let mut add = |s: String| {
        if !secrets.contains(&s) {
            secrets.push(s);
        }
    };
    if e.is_secret_ref() {
        let sname = e.value.display();
        add(sname.clone());
        EnvValue::Secret(sname)
    } else {
        let t = entry_text(e);
        t.secrets().for_each(|s| add(s.to_string()));
        EnvValue::Text(t)
    }
}

fn service(cx: &Cx, name: &str, n: &Node, default_network: Option<&str>) -> Service {
    let child = |c: &str| n.child(c);
    let mut env = IndexMap::new();
    let mut env_origins = IndexMap::new();
    let mut secrets = Vec::new();
    env_into(n, &mut env, &mut env_origins, &mut secrets);
    let secret_files: Vec<SecretFile> = n
        .children_named("secret")
        .filter_map(|f| {
            Some(SecretFile { secret: f.arg_str(0)?.to_string(), target: t(f, "target"), mode: int(f, "mode") })
        })
        .collect();
    for f in &secret_files {
        if !secrets.contains(&f.secret) {
            secrets.push(f.secret.clone());
        }
    }
    let networks = match child("networks") {
        Some(ns) => words(Some(ns)),
        // On the node's network stack a container joins no network (compose refuses both).
        None if child("network-mode").is_some() => Vec::new(),
        None => default_network.map(|d| vec![d.to_string()]).unwrap_or_default(),
    };
    let autoscale = child("autoscale").map(|a| Autoscale {
        min: int(a, "min").unwrap_or(1),
        max: int(a, "max").unwrap_or(1),
        cpu_percent: int(a, "cpu"),
        memory_percent: int(a, "memory"),
        scale_up_window_ms: dur(cx, a, "scale-up-window"),
        scale_down_window_ms: dur(cx, a, "scale-down-window"),
        scale_up_select: s(a, "scale-up-select"),
        scale_down_select: s(a, "scale-down-select"),
        policies: a
            .children()
            .iter()
            .map(|p| ScalePolicy {
                direction: p.name.name.trim_start_matches("scale-").to_string(),
                percent: int(p, "percent"),
                pods: int(p, "pods"),
                period_ms: dur(cx, p, "period").unwrap_or(60_000),
            })
            .collect(),
        origin: origin(a.span),
    });
    let init_steps = companions(n, "init-step", &env, &env_origins, &mut secrets);
    // A sidecar gets none of the service's variables.
    let sidecars = companions(n, "sidecar", &IndexMap::new(), &IndexMap::new(), &mut secrets);
    let replicas = child("replicas")
        .and_then(|r| r.arg(0)?.value.as_int())
        .and_then(|i| u32::try_from(i).ok())
        .unwrap_or_else(|| autoscale.as_ref().map(|a| a.min).unwrap_or(1));
    Service {
        name: name.to_string(),
        description: child("description").and_then(|d| d.arg_str(0)).map(str::to_string),
        image: child("image").and_then(|i| i.arg(0)).map(entry_text),
        build: child("build")
            .map(|b| Build {
                context: t(b, "context").unwrap_or_else(|| Text::lit(".")),
                dockerfile: t(b, "dockerfile"),
                target: t(b, "target"),
                args: b
                    .children_named("arg")
                    .flat_map(|a| a.props.iter().map(|p| (p.key.name.clone(), entry_text(&p.value))))
                    .collect(),
            })
            .map(Box::new),
        replicas,
        command: child("command").map(|c| c.args.iter().map(entry_text).collect()),
        entrypoint: child("entrypoint").map(|c| c.args.iter().map(entry_text).collect()),
        ports: n
            .children_named("port")
            .filter_map(|p| {
                let declared = u16::try_from(p.arg(0)?.value.as_int()?).ok()?;
                let port = int(p, "target").unwrap_or(declared);
                Some(Port {
                    port,
                    name: s(p, "name"),
                    protocol: protocol(p),
                    service_port: (port != declared).then_some(declared),
                    origin: origin(p.prop("target").map_or(p.span, |e| e.entry_span)),
                })
            })
            .collect(),
        publish: n
            .children_named("publish")
            .filter_map(|p| {
                let host_port = u16::try_from(p.arg(0)?.value.as_int()?).ok()?;
                Some(Publish {
                    host_port,
                    target: int(p, "target").unwrap_or(host_port),
                    host: t(p, "host").filter(|h| {
                        !h.as_literal().is_some_and(|a| values::address(&a).is_ok_and(|a| a.is_unspecified()))
                    }),
                    protocol: protocol(p),
                    origin: origin(p.span),
                })
            })
            .collect(),
        env,
        env_origins,
        mounts: mounts(cx, n),
        depends_on: n
            .children_named("depends-on")
            .filter_map(|d| {
                Some(Dependency {
                    service: d.arg_str(0)?.to_string(),
                    condition: if flag(d, "healthy") {
                        Condition::Healthy
                    } else if flag(d, "completed") {
                        Condition::Completed
                    } else {
                        Condition::Started
                    },
                    origin: origin(d.span),
                })
            })
            .collect(),
        health: child("health").and_then(|h| probe(cx, h, n, None)),
        readiness: child("readiness").and_then(|h| probe(cx, h, n, None)),
        resources: child("resources")
            .map(|r| Resources {
                cpus_milli: cpus(cx, r, "cpus"),
                memory: size_prop(cx, r, "memory"),
                reserve_cpus_milli: cpus(cx, r, "reserve-cpus"),
                reserve_memory: size_prop(cx, r, "reserve-memory"),
                pids: int(r, "pids"),
            })
            .unwrap_or_default(),
        restart: child("restart").and_then(|r| r.arg_str(0)).map(str::to_string),
        restart_max_attempts: child("restart").and_then(|r| int(r, "max-attempts")),
        restart_delay: child("restart").and_then(|r| dur_amount(cx, r, "delay")),
        restart_window: child("restart").and_then(|r| dur_amount(cx, r, "window")),
        max_replicas_per_node: child("placement").and_then(|r| int(r, "max-replicas-per-node")),
        pid: child("pid").and_then(|r| r.arg_str(0)).map(str::to_string),
        networks,
        metrics: child("metrics")
            .and_then(|m| {
                // A port reference cannot come from a param (E0311): a number or a port's name.
                let port_entry = m.prop("port");
                let port = match port_entry.map(|e| &e.value) {
                    // The number of a declared port (`port 80 target=8080`) is scraped on the container's.
                    Some(Value::Int(i)) => rules_route_port(n, port_entry).ok().and_then(container_port).unwrap_or(*i),
                    _ => container_port(rules_route_port(n, port_entry).ok()?)?,
                };
                Some(Metrics {
                    job: s(m, "job").unwrap_or_else(|| name.to_string()),
                    path: compile_time(cx, m, "path").unwrap_or_else(|| "/metrics".into()),
                    port: u16::try_from(port).ok()?,
                    interval_ms: dur(cx, m, "interval"),
                    scheme: s(m, "scheme").unwrap_or_else(|| "http".into()),
                })
            })
            .map(Box::new),
        autoscale: autoscale.map(Box::new),
        update: child("update").map(|u| Box::new(update(cx, u))),
        rollback: child("rollback").map(|u| Box::new(update(cx, u))),
        labels: free_texts(n.children_named("labels")),
        logging: child("logging").map(|l| Box::new(logging(cx, l))),
        user: arg_text(child("user")),
        working_dir: arg_text(child("working-dir")),
        hostname: arg_text(child("hostname")),
        stop_grace_period: child("stop-grace-period")
            .and_then(|d| d.arg(0))
            .filter(|e| matches!(e.value, Value::String(_)))
            .and_then(|e| amount(cx, e, values::duration)),
        read_only: arg_bool(child("read-only")),
        tmpfs: empty_dirs(cx, n, "tmpfs"),
        cap_drop: word_texts(child("cap-drop")),
        cap_add: word_texts(child("cap-add")),
        security_opt: word_texts(child("security-opt")),
        ulimits: n
            .children_named("ulimit")
            .filter_map(|u| {
                Some(Ulimit { name: u.arg_str(0)?.to_string(), soft: int(u, "soft"), hard: int(u, "hard") })
            })
            .collect(),
        init: arg_bool(child("init")),
        shm_size: child("shm-size").and_then(|x| x.arg(0)).and_then(|e| size_amount(cx, e)),
        platform: arg_text(child("platform")),
        stateful: arg_bool(child("stateful")),
        env_from: n.children_named("env-from").flat_map(|e| e.args.iter().map(|a| a.value.display())).collect(),
        secret_files,
        secrets,
        origin: origin(n.span),
        origins: n.children().iter().fold(IndexMap::new(), |mut m, c| {
            m.entry(c.name.name.clone()).or_insert_with(|| origin(c.span));
            m
        }),
        global: child("mode").and_then(|m| m.arg_str(0)) == Some("global"),
        host_network: child("network-mode").and_then(|m| m.arg_str(0)) == Some("host"),
        tolerations: n
            .children_named("toleration")
            .map(|tol| Toleration { key: arg_text(Some(tol)), value: t(tol, "value"), effect: s(tol, "effect") })
            .collect(),
        service_type: match child("service-type").and_then(|m| m.arg_str(0)) {
            Some("load-balancer") => ServiceType::LoadBalancer,
            Some("node-port") => ServiceType::NodePort,
            Some("headless") => ServiceType::Headless,
            _ => ServiceType::ClusterIp,
        },
        annotations: free_texts(n.children_named("annotations")),
        profiles: n.children_named("profiles").flat_map(|p| p.args.iter().map(|a| a.value.display())).collect(),
        pull_policy: child("pull-policy").and_then(|p| p.arg_str(0)).map(str::to_string),
        stop_signal: arg_text(child("stop-signal")),
        container_name: arg_text(child("container-name")),
        sysctls: n
            .children_named("sysctl")
            .filter_map(|s| Some((entry_text(s.arg(0)?), entry_text(s.arg(1)?))))
            .collect(),
        group_add: n.children_named("group-add").flat_map(|g| g.args.iter().map(entry_text)).collect(),
        env_files: n
            .children_named("env-file")
            .filter_map(|f| {
                Some(EnvFile {
                    path: entry_text(f.arg(0)?),
                    required: f.prop_bool("required").unwrap_or(true),
                    origin: origin(f.span),
                })
            })
            .collect(),
        scratch: empty_dirs(cx, n, "scratch"),
        service_account_token: child("service-account").and_then(|a| a.prop_bool("token")).unwrap_or(false),
        init_steps,
        sidecars,
        addresses: storage::addresses(cx, n),
        privileged: arg_bool(child("privileged")),
        devices: n
            .children_named("device")
            .filter_map(|d| {
                Some(Device { path: entry_text(d.arg(0)?), target: t(d, "target"), permissions: s(d, "permissions") })
            })
            .collect(),
        device_cgroup_rules: n
            .children_named("device-cgroup-rule")
            .flat_map(|r| r.args.iter().map(entry_text))
            .collect(),
        gpu: child("gpu").map(|g| Box::new(gpu(g))),
        image_health_off: child("image-health").and_then(|h| h.arg(0)).and_then(|e| e.value.as_bool()) == Some(false),
        aliases: n.children_named("alias").flat_map(|a| a.args.iter().map(|a| a.value.display())).collect(),
    }
}

/// `gpu`: the driver and capabilities Docker needs, with their defaults.
fn gpu(g: &Node) -> Gpu {
    let capabilities: Vec<String> = g.args.iter().map(|a| a.value.display()).collect();
    Gpu {
        driver: t(g, "driver").unwrap_or_else(|| Text::lit("nvidia")),
        count: int(g, "count"),
        device_ids: t(g, "device-ids"),
        capabilities: if capabilities.is_empty() { vec!["gpu".into()] } else { capabilities },
    }
}

/// The `env` children of a block, merged over `env`; the secrets they name join `secrets`.
fn env_into(
    n: &Node,
    env: &mut IndexMap<String, EnvValue>,
    env_origins: &mut IndexMap<String, Origin>,
    secrets: &mut Vec<String>,
) {
    for e in n.children_named("env") {
        for p in &e.props {
            env.insert(p.key.name.clone(), env_value(&p.value, secrets));
            env_origins.insert(p.key.name.clone(), origin(p.value.entry_span));
        }
    }
}

/// A service's `init-step`s or `sidecar`s, their `env` merged over `env`; the secrets it
/// names join the service's.
fn companions(
    n: &Node,
    kind: &str,
    env: &IndexMap<String, EnvValue>,
    env_origins: &IndexMap<String, Origin>,
    secrets: &mut Vec<String>,
) -> Vec<InitStep> {
    n.children_named(kind)
        .filter_map(|step| {
            let (mut env, mut env_origins) = (env.clone(), env_origins.clone());
            env_into(step, &mut env, &mut env_origins, secrets);
            Some(InitStep {
                name: step.arg_str(0)?.to_string(),
                image: step.child("image").and_then(|i| i.arg(0)).map(entry_text),
                command: step.child("command").map(|c| c.args.iter().map(entry_text).collect()).unwrap_or_default(),
                env,
                env_origins,
                origin: origin(step.span),
            })
        })
        .collect()
}

/// `tmpfs` or `scratch` directories: a path and a largest size.
fn empty_dirs(cx: &Cx, n: &Node, name: &str) -> Vec<Tmpfs> {
    n.children_named(name)
        .filter_map(|t| {
            Some(Tmpfs { path: entry_text(t.arg(0)?), size_bytes: size(cx, t, "size"), mode: int(t, "mode") })
        })
        .collect()
}

/// The port a `port` node's container listens on: `target=`, else the port itself.
fn container_port(port: &Node) -> Option<i128> {
    port.prop("target").or(port.arg(0))?.value.as_int()
}

fn logging(cx: &Cx, l: &Node) -> Logging {
    Logging {
        driver: s(l, "driver").unwrap_or_else(|| "json-file".into()),
        max_size: size_prop(cx, l, "max-size"),
        max_file: int(l, "max-file"),
        address: t(l, "address"),
        tag: t(l, "tag"),
    }
}

fn mounts(cx: &Cx, n: &Node) -> Vec<Mount> {
    n.children_named("mount")
        .filter_map(|m| {
            let src = m.arg_str(0)?;
            Some(Mount {
                // Names cannot hold `${…}` (validated): a source that does is a host path.
                source: if values::is_bind_source(src) || values::has_interpolation(src) {
                    MountSource::Bind(text(src))
                } else {
                    MountSource::Volume(src.to_string())
                },
                target: entry_text(m.arg(1)?),
                read_only: flag(m, "read-only"),
                propagation: s(m, "propagation"),
                sub_path: compile_time(cx, m, "sub-path"),
                create_host_path: m.prop_bool("create-host-path"),
                selinux: s(m, "selinux"),
                nocopy: flag(m, "nocopy"),
            })
        })
        .collect()
}

fn headers(n: &Node) -> Vec<(String, String)> {
    n.children_named("header").filter_map(|h| Some((h.arg_str(0)?.to_string(), h.arg(1)?.value.display()))).collect()
}

fn route_headers(r: &Node, name: &str) -> Vec<RouteHeader> {
    r.children_named(name)
        .filter_map(|h| {
            Some(RouteHeader {
                name: h.arg_str(0)?.to_string(),
                value: h.arg(1)?.value.display(),
                origin: origin(h.span),
            })
        })
        .collect()
}

fn proxy_defaults() -> Proxy {
    Proxy {
        tls: Tls {
            email: None,
            profile: "intermediate".into(),
            hsts: None,
            // Let's Encrypt ended OCSP in 2025: stapling would only log errors.
            ocsp: false,
            hsts_subdomains: false,
            hsts_preload: false,
            session_timeout_ms: None,
            session_tickets: None,
            certificates: "letsencrypt".into(),
            acme_ca: None,
        },
        security_headers: "basic".into(),
        headers: Vec::new(),
        rate_limits: IndexMap::new(),
        body_limit: None,
        gzip: false,
        upstreams: IndexMap::new(),
        mounts: Vec::new(),
        cache: None,
        client_timeouts: None,
        networks: Vec::new(),
        http_port: None,
        https_port: None,
        gzip_level: None,
        gzip_types: Vec::new(),
        real_ip: None,
        forwarded_for_replace: false,
        forwarded_for_origin: None,
        host_mode: None,
    }
}

fn proxy(cx: &Cx, n: &Node) -> Proxy {
    let mut p = proxy_defaults();
    if let Some(t) = n.child("tls") {
        p.tls = Tls {
            email: s(t, "email"),
            profile: s(t, "profile").unwrap_or_else(|| "intermediate".into()),
            hsts: dur_amount(cx, t, "hsts"),
            ocsp: t.prop_bool("ocsp").unwrap_or(false),
            hsts_subdomains: flag(t, "hsts-subdomains"),
            hsts_preload: flag(t, "hsts-preload"),
            session_timeout_ms: dur(cx, t, "session-timeout"),
            session_tickets: t.prop_bool("session-tickets"),
            certificates: s(t, "certificates").unwrap_or_else(|| "letsencrypt".into()),
            acme_ca: s(t, "acme-ca"),
        };
    }
    if let Some(h) = n.child("security-headers").and_then(|h| h.arg_str(0)) {
        p.security_headers = h.to_string();
    }
    p.headers = headers(n);
    for z in n.children_named("rate-limit") {
        let name = z.arg_str(0).unwrap_or_default().to_string();
        // A rate from a param is the param's compile-time value: nginx cannot read the
        // deploy environment, and a zone must not fall back to another rate.
        let (requests, per) = compile_time(cx, z, "rate").and_then(|r| values::rate(&r).ok()).unwrap_or((1, 's'));
        p.rate_limits.insert(
            name.clone(),
            RateLimit {
                name,
                requests,
                per,
                burst: int(z, "burst"),
                nodelay: flag(z, "nodelay"),
                size_bytes: size(cx, z, "size"),
                origin: origin(z.span),
            },
        );
    }
    p.body_limit = n.child("body-limit").and_then(|b| b.arg(0)).and_then(|e| size_amount(cx, e));
    p.gzip = arg_bool(n.child("gzip"));
    (p.gzip_level, p.gzip_types) = gzip_settings(n);
    p.mounts = mounts(cx, n);
    p.networks = n.children_named("networks").flat_map(|x| x.args.iter().map(|a| a.value.display())).collect();
    p.http_port = n.child("ports").and_then(|x| t(x, "http"));
    p.https_port = n.child("ports").and_then(|x| t(x, "https"));
    p.real_ip = edge::real_ip(cx, n);
    p.forwarded_for_replace = edge::forwarded_for_replace(n);
    p.forwarded_for_origin = n.child("forwarded-for").map(|f| origin(f.span));
    p.host_mode = n.prop("mode").filter(|m| m.value.as_str() == Some("host")).map(|m| origin(m.entry_span));
    for u in n.children_named("upstream") {
        p.upstreams.insert(
            u.arg_str(0).unwrap_or_default().to_string(),
            Upstream {
                balance: s(u, "balance"),
                max_fails: int(u, "max-fails"),
                fail_timeout_ms: dur(cx, u, "fail-timeout"),
                keepalive: int(u, "keepalive"),
            },
        );
    }
    p.cache = n.child("cache").map(|c| ProxyCache {
        // Written once, by the proxy that keeps the cache: a param gives its compile-time value.
        path: compile_time(cx, c, "path"),
        size: size_prop(cx, c, "size"),
        inactive: dur_amount(cx, c, "inactive"),
        max_size: size_prop(cx, c, "max-size"),
        origin: origin(c.span),
    });
    p.client_timeouts = n.child("client-timeouts").map(|c| ClientTimeouts {
        header: dur_amount(cx, c, "header"),
        body: dur_amount(cx, c, "body"),
        origin: origin(c.span),
    });
    p
}

/// A route's timeouts, buffering, proxy cache and `cache-control` (issue 11).
fn route_handling(cx: &Cx, r: &Node) -> RouteHandling {
    RouteHandling {
        connect_timeout: dur_amount(cx, r, "connect-timeout"),
        read_timeout: dur_amount(cx, r, "read-timeout"),
        send_timeout: dur_amount(cx, r, "send-timeout"),
        request_buffering: r.prop_bool("request-buffering"),
        buffer_size: size_prop(cx, r, "buffer-size"),
        proxy_cache: dur_amount(cx, r, "proxy-cache"),
        cache_valid: r
            .children_named("cache-valid")
            .filter_map(|c| {
                let status = u16::try_from(c.arg(0)?.value.as_int()?).ok()?;
                let e = c.arg(1).filter(|e| matches!(e.value, Value::String(_)))?;
                Some((status, amount(cx, e, values::duration)?))
            })
            .collect(),
        cache_control: r.child("cache-control").map(|c| CacheControl {
            flags: c.args.iter().map(|a| a.value.display()).collect(),
            seconds: ["max-age", "s-maxage", "stale-while-revalidate", "stale-if-error"]
                .into_iter()
                .filter_map(|k| Some((k.to_string(), dur_amount(cx, c, k)?)))
                .collect(),
            origin: origin(c.span),
        }),
        cache_origin: r
            .prop("proxy-cache")
            .map(|e| origin(e.entry_span))
            .or_else(|| r.child("cache-valid").map(|c| origin(c.span)))
            .unwrap_or_else(|| origin(r.span)),
    }
}

/// `fallback-to=` of a `files=` route, with its port chosen as `to=`'s (`port=`, else the
/// port named `http`, else the only one).
fn fallback_to(r: &Node, services: &IndexMap<&str, &Node>) -> Option<(String, u16)> {
    r.prop("files")?;
    let to = r.prop_str("fallback-to")?;
    let svc = services.get(to)?;
    let port = container_port(rules_route_port(svc, r.prop("port")).ok()?)?;
    Some((to.to_string(), u16::try_from(port).ok()?))
}

fn site(cx: &Cx, n: &Node, services: &IndexMap<&str, &Node>, domain: Option<&str>) -> Site {
    let mut hosts: Vec<Text> = n.args.iter().map(entry_text).collect();
    if hosts.is_empty() {
        hosts.extend(domain.map(Text::lit));
    }
    let routes = n
        .children_named("route")
        .filter_map(|r| {
            let path = r.arg_str(0)?.to_string();
            let action = if let Some(root) = s(r, "files") {
                Action::Files { root }
            } else if let Some(status) = int(r, "respond") {
                Action::Respond { status }
            } else if let Some(to) = s(r, "redirect") {
                Action::Redirect { to, status: int(r, "status").unwrap_or(301) }
            } else if let Some(service) = s(r, "fastcgi") {
                fastcgi_action(r, services, service)?
            } else {
                let to = r.prop_str("to")?;
                let port = match services.get(to) {
                    Some(svc) => container_port(rules_route_port(svc, r.prop("port")).ok()?)?,
                    // A service `monitoring` generates: its port is filled in once monitoring
                    // is lowered (`generated_route_ports`), unless the route gives one.
                    None => r.prop("port").and_then(|p| p.value.as_int()).unwrap_or(0),
                };
                Action::Proxy { service: to.to_string(), port: u16::try_from(port).ok()? }
            };
            Some(Route {
                path,
                matching: if flag(r, "exact") {
                    Match::Exact
                } else if flag(r, "regex") {
                    Match::Regex
                } else {
                    Match::Prefix
                },
                action,
                strip_prefix: flag(r, "strip-prefix"),
                websocket: flag(r, "websocket"),
                rate_limit: s(r, "rate-limit"),
                access_log: r.prop_bool("access-log").unwrap_or(true),
                timeout: dur_amount(cx, r, "timeout"),
                buffering: r.prop_bool("buffering"),
                body_limit: size_prop(cx, r, "body-limit"),
                cache_ms: dur(cx, r, "cache"),
                immutable: flag(r, "immutable"),
                fallback: s(r, "fallback"),
                internal: flag(r, "internal"),
                origin: origin(r.span),
                request_headers: route_headers(r, "request-header"),
                response_headers: route_headers(r, "header"),
                hide_headers: r
                    .children_named("hide-header")
                    .flat_map(|h| {
                        h.args.iter().map(|a| RouteHeader {
                            name: a.value.display(),
                            value: String::new(),
                            origin: origin(h.span),
                        })
                    })
                    .collect(),
                handling: route_handling(cx, r),
                raw: raw_directives(r),
                fallback_to: fallback_to(r, services),
                index: s(r, "index"),
                precompressed: flag(r, "precompressed"),
                before_regex: flag(r, "before-regex"),
                replace_prefix: s(r, "replace-prefix"),
                cors: edge::cors(cx, r),
                methods: edge::methods(cx, r),
            })
        })
        .collect();
    Site {
        hosts,
        redirect_from: n
            .children_named("redirect-from")
            .flat_map(|r| r.args.iter().map(|a| a.value.display()))
            .collect(),
        routes,
        allow_from: n.children_named("allow-from").flat_map(|a| a.args.iter().map(|e| e.value.display())).collect(),
        basic_auth: n
            .children_named("basic-auth")
            .filter_map(|b| {
                Some(BasicAuth { user: b.arg_str(0)?.to_string(), password_secret: s(b, "password-hash")? })
            })
            .collect(),
        headers: headers(n),
        security_headers: n.child("security-headers").and_then(|h| h.arg_str(0)).map(str::to_string),
        body_limit: n.child("body-limit").and_then(|b| b.arg(0)).and_then(|e| size_amount(cx, e)),
        gzip: n.child("gzip").and_then(|g| g.arg(0)?.value.as_bool()),
        origin: origin(n.span),
        raw: raw_directives(n),
        listen: n.child("listen").and_then(|l| u16::try_from(l.arg(0)?.value.as_int()?).ok()),
        gzip_level: gzip_settings(n).0,
        gzip_types: gzip_settings(n).1,
        mime_types: n
            .children_named("mime-type")
            .filter_map(|m| {
                let exts =
                    m.args.iter().skip(1).map(|a| a.value.display().trim_start_matches('.').to_ascii_lowercase());
                Some((m.arg_str(0)?.to_ascii_lowercase(), exts.collect()))
            })
            .collect(),
        cors: edge::cors(cx, n),
        error_pages: edge::error_pages(cx, n),
    }
}

/// The port PHP-FPM listens on unless told otherwise (`listen = 9000` in the official image).
pub const DEFAULT_FASTCGI_PORT: u16 = 9000;

/// A `fastcgi=` route: the port numbered by `port=` (PHP-FPM's port need not be declared),
/// or one of the service's ports named by it, else 9000; `root=` is required (validated).
fn fastcgi_action(r: &Node, services: &IndexMap<&str, &Node>, service: String) -> Option<Action> {
    let port = match (r.prop("port"), services.get(service.as_str())) {
        (Some(p), _) if p.value.as_int().is_some() => u16::try_from(p.value.as_int()?).ok()?,
        (Some(p), Some(svc)) => u16::try_from(container_port(rules_route_port(svc, Some(p)).ok()?)?).ok()?,
        (Some(_), None) => return None,
        (None, _) => DEFAULT_FASTCGI_PORT,
    };
    Some(Action::FastCgi { service, port, root: s(r, "root")? })
}

/// The `nginx` and `caddy` children of a site or route. Validation refused `${…}` in them:
/// only `$$` is unescaped.
fn raw_directives(n: &Node) -> Vec<RawDirectives> {
    [("nginx", TargetKind::Nginx), ("caddy", TargetKind::Caddy)]
        .into_iter()
        .flat_map(|(name, target)| {
            n.children_named(name).map(move |r| RawDirectives {
                target,
                directives: r.args.iter().filter_map(|a| a.value.as_str()).map(|d| d.replace("$$", "$")).collect(),
                origin: origin(r.span),
            })
        })
        .collect()
}

/// `gzip level=` and the `gzip-types` of a `proxy` or `site`.
fn gzip_settings(n: &Node) -> (Option<u32>, Vec<String>) {
    let level = n.child("gzip").and_then(|g| int(g, "level"));
    let types = n.children_named("gzip-types").flat_map(|t| t.args.iter().map(|a| a.value.display())).collect();
    (level, types)
}

fn firewall(n: &Node) -> Firewall {
    let d = n.child("default");
    Firewall {
        incoming: d.and_then(|d| s(d, "incoming")).unwrap_or_else(|| "deny".into()),
        outgoing: d.and_then(|d| s(d, "outgoing")).unwrap_or_else(|| "allow".into()),
        routed: d.and_then(|d| s(d, "routed")),
        rules: n
            .children()
            .iter()
            .filter(|r| matches!(r.name.name.as_str(), "allow" | "deny" | "limit"))
            .filter_map(|r| {
                Some(FirewallRule {
                    action: r.name.name.clone(),
                    port: u16::try_from(r.arg(0)?.value.as_int()?).ok()?,
                    protocol: r.prop("protocol").map(|_| protocol(r)),
                    from: s(r, "from"),
                    comment: s(r, "comment"),
                    origin: origin(r.span),
                })
            })
            .collect(),
    }
}

fn monitoring(cx: &Cx, n: &Node, default_network: Option<&str>) -> Monitoring {
    let empty = |name: &str| Node {
        name: crate::syntax::ast::Ident { name: name.to_string(), span: n.name.span },
        ty: None,
        args: Vec::new(),
        props: Vec::new(),
        children: None,
        span: n.span,
    };
    let prom_node = n.child("prometheus").cloned().unwrap_or_else(|| empty("prometheus"));
    let mut exporters: Vec<Exporter> = Vec::new();
    for e in n.children_named("exporters") {
        for a in &e.args {
            let kind = a.value.display();
            if !exporters.iter().any(|x| x.kind == kind) {
                let svc = service(cx, &format!("{kind}-exporter"), &empty("exporter"), default_network);
                exporters.push(Exporter { kind, service: svc });
            }
        }
    }
    for e in n.children_named("exporter") {
        let Some(kind) = e.arg_str(0) else { continue };
        let mut svc = service(cx, &format!("{kind}-exporter"), e, default_network);
        let job = crate::emit::exporter_default_job(kind);
        generated_probes(cx, e, &mut svc, job.2);
        generated_metrics(cx, e, &mut svc, job);
        match exporters.iter_mut().find(|x| x.kind == kind) {
            Some(x) => x.service = svc,
            None => exporters.push(Exporter { kind: kind.to_string(), service: svc }),
        }
    }
    Monitoring {
        prometheus: Prometheus {
            retention_ms: dur(cx, &prom_node, "retention"),
            retention_size_bytes: size(cx, &prom_node, "retention-size"),
            scrape_interval_ms: dur(cx, &prom_node, "scrape-interval"),
            evaluation_interval_ms: dur(cx, &prom_node, "evaluation-interval"),
            scrape_timeout_ms: dur(cx, &prom_node, "scrape-timeout"),
            lifecycle: prom_node.prop_bool("lifecycle").unwrap_or(false),
            external_labels: free_props(n.children_named("external-labels")),
        },
        prometheus_service: {
            let mut svc = service(cx, "prometheus", &prom_node, default_network);
            let default = ("prometheus".to_string(), "/metrics".to_string(), crate::emit::PROMETHEUS_PORT);
            generated_probes(cx, &prom_node, &mut svc, crate::emit::PROMETHEUS_PORT);
            generated_metrics(cx, &prom_node, &mut svc, default);
            svc
        },
        exporters,
        probes: n
            .children_named("probe")
            .filter_map(|p| {
                Some(BlackboxProbe {
                    url: p.arg_str(0)?.to_string(),
                    module: s(p, "module").unwrap_or_else(|| "http_2xx".into()),
                    origin: origin(p.span),
                })
            })
            .collect(),
        scrapes: n
            .children_named("scrape")
            .filter_map(|p| {
                Some(Scrape {
                    name: p.arg_str(0)?.to_string(),
                    target: s(p, "target")?,
                    path: s(p, "path"),
                    interval_ms: dur(cx, p, "interval"),
                    scheme: s(p, "scheme"),
                    more_targets: p
                        .children_named("targets")
                        .flat_map(|t| t.args.iter().map(|a| a.value.display()))
                        .collect(),
                    timeout_ms: dur(cx, p, "timeout"),
                    honor_labels: p.prop_bool("honor-labels"),
                    basic_auth_user: s(p, "basic-auth-user"),
                    basic_auth_password_secret: s(p, "basic-auth-password"),
                    tls_server_name: s(p, "tls-server-name"),
                    insecure_skip_verify: p.prop_bool("insecure-skip-verify"),
                    drop_metrics: p
                        .children_named("drop-metric")
                        .filter_map(|d| d.arg_str(0))
                        .map(str::to_string)
                        .collect(),
                    rename_labels: p
                        .children_named("rename-label")
                        .filter_map(|r| {
                            let label = |i: usize| Some(cx.params.compile_time(&entry_text(r.arg(i)?)));
                            Some((label(0)?, label(1)?))
                        })
                        .collect(),
                })
            })
            .collect(),
        notify: n
            .children_named("notify")
            .filter_map(|x| {
                Some(Notify {
                    kind: x.arg_str(0)?.to_string(),
                    webhook_secret: s(x, "webhook")?,
                    channel: s(x, "channel"),
                    send_resolved: x.prop_bool("send-resolved").unwrap_or(true),
                    receiver: receiver(x),
                })
            })
            .collect(),
        alertmanager: alertmanager_settings(cx, n.child("alertmanager")),
        emails: n
            .children_named("email")
            .filter_map(|e| {
                Some(EmailNotify {
                    // Raw: the Prometheus target renders params (and reports those it cannot).
                    to: e.arg_str(0)?.to_string(),
                    from: s(e, "from")?,
                    smarthost: s(e, "smarthost")?,
                    auth_username: s(e, "auth-username"),
                    auth_password_secret: s(e, "auth-password"),
                    require_tls: e.prop_bool("require-tls"),
                    send_resolved: e.prop_bool("send-resolved").unwrap_or(false),
                    receiver: receiver(e),
                })
            })
            .collect(),
        pagerduty: n
            .children_named("pagerduty")
            .filter_map(|p| {
                Some(PagerDutyNotify {
                    routing_key_secret: s(p, "routing-key")?,
                    send_resolved: p.prop_bool("send-resolved").unwrap_or(true),
                    receiver: receiver(p),
                })
            })
            .collect(),
    }
}

/// The Alertmanager receiver a `notify`/`email`/`pagerduty` belongs to.
fn receiver(n: &Node) -> String {
    s(n, "receiver").unwrap_or_else(|| DEFAULT_RECEIVER.to_string())
}

/// `monitoring > alertmanager`. Without `group-by`, alerts are batched by `alertname`
/// (stackc's default, decided here so that the emitter only renders; Alertmanager's own,
/// no grouping at all, would send one notification per alert of a wide outage).
fn alertmanager_settings(cx: &Cx, a: Option<&Node>) -> AlertmanagerSettings {
    // Label names from params are their compile-time values: Alertmanager reads no environment.
    let labels = |n: &Node| n.args.iter().map(|v| cx.params.compile_time(&entry_text(v))).collect::<Vec<String>>();
    let group_by: Vec<String> = a.into_iter().flat_map(|a| a.children_named("group-by")).flat_map(labels).collect();
    AlertmanagerSettings {
        group_by: if group_by.is_empty() { vec!["alertname".into()] } else { group_by },
        group_wait_ms: a.and_then(|a| dur(cx, a, "group-wait")),
        group_interval_ms: a.and_then(|a| dur(cx, a, "group-interval")),
        repeat_interval_ms: a.and_then(|a| dur(cx, a, "repeat-interval")),
        inhibit: a
            .into_iter()
            .flat_map(|a| a.children_named("inhibit"))
            .filter_map(|i| Some(Inhibit { source: s(i, "source")?, target: s(i, "target")?, equal: labels(i) }))
            .collect(),
        routes: a
            .into_iter()
            .flat_map(|a| a.children_named("route"))
            .filter_map(|r| {
                let matchers = match s(r, "match") {
                    Some(m) => crate::validate::alerting::route_matchers(&m).ok()?,
                    None => Vec::new(),
                };
                Some(AlertRoute {
                    receiver: r.arg_str(0)?.to_string(),
                    matchers,
                    continue_: r.prop_bool("continue").unwrap_or(false),
                    group_wait_ms: dur(cx, r, "group-wait"),
                    group_interval_ms: dur(cx, r, "group-interval"),
                    repeat_interval_ms: dur(cx, r, "repeat-interval"),
                    origin: origin(r.span),
                })
            })
            .collect(),
        origin: a.map(|a| origin(a.head_span())),
    }
}

/// `health` and `readiness` in the block of a service `monitoring` generates: one without a
/// port probes the port the service serves on (`port`).
fn generated_probes(cx: &Cx, block: &Node, svc: &mut Service, port: u16) {
    let own = (port != 0).then_some(port);
    if svc.health.is_none() {
        svc.health = block.child("health").and_then(|h| probe(cx, h, block, own));
    }
    if svc.readiness.is_none() {
        svc.readiness = block.child("readiness").and_then(|h| probe(cx, h, block, own));
    }
}

/// `metrics` in the block of a service `monitoring` generates (Prometheus, an exporter),
/// which need not declare a `port`: what it leaves out (`job`, `path`, the port) is the
/// generated service's own scrape job (`default`), so that `job=`/`interval=` are kept.
fn generated_metrics(cx: &Cx, block: &Node, svc: &mut Service, default: (String, String, u16)) {
    let Some(m) = block.child("metrics") else { return };
    let (job, path, port) = default;
    svc.metrics = Some(Box::new(Metrics {
        job: s(m, "job").unwrap_or(job),
        path: compile_time(cx, m, "path").unwrap_or(path),
        port: svc.metrics.as_ref().map_or(port, |declared| declared.port),
        interval_ms: dur(cx, m, "interval"),
        scheme: s(m, "scheme").unwrap_or_else(|| "http".into()),
    }));
}

/// The alerts of the group's `pack` nodes, each at its `pack` node (for diagnostics).
fn pack_alerts(cx: &Cx, group: &Node) -> Vec<Alert> {
    let mut out = Vec::new();
    for p in group.children_named("pack") {
        let Some(pack) = p.arg_str(0).and_then(packs::pack) else { continue };
        let values: IndexMap<String, String> =
            p.props.iter().map(|e| (e.key.name.clone(), cx.params.compile_time(&entry_text(&e.value)))).collect();
        let mut inner = group.clone();
        inner.children = Some(packs::alert_nodes(pack, &values));
        for mut a in own_alerts(cx, &inner).alerts {
            a.origin = origin(p.span);
            out.push(a);
        }
    }
    out
}

/// An `alerts` group: its own alerts, then its packs'.
fn alerts(cx: &Cx, n: &Node) -> AlertGroup {
    let mut group = own_alerts(cx, n);
    group.alerts.extend(pack_alerts(cx, n));
    group
}

fn own_alerts(cx: &Cx, n: &Node) -> AlertGroup {
    AlertGroup {
        name: n.arg_str(0).unwrap_or_default().to_string(),
        interval_ms: dur(cx, n, "interval"),
        alerts: n
            .children_named("alert")
            .filter_map(|a| {
                let text = |c: &str| a.child(c).and_then(|x| x.arg_str(0)).map(str::to_string);
                Some(Alert {
                    // Prometheus reads no environment: a name from a param is its value.
                    name: cx.params.compile_time(&entry_text(a.arg(0)?)),
                    expr: s(a, "expr")?,
                    for_ms: dur(cx, a, "for"),
                    severity: s(a, "severity"),
                    summary: text("summary"),
                    description: text("description"),
                    runbook: text("runbook"),
                    labels: free_props(a.children_named("labels")),
                    origin: origin(a.span),
                })
            })
            .collect(),
        origin: origin(n.head_span()),
        limit: n.prop("limit").and_then(|l| l.value.as_int()).and_then(|l| u64::try_from(l).ok()),
        records: n
            .children_named("record")
            .filter_map(|r| {
                Some(RecordRule {
                    metric: r.arg_str(0)?.to_string(),
                    expr: s(r, "expr")?,
                    labels: free_props(r.children_named("labels")),
                    origin: origin(r.span),
                })
            })
            .collect(),
    }
}

fn backup(cx: &Cx, name: &str, n: &Node, services: &IndexMap<&str, &Node>) -> Backup {
    let service = s(n, "service");
    let engine = s(n, "engine").or_else(|| {
        let svc = services.get(service.as_deref()?)?;
        crate::validate::rules::backup_engine(svc).map(str::to_string)
    });
    let mut secrets = Vec::new();
    Backup {
        name: name.to_string(),
        service,
        volume: s(n, "volume"),
        engine,
        schedule: compile_time(cx, n, "schedule").unwrap_or_default(),
        retain_ms: dur(cx, n, "retain"),
        to: s(n, "to").unwrap_or_default(),
        copy_to: s(n, "copy-to"),
        encrypt_secret: s(n, "encrypt"),
        no_owner: flag(n, "no-owner"),
        no_privileges: flag(n, "no-privileges"),
        env: n
            .children_named("env")
            .flat_map(|e| e.props.iter())
            .map(|p| (p.key.name.clone(), env_value(&p.value, &mut secrets)))
            .collect(),
        database: s(n, "database"),
        user: s(n, "user"),
        password_secret: s(n, "password"),
        format: s(n, "format"),
        compress: n.prop_bool("compress").unwrap_or(true),
        origin: origin(n.span),
        max_gap_ms: schedule_max_gap_ms(&compile_time(cx, n, "schedule").unwrap_or_default()),
    }
}

/// `targets > k8s > egress|ingress` (validated: a service, one of `cidr=`/`namespace=`, a port).
fn k8s_edges(k8s: &Node) -> Vec<K8sEdge> {
    let mut out = Vec::new();
    for e in k8s.children().iter().filter(|c| c.name.name == "egress" || c.name.name == "ingress") {
        out.push(K8sEdge {
            service: e.arg_str(0).unwrap_or_default().to_string(),
            incoming: e.name.name == "ingress",
            cidr: e.prop("cidr").map(entry_text),
            namespace: e.prop_str("namespace").map(str::to_string),
            port: e.prop("port").and_then(|p| p.value.as_int()).and_then(|p| u16::try_from(p).ok()).unwrap_or_default(),
            protocol: protocol(e),
        });
    }
    out
}

/// The longest gap between two runs of a cron schedule, over a year of runs from a fixed
/// date (so that the output does not depend on the day of the build), or over two periods
/// of a schedule that repeats every day or every week (which gives the same gap: a year of
/// a daily schedule's runs cost a backup's lowering more than the rest of the stack).
pub fn schedule_max_gap_ms(schedule: &str) -> Option<u64> {
    max_gap_ms(schedule, repeat_days(schedule).map_or(366, |days| 2 * days))
}

/// The period of a five-field schedule that names no day of the month and no month: a day,
/// or a week if it names days of the week. `None`: anything else (a year is looked at).
fn repeat_days(schedule: &str) -> Option<i64> {
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    match fields.as_slice() {
        [_, _, "*", "*", "*"] => Some(1),
        [_, _, "*", "*", _] => Some(7),
        _ => None,
    }
}

fn max_gap_ms(schedule: &str, days: i64) -> Option<u64> {
    use chrono::TimeZone as _;
    let cron: croner::Cron = schedule.parse().ok()?;
    let start = chrono::Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single()?;
    let end = start + chrono::Duration::days(days);
    let mut previous: Option<chrono::DateTime<chrono::Utc>> = None;
    let mut gap = 0i64;
    // A schedule every minute has half a million runs a year: stop after enough to have
    // seen every gap of a schedule that repeats within weeks.
    for t in cron.iter_after(start).take_while(|t| *t <= end).take(20_000) {
        if let Some(p) = previous {
            gap = gap.max((t - p).num_milliseconds());
        }
        previous = Some(t);
    }
    u64::try_from(gap).ok().filter(|g| *g > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_that_repeats_daily_or_weekly_has_the_gap_of_a_year() {
        for schedule in [
            "0 3 * * *",
            "*/15 * * * *",
            "30 */6 * * *",
            "0 3 * * 1-5",
            "0 0 * * 0",
            "15 2,14 * * 6,0",
            "0 3 1 * *",
            "0 4 * 2 *",
            "0 0 29 2 *",
        ] {
            assert_eq!(schedule_max_gap_ms(schedule), max_gap_ms(schedule, 366), "{schedule}");
        }
        assert_eq!(repeat_days("0 3 * * *"), Some(1));
        assert_eq!(repeat_days("0 3 * * 1-5"), Some(7));
        assert_eq!(repeat_days("0 3 1 * *"), None);
        assert_eq!(repeat_days("0 3 * 1 *"), None);
        assert_eq!(repeat_days("@daily"), None);
    }
}
