//! `FROM` resolution for one build: the local store first, then the
//! registry; every answer is remembered so a tag means the same image for
//! the whole build, and each image's layers are made present once.

use super::client::RegistryClient;
use super::error::RegistryError;
use super::manifest::{manifest_config_digest, parse_diff_ids, ResolvedImage};
use super::progress::ByteProgress;
use super::reference::Reference;
use mybuild_cache::Store;
use mybuild_graph::Digest;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// What `FROM` needs to know about an image before building on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvidedImage {
    /// Fully normalised reference, e.g. `docker.io/library/alpine:latest`.
    pub reference: String,
    /// Manifest digest for registry images, config digest for local-only ones.
    pub pin: Digest,
    pub config: Vec<u8>,
    pub config_digest: Digest,
}

/// Where a provided image came from.
enum Origin {
    Local,
    Registry(Box<ResolvedImage>),
}

struct Entry {
    provided: ProvidedImage,
    origin: Origin,
}

type Cells<K, V> = Mutex<HashMap<K, Arc<OnceCell<V>>>>;

pub struct ImageProvider {
    store: Arc<Store>,
    client: RegistryClient,
    always_pull: bool,
    /// By reference and OCI architecture.
    resolved: Cells<(String, String), Arc<Entry>>,
    unpacked: Cells<(String, Option<Digest>), Vec<Digest>>,
}

impl ImageProvider {
    pub fn new(store: Arc<Store>, client: RegistryClient, always_pull: bool) -> Self {
        ImageProvider {
            store,
            client,
            always_pull,
            resolved: Mutex::default(),
            unpacked: Mutex::default(),
        }
    }

    /// The client it pulls with (a push shares its tokens and connections).
    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// Resolves `reference` once per build: the local store unless
    /// `always_pull`, else the registry.
    pub async fn resolve(&self, reference: &str) -> Result<ProvidedImage, RegistryError> {
        self.resolve_platform(reference, mybuild_graph::host_arch())
            .await
    }

    /// [`ImageProvider::resolve`] for linux/`arch`: the store's image of
    /// that platform, else the registry's (from an index).
    pub async fn resolve_platform(
        &self,
        reference: &str,
        arch: &str,
    ) -> Result<ProvidedImage, RegistryError> {
        let r = Reference::parse(reference)?;
        Ok(self.entry(&r, arch).await?.provided.clone())
    }

    /// An entry this build resolved for `r`: the one pinned to `pin`, or
    /// the host platform's without a pin.
    fn resolved_entry(&self, r: &Reference, pin: Option<&Digest>) -> Option<Arc<Entry>> {
        let name = r.to_string();
        let map = self.resolved.lock().unwrap_or_else(|p| p.into_inner());
        let mut found = map.iter().filter(|((n, _), _)| *n == name);
        match pin {
            Some(pin) => found
                .filter_map(|(_, c)| c.get().cloned())
                .find(|e| e.provided.pin == *pin),
            None => found
                .find(|((_, arch), _)| arch == mybuild_graph::host_arch())
                .and_then(|(_, c)| c.get().cloned()),
        }
    }

    /// Whether [`ImageProvider::layers`] would find every layer already
    /// unpacked (nothing to pull), for an image resolved in this build.
    /// A few small reads of layer records, so it is called inline.
    pub fn present(&self, reference: &str, pin: Option<&Digest>) -> bool {
        let Ok(r) = Reference::parse(reference) else {
            return false;
        };
        let Some(entry) = self.resolved_entry(&r, pin) else {
            return false;
        };
        let p = &entry.provided;
        parse_diff_ids(&r, &p.config_digest, &p.config, None)
            .is_ok_and(|chain| chain.iter().all(|d| self.store.snapshot_dir(d).is_some()))
    }

    /// Ensures every layer of the image is unpacked in the store and
    /// returns its diff_ids, base layer first. `pin` is the digest
    /// [`ImageProvider::resolve`] returned (possibly in an earlier build).
    /// A pull reports its bytes to `vertex` (the first caller's, when
    /// several want the same image).
    pub async fn layers(
        &self,
        reference: &str,
        pin: Option<&Digest>,
        progress: &dyn ByteProgress,
        vertex: &str,
    ) -> Result<Vec<Digest>, RegistryError> {
        let r = Reference::parse(reference)?;
        let cell = cell(&self.unpacked, (r.to_string(), pin.cloned()));
        let unpack = || self.unpack(&r, pin, progress, vertex);
        let chain = cell.get_or_try_init(unpack).await?;
        Ok(chain.clone())
    }

