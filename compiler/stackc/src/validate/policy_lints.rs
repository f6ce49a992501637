//! Deployment-policy lints (W0108–W0118): what a reviewer of a production deployment asks
//! about (`docs/diagnostics/W01xx.md`). Each reads the merged stack's AST, like the other
//! lints, and reports through the policy's levels (`lints::Sink`).

use super::lints::{image_base, Sink};
use super::values;
use super::Symbols;
use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::ast::{Node, Value};

pub(super) fn check(nodes: &[Node], symbols: &Symbols, env: Option<&str>, sink: &mut Sink) {
    docker_bypasses_firewall(nodes, symbols, sink);
    missing_resource_limits(symbols, sink);
    no_hsts(nodes, sink);
    debug_in_production(symbols, env, sink);
    docker_socket_mount(symbols, sink);
    privileged_or_root(symbols, sink);
    single_replica_public(nodes, symbols, env, sink);
    wildcard_cors(nodes, symbols, sink);
    alerts_without_receiver(nodes, sink);
    backup_unmonitored(nodes, sink);
    image_not_pinned(symbols, sink);
    raw_proxy_config(nodes, sink);
}

/// An environment name that says production: `production`, `prod`, `prd`, `live`, or one
/// starting with `prod` / `production-`.
pub fn production_like(env: &str) -> bool {
    let e = env.to_ascii_lowercase();
    matches!(e.as_str(), "production" | "prod" | "prd" | "live") || e.starts_with("prod")
}

fn top<'a>(nodes: &'a [Node], name: &str) -> impl Iterator<Item = &'a Node> {
    let name = name.to_string();
    nodes.iter().filter(move |n| n.name.name == name)
}

/// The targets built: every target without a `targets` node.
fn builds(nodes: &[Node], target: &str) -> bool {
    let mut targets = top(nodes, "targets").peekable();
    if targets.peek().is_none() {
        return true;
    }
    targets
        .flat_map(|t| t.children())
        .any(|t| t.name.name == target && !matches!(t.arg(0).map(|a| &a.value), Some(Value::Null)))
}

fn publishes_everywhere(p: &Node) -> bool {
    match p.prop_str("host") {
        None => true,
        Some(h) => values::address(h).is_ok_and(|a| a.is_unspecified()),
    }
}

/// The stack has a `firewall`, but the UFW target (whose script alone writes it into
/// DOCKER-USER) is not built: Docker's published ports are open whatever it says.
fn docker_bypasses_firewall(nodes: &[Node], symbols: &Symbols, sink: &mut Sink) {
    let code = Code::DockerBypassesFirewall;
    if !sink.on(code) || top(nodes, "firewall").next().is_none() || builds(nodes, "ufw") {
        return;
    }
    for (name, svc) in &symbols.services {
        for p in svc.children_named("publish").filter(|p| publishes_everywhere(p)) {
            let port = p.arg(0).and_then(|a| a.value.as_int()).unwrap_or(0);
            sink.push(
                Diagnostic::warning(code, format!("`{name}` publishes port {port} past the stack's `firewall`: the `ufw` target is not built"))
                    .at(p.head_span(), "Docker forwards this port before any host firewall rule")
                    .help("build the `ufw` target (`targets { ufw }`): its script writes the firewall's rules for published ports into Docker's DOCKER-USER chain; or bind the port to one address (`host=\"127.0.0.1\"`)"),
            );
        }
    }
}

fn missing_resource_limits(symbols: &Symbols, sink: &mut Sink) {
    let code = Code::MissingResourceLimits;
    if !sink.on(code) {
        return;
    }
    for (name, svc) in &symbols.services {
        if svc.child("resources").and_then(|r| r.prop("memory")).is_none() {
            sink.push(
                Diagnostic::warning(code, format!("service `{name}` has no memory limit"))
                    .at(svc.head_span(), "no `resources memory=`")
                    .help("add `resources memory=\"512MiB\" cpus=\"1\"`: without a limit one leaking container can take the host's memory and every other service with it"),
            );
        }
    }
}

