#!/usr/bin/env bash
# Side-by-side install benchmarks: tack against pnpm 12, pnpm 11 and bun, on one machine, against
# the test registry serving a mirror on loopback. See benches/README.md for how to read the table.
#
# Usage: benches/run.sh [--fixture small|medium|many-files|workspace|DIR] [--runs N]
#                       [--scenarios cold,warm,noop,wiped,link,checked-warm,checked-cold,syscalls,
#                                    cold-hoisted,warm-hoisted,cold-gvs,warm-gvs,noop-gvs]
#                       [--tools tack,pnpm12,pnpm11,bun] [--no-settle] [--keep-caches]
#                       [--tack-base BIN]   # adds tool `tackbase`: another tack build, e.g. an older commit
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
source scripts/tools.sh

FIXTURE=medium
RUNS=5
SCENARIOS=cold,warm,noop,wiped
TOOLS=tack,pnpm12,pnpm11,bun
SETTLE=${TACK_BENCH_SETTLE:-365}
KEEP_CACHES=0
PORT=4873
while [ $# -gt 0 ]; do
  case "$1" in
    --fixture) FIXTURE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --tools) TOOLS=$2; shift 2 ;;
    --no-settle) SETTLE=0; shift ;;
    --keep-caches) KEEP_CACHES=1; shift ;;
    --port) PORT=$2; shift 2 ;;
    --tack-base) TACK_BASE=$(realpath "$2"); shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

GENERATED=""
case "$FIXTURE" in
  small|medium) FIXTURE_DIR="$REPO/../shared/fixtures/$FIXTURE" ;;
  many-files|workspace)
    FIXTURE_DIR="${TACK_BENCH_WORK:-$REPO/target/bench}/fixtures/$FIXTURE"
    GENERATED=$FIXTURE ;;
  *) FIXTURE_DIR="$(cd "$FIXTURE" && pwd)" ;;
esac
NAME=$(basename "$FIXTURE_DIR")
WORK="${TACK_BENCH_WORK:-$REPO/target/bench}/$NAME"
MIRROR="${TACK_BENCH_MIRROR:-$REPO/target/bench-mirror}"
RESULTS="$REPO/benches/results"
TRASH="$WORK/trash"
# One stamp for every fixture: a deletion anywhere on the disk sets the trap for all of them.
PURGED_AT="${TACK_BENCH_WORK:-$REPO/target/bench}/.trash-purged-at"
mkdir -p "$WORK" "$RESULTS" "$TRASH"

# One run at a time: a run started while another is still emptying its trash reads the stamp
# before it moves and measures inside ext4's window (and the two would share the CPU). The lock
# is released when this shell exits; the registry is started without the descriptor.
exec 9>"${TACK_BENCH_WORK:-$REPO/target/bench}/.run.lock"
if ! flock -n 9; then
  echo "waiting for another benches/run.sh to finish" >&2
  flock 9
fi

# --- tools, pinned -------------------------------------------------------------------------
ensure_hyperfine
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
ensure_pnpm
install_npm_tool() { # dir spec bin
  local dir="$TOOLS_DIR/$1" spec=$2 bin=$3
  if [ ! -x "$dir/node_modules/.bin/$bin" ]; then
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-save --no-package-lock "$spec" >&2
  fi
  echo "$dir/node_modules/.bin/$bin"
}
PNPM12="$TACK_TEST_PNPM"
PNPM11=$(install_npm_tool pnpm11 @pnpm/exe@11.28.6 pnpm)
BUN=$(install_npm_tool bun bun@1.4.5 bun)
# What the results measure: the commit tack is built from, marked when the working tree has
# uncommitted changes (those are built too, and the results say so).
CODE=$(git -C "$REPO" describe --always --dirty=' plus uncommitted changes' 2>/dev/null || echo "an unknown commit")
case "$CODE" in *uncommitted*) echo "note: building tack from $CODE" >&2 ;; esac
cargo build --release --locked -p tack-cli --bin tack -p tack-test-registry --bin tack-registry >&2
TACK="$REPO/target/release/tack"
REGISTRY_BIN="$REPO/target/release/tack-registry"

