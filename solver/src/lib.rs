//! The solver: executes a [`mybuild_graph::Graph`] and never sees a Dockerfile.
//!
//! Main types: `Solver` (schedules nodes in parallel and consults the cache),
//! `Executor` (the narrow trait that runs one op, with the sandbox behind it),
//! `sandbox` (the re-exec'd helper process that builds namespaces and overlay
//! mounts), `fileop` (COPY/ADD/mkdir semantics inside a rootfs), `context`
//! (build-context selection and content hashing) and `registry` (the OCI
//! distribution client and the image provider for `FROM`).

pub mod context;
pub mod fileop;
pub mod registry;
pub mod sandbox;
