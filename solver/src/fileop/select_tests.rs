use super::*;
use std::fs;
use std::os::fd::AsFd;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn selected(dir: &Path, exclude: &[&str], srcs: &[&str]) -> Result<Vec<Match>, SelectError> {
    selected_with(dir, exclude, srcs, false, &[])
}

/// `select` with `.dockerignore` rules, COPY's `--parents` and `--exclude`.
fn selected_with(
    dir: &Path,
    ignore: &[&str],
    srcs: &[&str],
    parents: bool,
    exclude: &[&str],
) -> Result<Vec<Match>, SelectError> {
    let root = at::open_root(dir).unwrap();
    let ignore = Dockerignore::new(&strings(ignore)).unwrap();
    let src = Source {
        root: root.as_fd(),
        ignore: &ignore,
    };
    let exclude = Dockerignore::new(&strings(exclude)).unwrap();
    select(
        &src,
        &Request {
            patterns: &strings(srcs),
            parents,
            exclude: &exclude,
        },
    )
}

fn tree(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in files {
        let p = dir.path().join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, f).unwrap();
    }
    dir
}

/// Every path a selection would create, `real/rel` of each match.
fn paths(ms: &[Match]) -> Vec<String> {
    ms.iter()
        .flat_map(|m| {
            m.entries
                .iter()
                .skip(1)
                .map(|e| e.rel.display().to_string())
        })
        .collect()
}

#[test]
fn parents_keep_the_path_below_the_root_or_the_pivot() {
    let dir = tree(&[
        "x/a.txt",
        "x/y/a.txt",
        "x/y/b.txt",
        "x/y/c.md",
        "src/a/b/c.txt",
    ]);
    let ms = selected_with(dir.path(), &[], &["./x/a.txt", "x/y/a.txt"], true, &[]).unwrap();
    assert_eq!(paths(&ms), ["x", "x/a.txt", "x", "x/y", "x/y/a.txt"]);
    let ms = selected_with(dir.path(), &[], &["./x/./y/*.txt"], true, &[]).unwrap();
    assert_eq!(paths(&ms), ["y", "y/a.txt", "y/b.txt"]);
    let ms = selected_with(dir.path(), &[], &["src/**/*.txt"], true, &[]).unwrap();
    assert_eq!(paths(&ms), ["src", "src/a", "src/a/b", "src/a/b/c.txt"]);
    let ms = selected_with(dir.path(), &[], &["x/y"], true, &[]).unwrap();
    assert_eq!(
        paths(&ms),
        ["x", "x/y", "x/y/a.txt", "x/y/b.txt", "x/y/c.md"],
        "a matched directory brings its subtree"
    );
    let ms = selected_with(dir.path(), &[], &["*/./y/*.md"], true, &[]).unwrap();
    assert_eq!(
        paths(&ms),
        ["y", "y/c.md"],
        "one copy root per match of the root part"
    );
    assert!(selected_with(dir.path(), &[], &["nope/*.txt"], true, &[])
        .unwrap()
        .is_empty());
    assert!(matches!(
        selected_with(dir.path(), &[], &["x/missing"], true, &[]).unwrap_err(),
        SelectError::NotFound { .. }
    ));
}

#[test]
fn exclude_matches_below_each_source_never_the_source_itself() {
    let dir = tree(&[
        "d1/a.png",
        "d1/b.txt",
        "d2/c.png",
        "d2/sub/e.png",
        "top.png",
    ]);
    let ms = selected_with(dir.path(), &[], &["."], false, &["*/*.png"]).unwrap();
    assert_eq!(
        paths(&ms),
        ["d1", "d1/b.txt", "d2", "d2/sub", "d2/sub/e.png", "top.png"]
    );
    let ms = selected_with(dir.path(), &[], &["d*"], false, &["*.png"]).unwrap();
    assert_eq!(paths(&ms), ["b.txt", "sub", "sub/e.png"]);
    let ms = selected_with(
        dir.path(),
        &[],
        &["top.png", "d2"],
        false,
        &["*.png", "sub"],
    )
    .unwrap();
    assert_eq!(
        ms.len(),
        2,
        "a file source is copied whatever --exclude says"
    );
    assert_eq!(paths(&ms), Vec::<String>::new());
    let ms = selected_with(dir.path(), &[], &["d2"], false, &["**/*.png", "!sub/e.png"]).unwrap();
    assert_eq!(
        paths(&ms),
        ["sub", "sub/e.png"],
        "exceptions bring paths back"
    );
}

