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
            let mut config: Vec<CIpamConfig> = Vec::new();
            for (subnet, gateway) in [(&n.subnet, &n.gateway), (&n.ipv6_subnet, &n.ipv6_gateway)] {
                if let Some(subnet) = subnet {
                    config.push(CIpamConfig { subnet: subnet.clone(), gateway: gateway.clone() });
                }
            }
            let c = CNetwork {
                driver: n.driver.clone(),
                internal: n.internal.then_some(true),
                external: n.external.then_some(true),
                ipam: (!config.is_empty()).then_some(CIpam { config }),
                name: n.host_name.clone(),
                enable_ipv6: n.ipv6.then_some(true),
                driver_opts: n.driver_opts.clone(),
            };
            (n.name.clone(), c)
        })
        .collect()
}

/// The stack's named volumes as compose volumes.
pub(super) fn volumes(stack: &Stack) -> IndexMap<String, CVolume> {
    stack.volumes.values().map(|v| (v.name.clone(), volume(v))).collect()
}

/// A named volume: an NFS export is the `local` driver's `nfs` type, the server in `o`'s
/// `addr=` and the export in `device` (docker's documented form).
fn volume(v: &Volume) -> CVolume {
    let mut driver_opts = IndexMap::new();
    if let Some(nfs) = &v.nfs {
        let o = match &nfs.options {
            Some(opts) => format!("addr={},{opts}", nfs.server),
            None => format!("addr={}", nfs.server),
        };
        driver_opts.insert("type".to_string(), "nfs".to_string());
        driver_opts.insert("o".to_string(), o);
        driver_opts.insert("device".to_string(), format!(":{}", nfs.path));
    }
    driver_opts.extend(v.driver_opts.iter().map(|(k, v)| (k.clone(), v.clone())));
    let driver = v.driver.clone().or_else(|| v.nfs.as_ref().map(|_| "local".to_string()));
    CVolume { external: v.external.then_some(true), driver, driver_opts }
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
