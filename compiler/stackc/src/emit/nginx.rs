//! The nginx target: one file for `conf.d/` with everything the stack's `site`s need at the
//! http level (rate-limit zones, the WebSocket `map`, one `upstream` per routed service port)
//! and, per site, an HTTP server (ACME challenge + redirect to HTTPS), an HTTPS server with
//! the routes as locations, and a server for `redirect-from` hosts.
//!
//! The file is rendered from the handlebars templates in `stdlib/templates/nginx/` (strict
//! mode, no HTML escaping). Every string that comes from the stack goes through the `q`
//! helper ([`quote`]): a value with anything but plain token characters is written as an
//! nginx double-quoted string, so that `;`, `{`, `}`, `#`, quotes, whitespace and newlines
//! cannot end a directive or open a block. What quoting cannot make safe — a `$`, which nginx
//! expands as a variable even inside quotes, control characters, a host name that is not a
//! host name — is rejected by [`check`] with E0501 at the entity's origin.
//!
//! Params are rendered with their compile-time defaults: nginx cannot read the deploy
//! environment.

mod edge;

use std::collections::HashSet;

use handlebars::handlebars_helper;
use serde::Serialize;

use super::{EmitOptions, OutputFile};
use crate::diagnostics::{origin_span, Code, Diagnostic};
use crate::ir::proxy::*;
use crate::ir::*;

mod fastcgi;
mod static_files;

const CONF: &str = include_str!("../../../../stdlib/templates/nginx/conf.hbs");
const LOCATION: &str = include_str!("../../../../stdlib/templates/nginx/location.hbs");
const TLS: &str = include_str!("../../../../stdlib/templates/nginx/tls.hbs");
const LISTEN_HTTPS: &str = include_str!("../../../../stdlib/templates/nginx/listen_https.hbs");
const PROXY_HANDLING: &str = include_str!("../../../../stdlib/templates/nginx/proxy_handling.hbs");

mod handling;

/// The embedded templates, by name (`stackc build --templates DIR` may override them).
pub const TEMPLATES: &[(&str, &str)] = &[
    ("conf", CONF),
    ("location", LOCATION),
    ("tls", TLS),
    ("listen_https", LISTEN_HTTPS),
    ("proxy_handling", PROXY_HANDLING),
];

/// The nginx version assumed without `targets { nginx version=… }`.
pub const DEFAULT_VERSION: &str = DEFAULT_NGINX_VERSION;

/// The generated file, relative to the output directory.
pub fn file_name(stack: &Stack) -> String {
    format!("nginx/conf.d/{}.conf", stack.name)
}

/// The target version, from `targets { nginx version=… }`.
pub fn version(stack: &Stack) -> String {
    stack.targets.options.get("nginx").and_then(|o| o.get("version")).cloned().unwrap_or_else(|| DEFAULT_VERSION.into())
}

