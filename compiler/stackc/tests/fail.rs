//! Every fixture in `tests/fail/` fails with the codes its first line names, and its
//! rendered report is snapshotted (fixed theme, no colour, fixed width).
//!
//! A fixture starts with `// expect: CODE[, CODE…]`; an optional second line
//! `// env: NAME` compiles it with `--env NAME`, and `// templates: NAME` builds it with the
//! template overrides in `tests/fail/templates/NAME/<target>/<name>.hbs` (as `--templates`),
//! for the targets those overrides belong to. With one expected code, no other error
//! may be reported; with several, every one must be reported in the same run (invariant 5)
//! and no error outside the list. Warnings of other codes are allowed (they are in the
//! snapshot). Invariant 4: every code of the catalogue has a fixture whose first line
//! names it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use stackc::diagnostics::{render_human, Code, RenderOptions, Severity};
use stackc::Options;

/// The header of a fixture: expected codes and the environment to compile.
struct Header {
    expect: Vec<String>,
    env: Option<String>,
    templates: Option<String>,
}

fn header(text: &str) -> Header {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let codes = first
        .strip_prefix("// expect:")
        .unwrap_or_else(|| panic!("the first line must be `// expect: CODE`, found {first:?}"));
    let expect: Vec<String> = codes.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect();
    assert!(!expect.is_empty(), "`// expect:` names no code");
    let mut env = None;
    let mut templates = None;
    for line in lines.take(2) {
        if let Some(e) = line.strip_prefix("// env:") {
            env = Some(e.trim().to_string());
        } else if let Some(t) = line.strip_prefix("// templates:") {
            templates = Some(t.trim().to_string());
        }
    }
    Header { expect, env, templates }
}

/// The overrides of `tests/fail/templates/NAME`, keyed `target/name` as `--templates` keys them.
fn read_templates(name: &str) -> BTreeMap<String, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fail/templates").join(name);
    let mut out = BTreeMap::new();
    for target in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let target = target.expect("a directory entry").path();
        for file in std::fs::read_dir(&target).expect("a target directory") {
            let file = file.expect("a directory entry").path();
            let stem = file.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".hbs"));
            let t = target.file_name().and_then(|n| n.to_str());
            if let (Some(t), Some(stem)) = (t, stem) {
                out.insert(format!("{t}/{stem}"), std::fs::read_to_string(&file).expect("a readable template"));
            }
        }
    }
    out
}

/// `tests/fail/NAME`: the name passed to `compile`, so snapshots do not depend on the machine.
fn relative(path: &Path) -> String {
    format!("tests/fail/{}", path.file_name().and_then(|n| n.to_str()).expect("a UTF-8 file name"))
}

fn fixtures() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fail");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/fail exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(".stack.kdl")))
        .collect();
    out.sort();
    out
}

/// Target codes (E05xx, W05xx) come from the emitters, so those fixtures are built: for the
/// targets of their template overrides when they have some, else for compose; all others
/// are only compiled.
fn run(
    name: &str,
    text: &str,
    expect: &[String],
    env: Option<String>,
    templates: BTreeMap<String, String>,
) -> stackc::Outcome {
    use stackc::ir::TargetKind;
    let opts = Options { env, ..Default::default() };
    if expect.iter().any(|c| c.starts_with("E05") || c.starts_with("W05")) {
        let mut targets: Vec<TargetKind> = templates
            .keys()
            .filter_map(|k| match k.split('/').next() {
                Some("nginx") => Some(TargetKind::Nginx),
                Some("caddy") => Some(TargetKind::Caddy),
                _ => None,
            })
            .collect();
        targets.dedup();
        if targets.is_empty() {
            targets.push(TargetKind::Compose);
        }
        let emit = stackc::emit::EmitOptions { targets: Some(targets), templates, ..Default::default() };
        stackc::build(name, text, &opts, &emit).outcome
    } else {
        stackc::compile(name, text, &opts)
    }
}

