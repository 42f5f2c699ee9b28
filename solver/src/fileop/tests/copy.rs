use super::*;

#[test]
fn basic_naming_rules() {
    let fx = Fixture::new();
    fx.file("a.txt", "alpha\n").file("b.txt", "beta\n");
    fs::create_dir(fx.out("existing")).unwrap();
    fx.apply(vec![
        copy(&["a.txt"], "/dst/"),
        copy(&["a.txt"], "/renamed.txt"),
        copy(&["b.txt"], "/newdir/sub/"),
        copy(&["a.txt", "b.txt"], "/multi/"),
        copy(&["a.txt"], "/existing"),
    ])
    .unwrap();
    let table = [
        ("/dst/a.txt", "alpha\n"),
        ("/renamed.txt", "alpha\n"),
        ("/newdir/sub/b.txt", "beta\n"),
        ("/multi/a.txt", "alpha\n"),
        ("/multi/b.txt", "beta\n"),
        ("/existing/a.txt", "alpha\n"),
    ];
    for (path, content) in table {
        assert_eq!(fx.read(path), content, "{path}");
        assert_eq!(fx.meta(path), (0o644, 0, 0), "{path}");
    }
    for dir in ["/dst", "/newdir", "/newdir/sub", "/multi"] {
        assert_eq!(fx.meta(dir), (0o755, 0, 0), "{dir}");
    }
}

#[test]
fn directory_sources_copy_their_contents() {
    let fx = Fixture::new();
    fx.file("dir/x", "x").file("dir/nested/y", "y");
    chmod(&fx.ctx.path().join("dir/nested"), 0o700);
    fx.apply(vec![
        copy(&["dir"], "/target"),
        copy(&["dir/"], "/target2/"),
        copy(&["."], "/whole"),
    ])
    .unwrap();
    for base in ["/target", "/target2", "/whole/dir"] {
        assert_eq!(fx.read(&format!("{base}/x")), "x");
        assert_eq!(fx.read(&format!("{base}/nested/y")), "y");
        assert_eq!(fx.meta(&format!("{base}/nested")).0, 0o700, "{base}");
    }
    assert!(
        !fx.out("/target/dir").exists(),
        "contents, not the directory itself"
    );
    assert_eq!(fx.meta("/target"), (0o755, 0, 0));
}

#[test]
fn wildcards_follow_go_match_rules() {
    let fx = Fixture::new();
    for name in [
        "one.txt",
        "two.txt",
        "abc.md",
        "axc.md",
        "a1.log",
        "b2.log",
        "c3.log",
        "sub/in.txt",
    ] {
        fx.file(name, name);
    }
    fx.apply(vec![
        copy(&["*.txt"], "/txt/"),
        copy(&["a?c.md"], "/md/"),
        copy(&["[ab]*.log"], "/logs/"),
        copy(&["s*/*.txt"], "/deep/"),
    ])
    .unwrap();
    let names = |d: &str| {
        let mut v: Vec<String> = fs::read_dir(fx.out(d))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("/txt"), ["one.txt", "two.txt"]);
    assert_eq!(names("/md"), ["abc.md", "axc.md"]);
    assert_eq!(names("/logs"), ["a1.log", "b2.log"]);
    assert_eq!(names("/deep"), ["in.txt"]);
}

#[test]
fn missing_sources_are_named_errors() {
    let fx = Fixture::new();
    fx.file("a", "a");
    let err = fx.apply(vec![copy(&["does-not-exist"], "/x")]).unwrap_err();
    assert!(
        matches!(&err, FileOpError::Select(SelectError::NotFound { path }) if path == "does-not-exist"),
        "{err}"
    );
    assert!(err.to_string().contains("does-not-exist"));
    // Below a directory that is not there, a wildcard fails too (BuildKit
    // reads that directory).
    let err = fx.apply(vec![copy(&["nodir/*"], "/x/")]).unwrap_err();
    assert!(
        matches!(&err, FileOpError::Select(SelectError::NotFound { path }) if path == "nodir"),
        "{err}"
    );
}

