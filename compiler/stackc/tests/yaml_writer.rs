//! The direct YAML writer (`stackc::emit::yaml`) against serde-saphyr, its oracle: on the
//! documents of every golden file (read back into a tree of maps, sequences and scalars)
//! and on scalars chosen to be hard (YAML 1.1 words, numbers, indicators, comments, quotes,
//! invisible and control characters, and thousands of generated strings), as values and as
//! keys, in every position. Where the direct writer writes a document, it writes what
//! serde-saphyr writes, byte for byte; where it declines, `yaml` uses serde-saphyr.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use stackc::emit::yaml::{direct, left_to_saphyr, saphyr};

mod support;
use support::root;

/// Any YAML document, in its order.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(untagged)]
enum Node {
    Null(()),
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(IndexMap<String, Node>),
}

fn same(what: &str, node: &impl Serialize) -> bool {
    let oracle = saphyr(node);
    match direct(node) {
        Some(text) => {
            assert_eq!(text, oracle, "{what}: the direct writer differs from serde-saphyr");
            true
        }
        None => false,
    }
}

fn yaml_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

#[test]
fn every_golden_document_is_written_as_serde_saphyr_writes_it() {
    let mut files = Vec::new();
    yaml_files(&root().join("golden"), &mut files);
    files.sort();
    let (mut documents, mut direct_k8s, mut k8s) = (0, 0, 0);
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let Ok(node) = serde_saphyr::from_str::<Node>(&text) else { continue };
        documents += 1;
        let written = same(&path.display().to_string(), &node);
        if path.components().any(|c| c.as_os_str() == "k8s") {
            k8s += 1;
            direct_k8s += usize::from(written);
        }
    }
    assert!(documents > 200, "only {documents} golden documents were read");
    // The Kubernetes manifests are most of a build: nearly all of them must take the direct
    // way (the few left are those with a block scalar or a key that needs quoting).
    assert!(direct_k8s * 10 >= k8s * 9, "only {direct_k8s} of {k8s} Kubernetes documents were written directly");
}

/// Scalars that stress each rule of plain style.
fn hard_scalars() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        " ",
        "a",
        "ab",
        "y",
        "Y",
        "yes",
        "No",
        "on",
        "OFF",
        "true",
        "False",
        "null",
        "NULL",
        "~",
        "nan",
        "inf",
        "-inf",
        ".inf",
        ".NaN",
        "0",
        "12",
        "-3",
        "+4",
        "0x1F",
        "0o17",
        "0b101",
        "1_000",
        "1e3",
        "1.5",
        ".5",
        "3.",
        "12:30",
        "1:20:30",
        "2024-01-02",
        "2024-01-02T03:04:05Z",
        "<<",
        "=",
        "-",
        "- a",
        "-a",
        "?",
        "? a",
        "?a",
        ":",
        "a:",
        "a: b",
        "a:b",
        "http://x:80/y",
        "a #b",
        "a#b",
        "#a",
        "a ",
        " a",
        "a  b",
        "'a'",
        "\"a\"",
        "a'b",
        "a\"b",
        "[a]",
        "{a}",
        "a,b",
        "a[b]",
        "!a",
        "&a",
        "*a",
        "|a",
        ">a",
        "%a",
        "@a",
        "`a",
        "---",
        "--- a",
        "...",
        "...a",
        "a\nb",
        "a\tb",
        "a\rb",
        "\u{7f}",
        "a\u{85}b",
        "é",
        "naïve",
        "a\u{200b}b",
        "\u{202e}x",
        "a\u{feff}",
        "/",
        "/a/b",
        "/a b",
        "a/b:c",
        "$(A)",
        "${A}",
        "a=b",
        "a\\b",
        "verylongword",
        "a.b.c/d-e_f",
        "app.kubernetes.io/name",
        "Yes",
        "TRUE",
        "n",
        "N",
        "~a",
        "a~",
        "0.0.0.0/0",
        "::1",
        "a::b",
        "a: ",
        "a :b",
        "a\u{0}b",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("x".repeat(200));
    v.push(format!("{} {}", "word".repeat(30), "more".repeat(30)));
    // Generated: short strings over an alphabet of the characters the rules look at.
    let alphabet: Vec<char> = "aZ09 :#-?'\"/.,_[]{}!&*|>%@`~=+\\\t\ny\u{200b}é".chars().collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..4000 {
        let len = (next() % 7) as usize;
        v.push((0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect());
    }
    v
}

#[test]
fn hard_scalars_are_written_as_serde_saphyr_writes_them() {
    let mut direct_values = 0;
    for s in hard_scalars() {
        let what = format!("{s:?}");
        let value = Node::Str(s.clone());
        let map = |pairs: Vec<(&str, Node)>| Node::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
        let doc = map(vec![
            ("key", Node::Str(s.clone())),
            ("list", Node::Seq(vec![Node::Str(s.clone()), Node::Int(1)])),
            ("map", map(vec![("inner", Node::Str(s.clone())), ("deep", map(vec![("leaf", Node::Str(s.clone()))]))])),
            (
                "items",
                Node::Seq(vec![map(vec![
                    ("name", Node::Str(s.clone())),
                    ("tags", Node::Seq(vec![Node::Str(s.clone())])),
                ])]),
            ),
        ]);
        direct_values += usize::from(same(&what, &doc));
        same(&what, &value);
        same(&what, &Node::Seq(vec![value]));
        // As a key.
        same(&what, &map(vec![(&s, Node::Int(1)), ("zz", map(vec![(&s, Node::Seq(vec![]))]))]));
    }
    assert!(direct_values > 1000, "only {direct_values} documents took the direct way");
}