# --- the registry: a mirror of the fixture's tarballs, filled once, served offline ----------
if [ -n "$GENERATED" ] && [ ! -f "$FIXTURE_DIR/pnpm-lock.yaml" ]; then
  bash benches/gen-fixture.sh "$GENERATED" "$FIXTURE_DIR" "$MIRROR" "$REGISTRY_BIN" "$PNPM12" "$BUN"
fi
if [ ! -f "$MIRROR/.filled-$NAME" ]; then
  bash scripts/fill-mirror.sh "$FIXTURE_DIR/pnpm-lock.yaml" "$MIRROR"
  touch "$MIRROR/.filled-$NAME"
fi
start_registry() { # extra args
  "$REGISTRY_BIN" --port "$PORT" --mirror "$MIRROR" --no-fixtures "$@" > "$WORK/registry.url" 2> "$WORK/registry.log" 9>&- &
  REGISTRY_PID=$!
  for _ in $(seq 50); do
    [ -s "$WORK/registry.url" ] && return 0
    sleep 0.1
  done
  echo "the registry did not start; see $WORK/registry.log" >&2
  exit 1
}
stop_registry() { kill "${REGISTRY_PID:-}" 2>/dev/null || true; wait "${REGISTRY_PID:-}" 2>/dev/null || true; }
finish() { stop_registry; purge_trash; }
trap finish EXIT
registry_cpu_ticks() { awk '{print $14 + $15}' "/proc/$REGISTRY_PID/stat"; }

