//! `mybuild run`: a container from a local image, in the same sandbox a
//! RUN step gets (namespaces, overlay, seccomp, capabilities, masked paths,
//! cgroup, devices), with `docker run`'s semantics for the command line,
//! environment, exit code and signals. Without `--rm` the container is kept
//! in the store beside legacy builds' (`ps -a`, `diff`, `commit`, `rm`).

mod args;
mod attach;
mod debug;
mod spec;
mod tty;

use crate::store::open_store;
use anyhow::Context as _;
use mybuild_cache::{ContainerRecord, ContainerState, Store, WorkDir};
use mybuild_graph::Digest;
use mybuild_solver::sandbox::{
    Console, ExecTask, HelperRequest, KillOnDrop, KillSwitch, Sandbox, SandboxError, Task,
};
use std::path::Path;
use std::sync::Arc;

pub use args::RunArgs;
pub use attach::run_attached;
pub use debug::ShellOnTty;

/// Docker's exit codes for a container that did not run its command.
const RUN_FAILED: u8 = 125;

/// Runs the container; returns the exit code for mybuild (the command's,
/// 128+N for signal N, or 125/126/127 when it could not be run).
pub async fn run(root: &Path, args: RunArgs) -> anyhow::Result<u8> {
    let store = Arc::new(open_store(root)?);
    if let Some(name) = &args.name {
        if store
            .containers()?
            .iter()
            .any(|c| c.name.as_ref() == Some(name))
        {
            anyhow::bail!("the container name {name:?} is already in use");
        }
    }
    let base = spec::Base::find(&store, &args.image)?;
    let spec = spec::Spec::of(&store, &base, &args)?;
    let id = crate::legacy::new_container_id()?;
    let wd = store
        .work_dir()
        .context("making the container's work dir")?;
    let req = HelperRequest {
        snapshots_root: store.snapshots_root(),
        lowers: spec.lowers.clone(),
        upper: wd.upper(),
        work: wd.work(),
        merged: wd.merged(),
        task: Task::Exec(ExecTask {
            args: spec.args.clone(),
            env: spec.env.clone(),
            cwd: spec.cwd.clone(),
            user: spec.user.clone(),
            network: spec.network,
            hostname: id[..12].to_string(),
            mounts: spec.mounts.clone(),
            env_extra: Default::default(),
            console: console_of(&args),
        }),
    };
    let switch = KillSwitch::default();
    let guard = KillOnDrop::new(switch.clone());
    let result = run_attached(Sandbox::new()?, req, args.interactive, switch).await;
    guard.defuse();
    let (code, message) = exit_code(result?);
    if let Some(m) = message {
        eprintln!("mybuild: error: {m}");
    }
    let kept = Kept {
        id,
        image: base.image,
        command: spec.args,
        name: args.name,
        code,
    };
    settle(store, wd, kept, args.rm).await?;
    Ok(code)
}

fn console_of(args: &RunArgs) -> Console {
    match args.tty {
        true => Console::Tty,
        false => Console::Attached {
            stdin: args.interactive,
        },
    }
}

/// The exit code and, when the command never ran, why.
fn exit_code(result: Result<(), SandboxError>) -> (u8, Option<String>) {
    match result {
        Ok(()) => (0, None),
        Err(SandboxError::Exited { code }) => (u8::try_from(code).unwrap_or(RUN_FAILED), None),
        Err(SandboxError::Signaled { signal }) => {
            (u8::try_from(128 + signal).unwrap_or(RUN_FAILED), None)
        }
        Err(e @ SandboxError::Setup { .. }) => (setup_code(&e), Some(e.to_string())),
        Err(e) => (RUN_FAILED, Some(e.to_string())),
    }
}

/// 127 for a command not found, 126 for one that cannot be executed, 125
/// for any other failure to start, as `docker run`.
fn setup_code(e: &SandboxError) -> u8 {
    let SandboxError::Setup { step, message } = e else {
        return RUN_FAILED;
    };
    if !step.starts_with("exec") {
        return RUN_FAILED;
    }
    if message.contains("not found") || message.contains("ENOENT") {
        127
    } else {
        126
    }
}

/// What a kept container records.
struct Kept {
    id: String,
    image: Option<Digest>,
    command: Vec<String>,
    name: Option<String>,
    code: u8,
}

/// `--rm`: the work dir goes; otherwise its upper dir becomes the kept
/// container's filesystem and the record is written after it.
async fn settle(store: Arc<Store>, wd: WorkDir, kept: Kept, remove: bool) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || {
        if remove {
            drop(wd);
            return Ok(());
        }
        let upper = store.container_upper(&kept.id);
        if let Some(dir) = upper.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::rename(wd.upper(), &upper)
            .with_context(|| format!("keeping the container's files as {}", upper.display()))?;
        drop(wd);
        let now = crate::config::rfc3339_nanos(std::time::SystemTime::now());
        store.put_container(&ContainerRecord {
            id: kept.id,
            image: kept.image,
            command: kept.command,
            created: now.clone(),
            state: ContainerState::Exited {
                code: kept.code.into(),
                finished: now,
            },
            layer: None,
            name: kept.name,
        })?;
        Ok(())
    })
    .await
    .context("keeping the container")?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_docker_run() {
        let setup = |step: &str, message: &str| {
            Err(SandboxError::Setup {
                step: step.into(),
                message: message.into(),
            })
        };
        assert_eq!(exit_code(Ok(())).0, 0);
        assert_eq!(exit_code(Err(SandboxError::Exited { code: 3 })).0, 3);
        assert_eq!(exit_code(Err(SandboxError::Signaled { signal: 15 })).0, 143);
        let not_found = "exec: \"nope\": executable file not found in $PATH";
        assert_eq!(exit_code(setup("exec", not_found)).0, 127);
        assert_eq!(exit_code(setup("exec /x", "ENOENT: No such file")).0, 127);
        assert_eq!(
            exit_code(setup("exec /etc", "EACCES: Permission denied")).0,
            126
        );
        assert_eq!(exit_code(setup("mount /dev", "EPERM")).0, 125);
    }
}
