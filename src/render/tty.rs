//! The live terminal view (`--progress=tty`). Not written yet: plain output
//! stands in.

use super::{plain::Plain, Sink};
use mybuild_solver::ProgressEvent;

pub struct Tty(Plain);

impl Tty {
    pub fn new() -> Tty {
        Tty(Plain::default())
    }
}

impl Sink for Tty {
    fn event(&mut self, ev: ProgressEvent) {
        let _ = self.0.event(&mut std::io::stderr().lock(), ev);
    }
}
