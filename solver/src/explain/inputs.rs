//! Lists the components of a step's cache key ([`key_inputs`]): the op's
//! parameters one by one (each environment variable on its own, so a
//! changed build arg is named), each input's key (an image input by its
//! digest), and each context file a COPY or bind mount reads.

use super::{Component, KeyInputs};
use mybuild_graph::{Digest, Graph, KeyEncoder, NodeId, Op};

/// A step reading more context files than this records one digest for
/// the whole selection instead of a line per file, so a record stays small.
const MAX_FILES: usize = 20_000;

/// One context file as its cache key saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInput {
    /// Relative to the context root.
    pub path: String,
    /// `st_mode & S_IFMT`.
    pub kind: u32,
    /// Permission bits.
    pub mode: u32,
    /// What the key read of its body: size and hash, link target, device.
    pub body: Vec<u8>,
}

/// The files one COPY source (or bind mount) selected, and their digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub digest: Digest,
    pub files: Vec<FileInput>,
}

/// The content part of a key: its digest and what it was made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentKey {
    pub digest: Digest,
    pub selections: Vec<Selection>,
}

/// The components of the key `key` of node `id`, whose inputs had `input_keys`.
pub fn key_inputs(
    graph: &Graph,
    id: NodeId,
    input_keys: &[Digest],
    content: Option<&ContentKey>,
    key: &Digest,
) -> KeyInputs {
    let node = graph.node(id);
    let mut c = Vec::new();
    op_components(&node.op, &mut c);
    for (i, (input, k)) in node.inputs.iter().zip(input_keys).enumerate() {
        let parent = graph.node(*input);
        match &parent.op {
            Op::Image(img) => {
                let digest = img.config.as_ref().or(img.digest.as_ref());
                let value = digest.map_or_else(|| k.to_string(), Digest::to_string);
                push(&mut c, format!("base:{i}"), value, &img.reference);
            }
            _ => push(&mut c, format!("input:{i}"), k.to_string(), &parent.name),
        }
    }
    for (s, sel) in content.iter().flat_map(|c| c.selections.iter()).enumerate() {
        if sel.files.len() > MAX_FILES {
            push(&mut c, format!("context:{s}"), sel.digest.to_string(), "");
            continue;
        }
        for f in &sel.files {
            let value = format!("{} {:o} {}", kind_letter(f.kind), f.mode, body_id(&f.body));
            push(&mut c, format!("file:{s}:{}", f.path), value, "");
        }
    }
    KeyInputs {
        step: step_label(&node.name, node.op.kind()),
        key: key.clone(),
        components: c,
    }
}

/// `[build 2/4] exec` for `[build 2/4] RUN make`: the step's place, not
/// its text, which a changed build arg changes along with the key.
fn step_label(name: &str, kind: &str) -> String {
    let place = match name.split_once("] ") {
        Some((place, _)) if name.starts_with('[') => &name[..place.len() + 1],
        _ => name,
    };
    format!("{place} {kind}")
}

fn push(c: &mut Vec<Component>, name: String, value: String, note: &str) {
    c.push(Component {
        name,
        value,
        note: note.to_string(),
    });
}

fn op_components(op: &Op, c: &mut Vec<Component>) {
    let Op::Exec(x) = op else {
        push(c, "op".into(), digest_of(|e| op.encode(e)), "");
        return;
    };
    push(c, "run:args".into(), format!("{:?}", x.args), "");
    for kv in &x.env {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        push(c, format!("env:{k}"), v.to_string(), "");
    }
    push(c, "run:cwd".into(), x.cwd.clone(), "");
    push(c, "run:user".into(), x.user.clone(), "");
    push(c, "run:network".into(), format!("{:?}", x.network), "");
    let mounts = digest_of(|e| {
        for m in &x.mounts {
            m.encode(e);
        }
    });
    push(c, "run:mounts".into(), mounts, "");
    push(
        c,
        "run:hosts".into(),
        digest_of(|e| x.env_extra.encode(e)),
        "",
    );
    let clamp = x.clamp_mtime.map(|t| t.to_string()).unwrap_or_default();
    push(c, "run:clamp".into(), clamp, "");
}

fn digest_of(f: impl FnOnce(&mut KeyEncoder)) -> String {
    let mut e = KeyEncoder::new();
    f(&mut e);
    e.finish().to_string()
}

/// A short stand-in for what the key read of a body: the bytes when they
/// are few, else 16 bytes of their sha256, which tells a change apart as
/// surely and keeps a line per file short (a record may list 20 000).
fn body_id(body: &[u8]) -> String {
    use sha2::Digest as _;
    match body.len() {
        0..=16 => hex::encode(body),
        _ => hex::encode(&sha2::Sha256::digest(body)[..16]),
    }
}

fn kind_letter(kind: u32) -> char {
    match kind {
        libc::S_IFREG => 'f',
        libc::S_IFDIR => 'd',
        libc::S_IFLNK => 'l',
        libc::S_IFCHR => 'c',
        libc::S_IFBLK => 'b',
        libc::S_IFIFO => 'p',
        _ => 's',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_label_keeps_the_place_not_the_text() {
        assert_eq!(
            step_label("[build 2/4] RUN make", "exec"),
            "[build 2/4] exec"
        );
        assert_eq!(step_label("RUN x", "exec"), "RUN x exec");
    }
}
