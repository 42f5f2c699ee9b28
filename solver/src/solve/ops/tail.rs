//! The last lines of a step's output, kept for the report of a failed RUN.

use std::collections::VecDeque;

/// How many trailing output lines a failed RUN reports.
const TAIL_LINES: usize = 10;

/// Keeps the last few complete lines of a step's output for error reports.
#[derive(Default)]
pub(super) struct Tail {
    lines: VecDeque<String>,
    partial: String,
}

impl Tail {
    pub(super) fn push(&mut self, data: &[u8]) {
        self.partial.push_str(&String::from_utf8_lossy(data));
        while let Some(pos) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=pos).collect();
            self.lines
                .push_back(line.trim_end_matches('\n').to_string());
            if self.lines.len() > TAIL_LINES {
                self.lines.pop_front();
            }
        }
    }

    pub(super) fn lines(mut self) -> Vec<String> {
        if !self.partial.is_empty() {
            self.lines.push_back(std::mem::take(&mut self.partial));
            if self.lines.len() > TAIL_LINES {
                self.lines.pop_front();
            }
        }
        self.lines.into()
    }
}
