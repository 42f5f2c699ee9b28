//! The on-disk form of [`KeyInputs`]: versioned, line-based text, one
//! component a line in the order they were listed, fields separated by tabs
//! with `\`, tab and newline escaped, so any value round-trips and two
//! equal inputs always encode to the same bytes.

use super::{Component, KeyInputs};
use mybuild_graph::Digest;

const MAGIC: &str = "mybuild-key-inputs 1";

pub(super) fn encode(k: &KeyInputs) -> String {
    let mut out = format!("{MAGIC}\n{}\n{}\n", escape(&k.step), k.key);
    for c in &k.components {
        out += &format!(
            "{}\t{}\t{}\n",
            escape(&c.name),
            escape(&c.value),
            escape(&c.note)
        );
    }
    out
}

/// `None` for anything not written by [`encode`] of this version.
pub(super) fn decode(text: &str) -> Option<KeyInputs> {
    let mut lines = text.split('\n');
    if lines.next()? != MAGIC {
        return None;
    }
    let step = unescape(lines.next()?)?;
    let key = Digest::parse(lines.next()?).ok()?;
    let mut components = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let mut f = line.split('\t');
        let (name, value, note) = (f.next()?, f.next()?, f.next()?);
        components.push(Component {
            name: unescape(name)?,
            value: unescape(value)?,
            note: unescape(note)?,
        });
    }
    Some(KeyInputs {
        step,
        key,
        components,
    })
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out += "\\\\",
            '\t' => out += "\\t",
            '\n' => out += "\\n",
            '\r' => out += "\\r",
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        out.push(match chars.next()? {
            '\\' => '\\',
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            _ => return None,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_any_text() {
        let k = KeyInputs {
            step: "[2/3] exec".into(),
            key: Digest::of(b"k"),
            components: vec![Component {
                name: "env:A\tB".into(),
                value: "x\\n\ny\r".into(),
                note: String::new(),
            }],
        };
        let text = encode(&k);
        assert_eq!(decode(&text), Some(k));
        assert_eq!(decode(&text.replace("inputs 1", "inputs 2")), None);
        assert_eq!(decode("mybuild-key-inputs 1\ns\nnot a digest\n"), None);
    }
}
