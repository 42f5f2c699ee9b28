//! [`Session`]: what the steps of one BuildKit-mode build share. The steps
//! themselves are methods in `pipeline.rs` (up to the solved layers) and
//! `export.rs` (the image, its names, exports and pushes).

use super::options::BuildOptions;
use mybuild_cache::Store;
use mybuild_registry::ImageProvider;
use mybuild_solver::Progress;
use std::sync::Arc;

pub(super) struct Session<'a> {
    pub opts: &'a BuildOptions,
    pub store: Arc<Store>,
    pub images: Arc<ImageProvider>,
    pub progress: &'a Progress,
}

impl Session<'_> {
    /// The architecture a single-platform build makes its image for.
    pub(super) fn target_arch(&self) -> &str {
        (self.opts.platforms.first()).map_or(mybuild_graph::host_arch(), String::as_str)
    }
}
