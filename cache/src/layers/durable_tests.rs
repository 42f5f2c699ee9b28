//! Durability across a simulated reboot: snapshots written unsynced in
//! boot A are verified when a store in boot B first uses them; intact ones
//! are kept (and marked synced), altered ones are dropped, never served.
//! Their records and cache entries, also unsynced, read as absent when torn.

use crate::{LayerRecord, Store};
use mybuild_graph::Digest;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn upper(root: &Path, name: &str, files: &[(&str, &[u8])]) -> std::path::PathBuf {
    let dir = root.join(name);
    fs::create_dir_all(dir.join("etc")).unwrap();
    for (path, data) in files {
        fs::write(dir.join(path), data).unwrap();
    }
    // Fixed times: the same files committed a second later pack the same.
    crate::clamp_mtimes(&dir, 1_000_000).unwrap();
    dir
}

fn record(s: &Store, d: &Digest) -> LayerRecord {
    s.layer_record(d).unwrap().expect("record")
}

fn import(s: &Store, files: &[(&str, &[u8])]) -> Digest {
    // GNU headers and no directory entries: not what pack writes, so the
    // record must keep the digest the snapshot packs to.
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(7);
        h.set_cksum();
        b.append_data(&mut h, path, *data).unwrap();
    }
    s.import_layer(&b.into_inner().unwrap()[..], None).unwrap()
}

#[test]
fn another_boot_keeps_intact_snapshots_and_drops_altered_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let a = Store::open_as_boot(&root, "boot-a").unwrap();
    let keep = a
        .commit_upper(&upper(tmp.path(), "u1", &[("etc/keep", b"kept bytes")]))
        .unwrap();
    let bad = a
        .commit_upper(&upper(
            tmp.path(),
            "u2",
            &[("etc/lost", b"page that never reached disk")],
        ))
        .unwrap();
    let chmod = a
        .commit_upper(&upper(tmp.path(), "u3", &[("etc/mode", b"mode")]))
        .unwrap();
    let imported = import(&a, &[("x/imp", b"imported")]);
    let imported_bad = import(&a, &[("y/imp", b"imported too")]);
    assert!(!record(&a, &keep).synced, "installed without a sync");
    assert_eq!(record(&a, &keep).boot_id.as_deref(), Some("boot-a"));
    assert!(record(&a, &imported).packed.is_some());
    let key = Digest::of(b"key");
    a.cache_put(&key, &[keep.clone(), bad.clone()]).unwrap();

    // Lost pages: same length, other bytes; and lost metadata.
    let snap = |d: &Digest| a.snapshot_dir(d).unwrap();
    fs::write(snap(&bad).join("etc/lost"), b"PAGE THAT NEVER REACHED DISK").unwrap();
    fs::set_permissions(
        snap(&chmod).join("etc/mode"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    fs::write(snap(&imported_bad).join("y/imp"), b"IMPORTED TOO").unwrap();
    assert!(
        a.snapshot_dir(&bad).is_some(),
        "its own boot trusts its page cache"
    );
    let bad_dir = snap(&bad);
    drop(a);

    let b = Store::open_as_boot(&root, "boot-b").unwrap();
    assert_eq!(
        b.cache_get(&key).unwrap(),
        None,
        "chain with a bad layer is a miss"
    );
    for d in [&bad, &chmod, &imported_bad] {
        assert!(b.snapshot_dir(d).is_none(), "altered snapshot {d} served");
        assert!(b.layer_record(d).unwrap().is_none(), "record of {d} kept");
    }
    assert!(!bad_dir.exists(), "altered snapshot left on disk");
    for d in [&keep, &imported] {
        let dir = b.snapshot_dir(d).expect("intact snapshot kept");
        assert!(dir.is_dir());
        assert!(record(&b, d).synced, "verified snapshot marked synced");
    }
    assert_eq!(
        fs::read(b.snapshot_dir(&keep).unwrap().join("etc/keep")).unwrap(),
        b"kept bytes"
    );

    // The step runs again and installs the layer afresh.
    let again = b
        .commit_upper(&upper(
            tmp.path(),
            "u4",
            &[("etc/lost", b"page that never reached disk")],
        ))
        .unwrap();
    assert_eq!(again, bad);
    assert_eq!(record(&b, &bad).boot_id.as_deref(), Some("boot-b"));
    assert!(b.snapshot_dir(&bad).is_some());
}

#[test]
fn records_of_older_versions_are_trusted_as_synced() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let a = Store::open_as_boot(&root, "boot-a").unwrap();
    let d = a
        .commit_upper(&upper(tmp.path(), "u", &[("etc/f", b"old")]))
        .unwrap();
    let path = a.layers_dir().join(format!("{}.json", d.hex()));
    let mut json: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let obj = json.as_object_mut().unwrap();
    obj.remove("boot_id");
    obj.remove("synced");
    obj.remove("checksum");
    fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    // Altered, yet an old record's snapshot was synced when written: no
    // verification, so the alteration shows (and proves none ran).
    fs::write(a.snapshot_dir(&d).unwrap().join("etc/f"), b"OLD").unwrap();
    drop(a);

    let b = Store::open_as_boot(&root, "boot-b").unwrap();
    let dir = b.snapshot_dir(&d).expect("old record trusted");
    assert_eq!(fs::read(dir.join("etc/f")).unwrap(), b"OLD");
    assert!(record(&b, &d).synced);
}

