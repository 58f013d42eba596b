#!/usr/bin/env bash
# Fills a mirror directory for `tack-registry --mirror DIR` from the registry npm is
# configured with (`npm config get registry`), once, so benchmarks can run offline.
#
#   scripts/fill-mirror.sh <pnpm-lock.yaml> <mirror-dir>
#
# For every `packages:` key `name@version` of the lockfile that has an integrity (registry
# packages), it downloads `<registry><name>/-/<scopeless>-<version>.tgz` into
# `<mirror-dir>/<name>/-/<scopeless>-<version>.tgz` and checks it against the lockfile's
# integrity. Files already present and valid are kept. The registry synthesizes packuments
# from the tarballs at serve time. Set FILL_MIRROR_JOBS to change the parallelism (8).
set -euo pipefail

if [ "${1:-}" = "--one" ]; then
  # Internal: fetch one "<key>\t<integrity>" line. Args: --one <registry> <dir> <key> <integrity>
  registry=$2 dir=$3 key=$4 integrity=$5
  name=${key%@*}
  version=${key##*@}
  version=${version%%+*}
  scopeless=${name##*/}
  file="$dir/$name/-/$scopeless-$version.tgz"
  algo=${integrity%%-*}
  want=${integrity#*-}
  check() { [ "$(openssl dgst "-$algo" -binary <"$1" | base64 -w0)" = "$want" ]; }
  if [ -f "$file" ] && check "$file"; then
    exit 0
  fi
  mkdir -p "$(dirname "$file")"
  tmp="$file.tmp.$$"
  if ! curl -fsSL --retry 3 -o "$tmp" "$registry$name/-/$scopeless-$version.tgz"; then
    rm -f "$tmp"
    echo "fill-mirror: cannot download $key" >&2
    exit 1
  fi
  if ! check "$tmp"; then
    rm -f "$tmp"
    echo "fill-mirror: $key does not match the lockfile integrity $integrity" >&2
    exit 1
  fi
  mv "$tmp" "$file"
  exit 0
fi

if [ $# -ne 2 ]; then
  echo "usage: $0 <pnpm-lock.yaml> <mirror-dir>" >&2
  exit 2
fi
lockfile=$1
dir=$2
for tool in curl openssl base64 npm; do
  command -v "$tool" >/dev/null || { echo "fill-mirror: $tool is required" >&2; exit 1; }
done
registry=$(npm config get registry 2>/dev/null)
case "$registry" in */) ;; *) registry="$registry/" ;; esac
mkdir -p "$dir"

# `packages:` keys (quotes stripped) with the integrity of their resolution; entries with a
# tarball/directory/git resolution or a non-registry key are skipped.
entries=$(awk '
  /^packages:/ { inside = 1; next }
  /^[^ ]/ { inside = 0 }
  inside && /^  [^ ]/ {
    key = $0; sub(/^  /, "", key); sub(/:[ ]*$/, "", key); gsub(/'\''/, "", key); next
  }
  inside && /^    resolution:/ {
    if ($0 ~ /tarball:|directory:|type:|repo:/) next
    if (match($0, /integrity: [^,} ]+/)) print key "\t" substr($0, RSTART + 11, RLENGTH - 11)
  }
' "$lockfile" | awk -F'\t' '$1 !~ /[():]/ && $1 ~ /.@[0-9]/')

count=$(printf '%s\n' "$entries" | grep -c . || true)
echo "fill-mirror: $count packages into $dir" >&2
printf '%s\n' "$entries" | grep . | tr '\t' '\n' |
  xargs -d '\n' -n 2 -P "${FILL_MIRROR_JOBS:-8}" bash "$0" --one "$registry" "$dir"
echo "fill-mirror: done" >&2
