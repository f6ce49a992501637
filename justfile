# Developer shortcuts. CI runs `.ci/run`, which runs the same test command as `just test`.

# Build stackc and check every example
check-examples:
    cargo run -q -p stackc-cli -- check examples/*.stack.kdl

# The test suite (the README's second command)
test:
    scripts/test

# Re-bless insta snapshots (diagnostic reports, formatter cases) after reviewing the diff
bless:
    INSTA_UPDATE=always cargo test --workspace

lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Criterion benchmarks of parse vs the rest for 10..10 000 services (see docs/performance.md)
bench:
    cargo bench -p stackc --bench check

fmt-examples:
    cargo run -q -p stackc-cli -- fmt examples/*.stack.kdl
