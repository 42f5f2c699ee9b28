use super::*;

#[test]
fn files_replace_files_and_directories_merge() {
    let fx = Fixture::new();
    fx.file("newfile", "new\n")
        .file("dir/deeper/z", "z\n")
        .file("dir/keep", "k");
    fx.root_file("t/file", "old\n")
        .root_file("t/deeper/existing", "e");
    link("/elsewhere", &fx.out("/t/keep"));
    fx.apply(vec![copy(&["newfile"], "/t/file"), copy(&["dir"], "/t/")])
        .unwrap();
    assert_eq!(fx.read("/t/file"), "new\n");
    assert_eq!(fx.read("/t/deeper/z"), "z\n");
    assert_eq!(
        fx.read("/t/deeper/existing"),
        "e",
        "merging keeps what was there"
    );
    // A symlink in the way of a file is replaced, not followed.
    assert!(fs::symlink_metadata(fx.out("/t/keep")).unwrap().is_file());
    assert!(!fx.out("/elsewhere").exists());
}

#[test]
fn type_conflicts_are_errors() {
    let fx = Fixture::new();
    fx.file("src/sub/f", "f")
        .file("file-src/sub", "a file named like a dir");
    fx.root_file("a/sub", "a file where a directory goes");
    fx.root_file("b/sub/inner", "a directory where a file goes");
    let err = fx.apply(vec![copy(&["src"], "/a")]).unwrap_err();
    assert!(
        matches!(&err, FileOpError::NotADirectory { path } if path.ends_with("a/sub")),
        "{err}"
    );
    let err = fx.apply(vec![copy(&["file-src"], "/b")]).unwrap_err();
    assert!(
        matches!(&err, FileOpError::ReplaceDirectory { path } if path.ends_with("b/sub")),
        "{err}"
    );
    fx.root_file("plain", "p");
    let err = fx.apply(vec![copy(&["src"], "/plain")]).unwrap_err();
    assert!(matches!(err, FileOpError::NotADirectory { .. }), "{err}");
}

#[test]
fn merged_directories_take_the_source_metadata() {
    let fx = Fixture::new();
    fx.file("dir/sub/f", "f");
    chmod(&fx.ctx.path().join("dir/sub"), 0o750);
    fs::create_dir_all(fx.out("/t/sub")).unwrap();
    chmod(&fx.out("/t"), 0o711);
    fx.apply(vec![with(copy(&["dir"], "/t"), |c| {
        c.owner = owner("5", Some("6"))
    })])
    .unwrap();
    assert_eq!(fx.meta("/t/sub"), (0o750, 5, 6));
    // The destination directory itself is not the source's: left alone.
    assert_eq!(fx.meta("/t"), (0o711, 0, 0));
}
