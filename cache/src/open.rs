//! Opening a store: create its layout, take the shared lock every open
//! store holds, and sweep what dead processes left if no one else has it
//! open ([`crate::sweep`]).

use crate::error::StoreError;
use crate::layers::current_boot_id;
use crate::store::{lock_path, Store};
use crate::sweep::{join, open_lock};
use std::path::Path;

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        Store::open_in_boot(root, current_boot_id())
    }

    /// [`Store::open`] as if the kernel's boot id were `boot_id`: how the
    /// tests simulate a reboot. Test builds only, so no production caller
    /// can make a store trust another boot's unsynced snapshots.
    #[cfg(test)]
    pub(crate) fn open_as_boot(root: &Path, boot_id: &str) -> Result<Store, StoreError> {
        Store::open_in_boot(root, Some(boot_id.to_string()))
    }

    fn open_in_boot(root: &Path, boot_id: Option<String>) -> Result<Store, StoreError> {
        let root = Store::create_layout(root)?;
        let lock_path = lock_path(&root.join("v1"));
        let lock = open_lock(&lock_path)?;
        let store = Store::with_lock(root, lock, boot_id);
        join(&store, store.lock_file(), &lock_path)?;
        Ok(store)
    }
}
