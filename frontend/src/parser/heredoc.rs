//! Heredoc openers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`) on RUN, COPY and
//! ADD lines, possibly several on one line.

use super::error::ParseErrorKind;
use super::types::{Heredoc, Node};
use crate::shell_lex::Lexer;

/// RUN/COPY/ADD in shell form (also when nested in ONBUILD).
pub fn can_contain_heredoc(node: &Node) -> bool {
    let node = match &node.sub {
        Some(sub) if node.command() == "onbuild" => sub,
        _ => node,
    };
    matches!(node.command().as_str(), "run" | "copy" | "add") && !node.json
}

/// Every heredoc opener among the line's shell words, in order.
pub fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, ParseErrorKind> {
    let lex = Lexer {
        escape: '\\',
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: true,
    };
    let words = lex.process_words(line, &|_| None).unwrap_or_default();
    let mut docs = Vec::new();
    for w in words {
        if let Some(doc) = parse_heredoc(&w)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// Matches `^(\d*)<<(-?)\s*(["']?)([A-Za-z_][A-Za-z0-9_]*)(["']?)$`.
pub fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, ParseErrorKind> {
    let digits = word.chars().take_while(char::is_ascii_digit).count();
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let fd = word[..digits].parse().unwrap_or(0);
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start();
    let (open, rest) = split_quote(rest, true);
    let (close, name) = split_quote(rest, false);
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Ok(None);
    }
    if open != close {
        return Err(ParseErrorKind::HeredocQuotes(word.to_string()));
    }
    Ok(Some(Heredoc {
        name: name.to_string(),
        content: String::new(),
        expand: open.is_none(),
        chomp,
        fd,
    }))
}

fn split_quote(s: &str, front: bool) -> (Option<char>, &str) {
    let c = if front {
        s.chars().next()
    } else {
        s.chars().last()
    };
    match c {
        Some(q @ ('"' | '\'')) => {
            if front {
                (Some(q), &s[1..])
            } else {
                (Some(q), &s[..s.len() - 1])
            }
        }
        _ => (None, s),
    }
}

/// `<<-` bodies lose the leading tabs of every line.
pub fn chomp(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_several_openers_with_quotes_and_chomp() {
        let docs = heredocs_from_line("RUN cat <<EOF >a && cat <<-'EOT' > b 3<<\"X\"").unwrap();
        let names: Vec<_> = docs
            .iter()
            .map(|d| (d.name.as_str(), d.expand, d.chomp, d.fd))
            .collect();
        assert_eq!(
            names,
            vec![
                ("EOF", true, false, 0),
                ("EOT", false, true, 0),
                ("X", false, false, 3)
            ]
        );
    }

    #[test]
    fn ignores_quoted_openers_and_rejects_mismatched_quotes() {
        assert!(heredocs_from_line("RUN echo '<<EOF'").unwrap().is_empty());
        assert!(parse_heredoc("<<\"EOF'").is_err());
        assert!(parse_heredoc("<<").unwrap().is_none());
    }

    #[test]
    fn chomp_strips_leading_tabs_per_line() {
        assert_eq!(chomp("\t\ta\n\tb\n c\n"), "a\nb\n c\n");
    }
}
