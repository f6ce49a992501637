//! The one atomic writer of stackc: short temp names, a journal that makes a set of files
//! switch as a whole (or be completed or rolled back by the next run), and the clean-up of
//! what an interrupted run left behind. See `docs/build.md`, "How files are written".
//!
//! A build writes every changed file to a temp file first, under a journal in the
//! `writing` state that lists those temp files and the directories it creates; a kill
//! in this phase leaves the old files untouched, and the next run rolls it back. Then the
//! journal is rewritten in the `switching` state, listing the renames, mode changes and
//! deletions, and only then are they done; a kill in this phase is completed by the next
//! run. Either way the next run (`build` or `--check`) starts from one complete set.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use stackc::emit::is_safe_relative_path;

use super::{in_halves, inspect, Inspector, Refusal, MANIFEST};

/// The journal of a build in progress, in the output directory.
pub(super) const JOURNAL: &str = ".stackc-journal";

const TEMP_PREFIX: &str = ".stackc-tmp-";

/// A fresh temp file name, unique in this process. It does not derive from the target's
/// name, so that a target name of up to 255 bytes still has a temp name that fits.
fn temp_name() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let pid = PID.get_or_init(std::process::id);
    format!("{TEMP_PREFIX}{pid}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Whether a file name is one of stackc's temp files: `.stackc-tmp-PID-N`, or the
/// `.NAME.stackc-tmp-PID-N` of stackc 0.1.0. Nothing else is ever removed as a temp file.
pub(super) fn is_temp_name(name: &str) -> bool {
    let numbers = |rest: &str| {
        rest.split_once('-')
            .is_some_and(|(pid, n)| [pid, n].iter().all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())))
    };
    if let Some(rest) = name.strip_prefix(TEMP_PREFIX) {
        return numbers(rest);
    }
    match name.rfind(TEMP_PREFIX) {
        Some(i) if i > 1 && name.starts_with('.') => numbers(&name[i + TEMP_PREFIX.len()..]),
        _ => false,
    }
}

/// Creates `path` exclusively (a planted file or symlink at the name is an error, never
/// followed), writes `contents` with `mode` and closes it; removes it again on failure.
fn write_new(path: &Path, contents: &[u8], mode: Option<u32>) -> io::Result<()> {
    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if let Some(mode) = mode {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        let mut file = options.open(path)?;
        file.write_all(contents)?;
        #[cfg(unix)]
        if let Some(mode) = mode.filter(|m| umask().is_none_or(|u| m & u != 0)) {
            // The umask took bits the file must have: set them on the open file.
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        if cfg!(not(target_os = "linux")) {
            file.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(path);
    }
    result
}

/// The process's umask, read once from `/proc/self/status` (reading it with `umask(2)` means
/// setting it, which another thread could see). `None` where that file does not say.
fn umask() -> Option<u32> {
    static UMASK: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        let status = fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
        u32::from_str_radix(line.trim(), 8).ok()
    })
}

/// Writes one file atomically: a temp file in the same directory, synced, then renamed over
/// `path`, keeping the permissions of the file it replaces. A reader sees the old file or
/// the new one, never half of one. (`stackc fmt`, and the journal.)
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    replace(path, contents, true)
}

