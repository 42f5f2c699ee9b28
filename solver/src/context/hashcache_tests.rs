//! The hash cache's own rules: racy entries, reloads, every field of the
//! stat it trusts, and files it must refuse.

use super::*;

fn stat(path: &std::path::Path) -> Stat {
    Stat::from(nix::sys::stat::lstat(path).unwrap())
}

/// A stat of `f` that looks old enough to be remembered.
fn old_stat(f: &std::path::Path) -> Stat {
    let mut old = stat(f);
    old.st_mtime = 1000;
    old.st_ctime = 1000;
    old
}

#[test]
fn entries_survive_a_reload_and_racy_ones_are_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    std::fs::write(&f, "one").unwrap();
    let cache_file = dir.path().join("cache");
    let cache = HashCache::open(cache_file.clone());
    // The file was just written, so the entry is too fresh to keep.
    cache.put(b"f", &stat(&f), [7; 32]);
    assert_eq!(
        cache.get(b"f", &stat(&f)),
        None,
        "racy entries are not kept"
    );

    let old = old_stat(&f);
    cache.put(b"f", &old, [7; 32]);
    cache.put(b"a", &old, [1; 32]);
    assert_eq!(cache.get(b"f", &old), Some((3, [7; 32])));
    cache.save().unwrap();
    let again = HashCache::open(cache_file.clone());
    assert_eq!(again.get(b"f", &old), Some((3, [7; 32])));
    assert_eq!(again.get(b"a", &old), Some((3, [1; 32])));
    assert_eq!(again.get(b"b", &old), None);
    // A racy rewrite drops the saved entry for good.
    again.put(b"f", &stat(&f), [8; 32]);
    again.save().unwrap();
    let third = HashCache::open(cache_file);
    assert_eq!(third.get(b"f", &old), None);
    assert_eq!(third.get(b"a", &old), Some((3, [1; 32])));
}

/// One field of a stat changed, by name.
type Change = fn(&mut Stat);

#[test]
fn any_changed_field_of_the_stat_misses() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    std::fs::write(&f, "one").unwrap();
    let cache_file = dir.path().join("cache");
    let old = old_stat(&f);
    let cache = HashCache::open(cache_file.clone());
    cache.put(b"f", &old, [7; 32]);
    cache.save().unwrap();
    let changes: [(&str, Change); 9] = [
        ("inode", |s| s.st_ino += 1),
        ("size", |s| s.st_size += 1),
        ("mode", |s| s.st_mode ^= 0o100),
        ("owner", |s| s.st_uid += 1),
        ("group", |s| s.st_gid += 1),
        ("mtime", |s| s.st_mtime += 1),
        ("mtime ns", |s| s.st_mtime_nsec += 1),
        ("ctime (a rewrite that restored the mtime)", |s| {
            s.st_ctime += 1
        }),
        ("ctime ns", |s| s.st_ctime_nsec += 1),
    ];
    for loaded in [false, true] {
        let cache = if loaded {
            HashCache::open(cache_file.clone())
        } else {
            HashCache::open(dir.path().join("absent"))
        };
        if !loaded {
            cache.put(b"f", &old, [7; 32]);
        }
        assert_eq!(cache.get(b"f", &old), Some((3, [7; 32])));
        for (what, change) in changes {
            let mut st = old;
            change(&mut st);
            assert_eq!(
                cache.get(b"f", &st),
                None,
                "{what} changed (loaded {loaded})"
            );
        }
    }
}

#[test]
fn damaged_or_old_files_are_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    std::fs::write(&f, "one").unwrap();
    let old = old_stat(&f);
    let cache_file = dir.path().join("cache");
    let cache = HashCache::open(cache_file.clone());
    cache.put(b"f", &old, [7; 32]);
    cache.save().unwrap();
    let good = std::fs::read(&cache_file).unwrap();
    let mut bad: Vec<Vec<u8>> = vec![
        b"garbage".to_vec(),
        b"mybuild-context-hashes-v1\n".to_vec(),
        good[..good.len() - 1].to_vec(),
        [good.as_slice(), b"x"].concat(),
    ];
    // One flipped bit anywhere, header included.
    for at in [30, 40, good.len() / 2, good.len() - 1] {
        let mut b = good.clone();
        b[at] ^= 1;
        bad.push(b);
    }
    for (i, bytes) in bad.iter().enumerate() {
        std::fs::write(&cache_file, bytes).unwrap();
        let cache = HashCache::open(cache_file.clone());
        assert_eq!(cache.get(b"f", &old), None, "damaged file {i} was used");
    }
}

#[test]
fn saving_merges_loaded_and_new_entries_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    std::fs::write(&f, "one").unwrap();
    let old = old_stat(&f);
    let cache_file = dir.path().join("cache");
    let first = HashCache::open(cache_file.clone());
    for (i, name) in ["b", "d", "f"].iter().enumerate() {
        first.put(name.as_bytes(), &old, [i as u8; 32]);
    }
    first.save().unwrap();
    let second = HashCache::open(cache_file.clone());
    second.put(b"a", &old, [10; 32]);
    second.put(b"d", &old, [11; 32]);
    second.put(b"e", &old, [12; 32]);
    second.save().unwrap();
    let third = HashCache::open(cache_file);
    let got: Vec<_> = ["a", "b", "d", "e", "f"]
        .iter()
        .map(|n| third.get(n.as_bytes(), &old).map(|(_, d)| d[0]))
        .collect();
    assert_eq!(got, [Some(10), Some(0), Some(11), Some(12), Some(2)]);
}
