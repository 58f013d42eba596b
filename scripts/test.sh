#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it. Installs what a fresh machine lacks first:
# cargo-nextest (if missing) and pnpm 12 (into .tools/, used by conformance and interop tests).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
ensure_nextest
ensure_pnpm
ensure_xfsprogs
# Integration tests run the real binaries; build them once up front.
cargo build --workspace --bins --locked
cargo nextest run --workspace --locked --no-fail-fast "$@"
