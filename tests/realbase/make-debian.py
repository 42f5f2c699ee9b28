#!/usr/bin/env python3
"""Makes a Debian bookworm base image with `debootstrap --variant=minbase`,
packs it into an OCI layout deterministically (sorted entries, clamped
mtimes, numeric owners, gzip without name/time) and pushes it to the local
registry, so BuildKit and mybuild build FROM the very same image.

  make-debian.py [--cache DIR] [--ref REF] [--force]

The layout is cached in DIR (default /var/tmp/mybuild-realbase): a re-run
only checks that the registry still holds the image (and pushes it again if
not). --force rebuilds from scratch.

The mirror is the one the host's apt uses for bookworm (read from
/etc/apt/sources.list and /etc/apt/sources.list.d/*), or $MIRROR; the
image's own sources point at the same mirror (plus bookworm-updates, and
bookworm-security when the host has it), so `apt-get update` inside a build
works wherever the host's apt works.

Like the official debian image, the rootfs gets the apt/dpkg settings
containers conventionally carry (docker-clean, no recommends left implicit,
no translations) and loses caches, apt lists and logs.
"""
import glob, gzip, hashlib, json, os, re, shutil, subprocess, sys, time

REF = "127.0.0.1:5000/debian:bookworm"
CACHE = "/var/tmp/mybuild-realbase"
SUITE = "bookworm"
# Clamp for every mtime in the layer and the image's "created": the release
# date of Debian 12, so the base is the same bytes on every machine that
# debootstraps the same packages.
EPOCH = 1686355200  # 2023-06-10T00:00:00Z
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def log(msg):
    print(f"make-debian: {msg}", file=sys.stderr, flush=True)


def die(msg):
    log(msg)
    sys.exit(1)


def apt_sources():
    """(uri, [suites]) of every enabled deb source of the host's apt."""
    out = []
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        if not os.path.exists(path):
            continue
        for line in open(path):
            words = line.split("#", 1)[0].split()
            if len(words) < 3 or words[0] != "deb":
                continue
            words = [w for w in words[1:] if not w.startswith("[")]  # drop [options]
            out.append((words[0], [words[1]]))
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for stanza in open(path).read().split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.split()
            if "deb" not in fields.get("types", []) or fields.get("enabled", ["yes"])[0] == "no":
                continue
            for uri in fields.get("uris", []):
                out.append((uri, fields.get("suites", [])))
    return out


def mirrors():
    srcs = apt_sources()
    main = os.environ.get("MIRROR") or next((u for u, s in srcs if SUITE in s), None)
    if not main:
        die(f"no apt source for '{SUITE}' in /etc/apt (set MIRROR=URL to choose one)")
    security = next((u for u, s in srcs if f"{SUITE}-security" in s), None)
    return main.rstrip("/"), security and security.rstrip("/")


def sh(*cmd, **kw):
    r = subprocess.run(cmd, **kw)
    if r.returncode:
        die(f"{' '.join(cmd)} exited {r.returncode}")
    return r


def write(root, rel, text, mode=0o644):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text)
    os.chmod(p, mode)


def tidy(root, main, security):
    """What a container base image carries and lacks (as the official image)."""
    sources = f"Types: deb\nURIs: {main}\nSuites: {SUITE} {SUITE}-updates\nComponents: main\n" \
              f"Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    if security:
        sources += f"\nTypes: deb\nURIs: {security}\nSuites: {SUITE}-security\nComponents: main\n" \
                   f"Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    write(root, "etc/apt/sources.list.d/debian.sources", sources)
    if os.path.exists(os.path.join(root, "etc/apt/sources.list")):
        os.remove(os.path.join(root, "etc/apt/sources.list"))
    # apt empties its package caches after every run (RUN --mount=type=cache
    # users delete this file); no translations; dpkg without fsync.
    write(root, "etc/apt/apt.conf.d/docker-clean",
          'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
          'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
          'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";\n')
    write(root, "etc/apt/apt.conf.d/docker-no-languages", 'Acquire::Languages "none";\n')
    write(root, "etc/dpkg/dpkg.cfg.d/docker-apt-speedup", "force-unsafe-io\n")
    # Machine-specific or time-dependent state of the bootstrap.
    for pattern in ["var/cache/apt/*.bin", "var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*",
                    "var/cache/ldconfig/aux-cache", "var/log/*.log", "var/log/apt/*", "dev/*",
                    "proc/*", "sys/*", "run/*", "tmp/*", "var/tmp/*"]:
        for p in glob.glob(os.path.join(root, pattern)):
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.remove(p)
    for i, pem in enumerate(extra_cas()):
        write(root, f"usr/local/share/ca-certificates/host-extra-{i}.crt", pem)
    with open(os.path.join(root, "etc/machine-id"), "w"):
        pass  # empty: systemd would generate one at boot; containers don't boot
    write(root, "etc/hostname", "localhost\n")


