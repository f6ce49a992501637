//! CORS, the real client IP, allowed methods and error pages (issue 11): read from the
//! stack's nodes into the IR, and decided into the proxy plan (every default here, once).

use crate::ir::proxy::*;
use crate::ir::*;
use crate::syntax::ast::Node;

use super::{compile_time, dur, entry_text, flag, origin, Cx};

/// The arguments of a node with params replaced by their compile-time values: the proxies
/// write these settings as they are (nginx cannot read the deploy environment).
fn args(cx: &Cx, n: Option<&Node>) -> Vec<String> {
    n.map(|n| n.args.iter().map(|a| cx.params.compile_time(&entry_text(a))).collect()).unwrap_or_default()
}

/// `cors` of a site or route.
pub(super) fn cors(cx: &Cx, n: &Node) -> Option<Cors> {
    let c = n.child("cors")?;
    Some(Cors {
        origins: args(cx, Some(c)),
        methods: args(cx, c.child("methods")),
        headers: c.child("headers").map(|h| args(cx, Some(h))),
        expose: args(cx, c.child("expose")),
        credentials: flag(c, "credentials"),
        max_age_ms: dur(cx, c, "max-age"),
        origin: origin(c.span),
    })
}

/// `methods` of a route.
pub(super) fn methods(cx: &Cx, n: &Node) -> Vec<String> {
    args(cx, n.child("methods"))
}

/// `error-page`s of a site.
pub(super) fn error_pages(cx: &Cx, n: &Node) -> Vec<ErrorPage> {
    n.children_named("error-page")
        .map(|e| ErrorPage {
            statuses: e.args.iter().filter_map(|a| u16::try_from(a.value.as_int()?).ok()).collect(),
            page: compile_time(cx, e, "page").unwrap_or_default(),
            root: compile_time(cx, e, "root").unwrap_or_default(),
            intercept: flag(e, "intercept"),
            origin: origin(e.span),
        })
        .collect()
}

/// `real-ip` of the proxy.
pub(super) fn real_ip(cx: &Cx, n: &Node) -> Option<RealIp> {
    let r = n.child("real-ip")?;
    Some(RealIp { from: args(cx, Some(r)), header: compile_time(cx, r, "header"), origin: origin(r.span) })
}

/// `forwarded-for "replace"` of the proxy.
pub(super) fn forwarded_for_replace(n: &Node) -> bool {
    n.child("forwarded-for").and_then(|f| f.arg_str(0)) == Some("replace")
}

/// A policy as the proxies answer it: the defaults filled in, lists joined.
pub(super) fn plan_cors(c: &Cors) -> PlanCors {
    let methods: Vec<&str> = if c.methods.is_empty() {
        DEFAULT_CORS_METHODS.to_vec()
    } else {
        c.methods.iter().map(String::as_str).collect()
    };
    PlanCors {
        origins: if c.origins.iter().any(|o| o == "*") { Vec::new() } else { c.origins.clone() },
        methods: methods.join(", "),
        headers: c.headers.as_ref().map(|h| h.join(", ")),
        expose: (!c.expose.is_empty()).then(|| c.expose.join(", ")),
        credentials: c.credentials,
        max_age_s: c.max_age_ms.map(|ms| ms / 1000),
    }
}

/// The index of `c` in `policies`, added when new.
pub(super) fn cors_index(policies: &mut Vec<PlanCors>, c: PlanCors) -> usize {
    match policies.iter().position(|p| *p == c) {
        Some(i) => i,
        None => {
            policies.push(c);
            policies.len() - 1
        }
    }
}

/// The methods a route accepts: HEAD goes with GET (a HEAD is a GET without the body, and
/// nginx's `limit_except GET` allows it too).
pub(super) fn plan_methods(r: &Route) -> Vec<String> {
    let mut out = r.methods.clone();
    if out.iter().any(|m| m == "GET") && !out.iter().any(|m| m == "HEAD") {
        out.push("HEAD".into());
    }
    out
}

pub(super) fn plan_error_pages(site: &Site) -> Vec<PlanErrorPage> {
    site.error_pages
        .iter()
        .map(|e| PlanErrorPage { statuses: e.statuses.clone(), page: e.page.clone(), root: e.root.clone() })
        .collect()
}

pub(super) fn plan_real_ip(proxy: &Proxy) -> Option<PlanRealIp> {
    proxy.real_ip.as_ref().map(|r| PlanRealIp {
        from: r.from.clone(),
        header: r.header.clone().unwrap_or_else(|| DEFAULT_REAL_IP_HEADER.into()),
    })
}
