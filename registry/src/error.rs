//! The error every registry operation returns: each variant names the URL,
//! reference or layer involved and what step failed.

use super::auth::AuthError;
use super::credentials::CredentialsError;
use super::reference::ReferenceError;
use mybuild_graph::Digest;

use mybuild_cache::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("build HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("load registry credentials: {0}")]
    Credentials(#[source] std::sync::Arc<CredentialsError>),
    #[error("authenticate to {registry}: {source}")]
    Auth { registry: String, source: AuthError },
    #[error("GET {url}: {}", describe(.source))]
    Request { url: String, source: reqwest::Error },
    #[error("GET {url}: HTTP {status}{}", body_suffix(.body))]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("invalid registry URL {url}")]
    BadUrl { url: String },
    #[error("GET {url}: response larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("GET {url}: more than {limit} redirects")]
    TooManyRedirects { url: String, limit: usize },
    #[error("GET {url}: redirect with invalid Location {location:?}")]
    BadRedirect { url: String, location: String },
    #[error("manifest {reference}: digest mismatch: expected {expected}, got {got}")]
    ManifestDigestMismatch {
        reference: String,
        expected: String,
        got: Digest,
    },
    #[error("manifest {reference}: {reason}")]
    BadManifest { reference: String, reason: String },
    #[error("manifest {reference}: unsupported media type {media_type:?}")]
    UnsupportedManifest {
        reference: String,
        media_type: String,
    },
    #[error("manifest {reference}: no image for {platform}; available: {available}")]
    NoPlatform {
        reference: String,
        platform: String,
        available: String,
    },
    #[error("image config {digest} of {reference}: {reason}")]
    BadConfig {
        reference: String,
        digest: Digest,
        reason: String,
    },
    #[error("blob {digest} from {url}: digest mismatch, got {got}")]
    BlobDigestMismatch {
        url: String,
        digest: Digest,
        got: Digest,
    },
    #[error("blob {digest} from {url}: expected {expected} bytes, got {got}")]
    BlobSizeMismatch {
        url: String,
        digest: Digest,
        expected: u64,
        got: u64,
    },
    #[error("layer {index} ({digest}): unsupported media type {media_type:?} (gzip, zstd and plain tar are supported)")]
    UnsupportedLayer {
        index: usize,
        digest: Digest,
        media_type: String,
    },
    #[error("layer {index} ({digest}): unpacked to diff_id {got}, config says {expected}")]
    DiffIdMismatch {
        index: usize,
        digest: Digest,
        expected: Digest,
        got: Digest,
    },
    #[error("store: {op} {what}: {source}")]
    Store {
        op: &'static str,
        what: String,
        source: Box<StoreError>,
    },
    #[error("open blob {path}: {source}")]
    OpenBlob {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("write blob {digest} from {url}: {source}")]
    WriteBlob {
        url: String,
        digest: Digest,
        source: std::io::Error,
    },
    #[error("{what}: background task failed: {source}")]
    Task {
        what: String,
        source: tokio::task::JoinError,
    },
    #[error("{method} {url}: {}", describe(.source))]
    PushRequest {
        method: String,
        url: String,
        source: reqwest::Error,
    },
    #[error("{method} {url}: HTTP {status}{}", body_suffix(.body))]
    PushStatus {
        method: String,
        url: String,
        status: u16,
        body: String,
    },
    #[error("PUT {url}: registry stored digest {got}, expected {expected}")]
    PushDigestMismatch {
        url: String,
        expected: Digest,
        got: String,
    },
    #[error("local image {reference}: layer {diff_id} is not unpacked in the store")]
    LocalLayerMissing { reference: String, diff_id: Digest },
}

/// Seconds a registry may stay silent (while connecting, or between two
/// reads of a response) before the request counts as stalled:
/// `$MYBUILD_REGISTRY_TIMEOUT`, else 30.
pub fn stall_timeout() -> std::time::Duration {
    let secs = std::env::var("MYBUILD_REGISTRY_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(30);
    std::time::Duration::from_secs(secs)
}

/// A request's failure, saying what stalled when a timeout ended it (the
/// transport's own words, such as "error decoding response body", do not).
fn describe(source: &reqwest::Error) -> String {
    if !source.is_timeout() {
        // reqwest's own text ("error sending request for url") hides why;
        // the innermost cause says it (refused, no such host, TLS).
        let mut root: &dyn std::error::Error = source;
        while let Some(next) = root.source() {
            root = next;
        }
        let (top, why) = (source.to_string(), root.to_string());
        return if why == top {
            top
        } else {
            format!("{top}: {why}")
        };
    }
    let secs = stall_timeout().as_secs();
    let what = if source.is_connect() {
        "could not connect"
    } else {
        "the registry stopped sending"
    };
    format!("stalled: {what} for {secs} s (MYBUILD_REGISTRY_TIMEOUT sets the limit)")
}

/// The registry's explanation: the distribution spec's error document
/// (`{"errors":[{"code":..,"message":..}]}`) as `CODE: message`, any other
/// body as sent.
fn body_suffix(body: &str) -> String {
    if body.is_empty() {
        return String::new();
    }
    match spec_errors(body) {
        Some(described) => format!(": {described}"),
        None => format!(": {body}"),
    }
}

/// `CODE: message[; CODE: message]` from a distribution-spec error body.
fn spec_errors(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let errors = v.get("errors")?.as_array()?;
    let parts: Vec<String> = errors
        .iter()
        .filter_map(|e| {
            let code = e.get("code")?.as_str()?;
            match e.get("message").and_then(|m| m.as_str()) {
                Some(m) if !m.is_empty() => Some(format!("{code}: {m}")),
                _ => Some(code.to_string()),
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

impl RegistryError {
    /// The registry could not be reached at all (no route, refused, no
    /// such host, stalled): the failure an offline machine sees.
    pub fn is_unreachable(&self) -> bool {
        match self {
            RegistryError::Request { source, .. } | RegistryError::PushRequest { source, .. } => {
                source.is_connect() || source.is_timeout()
            }
            RegistryError::Auth {
                source: AuthError::TokenRequest { source, .. },
                ..
            } => source.is_connect() || source.is_timeout(),
            _ => false,
        }
    }

    pub(crate) fn store(op: &'static str, what: impl ToString, source: StoreError) -> Self {
        RegistryError::Store {
            op,
            what: what.to_string(),
            source: Box::new(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::body_suffix;

    #[test]
    fn spec_error_bodies_read_as_code_and_message() {
        let body = r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}"#;
        assert_eq!(body_suffix(body), ": MANIFEST_UNKNOWN: manifest unknown");
        assert_eq!(body_suffix("<html>down</html>"), ": <html>down</html>");
        assert_eq!(body_suffix(r#"{"errors":[]}"#), r#": {"errors":[]}"#);
        assert_eq!(body_suffix(""), "");
    }
}
