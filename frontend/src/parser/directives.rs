//! Parser directives: `# name=value` lines at the very top of a Dockerfile.
//!
//! Only leading lines count; the first line that is not a known directive
//! (including an empty line or an ordinary comment) ends the header, so a
//! later `# escape=` is just a comment.

use super::error::ParseErrorKind;

const KNOWN: [&str; 3] = ["escape", "syntax", "check"];

pub struct Directives {
    pub escape: char,
    pub seen: Vec<(String, String)>,
    done: bool,
}

impl Directives {
    pub fn new() -> Self {
        Directives {
            escape: '\\',
            seen: Vec::new(),
            done: false,
        }
    }

    /// Looks at one physical line (leading whitespace already trimmed).
    pub fn observe(&mut self, line: &str) -> Result<(), ParseErrorKind> {
        if self.done {
            return Ok(());
        }
        let Some((name, value)) = split_directive(line) else {
            self.done = true;
            return Ok(());
        };
        let name = name.to_ascii_lowercase();
        if !KNOWN.contains(&name.as_str()) {
            self.done = true;
            return Ok(());
        }
        if self.seen.iter().any(|(n, _)| *n == name) {
            return Err(ParseErrorKind::DuplicateDirective(name));
        }
        if name == "escape" {
            self.escape = match value {
                "\\" => '\\',
                "`" => '`',
                other => return Err(ParseErrorKind::BadEscapeToken(other.to_string())),
            };
        }
        self.seen.push((name, value.to_string()));
        Ok(())
    }
}

/// The `# syntax=` frontend a Dockerfile names, when it is not Docker's own
/// Dockerfile frontend (`docker/dockerfile[-upstream]`, any tag or digest),
/// which the built-in one stands in for without a word.
pub fn external_frontend(text: &str) -> Option<String> {
    let mut d = Directives::new();
    for line in text.lines() {
        if d.observe(line.trim_start()).is_err() || d.done {
            break;
        }
    }
    let (_, value) = d.seen.iter().find(|(n, _)| n == "syntax")?;
    let name = value.split(['@', ':']).next().unwrap_or_default();
    let name = name.strip_prefix("docker.io/").unwrap_or(name);
    let own = ["docker/dockerfile", "docker/dockerfile-upstream"].contains(&name);
    (!own).then(|| value.clone())
}

/// `#\s*name\s*=\s*value\s*` with a name of `[a-zA-Z][a-zA-Z0-9]*`.
fn split_directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let name_len = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    if name_len == 0 {
        return None;
    }
    let (name, rest) = rest.split_at(name_len);
    let value = rest.trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_foreign_syntax_frontend_is_reported() {
        assert_eq!(external_frontend("FROM x\n"), None);
        for own in [
            "docker/dockerfile:1",
            "docker.io/docker/dockerfile:1.4",
            "docker/dockerfile-upstream:master",
            "docker/dockerfile@sha256:ab",
        ] {
            assert_eq!(
                external_frontend(&format!("# syntax={own}\nFROM x\n")),
                None
            );
        }
        let text = "# escape=`\n# syntax = example.com/my/frontend:1\nFROM x\n";
        assert_eq!(
            external_frontend(text).as_deref(),
            Some("example.com/my/frontend:1")
        );
        assert_eq!(external_frontend("FROM x\n# syntax=example.com/f\n"), None);
    }

    #[test]
    fn recognises_directives_until_first_other_line() {
        let mut d = Directives::new();
        d.observe("# syntax = docker/dockerfile").unwrap();
        d.observe("#escape=`").unwrap();
        assert_eq!(d.escape, '`');
        d.observe("# hello").unwrap();
        d.observe("# escape=\\").unwrap();
        assert_eq!(d.escape, '`', "directives after a comment are comments");
        assert_eq!(d.seen.len(), 2);
    }

    #[test]
    fn rejects_duplicates_and_bad_tokens() {
        let mut d = Directives::new();
        d.observe("# escape=`").unwrap();
        assert!(matches!(
            d.observe("# escape=`"),
            Err(ParseErrorKind::DuplicateDirective(_))
        ));
        let mut d = Directives::new();
        assert!(matches!(
            d.observe("# escape=x"),
            Err(ParseErrorKind::BadEscapeToken(_))
        ));
    }
}
