//! Devices, privileges, the image's own health check and DNS aliases of a service
//! (issue 12): `privileged`, `device`, `device-cgroup-rule`, `gpu`, `image-health #false`,
//! `alias`.

use super::values::*;
use super::*;

/// One GPU reservation (`deploy.resources.reservations.devices[]`).
#[derive(Serialize)]
pub(super) struct CDeviceRequest {
    driver: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    device_ids: Vec<String>,
    capabilities: Vec<String>,
}

pub(super) fn devices(stack: &Stack, svc: &Service, c: &mut CService) {
    if svc.privileged {
        c.privileged = Some(true);
    }
    c.devices.extend(svc.devices.iter().map(|d| {
        let path = render_plain(stack, &d.path);
        let target = d.target.as_ref().map_or_else(|| path.clone(), |t| render_plain(stack, t));
        match &d.permissions {
            Some(p) => format!("{path}:{target}:{p}"),
            None => format!("{path}:{target}"),
        }
    }));
    c.device_cgroup_rules = render_all(stack, &svc.device_cgroup_rules);
    if let Some(g) = &svc.gpu {
        let request = CDeviceRequest {
            driver: render_plain(stack, &g.driver),
            count: g.count,
            device_ids: g.device_ids.as_ref().map(|ids| device_ids(stack, ids)).unwrap_or_default(),
            capabilities: g.capabilities.clone(),
        };
        let deploy = c.deploy.get_or_insert_with(CDeploy::default);
        let resources = deploy.resources.get_or_insert_with(CResources::default);
        resources.reservations.get_or_insert_with(CLimits::default).devices.push(request);
    }
    // Validation refuses `health` with it: the stack's check replaces the image's anyway.
    if svc.image_health_off && c.healthcheck.is_none() {
        c.healthcheck = Some(CHealth { disable: Some(true), ..CHealth::default() });
    }
    c.aliases.clone_from(&svc.aliases);
}

/// `device-ids="0,1"` as compose's list. A value read at deploy time stays one item: the
/// NVIDIA runtime joins the IDs with commas (`NVIDIA_VISIBLE_DEVICES`), so `"0,1"` as one
/// item selects the same GPUs.
fn device_ids(stack: &Stack, ids: &Text) -> Vec<String> {
    if stack.reads_deploy_env(ids) {
        return vec![render_plain(stack, ids)];
    }
    stack.compile_time(ids).split(',').map(|i| esc(i.trim())).filter(|i| !i.is_empty()).collect()
}

/// The aliases on each network of the service, in the long form of `networks`. Run on the
/// finished services: the generated ones (Prometheus, exporters) get their networks late.
pub(super) fn aliases(c: &mut CService) {
    if c.aliases.is_empty() {
        return;
    }
    // Compose refuses aliases on the host network; `check_aliases` says so. The long form
    // of `networks` (with the fixed addresses, if any) carries them on every network.
    for net in c.networks.names.clone() {
        c.networks.addresses.entry(net).or_default().aliases.clone_from(&c.aliases);
    }
}

/// Aliases name a container on a network: with `network-mode "host"` there is none.
pub(super) fn check_aliases(stack: &Stack, out: &mut Vec<Diagnostic>) {
    for svc in stack.services.values().filter(|s| s.host_network && !s.aliases.is_empty()) {
        out.push(
            Diagnostic::error(
                Code::TargetCannotExpress,
                format!("service `{}` has DNS aliases on the host's network: compose has no network to give them on", svc.name),
            )
            .at(origin_span(svc.origin_of("alias")), "aliases")
            .label(origin_span(svc.origin_of("network-mode")), "the host's network")
            .help("drop `alias` (other containers reach a host-network service at the host's address), or `network-mode \"host\"`"),
        );
    }
}
