//! The `stackc` binary end to end: exit codes (0 ok, 1 errors, 2 usage or I/O), what goes
//! to stdout and stderr, and what `fmt` does to files. Every run also checks that the
//! process neither panicked (exit code 101) nor died from a signal.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use stackc::diagnostics::Code;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("stackc-cli-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// Writes `name` in the directory and returns its path.
    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write temp file");
        path
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .expect("read temp dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    args: Vec<String>,
}

impl Run {
    #[track_caller]
    fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code of `stackc {}`\n{}", self.args.join(" "), self.dump());
        self
    }

    #[track_caller]
    fn stderr_has(&self, needle: &str) -> &Self {
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}\n{}", self.dump());
        self
    }

    #[track_caller]
    fn stderr_lacks(&self, needle: &str) -> &Self {
        assert!(!self.stderr.contains(needle), "stderr has {needle:?}\n{}", self.dump());
        self
    }

    #[track_caller]
    fn stdout_has(&self, needle: &str) -> &Self {
        assert!(self.stdout.contains(needle), "stdout lacks {needle:?}\n{}", self.dump());
        self
    }

    fn dump(&self) -> String {
        format!(
            "--- command: stackc {}\n--- exit: {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }
}

/// Runs the binary in `cwd` with a fixed environment (no colour, fixed width).
fn stackc_in(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_stackc"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("run stackc");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        args: args.iter().map(|a| a.to_string()).collect(),
    };
    assert!(out.status.code().is_some(), "stackc was killed by a signal\n{}", run.dump());
    assert_ne!(run.code, 101, "stackc panicked\n{}", run.dump());
    assert!(!run.stderr.contains("panicked at"), "stackc panicked\n{}", run.dump());
    run
}

