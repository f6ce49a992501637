//! `stackc build` end to end: output directory naming, atomic writes, the manifest, deletion
//! rules, `--check`, and that no stack or symlink can make stackc write outside the output
//! directory. Every test works in its own directory under the system temp dir.
//!
//! The tests do not depend on what the compose emitter writes: they read the list of
//! generated files from the manifest.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use support::*;

/// A small stack with two services and an environment; `compose` is the body of the
/// `targets > compose` node's properties (e.g. `file="x.yml"`).
fn stack_with(compose: &str) -> String {
    format!(
        r#"stack "shop"
policy {{
    allow "missing-healthcheck"
}}
service "web" {{
    image "nginx:1.27"
    depends-on "api"
}}
service "api" {{
    image "ghcr.io/acme/api:1.4.2"
}}
env "prod" {{
    service "api" {{
        image "ghcr.io/acme/api:1.5.0"
    }}
}}
targets {{
    compose {compose}
}}
"#
    )
}

fn stack() -> String {
    stack_with("")
}

/// A stack with an error (a reference to an undeclared service).
fn broken_stack() -> String {
    stack().replace(r#"depends-on "api""#, r#"depends-on "nope""#)
}

/// Writes `shop.stack.kdl` in `dir` and returns its name.
fn write_stack(dir: &Path, text: &str) -> &'static str {
    fs::write(dir.join("shop.stack.kdl"), text).unwrap();
    "shop.stack.kdl"
}

fn set_old_mtime(path: &Path) -> SystemTime {
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    fs::File::options().write(true).open(path).unwrap().set_modified(old).unwrap();
    old
}

