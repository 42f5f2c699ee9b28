"""Writes the seed inputs of the archive fuzz targets (add_archive,
layer_unpack) into corpus/<target>/seed-*: one small tar per feature the
readers handle. Deterministic; run from this directory and commit the
result. The corpus grows from these as libFuzzer finds new coverage.

    python3 make_seeds.py
"""
import gzip, io, os, tarfile

MTIME = 1_500_000_000


def info(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, link=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kind, mode, uid, uid, MTIME
    ti.linkname, ti.size = link, len(data)
    return ti, data


def tar(entries, fmt=tarfile.GNU_FORMAT, pax=None):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, pax_headers=pax or {}) as t:
        for ti, data in entries:
            t.addfile(ti, io.BytesIO(data) if data else None)
    return strip(buf.getvalue())


def strip(b):
    """Drops the trailing zero blocks (end marker and record padding): the
    readers stop at EOF too, and short seeds mutate faster."""
    while len(b) >= 512 and not any(b[-512:]):
        b = b[:-512]
    return b


def octal(n, width):
    return b"%0*o\0" % (width - 1, n)


def header(name, kind, size, extra=b"", fields=None):
    """A raw old-GNU header block; `fields` maps byte offsets to values."""
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = octal(0o644, 8)
    h[108:116] = octal(0, 8)
    h[116:124] = octal(0, 8)
    h[124:136] = octal(size, 12)
    h[136:148] = octal(MTIME, 12)
    h[156:157] = kind
    h[257:265] = b"ustar  \0"
    for off, val in (fields or {}).items():
        h[off:off + len(val)] = val
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def pad(b):
    return b + bytes(-len(b) % 512)


def gnu_sparse():
    """Old GNU 'S' entry: an 8 KiB file of five fragments, four in the
    header and the last in an extension block."""
    fields = {482: b"\x01", 483: octal(8192, 12)}
    for i in range(4):
        fields[386 + 24 * i] = octal(1024 * i, 12) + octal(512, 12)
    ext = bytearray(512)
    ext[0:24] = octal(8000, 12) + octal(1, 12)
    data = b"".join(bytes([65 + i]) * 512 for i in range(4)) + b"E"
    return header(b"sparse", b"S", len(data), fields=fields) + bytes(ext) + pad(data)


def gnu_sparse_hole(name):
    """A 1 GiB hole, then one byte: 1 KiB of archive that made ADD write
    1 GiB of zeros, and read that many when named `./` or as a whiteout."""
    hole = 1 << 30
    fields = {386: octal(hole, 12) + octal(1, 12), 483: octal(hole + 1, 12)}
    return header(name, b"S", 1, fields=fields) + pad(b"E")


def pax_sparse_1_0():
    """What `tar --sparse --format=pax` writes (format 1.0): the map is at
    the start of the data, padded to a block."""
    m = pad(b"2\n0\n512\n1024\n4\n")
    data = m + b"h" * 512 + b"tail"
    ti, _ = info("GNUSparseFile.0/holes", data=data)
    ti.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                      "GNU.sparse.name": "holes", "GNU.sparse.realsize": "1100"}
    return tar([(ti, data)], fmt=tarfile.PAX_FORMAT)


def pax_sparse_0_1():
    ti, data = info("GNUSparseFile.0/holes", data=b"h" * 512 + b"tail")
    ti.pax_headers = {"GNU.sparse.major": "0", "GNU.sparse.minor": "1",
                      "GNU.sparse.name": "holes", "GNU.sparse.realsize": "1100",
                      "GNU.sparse.numblocks": "2", "GNU.sparse.map": "0,512,1024,4"}
    return tar([(ti, data)], fmt=tarfile.PAX_FORMAT)


def pax_entry():
    long = "p/" + "n" * 120
    ti, data = info(long, data=b"pax\n", uid=70000)
    ti.pax_headers = {"SCHILY.xattr.user.k": "v", "mtime": "1500000000.5"}
    return tar([info("p/", tarfile.DIRTYPE, mode=0o755), (ti, data)], fmt=tarfile.PAX_FORMAT)


SEEDS = {
    "file": tar([info("f", data=b"hello\n", mode=0o600, uid=1000)]),
    "dir": tar([info("d/", tarfile.DIRTYPE, mode=0o750), info("d/f", data=b"in\n"),
                info("implied/parent/f", data=b"x\n")]),
    "symlink": tar([info("l", tarfile.SYMTYPE, link="d/f"),
                    info("abs", tarfile.SYMTYPE, link="/etc/passwd")]),
    "hardlink": tar([info("f", data=b"one\n"), info("h", tarfile.LNKTYPE, link="f")]),
    "pax": pax_entry(),
    "gnu-longname": tar([info("g/" + "l" * 150, data=b"long\n"),
                         info("ln", tarfile.SYMTYPE, link="t/" + "k" * 150)]),
    "whiteout": tar([info("d/", tarfile.DIRTYPE, mode=0o755), info("d/.wh..wh..opq"),
                     info(".wh.gone"), info("d/.wh.x")]),
    "devices": tar([info("p", tarfile.FIFOTYPE), info("c", tarfile.CHRTYPE)]),
    "gnu-sparse": gnu_sparse(),
    "gnu-sparse-hole": gnu_sparse_hole(b"holes"),
    "gnu-sparse-root": gnu_sparse_hole(b"./"),
    "gnu-sparse-whiteout": gnu_sparse_hole(b".wh.x"),
    "pax-sparse-1.0": pax_sparse_1_0(),
    "pax-sparse-0.1": pax_sparse_0_1(),
    # The add_archive root holds x/abs and x/up (symlinks to a sentinel
    # outside it) and x/file: an archive writing through or over them.
    "through-links": tar([info("abs/evil", data=b"e\n"), info("up/evil", data=b"e\n"),
                          info("file/", tarfile.DIRTYPE), info("../evil", data=b"e\n")]),
}

ADD_ONLY = {
    "gzip": gzip.compress(SEEDS["dir"], mtime=0),
}

for target, extra in [("add_archive", ADD_ONLY), ("layer_unpack", {})]:
    os.makedirs(f"corpus/{target}", exist_ok=True)
    for name, data in {**SEEDS, **extra}.items():
        with open(f"corpus/{target}/seed-{name}", "wb") as f:
            f.write(data)
