//! KDL text -> [`ast::Document`].
//!
//! Valid documents are read by our own KDL 2 reader ([`reader`]). The `kdl` crate stays
//! for what it does best: the diagnostics of a file that does not parse (its parser
//! recovers and reports every error, and the KDL 1 hints are built on them), the
//! comment-preserving formatter, and as the oracle of the reader's differential test
//! ([`parse_with_kdl`]).

pub mod ast;
pub(crate) mod limits;
pub mod reader;
mod v1;

use kdl::{KdlDocument, KdlEntry, KdlIdentifier, KdlNode, KdlValue};

use crate::diagnostics::{Code, Diagnostic};
use crate::source::{SourceId, Span};
use ast::{Document, Entry, Ident, Node, Prop, Value};

/// Parses KDL 2 text. On a syntax error the document is `None` and every error the parser
/// recovered from is reported (E0100), at its position, with KDL 1 spellings pointed out
/// as such (E0101).
///
/// Inputs that would exhaust the `kdl` parser's stack or time ([`limits`]) are refused
/// with E0114 before either parser sees them.
///
/// The reader reads the document; only when it fails does the `kdl` crate read it too,
/// for its diagnostics. Where the two disagree (the crate accepts a few invalid
/// documents), the reader's error is reported.
pub fn parse(source: SourceId, text: &str) -> (Option<Document>, Vec<Diagnostic>) {
    if let Err(e) = limits::scan(text) {
        let diag = Diagnostic::error(Code::ParserLimit, e.message())
            .at(Span::new(source, e.offset, e.len), e.label())
            .help(e.help());
        return (None, vec![diag]);
    }
    let read_error = match reader::read(source, text) {
        Ok(doc) => return (Some(doc), Vec::new()),
        Err(e) => e,
    };
    let read_diag = Diagnostic::error(Code::KdlSyntax, style(&read_error.message))
        .at(Span::new(source, read_error.offset, read_error.len), "here");
    match parse_kdl(text) {
        Err(err) => (None, syntax_errors(source, text, err, read_diag)),
        Ok(_) => (None, vec![read_diag]),
    }
}

/// The document as the `kdl` crate reads it (`Err` with its first error's offset): the
/// oracle of the reader's differential test. Inputs past the [`limits`] are `Err` unread.
#[doc(hidden)]
pub fn parse_with_kdl(source: SourceId, text: &str) -> Result<Document, usize> {
    if let Err(e) = limits::scan(text) {
        return Err(e.offset);
    }
    match parse_kdl(text) {
        Ok(doc) => Ok(lower_doc(source, &doc)),
        Err(e) => Err(e.diagnostics.first().map_or(0, |d| d.span.offset())),
    }
}

/// The diagnostics of a file that does not parse. Each KDL 1 spelling is one E0101. The
/// parser's errors are those it still reports once the KDL 1 spellings are written in
/// KDL 2: an error they explain (the parser losing its way inside a KDL 1 raw string, …)
/// is not reported a second, vaguer time, and any other error is, at its own position.
///
/// When nothing is left to report, the reader's error (`fallback`) is.
fn syntax_errors(source: SourceId, text: &str, err: kdl::KdlError, fallback: Diagnostic) -> Vec<Diagnostic> {
    let scan = v1::scan(text);
    let mut diags: Vec<Diagnostic> = scan
        .v1
        .iter()
        .map(|f| {
            Diagnostic::error(Code::KdlV1, "KDL 1 syntax: stack files are KDL 2")
                .at(Span::new(source, f.offset, f.len), f.what.clone())
                .help(format!("write `{}` (KDL 2)", f.fixed))
        })
        .collect();
    // The KDL 1 forms written in KDL 2, and a space before each glued `/-`, which the
    // `kdl` crate wrongly refuses.
    let mut repairs = scan.v1.clone();
    repairs.extend(scan.glued_slashdash.iter().map(|&offset| v1::V1Form {
        offset,
        len: 0,
        what: String::new(),
        fixed: " ".into(),
    }));
    repairs.sort_by_key(|f| f.offset);
    let (kdl_errors, edits) = if repairs.is_empty() {
        (err.diagnostics, Vec::new())
    } else {
        let (repaired, edits) = v1::repair(text, &repairs);
        // A repaired text past the limits is still read: the original one was within them.
        let errors = if limits::scan(&repaired).is_ok() { parse_kdl(&repaired).err() } else { None };
        (errors.map(|e| e.diagnostics).unwrap_or_default(), edits)
    };
    let mut parser: Vec<(Span, Diagnostic)> = Vec::new();
    for kd in &kdl_errors {
        let start = v1::original(&edits, kd.span.offset());
        let end = v1::original(&edits, kd.span.offset() + kd.span.len()).max(start);
        let span = Span::new(source, start, end - start);
        // The parser often reports one mistake several times at the same place ("expected
        // an identifier" and "invalid node name"; an unclosed `{` and the nodes after it):
        // its first error there says it.
        if parser.iter().any(|(s, _)| s.offset <= span.end() && span.offset <= s.end()) {
            continue;
        }
        let message = kd.message.clone().unwrap_or_else(|| "invalid KDL".into());
        let label = kd.label.clone().unwrap_or_else(|| "here".into());
        let diag = Diagnostic::error(Code::KdlSyntax, style(&message))
            .at(span, style(&label))
            .maybe_help(kd.help.as_deref().map(style));
        parser.push((span, diag));
    }
    // A single-line string cut by a newline: the parser's error for it may span everything
    // before it (a raw string), so it is reported at the string, unless the parser already
    // points there.
    for b in &scan.broken {
        if parser.iter().any(|(s, _)| s.offset == b.offset) {
            continue;
        }
        let span = Span::new(source, b.offset, b.len);
        parser.retain(|(s, _)| !(s.offset <= span.end() && span.offset <= s.end()));
        let (what, help) = if b.raw {
            ("raw string", "a raw string on several lines is written `#\"\"\"`, a newline, the lines, then `\"\"\"#`")
        } else {
            ("quoted string", "you can make a string multi-line by wrapping it in `\"\"\"`, with a newline immediately after the opening quotes")
        };
        let diag = Diagnostic::error(Code::KdlSyntax, format!("unexpected newline in single-line {what}"))
            .at(span, "not closed on this line")
            .help(help);
        parser.push((span, diag));
    }
    diags.extend(parser.into_iter().map(|(_, d)| d));
    if diags.is_empty() {
        diags.push(fallback);
    }
    diags
}