/// `(major, minor, patch)` of a version string; missing parts are 0.
fn version_tuple(v: &str) -> (u32, u32, u32) {
    let mut parts = v
        .split(['.', '-'])
        .map(|p| p.chars().take_while(char::is_ascii_digit).collect::<String>().parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// `http2 on;` exists from nginx 1.25.1; before, `listen … http2`.
pub fn has_http2_directive(version: &str) -> bool {
    version_tuple(version) >= (1, 25, 1)
}

/// `server … resolve` in an `upstream` (re-resolving its name while nginx runs) exists in
/// open-source nginx from 1.27.3; before, only a variable in `proxy_pass` is re-resolved.
pub fn has_upstream_resolve(version: &str) -> bool {
    version_tuple(version) >= (1, 27, 3)
}

/// Per upstream of the plan, whether nginx (without `resolve`) proxies to it through a
/// variable, re-resolved with the plan's resolver: only one without settings, which exist only
/// in an `upstream` block. A block's name is resolved when nginx starts or reloads.
fn through_variable(plan: &ProxyPlan, version: &str) -> Vec<bool> {
    let resolve = has_upstream_resolve(version);
    plan.upstreams
        .iter()
        .map(|u| {
            // Host mode: 127.0.0.1 never changes address.
            !plan.host_mode
                && !resolve
                && u.balance == Balance::Default
                && u.max_fails.is_none()
                && u.fail_timeout_ms.is_none()
                && u.keepalive.is_none()
        })
        .collect()
}

/// Characters an nginx token may hold without quoting.
fn is_bare(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._~/:@%+=,*!?^()|[]&-".contains(c)
}

/// A value as one nginx token: bare when it holds only plain characters, else an nginx
/// double-quoted string (`\` and `"` escaped). nginx unescapes `\\`, `\"`, `\'`, `\t`, `\r`
/// and `\n` in every token, so a backslash is always escaped.
pub fn quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(is_bare) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

handlebars_helper!(q: |s: str| quote(s));

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// A value nginx would expand variables in, or that cannot be written at all.
fn unsafe_value(s: &str) -> Option<&'static str> {
    if has_control(s) {
        Some("a control character (newline, tab, …)")
    } else if s.contains('$') {
        Some("`$`, which nginx expands as a variable even inside quotes")
    } else {
        None
    }
}

/// A `Text` with params replaced by their defaults; `Err(param)` when one has none.
fn render_text(stack: &Stack, t: &Text) -> Result<String, String> {
    let mut out = String::new();
    for p in &t.0 {
        match p {
            Piece::Lit(s) => out.push_str(s),
            Piece::Param(n) => out.push_str(&stack.param_value(n).ok_or_else(|| n.clone())?),
            Piece::Secret(n) => return Err(n.clone()),
        }
    }
    Ok(out)
}

/// A string that may hold `${param}` (header values, `redirect-from` hosts).
fn render_str(stack: &Stack, s: &str) -> Result<String, String> {
    render_text(stack, &Text::from_default(s))
}

/// Bytes as an nginx size (`10m`, `512k`, or bytes).
pub fn size(b: u64) -> String {
    const K: u64 = 1024;
    if b > 0 && b.is_multiple_of(K * K * K) {
        format!("{}g", b / (K * K * K))
    } else if b > 0 && b.is_multiple_of(K * K) {
        format!("{}m", b / (K * K))
    } else if b > 0 && b.is_multiple_of(K) {
        format!("{}k", b / K)
    } else {
        b.to_string()
    }
}

/// Milliseconds as an nginx time in its largest exact unit (`1d`, `10m`, `60s`, `1500ms`).
pub fn time(ms: u64) -> String {
    for (unit, n) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
        if ms > 0 && ms.is_multiple_of(n) {
            return format!("{}{unit}", ms / n);
        }
    }
    format!("{ms}ms")
}

/// Upstreams whose names nginx resolves only when it starts or reloads: before 1.27.3, those
/// with settings that need an `upstream` block (the others go through a variable).
fn resolved_once(stack: &Stack) -> Vec<Diagnostic> {
    let Some(plan) = &stack.proxy_plan else { return Vec::new() };
    let version = version(stack);
    let first_site = stack.sites.first().map(|s| s.origin).unwrap_or_default();
    plan.upstreams
        .iter()
        .zip(through_variable(plan, &version))
        .filter(|(_, variable)| !has_upstream_resolve(&version) && !variable)
        .map(|(u, _)| {
            let origin = stack.proxy_origins.get(&format!("upstream {}", u.service)).copied().unwrap_or(first_site);
            Diagnostic::warning(
                Code::TargetApproximation,
                format!(
                    "nginx {version} resolves `{}` only when it starts or reloads: after its containers are recreated, requests go to their old addresses until nginx is reloaded",
                    u.service
                ),
            )
            .at(origin_span(origin), "needs an `upstream` block")
            .help("select nginx 1.27.3 or newer (`targets { nginx version=\"1.28\" }`), which re-resolves it (`server … resolve`), or drop the upstream's settings")
        })
        .collect()
}

