//! Lowers the stack's `proxy` and `site`s into the [`ProxyPlan`] that nginx, Caddy and the
//! Ingress render. Every default of the proxy targets is decided here, once.

use std::collections::{HashMap, HashSet};

use indexmap::IndexSet;

use crate::ir::proxy::*;
use crate::ir::*;

mod fastcgi;
pub mod handling;
pub mod host;

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
    let mut upstreams = upstreams(stack, proxy);
    if proxy.host_mode.is_some() {
        host::assign(stack, &mut upstreams);
    }
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
            headers: site_headers(proxy, site, https && site.listen.is_none()),
            body_limit: site.body_limit.value().or(proxy.body_limit.value()),
            gzip: site.gzip.unwrap_or(proxy.gzip),
            allow_from: site.allow_from.clone(),
            basic_auth: site.basic_auth.clone(),
            routes: match_order(&site.routes)
                .into_iter()
                .map(|(index, r)| {
                    let mut planned = route(proxy, index, r, &upstream_of);
                    planned.before_regex = before_regex(&site.routes, r);
                    let policy = r.cors.as_ref().or(site.cors.as_ref()).map(super::edge::plan_cors);
                    planned.cors = policy.map(|c| super::edge::cors_index(&mut cors, c));
                    planned
                })
                .collect(),
            origin: site.origin,
            raw: site.raw.clone(),
            https: https && site.listen.is_none(),
            port: site.listen.unwrap_or(if https { 443 } else { 80 }),
            gzip_level: site.gzip_level.or(proxy.gzip_level).unwrap_or(DEFAULT_GZIP_LEVEL),
            gzip_types: gzip_types(proxy, site),
            mime_types: site.mime_types.clone(),
            error_pages: super::edge::plan_error_pages(site),
            intercept_errors: site.error_pages.iter().any(|e| e.intercept),
        })
        .collect();
    let mut site_ports: Vec<u16> = Vec::new();
    for port in stack.sites.iter().filter_map(|s| s.listen).filter(|p| *p != 80) {
        if !site_ports.contains(&port) {
            site_ports.push(port);
        }
    }
    Some(ProxyPlan {
        https,
        tls: proxy.tls.clone(),
        zones,
        websocket: stack.sites.iter().flat_map(|s| &s.routes).any(|r| r.websocket),
        upstreams,
        sites,
        resolver: Resolver { address: DOCKER_DNS.into(), valid_ms: 10_000 },
        mounts: fastcgi::mounts(stack),
        cache_zone: handling::cache_zone(stack, proxy),
        client_timeouts: handling::client_timeouts(proxy),
        networks: proxy.networks.clone(),
        site_ports,
        http_port: published(stack, proxy.http_port.as_ref(), 80),
        https_port: published(stack, proxy.https_port.as_ref(), 443),
        cors,
        real_ip: super::edge::plan_real_ip(proxy),
        forwarded_for_replace: proxy.forwarded_for_replace,
        host_mode: proxy.host_mode.is_some(),
    })
}

/// A port of the proxy's container and the host port it is published on (`proxy > ports`).
fn published(stack: &Stack, host: Option<&Text>, container: u16) -> PublishedPort {
    let host = host.cloned().unwrap_or_else(|| Text::lit(container.to_string()));
    // Validation checked the compile-time value is a port.
    let value = stack.compile_time(&host).parse().unwrap_or(container);
    PublishedPort { host, value, container }
}

