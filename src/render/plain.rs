//! BuildKit's plain progress format (`--progress=plain`).
//!
//! Vertices are numbered in order of first appearance (`#3`). A block opens
//! with the header `#3 [build 2/4] RUN make`, the first time also with the
//! vertex's digest (`#3 sha256:...`: its cache key, else a digest of its
//! name, as BuildKit 20.10 prints). Output lines carry the seconds since the
//! step started (`#3 0.067 text`); the block ends with `#3 DONE 1.2s`,
//! `#3 CACHED` or `#3 ERROR: ...`. When output switches to another vertex
//! while one is still running, the old one is left with `#3 ...` and the
//! new one gets its header again after a blank line, so lines of parallel
//! steps interleave but each stays attributable.
//!
//! Only steps the solver executes (vertex ids `n<N>`) print command output.
//! The CLI's own vertices (load definition, metadata, exporting, cache
//! import/export) log status lines, which BuildKit prints bare:
//! `#9 naming to docker.io/library/app:1 done`.

// The golden-file helper is shared with the end-to-end tests; only this
// file's tests and rawjson's (through `assert_golden`) use it.
#[cfg(test)]
#[path = "../../tests/e2e/util/golden.rs"]
mod golden;

use mybuild_graph::Digest;
use mybuild_solver::ProgressEvent;
use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// A pull's byte counts are shown at most this often (and when complete).
const BYTES_EVERY: Duration = Duration::from_secs(5);

struct Vertex {
    number: usize,
    name: String,
    digest: Option<String>,
    started: Option<Instant>,
    /// Output after the last newline, printed once the line ends, and when
    /// that line began (its time, as BuildKit stamps it).
    partial: Vec<u8>,
    partial_at: Option<Instant>,
    introduced: bool,
    finished: bool,
    blobs: HashMap<String, Blob>,
}

/// One blob a pull or push moves, under its vertex.
struct Blob {
    first: Instant,
    printed: Option<Instant>,
    done: bool,
}

#[derive(Default)]
pub struct Plain {
    vertices: HashMap<String, Vertex>,
    current: Option<String>,
    any_output: bool,
}