/// What nginx cannot express or would misread for this stack.
pub fn check(stack: &Stack) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if stack.sites.is_empty() {
        return out;
    }
    out.extend(super::proxy_amounts_without_value(stack, TargetKind::Nginx));
    out.extend(resolved_once(stack));
    out.extend(edge::check(stack));
    let Some(proxy) = &stack.proxy else { return out };
    let first_site = stack.sites.first().map(|s| s.origin).unwrap_or_default();
    let err = |origin: Origin, msg: String, label: &str, help: &str| {
        Diagnostic::error(Code::TargetCannotExpress, msg).at(origin_span(origin), label).help(help.to_string())
    };
    let check_header = |name: &str, value: &str, origin: Origin, out: &mut Vec<Diagnostic>| {
        if !valid_header_name(name) {
            out.push(err(
                origin,
                format!("nginx cannot send a header named `{}`", name.escape_debug()),
                "header of this site",
                "a header name is letters, digits, `-` and `_`",
            ));
        }
        match render_str(stack, value) {
            Err(p) => out.push(err(
                origin,
                format!("header `{name}` uses param `{p}`, which has no default"),
                "nginx cannot read the deploy environment",
                "give the param a `default=`: nginx gets params' defaults",
            )),
            Ok(v) => {
                if let Some(why) = unsafe_value(&v) {
                    out.push(err(
                        origin,
                        format!("the value of header `{name}` contains {why}"),
                        "header of this site",
                        "nginx has no way to write this character literally in `add_header`; remove it",
                    ));
                }
            }
        }
    };
    for (n, v) in &proxy.headers {
        // The proxy node has no origin in the IR: report at the first site it applies to.
        check_header(n, v, first_site, &mut out);
    }
    for (name, z) in &proxy.rate_limits {
        if !valid_header_name(name) {
            out.push(err(
                z.origin,
                format!("nginx cannot name a rate-limit zone `{}`", name.escape_debug()),
                "this zone",
                "use letters, digits, `-` and `_`",
            ));
        }
    }
    for site in &stack.sites {
        let mut hosts: Vec<Result<String, String>> = site.hosts.iter().map(|h| render_text(stack, h)).collect();
        hosts.extend(site.redirect_from.iter().map(|h| render_str(stack, h)));
        for h in hosts {
            match h {
                Err(p) => out.push(err(
                    site.origin,
                    format!("a host of this site uses param `{p}`, which has no default"),
                    "nginx cannot read the deploy environment",
                    "give the param a `default=`: nginx gets params' defaults",
                )),
                Ok(h) if !valid_host(&h) => out.push(err(
                    site.origin,
                    format!("`{}` is not a host name nginx can serve", h.escape_debug()),
                    "host of this site",
                    "a host name is letters, digits, `-`, `.` (and `*` for a wildcard)",
                )),
                Ok(_) => {}
            }
        }
        for (n, v) in &site.headers {
            check_header(n, v, site.origin, &mut out);
        }
        if !site.basic_auth.is_empty() {
            // The users and their hashes go in a file nginx reads, not in the conf: it holds
            // the hashes, and stackc writes no secret.
            let users: Vec<String> = site
                .basic_auth
                .iter()
                .map(|b| format!("`{}`", render_str(stack, &b.user).unwrap_or_else(|_| b.user.clone())))
                .collect();
            let host = site.hosts.first().and_then(|h| render_text(stack, h).ok()).unwrap_or_default();
            out.push(
                Diagnostic::warning(
                    Code::TargetApproximation,
                    format!(
                        "nginx reads the users of `basic-auth` from /etc/nginx/htpasswd/{host}, which is not generated (it holds the password hashes): {} must be written there",
                        users.join(", ")
                    ),
                )
                .at(origin_span(site.origin), "basic-auth of this site")
                .help("write one `user:hash` line per `basic-auth` (the hash its `password-hash=` secret holds) into that file before starting nginx; with compose, into the `nginx-htpasswd` volume"),
            );
        }
        for cidr in &site.allow_from {
            if !valid_cidr(cidr) {
                out.push(err(
                    site.origin,
                    format!("`{}` is not an address range nginx can allow", cidr.escape_debug()),
                    "allow-from of this site",
                    "write an IP address or a CIDR range",
                ));
            }
        }
        for r in &site.routes {
            if has_control(&r.path) || r.path.is_empty() {
                out.push(err(
                    r.origin,
                    format!("nginx cannot match the path `{}`", r.path.escape_debug()),
                    "this route",
                    "remove control characters from the path",
                ));
            }
            let mut values: Vec<(&str, &str)> = Vec::new();
            match &r.action {
                Action::Files { root } => values.push(("files=", root)),
                Action::Redirect { to, .. } => values.push(("redirect=", to)),
                Action::Proxy { .. } | Action::Respond { .. } => {}
                Action::FastCgi { root, .. } => values.push(("root=", root)),
            }
            if let Some(f) = &r.fallback {
                values.push(("fallback=", f));
            }
            values.extend(r.static_values());
            for (what, v) in values {
                if let Some(why) = unsafe_value(v) {
                    out.push(err(
                        r.origin,
                        format!("the route's {what} contains {why}"),
                        "this route",
                        "nginx expands variables here; remove the character",
                    ));
                }
            }
            for h in r.request_headers.iter().chain(&r.response_headers) {
                check_header(&h.name, &h.value, h.origin, &mut out);
            }
            for h in &r.hide_headers {
                check_header(&render_str(stack, &h.name).unwrap_or_default(), "", h.origin, &mut out);
            }
            if r.strip_prefix && r.matching == Match::Regex {
                out.push(
                    Diagnostic::warning(Code::TargetApproximation, "nginx cannot strip a regular expression's match")
                        .at(origin_span(r.origin), "strip-prefix on a regex route")
                        .help("the request goes to the upstream with its full path; use a prefix route to strip it"),
                );
            }
        }
    }
    out.extend(stack.proxy_plan.as_ref().map(handling::check).unwrap_or_default());
    out
}

