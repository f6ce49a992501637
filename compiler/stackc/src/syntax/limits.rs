//! A linear pre-scan that refuses inputs the `kdl` parser cannot survive, before it runs.
//!
//! `kdl` 6.7 is a recursive-descent parser: it recurses once per level of `{` nesting and
//! once per `/`, `*` (and per run of other text) inside a block comment, so a long enough
//! input overflows any stack and aborts the process. It also re-parses a commented-out
//! children block (`/-{ … }`) once for each enclosing one, so the time doubles with every
//! nested level. The scan tokenises just enough of KDL 2 to know what is code, string or
//! comment, and measures exactly those three things.
//!
//! The limits, and why no real stack meets them:
//! - [`MAX_DEPTH`] = 64 levels of `{`: the examples nest at most 5 levels (`env`, then
//!   `service`, then `resources`, …) and the schema not much more; a file deeper than 10
//!   is already a mistake (usually `{`s that were never closed).
//! - [`MAX_COMMENT_MARKS`] = 4 096 `/` and `*` characters in one block comment: a page of
//!   commented-out configuration full of URLs and globs has a few hundred. Larger texts
//!   belong in `//` line comments, which the parser reads without recursion.
//! - [`MAX_SLASHDASH_DEPTH`] = 4 nested commented-out children blocks: nobody comments out a
//!   block inside a block that is already commented out, and 4 levels cost at most 16 parses.
//!
//! Measured stack cost of `kdl` in a debug build: about 34 KiB per `{` level and 4 KiB per
//! comment token (in release 7 KiB and 0.5 KiB), so the worst input within the limits needs
//! about 2 MiB + 2 × 4 096 × 4 KiB ≈ 35 MiB; [`KDL_STACK`] gives the parser several times
//! that, on a stack of its own, whatever the caller's thread has (it is only reserved
//! address space until used).
//!
//! Where the parser meets a syntax error it recovers by skipping one bad token and reading
//! on, so the text of a malformed string becomes code to it. The scan follows it for the
//! malformed strings it can tell (bad escapes, forbidden characters, a missing end, a string
//! glued to the token before it, a multi-line string indented less than its closing
//! quotes). Errors it does not model may still turn string text into code; they fall back
//! on the margin of [`KDL_STACK`]: it takes more than about 7 000 nested `{` (debug;
//! 38 000 in release) to overflow it.

/// Children blocks nested deeper than this are refused.
pub const MAX_DEPTH: usize = 64;
/// A block comment (with the comments nested in it) with more `/` and `*` than this is refused.
pub const MAX_COMMENT_MARKS: usize = 4096;
/// Commented-out children blocks (`/-{`) nested deeper than this are refused.
pub const MAX_SLASHDASH_DEPTH: usize = 4;
/// The stack the `kdl` parser runs on (see the module comment for the arithmetic).
pub const KDL_STACK: usize = 256 << 20;

/// Which limit an input exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Depth,
    CommentMarks,
    SlashdashDepth,
}

/// The first place where an input exceeds a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitError {
    pub limit: Limit,
    /// Byte span of the offending `{`, the opening `/*` of the comment, or the `/-`.
    pub offset: usize,
    pub len: usize,
    /// For a comment: how many `/` and `*` it has in all.
    pub count: usize,
}

impl LimitError {
    pub fn message(&self) -> String {
        match self.limit {
            Limit::Depth => format!("children blocks nested more than {MAX_DEPTH} levels deep"),
            Limit::CommentMarks => {
                format!("a block comment with {} `/` and `*` characters (at most {MAX_COMMENT_MARKS})", self.count)
            }
            Limit::SlashdashDepth => {
                format!("commented-out children blocks (`/-{{`) nested more than {MAX_SLASHDASH_DEPTH} deep")
            }
        }
    }

    pub fn label(&self) -> String {
        match self.limit {
            Limit::Depth => format!("level {} opens here", MAX_DEPTH + 1),
            Limit::CommentMarks => "this comment".into(),
            Limit::SlashdashDepth => format!("level {} opens here", MAX_SLASHDASH_DEPTH + 1),
        }
    }

