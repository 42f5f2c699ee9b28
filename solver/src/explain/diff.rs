//! Diffing a missed step's [`KeyInputs`] against earlier records of the
//! same step, component by component, into [`MissReason`]s.

use super::{Component, KeyInputs};
use std::collections::BTreeMap;

/// Why a step missed the cache, against its closest earlier record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissReason {
    /// No earlier build recorded this step.
    NoRecord,
    /// The same inputs as recorded: the cache entry was pruned since.
    Pruned,
    /// A context file the step reads: what about it changed
    /// (`content`, `mode`, `type`, `added`, `removed`).
    File { path: String, changes: Vec<String> },
    /// A variable of the step's environment: a build arg or an ENV.
    Env {
        name: String,
        old: Option<String>,
        new: Option<String>,
    },
    /// The base image the step runs on resolved to another digest.
    BaseImage {
        reference: String,
        old: String,
        new: String,
    },
    /// An input step's result changed.
    Parent { name: String },
    /// Some other part of the instruction (`run:cwd`, `op`, ...).
    Instruction { part: String },
}

/// The reasons against the closest of `earlier` (fewest differing
/// components; the first of equals, so pass the newest first).
pub fn closest(now: &KeyInputs, earlier: &[KeyInputs]) -> Vec<MissReason> {
    let best = earlier
        .iter()
        .map(|old| diff(now, old))
        .min_by_key(Vec::len);
    match best {
        None => vec![MissReason::NoRecord],
        Some(reasons) if reasons.is_empty() => vec![MissReason::Pruned],
        Some(reasons) => reasons,
    }
}

fn diff(now: &KeyInputs, old: &KeyInputs) -> Vec<MissReason> {
    let before: BTreeMap<&str, &Component> = old
        .components
        .iter()
        .map(|c| (c.name.as_str(), c))
        .collect();
    let after: BTreeMap<&str, &Component> = now
        .components
        .iter()
        .map(|c| (c.name.as_str(), c))
        .collect();
    let mut reasons = Vec::new();
    for c in &now.components {
        match before.get(c.name.as_str()) {
            Some(o) if o.value == c.value => {}
            o => reasons.push(reason(c, o.map(|o| o.value.as_str()), Some(&c.value))),
        }
    }
    for c in &old.components {
        if !after.contains_key(c.name.as_str()) {
            reasons.push(reason(c, Some(&c.value), None));
        }
    }
    reasons
}

/// The reason component `c` (of either side) differs: `old` and `new`
/// are its values before and now, `None` where it is absent.
fn reason(c: &Component, old: Option<&str>, new: Option<&str>) -> MissReason {
    let name = c.name.as_str();
    if let Some(var) = name.strip_prefix("env:") {
        return MissReason::Env {
            name: var.to_string(),
            old: old.map(str::to_string),
            new: new.map(str::to_string),
        };
    }
    if name.starts_with("base:") {
        return MissReason::BaseImage {
            reference: c.note.clone(),
            old: old.unwrap_or_default().to_string(),
            new: new.unwrap_or_default().to_string(),
        };
    }
    if name.starts_with("input:") {
        return MissReason::Parent {
            name: c.note.clone(),
        };
    }
    if let Some(rest) = name.strip_prefix("file:") {
        let path = rest.split_once(':').map_or(rest, |(_, p)| p).to_string();
        return MissReason::File {
            path,
            changes: file_changes(old, new),
        };
    }
    MissReason::Instruction {
        part: name.to_string(),
    }
}

/// Values are `<type letter> <octal mode> <body digest>`.
fn file_changes(old: Option<&str>, new: Option<&str>) -> Vec<String> {
    let (Some(old), Some(new)) = (old, new) else {
        let what = if new.is_some() { "added" } else { "removed" };
        return vec![what.to_string()];
    };
    let a: Vec<&str> = old.splitn(3, ' ').collect();
    let b: Vec<&str> = new.splitn(3, ' ').collect();
    if a.first() != b.first() {
        return vec!["type".to_string()];
    }
    let mut changes = Vec::new();
    if a.get(2) != b.get(2) {
        changes.push("content".to_string());
    }
    if a.get(1) != b.get(1) {
        changes.push("mode".to_string());
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use mybuild_graph::Digest;

    fn inputs(parts: &[(&str, &str)]) -> KeyInputs {
        KeyInputs {
            step: "[2/2] exec".into(),
            key: Digest::of(format!("{parts:?}").as_bytes()),
            components: parts
                .iter()
                .map(|(n, v)| Component {
                    name: n.to_string(),
                    value: v.to_string(),
                    note: "note".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn names_each_kind_of_change() {
        let old = inputs(&[
            ("env:V", "1"),
            ("file:0:a", "f 644 00"),
            ("file:0:b", "f 644 00"),
            ("file:0:gone", "f 644 00"),
            ("input:0", "k1"),
        ]);
        let now = inputs(&[
            ("env:V", "2"),
            ("file:0:a", "f 644 01"),
            ("file:0:b", "f 755 00"),
            ("input:0", "k2"),
        ]);
        let file = |p: &str, c: &str| MissReason::File {
            path: p.into(),
            changes: vec![c.into()],
        };
        assert_eq!(
            closest(&now, std::slice::from_ref(&old)),
            [
                MissReason::Env {
                    name: "V".into(),
                    old: Some("1".into()),
                    new: Some("2".into())
                },
                file("a", "content"),
                file("b", "mode"),
                MissReason::Parent {
                    name: "note".into()
                },
                file("gone", "removed"),
            ]
        );
    }

    #[test]
    fn the_closest_record_wins_and_equal_inputs_mean_pruned() {
        let now = inputs(&[("env:V", "2"), ("run:cwd", "/")]);
        let far = inputs(&[("env:V", "1"), ("run:cwd", "/x")]);
        let near = inputs(&[("env:V", "1"), ("run:cwd", "/")]);
        assert_eq!(closest(&now, &[far.clone(), near]).len(), 1);
        assert_eq!(closest(&now, &[]), [MissReason::NoRecord]);
        assert_eq!(closest(&now, &[now.clone(), far]), [MissReason::Pruned]);
    }
}
