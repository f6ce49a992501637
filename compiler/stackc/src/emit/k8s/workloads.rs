//! Workloads: a Deployment or StatefulSet per service (containers, probes, resources,
//! security context, update strategy), its Service and its HorizontalPodAutoscaler.

use super::*;

impl Builder<'_> {
    pub(super) fn probe(&mut self, p: &Probe, origin: Origin) -> K8sProbe {
        let mut out = K8sProbe {
            initial_delay_seconds: self.amount(&p.start_period, "a health check").map(seconds),
            period_seconds: self.amount(&p.interval, "a health check").map(|ms| seconds(ms).max(1)),
            timeout_seconds: self.amount(&p.timeout, "a health check").map(|ms| seconds(ms).max(1)),
            failure_threshold: p.retries,
            ..K8sProbe::default()
        };
        match &p.check {
            Check::Http { path, port } => {
                let http_headers = self.probe_headers(p, origin);
                out.http_get =
                    Some(HttpGet { path: self.text(path, origin, "a health check"), port: *port, http_headers })
            }
            Check::Tcp(port) => out.tcp_socket = Some(TcpSocket { port: *port }),
            Check::Grpc(port) => out.grpc = Some(TcpSocket { port: *port }),
            // Probes are not expanded by Kubernetes, and `cmd=` is shell syntax (as in compose).
            Check::Cmd(c) => {
                out.exec =
                    Some(Exec { command: vec!["sh".into(), "-c".into(), self.text(c, origin, "a health check")] })
            }
        }
        out
    }

    pub(super) fn resources(&mut self, svc: &Service) -> Option<ResourceReqs> {
        let r = &svc.resources;
        let mut out = ResourceReqs::default();
        if let Some(m) = r.reserve_cpus_milli {
            out.requests.insert("cpu", cpu(m));
        }
        if let Some(b) = self.amount(&r.reserve_memory, "resources") {
            out.requests.insert("memory", bytes(b));
        }
        if let Some(m) = r.cpus_milli {
            out.limits.insert("cpu", cpu(m));
        }
        if let Some(b) = self.amount(&r.memory, "resources") {
            out.limits.insert("memory", bytes(b));
        }
        if r.pids.is_some() {
            self.warn(
                svc.origin_of("resources"),
                format!("service `{}`: `resources pids=` has no per-container setting in Kubernetes", svc.name),
                "here",
                "the kubelet's `podPidsLimit` sets it for every pod of a node",
            );
        }
        (!out.requests.is_empty() || !out.limits.is_empty()).then_some(out)
    }

    /// `update` as a rolling update: `order="stop-first"` is no surge (the old pod goes
    /// before its replacement starts), `"start-first"` Kubernetes' default surge.
    pub(super) fn rolling_update(&mut self, svc: &Service, u: &UpdateConfig) -> Option<Strategy> {
        let stop_first = u.order.as_deref() == Some("stop-first");
        let max_surge = u.max_surge.or(stop_first.then_some(0));
        let mut max_unavailable = u.max_unavailable.or((max_surge == Some(0)).then_some(1));
        if max_surge == Some(0) && max_unavailable == Some(0) {
            self.warn(
                svc.origin_of("update"),
                format!(
                    "service `{}`: an update with neither a surge nor an unavailable replica cannot progress; \
                     Kubernetes gets maxUnavailable 1",
                    svc.name
                ),
                "update",
                "allow `max-surge=1` (start-first) or `max-unavailable=1`",
            );
            max_unavailable = Some(1);
        }
        (max_surge.is_some() || max_unavailable.is_some()).then_some(Strategy {
            kind: "RollingUpdate",
            rolling_update: Some(RollingUpdate { max_surge, max_unavailable }),
        })
    }

    pub(super) fn service(&mut self, svc: &Service) {
        let name = svc.name.clone();
        let mut selector = IndexMap::new();
        selector.insert(SELECTOR_KEY.to_string(), name.clone());

        // Pod labels: the stack's, the service's, the scrape job, and the selector (last, so
        // that no label of the stack can detach the pods from their workload).
        let mut pod_labels = self.stack_labels();
        let svc_labels: Vec<(String, Text)> = svc.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (k, v) in svc_labels {
            let v = self.text(&v, svc.origin, "a label");
            pod_labels.insert(k, v);
        }
        let mut annotations = IndexMap::new();
        if let Some(m) = svc.metrics.as_ref().filter(|_| !monitoring::prometheus_operator(self.stack)) {
            pod_labels.insert("job".into(), m.job.clone());
            annotations.insert("prometheus.io/scrape".to_string(), "true".to_string());
            let path = self.text(&Text::from_default(&m.path), svc.origin_of("metrics"), "`metrics path=`");
            annotations.insert("prometheus.io/path".to_string(), path);
            annotations.insert("prometheus.io/port".to_string(), m.port.to_string());
            if m.scheme != "http" {
                annotations.insert("prometheus.io/scheme".to_string(), m.scheme.clone());
            }
            if m.interval_ms.is_some() {
                self.warn(
                    svc.origin_of("metrics"),
                    "the scrape annotations of a pod have no interval: `metrics interval=` is not expressed on Kubernetes",
                    "not expressed on Kubernetes",
                    "the cluster's scrape configuration sets the interval (a PodMonitor's `interval` with the operator)",
                );
            }
        }
        self.pod_annotations(svc, &mut annotations);
        pod_labels.insert(SELECTOR_KEY.to_string(), name.clone());
        let pod_labels = self.clean_labels(pod_labels, svc.origin);

        let image = match &svc.image {
            Some(i) => self.text(i, svc.origin, "the image"),
            None => {
                self.diags.push(
                    Diagnostic::error(
                        Code::TargetCannotExpress,
                        format!("service `{name}` has no `image`: Kubernetes pulls images and never builds them"),
                    )
                    .at(origin_span(svc.origin), "only `build` here")
                    .help("add `image \"registry/name:tag\"` next to `build`: compose builds and tags it, Kubernetes pulls it"),
                );
                return;
            }
        };
        let dollar = |b: &mut Self, ts: &Option<Vec<Text>>, what: &str| -> Option<Vec<String>> {
            ts.as_ref().map(|v| v.iter().map(|t| escape_dollar(&b.text(t, svc.origin, what))).collect())
        };
        let command = dollar(self, &svc.entrypoint, "`entrypoint`");
        let args = dollar(self, &svc.command, "`command`");

        let mut container = Container {
            name: name.clone(),
            image,
            command,
            args,
            working_dir: svc.working_dir.as_ref().map(|w| self.stack.compile_time(w)),
            ..Container::default()
        };
        for p in &svc.ports {
            container.ports.push(ContainerPort {
                name: p.name.clone().filter(|n| valid_port_name(n)),
                container_port: p.port,
                protocol: protocol(p.protocol),
            });
        }
        container.env_from =
            svc.env_from.iter().map(|g| EnvFrom { config_map_ref: NameRef { name: g.clone() } }).collect();
        container.env = self.env(svc);
        container.resources = self.resources(svc);
        if let Some(h) = &svc.health {
            container.liveness_probe = Some(self.probe(h, svc.origin_of("health")));
        }
        if let Some(r) = svc.readiness.as_ref().or(svc.health.as_ref()) {
            let at = svc.origin_of(if svc.readiness.is_some() { "readiness" } else { "health" });
            container.readiness_probe = Some(self.probe(r, at));
        }
        self.startup_probe(svc, &mut container);

        // Volumes and mounts.
        let mut pod = PodSpec::default();
        let mut claim_templates = Vec::new();
        let mut mounted: BTreeSet<String> = BTreeSet::new();
        for m in &svc.mounts {
            let target = self.text(&m.target, svc.origin_of("mount"), "a mount target");
            match &m.source {
                MountSource::Volume(v) => {
                    if mounted.insert(v.clone()) {
                        let Some(vol) = self.stack.volumes.get(v).cloned() else { continue };
                        if svc.stateful && !vol.external {
                            let spec = self.claim_spec(&vol, false);
                            claim_templates.push(Object {
                                api_version: "v1",
                                kind: "PersistentVolumeClaim",
                                metadata: Meta { name: v.clone(), ..Meta::default() },
                                spec: Some(spec),
                                data: None,
                            });
                        } else {
                            pod.volumes.push(PodVolume {
                                name: v.clone(),
                                persistent_volume_claim: Some(ClaimRef { claim_name: v.clone() }),
                                empty_dir: None,
                                secret: None,
                                config_map: None,
                                host_path: None,
                            });
                        }
                    }
                    let sub_path = self.volume_sub_path(svc, m, &target);
                    container.volume_mounts.push(VolumeMount {
                        name: v.clone(),
                        mount_path: target,
                        sub_path,
                        read_only: m.read_only.then_some(true),
                        mount_propagation: None,
                    });
                    if m.propagation.is_some() {
                        self.warn(
                            svc.origin_of("mount"),
                            format!("service `{name}`: mount propagation is not expressed for Kubernetes"),
                            "here",
                            "propagation matters for host paths, which Kubernetes pods do not mount",
                        );
                    }
                }
                MountSource::Bind(path) if self.stack.compile_time(path).starts_with('/') => {
                    self.host_path(svc, m, &mut pod, &mut container, target);
                }
                MountSource::Bind(path) => {
                    let path = self.stack.compile_time(path);
                    self.warn(
                        svc.origin_of("mount"),
                        format!(
                            "service `{name}`: the host path `{path}` mounted at `{target}` has no Kubernetes meaning; \
                             it is left out of the manifests"
                        ),
                        "mounts a host path",
                        "use a named volume, or bake the files into the image (a ConfigMap for configuration)",
                    );
                }
            }
        }
        self.scratch(svc, &mut pod, &mut container);
        for (i, t) in svc.tmpfs.iter().enumerate() {
            let vname = format!("tmpfs-{}", i + 1);
            pod.volumes.push(PodVolume {
                name: vname.clone(),
                persistent_volume_claim: None,
                empty_dir: Some(EmptyDir { medium: Some("Memory"), size_limit: t.size_bytes.map(bytes) }),
                secret: None,
                config_map: None,
                host_path: None,
            });
            let path = self.stack.compile_time(&t.path);
            container.volume_mounts.push(VolumeMount {
                name: vname,
                mount_path: path,
                sub_path: None,
                read_only: None,
                mount_propagation: None,
            });
        }
        if let Some(b) = self.amount(&svc.shm_size, "shm-size") {
            pod.volumes.push(PodVolume {
                name: "dshm".into(),
                persistent_volume_claim: None,
                empty_dir: Some(EmptyDir { medium: Some("Memory"), size_limit: Some(bytes(b)) }),
                secret: None,
                config_map: None,
                host_path: None,
            });
            container.volume_mounts.push(VolumeMount {
                name: "dshm".into(),
                mount_path: "/dev/shm".into(),
                sub_path: None,
                read_only: None,
                mount_propagation: None,
            });
        }
        for f in &svc.secret_files {
            let Some(r) = self.secret_ref(&f.secret) else { continue };
            let vname = format!("secret-{}", f.secret);
            let target = match &f.target {
                Some(t) => self.text(t, svc.origin, "a secret's target"),
                None => format!("/run/secrets/{}", f.secret),
            };
            pod.volumes.push(PodVolume {
                name: vname.clone(),
                persistent_volume_claim: None,
                empty_dir: None,
                secret: Some(SecretVolume {
                    secret_name: r.name,
                    items: vec![KeyToPath { key: r.key, path: f.secret.clone(), mode: f.mode }],
                    optional: r.optional,
                }),
                config_map: None,
                host_path: None,
            });
            // subPath puts the one file at the path the image expects, next to the image's own files.
            container.volume_mounts.push(VolumeMount {
                name: vname,
                mount_path: target,
                sub_path: Some(f.secret.clone()),
                read_only: Some(true),
                mount_propagation: None,
            });
        }

        let has_claims = !claim_templates.is_empty() || pod.volumes.iter().any(|v| v.persistent_volume_claim.is_some());
        let hardening = self.security(svc, &container.image, has_claims);
        container.security_context = Some(hardening.container);
        self.pod_identity(&mut pod, &name, hardening.pod, svc.service_account_token);

        // Pod settings.
        pod.hostname = svc.hostname.as_ref().map(|h| self.stack.compile_time(h));
        pod.host_pid = (svc.pid.as_deref() == Some("host")).then_some(true);
        self.node_access(svc, &mut pod);
        pod.termination_grace_period_seconds = self.amount(&svc.stop_grace_period, "stop-grace-period").map(seconds);
        if let Some(p) = &svc.platform {
            let p = self.stack.compile_time(p);
            let mut parts = p.split('/');
            if let Some(os) = parts.next().filter(|s| !s.is_empty()) {
                pod.node_selector.insert("kubernetes.io/os".into(), os.to_string());
            }
            if let Some(arch) = parts.next().filter(|s| !s.is_empty()) {
                pod.node_selector.insert("kubernetes.io/arch".into(), arch.to_string());
            }
        }
        if let Some(n) = svc.max_replicas_per_node {
            pod.topology_spread_constraints.push(Spread {
                max_skew: n,
                topology_key: "kubernetes.io/hostname",
                when_unsatisfiable: "DoNotSchedule",
                label_selector: Selector { match_labels: selector.clone() },
            });
            self.warn(
                svc.origin_of("placement"),
                format!(
                    "service `{name}`: `placement max-replicas-per-node={n}` becomes a topology spread with maxSkew {n}, \
                     which bounds the difference between nodes, not the count per node"
                ),
                "here",
                "the scheduler keeps replicas within that skew of each other across nodes",
            );
        }
        for (what, setting, present) in [("`init`", "init", svc.init), ("`ulimit`", "ulimit", !svc.ulimits.is_empty())]
        {
            if present {
                self.warn(
                    svc.origin_of(setting),
                    format!("service `{name}`: {what} has no Kubernetes pod setting; it is not expressed"),
                    "here",
                    "build it into the image (an init such as tini as entrypoint; limits in the runtime's configuration)",
                );
            }
        }
        self.compose_settings(svc, &mut container);
        self.devices(svc, &mut container);
        self.swarm_settings(svc);
        pod.init_containers = self.init_containers(svc, &container);
        if let Some(d) = svc.depends_on.first() {
            self.warn(
                d.origin,
                format!(
                    "service `{name}`: Kubernetes starts pods in no order; `depends-on` is not expressed \
                     (the pod restarts until what it needs answers, and its readiness probe keeps traffic away until then)"
                ),
                "start order",
                "make the program retry its connections at start-up",
            );
        }

        let one_shot = svc.restart.as_deref() == Some("no");
        let pod_meta = PodMeta { labels: pod_labels, annotations };
        let mut meta = self.meta(&name, &[(SELECTOR_KEY, &name)]);
        if let Some(d) = &svc.description {
            let d = self.text(&Text::from_default(d), svc.origin_of("description"), "`description`");
            meta.annotations.insert("description".into(), d);
        }
        if svc.global {
            pod.containers.push(container);
            self.daemon_set(svc, meta, selector.clone(), PodTemplate { metadata: pod_meta, spec: pod });
        } else if one_shot {
            // A job to completion (compose `restart: "no"`, `depends-on … completed=#true`):
            // its pod retries on failure, as a start order would otherwise have to.
            pod.restart_policy = Some("OnFailure");
            pod.containers.push(container);
            let spec = JobSpec { backoff_limit: 6, template: PodTemplate { metadata: pod_meta, spec: pod } };
            let mut meta = meta;
            meta.name = self.job_name(svc, &spec);
            self.push(Object { api_version: "batch/v1", kind: "Job", metadata: meta, spec: Some(spec), data: None });
        } else {
            pod.containers.push(container);
            let strategy = if svc.stateful {
                None
            } else if svc.mounts.iter().any(|m| match &m.source {
                MountSource::Volume(v) => self.writers.get(v).is_some_and(|n| *n <= 1),
                MountSource::Bind(_) => false,
            }) {
                // A ReadWriteOnce claim attaches to one node: a rolling update would start the
                // new pod while the old one holds the volume, and wait forever.
                Some(Strategy { kind: "Recreate", rolling_update: None })
            } else {
                svc.update.as_ref().and_then(|u| self.rolling_update(svc, u))
            };
            let spec = WorkloadSpec {
                // With an autoscaler the replica count is its: a count here would be reset on
                // every apply and then scaled again.
                replicas: if svc.autoscale.is_some() { None } else { Some(svc.replicas) },
                service_name: svc.stateful.then(|| name.clone()),
                selector: Selector { match_labels: selector.clone() },
                strategy,
                min_ready_seconds: svc.update.as_ref().and_then(|u| self.amount(&u.monitor, "update")).map(seconds),
                template: PodTemplate { metadata: pod_meta, spec: pod },
                volume_claim_templates: claim_templates,
            };
            let (api_version, kind) = if svc.stateful { ("apps/v1", "StatefulSet") } else { ("apps/v1", "Deployment") };
            self.push(Object { api_version, kind, metadata: meta, spec: Some(spec), data: None });
            self.autoscaler(svc, kind);
            self.disruption_budget(svc, &selector);
        }

        self.service_object(svc, &selector);
        self.alias_services(svc, &selector);
        for p in &svc.publish {
            self.warn(
                p.origin,
                format!(
                    "service `{name}`: `publish {}` has no Kubernetes meaning; the port is reachable inside the cluster \
                     through the Service `{name}`",
                    p.host_port
                ),
                "host port",
                "expose HTTP through a `site` (an Ingress); for other protocols, add a LoadBalancer Service yourself",
            );
        }
    }

    /// The settings of compose's service model (issue 12): `pull-policy` is the container's
    /// imagePullPolicy; the others have no pod setting here and are reported at the setting.
    fn compose_settings(&mut self, svc: &Service, container: &mut Container) {
        let name = &svc.name;
        container.image_pull_policy = match svc.pull_policy.as_deref() {
            Some("always") => Some("Always"),
            Some("missing") => Some("IfNotPresent"),
            Some("never") => Some("Never"),
            _ => None,
        };
        let unexpressed = [
            ("pull-policy", svc.pull_policy.as_deref() == Some("build"), "Kubernetes pulls images and never builds them: push the image and use `always` or `missing`"),
            ("profiles", !svc.profiles.is_empty(), "Kubernetes applies every object of the kustomization: leave the service out of the stack (or an environment) to not deploy it"),
            ("stop-signal", svc.stop_signal.is_some(), "the kubelet sends SIGTERM: make the image's STOPSIGNAL the one the program needs"),
            ("container-name", svc.container_name.is_some(), "pods get generated names; other pods reach this one by its Service name"),
            ("sysctl", !svc.sysctls.is_empty(), "set the pod's `securityContext.sysctls` (unsafe ones need the kubelet's allowlist) in a kustomize patch"),
            ("group-add", !svc.group_add.is_empty(), "set the pod's `securityContext.supplementalGroups` (numeric GIDs) in a kustomize patch"),
            // kustomize's configMapGenerator loads files below the kustomization only, and the
            // file must never be copied into the output.
            ("env-file", !svc.env_files.is_empty(), "create a ConfigMap from the file and take it in a kustomize patch (`envFrom`): `kubectl create configmap NAME --from-env-file=FILE`"),
        ];
        for (setting, present, help) in unexpressed {
            if present {
                self.warn(
                    svc.origin_of(setting),
                    format!("service `{name}`: `{setting}` has no Kubernetes setting here; it is not expressed"),
                    "here",
                    help,
                );
            }
        }
    }

    /// Settings of compose (and swarm) that a pod has no field for. The messages do not name
    /// the service: a setting from `defaults` is one warning at the `defaults` node, however
    /// many services take it (identical diagnostics are merged).
    pub(super) fn swarm_settings(&mut self, svc: &Service) {
        if svc.build.is_some() {
            self.warn(
                svc.origin_of("build"),
                "k8s cannot build images: `build` (its context=, dockerfile= and `arg`s) is not expressed; \
                 Kubernetes pulls `image`",
                "not built on Kubernetes",
                "build and push the image before applying the manifests (compose builds it with `docker compose build`)",
            );
        }
        if let Some(l) = &svc.logging {
            let mut set = vec![format!("driver=\"{}\"", l.driver)];
            set.extend(
                set_properties(&[
                    ("max-size=", l.max_size.is_some()),
                    ("max-file=", l.max_file.is_some()),
                    ("address=", l.address.is_some()),
                    ("tag=", l.tag.is_some()),
                ])
                .into_iter()
                .map(String::from),
            );
            self.warn(
                svc.origin_of("logging"),
                format!(
                    "cluster logging is not set per pod: `logging` ({}) is not expressed on Kubernetes",
                    set.join(", ")
                ),
                "not set per pod",
                "the kubelet rotates container logs (containerLogMaxSize, containerLogMaxFiles) and the cluster's log \
                 collector ships them",
            );
        }
        let restart: Vec<&str> = set_properties(&[
            ("max-attempts=", svc.restart_max_attempts.is_some()),
            ("delay=", svc.restart_delay.is_some()),
            ("window=", svc.restart_window.is_some()),
        ]);
        if !restart.is_empty() {
            self.warn(
                svc.origin_of("restart"),
                format!(
                    "Kubernetes restarts a pod's containers with its own back-off: `restart` {} is not expressed",
                    restart.join(", ")
                ),
                "not expressed on Kubernetes",
                "the kubelet retries with an exponential back-off (10s up to 5 minutes), without a limit",
            );
        }
        if let Some(u) = &svc.update {
            let lost: Vec<&str> = set_properties(&[
                ("parallelism=", u.parallelism.is_some()),
                ("delay=", u.delay.is_some()),
                ("failure-action=", u.failure_action.is_some()),
                ("max-failure-ratio=", u.max_failure_ratio.is_some()),
            ]);
            if !lost.is_empty() {
                self.warn(
                    svc.origin_of("update"),
                    format!(
                        "a Kubernetes rolling update has no batch size, pause or failure action: `update` {} \
                         (swarm settings) are not expressed",
                        lost.join(", ")
                    ),
                    "swarm only",
                    "max-surge=, max-unavailable=, order= and monitor= (minReadySeconds) are what a rolling update reads",
                );
            }
        }
        if svc.rollback.is_some() {
            self.warn(
                svc.origin_of("rollback"),
                "Kubernetes does not roll back a failed update by itself: `rollback` (a swarm setting) is not expressed",
                "swarm only",
                "roll back with `kubectl rollout undo`; progressDeadlineSeconds marks a stuck rollout as failed",
            );
        }
    }

    /// The HorizontalPodAutoscaler of an `autoscale` (autoscaling/v2).
    pub(super) fn autoscaler(&mut self, svc: &Service, kind: &'static str) {
        let Some(a) = &svc.autoscale else { return };
        let mut metrics = Vec::new();
        for (name, pct) in [("cpu", a.cpu_percent), ("memory", a.memory_percent)] {
            if let Some(p) = pct {
                metrics.push(HpaMetric {
                    kind: "Resource",
                    resource: HpaResource { name, target: HpaTarget { kind: "Utilization", average_utilization: p } },
                });
            }
        }
        let rules = |dir: &str, window: Option<u64>, select: &Option<String>| -> Option<HpaRules> {
            let policies: Vec<HpaPolicy> = a
                .policies
                .iter()
                .filter(|p| p.direction == dir)
                .filter_map(|p| {
                    let (kind, value) = match (p.percent, p.pods) {
                        (Some(v), _) => ("Percent", v),
                        (None, Some(v)) => ("Pods", v),
                        (None, None) => return None,
                    };
                    Some(HpaPolicy { kind, value, period_seconds: seconds(p.period_ms) })
                })
                .collect();
            let select_policy = select.as_deref().map(|s| match s {
                "min" => "Min",
                "disabled" => "Disabled",
                _ => "Max",
            });
            // An explicit 0s window is kept: it says "no stabilisation" on purpose.
            let stabilization_window_seconds = window.map(|ms| ms / 1000);
            (stabilization_window_seconds.is_some() || select_policy.is_some() || !policies.is_empty())
                .then_some(HpaRules { stabilization_window_seconds, select_policy, policies })
        };
        let scale_up = rules("up", a.scale_up_window_ms, &a.scale_up_select);
        let scale_down = rules("down", a.scale_down_window_ms, &a.scale_down_select);
        let behavior = (scale_up.is_some() || scale_down.is_some()).then_some(HpaBehavior { scale_up, scale_down });
        let metadata = self.meta(&svc.name, &[(SELECTOR_KEY, &svc.name)]);
        self.push(Object {
            api_version: "autoscaling/v2",
            kind: "HorizontalPodAutoscaler",
            metadata,
            spec: Some(HpaSpec {
                scale_target_ref: TargetRef { api_version: "apps/v1", kind, name: svc.name.clone() },
                min_replicas: a.min,
                max_replicas: a.max,
                metrics,
                behavior,
            }),
            data: None,
        });
    }
}

pub(super) fn protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
    }
}
