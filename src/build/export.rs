//! The "exporting to image" vertex of a BuildKit-mode build: the image
//! config written to the store, then its names, `--output` archives and
//! `--push`es.

use super::session::Session;
use crate::config;
use crate::output::{Dest, OutputKind};
use mybuild_graph::Digest;
use mybuild_solver::LogStream;

/// The vertex every export step reports under.
pub(super) const VERTEX: &str = "exporting";

impl Session<'_> {
    /// Writes the image of `chain` with the frontend's `config`, names,
    /// exports and pushes it; its id.
    pub(super) async fn export(
        &self,
        config: serde_json::Value,
        chain: Vec<Digest>,
    ) -> anyhow::Result<Digest> {
        self.progress.started(VERTEX, "exporting to image");
        // The layers are in the store already.
        self.progress.status(VERTEX, "exporting layers done\n");
        let (store, epoch) = (self.store.clone(), self.opts.epoch);
        let id = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let config = config::finalize_chain(&store, config, &chain, epoch)?;
            Ok(store.put_image(&config)?)
        })
        .await??;
        self.progress
            .status(VERTEX, &format!("writing image {id} done\n"));
        let names = self.opts.tag_names();
        for tag in &names {
            self.store.tag_for_arch(tag, self.target_arch(), &id)?;
            self.progress
                .status(VERTEX, &format!("naming to {tag} done\n"));
        }
        // With neither a name nor an --output (or with an image output
        // and no name), the store is where the image goes: an untagged
        // image (`<none>`), usable by its id.
        let to_store = self.opts.outputs.iter().any(|o| o.dest == Dest::Store);
        if names.is_empty() && (self.opts.outputs.is_empty() || to_store) {
            self.store.put_untagged(&id)?;
        }
        self.write_outputs(&id, &names).await?;
        let mut pushed = None;
        for tag in self.pushes(&names) {
            pushed = Some(self.push(&tag, &id).await?);
        }
        self.write_result_files(&id, pushed).await?;
        self.progress.done(VERTEX);
        Ok(id)
    }

    /// Every name to push, once: the `-t` names with `--push`, and those
    /// of each pushing image output (`type=registry`).
    pub(super) fn pushes(&self, names: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let from_flag = if self.opts.push { names } else { &[] };
        let from_outputs = self.opts.outputs.iter().flat_map(|o| o.pushes(names));
        for name in from_flag.iter().chain(from_outputs) {
            if !out.contains(name) {
                out.push(name.clone());
            }
        }
        out
    }

    /// Every `--output` archive of the image.
    async fn write_outputs(&self, id: &Digest, names: &[String]) -> anyhow::Result<()> {
        for out in &self.opts.outputs {
            let (store, id, names) = (self.store.clone(), id.clone(), names.to_vec());
            let (out2, notes) = (out.clone(), self.opts.annotations.clone());
            let arch = self.target_arch().to_string();
            tokio::task::spawn_blocking(move || out2.write(&store, &id, &names, &notes, &arch))
                .await??;
            match &out.kind {
                OutputKind::Image { names, .. } => {
                    for name in names {
                        self.progress
                            .status(VERTEX, &format!("naming to {name} done\n"));
                    }
                }
                _ => self
                    .progress
                    .status(VERTEX, &format!("exporting to {} done\n", out.dest)),
            }
        }
        Ok(())
    }

    /// Pushes the image as `tag`, its lines and byte counts under the
    /// export vertex.
    async fn push(&self, tag: &str, id: &Digest) -> anyhow::Result<Digest> {
        let p = self.progress.clone();
        let log =
            move |line: String| p.log(VERTEX, LogStream::Stdout, format!("{line}\n").as_bytes());
        let p = self.progress.clone();
        let bytes = move |d: &Digest, sent, total| p.bytes(VERTEX, d.as_str(), sent, total);
        let image = self.push_image(id);
        let client = self.images.client();
        crate::push::push_tag(&self.store, client, tag, image, log, bytes).await
    }
}
