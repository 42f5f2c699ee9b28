#!/usr/bin/env python3
"""Side-by-side timings of the real-base cases (issue 15): mybuild against
Docker's BuildKit on the Dockerfiles of run.py, median of N runs each,
builders interleaved so both see the same machine.

  bench.py [--mybuild BIN] [--runs 3] [--only NAME[,NAME]] [--work DIR]

Scenarios, per case and run:
  cold  --no-cache, cache mounts emptied; BuildKit builds into dockerd's
        store, mybuild into its store *and* `-o type=docker,dest=F` (an
        uncompressed docker archive, as the issue asks)
  warm  the same build again, nothing changed, into each store
  edit  one source file changed (a new line each run, EDITS of run.py),
        into each store

It checks nothing about the images (run.py does); it prints a markdown
table of medians with the ratio mybuild / BuildKit and the issue's target
for each column, and writes timings.json to the work dir. Needs what run.py
needs (dockerd at $DOCKER_HOST, the registry on 127.0.0.1:5000, network).
"""
import json, os, shutil, statistics, sys, tempfile, time

import run as rb

TARGETS = {"cold": 0.9, "warm": 0.2, "edit": 0.7}


def clear_cache_mounts(root):
    """mybuild's cache mounts live in its store; BuildKit's are pruned."""
    shutil.rmtree(os.path.join(root, "v1", "cache-mounts"), ignore_errors=True)
    rb.docker("builder", "prune", "-f", "--filter", "type=exec.cachemount")


def bench_case(case, ctx, work, mybuild, root, runs):
    d = os.path.join(work, case)
    os.makedirs(d, exist_ok=True)
    ectx = os.path.join(d, "edited-ctx")
    if os.path.exists(ectx):
        shutil.rmtree(ectx)
    shutil.copytree(ctx, ectx, symlinks=True)
    df = os.path.join(ectx, "Dockerfile")
    bk_tag, mb_tag = f"rbbench-{case}:buildkit", f"rbbench-{case}:mybuild"
    # Each build keeps its own log (buildkit-cold-1.log, ...): where a run's
    # time went is read from them.
    log = lambda who, scenario, i: os.path.join(d, f"{who}-{scenario}-{i + 1}.log")
    bk = lambda scenario, i, *extra: rb.docker("build", "--network=host", "--progress=plain", *extra, "-t", bk_tag,
                                               "-f", df, ectx, logfile=log("buildkit", scenario, i))[1]
    mb_cmd = [mybuild, "--root", root, "build", "--progress=plain", "-f", df, "-t", mb_tag]
    mb = lambda scenario, i, *extra: rb.run(mb_cmd + list(extra) + [ectx], logfile=log("mybuild", scenario, i))[1]
    archive = os.path.join(d, "mybuild-docker.tar")
    file, text = rb.EDITS[case]
    t = {f"{who} {s}": [] for who in ("buildkit", "mybuild") for s in TARGETS}
    for i in range(runs):
        # Alternate who goes first, so neither always gets the warmer page cache.
        order = ("buildkit", "mybuild") if i % 2 == 0 else ("mybuild", "buildkit")
        for who in order:
            clear_cache_mounts(root)
            if who == "buildkit":
                t["buildkit cold"].append(bk("cold", i, "--no-cache"))
            else:
                t["mybuild cold"].append(mb("cold", i, "--no-cache", "--output", f"type=docker,dest={archive}"))
        for who in order:
            t[f"{who} warm"].append(bk("warm", i) if who == "buildkit" else mb("warm", i))
        with open(os.path.join(ectx, file), "a") as f:
            f.write(text.format(run=f"{rb.RUN_TOKEN}-{i}"))
        for who in order:
            t[f"{who} edit"].append(bk("edit", i) if who == "buildkit" else mb("edit", i))
        rb.log(f"  {case} run {i + 1}: " + ", ".join(f"{k} {v[-1]:.1f}s" for k, v in t.items()))
    rb.docker("rmi", "-f", bk_tag, check=False)
    return t


def table(times):
    head = "| case | " + " | ".join(f"{s}: mybuild / BuildKit (ratio, target ≤ {x})" for s, x in TARGETS.items()) + " |"
    lines = [head, "|---" * (len(TARGETS) + 1) + "|"]
    for case, t in times.items():
        cells = []
        for s, target in TARGETS.items():
            m, b = statistics.median(t[f"mybuild {s}"]), statistics.median(t[f"buildkit {s}"])
            r = m / b if b else float("nan")
            cells.append(f"{m:.2f}s / {b:.2f}s ({r:.2f}{'' if r <= target else ', over'})")
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    args = sys.argv[1:]
    opt = lambda n, dflt=None: args[args.index(n) + 1] if n in args else dflt
    mybuild = os.path.abspath(opt("--mybuild", os.path.join(rb.REPO, "target/release/mybuild")))
    runs = int(opt("--runs", "3"))
    cases = sorted(os.listdir(os.path.join(rb.HERE, "cases")))
    if opt("--only"):
        cases = [c for c in cases if c in opt("--only").split(",")]
    rb.preflight(mybuild)
    work = opt("--work") or tempfile.mkdtemp(prefix="realbase-bench-", dir="/var/tmp")
    root = os.path.join(work, "mybuild-root")
    shutil.rmtree(root, ignore_errors=True)
    rb.log(f"work dir: {work}   (load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs)")
    t0 = time.monotonic()
    rb.prepare_base(mybuild, root, work)
    times = {}
    for case in cases:
        times[case] = bench_case(case, os.path.join(rb.HERE, "cases", case), work, mybuild, root, runs)
    with open(os.path.join(work, "timings.json"), "w") as f:
        json.dump(times, f, indent=1, sort_keys=True)
    print()
    print(f"Median of {runs}; cold: --no-cache, cache mounts emptied, mybuild also writes "
          f"-o type=docker; warm and edit: into each store. Whole run {time.monotonic() - t0:.0f}s.")
    print(table(times))


if __name__ == "__main__":
    try:
        main()
    except rb.Failure as e:
        sys.exit(f"bench.py: {e}")
