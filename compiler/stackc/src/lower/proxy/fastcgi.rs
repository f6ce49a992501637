//! FastCGI routes (`fastcgi="app" root="/var/www/html"`, PHP-FPM): what nginx, Caddy and
//! compose render for them, decided once.

use crate::ir::proxy::PlanAction;
use crate::ir::{Action, Mount, Route, Stack};

/// The directory index of a PHP application, and its front controller's file name.
pub const INDEX: &str = "index.php";

/// The plan of a `fastcgi=` route: the front controller is `index.php` under the route's
/// path (`/` → `/index.php`, `/blog` and `/blog/` → `/blog/index.php`), as in the
/// application's own directory layout under `root`.
pub fn action(r: &Route, root: &str, upstream: usize) -> PlanAction {
    let dir = r.path.trim_end_matches('/');
    PlanAction::FastCgi {
        upstream,
        root: root.to_string(),
        index: INDEX.into(),
        front_controller: format!("{dir}/{INDEX}"),
    }
}

/// Whether the proxy reaches `service` on `port` over FastCGI (a `fastcgi=` route).
pub fn is_fastcgi(stack: &Stack, service: &str, port: u16) -> bool {
    stack
        .sites
        .iter()
        .flat_map(|s| &s.routes)
        .any(|r| matches!(&r.action, Action::FastCgi { service: s, port: p, .. } if s == service && *p == port))
}

/// The FastCGI services' mounts that hold a route's `root` (at it or above it), read-only,
/// each once, in route order: the proxy sees the files at the paths the application does.
/// Validation requires one unless the proxy mounts the directory itself (`proxy { mount … }`),
/// which then is left alone.
pub fn mounts(stack: &Stack) -> Vec<Mount> {
    let mut out: Vec<Mount> = Vec::new();
    let covers = |m: &Mount, root: &str| {
        m.target.as_literal().is_some_and(|t| {
            let t = t.trim_end_matches('/');
            t.is_empty() || root == t || root.starts_with(&format!("{t}/"))
        })
    };
    for r in stack.sites.iter().flat_map(|s| &s.routes) {
        let Action::FastCgi { service, root, .. } = &r.action else { continue };
        let proxy_has = stack.proxy.as_ref().is_some_and(|p| p.mounts.iter().any(|m| covers(m, root)));
        if proxy_has || out.iter().any(|m| covers(m, root)) {
            continue;
        }
        let Some(svc) = stack.services.get(service) else { continue };
        // The deepest mount holding the root: the one whose files are there.
        let found = svc
            .mounts
            .iter()
            .filter(|m| covers(m, root))
            .max_by_key(|m| m.target.as_literal().map_or(0, |t| t.trim_end_matches('/').len()));
        if let Some(m) = found {
            out.push(Mount { read_only: true, propagation: None, ..m.clone() });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::ir::proxy::{PlanAction, ProxyPlan};
    use crate::ir::MountSource;

    fn plan_of(src: &str) -> ProxyPlan {
        let out = crate::compile("t.stack.kdl", src, &crate::Options::default());
        let errors: Vec<String> = out.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
        assert!(errors.is_empty(), "{errors:?}");
        out.stack.expect("compiles").proxy_plan.expect("a plan")
    }

    const STACK: &str = r#"stack "t"
volume "code"
service "app" {
    image "php:8.3-fpm"
    port 9001 name="fpm"
    mount "code" "/var/www"
    mount "./php.ini" "/usr/local/etc/php/php.ini" read-only=#true
}
service "web" {
    image "w:1"
    port 3000
}
site "t.example.com" {
    route "/" fastcgi="app" root="/var/www/html"
    route "/blog" fastcgi="app" port="fpm" root="/var/www/html"
    route "/api/" to="web"
}
"#;

    #[test]
    fn routes_front_controllers_upstreams_and_the_shared_mount() {
        let plan = plan_of(STACK);
        let ups: Vec<(&str, u16, bool)> = plan.upstreams.iter().map(|u| (u.name.as_str(), u.port, u.fastcgi)).collect();
        // 9000 without `port=`; a named port is the service's.
        assert_eq!(ups, [("app-9000", 9000, true), ("app-9001", 9001, true), ("web", 3000, false)]);
        let actions: Vec<(String, String, String, &str)> = plan.sites[0]
            .routes
            .iter()
            .filter_map(|r| match &r.action {
                PlanAction::FastCgi { upstream, root, index, front_controller } => Some((
                    plan.upstreams[*upstream].name.clone(),
                    root.clone(),
                    front_controller.clone(),
                    index.as_str(),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            actions,
            [
                ("app-9001".into(), "/var/www/html".into(), "/blog/index.php".into(), "index.php"),
                ("app-9000".into(), "/var/www/html".into(), "/index.php".into(), "index.php"),
            ]
        );
        // The volume holding the root, read-only, at the application's path: once.
        let mounts: Vec<(MountSource, Option<String>, bool)> =
            plan.mounts.iter().map(|m| (m.source.clone(), m.target.as_literal(), m.read_only)).collect();
        assert_eq!(mounts, [(MountSource::Volume("code".into()), Some("/var/www".into()), true)]);
    }

    #[test]
    fn a_directory_the_proxy_mounts_itself_is_not_mounted_again() {
        let src =
            STACK.replace("site \"t", "proxy {\n    mount \"code\" \"/var/www/html\" read-only=#true\n}\nsite \"t");
        assert!(plan_of(&src).mounts.is_empty());
    }
}
