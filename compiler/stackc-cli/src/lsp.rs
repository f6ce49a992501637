//! `stackc lsp`: a language server over stdio. Diagnostics as you type (the same codes,
//! spans, help and related locations as `stackc check`, base and every environment),
//! formatting (`stackc fmt`), hover (a node's usage, summary and properties, a property's
//! kind, from the schema) and completion of the node names and properties that fit where the
//! cursor is; names across the file (`navigate`): definition, references, rename, the
//! completion of references and enum values, quick fixes. Positions are UTF-16 code units,
//! the protocol's default.

mod navigate;

use std::collections::HashMap;
use std::process::ExitCode;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types as lt;
use serde_json::json;
use stackc::diagnostics::Severity;
use stackc::schema::{self, NodeSpec};
use stackc::syntax::ast::{Document, Node as AstNode};
use stackc::validate::walk;
use stackc::{Options, Outcome};

pub fn run() -> ExitCode {
    let (conn, io) = Connection::stdio();
    let caps = json!({
        "textDocumentSync": { "openClose": true, "change": 1 },
        "documentFormattingProvider": true,
        "hoverProvider": true,
        "completionProvider": { "triggerCharacters": ["\""] },
        "definitionProvider": true,
        "referencesProvider": true,
        "renameProvider": { "prepareProvider": true },
        "codeActionProvider": { "codeActionKinds": ["quickfix"] },
    });
    if let Err(e) = conn.initialize(caps) {
        eprintln!("error: the client did not initialize the server: {e}");
        return ExitCode::from(2);
    }
    let result = serve(&conn);
    drop(conn);
    let joined = io.join();
    match (result, joined) {
        (Ok(()), Ok(())) => ExitCode::SUCCESS,
        (Err(e), _) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        (_, Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn serve(conn: &Connection) -> Result<(), String> {
    // Open documents by URI: the editor's text, not the file on disk.
    let mut docs: HashMap<String, String> = HashMap::new();
    for msg in &conn.receiver {
        match msg {
            Message::Request(req) => {
                if conn.handle_shutdown(&req).map_err(|e| e.to_string())? {
                    return Ok(());
                }
                let resp = request(&docs, req);
                conn.sender.send(Message::Response(resp)).map_err(|e| e.to_string())?;
            }
            Message::Notification(n) => {
                if let Some((uri, text)) = notification(&mut docs, n) {
                    let diagnostics = text.as_deref().map(|t| diagnostics(&uri, t)).unwrap_or_default();
                    let params = lt::PublishDiagnosticsParams { uri, diagnostics, version: None };
                    let note = Notification::new("textDocument/publishDiagnostics".into(), params);
                    conn.sender.send(Message::Notification(note)).map_err(|e| e.to_string())?;
                }
            }
            Message::Response(_) => {}
        }
    }
    Ok(())
}

/// Applies a document notification; returns the document to publish diagnostics for, with
/// its text (none: it was closed, so its diagnostics are cleared).
fn notification(docs: &mut HashMap<String, String>, n: Notification) -> Option<(lt::Uri, Option<String>)> {
    match n.method.as_str() {
        "textDocument/didOpen" => {
            let p: lt::DidOpenTextDocumentParams = serde_json::from_value(n.params).ok()?;
            docs.insert(p.text_document.uri.as_str().to_string(), p.text_document.text.clone());
            Some((p.text_document.uri, Some(p.text_document.text)))
        }
        "textDocument/didChange" => {
            let p: lt::DidChangeTextDocumentParams = serde_json::from_value(n.params).ok()?;
            // Full synchronisation: the last change holds the whole text.
            let text = p.content_changes.into_iter().last()?.text;
            docs.insert(p.text_document.uri.as_str().to_string(), text.clone());
            Some((p.text_document.uri, Some(text)))
        }
        "textDocument/didClose" => {
            let p: lt::DidCloseTextDocumentParams = serde_json::from_value(n.params).ok()?;
            docs.remove(p.text_document.uri.as_str());
            Some((p.text_document.uri, None))
        }
        _ => None,
    }
}

fn request(docs: &HashMap<String, String>, req: Request) -> Response {
    match req.method.as_str() {
        "textDocument/formatting" => {
            let Ok(p) = serde_json::from_value::<lt::DocumentFormattingParams>(req.params) else {
                return Response::new_err(req.id, ErrorCode::InvalidParams as i32, "bad formatting params".into());
            };
            let Some(text) = docs.get(p.text_document.uri.as_str()) else {
                return Response::new_err(req.id, ErrorCode::InvalidParams as i32, "the document is not open".into());
            };
            // A file that does not parse is left as it is (its diagnostics say why).
            let edits = match stackc::fmt::format(text) {
                Ok(formatted) if formatted != *text => {
                    vec![lt::TextEdit {
                        range: lt::Range::new(position(text, 0), position(text, text.len())),
                        new_text: formatted,
                    }]
                }
                _ => Vec::new(),
            };
            Response::new_ok(req.id, edits)
        }
        "textDocument/hover" => {
            let Ok(p) = serde_json::from_value::<lt::HoverParams>(req.params) else {
                return Response::new_err(req.id, ErrorCode::InvalidParams as i32, "bad hover params".into());
            };
            let pos = p.text_document_position_params;
            let hover = docs.get(pos.text_document.uri.as_str()).and_then(|t| hover(t, offset(t, pos.position)));
            Response::new_ok(req.id, hover)
        }
        "textDocument/completion" => {
            let Ok(p) = serde_json::from_value::<lt::CompletionParams>(req.params) else {
                return Response::new_err(req.id, ErrorCode::InvalidParams as i32, "bad completion params".into());
            };
            let pos = p.text_document_position;
            let items =
                docs.get(pos.text_document.uri.as_str()).map(|t| completion(t, pos.position)).unwrap_or_default();
            Response::new_ok(req.id, items)
        }
        "textDocument/definition" => {
            let Ok(p) = serde_json::from_value::<lt::GotoDefinitionParams>(req.params) else {
                return Response::new_err(req.id, ErrorCode::InvalidParams as i32, "bad definition params".into());
            };
            let pos = p.text_document_position_params;
            let uri = &pos.text_document.uri;
            let found = docs.get(uri.as_str()).and_then(|t| navigate::definition(uri, t, pos.position));
            Response::new_ok(req.id, found)
        }
        "textDocument/references" => {
            let Ok(p) = serde_json::from_value::<lt::ReferenceParams>(req.params) else {
                return Response::new_err(req.id, ErrorCode::InvalidParams as i32, "bad references params".into());
            };
            let pos = p.text_document_position;
            let uri = &pos.text_document.uri;
            let found = docs
                .get(uri.as_str())
                .map(|t| navigate::references(uri, t, pos.position, p.context.include_declaration))
                .unwrap_or_default();
            Response::new_ok(req.id, found)
        }
        "textDocument/prepareRename" => {
            let Ok(p) = serde_json::from_value::<lt::TextDocumentPositionParams>(req.params) else {
                return Response::new_err(req.id, ErrorCode::InvalidParams as i32, "bad prepareRename params".into());
            };
            let range = docs.get(p.text_document.uri.as_str()).and_then(|t| navigate::prepare_rename(t, p.position));
            Response::new_ok(req.id, range)
        }
        "textDocument/rename" => {
            let Ok(p) = serde_json::from_value::<lt::RenameParams>(req.params) else {
                return Response::new_err(req.id, ErrorCode::InvalidParams as i32, "bad rename params".into());
            };
            let pos = p.text_document_position;
            let uri = &pos.text_document.uri;
            let Some(text) = docs.get(uri.as_str()) else {
                return Response::new_err(req.id, ErrorCode::InvalidParams as i32, "the document is not open".into());
            };
            match navigate::rename(uri, text, pos.position, &p.new_name) {
                Ok(edit) => Response::new_ok(req.id, edit),
                Err(why) => Response::new_err(req.id, ErrorCode::InvalidParams as i32, why),
            }
        }
        "textDocument/codeAction" => {
            let Ok(p) = serde_json::from_value::<lt::CodeActionParams>(req.params) else {
                return Response::new_err(req.id, ErrorCode::InvalidParams as i32, "bad codeAction params".into());
            };
            let uri = &p.text_document.uri;
            let actions = docs.get(uri.as_str()).map(|t| navigate::code_actions(uri, t, p.range)).unwrap_or_default();
            Response::new_ok(req.id, actions)
        }
        _ => Response::new_err(
            req.id,
            ErrorCode::MethodNotFound as i32,
            format!("stackc lsp does not answer {}", req.method),
        ),
    }
}

/// The file name diagnostics are computed under: the path of a `file:` URI.
fn file_name(uri: &lt::Uri) -> String {
    let s = uri.as_str();
    s.strip_prefix("file://").unwrap_or(s).to_string()
}

/// `stackc check` of the text, as LSP diagnostics.
fn diagnostics(uri: &lt::Uri, text: &str) -> Vec<lt::Diagnostic> {
    let out: Outcome = stackc::check(&file_name(uri), text, &Options::default());
    let range = |span: &stackc::source::Span| {
        let t = &out.sources.get(span.source).text;
        lt::Range::new(position(t, span.offset), position(t, span.offset + span.len))
    };
    out.diagnostics
        .iter()
        .map(|d| {
            let mut message = d.message.clone();
            if let Some(h) = &d.help {
                message.push_str("\nhelp: ");
                message.push_str(h);
            }
            let related: Vec<lt::DiagnosticRelatedInformation> = d
                .labels
                .iter()
                .map(|l| lt::DiagnosticRelatedInformation {
                    location: lt::Location { uri: uri.clone(), range: range(&l.span) },
                    message: l.text.clone(),
                })
                .collect();
            lt::Diagnostic {
                range: d.primary.as_ref().map_or_else(lt::Range::default, |l| range(&l.span)),
                severity: Some(match d.severity {
                    Severity::Error => lt::DiagnosticSeverity::ERROR,
                    _ => lt::DiagnosticSeverity::WARNING,
                }),
                code: Some(lt::NumberOrString::String(d.code.info().code.to_string())),
                source: Some("stackc".into()),
                message,
                related_information: (!related.is_empty()).then_some(related),
                ..lt::Diagnostic::default()
            }
        })
        .collect()
}

/// The LSP position (line, UTF-16 column) of a byte offset; lines end at `\n`, `\r\n` or
/// `\r`, as the protocol says.
fn position(text: &str, offset: usize) -> lt::Position {
    let offset = offset.min(text.len());
    let (mut line, mut col) = (0u32, 0u32);
    let mut chars = text[..offset].chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => (line, col) = (line + 1, 0),
            '\r' if chars.peek() != Some(&'\n') => (line, col) = (line + 1, 0),
            '\r' => {}
            c => col += c.len_utf16() as u32,
        }
    }
    lt::Position::new(line, col)
}

/// The byte offset of an LSP position (the end of the line when the column is past it).
fn offset(text: &str, pos: lt::Position) -> usize {
    let (mut line, mut col) = (0u32, 0u32);
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if line == pos.line && (col >= pos.character || c == '\n' || c == '\r') {
            return i;
        }
        match c {
            '\n' => (line, col) = (line + 1, 0),
            '\r' if chars.peek().map(|(_, c)| *c) != Some('\n') => (line, col) = (line + 1, 0),
            '\r' => {}
            c => col += c.len_utf16() as u32,
        }
    }
    text.len()
}

