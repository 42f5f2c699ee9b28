//! `RUN --mount` inside the sandbox. The helper prepares each mount's source
//! beside the rootfs (a layer chain as an overlay, a writable view over a
//! tmpfs, a secret on a tmpfs), opens it, and makes the mount point exist
//! as a stub; the child binds the open sources onto their targets before
//! `pivot_root`. Nothing written through a mount reaches the layer.

use super::layout::{mount_layers, scratch_dir, Layout};
use super::overlay::{self, Upper};
use super::remount::remount;
use super::rootpath::{fd_path, open_dir_path, open_in_root};
use super::status::{SetupError, StepExt};
use super::stubs::{Kind, Stubs};
use super::{HelperRequest, SandboxMount, SourceMount};
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::fstat;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A mount ready for the child: its source as a directory and a path in
/// it (none for a tmpfs), and where it goes. Paths, not fds: a bind's
/// source must be a mount of the child's own namespace, a copy of ours.
pub(super) struct Prepared {
    source: Option<(PathBuf, String)>,
    target: String,
    kind: Kind,
    readonly: bool,
    tmpfs_size: Option<u64>,
}

/// Helper side, before the fork.
pub(super) fn prepare(
    req: &HelperRequest,
    layout: &Layout,
    root: &OwnedFd,
    stubs: &mut Stubs,
    mounts: &[SandboxMount],
) -> Result<Vec<Prepared>, SetupError> {
    let mut out = Vec::with_capacity(mounts.len());
    for (i, m) in mounts.iter().enumerate() {
        let p = match m {
            SandboxMount::Bind {
                target,
                source,
                sub,
                readwrite,
            } => {
                let base = bind_base(req, layout, i, source, *readwrite)?;
                let src = open_source(&base, sub, target)?;
                let is_dir = fstat(&src).map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
                let kind = if is_dir.step(|| format!("stat bind source {sub:?}"))? {
                    Kind::Dir
                } else {
                    Kind::File
                };
                bound(base, sub, target, kind, !readwrite)
            }
            SandboxMount::Cache {
                target,
                host,
                readonly,
            } => bound(host.clone(), "/", target, Kind::Dir, *readonly),
            SandboxMount::Tmpfs { target, size } => Prepared {
                source: None,
                target: target.clone(),
                kind: Kind::Dir,
                readonly: false,
                tmpfs_size: *size,
            },
            // Writable: connecting to a socket is a write to it.
            SandboxMount::Socket { target, dir, name } => {
                bound(dir.clone(), name, target, Kind::File, false)
            }
            SandboxMount::Secret {
                target,
                data,
                mode,
                uid,
                gid,
            } => {
                let dir = write_secret(layout, i, data, *mode, (*uid, *gid))?;
                bound(dir, "secret", target, Kind::File, true)
            }
        };
        stubs.ensure(root, &p.target, p.kind)?;
        out.push(p);
    }
    Ok(out)
}

fn bound(base: PathBuf, sub: &str, target: &str, kind: Kind, readonly: bool) -> Prepared {
    Prepared {
        source: Some((base, sub.to_string())),
        target: target.to_string(),
        kind,
        readonly,
        tmpfs_size: None,
    }
}

/// `sub` inside the directory `base`, never outside it.
fn open_source(base: &Path, sub: &str, target: &str) -> Result<OwnedFd, SetupError> {
    let dir = open_dir_path(base).step(|| format!("open {}", base.display()))?;
    open_in_root(&dir, sub, OFlag::O_PATH)
        .step(|| format!("mount {target}: source {sub:?} not found in its filesystem"))
}

