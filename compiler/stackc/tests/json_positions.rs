//! `render_json` gives the positions an editor or CI annotation needs: 1-based lines and
//! columns counted in characters, for the primary span and every label.
//!
//! Expected positions are computed here from the fixture text (the offending token is
//! searched for, its line and column counted by this file), never copied from the output.

use std::path::Path;

use serde_json::Value;
use stackc::diagnostics::render_json;
use stackc::Options;

/// Where a span is: the `nth` (0-based) occurrence of `anchor` in the file, and `needle`
/// inside it (the whole anchor when `needle` is empty).
#[derive(Clone, Copy)]
struct Loc {
    anchor: &'static str,
    nth: usize,
    needle: &'static str,
}

const fn at(anchor: &'static str, needle: &'static str) -> Loc {
    Loc { anchor, nth: 0, needle }
}

const fn nth(anchor: &'static str, nth: usize, needle: &'static str) -> Loc {
    Loc { anchor, nth, needle }
}

struct Case {
    fixture: &'static str,
    code: &'static str,
    /// Which diagnostic of that code (0-based, in report order).
    which: usize,
    severity: &'static str,
    /// `None`: no primary span, all positions `null`.
    primary: Option<Loc>,
    primary_text: &'static str,
    /// A substring of `help`; `None`: `help` is `null`.
    help: Option<&'static str>,
    /// Secondary labels, in order, with their text.
    labels: &'static [(Loc, &'static str)],
}

