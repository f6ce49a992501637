//! Runs the stages in order; the only place that knows the order. The driver stops between
//! stages only when errors exist.

use crate::diagnostics::{quote, suggest, Code, Diagnostic, Diagnostics};
use crate::ir::Stack;
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
    compile_stacks(name, text, opts).0
}

/// [`compile`], and also the IR of every environment whose own checks passed (without
/// `opts.env`; with it, the one stack is the outcome's), and where templates are used (for
/// the targets' diagnostics).
fn compile_stacks(name: &str, text: &str, opts: &Options) -> (Outcome, Vec<(String, Stack)>, TemplateUses) {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let mut diags = Diagnostics::new();
    let (doc, parse_diags) = syntax::parse(id, text);
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
    let (stack, env_stacks, environments) = check_document(&doc, opts, &mut diags);
    let suppressed = diags.take_suppressed();
    let uses = TemplateUses::collect(&doc.nodes);
    let mut diagnostics = diags.into_sorted(&sources);
    uses.relate(&mut diagnostics);
    let outcome = Outcome { diagnostics, sources, stack, environments, suppressed };
    (outcome, env_stacks, uses)
}

/// The base (or the selected environment) and, without `opts.env`, every environment, each
/// checked on its own: an error that only an overlay produces names its environments and
/// does not withhold the base's IR (the caller still fails the run on it).
fn check_document(
    doc: &Document,
    opts: &Options,
    diags: &mut Diagnostics,
) -> (Option<Stack>, Vec<(String, Stack)>, Vec<String>) {
    validate::shape(&doc.nodes, diags);
    let meant = validate::as_meant(&doc.nodes, diags);
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
    let (main, template_diags) = merge::merged(nodes, selected);
    let mut main_diags = Diagnostics::new();
    main_diags.extend(template_diags);
    let stack = semantic(&main, opts, selected.and_then(|e| e.arg_str(0)), &mut main_diags);
    for s in main_diags.take_suppressed() {
        diags.suppress(s);
    }
    let base: Vec<Diagnostic> = main_diags.iter().cloned().collect();
    let in_base: std::collections::HashSet<&Diagnostic> = base.iter().collect();
    diags.extend(base.iter().cloned());
    let mut env_stacks = Vec::new();
    let mut per_env = EnvDiagnostics::default();
    if opts.env.is_none() {
        for env in &envs {
            let Some(name) = env.arg_str(0) else { continue };
            let (merged, template_diags) = merge::merged(nodes, Some(env));
            let mut env_diags = Diagnostics::new();
            env_diags.extend(template_diags);
            let env_stack = semantic(&merged, opts, Some(name), &mut env_diags);
            per_env.add(name, env_diags.iter().filter(|d| !in_base.contains(d)).cloned());
            if let Some(s) = env_stack.filter(|_| !file_failed) {
                env_stacks.push((name.to_string(), s));
            }
        }
    }
    diags.extend(per_env.finish());
    let stack = stack.filter(|_| !file_failed);
    (stack, env_stacks, env_names)
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
    let (mut outcome, env_stacks, uses) = compile_stacks(name, text, opts);
    let mut diags = Diagnostics::new();
    diags.extend(std::mem::take(&mut outcome.diagnostics));
    // The targets' W0501 is a lint like validation's: the stack's policy and `-A`/`-W`/`-D`.
    let run = |stack: &Stack| {
        let e = crate::emit::emit(stack, emit_opts);
        (e.files, lints::apply_to_target_diagnostics(e.diagnostics, &stack.policy, &stack.policy_reasons, &opts.lints))
    };
    let (files, base) = outcome.stack.as_ref().map(run).unwrap_or_default();
    let in_base: std::collections::HashSet<&Diagnostic> = base.iter().collect();
    let mut per_env = EnvDiagnostics::default();
    for (env, stack) in &env_stacks {
        let found = run(stack).1;
        per_env.add(env, found.into_iter().filter(|d| !in_base.contains(d)));
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
    Built { outcome, files }
}

/// `stackc check`: everything [`build`] reports for the same input and options (the targets'
/// diagnostics included), without the files.
pub fn check(name: &str, text: &str, opts: &Options) -> Outcome {
    build(name, text, opts, &crate::emit::EmitOptions::default()).outcome
}
