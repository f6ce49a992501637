//! Keeps the language reference, `docs/language.md`, complete and honest.
//!
//! The reference is written by hand; this test holds it to `stackc::schema`, the language
//! as data:
//!
//! - every node path of the schema has a heading of the form ``## `service` `` for a
//!   top-level node and ``### `service > health` `` one level deeper per step, and no
//!   heading names a path the schema does not have;
//! - every property a node takes is written as `name=` in that node's own section (the text
//!   under its heading, up to the next node heading);
//! - every node section gives its origin (core, or the seed behind an extension), its merge
//!   rule in an `env` overlay, and an example;
//! - the nodes whose children are the whole `service` list (`defaults`,
//!   `monitoring > prometheus`, `monitoring > exporter`) say so instead of repeating the
//!   list, and the children of an `env` overlay (any top-level node) are not walked;
//! - every lint appears in the catalogue with its default level;
//! - every ```` ```kdl ```` example parses as KDL 2 and passes the shape check (known
//!   nodes and properties, arity, value domains). Examples that show a refused form are
//!   fenced ```` ```kdl refused ```` and must fail.

use std::path::Path;

use stackc::diagnostics::Diagnostics;
use stackc::schema::{self, Children, NodeSpec};
use stackc::source::SourceMap;
use stackc::validate::lints::{Level, LINTS};

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/language.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A Markdown heading outside code fences.
struct Heading {
    /// Index of the heading's line.
    line: usize,
    /// Number of `#`.
    level: usize,
    /// The text after the `#`s.
    text: String,
}

impl Heading {
    /// The node path if the heading starts with one in backticks: ``### `a > b` (…)``.
    fn path(&self) -> Option<&str> {
        let rest = self.text.strip_prefix('`')?;
        Some(&rest[..rest.find('`')?])
    }
}

fn headings(lines: &[&str]) -> Vec<Heading> {
    let mut out = Vec::new();
    let mut in_fence = false;
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let level = line.bytes().take_while(|&b| b == b'#').count();
        if level > 0 && line[level..].starts_with(' ') {
            out.push(Heading { line: i, level, text: line[level..].trim().to_string() });
        }
    }
    out
}

/// A node of the schema with its path from the top level.
struct SchemaNode {
    path: Vec<&'static str>,
    spec: &'static NodeSpec,
}

impl SchemaNode {
    fn path_str(&self) -> String {
        self.path.join(" > ")
    }
}

fn service_spec() -> &'static NodeSpec {
    schema::top("service").expect("the schema has `service`")
}

/// Whether a node's children are the whole list of `service` children (`defaults`, …).
/// Compared by names (the same list, in the same order), since a `const` slice has no
/// stable address to compare.
fn takes_service_children(path: &[&str], spec: &NodeSpec) -> bool {
    let service = service_spec();
    path != ["service"]
        && matches!(spec.children, Children::Nodes(_))
        && spec.child_specs().iter().map(|c| c.name).eq(service.child_specs().iter().map(|c| c.name))
}

fn walk(specs: &'static [NodeSpec], prefix: &[&'static str], out: &mut Vec<SchemaNode>) {
    for spec in specs {
        let mut path = prefix.to_vec();
        path.push(spec.name);
        out.push(SchemaNode { path: path.clone(), spec });
        match spec.children {
            // `env` takes any top-level node; those are documented at the top level.
            Children::TopLevel | Children::None => {}
            Children::Nodes(children) => {
                if !takes_service_children(&path, spec) {
                    walk(children, &path, out);
                }
            }
        }
    }
}

fn schema_nodes() -> Vec<SchemaNode> {
    let mut out = Vec::new();
    walk(schema::TOP, &[], &mut out);
    out
}

/// The text of a node's own section: from its heading up to the next node heading.
fn own_section(lines: &[&str], heads: &[Heading], path: &str) -> Option<String> {
    let i = heads.iter().position(|h| h.path() == Some(path))?;
    let start = heads[i].line;
    let end = heads[i + 1..].iter().find(|h| h.path().is_some()).map_or(lines.len(), |h| h.line);
    Some(lines[start..end].join("\n"))
}

