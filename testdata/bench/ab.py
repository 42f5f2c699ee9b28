#!/usr/bin/env python3
"""Interleaved A/B of mybuild binaries on N-step Dockerfiles: the binaries
take turns, build after build, so a machine busy with other work slows
both alike. Prints, per binary, the median wall time, the median CPU time
of mybuild and its sandboxes, and the largest maximum RSS (GNU time).

  testdata/bench/ab.py [--runs 5] [--steps 40] [--mode cold|warm|edit]
                       [--work /tmp/mb-ab] OLD_BIN NEW_BIN...

cold is `--no-cache`; warm rebuilds unchanged; edit changes the file the
last step (a COPY) reads, so every RUN is a cache hit and the COPY runs.
Each binary builds in a store of its own, on a `bootstrap-busybox` base.
"""
import os
import resource
import statistics
import subprocess
import sys
import time

BASE = "ab-base:latest"


def opt(name, default):
    a = sys.argv
    return a[a.index(name) + 1] if name in a else default


def binaries():
    skip, out = False, []
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg.startswith("--"):
            skip = True
        else:
            out.append(os.path.abspath(arg))
    return out


def write_steps(ctx, steps):
    os.makedirs(ctx, exist_ok=True)
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write(f"FROM {BASE}\n")
        f.writelines(f"RUN echo step{i} > /s{i}\n" for i in range(steps - 1))
        f.write("COPY edit.txt /edit.txt\n")
    with open(os.path.join(ctx, "edit.txt"), "w") as f:
        f.write("start\n")


def build(binary, root, ctx, no_cache):
    cmd = ["/usr/bin/time", "-f", "%M", binary, "--root", root, "build",
           "--progress=plain", "-t", "ab:latest"] + (["--no-cache"] if no_cache else []) + [ctx]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd[3:])} failed:\n{done.stderr[-2000:]}")
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, int(done.stderr.strip().splitlines()[-1]) / 1024


def main():
    runs, steps = int(opt("--runs", "5")), int(opt("--steps", "40"))
    mode, work = opt("--mode", "cold"), opt("--work", "/tmp/mb-ab")
    bins = binaries()
    ctx = os.path.join(work, f"steps{steps}")
    write_steps(ctx, steps)
    roots = [os.path.join(work, f"root{i}") for i in range(len(bins))]
    for binary, root in zip(bins, roots):
        if not os.path.isdir(root):
            subprocess.run([binary, "--root", root, "bootstrap-busybox", "-t", BASE],
                           check=True, stdout=subprocess.DEVNULL)
        build(binary, root, ctx, False)
    results = {b: [] for b in bins}
    for run in range(runs):
        for binary, root in zip(bins, roots):
            if mode == "edit":
                with open(os.path.join(ctx, "edit.txt"), "w") as f:
                    f.write(f"{binary} {run}\n")
            results[binary].append(build(binary, root, ctx, mode == "cold"))
    first = None
    for binary in bins:
        wall = statistics.median(r[0] for r in results[binary])
        cpu = statistics.median(r[1] for r in results[binary])
        rss = max(r[2] for r in results[binary])
        first = first or (wall, cpu)
        print(f"{binary}: {mode} {steps} steps, wall {wall:.3f}s ({wall / first[0]:.2f}), "
              f"CPU {cpu:.3f}s ({cpu / first[1]:.2f}), max RSS {rss:.1f} MiB")


if __name__ == "__main__":
    main()
