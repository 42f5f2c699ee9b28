use super::*;
use std::fs;
use std::os::fd::AsFd;

fn selected(dir: &Path, exclude: &[&str], srcs: &[&str]) -> Result<Vec<Match>, SelectError> {
    let root = at::open_root(dir).unwrap();
    let patterns: Vec<String> = exclude.iter().map(|s| s.to_string()).collect();
    let ignore = Dockerignore::new(&patterns).unwrap();
    let src = Source {
        root: root.as_fd(),
        ignore: &ignore,
    };
    select(
        &src,
        &srcs.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    )
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
