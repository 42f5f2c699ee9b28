//! `--output` (`-o`) as buildx reads it: `type=oci|docker|tar,dest=FILE`
//! (`-` or no dest: standard output), `type=local,dest=DIR`,
//! `type=image[,name=...][,push=true]`, `type=registry` (an image output
//! that pushes), and the shorthands `-o DIR` (local) and `-o -` (tar to
//! standard output). Writing them: archives through the store's exporter,
//! filesystems through [`crate::rootfs`].

use anyhow::{bail, Context as _};
use clap::ValueEnum;
use mybuild_cache::export::{export_image, export_index, ArchiveFormat, Compressing, Compression};
use mybuild_cache::Store;
use mybuild_graph::Digest;
use mybuild_registry::Reference;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Output {
    pub kind: OutputKind,
    pub dest: Dest,
    /// `compression=` of the spec, else the build's `--compression` when
    /// given, else the format's default ([`Output::compression`]).
    pub compression: Option<CompressionArg>,
    /// `force-compression=true`: layers the store holds compressed another
    /// way are converted too (BuildKit's option; pushes always convert).
    pub force_compression: bool,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputKind {
    /// An OCI image layout in a tar.
    Oci,
    /// What `docker save` writes.
    Docker,
    /// The final filesystem as one tar stream.
    Tar,
    /// The final filesystem written into a directory.
    Local,
    /// The image in the store under `names` (the `-t` names when empty),
    /// pushed to their registries when `push`.
    Image { names: Vec<String>, push: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// `type=image`: the store is the destination.
    Store,
    Stdout,
    Path(PathBuf),
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dest::Store => f.write_str("image store"),
            Dest::Stdout => f.write_str("standard output"),
            Dest::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Splits a spec into its fields as buildx's CSV reader does: commas
/// separate, double quotes group (`"name=a,b"` or `name="a,b"`), `""`
/// inside quotes is one quote.
fn fields(spec: &str) -> anyhow::Result<Vec<String>> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if quoted {
        bail!("--output {spec:?}: unterminated quote");
    }
    out.push(cur);
    Ok(out)
}

/// Go's `strconv.ParseBool`, which buildx reads `push=` with.
fn parse_bool(spec: &str, key: &str, v: &str) -> anyhow::Result<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => bail!("--output {spec:?}: {key}={v:?} is not a boolean"),
    }
}

/// The `key=value` attributes of a spec after `type=`.
#[derive(Default)]
struct Attrs {
    dest: Option<String>,
    compression: Option<CompressionArg>,
    force_compression: bool,
    names: Option<Vec<String>>,
    push: Option<bool>,
}

impl Attrs {
    fn read(spec: &str, kind: &str, fields: &[String]) -> anyhow::Result<Attrs> {
        let mut a = Attrs::default();
        let image = matches!(kind, "image" | "registry");
        for field in fields {
            let (k, v) = field
                .split_once('=')
                .with_context(|| format!("--output {spec:?}: expected key=value, got {field:?}"))?;
            match k.trim().to_ascii_lowercase().as_str() {
                "type" => {}
                "dest" if !image => a.dest = Some(v.to_string()),
                "compression" if kind != "local" && kind != "tar" => {
                    a.compression = Some(CompressionArg::from_str(v, true).map_err(|_| {
                        anyhow::anyhow!(
                            "--output {spec:?}: unsupported compression {v:?} (gzip, zstd, uncompressed)"
                        )
                    })?)
                }
                "force-compression" if kind != "local" && kind != "tar" => {
                    a.force_compression = parse_bool(spec, "force-compression", v)?
                }
                // BuildKit's opt-in to clamping layer file times to
                // SOURCE_DATE_EPOCH; here a set epoch always clamps them
                // (in the layers themselves, so every output agrees).
                "rewrite-timestamp" if matches!(v, "true" | "false") => {}
                "rewrite-timestamp" => {
                    bail!("--output {spec:?}: rewrite-timestamp must be true or false")
                }
                "name" if image => {
                    let names = v.split(',').map(str::trim).filter(|n| !n.is_empty());
                    a.names = Some(names.map(|n| normalised(spec, n)).collect::<Result<_, _>>()?);
                }
                "push" if image => a.push = Some(parse_bool(spec, "push", v)?),
                other => bail!("--output {spec:?}: unknown key {other:?} for type={kind}"),
            }
        }
        Ok(a)
    }
}