    async fn entry(&self, r: &Reference, arch: &str) -> Result<Arc<Entry>, RegistryError> {
        let cell = cell(&self.resolved, (r.to_string(), arch.to_string()));
        let entry = cell.get_or_try_init(|| self.lookup(r, arch)).await?;
        Ok(entry.clone())
    }

    async fn lookup(&self, r: &Reference, arch: &str) -> Result<Arc<Entry>, RegistryError> {
        if let Some(entry) = self.by_image_id(r).await? {
            return Ok(Arc::new(entry));
        }
        if !self.always_pull {
            if let Some(entry) = self.local(r, &r.to_string(), arch).await? {
                return Ok(Arc::new(entry));
            }
        }
        let img = self.client.resolve_platform(r, arch).await?;
        Ok(Arc::new(registry_entry(r.to_string(), img)))
    }

    /// `FROM 3d668fb42cbf`: an image id (or a unique prefix of at least 12
    /// digits) in the store, tagged or intermediate. Ids never reach a
    /// registry, as in Docker.
    async fn by_image_id(&self, r: &Reference) -> Result<Option<Entry>, RegistryError> {
        let Some(prefix) = r.image_id_prefix() else {
            return Ok(None);
        };
        let (store, r2, prefix) = (self.store.clone(), r.clone(), prefix.to_string());
        let what = format!("look up image id {prefix} in the local store");
        tokio::task::spawn_blocking(move || {
            let id = store
                .find_image_id(&prefix)
                .map_err(|e| RegistryError::store("find image id", &prefix, e))?;
            match id {
                Some(id) => local_by_digest(&store, &r2, &id),
                None => Ok(None),
            }
        })
        .await
        .map_err(|source| RegistryError::Task { what, source })?
    }

    /// An image tagged `name` for linux/`arch` in the store, with its config.
    async fn local(
        &self,
        r: &Reference,
        name: &str,
        arch: &str,
    ) -> Result<Option<Entry>, RegistryError> {
        let (store, name, reference) = (self.store.clone(), name.to_string(), r.to_string());
        let what = format!("look up {name} in the local store");
        let arch = arch.to_string();
        tokio::task::spawn_blocking(move || -> Result<Option<Entry>, RegistryError> {
            let Some(config_digest) = store
                .resolve_tag_for_arch(&name, &arch)
                .map_err(|e| RegistryError::store("resolve tag", &name, e))?
            else {
                return Ok(None);
            };
            let config = store
                .read_blob(&config_digest)
                .map_err(|e| RegistryError::store("read config", &config_digest, e))?;
            let provided = ProvidedImage {
                reference,
                pin: config_digest.clone(),
                config,
                config_digest,
            };
            Ok(Some(Entry {
                provided,
                origin: Origin::Local,
            }))
        })
        .await
        .map_err(|source| RegistryError::Task { what, source })?
    }

    async fn unpack(
        &self,
        r: &Reference,
        pin: Option<&Digest>,
        progress: &dyn ByteProgress,
        vertex: &str,
    ) -> Result<Vec<Digest>, RegistryError> {
        // A pin from this build's resolution reuses it; any other pin (e.g.
        // from a graph made earlier) is looked up by digest, never by tag.
        let resolved = self.resolved_entry(r, pin);
        let entry = match (pin, resolved) {
            (None, _) => self.entry(r, mybuild_graph::host_arch()).await?,
            (Some(pin), Some(e)) if e.provided.pin == *pin => e,
            (Some(pin), _) => Arc::new(self.pinned(r, pin).await?),
        };
        match &entry.origin {
            Origin::Local => self.local_chain(&entry.provided),
            Origin::Registry(img) => self.pull(r, img, progress, vertex).await,
        }
    }

    /// The image a pin from an earlier resolution names, when the tag has
    /// moved since: from the store if that manifest (or, for local-only
    /// images, that config) is there, else from the registry by digest.
    async fn pinned(&self, r: &Reference, pin: &Digest) -> Result<Entry, RegistryError> {
        if !self.always_pull {
            let (store, r2, pin2) = (self.store.clone(), r.clone(), pin.clone());
            let what = format!("look up {pin} in the local store");
            let local = tokio::task::spawn_blocking(move || local_by_digest(&store, &r2, &pin2))
                .await
                .map_err(|source| RegistryError::Task { what, source })??;
            if let Some(entry) = local {
                return Ok(entry);
            }
        }
        let by_digest = Reference {
            tag: None,
            digest: Some(pin.clone()),
            ..r.clone()
        };
        let img = self.client.resolve(&by_digest).await?;
        Ok(registry_entry(by_digest.to_string(), img))
    }