#[derive(Serialize)]
struct View {
    header: String,
    version: String,
    zones: Vec<ZoneV>,
    websocket: bool,
    geos: Vec<GeoV>,
    upstreams: Vec<UpstreamV>,
    catch_all: CatchAllV,
    sites: Vec<SiteV>,
    /// http-level directives of the cache zone and client timeouts, each without its `;`.
    http_directives: Vec<String>,
    /// The maps of the CORS policies.
    edge: edge::HttpV,
}

/// The `default_server`s that refuse hosts no site serves.
#[derive(Serialize)]
struct CatchAllV {
    https: bool,
    http2_on: bool,
    /// The sites' own plain-HTTP ports (`site > listen`): refused the same way.
    ports: Vec<u16>,
}

#[derive(Serialize)]
struct ZoneV {
    name: String,
    size: String,
    rate: String,
}

/// A site's `allow-from` as a `geo` variable: 1 for clients outside the ranges.
#[derive(Serialize)]
struct GeoV {
    var: String,
    allow: Vec<String>,
}

#[derive(Serialize)]
struct UpstreamV {
    name: String,
    method: Option<&'static str>,
    servers: Vec<String>,
    server_params: String,
    keepalive: Option<u32>,
    /// With `resolve`: the shared memory zone the servers' addresses live in, and the resolver.
    zone: Option<String>,
    resolver: Option<String>,
}

#[derive(Serialize)]
struct SiteV {
    https: bool,
    /// The port of a plain-HTTP site (80, or its `listen` port).
    http_port: u16,
    http2_on: bool,
    /// `https://<first host>$request_uri` (or `http://`), for `redirect-from` hosts.
    redirect_target: String,
    names: Vec<String>,
    http_names: Vec<String>,
    redirect_names: Vec<String>,
    tls: TlsV,
    headers: Vec<HeaderV>,
    body_limit: Option<String>,
    gzip: bool,
    /// The `geo` variable of the site's `allow-from`, tested before any location.
    deny_var: Option<String>,
    /// `resolver` for the locations that proxy through a variable (unless the TLS settings
    /// have one already).
    resolver: Option<String>,
    auth_realm: String,
    auth_file: Option<String>,
    locations: Vec<LocationV>,
    /// Named locations that answer the `respond`/`redirect` routes of a site with basic auth.
    named: Vec<NamedV>,
    /// `site > nginx`: raw directives, one indented line each.
    raw: Vec<String>,
    gzip_level: u32,
    /// `gzip_types`: nginx compresses `text/html` always (listing it is a warning).
    gzip_types: Vec<String>,
    /// `types { TYPE EXT…; }` of the site's `mime-type`s.
    mime_types: Vec<static_files::MimeV>,
    real_ip: Option<edge::RealIpV>,
    error_pages: Vec<edge::ErrorPageV>,
    intercept_errors: bool,
}

/// `return` runs in the rewrite phase, before `auth_basic` (access phase): behind basic
/// auth, a `respond`/`redirect` route's location reaches its answer through `try_files` (a
/// later phase) and this named location instead, so the password is asked first.
#[derive(Serialize)]
struct NamedV {
    name: String,
    headers: Vec<HeaderV>,
    ret: ReturnV,
}

#[derive(Serialize, Default)]
struct TlsV {
    profile: String,
    certificate: String,
    key: String,
    chain: String,
    protocols: &'static str,
    ciphers: Option<&'static str>,
    session_timeout: String,
    session_tickets: &'static str,
    ocsp: bool,
    resolver: String,
}

#[derive(Serialize, Clone)]
struct HeaderV {
    name: String,
    value: String,
    always: bool,
}

#[derive(Serialize)]
struct LocationV {
    modifier: Option<&'static str>,
    path: String,
    internal: bool,
    access_log_off: bool,
    body_limit: Option<String>,
    limit_req: Option<LimitReqV>,
    headers: Vec<HeaderV>,
    ret: Option<ReturnV>,
    /// The named location that answers instead of `ret` (see [`NamedV`]).
    deferred: Option<String>,
    files: Option<FilesV>,
    proxy: Option<ProxyV>,
    fastcgi: Option<fastcgi::FastCgiV>,
    /// `route > nginx`: raw directives, one indented line each.
    raw: Vec<String>,
    /// The CORS preflight and the method check, before everything else of the rewrite phase.
    edge: Option<edge::LocationV>,
}

#[derive(Serialize)]
struct LimitReqV {
    zone: String,
    burst: Option<u32>,
    nodelay: bool,
}

