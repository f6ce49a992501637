//! The nginx target: snapshots of a small stack, hostile values that must never inject a
//! directive, nginx's `add_header` inheritance, rate-limit zones at http level, and — the
//! real judge — `nginx -t` on the generated file of every example.
//!
//! `nginx -t` needs nginx (`.ci/install-validators` installs the Debian package) and root
//! (`unshare -m` mounts a private `/etc/hosts` so that upstream names resolve without
//! touching the machine's). In CI (`CI` set) a missing tool fails the test; elsewhere the
//! test prints NOT RUN and passes, so that `cargo test` works on a fresh machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use stackc::diagnostics::Diagnostic;
use stackc::emit::EmitOptions;
use stackc::ir::TargetKind;
use stackc::Options;

mod support;
use support::{examples, in_ci, proxy_stack, root};

/// nginx, or `None` (with a loud NOT RUN) outside CI.
fn require_nginx() -> Option<PathBuf> {
    let candidates = [PathBuf::from("/usr/sbin/nginx"), PathBuf::from("/usr/local/sbin/nginx")];
    let found = candidates.into_iter().find(|p| p.is_file()).or_else(|| {
        let out = Command::new("sh").arg("-c").arg("command -v nginx").output().ok()?;
        let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !p.is_empty()).then(|| PathBuf::from(p))
    });
    let unshare_ok = Command::new("unshare").args(["-m", "true"]).output().is_ok_and(|o| o.status.success());
    match (found, unshare_ok) {
        (Some(n), true) => Some(n),
        (None, _) if in_ci() => panic!("nginx is not installed: CI must run .ci/install-validators first"),
        (Some(_), false) if in_ci() => panic!("`unshare -m` failed: the nginx check needs root"),
        (None, _) => {
            support::report_not_run("nginx is not installed; run .ci/install-validators (CI always runs this check)");
            None
        }
        (Some(_), false) => {
            support::report_not_run("`unshare -m` needs root (CI always runs this check)");
            None
        }
    }
}

/// Builds `src` for the nginx target only: the generated file (if any) and every diagnostic.
fn build(src: &str) -> (Option<String>, Vec<Diagnostic>) {
    let emit = EmitOptions { targets: Some(vec![TargetKind::Nginx]), ..EmitOptions::default() };
    let built = stackc::build("test.stack.kdl", src, &Options::default(), &emit);
    let conf = built.files.into_iter().find(|f| f.path.starts_with("nginx/")).map(|f| f.contents);
    (conf, built.outcome.diagnostics)
}

fn conf(src: &str) -> String {
    let (conf, diags) = build(src);
    let errors: Vec<String> =
        diags.iter().filter(|d| d.is_error()).map(|d| format!("{} {}", d.code.as_str(), d.message)).collect();
    assert!(errors.is_empty(), "unexpected errors: {errors:#?}");
    conf.expect("an nginx file")
}

// ---------------------------------------------------------------------------------------
// A small nginx tokenizer (the rules of ngx_conf_read_token), to judge the output by what
// nginx reads, not by what the text looks like.

#[derive(Debug, Clone, PartialEq)]
struct Directive {
    name: String,
    args: Vec<String>,
    block: Option<Vec<Directive>>,
}

fn parse(text: &str) -> Vec<Directive> {
    fn token(chars: &[char], i: &mut usize) -> String {
        let mut out = String::new();
        if chars[*i] == '"' || chars[*i] == '\'' {
            let quote = chars[*i];
            *i += 1;
            while *i < chars.len() && chars[*i] != quote {
                if chars[*i] == '\\' && *i + 1 < chars.len() {
                    *i += 1;
                    match chars[*i] {
                        '"' | '\'' | '\\' => out.push(chars[*i]),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'n' => out.push('\n'),
                        c => {
                            out.push('\\');
                            out.push(c);
                        }
                    }
                } else {
                    out.push(chars[*i]);
                }
                *i += 1;
            }
            *i += 1;
            return out;
        }
        while *i < chars.len() && !chars[*i].is_whitespace() && !";{}".contains(chars[*i]) {
            out.push(chars[*i]);
            *i += 1;
        }
        out
    }
    fn block(chars: &[char], i: &mut usize) -> Vec<Directive> {
        let mut out = Vec::new();
        let mut words: Vec<String> = Vec::new();
        while *i < chars.len() {
            let c = chars[*i];
            if c.is_whitespace() {
                *i += 1;
            } else if c == '#' {
                while *i < chars.len() && chars[*i] != '\n' {
                    *i += 1;
                }
            } else if c == ';' {
                *i += 1;
                let name = words.remove(0);
                out.push(Directive { name, args: std::mem::take(&mut words), block: None });
            } else if c == '{' {
                *i += 1;
                let inner = block(chars, i);
                let name = words.remove(0);
                out.push(Directive { name, args: std::mem::take(&mut words), block: Some(inner) });
            } else if c == '}' {
                *i += 1;
                assert!(words.is_empty(), "unterminated directive {words:?}");
                return out;
            } else {
                words.push(token(chars, i));
            }
        }
        assert!(words.is_empty(), "unterminated directive {words:?}");
        out
    }
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    block(&chars, &mut i)
}

/// Every directive, depth first.
fn walk(ds: &[Directive]) -> Vec<&Directive> {
    let mut out = Vec::new();
    for d in ds {
        out.push(d);
        if let Some(b) = &d.block {
            out.extend(walk(b));
        }
    }
    out
}

fn servers(ds: &[Directive]) -> Vec<&Directive> {
    ds.iter().filter(|d| d.name == "server" && d.block.is_some()).collect()
}

fn https_server<'a>(ds: &'a [Directive], host: &str) -> &'a Directive {
    servers(ds)
        .into_iter()
        .find(|s| {
            let b = s.block.as_ref().unwrap();
            b.iter().any(|d| d.name == "listen" && d.args.iter().any(|a| a == "443"))
                && b.iter().any(|d| d.name == "server_name" && d.args.first().is_some_and(|a| a == host))
        })
        .unwrap_or_else(|| panic!("no HTTPS server for {host}"))
}

