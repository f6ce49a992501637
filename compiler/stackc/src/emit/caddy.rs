//! The Caddy target: one `caddy/Caddyfile` per stack with a global options block (the ACME
//! e-mail and CA) and, per `site`, a site block with automatic HTTPS, the headers, and the
//! routes as `handle`/`handle_path` blocks inside one `route` block, in the order nginx
//! would pick them, so that both proxies send a request to the same place.
//!
//! Escaping (Caddy 2.6's lexer and replacer): every user value is written as one token —
//! bare when it holds only plain characters, else in double quotes (`\"` for a quote), or in
//! backticks when it holds a backslash (a double-quoted token cannot end in one). Where
//! Caddy expands `{placeholders}` at run time (header values, `redir` targets, file roots),
//! braces are escaped as `\{` `\}`. What cannot be made safe is rejected by [`check`] with
//! E0501: `{$`, which Caddy replaces with an environment variable before it even reads the
//! tokens, control characters, and a few impossible combinations.
//!
//! Params with `env=` become `{$VAR:default}` (`{$VAR}` without a default), read from
//! Caddy's environment when it loads the file; other params get their default.

mod edge;

use serde::Serialize;

use super::{EmitOptions, OutputFile};
use crate::diagnostics::{origin_span, Code, Diagnostic};
use crate::ir::proxy::*;
use crate::ir::*;

mod fastcgi;
mod static_files;

const CADDYFILE: &str = include_str!("../../../../stdlib/templates/caddy/Caddyfile.hbs");
const ROUTE: &str = include_str!("../../../../stdlib/templates/caddy/route.hbs");
const TLS: &str = include_str!("../../../../stdlib/templates/caddy/tls.hbs");

mod handling;

/// The embedded templates, by name (`stackc build --templates DIR` may override them).
pub const TEMPLATES: &[(&str, &str)] = &[("Caddyfile", CADDYFILE), ("route", ROUTE), ("tls", TLS)];

/// The Caddy version assumed without `targets { caddy version=… }`: Debian 12's.
pub const DEFAULT_VERSION: &str = "2.6";

/// The generated file, relative to the output directory (compose mounts it at
/// `/etc/caddy/Caddyfile`).
pub const FILE_NAME: &str = "caddy/Caddyfile";

/// Let's Encrypt's staging directory, for `tls acme-ca="staging"`.
const LE_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// The target version, from `targets { caddy version=… }`.
pub fn version(stack: &Stack) -> String {
    stack.targets.options.get("caddy").and_then(|o| o.get("version")).cloned().unwrap_or_else(|| DEFAULT_VERSION.into())
}

fn version_tuple(v: &str) -> (u32, u32) {
    let mut parts =
        v.split('.').map(|p| p.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// `basic_auth` replaced `basicauth` in Caddy 2.8 (the old name still works there, with a
/// deprecation warning; 2.6 knows only `basicauth`).
pub fn basic_auth_directive(version: &str) -> &'static str {
    if version_tuple(version) >= (2, 8) {
        "basic_auth"
    } else {
        "basicauth"
    }
}

/// Characters a bare Caddyfile token may hold.
fn is_bare(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._~/:@%+=,*!?^()|[]&-".contains(c)
}

/// A value as one Caddyfile token, or `None` when Caddy's lexer cannot read it back
/// unchanged (a backtick together with a backslash that ends the value or precedes a quote).
pub fn quote(s: &str) -> Option<String> {
    if !s.is_empty() && s.chars().all(is_bare) && !s.starts_with('@') {
        return Some(s.to_string());
    }
    if !s.contains('"') && !s.contains('\\') {
        return Some(format!("\"{s}\""));
    }
    if !s.contains('`') {
        return Some(format!("`{s}`"));
    }
    // In a double-quoted token Caddy reads `\"` as a quote and keeps every other backslash.
    let chars: Vec<char> = s.chars().collect();
    let readable = chars.iter().enumerate().all(|(i, c)| *c != '\\' || chars.get(i + 1).is_some_and(|n| *n != '"'));
    readable.then(|| format!("\"{}\"", s.replace('"', "\\\"")))
}

/// Escapes the braces of a value that Caddy's replacer expands at run time.
fn escape_braces(s: &str) -> String {
    s.replace('{', "\\{").replace('}', "\\}")
}

/// What Caddy would misread in a user value, whatever the quoting.
fn unsafe_value(s: &str) -> Option<&'static str> {
    if s.chars().any(char::is_control) {
        Some("a control character (newline, tab, …)")
    } else if s.contains("{$") {
        Some("`{$`, which Caddy replaces with an environment variable before it reads the file")
    } else if s.contains('`') && quote(s).is_none() {
        Some("a backtick together with a backslash before a quote or at the end, which no Caddyfile token can hold")
    } else {
        None
    }
}

/// Characters a `{$VAR:default}` default may hold: Caddy pastes it into the file before
/// reading tokens, and the placeholder ends at the first `}`.
fn safe_default(d: &str) -> bool {
    !d.chars().any(|c| c.is_control() || "\"\\`{}".contains(c))
}

/// How literal text is written where a value lands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// Caddy expands `{placeholders}` here at run time: escape braces.
    Runtime,
    /// Read as is (host names, e-mail, user names).
    Plain,
}