#[derive(Serialize)]
struct ReturnV {
    status: u16,
    url: Option<String>,
}

#[derive(Serialize)]
struct FilesV {
    directive: &'static str,
    path: String,
    fallback: Option<String>,
    index: String,
    /// `gzip_static on`: a file's `.gz` sibling for clients that accept gzip.
    gzip_static: bool,
}

#[derive(Serialize)]
struct ProxyV {
    /// `service:port`, re-resolved at request time through `$stackc_upstream`.
    variable: Option<String>,
    pass: String,
    rewrite: Option<String>,
    rewrite_to: String,
    /// `proxy_set_header`s: the forwarding headers, then the route's `request-header`s (the
    /// same name replaces a default), each value one nginx token.
    set_headers: Vec<HeaderV>,
    buffering_off: bool,
    hide_headers: Vec<String>,
    handling: handling::HandlingV,
}

/// Mozilla's profiles (ssl-config.mozilla.org, guideline 5.7). The intermediate profile's
/// DHE suites are left out: they need a `ssl_dhparam` file, and every client the profile
/// supports has ECDHE.
fn tls_view(tls: &Tls, host: &str, resolver: &str) -> TlsV {
    let dir = if tls.certificates == "letsencrypt" {
        format!("/etc/letsencrypt/live/{host}")
    } else {
        format!("/etc/nginx/certs/{host}")
    };
    let modern = tls.profile == "modern";
    TlsV {
        profile: if modern { "modern".into() } else { "intermediate".into() },
        certificate: format!("{dir}/fullchain.pem"),
        key: format!("{dir}/privkey.pem"),
        chain: format!("{dir}/chain.pem"),
        protocols: if modern { "TLSv1.3" } else { "TLSv1.2 TLSv1.3" },
        ciphers: (!modern).then_some(
            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
        ),
        session_timeout: time(tls.session_timeout_ms.unwrap_or(86_400_000)),
        session_tickets: if tls.session_tickets.unwrap_or(false) { "on" } else { "off" },
        ocsp: tls.ocsp && tls.certificates != "self-signed",
        resolver: resolver.to_string(),
    }
}

/// The headers a proxied location sends to the upstream: the forwarding headers (nginx
/// variables, written bare), the WebSocket upgrade or an empty `Connection` (which keeps an
/// upstream keepalive connection open), then the route's `request-header`s, quoted, each
/// replacing a default of the same name.
fn request_headers(stack: &Stack, r: &PlanRoute) -> Vec<HeaderV> {
    let mut out: Vec<HeaderV> = [
        ("Host", "$host"),
        ("X-Real-IP", "$remote_addr"),
        ("X-Forwarded-For", "$proxy_add_x_forwarded_for"),
        ("X-Forwarded-Proto", "$scheme"),
    ]
    .into_iter()
    .chain(if r.websocket {
        vec![("Upgrade", "$http_upgrade"), ("Connection", "$connection_upgrade")]
    } else {
        vec![("Connection", "\"\"")]
    })
    .map(|(name, value)| HeaderV { name: name.into(), value: value.into(), always: false })
    .collect();
    for (name, v) in &r.request_headers {
        let value = quote(&render_str(stack, v).unwrap_or_default());
        match out.iter_mut().find(|h| h.name.eq_ignore_ascii_case(name)) {
            Some(h) => h.value = value,
            None => out.push(HeaderV { name: name.clone(), value, always: false }),
        }
    }
    out
}

