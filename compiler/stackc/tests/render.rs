//! Rendered reports stay correct and small whatever the input: a label on a 70 000-column
//! line, KDL's other line breaks, a flood of parser errors, a 1 MB name, labels far apart,
//! a file that is not UTF-8, and spans anywhere in any text.

use stackc::diagnostics::{
    render_human, render_human_report, render_json, render_json_report, Code, Diagnostic, RenderOptions, MAX_SHOWN,
};
use stackc::source::{SourceMap, Span};
use stackc::{Options, Outcome};

const OPTS: RenderOptions = RenderOptions { color: false, unicode: true, width: 100 };

fn compile(name: &str, text: &str) -> Outcome {
    stackc::compile(name, text, &Options::default())
}

/// The `file:line:col` of each snippet header (`╭─[file:line:col]`) of a report.
fn headers(report: &str) -> Vec<(usize, usize)> {
    report
        .lines()
        .filter_map(|l| l.split_once("╭─[").map(|(_, rest)| rest.trim_end_matches(']')))
        .map(|pos| {
            let mut parts = pos.rsplitn(3, ':');
            let col = parts.next().and_then(|c| c.parse().ok()).expect("a column");
            let line = parts.next().and_then(|l| l.parse().ok()).expect("a line");
            (line, col)
        })
        .collect()
}

/// (line, column) of each diagnostic's primary span as `--format json` gives it.
fn json_positions(out: &Outcome) -> Vec<(usize, usize)> {
    out.diagnostics
        .iter()
        .map(|d| {
            let j = render_json(d, &out.sources);
            (j["line"].as_u64().expect("line") as usize, j["column"].as_u64().expect("column") as usize)
        })
        .collect()
}

fn report(out: &Outcome) -> String {
    render_human_report(&out.diagnostics, &out.sources, OPTS)
}

/// A valid stack whose `image` (warned about: no tag) starts past column 70 000.
fn long_line_stack() -> String {
    let pad = format!("/*{}*/ ", "x".repeat(70_000));
    format!("stack \"shop\"\n\nservice \"web\" {{\n    {pad}image \"nginx\"\n    port 80\n}}\n")
}

#[test]
fn a_label_past_column_65535_renders_a_window_of_its_line() {
    let text = long_line_stack();
    let out = compile("long.stack.kdl", &text);
    assert!(!out.has_errors(), "{:?}", out.diagnostics);
    let w = out.diagnostics.iter().find(|d| d.code == Code::LatestTag).expect("W0103");
    let rendered = render_human(w, &out.sources, OPTS);
    let column = text.lines().nth(3).and_then(|l| l.find("\"nginx\"")).expect("the image") + 1;
    assert!(column > 65_535);
    assert_eq!(headers(&rendered), vec![(4, column)]);
    assert_eq!(json_positions(&out)[1], (4, column));
    assert!(rendered.len() < 2_000, "{} bytes", rendered.len());
    assert!(rendered.contains("…xxx"), "the cut is marked:\n{rendered}");
    assert!(rendered.contains("*/ image \"nginx\""), "the label's text is shown:\n{rendered}");
    insta::assert_snapshot!(rendered);
}

#[test]
fn human_and_json_count_lines_as_kdl_does() {
    let lines = ["stack \"shop\"", "", "service \"web\" {", "    image \"nginx\"", "    port 80", "}", ""];
    for (what, sep) in
        [("LF", "\n"), ("CRLF", "\r\n"), ("CR", "\r"), ("NEL", "\u{85}"), ("FF", "\u{c}"), ("LS", "\u{2028}")]
    {
        let out = compile("seps.stack.kdl", &lines.join(sep));
        let human = report(&out);
        // W0102 on `"web"` (line 3, column 9) and W0103 on `"nginx"` (line 4, column 11).
        assert_eq!(json_positions(&out), vec![(3, 9), (4, 11)], "{what}");
        assert_eq!(headers(&human), vec![(3, 9), (4, 11)], "{what}:\n{human}");
        assert!(human.contains(" 4 │     image \"nginx\""), "{what}: gutter line numbers:\n{human}");
    }
}

#[test]
fn one_error_repeated_on_a_line_is_one_diagnostic() {
    let text = format!("a{}\n", ")".repeat(20_000));
    let out = compile("paren.stack.kdl", &text);
    assert_eq!(out.diagnostics.len(), 1, "{:?}", out.diagnostics.iter().take(3).collect::<Vec<_>>());
    let d = &out.diagnostics[0];
    assert_eq!(d.code, Code::KdlSyntax);
    assert_eq!(d.message, "expected end of document (reported 10000 times on this line)");
    let rendered = report(&out);
    assert!(rendered.len() < 2_000, "{} bytes", rendered.len());
    insta::assert_snapshot!(rendered);
}

#[test]
fn quoted_values_are_shortened() {
    let text = format!("{}\n", "x".repeat(1_000_000));
    let out = compile("name.stack.kdl", &text);
    let d = &out.diagnostics[0];
    assert_eq!(d.code, Code::UnknownNode);
    let quoted = format!("`{}…`", "x".repeat(59));
    assert_eq!(d.message, format!("unknown node {quoted}"));
    let rendered = report(&out);
    assert!(rendered.len() < 2_000, "{} bytes", rendered.len());
    insta::assert_snapshot!(rendered);
    assert_eq!(stackc::diagnostics::quote("short"), "`short`");
}

/// `n` unknown nodes, one a line: `n` errors that are not repeats of each other.
fn many_errors(n: usize) -> Outcome {
    let text: String = (0..n).map(|i| format!("bogus-{i}\n")).collect();
    compile("many.stack.kdl", &text)
}

