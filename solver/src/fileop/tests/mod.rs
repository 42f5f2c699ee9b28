//! Table tests of fileop on plain temp directories (a "context" source tree
//! and a destination "rootfs"), checking what lands where with which metadata.

mod archive;
mod copy;
mod mkdir;
mod overwrite;

use super::*;
use mybuild_graph::{CopyAction, FileAction, Owner};
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use tempfile::TempDir;

/// A source context and a destination root.
pub(super) struct Fixture {
    pub ctx: TempDir,
    pub root: TempDir,
    pub exclude: Vec<String>,
    /// Treat the source like a stage (`COPY --from`) rather than the context.
    pub stage_source: bool,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture {
            ctx: tempfile::tempdir().unwrap(),
            root: tempfile::tempdir().unwrap(),
            exclude: Vec::new(),
            stage_source: false,
        }
    }

    /// Writes a context file (parents created).
    pub fn file(&self, rel: &str, content: &str) -> &Self {
        write(self.ctx.path(), rel, content);
        self
    }

    pub fn root_file(&self, rel: &str, content: &str) -> &Self {
        write(self.root.path(), rel, content);
        self
    }

    pub fn apply(&self, actions: Vec<FileAction>) -> Result<(), FileOpError> {
        let src = SourceRoot {
            path: self.ctx.path().to_path_buf(),
            exclude: self.exclude.clone(),
            preserve_owner: self.stage_source,
        };
        apply(self.root.path(), &[None, Some(src)], &actions)
    }

    pub fn out(&self, rel: &str) -> std::path::PathBuf {
        self.root.path().join(rel.trim_start_matches('/'))
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.out(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// (permission bits, uid, gid) of a destination path, not following links.
    pub fn meta(&self, rel: &str) -> (u32, u32, u32) {
        let m = fs::symlink_metadata(self.out(rel)).unwrap_or_else(|e| panic!("stat {rel}: {e}"));
        (m.mode() & 0o7777, m.uid(), m.gid())
    }
}

pub(super) fn write(base: &Path, rel: &str, content: &str) {
    let path = base.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, content).unwrap();
}

pub(super) fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

pub(super) fn link(target: &str, at: &Path) {
    symlink(target, at).unwrap();
}

/// A plain COPY from the context (input 1).
pub(super) fn copy(src: &[&str], dest: &str) -> FileAction {
    FileAction::Copy(CopyAction {
        source: 1,
        src: src.iter().map(|s| s.to_string()).collect(),
        dest: dest.into(),
        owner: None,
        mode: None,
        extract_archives: false,
        parents: false,
        exclude: Vec::new(),
    })
}

pub(super) fn with(action: FileAction, f: impl FnOnce(&mut CopyAction)) -> FileAction {
    let FileAction::Copy(mut c) = action else {
        unreachable!()
    };
    f(&mut c);
    FileAction::Copy(c)
}

pub(super) fn owner(user: &str, group: Option<&str>) -> Option<Owner> {
    Some(Owner {
        user: user.into(),
        group: group.map(Into::into),
    })
}
