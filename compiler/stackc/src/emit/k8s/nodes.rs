//! Workloads bound to nodes: a `DaemonSet` for a service on every node, and what such a
//! service reads of its node (host network, host paths) and which taints it tolerates.

use super::*;

impl Builder<'_> {
    /// `mode "global"`: a DaemonSet (one pod per node), with `update` as its rolling update.
    pub(super) fn daemon_set(
        &mut self,
        svc: &Service,
        meta: Meta,
        selector: IndexMap<String, String>,
        template: PodTemplate,
    ) {
        let update_strategy = svc.update.as_ref().and_then(|u| self.rolling_update(svc, u));
        let min_ready_seconds = svc.update.as_ref().and_then(|u| self.amount(&u.monitor, "update")).map(seconds);
        self.push(Object {
            api_version: "apps/v1",
            kind: "DaemonSet",
            metadata: meta,
            spec: Some(DaemonSetSpec {
                selector: Selector { match_labels: selector },
                update_strategy,
                min_ready_seconds,
                template,
            }),
            data: None,
        });
    }

    /// An absolute bind mount: the node's path (`hostPath`) for a service on every node, which
    /// reads its node on purpose (a node exporter's `/`, a log collector's `/var/log`). Any
    /// other pod lands on some node, whose files are not the deploying machine's: left out.
    pub(super) fn host_path(
        &mut self,
        svc: &Service,
        m: &Mount,
        pod: &mut PodSpec,
        container: &mut Container,
        target: String,
    ) {
        let path = self.stack.compile_time(match &m.source {
            MountSource::Bind(p) => p,
            MountSource::Volume(_) => return,
        });
        if !svc.global {
            self.warn(
                svc.origin_of("mount"),
                format!(
                    "service `{}`: the host path `{path}` mounted at `{target}` would be the path of whichever node \
                     runs the pod; it is left out of the manifests",
                    svc.name
                ),
                "mounts a host path",
                "a service that reads its node runs on every node: `mode \"global\"` mounts the node's path (hostPath)",
            );
            return;
        }
        // `rslave` is HostToContainer; `rprivate` is Kubernetes' default (None). Kubernetes
        // allows Bidirectional (`rshared`) to privileged containers only.
        let mount_propagation = match m.propagation.as_deref() {
            Some("rslave" | "slave") => Some("HostToContainer"),
            Some(p @ ("rshared" | "shared")) => {
                self.warn(
                    svc.origin_of("mount"),
                    format!(
                        "service `{}`: `propagation=\"{p}\"` is not expressed for Kubernetes, which allows \
                         Bidirectional propagation to privileged containers only",
                        svc.name
                    ),
                    "here",
                    "the node's path is mounted without propagation (mountPropagation: None); `rslave` maps to \
                     HostToContainer",
                );
                None
            }
            _ => None,
        };
        let name = format!("host-{}", pod.volumes.iter().filter(|v| v.host_path.is_some()).count() + 1);
        pod.volumes.push(PodVolume {
            name: name.clone(),
            persistent_volume_claim: None,
            empty_dir: None,
            secret: None,
            config_map: None,
            host_path: Some(HostPath { path }),
        });
        container.volume_mounts.push(VolumeMount {
            name,
            mount_path: target,
            sub_path: None,
            read_only: m.read_only.then_some(true),
            mount_propagation,
        });
    }

    /// `network-mode "host"` and `toleration`s.
    pub(super) fn node_access(&mut self, svc: &Service, pod: &mut PodSpec) {
        if svc.host_network {
            pod.host_network = Some(true);
            // On the node's network the pod would resolve names with the node's resolver;
            // this keeps the cluster's DNS, so Service names still resolve.
            pod.dns_policy = Some("ClusterFirstWithHostNet");
        }
        let at = svc.origin_of("toleration");
        pod.tolerations = svc
            .tolerations
            .iter()
            .map(|t| K8sToleration {
                key: t.key.as_ref().map(|k| self.text(k, at, "a toleration")),
                operator: if t.value.is_some() { "Equal" } else { "Exists" },
                value: t.value.as_ref().map(|v| self.text(v, at, "a toleration")),
                effect: t.effect.as_deref().map(|e| match e {
                    "no-execute" => "NoExecute",
                    "prefer-no-schedule" => "PreferNoSchedule",
                    _ => "NoSchedule",
                }),
            })
            .collect();
    }
}

impl Builder<'_> {
    /// `annotations` on the pod template, after the scrape annotations (a stack's own
    /// `prometheus.io/…` wins). Keys Kubernetes rejects are left out with a warning.
    pub(super) fn pod_annotations(&mut self, svc: &Service, out: &mut IndexMap<String, String>) {
        for (k, v) in &svc.annotations {
            if !valid_label_key(k) {
                self.warn(
                    svc.origin_of("annotations"),
                    format!("annotation key `{k}` is not a valid Kubernetes key: it is left out of the manifests"),
                    "here",
                    "a key is an optional DNS-subdomain prefix and `/`, then at most 63 letters, digits, `-`, `_` or `.`",
                );
                continue;
            }
            let v = self.text(v, svc.origin_of("annotations"), "an annotation");
            out.insert(k.clone(), v);
        }
    }
}
