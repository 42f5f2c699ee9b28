//! Pushing an image: every blob first (skipped when the registry has it,
//! mounted from a sibling repository when one is known to hold it, else
//! uploaded whole or in chunks, several at once), the manifest last, so no
//! tag ever names a manifest whose blobs are missing.

use super::client::RegistryClient;
use super::error::RegistryError;
use super::progress::Throttle;
use super::reference::Reference;
use super::upload::{location, push_status, Call, OnSent};
use futures_util::TryStreamExt as _;
use mybuild_cache::oci::{Descriptor, ImageManifest, OCI_INDEX};
use mybuild_cache::Store;
use mybuild_graph::Digest;
use reqwest::header::{HeaderValue, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE};
use reqwest::{Method, Response, StatusCode};
use sha2::{Digest as _, Sha256};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt as _;

/// Blobs up to this size go in one PUT; larger ones in chunks of this
/// size, the next read while one is sent (two in memory, as one chunk of
/// twice the size was before).
const CHUNK: u64 = 8 << 20;
/// Blobs uploaded at once.
const PARALLEL: usize = 4;

/// What happened to one blob or the manifest, for progress output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    Exists {
        digest: Digest,
        size: u64,
    },
    Mounted {
        digest: Digest,
        from: String,
    },
    /// `sent` of `total` bytes of an upload handed to the connection so
    /// far; paced (see `Throttle`), the last one has `sent == total`.
    Sent {
        digest: Digest,
        sent: u64,
        total: u64,
    },
    Uploaded {
        digest: Digest,
        size: u64,
    },
    Manifest {
        reference: String,
        digest: Digest,
    },
}

/// Progress sink: called from the push's tasks.
pub type OnPush = Arc<dyn Fn(PushEvent) + Send + Sync>;

impl RegistryClient {
    /// Pushes the image whose manifest is `manifest` (its blobs all in
    /// `store`) to `r`; returns the manifest digest the registry stored.
    pub async fn push(
        &self,
        store: Arc<Store>,
        r: &Reference,
        manifest: Vec<u8>,
        on: OnPush,
    ) -> Result<Digest, RegistryError> {
        let view: ImageManifest =
            serde_json::from_slice(&manifest).map_err(|e| RegistryError::BadManifest {
                reference: r.to_string(),
                reason: e.to_string(),
            })?;
        // The config goes alone first: its requests fetch the token the
        // parallel layer uploads then share.
        self.push_blob(&store, r, view.config, &on).await?;
        futures_util::stream::iter(view.layers.into_iter().map(Ok))
            .map_ok(|d| self.push_blob(&store, r, d, &on))
            .try_buffer_unordered(PARALLEL)
            .try_collect::<Vec<()>>()
            .await?;
        self.put_manifest(r, manifest, &view.media_type, &on).await
    }

    /// Puts the image index `index` (an OCI index whose manifests were
    /// pushed to `r`'s repository already) as `r`'s tag; its digest.
    pub async fn push_index(
        &self,
        r: &Reference,
        index: Vec<u8>,
        on: OnPush,
    ) -> Result<Digest, RegistryError> {
        self.put_manifest(r, index, OCI_INDEX, &on).await
    }

    /// PUTs a manifest or index under `r`'s tag (its digest without one),
    /// checking the digest the registry answers.
    async fn put_manifest(
        &self,
        r: &Reference,
        body: Vec<u8>,
        media_type: &str,
        on: &OnPush,
    ) -> Result<Digest, RegistryError> {
        let digest = Digest::of(&body);
        let tag = r.tag.clone().unwrap_or_else(|| digest.to_string());
        let mut call = Call::new(Method::PUT, self.repo_url(r, &format!("manifests/{tag}"))?);
        call.headers.insert(CONTENT_TYPE, header(media_type)?);
        call.body = Some(body.into());
        let resp = self.write(r, call.clone()).await?;
        expect(&call, resp, StatusCode::CREATED, &digest).await?;
        on(PushEvent::Manifest {
            reference: r.to_string(),
            digest: digest.clone(),
        });
        Ok(digest)
    }

