//! Caddy's form of CORS, the real client IP, allowed methods and error pages (issue 11).
//!
//! CORS: per policy a site matcher of the allowed origins (`header Origin …`, one line per
//! origin: the values of one field are alternatives) sets the deferred response headers, and
//! a preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered `respond 204`
//! inside the route's `handle`, before `reverse_proxy` (Caddy's directive order), so the
//! upstream never sees it. Methods outside a route's `methods` get 405 with `Allow`. Error
//! pages are `handle` blocks of the site's `handle_errors` (with `intercept=#true`, the
//! upstream's answers of those statuses become errors through `handle_response`). The client's address from
//! trusted proxies is the global `servers { trusted_proxies … client_ip_headers … }`, which
//! Caddy has from 2.7; X-Real-IP is then `{client_ip}`.

use serde::Serialize;

use super::{escape_braces, token, unsafe_value, version_tuple, HeaderV, MatcherV};
use crate::diagnostics::{origin_span, Code, Diagnostic};
use crate::ir::proxy::*;
use crate::ir::*;

/// The matcher of every CORS preflight.
const PREFLIGHT: &str = "cors_preflight";

#[derive(Serialize, Clone)]
pub(super) struct RouteV {
    /// The matcher of allowed origins and the response headers it gets (deferred).
    cors_matcher: Option<String>,
    cors_headers: Vec<HeaderV>,
    /// The matcher of allowed origins' preflights and their own headers.
    preflight_matcher: Option<String>,
    preflight_headers: Vec<HeaderV>,
    /// `respond @…  204` for every preflight.
    preflight: Option<&'static str>,
    methods_matcher: Option<String>,
    allow: String,
}

#[derive(Serialize)]
pub(super) struct ErrorPageV {
    name: String,
    statuses: String,
    root: String,
    page: String,
}

/// Caddy has `trusted_proxies` and `client_ip_headers` (and `{client_ip}`) from 2.7.
pub(super) fn has_client_ip(version: &str) -> bool {
    version_tuple(version) >= (2, 7)
}

/// The global `servers` option of `real-ip`, if Caddy has it.
pub(super) fn global(plan: &ProxyPlan, version: &str) -> Option<String> {
    let r = plan.real_ip.as_ref().filter(|_| has_client_ip(version))?;
    Some(format!(
        "servers {{\n\t\ttrusted_proxies static {}\n\t\tclient_ip_headers {}\n\t}}",
        r.from.join(" "),
        token(&r.header)
    ))
}

/// The client's address as the upstream gets it in X-Real-IP.
pub(super) fn client_ip(plan: &ProxyPlan, version: &str) -> &'static str {
    if plan.real_ip.is_some() && has_client_ip(version) {
        "{client_ip}"
    } else {
        "{remote_host}"
    }
}

/// `header_up` of `forwarded-for "replace"`: the client's address alone.
pub(super) fn forwarded_for(plan: &ProxyPlan, version: &str) -> Option<String> {
    plan.forwarded_for_replace.then(|| format!("X-Forwarded-For {}", client_ip(plan, version)))
}

fn defined(matchers: &[MatcherV], name: &str) -> bool {
    matchers.iter().any(|m| m.name == name)
}

fn origin_lines(p: &PlanCors) -> String {
    p.origins.iter().map(|o| format!("\t\theader Origin {}\n", token(o))).collect()
}

