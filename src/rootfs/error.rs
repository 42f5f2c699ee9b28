//! [`RootfsError`]: what failed while merging a layer chain or writing
//! its filesystem out, naming the layer, path or tar entry.

use mybuild_graph::Digest;
use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("layer {diff_id} has no snapshot in the store")]
    MissingSnapshot { diff_id: Digest },
    #[error("read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("write tar entry {entry}: {source}")]
    TarEntry { entry: String, source: io::Error },
    #[error("write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}