/// BuildKit (Docker 20.10) copies every wildcard match on its own, with the
/// destination rules of a single source; a wildcard matching nothing is no
/// error and creates nothing (found by tests/differential).
#[test]
fn wildcard_matches_are_copied_one_by_one() {
    let fx = Fixture::new();
    fx.file("a.txt", "alpha\n")
        .file("b.txt", "beta\n")
        .file("dir1/x", "x")
        .file("dir2/y", "y");
    fx.apply(vec![
        copy(&["*.nothing"], "/none/"),
        copy(&["a.txt", "*.nothing"], "/some/"),
        copy(&["*.txt"], "/f"),
        copy(&["dir*"], "/merged"),
        copy(&["a.txt"], "/d/"),
        copy(&["*.txt"], "/d"),
        copy(&["b.txt", "a.txt"], "/two"),
    ])
    .unwrap();
    // Several sources as written behave the same.
    assert_eq!(fx.read("/two"), "alpha\n");
    assert!(!fx.out("/none").exists());
    assert_eq!(fx.read("/some/a.txt"), "alpha\n");
    // Two matches into a path that is not a directory: the last one wins.
    assert_eq!(fx.read("/f"), "beta\n");
    // Directories' contents land side by side.
    assert_eq!(fx.read("/merged/x"), "x");
    assert_eq!(fx.read("/merged/y"), "y");
    // An existing directory is copied into.
    assert_eq!(fx.read("/d/b.txt"), "beta\n");
}

#[test]
fn sources_never_leave_the_context() {
    let fx = Fixture::new();
    fx.file("etc/passwd", "context passwd\n");
    link("/etc/hostname", &fx.ctx.path().join("abs-out"));
    link(
        "../../../../../etc/hostname",
        &fx.ctx.path().join("rel-out"),
    );
    // `../` is resolved at the context root: this is the context's etc/passwd.
    fx.apply(vec![copy(&["../../../../etc/passwd"], "/stolen")])
        .unwrap();
    assert_eq!(fx.read("/stolen"), "context passwd\n");
    for src in ["abs-out", "rel-out"] {
        let err = fx.apply(vec![copy(&[src], "/x")]).unwrap_err();
        assert!(
            matches!(err, FileOpError::Select(SelectError::NotFound { .. })),
            "{src}: {err}"
        );
    }
    assert!(!fx.out("/x").exists());
}

