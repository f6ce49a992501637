//! nginx's form of CORS, the real client IP, allowed methods and error pages (issue 11).
//!
//! CORS: an allowed origin is echoed through a `map` of `$http_origin` (empty for any other
//! origin, and nginx sends no header whose value is empty); the policy's other headers go
//! through maps of that variable, so that an origin outside the list gets no CORS header at
//! all. A preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered 204 in the
//! location's rewrite phase by `if (…) { add_header …; return 204; }`, one of the uses of
//! `if` in a location that are safe: the upstream never sees it. Methods outside a route's
//! `methods` get 405 with `Allow` the same way, after the preflight.

use serde::Serialize;

use super::{quote, unsafe_value, HeaderV};
use crate::diagnostics::{origin_span, Code, Diagnostic};
use crate::ir::proxy::*;
use crate::ir::*;

/// The variable that is 1 for a CORS preflight.
const PREFLIGHT_VAR: &str = "stackc_preflight";

/// The http-level maps of the plan's CORS policies.
#[derive(Serialize, Default)]
pub(super) struct HttpV {
    preflight: Option<String>,
    maps: Vec<MapV>,
}

#[derive(Serialize)]
struct MapV {
    source: String,
    var: String,
    /// `(key, value)`, both written as they are (quoted where needed).
    entries: Vec<(String, String)>,
}

/// What a location adds before its own handling.
#[derive(Serialize)]
pub(super) struct LocationV {
    /// The headers of the preflight's 204 (empty: the route has no CORS).
    preflight: Vec<HeaderV>,
    preflight_var: String,
    /// The regular expression of the accepted methods, and the `Allow` of the 405.
    methods: Option<String>,
    allow: String,
}

#[derive(Serialize)]
pub(super) struct RealIpV {
    from: Vec<String>,
    header: String,
}

#[derive(Serialize)]
pub(super) struct ErrorPageV {
    statuses: String,
    uri: String,
    /// The internal location's prefix and the directory it maps to.
    prefix: String,
    root: String,
}

fn var(i: usize) -> String {
    format!("stackc_cors_{}", i + 1)
}

/// A policy's headers as `(name, value, suffix of its map variable)`; `preflight` adds the
/// preflight's own.
fn policy_headers(p: &PlanCors, preflight: bool) -> Vec<(&'static str, String, &'static str)> {
    let mut out = Vec::new();
    if !preflight {
        if let Some(e) = &p.expose {
            out.push(("Access-Control-Expose-Headers", e.clone(), "expose"));
        }
    } else {
        out.push(("Access-Control-Allow-Methods", p.methods.clone(), "methods"));
        let headers = p.headers.clone().unwrap_or_else(|| "$http_access_control_request_headers".into());
        out.push(("Access-Control-Allow-Headers", headers, "headers"));
        if let Some(s) = p.max_age_s {
            out.push(("Access-Control-Max-Age", s.to_string(), "max_age"));
        }
    }
    if p.credentials {
        out.push(("Access-Control-Allow-Credentials", "true".into(), "credentials"));
    }
    out
}

/// A value as a map value or header value: a variable stays a variable.
fn value_token(v: &str) -> String {
    if v.starts_with('$') {
        v.to_string()
    } else {
        quote(v)
    }
}

pub(super) fn http(plan: &ProxyPlan) -> HttpV {
    let used = plan.sites.iter().flat_map(|s| &s.routes).any(|r| r.cors.is_some());
    if !used {
        return HttpV::default();
    }
    let mut maps = vec![MapV {
        source: "$request_method:$http_access_control_request_method".into(),
        var: PREFLIGHT_VAR.into(),
        entries: vec![("default".into(), "0".into()), (quote("~^OPTIONS:."), "1".into())],
    }];
    for (i, p) in plan.cors.iter().enumerate() {
        if p.any_origin() {
            continue;
        }
        let mut entries = vec![("default".to_string(), "\"\"".to_string())];
        entries.extend(p.origins.iter().map(|o| (quote(o), "$http_origin".to_string())));
        maps.push(MapV { source: "$http_origin".into(), var: var(i), entries });
        let mut seen = Vec::new();
        for (_, value, suffix) in policy_headers(p, false).into_iter().chain(policy_headers(p, true)) {
            if seen.contains(&suffix) {
                continue;
            }
            seen.push(suffix);
            maps.push(MapV {
                source: format!("${}", var(i)),
                var: format!("{}_{suffix}", var(i)),
                entries: vec![("\"\"".into(), "\"\"".into()), ("default".into(), value_token(&value))],
            });
        }
    }
    HttpV { preflight: Some(PREFLIGHT_VAR.into()), maps }
}

