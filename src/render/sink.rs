//! The [`Sink`] every progress view implements, and the simple views:
//! plain text, rawjson lines and nothing at all.

use super::{plain, rawjson};
use mybuild_solver::ProgressEvent;

/// One way of showing events.
pub(super) trait Sink: Send {
    fn event(&mut self, ev: ProgressEvent);
    /// The stream ended (the build finished or failed).
    fn finish(&mut self) {}
}

pub(super) struct PlainSink(pub(super) plain::Plain);

impl Sink for PlainSink {
    fn event(&mut self, ev: ProgressEvent) {
        let _ = self.0.event(&mut std::io::stderr().lock(), ev);
    }
}

pub(super) struct RawjsonSink;

impl Sink for RawjsonSink {
    fn event(&mut self, ev: ProgressEvent) {
        let _ = rawjson::write(&mut std::io::stderr().lock(), &ev);
    }
}

pub(super) struct QuietSink;

impl Sink for QuietSink {
    fn event(&mut self, _: ProgressEvent) {}
}
