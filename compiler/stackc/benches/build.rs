//! How building the compose target scales: the synthetic stacks of `check.rs` (10 to 10 000
//! services, file secrets read from the environment instead), built for compose only.
//!
//! Groups: `compose-emit` (the compose target alone on the lowered stack: `compose::check`
//! and `compose::emit`) and `build-compose` (the whole `stackc::build`: compile, then the
//! target). Both report bytes of stack text per second. Each stack is built once before it
//! is measured: it must build with no errors and give a compose file naming every service.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stackc::emit::{compose, EmitOptions};
use stackc::ir::TargetKind;
use stackc::Options;

mod gen;
use gen::synthetic_stack;

const SIZES: &[usize] = &[10, 100, 1_000, 10_000];

/// The stack of `check.rs`, with its file secrets read from the environment instead: compose
/// cannot put a file secret into an `env` value (E0501), and every service's `API_TOKEN` is
/// one. Nothing else changes.
fn compose_stack(n: usize) -> String {
    let text = synthetic_stack(n).replace("file=\"secrets/secret_", "env=\"SECRET_FILE_").replace(".txt\"", "\"");
    assert!(!text.contains(" file=\""), "the generator has another file secret");
    text
}

fn emit_options() -> EmitOptions {
    EmitOptions { targets: Some(vec![TargetKind::Compose]), base_dir: "../..".into(), ..EmitOptions::default() }
}

/// The build must succeed and the compose file hold every service, or the numbers would
/// be those of an early exit.
fn assert_builds(n: usize, text: &str) -> usize {
    let built = stackc::build("bench.stack.kdl", text, &Options::default(), &emit_options());
    let errors: Vec<String> = built
        .outcome
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .take(5)
        .map(|d| format!("{} {}", d.code.as_str(), d.message))
        .collect();
    assert!(errors.is_empty(), "the synthetic stack of {n} services does not build:\n{}", errors.join("\n"));
    let file = built.files.iter().find(|f| f.path == "docker-compose.yml").expect("a compose file");
    for i in [0, n / 2, n - 1] {
        assert!(file.contents.contains(&format!("\n  svc-{i}:\n")), "svc-{i} is missing from the compose file");
    }
    file.contents.len()
}

fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, n: usize) {
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(if n >= 10_000 { 500 } else { 300 }));
    group.measurement_time(Duration::from_secs(match n {
        0..=100 => 1,
        101..=1_000 => 3,
        _ => 8,
    }));
}

fn benches(c: &mut Criterion) {
    let stacks: Vec<(usize, String)> = SIZES.iter().map(|&n| (n, compose_stack(n))).collect();
    for (n, text) in &stacks {
        let out = assert_builds(*n, text);
        eprintln!("stack of {n} services: {} bytes, compose file {out} bytes", text.len());
    }

    let mut group = c.benchmark_group("compose-emit");
    for (n, text) in &stacks {
        let stack = stackc::compile("bench.stack.kdl", text, &Options::default()).stack.expect("a stack");
        let opts = emit_options();
        configure(&mut group, *n);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &stack, |b, stack| {
            b.iter(|| {
                let diags = compose::check(std::hint::black_box(stack));
                (diags, compose::emit(stack, &opts))
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("build-compose");
    for (n, text) in &stacks {
        configure(&mut group, *n);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), text, |b, text| {
            b.iter(|| {
                stackc::build("bench.stack.kdl", std::hint::black_box(text), &Options::default(), &emit_options())
            })
        });
    }
    group.finish();
}

criterion_group!(build, benches);
criterion_main!(build);
