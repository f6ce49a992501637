//! The compose-only settings of volumes, mounts and networks (issue 12) that Kubernetes has
//! no field for: each is reported where the stack says it (W0501), none is dropped silently.

use super::*;

impl Builder<'_> {
    pub(super) fn storage_options_not_expressed(&mut self) {
        let stack = self.stack;
        for vol in stack.volumes.values() {
            if let Some(nfs) = &vol.nfs {
                self.warn(
                    vol.origin,
                    format!(
                        "volume `{}`: the NFS export `{}:{}` (`nfs=`) is not mounted by the Kubernetes target: \
                         its claim is bound by the storage class",
                        vol.name, nfs.server, nfs.path
                    ),
                    "an NFS export",
                    "give the volume a `class=` whose provisioner serves that export (nfs-subdir-external-provisioner, \
                     csi-driver-nfs), or create a PersistentVolume for it",
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
