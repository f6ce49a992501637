//! Cross-field rules of a merged stack: what no single value can show.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::values::{self, Piece};
use super::walk::{free_text, string_domain};
use super::Symbols;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::schema::{self, Kind, NodeSpec};
use crate::syntax::ast::{Entry, Node, Value};

pub fn check(nodes: &[Node], symbols: &Symbols, diags: &mut Diagnostics) {
    depends_on(symbols, diags);
    publish_clashes(nodes, symbols, diags);
    sites(nodes, symbols, diags);
    params(symbols, diags);
    autoscale(symbols, diags);
    interpolated_values(nodes, symbols, diags);
    backups(nodes, symbols, diags);
    secrets(symbols, diags);
    generated_clashes(nodes, symbols, diags);
    probe_ports(symbols, diags);
    mounts_and_restarts(nodes, symbols, diags);
    param_default_braces(symbols, diags);
    companions(nodes, diags);
    target_versions(nodes, symbols, diags);
    workload_shapes(symbols, diags);
    probe_headers(symbols, diags);
    sub_paths(nodes, symbols, diags);
    super::fastcgi::check(nodes, symbols, diags);
    super::storage_rules::check(nodes, symbols, diags);
    static_and_rewrite_routes(nodes, diags);
    gzip_settings_need_gzip(nodes, diags);
    mime_types(nodes, diags);
    super::edge::check(nodes, diags);
}

/// `targets { nginx version=… }` / `caddy version=…`: the version picks directives (nginx's
/// `http2 on;`, Caddy's `basic_auth`); a value that is not a version would silently pick
/// the oldest syntax.
fn target_versions(nodes: &[Node], symbols: &Symbols, diags: &mut Diagnostics) {
    let is_version = |v: &str| {
        let (nums, suffix) = v.split_once('-').unwrap_or((v, "x"));
        !suffix.is_empty()
            && suffix.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
            && nums.split('.').count() <= 3
            && nums.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    };
    let targets = nodes.iter().filter(|n| n.name.name == "targets").flat_map(|t| t.children());
    for t in targets.filter(|t| matches!(t.name.name.as_str(), "nginx" | "caddy")) {
        let Some(e) = t.prop("version") else { continue };
        let Value::String(raw) = &e.value else { continue };
        let Some(v) = substitute(raw, symbols) else { continue };
        // A literal that is not even an image tag is already reported by its kind (E0308).
        if v == *raw && super::values::image_tag(&v).is_err() {
            continue;
        }
        if !is_version(&v) {
            let shown = if v == *raw { format!("`{v}`") } else { format!("`{raw}` (`{v}`)") };
            diags.push(
                Diagnostic::error(
                    Code::WrongType,
                    format!("{shown} is not {} version", if t.name.name == "nginx" { "an nginx" } else { "a Caddy" }),
                )
                .at(e.entry_span, "expected `MAJOR.MINOR` or `MAJOR.MINOR.PATCH`")
                .help(format!(
                    "write the version the server runs, e.g. `version=\"{}\"`",
                    if t.name.name == "nginx" { "1.26" } else { "2.8" }
                )),
            );
        }
    }
}

/// `(node path, property, the properties it completes, help)`: a property that only
/// qualifies another one. Without it the value would change nothing in any target, so it is
/// refused rather than dropped. A boolean counts only when `#true` (`#false` is the default).
const COMPANIONS: &[(&[&str], &str, &[&str], &str)] = &[
    (
        &["proxy", "tls"],
        "hsts-subdomains",
        &["hsts"],
        "add `hsts=\"365d\"`: `includeSubDomains` is part of the HSTS header",
    ),
    (
        &["proxy", "tls"],
        "hsts-preload",
        &["hsts"],
        "add `hsts=\"730d\"` (the preload list asks for at least a year): `preload` is part of the HSTS header",
    ),
    (
        &["site", "route"],
        "immutable",
        &["cache"],
        "add `cache=\"1y\"`: `immutable` is part of the Cache-Control header `cache=` sends",
    ),
    (
        &["site", "route"],
        "fallback",
        &["files"],
        "`fallback=` is the file a `files=` route serves for a missing path; remove it, or serve files",
    ),
    (
        &["site", "route"],
        "fallback-to",
        &["files"],
        "`fallback-to=` is the service that gets what a `files=` route does not find; a `to=` route proxies everything already",
    ),
    (
        &["site", "route"],
        "index",
        &["files"],
        "`index=` is the file a `files=` route serves for a directory; remove it, or serve files",
    ),
    (
        &["site", "route"],
        "precompressed",
        &["files"],
        "`precompressed=` serves the `.gz` files next to a `files=` route's files; remove it, or serve files",
    ),
    (
        &["site", "route"],
        "replace-prefix",
        &["to"],
        "`replace-prefix=` rewrites the path sent to the upstream of a `to=` route; remove it, or proxy",
    ),
    (
        &["site", "route"],
        "status",
        &["redirect"],
        "`status=` is the status of a `redirect=`; a `respond=` route gives its status as its value",
    ),
    (
        &["site", "route"],
        "root",
        &["fastcgi"],
        "`root=` is where a `fastcgi=` route's scripts are; a `files=` route gives its directory as its value",
    ),
];

/// Properties given without the property they complete (see [`COMPANIONS`]).
fn companions(nodes: &[Node], diags: &mut Diagnostics) {
    fn at<'a>(nodes: &'a [Node], path: &[&str], out: &mut Vec<&'a Node>) {
        let Some((first, rest)) = path.split_first() else { return };
        for n in nodes.iter().filter(|n| n.name.name == *first) {
            if rest.is_empty() {
                out.push(n);
            } else {
                at(n.children(), rest, out);
            }
        }
    }
    for (path, prop, needs, help) in COMPANIONS {
        let mut found = Vec::new();
        at(nodes, path, &mut found);
        for n in found {
            let Some(e) = n.prop(prop) else { continue };
            if e.value.as_bool() == Some(false) || needs.iter().any(|k| n.prop(k).is_some()) {
                continue;
            }
            let list = needs.iter().map(|k| format!("`{k}=`")).collect::<Vec<_>>().join(" or ");
            diags.push(
                Diagnostic::error(Code::MissingRequired, format!("`{prop}=` needs {list}: alone it changes nothing"))
                    .at(e.entry_span, format!("qualifies {list}, which is not given"))
                    .help(*help),
            );
        }
    }
}

