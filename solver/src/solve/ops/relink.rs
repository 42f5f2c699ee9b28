//! COPY from the build context again after a few files changed, without
//! copying the rest: the new layer starts as hard links to the snapshot the
//! same step made last time (same op, same rootfs, same context directory),
//! and only the files whose source changed are written.
//!
//! What the last copy placed, and from which source `lstat`, is its
//! [`Journal`] (kept per step "shape" in `RELINK_DIR`). The context is
//! selected again with the very code the copy uses; the result is reused
//! only when it has the same entries (paths, kinds, links, directory and
//! special-file metadata) and differs in regular files alone. A file counts
//! as unchanged when its inode, size, mode, owner, mtime and ctime are
//! those recorded, and it had not changed within two seconds before that
//! copy began (a second change in the same timestamp tick would look the
//! same, as with the context hash cache). Anything else is a full copy.
//! The layer's diff_id is taken from the new snapshot as always.

use super::relink_apply::{compare, RelinkError, RACY_SECS};
use crate::fileop::journal::Journal;
use crate::solve::chain::Chain;
use crate::solve::types::{Value, RELINK_DIR};
use mybuild_cache::{Marks, Store};
use mybuild_graph::{Digest, FileAction, FileOp, KeyEncoder, Node};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a step's last copy left behind for the next one.
#[derive(Deserialize)]
struct Manifest {
    diff_id: String,
    journal: Journal,
    /// Hash states inside the layer tar, once a relink packed it.
    #[serde(default)]
    marks: Option<Marks>,
}

/// [`Manifest`] as written, borrowing its parts.
#[derive(Serialize)]
struct ManifestRef<'a> {
    diff_id: &'a str,
    journal: &'a Journal,
    marks: Option<&'a Marks>,
}

/// A file op that may be relinked: all its copies read the one local input.
#[derive(Clone)]
pub(super) struct Plan {
    /// The op, the rootfs and the context, not the context's content.
    shape: Digest,
    pub(super) context: PathBuf,
    pub(super) exclude: Vec<String>,
    pub(super) op: FileOp,
}

impl Plan {
    /// `None` unless every copy of `f` reads input 1, a local directory,
    /// and none unpacks archives (what they place depends on content).
    pub(super) fn of(node: &Node, chain: &Chain, inputs: &[Value], f: &FileOp) -> Option<Plan> {
        let [_, Value::Local { path, exclude }] = inputs else {
            return None;
        };
        let plain = f.actions.iter().all(|a| match a {
            FileAction::Copy(c) => c.source == 1 && !c.extract_archives,
            FileAction::Mkdir(_) | FileAction::Mkfile(_) => true,
        });
        if !plain {
            return None;
        }
        let mut e = KeyEncoder::new();
        e.str("copy-relink-v1");
        node.op.encode(&mut e);
        e.u64(chain.len() as u64);
        for d in chain.iter() {
            e.digest(d);
        }
        e.bytes(path.as_os_str().as_encoded_bytes()).strs(exclude);
        Some(Plan {
            shape: e.finish(),
            context: path.clone(),
            exclude: exclude.clone(),
            op: f.clone(),
        })
    }

    fn file(&self, store: &Store) -> PathBuf {
        store.state_dir(RELINK_DIR).join(self.shape.hex())
    }

    /// Blocking: the new layer's diff_id if the last copy could be reused,
    /// `None` when a full copy is needed.
    pub(super) fn relink(&self, store: &Store) -> Result<Option<Digest>, RelinkError> {
        let Some((old_diff, journal, marks)) = self.load(store) else {
            return Ok(None);
        };
        let Some(old) = store.snapshot_dir(&old_diff) else {
            return Ok(None);
        };
        let since = now_secs();
        let Some(changes) = compare(&self.context, &self.exclude, &self.op, journal)? else {
            return Ok(None);
        };
        let wd = store.work_dir()?;
        let upper = wd.upper();
        changes.write(&old, &upper)?;
        if let Some(epoch) = self.op.clamp_mtime {
            mybuild_cache::clamp_mtimes(&upper, epoch)?;
        }
        // Entries before the first changed one pack as they did last time.
        let first = changes.first_changed();
        let resume = marks.as_ref().map(|m| (m, first.as_deref()));
        let (diff, marks) = store.commit_upper_marked(&upper, resume)?;
        let journal = changes.into_journal(since);
        self.save(store, &diff, &journal, Some(&marks));
        Ok(Some(diff))
    }

    /// Remembers what a full copy placed (read from the helper's journal
    /// file, which is removed) for the next build of this step.
    pub(super) fn remember(&self, store: &Store, diff: &Digest, journal: &Path, since: i64) {
        let read = std::fs::read(journal);
        let _ = std::fs::remove_file(journal);
        let Ok(mut journal) = read
            .map_err(drop)
            .and_then(|b| serde_json::from_slice::<Journal>(&b).map_err(drop))
        else {
            return;
        };
        for p in &mut journal.placed {
            p.racy = p.meta.racy(since, RACY_SECS);
        }
        self.save(store, diff, &journal, None);
    }

    fn load(&self, store: &Store) -> Option<(Digest, Journal, Option<Marks>)> {
        let bytes = std::fs::read(self.file(store)).ok()?;
        let m: Manifest = serde_json::from_slice(&bytes).ok()?;
        let diff = Digest::parse(&m.diff_id).ok()?;
        (!m.journal.incomplete).then_some((diff, m.journal, m.marks))
    }

    /// Written whole through a rename; a lost or torn file only means the
    /// next build copies everything.
    fn save(&self, store: &Store, diff: &Digest, journal: &Journal, marks: Option<&Marks>) {
        let file = self.file(store);
        let m = ManifestRef {
            diff_id: diff.as_str(),
            journal,
            marks,
        };
        let tmp = file.with_extension(format!("tmp-{}", std::process::id()));
        let written = file
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::File::create(&tmp))
            .and_then(|f| {
                serde_json::to_writer(std::io::BufWriter::new(f), &m).map_err(std::io::Error::other)
            })
            .and_then(|()| std::fs::rename(&tmp, &file));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

pub(super) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
