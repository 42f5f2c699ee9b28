//! Pulling layers into the store: each missing layer is streamed once into
//! an ingest (its compressed digest checked on the fly), then unpacked off
//! the async runtime, and its diff_id checked against the image config.
//! Each download reports its bytes to the vertex that asked for the image.

use super::client::RegistryClient;
use super::error::RegistryError;
use super::manifest::{LayerDesc, ResolvedImage};
use super::progress::{ByteProgress, NoProgress, Throttle};
use super::reference::Reference;
use futures_util::{StreamExt, TryStreamExt};
use mybuild_cache::{CompressedBlob, LayerCompression as Compression, Store, StoreError};
use mybuild_graph::Digest;
use std::collections::HashSet;
use std::io::{BufReader, Write};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Layers downloaded at once per image.
const PARALLEL_LAYERS: usize = 3;
/// Chunks buffered between the network and the disk writer.
const CHUNK_QUEUE: usize = 16;

/// What the downloader hands the blocking writer; a closed channel
/// without `End` means the download failed and the ingest is dropped.
enum Chunk {
    Data(Vec<u8>),
    End,
}

/// The layer's compression, from its media type.
fn compression_of(index: usize, layer: &LayerDesc) -> Result<Compression, RegistryError> {
    Compression::of_media_type(&layer.media_type).ok_or_else(|| RegistryError::UnsupportedLayer {
        index,
        digest: layer.digest.clone(),
        media_type: layer.media_type.clone(),
    })
}

/// One layer to make present, with its place in the image and where its
/// download reports progress.
struct LayerJob<'a> {
    index: usize,
    layer: &'a LayerDesc,
    diff_id: &'a Digest,
    report: Report<'a>,
}

/// Byte progress of downloads goes to `vertex` on `progress`.
#[derive(Clone, Copy)]
struct Report<'a> {
    progress: &'a dyn ByteProgress,
    vertex: &'a str,
}

impl RegistryClient {
    /// Makes every layer of `img` present as a snapshot and returns the
    /// diff_ids, base layer first. Downloads report their bytes to `vertex`.
    pub async fn pull_layers(
        &self,
        store: &Arc<Store>,
        img: &ResolvedImage,
        progress: &dyn ByteProgress,
        vertex: &str,
    ) -> Result<Vec<Digest>, RegistryError> {
        let report = Report { progress, vertex };
        let mut seen = HashSet::new();
        let jobs: Vec<LayerJob> = img
            .layers
            .iter()
            .zip(&img.diff_ids)
            .enumerate()
            .filter(|(_, (layer, _))| seen.insert(layer.digest.clone()))
            .map(|(index, (layer, diff_id))| LayerJob {
                index,
                layer,
                diff_id,
                report,
            })
            .collect();
        // Collected first: a lazy `map` closure inside the stream makes the
        // future fail rustc's Send check (higher-ranked lifetime limitation).
        let pulls: Vec<_> = jobs
            .into_iter()
            .map(|job| self.pull_layer(store, &img.reference, job))
            .collect();
        futures_util::stream::iter(pulls)
            .buffer_unordered(PARALLEL_LAYERS)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(img.diff_ids.clone())
    }

    /// Makes one layer of `r`'s repository present as a snapshot, checking
    /// that it unpacks to `diff_id` (for build cache imported from a registry).
    pub async fn pull_layer_blob(
        &self,
        store: &Arc<Store>,
        r: &Reference,
        layer: &LayerDesc,
        diff_id: &Digest,
    ) -> Result<(), RegistryError> {
        let job = LayerJob {
            index: 0,
            layer,
            diff_id,
            report: Report {
                progress: &NoProgress,
                vertex: "",
            },
        };
        self.pull_layer(store, r, job).await
    }

