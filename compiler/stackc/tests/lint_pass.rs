//! The passing half of every policy lint's fixture pair: each file in `tests/lint_pass/`
//! starts with `// passes: CODE` and is the fixed form of `tests/fail/CODE_*` (same name):
//! with the lint denied (`-D NAME`, which also turns an opt-in lint on), in the base and
//! in every environment, it reports no error and nothing of that code.

use std::path::Path;

use stackc::diagnostics::Code;
use stackc::validate::lints::{Level, LintConfig};
use stackc::Options;

#[test]
fn every_lint_fixture_has_a_passing_twin() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint_pass");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    files.sort();
    assert!(files.len() >= 11, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.lines().next().and_then(|l| l.strip_prefix("// passes: ")).expect("`// passes: CODE` first");
        let code = Code::from_str_code(code).unwrap_or_else(|| panic!("{}: unknown code {code}", path.display()));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let twin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fail").join(&name);
        assert!(twin.is_file(), "{name}: no failing fixture tests/fail/{name}");
        let lints = LintConfig { overrides: vec![(code.info().name.to_string(), Level::Deny)] };
        let out = stackc::check(&name, &text, &Options { env: None, lints });
        let bad: Vec<String> = out
            .diagnostics
            .iter()
            .filter(|d| d.is_error() || d.code == code)
            .map(|d| format!("{} {}", d.code.as_str(), d.message))
            .collect();
        assert!(bad.is_empty(), "{name}: {bad:#?}");
    }
}
