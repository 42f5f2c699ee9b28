//! What the tty view knows about a build, kept apart from the terminal so
//! every frame can be tested as plain text: [`Model::frame`] is the live
//! view, [`Model::summary`] what is left on screen when the build ends.

use super::text::{blob_line, header, log_line, status_line, vertex_line, Line, Tone};
use mybuild_solver::ProgressEvent;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Output lines shown under a running step (and kept for a failed one).
const TAIL: usize = 6;
/// An unfinished output line longer than this is cut: a tool that never
/// prints a newline must not grow memory without bound.
const MAX_PARTIAL: usize = 4096;

enum State {
    Running,
    Cached,
    Done(Duration),
    Failed(Duration),
}

/// Bytes of one blob a pull or push has moved.
struct Blob {
    id: String,
    current: u64,
    total: u64,
}

/// The last lines of a step's output, and the line still being written.
#[derive(Default)]
struct Tail {
    lines: VecDeque<String>,
    partial: String,
}

impl Tail {
    fn push(&mut self, data: &[u8]) {
        self.partial.push_str(&String::from_utf8_lossy(data));
        while let Some(pos) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=pos).collect();
            self.keep(last_rewrite(line.trim_end_matches(['\n', '\r'])).to_string());
        }
        // A progress meter redraws its line with `\r`: only the latest
        // version matters, unless the `\r` may still be half of a `\r\n`.
        if let Some(pos) = self.partial.rfind('\r') {
            if pos + 1 < self.partial.len() {
                self.partial.drain(..=pos);
            }
        }
        if self.partial.len() > MAX_PARTIAL {
            let cut = (0..=MAX_PARTIAL)
                .rev()
                .find(|&i| self.partial.is_char_boundary(i))
                .unwrap_or(0);
            self.partial.truncate(cut);
        }
    }

    fn keep(&mut self, line: String) {
        if self.lines.len() == TAIL {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// The unfinished line becomes a line of its own (the step ended).
    fn flush(&mut self) {
        let partial = std::mem::take(&mut self.partial);
        if !partial.trim_end_matches('\r').is_empty() {
            self.keep(last_rewrite(partial.trim_end_matches('\r')).to_string());
        }
    }

    /// The last [`TAIL`] lines, the unfinished one included.
    fn shown(&self) -> Vec<&str> {
        let partial = last_rewrite(self.partial.trim_end_matches('\r'));
        let mut all: Vec<&str> = self.lines.iter().map(String::as_str).collect();
        if !partial.is_empty() {
            all.push(partial);
        }
        let skip = all.len().saturating_sub(TAIL);
        all.split_off(skip)
    }

    fn clear(&mut self) {
        *self = Tail::default();
    }
}

/// What a terminal shows of a line that `\r` rewrote.
fn last_rewrite(line: &str) -> &str {
    line.rsplit('\r').find(|s| !s.is_empty()).unwrap_or("")
}

struct Vertex {
    name: String,
    started: Instant,
    state: State,
    tail: Tail,
    blobs: Vec<Blob>,
    /// The CLI's own vertex (exporting, naming): its lines are statuses,
    /// kept in the summary as BuildKit keeps `writing image ...`.
    status: bool,
    /// `--explain-cache`'s line for a missed step, kept in the summary.
    miss: Option<String>,
}

impl Vertex {
    fn finished(&self) -> bool {
        !matches!(self.state, State::Running)
    }
}

/// One vertex as drawn: its line, then byte bars, then output lines.
struct Block {
    head: Line,
    blobs: Vec<Line>,
    logs: Vec<Line>,
    finished: bool,
}

impl Block {
    fn len(&self) -> usize {
        1 + self.blobs.len() + self.logs.len()
    }

    fn into_lines(self) -> Vec<Line> {
        let mut lines = vec![self.head];
        lines.extend(self.blobs);
        lines.extend(self.logs);
        lines
    }
}

pub(super) struct Model {
    start: Instant,
    vertices: Vec<Vertex>,
    index: HashMap<String, usize>,
}

impl Model {
    pub fn new(start: Instant) -> Model {
        Model {
            start,
            vertices: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// The vertex `id`, created (running since `at`) on first sight.
    fn vertex(&mut self, id: &str, at: Instant) -> &mut Vertex {
        let next = self.vertices.len();
        let i = *self.index.entry(id.to_string()).or_insert(next);
        if i == next {
            self.vertices.push(Vertex {
                name: String::new(),
                started: at,
                state: State::Running,
                tail: Tail::default(),
                blobs: Vec::new(),
                status: !crate::render::plain::is_step(id),
                miss: None,
            });
        }
        &mut self.vertices[i]
    }

    pub fn event(&mut self, ev: ProgressEvent) {
        match ev {
            ProgressEvent::Started {
                vertex, name, at, ..
            } => {
                let v = self.vertex(&vertex, at);
                v.name = name;
                (v.started, v.state) = (at, State::Running);
            }
            ProgressEvent::Log {
                vertex, data, at, ..
            } => self.vertex(&vertex, at).tail.push(&data),
            ProgressEvent::Cached { vertex, name, .. } => {
                let v = self.vertex(&vertex, Instant::now());
                (v.name, v.state) = (name, State::Cached);
                v.blobs.clear();
                v.tail.clear();
            }
            ProgressEvent::Bytes {
                vertex,
                id,
                current,
                total,
                at,
            } => bytes(&mut self.vertex(&vertex, at).blobs, id, current, total),
            ProgressEvent::Done { vertex, at } => {
                let v = self.vertex(&vertex, at);
                v.state = State::Done(at.saturating_duration_since(v.started));
                // Collapses the step to its one line; statuses stay.
                v.blobs.clear();
                if !v.status {
                    v.tail.clear();
                }
            }
            ProgressEvent::CacheMiss {
                vertex, reasons, ..
            } => {
                self.vertex(&vertex, Instant::now()).miss =
                    Some(mybuild_solver::explain::summary(&reasons));
            }
            ProgressEvent::Failed { vertex, at, .. } => {
                let v = self.vertex(&vertex, at);
                v.state = State::Failed(at.saturating_duration_since(v.started));
                v.blobs.clear();
                // The output that explains the failure stays.
                v.tail.flush();
            }
        }
    }

    fn counts(&self) -> (usize, usize) {
        let done = self.vertices.iter().filter(|v| v.finished()).count();
        (done, self.vertices.len())
    }

    /// The live view at `now` for a `width` x `height` terminal, as blocks
    /// (the header, then one per vertex shown) of lines that fit the width.
    /// When everything does not fit the height, finished steps go first
    /// (oldest first), then the oldest output lines of running ones.
    pub fn frame(&self, now: Instant, width: usize, height: usize) -> Vec<Vec<Line>> {
        let (done, total) = self.counts();
        let secs = now.saturating_duration_since(self.start);
        let head = header(secs, done, total, false, width);
        let mut blocks: Vec<Block> = self
            .vertices
            .iter()
            .map(|v| self.block(v, now, width, false))
            .collect();
        fit(&mut blocks, height.saturating_sub(2));
        let mut out = vec![vec![head]];
        out.extend(blocks.into_iter().map(Block::into_lines));
        out
    }

    /// The final frame: the header with the whole build's time, every step
    /// on one line, a failed step's last output under it. Not limited to
    /// the terminal's height: it stays in the scrollback.
    pub fn summary(&self, now: Instant, width: usize) -> Vec<Line> {
        let (done, total) = self.counts();
        let failed = self
            .vertices
            .iter()
            .any(|v| matches!(v.state, State::Failed(_)));
        let finished = done == total && !failed;
        let secs = now.saturating_duration_since(self.start);
        let mut lines = vec![header(secs, done, total, finished, width)];
        for v in &self.vertices {
            lines.extend(self.block(v, now, width, true).into_lines());
        }
        lines
    }

    fn block(&self, v: &Vertex, now: Instant, width: usize, last: bool) -> Block {
        let (label, secs, tone) = match v.state {
            State::Running if last => (
                "CANCELED ",
                now.saturating_duration_since(v.started),
                Tone::Error,
            ),
            State::Running => ("", now.saturating_duration_since(v.started), Tone::Normal),
            State::Cached => ("CACHED ", Duration::ZERO, Tone::Done),
            State::Done(d) => ("", d, Tone::Done),
            State::Failed(d) => ("ERROR ", d, Tone::Error),
        };
        let running = matches!(v.state, State::Running) && !last;
        let blobs = match running {
            true => v
                .blobs
                .iter()
                .map(|b| blob_line(&b.id, b.current, b.total, width))
                .collect(),
            false => Vec::new(),
        };
        let show_logs = running || matches!(v.state, State::Failed(_)) || (last && v.status);
        let mut logs: Vec<Line> = match show_logs {
            true => v
                .tail
                .shown()
                .into_iter()
                .map(|l| match v.status {
                    true => status_line(l, width),
                    false => log_line(l, width),
                })
                .collect(),
            false => Vec::new(),
        };
        if let Some(miss) = &v.miss {
            logs.insert(0, status_line(miss, width));
        }
        Block {
            head: vertex_line(label, &v.name, secs, tone, width),
            blobs,
            logs,
            finished: v.finished(),
        }
    }
}

/// Records a blob's bytes; a complete one is no longer shown.
fn bytes(blobs: &mut Vec<Blob>, id: String, current: u64, total: u64) {
    let complete = total > 0 && current >= total;
    match blobs.iter().position(|b| b.id == id) {
        Some(i) if complete => {
            blobs.remove(i);
        }
        Some(i) => (blobs[i].current, blobs[i].total) = (current, total),
        None if complete => {}
        None => blobs.push(Blob { id, current, total }),
    }
}

/// Drops lines until `blocks` take at most `budget` lines: finished blocks
/// (oldest first), then output lines, then byte bars of the busiest
/// blocks, then whole blocks from the top.
fn fit(blocks: &mut Vec<Block>, budget: usize) {
    let used = |b: &[Block]| b.iter().map(Block::len).sum::<usize>();
    while used(blocks) > budget {
        if let Some(i) = blocks.iter().position(|b| b.finished) {
            blocks.remove(i);
        } else if let Some(b) = busiest(blocks, |b| b.logs.len()) {
            b.logs.remove(0);
        } else if let Some(b) = busiest(blocks, |b| b.blobs.len()) {
            b.blobs.pop();
        } else {
            blocks.remove(0);
        }
    }
}

fn busiest(blocks: &mut [Block], count: impl Fn(&Block) -> usize) -> Option<&mut Block> {
    blocks
        .iter_mut()
        .filter(|b| count(b) > 0)
        .max_by_key(|b| count(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mybuild_solver::LogStream;

    const W: usize = 60;

    fn started(v: &str, name: &str, at: Instant) -> ProgressEvent {
        ProgressEvent::Started {
            vertex: v.into(),
            name: name.into(),
            digest: None,
            at,
        }
    }

    fn log(v: &str, s: &str, at: Instant) -> ProgressEvent {
        ProgressEvent::Log {
            vertex: v.into(),
            stream: LogStream::Stdout,
            data: s.as_bytes().to_vec(),
            at,
        }
    }

    fn texts(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.text.trim_end().to_string())
            .collect()
    }

    fn flat(blocks: Vec<Vec<Line>>) -> Vec<String> {
        texts(&blocks.concat())
    }

    /// A build two steps in: one done, one running with output.
    fn two_steps(t: Instant) -> Model {
        let mut m = Model::new(t);
        let ms = |n| t + Duration::from_millis(n);
        m.event(started("n1", "[1/2] FROM busybox", t));
        m.event(ProgressEvent::Done {
            vertex: "n1".into(),
            at: ms(300),
        });
        m.event(started("n2", "[2/2] RUN make", ms(300)));
        m.event(log("n2", "one\ntwo\nthr", ms(400)));
        m
    }

    #[test]
    fn running_step_shows_timer_and_last_lines() {
        let t = Instant::now();
        let m = two_steps(t);
        let frame = flat(m.frame(t + Duration::from_millis(1500), W, 30));
        let pad = |left: &str, right: &str| {
            format!("{left}{}{right}", " ".repeat(W - left.len() - right.len()))
        };
        assert_eq!(
            frame,
            vec![
                "[+] Building 1.5s (1/2)".to_string(),
                pad(" => [1/2] FROM busybox", "0.3s"),
                pad(" => [2/2] RUN make", "1.2s"),
                " => => # one".into(),
                " => => # two".into(),
                " => => # thr".into(),
            ]
        );
    }

    #[test]
    fn the_summary_keeps_the_image_id_and_names() {
        let t = Instant::now();
        let mut m = two_steps(t);
        m.event(started("exporting", "exporting to image", t));
        m.event(log("exporting", "writing image sha256:abc done\n", t));
        m.event(log(
            "exporting",
            "naming to docker.io/library/x:1 done\n",
            t,
        ));
        m.event(ProgressEvent::Done {
            vertex: "exporting".into(),
            at: t,
        });
        let lines = texts(&m.summary(t, 80));
        let at = lines
            .iter()
            .position(|l| l.starts_with(" => exporting to image"));
        let at = at.expect("export line");
        assert_eq!(lines[at + 1], " => => writing image sha256:abc done");
        assert_eq!(lines[at + 2], " => => naming to docker.io/library/x:1 done");
    }

    #[test]
    fn summary_collapses_done_steps_and_says_finished() {
        let t = Instant::now();
        let mut m = two_steps(t);
        m.event(ProgressEvent::Done {
            vertex: "n2".into(),
            at: t + Duration::from_millis(2000),
        });
        let summary = texts(&m.summary(t + Duration::from_millis(2100), W));
        assert_eq!(summary[0], "[+] Building 2.1s (2/2) FINISHED");
        assert_eq!(summary.len(), 3, "{summary:?}");
        assert!(summary[2].starts_with(" => [2/2] RUN make "), "{summary:?}");
        assert!(summary[2].ends_with(" 1.7s"), "{summary:?}");
    }

    #[test]
    fn a_cache_miss_line_stays_under_its_step() {
        let t = Instant::now();
        let mut m = two_steps(t);
        m.event(ProgressEvent::CacheMiss {
            vertex: "n2".into(),
            name: "[2/2] RUN make".into(),
            reasons: vec![mybuild_solver::explain::MissReason::NoRecord],
        });
        m.event(ProgressEvent::Done {
            vertex: "n2".into(),
            at: t + Duration::from_millis(2000),
        });
        let summary = texts(&m.summary(t + Duration::from_millis(2100), W));
        assert!(summary[2].starts_with(" => [2/2] RUN make "), "{summary:?}");
        assert_eq!(
            summary[3],
            " => => cache miss: no earlier record of this step"
        );
    }

    #[test]
    fn failed_step_keeps_its_output_in_the_summary() {
        let t = Instant::now();
        let mut m = two_steps(t);
        m.event(log("n2", "ee\n", t));
        m.event(ProgressEvent::Failed {
            vertex: "n2".into(),
            error: "exit code: 2".into(),
            at: t + Duration::from_millis(1300),
        });
        let summary = m.summary(t + Duration::from_millis(1400), W);
        let text = texts(&summary);
        assert_eq!(text[0], "[+] Building 1.4s (2/2)", "not FINISHED");
        assert!(text[2].starts_with(" => ERROR [2/2] RUN make"), "{text:?}");
        assert!(text[2].ends_with("1.0s"), "{text:?}");
        assert_eq!(
            text[3..],
            [" => => # one", " => => # two", " => => # three"]
        );
        assert_eq!(summary[2].tone, Tone::Error);
        assert_eq!(summary[3].tone, Tone::Dim);
    }

    #[test]
    fn cached_and_unfinished_steps_are_labelled() {
        let t = Instant::now();
        let mut m = Model::new(t);
        m.event(ProgressEvent::Cached {
            vertex: "n3".into(),
            name: "[2/3] COPY x /".into(),
            digest: None,
        });
        m.event(started("n4", "[3/3] RUN sleep 9", t));
        let live = flat(m.frame(t, W, 30));
        assert!(live[1].starts_with(" => CACHED [2/3] COPY x /"), "{live:?}");
        assert!(live[1].ends_with(" 0.0s"), "{live:?}");
        let last = texts(&m.summary(t, W));
        assert!(
            last[2].starts_with(" => CANCELED [3/3] RUN sleep 9"),
            "{last:?}"
        );
    }

    #[test]
    fn only_the_last_six_lines_and_the_latest_rewrite_show() {
        let t = Instant::now();
        let mut m = Model::new(t);
        m.event(started("n1", "[1/1] RUN x", t));
        m.event(log("n1", "1\n2\n3\n4\n5\n6\n7\r\n10%\r50%\r", t));
        let lines = flat(m.frame(t, W, 30));
        let want = ["2", "3", "4", "5", "6", "7", "50%"].map(|l| format!(" => => # {l}"));
        assert_eq!(lines[2..], want[1..], "the unfinished line counts");
        // The `\r` rewrites the meter's line; escapes and tabs are tamed.
        m.event(log("n1", "\x1b[1mbold\x1b[0m\tend\n", t));
        let lines = flat(m.frame(t, W, 30));
        assert_eq!(lines.last().unwrap(), " => => # bold    end");
        assert_eq!(lines[2], " => => # 3");
        assert_eq!(lines.len(), 2 + TAIL);
    }

    #[test]
    fn byte_bars_show_while_moving_and_go_when_complete() {
        let t = Instant::now();
        let mut m = Model::new(t);
        m.event(started("n5", "[1/1] FROM alpine", t));
        let blob = |current| ProgressEvent::Bytes {
            vertex: "n5".into(),
            id: format!("sha256:{}", "ab".repeat(32)),
            current,
            total: 4_500_000,
            at: t,
        };
        m.event(blob(1_200_000));
        let lines = flat(m.frame(t, 80, 30));
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines[2].starts_with(" => => sha256:abababababab "),
            "{lines:?}"
        );
        assert!(lines[2].ends_with("1.20MB / 4.50MB"), "{lines:?}");
        m.event(blob(4_500_000));
        assert_eq!(flat(m.frame(t, 80, 30)).len(), 2);
    }

    #[test]
    fn too_many_lines_drop_finished_steps_then_old_output() {
        let t = Instant::now();
        let mut m = Model::new(t);
        for i in 0..5 {
            let id = format!("done{i}");
            m.event(started(&id, &format!("step {i}"), t));
            m.event(ProgressEvent::Done { vertex: id, at: t });
        }
        m.event(started("n6", "running", t));
        m.event(log("n6", "a\nb\nc\nd\n", t));
        // 10 rows: the header, a spare row, 8 for steps: the oldest
        // finished ones give way.
        let lines = flat(m.frame(t, W, 10));
        assert_eq!(lines.len(), 9, "{lines:?}");
        assert!(lines[1].starts_with(" => step 2"), "{lines:?}");
        let lines = flat(m.frame(t, W, 7));
        assert_eq!(lines.len(), 6, "{lines:?}");
        assert!(lines[1].starts_with(" => running"), "{lines:?}");
        // Then the oldest output lines.
        let lines = flat(m.frame(t, W, 5));
        assert_eq!(lines[2..], [" => => # c", " => => # d"], "{lines:?}");
    }
}
