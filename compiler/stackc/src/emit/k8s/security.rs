//! Least privilege for every pod: the container's and the pod's security context (secure
//! defaults, opened only where the stack says so), a ServiceAccount per workload without a
//! mounted token, and the user an image runs as where stackc knows it.

use super::*;

/// Images whose unprivileged user stackc knows, as (repository, uid, gid). The official
/// database images start as root only to switch to that user; started as it directly (their
/// documented "arbitrary --user" mode) they need no capability. An Alpine `postgres` tag has
/// its own uid. Keep in step with `docs/targets/k8s.md` ("Security").
const IMAGE_USERS: &[(&str, u64, u64)] = &[
    ("postgres", 999, 999),
    ("redis", 999, 999),
    ("grafana/grafana", 472, 472),
    ("grafana/loki", 10001, 10001),
    ("prom/prometheus", 65534, 65534),
    ("prom/alertmanager", 65534, 65534),
    ("prom/node-exporter", 65534, 65534),
    ("prom/blackbox-exporter", 65534, 65534),
    ("nginxinc/nginx-unprivileged", 101, 101),
];
/// The `postgres` user of the Alpine variants of the official image.
const POSTGRES_ALPINE_USER: u64 = 70;

/// The (uid, gid) an image runs as when stackc knows it runs unprivileged.
pub(super) fn image_user(image: &str) -> Option<(u64, u64)> {
    let (repo, tag) = image_repository_and_tag(image);
    let &(_, uid, gid) = IMAGE_USERS.iter().find(|(r, _, _)| *r == repo)?;
    if repo == "postgres" && tag.contains("alpine") {
        return Some((POSTGRES_ALPINE_USER, POSTGRES_ALPINE_USER));
    }
    Some((uid, gid))
}

/// The container ports below 1024: a process that is root inside the container binds them
/// with `NET_BIND_SERVICE`, which dropping every capability takes away.
fn binds_privileged_port(svc: &Service) -> bool {
    svc.ports.iter().any(|p| p.port < 1024)
}

/// The security settings of one pod and its container.
pub(super) struct Hardening {
    pub(super) container: SecurityContext,
    pub(super) pod: PodSecurityContext,
}

