//! `--log-dir DIR`: every vertex's complete output in a file of its own,
//! whatever the terminal mode shows.
//!
//! Files are named by vertex number (numbered in order of first appearance,
//! as plain output numbers them) and the step's name reduced to letters,
//! digits and dashes: `05-build-2-4-RUN-make.log`. A file is created when
//! its vertex first logs and gets every byte of both streams as they came,
//! never clipped. A directory or file that cannot be written costs one
//! warning on stderr, never the build.

use mybuild_solver::ProgressEvent;
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

/// Longest name part of a file name, in bytes.
const MAX_NAME: usize = 80;

enum Output {
    Unopened,
    Open(File),
    /// Opening or writing it failed (and was reported).
    Failed,
}

struct Vertex {
    number: usize,
    name: String,
    output: Output,
}

pub struct LogDir {
    /// `None` when it could not be created.
    dir: Option<PathBuf>,
    vertices: HashMap<String, Vertex>,
    warned: bool,
}

/// `[build 2/4] RUN make` -> `build-2-4-RUN-make`.
fn sanitize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if out.len() >= MAX_NAME {
            break;
        }
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

impl LogDir {
    pub fn new(dir: PathBuf) -> LogDir {
        let mut logs = LogDir {
            dir: None,
            vertices: HashMap::new(),
            warned: false,
        };
        match std::fs::create_dir_all(&dir) {
            Ok(()) => logs.dir = Some(dir),
            Err(e) => logs.warn(format!("creating {}: {e}", dir.display())),
        }
        logs
    }

    fn warn(&mut self, msg: String) {
        if !self.warned {
            self.warned = true;
            eprintln!("WARNING: --log-dir: {msg}; step output is not kept there");
        }
    }

    pub fn event(&mut self, ev: &ProgressEvent) {
        let (vertex, name, data) = match ev {
            ProgressEvent::Started { vertex, name, .. }
            | ProgressEvent::Cached { vertex, name, .. }
            | ProgressEvent::CacheMiss { vertex, name, .. } => (vertex, Some(name), None),
            ProgressEvent::Log { vertex, data, .. } => (vertex, None, Some(data)),
            ProgressEvent::Bytes { vertex, .. }
            | ProgressEvent::Done { vertex, .. }
            | ProgressEvent::Failed { vertex, .. } => (vertex, None, None),
        };
        let next = self.vertices.len() + 1;
        let v = self.vertices.entry(vertex.clone()).or_insert(Vertex {
            number: next,
            name: String::new(),
            output: Output::Unopened,
        });
        if let (true, Some(name)) = (v.name.is_empty(), name) {
            v.name = name.clone();
        }
        let (Some(data), Some(dir)) = (data, &self.dir) else {
            return;
        };
        let name = if v.name.is_empty() { vertex } else { &v.name };
        let path = dir.join(format!("{:02}-{}.log", v.number, sanitize(name)));
        let failure = match &mut v.output {
            Output::Unopened => match File::create(&path) {
                Ok(mut f) => {
                    let written = f.write_all(data);
                    v.output = Output::Open(f);
                    written
                        .err()
                        .map(|e| format!("writing {}: {e}", path.display()))
                }
                Err(e) => Some(format!("creating {}: {e}", path.display())),
            },
            Output::Open(f) => f
                .write_all(data)
                .err()
                .map(|e| format!("writing {}: {e}", path.display())),
            Output::Failed => None,
        };
        if let Some(msg) = failure {
            v.output = Output::Failed;
            self.warn(msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mybuild_solver::LogStream;
    use std::time::Instant;

    fn started(vertex: &str, name: &str) -> ProgressEvent {
        ProgressEvent::Started {
            vertex: vertex.into(),
            name: name.into(),
            digest: None,
            at: Instant::now(),
        }
    }

    fn log(vertex: &str, data: &[u8]) -> ProgressEvent {
        ProgressEvent::Log {
            vertex: vertex.into(),
            stream: LogStream::Stderr,
            data: data.to_vec(),
            at: Instant::now(),
        }
    }

    #[test]
    fn names_files_by_number_and_step() {
        assert_eq!(sanitize("[build 2/4] RUN make"), "build-2-4-RUN-make");
        assert_eq!(sanitize("  [x]  "), "x");
        assert!(sanitize(&"RUN echo hi ".repeat(100)).len() <= MAX_NAME);
    }

    #[test]
    fn keeps_every_byte_of_each_vertex() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("new/logs");
        let mut logs = LogDir::new(dir.clone());
        logs.event(&started("load", "[internal] load build definition"));
        logs.event(&started("n1", "[build 2/4] RUN make"));
        logs.event(&started("n2", "[other 2/2] RUN quiet"));
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        logs.event(&log("n1", &big[..1000]));
        logs.event(&log("n1", &big[1000..]));
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(
            files,
            ["02-build-2-4-RUN-make.log"],
            "only vertices that log"
        );
        assert_eq!(std::fs::read(dir.join(&files[0])).unwrap(), big);
    }

    #[test]
    fn an_unusable_dir_is_not_fatal() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        std::fs::write(&file, "").unwrap();
        let mut logs = LogDir::new(file.join("sub"));
        logs.event(&started("n1", "RUN x"));
        logs.event(&log("n1", b"x\n"));
        assert!(logs.warned && logs.dir.is_none());
    }
}
