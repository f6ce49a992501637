//! `stackc build`: compiles a stack file, then writes its target files into an output
//! directory, or (`--check`) compares them with the files already there.
//!
//! Writing (see `docs/build.md`): every path is checked again with
//! `stackc::emit::is_safe_relative_path`, and no existing component between the output
//! directory and a file may be a symlink. Changed files are first written to temp files next
//! to their targets, then renamed over them; unchanged files are left alone (mtime kept).
//! Files that the previous manifest listed and that are no longer generated are deleted;
//! nothing else in the directory is touched. The manifest is renamed into place last.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use sha2::{Digest, Sha256};
use stackc::emit::{is_safe_relative_path, EmitOptions, IMPLEMENTED};
use stackc::ir::TargetKind;
use stackc::Options;

use crate::{Color, DiagFormat, LintArgs};

/// The manifest's file name, in the output directory.
pub const MANIFEST: &str = "stackc-manifest.json";

pub struct BuildArgs {
    pub files: Vec<PathBuf>,
    pub out_dir: Option<PathBuf>,
    pub env: Option<String>,
    pub targets: Vec<TargetKind>,
    pub check: bool,
    /// `--templates DIR`: template overrides (`DIR/<target>/<name>.hbs`).
    pub templates: Option<PathBuf>,
    pub format: DiagFormat,
    pub color: Color,
    pub lints: LintArgs,
}

/// Why nothing (or not everything) could be written: always exit code 2.
#[derive(Debug)]
enum Refusal {
    /// A generated path that is not a safe relative path.
    UnsafePath(String),
    /// Two generated files with the same path, or a file that is also another one's directory.
    Conflict(String, String),
    /// An existing symlink between the output directory and a file.
    Symlink(PathBuf),
    /// An existing non-directory where a directory is needed.
    NotADirectory(PathBuf),
    /// An existing directory where a file is to be written.
    IsADirectory(PathBuf),
    Io(PathBuf, io::Error),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::UnsafePath(p) => write!(
                f,
                "refusing to write `{p}`: generated paths must be relative, `/`-separated and stay inside the output directory"
            ),
            Refusal::Conflict(a, b) => write!(f, "refusing to write: generated files `{a}` and `{b}` conflict"),
            Refusal::Symlink(p) => write!(
                f,
                "refusing to use {}: it is a symlink, and stackc never follows symlinks inside the output directory (remove it, or choose another output directory with -o)",
                p.display()
            ),
            Refusal::NotADirectory(p) => write!(f, "cannot write below {}: it exists and is not a directory", p.display()),
            Refusal::IsADirectory(p) => write!(f, "cannot write {}: it is a directory", p.display()),
            Refusal::Io(p, e) => write!(f, "cannot write {}: {e}", p.display()),
        }
    }
}

/// A file to be generated: a target's output or the manifest.
struct Planned {
    path: String,
    contents: Vec<u8>,
    executable: bool,
}

/// What is on disk at a generated path.
struct OnDisk {
    contents: Vec<u8>,
    mode: Option<u32>,
}

/// The previous manifest's list of files, when it can be trusted for deletion.
enum Previous {
    Absent,
    Untrusted(String),
    Listed(Vec<String>),
}

/// Builds every file in turn; the exit code is the worst of them (2 over 1 over 0).
pub fn run(args: BuildArgs) -> ExitCode {
    if args.out_dir.is_some() && args.files.len() > 1 {
        eprintln!("error: -o/--out-dir takes one stack file; without it each file gets its own build/<stem> directory");
        return ExitCode::from(2);
    }
    let templates = match args.templates.as_deref().map(read_templates).transpose() {
        Ok(t) => t.unwrap_or_default(),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let worst = args.files.iter().map(|file| build_one(&args, &templates, file)).max().unwrap_or(0);
    ExitCode::from(worst)
}

/// `--templates DIR`: every `*.hbs` file below DIR, by its path without `.hbs`
/// (`caddy/Caddyfile.hbs` is `caddy/Caddyfile`). A file that names no template is an error,
/// so that a misspelt override is never silently ignored; other files are skipped.
pub fn read_templates(dir: &Path) -> Result<BTreeMap<String, String>, String> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), String> {
        let entries =
            fs::read_dir(dir).map_err(|e| format!("cannot read the templates directory {}: {e}", dir.display()))?;
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if path.is_dir() {
                walk(&path, &format!("{prefix}{name}/"), out)?;
            } else if let Some(stem) = name.strip_suffix(".hbs") {
                out.push((format!("{prefix}{stem}"), path));
            }
        }
        Ok(())
    }
    let mut found = Vec::new();
    walk(dir, "", &mut found)?;
    let known = stackc::emit::template_names();
    let mut out = BTreeMap::new();
    for (name, path) in found {
        if !known.contains(&name) {
            return Err(format!(
                "{} is not a template stackc knows; the templates are (as DIR/<name>.hbs): {}",
                path.display(),
                known.join(", ")
            ));
        }
        let text = fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        out.insert(name, text);
    }
    Ok(out)
}

