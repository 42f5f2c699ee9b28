#!/usr/bin/env python3
"""Real bases, real package managers: builds every case in cases/ FROM a
debootstrapped Debian bookworm (make-debian.py) with Docker's BuildKit and
with mybuild, and checks that

  1. both builds succeed;
  2. the two images are the same: config fields and every path that differs
     from the base (type, mode, owner, size, content), compared with
     ../shared/conformance/imagetree.py, except for the few paths listed in
     IGNORE whose bytes legitimately differ between any two builds;
  3. beyond what imagetree compares: the same layer count and history
     (created_by, empty_layer); the same mtime for every path that predates
     the build in BuildKit's image (package contents, context files; not
    directories), as
     tools rely on them (Python's .pyc validation, make); and no .pyc whose
     recorded source mtime/size is stale in mybuild's image but not in
     BuildKit's;
  4. mybuild's OCI archive and its docker archive hold the same image (the
     same config, hence the same layers: imagetree checks every diff_id);
  6. after an edit of one source file (EDITS, in a copy of the context),
     both builders rebuild the same steps and take the rest from the cache;
  5. mybuild's image runs under Docker (`docker load`, then `docker run
     --network=none`) and a command proving the build worked prints what it
     prints in BuildKit's image.

It prints one line per case, a table of build times and `N passed, M failed`,
and exits non-zero on any failure (a missing dockerd, registry or tool is a
failure too, never a skip).

  run.py [--mybuild BIN] [--only NAME[,NAME]] [--work DIR] [--keep] [-v]

Builds, logs, archives and snapshots go to --work DIR (default a new
directory under /var/tmp, removed after a run that passed unless --keep;
kept after a failure).

Needs root, dockerd with BuildKit at $DOCKER_HOST (default
unix:///tmp/peers/docker.sock, started by `PEERS=1 ../shared/bench/peers.sh`),
the registry on 127.0.0.1:5000, debootstrap and skopeo, and the network to
reach the Debian mirror, PyPI and the npm registry.

Timings: "cold" is a --no-cache build with empty cache mounts (a fresh
mybuild store; BuildKit's cache mounts pruned) and the base image already
pulled by both; "warm" is the same build again, every step cached.
"""
import io, json, multiprocessing, os, re, shutil, struct, subprocess, sys, tarfile, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "conformance")
sys.path.insert(0, SHARED)
try:
    import imagetree
except ImportError:
    sys.exit(f"run.py: imagetree.py not found in {SHARED} (the shared/ folder beside the repository)")

BASE = "127.0.0.1:5000/debian:bookworm"
DOCKER = "/usr/bin/docker"
DOCKER_HOST = os.environ.get("DOCKER_HOST", "unix:///tmp/peers/docker.sock")

# What proves each build worked, run in both images with `docker run --rm
# --network=none`: (entrypoint override or None, command, text the output
# must contain). The output must also be the same in both images.
CHECKS = {
    "apt-server": (None, ["sh", "-c", "nginx -t 2>&1 && nginx -v 2>&1 && cat /usr/share/nginx/html/index.html"],
                   "test is successful"),
    "python-venv": (None, ["sh", "-c", "python -m app --name check && python -c 'import six, idna, packaging, click; print(six.__version__, idna.__version__, packaging.__version__)' && id -un"],
                    "hello check via xn--bcher-kva.example"),
    "node-npm-ci": (None, ["sh", "-c", "node -e \"const p=require('./lib/page'); console.log(p.page('/<x>'), require('debug/package.json').version, require('ms/package.json').version)\" && test ! -e node_modules/is-number && echo no-dev-deps"],
                    "&lt;x&gt;"),
    "c-multistage": ("sh", ["-c", "echo 'to be or not to be' | wordfreq --top 2 && wordfreq --self-test && id -un && ls /usr/bin/gcc 2>&1 || true"],
                     "self-test ok"),
    "apt-cache-mount": ("sh", ["-c", "curl --version | head -1 | cut -d' ' -f1-2 && jq --version && jq -n '[1,2]|add' && ls /var/cache/apt /var/lib/apt 2>&1; test -x /usr/local/bin/fetch-release && echo script-ok"],
                        "script-ok"),
}

