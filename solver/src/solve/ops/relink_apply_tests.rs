//! Pairing a journal with the context as selected now: in the order it
//! was written (no copy of every entry) and, when that order differs, by
//! path; both must find the same changed files.

use super::*;

fn selected(ctx: &Path) -> Vec<(u32, Vec<Match>)> {
    let root = at::open_root(ctx).unwrap();
    let ignore = Dockerignore::default();
    let src = Source {
        root: root.as_fd(),
        ignore: &ignore,
    };
    let exclude = Dockerignore::default();
    let patterns = vec!["src".to_string()];
    let req = Request {
        patterns: &patterns,
        parents: false,
        exclude: &exclude,
    };
    vec![(0, select(&src, &req).unwrap())]
}

/// What a copy of `found` journals, each destination its source path.
fn journal_of(found: &[(u32, Vec<Match>)]) -> Vec<Placed> {
    let mut placed: Vec<Placed> = expected(0, &found[0].1)
        .unwrap()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    for p in &mut placed {
        p.dest = p.src.clone();
    }
    placed
}

fn changed_srcs(old: &[Placed], changed: &[Change]) -> Vec<String> {
    let mut v: Vec<String> = changed.iter().map(|c| old[c.slot].src.clone()).collect();
    v.sort();
    v
}

#[test]
fn in_order_and_sorted_pairing_find_the_same_changes() {
    let dir = tempfile::tempdir().unwrap();
    for (i, f) in ["src/a", "src/d/b", "src/d/c", "src/e"].iter().enumerate() {
        let p = dir.path().join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, format!("{i}")).unwrap();
    }
    let old = journal_of(&selected(dir.path()));
    assert!(unique(&old));
    fs::write(dir.path().join("src/d/c"), "changed, and longer").unwrap();
    let now = selected(dir.path());

    let in_order = diff_in_order(&old, &now).expect("same order").unwrap();
    assert_eq!(changed_srcs(&old, &in_order), ["src/d/c"]);
    let sorted = diff_sorted(&old, &now).unwrap();
    assert_eq!(changed_srcs(&old, &sorted), ["src/d/c"]);

    let mut reversed = old.clone();
    reversed.reverse();
    assert!(diff_in_order(&reversed, &now).is_none(), "order differs");
    let by_path = diff_sorted(&reversed, &now).unwrap();
    assert_eq!(changed_srcs(&reversed, &by_path), ["src/d/c"]);

    // An entry more or less is never relinked, in either pairing.
    fs::write(dir.path().join("src/f"), "new").unwrap();
    let more = selected(dir.path());
    assert!(matches!(diff_in_order(&old, &more), None | Some(None)));
    assert!(diff_sorted(&old, &more).is_none());
    // A directory whose metadata changed is not relinked.
    fs::remove_file(dir.path().join("src/f")).unwrap();
    let mut stale = old.clone();
    let d = stale.iter_mut().find(|p| p.src == "src/d").unwrap();
    d.meta.mode ^= 0o022;
    assert!(matches!(diff_in_order(&stale, &now), Some(None)));
}

/// A journal as a real copy writes it (directories included, recorded as
/// they are made) pairs with the fresh selection in order: the relink of
/// a big context never falls back to sorting both. It was written with
/// directories last (after their contents), which always fell back.
#[test]
fn a_real_copys_journal_pairs_in_order() {
    use crate::fileop::journal::Recorder;
    use crate::fileop::{apply_recorded, SourceRoot};
    let ctx = tempfile::tempdir().unwrap();
    for f in ["src/a", "src/d/b", "src/d/e/c", "src/f"] {
        let p = ctx.path().join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, f).unwrap();
    }
    let (dest, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let path = out.path().join("journal");
    let copy = FileAction::Copy(mybuild_graph::CopyAction {
        source: 1,
        src: vec!["src".into()],
        dest: "/app/".into(),
        owner: None,
        mode: None,
        extract_archives: false,
        parents: false,
        exclude: Vec::new(),
    });
    let context = SourceRoot {
        path: ctx.path().into(),
        exclude: Vec::new(),
        preserve_owner: false,
    };
    // A copy that began an hour ago: every source changed since, so
    // every entry is racy (never reused).
    let began = super::super::relink::now_secs() - 3600;
    let recorder = Recorder::create(&path, began).unwrap();
    apply_recorded(
        dest.path(),
        &[None, Some(context)],
        &[copy],
        Some(&recorder),
    )
    .unwrap();
    recorder.finish().unwrap();
    let journal: Journal = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert!(!journal.incomplete);
    let srcs: Vec<&str> = journal.placed.iter().map(|p| p.src.as_str()).collect();
    assert_eq!(
        srcs,
        ["src/a", "src/d", "src/d/b", "src/d/e", "src/d/e/c", "src/f"]
    );
    assert!(
        journal.placed.iter().all(|p| p.racy),
        "sources newer than the copy"
    );
    assert_eq!(journal.placed[1].dest, "app/d");

    // The journal's action is the op's index (0 here), as `compare` numbers them.
    let now = selected(ctx.path());
    let changed = diff_in_order(&journal.placed, &now).expect("paired in order");
    // Racy regular files count as changed: copied again, never linked.
    let changed = changed.expect("relinkable");
    assert_eq!(
        changed_srcs(&journal.placed, &changed),
        ["src/a", "src/d/b", "src/d/e/c", "src/f"]
    );
}
