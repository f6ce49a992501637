//! The output directory's lock: one stackc at a time writes (or checks) a directory.
//!
//! The lock is an exclusive `flock`-style lock (`std::fs::File::lock`) on `.stackc-lock`
//! inside the output directory, created for the run and removed (while still locked) at its
//! end, so that it leaves no trace in a directory that is committed. A process that was
//! waiting on the removed file notices, once it gets the lock, that its file is no longer
//! the one at the path, and opens the path again: only the holder of the file at the path
//! ever proceeds. A killed stackc leaves the empty file behind; the next run reuses it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::Refusal;

/// The lock file, in the output directory. Never generated, never listed in the manifest.
pub const LOCK: &str = ".stackc-lock";

/// How long a build waits for another one by default; `STACKC_LOCK_TIMEOUT` (seconds)
/// changes it.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// A held lock; the file is removed and the lock released when dropped (the lock also when
/// the process dies, whatever kills it).
pub struct Lock {
    file: fs::File,
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        if still_there(&self.file, &self.path) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn timeout() -> Duration {
    std::env::var("STACKC_LOCK_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs_f64)
}

/// Opens (creating it if `create`) the lock file without following a symlink at its name.
fn open(path: &Path, create: bool) -> io::Result<fs::File> {
    let mut opts = fs::OpenOptions::new();
    opts.read(true);
    if create {
        opts.write(true).create(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    opts.open(path)
}

/// Whether `file` is still the file at `path` (it was not removed and replaced while we
/// waited for it).
fn still_there(file: &fs::File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), fs::symlink_metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.exists()
    }
}

/// Takes the exclusive lock of `out_dir` (which exists), waiting for another stackc with a
/// message, and failing after the timeout. `None` when `read_only` and the lock file can
/// neither be opened nor created (a read-only checkout that no stackc can write either).
pub fn acquire(out_dir: &Path, read_only: bool) -> Result<Option<Lock>, Refusal> {
    let path = out_dir.join(LOCK);
    let start = Instant::now();
    let limit = timeout();
    let mut told = false;
    loop {
        let file = match open(&path, true) {
            Ok(f) => f,
            Err(e)
                if read_only
                    && matches!(e.kind(), io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem) =>
            {
                match open(&path, false) {
                    Ok(f) => f,
                    Err(_) => return Ok(None),
                }
            }
            Err(e) => return Err(lock_error(path, e)),
        };
        loop {
            match file.try_lock() {
                Ok(()) if still_there(&file, &path) => return Ok(Some(Lock { file, path })),
                // Its holder removed it when done: lock the one at the path now.
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) => {}
                Err(fs::TryLockError::Error(e)) => return Err(lock_error(path, e)),
            }
            if start.elapsed() >= limit {
                return Err(Refusal::Locked(out_dir.to_path_buf(), limit));
            }
            if !told {
                eprintln!(
                    "waiting: another stackc is writing {} (it holds {}); waiting up to {} s",
                    out_dir.display(),
                    path.display(),
                    limit.as_secs_f64()
                );
                told = true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn lock_error(path: PathBuf, e: io::Error) -> Refusal {
    #[cfg(unix)]
    if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
        return Refusal::Symlink(path);
    }
    Refusal::Io(path, e)
}
