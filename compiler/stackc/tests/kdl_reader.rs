//! The KDL 2 reader (`syntax::reader`) is correct: it passes the specification's test suite
//! (vendored in `tests/kdl-spec`), and it agrees with the `kdl` crate, the oracle, on the
//! suite, the examples, every `.kdl` file of the repository and a bounded set of mutated
//! documents: both accept or both reject, and an accepted document gives the same nodes,
//! values and spans.

mod support;

use std::path::{Path, PathBuf};

use stackc::source::SourceId;
use stackc::syntax::ast::{Document, Entry, Node, Value};
use stackc::syntax::{parse_with_kdl, reader};
use support::root;

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kdl-spec")
}

/// The suite's invalid documents that the `kdl` crate (6.7.1) accepts: the reader rejects
/// them, as the specification says. When a new `kdl` rejects them, this list must shrink.
const ACCEPTED_BY_KDL_RS: &[&str] = &["multiline_raw_string_single_line_err_fail.kdl", "unicode_delete_fail.kdl"];

fn read(text: &str) -> Result<Document, reader::ReadError> {
    reader::read(SourceId(0), text)
}

/// A document as the suite's canonical form sees it: no spans, properties in key order
/// with only the last of each key, no empty children block.
#[derive(Debug)]
struct Canon {
    name: String,
    ty: Option<String>,
    args: Vec<(Option<String>, CanonValue)>,
    props: Vec<(String, Option<String>, CanonValue)>,
    children: Vec<Canon>,
}

#[derive(Debug)]
enum CanonValue {
    V(Value),
}

impl PartialEq for CanonValue {
    fn eq(&self, other: &Self) -> bool {
        let (CanonValue::V(a), CanonValue::V(b)) = (self, other);
        same_value(a, b)
    }
}

impl PartialEq for Canon {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name
            && self.ty == o.ty
            && self.args == o.args
            && self.props == o.props
            && self.children == o.children
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
        _ => a == b,
    }
}

fn canon(nodes: &[Node]) -> Vec<Canon> {
    nodes
        .iter()
        .map(|n| {
            let entry = |e: &Entry| (e.ty.as_ref().map(|t| t.name.clone()), CanonValue::V(e.value.clone()));
            let mut props: Vec<(String, Option<String>, CanonValue)> = Vec::new();
            for p in &n.props {
                props.retain(|(k, ..)| *k != p.key.name);
                let (ty, v) = entry(&p.value);
                props.push((p.key.name.clone(), ty, v));
            }
            props.sort_by(|a, b| a.0.cmp(&b.0));
            Canon {
                name: n.name.name.clone(),
                ty: n.ty.as_ref().map(|t| t.name.clone()),
                args: n.args.iter().map(entry).collect(),
                props,
                children: canon(n.children()),
            }
        })
        .collect()
}

