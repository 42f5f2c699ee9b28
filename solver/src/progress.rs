//! Progress events: what the solver reports while it works.
//!
//! The solver only emits [`ProgressEvent`]s into a channel; the CLI decides
//! how to show them (plain, tty, rawjson...). A vertex is identified by an
//! opaque string; renderers number vertices in order of first appearance,
//! as BuildKit does.

use std::time::{Duration, Instant};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone)]
pub enum ProgressEvent {
    Started {
        vertex: String,
        name: String,
        /// The vertex's cache key, when the solver knows it (BuildKit
        /// shows its op digest the same way).
        digest: Option<String>,
        at: Instant,
    },
    Log {
        vertex: String,
        stream: LogStream,
        data: Vec<u8>,
        at: Instant,
    },
    Cached {
        vertex: String,
        name: String,
        digest: Option<String>,
    },
    /// Bytes of one blob moved by a pull or push so far. `id` names the
    /// blob (its digest); `total` is 0 when the size is not known.
    Bytes {
        vertex: String,
        id: String,
        current: u64,
        total: u64,
        at: Instant,
    },
    Done {
        vertex: String,
        at: Instant,
    },
    Failed {
        vertex: String,
        error: String,
        at: Instant,
    },
}

/// A cheap, cloneable handle for sending events. Sending never blocks and
/// never fails the build: a renderer that went away just stops listening.
#[derive(Debug, Clone)]
pub struct Progress {
    tx: Option<mpsc::UnboundedSender<ProgressEvent>>,
}

impl Progress {
    pub fn channel() -> (Progress, mpsc::UnboundedReceiver<ProgressEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Progress { tx: Some(tx) }, rx)
    }

    /// A sink that drops everything (tests, quiet internals).
    pub fn discard() -> Progress {
        Progress { tx: None }
    }

    pub fn send(&self, ev: ProgressEvent) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(ev);
        }
    }

    pub fn started(&self, vertex: &str, name: &str) {
        self.send(ProgressEvent::Started {
            vertex: vertex.into(),
            name: name.into(),
            digest: None,
            at: Instant::now(),
        });
    }

    /// [`Progress::started`] for a vertex whose cache key is known.
    pub fn started_keyed(&self, vertex: &str, name: &str, digest: &mybuild_graph::Digest) {
        self.send(ProgressEvent::Started {
            vertex: vertex.into(),
            name: name.into(),
            digest: Some(digest.to_string()),
            at: Instant::now(),
        });
    }

    /// `current` of `total` bytes of blob `id` have moved (`total` 0 if unknown).
    pub fn bytes(&self, vertex: &str, id: &str, current: u64, total: u64) {
        self.send(ProgressEvent::Bytes {
            vertex: vertex.into(),
            id: id.into(),
            current,
            total,
            at: Instant::now(),
        });
    }

    pub fn log(&self, vertex: &str, stream: LogStream, data: &[u8]) {
        self.send(ProgressEvent::Log {
            vertex: vertex.into(),
            stream,
            data: data.to_vec(),
            at: Instant::now(),
        });
    }

    pub fn cached(&self, vertex: &str, name: &str, digest: Option<&mybuild_graph::Digest>) {
        self.send(ProgressEvent::Cached {
            vertex: vertex.into(),
            name: name.into(),
            digest: digest.map(|d| d.to_string()),
        });
    }

    pub fn done(&self, vertex: &str) {
        self.send(ProgressEvent::Done {
            vertex: vertex.into(),
            at: Instant::now(),
        });
    }

    pub fn failed(&self, vertex: &str, error: &str) {
        self.send(ProgressEvent::Failed {
            vertex: vertex.into(),
            error: error.into(),
            at: Instant::now(),
        });
    }
}

/// How often one blob's byte progress is reported at most: often enough
/// for a live bar, rare enough not to flood the renderer.
const REPORT_EVERY: Duration = Duration::from_millis(100);

/// Paces the byte progress of one blob: the first report, then at most one
/// per [`REPORT_EVERY`], and always the one that completes it.
#[derive(Debug, Default)]
pub struct Throttle {
    last: Option<Instant>,
}

impl Throttle {
    /// Whether `current` of `total` bytes is worth reporting now.
    pub fn due(&mut self, current: u64, total: u64) -> bool {
        self.due_at(Instant::now(), current, total)
    }

    fn due_at(&mut self, now: Instant, current: u64, total: u64) -> bool {
        let complete = total > 0 && current >= total;
        let quiet_long_enough = match self.last {
            Some(last) => now.saturating_duration_since(last) >= REPORT_EVERY,
            None => true,
        };
        if complete || quiet_long_enough {
            self.last = Some(now);
        }
        complete || quiet_long_enough
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_reports_first_then_paced_and_always_the_last() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        let at = |ms| t0 + Duration::from_millis(ms);
        assert!(t.due_at(at(0), 0, 100), "the first report shows the bar");
        assert!(!t.due_at(at(50), 10, 100), "too soon after the first");
        assert!(t.due_at(at(100), 20, 100), "a full interval later");
        assert!(!t.due_at(at(120), 30, 100));
        assert!(t.due_at(at(121), 100, 100), "completion is never dropped");
        assert!(!t.due_at(at(150), 40, 0), "unknown total: paced only");
    }
}
