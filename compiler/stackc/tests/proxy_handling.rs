//! Timeouts, buffering, body limits and the proxy cache (issue 11) as nginx, Caddy and the
//! Ingress write them, from `tests/proxy/handling.stack.kdl` (whose files `nginx -t` and
//! `caddy validate` check in tests/nginx.rs and tests/caddy.rs), and what each reports.

use stackc::diagnostics::{Code, Diagnostic};
use stackc::emit::{EmitOptions, OutputFile};
use stackc::ir::TargetKind;
use stackc::Options;

mod support;
use support::root;

fn fixture() -> String {
    std::fs::read_to_string(root().join("compiler/stackc/tests/proxy/handling.stack.kdl")).unwrap()
}

fn build(src: &str, target: TargetKind) -> (Vec<OutputFile>, Vec<Diagnostic>) {
    let emit = EmitOptions { targets: Some(vec![target]), ..EmitOptions::default() };
    let built = stackc::build("handling.stack.kdl", src, &Options::default(), &emit);
    let errors = support::error_lines(&built.outcome.diagnostics);
    assert!(errors.is_empty(), "unexpected errors: {errors:#?}");
    (built.files, built.outcome.diagnostics)
}

fn file(src: &str, target: TargetKind, path: &str) -> String {
    build(src, target).0.into_iter().find(|f| f.path.starts_with(path)).map(|f| f.contents).expect(path)
}

/// The text of the last block that starts with the line `head` (to its closing brace): the
/// HTTPS server's, in nginx, after the HTTP server's redirect.
fn block(text: &str, head: &str) -> String {
    let start = text.rfind(head).unwrap_or_else(|| panic!("no {head:?} in\n{text}"));
    let indent = text[..start].rsplit('\n').next().unwrap_or("").len();
    let close = format!("\n{}}}", &text[start - indent..start]);
    let end = text[start..].find(&close).map(|e| start + e + close.len()).unwrap();
    text[start..end].to_string()
}

fn warnings_mentioning<'a>(diags: &'a [Diagnostic], what: &str) -> Vec<&'a Diagnostic> {
    diags.iter().filter(|d| d.code == Code::TargetApproximation && d.message.contains(what)).collect()
}

#[test]
fn nginx_snapshot() {
    insta::assert_snapshot!("handling_nginx", file(&fixture(), TargetKind::Nginx, "nginx/"));
}

#[test]
fn caddy_snapshot() {
    insta::assert_snapshot!("handling_caddy", file(&fixture(), TargetKind::Caddy, "caddy/"));
}

#[test]
fn nginx_timeouts_buffering_and_limits_per_route() {
    let conf = file(&fixture(), TargetKind::Nginx, "nginx/");
    // The zone and the client timeouts are http-level: a request's header is read before
    // nginx knows its server.
    let http: Vec<&str> = conf.lines().take_while(|l| !l.starts_with("upstream")).collect();
    assert!(http.contains(
        &"proxy_cache_path /var/cache/nginx/shop levels=1:2 keys_zone=stackc_cache:20m inactive=1d max_size=2g;"
    ));
    assert!(http.contains(&"client_header_timeout 10s;") && http.contains(&"client_body_timeout 30s;"));
    let api = block(&conf, "location /api/ {");
    for d in ["proxy_connect_timeout 5s;", "proxy_read_timeout 2m;", "proxy_send_timeout 45s;"] {
        assert!(api.contains(d), "{d} in {api}");
    }
    // `timeout=` is the shorthand of read and send.
    let root_loc = block(&conf, "location / {");
    assert!(root_loc.contains("proxy_read_timeout 30s;") && root_loc.contains("proxy_send_timeout 30s;"));
    assert!(!root_loc.contains("proxy_connect_timeout"), "{root_loc}");
    // `read-timeout=` replaces only the read side.
    let reports = block(&conf, "location /reports/ {");
    assert!(reports.contains("proxy_read_timeout 5m;") && !reports.contains("proxy_send_timeout"), "{reports}");
    assert!(reports.contains("proxy_buffer_size 16k;") && reports.contains("proxy_buffers 8 16k;"));
    let upload = block(&conf, "location /upload/ {");
    for d in
        ["client_max_body_size 0;", "proxy_request_buffering off;", "proxy_buffering off;", "proxy_send_timeout 5m;"]
    {
        assert!(upload.contains(d), "{d} in {upload}");
    }
}