#[test]
fn filtering_renumbers_hardlinks() {
    let dir = tree(&["d/a", "d/z"]);
    fs::hard_link(dir.path().join("d/a"), dir.path().join("d/b")).unwrap();
    fs::hard_link(dir.path().join("d/a"), dir.path().join("d/c")).unwrap();
    let ms = selected_with(dir.path(), &[], &["d"], false, &["a"]).unwrap();
    assert_eq!(rels(&ms[0]), ["", "b", "c", "z"]);
    assert_eq!(
        ms[0].entries[1].hardlink_of, None,
        "b is now the first path"
    );
    assert_eq!(ms[0].entries[2].hardlink_of, Some(1));
}

fn rels(m: &Match) -> Vec<String> {
    m.entries
        .iter()
        .map(|e| e.rel.display().to_string())
        .collect()
}

#[test]
fn walk_is_sorted_preorder_and_finds_hardlinks() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["d/b", "d/a/z", "d/c"] {
        let p = dir.path().join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, f).unwrap();
    }
    fs::hard_link(dir.path().join("d/b"), dir.path().join("d/a/y")).unwrap();
    let ms = selected(dir.path(), &[], &["d"]).unwrap();
    assert_eq!(ms.len(), 1);
    assert_eq!(rels(&ms[0]), ["", "a", "a/y", "a/z", "b", "c"]);
    assert_eq!(
        ms[0].entries[4].hardlink_of,
        Some(2),
        "b is the same inode as the earlier a/y"
    );
    assert_eq!(ms[0].entries[2].hardlink_of, None);
}

#[test]
fn excluded_directories_are_entered_only_for_exceptions() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["docs/readme.md", "docs/other.md", "build/out"] {
        let p = dir.path().join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, f).unwrap();
    }
    let ms = selected(dir.path(), &["docs", "!docs/readme.md", "build"], &["."]).unwrap();
    assert_eq!(rels(&ms[0]), ["", "docs", "docs/readme.md"]);
    let ms = selected(dir.path(), &["docs", "build"], &["."]).unwrap();
    assert_eq!(rels(&ms[0]), [""]);
    let ms = selected(dir.path(), &["*"], &["."]).unwrap();
    assert_eq!(rels(&ms[0]), [""], "the root survives even `*`");
    let err = selected(dir.path(), &["build"], &["build"]).unwrap_err();
    assert!(matches!(err, SelectError::NotFound { .. }));
}

#[test]
fn wildcards_keep_the_matched_name_and_bad_patterns_fail() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("target"), "t").unwrap();
    std::os::unix::fs::symlink("target", dir.path().join("link")).unwrap();
    let ms = selected(dir.path(), &[], &["l*"]).unwrap();
    assert_eq!(ms[0].base_name, "link");
    assert_eq!(ms[0].real, Path::new("target"));
    assert!(matches!(
        selected(dir.path(), &[], &["[x"]).unwrap_err(),
        SelectError::BadPattern { .. }
    ));
}

#[test]
fn parallel_walk_of_many_directories_keeps_order_hardlinks_and_exclusions() {
    let dir = tempfile::tempdir().unwrap();
    let mut want = vec![String::new()];
    for d in 0..12 {
        let sub = format!("d{d:02}");
        fs::create_dir_all(dir.path().join(&sub).join("inner")).unwrap();
        fs::write(dir.path().join(&sub).join("inner/f"), &sub).unwrap();
        fs::write(dir.path().join(&sub).join("skip.log"), "x").unwrap();
        // Each directory's `link` is the same inode as the one before's file.
        if d > 0 {
            let prev = format!("d{:02}/inner/f", d - 1);
            fs::hard_link(dir.path().join(prev), dir.path().join(&sub).join("link")).unwrap();
        }
        want.push(sub.clone());
        want.push(format!("{sub}/inner"));
        want.push(format!("{sub}/inner/f"));
        if d > 0 {
            want.push(format!("{sub}/link"));
        }
        fs::write(dir.path().join(format!("{sub}.txt")), "top").unwrap();
        want.push(format!("{sub}.txt"));
    }
    // Excluded, and so is what it holds: it must not stay as an empty directory.
    fs::create_dir(dir.path().join("zz")).unwrap();
    fs::write(dir.path().join("zz/a.log"), "x").unwrap();
    let ms = selected(dir.path(), &["**/*.log", "zz", "!zz/keep"], &["."]).unwrap();
    assert_eq!(rels(&ms[0]), want);
    let index = |p: &str| want.iter().position(|w| w == p).unwrap();
    for d in 1..12 {
        let link = index(&format!("d{d:02}/link"));
        let prev = index(&format!("d{:02}/inner/f", d - 1));
        assert_eq!(ms[0].entries[link].hardlink_of, Some(prev), "d{d:02}/link");
    }
}