const CASES: &[Case] = &[
    Case {
        fixture: "E0100_unterminated_string",
        code: "E0100",
        which: 0,
        severity: "error",
        primary: Some(at("\"ghcr.io/acme/api:1.4.2\n", "\"ghcr.io/acme/api:1.4.2")),
        primary_text: "not quoted string",
        help: Some("\"\"\""),
        labels: &[],
    },
    Case {
        fixture: "E0101_kdl1_boolean",
        code: "E0101",
        which: 0,
        severity: "error",
        primary: Some(at("internal=true", "true")),
        primary_text: "`true` is the KDL 1 spelling",
        help: Some("write `#true` (KDL 2)"),
        labels: &[],
    },
    Case {
        fixture: "E0101_kdl1_null_and_raw",
        code: "E0101",
        which: 1,
        severity: "error",
        primary: Some(at(
            r##"cmd=r#"curl -fsS "http://localhost:3001/health""#"##,
            r##"r#"curl -fsS "http://localhost:3001/health""#"##,
        )),
        primary_text: "a KDL 1 raw string",
        help: Some(r##"write `#"curl -fsS "http://localhost:3001/health""#` (KDL 2)"##),
        labels: &[],
    },
    Case {
        fixture: "E0101_kdl1_null_and_raw",
        code: "E0101",
        which: 2,
        severity: "error",
        primary: Some(at("health null", "null")),
        primary_text: "`null` is the KDL 1 spelling",
        help: Some("write `#null` (KDL 2)"),
        labels: &[],
    },
    Case {
        fixture: "E0103_port_name_typo",
        code: "E0103",
        which: 0,
        severity: "error",
        primary: Some(at("nmae=\"http\"", "nmae")),
        primary_text: "unknown property",
        help: Some("did you mean `name`?"),
        labels: &[],
    },
    Case {
        fixture: "E0110_secret_file_and_env",
        code: "E0110",
        which: 0,
        severity: "error",
        primary: Some(at("env=\"DB_PASSWORD\"", "env")),
        primary_text: "conflicts with the first",
        help: Some("keep one of"),
        labels: &[(at("file=\"secrets/", "file"), "first given here")],
    },
    Case {
        fixture: "E0201_non_ascii_name",
        code: "E0201",
        which: 0,
        severity: "error",
        primary: Some(at("stack \"bäckerei\"", "\"bäckerei\"")),
        primary_text: "invalid value",
        help: Some("write `"),
        labels: &[],
    },
    Case {
        fixture: "E0203_unknown_service",
        code: "E0203",
        which: 0,
        severity: "error",
        primary: Some(at("depends-on \"postgress\"", "\"postgress\"")),
        primary_text: "no service of this name",
        help: Some("did you mean `postgres`?"),
        labels: &[],
    },
    Case {
        fixture: "E0207_unknown_param",
        code: "E0207",
        which: 0,
        severity: "error",
        primary: Some(at("${imge-tag}", "")),
        primary_text: "unknown param",
        help: Some("did you mean `image-tag`?"),
        labels: &[],
    },
    Case {
        fixture: "E0207_unknown_param_after_unicode",
        code: "E0207",
        which: 0,
        severity: "error",
        primary: Some(at("${shop-nme}", "")),
        primary_text: "unknown param",
        help: Some("did you mean `shop-name`?"),
        labels: &[],
    },
    Case {
        fixture: "E0209_unknown_environment",
        code: "E0209",
        which: 0,
        severity: "error",
        primary: None,
        primary_text: "",
        help: Some("did you mean `production`?"),
        labels: &[],
    },
    Case {
        fixture: "E0301_port_out_of_range",
        code: "E0301",
        which: 0,
        severity: "error",
        primary: Some(at("port 70000", "70000")),
        primary_text: "out of range",
        help: None,
        labels: &[],
    },
    Case {
        fixture: "E0303_lowercase_size_unit",
        code: "E0303",
        which: 0,
        severity: "error",
        primary: Some(at("memory=\"512m\"", "\"512m\"")),
        primary_text: "invalid value",
        help: Some("\"512Mi\""),
        labels: &[],
    },
    Case {
        fixture: "E0305_cidr_host_bits",
        code: "E0305",
        which: 0,
        severity: "error",
        primary: Some(at("\"10.0.0.1/8\"", "")),
        primary_text: "invalid value",
        help: Some("did you mean \"10.0.0.0/8\"?"),
        labels: &[],
    },
    Case {
        fixture: "E0306_six_field_cron",
        code: "E0306",
        which: 0,
        severity: "error",
        primary: Some(at("schedule=\"0 0 3 * * *\"", "\"0 0 3 * * *\"")),
        primary_text: "invalid value",
        help: Some("minute hour day-of-month month day-of-week"),
        labels: &[],
    },
    Case {
        fixture: "E0309_env_name_after_unicode",
        code: "E0309",
        which: 0,
        severity: "error",
        primary: Some(at("LOG-LEVEL=", "LOG-LEVEL")),
        primary_text: "invalid value",
        help: Some("\"LOG_LEVEL\""),
        labels: &[],
    },
    Case {
        fixture: "E0401_dependency_cycle_three",
        code: "E0401",
        which: 0,
        severity: "error",
        primary: Some(at("depends-on \"worker\"", "")),
        primary_text: "`api` depends on `worker`",
        help: Some("remove one `depends-on` of the loop"),
        labels: &[
            (at("depends-on \"notifier\"", ""), "`worker` depends on `notifier`"),
            (at("depends-on \"api\" healthy=#true", ""), "`notifier` depends on `api`"),
        ],
    },
    Case {
        fixture: "E0402_healthy_without_health",
        code: "E0402",
        which: 0,
        severity: "error",
        primary: Some(at("\"redis\" healthy=#true", "healthy=#true")),
        primary_text: "needs a health check on the target",
        help: Some("add a `health` node to `redis`"),
        labels: &[(at("service \"redis\"", "\"redis\""), "`redis` is declared here without `health`")],
    },
    Case {
        fixture: "E0404_publish_clash",
        code: "E0404",
        which: 0,
        severity: "error",
        primary: Some(nth("publish 8080", 1, "8080")),
        primary_text: "published by adminer here",
        help: Some("host="),
        labels: &[(nth("publish 8080", 0, "8080"), "already published by grafana")],
    },
    Case {
        fixture: "E0403_route_to_worker",
        code: "W0102",
        which: 0,
        severity: "warning",
        primary: Some(at("service \"worker\"", "\"worker\"")),
        primary_text: "no `health`",
        help: Some("silence with `policy { allow \"missing-healthcheck\" }`"),
        labels: &[],
    },
    Case {
        fixture: "W0101_public_database",
        code: "W0101",
        which: 0,
        severity: "error",
        primary: Some(at("publish 5432", "5432")),
        primary_text: "reachable from the internet",
        help: Some("`publish 5432 host=\"127.0.0.1\"`"),
        labels: &[],
    },
];

/// Byte range of a [`Loc`] in `text`.
fn locate(text: &str, loc: Loc) -> (usize, usize) {
    let starts: Vec<usize> = text.match_indices(loc.anchor).map(|(i, _)| i).collect();
    let Some(&anchor) = starts.get(loc.nth) else {
        panic!("`{}` occurs {} time(s), wanted occurrence {}", loc.anchor, starts.len(), loc.nth);
    };
    if loc.needle.is_empty() {
        return (anchor, anchor + loc.anchor.len());
    }
    let inner = loc.anchor.find(loc.needle).unwrap_or_else(|| panic!("`{}` is not in `{}`", loc.needle, loc.anchor));
    (anchor + inner, anchor + inner + loc.needle.len())
}

/// 1-based line and column, the column counted in characters (not bytes).
fn line_col(text: &str, byte: usize) -> (u64, u64) {
    let before = &text[..byte];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line as u64, column as u64)
}

