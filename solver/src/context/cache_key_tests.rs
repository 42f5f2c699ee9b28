//! The context key with a remembered digest that is wrong on purpose: as
//! long as the file looks the same the cache is trusted (the wrong digest
//! shows in the key), and any change to the file (content, mode, owner,
//! mtime, size, inode) must make the key the one a fresh read gives.

use super::*;
use nix::sys::stat::{lstat, utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use std::fs;
use std::os::unix::fs::PermissionsExt;

const FILE: &str = "d1/f";

fn copy_all() -> CopyAction {
    CopyAction {
        source: 1,
        src: vec![".".into()],
        dest: "/".into(),
        owner: None,
        mode: None,
        extract_archives: false,
        parents: false,
        exclude: Vec::new(),
    }
}

fn key(ctx: &Path, cache: Option<&HashCache>) -> Digest {
    selection_digest(ctx, &[], &copy_all(), cache).unwrap()
}

/// Puts `f`'s times back to `st`'s (the ctime moves all the same).
fn restore_times(f: &Path, st: &nix::sys::stat::FileStat) {
    let m = TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
    let a = TimeSpec::new(st.st_atime, st.st_atime_nsec);
    utimensat(
        nix::fcntl::AT_FDCWD,
        f,
        &a,
        &m,
        UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
}

/// Runs `change` on the file of a context whose cache holds a wrong
/// digest for it; returns the key before, the key through the reloaded
/// cache after, and a fresh key after.
fn after(change: impl Fn(&Path)) -> (Digest, Digest, Digest) {
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    for (p, body) in [(FILE, "hello"), ("d2/g", "g"), ("h", "h")] {
        let p = ctx.join(p);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }
    let f = ctx.join(FILE);
    let cache_file = dir.path().join("hashes");
    let cache = HashCache::open_without_racy_window(cache_file.clone());
    let before = key(&ctx, None);
    assert_eq!(key(&ctx, Some(&cache)), before);
    let st = crate::fileop::stat::Stat::from(lstat(&f).unwrap());
    cache.put(FILE.as_bytes(), &st, [0xaa; 32]);
    cache.save().unwrap();
    let cache = HashCache::open_without_racy_window(cache_file);
    assert_ne!(
        key(&ctx, Some(&cache)),
        before,
        "the poisoned entry is used"
    );
    change(&f);
    let cache = HashCache::open_without_racy_window(dir.path().join("hashes"));
    (before, key(&ctx, Some(&cache)), key(&ctx, None))
}

#[test]
fn same_size_content_with_the_old_mtime_changes_the_key() {
    let (before, cached, fresh) = after(|f| {
        let st = lstat(f).unwrap();
        fs::write(f, "HELLO").unwrap();
        restore_times(f, &st);
    });
    assert_eq!(cached, fresh);
    assert_ne!(fresh, before);
}

#[test]
fn mode_change_changes_the_key() {
    let (before, cached, fresh) = after(|f| {
        fs::set_permissions(f, fs::Permissions::from_mode(0o600)).unwrap();
    });
    assert_eq!(cached, fresh);
    assert_ne!(fresh, before);
}

#[test]
fn size_change_changes_the_key() {
    let (before, cached, fresh) = after(|f| {
        let st = lstat(f).unwrap();
        fs::write(f, "hello!").unwrap();
        restore_times(f, &st);
    });
    assert_eq!(cached, fresh);
    assert_ne!(fresh, before);
}

// Owner, mtime and inode do not reach the image from the context, so the
// right key stays the same: what matters is that the file is read again.

#[test]
fn owner_change_reads_the_file_again() {
    let (before, cached, fresh) = after(|f| {
        std::os::unix::fs::chown(f, Some(1234), Some(1234)).unwrap();
    });
    assert_eq!((&cached, &fresh), (&before, &before));
}

#[test]
fn mtime_change_reads_the_file_again() {
    let (before, cached, fresh) = after(|f| {
        let mut st = lstat(f).unwrap();
        st.st_mtime -= 3600;
        restore_times(f, &st);
    });
    assert_eq!((&cached, &fresh), (&before, &before));
}

#[test]
fn a_new_inode_reads_the_file_again() {
    let (before, cached, fresh) = after(|f| {
        let st = lstat(f).unwrap();
        let tmp = f.with_extension("new");
        fs::copy(f, &tmp).unwrap();
        restore_times(&tmp, &st);
        fs::rename(&tmp, f).unwrap();
        assert_ne!(lstat(f).unwrap().st_ino, st.st_ino);
    });
    assert_eq!((&cached, &fresh), (&before, &before));
}
