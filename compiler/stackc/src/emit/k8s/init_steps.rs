//! A service's `init-step`s and `sidecar`s: init containers of its pod.

use std::collections::BTreeSet;

use super::objects::Container;
use super::{escape_dollar, Builder};
use crate::diagnostics::{origin_span, Code, Diagnostic};
use crate::ir::{InitStep, Service};

impl Builder<'_> {
    /// The init containers of a service's pod: its sidecars, then its steps, before `main`.
    ///
    /// Sidecars are native sidecars (init containers with `restartPolicy: Always`, Kubernetes
    /// 1.29 and later) rather than second entries of `containers`: they start before the
    /// steps, which may need them (a database proxy for a migration), they stop after the
    /// main container, and a Job's pod (a one-shot service) completes when its main container
    /// does instead of waiting forever for the sidecar.
    ///
    /// Each shares `main`'s volume mounts, working directory and security context. A step
    /// also takes its secret files and `env-from` (it prepares what the main container uses);
    /// a sidecar, another program, only its own `env`.
    pub(super) fn init_containers(&mut self, svc: &Service, main: &Container) -> Vec<Container> {
        let mut names = BTreeSet::from([svc.name.as_str()]);
        let mut out = Vec::new();
        let companions = svc.sidecars.iter().map(|s| (s, true)).chain(svc.init_steps.iter().map(|s| (s, false)));
        for (step, sidecar) in companions {
            // The pod's containers share one namespace of names, the main one's is the service's.
            if !names.insert(&step.name) {
                self.diags.push(
                    Diagnostic::error(
                        Code::TargetCannotExpress,
                        format!(
                            "service `{}`: the container name `{}` is taken (by the service or another step or sidecar)",
                            svc.name, step.name
                        ),
                    )
                    .at(origin_span(step.origin), "here")
                    .help("rename it after what it does: `migrate`, `log-shipper`"),
                );
                continue;
            }
            out.push(self.companion(svc, main, step, sidecar));
        }
        out
    }

    fn companion(&mut self, svc: &Service, main: &Container, step: &InitStep, sidecar: bool) -> Container {
        let image = match &step.image {
            Some(i) => self.text(i, step.origin, "the image"),
            None => main.image.clone(),
        };
        let args: Vec<String> =
            step.command.iter().map(|t| escape_dollar(&self.text(t, step.origin, "`command`"))).collect();
        // A secret file's volume is named after its secret (see `workload`).
        let secret_file = |name: &str| svc.secret_files.iter().any(|f| name == format!("secret-{}", f.secret));
        Container {
            name: step.name.clone(),
            image,
            args: (!args.is_empty()).then_some(args),
            working_dir: main.working_dir.clone(),
            env_from: if sidecar { Vec::new() } else { main.env_from.clone() },
            env: self.env_list(&step.env, &step.env_origins, step.origin),
            volume_mounts: main.volume_mounts.iter().filter(|m| !sidecar || !secret_file(&m.name)).cloned().collect(),
            security_context: main.security_context.clone(),
            image_pull_policy: main.image_pull_policy,
            restart_policy: sidecar.then_some("Always"),
            ..Container::default()
        }
    }
}
