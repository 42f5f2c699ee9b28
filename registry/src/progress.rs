//! The progress a pull reports, without knowing who listens: the client
//! calls [`ByteProgress::bytes`] and never sees a channel or an event type.

use std::time::{Duration, Instant};

/// Where a pull reports the bytes it has downloaded. The solver's
/// `Progress` implements it, sending each call as a byte event of `vertex`.
pub trait ByteProgress: Send + Sync {
    /// `current` of `total` bytes of blob `id` have moved (`total` 0 if
    /// unknown). `vertex` is the label the caller passed with this sink,
    /// handed back as given.
    fn bytes(&self, vertex: &str, id: &str, current: u64, total: u64);
}

/// A sink that drops everything (tests, cache imports).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl ByteProgress for NoProgress {
    fn bytes(&self, _vertex: &str, _id: &str, _current: u64, _total: u64) {}
}

/// How often one blob's byte progress is reported at most: often enough
/// for a live bar, rare enough not to flood the renderer.
const REPORT_EVERY: Duration = Duration::from_millis(100);

/// Paces the byte progress of one blob: the first report, then at most one
/// per [`REPORT_EVERY`], and always the one that completes it.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    last: Option<Instant>,
}

impl Throttle {
    /// Whether `current` of `total` bytes is worth reporting now.
    pub(crate) fn due(&mut self, current: u64, total: u64) -> bool {
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
