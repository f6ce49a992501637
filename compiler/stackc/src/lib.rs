//! stackc: compiles a `.stack.kdl` description of a deployment into target files.
//!
//! This crate is pure: it takes source text in memory and returns diagnostics, the IR
//! and output files. All I/O lives in `stackc-cli`. The stages, in order (see `driver`):
//! `syntax` (KDL -> AST) → `validate` (shape, values, references, rules, lints) →
//! `lower` (environments merged, AST -> `ir::Stack` + dependency graph).

pub mod diagnostics;
pub mod driver;
pub mod emit;
pub mod exposure;
pub mod fmt;
pub mod import;
pub mod ir;
pub mod lower;
pub mod references;
pub mod schema;
pub mod show;
pub mod source;
pub mod syntax;
pub mod validate;

pub use driver::{build, check, compile, decode, Built, Options, Outcome};