def extra_cas():
    """CA certificates the host trusts beyond Debian's ca-certificates: a
    TLS-intercepting egress proxy's CA, say. A build reaching PyPI or the npm
    registry through that proxy needs it, as a company's base image would
    carry its own CA: update-ca-certificates (run when a build installs
    ca-certificates) adds /usr/local/share/ca-certificates/*.crt to the
    bundle. None on a machine with direct access."""
    def pems(text):
        return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)
    def key(pem):
        return re.sub(r"\s+", "", pem)
    bundle = "/etc/ssl/certs/ca-certificates.crt"
    if not os.path.exists(bundle):
        return []
    debian = set()
    for f in glob.glob("/usr/share/ca-certificates/**/*.crt", recursive=True):
        debian.update(key(p) for p in pems(open(f).read()))
    return [p + "\n" for p in pems(open(bundle).read()) if key(p) not in debian]


def blob_put(layout, data):
    d = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(layout, "blobs/sha256"), exist_ok=True)
    with open(os.path.join(layout, "blobs/sha256", d), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + d, "size": len(data)}


def pack(root, layout, tag):
    """rootfs -> OCI layout with one gzip layer, deterministic bytes."""
    tar = subprocess.run(
        ["tar", "--create", "--file=-", "--directory", root, "--sort=name", "--numeric-owner",
         "--xattrs", "--xattrs-include=security.capability", f"--mtime=@{EPOCH}", "--clamp-mtime",
         "--format=pax", "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime", "."],
        stdout=subprocess.PIPE, check=True).stdout
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    gz = gzip.compress(tar, compresslevel=6, mtime=0)
    layer = dict(mediaType="application/vnd.oci.image.layer.v1.tar+gzip", **blob_put(layout, gz))
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(EPOCH))
    config = {
        "architecture": "amd64", "os": "linux", "created": created,
        "config": {"Env": [f"PATH={PATH}"], "Cmd": ["bash"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": f"debootstrap --variant=minbase {SUITE} (tests/realbase/make-debian.py)"}],
    }
    cfg = dict(mediaType="application/vnd.oci.image.config.v1+json",
               **blob_put(layout, json.dumps(config, sort_keys=True, separators=(",", ":")).encode()))
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg, "layers": [layer]}
    man = dict(mediaType="application/vnd.oci.image.manifest.v1+json",
               **blob_put(layout, json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()),
               annotations={"org.opencontainers.image.ref.name": tag})
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [man]}, f)
    return man["digest"], len(gz)


def registry_digest(ref):
    r = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
                       capture_output=True)
    return "sha256:" + hashlib.sha256(r.stdout).hexdigest() if r.returncode == 0 else None


def main():
    args = sys.argv[1:]
    cache = args[args.index("--cache") + 1] if "--cache" in args else CACHE
    ref = args[args.index("--ref") + 1] if "--ref" in args else REF
    tag = ref.rsplit(":", 1)[1]
    layout = os.path.join(cache, "oci")
    if os.geteuid() != 0:
        die("needs root (debootstrap)")
    for tool in ("debootstrap", "skopeo", "tar"):
        if not shutil.which(tool):
            die(f"{tool} not found (apt-get install debootstrap skopeo)")
    if "--force" in args or not os.path.exists(os.path.join(layout, "index.json")):
        main_uri, security = mirrors()
        rootfs = os.path.join(cache, "rootfs")
        for d in (rootfs, layout):
            if os.path.exists(d):
                shutil.rmtree(d)
        os.makedirs(cache, exist_ok=True)
        log(f"debootstrap --variant=minbase {SUITE} from {main_uri}")
        t = time.time()
        with open(os.path.join(cache, "debootstrap.log"), "w") as out:
            r = subprocess.run(["debootstrap", "--variant=minbase", SUITE, rootfs, main_uri],
                               stdout=out, stderr=subprocess.STDOUT)
        if r.returncode:
            with open(os.path.join(cache, "debootstrap.log")) as f:
                sys.stderr.write("".join(f.readlines()[-20:]))
            die(f"debootstrap exited {r.returncode} (log: {cache}/debootstrap.log)")
        log(f"debootstrap took {time.time() - t:.0f}s")
        tidy(rootfs, main_uri, security)
        tmp = layout + ".tmp"
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
        digest, size = pack(rootfs, tmp, tag)
        os.rename(tmp, layout)
        shutil.rmtree(rootfs)
        log(f"packed {digest} ({size / 1e6:.1f} MB compressed)")
    with open(os.path.join(layout, "index.json")) as f:
        digest = json.load(f)["manifests"][0]["digest"]
    if registry_digest(ref) != digest:
        log(f"pushing to {ref}")
        sh("skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:{tag}", f"docker://{ref}")
        if registry_digest(ref) != digest:
            die(f"{ref} does not hold {digest} after the push")
    print(json.dumps({"ref": ref, "digest": digest, "layout": layout}))


if __name__ == "__main__":
    main()
