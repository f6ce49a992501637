//! Rendering: human reports through miette, and JSON Lines for CI. Pure: returns strings.
//!
//! miette is never shown the file itself but an [`Excerpt`]: the lines around each label,
//! long lines cut to a window around the label, with line numbers and the header's
//! `file:line:col` taken from [`SourceFile`] (so from KDL's line breaks, as `--format json`
//! counts them). That keeps every report small and every width miette formats small,
//! whatever the input: a 1 MB line cannot make a 1 MB report, nor a column past 65 535
//! (which makes `core::fmt` panic inside miette).

use std::fmt;
use std::ops::Range;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents, SourceCode, SourceSpan,
    SpanContents,
};

use super::{span_lines, Diagnostic, Severity};
use crate::source::{SourceFile, SourceMap, Span};

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

/// At most this many diagnostics of one file are rendered by [`render_human_report`] and
/// [`render_json_report`]; the rest are counted in one closing line (or record).
pub const MAX_SHOWN: usize = 100;

/// Lines of context above and below a label.
const CONTEXT_LINES: usize = 1;
/// A source line longer than this (in characters) is shown as a window of this many
/// characters around its labels, cut with `…`.
const MAX_LINE_CHARS: usize = 160;
/// Characters of a cut line shown before the first label on it.
const LEAD_CHARS: usize = 40;
/// A label over more lines than this is underlined on its first line only.
const MAX_LABEL_LINES: usize = 12;
/// Labels with at most this many unlabelled lines between their contexts share one
/// snippet; further apart, each gets a snippet of its own.
const MERGE_GAP: usize = 2;
/// The widths miette is given stay in this range (`COLUMNS` is the user's).
const WIDTHS: Range<usize> = 20..1000;

/// One shown line of the excerpt: the window `real` of source line `line`, which starts
/// at `at` in the excerpt's text.
struct ShownLine {
    line: usize,
    real: Range<usize>,
    at: usize,
}

/// Consecutive source lines, shown as one snippet.
struct Segment {
    text: Range<usize>,
    first_line: usize,
    lines: usize,
}

/// The parts of a file a report shows, as miette's source code. Offsets of labels are
/// offsets into `text`, see [`Excerpt::map`].
struct Excerpt<'a> {
    file: &'a SourceFile,
    text: String,
    lines: Vec<ShownLine>,
    segments: Vec<Segment>,
}

/// The largest char boundary of `text` not after `i` (clamped to the text).
fn floor_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The byte offset `n` characters after `from`, or `limit` if that comes first.
fn chars_forward(text: &str, from: usize, limit: usize, n: usize) -> usize {
    text[from..limit].char_indices().nth(n).map_or(limit, |(i, _)| from + i)
}

/// The byte offset `n` characters before `from`, or `limit` if that comes first.
fn chars_back(text: &str, from: usize, limit: usize, n: usize) -> usize {
    text[limit..from].char_indices().rev().take(n).last().map_or(from, |(i, _)| limit + i)
}