fn stackc(dir: &TempDir, args: &[&str]) -> Run {
    stackc_in(&dir.0, args)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// ---------------------------------------------------------------------------------------
// Stack texts (KDL 2)
// ---------------------------------------------------------------------------------------

const GOOD: &str = r#"stack "demo"

service "web" {
    image "nginx:1.27.0"
    port 80 name="http"
    health http="/" port="http"
}
"#;

/// Valid, with one W0102 (missing-healthcheck) warning.
const WARN: &str = r#"stack "demo"

service "worker" {
    image "busybox:1.36"
    command "sleep" "3600"
}
"#;

/// One E0203: `databse` at line 6, columns 16-25.
const BAD: &str = r#"stack "demo"

service "api" {
    image "ghcr.io/acme/api:1.0.0"
    health cmd="true"
    depends-on "databse"
}

service "database" {
    image "postgres:16-alpine"
    health cmd="pg_isready"
}
"#;

const CYCLE: &str = r#"stack "loop"

service "alpha" {
    image "busybox:1.36"
    health cmd="true"
    depends-on "beta"
}

service "beta" {
    image "busybox:1.36"
    health cmd="true"
    depends-on "alpha"
}
"#;

const ENVS: &str = r#"stack "demo"

param "tag" default="1.0.0"

service "web" {
    image "nginx:${tag}"
    health cmd="true"
}

env "staging" {
    param "tag" default="1.1.0-rc.1"
}

env "production" {
    service "web" {
        replicas 2
    }
}
"#;

/// Valid but badly indented, with comments of every kind.
const MESSY: &str = "// top comment\nstack \"demo\" // trailing comment\n\nservice \"web\" {\n  image \"nginx:1.27.0\" /* inline comment */\n        port 80 name=\"http\"\n   // inner comment\n  health http=\"/\" port=\"http\"\n/-  replicas 3\n}\n";

/// Not valid KDL: an unterminated string.
const INVALID: &str = "service \"web\" {\n  image \"nginx:1.27.0\n}\n";

// ---------------------------------------------------------------------------------------
// check
// ---------------------------------------------------------------------------------------

#[test]
fn check_good_file_exits_0_and_says_ok() {
    let dir = TempDir::new("good");
    dir.file("good.stack.kdl", GOOD);
    let run = stackc(&dir, &["check", "good.stack.kdl"]);
    run.expect_code(0).stderr_has("ok:").stderr_has("1 file checked");
    assert!(run.stdout.is_empty(), "human diagnostics go to stderr only\n{}", run.dump());
}

#[test]
fn check_bad_file_exits_1_with_the_code_on_stderr() {
    let dir = TempDir::new("bad");
    dir.file("bad.stack.kdl", BAD);
    stackc(&dir, &["check", "bad.stack.kdl"])
        .expect_code(1)
        .stderr_has("E0203")
        .stderr_has("unknown-service")
        .stderr_has("databse")
        .stderr_has("did you mean `database`?")
        .stderr_has("bad.stack.kdl:6:16")
        .stderr_has("error: 1 error")
        .stderr_lacks("ok:")
        .stderr_lacks("\u{1b}[");
}

#[test]
fn check_warning_only_exits_0() {
    let dir = TempDir::new("warn");
    dir.file("warn.stack.kdl", WARN);
    stackc(&dir, &["check", "warn.stack.kdl"])
        .expect_code(0)
        .stderr_has("W0102")
        .stderr_has("ok: 1 file checked, 1 warning");
}

const JSON_KEYS: &[&str] =
    &["code", "severity", "message", "file", "line", "column", "end_line", "end_column", "help", "labels"];

/// Parses JSON Lines output, checking every record's keys and types.
#[track_caller]
fn json_records(run: &Run) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let mut records = Vec::new();
    for line in run.stdout.lines() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {e}: {line:?}\n{}", run.dump()));
        let obj = value.as_object().unwrap_or_else(|| panic!("not a JSON object: {line}")).clone();
        for key in JSON_KEYS {
            assert!(obj.contains_key(*key), "record lacks `{key}`: {line}");
        }
        assert!(obj["code"].is_string() && obj["message"].is_string(), "{line}");
        assert!(["error", "warning"].contains(&obj["severity"].as_str().unwrap_or("")), "{line}");
        assert!(obj["help"].is_string() || obj["help"].is_null(), "{line}");
        assert!(obj["labels"].is_array(), "{line}");
        assert!(obj["file"].is_string() || obj["file"].is_null(), "{line}");
        // A diagnostic without a place (E0209) has a `file` but null positions, all four.
        if obj["line"].is_null() {
            for key in ["column", "end_line", "end_column"] {
                assert!(obj[key].is_null(), "`line` is null but `{key}` is not: {line}");
            }
        } else {
            assert!(obj["file"].is_string(), "positions without a file: {line}");
            for key in ["line", "column", "end_line", "end_column"] {
                assert!(obj[key].as_u64().is_some_and(|n| n >= 1), "`{key}` is not a 1-based number: {line}");
            }
            let start = (obj["line"].as_u64(), obj["column"].as_u64());
            let end = (obj["end_line"].as_u64(), obj["end_column"].as_u64());
            assert!(start <= end, "span ends before it starts: {line}");
        }
        records.push(obj);
    }
    records
}

#[test]
fn check_json_prints_one_object_per_line_on_stdout() {
    let dir = TempDir::new("json");
    dir.file("bad.stack.kdl", BAD);
    dir.file("warn.stack.kdl", WARN);
    let run = stackc(&dir, &["check", "--format", "json", "bad.stack.kdl", "warn.stack.kdl"]);
    run.expect_code(1);
    let records = json_records(&run);
    assert_eq!(records.len(), 2, "{}", run.dump());
    let e = &records[0];
    assert_eq!(e["code"], "E0203");
    assert_eq!(e["severity"], "error");
    assert_eq!(e["file"], "bad.stack.kdl");
    assert_eq!((e["line"].as_u64(), e["column"].as_u64()), (Some(6), Some(16)));
    assert_eq!((e["end_line"].as_u64(), e["end_column"].as_u64()), (Some(6), Some(25)));
    assert_eq!(e["help"], "did you mean `database`?");
    let label = &e["labels"][0];
    for key in ["text", "file", "line", "column", "end_line", "end_column"] {
        assert!(label.get(key).is_some(), "label lacks `{key}`: {label}");
    }
    let w = &records[1];
    assert_eq!((w["code"].as_str(), w["severity"].as_str()), (Some("W0102"), Some("warning")));
    assert_eq!(w["file"], "warn.stack.kdl");
    // Machine output is on stdout only: no human report on stderr.
    assert!(!run.stderr.contains("E0203"), "{}", run.dump());

    // A clean file prints nothing and exits 0.
    dir.file("good.stack.kdl", GOOD);
    let run = stackc(&dir, &["check", "--format", "json", "good.stack.kdl"]);
    run.expect_code(0);
    assert!(run.stdout.trim().is_empty(), "{}", run.dump());
}

