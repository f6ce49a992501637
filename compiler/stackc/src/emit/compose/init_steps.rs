//! A service's `init-step`s in compose: one-shot services that the service waits for.

use super::secrets::Secrets;
use super::service::service;
use super::{CDepends, CService};
use crate::diagnostics::{origin_span, Code, Diagnostic};
use crate::emit::EmitOptions;
use crate::ir::{Service, Stack};

const COMPLETED: CDepends = CDepends { condition: "service_completed_successfully" };

/// The name of a step's compose service: `SERVICE-STEP`.
fn step_service_name(svc: &Service, step: &str) -> String {
    format!("{}-{step}", svc.name)
}

/// The one-shot services of `svc`'s steps, each waiting for the one before it, and the wait
/// for each in `main` (whose image must be final: a step without one runs it). A step is its
/// service with another command (and image, env): it shares the volumes, secrets, networks,
/// user and security settings the stack gives the service, not those stackc generates.
pub(super) fn init_step_services(
    stack: &Stack,
    svc: &Service,
    main: &mut CService,
    secrets: &mut Secrets,
    opts: &EmitOptions,
) -> Vec<(String, CService)> {
    let mut out: Vec<(String, CService)> = Vec::new();
    for step in &svc.init_steps {
        let name = step_service_name(svc, &step.name);
        let derived = Service {
            name: name.clone(),
            image: step.image.clone().or_else(|| svc.image.clone()),
            // With its own image the step builds nothing; without, it runs the service's build.
            build: if step.image.is_some() { None } else { svc.build.clone() },
            command: Some(step.command.clone()),
            entrypoint: None,
            env: step.env.clone(),
            env_origins: step.env_origins.clone(),
            ports: Vec::new(),
            publish: Vec::new(),
            health: None,
            readiness: None,
            replicas: 1,
            autoscale: None,
            global: false,
            hostname: None,
            restart: Some("no".into()),
            restart_max_attempts: None,
            restart_delay: None,
            restart_window: None,
            metrics: None,
            update: None,
            rollback: None,
            container_name: None,
            init_steps: Vec::new(),
            ..svc.clone()
        };
        let mut c = service(stack, &derived, secrets, opts);
        // A generated service (Prometheus, an exporter) gets its default image after `service`.
        if c.image.is_none() && c.build.is_none() {
            c.image.clone_from(&main.image);
        }
        if let Some((previous, _)) = out.last() {
            c.depends_on.insert(previous.clone(), COMPLETED);
        }
        main.depends_on.insert(name.clone(), COMPLETED);
        out.push((name, c));
    }
    out
}

/// A step's service name taken by a service of the stack would replace it.
pub(super) fn check_init_step_names(stack: &Stack, out: &mut Vec<Diagnostic>) {
    for svc in stack.services.values() {
        for step in &svc.init_steps {
            let name = step_service_name(svc, &step.name);
            if let Some(other) = stack.services.get(&name) {
                out.push(
                    Diagnostic::error(
                        Code::TargetCannotExpress,
                        format!(
                            "service `{name}` clashes with the compose service of `{}`'s init step `{}`",
                            svc.name, step.name
                        ),
                    )
                    .at(origin_span(other.origin), "declared here")
                    .label(origin_span(step.origin), "this step runs as the compose service `SERVICE-STEP`")
                    .help("rename the service or the step"),
                );
            }
        }
    }
}