impl<'a> Excerpt<'a> {
    /// The lines of `file` that the labels `spans` need (the primary label first), each
    /// span a range of char boundaries of the text.
    fn new(file: &'a SourceFile, spans: &[Range<usize>]) -> Self {
        let text = &file.text;
        // The empty "line" after a final line break is context for nothing.
        let mut last_line = file.line_count() - 1;
        if last_line > 0 && file.line_range(last_line).is_empty() {
            last_line -= 1;
        }
        // The lines each label covers, and the part of each line that must be visible.
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        let mut focus: Vec<(usize, Range<usize>)> = Vec::new();
        for s in spans {
            let (first, last) = (file.line_index(s.start), file.line_index(s.end));
            ranges.push((first.saturating_sub(CONTEXT_LINES), (last + CONTEXT_LINES).min(last_line.max(last))));
            focus.push((first, s.start..s.end.min(file.line_range(first).end)));
            if last != first {
                focus.push((last, file.line_range(last).start..s.end));
            }
        }
        let primary = ranges.first().copied();
        ranges.sort_unstable();
        let mut groups: Vec<(usize, usize)> = Vec::new();
        for (first, last) in ranges {
            match groups.last_mut() {
                Some(g) if first <= g.1 + 1 + MERGE_GAP => g.1 = g.1.max(last),
                _ => groups.push((first, last)),
            }
        }
        // miette shows snippets in the order of their offsets here: the first label's
        // (the primary one's) snippet comes first, where the report starts.
        if let Some((first, _)) = primary {
            if let Some(i) = groups.iter().position(|g| g.0 <= first && first <= g.1) {
                groups[..=i].rotate_right(1);
            }
        }
        let mut ex = Excerpt { file, text: String::new(), lines: Vec::new(), segments: Vec::new() };
        for (first, last) in groups {
            let start = ex.text.len();
            for line in first..=last {
                let whole = file.line_range(line);
                let mut wanted = focus.iter().filter(|(l, _)| *l == line).map(|(_, r)| r);
                let real = match wanted.next() {
                    Some(r) => {
                        let (lo, hi) = wanted.fold((r.start, r.end), |(lo, hi), r| (lo.min(r.start), hi.max(r.end)));
                        window(text, whole, lo..hi)
                    }
                    None => window(text, whole.clone(), whole.start..whole.start),
                };
                let cut_before = real.start > file.line_range(line).start;
                let cut_after = real.end < file.line_range(line).end;
                if cut_before {
                    ex.text.push('…');
                }
                ex.lines.push(ShownLine { line, real: real.clone(), at: ex.text.len() });
                ex.text.push_str(&text[real]);
                if cut_after {
                    ex.text.push('…');
                }
                ex.text.push('\n');
            }
            ex.segments.push(Segment { text: start..ex.text.len(), first_line: first, lines: last - first + 1 });
        }
        ex
    }

    /// Where source offset `offset` is shown in the excerpt (the nearest shown character
    /// when it was cut away).
    fn map(&self, offset: usize) -> usize {
        let line = self.file.line_index(offset);
        // Every label's lines are shown, so the line is found.
        self.lines
            .iter()
            .find(|l| l.line == line)
            .map_or(0, |l| l.at + offset.clamp(l.real.start, l.real.end) - l.real.start)
    }

    /// The source offset shown at excerpt offset `at` (the inverse of [`Excerpt::map`]).
    fn unmap(&self, at: usize) -> usize {
        let i = self.lines.partition_point(|l| l.at <= at).saturating_sub(1);
        self.lines.get(i).map_or(0, |l| l.real.start + at.saturating_sub(l.at).min(l.real.len()))
    }
}

/// The part of line `whole` shown for the labelled part `want`: the whole line when it is
/// short, else [`MAX_LINE_CHARS`] characters starting a little before `want`.
fn window(text: &str, whole: Range<usize>, want: Range<usize>) -> Range<usize> {
    if chars_forward(text, whole.start, whole.end, MAX_LINE_CHARS) == whole.end {
        return whole;
    }
    let want_start = floor_boundary(text, want.start.clamp(whole.start, whole.end));
    let mut start = chars_back(text, want_start, whole.start, LEAD_CHARS);
    let end = chars_forward(text, start, whole.end, MAX_LINE_CHARS);
    if end == whole.end {
        // The label is near the end of the line: show the line's last characters.
        start = chars_back(text, end, whole.start, MAX_LINE_CHARS);
    }
    start..end
}

impl SourceCode for Excerpt<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        context_lines_before: usize,
        _context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let (offset, end) = (span.offset(), span.offset() + span.len());
        // Only a span inside one segment can be read: miette then shows two labels that
        // are far apart as two snippets instead of one with every line between them.
        let seg = self
            .segments
            .iter()
            .find(|s| s.text.start <= offset && end <= s.text.end)
            .ok_or(MietteError::OutOfBounds)?;
        let name = self.file.name.clone();
        let contents = if context_lines_before == 0 {
            // The position of a label itself (the report's `file:line:col`).
            let (line, col) = self.file.line_col(self.unmap(offset));
            let data = &self.text.as_bytes()[offset..seg.text.end];
            MietteSpanContents::new_named(name, data, (offset, data.len()).into(), line - 1, col - 1, 1)
        } else {
            let data = &self.text.as_bytes()[seg.text.clone()];
            MietteSpanContents::new_named(name, data, (seg.text.start, data.len()).into(), seg.first_line, 0, seg.lines)
        };
        Ok(Box::new(contents))
    }
}