fn location<'a>(server: &'a Directive, path: &str) -> &'a Directive {
    server
        .block
        .as_ref()
        .unwrap()
        .iter()
        .find(|d| d.name == "location" && d.args.last().is_some_and(|a| a == path))
        .unwrap_or_else(|| panic!("no location {path}"))
}

fn add_headers(block: &[Directive]) -> Vec<(String, String)> {
    block.iter().filter(|d| d.name == "add_header").map(|d| (d.args[0].clone(), d.args[1].clone())).collect()
}

const SMALL: &str = r##"
stack "shop"
service "web" {
    image "ghcr.io/acme/web:1.0"
    port 3000 name="http"
    replicas 2
}
service "api" {
    image "ghcr.io/acme/api:1.0"
    port 8080 name="http"
}
proxy {
    tls email="ops@shop.example.com" hsts="365d" hsts-subdomains=#true
    security-headers "strict"
    header "Content-Security-Policy" "default-src 'self'"
    rate-limit "api" rate="10r/s" burst=20 nodelay=#true
    rate-limit "auth" rate="5r/m" burst=3 size="1Mi"
    body-limit "10Mi"
    gzip #true
    upstream "api" balance="least-conn" max-fails=3 fail-timeout="30s" keepalive=16
}
site "shop.example.com" "www.shop.example.com" {
    redirect-from "shop.example.net"
    route "/" to="web"
    route "/api/" to="api" websocket=#true rate-limit="api" timeout="60s" strip-prefix=#true
    route "/api/auth/" to="api" rate-limit="auth" buffering=#false body-limit="1Mi"
    route "/health" to="api" exact=#true access-log=#false
    route #"(?i)^/assets/.+\.(css|js)$"# regex=#true to="web" cache="365d" immutable=#true
    route "/static/" files="/srv/static" cache="1h"
    route "/metrics" exact=#true respond=404
    route "/old/" redirect="https://shop.example.com/new/" status=308
    route "/files/" to="api" internal=#true
}
site "admin.shop.example.com" {
    route "/" to="web"
    allow-from "10.0.0.0/8" "2001:db8::/32"
}
targets {
    nginx version="1.27"
}
"##;

#[test]
fn small_stack_snapshot() {
    insta::assert_snapshot!("nginx_small", conf(SMALL));
}