/// The filesystem a bind reads: a host directory or a layer chain, under a
/// throw-away upper when the bind is writable.
fn bind_base(
    req: &HelperRequest,
    layout: &Layout,
    index: usize,
    source: &SourceMount,
    readwrite: bool,
) -> Result<PathBuf, SetupError> {
    let lowers: Vec<PathBuf> = match source {
        SourceMount::None => return Ok(layout.empty.clone()),
        SourceMount::Dir { path, .. } if !readwrite => return Ok(path.clone()),
        SourceMount::Layers { lowers } if !readwrite => {
            return mount_layers(req, layout, 1000 + index, lowers)
        }
        SourceMount::Dir { path, .. } => vec![path.clone()],
        SourceMount::Layers { lowers } if lowers.is_empty() => vec![layout.empty.clone()],
        SourceMount::Layers { lowers } => lowers.clone(),
    };
    let scratch = scratch_dir(layout, &format!("mount-{index}"))?;
    tmpfs(&scratch, None)?;
    let (upper, work, view) = (scratch.join("u"), scratch.join("w"), scratch.join("v"));
    for dir in [&upper, &work, &view] {
        std::fs::create_dir(dir).step(|| format!("create {}", dir.display()))?;
    }
    let writable = Upper {
        upper: &upper,
        work: &work,
    };
    overlay::mount_overlay(&lowers, Some(writable), &view, false)?;
    Ok(view)
}

fn tmpfs(dir: &Path, size: Option<u64>) -> Result<(), SetupError> {
    let options = match size {
        Some(n) => format!("mode=0755,size={n}"),
        None => "mode=0755".to_string(),
    };
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(options.as_str()),
    )
    .step(|| format!("mount tmpfs on {}", dir.display()))
}

/// A secret's bytes on a tmpfs of their own, never on disk.
fn write_secret(
    layout: &Layout,
    index: usize,
    data: &[u8],
    mode: u32,
    (uid, gid): (u32, u32),
) -> Result<PathBuf, SetupError> {
    let dir = scratch_dir(layout, &format!("secret-{index}"))?;
    tmpfs(&dir, None)?;
    let file = dir.join("secret");
    let done = dir.clone();
    let step = || format!("write secret {}", file.display());
    let mut f = std::fs::File::create(&file).step(step)?;
    f.write_all(data).step(step)?;
    drop(f);
    std::os::unix::fs::chown(&file, Some(uid), Some(gid)).step(step)?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode & 0o7777)).step(step)?;
    Ok(done)
}

/// Child side: mounts every prepared source on its target, inside the root
/// at `root` (resolved in the root, so a symlinked target stays inside).
/// Parents go first (`/a` before `/a/b`); a mount point a parent mount
/// covered is made again inside it.
pub(super) fn mount_all(root: &OwnedFd, mounts: &[Prepared]) -> Result<(), SetupError> {
    let mut order: Vec<&Prepared> = mounts.iter().collect();
    order.sort_by_key(|m| m.target.split('/').filter(|c| !c.is_empty()).count());
    for m in order {
        let flags = match m.kind {
            Kind::Dir => OFlag::O_PATH | OFlag::O_DIRECTORY,
            Kind::File => OFlag::O_PATH,
        };
        if open_in_root(root, &m.target, flags).err() == Some(nix::errno::Errno::ENOENT) {
            // Not recorded for removal: it lives in the parent mount, not the layer.
            Stubs::default().ensure(root, &m.target, m.kind)?;
        }
        let target =
            open_in_root(root, &m.target, flags).map_err(|_| SetupError::BadMountpoint {
                step: format!("mount {}", m.target),
                path: m.target.clone(),
                kind: if m.kind == Kind::Dir {
                    "directory"
                } else {
                    "file"
                },
            })?;
        let at = fd_path(&target);
        let step = || format!("mount {}", m.target);
        match &m.source {
            None => tmpfs(Path::new(&at), m.tmpfs_size)?,
            Some((base, sub)) => {
                let src = open_source(base, sub, &m.target)?;
                let from = fd_path(&src);
                mount(
                    Some(from.as_str()),
                    at.as_str(),
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .step(step)?;
            }
        }
        // A cache or bind mount is a host directory: nodev, so a device
        // node a step leaves there opens nothing (the device policy).
        let ro = if m.readonly {
            MsFlags::MS_RDONLY
        } else {
            MsFlags::empty()
        };
        remount(root, &m.target, ro | MsFlags::MS_NODEV)?;
    }
    Ok(())
}