impl Output {
    pub fn parse(spec: &str) -> anyhow::Result<Output> {
        let fields = fields(spec)?;
        // buildx: one field that is not `type=...` is a destination.
        if let [only] = &fields[..] {
            if only == spec && !spec.starts_with("type=") {
                return Ok(shorthand(spec));
            }
        }
        let kind = fields
            .iter()
            .find_map(|f| f.strip_prefix("type="))
            .with_context(|| format!("--output {spec:?}: missing type="))?;
        let a = Attrs::read(spec, kind, &fields)?;
        let (kind, dest) = match kind {
            "oci" => (OutputKind::Oci, file_dest(a.dest)),
            "tar" => (OutputKind::Tar, file_dest(a.dest)),
            // buildx loads a `type=docker` without dest into Docker; the
            // store is this builder's Docker.
            "docker" => match a.dest {
                Some(d) => (OutputKind::Docker, file_dest(Some(d))),
                None => (image(a.names, false), Dest::Store),
            },
            "local" => (OutputKind::Local, local_dest(a.dest)?),
            "image" => (image(a.names, a.push.unwrap_or(false)), Dest::Store),
            "registry" => (image(a.names, a.push.unwrap_or(true)), Dest::Store),
            other => bail!(
                "--output {spec:?}: unsupported type {other:?} (local, tar, oci, docker, image, registry)"
            ),
        };
        Ok(Output {
            kind,
            dest,
            compression: a.compression,
            force_compression: a.force_compression,
        })
    }

    /// The layer compression the archive gets: as asked, else what BuildKit's
    /// OCI exporter writes (gzip) for `type=oci`, and what `docker save`
    /// writes (plain tars, which `docker load` takes as they are, and which
    /// need no compressing) for `type=docker`.
    pub fn compression(&self) -> CompressionArg {
        self.compression.unwrap_or(match self.kind {
            OutputKind::Docker => CompressionArg::Uncompressed,
            _ => CompressionArg::Gzip,
        })
    }

    /// What an archive's layers become: new ones in [`Output::compression`],
    /// stored compressed ones as they are unless `force-compression=true`.
    fn compressing(&self) -> Compressing {
        let c = Compression::from(self.compression());
        if self.force_compression {
            c.forced()
        } else {
            c.preferred()
        }
    }

    /// The names an image output pushes: its own, else the `-t` ones.
    pub fn pushes<'a>(&'a self, tags: &'a [String]) -> &'a [String] {
        match &self.kind {
            OutputKind::Image { names, push: true } if names.is_empty() => tags,
            OutputKind::Image { names, push: true } => names,
            _ => &[],
        }
    }

    /// Writes the output: the archive of `image` (its manifest with
    /// `annotations`) or its filesystem, or, for an image output, its own
    /// names in the store (as linux/`arch`'s image of each name).
    pub fn write(
        &self,
        store: &Store,
        image: &Digest,
        names: &[String],
        annotations: &BTreeMap<String, String>,
        arch: &str,
    ) -> anyhow::Result<()> {
        let format = match &self.kind {
            OutputKind::Oci => ArchiveFormat::Oci,
            OutputKind::Docker => ArchiveFormat::Docker,
            OutputKind::Tar | OutputKind::Local => return self.write_rootfs(store, image),
            OutputKind::Image { names, .. } => {
                for name in names {
                    store.tag_for_arch(name, arch, image)?;
                }
                return Ok(());
            }
        };
        let compression = self.compressing();
        self.archive_to_dest(store, |dest| {
            export_image(store, image, names, annotations, format, compression, dest)
        })
    }

    /// A multi-platform build's `type=oci` output: one OCI layout whose
    /// index.json names the index of `images` (`(architecture, image)`);
    /// the index's digest.
    pub fn write_index(
        &self,
        store: &Store,
        images: &[(String, Digest)],
        names: &[String],
        annotations: &BTreeMap<String, String>,
    ) -> anyhow::Result<Digest> {
        let compression = self.compressing();
        self.archive_to_dest(store, |dest| {
            export_index(store, images, names, annotations, compression, dest)
        })
    }

    /// Runs `export` on the destination file, or, for standard output, on
    /// a temp file then copied out (the exporter renames a temp file into
    /// place, which a stream cannot take).
    fn archive_to_dest<T>(
        &self,
        store: &Store,
        export: impl Fn(&Path) -> Result<T, mybuild_cache::export::ExportError>,
    ) -> anyhow::Result<T> {
        match &self.dest {
            Dest::Path(path) => {
                export(path).with_context(|| format!("exporting to {}", path.display()))
            }
            _ => {
                let tmp = store
                    .root()
                    .join(format!("v1/tmp/output-{}.tar", std::process::id()));
                let written = export(&tmp)
                    .context("exporting to standard output")
                    .and_then(|t| copy_to_stdout(&tmp).map(|()| t));
                let _ = std::fs::remove_file(&tmp);
                written
            }
        }
    }

