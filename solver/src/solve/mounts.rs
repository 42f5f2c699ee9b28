//! `RUN --mount` on the caller's side: graph mounts turned into what the
//! sandbox helper mounts. Cache mounts live in the store under
//! `v1/cache-mounts/<hash of id>` and are locked per their sharing mode for as
//! long as the step runs; secrets come from the build's `--secret`s, ssh
//! agents from its `--ssh`es, each behind a socket of the step's own.

use super::error::SolveError;
use super::ssh_proxy::{AgentProxy, SOCKET_NAME};
use super::types::CACHE_MOUNTS_DIR;
use crate::fileop::{self, FileOpError, SourceRoot};
use crate::sandbox::{SandboxMount, SourceMount};
use mybuild_cache::{FileLock, Store, StoreError, WorkDir};
use mybuild_graph::{CacheSharing, CopyAction, Digest, ExecMount, FileAction, MountKind};
use std::collections::BTreeMap;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Cache locks, filtered context views and ssh agent sockets, held until
/// the step is done, and the `KEY=value` entries of secrets given as
/// environment variables.
#[derive(Default)]
pub(super) struct Held {
    locks: Vec<FileLock>,
    views: Vec<WorkDir>,
    agents: Vec<AgentProxy>,
    pub env: Vec<String>,
}

/// What the build was given for its steps to mount: `--secret`s and the
/// sockets of `--ssh` agents, by id.
#[derive(Clone, Copy)]
pub(super) struct Given<'a> {
    pub secrets: &'a BTreeMap<String, Vec<u8>>,
    pub agents: &'a BTreeMap<String, PathBuf>,
}

/// Resolves every mount; `source_of(i)` is the sandbox view of input `i`.
/// Blocking: cache locks may wait for another step.
pub(super) fn resolve(
    step: &str,
    mounts: &[ExecMount],
    store: &Store,
    given: Given<'_>,
    source_of: impl Fn(u32) -> Result<SourceMount, SolveError>,
) -> Result<(Vec<SandboxMount>, Held), SolveError> {
    let cache_root = store.state_dir(CACHE_MOUNTS_DIR);
    let mut out = Vec::new();
    let mut held = Held::default();
    for m in mounts {
        let target = m.target.clone();
        let mount = match &m.kind {
            MountKind::Bind {
                input,
                source,
                readwrite,
            } => Some(SandboxMount::Bind {
                source: bind_view(step, store, &target, source_of(*input)?, source, &mut held)?,
                target,
                sub: source.clone(),
                readwrite: *readwrite,
            }),
            MountKind::Cache {
                id,
                sharing,
                readonly,
                mode,
                uid,
                gid,
            } => {
                let (host, lock) = cache_dir(&cache_root, id, *sharing, *mode, (*uid, *gid))
                    .map_err(|source| SolveError::CacheMount {
                        step: step.to_string(),
                        id: id.clone(),
                        source,
                    })?;
                held.locks.extend(lock);
                Some(SandboxMount::Cache {
                    target,
                    host,
                    readonly: *readonly,
                })
            }
            MountKind::Tmpfs { size } => Some(SandboxMount::Tmpfs {
                target,
                size: *size,
            }),
            MountKind::Secret {
                id,
                required,
                mode,
                uid,
                gid,
                env,
            } => {
                let file = Owned {
                    mode: *mode,
                    uid: *uid,
                    gid: *gid,
                };
                let want = (id.as_str(), *required, env.as_deref());
                secret(step, &target, want, file, given.secrets, &mut held)?
            }
            MountKind::Ssh {
                id,
                required,
                mode,
                uid,
                gid,
            } => {
                let socket = Owned {
                    mode: *mode,
                    uid: *uid,
                    gid: *gid,
                };
                let agent = (id.as_str(), *required);
                ssh(step, &target, agent, socket, given.agents, &mut held)?
            }
        };
        out.extend(mount);
    }
    Ok((out, held))
}

/// What a bind mount shows of its input: the input itself, or for a build
/// context with ignore rules a filtered copy (kept alive in `held`).
fn bind_view(
    step: &str,
    store: &Store,
    target: &str,
    input: SourceMount,
    sub: &str,
    held: &mut Held,
) -> Result<SourceMount, SolveError> {
    match input {
        SourceMount::Dir { path, exclude } if !exclude.is_empty() => {
            let wd = context_view(store, &path, &exclude, sub).map_err(|e| e.at(step, target))?;
            let dir = wd.upper();
            held.views.push(wd);
            Ok(SourceMount::Dir {
                path: dir,
                exclude: Vec::new(),
            })
        }
        other => Ok(other),
    }
}