#[test]
fn symlinks_are_copied_but_named_sources_are_followed() {
    let fx = Fixture::new();
    fx.file("target.txt", "target\n").file("sub/s", "s");
    link("target.txt", &fx.ctx.path().join("link-to-file"));
    link("sub", &fx.ctx.path().join("link-to-dir"));
    link("/etc/passwd", &fx.ctx.path().join("abs-link"));
    fx.apply(vec![
        copy(&["."], "/app"),
        copy(&["link-to-file"], "/deref"),
        copy(&["link-to-dir"], "/derefdir"),
    ])
    .unwrap();
    assert_eq!(
        fs::read_link(fx.out("/app/link-to-file")).unwrap(),
        Path::new("target.txt")
    );
    assert_eq!(
        fs::read_link(fx.out("/app/abs-link")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(
        fs::read_link(fx.out("/app/link-to-dir")).unwrap(),
        Path::new("sub")
    );
    assert!(fs::symlink_metadata(fx.out("/deref")).unwrap().is_file());
    assert_eq!(fx.read("/deref"), "target\n");
    assert_eq!(fx.read("/derefdir/s"), "s");
    // A wildcard match is followed too: one that leads nowhere fails, as in
    // BuildKit (found by tests/differential).
    let err = fx.apply(vec![copy(&["abs-*"], "/w/")]).unwrap_err();
    assert!(
        matches!(&err, FileOpError::Select(SelectError::NotFound { path }) if path == "abs-link"),
        "{err}"
    );
}

#[test]
fn destination_symlinks_resolve_inside_the_root() {
    let fx = Fixture::new();
    fx.file("f", "f\n");
    fs::create_dir(fx.out("/real")).unwrap();
    link("/real", &fx.out("/alias"));
    link("/etc", &fx.out("/etc-link"));
    fx.apply(vec![
        copy(&["f"], "/alias/f"),
        copy(&["f"], "/alias/sub/"),
        copy(&["f"], "/etc-link/mybuild-test-f"),
    ])
    .unwrap();
    assert_eq!(fx.read("/real/f"), "f\n");
    assert_eq!(fx.read("/real/sub/f"), "f\n");
    assert!(fs::symlink_metadata(fx.out("/alias"))
        .unwrap()
        .file_type()
        .is_symlink());
    // The absolute link means the rootfs's /etc, never the host's.
    assert_eq!(fx.read("/etc/mybuild-test-f"), "f\n");
    assert!(!Path::new("/etc/mybuild-test-f").exists());
}

#[test]
fn chown_by_name_and_id() {
    let fx = Fixture::new();
    fx.file("f", "f").file("d/e/g", "g");
    fx.root_file(
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\napp:x:1234:5678::/home/app:/bin/sh\n",
    );
    fx.root_file("etc/group", "root:x:0:\nstaff:x:50:\n");
    fx.apply(vec![
        with(copy(&["f"], "/owned"), |c| {
            c.owner = owner("1000", Some("1000"))
        }),
        with(copy(&["f"], "/named"), |c| c.owner = owner("app", None)),
        with(copy(&["f"], "/grouped"), |c| {
            c.owner = owner("app", Some("staff"))
        }),
        with(copy(&["f"], "/uidonly"), |c| c.owner = owner("1000", None)),
        with(copy(&["d"], "/d"), |c| {
            c.owner = owner("1000", Some("2000"))
        }),
        with(copy(&["f"], "/new/parents/"), |c| {
            c.owner = owner("7", None)
        }),
    ])
    .unwrap();
    let table = [
        ("/owned", 1000, 1000),
        ("/named", 1234, 5678),
        ("/grouped", 1234, 50),
        ("/uidonly", 1000, 1000),
        ("/d", 1000, 2000),
        ("/d/e", 1000, 2000),
        ("/d/e/g", 1000, 2000),
        ("/new", 7, 7),
        ("/new/parents", 7, 7),
        ("/new/parents/f", 7, 7),
    ];
    for (path, uid, gid) in table {
        let (_, u, g) = fx.meta(path);
        assert_eq!((u, g), (uid, gid), "{path}");
    }
    // A name the image does not know is root, as in BuildKit 20.10.
    fx.apply(vec![with(copy(&["f"], "/x"), |c| {
        c.owner = owner("ghost", Some("1000"))
    })])
    .unwrap();
    assert_eq!(fx.meta("/x"), (0o644, 0, 1000));
}

#[test]
fn chmod_applies_to_files_and_directories() {
    let fx = Fixture::new();
    fx.file("f", "f").file("d/e/g", "g");
    fx.apply(vec![
        with(copy(&["f"], "/moded"), |c| c.mode = Some(0o640)),
        with(copy(&["d"], "/d"), |c| c.mode = Some(0o750)),
    ])
    .unwrap();
    assert_eq!(fx.meta("/moded").0, 0o640);
    assert_eq!(fx.meta("/d/e").0, 0o750);
    assert_eq!(fx.meta("/d/e/g").0, 0o750);
}

#[test]
fn modes_times_and_hardlinks_are_preserved() {
    let fx = Fixture::new();
    fx.file("t/a", "data\n");
    let t = fx.ctx.path().join("t");
    fs::hard_link(t.join("a"), t.join("b")).unwrap();
    chmod(&t.join("a"), 0o4755);
    fs::create_dir(t.join("private")).unwrap();
    chmod(&t.join("private"), 0o700);
    fs::create_dir(t.join("sticky")).unwrap();
    chmod(&t.join("sticky"), 0o1777);
    nix::unistd::mkfifo(
        &t.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o640),
    )
    .unwrap();
    let stamp = nix::sys::time::TimeSpec::new(1_000_000_000, 0);
    for name in ["a", "private", "sticky"] {
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            &t.join(name),
            &stamp,
            &stamp,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }
    fx.apply(vec![copy(&["t"], "/x")]).unwrap();
    let a = fs::metadata(fx.out("/x/a")).unwrap();
    let b = fs::metadata(fx.out("/x/b")).unwrap();
    assert_eq!(a.ino(), b.ino(), "hardlinks stay hardlinks");
    assert_eq!(a.nlink(), 2);
    assert_eq!(fx.meta("/x/a").0, 0o4755);
    assert_eq!(fx.meta("/x/private").0, 0o700);
    assert_eq!(fx.meta("/x/sticky").0, 0o1777);
    assert_eq!(fx.meta("/x/fifo").0, 0o640);
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(
        &fs::symlink_metadata(fx.out("/x/fifo")).unwrap().file_type()
    ));
    for name in ["/x/a", "/x/private", "/x/sticky"] {
        assert_eq!(
            fs::metadata(fx.out(name)).unwrap().mtime(),
            1_000_000_000,
            "{name}"
        );
    }
}

