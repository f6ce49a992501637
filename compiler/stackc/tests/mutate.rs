//! Robustness: deterministic mutations of every example and every failing fixture must
//! never make the library panic (`check`, which is `build` without the files: parsing,
//! validation, lowering and every target's stage), and every diagnostic must point inside
//! its file and render (human and JSON) without panicking.
//!
//! Each mutation is reproducible from `(file, index)`: the PRNG is seeded from both.
//! On failure the test prints the mutation, a minimised input that still fails, and the
//! mutated input around the change.
//!
//! Knobs (environment variables, for longer local soak runs):
//! - `STACKC_MUTATE_SCALE=10` runs ten times as many mutations per file.
//! - `STACKC_MUTATE_SEED=N` changes the seed (default 0).
//! - `STACKC_MUTATE_ONLY=name` mutates only files whose name contains `name`.
//! - `STACKC_MUTATE_INDEX=i` runs only mutation number `i` (to reproduce a report).
//! - `STACKC_MUTATE_TRACE=1` prints each mutation before running it (to find the input
//!   behind a stack overflow, which aborts the process and cannot be caught).
//!
//! Run with `--nocapture` to see the slowest inputs.

use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use stackc::diagnostics::{render_human, render_json, Diagnostic, RenderOptions};
use stackc::validate::lints::LINTS;
use stackc::validate::{Level, LintConfig};
use stackc::{check, compile, Options, Outcome};

// ---------------------------------------------------------------------------------------
// PRNG: xorshift64*, seeded per (file, mutation index).
// ---------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so that neighbouring seeds give unrelated streams.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

// ---------------------------------------------------------------------------------------
// A rough KDL tokenizer: only token boundaries matter (always char boundaries).
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tok {
    Word,
    Str,
    Punct,
    Comment,
}

fn tokens(text: &str) -> Vec<(Tok, std::ops::Range<usize>)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let find_from = |from: usize, pat: &str| text.get(from..).and_then(|t| t.find(pat)).map(|n| from + n);
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let kind;
        if text[i..].starts_with("//") {
            i = find_from(i, "\n").unwrap_or(b.len());
            kind = Tok::Comment;
        } else if text[i..].starts_with("/*") {
            i = find_from(i + 2, "*/").map_or(b.len(), |n| n + 2);
            kind = Tok::Comment;
        } else if text[i..].starts_with("\"\"\"") {
            i = find_from(i + 3, "\"\"\"").map_or(b.len(), |n| n + 3);
            kind = Tok::Str;
        } else if c == b'#' && text[i..].trim_start_matches('#').starts_with('"') {
            let hashes = text[i..].len() - text[i..].trim_start_matches('#').len();
            let close: String = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
            i = find_from(i + hashes + 1, &close).map_or(b.len(), |n| n + close.len());
            kind = Tok::Str;
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
            kind = Tok::Str;
        } else if b"{}();=\\".contains(&c) {
            i += 1;
            kind = Tok::Punct;
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() && !b"{}();=\\\"".contains(&b[i]) {
                i += 1;
            }
            kind = Tok::Word;
        }
        // An escape at the very end may overshoot, or stop inside a multi-byte char.
        i = i.min(b.len());
        while !text.is_char_boundary(i) {
            i += 1;
        }
        out.push((kind, start..i));
    }
    out
}

