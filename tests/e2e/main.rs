//! The end-to-end tests: each module drives the real `mybuild` binary
//! against real parts (namespaces, overlayfs, a registry on loopback,
//! dockerd where a module says so). One test binary, so `util` is built
//! once and every helper in it is used somewhere.

mod util;

mod add_git;
mod build;
mod cache_mounts;
mod cache_share;
mod cancel;
mod checks;
mod ci_recipe;
mod commands;
mod config;
mod deep;
mod explain;
mod fidelity;
mod first_run;
mod flags;
mod hostile;
mod hostile_inputs;
mod inputs;
mod legacy;
mod load;
mod login;
mod multiplatform;
mod outputs;
mod progress;
mod push;
mod relink;
mod reproducible;
mod rootless;
mod run;
mod ssh;
mod store;
mod tty;
