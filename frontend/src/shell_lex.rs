//! The shell-word lexer: quote removal and `$VAR` expansion for instruction
//! arguments (FROM, COPY, ENV, LABEL, WORKDIR, USER, ...).
//!
//! It follows Dockerfile rules rather than a full POSIX shell: `'...'` keeps
//! everything literal, `"..."` expands `$` and lets the escape token escape
//! only `"`, `$` and itself, and the supported expansions are `$VAR`,
//! `${VAR}`, `${VAR:-w}`, `${VAR-w}`, `${VAR:+w}`, `${VAR+w}`, `${VAR:?w}`
//! and `${VAR?w}`. Nothing else (no command substitution) is interpreted.

/// How deeply `${a:-${b:-...}}` may nest.
pub const MAX_NESTING: usize = 64;

/// Variable lookup used during expansion.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LexError {
    #[error("expanding {word:?}: unexpected end of statement while looking for matching {what}")]
    Unterminated { word: String, what: &'static str },
    #[error("expanding {word:?}: syntax error: missing '}}'")]
    MissingBrace { word: String },
    #[error("expanding {word:?}: substitutions nested more than {MAX_NESTING} deep")]
    TooDeep { word: String },
    #[error("expanding {word:?}: syntax error: bad substitution")]
    BadSubstitution { word: String },
    #[error("expanding {word:?}: unsupported modifier ({modifier}) in substitution")]
    BadModifier { word: String, modifier: char },
    #[error("expanding {word:?}: {name}: {message}")]
    Required {
        word: String,
        name: String,
        message: String,
    },
}

impl LexError {
    /// The word that failed to expand, as written.
    pub fn word(&self) -> &str {
        match self {
            LexError::Unterminated { word, .. }
            | LexError::MissingBrace { word }
            | LexError::BadSubstitution { word }
            | LexError::TooDeep { word }
            | LexError::BadModifier { word, .. }
            | LexError::Required { word, .. } => word,
        }
    }
}

/// Lexer settings; `Lexer::new(escape)` gives the ordinary behaviour.
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    pub escape: char,
    /// Keep quote characters in the output (heredoc detection).
    pub raw_quotes: bool,
    /// Keep escape tokens in the output (heredoc detection).
    pub raw_escapes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset: bool,
}

impl Lexer {
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
        }
    }

    /// Expands one word; whitespace in the result is kept.
    pub fn process_word(&self, word: &str, env: Lookup) -> Result<String, LexError> {
        let mut w = Word::new(self, word, env);
        w.process_stop_on(None).map(|(s, _)| s)
    }

    /// Expands and splits into fields on unquoted whitespace.
    pub fn process_words(&self, word: &str, env: Lookup) -> Result<Vec<String>, LexError> {
        let mut w = Word::new(self, word, env);
        w.process_stop_on(None).map(|(_, words)| words)
    }
}

/// Field splitting state: characters from quotes and escapes never split.
#[derive(Default)]
struct Fields {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Fields {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }
    fn add_raw_char(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

struct Word<'a> {
    lex: &'a Lexer,
    src: &'a str,
    chars: Vec<char>,
    pos: usize,
    env: Lookup<'a>,
    /// `${...:-word}` levels currently open.
    depth: usize,
}

impl<'a> Word<'a> {
    fn new(lex: &'a Lexer, src: &'a str, env: Lookup<'a>) -> Self {
        Word {
            lex,
            src,
            chars: src.chars().collect(),
            pos: 0,
            env,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn unterminated(&self, what: &'static str) -> LexError {
        LexError::Unterminated {
            word: self.src.to_string(),
            what,
        }
    }

    fn process_stop_on(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), LexError> {
        let mut out = String::new();
        let mut fields = Fields::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.next();
                return Ok((out, fields.finish()));
            }
            match c {
                '\'' => {
                    let s = self.single_quote()?;
                    fields.add_raw_string(&s);
                    out.push_str(&s);
                }
                '"' => {
                    let s = self.double_quote()?;
                    fields.add_raw_string(&s);
                    out.push_str(&s);
                }
                '$' => {
                    let s = self.dollar()?;
                    fields.add_string(&s);
                    out.push_str(&s);
                }
                _ => {
                    self.next();
                    if c == self.lex.escape {
                        if self.lex.raw_escapes {
                            fields.add_raw_char(c);
                            out.push(c);
                        }
                        let Some(n) = self.next() else { break };
                        fields.add_raw_char(n);
                        out.push(n);
                    } else {
                        fields.add_char(c);
                        out.push(c);
                    }
                }
            }
        }
        if stop.is_some() {
            return Err(self.unterminated("'}'"));
        }
        Ok((out, fields.finish()))
    }

