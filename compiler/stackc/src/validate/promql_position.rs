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
pub fn completes(prefix: &str) -> bool {
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
    let mut quoted = super::values::Quoted::default();
    for c in prefix.chars() {
        if quoted.take(c) {
            continue;
        }
        match c {
            '"' | '\'' | '`' => quoted.quote = Some(c),
            '(' => open.push(')'),
            '{' => open.push('}'),
            '[' => open.push(']'),
            ')' | '}' | ']' => {
                open.pop();
            }
            '#' => break,
            _ => {}
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
}
