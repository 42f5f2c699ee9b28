//! Resumed packing must give the digest a full pack gives.

use super::*;
use crate::blobs::HashingSink;
use std::fs;
use std::os::unix::fs::PermissionsExt;

/// A tree with a 3 MiB file early in walk order (so marks fall inside it),
/// small files after it, `late`'s content in `z/late`.
fn tree(dir: &Path, late: &str) {
    fs::create_dir_all(dir.join("z/y")).unwrap();
    fs::write(dir.join("big"), vec![7u8; 3 << 20]).unwrap();
    for i in 0..50 {
        fs::write(dir.join(format!("z/y/f{i:02}")), format!("{i}\n")).unwrap();
    }
    fs::write(dir.join("z/late"), late).unwrap();
    fs::write(dir.join("zz"), "last\n").unwrap();
    let files = (0..50).map(|i| format!("z/y/f{i:02}"));
    let named = ["big", "z/late", "zz", "z/y", "z"].map(String::from);
    for p in named.into_iter().chain(files) {
        // Two trees packed alike: same modes and times.
        let path = dir.join(p);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        fs::File::open(&path).unwrap().set_modified(when).unwrap();
    }
}

fn full_digest(dir: &Path) -> Digest {
    let sink = pack::write_layer(dir, HashingSink::new()).unwrap();
    sink.finish().0
}

#[test]
fn resumed_packing_equals_a_full_pack() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("store")).unwrap();
    let one = tmp.path().join("one");
    tree(&one, "first\n");
    let expected_one = full_digest(&one);
    let (d1, marks) = store.commit_upper_marked(&one, None).unwrap();
    assert_eq!(d1, expected_one, "a marked pack is an ordinary pack");
    assert_eq!(
        marks.marks.len(),
        2,
        "one at the start, one after the big file"
    );
    assert!(!marks.links);

    let two = tmp.path().join("two");
    tree(&two, "second, longer\n");
    let expected_two = full_digest(&two);
    let resume = Some((&marks, Some(&b"z/late"[..])));
    let (d2, marks2) = store.commit_upper_marked(&two, resume).unwrap();
    assert_eq!(d2, expected_two, "resumed at a mark inside the tree");
    assert_ne!(d1, d2);

    // Nothing changed: resumed at the very last mark.
    let three = tmp.path().join("three");
    tree(&three, "second, longer\n");
    let (d3, _) = store
        .commit_upper_marked(&three, Some((&marks2, None)))
        .unwrap();
    assert_eq!(d3, d2);
}

#[test]
fn walk_order_puts_a_directory_before_its_contents_and_siblings_by_name() {
    assert_eq!(walk_order(b"a/b", b"a.b"), Ordering::Less);
    assert_eq!(walk_order(b"a", b"a/b"), Ordering::Less);
    assert_eq!(walk_order(b"a/z", b"b"), Ordering::Less);
}
