#!/usr/bin/env bash
# Generates a benchmark fixture (see gen-fixture.py) and locks it with real pnpm 12 and bun
# against the test registry serving the mirror, so that `benches/run.sh --fixture KIND` can
# run it offline like the shared fixtures.
#
#   benches/gen-fixture.sh many-files|workspace OUT_DIR MIRROR_DIR REGISTRY_BIN PNPM BUN
set -euo pipefail
kind=$1 out=$2 mirror=$3 registry_bin=$4 pnpm=$5 bun=$6
here="$(cd "$(dirname "$0")" && pwd)"

rm -rf "$out"
mkdir -p "$out" "$mirror"
python3 "$here/gen-fixture.py" "$kind" "$out" "$mirror"

home=$(mktemp -d)
url_file="$home/registry.url"
"$registry_bin" --port 0 --mirror "$mirror" --no-fixtures > "$url_file" 2> "$home/registry.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$home"' EXIT
for _ in $(seq 50); do [ -s "$url_file" ] && break; sleep 0.1; done
url=$(head -1 "$url_file")
port=$(echo "$url" | sed -E 's#.*:([0-9]+)/?$#\1#')

printf 'registry=%s\n' "$url" > "$out/.npmrc"
cp "$out/pnpm-workspace.yaml" "$home/workspace.yaml"
printf 'minimumReleaseAge: 0\n' >> "$out/pnpm-workspace.yaml"
(cd "$out" && HOME="$home" CI=true "$pnpm" install --lockfile-only --ignore-scripts --store-dir "$home/store" >&2)
(cd "$out" && HOME="$home" BUN_INSTALL_CACHE_DIR="$home/bun-cache" "$bun" install --lockfile-only --ignore-scripts --save-text-lockfile >&2)
# run.sh points bun.lock at its own registry port; the shared fixtures use 4873.
sed -i "s#127.0.0.1:$port#127.0.0.1:4873#g" "$out/bun.lock"
cp "$home/workspace.yaml" "$out/pnpm-workspace.yaml"
rm -rf "$out/.npmrc" "$out/node_modules"
touch "$mirror/.filled-$(basename "$out")"
echo "fixture $kind written to $out" >&2
