//! The top-level `networks:` and `volumes:` of the compose file (the stack's; the generated
//! services add their volumes in `emit`).

use indexmap::IndexMap;

use super::{CIpam, CIpamConfig, CNetwork, CVolume};
use crate::diagnostics::{origin_span, Code, Diagnostic};
use crate::ir::*;

/// The stack's networks as compose networks.
pub(super) fn networks(stack: &Stack) -> IndexMap<String, CNetwork> {
    stack
        .networks
        .values()
        .map(|n| {
            let c = CNetwork {
                driver: n.driver.clone(),
                internal: n.internal.then_some(true),
                external: n.external.then_some(true),
                ipam: n.subnet.as_ref().map(|s| CIpam { config: vec![CIpamConfig { subnet: s.clone() }] }),
            };
            (n.name.clone(), c)
        })
        .collect()
}

/// The stack's named volumes as compose volumes.
pub(super) fn volumes(stack: &Stack) -> IndexMap<String, CVolume> {
    stack.volumes.values().map(|v| (v.name.clone(), CVolume { external: v.external.then_some(true) })).collect()
}

/// What compose cannot express of the stack's volumes.
pub(super) fn check_volumes(stack: &Stack, out: &mut Vec<Diagnostic>) {
    for v in stack.volumes.values() {
        if v.size_bytes.is_some() || v.class.is_some() {
            out.push(
                Diagnostic::warning(
                    Code::TargetApproximation,
                    format!("compose does not size volume `{}` or pick its storage class", v.name),
                )
                .at(origin_span(v.origin), "size and class apply to Kubernetes claims")
                .help("a local docker volume grows with the host's disk"),
            );
        }
    }
}
