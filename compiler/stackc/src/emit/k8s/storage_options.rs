//! The compose-only settings of volumes, mounts and networks (issue 12) that Kubernetes has
//! no field for: each is reported where the stack says it (W0501), none is dropped silently.

use super::*;

/// A PersistentVolume's spec: an NFS export, bound in advance to the stack's claim.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PvSpec {
    capacity: IndexMap<&'static str, String>,
    access_modes: Vec<&'static str>,
    persistent_volume_reclaim_policy: &'static str,
    /// Empty: no class, so that no provisioner takes the claim instead.
    storage_class_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mount_options: Vec<String>,
    nfs: NfsSource,
    claim_ref: ObjectRef,
}

#[derive(Serialize)]
struct NfsSource {
    server: String,
    path: String,
}

#[derive(Serialize)]
struct ObjectRef {
    namespace: String,
    name: String,
}

impl Builder<'_> {
    /// `volume nfs=`: a PersistentVolume of the export (named after the namespace, since
    /// PersistentVolumes are cluster-wide), which the volume's claim binds to by name. The
    /// data stays on the server when the objects are deleted (`Retain`).
    pub(super) fn nfs_volume(&mut self, vol: &Volume, claim: &mut PvcSpec) {
        // With `class=` the class provisions the claim (reported in `storage_options_not_expressed`).
        let Some(nfs) = vol.nfs.as_ref().filter(|_| vol.class.is_none()) else { return };
        let name = format!("{}-{}", self.ns, vol.name);
        claim.storage_class_name = Some(String::new());
        claim.volume_name = Some(name.clone());
        let mut metadata = self.meta(&name, &[]);
        metadata.namespace = None;
        let spec = PvSpec {
            capacity: claim.resources.requests.clone(),
            access_modes: claim.access_modes.clone(),
            persistent_volume_reclaim_policy: "Retain",
            storage_class_name: String::new(),
            mount_options: nfs.options.iter().flat_map(|o| o.split(',')).map(str::to_string).collect(),
            nfs: NfsSource { server: nfs.server.clone(), path: nfs.path.clone() },
            claim_ref: ObjectRef { namespace: self.ns.clone(), name: vol.name.clone() },
        };
        self.push(Object { api_version: "v1", kind: "PersistentVolume", metadata, spec: Some(spec), data: None });
    }

    pub(super) fn storage_options_not_expressed(&mut self) {
        let stack = self.stack;
        for vol in stack.volumes.values() {
            // A stateful service's claims are one per replica, which one export cannot back.
            let stateful = stack.services.values().any(|svc| {
                svc.stateful && svc.mounts.iter().any(|m| matches!(&m.source, MountSource::Volume(v) if *v == vol.name))
            });
            if let Some(nfs) = vol.nfs.as_ref().filter(|_| stateful || vol.class.is_some()) {
                let why = match stateful {
                    true => "a stateful service's Kubernetes claims (one per replica, from the storage class)",
                    false => "the Kubernetes claim, which `class=` has provisioned instead",
                };
                self.warn(
                    vol.origin,
                    format!("volume `{}`: the NFS export `{}:{}` (`nfs=`) does not back {why}", vol.name, nfs.server, nfs.path),
                    "an NFS export",
                    "give the volume a `class=` whose provisioner serves that export (nfs-subdir-external-provisioner, \
                     csi-driver-nfs), or mount it from a service that is not `stateful`",
                );
            }
            if vol.driver.is_some() || !vol.driver_opts.is_empty() {
                self.warn(
                    vol.origin,
                    format!(
                        "volume `{}`: `driver=` and `driver-opts` are docker volume settings, not expressed for Kubernetes",
                        vol.name
                    ),
                    "a docker volume driver",
                    "the claim's storage class decides the driver on Kubernetes: give the volume a `class=`",
                );
            }
        }
        for svc in stack.services.values() {
            for m in &svc.mounts {
                let set = [("selinux=", m.selinux.is_some()), ("create-host-path=", m.create_host_path.is_some())];
                let names: Vec<&str> = set.iter().filter(|(_, on)| *on).map(|(n, _)| *n).collect();
                if names.is_empty() {
                    continue;
                }
                self.warn(
                    svc.origin_of("mount"),
                    format!(
                        "service `{}`: {} of a bind mount is not expressed for Kubernetes",
                        svc.name,
                        names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" and ")
                    ),
                    "a docker bind option",
                    "pods relabel their volumes by the pod's `seLinuxOptions`, and a hostPath is created \
                     by its `type`: set them in the cluster's policy",
                );
            }
            for t in svc.tmpfs.iter().filter(|t| t.mode.is_some()) {
                self.warn(
                    svc.origin_of("tmpfs"),
                    format!(
                        "service `{}`: the tmpfs at `{}` has `mode=`, which a Kubernetes emptyDir does not take",
                        svc.name,
                        stack.compile_time(&t.path)
                    ),
                    "a tmpfs mode",
                    "an emptyDir is world-writable (0777); the pod's `fsGroup` sets its group",
                );
            }
            for a in &svc.addresses {
                self.warn(
                    a.origin,
                    format!(
                        "service `{}`: the fixed address on network `{}` (`address`) has no Kubernetes meaning: \
                         pods get their addresses from the cluster",
                        svc.name, a.network
                    ),
                    "a fixed address",
                    "reach the service by its name (its Service); a Service's `clusterIP` is the cluster's to assign",
                );
            }
        }
    }
}
