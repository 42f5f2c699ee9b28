//! The real [`Worker`]: sandboxed exec and file ops over the layer store,
//! images from the [`ImageProvider`], and the build context read in place.

use super::mounts;
use super::{scheduler::vertex_id, BoxFuture, SolveError, Value, Worker};
use crate::context::{selection_digest, HashCache};
use crate::progress::{LogStream, Progress};
use crate::sandbox::SandboxMount;
use crate::sandbox::{
    ExecTask, FileTask, HelperRequest, KillOnDrop, KillSwitch, OutputStream, Sandbox, SandboxError,
    SourceMount, Task,
};
use mybuild_cache::Store;
use mybuild_graph::{
    CopyAction, Digest, ExecMount, FileAction, KeyEncoder, MountKind, Node, NodeId, Op,
};
use mybuild_registry::remote_cache::{RemoteCache, RemoteCacheError};
use mybuild_registry::ImageProvider;
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

/// Moves a failed step's upper dir out of its work dir before the work dir
/// is deleted.
fn keep_upper(upper: &std::path::Path, keep: &std::path::Path) -> std::io::Result<()> {
    if let Some(parent) = keep.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::rename(upper, keep)
}

/// How many trailing output lines a failed RUN reports.
const TAIL_LINES: usize = 10;

pub struct BuildWorker {
    store: Arc<Store>,
    sandbox: Arc<Sandbox>,
    images: Arc<ImageProvider>,
    locals: BTreeMap<String, PathBuf>,
    progress: Progress,
    /// `--secret` values by id, for `RUN --mount=type=secret`.
    secrets: BTreeMap<String, Vec<u8>>,
    /// For `ADD <url>`; made on first use.
    http: std::sync::OnceLock<reqwest::Client>,
    /// Remembered file digests of each local directory, by its path.
    hashes: BTreeMap<PathBuf, Arc<HashCache>>,
    /// Records imported with `--cache-from`.
    remote: Option<Arc<RemoteCache>>,
    /// Where a failed RUN's upper dir is kept, as `<dir>/<vertex>`, so the
    /// legacy mode can keep the failed container's filesystem.
    keep_failed: Option<PathBuf>,
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
                let file = store.state_dir(super::CONTEXT_HASHES_DIR).join(name);
                (path.clone(), Arc::new(HashCache::open(file)))
            })
            .collect();
        BuildWorker {
            hashes,
            store,
            sandbox,
            images,
            locals,
            progress,
            secrets: BTreeMap::new(),
            http: std::sync::OnceLock::new(),
            remote: None,
            keep_failed: None,
        }
    }

    /// Keeps the filesystem of a RUN that exits non-zero in `dir/<vertex>`
    /// (`dir` must be on the store's filesystem).
    pub fn keep_failed_in(mut self, dir: PathBuf) -> Self {
        self.keep_failed = Some(dir);
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

    fn store_err(step: &str) -> impl Fn(mybuild_cache::StoreError) -> SolveError + '_ {
        move |source| SolveError::Store {
            step: step.to_string(),
            source,
        }
    }

    /// Overlay lower dirs for a chain, top-most first, relative to the snapshot root.
    ///
    /// A layer can occur more than once in a chain (two `RUN true` steps
    /// have the same empty diff), but overlayfs refuses a lower dir given
    /// twice (ELOOP). Only the top-most occurrence is kept: whatever a layer
    /// holds, whites out or makes opaque, its upper copy already decides, so
    /// a lower copy of the same layer can change nothing that is visible.
    fn lowers(&self, step: &str, chain: &[Digest]) -> Result<Vec<PathBuf>, SolveError> {
        let root = self.store.snapshots_root();
        let mut seen = std::collections::HashSet::new();
        chain
            .iter()
            .rev()
            .filter(|d| seen.insert(*d))
            .map(|d| {
                let dir = self.store.snapshot_dir(d).ok_or_else(|| SolveError::Step {
                    step: step.to_string(),
                    message: format!("layer {d} is missing from the store"),
                })?;
                Ok(dir
                    .strip_prefix(&root)
                    .map(|p| p.to_path_buf())
                    .unwrap_or(dir))
            })
            .collect()
    }

    fn rootfs<'v>(&self, node: &Node, inputs: &'v [Value]) -> Result<&'v [Digest], SolveError> {
        inputs
            .first()
            .and_then(Value::layers)
            .ok_or_else(|| SolveError::BadInput {
                step: node.name.clone(),
                input: 0,
            })
    }

    fn sources(&self, node: &Node, inputs: &[Value]) -> Result<Vec<SourceMount>, SolveError> {
        let mut sources = vec![SourceMount::None];
        for value in inputs.iter().skip(1) {
            sources.push(match value {
                Value::Local { path, exclude } => SourceMount::Dir {
                    path: path.clone(),
                    exclude: exclude.clone(),
                },
                Value::Layers(chain) => SourceMount::Layers {
                    lowers: self.lowers(&node.name, chain)?,
                },
            });
        }
        Ok(sources)
    }

    /// The sandbox's view of `RUN --mount`s; cache locks are held until
    /// the returned guard is dropped.
    async fn exec_mounts(
        &self,
        node: &Node,
        inputs: &[Value],
        mounts: &[ExecMount],
    ) -> Result<(Vec<SandboxMount>, mounts::Held), SolveError> {
        if mounts.is_empty() {
            return Ok((Vec::new(), mounts::Held::default()));
        }
        let sources = self.sources(node, inputs)?;
        let (step, mounts) = (node.name.clone(), mounts.to_vec());
        let (store, secrets) = (self.store.clone(), self.secrets.clone());
        let step2 = step.clone();
        tokio::task::spawn_blocking(move || {
            let source_of = |i: u32| {
                sources
                    .get(i as usize)
                    .cloned()
                    .ok_or(SolveError::BadInput {
                        step: step2.clone(),
                        input: i as usize,
                    })
            };
            mounts::resolve(&step2, &mounts, &store, &secrets, source_of)
        })
        .await
        .map_err(|e| SolveError::Join {
            step,
            message: e.to_string(),
        })?
    }

    async fn run_task(
        &self,
        id: NodeId,
        node: &Node,
        chain: &[Digest],
        task: Task,
    ) -> Result<Value, SolveError> {
        let step = node.name.clone();
        let command = match &task {
            Task::Exec(x) => x.args.join(" "),
            Task::File(_) => String::new(),
        };
        let lowers = self.lowers(&step, chain)?;
        let (store, sandbox, progress) = (
            self.store.clone(),
            self.sandbox.clone(),
            self.progress.clone(),
        );
        let vertex = vertex_id(id);
        let step2 = step.clone();
        let keep = self.keep_failed.as_ref().map(|d| d.join(&vertex));
        // Dropping this future (a failed branch, Ctrl-C) kills the step.
        let switch = KillSwitch::default();
        let guard = KillOnDrop::new(switch.clone());
        let diff = tokio::task::spawn_blocking(move || {
            let wd = store.work_dir().map_err(Self::store_err(&step2))?;
            let req = HelperRequest {
                snapshots_root: store.snapshots_root(),
                lowers,
                upper: wd.upper(),
                work: wd.work(),
                merged: wd.merged(),
                task,
            };
            let mut tail = Tail::default();
            let run = sandbox.run_killable(
                &req,
                &mut |stream, data| {
                    let stream = match stream {
                        OutputStream::Stdout => LogStream::Stdout,
                        OutputStream::Stderr => LogStream::Stderr,
                    };
                    progress.log(&vertex, stream, data);
                    tail.push(data);
                },
                &switch,
            );
            match run {
                Ok(()) => {}
                Err(SandboxError::Exited { code }) => {
                    if let Some(keep) = keep {
                        keep_upper(&wd.upper(), &keep).map_err(|e| SolveError::Step {
                            step: step2.clone(),
                            message: format!("keeping {}: {e}", keep.display()),
                        })?;
                    }
                    return Err(SolveError::ExecFailed {
                        step: step2,
                        command,
                        code,
                        tail: tail.lines(),
                    });
                }
                Err(e) => {
                    return Err(SolveError::Step {
                        step: step2,
                        message: e.to_string(),
                    })
                }
            }
            store
                .commit_upper(&wd.upper())
                .map_err(Self::store_err(&step2))
        })
        .await;
        guard.defuse();
        let diff = diff.map_err(|e| SolveError::Join {
            step: step.clone(),
            message: e.to_string(),
        })??;
        let mut layers = chain.to_vec();
        layers.push(diff);
        Ok(Value::Layers(layers))
    }

    async fn copy_content_key(
        &self,
        node: &Node,
        inputs: &[Value],
    ) -> Result<Option<Digest>, SolveError> {
        let mut enc = KeyEncoder::new();
        let mut reads_local = false;
        for c in &local_reads(&node.op) {
            let Some(Value::Local { path, exclude }) = inputs.get(c.source as usize) else {
                continue;
            };
            let (path, exclude, copy) = (path.clone(), exclude.clone(), c.clone());
            let hashes = self.hashes.get(&path).cloned();
            let step = node.name.clone();
            let digest = tokio::task::spawn_blocking(move || {
                let digest = selection_digest(&path, &exclude, &copy, hashes.as_deref());
                // Losing the cache file only costs a re-read next time.
                if let Some(h) = &hashes {
                    let _ = h.save();
                }
                digest
            })
            .await
            .map_err(|e| SolveError::Join {
                step: step.clone(),
                message: e.to_string(),
            })?
            .map_err(|source| SolveError::Context { step, source })?;
            enc.digest(&digest);
            reads_local = true;
        }
        Ok(reads_local.then(|| enc.finish()))
    }
}

