//! Layer tests on real overlay mounts and real archives (we run as root).

use super::tarhdr::{append_entry, base_header};
use super::{pack, xattr};
use crate::{Store, StoreError, UnpackError};
use mybuild_graph::Digest;
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use tar::EntryType;

fn store() -> (tempfile::TempDir, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::open(&tmp.path().join("store")).unwrap();
    (tmp, s)
}

#[derive(Debug, PartialEq)]
struct Seen {
    path: String,
    kind: EntryType,
    link: Option<String>,
    mode: u32,
    owner: (u64, u64),
    data: Vec<u8>,
    xattrs: Vec<(String, Vec<u8>)>,
}

fn read_tar(bytes: &[u8]) -> Vec<Seen> {
    let mut a = tar::Archive::new(bytes);
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let mut xattrs = Vec::new();
        if let Some(exts) = e.pax_extensions().unwrap() {
            for x in exts {
                let x = x.unwrap();
                if let Some(n) = x.key().unwrap().strip_prefix("SCHILY.xattr.") {
                    xattrs.push((n.to_string(), x.value_bytes().to_vec()));
                }
            }
        }
        let h = e.header().clone();
        let mut data = Vec::new();
        io::Read::read_to_end(&mut e, &mut data).unwrap();
        out.push(Seen {
            path: String::from_utf8(e.path_bytes().into_owned()).unwrap(),
            kind: h.entry_type(),
            link: e
                .link_name_bytes()
                .map(|l| String::from_utf8(l.into_owned()).unwrap()),
            mode: h.mode().unwrap(),
            owner: (h.uid().unwrap(), h.gid().unwrap()),
            data,
            xattrs,
        });
    }
    out
}

fn mknod(path: &Path, kind: libc::mode_t, dev: libc::dev_t) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: valid path.
    let rc = unsafe { libc::mknod(c.as_ptr(), kind | 0o644, dev) };
    assert_eq!(rc, 0, "mknod {}", path.display());
}

/// Makes the changes the brief's overlay scenario needs inside `merged`.
fn change_merged(m: &Path) {
    fs::remove_file(m.join("del.txt")).unwrap();
    fs::remove_dir_all(m.join("opq")).unwrap();
    fs::create_dir(m.join("opq")).unwrap();
    fs::write(m.join("opq/new"), b"new").unwrap();
    fs::remove_dir_all(m.join("d2f")).unwrap();
    fs::write(m.join("d2f"), b"now a file").unwrap();
    fs::write(m.join("mod.txt"), b"changed").unwrap();
    fs::create_dir(m.join("n")).unwrap();
    fs::write(m.join("n/a"), b"suid").unwrap();
    std::os::unix::fs::chown(m.join("n/a"), Some(1234), Some(5678)).unwrap();
    fs::set_permissions(m.join("n/a"), fs::Permissions::from_mode(0o4755)).unwrap();
    xattr::set(&m.join("n/a"), "user.k", b"v").unwrap();
    fs::hard_link(m.join("n/a"), m.join("n/b")).unwrap();
    mknod(&m.join("n/c"), libc::S_IFCHR, libc::makedev(1, 3));
    mknod(&m.join("n/f"), libc::S_IFIFO, 0);
    symlink("../keep.txt", m.join("n/s")).unwrap();
}

fn lower_tree(lower: &Path) {
    fs::create_dir_all(lower.join("opq/sub")).unwrap();
    fs::create_dir_all(lower.join("d2f")).unwrap();
    for (p, c) in [
        ("keep.txt", "k"),
        ("del.txt", "d"),
        ("mod.txt", "m"),
        ("opq/old1", "1"),
        ("opq/sub/old2", "2"),
        ("d2f/x", "x"),
    ] {
        fs::write(lower.join(p), c).unwrap();
    }
}