    pub fn help(&self) -> String {
        match self.limit {
            Limit::Depth => format!(
                "stackc reads at most {MAX_DEPTH} levels of `{{` (real stacks use fewer than 10): close the \
                 blocks that were left open, or flatten the structure"
            ),
            Limit::CommentMarks => format!(
                "the KDL parser reads each `/` and `*` of a block comment as one nested step, so stackc \
                 accepts at most {MAX_COMMENT_MARKS} per block comment: use `//` line comments for long \
                 text, or split the comment"
            ),
            Limit::SlashdashDepth => format!(
                "the KDL parser re-reads a commented-out block once per enclosing one, so stackc accepts at \
                 most {MAX_SLASHDASH_DEPTH} levels: delete the inner commented-out blocks, or comment them \
                 out with `//`"
            ),
        }
    }
}

/// Scans `text` once; `Err` at the first limit it exceeds.
pub fn scan(text: &str) -> Result<(), LimitError> {
    let b = text.as_bytes();
    // For every open `{`: whether it opens a commented-out children block.
    let mut open: Vec<bool> = Vec::new();
    let mut slashdashed = 0usize;
    // The `/-` whose target is not known yet (a node, an entry or a children block).
    let mut pending_slashdash: Option<usize> = None;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = line_end(b, i + 2);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let (end, marks) = block_comment(b, i);
                if marks > MAX_COMMENT_MARKS {
                    return Err(LimitError { limit: Limit::CommentMarks, offset: i, len: 2, count: marks });
                }
                i = end;
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'-') => {
                pending_slashdash = Some(i);
                i += 2;
                continue;
            }
            // A malformed string or raw string is read as code, from its opening quote on.
            b'"' | b'#' => {
                let end = if misplaced(b, i) {
                    // The opener (`#`s and quotes) is part of the bad token; what follows is code.
                    Some(i + b[i..].iter().take_while(|&&c| c == b'#' || c == b'"').count())
                } else if b[i] == b'"' {
                    quoted(b, i)
                } else {
                    hashed(b, i)
                };
                pending_slashdash = None;
                i = end.unwrap_or(i + 1);
            }
            b'{' => {
                let sd = pending_slashdash.take();
                open.push(sd.is_some());
                if open.len() > MAX_DEPTH {
                    return Err(LimitError { limit: Limit::Depth, offset: i, len: 1, count: open.len() });
                }
                if let Some(at) = sd {
                    slashdashed += 1;
                    if slashdashed > MAX_SLASHDASH_DEPTH {
                        return Err(LimitError {
                            limit: Limit::SlashdashDepth,
                            offset: at,
                            len: 2,
                            count: slashdashed,
                        });
                    }
                }
                i += 1;
            }
            b'}' => {
                if open.pop() == Some(true) {
                    slashdashed -= 1;
                }
                pending_slashdash = None;
                i += 1;
            }
            // Space, newlines, a line continuation and non-ASCII (Unicode spaces) may stand
            // between `/-` and the block it comments out; counting a block as commented out
            // when it is not only makes the check stricter.
            c if c.is_ascii_whitespace() || c == b'\\' || c >= 0x80 => i += 1,
            _ => {
                pending_slashdash = None;
                i += 1;
            }
        }
    }
    Ok(())
}

/// KDL 2 newlines: CR, LF, VT, FF, NEL, LS, PS. Returns the byte length of the one at `i`.
pub(super) fn newline_len(b: &[u8], i: usize) -> Option<usize> {
    match b[i] {
        b'\r' | b'\n' | 0x0B | 0x0C => Some(1),
        0xC2 if b.get(i + 1) == Some(&0x85) => Some(2),
        0xE2 if b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xA8 | 0xA9)) => Some(3),
        _ => None,
    }
}

/// The offset of the newline that ends a line comment (or the end of the text).
pub(super) fn line_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && newline_len(b, i).is_none() {
        i += 1;
    }
    i
}

