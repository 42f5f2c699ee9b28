//! The ops the real worker runs, one family per file as BuildKit's
//! `llbsolver/ops`: sources (scratch, image, HTTP, local), merge, exec
//! (RUN) and file (COPY/ADD/mkdir). Exec and file ops share `task`, which
//! runs a step in the sandbox and commits its upper dir as a layer.

pub(super) mod exec;
pub(super) mod file;
pub(super) mod merge;
mod relink;
mod relink_apply;
pub(super) mod source;
mod tail;
mod task;
