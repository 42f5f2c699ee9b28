#!/usr/bin/env python3
"""Interleaved A/B of two mybuild binaries on the paths `--explain-cache`
touches (issue 17 item 3): `steps` (40 RUN) cold (`--no-cache`) and warm,
and a 5000-file context COPY warm and after editing one file. Each binary
has its own store; runs go A B B A A B ... and the median is printed.

    ab_explain.py OLD_BIN NEW_BIN [--runs 5] [--work DIR]
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import time


def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(bin_, root, ctx, extra=()):
    """(wall, cpu) seconds: CPU time (user + system of the build and its
    sandboxes) moves far less than wall time on a machine shared with
    other work."""
    cmd = [bin_, "--root", root, "build", "-q", *extra, ctx]
    t, c = time.monotonic(), cpu()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "MYBUILD_CONFIG": "/dev/null"})
    return time.monotonic() - t, cpu() - c


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
    bins = {"A": a.old, "B": a.new}
    # A context each: one binary's edit must not turn the other's warm
    # build into a miss.
    ctxs = {k: contexts(os.path.join(a.work, k)) for k in bins}
    roots = {k: os.path.join(a.work, f"root-{k}") for k in bins}
    for k, b in bins.items():
        subprocess.run([b, "--root", roots[k], "bootstrap-busybox"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for ctx in ctxs[k]:
            run(b, roots[k], ctx)
    times = {}
    for i in range(a.runs):
        # ABBA order, so neither binary always runs right after the other.
        order = list(bins.items())
        for k, b in (order if i % 2 == 0 else order[::-1]):
            r, (steps, big) = roots[k], ctxs[k]
            edit = os.path.join(big, "src", "f7.txt")
            add = lambda name, t: times.setdefault((name, k), []).append(t)
            add("steps cold", run(b, r, steps, ["--no-cache"]))
            add("steps warm", run(b, r, steps))
            add("bigctx warm", run(b, r, big))
            with open(edit, "w") as f:
                f.write(f"edit {i}\n")
            add("bigctx edit", run(b, r, big))
    print(f"median of {a.runs}: wall A, B, B/A | cpu A, B, B/A")
    for name in ["steps cold", "steps warm", "bigctx warm", "bigctx edit"]:
        row = f"{name:<12}"
        for i in (0, 1):
            ma = statistics.median(t[i] for t in times[(name, "A")])
            mb = statistics.median(t[i] for t in times[(name, "B")])
            row += f" | {ma:7.3f}s {mb:7.3f}s {mb / ma:5.2f}"
        print(row)


if __name__ == "__main__":
    main()