    /// A local image's layers must already be unpacked: there is nowhere
    /// to fetch them from.
    fn local_chain(&self, p: &ProvidedImage) -> Result<Vec<Digest>, RegistryError> {
        let r = Reference::parse(&p.reference)?;
        let chain = parse_diff_ids(&r, &p.config_digest, &p.config, None)?;
        if let Some(missing) = chain.iter().find(|d| self.store.snapshot_dir(d).is_none()) {
            return Err(RegistryError::LocalLayerMissing {
                reference: p.reference.clone(),
                diff_id: missing.clone(),
            });
        }
        Ok(chain)
    }

    /// Pulls, then records the image (config, and the manifest so a pin
    /// resolves offline) and tags it so later builds find it offline.
    async fn pull(
        &self,
        r: &Reference,
        img: &ResolvedImage,
        progress: &dyn ByteProgress,
        vertex: &str,
    ) -> Result<Vec<Digest>, RegistryError> {
        let chain = self
            .client
            .pull_layers(&self.store, img, progress, vertex)
            .await?;
        let (store, name) = (self.store.clone(), r.to_string());
        let (config, manifest) = (img.config.clone(), img.manifest.clone());
        let what = format!("record image {r}");
        tokio::task::spawn_blocking(move || -> Result<(), RegistryError> {
            let err = |op, e| RegistryError::store(op, &name, e);
            let config_digest = store.put_image(&config).map_err(|e| err("put image", e))?;
            store
                .put_blob(&manifest)
                .map_err(|e| err("put manifest", e))?;
            // Under the platform the image is for, which a pull for
            // --platform may not be the host's.
            let arch = config_arch(&config).unwrap_or(mybuild_graph::host_arch().to_string());
            (store.tag_for_arch(&name, &arch, &config_digest)).map_err(|e| err("tag", e))
        })
        .await
        .map_err(|source| RegistryError::Task { what, source })??;
        Ok(chain)
    }
}

/// A stored blob named by `pin`: a manifest whose config is stored, or a
/// config itself. Anything else (or nothing) is `None`.
fn local_by_digest(
    store: &Store,
    r: &Reference,
    pin: &Digest,
) -> Result<Option<Entry>, RegistryError> {
    if !store.has_blob(pin) {
        return Ok(None);
    }
    let bytes = store
        .read_blob(pin)
        .map_err(|e| RegistryError::store("read blob", pin, e))?;
    let (config_digest, config) = match manifest_config_digest(&bytes) {
        Some(d) if store.has_blob(&d) => {
            let config = store
                .read_blob(&d)
                .map_err(|e| RegistryError::store("read config", &d, e))?;
            (d, config)
        }
        Some(_) => return Ok(None),
        None if parse_diff_ids(r, pin, &bytes, None).is_ok() => (pin.clone(), bytes),
        None => return Ok(None),
    };
    let provided = ProvidedImage {
        reference: r.to_string(),
        pin: pin.clone(),
        config,
        config_digest,
    };
    Ok(Some(Entry {
        provided,
        origin: Origin::Local,
    }))
}

/// An image config's `architecture`.
fn config_arch(config: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(config).ok()?;
    Some(value.get("architecture")?.as_str()?.to_string())
}

fn registry_entry(reference: String, img: ResolvedImage) -> Entry {
    let provided = ProvidedImage {
        reference,
        pin: img.manifest_digest.clone(),
        config: img.config.clone(),
        config_digest: img.config_digest.clone(),
    };
    Entry {
        provided,
        origin: Origin::Registry(Box::new(img)),
    }
}

/// The once-cell for `key`, created on first use; the map lock is never
/// held across an await.
fn cell<K: std::hash::Hash + Eq, V>(cells: &Cells<K, V>, key: K) -> Arc<OnceCell<V>> {
    let mut map = cells.lock().unwrap_or_else(|p| p.into_inner());
    map.entry(key).or_default().clone()
}