#[test]
fn concurrent_first_uses_verify_once_and_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let a = Store::open_as_boot(&root, "boot-a").unwrap();
    let good = a
        .commit_upper(&upper(tmp.path(), "u1", &[("etc/g", b"good")]))
        .unwrap();
    let bad = a
        .commit_upper(&upper(tmp.path(), "u2", &[("etc/b", b"bad")]))
        .unwrap();
    fs::write(a.snapshot_dir(&bad).unwrap().join("etc/b"), b"BAD").unwrap();
    drop(a);

    let b = std::sync::Arc::new(Store::open_as_boot(&root, "boot-b").unwrap());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (b, good, bad) = (b.clone(), good.clone(), bad.clone());
            std::thread::spawn(move || (b.snapshot_dir(&good), b.snapshot_dir(&bad)))
        })
        .collect();
    for t in threads {
        let (g, x) = t.join().unwrap();
        assert!(g.is_some() && x.is_none());
    }
}

/// What a power cut can leave of a file renamed into place unsynced:
/// nothing, its first half, or a block of other bytes (here: a flag
/// flipped, which still parses).
fn tear(path: &Path, how: usize, alter: (&str, &str)) {
    let bytes = fs::read(path).unwrap();
    let torn = match how {
        0 => Vec::new(),
        1 => bytes[..bytes.len() / 2].to_vec(),
        _ => {
            let text = String::from_utf8(bytes).unwrap();
            assert!(text.contains(alter.0), "{text}");
            text.replace(alter.0, alter.1).into_bytes()
        }
    };
    fs::write(path, torn).unwrap();
}

#[test]
fn torn_records_and_cache_entries_are_never_served_after_a_reboot() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let a = Store::open_as_boot(&root, "boot-a").unwrap();
    let files = |i: usize| format!("layer {i}").into_bytes();
    let commit = |s: &Store, i: usize, name: &str| {
        let data = files(i);
        s.commit_upper(&upper(tmp.path(), name, &[("etc/f", &data[..])]))
            .unwrap()
    };
    let layers: Vec<Digest> = (0..4).map(|i| commit(&a, i, &format!("a{i}"))).collect();
    let keys: Vec<Digest> = (0..4).map(|i| Digest::of(&[i as u8])).collect();
    for (key, layer) in keys.iter().zip(&layers) {
        a.cache_put(key, std::slice::from_ref(layer)).unwrap();
    }
    assert!(record(&a, &layers[0]).checksum.is_some(), "record unsealed");
    // A flipped `synced` would skip verification: the snapshot's altered
    // bytes would be served if the checksum went unchecked.
    fs::write(
        a.snapshot_dir(&layers[2]).unwrap().join("etc/f"),
        b"LAYER 2",
    )
    .unwrap();
    for i in 0..3 {
        let rec = a.layers_dir().join(format!("{}.json", layers[i].hex()));
        tear(&rec, i, ("\"synced\": false", "\"synced\": true"));
        let entry = a.cache_dir().join(keys[i].hex());
        tear(&entry, i, (layers[i].hex(), layers[3].hex()));
    }
    drop(a);

    let b = Store::open_as_boot(&root, "boot-b").unwrap();
    for (i, d) in layers.iter().enumerate().take(3) {
        assert!(b.layer_record(d).unwrap().is_none(), "torn record {i} read");
        assert!(
            b.snapshot_dir(d).is_none(),
            "snapshot of torn record {i} served"
        );
        assert_eq!(b.cache_get(&keys[i]).unwrap(), None, "torn entry {i} hit");
    }
    let intact = b.cache_get(&keys[3]).unwrap();
    assert_eq!(intact, Some(vec![layers[3].clone()]), "intact entry missed");
    // The steps run again and install their layers afresh.
    for (i, d) in layers.iter().enumerate().take(3) {
        assert_eq!(&commit(&b, i, &format!("b{i}")), d);
        let dir = b.snapshot_dir(d).expect("reinstalled");
        assert_eq!(fs::read(dir.join("etc/f")).unwrap(), files(i));
        assert_eq!(record(&b, d).boot_id.as_deref(), Some("boot-b"));
    }
}
