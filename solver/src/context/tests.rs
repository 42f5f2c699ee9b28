use super::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

fn copy_of(srcs: &[String], extract_archives: bool) -> CopyAction {
    CopyAction {
        source: 1,
        src: srcs.to_vec(),
        dest: "/".into(),
        owner: None,
        mode: None,
        extract_archives,
        parents: false,
        exclude: Vec::new(),
    }
}

fn digest(dir: &Path, srcs: &[&str]) -> Digest {
    let srcs: Vec<String> = srcs.iter().map(|s| s.to_string()).collect();
    selection_digest(dir, &["**/*.log".to_string()], &copy_of(&srcs, false), None).unwrap()
}

fn set_mtime(path: &Path, secs: i64) {
    let t = nix::sys::time::TimeSpec::new(secs, 0);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
}

fn context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("src/sub")).unwrap();
    fs::write(dir.path().join("src/a.c"), "int a;").unwrap();
    fs::write(dir.path().join("src/sub/b.c"), "int b;").unwrap();
    fs::write(dir.path().join("other.txt"), "other").unwrap();
    dir
}

#[test]
fn content_and_mode_change_the_digest_but_mtime_does_not() {
    let dir = context();
    let base = digest(dir.path(), &["src"]);
    assert_eq!(base, digest(dir.path(), &["src"]), "deterministic");
    set_mtime(&dir.path().join("src/a.c"), 12345);
    set_mtime(&dir.path().join("src/sub"), 12345);
    assert_eq!(
        base,
        digest(dir.path(), &["src"]),
        "mtime is not part of the key"
    );
    // Files outside the selection don't matter.
    fs::write(dir.path().join("other.txt"), "changed").unwrap();
    assert_eq!(base, digest(dir.path(), &["src"]));
    // Neither do excluded ones.
    fs::write(dir.path().join("src/noise.log"), "x").unwrap();
    assert_eq!(base, digest(dir.path(), &["src"]));
    fs::write(dir.path().join("src/a.c"), "int a = 1;").unwrap();
    let content = digest(dir.path(), &["src"]);
    assert_ne!(base, content);
    fs::set_permissions(
        dir.path().join("src/a.c"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    assert_ne!(content, digest(dir.path(), &["src"]));
}

#[test]
fn renames_links_and_source_lists_change_the_digest() {
    let dir = context();
    let base = digest(dir.path(), &["src"]);
    fs::rename(
        dir.path().join("src/sub/b.c"),
        dir.path().join("src/sub/c.c"),
    )
    .unwrap();
    let renamed = digest(dir.path(), &["src"]);
    assert_ne!(base, renamed);
    std::os::unix::fs::symlink("a.c", dir.path().join("src/l")).unwrap();
    let linked = digest(dir.path(), &["src"]);
    assert_ne!(renamed, linked);
    fs::remove_file(dir.path().join("src/l")).unwrap();
    std::os::unix::fs::symlink("sub/c.c", dir.path().join("src/l")).unwrap();
    assert_ne!(
        linked,
        digest(dir.path(), &["src"]),
        "the link target is hashed"
    );
    assert_ne!(
        digest(dir.path(), &["src/*.c"]),
        digest(dir.path(), &["src/a.c"])
    );
    let with_archives =
        selection_digest(dir.path(), &[], &copy_of(&["src".into()], true), None).unwrap();
    assert_ne!(
        with_archives,
        selection_digest(dir.path(), &[], &copy_of(&["src".into()], false), None).unwrap()
    );
}

#[test]
fn missing_sources_and_bad_patterns_are_errors() {
    let dir = context();
    let err =
        selection_digest(dir.path(), &[], &copy_of(&["nope.txt".into()], false), None).unwrap_err();
    assert!(err.to_string().contains("nope.txt"), "{err}");
    let err = selection_digest(
        dir.path(),
        &["other.txt".into()],
        &copy_of(&["other.txt".into()], false),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, ContextError::Select(SelectError::NotFound { .. })),
        "{err}"
    );
    let err = selection_digest(
        dir.path(),
        &["!".into()],
        &copy_of(&["src".into()], false),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, ContextError::IgnorePattern(_)), "{err}");
}

#[test]
fn key_covers_exclude_and_parents() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("d/sub")).unwrap();
    fs::write(dir.path().join("d/a.txt"), "a").unwrap();
    fs::write(dir.path().join("d/sub/b.txt"), "b").unwrap();
    let plain = copy_of(&["d".into()], false);
    let key = |c: &CopyAction| selection_digest(dir.path(), &[], c, None).unwrap();
    let base = key(&plain);
    let excluding = CopyAction {
        exclude: vec!["sub".into()],
        ..plain.clone()
    };
    assert_ne!(key(&excluding), base);
    let parents = CopyAction {
        parents: true,
        ..plain.clone()
    };
    assert_ne!(key(&parents), base);
    // Editing an excluded file leaves the key alone; editing a kept one does not.
    let before = key(&excluding);
    fs::write(dir.path().join("d/sub/b.txt"), "changed").unwrap();
    assert_eq!(key(&excluding), before);
    fs::write(dir.path().join("d/a.txt"), "changed").unwrap();
    assert_ne!(key(&excluding), before);
}

#[test]
fn remembered_hashes_are_used_only_while_files_look_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    fs::create_dir(&ctx).unwrap();
    let f = ctx.join("f");
    fs::write(&f, "one").unwrap();
    let cache_file = dir.path().join("hashes");
    let copy = copy_of(&["f".into()], false);
    let plain = selection_digest(&ctx, &[], &copy, None).unwrap();
    // Files changed in the last seconds are never remembered, so wait them out.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let cache = HashCache::open(cache_file.clone());
    assert_eq!(
        selection_digest(&ctx, &[], &copy, Some(&cache)).unwrap(),
        plain
    );
    cache.save().unwrap();

    // Same content rewritten with the old mtime: still the same key, read again.
    let reloaded = HashCache::open(cache_file.clone());
    assert_eq!(
        selection_digest(&ctx, &[], &copy, Some(&reloaded)).unwrap(),
        plain
    );
    let mtime = fs::metadata(&f).unwrap().modified().unwrap();
    fs::write(&f, "two").unwrap();
    fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let changed = selection_digest(&ctx, &[], &copy, Some(&reloaded)).unwrap();
    assert_ne!(
        changed, plain,
        "a rewrite with the same size and mtime is still seen"
    );
    assert_eq!(changed, selection_digest(&ctx, &[], &copy, None).unwrap());
}