/// `write_atomic`, syncing (when `durable`) before the rename, so that the new name never
/// points at unwritten data after a power loss, and after it, so that the rename is kept.
fn replace(path: &Path, contents: &[u8], durable: bool) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(temp_name());
    let result = (|| {
        write_new(&tmp, contents, None)?;
        if let Ok(meta) = fs::metadata(path) {
            fs::set_permissions(&tmp, meta.permissions())?;
        }
        if durable {
            sync_dir(dir)?;
        }
        fs::rename(&tmp, path)?;
        if durable {
            sync_dir(dir)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Makes what was written below `dir` durable: one `syncfs` on Linux (thousands of
/// `fsync`s take seconds), else an `fsync` of the directory (the files were synced when
/// written).
fn sync_dir(dir: &Path) -> io::Result<()> {
    let handle = fs::File::open(dir)?;
    #[cfg(target_os = "linux")]
    {
        rustix::fs::syncfs(&handle)?;
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = handle.sync_all();
    }
    Ok(())
}

#[derive(Serialize, Deserialize, PartialEq, Eq, Clone, Copy, Debug)]
#[serde(rename_all = "lowercase")]
enum State {
    /// Temp files are being written; the old files are untouched: roll back.
    Writing,
    /// Every temp file is complete: finish the switch.
    Switching,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
struct Rename {
    temp: String,
    target: String,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
struct Chmod {
    path: String,
    mode: u32,
}

/// `.stackc-journal`: every path relative to the output directory, `/`-separated.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
struct Journal {
    state: State,
    /// The directories the build creates, parents first.
    dirs: Vec<String>,
    /// Temp file → target; the manifest is renamed after everything else.
    renames: Vec<Rename>,
    chmods: Vec<Chmod>,
    /// Files of the previous manifest that are no longer generated.
    deletes: Vec<String>,
}

impl Journal {
    /// Every path must be a safe relative path, and every temp one of stackc's temp names:
    /// a journal cannot make stackc touch anything outside the output directory, or remove
    /// a file that is not its own.
    fn validate(&self) -> Result<(), String> {
        let paths = self.dirs.iter().chain(&self.deletes).chain(self.chmods.iter().map(|c| &c.path));
        let paths = paths.chain(self.renames.iter().flat_map(|r| [&r.temp, &r.target]));
        if let Some(p) = paths.into_iter().find(|p| !is_safe_relative_path(p)) {
            return Err(format!("it lists the unsafe path `{p}`"));
        }
        if let Some(r) = self.renames.iter().find(|r| !is_temp_name(file_name(&r.temp))) {
            return Err(format!("`{}` is not a stackc temp file name", r.temp));
        }
        if let Some(c) = self.chmods.iter().find(|c| c.mode & !0o777 != 0) {
            return Err(format!("it sets the mode {:o} on `{}`", c.mode, c.path));
        }
        Ok(())
    }

    /// Writes the journal; `durable` also syncs everything written before it (on Linux the
    /// whole file system, so the temp files too).
    fn save(&self, out_dir: &Path, durable: bool) -> Result<(), Refusal> {
        let mut text = serde_json::to_string_pretty(self).expect("a journal serialises");
        text.push('\n');
        let path = out_dir.join(JOURNAL);
        replace(&path, text.as_bytes(), durable).map_err(|e| Refusal::Io(path, e))
    }
}

fn file_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

fn parent(rel: &str) -> Option<&str> {
    rel.rsplit_once('/').map(|(dir, _)| dir)
}

/// A file to write: path, contents, executable.
type NewFile<'a> = (&'a str, &'a [u8], bool);

/// What a build changes in the output directory.
pub(super) struct Changes<'a> {
    /// Files to write. The manifest is renamed last.
    pub(super) writes: Vec<NewFile<'a>>,
    pub(super) chmods: Vec<(String, u32)>,
    pub(super) deletes: Vec<String>,
}

/// Applies `changes` to `out_dir` as one switch (see the module comment). The caller holds
/// the output directory's lock. On an error while writing the temp files, everything this
/// call created is removed again and the old files are untouched.
pub(super) fn commit(out_dir: &Path, changes: &Changes) -> Result<(), Refusal> {
    if changes.writes.is_empty() && changes.chmods.is_empty() && changes.deletes.is_empty() {
        return Ok(());
    }
    let mut dirs: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut inspector = Inspector::default();
    for (path, ..) in &changes.writes {
        let parts: Vec<&str> = path.split('/').collect();
        for i in 1..parts.len() {
            let dir = parts[..i].join("/");
            if seen.insert(dir.clone()) && !inspector.dir(out_dir, &dir)? {
                dirs.push(dir);
            }
        }
    }
    let renames: Vec<Rename> = changes
        .writes
        .iter()
        .map(|(path, ..)| Rename {
            temp: parent(path).map_or_else(temp_name, |dir| format!("{dir}/{}", temp_name())),
            target: path.to_string(),
        })
        .collect();
    let mut journal = Journal {
        state: State::Writing,
        dirs,
        renames,
        chmods: changes.chmods.iter().map(|(path, mode)| Chmod { path: path.clone(), mode: *mode }).collect(),
        deletes: changes.deletes.clone(),
    };
    // Not synced: after a power loss without it, the temp files are strays that the next
    // run removes by their names.
    journal.save(out_dir, false)?;
    let written = write_temps(out_dir, &journal, changes).and_then(|()| {
        journal.state = State::Switching;
        // One sync for the temp files and the journal, and one for the journal's rename:
        // from here on, the switch is decided.
        journal.save(out_dir, true)
    });
    if let Err(e) = written {
        roll_back(out_dir, &journal);
        return Err(e);
    }
    switch(out_dir, &journal)
}

fn write_temps(out_dir: &Path, journal: &Journal, changes: &Changes) -> Result<(), Refusal> {
    for dir in &journal.dirs {
        let path = out_dir.join(dir);
        fs::create_dir(&path).map_err(|e| Refusal::Io(path, e))?;
    }
    let files: Vec<(&Rename, &NewFile)> = journal.renames.iter().zip(&changes.writes).collect();
    in_halves(files, |part| {
        part.into_iter()
            .map(|(rename, (_, contents, executable))| {
                let mode = if *executable { 0o755 } else { 0o644 };
                write_new(&out_dir.join(&rename.temp), contents, Some(mode))
                    .map_err(|e| Refusal::Io(out_dir.join(&rename.target), e))
            })
            .collect()
    })?;
    Ok(())
}

/// Removes the temp files and the directories of a journal in the `writing` state, then
/// the journal.
fn roll_back(out_dir: &Path, journal: &Journal) {
    for r in &journal.renames {
        let _ = fs::remove_file(out_dir.join(&r.temp));
    }
    for dir in journal.dirs.iter().rev() {
        let _ = fs::remove_dir(out_dir.join(dir));
    }
    let _ = fs::remove_file(out_dir.join(JOURNAL));
}

/// Renames every temp file that is still there over its target (the manifest last), fixes
/// the modes, deletes the files no longer generated, then removes the journal. Each step
/// can run again after a kill: a missing temp file was renamed already.
fn switch(out_dir: &Path, journal: &Journal) -> Result<(), Refusal> {
    let (manifest, files): (Vec<&Rename>, Vec<&Rename>) = journal.renames.iter().partition(|r| r.target == MANIFEST);
    let mut inspector = Inspector::default();
    let mut rename = |r: &Rename| -> Result<(), Refusal> {
        let (temp, target) = (out_dir.join(&r.temp), out_dir.join(&r.target));
        // A symlink planted in a directory on the way after the journal was written must not
        // redirect the rename (a symlink at the target itself is replaced, never followed).
        if let Some(dir) = parent(&r.target) {
            inspector.dir(out_dir, dir)?;
        }
        match fs::rename(&temp, &target) {
            Ok(()) => Ok(()),
            // Renamed already, by the run this one completes.
            Err(e) if e.kind() == io::ErrorKind::NotFound && fs::symlink_metadata(&temp).is_err() => Ok(()),
            Err(e) => Err(Refusal::Io(target, e)),
        }
    };
    for r in files {
        rename(r)?;
    }
    for c in &journal.chmods {
        if inspect(out_dir, &c.path)?.is_some_and(|m| m.is_file()) {
            let path = out_dir.join(&c.path);
            super::set_mode(&path, c.mode).map_err(|e| Refusal::Io(path, e))?;
        }
    }
    for p in &journal.deletes {
        if inspect(out_dir, p)?.is_some_and(|m| m.is_file()) {
            let path = out_dir.join(p);
            fs::remove_file(&path).map_err(|e| Refusal::Io(path, e))?;
        }
        remove_empty_parents(out_dir, p);
    }
    for r in manifest {
        rename(r)?;
    }
    sync_dir(out_dir).map_err(|e| Refusal::Io(out_dir.to_path_buf(), e))?;
    // Not synced: if the removal is lost, the next run replays a finished switch, which
    // changes nothing.
    let path = out_dir.join(JOURNAL);
    fs::remove_file(&path).map_err(|e| Refusal::Io(path, e))
}

/// Removes the directories of a deleted file that are now empty, up to the output directory.
fn remove_empty_parents(out_dir: &Path, rel: &str) {
    let mut dir = parent(rel);
    while let Some(d) = dir {
        if fs::remove_dir(out_dir.join(d)).is_err() {
            break;
        }
        dir = parent(d);
    }
}

/// What `recover` did, for the message.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Recovered {
    Nothing,
    RolledBack,
    Completed,
}

/// Finishes what a killed stackc left in `out_dir`: a journal in the `switching` state is
/// completed, one in the `writing` state rolled back. The caller holds the lock.
pub(super) fn recover(out_dir: &Path) -> Result<Recovered, Refusal> {
    let path = out_dir.join(JOURNAL);
    let Some(meta) = inspect(out_dir, JOURNAL)? else {
        return Ok(Recovered::Nothing);
    };
    if !meta.is_file() {
        return Err(Refusal::Journal(path, "it is not a file".into()));
    }
    let text = fs::read(&path).map_err(|e| Refusal::Io(path.clone(), e))?;
    let journal: Journal = serde_json::from_slice(&text)
        .map_err(|e| Refusal::Journal(path.clone(), format!("it does not parse ({e})")))?;
    journal.validate().map_err(|why| Refusal::Journal(path, why))?;
    match journal.state {
        State::Writing => {
            roll_back(out_dir, &journal);
            Ok(Recovered::RolledBack)
        }
        State::Switching => switch(out_dir, &journal).map(|()| Recovered::Completed),
    }
}

/// Removes stackc's own temp files (by name, see `is_temp_name`) from `out_dir` and the
/// given directories below it (`/`-separated, relative), left there by a stackc killed
/// before it wrote its journal. Returns how many it removed.
pub(super) fn remove_stray_temps<'a>(out_dir: &Path, dirs: impl IntoIterator<Item = &'a str>) -> usize {
    let mut removed = 0;
    let dirs: BTreeSet<&str> = dirs.into_iter().collect();
    for dir in std::iter::once(None).chain(dirs.into_iter().map(Some)) {
        let path = match dir {
            None => out_dir.to_path_buf(),
            // Only directories reached without a symlink on the way.
            Some(d) => match inspect(out_dir, d) {
                Ok(Some(m)) if m.is_dir() => out_dir.join(d),
                _ => continue,
            },
        };
        let Ok(entries) = fs::read_dir(&path) else { continue };
        for entry in entries.flatten() {
            let is_temp = entry.file_name().to_str().is_some_and(is_temp_name);
            if is_temp && entry.file_type().is_ok_and(|t| !t.is_dir()) && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// The directories of an output directory that `create_out_dir` created, to remove them
/// again when the build fails.
pub(super) struct CreatedDirs(Vec<PathBuf>);

/// Creates the output directory and its missing parents, one at a time, remembering which.
pub(super) fn create_out_dir(out_dir: &Path) -> Result<CreatedDirs, Refusal> {
    let mut missing = Vec::new();
    let mut p = Some(out_dir);
    while let Some(dir) = p.filter(|d| !d.as_os_str().is_empty()) {
        match fs::symlink_metadata(dir) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => missing.push(dir.to_path_buf()),
            Err(e) => return Err(Refusal::Io(dir.to_path_buf(), e)),
        }
        p = dir.parent();
    }
    let mut created = CreatedDirs(Vec::new());
    for dir in missing.into_iter().rev() {
        match fs::create_dir(&dir) {
            Ok(()) => created.0.push(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => {
                created.remove();
                return Err(Refusal::Io(dir, e));
            }
        }
    }
    Ok(created)
}

impl CreatedDirs {
    /// Removes the directories, deepest first, as long as they are empty.
    pub(super) fn remove(&self) {
        for dir in self.0.iter().rev() {
            if fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names() {
        let name = temp_name();
        assert!(is_temp_name(&name), "{name}");
        assert!(name.len() < 40);
        assert!(is_temp_name(".stackc-tmp-12-0"));
        assert!(is_temp_name(".docker-compose.yml.stackc-tmp-12-3"));
        for not in [
            ".stackc-tmp-12",
            ".stackc-tmp-a-1",
            "stackc-tmp-1-2",
            "x.stackc-tmp-1-2",
            ".stackc-tmp-1-2x",
            ".stackc-journal",
        ] {
            assert!(!is_temp_name(not), "{not}");
        }
    }

    #[test]
    fn journals_with_unsafe_paths_are_refused() {
        let j = |temp: &str, target: &str| Journal {
            state: State::Switching,
            dirs: vec![],
            renames: vec![Rename { temp: temp.into(), target: target.into() }],
            chmods: vec![],
            deletes: vec![],
        };
        assert!(j(".stackc-tmp-1-2", "a.yml").validate().is_ok());
        assert!(j("k8s/.stackc-tmp-1-2", "k8s/a.yml").validate().is_ok());
        assert!(j(".stackc-tmp-1-2", "../a.yml").validate().is_err());
        assert!(j("notes.txt", "a.yml").validate().is_err());
        assert!(j("/etc/.stackc-tmp-1-2", "a.yml").validate().is_err());
        let mut setuid = j(".stackc-tmp-1-2", "a.yml");
        setuid.chmods.push(Chmod { path: "a.yml".into(), mode: 0o4755 });
        assert!(setuid.validate().is_err());
    }
}
