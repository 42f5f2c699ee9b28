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
    /// Variables BuildKit (Docker 20.10) has in a stage's environment for
    /// RUN and expansion but not in the image config: ARG values given after
    /// an ENV of the same name (the later of the two wins), and the ARG
    /// values of a stage this one is built `FROM` that its config does not
    /// name (its state carries them).
    pub args_over_env: Vec<(String, String)>,
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

    /// A variable as expansion sees it: ENV wins over an earlier ARG, a
    /// later ARG wins over ENV.
    pub fn lookup(&self, name: &str) -> Option<String> {
        if let Some((_, v)) = self.args_over_env.iter().find(|(k, _)| k == name) {
            return Some(v.clone());
        }
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

    /// Sets an ENV variable; it wins over the ARGs before it.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.config.set_env(key, value);
        self.args_over_env.retain(|(k, _)| k != key);
    }

    /// Records an ARG with a value: it wins over an ENV set before it.
    pub fn set_arg(&mut self, key: &str, value: Option<String>) {
        if let Some(v) = &value {
            self.args_over_env.retain(|(k, _)| k != key);
            if self.config.has_env(key) {
                self.args_over_env.push((key.to_string(), v.clone()));
            }
        }
        self.args.push((key.to_string(), value));
    }

    /// What a stage built `FROM` this one starts with in `args_over_env`:
    /// BuildKit hands down the whole state, then sets the image's ENV again,
    /// so only the ARG values the config does not name survive.
    pub fn state_only_env(&self) -> Vec<(String, String)> {
        let mut out = self.args_over_env.clone();
        out.retain(|(k, _)| !self.config.has_env(k));
        for (k, v) in self.arg_env() {
            out.retain(|(ok, _)| *ok != k);
            out.push((k, v));
        }
        out
    }

    /// The environment RUN sees: the image's (where a later ARG wins), then
    /// the other ARGs in scope, and a default PATH if the image has none.
    pub fn run_env(&self) -> Vec<String> {
        let mut env: Vec<String> = self
            .config
            .env()
            .iter()
            .map(|(k, v)| {
                let over = self.args_over_env.iter().find(|(ak, _)| ak == k);
                format!("{k}={}", over.map_or(v, |(_, av)| av))
            })
            .collect();
        if !self.config.has_env("PATH") {
            env.insert(0, format!("PATH={DEFAULT_PATH}"));
        }
        let args = self.arg_env();
        env.extend(args.iter().map(|(k, v)| format!("{k}={v}")));
        let inherited = self
            .args_over_env
            .iter()
            .filter(|(k, _)| !self.config.has_env(k) && !args.iter().any(|(ak, _)| ak == k));
        env.extend(inherited.map(|(k, v)| format!("{k}={v}")));
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
            args_over_env: vec![],
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