    fn write_rootfs(&self, store: &Store, image: &Digest) -> anyhow::Result<()> {
        let chain = store.image_layers(image)?;
        let tree = crate::rootfs::merge(store, &chain)?;
        match &self.dest {
            Dest::Path(dir) if self.kind == OutputKind::Local => {
                crate::rootfs::write_dir(&tree, dir)?
            }
            Dest::Path(file) => {
                let f = std::fs::File::create(file)
                    .with_context(|| format!("creating {}", file.display()))?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                crate::rootfs::write_tar(&tree, &mut w)?;
                w.flush()
                    .with_context(|| format!("writing {}", file.display()))?;
            }
            _ => {
                let mut w = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
                crate::rootfs::write_tar(&tree, &mut w)?;
                w.flush().context("writing to standard output")?;
            }
        }
        Ok(())
    }
}

fn copy_to_stdout(file: &Path) -> anyhow::Result<()> {
    let mut f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut out = std::io::stdout().lock();
    std::io::copy(&mut f, &mut out).context("writing to standard output")?;
    out.flush().context("writing to standard output")
}

/// A `name=` as the store keys it (what `-t` names become).
fn normalised(spec: &str, name: &str) -> anyhow::Result<String> {
    Reference::parse(name)
        .map(|r| r.to_string())
        .with_context(|| format!("--output {spec:?}: invalid name {name:?}"))
}

fn image(names: Option<Vec<String>>, push: bool) -> OutputKind {
    OutputKind::Image {
        names: names.unwrap_or_default(),
        push,
    }
}

/// `-o -`: tar to standard output; `-o DIR`: local.
fn shorthand(spec: &str) -> Output {
    let (kind, dest) = match spec {
        "-" => (OutputKind::Tar, Dest::Stdout),
        dir => (OutputKind::Local, Dest::Path(PathBuf::from(dir))),
    };
    Output {
        kind,
        dest,
        compression: None,
        force_compression: false,
    }
}

/// A file destination; none or `-` is standard output (as buildx).
fn file_dest(dest: Option<String>) -> Dest {
    match dest.as_deref() {
        None | Some("" | "-") => Dest::Stdout,
        Some(p) => Dest::Path(PathBuf::from(p)),
    }
}

fn local_dest(dest: Option<String>) -> anyhow::Result<Dest> {
    match dest.as_deref() {
        None | Some("") => bail!("dest is required for local exporter"),
        Some("-") => bail!("dest cannot be stdout for local exporter"),
        Some(p) => Ok(Dest::Path(PathBuf::from(p))),
    }
}

/// What buildx checks of all outputs together: one of them at most on
/// standard output, never a terminal; a local dest that is not a file;
/// a name to push to.
pub fn check_all(outputs: &[Output], tags: &[String]) -> anyhow::Result<()> {
    let mut stdout_used = false;
    for out in outputs {
        match (&out.kind, &out.dest) {
            (OutputKind::Local, Dest::Path(dir)) if dir.exists() && !dir.is_dir() => {
                bail!("destination directory {} is a file", dir.display());
            }
            (kind, Dest::Stdout) => {
                if std::mem::replace(&mut stdout_used, true) {
                    bail!("multiple outputs configured to write to stdout");
                }
                if std::io::stdout().is_terminal() {
                    bail!(
                        "dest file is required for {} exporter. refusing to write to console",
                        kind_name(kind)
                    );
                }
            }
            (OutputKind::Image { names, push: true }, _) if names.is_empty() && tags.is_empty() => {
                bail!("an output that pushes (type=registry or push=true) needs name=REGISTRY/NAME[:TAG] or -t")
            }
            _ => {}
        }
    }
    Ok(())
}

fn kind_name(kind: &OutputKind) -> &'static str {
    match kind {
        OutputKind::Oci => "oci",
        OutputKind::Docker => "docker",
        OutputKind::Tar => "tar",
        OutputKind::Local => "local",
        OutputKind::Image { .. } => "image",
    }
}

/// Whether any output writes to standard output (which then carries
/// nothing else).
pub fn uses_stdout(outputs: &[Output]) -> bool {
    outputs.iter().any(|o| o.dest == Dest::Stdout)
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