#[test]
fn nginx_cache_validity_bypass_and_status_header() {
    let conf = file(&fixture(), TargetKind::Nginx, "nginx/");
    let catalog = block(&conf, "location /catalog/ {");
    let directives: Vec<&str> = catalog.lines().map(str::trim).filter(|l| l.starts_with("proxy_cache")).collect();
    assert_eq!(
        directives,
        [
            "proxy_cache stackc_cache;",
            "proxy_cache_key $scheme$host$request_uri;",
            // `cache-valid 200` takes 200 out of `proxy-cache=`'s statuses.
            "proxy_cache_valid 301 302 10m;",
            "proxy_cache_valid 404 1m;",
            "proxy_cache_valid 200 1h;",
            "proxy_cache_bypass $http_authorization $http_cookie;",
        ]
    );
    assert!(catalog.contains("proxy_no_cache $http_authorization $http_cookie;"));
    assert!(catalog.contains("add_header X-Cache-Status \"$upstream_cache_status\" always;"));
    // Its own add_header drops the inherited ones in nginx: the site's are repeated.
    assert!(catalog.contains("add_header X-Frame-Options SAMEORIGIN always;"));
    // Uncached routes say nothing of the cache.
    assert!(!block(&conf, "location /api/ {").contains("cache"));
}

