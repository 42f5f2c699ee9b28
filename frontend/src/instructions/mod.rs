//! Typed commands: the syntax tree checked per instruction (argument counts,
//! allowed flags, JSON requirements) but not yet expanded, so conversion
//! works on meaning instead of on strings.

mod error;
mod flags;

pub use error::InstructionError;

use crate::parser::{Heredoc, Node};
use flags::{Flags, Kind};

/// A command line in exec (JSON) or shell form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdLine {
    Exec(Vec<String>),
    Shell(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    pub image: String,
    pub name: Option<String>,
    pub platform: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub cmd: CmdLine,
    pub heredocs: Vec<Heredoc>,
    pub mounts: Vec<String>,
    pub network: Option<String>,
    pub security: Option<String>,
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub add: bool,
    pub srcs: Vec<String>,
    /// Inline sources from heredocs (`COPY <<EOF /file`).
    pub inline: Vec<Heredoc>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    None,
    Check {
        test: CmdLine,
        interval: Option<String>,
        timeout: Option<String>,
        start_period: Option<String>,
        start_interval: Option<String>,
        retries: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From(From),
    Run(Run),
    Copy(Copy),
    Env(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Workdir(String),
    User(String),
    Cmd(CmdLine),
    Entrypoint(CmdLine),
    Label(Vec<(String, String)>),
    Expose(Vec<String>),
    Volume(Vec<String>),
    StopSignal(String),
    Healthcheck(Health),
    Shell(Vec<String>),
    Onbuild(String),
    Maintainer(String),
}

/// An instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// 1-based first and last physical lines.
    pub line: usize,
    pub end_line: usize,
    pub original: String,
    pub instruction: Instruction,
}

fn args_err(node: &Node, what: &'static str) -> InstructionError {
    InstructionError::Arguments {
        instruction: node.keyword.to_ascii_uppercase(),
        what,
    }
}

fn no_flags(node: &Node) -> Result<(), InstructionError> {
    Flags::parse(&node.keyword.to_ascii_uppercase(), &node.flags, &[]).map(|_| ())
}

fn one_arg(node: &Node) -> Result<String, InstructionError> {
    no_flags(node)?;
    match node.args.as_slice() {
        [a] => Ok(a.clone()),
        _ => Err(args_err(node, "exactly one argument")),
    }
}

fn cmd_line(node: &Node) -> CmdLine {
    if node.json {
        CmdLine::Exec(node.args.clone())
    } else {
        CmdLine::Shell(node.args.first().cloned().unwrap_or_default())
    }
}

fn pairs(node: &Node) -> Result<Vec<(String, String)>, InstructionError> {
    no_flags(node)?;
    if node.args.is_empty() {
        return Err(args_err(node, "at least one argument"));
    }
    Ok(node
        .args
        .chunks(3)
        .map(|c| (c[0].clone(), c.get(1).cloned().unwrap_or_default()))
        .collect())
}

impl Command {
    /// Checks one parsed instruction and gives it its type.
    pub fn from_node(node: &Node) -> Result<Command, InstructionError> {
        let instruction = match node.command().as_str() {
            "from" => Instruction::From(from(node)?),
            "run" => Instruction::Run(run(node)?),
            "copy" => Instruction::Copy(copy(node, false)?),
            "add" => Instruction::Copy(copy(node, true)?),
            "env" => Instruction::Env(pairs(node)?),
            "label" => Instruction::Label(pairs(node)?),
            "arg" => Instruction::Arg(arg(node)?),
            "workdir" => Instruction::Workdir(one_arg(node)?),
            "user" => Instruction::User(one_arg(node)?),
            "stopsignal" => Instruction::StopSignal(one_arg(node)?),
            "maintainer" => Instruction::Maintainer(one_arg(node)?),
            "cmd" => {
                no_flags(node)?;
                Instruction::Cmd(cmd_line(node))
            }
            "entrypoint" => {
                no_flags(node)?;
                Instruction::Entrypoint(cmd_line(node))
            }
            "expose" | "volume" => list(node)?,
            "healthcheck" => Instruction::Healthcheck(health(node)?),
            "shell" => Instruction::Shell(shell(node)?),
            "onbuild" => Instruction::Onbuild(onbuild(node)?),
            _ => return Err(InstructionError::Unknown(node.keyword.to_ascii_uppercase())),
        };
        Ok(Command {
            line: node.start_line,
            end_line: node.end_line,
            original: node.original.clone(),
            instruction,
        })
    }
}

fn list(node: &Node) -> Result<Instruction, InstructionError> {
    no_flags(node)?;
    if node.args.is_empty() {
        return Err(args_err(node, "at least one argument"));
    }
    Ok(match node.command().as_str() {
        "expose" => Instruction::Expose(node.args.clone()),
        _ => Instruction::Volume(node.args.clone()),
    })
}

fn from(node: &Node) -> Result<From, InstructionError> {
    let flags = Flags::parse("FROM", &node.flags, &[("platform", Kind::Str)])?;
    let platform = flags.string("platform");
    match node.args.as_slice() {
        [image] => Ok(From {
            image: image.clone(),
            name: None,
            platform,
        }),
        [image, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
            let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            if !valid {
                return Err(InstructionError::Invalid { instruction: "FROM".into(), message: format!("invalid name for build stage: {name:?}, name can't start with a number or contain symbols") });
            }
            Ok(From {
                image: image.clone(),
                name: Some(name.to_ascii_lowercase()),
                platform,
            })
        }
        _ => Err(args_err(node, "either one or three arguments")),
    }
}

fn run(node: &Node) -> Result<Run, InstructionError> {
    let allowed = [
        ("mount", Kind::List),
        ("network", Kind::Str),
        ("security", Kind::Str),
    ];
    let flags = Flags::parse("RUN", &node.flags, &allowed)?;
    if node.args.is_empty() && !node.json {
        return Err(args_err(node, "at least one argument"));
    }
    Ok(Run {
        cmd: cmd_line(node),
        heredocs: node.heredocs.clone(),
        mounts: flags.list("mount"),
        network: flags.string("network"),
        security: flags.string("security"),
    })
}

fn copy(node: &Node, add: bool) -> Result<Copy, InstructionError> {
    let name = if add { "ADD" } else { "COPY" };
    let mut allowed = vec![
        ("chown", Kind::Str),
        ("chmod", Kind::Str),
        ("link", Kind::Bool),
        ("exclude", Kind::List),
    ];
    if add {
        allowed.extend([("checksum", Kind::Str), ("keep-git-dir", Kind::Bool)]);
    } else {
        allowed.extend([("from", Kind::Str), ("parents", Kind::Bool)]);
    }
    let flags = Flags::parse(name, &node.flags, &allowed)?;
    let Some((dest, srcs)) = node.args.split_last().filter(|(_, s)| !s.is_empty()) else {
        return Err(args_err(node, "at least two arguments"));
    };
    let mut paths = Vec::new();
    let mut inline = Vec::new();
    for src in srcs {
        let doc = if node.json {
            None
        } else {
            crate::parser::heredoc_word(src)
        };
        match doc.and_then(|name| node.heredocs.iter().find(|h| h.name == name)) {
            Some(h) => inline.push(h.clone()),
            None => paths.push(src.clone()),
        }
    }
    Ok(Copy {
        add,
        srcs: paths,
        inline,
        dest: dest.clone(),
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.bool("link"),
        parents: flags.bool("parents"),
        exclude: flags.list("exclude"),
        checksum: flags.string("checksum"),
        keep_git_dir: flags.bool("keep-git-dir"),
    })
}

fn arg(node: &Node) -> Result<Vec<(String, Option<String>)>, InstructionError> {
    no_flags(node)?;
    if node.args.is_empty() {
        return Err(args_err(node, "at least one argument"));
    }
    node.args
        .iter()
        .map(|a| match a.split_once('=') {
            Some(("", _)) => Err(args_err(node, "a name before '='")),
            Some((k, v)) => Ok((k.to_string(), Some(v.to_string()))),
            None => Ok((a.clone(), None)),
        })
        .collect()
}

fn health(node: &Node) -> Result<Health, InstructionError> {
    let allowed = [
        ("interval", Kind::Str),
        ("timeout", Kind::Str),
        ("start-period", Kind::Str),
        ("start-interval", Kind::Str),
        ("retries", Kind::Str),
    ];
    let flags = Flags::parse("HEALTHCHECK", &node.flags, &allowed)?;
    let Some(typ) = node.args.first() else {
        return Err(args_err(node, "an argument"));
    };
    let rest = &node.args[1..];
    match typ.to_ascii_uppercase().as_str() {
        "NONE" if rest.is_empty() => Ok(Health::None),
        "NONE" => Err(args_err(node, "no arguments after NONE")),
        "CMD" if rest.is_empty() => Err(args_err(node, "a command after CMD")),
        "CMD" => Ok(Health::Check {
            test: if node.json {
                CmdLine::Exec(rest.to_vec())
            } else {
                CmdLine::Shell(rest[0].clone())
            },
            interval: flags.string("interval"),
            timeout: flags.string("timeout"),
            start_period: flags.string("start-period"),
            start_interval: flags.string("start-interval"),
            retries: flags.string("retries"),
        }),
        other => Err(InstructionError::Invalid {
            instruction: "HEALTHCHECK".into(),
            message: format!("unknown type {other:?}"),
        }),
    }
}

fn shell(node: &Node) -> Result<Vec<String>, InstructionError> {
    no_flags(node)?;
    if !node.json || node.args.is_empty() {
        return Err(args_err(node, "the arguments to be in JSON form"));
    }
    Ok(node.args.clone())
}

fn onbuild(node: &Node) -> Result<String, InstructionError> {
    no_flags(node)?;
    let Some(sub) = &node.sub else {
        return Err(args_err(node, "at least one argument"));
    };
    let cmd = sub.command();
    if matches!(cmd.as_str(), "onbuild" | "from" | "maintainer") {
        return Err(InstructionError::Invalid {
            instruction: "ONBUILD".into(),
            message: format!(
                "{} isn't allowed as an ONBUILD trigger",
                cmd.to_ascii_uppercase()
            ),
        });
    }
    Command::from_node(sub)?;
    Ok(sub.original.clone())
}

#[cfg(test)]
mod tests;
