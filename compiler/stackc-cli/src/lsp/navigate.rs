//! Names across the file: go to definition, find references, rename, the completion of
//! references and enum values, and quick fixes for "did you mean" diagnostics. The names and
//! where they occur come from `stackc::references`, the way the reference check finds them.

use std::collections::HashMap;

use lsp_types as lt;
use stackc::references::{Index, Occurrence, SymbolKind};
use stackc::schema::Kind;
use stackc::{Options, Outcome};

use super::{nodes_at, offset, parse, position};

fn index(text: &str) -> Option<Index> {
    parse(text).map(|doc| Index::of(&doc.nodes))
}

fn range(text: &str, o: &Occurrence) -> lt::Range {
    lt::Range::new(position(text, o.span.offset), position(text, o.span.offset + o.span.len))
}

/// Where the name under the cursor is declared.
pub fn definition(uri: &lt::Uri, text: &str, pos: lt::Position) -> Option<lt::Location> {
    let idx = index(text)?;
    let o = idx.at(offset(text, pos))?;
    let decl = idx.declarations(o.kind, &o.name).next()?;
    Some(lt::Location { uri: uri.clone(), range: range(text, decl) })
}

/// Every occurrence of the name under the cursor (its declarations when asked).
pub fn references(uri: &lt::Uri, text: &str, pos: lt::Position, with_declaration: bool) -> Vec<lt::Location> {
    let Some(idx) = index(text) else { return Vec::new() };
    let Some(o) = idx.at(offset(text, pos)) else { return Vec::new() };
    idx.all(o.kind, &o.name)
        .filter(|r| with_declaration || !r.declaration)
        .map(|r| lt::Location { uri: uri.clone(), range: range(text, r) })
        .collect()
}

/// The range of the name under the cursor, when it can be renamed.
pub fn prepare_rename(text: &str, pos: lt::Position) -> Option<lt::Range> {
    let idx = index(text)?;
    let o = idx.at(offset(text, pos))?;
    // A preset's template is declared in stackc's standard library, not in this file.
    idx.declarations(o.kind, &o.name).next()?;
    Some(range(text, o))
}

/// The edits that rename the name under the cursor everywhere in the file, or why not.
pub fn rename(uri: &lt::Uri, text: &str, pos: lt::Position, new_name: &str) -> Result<lt::WorkspaceEdit, String> {
    let idx = index(text).ok_or("the file does not parse: fix its syntax first")?;
    let o = idx.at(offset(text, pos)).ok_or("there is no name here to rename")?;
    if idx.declarations(o.kind, &o.name).next().is_none() {
        return Err(format!("the {} `{}` is not declared in this file", o.kind.noun(), o.name));
    }
    stackc::validate::values::name(new_name)
        .map_err(|e| format!("`{new_name}` cannot name a {}: {}", o.kind.noun(), e.message))?;
    if new_name != o.name && idx.declarations(o.kind, new_name).next().is_some() {
        return Err(format!("a {} named `{new_name}` exists already", o.kind.noun()));
    }
    let edits: Vec<lt::TextEdit> = idx
        .all(o.kind, &o.name)
        .map(|r| lt::TextEdit { range: range(text, r), new_text: new_name.to_string() })
        .collect();
    Ok(lt::WorkspaceEdit { changes: Some(HashMap::from([(uri.clone(), edits)])), ..lt::WorkspaceEdit::default() })
}

/// Inside a value: the names it may refer to, or the values of its enumeration.
pub fn value_completion(text: &str, pos: lt::Position) -> Option<Vec<lt::CompletionItem>> {
    let at = offset(text, pos);
    let doc = parse(text)?;
    let (node, spec) = *nodes_at(&doc, at).last()?;
    let inside = |e: &stackc::syntax::ast::Entry| e.span.offset < at && at < e.span.offset + e.span.len;
    let kind = if let Some(i) = node.args.iter().position(inside) {
        if node.args[i].is_secret_ref() {
            Kind::Ref(stackc::schema::RefKind::Secret)
        } else if spec.name == "use" {
            return Some(names(&doc, SymbolKind::Template, true));
        } else {
            spec.args.get(i).map(|a| a.1).or(spec.rest.map(|r| r.1))?
        }
    } else {
        let prop = node.props.iter().find(|p| inside(&p.value))?;
        if prop.value.is_secret_ref() {
            Kind::Ref(stackc::schema::RefKind::Secret)
        } else {
            spec.prop(&prop.key.name)?.kind
        }
    };
    match kind {
        Kind::Ref(r) => Some(names(&doc, SymbolKind::of_ref(r)?, false)),
        Kind::MountSource => Some(names(&doc, SymbolKind::Volume, false)),
        Kind::Enum(values) => Some(
            values
                .iter()
                .map(|v| lt::CompletionItem {
                    label: v.to_string(),
                    kind: Some(lt::CompletionItemKind::ENUM_MEMBER),
                    ..lt::CompletionItem::default()
                })
                .collect(),
        ),
        _ => None,
    }
}

