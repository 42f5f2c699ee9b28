//! `RUN --mount=...`: BuildKit's mount specs (`type=bind|cache|tmpfs|secret|ssh`
//! with their options) turned into graph mounts. A bind's `from` becomes an
//! extra input of the exec node; without it a bind reads the build context.

use super::converter::Converter;
use super::error::{ConvertError, StepError};
use super::state::{resolve_path, Stage};
use mybuild_graph::{CacheSharing, ExecMount, MountKind, NodeId};

/// A spec split into its fields, before `from` is resolved.
struct Spec {
    kind: String,
    target: Option<String>,
    source: Option<String>,
    from: Option<String>,
    id: Option<String>,
    readonly: Option<bool>,
    readwrite: Option<bool>,
    sharing: Option<String>,
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
    size: Option<u64>,
    required: Option<bool>,
    env: Option<String>,
}

fn invalid(what: &'static str, value: &str) -> ConvertError {
    ConvertError::Invalid {
        what,
        value: value.to_string(),
    }
}

fn flag(value: Option<&str>, spec: &str) -> Result<bool, ConvertError> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(invalid("RUN --mount boolean option", spec)),
    }
}

fn number<T: std::str::FromStr>(value: Option<&str>, spec: &str) -> Result<T, ConvertError> {
    value
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| invalid("RUN --mount number option", spec))
}

/// The `from=` of a mount spec as written, if it has one.
pub(super) fn mount_from(spec: &str) -> Option<String> {
    parse_spec(spec).ok()?.from
}

fn parse_spec(spec: &str) -> Result<Spec, ConvertError> {
    let mut s = Spec {
        kind: "bind".into(),
        target: None,
        source: None,
        from: None,
        id: None,
        readonly: None,
        readwrite: None,
        sharing: None,
        mode: None,
        uid: None,
        gid: None,
        size: None,
        required: None,
        env: None,
    };
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let text = || {
            value
                .map(str::to_string)
                .ok_or_else(|| invalid("RUN --mount option", field))
        };
        match key.as_str() {
            "type" => s.kind = text()?,
            "target" | "dst" | "destination" => s.target = Some(text()?),
            "source" | "src" => s.source = Some(text()?),
            "from" => s.from = Some(text()?),
            "id" => s.id = Some(text()?),
            "ro" | "readonly" => s.readonly = Some(flag(value, field)?),
            "rw" | "readwrite" => s.readwrite = Some(flag(value, field)?),
            "sharing" => s.sharing = Some(text()?),
            "mode" => {
                let v = text()?;
                s.mode = Some(
                    u32::from_str_radix(&v, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| invalid("RUN --mount mode (octal)", field))?,
                );
            }
            "uid" => s.uid = Some(number(value, field)?),
            "gid" => s.gid = Some(number(value, field)?),
            "size" => {
                s.size = Some(parse_size(&text()?).ok_or_else(|| invalid("tmpfs size", field))?)
            }
            "required" => s.required = Some(flag(value, field)?),
            "env" => s.env = Some(text()?),
            _ => return Err(invalid("RUN --mount option", field)),
        }
    }
    Ok(s)
}

/// `size=` of a tmpfs: bytes, or with a k/m/g suffix.
fn parse_size(v: &str) -> Option<u64> {
    let lower = v.to_ascii_lowercase();
    let (digits, unit) = match lower.trim_end_matches('b').char_indices().last() {
        Some((i, c @ ('k' | 'm' | 'g'))) => (&lower[..i], c),
        _ => (lower.trim_end_matches('b'), ' '),
    };
    let n: u64 = digits.parse().ok()?;
    let shift = match unit {
        'k' => 10,
        'm' => 20,
        'g' => 30,
        _ => 0,
    };
    n.checked_mul(1 << shift)
}

