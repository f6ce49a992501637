//! Diagnostics: the sink every stage pushes into, and THE catalogue of codes.
//!
//! Codes are never reused. Ranges: E01xx syntax and shape, E02xx names and references,
//! E03xx values, E04xx graph and cross-field rules, W01xx lints (see `validate::lints`).

use crate::source::{SourceMap, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One entry of the catalogue.
#[derive(Debug)]
pub struct CodeInfo {
    pub code: &'static str,
    pub name: &'static str,
    pub summary: &'static str,
    /// Long explanation shown by `stackc explain`; the text of `docs/diagnostics/CODE.md`.
    pub explanation: &'static str,
}

macro_rules! catalogue {
    ($($ident:ident = $code:literal $name:literal $summary:literal;)*) => {
        /// A diagnostic code. `Code::ALL` lists the whole catalogue.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $($ident),* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$ident),*];

            pub fn info(self) -> &'static CodeInfo {
                match self {
                    $(Code::$ident => &CodeInfo {
                        code: $code,
                        name: $name,
                        summary: $summary,
                        explanation: include_str!(concat!(
                            env!("CARGO_MANIFEST_DIR"), "/../../docs/diagnostics/", $code, ".md"
                        )),
                    }),*
                }
            }
        }
    };
}

catalogue! {
    KdlSyntax = "E0100" "kdl-syntax" "the file is not valid KDL 2";
    KdlV1 = "E0101" "kdl-v1-syntax" "KDL 1 syntax in a KDL 2 file";
    UnknownNode = "E0102" "unknown-node" "a node that is not part of the language at this place";
    UnknownProperty = "E0103" "unknown-property" "a property that this node does not take";
    MissingArgument = "E0104" "missing-argument" "a node lacks a required argument";
    TooManyArguments = "E0105" "too-many-arguments" "a node has more arguments than it takes";
    WrongType = "E0106" "wrong-value-type" "a value of the wrong type (string, integer, boolean, ...)";
    DuplicateProperty = "E0107" "duplicate-property" "the same property twice on one node";
    DuplicateNode = "E0108" "duplicate-node" "a node that may appear once appears again";
    MissingRequired = "E0109" "missing-required" "a required property or child node is missing";
    Conflicting = "E0110" "conflicting-settings" "settings that exclude each other are both given";
    UnknownAnnotation = "E0111" "unknown-type-annotation" "a type annotation stackc does not know, or one not allowed here";
    UnexpectedChildren = "E0112" "unexpected-children" "a children block on a node that takes none";
    SecretRequired = "E0113" "secret-required" "a secret setting given as a literal instead of a `(secret)` reference";
    ParserLimit = "E0114" "parser-limit" "blocks nested too deeply, or a block comment too long, for the KDL parser";
    InvalidName = "E0201" "invalid-name" "a name that cannot become a DNS name, compose key and k8s object name";
    DuplicateName = "E0202" "duplicate-name" "two things of the same kind with the same name";
    UnknownService = "E0203" "unknown-service" "a reference to a service that does not exist";
    UnknownVolume = "E0204" "unknown-volume" "a reference to a volume that does not exist";
    UnknownNetwork = "E0205" "unknown-network" "a reference to a network that does not exist";
    UnknownSecret = "E0206" "unknown-secret" "a reference to a secret that does not exist";
    UnknownParam = "E0207" "unknown-param" "a `${name}` interpolation of a param that does not exist";
    UnknownRateLimit = "E0208" "unknown-rate-limit" "a route names a rate-limit zone that the proxy does not declare";
    UnknownEnvironment = "E0209" "unknown-environment" "an environment that the stack does not declare";
    UnknownPortName = "E0210" "unknown-port-name" "a reference to a port name the service does not declare";
    UnknownLint = "E0211" "unknown-lint" "a policy names a lint that does not exist";
    InvalidPort = "E0301" "invalid-port" "a port outside 1-65535";
    InvalidDuration = "E0302" "invalid-duration" "a duration that does not parse";
    InvalidSize = "E0303" "invalid-size" "a size that does not parse or whose unit is ambiguous";
    InvalidCpus = "E0304" "invalid-cpus" "a CPU amount that does not parse";
    InvalidCidr = "E0305" "invalid-cidr" "an address range that is not a valid CIDR";
    InvalidCron = "E0306" "invalid-cron" "a cron schedule that does not parse";
    InvalidHostname = "E0307" "invalid-hostname" "a host name that is not a valid DNS name";
    InvalidImage = "E0308" "invalid-image" "an image reference that does not parse";
    InvalidEnvName = "E0309" "invalid-env-name" "an environment variable name that shells and compose reject";
    InvalidPath = "E0310" "invalid-path" "a path of the wrong form for its place";
    InvalidInterpolation = "E0311" "invalid-interpolation" "a malformed `${...}` or a lone `$`";
    InvalidChoice = "E0312" "invalid-choice" "a value that is not one of the allowed words";
    InvalidPromql = "E0313" "invalid-promql" "an alert expression that is not valid PromQL";
    InvalidRate = "E0314" "invalid-rate" "a request rate that is not of the form `10r/s` or `30r/m`";
    OutOfRange = "E0315" "out-of-range" "a number outside the range this setting accepts";
    InvalidAddress = "E0316" "invalid-address" "a host address that is not an IP address";
    InvalidUrl = "E0317" "invalid-url" "a URL or destination of the wrong form";
    InvalidText = "E0318" "invalid-text" "a control or invisible character, or a length, that the generated file cannot hold safely";
    DependencyCycle = "E0401" "dependency-cycle" "services that depend on each other in a loop";
    HealthyWithoutHealth = "E0402" "healthy-without-health" "`depends-on ... healthy=#true` on a service without a `health` check";
    RouteNoPort = "E0403" "route-without-port" "a route to a service that has no usable port";
    PublishClash = "E0404" "publish-clash" "two `publish` nodes bind the same host port on the same address";
    DuplicateRoute = "E0405" "duplicate-route" "two routes of one site match the same path, or two sites serve the same host";
    SelfReference = "E0406" "self-reference" "a node refers to the thing it belongs to";
    BackupEngine = "E0407" "backup-engine" "a backup of a service whose database engine stackc cannot tell or does not support";
    UnknownEnvGroup = "E0212" "unknown-env-group" "`env-from` names an `env-group` that does not exist";
    TargetCannotExpress = "E0501" "target-cannot-express" "the stack asks for something a target cannot do correctly";
    TemplateFailed = "E0502" "template-failed" "a template given with `--templates` does not exist, parse or render";
    TargetApproximation = "W0501" "target-approximation" "a target can only approximate or ignore part of the stack";
    PublicDatabase = "W0101" "public-database" "a database port published on all host addresses";
    MissingHealthcheck = "W0102" "missing-healthcheck" "a long-running service without a `health` check";
    LatestTag = "W0103" "latest-tag" "an image without a pinned tag (`:latest` or none)";
    SharedVolumeReplicas = "W0104" "shared-volume-replicas" "a named volume mounted by a service with several replicas";
    UnscrapedAlertJob = "W0105" "unscraped-alert-job" "an alert selects a `job` that the stack does not scrape";
    PlaintextSecret = "W0106" "plaintext-secret" "a literal value in an environment variable whose name says it is a secret";
    PublicPort = "W0107" "public-port" "a non-HTTP port published on all host addresses";
    DockerBypassesFirewall = "W0108" "docker-bypasses-firewall" "ports published on all addresses while the stack's firewall is not the UFW target's, which alone governs them";
    MissingResourceLimits = "W0109" "missing-resource-limits" "a service without a memory limit";
    NoHsts = "W0110" "no-hsts" "sites served over TLS without HSTS";
    DebugInProduction = "W0111" "debug-in-production" "a debug or development setting in an environment named like production";
    DockerSocketMount = "W0112" "docker-socket-mount" "the Docker socket mounted into a container (read-only too)";
    PrivilegedOrRoot = "W0113" "privileged-or-root" "a container that runs as root, shares a host namespace or adds broad capabilities";
    SingleReplicaPublic = "W0114" "single-replica-public" "a routed service with one replica in an environment named like production";
    WildcardCors = "W0115" "wildcard-cors" "`Access-Control-Allow-Origin: *`, as a header or a CORS setting";
    AlertsWithoutReceiver = "W0116" "alerts-without-receiver" "alerts without a receiver (`notify`, `email`, `pagerduty`): they fire where nobody is told";
    BackupUnmonitored = "W0117" "backup-unmonitored" "a backup that no alert watches";
    ImageNotPinned = "W0118" "image-not-pinned" "an image pinned by tag but not by digest (opt-in)";
    RawProxyConfig = "W0119" "raw-proxy-config" "raw nginx or Caddy directives (`nginx`/`caddy` of a site or route), written verbatim and unchecked by stackc";
    UnknownTemplate = "E0213" "unknown-template" "`use` names a template that does not exist";
}

