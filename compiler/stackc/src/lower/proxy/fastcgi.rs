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
    stack.sites.iter().flat_map(|s| &s.routes).any(
        |r| matches!(&r.action, Action::FastCgi { service: s, port: p, .. } if s == service && *p == port),
    )
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
