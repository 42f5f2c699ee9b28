//! `mybuild build --on-error=shell`: the failed RUN's request, reopened
//! with a shell on a terminal, through the same attached path `run -it`
//! uses.

use mybuild_solver::sandbox::{HelperRequest, KillSwitch, Sandbox, Task};
use mybuild_solver::DebugShell;
use std::path::Path;
use std::sync::Mutex;

/// Shells the image may have, in order of preference.
const SHELLS: [&str; 3] = ["bin/sh", "bin/bash", "bin/ash"];

/// Opens one shell at a time on mybuild's terminal (two steps failing at
/// once take turns).
pub struct ShellOnTty {
    runtime: tokio::runtime::Handle,
    turn: Mutex<()>,
}

impl ShellOnTty {
    pub fn new(runtime: tokio::runtime::Handle) -> ShellOnTty {
        ShellOnTty {
            runtime,
            turn: Mutex::new(()),
        }
    }
}

impl DebugShell for ShellOnTty {
    fn open(&self, sandbox: &Sandbox, mut req: HelperRequest, step: &str) {
        let Some(shell) = find_shell(&req) else {
            eprintln!("--on-error=shell: {step}: the image has no /bin/sh, /bin/bash or /bin/ash");
            return;
        };
        if let Task::Exec(x) = &mut req.task {
            x.args = vec![shell.clone()];
        }
        let _turn = self.turn.lock().unwrap_or_else(|p| p.into_inner());
        eprintln!("\n{step} failed: {shell} in its filesystem; exit the shell to end the build");
        // On the step's blocking thread, not a runtime thread: block_on is allowed.
        let ran = self.runtime.block_on(super::attach::run_attached(
            sandbox.clone(),
            req,
            true,
            KillSwitch::default(),
        ));
        match ran {
            Ok(Ok(())) | Ok(Err(mybuild_solver::sandbox::SandboxError::Exited { .. })) => {}
            Ok(Err(e)) => eprintln!("--on-error=shell: {e}"),
            Err(e) => eprintln!("--on-error=shell: {e:#}"),
        }
    }
}

/// The first of [`SHELLS`] in the step's upper dir or its layers.
fn find_shell(req: &HelperRequest) -> Option<String> {
    let dirs: Vec<_> = std::iter::once(req.upper.clone())
        .chain(req.lowers.iter().map(|l| req.snapshots_root.join(l)))
        .collect();
    let present = |rel: &str| {
        dirs.iter()
            .any(|d| std::fs::symlink_metadata(Path::new(d).join(rel)).is_ok())
    };
    SHELLS.iter().find(|s| present(s)).map(|s| format!("/{s}"))
}
