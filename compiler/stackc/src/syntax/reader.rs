//! A KDL 2 reader of our own: text → [`ast::Document`] in one pass over the bytes, with
//! the spans the AST needs and no intermediate document model.
//!
//! It follows the grammar of the KDL 2 specification and is checked against the
//! specification's test suite and, differentially, against the `kdl` crate
//! (`tests/kdl_reader.rs`). It reads valid documents only: at the first error it stops and
//! says where ([`ReadError`]); the diagnostics of a file that does not parse come from the
//! `kdl` crate's recovering parser (see [`super::parse`]), which reports every error it can
//! recover from.
//!
//! Depth: a children block is read by a recursive call, at most [`MAX_DEPTH`] deep (the
//! limit of [`super::limits`]); every other construct (block comments included) is read by
//! loops, so no input can exhaust the stack.

use super::ast::{Document, Entry, Ident, Node, Prop, Value};
use super::limits::MAX_DEPTH;
use crate::source::{SourceId, Span};

/// Where and why a document is not valid KDL 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub offset: usize,
    pub len: usize,
    pub message: String,
}

type R<T> = Result<T, ReadError>;

/// Reads a whole KDL 2 document.
pub fn read(source: SourceId, text: &str) -> R<Document> {
    let mut r = Reader { text, b: text.as_bytes(), pos: 0, source, depth: 0 };
    if text.starts_with('\u{FEFF}') {
        r.pos = 3;
    }
    let nodes = r.nodes(false)?;
    Ok(Document { nodes })
}

struct Reader<'a> {
    text: &'a str,
    b: &'a [u8],
    pos: usize,
    source: SourceId,
    depth: usize,
}

/// `unicode-space`: white space that is not a newline.
fn is_unicode_space(c: char) -> bool {
    matches!(c, '\t' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}')
}

fn is_newline(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{0B}' | '\u{0C}' | '\u{2028}' | '\u{2029}')
}

