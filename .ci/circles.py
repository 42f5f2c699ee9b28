#!/usr/bin/env python3
"""Finds import circles between the files of each crate.

Every `crate::`, `super::`, `self::` and `child_module::` path in a file (in `use` lists and in
code) is an edge to the file that defines the longest prefix of that path.
A `mod x;` declaration is not an edge (it places a file), nor is a `pub use`
re-export: a path through one leads to the file that defines the item.
Prints each strongly connected set of two or more files and exits 1 if
there is any; exits 0 when the module graph of every crate is acyclic.

Usage: .ci/circles.py [crate-dir ...]   (default: every workspace crate)
"""
import os
import re
import sys

ROOTS = ["src", "frontend/src", "graph/src", "solver/src", "cache/src",
         "registry/src", "tests/e2e"]


def strip(text):
    """Blanks out comments, strings and char literals, keeping newlines."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = len(re.match(r'r(#*)"', text[i:]).group(1))
            end = text.find('"' + "#" * hashes, i + 2 + hashes)
            i = n if end < 0 else end + 1 + hashes
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x..'", text[i:i + 12]):
            m = re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x..'", text[i:i + 12])
            i += len(m.group(0))
            out.append("' '")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def expand_use(tree):
    """Expands a `use` tree (`a::{b, c::{d as e}}`) into paths."""
    tree = tree.strip()
    depth = 0
    for k, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                prefix = tree[:k]
                inner = tree[k + 1:tree.rfind("}")]
                parts, level, start = [], 0, 0
                for m, d in enumerate(inner):
                    if d == "{":
                        level += 1
                    elif d == "}":
                        level -= 1
                    elif d == "," and level == 0:
                        parts.append(inner[start:m])
                        start = m + 1
                parts.append(inner[start:])
                res = []
                for p in parts:
                    if p.strip():
                        res += [prefix + q for q in expand_use(p)]
                return res
            depth += 1
    return [re.sub(r"\s+as\s+\w+$", "", tree).replace(" ", "")]


class Crate:
    def __init__(self, root):
        self.root = root
        self.files = {}  # module path tuple -> file
        for dirpath, _, names in os.walk(root):
            for name in names:
                if not name.endswith(".rs"):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)[:-3].split(os.sep)
                if rel[-1] in ("mod", "lib", "main"):
                    rel = rel[:-1]
                if tuple(rel) in self.files and rel == []:
                    continue
                self.files[tuple(rel)] = path

    def file_of(self, mod):
        for k in range(len(mod), -1, -1):
            if tuple(mod[:k]) in self.files:
                return self.files[tuple(mod[:k])]
        return None

    def scan(self, modpath, path):
        """Yields (module path here, use path, is_reexport) for every path
        the file names, tracking inline modules by their braces."""
        text = strip(open(path, encoding="utf-8").read())
        stack, depth, inline = [], 0, []
        tokens = re.finditer(
            r"\bmod\s+(\w+)\s*\{|\{|\}|\b(pub(?:\([\w ]+\))?\s+)?use\s+([^;]*);"
            r"|(?<![\w:])((?:\w+)(?:::\w+)+)", text)
        for t in tokens:
            s = t.group(0)
            if t.group(1):
                inline.append(t.group(1))
                stack.append(depth)
                depth += 1
            elif s == "{":
                depth += 1
            elif s == "}":
                depth -= 1
                if stack and stack[-1] == depth:
                    stack.pop()
                    inline.pop()
            else:
                here = list(modpath) + inline
                if t.group(3) is not None:
                    for p in expand_use(t.group(3)):
                        yield here, p, bool(t.group(2))
                else:
                    yield here, t.group(4), False

    def reexports(self):
        """name -> absolute path, for every `pub use` of every file."""
        self.alias = {}
        for m, f in self.files.items():
            for here, p, public in self.scan(m, f):
                if not public:
                    continue
                target = self.resolve(here, p.split("::"))
                if target is None:
                    continue
                name = re.search(r"\s+as\s+(\w+)$", p)
                last = target[-1]
                key = (f, name.group(1) if name else last)
                self.alias[key] = target

    def file_of(self, mod, seen=0):
        for k in range(len(mod), -1, -1):
            f = self.files.get(tuple(mod[:k]))
            if f is None:
                continue
            # `Item` re-exported by f: the file that defines it.
            if k < len(mod) and seen < 16:
                target = self.alias.get((f, mod[k])) or (
                    self.alias.get((f, "*")) and self.alias[(f, "*")][:-1] + mod[k:])
                if target:
                    return self.file_of(list(target) + mod[k + 1:], seen + 1)
            return f
        return None

    def edges(self, modpath, path):
        out = set()
        for here, p, public in self.scan(modpath, path):
            if public:
                continue
            target = self.resolve(here, p.replace(" ", "").split("::"))
            if target is None:
                continue
            target = [x for x in target if x != "*"]
            f = self.file_of(target)
            if f and f != path:
                out.add(f)
        return out

    def resolve(self, here, segs):
        segs = [re.sub(r"\s+as\s+\w+$", "", x) for x in segs]
        if segs[0] == "crate":
            return segs[1:]
        if segs[0] in ("super", "self"):
            cur = list(here)
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    cur = cur[:-1]
                segs = segs[1:]
            return cur + segs
        # A bare path that starts with a child module of this one (2018
        # edition `use child::Item;`).
        if tuple(here + segs[:1]) in self.files:
            return here + segs
        return None

    def graph(self):
        self.reexports()
        return {f: self.edges(m, f) for m, f in self.files.items()}


def sccs(graph):
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main():
    roots = sys.argv[1:] or ROOTS
    bad = 0
    for root in roots:
        graph = Crate(root).graph()
        for comp in sccs(graph):
            if len(comp) > 1:
                bad += 1
                print(f"circle in {root}:")
                for f in sorted(comp):
                    deps = sorted(d for d in graph[f] if d in comp)
                    print(f"  {f} -> {', '.join(deps)}")
    if bad:
        print(f"{bad} import circle(s)")
        return 1
    print("no import circles in", ", ".join(roots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
