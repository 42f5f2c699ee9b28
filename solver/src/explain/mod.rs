//! The cache-miss explainer (`--explain-cache`). A cache key is a digest
//! and can't be diffed, so every executed step also leaves a small record
//! of the components that went into its key ([`KeyInputs`]); a later miss
//! of the same step diffs its own components against the closest earlier
//! record and says which input changed ([`MissReason`]).

mod describe;
mod diff;
mod inputs;
mod record;
mod records;

pub use describe::{part_name, summary};
pub use diff::{closest, MissReason};
pub use inputs::{key_inputs, ContentKey, FileInput, Selection};
pub use records::{sweep_orphans, Records, KEY_INPUTS_DIR};

/// One named component of a key. `name` and `value` are what is compared;
/// `note` only helps say what changed (a parent step's name, an image's
/// reference) and is never compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub name: String,
    pub value: String,
    pub note: String,
}

/// What went into one step's cache key, in a stable order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInputs {
    /// Which step this is across builds: its stage and position, as
    /// progress numbers it (`[build 2/4]`), and its op kind.
    pub step: String,
    pub key: mybuild_graph::Digest,
    pub components: Vec<Component>,
}
