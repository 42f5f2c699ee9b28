//! A flat view must show what overlay shows: the same layers, imported
//! from archives with whiteouts and opaque directories, are mounted as a
//! real (read-only) overlay and made into views, and the two trees are
//! compared entry by entry (we run as root).

use super::tarhdr::{append_entry, base_header};
use crate::Store;
use mybuild_graph::Digest;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use tar::EntryType::{self, Directory, Regular, Symlink};

type Entry<'a> = (EntryType, &'a str, u32, &'a str);

/// A layer tar: (kind, path, mode, data or link target) per entry.
fn layer(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (i, (kind, path, mode, data)) in entries.iter().enumerate() {
        let mut h = base_header(*kind, *mode, 0, i as u64, 1_600_000_000 + i as i64);
        let (link, body) = match kind {
            Symlink => (Some(data.as_bytes()), &b""[..]),
            _ => (None, data.as_bytes()),
        };
        h.set_size(body.len() as u64);
        append_entry(&mut b, h, path.as_bytes(), link, &[], body).unwrap();
    }
    b.into_inner().unwrap()
}

fn layers(s: &Store) -> Vec<Digest> {
    let tars = [
        layer(&[
            (Directory, "etc/", 0o755, ""),
            (Regular, "etc/keep", 0o644, "keep"),
            (Regular, "etc/gone", 0o644, "gone"),
            (Directory, "opq/", 0o750, ""),
            (Regular, "opq/old", 0o600, "old"),
            (Directory, "opq/sub/", 0o755, ""),
            (Regular, "opq/sub/deep", 0o644, "deep"),
            (Directory, "todir/", 0o755, ""),
            (Regular, "todir/x", 0o644, "x"),
            (Regular, "tofile", 0o644, "was a file"),
            (Symlink, "link", 0o777, "etc/keep"),
        ]),
        layer(&[
            (Directory, "etc/", 0o700, ""),
            (Regular, "etc/.wh.gone", 0o644, ""),
            (Regular, "etc/new", 0o640, "new"),
            (Directory, "opq/", 0o751, ""),
            (Regular, "opq/.wh..wh..opq", 0o644, ""),
            (Regular, "opq/fresh", 0o644, "fresh"),
            (Regular, ".wh.todir", 0o644, ""),
            (Regular, "todir", 0o644, "now a file"),
        ]),
        layer(&[
            (Regular, ".wh.tofile", 0o644, ""),
            (Directory, "tofile/", 0o711, ""),
            (Regular, "tofile/in", 0o644, "in"),
            (Regular, ".wh.link", 0o644, ""),
            (Directory, "link/", 0o755, ""),
        ]),
        layer(&[
            (Directory, "etc/", 0o755, ""),
            (Regular, "etc/keep", 0o644, "kept again"),
            (Symlink, "etc/ln", 0o777, "../opq/fresh"),
        ]),
    ];
    tars.iter()
        .map(|t| s.import_layer(&t[..], None).unwrap())
        .collect()
}

/// Every entry below `root`: type, mode, owner, mtime, and data or target.
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let meta = fs::symlink_metadata(dir).unwrap();
    let rel = dir.strip_prefix(root).unwrap().display().to_string();
    let common = |m: &fs::Metadata| format!("{:o} {}:{} {}", m.mode(), m.uid(), m.gid(), m.mtime());
    out.insert(format!("/{rel}"), format!("dir {}", common(&meta)));
    for e in fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let m = fs::symlink_metadata(&path).unwrap();
        if m.is_dir() {
            walk(root, &path, out);
            continue;
        }
        let what = if m.file_type().is_symlink() {
            format!("-> {}", fs::read_link(&path).unwrap().display())
        } else {
            String::from_utf8(fs::read(&path).unwrap()).unwrap()
        };
        let rel = path.strip_prefix(root).unwrap().display();
        out.insert(format!("/{rel}"), format!("{} {what}", common(&m)));
    }
}

/// The layers as overlay shows them, read-only.
fn overlay_tree(s: &Store, layers: &[Digest], mnt: &Path) -> BTreeMap<String, String> {
    let dirs: Vec<String> = layers
        .iter()
        .rev()
        .map(|d| s.snapshot_dir(d).unwrap().display().to_string())
        .collect();
    fs::create_dir_all(mnt).unwrap();
    let opts = format!("lowerdir={}", dirs.join(":"));
    let ro = nix::mount::MsFlags::MS_RDONLY;
    nix::mount::mount(
        Some("overlay"),
        mnt,
        Some("overlay"),
        ro,
        Some(opts.as_str()),
    )
    .expect("mount overlay (needs root)");
    let seen = tree(mnt);
    nix::mount::umount(mnt).unwrap();
    seen
}

#[test]
fn a_flat_view_shows_what_overlay_shows() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::open(&tmp.path().join("store")).unwrap();
    let layers = layers(&s);
    let want = overlay_tree(&s, &layers, &tmp.path().join("mnt"));
    assert_eq!(want["/etc/keep"], "100644 0:1 1600000001 kept again");
    assert!(!want.contains_key("/opq/old") && !want.contains_key("/etc/gone"));
    for step in [1, 2, 4] {
        let view = s.flat_view(&layers, step).unwrap().expect("a boot id");
        assert_eq!(tree(&view), want, "views made {step} layers at a time");
        assert!(view.starts_with(s.flat_root()));
        // Made once: asked again, the same directory.
        assert_eq!(s.flat_view(&layers, step).unwrap(), Some(view));
    }
    // Every other entry is the snapshot's own inode, not a copy.
    let view = s.flat_view(&layers, 4).unwrap().unwrap();
    let top = s.snapshot_dir(&layers[3]).unwrap();
    let ino = |p: &Path| fs::symlink_metadata(p).unwrap().ino();
    assert_eq!(ino(&view.join("etc/keep")), ino(&top.join("etc/keep")));
}

#[test]
fn views_of_other_boots_are_swept_and_prune_removes_all() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::open(&tmp.path().join("store")).unwrap();
    let layers = layers(&s);
    let view = s.flat_view(&layers, 2).unwrap().unwrap();
    let stale = s.flat_root().join("0123456789ab-00");
    fs::create_dir(&stale).unwrap();
    drop(s);
    // Alone at open: another boot's view goes, this boot's stays.
    let s = Store::open(&tmp.path().join("store")).unwrap();
    assert!(!stale.exists() && view.is_dir());
    // Removing views leaves the snapshots they linked to as they were.
    s.remove_flat_views(true).unwrap();
    assert!(!view.exists());
    let keep = s.snapshot_dir(&layers[0]).unwrap().join("etc/keep");
    assert_eq!(fs::read(keep).unwrap(), b"keep");
    // Every prune removes every view.
    s.flat_view(&layers, 2).unwrap().unwrap();
    s.prune(&crate::PruneOptions::default()).unwrap();
    assert_eq!(crate::store::list(&s.flat_root()).unwrap().len(), 0);
}