/// Settings docker accepts only in one combination: bind options on bind mounts, a retry
/// count with `on-failure` (the engine refuses `max_attempts` with any other policy).
fn mounts_and_restarts(nodes: &[Node], symbols: &Symbols, diags: &mut Diagnostics) {
    let proxies = nodes.iter().filter(|n| n.name.name == "proxy").map(|p| ("the proxy".to_string(), p));
    let services = symbols.services.iter().map(|(name, svc)| (format!("`{name}`"), *svc));
    for (owner, node) in services.chain(proxies) {
        for m in node.children_named("mount") {
            let (Some(src), Some(p)) = (m.arg_str(0), m.prop("propagation")) else { continue };
            if !values::is_bind_source(src) {
                diags.push(
                    Diagnostic::error(
                        Code::Conflicting,
                        format!("`propagation=` on volume `{src}` mounted by {owner}: only bind mounts propagate"),
                    )
                    .at(p.entry_span, "a bind-mount option")
                    .label(m.arg(0).map(|e| e.span).unwrap_or(m.span), "a named volume, not a host path")
                    .help("remove `propagation=`, or mount a host path (`./dir`, `/dir`) instead of the volume"),
                );
            }
        }
    }
    for (name, svc) in &symbols.services {
        for r in svc.children_named("restart") {
            let (Some(policy), Some(e)) = (r.arg_str(0), r.prop("max-attempts")) else { continue };
            if policy != "on-failure" {
                diags.push(
                    Diagnostic::error(
                        Code::Conflicting,
                        format!("`max-attempts=` of `{name}` needs `restart \"on-failure\"`, not `{policy}`"),
                    )
                    .at(e.entry_span, "a retry count")
                    .label(r.arg(0).map(|a| a.span).unwrap_or(r.span), "restarts regardless of the exit status")
                    .help("docker counts retries only for `on-failure`: use `restart \"on-failure\" max-attempts=N`, or drop `max-attempts=`"),
                );
            }
        }
    }
}

/// A deploy-time param's default is written inside `${VAR:-…}`, which ends at the first `}`:
/// no escape exists for it, so a default that would hold one is refused.
fn param_default_braces(symbols: &Symbols, diags: &mut Diagnostics) {
    fn has_brace(symbols: &Symbols, default: &str, depth: usize) -> bool {
        let Ok(pieces) = values::interpolation(default) else { return false };
        pieces.iter().any(|p| match p {
            Piece::Text(t) => t.contains('}'),
            // A nested param with `env=` is its own `${…}`; one without is inlined.
            Piece::Param(n, _) => {
                depth < 16
                    && symbols.params.get(n).is_some_and(|q| {
                        q.prop("env").is_none()
                            && q.prop_str("default").is_some_and(|d| has_brace(symbols, d, depth + 1))
                    })
            }
            Piece::Secret(..) => false,
        })
    }
    for (name, p) in &symbols.params {
        let (Some(_), Some(d)) = (p.prop("env"), p.prop("default")) else { continue };
        let Some(text) = d.value.as_str() else { continue };
        if has_brace(symbols, text, 0) {
            diags.push(
                Diagnostic::error(
                    Code::InvalidInterpolation,
                    format!("the default of param `{name}` holds `}}`, which cannot be written inside `${{VAR:-…}}`"),
                )
                .at(d.entry_span, "compose would end the default at the `}`")
                .help("docker compose has no escape for `}` in a default: drop the `}`, or drop `env=` so the value is fixed at build time"),
            );
        }
    }
}

/// `health http=` and `metrics` without `port=` use the service's `http` port or its only
/// port, as routes do; a probe that finds none is an error, not a silently dropped check.
fn probe_ports(symbols: &Symbols, diags: &mut Diagnostics) {
    for (name, svc) in &symbols.services {
        for probe in ["health", "readiness", "metrics"] {
            let Some(p) = svc.child(probe) else { continue };
            let needs_port = probe == "metrics" || p.prop("http").is_some();
            if !needs_port || p.prop("port").is_some() {
                continue;
            }
            if let Err(why) = route_port(svc, None) {
                diags.push(
                    Diagnostic::error(Code::RouteNoPort, format!("`{probe}` of `{name}` has no port to reach: {why}"))
                        .at(p.name.span, "which port?")
                        .help(format!("add `port=` (a number or a port name) to `{probe}`, or name a port \"http\"")),
                );
            }
        }
    }
}

/// A declared service may not take the name of one that `monitoring` generates.
fn generated_clashes(nodes: &[Node], symbols: &Symbols, diags: &mut Diagnostics) {
    for m in nodes.iter().filter(|n| n.name.name == "monitoring") {
        for g in super::generated_services(m) {
            if let Some(svc) = symbols.services.get(g) {
                diags.push(
                    Diagnostic::error(
                        Code::DuplicateName,
                        format!("service `{g}` clashes with the service that `monitoring` generates"),
                    )
                    .at(svc.head_span(), "declared here")
                    .label(m.name.span, "generates a service of the same name")
                    .help("rename the service, or customise the generated one inside `monitoring` instead"),
                );
            }
        }
    }
}

/// The database engine of a service, from its image.
pub fn backup_engine(svc: &Node) -> Option<&'static str> {
    let img = svc.child("image").and_then(|i| i.arg_str(0))?;
    let base = img.split('@').next()?.rsplit('/').next()?.split(':').next()?;
    match base {
        "postgres" | "postgis" | "timescaledb" => Some("postgres"),
        "redis" | "valkey" => Some("redis"),
        _ => None,
    }
}