/// Adapts one of our diagnostics to miette's trait for the graphical renderer.
struct View<'a> {
    diag: &'a Diagnostic,
    source: Excerpt<'a>,
    labels: Vec<LabeledSpan>,
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
        Some(Box::new(self.labels.iter().cloned()))
    }
}

impl<'a> View<'a> {
    fn new(diag: &'a Diagnostic, map: &'a SourceMap) -> Self {
        let src_id = diag.primary.as_ref().map(|l| l.span.source).unwrap_or_default();
        let file = map.get(src_id);
        let clamp = |s: Span| {
            let start = floor_boundary(&file.text, s.offset);
            let end = floor_boundary(&file.text, s.offset.saturating_add(s.len)).max(start);
            // A long multi-line label (a whole block) is pointed at by its first line.
            let end = if file.line_index(end) - file.line_index(start) > MAX_LABEL_LINES {
                file.line_range(file.line_index(start)).end
            } else {
                end
            };
            start..end
        };
        let labels: Vec<(bool, &str, Range<usize>)> = diag
            .primary
            .iter()
            .map(|l| (true, l.text.as_str(), clamp(l.span)))
            .chain(
                diag.labels.iter().filter(|l| l.span.source == src_id).map(|l| (false, l.text.as_str(), clamp(l.span))),
            )
            .collect();
        let spans: Vec<Range<usize>> = labels.iter().map(|(_, _, r)| r.clone()).collect();
        let source = Excerpt::new(file, &spans);
        let labels = labels
            .into_iter()
            .map(|(primary, text, r)| {
                let (start, end) = (source.map(r.start), source.map(r.end));
                let span = SourceSpan::from((start, end.saturating_sub(start)));
                let text = Some(text.to_string());
                if primary {
                    LabeledSpan::new_primary_with_span(text, span)
                } else {
                    LabeledSpan::new_with_span(text, span)
                }
            })
            .collect();
        View { diag, source, labels }
    }
}

/// The report of a diagnostic when miette cannot render it: one line, and its place.
fn plain(diag: &Diagnostic, map: &SourceMap) -> String {
    let mut out = format!("{}[{}]: {}\n", diag.severity.as_str(), diag.code.as_str(), diag.message);
    if let Some(l) = &diag.primary {
        let ((line, col), _) = span_lines(map, l.span);
        out.push_str(&format!("  --> {}:{line}:{col}\n", map.get(l.span.source).name));
    }
    out
}

/// Renders one diagnostic the way `stackc check` prints it.
pub fn render_human(diag: &Diagnostic, map: &SourceMap, opts: RenderOptions) -> String {
    let theme = match (opts.unicode, opts.color) {
        (true, true) => GraphicalTheme::unicode(),
        (true, false) => GraphicalTheme::unicode_nocolor(),
        (false, _) => GraphicalTheme::none(),
    };
    let width = opts.width.clamp(WIDTHS.start, WIDTHS.end);
    // The excerpt keeps miette's input small; should miette still panic on some input,
    // the user gets the diagnostic in one line rather than a crash that loses the others.
    let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let view = View::new(diag, map);
        let handler = GraphicalReportHandler::new_themed(theme)
            .with_width(width)
            .with_links(false)
            .with_context_lines(CONTEXT_LINES);
        let mut out = String::new();
        handler.render_report(&mut out, &view).ok().map(|()| out)
    }));
    let mut out = rendered.ok().flatten().unwrap_or_else(|| plain(diag, map));
    out.push_str(&elsewhere(diag, map));
    out
}