impl Code {
    pub fn as_str(self) -> &'static str {
        self.info().code
    }

    pub fn from_str_code(s: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.info().code.eq_ignore_ascii_case(s) || c.info().name == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// The primary label: the exact span at fault.
    pub primary: Option<Label>,
    /// Secondary labels (the other side of a clash, the edges of a cycle, ...).
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            primary: None,
            labels: Vec::new(),
            help: None,
        }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message) }
    }

    pub fn at(mut self, span: Span, text: impl Into<String>) -> Self {
        self.primary = Some(Label { span, text: text.into() });
        self
    }

    pub fn label(mut self, span: Span, text: impl Into<String>) -> Self {
        self.labels.push(Label { span, text: text.into() });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Sort key: file, position, then code, so that output order is stable.
    fn sort_key(&self) -> (u32, usize, usize, Code, String) {
        let (src, off, len) =
            self.primary.as_ref().map(|l| (l.span.source.0, l.span.offset, l.span.len)).unwrap_or((u32::MAX, 0, 0));
        (src, off, len, self.code, self.message.clone())
    }
}

/// Collects diagnostics from every stage.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
    /// Lint findings the stack's `policy` turned off (kept for the reports that list
    /// suppressions: SARIF, JSON, the human summary).
    suppressed: Vec<Suppressed>,
}

