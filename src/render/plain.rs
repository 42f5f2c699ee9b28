//! BuildKit's plain progress format.
//!
//! Plain output numbers vertices in order of first appearance (`#3`), prints
//! a vertex's header again whenever output switches to it, so lines of
//! parallel steps interleave but stay attributable.

use mybuild_solver::ProgressEvent;
use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;

struct Vertex {
    number: usize,
    name: String,
    started: Instant,
    partial: String,
}

#[derive(Default)]
pub struct Plain {
    vertices: HashMap<String, Vertex>,
    current: Option<String>,
    any_output: bool,
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
                started: Instant::now(),
                partial: String::new(),
            });
        if let Some(n) = name {
            if v.name.is_empty() {
                v.name = n.to_string();
            }
        }
        v
    }

    /// Prints `#N name` unless this vertex is the one output is already about.
    fn switch_to(&mut self, out: &mut impl Write, id: &str) -> std::io::Result<usize> {
        let v = &self.vertices[id];
        let number = v.number;
        if self.current.as_deref() != Some(id) {
            if self.any_output {
                writeln!(out)?;
            }
            writeln!(out, "#{} {}", number, v.name)?;
            self.current = Some(id.to_string());
            self.any_output = true;
        }
        Ok(number)
    }

    pub fn event(&mut self, out: &mut impl Write, ev: ProgressEvent) -> std::io::Result<()> {
        match ev {
            ProgressEvent::Started {
                vertex, name, at, ..
            } => {
                self.vertex(&vertex, Some(&name)).started = at;
                self.switch_to(out, &vertex)?;
            }
            ProgressEvent::Log {
                vertex, data, at, ..
            } => {
                let v = self.vertex(&vertex, None);
                v.partial.push_str(&String::from_utf8_lossy(&data));
                let elapsed = at.saturating_duration_since(v.started).as_secs_f64();
                let mut lines = Vec::new();
                while let Some(pos) = v.partial.find('\n') {
                    let line: String = v.partial.drain(..=pos).collect();
                    lines.push(line.trim_end_matches(['\n', '\r']).to_string());
                }
                if !lines.is_empty() {
                    let n = self.switch_to(out, &vertex)?;
                    for line in lines {
                        writeln!(out, "#{n} {elapsed:.3} {line}")?;
                    }
                }
            }
            ProgressEvent::Cached { vertex, name, .. } => {
                self.vertex(&vertex, Some(&name));
                let n = self.switch_to(out, &vertex)?;
                writeln!(out, "#{n} CACHED")?;
            }
            ProgressEvent::Done { vertex, at } => {
                self.flush_partial(out, &vertex)?;
                let v = self.vertex(&vertex, None);
                let secs = at.saturating_duration_since(v.started).as_secs_f64();
                let n = self.switch_to(out, &vertex)?;
                writeln!(out, "#{n} DONE {secs:.1}s")?;
            }
            ProgressEvent::Failed { vertex, error, .. } => {
                self.flush_partial(out, &vertex)?;
                self.vertex(&vertex, None);
                let n = self.switch_to(out, &vertex)?;
                writeln!(out, "#{n} ERROR: {error}")?;
            }
            ProgressEvent::Bytes { .. } => {}
        }
        out.flush()
    }

    fn flush_partial(&mut self, out: &mut impl Write, id: &str) -> std::io::Result<()> {
        let v = self.vertex(id, None);
        if v.partial.is_empty() {
            return Ok(());
        }
        let line = std::mem::take(&mut v.partial);
        let elapsed = v.started.elapsed().as_secs_f64();
        let n = self.switch_to(out, id)?;
        writeln!(out, "#{n} {elapsed:.3} {line}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(events: Vec<ProgressEvent>) -> String {
        let mut p = Plain::default();
        let mut out = Vec::new();
        for e in events {
            p.event(&mut out, e).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn interleaved_vertices_repeat_their_headers() {
        let t = Instant::now();
        let log = |v: &str, s: &str| ProgressEvent::Log {
            vertex: v.into(),
            stream: mybuild_solver::LogStream::Stdout,
            data: s.as_bytes().to_vec(),
            at: t,
        };
        let out = render(vec![
            ProgressEvent::Started {
                vertex: "a".into(),
                name: "[a 1/2] RUN x".into(),
                digest: None,
                at: t,
            },
            ProgressEvent::Started {
                vertex: "b".into(),
                name: "[b 1/2] RUN y".into(),
                digest: None,
                at: t,
            },
            log("a", "from a\n"),
            log("b", "from "),
            log("b", "b\n"),
            ProgressEvent::Done {
                vertex: "a".into(),
                at: t,
            },
            ProgressEvent::Cached {
                vertex: "c".into(),
                name: "[c 2/2] COPY z /".into(),
                digest: None,
            },
        ]);
        let want = "#1 [a 1/2] RUN x\n\n#2 [b 1/2] RUN y\n\n#1 [a 1/2] RUN x\n#1 0.000 from a\n\n\
                    #2 [b 1/2] RUN y\n#2 0.000 from b\n\n#1 [a 1/2] RUN x\n#1 DONE 0.0s\n\n#3 [c 2/2] COPY z /\n#3 CACHED\n";
        assert_eq!(out, want);
    }
}
