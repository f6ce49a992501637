//! The Caddy target, end to end: `tests/e2e/site.stack.kdl` (the nginx end-to-end test's
//! stack) with `tests/e2e/site-auth.kdl` appended (a site behind basic auth, with a route that
//! raises the body limit), compiled with the library and run on a real Caddy, with real
//! upstream servers and real HTTP requests.
//! `tests/e2e/proxy_e2e.py` holds the expectations, shared with nginx; `docs/targets/caddy.md`
//! lists what is proven and what Caddy cannot express.
//!
//! Everything runs inside `unshare -m -n`: a private network namespace with only a loopback
//! interface (no port of the machine is used) and a private mount namespace in which a hosts
//! file is bind-mounted over `/etc/hosts`. The generated Caddyfile is used as it is except for
//! what a test machine cannot have, all of it in the global options block: the ports
//! (`http_port 10080`, `https_port 10443`), certificates from Caddy's own CA instead of ACME
//! (`local_certs`, and `skip_install_trust` so that the machine's trust store is not touched),
//! `admin off`, and storage in the test's temporary directory; the static routes' directories
//! are moved there too. HOME and the XDG directories of the Caddy process point there as well,
//! so nothing outside it is written. The client trusts the root of Caddy's CA (from that
//! storage) and nothing else.
//!
//! Needs root, caddy, python3, `ip` and `mount`. In CI (`CI` set) a missing tool fails the
//! test; elsewhere it prints NOT RUN and passes.

use std::path::Path;
use std::process::Command;

use stackc::diagnostics::Severity;
use stackc::emit::EmitOptions;
use stackc::ir::TargetKind;
use stackc::Options;

#[path = "e2e/harness.rs"]
mod harness;
use harness::{
    has_ipv6, namespace, run_sandboxed, upstreams, AUTH_HOST, AUTH_PASSWORD, AUTH_USER, HTTPS_PORT, HTTP_PORT,
    PLAIN_PORT,
};

/// The variable the Caddyfile reads the basic-auth hash from (`caddy hash-password`'s output).
const AUTH_HASH_VAR: &str = "E2E_AUTH_HASH";

/// The global options that make the generated file run on a test machine (see the module
/// comment). Nothing else in the file changes but the static routes' directories.
fn localize(caddyfile: &str, dir: &Path) -> String {
    let d = dir.display();
    let options = [
        "admin off".to_string(),
        format!("http_port {HTTP_PORT}"),
        format!("https_port {HTTPS_PORT}"),
        "local_certs".to_string(),
        "skip_install_trust".to_string(),
        format!("storage file_system {d}/data"),
    ];
    let mut out = String::new();
    let mut in_global = false;
    let mut seen_global = false;
    for line in caddyfile.lines() {
        if in_global {
            // The generated options stay; the test's replace those that the machine needs.
            let name = line.trim().split(' ').next().unwrap_or("");
            assert!(
                !["admin", "http_port", "https_port", "local_certs", "storage", "acme_ca"].contains(&name),
                "the generated global options already set {name:?}: the test would override it"
            );
        }
        out.push_str(line);
        out.push('\n');
        if line == "{" && !seen_global {
            seen_global = true;
            in_global = true;
            for o in &options {
                out.push_str(&format!("\t{o}\n"));
            }
        } else if line == "}" {
            in_global = false;
        }
    }
    assert!(seen_global, "the e2e stack's Caddyfile has no global options block (the stack sets tls email=)");
    assert!(out.contains("/srv/e2e/"), "the generated Caddyfile no longer contains /srv/e2e/");
    out.replace("/srv/e2e/", &format!("{d}/srv/"))
}