/// A lint finding a `policy { allow … }` rule turned off, with the rule's `reason=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    pub diagnostic: Diagnostic,
    pub reason: Option<String>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn extend(&mut self, ds: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(ds);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn suppress(&mut self, s: Suppressed) {
        self.suppressed.push(s);
    }

    /// The suppressed findings, sorted by position, each once.
    pub fn take_suppressed(&mut self) -> Vec<Suppressed> {
        let mut out = std::mem::take(&mut self.suppressed);
        out.sort_by_cached_key(|s| s.diagnostic.sort_key());
        out.dedup();
        out
    }

    /// Sorted by position and de-duplicated: checking every environment overlay reports
    /// an error in the shared base once, not once per environment. Repeats of one error
    /// on one line become one diagnostic that counts them, at most [`MAX_LABELS`] secondary
    /// labels are kept, and user values quoted in messages are shortened (see [`quote`]):
    /// one cause never makes a flood.
    pub fn into_sorted(mut self, sources: &SourceMap) -> Vec<Diagnostic> {
        self.items.sort_by_cached_key(Diagnostic::sort_key);
        self.items.dedup();
        // Texts are cut first, so that the counts added below are never cut off.
        for d in &mut self.items {
            bound_in_place(&mut d.message, QUOTE_MAX_CHARS);
            if let Some(h) = &mut d.help {
                bound_in_place(h, HELP_QUOTE_MAX_CHARS);
            }
            for l in d.primary.iter_mut().chain(d.labels.iter_mut()) {
                bound_in_place(&mut l.text, QUOTE_MAX_CHARS);
            }
        }
        let mut out = collapse_repeats(self.items, sources);
        for d in &mut out {
            if d.labels.len() > MAX_LABELS {
                let more = d.labels.len() - MAX_LABELS;
                d.labels.truncate(MAX_LABELS);
                d.message = format!("{} ({more} more places not labelled)", d.message);
            }
        }
        out
    }
}

