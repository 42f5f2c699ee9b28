//! Opening the local store, shared by every command that reads or writes it.

use anyhow::Context as _;
use mybuild_cache::Store;
use std::path::Path;

/// Opens the store for a command, naming it in the error.
pub(crate) fn open_store(root: &Path) -> anyhow::Result<Store> {
    Store::open(root).with_context(|| format!("opening store {}", root.display()))
}