pub(super) fn route(plan: &ProxyPlan, r: &PlanRoute, matchers: &mut Vec<MatcherV>) -> Option<RouteV> {
    if r.cors.is_none() && r.methods.is_empty() {
        return None;
    }
    let h = |name: &str, value: String| HeaderV { name: name.into(), value };
    let mut v = RouteV {
        cors_matcher: None,
        cors_headers: Vec::new(),
        preflight_matcher: None,
        preflight_headers: Vec::new(),
        preflight: None,
        methods_matcher: None,
        allow: r.methods.join(", "),
    };
    if let Some(i) = r.cors {
        let p = &plan.cors[i];
        let name = format!("cors{}", i + 1);
        let pre = format!("cors{}_preflight", i + 1);
        let preflight_spec = "{\n\t\tmethod OPTIONS\n\t\theader Access-Control-Request-Method *\n";
        if !defined(matchers, PREFLIGHT) {
            matchers.push(MatcherV { name: PREFLIGHT.into(), spec: format!("{preflight_spec}\t}}") });
        }
        if !defined(matchers, &name) {
            let spec = if p.any_origin() {
                // Every request, with or without an Origin.
                "path *".to_string()
            } else {
                format!("{{\n{}\t}}", origin_lines(p))
            };
            matchers.push(MatcherV { name: name.clone(), spec });
            let origins = if p.any_origin() { String::new() } else { origin_lines(p) };
            matchers.push(MatcherV { name: pre.clone(), spec: format!("{preflight_spec}{origins}\t}}") });
        }
        if p.any_origin() {
            v.cors_headers.push(h("Access-Control-Allow-Origin", "*".into()));
        } else {
            v.cors_headers.push(h("Access-Control-Allow-Origin", token("{http.request.header.Origin}")));
            // Every answer depends on the Origin: caches must keep them apart.
            v.cors_headers.push(h("+Vary", "Origin".into()));
        }
        if p.credentials {
            v.cors_headers.push(h("Access-Control-Allow-Credentials", "true".into()));
        }
        if let Some(e) = &p.expose {
            v.cors_headers.push(h("Access-Control-Expose-Headers", token(e)));
        }
        v.preflight_headers.push(h("Access-Control-Allow-Methods", token(&p.methods)));
        let headers =
            p.headers.clone().unwrap_or_else(|| "{http.request.header.Access-Control-Request-Headers}".into());
        v.preflight_headers.push(h("Access-Control-Allow-Headers", token(&headers)));
        if let Some(s) = p.max_age_s {
            v.preflight_headers.push(h("Access-Control-Max-Age", s.to_string()));
        }
        v.cors_matcher = Some(name);
        v.preflight_matcher = Some(pre);
        v.preflight = Some(PREFLIGHT);
    }
    if !r.methods.is_empty() {
        let name = format!("method_not_allowed{}", r.index + 1);
        matchers.push(MatcherV { name: name.clone(), spec: format!("not method {}", r.methods.join(" ")) });
        v.methods_matcher = Some(name);
        v.allow = token(&r.methods.join(", "));
    }
    Some(v)
}

pub(super) fn error_pages(site: &PlanSite) -> Vec<ErrorPageV> {
    site.error_pages
        .iter()
        .enumerate()
        .map(|(i, e)| ErrorPageV {
            name: format!("error_page{}", i + 1),
            statuses: e.statuses.iter().map(u16::to_string).collect::<Vec<_>>().join(", "),
            root: token(&escape_braces(e.root.trim_end_matches('/'))),
            page: token(&escape_braces(&e.page)),
        })
        .collect()
}

/// The statuses of a site's error pages, when they replace the upstream's own answers too
/// (`intercept=#true`): `handle_response` turns such an answer into an error of its status,
/// which the site's `handle_errors` serves.
pub(super) fn intercepted(site: &PlanSite) -> Option<String> {
    let mut statuses: Vec<u16> = site.error_pages.iter().flat_map(|e| e.statuses.iter().copied()).collect();
    statuses.sort_unstable();
    statuses.dedup();
    (site.intercept_errors && !statuses.is_empty())
        .then(|| statuses.iter().map(u16::to_string).collect::<Vec<_>>().join(" "))
}

/// `header_down` of the upstream's own CORS headers, where the route has CORS.
pub(super) fn hidden_upstream_headers(r: &PlanRoute) -> Vec<String> {
    let hidden = if r.cors.is_some() { CORS_RESPONSE_HEADERS } else { &[] };
    hidden.iter().map(|h| format!("-{h}")).collect()
}

/// What Caddy cannot do of these settings.
pub(super) fn check(stack: &Stack) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let version = super::version(stack);
    if let Some(r) = stack.proxy.as_ref().and_then(|p| p.real_ip.as_ref()) {
        if !has_client_ip(&version) {
            out.push(
                Diagnostic::warning(
                    Code::TargetApproximation,
                    format!(
                        "Caddy {version} cannot take the client's address from a trusted proxy's header: upstreams get the proxy's peer in X-Real-IP, and the access log shows it"
                    ),
                )
                .at(origin_span(r.origin), "real-ip")
                .help("select Caddy 2.7 or newer (`targets { caddy version=\"2.8\" }`), which has `trusted_proxies` and `client_ip_headers`"),
            );
        }
    }
    for e in stack.sites.iter().flat_map(|s| &s.error_pages) {
        for why in [&e.page, &e.root].into_iter().filter_map(|v| unsafe_value(v)) {
            out.push(
                Diagnostic::error(Code::TargetCannotExpress, format!("the error page's path contains {why}"))
                    .at(origin_span(e.origin), "this error-page")
                    .help("remove the character"),
            );
        }
    }
    out
}