# The source edit of check 6: (file in the context, text appended to it;
# {run} becomes a token of this run: BuildKit keeps its cache across runs,
# and would find an edit it saw in an earlier run).
EDITS = {
    "apt-server": ("site/index.html", "<!-- edited {run} -->\n"),
    "python-venv": ("app/__main__.py", "# edited {run}\n"),
    "node-npm-ci": ("server.js", "// edited {run}\n"),
    "c-multistage": ("src/main.c", "/* edited {run}: a comment only, the binary stays the same */\n"),
    "apt-cache-mount": ("fetch-release.sh", "# edited {run}\n"),
}
RUN_TOKEN = f"{time.time_ns():x}"

# Divergences found and not fixed yet, so that the rest of the run stays a
# gate: case -> (steps only BuildKit takes from the cache after the edit,
# why). The run fails if one of them no longer occurs: drop it from here.
KNOWN_EDIT = {
    # BuildKit keys a COPY --from on the content of the files it copies; a
    # comment-only change rebuilds the same binary, so BuildKit reuses the
    # COPY. mybuild keys it on the source stage's cache key and copies again
    # (same layer; only the steps after it would re-run needlessly).
    "c-multistage": ({"[stage-1 2/2] COPY --from=build /src/wordfreq /usr/local/bin/wordfreq"},
                     "mybuild keys COPY --from on the source stage, BuildKit on the copied content"),
}

# Paths whose bytes legitimately differ between two builds of the same
# Dockerfile, whichever the builder: (regex on the path, what to ignore).
#   "content": the path must exist in both images with the same type, mode
#              and owner; only its size and content hash are not compared.
#   "path":    the path itself may be present in one image only (its name
#              holds a time).
# Keep this list short: every entry hides a class of bugs.
IGNORE = [
    # dpkg's and apt's logs: one timestamped line per action.
    (r"^/var/log/dpkg\.log$", "content"),
    (r"^/var/log/apt/(history|term)\.log$", "content"),
    # update-alternatives' log: one timestamped line per link it makes.
    (r"^/var/log/alternatives\.log$", "content"),
    # apt's solver dump, xz-compressed, starts with the date of the run.
    (r"^/var/log/apt/eipp\.log\.xz$", "content"),
    # ldconfig's auxiliary cache records inode numbers and ctimes of the
    # libraries it scanned.
    (r"^/var/cache/ldconfig/aux-cache$", "content"),
    # Bytecode written at install time (ensurepip, pip, py3compile): the
    # header holds the mtime of the source file, i.e. the time of the build.
    (r"/__pycache__/[^/]+\.pyc$", "content"),
    # npm's debug logs, named after the time of the run.
    (r"^/root/\.npm/_logs/[^/]+\.log$", "path"),
]


class Failure(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def run(cmd, logfile=None, env=None, timeout=1800, check=True):
    """Runs cmd; its output goes to logfile (or is captured). Returns
    (CompletedProcess, seconds)."""
    t = time.monotonic()
    try:
        if logfile:
            with open(logfile, "w") as out:
                r = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=timeout, text=True)
        else:
            r = subprocess.run(cmd, capture_output=True, env=env, timeout=timeout, text=True)
    except subprocess.TimeoutExpired:
        raise Failure(f"timed out after {timeout}s: {' '.join(cmd)}")
    except OSError as e:
        raise Failure(f"cannot run {cmd[0]}: {e}")
    secs = time.monotonic() - t
    if check and r.returncode:
        tail = open(logfile).read() if logfile else (r.stdout or "") + (r.stderr or "")
        tail = "\n".join("    " + l for l in tail.strip().splitlines()[-25:])
        raise Failure(f"exit {r.returncode}: {' '.join(cmd)}" + (f" (log: {logfile})" if logfile else "") + f"\n{tail}")
    return r, secs


