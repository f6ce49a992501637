//! The repository's pre-commit hooks (`.pre-commit-hooks.yaml`, `language: rust`) run by the
//! real pre-commit (PyPI, `.ci/tools/precommit`) in a temporary git repository that uses this
//! repository, at its `HEAD` commit, as its hook repository: pre-commit builds stackc with
//! `cargo install` at the root, then the hooks pass a good stack and fail a stack with an
//! error, an unformatted stack, and a generated file edited by hand.
//!
//! The build is pre-commit's own (`cargo install --bins --path .`), without optimisation here
//! (`CARGO_PROFILE_RELEASE_OPT_LEVEL=0`: the same program, compiled in a third of the time),
//! into `target/pre-commit-cargo`, with pre-commit's cache in `target/pre-commit-home`: a
//! second run reuses both.

#[path = "../../stackc/tests/support/mod.rs"]
mod shared;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{assert_code, stackc, TempDir};

fn root() -> PathBuf {
    std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).unwrap()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").args(args).current_dir(dir).output().expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn pre_commit() -> Option<PathBuf> {
    let exe = root().join(".ci/tools/precommit/bin/pre-commit");
    let tools_ok = exe.is_file()
        && Command::new("git").arg("--version").output().is_ok()
        && Command::new("cargo").arg("--version").output().is_ok();
    if tools_ok {
        return Some(exe);
    }
    let why = "pre-commit (.ci/tools/precommit), git or cargo is missing; run .ci/install-validators";
    assert!(!shared::in_ci(), "{why} (CI runs every check)");
    shared::report_not_run(why);
    None
}

fn run(exe: &Path, repo: &Path) -> (i32, String) {
    let target = root().join("target");
    let out: Output = Command::new(exe)
        .args(["run", "--all-files", "--color", "never"])
        .current_dir(repo)
        .env("PRE_COMMIT_HOME", target.join("pre-commit-home"))
        .env("CARGO_TARGET_DIR", target.join("pre-commit-cargo"))
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "256")
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .expect("run pre-commit");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

const STACK: &str = r#"stack "shop"
service "web" {
    image "nginx:1.27"
    port 80
    health http="/"
}
"#;

#[test]
fn the_hooks_build_stackc_and_fail_errors_formatting_and_hand_edits() {
    let Some(exe) = pre_commit() else { return };
    let hooks_repo = root();
    // pre-commit clones the hook repository at a commit: the hooks as committed.
    let rev = git(&hooks_repo, &["rev-parse", "HEAD"]);

    let tmp = TempDir::new("pre-commit");
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["config", "user.email", "test@example.com"]);
    git(&repo, &["config", "user.name", "test"]);
    git(&repo, &["config", "commit.gpgsign", "false"]);
    std::fs::write(repo.join("shop.stack.kdl"), STACK).unwrap();
    assert_code(&stackc(&repo, &["build", "shop.stack.kdl"]), 0);
    let config = format!(
        "repos:\n  - repo: {}\n    rev: {rev}\n    hooks:\n      - id: stackc-check\n      - id: stackc-fmt\n      - id: stackc-build-check\n        args: [shop.stack.kdl]\n",
        hooks_repo.display()
    );
    std::fs::write(repo.join(".pre-commit-config.yaml"), config).unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "stack"]);

    let (code, out) = run(&exe, &repo);
    assert_eq!(code, 0, "a good stack passes every hook:\n{out}");
    for hook in ["stackc check", "stackc fmt", "stackc build --check"] {
        assert!(out.lines().any(|l| l.starts_with(hook) && l.ends_with("Passed")), "{hook}:\n{out}");
    }

    // An error in the stack: `check` fails with the diagnostic.
    std::fs::write(repo.join("shop.stack.kdl"), STACK.replace("port 80", "port 80\n    depends-on \"db\"")).unwrap();
    let (code, out) = run(&exe, &repo);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unknown service `db`") && out.contains("E0"), "{out}");

    // An unformatted stack: `fmt` formats it and fails, as formatters do.
    std::fs::write(repo.join("shop.stack.kdl"), STACK.replace("    image", "  image")).unwrap();
    let (code, out) = run(&exe, &repo);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("files were modified by this hook"), "{out}");
    assert_eq!(std::fs::read_to_string(repo.join("shop.stack.kdl")).unwrap(), STACK);
    let (code, out) = run(&exe, &repo);
    assert_eq!(code, 0, "formatted and unchanged again:\n{out}");

    // A generated file edited by hand, the stack unchanged: `build --check` fails.
    let compose = repo.join("build/shop/docker-compose.yml");
    let edited = std::fs::read_to_string(&compose).unwrap().replace("nginx:1.27", "nginx:1.28");
    std::fs::write(&compose, edited).unwrap();
    let (code, out) = run(&exe, &repo);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("docker-compose.yml"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("stackc build --check") && l.ends_with("Failed")), "{out}");
}
