#!/usr/bin/env python3
"""Differential testing of mybuild against Docker's BuildKit.

Generates random, valid Dockerfile cases (gen.py, seeded and reproducible),
builds each with BuildKit (docker build + docker save) and with mybuild
(OCI archive), snapshots both relative to the busybox base with
../shared/conformance/imagetree.py and compares them exactly as
conformance.py does (config fields + every path's type, mode, owner, size,
content hash). A divergence is cut down by delta debugging (stages, lines,
flags, sources, context files, modes) and can be written as a permanent
conformance case (testdata/conformance/cases/<name>/ + golden/<name>.json).

  difftest.py --mybuild BIN [--seed S] [--count N] [-j J] [--minimize K]
              [--write-cases DIR] [--keep DIR] [--case SEED] [-v]

  --seed S        case i is generated from seed S*1000000+i (default 1)
  --count N       number of cases (default 200)
  -j J            cases built at a time (default 2)
  --minimize K    minimise the first K divergences (default 0)
  --write-cases   write each minimised divergence under DIR/cases and DIR/golden
  --case SEED     run the single case generated from SEED
  --dir CASE      run one hand-written case (conformance.py's case layout)
  --print SEED    print that case's Dockerfile and context, build nothing
  --keep DIR      keep the context of every divergence under DIR

Needs dockerd with BuildKit ($DOCKER_HOST, default unix:///tmp/peers/docker.sock,
client $DOCKER, default /usr/bin/docker) and the registry with the busybox
base ($BASE). It fails (exit 2) if either is missing. The last line printed is
'N passed, M failed'; the exit code is 1 when any case diverged.
"""
import concurrent.futures as cf, hashlib, json, os, shutil, subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("SHARED_CONFORMANCE", os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "conformance")))


def die(msg):
    """Setup problems (no dockerd, no base, no binary) are failures, never skips."""
    print(f"difftest: {msg}", file=sys.stderr)
    sys.exit(2)


sys.path.insert(0, HERE)
sys.path.insert(0, SHARED)
try:
    import imagetree, conformance  # from ../shared/conformance, never copied here
except ImportError:
    die(f"cannot import imagetree/conformance from {SHARED} (set SHARED_CONFORMANCE)")
import gen

BASE = conformance.BASE
DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")
DOCKER_ENV = dict(os.environ, DOCKER_BUILDKIT="1", DOCKER_HOST=os.environ.get("DOCKER_HOST", "unix:///tmp/peers/docker.sock"))
_tag_lock = threading.Lock()
_tag_n = [0]


def opt(args, name, default=None):
    return args[args.index(name) + 1] if name in args else default


# ------------------------------------------------------------------ context
def write_context(case, ctx, base=BASE):
    """Writes the case's Dockerfile and context into ctx (a new directory)."""
    os.makedirs(ctx)
    os.chmod(ctx, 0o755)
    files = case["files"]
    dirs = sorted((p for p, e in files.items() if e[0] == "dir"), key=lambda p: p.count("/"))
    for p in dirs:
        os.makedirs(os.path.join(ctx, p), exist_ok=True)
    later = []
    for p, e in sorted(files.items()):
        full = os.path.join(ctx, p)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if e[0] == "file":
            data = e[2]
            data = gen.tar_bytes(data["tar"], data["gzip"]) if isinstance(data, dict) else data.encode("latin-1")
            with open(full, "wb") as f:
                f.write(data)
            os.chmod(full, e[1]); os.lchown(full, e[3], e[4])
        elif e[0] == "symlink":
            os.symlink(e[1], full)
        elif e[0] == "hardlink":
            later.append((p, e))
    for p, e in later:
        tgt = os.path.join(ctx, e[1])
        if os.path.isfile(tgt) and not os.path.islink(tgt):
            os.link(tgt, os.path.join(ctx, p))
    for p in reversed(dirs):
        e = files[p]
        os.lchown(os.path.join(ctx, p), e[2], e[3]); os.chmod(os.path.join(ctx, p), e[1])
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("\n".join(case["lines"]).replace("@BASE@", base) + "\n")


def flags(case):
    return conformance.build_flags({"args": case.get("args") or {}, "target": case.get("target")})


# ------------------------------------------------------------------- builds
def new_tag():
    with _tag_lock:
        _tag_n[0] += 1
        return f"difftest-{os.getpid()}-{_tag_n[0]}:latest"


