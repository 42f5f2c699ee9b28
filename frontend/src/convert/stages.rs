//! Splitting a Dockerfile into stages, the global ARGs before the first FROM
//! (with `--build-arg` overrides and the predefined platform args), and
//! finding stages by name or index.

use super::error::ConvertError;
use crate::instructions::{Command, From, Instruction};
use crate::shell_lex::Lexer;
use crate::CompileOptions;
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct StageDef {
    pub from: From,
    pub from_cmd: Command,
    pub name: Option<String>,
    pub commands: Vec<Command>,
}

/// Global build args: name and value, later entries win.
#[derive(Debug, Clone, Default)]
pub struct MetaArgs {
    pub values: Vec<(String, String)>,
}

impl MetaArgs {
    pub fn get(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    fn set(&mut self, name: &str, value: String) {
        self.values.push((name.to_string(), value));
    }

    pub fn expand(&self, word: &str) -> Result<String, ConvertError> {
        Ok(Lexer::new('\\').process_word(word, &|n| self.get(n))?)
    }
}

/// Whether BuildKit (Docker 20.10) counts a stage of its own for what this
/// step reads, which names a lone stage's steps `[stage-0 2/5]` too: an
/// image a `COPY --from` or a `RUN --mount=...,from=` names, and the empty
/// image under each cache mount without `from`. Tmpfs mounts read nothing.
fn reads_an_image(cmd: &Command) -> bool {
    match &cmd.instruction {
        Instruction::Copy(c) => c.from.is_some(),
        Instruction::Run(r) => r.mounts.iter().any(|spec| {
            let field = |key: &str| {
                spec.split(',').find_map(|f| {
                    let (k, v) = f.split_once('=').unwrap_or((f, ""));
                    k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
                })
            };
            match field("type").unwrap_or("bind") {
                "tmpfs" => false,
                "cache" => true,
                _ => field("from").is_some(),
            }
        }),
        _ => false,
    }
}

/// TARGETPLATFORM, BUILDARCH, ...: BUILD* the host's platform, TARGET*
/// the one built for.
fn predefined(target: &str) -> MetaArgs {
    let mut m = MetaArgs::default();
    for (prefix, arch) in [("BUILD", mybuild_graph::host_arch()), ("TARGET", target)] {
        m.set(&format!("{prefix}PLATFORM"), format!("linux/{arch}"));
        m.set(&format!("{prefix}OS"), "linux".into());
        m.set(&format!("{prefix}ARCH"), arch.into());
        m.set(&format!("{prefix}VARIANT"), String::new());
    }
    m
}

#[derive(Debug)]
pub struct Stages {
    pub defs: Vec<StageDef>,
    pub meta: MetaArgs,
    /// The ARG instructions before the first FROM, as written.
    pub meta_cmds: Vec<Command>,
    /// Each stage name's first stage, so a lookup does not scan them all.
    names: HashMap<String, usize>,
}

impl Stages {
    pub fn split(
        commands: Vec<Command>,
        opts: &CompileOptions,
    ) -> Result<Stages, Box<(Command, ConvertError)>> {
        let mut meta = predefined(opts.target_arch());
        let mut defs: Vec<StageDef> = Vec::new();
        let mut meta_cmds = Vec::new();
        for cmd in commands {
            match (&cmd.instruction, defs.last_mut()) {
                (Instruction::From(f), _) => defs.push(StageDef {
                    from: f.clone(),
                    name: f.name.clone(),
                    from_cmd: cmd.clone(),
                    commands: Vec::new(),
                }),
                (_, Some(stage)) => stage.commands.push(cmd),
                (Instruction::Arg(args), None) => {
                    meta_cmds.push(cmd.clone());
                    for (k, default) in args {
                        let value = match (opts.build_args.get(k), default) {
                            (Some(v), _) => Some(v.clone()),
                            (None, Some(d)) => {
                                Some(meta.expand(d).map_err(|e| Box::new((cmd.clone(), e)))?)
                            }
                            (None, None) => None,
                        };
                        if let Some(v) = value {
                            meta.set(k, v);
                        }
                    }
                }
                (_, None) => return Err(Box::new((cmd, ConvertError::NoStage))),
            }
        }
        let mut names = HashMap::new();
        for (i, def) in defs.iter().enumerate() {
            if let Some(name) = &def.name {
                names.entry(name.clone()).or_insert(i);
            }
        }
        Ok(Stages {
            names,
            defs,
            meta,
            meta_cmds,
        })
    }

    /// The stage to build: `--target` by name, else the last one.
    pub fn target(&self, name: Option<&str>) -> Option<usize> {
        match name {
            Some(n) => self.by_name(n),
            None => self.defs.len().checked_sub(1),
        }
    }

    pub fn by_name(&self, name: &str) -> Option<usize> {
        self.names.get(&name.to_ascii_lowercase()).copied()
    }

    /// A stage by name, or by index when all digits.
    pub fn by_name_or_index(&self, name: &str) -> Option<usize> {
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
            return name.parse().ok().filter(|i| *i < self.defs.len());
        }
        self.by_name(name)
    }

    /// What progress output calls stage `i`: nothing when the Dockerfile
    /// has one stage and its steps read no other image.
    pub fn prefix(&self, i: usize) -> String {
        if self.defs.len() == 1 && !self.defs[0].commands.iter().any(reads_an_image) {
            return String::new();
        }
        self.defs[i]
            .name
            .clone()
            .unwrap_or_else(|| format!("stage-{i}"))
    }
}
