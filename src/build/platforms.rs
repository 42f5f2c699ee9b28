//! Several `--platform`s: one image per platform, solved one after the
//! other on the same store (a step whose key is the same for both, such as
//! a `FROM --platform=$BUILDPLATFORM` stage's, is a cache hit the second
//! time), then named, exported and pushed together as one OCI index.

use super::export::VERTEX;
use super::failure::BuildFailure;
use super::inputs::Definition;
use super::session::Session;
use crate::config;
use crate::output::{Dest, OutputKind};
use anyhow::bail;
use mybuild_frontend::CompileOptions;
use mybuild_graph::Digest;
use mybuild_solver::LogStream;

/// Each platform's architecture and image id, in `--platform` order.
pub(super) type PlatformImages = Vec<(String, Digest)>;

impl Session<'_> {
    /// Builds every platform; the digest of their index ("" after `--print`).
    pub(super) async fn build_platforms(
        &self,
        def: &Definition,
        opts: CompileOptions,
    ) -> Result<String, BuildFailure> {
        self.refuse_for_platforms()?;
        let mut images = PlatformImages::new();
        for arch in &self.opts.platforms {
            let mut opts = opts.clone();
            opts.platform = Some(arch.clone());
            opts.multi_platform = true;
            // Each platform's graph numbers its nodes from 0 again.
            let progress = self.progress.scoped(arch);
            let session = Session {
                progress: &progress,
                store: self.store.clone(),
                images: self.images.clone(),
                ..*self
            };
            let Some((config, chain)) = session.build_one(def, opts).await? else {
                continue;
            };
            let (store, epoch) = (self.store.clone(), self.opts.epoch);
            let id = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let config = config::finalize_chain(&store, config, &chain, epoch)?;
                Ok(store.put_image(&config)?)
            })
            .await
            .map_err(anyhow::Error::from)??;
            images.push((arch.clone(), id));
        }
        if images.is_empty() {
            return Ok(String::new());
        }
        Ok(self.export_platforms(&images).await?.to_string())
    }

    /// What a multi-platform build cannot do yet, refused before any step
    /// runs rather than half done.
    fn refuse_for_platforms(&self) -> anyhow::Result<()> {
        for out in &self.opts.outputs {
            let single = match (&out.kind, &out.dest) {
                (OutputKind::Docker, _) => "a docker archive holds one platform",
                (OutputKind::Tar, _) => "a filesystem tar is one platform's",
                (OutputKind::Local, Dest::Path(_)) => continue,
                (OutputKind::Local, _) => "a filesystem output is one platform's",
                (OutputKind::Oci | OutputKind::Image { .. }, _) => continue,
            };
            bail!("-o {}: {single}; build one --platform for it", out.dest);
        }
        if !self.opts.cache_to.is_empty() {
            bail!("--cache-to with several --platform values is not supported yet");
        }
        if self.opts.metadata_file.is_some() {
            bail!("--metadata-file with several --platform values is not supported yet");
        }
        Ok(())
    }

    /// Names every platform's image under each name, writes the OCI
    /// archives, pushes the index; the index digest.
    async fn export_platforms(&self, images: &PlatformImages) -> anyhow::Result<Digest> {
        self.progress.started(VERTEX, "exporting to image");
        let names = self.opts.tag_names();
        let output_names = self.opts.outputs.iter().filter_map(|o| match &o.kind {
            OutputKind::Image { names, .. } => Some(names.iter()),
            _ => None,
        });
        for name in names.iter().chain(output_names.flatten()) {
            for (arch, id) in images {
                self.store.tag_for_arch(name, arch, id)?;
            }
            self.progress
                .status(VERTEX, &format!("naming to {name} done\n"));
        }
        let to_store = self.opts.outputs.iter().any(|o| o.dest == Dest::Store);
        if names.is_empty() && (self.opts.outputs.is_empty() || to_store) {
            for (_, id) in images {
                self.store.put_untagged(id)?;
            }
        }
        self.write_platform_dirs(images).await?;
        let mut index = self.write_index_archives(images, &names).await?;
        for tag in self.pushes(&names) {
            index = Some(self.push_platforms(&tag, images).await?);
        }
        let index = match index {
            Some(d) => d,
            None => self.index_digest(images).await?,
        };
        if let Some(path) = &self.opts.iidfile {
            std::fs::write(path, index.as_str())
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        }
        self.progress.done(VERTEX);
        Ok(index)
    }

    /// Every `-o type=oci` output as one OCI layout holding the index; the
    /// index digest, when there was one.
    async fn write_index_archives(
        &self,
        images: &PlatformImages,
        names: &[String],
    ) -> anyhow::Result<Option<Digest>> {
        let mut digest = None;
        for out in &self.opts.outputs {
            if out.kind != OutputKind::Oci {
                continue;
            }
            let (store, out2, images, names) = (
                self.store.clone(),
                out.clone(),
                images.clone(),
                names.to_vec(),
            );
            let notes = self.opts.annotations.clone();
            let written = tokio::task::spawn_blocking(move || {
                out2.write_index(&store, &images, &names, &notes)
            })
            .await??;
            digest = Some(written);
            self.progress
                .status(VERTEX, &format!("exporting to {} done\n", out.dest));
        }
        Ok(digest)
    }

    /// Every `-o type=local,dest=DIR` output: each platform's filesystem in
    /// `DIR/linux_ARCH`, as BuildKit's local exporter writes several.
    async fn write_platform_dirs(&self, images: &PlatformImages) -> anyhow::Result<()> {
        for out in &self.opts.outputs {
            let (OutputKind::Local, Dest::Path(dir)) = (&out.kind, &out.dest) else {
                continue;
            };
            for (arch, id) in images {
                let mut one = out.clone();
                one.dest = Dest::Path(dir.join(format!("linux_{arch}")));
                let (store, id, arch) = (self.store.clone(), id.clone(), arch.clone());
                let notes = self.opts.annotations.clone();
                tokio::task::spawn_blocking(move || one.write(&store, &id, &[], &notes, &arch))
                    .await??;
            }
            self.progress
                .status(VERTEX, &format!("exporting to {} done\n", out.dest));
        }
        Ok(())
    }

    /// Pushes every platform's image and their index as `tag`.
    async fn push_platforms(&self, tag: &str, images: &PlatformImages) -> anyhow::Result<Digest> {
        let p = self.progress.clone();
        let log =
            move |line: String| p.log(VERTEX, LogStream::Stdout, format!("{line}\n").as_bytes());
        let p = self.progress.clone();
        let bytes = move |d: &Digest, sent, total| p.bytes(VERTEX, d.as_str(), sent, total);
        let list: Vec<_> = (images.iter())
            .map(|(arch, id)| (arch.clone(), self.push_image(id)))
            .collect();
        let client = self.images.client();
        crate::push::push_platforms(&self.store, client, tag, &list, log, bytes).await
    }

    /// The digest the index of `images` has, as a push would send it.
    async fn index_digest(&self, images: &PlatformImages) -> anyhow::Result<Digest> {
        let mut manifests = Vec::new();
        for (arch, id) in images {
            let manifest = crate::push::manifest_of(&self.store, self.push_image(id)).await?;
            manifests.push((arch.clone(), manifest));
        }
        Ok(Digest::of(&crate::push::index_json(&manifests)?))
    }
}
