//! Static files, matching priority and rewrites (issue 11) in Caddy: a `files=` route's
//! `fallback-to=` as a `file` matcher whose files `file_server` serves and a nested `handle`
//! that proxies the rest, `index=` and `precompressed=` as `file_server` settings, and
//! `replace-prefix=` as `uri path_regexp`. `before-regex=` needs nothing here: the plan's
//! order is the order of the `handle` blocks. And the site's compression settings.

use super::*;

/// `file_server`'s settings for a `files=` route; its own defaults (`index.html`, no
/// precompressed files) are not repeated.
pub(super) fn file_server_options(r: &PlanRoute) -> Vec<String> {
    let mut out = Vec::new();
    if r.index_file != DEFAULT_INDEX {
        out.push(format!("index {}", token(&escape_braces(&r.index_file))));
    }
    if r.precompressed {
        // nginx's `gzip_static` knows only `.gz`: the same files everywhere.
        out.push("precompressed gzip".into());
    }
    out
}

/// With `fallback-to=`: the files that exist (as nginx's `try_files $uri $uri/`) are served,
/// the other requests proxied with the URI the client sent (under `handle_path`, the one
/// before the prefix was stripped).
pub(super) fn fallback_to(stack: &Stack, plan: &ProxyPlan, r: &PlanRoute, stripped: bool, v: &mut RouteV) {
    let Some(upstream) = r.fallback_upstream else { return };
    // The route's headers, limits and Cache-Control are set by the enclosing block already.
    let proxied = PlanRoute {
        action: PlanAction::Proxy { upstream },
        path: "/".into(),
        matching: Match::Prefix,
        strip_prefix: false,
        replace_prefix: None,
        cache_control: None,
        response_headers: Vec::new(),
        fallback: None,
        fallback_upstream: None,
        ..r.clone()
    };
    let mut app = route_view(stack, plan, &proxied, None, &mut Vec::new());
    if stripped {
        app.rewrite = Some("{http.request.orig_uri}".into());
    }
    if let Some(files) = v.files.as_mut() {
        files.found = Some(format!("route{}_file", r.index + 1));
        files.app = Some(Box::new(app));
    }
}

/// `uri path_regexp` arguments of a `replace-prefix=` route: the prefix (an exact route: the
/// path) anchored at the start, and its replacement (`$` doubled: Go expands `$1` there).
pub(super) fn replace_prefix(r: &PlanRoute) -> Option<String> {
    let to = r.replace_prefix.as_deref()?;
    let re = match r.matching {
        Match::Prefix => format!("^{}", regex_escape(&r.path)),
        Match::Exact => format!("^{}$", regex_escape(&r.path)),
        // Refused in validation (E0110).
        Match::Regex => return None,
    };
    Some(format!("{} {}", token(&re), token(&escape_braces(&to.replace('$', "$$")))))
}

/// A site's `mime-type`s: a matcher per type of the existing files with its extensions, and
/// a `header` that sets the type in every `files=` route (Caddy's `file_server` keeps a
/// `Content-Type` that is set; an upstream's answer, a 404, are left alone).
pub(super) fn content_types(site: &PlanSite, routes: &mut [RouteV], matchers: &mut Vec<MatcherV>) {
    let mut headers = Vec::new();
    for (k, (media_type, exts)) in site.mime_types.iter().enumerate() {
        let name = format!("mime{}", k + 1);
        let globs: Vec<String> = exts.iter().map(|e| format!("*.{e}")).collect();
        matchers
            .push(MatcherV { name: name.clone(), spec: format!("{{\n\t\tpath {}\n\t\tfile\n\t}}", globs.join(" ")) });
        headers.push(format!("@{name} Content-Type {}", token(media_type)));
    }
    for files in routes.iter_mut().filter_map(|r| r.files.as_mut()) {
        files.content_types = headers.clone();
    }
}

#[derive(Serialize)]
pub(super) struct GzipV {
    level: u32,
    /// `Content-Type` patterns (`text/css*`: with or without parameters).
    types: Vec<String>,
}

/// A site's `gzip level=` and types, when they are not the defaults.
pub(super) fn gzip_settings(stack: &Stack, site: &PlanSite) -> Option<GzipV> {
    let default = site.gzip_level == DEFAULT_GZIP_LEVEL && site.gzip_types == DEFAULT_GZIP_TYPES;
    (site.gzip && !default).then(|| GzipV {
        level: site.gzip_level,
        types: site
            .gzip_types
            .iter()
            .map(|t| format!("{}*", render_str(stack, t, Ctx::Plain).unwrap_or_default()))
            .collect(),
    })
}