fn backups(nodes: &[Node], symbols: &Symbols, diags: &mut Diagnostics) {
    for b in nodes.iter().filter(|n| n.name.name == "backup") {
        let name = b.arg_str(0).unwrap_or("?");
        if let Some(svc) = b.prop_str("service").and_then(|s| symbols.services.get(s)) {
            if b.prop("engine").is_none() && backup_engine(svc).is_none() {
                diags.push(
                    Diagnostic::error(
                        Code::BackupEngine,
                        format!("backup `{name}`: service `{}` is not a database stackc can back up", service_name(svc)),
                    )
                    .at(b.prop("service").map(|e| e.span).unwrap_or(b.span), "unsupported engine")
                    .label(svc.head_span(), "its image is not a known postgres or redis image")
                    .help(format!(
                        "stackc dumps {} services; if this is one of them under another image name, say so with `engine=`; to archive its files instead, back up its volume with `volume=`",
                        schema::BACKUP_ENGINES.join(" and ")
                    )),
                );
            }
        }
        if b.prop("volume").is_some() {
            for key in ["engine", "database", "user", "password", "format", "no-owner", "no-privileges"] {
                if let Some(e) = b.prop(key) {
                    diags.push(
                        Diagnostic::error(
                            Code::Conflicting,
                            format!("`{key}=` applies to database dumps, not volume backups"),
                        )
                        .at(e.entry_span, "not for a volume")
                        .help(format!("remove `{key}=`, or back up the database service with `service=`")),
                    );
                }
            }
        }
    }
}

fn secrets(symbols: &Symbols, diags: &mut Diagnostics) {
    for (name, s) in &symbols.secrets {
        if s.prop_bool("optional") == Some(true) && s.prop("env").is_none() {
            diags.push(
                Diagnostic::error(Code::Conflicting, format!("secret `{name}`: only an `env=` secret can be optional"))
                    .at(s.prop("optional").map(|e| e.entry_span).unwrap_or(s.span), "optional")
                    .help("a file or external secret must exist; drop `optional=#true`"),
            );
        }
    }
}

fn service_name(n: &Node) -> &str {
    n.arg_str(0).unwrap_or("?")
}

fn depends_on(symbols: &Symbols, diags: &mut Diagnostics) {
    for (name, svc) in &symbols.services {
        for dep in svc.children_named("depends-on") {
            let Some(target) = dep.arg_str(0) else {
                continue;
            };
            if target == *name {
                diags.push(
                    Diagnostic::error(Code::SelfReference, format!("service `{name}` depends on itself"))
                        .at(dep.head_span(), "a service cannot wait for itself")
                        .help("remove this `depends-on`"),
                );
                continue;
            }
            let Some(tsvc) = symbols.services.get(target) else {
                continue;
            };
            if dep.prop_bool("healthy") == Some(true) && tsvc.child("health").is_none() {
                diags.push(
                    Diagnostic::error(
                        Code::HealthyWithoutHealth,
                        format!("`{name}` waits for `{target}` to be healthy, but `{target}` has no `health` check"),
                    )
                    .at(
                        dep.prop("healthy").map(|e| e.entry_span).unwrap_or(dep.span),
                        "needs a health check on the target",
                    )
                    .label(tsvc.head_span(), format!("`{target}` is declared here without `health`"))
                    .help(format!("add a `health` node to `{target}`, or drop `healthy=#true`")),
                );
            }
            if dep.prop_bool("healthy") == Some(true) && dep.prop_bool("completed") == Some(true) {
                diags.push(
                    Diagnostic::error(Code::Conflicting, "`healthy=#true` and `completed=#true` exclude each other")
                        .at(dep.span, "pick one condition")
                        .help("`completed` waits for a one-shot service to exit successfully; `healthy` for a running one to pass its check"),
                );
            }
        }
    }
}

/// A host binding: address (None = all addresses), port, protocol.
fn publish_clashes(nodes: &[Node], symbols: &Symbols, diags: &mut Diagnostics) {
    struct Bind<'a> {
        addr: Option<String>,
        port: i128,
        proto: &'a str,
        span: crate::source::Span,
        owner: String,
    }
    let mut binds: Vec<Bind> = Vec::new();
    for (name, svc) in &symbols.services {
        for p in svc.children_named("publish") {
            let Some(port) = p.arg(0).and_then(|e| e.value.as_int()) else {
                continue;
            };
            // An address as written for a `${param}` (its value is known at deploy time only:
            // it clashes with all addresses and with the same param), else the parsed IP.
            let addr = p.prop_str("host").and_then(|h| match values::address(h) {
                Ok(a) if a.is_unspecified() => None,
                Ok(a) => Some(a.to_string()),
                Err(_) => h.contains("${").then(|| h.to_string()),
            });
            binds.push(Bind {
                addr,
                port,
                proto: p.prop_str("protocol").unwrap_or("tcp"),
                span: p.head_span(),
                owner: name.to_string(),
            });
        }
    }
    // Sites make the proxy publish 80 and 443 on all addresses; Caddy (the compose proxy
    // when `targets` selects it and not nginx) also 443/udp for HTTP/3.
    let targets = nodes.iter().find(|n| n.name.name == "targets");
    let selects = |t: &str| targets.is_some_and(|n| n.children().iter().any(|c| c.name.name == t));
    let caddy = selects("caddy") && !selects("nginx");
    if let Some(site) = nodes.iter().find(|n| n.name.name == "site") {
        // On the host ports of `proxy > ports` (a param at its compile-time value).
        let ports_node = nodes.iter().filter(|n| n.name.name == "proxy").find_map(|p| p.child("ports"));
        let host_port = |key: &str, default: i128| {
            let e = ports_node.and_then(|n| n.prop(key));
            let port = e.and_then(|e| match &e.value {
                Value::Int(i) => Some(*i),
                Value::String(s) => substitute(s, symbols)?.parse().ok(),
                _ => None,
            });
            (port.unwrap_or(default), e.map_or(site.name.span, |e| e.span))
        };
        let (http, https) = (host_port("http", 80), host_port("https", 443));
        let owner = if (http.0, https.0) == (80, 443) {
            "the reverse proxy (sites publish 80 and 443)".to_string()
        } else {
            format!("the reverse proxy (`proxy > ports`: {} and {})", http.0, https.0)
        };
        let mut ports = vec![(http, "tcp"), (https, "tcp")];
        if caddy {
            ports.push((https, "udp"));
        }
        for ((port, span), proto) in ports {
            binds.push(Bind { addr: None, port, proto, span, owner: owner.clone() });
        }
    }
    // A site's own port (`site > listen`) is the proxy's too: once, however many sites use it.
    let mut site_ports: Vec<i128> = Vec::new();
    for listen in nodes.iter().filter(|n| n.name.name == "site").filter_map(|s| s.child("listen")) {
        let Some(port) = listen.arg(0).and_then(|a| a.value.as_int()) else { continue };
        if port == 443 {
            diags.push(
                Diagnostic::error(
                    Code::PublishClash,
                    "a site cannot listen on 443 over plain HTTP: it is the proxy's HTTPS port",
                )
                .at(listen.head_span(), "plain HTTP on the HTTPS port")
                .help("leave `listen` out to serve the site over HTTPS on 443, or choose another port"),
            );
            continue;
        }
        if port == 80 || site_ports.contains(&port) {
            continue;
        }
        site_ports.push(port);
        binds.push(Bind {
            addr: None,
            port,
            proto: "tcp",
            span: listen.head_span(),
            owner: format!("the reverse proxy (a site listens on {port})"),
        });
    }
    let mut by_port: HashMap<(i128, &str), Vec<usize>> = HashMap::new();
    for (i, b) in binds.iter().enumerate() {
        by_port.entry((b.port, b.proto)).or_default().push(i);
    }
    let mut keys: Vec<_> = by_port.keys().copied().collect();
    keys.sort();
    for key in keys {
        let idx = &by_port[&key];
        for (j, &b) in idx.iter().enumerate() {
            for &a in &idx[..j] {
                let (x, y) = (&binds[a], &binds[b]);
                let clash = x.addr.is_none() || y.addr.is_none() || x.addr == y.addr;
                if !clash {
                    continue;
                }
                let addr = match (&x.addr, &y.addr) {
                    (None, None) => "all addresses".to_string(),
                    (Some(a), None) | (None, Some(a)) => format!("{a} (all addresses include it)"),
                    (Some(a), Some(_)) => a.to_string(),
                };
                // The primary label goes on a `publish` the user wrote, not on the site.
                let x_site = x.owner.starts_with("the reverse proxy");
                let (first, second) = if x_site || (!y.owner.starts_with("the reverse proxy") && x.span <= y.span) {
                    (x, y)
                } else {
                    (y, x)
                };
                diags.push(
                    Diagnostic::error(
                        Code::PublishClash,
                        format!("host port {}/{} is published twice on {addr}", key.0, key.1),
                    )
                    .at(second.span, format!("published by {} here", second.owner))
                    .label(first.span, format!("already published by {}", first.owner))
                    .help(format!(
                        "use another host port, or bind each to its own address with `host=` (e.g. `host=\"{}\"`)",
                        Ipv4Addr::LOCALHOST
                    )),
                );
                break;
            }
        }
    }
}