impl Worker for BuildWorker {
    fn content_key<'a>(
        &'a self,
        _: NodeId,
        node: &'a Node,
        inputs: &'a [Value],
    ) -> BoxFuture<'a, Result<Option<Digest>, SolveError>> {
        Box::pin(self.copy_content_key(node, inputs))
    }

    fn cache_get(&self, key: &Digest) -> Result<Option<Value>, SolveError> {
        let chain = self
            .store
            .cache_get(key)
            .map_err(Self::store_err("cache lookup"))?;
        Ok(chain.map(Value::Layers))
    }

    fn cache_put(&self, key: &Digest, value: &Value) -> Result<(), SolveError> {
        match value {
            Value::Layers(chain) => self
                .store
                .cache_put(key, chain)
                .map_err(Self::store_err("cache record")),
            Value::Local { .. } => Ok(()),
        }
    }

    fn cache_import<'a>(
        &'a self,
        key: &'a Digest,
    ) -> BoxFuture<'a, Result<Option<Value>, SolveError>> {
        Box::pin(async move {
            let Some(remote) = &self.remote else {
                return Ok(None);
            };
            let err = |e: RemoteCacheError| SolveError::Step {
                step: format!("import cache record {key}"),
                message: e.to_string(),
            };
            let Some(chain) = remote.fetch(&self.store, key).await.map_err(err)? else {
                return Ok(None);
            };
            let (store, k, c) = (self.store.clone(), key.clone(), chain.clone());
            tokio::task::spawn_blocking(move || store.cache_put(&k, &c))
                .await
                .map_err(|e| SolveError::Join {
                    step: "cache record".into(),
                    message: e.to_string(),
                })?
                .map_err(Self::store_err("cache record"))?;
            Ok(Some(Value::Layers(chain)))
        })
    }

    fn source_present(&self, node: &Node) -> bool {
        match &node.op {
            Op::Image(img) => self.images.present(&img.reference, img.digest.as_ref()),
            _ => false,
        }
    }

    fn execute<'a>(
        &'a self,
        id: NodeId,
        node: &'a Node,
        inputs: &'a [Value],
    ) -> BoxFuture<'a, Result<Value, SolveError>> {
        Box::pin(async move {
            match &node.op {
                Op::Scratch => Ok(Value::Layers(vec![])),
                Op::Merge => {
                    let mut layers = Vec::new();
                    for (i, v) in inputs.iter().enumerate() {
                        let chain = v.layers().ok_or_else(|| SolveError::BadInput {
                            step: node.name.clone(),
                            input: i,
                        })?;
                        layers.extend(chain.iter().cloned());
                    }
                    Ok(Value::Layers(layers))
                }
                Op::Image(img) => {
                    let layers = self
                        .images
                        .layers(
                            &img.reference,
                            img.digest.as_ref(),
                            &self.progress,
                            &vertex_id(id),
                        )
                        .await
                        .map_err(|source| SolveError::Registry {
                            step: node.name.clone(),
                            source,
                        })?;
                    Ok(Value::Layers(layers))
                }
                Op::Http(h) => {
                    let client = self.http.get_or_init(|| {
                        // A server that stops answering fails the step
                        // instead of hanging the build.
                        reqwest::Client::builder()
                            .connect_timeout(std::time::Duration::from_secs(30))
                            .read_timeout(std::time::Duration::from_secs(120))
                            .build()
                            .unwrap_or_default()
                    });
                    let diff =
                        super::fetch::fetch(client, &self.store, h)
                            .await
                            .map_err(|source| SolveError::Fetch {
                                step: node.name.clone(),
                                source: Box::new(source),
                            })?;
                    Ok(Value::Layers(vec![diff]))
                }
                Op::Local(l) => {
                    let path = self.locals.get(&l.name).ok_or_else(|| SolveError::Step {
                        step: node.name.clone(),
                        message: format!("no local directory named {:?} was given", l.name),
                    })?;
                    Ok(Value::Local {
                        path: path.clone(),
                        exclude: l.exclude.clone(),
                    })
                }
                Op::Exec(x) => {
                    let chain = self.rootfs(node, inputs)?;
                    let (mounts, held) = self.exec_mounts(node, inputs, &x.mounts).await?;
                    let mut env = x.env.clone();
                    env.extend(held.env.iter().cloned());
                    let task = Task::Exec(ExecTask {
                        args: x.args.clone(),
                        env,
                        cwd: x.cwd.clone(),
                        user: x.user.clone(),
                        network: x.network,
                        hostname: "buildkitsandbox".into(),
                        mounts,
                    });
                    let result = self.run_task(id, node, chain, task).await;
                    drop(held);
                    result
                }
                Op::File(f) => {
                    let chain = self.rootfs(node, inputs)?;
                    let task = Task::File(FileTask {
                        actions: f.actions.clone(),
                        sources: self.sources(node, inputs)?,
                    });
                    self.run_task(id, node, chain, task).await
                }
            }
        })
    }
}