/// Sites over TLS without `Strict-Transport-Security` (neither `tls hsts=` nor a header).
fn no_hsts(nodes: &[Node], sink: &mut Sink) {
    let code = Code::NoHsts;
    if !sink.on(code) {
        return;
    }
    let sts = |n: &Node| {
        n.children_named("header")
            .any(|h| h.arg_str(0).is_some_and(|v| v.eq_ignore_ascii_case("Strict-Transport-Security")))
    };
    let proxy = top(nodes, "proxy").last();
    let tls = proxy.and_then(|p| p.child("tls"));
    if tls.is_some_and(|t| t.prop("hsts").is_some() || t.prop_str("certificates") == Some("none"))
        || proxy.is_some_and(sts)
    {
        return;
    }
    // A site on a port of its own (`listen`) is plain HTTP: HSTS does not apply to it.
    for site in top(nodes, "site").filter(|s| !sts(s) && s.child("listen").is_none()) {
        sink.push(
            Diagnostic::warning(code, format!("site `{}` is served over TLS without HSTS", site.arg_str(0).unwrap_or("?")))
                .at(site.head_span(), "no `Strict-Transport-Security`")
                .help("set `proxy { tls hsts=\"365d\" }` (and `hsts-subdomains=#true` when every subdomain has TLS): without HSTS a browser's first plain-HTTP request can be intercepted and never upgraded"),
        );
    }
}

/// Variables that turn on debugging or a development mode, with the values that do.
const DEBUG_VARS: &[(&str, &[&str])] = &[
    ("DEBUG", &["1", "true", "yes", "on", "*"]),
    ("APP_DEBUG", &["1", "true", "yes", "on"]),
    ("FLASK_DEBUG", &["1", "true"]),
    ("DJANGO_DEBUG", &["1", "true", "yes"]),
    ("NODE_ENV", &["development", "dev"]),
    ("APP_ENV", &["development", "dev", "local"]),
    ("RAILS_ENV", &["development"]),
    ("RACK_ENV", &["development"]),
    ("FLASK_ENV", &["development"]),
    ("ASPNETCORE_ENVIRONMENT", &["development"]),
    ("SPRING_PROFILES_ACTIVE", &["dev", "development"]),
    ("LOG_LEVEL", &["debug", "trace"]),
];

fn debug_in_production(symbols: &Symbols, env: Option<&str>, sink: &mut Sink) {
    let code = Code::DebugInProduction;
    let Some(env) = env.filter(|e| production_like(e)) else { return };
    if !sink.on(code) {
        return;
    }
    for (name, svc) in &symbols.services {
        for p in svc.children_named("env").flat_map(|e| e.props.iter()) {
            let Some(v) = p.value.value.as_str() else {
                // `DEBUG=#true`
                if p.key.name.eq_ignore_ascii_case("DEBUG") && p.value.value.as_bool() == Some(true) {
                    push_debug(sink, name, env, &p.key.name, "#true", p.value.span);
                }
                continue;
            };
            let key = p.key.name.to_ascii_uppercase();
            if DEBUG_VARS.iter().any(|(k, vals)| *k == key && vals.iter().any(|x| x.eq_ignore_ascii_case(v.trim()))) {
                push_debug(sink, name, env, &p.key.name, v, p.value.span);
            }
        }
    }
}

fn push_debug(sink: &mut Sink, service: &str, env: &str, key: &str, value: &str, span: crate::source::Span) {
    sink.push(
        Diagnostic::error(
            Code::DebugInProduction,
            format!("`{key}={value}` of `{service}` in environment `{env}`"),
        )
        .at(span, "a debug or development setting")
        .help(format!("debug modes print stack traces, secrets and internals to anyone who triggers an error: set it in the development environment only (`env \"development\" {{ service \"{service}\" {{ env {key}=\"…\" }} }}`) and give `{env}` the production value")),
    );
}

const DOCKER_SOCKETS: &[&str] = &["/var/run/docker.sock", "/run/docker.sock"];