/// `kdl` on a stack of its own, large enough for any input that passed [`limits::scan`]
/// whatever the caller's thread has (test threads have 2 MiB).
pub(crate) fn parse_kdl(text: &str) -> Result<KdlDocument, kdl::KdlError> {
    stacker::grow(limits::KDL_STACK, || KdlDocument::parse_v2(text))
}

/// The parser's wording in our style: lowercase start, no trailing period, backticks.
fn style(s: &str) -> String {
    let s = first_lower(s.trim().trim_end_matches('.'));
    let mut out = String::new();
    let mut rest = s.as_str();
    // 'x' quoting → `x`.
    while let Some(i) = rest.find('\'') {
        let after = &rest[i + 1..];
        match after.find('\'') {
            Some(j) if j > 0 && (!after[..j].contains(' ') || j <= 3) => {
                out.push_str(&rest[..i]);
                out.push('`');
                out.push_str(&after[..j]);
                out.push('`');
                rest = &after[j + 1..];
            }
            _ => {
                out.push_str(&rest[..=i]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn first_lower(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) if c.clone().next().is_some_and(|n| n.is_lowercase()) => f.to_lowercase().chain(c).collect(),
        _ => s.to_string(),
    }
}

fn sp(source: SourceId, s: miette::SourceSpan) -> Span {
    Span::new(source, s.offset(), s.len())
}

fn ident(source: SourceId, i: &KdlIdentifier) -> Ident {
    Ident { name: i.value().to_string(), span: sp(source, i.span()) }
}

fn lower_doc(source: SourceId, doc: &KdlDocument) -> Document {
    Document { nodes: doc.nodes().iter().map(|n| lower_node(source, n)).collect() }
}

fn lower_node(source: SourceId, node: &KdlNode) -> Node {
    let mut args = Vec::new();
    let mut props = Vec::new();
    for e in node.entries() {
        let entry = lower_entry(source, e);
        match e.name() {
            Some(k) => props.push(Prop { key: ident(source, k), value: entry }),
            None => args.push(entry),
        }
    }
    Node {
        name: ident(source, node.name()),
        ty: node.ty().map(|t| ident(source, t)),
        args,
        props,
        children: node.children().map(|c| c.nodes().iter().map(|n| lower_node(source, n)).collect()),
        span: sp(source, node.span()),
    }
}

fn lower_entry(source: SourceId, e: &KdlEntry) -> Entry {
    let entry_span = sp(source, e.span());
    // The value is the tail of the entry; its source text is `value_repr`.
    let span = match e.format() {
        Some(f) if f.value_repr.len() <= entry_span.len => {
            Span::new(source, entry_span.end() - f.value_repr.len(), f.value_repr.len())
        }
        _ => entry_span,
    };
    let value = match e.value() {
        KdlValue::String(s) => Value::String(s.clone()),
        KdlValue::Integer(i) => Value::Int(*i),
        KdlValue::Float(f) => Value::Float(*f),
        KdlValue::Bool(b) => Value::Bool(*b),
        KdlValue::Null => Value::Null,
    };
    let content_offset = match (&value, e.format()) {
        (Value::String(s), Some(f)) => verbatim_offset(&f.value_repr, s),
        _ => None,
    };
    Entry { value, ty: e.ty().map(|t| ident(source, t)), span, entry_span, content_offset }
}

/// Where `content` starts in `repr` (its source text) when the source holds it verbatim
/// between delimiters of equal length (`"…"`, `#"…"#`); `None` with escapes or a multi-line
/// string, whose source text differs from the value.
fn verbatim_offset(repr: &str, content: &str) -> Option<usize> {
    let extra = repr.len().checked_sub(content.len())?;
    let at = extra / 2;
    (extra >= 2 && extra % 2 == 0 && repr.get(at..at + content.len()) == Some(content)).then_some(at)
}

/// `s` as a KDL 2 quoted string that reads back as `s`: `"` and `\` escaped, and every
/// control character, code point KDL forbids and character that hides text
/// ([`crate::ir::is_hidden`]) written as an escape, so a generated stack file shows what it
/// holds. `stackc show` and `stackc import` write strings with it.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || crate::ir::is_hidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_string_reads_back_as_itself_and_shows_what_it_holds() {
        for s in
            ["", "plain", "a \"b\" \\c", "line\nbreak\r\ttab", "bell\u{7}", "rtl\u{202E}x", "zw\u{200B}j", "é ü 中"]
        {
            let text = format!("n {}\n", quote(s));
            let (doc, diags) = parse(SourceId(0), &text);
            assert!(diags.is_empty(), "{text:?}: {diags:?}");
            let doc = doc.expect("parses");
            assert_eq!(doc.nodes[0].args[0].value, Value::String(s.to_string()), "{text:?}");
            assert!(!text.chars().any(|c| c.is_control() && c != '\n' || crate::ir::is_hidden(c)), "{text:?}");
        }
    }
}
