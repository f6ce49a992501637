//! What `stackc` prints stays bounded and agrees between `--format human` and `--format
//! json`, for inputs that once crashed it (exit 101) or flooded the terminal: a label past
//! column 65 535, KDL line breaks other than LF, 20 000 `)` in a row, a 1 MB node name,
//! hundreds of errors, and a file that is not UTF-8.

use std::path::PathBuf;
use std::process::Command;

/// Reports of these inputs stay well below this many bytes.
const BOUND: usize = 200_000;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Writes `contents` as `name` in a directory of the test's own and runs `stackc args… name`.
fn stackc(test: &str, name: &str, contents: &[u8], args: &[&str]) -> Run {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("output_bounds").join(test);
    std::fs::create_dir_all(&dir).expect("create the test directory");
    std::fs::write(dir.join(name), contents).expect("write the stack file");
    let out = Command::new(env!("CARGO_BIN_EXE_stackc"))
        .current_dir(&dir)
        .args(args)
        .arg(name)
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1")
        .output()
        .expect("run stackc");
    let code = out.status.code().expect("stackc exited (no signal)");
    assert_ne!(code, 101, "stackc panicked:\n{}", String::from_utf8_lossy(&out.stderr));
    Run {
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The JSON Lines records of a run.
fn records(run: &Run) -> Vec<serde_json::Value> {
    run.stdout.lines().map(|l| serde_json::from_str(l).expect("a JSON record")).collect()
}

/// `check` in both formats: same exit code; the human report's `file:line:col` headers are
/// the JSON records' positions.
fn check_both(test: &str, name: &str, contents: &[u8]) -> (Run, Run) {
    let human = stackc(test, name, contents, &["check"]);
    let json = stackc(test, name, contents, &["check", "--format", "json"]);
    assert_eq!(human.code, json.code, "exit codes of human and json:\n{}", human.stderr);
    let positions: Vec<String> = records(&json)
        .iter()
        .filter(|r| r["line"].is_u64())
        .map(|r| format!("{name}:{}:{}]", r["line"], r["column"]))
        .collect();
    for p in &positions {
        assert!(human.stderr.contains(p.as_str()), "human lacks {p}:\n{}", human.stderr);
    }
    (human, json)
}

#[test]
fn a_warning_past_column_65535_does_not_crash_check_or_build() {
    let pad = format!("/*{}*/ ", "x".repeat(70_000));
    let text = format!("stack \"shop\"\n\nservice \"web\" {{\n    {pad}image \"nginx\"\n    port 80\n}}\n");
    let (human, _) = check_both("long", "long.stack.kdl", text.as_bytes());
    assert_eq!(human.code, 0);
    assert!(human.stderr.contains("long.stack.kdl:4:70016]"), "{}", human.stderr);
    assert!(human.stderr.len() < 5_000, "{} bytes", human.stderr.len());
    let build = stackc("long", "long.stack.kdl", text.as_bytes(), &["build", "--target", "compose"]);
    assert_eq!(build.code, 0, "{}", build.stderr);
    assert!(build.stderr.contains("W0103"), "{}", build.stderr);
}

#[test]
fn line_separators_count_as_lines_in_both_formats() {
    let text =
        ["stack \"shop\"", "", "service \"web\" {", "    image \"nginx\"", "    port 80", "}", ""].join("\u{2028}");
    let (human, json) = check_both("ls", "ls.stack.kdl", text.as_bytes());
    assert_eq!(human.code, 0);
    let lines: Vec<u64> = records(&json).iter().filter_map(|r| r["line"].as_u64()).collect();
    assert_eq!(lines, vec![3, 4]);
}

/// `check` of a stack with errors, in both formats: exit 1 and less than [`BOUND`] bytes.
fn short_failure(test: &str, text: &str) -> Run {
    let (human, json) = check_both(test, &format!("{test}.stack.kdl"), text.as_bytes());
    assert_eq!(human.code, 1);
    assert!(human.stderr.len() < BOUND, "{} bytes of stderr", human.stderr.len());
    assert!(json.stdout.len() < BOUND, "{} bytes of JSON", json.stdout.len());
    human
}

#[test]
fn twenty_thousand_parens_make_one_short_report() {
    let human = short_failure("parens", &format!("a{}\n", ")".repeat(20_000)));
    assert!(human.stderr.contains("reported 10000 times on this line"), "{}", human.stderr);
    assert!(human.stderr.ends_with("error: 1 error and 0 warnings in 1 file\n"), "{}", human.stderr);
}

#[test]
fn a_one_megabyte_name_makes_a_short_report() {
    let human = short_failure("name", &format!("{}\n", "x".repeat(1_000_000)));
    assert!(human.stderr.contains(&format!("unknown node `{}…`", "x".repeat(59))), "{}", human.stderr);
}

#[test]
fn hundreds_of_errors_are_cut_after_one_hundred_and_counted() {
    let text: String = (0..150).map(|i| format!("bogus-{i}\n")).collect();
    let (human, json) = check_both("many", "many.stack.kdl", text.as_bytes());
    assert_eq!(human.code, 1);
    assert_eq!(human.stderr.matches("E0102(unknown-node)").count(), 100);
    assert!(
        human.stderr.ends_with("… and 50 more errors (not shown)\nerror: 150 errors and 0 warnings in 1 file\n"),
        "{}",
        &human.stderr[human.stderr.len().saturating_sub(300)..]
    );
    let records = records(&json);
    assert_eq!(records.len(), 101);
    let last = &records[100];
    assert_eq!(last["truncated"], true);
    assert_eq!(last["not_shown"], 50);
    assert_eq!(last["errors"], 50);
    assert_eq!(last["file"], "many.stack.kdl");
}

const LATIN1: &[u8] = b"stack \"shop\"\nservice \"caf\xe9\" {\n}\n";

#[test]
fn a_latin1_byte_is_an_error_with_its_line_and_column() {
    let (human, json) = check_both("latin1", "latin1.stack.kdl", LATIN1);
    assert_eq!(human.code, 1);
    assert!(human.stderr.contains("E0100(kdl-syntax)"), "{}", human.stderr);
    assert!(human.stderr.contains("latin1.stack.kdl:2:13]"), "{}", human.stderr);
    assert!(human.stderr.contains("byte 0xE9 at offset 25"), "{}", human.stderr);
    assert!(human.stderr.ends_with("error: 1 error and 0 warnings in 1 file\n"), "{}", human.stderr);
    let records = records(&json);
    assert_eq!(records.len(), 1);
    assert_eq!(
        (&records[0]["code"], &records[0]["line"], &records[0]["column"]),
        (&"E0100".into(), &2.into(), &13.into())
    );
}

#[test]
fn build_reports_a_latin1_byte_like_check() {
    let human = stackc("latin1-build", "latin1.stack.kdl", LATIN1, &["build"]);
    assert_eq!(human.code, 1, "{}", human.stderr);
    assert!(human.stderr.contains("latin1.stack.kdl:2:13]"), "{}", human.stderr);
    let json = stackc("latin1-build", "latin1.stack.kdl", LATIN1, &["build", "--format", "json"]);
    assert_eq!(json.code, 1, "{}", json.stderr);
    assert_eq!(records(&json)[0]["line"], 2);
}

#[test]
fn fmt_reports_a_latin1_byte_like_check_and_leaves_the_file_alone() {
    let out = stackc("latin1-fmt", "latin1.stack.kdl", LATIN1, &["fmt"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("E0100(kdl-syntax)"), "{}", out.stderr);
    assert!(out.stderr.contains("latin1.stack.kdl:2:13]"), "{}", out.stderr);
    let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("output_bounds/latin1-fmt/latin1.stack.kdl");
    assert_eq!(std::fs::read(file).expect("the stack file"), LATIN1);
    let check = stackc("latin1-fmt", "latin1.stack.kdl", LATIN1, &["fmt", "--check"]);
    assert_eq!(check.code, 1, "{}", check.stderr);
    assert!(check.stderr.contains("byte 0xE9 at offset 25"), "{}", check.stderr);
}
