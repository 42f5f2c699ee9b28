#!/usr/bin/env python3
"""Structure checks anyone can run (issue 14): exits 1 on the first kind of
drift it finds, printing every instance.

- one definition of each OCI type and media type, and of the architecture
  table, outside test code;
- the README's layout table names every top-level directory of the tree,
  and every path it names exists;
- no import circle between the files of a crate (.ci/circles.py).

`cargo machete` (unused dependencies) is run by .ci/test beside this.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATES = ["src", "frontend/src", "graph/src", "solver/src", "cache/src",
          "registry/src"]
# Types the OCI image spec defines: each may have one definition of ours at
# most (most come from oci-spec and have none).
OCI_TYPES = ["Descriptor", "Manifest", "ImageManifest", "Index", "ImageIndex",
             "Platform", "RootFs", "ImageConfig", "ImageConfiguration",
             "History", "MediaType"]
MEDIA_TYPE = re.compile(r'"application/vnd\.(?:oci|docker)\.[\w.+-]+"')
ARCH_ROW = re.compile(r'"(?:aarch64|loongarch64|powerpc64le)"\s*[,=]')


def sources():
    """(path, text before any #[cfg(test)]) of every non-test source file."""
    for crate in CRATES:
        for dirpath, _, names in os.walk(os.path.join(ROOT, crate)):
            if "/tests" in dirpath[len(ROOT):]:
                continue
            for name in names:
                if name.endswith(".rs") and name != "tests.rs":
                    path = os.path.join(dirpath, name)
                    text = open(path, encoding="utf-8").read()
                    yield os.path.relpath(path, ROOT), text.split("#[cfg(test)]")[0]


def one_definition():
    defs, literals, arch = {}, {}, set()
    for path, text in sources():
        code = "\n".join(l for l in text.splitlines()
                         if not l.lstrip().startswith("//"))
        for m in re.finditer(r"\b(?:struct|enum)\s+(\w+)", code):
            if m.group(1) in OCI_TYPES:
                defs.setdefault(m.group(1), []).append(path)
        for m in MEDIA_TYPE.finditer(code):
            literals.setdefault(m.group(0), set()).add(path)
        if ARCH_ROW.search(code):
            arch.add(path)
    bad = [f"OCI type {k} defined in {', '.join(v)}" for k, v in defs.items() if len(v) > 1]
    bad += [f"media type {k} spelled in {', '.join(sorted(v))}"
            for k, v in literals.items() if len(v) > 1]
    if len(arch) > 1:
        bad.append(f"architecture table in {', '.join(sorted(arch))}")
    return bad


def layout():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    table = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    named = set()
    for row in table.splitlines():
        if row.startswith("| `"):
            for p in re.findall(r"`([^`\s]+)`", row.split("|")[1]):
                named.add(p.rstrip("/"))
    bad = [f"README layout names {p}, which is not in the tree"
           for p in sorted(named) if not os.path.exists(os.path.join(ROOT, p))]
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    dirs = set()
    for f in tracked:
        parts = f.split("/")
        if len(parts) > 1 and not parts[0].startswith("."):
            # tests/ is listed by its subfolders.
            dirs.add("/".join(parts[:2]) if parts[0] == "tests" and len(parts) > 2 else parts[0])
    bad += [f"README layout does not name {d}/" for d in sorted(dirs) if d not in named]
    return bad


def main():
    bad = one_definition() + layout()
    for line in bad:
        print(line)
    circles = subprocess.run([sys.executable, os.path.join(ROOT, ".ci/circles.py")],
                             cwd=ROOT)
    if bad or circles.returncode:
        return 1
    print("structure: one definition each, README layout matches the tree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