fn docker_socket_mount(symbols: &Symbols, sink: &mut Sink) {
    let code = Code::DockerSocketMount;
    if !sink.on(code) {
        return;
    }
    for (name, svc) in &symbols.services {
        for m in svc.children_named("mount") {
            let Some(src) = m.arg_str(0) else { continue };
            if !DOCKER_SOCKETS.contains(&src.trim_end_matches('/')) {
                continue;
            }
            let ro = m.prop_bool("read-only") == Some(true);
            sink.push(
                Diagnostic::warning(code, format!("service `{name}` mounts the Docker socket{}", if ro { " (read-only)" } else { "" }))
                    .at(m.head_span(), if ro { "read-only does not limit the API" } else { "root on the host" })
                    .help("whoever reaches the socket can start a privileged container and own the host; `read-only` only stops writes to the socket file, not API calls. Use a socket proxy that allows only the calls needed (e.g. tecnativa/docker-socket-proxy with `CONTAINERS=1`), or drop the mount"),
            );
        }
    }
}

const BROAD_CAPS: &[&str] = &["ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE", "DAC_READ_SEARCH"];

fn privileged_or_root(symbols: &Symbols, sink: &mut Sink) {
    let code = Code::PrivilegedOrRoot;
    if !sink.on(code) {
        return;
    }
    for (name, svc) in &symbols.services {
        if let Some(u) = svc.child("user") {
            let user = u.arg_str(0).unwrap_or("");
            let who = user.split(':').next().unwrap_or("");
            if who == "0" || who == "root" {
                sink.push(
                    Diagnostic::warning(code, format!("service `{name}` runs as root (`user \"{user}\"`)"))
                        .at(u.head_span(), "root in the container")
                        .help("run as an unprivileged user (`user \"1000:1000\"`, or the image's own user); a process escaping a root container is root on the host"),
                );
            }
        }
        if let Some(pid) = svc.child("pid").filter(|p| p.arg_str(0) == Some("host")) {
            sink.push(
                Diagnostic::warning(code, format!("service `{name}` shares the host's PID namespace"))
                    .at(pid.head_span(), "sees and signals every process of the host")
                    .help("drop `pid \"host\"` unless the service monitors the host (a node exporter); then `policy { allow \"privileged-or-root\" service=\"…\" reason=\"…\" }`"),
            );
        }
        if let Some(p) = svc.child("privileged").filter(|p| p.arg(0).and_then(|e| e.value.as_bool()) == Some(true)) {
            sink.push(
                Diagnostic::warning(code, format!("service `{name}` is privileged"))
                    .at(p.head_span(), "every device and capability of the host")
                    .help("give the service only what it needs: `device` for a device, `cap-add` for a narrow capability, `gpu` for GPUs; when it must be privileged, `policy { allow \"privileged-or-root\" service=\"…\" reason=\"…\" }`"),
            );
        }
        for c in svc.children_named("cap-add") {
            for a in &c.args {
                let Some(cap) = a.value.as_str() else { continue };
                let bare = cap.to_ascii_uppercase();
                let bare = bare.trim_start_matches("CAP_");
                if BROAD_CAPS.contains(&bare) {
                    sink.push(
                        Diagnostic::warning(code, format!("service `{name}` adds capability `{cap}`"))
                            .at(a.span, "close to a privileged container")
                            .help("add only the narrow capability the service needs (`NET_BIND_SERVICE`, `CHOWN`…); `ALL` and `SYS_ADMIN` give the container most of root's power over the host"),
                    );
                }
            }
        }
    }
}

/// A service a site routes to, with one replica, in production: every restart or update is
/// an outage of the site.
fn single_replica_public(nodes: &[Node], symbols: &Symbols, env: Option<&str>, sink: &mut Sink) {
    let code = Code::SingleReplicaPublic;
    let Some(env) = env.filter(|e| production_like(e)) else { return };
    if !sink.on(code) {
        return;
    }
    let mut routed: Vec<&str> = Vec::new();
    for site in top(nodes, "site") {
        for r in site.children_named("route") {
            // A FastCGI application (PHP-FPM) serves the site as surely as an HTTP one.
            if let Some(to) = r.prop_str("to").or(r.prop_str("fastcgi")) {
                let svc = to.split(':').next().unwrap_or(to);
                if !routed.contains(&svc) {
                    routed.push(svc);
                }
            }
        }
    }
    for name in routed {
        let Some(svc) = symbols.services.get(name) else { continue };
        let replicas = svc.child("replicas").and_then(|r| r.arg(0)).and_then(|a| a.value.as_int()).unwrap_or(1);
        let autoscale = svc.child("autoscale").and_then(|a| a.prop("min")).and_then(|m| m.value.as_int()).unwrap_or(1);
        if replicas.max(autoscale) <= 1 {
            sink.push(
                Diagnostic::warning(code, format!("service `{name}` serves a site with one replica in environment `{env}`"))
                    .at(svc.head_span(), "one container: every restart or update is downtime")
                    .help(format!("run two or more (`replicas 2` in `env \"{env}\"`), with a `health` check so that updates replace them one at a time")),
            );
        }
    }
}