#[test]
fn reports_stop_after_max_shown_and_count_the_rest() {
    let out = many_errors(MAX_SHOWN + 50);
    assert_eq!(out.diagnostics.len(), MAX_SHOWN + 50);
    let human = report(&out);
    assert_eq!(human.matches("E0102(unknown-node)").count(), MAX_SHOWN);
    assert!(human.ends_with("… and 50 more errors (not shown)\n"), "{}", &human[human.len() - 200..]);

    let json = render_json_report(&out.diagnostics, &out.sources);
    assert_eq!(json.len(), MAX_SHOWN + 1);
    let last = &json[MAX_SHOWN];
    assert_eq!(last["truncated"], true);
    assert_eq!(
        (last["not_shown"].as_u64(), last["errors"].as_u64(), last["warnings"].as_u64()),
        (Some(50), Some(50), Some(0))
    );
    assert!(last.get("code").is_none());

    // At the limit, nothing is cut.
    let out = many_errors(MAX_SHOWN);
    assert!(!report(&out).contains("not shown"));
    assert_eq!(render_json_report(&out.diagnostics, &out.sources).len(), MAX_SHOWN);
}

#[test]
fn labels_far_apart_get_a_snippet_each() {
    let mut text = String::from("stack \"shop\"\n\nservice \"a\" {\n    image \"a:1\"\n    depends-on \"b\"\n");
    text.push_str(&"    // filler\n".repeat(40));
    text.push_str("}\n\nservice \"b\" {\n    image \"b:1\"\n    depends-on \"a\"\n}\n");
    let out = compile("cycle.stack.kdl", &text);
    let cycle = out.diagnostics.iter().find(|d| d.code == Code::DependencyCycle).expect("E0401");
    let rendered = render_human(cycle, &out.sources, OPTS);
    assert_eq!(headers(&rendered), vec![(5, 5), (50, 5)]);
    // One line of context each side, not the 40 lines between.
    assert_eq!(rendered.matches("filler").count(), 1, "lines between the labels are not shown:\n{rendered}");
    insta::assert_snapshot!(rendered);
}

#[test]
fn invalid_utf8_is_a_diagnostic_with_its_position() {
    let bytes = b"stack \"shop\"\nservice \"caf\xe9\" {\n}\n".to_vec();
    let out = stackc::decode("latin1.stack.kdl", bytes).expect_err("not UTF-8");
    assert_eq!(out.diagnostics.len(), 1);
    let d = &out.diagnostics[0];
    assert_eq!(d.code, Code::KdlSyntax);
    assert!(d.message.contains("byte 0xE9 at offset 25"), "{}", d.message);
    assert_eq!(json_positions(&out), vec![(2, 13)]);
    let rendered = report(&out);
    assert_eq!(headers(&rendered), vec![(2, 13)]);
    insta::assert_snapshot!(rendered);
    assert_eq!(stackc::decode("ok.stack.kdl", b"stack \"s\"\n".to_vec()).ok().as_deref(), Some("stack \"s\"\n"));
}

/// Every span over a text with CRLF, lone CR, LS, tabs, multi-byte characters and a long
/// line renders through miette (not the one-line fallback) and stays small.
#[test]
fn any_span_in_any_text_renders() {
    let long = "é".repeat(300);
    let text = format!("a\r\nb\rc\u{2028}\td👋e\n{long}\n\nend");
    let mut map = SourceMap::new();
    let id = map.add("odd.stack.kdl", text.clone());
    // Every offset of the odd start (inside CRLF, inside `👋`), then a sample.
    for offset in (0..24).chain((24..=text.len() + 2).step_by(7)) {
        for len in [0, 1, 2, 5, 400, 2_000] {
            let d = Diagnostic::error(Code::KdlSyntax, "somewhere")
                .at(Span::new(id, offset, len), "here")
                .label(Span::new(id, text.len() - offset.min(text.len()), 1), "there");
            let rendered = render_human(&d, &map, OPTS);
            assert!(rendered.contains("╭─["), "offset {offset} len {len}:\n{rendered}");
            assert!(rendered.len() < 4_000, "offset {offset} len {len}: {} bytes", rendered.len());
        }
    }
}

/// `COLUMNS` is the user's: a huge width must not reach miette's formatting.
#[test]
fn huge_widths_are_clamped() {
    let out = many_errors(1);
    let wide = RenderOptions { width: usize::MAX, ..OPTS };
    assert!(render_human(&out.diagnostics[0], &out.sources, wide).contains("bogus-0"));
}

/// A cycle through 500 services is one diagnostic with a few labels, not 500 snippets.
#[test]
fn a_long_cycle_keeps_a_few_labels_and_counts_the_others() {
    let n = 500;
    let text: String = (0..n)
        .map(|i| {
            format!(
                "service \"s{i}\" {{\n    image \"x:1\"\n    health tcp=80\n    depends-on \"s{}\"\n}}\n",
                (i + 1) % n
            )
        })
        .collect();
    let out = compile("cycle.stack.kdl", &format!("stack \"shop\"\n{text}"));
    let cycle = out.diagnostics.iter().find(|d| d.code == Code::DependencyCycle).expect("E0401");
    assert_eq!(cycle.labels.len(), 16);
    assert!(cycle.message.ends_with(" (483 more places not labelled)"), "{}", cycle.message);
    let rendered = render_human(cycle, &out.sources, OPTS);
    assert!(rendered.len() < 10_000, "{} bytes", rendered.len());
    assert!(render_json(cycle, &out.sources).to_string().len() < 10_000);
}