/// The mode and owner a mount's file or socket is made with.
struct Owned {
    mode: u32,
    uid: u32,
    gid: u32,
}

/// A secret mount at `target`: a file in the sandbox and/or an environment
/// entry (kept in `held`). A missing optional secret mounts nothing, as
/// BuildKit.
fn secret(
    step: &str,
    target: &str,
    (id, required, env): (&str, bool, Option<&str>),
    file: Owned,
    secrets: &BTreeMap<String, Vec<u8>>,
    held: &mut Held,
) -> Result<Option<SandboxMount>, SolveError> {
    let Some(data) = secrets.get(id) else {
        return match required {
            true => Err(SolveError::MissingSecret {
                step: step.to_string(),
                id: id.to_string(),
            }),
            false => Ok(None),
        };
    };
    if let Some(var) = env {
        let value = String::from_utf8_lossy(data);
        held.env.push(format!("{var}={value}"));
    }
    Ok((!target.is_empty()).then(|| SandboxMount::Secret {
        target: target.to_string(),
        data: data.clone(),
        mode: file.mode,
        uid: file.uid,
        gid: file.gid,
    }))
}

/// An ssh mount at `target`: a socket of the step's own forwarding to the
/// agent given as `id` (kept serving in `held`). A missing optional agent
/// mounts nothing, as BuildKit.
fn ssh(
    step: &str,
    target: &str,
    (id, required): (&str, bool),
    socket: Owned,
    agents: &BTreeMap<String, PathBuf>,
    held: &mut Held,
) -> Result<Option<SandboxMount>, SolveError> {
    let Some(upstream) = agents.get(id) else {
        return match required {
            true => Err(SolveError::MissingSsh {
                step: step.to_string(),
                id: id.to_string(),
            }),
            false => Ok(None),
        };
    };
    let proxy =
        AgentProxy::start(upstream, socket.mode, socket.uid, socket.gid).map_err(|source| {
            SolveError::SshSocket {
                step: step.to_string(),
                target: target.to_string(),
                source,
            }
        })?;
    let mount = SandboxMount::Socket {
        target: target.to_string(),
        dir: proxy.dir().to_path_buf(),
        name: SOCKET_NAME.to_string(),
    };
    held.agents.push(proxy);
    Ok(Some(mount))
}

/// Why a filtered context view could not be made; named by the step and
/// mount target once it reaches [`SolveError`].
enum ViewError {
    Store(StoreError),
    Copy(FileOpError),
}

impl ViewError {
    fn at(self, step: &str, target: &str) -> SolveError {
        let (step, target) = (step.to_string(), target.to_string());
        match self {
            ViewError::Store(source) => SolveError::BindStore {
                step,
                target,
                source: Box::new(source),
            },
            ViewError::Copy(source) => SolveError::BindCopy {
                step,
                target,
                source: Box::new(source),
            },
        }
    }
}

/// A bind of the build context must not show what `.dockerignore` leaves
/// out, so with ignore rules the bound path is copied, filtered, to a
/// scratch directory at the same path (as BuildKit's context transfer does).
fn context_view(
    store: &Store,
    context: &Path,
    exclude: &[String],
    sub: &str,
) -> Result<WorkDir, ViewError> {
    let wd = store.work_dir().map_err(ViewError::Store)?;
    let whole = sub.trim_matches('/').is_empty() || sub.trim_matches('/') == ".";
    let copy = CopyAction {
        source: 1,
        src: vec![if whole { ".".into() } else { sub.to_string() }],
        dest: "/".into(),
        owner: None,
        mode: None,
        extract_archives: false,
        parents: !whole,
        exclude: Vec::new(),
    };
    let sources = [
        None,
        Some(SourceRoot {
            path: context.to_path_buf(),
            exclude: exclude.to_vec(),
            preserve_owner: false,
        }),
    ];
    fileop::apply(&wd.upper(), &sources, &[FileAction::Copy(copy)]).map_err(ViewError::Copy)?;
    Ok(wd)
}

/// The directory of cache `id`, made with `mode` and owner on first use.
/// `locked` waits for other users; `private` takes the first free copy.
/// The directory name of cache mount `id` (private copies add `-N`).
fn cache_mount_name(id: &str) -> String {
    Digest::of(id.as_bytes()).hex()[..24].to_string()
}

/// Where the shared copy of cache mount `id` lives in `store`: what
/// `--cache-mounts-to` exports and `--cache-mounts-from` fills.
pub fn cache_mount_dir(store: &Store, id: &str) -> PathBuf {
    store.state_dir(CACHE_MOUNTS_DIR).join(cache_mount_name(id))
}