#[test]
fn check_json_of_an_error_without_a_place() {
    // E0209 (unknown environment) is about the command line, not a place in the file:
    // its positions are null (all of them, not some), and the record is still complete.
    let dir = TempDir::new("json-env");
    dir.file("envs.stack.kdl", ENVS);
    let run = stackc(&dir, &["check", "--format", "json", "--env", "nope", "envs.stack.kdl"]);
    run.expect_code(1);
    let records = json_records(&run);
    let rec = records.iter().find(|r| r["code"] == "E0209").unwrap_or_else(|| panic!("no E0209\n{}", run.dump()));
    let nulls = ["line", "column", "end_line", "end_column"].map(|k| rec[k].is_null());
    assert!(nulls.iter().all(|n| *n) || nulls.iter().all(|n| !*n), "{rec:?}");
    // It has no place, but it belongs to the file that was checked.
    assert_eq!(rec["file"], "envs.stack.kdl", "{rec:?}");
    // So does an unknown lint named on the command line (E0211).
    let run = stackc(&dir, &["check", "--format", "json", "-D", "no-such-lint", "envs.stack.kdl"]);
    let records = json_records(&run);
    let lint = records.iter().find(|r| r["code"] == "E0211").unwrap_or_else(|| panic!("no E0211\n{}", run.dump()));
    assert_eq!(lint["file"], "envs.stack.kdl", "{lint:?}");
    assert!(rec["help"].as_str().is_some_and(|h| h.contains("staging") && h.contains("production")), "{rec:?}");
}

#[test]
fn check_missing_file_exits_2() {
    let dir = TempDir::new("missing");
    stackc(&dir, &["check", "no-such.stack.kdl"]).expect_code(2).stderr_has("no-such.stack.kdl").stderr_lacks("ok:");
    // Still 2 when another file is fine, and in JSON mode; never an "ok" line.
    dir.file("good.stack.kdl", GOOD);
    stackc(&dir, &["check", "good.stack.kdl", "no-such.stack.kdl"]).expect_code(2).stderr_lacks("ok:");
    stackc(&dir, &["check", "no-such.stack.kdl", "good.stack.kdl"]).expect_code(2).stderr_lacks("ok:");
    dir.file("bad.stack.kdl", "service \"web\" {\n");
    stackc(&dir, &["check", "bad.stack.kdl", "no-such.stack.kdl"])
        .expect_code(2)
        .stderr_has("error: 1 error")
        .stderr_lacks("ok:");
    stackc(&dir, &["check", "--format", "json", "no-such.stack.kdl"]).expect_code(2);
}

#[test]
fn check_unreadable_inputs_exit_2() {
    // A file that is not UTF-8 is read: it is an error in the file (E0100, exit 1), see
    // `tests/output_bounds.rs`.
    let dir = TempDir::new("unreadable");
    std::fs::create_dir(dir.0.join("adir")).expect("mkdir");
    stackc(&dir, &["check", "adir"]).expect_code(2);
}

#[test]
fn check_two_files_reports_both() {
    let dir = TempDir::new("two");
    dir.file("bad.stack.kdl", BAD);
    dir.file("cycle.stack.kdl", CYCLE);
    stackc(&dir, &["check", "bad.stack.kdl", "cycle.stack.kdl"])
        .expect_code(1)
        .stderr_has("E0203")
        .stderr_has("bad.stack.kdl")
        .stderr_has("E0401")
        .stderr_has("cycle.stack.kdl")
        .stderr_has("2 errors")
        .stderr_has("2 files");
}