/// The labels in another file than the primary one (a `use` line for a setting of a preset,
/// whose excerpt is the preset's file): miette shows one file, so they are listed under it.
fn elsewhere(diag: &Diagnostic, map: &SourceMap) -> String {
    let Some(src) = diag.primary.as_ref().map(|l| l.span.source) else { return String::new() };
    let mut out = String::new();
    for l in diag.labels.iter().filter(|l| l.span.source != src) {
        let ((line, col), _) = span_lines(map, l.span);
        out.push_str(&format!("  note: {} ({}:{line}:{col})\n", l.text, map.get(l.span.source).name));
    }
    out
}

/// The closing line of a report cut at [`MAX_SHOWN`]: `… and 3 more errors (not shown)`.
fn not_shown_line(errors: usize, warnings: usize) -> String {
    let more = |n: usize, w: &str| (n > 0).then(|| format!("{n} more {w}{}", if n == 1 { "" } else { "s" }));
    let parts: Vec<String> = [more(errors, "error"), more(warnings, "warning")].into_iter().flatten().collect();
    format!("… and {} (not shown)\n", parts.join(" and "))
}

/// Counts of errors and warnings among `diags`.
fn counts(diags: &[Diagnostic]) -> (usize, usize) {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    (errors, diags.len() - errors)
}

/// The human report of a file's diagnostics: the first [`MAX_SHOWN`], separated by blank
/// lines as miette separates them, then one line that counts the others.
pub fn render_human_report(diags: &[Diagnostic], map: &SourceMap, opts: RenderOptions) -> String {
    let mut out = String::new();
    for d in diags.iter().take(MAX_SHOWN) {
        out.push_str(&render_human(d, map, opts));
    }
    if let Some(rest) = diags.get(MAX_SHOWN..).filter(|r| !r.is_empty()) {
        let (errors, warnings) = counts(rest);
        out.push_str(&not_shown_line(errors, warnings));
    }
    out
}

