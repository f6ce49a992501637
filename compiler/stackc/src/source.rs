//! Source ids and the source map: every span points into one of these files.

/// Index of a file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SourceId(pub u32);

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    pub source: SourceId,
    pub offset: usize,
    pub len: usize,
}

impl Span {
    pub fn new(source: SourceId, offset: usize, len: usize) -> Self {
        Span { source, offset, len }
    }

    pub fn end(&self) -> usize {
        self.offset + self.len
    }
}

#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    /// Byte offset of the start of every line, for line/column lookups. Lines end where
    /// KDL 2 says they do ([`LINE_BREAKS`]), so that a position means the same line
    /// to the parser, to `--format json` and in a rendered report.
    line_starts: Vec<usize>,
}

/// The line breaks of KDL 2: CR, LF (CRLF is one break), NEL, VT, FF, LS and PS.
const LINE_BREAKS: [char; 7] = ['\r', '\n', '\u{85}', '\u{0B}', '\u{0C}', '\u{2028}', '\u{2029}'];

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let mut line_starts = vec![0];
        for (at, brk) in text.match_indices(LINE_BREAKS) {
            let next = at + brk.len();
            if brk == "\n" && text[..at].ends_with('\r') {
                // CRLF is one break: the line that seemed to start after the CR starts after the LF.
                if let Some(last) = line_starts.last_mut() {
                    *last = next;
                }
            } else {
                line_starts.push(next);
            }
        }
        SourceFile { name: name.into(), text, line_starts }
    }

    /// The 0-based index of the line that holds byte `offset` (clamped to the text).
    pub fn line_index(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    /// How many lines the text has (a final line break starts an empty last line).
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// The byte range of line `index` (0-based) without its line break.
    pub fn line_range(&self, index: usize) -> std::ops::Range<usize> {
        let start = self.line_starts[index];
        let end = match self.line_starts.get(index + 1) {
            Some(&next) => {
                let line = &self.text[start..next];
                // The break is the last char, or CRLF.
                let brk = if line.ends_with("\r\n") { 2 } else { line.chars().next_back().map_or(0, char::len_utf8) };
                next - brk
            }
            None => self.text.len(),
        };
        start..end
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_index(offset);
        let start = self.line_starts[line];
        let col = self.text.get(start..offset).map(|s| s.chars().count()).unwrap_or(offset - start);
        (line + 1, col + 1)
    }
}

#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> SourceId {
        self.files.push(SourceFile::new(name, text));
        SourceId((self.files.len() - 1) as u32)
    }

    pub fn get(&self, id: SourceId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn text(&self, span: Span) -> &str {
        self.get(span.source).text.get(span.offset..span.end()).unwrap_or("")
    }
}