#[test]
fn check_unknown_env_exits_1_and_lists_the_environments() {
    let dir = TempDir::new("env");
    dir.file("envs.stack.kdl", ENVS);
    stackc(&dir, &["check", "--env", "unknown", "envs.stack.kdl"])
        .expect_code(1)
        .stderr_has("E0209")
        .stderr_has("unknown")
        .stderr_has("staging")
        .stderr_has("production");
    stackc(&dir, &["check", "--env", "staging", "envs.stack.kdl"]).expect_code(0).stderr_has("ok:");
    stackc(&dir, &["check", "envs.stack.kdl"]).expect_code(0);
}

#[test]
fn lint_levels_from_the_command_line() {
    let dir = TempDir::new("lints");
    dir.file("warn.stack.kdl", WARN);
    stackc(&dir, &["check", "warn.stack.kdl"]).expect_code(0).stderr_has("W0102");
    stackc(&dir, &["check", "-D", "missing-healthcheck", "warn.stack.kdl"])
        .expect_code(1)
        .stderr_has("W0102")
        .stderr_has("1 error");
    stackc(&dir, &["check", "--deny", "missing-healthcheck", "warn.stack.kdl"]).expect_code(1);
    stackc(&dir, &["check", "-A", "missing-healthcheck", "warn.stack.kdl"])
        .expect_code(0)
        .stderr_lacks("W0102")
        .stderr_has("0 warnings");
    stackc(&dir, &["check", "-W", "missing-healthcheck", "warn.stack.kdl"]).expect_code(0).stderr_has("W0102");
    // An unknown lint name is reported, with the list of lints.
    stackc(&dir, &["check", "-D", "no-such-lint", "warn.stack.kdl"])
        .expect_code(1)
        .stderr_has("E0211")
        .stderr_has("missing-healthcheck");
}

// ---------------------------------------------------------------------------------------
// explain
// ---------------------------------------------------------------------------------------

#[test]
fn explain_prints_the_page() {
    let dir = TempDir::new("explain");
    let run = stackc(&dir, &["explain", "E0203"]);
    run.expect_code(0).stdout_has("# E0203 unknown-service");
    let page = std::fs::read_to_string(repo_root().join("docs/diagnostics/E0203.md")).expect("E0203.md");
    assert_eq!(run.stdout.trim_end(), page.trim_end());
    // By name and in lower case too.
    stackc(&dir, &["explain", "unknown-service"]).expect_code(0).stdout_has("E0203");
    stackc(&dir, &["explain", "e0203"]).expect_code(0).stdout_has("E0203");
}

#[test]
fn explain_every_catalogue_code() {
    let dir = TempDir::new("explain-all");
    for code in Code::ALL {
        let info = code.info();
        stackc(&dir, &["explain", info.code]).expect_code(0).stdout_has(info.code);
    }
}

#[test]
fn explain_unknown_code_exits_2() {
    let dir = TempDir::new("explain-unknown");
    let run = stackc(&dir, &["explain", "E9999"]);
    run.expect_code(2).stderr_has("E9999");
    assert!(run.stdout.is_empty(), "{}", run.dump());
    // A near miss gets a suggestion.
    stackc(&dir, &["explain", "unknown-servce"]).expect_code(2).stderr_has("unknown-service");
}

// ---------------------------------------------------------------------------------------
// show
// ---------------------------------------------------------------------------------------

const TEMPLATED: &str = r#"stack "demo"

template "web-defaults" {
    image "nginx:1.27.0"
    restart "unless-stopped"
    health cmd="true"
}

service "web" {
    use "web-defaults"
    port 80 name="http"
}

env "production" {
    template "web-defaults" {
        restart "always"
    }
}
"#;

#[test]
fn show_prints_the_expanded_stack_and_one_service() {
    let dir = TempDir::new("show");
    dir.file("t.stack.kdl", TEMPLATED);
    let web = "service \"web\" {\n    image \"nginx:1.27.0\"\n    restart \"unless-stopped\"\n    health cmd=\"true\"\n    port 80 name=\"http\"\n}\n";
    let run = stackc(&dir, &["show", "t.stack.kdl"]);
    run.expect_code(0);
    assert_eq!(run.stdout, format!("stack \"demo\"\n\n{web}"), "{}", run.dump());
    let run = stackc(&dir, &["show", "--service", "web", "t.stack.kdl"]);
    assert_eq!(run.stdout, web, "{}", run.dump());
    stackc(&dir, &["show", "--env", "production", "t.stack.kdl"]).expect_code(0).stdout_has("restart \"always\"");
    stackc(&dir, &["show", "--service", "wbe", "t.stack.kdl"]).expect_code(2).stderr_has("did you mean `web`?");
    dir.file("bad.stack.kdl", &TEMPLATED.replace("use \"web-defaults\"", "use \"web-default\""));
    stackc(&dir, &["show", "bad.stack.kdl"]).expect_code(1).stderr_has("E0213");
}

