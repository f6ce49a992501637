//! Every example builds without errors and its output equals `golden/<example>/` byte for
//! byte, in both directions (a missing or an extra file fails). Each environment an
//! example declares is built into `golden/<example>.<env>/`.
//!
//! Re-bless after reviewing the change: `UPDATE_GOLDEN=1 cargo test -p stackc --test golden`.

use std::collections::BTreeMap;
use std::path::Path;

use stackc::emit::EmitOptions;
use stackc::Options;

mod support;
use support::{examples, root};

fn read_tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(rel, std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn build(path: &Path, env: Option<String>) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = format!("examples/{}", path.file_name().unwrap().to_string_lossy());
    // The default CLI layout is `examples/build/<stem>`: the stack file's directory is `../..`.
    let emit = EmitOptions { base_dir: "../..".into(), ..EmitOptions::default() };
    let built = stackc::build(&name, &text, &Options { env, ..Options::default() }, &emit);
    let errors: Vec<String> = built
        .outcome
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{} {}", d.code.as_str(), d.message))
        .collect();
    assert!(errors.is_empty(), "{name} has errors: {errors:#?}");
    built.files.into_iter().map(|f| (f.path, f.contents)).collect()
}

#[test]
fn examples_match_golden() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    let mut checked = 0;
    for ex in examples() {
        let stem = ex.file_name().unwrap().to_string_lossy().trim_end_matches(".stack.kdl").to_string();
        let text = std::fs::read_to_string(&ex).unwrap();
        let outcome = stackc::compile("x", &text, &Options::default());
        let mut variants = vec![(stem.clone(), None)];
        for env in &outcome.environments {
            variants.push((format!("{stem}.{env}"), Some(env.clone())));
        }
        for (dir_name, env) in variants {
            let generated = build(&ex, env);
            assert!(!generated.is_empty(), "{dir_name}: nothing generated");
            let dir = root().join("golden").join(&dir_name);
            if update {
                let _ = std::fs::remove_dir_all(&dir);
                for (path, contents) in &generated {
                    let p = dir.join(path);
                    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                    std::fs::write(&p, contents).unwrap();
                }
            }
            let on_disk = read_tree(&dir);
            for (path, contents) in &generated {
                match on_disk.get(path) {
                    None => failures.push(format!("golden/{dir_name}/{path}: missing (generated but not in golden)")),
                    Some(g) if g != contents => failures.push(format!(
                        "golden/{dir_name}/{path}: differs\n{}",
                        similar::TextDiff::from_lines(g.as_str(), contents.as_str())
                            .unified_diff()
                            .context_radius(2)
                            .header("golden", "generated")
                    )),
                    Some(_) => {}
                }
            }
            for path in on_disk.keys() {
                if !generated.contains_key(path) {
                    failures.push(format!("golden/{dir_name}/{path}: extra (in golden but not generated)"));
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 5, "expected every example to be checked, got {checked}");
    assert!(
        failures.is_empty(),
        "golden mismatches (re-bless with UPDATE_GOLDEN=1 after review):\n{}",
        failures.join("\n")
    );
}

#[test]
fn output_is_deterministic() {
    for ex in examples() {
        assert_eq!(build(&ex, None), build(&ex, None), "{}", ex.display());
    }
}
