//! The CI formats of `stackc check`: `--format sarif` (SARIF 2.1.0, checked by Microsoft's
//! SARIF validator on every lint fixture), `--format github` (workflow annotations), and
//! the policy's suppressions with their reasons in every format.

use std::path::{Path, PathBuf};

mod support;
use support::{stackc, stdout, TempDir};

#[path = "../../stackc/tests/support/mod.rs"]
mod shared;

fn fixtures() -> PathBuf {
    shared::root().join("compiler/stackc/tests/fail")
}

/// The fixtures of the lints (W01xx and the targets' W0501): `// expect: CODE` on the
/// first line.
fn lint_fixtures() -> Vec<PathBuf> {
    let lint_codes: Vec<&str> = stackc::validate::lints::LINTS.iter().map(|l| l.code.as_str()).collect();
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            let first = text.lines().next().unwrap_or("");
            first.starts_with("// expect:") && lint_codes.iter().any(|c| first.contains(c))
        })
        .collect();
    v.sort();
    v
}

fn sarif(dir: &Path, file: &Path) -> serde_json::Value {
    let out = stackc(dir, &["check", "--format", "sarif", &file.display().to_string()]);
    serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{}: not JSON ({e}):\n{}", file.display(), stdout(&out)))
}

const SUPPRESSED: &str = r#"stack "shop"

service "grafana" {
    image "grafana/grafana:11.1.0"
    port 3000 name="http"
    publish 3000
    health http="/api/health"
}

service "admin" {
    image "ghcr.io/acme/admin:1.0"
    port 8081 name="http"
    publish 8081
    health http="/"
}

policy {
    allow "public-port" service="grafana" reason="behind the office VPN"
}

targets {
    compose
}
"#;

