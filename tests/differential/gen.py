"""Seeded generator of random, valid Dockerfile build cases over the busybox
base (see README.md in this folder for what it covers and leaves out).

A case is plain data (so the minimiser can cut it down):
  {"lines": [instruction, ...],          # the Dockerfile, @BASE@ for the base image
   "files": {relpath: entry},            # the build context (besides Dockerfile)
   "args": {K: V}, "target": name|None}
An entry is one of
  ["file", mode, text, uid, gid]   text is a str, or {"tar": [...members]} for an archive
  ["dir", mode, uid, gid]
  ["symlink", target]
  ["hardlink", relpath]            another context file
".dockerignore" is an ordinary file entry.
"""
import fnmatch, io, json, random, re, tarfile, gzip

BASE = "@BASE@"

FILE_MODES = [0o644] * 6 + [0o755] * 3 + [0o600, 0o640, 0o444, 0o700, 0o666, 0o777, 0o750, 0o4755, 0o2755, 0o1644]
DIR_MODES = [0o755] * 6 + [0o700, 0o750, 0o775, 0o777, 0o1777, 0o711, 0o2755]
CHMODS = ["600", "644", "755", "700", "777", "640", "444", "4755", "1777", "2750", "0750", "u+x", "go-r", "a+w", "o-rwx"]
COPY_CHMODS = ["600", "644", "755", "700", "777", "640", "444", "4755", "1777", "0750"]
OWNERS = ["1000:1000", "1:2", "0:0", "65534:65534", "1000", "root", "nobody", "root:nobody", "nobody:root", "$CH", "${CH:-7:7}",
          "123:456", "nobody:65534", "0:1000"]