/// A bcrypt hash of the test password, as the operator makes it (`caddy hash-password`).
fn password_hash(caddy: &Path) -> String {
    let out = Command::new(caddy)
        .args(["hash-password", "--plaintext", AUTH_PASSWORD])
        .output()
        .expect("run caddy hash-password");
    assert!(out.status.success(), "caddy hash-password: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn caddy_serves_the_e2e_stack() {
    let src = harness::stack_source();
    let emit = EmitOptions { targets: Some(vec![TargetKind::Caddy]), ..EmitOptions::default() };
    let built = stackc::build("site.stack.kdl", &src, &Options::default(), &emit);
    // Three diagnostics: the rate limit and the proxy cache that standard Caddy cannot
    // apply, each at its zone, with its routes labelled, and `real-ip`, which Caddy 2.6 (the
    // version the stack selects) lacks.
    let diags: Vec<String> = built
        .outcome
        .diagnostics
        .iter()
        .map(|d| format!("{:?} {} {}", d.severity, d.code.as_str(), d.message))
        .collect();
    assert_eq!(built.outcome.diagnostics.len(), 3, "{diags:#?}");
    let find = |what: &str| {
        built
            .outcome
            .diagnostics
            .iter()
            .find(|d| d.message.contains(what))
            .unwrap_or_else(|| panic!("{what}: {diags:#?}"))
    };
    let real_ip = find("trusted proxy");
    assert_eq!(real_ip.code.as_str(), "W0501", "{diags:#?}");
    let w = find("rate-limit=\"tight\"");
    assert_eq!((w.severity, w.code.as_str()), (Severity::Warning, "W0501"), "{diags:#?}");
    assert!(w.message.contains("rate-limit=\"tight\""), "{diags:#?}");
    let span = &w.primary.as_ref().expect("the warning points at the zone").span;
    let at = &src[span.offset..span.offset + span.len];
    assert!(at.starts_with("rate-limit \"tight\""), "the warning is at {at:?}");
    let routes: Vec<&str> = w.labels.iter().map(|l| &src[l.span.offset..l.span.offset + l.span.len]).collect();
    assert!(matches!(routes[..], [r] if r.starts_with("route \"/limited/\"")), "the routes labelled: {routes:?}");
    // Issue 11: the cache, at `proxy > cache`, with the `proxy-cache=` of its route labelled.
    let c = find("no response cache");
    assert_eq!((c.severity, c.code.as_str()), (Severity::Warning, "W0501"), "{diags:#?}");
    assert!(c.message.contains("no response cache"), "{diags:#?}");
    let span = &c.primary.as_ref().expect("the warning points at the cache").span;
    assert!(src[span.offset..].starts_with("cache path="), "the cache warning is at {:?}", &src[span.offset..]);
    let routes: Vec<&str> = c.labels.iter().map(|l| &src[l.span.offset..l.span.offset + l.span.len]).collect();
    assert_eq!(routes, [r#"proxy-cache="1m""#], "the routes labelled");

    let stack = built.outcome.stack.as_ref().expect("the e2e stack compiles");
    let caddyfile = built.files.iter().find(|f| f.path == "caddy/Caddyfile").expect("a Caddyfile").contents.clone();
    assert!(caddyfile.contains(&format!("{AUTH_USER} {{${AUTH_HASH_VAR}}}")), "{caddyfile}");

    let Some((caddy, python)) = harness::require("Caddy end-to-end test", "caddy", &[]) else { return };

    let dir = std::env::temp_dir().join(format!("stackc-caddy-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["data", "home", "config", "srv"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let hosts = harness::hosts(stack);
    let file = dir.join("Caddyfile");
    std::fs::write(&file, localize(&caddyfile, &dir)).unwrap();

    let d = dir.display().to_string();
    let mut skip = serde_json::json!({
        "acme-challenge": "Caddy answers ACME challenges itself (no webroot); the test's certificates come from Caddy's own CA",
        "rate-limit": "standard Caddy cannot rate-limit (W0501 at the zone, asserted by the Rust test)",
        "proxy-cache": "standard Caddy has no response cache (W0501 at `proxy > cache`, asserted by the Rust test)",
        "real-ip": "Caddy 2.6 has no trusted_proxies/client_ip_headers (W0501 at real-ip, asserted by the Rust test); tests/caddy.rs validates the 2.7+ form",
    });
    if !has_ipv6() {
        skip["ipv6"] = "the kernel has no IPv6".into();
    }
    let plan = serde_json::json!({
        "kind": "caddy",
        "command": [caddy, "run", "--config", file, "--adapter", "caddyfile"],
        "env": {
            "HOME": format!("{d}/home"),
            "XDG_DATA_HOME": format!("{d}/data"),
            "XDG_CONFIG_HOME": format!("{d}/config"),
            AUTH_HASH_VAR: password_hash(&caddy),
        },
        "http_port": HTTP_PORT,
        "https_port": HTTPS_PORT,
        "plain_port": PLAIN_PORT,
        // Written by Caddy when it starts: the script waits for it.
        "ca_file": dir.join("data/pki/authorities/local/root.crt"),
        "hosts": hosts,
        "upstreams": upstreams(stack),
        "static_root": dir.join("srv"),
        "acme_root": dir.join("acme"),
        // Caddy logs (access log included) to stderr, which the script writes to proxy.out.
        "access_log": dir.join("proxy.out"),
        "error_log": dir.join("proxy.out"),
        "private": { "host": AUTH_HOST, "user": AUTH_USER, "password": AUTH_PASSWORD },
        "skip": skip,
        "outer_namespaces": { "mnt": namespace("mnt"), "net": namespace("net") },
    });
    let plan_path = dir.join("plan.json");
    std::fs::write(&plan_path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();

    let (out, ok) = run_sandboxed(&python, &plan_path, &dir);
    println!("{out}");
    if ok {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(ok, "the generated Caddyfile failed end to end (files kept in {d}):\n{out}");
    // The harness really ran (its summary line), and skipped only what the plan says.
    assert!(out.contains(" checks passed on caddy"), "{out}");
    let skipped = out.lines().filter(|l| l.starts_with("SKIP ")).count();
    assert_eq!(skipped, skip.as_object().unwrap().len(), "{out}");
    assert!(out.contains("ok   basic-auth:") && out.contains("ok   body-limit-raised:"), "{out}");
}
