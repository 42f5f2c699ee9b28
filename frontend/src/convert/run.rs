//! RUN: one exec node on the stage's filesystem, with the image env plus the
//! ARGs in scope, the WORKDIR, USER and network mode.

use super::converter::Converter;
use super::error::{ConvertError, StepError};
use super::state::Stage;
use crate::instructions::{CmdLine, Command, Run};
use crate::parser::{chomp_heredoc, heredoc_word, Heredoc};
use mybuild_graph::{ExecOp, MountKind, NetworkMode, Op};

impl Converter<'_> {
    pub(super) fn run(
        &mut self,
        stage: &mut Stage,
        cmd: &Command,
        run: &Run,
        visiting: &mut Vec<usize>,
    ) -> Result<(), StepError> {
        // The stage's programs are its image's architecture's: a foreign
        // one needs an emulator registered (checked before the solve).
        let arch = stage
            .config
            .architecture()
            .unwrap_or(mybuild_graph::host_arch());
        if arch != mybuild_graph::host_arch() {
            self.emulated.insert(arch.to_string());
        }
        let network = match run.network.as_deref() {
            None | Some("default") => self.opts.network,
            Some("none") => NetworkMode::None,
            Some("host") => NetworkMode::Host,
            Some(other) => {
                return Err(ConvertError::Invalid {
                    what: "RUN --network",
                    value: other.into(),
                }
                .into())
            }
        };
        if let Some(sec) = run.security.as_deref().filter(|s| *s != "sandbox") {
            return Err(ConvertError::Unsupported(format!("RUN --security={sec}")).into());
        }
        let mut inputs = vec![stage.node];
        let mounts = self.run_mounts(stage, &run.mounts, &mut inputs, visiting)?;
        let args = match &run.cmd {
            CmdLine::Exec(args) => args.clone(),
            CmdLine::Shell(line) => {
                let mut args = stage.shell();
                args.push(with_heredocs(line, &run.heredocs));
                args
            }
        };
        let mut env = stage.run_env();
        // As BuildKit: the first ssh socket is the agent unless the env names one.
        let first_ssh = mounts
            .iter()
            .find(|m| matches!(m.kind, MountKind::Ssh { .. }));
        if let Some(m) = first_ssh {
            if !env.iter().any(|e| e.starts_with("SSH_AUTH_SOCK=")) {
                env.push(format!("SSH_AUTH_SOCK={}", m.target));
            }
        }
        let exec = ExecOp {
            args: args.clone(),
            env,
            cwd: stage.workdir(),
            user: stage.user(),
            network,
            mounts,
            env_extra: self.opts.exec_env.clone(),
            clamp_mtime: self.epoch,
        };
        let name = stage.step_name_for(&cmd.original, self.escape);
        stage.node = self.graph.add(Op::Exec(exec), inputs, name);
        let history = format!("RUN {} # buildkit", run_command_string(stage, &args));
        stage.config.push_history(&history, true);
        Ok(())
    }
}

/// The script a shell-form RUN hands to the shell. A lone `<<EOF` runs the
/// body itself; otherwise the heredocs are re-attached for the shell.
fn with_heredocs(line: &str, docs: &[Heredoc]) -> String {
    let Some(first) = docs.first() else {
        return line.to_string();
    };
    if docs.len() == 1 && heredoc_word(line.trim()).is_some() {
        return if first.chomp {
            chomp_heredoc(&first.content)
        } else {
            first.content.clone()
        };
    }
    let mut full = line.to_string();
    for d in docs {
        full.push('\n');
        full.push_str(&d.content);
        full.push_str(&d.name);
    }
    full
}

/// BuildKit's history text: `|2 A=1 B=2 /bin/sh -c cmd` when ARGs are set.
fn run_command_string(stage: &Stage, args: &[String]) -> String {
    let build_env = stage.arg_env();
    let mut parts: Vec<String> = Vec::new();
    if !build_env.is_empty() {
        parts.push(format!("|{}", build_env.len()));
        parts.extend(build_env.iter().map(|(k, v)| format!("{k}={v}")));
    }
    parts.extend(args.iter().cloned());
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, content: &str, chomp: bool) -> Heredoc {
        Heredoc {
            name: name.into(),
            content: content.into(),
            expand: true,
            chomp,
            fd: 0,
        }
    }

    #[test]
    fn lone_heredoc_runs_its_body() {
        assert_eq!(
            with_heredocs("<<-EOF", &[doc("EOF", "\techo hi\n", true)]),
            "echo hi\n"
        );
        assert_eq!(
            with_heredocs("cat <<EOF > /f", &[doc("EOF", "x\n", false)]),
            "cat <<EOF > /f\nx\nEOF"
        );
    }
}
