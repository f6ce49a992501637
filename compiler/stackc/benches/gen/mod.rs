//! The synthetic stacks the benches build: shared by `check.rs` and `build.rs`, so that both
//! measure the same input.

use std::fmt::Write as _;

/// A realistic stack of `n` services: each with an image, one or two ports, several env
/// vars (one a secret reference), a named-volume or bind mount, a `depends-on` an earlier
/// service (healthy), a health check, resources and networks; plus volumes, secrets and
/// networks in proportion, a proxy with sites routing to every tenth service, params and
/// an environment overlay.
pub fn synthetic_stack(n: usize) -> String {
    let volumes = n.div_ceil(4);
    let secrets = n.div_ceil(10);
    let networks = n.div_ceil(50);
    let mut s = String::with_capacity(n * 700);
    let w = &mut s;
    let _ = writeln!(w, "// Synthetic benchmark stack: {n} services.");
    let _ = writeln!(w, "stack \"bench-{n}\" {{");
    let _ = writeln!(w, "    description \"Synthetic stack with {n} services for benchmarks\"");
    let _ = writeln!(w, "    domain \"${{domain}}\"");
    let _ = writeln!(w, "}}\n");
    let _ = writeln!(w, "param \"domain\" default=\"example.com\" env=\"DOMAIN\"");
    let _ = writeln!(w, "param \"image-tag\" default=\"1.4.2\" env=\"IMAGE_TAG\"");
    let _ = writeln!(w, "param \"log-level\" default=\"info\"");
    let _ = writeln!(w, "param \"registry\" default=\"ghcr.io/acme\"\n");
    let _ = writeln!(w, "network \"edge\"");
    for k in 0..networks {
        let _ = writeln!(w, "network \"backend-{k}\" internal=#true");
    }
    let _ = writeln!(w);
    for k in 0..volumes {
        let _ = writeln!(w, "volume \"data-{k}\" size=\"{}Gi\"", 1 + k % 50);
    }
    let _ = writeln!(w);
    for k in 0..secrets {
        if k % 2 == 0 {
            let _ = writeln!(w, "secret \"secret-{k}\" env=\"SECRET_{k}\"");
        } else {
            let _ = writeln!(w, "secret \"secret-{k}\" file=\"secrets/secret_{k}.txt\"");
        }
    }
    let _ = writeln!(w);
    for i in 0..n {
        let _ = writeln!(w, "service \"svc-{i}\" {{");
        let _ = writeln!(w, "    image \"${{registry}}/svc-{i}:${{image-tag}}\"");
        let _ = writeln!(w, "    port 8080 name=\"http\"");
        if i % 3 == 0 {
            let _ = writeln!(w, "    port 9090 name=\"metrics\"");
        }
        let _ = writeln!(
            w,
            "    env LOG_LEVEL=\"${{log-level}}\" SERVICE_NAME=\"svc-{i}\" PORT=8080 WORKERS={}",
            1 + i % 8
        );
        let _ = writeln!(w, "    env PUBLIC_URL=\"https://${{domain}}/svc-{i}\" FEATURE_FLAGS=\"a,b,c\"");
        let _ = writeln!(w, "    env API_TOKEN=(secret)\"secret-{}\"", i % secrets);
        if i % 2 == 0 {
            // Each volume is mounted by at most two services, neither with replicas.
            let _ = writeln!(w, "    mount \"data-{}\" \"/var/lib/svc\"", (i / 2) % volumes);
        } else {
            let _ = writeln!(w, "    mount \"./config/svc-{i}.toml\" \"/etc/svc/config.toml\" read-only=#true");
        }
        if i > 0 {
            let dep = i - 1 - (i * 7) % i.min(10);
            let _ = writeln!(w, "    depends-on \"svc-{dep}\" healthy=#true");
        }
        let _ = writeln!(
            w,
            "    health http=\"/health\" port=\"http\" interval=\"30s\" timeout=\"5s\" retries=3 start-period=\"20s\""
        );
        let _ = writeln!(w, "    resources cpus=0.5 memory=\"512M\" reserve-cpus=0.1 reserve-memory=\"128M\"");
        let _ = writeln!(w, "    restart \"unless-stopped\"");
        let _ = writeln!(w, "    networks \"edge\" \"backend-{}\"", i % networks);
        let _ = writeln!(w, "}}\n");
    }
    let _ = writeln!(w, "proxy {{");
    let _ = writeln!(w, "    tls email=\"ops@example.com\"");
    let _ = writeln!(w, "    security-headers \"strict\"");
    let _ = writeln!(w, "    rate-limit \"api\" rate=\"10r/s\" burst=20");
    let _ = writeln!(w, "    body-limit \"10M\"");
    let _ = writeln!(w, "    gzip #true");
    let _ = writeln!(w, "}}\n");
    // One site per 20 services, each routing to two of them.
    for k in 0..n.div_ceil(20) {
        let (a, b) = (k * 20, (k * 20 + 10).min(n - 1));
        let _ = writeln!(w, "site \"site-{k}.${{domain}}\" {{");
        let _ = writeln!(w, "    route \"/\" to=\"svc-{a}\"");
        let _ = writeln!(w, "    route \"/api/\" to=\"svc-{b}\" rate-limit=\"api\" websocket=#true");
        let _ = writeln!(w, "}}\n");
    }
    let _ = writeln!(w, "env \"staging\" {{");
    let _ = writeln!(w, "    param \"image-tag\" default=\"1.5.0-rc.1\"");
    let _ = writeln!(w, "    param \"log-level\" default=\"debug\"");
    for i in (0..n).step_by(10) {
        let _ = writeln!(w, "    service \"svc-{i}\" {{");
        let _ = writeln!(w, "        resources cpus=0.25 memory=\"256M\"");
        let _ = writeln!(w, "    }}");
    }
    let _ = writeln!(w, "}}");
    s
}