    /// Makes blob `desc` of `r`'s repository present in the store as it
    /// is (verified against its digest), without unpacking it.
    pub async fn store_blob(
        &self,
        store: &Arc<Store>,
        r: &Reference,
        desc: &LayerDesc,
    ) -> Result<(), RegistryError> {
        if store.has_blob(&desc.digest) {
            return Ok(());
        }
        let report = Report {
            progress: &NoProgress,
            vertex: "",
        };
        self.download_with_retries(store, r, desc, report).await
    }

    async fn pull_layer(
        &self,
        store: &Arc<Store>,
        r: &Reference,
        job: LayerJob<'_>,
    ) -> Result<(), RegistryError> {
        if store.snapshot_dir(job.diff_id).is_some() {
            return Ok(());
        }
        let compression = compression_of(job.index, job.layer)?;
        let lock = self.layer_lock(&job.layer.digest);
        let result = {
            let _held = lock.lock().await;
            self.fetch_and_unpack(store, r, &job, compression).await
        };
        self.release_layer_lock(&job.layer.digest, lock);
        result
    }

    async fn fetch_and_unpack(
        &self,
        store: &Arc<Store>,
        r: &Reference,
        job: &LayerJob<'_>,
        compression: Compression,
    ) -> Result<(), RegistryError> {
        // Another pull may have finished this layer while we waited.
        if store.snapshot_dir(job.diff_id).is_some() {
            return Ok(());
        }
        if !store.has_blob(&job.layer.digest) {
            self.download_with_retries(store, r, job.layer, job.report)
                .await?;
            // Remembered so a push to a sibling repository can mount it.
            let repo = format!("{}/{}", r.registry, r.repository);
            let (s, d) = (store.clone(), job.layer.digest.clone());
            let _ = tokio::task::spawn_blocking(move || s.note_blob_source(&d, &repo)).await;
        }
        unpack_layer(store, job, compression).await
    }

