//! The reference dump of a syntax tree: one `(keyword ["--flag" ...] "arg"
//! ...)` line per instruction, strings quoted the way Go's `strconv.Quote`
//! does, so our tree can be compared byte for byte with BuildKit's fixtures.
//!
//! Heredoc bodies (absent from the reference format) are appended as
//! `(heredoc "NAME" expand=.. chomp=.. "body")` so our own fixtures cover them.

use super::types::{Dockerfile, Node};

pub fn dump(df: &Dockerfile) -> String {
    let mut out = String::new();
    for node in &df.instructions {
        out.push('(');
        out.push_str(&dump_node(node));
        out.push_str(")\n");
    }
    out
}

fn dump_node(node: &Node) -> String {
    let mut s = node.keyword.to_lowercase();
    if !node.flags.is_empty() {
        let flags: Vec<String> = node.flags.iter().map(|f| go_quote(f)).collect();
        s.push_str(&format!(" [{}]", flags.join(" ")));
    }
    if let Some(sub) = &node.sub {
        s.push_str(&format!(" ({})", dump_node(sub)));
    }
    for a in &node.args {
        s.push(' ');
        s.push_str(&go_quote(a));
    }
    for h in &node.heredocs {
        s.push_str(&format!(
            " (heredoc {} expand={} chomp={} {})",
            go_quote(&h.name),
            h.expand,
            h.chomp,
            go_quote(&h.content)
        ));
    }
    s.trim().to_string()
}

/// Double-quoted with Go escapes: `\a \b \f \n \r \t \v \\ \"`, other
/// control characters as `\xNN`/`\uNNNN`, printable Unicode as is.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() || c == '\u{feff}' => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c\t\n\u{0}♥"), "\"a\\\"b\\\\c\\t\\n\\x00♥\"");
        assert_eq!(go_quote("\u{85}"), "\"\\u0085\"");
    }
}