def buildkit(ctx, case, work):
    """BuildKit's snapshot of the case, or None when the build fails."""
    tag = new_tag()
    r = subprocess.run([DOCKER, "build", "--no-cache", "--network=none", "-q", "-t", tag, *flags(case), ctx],
                       env=DOCKER_ENV, capture_output=True, text=True)
    if r.returncode:
        return None, r.stderr.strip()[-600:]
    out = os.path.join(work, "bk.tar")
    try:
        subprocess.run([DOCKER, "save", "-o", out, tag], env=DOCKER_ENV, check=True, capture_output=True)
    finally:
        subprocess.run([DOCKER, "rmi", "-f", tag], env=DOCKER_ENV, capture_output=True)
    snap = conformance.summarize(imagetree.snapshot(out, BASE_SNAP))
    os.remove(out)
    return snap, ""


def mybuild(bin_, root, ctx, case, work):
    out = os.path.join(work, "mb.tar")
    # Exactly conformance.py's command line, plus a throwaway store.
    cmd = [bin_, "--root", root, "build", "--no-cache", "-f", os.path.join(ctx, "Dockerfile"), "-t", new_tag(),
           "--output", f"type=oci,dest={out}", *flags(case), ctx]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return None, "timeout"
    if r.returncode:
        return None, (r.stderr.strip().splitlines() or ["(no stderr)"])[-1][:400]
    try:
        snap = conformance.summarize(imagetree.snapshot(out, BASE_SNAP))
    except SystemExit:
        return None, "output image unreadable"
    os.remove(out)
    return snap, ""


class Outcome:
    def __init__(self, kind, problems=(), bk_err="", mb_err=""):
        self.kind = kind  # pass | both-fail | diverge-content | mybuild-fails | mybuild-succeeds
        self.problems = list(problems)
        self.bk_err, self.mb_err = bk_err, mb_err

    @property
    def ok(self):
        return self.kind in ("pass", "both-fail")


def run_case(case, bin_, root, keep_ctx=None):
    work = tempfile.mkdtemp(prefix="difftest-")
    try:
        ctx = os.path.join(work, "ctx")
        write_context(case, ctx)
        with cf.ThreadPoolExecutor(2) as ex:
            fb = ex.submit(buildkit, ctx, case, work)
            fm = ex.submit(mybuild, bin_, root, ctx, case, work)
            (bk, bk_err), (mb, mb_err) = fb.result(), fm.result()
        if bk is None and mb is None:
            out = Outcome("both-fail", bk_err=bk_err, mb_err=mb_err)
        elif bk is None:
            out = Outcome("mybuild-succeeds", ["  BuildKit failed but mybuild succeeded: " + bk_err.splitlines()[-1] if bk_err else ""], bk_err)
        elif mb is None:
            out = Outcome("mybuild-fails", ["  build failed: " + mb_err], mb_err=mb_err)
        else:
            problems = conformance.diff(bk, mb)
            out = Outcome("diverge-content" if problems else "pass", problems)
        if keep_ctx and not out.ok:
            shutil.copytree(ctx, keep_ctx, symlinks=True, dirs_exist_ok=True)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------- minimisation
def stage_spans(lines):
    starts = [i for i, l in enumerate(lines) if l.startswith("FROM ")]
    return [(s, (starts[k + 1] if k + 1 < len(starts) else len(lines))) for k, s in enumerate(starts)]


