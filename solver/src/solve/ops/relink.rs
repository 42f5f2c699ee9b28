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

use super::relink_apply::{compare, RelinkError};
use crate::fileop::journal::Journal;
use crate::solve::chain::Chain;
use crate::solve::types::{Value, RELINK_DIR};
use mybuild_cache::{Marks, Store};
use mybuild_graph::{Digest, FileAction, FileOp, KeyEncoder, Node};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a step's last copy left behind for the next one: the journal is
/// a file of its own beside it (`journal_file`), named afresh each time,
/// so a manifest never names a journal of another copy. Manifests written
/// before held the journal itself (`journal`).
#[derive(Deserialize)]
struct Manifest {
    diff_id: String,
    #[serde(default)]
    journal: Option<Journal>,
    #[serde(default)]
    journal_file: Option<String>,
    /// Hash states inside the layer tar, once a relink packed it.
    #[serde(default)]
    marks: Option<Marks>,
}

/// [`Manifest`] as written.
#[derive(Serialize)]
struct ManifestRef<'a> {
    diff_id: &'a str,
    journal_file: &'a str,
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

    /// Remembers what a full copy placed for the next build of this step:
    /// the helper's journal file (its racy entries marked) is moved beside
    /// the manifest as it is, never read here.
    pub(super) fn remember(&self, store: &Store, diff: &Digest, journal: &Path) {
        let name = self.journal_name();
        let kept = self.file(store).with_file_name(&name);
        let moved = std::fs::create_dir_all(store.state_dir(RELINK_DIR))
            .and_then(|()| std::fs::rename(journal, &kept));
        if moved.is_err() {
            let _ = std::fs::remove_file(journal);
            return;
        }
        self.commit(store, diff, &name, None);
    }

    fn load(&self, store: &Store) -> Option<(Digest, Journal, Option<Marks>)> {
        let m = self.manifest(store)?;
        let diff = Digest::parse(&m.diff_id).ok()?;
        let journal = match (m.journal, m.journal_file) {
            (Some(j), _) => j,
            (None, Some(name)) => {
                let f = std::fs::File::open(self.journal_path(store, &name)?).ok()?;
                let reader = std::io::BufReader::with_capacity(1 << 16, f);
                serde_json::from_reader(reader).ok()?
            }
            (None, None) => return None,
        };
        (!journal.incomplete).then_some((diff, journal, m.marks))
    }

    fn manifest(&self, store: &Store) -> Option<Manifest> {
        let bytes = std::fs::read(self.file(store)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Where this step's journal file `name` is; `None` for a name that
    /// is not one of [`Plan::journal_name`]'s (it never leaves the dir).
    fn journal_path(&self, store: &Store, name: &str) -> Option<PathBuf> {
        let rest = name.strip_prefix(self.shape.hex())?.strip_prefix('.')?;
        let ok = rest.ends_with(".journal") && !rest.contains('/');
        ok.then(|| self.file(store).with_file_name(name))
    }

    /// A fresh name for this step's next journal file.
    fn journal_name(&self) -> String {
        format!("{}.{}.journal", self.shape.hex(), unique_suffix())
    }

    /// Writes `journal` as this step's next journal file, then the manifest.
    fn save(&self, store: &Store, diff: &Digest, journal: &Journal, marks: Option<&Marks>) {
        let name = self.journal_name();
        let path = self.file(store).with_file_name(&name);
        let written = std::fs::File::create(&path).and_then(|f| {
            let mut w = std::io::BufWriter::with_capacity(1 << 16, f);
            serde_json::to_writer(&mut w, journal).map_err(std::io::Error::other)?;
            std::io::Write::flush(&mut w)
        });
        match written {
            Ok(()) => self.commit(store, diff, &name, marks),
            Err(_) => drop(std::fs::remove_file(&path)),
        }
    }

    /// Points the manifest at journal file `name` through a rename, then
    /// removes the journal it named before. A lost or torn manifest only
    /// means the next build copies everything.
    fn commit(&self, store: &Store, diff: &Digest, name: &str, marks: Option<&Marks>) {
        let file = self.file(store);
        let old = self.manifest(store).and_then(|m| m.journal_file);
        let m = ManifestRef {
            diff_id: diff.as_str(),
            journal_file: name,
            marks,
        };
        let tmp = file.with_extension(format!("tmp-{}", std::process::id()));
        let written = std::fs::File::create(&tmp)
            .and_then(|f| {
                serde_json::to_writer(std::io::BufWriter::new(f), &m).map_err(std::io::Error::other)
            })
            .and_then(|()| std::fs::rename(&tmp, &file));
        let stale = match written {
            Ok(()) => old.filter(|o| o != name),
            Err(_) => {
                let _ = std::fs::remove_file(&tmp);
                Some(name.to_string())
            }
        };
        if let Some(stale) = stale.and_then(|n| self.journal_path(store, &n)) {
            let _ = std::fs::remove_file(stale);
        }
    }
}

/// `<pid>-<nanoseconds>`: a file name part no other write of a journal
/// shares.
pub(super) fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

pub(super) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fileop::journal::{Placed, SourceMeta};

    fn plan() -> Plan {
        Plan {
            shape: Digest::of(b"shape"),
            context: PathBuf::from("/ctx"),
            exclude: Vec::new(),
            op: FileOp {
                actions: Vec::new(),
                clamp_mtime: None,
            },
        }
    }

    fn journal(src: &str) -> Journal {
        let meta = SourceMeta {
            ino: 1,
            size: 2,
            mode: 0o100644,
            uid: 0,
            gid: 0,
            rdev: 0,
            mtime: (3, 0),
            ctime: (3, 0),
        };
        Journal {
            placed: vec![Placed {
                action: 0,
                src: src.into(),
                dest: format!("app/{src}"),
                meta,
                link_target: None,
                racy: false,
            }],
            incomplete: false,
        }
    }

    fn journals(store: &Store) -> Vec<String> {
        let dir = store.state_dir(RELINK_DIR);
        let names = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name());
        let mut v: Vec<String> = names
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".journal"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_copys_journal_is_kept_as_written_and_replaced_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let (plan, diff) = (plan(), Digest::of(b"layer"));
        for (i, src) in ["a", "b"].iter().enumerate() {
            let written = tmp.path().join(format!("helper-journal-{i}"));
            std::fs::write(&written, serde_json::to_vec(&journal(src)).unwrap()).unwrap();
            plan.remember(&store, &diff, &written);
            assert!(!written.exists(), "moved, not copied");
            let (d, j, marks) = plan.load(&store).expect("remembered");
            assert_eq!(
                (d, j.placed[0].src.as_str(), marks.is_none()),
                (diff.clone(), *src, true)
            );
            assert_eq!(journals(&store).len(), 1, "the earlier journal is removed");
        }
        plan.save(&store, &diff, &journal("c"), None);
        assert_eq!(plan.load(&store).unwrap().1.placed[0].src, "c");
        assert_eq!(journals(&store).len(), 1);
    }

    #[test]
    fn manifests_name_only_their_own_journal_files_and_old_ones_still_load() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let plan = plan();
        let file = plan.file(&store);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let outside = tmp.path().join("outside.journal");
        std::fs::write(&outside, serde_json::to_vec(&journal("x")).unwrap()).unwrap();
        // A directory that makes the climbing name resolve to `outside`.
        std::fs::create_dir(file.with_file_name(format!("{}.", plan.shape.hex()))).unwrap();
        let climbing = format!("{}./../../../outside.journal", plan.shape.hex());
        for name in ["../../outside.journal", "outside.journal", &climbing] {
            let m = serde_json::json!({"diff_id": Digest::of(b"l").as_str(), "journal_file": name});
            std::fs::write(&file, m.to_string()).unwrap();
            assert!(plan.load(&store).is_none(), "{name} was read");
        }
        // The form written before journals had files of their own.
        let m = serde_json::json!({"diff_id": Digest::of(b"l").as_str(), "journal": journal("y")});
        std::fs::write(&file, m.to_string()).unwrap();
        assert_eq!(plan.load(&store).unwrap().1.placed[0].src, "y");
    }
}