// ---------------------------------------------------------------------------------------
// graph
// ---------------------------------------------------------------------------------------

/// Names of the `service` nodes at the top level of a stack file.
fn service_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("service \""))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn graph_dot_and_mermaid_of_an_example() {
    let examples = repo_root().join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&examples)
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".stack.kdl"))
        .collect();
    files.sort();
    let example = files.first().expect("at least one example");
    let names = service_names(&std::fs::read_to_string(example).expect("read example"));
    assert!(!names.is_empty(), "no services in {}", example.display());
    let path = example.to_string_lossy().into_owned();
    let dot = stackc_in(&examples, &["graph", "--format", "dot", &path]);
    dot.expect_code(0).stdout_has("digraph");
    let mermaid = stackc_in(&examples, &["graph", "--format", "mermaid", &path]);
    mermaid.expect_code(0).stdout_has("flowchart");
    for name in &names {
        dot.stdout_has(&format!("\"{name}\""));
        mermaid.stdout_has(&format!("\"{name}\""));
    }
    // `dot` is the default.
    let default = stackc_in(&examples, &["graph", &path]);
    assert_eq!(default.stdout, dot.stdout);
}

#[test]
fn graph_of_small_stacks() {
    let dir = TempDir::new("graph");
    dir.file("good.stack.kdl", GOOD);
    dir.file("envs.stack.kdl", ENVS);
    stackc(&dir, &["graph", "good.stack.kdl"]).expect_code(0).stdout_has("\"web\"");
    stackc(&dir, &["graph", "--env", "production", "envs.stack.kdl"]).expect_code(0).stdout_has("\"web\"");
    stackc(&dir, &["graph", "--env", "unknown", "envs.stack.kdl"]).expect_code(1).stderr_has("E0209");
    stackc(&dir, &["graph", "no-such.stack.kdl"]).expect_code(2);
}

#[test]
fn graph_of_a_cycle_exits_1() {
    let dir = TempDir::new("graph-cycle");
    dir.file("cycle.stack.kdl", CYCLE);
    for format in ["dot", "mermaid"] {
        let run = stackc(&dir, &["graph", "--format", format, "cycle.stack.kdl"]);
        run.expect_code(1).stderr_has("E0401").stderr_has("alpha").stderr_has("beta");
    }
}

// ---------------------------------------------------------------------------------------
// fmt
// ---------------------------------------------------------------------------------------

#[test]
fn fmt_check_then_fmt_then_check() {
    let dir = TempDir::new("fmt");
    let path = dir.file("messy.stack.kdl", MESSY);
    stackc(&dir, &["fmt", "--check", "messy.stack.kdl"]).expect_code(1).stderr_has("messy.stack.kdl");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), MESSY, "--check must not write");

    stackc(&dir, &["fmt", "messy.stack.kdl"]).expect_code(0);
    let formatted = std::fs::read_to_string(&path).expect("read");
    assert_ne!(formatted, MESSY);
    for comment in ["// top comment", "// trailing comment", "/* inline comment */", "// inner comment", "/-"] {
        assert!(formatted.contains(comment), "fmt lost {comment:?}:\n{formatted}");
    }
    assert!(formatted.contains("\n    image \"nginx:1.27.0\""), "not re-indented:\n{formatted}");
    assert!(formatted.contains("\n    port 80 name=\"http\""), "not re-indented:\n{formatted}");

    stackc(&dir, &["fmt", "--check", "messy.stack.kdl"]).expect_code(0);
    // Formatting again changes nothing; the result still checks; no temp files are left.
    stackc(&dir, &["fmt", "messy.stack.kdl"]).expect_code(0);
    assert_eq!(std::fs::read_to_string(&path).expect("read"), formatted);
    stackc(&dir, &["check", "messy.stack.kdl"]).expect_code(0);
    assert_eq!(dir.entries(), ["messy.stack.kdl"]);
}