#[test]
fn fixtures_fail_with_their_codes() {
    // Problems are collected so that one run reports (and snapshots) every fixture.
    let mut problems: Vec<String> = Vec::new();
    insta::glob!("fail/*.stack.kdl", |path| {
        let text = std::fs::read_to_string(path).expect("fixture is readable");
        let name = relative(path);
        let Header { expect, env, templates } = header(&text);
        let templates = templates.map(|t| read_templates(&t)).unwrap_or_default();
        let outcome = run(&name, &text, &expect, env, templates);

        let found: BTreeSet<&str> = outcome.diagnostics.iter().map(|d| d.code.as_str()).collect();
        let errors: BTreeSet<&str> =
            outcome.diagnostics.iter().filter(|d| d.severity == Severity::Error).map(|d| d.code.as_str()).collect();
        for code in &expect {
            if !found.contains(code.as_str()) {
                problems.push(format!("{name}: expected {code}, found {found:?}"));
            }
        }
        let unexpected: Vec<&&str> = errors.iter().filter(|c| !expect.iter().any(|e| e == **c)).collect();
        if !unexpected.is_empty() {
            problems.push(format!("{name}: unexpected errors {unexpected:?} (expected {expect:?})"));
        }
        if !outcome.has_errors() {
            problems.push(format!("{name}: compiled without errors"));
        }
        // Errors that only an environment produces leave the base's IR (the run fails on
        // them all the same); any other error withholds it.
        let base_error = outcome.diagnostics.iter().any(|d| d.is_error() && !d.message.starts_with("in environment"));
        if outcome.stack.is_some() == base_error {
            problems.push(format!(
                "{name}: the base's IR must be there exactly when only environments have errors (IR: {})",
                outcome.stack.is_some()
            ));
        }

        let opts = RenderOptions { color: false, unicode: true, width: 100 };
        let report: Vec<String> = outcome.diagnostics.iter().map(|d| render_human(d, &outcome.sources, opts)).collect();
        insta::assert_snapshot!(report.join("\n"));
    });
    assert!(problems.is_empty(), "{} fixture problem(s):\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn every_code_has_a_fixture() {
    let mut named: BTreeSet<String> = BTreeSet::new();
    for path in fixtures() {
        let text = std::fs::read_to_string(&path).expect("fixture is readable");
        let h = header(&text);
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let prefix = file.split('_').next().unwrap_or_default();
        assert!(
            Code::ALL.iter().any(|c| c.as_str() == prefix),
            "{file}: the file name must start with a catalogue code"
        );
        assert!(h.expect.iter().any(|c| c == prefix), "{file}: the first expected code must match the file name");
        for code in h.expect {
            assert!(Code::ALL.iter().any(|c| c.as_str() == code), "{file}: `{code}` is not in the catalogue");
            named.insert(code);
        }
    }
    let missing: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).filter(|c| !named.contains(*c)).collect();
    assert!(missing.is_empty(), "codes without a failing fixture in tests/fail: {missing:?}");
    // Each code also has a fixture of its own (named after it).
    let own: BTreeSet<String> =
        fixtures().iter().filter_map(|p| p.file_name()?.to_str()?.split('_').next().map(str::to_string)).collect();
    let missing_own: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).filter(|c| !own.contains(*c)).collect();
    assert!(missing_own.is_empty(), "codes without a fixture named after them: {missing_own:?}");
}

#[test]
fn fixtures_are_numerous_and_some_show_several_errors() {
    let all = fixtures();
    assert!(all.len() >= 50, "only {} fixtures", all.len());
    let multi = all
        .iter()
        .filter(|p| header(&std::fs::read_to_string(p).expect("fixture is readable")).expect.len() > 1)
        .count();
    assert!(multi >= 3, "only {multi} fixtures show several independent errors in one run");
}

