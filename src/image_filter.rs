//! `mybuild images --filter`: Docker's image filters `dangling=true|false`,
//! `before=IMAGE`, `since=IMAGE`, `label=KEY[=VALUE]` and
//! `reference=PATTERN` (Go's `path.Match` globs over the familiar name,
//! with and without the tag). Different keys must all match; several
//! `reference`s match when any does, several `label`s when all do.

use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("bad format of filter '{0}' (expected name=value)")]
    NoValue(String),
    /// Docker names just the key.
    #[error("invalid filter '{0}'")]
    UnknownKey(String),
    #[error("invalid filter 'dangling={0}': expected true or false")]
    Dangling(String),
    #[error("invalid filter 'reference={0}': bad glob pattern")]
    BadPattern(String),
}

/// The parsed `--filter`s; `before`/`since` are still image words, which
/// the caller resolves to creation times.
#[derive(Debug, Default)]
pub struct Filters {
    pub dangling: Option<bool>,
    pub before: Option<String>,
    pub since: Option<String>,
    pub labels: Vec<(String, Option<String>)>,
    pub references: Vec<String>,
}

impl Filters {
    pub fn parse(args: &[String]) -> Result<Filters, FilterError> {
        let mut f = Filters::default();
        for arg in args {
            let (key, value) = arg
                .split_once('=')
                .ok_or_else(|| FilterError::NoValue(arg.clone()))?;
            match key {
                "dangling" => {
                    f.dangling = Some(match value.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(FilterError::Dangling(value.into())),
                    })
                }
                "before" => f.before = Some(value.into()),
                "since" => f.since = Some(value.into()),
                "label" => f.labels.push(match value.split_once('=') {
                    Some((k, v)) => (k.into(), Some(v.into())),
                    None => (value.into(), None),
                }),
                "reference" => {
                    glob_match(value, "").ok_or_else(|| FilterError::BadPattern(value.into()))?;
                    f.references.push(value.into());
                }
                _ => return Err(FilterError::UnknownKey(key.into())),
            }
        }
        Ok(f)
    }

    /// Whether an image with these labels passes every `label=` filter.
    pub fn labels_match(&self, labels: &serde_json::Value) -> bool {
        self.labels.iter().all(|(k, v)| match (labels.get(k), v) {
            (Some(have), Some(want)) => have.as_str() == Some(want.as_str()),
            (Some(_), None) => true,
            (None, _) => false,
        })
    }

    /// Whether a familiar `name:tag` passes the `reference=` filters: the
    /// whole name, or the name without its tag, matches a pattern.
    pub fn reference_matches(&self, familiar: &str, repo: &str) -> bool {
        self.references.is_empty()
            || self.references.iter().any(|p| {
                glob_match(p, familiar).unwrap_or(false) || glob_match(p, repo).unwrap_or(false)
            })
    }
}

/// Whether `created` passes `before`/`since`, given those images' times.
pub fn in_window(
    created: Option<SystemTime>,
    before: Option<SystemTime>,
    since: Option<SystemTime>,
) -> bool {
    let Some(t) = created else {
        return before.is_none() && since.is_none();
    };
    !matches!(before, Some(b) if t >= b) && !matches!(since, Some(s) if t <= s)
}

/// Go's `path.Match`: `*` is any run of non-`/` characters, `?` one of
/// them, `[a-z]`/`[^a]` a class, `\` escapes. `None` for a bad pattern.
pub fn glob_match(pattern: &str, name: &str) -> Option<bool> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    matches(&p, &n)
}

fn matches(p: &[char], n: &[char]) -> Option<bool> {
    match p.first() {
        None => Some(n.is_empty()),
        Some('*') => {
            // Try every split that keeps the star within one path element.
            let mut i = 0;
            loop {
                if matches(&p[1..], &n[i..])? {
                    return Some(true);
                }
                if i == n.len() || n[i] == '/' {
                    // The rest of the pattern must still be well formed.
                    return matches(&p[1..], &[]).map(|_| false);
                }
                i += 1;
            }
        }
        Some('?') => match n.first() {
            Some(c) if *c != '/' => matches(&p[1..], &n[1..]),
            _ => check(&p[1..]),
        },
        Some('[') => {
            let (hit, len) = class(&p[1..], n.first().copied())?;
            match n.first() {
                Some(c) if *c != '/' && hit => matches(&p[1 + len..], &n[1..]),
                _ => check(&p[1 + len..]),
            }
        }
        Some('\\') => {
            let c = *p.get(1)?;
            match n.first() {
                Some(x) if *x == c => matches(&p[2..], &n[1..]),
                _ => check(&p[2..]),
            }
        }
        Some(c) => match n.first() {
            Some(x) if x == c => matches(&p[1..], &n[1..]),
            _ => check(&p[1..]),
        },
    }
}

/// No match; `None` still when the rest of the pattern is malformed.
fn check(rest: &[char]) -> Option<bool> {
    matches(rest, &[]).map(|_| false)
}

/// A `[...]` class (after the `[`) against `c`: whether it matched, and
/// how many pattern characters the class took, the `]` included.
fn class(p: &[char], c: Option<char>) -> Option<(bool, usize)> {
    let mut i = 0;
    let negated = p.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            return Some((hit != negated, i + 1));
        }
        first = false;
        let lo = if lo == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            lo
        };
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|x| *x != ']') {
            hi = *p.get(i + 1)?;
            i += 2;
        }
        if c.is_some_and(|c| lo <= c && c <= hi) {
            hit = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn globs_match_as_go_path_match() {
        let m = |p, n| glob_match(p, n).unwrap();
        assert!(m("app*", "app:1"));
        assert!(m("app:?", "app:1"));
        assert!(!m("app:?", "app:12"));
        assert!(!m("*", "me/app"), "a star stays within one element");
        assert!(m("*/*", "me/app"));
        assert!(m("app:[0-9]", "app:1"));
        assert!(!m("app:[^0-9]", "app:1"));
        assert!(m(r"a\*", "a*"));
        assert!(glob_match("[", "x").is_none());
        assert!(glob_match("a[", "b").is_none());
    }

    #[test]
    fn filters_parse_and_match() {
        let args: Vec<String> = ["dangling=false", "label=a", "label=b=2", "reference=app*"]
            .map(String::from)
            .to_vec();
        let f = Filters::parse(&args).unwrap();
        assert_eq!(f.dangling, Some(false));
        assert!(f.labels_match(&serde_json::json!({"a": "x", "b": "2"})));
        assert!(!f.labels_match(&serde_json::json!({"a": "x", "b": "3"})));
        assert!(!f.labels_match(&serde_json::json!({"b": "2"})));
        assert!(f.reference_matches("app:1", "app"));
        assert!(!f.reference_matches("busybox:latest", "busybox"));
        let just_repo = Filters::parse(&["reference=busybox".to_string()]).unwrap();
        assert!(just_repo.reference_matches("busybox:latest", "busybox"));
        for bad in ["dangling=maybe", "nope=1", "label", "reference=["] {
            assert!(Filters::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn before_and_since_are_strict() {
        let t = |s| Some(UNIX_EPOCH + Duration::from_secs(s));
        assert!(in_window(t(5), t(6), t(4)));
        assert!(!in_window(t(6), t(6), None));
        assert!(!in_window(t(4), None, t(4)));
        assert!(in_window(None, None, None));
        assert!(!in_window(None, t(1), None));
    }
}
