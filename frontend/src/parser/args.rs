//! Per-instruction argument parsers: how the text after a keyword is split.
//!
//! Each instruction has a fixed shape (JSON-or-shell, whitespace list,
//! key=value pairs, ...). Quotes are kept as written; only JSON strings are
//! decoded here.

use super::error::ParseErrorKind;
use super::types::Node;

/// What an argument parser produced.
#[derive(Default)]
struct Parsed {
    args: Vec<String>,
    json: bool,
    sub: Option<Box<Node>>,
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{b}' | '\u{c}' | '\r')
}

/// Parses one logical line into a node (lines and heredocs are filled in by
/// the scanner).
pub fn node_from_line(line: &str, escape: char) -> Result<Node, ParseErrorKind> {
    let line = line.trim();
    let (keyword, rest) = match line.find(is_blank) {
        Some(i) => (&line[..i], line[i..].trim_start_matches(is_blank)),
        None => (line, ""),
    };
    let (rest, flags) = extract_flags(rest);
    let rest = rest.trim();
    let parsed = match keyword.to_ascii_lowercase().as_str() {
        "add" | "copy" | "volume" => maybe_json_to_list(rest)?,
        "arg" => Parsed {
            args: words(rest, escape),
            ..Default::default()
        },
        "cmd" | "entrypoint" | "run" | "shell" => maybe_json(rest)?,
        "env" | "label" => name_val(rest, keyword, escape)?,
        "expose" | "from" => Parsed {
            args: split_blank(rest),
            ..Default::default()
        },
        "healthcheck" => health(rest)?,
        "maintainer" | "stopsignal" | "user" | "workdir" => string(rest),
        "onbuild" => sub_command(rest, escape)?,
        _ => Parsed::default(),
    };
    Ok(Node {
        keyword: keyword.to_string(),
        flags,
        args: parsed.args,
        json: parsed.json,
        sub: parsed.sub,
        heredocs: Vec::new(),
        original: line.to_string(),
        start_line: 0,
        end_line: 0,
    })
}

fn string(rest: &str) -> Parsed {
    let args = if rest.is_empty() {
        vec![]
    } else {
        vec![rest.to_string()]
    };
    Parsed {
        args,
        ..Default::default()
    }
}

fn split_blank(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return vec![];
    }
    rest.split(is_blank)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn sub_command(rest: &str, escape: char) -> Result<Parsed, ParseErrorKind> {
    if rest.is_empty() {
        return Ok(Parsed::default());
    }
    let child = node_from_line(rest, escape)?;
    Ok(Parsed {
        sub: Some(Box::new(child)),
        ..Default::default()
    })
}

/// `Ok(None)` when the text is not a JSON array at all (then it is shell
/// form); an error only for a valid array holding a non-string.
fn json_array(rest: &str) -> Result<Option<Vec<String>>, ParseErrorKind> {
    let t = rest.trim_start();
    if !t.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(t) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(ParseErrorKind::NotStringArray(rest.to_string())),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn maybe_json(rest: &str) -> Result<Parsed, ParseErrorKind> {
    if rest.is_empty() {
        return Ok(Parsed::default());
    }
    Ok(match json_array(rest)? {
        Some(args) => Parsed {
            args,
            json: true,
            sub: None,
        },
        None => string(rest),
    })
}

fn maybe_json_to_list(rest: &str) -> Result<Parsed, ParseErrorKind> {
    Ok(match json_array(rest)? {
        Some(args) => Parsed {
            args,
            json: true,
            sub: None,
        },
        None => Parsed {
            args: split_blank(rest),
            ..Default::default()
        },
    })
}

/// `HEALTHCHECK [flags] TYPE rest`: the type word, then CMD-like arguments.
fn health(rest: &str) -> Result<Parsed, ParseErrorKind> {
    let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if sep == 0 {
        return Ok(Parsed::default());
    }
    let typ = rest[..sep].to_string();
    let mut cmd = maybe_json(rest[sep..].trim_start())?;
    cmd.args.insert(0, typ);
    Ok(cmd)
}

/// ENV and LABEL: `key=value ...` pairs, or the legacy `key value` form.
fn name_val(rest: &str, keyword: &str, escape: char) -> Result<Parsed, ParseErrorKind> {
    let ws = words(rest, escape);
    if ws.is_empty() {
        return Ok(Parsed::default());
    }
    let mut args = Vec::new();
    if !ws[0].contains('=') {
        let Some(i) = rest.find(is_blank) else {
            return Err(ParseErrorKind::MissingValue(keyword.to_ascii_uppercase()));
        };
        let value = rest[i..].trim_start_matches(is_blank);
        args.extend([rest[..i].to_string(), value.to_string(), String::new()]);
        return Ok(Parsed {
            args,
            ..Default::default()
        });
    }
    for w in ws {
        let Some((k, v)) = w.split_once('=') else {
            return Err(ParseErrorKind::MissingEquals(w));
        };
        args.extend([k.to_string(), v.to_string(), "=".to_string()]);
    }
    Ok(Parsed {
        args,
        ..Default::default()
    })
}

/// Splits on unquoted whitespace, keeping quotes and escapes as written.
pub fn words(rest: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            None => {
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
                if c == escape {
                    match chars.next() {
                        None => continue,
                        Some(n) => {
                            word.push(c);
                            word.push(n);
                            continue;
                        }
                    }
                }
                word.push(c);
            }
            Some(q) => {
                if c == q {
                    quote = None;
                }
                if c == escape && q != '\'' {
                    match chars.next() {
                        None => continue,
                        Some(n) => {
                            word.push(c);
                            word.push(n);
                            continue;
                        }
                    }
                }
                word.push(c);
            }
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Leading `--name[=value]` words, until the first word that is not a flag
/// or a bare `--`. Returns the rest of the line and the flags.
pub fn extract_flags(line: &str) -> (&str, Vec<String>) {
    let mut flags = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &line[pos..];
        let trimmed = rest.trim_start();
        pos += rest.len() - trimmed.len();
        if !trimmed.starts_with("--") {
            return (trimmed, flags);
        }
        let (word, len) = flag_word(trimmed);
        pos += len;
        if word == "--" {
            return (&line[pos..], flags);
        }
        if !word.is_empty() {
            flags.push(word);
        }
        if pos >= line.len() {
            return ("", flags);
        }
    }
}

/// One flag word with quote removal; returns it and its byte length.
fn flag_word(s: &str) -> (String, usize) {
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        match quote {
            None if c.is_whitespace() => return (word, i),
            None if c == '\'' || c == '"' => quote = Some(c),
            Some(q) if c == q => quote = None,
            _ if c == '\\' => match it.next() {
                Some((_, n)) => word.push(n),
                None => quote = None,
            },
            _ => word.push(c),
        }
    }
    (word, s.len())
}
