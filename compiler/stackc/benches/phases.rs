//! Each phase of a build, at 10 to 10 000 services (and 100 000 with
//! `STACKC_BENCH_LARGE=1`): the all-targets stack of `build.rs` (services, monitoring,
//! alerts, a firewall and backups in proportion).
//!
//! Groups, all in bytes of stack text per second:
//! - `phase-parse`: KDL text → AST (`syntax::parse`);
//! - `phase-check`: `stackc::compile` (parse, validation of every environment, lowering),
//!   what `stackc check` runs;
//! - `phase-<target>`: one target's emitter alone on the lowered stack (`emit::emit` with
//!   that target only; compose also builds the proxy and monitoring files it mounts);
//! - `phase-build-all`: `stackc::build` of every implemented target, from the text.
//!
//! Writing the files is the CLI's (`stackc-cli`), measured by `scripts/bench-vs-jrsonnet`
//! as the whole process, with its peak memory.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stackc::emit::{EmitOptions, IMPLEMENTED};
use stackc::Options;

mod gen;
use gen::all_targets_stack;

fn sizes() -> Vec<usize> {
    let mut sizes = vec![10, 100, 1_000, 10_000];
    if std::env::var_os("STACKC_BENCH_LARGE").is_some() {
        sizes.push(100_000);
    }
    sizes
}

fn targets(t: Option<stackc::ir::TargetKind>) -> EmitOptions {
    EmitOptions {
        targets: Some(t.map_or_else(|| IMPLEMENTED.to_vec(), |t| vec![t])),
        base_dir: "../..".into(),
        ..EmitOptions::default()
    }
}

fn configure(group: &mut gen::Group<'_>, n: usize) {
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(200));
    group.measurement_time(Duration::from_secs(match n {
        0..=1_000 => 1,
        1_001..=10_000 => 3,
        _ => 10,
    }));
}

fn benches(c: &mut Criterion) {
    let stacks: Vec<(usize, String)> = sizes().into_iter().map(|n| (n, all_targets_stack(n))).collect();
    for (n, text) in &stacks {
        // The build must succeed, or the numbers would be those of an early exit.
        let built = stackc::build("bench.stack.kdl", text, &Options::default(), &targets(None));
        let errors: Vec<String> =
            built.outcome.diagnostics.iter().filter(|d| d.is_error()).take(5).map(|d| d.message.clone()).collect();
        assert!(errors.is_empty(), "the all-targets stack of {n} services does not build: {errors:?}");
        let bytes: usize = built.files.iter().map(|f| f.contents.len()).sum();
        eprintln!("{n} services: {} bytes of stack, {} files, {bytes} bytes", text.len(), built.files.len());
    }
    gen::dump(&stacks, "all");

    gen::parse_and_check(c, "phase-", &stacks, configure);

    let lowered: Vec<(usize, usize, stackc::ir::Stack)> = stacks
        .iter()
        .map(|(n, text)| {
            let stack = stackc::compile("bench.stack.kdl", text, &Options::default()).stack.expect("a stack");
            (*n, text.len(), stack)
        })
        .collect();
    for t in IMPLEMENTED {
        let mut group = c.benchmark_group(format!("phase-{}", format!("{t:?}").to_lowercase()));
        let opts = targets(Some(*t));
        for (n, len, stack) in &lowered {
            configure(&mut group, *n);
            group.throughput(Throughput::Bytes(*len as u64));
            group.bench_with_input(BenchmarkId::from_parameter(n), stack, |b, stack| {
                b.iter(|| stackc::emit::emit(std::hint::black_box(stack), &opts))
            });
        }
        group.finish();
    }

    let mut group = c.benchmark_group("phase-build-all");
    let opts = targets(None);
    for (n, text) in &stacks {
        configure(&mut group, *n);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), text, |b, text| {
            b.iter(|| stackc::build("bench.stack.kdl", std::hint::black_box(text), &Options::default(), &opts))
        });
    }
    group.finish();
}

criterion_group!(phases, benches);
criterion_main!(phases);
