//! A service's `init-step`s and `sidecar`s in compose: one-shot services that the service
//! waits for, and services in its network namespace.

use super::secrets::Secrets;
use super::service::service;
use super::{CDepends, CService, EmitOptions};
use crate::diagnostics::{origin_span, Code, Diagnostic};
use crate::ir::{InitStep, Service, Stack};

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
            restart: Some("no".into()),
            restart_max_attempts: None,
            restart_delay: None,
            restart_window: None,
            ..companion(svc, step, &name)
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

/// The service of a step or sidecar: `svc` with the companion's image, command and env, and
/// nothing that makes it reachable or replicated.
fn companion(svc: &Service, step: &InitStep, name: &str) -> Service {
    Service {
        name: name.to_string(),
        image: step.image.clone().or_else(|| svc.image.clone()),
        // With its own image it builds nothing; without, it runs the service's build.
        build: if step.image.is_some() { None } else { svc.build.clone() },
        command: (!step.command.is_empty()).then(|| step.command.clone()),
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
        metrics: None,
        update: None,
        rollback: None,
        container_name: None,
        init_steps: Vec::new(),
        sidecars: Vec::new(),
        // The service's fixed addresses are its own: a step that took them would clash.
        addresses: Vec::new(),
        // The service's names are its own container's.
        aliases: Vec::new(),
        ..svc.clone()
    }
}

/// The services of `svc`'s sidecars: each in the network namespace of `svc`'s container
/// (`network_mode: service:SERVICE`, so `localhost` is the service, as in a pod), with the
/// service's volumes and security settings but not its secret files or `env-from`.
pub(super) fn sidecar_services(
    stack: &Stack,
    svc: &Service,
    secrets: &mut Secrets,
    opts: &EmitOptions,
) -> Vec<(String, CService)> {
    let mut out = Vec::new();
    for sidecar in &svc.sidecars {
        let name = step_service_name(svc, &sidecar.name);
        let derived = Service {
            env_from: Vec::new(),
            secret_files: Vec::new(),
            networks: Vec::new(),
            host_network: false,
            ..companion(svc, sidecar, &name)
        };
        let mut c = service(stack, &derived, secrets, opts);
        c.network_mode = Some(format!("service:{}", svc.name));
        c.depends_on.insert(svc.name.clone(), CDepends { condition: "service_started" });
        out.push((name, c));
    }
    out
}

/// A step's or sidecar's service name taken by a service of the stack would replace it.
pub(super) fn check_init_step_names(stack: &Stack, out: &mut Vec<Diagnostic>) {
    for svc in stack.services.values() {
        let mut seen = std::collections::BTreeSet::new();
        for step in svc.init_steps.iter().chain(&svc.sidecars) {
            let name = step_service_name(svc, &step.name);
            // A step and a sidecar of one name would be one compose service.
            if !seen.insert(name.clone()) {
                out.push(
                    Diagnostic::error(
                        Code::TargetCannotExpress,
                        format!("service `{}`: a step and a sidecar are both named `{}`", svc.name, step.name),
                    )
                    .at(origin_span(step.origin), "the second")
                    .help("rename one: they run as the compose services `SERVICE-NAME`"),
                );
            }
            if let Some(other) = stack.services.get(&name) {
                out.push(
                    Diagnostic::error(
                        Code::TargetCannotExpress,
                        format!(
                            "service `{name}` clashes with the compose service of `{}`'s `{}`",
                            svc.name, step.name
                        ),
                    )
                    .at(origin_span(other.origin), "declared here")
                    .label(origin_span(step.origin), "this runs as the compose service `SERVICE-NAME`")
                    .help("rename the service, or the step or sidecar"),
                );
            }
        }
    }
}
