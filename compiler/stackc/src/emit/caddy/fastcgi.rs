//! Caddy for a `fastcgi=` route (PHP-FPM): `php_fastcgi` (Caddy's front controller,
//! `SCRIPT_FILENAME` and path info) with `root` and `file_server`, hidden files refused first.

use serde::Serialize;

use super::{dial, duration, escape_braces, render_str, token, Ctx};
use crate::ir::proxy::{PlanRoute, ProxyPlan};
use crate::ir::Stack;

#[derive(Serialize, Clone)]
pub(super) struct FastCgiV {
    root: String,
    /// The `php_fastcgi` gateway (`service:port`), none with `dynamic`.
    to: Option<String>,
    /// Subdirectives of `php_fastcgi`.
    options: Vec<String>,
}

/// The view of a FastCGI route.
pub(super) fn view(
    stack: &Stack,
    plan: &ProxyPlan,
    r: &PlanRoute,
    upstream: usize,
    root: &str,
    front_controller: &str,
) -> FastCgiV {
    let u = plan.upstream(upstream);
    let (to, dynamic) = dial(u);
    let value = |v: &str| token(&render_str(stack, v, Ctx::Runtime).unwrap_or_default());
    let mut options = Vec::new();
    options.extend(dynamic.map(|d| format!("dynamic a {d}")));
    // Caddy's default ends in `index.php`, relative to the site's root: a route below `/`
    // has its own front controller.
    if front_controller != "/index.php" {
        options.push(format!("try_files {{path}} {{path}}/index.php {}", token(&escape_braces(front_controller))));
    }
    for (name, v) in &r.request_headers {
        options.push(if v.is_empty() {
            format!("header_up -{name}")
        } else {
            format!("header_up {name} {}", value(v))
        });
    }
    // httpoxy: a client's `Proxy:` header would become the application's HTTP_PROXY.
    if !r.request_headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("Proxy")) {
        options.push("header_up -Proxy".into());
    }
    for name in &r.hide_headers {
        options.push(format!("header_down -{}", render_str(stack, name, Ctx::Plain).unwrap_or_default()));
    }
    if let Some(ms) = r.timeout_ms {
        options.push(format!("read_timeout {}", duration(ms)));
        options.push(format!("write_timeout {}", duration(ms)));
    }
    if r.buffering_off {
        options.push("flush_interval -1".into());
    }
    let root = root.trim_end_matches('/');
    FastCgiV { root: token(&escape_braces(if root.is_empty() { "/" } else { root })), to, options }
}
