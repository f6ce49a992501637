//! `stackc diff FILE --env A [--env B]`: what differs between the files two environments
//! build to (one `--env`: the base against it), per target, as unified diffs, without
//! writing anything. Exit codes as diff(1): 0 the same, 1 different, 2 errors (usage, I/O,
//! errors in the stack).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use stackc::emit::EmitOptions;
use stackc::Options;

use crate::{Color, DiagFormat, LintArgs};

pub struct DiffArgs<'a> {
    pub file: &'a Path,
    pub envs: &'a [String],
    pub targets: Vec<stackc::ir::TargetKind>,
    pub color: Color,
    pub lints: &'a LintArgs,
}

/// The target a generated file belongs to, by where the emitters put it: a directory per
/// target, the compose file and what comes with it at the top.
pub fn target_of(path: &str) -> &str {
    match path.split_once('/') {
        Some((dir, _)) => dir,
        None => "compose",
    }
}

/// The files of one side, by path; `None` when the stack has errors (printed).
fn side(args: &DiffArgs, text: &str, env: Option<&str>) -> Option<BTreeMap<String, String>> {
    let opts = Options { env: env.map(str::to_string), lints: args.lints.config() };
    let explicit = (!args.targets.is_empty()).then(|| args.targets.clone());
    // The default output layout (build/<stem>[.<env>]): both sides see the stack file's
    // directory from the same place, so relative paths do not differ between them.
    let emit = EmitOptions { targets: explicit, base_dir: "../..".into(), templates: BTreeMap::new() };
    let built = stackc::build(&args.file.display().to_string(), text, &opts, &emit);
    if built.outcome.has_errors() {
        crate::print_diagnostics(&built.outcome, DiagFormat::Human, crate::render_options(args.color));
        return None;
    }
    Some(built.files.into_iter().map(|f| (f.path, f.contents)).collect())
}

pub fn run(args: DiffArgs) -> ExitCode {
    let (a, b) = match args.envs {
        [b] => (None, Some(b.as_str())),
        [a, b] => (Some(a.as_str()), Some(b.as_str())),
        _ => {
            eprintln!("error: give one `--env B` (the base against B) or two, `--env A --env B`");
            return ExitCode::from(2);
        }
    };
    let text = match crate::read_source(args.file) {
        Ok(t) => t,
        Err(e) => return ExitCode::from(e.report(args.file, DiagFormat::Human, args.color)),
    };
    let (Some(left), Some(right)) = (side(&args, &text, a), side(&args, &text, b)) else {
        return ExitCode::from(2);
    };
    let name = |e: Option<&str>| e.unwrap_or("base").to_string();
    let (la, lb) = (name(a), name(b));
    let report = render(&left, &right, &la, &lb);
    let _ = write!(std::io::stdout().lock(), "{}", report.text);
    if report.changed == 0 {
        eprintln!("no difference: {la} and {lb} build to the same files");
        ExitCode::SUCCESS
    } else {
        let per: Vec<String> = report.per_target.iter().map(|(t, n)| format!("{t} {n}")).collect();
        eprintln!("{} file(s) differ between {la} and {lb} ({})", report.changed, per.join(", "));
        ExitCode::from(1)
    }
}

pub struct Report {
    pub text: String,
    pub changed: usize,
    /// Files that differ, per target, in target order.
    pub per_target: BTreeMap<String, usize>,
}

/// The unified diffs from `left` (named `la`) to `right`, grouped by target.
pub fn render(left: &BTreeMap<String, String>, right: &BTreeMap<String, String>, la: &str, lb: &str) -> Report {
    let mut paths: Vec<&String> = left.keys().chain(right.keys()).collect();
    paths.sort_by(|x, y| (target_of(x), x).cmp(&(target_of(y), y)));
    paths.dedup();
    let mut out = String::new();
    let mut per_target: BTreeMap<String, usize> = BTreeMap::new();
    let mut current = None;
    for path in paths {
        let (old, new) = (left.get(path), right.get(path));
        if old == new {
            continue;
        }
        let target = target_of(path);
        if current != Some(target) {
            out.push_str(&format!("## {target}\n"));
            current = Some(target);
        }
        *per_target.entry(target.to_string()).or_default() += 1;
        let (from, to) = (
            if old.is_some() { format!("{la}/{path}") } else { "/dev/null".into() },
            if new.is_some() { format!("{lb}/{path}") } else { "/dev/null".into() },
        );
        let (o, n) = (old.map_or("", String::as_str), new.map_or("", String::as_str));
        let diff = similar::TextDiff::from_lines(o, n);
        out.push_str(&diff.unified_diff().context_radius(3).header(&from, &to).to_string());
    }
    let changed = per_target.values().sum();
    Report { text: out, changed, per_target }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> BTreeMap<String, String> {
        list.iter().map(|(p, c)| (p.to_string(), c.to_string())).collect()
    }

    #[test]
    fn changed_added_and_removed_files_by_target() {
        let a =
            files(&[("docker-compose.yml", "a: 1\nb: 2\n"), ("nginx/conf.d/x.conf", "x\n"), ("k8s/old.yaml", "o\n")]);
        let b =
            files(&[("docker-compose.yml", "a: 1\nb: 3\n"), ("nginx/conf.d/x.conf", "x\n"), ("k8s/new.yaml", "n\n")]);
        let r = render(&a, &b, "base", "prod");
        assert_eq!(r.changed, 3);
        assert_eq!(r.per_target, BTreeMap::from([("compose".to_string(), 1), ("k8s".to_string(), 2)]));
        assert_eq!(
            r.text,
            "## compose\n--- base/docker-compose.yml\n+++ prod/docker-compose.yml\n@@ -1,2 +1,2 @@\n a: 1\n-b: 2\n+b: 3\n\
             ## k8s\n--- /dev/null\n+++ prod/k8s/new.yaml\n@@ -0,0 +1 @@\n+n\n--- base/k8s/old.yaml\n+++ /dev/null\n@@ -1 +0,0 @@\n-o\n"
        );
        assert_eq!(render(&a, &a, "base", "base").changed, 0);
    }
}