fn contains(span: &stackc::source::Span, offset: usize) -> bool {
    span.offset <= offset && offset <= span.offset + span.len
}

/// The nodes around `offset`, outermost first, each with its schema entry.
fn nodes_at(doc: &Document, offset: usize) -> Vec<(&AstNode, &'static NodeSpec)> {
    let mut out: Vec<(&AstNode, &'static NodeSpec)> = Vec::new();
    let mut nodes = doc.nodes.as_slice();
    while let Some(n) = nodes.iter().find(|n| contains(&n.span, offset)) {
        let spec = match out.last() {
            None => schema::top(&n.name.name),
            Some((_, parent)) => parent.child(&n.name.name),
        };
        let Some(spec) = spec else { break };
        out.push((n, spec));
        nodes = n.children();
    }
    out
}

fn parse(text: &str) -> Option<Document> {
    stackc::syntax::parse(stackc::source::SourceId(0), text).0
}

/// Hover: on a property, its kind; elsewhere on a node, its usage, summary and properties.
fn hover(text: &str, offset: usize) -> Option<lt::Hover> {
    let doc = parse(text)?;
    let path = nodes_at(&doc, offset);
    let (node, spec) = *path.last()?;
    let title = path.iter().map(|(n, _)| n.name.name.as_str()).collect::<Vec<_>>().join(" > ");
    let md =
        match node.props.iter().find(|p| contains(&p.value.entry_span, offset)).and_then(|p| spec.prop(&p.key.name)) {
            Some(prop) => format!("**`{}=`** of `{title}`: {}", prop.name, prop.kind.describe()),
            None => {
                let mut md = format!("**`{title}`**: {}\n\n```kdl\n{}\n```", spec.summary, walk::usage(spec));
                for p in spec.props {
                    md.push_str(&format!("\n- `{}=`: {}", p.name, p.kind.describe()));
                }
                md
            }
        };
    Some(lt::Hover {
        contents: lt::HoverContents::Markup(lt::MarkupContent { kind: lt::MarkupKind::Markdown, value: md }),
        range: None,
    })
}

/// Completion: on a node's first line, its properties; inside a block, the nodes it takes;
/// at the top level, the top-level nodes.
fn completion(text: &str, pos: lt::Position) -> Vec<lt::CompletionItem> {
    if let Some(items) = navigate::value_completion(text, pos) {
        return items;
    }
    let at = offset(text, pos);
    let Some(doc) = parse(text) else { return Vec::new() };
    let path = nodes_at(&doc, at);
    let line_of = |o: usize| position(text, o).line;
    let node_item = |s: &NodeSpec| lt::CompletionItem {
        label: s.name.to_string(),
        kind: Some(lt::CompletionItemKind::KEYWORD),
        detail: Some(walk::usage(s)),
        documentation: Some(lt::Documentation::String(s.summary.to_string())),
        ..lt::CompletionItem::default()
    };
    match path.last() {
        None => schema::TOP.iter().map(node_item).collect(),
        Some((node, spec)) if line_of(node.name.span.offset) == pos.line => spec
            .props
            .iter()
            .filter(|p| !node.props.iter().any(|q| q.key.name == p.name))
            .map(|p| lt::CompletionItem {
                label: format!("{}=", p.name),
                kind: Some(lt::CompletionItemKind::PROPERTY),
                detail: Some(p.kind.describe()),
                ..lt::CompletionItem::default()
            })
            .collect(),
        Some((_, spec)) => spec.child_specs().iter().map(node_item).collect(),
    }
}
