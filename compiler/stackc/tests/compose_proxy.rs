//! The reverse proxy in the compose file: which proxy, its services, ports, volumes and
//! networks, the certificate script, and the clashes that stop the build. The golden files
//! (`golden/`) and `validators.rs` check the same services against the compose schema and
//! `docker-compose config -q`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use stackc::diagnostics::Severity;
use stackc::emit::EmitOptions;
use stackc::ir::TargetKind;

mod support;
use support::in_ci;

const BASE: &str = r#"stack "shop"
param "domain" default="shop.example.com" env="DOMAIN"
network "front"
network "back" internal=#true
volume "static"
service "api" {
    image "ghcr.io/acme/api:1.4.2"
    port 8080 name="http"
    networks "front" "back"
    health http="/health"
}
service "web" {
    image "ghcr.io/acme/web:1.4.2"
    port 3000 name="http"
    networks "front"
    health http="/"
}
service "db" {
    image "postgres:16-alpine"
    port 5432
    networks "back"
    health cmd="pg_isready"
}
site "${domain}" {
    redirect-from "www.${domain}"
    route "/api/" to="api"
    route "/" to="web"
}
"#;

/// The compose venv's Python (`.ci/install-validators`), else `python3`, if it has PyYAML.
fn python_with_yaml() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ci/tools/compose/bin/python");
    let candidates = [venv, PathBuf::from("python3")];
    for py in candidates {
        if Command::new(&py).args(["-c", "import yaml"]).output().is_ok_and(|o| o.status.success()) {
            return Some(py);
        }
    }
    assert!(!in_ci(), "python3 with PyYAML is not installed: CI must run .ci/install-validators first");
    support::report_not_run(
        "python3 with PyYAML is not installed; run .ci/install-validators (CI always runs this check)",
    );
    None
}

struct Out {
    files: Vec<stackc::emit::OutputFile>,
    codes: Vec<(Severity, String, String)>,
}

fn build(extra: &str, targets: Option<Vec<TargetKind>>) -> Out {
    let text = format!("{BASE}{extra}");
    let built = stackc::build(
        "shop.stack.kdl",
        &text,
        &stackc::Options::default(),
        &EmitOptions { targets, ..Default::default() },
    );
    Out {
        files: built.files,
        codes: built
            .outcome
            .diagnostics
            .iter()
            .map(|d| (d.severity, d.code.as_str().to_string(), d.message.clone()))
            .collect(),
    }
}

impl Out {
    fn file(&self, path: &str) -> Option<&str> {
        self.files.iter().find(|f| f.path == path).map(|f| f.contents.as_str())
    }

