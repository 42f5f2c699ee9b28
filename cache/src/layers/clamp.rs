//! `SOURCE_DATE_EPOCH` for layers: file times later than the epoch are set
//! to it in the upper dir itself, before it is packed and becomes a
//! snapshot. The snapshot, the tar packed from it now and any tar packed
//! from it again later then agree, so the diff_id always names these bytes.

use crate::error::{io_err, StoreError};
use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Sets the mtime of every entry under `dir` (not `dir` itself, which is
/// no entry of the layer) that is later than `epoch` to `epoch`. Symlinks
/// and whiteouts are set themselves, never followed. Earlier times stay:
/// like BuildKit's `rewrite-timestamp`, this clamps rather than overwrites.
pub fn clamp_mtimes(dir: &Path, epoch: u64) -> Result<(), StoreError> {
    let limit = i64::try_from(epoch).unwrap_or(i64::MAX);
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).map_err(io_err("read", &dir))? {
            let path = entry.map_err(io_err("read", &dir))?.path();
            let meta = fs::symlink_metadata(&path).map_err(io_err("stat", &path))?;
            if meta.is_dir() {
                pending.push(path.clone());
            }
            // Sub-second parts count: a tar keeps whole seconds, but the
            // snapshot should not be later than the epoch either.
            if meta.mtime() > limit || (meta.mtime() == limit && meta.mtime_nsec() > 0) {
                set_mtime(&path, limit)?;
            }
        }
    }
    Ok(())
}

/// Sets `path`'s mtime (not following a symlink), leaving its atime alone:
/// layer tars carry only the mtime.
fn set_mtime(path: &Path, secs: i64) -> Result<(), StoreError> {
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &TimeSpec::UTIME_OMIT,
        &TimeSpec::new(secs, 0),
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| io_err("set the mtime of", path)(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mtime(path: &Path) -> (i64, i64) {
        let m = fs::symlink_metadata(path).unwrap();
        (m.mtime(), m.mtime_nsec())
    }

    #[test]
    fn later_times_are_clamped_earlier_ones_kept_links_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("d/e")).unwrap();
        fs::write(root.join("d/e/new"), b"n").unwrap();
        fs::write(root.join("old"), b"o").unwrap();
        set_mtime(&root.join("old"), 100).unwrap();
        symlink("old", root.join("link")).unwrap();
        let root_before = mtime(root);

        clamp_mtimes(root, 1000).unwrap();
        for p in ["d", "d/e", "d/e/new", "link"] {
            assert_eq!(mtime(&root.join(p)), (1000, 0), "{p}");
        }
        // Not followed through the link, and not raised.
        assert_eq!(mtime(&root.join("old")), (100, 0));
        // The upper dir itself is no layer entry.
        assert_eq!(mtime(root), root_before);

        let tar = |dir: &Path| super::super::pack::write_layer(dir, Vec::new()).unwrap();
        let packed = tar(root);
        let mut a = tar::Archive::new(&packed[..]);
        for e in a.entries().unwrap() {
            assert!(e.unwrap().header().mtime().unwrap() <= 1000);
        }
        // Packing again gives the bytes the diff_id was taken from.
        assert_eq!(packed, tar(root));
    }

    #[test]
    fn a_missing_dir_names_its_path() {
        let e = clamp_mtimes(Path::new("/nonexistent-clamp-dir"), 1).unwrap_err();
        assert!(e.to_string().contains("/nonexistent-clamp-dir"), "{e}");
    }
}
