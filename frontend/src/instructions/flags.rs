//! `--name[=value]` flags of one instruction, checked against what that
//! instruction accepts.

use super::error::InstructionError;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `--link` or `--link=true|false`.
    Bool,
    /// `--from=x`, at most once.
    Str,
    /// `--mount=...`, repeatable.
    List,
}

/// The flags given, by name.
#[derive(Debug, Default)]
pub struct Flags {
    values: BTreeMap<String, Vec<String>>,
}

impl Flags {
    pub fn parse(
        instruction: &str,
        raw: &[String],
        allowed: &[(&str, Kind)],
    ) -> Result<Self, InstructionError> {
        let mut flags = Flags::default();
        for word in raw {
            let body = word.strip_prefix("--").unwrap_or(word);
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let flag_err = |message: String| InstructionError::Flag {
                instruction: instruction.into(),
                word: format!("--{name}"),
                message,
            };
            let Some(&(_, kind)) = allowed.iter().find(|(n, _)| *n == name) else {
                return Err(flag_err(format!("unknown flag: {name}")));
            };
            let entry = flags.values.entry(name.to_string()).or_default();
            if kind != Kind::List && !entry.is_empty() {
                return Err(flag_err(format!("duplicate flag specified: {name}")));
            }
            let value = match (kind, value) {
                (Kind::Bool, None) => "true".to_string(),
                (Kind::Bool, Some(v))
                    if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") =>
                {
                    v.to_ascii_lowercase()
                }
                (Kind::Bool, Some(v)) => {
                    return Err(flag_err(format!(
                        "expecting boolean value for flag {name}, not: {v}"
                    )));
                }
                (_, None) => return Err(flag_err(format!("missing a value on flag: {name}"))),
                (_, Some(v)) => v.to_string(),
            };
            entry.push(value);
        }
        Ok(flags)
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.values.get(name).and_then(|v| v.first().cloned())
    }

    pub fn bool(&self, name: &str) -> bool {
        self.string(name).is_some_and(|v| v == "true")
    }

    pub fn list(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWED: &[(&str, Kind)] = &[
        ("from", Kind::Str),
        ("link", Kind::Bool),
        ("exclude", Kind::List),
    ];

    fn parse(words: &[&str]) -> Result<Flags, InstructionError> {
        let raw: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        Flags::parse("COPY", &raw, ALLOWED)
    }

    #[test]
    fn parses_kinds() {
        let f = parse(&["--from=build", "--link", "--exclude=a", "--exclude=b"]).unwrap();
        assert_eq!(f.string("from").as_deref(), Some("build"));
        assert!(f.bool("link"));
        assert_eq!(f.list("exclude"), vec!["a", "b"]);
        assert!(!parse(&["--link=false"]).unwrap().bool("link"));
    }

    #[test]
    fn rejects_bad_flags() {
        for (words, msg) in [
            (&["--nope"][..], "unknown flag: nope"),
            (&["--from"][..], "missing a value on flag: from"),
            (
                &["--from=a", "--from=b"][..],
                "duplicate flag specified: from",
            ),
            (
                &["--link=maybe"][..],
                "expecting boolean value for flag link, not: maybe",
            ),
        ] {
            let err = parse(words).unwrap_err().to_string();
            assert!(err.contains(msg), "{err}");
        }
    }
}
