//! What the `stackc build` tests share: a temp directory, running the binary, reading the
//! manifest and the files of an output directory.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

pub const MANIFEST: &str = "stackc-manifest.json";
/// The output directory's lock file while a stackc runs there (or after one was killed).
pub const LOCK: &str = ".stackc-lock";

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("stackc-build-test-{}-{n}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `stackc ARGS` in `dir`, with a fixed terminal width and colour setting.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stackc"));
    cmd.args(args).current_dir(dir).env_remove("NO_COLOR").env_remove("STACKC_LOCK_TIMEOUT").env("COLUMNS", "100");
    cmd
}

/// Runs `cmd` to the end; never lets a panic (exit 101) or a signal pass.
pub fn run(mut cmd: Command) -> Output {
    let out = cmd.output().expect("run stackc");
    let code = out.status.code();
    assert!(
        code.is_some() && code != Some(101),
        "{cmd:?} crashed ({:?}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `stackc ARGS` in `dir`; never lets a panic (exit 101) or a signal pass.
pub fn stackc(dir: &Path, args: &[&str]) -> Output {
    run(command(dir, args))
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn assert_code(out: &Output, want: i32) {
    assert_eq!(code(out), want, "stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out));
}

pub fn manifest(out_dir: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(out_dir.join(MANIFEST)).unwrap()).unwrap()
}

/// The generated files the manifest lists.
pub fn listed(out_dir: &Path) -> Vec<String> {
    manifest(out_dir)["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_string()).collect()
}

/// Every file below `dir` (relative, `/`-separated) with its contents and mtime.
pub fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, SystemTime)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (Vec<u8>, SystemTime)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let meta = fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                walk(root, &entry.path(), out);
            } else {
                let rel = entry.path().strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                let contents = if meta.is_file() { fs::read(entry.path()).unwrap() } else { Vec::new() };
                out.insert(rel, (contents, meta.modified().unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn no_temp_files(dir: &Path) {
    for name in snapshot(dir).keys() {
        assert!(!name.contains(".stackc-tmp-"), "temp file left behind: {name}");
    }
}

/// The journal of an interrupted build.
pub const JOURNAL: &str = ".stackc-journal";

/// Asserts that `dir` holds exactly one complete set: every file its manifest lists, with
/// that sha256 and mode, no other file but the manifest: no temp file, no journal, no lock
/// file. Returns the manifest's bytes.
pub fn assert_complete_set(dir: &Path, context: &str) -> Vec<u8> {
    let bytes = fs::read(dir.join(MANIFEST)).unwrap_or_else(|e| panic!("{context}: no manifest: {e}"));
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let mut on_disk = snapshot(dir);
    assert!(on_disk.remove(MANIFEST).is_some());
    for f in m["files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        let (contents, _) = on_disk.remove(path).unwrap_or_else(|| panic!("{context}: {path} is listed but missing"));
        assert_eq!(
            f["sha256"].as_str().unwrap(),
            sha256_hex(&contents),
            "{context}: {path} does not match the manifest"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(path)).unwrap().permissions().mode() & 0o777;
            let want = if f["executable"].as_bool().unwrap() { 0o755 } else { 0o644 };
            assert_eq!(mode, want, "{context}: mode of {path}");
        }
    }
    let extra: Vec<&String> = on_disk.keys().collect();
    assert!(
        extra.is_empty(),
        "{context}: files the manifest does not list (orphans, temp files, a journal): {extra:?}"
    );
    bytes
}