    async fn push_blob(
        &self,
        store: &Arc<Store>,
        r: &Reference,
        d: Descriptor,
        on: &OnPush,
    ) -> Result<(), RegistryError> {
        let head = Call::new(
            Method::HEAD,
            self.repo_url(r, &format!("blobs/{}", d.digest))?,
        );
        if self.write(r, head).await?.status() == StatusCode::OK {
            on(PushEvent::Exists {
                digest: d.digest,
                size: d.size,
            });
            return Ok(());
        }
        let here = format!("{}/{}", r.registry, r.repository);
        let sibling = store.blob_sources(&d.digest).into_iter().find(|s| {
            s != &here
                && s.strip_prefix(&r.registry)
                    .is_some_and(|p| p.starts_with('/'))
        });
        let mut start = Call::new(Method::POST, self.repo_url(r, "blobs/uploads/")?);
        if let Some(from) = &sibling {
            let repo = &from[r.registry.len() + 1..];
            start
                .url
                .query_pairs_mut()
                .append_pair("mount", d.digest.as_str())
                .append_pair("from", repo);
        }
        let resp = self.write(r, start.clone()).await?;
        if resp.status() == StatusCode::CREATED && sibling.is_some() {
            on(PushEvent::Mounted {
                digest: d.digest.clone(),
                from: sibling.unwrap_or_default(),
            });
        } else if resp.status() == StatusCode::ACCEPTED {
            let url = location(&start, &resp)?;
            self.upload(store, r, &d, url, on).await?;
            on(PushEvent::Uploaded {
                digest: d.digest.clone(),
                size: d.size,
            });
        } else {
            return Err(push_status(&start, resp).await);
        }
        note_source(store, &d.digest, &here).await;
        Ok(())
    }

    /// Sends the blob to an upload session: one PUT, or PATCHes then a PUT.
    async fn upload(
        &self,
        store: &Store,
        r: &Reference,
        d: &Descriptor,
        mut url: reqwest::Url,
        on: &OnPush,
    ) -> Result<(), RegistryError> {
        let path = store.blob_path(&d.digest);
        let mut file =
            tokio::fs::File::open(&path)
                .await
                .map_err(|source| RegistryError::OpenBlob {
                    path: path.clone(),
                    source,
                })?;
        let throttle = Arc::new(Mutex::new(Throttle::default()));
        let mut hasher = Sha256::new();
        let chunk_len = |sent: u64| (d.size - sent).min(CHUNK) as usize;
        let mut buf = read_chunk(&mut file, chunk_len(0), &path).await?;
        let mut sent = 0u64;
        // The next chunk is read while the registry takes this one.
        let last = loop {
            hasher.update(&buf);
            let n = buf.len() as u64;
            if sent == 0 && n == d.size {
                break bytes::Bytes::from(buf);
            }
            let mut call = Call::new(Method::PATCH, url.clone());
            let range = format!("{sent}-{}", sent + n - 1);
            call.headers.insert(CONTENT_RANGE, header(&range)?);
            call.headers
                .insert(CONTENT_TYPE, header("application/octet-stream")?);
            call.body = Some(buf.into());
            call.on_sent = Some(report_sent(on, d, sent, &throttle));
            let more = sent + n < d.size;
            let next = async {
                match more {
                    true => Some(read_chunk(&mut file, chunk_len(sent + n), &path).await),
                    false => None,
                }
            };
            let (resp, next) = tokio::join!(self.write(r, call.clone()), next);
            let resp = resp?;
            if resp.status() != StatusCode::ACCEPTED {
                return Err(push_status(&call, resp).await);
            }
            url = location(&call, &resp)?;
            sent += n;
            match next {
                Some(next) => buf = next?,
                None => break bytes::Bytes::new(),
            }
        };
        let got = Digest::from_sha256(hasher.finalize().into());
        if got != d.digest {
            // A damaged local blob is never offered under its name.
            return Err(RegistryError::BlobDigestMismatch {
                url: path.display().to_string(),
                digest: d.digest.clone(),
                got,
            });
        }
        url.query_pairs_mut()
            .append_pair("digest", d.digest.as_str());
        let mut call = Call::new(Method::PUT, url);
        let body = last;
        if !body.is_empty() {
            call.on_sent = Some(report_sent(on, d, 0, &throttle));
        }
        call.headers
            .insert(CONTENT_TYPE, header("application/octet-stream")?);
        call.headers
            .insert(CONTENT_LENGTH, header(&body.len().to_string())?);
        call.body = Some(body);
        let resp = self.write(r, call.clone()).await?;
        expect(&call, resp, StatusCode::CREATED, &d.digest).await
    }
}

