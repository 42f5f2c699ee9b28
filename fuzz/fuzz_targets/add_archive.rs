//! ADD of a local file whose bytes are the input: a tar (or gzip of one)
//! is unpacked into the root, anything else is copied. Errors are fine;
//! a panic, a hang, or a change outside the root is a finding:
//!
//! - a sentinel directory beside the root (and the build context) must be
//!   exactly as before, even though the root holds symlinks to it (one
//!   absolute, by its real path, one relative) that a careless resolver
//!   would follow;
//! - nothing but the context, root and sentinel may appear beside them;
//! - the files under the root may take no more space than the archive
//!   could hold (a sparse entry's holes must not be written out as zeros).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use mybuild_graph::{CopyAction, FileAction};
use mybuild_solver::fileop::{apply, SourceRoot};
use std::fs;
use std::os::unix::fs::symlink;

fuzz_target!(|data: &[u8]| {
    common::limit_file_size();
    let base = common::scratch("mybuild-fuzz-add-");
    let (ctx, root, sentinel) = (
        base.path().join("ctx"),
        base.path().join("root"),
        base.path().join("sentinel"),
    );
    for dir in [&ctx, &root.join("x"), &sentinel.join("d")] {
        fs::create_dir_all(dir).unwrap();
    }
    fs::write(sentinel.join("d/f"), "sentinel\n").unwrap();
    fs::write(ctx.join("a"), data).unwrap();
    fs::write(root.join("x/file"), "old\n").unwrap();
    symlink(&sentinel, root.join("x/abs")).unwrap();
    symlink("../../sentinel", root.join("x/up")).unwrap();
    symlink("/", root.join("x/top")).unwrap();
    let (ctx_before, sentinel_before) = (common::record(&ctx), common::record(&sentinel));
    let alloc_before = common::allocated(&root);

    let add = FileAction::Copy(CopyAction {
        source: 1,
        src: vec!["a".into()],
        dest: "/x/".into(),
        owner: None,
        mode: None,
        extract_archives: true,
        parents: false,
        exclude: Vec::new(),
    });
    let src = SourceRoot {
        path: ctx.clone(),
        exclude: Vec::new(),
        preserve_owner: false,
    };
    let _ = apply(&root, &[None, Some(src)], &[add]);

    assert_eq!(
        common::record(&sentinel),
        sentinel_before,
        "sentinel changed"
    );
    assert_eq!(common::record(&ctx), ctx_before, "build context changed");
    let mut beside: Vec<_> = fs::read_dir(base.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    beside.sort();
    assert_eq!(
        beside,
        ["ctx", "root", "sentinel"],
        "written beside the root"
    );
    // Each file takes at most its data rounded up to a page, and needs at
    // least one 512-byte header; gzip inflates at most ~1032 times.
    let len = data.len() as u64;
    let inflate = if data.starts_with(&[0x1f, 0x8b]) {
        1032
    } else {
        1
    };
    let bound = alloc_before + 2 * (len * inflate + (len * inflate / 512 + 2) * 4096);
    let alloc = common::allocated(&root);
    assert!(
        alloc <= bound,
        "{alloc} bytes allocated from a {len}-byte input"
    );
});