/// A `Text` for Caddy: params with `env=` as `{$VAR:default}`, others as their default.
/// `Err(param)` for a param that has neither.
fn render_text(stack: &Stack, t: &Text, ctx: Ctx) -> Result<String, String> {
    let mut out = String::new();
    for p in &t.0 {
        match p {
            Piece::Lit(s) if ctx == Ctx::Runtime => out.push_str(&escape_braces(s)),
            Piece::Lit(s) => out.push_str(s),
            Piece::Param(n) => {
                let param = stack.params.get(n).ok_or_else(|| n.clone())?;
                let default = stack.param_value(n);
                match (&param.env, default) {
                    (Some(var), Some(d)) => out.push_str(&format!("{{${var}:{d}}}")),
                    (Some(var), None) => out.push_str(&format!("{{${var}}}")),
                    (None, Some(d)) if ctx == Ctx::Runtime => out.push_str(&escape_braces(&d)),
                    (None, Some(d)) => out.push_str(&d),
                    (None, None) => return Err(n.clone()),
                }
            }
            Piece::Secret(n) => return Err(n.clone()),
        }
    }
    Ok(out)
}

fn render_str(stack: &Stack, s: &str, ctx: Ctx) -> Result<String, String> {
    render_text(stack, &Text::from_default(s), ctx)
}

/// A rendered value as a token (checked values always have one).
fn token(s: &str) -> String {
    quote(s).unwrap_or_else(|| "\"\"".into())
}

/// Bytes as a Caddy size (`10MiB`, `512KiB`, or `N` bytes): binary units, as nginx's `m`.
pub fn size(b: u64) -> String {
    const K: u64 = 1024;
    if b > 0 && b.is_multiple_of(K * K * K) {
        format!("{}GiB", b / (K * K * K))
    } else if b > 0 && b.is_multiple_of(K * K) {
        format!("{}MiB", b / (K * K))
    } else if b > 0 && b.is_multiple_of(K) {
        format!("{}KiB", b / K)
    } else {
        format!("{b}B")
    }
}

