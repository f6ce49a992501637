//! The inputs of `check` and `fmt`: files, `-` for standard input, and directories (every
//! `*.stack.kdl` below, in sorted order, so that runs are deterministic).

use std::path::{Path, PathBuf};

use crate::ReadError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    /// The name diagnostics show: the path, or for standard input `stdin_name`.
    pub fn display(&self, stdin_name: &str) -> String {
        match self {
            Input::Stdin => stdin_name.to_string(),
            Input::File(p) => p.display().to_string(),
        }
    }

    pub fn read(&self, stdin_name: &str) -> Result<String, ReadError> {
        match self {
            Input::File(p) => crate::read_source(p),
            Input::Stdin => {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes).map_err(ReadError::Io)?;
                stackc::decode(stdin_name, bytes).map_err(ReadError::NotUtf8)
            }
        }
    }
}

/// The inputs named on the command line, directories expanded; an error for a directory
/// without a stack file or `-` given twice.
pub fn expand(args: &[PathBuf]) -> Result<Vec<Input>, String> {
    let mut out = Vec::new();
    let mut stdin = false;
    for arg in args {
        if arg.as_os_str() == "-" {
            if std::mem::replace(&mut stdin, true) {
                return Err("`-` (standard input) is given twice".into());
            }
            out.push(Input::Stdin);
        } else if arg.is_dir() {
            let mut found = Vec::new();
            walk(arg, &mut found).map_err(|e| format!("cannot read {}: {e}", arg.display()))?;
            if found.is_empty() {
                return Err(format!("no *.stack.kdl file below {}", arg.display()));
            }
            found.sort();
            out.extend(found.into_iter().map(Input::File));
        } else {
            out.push(Input::File(arg.clone()));
        }
    }
    Ok(out)
}

/// Every `*.stack.kdl` below `dir`; hidden directories (`.git`) and symbolic links to
/// directories are not entered (a link cycle would never end).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if kind.is_dir() {
            if !name.starts_with('.') {
                walk(&path, out)?;
            }
        } else if name.ends_with(".stack.kdl") && (kind.is_file() || path.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_give_their_stack_files_sorted_and_stdin_once() {
        let dir = std::env::temp_dir().join(format!("stackc-inputs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for f in ["b/z.stack.kdl", "a.stack.kdl", "b/a.stack.kdl", "b/notes.kdl", ".git/x.stack.kdl", "c/d/e.stack.kdl"]
        {
            let p = dir.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "stack \"x\"\n").unwrap();
        }
        let got = expand(&[dir.clone(), PathBuf::from("-"), PathBuf::from("one.stack.kdl")]).unwrap();
        let want: Vec<Input> = ["a.stack.kdl", "b/a.stack.kdl", "b/z.stack.kdl", "c/d/e.stack.kdl"]
            .iter()
            .map(|f| Input::File(dir.join(f)))
            .chain([Input::Stdin, Input::File("one.stack.kdl".into())])
            .collect();
        assert_eq!(got, want);
        assert!(expand(&["-".into(), "-".into()]).unwrap_err().contains("twice"));
        std::fs::create_dir_all(dir.join("empty")).unwrap();
        assert!(expand(&[dir.join("empty")]).unwrap_err().starts_with("no *.stack.kdl file below"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
