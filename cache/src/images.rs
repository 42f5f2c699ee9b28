//! The image store: image configs are blobs (image id = config digest, as
//! in Docker), and `images.json` maps normalised names to them.
//! `repo-digests.json` remembers, per image, the `repo@digest` a push made
//! of it (Docker's `RepoDigests`). An image whose last name moves to
//! another image is kept as an untagged image (in `intermediates.json`,
//! with no parent), as Docker keeps it as `<none>:<none>`.

use crate::error::StoreError;
use crate::oci::RootFs;
use crate::store::Store;
use mybuild_graph::Digest;
use std::collections::BTreeMap;

/// One tagged image, as `images` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    pub name: String,
    pub config: Digest,
    pub created: Option<String>,
    /// Sum of the uncompressed layer sizes.
    pub size: u64,
}

/// The parts of an OCI image config the store relies on (`created` is
/// what `images` shows; other readers need only [`crate::oci::ConfigRootFs`]).
#[derive(serde::Deserialize)]
pub(crate) struct ConfigView {
    pub created: Option<String>,
    pub rootfs: RootFs,
}

pub(crate) fn parse_config(json: &[u8]) -> Result<ConfigView, StoreError> {
    serde_json::from_slice(json).map_err(|source| StoreError::BadConfig { source })
}

/// The short form Docker shows for a fully normalised name:
/// `busybox:latest` for `docker.io/library/busybox:latest`, `me/x:1` for
/// `docker.io/me/x:1`, other registries' names unchanged.
pub fn familiar(name: &str) -> &str {
    name.strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name)
}

/// Names are stored fully normalised (`registry/repo:tag` or `repo@digest`).
fn valid_name(name: &str) -> bool {
    let last = name.rsplit('/').next().unwrap_or(name);
    !name.is_empty()
        && !name.chars().any(char::is_whitespace)
        && (last.contains(':') || last.contains('@'))
}

impl Store {
    /// Stores an image config after checking that every layer it names is in the store.
    pub fn put_image(&self, config_json: &[u8]) -> Result<Digest, StoreError> {
        let view = parse_config(config_json)?;
        let config = Digest::of(config_json);
        for diff_id in &view.rootfs.diff_ids {
            if self.layer_record(diff_id)?.is_none() {
                return Err(StoreError::LayerMissing {
                    config,
                    diff_id: diff_id.clone(),
                });
            }
        }
        self.put_blob(config_json)
    }

    fn read_tags(&self) -> Result<BTreeMap<String, Digest>, StoreError> {
        Ok(self.read_json(&self.images_file())?.unwrap_or_default())
    }

    /// A name must be normalised and name an image the store has.
    pub(crate) fn check_tag(&self, name: &str, config: &Digest) -> Result<(), StoreError> {
        if !valid_name(name) {
            return Err(StoreError::BadName { name: name.into() });
        }
        if !self.has_blob(config) {
            return Err(StoreError::ImageMissing {
                name: name.into(),
                config: config.clone(),
            });
        }
        Ok(())
    }

    pub fn tag(&self, name: &str, config: &Digest) -> Result<(), StoreError> {
        self.check_tag(name, config)?;
        let _lock = self.lock_metadata()?;
        let mut tags = self.read_tags()?;
        let old = tags.insert(name.to_string(), config.clone());
        // A rebuild that names the same image again changes nothing: no
        // rewrite, and no two fsyncs on every warm build.
        if old.as_ref() == Some(config) {
            return Ok(());
        }
        self.write_json(&self.images_file(), &tags)?;
        match old {
            Some(old) if old != *config && !tags.values().any(|c| *c == old) => {
                self.keep_untagged(&old)
            }
            _ => Ok(()),
        }
    }

