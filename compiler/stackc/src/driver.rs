//! Runs the stages in order; the only place that knows the order. The driver stops between
//! stages only when errors exist.

use crate::diagnostics::{quote, suggest, Code, Diagnostic, Diagnostics};
use crate::ir::{Stack, TargetKind};
use crate::lower::templates::TemplateUses;
use crate::lower::{self, merge};
use crate::source::SourceMap;
use crate::syntax::{self, ast::Document};
use crate::validate::{self, lints, LintConfig};

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Merge this environment over the base. `None`: the base alone (and, for `check`,
    /// every environment too).
    pub env: Option<String>,
    pub lints: LintConfig,
}

/// What a run produced: its sources (for rendering), sorted diagnostics and, when the base
/// (or the environment asked for) had no errors, its IR. Errors that only other environments
/// produce (their messages start with "in environment") leave the IR there; the run fails
/// on them all the same.
#[derive(Debug)]
pub struct Outcome {
    pub sources: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
    pub stack: Option<Stack>,
    /// The environments the stack declares.
    pub environments: Vec<String>,
    /// Lint findings of the base (or the selected environment) that the stack's `policy`
    /// allows, with its reason.
    pub suppressed: Vec<crate::diagnostics::Suppressed>,
}

impl Outcome {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// A stack file's bytes as text or, when they are not UTF-8 (KDL 2 text is), the outcome
/// that reports it: E0100 at the first invalid byte, with its offset, line and column.
pub fn decode(name: &str, bytes: Vec<u8>) -> Result<String, Box<Outcome>> {
    let err = match String::from_utf8(bytes) {
        Ok(text) => return Ok(text),
        Err(e) => e,
    };
    let bytes = err.as_bytes();
    let at = err.utf8_error().valid_up_to();
    let invalid = bytes.utf8_chunks().filter(|c| !c.invalid().is_empty()).count();
    let later = match invalid {
        0 | 1 => String::new(),
        n => format!(" ({} more invalid sequences follow)", n - 1),
    };
    // The text is shown with U+FFFD for each invalid sequence; the first one starts at the
    // same offset as in the file, since everything before it is valid.
    let mut sources = SourceMap::new();
    let id = sources.add(name, String::from_utf8_lossy(bytes).into_owned());
    let diag = Diagnostic::error(
        Code::KdlSyntax,
        format!("the file is not UTF-8: byte 0x{:02X} at offset {at} is not valid UTF-8{later}", bytes[at]),
    )
    .at(crate::source::Span::new(id, at, char::REPLACEMENT_CHARACTER.len_utf8()), "not UTF-8")
    .help("KDL files are UTF-8; convert this one, for example with `iconv -f latin1 -t utf-8`");
    let mut diags = Diagnostics::new();
    diags.push(diag);
    Err(Box::new(Outcome {
        diagnostics: diags.into_sorted(&sources),
        sources,
        stack: None,
        environments: Vec::new(),
        suppressed: Vec::new(),
    }))
}

/// Parses and checks a stack file. With `opts.env`, the stack is that environment's merge;
/// without, the base is lowered and every environment is checked as well, so that `stackc
/// check` finds the errors of all environments in one run.
pub fn compile(name: &str, text: &str, opts: &Options) -> Outcome {
    compile_stacks(name, text.to_string(), opts, &mut |_, _| Vec::new()).0
}

/// What one environment's targets report, gathered while the environments are checked.
type EnvReports = Vec<(String, Vec<Diagnostic>)>;

/// [`compile`] of text the caller gives up (the source map keeps it: no copy), handing the
/// IR of every environment whose own checks passed (without `opts.env`) to `on_env` as soon
/// as it is lowered, and collecting what `on_env` reports: so that one environment's IR is
/// in memory at a time, and dropped before the next is lowered. Also returns where templates
/// are used (for the targets' diagnostics).
fn compile_stacks(
    name: &str,
    text: String,
    opts: &Options,
    on_env: &mut dyn FnMut(&str, Stack) -> Vec<Diagnostic>,
) -> (Outcome, EnvReports, TemplateUses) {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let mut diags = Diagnostics::new();
    let (doc, parse_diags) = syntax::parse(id, &sources.get(id).text);
    diags.extend(parse_diags);
    let Some(mut doc) = doc else {
        let outcome = Outcome {
            diagnostics: diags.into_sorted(&sources),
            sources,
            stack: None,
            environments: Vec::new(),
            suppressed: Vec::new(),
        };
        return (outcome, Vec::new(), TemplateUses::default());
    };
    lower::presets::add_used(&mut doc.nodes, &mut sources);
    let uses = TemplateUses::collect(&doc.nodes);
    let (stack, env_reports, environments) = check_document(doc, opts, &mut diags, on_env);
    let suppressed = diags.take_suppressed();
    let mut diagnostics = diags.into_sorted(&sources);
    uses.relate(&mut diagnostics);
    let outcome = Outcome { diagnostics, sources, stack, environments, suppressed };
    (outcome, env_reports, uses)
}

/// The base (or the selected environment) and, without `opts.env`, every environment, each
/// checked on its own: an error that only an overlay produces names its environments and
/// does not withhold the base's IR (the caller still fails the run on it).
fn check_document(
    doc: Document,
    opts: &Options,
    diags: &mut Diagnostics,
    on_env: &mut dyn FnMut(&str, Stack) -> Vec<Diagnostic>,
) -> (Option<Stack>, EnvReports, Vec<String>) {
    validate::shape(&doc.nodes, diags);
    // The AST as meant replaces the one read (not a second copy of it).
    let meant = validate::as_meant(doc.nodes, diags);
    let nodes = meant.as_slice();
    let envs = merge::environments(nodes);
    let env_names: Vec<String> = envs.iter().filter_map(|e| e.arg_str(0)).map(str::to_string).collect();
    for (name, level) in &opts.lints.overrides {
        let _ = level;
        if validate::lints::lint_by_name(name).is_none() {
            let names: Vec<&str> = validate::lints::LINTS.iter().map(|l| l.code.info().name).collect();
            diags.push(
                Diagnostic::error(Code::UnknownLint, format!("unknown lint {} on the command line", quote(name)))
                    .maybe_help(suggest(name, &names, "lints")),
            );
        }
    }
    let selected = match &opts.env {
        Some(want) => match envs.iter().find(|e| e.arg_str(0) == Some(want.as_str())) {
            Some(e) => Some(*e),
            None => {
                let list: Vec<&str> = env_names.iter().map(String::as_str).collect();
                let help = if list.is_empty() {
                    "this stack declares no `env` blocks".to_string()
                } else {
                    suggest(want, &list, "known environments").unwrap_or_default()
                };
                diags.push(
                    Diagnostic::error(Code::UnknownEnvironment, format!("unknown environment {}", quote(want)))
                        .help(help),
                );
                return (None, Vec::new(), env_names);
            }
        },
        None => None,
    };
    // Semantic passes run even after shape errors: they read values through checked
    // accessors and skip what does not parse, so every independent error is reported in
    // one run. The IR is only handed out when there are no errors at all.
    let file_failed = diags.has_errors();
    let mut main_diags = Diagnostics::new();
    let stack = {
        // The merged AST is dropped once lowered: it is as large as the one it came from.
        let (main, template_diags) = merge::merged(nodes, selected);
        main_diags.extend(template_diags);
        semantic(&main, opts, selected.and_then(|e| e.arg_str(0)), &mut main_diags)
    };
    for s in main_diags.take_suppressed() {
        diags.suppress(s);
    }
    let base: Vec<Diagnostic> = main_diags.iter().cloned().collect();
    let in_base: std::collections::HashSet<&Diagnostic> = base.iter().collect();
    diags.extend(base.iter().cloned());
    let mut env_reports = Vec::new();
    let mut per_env = EnvDiagnostics::default();
    if opts.env.is_none() {
        for env in &envs {
            let Some(name) = env.arg_str(0) else { continue };
            let (merged, template_diags) = merge::merged(nodes, Some(env));
            let mut env_diags = Diagnostics::new();
            env_diags.extend(template_diags);
            let env_stack = semantic(&merged, opts, Some(name), &mut env_diags);
            drop(merged);
            per_env.add(name, env_diags.iter().filter(|d| !in_base.contains(d)).cloned());
            if let Some(s) = env_stack.filter(|_| !file_failed) {
                env_reports.push((name.to_string(), on_env(name, s)));
            }
        }
    }
    diags.extend(per_env.finish());
    let stack = stack.filter(|_| !file_failed);
    (stack, env_reports, env_names)
}

/// Diagnostics that only some environments produce, collected over all of them so that one
/// problem in two environments is one diagnostic naming both.
#[derive(Default)]
struct EnvDiagnostics {
    /// In the order first seen, so that the output stays deterministic; hashed, because an
    /// environment can produce thousands.
    seen: indexmap::IndexMap<Diagnostic, Vec<String>>,
}

impl EnvDiagnostics {
    fn add(&mut self, env: &str, diags: impl IntoIterator<Item = Diagnostic>) {
        for d in diags {
            self.seen.entry(d).or_default().push(env.to_string());
        }
    }