/// The port a route reaches: `port=` if given, else the port named `http`, else the only port.
pub fn route_port<'a>(svc: &'a Node, port: Option<&Entry>) -> Result<&'a Node, String> {
    let ports: Vec<&Node> = svc.children_named("port").collect();
    if let Some(p) = port {
        return match &p.value {
            Value::Int(i) => ports
                .iter()
                .find(|n| n.arg(0).and_then(|a| a.value.as_int()) == Some(*i))
                .copied()
                .ok_or_else(|| format!("it declares no `port {i}`")),
            Value::String(s) => ports
                .iter()
                .find(|n| n.prop_str("name") == Some(s))
                .copied()
                .ok_or_else(|| format!("it has no port named `{s}`")),
            _ => Err("bad port".into()),
        };
    }
    if let Some(http) = ports.iter().find(|n| n.prop_str("name") == Some("http")) {
        return Ok(http);
    }
    match ports.as_slice() {
        [only] => Ok(only),
        [] => Err("it declares no `port`".into()),
        _ => Err(format!("it has {} ports and none is named `http`", ports.len())),
    }
}

fn sites(nodes: &[Node], symbols: &Symbols, diags: &mut Diagnostics) {
    let stack_domain =
        nodes.iter().find(|n| n.name.name == "stack").and_then(|s| s.child("domain")).and_then(|d| d.arg_str(0));
    let mut hosts: HashMap<String, &Entry> = HashMap::new();
    for site in nodes.iter().filter(|n| n.name.name == "site") {
        if site.args.is_empty() && stack_domain.is_none() {
            diags.push(
                Diagnostic::error(
                    Code::MissingRequired,
                    "this `site` has no host name and the stack declares no `domain`",
                )
                .at(site.name.span, "no host")
                .help("write `site \"shop.example.com\" { … }`, or `domain \"shop.example.com\"` inside `stack`"),
            );
        }
        for h in &site.args {
            let key = h.value.display();
            if let Some(first) = hosts.insert(key.clone(), h) {
                diags.push(
                    Diagnostic::error(Code::DuplicateRoute, format!("host `{key}` is served by two sites"))
                        .at(h.span, "served again here")
                        .label(first.span, "first served here")
                        .help("merge the two `site` blocks"),
                );
            }
        }
        let mut paths: HashMap<(String, bool, bool), &Entry> = HashMap::new();
        for route in site.children_named("route") {
            let Some(path) = route.arg(0) else { continue };
            let key =
                (path.value.display(), route.prop_bool("exact") == Some(true), route.prop_bool("regex") == Some(true));
            if let Some(first) = paths.insert(key, path) {
                diags.push(
                    Diagnostic::error(Code::DuplicateRoute, format!("two routes match `{}`", path.value.display()))
                        .at(path.span, "matched again here")
                        .label(first.span, "first route")
                        .help("remove one of the routes"),
                );
            }
            if route.prop_bool("exact") == Some(true) && route.prop_bool("regex") == Some(true) {
                diags.push(
                    Diagnostic::error(Code::Conflicting, "a route is either `exact=#true` or `regex=#true`")
                        .at(route.prop("regex").map(|e| e.entry_span).unwrap_or(route.span), "conflicts with `exact`")
                        .help("keep one"),
                );
            }
            if let Value::String(p) = &path.value {
                let check = if route.prop_bool("regex") == Some(true) { values::regex(p) } else { values::url_path(p) };
                if let Err(e) = check {
                    diags.push(
                        Diagnostic::error(e.code, e.message).at(path.span, "invalid route path").maybe_help(e.help),
                    );
                }
            }
            if route.prop_bool("regex") == Some(true) {
                if let Some(Value::String(re)) = Some(&path.value) {
                    if re.contains(char::is_whitespace) || re.contains(['{', '}', ';']) && !balanced(re) {
                        diags.push(
                            Diagnostic::error(
                                Code::InvalidPath,
                                "a route regex must not contain spaces or unbalanced braces",
                            )
                            .at(path.span, "invalid regex")
                            .help("write spaces as `\\s`"),
                        );
                    }
                }
            }
            let target = match (route.prop_str("to"), route.prop("files")) {
                (Some(to), None) => Some(to),
                // A `files=` route's `fallback-to=` picks its port as `to=` does.
                (None, Some(_)) => route.prop_str("fallback-to"),
                _ => None,
            };
            if let Some(to) = target {
                let Some(svc) = symbols.services.get(to) else {
                    // A service `monitoring` generates has no declared ports to name.
                    if let Some(p) = route.prop("port").filter(|p| matches!(p.value, Value::String(_))) {
                        if symbols.table(schema::RefKind::Service).contains(to) {
                            diags.push(
                                Diagnostic::error(
                                    Code::UnknownPortName,
                                    format!("service `{to}` is generated by `monitoring`: it has no named ports"),
                                )
                                .at(p.span, "no such port")
                                .help(format!("leave `port=` out to use the port `{to}` serves on, or give a number")),
                            );
                        }
                    }
                    continue;
                };
                if let Err(why) = route_port(svc, route.prop("port")) {
                    let span = route
                        .prop("port")
                        .map(|e| e.span)
                        .unwrap_or_else(|| route.prop("to").map(|e| e.span).unwrap_or(route.span));
                    let code = if route.prop("port").is_some() { Code::UnknownPortName } else { Code::RouteNoPort };
                    diags.push(
                        Diagnostic::error(code, format!("route `{}` cannot reach service `{to}`: {why}", path.value.display()))
                            .at(span, "no usable port")
                            .label(svc.head_span(), format!("`{to}` is declared here"))
                            .help(match (route.prop("port"), svc.children_named("port").next()) {
                                (Some(_), _) => format!("give one of `{to}`'s port numbers or names"),
                                (None, None) => format!("declare the port `{to}` listens on: `port 8080 name=\"http\"`"),
                                (None, Some(_)) => format!("add `port=` to the route, or name one of `{to}`'s ports \"http\": `port 8080 name=\"http\"`"),
                            }),
                    );
                }
            }
        }
    }
}