/// The JSON Lines records of a file's diagnostics: the first [`MAX_SHOWN`], then, when
/// some were left out, one record `{"truncated": true, "not_shown": N, "errors": E,
/// "warnings": W}` counting them (it has no `code`).
pub fn render_json_report(diags: &[Diagnostic], map: &SourceMap) -> Vec<serde_json::Value> {
    let mut out: Vec<serde_json::Value> = diags.iter().take(MAX_SHOWN).map(|d| render_json(d, map)).collect();
    if let Some(rest) = diags.get(MAX_SHOWN..).filter(|r| !r.is_empty()) {
        let (errors, warnings) = counts(rest);
        out.push(serde_json::json!({
            "truncated": true,
            "not_shown": rest.len(),
            "errors": errors,
            "warnings": warnings,
        }));
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

// ---------------------------------------------------------------------------------------
// SARIF 2.1.0 and GitHub workflow annotations, for CI (`--format sarif|github`).
// ---------------------------------------------------------------------------------------

/// Where each code's explanation (`docs/diagnostics/CODE.md`) is published: a rule's
/// `helpUri` is this followed by `CODE.md`.
pub const DOCS_URL: &str = "https://github.com/stackc/stackc/blob/main/docs/diagnostics/";

/// FNV-1a, 64 bits: a hash that is the same on every run and machine (std's is not).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// A file name as a SARIF `uri`: a relative reference (absolute paths as `file://`), with
/// every byte but the unreserved ones and `/` percent-encoded.
fn file_uri(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if name.starts_with('/') {
        format!("file://{out}")
    } else {
        out
    }
}

/// One SARIF log of every file of a run (one `run`): add each file's outcome, then
/// [`Sarif::finish`].
#[derive(Debug, Default)]
pub struct Sarif {
    rules: Vec<super::Code>,
    results: Vec<serde_json::Value>,
}

impl Sarif {
    pub fn new() -> Self {
        Self::default()
    }

    /// The file's diagnostics and the findings its policy suppressed. A diagnostic without
    /// a place is given `file` (the stack file), at its first line.
    pub fn add(&mut self, diags: &[Diagnostic], suppressed: &[super::Suppressed], map: &SourceMap, file: &str) {
        for d in diags {
            let r = self.result(d, map, file);
            self.results.push(r);
        }
        for s in suppressed {
            let mut r = self.result(&s.diagnostic, map, file);
            let mut sup = serde_json::json!({ "kind": "inSource", "status": "accepted" });
            if let Some(why) = &s.reason {
                sup["justification"] = why.clone().into();
            }
            r["suppressions"] = serde_json::json!([sup]);
            self.results.push(r);
        }
    }

    fn rule_index(&mut self, code: super::Code) -> usize {
        match self.rules.iter().position(|c| *c == code) {
            Some(i) => i,
            None => {
                self.rules.push(code);
                self.rules.len() - 1
            }
        }
    }

    fn result(&mut self, d: &Diagnostic, map: &SourceMap, file: &str) -> serde_json::Value {
        let index = self.rule_index(d.code);
        let mut text = d.message.clone();
        if let Some(h) = &d.help {
            text.push_str("\nhelp: ");
            text.push_str(h);
        }
        let location = |span: Span, label: Option<&str>| {
            let ((line, column), (end_line, end_column)) = span_lines(map, span);
            let mut loc = serde_json::json!({
                "physicalLocation": {
                    "artifactLocation": { "uri": file_uri(&map.get(span.source).name) },
                    "region": {
                        "startLine": line,
                        "startColumn": column,
                        "endLine": end_line,
                        "endColumn": end_column.max(if end_line == line { column + 1 } else { 1 }),
                    }
                }
            });
            if let Some(l) = label {
                loc["message"] = serde_json::json!({ "text": l });
            }
            loc
        };
        let (primary, snippet, name) = match &d.primary {
            Some(l) => {
                let f = map.get(l.span.source);
                let snippet = f.text.get(l.span.offset..l.span.end()).unwrap_or("").to_string();
                (location(l.span, None), snippet, f.name.clone())
            }
            None => (
                serde_json::json!({
                    "physicalLocation": {
                        "artifactLocation": { "uri": file_uri(file) },
                        "region": { "startLine": 1 }
                    }
                }),
                String::new(),
                file.to_string(),
            ),
        };
        // Stable across runs and edits elsewhere in the file: what is reported and where
        // (the file and the text at fault), never the line number.
        let key = format!("{}\0{name}\0{}\0{snippet}", d.code.as_str(), d.message);
        let mut r = serde_json::json!({
            "ruleId": d.code.as_str(),
            "ruleIndex": index,
            "level": if d.is_error() { "error" } else { "warning" },
            "message": { "text": text },
            "locations": [primary],
            "partialFingerprints": { "stackcFingerprint/v1": format!("{:016x}", stable_hash(key.as_bytes())) },
        });
        let related: Vec<serde_json::Value> = d
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut loc = location(l.span, Some(&l.text));
                loc["id"] = i.into();
                loc
            })
            .collect();
        if !related.is_empty() {
            r["relatedLocations"] = related.into();
        }
        r
    }

    /// The log: one run of stackc, its rules (the codes reported, in order of first use)
    /// with their summaries, explanations and help URIs, and the results.
    pub fn finish(self, version: &str) -> serde_json::Value {
        let rules: Vec<serde_json::Value> = self
            .rules
            .iter()
            .map(|c| {
                let info = c.info();
                let lint = crate::validate::lints::LINTS.iter().find(|l| l.code == *c);
                use crate::validate::lints::Level;
                let level = match lint.map(|l| l.default) {
                    Some(Level::Deny) => "error",
                    Some(Level::Warn) => "warning",
                    Some(Level::Allow) => "none",
                    None if info.code.starts_with('E') => "error",
                    None => "warning",
                };
                serde_json::json!({
                    "id": info.code,
                    "name": pascal(info.name),
                    "shortDescription": { "text": sentence(info.summary) },
                    "fullDescription": { "text": sentence(info.summary) },
                    "help": { "text": info.explanation, "markdown": info.explanation },
                    "helpUri": format!("{DOCS_URL}{}.md", info.code),
                    "defaultConfiguration": { "level": level },
                    "properties": { "lint": info.name },
                })
            })
            .collect();
        serde_json::json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": { "driver": {
                    "name": "stackc",
                    "version": version,
                    "semanticVersion": version,
                    "informationUri": DOCS_URL.trim_end_matches("docs/diagnostics/"),
                    "rules": rules,
                } },
                "columnKind": "unicodeCodePoints",
                "results": self.results,
            }]
        })
    }
}