// Not every bench uses every generator.
#[allow(dead_code)]
/// The stack of `check.rs`, with its file secrets read from the environment instead: compose
/// cannot put a file secret into an `env` value (E0501), and every service's `API_TOKEN` is
/// one. Nothing else changes.
pub fn compose_stack(n: usize) -> String {
    let text = synthetic_stack(n).replace("file=\"secrets/secret_", "env=\"SECRET_FILE_").replace(".txt\"", "\"");
    assert!(!text.contains(" file=\""), "the generator has another file secret");
    text
}

// Not every bench uses every generator.
#[allow(dead_code)]
/// `compose_stack(n)` with monitoring, alerts, a firewall and backups in proportion, so that
/// every target has work that grows with the stack.
pub fn all_targets_stack(n: usize) -> String {
    let mut s = compose_stack(n);
    let w = &mut s;
    let _ = writeln!(w, "monitoring {{");
    let _ = writeln!(w, "    prometheus retention=\"30d\" scrape-interval=\"15s\"");
    let _ = writeln!(w, "    exporters \"node\" \"blackbox\"");
    for k in 0..n.div_ceil(20) {
        let _ = writeln!(w, "    probe \"https://site-{k}.example.com/health\"");
    }
    for i in (0..n).step_by(10) {
        let _ = writeln!(w, "    scrape \"svc-{i}-metrics\" target=\"svc-{i}:9090\" interval=\"30s\"");
    }
    let _ = writeln!(w, "}}");
    let _ = writeln!(w, "alerts \"services\" {{");
    for i in (0..n).step_by(10) {
        let _ = writeln!(
            w,
            "    alert \"Svc{i}Down\" expr=#\"up{{job=\"svc-{i}-metrics\"}} == 0\"# for=\"2m\" severity=\"critical\""
        );
    }
    let _ = writeln!(w, "}}");
    let _ = writeln!(w, "firewall {{");
    let _ = writeln!(w, "    default incoming=\"deny\" outgoing=\"allow\"");
    for i in (0..n).step_by(10) {
        // Ports stay below 65 536 at 100 000 services; the same up to 45 000.
        let (port, net) = (20_000 + i % 45_000, 10 + i / 45_000);
        let _ = writeln!(w, "    allow {port} from=\"{net}.{}.0.0/16\" protocol=\"tcp\" comment=\"svc-{i}\"", i % 250);
    }
    let _ = writeln!(w, "}}");
    for k in (0..n.div_ceil(4)).step_by(10) {
        let _ = writeln!(
            w,
            "backup \"data-{k}\" volume=\"data-{k}\" schedule=\"0 3 * * *\" retain=\"7d\" to=\"/var/backups/data-{k}\""
        );
    }
    s
}

/// A criterion group of one size-dependent configuration.
pub type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

// Not every bench uses every helper.
#[allow(dead_code)]
/// With `STACKC_BENCH_DUMP=DIR`, writes the stacks out as `DIR/<prefix>-<n>.stack.kdl`, to
/// run the CLI on them (`scripts/bench-vs-jrsonnet`, `perf record target/release/stackc
/// check …`).
pub fn dump(stacks: &[(usize, String)], prefix: &str) {
    let Some(dir) = std::env::var_os("STACKC_BENCH_DUMP").map(std::path::PathBuf::from) else { return };
    for (n, text) in stacks {
        let path = dir.join(format!("{prefix}-{n}.stack.kdl"));
        std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, text)).expect("write the stack");
    }
}

// Not every bench uses every helper.
#[allow(dead_code)]
/// The groups `<prefix>parse` (`syntax::parse`) and `<prefix>check` (`stackc::compile`, what
/// `stackc check` runs) over the stacks, in bytes of stack text per second.
pub fn parse_and_check(
    c: &mut criterion::Criterion,
    prefix: &str,
    stacks: &[(usize, String)],
    configure: fn(&mut Group<'_>, usize),
) {
    use criterion::{BenchmarkId, Throughput};
    let mut group = c.benchmark_group(format!("{prefix}parse"));
    for (n, text) in stacks {
        configure(&mut group, *n);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), text, |b, text| {
            b.iter(|| stackc::syntax::parse(stackc::source::SourceId(0), std::hint::black_box(text)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group(format!("{prefix}check"));
    for (n, text) in stacks {
        configure(&mut group, *n);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), text, |b, text| {
            b.iter(|| stackc::compile("bench.stack.kdl", std::hint::black_box(text), &stackc::Options::default()))
        });
    }
    group.finish();
}
