//! A layer's diff_id without re-hashing what did not change: SHA-256 is a
//! chain over 64-byte blocks, and every tar entry starts on a 512-byte
//! boundary, so the hash state at an entry's start (a "mark") is just eight
//! words and a length. Packing records marks about every MiB (`marks`); a later snapshot whose entries up to some mark are the very same
//! (a relinked COPY, whose first changed path is known) restores the state
//! at the last mark before that path and packs only from there on.
//!
//! Packing skips the entries before the mark without opening them, so it
//! cannot see a hard link into them: resuming is allowed only when the
//! marked tar had no hard-link entry at all.

use super::marks::{Mark, MarkingSink, Marks};
use super::pack::{self, PackError};
use crate::error::StoreError;
use crate::store::Store;
use mybuild_graph::Digest;
use std::cmp::Ordering;
use std::path::Path;

/// Orders tree paths as packing walks them: component by component,
/// bytewise, a directory before what it holds.
pub fn walk_order(a: &[u8], b: &[u8]) -> Ordering {
    a.split(|&c| c == b'/').cmp(b.split(|&c| c == b'/'))
}

/// The last mark strictly before `first_changed` in walk order (the last
/// of all when nothing changed), if `old` may be resumed at all.
fn resume_point<'m>(old: &'m Marks, first_changed: Option<&[u8]>) -> Option<&'m Mark> {
    if old.links {
        return None;
    }
    old.marks
        .iter()
        .rev()
        .find(|m| first_changed.is_none_or(|first| walk_order(&m.path, first) == Ordering::Less))
}

impl Store {
    /// [`Store::commit_upper`], keeping marks of the tar; with `resume`
    /// (the marks of a snapshot equal to `upper` in every entry before the
    /// given path, or in all of them), packing starts at the last usable mark.
    pub fn commit_upper_marked(
        &self,
        upper: &Path,
        resume: Option<(&Marks, Option<&[u8]>)>,
    ) -> Result<(Digest, Marks), StoreError> {
        let from = resume.and_then(|(old, first)| resume_point(old, first));
        let pack_err = |source: PackError| StoreError::Pack {
            upper: upper.into(),
            source,
        };
        let (sink, links) =
            pack::write_layer_marked(upper, MarkingSink::new(from), from).map_err(pack_err)?;
        let marks = sink.marks.clone();
        let (diff_id, size) = sink.finish();
        self.install_snapshot(upper, &diff_id, size, Vec::new(), true)?;
        Ok((diff_id, Marks { marks, links }))
    }
}

#[cfg(test)]
#[path = "midstate_tests.rs"]
mod tests;