impl Builder<'_> {
    /// The security context of a service's container and pod: no privilege escalation, every
    /// capability dropped (plus the stack's `cap-add`), the runtime's seccomp profile, the
    /// stack's (or the image's known) user with `runAsNonRoot`, and volumes owned by its group.
    pub(super) fn security(&mut self, svc: &Service, image: &str, has_claims: bool) -> Hardening {
        let mut sc = SecurityContext::default();
        let mut user = None;
        if let Some(u) = &svc.user {
            let u = self.text(u, svc.origin_of("user"), "`user`");
            let (name, group) = u.split_once(':').map_or((u.as_str(), None), |(a, b)| (a, Some(b)));
            // `root` is the one name every image has.
            let uid = if name == "root" { Ok(0) } else { name.parse::<u64>() };
            match (uid, group.map(str::parse::<u64>)) {
                (Ok(uid), None | Some(Ok(_))) => {
                    user = Some((uid, group.and_then(|g| g.parse().ok())));
                }
                _ => self.warn(
                    svc.origin_of("user"),
                    format!("service `{}`: Kubernetes runs containers as a numeric user only, not `{u}`", svc.name),
                    "here",
                    "write the numeric id (`user \"1000:1000\"`)",
                ),
            }
        } else if let Some((uid, gid)) = image_user(image) {
            user = Some((uid, Some(gid)));
        }
        let mut pod = PodSecurityContext {
            seccomp_profile: Some(SeccompProfile { kind: "RuntimeDefault" }),
            ..Default::default()
        };
        if let Some((uid, gid)) = user {
            sc.run_as_user = Some(uid);
            sc.run_as_group = gid;
            if uid != 0 {
                sc.run_as_non_root = Some(true);
                if has_claims {
                    // A fresh claim belongs to root: the group makes it writable to the user.
                    pod.fs_group = Some(gid.unwrap_or(uid));
                    pod.fs_group_change_policy = Some("OnRootMismatch");
                }
            }
        }
        if svc.read_only {
            sc.read_only_root_filesystem = Some(true);
        }
        sc.allow_privilege_escalation = Some(false);
        for opt in &svc.security_opt {
            let o = self.text(opt, svc.origin_of("security-opt"), "`security-opt`");
            match o.as_str() {
                "no-new-privileges:true" | "no-new-privileges" => {}
                "no-new-privileges:false" => sc.allow_privilege_escalation = None,
                "seccomp=unconfined" | "seccomp:unconfined" => {
                    pod.seccomp_profile = Some(SeccompProfile { kind: "Unconfined" })
                }
                _ => self.warn(
                    svc.origin_of("security-opt"),
                    format!("service `{}`: `security-opt \"{o}\"` has no Kubernetes equivalent here", svc.name),
                    "here",
                    "`no-new-privileges:true|false` (allowPrivilegeEscalation) and `seccomp=unconfined` (seccompProfile) \
                     are expressed",
                ),
            }
        }
        let mut add: Vec<String> = svc.cap_add.iter().map(|c| self.stack.compile_time(c)).collect();
        if binds_privileged_port(svc) && !add.iter().any(|c| c == "NET_BIND_SERVICE" || c == "ALL") {
            add.push("NET_BIND_SERVICE".into());
        }
        // `ALL` is dropped anyway; the stack's own `cap-drop` stays listed, as it wrote it.
        let mut drop = vec!["ALL".to_string()];
        for c in &svc.cap_drop {
            let c = self.stack.compile_time(c);
            if !drop.contains(&c) {
                drop.push(c);
            }
        }
        sc.capabilities = Some(Capabilities { add, drop });
        Hardening { container: sc, pod }
    }

    /// The ServiceAccount of a workload: its own identity for RBAC, without an API token in
    /// its pods (nothing a stack runs talks to the Kubernetes API).
    pub(super) fn service_account(&mut self, name: &str) {
        let metadata = self.meta(name, &[(SELECTOR_KEY, name)]);
        let sa = ServiceAccount {
            api_version: "v1",
            kind: "ServiceAccount",
            metadata,
            automount_service_account_token: false,
        };
        let yaml = format!("{}{}", header("#", self.stack), yaml(&sa));
        self.objects.push(("ServiceAccount", name.to_string(), yaml));
    }

    /// A pod's identity settings: its workload's ServiceAccount, no token mounted unless the
    /// stack asks for it (`service-account token=#true`). The ServiceAccount itself keeps
    /// `false`: the pod's setting overrides it, so another pod using the account gets none.
    pub(super) fn pod_identity(&mut self, pod: &mut PodSpec, name: &str, hardening: PodSecurityContext, token: bool) {
        self.service_account(name);
        pod.service_account_name = Some(name.to_string());
        pod.automount_service_account_token = Some(token);
        pod.security_context = Some(hardening);
    }
}

/// The container security context of a generated step (backups): the defaults, as root
/// (the scripts write to claims and read volumes whose owners stackc does not know).
pub(super) fn step_security(add: &[&str]) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities { add: add.iter().map(|c| c.to_string()).collect(), drop: vec!["ALL".into()] }),
        ..SecurityContext::default()
    }
}

/// The pod security context of a generated pod.
pub(super) fn default_pod_security() -> PodSecurityContext {
    PodSecurityContext { seccomp_profile: Some(SeccompProfile { kind: "RuntimeDefault" }), ..Default::default() }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceAccount {
    api_version: &'static str,
    kind: &'static str,
    metadata: Meta,
    automount_service_account_token: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_image_users() {
        assert_eq!(image_user("postgres:16"), Some((999, 999)));
        assert_eq!(image_user("postgres:16-alpine"), Some((70, 70)));
        assert_eq!(image_user("docker.io/library/postgres:16-alpine"), Some((70, 70)));
        assert_eq!(image_user("grafana/grafana:11.4.0"), Some((472, 472)));
        assert_eq!(image_user("registry.example.com:5000/grafana/grafana"), Some((472, 472)));
        assert_eq!(image_user("someone/postgres:16"), None);
        assert_eq!(image_user("mustache/api:0.1.0"), None);
    }
}
