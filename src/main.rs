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

mod base;
mod build;
mod cachespec;
mod cli;
mod config;
mod containers;
mod image_filter;
mod images;
mod inspect;
mod legacy;
mod load;
mod output;
mod prune;
mod push;
mod render;
mod resolve;
mod save;
mod shell;
mod store;
mod table;
mod tagging;
mod template;
mod units;
mod version;

use std::process::ExitCode;

fn main() -> ExitCode {
    // The sandbox helper must start before any thread or runtime exists.
    if std::env::args_os().nth(1).is_some_and(|a| a == "__sandbox") {
        mybuild_solver::sandbox::helper_main();
    }
    let cli = cli::parse();
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
    // Ctrl-C and SIGTERM both drop the build, which kills its steps and
    // removes their work dirs before the process exits.
    let result = runtime.block_on(async {
        tokio::select! {
            r = cli::run(cli) => r.map(|_| ExitCode::SUCCESS),
            _ = tokio::signal::ctrl_c() => Ok(ExitCode::from(130)),
            _ = terminated() => Ok(ExitCode::from(143)),
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

/// `ERROR: msg` and its causes, one a line. Errors that quote their source
/// in their own message (`open x: No such file...`) also return it as
/// their cause; a cause the line above already says is not repeated.
fn error_report(err: &anyhow::Error) -> String {
    let mut out = format!("ERROR: {err}\n");
    let mut said = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !said.contains(&text) {
            out.push_str(&format!("  caused by: {text}\n"));
        }
        said = text;
    }
    out
}

/// Resolves on SIGTERM (never, if the handler cannot be installed).
async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            term.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_the_message_quotes_is_printed_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        #[derive(Debug, thiserror::Error)]
        #[error("open /x: {source}")]
        struct Open {
            source: std::io::Error,
        }
        let err = anyhow::Error::new(Open { source: io }).context("loading /x");
        assert_eq!(
            error_report(&err),
            "ERROR: loading /x\n  caused by: open /x: entity not found\n"
        );
    }
}
