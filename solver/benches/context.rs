//! Context hashing (issue 15): the digest of what `COPY . /app/` reads
//! from a generated 5k-file context, cold (every file read and hashed)
//! and warm (the hash cache a previous build saved, loaded as a build
//! loads it, so unchanged files are only `lstat`ed), and warm with the
//! per-file listing `--explain-cache` records keep.
//!
//!     cargo bench -p mybuild-solver --bench context
//!     (CI: ... -- --warm-up-time 1 --measurement-time 2, see .ci/test)

// The generators the cache benches use; not every one is needed here.
#[allow(dead_code)]
#[path = "../../cache/benches/data/mod.rs"]
mod data;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mybuild_graph::CopyAction;
use mybuild_solver::context::{selection_digest, selection_digest_listed, HashCache};
use std::path::Path;
use std::time::Duration;

const FILES: usize = 5_000;
/// About what a source tree's files weigh.
const FILE_SIZE: usize = 4_096;

fn copy_all() -> CopyAction {
    CopyAction {
        source: 1,
        src: vec![".".into()],
        dest: "/app/".into(),
        owner: None,
        mode: None,
        extract_archives: false,
        parents: false,
        exclude: vec![],
    }
}

/// Saves a hash cache for `ctx` and checks it holds every file: the cache
/// leaves out files changed in the last two seconds, which would turn the
/// warm bench into a second cold one without a word.
fn warm_cache(ctx: &Path, file: &Path) {
    std::thread::sleep(Duration::from_secs(3));
    let cache = HashCache::open(file.to_path_buf());
    selection_digest(ctx, &[], &copy_all(), Some(&cache)).unwrap();
    cache.save().unwrap();
    let saved = std::fs::metadata(file).map_or(0, |m| m.len());
    assert!(
        saved >= (FILES * 32) as u64,
        "hash cache holds {saved} bytes for {FILES} files: not warm"
    );
}

fn context_hashing(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let ctx = tmp.path().join("ctx");
    data::write_tree(&ctx, FILES, FILE_SIZE, 5).expect("write context");
    let cache_file = tmp.path().join("hashes");
    warm_cache(&ctx, &cache_file);
    let copy = copy_all();
    let mut g = c.benchmark_group("context");
    g.sample_size(10)
        .throughput(Throughput::Elements(FILES as u64));
    g.bench_function("selection_digest 5k files cold", |b| {
        b.iter(|| selection_digest(&ctx, &[], &copy, None).unwrap())
    });
    g.bench_function("selection_digest 5k files warm", |b| {
        b.iter(|| {
            let cache = HashCache::open(cache_file.clone());
            selection_digest(&ctx, &[], &copy, Some(&cache)).unwrap()
        })
    });
    // What a build does since `--explain-cache` (issue 17): the same,
    // listing each file for the key-inputs record a miss writes.
    g.bench_function("selection_digest_listed 5k files warm", |b| {
        b.iter(|| {
            let cache = HashCache::open(cache_file.clone());
            let mut files = Vec::new();
            selection_digest_listed(&ctx, &[], &copy, Some(&cache), Some(&mut files)).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, context_hashing);
criterion_main!(benches);
