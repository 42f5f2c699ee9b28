//! Why an archive (ADD's, or a context tarball) could not be unpacked,
//! naming the archive (with its use: `ADD path`, `build context -`) and entry.

use std::io;

/// An archive recognised but not unpacked.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{archive}: {format} archives are not supported by this build")]
    Unsupported {
        archive: String,
        format: &'static str,
    },
    #[error("{archive}: read: {source}")]
    Read { archive: String, source: io::Error },
    #[error("{archive}: entry {entry:?} points outside the destination")]
    Escape { archive: String, entry: String },
    #[error("{archive}: hard link {entry:?} targets missing {target:?}")]
    MissingLinkTarget {
        archive: String,
        entry: String,
        target: String,
    },
    #[error("{archive}: extract {entry:?}: {source}")]
    Entry {
        archive: String,
        entry: String,
        source: io::Error,
    },
}
