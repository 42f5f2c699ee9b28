//! Containers the legacy mode keeps (`--rm=false`, or a failed step): what
//! `ps -a` lists and `diff`, `commit` and `rm` act on.
//!
//! A container is a record plus its filesystem: the layer a finished RUN
//! committed, or, for a failed RUN, the overlay upper dir kept beside the
//! record (`containers/<id>/upper`).

use crate::error::{io_err, StoreError};
use crate::fsutil::remove_tree;
use crate::store::Store;
use mybuild_graph::Digest;
use std::path::PathBuf;

/// What state a container was left in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum ContainerState {
    /// Made to commit a config change; never started.
    Created,
    /// Ran and exited with `code` at `finished` (RFC 3339).
    Exited { code: i32, finished: String },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContainerRecord {
    /// 64 hex digits.
    pub id: String,
    /// The image it was made from (`None` on `scratch`).
    pub image: Option<Digest>,
    pub command: Vec<String>,
    /// RFC 3339.
    pub created: String,
    #[serde(flatten)]
    pub state: ContainerState,
    /// Its filesystem's changes as a committed layer, when there is one.
    pub layer: Option<Digest>,
    /// `mybuild run --name`; commands accept it in place of the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Store {
    fn containers_dir(&self) -> PathBuf {
        self.root().join("v1").join("containers")
    }

    fn container_file(&self, id: &str) -> PathBuf {
        self.containers_dir().join(id).join("container.json")
    }

    /// Where a failed RUN's upper dir is parked until its container is
    /// recorded (same filesystem as the containers).
    pub fn failed_uppers_dir(&self) -> PathBuf {
        self.containers_dir().join(".failed")
    }

    /// The kept upper dir of container `id` (present for failed RUNs).
    pub fn container_upper(&self, id: &str) -> PathBuf {
        self.containers_dir().join(id).join("upper")
    }

    pub fn put_container(&self, rec: &ContainerRecord) -> Result<(), StoreError> {
        let dir = self.containers_dir().join(&rec.id);
        std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        self.write_json(&self.container_file(&rec.id), rec)
    }

    /// Every kept container, newest first.
    pub fn containers(&self) -> Result<Vec<ContainerRecord>, StoreError> {
        let dir = self.containers_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("read", &dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("read", &dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if let Some(rec) = self.read_json::<ContainerRecord>(&self.container_file(&name))? {
                out.push(rec);
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// The container named `prefix`, else the one whose id starts with it.
    pub fn find_container(&self, prefix: &str) -> Result<Option<ContainerRecord>, StoreError> {
        let all = self.containers()?;
        if let Some(c) = all.iter().find(|c| c.name.as_deref() == Some(prefix)) {
            return Ok(Some(c.clone()));
        }
        let mut hits = all
            .into_iter()
            .filter(|c| !prefix.is_empty() && c.id.starts_with(prefix));
        match (hits.next(), hits.next()) {
            (Some(c), None) => Ok(Some(c)),
            (Some(_), Some(_)) => Err(StoreError::AmbiguousId {
                prefix: prefix.to_string(),
            }),
            _ => Ok(None),
        }
    }

    /// Deletes a container's record and kept filesystem.
    pub fn remove_container(&self, id: &str) -> Result<(), StoreError> {
        let dir = self.containers_dir().join(id);
        remove_tree(&dir).map_err(io_err("remove", &dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_resolve_by_prefix() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        let rec = |id: &str, created: &str| ContainerRecord {
            id: id.repeat(64 / id.len()),
            image: Some(Digest::of(b"img")),
            command: vec!["/bin/sh".into(), "-c".into(), "true".into()],
            created: created.into(),
            state: ContainerState::Exited {
                code: 3,
                finished: created.into(),
            },
            layer: None,
            name: None,
        };
        s.put_container(&rec("ab", "2026-01-01T00:00:00Z")).unwrap();
        s.put_container(&rec("ac", "2026-01-02T00:00:00Z")).unwrap();
        let all = s.containers().unwrap();
        assert_eq!(all.len(), 2);
        assert!(all[0].id.starts_with("ac"), "newest first");
        assert_eq!(all[1], rec("ab", "2026-01-01T00:00:00Z"));
        assert!(matches!(
            s.find_container("a"),
            Err(StoreError::AmbiguousId { .. })
        ));
        assert_eq!(s.find_container("ab").unwrap().unwrap().id, "ab".repeat(32));
        s.remove_container(&"ab".repeat(32)).unwrap();
        assert_eq!(s.find_container("ab").unwrap(), None);
        assert_eq!(s.containers().unwrap().len(), 1);
    }
}
