//! Renders solver progress events: BuildKit's plain format, the live tty
//! view, quiet and rawjson; `--log-dir` keeps every step's whole output
//! whatever the mode.

#[cfg(test)]
#[path = "../../tests/e2e/util/golden.rs"]
pub(crate) mod golden;
mod logdir;
mod plain;
mod rawjson;
mod tty;

use crate::cli::ProgressMode;
use mybuild_solver::ProgressEvent;
use std::path::PathBuf;
use tokio::sync::mpsc::UnboundedReceiver;

/// One way of showing events.
trait Sink: Send {
    fn event(&mut self, ev: ProgressEvent);
    /// The stream ended (the build finished or failed).
    fn finish(&mut self) {}
}

struct PlainSink(plain::Plain);

impl Sink for PlainSink {
    fn event(&mut self, ev: ProgressEvent) {
        let _ = self.0.event(&mut std::io::stderr().lock(), ev);
    }
}

struct RawjsonSink;

impl Sink for RawjsonSink {
    fn event(&mut self, ev: ProgressEvent) {
        let _ = rawjson::write(&mut std::io::stderr().lock(), &ev);
    }
}

struct QuietSink;

impl Sink for QuietSink {
    fn event(&mut self, _: ProgressEvent) {}
}

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
