//! The proxy plan: every `site` lowered once (`lower::proxy`) into what the proxy targets
//! render — nginx, Caddy and the Kubernetes Ingress. Routes are in the order a request is
//! matched, upstreams are resolved to a name, address and port, and every default (the
//! security-header preset, HSTS, body limit, gzip, rate-limit zone size, Cache-Control, the
//! read and send timeouts of `timeout=`, the cache zone) is decided here, so that a feature
//! is decided once and rendered three times.
//!
//! Values that may hold `${param}` stay as written: each target renders params its own way.

use serde::Serialize;

use super::{BasicAuth, Match, Origin, RawDirectives, TargetKind, Text, Tls};

/// The nginx version assumed without `targets { nginx version=… }` (the nginx file's syntax
/// and the compose image's tag): the stable line of 2025 (1.22, Debian 12's, is out of support).
pub const DEFAULT_NGINX_VERSION: &str = "1.28";

/// The file a `files=` route serves for a directory without `index=` (nginx's and Caddy's own).
pub const DEFAULT_INDEX: &str = "index.html";

/// The gzip level without `gzip level=`: most of level 9's gain for a fraction of its CPU.
pub const DEFAULT_GZIP_LEVEL: u32 = 5;

/// The media types compressed without `gzip-types`.
pub const DEFAULT_GZIP_TYPES: &[&str] = &[
    "text/html",
    "text/plain",
    "text/css",
    "text/xml",
    "application/xml",
    "application/json",
    "application/javascript",
    "image/svg+xml",
];

#[derive(Debug, Clone, Serialize)]
pub struct ProxyPlan {
    /// Whether sites are served over HTTPS (`tls certificates=` is not `none`).
    pub https: bool,
    pub tls: Tls,
    /// The rate-limit zones that a route uses, in declaration order.
    pub zones: Vec<Zone>,
    /// Every `(service, port)` a route proxies to, in first-use order.
    pub upstreams: Vec<PlanUpstream>,
    /// Whether a route upgrades to WebSocket.
    pub websocket: bool,
    pub sites: Vec<PlanSite>,
    /// The DNS server that upstream names are re-resolved with while the proxy runs (a
    /// recreated container has a new address), and how long an answer is kept.
    pub resolver: Resolver,
    /// What the proxy container mounts besides its own files: the directories of `fastcgi=`
    /// routes, read-only, from the mount of the FastCGI service that holds them, at the same
    /// path (the proxy serves the static files and checks that a script exists).
    pub mounts: Vec<super::Mount>,
    /// The proxy cache zone, when a route uses the cache (`proxy > cache`, or the defaults).
    pub cache_zone: Option<CacheZone>,
    /// `proxy > client-timeouts`: how long the proxy waits for a request's header and body.
    pub client_timeouts: Option<PlanClientTimeouts>,
    /// The networks the proxy joins as the stack names them (`proxy > networks`); empty: the
    /// fewest through which it reaches every routed service (chosen where the routed services'
    /// networks are known, compose).
    pub networks: Vec<String>,
    /// The sites' own plain-HTTP ports (`site > listen`), other than 80, once each in site
    /// order: the proxy listens on and publishes them too.
    pub site_ports: Vec<u16>,
    /// The host ports the proxy's 80 and 443 are published on (`proxy > ports`; 80 and 443
    /// by default), as written (a `${param}` stays one), and their compile-time values.
    pub http_port: PublishedPort,
    pub https_port: PublishedPort,
    /// Every distinct CORS policy of the routes, in first-use order.
    pub cors: Vec<PlanCors>,
    /// The trusted proxies whose address header gives the client's address.
    pub real_ip: Option<PlanRealIp>,
    /// `X-Forwarded-For` to upstreams is the client's address alone, not appended to what
    /// the client sent.
    pub forwarded_for_replace: bool,
    /// `proxy mode="host"`: the proxy runs on the host, not in compose, and reaches each
    /// upstream on 127.0.0.1 at its [`PlanUpstream::host_port`].
    pub host_mode: bool,
}

