use super::*;
use mybuild_graph::MkdirAction;

fn mkdir(path: &str, mode: u32, parents: bool, owner: Option<Owner>) -> FileAction {
    FileAction::Mkdir(MkdirAction {
        path: path.into(),
        mode,
        parents,
        owner,
    })
}

#[test]
fn mkdir_creates_parents_with_mode_and_owner() {
    let fx = Fixture::new();
    fx.root_file("etc/passwd", "app:x:10:20::/:/bin/sh\n");
    fs::create_dir(fx.out("/real")).unwrap();
    link("/real", &fx.out("/alias"));
    fx.apply(vec![
        mkdir("/a/b/c", 0o755, true, None),
        mkdir("/a/b/c", 0o700, true, None),
        mkdir("/owned/x", 0o750, true, owner("app", None)),
        mkdir("/alias/in", 0o755, true, None),
        mkdir("/single", 0o711, false, None),
    ])
    .unwrap();
    assert_eq!(
        fx.meta("/a/b/c"),
        (0o755, 0, 0),
        "an existing directory is left as is"
    );
    assert_eq!(fx.meta("/a"), (0o755, 0, 0));
    assert_eq!(fx.meta("/owned"), (0o750, 10, 20));
    assert_eq!(fx.meta("/owned/x"), (0o750, 10, 20));
    assert!(fx.out("/real/in").is_dir());
    assert_eq!(fx.meta("/single").0, 0o711);
}

#[test]
fn mkdir_errors() {
    let fx = Fixture::new();
    fx.root_file("file", "f");
    let err = fx
        .apply(vec![mkdir("/missing/child", 0o755, false, None)])
        .unwrap_err();
    assert!(
        matches!(&err, FileOpError::Mkdir { path, .. } if path == "/missing/child"),
        "{err}"
    );
    let err = fx
        .apply(vec![mkdir("/file/sub", 0o755, true, None)])
        .unwrap_err();
    assert!(err.to_string().contains("/file/sub"), "{err}");
}
