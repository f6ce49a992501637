//! `stackc build` under SIGKILL and under concurrent builds: whatever happens, once the next
//! stackc has run, the output directory holds exactly one complete set of files matching
//! its manifest, with no temp file and no orphan (docs/build.md, "Crashes and concurrent
//! builds").
#![cfg(unix)]

mod support;

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime};

use support::*;

/// A stack of `n` services, `first..first + n`, with compose and Kubernetes targets (one
/// compose file and two Kubernetes files per service, so thousands of files for a few
/// thousand services). `tag` changes every service's image, so that switching between two
/// variants rewrites every file they share, adds some and deletes others.
fn big_stack(first: usize, n: usize, tag: &str) -> String {
    let mut s = String::with_capacity(n * 200);
    let _ = writeln!(s, "stack \"big\"\npolicy {{\n    allow \"missing-healthcheck\"\n}}");
    for i in first..first + n {
        let _ = writeln!(
            s,
            "service \"svc-{i}\" {{\n    image \"ghcr.io/acme/svc-{i}:{tag}\"\n    port 8080 name=\"http\"\n    env NAME=\"svc-{i}\" TAG=\"{tag}\"\n}}"
        );
    }
    let _ = writeln!(s, "targets {{\n    compose\n    k8s\n}}");
    s
}

