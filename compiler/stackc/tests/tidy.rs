//! Architecture invariants as tests (see `docs/architecture.md`, "Invariants").
//!
//! These read the library's own source text: the library does no I/O, `ir` depends on
//! nothing else in the crate, only `syntax/` (and the formatter) touch the `kdl` crate,
//! emitters see only `ir` and `diagnostics`, the IR uses ordered maps only, every
//! diagnostic code has its explanation page, and library code does not `unwrap()`.
//!
//! Comments are stripped before a check (a doc comment may say "no `std::fs`"); string
//! literals are kept. `#[cfg(test)]` items are excluded where the rule is about shipped
//! code only.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use stackc::diagnostics::Code;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One library source file: its path relative to `src/` (with `/`), and its text.
struct SrcFile {
    rel: String,
    text: String,
}

impl SrcFile {
    /// Source without comments.
    fn code(&self) -> String {
        strip_comments(&self.text)
    }

    /// Source without comments and without `#[cfg(test)]` items.
    fn shipped_code(&self) -> String {
        strip_cfg_test(&strip_comments(&self.text))
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn library_files() -> Vec<SrcFile> {
    let root = src_dir();
    let mut paths = Vec::new();
    rust_files(&root, &mut paths);
    let files: Vec<SrcFile> = paths
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).expect("under src/").to_string_lossy().replace('\\', "/");
            let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            SrcFile { rel, text }
        })
        .collect();
    // Guard against a vacuous pass (wrong directory, renamed files).
    for must in ["lib.rs", "ir.rs", "driver.rs", "diagnostics.rs"] {
        assert!(files.iter().any(|f| f.rel == must), "tidy did not find src/{must}; is the scan broken?");
    }
    files
}

// ---------------------------------------------------------------------------------------
// A small Rust lexer: enough to tell code from comments, strings and char literals.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Piece {
    Code,
    Comment,
    Str,
}

/// Splits Rust source into byte ranges of code, comments and string/char literals.
fn lex(src: &str) -> Vec<(Piece, std::ops::Range<usize>)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut code_start = 0;
    let push_code = |out: &mut Vec<(Piece, std::ops::Range<usize>)>, from: usize, to: usize| {
        if from < to {
            out.push((Piece::Code, from..to));
        }
    };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        // Line comment.
        if c == b'/' && next == Some(b'/') {
            push_code(&mut out, code_start, i);
            let end = src[i..].find('\n').map_or(b.len(), |n| i + n);
            out.push((Piece::Comment, i..end));
            i = end;
            code_start = i;
            continue;
        }
        // Block comment (nested).
        if c == b'/' && next == Some(b'*') {
            push_code(&mut out, code_start, i);
            let start = i;
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push((Piece::Comment, start..i));
            code_start = i;
            continue;
        }
        // Raw strings: r"..", r#".."#, br#".."#.
        let ident_before = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if !ident_before && (c == b'r' || (c == b'b' && next == Some(b'r'))) {
            let mut j = if c == b'b' { i + 2 } else { i + 1 };
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) == Some(&b'"') {
                push_code(&mut out, code_start, i);
                let close: String = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
                let end = src[j + 1..].find(&close).map_or(b.len(), |n| j + 1 + n + close.len());
                out.push((Piece::Str, i..end));
                i = end;
                code_start = i;
                continue;
            }
        }
        // Ordinary (byte) strings.
        if c == b'"' {
            push_code(&mut out, code_start, i);
            let start = i;
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
            out.push((Piece::Str, start..i));
            code_start = i;
            continue;
        }
        // Char literals ('x', '\n', '\u{..}', 'é'); a lone quote is a lifetime.
        if c == b'\'' {
            let rest = &src[i + 1..];
            let len = if rest.starts_with('\\') {
                rest.find('\'').map(|n| n + 1)
            } else {
                rest.chars()
                    .next()
                    .filter(|_| rest[rest.chars().next().map_or(0, char::len_utf8)..].starts_with('\''))
                    .map(|ch| ch.len_utf8() + 1)
            };
            if let Some(len) = len {
                push_code(&mut out, code_start, i);
                out.push((Piece::Str, i..i + 1 + len));
                i += 1 + len;
                code_start = i;
                continue;
            }
        }
        i += 1;
    }
    push_code(&mut out, code_start, b.len());
    out
}

