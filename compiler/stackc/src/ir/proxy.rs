//! The proxy plan: every `site` lowered once (`lower::proxy`) into what the proxy targets
//! render — nginx, Caddy and the Kubernetes Ingress. Routes are in the order a request is
//! matched, upstreams are resolved to a name, address and port, and every default (the
//! security-header preset, HSTS, body limit, gzip, rate-limit zone size, Cache-Control) is
//! decided here, so that a feature is decided once and rendered three times.
//!
//! Values that may hold `${param}` stay as written: each target renders params its own way.

use serde::Serialize;

use super::{BasicAuth, Match, Origin, Text, Tls};

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
    // Compression settings (issue 11).
    /// The gzip level, 1 to 9.
    pub gzip_level: u32,
    /// The media types compressed: the default ones, then `gzip-types` (no repeats).
    pub gzip_types: Vec<String>,
    /// `mime-type`: `(media type, extensions)` of the files the site serves, besides the
    /// proxy's own table.
    pub mime_types: Vec<(String, Vec<String>)>,
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
}

impl ProxyPlan {
    pub fn upstream(&self, i: usize) -> &PlanUpstream {
        &self.upstreams[i]
    }
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
