//! The PromQL grammar-error search (`stackc::validate::promql_position`) never blames a
//! valid start: every prefix of every expression stackc ships completes.

use lrpar::{Lexeme, Lexer};
use promql_parser::parser::{lexer, parse};
use stackc::validate::promql_position::completes;

/// Every prefix of a valid expression completes: otherwise a correct start would be
/// blamed for a later mistake. The expressions are the ones stackc ships (the alert
/// packs, the examples) and shapes of the PromQL grammar they do not use.
#[test]
fn every_prefix_of_every_shipped_expression_completes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut exprs: Vec<String> = [
        "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m])) / sum by (job) (rate(http_requests_total[5m])) > 0.05",
        "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))",
        "max_over_time(up[1h:5m] offset 1d) < bool 1",
        "x and on (a, b) group_left (c) y",
        "x unless ignoring (a) y",
        "topk(3, x) or vector(0)",
        "-x ^ 2 % 3",
        "count_values(\"v\", x)",
        "x @ 1609746000",
        "x @ start()",
        "absent(up{job=\"a\"})",
        "label_replace(up, \"dst\", \"$1\", \"src\", \"(.*)\")",
        "time() - x > 3600",
        "{__name__=~\"up|x\"}",
        "sum without (instance) (x)",
        "quantile_over_time(0.9, x[5m])",
        "1 + 2 * (3 - 4)",
        "rate(x[5m] offset -1h)",
        "x > on (a) group_right y",
        "x{a!~\"b\", c!=\"d\",}",
        "+x - -1",
        "avg_over_time(x[1h:])",
        "bottomk by (a) (2, x)",
        "x == bool 1",
        "sum(x) by (a) > 0",
        "predict_linear(node_filesystem_avail_bytes[6h], 4 * 3600) < 0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for dir in ["stdlib/alerts", "examples", "compiler/stackc/tests/e2e"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "kdl") {
                let text = std::fs::read_to_string(&path).unwrap();
                exprs.extend(quoted_after(&text, "expr="));
                exprs.extend(quoted_after(&text, "record="));
            }
        }
    }
    let shipped = exprs.iter().filter(|e| parse(e).is_ok()).count();
    assert!(shipped > 40, "the expressions were found ({shipped})");
    for e in exprs.iter().filter(|e| parse(e).is_ok()) {
        let lexed = lexer(e).unwrap();
        for l in lexed.iter().filter_map(|l| l.ok()) {
            let end = l.span().end();
            assert!(completes(&e[..end]), "`{}` is a prefix of `{e}`, but does not complete", &e[..end]);
        }
    }
}

/// The `"…"` and `#"…"#` strings after `key` (plain ones without escapes: enough for
/// these files), with the packs' `@{option}` and the stacks' `${param}` made numbers.
fn quoted_after(text: &str, key: &str) -> Vec<String> {
    text.match_indices(key)
        .filter_map(|(i, _)| {
            let rest = &text[i + key.len()..];
            let value = if let Some(raw) = rest.strip_prefix("#\"") {
                &raw[..raw.find("\"#")?]
            } else {
                let plain = rest.strip_prefix('"')?;
                Some(&plain[..plain.find('"')?]).filter(|s| !s.contains('\\'))?
            };
            Some(placeholders_as_numbers(value))
        })
        .collect()
}

fn placeholders_as_numbers(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(['@', '$']).filter(|&i| rest[i + 1..].starts_with('{')) {
        out.push_str(&rest[..i]);
        let Some(end) = rest[i..].find('}') else { break };
        out.push('2');
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    out
}