const CORS_VARS: &[&str] = &[
    "CORS_ORIGIN",
    "CORS_ORIGINS",
    "CORS_ALLOWED_ORIGINS",
    "CORS_ALLOW_ORIGIN",
    "ALLOWED_ORIGINS",
    "ACCESS_CONTROL_ALLOW_ORIGIN",
];

fn wildcard_cors(nodes: &[Node], symbols: &Symbols, sink: &mut Sink) {
    let code = Code::WildcardCors;
    if !sink.on(code) {
        return;
    }
    let mut headers: Vec<&Node> = Vec::new();
    for n in nodes.iter().filter(|n| n.name.name == "proxy" || n.name.name == "site") {
        headers.extend(n.children_named("header"));
        for r in n.children_named("route") {
            headers.extend(r.children_named("header"));
        }
    }
    for h in headers {
        if h.arg_str(0).is_some_and(|n| n.eq_ignore_ascii_case("Access-Control-Allow-Origin"))
            && h.arg_str(1) == Some("*")
        {
            let span = h.arg(1).map(|a| a.span).unwrap_or(h.span);
            sink.push(
                Diagnostic::warning(code, "`Access-Control-Allow-Origin: *` lets every web site read these responses")
                    .at(span, "any origin")
                    .help("name the origins that may call the API (`header \"Access-Control-Allow-Origin\" \"https://app.example.com\"`); `*` is only right for public, unauthenticated data"),
            );
        }
    }
    // `cors "*"` of a site or route (issue 11).
    let sites = nodes.iter().filter(|n| n.name.name == "site");
    let cors = sites
        .flat_map(|s| s.children_named("cors").chain(s.children_named("route").flat_map(|r| r.children_named("cors"))));
    for any in cors.filter_map(|c| c.args.iter().find(|a| a.value.as_str() == Some("*"))) {
        sink.push(
            Diagnostic::warning(code, "`cors \"*\"` lets every web site read these responses")
                .at(any.span, "any origin")
                .help("name the origins that may call it (`cors \"https://app.example.com\"`); `*` is only right for public, unauthenticated data"),
        );
    }
    for (name, svc) in &symbols.services {
        for p in svc.children_named("env").flat_map(|e| e.props.iter()) {
            let key = p.key.name.to_ascii_uppercase();
            if CORS_VARS.contains(&key.as_str()) && p.value.value.as_str().is_some_and(|v| v.trim() == "*") {
                sink.push(
                    Diagnostic::warning(code, format!("`{}=*` of `{name}` allows every origin", p.key.name))
                        .at(p.value.span, "any origin")
                        .help("list the origins that may call the service (`https://app.example.com`); `*` is only right for public, unauthenticated data"),
                );
            }
        }
    }
}

