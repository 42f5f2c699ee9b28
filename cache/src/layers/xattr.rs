//! Thin wrappers over the `l*xattr` syscalls, which never follow a final
//! symlink. Names and values are raw bytes, as the kernel stores them.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The overlay attribute that marks a directory as hiding lower layers.
pub const OPAQUE: &str = "trusted.overlay.opaque";
/// Private overlayfs attributes; never part of a layer's content.
pub const OVERLAY_PREFIX: &str = "trusted.overlay.";

/// Extended attributes as (name, value) pairs, sorted by name.
pub type Xattrs = Vec<(String, Vec<u8>)>;

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Calls a size-probing xattr syscall twice: once for the size, once to fill.
fn sized_call(mut call: impl FnMut(*mut libc::c_void, usize) -> isize) -> io::Result<Vec<u8>> {
    loop {
        let n = call(std::ptr::null_mut(), 0);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; n as usize];
        let m = call(buf.as_mut_ptr().cast(), buf.len());
        if m >= 0 {
            buf.truncate(m as usize);
            return Ok(buf);
        }
        let err = io::Error::last_os_error();
        // The attribute grew between the two calls: ask again.
        if err.raw_os_error() != Some(libc::ERANGE) {
            return Err(err);
        }
    }
}

/// All extended attributes of `path` (not following a symlink), sorted by name.
pub fn list(path: &Path) -> io::Result<Xattrs> {
    let c = cpath(path)?;
    // SAFETY: valid C string and a buffer of the length passed.
    let names =
        match sized_call(|buf, len| unsafe { libc::llistxattr(c.as_ptr(), buf.cast(), len) }) {
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).expect("split at NUL");
        let value = match get_c(&c, &cname) {
            Ok(v) => v,
            // Removed between list and get: nothing to record.
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => continue,
            Err(e) => return Err(e),
        };
        out.push((String::from_utf8_lossy(name).into_owned(), value));
    }
    out.sort();
    Ok(out)
}

fn get_c(path: &CStr, name: &CStr) -> io::Result<Vec<u8>> {
    // SAFETY: valid C strings and a buffer of the length passed.
    sized_call(|buf, len| unsafe { libc::lgetxattr(path.as_ptr(), name.as_ptr(), buf, len) })
}

/// One attribute of `path`, `None` when it is not set.
#[cfg(test)]
pub fn get(path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let c = cpath(path)?;
    let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    match get_c(&c, &cname) {
        Ok(v) => Ok(Some(v)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENODATA) | Some(libc::ENOTSUP)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sets an attribute on `path` itself (a final symlink is not followed).
pub fn set(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let c = cpath(path)?;
    let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: valid C strings and a value slice of the length passed.
    let rc = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            cname.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Removes an attribute from `path` itself; absent is fine.
pub fn remove(path: &Path, name: &str) -> io::Result<()> {
    let c = cpath(path)?;
    let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: valid C strings.
    let rc = unsafe { libc::lremovexattr(c.as_ptr(), cname.as_ptr()) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ENODATA) {
        Ok(())
    } else {
        Err(err)
    }
}

/// Sets an attribute through an open descriptor (directories, regular files).
pub fn set_fd(fd: std::os::fd::BorrowedFd<'_>, name: &str, value: &[u8]) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: open descriptor, valid C string and a value slice of the length passed.
    let rc = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            cname.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