/// `public-port` → `PublicPort` (SARIF's rule names).
fn pascal(name: &str) -> String {
    name.split(['-', '_']).filter(|w| !w.is_empty()).map(|w| w[..1].to_ascii_uppercase() + &w[1..]).collect()
}

/// A summary as a sentence: capitalised, ending with a period.
fn sentence(s: &str) -> String {
    let mut out: String = s.chars().take(1).flat_map(char::to_uppercase).chain(s.chars().skip(1)).collect();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// GitHub Actions workflow commands (`::error file=…,line=…::message`), one a line: the
/// annotations a workflow step shows on the changed lines. Suppressed findings are not
/// annotated.
pub fn render_github(diags: &[Diagnostic], map: &SourceMap, file: &str) -> String {
    // The workflow command syntax: `%`, CR and LF escaped in data; also `:` and `,` in
    // properties.
    fn data(s: &str) -> String {
        s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
    }
    fn prop(s: &str) -> String {
        data(s).replace(':', "%3A").replace(',', "%2C")
    }
    let mut out = String::new();
    for d in diags {
        let level = if d.is_error() { "error" } else { "warning" };
        let mut props = vec![];
        match &d.primary {
            Some(l) => {
                let ((line, col), (end_line, end_col)) = span_lines(map, l.span);
                props.push(format!("file={}", prop(&map.get(l.span.source).name)));
                props.push(format!("line={line}"));
                props.push(format!("col={col}"));
                props.push(format!("endLine={end_line}"));
                if end_line == line {
                    props.push(format!("endColumn={end_col}"));
                }
            }
            None => props.push(format!("file={}", prop(file))),
        }
        props.push(format!("title={}", prop(&format!("{} {}", d.code.as_str(), d.code.info().name))));
        let mut text = d.message.clone();
        if let Some(h) = &d.help {
            text.push_str("\nhelp: ");
            text.push_str(h);
        }
        out.push_str(&format!("::{level} {}::{}\n", props.join(","), data(&text)));
    }
    out
}

/// JSON Lines records of the findings the policy suppressed: each a diagnostic's record
/// with `"suppressed": true` and the policy's `"reason"` (or null).
pub fn render_suppressed_json(suppressed: &[super::Suppressed], map: &SourceMap) -> Vec<serde_json::Value> {
    suppressed
        .iter()
        .map(|s| {
            let mut v = render_json(&s.diagnostic, map);
            v["suppressed"] = true.into();
            v["reason"] = s.reason.clone().map(Into::into).unwrap_or(serde_json::Value::Null);
            v
        })
        .collect()
}

/// One line per suppressed finding, for the end of a human report: where, which lint, and
/// the policy's reason.
pub fn render_suppressed_human(suppressed: &[super::Suppressed], map: &SourceMap) -> String {
    let mut out = String::new();
    for s in suppressed {
        let d = &s.diagnostic;
        let at = match &d.primary {
            Some(l) => {
                let ((line, col), _) = span_lines(map, l.span);
                format!("{}:{line}:{col}: ", map.get(l.span.source).name)
            }
            None => String::new(),
        };
        let why = match &s.reason {
            Some(r) => format!(" (reason: {})", super::quote(r)),
            None => String::new(),
        };
        out.push_str(&format!(
            "note: {at}{}({}) allowed by policy{why}: {}\n",
            d.code.as_str(),
            d.code.info().name,
            d.message
        ));
    }
    out
}
