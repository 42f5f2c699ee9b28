//! Adapts the solver's image provider to the frontend's synchronous
//! `ImageResolver`, reporting each lookup as a progress vertex.

use mybuild_frontend::{ImageResolver, ResolvedImage};
use mybuild_solver::registry::ImageProvider;
use mybuild_solver::Progress;
use std::sync::Arc;
use tokio::runtime::Handle;

pub struct StoreResolver {
    images: Arc<ImageProvider>,
    handle: Handle,
    progress: Progress,
}

impl StoreResolver {
    pub fn new(images: Arc<ImageProvider>, handle: Handle, progress: Progress) -> Self {
        StoreResolver {
            images,
            handle,
            progress,
        }
    }
}

impl ImageResolver for StoreResolver {
    /// Called from the frontend's blocking thread, so blocking on the
    /// runtime here is allowed.
    fn resolve(
        &self,
        reference: &str,
    ) -> Result<ResolvedImage, Box<dyn std::error::Error + Send + Sync>> {
        let vertex = format!("metadata {reference}");
        self.progress.started(
            &vertex,
            &format!("[internal] load metadata for {reference}"),
        );
        match self.handle.block_on(self.images.resolve(reference)) {
            Ok(img) => {
                self.progress.done(&vertex);
                Ok(ResolvedImage {
                    reference: img.reference,
                    pin: img.pin,
                    config: img.config,
                })
            }
            Err(e) => {
                self.progress.failed(&vertex, &e.to_string());
                Err(Box::new(e))
            }
        }
    }
}
