//! Renders solver progress events: BuildKit's plain format, the live tty
//! view, quiet and rawjson; `--log-dir` keeps every step's whole output
//! whatever the mode.

mod logdir;
mod mode;
mod plain;
mod rawjson;
mod sink;
mod tty;

pub use mode::ProgressMode;

use mybuild_solver::ProgressEvent;
use sink::{PlainSink, QuietSink, RawjsonSink, Sink};
use std::path::PathBuf;
use tokio::sync::mpsc::UnboundedReceiver;

/// Renders `events` until the channel closes. `mode` is resolved already
/// (never `Auto`).
pub async fn run(
    mode: ProgressMode,
    mut events: UnboundedReceiver<ProgressEvent>,
    log_dir: Option<PathBuf>,
) {
    let mut sink: Box<dyn Sink> = match mode {
        ProgressMode::Quiet => Box::new(QuietSink),
        ProgressMode::Rawjson => Box::new(RawjsonSink),
        ProgressMode::Tty => Box::new(tty::Tty::new()),
        ProgressMode::Plain | ProgressMode::Auto => Box::new(PlainSink(plain::Plain::default())),
    };
    let mut logs = log_dir.map(logdir::LogDir::new);
    while let Some(ev) = events.recv().await {
        if let Some(logs) = &mut logs {
            logs.event(&ev);
        }
        sink.event(ev);
    }
    sink.finish();
}