/// Alerts need somewhere to go: `monitoring > notify`, `email` and `pagerduty` are the
/// stack's Alertmanager receivers; without one there is no Alertmanager at all. This lint is
/// the one report of it (the Prometheus target writes the rules and says nothing more).
fn alerts_without_receiver(nodes: &[Node], sink: &mut Sink) {
    let code = Code::AlertsWithoutReceiver;
    if !sink.on(code) {
        return;
    }
    let receivers = top(nodes, "monitoring")
        .flat_map(|m| m.children().iter())
        .filter(|c| matches!(c.name.name.as_str(), "notify" | "email" | "pagerduty"))
        .count();
    if receivers > 0 {
        return;
    }
    let alerts = || {
        top(nodes, "alerts")
            .flat_map(|g| g.children().iter())
            .filter(|c| matches!(c.name.name.as_str(), "alert" | "pack"))
    };
    let Some(first) = alerts().next() else { return };
    let count = alerts().count();
    sink.push(
        Diagnostic::warning(code, format!("{count} alert{} but no receiver: Alertmanager tells nobody", if count == 1 { "" } else { "s" }))
            .at(first.head_span(), "fires into the void")
            .help("add a receiver to `monitoring`: `notify \"slack\" webhook=(secret)\"slack-webhook\" channel=\"#ops\"`, `notify \"webhook\" webhook=\"https://…\"`, `email` or `pagerduty`"),
    );
}

/// A backup that fails quietly is found out on the day of the restore: some alert must
/// name it.
fn backup_unmonitored(nodes: &[Node], sink: &mut Sink) {
    let code = Code::BackupUnmonitored;
    if !sink.on(code) {
        return;
    }
    let alert_texts: Vec<String> = top(nodes, "alerts")
        .flat_map(|g| g.children_named("alert"))
        .map(|a| format!("{} {}", a.arg_str(0).unwrap_or(""), a.prop_str("expr").unwrap_or("")).to_ascii_lowercase())
        .collect();
    for b in top(nodes, "backup") {
        let name = b.arg_str(0).unwrap_or("?");
        if alert_texts.iter().any(|t| t.contains("backup") || t.contains(&name.to_ascii_lowercase())) {
            continue;
        }
        sink.push(
            Diagnostic::warning(code, format!("backup `{name}` is not watched by any alert"))
                .at(b.head_span(), "a failing backup is noticed on the day of the restore")
                .help(format!("add an alert that names the backup (its name `{name}` or \"backup\" in the alert's name or expression), e.g. on the age of the newest archive or the backup container's exit code")),
        );
    }
}

fn image_not_pinned(symbols: &Symbols, sink: &mut Sink) {
    let code = Code::ImageNotPinned;
    if !sink.on(code) {
        return;
    }
    for (name, svc) in &symbols.services {
        let Some(img) = svc.child("image").and_then(|i| i.arg(0)) else { continue };
        let Some(text) = img.value.as_str() else { continue };
        // `latest-tag` reports an image without a tag; a `${param}` is the deploy's choice.
        if text.contains('@') || values::has_interpolation(text) || !values::image_is_pinned(text) {
            continue;
        }
        sink.push(
            Diagnostic::warning(code, format!("image `{text}` of `{name}` is pinned by tag, not by digest"))
                .at(img.span, "a tag can be pushed again")
                .help(format!("pin the digest too: `{text}@sha256:…` (`docker buildx imagetools inspect {}` prints it); the tag stays for readers", image_base(text))),
        );
    }
}

/// Raw directives of a site or route (the escape hatch): stackc writes them as given and
/// checks only that they stay inside their block, so a reviewer is told where they are.
fn raw_proxy_config(nodes: &[Node], sink: &mut Sink) {
    let code = Code::RawProxyConfig;
    if !sink.on(code) {
        return;
    }
    for site in top(nodes, "site") {
        let host = site.arg_str(0).unwrap_or("…");
        let blocks = site.children().iter().map(|n| (n, None));
        let route_blocks =
            site.children_named("route").flat_map(|r| r.children().iter().map(move |n| (n, r.arg_str(0))));
        for (raw, route) in blocks.chain(route_blocks) {
            let target = match raw.name.name.as_str() {
                "nginx" => "nginx",
                "caddy" => "Caddy",
                _ => continue,
            };
            let place = match route {
                Some(path) => format!("route `{path}` of site `{host}`"),
                None => format!("site `{host}`"),
            };
            sink.push(
                Diagnostic::warning(code, format!("raw {target} directives in {place} are written verbatim: stackc does not check what they do"))
                    .at(raw.head_span(), format!("written into the {target} configuration only"))
                    .help(format!("prefer a setting of the language where one exists; once reviewed, silence it for this site with `policy {{ allow \"raw-proxy-config\" site=\"{host}\" }}`")),
            );
        }
    }
}
