//! Lowers the stack's `proxy` and `site`s into the [`ProxyPlan`] that nginx, Caddy and the
//! Ingress render. Every default of the proxy targets is decided here, once.

use std::collections::{HashMap, HashSet};

use indexmap::IndexSet;

use crate::ir::proxy::*;
use crate::ir::*;

/// The size of a rate-limit zone without `size=` (nginx: 10 MB hold about 160,000 addresses).
pub const DEFAULT_ZONE_SIZE: u64 = 10 * 1024 * 1024;

/// Docker's embedded DNS server, which answers with a service's current addresses.
pub const DOCKER_DNS: &str = "127.0.0.11";

/// The plan of the stack's sites; `None` without sites. The stack's `proxy` is set whenever
/// it has sites (lowering fills in the defaults).
pub fn plan(stack: &Stack) -> Option<ProxyPlan> {
    if stack.sites.is_empty() {
        return None;
    }
    let proxy = stack.proxy.as_ref()?;
    let https = proxy.tls.certificates != "none";
    let upstreams = upstreams(stack, proxy);
    let upstream_of = |service: &str, port: u16| upstreams.iter().position(|u| u.service == service && u.port == port);
    let used_zones: Vec<&str> =
        stack.sites.iter().flat_map(|s| &s.routes).filter_map(|r| r.rate_limit.as_deref()).collect();
    let zones = proxy
        .rate_limits
        .values()
        .filter(|z| used_zones.contains(&z.name.as_str()))
        .map(|z| Zone {
            name: z.name.clone(),
            size_bytes: z.size_bytes.unwrap_or(DEFAULT_ZONE_SIZE),
            requests: z.requests,
            per: z.per,
            burst: z.burst.filter(|b| *b > 0),
            nodelay: z.nodelay,
        })
        .collect();
    let mut cors: Vec<PlanCors> = Vec::new();
    let sites = stack
        .sites
        .iter()
        .map(|site| PlanSite {
            hosts: site.hosts.clone(),
            redirect_from: site.redirect_from.clone(),
            headers: site_headers(proxy, site, https),
            body_limit: site.body_limit.value().or(proxy.body_limit.value()),
            gzip: site.gzip.unwrap_or(proxy.gzip),
            allow_from: site.allow_from.clone(),
            basic_auth: site.basic_auth.clone(),
            routes: match_order(&site.routes)
                .into_iter()
                .map(|(index, r)| {
                    let mut planned = route(proxy, index, r, &upstream_of);
                    let policy = r.cors.as_ref().or(site.cors.as_ref()).map(super::edge::plan_cors);
                    planned.cors = policy.map(|c| super::edge::cors_index(&mut cors, c));
                    planned
                })
                .collect(),
            origin: site.origin,
            error_pages: super::edge::plan_error_pages(site),
            intercept_errors: site.error_pages.iter().any(|e| e.intercept),
        })
        .collect();
    Some(ProxyPlan {
        https,
        tls: proxy.tls.clone(),
        zones,
        websocket: stack.sites.iter().flat_map(|s| &s.routes).any(|r| r.websocket),
        upstreams,
        sites,
        resolver: Resolver { address: DOCKER_DNS.into(), valid_ms: 10_000 },
        cors,
        real_ip: super::edge::plan_real_ip(proxy),
        forwarded_for_replace: proxy.forwarded_for_replace,
    })
}

fn route(proxy: &Proxy, index: usize, r: &Route, upstream_of: &dyn Fn(&str, u16) -> Option<usize>) -> PlanRoute {
    let action = match &r.action {
        // Every proxied `(service, port)` is one of the upstreams.
        Action::Proxy { service, port } => PlanAction::Proxy { upstream: upstream_of(service, *port).unwrap_or(0) },
        Action::Files { root } => PlanAction::Files { root: root.clone() },
        Action::Redirect { to, status } => PlanAction::Redirect { to: to.clone(), status: *status },
        Action::Respond { status } => PlanAction::Respond { status: *status },
    };
    PlanRoute {
        index,
        path: r.path.clone(),
        matching: r.matching,
        action,
        strip_prefix: r.strip_prefix,
        websocket: r.websocket,
        rate_limit: r.rate_limit.clone().filter(|z| proxy.rate_limits.contains_key(z)),
        access_log: r.access_log,
        timeout_ms: r.timeout.value(),
        buffering_off: r.buffering == Some(false),
        body_limit: r.body_limit.value(),
        cache_control: r.cache_ms.map(|ms| {
            if r.immutable {
                format!("public, max-age={}, immutable", ms / 1000)
            } else {
                format!("max-age={}", ms / 1000)
            }
        }),
        fallback: r.fallback.clone(),
        internal: r.internal,
        origin: r.origin,
        request_headers: r.request_headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect(),
        response_headers: r.response_headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect(),
        hide_headers: r.hide_headers.iter().map(|h| h.name.clone()).collect(),
        cors: None,
        methods: super::edge::plan_methods(r),
    }
}

