//! Where [`KeyInputs`] records live: `<root>/key-inputs/<step>/<key hex>`,
//! one directory per step identity (its place and op kind, scoped to the
//! build's context directories), at most [`KEEP`] records in each. A record
//! is written only after its cache entry, and `prune` drops the records
//! whose entry is gone ([`sweep_orphans`]); `prune --all` and `du` treat the
//! directory like the solver's other state.

use super::{record, KeyInputs};
use mybuild_cache::Store;
use mybuild_graph::{Digest, KeyEncoder};
use std::fs;
use std::path::{Path, PathBuf};

/// The directory in the store root that holds the records.
pub const KEY_INPUTS_DIR: &str = "key-inputs";

/// Records kept per step: enough for a few variants (branches, arg
/// values) to find their closest, few enough to stay small.
const KEEP: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{step} {path}: {source}")]
    Io {
        step: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_err(step: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RecordError {
    let path = path.to_path_buf();
    move |source| RecordError::Io { step, path, source }
}

/// The records of one build: its store and the scope its steps live in.
#[derive(Debug, Clone)]
pub struct Records {
    dir: PathBuf,
    scope: Digest,
}

impl Records {
    /// `scope` tells builds of different projects apart (their context
    /// directories), so `[2/3] exec` of one never answers for another.
    pub fn new(store: &Store, scope: &[&Path]) -> Records {
        let mut e = KeyEncoder::new();
        e.str("key-inputs-scope").u64(scope.len() as u64);
        for p in scope {
            e.bytes(p.as_os_str().as_encoded_bytes());
        }
        Records {
            dir: store.state_dir(KEY_INPUTS_DIR),
            scope: e.finish(),
        }
    }

    fn step_dir(&self, step: &str) -> PathBuf {
        let mut e = KeyEncoder::new();
        e.str("key-inputs-step").digest(&self.scope).str(step);
        self.dir.join(&e.finish().hex()[..32])
    }

    /// The step's earlier records, newest first; unreadable ones skipped.
    pub fn load(&self, step: &str) -> Vec<KeyInputs> {
        let mut found: Vec<(std::time::SystemTime, KeyInputs)> = listing(&self.step_dir(step))
            .into_iter()
            .filter_map(|(path, time)| {
                let text = fs::read_to_string(path).ok()?;
                let k = record::decode(&text)?;
                (k.step == step).then_some((time, k))
            })
            .collect();
        found.sort_by_key(|f| std::cmp::Reverse(f.0));
        found.into_iter().map(|(_, k)| k).collect()
    }

    /// Writes `k` (a temp name renamed into place: a reader never sees half
    /// of one), then drops the oldest beyond [`KEEP`].
    pub fn save(&self, k: &KeyInputs) -> Result<(), RecordError> {
        let dir = self.step_dir(&k.step);
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let path = dir.join(k.key.hex());
        let tmp = dir.join(format!(".tmp-{}-{}", k.key.hex(), std::process::id()));
        fs::write(&tmp, record::encode(k)).map_err(io_err("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(io_err("rename", &path))?;
        let mut all = listing(&dir);
        if all.len() > KEEP {
            all.sort_by_key(|(_, time)| *time);
            for (old, _) in &all[..all.len() - KEEP] {
                fs::remove_file(old).map_err(io_err("remove", old))?;
            }
        }
        Ok(())
    }
}

/// Record files in `dir` (never temp files) and their mtimes.
fn listing(dir: &Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| Some((e.path(), e.metadata().ok()?.modified().ok()?)))
        .collect()
}

/// Removes the records whose cache entry `prune` removed, and leftover
/// temp files; returns the bytes freed.
pub fn sweep_orphans(store: &Store) -> Result<u64, RecordError> {
    let root = store.state_dir(KEY_INPUTS_DIR);
    let mut freed = 0;
    let Ok(steps) = fs::read_dir(&root) else {
        return Ok(0);
    };
    for step in steps.flatten() {
        let dir = step.path();
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        let mut kept = 0;
        for f in rd.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            let live = Digest::parse(&format!("sha256:{name}")).is_ok_and(|k| store.cache_has(&k));
            if live {
                kept += 1;
                continue;
            }
            freed += f.metadata().map_or(0, |m| m.len());
            fs::remove_file(f.path()).map_err(io_err("remove", &f.path()))?;
        }
        if kept == 0 {
            fs::remove_dir(&dir).map_err(io_err("remove", &dir))?;
        }
    }
    Ok(freed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::Component;

    fn inputs(n: u8) -> KeyInputs {
        KeyInputs {
            step: "[1/1] exec".into(),
            key: Digest::of(&[n]),
            components: vec![Component {
                name: "env:N".into(),
                value: n.to_string(),
                note: String::new(),
            }],
        }
    }

    #[test]
    fn records_are_bounded_newest_first_and_swept_with_their_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let records = Records::new(&store, &[Path::new("/ctx")]);
        for n in 0..(KEEP as u8 + 3) {
            records.save(&inputs(n)).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let loaded = records.load("[1/1] exec");
        assert_eq!(loaded.len(), KEEP);
        assert_eq!(loaded[0], inputs(KEEP as u8 + 2));
        let other = Records::new(&store, &[Path::new("/other")]);
        assert!(other.load("[1/1] exec").is_empty(), "scoped by context");

        store.cache_put(&inputs(KEEP as u8 + 2).key, &[]).unwrap();
        assert!(sweep_orphans(&store).unwrap() > 0);
        assert_eq!(records.load("[1/1] exec"), [inputs(KEEP as u8 + 2)]);
    }
}
