//! Writing tar entries whose names, link targets, ids and xattrs may not fit
//! a ustar header: the overflow goes into a PAX extended header, the format
//! Docker and BuildKit use for layers.

use std::io::{self, Read, Write};

const NAME_LEN: usize = 100;
const PREFIX_LEN: usize = 155;
const MAX_OCTAL_ID: u64 = 0o7777777;

/// Stores `path` in the ustar name/prefix fields; false if it cannot fit.
fn set_ustar_name(h: &mut tar::Header, path: &[u8]) -> bool {
    let ustar = h.as_ustar_mut().expect("ustar header");
    if path.len() <= NAME_LEN {
        ustar.name[..path.len()].copy_from_slice(path);
        return true;
    }
    // Split at a '/' so that prefix/name each fit; the final trailing slash
    // of a directory cannot be the split point (name would be empty).
    let body = path.strip_suffix(b"/").unwrap_or(path);
    for (i, _) in body.iter().enumerate().rev().filter(|(_, b)| **b == b'/') {
        let (prefix, name) = (&path[..i], &path[i + 1..]);
        if prefix.len() <= PREFIX_LEN && name.len() <= NAME_LEN && !name.is_empty() {
            ustar.prefix[..prefix.len()].copy_from_slice(prefix);
            ustar.name[..name.len()].copy_from_slice(name);
            return true;
        }
    }
    false
}

/// One `"<len> <key>=<value>\n"` record; the length counts itself.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let base = key.len() + value.len() + 3;
    let mut len = base + 1;
    while len != base + len.to_string().len() {
        len = base + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}=").as_bytes());
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Appends one entry. `h` carries type, mode, ids, mtime, size and device
/// numbers; this fills in the names and emits a PAX header when needed.
pub fn append_entry<W: Write, R: Read>(
    b: &mut tar::Builder<W>,
    mut h: tar::Header,
    path: &[u8],
    link: Option<&[u8]>,
    xattrs: &[(String, Vec<u8>)],
    data: R,
) -> io::Result<()> {
    let mut pax = Vec::new();
    if !set_ustar_name(&mut h, path) {
        pax_record(&mut pax, "path", path);
        let cut = &path[..NAME_LEN];
        h.as_ustar_mut()
            .expect("ustar header")
            .name
            .copy_from_slice(cut);
    }
    if let Some(link) = link {
        let field = &mut h.as_ustar_mut().expect("ustar header").linkname;
        if link.len() <= NAME_LEN {
            field[..link.len()].copy_from_slice(link);
        } else {
            pax_record(&mut pax, "linkpath", link);
            field.copy_from_slice(&link[..NAME_LEN]);
        }
    }
    for (key, id) in [("uid", h.uid()?), ("gid", h.gid()?)] {
        if id > MAX_OCTAL_ID {
            pax_record(&mut pax, key, id.to_string().as_bytes());
        }
    }
    for (name, value) in xattrs {
        pax_record(&mut pax, &format!("SCHILY.xattr.{name}"), value);
    }
    if !pax.is_empty() {
        let mut ph = tar::Header::new_ustar();
        ph.set_entry_type(tar::EntryType::XHeader);
        set_ustar_name(&mut ph, b"PaxHeader");
        ph.set_mode(0o644);
        ph.set_mtime(h.mtime()?);
        ph.set_size(pax.len() as u64);
        ph.set_cksum();
        b.append(&ph, pax.as_slice())?;
    }
    h.set_cksum();
    b.append(&h, data)
}

/// A header with the common fields of one filesystem object.
pub fn base_header(kind: tar::EntryType, mode: u32, uid: u64, gid: u64, mtime: i64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode & 0o7777);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_mtime(mtime.max(0) as u64);
    h.set_size(0);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(
        path: &[u8],
        link: Option<&[u8]>,
        xattrs: &[(String, Vec<u8>)],
    ) -> tar::Archive<io::Cursor<Vec<u8>>> {
        let mut b = tar::Builder::new(Vec::new());
        let kind = if link.is_some() {
            tar::EntryType::Symlink
        } else {
            tar::EntryType::Regular
        };
        let h = base_header(kind, 0o4755, 3_000_000, 7, 1234);
        append_entry(&mut b, h, path, link, xattrs, io::empty()).unwrap();
        tar::Archive::new(io::Cursor::new(b.into_inner().unwrap()))
    }

    #[test]
    fn long_names_links_and_xattrs_survive() {
        let long = format!("{}/{}", "d".repeat(200), "f".repeat(150));
        let link = "t".repeat(300);
        let xattrs = vec![("user.k".to_string(), b"v =1\x00\xff".to_vec())];
        let mut a = round_trip(long.as_bytes(), Some(link.as_bytes()), &xattrs);
        let mut e = a.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(&*e.path_bytes(), long.as_bytes());
        assert_eq!(&*e.link_name_bytes().unwrap(), link.as_bytes());
        assert_eq!(e.header().mode().unwrap(), 0o4755);
        let exts: Vec<(String, Vec<u8>)> = e
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|x| x.unwrap())
            .map(|x| (x.key().unwrap().to_string(), x.value_bytes().to_vec()))
            .collect();
        assert!(exts.contains(&("SCHILY.xattr.user.k".into(), b"v =1\x00\xff".to_vec())));
        assert!(exts.contains(&("uid".into(), b"3000000".to_vec())));
    }

    #[test]
    fn medium_names_use_ustar_prefix() {
        let p = format!("{}/{}/", "a".repeat(120), "b".repeat(50));
        let mut a = round_trip(p.as_bytes(), None, &[]);
        let e = a.entries().unwrap().next().unwrap().unwrap();
        assert!(e.header().as_ustar().unwrap().prefix.starts_with(b"aaa"));
        assert_eq!(
            &*e.path_bytes(),
            p.as_bytes(),
            "directory keeps its trailing slash"
        );
    }
}