fn char_boundary_at_or_before(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

// ---------------------------------------------------------------------------------------
// Mutations.
// ---------------------------------------------------------------------------------------

const REPLACEMENTS: &[&str] = &[
    "#null",
    "#true",
    "#false",
    "0",
    "-1",
    "99999999999999999999",
    "-99999999999999999999",
    "1.5",
    "1e400",
    "#inf",
    "#-inf",
    "#nan",
    "65536",
    "0x7fffffffffffffff",
    "\"\"",
    "\"${x\"",
    "\"${}\"",
    "\"$\"",
    "\"${x}\"",
    "(secret)\"x\"",
    "(secret)\"\"",
    "(secret)1",
    "(u8)300",
    "\"-\"",
    "\"/\"",
    "\"a\"",
];

const NON_ASCII: &[&str] = &[
    "é",
    "日本語",
    "🦀",
    "\u{200B}",
    "\u{FEFF}",
    "\u{2028}",
    "\u{85}",
    "e\u{301}",
    "\u{202E}",
    "\u{0}",
    "\u{7F}",
    "\u{FFFD}",
    "\u{10FFFF}",
    "\r",
    "\r\n",
    "\t",
    "Ω≈ç√∫",
    "ｓｅｒｖｉｃｅ",
];

/// Applies one random mutation; returns the new text and a description.
fn mutate(text: &str, rng: &mut Rng, depth: u32) -> (String, String) {
    let toks = tokens(text);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let show = |s: &str| {
        let short: String = s.chars().take(60).collect();
        if short.len() < s.len() {
            format!("{short:?}…")
        } else {
            format!("{short:?}")
        }
    };
    let kind = rng.below(if depth == 0 { 18 } else { 17 });
    // Token-based mutations need tokens; fall back to truncation on an empty text.
    if toks.is_empty() && kind < 8 {
        return (String::new(), "empty text -> empty".into());
    }
    let tok = |rng: &mut Rng| toks[rng.below(toks.len())].1.clone();
    match kind {
        0 => {
            let r = tok(rng);
            let d = format!("delete token {} at {}..{}", show(&text[r.clone()]), r.start, r.end);
            (format!("{}{}", &text[..r.start], &text[r.end..]), d)
        }
        1 => {
            let r = tok(rng);
            let d = format!("duplicate token {} at {}", show(&text[r.clone()]), r.start);
            (format!("{} {}", &text[..r.end], &text[r.start..]), d)
        }
        2 | 3 => {
            let r = tok(rng);
            let with = *rng.pick(REPLACEMENTS);
            let d = format!("replace token {} at {} with {with}", show(&text[r.clone()]), r.start);
            (format!("{}{with}{}", &text[..r.start], &text[r.end..]), d)
        }
        4 => {
            // A value (string or number-like word) replaced by a very long string.
            let values: Vec<_> = toks
                .iter()
                .filter(|(k, r)| *k == Tok::Str || text[r.clone()].starts_with(|c: char| c.is_ascii_digit()))
                .map(|(_, r)| r.clone())
                .collect();
            let r = if values.is_empty() { tok(rng) } else { rng.pick(&values).clone() };
            let unit = *rng.pick(&["a", "é", "${image-tag}", "-", "/", "日本", "$$", "0"]);
            // 2 to 20 KB. (Repeated `${…}` are capped: each unknown one is a diagnostic.)
            let n = (2_000 + rng.below(18_000)) / unit.len();
            let n = if unit.starts_with("${") { n.min(150) } else { n };
            let long = format!("\"{}\"", unit.repeat(n));
            let d = format!("replace value {} at {} with a string of {n} x {unit:?}", show(&text[r.clone()]), r.start);
            (format!("{}{long}{}", &text[..r.start], &text[r.end..]), d)
        }
        5 => {
            // Replace a token by another token of the same file (a name in the wrong place).
            let r = tok(rng);
            let other = tok(rng);
            let with = &text[other];
            let d = format!("replace token {} at {} with {}", show(&text[r.clone()]), r.start, show(with));
            (format!("{}{with}{}", &text[..r.start], &text[r.end..]), d)
        }
        6 => {
            let at = if rng.below(2) == 0 { tok(rng).start } else { tok(rng).end };
            let ins = *rng.pick(&["{", "}", "\"", "{ }", "}}", "(", "=", ";", "\\", "/-", "/*", "#", "\"\"\"", "#\""]);
            let d = format!("insert {ins:?} at token boundary {at}");
            (format!("{}{ins}{}", &text[..at], &text[at..]), d)
        }
        7 => {
            let at = char_boundary_at_or_before(text, rng.below(text.len() + 1));
            let ins = *rng.pick(&["{", "}", "\""]);
            let d = format!("insert {ins:?} at byte {at}");
            (format!("{}{ins}{}", &text[..at], &text[at..]), d)
        }
        8 if !lines.is_empty() => {
            let i = rng.below(lines.len());
            let d = format!("duplicate line {}: {}", i + 1, show(lines[i]));
            let mut v = lines.clone();
            v.insert(i, lines[i]);
            (v.concat(), d)
        }
        9 if !lines.is_empty() => {
            let i = rng.below(lines.len());
            let d = format!("delete line {}: {}", i + 1, show(lines[i]));
            let mut v = lines.clone();
            v.remove(i);
            (v.concat(), d)
        }
        10 if lines.len() > 1 => {
            let (i, j) = (rng.below(lines.len()), rng.below(lines.len()));
            let d = format!("swap lines {} and {}", i + 1, j + 1);
            let mut v: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            // Keep each line's own ending where it was: the last line may lack one.
            let strip = |s: &str| s.strip_suffix('\n').unwrap_or(s).to_string();
            let (a, b) = (strip(&v[i]), strip(&v[j]));
            let end = |s: &str| if s.ends_with('\n') { "\n" } else { "" };
            v[i] = format!("{b}{}", end(lines[i]));
            v[j] = format!("{a}{}", end(lines[j]));
            (v.concat(), d)
        }
        11 => {
            let at = char_boundary_at_or_before(text, rng.below(text.len() + 1));
            (text[..at].to_string(), format!("truncate at byte {at}"))
        }
        12 => {
            let at = char_boundary_at_or_before(text, rng.below(text.len() + 1));
            let ins = *rng.pick(NON_ASCII);
            let d = format!("insert {ins:?} at byte {at}");
            (format!("{}{ins}{}", &text[..at], &text[at..]), d)
        }
        13 => {
            // A whole block (from a `{` to its line's end) deleted, or a line's indentation
            // changed into tabs and CRs.
            if rng.below(2) == 0 && !lines.is_empty() {
                let i = rng.below(lines.len());
                let n = 1 + rng.below(8).min(lines.len() - i - 1);
                let d = format!("delete lines {}..={}", i + 1, i + n);
                let mut v = lines.clone();
                v.drain(i..i + n);
                (v.concat(), d)
            } else {
                (text.replace('\n', "\r\n"), "CRLF line endings".into())
            }
        }
        14 => {
            // A line longer than any terminal: later tokens land past column 65 535 (the
            // renderer once panicked there).
            let at = if toks.is_empty() { 0 } else { tok(rng).start };
            let pad = if rng.below(2) == 0 { " ".repeat(70_000) } else { format!("/*{}*/ ", "x".repeat(70_000)) };
            (format!("{}{pad}{}", &text[..at], &text[at..]), format!("insert {} bytes of padding at {at}", pad.len()))
        }
        15 => {
            // Blocks nested far deeper than any stack: the parser's limit, not a crash.
            let at = lines.iter().take(rng.below(lines.len() + 1)).map(|l| l.len()).sum::<usize>();
            let depth_n = 50 + rng.below(400);
            let nest = format!("{}{}\n", "n {".repeat(depth_n), "}".repeat(depth_n));
            (format!("{}{nest}{}", &text[..at], &text[at..]), format!("insert {depth_n} nested blocks at {at}"))
        }
        16 => {
            // Line breaks KDL counts that editors and terminals may not: NEL, FF, LS, PS.
            let breaks: Vec<usize> = text.match_indices('\n').map(|(i, _)| i).collect();
            if breaks.is_empty() {
                return (text.to_string(), "no line break to replace".into());
            }
            let at = *rng.pick(&breaks);
            let with = *rng.pick(&["\u{85}", "\u{0C}", "\u{2028}", "\u{2029}", "\r"]);
            (format!("{}{with}{}", &text[..at], &text[at + 1..]), format!("line break at {at} -> {with:?}"))
        }
        _ if depth < 2 => {
            // Two mutations stacked.
            let (t1, d1) = mutate(text, rng, depth + 1);
            let (t2, d2) = mutate(&t1, rng, depth + 1);
            (t2, format!("{d1}; then {d2}"))
        }
        _ => {
            let at = char_boundary_at_or_before(text, rng.below(text.len() + 1));
            (text[..at].to_string(), format!("truncate at byte {at}"))
        }
    }
}

// ---------------------------------------------------------------------------------------
// The checks run on one input.
// ---------------------------------------------------------------------------------------

thread_local! {
    /// Where the last panic on this thread happened (set by the panic hook).
    static PANIC_AT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        panic::set_hook(Box::new(|info| {
            let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "<non-string panic>".into());
            PANIC_AT.with(|p| *p.borrow_mut() = Some(format!("panic at {at}: {msg}")));
        }));
    });
}