/// Every `(service, port)` a route proxies to, in first-use order, named after the service,
/// or `service-port` for a service proxied on several ports.
fn upstreams(stack: &Stack, proxy: &Proxy) -> Vec<PlanUpstream> {
    let mut targets: IndexSet<(&str, u16)> = IndexSet::new();
    for r in stack.sites.iter().flat_map(|s| &s.routes) {
        if let Action::Proxy { service, port } = &r.action {
            targets.insert((service, *port));
        }
    }
    let mut first_port: HashMap<&str, u16> = HashMap::new();
    let mut several_ports: HashSet<&str> = HashSet::new();
    for (service, port) in &targets {
        if *first_port.entry(service).or_insert(*port) != *port {
            several_ports.insert(service);
        }
    }
    targets
        .iter()
        .map(|&(service, port)| {
            let opts = proxy.upstreams.get(service).cloned().unwrap_or_default();
            PlanUpstream {
                name: if several_ports.contains(service) { format!("{service}-{port}") } else { service.to_string() },
                service: service.to_string(),
                port,
                replicas: stack.services.get(service).map_or(1, |s| s.replicas),
                balance: match opts.balance.as_deref() {
                    Some("least-conn") => Balance::LeastConn,
                    Some("ip-hash") => Balance::IpHash,
                    _ => Balance::Default,
                },
                max_fails: opts.max_fails,
                fail_timeout_ms: opts.fail_timeout_ms,
                keepalive: opts.keepalive.filter(|k| *k > 0),
            }
        })
        .collect()
}

/// nginx's location order, which every proxy target follows so that a request reaches the
/// same route everywhere: exact matches, then regular expressions in order, then prefixes,
/// longest first (stable among equals).
fn match_order(routes: &[Route]) -> Vec<(usize, &Route)> {
    let mut exact: Vec<(usize, &Route)> = Vec::new();
    let mut regex = Vec::new();
    let mut prefix = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        match r.matching {
            Match::Exact => exact.push((i, r)),
            Match::Regex => regex.push((i, r)),
            Match::Prefix => prefix.push((i, r)),
        }
    }
    prefix.sort_by_key(|(_, r)| std::cmp::Reverse(r.path.len()));
    exact.into_iter().chain(regex).chain(prefix).collect()
}

/// The security-header presets, in the order they are sent.
pub fn preset_headers(preset: &str) -> Vec<(&'static str, &'static str)> {
    let basic = vec![
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "SAMEORIGIN"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ];
    match preset {
        "off" => Vec::new(),
        "strict" => vec![
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer"),
            ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
        ],
        _ => basic,
    }
}

/// The `Strict-Transport-Security` value of `tls hsts=…`, if any.
pub fn hsts(tls: &Tls) -> Option<String> {
    let ms = tls.hsts.value()?;
    let mut v = format!("max-age={}", ms / 1000);
    if tls.hsts_subdomains {
        v.push_str("; includeSubDomains");
    }
    if tls.hsts_preload {
        v.push_str("; preload");
    }
    Some(v)
}

/// The response headers of a site, in order: the preset, the proxy's headers, the site's
/// (a later header of the same name replaces an earlier one), and HSTS (when `https`) unless
/// a header sets `Strict-Transport-Security` itself. Values as written (`${param}` kept).
pub fn site_headers(proxy: &Proxy, site: &Site, https: bool) -> Vec<(String, String)> {
    let preset = site.security_headers.as_deref().unwrap_or(&proxy.security_headers);
    let mut out: Vec<(String, String)> = Vec::new();
    let mut put = |name: &str, value: &str| {
        if let Some(slot) = out.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            slot.1 = value.to_string();
        } else {
            out.push((name.to_string(), value.to_string()));
        }
    };
    for (n, v) in preset_headers(preset) {
        put(n, v);
    }
    for (n, v) in proxy.headers.iter().chain(&site.headers) {
        put(n, v);
    }
    if let (Some(v), true) = (hsts(&proxy.tls), https) {
        if !out.iter().any(|(n, _)| n.eq_ignore_ascii_case("Strict-Transport-Security")) {
            out.push(("Strict-Transport-Security".into(), v));
        }
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::lower) fn plan_of(src: &str) -> ProxyPlan {
        let stack = crate::compile("t.stack.kdl", src, &crate::Options::default()).stack.expect("compiles");
        stack.proxy_plan.expect("a plan")
    }

    const STACK: &str = r#"stack "t"
service "api" {
    image "a:1"
    port 8080 name="http"
    port 9090 name="admin"
}
service "web" {
    image "w:1"
    port 3000
}
proxy {
    rate-limit "unused" rate="1r/s"
    rate-limit "used" rate="5r/m"
}
site "t.example.com" {
    route "/" to="web"
    route "/api/" to="api" rate-limit="used"
    route "/api/v2/" to="api"
    route "/admin" to="api" port="admin" exact=#true
    route "^/x" regex=#true to="web" cache="1h"
}
"#;

    #[test]
    fn routes_in_match_order_with_their_written_position() {
        let plan = plan_of(STACK);
        let order: Vec<(usize, &str)> = plan.sites[0].routes.iter().map(|r| (r.index, r.path.as_str())).collect();
        assert_eq!(order, [(3, "/admin"), (4, "^/x"), (2, "/api/v2/"), (1, "/api/"), (0, "/")]);
    }

    #[test]
    fn upstreams_zones_and_defaults_are_decided_once() {
        let plan = plan_of(STACK);
        let names: Vec<&str> = plan.upstreams.iter().map(|u| u.name.as_str()).collect();
        // `api` is proxied on two ports: each gets its own name.
        assert_eq!(names, ["web", "api-8080", "api-9090"]);
        assert_eq!(plan.zones.len(), 1);
        assert_eq!((plan.zones[0].name.as_str(), plan.zones[0].size_bytes), ("used", DEFAULT_ZONE_SIZE));
        assert!(plan.https && !plan.tls.ocsp, "HTTPS with OCSP stapling off by default");
        assert_eq!(plan.resolver.address, DOCKER_DNS);
        let x = plan.sites[0].routes.iter().find(|r| r.path == "^/x").unwrap();
        assert_eq!(x.cache_control.as_deref(), Some("max-age=3600"));
        let headers: Vec<&str> = plan.sites[0].headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(headers, ["X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"]);
    }
}
