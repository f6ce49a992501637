//! `stackc fmt`: a comment-preserving formatter for KDL 2 documents.
//!
//! The `kdl` crate's own `autoformat()` drops comments, so this module works on the
//! source text instead: a small lexer splits the document into KDL 2 tokens (strings,
//! comments, punctuation, whitespace) and a printer re-emits every non-whitespace token
//! verbatim, deciding only the whitespace between them. Multi-line tokens (block
//! comments, `"""` strings, strings with escaped newlines) are single tokens, so their
//! interior lines are never touched.
//!
//! The input must parse with `kdl` first, and the output is checked against the input
//! before it is returned (same semantics, same tokens in the same order, same comments),
//! so a formatter bug surfaces as an error instead of a silently changed document.

use std::fmt;

use kdl::{KdlDocument, KdlEntry, KdlIdentifier, KdlNode};

/// Why a document could not be formatted.
#[derive(Debug, Clone, PartialEq)]
pub struct FmtError {
    /// Human-readable description of the problem.
    pub message: String,
    /// Byte offset into the source of the first problem.
    pub offset: usize,
    /// Byte length of the offending span (may be 0).
    pub len: usize,
}

impl fmt::Display for FmtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.offset)
    }
}

impl std::error::Error for FmtError {}

const INDENT: &str = "    ";
const BOM: char = '\u{FEFF}';

/// Formats a KDL 2 document: normalises indentation (4 spaces per nesting level) and
/// spacing between node name, entries and `{`; one node per line; blank lines between
/// nodes preserved but collapsed to at most one; trailing whitespace removed; file ends
/// with exactly one newline (an empty document stays empty). Runs of plain spaces before
/// a trailing `//` comment are kept so hand-aligned comments stay aligned.
///
/// Never loses, reorders or changes a comment (`//`, `/* */` incl. nested, `/-` on
/// nodes, entries and children blocks) and never changes the spelling of any value.
///
/// Returns `Err` when the input does not parse as KDL 2 (`offset`/`len` is the byte span
/// of the first parse error), or — defensively — when the formatted text would not be
/// equivalent to the input.
pub fn format(src: &str) -> Result<String, FmtError> {
    crate::syntax::limits::scan(src).map_err(|e| FmtError {
        message: format!("{} (E0114: {})", e.message(), e.help()),
        offset: e.offset,
        len: e.len,
    })?;
    let before = crate::syntax::parse_kdl(src).map_err(parse_error)?;

    // The BOM may only appear as the very first code point, so it is carried over
    // untouched rather than being fed through the printer.
    let (bom, body) = match src.strip_prefix(BOM) {
        Some(rest) => (true, rest),
        None => (false, src),
    };
    let mut out = Printer::default().print(&lex(body));
    if bom {
        out.insert(0, BOM);
    }

    verify(src, &before, &out)?;
    Ok(out)
}

fn parse_error(err: kdl::KdlError) -> FmtError {
    match err.diagnostics.first() {
        Some(diag) => FmtError {
            message: diag
                .message
                .clone()
                .or_else(|| diag.label.clone())
                .unwrap_or_else(|| "invalid KDL document".to_owned()),
            offset: diag.span.offset(),
            len: diag.span.len(),
        },
        None => FmtError { message: "invalid KDL document".to_owned(), offset: 0, len: 0 },
    }
}

// ---------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Any value or name: bare identifier, number, keyword, quoted or raw string.
    Atom,
    LParen,
    RParen,
    Eq,
    LBrace,
    RBrace,
    Semi,
    Slashdash,
    /// The `\` of a line continuation; its comment and newline are separate tokens.
    Escline,
    LineComment,
    BlockComment,
    Ws,
    Newline,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
}

impl Kind {
    fn is_comment(self) -> bool {
        matches!(self, Kind::LineComment | Kind::BlockComment)
    }
}