/// The CORS headers of a route's responses (before the route's own headers are added).
pub(super) fn response_headers(plan: &ProxyPlan, r: &PlanRoute) -> Vec<HeaderV> {
    let Some(i) = r.cors else { return Vec::new() };
    let p = &plan.cors[i];
    headers(i, p, false)
}

fn headers(i: usize, p: &PlanCors, preflight: bool) -> Vec<HeaderV> {
    let h = |name: &str, value: String| HeaderV { name: name.into(), value, always: true };
    let mut out = Vec::new();
    if p.any_origin() {
        out.push(h("Access-Control-Allow-Origin", "*".into()));
        out.extend(policy_headers(p, preflight).into_iter().map(|(n, v, _)| h(n, v)));
    } else {
        out.push(h("Access-Control-Allow-Origin", format!("${}", var(i))));
        // Every answer depends on the Origin: caches must keep them apart.
        out.push(h("Vary", "Origin".into()));
        out.extend(policy_headers(p, preflight).into_iter().map(|(n, _, s)| h(n, format!("${}_{s}", var(i)))));
    }
    out
}

/// The upstream's own CORS headers, hidden where the proxy sets them.
pub(super) fn hidden_upstream_headers(r: &PlanRoute) -> Vec<String> {
    let hidden = if r.cors.is_some() { CORS_RESPONSE_HEADERS } else { &[] };
    hidden.iter().map(|h| h.to_string()).collect()
}

pub(super) fn location(plan: &ProxyPlan, r: &PlanRoute) -> Option<LocationV> {
    if r.cors.is_none() && r.methods.is_empty() {
        return None;
    }
    Some(LocationV {
        preflight: r.cors.map(|i| headers(i, &plan.cors[i], true)).unwrap_or_default(),
        preflight_var: PREFLIGHT_VAR.into(),
        methods: (!r.methods.is_empty()).then(|| format!("^({})$", r.methods.join("|"))),
        allow: r.methods.join(", "),
    })
}

/// `X-Forwarded-For` to the upstream: the client's address alone with `forwarded-for
/// "replace"` (after `real-ip`, the real client's).
pub(super) fn forwarded_for(plan: &ProxyPlan, headers: &mut [HeaderV]) {
    if plan.forwarded_for_replace {
        for h in headers.iter_mut().filter(|h| h.name == "X-Forwarded-For" && h.value.starts_with('$')) {
            h.value = "$remote_addr".into();
        }
    }
}

pub(super) fn real_ip(plan: &ProxyPlan) -> Option<RealIpV> {
    plan.real_ip.as_ref().map(|r| RealIpV { from: r.from.clone(), header: r.header.clone() })
}

pub(super) fn error_pages(site: &PlanSite) -> Vec<ErrorPageV> {
    site.error_pages
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let prefix = format!("/.stackc-errors/{}/", i + 1);
            ErrorPageV {
                statuses: e.statuses.iter().map(u16::to_string).collect::<Vec<_>>().join(" "),
                uri: format!("{prefix}{}", e.page.trim_start_matches('/')),
                prefix,
                root: format!("{}/", e.root.trim_end_matches('/')),
            }
        })
        .collect()
}

/// What nginx cannot write of these settings.
pub(super) fn check(stack: &Stack) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for site in &stack.sites {
        for e in &site.error_pages {
            for v in [&e.page, &e.root] {
                if let Some(why) = unsafe_value(v) {
                    out.push(
                        Diagnostic::error(Code::TargetCannotExpress, format!("the error page's path contains {why}"))
                            .at(origin_span(e.origin), "this error-page")
                            .help("nginx expands variables here; remove the character"),
                    );
                }
            }
        }
    }
    out
}
