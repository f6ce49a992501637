//! The nginx target, end to end: `tests/e2e/site.stack.kdl` compiled with the library and run
//! on a real nginx, with real upstream servers and real HTTP requests
//! (`tests/e2e/proxy_e2e.py` holds the expectations; `docs/targets/nginx.md` lists them).
//!
//! Everything runs inside `unshare -m -n`: a private network namespace with only a loopback
//! interface (no port of the machine is used) and a private mount namespace in which a hosts
//! file is bind-mounted over `/etc/hosts`. The generated file is used as it is except for
//! what a test machine cannot have: the listen ports (80/443 become 10080/10443), the
//! certificate paths (a self-signed pair made by `openssl`) and the directories of the ACME
//! webroot and the static routes (directories in the test's temporary directory).
//!
//! Needs root, nginx, openssl, python3, `ip` and `mount`. In CI (`CI` set) a missing tool fails
//! the test; elsewhere it prints NOT RUN and passes.

use std::path::Path;
use std::process::Command;

use stackc::emit::EmitOptions;
use stackc::ir::TargetKind;
use stackc::Options;

#[path = "e2e/harness.rs"]
mod harness;
use harness::{has_ipv6, namespace, upstreams, AUTH_HOST, AUTH_PASSWORD, AUTH_USER, HTTPS_PORT, HTTP_PORT, PLAIN_PORT};

/// Replaces `from` by `to` in `text`, and fails when `from` is not there: a substitution that
/// silently stops applying would test a different configuration.
fn replace_all(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the generated nginx file no longer contains {from:?}");
    text.replace(from, to)
}

