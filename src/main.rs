//! `mybuild`: a daemonless Dockerfile image builder.
//!
//! The binary wires the frontend (Dockerfile -> graph), the solver (graph ->
//! layers) and the store (layers -> image) together. `main` turns every
//! error into a message with its cause chain and a documented exit code:
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success |
//! | 1    | the build or command failed (Dockerfile error, failing step, registry or store problem) |
//! | 2    | invalid command line |
//! | 130  | interrupted (Ctrl-C) |
//! | 143  | terminated (SIGTERM) |
//! | N    | legacy mode only: a RUN exited with code N (1-255), as the classic builder does |
//!
//! `mybuild run` exits as `docker run` does: the command's code, 128+N for
//! signal N, 125 when the container could not be made, 126 when the command
//! cannot be executed and 127 when it is not found.

mod base;
mod build;
mod cache_mounts;
mod cachespec;
mod cli;
mod config;
mod config_file;
mod containers;
mod errors;
mod image_filter;
mod images;
mod inspect;
mod legacy;
mod load;
mod login;
mod output;
mod prune;
mod push;
mod render;
mod resolve;
mod rootfs;
mod rootless;
mod run;
mod save;
mod shell;
mod store;
mod table;
mod tagging;
mod template;
mod units;
mod version;

use std::process::ExitCode;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Commands that only print (and write to no socket or child) end quietly
/// when their reader goes away, as `ls` and `grep` do: `mybuild ps -aq |
/// head -1` used to panic on the closed pipe. Rust's start-up ignores
/// SIGPIPE so that every write can fail with EPIPE instead; builds and
/// pushes keep it ignored (a registry that hangs up must be an error, not
/// a silent death).
fn quiet_on_closed_stdout(command: &cli::Command) {
    use cli::Command as C;
    if matches!(
        command,
        C::Images(_)
            | C::Inspect(_)
            | C::History(_)
            | C::Ps(_)
            | C::Diff(_)
            | C::Du(_)
            | C::Completion(_)
            | C::Man
            | C::Version
    ) {
        // SAFETY: no thread exists yet; this restores the disposition the
        // process was started with for one signal.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
}

fn main() -> ExitCode {
    // The sandbox helper must start before any thread or runtime exists.
    if std::env::args_os().nth(1).is_some_and(|a| a == "__sandbox") {
        mybuild_solver::sandbox::helper_main();
    }
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == mybuild_solver::sandbox::ZYGOTE_ARG)
    {
        mybuild_solver::sandbox::zygote_main();
    }
    let cli = cli::parse();
    quiet_on_closed_stdout(&cli.command);
    // Also before any thread: an ordinary user's command moves into a user
    // namespace of its own, as its uid 0 (rootless).
    match rootless::enter_if_needed(&cli.command) {
        Ok(rootless::Entered::Run) => {}
        Ok(rootless::Entered::Exit(code)) => return ExitCode::from(code),
        Err(e) => {
            eprintln!("ERROR: {e}");
            return ExitCode::from(1);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    if matches!(cli.command, cli::Command::Run(_)) {
        return match runtime.block_on(cli::run_container(cli)) {
            Ok(code) => ExitCode::from(code),
            Err(err) => {
                eprint!("{}", error_report(&err));
                ExitCode::from(125)
            }
        };
    }
    // Ctrl-C and SIGTERM both drop the build, which kills its steps and
    // removes their work dirs before the process exits.
    let result = runtime.block_on(async {
        // Both handlers are installed before the command starts (a future
        // like `ctrl_c()` would install its handler only when first polled,
        // which `select!` may do after the command's first poll).
        let (interrupt, terminate) = (SignalKind::interrupt(), SignalKind::terminate());
        let (interrupt, terminate) = (signal(interrupt), signal(terminate));
        tokio::select! {
            r = cli::run(cli) => r.map(|_| ExitCode::SUCCESS),
            _ = received(interrupt) => Ok(ExitCode::from(130)),
            _ = received(terminate) => Ok(ExitCode::from(143)),
        }
    });
    match result {
        Ok(code) => {
            if code == ExitCode::from(130) {
                eprintln!("interrupted");
            } else if code == ExitCode::from(143) {
                eprintln!("terminated");
            }
            code
        }
        Err(err) => {
            // The classic builder's failed RUN: its message and exit code.
            if let Some(exit) = err.downcast_ref::<legacy::StepExit>() {
                eprintln!("{exit}");
                return ExitCode::from(u8::try_from(exit.code).unwrap_or(1));
            }
            eprint!("{}", error_report(&err));
            ExitCode::from(1)
        }
    }
}

/// `ERROR: msg` and its causes, one a line, each said once.
fn error_report(err: &anyhow::Error) -> String {
    let mut lines = errors::messages(err).into_iter();
    let mut out = format!("ERROR: {}\n", lines.next().unwrap_or_default());
    for cause in lines {
        out.push_str(&format!("  caused by: {cause}\n"));
    }
    out
}

/// Resolves when the signal comes (never, if its handler could not be
/// installed).
async fn received(handler: std::io::Result<Signal>) {
    match handler {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn causes_follow_the_error_line() {
        let err = anyhow::anyhow!("inner").context("outer");
        assert_eq!(
            super::error_report(&err),
            "ERROR: outer\n  caused by: inner\n"
        );
    }
}