#[test]
fn default_output_dir_is_build_stem() {
    let t = TempDir::new("default-dir");
    let file = write_stack(t.path(), &stack());
    let out = stackc(t.path(), &["build", file]);
    assert_code(&out, 0);
    let dir = t.path().join("build/shop");
    assert!(dir.join(MANIFEST).is_file(), "no manifest in {}", dir.display());
    let m = manifest(&dir);
    assert_eq!(m["stack"], "shop");
    assert_eq!(m["environment"], serde_json::Value::Null);
    // Nothing else was created next to the stack file.
    let top: BTreeSet<String> =
        fs::read_dir(t.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(top, BTreeSet::from(["build".to_string(), "shop.stack.kdl".to_string()]));
    no_temp_files(t.path());
}

#[test]
fn default_output_dir_with_env_is_build_stem_dot_env() {
    let t = TempDir::new("default-dir-env");
    let file = write_stack(t.path(), &stack());
    let out = stackc(t.path(), &["build", file, "--env", "prod"]);
    assert_code(&out, 0);
    let dir = t.path().join("build/shop.prod");
    assert_eq!(manifest(&dir)["environment"], "prod");
    assert!(!t.path().join("build/shop").exists());
}

#[test]
fn default_output_dir_is_next_to_the_stack_file() {
    let t = TempDir::new("default-dir-sub");
    fs::create_dir_all(t.path().join("deploy")).unwrap();
    fs::write(t.path().join("deploy/shop.stack.kdl"), stack()).unwrap();
    let out = stackc(t.path(), &["build", "deploy/shop.stack.kdl"]);
    assert_code(&out, 0);
    assert!(t.path().join("deploy/build/shop").join(MANIFEST).is_file());
    assert!(!t.path().join("build").exists());
}

#[test]
fn output_dir_option() {
    let t = TempDir::new("out-dir");
    let file = write_stack(t.path(), &stack());
    let out = stackc(t.path(), &["build", file, "-o", "out/compose"]);
    assert_code(&out, 0);
    assert!(t.path().join("out/compose").join(MANIFEST).is_file());
    assert!(!t.path().join("build").exists());
}

#[test]
fn several_files_build_into_their_own_dirs() {
    let t = TempDir::new("several");
    write_stack(t.path(), &stack());
    fs::write(t.path().join("other.stack.kdl"), stack().replace(r#"stack "shop""#, r#"stack "other""#)).unwrap();
    let files = ["shop.stack.kdl", "other.stack.kdl"];
    assert_code(&stackc(t.path(), &["build", files[0], files[1]]), 0);
    assert_eq!(manifest(&t.path().join("build/shop"))["stack"], "shop");
    assert_eq!(manifest(&t.path().join("build/other"))["stack"], "other");
    assert_code(&stackc(t.path(), &["build", "--check", files[0], files[1]]), 0);
    // -o names one directory: it takes one file.
    let out = stackc(t.path(), &["build", files[0], files[1], "-o", "out"]);
    assert_code(&out, 2);
    assert!(!t.path().join("out").exists());
    // One file with errors: exit 1, the other file is still built.
    fs::write(t.path().join("other.stack.kdl"), broken_stack()).unwrap();
    fs::remove_dir_all(t.path().join("build")).unwrap();
    assert_code(&stackc(t.path(), &["build", files[0], files[1]]), 1);
    assert!(t.path().join("build/shop").join(MANIFEST).is_file());
    assert!(!t.path().join("build/other").exists());
}

#[test]
fn errors_change_nothing() {
    let t = TempDir::new("errors");
    let file = write_stack(t.path(), &stack());
    assert_code(&stackc(t.path(), &["build", file]), 0);
    fs::write(t.path().join("build/shop/notes.txt"), "mine\n").unwrap();
    let before = snapshot(t.path());

    write_stack(t.path(), &broken_stack());
    let out = stackc(t.path(), &["build", file]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains("nope"), "the error is reported:\n{}", stderr(&out));
    let mut after = snapshot(t.path());
    after.remove("shop.stack.kdl");
    let mut before = before;
    before.remove("shop.stack.kdl");
    assert_eq!(before, after, "a build with errors changed the output directory");

    // A stack with errors creates no output directory either.
    let fresh = TempDir::new("errors-fresh");
    let file = write_stack(fresh.path(), &broken_stack());
    assert_code(&stackc(fresh.path(), &["build", file]), 1);
    assert!(!fresh.path().join("build").exists());
}

#[test]
fn diagnostics_print_as_check_prints_them() {
    let t = TempDir::new("diag");
    let file = write_stack(t.path(), &broken_stack());
    let check = stackc(t.path(), &["check", file, "--env", "prod", "--color", "never"]);
    let build = stackc(t.path(), &["build", file, "--env", "prod", "--color", "never"]);
    assert_code(&check, 1);
    assert_code(&build, 1);
    assert_eq!(stderr(&check), stderr(&build));
    let check = stackc(t.path(), &["check", file, "--env", "prod", "--format", "json"]);
    let build = stackc(t.path(), &["build", file, "--env", "prod", "--format", "json"]);
    assert_eq!(stdout(&check), stdout(&build));
    assert!(!stdout(&build).is_empty());
}

#[test]
fn unchanged_files_keep_their_mtime() {
    let t = TempDir::new("mtime");
    let file = write_stack(t.path(), &stack());
    assert_code(&stackc(t.path(), &["build", file]), 0);
    let dir = t.path().join("build/shop");
    let mut files = listed(&dir);
    files.push(MANIFEST.to_string());
    let old: BTreeMap<String, SystemTime> = files.iter().map(|f| (f.clone(), set_old_mtime(&dir.join(f)))).collect();

    let out = stackc(t.path(), &["build", file]);
    assert_code(&out, 0);
    for (f, mtime) in &old {
        assert_eq!(fs::metadata(dir.join(f)).unwrap().modified().unwrap(), *mtime, "{f} was rewritten");
    }

    // A changed stack rewrites exactly the files whose content changed.
    let before = manifest(&dir);
    write_stack(t.path(), &stack().replace("nginx:1.27", "nginx:1.28"));
    assert_code(&stackc(t.path(), &["build", file]), 0);
    let after = manifest(&dir);
    let sha = |m: &serde_json::Value, path: &str| {
        m["files"].as_array().unwrap().iter().find(|f| f["path"] == path).map(|f| f["sha256"].clone())
    };
    for f in listed(&dir) {
        let now = fs::metadata(dir.join(&f)).unwrap().modified().unwrap();
        if sha(&before, &f) == sha(&after, &f) {
            assert_eq!(now, old[&f], "{f} is unchanged but was rewritten");
        } else {
            assert_ne!(now, old[&f], "{f} changed but kept its mtime");
        }
    }
    no_temp_files(t.path());
}

#[test]
fn manifest_lists_every_file_with_its_sha256() {
    let t = TempDir::new("manifest");
    let file = write_stack(t.path(), &stack());
    assert_code(&stackc(t.path(), &["build", file]), 0);
    let dir = t.path().join("build/shop");
    let m = manifest(&dir);
    assert_eq!(m["stackc_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m["stack"], "shop");
    let keys: Vec<&String> = m.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["stackc_version", "stack", "environment", "files"]);

    let on_disk: BTreeSet<String> = snapshot(&dir).into_keys().filter(|k| k != MANIFEST).collect();
    let files = m["files"].as_array().unwrap();
    let paths: Vec<String> = files.iter().map(|f| f["path"].as_str().unwrap().to_string()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "manifest entries are sorted by path");
    assert_eq!(paths.iter().cloned().collect::<BTreeSet<_>>(), on_disk, "manifest lists exactly the generated files");
    for f in files {
        let path = f["path"].as_str().unwrap();
        assert_eq!(f["sha256"].as_str().unwrap(), sha256_hex(&fs::read(dir.join(path)).unwrap()), "{path}");
        assert!(f["executable"].is_boolean());
    }
    // Deterministic: a build into another directory writes the same manifest.
    assert_code(&stackc(t.path(), &["build", file, "-o", "build/again"]), 0);
    assert_eq!(fs::read(dir.join(MANIFEST)).unwrap(), fs::read(t.path().join("build/again").join(MANIFEST)).unwrap());
}

#[test]
fn user_files_survive_and_dropped_files_are_removed() {
    let t = TempDir::new("stale");
    let file = write_stack(t.path(), &stack_with(r#"file="first.yml""#));
    assert_code(&stackc(t.path(), &["build", file]), 0);
    let dir = t.path().join("build/shop");
    assert!(listed(&dir).contains(&"first.yml".to_string()), "compose honours file=: {:?}", listed(&dir));
    fs::write(dir.join("notes.txt"), "mine\n").unwrap();
    fs::create_dir_all(dir.join("local")).unwrap();
    fs::write(dir.join("local/override.yml"), "mine\n").unwrap();

    write_stack(t.path(), &stack_with(r#"file="second.yml""#));
    let out = stackc(t.path(), &["build", file]);
    assert_code(&out, 0);
    assert!(!dir.join("first.yml").exists(), "a file dropped from the stack is removed");
    assert!(dir.join("second.yml").is_file());
    assert_eq!(fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine\n");
    assert_eq!(fs::read_to_string(dir.join("local/override.yml")).unwrap(), "mine\n");
    assert!(!listed(&dir).contains(&"notes.txt".to_string()));
}

#[test]
fn only_files_of_the_previous_manifest_are_deleted() {
    let t = TempDir::new("prev-manifest");
    let file = write_stack(t.path(), &stack());
    let dir = t.path().join("build/shop");
    fs::create_dir_all(dir.join("old")).unwrap();
    fs::write(dir.join("old/gone.yml"), "generated once\n").unwrap();
    fs::write(dir.join("kept.txt"), "mine\n").unwrap();
    let previous = serde_json::json!({
        "stackc_version": "0.0.0", "stack": "shop", "environment": null,
        "files": [{"path": "old/gone.yml", "sha256": "0", "executable": false}]
    });
    fs::write(dir.join(MANIFEST), previous.to_string()).unwrap();
    let out = stackc(t.path(), &["build", file]);
    assert_code(&out, 0);
    assert!(!dir.join("old/gone.yml").exists());
    assert!(!dir.join("old").exists(), "the emptied directory is removed");
    assert!(dir.join("kept.txt").is_file());
}

#[test]
fn untrusted_previous_manifest_deletes_nothing() {
    for (name, contents) in [
        ("unsafe", r#"{"files": [{"path": "../outside.txt"}, {"path": "mine.txt"}]}"#),
        ("absolute", r#"{"files": [{"path": "/etc/passwd"}, {"path": "mine.txt"}]}"#),
        ("invalid", r#"{"files": [{"path": "mine.txt"}"#),
    ] {
        let t = TempDir::new(&format!("untrusted-{name}"));
        let file = write_stack(t.path(), &stack());
        let dir = t.path().join("build/shop");
        fs::create_dir_all(&dir).unwrap();
        fs::write(t.path().join("build/outside.txt"), "outside\n").unwrap();
        fs::write(dir.join("mine.txt"), "mine\n").unwrap();
        fs::write(dir.join(MANIFEST), contents).unwrap();
        let out = stackc(t.path(), &["build", file]);
        assert_code(&out, 0);
        assert!(stderr(&out).contains("warning: ignoring the previous manifest"), "{name}: {}", stderr(&out));
        assert_eq!(fs::read_to_string(t.path().join("build/outside.txt")).unwrap(), "outside\n", "{name}");
        assert_eq!(fs::read_to_string(dir.join("mine.txt")).unwrap(), "mine\n", "{name}");
        // The new manifest replaces the untrusted one.
        assert_eq!(manifest(&dir)["stack"], "shop");
    }
}

#[test]
fn check_passes_after_build() {
    let t = TempDir::new("check-ok");
    let file = write_stack(t.path(), &stack());
    assert_code(&stackc(t.path(), &["build", file, "--env", "prod"]), 0);
    let out = stackc(t.path(), &["build", "--check", file, "--env", "prod"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "");
}

#[test]
fn check_fails_with_a_diff_after_an_edit_and_writes_nothing() {
    let t = TempDir::new("check-edit");
    let file = write_stack(t.path(), &stack());
    assert_code(&stackc(t.path(), &["build", file]), 0);
    let dir = t.path().join("build/shop");
    // The first generated file, or the manifest if the stack generates none.
    let target = listed(&dir).into_iter().next().unwrap_or_else(|| MANIFEST.to_string());
    let original = fs::read_to_string(dir.join(&target)).unwrap();
    let edited = format!("{original}edited by hand\n");
    fs::write(dir.join(&target), &edited).unwrap();
    let before = snapshot(t.path());

    let out = stackc(t.path(), &["build", file, "--check"]);
    assert_code(&out, 1);
    let diff = stdout(&out);
    assert!(diff.contains(&format!("--- a/{target} (on disk)\n+++ b/{target} (generated)\n")), "{diff}");
    assert!(diff.contains("\n-edited by hand\n"), "{diff}");
    assert!(diff.contains("@@ "), "{diff}");
    assert_eq!(snapshot(t.path()), before, "--check wrote something");

    // Rebuilding repairs it.
    assert_code(&stackc(t.path(), &["build", file]), 0);
    assert_eq!(fs::read_to_string(dir.join(&target)).unwrap(), original);
    assert_code(&stackc(t.path(), &["build", file, "--check"]), 0);
}

#[test]
fn check_fails_when_a_file_is_missing() {
    let t = TempDir::new("check-missing");
    let file = write_stack(t.path(), &stack());
    assert_code(&stackc(t.path(), &["build", file]), 0);
    let dir = t.path().join("build/shop");
    let target = listed(&dir).into_iter().next().unwrap_or_else(|| MANIFEST.to_string());
    fs::remove_file(dir.join(&target)).unwrap();
    let out = stackc(t.path(), &["build", file, "--check"]);
    assert_code(&out, 1);
    assert!(stdout(&out).contains(&format!("missing: {}", Path::new("build/shop").join(&target).display())));
    assert!(!dir.join(&target).exists(), "--check wrote the missing file");

    // Never built: everything is missing, and no directory is created.
    let fresh = TempDir::new("check-never-built");
    let file = write_stack(fresh.path(), &stack());
    let out = stackc(fresh.path(), &["build", file, "--check"]);
    assert_code(&out, 1);
    assert!(stdout(&out).contains(&format!("missing: {}", Path::new("build/shop").join(MANIFEST).display())));
    assert!(!fresh.path().join("build").exists());
}

#[test]
fn check_reports_stale_files() {
    let t = TempDir::new("check-stale");
    let file = write_stack(t.path(), &stack_with(r#"file="first.yml""#));
    assert_code(&stackc(t.path(), &["build", file]), 0);
    write_stack(t.path(), &stack_with(r#"file="second.yml""#));
    let out = stackc(t.path(), &["build", file, "--check"]);
    assert_code(&out, 1);
    let text = stdout(&out);
    assert!(text.contains(&format!("stale: {}", Path::new("build/shop/first.yml").display())), "{text}");
    assert!(text.contains(&format!("missing: {}", Path::new("build/shop/second.yml").display())), "{text}");
    assert!(t.path().join("build/shop/first.yml").exists());
}

#[test]
fn check_fails_on_errors() {
    let t = TempDir::new("check-errors");
    let file = write_stack(t.path(), &broken_stack());
    assert_code(&stackc(t.path(), &["build", file, "--check"]), 1);
    assert!(!t.path().join("build").exists());
}

#[cfg(unix)]
#[test]
fn symlinks_in_the_output_dir_are_refused() {
    use std::os::unix::fs::symlink;
    let t = TempDir::new("symlink");
    let file = write_stack(t.path(), &stack());
    assert_code(&stackc(t.path(), &["build", file]), 0);
    let dir = t.path().join("build/shop");
    let outside = t.path().join("outside");
    fs::create_dir_all(&outside).unwrap();

    // Each generated file (and the manifest), replaced by a symlink to a file outside.
    let mut targets = listed(&dir);
    targets.push(MANIFEST.to_string());
    for target in &targets {
        let victim = outside.join("victim.txt");
        fs::write(&victim, "outside\n").unwrap();
        fs::remove_file(dir.join(target)).unwrap();
        symlink(&victim, dir.join(target)).unwrap();
        let before = snapshot(t.path());
        write_stack(t.path(), &stack().replace("nginx:1.27", "nginx:1.28"));
        for args in [&["build", file][..], &["build", file, "--check"][..]] {
            let out = stackc(t.path(), args);
            assert_code(&out, 2);
            assert!(stderr(&out).contains("symlink"), "{}", stderr(&out));
        }
        let mut after = snapshot(t.path());
        after.remove("shop.stack.kdl");
        let mut before = before;
        before.remove("shop.stack.kdl");
        assert_eq!(before, after, "{target}: a refused build changed files");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "outside\n");
        assert!(fs::symlink_metadata(dir.join(target)).unwrap().file_type().is_symlink());
        // Restore for the next round.
        fs::remove_file(dir.join(target)).unwrap();
        write_stack(t.path(), &stack());
        fs::remove_file(dir.join(MANIFEST)).ok();
        assert_code(&stackc(t.path(), &["build", file]), 0);
    }
}

#[cfg(unix)]
#[test]
fn symlinked_directory_in_the_output_dir_is_refused() {
    use std::os::unix::fs::symlink;
    let t = TempDir::new("symlink-dir");
    let file = write_stack(t.path(), &stack_with(r#"file="conf/compose.yml""#));
    let dir = t.path().join("build/shop");
    let outside = t.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::create_dir_all(&dir).unwrap();
    symlink(&outside, dir.join("conf")).unwrap();
    let out = stackc(t.path(), &["build", file]);
    if code(&out) == 1 {
        // The library refuses `/` in file names (E0310) before anything is written.
        assert!(stderr(&out).contains("E0310"), "{}", stderr(&out));
        assert!(!dir.join(MANIFEST).exists());
    } else {
        assert_code(&out, 2);
        assert!(stderr(&out).contains("symlink"), "{}", stderr(&out));
        assert!(!dir.join(MANIFEST).exists());
    }
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0, "something was written through the symlink");

    // A stale file reached through a symlinked directory is refused too.
    let t = TempDir::new("symlink-stale");
    let file = write_stack(t.path(), &stack());
    let dir = t.path().join("build/shop");
    let outside = t.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("gone.yml"), "outside\n").unwrap();
    fs::create_dir_all(&dir).unwrap();
    symlink(&outside, dir.join("old")).unwrap();
    fs::write(dir.join(MANIFEST), r#"{"files": [{"path": "old/gone.yml"}]}"#).unwrap();
    let out = stackc(t.path(), &["build", file]);
    assert_code(&out, 2);
    assert_eq!(fs::read_to_string(outside.join("gone.yml")).unwrap(), "outside\n");
}

/// `targets { compose file=… }` is user-controlled: a name that leaves the output directory
/// must be a clean error (exit 1 with a diagnostic, or 2), never a write outside.
#[test]
fn compose_file_cannot_escape_the_output_dir() {
    let t = TempDir::new("escape");
    let absolute = t.path().join("absolute-evil.yml");
    let absolute = absolute.to_string_lossy().into_owned();
    for name in ["../evil.yml", "../../evil.yml", "sub/../../evil.yml", absolute.as_str()] {
        let file = write_stack(t.path(), &stack_with(&format!("file={name:?}")));
        let out = stackc(t.path(), &["build", file]);
        let c = code(&out);
        assert!(c == 1 || c == 2, "{name}: expected an error, got exit {c}:\n{}", stderr(&out));
        assert!(!stderr(&out).is_empty(), "{name}: no message");
        assert!(!t.path().join("build/evil.yml").exists(), "{name}");
        assert!(!t.path().join("evil.yml").exists(), "{name}");
        assert!(!Path::new(&absolute).exists(), "{name}");
        assert!(!t.path().join("build/shop").join(MANIFEST).exists(), "{name}: something was written");
    }
}

#[test]
fn every_target_is_implemented_k8s_writes_manifests() {
    let t = TempDir::new("targets");
    let file = write_stack(t.path(), &stack());
    let out = stackc(t.path(), &["build", file, "--target", "k8s", "--target", "compose"]);
    assert_code(&out, 0);
    // k8s was the last target without an emitter: the warning path is gone.
    assert!(!stderr(&out).contains("is not implemented"), "{}", stderr(&out));
    // Only k8s: the manifests and their kustomization, nothing of compose.
    let out = stackc(t.path(), &["build", file, "--target", "k8s", "-o", "only-k8s"]);
    assert_code(&out, 0);
    let files = listed(&t.path().join("only-k8s"));
    for f in ["k8s/kustomization.yaml", "k8s/namespace-shop.yaml", "k8s/deployment-web.yaml", "k8s/deployment-api.yaml"]
    {
        assert!(files.iter().any(|l| l == f), "{f} not written: {files:?}");
    }
    assert!(files.iter().all(|f| f.starts_with("k8s/")), "{files:?}");
    let kustomization = fs::read_to_string(t.path().join("only-k8s/k8s/kustomization.yaml")).unwrap();
    assert!(kustomization.contains("- deployment-api.yaml\n"), "{kustomization}");
}

/// A stack with a site, for the proxy targets.
const SITE_STACK: &str = r#"stack "shop"
policy {
    allow "missing-healthcheck"
}
service "api" {
    image "ghcr.io/acme/api:1.4.2"
    port 8080 name="http"
}
site "shop.example.com" {
    route "/" to="api"
}
targets {
    caddy
    nginx
}
"#;

#[test]
fn templates_dir_overrides_embedded_templates() {
    let t = TempDir::new("templates");
    let file = write_stack(t.path(), SITE_STACK);
    let dir = t.path().join("tpl");
    fs::create_dir_all(dir.join("caddy")).unwrap();
    fs::write(dir.join("caddy/Caddyfile.hbs"), "# custom{{#each sites}} {{addresses}}{{/each}}\n").unwrap();
    fs::write(dir.join("README.md"), "not a template").unwrap();
    let out = stackc(t.path(), &["build", file, "--templates", "tpl", "-o", "out"]);
    assert_code(&out, 0);
    assert_eq!(fs::read_to_string(t.path().join("out/caddy/Caddyfile")).unwrap(), "# custom shop.example.com\n");
    // Templates that are not overridden stay the embedded ones.
    let nginx = fs::read_to_string(t.path().join("out/nginx/conf.d/shop.conf")).unwrap();
    assert!(nginx.contains("server_name shop.example.com;"), "{nginx}");

    // A template that fails to render is an error diagnostic; nothing is written.
    fs::write(dir.join("caddy/Caddyfile.hbs"), "{{no_such_field}}").unwrap();
    let out = stackc(t.path(), &["build", file, "--templates", "tpl", "-o", "broken"]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains("the caddy templates failed"), "{}", stderr(&out));
    assert!(stderr(&out).contains("E0502"), "{}", stderr(&out));
    assert!(!t.path().join("broken").exists());

    // An unknown name is refused with the list of names.
    fs::write(dir.join("caddy/Caddyfile.hbs"), "x").unwrap();
    fs::write(dir.join("caddy/Cadyfile.hbs"), "x").unwrap();
    let out = stackc(t.path(), &["build", file, "--templates", "tpl", "-o", "unknown"]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("Cadyfile.hbs is not a template stackc knows"), "{err}");
    assert!(err.contains("caddy/Caddyfile, caddy/route, caddy/tls, nginx/conf"), "{err}");
    assert!(!t.path().join("unknown").exists());

    // A missing directory is an error too.
    let out = stackc(t.path(), &["build", file, "--templates", "nope", "-o", "missing"]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("cannot read the templates directory"), "{}", stderr(&out));
}

#[test]
fn exit_codes() {
    let t = TempDir::new("exit-codes");
    let file = write_stack(t.path(), &stack());
    assert_code(&stackc(t.path(), &["build", "missing.stack.kdl"]), 2);
    assert_code(&stackc(t.path(), &["build", file, "--target", "bogus"]), 2);
    assert_code(&stackc(t.path(), &["build"]), 2);
    assert_code(&stackc(t.path(), &["build", file, "--env", "nope"]), 1);
    assert_code(&stackc(t.path(), &["build", file, "-D", "no-such-lint"]), 1);
    // The output directory is a file.
    fs::write(t.path().join("a-file"), "x").unwrap();
    assert_code(&stackc(t.path(), &["build", file, "-o", "a-file"]), 2);
    assert_code(&stackc(t.path(), &["build", file, "-o", "a-file", "--check"]), 2);
    assert_eq!(fs::read_to_string(t.path().join("a-file")).unwrap(), "x");
    assert_code(&stackc(t.path(), &["build", file]), 0);
}

#[test]
fn files_stackc_did_not_generate_are_not_overwritten_without_force() {
    let t = TempDir::new("unmanaged");
    let file = write_stack(t.path(), &stack());
    let dir = t.path().join("build/shop");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("docker-compose.yml"), "# written by hand\n").unwrap();
    let before = snapshot(&dir);
    let out = stackc(t.path(), &["build", file]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("refusing to overwrite files that stackc did not generate"), "{err}");
    assert!(err.contains("\n  build/shop/docker-compose.yml\n"), "the refused files are listed: {err}");
    assert!(err.contains("--force"), "{err}");
    // Nothing written: not even the other files.
    assert_eq!(snapshot(&dir), before);

    let out = stackc(t.path(), &["build", file, "--force"]);
    assert_code(&out, 0);
    assert!(stderr(&out)
        .contains("warning: overwriting build/shop/docker-compose.yml, which stackc did not generate (--force)"));
    assert_complete_set(&dir, "after --force");
    // Now the manifest lists it: an edit is overwritten without --force.
    fs::write(dir.join("docker-compose.yml"), "# edited\n").unwrap();
    assert_code(&stackc(t.path(), &["build", file]), 0);
    assert_complete_set(&dir, "after an edit");

    // A file that already holds the generated bytes is taken over without --force.
    let other = t.path().join("other");
    fs::create_dir_all(&other).unwrap();
    fs::copy(dir.join("docker-compose.yml"), other.join("docker-compose.yml")).unwrap();
    assert_code(&stackc(t.path(), &["build", file, "-o", "other"]), 0);
    assert_complete_set(&other, "identical file");
}

#[test]
fn the_stack_file_is_never_overwritten_even_with_force() {
    let t = TempDir::new("input");
    let file = write_stack(t.path(), &stack_with(r#"file="shop.stack.kdl""#));
    let text = fs::read_to_string(t.path().join(file)).unwrap();
    for args in [&["build", file, "-o", "."][..], &["build", file, "-o", ".", "--force"]] {
        let out = stackc(t.path(), args);
        assert_code(&out, 2);
        assert!(
            stderr(&out).contains("refusing to overwrite or delete ./shop.stack.kdl: it is the stack file being built (even with --force)"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert_eq!(fs::read_to_string(t.path().join(file)).unwrap(), text, "{args:?}");
    }
    // Nor deleted as a stale file of a previous manifest.
    let out_dir = t.path().join("out");
    fs::create_dir_all(&out_dir).unwrap();
    fs::write(out_dir.join("shop.stack.kdl"), stack()).unwrap();
    fs::write(out_dir.join(MANIFEST), r#"{"files": [{"path": "shop.stack.kdl"}]}"#).unwrap();
    let out = stackc(t.path(), &["build", "out/shop.stack.kdl", "-o", "out", "--force"]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("it is the stack file being built"), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(out_dir.join("shop.stack.kdl")).unwrap(), stack());
}

#[test]
fn long_file_names_up_to_255_bytes_are_written() {
    let t = TempDir::new("long-names");
    let name = format!("{}.yml", "a".repeat(251));
    let file = write_stack(t.path(), &stack_with(&format!(r#"file="{name}""#)));
    assert_code(&stackc(t.path(), &["build", file, "-o", "out"]), 0);
    assert_eq!(name.len(), 255);
    assert!(listed(&t.path().join("out")).contains(&name));
    assert_complete_set(&t.path().join("out"), "255-byte name");

    let name = format!("{}.yml", "a".repeat(252));
    let file = write_stack(t.path(), &stack_with(&format!(r#"file="{name}""#)));
    let out = stackc(t.path(), &["build", file, "-o", "new"]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("a name in it is longer than 255 bytes"), "{}", stderr(&out));
    assert!(!t.path().join("new").exists(), "nothing is created");
}

/// Runs stackc with a file size limit of 4 blocks (2 KiB in dash), so that writing a bigger
/// file fails as on a full disk (`EFBIG` instead of `ENOSPC`).
#[cfg(unix)]
fn stackc_with_small_files(dir: &Path, args: &str) -> std::process::Output {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(format!("trap '' XFSZ; ulimit -f 4; exec \"$0\" {args}")).arg(env!("CARGO_BIN_EXE_stackc"));
    cmd.current_dir(dir);
    run(cmd)
}

#[cfg(unix)]
#[test]
fn a_failed_write_removes_what_it_created() {
    let t = TempDir::new("efbig");
    // A compose file of about 20 KB, and a journal well under 2 KiB.
    let big = "x".repeat(20_000);
    let text = stack().replace(r#"image "nginx:1.27""#, &format!("image \"nginx:1.27\"\n    env BIG=\"{big}\""));
    let text = text.replace("compose \n", "compose\n    k8s\n");
    let file = write_stack(t.path(), &text);
    let out = stackc_with_small_files(t.path(), &format!("build {file} -o new/deep/out"));
    assert_code(&out, 2);
    assert!(stderr(&out).contains("File too large"), "{}", stderr(&out));
    assert!(!t.path().join("new").exists(), "the directories this build created are removed");

    // In an existing directory: the old files stay, the new directories go.
    fs::create_dir_all(t.path().join("pre")).unwrap();
    fs::write(t.path().join("pre/notes.txt"), "mine\n").unwrap();
    let out = stackc_with_small_files(t.path(), &format!("build {file} -o pre"));
    assert_code(&out, 2);
    let left: Vec<String> = snapshot(&t.path().join("pre")).into_keys().collect();
    assert_eq!(left, ["notes.txt"]);
    assert!(!t.path().join("pre/k8s").exists());
}

#[test]
fn check_prints_the_command_that_updates_the_same_directory() {
    let t = TempDir::new("check-hint");
    let file = write_stack(t.path(), &stack());
    fs::create_dir_all(t.path().join("tpl")).unwrap();
    let options = [
        file,
        "-o",
        "my out",
        "--env",
        "prod",
        "--target",
        "compose",
        "--templates",
        "tpl",
        "-A",
        "missing-healthcheck",
    ];
    let check = [&["build", "--check"][..], &options].concat();
    let out = stackc(t.path(), &check);
    assert_code(&out, 1);
    let want = "run `stackc build shop.stack.kdl -o 'my out' --env prod --target compose --templates tpl -A missing-healthcheck` to update";
    assert!(stderr(&out).contains(want), "{}", stderr(&out));
    // Following it makes the same check pass.
    assert_code(&stackc(t.path(), &[&["build"][..], &options].concat()), 0);
    assert_code(&stackc(t.path(), &check), 0);
}

#[test]
fn stray_temp_files_are_removed_and_only_those() {
    let t = TempDir::new("strays");
    let file = write_stack(t.path(), &stack());
    assert_code(&stackc(t.path(), &["build", file]), 0);
    let dir = t.path().join("build/shop");
    let strays = [".stackc-tmp-99999-1", ".docker-compose.yml.stackc-tmp-12-0"];
    let kept = ["notes.stackc-tmp-1-2", ".stackc-tmp-x", ".stackc-tmp-1-2.bak"];
    for name in strays.iter().chain(&kept) {
        fs::write(dir.join(name), "x").unwrap();
    }
    let out = stackc(t.path(), &["build", file]);
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains("note: removed 2 temp files left in build/shop by an interrupted stackc"),
        "{}",
        stderr(&out)
    );
    for name in strays {
        assert!(!dir.join(name).exists(), "{name}");
    }
    for name in kept {
        assert!(dir.join(name).exists(), "{name}");
    }
}

/// Writes a journal by hand, as a build killed in its switch phase leaves it.
fn interrupted_switch(dir: &Path, compose: &str) {
    fs::write(dir.join(".stackc-tmp-7-0"), compose).unwrap();
    let journal = serde_json::json!({
        "state": "switching",
        "dirs": [],
        "renames": [{"temp": ".stackc-tmp-7-0", "target": "docker-compose.yml"}],
        "chmods": [],
        "deletes": [],
    });
    fs::write(dir.join(JOURNAL), journal.to_string()).unwrap();
}

#[test]
fn an_interrupted_switch_is_finished_by_the_next_run_even_a_check() {
    let t = TempDir::new("journal");
    let file = write_stack(t.path(), &stack());
    assert_code(&stackc(t.path(), &["build", file]), 0);
    let dir = t.path().join("build/shop");
    interrupted_switch(&dir, "# the interrupted build's compose file\n");
    let out = stackc(t.path(), &["build", "--check", file]);
    assert!(stderr(&out).contains("note: finished the interrupted build recorded in build/shop/.stackc-journal first"));
    assert_eq!(fs::read_to_string(dir.join("docker-compose.yml")).unwrap(), "# the interrupted build's compose file\n");
    assert!(!dir.join(JOURNAL).exists());
    assert_code(&out, 1);
    assert_code(&stackc(t.path(), &["build", file]), 0);
    assert_complete_set(&dir, "after the rebuild");
}

#[test]
fn a_journal_that_points_outside_is_refused() {
    let t = TempDir::new("bad-journal");
    let file = write_stack(t.path(), &stack());
    assert_code(&stackc(t.path(), &["build", file]), 0);
    let dir = t.path().join("build/shop");
    interrupted_switch(&dir, "x");
    let text =
        fs::read_to_string(dir.join(JOURNAL)).unwrap().replace("\"docker-compose.yml\"", "\"../../outside.txt\"");
    fs::write(dir.join(JOURNAL), text).unwrap();
    let before = snapshot(t.path());
    for args in [&["build", file][..], &["build", "--check", file]] {
        let out = stackc(t.path(), args);
        assert_code(&out, 2);
        assert!(
            stderr(&out).contains("cannot finish the interrupted build recorded in build/shop/.stackc-journal: it lists the unsafe path `../../outside.txt`; remove it and build again"),
            "{}",
            stderr(&out)
        );
        assert_eq!(snapshot(t.path()), before, "{args:?}");
    }
}

#[test]
fn generated_files_cannot_take_the_names_stackc_keeps_for_itself() {
    let t = TempDir::new("reserved");
    for (name, what) in
        [(".stackc-lock", "the lock file"), (".stackc-journal", "the journal"), (".stackc-tmp-1-2", "a temp file")]
    {
        let file = write_stack(t.path(), &stack_with(&format!(r#"file="{name}""#)));
        let out = stackc(t.path(), &["build", file, "-o", "out"]);
        assert_code(&out, 2);
        let want = format!("refusing to write `{name}`: stackc names {what} so in the output directory");
        assert!(stderr(&out).contains(&want), "{name}: {}", stderr(&out));
        assert!(!t.path().join("out").exists(), "{name}");
    }
}

// ---- Bind paths that survive moving the output folder (issue 12) ----

/// Docker Compose v2's Go binary, or `None` (outside CI) when it is not installed.
fn compose_v2() -> Option<std::path::PathBuf> {
    let dc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/tools/compose2/real/docker-compose");
    if dc.is_file() {
        return Some(dc);
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    assert!(!ci, "Docker Compose v2 is not installed: CI must run .ci/install-validators first");
    eprintln!("NOT RUN: Docker Compose v2 (.ci/tools/compose2) is not installed; run .ci/install-validators");
    None
}

/// The bind sources of service `api` as Docker Compose resolves them (`config --format json`),
/// run from an unrelated directory so that only the compose file's own directory counts.
fn resolved_binds(dc: &Path, compose: &Path, cwd: &Path) -> Vec<String> {
    let out = std::process::Command::new(dc)
        .arg("-f")
        .arg(compose)
        .args(["config", "--format", "json"])
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("run docker-compose");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let model: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    model["services"]["api"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["type"] == "bind")
        .map(|v| v["source"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn bind_paths_resolve_to_the_stack_directory_from_any_output_directory() {
    let t = TempDir::new("bind-paths");
    let project = t.path().join("project");
    fs::create_dir_all(project.join("config")).unwrap();
    fs::write(project.join("config/api.toml"), "").unwrap();
    let stack = r#"stack "shop"
policy {
    allow "missing-healthcheck"
}
service "api" {
    image "ghcr.io/acme/api:1.4.2"
    mount "./config/api.toml" "/etc/api.toml" read-only=#true
    mount "./data" "/data" propagation="rslave"
}
targets {
    compose
}
"#;
    let file = write_stack(&project, stack);
    let elsewhere = t.path().join("elsewhere");
    let elsewhere_s = elsewhere.to_str().unwrap();
    assert_code(&stackc(&project, &["build", file]), 0);
    assert_code(&stackc(&project, &["build", file, "-o", elsewhere_s]), 0);
    let inside = fs::read_to_string(project.join("build/shop/docker-compose.yml")).unwrap();
    let outside = fs::read_to_string(elsewhere.join("docker-compose.yml")).unwrap();
    // Inside the stack's directory: relative, so the project moves as a whole.
    assert!(inside.contains("- ../../config/api.toml:/etc/api.toml:ro"), "{inside}");
    // Outside it: absolute, never `../../<the path back to the project>`.
    let project_abs = project.canonicalize().unwrap();
    let abs = format!("- {}/config/api.toml:/etc/api.toml:ro", project_abs.display());
    assert!(outside.contains(&abs), "{outside}");
    assert!(outside.contains(&format!("source: {}/data", project_abs.display())), "{outside}");

    // The same arguments give the same bytes.
    assert_code(&stackc(&project, &["build", file, "-o", elsewhere_s, "--force"]), 0);
    assert_eq!(fs::read_to_string(elsewhere.join("docker-compose.yml")).unwrap(), outside);

    // Moving the outside output folder keeps it pointing at the stack's files.
    let moved = t.path().join("moved/deeper/out");
    fs::create_dir_all(moved.parent().unwrap()).unwrap();
    fs::rename(&elsewhere, &moved).unwrap();

    let Some(dc) = compose_v2() else { return };
    let want =
        vec![project_abs.join("config/api.toml").display().to_string(), project_abs.join("data").display().to_string()];
    assert_eq!(resolved_binds(&dc, &project.join("build/shop/docker-compose.yml"), t.path()), want);
    assert_eq!(resolved_binds(&dc, &moved.join("docker-compose.yml"), t.path()), want);
}

/// Files get their mode whatever the umask: 0644, and 0755 for scripts (the umask is read
/// once and the mode set on the open file only when the umask would take bits away).
#[test]
fn modes_do_not_depend_on_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cashstage.stack.kdl");
    for umask in ["077", "022", "000", "027"] {
        let t = TempDir::new("umask");
        let out_dir = t.path().join("out");
        let script = format!("umask {umask}; exec \"$0\" build \"$1\" -o \"$2\"");
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", &script, env!("CARGO_BIN_EXE_stackc")]).arg(&example).arg(&out_dir);
        let out = run(cmd);
        assert_code(&out, 0);
        let mut scripts = 0;
        for path in listed(&out_dir) {
            let mode = fs::metadata(out_dir.join(&path)).unwrap().permissions().mode() & 0o777;
            let want = if path.ends_with(".sh") { 0o755 } else { 0o644 };
            scripts += usize::from(path.ends_with(".sh"));
            assert_eq!(mode, want, "umask {umask}: {path} has mode {mode:o}");
        }
        assert!(scripts > 0, "the example has scripts");
    }
}

/// A build of many files (read and written by two threads each half) into its own unchanged
/// output writes nothing, and a hand edit in either half of the list is found and undone.
#[test]
fn a_large_unchanged_build_writes_nothing_and_finds_edits_in_either_half() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cashstage.stack.kdl");
    let t = TempDir::new("large-unchanged");
    let out_dir = t.path().join("out");
    let (example, out) = (example.to_str().unwrap(), out_dir.to_str().unwrap());
    assert_code(&stackc(t.path(), &["build", example, "-o", out]), 0);
    let files = listed(&out_dir);
    assert!(files.len() >= 64, "only {} files: the two-thread path is not taken", files.len());
    let again = stackc(t.path(), &["build", example, "-o", out]);
    assert_code(&again, 0);
    assert!(stderr(&again).contains(": 0 files written"), "{}", stderr(&again));
    let (first, last) = (&files[0], &files[files.len() - 1]);
    for f in [first, last] {
        fs::write(out_dir.join(f), "edited by hand\n").unwrap();
    }
    let check = stackc(t.path(), &["build", "--check", example, "-o", out]);
    assert_code(&check, 1);
    let rebuilt = stackc(t.path(), &["build", "--force", example, "-o", out]);
    assert_code(&rebuilt, 0);
    assert!(stderr(&rebuilt).contains(": 2 files written"), "{}", stderr(&rebuilt));
}
