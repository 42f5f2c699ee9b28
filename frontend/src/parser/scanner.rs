//! The line scanner: physical lines to logical instructions.
//!
//! Handles the BOM, CRLF, directives, comments, the escape token as line
//! continuation (comment and blank lines inside a continuation are dropped)
//! and collects heredoc bodies after the line that opens them.

use super::directives::Directives;
use super::error::{ParseError, ParseErrorKind};
use super::types::{Dockerfile, Heredoc, Node};
use super::{args, heredoc};

pub struct Scanner<'a> {
    lines: Vec<&'a str>,
    /// Index of the next physical line to read.
    pos: usize,
    directives: Directives,
}

impl<'a> Scanner<'a> {
    pub fn new(text: &'a str) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let lines = text.split_inclusive('\n').collect();
        Scanner {
            lines,
            pos: 0,
            directives: Directives::new(),
        }
    }

    pub fn run(mut self) -> Result<Dockerfile, ParseError> {
        let mut instructions = Vec::new();
        while self.pos < self.lines.len() {
            if let Some(node) = self.next_instruction()? {
                instructions.push(node);
            }
        }
        if instructions.is_empty() {
            return Err(ParseError {
                line: self.pos,
                text: String::new(),
                kind: ParseErrorKind::NoInstructions,
            });
        }
        Ok(Dockerfile {
            directives: self.directives.seen,
            escape: self.directives.escape,
            instructions,
        })
    }

    fn err(&self, line: usize, text: &str, kind: ParseErrorKind) -> ParseError {
        ParseError {
            line,
            text: text.to_string(),
            kind,
        }
    }

    /// Reads one logical line starting at `pos`; `None` for blank/comment lines.
    fn next_instruction(&mut self) -> Result<Option<Node>, ParseError> {
        let raw = trim_newline(self.lines[self.pos]);
        let first = raw.trim_start();
        self.pos += 1;
        let start = self.pos;
        self.directives
            .observe(first)
            .map_err(|k| self.err(start, raw, k))?;
        let content = if first.starts_with('#') { "" } else { first };
        let escape = self.directives.escape;
        let (content, mut end) = trim_continuation(content, escape);
        if end && content.is_empty() {
            return Ok(None);
        }
        let mut buf = content.to_string();
        while !end && self.pos < self.lines.len() {
            let raw = trim_newline(self.lines[self.pos]);
            self.pos += 1;
            self.directives
                .observe(raw)
                .map_err(|k| self.err(self.pos, raw, k))?;
            let trimmed = raw.trim_start();
            if trimmed.starts_with('#') || trimmed.is_empty() {
                continue;
            }
            let (part, e) = trim_continuation(raw, escape);
            buf.push_str(part);
            end = e;
        }
        let mut node = args::node_from_line(&buf, escape).map_err(|k| self.err(start, &buf, k))?;
        if heredoc::can_contain_heredoc(&node) && buf.contains("<<") {
            let docs = heredoc::heredocs_from_line(&buf).map_err(|k| self.err(start, &buf, k))?;
            for doc in docs {
                let doc = self
                    .read_heredoc_body(doc)
                    .map_err(|k| self.err(start, &buf, k))?;
                attach_heredoc(&mut node, doc);
            }
        }
        node.original = buf;
        node.start_line = start;
        node.end_line = self.pos;
        Ok(Some(node))
    }

    fn read_heredoc_body(&mut self, mut doc: Heredoc) -> Result<Heredoc, ParseErrorKind> {
        while self.pos < self.lines.len() {
            let raw = self.lines[self.pos];
            self.pos += 1;
            let line = trim_newline(raw);
            let candidate = if doc.chomp {
                line.trim_start_matches('\t')
            } else {
                line
            };
            if candidate == doc.name {
                return Ok(doc);
            }
            doc.content.push_str(line);
            if raw.ends_with('\n') {
                doc.content.push('\n');
            }
        }
        Err(ParseErrorKind::UnterminatedHeredoc(doc.name))
    }
}

/// ONBUILD keeps its heredocs on the nested instruction.
fn attach_heredoc(node: &mut Node, doc: Heredoc) {
    match node.sub.as_mut() {
        Some(sub) => sub.heredocs.push(doc),
        None => node.heredocs.push(doc),
    }
}

/// Strips the line terminator (any run of CR/LF at the end).
fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// If the line ends with an unescaped escape token (trailing blanks allowed),
/// returns it without the token and `false` ("continues"); else the line and
/// `true`. A line that is only the token continues as an empty string.
pub fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    let Some(before) = t.strip_suffix(escape) else {
        return (line, true);
    };
    if before.is_empty() {
        return ("", false);
    }
    if before.ends_with(escape) {
        return (line, true);
    }
    (before, false)
}
