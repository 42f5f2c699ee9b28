//! The cache's hot paths on real files in temporary directories (issue 15):
//! digesting (sha256), layer gzip, writing a snapshot's layer tar, and
//! committing an upper dir as a layer. Sizes keep each bench to seconds.
//!
//!     cargo bench -p mybuild-cache --bench hot_paths
//!     (CI: ... -- --warm-up-time 1 --measurement-time 2, see .ci/test)

mod data;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mybuild_cache::{export::gzip, HashingReader, Store};
use mybuild_graph::Digest;
use std::hint::black_box;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The digest bench's buffer: a layer's worth, as the issue asks.
const DIGEST_LEN: usize = 64 << 20;
/// Per gzip bench: one of pgzip's 4 MiB chunks per core here.
const GZIP_LEN: usize = 8 << 20;
/// A snapshot like a small COPY: files of about 2 KiB.
const TREE_FILES: usize = 2_000;
const TREE_FILE_SIZE: usize = 2_048;

fn digesting(c: &mut Criterion) {
    let buf = data::random_bytes(DIGEST_LEN, 1);
    let mut g = c.benchmark_group("digest");
    g.sample_size(10)
        .throughput(Throughput::Bytes(DIGEST_LEN as u64));
    g.bench_function("Digest::of 64MiB", |b| {
        b.iter(|| Digest::of(black_box(&buf)))
    });
    g.bench_function("HashingReader 64MiB", |b| {
        b.iter(|| HashingReader::new(black_box(&buf[..])).finish().unwrap())
    });
    g.finish();
}

fn compression(c: &mut Criterion) {
    let mut g = c.benchmark_group("gzip");
    g.sample_size(10)
        .throughput(Throughput::Bytes(GZIP_LEN as u64));
    let inputs = [
        ("text 8MiB", data::text_bytes(GZIP_LEN, 2)),
        ("random 8MiB", data::random_bytes(GZIP_LEN, 3)),
    ];
    for (name, input) in &inputs {
        g.bench_function(*name, |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(GZIP_LEN);
                gzip(&mut &input[..], &mut out).unwrap();
                out
            })
        });
    }
    g.finish();
}

/// A store in a fresh temporary directory, and a place beside it (same
/// filesystem, as the sandbox's work dirs are) for upper dirs.
fn temp_store() -> (tempfile::TempDir, Store, PathBuf) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&tmp.path().join("store")).expect("open store");
    let uppers = tmp.path().join("uppers");
    std::fs::create_dir(&uppers).expect("uppers dir");
    (tmp, store, uppers)
}

/// A new upper dir of the bench tree plus one file that differs each
/// time, so every commit installs a new layer instead of finding it.
fn fresh_upper(uppers: &Path) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = uppers.join(format!("u{n}"));
    data::write_tree(&dir, TREE_FILES, TREE_FILE_SIZE, 4).expect("write upper");
    std::fs::write(dir.join("nonce"), n.to_le_bytes()).expect("write nonce");
    dir
}

fn layers(c: &mut Criterion) {
    let (_tmp, store, uppers) = temp_store();
    let mut g = c.benchmark_group("layer");
    g.sample_size(10)
        .throughput(Throughput::Elements(TREE_FILES as u64));
    g.bench_function("commit_upper 2k files", |b| {
        b.iter_batched(
            || fresh_upper(&uppers),
            |upper| store.commit_upper(&upper).unwrap(),
            BatchSize::PerIteration,
        )
    });
    // Tar writing: a committed layer has no tar blob, so layer_tar packs
    // the snapshot again, as an export or a push does.
    let diff_id = store.commit_upper(&fresh_upper(&uppers)).unwrap();
    g.bench_function("write tar of 2k-file snapshot", |b| {
        b.iter(|| {
            let mut tar = store.layer_tar(&diff_id).unwrap();
            io::copy(&mut tar, &mut io::sink()).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, digesting, compression, layers);
criterion_main!(benches);
