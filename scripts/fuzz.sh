#!/usr/bin/env bash
# Bounded fuzzing of every cargo-fuzz target in fuzz/ (`just fuzz SECONDS`): SECONDS per target.
# New inputs go to fuzz/corpus/<target> (ignored by git) with the committed fuzz/seeds/<target>
# as seeds; crashes land in fuzz/artifacts/<target>/. Needs a nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`). Set FUZZ_TARGETS="a b" to run a subset.
set -euo pipefail

duration="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"
targets=(${FUZZ_TARGETS:-lockfile npmrc tarball msgpackr})

cargo +nightly fuzz build
failed=()
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    echo "== fuzzing $target for ${duration}s"
    start=$(date +%s)
    if ! cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$duration" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1; then
        failed+=("$target")
    fi
    echo "== $target: $(($(date +%s) - start))s"
done
if ((${#failed[@]})); then
    echo "crashes in: ${failed[*]} (see fuzz/artifacts/)" >&2
    exit 1
fi
