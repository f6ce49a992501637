//! FastCGI routes end to end: `tests/e2e/fastcgi.stack.kdl` compiled with the library for
//! nginx and for Caddy, each run on the real server in front of a real PHP-FPM, with real
//! HTTP requests (`tests/e2e/fastcgi_e2e.py` holds the expectations; `docs/targets/nginx.md`
//! and `caddy.md` list them).
//!
//! Everything runs inside `unshare -m -n` (see `e2e/harness.rs`). The generated files are used
//! as they are except for what a test machine cannot have: the listen port (80 becomes 10080)
//! and the application's directory (/srv/e2e/php becomes one in the test's temporary
//! directory, seen by the proxy and PHP-FPM alike, as the shared volume is in compose).
//!
//! Needs root, nginx, caddy, php-fpm, python3, `ip` and `mount`. In CI (`CI` set) a missing
//! tool fails the test; elsewhere it prints NOT RUN and passes.

use std::path::{Path, PathBuf};

use stackc::emit::EmitOptions;
use stackc::ir::TargetKind;
use stackc::Options;

// Shared with the routing e2e tests, most of which this test does not need.
#[allow(dead_code)]
#[path = "e2e/harness.rs"]
mod harness;
use harness::support;
use harness::{has_ipv6, namespace, HTTP_PORT};

/// Where PHP-FPM listens in the sandbox (the hosts file and the DNS server name `app` there).
const FPM_ADDR: &str = "127.0.0.20";

fn source() -> String {
    std::fs::read_to_string(harness::e2e_dir().join("fastcgi.stack.kdl")).unwrap()
}

/// Builds the stack for `target`: its one file, after checking that the stack is clean.
fn build(src: &str, target: TargetKind, path: &str) -> (stackc::ir::Stack, String) {
    let emit = EmitOptions { targets: Some(vec![target]), ..EmitOptions::default() };
    let built = stackc::build("fastcgi.stack.kdl", src, &Options::default(), &emit);
    let diags: Vec<String> =
        built.outcome.diagnostics.iter().map(|d| format!("{} {}", d.code.as_str(), d.message)).collect();
    assert!(diags.is_empty(), "the FastCGI e2e stack must check clean: {diags:#?}");
    let file = built.files.iter().find(|f| f.path == path).unwrap_or_else(|| panic!("no {path}")).contents.clone();
    (built.outcome.stack.expect("compiles"), file)
}

/// Debian's php-fpm is versioned (`php-fpm8.2`); any found in the sbin directories.
fn php_fpm() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = ["/usr/sbin", "/usr/local/sbin", "/sbin"]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("php-fpm")))
        .collect();
    found.sort();
    found.pop()
}

/// The server, python3 and php-fpm, or `None` (NOT RUN outside CI; a failure in CI).
fn require(test: &str, server: &str) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let (server, python) = harness::require(test, server, &[])?;
    let Some(fpm) = php_fpm() else {
        let problem = format!("{test}: missing php-fpm (run .ci/install-validators)");
        assert!(!support::in_ci(), "{problem}; CI must run it");
        support::report_not_run(&format!("{problem} (CI always runs it)"));
        return None;
    };
    Some((server, python, fpm))
}

/// Replaces `from` by `to`, failing when `from` is not there (the test would run another file).
fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the generated file no longer contains {from:?}:\n{text}");
    text.replace(from, to)
}

