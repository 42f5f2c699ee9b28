//! Names of images built for other platforms than the host's
//! (`--platform`, `bootstrap-busybox --platform`): `platform-images.json`
//! maps a normalised name to one image per OCI architecture. The host's
//! image of a name stays in `images.json`, so stores written before
//! multi-platform builds read as they did, and `FROM name` on the host
//! finds what it always found.

use crate::error::StoreError;
use crate::store::Store;
use mybuild_graph::Digest;
use std::collections::BTreeMap;

/// Name -> architecture -> image id.
pub type PlatformTags = BTreeMap<String, BTreeMap<String, Digest>>;

impl Store {
    fn platform_images_file(&self) -> std::path::PathBuf {
        self.images_file().with_file_name("platform-images.json")
    }

    /// Every name's images of foreign platforms.
    pub fn platform_tags(&self) -> Result<PlatformTags, StoreError> {
        Ok(self
            .read_json(&self.platform_images_file())?
            .unwrap_or_default())
    }

    /// Names `config` as `name`'s image for linux/`arch`: the ordinary
    /// name when `arch` is the host's.
    pub fn tag_for_arch(&self, name: &str, arch: &str, config: &Digest) -> Result<(), StoreError> {
        if arch == mybuild_graph::host_arch() {
            return self.tag(name, config);
        }
        self.check_tag(name, config)?;
        let _lock = self.lock_metadata()?;
        let mut all = self.platform_tags()?;
        let per_arch = all.entry(name.to_string()).or_default();
        if per_arch.get(arch) == Some(config) {
            return Ok(());
        }
        per_arch.insert(arch.to_string(), config.clone());
        self.write_json(&self.platform_images_file(), &all)
    }

    /// The image `name` names for linux/`arch`, if any.
    pub fn resolve_tag_for_arch(
        &self,
        name: &str,
        arch: &str,
    ) -> Result<Option<Digest>, StoreError> {
        if arch == mybuild_graph::host_arch() {
            return self.resolve_tag(name);
        }
        let mut all = self.platform_tags()?;
        Ok(all.get_mut(name).and_then(|m| m.remove(arch)))
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;
    use mybuild_graph::Digest;

    #[test]
    fn a_foreign_platform_has_its_own_entry_and_the_host_name_is_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let config = |arch: &str| {
            let json = format!(
                r#"{{"architecture":"{arch}","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}}}}"#
            );
            store.put_image(json.as_bytes()).unwrap()
        };
        let host = mybuild_graph::host_arch();
        let (native, foreign) = (config(host), config("s390x"));
        let name = "docker.io/library/busybox:latest";
        store.tag_for_arch(name, host, &native).unwrap();
        store.tag_for_arch(name, "s390x", &foreign).unwrap();
        assert_eq!(store.resolve_tag(name).unwrap(), Some(native.clone()));
        assert_eq!(
            store.resolve_tag_for_arch(name, host).unwrap(),
            Some(native)
        );
        assert_eq!(
            store.resolve_tag_for_arch(name, "s390x").unwrap(),
            Some(foreign.clone())
        );
        assert_eq!(store.resolve_tag_for_arch(name, "riscv64").unwrap(), None);
        assert_eq!(store.platform_tags().unwrap()[name]["s390x"], foreign);
        let missing = Digest::of(b"nothing");
        assert!(store.tag_for_arch(name, "s390x", &missing).is_err());
    }
}