def minimize(case, still, log=print):
    """Greedy delta debugging: keeps any reduction for which still(case) holds."""
    import copy
    best = copy.deepcopy(case)
    tries = [0]

    def attempt(cand):
        tries[0] += 1
        if still(cand):
            nonlocal best
            best = cand
            return True
        return False

    changed = True
    while changed:
        changed = False
        # whole stages
        for s, e in reversed(stage_spans(best["lines"])):
            if len(stage_spans(best["lines"])) <= 1:
                break
            c = copy.deepcopy(best); del c["lines"][s:e]
            if c.get("target") and f" AS {c['target']}" not in "\n".join(c["lines"]):
                c["target"] = None
            if attempt(c):
                changed = True
        for key in ("target",):
            if best.get(key):
                c = copy.deepcopy(best); c[key] = None
                changed |= attempt(c)
        for k in list(best.get("args") or {}):
            c = copy.deepcopy(best); del c["args"][k]
            changed |= attempt(c)
        # lines, in shrinking chunks (a FROM only goes with its stage)
        n = len(best["lines"]) // 2
        while n >= 1:
            i = 0
            while i < len(best["lines"]):
                c = copy.deepcopy(best)
                chunk = c["lines"][i:i + n]
                if any(l.startswith("FROM ") for l in chunk) or not chunk:
                    i += n; continue
                del c["lines"][i:i + n]
                if attempt(c):
                    changed = True
                else:
                    i += n
            n //= 2
        # a step that must stay for the stages' shape: the simplest step instead
        for li in range(len(best["lines"])):
            line = best["lines"][li]
            if not line.startswith(("FROM ", "ARG ", "RUN true")) and li < len(best["lines"]):
                c = copy.deepcopy(best); c["lines"][li] = "RUN true"
                changed |= attempt(c)
        # words of COPY/ADD/RUN lines: flags, extra sources, ';'-joined commands
        for li in range(len(best["lines"])):
            if li >= len(best["lines"]):
                break
            line = best["lines"][li]
            if line.startswith(("COPY ", "ADD ")):
                words = line.split(" ")
                for wi in range(len(words) - 2, 0, -1):
                    ws = best["lines"][li].split(" ")
                    if wi >= len(ws) - 1:
                        continue
                    nsrc = len([w for w in ws[1:-1] if not w.startswith("--")])
                    if not ws[wi].startswith("--") and nsrc <= 1:
                        continue
                    c = copy.deepcopy(best); c["lines"][li] = " ".join(ws[:wi] + ws[wi + 1:])
                    changed |= attempt(c)
            elif line.startswith("RUN ") and "; " in line and not line.startswith("RUN ["):
                parts = line[4:].split("; ")
                for pi in range(len(parts) - 2, -1, -1):
                    ps = best["lines"][li][4:].split("; ")
                    if len(ps) <= 2 or pi >= len(ps) - 1:
                        continue
                    c = copy.deepcopy(best); c["lines"][li] = "RUN " + "; ".join(ps[:pi] + ps[pi + 1:])
                    changed |= attempt(c)
        # context files (a directory goes with everything below it)
        for p in sorted(best["files"], key=lambda p: -p.count("/")):
            if p not in best["files"]:
                continue
            c = copy.deepcopy(best)
            for q in [q for q in c["files"] if q == p or q.startswith(p + "/")]:
                del c["files"][q]
            changed |= attempt(c)
        # make what is left representable in git: 0644/0755 files, 0755 dirs, owned by root, short text
        for p, e in sorted(best["files"].items()):
            c = copy.deepcopy(best); ce = c["files"][p]
            if e[0] == "file":
                want = 0o755 if e[1] & 0o100 else 0o644
                if e[1] != want or e[3:5] != [0, 0]:
                    ce[1] = want; ce[3] = ce[4] = 0
                    changed |= attempt(c)
                elif isinstance(e[2], str) and len(e[2]) > 4:
                    ce[2] = "x\n"; changed |= attempt(c)
                elif isinstance(e[2], dict) and len(e[2]["tar"]) > 1:
                    for mi in range(len(e[2]["tar"])):
                        c = copy.deepcopy(best); m = c["files"][p][2]["tar"]
                        if mi < len(m) and len(m) > 1:
                            del m[mi]; changed |= attempt(c)
            elif e[0] == "dir" and (e[1] != 0o755 or e[2:4] != [0, 0]):
                ce[1] = 0o755; ce[2] = ce[3] = 0
                changed |= attempt(c)
            elif e[0] == "dir" and not any(q.startswith(p + "/") for q in best["files"]):
                c["files"][p + "/keep"] = ["file", 0o644, "k\n", 0, 0]  # git keeps no empty dirs
                changed |= attempt(c)
    log(f"  minimised in {tries[0]} builds")
    return best


