//! A service's `init-step`s: init containers of its pod.

use super::objects::Container;
use super::{escape_dollar, Builder};
use crate::diagnostics::{origin_span, Code, Diagnostic};
use crate::ir::Service;

impl Builder<'_> {
    /// The init containers of a service's pod, run in order before `main` starts. Each shares
    /// `main`'s volume mounts (secret files included), `env-from`, working directory and
    /// security context: a step prepares what the main container then uses, as its user.
    pub(super) fn init_containers(&mut self, svc: &Service, main: &Container) -> Vec<Container> {
        let mut steps = Vec::new();
        for step in &svc.init_steps {
            // The pod's containers share one namespace of names, the main one's is the service's.
            if step.name == svc.name {
                self.diags.push(
                    Diagnostic::error(
                        Code::TargetCannotExpress,
                        format!("service `{}`: its init step has the name of the service's own container", svc.name),
                    )
                    .at(origin_span(step.origin), "this step")
                    .help("rename the step (e.g. after what it does: `migrate`, `fix-permissions`)"),
                );
                continue;
            }
            let image = match &step.image {
                Some(i) => self.text(i, step.origin, "the step's image"),
                None => main.image.clone(),
            };
            let args = step.command.iter().map(|t| escape_dollar(&self.text(t, step.origin, "`command`"))).collect();
            steps.push(Container {
                name: step.name.clone(),
                image,
                args: Some(args),
                working_dir: main.working_dir.clone(),
                env_from: main.env_from.clone(),
                env: self.env_list(&step.env, &step.env_origins, step.origin),
                volume_mounts: main.volume_mounts.clone(),
                security_context: main.security_context.clone(),
                image_pull_policy: main.image_pull_policy,
                ..Container::default()
            });
        }
        steps
    }
}
