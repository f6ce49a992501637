//! Syntax errors show their real cause, at its position: the parser's own error (E0100) is
//! never hidden by a KDL 1 spelling elsewhere, and E0101 appears only where a KDL 1 form
//! really is. Checked on the attack cases and on every invalid document of the KDL 2
//! specification's test suite (vendored in `tests/kdl-spec`).

mod support;

use stackc::diagnostics::Code;
use support::{in_ci, root};

/// Code, 1-based line and column, message and help of every diagnostic of `text`.
fn report(text: &str) -> Vec<(&'static str, usize, usize, String, String)> {
    let out = stackc::compile("t.stack.kdl", text, &stackc::Options::default());
    let file = out.sources.get(stackc::source::SourceId(0));
    out.diagnostics
        .iter()
        .map(|d| {
            let (line, col) = d.primary.as_ref().map(|p| file.line_col(p.span.offset)).unwrap_or((0, 0));
            (d.code.as_str(), line, col, d.message.clone(), d.help.clone().unwrap_or_default())
        })
        .collect()
}

fn codes(text: &str) -> Vec<(&'static str, usize)> {
    report(text).into_iter().map(|(c, l, ..)| (c, l)).collect()
}

/// The attack's files: each has one syntax error, and it alone is reported, where it is.
/// - `{{` used to be reported only as "`true` is the KDL 1 spelling" on a valid `#true`;
/// - an unterminated string used to give an E0101 for every `"true"` after it, and never
///   mention the string;
/// - the parser's error for a newline in a single-line raw string spans the file from its
///   first byte; it is reported at the string instead.
#[test]
fn each_syntax_error_is_reported_alone_where_it_is() {
    let cases: &[(&str, usize, usize, &str, &str)] = &[
        (
            "stack \"s\"\nservice \"a\" {{\n    image \"nginx:1\"\n}\nservice \"b\" {\n    image \"nginx:1\"\n    mount \"x\" \"/y\" read-only=#true\n}\n",
            2,
            14,
            "found child block instead of node name",
            "did you forget to add the node name",
        ),
        (
            "stack \"s\"\nservice \"web\" {\n    image \"nginx:1.27\n    port 80 name=\"http\"\n    env DEBUG=\"true\" MODE=\"null\"\n    health cmd=\"test true\" interval=\"10s\"\n}\nservice \"db\" {\n    image \"postgres:16\"\n    env X=\"false\"\n}\n",
            3,
            11,
            "unexpected newline in single-line quoted string",
            "wrapping it in `\"\"\"`",
        ),
        (
            "stack \"s\"\nservice \"web\" {\n    image \"nginx:1.27\"\n    health cmd=#\"curl -f\n http://localhost/\"# interval=\"10s\"\n    env A=\"true\"\n}\nservice \"db\" {\n    image \"postgres:16\"\n    mount \"x\" \"/y\" read-only=#false\n}\n",
            4,
            16,
            "unexpected newline in single-line raw string",
            "`#\"\"\"`",
        ),
    ];
    for (text, line, col, message, help) in cases {
        let r = report(text);
        assert_eq!(r.len(), 1, "{text}\n{r:#?}");
        assert_eq!((r[0].0, r[0].1, r[0].2, r[0].3.as_str()), ("E0100", *line, *col, *message), "{text}");
        assert!(r[0].4.contains(help), "{text}\n{}", r[0].4);
    }
}

/// KDL 1 spellings and an unrelated syntax error: each is reported, at its place; the
/// parser's confusion inside the KDL 1 raw string is not.
#[test]
fn kdl1_forms_and_other_errors_are_all_reported() {
    let text = "a k=true\nb r#\"x {\"#\nc \"open\nd null\ne {\n";
    assert_eq!(codes(text), vec![("E0101", 1), ("E0101", 2), ("E0100", 3), ("E0101", 4), ("E0100", 5)]);
    let r = report(text);
    assert_eq!(r[1].4, "write `#\"x {\"#` (KDL 2)");
    // In comments and strings nothing is KDL 1, nor is a keyword or a property key.
    let clean = "// true\n/* null */ a \"true\" #\"false\"# (t)\"x\" #true\nb {\n";
    assert_eq!(codes(clean), vec![("E0100", 3)]);
}

