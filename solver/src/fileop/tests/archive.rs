use super::*;
use flate2::write::GzEncoder;
use std::io::Write;

/// One tar entry: name (written raw, so hostile names are possible),
/// type, mode, uid, body or link target.
struct E<'a>(&'a str, tar::EntryType, u32, u64, &'a str);

fn tarball(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for E(name, kind, mode, uid, body) in entries {
        let mut h = tar::Header::new_gnu();
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(*kind);
        h.set_mode(*mode);
        h.set_uid(*uid);
        h.set_gid(*uid);
        h.set_mtime(1_500_000_000);
        let data: &[u8] = if kind.is_file() { body.as_bytes() } else { b"" };
        if matches!(kind, tar::EntryType::Symlink | tar::EntryType::Link) {
            h.set_link_name_literal(body).unwrap();
        }
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn add(src: &str, dest: &str) -> FileAction {
    with(copy(&[src], dest), |c| c.extract_archives = true)
}

fn sample() -> Vec<u8> {
    use tar::EntryType::*;
    tarball(&[
        E("top/", Directory, 0o755, 0, ""),
        E("top/t", Regular, 0o644, 42, "t\n"),
        E("top/inner/file", Regular, 0o600, 0, "in\n"),
        E("top/lnk", Symlink, 0o777, 0, "inner/file"),
        E("top/hard", Link, 0o644, 0, "top/t"),
    ])
}

#[test]
fn add_extracts_tar_and_gzip_by_content() {
    let fx = Fixture::new();
    fs::write(fx.ctx.path().join("archive.tar.gz"), gzip(&sample())).unwrap();
    // Detection is by magic bytes, not by name.
    fs::write(fx.ctx.path().join("plain.bin"), sample()).unwrap();
    fx.file("notes.txt", "n\n");
    fx.apply(vec![
        add("archive.tar.gz", "/extracted/"),
        add("plain.bin", "/plain"),
        add("notes.txt", "/notes/"),
    ])
    .unwrap();
    for base in ["/extracted/top", "/plain/top"] {
        assert_eq!(fx.read(&format!("{base}/t")), "t\n");
        assert_eq!(fx.read(&format!("{base}/inner/file")), "in\n");
        assert_eq!(
            fs::read_link(fx.out(&format!("{base}/lnk"))).unwrap(),
            Path::new("inner/file")
        );
        assert_eq!(
            fx.meta(&format!("{base}/t")),
            (0o644, 42, 42),
            "owner comes from the archive"
        );
        assert_eq!(fx.meta(&format!("{base}/inner/file")).0, 0o600);
        let t = fs::metadata(fx.out(&format!("{base}/t"))).unwrap();
        assert_eq!(
            t.ino(),
            fs::metadata(fx.out(&format!("{base}/hard"))).unwrap().ino()
        );
        assert_eq!(t.mtime(), 1_500_000_000);
        assert_eq!(fs::metadata(fx.out(base)).unwrap().mtime(), 1_500_000_000);
    }
    assert_eq!(fx.read("/notes/notes.txt"), "n\n");
}

/// BuildKit (Docker 20.10) gives `--chown` to the extraction directory it
/// creates, but the archive's entries keep their own owners and the parents
/// an entry implies are root's (found by tests/differential).
#[test]
fn add_chown_owns_only_the_directory_it_creates() {
    let fx = Fixture::new();
    fs::write(fx.ctx.path().join("a.tgz"), gzip(&sample())).unwrap();
    use tar::EntryType::*;
    let implied = tarball(&[E("no/parent/f", Regular, 0o644, 5, "x")]);
    fs::write(fx.ctx.path().join("implied.tar"), implied).unwrap();
    fx.apply(vec![
        with(add("a.tgz", "/x"), |c| c.owner = owner("7", Some("8"))),
        with(add("implied.tar", "/y/z/"), |c| {
            c.owner = owner("7", Some("8"))
        }),
    ])
    .unwrap();
    assert_eq!(fx.meta("/x/top/t"), (0o644, 42, 42));
    assert_eq!(fx.meta("/x"), (0o755, 7, 8));
    assert_eq!(fx.meta("/y"), (0o755, 7, 8));
    assert_eq!(fx.meta("/y/z"), (0o755, 7, 8));
    assert_eq!(fx.meta("/y/z/no"), (0o755, 0, 0));
    assert_eq!(fx.meta("/y/z/no/parent/f"), (0o644, 5, 5));
}

#[test]
fn hostile_archives_are_rejected() {
    use tar::EntryType::*;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("../evil", tarball(&[E("../evil", Regular, 0o644, 0, "x")])),
        (
            "a/../../evil",
            tarball(&[E("a/../../evil", Regular, 0o644, 0, "x")]),
        ),
        // An absolute link is fine to create, but writing through it would
        // land outside the extraction directory.
        (
            "lnk/passwd",
            tarball(&[
                E("lnk", Symlink, 0o777, 0, "/etc"),
                E("lnk/passwd", Regular, 0o644, 0, "x"),
            ]),
        ),
        (
            "up/evil",
            tarball(&[
                E("up", Symlink, 0o777, 0, "../../.."),
                E("up/evil", Regular, 0o644, 0, "x"),
            ]),
        ),
        ("hard", tarball(&[E("hard", Link, 0o644, 0, "../outside")])),
    ];
    for (entry, bytes) in cases {
        let fx = Fixture::new();
        fx.root_file("outside", "o");
        fs::write(fx.ctx.path().join("evil.tar"), bytes).unwrap();
        let err = fx.apply(vec![add("evil.tar", "/dest/")]).unwrap_err();
        assert!(
            matches!(&err, FileOpError::Archive(ArchiveError::Escape { entry: e, .. }) if e == entry),
            "{entry}: {err}"
        );
        assert!(err.to_string().contains(entry), "{err}");
        assert!(
            !fx.out("/evil").exists() && !fx.out("/etc/passwd").exists(),
            "{entry}"
        );
        assert!(!fx.root.path().parent().unwrap().join("evil").exists());
    }
}

/// BuildKit (Docker 20.10) extracts in a chroot and keeps any link target
/// as written, `..` or absolute (found by tests/differential).
#[test]
fn links_pointing_up_or_out_are_kept_as_written() {
    use tar::EntryType::*;
    let fx = Fixture::new();
    let bytes = tarball(&[
        E("pkg/up", Symlink, 0o777, 0, "../x"),
        E("far", Symlink, 0o777, 0, "../../../etc"),
    ]);
    fs::write(fx.ctx.path().join("l.tar"), bytes).unwrap();
    fx.apply(vec![add("l.tar", "/d/")]).unwrap();
    assert_eq!(
        fs::read_link(fx.out("/d/pkg/up")).unwrap(),
        Path::new("../x")
    );
    assert_eq!(
        fs::read_link(fx.out("/d/far")).unwrap(),
        Path::new("../../../etc")
    );
}

#[test]
fn other_compressions_are_clear_errors() {
    let fx = Fixture::new();
    fs::write(fx.ctx.path().join("a.tar.bz2"), b"BZh91AY&SY garbage").unwrap();
    let err = fx.apply(vec![add("a.tar.bz2", "/x/")]).unwrap_err();
    assert!(
        matches!(
            err,
            FileOpError::Archive(ArchiveError::Unsupported {
                format: "bzip2",
                ..
            })
        ),
        "{err}"
    );
    // COPY never extracts.
    fs::write(fx.ctx.path().join("t.tar"), sample()).unwrap();
    fx.apply(vec![copy(&["t.tar"], "/y/")]).unwrap();
    assert_eq!(fs::read(fx.out("/y/t.tar")).unwrap(), sample());
}

/// Makes a 1 MiB file with two data islands and archives it with GNU tar
/// using `args`; returns the file's bytes.
fn sparse_archive(fx: &Fixture, args: &[&str]) -> Vec<u8> {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("holes");
    let mut data = vec![0u8; 1 << 20];
    data[..4].copy_from_slice(b"head");
    data[900_000..900_004].copy_from_slice(b"tail");
    {
        use std::io::{Seek, SeekFrom};
        let mut f = fs::File::create(&file).unwrap();
        f.write_all(b"head").unwrap();
        f.seek(SeekFrom::Start(900_000)).unwrap();
        f.write_all(b"tail").unwrap();
        f.set_len(1 << 20).unwrap();
    }
    let archive = fx.ctx.path().join("sparse.tar");
    let out = std::process::Command::new("tar")
        .arg("--sparse")
        .args(args)
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(src.path())
        .arg("holes")
        .output()
        .expect("GNU tar makes the sparse archive");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    data
}

/// Issue 13 item 5: GNU sparse entries (`tar --sparse`, type `S`) were
/// skipped, so ADD of such an archive left the file out without a word.
#[test]
fn add_extracts_gnu_sparse_files_whole() {
    let fx = Fixture::new();
    let data = sparse_archive(&fx, &["--format=gnu"]);
    let bytes = fs::read(fx.ctx.path().join("sparse.tar")).unwrap();
    assert_eq!(bytes[156], b'S', "tar wrote no sparse entry");
    fx.apply(vec![add("sparse.tar", "/x/")]).unwrap();
    assert_eq!(fs::read(fx.out("/x/holes")).unwrap(), data);
}

/// Issue 13 item 5: PAX sparse entries came out as `GNUSparseFile.N/holes`
/// holding the raw map; each PAX version is expanded under its real name.
#[test]
fn add_extracts_pax_sparse_files_of_every_version() {
    for version in ["0.0", "0.1", "1.0"] {
        let fx = Fixture::new();
        let v = format!("--sparse-version={version}");
        let data = sparse_archive(&fx, &["--format=pax", &v]);
        let bytes = fs::read(fx.ctx.path().join("sparse.tar")).unwrap();
        assert!(
            bytes.windows(10).any(|w| w == b"GNU.sparse"),
            "{version}: tar wrote no PAX sparse records"
        );
        fx.apply(vec![add("sparse.tar", "/x/")]).unwrap();
        let got = fs::read(fx.out("/x/holes")).unwrap_or_default();
        assert!(got == data, "{version}: expanded file differs");
        let names: Vec<_> = fs::read_dir(fx.out("/x"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["holes"], "{version}: only the real name is written");
    }
}

/// One old-GNU sparse entry (type `S`): a `hole` of that many bytes, then
/// the single data byte `E`. About 1 KiB of archive for any hole.
fn gnu_sparse_hole(name: &str, hole: u64) -> Vec<u8> {
    fn octal(n: u64) -> [u8; 12] {
        let mut field = [0u8; 12];
        field[..11].copy_from_slice(format!("{n:011o}").as_bytes());
        field
    }
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_entry_type(tar::EntryType::GNUSparse);
    h.set_mode(0o644);
    h.set_mtime(1_500_000_000);
    h.set_size(1);
    let gnu = h.as_gnu_mut().unwrap();
    gnu.sparse[0].offset = octal(hole);
    gnu.sparse[0].numbytes = octal(1);
    gnu.realsize = octal(hole + 1);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"E"[..]).unwrap();
    b.into_inner().unwrap()
}

/// Found writing the add_archive fuzz target (its space check flags it): a
/// GNU sparse entry's holes were written out as zeros, so 1 KiB of archive
/// made a 1 GiB file, and a bigger hole filled the disk or ran for days.
/// Docker leaves holes unwritten; so does ADD now.
#[test]
fn gnu_sparse_holes_take_no_space() {
    use std::io::{Read, Seek, SeekFrom};
    let fx = Fixture::new();
    let bytes = gnu_sparse_hole("holes", 1 << 30);
    fs::write(fx.ctx.path().join("bomb.tar"), bytes).unwrap();
    fx.apply(vec![add("bomb.tar", "/x/")]).unwrap();
    let m = fs::metadata(fx.out("/x/holes")).unwrap();
    assert_eq!(m.len(), (1 << 30) + 1);
    assert!(
        m.blocks() * 512 < 1 << 20,
        "{} bytes written",
        m.blocks() * 512
    );
    let mut f = fs::File::open(fx.out("/x/holes")).unwrap();
    let mut end = Vec::new();
    f.seek(SeekFrom::Start((1 << 30) - 2)).unwrap();
    f.read_to_end(&mut end).unwrap();
    assert_eq!(end, b"\0\0E");
    assert_eq!(fx.meta("/x/holes"), (0o644, 0, 0));
}

/// The same entry named `./` stood for the extraction directory and was
/// skipped, which reads its data to the end: every zero of its holes. Named
/// `d/`, the tar reader's own unpack would make it a directory.
#[test]
fn sparse_entries_named_as_directories_are_refused() {
    for (name, why) in [
        ("./", "extraction directory"),
        ("d/", "named like a directory"),
    ] {
        let fx = Fixture::new();
        fs::write(fx.ctx.path().join("t.tar"), gnu_sparse_hole(name, 1 << 30)).unwrap();
        let err = fx.apply(vec![add("t.tar", "/x/")]).unwrap_err();
        assert!(err.to_string().contains(why), "{name}: {err}");
    }
}
