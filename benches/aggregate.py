#!/usr/bin/env python3
"""Turns the raw per-run records of benches/run.sh into the markdown table in the README:
median and min-max wall time, ratios of medians against each competitor, the same ratio
paired run by run (and how many runs tack won), user and sys CPU, peak RSS and the
registry's CPU time; then how many dentries the kernel held as each scenario's runs began, and
whether other processes freed inodes around the runs (ext4's trap)."""
import argparse
import json
import statistics
from collections import defaultdict

ap = argparse.ArgumentParser()
ap.add_argument("raw")
ap.add_argument("--fixture", default="?")
args = ap.parse_args()

runs = defaultdict(list)
for line in open(args.raw):
    rec = json.loads(line)
    runs[(rec["scenario"], rec["tool"])].append(rec)

def med(xs):
    return statistics.median(xs)

def fmt_s(s):
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"

def paired_ratio(tack_runs, tool_runs):
    """Median of tack's wall time over the tool's, run by run, and the runs tack won."""
    by_run = {r["run"]: r["wall"] for r in tool_runs}
    ratios = [r["wall"] / by_run[r["run"]] for r in tack_runs if r["run"] in by_run]
    if not ratios:
        return "—"
    won = sum(x < 1 for x in ratios)
    return f"{med(ratios):.2f}× ({won}/{len(ratios)})"

scenarios = []
for scenario, _ in runs:
    if scenario not in scenarios:
        scenarios.append(scenario)

print(f"### fixture `{args.fixture}`\n")
print("| scenario | tool | median | min–max | vs tack | paired | user | sys | peak RSS | registry CPU |")
print("|---|---|---|---|---|---|---|---|---|---|")
for scenario in scenarios:
    # tack first, then the others in a fixed order: the runs' order is shuffled (run.sh).
    order = ["tack", "pnpm12", "pnpm11", "bun"]
    tools = sorted((t for (s, t) in runs if s == scenario),
                   key=lambda t: (order.index(t) if t in order else len(order), t))
    tack = runs.get((scenario, "tack"))
    tack_med = med([r["wall"] for r in tack]) if tack else None
    for tool in tools:
        rs = runs[(scenario, tool)]
        walls = [r["wall"] for r in rs]
        m = med(walls)
        ratio = f"{tack_med / m:.2f}×" if tack_med and tool != "tack" else "—"
        paired = paired_ratio(tack, rs) if tack and tool != "tack" else "—"
        print(f"| {scenario} | {tool} | {fmt_s(m)} | {fmt_s(min(walls))}–{fmt_s(max(walls))} | {ratio} | {paired} "
              f"| {fmt_s(med([r['user'] for r in rs]))} | {fmt_s(med([r['sys'] for r in rs]))} "
              f"| {med([r['rss_kb'] for r in rs]) / 1024:.0f} MiB | {med([r['registry_cpu_s'] for r in rs]):.2f} s |")
print("\n`vs tack` is tack's median divided by the tool's median: below 1 means tack is faster. "
      "`paired` is the median of tack's time over the tool's in the same run, and how many runs tack won.")

def dentry_drift(scenario):
    """The kernel's cached dentries before the scenario's first and last run (records made
    before run.sh kept them have none)."""
    rs = sorted((r for (s, _), rs in runs.items() if s == scenario for r in rs),
                key=lambda r: (r["run"], r["slot"]))
    counts = [r["dentries"] for r in rs if r.get("dentries")]
    if not counts:
        return None
    return f"{scenario} {counts[0] / 1e6:.1f}M → {counts[-1] / 1e6:.1f}M"

drift = [d for d in map(dentry_drift, scenarios) if d]
if drift:
    print("\nKernel dentries before the first and the last run of each scenario: " + ", ".join(drift) +
          ". Every tree moved aside adds to them, and path lookups slow down as they grow "
          "(benches/README.md, \"Drift between runs\").")

def freed_elsewhere():
    """Runs that other processes' deletions may have slowed (records made before run.sh kept
    free-inode counts have none): those before which the harness saw inodes freed (it then waited
    out ext4's window), and those during which a tool took fewer inodes than in its other runs of
    the scenario by more than run.sh's threshold, which only a deletion beside it explains."""
    before, during = [], []
    for (scenario, tool), rs in runs.items():
        taken = [r["inodes_taken"] for r in rs if "inodes_taken" in r]
        if not taken:
            continue
        most = max(taken)
        for r in rs:
            if r.get("freed_elsewhere", 0) > 0:
                before.append(f"{scenario} {tool} run {r['run']} ({r['freed_elsewhere']})")
            if "inodes_taken" in r and most - r["inodes_taken"] > 1000:
                during.append(f"{scenario} {tool} run {r['run']} ({most - r['inodes_taken']} fewer)")
    if not any("inodes_taken" in r for rs in runs.values() for r in rs):
        return None
    if not before and not during:
        return "No inodes were freed by other processes around the runs (ext4's trap was not set)."
    parts = []
    if before:
        parts.append("freed before " + ", ".join(before) + "; the harness waited out ext4's window before each unless run with --no-settle")
    if during:
        parts.append("freed during " + ", ".join(during) + ": those runs may have met ext4's trap")
    return "Inodes freed by other processes: " + "; ".join(parts) + " (benches/README.md, \"The ext4 trap\")."

note = freed_elsewhere()
if note:
    print("\n" + note)
