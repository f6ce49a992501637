//! Secure defaults for every service of the compose file: no privilege gained through
//! setuid binaries or file capabilities (`no-new-privileges:true`) unless the service opts
//! out, and for the services compose generates, only the capabilities their images need.

use super::*;

/// The images of generated services and the capabilities they keep when every other one is
/// dropped. nginx's master binds 80/443 as root, creates its cache directories for its
/// workers (CHOWN) and switches them to its user (SETUID, SETGID); Caddy binds 80/443 as
/// root; Prometheus, Alertmanager and these exporters run as an unprivileged user, which
/// uses no capability. Images not listed (cAdvisor, blackbox, certbot, the backups' tools)
/// keep Docker's default set.
const GENERATED_CAPABILITIES: &[(&str, &[&str])] = &[
    ("nginx", &["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"]),
    ("caddy", &["NET_BIND_SERVICE"]),
    ("prom/prometheus", &[]),
    ("prom/alertmanager", &[]),
    ("prom/node-exporter", &[]),
    ("prom/mysqld-exporter", &[]),
    ("prometheuscommunity/postgres-exporter", &[]),
    ("oliver006/redis_exporter", &[]),
    ("nginx/nginx-prometheus-exporter", &[]),
];

/// `no-new-privileges:true` on a service that does not say otherwise
/// (`security-opt "no-new-privileges:false"` keeps the opt-out as written).
pub(super) fn no_new_privileges(c: &mut CService) {
    if !c.security_opt.iter().any(|o| o.starts_with("no-new-privileges")) {
        c.security_opt.push("no-new-privileges:true".into());
    }
}

/// A generated service's capabilities: all dropped but those its image needs, unless its
/// block in the stack already sets capabilities.
pub(super) fn generated_capabilities(c: &mut CService) {
    if !c.cap_drop.is_empty() || !c.cap_add.is_empty() || c.privileged == Some(true) {
        return;
    }
    let Some(image) = &c.image else { return };
    let (repo, _) = image_repository_and_tag(image);
    if let Some((_, keep)) = GENERATED_CAPABILITIES.iter().find(|(r, _)| *r == repo) {
        c.cap_drop = vec!["ALL".into()];
        c.cap_add = keep.iter().map(|k| k.to_string()).collect();
    }
}
