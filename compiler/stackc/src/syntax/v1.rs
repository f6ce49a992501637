//! Spotting KDL 1 spellings in a file that failed to parse as KDL 2, so that the user is
//! told the KDL 2 spelling instead of a generic syntax error.

use crate::diagnostics::{Code, Diagnostic};
use crate::source::{SourceId, Span};

pub fn detect(source: SourceId, text: &str) -> Vec<Diagnostic> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 0usize;
                while i < bytes.len() {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'"' => i = skip_quoted(bytes, i),
            b'#' if matches!(bytes.get(i + 1), Some(b'"') | Some(b'#')) => {
                i = skip_raw(bytes, i);
            }
            _ if is_word_byte(c) => {
                let start = i;
                while i < bytes.len() && is_word_byte(bytes[i]) {
                    i += 1;
                }
                // `r"…"` / `r#"…"#`: a KDL 1 raw string.
                if &text[start..i] == "r" || text[start..i].ends_with("=r") {
                    if matches!(bytes.get(i), Some(b'"') | Some(b'#')) {
                        let r_at = i - 1;
                        let end = skip_raw(bytes, i);
                        let raw = &text[i..end];
                        let hashes = raw.chars().take_while(|&c| c == '#').count().max(1);
                        let fixed = format!("{}{}", "#".repeat(hashes), raw.trim_start_matches('#'));
                        let fixed = if raw.starts_with('#') { fixed } else { format!("{fixed}{}", "#".repeat(hashes)) };
                        out.push(v1_diag(Span::new(source, r_at, end - r_at), "a KDL 1 raw string", &fixed));
                        i = end;
                    }
                    continue;
                }
                let word = &text[start..i];
                let (value, voff) = match word.rfind('=') {
                    Some(eq) => (&word[eq + 1..], start + eq + 1),
                    None => (word, start),
                };
                if matches!(value, "true" | "false" | "null") {
                    out.push(v1_diag(
                        Span::new(source, voff, value.len()),
                        &format!("`{value}` is the KDL 1 spelling"),
                        &format!("#{value}"),
                    ));
                }
            }
            _ => i += 1,
        }
    }
    out
}

fn v1_diag(span: Span, what: &str, fixed: &str) -> Diagnostic {
    Diagnostic::error(Code::KdlV1, "KDL 1 syntax: stack files are KDL 2")
        .at(span, what.to_string())
        .help(format!("write `{fixed}` (KDL 2)"))
}

fn is_word_byte(c: u8) -> bool {
    !(c.is_ascii_whitespace() || matches!(c, b'{' | b'}' | b'(' | b')' | b';' | b'"' | b'\\' | b'/' | b'#'))
}

fn skip_quoted(bytes: &[u8], mut i: usize) -> usize {
    let triple = bytes[i..].starts_with(b"\"\"\"");
    i += if triple { 3 } else { 1 };
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if triple {
            if bytes[i..].starts_with(b"\"\"\"") {
                return i + 3;
            }
        } else if bytes[i] == b'"' {
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// Skips `#…#"…"#…#` (any number of `#`), or a plain `"…"` with no escapes.
fn skip_raw(bytes: &[u8], mut i: usize) -> usize {
    let mut hashes = 0;
    while bytes.get(i) == Some(&b'#') {
        hashes += 1;
        i += 1;
    }
    if bytes.get(i) != Some(&b'"') {
        return i;
    }
    i += 1;
    while i < bytes.len() {
        if bytes[i] == b'"' && bytes[i + 1..].iter().take(hashes).filter(|&&b| b == b'#').count() == hashes {
            return i + 1 + hashes;
        }
        i += 1;
    }
    bytes.len()
}
