//! `stackc::references` on the examples: every use names a declaration (the language
//! server's definitions and renames rest on it).

use stackc::references::{Index, SymbolKind};
use stackc::source::SourceId;

/// On the examples (which check clean), every use names a declaration of the file, but
/// for the services that `monitoring` generates, the presets of `stdlib/presets` and what
/// the presets a file uses declare.
#[test]
fn every_use_in_the_examples_has_its_declaration() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut uses = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".stack.kdl") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let doc = stackc::syntax::parse(SourceId(0), &text).0.expect("parses");
        let idx = Index::of(&doc.nodes);
        let generated: Vec<&str> = doc
            .nodes
            .iter()
            .filter(|n| n.name.name == "monitoring")
            .flat_map(stackc::validate::generated_services)
            .collect();
        // What the presets the file uses declare (their volumes and secrets).
        let mut from_presets: Vec<(SymbolKind, String)> = Vec::new();
        for name in idx.occurrences.iter().filter(|o| o.kind == SymbolKind::Template).map(|o| &o.name) {
            if let Some(text) = stackc::lower::presets::preset(name) {
                let doc = stackc::syntax::parse(SourceId(1), text).0.expect("a preset parses");
                let preset = Index::of(&doc.nodes);
                from_presets.extend(preset.occurrences.into_iter().filter(|o| o.declaration).map(|o| (o.kind, o.name)));
            }
        }
        for o in idx.occurrences.iter().filter(|o| !o.declaration) {
            uses += 1;
            let declared = idx.declarations(o.kind, &o.name).next().is_some()
                || (o.kind == SymbolKind::Service && generated.contains(&o.name.as_str()))
                || (o.kind == SymbolKind::Template && stackc::lower::presets::preset(&o.name).is_some())
                || from_presets.contains(&(o.kind, o.name.clone()));
            assert!(
                declared,
                "{}: {} `{}` at byte {} has no declaration",
                path.display(),
                o.kind.noun(),
                o.name,
                o.span.offset
            );
        }
    }
    assert!(uses > 100, "the examples' uses were found ({uses})");
}