/// The generated file with the machine-specific parts replaced (see the module comment).
fn localize(conf: &str, dir: &Path) -> String {
    let d = dir.display();
    let mut out = String::new();
    for line in conf.lines() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        let directive = t.split(' ').next().unwrap_or("");
        match directive {
            "ssl_certificate_key" => out.push_str(&format!("{indent}ssl_certificate_key {d}/tls/key.pem;\n")),
            "ssl_certificate" | "ssl_trusted_certificate" => {
                out.push_str(&format!("{indent}{directive} {d}/tls/cert.pem;\n"))
            }
            "listen" if !has_ipv6() && t.starts_with("listen [::]") => {}
            "listen" => {
                let l = t
                    .replacen("listen 80;", &format!("listen {HTTP_PORT};"), 1)
                    .replacen("listen 80 ", &format!("listen {HTTP_PORT} "), 1)
                    .replacen("listen [::]:80;", &format!("listen [::]:{HTTP_PORT};"), 1)
                    .replacen("listen [::]:80 ", &format!("listen [::]:{HTTP_PORT} "), 1)
                    .replacen("listen 443 ", &format!("listen {HTTPS_PORT} "), 1)
                    .replacen("listen [::]:443 ", &format!("listen [::]:{HTTPS_PORT} "), 1);
                let own_port = [format!("listen {PLAIN_PORT}"), format!("listen [::]:{PLAIN_PORT}")];
                assert!(
                    l != t || own_port.iter().any(|p| t.starts_with(p.as_str())),
                    "unexpected listen directive {t:?}"
                );
                out.push_str(&format!("{indent}{l}\n"));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    let out = replace_all(&out, "/var/www/certbot", &format!("{d}/acme"));
    let out = replace_all(&out, &format!("/etc/nginx/htpasswd/{AUTH_HOST}"), &format!("{d}/htpasswd"));
    replace_all(&out, "/srv/e2e/", &format!("{d}/srv/"))
}

/// A main nginx.conf around the generated `conf.d` file, everything under `dir`.
fn main_conf(dir: &Path, site: &Path) -> String {
    let d = dir.display();
    format!(
        "# The e2e test's main file: what the stock nginx.conf has, with every path in the test's directory.
worker_processes 1;
events {{
    worker_connections 256;
}}
http {{
    types {{
        text/html html;
        text/plain txt;
        text/css css;
        application/javascript js;
        application/json json;
    }}
    default_type application/octet-stream;
    sendfile on;
    access_log {d}/logs/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    include {};
}}
",
        site.display()
    )
}

/// The htpasswd line of the test user (apr1: nginx verifies it without the system's crypt).
fn htpasswd_line() -> String {
    let out = Command::new("openssl").args(["passwd", "-apr1", AUTH_PASSWORD]).output().expect("run openssl passwd");
    assert!(out.status.success(), "openssl passwd: {}", String::from_utf8_lossy(&out.stderr));
    format!("{AUTH_USER}:{}\n", String::from_utf8_lossy(&out.stdout).trim())
}

fn self_signed(dir: &Path, hosts: &[String]) {
    let san: Vec<String> = hosts.iter().map(|h| format!("DNS:{h}")).collect();
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=stackc-e2e"])
        .arg("-addext")
        .arg(format!("subjectAltName={}", san.join(",")))
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
}

/// `MAJOR.MINOR.PATCH` of the nginx on the PATH, if there is one.
fn local_nginx_version() -> Option<String> {
    let out = Command::new("nginx").arg("-v").output().ok()?;
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = text.split('/').nth(1)?.split_whitespace().next()?.to_string();
    v.chars().all(|c| c.is_ascii_digit() || c == '.').then_some(v)
}

#[test]
fn nginx_serves_the_e2e_stack() {
    // The file is written for the machine's nginx (the default version may have syntax an
    // older one lacks, such as `http2 on;`).
    let version = local_nginx_version();
    let src = match &version {
        Some(v) => replace_all(
            &harness::stack_source(),
            "targets {\n    nginx\n}",
            &format!("targets {{\n    nginx version=\"{v}\"\n}}"),
        ),
        None => harness::stack_source(),
    };
    let emit = EmitOptions { targets: Some(vec![TargetKind::Nginx]), ..EmitOptions::default() };
    let built = stackc::build("site.stack.kdl", &src, &Options::default(), &emit);
    // The stack must check clean but for the htpasswd file nginx needs and stackc does not
    // write (the test writes it below), and, before nginx 1.27.3, for `api`, whose upstream
    // settings keep it in an `upstream` block resolved once: another warning would mean it
    // does not say what the test expects.
    let diags: Vec<String> =
        built.outcome.diagnostics.iter().map(|d| format!("{} {}", d.code.as_str(), d.message)).collect();
    let version = version.unwrap_or_else(|| stackc::emit::nginx::DEFAULT_VERSION.into());
    let mut expected = Vec::new();
    if !stackc::emit::nginx::has_upstream_resolve(&version) {
        expected.push(format!("W0501 nginx {version} resolves `api` only when it starts or reloads: after its containers are recreated, requests go to their old addresses until nginx is reloaded"));
    }
    expected.push(format!(
        "W0501 nginx reads the users of `basic-auth` from /etc/nginx/htpasswd/{AUTH_HOST}, which is not generated (it holds the password hashes): `{AUTH_USER}` must be written there"
    ));
    assert_eq!(diags, expected, "the e2e stack's diagnostics");
    let stack = built.outcome.stack.as_ref().expect("the e2e stack compiles");
    let conf = built.files.iter().find(|f| f.path == "nginx/conf.d/e2e.conf").expect("an nginx file").contents.clone();

    let Some((nginx, python)) = harness::require("nginx end-to-end test", "nginx", &["openssl"]) else { return };

    let dir = std::env::temp_dir().join(format!("stackc-nginx-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["logs", "tmp", "tls", "conf.d", "acme", "srv"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let hosts = harness::hosts(stack);
    self_signed(&dir.join("tls"), &hosts);
    let site = dir.join("conf.d/e2e.conf");
    std::fs::write(&site, localize(&conf, &dir)).unwrap();
    std::fs::write(dir.join("htpasswd"), htpasswd_line()).unwrap();
    let main = dir.join("nginx.conf");
    std::fs::write(&main, main_conf(&dir, &site)).unwrap();

    let d = dir.display().to_string();
    let plan = serde_json::json!({
        "kind": "nginx",
        "command": [
            nginx, "-p", format!("{d}/"), "-c", main,
            "-g", format!("daemon off; master_process on; pid {d}/nginx.pid; error_log {d}/logs/error.log notice;"),
        ],
        "http_port": HTTP_PORT,
        "https_port": HTTPS_PORT,
        "plain_port": PLAIN_PORT,
        "ca_file": dir.join("tls/cert.pem"),
        "hosts": hosts,
        "upstreams": upstreams(stack),
        "static_root": dir.join("srv"),
        "acme_root": dir.join("acme"),
        "access_log": dir.join("logs/access.log"),
        "error_log": dir.join("logs/error.log"),
        "private": { "host": AUTH_HOST, "user": AUTH_USER, "password": AUTH_PASSWORD },
        "skip": if has_ipv6() { serde_json::json!({}) } else { serde_json::json!({"ipv6": "the kernel has no IPv6"}) },
        "outer_namespaces": { "mnt": namespace("mnt"), "net": namespace("net") },
    });
    let plan_path = dir.join("plan.json");
    std::fs::write(&plan_path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();

    let (out, ok) = harness::run_sandboxed(&python, &plan_path, &dir);
    println!("{out}");
    if ok {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(ok, "the generated nginx configuration failed end to end (files kept in {d}):\n{out}");
    // The harness really ran (its summary line), and skipped only what the plan says.
    assert!(out.contains(" checks passed on nginx"), "{out}");
    assert!(!out.contains("SKIP") || !harness::has_ipv6(), "{out}");
    assert!(out.contains("ok   basic-auth:") && out.contains("ok   body-limit-raised:"), "{out}");
    assert!(out.contains("ok   re-resolve:"), "{out}");
}
