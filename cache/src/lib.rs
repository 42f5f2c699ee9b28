//! mybuild's content-addressed store: blobs, layer snapshots, the build
//! cache index and named images, all under one root directory.
//!
//! ```text
//! <root>/v1/                       versioned bucket: a new layout gets v2/, never a migration
//!   blobs/sha256/<hex>             immutable blobs: uncompressed layer tars, compressed layers,
//!                                  configs, manifests. A file here is never partial.
//!   ingest/                        blobs being written (hashed while written, renamed when done)
//!   snapshots/<16 hex>/            unpacked layers in overlayfs format, used as lower dirs;
//!                                  short names keep overlay's mount option string short
//!   layers/<hex>.json              layer record: diff_id, uncompressed size, snapshot name,
//!                                  known compressed blobs [{digest, media_type, size}],
//!                                  boot_id and synced (durability, below), and for imported
//!                                  layers `packed` {digest, size}: what the snapshot packs to,
//!                                  and `checksum` of the record's other fields
//!   cache/<key hex>                cache index: cache key -> chain of layer diff_ids, a line each
//!                                  under a checksummed header (`index.rs`; older JSON ones still read)
//!   sources/<hex>                  registry repositories known to hold a blob (for mounts)
//!   images.json                    normalised image name -> config digest (image id)
//!   platform-images.json           name -> OCI architecture -> image id, for platforms other
//!                                  than the host's (`--platform`); images.json keeps the host's
//!   intermediates.json             untagged images -> their parent image: legacy-mode
//!                                  intermediates, and images whose last name moved (no parent)
//!   repo-digests.json              image id -> `registry/repo@digest`s pushes made of it
//!   containers/<id>/               kept legacy-mode containers: container.json, and upper/
//!                                  (the filesystem) when a failed RUN left no layer
//!   cache-mounts/<hash of id>/    RUN --mount=type=cache directories (the solver's)
//!   context-hashes/<hex>           per-context file hash caches (the solver's)
//!   copy-relink/<hex>[.<n>.journal] per COPY step: the manifest (last layer, tar hash states)
//!                                  and the journal it names of what the copy placed, so an
//!                                  edit relinks the last snapshot (the solver's; `prune -a`)
//!   key-inputs/<hex>/<key hex>     per step: what went into each executed key, for
//!                                  `--explain-cache` (the solver's; pruned with the entries)
//!   tmp/                           sandbox work dirs and unpacks in progress (same filesystem
//!                                  as snapshots/, so finished dirs are renamed into place)
//!   metadata.lock                  flock serialising updates of images.json and layer records
//!   store.lock                     shared flock of every open store; exclusive to sweep
//!                                  leftovers of dead processes and to prune
//! ```
//!
//! Every write is crash-safe: content goes to a temp name, is fsynced, then
//! renamed; the record of an unsynced snapshot and cache entries skip the
//! fsyncs and carry a checksum instead, so a torn one reads as absent
//! (`sealed.rs`). A layer record is written only after its snapshot is
//! complete, so the record is what makes a layer exist
//! ([`Store::snapshot_dir`]).
//!
//! Durability: snapshots are not flushed when installed (no `syncfs`, which
//! waits for the whole filesystem). The record names the boot that wrote
//! the snapshot; that boot trusts it (a crashed process loses no page
//! cache). Another boot verifies an unsynced snapshot before its first use,
//! in [`Store::snapshot_dir`], which every reader goes through: it packs the
//! snapshot again and compares the digest with the record, then fsyncs it
//! and marks it synced, or drops record and directory so the step runs
//! again. Records without a boot id (older versions synced) are trusted.
//! All operations are blocking; async callers use `spawn_blocking`.

mod blobs;
mod compression;
mod containers;
mod error;
pub mod export;
mod fsutil;
mod gc;
mod images;
pub mod import;
mod index;
mod layers;
pub mod oci;
mod open;
mod platform_images;
mod sealed;
mod sources;
mod store;
mod sweep;
pub mod tarlimit;
mod userns;
mod workdir;

pub use blobs::{HashingReader, Ingest};
pub use compression::LayerCompression;
pub use containers::{ContainerRecord, ContainerState};
pub use error::StoreError;
pub use fsutil::FileLock;
pub use gc::{PruneOptions, PruneReport, Tally, Usage};
pub use images::{familiar, ImageEntry};
pub use index::CacheEntry;
pub use layers::pack::PackError;
pub use layers::unpack::UnpackError;
pub use layers::xattr::{opaque_xattr, overlay_xattr_prefix};
pub use layers::{
    clamp_mtimes, link_tree, walk_order, CompressedBlob, LayerRecord, Mark, Marks, Packed,
};
pub use platform_images::PlatformTags;
pub use store::Store;
pub use userns::in_user_namespace;
pub use workdir::WorkDir;