/// Whether `text` has `name=` where `name` is not the tail of a longer property name
/// (`to=` must not be satisfied by `copy-to=`).
fn mentions_property(text: &str, name: &str) -> bool {
    let needle = format!("{name}=");
    text.match_indices(&needle)
        .any(|(i, _)| !text[..i].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
}

#[test]
fn every_node_has_a_heading() {
    let text = doc();
    let lines: Vec<&str> = text.lines().collect();
    let heads = headings(&lines);
    let nodes = schema_nodes();
    assert!(nodes.len() > 100, "the schema walk found only {} nodes; is it broken?", nodes.len());
    let mut missing = Vec::new();
    for node in &nodes {
        let path = node.path_str();
        let level = node.path.len() + 1;
        let found = heads.iter().find(|h| h.path() == Some(path.as_str()));
        match found {
            None => missing.push(format!("{} `{path}`", "#".repeat(level))),
            Some(h) if h.level != level => missing.push(format!(
                "{} `{path}` (found at level {} on line {}, expected level {level})",
                "#".repeat(level),
                h.level,
                h.line + 1
            )),
            Some(_) => {}
        }
    }
    assert!(missing.is_empty(), "docs/language.md lacks these node headings:\n{}", missing.join("\n"));
}

#[test]
fn every_heading_names_a_real_node() {
    let text = doc();
    let lines: Vec<&str> = text.lines().collect();
    let known: Vec<String> = schema_nodes().iter().map(SchemaNode::path_str).collect();
    let mut seen = Vec::new();
    let mut bad = Vec::new();
    for h in headings(&lines) {
        let Some(path) = h.path() else { continue };
        if !known.iter().any(|k| k == path) {
            bad.push(format!("line {}: `{path}` is not a node of the schema", h.line + 1));
        }
        if seen.contains(&path.to_string()) {
            bad.push(format!("line {}: `{path}` has a second heading", h.line + 1));
        }
        seen.push(path.to_string());
    }
    assert!(bad.is_empty(), "docs/language.md has headings for paths the language does not have:\n{}", bad.join("\n"));
}

#[test]
fn every_property_is_documented_in_its_section() {
    let text = doc();
    let lines: Vec<&str> = text.lines().collect();
    let heads = headings(&lines);
    let mut missing = Vec::new();
    for node in schema_nodes() {
        let path = node.path_str();
        let Some(section) = own_section(&lines, &heads, &path) else {
            continue; // reported by `every_node_has_a_heading`
        };
        for prop in node.spec.props {
            if !mentions_property(&section, prop.name) {
                missing.push(format!("`{path}`: `{}=`", prop.name));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "these properties are not written as `name=` in their node's section of docs/language.md:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_node_section_has_origin_merge_and_example() {
    let text = doc();
    let lines: Vec<&str> = text.lines().collect();
    let heads = headings(&lines);
    let mut missing = Vec::new();
    for node in schema_nodes() {
        let path = node.path_str();
        let Some(section) = own_section(&lines, &heads, &path) else {
            continue; // reported by `every_node_has_a_heading`
        };
        for (needle, what) in [
            ("Origin:", "its origin (core or the seed of an extension)"),
            ("Merge:", "its merge rule"),
            ("```kdl", "an example"),
        ] {
            if !section.contains(needle) {
                missing.push(format!("`{path}`: {what} (`{needle}`)"));
            }
        }
    }
    assert!(missing.is_empty(), "node sections of docs/language.md lack:\n{}", missing.join("\n"));
}

#[test]
fn service_child_lists_are_referred_to_not_repeated() {
    let text = doc();
    let lines: Vec<&str> = text.lines().collect();
    let heads = headings(&lines);
    let parents: Vec<String> =
        schema_nodes().iter().filter(|n| takes_service_children(&n.path, n.spec)).map(SchemaNode::path_str).collect();
    for want in ["defaults", "monitoring > prometheus", "monitoring > exporter"] {
        assert!(parents.iter().any(|p| p == want), "`{want}` no longer takes the `service` children; update this test");
    }
    for path in &parents {
        let section = own_section(&lines, &heads, path).unwrap_or_default();
        assert!(
            section.contains("every `service` child"),
            "the section of `{path}` must say that it takes every `service` child"
        );
    }
}

#[test]
fn every_lint_is_in_the_catalogue_with_its_default_level() {
    let text = doc();
    for lint in LINTS {
        let name = lint.code.info().name;
        let level = match lint.default {
            Level::Allow => "allow",
            Level::Warn => "warn",
            Level::Deny => "deny",
        };
        let code = lint.code.info().code;
        let row = text.lines().find(|l| l.starts_with(&format!("| {code} |")));
        let Some(row) = row else {
            panic!("the lint catalogue in docs/language.md has no row starting `| {code} |` for `{name}`");
        };
        assert!(
            row.contains(&format!("`{name}`")) && row.contains(&format!("| `{level}` |")),
            "the catalogue row of {code} must name `{name}` and give its default level `{level}`:\n{row}"
        );
    }
}

/// One ```kdl block: its first line (1-based), whether it is marked `refused`, its text.
struct Example {
    line: usize,
    refused: bool,
    body: String,
}

fn kdl_examples(text: &str) -> Vec<Example> {
    let mut out = Vec::new();
    // `Some(None)`: inside a fence of another language.
    let mut open: Option<Option<Example>> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(info) = line.trim_start().strip_prefix("```") {
            match open.take() {
                Some(block) => out.extend(block),
                None => {
                    let mut words = info.split_whitespace();
                    let example = (words.next() == Some("kdl")).then(|| Example {
                        line: i + 2,
                        refused: words.any(|w| w == "refused"),
                        body: String::new(),
                    });
                    open = Some(example);
                }
            }
            continue;
        }
        if let Some(Some(example)) = open.as_mut() {
            example.body.push_str(line);
            example.body.push('\n');
        }
    }
    out
}

/// Parse and shape-check one example; the rendered errors.
fn shape_errors(text: &str) -> Vec<String> {
    let mut sources = SourceMap::new();
    let id = sources.add("example.stack.kdl", text);
    let (parsed, parse_diags) = stackc::syntax::parse(id, text);
    let mut diags = Diagnostics::new();
    diags.extend(parse_diags);
    if let Some(doc) = parsed {
        stackc::validate::shape(&doc.nodes, &mut diags);
    }
    diags.iter().filter(|d| d.is_error()).map(|d| format!("{}: {}", d.code.as_str(), d.message)).collect()
}

#[test]
fn every_example_passes_the_shape_check() {
    let text = doc();
    let examples = kdl_examples(&text);
    assert!(examples.len() > 50, "found only {} ```kdl examples; is the fence scan broken?", examples.len());
    let mut bad = Vec::new();
    for Example { line, refused, body } in &examples {
        let errors = shape_errors(body);
        if *refused && errors.is_empty() {
            bad.push(format!("line {line}: marked `refused`, but stackc accepts it:\n{body}"));
        } else if !refused && !errors.is_empty() {
            bad.push(format!("line {line}:\n{body}{}", errors.join("\n")));
        }
    }
    assert!(bad.is_empty(), "examples in docs/language.md disagree with stackc:\n\n{}", bad.join("\n\n"));
}