/// What makes two diagnostics repeats of each other: all but the position on the line.
fn repeat_key(d: &Diagnostic) -> impl PartialEq + '_ {
    (d.code, d.severity, &d.message, d.primary.as_ref().map(|l| (l.span.source, &l.text)), &d.labels, &d.help)
}

/// How many earlier diagnostics of a line a diagnostic is compared with.
const REPEAT_WINDOW: usize = 16;

/// Diagnostics (sorted by position) with each error repeated on one line (the KDL parser
/// reports `a))))…` once per `)`) kept once, its message counting the repeats.
fn collapse_repeats(items: Vec<Diagnostic>, sources: &SourceMap) -> Vec<Diagnostic> {
    let line_of = |d: &Diagnostic| {
        d.primary.as_ref().map(|l| (l.span.source, sources.get(l.span.source).line_index(l.span.offset)))
    };
    let mut out: Vec<(Diagnostic, usize)> = Vec::with_capacity(items.len());
    // Index in `out` where the diagnostics of the current line start.
    let mut line_start = 0;
    for d in items {
        let line = line_of(&d);
        if out.last().is_none_or(|(prev, _)| line.is_none() || line_of(prev) != line) {
            line_start = out.len();
        }
        // Only the last few kinds of the line are compared, so that a line of many
        // different errors costs no more than a line of one.
        let from = line_start.max(out.len().saturating_sub(REPEAT_WINDOW));
        let repeat = line.and_then(|_| out[from..].iter().position(|(o, _)| repeat_key(o) == repeat_key(&d)));
        match repeat {
            Some(i) => out[from + i].1 += 1,
            None => out.push((d, 1)),
        }
    }
    out.into_iter()
        .map(|(mut d, n)| {
            if n > 1 {
                d.message = format!("{} (reported {n} times on this line)", d.message);
            }
            d
        })
        .collect()
}

/// Secondary labels of one diagnostic kept (a cycle through 3 000 services labels 16 edges).
const MAX_LABELS: usize = 16;

/// A user value quoted in a message is shown with at most this many characters.
pub const QUOTE_MAX_CHARS: usize = 60;
/// A help quotes the fix (a whole rewritten value) and is only cut when it is this long.
const HELP_QUOTE_MAX_CHARS: usize = 400;
/// A message, label or help is cut after this many characters.
const TEXT_MAX_CHARS: usize = 1000;

/// `value` in backticks, for a message, cut to [`QUOTE_MAX_CHARS`] with `…`: a message
/// that names a 1 MB value must not be 1 MB.
pub fn quote(value: &str) -> String {
    format!("`{}`", shorten(value, QUOTE_MAX_CHARS))
}

/// `s` cut to `max` characters, the last of them `…`.
fn shorten(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => s.into(),
        Some(_) => {
            let cut = s.char_indices().nth(max - 1).map_or(s.len(), |(i, _)| i);
            format!("{}…", &s[..cut]).into()
        }
    }
}

/// `s` with every backtick-quoted run cut to `quote_max` characters, as [`quote`] does,
/// and itself cut to [`TEXT_MAX_CHARS`]: the bound for texts built without `quote`.
fn bound_in_place(s: &mut String, quote_max: usize) {
    if s.len() <= quote_max {
        return;
    }
    let mut out = String::with_capacity(s.len().min(TEXT_MAX_CHARS * 4));
    let mut parts = s.split('`');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    // Odd parts are inside backticks; an unclosed one runs to the end.
    for (i, part) in parts.enumerate() {
        out.push('`');
        out.push_str(if i % 2 == 0 { shorten(part, quote_max) } else { part.into() }.as_ref());
    }
    *s = shorten(&out, TEXT_MAX_CHARS).into_owned();
}

/// Names longer than this get no suggestion: `strsim` is O(|word| × |candidate|).
const SUGGEST_MAX_LEN: usize = 128;
/// At most this many candidates (of a plausible length) are compared, so one suggestion
/// costs at most about 4096 × 128² steps however large the stack.
const SUGGEST_MAX_CANDIDATES: usize = 4096;