#[test]
fn version_selects_http2_syntax() {
    let new = conf(SMALL);
    assert!(new.contains("    http2 on;\n") && !new.contains("ssl http2"));
    let old = conf(&SMALL.replace(r#"nginx version="1.27""#, r#"nginx version="1.22""#));
    assert!(old.contains("listen 443 ssl http2;") && old.contains("listen [::]:443 ssl http2;"));
    assert!(!old.contains("http2 on"));
}

#[test]
fn rate_limit_zones_are_at_http_level() {
    let ds = parse(&conf(SMALL));
    let zones: Vec<&Directive> = ds.iter().filter(|d| d.name == "limit_req_zone").collect();
    assert_eq!(zones.len(), 2);
    assert_eq!(zones[0].args, ["$binary_remote_addr", "zone=api:10m", "rate=10r/s"]);
    assert_eq!(zones[1].args, ["$binary_remote_addr", "zone=auth:1m", "rate=5r/m"]);
    // Nowhere else.
    let nested =
        servers(&ds).into_iter().flat_map(|s| walk(s.block.as_ref().unwrap())).filter(|d| d.name == "limit_req_zone");
    assert_eq!(nested.count(), 0);
    let server = https_server(&ds, "shop.example.com");
    let api = location(server, "/api/");
    let lr = api.block.as_ref().unwrap().iter().find(|d| d.name == "limit_req").unwrap();
    assert_eq!(lr.args, ["zone=api", "burst=20", "nodelay"]);
    let auth = location(server, "/api/auth/");
    let lr = auth.block.as_ref().unwrap().iter().find(|d| d.name == "limit_req").unwrap();
    assert_eq!(lr.args, ["zone=auth", "burst=3"]);
}

#[test]
fn locations_with_own_headers_repeat_the_server_headers() {
    let ds = parse(&conf(SMALL));
    let server = https_server(&ds, "shop.example.com");
    let server_headers = add_headers(server.block.as_ref().unwrap());
    assert!(server_headers.iter().any(|(n, _)| n == "Strict-Transport-Security"));
    assert!(server_headers.iter().any(|(n, _)| n == "Content-Security-Policy"));
    for path in [r"^/assets/.+\.(css|js)$", "/static/"] {
        let loc = location(server, path);
        let own = add_headers(loc.block.as_ref().unwrap());
        for h in &server_headers {
            assert!(own.contains(h), "{path} drops {h:?}: nginx does not inherit add_header into it");
        }
        assert!(own.iter().any(|(n, _)| n == "Cache-Control"));
    }
    // A location without add_header inherits them and does not repeat them.
    assert!(add_headers(location(server, "/api/").block.as_ref().unwrap()).is_empty());
    // Every server-level header is sent on errors too.
    let always = server.block.as_ref().unwrap().iter().filter(|d| d.name == "add_header");
    assert!(always.into_iter().all(|d| d.args.last().is_some_and(|a| a == "always")));
}

#[test]
fn routes_become_the_right_locations() {
    let ds = parse(&conf(SMALL));
    let server = https_server(&ds, "shop.example.com");
    let loc = |p: &str| location(server, p);
    assert_eq!(loc("/health").args, ["=", "/health"]);
    assert_eq!(loc(r"^/assets/.+\.(css|js)$").args[0], "~*");
    let get = |l: &Directive, name: &str| -> Vec<String> {
        l.block.as_ref().unwrap().iter().find(|d| d.name == name).map(|d| d.args.clone()).unwrap_or_default()
    };
    assert_eq!(get(loc("/api/"), "proxy_pass"), ["http://api/"]);
    assert_eq!(get(loc("/api/"), "proxy_read_timeout"), ["1m"]);
    assert_eq!(get(loc("/api/"), "proxy_set_header").len(), 2);
    assert_eq!(get(loc("/api/auth/"), "proxy_buffering"), ["off"]);
    assert_eq!(get(loc("/api/auth/"), "client_max_body_size"), ["1m"]);
    assert_eq!(get(loc("/health"), "access_log"), ["off"]);
    assert_eq!(get(loc("/metrics"), "return"), ["404"]);
    assert_eq!(get(loc("/old/"), "return"), ["308", "https://shop.example.com/new/"]);
    assert!(loc("/files/").block.as_ref().unwrap().iter().any(|d| d.name == "internal"));
    assert_eq!(get(loc("/static/"), "alias"), ["/srv/static/"]);
    let up = ds.iter().find(|d| d.name == "upstream" && d.args == ["api"]).unwrap();
    let b = up.block.as_ref().unwrap();
    assert_eq!(b[0].name, "least_conn");
    assert_eq!(b[1].args, ["api:8080", "max_fails=3", "fail_timeout=30s"]);
    assert_eq!(b[2].args, ["16"]);
    let admin = https_server(&ds, "admin.shop.example.com").block.as_ref().unwrap();
    // allow-from: a `geo` at http level, tested in the server (before any location's `return`).
    let geo = ds.iter().find(|d| d.name == "geo").expect("a geo block for allow-from");
    assert_eq!(geo.args, ["$stackc_deny_admin_shop_example_com"]);
    let entries: Vec<(String, Vec<String>)> =
        geo.block.as_ref().unwrap().iter().map(|d| (d.name.clone(), d.args.clone())).collect();
    assert_eq!(
        entries,
        [
            ("default".into(), vec!["1".into()]),
            ("10.0.0.0/8".into(), vec!["0".into()]),
            ("2001:db8::/32".into(), vec!["0".into()])
        ]
    );
    let check = admin.iter().find(|d| d.name == "if").expect("an if in the admin server");
    assert_eq!(check.args, ["($stackc_deny_admin_shop_example_com)"]);
    assert_eq!(check.block.as_ref().unwrap()[0].args, ["403"]);
    assert!(!admin.iter().any(|d| d.name == "allow" || d.name == "deny"));
    assert!(!https_server(&ds, "shop.example.com").block.as_ref().unwrap().iter().any(|d| d.name == "if"));
    // The redirect-from server answers with the first host.
    let redirect = servers(&ds)
        .into_iter()
        .find(|s| s.block.as_ref().unwrap().iter().any(|d| d.name == "server_name" && d.args == ["shop.example.net"]))
        .unwrap();
    let ret = redirect.block.as_ref().unwrap().iter().find(|d| d.name == "return").unwrap();
    assert_eq!(ret.args, ["301", "https://shop.example.com$request_uri"]);
    let hsts = add_headers(redirect.block.as_ref().unwrap());
    assert!(hsts.iter().any(|(n, _)| n == "Strict-Transport-Security"));
}

/// SMALL with basic auth on its main site.
fn with_basic_auth() -> String {
    let src = SMALL.replace("stack \"shop\"\n", "stack \"shop\"\nsecret \"admin-hash\" env=\"ADMIN_HASH\"\n").replace(
        "    redirect-from \"shop.example.net\"\n",
        "    redirect-from \"shop.example.net\"\n    basic-auth \"alice\" password-hash=(secret)\"admin-hash\"\n",
    );
    assert!(src.contains("basic-auth") && src.contains("secret \"admin-hash\""));
    src
}

/// `return` answers in the rewrite phase, before `auth_basic` (access phase): behind basic
/// auth, `respond=`/`redirect=` routes answer from a named location reached by `try_files`.
#[test]
fn basic_auth_covers_respond_and_redirect_routes() {
    let ds = parse(&conf(&with_basic_auth()));
    let server = https_server(&ds, "shop.example.com");
    let block = server.block.as_ref().unwrap();
    assert_eq!(
        block.iter().find(|d| d.name == "auth_basic_user_file").unwrap().args,
        ["/etc/nginx/htpasswd/shop.example.com"]
    );
    let named = |l: &Directive| -> String {
        let b = l.block.as_ref().unwrap();
        assert!(!b.iter().any(|d| d.name == "return"), "a `return` would skip basic auth: {b:?}");
        let t = b.iter().find(|d| d.name == "try_files").expect("try_files");
        assert_eq!(t.args[0], "/.stackc-no-such-file");
        t.args[1].clone()
    };
    let answer = |name: &str| -> Vec<String> {
        let l = location(server, name);
        l.block.as_ref().unwrap().iter().find(|d| d.name == "return").unwrap().args.clone()
    };
    assert_eq!(answer(&named(location(server, "/metrics"))), ["404"]);
    assert_eq!(answer(&named(location(server, "/old/"))), ["308", "https://shop.example.com/new/"]);
    // Proxied routes are untouched; a site without basic auth keeps its plain `return`s.
    assert!(location(server, "/api/").block.as_ref().unwrap().iter().any(|d| d.name == "proxy_pass"));
    let plain = parse(&conf(SMALL));
    let plain = https_server(&plain, "shop.example.com");
    assert!(location(plain, "/metrics").block.as_ref().unwrap().iter().any(|d| d.name == "return"));
    assert!(!plain.block.as_ref().unwrap().iter().any(|d| d.name == "location" && d.args[0].starts_with('@')));
}

/// A stack with one header value (and other user strings) replaced.
fn hostile(value: &str) -> String {
    let kdl = value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    format!(
        r#"
stack "evil"
service "api" {{
    image "ghcr.io/acme/api:1.0"
    port 8080 name="http"
}}
proxy {{
    header "X-Evil" "{kdl}"
}}
site "evil.example.com" {{
    header "X-Site" "{kdl}"
    route "/a" to="api"
}}
targets {{
    nginx
}}
"#
    )
}

const HOSTILE: &[&str] = &[
    "x; return 200 pwned",
    "a}\nserver {",
    "$host",
    "\"q\"",
    "a' ; return 200 pwned; '",
    "x # comment; return 200 pwned",
    "back\\\"slash; return 200 pwned",
    "${nope}",
    "}}}}",
];

#[test]
fn hostile_header_values_never_inject_a_directive() {
    for value in HOSTILE {
        let (out, diags) = build(&hostile(value));
        // `${nope}` is an unknown param and a control character E0318 (the front end's
        // errors); the rest is nginx::check's.
        let rejected = diags
            .iter()
            .any(|d| d.is_error() && (["E0501", "E0318"].contains(&d.code.as_str()) || value.contains("${")));
        let Some(out) = out else {
            assert!(rejected, "{value:?}: no file and no E0501: {diags:#?}");
            continue;
        };
        let ds = parse(&out);
        assert!(
            !walk(&ds).iter().any(|d| d.name == "return" && d.args.iter().any(|a| a == "200")),
            "{value:?} injected a return:\n{out}"
        );
        // The two catch-all servers, and the site's HTTP and HTTPS servers.
        assert_eq!(servers(&ds).len(), 4, "{value:?} changed the servers:\n{out}");
        let server = https_server(&ds, "evil.example.com");
        let headers = add_headers(server.block.as_ref().unwrap());
        assert!(headers.contains(&("X-Evil".to_string(), value.to_string())), "{value:?}: {headers:?}");
        assert!(headers.contains(&("X-Site".to_string(), value.to_string())), "{value:?}: {headers:?}");
        assert!(!value.contains('$'), "{value:?}: a `$` must be rejected, nginx would expand it");
    }
}

#[test]
fn dollar_and_newline_are_rejected_at_their_origin() {
    for value in ["$host", "a\nb", "x$request_uri"] {
        let (out, diags) = build(&hostile(value));
        assert!(out.is_none(), "{value:?} produced a file");
        // A line break is refused by the front end already (E0318), a `$` by nginx::check.
        let e: Vec<&Diagnostic> = diags.iter().filter(|d| ["E0501", "E0318"].contains(&d.code.as_str())).collect();
        assert!(!e.is_empty(), "{value:?}: {diags:#?}");
        assert!(e.iter().all(|d| d.primary.is_some()), "{value:?}: E0501 without a position");
    }
}

#[test]
fn hostile_paths_hosts_and_redirects() {
    // A regex with `{`, `;` and quotes stays one token.
    let src = SMALL.replace(r#"(?i)^/assets/.+\.(css|js)$"#, r#"^/a{2}/"x"$"#);
    if let (Some(out), _) = build(&src) {
        let ds = parse(&out);
        let server = https_server(&ds, "shop.example.com");
        location(server, r#"^/a{2}/"x"$"#);
    }
    // A redirect target with a `$` or a newline is rejected.
    for to in ["https://x/$host", "https://x/\\n; return 200 pwned"] {
        let src = SMALL.replace("https://shop.example.com/new/", to);
        let (out, diags) = build(&src);
        if let Some(out) = out {
            assert!(!walk(&parse(&out)).iter().any(|d| d.name == "return" && d.args.iter().any(|a| a == "200")));
        } else {
            assert!(diags.iter().any(|d| d.is_error()), "{to:?}");
        }
    }
    // A host from a param default that is not a host name is rejected (the front end checks
    // host names with params' defaults; nginx::check checks again, since nginx gets them).
    let src = r#"
stack "evil"
param "domain" default="x.com; return 200 pwned"
service "api" {
    image "ghcr.io/acme/api:1.0"
    port 8080 name="http"
}
site "${domain}" {
    route "/" to="api"
}
targets {
    nginx
}
"#;
    let (out, diags) = build(src);
    assert!(out.is_none());
    assert!(diags.iter().any(|d| d.is_error()), "{diags:#?}");
}

/// Defense in depth: even past the front end's checks and `nginx::check`, a hostile string
/// put straight into the IR (every string field the nginx file uses) stays inside its token.
#[test]
fn hostile_ir_strings_stay_inside_their_token() {
    use stackc::ir::{Action, Text};
    let base = stackc::compile("small.stack.kdl", SMALL, &Options::default()).stack.expect("SMALL compiles");
    // A `geo` entry's name is its address range: the shape counts it, whatever its text.
    let shape = |ds: &[Directive]| -> Vec<String> {
        let mut out = Vec::new();
        for d in ds {
            if d.name == "geo" {
                out.push(format!("geo {}", d.block.as_ref().unwrap().len()));
            } else {
                out.extend(walk(std::slice::from_ref(d)).iter().map(|d| d.name.clone()));
            }
        }
        out
    };
    let mutate = |value: &str| {
        let mut stack = base.clone();
        let site = &mut stack.sites[0];
        site.hosts[1] = Text::lit(value);
        site.redirect_from = vec![value.to_string()];
        site.headers.push(("X-Evil".into(), value.into()));
        for r in &mut site.routes {
            r.path = format!("/{value}");
            match &mut r.action {
                Action::Files { root } => *root = format!("/srv/{value}"),
                Action::Redirect { to, .. } => *to = format!("https://x/{value}"),
                _ => {}
            }
            r.fallback = Some(format!("/{value}"));
        }
        stack.sites[1].allow_from = vec![value.to_string()];
        // The emitter renders the plan, which lowering derives from the sites.
        stack.proxy_plan = stackc::lower::proxy::plan(&stack);
        stack
    };
    let benign = mutate("benign");
    let expected = shape(&parse(&stackc::emit::nginx::emit(&benign, &EmitOptions::default())[0].contents));
    for evil in ["x; return 200 pwned", "a}\nserver {", "\"q\" 'r'", "# c\n}", "a\\\"; deny all; \"", "{"] {
        let stack = mutate(evil);
        let out = stackc::emit::nginx::emit(&stack, &EmitOptions::default());
        let ds = parse(&out[0].contents);
        // The same directives in the same nesting as with a benign value.
        assert_eq!(shape(&ds), expected, "{evil:?} changed the structure:\n{}", out[0].contents);
        assert!(!walk(&ds).iter().any(|d| d.name == "return" && d.args.iter().any(|a| a == "200")));
        let server = https_server(&ds, "shop.example.com");
        assert!(add_headers(server.block.as_ref().unwrap()).contains(&("X-Evil".to_string(), evil.to_string())));
        location(server, &format!("/{evil}"));
        // And nginx::check refuses what nginx would misread (the host, at least).
        assert!(stackc::emit::nginx::check(&stack).iter().any(|d| d.is_error()), "{evil:?}");
    }
}

// ---------------------------------------------------------------------------------------
// nginx -t

/// Upstream host names: the `server` entries of every `upstream` block.
fn upstream_hosts(conf: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for u in parse(conf).iter().filter(|d| d.name == "upstream") {
        for s in u.block.as_ref().unwrap().iter().filter(|d| d.name == "server") {
            let host = s.args[0].rsplit_once(':').map_or(s.args[0].as_str(), |(h, _)| h).to_string();
            if !out.contains(&host) {
                out.push(host);
            }
        }
    }
    out
}

/// The local nginx's version, from `nginx -v`.
fn local_version(nginx: &Path) -> (u32, u32, u32) {
    let out = Command::new(nginx).arg("-v").output().expect("run nginx -v");
    let text = String::from_utf8_lossy(&out.stderr);
    let v = text.split('/').nth(1).unwrap_or("").trim();
    let mut parts = v.split('.').map(|p| p.trim().parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Runs `nginx -t` on a copy of `conf` with a self-signed certificate in place of the real
/// ones and the upstream names resolving to 127.0.0.1 in a private mount namespace.
fn nginx_t(nginx: &Path, name: &str, conf: &str) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("stackc-nginx-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    // A file for nginx >= 1.25.1 (`http2 on;`) is checked by an older nginx with the older
    // spelling (`listen … ssl http2`): the only version-dependent syntax stackc writes.
    let old = local_version(nginx) < (1, 25, 1);
    // Likewise `server … resolve` and `resolver` in an `upstream` (nginx >= 1.27.3): checked
    // without them.
    let no_resolve = local_version(nginx) < (1, 27, 3);
    let mut copy = String::new();
    let mut in_upstream = false;
    for line in conf.lines() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        in_upstream = (in_upstream || line.starts_with("upstream ")) && line != "}";
        if (old && t == "http2 on;") || (no_resolve && in_upstream && t.starts_with("resolver ")) {
            continue;
        } else if no_resolve && in_upstream && t.starts_with("server ") && t.ends_with(" resolve;") {
            copy.push_str(&format!("{indent}{};\n", t.trim_end_matches(" resolve;")));
        } else if old && t.starts_with("listen ") && t.ends_with(" ssl;") {
            copy.push_str(&format!("{indent}{} http2;\n", t.trim_end_matches(';')));
        } else if let Some(rest) = t.strip_prefix("proxy_cache_path ") {
            // nginx -t creates the cache directory (the image has /var/cache/nginx, this
            // machine may not): it goes into the test's directory.
            let params = rest.split_once(' ').map_or("", |(_, p)| p);
            copy.push_str(&format!("{indent}proxy_cache_path {}/cache {params}\n", dir.display()));
        } else if t.starts_with("ssl_certificate_key ") {
            copy.push_str(&format!("{indent}ssl_certificate_key {};\n", key.display()));
        } else if t.starts_with("ssl_certificate ") || t.starts_with("ssl_trusted_certificate ") {
            let directive = t.split(' ').next().unwrap();
            copy.push_str(&format!("{indent}{directive} {};\n", cert.display()));
        } else {
            copy.push_str(line);
            copy.push('\n');
        }
    }
    let site = dir.join("site.conf");
    std::fs::write(&site, copy).unwrap();
    let d = dir.display();
    let main = format!(
        "pid {d}/nginx.pid;\nerror_log {d}/logs/error.log;\nevents {{}}\nhttp {{\n    access_log {d}/logs/access.log;\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n    include {};\n}}\n",
        site.display()
    );
    let main_path = dir.join("nginx.conf");
    std::fs::write(&main_path, main).unwrap();
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, format!("127.0.0.1 localhost {}\n::1 localhost\n", upstream_hosts(conf).join(" "))).unwrap();
    let script = format!(
        "mount --bind '{}' /etc/hosts && exec '{}' -t -q -p '{d}' -c '{}'",
        hosts.display(),
        nginx.display(),
        main_path.display()
    );
    let out = Command::new("unshare").args(["-m", "sh", "-c", &script]).output().expect("run unshare");
    let _ = std::fs::remove_dir_all(&dir);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// Every golden nginx file.
fn golden_confs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(root().join("golden")).unwrap().flatten() {
        let conf_d = dir.path().join("nginx/conf.d");
        let Ok(entries) = std::fs::read_dir(&conf_d) else { continue };
        out.extend(entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "conf")));
    }
    out.sort();
    out
}

#[test]
fn every_golden_nginx_file_passes_nginx_t() {
    let confs = golden_confs();
    // cashstage, cobalt, contravento and fullstack select nginx, with their environments.
    assert!(confs.len() >= 4, "expected golden nginx files, found {confs:?}");
    let Some(nginx) = require_nginx() else { return };
    let mut failures = Vec::new();
    for p in &confs {
        let name = p.parent().unwrap().parent().unwrap().parent().unwrap().file_name().unwrap().to_string_lossy();
        if let Err(e) = nginx_t(&nginx, &name, &std::fs::read_to_string(p).unwrap()) {
            failures.push(format!("{}:\n{e}", p.display()));
        }
    }
    assert!(failures.is_empty(), "nginx -t failed:\n{}", failures.join("\n"));
}

/// The check itself fails on what nginx rejects (the seeds' `limit_req_zone` inside `server`,
/// an unknown parameter), so that a passing run means something.
#[test]
fn nginx_t_rejects_broken_files() {
    let Some(nginx) = require_nginx() else { return };
    let good = conf(SMALL);
    assert_eq!(nginx_t(&nginx, "selftest-good", &good), Ok(()));
    let zone_in_server = good.replacen(
        "    server_name shop.example.com www.shop.example.com;\n",
        "    server_name shop.example.com www.shop.example.com;\n    limit_req_zone $binary_remote_addr zone=x:1m rate=1r/s;\n",
        1,
    );
    assert_ne!(zone_in_server, good);
    assert!(nginx_t(&nginx, "selftest-zone", &zone_in_server).is_err());
    let broken = good.replacen("server api:8080 ", "server api:8080 bogus_param ", 1);
    assert_ne!(broken, good);
    assert!(nginx_t(&nginx, "selftest-param", &broken).is_err());
}

/// Examples that do not select nginx (freshtrack: Caddy), and the test stacks here.
#[test]
fn other_stacks_pass_nginx_t() {
    let Some(nginx) = require_nginx() else { return };
    let mut stacks: Vec<(String, String)> = vec![
        ("small".into(), conf(SMALL)),
        ("small-1-22".into(), conf(&SMALL.replace(r#"nginx version="1.27""#, r#"nginx version="1.22""#))),
        ("small-default-version".into(), conf(&SMALL.replace(r#"nginx version="1.27""#, "nginx"))),
        ("basic-auth".into(), conf(&with_basic_auth())),
        // Timeouts, buffering and the proxy cache (issue 11; snapshot in tests/proxy_handling.rs).
        (
            "handling".into(),
            conf(&std::fs::read_to_string(root().join("compiler/stackc/tests/proxy/handling.stack.kdl")).unwrap()),
        ),
        ("edge".into(), conf(EDGE)),
    ];
    for (name, tls) in [
        ("plain-http", r#"tls certificates="none""#),
        (
            "modern-self-signed",
            r#"tls profile="modern" certificates="self-signed" session-tickets=#true session-timeout="10m""#,
        ),
        ("external-no-ocsp", r#"tls certificates="external" ocsp=#false hsts="730d" hsts-preload=#true"#),
    ] {
        let src = SMALL.replace(r#"tls email="ops@shop.example.com" hsts="365d" hsts-subdomains=#true"#, tls);
        assert_ne!(src, SMALL);
        let c = conf(&src);
        if name == "plain-http" {
            assert!(!c.contains("443") && !c.contains("ssl_") && !c.contains("Strict-Transport"), "{c}");
            assert!(c.contains("return 301 \"http://shop.example.com$request_uri\";"), "{c}");
        }
        stacks.push((name.into(), c));
    }
    for value in HOSTILE {
        if let (Some(c), _) = build(&hostile(value)) {
            stacks.push((format!("hostile{}", stacks.len()), c));
        }
    }
    for p in examples() {
        let text = std::fs::read_to_string(&p).unwrap();
        if let (Some(c), _) = build(&text) {
            stacks.push((p.file_name().unwrap().to_string_lossy().replace('.', "-"), c));
        }
    }
    stacks.push(("raw-directives".into(), conf(&proxy_stack("raw_directives"))));
    stacks.push(("listen".into(), conf(&proxy_stack("listen"))));
    let mut failures = Vec::new();
    for (name, c) in &stacks {
        if let Err(e) = nginx_t(&nginx, name, c) {
            failures.push(format!("{name}:\n{e}\n{c}"));
        }
    }
    assert!(failures.is_empty(), "nginx -t failed:\n{}", failures.join("\n"));
}

/// A zone's rate given by a param is the param's value (it was 1r/s, whatever the param said).
#[test]
fn rate_limit_rate_from_a_param_is_its_value() {
    let c = conf(
        r#"
param "api-rate" default="25r/m"
service "api" {
    image "ghcr.io/acme/api:1.0.0"
    port 8000 name="http"
    health http="/health"
}
proxy {
    rate-limit "api" rate="${api-rate}"
}
site "shop.example.com" {
    route "/" to="api" rate-limit="api"
}
targets {
    nginx
}
"#,
    );
    assert!(c.contains("limit_req_zone $binary_remote_addr zone=api:10m rate=25r/m;"), "{c}");
}

/// nginx reads the `basic-auth` users from a file stackc does not write: the warning names
/// the file and every user (params at their values), once per site.
#[test]
fn basic_auth_users_are_reported_with_the_file_nginx_reads() {
    let (_, diags) = build(
        r#"
param "admin" default="root"
secret "h1" env="H1"
secret "h2" env="H2"
service "web" {
    image "ghcr.io/acme/web:1.0.0"
    port 3000 name="http"
    health http="/health"
}
site "admin.example.com" {
    route "/" to="web"
    basic-auth "${admin}" password-hash=(secret)"h1"
    basic-auth "ops" password-hash=(secret)"h2"
}
targets {
    nginx
}
"#,
    );
    let w: Vec<String> = diags
        .iter()
        .filter(|d| d.message.contains("htpasswd"))
        .map(|d| format!("{} {}", d.code.as_str(), d.message))
        .collect();
    assert_eq!(
        w,
        ["W0501 nginx reads the users of `basic-auth` from /etc/nginx/htpasswd/admin.example.com, which is not generated (it holds the password hashes): `root`, `ops` must be written there"]
    );
}

/// The `location` block of `path` in the first server that has one, as text.
fn location_text(conf: &str, head: &str) -> String {
    let start =
        conf.find(&format!("    location {head} {{\n")).unwrap_or_else(|| panic!("no location {head}:\n{conf}"));
    let end = conf[start..].find("\n    }\n").map(|e| start + e).unwrap();
    conf[start..end].to_string()
}

/// Upstream names are re-resolved while nginx runs: before 1.27.3 through a variable in
/// `proxy_pass` (and then a prefix is stripped by `rewrite`: with a variable, a URI in
/// `proxy_pass` would replace the whole request URI), from 1.27.3 by `server … resolve`.
#[test]
fn upstream_names_are_re_resolved_for_every_version() {
    let routes = "    route \"/web/\" to=\"web\" strip-prefix=#true\n    route \"/w\" to=\"web\" strip-prefix=#true\n    route \"/home\" to=\"web\" exact=#true strip-prefix=#true\n    route \"/api/auth/\"";
    let src = SMALL.replacen("    route \"/api/auth/\"", routes, 1);
    assert_ne!(src, SMALL);
    let old = conf(&src.replace(r#"nginx version="1.27""#, r#"nginx version="1.22""#));
    assert!(!old.contains("upstream web {"), "{old}");
    assert!(old.contains("    resolver 127.0.0.11 valid=10s;\n"), "{old}");
    let web = location_text(&old, "/web/");
    assert!(web.contains("set $stackc_upstream web:3000;"), "{web}");
    assert!(web.contains("rewrite \"^/web/(.*)$\" /$1 break;"), "{web}");
    assert!(web.contains("proxy_pass http://$stackc_upstream;"), "{web}");
    let w = location_text(&old, "/w");
    assert!(
        w.contains("rewrite \"^/w/?(.*)$\" /$1 break;") && w.contains("proxy_pass http://$stackc_upstream;"),
        "{w}"
    );
    let home = location_text(&old, "= /home");
    assert!(home.contains("rewrite ^ / break;") && home.contains("proxy_pass http://$stackc_upstream;"), "{home}");
    // `api` has settings that need its block: resolved once, with a warning.
    assert!(
        old.contains("upstream api {") && old.contains("    server api:8080 max_fails=3 fail_timeout=30s;\n"),
        "{old}"
    );
    let (_, diags) = build(&src.replace(r#"nginx version="1.27""#, r#"nginx version="1.22""#));
    assert!(diags
        .iter()
        .any(|d| d.code.as_str() == "W0501" && d.message.contains("resolves `api` only when it starts")));

    let new = conf(&src.replace(r#"nginx version="1.27""#, r#"nginx version="1.28""#));
    assert!(new.contains("upstream web {\n    zone stackc_upstream_web 64k;\n"), "{new}");
    assert!(new.contains("    server web:3000 resolve;\n") && new.contains(" fail_timeout=30s resolve;\n"), "{new}");
    assert!(location_text(&new, "/web/").contains("proxy_pass http://web/;"), "{new}");
    assert!(!new.contains("$stackc_upstream"), "{new}");
    let (_, diags) = build(&src.replace(r#"nginx version="1.27""#, r#"nginx version="1.28""#));
    assert!(!diags.iter().any(|d| d.message.contains("only when it starts")), "{diags:#?}");
}

// ---------------------------------------------------------------------------------------
// Raw directives (`site`/`route > nginx`): written as given, in their block.

#[test]
fn raw_directives_are_written_into_their_block() {
    let c = conf(&proxy_stack("raw_directives"));
    insta::assert_snapshot!("nginx_raw_directives", c);
    let ds = parse(&c);
    let server = https_server(&ds, "shop.example.com");
    let block = server.block.as_ref().unwrap();
    // The site's: in its HTTPS server, before the locations, as nginx reads them.
    let raw_if = block.iter().find(|d| d.name == "if").expect("the site's raw `if`");
    let inside = raw_if.block.as_ref().expect("the `if` block");
    assert_eq!((inside[0].name.as_str(), &inside[0].args[..]), ("return", &["403".to_string()][..]), "{c}");
    assert!(add_headers(block).contains(&("X-Raw-Site".into(), "shop".into())), "{c}");
    // The route's: in its location, and only there; none of Caddy's.
    let api = location(server, "/api/").block.as_ref().unwrap();
    let names: Vec<&str> = api.iter().map(|d| d.name.as_str()).collect();
    assert!(names.contains(&"proxy_buffer_size") && names.contains(&"proxy_buffers"), "{names:?}");
    assert!(!c.contains("X-Tenant") && !c.contains("header_regexp"), "Caddy's raw directives reached nginx:\n{c}");
    // A raw `add_header` in a location ends nginx's inheritance: the site's headers are repeated.
    let legacy = add_headers(location(server, "/legacy/").block.as_ref().unwrap());
    let names: Vec<&str> = legacy.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"X-Content-Type-Options") && names.contains(&"Strict-Transport-Security"), "{names:?}");
    assert!(names.contains(&"X-Legacy"), "{names:?}");
}

#[test]
fn raw_directives_that_would_leave_their_block_are_refused_at_their_span() {
    let base = proxy_stack("raw_directives");
    for bad in ["add_header X-A 1; }\nserver { listen 8081;", "location /x {", "add_header X-A 1"] {
        let src = base.replace("\"proxy_buffers 8 16k;\"", &format!("{bad:?}"));
        assert_ne!(src, base);
        let (file, diags) = build(&src);
        assert!(file.is_none(), "{bad:?} was written");
        let e = diags.iter().find(|d| d.is_error()).unwrap_or_else(|| panic!("no error for {bad:?}"));
        assert_eq!(e.code.as_str(), "E0318", "{bad:?}: {}", e.message);
        let span = e.primary.as_ref().unwrap().span;
        assert_eq!(&src[span.offset..span.end()], format!("{bad:?}"), "the error points at the directives");
    }
}

// ---------------------------------------------------------------------------------------
// Sites on ports of their own (`site > listen`).

#[test]
fn a_site_with_a_port_of_its_own_is_plain_http_there() {
    let c = conf(&proxy_stack("listen"));
    insta::assert_snapshot!("nginx_listen", c);
    let ds = parse(&c);
    let listens = |s: &Directive| -> Vec<String> {
        s.block.as_ref().unwrap().iter().filter(|d| d.name == "listen").map(|d| d.args.join(" ")).collect()
    };
    let named = |host: &str| -> Vec<&Directive> {
        servers(&ds)
            .into_iter()
            .filter(|s| s.block.as_ref().unwrap().iter().any(|d| d.name == "server_name" && d.args[0] == host))
            .collect()
    };
    // The HTTPS site keeps 443 (and 80, which redirects).
    assert_eq!(
        https_server(&ds, "shop.example.com")
            .block
            .as_ref()
            .unwrap()
            .iter()
            .filter(|d| d.name == "ssl_certificate")
            .count(),
        1
    );
    // The others: one plain server each, on their port, without TLS, HSTS or a redirect.
    for (host, port) in [("status.internal", "8081"), ("wiki.internal", "8082"), ("docs.internal", "8082")] {
        let servers = named(host);
        assert_eq!(servers.len(), 1, "{host}: {c}");
        assert_eq!(listens(servers[0]), [port.to_string(), format!("[::]:{port}")], "{host}");
        let block = servers[0].block.as_ref().unwrap();
        assert!(!block.iter().any(|d| d.name.starts_with("ssl_")), "{host}");
        assert!(!add_headers(block).iter().any(|(n, _)| n == "Strict-Transport-Security"), "{host}");
    }
    // `redirect-from` stays on the site's port, and redirects there.
    let uptime = named("uptime.internal");
    assert_eq!(listens(uptime[0]), ["8081", "[::]:8081"]);
    let ret = uptime[0].block.as_ref().unwrap().iter().find(|d| d.name == "return").unwrap();
    assert_eq!(ret.args, ["301", "http://status.internal:8081$request_uri"]);
    // Each own port refuses the hosts it does not serve, once.
    for port in ["8081", "8082"] {
        let catch_all =
            servers(&ds).into_iter().filter(|s| listens(s).contains(&format!("{port} default_server"))).count();
        assert_eq!(catch_all, 1, "port {port}: {c}");
    }
}

// CORS, the real client IP, allowed methods and error pages (issue 11). Requests against
// them: tests/e2e/proxy_e2e.py (cors, real-ip, methods, error-page).

const EDGE: &str = include_str!("proxy_edge/edge.stack.kdl");

#[test]
fn edge_stack_snapshot() {
    insta::assert_snapshot!("nginx_edge", conf(EDGE));
}

#[test]
fn cors_preflight_and_methods_come_first_in_the_location() {
    let ds = parse(&conf(EDGE));
    let server = https_server(&ds, "shop.example.com");
    let api = location(server, "/api/");
    let block = api.block.as_ref().unwrap();
    let names: Vec<&str> = block.iter().map(|d| d.name.as_str()).collect();
    // The preflight's `return 204` and the 405 run before anything reaches the upstream.
    assert_eq!(&names[..2], ["if", "if"], "{names:?}");
    assert_eq!(block[0].args, ["($stackc_preflight)"]);
    assert_eq!(block[1].args, ["($request_method", "!~", "^(GET|POST|PUT|DELETE|HEAD)$", ")"]);
    let preflight = block[0].block.as_ref().unwrap();
    assert_eq!(preflight.last().map(|d| (d.name.as_str(), d.args.clone())), Some(("return", vec!["204".to_string()])));
    // The site's policy echoes only its origins, through a map; the upstream's own CORS
    // headers are hidden.
    let map =
        ds.iter().find(|d| d.name == "map" && d.args.first().map(String::as_str) == Some("$http_origin")).unwrap();
    let keys: Vec<&str> = map.block.as_ref().unwrap().iter().map(|d| d.name.as_str()).collect();
    assert_eq!(keys, ["default", "https://shop.example.com", "https://admin.example.com"]);
    assert!(block.iter().any(|d| d.name == "proxy_hide_header" && d.args == ["Access-Control-Allow-Origin"]));
    // `cors "*"` on /feed/: any origin, no map, no credentials.
    let feed = add_headers(location(server, "/feed/").block.as_ref().unwrap());
    assert!(feed.contains(&("Access-Control-Allow-Origin".into(), "*".into())), "{feed:?}");
    assert!(!feed.iter().any(|(n, _)| n == "Access-Control-Allow-Credentials"), "{feed:?}");
}

#[test]
fn real_ip_forwarded_for_and_error_pages_are_server_settings() {
    let ds = parse(&conf(EDGE));
    let server = https_server(&ds, "shop.example.com");
    let block = server.block.as_ref().unwrap();
    let args =
        |name: &str| -> Vec<Vec<String>> { block.iter().filter(|d| d.name == name).map(|d| d.args.clone()).collect() };
    assert_eq!(args("set_real_ip_from"), [["10.0.0.0/8"], ["192.168.0.0/16"]]);
    assert_eq!(args("real_ip_header"), [["X-Forwarded-For"]]);
    assert_eq!(args("real_ip_recursive"), [["on"]]);
    assert_eq!(
        args("error_page"),
        [vec!["502", "503", "504", "/.stackc-errors/1/50x.html"], vec!["404", "/.stackc-errors/2/404.html"]]
    );
    // Only where asked: the status site intercepts the upstream's own errors, the shop not.
    assert!(args("proxy_intercept_errors").is_empty());
    let status = https_server(&ds, "status.example.com").block.as_ref().unwrap();
    assert!(status.iter().any(|d| d.name == "proxy_intercept_errors" && d.args == ["on"]));
    let errors = location(server, "/.stackc-errors/1/").block.as_ref().unwrap();
    assert!(errors.iter().any(|d| d.name == "internal"));
    assert!(errors.iter().any(|d| d.name == "alias" && d.args == ["/srv/errors/"]));
    // `forwarded-for "replace"`: the client's address alone.
    let api = location(server, "/api/").block.as_ref().unwrap();
    assert!(api.iter().any(|d| d.name == "proxy_set_header" && d.args == ["X-Forwarded-For", "$remote_addr"]));
}

#[test]
fn an_error_page_path_with_a_variable_is_an_error_at_it() {
    let src = EDGE.replace("page=\"/404.html\"", "page=\"/$host.html\"");
    assert_ne!(src, EDGE);
    let (_, diags) = build(&src);
    support::one_at(&diags, "E0501", &src, "error-page 404");
}
