//! Renders solver progress events: BuildKit's plain format, the live tty
//! view, quiet and rawjson.

mod plain;
mod rawjson;

use crate::cli::ProgressMode;
use mybuild_solver::ProgressEvent;
use tokio::sync::mpsc::UnboundedReceiver;

pub async fn run(mode: ProgressMode, mut events: UnboundedReceiver<ProgressEvent>) {
    let mut plain = plain::Plain::default();
    while let Some(ev) = events.recv().await {
        let mut err = std::io::stderr().lock();
        let _ = match mode {
            ProgressMode::Quiet => Ok(()),
            ProgressMode::Rawjson => rawjson::write(&mut err, &ev),
            _ => plain.event(&mut err, ev),
        };
    }
}
