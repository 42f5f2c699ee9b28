//! The op vocabulary. Ops are plain data: what to do, never how.

use crate::{Digest, KeyEncoder};

/// One build operation. Input conventions are documented per variant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Op {
    /// The empty filesystem (`FROM scratch`). No inputs.
    Scratch,
    /// A registry or local-store image. No inputs.
    Image(ImageSource),
    /// A directory handed to the solver by name (the build context). No inputs.
    Local(LocalSource),
    /// A file downloaded over HTTP(S) (`ADD <url>`), alone in a filesystem.
    /// No inputs.
    Http(HttpSource),
    /// A git repository's tree at one commit (`ADD <git url>`), alone in a
    /// filesystem. No inputs.
    Git(GitSource),
    /// A command run in a sandbox. Input 0 is the root filesystem; bind
    /// mounts name further inputs.
    Exec(ExecOp),
    /// Filesystem edits. Input 0 is the root filesystem being edited; copy
    /// actions name further inputs by index.
    File(FileOp),
    /// The inputs' layers stacked in input order (`COPY --link`: a layer
    /// made on its own, put on top of the stage without depending on it).
    Merge,
}

/// `FROM <reference>`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ImageSource {
    /// Fully normalised reference, e.g. `docker.io/library/alpine:latest`.
    pub reference: String,
    /// The digest the frontend resolved the reference to, when known: the
    /// manifest's for a registry image, the config's for a local-only one.
    /// The solver fetches by it, so a tag that moves mid-build or between
    /// compile and solve changes nothing.
    pub digest: Option<Digest>,
    /// The image's config digest (its image id), when known. It alone is
    /// the cache key: one image has one key whether it was found in the
    /// store, pulled by tag or by manifest digest, or under another name.
    #[cfg_attr(feature = "serde", serde(default))]
    pub config: Option<Digest>,
}

/// `ADD https://...`: the body of `url` as the file `/<filename>`, mode
/// 0600, dated by its `Last-Modified`. With `checksum` the body must have
/// that digest; without, the solver keys the result on the body itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HttpSource {
    pub url: String,
    pub checksum: Option<Digest>,
    pub filename: String,
}

/// `ADD https://host/repo.git#ref:subdir`: the tree of `reference` (a
/// branch, tag or commit; the remote's HEAD when `None`), or of its
/// `subdir`, at the filesystem's root. Like a download, the solver keys
/// the result on what it brought.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GitSource {
    /// The remote as written, without the `#fragment`.
    pub remote: String,
    pub reference: Option<String>,
    pub subdir: Option<String>,
    /// `ADD --keep-git-dir`: keep `.git` in the tree.
    pub keep_git_dir: bool,
    /// `ADD --checksum`: the commit the reference must resolve to (a full
    /// hash or a prefix of at least 7 hex digits).
    pub checksum: Option<String>,
}

/// A named local directory, e.g. the build context.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LocalSource {
    /// The name the solver maps to a host path (`context`).
    pub name: String,
    /// `.dockerignore` patterns, in file order.
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum NetworkMode {
    /// The host's network (BuildKit's default without CNI).
    Host,
    /// A new, empty network namespace.
    None,
}

/// `RUN`: run `args` in the rootfs of input 0; what it changes is the output.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ExecOp {
    pub args: Vec<String>,
    /// Complete environment, `KEY=value`, in image order.
    pub env: Vec<String>,
    /// Absolute working directory; created if missing.
    pub cwd: String,
    /// `user[:group]`, names or ids, resolved inside the rootfs. Empty = root.
    pub user: String,
    pub network: NetworkMode,
    /// `RUN --mount`s, in Dockerfile order. A bind names its input by index
    /// (never 0).
    pub mounts: Vec<crate::ExecMount>,
    /// Extra hosts, ulimits and /dev/shm size from the build's flags.
    #[cfg_attr(feature = "serde", serde(default))]
    pub env_extra: crate::ExecEnv,
    /// See [`FileOp::clamp_mtime`].
    #[cfg_attr(feature = "serde", serde(default))]
    pub clamp_mtime: Option<u64>,
}

