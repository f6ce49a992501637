//! Storage: PersistentVolumeClaims for the stack's volumes, sized and shared as the
//! services that mount them need.

use super::*;

impl Builder<'_> {
    pub(super) fn claim_spec(&mut self, vol: &Volume, shared: bool) -> PvcSpec {
        let size = match vol.size_bytes {
            Some(b) => b,
            None => {
                self.warn(
                    vol.origin,
                    format!(
                        "volume `{}` has no size: its Kubernetes claim asks for {}",
                        vol.name,
                        bytes(DEFAULT_CLAIM_BYTES)
                    ),
                    "no `size=`",
                    "give the volume a `size=` (for example `size=\"10Gi\"`)",
                );
                DEFAULT_CLAIM_BYTES
            }
        };
        let mut requests = IndexMap::new();
        requests.insert("storage", bytes(size));
        PvcSpec {
            access_modes: vec![if shared { "ReadWriteMany" } else { "ReadWriteOnce" }],
            storage_class_name: vol
                .class
                .as_ref()
                .map(|c| self.text(&Text::from_default(c), vol.origin, "a volume's `class=`"))
                .or_else(|| option(self.stack, "storage-class")),
            resources: PvcResources { requests },
        }
    }

    /// A claim per named volume that non-stateful services mount.
    pub(super) fn volumes(&mut self) {
        let writers = self.writers.clone();
        let vols: Vec<Volume> = self.stack.volumes.values().cloned().collect();
        for vol in vols {
            let Some(&pods) = writers.get(&vol.name) else { continue };
            if vol.external {
                continue;
            }
            let shared = pods > 1;
            if shared {
                self.warn(
                    vol.origin,
                    format!(
                        "volume `{}` is mounted by up to {pods} pods at once: its claim asks for ReadWriteMany, \
                         which needs a storage class that supports it (NFS, CephFS, EFS, ...)",
                        vol.name
                    ),
                    "shared by several pods",
                    "give the volume a `class=` that supports ReadWriteMany, or mount it from one replica only",
                );
            }
            let spec = self.claim_spec(&vol, shared);
            let metadata = self.meta(&vol.name, &[]);
            self.push(Object {
                api_version: "v1",
                kind: "PersistentVolumeClaim",
                metadata,
                spec: Some(spec),
                data: None,
            });
        }
    }
}

/// How many pods mount each volume read-write at once (stateful services excluded:
/// each of their replicas gets its own claim).
pub(super) fn volume_writers(stack: &Stack) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for svc in stack.services.values().filter(|s| !s.stateful) {
        let pods = svc.autoscale.as_ref().map_or(svc.replicas, |a| a.max.max(svc.replicas));
        for m in &svc.mounts {
            if let MountSource::Volume(v) = &m.source {
                *out.entry(v.clone()).or_insert(0) += pods;
            }
        }
    }
    out
}
