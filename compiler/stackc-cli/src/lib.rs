//! The `stackc` command: all I/O of the compiler (reading stack files, rendering
//! diagnostics, writing files, exit codes). Exit codes: 0 ok, 1 diagnostics with errors
//! (or `--check` drift), 2 usage or I/O errors.

mod build;
mod diff;
mod init;
mod inputs;
mod lsp;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use stackc::diagnostics::{self, Code, RenderOptions};
use stackc::validate::{Level, LintConfig};
use stackc::{compile, Options, Outcome};

#[derive(Parser)]
#[command(
    name = "stackc",
    version,
    about = "Compile a .stack.kdl deployment description into compose, nginx, Caddy, UFW, Prometheus and Kubernetes files"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum DiagFormat {
    Human,
    Json,
    /// One SARIF 2.1.0 log on stdout, for code scanning
    Sarif,
    /// GitHub Actions workflow annotations on stdout
    Github,
}

/// The SARIF log of the run: every file's diagnostics go into one run, printed at the end
/// ([`finish_report`]).
static SARIF: std::sync::Mutex<Option<diagnostics::Sarif>> = std::sync::Mutex::new(None);

/// Prints what a format keeps until the end of the run (the SARIF log).
pub(crate) fn finish_report(format: DiagFormat) {
    if format == DiagFormat::Sarif {
        let log = SARIF.lock().map(|mut s| s.take().unwrap_or_default()).unwrap_or_default();
        let doc = log.finish(env!("CARGO_PKG_VERSION"));
        let _ = writeln!(std::io::stdout().lock(), "{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

/// A target of `stackc build --target`.
#[derive(Clone, Copy, ValueEnum)]
enum TargetArg {
    Compose,
    Nginx,
    Caddy,
    Ufw,
    Prometheus,
    K8s,
}

impl TargetArg {
    fn kind(self) -> stackc::ir::TargetKind {
        use stackc::ir::TargetKind;
        match self {
            TargetArg::Compose => TargetKind::Compose,
            TargetArg::Nginx => TargetKind::Nginx,
            TargetArg::Caddy => TargetKind::Caddy,
            TargetArg::Ufw => TargetKind::Ufw,
            TargetArg::Prometheus => TargetKind::Prometheus,
            TargetArg::K8s => TargetKind::K8s,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(clap::Args)]
struct LintArgs {
    /// Make a lint an error (repeatable)
    #[arg(short = 'D', long = "deny", value_name = "LINT")]
    deny: Vec<String>,
    /// Make a lint a warning (repeatable)
    #[arg(short = 'W', long = "warn", value_name = "LINT")]
    warn: Vec<String>,
    /// Turn a lint off (repeatable)
    #[arg(short = 'A', long = "allow", value_name = "LINT")]
    allow: Vec<String>,
}

impl LintArgs {
    fn config(&self) -> LintConfig {
        let mut overrides = Vec::new();
        for (list, level) in [(&self.allow, Level::Allow), (&self.warn, Level::Warn), (&self.deny, Level::Deny)] {
            overrides.extend(list.iter().map(|n| (n.clone(), level)));
        }
        LintConfig { overrides }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Check stack files and report every problem found
    Check {
        /// Stack files, directories (every *.stack.kdl below) or `-` for standard input
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The file name standard input stands for, in diagnostics and for its relative paths
        #[arg(long, value_name = "NAME", default_value = "<stdin>")]
        stdin_filename: String,
        /// Check only this environment merged over the base (default: the base and every environment)
        #[arg(long)]
        env: Option<String>,
        /// How to print diagnostics: human-readable (stderr), JSON Lines, SARIF or GitHub annotations (stdout)
        #[arg(long, value_enum, default_value = "human")]
        format: DiagFormat,
        #[arg(long, value_enum, default_value = "auto")]
        color: Color,
        #[command(flatten)]
        lints: LintArgs,
    },
    /// Compile stack files and write their target files into output directories
    #[command(long_about = BUILD_ABOUT)]
    Build {
        /// Stack files; each is built into its own output directory
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Output directory, for one FILE [default: <dir of FILE>/build/<stem>, or <dir of FILE>/build/<stem>.<ENV> with --env]
        #[arg(short = 'o', long = "out-dir", value_name = "DIR")]
        out_dir: Option<PathBuf>,
        /// Build this environment merged over the base (default: the base alone)
        #[arg(long)]
        env: Option<String>,
        /// Build only these targets (repeatable or comma-separated; default: the stack's `targets`)
        #[arg(long = "target", value_enum, value_name = "NAME", value_delimiter = ',')]
        targets: Vec<TargetArg>,
        /// Write nothing; exit 1 and print a diff if the files on disk differ from what would be generated
        #[arg(long)]
        check: bool,
        /// Overwrite existing files in the output directory that the manifest there does not list (never the stack file itself)
        #[arg(long, conflicts_with = "check")]
        force: bool,
        /// Use DIR/<target>/<name>.hbs in place of the embedded templates (e.g. DIR/caddy/Caddyfile.hbs)
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
        /// How to print diagnostics: human-readable (stderr), JSON Lines, SARIF or GitHub annotations (stdout)
        #[arg(long, value_enum, default_value = "human")]
        format: DiagFormat,
        #[arg(long, value_enum, default_value = "auto")]
        color: Color,
        #[command(flatten)]
        lints: LintArgs,
    },
    /// Explain a diagnostic code (e.g. `stackc explain E0203`)
    Explain { code: String },
    /// Print the stack's dependency graph
    Graph {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "dot")]
        format: GraphFormat,
        #[arg(long)]
        env: Option<String>,
    },
    /// Every port of the stack: public, host-only or internal, the routes that reach it and the firewall rules that cover it
    Exposure {
        file: PathBuf,
        #[arg(long)]
        env: Option<String>,
    },
    /// Normalise indentation and spacing of stack files, keeping every comment
    Fmt {
        /// Stack files, directories (every *.stack.kdl below) or `-` (standard input, formatted to standard output)
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write nothing; exit 1 if a file is not formatted
        #[arg(long)]
        check: bool,
        /// Write nothing; print what formatting would change as a unified diff and exit 1 if it changes anything
        #[arg(long)]
        diff: bool,
        /// The file name standard input stands for, in messages
        #[arg(long, value_name = "NAME", default_value = "<stdin>")]
        stdin_filename: String,
    },
    /// Write a commented starter stack (a web application, PostgreSQL, nginx with HTTPS, a firewall, monitoring) into DIR
    Init {
        /// The directory to write NAME.stack.kdl into (created if missing)
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The stack's name [default: the directory's name, made a valid name, or `app`]
        #[arg(long)]
        name: Option<String>,
    },
    /// What differs between the files of two environments (one --env: the base against it), per target, writing nothing
    Diff {
        file: PathBuf,
        /// An environment: once (the base against it) or twice (the first against the second)
        #[arg(long, required = true, value_name = "NAME")]
        env: Vec<String>,
        /// Compare only these targets (repeatable or comma-separated; default: the stack's `targets`)
        #[arg(long = "target", value_enum, value_name = "NAME", value_delimiter = ',')]
        targets: Vec<TargetArg>,
        #[arg(long, value_enum, default_value = "auto")]
        color: Color,
        #[command(flatten)]
        lints: LintArgs,
    },
    /// Print a shell completion script
    Completions { shell: clap_complete::Shell },
    /// Print the stack with its templates expanded, as KDL that builds to the same files
    Show {
        file: PathBuf,
        /// Show this environment merged over the base (default: the base; `env` blocks are left out)
        #[arg(long)]
        env: Option<String>,
        /// Show only this service
        #[arg(long, value_name = "NAME")]
        service: Option<String>,
    },
    /// A language server over stdio: diagnostics as you type (as `check`) and formatting (as `fmt`)
    Lsp,
    /// Write a stack file from a docker compose file and its overlay files (as `docker compose -f a -f b`)
    #[command(long_about = IMPORT_ABOUT)]
    Import {
        /// The compose file, then overlay files merged over it in order (each becomes an `env`)
        #[arg(required = true, value_name = "COMPOSE_FILE")]
        files: Vec<PathBuf>,
        /// Write the stack file here (default: standard output)
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Overwrite FILE if it exists
        #[arg(long)]
        force: bool,
    },
}

const IMPORT_ABOUT: &str = "\
Write a stack file from a docker compose file and its overlay files.

Services, images and builds, commands, environment (variables whose names look secret become \
`secret` declarations read from the deploy-time environment; their values are never copied), \
ports, volumes and binds, networks, dependencies with conditions, health checks, resources, \
restart policies, labels and logging are imported; `${VAR:-default}` becomes a `param`. \
Overlay files become `env` blocks holding what they change. Every key the stack language \
cannot say is printed as FILE:LINE:COLUMN with its key, and kept as a `// not imported:` \
comment in the output; `// guess:` comments say what was guessed. See docs/import.md.

Exit codes: 0 ok (notes are printed on stderr), 1 a file is not a compose file (invalid YAML), \
2 usage or I/O errors.";

const BUILD_ABOUT: &str = "\
Compile stack files and write their target files into output directories.

Each FILE is built on its own. The default output directory is <dir of FILE>/build/<stem>, where <stem> is the file name \
without `.stack.kdl` (or without its last extension); with --env NAME it is \
<dir of FILE>/build/<stem>.<NAME>. For example `stackc build deploy/shop.stack.kdl --env prod` \
writes into deploy/build/shop.prod/. -o DIR takes a single FILE.

Files are written only when their content changed, as one switch (temp files, then renames \
under a journal that the next run finishes or rolls back after a crash), by one stackc at a \
time per directory (a lock; STACKC_LOCK_TIMEOUT seconds, default 300). \
stackc-manifest.json lists every generated file with its sha256; stackc deletes only files \
that its previous manifest listed and that are no longer generated, never anything else, and \
overwrites only those (or, with --force, any file but the stack file itself). \
With errors in the stack, nothing is written. --check writes nothing and exits 1 with a \
unified diff when the files on disk differ (for CI and pre-commit).

Exit codes: 0 ok, 1 errors in the stack or (--check) files out of date, 2 usage or I/O \
errors, or a refused write (a symlink inside the output directory, an unsafe path, a file \
stackc did not generate).";

/// The stack of the thread that does the work. The parser's input limits
/// (`stackc::syntax`, E0114) already keep it on a stack of its own; this is a margin for
/// everything else that recurses over the document.
const WORK_STACK: usize = 256 << 20;

/// The `stackc` command: parses the command line and runs it. `src/main.rs` (the `stackc`
/// binary) and the repository root's `stackc-hook` package (pre-commit's `language: rust`)
/// both call it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match std::thread::Builder::new().name("stackc".into()).stack_size(WORK_STACK).spawn(move || run(cli)) {
        Ok(worker) => worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        Err(e) => {
            eprintln!("error: cannot start a thread with a {} MiB stack: {e}", WORK_STACK >> 20);
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check { files, stdin_filename, env, format, color, lints } => {
            check(&files, &stdin_filename, env, format, color, &lints)
        }
        Command::Build { files, out_dir, env, targets, check, force, templates, format, color, lints } => {
            build::run(build::BuildArgs {
                files,
                out_dir,
                env,
                targets: targets.into_iter().map(TargetArg::kind).collect(),
                check,
                force,
                templates,
                format,
                color,
                lints,
            })
        }
        Command::Explain { code } => explain(&code),
        Command::Graph { file, format, env } => graph(&file, format, env),
        Command::Exposure { file, env } => exposure(&file, env),
        Command::Fmt { files, check, diff, stdin_filename } => fmt(&files, check, diff, &stdin_filename),
        Command::Init { dir, name } => init::run(&dir, name.as_deref()),
        Command::Diff { file, env, targets, color, lints } => diff::run(diff::DiffArgs {
            file: &file,
            envs: &env,
            targets: targets.into_iter().map(TargetArg::kind).collect(),
            color,
            lints: &lints,
        }),
        Command::Show { file, env, service } => show(&file, env, service.as_deref()),
        Command::Lsp => lsp::run(),
        Command::Import { files, output, force } => import(&files, output.as_deref(), force),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "stackc", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
    }
}

/// Why a stack file did not reach the compiler.
pub(crate) enum ReadError {
    /// The file could not be read (exit 2).
    Io(std::io::Error),
    /// Its bytes are not UTF-8: an error in the file, reported as its diagnostic (exit 1).
    NotUtf8(Box<Outcome>),
}

/// Reads a stack file for `check` and `build`.
pub(crate) fn read_source(path: &Path) -> Result<String, ReadError> {
    let bytes = std::fs::read(path).map_err(ReadError::Io)?;
    stackc::decode(&path.display().to_string(), bytes).map_err(ReadError::NotUtf8)
}

impl ReadError {
    /// Prints the error (in `format`, with the summary line of a file with errors) and
    /// returns the exit code.
    pub(crate) fn report(&self, path: &Path, format: DiagFormat, color: Color) -> u8 {
        match self {
            ReadError::Io(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                2
            }
            ReadError::NotUtf8(out) => {
                print_diagnostics(out, format, render_options(color));
                if format == DiagFormat::Human {
                    print_summary(out.diagnostics.len(), 0, 1);
                }
                1
            }
        }
    }
}

fn render_options(color: Color) -> RenderOptions {
    let tty = std::io::stderr().is_terminal();
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let color = match color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => tty && !no_color,
    };
    let width = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(100);
    RenderOptions { color, unicode: true, width }
}

fn print_diagnostics(out: &Outcome, format: DiagFormat, opts: RenderOptions) {
    // A diagnostic without a place in the file (an unknown `--env`, a lint named on the
    // command line) still belongs to the file being compiled: JSON consumers group by `file`.
    // `compile` adds the stack file first, before it can report anything.
    let stack_file = (!out.diagnostics.is_empty()).then(|| out.sources.get(stackc::source::SourceId(0)).name.clone());
    // Both formats stop after `MAX_SHOWN` diagnostics of a file and count the rest.
    let file = out.sources.get(stackc::source::SourceId(0)).name.clone();
    match format {
        DiagFormat::Human => {
            let _ = write!(
                std::io::stderr().lock(),
                "{}{}",
                diagnostics::render_human_report(&out.diagnostics, &out.sources, opts),
                diagnostics::render_suppressed_human(&out.suppressed, &out.sources)
            );
        }
        DiagFormat::Sarif => {
            if let Ok(mut log) = SARIF.lock() {
                log.get_or_insert_with(diagnostics::Sarif::new).add(
                    &out.diagnostics,
                    &out.suppressed,
                    &out.sources,
                    &file,
                );
            }
        }
        DiagFormat::Github => {
            let _ = write!(
                std::io::stdout().lock(),
                "{}",
                diagnostics::render_github(&out.diagnostics, &out.sources, &file)
            );
        }
        DiagFormat::Json => {
            let mut so = std::io::stdout().lock();
            let suppressed = diagnostics::render_suppressed_json(&out.suppressed, &out.sources);
            for mut json in
                diagnostics::render_json_report(&out.diagnostics, &out.sources).into_iter().chain(suppressed)
            {
                if let (Some(obj), Some(name)) = (json.as_object_mut(), &stack_file) {
                    if obj.get("file").is_none_or(serde_json::Value::is_null) {
                        obj.insert("file".into(), name.clone().into());
                    }
                }
                let _ = writeln!(so, "{json}");
            }
        }
    }
}

fn check(
    files: &[PathBuf],
    stdin_name: &str,
    env: Option<String>,
    format: DiagFormat,
    color: Color,
    lints: &LintArgs,
) -> ExitCode {
    let opts = Options { env, lints: lints.config() };
    let render = render_options(color);
    let inputs = match inputs::expand(files) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut errors, mut warnings, mut io_failed) = (0, 0, false);
    for input in &inputs {
        let name = input.display(stdin_name);
        let text = match input.read(stdin_name) {
            Ok(t) => t,
            Err(e @ ReadError::Io(_)) => {
                e.report(Path::new(&name), format, color);
                io_failed = true;
                continue;
            }
            Err(ReadError::NotUtf8(out)) => {
                print_diagnostics(&out, format, render);
                errors += out.diagnostics.len();
                continue;
            }
        };
        let out = stackc::driver::check_owned(&name, text, &opts);
        print_diagnostics(&out, format, render);
        let e = out.diagnostics.iter().filter(|d| d.is_error()).count();
        errors += e;
        warnings += out.diagnostics.len() - e;
    }
    finish_report(format);
    if format == DiagFormat::Human {
        if errors > 0 {
            print_summary(errors, warnings, inputs.len());
        } else if io_failed {
            // The I/O error was printed; "ok" would contradict it and the exit code.
        } else {
            let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
            eprintln!("ok: {} checked, {}", plural(inputs.len(), "file"), plural(warnings, "warning"));
        }
    }
    if io_failed {
        ExitCode::from(2)
    } else if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The last line of a run with errors (human format).
fn print_summary(errors: usize, warnings: usize, files: usize) {
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    eprintln!("error: {} and {} in {}", plural(errors, "error"), plural(warnings, "warning"), plural(files, "file"));
}

fn import(files: &[PathBuf], output: Option<&Path>, force: bool) -> ExitCode {
    let mut texts = Vec::new();
    for path in files {
        match read_source(path) {
            Ok(t) => texts.push((path.display().to_string(), t)),
            Err(e) => return ExitCode::from(e.report(path, DiagFormat::Human, Color::Auto)),
        }
    }
    let inputs: Vec<stackc::import::Input> =
        texts.iter().map(|(name, text)| stackc::import::Input { name, text }).collect();
    // `extends: {file: …}`: the files beside the compose file that it names, as compose reads
    // them; one that cannot be read stays reported by the import.
    let dir = files[0].parent().unwrap_or(Path::new(""));
    let others: Vec<(String, String)> = stackc::import::extends_files(&texts[0].1)
        .into_iter()
        .filter_map(|f| std::fs::read_to_string(dir.join(&f)).ok().map(|t| (f, t)))
        .collect();
    let others: Vec<stackc::import::Input> =
        others.iter().map(|(name, text)| stackc::import::Input { name, text }).collect();
    // Compose names the project after the file's directory; so does the stack.
    let fallback = std::path::absolute(&files[0])
        .ok()
        .and_then(|p| p.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "stack".into());
    let imported = match stackc::import::import_with(&inputs, &others, &fallback) {
        Ok(i) => i,
        Err(note) => {
            eprintln!("error: {note}");
            return ExitCode::from(1);
        }
    };
    for note in &imported.notes {
        eprintln!("warning: {note}");
    }
    match output {
        None => {
            print!("{}", imported.text);
        }
        Some(path) => {
            if path.exists() && !force {
                eprintln!("error: {} exists; pass --force to overwrite it", path.display());
                return ExitCode::from(2);
            }
            if let Err(e) = build::writer::write_atomic(path, imported.text.as_bytes()) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    if !imported.notes.is_empty() {
        eprintln!("{} key(s) not imported or guessed: see the comments in the output", imported.notes.len());
    }
    ExitCode::SUCCESS
}

fn explain(code: &str) -> ExitCode {
    match Code::from_str_code(code) {
        Some(c) => {
            let info = c.info();
            print!("{}", info.explanation);
            ExitCode::SUCCESS
        }
        None => {
            let codes: Vec<&str> = Code::ALL.iter().map(|c| c.info().code).collect();
            let names: Vec<&str> = Code::ALL.iter().map(|c| c.info().name).collect();
            let hint = diagnostics::did_you_mean(&code.to_ascii_uppercase(), codes.iter().copied())
                .or_else(|| diagnostics::did_you_mean(code, names.iter().copied()));
            eprintln!("error: unknown diagnostic code `{code}`");
            match hint {
                Some(h) => eprintln!("help: did you mean `{h}`?"),
                None => {
                    // The families the catalogue really has (E01xx…), never a range typed by hand.
                    let mut families: Vec<String> = codes.iter().map(|c| format!("{}xx", &c[..3])).collect();
                    families.sort();
                    families.dedup();
                    eprintln!(
                        "help: the codes are {} (or their names); `docs/diagnostics.md` lists them all",
                        families.join(", ")
                    );
                }
            }
            ExitCode::from(2)
        }
    }
}

/// The IR of a stack for the commands that print a view of it (`graph`, `exposure`), its
/// diagnostics printed on stderr; the exit code when there is none (I/O, errors).
fn stack_for_view(file: &Path, env: Option<String>) -> Result<stackc::ir::Stack, ExitCode> {
    let text = read_source(file).map_err(|e| ExitCode::from(e.report(file, DiagFormat::Human, Color::Auto)))?;
    let out = compile(&file.display().to_string(), &text, &Options { env, ..Options::default() });
    print_diagnostics(&out, DiagFormat::Human, render_options(Color::Auto));
    out.stack.ok_or(ExitCode::from(1))
}

/// `stackc exposure`: the table on stdout; exit 1 when the stack has errors (no table).
fn exposure(file: &Path, env: Option<String>) -> ExitCode {
    match stack_for_view(file, env) {
        Ok(stack) => {
            print!("{}", stackc::exposure::table(&stack));
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn graph(file: &Path, format: GraphFormat, env: Option<String>) -> ExitCode {
    let stack = match stack_for_view(file, env) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let rendered = match format {
        GraphFormat::Dot => stackc::lower::graph::to_dot(&stack.graph),
        GraphFormat::Mermaid => stackc::lower::graph::to_mermaid(&stack.graph),
    };
    print!("{rendered}");
    ExitCode::SUCCESS
}

fn show(file: &Path, env: Option<String>, service: Option<&str>) -> ExitCode {
    let text = match read_source(file) {
        Ok(t) => t,
        Err(e) => return ExitCode::from(e.report(file, DiagFormat::Human, Color::Auto)),
    };
    match stackc::show::show(&file.display().to_string(), &text, &Options { env, ..Options::default() }, service) {
        Ok(shown) => {
            print!("{shown}");
            ExitCode::SUCCESS
        }
        Err(stackc::show::ShowError::Invalid(out)) => {
            print_diagnostics(&out, DiagFormat::Human, render_options(Color::Auto));
            ExitCode::from(1)
        }
        Err(stackc::show::ShowError::UnknownService { name, services }) => {
            let known: Vec<&str> = services.iter().map(String::as_str).collect();
            let help = stackc::diagnostics::suggest(&name, &known, "services").unwrap_or_default();
            eprintln!("error: {}: no service `{name}`; {help}", file.display());
            ExitCode::from(2)
        }
    }
}

fn fmt(files: &[PathBuf], check: bool, diff: bool, stdin_name: &str) -> ExitCode {
    let inputs = match inputs::expand(files) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut status = ExitCode::SUCCESS;
    for input in &inputs {
        let name = input.display(stdin_name);
        // A file that is not UTF-8 gets the E0100 that `check` gives it, not an I/O error.
        let text = match input.read(stdin_name) {
            Ok(t) => t,
            Err(e) => {
                match e.report(Path::new(&name), DiagFormat::Human, Color::Auto) {
                    1 => status = ExitCode::from(1),
                    code => return ExitCode::from(code),
                }
                continue;
            }
        };
        let formatted = match stackc::fmt::format(&text) {
            Ok(f) => f,
            Err(e) => {
                let file = stackc::source::SourceFile::new(name.clone(), text.clone());
                let (line, col) = file.line_col(e.offset);
                eprintln!("error: {name}:{line}:{col}: {}", e.message);
                status = ExitCode::from(1);
                continue;
            }
        };
        // Standard input is a filter: its text, formatted, goes to standard output.
        if *input == inputs::Input::Stdin && !check && !diff {
            let _ = write!(std::io::stdout().lock(), "{formatted}");
            continue;
        }
        if formatted == text {
            continue;
        }
        if diff {
            let patch = similar::TextDiff::from_lines(&text, &formatted);
            let (a, b) = (format!("a/{name}"), format!("b/{name} (formatted)"));
            let _ = write!(std::io::stdout().lock(), "{}", patch.unified_diff().context_radius(3).header(&a, &b));
            status = ExitCode::from(1);
        } else if check {
            let fix = match input {
                inputs::Input::Stdin => "format it with `stackc fmt -`".to_string(),
                inputs::Input::File(_) => format!("run `stackc fmt {name}`"),
            };
            eprintln!("{name}: not formatted ({fix})");
            status = ExitCode::from(1);
        } else if let inputs::Input::File(path) = input {
            if let Err(e) = build::writer::write_atomic(path, formatted.as_bytes()) {
                eprintln!("error: cannot write {name}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    status
}