fn names(doc: &stackc::syntax::ast::Document, kind: SymbolKind, presets: bool) -> Vec<lt::CompletionItem> {
    let idx = Index::of(&doc.nodes);
    let mut names: Vec<String> = idx.names(kind).into_iter().map(str::to_string).collect();
    if kind == SymbolKind::Service {
        for m in doc.nodes.iter().filter(|n| n.name.name == "monitoring") {
            names.extend(stackc::validate::generated_services(m).into_iter().map(str::to_string));
        }
    }
    if presets {
        names.extend(stackc::lower::presets::PRESETS.iter().map(|(n, _)| n.to_string()));
    }
    names
        .into_iter()
        .map(|n| lt::CompletionItem {
            label: n,
            kind: Some(lt::CompletionItemKind::REFERENCE),
            detail: Some(kind.noun().to_string()),
            ..lt::CompletionItem::default()
        })
        .collect()
}

/// Quick fixes: for each diagnostic in `range` whose help is "did you mean `x`?", the edit
/// that writes `x` in place of what is there.
pub fn code_actions(uri: &lt::Uri, text: &str, range: lt::Range) -> Vec<lt::CodeActionOrCommand> {
    let out: Outcome = stackc::check(&super::file_name(uri), text, &Options::default());
    let (from, to) = (offset(text, range.start), offset(text, range.end));
    let mut actions = Vec::new();
    for d in &out.diagnostics {
        let Some(primary) = &d.primary else { continue };
        let span = primary.span;
        // Only what is in this file (a preset's text is not).
        if out.sources.get(span.source).text != text || span.offset > to || span.offset + span.len < from {
            continue;
        }
        let Some(meant) = d.help.as_deref().and_then(suggestion) else { continue };
        let written = &text[span.offset..span.offset + span.len];
        let new_text = match written.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
            Some(_) => stackc::syntax::quote(meant),
            None => meant.to_string(),
        };
        let edit = lt::TextEdit {
            range: lt::Range::new(position(text, span.offset), position(text, span.offset + span.len)),
            new_text,
        };
        actions.push(lt::CodeActionOrCommand::CodeAction(lt::CodeAction {
            title: format!("Change to `{meant}`"),
            kind: Some(lt::CodeActionKind::QUICKFIX),
            is_preferred: Some(true),
            edit: Some(lt::WorkspaceEdit {
                changes: Some(HashMap::from([(uri.clone(), vec![edit])])),
                ..lt::WorkspaceEdit::default()
            }),
            ..lt::CodeAction::default()
        }));
    }
    actions
}

/// The `x` of a help text "did you mean `x`?" (as `stackc::diagnostics::suggest` writes it).
fn suggestion(help: &str) -> Option<&str> {
    let rest = &help[help.find("did you mean `")? + "did you mean `".len()..];
    let word = &rest[..rest.find("`?")?];
    // A cut suggestion (`…`) is not a word to write.
    (!word.is_empty() && !word.contains('…')).then_some(word)
}

#[cfg(test)]
mod tests {
    use super::suggestion;

    #[test]
    fn the_suggestion_is_read_from_the_help() {
        assert_eq!(suggestion("did you mean `redis`?"), Some("redis"));
        assert_eq!(suggestion("unknown; did you mean `image`?\nmore"), Some("image"));
        assert_eq!(suggestion("declare it: `service \"x\"`"), None);
        assert_eq!(suggestion("did you mean `aaaa…`?"), None);
    }
}
