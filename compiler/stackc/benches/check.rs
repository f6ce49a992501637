//! How `stackc check` scales: synthetic stacks of 10 to 10 000 services.
//!
//! Groups: `parse` (KDL text -> AST only, `syntax::parse`) and `check` (the whole
//! `stackc::compile`: parse, validate every environment, lower, graph). Both report bytes
//! per second. `scripts/bench-linear.sh` runs this and prints the time per service, so
//! that 1 000 vs 10 000 shows whether a stage grows faster than linearly.
//!
//! Every generated stack is checked once before it is measured: it must compile with no
//! errors, or the bench would time an early exit.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use stackc::Options;

const SIZES: &[usize] = &[10, 100, 1_000, 10_000];

mod gen;
use gen::synthetic_stack;

/// The stack must compile cleanly, or the numbers would be those of an early exit.
fn assert_clean(n: usize, text: &str) {
    let out = stackc::compile("bench.stack.kdl", text, &Options::default());
    let errors: Vec<String> = out
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .take(5)
        .map(|d| format!("{} {}", d.code.as_str(), d.message))
        .collect();
    assert!(errors.is_empty(), "the synthetic stack of {n} services does not compile:\n{}", errors.join("\n"));
    assert!(out.stack.is_some());
}

fn configure(group: &mut gen::Group<'_>, n: usize) {
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(if n >= 10_000 { 500 } else { 300 }));
    group.measurement_time(Duration::from_secs(match n {
        0..=100 => 1,
        101..=1_000 => 3,
        _ => 8,
    }));
}

fn benches(c: &mut Criterion) {
    let stacks: Vec<(usize, String)> = SIZES.iter().map(|&n| (n, synthetic_stack(n))).collect();
    for (n, text) in &stacks {
        assert_clean(*n, text);
        eprintln!("stack of {n} services: {} bytes", text.len());
    }
    gen::dump(&stacks, "bench");
    gen::parse_and_check(c, "", &stacks, configure);
}

criterion_group!(check, benches);
criterion_main!(check);
