//! Helpers every test file that runs a real tool needs (`mod support;`).

use std::path::{Path, PathBuf};

/// The repository's top directory (golden/, examples/, docs/).
#[allow(dead_code)] // not every test file reads the tree
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Whether this is CI (`CI` set and not `0`/`false`): there a missing validator fails the
/// test instead of printing NOT RUN.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}