fn is_ws(c: char) -> bool {
    matches!(
        c,
        '\u{0009}' | '\u{0020}' | '\u{00A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

fn is_newline(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{0085}' | '\u{000B}' | '\u{000C}' | '\u{2028}' | '\u{2029}')
}

/// Byte length of the newline sequence at the start of `s`, if any.
fn newline_len(s: &str) -> Option<usize> {
    if s.starts_with("\r\n") {
        return Some(2);
    }
    s.chars().next().filter(|&c| is_newline(c)).map(char::len_utf8)
}

/// Characters that end a bare identifier or number (KDL 2 `identifier-char` complement).
fn ends_bare(c: char) -> bool {
    is_ws(c) || is_newline(c) || matches!(c, '\\' | '/' | '(' | ')' | '{' | '}' | '[' | ']' | ';' | '"' | '#' | '=')
}

fn bare_len(s: &str) -> usize {
    s.find(ends_bare).unwrap_or(s.len())
}

/// Length of a block comment starting at `s` (which begins with `/*`); nesting counts.
fn block_comment_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        // `*/` is checked before `/*` to match the KDL grammar: in `/*/`, the `*/`
        // closes rather than the `/*` opening.
        if bytes[i..].starts_with(b"*/") && depth > 0 {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else if bytes[i..].starts_with(b"/*") {
            depth += 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    s.len()
}

/// Length of a quoted (escaped) string starting at `s` (which begins with `"`).
fn quoted_len(s: &str) -> usize {
    let (open, close) = if s.starts_with("\"\"\"") { (3, "\"\"\"") } else { (1, "\"") };
    let mut chars = s[open..].char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            // Whatever follows a backslash is part of an escape (including the newline
            // of a whitespace escape), so it can never close the string.
            chars.next();
        } else if s[open + i..].starts_with(close) {
            return open + i + close.len();
        }
    }
    s.len()
}

/// Length of a raw string (`#"…"#`, `##"""…"""##`, …) starting at `s`, or `None` if the
/// hashes are not followed by a quote (i.e. it is a keyword such as `#true`).
fn raw_len(s: &str) -> Option<usize> {
    let hashes = s.len() - s.trim_start_matches('#').len();
    let rest = &s[hashes..];
    if !rest.starts_with('"') {
        return None;
    }
    let multi = rest.starts_with("\"\"\"") && newline_len(&rest[3..]).is_some();
    let quotes = if multi { "\"\"\"" } else { "\"" };
    let close = format!("{quotes}{}", "#".repeat(hashes));
    let body = &rest[quotes.len()..];
    Some(match body.find(&close) {
        Some(i) => hashes + quotes.len() + i + close.len(),
        None => s.len(),
    })
}

fn lex(src: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < src.len() {
        let rest = &src[i..];
        let c = rest.chars().next().unwrap_or_default();
        let (kind, len) = if let Some(n) = newline_len(rest) {
            (Kind::Newline, n)
        } else if is_ws(c) {
            (Kind::Ws, rest.find(|c| !is_ws(c)).unwrap_or(rest.len()))
        } else if rest.starts_with("//") {
            let end = rest.char_indices().find(|&(_, c)| is_newline(c)).map_or(rest.len(), |(i, _)| i);
            (Kind::LineComment, end)
        } else if rest.starts_with("/*") {
            (Kind::BlockComment, block_comment_len(rest))
        } else if rest.starts_with("/-") {
            (Kind::Slashdash, 2)
        } else {
            match c {
                '\\' => (Kind::Escline, 1),
                '{' => (Kind::LBrace, 1),
                '}' => (Kind::RBrace, 1),
                ';' => (Kind::Semi, 1),
                '(' => (Kind::LParen, 1),
                ')' => (Kind::RParen, 1),
                '=' => (Kind::Eq, 1),
                '"' => (Kind::Atom, quoted_len(rest)),
                '#' => match raw_len(rest) {
                    Some(n) => (Kind::Atom, n),
                    // Keywords: `#true`, `#false`, `#null`, `#inf`, `#-inf`, `#nan`.
                    None => (Kind::Atom, 1 + bare_len(&rest[1..])),
                },
                // A lone delimiter (only possible in invalid input) becomes its own
                // atom so that lexing always makes progress.
                _ => (Kind::Atom, bare_len(rest).max(c.len_utf8())),
            }
        };
        tokens.push(Token { kind, text: &rest[..len] });
        i += len;
    }
    tokens
}

// ---------------------------------------------------------------------------------------
// Printer
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Printer {
    out: String,
    depth: usize,
    /// Nothing has been written on the current output line yet.
    line_start: bool,
    /// Last token written.
    prev: Option<Kind>,
    /// Source had whitespace between `prev` and the next token.
    had_ws: bool,
    /// Width of that whitespace if it was plain spaces (used to keep aligned `//`
    /// comments aligned), otherwise 1.
    ws_width: usize,
    /// Source newlines seen since `prev` (2+ means a blank line).
    newlines: usize,
    /// `;` or `{` ended a node, so the next node must start on a fresh line.
    break_req: bool,
    /// A node has started and not yet been terminated, so a `\` continues it.
    in_node: bool,
    /// A `\` was written and its newline has not been seen yet.
    esc_pending: bool,
    /// The current fresh line continues a node after `\`.
    cont_line: bool,
    /// A `/-` was written and its target has not been seen yet.
    sd_pending: bool,
    /// The pending `/-` applies to an entry or children block, not a whole node.
    sd_mid: bool,
    /// A newline occurred between `/-` and its target.
    sd_break: bool,
}

impl Printer {
    fn print(mut self, tokens: &[Token<'_>]) -> String {
        self.line_start = true;
        for tok in tokens {
            match tok.kind {
                Kind::Ws => {
                    self.had_ws = true;
                    self.ws_width = if tok.text.bytes().all(|b| b == b' ') { tok.text.len() } else { 1 };
                }
                Kind::Newline => self.newline(),
                // One node per line: the terminator becomes a line break.
                Kind::Semi => {
                    self.break_req = true;
                    self.in_node = false;
                }
                kind => self.emit(kind, tok.text),
            }
        }
        let trimmed = self.out.trim_end_matches('\n').len();
        self.out.truncate(trimmed);
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        self.out
    }

    fn newline(&mut self) {
        self.had_ws = false;
        if self.esc_pending {
            // The continuation's newline is kept where it is; the continued line gets
            // an extra indentation level.
            self.esc_pending = false;
            self.out.push('\n');
            self.line_start = true;
            self.cont_line = self.in_node;
        } else if self.sd_pending {
            // Newlines between `/-` and its target do not end a node.
            self.sd_break = true;
        } else if self.line_start && self.cont_line {
            // An empty line right after `\` terminates the node; dropping it would join
            // the next node onto this one.
            self.out.push('\n');
            self.cont_line = false;
            self.in_node = false;
            self.newlines = 0;
        } else {
            self.newlines += 1;
            self.in_node = false;
        }
    }

    fn emit(&mut self, kind: Kind, text: &str) {
        let comment = kind.is_comment();
        if kind == Kind::RBrace {
            self.depth = self.depth.saturating_sub(1);
        }

        let mut extra_indent = false;
        if !self.line_start {
            let (brk, blank) = if kind == Kind::RBrace {
                (self.prev != Some(Kind::LBrace), false)
            } else if self.sd_break {
                extra_indent = self.sd_mid;
                (true, false)
            } else if self.newlines > 0 {
                (true, self.newlines >= 2 && self.prev != Some(Kind::LBrace))
            } else {
                // A comment on the same line as the end of a node stays attached to it.
                (self.break_req && !comment, false)
            };
            if brk {
                self.out.push('\n');
                if blank {
                    self.out.push('\n');
                }
                self.line_start = true;
                self.cont_line = false;
            }
        }

        if self.line_start {
            let mut level = self.depth;
            if kind != Kind::RBrace && (self.cont_line || extra_indent) {
                level += 1;
            }
            for _ in 0..level {
                self.out.push_str(INDENT);
            }
        } else if self.space_before(kind) {
            // Trailing `//` comments are often column-aligned by hand; keep that.
            let width = if kind == Kind::LineComment && self.had_ws { self.ws_width } else { 1 };
            self.out.extend(std::iter::repeat_n(' ', width));
        }
        // Trailing whitespace inside a `//` comment is still trailing whitespace.
        self.out.push_str(if kind == Kind::LineComment { text.trim_end() } else { text });

        self.line_start = false;
        self.cont_line = false;
        self.prev = Some(kind);
        self.had_ws = false;
        self.newlines = 0;
        self.sd_break = false;
        if !comment {
            self.break_req = false;
        }
        match kind {
            Kind::LBrace => {
                self.depth += 1;
                self.break_req = true;
                self.sd_pending = false;
                self.in_node = false;
            }
            Kind::Slashdash => {
                self.sd_pending = true;
                self.sd_mid = self.in_node;
            }
            Kind::Escline => self.esc_pending = true,
            _ if !comment => {
                self.sd_pending = false;
                self.in_node = true;
            }
            _ => {}
        }
    }

    /// Whether a space separates the previous token from `next` on the same line.
    /// Whitespace is only ever dropped where a delimiter makes it redundant, and only
    /// ever added where KDL allows whitespace.
    fn space_before(&self, next: Kind) -> bool {
        let Some(prev) = self.prev else {
            return false;
        };
        match (prev, next) {
            (Kind::LBrace, Kind::RBrace) => false,
            (_, Kind::LBrace) => prev != Kind::Slashdash || self.had_ws,
            (Kind::Slashdash, _) => self.had_ws,
            (Kind::LParen, Kind::BlockComment) | (Kind::BlockComment, Kind::RParen) => self.had_ws,
            (_, Kind::LineComment | Kind::BlockComment)
            | (Kind::LineComment | Kind::BlockComment, _)
            | (_, Kind::Escline)
            | (Kind::RBrace, _) => true,
            (Kind::Eq | Kind::LParen | Kind::RParen, _) | (_, Kind::Eq | Kind::RParen) => false,
            _ => self.had_ws,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Safety guard
// ---------------------------------------------------------------------------------------

fn internal(message: impl Into<String>) -> FmtError {
    FmtError {
        message: format!("internal formatter error, document left unchanged: {}", message.into()),
        offset: 0,
        len: 0,
    }
}

/// Refuses any output that is not equivalent to the input. Several views are compared:
/// the `kdl` data model (values and their spelling), the multiset of comment texts, the
/// ordered sequence of non-whitespace tokens (which also covers slashdashed text), and
/// the raw non-whitespace characters (which does not depend on this module's lexer).
fn verify(src: &str, before: &KdlDocument, out: &str) -> Result<(), FmtError> {
    let after = crate::syntax::parse_kdl(out)
        .map_err(|e| internal(format!("output does not parse: {}", parse_error(e).message)))?;
    if !same_doc(before, &after) {
        return Err(internal("output has different nodes or values"));
    }

    let src_body = src.strip_prefix(BOM).unwrap_or(src);
    let out_body = out.strip_prefix(BOM).unwrap_or(out);
    let (src_tokens, out_tokens) = (lex(src_body), lex(out_body));

    let mut src_comments = comments(&src_tokens);
    let mut out_comments = comments(&out_tokens);
    src_comments.sort_unstable();
    out_comments.sort_unstable();
    if src_comments != out_comments {
        return Err(internal("a comment would have been lost or changed"));
    }

    if !significant(&src_tokens).eq(significant(&out_tokens)) {
        return Err(internal("tokens would have been lost or reordered"));
    }

    let visible =
        |s: &str| s.chars().filter(|&c| !(is_ws(c) || is_newline(c) || c == ';' || c == BOM)).collect::<String>();
    if visible(src) != visible(out) {
        return Err(internal("non-whitespace text would have changed"));
    }
    Ok(())
}

fn comment_text<'a>(tok: &Token<'a>) -> &'a str {
    if tok.kind == Kind::LineComment {
        tok.text.trim_end()
    } else {
        tok.text
    }
}

fn comments<'a>(tokens: &[Token<'a>]) -> Vec<&'a str> {
    tokens.iter().filter(|t| t.kind.is_comment()).map(comment_text).collect()
}