/// True for the solver's vertices, whose logs are command output.
pub(super) fn is_step(id: &str) -> bool {
    id.strip_prefix('n')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// BuildKit's byte sizes: decimal units, two decimals above a kilobyte.
fn size(n: u64) -> String {
    match crate::units::scaled(n) {
        (_, "B") => format!("{n}B"),
        (v, unit) => format!("{v:.2}{unit}"),
    }
}

impl Plain {
    fn vertex(&mut self, id: &str, name: Option<&str>) -> &mut Vertex {
        let next = self.vertices.len() + 1;
        let v = self
            .vertices
            .entry(id.to_string())
            .or_insert_with(|| Vertex {
                number: next,
                name: String::new(),
                digest: None,
                started: None,
                partial: Vec::new(),
                partial_at: None,
                introduced: false,
                finished: false,
                blobs: HashMap::new(),
            });
        if let Some(n) = name {
            if v.name.is_empty() {
                v.name = n.to_string();
            }
        }
        v
    }

    /// Opens this vertex's block unless output is already about it.
    fn switch_to(&mut self, out: &mut impl Write, id: &str) -> std::io::Result<usize> {
        if self.current.as_deref() == Some(id) {
            return Ok(self.vertices[id].number);
        }
        if let Some(old) = self.current.take().and_then(|c| self.vertices.get(&c)) {
            if !old.finished {
                writeln!(out, "#{} ...", old.number)?;
            }
        }
        if self.any_output {
            writeln!(out)?;
        }
        self.any_output = true;
        self.current = Some(id.to_string());
        let v = self.vertices.get_mut(id).expect("vertex registered");
        let name = if v.name.is_empty() { id } else { &v.name };
        writeln!(out, "#{} {name}", v.number)?;
        if !v.introduced {
            v.introduced = true;
            let digest = match &v.digest {
                Some(d) => d.clone(),
                None => Digest::of(name.as_bytes()).to_string(),
            };
            writeln!(out, "#{} {digest}", v.number)?;
        }
        Ok(v.number)
    }

    /// Ends the vertex's block with `line` (`DONE 0.1s`, `CACHED`...).
    fn finish(&mut self, out: &mut impl Write, id: &str, line: &str) -> std::io::Result<()> {
        let n = self.switch_to(out, id)?;
        writeln!(out, "#{n} {line}")?;
        self.vertices
            .get_mut(id)
            .expect("vertex registered")
            .finished = true;
        self.current = None;
        Ok(())
    }

    pub fn event(&mut self, out: &mut impl Write, ev: ProgressEvent) -> std::io::Result<()> {
        match ev {
            ProgressEvent::Started {
                vertex,
                name,
                digest,
                at,
            } => {
                let v = self.vertex(&vertex, Some(&name));
                v.started = Some(at);
                v.digest = v.digest.take().or(digest);
                self.switch_to(out, &vertex)?;
            }
            ProgressEvent::Log {
                vertex, data, at, ..
            } => self.log(out, &vertex, &data, at)?,
            ProgressEvent::Cached {
                vertex,
                name,
                digest,
            } => {
                let v = self.vertex(&vertex, Some(&name));
                v.digest = v.digest.take().or(digest);
                self.finish(out, &vertex, "CACHED")?;
            }
            ProgressEvent::Done { vertex, at } => {
                self.flush_partial(out, &vertex)?;
                let line = match self.vertex(&vertex, None).started {
                    Some(s) => format!("DONE {:.1}s", (at - s).as_secs_f64()),
                    None => "DONE".to_string(),
                };
                self.finish(out, &vertex, &line)?;
            }
            ProgressEvent::CacheMiss {
                vertex,
                name,
                reasons,
            } => {
                self.vertex(&vertex, Some(&name));
                let n = self.switch_to(out, &vertex)?;
                writeln!(out, "#{n} {}", mybuild_solver::explain::summary(&reasons))?;
            }
            ProgressEvent::Failed { vertex, error, .. } => {
                self.flush_partial(out, &vertex)?;
                // The solver's message starts with the step's name, which
                // the header already shows.
                let v = self.vertex(&vertex, None);
                let prefix = format!("{}: ", v.name);
                let error = error.strip_prefix(&prefix).unwrap_or(&error).to_string();
                self.finish(out, &vertex, &format!("ERROR: {error}"))?;
            }
            ProgressEvent::Bytes {
                vertex,
                id,
                current,
                total,
                at,
            } => self.bytes(out, &vertex, &id, current, total, at)?,
        }
        out.flush()
    }

    /// Output of a vertex: each complete line is printed; a partial one
    /// waits for its end (or the vertex's).
    fn log(
        &mut self,
        out: &mut impl Write,
        vertex: &str,
        data: &[u8],
        at: Instant,
    ) -> std::io::Result<()> {
        let v = self.vertex(vertex, None);
        let mut lines = Vec::new();
        for piece in data.split_inclusive(|&b| b == b'\n') {
            let began = *v.partial_at.get_or_insert(at);
            v.partial.extend_from_slice(piece);
            if piece.ends_with(b"\n") {
                v.partial_at = None;
                lines.push((std::mem::take(&mut v.partial), began));
            }
        }
        for (line, began) in lines {
            self.line(out, vertex, &line, began)?;
        }
        Ok(())
    }

    /// A blob's byte count (`current` of `total`, 0 when unknown), printed
    /// every [`BYTES_EVERY`] and once when complete.
    fn bytes(
        &mut self,
        out: &mut impl Write,
        vertex: &str,
        id: &str,
        current: u64,
        total: u64,
        at: Instant,
    ) -> std::io::Result<()> {
        let v = self.vertex(vertex, None);
        let blob = v.blobs.entry(id.to_string()).or_insert(Blob {
            first: at,
            printed: None,
            done: false,
        });
        let complete = total > 0 && current >= total;
        let due = blob.printed.is_none_or(|p| at - p >= BYTES_EVERY);
        if blob.done || !(complete || due) {
            return Ok(());
        }
        (blob.printed, blob.done) = (Some(at), complete);
        let mut line = format!("{id} {}", size(current));
        if total > 0 {
            line = format!("{line} / {}", size(total));
        }
        let secs = (at - blob.first).as_secs_f64();
        if secs > 0.01 {
            line = format!("{line} {secs:.1}s");
        }
        if complete {
            line.push_str(" done");
        }
        let n = self.switch_to(out, vertex)?;
        writeln!(out, "#{n} {line}")
    }

    /// One line of a vertex's log: command output with its time, or a
    /// status line.
    fn line(
        &mut self,
        out: &mut impl Write,
        id: &str,
        line: &[u8],
        at: Instant,
    ) -> std::io::Result<()> {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches(['\n', '\r']);
        let started = *self.vertex(id, None).started.get_or_insert(at);
        let n = self.switch_to(out, id)?;
        if is_step(id) {
            let secs = (at - started).as_secs_f64();
            writeln!(out, "#{n} {secs:.3} {line}")
        } else {
            writeln!(out, "#{n} {line}")
        }
    }

    fn flush_partial(&mut self, out: &mut impl Write, id: &str) -> std::io::Result<()> {
        let v = self.vertex(id, None);
        let line = std::mem::take(&mut v.partial);
        match v.partial_at.take() {
            Some(began) if !line.is_empty() => self.line(out, id, &line, began),
            _ => Ok(()),
        }
    }
}

/// Golden files under `testdata/progress/`, shared with the end-to-end
/// tests (`MYBUILD_BLESS=1 cargo test` rewrites them).
#[cfg(test)]
pub(super) fn assert_golden(name: &str, actual: &str) {
    golden::assert_golden("progress", name, actual);
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use mybuild_solver::LogStream;

    /// A deterministic event stream: times are milliseconds after `t0`.
    pub(crate) struct Script {
        t0: Instant,
        pub events: Vec<ProgressEvent>,
    }

    impl Script {
        pub fn new() -> Script {
            Script {
                t0: Instant::now(),
                events: Vec::new(),
            }
        }
        pub fn t0(&self) -> Instant {
            self.t0
        }
        fn at(&self, ms: u64) -> Instant {
            self.t0 + Duration::from_millis(ms)
        }
        pub fn start(&mut self, ms: u64, vertex: &str, name: &str, digest: Option<&str>) {
            let at = self.at(ms);
            self.events.push(ProgressEvent::Started {
                vertex: vertex.into(),
                name: name.into(),
                digest: digest.map(String::from),
                at,
            });
        }
        pub fn log(&mut self, ms: u64, vertex: &str, stream: LogStream, data: &str) {
            let at = self.at(ms);
            self.events.push(ProgressEvent::Log {
                vertex: vertex.into(),
                stream,
                data: data.as_bytes().to_vec(),
                at,
            });
        }
        pub fn out(&mut self, ms: u64, vertex: &str, data: &str) {
            self.log(ms, vertex, LogStream::Stdout, data);
        }
        pub fn cached(&mut self, vertex: &str, name: &str, digest: &str) {
            self.events.push(ProgressEvent::Cached {
                vertex: vertex.into(),
                name: name.into(),
                digest: Some(digest.into()),
            });
        }
        pub fn bytes(&mut self, ms: u64, vertex: &str, id: &str, current: u64, total: u64) {
            let at = self.at(ms);
            let (vertex, id) = (vertex.into(), id.into());
            self.events.push(ProgressEvent::Bytes {
                vertex,
                id,
                current,
                total,
                at,
            });
        }
        pub fn done(&mut self, ms: u64, vertex: &str) {
            let at = self.at(ms);
            self.events.push(ProgressEvent::Done {
                vertex: vertex.into(),
                at,
            });
        }
        pub fn failed(&mut self, ms: u64, vertex: &str, error: &str) {
            let at = self.at(ms);
            self.events.push(ProgressEvent::Failed {
                vertex: vertex.into(),
                error: error.into(),
                at,
            });
        }
    }

    const KEY_A: &str = "sha256:aaaa";
    const KEY_B: &str = "sha256:bbbb";

    /// Two stages building at once, a pull, a cached step and the export.
    pub(crate) fn parallel_build() -> Script {
        let mut s = Script::new();
        s.start(
            0,
            "load-definition",
            "[internal] load build definition from Dockerfile",
            None,
        );
        s.out(1, "load-definition", "transferring dockerfile: 120B done\n");
        s.done(2, "load-definition");
        s.start(
            3,
            "n0",
            "[a 1/2] FROM docker.io/library/busybox:latest",
            Some("sha256:0000"),
        );
        s.bytes(4, "n0", "sha256:1111", 0, 2_220_000);
        s.bytes(5, "n0", "sha256:1111", 1_000_000, 2_220_000);
        s.bytes(300, "n0", "sha256:1111", 2_220_000, 2_220_000);
        s.done(320, "n0");
        s.start(330, "n1", "[a 2/2] RUN make a", Some(KEY_A));
        s.start(331, "n2", "[b 2/2] RUN make b", Some(KEY_B));
        s.out(400, "n1", "a: one\na: two\n");
        s.log(410, "n2", LogStream::Stderr, "b: warn");
        s.out(420, "n1", "a: thr");
        s.out(430, "n1", "ee\n");
        s.log(440, "n2", LogStream::Stderr, "ing\nb: partial");
        s.done(1530, "n2");
        s.out(1600, "n1", "a: last\n");
        s.done(1700, "n1");
        s.cached("n3", "[final 2/3] COPY --from=a /a /a", "sha256:3333");
        s.start(1710, "exporting", "exporting to image", None);
        s.out(1711, "exporting", "exporting layers done\n");
        s.out(1712, "exporting", "writing image sha256:9999 done\n");
        s.out(
            1713,
            "exporting",
            "naming to docker.io/library/app:1 done\n",
        );
        s.done(1750, "exporting");
        s
    }

    /// A step fails while a sibling still runs.
    pub(crate) fn failing_build() -> Script {
        let mut s = Script::new();
        s.cached(
            "n0",
            "[1/3] FROM docker.io/library/busybox:latest",
            "sha256:0000",
        );
        s.start(10, "n1", "[2/3] RUN sleep 100", Some(KEY_A));
        s.start(11, "n2", "[3/3] RUN exit 3", Some(KEY_B));
        s.out(63, "n2", "some output\n");
        s.log(64, "n2", LogStream::Stderr, "an error message");
        s.failed(
            70,
            "n2",
            "[3/3] RUN exit 3: process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3",
        );
        s
    }

    fn render(script: Script) -> String {
        let mut p = Plain::default();
        let mut out = Vec::new();
        for e in script.events {
            p.event(&mut out, e).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn parallel_steps_interleave_attributably() {
        let out = render(parallel_build());
        assert_golden("plain-parallel.txt", &out);
        // Whatever the golden says: every output line is numbered as its step.
        let number = |stage: &str| {
            let header = out
                .lines()
                .find(|l| l.ends_with(&format!("RUN make {stage}")));
            header.unwrap().split(' ').next().unwrap().to_string()
        };
        for stage in ["a", "b"] {
            let lines = out.lines().filter(|l| l.contains(&format!(" {stage}: ")));
            let numbers: Vec<_> = lines.map(|l| l.split(' ').next().unwrap()).collect();
            assert!(numbers.len() >= 2, "{out}");
            assert!(numbers.iter().all(|n| *n == number(stage)), "{out}");
        }
    }

    #[test]
    fn failing_step_shows_its_output_and_the_error() {
        let out = render(failing_build());
        assert_golden("plain-failure.txt", &out);
        assert!(
            out.contains("#3 0.053 an error message\n#3 ERROR: process"),
            "{out}"
        );
    }

    #[test]
    fn sizes_read_like_buildkits() {
        assert_eq!(size(0), "0B");
        assert_eq!(size(999), "999B");
        assert_eq!(size(772_790), "772.79kB");
        assert_eq!(size(2_220_000), "2.22MB");
    }
}