    /// Each diagnostic with the environments it belongs to in front of its message.
    fn finish(self) -> Vec<Diagnostic> {
        self.seen
            .into_iter()
            .map(|(mut d, envs)| {
                let names: Vec<String> = envs.iter().map(|e| format!("`{e}`")).collect();
                let which = match names.split_last() {
                    Some((last, [])) => format!("environment {last}"),
                    Some((last, rest)) => format!("environments {} and {last}", rest.join(", ")),
                    None => unreachable!("a diagnostic is added with its environment"),
                };
                d.message = format!("in {which}: {}", d.message);
                d
            })
            .collect()
    }
}

fn semantic(
    nodes: &[crate::syntax::ast::Node],
    opts: &Options,
    env: Option<&str>,
    diags: &mut Diagnostics,
) -> Option<Stack> {
    validate::semantic(nodes, &opts.lints, env, diags);
    let stack = lower::lower(nodes, env);
    diags.extend(lower::graph::cycles(&stack.graph));
    diags.extend(lower::proxy::host::check(&stack));
    (!diags.has_errors()).then_some(stack)
}

/// The result of `stackc build`: the compile outcome and, when it had no errors, the files.
#[derive(Debug)]
pub struct Built {
    pub outcome: Outcome,
    /// Sorted by path; empty when there were errors.
    pub files: Vec<crate::emit::OutputFile>,
}

/// Compiles and runs the emitters. Emitter warnings (what a target cannot express) are
/// added to the outcome's diagnostics. Without `opts.env`, every environment's targets are
/// run as well (their files dropped), so that what `stackc build --env NAME` would report is
/// reported here too, under that environment's name.
pub fn build(name: &str, text: &str, opts: &Options, emit_opts: &crate::emit::EmitOptions) -> Built {
    build_owned(name, text.to_string(), opts, emit_opts)
}

/// [`build`] of text the caller gives up: the outcome's source map keeps it, so the stack
/// text is in memory once (the CLI reads a file and hands it over).
pub fn build_owned(name: &str, text: String, opts: &Options, emit_opts: &crate::emit::EmitOptions) -> Built {
    build_inner(name, text, opts, emit_opts, true)
}

/// `keep_files`: whether the caller wants the base's files; when not (`check`), each
/// target's files are dropped as soon as it has rendered them, as every environment's are.
fn build_inner(
    name: &str,
    text: String,
    opts: &Options,
    emit_opts: &crate::emit::EmitOptions,
    keep_files: bool,
) -> Built {
    // The proxy targets' templates are parsed on another core while this one reads, checks
    // and lowers the stack (they are parsed once per process; the thread is not waited for:
    // the first target to need them waits for the parse instead of starting its own).
    let proxied = ["proxy", "site"].iter().any(|w| text.contains(w));
    let wanted = emit_opts
        .targets
        .as_ref()
        .is_none_or(|t| t.iter().any(|t| matches!(t, TargetKind::Nginx | TargetKind::Caddy | TargetKind::Compose)));
    if proxied && wanted {
        let _ = std::thread::Builder::new().name("stackc-templates".into()).spawn(crate::emit::warm_templates);
    }
    // The targets' W0501 is a lint like validation's: the stack's policy and `-A`/`-W`/`-D`.
    let run = |stack: &Stack, keep: bool| {
        let e = if keep { crate::emit::emit(stack, emit_opts) } else { crate::emit::emit_checks(stack, emit_opts) };
        (e.files, lints::apply_to_target_diagnostics(e.diagnostics, &stack.policy, &stack.policy_reasons, &opts.lints))
    };
    // Each environment is run when it is lowered, and its IR dropped before the next.
    let (mut outcome, env_reports, uses) = compile_stacks(name, text, opts, &mut |_, stack| run(&stack, false).1);
    let mut diags = Diagnostics::new();
    diags.extend(std::mem::take(&mut outcome.diagnostics));
    let (files, base) = outcome.stack.as_ref().map(|s| run(s, keep_files)).unwrap_or_default();
    let in_base: std::collections::HashSet<&Diagnostic> = base.iter().collect();
    let mut per_env = EnvDiagnostics::default();
    for (env, found) in env_reports {
        per_env.add(&env, found.into_iter().filter(|d| !in_base.contains(d)));
    }
    // Any error fails the run; a target that cannot express the stack correctly produces no
    // files at all. An error of an environment alone leaves the base's files to the caller.
    let base_failed = outcome.stack.is_none() || base.iter().any(Diagnostic::is_error);
    diags.extend(base);
    diags.extend(per_env.finish());
    outcome.diagnostics = diags.into_sorted(&outcome.sources);
    uses.relate(&mut outcome.diagnostics);
    if base_failed {
        outcome.stack = None;
        return Built { outcome, files: Vec::new() };
    }
    let files = if keep_files { files } else { Vec::new() };
    Built { outcome, files }
}

/// `stackc check`: everything [`build`] reports for the same input and options (the targets'
/// diagnostics included), without the files.
pub fn check(name: &str, text: &str, opts: &Options) -> Outcome {
    check_owned(name, text.to_string(), opts)
}

/// [`check`] of text the caller gives up (see [`build_owned`]).
pub fn check_owned(name: &str, text: String, opts: &Options) -> Outcome {
    build_inner(name, text, opts, &crate::emit::EmitOptions::default(), false).outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emit::{emit, emit_checks, EmitOptions};

    /// An example with environments, whose runs go through `emit_checks` and the `on_env`
    /// callback: `check` must report what `build` reports, and the digests stand in for the
    /// files without changing which files there are or what the targets report.
    #[test]
    fn check_reports_what_build_reports_without_the_files() {
        let text = include_str!("../../../examples/cashstage.stack.kdl");
        let opts = Options::default();
        let built = build("cashstage.stack.kdl", text, &opts, &EmitOptions::default());
        assert!(!built.files.is_empty(), "the example builds");
        let checked = check_owned("cashstage.stack.kdl", text.to_string(), &opts);
        assert_eq!(checked.diagnostics, built.outcome.diagnostics);
        assert!(!checked.environments.is_empty(), "the example has environments");

        let stack = built.outcome.stack.as_ref().expect("the base's IR");
        let (full, digests) = (emit(stack, &EmitOptions::default()), emit_checks(stack, &EmitOptions::default()));
        let paths = |files: &[crate::emit::OutputFile]| files.iter().map(|f| f.path.clone()).collect::<Vec<_>>();
        assert_eq!(paths(&digests.files), paths(&full.files));
        assert_eq!(digests.diagnostics, full.diagnostics);
        assert!(digests
            .files
            .iter()
            .all(|f| f.contents.len() == 32 && f.contents.bytes().all(|b| b.is_ascii_hexdigit())));
        let (a, b) = (&full.files[0], &full.files[1]);
        assert_ne!(a.contents, b.contents);
        assert_ne!(digests.files[0].contents, digests.files[1].contents, "different files, different digests");
    }
}
