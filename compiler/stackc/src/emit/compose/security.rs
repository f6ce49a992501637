//! Secure defaults for every service of the compose file: no privilege gained through
//! setuid binaries or file capabilities (`no-new-privileges:true`) unless the service opts
//! out, and for the services compose generates, only the capabilities their images need.

use super::*;

/// The images of generated services and the capabilities they keep when every other one is
/// dropped. nginx's master binds 80/443 as root, creates its cache directories for its
/// workers (CHOWN) and switches them to its user (SETUID, SETGID); Caddy binds 80/443 as
/// root; Prometheus, Alertmanager and these exporters run as an unprivileged user, which
/// uses no capability. Images not listed (cAdvisor, blackbox, the backups' tools) keep
/// Docker's default set.
const GENERATED_CAPABILITIES: &[(&str, &[&str])] = &[
    ("nginx", &["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"]),
    ("caddy", &["NET_BIND_SERVICE"]),
    // Root owning its volumes' files needs no capability to write them; `init-certificates.sh`
    // runs it with its own web server on port 80.
    ("certbot/certbot", &["NET_BIND_SERVICE"]),
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

/// The images of generated services whose root filesystem is read-only, with the tmpfs they
/// write to outside their volumes. nginx's master writes its pid to /run and creates the
/// request buffers under /var/cache/nginx; certbot keeps locks and CSRs in
/// /var/lib/letsencrypt and its logs in /var/log/letsencrypt; Caddy, Prometheus and
/// Alertmanager write only to their volumes, the exporters nowhere. cAdvisor (privileged) and
/// the images not listed keep a writable root.
const GENERATED_READ_ONLY: &[(&str, &[&str])] = &[
    ("nginx", &["/var/cache/nginx", "/run", "/tmp"]),
    ("caddy", &["/tmp"]),
    ("certbot/certbot", &["/var/lib/letsencrypt", "/var/log/letsencrypt", "/tmp"]),
    ("prom/prometheus", &[]),
    ("prom/alertmanager", &[]),
    ("prom/node-exporter", &[]),
    ("prom/blackbox-exporter", &[]),
    ("prom/mysqld-exporter", &[]),
    ("prometheuscommunity/postgres-exporter", &[]),
    ("oliver006/redis_exporter", &[]),
    ("nginx/nginx-prometheus-exporter", &[]),
];

/// A generated service's read-only root and the tmpfs its image needs, unless its block in
/// the stack says `read-only` (either way) or it is privileged.
pub(super) fn generated_read_only(c: &mut CService) {
    if c.read_only.is_some() || c.privileged == Some(true) {
        return;
    }
    let Some(image) = &c.image else { return };
    let (repo, _) = image_repository_and_tag(image);
    if let Some((_, tmpfs)) = GENERATED_READ_ONLY.iter().find(|(r, _)| *r == repo) {
        c.read_only = Some(true);
        for t in *tmpfs {
            if !c.tmpfs.iter().any(|have| have.split(':').next() == Some(*t)) {
                c.tmpfs.push(t.to_string());
            }
        }
    }
}

/// `read-only #false` in the block of a service compose generates keeps its root writable:
/// `read_only: false` is written, so that [`generated_read_only`] leaves it.
pub(super) fn read_only_opt_out(svc: &Service, c: &mut CService) {
    if !svc.read_only && svc.origins.contains_key("read-only") {
        c.read_only = Some(false);
    }
}
