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
            volume_name: None,
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
                let pods = if pods >= ON_EVERY_NODE {
                    "a pod on every node".to_string()
                } else {
                    format!("up to {pods} pods")
                };
                self.warn(
                    vol.origin,
                    format!(
                        "volume `{}` is mounted by {pods} at once: its claim asks for ReadWriteMany, \
                         which needs a storage class that supports it (NFS, CephFS, EFS, ...)",
                        vol.name
                    ),
                    "shared by several pods",
                    "give the volume a `class=` that supports ReadWriteMany, or mount it from one replica only",
                );
            }
            let mut spec = self.claim_spec(&vol, shared);
            self.nfs_volume(&vol, &mut spec);
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

/// The writers of a volume that a service on every node mounts: more than any count.
const ON_EVERY_NODE: u32 = u32::MAX / 2;

/// How many pods mount each volume read-write at once (stateful services excluded:
/// each of their replicas gets its own claim).
pub(super) fn volume_writers(stack: &Stack) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for svc in stack.services.values().filter(|s| !s.stateful) {
        let pods = svc.autoscale.as_ref().map_or(svc.replicas, |a| a.max.max(svc.replicas));
        // One pod per node: as many as there are nodes, never one writer.
        let pods = if svc.global { ON_EVERY_NODE } else { pods };
        for m in &svc.mounts {
            if let MountSource::Volume(v) = &m.source {
                let n: &mut u32 = out.entry(v.clone()).or_insert(0);
                *n = n.saturating_add(pods);
            }
        }
    }
    out
}

/// Where the official Postgres image keeps its data.
const PG_DATA: &str = "/var/lib/postgresql/data";
/// The directory of the claim that holds it: initdb refuses a directory that is not empty,
/// and the root of most volumes holds `lost+found`.
const PG_DATA_SUB_PATH: &str = "pgdata";

impl Builder<'_> {
    /// The directory of a volume a mount shows: `sub-path=`, else, for a Postgres image's data
    /// directory, `pgdata` (the official image fails on a volume root that holds `lost+found`).
    pub(super) fn volume_sub_path(&self, svc: &Service, m: &Mount, target: &str) -> Option<String> {
        if m.sub_path.is_some() {
            return m.sub_path.clone();
        }
        let image = svc.image.as_ref().map(|i| self.stack.compile_time(i)).unwrap_or_default();
        let postgres = POSTGRES_IMAGES.contains(&image_base(&image));
        let data_dir = target.trim_end_matches('/') == PG_DATA;
        let pgdata_set = svc.env.contains_key("PGDATA");
        (postgres && data_dir && !pgdata_set).then(|| PG_DATA_SUB_PATH.to_string())
    }
}

impl Builder<'_> {
    /// `scratch`: an `emptyDir` on the node's disk (no medium), `size=` its `sizeLimit`.
    pub(super) fn scratch(&mut self, svc: &Service, pod: &mut PodSpec, container: &mut Container) {
        for (i, t) in svc.scratch.iter().enumerate() {
            let name = format!("scratch-{}", i + 1);
            pod.volumes.push(PodVolume {
                name: name.clone(),
                persistent_volume_claim: None,
                empty_dir: Some(EmptyDir { medium: None, size_limit: t.size_bytes.map(bytes) }),
                secret: None,
                config_map: None,
                host_path: None,
            });
            let path = self.stack.compile_time(&t.path);
            container.volume_mounts.push(VolumeMount {
                name,
                mount_path: path,
                sub_path: None,
                read_only: None,
                mount_propagation: None,
            });
        }
    }
}