    /// Keeps an image no name points at (a build without `-t`) as an
    /// untagged image, listed as `<none>` and kept until `rmi`, as Docker
    /// keeps a dangling image.
    pub fn put_untagged(&self, id: &Digest) -> Result<(), StoreError> {
        let _lock = self.lock_metadata()?;
        if self.read_tags()?.values().any(|c| c == id) {
            return Ok(());
        }
        self.keep_untagged(id)
    }

    /// Records an image that lost its last name, unless it is known already
    /// (a legacy intermediate keeps its parent). The caller holds the lock.
    fn keep_untagged(&self, id: &Digest) -> Result<(), StoreError> {
        let mut all = self.read_intermediates()?;
        if all.contains_key(id) || !self.has_blob(id) {
            return Ok(());
        }
        all.insert(id.clone(), None);
        self.write_json(&self.intermediates_file(), &all)
    }

    fn repo_digests_file(&self) -> std::path::PathBuf {
        self.images_file().with_file_name("repo-digests.json")
    }

    /// Remembers that `repo_digest` (`registry/repo@sha256:...`, as pushed)
    /// holds image `config`.
    pub fn add_repo_digest(&self, config: &Digest, repo_digest: &str) -> Result<(), StoreError> {
        let _lock = self.lock_metadata()?;
        let path = self.repo_digests_file();
        let mut all: BTreeMap<Digest, Vec<String>> = self.read_json(&path)?.unwrap_or_default();
        let list = all.entry(config.clone()).or_default();
        // One digest per repository, the latest push's.
        let repo = repo_digest.split('@').next().unwrap_or(repo_digest);
        list.retain(|d| d.split('@').next() != Some(repo));
        list.push(repo_digest.to_string());
        list.sort();
        self.write_json(&path, &all)
    }

    /// The `repo@digest` names pushes gave image `config`, sorted.
    pub fn repo_digests(&self, config: &Digest) -> Result<Vec<String>, StoreError> {
        let all: BTreeMap<Digest, Vec<String>> = self
            .read_json(&self.repo_digests_file())?
            .unwrap_or_default();
        Ok(all.get(config).cloned().unwrap_or_default())
    }

    /// Removes a name; returns the image it named, if it named one.
    pub fn untag(&self, name: &str) -> Result<Option<Digest>, StoreError> {
        let _lock = self.lock_metadata()?;
        let mut tags = self.read_tags()?;
        let Some(config) = tags.remove(name) else {
            return Ok(None);
        };
        self.write_json(&self.images_file(), &tags)?;
        Ok(Some(config))
    }

    /// Every name and the image it names, sorted by name; cheap (one small
    /// file), unlike [`Store::images`], which reads every config.
    pub fn tags(&self) -> Result<BTreeMap<String, Digest>, StoreError> {
        self.read_tags()
    }

    /// Every name of the image `config`, sorted.
    pub fn names_of(&self, config: &Digest) -> Result<Vec<String>, StoreError> {
        Ok(self
            .read_tags()?
            .into_iter()
            .filter(|(_, c)| c == config)
            .map(|(n, _)| n)
            .collect())
    }

    pub fn resolve_tag(&self, name: &str) -> Result<Option<Digest>, StoreError> {
        Ok(self.read_tags()?.remove(name))
    }

    /// Every tagged image, sorted by name.
    pub fn images(&self) -> Result<Vec<ImageEntry>, StoreError> {
        let mut out = Vec::new();
        for (name, config) in self.read_tags()? {
            out.push(self.image_entry(name, config)?);
        }
        Ok(out)
    }

    fn image_entry(&self, name: String, config: Digest) -> Result<ImageEntry, StoreError> {
        let view = parse_config(&self.read_blob(&config)?)?;
        let mut size = 0;
        for diff_id in &view.rootfs.diff_ids {
            size += self.layer_record(diff_id)?.map_or(0, |r| r.size);
        }
        Ok(ImageEntry {
            name,
            config,
            created: view.created,
            size,
        })
    }

    fn read_intermediates(&self) -> Result<BTreeMap<Digest, Option<Digest>>, StoreError> {
        Ok(self
            .read_json(&self.intermediates_file())?
            .unwrap_or_default())
    }