fn build_one(args: &BuildArgs, templates: &BTreeMap<String, String>, file: &Path) -> u8 {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return 2;
        }
    };
    let (out_dir, base_dir) = match &args.out_dir {
        Some(dir) => (dir.clone(), relative_base(dir, &file_dir(file))),
        None => (default_out_dir(file, args.env.as_deref()), "../..".to_string()),
    };
    let opts = Options { env: args.env.clone(), lints: args.lints.config() };
    let explicit = (!args.targets.is_empty()).then(|| args.targets.clone());
    let emit_opts = EmitOptions { targets: explicit.clone(), base_dir, templates: templates.clone() };
    let built = stackc::build(&file.display().to_string(), &text, &opts, &emit_opts);
    let outcome = &built.outcome;
    crate::print_diagnostics(outcome, args.format, crate::render_options(args.color));

    let selected = explicit.or_else(|| outcome.stack.as_ref().map(|s| s.targets.selected.clone())).unwrap_or_default();
    for target in selected.iter().filter(|t| !IMPLEMENTED.contains(t)) {
        eprintln!("warning: target `{}` is not implemented yet; no files are generated for it", target.name());
    }

    let errors = outcome.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = outcome.diagnostics.len() - errors;
    let Some(stack) = outcome.stack.as_ref().filter(|_| errors == 0) else {
        if args.format == DiagFormat::Human {
            crate::print_summary(errors.max(1), warnings, 1);
        }
        return 1;
    };
    if args.out_dir.is_none() {
        if let Some(env) = args.env.as_deref().filter(|e| !is_safe_relative_path(e) || e.contains('/')) {
            eprintln!("error: the environment name `{env}` cannot name an output directory; choose one with -o");
            return 2;
        }
    }

    let mut planned: Vec<Planned> = built
        .files
        .iter()
        .map(|f| Planned { path: f.path.clone(), contents: f.contents.clone().into_bytes(), executable: f.executable })
        .collect();
    if let Err(refusal) = check_paths(&planned) {
        eprintln!("error: {refusal}");
        return 2;
    }
    let environment = stack.environment.clone().or_else(|| args.env.clone());
    let manifest = manifest_json(&stack.name, environment.as_deref(), &planned);
    planned.push(Planned { path: MANIFEST.to_string(), contents: manifest.into_bytes(), executable: false });

    let result =
        if args.check { check(args, file, &out_dir, &planned) } else { write(args, &out_dir, &planned, warnings) };
    match result {
        Ok(code) => code,
        Err(refusal) => {
            eprintln!("error: {refusal}");
            2
        }
    }
}

/// The directory of the stack file (`.` for a bare file name).
fn file_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `<dir of FILE>/build/<stem>` or, with an environment, `<dir of FILE>/build/<stem>.<env>`;
/// the stem is the file name without `.stack.kdl` (or without its last extension).
pub fn default_out_dir(file: &Path, env: Option<&str>) -> PathBuf {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = match name.strip_suffix(".stack.kdl") {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "stack".into()),
    };
    let leaf = match env {
        Some(e) => format!("{stem}.{e}"),
        None => stem,
    };
    let dir = file.parent().unwrap_or(Path::new(""));
    dir.join("build").join(leaf)
}

