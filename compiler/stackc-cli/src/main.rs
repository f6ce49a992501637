//! The `stackc` binary: everything is in the `stackc_cli` library (`src/lib.rs`), which
//! the pre-commit hook's package at the repository root builds as `stackc-hook` too.

fn main() -> std::process::ExitCode {
    stackc_cli::main()
}
