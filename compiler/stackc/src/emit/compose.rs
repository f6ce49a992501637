//! The docker compose target (being written).
use super::OutputFile;
use crate::diagnostics::Diagnostic;
use crate::ir::Stack;
pub fn check(_stack: &Stack) -> Vec<Diagnostic> {
    Vec::new()
}
pub fn emit(_stack: &Stack) -> Vec<OutputFile> {
    Vec::new()
}