/// The source with every comment replaced by spaces (newlines kept, so lines still match).
fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    for (piece, range) in lex(src) {
        let text = &src[range];
        if piece == Piece::Comment {
            out.extend(text.chars().map(|c| if c == '\n' { '\n' } else { ' ' }));
        } else {
            out.push_str(text);
        }
    }
    out
}

/// The source with every item annotated `#[cfg(test)]` blanked out (newlines kept).
/// Expects comment-free input.
fn strip_cfg_test(src: &str) -> String {
    let pieces = lex(src);
    let is_code = |pos: usize| pieces.iter().any(|(p, r)| *p == Piece::Code && r.contains(&pos));
    let mut out = src.to_string();
    let mut search = 0;
    while let Some(found) = out[search..].find("#[cfg(test)]") {
        let start = search + found;
        if !is_code(start) {
            search = start + 1;
            continue;
        }
        // The item ends at the `;` or at the brace matching its first `{`.
        let mut depth = 0usize;
        let mut end = out.len();
        let mut pos = start + "#[cfg(test)]".len();
        while pos < out.len() {
            if is_code(pos) {
                match out.as_bytes()[pos] {
                    b'{' => depth += 1,
                    b'}' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            end = pos + 1;
                            break;
                        }
                    }
                    b';' if depth == 0 => {
                        end = pos + 1;
                        break;
                    }
                    _ => {}
                }
            }
            pos += 1;
        }
        let blank: String = out[start..end].chars().map(|c| if c == '\n' { '\n' } else { ' ' }).collect();
        out.replace_range(start..end, &blank);
        search = start + blank.len();
    }
    out
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

fn trimmed_line(text: &str, line: usize) -> String {
    text.lines().nth(line - 1).unwrap_or("").trim().to_string()
}

/// Occurrences of `needle` in code (not in strings), as `file:line: text`.
fn find_in_code(file: &SrcFile, code: &str, needle: &str) -> Vec<String> {
    let pieces = lex(code);
    let mut hits = Vec::new();
    for (piece, range) in pieces {
        if piece != Piece::Code {
            continue;
        }
        let chunk = &code[range.clone()];
        for (at, _) in chunk.match_indices(needle) {
            // Whole path segment: `std::fs` but not `mystd::fs`.
            let abs = range.start + at;
            let before = code[..abs].chars().next_back();
            let starts_ident = needle.starts_with(|c: char| c.is_alphanumeric() || c == '_');
            if starts_ident && before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let line = line_of(code, abs);
            hits.push(format!("src/{}:{line}: {}", file.rel, trimmed_line(&file.text, line)));
        }
    }
    hits
}

/// The names of `std` modules a file uses, including grouped imports: `use std::{fs, io}`
/// yields `fs` and `io`, `std::fs::read` yields `fs`.
fn std_modules(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("std::") {
        if code[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + 5..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: `{fs, io::Write, collections::{A, B}}`.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push((at, first_segment(&item)));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
            found.push((at, first_segment(&item)));
        } else {
            found.push((at, first_segment(rest)));
        }
    }
    found.retain(|(_, m)| !m.is_empty());
    found
}