/// Runs `f`, turning a panic into `Err(description)`.
fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    PANIC_AT.with(|p| *p.borrow_mut() = None);
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|_| {
        let at = PANIC_AT.with(|p| p.borrow_mut().take()).unwrap_or_else(|| "panic".into());
        format!("{what}: {at}")
    })
}

fn check_span(out: &Outcome, d: &Diagnostic, label: &stackc::diagnostics::Label) -> Result<(), String> {
    let file = guarded("SourceMap::get", || out.sources.get(label.span.source).text.clone())?;
    let (start, end) = (label.span.offset, label.span.end());
    if end > file.len() || !file.is_char_boundary(start) || !file.is_char_boundary(end) {
        return Err(format!(
            "{} {}: span {start}..{end} out of bounds or not on a char boundary (file has {} bytes): {:?}",
            d.code.as_str(),
            d.message,
            file.len(),
            label.text
        ));
    }
    Ok(())
}

/// Stack size of the worker threads: that of the CLI's main thread.
const STACK_SIZE: usize = 8 << 20;

/// Human renders per input (the JSON rendering and span checks cover every diagnostic).
const MAX_HUMAN_RENDERS: usize = 40;

/// The most one rendered diagnostic may take (bounded output).
const MAX_RENDER_BYTES: usize = 16 * 1024;