fn location(
    stack: &Stack,
    plan: &ProxyPlan,
    variable: &[bool],
    r: &PlanRoute,
    server_headers: &[HeaderV],
) -> LocationV {
    let (modifier, path) = match r.matching {
        Match::Prefix if r.before_regex => (Some("^~"), r.path.clone()),
        Match::Prefix => (None, r.path.clone()),
        Match::Exact => (Some("="), r.path.clone()),
        Match::Regex => match r.path.strip_prefix("(?i)") {
            Some(rest) => (Some("~*"), rest.to_string()),
            None => (Some("~"), r.path.clone()),
        },
    };
    let mut own_headers: Vec<HeaderV> = edge::response_headers(plan, r);
    own_headers.extend(r.response_headers.iter().map(|(name, v)| HeaderV {
        name: name.clone(),
        value: render_str(stack, v).unwrap_or_default(),
        always: true,
    }));
    // Not `always`: error responses must not be cached for a year.
    own_headers.extend(r.cache_control.iter().map(|v| HeaderV {
        name: "Cache-Control".into(),
        value: v.clone(),
        always: false,
    }));
    own_headers.extend(handling::cache_status_header(r));
    let mut hide_headers: Vec<String> =
        r.hide_headers.iter().map(|n| render_str(stack, n).unwrap_or_default()).collect();
    if r.cache_control.is_some() {
        hide_headers.push("Cache-Control".into());
    }
    hide_headers.extend(edge::hidden_upstream_headers(r));
    // nginx drops every inherited `add_header` in a location that has one of its own (raw
    // directives too): repeat them.
    let raw = raw_lines(&r.raw, TargetKind::Nginx, "        ");
    let raw_adds_header = raw.iter().any(|l| l.trim_start().starts_with("add_header"));
    let headers = if own_headers.is_empty() && !raw_adds_header {
        Vec::new()
    } else {
        let mut all: Vec<HeaderV> = server_headers
            .iter()
            .filter(|h| !own_headers.iter().any(|o| o.name.eq_ignore_ascii_case(&h.name)))
            .cloned()
            .collect();
        all.extend(own_headers);
        all
    };
    let mut loc = LocationV {
        modifier,
        path,
        internal: r.internal,
        access_log_off: !r.access_log,
        body_limit: r.body_limit.map(size),
        limit_req: r
            .rate_limit
            .as_ref()
            .and_then(|name| plan.zones.iter().find(|z| &z.name == name))
            .map(|z| LimitReqV { zone: z.name.clone(), burst: z.burst, nodelay: z.nodelay }),
        headers,
        ret: None,
        deferred: None,
        files: None,
        proxy: None,
        fastcgi: None,
        raw,
        edge: edge::location(plan, r),
    };
    match &r.action {
        PlanAction::Respond { status } => loc.ret = Some(ReturnV { status: *status, url: None }),
        PlanAction::Redirect { to, status } => loc.ret = Some(ReturnV { status: *status, url: Some(to.clone()) }),
        PlanAction::Files { root } => {
            let root = root.trim_end_matches('/');
            let (directive, path) = if r.matching == Match::Prefix && r.path != "/" {
                let slash = if r.path.ends_with('/') { "/" } else { "" };
                ("alias", format!("{root}{slash}"))
            } else {
                ("root", if root.is_empty() { "/".to_string() } else { root.to_string() })
            };
            loc.files = Some(FilesV {
                directive,
                path,
                fallback: r.fallback.clone().or_else(|| static_files::fallback_name(r)),
                index: r.index_file.clone(),
                gzip_static: r.precompressed,
            });
        }
        PlanAction::Proxy { upstream } => {
            let u = plan.upstream(*upstream);
            let through_variable = variable.get(*upstream).copied().unwrap_or(false);
            let name = if through_variable { "$stackc_upstream" } else { u.name.as_str() };
            // With a variable, a URI in `proxy_pass` replaces the whole request URI: the prefix
            // is stripped by `rewrite` instead.
            let (pass, rewrite, rewrite_to) = match (r.strip_prefix, r.matching) {
                (true, Match::Prefix) if r.path.ends_with('/') && !through_variable => {
                    (format!("http://{name}/"), None, "/$1")
                }
                (true, Match::Prefix) if r.path.ends_with('/') => {
                    (format!("http://{name}"), Some(format!("^{}(.*)$", regex_escape(&r.path))), "/$1")
                }
                (true, Match::Prefix) => {
                    (format!("http://{name}"), Some(format!("^{}/?(.*)$", regex_escape(&r.path))), "/$1")
                }
                (true, Match::Exact) if through_variable => (format!("http://{name}"), Some("^".into()), "/"),
                (true, Match::Exact) => (format!("http://{name}/"), None, "/$1"),
                _ => (format!("http://{name}"), None, "/$1"),
            };
            let (pass, rewrite, rewrite_to) =
                static_files::replace_prefix(r, name).unwrap_or_else(|| (pass, rewrite, rewrite_to.to_string()));
            let mut set_headers = request_headers(stack, r);
            edge::forwarded_for(plan, &mut set_headers);
            loc.proxy = Some(ProxyV {
                variable: through_variable.then(|| format!("{}:{}", u.service, u.port)),
                pass,
                rewrite,
                rewrite_to,
                set_headers,
                buffering_off: r.buffering_off,
                hide_headers,
                handling: handling::proxy_handling(plan, r),
            });
        }
        PlanAction::FastCgi { upstream, root, index, front_controller } => {
            let through_variable = variable.get(*upstream).copied().unwrap_or(false);
            loc.fastcgi = Some(fastcgi::view(
                stack,
                plan,
                r,
                *upstream,
                through_variable,
                root,
                index,
                front_controller,
                hide_headers,
            ));
        }
    }
    loc
}