fn balanced(s: &str) -> bool {
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ';' => return false,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    depth == 0
}

fn params(symbols: &Symbols, diags: &mut Diagnostics) {
    param_loops(symbols, diags);
    optional_params(symbols, diags);
    for (name, p) in &symbols.params {
        let required = p.prop_bool("required") == Some(true);
        if required && p.prop("env").is_none() {
            diags.push(
                Diagnostic::error(
                    Code::MissingRequired,
                    format!("param `{name}` is required at deploy time but has no `env=`"),
                )
                .at(p.prop("required").map(|e| e.entry_span).unwrap_or(p.span), "required, but from where?")
                .help(format!(
                    "name the variable that supplies it: `env=\"{}\"`",
                    name.to_ascii_uppercase().replace('-', "_")
                )),
            );
        }
        if required && p.prop("default").is_some() {
            diags.push(
                Diagnostic::error(Code::Conflicting, format!("param `{name}` is required and has a default"))
                    .at(p.prop("default").map(|e| e.entry_span).unwrap_or(p.span), "a default makes it optional")
                    .label(p.prop("required").map(|e| e.entry_span).unwrap_or(p.span), "required here")
                    .help("drop `required=#true` or the `default=`"),
            );
        }
        // A default reaches `.env.example`, where no escape exists for an invisible character.
        if let Some(e) = p.prop("default").filter(|e| !e.is_secret_ref()) {
            if let Some(err) = e.value.as_str().and_then(|d| values::visible(d).err()) {
                diags.push(Diagnostic::error(err.code, err.message).at(e.span, "invalid value").maybe_help(err.help));
            }
        }
        if !required && p.prop("default").is_none() && p.prop_bool("optional") != Some(true) {
            diags.push(
                Diagnostic::error(Code::MissingRequired, format!("param `{name}` has no value"))
                    .at(p.head_span(), "no `default=` and not `required=#true`")
                    .help("give it a `default=`, make it `required=#true env=\"VAR\"`, or `optional=#true env=\"VAR\"` (unset unless set)"),
            );
        }
    }
}

fn autoscale(symbols: &Symbols, diags: &mut Diagnostics) {
    for svc in symbols.services.values() {
        let Some(a) = svc.child("autoscale") else {
            continue;
        };
        let (Some(min), Some(max)) =
            (a.prop("min").and_then(|e| e.value.as_int()), a.prop("max").and_then(|e| e.value.as_int()))
        else {
            continue;
        };
        if min > max {
            diags.push(
                Diagnostic::error(
                    Code::OutOfRange,
                    format!("autoscale of `{}`: min {min} is above max {max}", service_name(svc)),
                )
                .at(a.prop("min").map(|e| e.entry_span).unwrap_or(a.span), "min")
                .label(a.prop("max").map(|e| e.entry_span).unwrap_or(a.span), "max")
                .help("min must be at most max"),
            );
        }
        if a.prop("cpu").is_none() && a.prop("memory").is_none() {
            diags.push(
                Diagnostic::error(Code::MissingRequired, format!("autoscale of `{}` has no metric", service_name(svc)))
                    .at(a.name.span, "scale on what?")
                    .help("add `cpu=70` (percent of the CPU request) and/or `memory=80`"),
            );
        }
        if a.prop("cpu").is_some()
            && svc.child("resources").and_then(|r| r.prop("reserve-cpus").or(r.prop("cpus"))).is_none()
        {
            diags.push(
                Diagnostic::error(
                    Code::MissingRequired,
                    format!("autoscale of `{}` on CPU needs a CPU request", service_name(svc)),
                )
                .at(a.prop("cpu").map(|e| e.entry_span).unwrap_or(a.span), "percent of what?")
                .help("add `resources reserve-cpus=…` (the HPA computes utilisation against the request)"),
            );
        }
    }
}

