//! nginx for a `fastcgi=` route (PHP-FPM): the route's location serves files under `root`
//! and hands a missing path to the front controller; a nested `\.php` location runs the
//! scripts with `fastcgi_pass`; a nested location refuses hidden files.

use serde::Serialize;

use super::{quote, render_str, time};
use crate::ir::proxy::{PlanRoute, ProxyPlan};
use crate::ir::Stack;

/// The parameters of nginx's `fastcgi_params` file, written out so that the generated file
/// needs no other (`SCRIPT_FILENAME` and `PATH_INFO` follow, from the split path).
const PARAMS: &[(&str, &str)] = &[
    ("QUERY_STRING", "$query_string"),
    ("REQUEST_METHOD", "$request_method"),
    ("CONTENT_TYPE", "$content_type"),
    ("CONTENT_LENGTH", "$content_length"),
    ("SCRIPT_NAME", "$fastcgi_script_name"),
    ("REQUEST_URI", "$request_uri"),
    ("DOCUMENT_URI", "$document_uri"),
    ("DOCUMENT_ROOT", "$document_root"),
    ("SERVER_PROTOCOL", "$server_protocol"),
    ("REQUEST_SCHEME", "$scheme"),
    ("HTTPS", "$https if_not_empty"),
    ("GATEWAY_INTERFACE", "CGI/1.1"),
    ("SERVER_SOFTWARE", "nginx"),
    ("REMOTE_ADDR", "$remote_addr"),
    ("REMOTE_PORT", "$remote_port"),
    ("SERVER_ADDR", "$server_addr"),
    ("SERVER_PORT", "$server_port"),
    ("SERVER_NAME", "$server_name"),
    // PHP built with --enable-force-cgi-redirect runs only with it.
    ("REDIRECT_STATUS", "200"),
    ("SCRIPT_FILENAME", "$document_root$fastcgi_script_name"),
    ("PATH_INFO", "$stackc_path_info"),
    // httpoxy: a client's `Proxy:` header would become the application's HTTP_PROXY.
    ("HTTP_PROXY", "\"\""),
];

#[derive(Serialize)]
pub(super) struct FastCgiV {
    root: String,
    index: String,
    front_controller: String,
    /// `service:port`, re-resolved at request time through `$stackc_upstream`.
    variable: Option<String>,
    pass: String,
    /// `fastcgi_param` name and value (one nginx token or more, already quoted).
    params: Vec<(String, String)>,
    timeout: Option<String>,
    buffering_off: bool,
    hide_headers: Vec<String>,
    keep_conn: bool,
}

impl FastCgiV {
    pub(super) fn needs_resolver(&self) -> bool {
        self.variable.is_some()
    }
}

/// The view of a FastCGI route; `hide_headers` as the location computed them.
#[allow(clippy::too_many_arguments)]
pub(super) fn view(
    stack: &Stack,
    plan: &ProxyPlan,
    r: &PlanRoute,
    upstream: usize,
    through_variable: bool,
    root: &str,
    index: &str,
    front_controller: &str,
    hide_headers: Vec<String>,
) -> FastCgiV {
    let u = plan.upstream(upstream);
    let mut params: Vec<(String, String)> = PARAMS.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    // A request header of the route reaches the application as its CGI variable.
    for (name, v) in &r.request_headers {
        let var = format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_"));
        let value = quote(&render_str(stack, v).unwrap_or_default());
        match params.iter_mut().find(|(n, _)| *n == var) {
            Some(p) => p.1 = value,
            None => params.push((var, value)),
        }
    }
    let root = root.trim_end_matches('/');
    FastCgiV {
        root: if root.is_empty() { "/".into() } else { root.into() },
        index: index.into(),
        front_controller: format!("{front_controller}?$query_string"),
        variable: through_variable.then(|| format!("{}:{}", u.service, u.port)),
        pass: if through_variable { "$stackc_upstream".into() } else { u.name.clone() },
        params,
        timeout: r.timeout_ms.map(time),
        buffering_off: r.buffering_off,
        hide_headers,
        keep_conn: u.keepalive.is_some(),
    }
}