#[test]
fn fmt_never_touches_an_invalid_file() {
    let dir = TempDir::new("fmt-invalid");
    let path = dir.file("invalid.stack.kdl", INVALID);
    let messy = dir.file("messy.stack.kdl", MESSY);
    stackc(&dir, &["fmt", "invalid.stack.kdl"]).expect_code(1).stderr_has("invalid.stack.kdl:2:");
    stackc(&dir, &["fmt", "--check", "invalid.stack.kdl"]).expect_code(1);
    assert_eq!(std::fs::read_to_string(&path).expect("read"), INVALID);
    // With a valid file next to it: the valid one is formatted, the invalid one is not.
    stackc(&dir, &["fmt", "invalid.stack.kdl", "messy.stack.kdl"]).expect_code(1);
    assert_eq!(std::fs::read_to_string(&path).expect("read"), INVALID);
    assert_ne!(std::fs::read_to_string(&messy).expect("read"), MESSY);
    assert_eq!(dir.entries(), ["invalid.stack.kdl", "messy.stack.kdl"]);
}

#[test]
fn fmt_of_a_formatted_file_is_a_no_op() {
    let dir = TempDir::new("fmt-noop");
    let path = dir.file("good.stack.kdl", GOOD);
    stackc(&dir, &["fmt", "--check", "good.stack.kdl"]).expect_code(0);
    stackc(&dir, &["fmt", "good.stack.kdl"]).expect_code(0);
    assert_eq!(std::fs::read_to_string(&path).expect("read"), GOOD);
}

#[test]
fn fmt_missing_file_exits_2() {
    let dir = TempDir::new("fmt-missing");
    stackc(&dir, &["fmt", "no-such.stack.kdl"]).expect_code(2);
    stackc(&dir, &["fmt", "--check", "no-such.stack.kdl"]).expect_code(2);
}

// ---------------------------------------------------------------------------------------
// completions and usage
// ---------------------------------------------------------------------------------------

#[test]
fn completions_for_every_shell() {
    let dir = TempDir::new("completions");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = stackc(&dir, &["completions", shell]);
        run.expect_code(0).stdout_has("stackc");
    }
    stackc(&dir, &["completions", "no-such-shell"]).expect_code(2);
}

#[test]
fn usage_errors_exit_2() {
    let dir = TempDir::new("usage");
    dir.file("good.stack.kdl", GOOD);
    stackc(&dir, &[]).expect_code(2);
    stackc(&dir, &["no-such-command"]).expect_code(2);
    stackc(&dir, &["check"]).expect_code(2);
    stackc(&dir, &["check", "--bogus", "good.stack.kdl"]).expect_code(2);
    stackc(&dir, &["check", "--format", "xml", "good.stack.kdl"]).expect_code(2);
    stackc(&dir, &["graph", "--format", "png", "good.stack.kdl"]).expect_code(2);
    stackc(&dir, &["explain"]).expect_code(2);
    stackc(&dir, &["--help"]).expect_code(0).stdout_has("check");
    stackc(&dir, &["--version"]).expect_code(0).stdout_has("stackc");
}

