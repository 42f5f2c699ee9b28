//! A deterministic text form of a graph, for `--print=graph` and golden tests.

use crate::{FileAction, Graph, NetworkMode, Op, Owner};
use std::fmt;

fn owner(o: &Option<Owner>) -> String {
    match o {
        None => String::new(),
        Some(Owner { user, group: None }) => format!(" chown={user:?}"),
        Some(Owner {
            user,
            group: Some(g),
        }) => format!(" chown={:?}", format!("{user}:{g}")),
    }
}

fn op_line(op: &Op) -> String {
    match op {
        Op::Scratch => "scratch".into(),
        Op::Merge => "merge".into(),
        Op::Image(i) => format!(
            "image {:?}{}{}",
            i.reference,
            i.digest
                .as_ref()
                .map(|d| format!(" digest={d}"))
                .unwrap_or_default(),
            i.config
                .as_ref()
                .map(|d| format!(" config={d}"))
                .unwrap_or_default()
        ),
        Op::Local(l) => format!("local {:?} exclude={:?}", l.name, l.exclude),
        Op::Http(h) => format!(
            "http {:?} file={:?}{}",
            h.url,
            h.filename,
            h.checksum
                .as_ref()
                .map(|d| format!(" checksum={d}"))
                .unwrap_or_default()
        ),
        Op::Git(g) => format!(
            "git {:?} ref={:?} subdir={:?} keep-git-dir={}{}",
            g.remote,
            g.reference.as_deref().unwrap_or(""),
            g.subdir.as_deref().unwrap_or(""),
            g.keep_git_dir,
            g.checksum
                .as_ref()
                .map(|d| format!(" checksum={d}"))
                .unwrap_or_default()
        ),
        Op::Exec(x) => {
            format!(
                "exec args={:?} env={:?} cwd={:?} user={:?} network={}{}",
                x.args,
                x.env,
                x.cwd,
                x.user,
                if x.network == NetworkMode::Host {
                    "host"
                } else {
                    "none"
                },
                x.mounts
                    .iter()
                    .map(|m| format!("; mount {}", m.describe()))
                    .collect::<String>()
            ) + &clamp(x.clamp_mtime)
        }
        Op::File(f) => {
            let parts: Vec<String> = f
                .actions
                .iter()
                .map(|a| match a {
                    FileAction::Copy(c) => format!(
                        "copy from=input{} src={:?} dest={:?}{}{}{}{}{}",
                        c.source,
                        c.src,
                        c.dest,
                        owner(&c.owner),
                        c.mode.map(|m| format!(" chmod={m:o}")).unwrap_or_default(),
                        if c.extract_archives { " extract" } else { "" },
                        if c.parents { " parents" } else { "" },
                        if c.exclude.is_empty() {
                            String::new()
                        } else {
                            format!(" exclude={:?}", c.exclude)
                        }
                    ),
                    FileAction::Mkdir(m) => format!(
                        "mkdir {:?} mode={:o}{}{}",
                        m.path,
                        m.mode,
                        if m.parents { " parents" } else { "" },
                        owner(&m.owner)
                    ),
                    FileAction::Mkfile(m) => {
                        format!("mkfile {:?} mode={:o} data={:?}", m.path, m.mode, m.data)
                    }
                })
                .collect();
            format!("file {}{}", parts.join("; "), clamp(f.clamp_mtime))
        }
    }
}

/// ` clamp-mtime=T` for a clamped op, nothing otherwise.
fn clamp(t: Option<u64>) -> String {
    t.map(|t| format!(" clamp-mtime={t}")).unwrap_or_default()
}

impl fmt::Display for Graph {
    /// One line per node: `n3 <- n1 n2 : <op> # <name>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (id, node) in self.iter() {
            let inputs: Vec<String> = node.inputs.iter().map(|i| format!("n{}", i.0)).collect();
            write!(f, "n{}", id.0)?;
            if !inputs.is_empty() {
                write!(f, " <- {}", inputs.join(" "))?;
            }
            writeln!(f, " : {}  # {}", op_line(&node.op), node.name)?;
        }
        Ok(())
    }
}
