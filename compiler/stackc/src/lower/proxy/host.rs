//! `proxy mode="host"`: the proxy runs on the host (or is already there) and reaches each
//! routed service on 127.0.0.1, where compose publishes it (issue 11).

use crate::diagnostics::{origin_span as span, Code, Diagnostic};
use crate::ir::proxy::{loopback_publish, PlanUpstream, LOOPBACK};
use crate::ir::{Origin, Protocol, Stack};

/// The host port of each upstream: the service's own loopback publish of the port, else the
/// container port itself.
pub fn assign(stack: &Stack, upstreams: &mut [PlanUpstream]) {
    for u in upstreams {
        let own = stack.services.get(&u.service).and_then(|s| loopback_publish(&s.publish, u.port));
        u.host_port = Some(own.map_or(u.port, |p| p.host_port));
    }
}

/// What host mode cannot do: a routed service with several replicas (one host port reaches
/// one container), and host ports that clash with each other, with another `publish` or with
/// the host proxy's own 80 and 443.
pub fn check(stack: &Stack) -> Vec<Diagnostic> {
    let Some(plan) = &stack.proxy_plan else { return Vec::new() };
    let Some(mode) = stack.proxy.as_ref().and_then(|p| p.host_mode) else { return Vec::new() };
    let mut out = Vec::new();
    // Each host port with who holds it and where that is written.
    let mut taken: Vec<(u16, String, Origin)> = vec![
        (plan.http_port.value, "the host's proxy (HTTP)".into(), mode),
        (plan.https_port.value, "the host's proxy (HTTPS)".into(), mode),
    ];
    taken.extend(plan.site_ports.iter().map(|p| (*p, format!("the host's proxy (a site listens on {p})"), mode)));
    // Publishes the services declare themselves, except the loopback ones upstreams reuse.
    for (name, s) in &stack.services {
        for p in s.publish.iter().filter(|p| p.protocol == Protocol::Tcp) {
            let host = p.host.as_ref().and_then(|h| h.as_literal());
            let reused = host.as_deref() == Some(LOOPBACK)
                && plan.upstreams.iter().any(|u| u.service == *name && u.port == p.target);
            if !reused && (host.is_none() || host.as_deref() == Some(LOOPBACK)) {
                taken.push((p.host_port, format!("`{name}`'s `publish {} {}`", p.host_port, p.target), p.origin));
            }
        }
    }
    for u in &plan.upstreams {
        let Some(service) = stack.services.get(&u.service) else { continue };
        if service.replicas > 1 {
            let at = service.origins.get("replicas").copied().unwrap_or(service.origin);
            out.push(
                Diagnostic::error(
                    Code::Conflicting,
                    format!("`{}` has {} replicas, but the host's proxy reaches it on one host port", u.service, service.replicas),
                )
                .at(span(at), "several replicas")
                .label(span(mode), "the proxy runs on the host")
                .help("run one replica of it, or leave `mode=\"host\"` out so that the proxy runs in compose and balances over every replica"),
            );
        }
        let Some(port) = u.host_port else { continue };
        let mine = format!("`{}` (port {}) for the host's proxy", u.service, u.port);
        let at = loopback_publish(&service.publish, u.port).map_or(service.origin, |p| p.origin);
        if let Some((_, owner, first)) = taken.iter().find(|(p, _, _)| *p == port) {
            out.push(
                Diagnostic::error(Code::PublishClash, format!("host port {port}/tcp is published twice on {LOOPBACK}"))
                    .at(span(at), format!("published by {mine} here"))
                    .label(span(*first), format!("already published by {owner}"))
                    .help(format!(
                        "give `{}` a loopback port of its own: `publish 8081 {} host=\"{LOOPBACK}\"` (any free port)",
                        u.service, u.port
                    )),
            );
            continue;
        }
        taken.push((port, mine, at));
    }
    out
}
