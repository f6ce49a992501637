//! Secure defaults for every service of the compose file: no privilege gained through
//! setuid binaries or file capabilities (`no-new-privileges:true`) unless the service opts
//! out, and for the services compose generates, only the capabilities their images need and
//! a read-only root where their images allow it.

use super::*;

/// What the image of a generated service needs: `keep`, the capabilities it keeps when every
/// other one is dropped (`None`: Docker's default set), and `tmpfs`, where it writes outside
/// its volumes when its root filesystem is read-only (`None`: a writable root).
struct ImageNeeds {
    repository: &'static str,
    keep: Option<&'static [&'static str]>,
    tmpfs: Option<&'static [&'static str]>,
}

const fn needs(
    repository: &'static str,
    keep: Option<&'static [&'static str]>,
    tmpfs: Option<&'static [&'static str]>,
) -> ImageNeeds {
    ImageNeeds { repository, keep, tmpfs }
}

/// nginx's master binds 80/443 as root, creates its request buffers under /var/cache/nginx
/// for its workers (CHOWN), switches them to its user (SETUID, SETGID) and writes its pid to
/// /run. Caddy binds 80/443 as root and keeps its state in its /data and /config volumes.
/// certbot is root owning its volumes' files, which needs no capability, and listens on port
/// 80 for the first certificate (`init-certificates.sh`); it keeps locks and CSRs in
/// /var/lib/letsencrypt and logs in /var/log/letsencrypt. Prometheus, Alertmanager and the
/// exporters run as an unprivileged user, which uses no capability, and write only to their
/// volumes; blackbox keeps Docker's set for ICMP (NET_RAW). Images not listed (cAdvisor,
/// privileged; the backups' tools) keep Docker's set and a writable root.
const GENERATED: &[ImageNeeds] = &[
    needs(
        "nginx",
        Some(&["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"]),
        Some(&["/var/cache/nginx", "/run", "/tmp"]),
    ),
    needs("caddy", Some(&["NET_BIND_SERVICE"]), Some(&["/tmp"])),
    needs(
        "certbot/certbot",
        Some(&["NET_BIND_SERVICE"]),
        Some(&["/var/lib/letsencrypt", "/var/log/letsencrypt", "/tmp"]),
    ),
    needs("prom/prometheus", Some(&[]), Some(&[])),
    needs("prom/alertmanager", Some(&[]), Some(&[])),
    needs("prom/node-exporter", Some(&[]), Some(&[])),
    needs("prom/blackbox-exporter", None, Some(&[])),
    needs("prom/mysqld-exporter", Some(&[]), Some(&[])),
    needs("prometheuscommunity/postgres-exporter", Some(&[]), Some(&[])),
    needs("oliver006/redis_exporter", Some(&[]), Some(&[])),
    needs("nginx/nginx-prometheus-exporter", Some(&[]), Some(&[])),
];

fn image_needs(c: &CService) -> Option<&'static ImageNeeds> {
    let (repo, _) = image_repository_and_tag(c.image.as_deref()?);
    GENERATED.iter().find(|n| n.repository == repo)
}

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
    if let Some(keep) = image_needs(c).and_then(|n| n.keep) {
        c.cap_drop = vec!["ALL".into()];
        c.cap_add = keep.iter().map(|k| k.to_string()).collect();
    }
}

/// A generated service's read-only root and the tmpfs its image needs, unless its block in
/// the stack says `read-only` (either way) or it is privileged.
pub(super) fn generated_read_only(c: &mut CService) {
    if c.read_only.is_some() || c.privileged == Some(true) {
        return;
    }
    if let Some(tmpfs) = image_needs(c).and_then(|n| n.tmpfs) {
        c.read_only = Some(true);
        for t in tmpfs {
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