/// The stack file's directory as seen from the output directory, `/`-separated (e.g. `../..`),
/// resolving symlinks of the parts that exist; the absolute directory when there is no
/// relative path between them.
fn relative_base(out_dir: &Path, file_dir: &Path) -> String {
    let (Some(out), Some(src)) = (resolved(out_dir), resolved(file_dir)) else {
        return slash_path(file_dir);
    };
    let out: Vec<Component> = out.components().collect();
    let src: Vec<Component> = src.components().collect();
    if out.first() != src.first() {
        return slash_path(&src.iter().collect::<PathBuf>());
    }
    let common = out.iter().zip(&src).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); out.len() - common];
    parts.extend(src[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// An absolute path with the existing part canonicalised and the rest normalised.
fn resolved(path: &Path) -> Option<PathBuf> {
    let abs = std::path::absolute(path).ok()?;
    let mut out = PathBuf::new();
    let mut exists = true;
    for c in abs.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => out.push(c),
            Component::CurDir => continue,
            // `out` is canonical while it exists, so its parent is the real `..`.
            Component::ParentDir => {
                out.pop();
                continue;
            }
            Component::Normal(n) => out.push(n),
        }
        if exists {
            match fs::canonicalize(&out) {
                Ok(canonical) => out = canonical,
                Err(_) => exists = false,
            }
        }
    }
    Some(out)
}

fn slash_path(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

/// Every generated path is safe, unique, not the manifest, and not another file's directory.
fn check_paths(files: &[Planned]) -> Result<(), Refusal> {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for f in files {
        if !is_safe_relative_path(&f.path) {
            return Err(Refusal::UnsafePath(f.path.clone()));
        }
        if f.path == MANIFEST {
            return Err(Refusal::Conflict(f.path.clone(), format!("{MANIFEST} (the manifest)")));
        }
        if !seen.insert(&f.path) {
            return Err(Refusal::Conflict(f.path.clone(), f.path.clone()));
        }
    }
    for f in files {
        let mut prefix = String::new();
        for part in f.path.split('/').collect::<Vec<_>>().split_last().map(|(_, dirs)| dirs).unwrap_or(&[]) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if seen.contains(prefix.as_str()) || prefix == MANIFEST {
                return Err(Refusal::Conflict(prefix.clone(), f.path.clone()));
            }
        }
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The manifest: pretty JSON with a fixed key order, files sorted by path.
fn manifest_json(stack: &str, environment: Option<&str>, files: &[Planned]) -> String {
    use serde_json::{json, Map, Value};
    let list: Vec<Value> = files
        .iter()
        .map(|f| {
            let mut m = Map::new();
            m.insert("path".into(), json!(f.path));
            m.insert("sha256".into(), json!(sha256_hex(&f.contents)));
            m.insert("executable".into(), json!(f.executable));
            Value::Object(m)
        })
        .collect();
    let mut m = Map::new();
    m.insert("stackc_version".into(), json!(env!("CARGO_PKG_VERSION")));
    m.insert("stack".into(), json!(stack));
    m.insert("environment".into(), environment.map_or(Value::Null, |e| json!(e)));
    m.insert("files".into(), Value::Array(list));
    let mut s = serde_json::to_string_pretty(&Value::Object(m)).expect("a JSON value serialises");
    s.push('\n');
    s
}

/// Walks `rel` below `out_dir` without following symlinks. `Ok(None)`: nothing there (or a
/// missing directory on the way); `Ok(Some)`: the metadata of the final component.
fn inspect(out_dir: &Path, rel: &str) -> Result<Option<fs::Metadata>, Refusal> {
    let parts: Vec<&str> = rel.split('/').collect();
    let mut p = out_dir.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        p.push(part);
        let meta = match fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Refusal::Io(p, e)),
        };
        if meta.file_type().is_symlink() {
            return Err(Refusal::Symlink(p));
        }
        if i + 1 == parts.len() {
            return Ok(Some(meta));
        }
        if !meta.is_dir() {
            return Err(Refusal::NotADirectory(p));
        }
    }
    Ok(None)
}

