//! `proxy mode="host"` (issue 11): the proxy runs on the host, the routed services publish on
//! 127.0.0.1, and compose runs no proxy. The example `examples/hostmode.stack.kdl` has its
//! goldens, which `nginx -t`, `caddy validate` and Docker Compose v2 judge (tests/nginx.rs,
//! tests/caddy.rs, tests/validators.rs); these tests assert the values.

use stackc::emit::EmitOptions;
use stackc::ir::TargetKind;

const BASE: &str = r#"stack "shop"
service "api" {
    image "ghcr.io/acme/api:1.4.2"
    port 8080 name="http"
    health http="/health"
}
service "web" {
    image "ghcr.io/acme/web:1.4.2"
    port 80
    publish 8081 target=80 host="127.0.0.1"
    health http="/"
}
proxy mode="host" {
    tls hsts="365d"
}
site "shop.example.com" {
    route "/api/" to="api"
    route "/" to="web"
}
"#;

struct Out {
    files: Vec<stackc::emit::OutputFile>,
    diags: Vec<stackc::diagnostics::Diagnostic>,
}

fn build(text: &str, targets: &[TargetKind]) -> Out {
    let built = stackc::build(
        "shop.stack.kdl",
        text,
        &stackc::Options::default(),
        &EmitOptions { targets: Some(targets.to_vec()), ..Default::default() },
    );
    Out { files: built.files, diags: built.outcome.diagnostics.into_iter().collect() }
}

impl Out {
    fn file(&self, path: &str) -> &str {
        let names: Vec<&str> = self.files.iter().map(|f| f.path.as_str()).collect();
        self.files.iter().find(|f| f.path == path).map(|f| f.contents.as_str()).unwrap_or_else(|| {
            panic!("no {path} among {names:?}: {:?}", self.diags.iter().map(|d| &d.message).collect::<Vec<_>>())
        })
    }

    fn errors(&self) -> Vec<(&str, &str)> {
        self.diags
            .iter()
            .filter(|d| d.severity == stackc::diagnostics::Severity::Error)
            .map(|d| (d.code.as_str(), d.message.as_str()))
            .collect()
    }
}

/// The services' `ports:` as written, per service.
fn ports_of<'a>(compose: &'a str, service: &str) -> Vec<&'a str> {
    let mut lines = compose.lines().skip_while(|l| *l != format!("  {service}:"));
    lines.next();
    let body: Vec<&str> = lines.take_while(|l| l.starts_with("    ")).collect();
    body.iter()
        .skip_while(|l| **l != "    ports:")
        .skip(1)
        .take_while(|l| l.starts_with("    - "))
        .map(|l| l.trim_start_matches("    - ").trim_matches('"'))
        .collect()
}

#[test]
fn compose_publishes_the_routed_services_on_loopback_and_runs_no_proxy() {
    let out = build(BASE, &[TargetKind::Compose, TargetKind::Nginx]);
    assert_eq!(out.errors(), Vec::<(&str, &str)>::new());
    let compose = out.file("docker-compose.yml");
    // Its container port: the service declares no loopback publish of it.
    assert_eq!(ports_of(compose, "api"), ["127.0.0.1:8080:8080"]);
    // Its own loopback publish, not a second one.
    assert_eq!(ports_of(compose, "web"), ["127.0.0.1:8081:80"]);
    for generated in ["  nginx:", "  certbot:", "  caddy:"] {
        assert!(!compose.lines().any(|l| l == generated), "{generated} in host mode:\n{compose}");
    }
    assert!(!out.files.iter().any(|f| f.path == "init-certificates.sh"), "certbot runs on the host");
}

#[test]
fn nginx_dials_loopback_without_a_resolver() {
    let out = build(BASE, &[TargetKind::Nginx]);
    let conf = out.file("nginx/conf.d/shop.conf");
    assert!(conf.contains("upstream api {\n    server 127.0.0.1:8080;"), "{conf}");
    assert!(conf.contains("upstream web {\n    server 127.0.0.1:8081;"), "{conf}");
    assert!(conf.contains("proxy_pass http://api;"), "{conf}");
    assert!(!conf.contains("resolver"), "no Docker DNS on the host:\n{conf}");
    assert!(!conf.contains("$stackc_upstream"), "{conf}");
    assert!(!conf.contains(" resolve"), "{conf}");
    assert!(conf.contains("ssl_certificate /etc/letsencrypt/live/shop.example.com/fullchain.pem;"), "{conf}");
    assert!(conf.contains("root /var/www/certbot;"), "{conf}");
    assert!(conf.starts_with("# Host mode"), "{conf}");
    assert!(conf.contains("/etc/nginx/conf.d/"), "{conf}");
}

#[test]
fn caddy_dials_loopback() {
    let text = BASE.replace("stack \"shop\"", "stack \"shop\"\ntargets {\n    compose\n    caddy\n}");
    let out = build(&text, &[TargetKind::Caddy, TargetKind::Compose]);
    let caddyfile = out.file("caddy/Caddyfile");
    assert!(caddyfile.contains("reverse_proxy 127.0.0.1:8080"), "{caddyfile}");
    assert!(caddyfile.contains("reverse_proxy 127.0.0.1:8081"), "{caddyfile}");
    assert!(!caddyfile.contains("api:8080"), "{caddyfile}");
    assert!(caddyfile.contains("import"), "{caddyfile}");
    let compose = out.file("docker-compose.yml");
    assert!(!compose.lines().any(|l| l == "  caddy:"), "{compose}");
    assert_eq!(ports_of(compose, "api"), ["127.0.0.1:8080:8080"]);
}

