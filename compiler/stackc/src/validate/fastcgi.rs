//! `route … fastcgi="app" root="/var/www/html"`: what a FastCGI route needs besides its
//! values' kinds (issue 11).

use super::values;
use super::Symbols;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::syntax::ast::{Node, Value};

pub fn check(nodes: &[Node], symbols: &Symbols, diags: &mut Diagnostics) {
    let proxy_mounts: Vec<&Node> =
        nodes.iter().filter(|n| n.name.name == "proxy").flat_map(|p| p.children_named("mount")).collect();
    let routes = nodes.iter().filter(|n| n.name.name == "site").flat_map(|s| s.children_named("route"));
    for route in routes {
        let Some(service) = route.prop("fastcgi") else { continue };
        let Some(name) = service.value.as_str() else { continue };
        let Some(root) = route.prop("root") else {
            diags.push(
                Diagnostic::error(Code::MissingRequired, "a `fastcgi=` route needs `root=`")
                    .at(service.entry_span, "the PHP files are where?")
                    .help(format!(
                        "add the directory `{name}` serves its scripts from, e.g. `root=\"/var/www/html\"`: the proxy looks files up there and sends the script's path to `{name}`"
                    )),
            );
            continue;
        };
        // The route serves every script and file under its prefix as the application lays
        // them out under `root` (nginx: a nested `location ~ \.php`, which `internal` would
        // not cover).
        for flag in ["exact", "regex", "strip-prefix", "websocket", "internal"] {
            if let Some(e) = route.prop(flag).filter(|e| e.value.as_bool() == Some(true)) {
                diags.push(
                    Diagnostic::error(Code::Conflicting, format!("a `fastcgi=` route cannot be `{flag}=#true`"))
                        .at(e.entry_span, "conflicts with `fastcgi=`")
                        .help("remove it: a FastCGI route serves every script and file under its path, the URL path being the file's path under `root=`"),
                );
            }
        }
        let Some(svc) = symbols.services.get(name) else { continue };
        if let Some(p) = route.prop("port").filter(|p| matches!(p.value, Value::String(_))) {
            if let Err(why) = super::rules::route_port(svc, Some(p)) {
                diags.push(
                    Diagnostic::error(
                        Code::UnknownPortName,
                        format!("route cannot reach `{name}` over FastCGI: {why}"),
                    )
                    .at(p.span, "no such port")
                    .label(svc.head_span(), format!("`{name}` is declared here"))
                    .help(format!(
                        "give the port number PHP-FPM listens on (9000 when left out), or one of `{name}`'s port names"
                    )),
                );
            }
        }
        let Value::String(root_path) = &root.value else { continue };
        // A param's value is not known here: nothing to compare.
        if values::has_interpolation(root_path) {
            continue;
        }
        let covers = |m: &&Node| {
            m.arg_str(1).is_some_and(|t| {
                let t = t.trim_end_matches('/');
                !values::has_interpolation(t)
                    && (t.is_empty() || root_path == t || root_path.starts_with(&format!("{t}/")))
            })
        };
        if !svc.children_named("mount").any(|m| covers(&m)) && !proxy_mounts.iter().any(covers) {
            diags.push(
                Diagnostic::error(Code::MissingRequired, format!("`{name}` mounts nothing at `{root_path}`: the proxy cannot see its files"))
                    .at(root.entry_span, "the proxy serves static files and checks scripts here")
                    .label(svc.head_span(), format!("`{name}` is declared here"))
                    .help(format!(
                        "keep the application's files in a named volume: `volume \"{name}-code\"` and, in `{name}`, `mount \"{name}-code\" \"{root_path}\"`; compose mounts it read-only in the proxy at the same path"
                    )),
            );
        }
    }
}
