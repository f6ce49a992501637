//! Reading a file that failed to parse as KDL 2: where KDL 1 spellings really are (E0101),
//! and where a single-line string runs into a newline (the parser's error for that can
//! point at the start of the file).
//!
//! The text is tokenised as KDL 2 (comments, slashdash, quoted, multi-line and raw strings,
//! `#` keywords), so that nothing inside a string or a comment, and no `#true`, is taken
//! for KDL 1. A string broken by a newline ends at that newline: the user meant it as a
//! string, and reading its text as code would invent errors in it.

use super::limits::{block_comment, escaped, line_end, newline_len};

/// A KDL 1 spelling: where it is, what it is, and its KDL 2 spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Form {
    pub offset: usize,
    pub len: usize,
    pub what: String,
    pub fixed: String,
}

/// A single-line string that a newline interrupts: the opening quote (with its `#`s) to
/// the end of that line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenString {
    pub offset: usize,
    pub len: usize,
    pub raw: bool,
}

#[derive(Debug, Default)]
pub struct Scan {
    pub v1: Vec<V1Form>,
    pub broken: Vec<BrokenString>,
    /// Offsets of the `/-` glued to the token before them (`node "a"/-1`): KDL 2 allows
    /// it, the `kdl` crate (6.7.1) does not, so its errors are read with a space there.
    pub glued_slashdash: Vec<usize>,
}

pub fn scan(text: &str) -> Scan {
    let b = text.as_bytes();
    let mut out = Scan::default();
    // A node name comes next (else arguments and properties).
    let mut node_start = true;
    let mut parens = 0usize;
    let mut i = 0;
    while i < b.len() {
        if let Some(n) = newline_len(b, i) {
            node_start = true;
            i += n;
            continue;
        }
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => i = line_end(b, i + 2),
            b'/' if b.get(i + 1) == Some(&b'*') => i = block_comment(b, i).0,
            b'/' if b.get(i + 1) == Some(&b'-') => {
                if i > 0 && !b[i - 1].is_ascii_whitespace() && !matches!(b[i - 1], b'{' | b';') {
                    out.glued_slashdash.push(i);
                }
                i += 2;
            }
            // A line continuation: the node goes on.
            b'\\' => {
                let end = line_end(b, i + 1);
                i = end + if end < b.len() { newline_len(b, end).unwrap_or(1) } else { 0 };
            }
            b';' | b'{' | b'}' => {
                node_start = true;
                i += 1;
            }
            b'(' => {
                parens += 1;
                i += 1;
            }
            b')' => {
                parens = parens.saturating_sub(1);
                i += 1;
            }
            b'=' => i += 1,
            b'"' | b'#' => {
                let (end, broken) = string(b, i);
                if let Some(line) = broken {
                    out.broken.push(BrokenString { offset: i, len: line - i, raw: b[i] == b'#' });
                }
                i = end;
                node_start = false;
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                let start = i;
                while i < b.len() && newline_len(b, i).is_none() && is_word_byte(b[i]) {
                    i += 1;
                }
                i = i.max(start + 1);
                let word = &text[start..i];
                if word == "r" && matches!(b.get(i), Some(b'"' | b'#')) {
                    let end = v1_raw(b, i);
                    out.v1.push(raw_form(text, start, end));
                    i = end;
                } else if parens == 0
                    && !node_start
                    && b.get(i) != Some(&b'=')
                    && matches!(word, "true" | "false" | "null")
                {
                    out.v1.push(V1Form {
                        offset: start,
                        len: word.len(),
                        what: format!("`{word}` is the KDL 1 spelling"),
                        fixed: format!("#{word}"),
                    });
                }
                if parens == 0 {
                    node_start = false;
                }
            }
        }
    }
    out
}

fn is_word_byte(c: u8) -> bool {
    !(c.is_ascii_whitespace() || matches!(c, b'{' | b'}' | b'(' | b')' | b';' | b'"' | b'\\' | b'/' | b'#' | b'='))
}

/// A string token at `i` (`"…"`, `"""…"""`, `#"…"#`, `#"""…"""#`, or a `#` keyword): the
/// offset after it, and for a single-line string interrupted by a newline, the offset of
/// that newline. A quoted string ends there (usually its closing quote was forgotten); a
/// raw string whose closing `"#` comes on a later line was meant to span lines, and ends
/// at that `"#`.
fn string(b: &[u8], i: usize) -> (usize, Option<usize>) {
    let mut j = i;
    while b.get(j) == Some(&b'#') {
        j += 1;
    }
    let hashes = j - i;
    if b.get(j) != Some(&b'"') {
        // `#true`, `#inf`, …: a keyword.
        while j < b.len() && newline_len(b, j).is_none() && is_word_byte(b[j]) {
            j += 1;
        }
        return (j.max(i + 1), None);
    }
    let multi = b[j..].starts_with(b"\"\"\"");
    let quotes = if multi { 3 } else { 1 };
    j += quotes;
    let mut broken = None;
    while j < b.len() {
        if hashes == 0 && b[j] == b'\\' {
            j = escaped(b, j + 1).unwrap_or(j + 2);
            continue;
        }
        if b[j] == b'"' && (!multi || b[j..].starts_with(b"\"\"\"")) {
            let after = j + quotes;
            if b.len() >= after + hashes && b[after..after + hashes].iter().all(|&c| c == b'#') {
                return (after + hashes, broken);
            }
        } else if !multi && broken.is_none() && newline_len(b, j).is_some() {
            if hashes == 0 {
                return (j, Some(j));
            }
            broken = Some(j);
        }
        j += 1;
    }
    match broken {
        Some(line) => (line, broken),
        None => (b.len(), (!multi).then_some(b.len())),
    }
}

