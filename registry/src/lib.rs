//! The OCI distribution client and the image provider behind `FROM`.
//!
//! [`Reference`] parses and normalises image names; [`RegistryClient`]
//! resolves a reference to a verified manifest and config and pulls layers
//! into the store, and pushes images ([`PushEvent`]); [`ImageProvider`] decides between the local store and a
//! registry and remembers its answers for the length of a build.

mod auth;
mod base64;
mod client;
mod credentials;
mod error;
mod manifest;
mod progress;
mod provider;
mod pull;
mod push;
mod reference;
pub mod remote_cache;
mod upload;

#[cfg(test)]
mod test_gate;
#[cfg(test)]
mod test_registry;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_auth;

pub use auth::AuthError;
pub use client::RegistryClient;
pub use credentials::CredentialsError;
pub use error::RegistryError;
pub use manifest::{LayerDesc, ResolvedImage};
pub use progress::{ByteProgress, NoProgress};
pub use provider::{ImageProvider, ProvidedImage};
pub(crate) use pull::unpack_stored;
pub use push::{OnPush, PushEvent};
pub use reference::{Reference, ReferenceError, DOCKER_HUB};
