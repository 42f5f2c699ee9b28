//! `--output type=oci|docker,dest=FILE`: exporting the built image.

use anyhow::{bail, Context as _};
use mybuild_cache::export::{export_image, ArchiveFormat, Compression};
use mybuild_cache::Store;
use mybuild_graph::Digest;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Output {
    pub format: OutputFormat,
    pub dest: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Oci,
    Docker,
}

impl Output {
    pub fn parse(spec: &str) -> anyhow::Result<Output> {
        let (mut format, mut dest) = (None, None);
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
                other => bail!("--output {spec:?}: unknown key {other:?}"),
            }
        }
        let format = format.with_context(|| format!("--output {spec:?}: missing type="))?;
        let dest = dest.with_context(|| format!("--output {spec:?}: missing dest="))?;
        Ok(Output { format, dest })
    }

    pub fn write(&self, store: &Store, image: &Digest, names: &[String]) -> anyhow::Result<()> {
        let format = match self.format {
            OutputFormat::Oci => ArchiveFormat::Oci,
            OutputFormat::Docker => ArchiveFormat::Docker,
        };
        export_image(store, image, names, format, Compression::Gzip, &self.dest)
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
        assert!(Output::parse("type=oci").is_err());
        assert!(Output::parse("dest").is_err());
    }
}
