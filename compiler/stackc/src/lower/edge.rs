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

#[cfg(test)]
mod tests {
    use super::super::proxy::tests::plan_of;

    const STACK: &str = r#"stack "t"
param "app" default="https://app.example.com"
service "api" {
    image "a:1"
    port 8080
}
proxy {
    real-ip "10.0.0.0/8"
    forwarded-for "replace"
}
site "t.example.com" {
    cors "${app}" credentials=#true max-age="90s"
    error-page 502 504 page="/down.html" root="/srv/errors/" intercept=#true
    route "/" to="api"
    route "/b/" to="api"
    route "/pub/" to="api" {
        cors "*" {
            headers "X-Token"
        }
        methods "GET" "POST"
    }
}
"#;

    #[test]
    fn the_site_policy_is_the_routes_default_and_each_policy_is_planned_once() {
        let plan = plan_of(STACK);
        assert_eq!(plan.cors.len(), 2, "{:#?}", plan.cors);
        let policy_of = |path: &str| plan.sites[0].routes.iter().find(|r| r.path == path).unwrap().cors.unwrap();
        assert_eq!(policy_of("/"), policy_of("/b/"));
        let site = &plan.cors[policy_of("/")];
        // Params are their compile-time values; the defaults are filled in.
        assert_eq!(site.origins, ["https://app.example.com"]);
        assert_eq!((site.methods.as_str(), site.headers.as_deref()), ("GET, HEAD, POST", None));
        assert_eq!((site.credentials, site.max_age_s), (true, Some(90)));
        let public = &plan.cors[policy_of("/pub/")];
        assert!(public.any_origin() && !public.credentials);
        assert_eq!(public.headers.as_deref(), Some("X-Token"));
    }

    #[test]
    fn methods_real_ip_and_error_pages_are_decided_in_the_plan() {
        let plan = plan_of(STACK);
        let pubr = plan.sites[0].routes.iter().find(|r| r.path == "/pub/").unwrap();
        assert_eq!(pubr.methods, ["GET", "POST", "HEAD"]);
        assert!(plan.sites[0].routes.iter().filter(|r| r.path != "/pub/").all(|r| r.methods.is_empty()));
        let real_ip = plan.real_ip.as_ref().unwrap();
        assert_eq!(
            (real_ip.from.as_slice(), real_ip.header.as_str()),
            (&["10.0.0.0/8".to_string()][..], "X-Forwarded-For")
        );
        assert!(plan.forwarded_for_replace);
        let site = &plan.sites[0];
        assert_eq!(site.error_pages.len(), 1);
        assert_eq!(site.error_pages[0].statuses, [502, 504]);
        assert_eq!(
            (site.error_pages[0].page.as_str(), site.error_pages[0].root.as_str()),
            ("/down.html", "/srv/errors/")
        );
        assert!(site.intercept_errors);
    }
}