async fn read_chunk(
    file: &mut tokio::fs::File,
    n: usize,
    path: &std::path::Path,
) -> Result<Vec<u8>, RegistryError> {
    let mut buf = vec![0; n];
    file.read_exact(&mut buf)
        .await
        .map_err(|source| RegistryError::OpenBlob {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(buf)
}

/// Reports the bytes of one request body that starts `base` bytes into
/// blob `d`, through the blob's shared throttle.
fn report_sent(on: &OnPush, d: &Descriptor, base: u64, throttle: &Arc<Mutex<Throttle>>) -> OnSent {
    let (on, digest, total, throttle) = (on.clone(), d.digest.clone(), d.size, throttle.clone());
    Arc::new(move |n| {
        let sent = base + n;
        let due = throttle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .due(sent, total);
        if due {
            on(PushEvent::Sent {
                digest: digest.clone(),
                sent,
                total,
            });
        }
    })
}

/// Best effort: a lost note only costs a later mount.
async fn note_source(store: &Arc<Store>, d: &Digest, repo: &str) {
    let (store, d, repo) = (store.clone(), d.clone(), repo.to_string());
    let _ = tokio::task::spawn_blocking(move || store.note_blob_source(&d, &repo)).await;
}

fn header(v: &str) -> Result<HeaderValue, RegistryError> {
    HeaderValue::from_str(v).map_err(|_| RegistryError::BadUrl { url: v.to_string() })
}

/// Checks the status and the registry's `Docker-Content-Digest`.
async fn expect(
    call: &Call,
    resp: Response,
    want: StatusCode,
    digest: &Digest,
) -> Result<(), RegistryError> {
    if resp.status() != want {
        return Err(push_status(call, resp).await);
    }
    let echoed = resp
        .headers()
        .get("Docker-Content-Digest")
        .and_then(|v| v.to_str().ok());
    match echoed {
        Some(e) if e != digest.as_str() => Err(RegistryError::PushDigestMismatch {
            url: call.url.to_string(),
            expected: digest.clone(),
            got: e.to_string(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_registry::{build_image, ImageSpec, TestRegistry};
    use crate::{ByteProgress, ImageProvider};
    use std::collections::BTreeMap;

    /// (first, last) `current` seen per blob, and whether it never went back.
    type Seen = BTreeMap<String, (u64, u64, bool)>;

    /// Every byte report of a pull: (vertex, id, current, total).
    #[derive(Default)]
    struct Recorded(Mutex<Vec<(String, String, u64, u64)>>);

    impl ByteProgress for Recorded {
        fn bytes(&self, vertex: &str, id: &str, current: u64, total: u64) {
            let mut seen = self.0.lock().unwrap();
            seen.push((vertex.into(), id.into(), current, total));
        }
    }

    fn track(seen: &mut Seen, id: &str, current: u64) {
        let e = seen
            .entry(id.to_string())
            .or_insert((current, current, true));
        e.2 &= current >= e.1;
        e.1 = current;
    }

    fn size(store: &Store, id: &str) -> u64 {
        let path = store.blob_path(&Digest::parse(id).unwrap());
        std::fs::metadata(path).unwrap().len()
    }

    /// A pull reports every downloaded layer from 0 to its full size, and
    /// a push to another registry reports every uploaded blob up to its size.
    #[tokio::test(flavor = "multi_thread")]
    async fn pull_and_push_report_byte_progress() {
        let (from, to) = (TestRegistry::start(), TestRegistry::start());
        let layout = tempfile::tempdir().unwrap();
        let spec = ImageSpec {
            arch: mybuild_graph::host_arch(),
            marker: "bytes",
            ..Default::default()
        };
        let image = build_image(layout.path(), &spec);
        from.push(layout.path(), "src:latest", false);
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let client = RegistryClient::new(vec![]).unwrap();
        let provider = ImageProvider::new(store.clone(), client.clone(), false);

        let name = format!("{}/src:latest", from.addr);
        let progress = Recorded::default();
        provider.layers(&name, None, &progress, "v1").await.unwrap();
        let mut pulled = Seen::new();
        for (vertex, id, current, total) in progress.0.into_inner().unwrap() {
            assert_eq!(vertex, "v1");
            let layer = image.layers.iter().position(|l| l.as_str() == id);
            assert!(layer.is_some(), "bytes for a blob not in the image: {id}");
            assert!(total > 0 && current <= total, "{current} of {total}");
            track(&mut pulled, &id, current);
        }
        assert_eq!(pulled.len(), image.layers.len(), "{pulled:?}");
        for (id, (first, last, forward)) in &pulled {
            assert_eq!(
                (*first, *last, *forward),
                (0, size(&store, id), true),
                "{id}"
            );
        }

        let config = store.resolve_tag(&name).unwrap().unwrap();
        let (manifest, _) = mybuild_cache::export::image_manifest(
            &store,
            &config,
            mybuild_cache::export::Compression::Gzip,
            &std::collections::BTreeMap::new(),
        )
        .unwrap();
        let sent = Arc::new(Mutex::new(Seen::new()));
        let sink = sent.clone();
        let on: OnPush = Arc::new(move |e| {
            if let PushEvent::Sent {
                digest,
                sent,
                total,
            } = e
            {
                assert!(sent <= total, "{sent} of {total}");
                track(&mut sink.lock().unwrap(), digest.as_str(), sent);
            }
        });
        let r = Reference::parse(&format!("{}/dst:1", to.addr)).unwrap();
        client.push(store.clone(), &r, manifest, on).await.unwrap();
        let sent = sent.lock().unwrap();
        // The config and both layers went up.
        assert_eq!(sent.len(), 3, "{sent:?}");
        for (id, (_, last, forward)) in sent.iter() {
            assert_eq!((*last, *forward), (size(&store, id), true), "{id}");
        }
    }
}
