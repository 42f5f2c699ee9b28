//! `--chown` resolution against the destination rootfs's own user database.
//!
//! Names are looked up in `<root>/etc/passwd` and `<root>/etc/group`, read
//! through the confined resolver so an image's symlinked /etc can't make us
//! read the host's. A numeric user alone also sets the group to that number,
//! a user name alone takes the user's primary group, as BuildKit does.
//! A name the image does not know resolves to 0 (a group name: leaves the
//! group as the user part made it), as BuildKit in Docker 20.10 does.
//! `OwnerError::UnknownUser`/`UnknownGroup` stay for other callers.

use super::at;
use mybuild_graph::Owner;
use std::os::fd::BorrowedFd;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    #[error("chown {user}: unknown user (not in the image's /etc/passwd)")]
    UnknownUser { user: String },
    #[error("chown {group}: unknown group (not in the image's /etc/group)")]
    UnknownGroup { group: String },
    #[error("chown: read /{path}: {source}")]
    Read {
        path: &'static str,
        source: std::io::Error,
    },
}

/// A resolved uid/gid pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

impl Ids {
    pub const ROOT: Ids = Ids { uid: 0, gid: 0 };
}

fn numeric(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Reads an /etc database file inside `root`; a missing file is empty.
fn read_db(root: BorrowedFd, path: &'static str) -> Result<String, OwnerError> {
    at::read_config_in_root(root, Path::new(path))
        .map(Option::unwrap_or_default)
        .map_err(|source| OwnerError::Read { path, source })
}

/// Finds `name` in a colon-separated database and returns fields 2 and 3
/// (uid/gid for passwd, gid for group).
fn lookup(db: &str, name: &str) -> Option<(u32, Option<u32>)> {
    db.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 3 || fields[0] != name {
            return None;
        }
        let first = fields[2].trim().parse().ok()?;
        Some((first, fields.get(3).and_then(|f| f.trim().parse().ok())))
    })
}

/// Resolves an owner spec; `None` means "root", Docker's default for COPY.
pub fn resolve_owner(root: BorrowedFd, owner: Option<&Owner>) -> Result<Ids, OwnerError> {
    let Some(owner) = owner else {
        return Ok(Ids::ROOT);
    };
    let mut ids = match numeric(&owner.user) {
        Some(uid) => Ids { uid, gid: uid },
        None => {
            let passwd = read_db(root, "etc/passwd")?;
            match lookup(&passwd, &owner.user) {
                Some((uid, Some(gid))) => Ids { uid, gid },
                _ => Ids::ROOT,
            }
        }
    };
    if let Some(group) = owner.group.as_deref() {
        ids.gid = match numeric(group) {
            Some(gid) => gid,
            None => {
                let groups = read_db(root, "etc/group")?;
                lookup(&groups, group).map_or(ids.gid, |(gid, _)| gid)
            }
        };
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn owner(user: &str, group: Option<&str>) -> Owner {
        Owner {
            user: user.into(),
            group: group.map(Into::into),
        }
    }

    #[test]
    fn names_and_ids_resolve_like_buildkit() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65533::/:/bin/false\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\nstaff:x:50:app\n").unwrap();
        let root = at::open_root(dir.path()).unwrap();
        let r = |u, g| resolve_owner(root.as_fd(), Some(&owner(u, g)));
        assert_eq!(resolve_owner(root.as_fd(), None).unwrap(), Ids::ROOT);
        assert_eq!(
            r("1000", None).unwrap(),
            Ids {
                uid: 1000,
                gid: 1000
            }
        );
        assert_eq!(
            r("1000", Some("2000")).unwrap(),
            Ids {
                uid: 1000,
                gid: 2000
            }
        );
        assert_eq!(
            r("nobody", None).unwrap(),
            Ids {
                uid: 65534,
                gid: 65533
            }
        );
        assert_eq!(
            r("nobody", Some("staff")).unwrap(),
            Ids {
                uid: 65534,
                gid: 50
            }
        );
        assert_eq!(r("7", Some("staff")).unwrap(), Ids { uid: 7, gid: 50 });
        // Unknown names, as BuildKit 20.10 treats them (found by
        // tests/differential): the user is 0, the group what the user gave.
        assert_eq!(r("ghost", None).unwrap(), Ids::ROOT);
        assert_eq!(r("ghost", Some("1000")).unwrap(), Ids { uid: 0, gid: 1000 });
        assert_eq!(r("7", Some("ghosts")).unwrap(), Ids { uid: 7, gid: 7 });
        assert_eq!(
            r("nobody", Some("ghosts")).unwrap(),
            Ids {
                uid: 65534,
                gid: 65533
            }
        );
    }

    #[test]
    fn missing_passwd_means_unknown_names() {
        let dir = tempfile::tempdir().unwrap();
        let root = at::open_root(dir.path()).unwrap();
        assert_eq!(
            resolve_owner(root.as_fd(), Some(&owner("app", None))).unwrap(),
            Ids::ROOT
        );
        assert_eq!(
            resolve_owner(root.as_fd(), Some(&owner("5", None))).unwrap(),
            Ids { uid: 5, gid: 5 }
        );
    }
}
