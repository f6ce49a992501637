//! The real tools judge the golden outputs. `.ci/install-validators` installs them into
//! `.ci/tools` (CI runs it before the tests). In CI (`CI` set) a missing tool fails the test;
//! elsewhere the test says loudly that it could not run, so that `cargo test` works on a
//! fresh machine before the tools are installed.

use std::path::{Path, PathBuf};
use std::process::Command;

mod support;
use support::{compose_v2_config, require, require_compose_v2, root};

/// Every golden compose file: a `.yml` file with top-level `services:`.
fn compose_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(root().join("golden")).unwrap().flatten() {
        if !dir.path().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
            let p = f.path();
            if p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                continue;
            }
            let is_yaml = p.extension().is_some_and(|e| e == "yml" || e == "yaml");
            if is_yaml && std::fs::read_to_string(&p).unwrap_or_default().lines().any(|l| l == "services:") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(out.len() >= 5, "expected a compose file per example, found {}", out.len());
    out
}

#[test]
fn compose_files_pass_the_compose_spec_schema() {
    let Some(check) = require("jsonschema", "check-jsonschema") else { return };
    let vendored = root().join("../shared/schemas/compose-spec.json");
    let mut failures = Vec::new();
    for file in compose_files() {
        let mut schemas = vec![vec!["--builtin-schema".to_string(), "vendor.compose-spec".to_string()]];
        if vendored.is_file() {
            schemas.push(vec!["--schemafile".to_string(), vendored.to_string_lossy().into_owned()]);
        }
        for schema in schemas {
            let out = Command::new(&check).args(&schema).arg(&file).output().expect("run check-jsonschema");
            if !out.status.success() {
                failures.push(format!(
                    "{} ({}):\n{}{}",
                    file.display(),
                    schema.join(" "),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The variables a compose file reads, from the `.env.example` generated next to it, with a
/// placeholder value each (required ones must be set for `config` to succeed).
fn env_for(file: &Path) -> Vec<(String, String)> {
    let example = file.with_file_name(".env.example");
    let text = std::fs::read_to_string(example).unwrap_or_default();
    // Optional variables get the default the file shows (a value must still be of the right
    // kind: an address in `ports`), required ones a placeholder.
    text.lines()
        .filter_map(|l| {
            let l = l.trim_start_matches('#');
            let (k, v) = l.split_once('=')?;
            let ok = !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            let v = if v.is_empty() { "placeholder" } else { v };
            ok.then(|| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// docker-compose v1 (1.29.2) parses and validates without a Docker engine. Where v1 lacks
/// a newer compose-spec feature, v1 validates a copy without it (the schema test checks the
/// real file):
/// - the top-level `name:` (the project name) came after v1;
/// - `secrets: {environment: VAR}` (a secret read from the deploy environment) came after v1:
///   the copy declares such secrets `external: true` instead.
///
/// v1 also checks that every build context exists on disk; the examples' contexts are the
/// applications' own repositories, which are not part of this one, so the copy builds from
/// `.` (the schema test checks the real contexts' shape).
#[test]
fn compose_files_parse_with_docker_compose() {
    let Some(dc) = require("compose", "docker-compose") else { return };
    let mut failures = Vec::new();
    for file in compose_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let needs_copy = text.lines().any(|l| l.starts_with("name: ") || l.trim_start().starts_with("context: "))
            || text.contains("\nsecrets:");
        let checked = if needs_copy {
            // The copy lives outside the golden tree (other tests read that tree concurrently);
            // `--project-directory` keeps relative paths resolving against the real file's dir.
            let copy = std::env::temp_dir().join(format!(
                "stackc-v1-check-{}-{}.yml",
                std::process::id(),
                file.parent().unwrap().file_name().unwrap().to_string_lossy()
            ));
            let stripped: String = text
                .split_inclusive('\n')
                .scan(false, |in_secrets, line| {
                    if line.starts_with("secrets:") {
                        *in_secrets = true;
                    } else if !line.starts_with(' ') {
                        *in_secrets = false;
                    }
                    let drop = *in_secrets && line.starts_with("    environment: ");
                    Some(if drop {
                        "    external: true\n".to_string()
                    } else if line.starts_with("name: ") {
                        String::new()
                    } else if let Some(indent) = line
                        .strip_suffix('\n')
                        .and_then(|l| l.split("context: ").next())
                        .filter(|i| line.trim_start().starts_with("context: ") && i.chars().all(|c| c == ' '))
                    {
                        format!("{indent}context: .\n")
                    } else {
                        line.to_string()
                    })
                })
                .collect();
            std::fs::write(&copy, stripped).unwrap();
            copy
        } else {
            file.clone()
        };
        let out = Command::new(&dc)
            .arg("-f")
            .arg(&checked)
            .arg("--project-directory")
            .arg(file.parent().unwrap())
            .args(["config", "-q"])
            .current_dir(file.parent().unwrap())
            .envs(env_for(&file))
            .output()
            .expect("run docker-compose");
        if checked != file {
            let _ = std::fs::remove_file(&checked);
        }
        if !out.status.success() {
            failures.push(format!("{}:\n{}", file.display(), String::from_utf8_lossy(&out.stderr)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Docker Compose v2, the compose users run, reads every golden compose file as it is, with
/// the variables of its `.env.example`: the whole current model, interpolation, and the
/// short volume syntax that v1 never reaches (v1 stops at the top-level `name:`, so it is
/// checked on a copy above).
#[test]
fn compose_files_pass_docker_compose_v2() {
    let Some(dc) = require_compose_v2() else { return };
    let failures: Vec<String> = compose_files()
        .iter()
        .filter_map(|f| compose_v2_config(&dc, f, env_for(f)).err().map(|e| format!("{}:\n{e}", f.display())))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The check itself rejects what v2 rejects: a bind source with an unrendered param
/// (`${upload-location}` is `${upload:-location}` to compose: a named volume `location` that
/// is not declared), so that a passing run means something.
#[test]
fn docker_compose_v2_rejects_a_misread_bind_source() {
    let Some(dc) = require_compose_v2() else { return };
    let dir = std::env::temp_dir().join(format!("stackc-v2-neg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("docker-compose.yml");
    let good = "name: t\nservices:\n  web:\n    image: nginx:1.27\n    volumes:\n      - ./data:/data\n";
    std::fs::write(&file, good).unwrap();
    assert_eq!(compose_v2_config(&dc, &file, Vec::new()), Ok(()));
    std::fs::write(&file, good.replace("./data", "${upload-location}")).unwrap();
    let err = compose_v2_config(&dc, &file, Vec::new()).expect_err("an undeclared volume is an error");
    assert!(err.contains("location"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every `*.sh` below `dir`, at any depth.
fn scripts_below(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            scripts_below(&p, out);
        } else if p.extension().is_some_and(|e| e == "sh") {
            out.push(p);
        }
    }
}

/// Every generated shell script (golden `*.sh` at any depth: compose's
/// `init-certificates.sh` and `backup/*.sh`, the UFW target's `ufw/ufw.sh`) passes shellcheck
/// with its default severity (style included), as a reviewer would run it.
#[test]
fn scripts_pass_shellcheck() {
    let Some(sc) = require("shellcheck", "shellcheck") else { return };
    let mut scripts = Vec::new();
    scripts_below(&root().join("golden"), &mut scripts);
    scripts.sort();
    for kind in ["init-certificates.sh", "/backup/", "/ufw/ufw.sh"] {
        assert!(
            scripts.iter().any(|p| p.to_string_lossy().contains(kind)),
            "no generated {kind} in golden/: the examples' targets write them"
        );
    }
    let out = Command::new(&sc).arg("--external-sources").args(&scripts).output().expect("run shellcheck");
    assert!(
        out.status.success(),
        "shellcheck:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
