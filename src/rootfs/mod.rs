//! The final filesystem of an image, as `type=local` and `type=tar`
//! outputs write it: every layer applied in order, whiteouts and opaque
//! directories honoured ([`merge`]), then written as one deterministic tar
//! stream ([`write_tar`]) or into a directory, confined to it
//! ([`write_dir`]).

mod error;
mod local;
mod merge;
mod tarball;

pub use local::write_dir;
pub use merge::merge;
pub use tarball::write_tar;