    /// A connection dropped mid-body starts the download again; a digest
    /// or size mismatch does not (the bytes were wrong, not late).
    async fn download_with_retries(
        &self,
        store: &Arc<Store>,
        r: &Reference,
        layer: &LayerDesc,
        report: Report<'_>,
    ) -> Result<(), RegistryError> {
        let mut attempt = 0;
        loop {
            match self.download_layer(store, r, layer, report).await {
                Err(RegistryError::Request { .. }) if attempt + 1 < super::retry::ATTEMPTS => {
                    tokio::time::sleep(super::retry::backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn download_layer(
        &self,
        store: &Arc<Store>,
        r: &Reference,
        layer: &LayerDesc,
        report: Report<'_>,
    ) -> Result<(), RegistryError> {
        let resp = self
            .get(r, &format!("{}/blobs/{}", r.repository, layer.digest), None)
            .await?;
        self.count_layer_download();
        let url = resp.url().to_string();
        let (tx, rx) = mpsc::channel(CHUNK_QUEUE);
        let writer = {
            let (store, layer, url) = (store.clone(), layer.clone(), url.clone());
            tokio::task::spawn_blocking(move || write_blob(&store, rx, &layer, &url))
        };
        let mut body = resp.bytes_stream();
        let mut failure = None;
        let (mut throttle, mut received) = (Throttle::default(), 0u64);
        report.bytes(&mut throttle, layer, received);
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) if tx.send(Chunk::Data(bytes.to_vec())).await.is_ok() => {
                    received += bytes.len() as u64;
                    report.bytes(&mut throttle, layer, received);
                }
                // The writer stopped early: its own error explains why.
                Ok(_) => break,
                Err(source) => {
                    failure = Some(RegistryError::Request {
                        url: url.clone(),
                        source,
                    });
                    break;
                }
            }
        }
        if failure.is_none() {
            let _ = tx.send(Chunk::End).await;
        }
        drop(tx);
        let written = writer.await.map_err(|source| RegistryError::Task {
            what: format!("ingest {url}"),
            source,
        })?;
        match failure {
            Some(e) => Err(e),
            None => written,
        }
    }
}

impl Report<'_> {
    /// `received` bytes of `layer` are in, if `throttle` lets it through.
    fn bytes(&self, throttle: &mut Throttle, layer: &LayerDesc, received: u64) {
        if throttle.due(received, layer.size) {
            let id = layer.digest.as_str();
            self.progress.bytes(self.vertex, id, received, layer.size);
        }
    }
}

/// Runs on a blocking thread: writes chunks (the ingest hashes them),
/// refuses anything past the declared size, and commits only a blob whose
/// digest matches the manifest.
fn write_blob(
    store: &Store,
    mut rx: mpsc::Receiver<Chunk>,
    layer: &LayerDesc,
    url: &str,
) -> Result<(), RegistryError> {
    let mut ingest = store
        .ingest()
        .map_err(|e| RegistryError::store("open ingest for", &layer.digest, e))?;
    let size_error = |got| RegistryError::BlobSizeMismatch {
        url: url.to_string(),
        digest: layer.digest.clone(),
        expected: layer.size,
        got,
    };
    loop {
        match rx.blocking_recv() {
            Some(Chunk::Data(data)) => {
                if ingest.size() + data.len() as u64 > layer.size {
                    return Err(size_error(ingest.size() + data.len() as u64));
                }
                ingest
                    .write_all(&data)
                    .map_err(|source| RegistryError::WriteBlob {
                        url: url.to_string(),
                        digest: layer.digest.clone(),
                        source,
                    })?;
            }
            Some(Chunk::End) => break,
            // Download failed; dropping the ingest discards the partial blob.
            None => return Ok(()),
        }
    }
    if ingest.size() != layer.size {
        return Err(size_error(ingest.size()));
    }
    match ingest.commit(Some(&layer.digest)) {
        Ok(_) => Ok(()),
        Err(StoreError::DigestMismatch { actual, .. }) => Err(RegistryError::BlobDigestMismatch {
            url: url.to_string(),
            digest: layer.digest.clone(),
            got: actual,
        }),
        Err(e) => Err(RegistryError::store("commit blob", &layer.digest, e)),
    }
}

/// Decompresses the stored blob into a snapshot and checks the diff_id.
async fn unpack_layer(
    store: &Arc<Store>,
    job: &LayerJob<'_>,
    compression: Compression,
) -> Result<(), RegistryError> {
    let (store, layer) = (store.clone(), job.layer.clone());
    let what = format!("unpack layer {} ({})", job.index, layer.digest);
    let got = tokio::task::spawn_blocking(move || import_blob(&store, &layer, compression))
        .await
        .map_err(|source| RegistryError::Task { what, source })??;
    if &got != job.diff_id {
        return Err(RegistryError::DiffIdMismatch {
            index: job.index,
            digest: job.layer.digest.clone(),
            expected: job.diff_id.clone(),
            got,
        });
    }
    Ok(())
}

/// Unpacks a layer blob already in the store (from a local cache import);
/// returns the diff_id it unpacked to.
pub(crate) fn unpack_stored(store: &Store, layer: &LayerDesc) -> Result<Digest, RegistryError> {
    import_blob(store, layer, compression_of(0, layer)?)
}

fn import_blob(
    store: &Store,
    layer: &LayerDesc,
    compression: Compression,
) -> Result<Digest, RegistryError> {
    let path = store.blob_path(&layer.digest);
    let file =
        std::fs::File::open(&path).map_err(|source| RegistryError::OpenBlob { path, source })?;
    let tar = compression
        .decoder_buffered(BufReader::new(file))
        .map_err(|source| RegistryError::OpenBlob {
            path: store.blob_path(&layer.digest),
            source,
        })?;
    let compressed = CompressedBlob {
        digest: layer.digest.clone(),
        media_type: layer.media_type.clone(),
        size: layer.size,
    };
    store
        .import_layer(tar, Some(compressed))
        .map_err(|e| RegistryError::store("import layer", &layer.digest, e))
}