#[test]
fn a_host_port_taken_twice_is_e0404_at_the_second() {
    // `web` on its container port 8080 would take `api`'s.
    let text = BASE.replace("    port 80\n    publish 8081 target=80 host=\"127.0.0.1\"\n", "    port 8080\n");
    let out = build(&text, &[TargetKind::Compose]);
    let errors = out.errors();
    assert_eq!(errors, [("E0404", "host port 8080/tcp is published twice on 127.0.0.1")], "{errors:?}");
    let d = out.diags.iter().find(|d| d.code.as_str() == "E0404").unwrap();
    assert!(d.primary.as_ref().unwrap().text.contains("`web` (port 8080)"), "{d:?}");
    assert!(d.labels[0].text.contains("`api` (port 8080)"), "{d:?}");
    assert!(d.help.as_deref().unwrap().contains("host=\"127.0.0.1\""), "{d:?}");
}

#[test]
fn a_container_port_80_without_its_own_publish_clashes_with_the_host_proxy() {
    let text = BASE.replace("    publish 8081 target=80 host=\"127.0.0.1\"\n", "");
    let out = build(&text, &[TargetKind::Compose]);
    assert_eq!(out.errors(), [("E0404", "host port 80/tcp is published twice on 127.0.0.1")]);
    let d = out.diags.iter().find(|d| d.code.as_str() == "E0404").unwrap();
    assert!(d.labels[0].text.contains("the host's proxy (HTTP)"), "{d:?}");
}

#[test]
fn several_replicas_of_a_routed_service_are_refused() {
    let text = BASE.replace("    port 8080 name=\"http\"\n", "    port 8080 name=\"http\"\n    replicas 2\n");
    let out = build(&text, &[TargetKind::Compose]);
    assert_eq!(out.errors(), [("E0110", "`api` has 2 replicas, but the host's proxy reaches it on one host port")]);
    let d = out.diags.iter().find(|d| d.code.as_str() == "E0110").unwrap();
    assert!(d.help.as_deref().unwrap().contains("one replica"), "{d:?}");
}

#[test]
fn kubernetes_reports_host_mode_and_keeps_the_ingress() {
    let out = build(BASE, &[TargetKind::K8s]);
    let w: Vec<&str> = out.diags.iter().filter(|d| d.code.as_str() == "W0501").map(|d| d.message.as_str()).collect();
    assert!(w.iter().any(|m| m.contains("`mode=\"host\"`")), "{w:?}");
    assert!(out.files.iter().any(|f| f.contents.contains("kind: Ingress")), "the Ingress as before");
}

#[test]
fn what_only_a_proxy_container_would_get_is_reported() {
    let text = BASE.replace(
        "proxy mode=\"host\" {\n",
        "network \"front\"\nproxy mode=\"host\" {\n    networks \"front\"\n    mount \"./static\" \"/srv/static\" read-only=#true\n",
    );
    let out = build(&text, &[TargetKind::Compose]);
    let w: Vec<&str> = out.diags.iter().filter(|d| d.code.as_str() == "W0501").map(|d| d.message.as_str()).collect();
    assert!(w.iter().any(|m| m.contains("`proxy > mount`")), "{w:?}");
    assert!(w.iter().any(|m| m.contains("`proxy > networks`")), "{w:?}");
}

#[test]
fn a_fastcgi_route_reaches_php_on_loopback_and_its_files_are_reported() {
    let text = r#"stack "php"
volume "code"
service "php" {
    image "php:8.3-fpm-alpine"
    port 9000
    mount "code" "/var/www/html"
    health tcp=9000
}
proxy mode="host" {
    tls hsts="365d"
}
site "php.example.com" {
    route "/" fastcgi="php" root="/var/www/html"
}
"#;
    let out = build(text, &[TargetKind::Compose, TargetKind::Nginx]);
    assert_eq!(ports_of(out.file("docker-compose.yml"), "php"), ["127.0.0.1:9000:9000"]);
    assert!(out.file("nginx/conf.d/php.conf").contains("upstream php {\n    server 127.0.0.1:9000;"));
    let w: Vec<&str> = out.diags.iter().filter(|d| d.code.as_str() == "W0501").map(|d| d.message.as_str()).collect();
    assert!(w.iter().any(|m| m.contains("files at /var/www/html on the host")), "{w:?}");
}

#[test]
fn ufw_still_allows_the_host_proxys_ports() {
    let text = format!("{BASE}firewall {{\n    limit 22\n}}\n");
    let out = build(&text, &[TargetKind::Ufw]);
    let script = out.file("ufw/ufw.sh");
    assert!(script.contains("# sites: the host's nginx listens on 80/tcp on all addresses"), "{script}");
    assert!(script.contains("# sites: the host's nginx listens on 443/tcp on all addresses"), "{script}");
    // The loopback publishes are not reachable from outside: no rule.
    assert!(!script.contains("8080"), "{script}");
    assert!(!script.contains("8081"), "{script}");
}

#[test]
fn exposure_shows_the_loopback_publishes() {
    let stack = stackc::compile("shop.stack.kdl", BASE, &stackc::Options::default()).stack.expect("compiles");
    let rows = stackc::exposure::rows(&stack);
    let api = rows.iter().find(|r| r.service == "api").expect("an api row");
    assert_eq!(api.reach, stackc::exposure::Reach::Host("127.0.0.1".into()));
    assert_eq!((api.port, api.host_port), (8080, Some(8080)));
    let web = rows.iter().find(|r| r.service == "web").expect("a web row");
    assert_eq!((web.port, web.host_port), (80, Some(8081)));
}
