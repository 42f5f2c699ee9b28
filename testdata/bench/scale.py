#!/usr/bin/env python3
"""How mybuild's build time and memory grow with the size of the work
(issue 15's scaling figures): contexts of 1k, 10k and 100k files copied in,
and Dockerfiles of 10, 100 and 500 RUN steps, each built cold (--no-cache),
warm (nothing changed) and after an edit (one file changed). Prints a
markdown table for the README's "Scaling" section.

  testdata/bench/scale.py [--mybuild BIN] [--runs N] [--work DIR] [--only ctx,steps]
                         [--files 1000,10000,100000] [--steps 10,100,500]

Needs nothing but the binary (run as root, as builds are): the base image is
made in a fresh store with `mybuild bootstrap-busybox`. Times are the median
wall time of N runs (3). Memory is the peak RSS of mybuild and every process
it starts (its RUN sandboxes), the larger of two readings: /proc polled every
50 ms, each poll adding up the kernel's high-water mark (VmHWM) of every live
process of the tree, and GNU time's maximum RSS, exact for the largest single
process (a poll can miss a short-lived one). Python's own rusage of a child
is not used: the child inherits Python's RSS at fork and counts it. Nor is a
memory cgroup's peak: it charges the page cache of the files a build writes.

"Cold" means no build cache, not a cold page cache: the context's files were
just written and are in memory, as on a developer's machine.
"""
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BASE = "scale-base:latest"
POLL = 0.05
# GNU time reports the exact peak of the largest single process (ru_maxrss
# of a child it forked, so only its own ~1 MiB is inherited); the polls add
# processes that live at the same time. Without it, polls alone.
TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def opt(name, default):
    a = sys.argv
    return a[a.index(name) + 1] if name in a else default


