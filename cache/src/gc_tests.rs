use super::*;
use std::time::{Duration, SystemTime};

/// A layer holding one file, so each test layer has its own diff_id.
fn layer(s: &Store, name: &str, size: usize) -> Digest {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(size as u64);
    h.set_mode(0o644);
    h.set_path(name).unwrap();
    h.set_cksum();
    b.append(&h, &vec![b'x'; size][..]).unwrap();
    s.import_layer(&b.into_inner().unwrap()[..], None).unwrap()
}

fn image(s: &Store, layers: &[Digest]) -> Digest {
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": layers},
    }))
    .unwrap();
    s.put_image(&config).unwrap()
}

fn age(s: &Store, key: &Digest, by: Duration) {
    let f = fs::File::open(s.cache_dir().join(key.hex())).unwrap();
    f.set_modified(SystemTime::now() - by).unwrap();
}

struct Fixture {
    _tmp: tempfile::TempDir,
    s: Store,
    base: Digest,
    old: Digest,
    new: Digest,
    k_old: Digest,
    k_new: Digest,
    config: Digest,
}

/// A tagged image on `base`, and two cache entries on top of it: one last
/// used two hours ago, one just now.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::open(tmp.path()).unwrap();
    let base = layer(&s, "base", 1000);
    let old = layer(&s, "old", 5000);
    let new = layer(&s, "new", 7000);
    let config = image(&s, std::slice::from_ref(&base));
    s.tag("docker.io/library/base:latest", &config).unwrap();
    let (k_old, k_new) = (Digest::of(b"k-old"), Digest::of(b"k-new"));
    s.cache_put(&k_old, &[base.clone(), old.clone()]).unwrap();
    s.cache_put(&k_new, &[base.clone(), new.clone()]).unwrap();
    age(&s, &k_old, Duration::from_secs(7200));
    Fixture {
        _tmp: tmp,
        s,
        base,
        old,
        new,
        k_old,
        k_new,
        config,
    }
}

#[test]
fn prune_keeps_images_and_removes_the_rest() {
    let f = fixture();
    let manifest =
        f.s.put_blob(format!(r#"{{"config":{{"digest":"{}"}}}}"#, f.config).as_bytes())
            .unwrap();
    let stray = f.s.put_blob(b"nobody needs this").unwrap();
    let before = f.s.disk_usage().unwrap();
    assert_eq!(before.images.count, 1);
    assert_eq!(before.build_cache.count, 2);
    assert!(before.build_cache.reclaimable >= 12_000, "{before:?}");
    assert_eq!(before.unreferenced.count, 1, "only the stray blob");
    // Remembered as trusted now: prune must forget that as it deletes it.
    assert!(f.s.snapshot_dir(&f.old).is_some());

    let report = f.s.prune(&PruneOptions::default()).unwrap();
    assert_eq!(report.cache_entries, 2);
    let mut gone = report.layers.clone();
    gone.sort();
    let mut want = vec![f.old.clone(), f.new.clone()];
    want.sort();
    assert_eq!(gone, want);
    assert!(f.s.snapshot_dir(&f.old).is_none() && !f.s.has_blob(&f.old));
    assert!(
        f.s.snapshot_dir(&f.base).is_some(),
        "the image's layer stays"
    );
    assert!(f.s.has_blob(&f.config) && f.s.has_blob(&manifest));
    assert!(!f.s.has_blob(&stray));
    assert_eq!(f.s.cache_get(&f.k_new).unwrap(), None);
    let after = f.s.disk_usage().unwrap();
    assert_eq!(after.build_cache, Tally::default());
    assert_eq!(after.images, before.images);
    assert!(report.reclaimed >= 12_000, "{report:?}");
}

#[test]
fn until_removes_only_entries_unused_for_that_long() {
    let f = fixture();
    let report =
        f.s.prune(&PruneOptions {
            unused_for: Some(Duration::from_secs(3600)),
            keep_bytes: None,
        })
        .unwrap();
    assert_eq!(report.cache_entries, 1);
    assert_eq!(report.layers, std::slice::from_ref(&f.old));
    assert!(f.s.cache_get(&f.k_new).unwrap().is_some());
    assert_eq!(f.s.cache_get(&f.k_old).unwrap(), None);
}

#[test]
fn keep_storage_removes_least_recently_used_first() {
    let f = fixture();
    // A hit makes the old entry the most recently used one.
    assert!(f.s.cache_get(&f.k_old).unwrap().is_some());
    age(&f.s, &f.k_new, Duration::from_secs(60));
    let total = {
        let u = f.s.disk_usage().unwrap();
        u.images.size + u.build_cache.size + u.unreferenced.size
    };
    let report =
        f.s.prune(&PruneOptions {
            unused_for: None,
            keep_bytes: Some(total - 1),
        })
        .unwrap();
    assert_eq!(
        report.layers,
        std::slice::from_ref(&f.new),
        "one entry was enough"
    );
    assert!(f.s.cache_get(&f.k_old).unwrap().is_some());

    let report =
        f.s.prune(&PruneOptions {
            unused_for: None,
            keep_bytes: Some(total * 10),
        })
        .unwrap();
    assert_eq!(report, PruneReport::default(), "already small enough");
}

#[test]
fn prune_refuses_while_a_build_has_the_store() {
    let f = fixture();
    let build = Store::open(f.s.root()).unwrap();
    assert!(matches!(
        f.s.prune(&PruneOptions::default()),
        Err(StoreError::InUse { .. })
    ));
    drop(build);
    assert!(f.s.snapshot_dir(&f.old).is_some(), "nothing removed");
}
