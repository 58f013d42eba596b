#!/usr/bin/env bash
# Runs the reliability suite in its long form (TACK_STRESS=1) and prints one table:
# scenario, runs, passes, failures and the seed, from the rows each test appends to
# $TACK_STRESS_RESULTS. Extra arguments go to cargo nextest (e.g. a test filter).
set -uo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target/stress"
results="$(cd "$target/stress" && pwd)/results.tsv"
: > "$results"
cargo build -p tack-cli ${TACK_STRESS_PROFILE:+--profile "$TACK_STRESS_PROFILE"}
TACK_STRESS=1 TACK_STRESS_RESULTS="$results" cargo nextest run -p tack-suite \
    ${TACK_STRESS_PROFILE:+--cargo-profile "$TACK_STRESS_PROFILE"} \
    --no-fail-fast -E 'binary(/^reliability/)' "$@"
status=$?
echo
printf '%-52s %6s %6s %8s  %s\n' scenario runs passes failures seed
while IFS=$'\t' read -r scenario runs passes failures seed; do
    printf '%-52s %6s %6s %8s  %s\n' "$scenario" "$runs" "$passes" "$failures" "$seed"
done < "$results"
exit $status