impl Converter<'_> {
    /// The graph mounts of a RUN, with the inputs its binds read appended
    /// to `inputs` (which starts with the rootfs).
    pub(super) fn run_mounts(
        &mut self,
        stage: &Stage,
        specs: &[String],
        inputs: &mut Vec<NodeId>,
        visiting: &mut Vec<usize>,
    ) -> Result<Vec<ExecMount>, StepError> {
        let mut mounts = specs
            .iter()
            .map(|raw| self.run_mount(stage, raw, inputs, visiting))
            .collect::<Result<Vec<_>, _>>()?;
        // As BuildKit: ssh sockets without a target are numbered in order.
        let ssh = mounts
            .iter_mut()
            .filter(|m| matches!(m.kind, MountKind::Ssh { .. }));
        for (n, m) in ssh.enumerate() {
            if m.target.is_empty() {
                m.target = format!("/run/buildkit/ssh_agent.{n}");
            }
        }
        Ok(mounts)
    }

    /// One `--mount=` spec as a graph mount.
    fn run_mount(
        &mut self,
        stage: &Stage,
        raw: &str,
        inputs: &mut Vec<NodeId>,
        visiting: &mut Vec<usize>,
    ) -> Result<ExecMount, StepError> {
        let spec = parse_spec(&stage.expand(raw, self.escape)?)?;
        let abs = |p: &str| resolve_path(&stage.workdir(), p);
        let target = spec.target.as_deref().map(abs);
        let kind = match spec.kind.as_str() {
            "bind" => {
                let input = match &spec.from {
                    Some(from) => self.copy_source(from, visiting)?,
                    None => self.context_node(),
                };
                inputs.push(input);
                MountKind::Bind {
                    input: (inputs.len() - 1) as u32,
                    source: spec.source.clone().unwrap_or_else(|| "/".into()),
                    readwrite: spec.readwrite.unwrap_or(false) && spec.readonly != Some(true),
                }
            }
            "cache" => cache_kind(&spec, target.as_deref(), raw)?,
            "tmpfs" => MountKind::Tmpfs { size: spec.size },
            "secret" => secret_kind(&spec, target.as_deref(), raw)?,
            "ssh" => ssh_kind(&spec, raw)?,
            other => {
                return Err(ConvertError::Unsupported(format!("RUN --mount=type={other}")).into())
            }
        };
        let target = match (&kind, target) {
            (_, Some(t)) => t,
            // `env=` alone puts the secret in the environment only.
            (MountKind::Secret { env: Some(_), .. }, None) => String::new(),
            (MountKind::Secret { id, .. }, None) => format!("/run/secrets/{id}"),
            // Numbered by `run_mounts` once every mount is known.
            (MountKind::Ssh { .. }, None) => String::new(),
            (_, None) => return Err(invalid("RUN --mount without a target", raw).into()),
        };
        if target == "/" {
            return Err(invalid("RUN --mount target (the root cannot be covered)", raw).into());
        }
        Ok(ExecMount { target, kind })
    }
}

/// `type=cache`: needs a target, which is also its id by default.
fn cache_kind(spec: &Spec, target: Option<&str>, raw: &str) -> Result<MountKind, ConvertError> {
    if spec.from.is_some() || spec.source.is_some() {
        return Err(ConvertError::Unsupported(
            "cache mounts seeded with from=/source=".into(),
        ));
    }
    let sharing = match spec.sharing.as_deref().unwrap_or("shared") {
        "shared" => CacheSharing::Shared,
        "private" => CacheSharing::Private,
        "locked" => CacheSharing::Locked,
        other => return Err(invalid("cache mount sharing", other)),
    };
    let Some(target) = target else {
        return Err(invalid("RUN --mount without a target", raw));
    };
    Ok(MountKind::Cache {
        id: spec.id.clone().unwrap_or_else(|| target.to_string()),
        sharing,
        readonly: spec.readonly.unwrap_or(false),
        mode: spec.mode.unwrap_or(0o755),
        uid: spec.uid.unwrap_or(0),
        gid: spec.gid.unwrap_or(0),
    })
}

/// `type=secret`: the id defaults to the target's file name.
fn secret_kind(spec: &Spec, target: Option<&str>, raw: &str) -> Result<MountKind, ConvertError> {
    let id = match (&spec.id, target) {
        (Some(id), _) => id.clone(),
        (None, Some(t)) => t.rsplit('/').next().unwrap_or_default().to_string(),
        (None, None) => return Err(invalid("secret mount without an id or target", raw)),
    };
    Ok(MountKind::Secret {
        id,
        required: spec.required.unwrap_or(false),
        mode: spec.mode.unwrap_or(0o400),
        uid: spec.uid.unwrap_or(0),
        gid: spec.gid.unwrap_or(0),
        env: spec.env.clone(),
    })
}

/// `type=ssh`: the agent `id` (`default` unless named), a socket owned by
/// root with mode 0600 unless told otherwise.
fn ssh_kind(spec: &Spec, raw: &str) -> Result<MountKind, ConvertError> {
    if spec.from.is_some() || spec.source.is_some() {
        return Err(invalid("ssh mount (from= and source= do not apply)", raw));
    }
    Ok(MountKind::Ssh {
        id: spec.id.clone().unwrap_or_else(|| "default".into()),
        required: spec.required.unwrap_or(false),
        mode: spec.mode.unwrap_or(0o600),
        uid: spec.uid.unwrap_or(0),
        gid: spec.gid.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_split_into_options() {
        let s = parse_spec("type=cache,target=/c,sharing=locked,mode=0700,uid=5,ro").unwrap();
        assert_eq!(s.kind, "cache");
        assert_eq!(s.target.as_deref(), Some("/c"));
        assert_eq!(s.sharing.as_deref(), Some("locked"));
        assert_eq!(
            (s.mode, s.uid, s.readonly),
            (Some(0o700), Some(5), Some(true))
        );
        assert_eq!(parse_spec("target=/x").unwrap().kind, "bind");
        assert!(parse_spec("type=cache,bogus=1").is_err());
        assert!(parse_spec("type=cache,mode=9").is_err());
        assert!(parse_spec("type=secret,required=maybe").is_err());
    }

    #[test]
    fn sizes_take_suffixes() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("2kb"), Some(2048));
        assert_eq!(parse_size("x"), None);
    }
}