    fn single_quote(&mut self) -> Result<String, LexError> {
        let mut out = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            out.extend(open);
        }
        loop {
            match self.next() {
                None => return Err(self.unterminated("single-quote")),
                Some('\'') => {
                    if self.lex.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, LexError> {
        let mut out = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            out.extend(open);
        }
        loop {
            match self.peek() {
                None => return Err(self.unterminated("double-quote")),
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) => {
                    self.next();
                    if c == self.lex.escape {
                        if self.lex.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.lex.escape => {
                                self.next();
                                out.push(n);
                                continue;
                            }
                            Some(_) => {}
                        }
                        if self.lex.raw_escapes {
                            continue;
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    fn dollar(&mut self) -> Result<String, LexError> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.lex.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => {
                return Err(LexError::MissingBrace {
                    word: self.src.into(),
                })
            }
            Some('{' | '}' | ':') => {
                return Err(LexError::BadSubstitution {
                    word: self.src.into(),
                })
            }
            _ => {}
        }
        let name = self.name();
        match self.next() {
            Some('}') => Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.lex.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':') => {
                let modifier = self.next().ok_or_else(|| LexError::MissingBrace {
                    word: self.src.into(),
                })?;
                let word = self.modifier_word()?;
                self.apply(&name, modifier, &word, true)
            }
            Some(m @ ('+' | '-' | '?')) => {
                let word = self.modifier_word()?;
                self.apply(&name, m, &word, false)
            }
            None => Err(LexError::MissingBrace {
                word: self.src.into(),
            }),
            Some(_) => Err(LexError::BadSubstitution {
                word: self.src.into(),
            }),
        }
    }

    fn modifier_word(&mut self) -> Result<String, LexError> {
        // Nesting recurses; hostile input must not exhaust the stack.
        if self.depth >= MAX_NESTING {
            return Err(LexError::TooDeep {
                word: self.src.into(),
            });
        }
        self.depth += 1;
        let result = self.process_stop_on(Some('}'));
        self.depth -= 1;
        result.map(|(s, _)| s).map_err(|e| match e {
            LexError::TooDeep { .. } => e,
            _ => LexError::MissingBrace {
                word: self.src.into(),
            },
        })
    }

    /// `${name<colon?><modifier>word}`: with a colon, empty counts as unset.
    fn apply(
        &self,
        name: &str,
        modifier: char,
        word: &str,
        colon: bool,
    ) -> Result<String, LexError> {
        let value = self.lookup(name);
        if value.is_none() && self.lex.skip_unset {
            let c = if colon { ":" } else { "" };
            return Ok(format!("${{{name}{c}{modifier}{word}}}"));
        }
        let present = match &value {
            Some(v) => !colon || !v.is_empty(),
            None => false,
        };
        match modifier {
            '+' => Ok(if present {
                word.to_string()
            } else {
                String::new()
            }),
            '-' => Ok(if present {
                value.unwrap_or_default()
            } else {
                word.to_string()
            }),
            '?' if present => Ok(value.unwrap_or_default()),
            '?' => {
                let message = if word.is_empty() {
                    "is not allowed to be unset".to_string()
                } else {
                    word.to_string()
                };
                Err(LexError::Required {
                    word: self.src.into(),
                    name: name.into(),
                    message,
                })
            }
            other => Err(LexError::BadModifier {
                word: self.src.into(),
                modifier: other,
            }),
        }
    }

    /// A variable name; a leading digit reads all digits, and one special
    /// parameter character (`$1`, `$@`, ...) is a name of its own.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && "*#@?-$!".contains(c) {
                self.next();
                return c.to_string();
            }
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            name.push(c);
            self.next();
        }
        name
    }
}

#[cfg(test)]
mod tests;
