#!/usr/bin/env bash
# Installs the bundled example project (examples/app) with tack from the registry npm is
# configured with, then runs one of its bins to show that the tree works.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p tack-cli --bin tack
./target/release/tack install --frozen-lockfile --dir examples/app
cd examples/app
./node_modules/.bin/semver 1.2.3 -r '^1.0.0'
./node_modules/.bin/cowsay "installed by tack"