#[test]
fn every_example_checks_clean() {
    let examples = repo_root().join("examples");
    let mut files: Vec<String> = std::fs::read_dir(&examples)
        .expect("examples/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".stack.kdl"))
        .collect();
    files.sort();
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    stackc_in(&examples, &args).expect_code(0).stderr_has(&format!("ok: {} files checked", files.len()));
}

#[test]
fn odd_inputs_never_crash() {
    let dir = TempDir::new("odd");
    let cases: &[(&str, &str)] = &[
        ("empty", ""),
        ("bom", "\u{feff}stack \"demo\"\n"),
        ("crlf", "stack \"demo\"\r\nservice \"web\" {\r\n    image \"nginx:1.27.0\"\r\n}\r\n"),
        ("kdl1", "stack \"demo\"\nservice \"web\" {\n    image \"nginx:1.27.0\"\n    read-only true\n}\n"),
        ("unclosed", "service \"web\" {\n"),
        ("stray-close", "}\n"),
        ("huge-int", "service \"web\" {\n    port 99999999999999999999999999\n}\n"),
        ("non-ascii", "service \"wéb\" {\n    image \"日本:🦀\"\n}\n"),
        ("nul", "service \"web\u{0}\" {\n}\n"),
    ];
    for (name, text) in cases {
        let file = format!("{name}.stack.kdl");
        dir.file(&file, text);
        for args in [
            vec!["check", file.as_str()],
            vec!["check", "--format", "json", file.as_str()],
            vec!["graph", file.as_str()],
            vec!["fmt", "--check", file.as_str()],
        ] {
            let run = stackc(&dir, &args);
            assert!([0, 1].contains(&run.code), "{}", run.dump());
            if args[1] == "--format" {
                json_records(&run);
            }
        }
    }
}

/// The kdl 6.7 parser recurses once per `/` or `*` inside a block comment and once per
/// level of `{` nesting; without the pre-scan (E0114) these inputs overflowed the stack and
/// aborted the process (SIGABRT, exit 134) from about 10 000 slashes or 5 000 levels.
/// Every command that parses refuses them with E0114 instead, quickly.
#[test]
fn deep_recursion_in_the_parser_does_not_crash() {
    let dir = TempDir::new("deep");
    let nest = |n: usize| format!("{}{}\n", "a {".repeat(n), "}".repeat(n));
    let cases = [
        ("comment-slashes", format!("stack \"demo\" /*{}*/\n", "/".repeat(100_000))),
        ("comment-stars", format!("/*\n{}\n*/\nstack \"demo\"\n", "*".repeat(100_000))),
        ("nesting", nest(10_000)),
        ("million-slashes", format!("stack \"demo\"\n/*{}*/\n", "/".repeat(1_000_000))),
        ("million-nested-comments", format!("/*{}\n", "/*".repeat(500_000))),
        ("deep-nesting", nest(100_000)),
        ("unclosed-nesting", "service \"web\" {\n".repeat(100_000)),
        (
            "mix",
            format!(
                "{}{}\n/*{}*/{}\n",
                "a \"{{\" /* { */ b {".repeat(20_000),
                "/-c {".repeat(1_000),
                "x*/*".repeat(250_000),
                "}".repeat(21_000)
            ),
        ),
        ("slashdash-nesting", format!("{}{}\n", "a /-{".repeat(40), "}".repeat(40))),
    ];
    for (name, text) in &cases {
        let file = format!("{name}.stack.kdl");
        dir.file(&file, text);
        for args in [
            vec!["check", file.as_str()],
            vec!["check", "--format", "json", file.as_str()],
            vec!["build", "--check", file.as_str()],
            vec!["graph", file.as_str()],
            vec!["fmt", "--check", file.as_str()],
        ] {
            let started = std::time::Instant::now();
            let run = stackc(&dir, &args);
            run.expect_code(1);
            let out = if args[1] == "--format" { &run.stdout } else { &run.stderr };
            assert!(out.contains("E0114"), "{name}: no E0114\n{}", run.dump());
            assert!(started.elapsed().as_secs() < 20, "{name}: took {:?}", started.elapsed());
        }
    }
}

/// The largest inputs within the limits parse (debug build included: the parser runs on
/// a stack of its own) and are reported like any other file.
#[test]
fn inputs_at_the_parser_limits_are_read() {
    let dir = TempDir::new("at-limits");
    let deep = format!("{}/*{}*/{}\n", "a {".repeat(64), "x*".repeat(2046), "}".repeat(64));
    let slashdashed = format!("stack \"demo\"\n{}{}\n", "a /-{".repeat(4), "}".repeat(4));
    for (name, text) in [("deep", deep), ("slashdashed", slashdashed)] {
        let file = format!("{name}.stack.kdl");
        dir.file(&file, &text);
        let run = stackc(&dir, &["check", file.as_str()]);
        run.stderr_lacks("E0114").stderr_lacks("E0100");
        assert!([0, 1].contains(&run.code), "{}", run.dump());
        stackc(&dir, &["fmt", "--check", file.as_str()]).stderr_lacks("E0114");
    }
}