fn first_segment(s: &str) -> String {
    s.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

fn report(what: &str, violations: &[String]) {
    assert!(violations.is_empty(), "{what}:\n  {}", violations.join("\n  "));
}

// ---------------------------------------------------------------------------------------
// Invariant 1: the library does no I/O.
// ---------------------------------------------------------------------------------------

#[test]
fn library_does_no_io() {
    // `std::net` itself is fine (`IpAddr` is a value type); sockets and name resolution are not.
    const FORBIDDEN_PATHS: &[&str] = &[
        "std::fs",
        "std::env",
        "std::process",
        "TcpStream",
        "TcpListener",
        "UdpSocket",
        "to_socket_addrs",
        "SystemTime",
        "Instant::now",
        "std::io::stdin",
        "std::io::stdout",
        "std::io::stderr",
    ];
    const FORBIDDEN_STD_MODULES: &[&str] = &["fs", "env", "process"];
    let mut violations = Vec::new();
    for file in library_files() {
        let code = file.code();
        for needle in FORBIDDEN_PATHS {
            violations.extend(find_in_code(&file, &code, needle));
        }
        // `use std::{fs, ...}` spells `std::fs` without the text `std::fs`.
        for (at, module) in std_modules(&code) {
            if FORBIDDEN_STD_MODULES.contains(&module.as_str()) && !code[at..].starts_with(&format!("std::{module}")) {
                let line = line_of(&code, at);
                violations.push(format!("src/{}:{line}: {}", file.rel, trimmed_line(&file.text, line)));
            }
        }
        // Printing is I/O too (rendering returns strings; the CLI prints).
        for needle in ["println!", "eprintln!", "print!(", "eprint!(", "dbg!("] {
            let shipped = file.shipped_code();
            violations.extend(find_in_code(&file, &shipped, needle));
        }
    }
    violations.sort();
    violations.dedup();
    report("the library must not do I/O (architecture invariant 1); move this to stackc-cli", &violations);
}

// ---------------------------------------------------------------------------------------
// `ir` imports nothing from the crate, and uses ordered maps only.
// ---------------------------------------------------------------------------------------

fn ir_file() -> SrcFile {
    library_files().into_iter().find(|f| f.rel == "ir.rs").expect("src/ir.rs")
}

#[test]
fn ir_imports_nothing_from_the_crate() {
    let ir = ir_file();
    let code = ir.shipped_code();
    let mut violations = Vec::new();
    // No front-end types either: no KDL values, no rendering types.
    for needle in ["crate::", "super::", "kdl::", "miette::"] {
        violations.extend(find_in_code(&ir, &code, needle));
    }
    report("src/ir.rs must not import from the rest of the crate (`ir → nothing`)", &violations);
}

#[test]
fn ir_uses_ordered_maps_only() {
    let ir = ir_file();
    let code = ir.shipped_code();
    let mut violations = Vec::new();
    for needle in ["HashMap", "HashSet", "RandomState"] {
        violations.extend(find_in_code(&ir, &code, needle));
    }
    report("src/ir.rs must use IndexMap/BTreeMap only (deterministic output, invariant 3)", &violations);
}

// ---------------------------------------------------------------------------------------
// Only `syntax/` (and the formatter) touch the `kdl` crate.
// ---------------------------------------------------------------------------------------

#[test]
fn kdl_stays_inside_syntax() {
    let mut violations = Vec::new();
    for file in library_files() {
        if file.rel.starts_with("syntax/") || file.rel == "fmt.rs" {
            continue;
        }
        let code = file.code();
        for needle in ["kdl::", "use kdl", "extern crate kdl"] {
            violations.extend(find_in_code(&file, &code, needle));
        }
    }
    violations.sort();
    violations.dedup();
    report(
        "only syntax/ (and fmt.rs) may use the `kdl` crate, so the reader can be replaced (Known cost centre)",
        &violations,
    );
}

// ---------------------------------------------------------------------------------------
// Invariant 2: emitters see only `ir` and `diagnostics`, and never each other.
// ---------------------------------------------------------------------------------------

/// Violations of the emit import rule in one file under `emit/`. `backends` are the
/// sibling modules of `emit/` (compose, nginx, ...).
fn emit_violations(file: &SrcFile, backends: &[String]) -> Vec<String> {
    let code = file.code();
    let mut violations = Vec::new();
    let this_backend = file.rel.strip_prefix("emit/").and_then(|r| r.split(['/', '.']).next()).unwrap_or("");
    for (piece, range) in lex(&code) {
        if piece != Piece::Code {
            continue;
        }
        let chunk = &code[range.clone()];
        for (at, _) in chunk.match_indices("crate::") {
            let abs = range.start + at;
            if code[..abs].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &code[abs + "crate::".len()..];
            let allowed = |m: &str| m == "ir" || m == "diagnostics";
            let bad = if let Some(group) = rest.strip_prefix('{') {
                let inner = &group[..group.find('}').unwrap_or(group.len())];
                inner.split(',').map(first_segment).any(|m| !m.is_empty() && !allowed(&m))
            } else {
                !allowed(&first_segment(rest))
            };
            if bad {
                let line = line_of(&code, abs);
                violations.push(format!("src/{}:{line}: {}", file.rel, trimmed_line(&file.text, line)));
            }
        }
    }
    for needle in ["kdl::", "use kdl", "super::super"] {
        violations.extend(find_in_code(file, &code, needle));
    }
    // A backend reaching into another backend through `super::other`.
    if !this_backend.is_empty() && this_backend != "mod" {
        for other in backends.iter().filter(|b| b.as_str() != this_backend) {
            violations.extend(find_in_code(file, &code, &format!("super::{other}")));
            violations.extend(find_in_code(file, &code, &format!("emit::{other}")));
        }
    }
    violations.sort();
    violations.dedup();
    violations
}

#[test]
fn emit_sees_only_ir_and_diagnostics() {
    let files = library_files();
    let emit: Vec<&SrcFile> = files.iter().filter(|f| f.rel.starts_with("emit/")).collect();
    let mut backends: Vec<String> = emit
        .iter()
        .filter_map(|f| f.rel.strip_prefix("emit/").and_then(|r| r.split(['/', '.']).next()).map(str::to_string))
        // `yaml.rs` is not a target: it is `emit/mod.rs`'s YAML writer, every target's.
        .filter(|b| b != "mod" && b != "yaml")
        .collect();
    backends.sort();
    backends.dedup();
    // While emit/ does not exist yet this is vacuous; the self-test below proves the
    // checker would catch a violation.
    let violations: Vec<String> = emit.iter().flat_map(|f| emit_violations(f, &backends)).collect();
    report("emit/ may import only crate::ir, crate::diagnostics and super (invariant 2)", &violations);
}

#[test]
fn emit_check_catches_violations() {
    let backends = vec!["compose".to_string(), "nginx".to_string()];
    let bad = SrcFile {
        rel: "emit/compose.rs".into(),
        text: "use crate::ir::Stack;\nuse crate::syntax::ast::Node;\nuse crate::{ir, validate};\nuse super::nginx;\n"
            .into(),
    };
    let v = emit_violations(&bad, &backends);
    assert_eq!(v.len(), 3, "{v:#?}");
    let good = SrcFile {
        rel: "emit/compose.rs".into(),
        text: "// crate::syntax in a comment\nuse crate::ir::{Stack, Service};\nuse crate::diagnostics::Code;\nuse super::header;\nconst S: &str = \"crate::lower\";\n".into(),
    };
    assert_eq!(emit_violations(&good, &backends), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// The catalogue: every code has a page, every page has a code.
// ---------------------------------------------------------------------------------------

#[test]
fn every_code_has_an_explanation_page() {
    let dir = repo_root().join("docs/diagnostics");
    let mut violations = Vec::new();
    for code in Code::ALL {
        let info = code.info();
        let page = dir.join(format!("{}.md", info.code));
        match std::fs::read_to_string(&page) {
            Ok(text) => {
                if text.trim().is_empty() {
                    violations.push(format!("{} is empty", page.display()));
                }
                if !text.lines().next().is_some_and(|l| l.starts_with('#') && l.contains(info.code)) {
                    violations.push(format!("{} does not start with a `# {} ...` heading", page.display(), info.code));
                }
            }
            Err(e) => violations.push(format!("{}: {e}", page.display())),
        }
    }
    // The reverse: a page for a code that is not in the catalogue is stale or misnamed.
    let codes: BTreeSet<&str> = Code::ALL.iter().map(|c| c.info().code).collect();
    for entry in std::fs::read_dir(&dir).expect("docs/diagnostics") {
        let path = entry.expect("entry").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else { continue };
        if path.extension().is_some_and(|e| e == "md") && !codes.contains(stem) {
            violations.push(format!("{} has no entry in Code::ALL", path.display()));
        }
    }
    report("every diagnostic code needs docs/diagnostics/CODE.md (invariant 4)", &violations);
}

#[test]
fn catalogue_codes_and_names_are_unique_and_well_formed() {
    let mut codes = BTreeSet::new();
    let mut names = BTreeSet::new();
    let mut violations = Vec::new();
    for code in Code::ALL {
        let info = code.info();
        let well_formed = info.code.len() == 5
            && (info.code.starts_with('E') || info.code.starts_with('W'))
            && info.code[1..].chars().all(|c| c.is_ascii_digit());
        if !well_formed {
            violations.push(format!("{}: not of the form E0123 / W0123", info.code));
        }
        let kebab = !info.name.is_empty()
            && info.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !info.name.starts_with('-')
            && !info.name.ends_with('-');
        if !kebab {
            violations.push(format!("{}: name `{}` is not kebab-case", info.code, info.name));
        }
        if !codes.insert(info.code) {
            violations.push(format!("{}: code used twice", info.code));
        }
        if !names.insert(info.name) {
            violations.push(format!("{}: name `{}` used twice", info.code, info.name));
        }
        if Code::from_str_code(info.code) != Some(*code) || Code::from_str_code(info.name) != Some(*code) {
            violations.push(format!("{}: from_str_code does not round-trip", info.code));
        }
    }
    report("the diagnostics catalogue", &violations);
}

// ---------------------------------------------------------------------------------------
// No `unwrap()` / `expect(` in shipped library code.
// ---------------------------------------------------------------------------------------

/// Known uses, each with the reason it cannot fail: `(file, trimmed line)`. Keep empty
/// where possible; prefer returning a diagnostic.
const UNWRAP_ALLOWLIST: &[(&str, &str)] = &[];

#[test]
fn no_unwrap_in_library_code() {
    let mut violations = Vec::new();
    for file in library_files() {
        let code = file.shipped_code();
        for needle in [".unwrap()", ".expect(", "todo!", "unimplemented!"] {
            for hit in find_in_code(&file, &code, needle) {
                let allowed =
                    UNWRAP_ALLOWLIST.iter().any(|(f, l)| hit.starts_with(&format!("src/{f}:")) && hit.ends_with(l));
                if !allowed {
                    violations.push(hit);
                }
            }
        }
    }
    violations.sort();
    violations.dedup();
    report(
        "library code must not unwrap/expect/todo! outside #[cfg(test)] (a bad input must be a diagnostic, not a panic)",
        &violations,
    );
}

// ---------------------------------------------------------------------------------------
// Self-tests of the lexer, so that the checks above cannot pass vacuously.
// ---------------------------------------------------------------------------------------

#[test]
fn lexer_separates_comments_strings_and_code() {
    let src = "let a = \"std::fs\"; // std::fs\n/* std::env /* nested */ */ let b = r#\"std::process\"#;\nlet c = '\"'; let d: &'static str = \"x\"; std::fs::read(p);\n";
    let file = SrcFile { rel: "x.rs".into(), text: src.into() };
    let code = file.code();
    assert_eq!(find_in_code(&file, &code, "std::fs").len(), 1, "{code}");
    assert!(find_in_code(&file, &code, "std::env").is_empty());
    assert!(find_in_code(&file, &code, "std::process").is_empty());
    let hit = &find_in_code(&file, &code, "std::fs")[0];
    assert!(hit.starts_with("src/x.rs:3:"), "{hit}");
}

#[test]
fn grouped_std_imports_are_seen() {
    let mods: Vec<String> = std_modules("use std::{collections::{BTreeMap, HashMap}, fs, io::Write};")
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    assert_eq!(mods, ["collections", "fs", "io"]);
}

#[test]
fn cfg_test_items_are_excluded() {
    let src = "fn a() { x.unwrap(); }\n#[cfg(test)]\nmod tests {\n    fn b() { let s = \"}\"; y.unwrap(); }\n}\nfn c() { z.expect(\"e\"); }\n";
    let file = SrcFile { rel: "x.rs".into(), text: src.into() };
    let code = file.shipped_code();
    let hits: Vec<String> = [".unwrap()", ".expect("].iter().flat_map(|n| find_in_code(&file, &code, n)).collect();
    assert_eq!(hits, ["src/x.rs:1: fn a() { x.unwrap(); }", "src/x.rs:6: fn c() { z.expect(\"e\"); }"]);
}
