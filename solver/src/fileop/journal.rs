//! A record of what a COPY placed where: for every entry it wrote, the
//! source path, the destination path inside the root and the source's
//! `lstat` as seen just before it was read. A later build of the same step
//! compares the context with it to find the few files that changed, and
//! hard-links the rest from the earlier snapshot (`solve::ops::relink`).
//!
//! Only what a plain copy does is recorded; anything the record could not
//! describe exactly (an archive unpacked, a hard link inside the context)
//! marks it incomplete, and an incomplete journal is never used.

use super::select::{Entry, Match};
use super::stat::Stat;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// The source metadata a placed entry was made from: what must be equal
/// for the placed entry to be reused.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceMeta {
    pub ino: u64,
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl SourceMeta {
    pub(crate) fn of(st: &Stat) -> SourceMeta {
        SourceMeta {
            ino: st.st_ino,
            size: st.st_size as u64,
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
            rdev: st.st_rdev,
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
        }
    }

    /// Whether the source changed within `slack` seconds of `since` (or
    /// later): a second change in the same timestamp tick would look equal.
    pub fn racy(&self, since: i64, slack: i64) -> bool {
        self.mtime.0 >= since - slack || self.ctime.0 >= since - slack
    }

    pub fn kind(&self) -> u32 {
        self.mode & libc::S_IFMT
    }
}

/// One entry a copy action placed.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// Index of the action in the op.
    pub action: u32,
    /// Path inside the source root.
    pub src: String,
    /// Path inside the destination root (no leading `/`).
    pub dest: String,
    pub meta: SourceMeta,
    pub link_target: Option<String>,
    /// The source may have changed while it was copied: never reused.
    #[serde(default)]
    pub racy: bool,
}

/// Everything the actions of one file op placed, in order.
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
pub struct Journal {
    pub placed: Vec<Placed>,
    /// Something was done that [`Placed`] cannot describe.
    pub incomplete: bool,
}

/// Seconds before a copy starts in which a source change makes its entry
/// unusable by the next build (timestamp granularity, clock steps).
pub const RACY_SECS: i64 = 2;

/// Writes a [`Journal`] while actions run (behind the shared `&` the copy
/// code passes around), entry by entry, in [`Journal`]'s JSON form: a big
/// context's journal is never held in memory, here or by the reader that
/// keeps it for the next build.
pub(crate) struct Recorder {
    /// `None` once a write failed: the journal is then not finished.
    out: RefCell<Option<BufWriter<File>>>,
    first: Cell<bool>,
    incomplete: Cell<bool>,
    action: Cell<u32>,
    /// When the copy began, for [`Placed::racy`].
    since: i64,
}

impl Recorder {
    /// Starts the journal at `path` (created, or truncated).
    pub(crate) fn create(path: &Path, since: i64) -> std::io::Result<Recorder> {
        let mut out = BufWriter::with_capacity(1 << 16, File::create(path)?);
        out.write_all(b"{\"placed\":[")?;
        Ok(Recorder {
            out: RefCell::new(Some(out)),
            first: Cell::new(true),
            incomplete: Cell::new(false),
            action: Cell::new(0),
            since,
        })
    }

    pub(crate) fn start_action(&self, index: usize) {
        self.action.set(u32::try_from(index).unwrap_or(u32::MAX));
    }

    /// Records `entry` of `m` as placed at `dest`. Names that are not
    /// UTF-8 (kept as JSON text) make the journal incomplete.
    pub(crate) fn placed(&self, m: &Match, entry: &Entry, dest: &Path) {
        match (placed(self.action.get(), m, entry), dest.to_str()) {
            (Some(mut p), Some(dest)) => {
                p.dest = dest.to_string();
                p.racy = p.meta.racy(self.since, RACY_SECS);
                self.write(&p);
            }
            _ => self.incomplete(),
        }
    }

    fn write(&self, p: &Placed) {
        let mut out = self.out.borrow_mut();
        let Some(w) = out.as_mut() else {
            return;
        };
        let comma = if self.first.replace(false) {
            &b""[..]
        } else {
            b","
        };
        let written = w
            .write_all(comma)
            .and_then(|()| serde_json::to_writer(&mut *w, p).map_err(std::io::Error::other));
        if written.is_err() {
            *out = None;
        }
    }

    pub(crate) fn incomplete(&self) {
        self.incomplete.set(true);
    }

    /// Ends the journal and flushes it.
    pub(crate) fn finish(self) -> std::io::Result<()> {
        let Some(mut out) = self.out.into_inner() else {
            return Err(std::io::Error::other("journal write failed"));
        };
        let tail = format!("],\"incomplete\":{}}}", self.incomplete.get());
        out.write_all(tail.as_bytes())?;
        out.flush()
    }
}

/// An entry as a journal records it, its destination left empty; `None`
/// for names that are not UTF-8.
fn placed(action: u32, m: &Match, entry: &Entry) -> Option<Placed> {
    let link_target = match &entry.link_target {
        Some(t) => Some(t.to_str()?.to_string()),
        None => None,
    };
    Some(Placed {
        action,
        src: m.path_of(entry).to_str()?.to_string(),
        dest: String::new(),
        meta: SourceMeta::of(&entry.stat),
        link_target,
        racy: false,
    })
}

/// What a fresh copy of `matches` would record, destinations left empty,
/// with each entry's (match, entry) index: the entries
/// [`Recorder::placed`] sees. `None` if a name is not UTF-8.
pub(crate) fn expected(action: u32, matches: &[Match]) -> Option<Vec<(Placed, (usize, usize))>> {
    let mut out = Vec::new();
    for (mi, m) in matches.iter().enumerate() {
        // A directory match copies its contents; its own metadata is left alone.
        let skip = usize::from(m.top().is_dir());
        for (ei, entry) in m.entries.iter().enumerate().skip(skip) {
            out.push((placed(action, m, entry)?, (mi, ei)));
        }
    }
    Some(out)
}
