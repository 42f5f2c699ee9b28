//! Opening a store: create its layout, take the shared lock every open
//! store holds, and sweep what dead processes left if no one else has it
//! open ([`crate::sweep`]).

use crate::error::StoreError;
use crate::store::{lock_path, Store};
use crate::sweep::{join, open_lock};
use std::path::Path;

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let root = Store::create_layout(root)?;
        let lock_path = lock_path(&root.join("v1"));
        let lock = open_lock(&lock_path)?;
        let store = Store::with_lock(root, lock);
        join(&store, store.lock_file(), &lock_path)?;
        Ok(store)
    }
}
