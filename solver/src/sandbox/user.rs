//! Resolving `USER` (`name`, `uid`, `name:group`, `uid:gid`) against the
//! rootfs's own /etc/passwd and /etc/group, the way Docker does: names
//! first, numeric ids also when absent from the files, supplementary groups
//! from /etc/group membership unless a group was given explicitly.

use super::rootpath::open_dir_path;
use super::status::{SetupError, StepExt};
use crate::fileop::at::read_config_in_root;
use std::os::fd::AsFd;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (primary gid included when taken from passwd).
    pub groups: Vec<u32>,
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

/// Reads the files of the current root (call after `pivot_root`). Missing
/// files are treated as empty, so numeric ids still work; a FIFO or device
/// in their place is an error rather than a hang.
pub(super) fn load(spec: &str) -> Result<Identity, SetupError> {
    let root = open_dir_path(Path::new("/")).step(|| "open / of the step".into())?;
    let read = |path: &str| {
        read_config_in_root(root.as_fd(), Path::new(path))
            .map(Option::unwrap_or_default)
            .step(|| format!("read /{path}"))
    };
    let passwd = read("etc/passwd")?;
    let group = read("etc/group")?;
    resolve(spec, &passwd, &group)
}

pub(super) fn resolve(spec: &str, passwd: &str, group: &str) -> Result<Identity, SetupError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let users: Vec<PasswdEntry> = passwd.lines().filter_map(parse_passwd).collect();
    let groups: Vec<GroupEntry> = group.lines().filter_map(parse_group).collect();
    let numeric = user_part.parse::<u32>().ok();
    let entry = users
        .iter()
        .find(|u| u.name == user_part)
        .or_else(|| numeric.and_then(|id| users.iter().find(|u| u.uid == id)));
    let (uid, mut gid, home, name) = match (entry, numeric) {
        (Some(e), _) => (e.uid, e.gid, e.home.to_string(), Some(e.name)),
        (None, Some(id)) => (id, 0, "/".to_string(), None),
        (None, None) => {
            return Err(SetupError::UnknownUser {
                name: user_part.to_string(),
            })
        }
    };
    // As runc: an explicit group, or a user absent from passwd, gets no
    // supplementary groups at all (`id` then prints no `groups=`).
    let mut all = Vec::new();
    match group_part.filter(|g| !g.is_empty()) {
        Some(g) => gid = lookup_group(g, &groups)?,
        None => {
            if let Some(name) = name {
                all.push(gid);
                for g in groups.iter().filter(|g| g.members.contains(&name)) {
                    if !all.contains(&g.gid) {
                        all.push(g.gid);
                    }
                }
            }
        }
    }
    Ok(Identity {
        uid,
        gid,
        groups: all,
        home: if home.is_empty() { "/".into() } else { home },
    })
}

fn lookup_group(spec: &str, groups: &[GroupEntry]) -> Result<u32, SetupError> {
    if let Some(g) = groups.iter().find(|g| g.name == spec) {
        return Ok(g.gid);
    }
    spec.parse::<u32>().map_err(|_| SetupError::UnknownGroup {
        name: spec.to_string(),
    })
}

fn parse_passwd(line: &str) -> Option<PasswdEntry<'_>> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 7 || f[0].starts_with('#') {
        return None;
    }
    Some(PasswdEntry {
        name: f[0],
        uid: f[2].parse().ok()?,
        gid: f[3].parse().ok()?,
        home: f[5],
    })
}

fn parse_group(line: &str) -> Option<GroupEntry<'_>> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 4 || f[0].starts_with('#') {
        return None;
    }
    let members = f[3]
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .collect();
    Some(GroupEntry {
        name: f[0],
        gid: f[2].parse().ok()?,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n# comment\napp:x:1000:1001::/home/app:/bin/sh\nbroken line\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:root\nstaff:x:50:app,other\napp:x:1001:\n";

    #[test]
    fn names_ids_and_groups() {
        let root = resolve("", PASSWD, GROUP).unwrap();
        assert_eq!(
            root,
            Identity {
                uid: 0,
                gid: 0,
                groups: vec![0, 10],
                home: "/root".into()
            }
        );
        let app = resolve("app", PASSWD, GROUP).unwrap();
        assert_eq!(
            app,
            Identity {
                uid: 1000,
                gid: 1001,
                groups: vec![1001, 50],
                home: "/home/app".into()
            }
        );
        assert_eq!(resolve("1000", PASSWD, GROUP).unwrap(), app);
        let explicit = resolve("app:wheel", PASSWD, GROUP).unwrap();
        assert_eq!((explicit.gid, explicit.groups), (10, vec![]));
    }

    #[test]
    fn numeric_ids_work_without_entries() {
        let id = resolve("4242:4343", "", "").unwrap();
        assert_eq!(
            id,
            Identity {
                uid: 4242,
                gid: 4343,
                groups: vec![],
                home: "/".into()
            }
        );
        assert_eq!(resolve("77", PASSWD, GROUP).unwrap().gid, 0);
    }

    #[test]
    fn unknown_names_are_errors() {
        let err = resolve("nobodyhere", PASSWD, GROUP).unwrap_err();
        assert!(
            err.to_string().contains("unable to find user nobodyhere"),
            "{err}"
        );
        let err = resolve("app:nogroup", PASSWD, GROUP).unwrap_err();
        assert!(
            err.to_string().contains("unable to find group nogroup"),
            "{err}"
        );
    }
}
