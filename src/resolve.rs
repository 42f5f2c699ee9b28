//! Adapts the solver's image provider to the frontend's synchronous
//! `ImageResolver`, reporting each lookup as a progress vertex.

use mybuild_frontend::{ImageResolver, ResolvedImage};
use mybuild_registry::ImageProvider;
use mybuild_solver::Progress;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::runtime::Handle;

pub struct StoreResolver {
    images: Arc<ImageProvider>,
    handle: Handle,
    progress: Progress,
    /// Stages naming the same base share one lookup (and one progress
    /// vertex), and see the same pin even if the tag moves mid-build.
    seen: Mutex<HashMap<String, ResolvedImage>>,
}

impl StoreResolver {
    pub fn new(images: Arc<ImageProvider>, handle: Handle, progress: Progress) -> Self {
        StoreResolver {
            images,
            handle,
            progress,
            seen: Mutex::default(),
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
        if let Some(img) = self.seen.lock().expect("resolver poisoned").get(reference) {
            return Ok(img.clone());
        }
        let vertex = format!("metadata {reference}");
        self.progress.started(
            &vertex,
            &format!("[internal] load metadata for {reference}"),
        );
        match self.handle.block_on(self.images.resolve(reference)) {
            Ok(img) => {
                self.progress.done(&vertex);
                let img = ResolvedImage {
                    reference: img.reference,
                    pin: img.pin,
                    config: img.config,
                };
                let mut seen = self.seen.lock().expect("resolver poisoned");
                seen.insert(reference.to_string(), img.clone());
                Ok(img)
            }
            Err(e) => {
                self.progress.failed(&vertex, &e.to_string());
                Err(Box::new(e))
            }
        }
    }
}
