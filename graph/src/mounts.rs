//! `RUN --mount`: what an exec op sees besides its root filesystem. None of
//! it becomes part of the step's layer.

use crate::KeyEncoder;

/// One mount of an [`crate::ExecOp`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ExecMount {
    /// Absolute path inside the rootfs.
    pub target: String,
    pub kind: MountKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum CacheSharing {
    /// Every concurrent step uses the same directory.
    Shared,
    /// Concurrent steps get a directory of their own.
    Private,
    /// Concurrent steps wait for each other.
    Locked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum MountKind {
    /// `source` inside input `input` (the context, a stage or an image).
    /// Read-only, or with writes discarded after the step.
    Bind {
        input: u32,
        source: String,
        readwrite: bool,
    },
    /// A directory kept between builds under `id`, created with
    /// `mode`/`uid`/`gid`. Its contents never reach a cache key.
    Cache {
        id: String,
        sharing: CacheSharing,
        readonly: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// An empty tmpfs; `size` in bytes.
    Tmpfs { size: Option<u64> },
    /// The build secret `id` as a read-only file at the target (none when
    /// the target is empty) and, with `env`, in that environment variable.
    /// Its content never reaches a cache key or a layer.
    Secret {
        id: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
        env: Option<String>,
    },
    /// A socket at the target speaking the ssh-agent protocol, forwarded
    /// to the agent the build was given as `--ssh id=...`. Owned by
    /// `uid`/`gid` with `mode`. A missing optional agent mounts nothing.
    Ssh {
        id: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

impl ExecMount {
    pub fn encode(&self, e: &mut KeyEncoder) {
        e.str(&self.target);
        match &self.kind {
            MountKind::Bind {
                input,
                source,
                readwrite,
            } => {
                e.str("bind")
                    .u64(u64::from(*input))
                    .str(source)
                    .bool(*readwrite);
            }
            MountKind::Cache {
                id,
                sharing,
                readonly,
                mode,
                uid,
                gid,
            } => {
                e.str("cache")
                    .str(id)
                    .str(sharing.name())
                    .bool(*readonly)
                    .u64(u64::from(*mode))
                    .u64(u64::from(*uid))
                    .u64(u64::from(*gid));
            }
            MountKind::Tmpfs { size } => {
                e.str("tmpfs").opt_u64(*size);
            }
            MountKind::Secret {
                id,
                required,
                mode,
                uid,
                gid,
                env,
            } => {
                e.str("secret")
                    .str(id)
                    .bool(*required)
                    .u64(u64::from(*mode))
                    .u64(u64::from(*uid))
                    .u64(u64::from(*gid))
                    .opt_str(env.as_deref());
            }
            MountKind::Ssh {
                id,
                required,
                mode,
                uid,
                gid,
            } => {
                e.str("ssh")
                    .str(id)
                    .bool(*required)
                    .u64(u64::from(*mode))
                    .u64(u64::from(*uid))
                    .u64(u64::from(*gid));
            }
        }
    }

    /// The text form of `--print=graph`.
    pub(crate) fn describe(&self) -> String {
        let what = match &self.kind {
            MountKind::Bind {
                input,
                source,
                readwrite,
            } => format!(
                "bind from=input{input} source={source:?}{}",
                if *readwrite { " rw" } else { "" }
            ),
            MountKind::Cache {
                id,
                sharing,
                readonly,
                mode,
                uid,
                gid,
            } => format!(
                "cache id={id:?} sharing={} mode={mode:o} uid={uid} gid={gid}{}",
                sharing.name(),
                if *readonly { " ro" } else { "" }
            ),
            MountKind::Tmpfs { size: None } => "tmpfs".into(),
            MountKind::Tmpfs { size: Some(n) } => format!("tmpfs size={n}"),
            MountKind::Secret {
                id,
                required,
                mode,
                uid,
                gid,
                env,
            } => format!(
                "secret id={id:?} mode={mode:o} uid={uid} gid={gid}{}{}",
                if *required { " required" } else { "" },
                env.as_deref()
                    .map(|e| format!(" env={e}"))
                    .unwrap_or_default()
            ),
            MountKind::Ssh {
                id,
                required,
                mode,
                uid,
                gid,
            } => format!(
                "ssh id={id:?} mode={mode:o} uid={uid} gid={gid}{}",
                if *required { " required" } else { "" }
            ),
        };
        format!("{what} target={:?}", self.target)
    }
}

impl CacheSharing {
    pub fn name(self) -> &'static str {
        match self {
            CacheSharing::Shared => "shared",
            CacheSharing::Private => "private",
            CacheSharing::Locked => "locked",
        }
    }
}