# --- one isolated sandbox per tool: its own project copy, HOME, store and cache --------------
setup_sandbox() { # tool scenario
  local dir="$WORK/$1"
  discard "$dir"
  mkdir -p "$dir/project" "$dir/home"
  # The whole fixture: a workspace fixture has its projects' dirs and pnpm-workspace.yaml.
  cp -r "$FIXTURE_DIR/." "$dir/project/"
  chmod -R u+w "$dir/project"
  [ -f "$FIXTURE_DIR/bun.lock" ] && sed "s#127.0.0.1:4873#127.0.0.1:$PORT#g" "$FIXTURE_DIR/bun.lock" > "$dir/project/bun.lock"
  printf 'registry=http://127.0.0.1:%s/\n' "$PORT" > "$dir/project/.npmrc"
  # pnpm 11/12 and tack check a lockfile against registry metadata unless told to trust it;
  # only the `checked-*` scenarios keep that default on.
  case "$2" in
    checked-*) printf 'storeDir: %s\n' "$dir/store" >> "$dir/project/pnpm-workspace.yaml" ;;
    *) printf 'minimumReleaseAge: 0\nstoreDir: %s\n' "$dir/store" >> "$dir/project/pnpm-workspace.yaml" ;;
  esac
  # The `*-hoisted` scenarios: npm-style trees (pnpm's and tack's `nodeLinker: hoisted`, bun's
  # hoisted linker), the issue's stretch comparison.
  case "$2" in
    *-hoisted) printf 'nodeLinker: hoisted\n' >> "$dir/project/pnpm-workspace.yaml" ;;
  esac
  # The `*-gvs` scenarios: the global virtual store (pnpm's and tack's
  # `enableGlobalVirtualStore`, bun's `install.globalStore`), whose slots live in the store: a
  # warm install only links each project's direct dependencies and hoisted names into them.
  case "$2" in
    *-gvs) printf 'enableGlobalVirtualStore: true\n' >> "$dir/project/pnpm-workspace.yaml" ;;
  esac
}
# bun's linker and global store for the scenario being run (set per scenario below). The global
# store is set either way: bun's documentation disagrees on its default.
BUN_LINKER=isolated
BUN_GLOBAL_STORE=0
env_for() { # tool → env assignments
  local dir="$WORK/$1"
  echo "HOME=$dir/home XDG_DATA_HOME=$dir/home/.local/share XDG_CACHE_HOME=$dir/home/.cache XDG_CONFIG_HOME=$dir/home/.config XDG_STATE_HOME=$dir/home/.local/state BUN_INSTALL_CACHE_DIR=$dir/store/bun-cache BUN_INSTALL_GLOBAL_STORE=$BUN_GLOBAL_STORE CI=true"
}
install_cmd() { # tool
  local dir="$WORK/$1"
  case "$1" in
    tack) echo "$TACK install --frozen-lockfile --ignore-scripts --store-dir $dir/store --reporter silent" ;;
    tackbase) echo "$TACK_BASE install --frozen-lockfile --ignore-scripts --store-dir $dir/store --reporter silent" ;;
    pnpm12) echo "$PNPM12 install --frozen-lockfile --ignore-scripts --store-dir $dir/store --reporter silent" ;;
    pnpm11) echo "$PNPM11 install --frozen-lockfile --ignore-scripts --store-dir $dir/store --reporter silent" ;;
    bun) echo "$BUN install --frozen-lockfile --ignore-scripts --linker $BUN_LINKER --silent" ;;
  esac
}
# Trees are moved aside, never deleted right before a run: on ext4 without a journal, inodes freed
# in the last minute make new inode creation slower run after run (see benches/README.md). Then
# `sync`: otherwise the kernel writes back the previous run's files (another tool's, since runs
# interleave) during this one, on the same two cores.
prepare_cmd() { # tool scenario
  local dir="$WORK/$1/project" store="$WORK/$1/store" cache="$WORK/$1/home/.cache"
  # A `*-hoisted` or `*-gvs` scenario starts from the state of the scenario it is named after.
  local base=${2%-hoisted}
  case "${base%-gvs}" in
    cold|link|checked-cold) echo "source $REPO/benches/aside.sh $TRASH $dir/node_modules $store $cache; sync" ;;
    # The verdict and metadata caches go too: a CI run restores the store, not them.
    checked-warm) echo "source $REPO/benches/aside.sh $TRASH $dir/node_modules $cache; sync" ;;
    warm) echo "source $REPO/benches/aside.sh $TRASH $dir/node_modules; sync" ;;
    noop) echo "sync" ;;
    wiped) echo "source $REPO/benches/aside.sh $TRASH $store $cache; sync" ;;
  esac
}
# Nothing is deleted while tools are measured: every old tree goes into the trash, and the trash
# is emptied only when the disk runs low (then the harness waits out ext4's window before the
# next batch) and when the run ends. See "The ext4 trap" in benches/README.md.
MIN_FREE_GB=${TACK_BENCH_MIN_FREE_GB:-8}
discard() { # paths...
  local p
  for p in "$@"; do
    if [ -e "$p" ]; then mv "$p" "$TRASH/$(date +%s%N)-$RANDOM"; fi
  done
}
purge_trash() {
  [ -n "$(ls -A "$TRASH" 2>/dev/null)" ] || return 0
  echo "emptying $TRASH" >&2
  rm -rf "$TRASH"; mkdir -p "$TRASH"; sync
  date +%s > "$PURGED_AT"
}
# Every scenario starts from the same kernel caches. The trees moved aside by earlier scenarios
# stay cached as dentries and inodes (millions after a cold batch), and with them every tool's
# path lookups walk longer hash chains and its new directories get blocks in memory touched for the
# first time: 6-26% more system time in a warm install (plans/performance-next.md, session 44).
# Dropping the reclaimable slab (dentries, inodes and the pages of evicted inodes) undoes that
# without deleting anything, so ext4's trap is not set. The block device's own cache, which
# holds the store's inode tables and directories, stays. Needs root.
drop_dentries() {
  [ "$KEEP_CACHES" = 1 ] && return 0
  sync
  if [ -w /proc/sys/vm/drop_caches ]; then
    echo 2 > /proc/sys/vm/drop_caches
  elif sudo -n true 2>/dev/null; then
    sudo -n sh -c 'echo 2 > /proc/sys/vm/drop_caches'
  else
    echo "note: not root, so the kernel's dentry cache is not reset between scenarios" >&2
  fi
}
free_gb() { df --output=avail -BG "$WORK" | tail -1 | tr -dc 0-9; }
# Free inodes on the work filesystem. The tools only take inodes (tack frees 14 in a cold install,
# pnpm 12 6, bun 2), so a count that rose since the last run ended means another process deleted
# files, a test suite or an `rm -rf` by hand, and set ext4's trap for the next six minutes. The
# stamp of `settle` knows only the harness's own deletions; this sees everyone's.
free_inodes() { stat -f -c %d "$WORK"; }
FREED_MAX=${TACK_BENCH_FREED_MAX:-1000}
FREED_ELSEWHERE=0
# Waits out ext4's window when more than FREED_MAX inodes were freed since the last run ended, and
# again if more are freed while it waits (three times at most, then it goes on and says so). Sets
# FREED_ELSEWHERE to what it saw, for the run's record.
guard_freed() {
  FREED_ELSEWHERE=0
  [ -n "${LAST_FREE_INODES:-}" ] || return 0
  local now freed tries=0
  while :; do
    now=$(free_inodes)
    freed=$(( now - LAST_FREE_INODES ))
    [ "$freed" -gt "$FREED_MAX" ] || break
    FREED_ELSEWHERE=$(( FREED_ELSEWHERE + freed ))
    LAST_FREE_INODES=$now
    if [ "$SETTLE" -eq 0 ] || [ "$tries" -ge 3 ]; then
      echo "warning: $freed inodes were freed by another process before this run; it may meet ext4's trap" >&2
      break
    fi
    echo "settling ${SETTLE}s: $freed inodes were freed by another process since the last run (ext4 trap, see benches/README.md)" >&2
    sleep "$SETTLE"
    tries=$(( tries + 1 ))
  done
}
settle() {
  sync
  [ "$(free_gb)" -lt "$MIN_FREE_GB" ] && purge_trash
  [ "$SETTLE" -gt 0 ] && [ -f "$PURGED_AT" ] || return 0
  local wait=$(( $(cat "$PURGED_AT") + SETTLE - $(date +%s) ))
  if [ "$wait" -gt 0 ]; then
    echo "settling ${wait}s: inodes were freed less than ${SETTLE}s ago (ext4 trap, see benches/README.md)" >&2
    sleep "$wait"
  fi
}