fn route(proxy: &Proxy, index: usize, r: &Route, upstream_of: &dyn Fn(&str, u16) -> Option<usize>) -> PlanRoute {
    let action = match &r.action {
        // Every proxied `(service, port)` is one of the upstreams.
        Action::Proxy { service, port } => PlanAction::Proxy { upstream: upstream_of(service, *port).unwrap_or(0) },
        Action::Files { root } => PlanAction::Files { root: root.clone() },
        Action::Redirect { to, status } => PlanAction::Redirect { to: to.clone(), status: *status },
        Action::Respond { status } => PlanAction::Respond { status: *status },
        Action::FastCgi { service, port, root } => fastcgi::action(r, root, upstream_of(service, *port).unwrap_or(0)),
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
        cache_control: handling::cache_control(r),
        fallback: r.fallback.clone(),
        internal: r.internal,
        origin: r.origin,
        request_headers: r.request_headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect(),
        response_headers: r.response_headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect(),
        hide_headers: r.hide_headers.iter().map(|h| h.name.clone()).collect(),
        handling: handling::handling(r),
        raw: r.raw.clone(),
        buffering: r.buffering,
        fallback_upstream: r.fallback_to.as_ref().and_then(|(service, port)| upstream_of(service, *port)),
        index_file: r.index.clone().unwrap_or_else(|| DEFAULT_INDEX.into()),
        precompressed: r.precompressed,
        before_regex: r.before_regex,
        replace_prefix: r.replace_prefix.clone(),
        cors: None,
        methods: super::edge::plan_methods(r),
    }
}

/// Whether a prefix route is matched before the regular expressions: it says so, or a shorter
/// prefix route that contains it does. Else a request under a `before-regex` prefix would
/// reach a regular expression whenever a longer prefix matched it (nginx applies `^~` of the
/// longest matching prefix only), which is not what "before the regular expressions" promises.
fn before_regex(routes: &[Route], r: &Route) -> bool {
    r.matching == Match::Prefix
        && routes.iter().any(|p| p.matching == Match::Prefix && p.before_regex && r.path.starts_with(&p.path))
}

/// Every `(service, port)` a route proxies to, in first-use order, named after the service,
/// or `service-port` for a service proxied on several ports.
fn upstreams(stack: &Stack, proxy: &Proxy) -> Vec<PlanUpstream> {
    let mut targets: IndexSet<(&str, u16)> = IndexSet::new();
    for r in stack.sites.iter().flat_map(|s| &s.routes) {
        if let Some(target) = r.proxied() {
            targets.insert(target);
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
                fastcgi: fastcgi::is_fastcgi(stack, service, port),
                host_port: None,
            }
        })
        .collect()
}

/// nginx's location order, which every proxy target follows so that a request reaches the
/// same route everywhere: exact matches, then `before-regex` prefixes (nginx `^~`) longest
/// first, then regular expressions in order, then the other prefixes, longest first (stable
/// among equals). A prefix nested in a `before-regex` one is one itself ([`before_regex`]),
/// so the longest matching prefix decides, as in nginx.
fn match_order(routes: &[Route]) -> Vec<(usize, &Route)> {
    let mut exact: Vec<(usize, &Route)> = Vec::new();
    let mut first = Vec::new();
    let mut regex = Vec::new();
    let mut prefix = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        match r.matching {
            Match::Exact => exact.push((i, r)),
            Match::Regex => regex.push((i, r)),
            Match::Prefix if before_regex(routes, r) => first.push((i, r)),
            Match::Prefix => prefix.push((i, r)),
        }
    }
    first.sort_by_key(|(_, r)| std::cmp::Reverse(r.path.len()));
    prefix.sort_by_key(|(_, r)| std::cmp::Reverse(r.path.len()));
    exact.into_iter().chain(first).chain(regex).chain(prefix).collect()
}

