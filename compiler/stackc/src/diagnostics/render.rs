//! Rendering: human reports through miette, and JSON Lines for CI. Pure: returns strings.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};

use super::{span_lines, Diagnostic, Severity};
use crate::source::SourceMap;

#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    pub color: bool,
    pub unicode: bool,
    pub width: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions { color: false, unicode: true, width: 100 }
    }
}

/// Adapts one of our diagnostics to miette's trait for the graphical renderer.
struct View<'a> {
    diag: &'a Diagnostic,
    source: NamedSource<String>,
}

impl fmt::Debug for View<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl fmt::Display for View<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for View<'_> {}

impl miette::Diagnostic for View<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        let info = self.diag.code.info();
        Some(Box::new(format!("{}({})", info.code, info.name)))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diag.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let primary =
            self.diag.primary.iter().map(|l| LabeledSpan::new_primary_with_span(Some(l.text.clone()), span(l.span)));
        let rest = self
            .diag
            .labels
            .iter()
            .filter(|l| self.diag.primary.as_ref().is_none_or(|p| p.span.source == l.span.source))
            .map(|l| LabeledSpan::new_with_span(Some(l.text.clone()), span(l.span)));
        Some(Box::new(primary.chain(rest)))
    }
}

fn span(s: crate::source::Span) -> SourceSpan {
    SourceSpan::from((s.offset, s.len))
}

/// Renders one diagnostic the way `stackc check` prints it.
pub fn render_human(diag: &Diagnostic, map: &SourceMap, opts: RenderOptions) -> String {
    let src_id = diag.primary.as_ref().map(|l| l.span.source).unwrap_or_default();
    let file = map.get(src_id);
    let view = View { diag, source: NamedSource::new(file.name.clone(), file.text.clone()).with_language("kdl") };
    let theme = match (opts.unicode, opts.color) {
        (true, true) => GraphicalTheme::unicode(),
        (true, false) => GraphicalTheme::unicode_nocolor(),
        (false, _) => GraphicalTheme::none(),
    };
    let mut out = String::new();
    let handler = GraphicalReportHandler::new_themed(theme).with_width(opts.width).with_links(false);
    if handler.render_report(&mut out, &view).is_err() {
        out = format!("{}[{}]: {}\n", diag.severity.as_str(), diag.code.as_str(), diag.message);
    }
    out
}

/// One JSON object (a JSON Lines record) for a diagnostic. Lines and columns are 1-based.
pub fn render_json(diag: &Diagnostic, map: &SourceMap) -> serde_json::Value {
    let mut obj = serde_json::Map::new();
    obj.insert("code".into(), diag.code.as_str().into());
    obj.insert("name".into(), diag.code.info().name.into());
    obj.insert("severity".into(), diag.severity.as_str().into());
    obj.insert("message".into(), diag.message.clone().into());
    match &diag.primary {
        Some(l) => {
            let ((line, column), (end_line, end_column)) = span_lines(map, l.span);
            obj.insert("file".into(), map.get(l.span.source).name.clone().into());
            obj.insert("line".into(), line.into());
            obj.insert("column".into(), column.into());
            obj.insert("end_line".into(), end_line.into());
            obj.insert("end_column".into(), end_column.into());
        }
        None => {
            for k in ["file", "line", "column", "end_line", "end_column"] {
                obj.insert(k.into(), serde_json::Value::Null);
            }
        }
    }
    obj.insert("help".into(), diag.help.clone().map(Into::into).unwrap_or(serde_json::Value::Null));
    let labels: Vec<serde_json::Value> = diag
        .primary
        .iter()
        .chain(diag.labels.iter())
        .map(|l| {
            let ((line, column), (end_line, end_column)) = span_lines(map, l.span);
            serde_json::json!({
                "text": l.text,
                "file": map.get(l.span.source).name,
                "line": line,
                "column": column,
                "end_line": end_line,
                "end_column": end_column,
            })
        })
        .collect();
    obj.insert("labels".into(), labels.into());
    serde_json::Value::Object(obj)
}
