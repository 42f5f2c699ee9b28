//! `--output type=oci|docker,dest=FILE`: exporting the built image.

use anyhow::{bail, Context as _};
use clap::ValueEnum;
use mybuild_cache::export::{export_image, ArchiveFormat, Compression};
use mybuild_cache::Store;
use mybuild_graph::Digest;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Output {
    pub format: OutputFormat,
    pub dest: PathBuf,
    /// `compression=` of the spec, else the build's `--compression` when
    /// given, else the format's default ([`Output::compression`]).
    pub compression: Option<CompressionArg>,
}

/// Layer compression of an export or push. Layers are stored
/// uncompressed; each compressed form is made once and kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    Gzip,
    Zstd,
    Uncompressed,
}

impl From<CompressionArg> for Compression {
    fn from(c: CompressionArg) -> Self {
        match c {
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Zstd => Compression::Zstd,
            CompressionArg::Uncompressed => Compression::Uncompressed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Oci,
    Docker,
}

impl Output {
    pub fn parse(spec: &str) -> anyhow::Result<Output> {
        let (mut format, mut dest, mut compression) = (None, None, None);
        for part in spec.split(',') {
            let (k, v) = part
                .split_once('=')
                .with_context(|| format!("--output {spec:?}: expected key=value, got {part:?}"))?;
            match k {
                "type" => {
                    format = Some(match v {
                        "oci" => OutputFormat::Oci,
                        "docker" => OutputFormat::Docker,
                        other => {
                            bail!("--output {spec:?}: unsupported type {other:?} (oci, docker)")
                        }
                    })
                }
                "dest" => dest = Some(PathBuf::from(v)),
                "compression" => {
                    compression = Some(CompressionArg::from_str(v, true).map_err(|_| {
                        anyhow::anyhow!(
                            "--output {spec:?}: unsupported compression {v:?} (gzip, zstd, uncompressed)"
                        )
                    })?)
                }
                // BuildKit's opt-in to clamping layer file times to
                // SOURCE_DATE_EPOCH; here a set epoch always clamps them
                // (in the layers themselves, so every output agrees).
                "rewrite-timestamp" if matches!(v, "true" | "false") => {}
                "rewrite-timestamp" => {
                    bail!("--output {spec:?}: rewrite-timestamp must be true or false")
                }
                other => bail!("--output {spec:?}: unknown key {other:?}"),
            }
        }
        let format = format.with_context(|| format!("--output {spec:?}: missing type="))?;
        let dest = dest.with_context(|| format!("--output {spec:?}: missing dest="))?;
        Ok(Output {
            format,
            dest,
            compression,
        })
    }

    /// The layer compression the archive gets: as asked, else what BuildKit's
    /// OCI exporter writes (gzip) for `type=oci`, and what `docker save`
    /// writes (plain tars, which `docker load` takes as they are, and which
    /// need no compressing) for `type=docker`.
    pub fn compression(&self) -> CompressionArg {
        self.compression.unwrap_or(match self.format {
            OutputFormat::Oci => CompressionArg::Gzip,
            OutputFormat::Docker => CompressionArg::Uncompressed,
        })
    }

    /// Writes the archive.
    pub fn write(&self, store: &Store, image: &Digest, names: &[String]) -> anyhow::Result<()> {
        let format = match self.format {
            OutputFormat::Oci => ArchiveFormat::Oci,
            OutputFormat::Docker => ArchiveFormat::Docker,
        };
        let compression = self.compression().into();
        export_image(store, image, names, format, compression, &self.dest)
            .with_context(|| format!("exporting to {}", self.dest.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_output_specs() {
        let o = Output::parse("type=oci,dest=/tmp/x.tar").unwrap();
        assert_eq!(o.format, OutputFormat::Oci);
        assert_eq!(o.dest, PathBuf::from("/tmp/x.tar"));
        assert_eq!(
            Output::parse("type=docker,dest=a").unwrap().format,
            OutputFormat::Docker
        );
        assert!(Output::parse("type=tar,dest=a").is_err());
        let z = Output::parse("type=oci,dest=a,compression=zstd").unwrap();
        assert_eq!(z.compression, Some(CompressionArg::Zstd));
        assert!(Output::parse("type=oci,dest=a,compression=lz4").is_err());
        assert!(Output::parse("type=oci").is_err());
        assert!(Output::parse("dest").is_err());
        assert!(Output::parse("type=oci,dest=a,rewrite-timestamp=true").is_ok());
        assert!(Output::parse("type=oci,dest=a,rewrite-timestamp=yes").is_err());
    }

    #[test]
    fn docker_archives_default_to_plain_tars_and_oci_to_gzip() {
        let of = |spec: &str| Output::parse(spec).unwrap().compression();
        assert_eq!(of("type=docker,dest=a"), CompressionArg::Uncompressed);
        assert_eq!(of("type=oci,dest=a"), CompressionArg::Gzip);
        assert_eq!(
            of("type=docker,dest=a,compression=gzip"),
            CompressionArg::Gzip
        );
        assert_eq!(of("type=oci,dest=a,compression=zstd"), CompressionArg::Zstd);
    }
}