fn view(stack: &Stack, plan: &ProxyPlan) -> View {
    let version = version(stack);
    let http2_on = has_http2_directive(&version);
    let zones = plan
        .zones
        .iter()
        .map(|z| ZoneV { name: z.name.clone(), size: size(z.size_bytes), rate: format!("{}r/{}", z.requests, z.per) })
        .collect();
    let variable = through_variable(plan, &version);
    let resolve = has_upstream_resolve(&version) && !plan.host_mode;
    let resolver = format!("{} valid={}", plan.resolver.address, time(plan.resolver.valid_ms));
    let upstreams = plan
        .upstreams
        .iter()
        .zip(&variable)
        .filter(|(_, v)| !**v)
        .map(|(u, _)| {
            let mut server_params = String::new();
            if let Some(n) = u.max_fails {
                server_params.push_str(&format!(" max_fails={n}"));
            }
            if let Some(ms) = u.fail_timeout_ms {
                server_params.push_str(&format!(" fail_timeout={}", time(ms)));
            }
            UpstreamV {
                name: u.name.clone(),
                method: match u.balance {
                    Balance::LeastConn => Some("least_conn"),
                    Balance::IpHash => Some("ip_hash"),
                    Balance::Default => None,
                },
                // The service's DNS name: Docker answers with every replica's address, and
                // nginx makes one server of each.
                servers: vec![u.address()],
                server_params: if resolve { format!("{server_params} resolve") } else { server_params },
                keepalive: u.keepalive,
                // Not the upstream's name: rate-limit zones share the namespace.
                zone: resolve.then(|| format!("stackc_upstream_{}", u.name)),
                resolver: resolve.then(|| resolver.clone()),
            }
        })
        .collect();
    let deny_vars = deny_vars(stack, plan);
    let geos = plan
        .sites
        .iter()
        .zip(&deny_vars)
        .filter_map(|(site, var)| Some(GeoV { var: var.clone()?, allow: site.allow_from.clone() }))
        .collect();
    let https = plan.https;
    let sites = plan
        .sites
        .iter()
        .zip(deny_vars)
        .map(|(site, deny_var)| {
            // A site with a port of its own is plain HTTP, whatever the proxy's TLS.
            let https = site.https;
            let names: Vec<String> = site.hosts.iter().map(|h| render_text(stack, h).unwrap_or_default()).collect();
            let redirect_names: Vec<String> =
                site.redirect_from.iter().map(|h| render_str(stack, h).unwrap_or_default()).collect();
            let first = names.first().cloned().unwrap_or_default();
            let headers: Vec<HeaderV> = site
                .headers
                .iter()
                .map(|(name, value)| HeaderV {
                    name: name.clone(),
                    value: render_str(stack, value).unwrap_or_default(),
                    always: true,
                })
                .collect();
            // In the order written: nginx picks a location by its own rules, whatever the order.
            let mut written: Vec<&PlanRoute> = site.routes.iter().collect();
            written.sort_by_key(|r| r.index);
            let mut locations: Vec<LocationV> =
                written.iter().map(|r| location(stack, plan, &variable, r, &headers)).collect();
            locations.extend(
                written.iter().filter_map(|r| static_files::fallback_location(stack, plan, &variable, r, &headers)),
            );
            let tls = tls_view(&plan.tls, &first, &resolver);
            let needs_resolver = locations.iter().any(|l| {
                l.proxy.as_ref().is_some_and(|p| p.variable.is_some())
                    || l.fastcgi.as_ref().is_some_and(fastcgi::FastCgiV::needs_resolver)
            });
            let site_resolver = (needs_resolver && !(https && tls.ocsp)).then(|| resolver.clone());
            let mut named = Vec::new();
            if !site.basic_auth.is_empty() {
                for (i, loc) in locations.iter_mut().enumerate() {
                    if let Some(ret) = loc.ret.take() {
                        let name = format!("@stackc_answer_{}", i + 1);
                        loc.deferred = Some(name.clone());
                        named.push(NamedV { name, headers: loc.headers.clone(), ret });
                    }
                }
            }
            SiteV {
                https,
                http_port: site.port,
                http2_on,
                redirect_target: match (https, site.port) {
                    (true, _) => format!("https://{first}$request_uri"),
                    (false, 80) => format!("http://{first}$request_uri"),
                    (false, port) => format!("http://{first}:{port}$request_uri"),
                },
                http_names: names.iter().chain(&redirect_names).cloned().collect(),
                names,
                redirect_names,
                tls,
                headers,
                body_limit: site.body_limit.map(size),
                gzip: site.gzip,
                deny_var,
                resolver: site_resolver,
                auth_realm: "Restricted".into(),
                auth_file: (!site.basic_auth.is_empty()).then(|| format!("/etc/nginx/htpasswd/{first}")),
                locations,
                named,
                raw: raw_lines(&site.raw, TargetKind::Nginx, "    "),
                gzip_level: site.gzip_level,
                gzip_types: site
                    .gzip_types
                    .iter()
                    .filter(|t| *t != "text/html")
                    .map(|t| render_str(stack, t).unwrap_or_default())
                    .collect(),
                mime_types: static_files::mime_types(site),
                real_ip: edge::real_ip(plan),
                error_pages: edge::error_pages(site),
                intercept_errors: site.intercept_errors,
            }
        })
        .collect();
    // The version lands in a comment: keep it to what a version can be.
    let version = if version.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
        version
    } else {
        format!("{}.{}.{}", version_tuple(&version).0, version_tuple(&version).1, version_tuple(&version).2)
    };
    View {
        header: super::header("#", stack).trim_end().to_string(),
        version,
        zones,
        websocket: plan.websocket,
        geos,
        upstreams,
        catch_all: CatchAllV { https, http2_on, ports: plan.site_ports.clone() },
        sites,
        http_directives: handling::http_directives(plan),
        edge: edge::http(plan),
    }
}