/// A KDL 1 raw string after its `r` (at `i`: `"…"` or `#…#"…"#…#`, newlines allowed): the
/// offset after it.
fn v1_raw(b: &[u8], mut i: usize) -> usize {
    let mut hashes = 0;
    while b.get(i) == Some(&b'#') {
        hashes += 1;
        i += 1;
    }
    if b.get(i) != Some(&b'"') {
        return i;
    }
    i += 1;
    while i < b.len() {
        if b[i] == b'"' && b.len() > i + hashes && b[i + 1..=i + hashes].iter().all(|&c| c == b'#') {
            return i + 1 + hashes;
        }
        i += 1;
    }
    b.len()
}

/// `r"…"` / `r#"…"#` from `start` (the `r`) to `end`, with its KDL 2 spelling: at least one
/// `#`, and `"""` quotes when it spans lines.
fn raw_form(text: &str, start: usize, end: usize) -> V1Form {
    let raw = &text[start + 1..end];
    let hashes = raw.bytes().take_while(|&c| c == b'#').count();
    let body = raw[hashes..].strip_prefix('"').unwrap_or(&raw[hashes..]);
    let body = body.strip_suffix(&"#".repeat(hashes)).unwrap_or(body);
    let body = body.strip_suffix('"').unwrap_or(body);
    let h = "#".repeat(hashes.max(1));
    let fixed = if body.contains('\n') { format!("{h}\"\"\"{body}\"\"\"{h}") } else { format!("{h}\"{body}\"{h}") };
    V1Form { offset: start, len: end - start, what: "a KDL 1 raw string".into(), fixed }
}

/// An edit of the text: `len` bytes at `offset` replaced by `new_len` bytes.
#[derive(Debug, Clone, Copy)]
pub struct Edit {
    offset: usize,
    len: usize,
    new_len: usize,
}

/// The text with every KDL 1 form written in KDL 2, and the edits made, so that the
/// parser's errors in it can be mapped back: what is left are the errors the KDL 1 forms
/// do not explain.
pub fn repair(text: &str, forms: &[V1Form]) -> (String, Vec<Edit>) {
    let mut out = String::with_capacity(text.len() + forms.len());
    let mut edits = Vec::with_capacity(forms.len());
    let mut at = 0;
    for f in forms {
        out.push_str(&text[at..f.offset]);
        out.push_str(&f.fixed);
        edits.push(Edit { offset: f.offset, len: f.len, new_len: f.fixed.len() });
        at = f.offset + f.len;
    }
    out.push_str(&text[at..]);
    (out, edits)
}

/// An offset of the repaired text, in the original text. Inside a replaced form it maps
/// into that form.
pub fn original(edits: &[Edit], r: usize) -> usize {
    let mut shift: isize = 0;
    for e in edits {
        let start = e.offset.saturating_add_signed(shift);
        if r < start {
            break;
        }
        if r < start + e.new_len {
            return e.offset + (r - start).min(e.len);
        }
        shift += e.new_len as isize - e.len as isize;
    }
    r.saturating_add_signed(-shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forms(text: &str) -> Vec<(usize, String)> {
        scan(text).v1.into_iter().map(|f| (f.offset, f.fixed)).collect()
    }

    #[test]
    fn kdl2_keywords_strings_and_comments_are_not_kdl1() {
        for text in [
            "a #true #false #null k=#true",
            "a \"true\" k=\"null\"",
            "a \"\"\"\n  true\n  \"\"\"",
            "a #\"true \" false\"#",
            "a ##\"x\"# true\"##",
            "// true\na /* false /* null */ true */",
            "a (true)\"x\"",
            "true=1",
            "true",
            "a \"x\\\" true\"",
        ] {
            assert_eq!(forms(text), vec![], "{text:?}");
        }
    }

    #[test]
    fn kdl1_forms_are_found_where_they_are() {
        assert_eq!(
            forms("a true k=false\nb null"),
            vec![(2, "#true".into()), (9, "#false".into()), (17, "#null".into())]
        );
        assert_eq!(forms("a /-true"), vec![(4, "#true".into())]);
        assert_eq!(forms("a r\"x\" k=r#\"y\"z\"#"), vec![(2, "#\"x\"#".into()), (9, "#\"y\"z\"#".into())]);
        assert_eq!(forms("a r#\"\nx\n\"#"), vec![(2, "#\"\"\"\nx\n\"\"\"#".into())]);
    }

    /// A string broken by a newline ends there: its text is not code.
    #[test]
    fn a_broken_string_ends_at_its_line() {
        let s = scan("a \"x true\nb k=\"false\" c=true\n");
        assert_eq!(s.broken, vec![BrokenString { offset: 2, len: 7, raw: false }]);
        assert_eq!(
            s.v1,
            vec![V1Form { offset: 24, len: 4, what: "`true` is the KDL 1 spelling".into(), fixed: "#true".into() }]
        );
        // A raw string closed on a later line was meant to span lines: it ends there.
        let s = scan("a #\"x\ny\"# true");
        assert_eq!(s.broken, vec![BrokenString { offset: 2, len: 3, raw: true }]);
        assert_eq!(s.v1.len(), 1);
        let s = scan("a #\"x\nb true");
        assert_eq!(s.broken, vec![BrokenString { offset: 2, len: 3, raw: true }]);
        assert_eq!(s.v1.len(), 1);
    }

    #[test]
    fn offsets_map_back_through_the_repair() {
        let text = "a true r\"x\" b";
        let s = scan(text);
        let (fixed, edits) = repair(text, &s.v1);
        assert_eq!(fixed, "a #true #\"x\"# b");
        assert_eq!(original(&edits, 0), 0);
        assert_eq!(original(&edits, 2), 2);
        assert_eq!(original(&edits, 8), 7);
        assert_eq!(original(&edits, 14), 12);
    }
}