/// A small xorshift generator: the tests print their seed, so that a failure can be replayed
/// with `STACKC_TEST_SEED`.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("STACKC_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
        eprintln!("seed: STACKC_TEST_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn spawn_build(dir: &Path, stack: &str) -> Child {
    command(dir, &["build", stack, "-o", "out"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
}

/// The journal's state (`writing` or `switching`), if there is a journal.
fn journal_state(out: &Path) -> Option<String> {
    let text = fs::read(out.join(JOURNAL)).ok()?;
    let j: serde_json::Value = serde_json::from_slice(&text).ok()?;
    Some(j["state"].as_str()?.to_string())
}

/// Whether the journal is in the `switching` state, reading only its start (it is polled
/// while the build runs, and must not take the CPU from it).
fn is_switching(out: &Path) -> bool {
    use std::io::Read;
    let mut start = [0u8; 64];
    let n = fs::File::open(out.join(JOURNAL)).and_then(|mut f| f.read(&mut start)).unwrap_or(0);
    String::from_utf8_lossy(&start[..n]).contains("\"switching\"")
}

/// Waits until `ready` holds (polling) or the child exits; false if it exited first.
fn wait_for(child: &mut Child, mut ready: impl FnMut() -> bool) -> bool {
    loop {
        if ready() {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// The files of `dir` but its manifest, lock, journal and temp files, with their contents.
fn generated_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    snapshot(dir)
        .into_iter()
        .filter(|(k, _)| {
            let name = k.rsplit('/').next().unwrap();
            k != LOCK && k != JOURNAL && !name.starts_with(".stackc-tmp-")
        })
        .map(|(k, (c, _))| (k, c))
        .collect()
}

#[test]
fn a_killed_build_leaves_one_complete_set_after_the_next_run() {
    const SERVICES: usize = 300;
    const KILLS: usize = 20;
    let t = TempDir::new("kill");
    let dir = t.path();
    // Two variants that share most services: every shared file changes between them, and
    // each has files the other does not (written, or deleted as stale).
    fs::write(dir.join("a.stack.kdl"), big_stack(0, SERVICES, "1.0")).unwrap();
    fs::write(dir.join("b.stack.kdl"), big_stack(SERVICES / 5, SERVICES, "2.0")).unwrap();
    let mut reference = Vec::new();
    for (stack, out) in [("a.stack.kdl", "ref-a"), ("b.stack.kdl", "ref-b")] {
        assert_code(&stackc(dir, &["build", stack, "-o", out]), 0);
        reference.push(assert_complete_set(&dir.join(out), out));
    }
    assert_code(&stackc(dir, &["build", "a.stack.kdl", "-o", "out"]), 0);
    let out = dir.join("out");
    let mut current = 0;

    // How long the write and switch phases take: from the journal's appearance to the end.
    let mut child = spawn_build(dir, "b.stack.kdl");
    assert!(wait_for(&mut child, || out.join(JOURNAL).exists()), "the build wrote no journal");
    let phase_start = Instant::now();
    assert!(child.wait().unwrap().success());
    let window = phase_start.elapsed().as_micros().max(1000) as u64;
    current = 1 - current;

    let mut rng = Rng::new();
    let (mut writing, mut switching, mut finished) = (0, 0, 0);
    for kill in 0..KILLS {
        let next = 1 - current;
        let stack = ["a.stack.kdl", "b.stack.kdl"][next];
        let mut child = spawn_build(dir, stack);
        // Kill at a random time in the write and switch phases; every third kill waits for
        // the switch to have begun, which is much shorter than the write phase.
        let ready = if kill % 3 == 2 {
            wait_for(&mut child, || is_switching(&out))
        } else {
            wait_for(&mut child, || out.join(JOURNAL).exists())
        };
        if ready {
            std::thread::sleep(Duration::from_micros(rng.below(if kill % 3 == 2 { window / 4 } else { window })));
        }
        let _ = child.kill();
        let _ = child.wait();
        let context = format!("kill {kill} (building {stack} over {})", ["a", "b"][current]);

        // Right after the kill: the old set, the new set, or an interrupted journal.
        let state = journal_state(&out);
        match state.as_deref() {
            None => {
                finished += 1;
                let m = assert_complete_set_ignoring_temps(&out, &context);
                assert!(m == reference[0] || m == reference[1], "{context}: the manifest is neither set's");
            }
            Some("writing") => {
                writing += 1;
                // The old files are untouched while temp files are written.
                assert_eq!(generated_files(&out), generated_files(&dir.join(["ref-a", "ref-b"][current])), "{context}");
            }
            Some("switching") => switching += 1,
            other => panic!("{context}: journal state {other:?}"),
        }

        // The next run (here `--check`, which recovers too) resolves it.
        let check = stackc(dir, &["build", "--check", stack, "-o", "out"]);
        let m = assert_complete_set(&out, &context);
        current = if m == reference[next] {
            next
        } else {
            assert_eq!(m, reference[current], "{context}: the manifest is neither set's");
            current
        };
        match state.as_deref() {
            Some("writing") => assert_eq!(current, 1 - next, "{context}: a build killed while writing is rolled back"),
            Some("switching") => assert_eq!(current, next, "{context}: a build killed while switching is completed"),
            _ => {}
        }
        assert_code(&check, if current == next { 0 } else { 1 });
        assert_eq!(generated_files(&out), generated_files(&dir.join(["ref-a", "ref-b"][current])), "{context}");
    }
    eprintln!("kills: {writing} while writing, {switching} while switching, {finished} before or after");
    assert!(writing > 0 && switching > 0, "the kills missed a phase: {writing} writing, {switching} switching");
}

/// `assert_complete_set` for a directory that may still hold temp files of a kill before
/// the journal was written (they are the next run's to remove).
fn assert_complete_set_ignoring_temps(dir: &Path, context: &str) -> Vec<u8> {
    let m = manifest(dir);
    let mut listed: Vec<String> =
        m["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().into()).collect();
    listed.push(MANIFEST.into());
    listed.sort();
    let files = generated_files(dir);
    assert_eq!(files.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(), listed, "{context}");
    for f in m["files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        assert_eq!(f["sha256"].as_str().unwrap(), sha256_hex(&fs::read(dir.join(path)).unwrap()), "{context}: {path}");
    }
    fs::read(dir.join(MANIFEST)).unwrap()
}

/// Holds the lock of `out` from the test, as another stackc would.
fn hold_lock(out: &Path) -> fs::File {
    fs::create_dir_all(out).unwrap();
    let f = fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(out.join(LOCK)).unwrap();
    f.lock().unwrap();
    f
}

#[test]
fn concurrent_builds_wait_for_each_other() {
    let t = TempDir::new("concurrent");
    let dir = t.path();
    fs::write(dir.join("a.stack.kdl"), big_stack(0, 60, "1.0")).unwrap();
    fs::write(dir.join("b.stack.kdl"), big_stack(30, 60, "2.0")).unwrap();
    let mut reference = Vec::new();
    for (stack, out) in [("a.stack.kdl", "ref-a"), ("b.stack.kdl", "ref-b")] {
        assert_code(&stackc(dir, &["build", stack, "-o", out]), 0);
        reference.push(assert_complete_set(&dir.join(out), out));
    }
    let out = dir.join("out");
    // While the test holds the lock, every build must wait; then they go one at a time.
    let lock = hold_lock(&out);
    let logs: Vec<_> = (0..6).map(|i| dir.join(format!("stderr-{i}"))).collect();
    let children: Vec<Child> = logs
        .iter()
        .enumerate()
        .map(|(i, log)| {
            command(dir, &["build", ["a.stack.kdl", "b.stack.kdl"][i % 2], "-o", "out"])
                .stdout(Stdio::null())
                .stderr(fs::File::create(log).unwrap())
                .spawn()
                .unwrap()
        })
        .collect();
    let waiting = |log: &Path| fs::read_to_string(log).unwrap().contains("waiting: another stackc is writing out");
    let start = Instant::now();
    while !logs.iter().all(|log| waiting(log)) {
        assert!(start.elapsed() < Duration::from_secs(60), "not every build waited for the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!out.join(MANIFEST).exists(), "a build wrote while the lock was held");
    drop(lock);
    for (mut child, log) in children.into_iter().zip(&logs) {
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{}", fs::read_to_string(log).unwrap());
    }
    let m = assert_complete_set(&out, "after concurrent builds");
    assert!(m == reference[0] || m == reference[1], "the manifest is neither stack's");
}

#[test]
fn a_build_gives_up_after_the_lock_timeout() {
    let t = TempDir::new("lock-timeout");
    let dir = t.path();
    fs::write(dir.join("a.stack.kdl"), big_stack(0, 2, "1.0")).unwrap();
    assert_code(&stackc(dir, &["build", "a.stack.kdl", "-o", "out"]), 0);
    fs::write(dir.join("a.stack.kdl"), big_stack(0, 3, "1.1")).unwrap();
    let lock = hold_lock(&dir.join("out"));
    let before = snapshot(&dir.join("out"));
    for args in [&["build", "a.stack.kdl", "-o", "out"][..], &["build", "--check", "a.stack.kdl", "-o", "out"]] {
        let mut cmd = command(dir, args);
        cmd.env("STACKC_LOCK_TIMEOUT", "0.3");
        let o = run(cmd);
        assert_code(&o, 2);
        assert!(stderr(&o).contains("waiting: another stackc is writing out"), "{}", stderr(&o));
        assert!(stderr(&o).contains("error: another stackc has been writing out for 0.3 s"), "{}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?} compared files without the lock: {}", stdout(&o));
        assert_eq!(snapshot(&dir.join("out")), before, "{args:?}");
    }
    // Once the lock is free, a build removes the lock file with its own.
    drop(lock);
    assert_code(&stackc(dir, &["build", "a.stack.kdl", "-o", "out"]), 0);
    assert_complete_set(&dir.join("out"), "after the lock was freed");
}

#[test]
fn a_waiting_build_survives_the_removal_of_the_directory_it_waited_for() {
    let t = TempDir::new("lock-removed");
    let dir = t.path();
    fs::write(dir.join("a.stack.kdl"), big_stack(0, 2, "1.0")).unwrap();
    let out = dir.join("out");
    // As a build that created `out` and then failed: it holds the lock, then removes its
    // lock file and the directory, then exits.
    let lock = hold_lock(&out);
    let log = dir.join("stderr");
    let mut child = command(dir, &["build", "a.stack.kdl", "-o", "out"])
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !fs::read_to_string(&log).unwrap().contains("waiting: another stackc is writing out") {
        assert!(start.elapsed() < Duration::from_secs(60), "the build did not wait");
        std::thread::sleep(Duration::from_millis(20));
    }
    fs::remove_file(out.join(LOCK)).unwrap();
    fs::remove_dir(&out).unwrap();
    drop(lock);
    assert_eq!(child.wait().unwrap().code(), Some(0), "{}", fs::read_to_string(&log).unwrap());
    assert_complete_set(&out, "after the directory was removed and created again");
}
