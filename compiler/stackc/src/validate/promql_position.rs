//! Where a PromQL expression that lexes but does not parse goes wrong.
//!
//! `promql-parser` reports a grammar error as "invalid promql query", without a position (its
//! LR parser's errors are dropped). An LR parser fails at the first token that no valid
//! expression can continue with, so the position is recovered the same way: the first token
//! whose prefix (the expression up to and including it) cannot be completed into a valid
//! expression. Whether a prefix can be completed is tried with a small set of completions
//! (close what is open, put an operand, a grouping or a duration where one is missing); the
//! test `every_prefix_of_every_shipped_expression_completes` shows that set completes every
//! prefix of every expression stackc ships, so a valid start is never blamed.

use lrpar::{Lexeme, Lexer};
use promql_parser::parser::{lexer, parse};

/// What `promql-parser` answers for a grammar error (its `INVALID_QUERY_INFO`).
const GRAMMAR_ERROR: &str = "invalid promql query";

/// Expressions longer than this are not searched: the search parses once per token and
/// completion tried (`worst_case_search_is_bounded`), and real alert expressions are shorter.
const MAX_LEN: usize = 1024;

/// A grammar error: the token at which the expression stops being PromQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrammarError {
    /// The token at (byte offset, length) cannot follow what comes before it.
    Unexpected { at: usize, len: usize },
    /// Every token is a valid start, but the expression stops before it is complete; the
    /// last token is at (byte offset, length).
    Incomplete { at: usize, len: usize },
}

/// The grammar error of `s`, or `None` when `s` parses, fails in the lexer or for a reason
/// other than the grammar (a wrong argument type, …), or is too long to search.
pub fn grammar_error(s: &str) -> Option<GrammarError> {
    if s.len() > MAX_LEN || !is_grammar_error(s) {
        return None;
    }
    let tokens: Vec<(usize, usize)> = {
        let lexed = lexer(s).ok()?;
        lexed
            .iter()
            .filter_map(|l| l.ok())
            .map(|l| (l.span().start(), l.span().len()))
            .filter(|&(_, len)| len > 0)
            .collect()
    };
    for &(at, len) in &tokens {
        if !completes(&s[..at + len]) {
            return Some(GrammarError::Unexpected { at, len });
        }
    }
    let &(at, len) = tokens.last()?;
    Some(GrammarError::Incomplete { at, len })
}

fn is_grammar_error(s: &str) -> bool {
    matches!(parse(s), Err(e) if e == GRAMMAR_ERROR)
}

/// Whether some expression starts with `prefix`: one of the completions parses, or fails
/// only for a reason that is not the grammar's.
fn completes(prefix: &str) -> bool {
    // What may be missing where the prefix stops: nothing, an operand, a label matcher's
    // value, a duration, a label list, a subquery step.
    const FILL: &[&str] = &[
        "", " 1", " x", "=\"v\"", " 5m", "5m", " (x)", ":1m", " x=\"v\"", " \"v\"", " x]", " (x) (x)", " (x) x",
        "x) (x", "x) x", "()",
    ];
    // What may be missing after the open brackets are closed: nothing, an aggregation's or a
    // vector matching's operand, the right side of an operator.
    const TAIL: &[&str] = &["", " (x)", " x", " + x", " 1"];
    FILL.iter().any(|fill| {
        let filled = format!("{prefix}{fill}");
        let closers = closers(&filled);
        TAIL.iter().any(|tail| {
            let candidate = format!("{filled}{closers}{tail}");
            lexer(&candidate).is_ok() && !is_grammar_error(&candidate)
        })
    })
}

/// The brackets that close what `prefix` leaves open, innermost first (outside strings).
fn closers(prefix: &str) -> String {
    let mut open: Vec<char> = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in prefix.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q != '`' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' | '`' => quote = Some(c),
                '(' => open.push(')'),
                '{' => open.push('}'),
                '[' => open.push(']'),
                ')' | '}' | ']' => {
                    open.pop();
                }
                '#' => break,
                _ => {}
            },
        }
    }
    open.iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unexpected(s: &str) -> Option<&str> {
        match grammar_error(s)? {
            GrammarError::Unexpected { at, len } => Some(&s[at..at + len]),
            GrammarError::Incomplete { .. } => None,
        }
    }

    #[test]
    fn a_grammar_error_points_at_the_token_that_cannot_follow() {
        assert_eq!(grammar_error("up == = 0"), Some(GrammarError::Unexpected { at: 6, len: 1 }));
        assert_eq!(unexpected("sum(rate(x[5m])) by by (job)"), Some("by"));
        assert_eq!(grammar_error("sum(rate(x[5m])) by by (job)"), Some(GrammarError::Unexpected { at: 20, len: 2 }));
        assert_eq!(unexpected("rate(x[5m]) > > 1"), Some(">"));
        assert_eq!(grammar_error("rate(x[5m]) > > 1"), Some(GrammarError::Unexpected { at: 14, len: 1 }));
        assert_eq!(unexpected("up 1"), Some("1"));
        assert_eq!(unexpected("up{job=\"a\" job=\"b\"}"), Some("job"));
        assert_eq!(grammar_error("up{job=\"a\" job=\"b\"}"), Some(GrammarError::Unexpected { at: 11, len: 3 }));
    }

    #[test]
    fn an_expression_that_stops_early_points_at_its_last_token() {
        assert_eq!(grammar_error("up =="), Some(GrammarError::Incomplete { at: 3, len: 2 }));
        assert_eq!(grammar_error("sum(x) by"), Some(GrammarError::Incomplete { at: 7, len: 2 }));
    }

    #[test]
    fn what_is_not_a_grammar_error_has_no_position_here() {
        assert_eq!(grammar_error("up == 0"), None, "valid");
        assert_eq!(grammar_error("rate(x[5q])"), None, "the lexer's error, positioned by the lexer");
        assert_eq!(grammar_error(&format!("up == {}", "1 + ".repeat(2000))), None, "too long to search");
    }

    /// The longest expression searched, with its error at the end, where every prefix is
    /// tried: a bound on what a broken expression costs `check` (no timing: a count).
    #[test]
    fn worst_case_search_is_bounded() {
        let mut e = "sum by (job) (rate(x[5m])) + ".repeat(MAX_LEN / 30);
        e.push_str("> 1");
        assert!(e.len() <= MAX_LEN);
        let at = e.len() - 3;
        assert_eq!(grammar_error(&e), Some(GrammarError::Unexpected { at, len: 1 }));
    }

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
}