/// Strings with `${param}`: once the params' compile-time defaults are substituted, the
/// value must still be in its domain (an image tag from a param must still be a tag).
fn interpolated_values(nodes: &[Node], symbols: &Symbols, diags: &mut Diagnostics) {
    fn walk(nodes: &[Node], specs: &'static [NodeSpec], symbols: &Symbols, diags: &mut Diagnostics) {
        for node in nodes {
            let Some(spec) = specs.iter().find(|s| s.name == node.name.name) else {
                continue;
            };
            for (i, arg) in node.args.iter().enumerate() {
                if let Some(kind) = spec.args.get(i).map(|a| a.1).or(spec.rest.map(|r| r.1)) {
                    check(kind, arg, symbols, diags);
                }
            }
            for p in &node.props {
                // Free `KEY=value` properties (env, labels) too: a label value from a param
                // must still be one line.
                let kind = spec.prop(&p.key.name).map(|ps| ps.kind).or(spec.free_props.map(|f| f.1));
                if let (Some(kind), false) = (kind, p.value.is_secret_ref()) {
                    check(kind, &p.value, symbols, diags);
                }
            }
            if let Some(c) = &node.children {
                walk(c, spec.child_specs(), symbols, diags);
            }
        }
    }
    fn check(kind: Kind, e: &Entry, symbols: &Symbols, diags: &mut Diagnostics) {
        let Value::String(s) = &e.value else { return };
        // The literal text was checked as written; its error is not repeated here.
        if !values::has_interpolation(s)
            || kind.verbatim()
            || free_text(kind).is_some_and(|lines| values::text(s, lines).is_err())
        {
            return;
        }
        let Some(resolved) = substitute(s, symbols) else {
            return;
        };
        // A name cannot hold `${…}`, so a mount source that does is a host path.
        if kind == Kind::MountSource && !values::is_bind_source(&resolved) {
            diags.push(
                Diagnostic::error(
                    Code::InvalidInterpolation,
                    format!("with its params' defaults, the mount source `{s}` becomes `{resolved}`, which is not a host path"),
                )
                .at(e.span, "a mount source with `${…}` is a bind mount")
                .help("give the param a default that starts with `./` or `/`; a volume is named without params"),
            );
            return;
        }
        if let Err(err) = string_domain(kind, &resolved) {
            diags.push(
                Diagnostic::error(
                    err.code,
                    format!("with its params' defaults, `{s}` becomes `{}`: {}", values::shown(&resolved), err.message),
                )
                .at(e.span, "invalid once params are substituted")
                .maybe_help(err.help),
            );
        }
    }
    walk(nodes, schema::TOP, symbols, diags);
}

/// Params whose defaults refer to each other in a loop.
fn param_loops(symbols: &Symbols, diags: &mut Diagnostics) {
    let refs = |name: &str| -> Vec<String> {
        let d =
            symbols.params.get(name).and_then(|p| p.prop("default")).and_then(|e| e.value.as_str().map(str::to_string));
        d.and_then(|d| {
            values::interpolation(&d).ok().map(|ps| {
                ps.into_iter()
                    .filter_map(|p| match p {
                        Piece::Param(n, _) => Some(n.to_string()),
                        _ => None,
                    })
                    .collect()
            })
        })
        .unwrap_or_default()
    };
    for start in symbols.params.keys() {
        // Depth-first from each param; a path back to `start` is a loop, reported at the
        // param that comes first in the file so it is reported once.
        let mut stack = vec![(start.to_string(), vec![start.to_string()])];
        let mut seen = std::collections::HashSet::new();
        while let Some((n, path)) = stack.pop() {
            for next in refs(&n) {
                if next == *start {
                    let first = path.iter().filter_map(|p| symbols.params.get_index_of(p.as_str())).min();
                    if first == symbols.params.get_index_of(*start) {
                        let p = symbols.params[*start];
                        diags.push(
                            Diagnostic::error(
                                Code::DependencyCycle,
                                format!(
                                    "param defaults refer to each other in a loop: {} -> {start}",
                                    path.join(" -> ")
                                ),
                            )
                            .at(p.prop("default").map(|e| e.span).unwrap_or(p.span), "this default")
                            .help("give one of them a literal default"),
                        );
                    }
                } else if seen.insert(next.clone()) && symbols.params.contains_key(next.as_str()) {
                    let mut np = path.clone();
                    np.push(next.clone());
                    stack.push((next, np));
                }
            }
        }
    }
}

/// `s` with every `${param}` replaced by the param's default (itself substituted); `None`
/// when one has none.
pub fn substitute(s: &str, symbols: &Symbols) -> Option<String> {
    substitute_depth(s, symbols, 0)
}

fn substitute_depth(s: &str, symbols: &Symbols, depth: usize) -> Option<String> {
    if depth > 16 {
        return None;
    }
    let mut out = String::new();
    for piece in values::interpolation(s).ok()? {
        match piece {
            Piece::Text(t) => out.push_str(&t),
            Piece::Param(p, _) => {
                let d = symbols.params.get(p)?.prop("default")?.value.display();
                out.push_str(&substitute_depth(&d, symbols, depth + 1)?);
            }
            Piece::Secret(..) => return None,
        }
    }
    Some(out)
}

