//! The Service of each workload: its type, and its ports under the stack's names.

use super::workloads::protocol;
use super::*;

impl Builder<'_> {
    /// The Service: ClusterIP on the declared ports, so that the addresses the stack uses
    /// (`postgres:5432`) are the same as in compose; `port 80 target=8080` listens on 80 and
    /// forwards to the container's 8080. A StatefulSet's is headless.
    pub(super) fn service_object(&mut self, svc: &Service, selector: &IndexMap<String, String>) {
        if svc.ports.is_empty() && !svc.stateful && svc.service_type != ServiceType::Headless {
            return;
        }
        let ports = svc
            .ports
            .iter()
            .map(|p| ServicePort {
                name: service_port_name(svc, p),
                port: p.service_port(),
                target_port: p.port,
                protocol: protocol(p.protocol),
            })
            .collect();
        let headless = svc.stateful || svc.service_type == ServiceType::Headless;
        let kind = match svc.service_type {
            ServiceType::LoadBalancer => Some("LoadBalancer"),
            ServiceType::NodePort => Some("NodePort"),
            ServiceType::ClusterIp | ServiceType::Headless => None,
        };
        let metadata = self.meta(&svc.name, &[(SELECTOR_KEY, &svc.name)]);
        self.push(Object {
            api_version: "v1",
            kind: "Service",
            metadata,
            spec: Some(ServiceSpec { cluster_ip: headless.then_some("None"), selector: selector.clone(), ports, kind }),
            data: None,
        });
    }
}

/// The name of a Service port. A port's own name is kept even when it is the only one:
/// service meshes, `targetPort` references and ServiceMonitor endpoints read it.
pub(super) fn service_port_name(svc: &Service, p: &Port) -> Option<String> {
    let named = svc.ports.len() > 1;
    p.name
        .clone()
        .filter(|n| valid_port_name(n))
        .or_else(|| named.then(|| format!("{}-{}", protocol(p.protocol).to_ascii_lowercase(), p.service_port())))
}
