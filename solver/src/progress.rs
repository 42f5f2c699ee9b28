//! Progress events: what the solver reports while it works.
//!
//! The solver only emits [`ProgressEvent`]s into a channel; the CLI decides
//! how to show them (plain, tty, rawjson...). A vertex is identified by an
//! opaque string; renderers number vertices in order of first appearance,
//! as BuildKit does.

use std::time::Instant;
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
    /// `--explain-cache`: why a step missed, sent before it starts.
    CacheMiss {
        vertex: String,
        name: String,
        reasons: Vec<crate::explain::MissReason>,
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
    /// Put before every vertex id ([`Progress::scoped`]).
    scope: Option<std::sync::Arc<str>>,
}

impl ProgressEvent {
    fn vertex_mut(&mut self) -> &mut String {
        match self {
            ProgressEvent::Started { vertex, .. }
            | ProgressEvent::Log { vertex, .. }
            | ProgressEvent::Cached { vertex, .. }
            | ProgressEvent::Bytes { vertex, .. }
            | ProgressEvent::Done { vertex, .. }
            | ProgressEvent::CacheMiss { vertex, .. }
            | ProgressEvent::Failed { vertex, .. } => vertex,
        }
    }
}

impl Progress {
    pub fn channel() -> (Progress, mpsc::UnboundedReceiver<ProgressEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Progress {
                tx: Some(tx),
                scope: None,
            },
            rx,
        )
    }

    /// A sink that drops everything (tests, quiet internals).
    pub fn discard() -> Progress {
        Progress {
            tx: None,
            scope: None,
        }
    }

    /// The same sink, its vertex ids put in `scope`: two solves of
    /// graphs with the same node ids (one per `--platform`) then report
    /// distinct vertices.
    pub fn scoped(&self, scope: &str) -> Progress {
        Progress {
            tx: self.tx.clone(),
            scope: Some(scope.into()),
        }
    }

    pub fn send(&self, mut ev: ProgressEvent) {
        if let Some(tx) = &self.tx {
            if let Some(scope) = &self.scope {
                let vertex = ev.vertex_mut();
                *vertex = format!("{scope}/{vertex}");
            }
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

    /// A status line under `vertex`, as BuildKit's internal vertices have
    /// (a cache import's warning, a transfer's size).
    pub fn status(&self, vertex: &str, line: &str) {
        self.log(vertex, LogStream::Stdout, line.as_bytes());
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

    pub fn cache_miss(&self, vertex: &str, name: &str, reasons: Vec<crate::explain::MissReason>) {
        self.send(ProgressEvent::CacheMiss {
            vertex: vertex.into(),
            name: name.into(),
            reasons,
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

/// A pull's downloads report their bytes as [`ProgressEvent::Bytes`] of the
/// vertex that asked for the image.
impl mybuild_registry::ByteProgress for Progress {
    fn bytes(&self, vertex: &str, id: &str, current: u64, total: u64) {
        Progress::bytes(self, vertex, id, current, total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mybuild_registry::ByteProgress;

    #[test]
    fn registry_bytes_arrive_as_byte_events_of_the_vertex() {
        let (progress, mut rx) = Progress::channel();
        let sink: &dyn ByteProgress = &progress;
        sink.bytes("v1", "sha256:ab", 3, 10);
        match rx.try_recv().unwrap() {
            ProgressEvent::Bytes {
                vertex,
                id,
                current,
                total,
                ..
            } => assert_eq!((&*vertex, &*id, current, total), ("v1", "sha256:ab", 3, 10)),
            other => panic!("{other:?}"),
        }
        assert!(rx.try_recv().is_err(), "one call, one event");
    }
}
