//! Devices, privileges and DNS aliases of a service (issue 12) in its pod: `privileged` is
//! the container's `securityContext.privileged`, NVIDIA GPUs a `nvidia.com/gpu` limit (the
//! NVIDIA device plugin's resource), an alias one more Service selecting the same pods. A pod
//! has no field for a host device or a device cgroup rule: those are reported at the setting.

use super::*;

/// The extended resource of the NVIDIA device plugin.
const NVIDIA_GPU: &str = "nvidia.com/gpu";

impl Builder<'_> {
    pub(super) fn devices(&mut self, svc: &Service, container: &mut Container) {
        let name = &svc.name;
        if svc.privileged {
            if let Some(sc) = &mut container.security_context {
                sc.privileged = Some(true);
                // The API server refuses `allowPrivilegeEscalation: false` on a privileged container.
                sc.allow_privilege_escalation = None;
            }
        }
        if let Some(g) = &svc.gpu {
            self.gpu(svc, g, container);
        }
        let unexpressed = [
            ("device", !svc.devices.is_empty(), "a device plugin exposes host devices as resources (as NVIDIA's does for GPUs); without one, mount the device with a `hostPath` volume in a privileged container through a kustomize patch"),
            ("device-cgroup-rule", !svc.device_cgroup_rules.is_empty(), "the kubelet sets the device cgroup: use a device plugin, or a privileged container"),
        ];
        for (setting, present, help) in unexpressed {
            if present {
                self.warn(
                    svc.origin_of(setting),
                    format!("service `{name}`: `{setting}` has no Kubernetes pod setting; it is not expressed"),
                    "here",
                    help,
                );
            }
        }
    }

    /// `gpu count=N` of the NVIDIA driver: a limit of `nvidia.com/gpu` (extended resources are
    /// limits, the request follows). The rest has no pod setting.
    fn gpu(&mut self, svc: &Service, g: &Gpu, container: &mut Container) {
        let at = svc.origin_of("gpu");
        let driver = self.text(&g.driver, at, "`gpu driver=`");
        if driver != "nvidia" {
            self.warn(
                at,
                format!(
                    "service `{}`: `gpu driver=\"{driver}\"` has no Kubernetes resource here; it is not expressed",
                    svc.name
                ),
                "here",
                "request the resource the driver's device plugin registers in a kustomize patch (`resources.limits`)",
            );
            return;
        }
        match g.count {
            Some(n) => {
                container.resources.get_or_insert_with(ResourceReqs::default).limits.insert(NVIDIA_GPU, n.to_string());
            }
            None => self.warn(
                at,
                format!("service `{}`: `gpu device-ids=` has no Kubernetes setting; no GPU is requested", svc.name),
                "here",
                "the device plugin picks the GPUs: request a number with `count=` and pick nodes by label (`nvidia.com/gpu.product`)",
            ),
        }
        let others: Vec<&str> = g.capabilities.iter().map(String::as_str).filter(|c| *c != "gpu").collect();
        if !others.is_empty() {
            self.warn(
                at,
                format!(
                    "service `{}`: the GPU capabilities {} are not expressed on Kubernetes",
                    svc.name,
                    others.join(", ")
                ),
                "here",
                "the NVIDIA container runtime reads them from `NVIDIA_DRIVER_CAPABILITIES`: set it with `env`",
            );
        }
    }

    /// A ClusterIP Service per `alias`, with the service's ports and selector: the alias
    /// resolves in the namespace as the service's own name does.
    pub(super) fn alias_services(&mut self, svc: &Service, selector: &IndexMap<String, String>) {
        if svc.aliases.is_empty() {
            return;
        }
        if svc.ports.is_empty() {
            self.warn(
                svc.origin_of("alias"),
                format!("service `{}` declares no `port`: its aliases get no Kubernetes Service", svc.name),
                "here",
                "declare the ports clients connect to (`port 5432`): a Service forwards declared ports only",
            );
            return;
        }
        for alias in &svc.aliases {
            if alias.contains('_') {
                self.warn(
                    svc.origin_of("alias"),
                    format!(
                        "service `{}`: the alias `{alias}` is not a DNS label; Kubernetes gets no Service for it",
                        svc.name
                    ),
                    "here",
                    format!(
                        "clients in the cluster connect to `{}` (or add `alias \"{}\"`)",
                        svc.name,
                        alias.replace('_', "-")
                    ),
                );
                continue;
            }
            let named =
                Service { name: alias.clone(), stateful: false, service_type: ServiceType::ClusterIp, ..svc.clone() };
            self.service_object(&named, selector);
        }
    }

    /// Service and network names with `_` (`app_db`), which compose keeps: Kubernetes object
    /// names and DNS labels cannot hold `_`, and a Service renamed for the cluster would not be
    /// the name the stack's clients use, so the target refuses them.
    pub(super) fn compose_names(&mut self) {
        let stack = self.stack;
        let services = stack.services.values().map(|s| ("service", &s.name, s.origin));
        let networks = stack.networks.values().filter(|n| !n.implicit).map(|n| ("network", &n.name, n.origin));
        for (kind, name, origin) in services.chain(networks).filter(|(_, name, _)| name.contains('_')) {
            let dashed = name.replace('_', "-");
            self.diags.push(
                Diagnostic::error(
                    Code::TargetCannotExpress,
                    format!("{kind} `{name}`: Kubernetes names cannot contain `_`"),
                )
                .at(origin_span(origin), "a name compose keeps, Kubernetes refuses")
                .help(if kind == "service" {
                    format!(
                        "name it `{dashed}` and keep `{name}` for compose's clients with `alias \"{name}\"`; or build \
                         compose only (`targets {{ compose }}`)"
                    )
                } else {
                    format!("name it `{dashed}`; or build compose only (`targets {{ compose }}`)")
                }),
            );
        }
    }
}
