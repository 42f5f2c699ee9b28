//! The input as an uncompressed layer tar imported into a store: unpacked
//! into a snapshot, hashed and kept as a blob when it is valid. Errors are
//! fine; a panic, a hang, or a change outside the store is a finding (a
//! sentinel directory beside the store root must stay as it was).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use mybuild_cache::{PruneOptions, Store};
use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

struct Env {
    base: PathBuf,
    store: Store,
    sentinel: PathBuf,
    sentinel_before: common::Tree,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        common::limit_file_size();
        let base = common::scratch("mybuild-fuzz-layer-");
        let sentinel = base.path().join("sentinel");
        fs::create_dir_all(sentinel.join("d")).unwrap();
        fs::write(sentinel.join("d/f"), "sentinel\n").unwrap();
        let store = Store::open(&base.path().join("store")).expect("open store");
        // libFuzzer ends with exit(), which runs no destructors.
        extern "C" fn cleanup() {
            if let Some(env) = ENV.get() {
                let _ = fs::remove_dir_all(&env.base);
            }
        }
        // SAFETY: registers a plain function.
        unsafe { libc::atexit(cleanup) };
        Env {
            sentinel_before: common::record(&sentinel),
            sentinel,
            store,
            base: base.keep(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let env = env();
    if env.store.import_layer(data, None).is_ok() {
        // Keep the store small: nothing refers to the layer, so this
        // removes its snapshot, record and blob.
        let report = env.store.prune(&PruneOptions::default()).expect("prune");
        assert_eq!(report.layers.len(), 1, "{report:?}");
    }
    assert_eq!(
        common::record(&env.sentinel),
        env.sentinel_before,
        "sentinel changed"
    );
});
