//! Helpers shared by the test files (`mod support;`). Each test file is its own crate and
//! uses only some of them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The repository's top directory (golden/, examples/, docs/).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Whether this is CI (`CI` set and not `0`/`false`): there a missing validator fails the
/// test instead of printing NOT RUN.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The lines of one service in a compose file (`  name:` up to the next service).
pub fn service_block(compose: &str, name: &str) -> String {
    let mut out = Vec::new();
    let mut inside = false;
    let mut in_services = false;
    for line in compose.lines() {
        if !line.starts_with(' ') {
            in_services = line == "services:";
            inside = false;
            continue;
        }
        if in_services && line.starts_with("  ") && !line.starts_with("   ") {
            inside = line == format!("  {name}:");
            continue;
        }
        if inside {
            out.push(line.strip_prefix("    ").unwrap_or(line).to_string());
        }
    }
    assert!(!out.is_empty(), "no service `{name}` in:\n{compose}");
    out.join("\n")
}
