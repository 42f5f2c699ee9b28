//! The one-line text a plain or tty progress view prints for a missed step,
//! shared so both word it the same way.

use super::MissReason;

/// Reasons beyond this many are counted, not listed, to keep one line.
const SHOWN: usize = 5;
/// Values (build args, digests) longer than this are cut.
const VALUE_MAX: usize = 80;

/// `cache miss: context file "a.txt" changed (content), ...`.
pub fn summary(reasons: &[MissReason]) -> String {
    let mut parts: Vec<String> = reasons.iter().take(SHOWN).map(describe).collect();
    if reasons.len() > SHOWN {
        parts.push(format!("and {} more", reasons.len() - SHOWN));
    }
    format!("cache miss: {}", parts.join(", "))
}

fn describe(r: &MissReason) -> String {
    match r {
        MissReason::NoRecord => "no earlier record of this step".into(),
        MissReason::Pruned => "inputs unchanged (the cache entry was pruned)".into(),
        MissReason::File { path, changes } => match changes.as_slice() {
            [one] if one == "added" || one == "removed" => {
                format!("context file {path:?} {one}")
            }
            _ => format!("context file {path:?} changed ({})", changes.join(", ")),
        },
        MissReason::Env { name, old, new } => format!(
            "build arg or env {name} changed ({} -> {})",
            value(old.as_deref()),
            value(new.as_deref())
        ),
        MissReason::BaseImage {
            reference,
            old,
            new,
        } => format!("base image {reference} changed ({old} -> {new})"),
        MissReason::Parent { name } => format!("parent step changed ({name})"),
        MissReason::Instruction { part } => format!("instruction changed ({})", part_name(part)),
    }
}

fn value(v: Option<&str>) -> String {
    match v {
        None => "unset".into(),
        Some(v) if v.chars().count() > VALUE_MAX => {
            let cut: String = v.chars().take(VALUE_MAX).collect();
            format!("{cut:?}...")
        }
        Some(v) => format!("{v:?}"),
    }
}

/// What a user calls each non-file, non-variable component.
pub fn part_name(part: &str) -> &str {
    match part {
        "run:args" => "command",
        "run:cwd" => "workdir",
        "run:user" => "user",
        "run:network" => "network",
        "run:mounts" => "mounts",
        "run:hosts" => "--add-host, --ulimit or --shm-size",
        "run:clamp" => "SOURCE_DATE_EPOCH",
        p if p.starts_with("context:") => "context files",
        _ => "instruction",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_names_every_kind() {
        let reasons = [
            MissReason::File {
                path: "a.txt".into(),
                changes: vec!["content".into()],
            },
            MissReason::Env {
                name: "V".into(),
                old: Some("1".into()),
                new: None,
            },
            MissReason::Parent {
                name: "[2/3] RUN x".into(),
            },
        ];
        assert_eq!(
            summary(&reasons),
            "cache miss: context file \"a.txt\" changed (content), \
             build arg or env V changed (\"1\" -> unset), parent step changed ([2/3] RUN x)"
        );
        let many = vec![MissReason::NoRecord; 7];
        assert!(summary(&many).ends_with("and 2 more"));
    }
}