/// Milliseconds as a Go duration (`1h`, `10m`, `60s`, `1500ms`); Go has no day unit.
pub fn duration(ms: u64) -> String {
    for (unit, n) in [("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
        if ms > 0 && ms.is_multiple_of(n) {
            return format!("{}{unit}", ms / n);
        }
    }
    format!("{ms}ms")
}

/// Paths a `path` matcher reads literally (it treats `*` as a wildcard, and `%`, `[` … as
/// escapes or glob syntax); other paths are matched with an escaped `path_regexp`.
fn plain_path(p: &str) -> bool {
    p.starts_with('/') && p.chars().all(|c| c.is_ascii_alphanumeric() || "/._~-".contains(c))
}

/// Where Caddy dials an upstream: `(static address, dynamic A lookup)`.
fn dial(u: &PlanUpstream) -> (Option<String>, Option<String>) {
    if u.host_port.is_some() {
        // Host mode: the service's loopback publish (validation refuses several replicas).
        (Some(u.address()), None)
    } else if u.replicas > 1 {
        // Docker's DNS answers with every replica: `dynamic a` balances over all of them
        // (a static upstream would dial whichever address the resolver returns first).
        (None, Some(format!("{} {}", u.service, u.port)))
    } else {
        (Some(format!("{}:{}", u.service, u.port)), None)
    }
}

/// What Caddy cannot express, or would misread, for this stack.
pub fn check(stack: &Stack) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if stack.sites.is_empty() {
        return out;
    }
    out.extend(super::proxy_amounts_without_value(stack, TargetKind::Caddy));
    out.extend(edge::check(stack));
    let Some(proxy) = &stack.proxy else { return out };
    let first_site = stack.sites.first().map(|s| s.origin).unwrap_or_default();
    let err = |origin: Origin, msg: String, label: &str, help: &str| {
        Diagnostic::error(Code::TargetCannotExpress, msg).at(origin_span(origin), label).help(help.to_string())
    };
    let warn = |origin: Origin, msg: String, label: &str, help: &str| {
        Diagnostic::warning(Code::TargetApproximation, msg).at(origin_span(origin), label).help(help.to_string())
    };
    // Params Caddy reads from its environment: their defaults are pasted into the file.
    let mut used_params: Vec<&str> = Vec::new();
    let mut texts: Vec<Text> = stack.sites.iter().flat_map(|s| s.hosts.iter().cloned()).collect();
    texts.extend(stack.sites.iter().flat_map(|s| &s.redirect_from).map(|h| Text::from_default(h)));
    texts.extend(
        proxy.headers.iter().chain(stack.sites.iter().flat_map(|s| &s.headers)).map(|(_, v)| Text::from_default(v)),
    );
    texts.extend(proxy.tls.email.iter().map(|e| Text::from_default(e)));
    texts.extend(stack.sites.iter().flat_map(|s| &s.basic_auth).map(|b| Text::from_default(&b.user)));
    for t in &texts {
        for p in &t.0 {
            if let Piece::Param(n) = p {
                if !used_params.contains(&n.as_str()) {
                    used_params.push(n);
                }
            }
        }
    }
    for name in used_params {
        let Some(param) = stack.params.get(name) else { continue };
        if param.env.is_none() {
            continue;
        }
        if let Some(d) = stack.param_value(name).filter(|d| !safe_default(d)) {
            out.push(err(
                param.origin,
                format!(
                    "the default of param `{name}` contains `{}`, which Caddy cannot read inside `{{$VAR:default}}`",
                    d.escape_debug()
                ),
                "used in the Caddyfile",
                "remove quotes, backslashes, backticks, braces and control characters from the default",
            ));
        }
        let var_ok = param
            .env
            .as_deref()
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if !var_ok {
            out.push(err(
                param.origin,
                format!("Caddy cannot read the environment variable of param `{name}`"),
                "used in the Caddyfile",
                "an `env=` name is letters, digits and `_`",
            ));
        }
    }
    if let Some(email) = &proxy.tls.email {
        match render_str(stack, email, Ctx::Plain) {
            Err(p) => out.push(err(
                first_site,
                format!("the ACME e-mail uses `{p}`, which has no value and no `env=`"),
                "sites served by Caddy",
                "give the param a `default=` or an `env=`",
            )),
            Ok(e) if !e.chars().all(|c| c.is_ascii_alphanumeric() || "@._+-{}$:".contains(c)) => out.push(err(
                first_site,
                format!("`{}` is not an e-mail address Caddy can take", e.escape_debug()),
                "sites served by Caddy",
                "write a plain address (letters, digits, `@._+-`)",
            )),
            Ok(_) => {}
        }
    }
    if let Some(ca) = proxy.tls.acme_ca.as_deref().filter(|c| *c != "staging") {
        if !ca.chars().all(|c| is_bare(c) || c == '#') {
            out.push(err(
                first_site,
                format!("`{}` is not an ACME directory URL Caddy can take", ca.escape_debug()),
                "sites served by Caddy",
                "write the directory's URL",
            ));
        }
    }
    if proxy.tls.session_timeout_ms.is_some() || proxy.tls.session_tickets == Some(false) {
        out.push(warn(
            first_site,
            "Caddy manages TLS sessions itself: `session-timeout=` and `session-tickets=#false` are not applied".into(),
            "sites served by Caddy",
            "Caddy rotates session ticket keys automatically; remove the settings or accept Caddy's defaults",
        ));
    }
    // One warning per zone, at the zone: its `rate=`, `burst=`, `nodelay=` and `size=` are
    // what goes unapplied; the routes that name it are labelled.
    for (name, z) in &proxy.rate_limits {
        let routes: Vec<&Route> =
            stack.sites.iter().flat_map(|s| &s.routes).filter(|r| r.rate_limit.as_deref() == Some(name)).collect();
        if routes.is_empty() {
            continue;
        }
        let mut d = warn(
            z.origin,
            format!(
                "Caddy (standard build) cannot rate-limit: zone `{name}` (`rate=`, `burst=`, `nodelay=`, `size=`) is not applied to `rate-limit=\"{name}\"` routes"
            ),
            "this zone",
            "rate limiting needs a Caddy plugin (caddy-ratelimit); use the nginx target where the limit matters",
        );
        for r in routes {
            d = d.label(origin_span(r.origin), "not rate-limited by Caddy");
        }
        out.push(d);
    }
    let check_header = |name: &str, value: &str, origin: Origin, out: &mut Vec<Diagnostic>| {
        if !valid_header_name(name) {
            out.push(err(
                origin,
                format!("Caddy cannot send a header named `{}`", name.escape_debug()),
                "header of this site",
                "a header name is letters, digits, `-` and `_`",
            ));
        }
        match render_str(stack, value, Ctx::Runtime) {
            Err(p) => out.push(err(
                origin,
                format!("header `{name}` uses param `{p}`, which has no value and no `env=`"),
                "header of this site",
                "give the param a `default=` or an `env=`",
            )),
            Ok(_) => {
                if let Some(why) = unsafe_value(value) {
                    out.push(err(
                        origin,
                        format!("the value of header `{name}` contains {why}"),
                        "header of this site",
                        "remove the character",
                    ));
                }
            }
        }
    };
    for (n, v) in &proxy.headers {
        // The proxy node has no origin in the IR: report at the first site it applies to.
        check_header(n, v, first_site, &mut out);
    }
    let plan_sites = stack.proxy_plan.as_ref().map_or(&[][..], |p| &p.sites[..]);
    for (si, site) in stack.sites.iter().enumerate() {
        let mut hosts: Vec<Result<String, String>> =
            site.hosts.iter().map(|h| render_text(stack, h, Ctx::Plain)).collect();
        hosts.extend(site.redirect_from.iter().map(|h| render_str(stack, h, Ctx::Plain)));
        for h in hosts {
            match h {
                Err(p) => out.push(err(
                    site.origin,
                    format!("a host of this site uses param `{p}`, which has no value and no `env=`"),
                    "host of this site",
                    "give the param a `default=` or an `env=`",
                )),
                Ok(h) => {
                    // `{$VAR:default}` pieces are checked with their params; the rest is a host name.
                    let mut rest = h.clone();
                    while let Some(i) = rest.find("{$") {
                        let end = rest[i..].find('}').map(|e| i + e + 1).unwrap_or(rest.len());
                        rest.replace_range(i..end, "x");
                    }
                    if !valid_host(&rest) {
                        out.push(err(
                            site.origin,
                            format!("`{}` is not a host name Caddy can serve", h.escape_debug()),
                            "host of this site",
                            "a host name is letters, digits, `-`, `.` (and `*` for a wildcard)",
                        ));
                    }
                }
            }
        }
        for (n, v) in &site.headers {
            check_header(n, v, site.origin, &mut out);
        }
        for cidr in &site.allow_from {
            if !valid_cidr(cidr) {
                out.push(err(
                    site.origin,
                    format!("`{}` is not an address range Caddy can allow", cidr.escape_debug()),
                    "allow-from of this site",
                    "write an IP address or a CIDR range",
                ));
            }
        }
        for b in &site.basic_auth {
            match render_str(stack, &b.user, Ctx::Plain) {
                Ok(u)
                    if u.is_empty()
                        || u.chars().any(|c| c.is_whitespace() || c.is_control() || "\"\\`".contains(c))
                        || (u.contains('{') && !u.starts_with("{$")) =>
                {
                    out.push(err(
                        site.origin,
                        format!("Caddy cannot take the basic-auth user `{}`", u.escape_debug()),
                        "basic-auth of this site",
                        "a user name without spaces, quotes, backslashes or braces",
                    ));
                }
                Err(p) => out.push(err(
                    site.origin,
                    format!("the basic-auth user uses param `{p}`, which has no value and no `env=`"),
                    "basic-auth of this site",
                    "give the param a `default=` or an `env=`",
                )),
                Ok(_) => {}
            }
            let from_env = stack.secrets.get(&b.password_secret).is_some_and(|s| matches!(&s.source, SecretSource::Env(v) if !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')));
            if !from_env {
                out.push(err(
                    site.origin,
                    format!("Caddy reads the basic-auth hash `{}` from its environment, but the secret is not an `env=` secret", b.password_secret),
                    "basic-auth of this site",
                    "declare the secret with `env=\"VAR\"` (the value is the output of `caddy hash-password`)",
                ));
            }
        }
        for (ri, r) in site.routes.iter().enumerate() {
            let mut values: Vec<(&str, &str)> = vec![("path", &r.path)];
            match &r.action {
                Action::Files { root } => values.push(("files=", root)),
                Action::Redirect { to, .. } => values.push(("redirect=", to)),
                Action::FastCgi { root, .. } => values.push(("root=", root)),
                _ => {}
            }
            if let Some(f) = &r.fallback {
                values.push(("fallback=", f));
            }
            values.extend(r.static_values());
            for (what, v) in values {
                if v.is_empty() || v == "{" || v == "}" {
                    out.push(err(
                        r.origin,
                        format!("Caddy cannot take the route's {what} `{v}`"),
                        "this route",
                        "write a path",
                    ));
                } else if let Some(why) = unsafe_value(v) {
                    out.push(err(
                        r.origin,
                        format!("the route's {what} contains {why}"),
                        "this route",
                        "remove the character",
                    ));
                }
            }
            for h in r.request_headers.iter().chain(&r.response_headers) {
                check_header(&h.name, &h.value, h.origin, &mut out);
            }
            for h in &r.hide_headers {
                check_header(&render_str(stack, &h.name, Ctx::Plain).unwrap_or_default(), "", h.origin, &mut out);
            }
            if r.strip_prefix && r.matching == Match::Regex {
                out.push(warn(
                    r.origin,
                    "Caddy cannot strip a regular expression's match".into(),
                    "strip-prefix on a regex route",
                    "the request goes to the upstream with its full path; use a prefix route to strip it",
                ));
            }
            let planned = plan_sites.get(si).and_then(|p| p.routes.iter().find(|p| p.index == ri));
            if let (Some(f), Some(FilesFallback::Outside)) = (&r.fallback, planned.and_then(files_fallback)) {
                out.push(warn(
                    r.origin,
                    format!("Caddy looks the fallback `{}` up in this route's directory, not in the route that matches it", f.escape_debug()),
                    "fallback outside the route's prefix",
                    "nginx hands the fallback to the route that matches it; Caddy serves the file of that name under `files=`: put the fallback under the route's prefix",
                ));
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
    global: Vec<String>,
    sites: Vec<SiteV>,
    /// The sites' own plain-HTTP ports (`site > listen`), each with a catch-all that aborts.
    site_ports: Vec<u16>,
}

#[derive(Serialize)]
struct TlsV {
    args: String,
    protocols: Option<&'static str>,
}

#[derive(Serialize, Clone)]
struct HeaderV {
    name: String,
    value: String,
}

#[derive(Serialize)]
struct MatcherV {
    name: String,
    spec: String,
}

#[derive(Serialize)]
struct UserV {
    user: String,
    hash: String,
}

#[derive(Serialize)]
struct RedirectV {
    addresses: String,
    target: String,
}

#[derive(Serialize)]
struct SiteV {
    addresses: String,
    redirect: Option<RedirectV>,
    tls: Option<TlsV>,
    headers: Vec<HeaderV>,
    gzip: bool,
    body_limit: Option<String>,
    /// The matcher of requests whose Content-Length is over the site's limit.
    body_over_limit: Option<String>,
    /// Caddy 2.6 answers a body over `request_body`'s limit with 502 when `reverse_proxy`
    /// is the reader (caddy#5652): the site's error handler turns it into nginx's 413.
    body_limit_errors: bool,
    access_log: bool,
    matchers: Vec<MatcherV>,
    deny: Option<String>,
    basic_auth_directive: &'static str,
    basic_auth: Vec<UserV>,
    routes: Vec<RouteV>,
    /// `site > caddy`: raw directives, one indented line each.
    raw: Vec<String>,
    /// `encode { gzip LEVEL match { header Content-Type … } }` when the level or the types are
    /// not the defaults (else `encode gzip`, with Caddy's own list of text types).
    gzip_settings: Option<static_files::GzipV>,
    error_pages: Vec<edge::ErrorPageV>,
    /// A `handle_errors` block: error pages, or the body limit's errors.
    handle_errors: bool,
}

#[derive(Serialize, Default, Clone)]
struct RouteV {
    directive: &'static str,
    matcher: String,
    skip_log: bool,
    body_limit: Option<String>,
    body_over_limit: Option<String>,
    cache_control: Option<String>,
    /// The route's response headers, as tokens (after the upstream's: `defer`).
    headers: Vec<HeaderV>,
    rewrite: Option<String>,
    strip_prefix: Option<String>,
    respond: Option<u16>,
    redir: Option<RedirV>,
    files: Option<FilesV>,
    proxy: Option<ProxyV>,
    fastcgi: Option<fastcgi::FastCgiV>,
    /// `route > caddy`: raw directives, one indented line each.
    raw: Vec<String>,
    /// `uri path_regexp` arguments: `replace-prefix=`.
    uri_path_regexp: Option<String>,
    /// CORS and the accepted methods.
    edge: Option<edge::RouteV>,
}

#[derive(Serialize, Clone)]
struct RedirV {
    to: String,
    status: u16,
}

#[derive(Serialize, Clone)]
struct FilesV {
    root: String,
    fallback: Option<String>,
    /// `file_server` settings (`index`, `precompressed`), one per line.
    options: Vec<String>,
    /// With `fallback-to=`: the `file` matcher of the files that exist, and the route that
    /// proxies the others.
    found: Option<String>,
    app: Option<Box<RouteV>>,
    /// `header` arguments that give the site's `mime-type`s to the files served.
    content_types: Vec<String>,
}

#[derive(Serialize, Clone)]
struct ProxyV {
    to: Option<String>,
    dynamic: Option<String>,
    lb_policy: Option<&'static str>,
    fail_duration: Option<String>,
    max_fails: u32,
    flush: bool,
    /// `header_up` / `header_down` arguments: the route's request headers and hidden ones.
    header_up: Vec<String>,
    /// The client's address for X-Real-IP: `{client_ip}` behind trusted proxies.
    client_ip: &'static str,
    /// The upstream's statuses that the site's error pages replace (`intercept=#true`).
    intercept: Option<String>,
    header_down: Vec<String>,
    transport: Vec<String>,
    /// The site's internal routes, served when the upstream answers with `X-Accel-Redirect`
    /// (nginx follows it into `internal` locations; Caddy's `handle_response` does it here).
    handoff: Vec<RouteV>,
}

/// Where a `files=` route's `fallback=` is looked up, when the route strips its prefix.
enum FilesFallback {
    /// Under the prefix: the path below the route's directory (`/spa/index.html` of route
    /// `/spa/` is `/index.html`), as `try_files` runs after the prefix is stripped.
    Stripped(String),
    /// Elsewhere: nginx's `try_files` hands it to the location that matches it; Caddy's looks
    /// it up under the route's directory (warning).
    Outside,
}

/// `None` when the route does not strip (no fallback, not `files=`, `/`, exact, regex): the
/// fallback is a path under the root as written.
fn files_fallback(r: &PlanRoute) -> Option<FilesFallback> {
    let f = r.fallback.as_deref()?;
    if !matches!(r.action, PlanAction::Files { .. }) || r.matching != Match::Prefix || r.path == "/" {
        return None;
    }
    // A prefix without a trailing slash strips only at a segment boundary for the fallback:
    // `/spa` strips `/spa/index.html`, not `/spary.html`.
    let base = r.path.trim_end_matches('/');
    match f.strip_prefix(base) {
        Some(rest) if rest.starts_with('/') => Some(FilesFallback::Stripped(rest.to_string())),
        _ => Some(FilesFallback::Outside),
    }
}

/// A matcher of requests that announce a body over `limit` bytes. `request_body` alone
/// fails such a request only when the body is read, and `reverse_proxy` then counts the
/// failure against the upstream (passive health checks: a few large uploads would take a
/// healthy service out of rotation) and answers 502 (Caddy 2.6); nginx refuses them with
/// 413 before contacting the upstream. Chunked bodies have no Content-Length: for them the
/// `request_body` limit and the site's `handle_errors` answer 413.
fn over_limit(name: String, limit: u64) -> MatcherV {
    let header = "{http.request.header.Content-Length}";
    MatcherV {
        name,
        spec: format!("expression {}", token(&format!("{header}.matches(\"^[0-9]+$\") && int({header}) > {limit}"))),
    }
}

/// The limits of a site's requests: `(site, per route)`. Caddy's `request_body` wraps the
/// body once per block that sets it, so the smallest limit wins; a route may only lower the
/// site's. When one raises it (or lifts it, with 0), every route gets its own limit and the
/// site none. 0 is no limit, in nginx and in Caddy.
fn body_limits(site: &PlanSite) -> (Option<u64>, Vec<Option<u64>>) {
    let site_limit = site.body_limit;
    let raises = |r: &PlanRoute| match (site_limit, r.body_limit) {
        (Some(s), Some(l)) => s > 0 && (l == 0 || l > s),
        _ => false,
    };
    let per_route = site.routes.iter().any(|r| !r.internal && raises(r));
    let routes = site
        .routes
        .iter()
        .map(|r| if per_route { r.body_limit.or(site_limit) } else { r.body_limit }.filter(|b| *b > 0))
        .collect();
    (if per_route { None } else { site_limit.filter(|b| *b > 0) }, routes)
}

fn route_view(
    stack: &Stack,
    plan: &ProxyPlan,
    r: &PlanRoute,
    limit: Option<u64>,
    matchers: &mut Vec<MatcherV>,
) -> RouteV {
    let index = r.index + 1;
    let name = format!("route{index}");
    let mut v = RouteV {
        directive: "handle",
        skip_log: !r.access_log,
        raw: raw_lines(&r.raw, TargetKind::Caddy, "\t\t\t"),
        ..RouteV::default()
    };
    let strip = r.strip_prefix && !r.internal && matches!(r.action, PlanAction::Proxy { .. });
    // Files under a prefix are served like nginx's `alias`: the prefix is stripped and the
    // rest looked up under the root.
    let strip_files = r.matching == Match::Prefix && r.path != "/" && matches!(r.action, PlanAction::Files { .. });
    match r.matching {
        Match::Prefix if r.path == "/" => {}
        Match::Prefix if plain_path(&r.path) => {
            v.matcher = format!("{}*", r.path);
            if (strip || strip_files) && !r.internal {
                v.directive = "handle_path";
            }
        }
        Match::Prefix => {
            matchers.push(MatcherV {
                name: name.clone(),
                spec: format!("path_regexp {}", token(&format!("^{}", regex_escape(&r.path)))),
            });
            v.matcher = format!("@{name}");
            if (strip || strip_files) && !r.internal {
                v.strip_prefix = Some(token(&escape_braces(&r.path)));
            }
        }
        Match::Exact => {
            if plain_path(&r.path) {
                v.matcher = r.path.clone();
            } else {
                matchers.push(MatcherV {
                    name: name.clone(),
                    spec: format!("path_regexp {}", token(&format!("^{}$", regex_escape(&r.path)))),
                });
                v.matcher = format!("@{name}");
            }
            if strip {
                v.rewrite = Some("/".into());
            }
        }
        Match::Regex => {
            matchers.push(MatcherV { name: name.clone(), spec: format!("path_regexp {}", token(&r.path)) });
            v.matcher = format!("@{name}");
        }
    }
    if r.internal {
        // External requests never reach an internal route (nginx: `internal`).
        v.respond = Some(404);
        return v;
    }
    v.edge = edge::route(plan, r, matchers);
    if let Some(b) = limit {
        let name = format!("body_over_limit{index}");
        matchers.push(over_limit(name.clone(), b));
        v.body_limit = Some(size(b));
        v.body_over_limit = Some(name);
    }
    v.cache_control = r.cache_control.as_deref().map(token);
    let value = |v: &str| token(&render_str(stack, v, Ctx::Runtime).unwrap_or_default());
    v.headers = r.response_headers.iter().map(|(name, v)| HeaderV { name: name.clone(), value: value(v) }).collect();
    match &r.action {
        PlanAction::Respond { status } => v.respond = Some(*status),
        PlanAction::Redirect { to, status } => {
            v.redir = Some(RedirV { to: token(&escape_braces(to)), status: *status })
        }
        PlanAction::Files { root } => {
            let root = root.trim_end_matches('/');
            let root = if root.is_empty() { "/" } else { root };
            let fallback = match files_fallback(r) {
                Some(FilesFallback::Stripped(f)) => Some(f),
                _ => r.fallback.clone(),
            };
            v.files = Some(FilesV {
                root: token(&escape_braces(root)),
                fallback: fallback.map(|f| token(&escape_braces(&f))),
                options: static_files::file_server_options(r),
                found: None,
                app: None,
                content_types: Vec::new(),
            });
            static_files::fallback_to(stack, plan, r, strip_files, &mut v);
        }
        PlanAction::Proxy { upstream } => {
            v.uri_path_regexp = static_files::replace_prefix(r);
            let u = plan.upstream(*upstream);
            let (to, dynamic) = dial(u);
            let mut transport = Vec::new();
            if let Some(k) = u.keepalive {
                transport.push(format!("keepalive_idle_conns_per_host {k}"));
            }
            transport.extend(handling::transport(r));
            let lb_policy = match u.balance {
                Balance::LeastConn => Some("least_conn"),
                Balance::IpHash => Some("ip_hash"),
                // Caddy's default is `random`; nginx's is round robin.
                Balance::Default if dynamic.is_some() => Some("round_robin"),
                Balance::Default => None,
            };
            let passive = u.max_fails.is_some() || u.fail_timeout_ms.is_some();
            v.proxy = Some(ProxyV {
                to,
                dynamic,
                lb_policy,
                // nginx's defaults: max_fails=1, fail_timeout=10s.
                fail_duration: passive.then(|| duration(u.fail_timeout_ms.unwrap_or(10_000))),
                max_fails: u.max_fails.unwrap_or(1),
                flush: r.buffering_off,
                header_up: edge::forwarded_for(plan, &version(stack))
                    .into_iter()
                    .chain(r.request_headers.iter().map(|(name, v)| {
                        if v.is_empty() {
                            format!("-{name}")
                        } else {
                            format!("{name} {}", value(v))
                        }
                    }))
                    .collect(),
                client_ip: edge::client_ip(plan, &version(stack)),
                intercept: None,
                header_down: r
                    .hide_headers
                    .iter()
                    .map(|name| format!("-{}", render_str(stack, name, Ctx::Plain).unwrap_or_default()))
                    .chain(edge::hidden_upstream_headers(r))
                    .collect(),
                transport,
                handoff: Vec::new(),
            });
        }
        PlanAction::FastCgi { upstream, root, front_controller, .. } => {
            v.fastcgi = Some(fastcgi::view(stack, plan, r, *upstream, root, front_controller));
        }
    }
    v
}

fn view(stack: &Stack, plan: &ProxyPlan) -> View {
    let version = version(stack);
    let https = plan.https;
    let proxy = plan;
    let mut global = Vec::new();
    if https {
        if let Some(e) = proxy.tls.email.as_deref().and_then(|e| render_str(stack, e, Ctx::Plain).ok()) {
            global.push(format!("email {e}"));
        }
        match proxy.tls.acme_ca.as_deref() {
            Some("staging") => global.push(format!("acme_ca {LE_STAGING}")),
            Some(url) => global.push(format!("acme_ca {}", token(url))),
            None => {}
        }
        if !proxy.tls.ocsp {
            global.push("ocsp_stapling off".into());
        }
    }
    global.extend(handling::global(plan));
    global.extend(edge::global(plan, &version));
    let tls = |first: &str| -> Option<TlsV> {
        let protocols = (proxy.tls.profile == "modern").then_some("tls1.3");
        let args = match proxy.tls.certificates.as_str() {
            "none" => return None,
            "self-signed" => "internal".to_string(),
            "external" => {
                let dir = format!("/etc/caddy/certs/{first}");
                format!("{} {}", token(&format!("{dir}/fullchain.pem")), token(&format!("{dir}/privkey.pem")))
            }
            _ => String::new(),
        };
        (!args.is_empty() || protocols.is_some()).then_some(TlsV { args, protocols })
    };
    // A site with a port of its own is plain HTTP there, whatever the proxy's TLS.
    let address = |site: &PlanSite, host: &str| match (site.https, site.port) {
        (true, _) => host.to_string(),
        (false, 80) => format!("http://{host}"),
        (false, port) => format!("http://{host}:{port}"),
    };
    let mut used_names: Vec<String> = Vec::new();
    let sites = plan
        .sites
        .iter()
        .enumerate()
        .map(|(si, site)| {
            let hosts: Vec<String> =
                site.hosts.iter().map(|h| render_text(stack, h, Ctx::Plain).unwrap_or_default()).collect();
            let first = hosts.first().cloned().unwrap_or_default();
            let addresses = hosts.iter().map(|h| address(site, h)).collect::<Vec<_>>().join(", ");
            let redirect_hosts: Vec<String> =
                site.redirect_from.iter().map(|h| render_str(stack, h, Ctx::Plain).unwrap_or_default()).collect();
            let redirect = (!redirect_hosts.is_empty()).then(|| RedirectV {
                addresses: redirect_hosts.iter().map(|h| address(site, h)).collect::<Vec<_>>().join(", "),
                target: token(&if site.https {
                    format!("https://{first}{{uri}}")
                } else {
                    format!("{}{{uri}}", address(site, &first))
                }),
            });
            let headers = site
                .headers
                .iter()
                .map(|(name, value)| HeaderV {
                    name: name.clone(),
                    value: token(&render_str(stack, value, Ctx::Runtime).unwrap_or_default()),
                })
                .collect();
            let mut matchers = Vec::new();
            let deny = (!site.allow_from.is_empty()).then(|| {
                let mut name = format!("denied{}", if si == 0 { String::new() } else { si.to_string() });
                while used_names.contains(&name) {
                    name.push('_');
                }
                used_names.push(name.clone());
                matchers.push(MatcherV {
                    name: name.clone(),
                    spec: format!("not remote_ip {}", site.allow_from.join(" ")),
                });
                name
            });
            let basic_auth = site
                .basic_auth
                .iter()
                .map(|b| {
                    let var = match stack.secrets.get(&b.password_secret).map(|s| &s.source) {
                        Some(SecretSource::Env(v)) => v.clone(),
                        _ => String::new(),
                    };
                    UserV {
                        user: render_str(stack, &b.user, Ctx::Plain).unwrap_or_default(),
                        hash: format!("{{${var}}}"),
                    }
                })
                .collect();
            let (site_limit, route_limits) = body_limits(site);
            let body_over_limit = site_limit.map(|b| {
                matchers.push(over_limit("body_over_limit".into(), b));
                "body_over_limit".to_string()
            });
            let mut routes: Vec<RouteV> = site
                .routes
                .iter()
                .zip(route_limits)
                .map(|(r, limit)| route_view(stack, plan, r, limit, &mut matchers))
                .collect();
            static_files::content_types(site, &mut routes, &mut matchers);
            // The internal routes as they answer a hand-off: their matchers are the site's
            // already (the 404 views defined them), and the body was read by the first proxy.
            let handoff: Vec<RouteV> = site
                .routes
                .iter()
                .filter(|r| r.internal)
                .map(|r| {
                    let open = PlanRoute { internal: false, ..r.clone() };
                    // A hand-off is the upstream's own request: no preflight, no method check.
                    RouteV { edge: None, ..route_view(stack, plan, &open, None, &mut Vec::new()) }
                })
                .collect();
            if !handoff.is_empty() {
                for p in routes.iter_mut().filter_map(|r| r.proxy.as_mut()) {
                    p.handoff = handoff.clone();
                }
            }
            let intercept = edge::intercepted(site);
            for p in routes.iter_mut().filter_map(|r| r.proxy.as_mut()) {
                p.intercept = intercept.clone();
            }
            let body_limit = site_limit.map(size);
            let error_pages = edge::error_pages(site);
            let body_limit_errors = body_limit.is_some() || routes.iter().any(|r| r.body_limit.is_some());
            SiteV {
                addresses,
                redirect,
                tls: if site.https { tls(&first) } else { None },
                headers,
                gzip: site.gzip,
                gzip_settings: static_files::gzip_settings(stack, site),
                handle_errors: body_limit_errors || !error_pages.is_empty(),
                error_pages,
                body_limit_errors,
                body_limit,
                body_over_limit,
                access_log: true,
                matchers,
                deny,
                basic_auth_directive: basic_auth_directive(&version),
                basic_auth,
                routes,
                raw: raw_lines(&site.raw, TargetKind::Caddy, "\t"),
            }
        })
        .collect();
    // The version lands in a comment: keep it to what a version can be.
    let version = if version.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
        version
    } else {
        let (a, b) = version_tuple(&version);
        format!("{a}.{b}")
    };
    View {
        header: super::header("#", stack).trim_end().to_string(),
        version,
        global,
        sites,
        site_ports: plan.site_ports.clone(),
    }
}

/// Where a host-mode Caddyfile goes (`proxy mode="host"`): compose runs no proxy.
const HOST_MODE_NOTE: &str = "# Host mode (`proxy mode=\"host\"`): the Caddy on the host serves this file: make it\n\
# /etc/caddy/Caddyfile, or `import` it from there (its global options block then moves to\n\
# the top of that file). The services listen on 127.0.0.1 (docker compose).\n";

/// The Caddyfile, rendered from the templates with `opts.templates`' overrides; `Err` with
/// the message when a template does not parse or render.
pub fn render(stack: &Stack, opts: &EmitOptions) -> Result<Vec<OutputFile>, String> {
    let Some(plan) = &stack.proxy_plan else { return Ok(Vec::new()) };
    let hb = super::registry("caddy", TEMPLATES, opts)?;
    let mut contents = hb.render("Caddyfile", &view(stack, plan)).map_err(|e| e.to_string().replace('\n', " "))?;
    if plan.host_mode {
        contents.insert_str(0, HOST_MODE_NOTE);
    }
    Ok(vec![OutputFile::new(FILE_NAME, contents)])
}

/// The Caddyfile with the embedded templates.
pub fn emit(stack: &Stack, opts: &EmitOptions) -> Vec<OutputFile> {
    render(stack, opts)
        .unwrap_or_else(|e| vec![OutputFile::new(FILE_NAME, format!("# stackc: the Caddy template failed: {e}\n"))])
}

/// The environment variables the Caddyfile reads (`{$VAR}`), with the param or secret each
/// comes from, in first-use order: the container that runs Caddy must have them.
pub fn env_vars(stack: &Stack) -> Vec<String> {
    let text = render(stack, &EmitOptions::default())
        .ok()
        .and_then(|f| f.into_iter().next())
        .map(|f| f.contents)
        .unwrap_or_default();
    let mut out: Vec<String> = Vec::new();
    // Comment lines explain the syntax; only directives read variables.
    let text: String = text.lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n");
    let mut rest = text.as_str();
    while let Some(i) = rest.find("{$") {
        let tail = &rest[i + 2..];
        let end = tail.find([':', '}']).unwrap_or(tail.len());
        let var = tail[..end].to_string();
        if !var.is_empty() && !out.contains(&var) {
            out.push(var);
        }
        rest = &tail[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("/api/").as_deref(), Some("/api/"));
        assert_eq!(quote("a b").as_deref(), Some("\"a b\""));
        assert_eq!(quote("@x").as_deref(), Some("\"@x\""));
        assert_eq!(quote("a\"b").as_deref(), Some("`a\"b`"));
        assert_eq!(quote("a\\").as_deref(), Some("`a\\`"));
        assert_eq!(quote("`\"").as_deref(), Some("\"`\\\"\""));
        assert_eq!(quote("`\\\""), None);
        assert_eq!(quote("`a\\"), None);
        assert_eq!(quote("").as_deref(), Some("\"\""));
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(size(10 * 1024 * 1024), "10MiB");
        assert_eq!(size(1000), "1000B");
        assert_eq!(duration(86_400_000), "24h");
        assert_eq!(duration(90_000), "90s");
        assert_eq!(duration(1500), "1500ms");
    }

    #[test]
    fn versions() {
        assert_eq!(basic_auth_directive("2.6"), "basicauth");
        assert_eq!(basic_auth_directive("2.8.4"), "basic_auth");
        assert_eq!(basic_auth_directive("3"), "basic_auth");
    }
}
