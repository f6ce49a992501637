//! Static files, matching priority and rewrites (issue 11) in nginx: a `files=` route's
//! `fallback-to=` as `try_files … @name` and a named location that proxies, and
//! `replace-prefix=` as a `rewrite … break` before `proxy_pass` without a URI. (`^~`,
//! `index`, `gzip_static` are single directives, rendered with the location.)

use super::*;

/// The named location of a `files=` route's `fallback-to=`: after its position as written,
/// so that each route's is distinct and a reader can tell which route it belongs to.
pub(super) fn fallback_name(r: &PlanRoute) -> Option<String> {
    r.fallback_upstream.map(|_| format!("@stackc_fallback_{}", r.index + 1))
}

/// The named location `try_files` hands a missing file to: it proxies to the route's
/// `fallback-to=` upstream with the URI the client sent (a named location keeps it, and its
/// `proxy_pass` has no URI part). The route's limits and response headers apply there too.
pub(super) fn fallback_location(
    stack: &Stack,
    plan: &ProxyPlan,
    variable: &[bool],
    r: &PlanRoute,
    server_headers: &[HeaderV],
) -> Option<LocationV> {
    let upstream = r.fallback_upstream?;
    let proxied = PlanRoute {
        action: PlanAction::Proxy { upstream },
        matching: Match::Prefix,
        strip_prefix: false,
        replace_prefix: None,
        before_regex: false,
        fallback_upstream: None,
        ..r.clone()
    };
    let mut loc = location(stack, plan, variable, &proxied, server_headers);
    loc.modifier = None;
    loc.path = fallback_name(r)?;
    // The request was counted by the route's own location already.
    loc.limit_req = None;
    Some(loc)
}

/// `(proxy_pass, rewrite regex, replacement)` of a `replace-prefix=` route: the URI is
/// rewritten and passed as is (a URI part in `proxy_pass` would not work through a variable,
/// and would replace only a prefix with a trailing slash).
pub(super) fn replace_prefix(r: &PlanRoute, upstream: &str) -> Option<(String, Option<String>, String)> {
    let to = r.replace_prefix.as_deref()?;
    let pass = format!("http://{upstream}");
    match r.matching {
        Match::Prefix => Some((pass, Some(format!("^{}(.*)$", regex_escape(&r.path))), quote(&format!("{to}$1")))),
        Match::Exact => Some((pass, Some(format!("^{}$", regex_escape(&r.path))), quote(to))),
        // Refused in validation (E0110).
        Match::Regex => None,
    }
}

#[derive(Serialize)]
pub(super) struct MimeV {
    media_type: String,
    extensions: Vec<String>,
}

/// A site's `mime-type`s, for a `types` block in its server. A `types` block replaces the
/// table the server would inherit from `nginx.conf`, so the server includes nginx's own
/// table first (Debian's and the official image's path) and the site's entries follow it:
/// nginx keeps the last type of an extension.
pub(super) fn mime_types(site: &PlanSite) -> Vec<MimeV> {
    site.mime_types.iter().map(|(t, exts)| MimeV { media_type: t.clone(), extensions: exts.clone() }).collect()
}