/// A block comment starting at `i` (nested ones included, `*/` before `/*` as in `kdl`):
/// its end and its number of `/` and `*`, which is the parser's recursion depth within it.
pub(super) fn block_comment(b: &[u8], mut i: usize) -> (usize, usize) {
    let mut depth = 0usize;
    let mut marks = 0usize;
    while i < b.len() {
        if b[i] == b'*' && b.get(i + 1) == Some(&b'/') && depth > 0 {
            depth -= 1;
            marks += 2;
            i += 2;
            if depth == 0 {
                return (i, marks);
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            depth += 1;
            marks += 2;
            i += 2;
        } else {
            marks += usize::from(matches!(b[i], b'/' | b'*'));
            i += 1;
        }
    }
    (i, marks)
}

/// A string (or `#` keyword) glued to what comes before it in a way KDL 2 never allows,
/// like `a =="x"` or `a b"x"`: the parser reads such a value as one bad token up to the
/// next space, then the string's text as code.
fn misplaced(b: &[u8], i: usize) -> bool {
    let Some(&prev) = i.checked_sub(1).and_then(|p| b.get(p)) else { return false };
    let fits = prev.is_ascii_whitespace()
        || prev >= 0x80
        || matches!(prev, b'(' | b')' | b'{' | b'}' | b';' | b'-' | b'\\' | b'/' | b'#');
    let after_key = prev == b'=' && i.checked_sub(2).and_then(|p| b.get(p)) != Some(&b'=');
    !(fits || after_key)
}

/// A `"…"` or `"""…"""` string starting at `i`: the offset after it, or `None` when it is
/// malformed (a bad escape, a newline in a single-line string, a forbidden control
/// character, no end). The parser recovers from a malformed string by skipping to the next
/// space and reading on from there as code, so the scan must read its text as code too.
fn quoted(b: &[u8], i: usize) -> Option<usize> {
    let multi = b[i..].starts_with(b"\"\"\"");
    let mut j = i + if multi { 3 } else { 1 };
    if multi && (j >= b.len() || newline_len(b, j).is_none()) {
        return None;
    }
    while j < b.len() {
        match b[j] {
            b'\\' => j = escaped(b, j + 1)?,
            b'"' if !multi => return Some(j + 1),
            b'"' if b[j..].starts_with(b"\"\"\"") => return dedents(b, i + 3, j).then_some(j + 3),
            _ if !multi && newline_len(b, j).is_some() => return None,
            _ if forbidden(b, j) => return None,
            _ => j += 1,
        }
    }
    None
}

/// Whether a multi-line string (text from `body`, closing quotes at `close`) is indented
/// as KDL 2 requires: the closing quotes alone on their line, every line that is not blank
/// starting with the whitespace before them. Only LF and CRLF lines are told apart; other
/// newlines make a string look malformed, which only makes the check stricter.
fn dedents(b: &[u8], body: usize, close: usize) -> bool {
    let is_space = |c: &u8| *c == b' ' || *c == b'\t' || *c >= 0x80;
    let line_start = b[..close].iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1);
    if line_start < body {
        return false;
    }
    let prefix = &b[line_start..close];
    if !prefix.iter().all(is_space) {
        return false;
    }
    b[body..line_start.saturating_sub(1).max(body)].split(|&c| c == b'\n').all(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        line.iter().all(is_space) || line.starts_with(prefix)
    })
}

/// After the `\\` of an escape: the offset after it, `None` for an invalid escape. A
/// whitespace escape takes all the whitespace and newlines that follow it (so a CRLF does
/// not end the string).
pub(super) fn escaped(b: &[u8], mut j: usize) -> Option<usize> {
    let is_space = |j: usize| b[j] == b' ' || b[j] == b'\t' || newline_len(b, j).is_some();
    match b.get(j)? {
        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' | b's' => Some(j + 1),
        b'u' => {
            let digits = b.get(j + 2..)?.iter().take_while(|c| c.is_ascii_hexdigit()).count();
            let ok = b.get(j + 1) == Some(&b'{') && (1..=6).contains(&digits) && b.get(j + 2 + digits) == Some(&b'}');
            ok.then_some(j + 3 + digits)
        }
        _ if is_space(j) => {
            while j < b.len() && is_space(j) {
                j += newline_len(b, j).unwrap_or(1);
            }
            Some(j)
        }
        _ => None,
    }
}

/// A code point KDL 2 forbids in a document (controls other than newlines and tab,
/// direction marks, BOM), which makes the string around it malformed.
fn forbidden(b: &[u8], j: usize) -> bool {
    match b[j] {
        0x00..=0x08 | 0x0E..=0x1F | 0x7F => true,
        0xE2 => matches!(
            (b.get(j + 1), b.get(j + 2)),
            (Some(0x80), Some(0x8E | 0x8F | 0xAA..=0xAE)) | (Some(0x81), Some(0xA6..=0xA9))
        ),
        0xEF => b.get(j + 1) == Some(&0xBB) && b.get(j + 2) == Some(&0xBF),
        _ => false,
    }
}

