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

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stackc::diagnostics::Severity;
use stackc::emit::EmitOptions;
use stackc::ir::{Action, Piece, Stack, TargetKind, Text};
use stackc::Options;

const HTTP_PORT: u16 = 10080;
const HTTPS_PORT: u16 = 10443;
/// The basic-auth site's credentials (`site-auth.kdl`); the hash comes from `caddy hash-password`.
const AUTH_USER: &str = "e2e-user";
const AUTH_PASSWORD: &str = "correct horse battery staple";
const AUTH_HASH_VAR: &str = "E2E_AUTH_HASH";
/// Longer than the script's own alarm (180 s): the script normally stops everything itself.
const TIMEOUT: Duration = Duration::from_secs(240);

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

fn find(tool: &str, dirs: &[&str]) -> Option<PathBuf> {
    if let Some(p) = dirs.iter().map(|d| Path::new(d).join(tool)).find(|p| p.is_file()) {
        return Some(p);
    }
    let out = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !p.is_empty()).then(|| PathBuf::from(p))
}

struct Tools {
    caddy: PathBuf,
    python: PathBuf,
}

/// The tools, or `None` (with a loud NOT RUN) outside CI.
fn require_tools() -> Option<Tools> {
    let sbin = ["/usr/sbin", "/sbin", "/usr/local/sbin"];
    let caddy = find("caddy", &[]);
    let python = find("python3", &[]);
    let mut missing: Vec<&str> = Vec::new();
    for (name, found) in [
        ("caddy", caddy.is_some()),
        ("python3", python.is_some()),
        ("ip", find("ip", &sbin).is_some()),
        ("mount", find("mount", &[]).is_some()),
    ] {
        if !found {
            missing.push(name);
        }
    }
    let sandbox = Command::new("unshare").args(["-m", "-n", "true"]).output().is_ok_and(|o| o.status.success());
    let problem = if !missing.is_empty() {
        format!("missing {} (run .ci/install-validators)", missing.join(", "))
    } else if !sandbox {
        "`unshare -m -n` failed: the end-to-end test needs root".to_string()
    } else {
        return Some(Tools { caddy: caddy?, python: python? });
    };
    if in_ci() {
        panic!("Caddy end-to-end test: {problem}; CI must run it");
    }
    eprintln!("NOT RUN: Caddy end-to-end test: {problem} (CI always runs it)");
    None
}

fn literal(t: &Text) -> String {
    t.0.iter()
        .map(|p| match p {
            Piece::Lit(s) => s.clone(),
            other => panic!("the e2e stack uses only literal hosts, found {other:?}"),
        })
        .collect()
}

/// One upstream server per replica of every routed service, each on its own loopback address
/// (as Docker's DNS gives one address per replica; Caddy's `dynamic a` finds them all).
fn upstreams(stack: &Stack) -> Vec<serde_json::Value> {
    let mut routed: Vec<(String, u16)> = Vec::new();
    for r in stack.sites.iter().flat_map(|s| &s.routes) {
        if let Action::Proxy { service, port } = &r.action {
            if !routed.contains(&(service.clone(), *port)) {
                routed.push((service.clone(), *port));
            }
        }
    }
    let mut out = Vec::new();
    let mut next_addr = 10;
    for (service, port) in routed {
        let replicas = stack.services.get(&service).map_or(1, |s| s.replicas.max(1));
        for i in 1..=replicas {
            let instance = if replicas == 1 { service.clone() } else { format!("{service}-{i}") };
            out.push(serde_json::json!({
                "service": service, "instance": instance, "addr": format!("127.0.0.{next_addr}"), "port": port,
            }));
            next_addr += 1;
        }
    }
    out
}

/// Whether the kernel has IPv6 (it may be booted without; the namespace then has no `::1`).
fn has_ipv6() -> bool {
    Path::new("/proc/net/if_inet6").exists()
}

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