fn compile_checked(name: &str, text: &str, opts: &Options) -> Result<Outcome, String> {
    // `check` is `build` without the files: every target's stage runs too.
    let out = guarded("check", || check(name, text, opts))?;
    for (n, d) in out.diagnostics.iter().enumerate() {
        for label in d.primary.iter().chain(&d.labels) {
            check_span(&out, d, label)?;
        }
        // A human report costs about the length of the lines it shows; a mutation can put
        // thousands of diagnostics on one 50 KB line, so render the first ones only.
        if n < MAX_HUMAN_RENDERS {
            let len = guarded(&format!("render_human of {}", d.code.as_str()), || {
                let mut len = render_human(d, &out.sources, RenderOptions::default()).len();
                if n < 3 {
                    len = len.max(
                        render_human(d, &out.sources, RenderOptions { color: true, unicode: false, width: 20 }).len(),
                    );
                }
                len
            })?;
            // A report shows a window of its lines, never a whole 70 KB line or file.
            if len > MAX_RENDER_BYTES {
                return Err(format!(
                    "render_human of {} is {len} bytes (more than {MAX_RENDER_BYTES})",
                    d.code.as_str()
                ));
            }
        }
        guarded(&format!("render_json of {}", d.code.as_str()), || render_json(d, &out.sources).to_string())?;
    }
    // The IR is there exactly when the base (or the environment asked for) has no error:
    // errors that only other environments have say so and leave it.
    let base_error = out.diagnostics.iter().any(|d| d.is_error() && !d.message.starts_with("in environment"));
    if base_error == out.stack.is_some() {
        return Err(format!(
            "inconsistent outcome: errors of the base: {base_error}, but stack is {}",
            if out.stack.is_some() { "Some" } else { "None" }
        ));
    }
    Ok(out)
}