#[test]
fn commit_upper_from_real_overlay() {
    let (tmp, s) = store();
    let lower = tmp.path().join("lower");
    lower_tree(&lower);
    let wd = s.work_dir().unwrap();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        wd.upper().display(),
        wd.work().display()
    );
    nix::mount::mount(
        Some("overlay"),
        &wd.merged(),
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(opts.as_str()),
    )
    .expect("mount overlay");
    change_merged(&wd.merged());
    nix::mount::umount(&wd.merged()).unwrap();

    let diff_id = s.commit_upper(&wd.upper()).unwrap();
    assert!(!wd.upper().exists(), "upper was moved into snapshots");
    let entries = read_tar(&tar_of(&s, &diff_id));
    let shape: Vec<(&str, EntryType)> = entries.iter().map(|e| (e.path.as_str(), e.kind)).collect();
    use EntryType::*;
    assert_eq!(
        shape,
        [
            ("d2f", Regular),
            (".wh.del.txt", Regular),
            ("mod.txt", Regular),
            ("n/", Directory),
            ("n/a", Regular),
            ("n/b", Link),
            ("n/c", Char),
            ("n/f", Fifo),
            ("n/s", Symlink),
            ("opq/", Directory),
            ("opq/.wh..wh..opq", Regular),
            ("opq/new", Regular),
        ]
    );
    let a = &entries[4];
    assert_eq!(
        (a.mode, a.owner, a.data.as_slice()),
        (0o4755, (1234, 5678), &b"suid"[..])
    );
    let wh = &entries[1];
    assert_eq!(
        (wh.mode, wh.owner),
        (0o600, (0, 0)),
        "whiteouts as Docker writes them"
    );
    assert_eq!(
        a.xattrs,
        [("user.k".to_string(), b"v".to_vec())],
        "overlay's private xattrs are dropped"
    );
    assert_eq!(entries[5].link.as_deref(), Some("n/a"));
    assert_eq!(entries[8].link.as_deref(), Some("../keep.txt"));
    assert_eq!(entries[0].data, b"now a file");

    let snap = s.snapshot_dir(&diff_id).expect("snapshot recorded");
    assert_eq!(snap.file_name().unwrap().len(), 16);
    assert_eq!(
        xattr::get(&snap.join("opq"), xattr::opaque_xattr())
            .unwrap()
            .as_deref(),
        Some(&b"y"[..])
    );
    assert!(xattr::list(&snap.join("mod.txt"))
        .unwrap()
        .iter()
        .all(|(n, _)| !n.starts_with("trusted.overlay.")));
    let repacked = pack::write_layer(&snap, Vec::new()).unwrap();
    assert_eq!(Digest::of(&repacked), diff_id, "packing is deterministic");
    let rec = s.layer_record(&diff_id).unwrap().unwrap();
    assert_eq!(rec.size, repacked.len() as u64);
    assert!(
        !s.has_blob(&diff_id),
        "a build's layer keeps no tar of its own"
    );
}

/// The layer's tar as the store streams it, checked against its diff_id.
fn tar_of(s: &Store, diff_id: &Digest) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut s.layer_tar(diff_id).unwrap(), &mut out).unwrap();
    assert_eq!(
        &Digest::of(&out),
        diff_id,
        "the tar is packed again exactly"
    );
    out
}

#[test]
fn empty_upper_still_makes_a_layer_and_duplicates_are_discarded() {
    let (_t, s) = store();
    let a = s.work_dir().unwrap();
    let b = s.work_dir().unwrap();
    let da = s.commit_upper(&a.upper()).unwrap();
    let db = s.commit_upper(&b.upper()).unwrap();
    assert_eq!(da, db);
    assert_eq!(tar_of(&s, &da).len(), 1024);
    assert!(s.snapshot_dir(&da).unwrap().is_dir());
    assert!(!b.upper().exists(), "duplicate upper discarded");
    assert_eq!(fs::read_dir(s.snapshots_root()).unwrap().count(), 1);
}

/// Appends one entry with raw (unvalidated) names, as a hostile tool could.
fn add(
    b: &mut tar::Builder<Vec<u8>>,
    kind: EntryType,
    path: &str,
    link: Option<&str>,
    mode: u32,
    data: &[u8],
) {
    let mut h = base_header(kind, mode, 0, 0, 1_600_000_000);
    h.set_size(data.len() as u64);
    if matches!(kind, EntryType::Char) {
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
    }
    append_entry(b, h, path.as_bytes(), link.map(str::as_bytes), &[], data).unwrap();
}

