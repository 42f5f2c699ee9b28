//! [`BuildWorker`], the real [`super::Worker`]: what it holds (the layer
//! store, the sandbox, the image provider, the build's locals and secrets)
//! and how a build sets it up. Its ops live in `ops`, its cache access in
//! `cache` and `content`, and `worker` wires them to the trait.

use super::types::CONTEXT_HASHES_DIR;
use crate::context::HashCache;
use crate::explain::Records;
use crate::progress::Progress;
use crate::sandbox::{HelperRequest, Sandbox};
use mybuild_cache::Store;
use mybuild_graph::Digest;
use mybuild_registry::remote_cache::RemoteCache;
use mybuild_registry::ImageProvider;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

pub struct BuildWorker {
    pub(super) store: Arc<Store>,
    pub(super) sandbox: Arc<Sandbox>,
    pub(super) images: Arc<ImageProvider>,
    pub(super) locals: BTreeMap<String, PathBuf>,
    pub(super) progress: Progress,
    /// `--secret` values by id, for `RUN --mount=type=secret`.
    pub(super) secrets: BTreeMap<String, Vec<u8>>,
    /// The ssh agents' sockets `RUN --mount=type=ssh` forwards to, by id.
    pub(super) ssh_agents: BTreeMap<String, PathBuf>,
    /// For `ADD <url>`; made on first use.
    pub(super) http: OnceLock<reqwest::Client>,
    /// Remembered file digests of each local directory, by its path.
    pub(super) hashes: BTreeMap<PathBuf, Arc<HashCache>>,
    /// Records imported with `--cache-from`.
    pub(super) remote: Option<Arc<RemoteCache>>,
    /// Where a failed RUN's upper dir is kept, as `<dir>/<vertex>`, so the
    /// legacy mode can keep the failed container's filesystem.
    pub(super) keep_failed: Option<PathBuf>,
    /// What went into each executed step's key (`--explain-cache`).
    pub(super) records: Records,
    /// `--on-error=shell`: opened on a RUN that exits non-zero.
    pub(super) debug_shell: Option<Arc<dyn DebugShell>>,
}

/// Opens an interactive shell in a failed RUN's filesystem, environment
/// and mounts (`--on-error=shell`). Called on the step's blocking thread
/// while the step's upper dir, work dir and mounts still exist; returns
/// when the shell exits. `req` is the step's own request with a `Tty`
/// console and no command: the shell picks it.
pub trait DebugShell: Send + Sync {
    fn open(&self, sandbox: &Sandbox, req: HelperRequest, step: &str);
}

impl BuildWorker {
    /// `locals` maps a [`mybuild_graph::LocalSource`] name to a host directory.
    pub fn new(
        store: Arc<Store>,
        sandbox: Arc<Sandbox>,
        images: Arc<ImageProvider>,
        locals: BTreeMap<String, PathBuf>,
        progress: Progress,
    ) -> Self {
        let hashes = locals
            .values()
            .map(|path| {
                let name = Digest::of(path.as_os_str().as_encoded_bytes()).hex()[..24].to_string();
                let file = store.state_dir(CONTEXT_HASHES_DIR).join(name);
                (path.clone(), Arc::new(HashCache::open(file)))
            })
            .collect();
        let scope: Vec<&std::path::Path> = locals.values().map(PathBuf::as_path).collect();
        let records = Records::new(&store, &scope);
        BuildWorker {
            records,
            hashes,
            store,
            sandbox,
            images,
            locals,
            progress,
            secrets: BTreeMap::new(),
            ssh_agents: BTreeMap::new(),
            http: OnceLock::new(),
            remote: None,
            keep_failed: None,
            debug_shell: None,
        }
    }

    /// Keeps the filesystem of a RUN that exits non-zero in `dir/<vertex>`
    /// (`dir` must be on the store's filesystem).
    pub fn keep_failed_in(mut self, dir: PathBuf) -> Self {
        self.keep_failed = Some(dir);
        self
    }

    /// Opens `shell` when a RUN exits non-zero, before its files go.
    pub fn with_debug_shell(mut self, shell: Arc<dyn DebugShell>) -> Self {
        self.debug_shell = Some(shell);
        self
    }

    /// Consults `remote` on a local cache miss.
    pub fn with_remote_cache(mut self, remote: Arc<RemoteCache>) -> Self {
        self.remote = Some(remote);
        self
    }

    /// The secrets `RUN --mount=type=secret` may read, by id.
    pub fn with_secrets(mut self, secrets: BTreeMap<String, Vec<u8>>) -> Self {
        self.secrets = secrets;
        self
    }

    /// The agent sockets `RUN --mount=type=ssh` forwards to, by id
    /// (`--ssh`); the caller keeps them serving until the build ends.
    pub fn with_ssh_agents(mut self, agents: BTreeMap<String, PathBuf>) -> Self {
        self.ssh_agents = agents;
        self
    }
}