#[test]
fn cache_control_directives() {
    let conf = file(&fixture(), TargetKind::Nginx, "nginx/");
    let cc = |loc: &str| {
        block(&conf, loc)
            .lines()
            .find(|l| l.contains("add_header Cache-Control"))
            .map(|l| l.trim().to_string())
            .unwrap_or_default()
    };
    assert_eq!(
        cc("location /static/ {"),
        "add_header Cache-Control \"public, must-revalidate, max-age=300, stale-while-revalidate=60, stale-if-error=86400\";"
    );
    assert_eq!(cc("location /assets/ {"), "add_header Cache-Control \"public, max-age=31536000, immutable\";");
    assert_eq!(cc("location /account/ {"), "add_header Cache-Control \"private, no-store\";");
    // A word that is not a directive is refused.
    let bad = fixture().replace(r#"cache-control "private" "no-store""#, r#"cache-control "privat""#);
    let built = stackc::build("t.stack.kdl", &bad, &Options::default(), &EmitOptions::default());
    assert!(
        built.outcome.diagnostics.iter().any(|d| d.code == Code::InvalidChoice),
        "{:#?}",
        built.outcome.diagnostics
    );
}

#[test]
fn caddy_timeouts_and_unlimited_body() {
    let file = file(&fixture(), TargetKind::Caddy, "caddy/");
    assert!(
        file.contains("\tservers {\n\t\ttimeouts {\n\t\t\tread_header 10s\n\t\t\tread_body 30s\n\t\t}\n\t}\n"),
        "{file}"
    );
    let api = block(&file, "handle /api/* {");
    assert!(api.contains("dial_timeout 5s") && api.contains("read_timeout 2m") && api.contains("write_timeout 45s"));
    // `body-limit="0"` lifts the proxy's 10Mi: Caddy has no "unlimited", so no limit at all.
    let upload = block(&file, "handle /upload/* {");
    assert!(!upload.contains("max_size") && !upload.contains("request_buffers"), "{upload}");
    assert!(upload.contains("flush_interval -1") && upload.contains("write_timeout 5m"), "{upload}");
    assert!(block(&file, "handle /api/* {").contains("max_size 10MiB"));
}

#[test]
fn caddy_reports_what_its_standard_build_cannot_do() {
    let src = fixture().replace(r#"request-buffering=#false"#, r#"request-buffering=#true"#);
    let (files, diags) = build(&src, TargetKind::Caddy);
    let caddyfile = &files.iter().find(|f| f.path == "caddy/Caddyfile").unwrap().contents;
    assert!(!caddyfile.contains("stackc_cache") && !caddyfile.contains("Cache-Status"));
    let cache = warnings_mentioning(&diags, "no response cache");
    assert_eq!(cache.len(), 1, "{diags:#?}");
    // At the zone, with the cached route labelled.
    assert_eq!(cache[0].labels.len(), 1);
    assert_eq!(warnings_mentioning(&diags, "`request-buffering=#true`").len(), 1);
    assert_eq!(warnings_mentioning(&diags, "`buffer-size=`").len(), 1);
}

#[test]
fn ingress_annotations_and_losses() {
    let src = fixture();
    let (files, diags) = build(&src, TargetKind::K8s);
    let ingresses: Vec<&str> =
        files.iter().filter(|f| f.path.starts_with("k8s/ingress-")).map(|f| f.contents.as_str()).collect();
    let with = |needle: &str| ingresses.iter().filter(|i| i.contains(needle)).count();
    const A: &str = "nginx.ingress.kubernetes.io/";
    assert_eq!(with(&format!("{A}proxy-connect-timeout: \"5\"")), 1);
    assert_eq!(with(&format!("{A}proxy-read-timeout: \"120\"")), 1);
    assert_eq!(with(&format!("{A}proxy-send-timeout: \"45\"")), 1);
    assert_eq!(with(&format!("{A}proxy-request-buffering: \"off\"")), 1);
    assert_eq!(with(&format!("{A}proxy-body-size: \"0\"")), 1);
    assert_eq!(with(&format!("{A}proxy-buffer-size: 16k")), 1);
    assert_eq!(warnings_mentioning(&diags, "no proxy cache").len(), 1, "{diags:#?}");
    assert_eq!(warnings_mentioning(&diags, "no client timeouts").len(), 1);
    assert_eq!(warnings_mentioning(&diags, "proxy cache (`proxy-cache`").len(), 1);
    // Without ingress-nginx the timeouts and buffering are lost, and said to be.
    let other = src.replace(r#"k8s ingress-class="nginx""#, "k8s");
    let (_, diags) = build(&other, TargetKind::K8s);
    assert!(warnings_mentioning(&diags, "`connect-timeout`").len() == 1, "{diags:#?}");
    assert!(warnings_mentioning(&diags, "`request-buffering`").len() == 1);
}

#[test]
fn httproute_reports_what_it_cannot_carry() {
    let src = fixture().replace(r#"k8s ingress-class="nginx""#, r#"k8s routing="gateway-api" gateway="edge""#);
    let (files, diags) = build(&src, TargetKind::K8s);
    assert!(files.iter().any(|f| f.contents.contains("kind: HTTPRoute")));
    assert_eq!(warnings_mentioning(&diags, "an HTTPRoute has no proxy cache").len(), 1, "{diags:#?}");
    assert_eq!(warnings_mentioning(&diags, "an HTTPRoute has no client timeouts").len(), 1);
    let route = |path: &str| {
        diags
            .iter()
            .find(|d| {
                d.code == Code::TargetApproximation && d.message.starts_with(&format!("route `{path}`: an HTTPRoute"))
            })
            .map(|d| d.message.clone())
            .unwrap_or_default()
    };
    assert!(route("/api/").contains("`connect-timeout`") && route("/api/").contains("`read-timeout`/`send-timeout`"));
    assert!(route("/upload/").contains("`request-buffering`"), "{}", route("/upload/"));
    assert!(route("/reports/").contains("`buffer-size`"));
    assert!(route("/catalog/").contains("its proxy cache"));
    // `timeout=` alone is the HTTPRoute's request timeout, not a loss.
    assert_eq!(route("/"), "");
}

/// Compose keeps the proxy cache on a volume of its own at the zone's path: the generated
/// nginx has a read-only root, and a cache survives a recreated container.
#[test]
fn compose_puts_the_proxy_cache_on_a_volume() {
    let compose = file(&fixture(), TargetKind::Compose, "docker-compose.yml");
    let nginx = &compose[compose.find("\n  nginx:\n").expect("an nginx service")..];
    let nginx = &nginx[..nginx[1..].find("\n  certbot:").map_or(nginx.len(), |e| e + 1)];
    assert!(nginx.contains("    - nginx-cache:/var/cache/nginx/shop\n"), "{nginx}");
    assert!(nginx.contains("    read_only: true\n"), "{nginx}");
    let top = &compose[compose.rfind("\nvolumes:\n").expect("top-level volumes")..];
    assert!(top.contains("\n  nginx-cache:"), "{top}");
}