/// Settings that a service on every node, on the node's network, or behind a given kind of
/// Service cannot also have: compose or Kubernetes would refuse them, or drop one.
fn workload_shapes(symbols: &Symbols, diags: &mut Diagnostics) {
    let conflict = |diags: &mut Diagnostics, shape: &Node, what: &str, other: &Node, help: &str| {
        diags.push(
            Diagnostic::error(
                Code::Conflicting,
                format!("`{}` and `{}` of `{}` exclude each other", node_text(shape), other.name.name, what),
            )
            .at(other.span, "here")
            .label(shape.span, "set here")
            .help(help.to_string()),
        );
    };
    for (name, svc) in &symbols.services {
        if let Some(m) = svc.child("mode").filter(|m| m.arg_str(0) == Some("global")) {
            for (other, help) in [
                ("replicas", "a global service runs one container per node: remove `replicas`"),
                ("autoscale", "a global service runs one container per node: remove `autoscale`"),
                ("placement", "a global service runs one container per node: remove `placement`"),
            ] {
                if let Some(o) = svc.child(other) {
                    conflict(diags, m, name, o, help);
                }
            }
            if let Some(o) = svc.child("stateful").filter(|o| o.arg(0).and_then(|a| a.value.as_bool()) == Some(true)) {
                conflict(
                    diags,
                    m,
                    name,
                    o,
                    "a DaemonSet has no claim per replica: remove `stateful #true` or `mode \"global\"`",
                );
            }
            if let Some(o) = svc.child("restart").filter(|o| o.arg_str(0) == Some("no")) {
                conflict(
                    diags,
                    m,
                    name,
                    o,
                    "a one-shot job runs once, not on every node: remove `restart \"no\"` or `mode \"global\"`",
                );
            }
        }
        if let Some(m) = svc.child("network-mode") {
            for (other, help) in [
                ("networks", "a container on the node's network joins no other: remove `networks`"),
                ("publish", "on the node's network, the container's ports are the node's: remove `publish`"),
                ("hostname", "on the node's network, the container has the node's host name: remove `hostname`"),
            ] {
                if let Some(o) = svc.child(other) {
                    conflict(diags, m, name, o, help);
                }
            }
        }
        if let Some(t) = svc.child("service-type") {
            let stateful = svc.child("stateful").and_then(|o| o.arg(0)?.value.as_bool()) == Some(true);
            if stateful && t.arg_str(0) != Some("headless") {
                conflict(
                    diags,
                    t,
                    name,
                    svc.child("stateful").unwrap_or(t),
                    "a StatefulSet's Service is headless: remove `service-type`, or add your own Service",
                );
            }
            if t.arg_str(0) != Some("headless") && svc.child("port").is_none() {
                diags.push(
                    Diagnostic::error(
                        Code::MissingRequired,
                        format!("`{}` of `{name}` has no port to expose", node_text(t)),
                    )
                    .at(t.span, "a Service of this type needs a port")
                    .help("add `port N`, or remove `service-type`"),
                );
            }
        }
    }
}

/// `mode "global"`, as written.
fn node_text(n: &Node) -> String {
    match n.arg_str(0) {
        Some(a) => format!("{} \"{a}\"", n.name.name),
        None => n.name.name.clone(),
    }
}

/// `header` children belong to an `http=` probe: a command or a TCP connection sends none.
fn probe_headers(symbols: &Symbols, diags: &mut Diagnostics) {
    for (name, svc) in &symbols.services {
        for probe in svc.children().iter().filter(|c| matches!(c.name.name.as_str(), "health" | "readiness")) {
            if probe.prop("http").is_some() {
                continue;
            }
            if let Some(h) = probe.child("header") {
                diags.push(
                    Diagnostic::error(
                        Code::Conflicting,
                        format!(
                            "`{}` of `{name}` sends no HTTP request: its `header` would be dropped",
                            probe.name.name
                        ),
                    )
                    .at(h.span, "a header")
                    .label(probe.name.span, "not an `http=` probe")
                    .help("remove the `header`, or check with `http=\"/path\"`"),
                );
            }
        }
    }
}

/// `sub-path=`: a directory inside a named volume. Docker and Kubernetes refuse an absolute
/// one or one that climbs out (`..`); a host path has no sub-path option (mount the
/// directory itself).
fn sub_paths(nodes: &[Node], symbols: &Symbols, diags: &mut Diagnostics) {
    let proxies = nodes.iter().filter(|n| n.name.name == "proxy").map(|p| ("the proxy".to_string(), p));
    let services = symbols.services.iter().map(|(name, svc)| (format!("`{name}`"), *svc));
    for (owner, node) in services.chain(proxies) {
        for m in node.children_named("mount") {
            let (Some(src), Some(e)) = (m.arg_str(0), m.prop("sub-path")) else { continue };
            let Some(written) = e.value.as_str() else { continue };
            // A param is checked by its compile-time value, which both targets write.
            let sub = substitute(written, symbols).unwrap_or_else(|| written.to_string());
            let sub = sub.as_str();
            if values::is_bind_source(src) || values::has_interpolation(src) {
                diags.push(
                    Diagnostic::error(
                        Code::Conflicting,
                        format!("`sub-path=` on the host path `{src}` mounted by {owner}"),
                    )
                    .at(e.entry_span, "a volume option")
                    .label(m.arg(0).map(|a| a.span).unwrap_or(m.span), "a host path, not a named volume")
                    .help(format!("mount the directory itself: `mount \"{}/{sub}\" …`", src.trim_end_matches('/'))),
                );
            } else if sub.is_empty() || sub.starts_with('/') || sub.split('/').any(|c| c == "..") {
                diags.push(
                    Diagnostic::error(
                        Code::InvalidPath,
                        format!("`sub-path=\"{sub}\"` of volume `{src}` mounted by {owner}"),
                    )
                    .at(e.entry_span, "must stay inside the volume")
                    .help("a relative directory of the volume without `..`, such as `sub-path=\"pgdata\"`"),
                );
            }
        }
    }
}

/// `optional=#true`: a value only from `env=` at deploy time, and none otherwise, so neither a
/// default nor `required=#true` goes with it.
fn optional_params(symbols: &Symbols, diags: &mut Diagnostics) {
    for (name, p) in &symbols.params {
        let Some(optional) = p.prop("optional").filter(|_| p.prop_bool("optional") == Some(true)) else { continue };
        if p.prop("env").is_none() {
            diags.push(
                Diagnostic::error(Code::MissingRequired, format!("param `{name}` is optional but has no `env=`"))
                    .at(optional.entry_span, "set at deploy time, but from where?")
                    .help(format!(
                        "name the variable that may set it: `env=\"{}\"`",
                        name.to_ascii_uppercase().replace('-', "_")
                    )),
            );
        }
        for other in ["default", "required"] {
            let Some(e) = p.prop(other).filter(|e| other == "default" || e.value.as_bool() == Some(true)) else {
                continue;
            };
            diags.push(
                Diagnostic::error(Code::Conflicting, format!("param `{name}` is optional and has `{other}=`"))
                    .at(e.entry_span, "gives it a value")
                    .label(optional.entry_span, "no value unless set")
                    .help(format!("drop `optional=#true` or `{other}=`")),
            );
        }
    }
}