/// `--chown` owner, resolved inside the destination rootfs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Owner {
    pub user: String,
    pub group: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FileOp {
    pub actions: Vec<FileAction>,
    /// `SOURCE_DATE_EPOCH`: file times in the new layer later than this
    /// (Unix seconds) are set to it before the layer is made. Part of the
    /// cache key, so a clamped layer never stands in for an unclamped one.
    #[cfg_attr(feature = "serde", serde(default))]
    pub clamp_mtime: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum FileAction {
    Copy(CopyAction),
    Mkdir(MkdirAction),
    Mkfile(MkfileAction),
}

/// `COPY`/`ADD`: copy paths of a source input into the rootfs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CopyAction {
    /// Index into the node's inputs of the source (never 0).
    pub source: u32,
    /// Paths relative to the source root, wildcards allowed. A directory
    /// source copies its contents, as Docker does.
    pub src: Vec<String>,
    /// Absolute destination. A trailing `/` (or several sources) means
    /// "into this directory".
    pub dest: String,
    pub owner: Option<Owner>,
    /// `--chmod`, applied to every copied file and directory.
    pub mode: Option<u32>,
    /// ADD: unpack local tar archives (plain, gzip, bzip2, xz) instead of copying them.
    pub extract_archives: bool,
    /// `--parents`: each source keeps its path below the root (or below a
    /// `/./` in it) under `dest`, and its wildcards may span directories.
    pub parents: bool,
    /// `--exclude` patterns (`.dockerignore` syntax), matched against paths
    /// below each source.
    pub exclude: Vec<String>,
}

/// `WORKDIR` and friends: create a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MkdirAction {
    /// Absolute path.
    pub path: String,
    pub mode: u32,
    pub parents: bool,
    pub owner: Option<Owner>,
}

/// Write a file with inline content (the documents of `COPY <<EOF`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MkfileAction {
    /// Absolute path; missing parent directories are created 0755.
    pub path: String,
    pub data: String,
    pub mode: u32,
}

impl Op {
    /// Short kind name used in keys, graph dumps and progress.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Scratch => "scratch",
            Op::Image(_) => "image",
            Op::Local(_) => "local",
            Op::Http(_) => "http",
            Op::Git(_) => "git",
            Op::Merge => "merge",
            Op::Exec(_) => "exec",
            Op::File(_) => "file",
        }
    }

    /// Writes this op's parameters (not its inputs) canonically.
    pub fn encode(&self, e: &mut KeyEncoder) {
        e.str(self.kind());
        match self {
            Op::Scratch | Op::Merge => {}
            Op::Image(i) => match &i.config {
                Some(config) => {
                    e.str("config").digest(config);
                }
                None => {
                    e.str(&i.reference)
                        .opt_str(i.digest.as_ref().map(|d| d.as_str()));
                }
            },
            Op::Local(l) => {
                e.str(&l.name).strs(&l.exclude);
            }
            Op::Http(h) => {
                e.str(&h.url)
                    .opt_str(h.checksum.as_ref().map(|d| d.as_str()))
                    .str(&h.filename);
            }
            Op::Git(g) => {
                e.str(&g.remote)
                    .opt_str(g.reference.as_deref())
                    .opt_str(g.subdir.as_deref())
                    .str(if g.keep_git_dir { "keep-git-dir" } else { "" })
                    .opt_str(g.checksum.as_deref());
            }
            Op::Exec(x) => {
                let net = match x.network {
                    NetworkMode::Host => "host",
                    NetworkMode::None => "none",
                };
                e.strs(&x.args)
                    .strs(&x.env)
                    .str(&x.cwd)
                    .str(&x.user)
                    .str(net)
                    .u64(x.mounts.len() as u64);
                for m in &x.mounts {
                    m.encode(e);
                }
                x.env_extra.encode(e);
                encode_clamp(e, x.clamp_mtime);
            }
            Op::File(f) => {
                e.u64(f.actions.len() as u64);
                for a in &f.actions {
                    a.encode(e);
                }
                encode_clamp(e, f.clamp_mtime);
            }
        }
    }
}

/// Only a clamp is encoded, so the keys of unclamped ops (and the caches
/// holding them) stay what they were before clamping existed.
fn encode_clamp(e: &mut KeyEncoder, clamp: Option<u64>) {
    if let Some(t) = clamp {
        e.str("clamp-mtime").u64(t);
    }
}

fn encode_owner(e: &mut KeyEncoder, o: &Option<Owner>) {
    match o {
        None => {
            e.opt_str(None);
        }
        Some(o) => {
            e.str(&o.user).opt_str(o.group.as_deref());
        }
    }
}