/// The zone responses are cached in: on disk under `path`, its keys in `size` bytes of
/// shared memory, an entry removed after `inactive_ms` without a request, at most `max_size`.
#[derive(Debug, Clone, Serialize)]
pub struct CacheZone {
    pub name: String,
    pub path: String,
    pub size_bytes: u64,
    pub inactive_ms: u64,
    pub max_size: Option<u64>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanClientTimeouts {
    pub header_ms: Option<u64>,
    pub body_ms: Option<u64>,
    pub origin: Origin,
}

/// A route's timeouts, buffering and cache use, decided once.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlanHandling {
    pub connect_timeout_ms: Option<u64>,
    /// `read-timeout=`, else `timeout=`.
    pub read_timeout_ms: Option<u64>,
    /// `send-timeout=`, else `timeout=`.
    pub send_timeout_ms: Option<u64>,
    /// `request-buffering=`: `Some(false)` streams request bodies to the upstream as they come.
    pub request_buffering: Option<bool>,
    /// `buffer-size=`: the size of each buffer the response is read into.
    pub buffer_size: Option<u64>,
    /// The route's use of [`ProxyPlan::cache_zone`].
    pub cache: Option<PlanCache>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanCache {
    /// How long responses are kept: `(statuses, ms)`, in order.
    pub valid: Vec<(Vec<u16>, u64)>,
    /// Request headers whose presence means a response is neither served from the cache nor
    /// stored (a user's own page).
    pub bypass_headers: Vec<String>,
    /// The response header that tells whether the cache answered (HIT, MISS, BYPASS, …).
    pub status_header: String,
    pub origin: Origin,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublishedPort {
    pub host: Text,
    /// The host port with params at their compile-time values (what UFW opens).
    pub value: u16,
    /// The container port it reaches: 80 or 443.
    pub container: u16,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resolver {
    pub address: String,
    pub valid_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Zone {
    pub name: String,
    pub size_bytes: u64,
    pub requests: u64,
    /// `s` or `m`.
    pub per: char,
    /// Requests allowed over the rate (`None` for none).
    pub burst: Option<u32>,
    pub nodelay: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Balance {
    /// The target's default (round robin in nginx).
    Default,
    LeastConn,
    IpHash,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanUpstream {
    /// The service, or `service-port` for a service proxied on several ports.
    pub name: String,
    /// The service's DNS name.
    pub service: String,
    pub port: u16,
    /// Replicas of the service: with more than one, DNS answers with every address.
    pub replicas: u32,
    pub balance: Balance,
    pub max_fails: Option<u32>,
    pub fail_timeout_ms: Option<u64>,
    /// Idle keepalive connections per proxy process (`None` for none).
    pub keepalive: Option<u32>,
    /// Spoken to over FastCGI (a `fastcgi=` route), not HTTP.
    pub fastcgi: bool,
    /// Host mode: the port on 127.0.0.1 the service is published on for the host's proxy.
    pub host_port: Option<u16>,
}

impl PlanUpstream {
    /// Where the proxy dials the upstream: the service's name in the proxy's network, or
    /// 127.0.0.1 in host mode.
    pub fn address(&self) -> String {
        match self.host_port {
            Some(port) => format!("{LOOPBACK}:{port}"),
            None => format!("{}:{}", self.service, self.port),
        }
    }
}

/// The address a host-mode proxy reaches the services on, and they are published on.
pub const LOOPBACK: &str = "127.0.0.1";

/// The service's own TCP `publish` of `port` on 127.0.0.1, if it has one: in host mode the
/// proxy reaches the port there, and compose adds no second publish.
pub fn loopback_publish(publish: &[super::Publish], port: u16) -> Option<&super::Publish> {
    publish.iter().find(|p| {
        p.target == port
            && p.protocol == super::Protocol::Tcp
            && p.host.as_ref().and_then(|h| h.as_literal()).as_deref() == Some(LOOPBACK)
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanSite {
    pub hosts: Vec<Text>,
    /// Hosts that redirect permanently to the first host.
    pub redirect_from: Vec<String>,
    /// The response headers, in order (preset, proxy, site, HSTS), values as written.
    pub headers: Vec<(String, String)>,
    /// The site's body limit, or the proxy's; 0 is no limit.
    pub body_limit: Option<u64>,
    pub gzip: bool,
    pub allow_from: Vec<String>,
    pub basic_auth: Vec<BasicAuth>,
    /// In match order: exact paths, regular expressions as written, prefixes longest first.
    pub routes: Vec<PlanRoute>,
    pub origin: Origin,
    /// Raw directives for the site's block, per target (each target writes its own).
    pub raw: Vec<RawDirectives>,
    /// The port the site is served on: 443 (and 80, which redirects) with HTTPS, else 80, or
    /// its own `listen` port over plain HTTP.
    pub port: u16,
    /// Whether this site is served over HTTPS: the proxy's TLS, unless it has a `listen` port.
    pub https: bool,
    // Compression settings (issue 11).
    /// The gzip level, 1 to 9.
    pub gzip_level: u32,
    /// The media types compressed: the default ones, then `gzip-types` (no repeats).
    pub gzip_types: Vec<String>,
    /// `mime-type`: `(media type, extensions)` of the files the site serves, besides the
    /// proxy's own table.
    pub mime_types: Vec<(String, Vec<String>)>,
    /// In the order written; a status in two is served by the first.
    pub error_pages: Vec<PlanErrorPage>,
    /// The upstreams' own error responses with those statuses are replaced too (not only
    /// the proxy's, such as 502 when the upstream is down).
    pub intercept_errors: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanRoute {
    /// Its position among the site's routes as written.
    pub index: usize,
    pub path: String,
    pub matching: Match,
    pub action: PlanAction,
    pub strip_prefix: bool,
    pub websocket: bool,
    /// The zone it is limited by (one of [`ProxyPlan::zones`]).
    pub rate_limit: Option<String>,
    pub access_log: bool,
    pub timeout_ms: Option<u64>,
    /// `buffering=#false`: responses streamed to the client as they come.
    pub buffering_off: bool,
    /// 0 is no limit.
    pub body_limit: Option<u64>,
    /// The `Cache-Control` of `cache=` (and `immutable`).
    pub cache_control: Option<String>,
    pub fallback: Option<String>,
    pub internal: bool,
    pub origin: Origin,
    /// Sent to the upstream instead of the client's (an empty value removes the header),
    /// values as written.
    pub request_headers: Vec<(String, String)>,
    /// The route's own response headers (after the site's; the same name replaces the
    /// site's), values as written.
    pub response_headers: Vec<(String, String)>,
    /// Upstream response headers not passed to the client.
    pub hide_headers: Vec<String>,
    /// Timeouts, buffering and cache use (issue 11).
    pub handling: PlanHandling,
    /// Raw directives for the route's block, per target.
    pub raw: Vec<RawDirectives>,
    /// `buffering=` as written (`None`: the target's default; nginx buffers, ingress-nginx
    /// does not).
    pub buffering: Option<bool>,
    // Static files, matching priority and rewrites (issue 11).
    /// A `files=` route's `fallback-to=`: the upstream (one of [`ProxyPlan::upstreams`]) that
    /// gets the requests for which no file exists, with their URI as the client sent it.
    pub fallback_upstream: Option<usize>,
    /// The file served for a directory of a `files=` route.
    pub index_file: String,
    /// A file's `.gz` sibling is sent, as is, to clients that accept gzip.
    pub precompressed: bool,
    /// A prefix matched before the regular expressions (nginx `^~`): the route's own
    /// `before-regex=`, or that of a shorter prefix it is nested in.
    pub before_regex: bool,
    /// The matched prefix (an exact route: the path) is replaced by this before proxying.
    pub replace_prefix: Option<String>,
    /// Its CORS policy (one of [`ProxyPlan::cors`]): the route's own, else the site's.
    pub cors: Option<usize>,
    /// The only methods it accepts (HEAD with GET), others answered 405; empty for any.
    pub methods: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub enum PlanAction {
    /// To [`ProxyPlan::upstreams`]`[upstream]`.
    Proxy {
        upstream: usize,
    },
    Files {
        root: String,
    },
    Redirect {
        to: String,
        status: u16,
    },
    Respond {
        status: u16,
    },
    /// Scripts under `root` run by [`ProxyPlan::upstreams`]`[upstream]` (PHP-FPM), other files
    /// served by the proxy, hidden files (`/.env`, `/.git/`) refused.
    FastCgi {
        upstream: usize,
        root: String,
        /// The directory index and script that answers for paths with no file (a PHP
        /// front controller): `index.php` under the route's path.
        index: String,
        front_controller: String,
    },
}

impl ProxyPlan {
    pub fn upstream(&self, i: usize) -> &PlanUpstream {
        &self.upstreams[i]
    }
}

/// The lines of a site's or route's raw directives for one target, in order, each indented
/// for the block they are written into (blank lines kept blank).
pub fn raw_lines(raw: &[RawDirectives], target: TargetKind, indent: &str) -> Vec<String> {
    raw.iter()
        .filter(|r| r.target == target)
        .flat_map(|r| &r.directives)
        .flat_map(|d| d.trim_matches('\n').lines())
        .map(|l| if l.trim().is_empty() { String::new() } else { format!("{indent}{}", l.trim_end()) })
        .collect()
}

// What every proxy target checks the same way in the values it writes.

/// A host name a proxy can serve and get a certificate for.
pub fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '*' || c == '_')
        && !h.starts_with('.')
        && !h.contains("..")
}

/// An HTTP header name (RFC 9110 token, without the characters proxies treat specially).
pub fn valid_header_name(n: &str) -> bool {
    !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// An IP address or CIDR range as `allow-from` takes it.
pub fn valid_cidr(c: &str) -> bool {
    !c.is_empty() && c.chars().all(|c| c.is_ascii_hexdigit() || ".:/".contains(c))
}

/// Escapes a literal for a regular expression, PCRE (nginx) and RE2 (Caddy, Go) alike: both
/// read a backslash before ASCII punctuation or white space as the character itself.
pub fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) || c.is_whitespace() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

// CORS, the real client IP, allowed methods and error pages (issue 11). The stack's settings
// (`Cors`, `ErrorPage`, `RealIp`, on the IR's `Site`/`Route`/`Proxy`) and what the plan
// decides from them (`PlanCors`, `PlanErrorPage`, `PlanRealIp`).

/// `cors` of a site or route, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cors {
    /// The allowed origins; `["*"]` for any.
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    /// `None`: the headers a preflight asks for are allowed.
    pub headers: Option<Vec<String>>,
    pub expose: Vec<String>,
    pub credentials: bool,
    pub max_age_ms: Option<u64>,
    pub origin: Origin,
}

/// `error-page` of a site.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorPage {
    pub statuses: Vec<u16>,
    pub page: String,
    pub root: String,
    pub intercept: bool,
    pub origin: Origin,
}

/// `real-ip` of the proxy.
#[derive(Debug, Clone, Serialize)]
pub struct RealIp {
    pub from: Vec<String>,
    pub header: Option<String>,
    pub origin: Origin,
}

/// The methods a CORS policy allows without `methods` (the CORS-safelisted ones).
pub const DEFAULT_CORS_METHODS: &[&str] = &["GET", "HEAD", "POST"];

/// The CORS response headers the proxy sets: the upstream's own are not passed on where a
/// route has CORS (two `Access-Control-Allow-Origin` fail in browsers, and one for an origin
/// outside the list would allow it).
pub const CORS_RESPONSE_HEADERS: &[&str] =
    &["Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers"];

/// The header the client's address is read from without `real-ip header=`.
pub const DEFAULT_REAL_IP_HEADER: &str = "X-Forwarded-For";

/// A CORS policy as the proxies answer it; the plan holds each distinct one once
/// ([`ProxyPlan::cors`]), and a route names its own by index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanCors {
    /// The allowed origins, echoed in `Access-Control-Allow-Origin` (with `Vary: Origin`);
    /// empty when any origin is allowed (`*`).
    pub origins: Vec<String>,
    /// `Access-Control-Allow-Methods`.
    pub methods: String,
    /// `Access-Control-Allow-Headers`; `None` echoes the preflight's
    /// `Access-Control-Request-Headers`.
    pub headers: Option<String>,
    /// `Access-Control-Expose-Headers`.
    pub expose: Option<String>,
    pub credentials: bool,
    /// `Access-Control-Max-Age`, in seconds.
    pub max_age_s: Option<u64>,
}

impl PlanCors {
    pub fn any_origin(&self) -> bool {
        self.origins.is_empty()
    }
}

/// Pages served instead of the proxy's own error responses.
#[derive(Debug, Clone, Serialize)]
pub struct PlanErrorPage {
    pub statuses: Vec<u16>,
    /// The page, relative to `root` (`/50x.html`).
    pub page: String,
    pub root: String,
}

/// Which clients' address headers are believed.
#[derive(Debug, Clone, Serialize)]
pub struct PlanRealIp {
    /// The trusted proxies' ranges.
    pub from: Vec<String>,
    /// The header holding the client's address (nginx: `real_ip_header`), resolved
    /// recursively: the last address not in `from`.
    pub header: String,
}
