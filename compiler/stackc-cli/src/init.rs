//! `stackc init [DIR]`: a commented starter stack (a web application and PostgreSQL behind
//! nginx with Let's Encrypt, a firewall, monitoring) that checks and builds without a
//! diagnostic. It is `examples/starter.stack.kdl` with the stack's name: as an example it has
//! golden outputs that every validator judges; `tests/commands.rs` runs `init` itself.

use std::path::Path;
use std::process::ExitCode;

const STARTER: &str = include_str!("../../../examples/starter.stack.kdl");

/// The starter stack named `name` (a valid stack name).
pub fn starter(name: &str) -> String {
    STARTER
        .replace("starter.stack.kdl", &format!("{name}.stack.kdl"))
        .replace("build/starter/", &format!("build/{name}/"))
        .replace("stack \"starter\"", &format!("stack {}", stackc::syntax::quote(name)))
        .replace("namespace=\"starter\"", &format!("namespace={}", stackc::syntax::quote(name)))
}

/// The stack name for a directory: its name made a valid name, else `app`.
fn name_for(dir: &Path) -> String {
    let base = std::path::absolute(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let mut name: String = base
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    name.truncate(40);
    let name = name.trim_end_matches('-').to_string();
    if stackc::validate::values::name(&name).is_ok() {
        name
    } else {
        "app".into()
    }
}

pub fn run(dir: &Path, name: Option<&str>) -> ExitCode {
    let name = match name {
        Some(n) => {
            if let Err(e) = stackc::validate::values::name(n) {
                eprintln!("error: `{n}` cannot name a stack: {}", e.message);
                if let Some(h) = e.help {
                    eprintln!("help: {h}");
                }
                return ExitCode::from(2);
            }
            n.to_string()
        }
        None => name_for(dir),
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    let path = dir.join(format!("{name}.stack.kdl"));
    // `create_new`: never over a file that exists, even one created since the check.
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path);
    let written = file.and_then(|mut f| std::io::Write::write_all(&mut f, starter(&name).as_bytes()));
    match written {
        Ok(()) => {
            eprintln!("wrote {}", path.display());
            eprintln!("next: edit it, then `stackc check {0}` and `stackc build {0}`", path.display());
            ExitCode::SUCCESS
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!("error: {} exists; stackc init does not overwrite a file", path.display());
            eprintln!("help: give another directory, or another name with --name");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", path.display());
            ExitCode::from(2)
        }
    }
}