/// The media types a site compresses: the defaults, then the site's `gzip-types` (else the
/// proxy's), each once.
fn gzip_types(proxy: &Proxy, site: &Site) -> Vec<String> {
    let extra = if site.gzip_types.is_empty() { &proxy.gzip_types } else { &site.gzip_types };
    let mut out: IndexSet<String> = DEFAULT_GZIP_TYPES.iter().map(|t| t.to_string()).collect();
    out.extend(extra.iter().map(|t| t.to_ascii_lowercase()));
    out.into_iter().collect()
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

/// Static files, matching priority, rewrites and compression (issue 11).
#[cfg(test)]
mod static_tests {
    // Static files, matching priority and rewrites (issue 11): what lowering decides, what each
    // target renders of it, and what validation refuses.

    use crate::emit::EmitOptions;
    use crate::ir::proxy::*;
    use crate::ir::TargetKind;

    const STACK: &str = r#"stack "t"
service "app" {
    image "a:1"
    port 3000 name="http"
}
service "assets" {
    image "s:1"
    port 8080
}
site "t.example.com" {
    route "/" files="/srv/public" fallback-to="app" index="index.htm" precompressed=#true
    route "/static/" files="/srv/public/static/" fallback-to="app" cache="1h"
    route "/assets/" to="assets" replace-prefix="/static/dist/"
    route "/media/" files="/srv/media" before-regex=#true
    route "/media/thumbs/" to="assets"
    route "\\.(png|jpg)$" regex=#true to="assets"
}
targets {
    nginx
    caddy
    k8s
}
"#;

    fn file(src: &str, target: TargetKind, path: &str) -> (String, Vec<String>) {
        let emit = EmitOptions { targets: Some(vec![target]), ..EmitOptions::default() };
        let built = crate::build("t.stack.kdl", src, &crate::Options::default(), &emit);
        let diags = built.outcome.diagnostics.iter().map(|d| format!("{} {}", d.code.as_str(), d.message)).collect();
        let text = built.files.iter().filter(|f| f.path.contains(path)).map(|f| f.contents.clone()).collect();
        (text, diags)
    }

    fn errors(src: &str) -> Vec<String> {
        let outcome = crate::compile("t.stack.kdl", src, &crate::Options::default());
        outcome
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| format!("{} {}", d.code.as_str(), d.message))
            .collect()
    }

    #[test]
    fn the_plan_orders_before_regex_prefixes_and_those_nested_in_them_before_the_regex() {
        let stack = crate::compile("t.stack.kdl", STACK, &crate::Options::default()).stack.expect("compiles");
        let plan = stack.proxy_plan.expect("a plan");
        let routes = &plan.sites[0].routes;
        let order: Vec<(&str, bool)> = routes.iter().map(|r| (r.path.as_str(), r.before_regex)).collect();
        assert_eq!(
            order,
            [
                ("/media/thumbs/", true),
                ("/media/", true),
                ("\\.(png|jpg)$", false),
                ("/static/", false),
                ("/assets/", false),
                ("/", false)
            ]
        );
        let root = routes.iter().find(|r| r.path == "/").unwrap();
        let app = plan.upstreams.iter().position(|u| u.service == "app");
        assert_eq!((root.fallback_upstream, root.index_file.as_str(), root.precompressed), (app, "index.htm", true));
        let stat = routes.iter().find(|r| r.path == "/static/").unwrap();
        assert_eq!(stat.index_file, DEFAULT_INDEX, "index= is decided in lowering");
        let assets = routes.iter().find(|r| r.path == "/assets/").unwrap();
        assert_eq!(assets.replace_prefix.as_deref(), Some("/static/dist/"));
    }

    #[test]
    fn nginx_renders_try_files_to_a_named_location_alias_rewrite_and_priority() {
        let (conf, _) = file(STACK, TargetKind::Nginx, "nginx/");
        for want in [
            "    location / {\n        root /srv/public;\n        index index.htm;\n        gzip_static on;\n        try_files $uri $uri/ @stackc_fallback_1;\n",
            "        alias /srv/public/static/;\n        index index.html;\n        try_files $uri $uri/ @stackc_fallback_2;\n",
            "    location @stackc_fallback_1 {\n        proxy_pass http://app;\n",
            "        rewrite \"^/assets/(.*)$\" \"/static/dist/$1\" break;\n        proxy_pass http://assets;\n",
            "    location ^~ /media/ {\n",
            "    location ^~ /media/thumbs/ {\n",
        ] {
            assert!(conf.contains(want), "missing {want:?} in\n{conf}");
        }
        // The fallback repeats the route's headers (a named location inherits none of them).
        let named = &conf[conf.find("location @stackc_fallback_2").unwrap()..];
        assert!(named[..named.find("}\n").unwrap()].contains("add_header Cache-Control max-age=3600;"), "{named}");
    }

    #[test]
    fn caddy_renders_a_file_matcher_the_original_uri_and_uri_path_regexp() {
        let (c, _) = file(STACK, TargetKind::Caddy, "caddy/");
        for want in [
            "\t\t\troot * /srv/public\n\t\t\t@route1_file file {path} {path}/\n\t\t\thandle @route1_file {\n\t\t\t\tfile_server {\n\t\t\t\t\tindex index.htm\n\t\t\t\t\tprecompressed gzip\n",
            "\t\t\thandle {\n\t\t\t\trewrite * {http.request.orig_uri}\n\t\t\t\treverse_proxy app:3000 {\n",
            "\t\t\turi path_regexp ^/assets/ /static/dist/\n",
        ] {
            assert!(c.contains(want), "missing {want:?} in\n{c}");
        }
        // Under `/` nothing is stripped: the upstream gets the URI without a rewrite.
        let root = &c[c.find("@route1_file file").unwrap()..];
        assert!(!root.contains("orig_uri"), "{root}");
        let pos = |s: &str| c.find(s).unwrap_or_else(|| panic!("no {s:?} in\n{c}"));
        assert!(pos("handle /media/thumbs/*") < pos("handle_path /media/*"));
        assert!(pos("handle_path /media/*") < pos("@route6 {"));
        assert!(pos("@route6 {") < pos("handle_path /static/*"));
    }

    #[test]
    fn kubernetes_rewrites_on_an_httproute_and_warns_on_the_ingress() {
        // A files= route has no Ingress path at all: before-regex= of a proxied one.
        let stack = STACK.replace(
            "route \"/media/thumbs/\" to=\"assets\"",
            "route \"/media/thumbs/\" to=\"assets\" before-regex=#true",
        );
        let (_, diags) = file(&stack, TargetKind::K8s, "");
        let about =
            |path: &str| diags.iter().filter(|d| d.contains(&format!("route `{path}`"))).cloned().collect::<Vec<_>>();
        assert!(
            about("/assets/").iter().any(|d| d.starts_with("W0501") && d.contains("`replace-prefix`")),
            "{diags:#?}"
        );
        assert!(
            about("/media/thumbs/").iter().any(|d| d.starts_with("W0501") && d.contains("`before-regex`")),
            "{diags:#?}"
        );
        assert!(about("/").iter().any(|d| d.starts_with("W0501") && d.contains("files")), "{diags:#?}");
        let gateway = stack.replace("    k8s\n", "    k8s routing=\"gateway-api\" gateway=\"edge\"\n");
        let (yaml, diags) = file(&gateway, TargetKind::K8s, "");
        assert!(yaml.contains("replacePrefixMatch: /static/dist/"), "{yaml}\n{diags:#?}");
        assert!(
            diags.iter().any(|d| d.contains("route `/media/thumbs/`") && d.contains("`before-regex`")),
            "{diags:#?}"
        );
    }

    #[test]
    fn settings_that_exclude_each_other_or_need_another_are_refused() {
        let with =
            |route: &str| STACK.replace("    route \"/media/thumbs/\" to=\"assets\"\n", &format!("    {route}\n"));
        for (route, code, what) in [
            (
                r#"route "/x/" files="/srv/x" fallback="/x/i.html" fallback-to="app""#,
                "E0110",
                "`fallback-to=` and `fallback=`",
            ),
            (
                r#"route "/x/" to="app" strip-prefix=#true replace-prefix="/y/""#,
                "E0110",
                "`replace-prefix=` and `strip-prefix=`",
            ),
            (
                r#"route "^/x" regex=#true to="app" replace-prefix="/y/""#,
                "E0110",
                "`replace-prefix=` and `regex=#true`",
            ),
            (r#"route "/x" exact=#true to="app" before-regex=#true"#, "E0110", "`before-regex=` and `exact=#true`"),
            (r#"route "/x/" to="app" fallback-to="app""#, "E0109", "`fallback-to=` needs `files=`"),
            (r#"route "/x/" to="app" precompressed=#true"#, "E0109", "`precompressed=` needs `files=`"),
            (r#"route "/x/" files="/srv/x" replace-prefix="/y/""#, "E0109", "`replace-prefix=` needs `to=`"),
            (
                r#"route "/x/" files="/srv/x" fallback-to="assets" port="nope""#,
                "E0210",
                "cannot reach service `assets`",
            ),
        ] {
            let errs = errors(&with(route));
            assert!(errs.iter().any(|e| e.starts_with(code) && e.contains(what)), "{route}: {errs:#?}");
        }
        assert!(errors(STACK).is_empty(), "{:#?}", errors(STACK));
    }

    const GZIP: &str = r#"stack "t"
service "app" {
    image "a:1"
    port 3000
}
proxy {
    gzip #true level=7
    gzip-types "application/wasm"
}
site "a.example.com" {
    route "/" to="app"
}
site "b.example.com" {
    gzip #true level=6
    gzip-types "text/csv" "application/wasm" "TEXT/CSS"
    route "/" to="app"
}
site "c.example.com" {
    gzip #true level=5
    gzip-types "text/css"
    route "/" to="app"
}
targets {
    nginx
    caddy
}
"#;

    #[test]
    fn gzip_level_and_types_are_decided_per_site_and_rendered_by_both_proxies() {
        let stack = crate::compile("t.stack.kdl", GZIP, &crate::Options::default()).stack.expect("compiles");
        let plan = stack.proxy_plan.expect("a plan");
        let settings: Vec<(u32, Vec<&str>)> = plan
            .sites
            .iter()
            .map(|s| (s.gzip_level, s.gzip_types[DEFAULT_GZIP_TYPES.len()..].iter().map(String::as_str).collect()))
            .collect();
        // A site's settings replace the proxy's; the defaults come first, each type once.
        assert_eq!(settings, [(7, vec!["application/wasm"]), (6, vec!["text/csv", "application/wasm"]), (5, vec![])]);
        assert_eq!(plan.sites[2].gzip_types, DEFAULT_GZIP_TYPES);

        let (conf, _) = file(GZIP, TargetKind::Nginx, "nginx/");
        let defaults =
            "text/plain text/css text/xml application/xml application/json application/javascript image/svg+xml";
        assert!(
            conf.contains(&format!(
                "    gzip_comp_level 6;\n    gzip_min_length 256;\n    gzip_types {defaults} text/csv application/wasm;\n"
            )),
            "{conf}"
        );
        assert!(
            conf.contains(&format!("    gzip_comp_level 5;\n    gzip_min_length 256;\n    gzip_types {defaults};\n")),
            "{conf}"
        );
        assert!(!conf.contains("text/html"), "nginx compresses text/html always; listing it is a warning:\n{conf}");

        let (c, _) = file(GZIP, TargetKind::Caddy, "caddy/");
        let b = &c[c.find("b.example.com {").unwrap()..];
        assert!(
            b.starts_with("b.example.com {")
                && b.contains("\tencode {\n\t\tgzip 6\n\t\tmatch {\n\t\t\theader Content-Type text/html*\n"),
            "{c}"
        );
        assert!(
            b[..b.find("log").unwrap()].contains(
                "\t\t\theader Content-Type text/csv*\n\t\t\theader Content-Type application/wasm*\n\t\t}\n\t}\n"
            ),
            "{c}"
        );
        // The defaults: Caddy's own `encode gzip`.
        let default_site = &c[c.find("c.example.com {").unwrap()..];
        assert!(default_site[..default_site.find("log").unwrap()].contains("\tencode gzip\n"), "{c}");
    }

    #[test]
    fn a_gzip_type_is_a_media_type_and_the_level_one_to_nine() {
        let bad_type = GZIP.replace("\"text/csv\"", "\"text csv\"");
        assert!(
            errors(&bad_type).iter().any(|e| e.starts_with("E0318") && e.contains("is not a media type")),
            "{:#?}",
            errors(&bad_type)
        );
        let bad_level = GZIP.replace("level=6", "level=10");
        assert!(errors(&bad_level).iter().any(|e| e.starts_with("E0315")), "{:#?}", errors(&bad_level));
    }

    #[test]
    fn gzip_settings_where_nothing_is_compressed_are_refused() {
        let off = GZIP.replace("    gzip #true level=6\n", "    gzip #false level=6\n");
        let errs = errors(&off);
        assert_eq!(
            errs.iter().filter(|e| e.starts_with("E0110") && e.contains("this site compresses nothing")).count(),
            2,
            "{errs:#?}"
        );
        // The proxy's settings count while one site compresses.
        let proxy_off = GZIP.replace("    gzip #true level=7\n", "    gzip #false level=7\n");
        assert!(errors(&proxy_off).is_empty(), "{:#?}", errors(&proxy_off));
        let none = proxy_off.replace("    gzip #true level=6\n", "").replace("    gzip #true level=5\n", "");
        let errs = errors(&none);
        assert!(errs.iter().any(|e| e.starts_with("E0110") && e.contains("the proxy compresses nothing")), "{errs:#?}");
    }

    #[test]
    fn mime_types_reach_the_files_of_both_proxies_and_are_checked() {
        let src = STACK.replace(
            "site \"t.example.com\" {\n",
            "site \"t.example.com\" {\n    mime-type \"application/manifest+json\" \".webmanifest\" \"WebApp\"\n",
        );
        let (conf, _) = file(&src, TargetKind::Nginx, "nginx/");
        // The site's `types` replaces the inherited table: nginx's own comes first.
        let want = "    include /etc/nginx/mime.types;\n    types {\n        application/manifest+json webmanifest webapp;\n    }\n";
        assert!(conf.contains(want), "{conf}");
        let (c, _) = file(&src, TargetKind::Caddy, "caddy/");
        assert!(c.contains("\t@mime1 {\n\t\tpath *.webmanifest *.webapp\n\t\tfile\n\t}\n"), "{c}");
        // In each files= route: the plain one, and the found branch of a fallback-to= one.
        assert!(c.contains("\t\t\theader @mime1 Content-Type application/manifest+json\n\t\t\tfile_server\n"), "{c}");
        assert!(c.contains("\t\t\t\theader @mime1 Content-Type application/manifest+json\n\t\t\t\tfile_server"), "{c}");

        let with = |node: &str| {
            STACK.replace("site \"t.example.com\" {\n", &format!("site \"t.example.com\" {{\n    {node}\n"))
        };
        for (node, code, what) in [
            (r#"mime-type "text/x-a" "a.b""#, "E0318", "is not a file extension"),
            (
                r#"mime-type "text/x-a" "x" \n mime-type "text/x-b" "X""#,
                "E0110",
                "the extension `x` has two media types",
            ),
            (r#"mime-type "text/x-a" "${ext}""#, "E0311", "cannot contain `${…}`"),
        ] {
            let src = with(&node.replace("\\n", "\n    "))
                .replace("stack \"t\"\n", "stack \"t\"\nparam \"ext\" default=\"x\"\n");
            let errs = errors(&src);
            assert!(errs.iter().any(|e| e.starts_with(code) && e.contains(what)), "{node}: {errs:#?}");
        }
        let no_files = GZIP.replace(
            "    route \"/\" to=\"app\"\n}\ntargets",
            "    route \"/\" to=\"app\"\n    mime-type \"text/x-a\" \"x\"\n}\ntargets",
        );
        assert!(
            errors(&no_files)
                .iter()
                .any(|e| e.starts_with("E0109") && e.contains("`mime-type` needs a `files=` route")),
            "{:#?}",
            errors(&no_files)
        );
    }

    #[test]
    fn index_and_replace_prefix_values_a_proxy_would_misread_are_refused_there() {
        let src =
            STACK.replace("index=\"index.htm\"", "index=\"i$x.htm\"").replace("\"/static/dist/\"", "\"/{$HOME}/\"");
        let (_, nginx) = file(&src, TargetKind::Nginx, "nginx/");
        assert!(nginx.iter().any(|d| d.starts_with("E0501") && d.contains("index= contains `$`")), "{nginx:#?}");
        let (_, caddy) = file(&src, TargetKind::Caddy, "caddy/");
        assert!(
            caddy.iter().any(|d| d.starts_with("E0501") && d.contains("replace-prefix= contains `{$`")),
            "{caddy:#?}"
        );
    }
}
