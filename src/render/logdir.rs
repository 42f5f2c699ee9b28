//! `--log-dir DIR`: every step's complete output in a file of its own.
//! Not written yet.

use mybuild_solver::ProgressEvent;
use std::path::PathBuf;

pub struct LogDir {
    #[allow(dead_code)]
    dir: PathBuf,
}

impl LogDir {
    pub fn new(dir: PathBuf) -> LogDir {
        LogDir { dir }
    }

    pub fn event(&mut self, _ev: &ProgressEvent) {}
}