/// The suite's documents with KDL 1 spellings, and the codes they get: the raw strings
/// E0101 alone, since writing them in KDL 2 fixes the file; `node ( )false` an E0101 for
/// `false` beside the E0100 for the empty type.
const KDL1: &[(&str, &[Code])] = &[
    ("legacy_raw_string_fail.kdl", &[Code::KdlV1]),
    ("legacy_raw_string_hash_fail.kdl", &[Code::KdlV1]),
    ("just_space_in_arg_type_fail.kdl", &[Code::KdlV1, Code::KdlSyntax]),
];

/// The suite's documents, vendored (`None`, and NOT RUN, outside CI if they were missing).
fn suite() -> Option<std::path::PathBuf> {
    let dir = root().join("compiler/stackc/tests/kdl-spec/input");
    if !dir.is_dir() {
        assert!(!in_ci(), "{} is missing", dir.display());
        eprintln!("NOT RUN: {} is missing", dir.display());
        return None;
    }
    Some(dir)
}

#[test]
fn every_invalid_document_of_the_kdl_suite_gets_a_syntax_error_where_it_is() {
    let Some(dir) = suite() else { return };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the suite is readable")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with("_fail.kdl"))
        .collect();
    names.sort();
    assert!(names.len() >= 90, "only {} invalid documents", names.len());
    let mut problems = Vec::new();
    for name in &names {
        let text = std::fs::read_to_string(dir.join(name)).expect("readable");
        let (doc, diags) = stackc::syntax::parse(stackc::source::SourceId(0), &text);
        let mut found: Vec<Code> = diags.iter().map(|d| d.code).collect();
        found.dedup();
        let want = KDL1.iter().find(|(n, _)| n == name).map_or(&[Code::KdlSyntax][..], |(_, c)| c);
        if doc.is_some() || found != want {
            problems.push(format!("{name}: expected {want:?}, found {found:?}"));
            continue;
        }
        // Sensible positions: inside the file, and never on a comment line (the suite's
        // files start with a comment that names the bad character on the next line).
        for d in &diags {
            let span = d.primary.as_ref().expect("a syntax error has a position").span;
            let line_start = text[..span.offset.min(text.len())].rfind('\n').map_or(0, |p| p + 1);
            let line = text[line_start..].lines().next().unwrap_or_default();
            if span.end() > text.len() || line.trim_start().starts_with("//") {
                problems.push(format!("{name}: {} at {}+{} ({line:?})", d.message, span.offset, span.len));
            }
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

/// The tokeniser behind E0101 agrees with the parser on every valid document of the suite
/// (strings, raw strings, comments, slashdash, keywords): with a broken string appended,
/// the one error is that string, and nothing in the document is taken for KDL 1.
#[test]
fn valid_kdl2_documents_have_no_kdl1_forms() {
    let Some(dir) = suite() else { return };
    let mut checked = 0;
    let mut problems = Vec::new();
    for e in std::fs::read_dir(&dir).expect("the suite is readable") {
        let path = e.expect("a directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let text = std::fs::read_to_string(&path).expect("readable");
        if name.ends_with("_fail.kdl") || stackc::syntax::parse(stackc::source::SourceId(0), &text).0.is_none() {
            continue;
        }
        let broken = format!("{text}\nbroken \"string\n");
        let (_, diags) = stackc::syntax::parse(stackc::source::SourceId(0), &broken);
        let found: Vec<(Code, usize)> =
            diags.iter().map(|d| (d.code, d.primary.as_ref().map_or(0, |p| p.span.offset))).collect();
        if found != [(Code::KdlSyntax, text.len() + 8)] {
            problems.push(format!("{name}: {found:?}"));
        }
        checked += 1;
    }
    assert!(checked > 200, "only {checked} documents");
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

/// The reader reads valid documents and the `kdl` crate reports the errors of the others;
/// where the crate is stricter than KDL 2 (a `/-` glued to the token before it) or more
/// lenient (U+007F, code points forbidden in comments), neither its false error nor a
/// vague one is reported: the real error is, where it is.
#[test]
fn the_kdl_crates_deviations_do_not_reach_the_report() {
    let glued = "stack \"s\"/-\"x\"\nservice \"a\" {\n    image \"nginx:1/-\"/-2\n    port \"open\n}\n";
    let r = report(glued);
    assert_eq!(r.iter().map(|d| (d.0, d.1, d.2)).collect::<Vec<_>>(), vec![("E0100", 4, 10)], "{r:#?}");
    let del = "stack \"s\"\n// a comment with a \u{7f}\n";
    let r = report(del);
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!((r[0].0, r[0].1, r[0].2), ("E0100", 2, 21));
    assert_eq!(r[0].3, "the code point U+007F is not allowed in KDL");
}