/// The closest candidate to `word`, for "did you mean" help: the fewest edits (an
/// insertion, deletion, substitution or swap of two neighbours each, so that `wbe` is one
/// edit from `web`), then the most similar by Jaro-Winkler (which rewards a common prefix:
/// `prod` for `production`).
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if word.len() > SUGGEST_MAX_LEN {
        return None;
    }
    // Skipped before `strsim`: a candidate more than 4 times as long (or short) as the
    // word. Such a pair can only pass through Jaro-Winkler's prefix bonus (`prod` for
    // `production` is 2.5 times), never through the edit distance bound.
    let plausible = |c: &&str| {
        let (lo, hi) = if c.len() < word.len() { (c.len(), word.len()) } else { (word.len(), c.len()) };
        hi <= SUGGEST_MAX_LEN && 4 * lo >= hi
    };
    let mut best: Option<(usize, f64, &str)> = None;
    for c in candidates.into_iter().filter(plausible).take(SUGGEST_MAX_CANDIDATES) {
        let score = strsim::jaro_winkler(word, c);
        let edits = strsim::osa_distance(word, c);
        let close = score >= 0.8 || edits <= word.len().min(c.len()) / 3;
        if close && best.is_none_or(|(e, s, _)| edits < e || (edits == e && score > s)) {
            best = Some((edits, score, c));
        }
    }
    best.map(|(_, _, c)| c)
}

/// `did you mean `x`?` help text, or the list of valid words when nothing is close.
pub fn suggest(word: &str, candidates: &[&str], what: &str) -> Option<String> {
    if let Some(s) = did_you_mean(word, candidates.iter().copied()) {
        return Some(format!("did you mean {}?", quote(s)));
    }
    if candidates.is_empty() {
        return None;
    }
    if candidates.len() <= 12 {
        let list: Vec<String> = candidates.iter().map(|c| quote(c)).collect();
        Some(format!("{what}: {}", list.join(", ")))
    } else {
        None
    }
}

pub mod render;

/// The span of an IR entity's origin, for emitters' diagnostics.
pub fn origin_span(o: crate::ir::Origin) -> Span {
    Span::new(crate::source::SourceId(o.source), o.offset, o.len)
}

pub use render::{
    render_github, render_human, render_human_report, render_json, render_json_report, render_suppressed_human,
    render_suppressed_json, RenderOptions, Sarif, MAX_SHOWN,
};

/// 1-based line/column of a span start and end.
pub fn span_lines(map: &SourceMap, span: Span) -> ((usize, usize), (usize, usize)) {
    let file = map.get(span.source);
    (file.line_col(span.offset), file.line_col(span.end()))
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggestions_survive_the_length_filter() {
        assert_eq!(did_you_mean("prod", ["staging", "production"]), Some("production"));
        assert_eq!(did_you_mean("api", ["api-server", "web"]), Some("api-server"));
        assert_eq!(did_you_mean("postgress", ["redis", "postgres"]), Some("postgres"));
    }

    /// A swap of two neighbouring letters is one edit: `wbe` used to get no suggestion.
    #[test]
    fn swapped_letters_are_one_edit() {
        assert_eq!(did_you_mean("wbe", ["api", "web", "worker"]), Some("web"));
        assert_eq!(did_you_mean("imaeg", ["image", "build"]), Some("image"));
        assert_eq!(did_you_mean("redsi-data", ["postgres-data", "redis-data"]), Some("redis-data"));
    }

    /// The fewest edits win over a long common prefix: `redis` for `redis-exporter`
    /// only when nothing closer exists.
    #[test]
    fn the_nearest_candidate_wins() {
        assert_eq!(did_you_mean("rediss", ["redis-exporter", "redis"]), Some("redis"));
        assert_eq!(did_you_mean("redis", ["redis-exporter", "api"]), Some("redis-exporter"));
        assert_eq!(did_you_mean("xyz", ["web", "api"]), None);
    }
}