#[test]
fn import_round_trip_with_whiteouts() {
    let (_t, s) = store();
    let mut b = tar::Builder::new(Vec::new());
    add(&mut b, EntryType::Directory, "./etc/", None, 0o755, b"");
    add(
        &mut b,
        EntryType::Regular,
        "./etc/passwd",
        None,
        0o644,
        b"root:x:0:0",
    );
    add(
        &mut b,
        EntryType::Link,
        "etc/hl",
        Some("etc/passwd"),
        0o644,
        b"",
    );
    add(&mut b, EntryType::Regular, "bin/su", None, 0o4755, b"elf");
    add(
        &mut b,
        EntryType::Symlink,
        "bin/sh",
        Some("/bin/busybox"),
        0o777,
        b"",
    );
    add(&mut b, EntryType::Char, "dev/null", None, 0o666, b"");
    add(&mut b, EntryType::Fifo, "run/fifo", None, 0o600, b"");
    add(&mut b, EntryType::Regular, ".wh.gone", None, 0o644, b"");
    add(&mut b, EntryType::Directory, "opq/", None, 0o700, b"");
    add(
        &mut b,
        EntryType::Regular,
        "opq/.wh..wh..opq",
        None,
        0o644,
        b"",
    );
    add(&mut b, EntryType::Regular, "opq/f", None, 0o644, b"f");
    let mut h = base_header(EntryType::Regular, 0o644, 7, 8, 5);
    h.set_size(1);
    let xattrs = [
        ("user.nl".to_string(), b"a\nb".to_vec()),
        ("user.x".to_string(), b"1".to_vec()),
        ("trusted.overlay.redirect".to_string(), b"/x".to_vec()),
    ];
    append_entry(&mut b, h, b"xa", None, &xattrs, &b"x"[..]).unwrap();
    let bytes = b.into_inner().unwrap();

    let diff_id = s.import_layer(&bytes[..], None).unwrap();
    assert_eq!(diff_id, Digest::of(&bytes));
    assert_eq!(
        s.read_blob(&diff_id).unwrap(),
        bytes,
        "uncompressed tar kept when no compressed blob"
    );
    let snap = s.snapshot_dir(&diff_id).unwrap();
    let meta = |p: &str| fs::symlink_metadata(snap.join(p)).unwrap();
    assert_eq!(meta("etc/passwd").ino(), meta("etc/hl").ino());
    assert_eq!(meta("bin/su").mode() & 0o7777, 0o4755);
    assert_eq!(
        fs::read_link(snap.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    assert_eq!(meta("dev/null").rdev(), libc::makedev(1, 3));
    assert!(meta("run/fifo").file_type().is_fifo());
    let gone = meta("gone");
    assert!(
        gone.file_type().is_char_device() && gone.rdev() == 0,
        "whiteout device"
    );
    assert!(!snap.join(".wh.gone").exists());
    assert_eq!(
        xattr::get(&snap.join("opq"), xattr::opaque_xattr())
            .unwrap()
            .as_deref(),
        Some(&b"y"[..])
    );
    assert!(!snap.join("opq/.wh..wh..opq").exists());
    assert_eq!(meta("opq").mode() & 0o7777, 0o700);
    assert_eq!(
        meta("etc").mtime(),
        1_600_000_000,
        "dir mtime applied after its children"
    );
    assert_eq!(
        (meta("xa").uid(), meta("xa").gid(), meta("xa").mtime()),
        (7, 8, 5)
    );
    assert_eq!(
        xattr::get(&snap.join("xa"), "user.x").unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(
        xattr::get(&snap.join("xa"), "trusted.overlay.redirect").unwrap(),
        None,
        "overlay state never imported"
    );

    // Packing the imported snapshot gives back the same layer content.
    let again = read_tar(&pack::write_layer(&snap, Vec::new()).unwrap());
    let names: Vec<&str> = again.iter().map(|e| e.path.as_str()).collect();
    assert!(
        names.contains(&".wh.gone")
            && names.contains(&"opq/.wh..wh..opq")
            && names.contains(&"etc/hl")
    );
}

#[test]
fn whiteout_and_entry_in_one_layer_keep_the_entry() {
    let (_t, s) = store();
    let mut b = tar::Builder::new(Vec::new());
    add(&mut b, EntryType::Regular, ".wh.d", None, 0o644, b"");
    add(&mut b, EntryType::Directory, "d/", None, 0o755, b"");
    add(&mut b, EntryType::Directory, "e/", None, 0o755, b"");
    add(&mut b, EntryType::Regular, ".wh.e", None, 0o644, b"");
    add(&mut b, EntryType::Regular, "f", None, 0o644, b"kept");
    add(&mut b, EntryType::Regular, ".wh.f", None, 0o644, b"");
    let diff_id = s.import_layer(&b.into_inner().unwrap()[..], None).unwrap();
    let snap = s.snapshot_dir(&diff_id).unwrap();
    for d in ["d", "e"] {
        assert!(snap.join(d).is_dir());
        assert_eq!(
            xattr::get(&snap.join(d), xattr::opaque_xattr())
                .unwrap()
                .as_deref(),
            Some(&b"y"[..]),
            "{d} hides the lower dir"
        );
    }
    assert_eq!(fs::read(snap.join("f")).unwrap(), b"kept");
}

fn import_err(s: &Store, build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> String {
    let mut b = tar::Builder::new(Vec::new());
    build(&mut b);
    let bytes = b.into_inner().unwrap();
    match s.import_layer(&bytes[..], None) {
        Err(
            e @ StoreError::Unpack {
                source: UnpackError::Unsafe { .. },
            },
        ) => e.to_string(),
        other => panic!("expected an unsafe-entry error, got {other:?}"),
    }
}

#[test]
fn hostile_archives_are_rejected() {
    let (tmp, s) = store();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();

    let e = import_err(&s, |b| {
        add(b, EntryType::Regular, "../x", None, 0o644, b"x")
    });
    assert!(e.contains("\"../x\"") && e.contains(".."), "{e}");
    let e = import_err(&s, |b| {
        add(b, EntryType::Regular, "/etc/x", None, 0o644, b"x")
    });
    assert!(e.contains("absolute"), "{e}");
    let target = outside.to_str().unwrap().to_string();
    let e = import_err(&s, |b| {
        add(b, EntryType::Symlink, "evil", Some(&target), 0o777, b"");
        add(b, EntryType::Regular, "evil/pwned", None, 0o644, b"x");
    });
    assert!(e.contains("evil/pwned") && e.contains("symlink"), "{e}");
    let e = import_err(&s, |b| {
        add(
            b,
            EntryType::Link,
            "hl",
            Some("../../etc/passwd"),
            0o644,
            b"",
        )
    });
    assert!(e.contains("hardlink target"), "{e}");
    let e = import_err(&s, |b| {
        add(b, EntryType::Symlink, "up", Some(".."), 0o777, b"");
        add(b, EntryType::Link, "hl", Some("up/outside/f"), 0o644, b"");
    });
    assert!(e.contains("symlink"), "{e}");

    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written outside"
    );
    assert_eq!(fs::read_dir(s.snapshots_root()).unwrap().count(), 0);
    assert_eq!(
        fs::read_dir(s.root().join("v1/tmp")).unwrap().count(),
        0,
        "failed unpacks cleaned up"
    );
    assert_eq!(fs::read_dir(s.root().join("v1/ingest")).unwrap().count(), 0);
}

#[test]
fn concurrent_imports_of_one_layer_agree() {
    let (_t, s) = store();
    let s = std::sync::Arc::new(s);
    let mut b = tar::Builder::new(Vec::new());
    add(
        &mut b,
        EntryType::Regular,
        "etc/os-release",
        None,
        0o644,
        b"ID=test",
    );
    let bytes = std::sync::Arc::new(b.into_inner().unwrap());
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (s, bytes) = (s.clone(), bytes.clone());
            std::thread::spawn(move || s.import_layer(&bytes[..], None).unwrap())
        })
        .collect();
    let ids: Vec<Digest> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(ids.iter().all(|d| *d == ids[0]));
    let snap = s.snapshot_dir(&ids[0]).unwrap();
    assert_eq!(fs::read(snap.join("etc/os-release")).unwrap(), b"ID=test");
    assert_eq!(fs::read_dir(s.snapshots_root()).unwrap().count(), 1);
    // Duplicates are deleted off the caller's path, at the latest when the
    // store closes.
    let tmp = s.root().join("v1/tmp");
    drop(s);
    assert_eq!(fs::read_dir(tmp).unwrap().count(), 0, "losers cleaned up");
}

/// Found writing the layer_unpack fuzz target: a GNU sparse entry (1 KiB
/// of archive declaring a 1 GiB hole) named as a whiteout was taken for
/// one, and then read to its end past the hole's zeros, which for a larger
/// hole never ends. Sparse entries are unsupported in layers, whiteouts too.
#[test]
fn a_sparse_whiteout_is_refused_unread() {
    fn octal(n: u64) -> [u8; 12] {
        let mut field = [0u8; 12];
        field[..11].copy_from_slice(format!("{n:011o}").as_bytes());
        field
    }
    let (_tmp, s) = store();
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..5].copy_from_slice(b".wh.x");
    h.set_entry_type(EntryType::GNUSparse);
    h.set_mode(0o644);
    h.set_size(1);
    let gnu = h.as_gnu_mut().unwrap();
    gnu.sparse[0].offset = octal(1 << 30);
    gnu.sparse[0].numbytes = octal(1);
    gnu.realsize = octal((1 << 30) + 1);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"E"[..]).unwrap();
    let bytes = b.into_inner().unwrap();
    match s.import_layer(&bytes[..], None) {
        Err(StoreError::Unpack {
            source: UnpackError::Unsupported { entry, kind: b'S' },
        }) => assert_eq!(entry, ".wh.x"),
        other => panic!("expected an unsupported-entry error, got {other:?}"),
    }
}