fn cache_dir(
    root: &Path,
    id: &str,
    sharing: CacheSharing,
    mode: u32,
    owner: (u32, u32),
) -> std::io::Result<(PathBuf, Option<FileLock>)> {
    std::fs::create_dir_all(root)?;
    let name = cache_mount_name(id);
    for n in 0u32.. {
        let dir = match n {
            0 => root.join(&name),
            n => root.join(format!("{name}-{n}")),
        };
        let lock_path = dir.with_extension("lock");
        let lock = match sharing {
            CacheSharing::Shared => None,
            CacheSharing::Locked => Some(FileLock::acquire(&lock_path)?),
            CacheSharing::Private => match FileLock::try_acquire(&lock_path)? {
                Some(lock) => Some(lock),
                None => continue,
            },
        };
        make_dir(&dir, mode, owner)?;
        return Ok((dir, lock));
    }
    unreachable!("the loop only ends by returning")
}

fn make_dir(dir: &Path, mode: u32, (uid, gid): (u32, u32)) -> std::io::Result<()> {
    let tmp = dir.with_extension("new");
    match std::fs::DirBuilder::new().mode(0o700).create(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    if dir.is_dir() {
        let _ = std::fs::remove_dir(&tmp);
        return Ok(());
    }
    // Made whole under another name, then renamed: never half-set-up.
    std::os::unix::fs::chown(&tmp, Some(uid), Some(gid))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode & 0o7777))?;
    match std::fs::rename(&tmp, dir) {
        Ok(()) => Ok(()),
        Err(_) if dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn cache_dirs_are_per_id_with_mode_and_owner() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, _) = cache_dir(tmp.path(), "a", CacheSharing::Shared, 0o711, (7, 8)).unwrap();
        let meta = std::fs::metadata(&a).unwrap();
        assert_eq!(
            (meta.mode() & 0o7777, meta.uid(), meta.gid()),
            (0o711, 7, 8)
        );
        let (again, _) = cache_dir(tmp.path(), "a", CacheSharing::Shared, 0o700, (0, 0)).unwrap();
        assert_eq!(a, again);
        assert_eq!(
            std::fs::metadata(&a).unwrap().mode() & 0o7777,
            0o711,
            "made once"
        );
        let (b, _) = cache_dir(tmp.path(), "b", CacheSharing::Shared, 0o755, (0, 0)).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn private_caches_are_not_shared_while_in_use() {
        let tmp = tempfile::tempdir().unwrap();
        let (first, lock) =
            cache_dir(tmp.path(), "p", CacheSharing::Private, 0o755, (0, 0)).unwrap();
        let (second, _) = cache_dir(tmp.path(), "p", CacheSharing::Private, 0o755, (0, 0)).unwrap();
        assert_ne!(first, second, "the first copy is taken");
        drop(lock);
        let (third, _) = cache_dir(tmp.path(), "p", CacheSharing::Private, 0o755, (0, 0)).unwrap();
        assert_eq!(first, third, "released copies are reused");
    }

    #[test]
    fn missing_required_secret_fails_and_optional_is_skipped() {
        let mount = |required| ExecMount {
            target: "/run/secrets/tok".into(),
            kind: MountKind::Secret {
                id: "tok".into(),
                required,
                mode: 0o400,
                uid: 0,
                gid: 0,
                env: None,
            },
        };
        let (none, no_agents) = (BTreeMap::new(), BTreeMap::new());
        let given = |secrets| Given {
            secrets,
            agents: &no_agents,
        };
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let src = |_| Ok(SourceMount::None);
        assert!(resolve("s", &[mount(true)], &store, given(&none), src).is_err());
        let (mounts, _) = resolve("s", &[mount(false)], &store, given(&none), src).unwrap();
        assert!(mounts.is_empty());
        let tok = BTreeMap::from([("tok".to_string(), b"v".to_vec())]);
        let (mounts, _) = resolve("s", &[mount(true)], &store, given(&tok), src).unwrap();
        assert!(matches!(&mounts[0], SandboxMount::Secret { data, .. } if data == b"v"));
        let as_env = ExecMount {
            target: String::new(),
            kind: MountKind::Secret {
                id: "tok".into(),
                required: true,
                mode: 0o400,
                uid: 0,
                gid: 0,
                env: Some("TOKEN".into()),
            },
        };
        let (mounts, held) = resolve("s", &[as_env], &store, given(&tok), src).unwrap();
        assert!(mounts.is_empty(), "env= alone mounts no file");
        assert_eq!(held.env, ["TOKEN=v"]);
    }
}
