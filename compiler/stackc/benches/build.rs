//! How building the compose target scales: the synthetic stacks of `check.rs` (10 to 10 000
//! services, file secrets read from the environment instead), built for compose only.
//!
//! Groups: `compose-emit` (the compose target alone on the lowered stack: `compose::check`
//! and `compose::emit`) and `build-compose` (the whole `stackc::build`: compile, then the
//! target). Both report bytes of stack text per second. Each stack is built once before it
//! is measured: it must build with no errors and give a compose file naming every service.
//!
//! `build-all` builds every implemented target (compose, nginx, Caddy, Prometheus, UFW, …)
//! from the same stack with, in proportion to its size, a scrape job, an alert, a firewall
//! rule and a volume backup per ten services, and a blackbox probe per site. With
//! `STACKC_PROFILE=1` it first prints, once, how long each target's emitter takes alone at
//! 1 000 and 10 000 services (how the quadratic upstream lookup of the nginx target was found).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stackc::emit::{compose, EmitOptions, IMPLEMENTED};
use stackc::ir::TargetKind;
use stackc::Options;

mod gen;
use gen::{all_targets_stack, compose_stack};

const SIZES: &[usize] = &[10, 100, 1_000, 10_000];

fn all_targets() -> EmitOptions {
    EmitOptions { targets: Some(IMPLEMENTED.to_vec()), base_dir: "../..".into(), ..EmitOptions::default() }
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

    let all: Vec<(usize, String)> = SIZES.iter().map(|&n| (n, all_targets_stack(n))).collect();
    for (n, text) in &all {
        let built = stackc::build("bench.stack.kdl", text, &Options::default(), &all_targets());
        let errors: Vec<String> =
            built.outcome.diagnostics.iter().filter(|d| d.is_error()).take(5).map(|d| d.message.clone()).collect();
        assert!(errors.is_empty(), "the all-targets stack of {n} services does not build: {errors:?}");
        let bytes: usize = built.files.iter().map(|f| f.contents.len()).sum();
        eprintln!(
            "all targets, {n} services: {} bytes of stack, {} files, {bytes} bytes",
            text.len(),
            built.files.len()
        );
    }
    if std::env::var("STACKC_PROFILE").is_ok() {
        for (n, text) in all.iter().skip(2) {
            let stack = stackc::compile("bench.stack.kdl", text, &Options::default()).stack.expect("a stack");
            for t in IMPLEMENTED {
                let opts = EmitOptions { targets: Some(vec![*t]), base_dir: "../..".into(), ..EmitOptions::default() };
                let start = std::time::Instant::now();
                let out = stackc::emit::emit(&stack, &opts);
                eprintln!("PROFILE {n} {:?}: {:?} ({} files)", t, start.elapsed(), out.files.len());
            }
            let start = std::time::Instant::now();
            let _ = stackc::compile("bench.stack.kdl", text, &Options::default());
            eprintln!("PROFILE {n} compile: {:?}", start.elapsed());
        }
    }
    let mut group = c.benchmark_group("build-all");
    for (n, text) in &all {
        configure(&mut group, *n);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), text, |b, text| {
            b.iter(|| stackc::build("bench.stack.kdl", std::hint::black_box(text), &Options::default(), &all_targets()))
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
