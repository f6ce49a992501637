//! `stackc check` says what `stackc build` will say: on every input here (the examples, every
//! failing fixture, the reproducers of errors that only `build` used to find, and mutations of
//! the examples) the two commands exit with the same status and print the same diagnostics
//! (`--format json`, record for record). The pre-commit hook runs `check`; CI runs `build`.

use std::path::{Path, PathBuf};

mod support;
use support::TempDir;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Stacks whose only errors come from a target (E0501): `check` used to accept all of them.
const BUILD_ONLY_ERRORS: &[(&str, &str)] = &[
    (
        "ufw-quote-in-comment",
        r#"stack "t"
targets {
    ufw
}
firewall {
    allow 22 comment="admin's ssh"
}
"#,
    ),
    (
        "nginx-dollar-in-header",
        r#"stack "t"
targets {
    nginx
}
service "web" {
    image "nginx:1.27"
    port 8080
}
site "shop.example.com" {
    header "X-Price" "$5"
    route "/" to="web"
}
"#,
    ),
    (
        "caddy-env-placeholder-in-header",
        r#"stack "t"
targets {
    caddy
}
service "web" {
    image "nginx:1.27"
    port 8080
}
site "shop.example.com" {
    header "X-Secret" "{$HOME}"
    route "/" to="web"
}
"#,
    ),
    (
        "k8s-object-name-clash",
        r#"stack "s"
targets {
    k8s
}
secret "pw" env="PW"
env-group "backup-db" A="1"
service "postgres" {
    image "postgres:16-alpine"
    port 5432
    env POSTGRES_PASSWORD=(secret)"pw"
    health cmd="pg_isready"
}
backup "db" service="postgres" schedule="0 3 * * *" to="/var/backups"
"#,
    ),
];

struct Run {
    code: i32,
    json: String,
}

/// `stackc ARGS` through the shared runner (which fails on a panic or a signal).
fn stackc(dir: &Path, args: &[&str]) -> Run {
    let out = support::stackc(dir, args);
    Run { code: support::code(&out), json: support::stdout(&out) }
}

/// Runs `check` and `build` on one input: the exit status and the JSON records (the same for
/// both), or how they disagree.
fn agree(name: &str, text: &str) -> Result<(i32, String), String> {
    let dir = TempDir::new("agree");
    std::fs::write(dir.path().join("s.stack.kdl"), text).unwrap();
    let check = stackc(dir.path(), &["check", "--format", "json", "s.stack.kdl"]);
    let build = stackc(dir.path(), &["build", "--format", "json", "s.stack.kdl", "-o", "out"]);
    if check.code != build.code {
        return Err(format!(
            "{name}: check exits {}, build exits {}\ncheck:\n{}build:\n{}",
            check.code, build.code, check.json, build.json
        ));
    }
    if check.json != build.json {
        return Err(format!(
            "{name}: check and build report differently\ncheck:\n{}build:\n{}",
            check.json, build.json
        ));
    }
    Ok((check.code, check.json))
}

fn stack_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(".stack.kdl"))
        .collect();
    v.sort();
    v
}