    /// Records an intermediate image (the classic builder's per-step
    /// image) and the image it was made from. Intermediate images are
    /// roots, like tagged ones, until `rmi` removes them.
    pub fn put_intermediate(&self, id: &Digest, parent: Option<&Digest>) -> Result<(), StoreError> {
        if !self.has_blob(id) {
            return Err(StoreError::ImageMissing {
                name: id.to_string(),
                config: id.clone(),
            });
        }
        let _lock = self.lock_metadata()?;
        let mut all = self.read_intermediates()?;
        if all.get(id) == Some(&parent.cloned()) {
            return Ok(());
        }
        all.insert(id.clone(), parent.cloned());
        self.write_json(&self.intermediates_file(), &all)
    }

    /// Forgets an intermediate image; true if it was one.
    pub fn remove_intermediate(&self, id: &Digest) -> Result<bool, StoreError> {
        let _lock = self.lock_metadata()?;
        let mut all = self.read_intermediates()?;
        if all.remove(id).is_none() {
            return Ok(false);
        }
        self.write_json(&self.intermediates_file(), &all)?;
        Ok(true)
    }

    /// Intermediate images and their parents.
    pub fn intermediates(&self) -> Result<BTreeMap<Digest, Option<Digest>>, StoreError> {
        self.read_intermediates()
    }

    /// Intermediate images no name points at, as `images -a` lists them
    /// (with an empty name).
    pub fn untagged_intermediates(&self) -> Result<Vec<ImageEntry>, StoreError> {
        let tagged: std::collections::BTreeSet<Digest> = self.read_tags()?.into_values().collect();
        let mut out = Vec::new();
        for id in self.read_intermediates()?.into_keys() {
            if !tagged.contains(&id) && self.has_blob(&id) {
                out.push(self.image_entry(String::new(), id)?);
            }
        }
        Ok(out)
    }

    /// The one image whose id starts with `prefix` (hex digits, at least
    /// the 12 Docker shows), among tagged and intermediate images.
    pub fn find_image_id(&self, prefix: &str) -> Result<Option<Digest>, StoreError> {
        let mut ids: std::collections::BTreeSet<Digest> = self.read_tags()?.into_values().collect();
        ids.extend(self.read_intermediates()?.into_keys());
        let mut hits = ids.into_iter().filter(|d| d.hex().starts_with(prefix));
        match (hits.next(), hits.next()) {
            (Some(id), None) if self.has_blob(&id) => Ok(Some(id)),
            (Some(_), Some(_)) => Err(StoreError::AmbiguousId {
                prefix: prefix.to_string(),
            }),
            _ => Ok(None),
        }
    }

