//! File steps through the helper: layer-chain sources mounted read-only
//! (none, one, several layers), a host directory source, and mkdir.

use crate::fixture::{entries, run, Fixture};
use mybuild_graph::{CopyAction, FileAction, MkdirAction};
use mybuild_solver::sandbox::{FileTask, SandboxError, SourceMount, Task};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

fn copy(source: u32, src: &str, dest: &str) -> FileAction {
    FileAction::Copy(CopyAction {
        source,
        src: vec![src.into()],
        dest: dest.into(),
        owner: None,
        mode: None,
        extract_archives: false,
        parents: false,
        exclude: Vec::new(),
    })
}

fn layers(names: &[&str]) -> SourceMount {
    SourceMount::Layers {
        lowers: names.iter().map(PathBuf::from).collect(),
    }
}

pub fn copies_from_layer_sources() {
    let fx = Fixture::new();
    fx.layer("one", &[("a.txt", "from one\n")]);
    fx.layer("two-top", &[("b.txt", "top b\n"), ("a.txt", "top a\n")]);
    fx.layer(
        "two-bottom",
        &[("b.txt", "bottom b\n"), ("c.txt", "bottom c\n")],
    );
    let task = FileTask {
        actions: vec![
            copy(1, "a.txt", "/out/single/"),
            copy(2, "b.txt", "/out/multi/"),
            copy(2, "c.txt", "/out/multi/"),
            FileAction::Mkdir(MkdirAction {
                path: "/made/deep".into(),
                mode: 0o750,
                parents: true,
                owner: None,
            }),
        ],
        sources: vec![
            SourceMount::None,
            layers(&["one"]),
            layers(&["two-top", "two-bottom"]),
            layers(&[]),
        ],
        journal: None,
    };
    let req = fx.request(&["base"], Task::File(task));
    run(&req).result.unwrap();
    let read = |p: &str| std::fs::read_to_string(req.upper.join(p)).unwrap();
    assert_eq!(read("out/single/a.txt"), "from one\n");
    assert_eq!(read("out/multi/b.txt"), "top b\n");
    assert_eq!(read("out/multi/c.txt"), "bottom c\n");
    assert_eq!(
        std::fs::metadata(req.upper.join("made/deep"))
            .unwrap()
            .mode()
            & 0o7777,
        0o750
    );
    assert_eq!(
        entries(&req.upper),
        ["made", "out"],
        "nothing but the copies lands in upper"
    );
    assert_eq!(
        entries(&req.merged),
        Vec::<String>::new(),
        "source mounts must not stay on disk"
    );
}

pub fn copies_from_host_dir_on_empty_rootfs() {
    let fx = Fixture::new();
    let context = fx.dir.path().join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("app.conf"), "key=value\n").unwrap();
    let task = FileTask {
        actions: vec![copy(1, "app.conf", "/etc/app.conf")],
        sources: vec![
            SourceMount::None,
            SourceMount::Dir {
                path: context,
                exclude: vec![],
            },
        ],
        journal: None,
    };
    let req = fx.request(&[], Task::File(task));
    run(&req).result.unwrap();
    assert_eq!(
        std::fs::read_to_string(req.upper.join("etc/app.conf")).unwrap(),
        "key=value\n"
    );
}

pub fn file_errors_are_reported() {
    let fx = Fixture::new();
    let task = FileTask {
        actions: vec![copy(1, "missing.txt", "/x")],
        sources: vec![SourceMount::None, layers(&["base"])],
        journal: None,
    };
    let req = fx.request(&["base"], Task::File(task));
    match run(&req).result {
        Err(SandboxError::FileOp { message }) => {
            assert!(message.contains("missing.txt"), "{message}")
        }
        other => panic!("expected a file op error, got {other:?}"),
    }
}

pub fn missing_layer_names_the_mount_step() {
    let fx = Fixture::new();
    let task = FileTask {
        actions: vec![],
        sources: vec![SourceMount::None],
        journal: None,
    };
    let req = fx.request(&["no-such-layer"], Task::File(task));
    match run(&req).result {
        Err(SandboxError::Setup { step, message }) => {
            assert!(step.starts_with("mount overlay (1 layers) on "), "{step}");
            assert!(message.contains("No such file"), "{message}");
        }
        other => panic!("expected a setup error, got {other:?}"),
    }
}