impl FileAction {
    fn encode(&self, e: &mut KeyEncoder) {
        match self {
            FileAction::Copy(c) => {
                e.str("copy").u64(c.source as u64).strs(&c.src).str(&c.dest);
                encode_owner(e, &c.owner);
                e.opt_u64(c.mode.map(u64::from))
                    .bool(c.extract_archives)
                    .bool(c.parents)
                    .strs(&c.exclude);
            }
            FileAction::Mkdir(m) => {
                e.str("mkdir")
                    .str(&m.path)
                    .u64(m.mode as u64)
                    .bool(m.parents);
                encode_owner(e, &m.owner);
            }
            FileAction::Mkfile(m) => {
                e.str("mkfile").str(&m.path).str(&m.data).u64(m.mode as u64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(op: &Op) -> Digest {
        let mut e = KeyEncoder::new();
        op.encode(&mut e);
        e.finish()
    }

    fn image(reference: &str, pin: &[u8], config: Option<&[u8]>) -> Op {
        Op::Image(ImageSource {
            reference: reference.into(),
            digest: Some(Digest::of(pin)),
            config: config.map(Digest::of),
        })
    }

    /// Issue 12 item 2: the store pins an image by its config digest and a
    /// registry by its manifest digest; both must give the same key, as
    /// must the same image under another name.
    #[test]
    fn one_image_has_one_key_however_it_was_found() {
        let pulled = image("127.0.0.1:5000/busybox:latest", b"manifest", Some(b"cfg"));
        let stored = image("127.0.0.1:5000/busybox:latest", b"cfg", Some(b"cfg"));
        let renamed = image("docker.io/library/busybox:1", b"manifest", Some(b"cfg"));
        assert_eq!(key(&pulled), key(&stored));
        assert_eq!(key(&pulled), key(&renamed));
        let other = image("127.0.0.1:5000/busybox:latest", b"manifest", Some(b"cfg2"));
        assert_ne!(key(&pulled), key(&other));
    }

    fn run(env_extra: crate::ExecEnv) -> Op {
        Op::Exec(ExecOp {
            args: vec!["true".into()],
            env: vec![],
            cwd: "/".into(),
            user: String::new(),
            network: NetworkMode::Host,
            mounts: vec![],
            env_extra,
            clamp_mtime: None,
        })
    }

    /// A RUN without --add-host/--ulimit/--shm-size keeps its old key (the
    /// pinned digest is the v3 encoding from before they existed); each
    /// setting changes the key.
    #[test]
    fn exec_env_changes_the_key_only_when_set() {
        assert_eq!(
            key(&run(Default::default())).as_str(),
            "sha256:2cd5ad21774565cda1063a327c5dc2b5495847a4a729d3ad0cc70ca90f5d685b"
        );
        let hosts = crate::ExecEnv {
            extra_hosts: vec![crate::HostEntry {
                host: "a".into(),
                ip: "10.0.0.1".into(),
            }],
            ..Default::default()
        };
        let ulimit = crate::ExecEnv {
            ulimits: vec![crate::Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048,
            }],
            ..Default::default()
        };
        let shm = crate::ExecEnv {
            shm_size: Some(128 << 20),
            ..Default::default()
        };
        let plain = key(&run(Default::default()));
        let keys = [key(&run(hosts)), key(&run(ulimit)), key(&run(shm))];
        assert!(keys.iter().all(|k| *k != plain));
        assert!(keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2]);
    }

    #[test]
    fn without_a_config_the_pin_keys_the_image() {
        let a = image("busybox", b"m1", None);
        let b = image("busybox", b"m2", None);
        assert_ne!(key(&a), key(&b));
    }

    #[test]
    fn a_clamp_changes_the_key_and_its_absence_does_not() {
        let mkdir = |clamp| {
            Op::File(FileOp {
                actions: vec![FileAction::Mkfile(MkfileAction {
                    path: "/a".into(),
                    data: String::new(),
                    mode: 0o644,
                })],
                clamp_mtime: clamp,
            })
        };
        let plain = key(&mkdir(None));
        assert_ne!(plain, key(&mkdir(Some(1_700_000_000))));
        assert_ne!(key(&mkdir(Some(1))), key(&mkdir(Some(2))));
        // Unclamped keys are the ones stores already hold.
        let mut e = KeyEncoder::new();
        e.str("file")
            .u64(1)
            .str("mkfile")
            .str("/a")
            .str("")
            .u64(0o644);
        assert_eq!(plain, e.finish());
    }
}