# --- syscalls per installed file, warm store (strace -c -f), one run per tool -----------------
SYSCALLS="$WORK/syscalls.md"
: > "$SYSCALLS"
count_syscalls() { # tools...
  command -v strace >/dev/null || { apt-get update -qq && apt-get install -y -qq strace; }
  echo "| tool | syscalls | installed files | syscalls per file | top calls |"
  echo "|---|---|---|---|---|"
  local tool project out files total top
  for tool in "$@"; do
    project="$WORK/$tool/project"
    eval "$(prepare_cmd "$tool" warm)"
    out="$WORK/$tool.strace"
    (cd "$project" && env $(env_for "$tool") strace -f -c -o "$out" $(install_cmd "$tool") >/dev/null 2>&1) || {
      echo "$tool failed under strace" >&2; exit 1; }
    # Regular files reachable in node_modules without following symlinks: what was linked.
    files=$(find "$project/node_modules" -type f | wc -l)
    total=$(awk '$NF == "total" {print $4}' "$out")
    top=$(awk 'NR > 2 && $NF != "total" && $4 ~ /^[0-9]+$/ {print $4, $NF}' "$out" \
      | sort -rn | head -5 | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1}')
    echo "| $tool | $total | $files | $(python3 -c "print(f'{$total / max($files, 1):.2f}')") | $top |"
  done
}

IFS=, read -r -a tools <<< "$TOOLS"
IFS=, read -r -a scenarios <<< "$SCENARIOS"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW="$RESULTS/$NAME-$STAMP.jsonl"
: > "$RAW"

