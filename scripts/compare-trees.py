#!/usr/bin/env python3
"""Compares two installed project trees entry by entry, as the suite's conformance tests do.

Usage: python3 scripts/compare-trees.py PNPM_PROJECT TACK_PROJECT

Walks every path with a `node_modules` component under each project (without following
symlinks) and prints what differs: the kind of entry, a symlink's target, a file's content
hash and exec bit. `.modules.yaml` is compared apart, without the fields that change from
run to run; the workspace state and tack's marker list are left out. Exit status 1 when
anything differs. DEVELOPERS.md says how to use it on real projects.
"""
import hashlib
import json
import os
import stat
import sys

SKIP = {
    "node_modules/.modules.yaml",
    "node_modules/.pnpm-workspace-state-v1.json",
    "node_modules/.pnpm/.tack-markers",
}
VOLATILE = ["prunedAt", "storeDir", "packageManager"]


def snapshot(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if rel in SKIP or any(rel.endswith("/" + s) for s in SKIP):
                continue
            if "node_modules" not in rel.split("/"):
                continue
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)
            else:
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()[:16]
                out[rel] = ("file", digest, bool(st.st_mode & 0o111))
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
    return out


def modules_yaml(root):
    try:
        with open(os.path.join(root, "node_modules/.modules.yaml")) as f:
            value = json.load(f)
    except (OSError, ValueError):
        return None
    for field in VOLATILE:
        value.pop(field, None)
    return value


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    expected, actual = snapshot(sys.argv[1]), snapshot(sys.argv[2])
    differences = [
        f"{rel}: pnpm={expected.get(rel)} tack={actual.get(rel)}"
        for rel in sorted(set(expected) | set(actual))
        if expected.get(rel) != actual.get(rel)
    ]
    print(f"{len(expected)} entries; {len(differences)} differences")
    for line in differences[:100]:
        print(" ", line)
    a, b = modules_yaml(sys.argv[1]), modules_yaml(sys.argv[2])
    if a != b:
        print(".modules.yaml differs")
        for key in sorted(set(a or {}) | set(b or {})):
            if (a or {}).get(key) != (b or {}).get(key):
                print(f"  {key}: pnpm={json.dumps((a or {}).get(key))[:300]}")
                print(f"  {' ' * len(key)}  tack={json.dumps((b or {}).get(key))[:300]}")
    sys.exit(1 if differences or a != b else 0)


if __name__ == "__main__":
    main()
