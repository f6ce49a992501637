//! Runs the stages in order; the only place that knows the order. The driver stops between
//! stages only when errors exist.

use crate::diagnostics::{suggest, Code, Diagnostic, Diagnostics};
use crate::ir::Stack;
use crate::lower::{self, merge};
use crate::source::SourceMap;
use crate::syntax::{self, ast::Document};
use crate::validate::{self, LintConfig};

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Merge this environment over the base. `None`: the base alone (and, for `check`,
    /// every environment too).
    pub env: Option<String>,
    pub lints: LintConfig,
}

/// What a run produced: its sources (for rendering), sorted diagnostics and, when there
/// were no errors, the IR.
#[derive(Debug)]
pub struct Outcome {
    pub sources: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
    pub stack: Option<Stack>,
    /// The environments the stack declares.
    pub environments: Vec<String>,
}

impl Outcome {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses and checks a stack file. With `opts.env`, the stack is that environment's merge;
/// without, the base is lowered and every environment is checked as well, so that `stackc
/// check` finds the errors of all environments in one run.
pub fn compile(name: &str, text: &str, opts: &Options) -> Outcome {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let mut diags = Diagnostics::new();
    let (doc, parse_diags) = syntax::parse(id, text);
    diags.extend(parse_diags);
    let Some(doc) = doc else {
        return Outcome { sources, diagnostics: diags.into_sorted(), stack: None, environments: Vec::new() };
    };
    let (stack, environments) = check_document(&doc, opts, &mut diags);
    let failed = diags.has_errors();
    Outcome { sources, diagnostics: diags.into_sorted(), stack: if failed { None } else { stack }, environments }
}

fn check_document(doc: &Document, opts: &Options, diags: &mut Diagnostics) -> (Option<Stack>, Vec<String>) {
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
                Diagnostic::error(Code::UnknownLint, format!("unknown lint `{name}` on the command line"))
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
                    Diagnostic::error(Code::UnknownEnvironment, format!("unknown environment `{want}`")).help(help),
                );
                return (None, env_names);
            }
        },
        None => None,
    };
    // Semantic passes run even after shape errors: they read values through checked
    // accessors and skip what does not parse, so every independent error is reported in
    // one run. The IR is only handed out when there are no errors at all.
    let main = merge::merged(nodes, selected);
    let stack = semantic(&main, opts, selected.and_then(|e| e.arg_str(0)), diags);
    if opts.env.is_none() {
        for env in &envs {
            let merged = merge::merged(nodes, Some(env));
            semantic(&merged, opts, env.arg_str(0), diags);
        }
    }
    (stack, env_names)
}

fn semantic(
    nodes: &[crate::syntax::ast::Node],
    opts: &Options,
    env: Option<&str>,
    diags: &mut Diagnostics,
) -> Option<Stack> {
    validate::semantic(nodes, &opts.lints, diags);
    let stack = lower::lower(nodes, env);
    diags.extend(lower::graph::cycles(&stack.graph));
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
/// added to the outcome's diagnostics.
pub fn build(name: &str, text: &str, opts: &Options, emit_opts: &crate::emit::EmitOptions) -> Built {
    let mut outcome = compile(name, text, opts);
    let Some(stack) = &outcome.stack else {
        return Built { outcome, files: Vec::new() };
    };
    let emitted = crate::emit::emit(stack, emit_opts);
    let mut diags = Diagnostics::new();
    diags.extend(std::mem::take(&mut outcome.diagnostics));
    diags.extend(emitted.diagnostics);
    // A target that cannot express the stack correctly produces no files at all.
    let failed = diags.has_errors();
    outcome.diagnostics = diags.into_sorted();
    if failed {
        outcome.stack = None;
        return Built { outcome, files: Vec::new() };
    }
    Built { outcome, files: emitted.files }
}
