//! mybuild's OCI distribution client: everything that talks to a registry.
//!
//! [`Reference`] parses and normalises image names; [`RegistryClient`]
//! resolves a reference to a verified manifest and config, pulls layers
//! into the store, and pushes images ([`PushEvent`]); [`ImageProvider`]
//! decides between the local store and a registry for `FROM` and remembers
//! its answers for the length of a build. [`remote_cache`] is the build
//! cache shared between machines (`--cache-to` / `--cache-from`), exported
//! as an OCI image to a registry or a local directory. Credentials come
//! from the Docker CLI config and its credential helpers; [`store_login`]
//! and [`erase_login`] are `mybuild login` / `logout`.
//!
//! What it is not: not the store (blobs, layers and image records live in
//! `mybuild-cache`, read and written through [`mybuild_cache::Store`]), not
//! the solver (it knows nothing of graphs or of how a build runs; cache keys
//! are opaque [`Digest`](mybuild_graph::Digest)s to it), and not a renderer:
//! a pull's bytes go to whatever implements [`ByteProgress`] (the solver's
//! `Progress` does), a push's events to an [`OnPush`] callback. It depends
//! on `mybuild-graph` and `mybuild-cache`, never on `mybuild-solver`; the
//! solver and the CLI depend on it.

mod auth;
mod base64;
mod client;
mod credentials;
mod error;
mod helper;
mod login;
mod manifest;
mod progress;
mod provider;
mod pull;
mod push;
mod reference;
pub mod remote_cache;
mod retry;
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
pub use credentials::{default_config_path, server_url, CredentialsError};
pub use error::RegistryError;
pub use helper::HelperError;
pub use login::{erase_login, login_registry, store_login, Erased, LoginError, Stored};
pub use manifest::{LayerDesc, ResolvedImage};
pub use progress::{ByteProgress, NoProgress};
pub use provider::{ImageProvider, ProvidedImage};
pub(crate) use pull::unpack_stored;
pub use push::{OnPush, PushEvent};
pub use reference::{Reference, ReferenceError, DOCKER_HUB};