/// Every check on one input; `Err` describes the first failure.
fn run_checks(name: &str, text: &str, opts: &Options, extra: Extra) -> Result<(), String> {
    let out = compile_checked(name, text, opts)?;
    if extra.determinism {
        let again = compile_checked(name, text, opts)?;
        if format!("{:?}", out.diagnostics) != format!("{:?}", again.diagnostics) {
            return Err("non-deterministic diagnostics: two runs on the same input differ".into());
        }
    }
    if extra.fmt {
        if let Ok(formatted) = guarded("fmt::format", || stackc::fmt::format(text))? {
            match guarded("fmt::format (second pass)", || stackc::fmt::format(&formatted))? {
                Ok(again) if again == formatted => {}
                Ok(_) => return Err("fmt::format is not idempotent".into()),
                Err(e) => return Err(format!("fmt::format output does not parse again: {e:?}")),
            }
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
struct Extra {
    determinism: bool,
    fmt: bool,
}

/// The option sets a file is compiled with: the default, each declared environment, an
/// unknown environment, and CLI lint overrides (every lint denied, plus an unknown one).
fn option_sets(envs: &[String]) -> Vec<(String, Options)> {
    let mut sets = vec![("default".to_string(), Options::default())];
    for env in envs {
        sets.push((format!("--env {env}"), Options { env: Some(env.clone()), ..Options::default() }));
    }
    sets.push(("--env no-such-env".into(), Options { env: Some("no-such-env".into()), ..Options::default() }));
    let mut overrides: Vec<(String, Level)> =
        LINTS.iter().map(|l| (l.code.info().name.to_string(), Level::Deny)).collect();
    overrides.push(("no-such-lint".into(), Level::Warn));
    sets.push(("-D every lint -W no-such-lint".into(), Options { env: None, lints: LintConfig { overrides } }));
    sets
}

// ---------------------------------------------------------------------------------------
// Minimisation of a failing input (line-based delta debugging, then characters).
// ---------------------------------------------------------------------------------------

fn signature(err: &str) -> String {
    // Same panic site, or same kind of non-panic failure with the same code.
    match err.find("panic at ") {
        Some(i) => err[i..].split(": ").next().unwrap_or(err).to_string(),
        None => err.split(':').next().unwrap_or(err).chars().take(80).collect(),
    }
}

fn minimise(text: &str, still_fails: &dyn Fn(&str) -> bool, mut budget: usize) -> String {
    let mut units: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    for pass in 0..2 {
        if pass == 1 {
            // Second pass: characters, when the lines are few.
            if units.concat().chars().count() > 400 {
                break;
            }
            units = units.concat().chars().map(String::from).collect();
        }
        let mut chunk = units.len().div_ceil(2).max(1);
        while chunk >= 1 && budget > 0 {
            let mut i = 0;
            let mut removed_any = false;
            while i < units.len() && budget > 0 {
                let end = (i + chunk).min(units.len());
                let candidate: String = units[..i].concat() + &units[end..].concat();
                budget -= 1;
                if still_fails(&candidate) {
                    units.drain(i..end);
                    removed_any = true;
                } else {
                    i += chunk;
                }
            }
            if chunk == 1 && !removed_any {
                break;
            }
            chunk = if removed_any { chunk } else { chunk / 2 };
            if chunk == 0 {
                break;
            }
        }
    }
    units.concat()
}

// ---------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------

struct Input {
    name: String,
    text: String,
    envs: Vec<String>,
    mutations: usize,
}

fn inputs() -> Vec<Input> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scale: usize = std::env::var("STACKC_MUTATE_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let only = std::env::var("STACKC_MUTATE_ONLY").ok();
    let mut paths: Vec<PathBuf> = Vec::new();
    for dir in [manifest.join("../../examples"), manifest.join("tests/fail")] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut found: Vec<PathBuf> = entries
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.to_string_lossy().ends_with(".stack.kdl"))
            .collect();
        found.sort();
        paths.extend(found);
    }
    assert!(paths.iter().any(|p| p.to_string_lossy().contains("examples")), "no examples found");
    let fixture_count = paths.iter().filter(|p| p.to_string_lossy().contains("tests/fail")).count();
    paths
        .into_iter()
        .filter(|p| only.as_deref().is_none_or(|o| p.to_string_lossy().contains(o)))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let name = format!(
                "{}/{}",
                p.parent().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
            );
            let envs = compile(&name, &text, &Options::default()).environments;
            Input { name, text, envs, mutations: 0 }
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|mut input| {
            // A debug build checks ~300 KB/s: big examples get fewer mutations, and the
            // failing fixtures (many, small) share a budget, so that the whole test stays
            // under 20 s on two idle cores (about 30 s of CPU).
            let fixtures = fixture_count.max(1);
            input.mutations = if input.name.starts_with("examples/") {
                (600_000 / input.text.len().max(1)).clamp(20, 150)
            } else {
                (1_800 / fixtures).clamp(20, 150)
            } * scale;
            input
        })
        .collect()
}

