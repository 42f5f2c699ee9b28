//! Mount-point stubs: `/proc`, `/dev`, `/etc/resolv.conf`... that a rootfs
//! lacks must exist to be mounted on, but must not leak into the layer.
//! Created through the overlay (so they land in `upper`), recorded, and
//! removed again after the command when still empty.

use super::rootpath::open_in_root;
use super::status::{SetupError, StepExt};
use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fstatat, mkdirat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};
use std::os::fd::AsFd;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Dir,
    File,
}

/// Ownership and mode of a pre-existing directory a stub was created in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DirMeta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// What was created, in creation order, as (parent dir, name, kind), and
/// the pre-existing dirs that got a stub (overlay copied them up).
#[derive(Debug, Default)]
pub(super) struct Stubs {
    created: Vec<(String, String, Kind)>,
    touched: Vec<(String, DirMeta)>,
}

impl Stubs {
    /// Makes sure `path` exists in `root`, creating missing components.
    /// An existing entry (even a symlink) is left alone: the mount later
    /// resolves it inside the root.
    pub(super) fn ensure(
        &mut self,
        root: impl AsFd + Copy,
        path: &str,
        kind: Kind,
    ) -> Result<(), SetupError> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let mut parent = String::new();
        for (i, name) in parts.iter().enumerate() {
            let want = if i + 1 == parts.len() {
                kind
            } else {
                Kind::Dir
            };
            let dir = open_in_root(root, &parent, OFlag::O_PATH | OFlag::O_DIRECTORY)
                .step(|| format!("open /{parent} for mount point /{path}"))?;
            match fstatat(&dir, *name, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(_) => {}
                Err(Errno::ENOENT) => {
                    self.note_touched(&dir, &parent);
                    create(&dir, name, want)
                        .step(|| format!("create mount point /{parent}/{name}"))?;
                    self.created.push((parent.clone(), name.to_string(), want));
                }
                Err(e) => return Err(e).step(|| format!("stat mount point /{parent}/{name}")),
            }
            parent = join(&parent, name);
        }
        Ok(())
    }

    /// Pre-existing dirs that received a stub, with their metadata before.
    pub(super) fn touched(&self) -> &[(String, DirMeta)] {
        &self.touched
    }

    fn note_touched(&mut self, dir: impl AsFd, parent: &str) {
        let ours = self.created.iter().any(|(p, n, _)| join(p, n) == parent);
        if parent.is_empty() || ours || self.touched.iter().any(|(p, _)| p == parent) {
            return;
        }
        if let Ok(st) = nix::sys::stat::fstat(dir) {
            let meta = DirMeta {
                mode: st.st_mode,
                uid: st.st_uid,
                gid: st.st_gid,
            };
            self.touched.push((parent.to_string(), meta));
        }
    }

    /// Removes the stubs (newest first) that are still an empty dir or an
    /// empty regular file; anything the command filled in stays.
    pub(super) fn remove_all(&mut self, root: impl AsFd + Copy) -> Result<(), SetupError> {
        while let Some((parent, name, kind)) = self.created.pop() {
            remove(root, &parent, &name, kind)
                .step(|| format!("remove mount point stub /{parent}/{name}"))?;
        }
        Ok(())
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

fn create(dir: impl AsFd, name: &str, kind: Kind) -> Result<(), Errno> {
    match kind {
        Kind::Dir => mkdirat(dir, name, Mode::from_bits_truncate(0o755)),
        Kind::File => {
            let flags = OFlag::O_CREAT
                | OFlag::O_EXCL
                | OFlag::O_WRONLY
                | OFlag::O_NOFOLLOW
                | OFlag::O_CLOEXEC;
            openat(dir, name, flags, Mode::from_bits_truncate(0o644)).map(drop)
        }
    }
}

fn remove(root: impl AsFd, parent: &str, name: &str, kind: Kind) -> Result<(), Errno> {
    let dir = match open_in_root(root, parent, OFlag::O_PATH | OFlag::O_DIRECTORY) {
        Err(Errno::ENOENT) => return Ok(()),
        other => other?,
    };
    let st = match fstatat(&dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(Errno::ENOENT) => return Ok(()),
        other => other?,
    };
    let file_type = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    let result = match kind {
        Kind::Dir if file_type == SFlag::S_IFDIR => unlinkat(&dir, name, UnlinkatFlags::RemoveDir),
        Kind::File if file_type == SFlag::S_IFREG && st.st_size == 0 => {
            unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir)
        }
        _ => Ok(()),
    };
    match result {
        Err(Errno::ENOTEMPTY | Errno::EEXIST | Errno::ENOENT) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::rootpath::open_dir_path;

    #[test]
    fn only_created_and_still_empty_stubs_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let root_path = dir.path();
        std::fs::create_dir(root_path.join("etc")).unwrap();
        std::fs::write(root_path.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
        let root = open_dir_path(root_path).unwrap();
        let mut stubs = Stubs::default();
        stubs.ensure(&root, "/proc", Kind::Dir).unwrap();
        stubs.ensure(&root, "/etc/hosts", Kind::File).unwrap();
        stubs.ensure(&root, "/etc/resolv.conf", Kind::File).unwrap();
        stubs.ensure(&root, "/run/a/b", Kind::Dir).unwrap();
        assert!(root_path.join("run/a/b").is_dir());
        std::fs::write(root_path.join("run/a/kept"), "x").unwrap();
        stubs.remove_all(&root).unwrap();
        assert!(!root_path.join("proc").exists());
        assert!(!root_path.join("etc/resolv.conf").exists());
        assert!(
            root_path.join("etc/hosts").exists(),
            "pre-existing file must stay"
        );
        assert!(!root_path.join("run/a/b").exists());
        assert!(
            root_path.join("run/a/kept").exists(),
            "non-empty stub dir must stay"
        );
    }
}