    /// The diff_ids of an image, for callers that need its layer chain
    /// without parsing the config themselves.
    pub fn image_layers(&self, config: &Digest) -> Result<Vec<Digest>, StoreError> {
        let bytes = self.read_blob(config)?;
        Ok(parse_config(&bytes)?.rootfs.diff_ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(diff_ids: &[Digest]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap()
    }

    #[test]
    fn familiar_names() {
        assert_eq!(familiar("docker.io/library/x:1"), "x:1");
        assert_eq!(familiar("docker.io/me/x:1"), "me/x:1");
        assert_eq!(familiar("docker.io:5000/x:1"), "docker.io:5000/x:1");
        assert_eq!(
            familiar("127.0.0.1:5000/x@sha256:00"),
            "127.0.0.1:5000/x@sha256:00"
        );
    }

    /// A store holding one empty layer, and that layer.
    fn store_with_a_layer(tmp: &tempfile::TempDir) -> (Store, Digest) {
        let s = Store::open(tmp.path()).unwrap();
        let layer = s
            .import_layer(
                &tar::Builder::new(Vec::new()).into_inner().unwrap()[..],
                None,
            )
            .unwrap();
        (s, layer)
    }

    #[test]
    fn naming_the_same_image_again_writes_nothing() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let (s, layer) = store_with_a_layer(&tmp);
        let id = s.put_image(&config(&[layer])).unwrap();
        s.tag("docker.io/library/x:latest", &id).unwrap();
        let ino = || std::fs::metadata(s.images_file()).unwrap().ino();
        let before = ino();
        s.tag("docker.io/library/x:latest", &id).unwrap();
        assert_eq!(ino(), before, "images.json was rewritten");
        s.tag("docker.io/library/y:latest", &id).unwrap();
        assert_ne!(ino(), before);
        assert_eq!(
            s.resolve_tag("docker.io/library/x:latest").unwrap(),
            Some(id)
        );
    }

    #[test]
    fn tag_resolve_and_list() {
        let tmp = tempfile::tempdir().unwrap();
        let (s, layer) = store_with_a_layer(&tmp);
        assert!(matches!(
            s.put_image(&config(&[Digest::of(b"nope")])),
            Err(StoreError::LayerMissing { .. })
        ));
        let id = s.put_image(&config(&[layer])).unwrap();
        assert!(matches!(
            s.tag("busybox", &id),
            Err(StoreError::BadName { .. })
        ));
        s.tag("docker.io/library/x:latest", &id).unwrap();
        s.tag("127.0.0.1:5000/busybox:latest", &id).unwrap();
        assert_eq!(
            s.resolve_tag("docker.io/library/x:latest").unwrap(),
            Some(id.clone())
        );
        assert_eq!(s.resolve_tag("docker.io/library/y:latest").unwrap(), None);
        let list = s.images().unwrap();
        let names: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "127.0.0.1:5000/busybox:latest",
                "docker.io/library/x:latest"
            ]
        );
        assert_eq!(list[0].created.as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(list[0].size, 1024, "empty layer tar is two zero blocks");

        assert_eq!(
            s.names_of(&id).unwrap(),
            [
                "127.0.0.1:5000/busybox:latest",
                "docker.io/library/x:latest"
            ]
        );
        assert_eq!(
            s.untag("docker.io/library/x:latest").unwrap(),
            Some(id.clone())
        );
        assert_eq!(s.untag("docker.io/library/x:latest").unwrap(), None);
        assert_eq!(s.names_of(&id).unwrap(), ["127.0.0.1:5000/busybox:latest"]);
    }

    #[test]
    fn a_moved_last_name_leaves_an_untagged_image_and_digests_stick() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        let empty = tar::Builder::new(Vec::new()).into_inner().unwrap();
        let layer = s.import_layer(&empty[..], None).unwrap();
        let a = s.put_image(&config(std::slice::from_ref(&layer))).unwrap();
        let b = s.put_image(&config(&[layer.clone(), layer])).unwrap();
        s.tag("docker.io/library/x:1", &a).unwrap();
        s.tag("docker.io/library/x:2", &a).unwrap();
        s.tag("docker.io/library/x:1", &b).unwrap();
        assert!(s.intermediates().unwrap().is_empty(), "a still has x:2");
        s.tag("docker.io/library/x:2", &b).unwrap();
        assert_eq!(s.intermediates().unwrap().get(&a), Some(&None));
        assert_eq!(s.untagged_intermediates().unwrap()[0].config, a);
        s.put_untagged(&b).unwrap();
        assert!(!s.intermediates().unwrap().contains_key(&b), "b has names");

        s.add_repo_digest(&b, "h:5/x@sha256:01").unwrap();
        s.add_repo_digest(&b, "h:5/x@sha256:02").unwrap();
        s.add_repo_digest(&b, "h:5/y@sha256:02").unwrap();
        assert_eq!(
            s.repo_digests(&b).unwrap(),
            ["h:5/x@sha256:02", "h:5/y@sha256:02"]
        );
        assert!(s.repo_digests(&a).unwrap().is_empty());
    }
}
