//! A COPY from the context that runs again after a file changed shares the
//! unchanged files with the earlier snapshot (hard links) and writes only
//! the changed one: the image must equal a `--no-cache` build's, and nothing
//! done later (the relinked copy itself, `--chmod`/`--chown`, a RUN that
//! chmods, chowns and touches a shared file) may change the earlier snapshot.

use crate::util::{assert_success, stdout, TestEnv};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const EPOCH: &str = "1700000000";

const DOCKERFILE: &str = "FROM busybox
WORKDIR /app
COPY --chown=1:2 --chmod=640 src/ /app/
RUN chmod 600 /app/a && chown 3:4 /app/a && touch /app/d/e/c && cat /app/d/b > /seen
";

/// `build -q -t TAG [extra] CTX` with the epoch set; the image's diff_ids.
fn build(env: &TestEnv, ctx: &Path, tag: &str, extra: &[&str]) -> Vec<String> {
    let mut cmd = env.cmd();
    cmd.env("SOURCE_DATE_EPOCH", EPOCH)
        .args(["build", "-q", "-t", tag])
        .args(extra)
        .arg(ctx);
    assert_success(&cmd.output().unwrap(), tag);
    let out = env.mybuild(&["inspect", "-f", "{{json .RootFS.Layers}}", tag]);
    assert_success(&out, "inspect");
    serde_json::from_str(stdout(&out).trim()).unwrap()
}

/// The snapshot directory of a layer (named by its diff_id's first 16 hex).
fn snapshot(env: &TestEnv, diff_id: &str) -> PathBuf {
    let hex = diff_id.strip_prefix("sha256:").unwrap();
    env.root.path().join("v1/snapshots").join(&hex[..16])
}

fn meta(path: &Path) -> (u64, u32, u32, u32, i64, u64) {
    let m = std::fs::symlink_metadata(path).unwrap();
    (
        m.ino(),
        m.mode() & 0o7777,
        m.uid(),
        m.gid(),
        m.mtime(),
        m.len(),
    )
}

#[test]
fn an_edited_context_copy_shares_unchanged_files_and_equals_a_fresh_build() {
    let env = TestEnv::new();
    // A file over a MiB before the edited one in packing order, so the
    // second relink resumes hashing the layer tar after it.
    let big = "x".repeat(3 << 20);
    let files = [
        ("src/a", "a\n"),
        ("src/big", big.as_str()),
        ("src/d/b", "b\n"),
        ("src/d/e/c", "c\n"),
    ];
    let ctx = env.context("relink", DOCKERFILE, &files);
    // Older than the epoch, so not clamped: writing the changed file must
    // not leave its own time on the directory.
    let old_time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_500_000_000);
    std::fs::File::open(ctx.join("src/d"))
        .unwrap()
        .set_modified(old_time)
        .unwrap();
    // Files changed within two seconds (whole ones) of a copy are never shared.
    std::thread::sleep(std::time::Duration::from_millis(3500));
    let first = build(&env, &ctx, "one", &[]);
    let old = snapshot(&env, &first[2]);
    let before = [meta(&old.join("app/a")), meta(&old.join("app/d/b"))];
    assert_eq!((before[0].1, before[0].2, before[0].3), (0o640, 1, 2));

    std::fs::write(ctx.join("src/d/b"), "b, edited\n").unwrap();
    let second = build(&env, &ctx, "two", &[]);
    assert_ne!(first[2], second[2], "the COPY layer changed");
    let new = snapshot(&env, &second[2]);
    let shared = meta(&new.join("app/a"));
    assert_eq!(shared.0, before[0].0, "an unchanged file is the same inode");
    let written = meta(&new.join("app/d/b"));
    assert_ne!(written.0, before[1].0, "the changed file is a new inode");
    assert_eq!((written.1, written.2, written.3), (0o640, 1, 2));
    assert_eq!(std::fs::read(new.join("app/d/b")).unwrap(), b"b, edited\n");

    // Neither the relinked copy nor the RUN above it touched the old snapshot.
    assert_eq!(meta(&old.join("app/a")), before[0]);
    assert_eq!(meta(&old.join("app/d/b")), before[1]);
    assert_eq!(std::fs::read(old.join("app/d/b")).unwrap(), b"b\n");

    let fresh = build(&env, &ctx, "three", &["--no-cache"]);
    assert_eq!(second, fresh, "relinked image == --no-cache image");

    // Relinked again, now from a relinked layer whose tar hash is resumed.
    std::fs::write(ctx.join("src/d/b"), "b, edited twice\n").unwrap();
    let again = build(&env, &ctx, "two-again", &[]);
    let fresh = build(&env, &ctx, "three-again", &["--no-cache"]);
    assert_eq!(again, fresh, "resumed diff_id == --no-cache image");
    let dir = std::fs::metadata(snapshot(&env, &again[2]).join("app/d")).unwrap();
    assert_eq!(dir.mtime(), 1_500_000_000);

    // A new file changes the entries: a full copy, still the same image.
    std::fs::write(ctx.join("src/d/new"), "n\n").unwrap();
    let added = build(&env, &ctx, "four", &[]);
    let fresh = build(&env, &ctx, "five", &["--no-cache"]);
    assert_eq!(added, fresh);
}