/// The inode of this process's namespace of `kind`: the script checks that it runs in another.
fn namespace(kind: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/ns/{kind}")).unwrap().ino()
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

/// Kills the sandboxed script (and with it, by its parent-death signal, Caddy; the network
/// namespace goes with its last process) if the test stops waiting for it for any reason.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs the script in the sandbox; its output, and whether it succeeded.
fn run_sandboxed(python: &Path, plan: &Path, dir: &Path) -> (String, bool) {
    // The output goes to a file: a pipe that fills up would stall the script.
    let log = dir.join("script.out");
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new("unshare")
        .args(["-m", "-n", "--"])
        .arg(python)
        .arg(e2e_dir().join("proxy_e2e.py"))
        .arg(plan)
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("run unshare");
    let mut guard = KillOnDrop(child);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = guard.0.try_wait().expect("wait for the script") {
            break Some(status);
        }
        if started.elapsed() > TIMEOUT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(guard);
    let mut text = String::new();
    std::fs::File::open(&log).unwrap().read_to_string(&mut text).unwrap();
    match status {
        Some(s) => (text, s.success()),
        None => (format!("{text}\nthe script ran longer than {} s and was killed", TIMEOUT.as_secs()), false),
    }
}

#[test]
fn caddy_serves_the_e2e_stack() {
    let mut src = std::fs::read_to_string(e2e_dir().join("site.stack.kdl")).unwrap();
    src.push('\n');
    src.push_str(&std::fs::read_to_string(e2e_dir().join("site-auth.kdl")).unwrap());
    let emit = EmitOptions { targets: Some(vec![TargetKind::Caddy]), ..EmitOptions::default() };
    let built = stackc::build("site.stack.kdl", &src, &Options::default(), &emit);
    // Exactly one diagnostic: the rate limit that standard Caddy cannot apply, at its route.
    let diags: Vec<String> = built
        .outcome
        .diagnostics
        .iter()
        .map(|d| format!("{:?} {} {}", d.severity, d.code.as_str(), d.message))
        .collect();
    assert_eq!(built.outcome.diagnostics.len(), 1, "{diags:#?}");
    let w = &built.outcome.diagnostics[0];
    assert_eq!((w.severity, w.code.as_str()), (Severity::Warning, "W0501"), "{diags:#?}");
    assert!(w.message.contains("rate-limit=\"tight\""), "{diags:#?}");
    let span = &w.primary.as_ref().expect("the warning points at the route").span;
    let at = &src[span.offset..span.offset + span.len];
    assert!(at.starts_with("route \"/limited/\""), "the warning is at {at:?}");

    let stack = built.outcome.stack.as_ref().expect("the e2e stack compiles");
    let caddyfile = built.files.iter().find(|f| f.path == "caddy/Caddyfile").expect("a Caddyfile").contents.clone();
    assert!(caddyfile.contains(&format!("{AUTH_USER} {{${AUTH_HASH_VAR}}}")), "{caddyfile}");

    let Some(tools) = require_tools() else { return };

    let dir = std::env::temp_dir().join(format!("stackc-caddy-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["data", "home", "config", "srv"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let mut hosts: Vec<String> = Vec::new();
    for site in &stack.sites {
        hosts.extend(site.hosts.iter().map(literal));
        hosts.extend(site.redirect_from.iter().cloned());
    }
    let file = dir.join("Caddyfile");
    std::fs::write(&file, localize(&caddyfile, &dir)).unwrap();

    let d = dir.display().to_string();
    let mut skip = serde_json::json!({
        "acme-challenge": "Caddy answers ACME challenges itself (no webroot); the test's certificates come from Caddy's own CA",
        "rate-limit": "standard Caddy cannot rate-limit (W0501 at the route, asserted by the Rust test)",
    });
    if !has_ipv6() {
        skip["ipv6"] = "the kernel has no IPv6".into();
    }
    let plan = serde_json::json!({
        "kind": "caddy",
        "command": [tools.caddy, "run", "--config", file, "--adapter", "caddyfile"],
        "env": {
            "HOME": format!("{d}/home"),
            "XDG_DATA_HOME": format!("{d}/data"),
            "XDG_CONFIG_HOME": format!("{d}/config"),
            AUTH_HASH_VAR: password_hash(&tools.caddy),
        },
        "http_port": HTTP_PORT,
        "https_port": HTTPS_PORT,
        // Written by Caddy when it starts: the script waits for it.
        "ca_file": dir.join("data/pki/authorities/local/root.crt"),
        "hosts": hosts,
        "upstreams": upstreams(stack),
        "static_root": dir.join("srv"),
        "acme_root": dir.join("acme"),
        // Caddy logs (access log included) to stderr, which the script writes to proxy.out.
        "access_log": dir.join("proxy.out"),
        "error_log": dir.join("proxy.out"),
        "private": { "host": "private.e2e.test", "user": AUTH_USER, "password": AUTH_PASSWORD },
        "skip": skip,
        "outer_namespaces": { "mnt": namespace("mnt"), "net": namespace("net") },
    });
    let plan_path = dir.join("plan.json");
    std::fs::write(&plan_path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();

    let (out, ok) = run_sandboxed(&tools.python, &plan_path, &dir);
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
