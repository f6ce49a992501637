//! `cors` (issue 11): the domain of an origin, and the rules no single value shows (`*`
//! alone, and never with credentials).

use super::values::{VResult, ValueError};
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::syntax::ast::Node;

/// The domain of [`crate::schema::Kind::Origin`].
pub fn origin(s: &str) -> VResult<()> {
    if s == "*" || valid_origin(s) {
        return Ok(());
    }
    Err(ValueError {
        code: Code::InvalidUrl,
        message: format!("`{}` is not an origin", s.escape_debug()),
        help: Some("an origin is a scheme and a host (and a port), as browsers send it: `https://app.example.com`, no path, no trailing `/`; or \"*\" for any".into()),
    })
}

/// `scheme://host[:port]`, as a browser sends it in `Origin`: no path, no trailing slash.
fn valid_origin(o: &str) -> bool {
    let Some((scheme, rest)) = o.split_once("://") else { return false };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => (h, Some(p)),
        _ => (rest, None),
    };
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-[]:".contains(c))
        && !host.starts_with(['.', '-'])
        && port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()))
}

pub fn check(nodes: &[Node], diags: &mut Diagnostics) {
    for site in nodes.iter().filter(|n| n.name.name == "site") {
        let routes = site.children_named("route");
        for c in site.children_named("cors").chain(routes.flat_map(|r| r.children_named("cors"))) {
            cors(c, diags);
        }
    }
}

fn cors(c: &Node, diags: &mut Diagnostics) {
    let any = c.args.iter().find(|a| a.value.as_str() == Some("*"));
    if let (Some(any), true) = (any, c.args.len() > 1) {
        diags.push(
            Diagnostic::error(Code::Conflicting, "`*` allows every origin: the other origins say nothing")
                .at(any.span, "any origin")
                .help("keep `*` alone, or list the origins without it"),
        );
    }
    if let (Some(any), Some(cred)) = (any, c.prop("credentials")) {
        if cred.value.as_bool() == Some(true) {
            diags.push(
                Diagnostic::error(Code::Conflicting, "CORS with credentials cannot allow any origin (`*`)")
                    .at(cred.entry_span, "credentials")
                    .label(any.span, "any origin")
                    .help("list the origins that may send credentials (`cors \"https://app.example.com\" credentials=#true`); browsers refuse `*` with credentials"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::valid_origin;

    #[test]
    fn origins() {
        for ok in ["https://app.example.com", "http://localhost:3000", "https://[::1]:8443"] {
            assert!(valid_origin(ok), "{ok}");
        }
        for bad in
            ["app.example.com", "https://app.example.com/", "ftp://x", "https://", "https://a:b", "https://a/${x}"]
        {
            assert!(!valid_origin(bad), "{bad}");
        }
    }
}