fn check_position(what: &str, obj: &Value, text: &str, file: &str, loc: Loc) {
    let (start, end) = locate(text, loc);
    let (line, column) = line_col(text, start);
    let (end_line, end_column) = line_col(text, end);
    let got = |k: &str| obj[k].as_u64().unwrap_or_else(|| panic!("{what}: `{k}` is not a number in {obj}"));
    assert_eq!(obj["file"], file, "{what}: file");
    assert_eq!(
        (got("line"), got("column"), got("end_line"), got("end_column")),
        (line, column, end_line, end_column),
        "{what}: span of `{}` (line, column, end_line, end_column)",
        &text[start..end]
    );
}

#[test]
fn json_positions_match_the_source() {
    let mut fixtures = std::collections::BTreeSet::new();
    for case in CASES {
        fixtures.insert(case.fixture);
        let name = format!("tests/fail/{}.stack.kdl", case.fixture);
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(&name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let env = text.lines().nth(1).and_then(|l| l.strip_prefix("// env:")).map(|e| e.trim().to_string());
        let outcome = stackc::compile(&name, &text, &Options { env, ..Default::default() });
        let diag = outcome
            .diagnostics
            .iter()
            .filter(|d| d.code.as_str() == case.code)
            .nth(case.which)
            .unwrap_or_else(|| panic!("{name}: no diagnostic {} #{}", case.code, case.which));
        let json = render_json(diag, &outcome.sources);
        let what = format!("{name} {}#{}", case.code, case.which);

        assert_eq!(json["code"], case.code, "{what}: code");
        assert_eq!(json["name"], diag.code.info().name, "{what}: name");
        assert_eq!(json["severity"], case.severity, "{what}: severity");
        assert_eq!(json["message"], diag.message.as_str(), "{what}: message");
        match case.help {
            Some(h) => {
                let help = json["help"].as_str().unwrap_or_else(|| panic!("{what}: no help in {json}"));
                assert!(help.contains(h), "{what}: help {help:?} lacks {h:?}");
            }
            None => assert!(json["help"].is_null(), "{what}: expected no help, got {}", json["help"]),
        }

        let labels = json["labels"].as_array().unwrap_or_else(|| panic!("{what}: `labels` is not an array"));
        match case.primary {
            Some(loc) => {
                check_position(&what, &json, &text, &name, loc);
                assert_eq!(labels.len(), 1 + case.labels.len(), "{what}: labels {labels:#?}");
                assert_eq!(labels[0]["text"], case.primary_text, "{what}: primary label text");
                check_position(&format!("{what} label 0"), &labels[0], &text, &name, loc);
                for (i, (loc, label_text)) in case.labels.iter().enumerate() {
                    let l = &labels[i + 1];
                    assert_eq!(l["text"], *label_text, "{what}: label {} text", i + 1);
                    check_position(&format!("{what} label {}", i + 1), l, &text, &name, *loc);
                }
            }
            None => {
                for k in ["file", "line", "column", "end_line", "end_column"] {
                    assert!(json[k].is_null(), "{what}: `{k}` should be null without a span, got {}", json[k]);
                }
                assert!(labels.is_empty(), "{what}: labels without a primary span");
            }
        }
    }
    assert!(fixtures.len() >= 12, "only {} fixtures are position-checked", fixtures.len());
}

/// The test's own line/column counting, on a line with multi-byte characters.
#[test]
fn columns_are_counted_in_characters() {
    let text = "a \"é👋\" x\nb";
    let x = text.find('x').expect("x");
    assert_eq!(line_col(text, x), (1, 8));
    assert_eq!(line_col(text, text.len()), (2, 2));
}
