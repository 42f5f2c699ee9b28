//! Reading one tar entry's path and metadata: path components checked
//! against escapes, and owner, mode, mtime and xattrs with PAX overrides.

use super::xattr::{overlay_xattr_prefix, Xattrs};
use std::io::{self, Read};

/// Splits an entry path into components, refusing anything that could point
/// outside the root. `.` and empty components are dropped.
pub(super) fn components(path: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    if path.starts_with(b"/") {
        return Err("absolute path");
    }
    let parts: Vec<&[u8]> = path
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect();
    if parts.iter().any(|c| *c == b"..") {
        return Err("`..` would escape the layer root");
    }
    Ok(parts)
}

/// What one archive entry says about the object it creates.
pub(super) struct Meta {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub mtime: i64,
    pub xattrs: Xattrs,
}

pub(super) fn meta_of<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
    let h = entry.header();
    let old = h.as_old();
    let mut m = Meta {
        uid: numeric(&old.uid, h.uid())? as u32,
        gid: numeric(&old.gid, h.gid())? as u32,
        mode: numeric(&old.mode, h.mode().map(u64::from))? as u32 & 0o7777,
        mtime: numeric(&old.mtime, h.mtime())? as i64,
        xattrs: Vec::new(),
    };
    let Some(exts) = entry.pax_extensions()? else {
        return Ok(m);
    };
    // The tar crate splits records at newlines, so a binary xattr value
    // holding one reads as malformed: skip it rather than fail the layer.
    for ext in exts.filter_map(Result::ok) {
        let Ok(key) = ext.key() else { continue };
        let num = || {
            ext.value()
                .ok()
                .and_then(|v| v.split('.').next()?.parse::<i64>().ok())
        };
        match key {
            "uid" => m.uid = num().unwrap_or(m.uid as i64) as u32,
            "gid" => m.gid = num().unwrap_or(m.gid as i64) as u32,
            "mtime" => m.mtime = num().unwrap_or(m.mtime),
            _ => {
                // A layer must never forge overlayfs state (redirects, opaque).
                if let Some(name) = key
                    .strip_prefix("SCHILY.xattr.")
                    .filter(|n| !n.starts_with(overlay_xattr_prefix()))
                {
                    m.xattrs
                        .push((name.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
    }
    Ok(m)
}

/// A numeric header field; blank (all NUL or spaces) reads as 0, as in Go's
/// archive/tar, since some image tools leave ids unset.
fn numeric(raw: &[u8], parsed: io::Result<u64>) -> io::Result<u64> {
    if raw.iter().all(|b| *b == 0 || *b == b' ') {
        Ok(0)
    } else {
        parsed
    }
}
