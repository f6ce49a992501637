//! What the nginx and Caddy end-to-end tests share (`nginx_e2e.rs`, `caddy_e2e.rs`): the
//! stack, the tools, the upstreams the plan describes, and running `proxy_e2e.py` inside
//! `unshare -m -n` with a time limit. Each test adds what its server needs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stackc::ir::{Action, Piece, Stack, Text};

/// The proxy's ports on the test machine (80 and 443 need a privileged, shared port).
pub const HTTP_PORT: u16 = 10080;
pub const HTTPS_PORT: u16 = 10443;
/// The port of the plain-HTTP site of `site.stack.kdl` (`site > listen`): used as written
/// (the test's network namespace has every port free).
pub const PLAIN_PORT: u16 = 18080;
/// The basic-auth site of `site-auth.kdl` and its credentials.
pub const AUTH_HOST: &str = "private.e2e.test";
pub const AUTH_USER: &str = "e2e-user";
pub const AUTH_PASSWORD: &str = "correct horse battery staple";
/// Longer than the script's own alarm (180 s): the script normally stops everything itself.
const TIMEOUT: Duration = Duration::from_secs(240);

pub fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e")
}

/// `site.stack.kdl` with the basic-auth site of `site-auth.kdl` appended: the one stack both
/// servers are judged on.
pub fn stack_source() -> String {
    let mut src = std::fs::read_to_string(e2e_dir().join("site.stack.kdl")).unwrap();
    src.push('\n');
    src.push_str(&std::fs::read_to_string(e2e_dir().join("site-auth.kdl")).unwrap());
    src
}

#[path = "../support/mod.rs"]
pub mod support;
use support::in_ci;

fn find(tool: &str, dirs: &[&str]) -> Option<PathBuf> {
    if let Some(p) = dirs.iter().map(|d| Path::new(d).join(tool)).find(|p| p.is_file()) {
        return Some(p);
    }
    let out = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !p.is_empty()).then(|| PathBuf::from(p))
}

/// The server, python3 and the other `tools` (found in the sbin directories too), and a
/// working `unshare -m -n`; or `None`, with a loud NOT RUN, outside CI. In CI it panics.
pub fn require(test: &str, server: &str, tools: &[&str]) -> Option<(PathBuf, PathBuf)> {
    let sbin = ["/usr/sbin", "/sbin", "/usr/local/sbin"];
    let server_path = find(server, &sbin);
    let python = find("python3", &[]);
    let mut missing: Vec<&str> =
        [server, "python3", "ip", "mount"].iter().chain(tools).copied().filter(|t| find(t, &sbin).is_none()).collect();
    missing.dedup();
    let sandbox = Command::new("unshare").args(["-m", "-n", "true"]).output().is_ok_and(|o| o.status.success());
    let problem = if !missing.is_empty() {
        format!("missing {} (run .ci/install-validators)", missing.join(", "))
    } else if !sandbox {
        format!("`unshare -m -n` failed: the {test} needs root")
    } else {
        return Some((server_path?, python?));
    };
    if in_ci() {
        panic!("{test}: {problem}; CI must run it");
    }
    support::report_not_run(&format!("{test}: {problem} (CI always runs it)"));
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

/// Every host the stack serves or redirects: the names the certificate and hosts file need.
pub fn hosts(stack: &Stack) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    for site in &stack.sites {
        hosts.extend(site.hosts.iter().map(literal));
        hosts.extend(site.redirect_from.iter().cloned());
    }
    hosts
}

/// One upstream server per replica of every routed service, each on its own loopback address
/// (as Docker's DNS gives one address per replica).
pub fn upstreams(stack: &Stack) -> Vec<serde_json::Value> {
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
pub fn has_ipv6() -> bool {
    Path::new("/proc/net/if_inet6").exists()
}

/// The inode of this process's namespace of `kind`: the script checks that it runs in another.
pub fn namespace(kind: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/ns/{kind}")).unwrap().ino()
}

/// Kills the sandboxed script (and with it, by its parent-death signal, the server; the
/// network namespace goes with its last process) if the test stops waiting for any reason.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs `proxy_e2e.py PLAN` in `unshare -m -n`: its output, and whether it succeeded.
pub fn run_sandboxed(python: &Path, plan: &Path, dir: &Path) -> (String, bool) {
    run_script_sandboxed(python, "proxy_e2e.py", plan, dir)
}

/// Runs the script `tests/e2e/SCRIPT PLAN` in `unshare -m -n`: its output, and whether it
/// succeeded.
pub fn run_script_sandboxed(python: &Path, script: &str, plan: &Path, dir: &Path) -> (String, bool) {
    // The output goes to a file: a pipe that fills up would stall the script.
    let log = dir.join("script.out");
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new("unshare")
        .args(["-m", "-n", "--"])
        .arg(python)
        .arg(e2e_dir().join(script))
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