/// The file at a generated path, refusing symlinks and directories.
fn on_disk(out_dir: &Path, rel: &str) -> Result<Option<OnDisk>, Refusal> {
    let Some(meta) = inspect(out_dir, rel)? else {
        return Ok(None);
    };
    let path = out_dir.join(rel);
    if meta.is_dir() {
        return Err(Refusal::IsADirectory(path));
    }
    let contents = fs::read(&path).map_err(|e| Refusal::Io(path, e))?;
    Ok(Some(OnDisk { contents, mode: mode_of(&meta) }))
}

#[cfg(unix)]
fn mode_of(meta: &fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn mode_of(_meta: &fs::Metadata) -> Option<u32> {
    None
}

/// The mode an existing file should get, when only its executable bit is wrong.
fn wanted_mode(mode: Option<u32>, executable: bool) -> Option<u32> {
    let mode = mode?;
    match executable {
        true if mode & 0o777 != 0o755 => Some(0o755),
        false if mode & 0o111 != 0 => Some(mode & !0o111),
        _ => None,
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// The files the previous manifest lists, if it parses and lists only safe paths.
fn previous_manifest(current: Option<&OnDisk>) -> Previous {
    let Some(current) = current else {
        return Previous::Absent;
    };
    let value: serde_json::Value = match serde_json::from_slice(&current.contents) {
        Ok(v) => v,
        Err(e) => return Previous::Untrusted(format!("it is not valid JSON ({e})")),
    };
    let Some(files) = value.get("files").and_then(|f| f.as_array()) else {
        return Previous::Untrusted("it has no `files` list".into());
    };
    let mut paths = Vec::new();
    for f in files {
        let Some(p) = f.get("path").and_then(|p| p.as_str()) else {
            return Previous::Untrusted("a `files` entry has no `path`".into());
        };
        if !is_safe_relative_path(p) {
            return Previous::Untrusted(format!("it lists the unsafe path `{p}`"));
        }
        if p != MANIFEST {
            paths.push(p.to_string());
        }
    }
    Previous::Listed(paths)
}

/// The previous manifest's files that are no longer generated and still exist as files.
fn stale_files(out_dir: &Path, previous: &Previous, planned: &[Planned]) -> Result<Vec<String>, Refusal> {
    let Previous::Listed(listed) = previous else {
        return Ok(Vec::new());
    };
    let generated: BTreeSet<&str> = planned.iter().map(|f| f.path.as_str()).collect();
    let mut stale = Vec::new();
    for p in listed.iter().filter(|p| !generated.contains(p.as_str())) {
        match inspect(out_dir, p) {
            Ok(Some(meta)) if meta.is_file() => stale.push(p.clone()),
            Ok(_) | Err(Refusal::NotADirectory(_)) => {}
            Err(e) => return Err(e),
        }
    }
    stale.sort();
    stale.dedup();
    Ok(stale)
}

fn warn_untrusted(out_dir: &Path, previous: &Previous) {
    if let Previous::Untrusted(why) = previous {
        eprintln!(
            "warning: ignoring the previous manifest {}: {why}; no file it lists is deleted",
            out_dir.join(MANIFEST).display()
        );
    }
}

/// The output directory must be a directory (or a symlink to one) if it exists.
fn check_out_dir(out_dir: &Path) -> Result<bool, Refusal> {
    match fs::metadata(out_dir) {
        Ok(m) if m.is_dir() => Ok(true),
        Ok(_) => Err(Refusal::NotADirectory(out_dir.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Refusal::Io(out_dir.to_path_buf(), e)),
    }
}

/// Reads what is on disk for every planned file (symlinks refused first, for all of them).
fn read_current(out_dir: &Path, planned: &[Planned]) -> Result<Vec<Option<OnDisk>>, Refusal> {
    if !check_out_dir(out_dir)? {
        return Ok(planned.iter().map(|_| None).collect());
    }
    for f in planned {
        inspect(out_dir, &f.path)?;
    }
    planned.iter().map(|f| on_disk(out_dir, &f.path)).collect()
}

fn check(args: &BuildArgs, file: &Path, out_dir: &Path, planned: &[Planned]) -> Result<u8, Refusal> {
    let current = read_current(out_dir, planned)?;
    let previous = previous_manifest(current.last().and_then(Option::as_ref));
    warn_untrusted(out_dir, &previous);
    let stale = stale_files(out_dir, &previous, planned)?;
    let mut out = io::stdout().lock();
    let mut drift = 0;
    for (f, disk) in planned.iter().zip(&current) {
        let shown = out_dir.join(&f.path);
        let Some(disk) = disk else {
            let _ = writeln!(out, "missing: {} (would be generated)", shown.display());
            drift += 1;
            continue;
        };
        if disk.contents != f.contents {
            let old = String::from_utf8_lossy(&disk.contents);
            let new = String::from_utf8_lossy(&f.contents);
            let diff = similar::TextDiff::from_lines(old.as_ref(), new.as_ref());
            let _ = write!(
                out,
                "{}",
                diff.unified_diff()
                    .context_radius(3)
                    .header(&format!("a/{} (on disk)", f.path), &format!("b/{} (generated)", f.path))
            );
            drift += 1;
        } else if wanted_mode(disk.mode, f.executable).is_some() {
            let what = if f.executable { "should be executable" } else { "should not be executable" };
            let _ = writeln!(out, "mode: {} {what}", shown.display());
            drift += 1;
        }
    }
    for p in &stale {
        let _ =
            writeln!(out, "stale: {} (listed in the manifest on disk, no longer generated)", out_dir.join(p).display());
        drift += 1;
    }
    let _ = out.flush();
    if drift > 0 {
        eprintln!(
            "error: {} in {} out of date; run `stackc build {}` to update",
            plural(drift, "file"),
            out_dir.display(),
            file.display()
        );
        return Ok(1);
    }
    if args.format == DiagFormat::Human {
        eprintln!("ok: {} up to date ({})", out_dir.display(), plural(planned.len(), "file"));
    }
    Ok(0)
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// A temp file written next to its target, renamed over it later.
struct Temp {
    tmp: PathBuf,
    target: PathBuf,
}

fn write(args: &BuildArgs, out_dir: &Path, planned: &[Planned], warnings: usize) -> Result<u8, Refusal> {
    let current = read_current(out_dir, planned)?;
    let previous = previous_manifest(current.last().and_then(Option::as_ref));
    warn_untrusted(out_dir, &previous);
    let stale = stale_files(out_dir, &previous, planned)?;

    let mut to_write = Vec::new();
    let mut to_chmod = Vec::new();
    for (f, disk) in planned.iter().zip(&current) {
        match disk {
            Some(d) if d.contents == f.contents => {
                if let Some(mode) = wanted_mode(d.mode, f.executable) {
                    to_chmod.push((out_dir.join(&f.path), mode));
                }
            }
            _ => to_write.push(f),
        }
    }
    let changed = to_write.len() + to_chmod.len();

    // 1. Every temp file (the manifest's last); on any failure remove them all.
    let mut temps: Vec<Temp> = Vec::new();
    for f in &to_write {
        match write_temp(out_dir, f) {
            Ok(t) => temps.push(t),
            Err(e) => {
                remove_temps(&temps);
                return Err(e);
            }
        }
    }
    // 2. Rename the files over their targets, keeping the manifest for last.
    let manifest_temp = match temps.last() {
        Some(t) if t.target == out_dir.join(MANIFEST) => temps.pop(),
        _ => None,
    };
    for (i, t) in temps.iter().enumerate() {
        if let Err(e) = fs::rename(&t.tmp, &t.target) {
            remove_temps(&temps[i..]);
            remove_temps(manifest_temp.as_slice());
            return Err(Refusal::Io(t.target.clone(), e));
        }
    }
    for (path, mode) in &to_chmod {
        if let Err(e) = set_mode(path, *mode) {
            remove_temps(manifest_temp.as_slice());
            return Err(Refusal::Io(path.clone(), e));
        }
    }
    // 3. Files the previous manifest listed that are no longer generated.
    for p in &stale {
        let path = out_dir.join(p);
        if let Err(e) = fs::remove_file(&path) {
            remove_temps(manifest_temp.as_slice());
            return Err(Refusal::Io(path, e));
        }
        remove_empty_parents(out_dir, p);
    }
    // 4. The manifest, last.
    if let Some(t) = manifest_temp {
        if let Err(e) = fs::rename(&t.tmp, &t.target) {
            remove_temps(std::slice::from_ref(&t));
            return Err(Refusal::Io(t.target, e));
        }
    }

    if args.format == DiagFormat::Human {
        let unchanged = planned.len() - changed;
        let mut parts = vec![format!("{} written", plural(changed, "file")), format!("{unchanged} unchanged")];
        if !stale.is_empty() {
            parts.push(format!("{} removed", stale.len()));
        }
        if warnings > 0 {
            parts.push(plural(warnings, "warning"));
        }
        eprintln!("ok: {}: {}", out_dir.display(), parts.join(", "));
    }
    Ok(0)
}

fn write_temp(out_dir: &Path, f: &Planned) -> Result<Temp, Refusal> {
    let target = out_dir.join(&f.path);
    let dir = target.parent().map(Path::to_path_buf).unwrap_or_else(|| out_dir.to_path_buf());
    fs::create_dir_all(&dir).map_err(|e| Refusal::Io(dir.clone(), e))?;
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut attempt = 0;
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(".{name}.stackc-tmp-{}-{attempt}", std::process::id()));
        // `create_new` never follows a symlink planted at the temp name.
        match fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => return Err(Refusal::Io(tmp, e)),
        }
    };
    let result = (|| {
        file.write_all(&f.contents)?;
        file.sync_all()?;
        drop(file);
        set_mode(&tmp, if f.executable { 0o755 } else { 0o644 })
    })();
    match result {
        Ok(()) => Ok(Temp { tmp, target }),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(Refusal::Io(target, e))
        }
    }
}

fn remove_temps(temps: &[Temp]) {
    for t in temps {
        let _ = fs::remove_file(&t.tmp);
    }
}

/// Removes the directories of a deleted file that are now empty, up to the output directory.
fn remove_empty_parents(out_dir: &Path, rel: &str) {
    let mut parts: Vec<&str> = rel.split('/').collect();
    parts.pop();
    while !parts.is_empty() {
        if fs::remove_dir(out_dir.join(parts.join("/"))).is_err() {
            break;
        }
        parts.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_dirs() {
        assert_eq!(default_out_dir(Path::new("a/shop.stack.kdl"), None), Path::new("a/build/shop"));
        assert_eq!(default_out_dir(Path::new("shop.stack.kdl"), Some("prod")), Path::new("build/shop.prod"));
        assert_eq!(default_out_dir(Path::new("x/shop.kdl"), None), Path::new("x/build/shop"));
    }

    #[test]
    fn base_dir_from_the_output_dir() {
        assert_eq!(relative_base(Path::new("build/shop"), Path::new(".")), "../..");
        assert_eq!(relative_base(Path::new("out"), Path::new("deploy")), "../deploy");
        assert_eq!(relative_base(Path::new("deploy/x/../out"), Path::new("deploy")), "..");
        assert_eq!(relative_base(Path::new("."), Path::new(".")), ".");
        assert_eq!(relative_base(Path::new("/stackc-no-such-dir/out"), Path::new("/stackc-no-such-dir/src")), "../src");
    }

    #[test]
    fn planned_paths() {
        let p = |path: &str| Planned { path: path.into(), contents: Vec::new(), executable: false };
        assert!(check_paths(&[p("a.yml"), p("conf/b.yml")]).is_ok());
        assert!(matches!(check_paths(&[p("../a.yml")]), Err(Refusal::UnsafePath(_))));
        assert!(matches!(check_paths(&[p("/tmp/a.yml")]), Err(Refusal::UnsafePath(_))));
        assert!(matches!(check_paths(&[p(MANIFEST)]), Err(Refusal::Conflict(..))));
        assert!(matches!(check_paths(&[p("a"), p("a/b")]), Err(Refusal::Conflict(..))));
    }

    #[test]
    fn modes() {
        assert_eq!(wanted_mode(Some(0o644), false), None);
        assert_eq!(wanted_mode(Some(0o755), false), Some(0o644));
        assert_eq!(wanted_mode(Some(0o644), true), Some(0o755));
        assert_eq!(wanted_mode(Some(0o755), true), None);
        assert_eq!(wanted_mode(None, true), None);
    }
}
