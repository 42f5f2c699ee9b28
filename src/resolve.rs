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
    seen: Mutex<HashMap<(String, String), ResolvedImage>>,
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
        self.resolve_platform(reference, mybuild_graph::host_arch())
    }

    fn resolve_platform(
        &self,
        reference: &str,
        arch: &str,
    ) -> Result<ResolvedImage, Box<dyn std::error::Error + Send + Sync>> {
        let key = (reference.to_string(), arch.to_string());
        if let Some(img) = self.seen.lock().expect("resolver poisoned").get(&key) {
            return Ok(img.clone());
        }
        // As BuildKit names the lookups of other platforms than the host's.
        let (vertex, label) = if arch == mybuild_graph::host_arch() {
            (format!("metadata {reference}"), "[internal]".to_string())
        } else {
            (
                format!("metadata {reference} {arch}"),
                format!("[linux/{arch} internal]"),
            )
        };
        self.progress
            .started(&vertex, &format!("{label} load metadata for {reference}"));
        match self
            .handle
            .block_on(self.images.resolve_platform(reference, arch))
        {
            Ok(img) => {
                self.progress.done(&vertex);
                let img = ResolvedImage {
                    reference: img.reference,
                    pin: img.pin,
                    config: img.config,
                };
                let mut seen = self.seen.lock().expect("resolver poisoned");
                seen.insert(key, img.clone());
                Ok(img)
            }
            Err(e) => {
                self.progress.failed(&vertex, &e.to_string());
                if e.is_unreachable() {
                    return Err(offline_hint(reference, arch, &e).into());
                }
                Err(Box::new(e))
            }
        }
    }
}

/// An unreachable registry on a first run usually means no network: say
/// what failed and how to get a base image without one.
fn offline_hint(reference: &str, arch: &str, e: &mybuild_registry::RegistryError) -> String {
    if arch != mybuild_graph::host_arch() {
        return format!(
            "{e} (registry unreachable, and the local store has no linux/{arch} image of that \
             name; `mybuild bootstrap-busybox --platform linux/{arch} --busybox PATH` makes a \
             busybox base from that architecture's static busybox)"
        );
    }
    let busybox = reference == "busybox"
        || reference.starts_with("busybox:")
        || reference.starts_with("docker.io/library/busybox")
        || reference.starts_with("library/busybox");
    if busybox {
        format!(
            "{e} (registry unreachable; no network? `mybuild bootstrap-busybox` \
             makes busybox:latest from the host's static busybox)"
        )
    } else {
        format!(
            "{e} (registry unreachable; no network? `mybuild bootstrap-busybox` \
             makes a busybox base image offline)"
        )
    }
}