#[test]
fn dockerignore_hides_context_files() {
    let mut fx = Fixture::new();
    for f in [
        "src/main.c",
        "src/deep/x.o",
        "src/deep/y.c",
        "secret.env",
        "logs/keep.log",
        "logs/a.log",
        "build/out",
        "top.o",
        "docs/readme.md",
        "docs/other.md",
    ] {
        fx.file(f, f);
    }
    link("secret.env", &fx.ctx.path().join("sneaky"));
    let text = "# comment\nlogs/*\n!logs/keep.log\n**/*.o\nbuild\n*.env\ndocs/\n!docs/readme.md\n";
    fx.exclude = crate::context::Dockerignore::parse(text);
    fx.apply(vec![copy(&["."], "/ctx")]).unwrap();
    for kept in [
        "src/main.c",
        "src/deep/y.c",
        "logs/keep.log",
        "docs/readme.md",
    ] {
        assert!(fx.out(&format!("/ctx/{kept}")).exists(), "{kept}");
    }
    for gone in [
        "src/deep/x.o",
        "secret.env",
        "logs/a.log",
        "build",
        "top.o",
        "docs/other.md",
    ] {
        assert!(!fx.out(&format!("/ctx/{gone}")).exists(), "{gone}");
    }
    // The link itself is in the context (and copied as a link) ...
    assert!(fs::symlink_metadata(fx.out("/ctx/sneaky")).is_ok());
    // ... but naming it, or an excluded file, can't read what is excluded.
    for src in ["secret.env", "sneaky", "build/out", "docs/other.md"] {
        let err = fx.apply(vec![copy(&[src], "/leak")]).unwrap_err();
        assert!(err.to_string().contains(src), "{src}: {err}");
    }
    fx.apply(vec![copy(&["docs"], "/docs")]).unwrap();
    assert!(fx.out("/docs/readme.md").exists() && !fx.out("/docs/other.md").exists());
}

#[test]
fn missing_source_input_is_an_error() {
    let fx = Fixture::new();
    let err = apply(fx.root.path(), &[None], &[copy(&["a"], "/a")]).unwrap_err();
    assert!(matches!(err, FileOpError::MissingSource { index: 1 }));
}

#[test]
fn file_capabilities_survive_copy_and_chown() {
    let fx = Fixture::new();
    fx.file("ping", "binary");
    // VFS_CAP_REVISION_2 | effective, permitted = CAP_NET_RAW (bit 13).
    let mut cap = Vec::new();
    for word in [0x0200_0001u32, 1 << 13, 0, 0, 0] {
        cap.extend_from_slice(&word.to_le_bytes());
    }
    let xattr = |path: &Path, value: Option<&[u8]>| -> isize {
        let p = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        let name = c"security.capability";
        let mut buf = [0u8; 64];
        // SAFETY: valid NUL-terminated strings and buffers of the given sizes.
        unsafe {
            match value {
                Some(v) => libc::setxattr(p.as_ptr(), name.as_ptr(), v.as_ptr().cast(), v.len(), 0)
                    as isize,
                None => libc::getxattr(
                    p.as_ptr(),
                    name.as_ptr(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                ),
            }
        }
    };
    assert_eq!(
        xattr(&fx.ctx.path().join("ping"), Some(&cap)),
        0,
        "setting a file capability needs root"
    );
    fx.apply(vec![with(copy(&["ping"], "/bin/ping"), |c| {
        c.owner = owner("3", None)
    })])
    .unwrap();
    assert_eq!(xattr(&fx.out("/bin/ping"), None), cap.len() as isize);
    assert_eq!(fx.meta("/bin/ping").1, 3);
}

/// Context files become root's; files copied from a stage keep their owner
/// unless --chown says otherwise.
#[test]
fn stage_sources_keep_their_owner_context_sources_do_not() {
    for (stage, chown, want) in [
        (false, None, (0, 0)),
        (true, None, (1234, 567)),
        (true, Some("42:43"), (42, 43)),
    ] {
        let mut fx = Fixture::new();
        fx.stage_source = stage;
        fx.file("d/f", "x");
        for p in ["d", "d/f"] {
            std::os::unix::fs::chown(fx.ctx.path().join(p), Some(1234), Some(567)).unwrap();
        }
        let mut action = copy(&["d"], "/out/");
        if let (FileAction::Copy(c), Some(o)) = (&mut action, chown) {
            let (u, g) = o.split_once(':').unwrap();
            c.owner = Some(Owner {
                user: u.into(),
                group: Some(g.into()),
            });
        }
        fx.apply(vec![action]).unwrap();
        let (_, uid, gid) = fx.meta("/out/f");
        assert_eq!((uid, gid), want, "stage={stage} chown={chown:?}");
    }
}
