//! The state a stage carries from one instruction to the next: its current
//! graph node, image config, build args in scope and step numbering.

use crate::image_config::{ImageConfig, DEFAULT_PATH};
use crate::shell_lex::{LexError, Lexer};
use mybuild_graph::NodeId;

/// The most characters of an instruction a step's name shows.
const MAX_NAME: usize = 1024;

#[derive(Debug, Clone)]
pub struct Stage {
    /// The node holding the stage's filesystem so far.
    pub node: NodeId,
    pub config: ImageConfig,
    /// ARGs declared in this stage, in order; `None` = declared without value.
    pub args: Vec<(String, Option<String>)>,
    /// CMD was set in this stage (ENTRYPOINT then keeps it).
    pub cmd_set: bool,
    /// `stage-0`, `build` or "" (single unnamed stage) for progress names.
    pub prefix: String,
    pub step: usize,
    pub total: usize,
}

impl Stage {
    /// `[build 2/4] RUN ...`, numbered like BuildKit (index padded to the
    /// width of the total).
    pub fn step_name(&mut self, text: &str) -> String {
        // A name is printed several times (progress, failure report), so a
        // huge instruction is named by its start.
        let text = &*crate::diagnostic::clip(text, MAX_NAME);
        if self.total == 0 {
            return text.to_string();
        }
        self.step += 1;
        let width = self.total.to_string().len();
        let prefix = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{} ", self.prefix)
        };
        format!("[{prefix}{:>width$}/{}] {text}", self.step, self.total)
    }

    /// `[2/4] RUN ...` for an instruction as written: variables expanded
    /// the way BuildKit names its vertices, the keyword in upper case. A
    /// RUN keeps its quotes and leaves a variable that is not set as
    /// written (as its shell will see them); COPY, ADD and WORKDIR are
    /// expanded like their arguments (quotes removed, unset is empty).
    pub fn step_name_for(&mut self, original: &str, escape: char) -> String {
        let original = original.trim();
        let run = original
            .split_whitespace()
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case("RUN"));
        let mut lexer = Lexer::new(escape);
        lexer.raw_quotes = run;
        lexer.skip_unset = run;
        let expanded = lexer
            .process_word(original, &|n| self.lookup(n))
            .unwrap_or_else(|_| original.to_string());
        let text = match expanded.split_once(char::is_whitespace) {
            Some((keyword, rest)) => format!("{} {rest}", keyword.to_ascii_uppercase()),
            None => expanded.to_ascii_uppercase(),
        };
        self.step_name(&text)
    }

    /// A variable as expansion sees it: ENV wins over ARG.
    pub fn lookup(&self, name: &str) -> Option<String> {
        if let Some(v) = self.config.env_get(name) {
            return Some(v);
        }
        self.args
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.clone())
    }

    pub fn expand(&self, word: &str, escape: char) -> Result<String, LexError> {
        Lexer::new(escape).process_word(word, &|n| self.lookup(n))
    }

    /// A COPY heredoc body: variables expand, quotes stay as written
    /// (BuildKit's "raw" expansion).
    pub fn expand_document(&self, body: &str, escape: char) -> Result<String, LexError> {
        let mut lexer = Lexer::new(escape);
        lexer.raw_quotes = true;
        lexer.process_word(body, &|n| self.lookup(n))
    }

    /// ARGs with values that no ENV shadows, in declaration order.
    pub fn arg_env(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut at: std::collections::HashMap<&str, usize> = Default::default();
        for (k, v) in &self.args {
            let Some(v) = v else { continue };
            if self.config.has_env(k) {
                continue;
            }
            match at.get(k.as_str()) {
                Some(&i) => out[i].1 = v.clone(),
                None => {
                    at.insert(k, out.len());
                    out.push((k.clone(), v.clone()));
                }
            }
        }
        out
    }

    /// The environment RUN sees: the image's, then the ARGs in scope, and
    /// a default PATH if the image has none.
    pub fn run_env(&self) -> Vec<String> {
        let mut env: Vec<String> = self
            .config
            .env()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !self.config.has_env("PATH") {
            env.insert(0, format!("PATH={DEFAULT_PATH}"));
        }
        env.extend(self.arg_env().iter().map(|(k, v)| format!("{k}={v}")));
        env
    }

    pub fn workdir(&self) -> String {
        self.config
            .get_str("WorkingDir")
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into())
    }

    pub fn user(&self) -> String {
        self.config.get_str("User").unwrap_or_default()
    }

    pub fn shell(&self) -> Vec<String> {
        self.config
            .get_strs("Shell")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }
}

/// Lexical path clean (like Go's `path.Clean`) of an absolute path.
pub fn clean_abs(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `rel` resolved against the directory `base`, cleaned.
pub fn resolve_path(base: &str, rel: &str) -> String {
    if rel.starts_with('/') {
        clean_abs(rel)
    } else {
        clean_abs(&format!("{base}/{rel}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_and_resolves_paths() {
        assert_eq!(resolve_path("/a/b", "c/../d"), "/a/b/d");
        assert_eq!(resolve_path("/a", "/x/./y/"), "/x/y");
        assert_eq!(resolve_path("/", ".."), "/");
    }

    #[test]
    fn numbers_steps_with_padding() {
        let mut s = Stage {
            node: NodeId(0),
            config: ImageConfig::scratch("amd64", "linux"),
            args: vec![],
            cmd_set: false,
            prefix: "build".into(),
            step: 1,
            total: 12,
        };
        assert_eq!(s.step_name("RUN x"), "[build  2/12] RUN x");
        s.prefix.clear();
        s.total = 0;
        assert_eq!(s.step_name("FROM scratch"), "FROM scratch");
    }
}