/// Tokens the formatter must carry over unchanged: everything except whitespace,
/// newlines and `;` (which it replaces by a newline).
fn significant<'a, 'b>(tokens: &'b [Token<'a>]) -> impl Iterator<Item = (Kind, &'a str)> + 'b {
    tokens
        .iter()
        .filter(|t| !matches!(t.kind, Kind::Ws | Kind::Newline | Kind::Semi))
        .map(|t| (t.kind, comment_text(t)))
}

fn same_ident(a: &KdlIdentifier, b: &KdlIdentifier) -> bool {
    a.value() == b.value() && a.repr() == b.repr()
}

fn same_opt_ident(a: Option<&KdlIdentifier>, b: Option<&KdlIdentifier>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same_ident(a, b),
        (None, None) => true,
        _ => false,
    }
}

fn same_doc(a: &KdlDocument, b: &KdlDocument) -> bool {
    a.nodes().len() == b.nodes().len() && a.nodes().iter().zip(b.nodes()).all(|(a, b)| same_node(a, b))
}

fn same_node(a: &KdlNode, b: &KdlNode) -> bool {
    same_ident(a.name(), b.name())
        && same_opt_ident(a.ty(), b.ty())
        && a.entries().len() == b.entries().len()
        && a.entries().iter().zip(b.entries()).all(|(a, b)| same_entry(a, b))
        && match (a.children(), b.children()) {
            (Some(a), Some(b)) => same_doc(a, b),
            (None, None) => true,
            _ => false,
        }
}