struct Failure {
    file: String,
    index: usize,
    options: String,
    description: String,
    error: String,
    input: String,
    options_value: Options,
}

/// Far above the slowest input seen (a few seconds in a debug build on a loaded machine): an
/// input still running after this hangs, which is a failure like a panic. The test cannot
/// stop the hung thread, so it names the input and ends the process.
const HANG_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

fn watchdog(running: &Mutex<Vec<Option<(std::time::Instant, String)>>>, done: &std::sync::atomic::AtomicBool) {
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let hung = running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .flatten()
            .find(|(t0, _)| t0.elapsed() > HANG_LIMIT)
            .map(|(_, what)| what.clone());
        if let Some(what) = hung {
            eprintln!("mutate: TIMEOUT: an input ran longer than {HANG_LIMIT:?}: {what}");
            std::process::exit(1);
        }
    }
}

#[test]
fn mutated_inputs_never_panic() {
    install_panic_hook();
    let seed: u64 = std::env::var("STACKC_MUTATE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let inputs = inputs();
    let jobs: Vec<(usize, usize)> =
        inputs.iter().enumerate().flat_map(|(f, input)| (0..input.mutations).map(move |i| (f, i))).collect();
    let only_index: Option<usize> = std::env::var("STACKC_MUTATE_INDEX").ok().and_then(|s| s.parse().ok());
    let jobs: Vec<(usize, usize)> = jobs.into_iter().filter(|&(_, i)| only_index.is_none_or(|o| o == i)).collect();
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<Failure>> = Mutex::new(Vec::new());
    let slowest: Mutex<Vec<(std::time::Duration, String)>> = Mutex::new(Vec::new());
    let trace = std::env::var_os("STACKC_MUTATE_TRACE").is_some();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
    let started = std::time::Instant::now();
    // What each worker runs, and since when: a watchdog ends the run on an input that hangs.
    let running: Mutex<Vec<Option<(std::time::Instant, String)>>> = Mutex::new(vec![None; threads]);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| watchdog(&running, &done));
        let mut workers = Vec::new();
        for slot in 0..threads {
            let (running, next, jobs, inputs, failures, slowest) =
                (&running, &next, &jobs, &inputs, &failures, &slowest);
            // The CLI runs on the main thread, which has 8 MB of stack; test threads get 2 MB
            // by default. A stack overflow aborts the whole process (it cannot be caught):
            // rerun with STACKC_MUTATE_TRACE=1 to see the input.
            let worker = std::thread::Builder::new().stack_size(STACK_SIZE);
            let spawned = worker.spawn_scoped(s, move || loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(f, i)) = jobs.get(j) else { break };
                let input = &inputs[f];
                let mut rng = Rng::new(fnv1a(&input.name) ^ seed.wrapping_mul(0x9E37_79B9) ^ i as u64);
                let (text, description) = mutate(&input.text, &mut rng, 0);
                let sets = option_sets(&input.envs);
                let (opt_name, opts) = &sets[i % sets.len()];
                let big = input.text.len() > 4_000;
                let extra = Extra { determinism: i % 10 == 3, fmt: if big { i % 10 == 7 } else { i % 2 == 0 } };
                if trace {
                    eprintln!("mutate: running {} #{i} [{opt_name}]: {description}", input.name);
                }
                let t0 = std::time::Instant::now();
                let what = format!("{} #{i} [{opt_name}]: {description}", input.name);
                running.lock().unwrap_or_else(|e| e.into_inner())[slot] = Some((t0, what));
                let result = run_checks(&input.name, &text, opts, extra);
                running.lock().unwrap_or_else(|e| e.into_inner())[slot] = None;
                slowest.lock().unwrap_or_else(|e| e.into_inner()).push((
                    t0.elapsed(),
                    format!("{} #{i} [{opt_name}] {} bytes: {description}", input.name, text.len()),
                ));
                if let Err(error) = result {
                    failures.lock().unwrap_or_else(|e| e.into_inner()).push(Failure {
                        file: input.name.clone(),
                        index: i,
                        options: opt_name.clone(),
                        description,
                        error,
                        input: text,
                        options_value: opts.clone(),
                    });
                }
            });
            workers.push(spawned.expect("spawn a worker thread"));
        }
        for w in workers {
            // A panic escaping the checks is a bug of this test; report it as one.
            w.join().expect("a mutation worker panicked outside the guarded checks");
        }
        done.store(true, Ordering::Relaxed);
    });
    let elapsed = started.elapsed();
    let failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut slowest = slowest.into_inner().unwrap_or_else(|e| e.into_inner());
    slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
    for (d, what) in slowest.iter().take(8) {
        eprintln!("mutate: slow input {d:.1?}: {}", what.chars().take(300).collect::<String>());
    }
    eprintln!(
        "mutate: {} inputs from {} files in {:.1?} on {threads} threads, {} failures",
        jobs.len(),
        inputs.len(),
        elapsed,
        failures.len()
    );
    if failures.is_empty() {
        return;
    }
    // One report per distinct failure site, with a minimised reproducer.
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for f in &failures {
        *seen.entry(signature(&f.error)).or_default() += 1;
    }
    let mut report = format!("{} of {} mutated inputs failed ({} distinct):\n", failures.len(), jobs.len(), seen.len());
    let mut shown = std::collections::BTreeSet::new();
    for f in &failures {
        let sig = signature(&f.error);
        if !shown.insert(sig.clone()) {
            continue;
        }
        let opts = f.options_value.clone();
        let extra = Extra { determinism: f.error.contains("deterministic"), fmt: f.error.contains("fmt") };
        let still_fails = |t: &str| run_checks(&f.file, t, &opts, extra).is_err_and(|e| signature(&e) == sig);
        let small = minimise(&f.input, &still_fails, 400);
        let _ = write!(
            report,
            "\n=== {} ({}x) ===\nfile: {}  mutation #{}  options: {}\nmutation: {}\nerror: {}\nminimised input ({} bytes):\n-----\n{}\n-----\n",
            sig,
            seen[&sig],
            f.file,
            f.index,
            f.options,
            f.description,
            f.error,
            small.len(),
            small
        );
        if f.input.len() <= 3_000 {
            let _ = write!(report, "full mutated input:\n-----\n{}\n-----\n", f.input);
        }
    }
    panic!("{report}");
}

#[test]
fn originals_compile_without_panic_under_every_option_set() {
    install_panic_hook();
    let mut errors = Vec::new();
    for input in inputs() {
        for (name, opts) in option_sets(&input.envs) {
            if let Err(e) = run_checks(&input.name, &input.text, &opts, Extra { determinism: true, fmt: false }) {
                errors.push(format!("{} ({name}): {e}", input.name));
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn tokenizer_and_mutations_are_well_formed() {
    // Token ranges are char boundaries and in order; mutations of a non-ASCII text keep
    // producing valid UTF-8 (they are `String`s) and are deterministic per seed.
    let text = "service \"é🦀\" {\n    image #\"raw \"x\" \"# // ü\n    env A=(secret)\"b\" /* ß */\n}\n";
    let toks = tokens(text);
    let mut last = 0;
    for (_, r) in &toks {
        assert!(r.start >= last && r.end > r.start && text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
        last = r.end;
    }
    for i in 0..500 {
        let (a, da) = mutate(text, &mut Rng::new(i), 0);
        let (b, db) = mutate(text, &mut Rng::new(i), 0);
        assert_eq!((a, da), (b, db));
    }
    assert_eq!(mutate("", &mut Rng::new(1), 0).0.len(), 0);
}
