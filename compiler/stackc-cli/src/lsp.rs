//! `stackc lsp`: a language server over stdio. Diagnostics as you type (the same codes,
//! spans, help and related locations as `stackc check`, base and every environment) and
//! formatting (`stackc fmt`). Positions are UTF-16 code units, the protocol's default.

use std::collections::HashMap;
use std::process::ExitCode;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types as lt;
use serde_json::json;
use stackc::diagnostics::Severity;
use stackc::{Options, Outcome};

pub fn run() -> ExitCode {
    let (conn, io) = Connection::stdio();
    let caps = json!({
        "textDocumentSync": { "openClose": true, "change": 1 },
        "documentFormattingProvider": true,
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