/// `#` at `i`: a raw string `#"…"#` / `#"""…"""#` (any number of `#`, no escapes), or a
/// keyword (`#true`, `#null`, …). The offset after it, or `None` for a malformed raw
/// string (see [`quoted`]).
fn hashed(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    while b.get(j) == Some(&b'#') {
        j += 1;
    }
    let hashes = j - i;
    if b.get(j) != Some(&b'"') {
        return Some(j);
    }
    let multi = b[j..].starts_with(b"\"\"\"");
    j += if multi { 3 } else { 1 };
    if multi && (j >= b.len() || newline_len(b, j).is_none()) {
        return None;
    }
    let quotes = if multi { 3 } else { 1 };
    while j < b.len() {
        if b[j] == b'"' && (!multi || b[j..].starts_with(b"\"\"\"")) {
            let after = j + quotes;
            if b.len() >= after + hashes && b[after..after + hashes].iter().all(|&c| c == b'#') {
                return (!multi || dedents(b, i + hashes + 3, j)).then_some(after + hashes);
            }
        } else if (!multi && newline_len(b, j).is_some()) || forbidden(b, j) {
            return None;
        }
        j += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(text: &str) -> Option<(Limit, usize)> {
        scan(text).err().map(|e| (e.limit, e.offset))
    }

    fn nested(n: usize) -> String {
        format!("{}{}", "a {".repeat(n), "}".repeat(n))
    }

    #[test]
    fn depth_is_measured_on_code_only() {
        assert_eq!(limit(&nested(MAX_DEPTH)), None);
        assert_eq!(limit(&nested(MAX_DEPTH + 1)), Some((Limit::Depth, 3 * MAX_DEPTH + 2)));
        // Closed blocks do not add up.
        assert_eq!(limit(&"a { b { } }\n".repeat(1000)), None);
        let braces = "{".repeat(100);
        for hidden in [
            format!("a \"{braces}\""),
            format!("a \"\\\"{braces}\""),
            format!("a \"\"\"\n\"{braces}\"\n\"\"\""),
            format!("a #\"\"{braces}\"#"),
            format!("a ##\"\"#{braces}\"##"),
            format!("a #\"\"\"\n\"\"\"{braces}\n\"\"\"#"),
            format!("// {braces}\n"),
            format!("/* /* */ {braces} */"),
            format!("/-a \"{braces}\""),
        ] {
            assert_eq!(limit(&hidden), None, "{hidden}");
        }
    }

    #[test]
    fn strings_end_where_kdl_ends_them() {
        let deep = nested(MAX_DEPTH + 1);
        for before in [
            "a \"x\\\\\"",
            "a \"x\\\r\n  y\"",
            "a \"\"",
            "a \"unterminated\n",
            "a #\"raw \\\"#",
            "a ##\"x\"#\"##",
            "a #true #null #-inf",
            "a \"\"\"\n\\\"\"\"\n\"\"\"",
            "// comment\r",
            "// comment\u{2028}",
            "/* a */ /* */",
            "/**/",
            "/*/ x */",
        ] {
            let text = format!("{before}\n{deep}");
            assert_eq!(limit(&text).map(|l| l.0), Some(Limit::Depth), "{text:?}");
        }
    }

    /// The parser reads the text of a malformed string as code (it skips to the next
    /// space and goes on), so its `{`s count.
    #[test]
    fn malformed_strings_are_read_as_code() {
        let braces = "{".repeat(MAX_DEPTH + 1);
        for text in [
            format!("a \"\\q {braces}\""),
            format!("a \"\\u{{1234567}} {braces}\""),
            format!("a \"x\u{0} {braces}\""),
            format!("a \"x\u{feff} {braces}\""),
            format!("a \"{braces}"),
            format!("a \"x {braces}\nb\""),
            format!("a \"\"\" {braces}\"\"\""),
            format!("a #\"x {braces}"),
            format!("a #\"x {braces}\n\"#"),
            format!("a \"\"\"\n  x {braces}\n    \"\"\""),
            format!("a #\"\"\"\n  x {braces}\n    \"\"\"#"),
            format!("a \"\"\"\n  x {braces} \"\"\""),
            format!("a ==\"x {braces}\""),
            format!("a b\"x {braces}\""),
            format!("a 1#\"x {braces}\"#"),
        ] {
            assert_eq!(limit(&text).map(|l| l.0), Some(Limit::Depth), "{text:?}");
        }
        // Strings where KDL 2 allows them are not misplaced.
        for before in
            ["a ", "a k=", "a \"k\"=", "a k = ", "(t)", "a (t)", "a;", "a {", "/-", "a /* c */", "a \\\n  ", "a 日 "]
        {
            let text = format!("{before}\"{braces}\" #\"{braces}\"#");
            assert_eq!(limit(&text), None, "{text:?}");
        }
        // Well-indented multi-line strings are not malformed.
        for text in [
            format!("a \"\"\"\n    x {braces}\n\n  \n    y\n    \"\"\""),
            format!("a #\"\"\"\r\n\tx {braces}\r\n\t\"\"\"#"),
            format!("a \"\"\"\n{braces}\n\"\"\""),
            "a \"\"\"\n\"\"\"".to_string(),
        ] {
            assert_eq!(limit(&text), None, "{text:?}");
        }
        // Valid escapes are not malformed.
        let valid = format!("a \"\\\"\\\\\\b\\f\\n\\r\\t\\s\\u{{1F980}}\\  \n  {braces}\"");
        assert_eq!(limit(&valid), None, "{valid:?}");
    }

    #[test]
    fn comment_marks() {
        let ok = format!("/*{}*/", "/x".repeat(MAX_COMMENT_MARKS - 4));
        assert_eq!(limit(&ok), None);
        let long = format!("a\n/*{}*/", "*".repeat(MAX_COMMENT_MARKS));
        assert_eq!(limit(&long), Some((Limit::CommentMarks, 2)));
        // Marks of separate comments are not added up; nested ones are.
        assert_eq!(limit(&format!("/*{}*/\n", "/x".repeat(100)).repeat(100)), None);
        let nested = format!("/*{}{}*/", "/*".repeat(MAX_COMMENT_MARKS / 4), "*/".repeat(MAX_COMMENT_MARKS / 4));
        assert_eq!(limit(&nested).map(|l| l.0), Some(Limit::CommentMarks));
        // An unclosed comment runs to the end of the file.
        assert_eq!(limit(&format!("/* {}", "x/".repeat(MAX_COMMENT_MARKS))).map(|l| l.0), Some(Limit::CommentMarks));
    }

    /// The worst inputs within the limits, on this test thread's small stack: only
    /// [`KDL_STACK`] keeps the parser from overflowing it.
    #[test]
    fn the_parser_survives_everything_within_the_limits() {
        let comment = format!("/*{}*/", "x*".repeat(MAX_COMMENT_MARKS / 2 - 2));
        assert_eq!(limit(&comment), None);
        let deepest = format!("{}{comment}{}", "a {".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        let slashdashed = format!("{}{}", "a /-{".repeat(MAX_SLASHDASH_DEPTH), "}".repeat(MAX_SLASHDASH_DEPTH));
        for text in [deepest, slashdashed] {
            assert_eq!(limit(&text), None);
            assert!(crate::syntax::parse_kdl(&text).is_ok());
        }
    }

    #[test]
    fn slashdashed_blocks() {
        let sd = |n: usize| format!("{}{}", "a /-{".repeat(n), "}".repeat(n));
        assert_eq!(limit(&sd(MAX_SLASHDASH_DEPTH)), None);
        assert_eq!(limit(&sd(MAX_SLASHDASH_DEPTH + 1)), Some((Limit::SlashdashDepth, 5 * MAX_SLASHDASH_DEPTH + 2)));
        let spaced = format!("{}{}", "a /- /* c */ \\\n {".repeat(9), "}".repeat(9));
        assert_eq!(limit(&spaced).map(|l| l.0), Some(Limit::SlashdashDepth));
        // A commented-out node's own children, and closed blocks, are not nested slashdashes.
        assert_eq!(limit(&format!("{}{}", "/-a {".repeat(9), "}".repeat(9))), None);
        assert_eq!(limit(&"a /-{ b }\n".repeat(50)), None);
    }
}
