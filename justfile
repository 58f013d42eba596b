# tack's developer recipes. `just --list` shows them.

# The whole test suite, as CI runs it.
test *ARGS:
    bash .ci/run {{ARGS}}

# fmt check plus clippy with warnings denied.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Side-by-side benchmarks against pnpm 12, pnpm 11 and bun (see benches/README.md).
bench *ARGS:
    bash benches/run.sh {{ARGS}}

# The test registry as a process; pass `--mirror DIR` to serve a filled mirror.
registry *ARGS:
    cargo run --release -p tack-test-registry --bin tack-registry -- {{ARGS}}

# Long reliability runs (kill loops, concurrency, faults, corruption, disk full) in release,
# then one table: scenario, runs, passes, failures, seed.
stress *ARGS:
    TACK_STRESS_PROFILE=release bash scripts/stress-report.sh {{ARGS}}

# Bounded fuzzing of every target.
fuzz SECONDS="60":
    bash scripts/fuzz.sh {{SECONDS}}