USERS = ["1000", "1000:1000", "nobody", "65534:65534", "root", "nobody:nobody", "123", "0:123"]
PATHS = ["/a", "/a/b", "/a/b/c", "/d", "/d/e", "/opt/o", "/srv/s", "/home/h", "/w", "/w/x", "/tmp/t", "/var/v/q"]
NAMES = ["f", "g.txt", "sub", "h.log", "k"]
WORDS = ["alpha", "beta", "gamma", "delta", "x y", "zeta-1", ""]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.seed = seed

    def pick(self, seq):
        return self.r.choice(seq)

    def chance(self, p):
        return self.r.random() < p

    # ---------------------------------------------------------------- context
    def context(self):
        files = {}
        r = self.r
        own = lambda: (0, 0) if r.random() < 0.85 else self.pick([(1000, 1000), (12, 34)])
        def add_file(path, mode=None):
            uid, gid = own()
            files[path] = ["file", mode if mode is not None else self.pick(FILE_MODES),
                           f"{path} {r.randrange(1000)}\n" * r.randrange(0, 4), uid, gid]
        for name in r.sample(["a.txt", "b.txt", "c.log", "d.md", "e.sh", "abc.md", "axc.md", "one.txt", "x1.log"], r.randrange(2, 7)):
            add_file(name)
        for d in r.sample(["dir1", "dir2", "tree", "t2"], r.randrange(1, 4)):
            uid, gid = own()
            files[d] = ["dir", self.pick(DIR_MODES), uid, gid]
            for n in r.sample(["x.txt", "y.log", ".hidden", "z.md", "w"], r.randrange(0, 4)):
                add_file(f"{d}/{n}")
            if self.chance(0.5):
                files[f"{d}/sub"] = ["dir", self.pick(DIR_MODES), *own()]
                for n in r.sample(["x.txt", "deep.log", "q"], r.randrange(0, 3)):
                    add_file(f"{d}/sub/{n}")
        regular = [p for p, e in files.items() if e[0] == "file"]
        if self.chance(0.3):
            files["link-a"] = ["symlink", self.pick(regular)]
        if self.chance(0.15):
            files["link-dir"] = ["symlink", self.pick([p for p, e in files.items() if e[0] == "dir"])]
        if self.chance(0.2):
            files["hard-a"] = ["hardlink", self.pick(regular)]
        if self.chance(0.4):
            files["ar.tar"] = ["file", 0o644, {"tar": self.tar_members(), "gzip": False}, 0, 0]
        if self.chance(0.3):
            files["ar2.tar.gz"] = ["file", 0o600, {"tar": self.tar_members(), "gzip": True}, 0, 0]
        if self.chance(0.3):
            pats = self.r.sample(["*.log", "dir2", "**/*.md", "tree/sub", "*/y.log", "t2/.hidden", "b.txt", "**/q"],
                                 self.r.randrange(1, 4))
            files[".dockerignore"] = ["file", 0o644, "\n".join(pats) + "\n", 0, 0]
        return files

    def tar_members(self):
        r = self.r
        out = []
        top = self.pick(["", "pkg/", "./", "root/"])
        if top not in ("", "./"):
            out.append(["dir", top.rstrip("/"), self.pick(DIR_MODES), *self.pick([(0, 0), (1000, 1000), (7, 7)])])
        for i in range(r.randrange(1, 5)):
            kind = self.pick(["file", "file", "file", "dir", "symlink"])
            name = top + self.pick(["m", "n.txt", "lib", "bin/tool", "etc/conf"]) + (str(i) if self.chance(0.3) else "")
            uid, gid = self.pick([(0, 0), (0, 0), (1000, 1000), (5, 6)])
            if kind != "dir" and any(m[0] == "dir" and m[1] == name for m in out):
                # Docker 20.10's untar sets a directory's times at the end and
                # fails when a later entry replaced it (chtimes: no such file).
                continue
            if kind == "file":
                out.append(["file", name, self.pick(FILE_MODES), uid, gid, f"{name}\n" * r.randrange(1, 3)])
            elif kind == "dir":
                out.append(["dir", name, self.pick(DIR_MODES), uid, gid])
            else:
                out.append(["symlink", name, 0o777, uid, gid, self.pick(["m", "/etc/passwd", "../x"])])
        return out

    def ignored(self, path):
        """Roughly .dockerignore's rule (last match wins, a match on a parent
        counts), for the few patterns context() writes."""
        e = self.files.get(".dockerignore")
        if not e:
            return False
        out = False
        for pat in e[2].split():
            neg = pat.startswith("!")
            pat = pat.lstrip("!")
            glob = lambda x: fnmatch.translate(x)[4:-3].replace(".*", "[^/]*")
            rx = re.compile("^" + "(.*/)?".join(glob(x) for x in pat.split("**/")) + "$")
            parts = path.split("/")
            if any(rx.match("/".join(parts[:i])) for i in range(1, len(parts) + 1)):
                out = not neg
        return out

    # ------------------------------------------------------------- dockerfile
    def case(self):
        r = self.r
        files = self.context()
        self.files = files
        ctx_files = [p for p, e in files.items() if e[0] in ("file", "symlink", "hardlink") and p != ".dockerignore"
                     and not self.ignored(p)]
        ctx_dirs = [p for p, e in files.items() if e[0] == "dir" and not self.ignored(p)]
        lines, args = [], {}
        nstages = self.pick([1, 1, 1, 2, 2, 3, 4])
        stage_paths = []  # per stage: paths it created (absolute)
        stage_envs = []  # per stage: names of the variables it set
        names = []
        if self.chance(0.25):
            lines.append(f"ARG IMG={BASE}")
            from_base = "${IMG}"
        else:
            from_base = BASE
        if self.chance(0.2):
            lines.append("ARG GLOBAL=g1")
            if self.chance(0.5):
                args["GLOBAL"] = "fromcli"
        budget = self.r.randrange(4, 12)
        for si in range(nstages):
            name = f"s{si}"
            base = from_base
            if si > 0 and self.chance(0.4):
                base = self.pick(names)
            lines.append(f"FROM {base} AS {name}")
            created = set(stage_paths[names.index(base)]) if base in names else set()
            st = Stage(self, name, created, names, stage_paths, ctx_files, ctx_dirs, args)
            if base in names:  # variables the parent set, ENV and ARG alike
                st.env = dict(stage_envs[names.index(base)])
            n = max(1, budget // nstages + r.randrange(-1, 3))
            for k in range(n):
                if k == n // 2 and si > 0 and base not in names and self.chance(0.7):
                    st.copy_from()  # so that earlier stages are built too
                else:
                    st.step()
            lines += st.lines
            names.append(name)
            stage_paths.append(sorted(st.created))
            stage_envs.append(dict(st.env))
        target = None
        if nstages > 1 and self.chance(0.5):
            target = self.pick(names)
        return {"lines": lines, "files": files, "args": args, "target": target, "seed": self.seed}


class Stage:
    def __init__(self, g, name, created, names, stage_paths, ctx_files, ctx_dirs, args):
        self.g, self.r = g, g.r
        self.name = name
        self.created = set(created)
        self.names, self.stage_paths = list(names), stage_paths
        self.ctx_files, self.ctx_dirs = ctx_files, ctx_dirs
        self.args = args
        self.lines = []
        self.env = {}
        self.user_set = False
        self.files = set()  # paths that may hold a non-directory
        self.users_added = False

    def pick(self, seq):
        return self.r.choice(seq)

    def chance(self, p):
        return self.r.random() < p

    def step(self):
        kinds = [(self.run, 5), (self.copy, 6), (self.add, 2), (self.env_arg, 2), (self.workdir, 2),
                 (self.user, 1.5), (self.config, 2), (self.copy_from, 2 if self.names else 0),
                 (self.shell, 0.3), (self.onbuild, 0.4), (self.repeat, 0.5)]
        tot = sum(w for _, w in kinds)
        x = self.r.random() * tot
        for f, w in kinds:
            x -= w
            if x < 0:
                f(); return
        kinds[0][0]()

    def path(self, dirlike=False):
        for _ in range(20):
            if self.created and self.chance(0.5):
                p = self.pick(sorted(self.created))
            else:
                p = self.pick(PATHS) + ("/" + self.pick(NAMES) if self.chance(0.4) else "")
            if not self.below_file(p, dirlike):
                return p
        return "/fresh" + str(self.r.randrange(100))

    def below_file(self, p, dirlike):
        """Whether p (or, for a directory, p itself) may be a file already."""
        parts = p.rstrip("/").split("/")
        anc = ["/".join(parts[:i]) for i in range(2, len(parts) + (1 if dirlike else 0))]
        return any(a in self.files for a in anc)

    def owner(self):
        o = self.pick(OWNERS + (["app", "app:app", "app:1000"] if self.users_added else []))
        return o

    # RUN: every command is joined with ';' and the step ends in 'true', so a
    # command that does not apply (a missing path) cannot fail the build.
    def run(self):
        cmds = []
        for _ in range(self.r.randrange(1, 4)):
            cmds.append(self.run_cmd())
        if self.chance(0.1):
            cmds = ["true"]
        line = "; ".join(cmds)
        if self.chance(0.15):
            self.lines.append("RUN " + json.dumps(["/bin/sh", "-c", line + "; true"]))
        else:
            self.lines.append(f"RUN {line}; true")

    def run_cmd(self):
        p = self.path(); q = self.path()
        w = self.pick(WORDS)
        k = self.r.randrange(17)
        self.created.add(p)
        par = p.rsplit("/", 1)[0] or "/"
        if k in (0, 1, 4, 5, 8, 14, 15, 16):
            self.files.add(p)
        if k in (6, 7, 9, 10):
            self.files.discard(p)
        if k == 0:
            return f"mkdir -p {par} && echo '{w}' > {p}"
        if k == 1:
            return f"echo '{w}' >> {p}"
        if k == 2:
            return f"chmod {self.pick(CHMODS)} {p}"
        if k == 3:
            o = self.pick(["1000:1000", "0:0", "nobody", "nobody:nobody", "5", "root:nobody", "123:456"])
            return f"chown {'-R ' if self.chance(0.3) else ''}{o} {p}"
        if k == 4:
            return f"mkdir -p {par} && ln -s{'f' if self.chance(0.5) else ''} {self.pick([q, 'rel', '/etc/passwd', '../x'])} {p}"
        if k == 5:
            return f"mkdir -p {par} && ln {q} {p}"
        if k == 6:
            return f"rm -rf {p}"
        if k == 7:
            return f"rm -rf {p} && mkdir -p {p} && echo in > {p}/inner"
        if k == 8:
            return f"rm -rf {p} && mkdir -p {par} && echo back > {p}"
        if k == 9:
            return f"mkdir -p -m {self.pick(['700', '755', '1777', '750'])} {p}"
        if k == 10:
            return f"mkdir -p {p}"
        if k == 11:
            v = self.pick(list(self.env) or ["HOME", "PATH"])
            return f"mkdir -p {par} && echo \"${v} ${{{v}:-unset}}\" > {p}"
        if k == 12:
            return f"rm -f {self.pick(['/bin/vi', '/bin/ls', '/home', '/var', '/tmp'])}"
        if k == 13:
            return f"chmod {self.pick(['700', '755', '1777', '711'])} {self.pick(['/home', '/var', '/root', '/tmp', '/usr'])}"
        if k == 14:
            return f"cp -a {q} {p}"
        if k == 15:
            if not self.users_added:
                self.users_added = True
                return "echo app:x:1000:1000::/home/app:/bin/sh >> /etc/passwd && echo app:x:1000: >> /etc/group"
            return f"touch {p}"
        return f"mkdir -p {par} && mv {q} {p}"

    def src(self):
        """A COPY/ADD source from the context: file, dir, wildcard, '.', symlink."""
        k = self.r.randrange(10)
        if k <= 2 and self.ctx_files:
            return self.pick(self.ctx_files)
        if k <= 4 and self.ctx_dirs:
            d = self.pick(self.ctx_dirs)
            return d + ("/" if self.chance(0.3) else "")
        if k <= 7:
            pats = ["*.txt", "*.log", "a?c.md", "[ab]*", "dir*", "*/x.txt", "*.md", "nomatch*", "t*", "*", "*/sub",
                    "d*/*.log", "[!a]*.txt", "*.tar", "a*", "*/*"]
            pats += [d + "/" + self.pick(["*", "s*", "*.log", "x*", "?"]) for d in self.ctx_dirs]
            if "link-a" in self.g.files:
                # BuildKit 20.10's context sender follows a top-level symlink to
                # a file for a pattern like */x and fails (readdirent: not a
                # directory): not something to compare.
                pats = [p for p in pats if "/" not in p or not any(c in p.split("/")[0] for c in "*?[")]
            return self.pick(pats)
        if k == 8:
            return self.pick([".", "./", "ar.tar" if "ar.tar" in self.g.files else "."])
        return self.pick(self.ctx_files or ["."])

    def dest(self, many):
        k = self.r.randrange(9)
        if k == 0:
            d = "."
        elif k == 1:
            d = self.pick(["rel", "rel/deeper", "./rel2"])
        elif k == 2 and self.env:
            d = "$" + self.pick(sorted(self.env))
        elif k == 3:
            d = self.pick(["/n1/n2/n3", "/n1/n2", "/new", "/opt/o/p/q"])
        else:
            d = self.path(dirlike=True)
        if (many and self.chance(0.85)) or self.chance(0.5):
            if not d.endswith("/"):
                d += "/"
        return d

    def flags(self, add):
        fl = []
        if self.chance(0.35):
            fl.append(f"--chown={self.owner()}")
        if self.chance(0.25):
            fl.append(f"--chmod={self.pick(COPY_CHMODS)}")
        return fl

    def record(self, dest):
        if dest.startswith("/"):
            self.created.add(dest.rstrip("/") or "/")
            if not dest.endswith("/"):
                self.files.add(dest)

    def copy(self):
        srcs = [self.src() for _ in range(self.pick([1, 1, 1, 2, 3]))]
        dest = self.dest(len(srcs) > 1)
        self.lines.append(" ".join(["COPY", *self.flags(False), *srcs, dest]))
        self.record(dest)

    def add(self):
        tars = [p for p in ("ar.tar", "ar2.tar.gz") if p in self.g.files]
        srcs = [self.pick(tars) if tars and self.chance(0.7) else self.src() for _ in range(self.pick([1, 1, 2]))]
        dest = self.dest(len(srcs) > 1)
        self.lines.append(" ".join(["ADD", *self.flags(True), *srcs, dest]))
        self.record(dest)

    def copy_from(self):
        i = self.r.randrange(len(self.names))
        name = self.names[i]
        paths = self.stage_paths[i]
        k = self.r.randrange(6)
        if k == 0:
            frm, src = BASE, self.pick(["/etc/passwd", "/etc", "/bin/sh", "/tmp"])
        elif paths and k < 5:
            frm, src = name, self.pick(paths) + self.pick(["", "", "/", "/*"])
        else:
            frm, src = name, self.pick(["/", "/etc/passwd", "/et*", "/bin/sh"])
        dest = self.dest(False)
        self.lines.append(" ".join(["COPY", f"--from={frm}", *self.flags(False), src, dest]))
        self.record(dest)

    def env_arg(self):
        k = self.r.randrange(6)
        var = self.pick(["A", "B", "DIR", "P", "CH"])
        if k == 0:
            v = self.pick(["/env/dir", "val", "two words", "${DIR:-/fallback}", "$A/sub", "${A:+set}x"])
            self.env[var] = v
            self.lines.append(f'ENV {var}="{v}"' if self.chance(0.5) else f"ENV {var}={v.replace(' ', '_')}")
        elif k == 1:
            self.env[var] = "x"
            self.lines.append(f"ENV {var} legacy form ${{A}}")
        elif k == 2:
            self.lines.append(f"ENV {var}=1 OTHER=${{{var}}}_2")
            self.env[var] = "1"; self.env["OTHER"] = "x"
        elif k == 3:
            self.lines.append(f"ARG {var}")
            if self.chance(0.5):
                self.args[var] = self.pick(["/from/cli", "cli"])
            self.env.setdefault(var, "")
        elif k == 4:
            self.lines.append(f"ARG {var}={self.pick(['/arg/default', 'dflt', '${A:-nested}'])}")
            if self.chance(0.3):
                self.args[var] = "/cli/val"
            self.env.setdefault(var, "")
        else:
            self.lines.append("ARG GLOBAL")
            self.env["GLOBAL"] = ""

    def workdir(self):
        for _ in range(10):
            d = self.pick(["/a/b", "/wd", "/n1/n2/n3", "rel", "../up", "/a", "$DIR" if "DIR" in self.env else "/e", "/home/h/w", "/tmp/wd"])
            if not self.below_file(d, True):
                break
        else:
            d = "/wd"
        self.lines.append(f"WORKDIR {d}")
        if d.startswith("/"):
            self.created.add(d)

    def user(self):
        u = self.pick(USERS + (["app", "app:app"] if self.users_added else []))
        if self.chance(0.2):
            u = "root"
        self.lines.append(f"USER {u}")

    def shell(self):
        self.lines.append(self.pick(['SHELL ["/bin/sh", "-c"]', 'SHELL ["/bin/sh", "-ec"]', 'SHELL ["/bin/ash", "-c"]']))

    def onbuild(self):
        self.lines.append(self.pick(["ONBUILD RUN echo ob > /onbuild.txt", "ONBUILD ENV OB=1",
                                     "ONBUILD WORKDIR /obw", "ONBUILD LABEL ob=yes"]))

    def repeat(self):
        if self.lines:
            self.lines.append(self.lines[-1])
        else:
            self.run()

    def config(self):
        c = self.pick([
            'CMD ["echo", "hi"]', "CMD echo $A", 'ENTRYPOINT ["/bin/sh", "-c"]', "ENTRYPOINT exec top",
            "EXPOSE 80", "EXPOSE 443/udp 8080/tcp", "EXPOSE ${PORT:-9000}", 'VOLUME ["/data"]', "VOLUME /v1 /v2",
            "LABEL a=b", 'LABEL "k 2"="v 2" c=$A', "STOPSIGNAL SIGTERM", "STOPSIGNAL 9",
            "HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD wget -q localhost || exit 1",
            "HEALTHCHECK NONE", 'HEALTHCHECK CMD ["true"]', "CMD []"])
        self.lines.append(c)


def tar_bytes(members, gz):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        seen_dirs = set()
        for m in members:
            kind, name, mode, uid, gid = m[:5]
            ti = tarfile.TarInfo(name); ti.mtime = 1000000; ti.mode = mode; ti.uid = uid; ti.gid = gid
            ti.uname = ti.gname = ""
            if kind == "dir":
                ti.type = tarfile.DIRTYPE; tf.addfile(ti)
            elif kind == "symlink":
                ti.type = tarfile.SYMTYPE; ti.linkname = m[5]; tf.addfile(ti)
            else:
                data = m[5].encode(); ti.size = len(data); tf.addfile(ti, io.BytesIO(data))
    data = raw.getvalue()
    return gzip.compress(data, mtime=0) if gz else data


def generate(seed):
    return Gen(seed).case()