/// Settings of a route that exclude each other: `fallback=` (a file) and `fallback-to=` (a
/// service) are both what a `files=` route does for a missing file; `strip-prefix=` and
/// `replace-prefix=` both rewrite the prefix; `before-regex=` orders a prefix, and a regular
/// expression has no prefix to replace.
fn static_and_rewrite_routes(nodes: &[Node], diags: &mut Diagnostics) {
    let on = |r: &Node, k: &str| r.prop_bool(k) == Some(true);
    for route in nodes.iter().filter(|n| n.name.name == "site").flat_map(|s| s.children_named("route")) {
        let mut conflict = |key: &str, other: &str, help: &str| {
            if let Some(e) = route.prop(key) {
                diags.push(
                    Diagnostic::error(Code::Conflicting, format!("`{key}=` and `{other}` exclude each other"))
                        .at(e.entry_span, format!("conflicts with `{other}`"))
                        .help(help.to_string()),
                );
            }
        };
        if route.prop("fallback").is_some() {
            conflict(
                "fallback-to",
                "fallback=",
                "keep `fallback=` to serve one file for every missing path, or `fallback-to=` to hand them to a service",
            );
        }
        if on(route, "strip-prefix") {
            conflict("replace-prefix", "strip-prefix=", "`strip-prefix=#true` is `replace-prefix=\"/\"`: keep one");
        }
        if on(route, "regex") {
            conflict(
                "replace-prefix",
                "regex=#true",
                "a regular expression has no prefix to replace: use a prefix route",
            );
        }
        if on(route, "before-regex") {
            for other in ["exact", "regex"] {
                if on(route, other) {
                    conflict(
                        "before-regex",
                        &format!("{other}=#true"),
                        "only a prefix route is matched before the regular expressions; an exact route always is",
                    );
                }
            }
        }
    }
}

/// `gzip level=` and `gzip-types` where nothing is compressed would change nothing: refused
/// rather than dropped. A site compresses by its own `gzip`, else the proxy's; the proxy's
/// settings apply to the sites that compress.
fn gzip_settings_need_gzip(nodes: &[Node], diags: &mut Diagnostics) {
    let gzip_of = |n: &Node| n.child("gzip").and_then(|g| g.arg(0)).and_then(|a| a.value.as_bool());
    let proxy_gzip = nodes.iter().find(|n| n.name.name == "proxy").and_then(gzip_of).unwrap_or(false);
    let sites: Vec<&Node> = nodes.iter().filter(|n| n.name.name == "site").collect();
    let any_site_compresses = sites.iter().any(|s| gzip_of(s).unwrap_or(proxy_gzip));
    let mut refuse = |n: &Node, compresses: bool, what: &str| {
        if compresses {
            return;
        }
        let level = n.child("gzip").and_then(|g| g.prop("level"));
        let spans = level.map(|e| e.entry_span).into_iter().chain(n.children_named("gzip-types").map(|t| t.name.span));
        for span in spans {
            diags.push(
                Diagnostic::error(Code::Conflicting, format!("compression settings where {what} compresses nothing"))
                    .at(span, "changes nothing: compression is off")
                    .help("turn compression on with `gzip #true`, or remove the setting"),
            );
        }
    };
    for n in nodes.iter().filter(|n| n.name.name == "proxy") {
        refuse(n, proxy_gzip || any_site_compresses, "the proxy");
    }
    for s in sites {
        refuse(s, gzip_of(s).unwrap_or(proxy_gzip), "this site");
    }
}

/// A site's `mime-type`s: literal extensions (a proxy's type table is read when it starts, so
/// no param), each in one `mime-type` of the site, and a `files=` route for them to apply to.
fn mime_types(nodes: &[Node], diags: &mut Diagnostics) {
    let extension_ok = |e: &str| {
        let e = e.strip_prefix('.').unwrap_or(e);
        !e.is_empty()
            && e.len() <= 32
            && e.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && e.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b))
    };
    for site in nodes.iter().filter(|n| n.name.name == "site") {
        let mut seen: HashMap<String, &Entry> = HashMap::new();
        let mut any = None;
        for m in site.children_named("mime-type") {
            any = Some(m);
            for (i, a) in m.args.iter().enumerate() {
                let Value::String(s) = &a.value else { continue };
                if values::has_interpolation(s) {
                    diags.push(
                        Diagnostic::error(Code::InvalidInterpolation, "a `mime-type` cannot contain `${…}`")
                            .at(a.span, "the proxy reads its type table when it starts")
                            .help("write the media type and the extensions themselves"),
                    );
                    continue;
                }
                if i == 0 {
                    continue;
                }
                if !extension_ok(s) {
                    diags.push(
                        Diagnostic::error(Code::InvalidText, format!("`{}` is not a file extension", values::shown(s)))
                            .at(a.span, "not an extension")
                            .help("write the extension without the dot: letters, digits, `_`, `+` and `-` (\"webmanifest\")"),
                    );
                    continue;
                }
                let key = s.trim_start_matches('.').to_ascii_lowercase();
                if let Some(first) = seen.insert(key.clone(), a) {
                    diags.push(
                        Diagnostic::error(Code::Conflicting, format!("the extension `{key}` has two media types"))
                            .at(a.span, "given again here")
                            .label(first.span, "first given here")
                            .help("keep one `mime-type` for the extension"),
                    );
                }
            }
        }
        let serves_files = site.children_named("route").any(|r| r.prop("files").is_some());
        if let (Some(m), false) = (any, serves_files) {
            diags.push(
                Diagnostic::error(
                    Code::MissingRequired,
                    "`mime-type` needs a `files=` route: alone it changes nothing",
                )
                .at(m.name.span, "types of files this site does not serve")
                .help(
                    "`mime-type` sets the Content-Type of the files a `files=` route serves; an upstream sets its own",
                ),
            );
        }
    }
}
