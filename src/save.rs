//! `mybuild save`: images to an archive that `docker load`, `mybuild load`,
//! skopeo and umoci read, like `docker save`.

use crate::output::CompressionArg;
use crate::store::open_store;
use crate::tagging::find;
use anyhow::{bail, Context as _};
use clap::{Args, ValueEnum};
use mybuild_cache::export::{export_images, ArchiveFormat, Compression};
use mybuild_graph::Digest;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SaveFormat {
    /// `docker save` layout (an OCI layout plus manifest.json)
    Docker,
    /// OCI image layout only
    Oci,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Names or ids of the images
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Write to this file instead of standard output
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Archive layout
    #[arg(long, value_enum, default_value = "docker")]
    pub format: SaveFormat,
    /// Layer compression (docker save writes uncompressed layers)
    #[arg(long, value_enum, default_value = "uncompressed")]
    pub compression: CompressionArg,
}

pub async fn run(root: &Path, args: SaveArgs) -> anyhow::Result<()> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        bail!("refusing to write an image archive to a terminal: use -o FILE or redirect stdout");
    }
    let store = Arc::new(open_store(root)?);
    let mut images: Vec<(Digest, Vec<String>)> = Vec::new();
    for word in &args.images {
        let found = find(&store, word)?;
        let names = found.name.into_iter();
        match images.iter_mut().find(|(c, _)| *c == found.config) {
            Some((_, existing)) => existing.extend(names),
            None => images.push((found.config, names.collect())),
        }
    }
    let format = match args.format {
        SaveFormat::Docker => ArchiveFormat::Docker,
        SaveFormat::Oci => ArchiveFormat::Oci,
    };
    // What `docker save` does: every layer in the one compression.
    let compression = Compression::from(args.compression).forced();
    let (dest, to_stdout) = match &args.output {
        Some(p) => (p.clone(), false),
        None => (
            store
                .root()
                .join(format!("v1/tmp/save-{}.tar", std::process::id())),
            true,
        ),
    };
    let (store2, dest2) = (store.clone(), dest.clone());
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        export_images(&store2, &images, format, compression, &dest2)
            .with_context(|| format!("saving to {}", dest2.display()))?;
        if to_stdout {
            let copied = std::fs::File::open(&dest2)
                .and_then(|mut f| std::io::copy(&mut f, &mut std::io::stdout().lock()));
            let _ = std::fs::remove_file(&dest2);
            copied.context("writing the archive to standard output")?;
        }
        Ok(())
    })
    .await?
}