fn same_entry(a: &KdlEntry, b: &KdlEntry) -> bool {
    let repr = |e: &KdlEntry| e.format().map(|f| f.value_repr.clone());
    same_opt_ident(a.name(), b.name()) && same_opt_ident(a.ty(), b.ty()) && a.value() == b.value() && repr(a) == repr(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_pair(src: &str, out: &str) -> Result<(), FmtError> {
        let doc = KdlDocument::parse_v2(src).expect("valid test input");
        verify(src, &doc, out)
    }

    #[test]
    fn guard_accepts_whitespace_only_changes() {
        check_pair("a 1 /* c */ 2;b", "a 1 /* c */ 2\nb\n").unwrap();
    }

    #[test]
    fn guard_rejects_lost_comment() {
        let err = check_pair("a 1 // c1\nb 2", "a 1\nb 2\n").unwrap_err();
        assert!(err.message.contains("comment"), "{err:?}");
    }

    #[test]
    fn guard_rejects_changed_comment_interior() {
        check_pair("a /* x\n   y */ 1", "a /* x\n y */ 1\n").unwrap_err();
    }

    #[test]
    fn guard_rejects_reordered_comments() {
        check_pair("/* a */ /* b */ n", "/* b */ /* a */ n\n").unwrap_err();
    }

    #[test]
    fn guard_rejects_lost_slashdash() {
        check_pair("a /-1 2", "a 2\n").unwrap_err();
    }

    #[test]
    fn guard_rejects_respelled_value() {
        check_pair("a 0x1F", "a 31\n").unwrap_err();
        check_pair("a \"x\"", "a x\n").unwrap_err();
    }

    #[test]
    fn guard_rejects_changed_multiline_string() {
        check_pair("a \"\"\"\n  x\n  \"\"\"", "a \"\"\"\n    x\n  \"\"\"\n").unwrap_err();
    }

    #[test]
    fn guard_rejects_changed_structure() {
        check_pair("a 1 \\\n 2", "a 1\n2\n").unwrap_err();
    }

    #[test]
    fn lexer_handles_raw_and_nested_tokens() {
        let kinds = |s| lex(s).iter().map(|t| t.kind).collect::<Vec<_>>();
        assert_eq!(kinds("##\"a\"#b\"##"), [Kind::Atom]);
        assert_eq!(kinds("/* a /* b */ c */"), [Kind::BlockComment]);
        assert_eq!(kinds("\"a\\\"b\""), [Kind::Atom]);
        assert_eq!(kinds("#-inf"), [Kind::Atom]);
        assert_eq!(kinds("\r\n"), [Kind::Newline]);
    }
}