/// Runs the script with the plan's proxy `command`; the directories exist under `dir`.
fn run(
    kind: &str,
    dir: &Path,
    command: serde_json::Value,
    env: serde_json::Value,
    error_log: PathBuf,
    fpm: &Path,
    python: &Path,
) {
    let plan = serde_json::json!({
        "kind": kind,
        "command": command,
        "env": env,
        "http_port": HTTP_PORT,
        "hosts": ["php.e2e.test"],
        "upstreams": [{ "service": "app", "instance": "app", "addr": FPM_ADDR, "port": 9000 }],
        "error_log": error_log,
        "php_fpm": fpm,
        "php_root": dir.join("srv/php"),
        "outer_namespaces": { "mnt": namespace("mnt"), "net": namespace("net") },
    });
    let plan_path = dir.join("plan.json");
    std::fs::write(&plan_path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    let (out, ok) = harness::run_script_sandboxed(python, "fastcgi_e2e.py", &plan_path, dir);
    println!("{out}");
    if ok {
        let _ = std::fs::remove_dir_all(dir);
    }
    assert!(ok, "the generated {kind} file failed with PHP-FPM (files kept in {}):\n{out}", dir.display());
    assert!(out.contains(&format!(" checks passed on {kind} + PHP-FPM")), "{out}");
}

/// `MAJOR.MINOR.PATCH` of the nginx on the PATH: the file is written for it.
fn local_nginx_version() -> Option<String> {
    let out = std::process::Command::new("nginx").arg("-v").output().ok()?;
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = text.split('/').nth(1)?.split_whitespace().next()?.to_string();
    v.chars().all(|c| c.is_ascii_digit() || c == '.').then_some(v)
}

fn temp_dir(kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stackc-fastcgi-{kind}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["logs", "tmp", "srv/php", "data", "config"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    dir
}

#[test]
fn nginx_runs_php_through_fastcgi() {
    let version = local_nginx_version();
    let src = match &version {
        Some(v) => replace(&source(), "    nginx\n", &format!("    nginx version=\"{v}\"\n")),
        None => source(),
    };
    let (_, conf) = build(&src, TargetKind::Nginx, "nginx/conf.d/php.conf");
    let Some((nginx, python, fpm)) = require("nginx FastCGI end-to-end test", "nginx") else { return };
    let dir = temp_dir("nginx");
    let d = dir.display().to_string();
    let mut conf = replace(&conf, "listen 80", &format!("listen {HTTP_PORT}"));
    conf = replace(&conf, "listen [::]:80", &format!("listen [::]:{HTTP_PORT}"));
    if !has_ipv6() {
        conf = conf.lines().filter(|l| !l.trim_start().starts_with("listen [::]")).collect::<Vec<_>>().join("\n");
    }
    conf = replace(&conf, "/srv/e2e/", &format!("{d}/srv/"));
    let site = dir.join("php.conf");
    std::fs::write(&site, conf).unwrap();
    let main = dir.join("nginx.conf");
    std::fs::write(
        &main,
        format!(
            "worker_processes 1;\nevents {{\n    worker_connections 64;\n}}\nhttp {{\n    types {{\n        text/plain txt;\n    }}\n    default_type application/octet-stream;\n    access_log {d}/logs/access.log;\n    client_body_temp_path {d}/tmp/body;\n    proxy_temp_path {d}/tmp/proxy;\n    fastcgi_temp_path {d}/tmp/fastcgi;\n    uwsgi_temp_path {d}/tmp/uwsgi;\n    scgi_temp_path {d}/tmp/scgi;\n    include {};\n}}\n",
            site.display()
        ),
    )
    .unwrap();
    let command = serde_json::json!([
        nginx,
        "-p",
        format!("{d}/"),
        "-c",
        main,
        "-g",
        format!("daemon off; master_process on; pid {d}/nginx.pid; error_log {d}/logs/error.log notice;"),
    ]);
    run("nginx", &dir, command, serde_json::json!({}), dir.join("logs/error.log"), &fpm, &python);
}

#[test]
fn caddy_runs_php_through_fastcgi() {
    let src = replace(&source(), "    nginx\n", "    caddy\n");
    let (_, caddyfile) = build(&src, TargetKind::Caddy, "caddy/Caddyfile");
    let Some((caddy, python, fpm)) = require("Caddy FastCGI end-to-end test", "caddy") else { return };
    let dir = temp_dir("caddy");
    let d = dir.display().to_string();
    let options = format!("{{\n\tadmin off\n\thttp_port {HTTP_PORT}\n\tstorage file_system {d}/data\n}}\n\n");
    let caddyfile = replace(&caddyfile, "/srv/e2e/", &format!("{d}/srv/"));
    let file = dir.join("Caddyfile");
    std::fs::write(&file, format!("{options}{caddyfile}")).unwrap();
    let command = serde_json::json!([caddy, "run", "--config", file, "--adapter", "caddyfile"]);
    let env = serde_json::json!({ "HOME": d, "XDG_DATA_HOME": format!("{d}/data"), "XDG_CONFIG_HOME": format!("{d}/config") });
    run("caddy", &dir, command, env, dir.join("proxy.out"), &fpm, &python);
}

/// Compose shares the application's files with the proxy: the volume `app` mounts at the
/// root, read-only, at the same path.
#[test]
fn compose_mounts_the_application_files_in_the_proxy() {
    let emit = EmitOptions { targets: Some(vec![TargetKind::Compose, TargetKind::Nginx]), ..EmitOptions::default() };
    let built = stackc::build("fastcgi.stack.kdl", &source(), &Options::default(), &emit);
    let compose = support::file(&built.files, "docker-compose.yml");
    let proxy = support::service_block(compose, "nginx");
    assert!(proxy.contains("\n- app-code:/srv/e2e/php:ro\n"), "{proxy}");
    // It reaches PHP-FPM: on its network, started after it.
    assert!(proxy.contains("depends_on:\n  app:\n") && proxy.contains("networks:\n- php\n"), "{proxy}");
    assert!(support::service_block(compose, "app").contains("\n- app-code:/srv/e2e/php\n"), "{compose}");
}

/// The cluster's ingress controller sees none of the application's files: each FastCGI route
/// is reported where it is written, not dropped.
#[test]
fn kubernetes_reports_fastcgi_routes() {
    let src = replace(&source(), "    nginx\n", "    k8s\n");
    let emit = EmitOptions { targets: Some(vec![TargetKind::K8s]), ..EmitOptions::default() };
    let built = stackc::build("fastcgi.stack.kdl", &src, &Options::default(), &emit);
    let warnings: Vec<(&str, String)> = built
        .outcome
        .diagnostics
        .iter()
        .filter(|d| d.message.contains("FastCGI"))
        .map(|d| {
            let span = &d.primary.as_ref().expect("at the route").span;
            (d.code.as_str(), src[span.offset..span.offset + span.len].lines().next().unwrap_or("").to_string())
        })
        .collect();
    assert_eq!(
        warnings,
        [
            ("W0501", "route \"/\" fastcgi=\"app\" root=\"/srv/e2e/php\"".to_string()),
            ("W0501", "route \"/blog/\" fastcgi=\"app\" root=\"/srv/e2e/php\" timeout=\"20s\" {".to_string()),
        ],
        "{:#?}",
        built.outcome.diagnostics.iter().map(|d| &d.message).collect::<Vec<_>>()
    );
    let first = built.outcome.diagnostics.iter().find(|d| d.message.contains("FastCGI")).unwrap();
    assert!(first.message.starts_with("route `/`: the FastCGI application `app` is not routed in Kubernetes"));
}