fn suite_inputs() -> Vec<(String, String)> {
    let dir = suite_dir().join("input");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("the vendored suite is readable")
        .map(|e| {
            let path = e.expect("a directory entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).expect("a UTF-8 name").to_string();
            let bytes = std::fs::read(&path).expect("readable");
            (name, String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_reader_passes_the_kdl_specification_test_suite() {
    let cases = suite_inputs();
    assert_eq!(cases.len(), 336, "the vendored suite has 336 documents");
    let mut problems = Vec::new();
    let (mut accepted, mut rejected) = (0, 0);
    for (name, text) in &cases {
        let expected = suite_dir().join("expected_kdl").join(name);
        match (read(text), expected.is_file()) {
            (Ok(_), false) => problems.push(format!("{name}: accepted, but it must fail")),
            (Err(_), false) => rejected += 1,
            (Err(e), true) => problems.push(format!("{name}: rejected: {e:?}")),
            (Ok(doc), true) => {
                let want = std::fs::read_to_string(&expected).expect("readable");
                let want = read(&want).unwrap_or_else(|e| panic!("expected_kdl/{name} reads: {e:?}"));
                if canon(&doc.nodes) != canon(&want.nodes) {
                    problems.push(format!(
                        "{name}: read as\n{:#?}\nexpected\n{:#?}",
                        canon(&doc.nodes),
                        canon(&want.nodes)
                    ));
                }
                accepted += 1;
            }
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
    assert_eq!((accepted, rejected), (241, 95));
}

/// Where the reader and the oracle disagree on `text`, a description.
fn disagreement(text: &str) -> Option<String> {
    let ours = read(text);
    let theirs = parse_with_kdl(SourceId(0), text);
    match (ours, theirs) {
        (Ok(a), Ok(b)) => {
            if same_doc(&a.nodes, &b.nodes) {
                return None;
            }
            // A `/-` glued to the value before it, which kdl reads otherwise (it requires
            // a space there): the same deviation as below, accepted with another reading.
            match kdl_without_its_deviations(text, &a.nodes) {
                Ok(c) if text.contains("/-") && canon(&a.nodes) == canon(&c.nodes) => None,
                _ => Some(format!("different documents:\nreader {:#?}\nkdl {:#?}", a.nodes, b.nodes)),
            }
        }
        (Err(_), Err(_)) => None,
        (Ok(a), Err(at)) => match kdl_without_its_deviations(text, &a.nodes) {
            Ok(b) if canon(&a.nodes) == canon(&b.nodes) => None,
            _ => Some(format!("the reader accepts, kdl rejects at {at}")),
        },
        (Err(e), Ok(_)) if KDL_RS_ACCEPTS.iter().any(|m| e.message.contains(m)) => None,
        (Err(e), Ok(_)) => Some(format!("the reader rejects ({e:?}), kdl accepts")),
    }
}

/// Documents (found by the mutation test) where kdl reads a glued `/-` otherwise than the
/// grammar: a named deviation, and the reader's reading is the grammar's.
#[test]
fn a_glued_slashdash_that_kdl_reads_otherwise_is_a_named_deviation() {
    for (text, props, args) in
        [("node key=(ty.pe)#false/-\nnode key=(ty.pe)#false\n", 2, 0), ("node #true/-    \\\n    arg\n", 0, 1)]
    {
        let ours = read(text).unwrap_or_else(|e| panic!("{text:?}: {e:?}"));
        let n = &ours.nodes[0];
        assert_eq!((ours.nodes.len(), n.props.len(), n.args.len()), (1, props, args), "{text:?}: {:#?}", ours.nodes);
        let theirs = parse_with_kdl(SourceId(0), text).expect("kdl accepts it");
        assert!(!same_doc(&ours.nodes, &theirs.nodes), "{text:?}: kdl reads it as the reader does now");
        assert_eq!(disagreement(text), None, "{text:?}");
    }
}

/// The `kdl` crate's reading of `text` once the spellings it wrongly refuses are respelled
/// the way it accepts (the same meaning by the grammar): a space before each slashdash
/// ([`spaced_slashdashes`]), and a newline for a `;` ending a slashdashed node (`/- node;`),
/// which it refuses where the grammar's `node-terminator` allows it.
fn kdl_without_its_deviations(text: &str, nodes: &[Node]) -> Result<Document, usize> {
    let mut t = spaced_slashdashes(text, nodes);
    for _ in 0..16 {
        match parse_with_kdl(SourceId(0), &t) {
            Err(at) if t[at..].starts_with(';') => t.replace_range(at..=at, "\n"),
            other => return other,
        }
    }
    parse_with_kdl(SourceId(0), &t)
}

/// `text` with a space before each `/-` that is not inside a name, a value or a type the
/// reader read (a `/-` inside a string is text, not a slashdash).
fn spaced_slashdashes(text: &str, nodes: &[Node]) -> String {
    fn spans(nodes: &[Node], out: &mut Vec<(usize, usize)>) {
        for n in nodes {
            let mut idents = vec![&n.name];
            idents.extend(&n.ty);
            let mut entries: Vec<&Entry> = n.args.iter().collect();
            for p in &n.props {
                idents.push(&p.key);
                entries.push(&p.value);
            }
            for e in entries {
                out.push((e.span.offset, e.span.offset + e.span.len));
                idents.extend(&e.ty);
            }
            out.extend(idents.iter().map(|i| (i.span.offset, i.span.offset + i.span.len)));
            spans(n.children.as_deref().unwrap_or_default(), out);
        }
    }
    let mut covered = Vec::new();
    spans(nodes, &mut covered);
    let mut out = String::with_capacity(text.len() + 8);
    for (i, c) in text.char_indices() {
        if text[i..].starts_with("/-") && !covered.iter().any(|(a, b)| *a <= i && i < *b) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// The errors of the reader that `kdl` 6.7.1 does not make, where the specification is
/// with the reader: code points it forbids "anywhere in the document" (kdl lets them
/// through in comments, and U+007F everywhere: the suite's `unicode_delete_fail`), and the
/// bare identifier `-inf` ("`inf`, `-inf`, and `nan` are considered illegal identifiers"),
/// and a raw string whose body starts with `""` but is not multi-line (`#"""\t""#`:
/// `single-line-raw-string-body` may start with one `"`, not two, and `"""` must be followed
/// by a newline), which kdl reads as the single-line string `""\t""`.
///
/// The other way round, kdl requires a space before `/-`, which the suite's
/// `zero_space_before_slashdash_*` documents do not have: where the reader accepts and kdl
/// does not, or kdl reads such a text otherwise (`node #true/-\n  arg`: kdl keeps `arg`,
/// the grammar's `slashdash = "/-" line-space*` comments it out), kdl reads the text again
/// with a space before each `/-`, and the values must agree (the spans then differ).
const KDL_RS_ACCEPTS: &[&str] =
    &["is not allowed in KDL", "`-inf` is a keyword", "a multi-line string starts with a newline right after"];

fn same_entry(a: &Entry, b: &Entry) -> bool {
    same_value(&a.value, &b.value) && a.ty == b.ty && a.span == b.span && a.entry_span == b.entry_span
}

fn same_doc(a: &[Node], b: &[Node]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.name == y.name
                && x.ty == y.ty
                && x.span == y.span
                && x.args.len() == y.args.len()
                && x.args.iter().zip(&y.args).all(|(p, q)| same_entry(p, q))
                && x.props.len() == y.props.len()
                && x.props.iter().zip(&y.props).all(|(p, q)| p.key == q.key && same_entry(&p.value, &q.value))
                && x.children.is_some() == y.children.is_some()
                && same_doc(x.children(), y.children())
        })
}

/// Every `.kdl` file of the repository outside the build output, and the suite.
fn corpus() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            if p.is_dir() {
                if !matches!(name.as_ref(), "target" | ".git" | ".ci" | "build" | "node_modules") {
                    walk(&p, out);
                }
            } else if name.ends_with(".kdl") {
                out.push(p);
            }
        }
    }
    let root = root();
    let mut paths = Vec::new();
    walk(&root, &mut paths);
    paths.sort();
    let mut out: Vec<(String, String)> = paths
        .iter()
        .filter_map(|p| {
            let text = std::fs::read(p).ok()?;
            Some((
                p.strip_prefix(&root).unwrap_or(p).display().to_string(),
                String::from_utf8_lossy(&text).into_owned(),
            ))
        })
        .collect();
    assert!(out.len() > 300 + 100, "only {} files", out.len());
    // The `kdl` crate accepts these invalid documents; a fixture past the parser's limits
    // (E0114) is not given to it.
    out.retain(|(name, _)| !ACCEPTED_BY_KDL_RS.iter().any(|a| name.ends_with(a)) && !name.contains("E0114"));
    out
}

#[test]
fn the_reader_agrees_with_the_kdl_crate_on_every_kdl_file() {
    let mut problems = Vec::new();
    for (name, text) in corpus() {
        if let Some(d) = disagreement(&text) {
            problems.push(format!("{name}: {d}"));
        }
    }
    assert!(problems.is_empty(), "{} disagreement(s):\n{}", problems.len(), problems.join("\n\n"));
}

/// A small deterministic generator (no dependency, the same cases on every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

/// The pieces a mutation inserts: KDL's punctuation, the starts of its tokens and of its
/// comments, and the characters it treats specially.
const PIECES: &[&str] = &[
    "{", "}", "\"", "#", "##", "/-", "/*", "*/", "//", "\\", " ", "\n", "\r\n", ";", "=", "(", ")", "\"\"\"\n", "#\"",
    "\"#", "0x", "1", "-", ".", "_", "e", "#true", "null", "\\u{41}", "\t", "\u{a0}", "\u{2028}", "é",
];

/// `text` with one to three random edits: a piece inserted, a character deleted, or a
/// line duplicated.
fn mutate(text: &str, rng: &mut Lcg) -> String {
    let mut s = text.to_string();
    for _ in 0..=rng.next(3) {
        let mut at = rng.next(s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        match rng.next(3) {
            0 => s.insert_str(at, PIECES[rng.next(PIECES.len())]),
            1 => {
                if let Some(c) = s[at..].chars().next() {
                    s.replace_range(at..at + c.len_utf8(), "");
                }
            }
            _ => {
                let start = s[..at].rfind('\n').map_or(0, |p| p + 1);
                let end = s[at..].find('\n').map_or(s.len(), |p| at + p + 1);
                let line = s[start..end].to_string();
                s.insert_str(start, &line);
            }
        }
    }
    s
}

#[test]
fn the_reader_agrees_with_the_kdl_crate_on_mutated_documents() {
    let corpus = corpus();
    // Short documents mutate into more distinct cases per parse; the examples are long.
    let seeds: Vec<&(String, String)> = corpus.iter().filter(|(_, t)| t.len() < 4000).collect();
    let mut rng = Lcg(0x5eed);
    let mut problems = Vec::new();
    let (mut accepted, mut total) = (0, 0);
    for _ in 0..4000 {
        let (name, text) = seeds[rng.next(seeds.len())];
        let m = mutate(text, &mut rng);
        total += 1;
        if read(&m).is_ok() {
            accepted += 1;
        }
        if let Some(d) = disagreement(&m) {
            problems.push(format!("{name} mutated to {m:?}: {d}"));
        }
    }
    // Both outcomes are exercised.
    assert!(accepted > total / 10 && accepted < total * 9 / 10, "{accepted} of {total} accepted");
    problems.truncate(15);
    assert!(problems.is_empty(), "disagreements (first 15):\n{}", problems.join("\n\n"));
}