#[test]
fn errors_that_only_a_target_finds_are_reported_by_check() {
    let mut failures = Vec::new();
    for (name, text) in BUILD_ONLY_ERRORS {
        match agree(name, text) {
            Ok((1, json))
                if json.lines().all(|l| l.contains(r#""code":"E0501""#) || l.contains(r#""severity":"warning""#)) => {}
            Ok((code, json)) => {
                failures.push(format!("{name}: exit {code}, expected 1 with E0501 errors only:\n{json}"))
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn check_and_build_agree_on_examples_fixtures_and_mutations() {
    let root = repo_root();
    let mut inputs: Vec<(String, String)> = Vec::new();
    let examples = stack_files(&root.join("examples"));
    assert!(examples.len() >= 5, "examples: {examples:?}");
    for p in examples.iter().chain(&stack_files(&root.join("compiler/stackc/tests/fail"))) {
        inputs.push((p.display().to_string(), std::fs::read_to_string(p).unwrap()));
    }
    // Mutations of the examples: a line dropped or repeated, spread over each file, which
    // breaks references, duplicates names and unbalances blocks.
    for p in &examples {
        let text = std::fs::read_to_string(p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let step = (lines.len() / 8).max(1);
        for (i, _) in lines.iter().enumerate().step_by(step) {
            let mut dropped = lines.clone();
            dropped.remove(i);
            inputs.push((format!("{} without line {}", p.display(), i + 1), dropped.join("\n")));
            let mut twice = lines.clone();
            twice.insert(i, lines[i]);
            inputs.push((format!("{} with line {} twice", p.display(), i + 1), twice.join("\n")));
        }
    }
    // Four workers: each input is two short processes.
    let results: Vec<Result<(i32, String), String>> = std::thread::scope(|s| {
        let chunks: Vec<_> = inputs.chunks(inputs.len().div_ceil(4)).collect();
        let workers: Vec<_> = chunks
            .into_iter()
            .map(|chunk| s.spawn(move || chunk.iter().map(|(n, t)| agree(n, t)).collect::<Vec<_>>()))
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    let mut codes = [0usize; 3];
    let mut failures = Vec::new();
    for r in results {
        match r {
            Ok((code, _)) => codes[usize::try_from(code).unwrap().min(2)] += 1,
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{} of {} inputs:\n{}", failures.len(), inputs.len(), failures.join("\n\n"));
    // Both outcomes must be well represented, or the test proves little.
    assert!(codes[0] >= 5 && codes[1] >= 50, "exit codes 0/1/2: {codes:?}");
}

/// W0501 is a lint: the stack's `policy` and `-A`/`-W`/`-D` set its level, for `check` and
/// `build` alike.
#[test]
fn target_approximation_has_a_level_like_every_lint() {
    // compose cannot size a local volume: one W0501.
    let base = r#"stack "t"
targets {
    compose
}
volume "data" size="10Gi"
service "db" {
    image "postgres:16"
    mount "data" "/var/lib/postgresql/data"
    health cmd="pg_isready"
}
"#;
    let count = |json: &str, code: &str, severity: &str| {
        json.lines()
            .filter(|l| {
                l.contains(&format!(r#""code":"{code}""#)) && l.contains(&format!(r#""severity":"{severity}""#))
            })
            .count()
    };
    let (code, json) = agree("default", base).unwrap();
    assert_eq!((code, count(&json, "W0501", "warning")), (0, 1), "{json}");
    assert!(json.contains(r#"silence with `policy { allow \"target-approximation\" }`"#), "{json}");

    let allowed = format!("{base}policy {{\n    allow \"target-approximation\"\n}}\n");
    let (code, json) = agree("allowed", &allowed).unwrap();
    assert_eq!((code, count(&json, "W0501", "warning")), (0, 0), "{json}");

    let denied = format!("{base}policy {{\n    deny \"target-approximation\"\n}}\n");
    let (code, json) = agree("denied", &denied).unwrap();
    assert_eq!((code, count(&json, "W0501", "error")), (1, 1), "{json}");

    // A reason in the policy is shown with the diagnostics it concerns, a target's or
    // validation's alike.
    let reasoned = format!(
        "{}policy {{\n    warn \"target-approximation\" reason=\"sized by the host disk\"\n    warn \"latest-tag\" reason=\"pinned images only\"\n}}\n",
        base.replace("postgres:16", "postgres:latest")
    );
    let (code, json) = agree("reasons", &reasoned).unwrap();
    assert_eq!(code, 0, "{json}");
    let line = |c: &str| {
        json.lines().find(|l| l.contains(&format!(r#""code":"{c}""#))).unwrap_or_else(|| panic!("no {c}: {json}"))
    };
    assert!(line("W0501").contains("policy reason: `sized by the host disk`"), "{json}");
    assert!(line("W0103").contains("policy reason: `pinned images only`"), "{json}");

    let tmp = TempDir::new("w0501");
    let dir = tmp.path();
    std::fs::write(dir.join("s.stack.kdl"), base).unwrap();
    for (flag, want_code, severity) in [("-A", 0, None), ("-W", 0, Some("warning")), ("-D", 1, Some("error"))] {
        for cmd in [
            &["check", "--format", "json", "s.stack.kdl"][..],
            &["build", "--format", "json", "s.stack.kdl", "-o", "out"],
        ] {
            let mut args = cmd.to_vec();
            args.extend([flag, "target-approximation"]);
            let run = stackc(dir, &args);
            assert_eq!(run.code, want_code, "{args:?}: {}", run.json);
            assert_eq!(
                count(&run.json, "W0501", severity.unwrap_or("warning")),
                usize::from(severity.is_some()),
                "{args:?}: {}",
                run.json
            );
        }
    }
}

/// An error that only an environment has names it, fails `check` and `build` alike, and does
/// not stop the base from being built.
#[test]
fn an_error_of_one_environment_leaves_the_base_built() {
    let text = std::fs::read_to_string(
        repo_root().join("compiler/stackc/tests/fail/E0203_unknown_service_in_environment.stack.kdl"),
    )
    .unwrap();
    let (code, json) = agree("environment error", &text).unwrap();
    assert_eq!(code, 1, "{json}");
    assert!(json.contains(r#""message":"in environment `staging`: unknown service"#), "{json}");
    let tmp = TempDir::new("env-error");
    let dir = tmp.path();
    std::fs::write(dir.join("s.stack.kdl"), &text).unwrap();
    assert_eq!(stackc(dir, &["build", "s.stack.kdl", "-o", "out"]).code, 1);
    let manifest = std::fs::read_to_string(dir.join("out/stackc-manifest.json")).expect("the base's files are written");
    assert!(manifest.contains("docker-compose"), "{manifest}");
    // The environment itself cannot be built.
    assert_eq!(stackc(dir, &["build", "s.stack.kdl", "--env", "staging", "-o", "staging"]).code, 1);
    assert!(!dir.join("staging").exists());
}