#[test]
fn catalogue_is_consistent() {
    let mut codes = BTreeSet::new();
    let mut names = BTreeSet::new();
    for c in Code::ALL {
        let info = c.info();
        assert!(codes.insert(info.code), "code {} is listed twice", info.code);
        assert!(names.insert(info.name), "name {} is used twice", info.name);
        let well_formed = info.code.len() == 5
            && (info.code.starts_with('E') || info.code.starts_with('W'))
            && info.code[1..].bytes().all(|b| b.is_ascii_digit());
        assert!(well_formed, "{} is not of the form E0000 / W0000", info.code);
        assert!(
            info.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{}: name `{}` is not kebab-case",
            info.code,
            info.name
        );
        assert!(!info.summary.is_empty() && !info.summary.ends_with('.'), "{}: summary style", info.code);
        assert_eq!(Code::from_str_code(info.code), Some(*c));
        assert_eq!(Code::from_str_code(info.name), Some(*c));

        let text = info.explanation;
        let title = format!("# {} {}", info.code, info.name);
        assert_eq!(text.lines().next(), Some(title.as_str()), "{}: the page must start with `{title}`", info.code);
        let body: Vec<&str> = text.lines().skip(1).filter(|l| !l.trim().is_empty()).collect();
        assert!(body.len() >= 5, "{}: the explanation is only a title line", info.code);
        assert!(text.contains("```kdl"), "{}: the explanation has no ```kdl example", info.code);
    }
}

/// `docs/diagnostics.md` lists every code of the catalogue, with its name, and links its page.
#[test]
fn diagnostics_index_lists_every_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/diagnostics.md");
    let index = std::fs::read_to_string(&path).expect("docs/diagnostics.md exists");
    for c in Code::ALL {
        let info = c.info();
        let row = format!("| [{0}](diagnostics/{0}.md) | `{1}` |", info.code, info.name);
        assert!(index.contains(&row), "docs/diagnostics.md has no row starting `{row}`");
    }
}

/// The first ```kdl block of each explanation page shows the code, the second (the fix)
/// does not: `stackc explain` never prints an example that does not do what it says.
#[test]
fn explanation_examples_show_their_code() {
    let mut problems = Vec::new();
    for c in Code::ALL {
        let info = c.info();
        let blocks: Vec<&str> =
            info.explanation.split("```kdl\n").skip(1).filter_map(|b| b.split("```").next()).collect();
        // E0209 comes from `--env`; its page uses `--env prod`.
        let env = (*c == Code::UnknownEnvironment).then(|| "prod".to_string());
        // E0502 comes from `--templates`: its page shows the broken override and the fixed
        // one as ```handlebars blocks (an `nginx/location` override), used with the kdl blocks.
        let hbs: Vec<&str> =
            info.explanation.split("```handlebars\n").skip(1).filter_map(|b| b.split("```").next()).collect();
        let templates = |i: usize| -> BTreeMap<String, String> {
            hbs.get(i).map(|t| BTreeMap::from([("nginx/location".to_string(), t.to_string())])).unwrap_or_default()
        };
        let codes = |src: &str, i: usize| -> BTreeSet<&'static str> {
            let expect = vec![info.code.to_string()];
            run("example.stack.kdl", src, &expect, env.clone(), templates(i))
                .diagnostics
                .iter()
                .map(|d| d.code.as_str())
                .collect()
        };
        match blocks.as_slice() {
            [failing, fixed, ..] => {
                let found = codes(failing, 0);
                if !found.contains(info.code) {
                    problems.push(format!("{}: the example does not report it (found {found:?})", info.code));
                }
                let after = codes(fixed, 1);
                if after.contains(info.code) {
                    problems.push(format!("{}: the fixed example still reports it", info.code));
                }
            }
            _ => problems.push(format!("{}: the page needs a failing and a fixed ```kdl example", info.code)),
        }
    }
    assert!(problems.is_empty(), "{} explanation page problem(s):\n{}", problems.len(), problems.join("\n"));
}