/// Code points that may not appear literally anywhere (a BOM is allowed first only, and
/// skipped before reading).
fn is_disallowed(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{8}'
            | '\u{E}'..='\u{1F}'
            | '\u{7F}'
            | '\u{200E}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

fn is_ident_char(c: char) -> bool {
    !(is_unicode_space(c)
        || is_newline(c)
        || is_disallowed(c)
        || matches!(c, '\\' | '/' | '(' | ')' | '{' | '}' | ';' | '[' | ']' | '"' | '#' | '='))
}

/// A string token: its value and its span.
struct Str {
    value: String,
    start: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    fn err<T>(&self, offset: usize, len: usize, message: impl Into<String>) -> R<T> {
        Err(ReadError { offset, len, message: message.into() })
    }

    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.source, start, end - start)
    }

    fn peek(&self) -> Option<char> {
        let b = *self.b.get(self.pos)?;
        if b < 0x80 {
            Some(b as char)
        } else {
            self.text[self.pos..].chars().next()
        }
    }

    fn peek_at(&self, at: usize) -> Option<char> {
        let b = *self.b.get(at)?;
        if b < 0x80 {
            Some(b as char)
        } else {
            self.text[at..].chars().next()
        }
    }

    fn starts(&self, s: &str) -> bool {
        self.b[self.pos..].starts_with(s.as_bytes())
    }

    fn at_eof(&self) -> bool {
        self.pos >= self.b.len()
    }

    /// A newline at the position: its length in bytes (CRLF is one newline).
    fn newline_len(&self, at: usize) -> usize {
        match self.peek_at(at) {
            Some('\r') if self.b.get(at + 1) == Some(&b'\n') => 2,
            Some(c) if is_newline(c) => c.len_utf8(),
            _ => 0,
        }
    }

    /// Fails on a disallowed code point at the position.
    fn check_allowed(&self, c: char) -> R<()> {
        if is_disallowed(c) {
            return self.err(
                self.pos,
                c.len_utf8(),
                format!("the code point U+{:04X} is not allowed in KDL", c as u32),
            );
        }
        Ok(())
    }

    /// `ws*`: unicode spaces and block comments. Whether any was read.
    fn ws(&mut self) -> R<bool> {
        let start = self.pos;
        loop {
            match self.peek() {
                Some(c) if is_unicode_space(c) => self.pos += c.len_utf8(),
                Some('/') if self.b.get(self.pos + 1) == Some(&b'*') => self.block_comment()?,
                _ => return Ok(self.pos > start),
            }
        }
    }

    /// `/* … */`, nested, read with a counter rather than recursion.
    fn block_comment(&mut self) -> R<()> {
        let start = self.pos;
        self.pos += 2;
        let mut depth = 1usize;
        while depth > 0 {
            if self.starts("/*") {
                depth += 1;
                self.pos += 2;
            } else if self.starts("*/") {
                depth -= 1;
                self.pos += 2;
            } else {
                match self.peek() {
                    Some(c) => {
                        self.check_allowed(c)?;
                        self.pos += c.len_utf8();
                    }
                    None => return self.err(start, 2, "unclosed block comment: `*/` expected"),
                }
            }
        }
        Ok(())
    }

    /// `// …` through the newline (or the end of the text).
    fn line_comment(&mut self) -> R<()> {
        self.pos += 2;
        loop {
            let n = self.newline_len(self.pos);
            if n > 0 {
                self.pos += n;
                return Ok(());
            }
            match self.peek() {
                Some(c) => {
                    self.check_allowed(c)?;
                    self.pos += c.len_utf8();
                }
                None => return Ok(()),
            }
        }
    }

    /// `node-space*`: spaces, block comments and line continuations (`\` to the end of the
    /// line). Whether any was read.
    fn node_space(&mut self) -> R<bool> {
        let start = self.pos;
        loop {
            self.ws()?;
            if self.peek() != Some('\\') {
                return Ok(self.pos > start);
            }
            // escline := '\\' ws* (single-line-comment | newline | eof)
            let at = self.pos;
            self.pos += 1;
            self.ws()?;
            if self.starts("//") {
                self.line_comment()?;
            } else {
                let n = self.newline_len(self.pos);
                if n == 0 && !self.at_eof() {
                    return self.err(
                        at,
                        1,
                        "a `\\` outside a string continues the line: only spaces or a comment may follow it",
                    );
                }
                self.pos += n;
            }
        }
    }

    /// `line-space*`: node space, newlines and line comments.
    fn line_space(&mut self) -> R<()> {
        loop {
            self.node_space()?;
            if !self.line_end()? {
                return Ok(());
            }
        }
    }

    /// A newline or a line comment (through its newline) at the position: whether there
    /// was one.
    fn line_end(&mut self) -> R<bool> {
        let n = self.newline_len(self.pos);
        if n > 0 {
            self.pos += n;
        } else if self.starts("//") {
            self.line_comment()?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// `nodes`, up to the end of the text or (in a children block) the closing `}`.
    fn nodes(&mut self, in_block: bool) -> R<Vec<Node>> {
        let mut nodes = Vec::new();
        loop {
            self.line_space()?;
            match self.peek() {
                None if in_block => return self.err(self.pos, 0, "unclosed children block: `}` expected"),
                None => return Ok(nodes),
                Some('}') if in_block => return Ok(nodes),
                Some('}') => return self.err(self.pos, 1, "a `}` that closes no children block"),
                _ => {}
            }
            let slashdash = self.slashdash()?;
            if slashdash && (self.at_eof() || (in_block && self.peek() == Some('}'))) {
                return self.err(self.pos, 0, "`/-` comments out nothing: a node is expected after it");
            }
            let node = self.node()?;
            // node-terminator := single-line-comment | newline | ';' | eof; a block's last
            // node may end at its `}`.
            if !self.line_end()? {
                match self.peek() {
                    Some(';') => self.pos += 1,
                    None => {}
                    Some('}') if in_block => {}
                    Some(c) if is_disallowed(c) => self.check_allowed(c)?,
                    _ => {
                        return self.err(
                            self.pos,
                            self.token_len(),
                            "the node does not end here: a newline or `;` is expected",
                        )
                    }
                }
            }
            if !slashdash {
                nodes.push(node);
            }
        }
    }

    /// `/-` and the line space after it: whether there was one.
    fn slashdash(&mut self) -> R<bool> {
        if !self.starts("/-") {
            return Ok(false);
        }
        self.pos += 2;
        self.line_space()?;
        if self.starts("/-") {
            return self.err(self.pos, 2, "`/-` after `/-`: one is enough");
        }
        Ok(true)
    }

    /// The length of the bad token at the position, for an error's span.
    fn token_len(&self) -> usize {
        let rest = &self.text[self.pos.min(self.text.len())..];
        let n: usize = rest.chars().take_while(|&c| is_ident_char(c)).map(char::len_utf8).sum();
        if n > 0 {
            n
        } else {
            rest.chars().next().map_or(0, char::len_utf8)
        }
    }

    /// `base-node`, without its terminator.
    fn node(&mut self) -> R<Node> {
        let start = self.pos;
        let ty = self.ty()?;
        if ty.is_some() {
            self.node_space()?;
        }
        let name = match self.string()? {
            Some(s) => self.ident(s),
            None => return self.err(self.pos, self.token_len(), "a node name is expected here"),
        };
        let mut args = Vec::new();
        let mut props = Vec::new();
        let mut children: Option<Vec<Node>> = None;
        // Once a children block was read (commented out or not), only children blocks may
        // follow; after the real one, only commented-out ones.
        let mut block_seen = false;
        loop {
            let spaced = self.node_space()?;
            let at = self.pos;
            let slashdash = self.slashdash()?;
            match self.peek() {
                Some('{') => {
                    if children.is_some() && !slashdash {
                        return self.err(self.pos, 1, "a node has one children block");
                    }
                    let block = self.children()?;
                    block_seen = true;
                    if !slashdash {
                        children = Some(block);
                    }
                    continue;
                }
                None | Some(';' | '}') if slashdash => {
                    return self.err(
                        at,
                        2,
                        "`/-` comments out nothing: an argument, a property or a block is expected",
                    );
                }
                _ if slashdash => {}
                None | Some(';' | '}') => break,
                Some(c) if is_newline(c) => break,
                _ if self.starts("//") => break,
                Some(c) if is_disallowed(c) => self.check_allowed(c)?,
                _ if !spaced => {
                    return self.err(self.pos, self.token_len(), "a space is needed before an argument or a property");
                }
                _ => {}
            }
            if block_seen {
                return self.err(
                    at,
                    self.pos - at + self.token_len(),
                    "arguments and properties go before the children block",
                );
            }
            match self.entry()? {
                (Some(key), entry) if !slashdash => props.push(Prop { key, value: entry }),
                (None, entry) if !slashdash => args.push(entry),
                _ => {}
            }
        }
        // The node's span ends after the spaces (and comments) before its terminator, as
        // the `kdl` crate's does.
        Ok(Node { name, ty, args, props, children, span: self.span(start, self.pos) })
    }

    /// `{ nodes }`.
    fn children(&mut self) -> R<Vec<Node>> {
        if self.depth >= MAX_DEPTH {
            return self.err(self.pos, 1, format!("children blocks nested more than {MAX_DEPTH} levels deep"));
        }
        self.depth += 1;
        self.pos += 1;
        let nodes = self.nodes(true)?;
        self.pos += 1;
        self.depth -= 1;
        Ok(nodes)
    }

    fn ident(&self, s: Str) -> Ident {
        Ident { name: s.value, span: self.span(s.start, s.end) }
    }

    /// `type := '(' node-space* string node-space* ')'`.
    fn ty(&mut self) -> R<Option<Ident>> {
        if self.peek() != Some('(') {
            return Ok(None);
        }
        let open = self.pos;
        self.pos += 1;
        self.node_space()?;
        let Some(s) = self.string()? else {
            return self.err(self.pos, self.token_len(), "a type name is expected in `( )`");
        };
        self.node_space()?;
        if self.peek() != Some(')') {
            return self.err(open, self.pos + 1 - open, "unclosed type annotation: `)` expected");
        }
        self.pos += 1;
        Ok(Some(self.ident(s)))
    }

    /// An argument (`None`, entry) or a property (key, entry).
    fn entry(&mut self) -> R<(Option<Ident>, Entry)> {
        let start = self.pos;
        if self.peek() != Some('(') {
            if let Some(s) = self.string()? {
                let after = self.pos;
                self.node_space()?;
                if self.peek() == Some('=') {
                    self.pos += 1;
                    self.node_space()?;
                    let key = self.ident(s);
                    let entry = self.value(start)?;
                    return Ok((Some(key), entry));
                }
                self.pos = after;
                let span = self.span(s.start, s.end);
                let content_offset = super::verbatim_offset(&self.text[s.start..s.end], &s.value);
                return Ok((
                    None,
                    Entry { value: Value::String(s.value), ty: None, span, entry_span: span, content_offset },
                ));
            }
        }
        Ok((None, self.value(start)?))
    }

    /// `value := type? node-space* (string | number | keyword)`; the entry began at `start`.
    fn value(&mut self, start: usize) -> R<Entry> {
        let ty = self.ty()?;
        if ty.is_some() {
            self.node_space()?;
        }
        let vstart = self.pos;
        let value = if let Some(s) = self.string()? {
            Value::String(s.value)
        } else if self.peek() == Some('#') {
            self.keyword()?
        } else if matches!(self.peek(), Some('0'..='9' | '+' | '-' | '.')) {
            self.number()?
        } else {
            return self.err(self.pos, self.token_len(), "a value is expected here");
        };
        let content_offset = match &value {
            Value::String(v) => super::verbatim_offset(&self.text[vstart..self.pos], v),
            _ => None,
        };
        Ok(Entry {
            value,
            ty,
            span: self.span(vstart, self.pos),
            entry_span: self.span(start, self.pos),
            content_offset,
        })
    }

    /// The run of identifier characters at the position (a bare identifier, a number or
    /// a keyword's name).
    fn word(&self, at: usize) -> &'a str {
        let rest = &self.text[at..];
        let n = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
        &rest[..n]
    }

    /// `#true`, `#false`, `#null`, `#inf`, `#-inf`, `#nan`.
    fn keyword(&mut self) -> R<Value> {
        let w = self.word(self.pos + 1);
        let v = match w {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            "inf" => Value::Float(f64::INFINITY),
            "-inf" => Value::Float(f64::NEG_INFINITY),
            "nan" => Value::Float(f64::NAN),
            _ => {
                return self.err(
                    self.pos,
                    w.len() + 1,
                    "unknown keyword: `#true`, `#false`, `#null`, `#inf`, `#-inf` or `#nan` expected",
                )
            }
        };
        self.pos += w.len() + 1;
        Ok(v)
    }

    /// A decimal, hexadecimal, octal or binary number.
    fn number(&mut self) -> R<Value> {
        let w = self.word(self.pos);
        let Some(v) = number(w) else {
            return self.err(self.pos, w.len(), format!("`{w}` is not a number"));
        };
        self.pos += w.len();
        Ok(v)
    }

    /// A string of any kind (identifier, quoted, raw, multi-line), or `None` when none
    /// starts at the position.
    fn string(&mut self) -> R<Option<Str>> {
        let start = self.pos;
        match self.peek() {
            Some('"') => {
                let value = if self.starts("\"\"\"") { self.multi_line(0)? } else { self.quoted()? };
                Ok(Some(Str { value, start, end: self.pos }))
            }
            Some('#') => {
                let hashes = self.b[start..].iter().take_while(|&&b| b == b'#').count();
                if self.b.get(start + hashes) != Some(&b'"') {
                    return Ok(None);
                }
                self.pos += hashes;
                let value = if self.starts("\"\"\"") { self.multi_line(hashes)? } else { self.raw(hashes)? };
                Ok(Some(Str { value, start, end: self.pos }))
            }
            Some(c) if is_ident_char(c) => {
                let w = self.word(start);
                let mut cs = w.chars();
                let first = cs.next();
                let second = cs.next();
                let third = cs.next();
                let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
                let numeric = match first {
                    Some('0'..='9') => true,
                    Some('+' | '-') => digit(second) || (second == Some('.') && digit(third)),
                    Some('.') => digit(second),
                    _ => false,
                };
                if numeric {
                    return Ok(None);
                }
                if matches!(w, "true" | "false" | "null" | "inf" | "-inf" | "nan") {
                    return self.err(
                        start,
                        w.len(),
                        format!("`{w}` is a keyword: write `#{w}`, or quote it for a string"),
                    );
                }
                self.pos += w.len();
                Ok(Some(Str { value: w.to_string(), start, end: self.pos }))
            }
            _ => Ok(None),
        }
    }

    /// A single-line quoted string, from its opening `"`.
    fn quoted(&mut self) -> R<String> {
        let open = self.pos;
        self.pos += 1;
        let body = self.pos;
        // The common case: no escape, a plain copy of the text.
        let mut out: Option<String> = None;
        loop {
            match self.peek() {
                None => return self.err(open, 1, "unclosed string: `\"` expected"),
                Some('"') => {
                    let s = out.unwrap_or_else(|| self.text[body..self.pos].to_string());
                    self.pos += 1;
                    return Ok(s);
                }
                Some('\\') => {
                    let o = out.get_or_insert_with(|| self.text[body..self.pos].to_string());
                    let at = self.pos;
                    self.escape(o, true).map_err(|m| ReadError {
                        offset: at,
                        len: self.pos.max(at + 1) - at,
                        message: m,
                    })?;
                }
                Some(c) if is_newline(c) => {
                    return self.err(self.pos, c.len_utf8(), "unexpected newline in single-line quoted string");
                }
                Some(c) => {
                    self.check_allowed(c)?;
                    if let Some(o) = out.as_mut() {
                        o.push(c);
                    }
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    /// One escape at the position (a `\`), appended to `out`. Whitespace escapes are read
    /// (and dropped) only when `ws` is set.
    fn escape(&mut self, out: &mut String, ws: bool) -> Result<(), String> {
        self.pos += 1;
        let c = self.peek().ok_or("unclosed string after `\\`")?;
        let simple = match c {
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            '\\' => Some('\\'),
            '"' => Some('"'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{C}'),
            's' => Some(' '),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            self.pos += 1;
            return Ok(());
        }
        if c == 'u' {
            if self.b.get(self.pos + 1) != Some(&b'{') {
                return Err("a unicode escape is written `\\u{…}`".into());
            }
            let hex_start = self.pos + 2;
            let n = self.b[hex_start..].iter().take_while(|b| b.is_ascii_hexdigit()).count();
            if n == 0 || n > 6 || self.b.get(hex_start + n) != Some(&b'}') {
                return Err("a unicode escape has 1 to 6 hexadecimal digits in `{}`".into());
            }
            let v = u32::from_str_radix(&self.text[hex_start..hex_start + n], 16).map_err(|e| e.to_string())?;
            let ch = char::from_u32(v).ok_or("a unicode escape must be a Unicode scalar value")?;
            out.push(ch);
            self.pos = hex_start + n + 1;
            return Ok(());
        }
        if ws && (is_unicode_space(c) || is_newline(c)) {
            while let Some(c) = self.peek() {
                if is_unicode_space(c) || is_newline(c) {
                    self.pos += c.len_utf8();
                } else {
                    break;
                }
            }
            return Ok(());
        }
        Err(format!("invalid escape `\\{c}`"))
    }

    /// A single-line raw string, after its `#`s.
    fn raw(&mut self, hashes: usize) -> R<String> {
        let open = self.pos - hashes;
        self.pos += 1;
        let body = self.pos;
        loop {
            match self.peek() {
                None => return self.err(open, hashes + 1, "unclosed raw string"),
                Some('"') if self.b[self.pos + 1..].iter().take(hashes).filter(|&&b| b == b'#').count() == hashes => {
                    let s = self.text[body..self.pos].to_string();
                    self.pos += 1 + hashes;
                    return Ok(s);
                }
                Some(c) if is_newline(c) => {
                    return self.err(self.pos, c.len_utf8(), "unexpected newline in single-line raw string");
                }
                Some(c) => {
                    self.check_allowed(c)?;
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    /// A multi-line string (`"""`, raw when `hashes` > 0), from its opening quotes.
    ///
    /// As the specification orders it: whitespace escapes are resolved first, then the
    /// lines are dedented by the closing line's whitespace, then the other escapes are
    /// resolved.
    fn multi_line(&mut self, hashes: usize) -> R<String> {
        let open = self.pos - hashes;
        self.pos += 3;
        let nl = self.newline_len(self.pos);
        if nl == 0 {
            return self.err(open, hashes + 3, "a multi-line string starts with a newline right after `\"\"\"`");
        }
        self.pos += nl;
        // The body with literal newlines as `\n` and whitespace escapes dropped; other
        // escapes are kept as written, to be resolved after the dedent.
        let mut body = String::new();
        let mut escaped = false;
        loop {
            if self.at_eof() {
                return self.err(open, hashes + 3, "unclosed multi-line string: `\"\"\"` expected");
            }
            if self.starts("\"\"\"")
                && self.b[self.pos + 3..].iter().take(hashes).filter(|&&b| b == b'#').count() == hashes
            {
                self.pos += 3 + hashes;
                break;
            }
            let n = self.newline_len(self.pos);
            if n > 0 {
                body.push('\n');
                self.pos += n;
                continue;
            }
            let c = self.peek().unwrap_or_default();
            if c == '\\' && hashes == 0 {
                let next = self.peek_at(self.pos + 1);
                match next {
                    Some(n) if is_unicode_space(n) || is_newline(n) => {
                        self.pos += 1;
                        while let Some(c) = self.peek() {
                            if is_unicode_space(c) || is_newline(c) {
                                self.pos += c.len_utf8();
                            } else {
                                break;
                            }
                        }
                    }
                    Some(n) => {
                        self.check_allowed(n).map_err(|e| ReadError { offset: self.pos + 1, ..e })?;
                        body.push('\\');
                        body.push(n);
                        escaped = true;
                        self.pos += 1 + n.len_utf8();
                    }
                    None => return self.err(open, hashes + 3, "unclosed multi-line string: `\"\"\"` expected"),
                }
                continue;
            }
            self.check_allowed(c)?;
            body.push(c);
            self.pos += c.len_utf8();
        }
        let close = self.pos - 3 - hashes;
        let (lines, last) = match body.rfind('\n') {
            Some(i) => (&body[..i], &body[i + 1..]),
            None => ("", body.as_str()),
        };
        let has_lines = body.contains('\n');
        if !last.chars().all(is_unicode_space) {
            return self.err(
                close,
                3 + hashes,
                "the closing `\"\"\"` of a multi-line string must be alone on its line",
            );
        }
        let mut out = String::with_capacity(lines.len());
        if has_lines {
            for (i, line) in lines.split('\n').enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                if line.chars().all(is_unicode_space) {
                    continue;
                }
                match line.strip_prefix(last) {
                    Some(rest) => out.push_str(rest),
                    None => return self.err(
                        close,
                        3 + hashes,
                        "every line of a multi-line string must start with the whitespace before its closing `\"\"\"`",
                    ),
                }
            }
        }
        if !escaped {
            return Ok(out);
        }
        let mut resolved = String::with_capacity(out.len());
        let mut sub = Reader { text: &out, b: out.as_bytes(), pos: 0, source: self.source, depth: 0 };
        while let Some(c) = sub.peek() {
            if c == '\\' {
                sub.escape(&mut resolved, false).map_err(|m| ReadError {
                    offset: open,
                    len: close + 3 + hashes - open,
                    message: m,
                })?;
            } else {
                resolved.push(c);
                sub.pos += c.len_utf8();
            }
        }
        Ok(resolved)
    }
}

/// A number token (the whole run of identifier characters) as a value, or `None` when
/// it is not one. Integers are `i128`; a number with a `.` or an exponent is an `f64`.
fn number(w: &str) -> Option<Value> {
    let (neg, body) = match w.as_bytes().first()? {
        b'-' => (true, &w[1..]),
        b'+' => (false, &w[1..]),
        _ => (false, w),
    };
    let radix = match body.get(..2) {
        Some("0x") => 16,
        Some("0o") => 8,
        Some("0b") => 2,
        _ => 10,
    };
    if radix != 10 {
        let digits = &body[2..];
        if !digits.as_bytes().first()?.is_ascii_alphanumeric() {
            return None;
        }
        if !digits.bytes().all(|b| b == b'_' || (b as char).is_digit(radix)) {
            return None;
        }
        return signed(neg, &digits.replace('_', ""), radix).map(Value::Int);
    }
    // decimal := sign? integer ('.' integer)? exponent?; integer := digit (digit | '_')*
    let int_digits = |s: &str| {
        s.as_bytes().first().is_some_and(u8::is_ascii_digit) && s.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    if !int_digits(int) || frac.is_some_and(|f| !int_digits(f)) {
        return None;
    }
    if let Some(e) = exponent {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        if !int_digits(e) {
            return None;
        }
    }
    if frac.is_none() && exponent.is_none() {
        return signed(neg, &int.replace('_', ""), 10).map(Value::Int);
    }
    w.replace('_', "").parse::<f64>().ok().map(Value::Float)
}

fn signed(neg: bool, digits: &str, radix: u32) -> Option<i128> {
    let v = i128::from_str_radix(digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document {
        read(SourceId(0), text).unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
    }

    #[test]
    fn numbers() {
        assert_eq!(number("1_000"), Some(Value::Int(1000)));
        assert_eq!(number("-0x_1"), None);
        assert_eq!(number("0xff"), Some(Value::Int(255)));
        assert_eq!(number("-0o17"), Some(Value::Int(-15)));
        assert_eq!(number("0b1_01"), Some(Value::Int(5)));
        assert_eq!(number("1.5e3"), Some(Value::Float(1500.0)));
        assert_eq!(number("1e-2"), Some(Value::Float(0.01)));
        assert_eq!(number("1."), None);
        assert_eq!(number("1.0v2"), None);
        assert_eq!(number("1_"), Some(Value::Int(1)));
    }

    #[test]
    fn spans_and_values() {
        let d = doc("a (t)1 k=\"v\" {\n  b #true\n}\n");
        let a = &d.nodes[0];
        assert_eq!(a.name.span, Span::new(SourceId(0), 0, 1));
        assert_eq!(a.args[0].ty.as_ref().map(|t| t.span.offset), Some(3));
        assert_eq!((a.args[0].span.offset, a.args[0].entry_span.offset), (5, 2));
        assert_eq!(a.props[0].value.entry_span, Span::new(SourceId(0), 7, 5));
        assert_eq!(a.children()[0].args[0].value, Value::Bool(true));
        assert_eq!(a.span.end(), 26);
    }

    #[test]
    fn multi_line_strings_dedent_after_whitespace_escapes() {
        let d = doc("a \"\"\"\n    x\\n\n      y\n    \"\"\"\n");
        assert_eq!(d.nodes[0].args[0].value, Value::String("x\n\n  y".into()));
        let d = doc("a #\"\"\"\n  \\n\n  \"\"\"#\n");
        assert_eq!(d.nodes[0].args[0].value, Value::String("\\n".into()));
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "a {".repeat(MAX_DEPTH + 1) + &"}".repeat(MAX_DEPTH + 1);
        assert!(read(SourceId(0), &deep).is_err());
        let ok = "a {".repeat(MAX_DEPTH) + &"}".repeat(MAX_DEPTH);
        assert!(read(SourceId(0), &ok).is_ok());
    }
}