/// The shape the SARIF spec and GitHub code scanning need: one run, rules with help and a
/// help URI, results pointing at their rule with a region and a fingerprint.
#[test]
fn sarif_has_one_run_rules_regions_and_fingerprints() {
    let lints = lint_fixtures();
    assert!(lints.len() >= 8, "{lints:?}");
    for f in &lints {
        let log = sarif(&fixtures(), f);
        assert_eq!(log["version"], "2.1.0");
        let runs = log["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 1, "{}", f.display());
        let rules = runs[0]["tool"]["driver"]["rules"].as_array().unwrap();
        let results = runs[0]["results"].as_array().unwrap();
        assert!(!results.is_empty(), "{}: no result", f.display());
        for r in results {
            let i = r["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[i]["id"], r["ruleId"]);
            assert!(rules[i]["helpUri"].as_str().unwrap().ends_with(&format!("{}.md", r["ruleId"].as_str().unwrap())));
            assert!(!rules[i]["help"]["text"].as_str().unwrap().is_empty());
            assert!(["error", "warning"].contains(&r["level"].as_str().unwrap()));
            let region = &r["locations"][0]["physicalLocation"]["region"];
            assert!(region["startLine"].as_u64().unwrap() >= 1 && region["startColumn"].as_u64().unwrap() >= 1, "{r}");
            assert!(region["endLine"].as_u64() >= region["startLine"].as_u64(), "{r}");
            assert_eq!(r["partialFingerprints"]["stackcFingerprint/v1"].as_str().unwrap().len(), 16);
        }
    }
}

/// A fingerprint follows the finding, not its line: the same file gives the same SARIF,
/// and lines added above a finding move its region but keep its fingerprint.
#[test]
fn sarif_fingerprints_are_stable() {
    let dir = TempDir::new("sarif-stable");
    let a = dir.path().join("s.stack.kdl");
    std::fs::write(&a, SUPPRESSED).unwrap();
    let first = sarif(dir.path(), Path::new("s.stack.kdl"));
    assert_eq!(first, sarif(dir.path(), Path::new("s.stack.kdl")), "two runs, one log");
    std::fs::write(&a, format!("// a comment\n\n{SUPPRESSED}")).unwrap();
    let moved = sarif(dir.path(), Path::new("s.stack.kdl"));
    let pick = |log: &serde_json::Value| -> Vec<(String, u64)> {
        log["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["partialFingerprints"]["stackcFingerprint/v1"].as_str().unwrap().to_string(),
                    r["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let (before, after) = (pick(&first), pick(&moved));
    assert_eq!(before.len(), 2);
    for ((fa, la), (fb, lb)) in before.iter().zip(&after) {
        assert_eq!(fa, fb);
        assert_eq!(la + 2, *lb);
    }
    assert_ne!(before[0].0, before[1].0, "two findings, two fingerprints");
}

/// `policy { allow "LINT" service="NAME" reason="…" }` turns the lint off inside one
/// service only; the suppressed finding and its reason are in every format.
#[test]
fn a_suppression_on_one_service_keeps_its_reason_in_every_format() {
    let dir = TempDir::new("suppressed");
    std::fs::write(dir.path().join("s.stack.kdl"), SUPPRESSED).unwrap();
    let log = sarif(dir.path(), Path::new("s.stack.kdl"));
    let results = log["runs"][0]["results"].as_array().unwrap();
    let admin: Vec<_> = results.iter().filter(|r| r["message"]["text"].as_str().unwrap().contains("`admin`")).collect();
    let grafana: Vec<_> =
        results.iter().filter(|r| r["message"]["text"].as_str().unwrap().contains("`grafana`")).collect();
    assert_eq!((admin.len(), grafana.len()), (1, 1), "{results:#?}");
    assert!(admin[0].get("suppressions").is_none(), "the other service still warns");
    assert_eq!(
        grafana[0]["suppressions"],
        serde_json::json!([{ "kind": "inSource", "status": "accepted", "justification": "behind the office VPN" }])
    );
    let json = stdout(&stackc(dir.path(), &["check", "--format", "json", "s.stack.kdl"]));
    let records: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let sup: Vec<_> = records.iter().filter(|r| r["suppressed"] == true).collect();
    assert_eq!(sup.len(), 1, "{json}");
    assert_eq!(sup[0]["reason"], "behind the office VPN");
    assert_eq!(sup[0]["code"], "W0107");
    let human = support::stderr(&stackc(dir.path(), &["check", "s.stack.kdl"]));
    assert!(
        human.contains("note: s.stack.kdl:6:13: W0107(public-port) allowed by policy (reason: `behind the office VPN`): `grafana` publishes port 3000 on all host addresses\n"),
        "{human}"
    );
    assert!(human.contains("`admin` publishes port 8081"), "{human}");
    let github = stdout(&stackc(dir.path(), &["check", "--format", "github", "s.stack.kdl"]));
    assert!(!github.contains("grafana"), "no annotation for a suppressed finding: {github}");
}

/// GitHub's workflow commands: one line per finding, its place in the properties, the
/// message and help with `%`, CR and LF escaped.
#[test]
fn github_annotations() {
    let dir = TempDir::new("github");
    std::fs::write(dir.path().join("s.stack.kdl"), SUPPRESSED.replace("allow \"public-port\"", "deny \"public-port\""))
        .unwrap();
    let out = stackc(dir.path(), &["check", "--format", "github", "s.stack.kdl"]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("::error file=s.stack.kdl,line=6,col=13,endLine=6,endColumn=17,title=W0107 public-port::`grafana` publishes port 3000 on all host addresses%0Ahelp: "),
        "{text}"
    );
    assert!(lines[0].contains("%0Apolicy reason: `behind the office VPN`"), "{text}");
    assert!(lines[1].starts_with("::warning file=s.stack.kdl,line=13,"), "{text}");
    assert_eq!(support::code(&out), 1);
}

/// Microsoft's SARIF validator (`sarif-multitool validate`, from `.ci/install-validators`)
/// finds no error and no warning in the SARIF of any lint fixture.
#[test]
fn sarif_of_every_lint_fixture_passes_the_sarif_validator() {
    let tool = shared::root().join(".ci/tools/sarif/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool");
    if !tool.is_file() {
        if shared::in_ci() {
            panic!("{} is missing; CI must run .ci/install-validators", tool.display());
        }
        shared::report_not_run("sarif-multitool is not installed (run .ci/install-validators)");
        return;
    }
    let dir = TempDir::new("sarif-validate");
    let mut files = Vec::new();
    let mut add = |name: String, log: serde_json::Value| {
        let p = dir.path().join(name);
        std::fs::write(&p, serde_json::to_string_pretty(&log).unwrap()).unwrap();
        files.push(p.display().to_string());
    };
    for f in lint_fixtures() {
        let log = sarif(&fixtures(), &f);
        add(format!("{}.sarif", f.file_name().unwrap().to_string_lossy()), log);
    }
    std::fs::write(dir.path().join("s.stack.kdl"), SUPPRESSED).unwrap();
    let log = sarif(dir.path(), Path::new("s.stack.kdl"));
    add("suppressed.sarif".into(), log);
    let report = dir.path().join("validation.sarif");
    let out = std::process::Command::new(&tool)
        .arg("validate")
        .args(&files)
        .args(["--output", &report.display().to_string(), "--log", "ForceOverwrite"])
        .output()
        .unwrap();
    let console = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{console}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let results = v["runs"][0]["results"].as_array().cloned().unwrap_or_default();
    // The validator reports errors and warnings by default (`--level Error;Warning`).
    assert!(results.is_empty(), "{console}");
    assert!(v["runs"][0]["invocations"][0]["executionSuccessful"] == true, "{console}");
    assert!(console.contains(&format!("Done. {} files scanned.", files.len())), "{console}");
}

/// `stackc exposure` prints the table on stdout (exit 0), and nothing but the diagnostics
/// for a stack with errors (exit 1).
#[test]
fn exposure_prints_the_table() {
    let dir = TempDir::new("exposure");
    std::fs::write(dir.path().join("s.stack.kdl"), SUPPRESSED).unwrap();
    let out = stackc(dir.path(), &["exposure", "s.stack.kdl"]);
    assert_eq!(support::code(&out), 0);
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("SERVICE  PORT      EXPOSURE"), "{table}");
    assert!(lines[1].starts_with("grafana  3000/tcp  public :3000"), "{table}");
    assert!(lines[1].ends_with("no `firewall`: not filtered"), "{table}");
    std::fs::write(dir.path().join("bad.stack.kdl"), "stack \"s\"\nservice \"a\" {\n    publish 99999\n}\n").unwrap();
    let out = stackc(dir.path(), &["exposure", "bad.stack.kdl"]);
    assert_eq!(support::code(&out), 1);
    assert!(stdout(&out).is_empty());
}
