//! A route's timeouts, buffering and proxy cache, and the proxy's cache zone and client
//! timeouts, as nginx directives (issue 11). What they are is decided in the plan.

use serde::Serialize;

use super::{quote, size, time, unsafe_value, HeaderV};
use crate::diagnostics::{origin_span, Code, Diagnostic};
use crate::ir::proxy::*;

/// A cache path nginx would read variables in, or that cannot be written.
pub(super) fn check(plan: &ProxyPlan) -> Vec<Diagnostic> {
    let Some(z) = &plan.cache_zone else { return Vec::new() };
    let Some(why) = unsafe_value(&z.path) else { return Vec::new() };
    vec![Diagnostic::error(Code::TargetCannotExpress, format!("the proxy cache's `path=` contains {why}"))
        .at(origin_span(z.origin), "the proxy cache")
        .help("nginx expands variables here; remove the character")]
}

#[derive(Serialize, Default)]
pub(super) struct HandlingV {
    connect_timeout: Option<String>,
    read_timeout: Option<String>,
    send_timeout: Option<String>,
    request_buffering: Option<&'static str>,
    buffer_size: Option<String>,
    cache: Option<CacheV>,
}

#[derive(Serialize)]
struct CacheV {
    zone: String,
    /// `proxy_cache_valid` arguments.
    valid: Vec<String>,
    /// The variables of the bypass headers (`$http_authorization $http_cookie`).
    bypass: String,
}

/// The http-level directives: the cache zone and the client timeouts (a request's header is
/// read before nginx knows its server, so `client_header_timeout` holds only there).
pub(super) fn http_directives(plan: &ProxyPlan) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(z) = &plan.cache_zone {
        let mut line = format!(
            "proxy_cache_path {} levels=1:2 keys_zone={}:{} inactive={}",
            quote(&z.path),
            z.name,
            size(z.size_bytes),
            time(z.inactive_ms)
        );
        if let Some(m) = z.max_size {
            line.push_str(&format!(" max_size={}", size(m)));
        }
        out.push(line);
    }
    if let Some(c) = &plan.client_timeouts {
        out.extend(c.header_ms.map(|ms| format!("client_header_timeout {}", time(ms))));
        out.extend(c.body_ms.map(|ms| format!("client_body_timeout {}", time(ms))));
    }
    out
}

pub(super) fn proxy_handling(plan: &ProxyPlan, r: &PlanRoute) -> HandlingV {
    let h = &r.handling;
    HandlingV {
        connect_timeout: h.connect_timeout_ms.map(time),
        read_timeout: h.read_timeout_ms.map(time),
        send_timeout: h.send_timeout_ms.map(time),
        request_buffering: h.request_buffering.map(|b| if b { "on" } else { "off" }),
        buffer_size: h.buffer_size.map(size),
        cache: h.cache.as_ref().zip(plan.cache_zone.as_ref()).map(|(c, z)| CacheV {
            zone: z.name.clone(),
            valid: c
                .valid
                .iter()
                .map(|(statuses, ms)| {
                    let s: Vec<String> = statuses.iter().map(u16::to_string).collect();
                    format!("{} {}", s.join(" "), time(*ms))
                })
                .collect(),
            bypass: c
                .bypass_headers
                .iter()
                .map(|n| format!("$http_{}", n.to_ascii_lowercase().replace('-', "_")))
                .collect::<Vec<_>>()
                .join(" "),
        }),
    }
}

/// The cache status header of a cached route (`always`: a 5xx from the cache says so too).
pub(super) fn cache_status_header(r: &PlanRoute) -> Option<HeaderV> {
    let c = r.handling.cache.as_ref()?;
    Some(HeaderV { name: c.status_header.clone(), value: "$upstream_cache_status".into(), always: true })
}
