//! Why ADD could not unpack an archive, naming the archive and entry.

use std::io;

/// An archive ADD recognised but could not unpack.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("ADD {archive}: {format} archives are not supported by this build")]
    Unsupported {
        archive: String,
        format: &'static str,
    },
    #[error("ADD {archive}: read: {source}")]
    Read { archive: String, source: io::Error },
    #[error("ADD {archive}: entry {entry:?} points outside the destination")]
    Escape { archive: String, entry: String },
    #[error("ADD {archive}: hard link {entry:?} targets missing {target:?}")]
    MissingLinkTarget {
        archive: String,
        entry: String,
        target: String,
    },
    #[error("ADD {archive}: extract {entry:?}: {source}")]
    Entry {
        archive: String,
        entry: String,
        source: io::Error,
    },
}