for scenario in "${scenarios[@]}"; do
  extra=()
  case "$scenario" in link|checked-*) extra=(--rtt 50ms --bandwidth 200mbit) ;; esac
  case "$scenario" in *-hoisted) BUN_LINKER=hoisted ;; *) BUN_LINKER=isolated ;; esac
  case "$scenario" in *-gvs) BUN_GLOBAL_STORE=1 ;; *) BUN_GLOBAL_STORE=0 ;; esac
  drop_dentries
  start_registry "${extra[@]}"
  for tool in "${tools[@]}"; do
    setup_sandbox "$tool" "$scenario"
    # Reach the scenario's starting state once (a full install). Cold runs too: their prepare
    # step moves the result aside, and the install brings the tool's own files and the mirror's
    # tarballs back into the page cache after the drop above, so the first run pays for neither.
    (cd "$WORK/$tool/project" && env $(env_for "$tool") $(install_cmd "$tool") >/dev/null 2>&1) || {
      echo "$tool: the initial install failed" >&2; exit 1; }
  done
  # Syscall counts do not depend on the ext4 trap: no wait for them.
  if [ "$scenario" = syscalls ]; then SETTLE=0 settle; else settle; fi
  LAST_FREE_INODES=$(free_inodes)
  if [ "$scenario" = syscalls ]; then
    count_syscalls "${tools[@]}" >> "$SYSCALLS"
    stop_registry
    continue
  fi
  # Interleave the tools run by run, so drift on the machine hits every tool alike, each run
  # in another order: the tools' permutations, shuffled once with a fixed seed (a rerun
  # repeats them), one per run. A fixed order, even rotated, has each tool always run right
  # after the same other one, and what that one leaves behind (memory it freed that the VM
  # hands back to its host, pages still being written back) then weighs on the same tool
  # every time. With three tools, six runs use every order once.
  previous=none
  for run in $(seq "$RUNS"); do
    read -r -a order <<< "$(python3 -c '
import itertools, random, sys
orders = list(itertools.permutations(sys.argv[2:]))
random.Random(9).shuffle(orders)
print(*orders[(int(sys.argv[1]) - 1) % len(orders)])' "$run" "${tools[@]}")"
    for slot in "${!order[@]}"; do
      tool=${order[$slot]}
      project="$WORK/$tool/project"
      eval "$(prepare_cmd "$tool" "$scenario")"
      guard_freed
      inodes_before=$(free_inodes)
      before=$(registry_cpu_ticks)
      # The kernel's cached dentries: they grow with every tree moved aside, and path lookups
      # slow down with them (see "Drift between runs" in benches/README.md).
      dentries=$(awk '{print $1}' /proc/sys/fs/dentry-state 2>/dev/null || echo 0)
      json="$WORK/hf.json"
      (cd "$project" && hyperfine --runs 1 --style none --shell=none --export-json "$json" \
         --command-name "$tool" "/usr/bin/time -f %M -o $WORK/rss env $(env_for "$tool") $(install_cmd "$tool")" >/dev/null 2>"$WORK/hf.err") || {
        echo "$tool failed in scenario $scenario (run $run):" >&2; cat "$WORK/hf.err" >&2; exit 1; }
      after=$(registry_cpu_ticks)
      LAST_FREE_INODES=$(free_inodes)
      python3 - "$json" "$WORK/rss" "$tool" "$scenario" "$run" "$((after - before))" "$slot" "$previous" "${dentries:-0}" \
        "$FREED_ELSEWHERE" "$((inodes_before - LAST_FREE_INODES))" >> "$RAW" <<'PY'
import json, sys
hf = json.load(open(sys.argv[1]))["results"][0]
rss = int(open(sys.argv[2]).read().split()[-1])
print(json.dumps({"tool": sys.argv[3], "scenario": sys.argv[4], "run": int(sys.argv[5]),
  "slot": int(sys.argv[7]), "after": sys.argv[8], "wall": hf["times"][0], "user": hf["user"],
  "sys": hf["system"], "rss_kb": rss, "registry_cpu_s": int(sys.argv[6]) / 100.0,
  "dentries": int(sys.argv[9] or 0), "freed_elsewhere": int(sys.argv[10]),
  "inodes_taken": int(sys.argv[11])}))
PY
      previous=$tool
    done
  done
  stop_registry
done

if [ -s "$RAW" ]; then
  python3 benches/aggregate.py "$RAW" --fixture "$NAME" | tee "$RESULTS/$NAME-$STAMP.md"
fi
if [ -s "$SYSCALLS" ]; then
  { echo; echo "### syscalls, warm store (\`strace -c -f\`, one run each)"; echo; cat "$SYSCALLS"; } \
    | tee -a "$RESULTS/$NAME-$STAMP.md"
fi
if [ -s "$RAW" ] || [ -s "$SYSCALLS" ]; then
  { echo; echo "tack built from \`$CODE\`."; } | tee -a "$RESULTS/$NAME-$STAMP.md"
fi
