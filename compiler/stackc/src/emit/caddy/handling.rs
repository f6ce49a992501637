//! A route's timeouts and buffering, and the proxy's client timeouts, in Caddy's terms; what
//! Caddy's standard build cannot do (a response cache, buffer sizes, buffering a request
//! body whole) is reported (issue 11).

use super::duration;
use crate::diagnostics::{origin_span, Code, Diagnostic};
use crate::ir::proxy::*;

/// The `transport http` settings of a proxied route's timeouts: `dial_timeout` is nginx's
/// connect timeout, `read_timeout`/`write_timeout` the time between two reads or writes.
pub(super) fn transport(r: &PlanRoute) -> Vec<String> {
    let h = &r.handling;
    let mut out = Vec::new();
    out.extend(h.connect_timeout_ms.map(|ms| format!("dial_timeout {}", duration(ms))));
    out.extend(h.read_timeout_ms.map(|ms| format!("read_timeout {}", duration(ms))));
    out.extend(h.send_timeout_ms.map(|ms| format!("write_timeout {}", duration(ms))));
    out
}

/// The global `servers { timeouts { … } }` of `client-timeouts` (Caddy has them per listener,
/// not per site, as nginx reads a request's header before it knows the site).
pub(super) fn global(plan: &ProxyPlan) -> Option<String> {
    let c = plan.client_timeouts.as_ref()?;
    let mut lines = Vec::new();
    lines.extend(c.header_ms.map(|ms| format!("\t\t\tread_header {}", duration(ms))));
    lines.extend(c.body_ms.map(|ms| format!("\t\t\tread_body {}", duration(ms))));
    (!lines.is_empty()).then(|| format!("servers {{\n\t\ttimeouts {{\n{}\n\t\t}}\n\t}}", lines.join("\n")))
}

pub(super) fn check(plan: &ProxyPlan) -> Vec<Diagnostic> {
    let warn = |origin, msg: String, label: &str, help: &str| {
        Diagnostic::warning(Code::TargetApproximation, msg).at(origin_span(origin), label).help(help.to_string())
    };
    let mut out = Vec::new();
    let cached: Vec<&PlanRoute> =
        plan.sites.iter().flat_map(|s| &s.routes).filter(|r| r.handling.cache.is_some()).collect();
    if let Some(z) = &plan.cache_zone {
        let mut d = warn(
            if z.origin == Default::default() { cached.first().map(|r| r.origin).unwrap_or_default() } else { z.origin },
            "Caddy (standard build) has no response cache: the proxy `cache` (`path=`, `size=`, `inactive=`, `max-size=`) and the routes' `proxy-cache=`/`cache-valid` are not applied".into(),
            "the proxy cache",
            "caching needs a Caddy plugin (cache-handler); use the nginx target where the cache matters",
        );
        for r in &cached {
            d = d.label(origin_span(r.handling.cache.as_ref().map_or(r.origin, |c| c.origin)), "not cached by Caddy");
        }
        out.push(d);
    }
    for r in plan.sites.iter().flat_map(|s| &s.routes).filter(|r| matches!(r.action, PlanAction::Proxy { .. })) {
        if r.handling.request_buffering == Some(true) {
            out.push(warn(
                r.origin,
                format!("route `{}`: Caddy streams request bodies to the upstream; `request-buffering=#true` is not applied", r.path),
                "request-buffering",
                "Caddy buffers a body only up to a size of its own (`request_buffers`); remove the setting",
            ));
        }
        if r.handling.buffer_size.is_some() {
            out.push(warn(
                r.origin,
                format!(
                    "route `{}`: Caddy copies responses through buffers of its own size; `buffer-size=` is not applied",
                    r.path
                ),
                "buffer-size",
                "remove the setting for Caddy, or use the nginx target where the buffer size matters",
            ));
        }
    }
    out
}