/// Per site, the name of the `geo` variable of its `allow-from` (`None` without one): made
/// from the first host, so that a reader can tell which site it belongs to, and unique.
fn deny_vars(stack: &Stack, plan: &ProxyPlan) -> Vec<Option<String>> {
    let mut used: HashSet<String> = HashSet::new();
    plan.sites
        .iter()
        .map(|site| {
            if site.allow_from.is_empty() {
                return None;
            }
            let host = site.hosts.first().and_then(|h| render_text(stack, h).ok()).unwrap_or_default();
            let base: String = format!("stackc_deny_{host}")
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
                .collect();
            let mut var = base.clone();
            let mut n = 2;
            while used.contains(&var) {
                var = format!("{base}_{n}");
                n += 1;
            }
            used.insert(var.clone());
            Some(var)
        })
        .collect()
}

/// Where a host-mode file goes (`proxy mode="host"`): compose runs no proxy.
const HOST_MODE_NOTE: &str =
    "# Host mode (`proxy mode=\"host\"`): the nginx on the host serves this file: copy it to\n\
# /etc/nginx/conf.d/ and reload nginx. Certificates are the host's (certbot on the host,\n\
# its webroot /var/www/certbot); the services listen on 127.0.0.1 (docker compose).\n";

pub fn emit(stack: &Stack, opts: &EmitOptions) -> Vec<OutputFile> {
    render(stack, opts).unwrap_or_else(|e| {
        vec![OutputFile::new(file_name(stack), format!("# stackc: the nginx template failed: {e}\n"))]
    })
}

/// The file, rendered from the templates with `opts.templates`' overrides; `Err` with the
/// message when a template does not parse or render.
pub fn render(stack: &Stack, opts: &EmitOptions) -> Result<Vec<OutputFile>, String> {
    let Some(plan) = &stack.proxy_plan else { return Ok(Vec::new()) };
    let mut hb = super::registry("nginx", TEMPLATES, opts)?;
    hb.register_helper("q", Box::new(q));
    let mut contents = hb.render("conf", &view(stack, plan)).map_err(|e| e.to_string().replace('\n', " "))?;
    if plan.host_mode {
        contents.insert_str(0, HOST_MODE_NOTE);
    }
    Ok(vec![OutputFile::new(file_name(stack), contents)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("/api/"), "/api/");
        assert_eq!(quote("x; return 200 pwned"), "\"x; return 200 pwned\"");
        assert_eq!(quote("a}\nserver {"), "\"a}\nserver {\"");
        assert_eq!(quote("\"q\""), "\"\\\"q\\\"\"");
        assert_eq!(quote("a\\"), "\"a\\\\\"");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("#x"), "\"#x\"");
    }

    #[test]
    fn versions() {
        assert!(!has_http2_directive("1.22"));
        assert!(!has_http2_directive("1.25.0"));
        assert!(has_http2_directive("1.25.1"));
        assert!(has_http2_directive("1.27"));
        assert!(has_http2_directive("2"));
    }

    #[test]
    fn sizes_and_times() {
        assert_eq!(size(10 * 1024 * 1024), "10m");
        assert_eq!(size(1000), "1000");
        assert_eq!(time(60_000), "1m");
        assert_eq!(time(90_000), "90s");
        assert_eq!(time(86_400_000), "1d");
        assert_eq!(time(1500), "1500ms");
    }
}
