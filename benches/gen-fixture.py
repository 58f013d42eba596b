#!/usr/bin/env python3
"""Writes a generated benchmark fixture: its packages as tarballs into the benchmark mirror,
and a project (package.json, pnpm-workspace.yaml for a workspace) without lockfiles.
`benches/gen-fixture.sh` then has real pnpm and bun lock it against the test registry.

  gen-fixture.py many-files|workspace PROJECT_DIR MIRROR_DIR

- many-files: 40 packages of 600 small files each (24k files in 4.8k directories), in a
  dependency chain, so that linking and hashing many files dominates, not downloading.
- workspace: 24 workspace projects, each depending on two siblings (`workspace:*`) and on
  eight of 120 generated registry packages that depend on each other.

Everything is deterministic: the same command writes byte-identical tarballs.
"""
import gzip
import io
import json
import os
import sys
import tarfile

MTIME = 499162500  # npm's fixed tarball mtime (1985-10-26)


def tarball(name, version, files, deps):
    """A gzipped npm tarball: `package/package.json` plus `files` (path -> text)."""
    manifest = {"name": name, "version": version, "main": "index.js"}
    if deps:
        manifest["dependencies"] = deps
    entries = {"package.json": json.dumps(manifest, indent=2) + "\n"}
    entries.update(files)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(entries):
            data = entries[path].encode()
            info = tarfile.TarInfo("package/" + path)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = MTIME
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def publish(mirror, name, version, files, deps=None):
    scopeless = name.split("/")[-1]
    path = os.path.join(mirror, name, "-", f"{scopeless}-{version}.tgz")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = tarball(name, version, files, deps or {})
    if not os.path.exists(path) or open(path, "rb").read() != data:
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)


def module(i, j):
    return f"'use strict';\n// module {i}.{j}\nmodule.exports = function f{j}(x) {{ return x * {j} + {i}; }};\n"


def package_files(i, count, path_of):
    """`index.js` plus `count` small modules, module `j` at `path_of(j)`."""
    files = {"index.js": f"module.exports = {i};\n"}
    files.update({path_of(j): module(i, j) for j in range(count)})
    return files


def many_files(project, mirror):
    names = [f"tack-bench-many-{i:02}" for i in range(40)]
    for i, name in enumerate(names):
        files = package_files(i, 600, lambda j: f"lib/d{j // 5:03}/m{j:03}.js")
        deps = {names[i + 1]: "1.0.0"} if i + 1 < len(names) else {}
        publish(mirror, name, "1.0.0", files, deps)
    write_json(os.path.join(project, "package.json"), {
        "name": "bench-many-files",
        "version": "1.0.0",
        "private": True,
        "dependencies": {n: "1.0.0" for n in names[::4]},
    })
    write_text(os.path.join(project, "pnpm-workspace.yaml"), "")


def workspace(project, mirror):
    libs = [f"tack-bench-lib-{i:03}" for i in range(120)]
    for i, name in enumerate(libs):
        files = package_files(i, 12, lambda j: f"src/m{j:02}.js")
        deps = {libs[k]: "^1.0.0" for k in (i + 7, i + 13) if k < len(libs)}
        publish(mirror, name, "1.0.0", files, deps)
    projects = [f"p{i:02}" for i in range(24)]
    for i, p in enumerate(projects):
        deps = {f"@bench/{projects[k]}": "workspace:*" for k in (i + 1, i + 2) if k < len(projects)}
        deps.update({libs[(i * 5 + k * 11) % len(libs)]: "^1.0.0" for k in range(8)})
        write_json(os.path.join(project, "packages", p, "package.json"), {
            "name": f"@bench/{p}",
            "version": "1.0.0",
            "private": True,
            "dependencies": deps,
        })
        write_text(os.path.join(project, "packages", p, "index.js"), f"module.exports = '{p}';\n")
    write_json(os.path.join(project, "package.json"), {
        "name": "bench-workspace",
        "version": "1.0.0",
        "private": True,
        # pnpm reads pnpm-workspace.yaml; bun reads this.
        "workspaces": ["packages/*"],
        "devDependencies": {"@bench/p00": "workspace:*"},
    })
    write_text(os.path.join(project, "pnpm-workspace.yaml"), "packages:\n  - 'packages/*'\n")


def write_json(path, value):
    write_text(path, json.dumps(value, indent=2) + "\n")


def write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("many-files", "workspace"):
        sys.exit(__doc__)
    kind, project, mirror = sys.argv[1:]
    {"many-files": many_files, "workspace": workspace}[kind](project, mirror)


if __name__ == "__main__":
    main()