def docker_env():
    return dict(os.environ, DOCKER_HOST=DOCKER_HOST, DOCKER_BUILDKIT="1")


def docker(*args, **kw):
    return run([DOCKER, *args], env=docker_env(), **kw)


def preflight(mybuild):
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (mybuild's RUN, debootstrap)")
    if not (os.path.isfile(mybuild) and os.access(mybuild, os.X_OK)):
        problems.append(f"mybuild binary {mybuild} not found (cargo build --release, or --mybuild BIN)")
    if not os.access(DOCKER, os.X_OK):
        problems.append(f"{DOCKER} not found (apt-get install docker.io)")
    else:
        r = subprocess.run([DOCKER, "version", "-f", "{{.Server.Version}}"], env=docker_env(), capture_output=True, text=True)
        if r.returncode:
            problems.append(f"dockerd not reachable at DOCKER_HOST={DOCKER_HOST} (start it: PEERS=1 ../shared/bench/peers.sh): {r.stderr.strip()[:200]}")
    for tool in ("skopeo", "debootstrap"):
        if not shutil.which(tool):
            problems.append(f"{tool} not found (apt-get install {tool})")
    if subprocess.run(["curl", "-sf", "http://127.0.0.1:5000/v2/"], capture_output=True).returncode:
        problems.append("no registry on 127.0.0.1:5000 (start it: ../shared/bench/peers.sh)")
    if problems:
        for p in problems:
            log(f"run.py: {p}")
        sys.exit(2)


def mask(snap):
    """Applies IGNORE to a snapshot: {"config", "files", "removed"}."""
    files = {}
    for path, entry in snap["files"].items():
        rule = next((what for rx, what in IGNORE if re.search(rx, path)), None)
        if rule == "path":
            continue
        if rule == "content" and entry.startswith("file "):
            entry = " ".join(entry.split()[:3] + ["<size>", "<content>"])
        files[path] = entry
    removed = [p for p in snap["removed"] if not any(re.search(rx, p) for rx, w in IGNORE if w == "path")]
    return {"config": snap["config"], "files": files, "removed": removed}


def compare(expected, got):
    """Differences between two masked snapshots, one line each."""
    lines = []
    for k in sorted(set(expected["config"]) | set(got["config"])):
        a, b = expected["config"].get(k), got["config"].get(k)
        if a != b:
            lines.append(f"config {k}: buildkit {json.dumps(a)}, mybuild {json.dumps(b)}")
    ef, gf = expected["files"], got["files"]
    for p in sorted(set(ef) | set(gf)):
        if p not in gf:
            lines.append(f"missing {p}: buildkit has {ef[p]}")
        elif p not in ef:
            lines.append(f"extra   {p}: mybuild has {gf[p]}")
        elif ef[p] != gf[p]:
            lines.append(f"differs {p}: buildkit {ef[p]} | mybuild {gf[p]}")
    for p in sorted(set(expected["removed"]) ^ set(got["removed"])):
        who = "buildkit" if p in expected["removed"] else "mybuild"
        lines.append(f"removed {p}: only by {who}")
    return lines


def strip(snap):
    return {k: v for k, v in snap.items() if k != "_tree"}


_BASE = None  # the base snapshot, shared with the snapshot workers by fork


def snapshot_worker(path):
    try:
        return strip(imagetree.snapshot(path, _BASE))
    except SystemExit:
        return None


def snapshots(paths):
    """imagetree snapshots of several images, two at a time (imagetree
    takes minutes on a big image; this machine has two cores)."""
    with multiprocessing.get_context("fork").Pool(2) as pool:
        snaps = pool.map(snapshot_worker, paths)
    for path, snap in zip(paths, snaps):
        if snap is None:
            raise Failure(f"image {path} unreadable (imagetree's message above)")
    return snaps


def details(path):
    """(config, {path: (mtime, size, is_dir)}, {pyc path: first 16 bytes}) of an
    image: what imagetree's snapshot leaves out. Paths are the last entry
    of each name over the layers (whiteouts don't matter: only paths in
    both snapshots are looked at)."""
    config, layers = imagetree.load(path)
    meta, pyc = {}, {}
    for layer in layers:
        tf = tarfile.open(fileobj=io.BytesIO(layer))
        for m in tf:
            p = imagetree.norm(m.name)
            meta[p] = (int(m.mtime), m.size, m.isdir())
            if m.isfile() and p.endswith(".pyc"):
                pyc[p] = tf.extractfile(m).read(16)
            else:
                pyc.pop(p, None)
    return config, meta, pyc


def stale_pycs(meta, pyc):
    """.pyc files (timestamp-validated) whose recorded source mtime and size
    don't match their .py: Python would ignore and rewrite them."""
    stale = set()
    for p, head in pyc.items():
        d, name = os.path.split(p)
        src = os.path.join(os.path.dirname(d), name.split(".")[0] + ".py")
        if len(head) < 16 or src not in meta:
            continue
        flags, mtime, size = struct.unpack("<III", head[4:16])
        if flags == 0 and (mtime, size) != (meta[src][0] & 0xFFFFFFFF, meta[src][1] & 0xFFFFFFFF):
            stale.add(p)
    return stale


def compare_details(bk, mb, bk_start, snap):
    """History, layer count, mtimes and .pyc freshness: BuildKit's image
    (bk) against mybuild's (mb), each a details() triple."""
    lines = []
    (bc, bmeta, bpyc), (mc, mmeta, mpyc) = bk, mb
    bl, ml = len(bc["rootfs"]["diff_ids"]), len(mc["rootfs"]["diff_ids"])
    if bl != ml:
        lines.append(f"layers: buildkit {bl}, mybuild {ml}")
    hist = lambda c: [(h.get("created_by", ""), bool(h.get("empty_layer"))) for h in c.get("history", [])]
    if hist(bc) != hist(mc):
        lines.append("history differs:")
        for i, (a, b) in enumerate(zip(hist(bc) + [None] * len(hist(mc)), hist(mc) + [None] * len(hist(bc)))):
            if a != b and (a or b):
                lines.append(f"  [{i}] buildkit {a} | mybuild {b}")
    ignored = lambda p: any(re.search(rx, p) for rx, _ in IGNORE)
    # Every path of BuildKit's final tree: the base's, less what the build
    # removed, plus what it added or changed.
    final = (set(_BASE["_tree"]) - set(snap["removed"])) | set(snap["files"])
    # Directories are left out: their mtime moves whenever an entry is added
    # or removed, and BuildKit's context transfer does not keep it (a
    # directory COPY'd from the context is dated when BuildKit received it).
    moved = [p for p in sorted(final) if p in bmeta and p in mmeta and not ignored(p) and not bmeta[p][2]
             and bmeta[p][0] < bk_start - 2 and bmeta[p][0] != mmeta[p][0]]
    if moved:
        lines.append(f"mtime differs on {len(moved)} paths older than the build (package or context files):")
        lines += [f"  {p}: buildkit {bmeta[p][0]}, mybuild {mmeta[p][0]}" for p in moved[:10]]
    stale = sorted(stale_pycs(mmeta, mpyc) - stale_pycs(bmeta, bpyc))
    if stale:
        lines.append(f"{len(stale)} .pyc files stale in mybuild's image only: {stale[:5]}")
    return lines


def steps(logfile):
    """({step name}, {cached step name}) of a --progress=plain log: the
    Dockerfile steps (`[2/7] RUN ...`, `[build 3/5] COPY ...`), FROM and
    BuildKit's internal vertices left out."""
    names, cached = {}, set()
    for line in open(logfile, errors="replace"):
        m = re.match(r"#(\d+) (\[(?:\S+ )?\d+/\d+\] (.*))$", line.rstrip("\n"))
        if m and not m.group(3).startswith("FROM "):
            names[m.group(1)] = m.group(2)
        m = re.match(r"#(\d+) CACHED$", line.rstrip("\n"))
        if m:
            cached.add(m.group(1))
    return set(names.values()), {names[v] for v in cached if v in names}


def run_check(image, case):
    entry, cmd, want = CHECKS[case]
    args = ["run", "--rm", "--network=none"] + (["--entrypoint", entry] if entry else []) + [image] + cmd
    r, _ = docker(*args, check=False, timeout=300)
    out = (r.stdout + r.stderr).strip()
    if r.returncode:
        raise Failure(f"docker run {image} exited {r.returncode}:\n    " + out.replace("\n", "\n    "))
    if want not in out:
        raise Failure(f"docker run {image}: output lacks {want!r}:\n    " + out.replace("\n", "\n    "))
    return out


def build_case(case, ctx, work, mybuild, root, verbose):
    """Returns (problems, timings)."""
    t = {}
    bk_tag, mb_tag = f"realbase-{case}:buildkit", f"realbase-{case}:mybuild"
    d = os.path.join(work, case)
    os.makedirs(d, exist_ok=True)
    df = os.path.join(ctx, "Dockerfile")

    # BuildKit: cold (no cache, no cache mounts), then warm.
    docker("builder", "prune", "-f", "--filter", "type=exec.cachemount")
    bk_start = time.time()
    _, t["buildkit cold"] = docker("build", "--no-cache", "--network=host", "--progress=plain", "-t", bk_tag,
                                   "-f", df, ctx, logfile=os.path.join(d, "buildkit-cold.log"))
    _, t["buildkit warm"] = docker("build", "--network=host", "--progress=plain", "-t", bk_tag,
                                   "-f", df, ctx, logfile=os.path.join(d, "buildkit-warm.log"))
    bk_tar = os.path.join(d, "buildkit.tar")
    docker("save", "-o", bk_tar, bk_tag)

    # mybuild: cold to an OCI archive, warm to a docker archive.
    mb_oci, mb_docker = os.path.join(d, "mybuild-oci.tar"), os.path.join(d, "mybuild-docker.tar")
    mb = [mybuild, "--root", root, "build", "--progress=plain", "-f", df, "-t", mb_tag]
    _, t["mybuild cold"] = run(mb[:4] + ["--no-cache"] + mb[4:] + ["--output", f"type=oci,dest={mb_oci}", ctx],
                               logfile=os.path.join(d, "mybuild-cold.log"))
    _, t["mybuild warm"] = run(mb + ["--output", f"type=docker,dest={mb_docker}", ctx],
                               logfile=os.path.join(d, "mybuild-warm.log"))

    problems = []
    for who in ("buildkit", "mybuild"):
        every, cached = steps(os.path.join(d, f"{who}-warm.log"))
        if not every or every != cached:
            problems.append(f"{who}'s warm rebuild ran steps again: {sorted(every - cached) or 'no steps in its log'}")
    snaps = dict(zip(("buildkit", "mybuild"), snapshots([bk_tar, mb_oci])))
    for name, snap in snaps.items():
        with open(os.path.join(d, name + ".json"), "w") as f:
            json.dump(snap, f, indent=1, sort_keys=True)
    try:
        bk_details, mb_details = details(bk_tar), details(mb_oci)
        mb_docker_config = imagetree.load(mb_docker)[0]
    except SystemExit:
        raise Failure("an image is unreadable (imagetree's message above)")
    if mb_docker_config != mb_details[0]:
        problems.append("mybuild's OCI and docker archives hold different images (configs differ)")
    problems += compare_details(bk_details, mb_details, bk_start, snaps["buildkit"])
    diffs = compare(mask(snaps["buildkit"]), mask(snaps["mybuild"]))
    if diffs:
        problems.append(f"image differs from BuildKit's ({len(diffs)} paths/fields):")
        problems += ["  " + l for l in diffs[: None if verbose else 30]]
        if len(diffs) > 30 and not verbose:
            problems.append(f"  ... {len(diffs) - 30} more (-v, or {d}/*.json)")

    # mybuild's image under Docker, and the same command in BuildKit's.
    docker("load", "-i", mb_docker)
    try:
        mb_out = run_check(mb_tag, case)
        bk_out = run_check(bk_tag, case)
        if mb_out != bk_out:
            problems.append(f"docker run output differs:\n  buildkit: {bk_out!r}\n  mybuild:  {mb_out!r}")
        elif verbose:
            log("  docker run: " + mb_out.replace("\n", " | "))
    except Failure as e:
        problems.append(str(e))

    # An edit of one source file: both rebuild the same steps.
    file, text = EDITS[case]
    ectx = os.path.join(d, "edited-ctx")
    if os.path.exists(ectx):
        shutil.rmtree(ectx)
    shutil.copytree(ctx, ectx, symlinks=True)
    with open(os.path.join(ectx, file), "a") as f:
        f.write(text.format(run=RUN_TOKEN))
    edf = os.path.join(ectx, "Dockerfile")
    bk_log, mb_log = os.path.join(d, "buildkit-edit.log"), os.path.join(d, "mybuild-edit.log")
    _, t["buildkit edit"] = docker("build", "--network=host", "--progress=plain", "-t", bk_tag + "-edit",
                                   "-f", edf, ectx, logfile=bk_log)
    _, t["mybuild edit"] = run([mybuild, "--root", root, "build", "--progress=plain", "-f", edf,
                                "-t", mb_tag + "-edit", ectx], logfile=mb_log)
    (bk_all, bk_cached), (mb_all, mb_cached) = steps(bk_log), steps(mb_log)
    if bk_all != mb_all:
        problems.append(f"after editing {file}, the logs name different steps: buildkit {sorted(bk_all)}, mybuild {sorted(mb_all)}")
    elif bk_cached != mb_cached and (case not in KNOWN_EDIT or mb_cached | KNOWN_EDIT[case][0] != bk_cached
                                     or mb_cached & KNOWN_EDIT[case][0]):
        problems.append(f"after editing {file}, cached only by buildkit: {sorted(bk_cached - mb_cached)}; "
                        f"only by mybuild: {sorted(mb_cached - bk_cached)}")
    elif bk_cached == mb_cached and case in KNOWN_EDIT:
        problems.append(f"after editing {file}, both cached the same steps: the known divergence "
                        f"({KNOWN_EDIT[case][1]}) is gone; remove it from KNOWN_EDIT")
    elif bk_cached == bk_all:
        problems.append(f"after editing {file}, every step was cached: the edit did not reach the build")
    if case in KNOWN_EDIT and bk_cached != mb_cached:
        log(f"  KNOWN {case}: after editing {file}, only BuildKit reused {sorted(bk_cached - mb_cached)}: "
            f"{KNOWN_EDIT[case][1]}")
    elif verbose and not problems:
        log(f"  after editing {file}: rebuilt {sorted(bk_all - bk_cached)}")
    t["files"] = len(snaps["mybuild"]["files"])
    return problems, t


def prepare_base(mybuild, root, work):
    """Makes (or finds) the base, pushes it, and has both builders pull it."""
    r, secs = run([sys.executable, os.path.join(HERE, "make-debian.py"), "--ref", BASE], timeout=1800)
    layout = json.loads(r.stdout)["layout"]
    log(f"base {BASE}: {json.loads(r.stdout)['digest']} ({secs:.1f}s)")
    global _BASE
    _BASE = imagetree.snapshot(layout)
    # Both builders start with the base pulled: a cold build times the build.
    _, pull_docker = docker("pull", "-q", BASE)
    pull_ctx = os.path.join(work, "pull-ctx")
    os.makedirs(pull_ctx, exist_ok=True)
    with open(os.path.join(pull_ctx, "Dockerfile"), "w") as f:
        f.write(f"FROM {BASE}\n")
    _, pull_mybuild = run([mybuild, "--root", root, "build", "--progress=plain", pull_ctx],
                          logfile=os.path.join(work, "mybuild-pull.log"))
    log(f"base pulled: docker {pull_docker:.1f}s, mybuild {pull_mybuild:.1f}s")


def main():
    args = sys.argv[1:]
    opt = lambda n, dflt=None: args[args.index(n) + 1] if n in args else dflt
    mybuild = os.path.abspath(opt("--mybuild", os.path.join(REPO, "target/release/mybuild")))
    only = opt("--only")
    verbose = "-v" in args
    cases_dir = os.path.join(HERE, "cases")
    cases = sorted(os.listdir(cases_dir))
    if only:
        unknown = set(only.split(",")) - set(cases)
        if unknown:
            sys.exit(f"run.py: no such case: {', '.join(sorted(unknown))}")
        cases = [c for c in cases if c in only.split(",")]
    missing = [c for c in cases if c not in CHECKS or c not in EDITS]
    if missing:
        sys.exit(f"run.py: cases without a run check in CHECKS or an edit in EDITS: {', '.join(missing)}")
    preflight(mybuild)

    keep = "--keep" in args or opt("--work") is not None
    work = opt("--work") or tempfile.mkdtemp(prefix="realbase-", dir="/var/tmp")
    os.makedirs(work, exist_ok=True)
    root = os.path.join(work, "mybuild-root")
    if os.path.exists(root):
        shutil.rmtree(root)
    log(f"work dir: {work}   (load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs)")

    t0 = time.monotonic()
    try:
        prepare_base(mybuild, root, work)
    except Failure as e:
        log(f"FAIL base image: {e}")
        log(f"0 passed, {len(cases)} failed")
        sys.exit(1)

    passed, failed, times = 0, 0, {}
    for case in cases:
        t = time.monotonic()
        try:
            problems, times[case] = build_case(case, os.path.join(cases_dir, case), work, mybuild, root, verbose)
        except Failure as e:
            problems = [str(e)]
        if problems:
            failed += 1
            log(f"FAIL {case} ({time.monotonic() - t:.0f}s)")
            for p in problems:
                log("  " + p.replace("\n", "\n  "))
        else:
            passed += 1
            log(f"PASS {case} ({time.monotonic() - t:.0f}s, {times[case]['files']} paths compared)")

    cols = ["buildkit cold", "mybuild cold", "buildkit warm", "mybuild warm", "buildkit edit", "mybuild edit"]
    log("")
    log(f"{'case':<18}" + "".join(f"{c:>15}" for c in cols) + f"{'cold ratio':>12}")
    for case, t in times.items():
        ratio = t["mybuild cold"] / t["buildkit cold"] if t.get("buildkit cold") else float("nan")
        log(f"{case:<18}" + "".join(f"{t[c]:>14.1f}s" for c in cols) + f"{ratio:>11.2f}x")
    if times:
        tot = {c: sum(t[c] for t in times.values()) for c in cols}
        log(f"{'total':<18}" + "".join(f"{tot[c]:>14.1f}s" for c in cols) +
            f"{tot['mybuild cold'] / tot['buildkit cold']:>11.2f}x")
    log(f"(cold: --no-cache, empty cache mounts, base already pulled; warm: the same build again "
        f"(mybuild's also writes the docker archive); edit: after the source edit of EDITS. "
        f"whole run {time.monotonic() - t0:.0f}s)")
    with open(os.path.join(work, "timings.json"), "w") as f:
        json.dump(times, f, indent=1, sort_keys=True)
    if failed or keep:
        log(f"logs, images and snapshots: {work}")
    else:
        shutil.rmtree(work)
        for case in cases:
            for suffix in ("buildkit", "buildkit-edit", "mybuild", "mybuild-edit"):
                docker("rmi", "-f", f"realbase-{case}:{suffix}", check=False)
    log(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
