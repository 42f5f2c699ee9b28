//! Extended attributes of layer entries, through the `xattr` crate's
//! `l*xattr` calls, which never follow a final symlink. What this adds is
//! the layer's view: names sorted, a filesystem without xattrs is simply
//! none, and an attribute gone between list and read is skipped.

use std::io;
use std::path::Path;
use xattr::FileExt;

/// Private overlayfs attributes; never part of a layer's content. As real
/// root overlayfs uses `trusted.overlay.`; in a user namespace (rootless)
/// only `user.` attributes can be written, so the sandbox mounts overlays
/// with `userxattr` and snapshots carry `user.overlay.` ones.
pub fn overlay_xattr_prefix() -> &'static str {
    overlay_names().0
}

/// The overlay attribute that marks a directory as hiding lower layers.
pub fn opaque_xattr() -> &'static str {
    overlay_names().1
}

/// Overlay's prefix and opaque marker in this process's user namespace.
fn overlay_names() -> (&'static str, &'static str) {
    if crate::in_user_namespace() {
        ("user.overlay.", "user.overlay.opaque")
    } else {
        ("trusted.overlay.", "trusted.overlay.opaque")
    }
}

/// Extended attributes as (name, value) pairs, sorted by name.
pub type Xattrs = Vec<(String, Vec<u8>)>;

fn unsupported(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOTSUP)
}

/// All extended attributes of `path` (not following a symlink), sorted by name.
pub fn list(path: &Path) -> io::Result<Xattrs> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if unsupported(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in names {
        // `None`: removed between list and get, nothing to record.
        if let Some(value) = xattr::get(path, &name)? {
            out.push((name.to_string_lossy().into_owned(), value));
        }
    }
    out.sort();
    Ok(out)
}

/// One attribute of `path`, `None` when it is not set.
pub fn get(path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    match xattr::get(path, name) {
        Err(e) if unsupported(&e) => Ok(None),
        other => other,
    }
}

/// Sets an attribute on `path` itself (a final symlink is not followed).
pub fn set(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    xattr::set(path, name, value)
}

/// Removes an attribute from `path` itself; absent is fine.
pub fn remove(path: &Path, name: &str) -> io::Result<()> {
    match xattr::remove(path, name) {
        Err(e) if e.raw_os_error() == Some(libc::ENODATA) => Ok(()),
        other => other,
    }
}

/// Sets an attribute through an open descriptor (directories, regular files).
pub fn set_fd(fd: std::os::fd::BorrowedFd<'_>, name: &str, value: &[u8]) -> io::Result<()> {
    // The crate's fd calls hang off `File`; a duplicate keeps `fd` ours.
    std::fs::File::from(fd.try_clone_to_owned()?).set_xattr(name, value)
}