    /// The compose file as JSON, read by PyYAML (as docker-compose v1 reads it); `None`
    /// (NOT RUN) without a Python with PyYAML outside CI.
    fn compose(&self) -> Option<Value> {
        let text = self.file("docker-compose.yml").unwrap_or_else(|| panic!("no compose file: {:?}", self.codes));
        let py = python_with_yaml()?;
        let mut child = Command::new(py)
            .args(["-c", "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run python");
        child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write the compose file");
        let out = child.wait_with_output().expect("python finishes");
        assert!(out.status.success(), "PyYAML cannot read:\n{text}");
        Some(serde_json::from_slice(&out.stdout).expect("JSON from python"))
    }

    fn has(&self, code: &str, needle: &str) -> bool {
        self.codes.iter().any(|(_, c, m)| c == code && m.contains(needle))
    }

    fn errors(&self) -> Vec<&(Severity, String, String)> {
        self.codes.iter().filter(|(s, ..)| *s == Severity::Error).collect()
    }
}

#[test]
fn nginx_and_certbot_serve_the_sites() {
    let out = build("targets {\n    compose\n    nginx version=\"1.27\"\n}\n", None);
    assert!(out.errors().is_empty(), "{:?}", out.codes);
    let Some(c) = out.compose() else { return };
    let nginx = &c["services"]["nginx"];
    assert_eq!(nginx["image"], json!("nginx:1.27-alpine"));
    assert_eq!(nginx["ports"], json!(["80:80", "443:443"]));
    // `front` reaches both routed services; `back` would also reach the database.
    assert_eq!(nginx["networks"], json!(["front"]), "only the networks through which the proxy reaches its upstreams");
    assert_eq!(
        nginx["depends_on"],
        json!({"api": {"condition": "service_started"}, "web": {"condition": "service_started"}})
    );
    assert_eq!(
        nginx["volumes"],
        json!([
            "./nginx/conf.d:/etc/nginx/conf.d:ro",
            "certbot-webroot:/var/www/certbot:ro",
            "letsencrypt:/etc/letsencrypt:ro"
        ])
    );
    assert_eq!(nginx["restart"], json!("unless-stopped"));
    assert!(nginx["healthcheck"]["test"].is_array());
    let certbot = &c["services"]["certbot"];
    assert!(certbot["image"].as_str().is_some_and(|i| i.starts_with("certbot/certbot:v")));
    let renew = certbot["command"][0].as_str().expect("a renew loop");
    assert!(renew.contains("certbot renew --webroot -w /var/www/certbot") && renew.contains("sleep 12h"), "{renew}");
    assert_eq!(certbot["volumes"], json!(["certbot-webroot:/var/www/certbot", "letsencrypt:/etc/letsencrypt"]));
    assert!(c["volumes"]["letsencrypt"].is_object() && c["volumes"]["certbot-webroot"].is_object());

    // Every file the proxy mounts from the output directory is generated there.
    assert!(
        out.file("nginx/conf.d/shop.conf").is_some(),
        "{:?}",
        out.files.iter().map(|f| &f.path).collect::<Vec<_>>()
    );

    let script = out.files.iter().find(|f| f.path == "init-certificates.sh").expect("the certificate script");
    assert!(script.executable);
    assert!(script.contents.starts_with("#!/bin/sh\n"));
    assert!(script.contents.contains(
        "certonly --standalone --non-interactive --agree-tos --keep-until-expiring --cert-name shop.example.com --register-unsafely-without-email -d shop.example.com -d www.shop.example.com"
    ), "{}", script.contents);
    assert!(script.contents.trim_end().ends_with("docker compose -f docker-compose.yml up -d"));
}

/// The compose emitter repeats two facts of the nginx target (backends do not import each
/// other): where its file goes, and the version it writes for by default.
#[test]
fn the_proxy_joins_the_fewest_networks_that_reach_its_upstreams() {
    // `admin` is only on `ops`: the proxy needs it too, and still not `back`.
    let out = build(
        "network \"ops\"\nservice \"admin\" {\n    image \"ghcr.io/acme/admin:1\"\n    port 9000\n    networks \"back\" \"ops\"\n}\nsite \"admin.shop.example.com\" {\n    route \"/\" to=\"admin\"\n}\ntargets {\n    compose\n    nginx\n}\n",
        None,
    );
    let Some(c) = out.compose() else { return };
    assert_eq!(c["services"]["nginx"]["networks"], json!(["front", "ops"]));
}

#[test]
fn the_nginx_facts_compose_repeats_match_the_nginx_target() {
    let out = build("targets {\n    compose\n    nginx\n}\n", None);
    let conf = out.files.iter().find(|f| f.path.ends_with(".conf")).expect("an nginx file");
    assert_eq!(conf.path, "nginx/conf.d/shop.conf");
    let Some(c) = out.compose() else { return };
    let version = stackc::emit::nginx::DEFAULT_VERSION;
    assert_eq!(c["services"]["nginx"]["image"], json!(format!("nginx:{version}-alpine")));
}

#[test]
fn building_compose_alone_gives_the_same_compose_file() {
    let targets = "targets {\n    compose\n    nginx\n}\n";
    let all = build(targets, None);
    let alone = build(targets, Some(vec![TargetKind::Compose]));
    assert_eq!(all.file("docker-compose.yml"), alone.file("docker-compose.yml"));
}

#[test]
fn without_tls_there_is_no_certbot_and_no_443() {
    let out = build("proxy {\n    tls certificates=\"none\"\n}\ntargets {\n    compose\n    nginx\n}\n", None);
    let Some(c) = out.compose() else { return };
    assert_eq!(c["services"]["nginx"]["ports"], json!(["80:80"]));
    assert_eq!(c["services"]["nginx"]["volumes"], json!(["./nginx/conf.d:/etc/nginx/conf.d:ro"]));
    assert!(c["services"].get("certbot").is_none());
    assert!(c.get("volumes").and_then(|v| v.get("letsencrypt")).is_none());
    assert!(out.file("init-certificates.sh").is_none());
}

#[test]
fn caddy_when_selected_without_nginx() {
    let out = build(
        "proxy {\n    mount \"static\" \"/srv/static\" read-only=#true\n}\ntargets {\n    compose\n    caddy\n}\n",
        None,
    );
    assert!(out.errors().is_empty(), "{:?}", out.codes);
    let Some(c) = out.compose() else { return };
    let caddy = &c["services"]["caddy"];
    assert!(caddy["image"].as_str().is_some_and(|i| i.starts_with("caddy:2")));
    assert_eq!(caddy["ports"], json!(["80:80", "443:443", "443:443/udp"]));
    assert_eq!(
        caddy["volumes"],
        json!([
            "./caddy/Caddyfile:/etc/caddy/Caddyfile:ro",
            "caddy-data:/data",
            "caddy-config:/config",
            "static:/srv/static:ro"
        ])
    );
    assert!(c["services"].get("nginx").is_none() && c["services"].get("certbot").is_none());
    assert!(c["volumes"]["caddy-data"].is_object() && c["volumes"]["caddy-config"].is_object());
    assert!(out.file("init-certificates.sh").is_none());
}

/// A proxy mount's `propagation=` reaches compose as the service mounts' does (it was
/// dropped: the proxy's mounts were always written short), and is refused on a volume.
#[test]
fn proxy_mount_propagation_is_a_bind_option() {
    let out = build(
        "proxy {\n    mount \"./certs\" \"/etc/extra-certs\" read-only=#true propagation=\"rslave\"\n}\ntargets {\n    compose\n    caddy\n}\n",
        None,
    );
    assert!(out.errors().is_empty(), "{:?}", out.codes);
    let text = out.file("docker-compose.yml").unwrap();
    let caddy = &text[text.find("\n  caddy:").expect("a caddy service")..];
    assert!(caddy.contains("propagation: rslave"), "{caddy}");
    if let Some(c) = out.compose() {
        let last = c["services"]["caddy"]["volumes"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            last,
            json!({"type": "bind", "source": "./certs", "target": "/etc/extra-certs", "read_only": true, "bind": {"propagation": "rslave"}})
        );
    }
    let bad = build("proxy {\n    mount \"static\" \"/srv/static\" propagation=\"rslave\"\n}\n", None);
    assert!(bad.has("E0110", "mounted by the proxy"), "{:?}", bad.codes);
}

#[test]
fn both_proxies_selected_runs_nginx_and_warns() {
    let out = build("targets {\n    compose\n    nginx\n    caddy\n}\n", None);
    let Some(c) = out.compose() else { return };
    assert!(c["services"]["nginx"].is_object() && c["services"].get("caddy").is_none());
    assert!(out.has("W0501", "both `nginx` and `caddy`"), "{:?}", out.codes);
}

#[test]
fn no_proxy_target_no_proxy_service() {
    let out = build("targets {\n    compose\n}\n", None);
    let Some(c) = out.compose() else { return };
    assert!(c["services"].get("nginx").is_none() && c["services"].get("caddy").is_none());
    assert!(out.has("W0501", "runs no reverse proxy"), "{:?}", out.codes);
}

#[test]
fn generated_names_and_ports_clash() {
    let svc =
        "service \"certbot\" {\n    image \"x/y:1\"\n    restart \"no\"\n}\ntargets {\n    compose\n    nginx\n}\n";
    let out = build(svc, None);
    assert!(out.has("E0501", "service `certbot` clashes"), "{:?}", out.codes);
    assert!(out.files.is_empty());

    let vol = "volume \"letsencrypt\"\ntargets {\n    compose\n    nginx\n}\n";
    assert!(build(vol, None).has("E0501", "volume `letsencrypt` clashes"));

    // Caddy publishes 443/udp too.
    let udp = "service \"quic\" {\n    image \"x/y:1\"\n    restart \"no\"\n    publish 443 protocol=\"udp\"\n}\n";
    assert!(build(&format!("{udp}targets {{\n    compose\n    caddy\n}}\n"), None).has("E0404", "443/udp"));
    let with_nginx = build(&format!("{udp}targets {{\n    compose\n    nginx\n}}\n"), None);
    assert!(!with_nginx.codes.iter().any(|(_, c, _)| c == "E0404"), "{:?}", with_nginx.codes);
}

#[test]
fn every_service_gets_no_new_privileges_and_the_proxy_only_the_capabilities_nginx_needs() {
    let out = build(
        "service \"worker\" {\n    image \"ghcr.io/acme/worker:1.0\"\n    health cmd=\"true\"\n    \
         security-opt \"no-new-privileges:false\"\n    cap-add \"SYS_PTRACE\"\n}\ntargets {\n    compose\n    nginx\n}\n",
        None,
    );
    let Some(c) = out.compose() else { return };
    let s = &c["services"];
    for name in ["api", "web", "db", "nginx", "certbot"] {
        assert_eq!(s[name]["security_opt"], json!(["no-new-privileges:true"]), "{name}: {}", s[name]);
    }
    // The opt-out is kept as written, and a stack service's capabilities are the stack's.
    assert_eq!(s["worker"]["security_opt"], json!(["no-new-privileges:false"]));
    assert_eq!(s["worker"]["cap_add"], json!(["SYS_PTRACE"]));
    assert!(s["worker"].get("cap_drop").is_none() && s["api"].get("cap_drop").is_none(), "{s}");
    assert_eq!(s["nginx"]["cap_drop"], json!(["ALL"]));
    assert_eq!(s["nginx"]["cap_add"], json!(["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"]));
    // certbot is root writing its own volumes' files; the first certificate binds port 80.
    assert_eq!(s["certbot"]["cap_drop"], json!(["ALL"]));
    assert_eq!(s["certbot"]["cap_add"], json!(["NET_BIND_SERVICE"]));
}

// ---------------------------------------------------------------------------------------
// Read-only roots of the generated proxy services, with the tmpfs their images write to.

#[test]
fn the_generated_proxy_services_run_with_a_read_only_root() {
    let out = build("targets {\n    compose\n    nginx\n}\n", None);
    let Some(c) = out.compose() else { return };
    let s = &c["services"];
    assert_eq!(s["nginx"]["read_only"], json!(true));
    assert_eq!(s["nginx"]["tmpfs"], json!(["/var/cache/nginx", "/run", "/tmp"]));
    assert_eq!(s["certbot"]["read_only"], json!(true));
    assert_eq!(s["certbot"]["tmpfs"], json!(["/var/lib/letsencrypt", "/var/log/letsencrypt", "/tmp"]));
    // The stack's own services are as the stack says.
    for name in ["api", "web", "db"] {
        assert!(s[name].get("read_only").is_none() && s[name].get("tmpfs").is_none(), "{name}: {}", s[name]);
    }
    let out = build("targets {\n    compose\n    caddy\n}\n", None);
    let Some(c) = out.compose() else { return };
    assert_eq!(c["services"]["caddy"]["read_only"], json!(true));
    assert_eq!(c["services"]["caddy"]["tmpfs"], json!(["/tmp"]));
}

// ---------------------------------------------------------------------------------------
// `proxy > networks`: the proxy's networks as the stack names them.

#[test]
fn the_proxy_joins_the_networks_the_stack_names() {
    // `back` alone reaches `api` but not `web` (on `front` only): refused at the node.
    let out = build("proxy {\n    networks \"back\"\n}\ntargets {\n    compose\n    nginx\n}\n", None);
    assert!(
        out.has("E0501", "the proxy joins `back`, but `web`, which a route goes to, is on `front` only"),
        "{:?}",
        out.codes
    );
    assert_eq!(out.errors().len(), 1, "{:?}", out.codes);
    // Named, they are joined as named (and in that order), even where fewer would do.
    let out = build("proxy {\n    networks \"back\" \"front\"\n}\ntargets {\n    compose\n    nginx\n}\n", None);
    assert!(out.errors().is_empty(), "{:?}", out.codes);
    let Some(c) = out.compose() else { return };
    assert_eq!(c["services"]["nginx"]["networks"], json!(["back", "front"]));
    assert_eq!(c["services"]["certbot"]["networks"], json!(["back", "front"]));
}

// ---------------------------------------------------------------------------------------
// `site > listen`: a site on a port of its own; compose publishes it and UFW opens it.

#[test]
fn a_sites_own_port_is_published_and_opened() {
    let extra = "site \"status.internal\" {\n    listen 8081\n    route \"/\" to=\"web\"\n}\nsite \"wiki.internal\" {\n    listen 8081\n    route \"/\" to=\"api\"\n}\nfirewall {\n}\ntargets {\n    compose\n    nginx\n    ufw\n}\n";
    let out = build(extra, None);
    assert!(out.errors().is_empty(), "{:?}", out.codes);
    let ufw = out.file("ufw/ufw.sh").expect("the UFW script");
    assert_eq!(ufw.matches("ufw allow 8081/tcp comment").count(), 1, "once for both sites:\n{ufw}");
    let Some(c) = out.compose() else { return };
    assert_eq!(c["services"]["nginx"]["ports"], json!(["80:80", "443:443", "8081:8081"]));
    // 443 is the proxy's HTTPS port; another publish of the site's port clashes with it.
    let out = build("site \"x.internal\" {\n    listen 443\n    route \"/\" to=\"web\"\n}\n", None);
    assert!(out.has("E0404", "a site cannot listen on 443 over plain HTTP"), "{:?}", out.codes);
    let clash = "site \"x.internal\" {\n    listen 8081\n    route \"/\" to=\"web\"\n}\nservice \"other\" {\n    image \"ghcr.io/acme/other:1\"\n    port 9000\n    publish 8081 target=9000\n}\n";
    let out = build(clash, None);
    assert!(out.codes.iter().any(|(_, c, _)| c == "E0404"), "{:?}", out.codes);
}

// ---------------------------------------------------------------------------------------
// `proxy > ports`: the host ports the proxy is published on.

#[test]
fn the_proxys_host_ports_are_settable_and_followed() {
    let extra = "param \"http-port\" default=\"8080\" env=\"HTTP_PORT\"\nproxy {\n    ports http=\"${http-port}\" https=8443\n}\nfirewall {\n}\ntargets {\n    compose\n    caddy\n    ufw\n}\n";
    let out = build(extra, None);
    assert!(out.errors().is_empty(), "{:?}", out.codes);
    let ufw = out.file("ufw/ufw.sh").expect("the UFW script");
    for rule in ["ufw allow 8080/tcp comment", "ufw allow 8443/tcp comment", "ufw allow 8443/udp comment"] {
        assert!(ufw.contains(rule), "{rule}:\n{ufw}");
    }
    assert!(!ufw.contains("ufw allow 80/tcp") && !ufw.contains("ufw allow 443/tcp"), "{ufw}");
    // The script opens the param's default; compose reads the deploy environment.
    assert!(out.has("W0501", "UFW opens port 8080 for the proxy's 80: param `http-port`"), "{:?}", out.codes);
    let Some(c) = out.compose() else { return };
    assert_eq!(c["services"]["caddy"]["ports"], json!(["${HTTP_PORT:-8080}:80", "8443:443", "8443:443/udp"]));
}

#[test]
fn the_proxys_host_ports_clash_like_publishes_and_must_be_ports() {
    let clash = "proxy {\n    ports https=9000\n}\nservice \"other\" {\n    image \"ghcr.io/acme/other:1\"\n    port 9000\n    publish 9000\n}\n";
    let out = build(clash, None);
    assert!(out.codes.iter().any(|(_, c, m)| c == "E0404" && m.contains("9000")), "{:?}", out.codes);
    let bad = "param \"http-port\" default=\"eighty\"\nproxy {\n    ports http=\"${http-port}\"\n}\n";
    let out = build(bad, None);
    assert!(out.has("E0301", "`eighty` is not a port number"), "{:?}", out.codes);
}

/// A site on a port of its own is plain HTTP: `no-hsts` is not about it.
#[test]
fn a_plain_http_site_is_not_asked_for_hsts() {
    let out = build("site \"status.internal\" {\n    listen 8081\n    route \"/\" to=\"web\"\n}\n", None);
    assert!(out.has("W0110", "site `${domain}` is served over TLS without HSTS"), "{:?}", out.codes);
    assert!(!out.has("W0110", "status.internal"), "{:?}", out.codes);
}