#[test]
fn empty_collections_and_every_scalar_type() {
    #[derive(Serialize)]
    struct All {
        unit: (),
        none: Option<u8>,
        some: Option<u8>,
        t: bool,
        i: i64,
        u: u64,
        f: f64,
        g: f32,
        c: char,
        empty_map: IndexMap<String, u8>,
        empty_seq: Vec<u8>,
        in_seq: Vec<IndexMap<String, Vec<u8>>>,
        nested: Vec<Vec<u8>>,
    }
    let all = All {
        unit: (),
        none: None,
        some: Some(3),
        t: true,
        i: -7,
        u: u64::MAX,
        f: 0.5,
        g: 1e20,
        c: ':',
        empty_map: IndexMap::new(),
        empty_seq: vec![],
        in_seq: vec![IndexMap::new(), IndexMap::from([("a".to_string(), vec![])])],
        nested: vec![],
    };
    assert!(same("every scalar type", &all), "the direct writer declined");
    // Externally tagged variants, at the top, after a key and after a dash.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    enum Probe {
        HttpGet { path: String },
        Exec(Vec<String>),
        TcpSocket(IndexMap<String, u16>),
        Port(u16),
        Command(String),
    }
    #[derive(Serialize)]
    struct Holder {
        probe: Probe,
        probes: Vec<Probe>,
        nested: Vec<Vec<Probe>>,
    }
    let exec = || Probe::Exec(vec!["sh".into(), "-c".into(), "test -f /ready".into()]);
    let tcp = || Probe::TcpSocket(IndexMap::from([("port".to_string(), 80)]));
    // A document that is a variant is left to serde-saphyr (it indents its sequences).
    for probe in [exec(), tcp(), Probe::Port(8080), Probe::Command("a: b".into())] {
        assert!(!same("a variant at the top", &probe));
        assert_eq!(stackc::emit::yaml(&probe), saphyr(&probe));
    }
    let holder = Holder {
        probe: exec(),
        probes: vec![tcp(), Probe::Port(1), exec(), Probe::Command("yes".into())],
        nested: vec![],
    };
    assert!(same("variants after a key and a dash", &holder), "the direct writer declined");
    // A struct variant is left to serde-saphyr.
    let http = Probe::HttpGet { path: "/health".into() };
    assert!(!same("a struct variant", &http));
    assert_eq!(stackc::emit::yaml(&http), saphyr(&http));
    let nested = vec![vec![1u8, 2], vec![]];
    assert!(!same("a sequence in a sequence", &nested), "left to serde-saphyr");
    assert_eq!(stackc::emit::yaml(&nested), saphyr(&nested));
}

#[path = "../benches/gen/mod.rs"]
#[allow(dead_code)]
mod gen;

/// The documents the emitters write go the direct way, except those that need what only
/// serde-saphyr writes: alerting and recording rules, whose multi-line expressions are
/// literal block scalars.
#[test]
fn the_emitters_documents_are_written_directly() {
    let mut stacks: Vec<(String, String)> = vec![("all-targets-20".into(), gen::all_targets_stack(20))];
    for ex in support::examples() {
        stacks.push((ex.display().to_string(), std::fs::read_to_string(&ex).unwrap()));
    }
    // The list is kept: a literal block scalar is only serde-saphyr's. (The list is the
    // process's: other tests of this file add their own types to it, never stackc's.)
    let block = IndexMap::from([("expr", serde_saphyr::LitStr("up\n== 0"))]);
    assert_eq!(stackc::emit::yaml(&block), saphyr(&block));
    assert!(left_to_saphyr().contains(&std::any::type_name_of_val(&block)));
    for (name, text) in &stacks {
        let built = stackc::build(name, text, &stackc::Options::default(), &stackc::emit::EmitOptions::default());
        assert!(!built.files.is_empty(), "{name}: nothing built");
        for t in left_to_saphyr().into_iter().filter(|t| t.starts_with("stackc::")) {
            assert!(t.contains("Rule"), "{name}: a `{t}` was left to serde-saphyr");
        }
    }
    // The documents of the Kubernetes target, written on a thread of its own beside the
    // others, are in the list too: a PrometheusRule whose expression spans lines.
    let fixture =
        std::fs::read_to_string(support::root().join("compiler/stackc/tests/k8s_crds/crds.stack.kdl")).unwrap();
    let one_line = r#"expr="job:http_errors:rate5m > 0.05""#;
    assert!(fixture.contains(one_line));
    let stack =
        fixture.replace(one_line, "expr=\"\"\"\n        job:http_errors:rate5m\n          > 0.05\n        \"\"\"");
    let every = stackc::emit::EmitOptions {
        targets: Some(vec![stackc::ir::TargetKind::Compose, stackc::ir::TargetKind::K8s]),
        ..Default::default()
    };
    let built = stackc::build("crds.stack.kdl", &stack, &stackc::Options::default(), &every);
    assert!(built.files.iter().any(|f| f.contents.contains("expr: |")), "{:#?}", built.outcome.diagnostics);
    let left = left_to_saphyr();
    assert!(left.iter().any(|t| t.starts_with("stackc::emit::k8s") && t.contains("Rule")), "{left:?}");
}