/// What an op reads from its inputs, as copy selections: COPY/ADD sources,
/// and for RUN each bind mount's whole source tree.
fn local_reads(op: &Op) -> Vec<CopyAction> {
    match op {
        Op::File(f) => f
            .actions
            .iter()
            .filter_map(|a| match a {
                FileAction::Copy(c) => Some(c.clone()),
                _ => None,
            })
            .collect(),
        Op::Exec(x) => x
            .mounts
            .iter()
            .filter_map(|m| match &m.kind {
                MountKind::Bind { input, source, .. } => Some(CopyAction {
                    source: *input,
                    src: vec![source.clone()],
                    dest: m.target.clone(),
                    owner: None,
                    mode: None,
                    extract_archives: false,
                    parents: false,
                    exclude: Vec::new(),
                }),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Keeps the last few complete lines of a step's output for error reports.
#[derive(Default)]
struct Tail {
    lines: VecDeque<String>,
    partial: String,
}

impl Tail {
    fn push(&mut self, data: &[u8]) {
        self.partial.push_str(&String::from_utf8_lossy(data));
        while let Some(pos) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=pos).collect();
            self.lines
                .push_back(line.trim_end_matches('\n').to_string());
            if self.lines.len() > TAIL_LINES {
                self.lines.pop_front();
            }
        }
    }

    fn lines(mut self) -> Vec<String> {
        if !self.partial.is_empty() {
            self.lines.push_back(std::mem::take(&mut self.partial));
            if self.lines.len() > TAIL_LINES {
                self.lines.pop_front();
            }
        }
        self.lines.into()
    }
}