def representable(case):
    """Whether git can hold this context as is (what a checkout gives)."""
    why = []
    files = case["files"]
    for p, e in files.items():
        if e[0] == "file" and (e[1] not in (0o644, 0o755) or e[3:5] != [0, 0]):
            why.append(f"{p} mode {e[1]:o} owner {e[3]}:{e[4]}")
        if e[0] == "dir" and (e[1] != 0o755 or e[2:4] != [0, 0]):
            why.append(f"{p} dir mode {e[1]:o}")
        if e[0] == "dir" and not any(q.startswith(p + "/") and files[q][0] != "dir" for q in files):
            why.append(f"{p} empty dir")
        if e[0] == "hardlink":
            why.append(f"{p} hardlink")
    return why


def write_permanent(case, name, outdir, bin_, root):
    """Writes the case as testdata/conformance/cases/NAME (+ golden/NAME.json
    recorded from BuildKit on the files as written, i.e. as git gives them)."""
    cdir = os.path.join(outdir, "cases", name)
    shutil.rmtree(cdir, ignore_errors=True)
    files = {p: e for p, e in case["files"].items() if e[0] != "hardlink"}
    write_context(dict(case, files=files), cdir, base="@BASE@")
    for dp, dns, fns in os.walk(cdir):
        os.chmod(dp, 0o755)
    meta = {}
    if case.get("args"):
        meta["args"] = case["args"]
    if case.get("target"):
        meta["target"] = case["target"]
    rev = subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
    meta["generated"] = {"seed": case.get("seed"), "generator": f"tests/differential at {rev or 'unknown'}"}
    with open(os.path.join(cdir, "case.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True); f.write("\n")
    # golden: built the way conformance.py's `golden` builds, from a prepared copy
    with tempfile.TemporaryDirectory() as work:
        ctx, meta2 = conformance.prepare(cdir, work)
        tag = new_tag()
        r = subprocess.run([DOCKER, "build", "--no-cache", "--network=none", "-q", "-t", tag, *conformance.build_flags(meta2), ctx],
                           env=DOCKER_ENV, capture_output=True, text=True)
        if r.returncode:
            snap = {"error": True}
        else:
            out = os.path.join(work, "img.tar")
            subprocess.run([DOCKER, "save", "-o", out, tag], env=DOCKER_ENV, check=True)
            subprocess.run([DOCKER, "rmi", "-f", tag], env=DOCKER_ENV, capture_output=True)
            snap = conformance.summarize(imagetree.snapshot(out, BASE_SNAP))
    os.makedirs(os.path.join(outdir, "golden"), exist_ok=True)
    with open(os.path.join(outdir, "golden", name + ".json"), "w") as f:
        json.dump(snap, f, indent=1, sort_keys=True); f.write("\n")
    # The case as stored must still show the divergence to the binary it came from.
    r = subprocess.run([sys.executable, os.path.join(SHARED, "conformance.py"), "check", "--mybuild", bin_,
                        "--cases", os.path.join(outdir, "cases"), "--golden", os.path.join(outdir, "golden"), "--only", name],
                       capture_output=True, text=True)
    return r.returncode != 0


# --------------------------------------------------------------------- main
def preflight():
    r = subprocess.run([DOCKER, "info", "--format", "{{.ServerVersion}}"], env=DOCKER_ENV, capture_output=True, text=True)
    if r.returncode:
        die(f"dockerd not reachable at {DOCKER_ENV['DOCKER_HOST']} with {DOCKER} "
                 f"(start it with PEERS=1 ../shared/bench/peers.sh): {r.stderr.strip()[-300:]}")
    if not shutil.which("skopeo") or subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{BASE}"],
                                                    capture_output=True).returncode:
        die(f"base image {BASE} not in the registry (run ../shared/bench/peers.sh)")


def show(case):
    out = ["    " + l for l in case["lines"]]
    for p, e in sorted(case["files"].items()):
        if e[0] == "file":
            what = "tar" if isinstance(e[2], dict) else f"{len(e[2])}B"
            out.append(f"    ctx {p}: file {e[1]:04o} {e[3]}:{e[4]} {what}")
        elif e[0] == "dir":
            out.append(f"    ctx {p}: dir {e[1]:04o} {e[2]}:{e[3]}")
        else:
            out.append(f"    ctx {p}: {e[0]} -> {e[1]}")
    if case.get("args"):
        out.append(f"    args {case['args']}")
    if case.get("target"):
        out.append(f"    target {case['target']}")
    return "\n".join(out)


def load_dir(case_dir):
    """A hand-written case in conformance.py's layout, as a generated case."""
    files = {}
    for dp, dns, fns in os.walk(case_dir):
        for n in dns + fns:
            full = os.path.join(dp, n); rel = os.path.relpath(full, case_dir)
            st = os.lstat(full)
            if rel in ("Dockerfile", "case.json"):
                continue
            if os.path.islink(full):
                files[rel] = ["symlink", os.readlink(full)]
            elif os.path.isdir(full):
                files[rel] = ["dir", st.st_mode & 0o7777, st.st_uid, st.st_gid]
            else:
                with open(full, "rb") as f:
                    files[rel] = ["file", st.st_mode & 0o7777, f.read().decode("latin-1"), st.st_uid, st.st_gid]
    meta = {}
    if os.path.exists(os.path.join(case_dir, "case.json")):
        with open(os.path.join(case_dir, "case.json")) as f:
            meta = json.load(f)
    with open(os.path.join(case_dir, "Dockerfile")) as f:
        lines = f.read().splitlines()
    return {"lines": lines, "files": files, "args": meta.get("args", {}), "target": meta.get("target"), "seed": None}


def main():
    global BASE_SNAP
    args = sys.argv[1:]
    if "-h" in args or "--help" in args:
        print(__doc__); return 0
    if "--print" in args:
        c = gen.generate(int(opt(args, "--print")))
        print(show(c)); return 0
    bin_ = os.path.abspath(opt(args, "--mybuild", "target/release/mybuild"))
    if not os.access(bin_, os.X_OK):
        die(f"mybuild binary {bin_} not found")
    seed = int(opt(args, "--seed", "1")); count = int(opt(args, "--count", "200"))
    jobs = int(opt(args, "-j", "2")); to_min = int(opt(args, "--minimize", "0"))
    write_dir = opt(args, "--write-cases"); keep = opt(args, "--keep"); verbose = "-v" in args
    preflight()
    BASE_SNAP = conformance.base_snapshot()
    seeds = [int(opt(args, "--case"))] if "--case" in args else [seed * 1000000 + i for i in range(count)]
    root = tempfile.mkdtemp(prefix="difftest-root-")
    t0 = time.time()
    passed = failed = both_fail = 0
    failures = []
    lock = threading.Lock()

    if "--dir" in args:
        seeds = [opt(args, "--dir")]

    def one(s):
        c = load_dir(s) if isinstance(s, str) else gen.generate(s)
        o = run_case(c, bin_, root, os.path.join(keep, str(s)) if keep else None)
        return s, c, o

    try:
        with cf.ThreadPoolExecutor(jobs) as ex:
            for s, c, o in ex.map(one, seeds):
                with lock:
                    if o.ok:
                        passed += 1
                        both_fail += o.kind == "both-fail"
                        if verbose:
                            print(f"PASS {s}" + (f" (both fail) BK: {o.bk_err.splitlines()[-1][:300] if o.bk_err else ''}" if o.kind == "both-fail" else ""), flush=True)
                    else:
                        failed += 1
                        failures.append((s, c, o))
                        print(f"FAIL {s} ({o.kind})\n{show(c)}\n" + "\n".join(o.problems[:12]), flush=True)
        written = set()
        for s, c, o in failures[:to_min]:
            print(f"minimising case {s} ({o.kind}) ...", flush=True)
            m = minimize(c, lambda cand, kind=o.kind: run_case(cand, bin_, root).kind == kind)
            o2 = run_case(m, bin_, root)
            key = hashlib.sha256(json.dumps([m["lines"], m["files"], m.get("args"), m.get("target")], sort_keys=True).encode()).hexdigest()[:8]
            print(f"minimal case {s} [{key}] ({o2.kind}):\n{show(m)}\n" + "\n".join(o2.problems[:12]), flush=True)
            why = representable(m)
            if why:
                print("  not representable in git as is: " + "; ".join(why))
            if write_dir and key not in written:
                written.add(key)
                name = f"diff-{s}"
                fails = write_permanent(m, name, write_dir, bin_, root)
                print(f"  wrote {write_dir}/cases/{name} and golden/{name}.json"
                      + ("" if fails else " (WARNING: as stored it passes with this mybuild)"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{len(seeds)} cases (seed {seed}), {both_fail} of them failing in both builders, "
          f"{time.time() - t0:.0f}s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
