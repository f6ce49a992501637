//! A certbot of the stack's own (the `certbot` preset) beside the one compose generates for
//! `proxy > tls` with nginx: both would renew the same certificates into the same volumes, so
//! the stack's is refused with one error rather than as clashing volumes.

use super::*;

/// The stack's services that run a certbot image (`certbot/certbot`, `certbot/dns-*`).
pub(super) fn certbot_services(stack: &Stack) -> Vec<&Service> {
    stack
        .services
        .values()
        .filter(|s| s.image.as_ref().is_some_and(|i| is_certbot_image(&stack.compile_time(i))))
        .collect()
}

/// E0501 for each certbot service of the stack when compose already generates one.
pub(super) fn second_certbot(stack: &Stack, site: Origin) -> Vec<Diagnostic> {
    certbot_services(stack)
        .into_iter()
        .map(|svc| {
            Diagnostic::error(
                Code::TargetCannotExpress,
                format!(
                    "service `{}` runs certbot beside the `certbot` that compose generates for the sites",
                    svc.name
                ),
            )
            .at(origin_span(svc.origin), "a second certbot")
            .label(origin_span(site), "sites with Let's Encrypt make compose run certbot with nginx")
            .help(
                "remove the service: the generated certbot renews the sites' certificates into the `letsencrypt` \
                 volume nginx reads; the `certbot` preset is for a proxy the stack runs as a service of its own",
            )
        })
        .collect()
}
