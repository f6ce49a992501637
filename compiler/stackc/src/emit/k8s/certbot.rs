//! certbot (the `certbot` preset, or any service of a certbot image) does not run on
//! Kubernetes: cert-manager issues and renews the certificates there, for the Ingress
//! (`targets > k8s cluster-issuer=`). Each such service is left out with a W0501, and so are
//! the volumes only they mount (its webroot and certificates would be claims nobody reads).

use std::borrow::Cow;

use super::*;

fn is_certbot(stack: &Stack, svc: &Service) -> bool {
    svc.image.as_ref().is_some_and(|i| is_certbot_image(&stack.compile_time(i)))
}

/// The stack the manifests are built from, and a W0501 per certbot service left out.
pub(super) fn without_certbot(stack: &Stack) -> (Cow<'_, Stack>, Vec<Diagnostic>) {
    let certbot: Vec<&Service> = stack.services.values().filter(|s| is_certbot(stack, s)).collect();
    if certbot.is_empty() {
        return (Cow::Borrowed(stack), Vec::new());
    }
    let diags = certbot
        .iter()
        .map(|svc| {
            Diagnostic::warning(
                Code::TargetApproximation,
                format!("service `{}` runs certbot, which the k8s target leaves out", svc.name),
            )
            .at(origin_span(svc.origin), "not in the manifests")
            .help(
                "on Kubernetes cert-manager obtains and renews certificates: set `targets > k8s cluster-issuer=` \
                 and the Ingress asks it for the sites' certificates",
            )
        })
        .collect();
    let names: Vec<String> = certbot.iter().map(|s| s.name.clone()).collect();
    let mut out = stack.clone();
    out.services.retain(|name, _| !names.contains(name));
    // A volume a backup archives stays, with the claim the backup reads.
    let mounted = |v: &str| {
        out.services.values().flat_map(|s| &s.mounts).any(|m| matches!(&m.source, MountSource::Volume(n) if n == v))
            || out.backups.values().any(|b| b.volume.as_deref() == Some(v))
    };
    let unused: Vec<String> = stack
        .services
        .values()
        .filter(|s| names.contains(&s.name))
        .flat_map(|s| &s.mounts)
        .filter_map(|m| match &m.source {
            MountSource::Volume(n) if !mounted(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    out.volumes.retain(|name, _| !unused.contains(name));
    (Cow::Owned(out), diags)
}
