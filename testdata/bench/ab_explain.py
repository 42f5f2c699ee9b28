#!/usr/bin/env python3
"""Interleaved A/B of two mybuild binaries on the paths `--explain-cache`
touches (issue 17 item 3): `steps` (40 RUN) cold (`--no-cache`) and warm,
and a 5000-file context COPY warm and after editing one file. Each binary
has its own store; runs alternate A, B, A, B... and the median is printed.

    ab_explain.py OLD_BIN NEW_BIN [--runs 5] [--work DIR]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import time


def run(bin_, root, ctx, extra=()):
    cmd = [bin_, "--root", root, "build", "-q", *extra, ctx]
    t = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "MYBUILD_CONFIG": "/dev/null"})
    return time.monotonic() - t


def contexts(work):
    steps = os.path.join(work, "steps")
    os.makedirs(steps, exist_ok=True)
    with open(os.path.join(steps, "Dockerfile"), "w") as f:
        f.write("FROM busybox\n" + "".join(f"RUN echo {i} > /f{i}\n" for i in range(40)))
    big = os.path.join(work, "bigctx")
    os.makedirs(os.path.join(big, "src"), exist_ok=True)
    with open(os.path.join(big, "Dockerfile"), "w") as f:
        f.write("FROM busybox\nCOPY src /src\nRUN ls /src | wc -l\n")
    for i in range(5000):
        with open(os.path.join(big, "src", f"f{i}.txt"), "w") as f:
            f.write(f"file {i}\n" * 20)
    return steps, big


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work", default="/tmp/ab-explain")
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    steps, big = contexts(a.work)
    bins = {"A": a.old, "B": a.new}
    roots = {k: os.path.join(a.work, f"root-{k}") for k in bins}
    for k, b in bins.items():
        subprocess.run([b, "--root", roots[k], "bootstrap-busybox"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run(b, roots[k], steps)
        run(b, roots[k], big)
    times = {}
    edit = os.path.join(big, "src", "f7.txt")
    for i in range(a.runs):
        for k, b in bins.items():
            r = roots[k]
            add = lambda name, t: times.setdefault((name, k), []).append(t)
            add("steps cold", run(b, r, steps, ["--no-cache"]))
            add("steps warm", run(b, r, steps))
            add("bigctx warm", run(b, r, big))
            with open(edit, "w") as f:
                f.write(f"edit {i} {k}\n")
            add("bigctx edit", run(b, r, big))
    print(f"{'scenario':<14} {'A (old)':>9} {'B (new)':>9} {'B/A':>6}   (median of {a.runs})")
    for name in ["steps cold", "steps warm", "bigctx warm", "bigctx edit"]:
        ma = statistics.median(times[(name, "A")])
        mb = statistics.median(times[(name, "B")])
        print(f"{name:<14} {ma:>8.3f}s {mb:>8.3f}s {mb / ma:>6.2f}")


if __name__ == "__main__":
    main()