def write_ctx(path, files):
    """A context of `files` small text files (256-768 bytes, 100 a dir)."""
    src = os.path.join(path, "src")
    for i in range(files):
        d = os.path.join(src, f"pkg{i // 100:04}")
        if i % 100 == 0:
            os.makedirs(d)
        with open(os.path.join(d, f"mod{i % 100:03}.py"), "w") as f:
            line = f"value_{i} = {i * 7919 % 100003}  # module {i}\n"
            f.write(line * (256 // len(line) + i % 12))
    with open(os.path.join(path, "Dockerfile"), "w") as f:
        f.write(f"FROM {BASE}\nWORKDIR /app\nCOPY src/ /app/\n"
                "RUN find /app -type f | wc -l > /count\n")
    return os.path.join(src, "pkg0000", "mod000.py")


def write_steps(path, steps):
    """`steps` steps: trivial RUNs, then a COPY of one file, the file an edit
    changes, so an edit checks every step's cache and reruns only the COPY.
    Each step is a layer, and a step mounts those below it as overlay lower
    dirs, of which the kernel takes 500: 500 steps on a one-layer base is
    the most there can be."""
    os.makedirs(path)
    with open(os.path.join(path, "Dockerfile"), "w") as f:
        f.write(f"FROM {BASE}\n")
        f.writelines(f"RUN echo step{i} > /s{i}\n" for i in range(steps - 1))
        f.write("COPY edit.txt /edit.txt\n")
    edit = os.path.join(path, "edit.txt")
    with open(edit, "w") as f:
        f.write("start\n")
    return edit


def tree(pid):
    """pid and all its descendants alive now."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass  # gone since it was listed
    return out


def hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(cmd):
    """Runs one build: (wall seconds, CPU seconds, peak tree RSS in MiB)."""
    err, rss = tempfile.TemporaryFile(), tempfile.NamedTemporaryFile()
    timed = [TIME, "-f", "%M", "-o", rss.name] + cmd if TIME else cmd
    start = time.perf_counter()
    p = subprocess.Popen(timed, stdout=subprocess.DEVNULL, stderr=err)
    peak, done = [0], threading.Event()

    def poll():
        while not done.is_set():
            procs = tree(p.pid)[1 if TIME else 0:]  # time's own RSS is not ours
            peak[0] = max(peak[0], sum(hwm_kib(q) for q in procs))
            time.sleep(POLL)

    poller = threading.Thread(target=poll)
    poller.start()
    # wait4, not Popen.wait: its rusage is the CPU time of the whole tree.
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    poller.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        err.seek(0)
        tail = err.read().decode(errors="replace").strip().splitlines()[-5:]
        sys.exit(f"build failed ({p.returncode}): {' '.join(cmd)}\n" + "\n".join(tail))
    if TIME:
        peak[0] = max(peak[0], int(open(rss.name).read().split()[-1]))
    return wall, usage.ru_utime + usage.ru_stime, peak[0] / 1024


def measure(build, edit, runs):
    """{scenario: (median seconds, peak MiB)} for cold, warm and edit."""
    out = {}
    cold = [run(build(True)) for _ in range(runs)]
    run(build(False))  # fill the cache for what follows
    warm = [run(build(False)) for _ in range(runs)]
    edits = []
    for i in range(runs):
        with open(edit, "a") as f:
            f.write(f"# edit {i} {time.time()}\n")
        edits.append(run(build(False)))
    for name, rs in (("cold", cold), ("warm", warm), ("edit", edits)):
        out[name] = (statistics.median(r[0] for r in rs),
                     statistics.median(r[1] for r in rs),
                     max(r[2] for r in rs))
    return out


def growth(a, b, kind, i):
    """Exponent k of t ~ n^k between two sizes: 1 is linear, below 1
    better (fixed costs), above 1 worse than linear."""
    (n0, r0), (n1, r1) = a, b
    return math.log(r1[kind][i] / r0[kind][i]) / math.log(n1 / n0)


def table(title, unit, rows):
    """One row a size: wall (CPU) seconds and peak MiB per scenario, then
    a row a step between sizes: the growth exponents of wall time, CPU
    time and memory."""
    kinds = ("cold", "warm", "edit")
    print(f"| {title} | " + " | ".join(f"{k} s (CPU s)" for k in kinds) + " | "
          + " | ".join(f"{k} MiB" for k in kinds) + " |")
    print("|---" * 7 + "|")
    for n, r in rows:
        print(f"| {n:,} {unit} | "
              + " | ".join(f"{r[k][0]:.2f} ({r[k][1]:.2f})" for k in kinds) + " | "
              + " | ".join(f"{r[k][2]:.0f}" for k in kinds) + " |")
    for a, b in zip(rows, rows[1:]):
        print(f"| growth exponent {a[0]:,}→{b[0]:,} | "
              + " | ".join(f"{growth(a, b, k, 0):.2f} ({growth(a, b, k, 1):.2f})"
                           for k in kinds)
              + " | " + " | ".join(f"{growth(a, b, k, 2):.2f}" for k in kinds) + " |")
    print(flush=True)


def main():
    mybuild = os.path.abspath(opt("--mybuild", "target/release/mybuild"))
    runs = int(opt("--runs", "3"))
    work = opt("--work", "/tmp/mb-scale")
    only = opt("--only", "ctx,steps").split(",")
    files = [int(n) for n in opt("--files", "1000,10000,100000").split(",")]
    steps = [int(n) for n in opt("--steps", "10,100,500").split(",")]
    shutil.rmtree(work, ignore_errors=True)
    root = os.path.join(work, "root")
    subprocess.run([mybuild, "--root", root, "bootstrap-busybox", "-t", BASE],
                   check=True, stdout=subprocess.DEVNULL)
    plans = [("ctx", "context", "files", files, write_ctx),
             ("steps", "RUN steps", "steps", steps, write_steps)]
    for key, title, unit, sizes, write in plans:
        if key not in only:
            continue
        rows = []
        for n in sizes:
            ctx = os.path.join(work, f"{key}{n}")
            edit = write(ctx, n)
            tag = f"scale-{key}{n}:latest"
            build = lambda nc: [mybuild, "--root", root, "build", "--progress=plain", "-t", tag] \
                + (["--no-cache"] if nc else []) + [ctx]
            rows.append((n, measure(build, edit, runs)))
            print(f"  {key} {n}: {rows[-1][1]}", file=sys.stderr, flush=True)
        table(title, unit, rows)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
