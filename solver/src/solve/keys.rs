//! Cache keys: the versioned canonical encoding of an op, its inputs' keys
//! and the digest of any content it reads.

use mybuild_graph::{Digest, KeyEncoder, Node};

/// `key(node) = H(version, op encoding, input keys in order, content digest)`.
pub fn node_key(node: &Node, input_keys: &[Digest], content: Option<&Digest>) -> Digest {
    let mut e = KeyEncoder::new();
    node.op.encode(&mut e);
    e.u64(input_keys.len() as u64);
    for k in input_keys {
        e.digest(k);
    }
    e.opt_str(content.map(|d| d.as_str()));
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mybuild_graph::Op;

    fn node(op: Op) -> Node {
        Node {
            op,
            inputs: vec![],
            name: "n".into(),
        }
    }

    #[test]
    fn key_depends_on_inputs_and_content_not_name() {
        let a = node(Op::Scratch);
        let mut b = a.clone();
        b.name = "other".into();
        let k1 = Digest::of(b"1");
        assert_eq!(
            node_key(&a, std::slice::from_ref(&k1), None),
            node_key(&b, std::slice::from_ref(&k1), None)
        );
        assert_ne!(
            node_key(&a, std::slice::from_ref(&k1), None),
            node_key(&a, &[Digest::of(b"2")], None)
        );
        assert_ne!(
            node_key(&a, std::slice::from_ref(&k1), None),
            node_key(&a, std::slice::from_ref(&k1), Some(&Digest::of(b"c")))
        );
    }
}
