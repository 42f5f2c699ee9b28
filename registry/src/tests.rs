//! End-to-end tests against a real registry (see `test_registry`): resolve,
//! pull, dedup, offline reuse, and every verification failing loudly.

use super::test_registry::{
    build_image, build_index, put_nested_index, BuiltImage, ImageSpec, TestRegistry,
};
use super::*;
use mybuild_cache::Store;
use mybuild_graph::Digest;
use std::sync::Arc;

struct Fixture {
    registry: TestRegistry,
    image: BuiltImage,
    _layout: tempfile::TempDir,
}

fn serve(spec: &ImageSpec, name: &str) -> Fixture {
    let registry = TestRegistry::start();
    let layout = tempfile::tempdir().unwrap();
    let image = build_image(layout.path(), spec);
    registry.push(layout.path(), name, false);
    Fixture {
        registry,
        image,
        _layout: layout,
    }
}

fn busybox() -> Fixture {
    serve(
        &ImageSpec {
            arch: mybuild_graph::host_arch(),
            marker: "hello",
            ..Default::default()
        },
        "busybox:latest",
    )
}

fn temp_store() -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    (dir, store)
}

fn reference(reg: &TestRegistry, rest: &str) -> Reference {
    Reference::parse(&format!("{}/{rest}", reg.addr)).unwrap()
}

fn client() -> RegistryClient {
    RegistryClient::new(vec![]).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn resolves_and_pulls_verified_layers() {
    let fx = busybox();
    let (_dir, store) = temp_store();
    let c = client();
    let img = c
        .resolve(&reference(&fx.registry, "busybox:latest"))
        .await
        .unwrap();
    assert_eq!(img.manifest_digest, fx.image.manifest_digest);
    assert_eq!(img.manifest_digest, Digest::of(&img.manifest));
    assert_eq!(img.config_digest, fx.image.config_digest);
    assert_eq!(img.config_digest, Digest::of(&img.config));
    assert_eq!(img.diff_ids, fx.image.diff_ids);
    assert_eq!(
        img.layers
            .iter()
            .map(|l| l.digest.clone())
            .collect::<Vec<_>>(),
        fx.image.layers
    );

    let chain = c.pull_layers(&store, &img, &NoProgress, "").await.unwrap();
    assert_eq!(chain, fx.image.diff_ids);
    assert_eq!(c.layer_downloads(), 2);
    let marker = store
        .snapshot_dir(&chain[1])
        .expect("marker layer unpacked")
        .join("etc/marker");
    assert_eq!(std::fs::read_to_string(marker).unwrap(), "hello");
    assert!(store
        .snapshot_dir(&chain[0])
        .unwrap()
        .join("etc/passwd")
        .is_file());

    // Present layers are never fetched again, by this client or a new one.
    assert_eq!(
        c.pull_layers(&store, &img, &NoProgress, "").await.unwrap(),
        chain
    );
    assert_eq!(c.layer_downloads(), 2);
    let fresh = client();
    fresh
        .pull_layers(&store, &img, &NoProgress, "")
        .await
        .unwrap();
    assert_eq!(fresh.layer_downloads(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_pulls_fetch_each_layer_once() {
    let fx = busybox();
    let (_dir, store) = temp_store();
    let c = client();
    let img = c
        .resolve(&reference(&fx.registry, "busybox:latest"))
        .await
        .unwrap();
    let quiet = NoProgress;
    let (a, b) = tokio::join!(
        c.pull_layers(&store, &img, &quiet, ""),
        c.pull_layers(&store, &img, &quiet, "")
    );
    assert_eq!(a.unwrap(), b.unwrap());
    assert_eq!(c.layer_downloads(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_requested_digest_fails() {
    let fx = busybox();
    let wrong = Digest::of(b"some other manifest");
    let err = client()
        .resolve(&reference(&fx.registry, &format!("busybox@{wrong}")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::Status { status: 404, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("/v2/busybox/manifests/{wrong}")),
        "{err}"
    );
}

/// Flips the first byte of a stored blob, keeping its size.
fn corrupt(reg: &TestRegistry, digest: &Digest) {
    let path = reg.blob_data(digest);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupted_manifest_is_rejected() {
    let fx = busybox();
    // Still valid JSON (the registry parses manifests it serves), other bytes.
    let path = fx.registry.blob_data(&fx.image.manifest_digest);
    let json = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!(" {json}")).unwrap();
    for rest in [
        "busybox:latest".to_string(),
        format!("busybox@{}", fx.image.manifest_digest),
    ] {
        let err = client()
            .resolve(&reference(&fx.registry, &rest))
            .await
            .unwrap_err();
        match &err {
            RegistryError::ManifestDigestMismatch { expected, .. } => {
                assert_eq!(expected, fx.image.manifest_digest.as_str())
            }
            other => panic!("{rest}: expected a manifest digest mismatch, got {other}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupted_layer_is_rejected_and_not_stored() {
    let fx = busybox();
    let (_dir, store) = temp_store();
    let c = client();
    let img = c
        .resolve(&reference(&fx.registry, "busybox:latest"))
        .await
        .unwrap();
    corrupt(&fx.registry, &fx.image.layers[0]);
    let err = c
        .pull_layers(&store, &img, &NoProgress, "")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::BlobDigestMismatch { digest, .. } if *digest == fx.image.layers[0]),
        "{err}"
    );
    assert!(!store.has_blob(&fx.image.layers[0]));
    assert!(store.snapshot_dir(&fx.image.diff_ids[0]).is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_diff_id_names_the_layer() {
    let spec = ImageSpec {
        arch: mybuild_graph::host_arch(),
        marker: "x",
        lie_about_diff_id: true,
    };
    let fx = serve(&spec, "liar:latest");
    let (_dir, store) = temp_store();
    let c = client();
    let img = c
        .resolve(&reference(&fx.registry, "liar:latest"))
        .await
        .unwrap();
    let err = c
        .pull_layers(&store, &img, &NoProgress, "")
        .await
        .unwrap_err();
    match err {
        RegistryError::DiffIdMismatch {
            index,
            digest,
            expected,
            ..
        } => {
            assert_eq!(
                (index, digest, expected),
                (0, fx.image.layers[0].clone(), fx.image.diff_ids[0].clone())
            );
        }
        other => panic!("expected a diff_id mismatch, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn index_resolves_to_build_platform() {
    let registry = TestRegistry::start();
    let layout = tempfile::tempdir().unwrap();
    let other = if mybuild_graph::host_arch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let (index_digest, images) = build_index(layout.path(), &[other, mybuild_graph::host_arch()]);
    registry.push(layout.path(), "multi:latest", true);
    let img = client()
        .resolve(&reference(&registry, "multi:latest"))
        .await
        .unwrap();
    assert_eq!(img.index_digest.as_ref(), Some(&index_digest));
    assert_eq!(img.manifest_digest, images[1].manifest_digest);
    assert_eq!(img.diff_ids, images[1].diff_ids);
    // `--platform` picks the other entry of the same index.
    let foreign = client()
        .resolve_platform(&reference(&registry, "multi:latest"), other)
        .await
        .unwrap();
    assert_eq!(foreign.manifest_digest, images[0].manifest_digest);

    let layout2 = tempfile::tempdir().unwrap();
    build_index(layout2.path(), &["s390x"]);
    registry.push(layout2.path(), "foreign:latest", true);
    let err = client()
        .resolve(&reference(&registry, "foreign:latest"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::NoPlatform { available, .. } if available == "linux/s390x"),
        "{err}"
    );
}

/// Issue 13 item 6: an index whose entry for this platform is another
/// index failed with "no image for linux/amd64; available: linux/amd64".
#[tokio::test(flavor = "multi_thread")]
async fn a_nested_index_resolves_to_build_platform() {
    let registry = TestRegistry::start();
    let layout = tempfile::tempdir().unwrap();
    let (inner, images) = build_index(layout.path(), &["s390x", mybuild_graph::host_arch()]);
    registry.push(layout.path(), "nested:inner", true);
    let size = std::fs::metadata(layout.path().join("blobs/sha256").join(inner.hex()))
        .unwrap()
        .len();
    let outer = put_nested_index(
        &registry,
        "nested",
        "latest",
        &inner,
        size,
        mybuild_graph::host_arch(),
    )
    .await;
    let img = client()
        .resolve(&reference(&registry, "nested:latest"))
        .await
        .unwrap();
    assert_eq!(img.index_digest.as_ref(), Some(&outer));
    assert_eq!(img.manifest_digest, images[1].manifest_digest);
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_pins_once_and_works_offline() {
    let fx = busybox();
    let (_dir, store) = temp_store();
    let name = format!("{}/busybox", fx.registry.addr);
    let provider = ImageProvider::new(store.clone(), client(), false);
    let first = provider.resolve(&name).await.unwrap();
    assert_eq!(first.reference, format!("{name}:latest"));
    assert_eq!(first.pin, fx.image.manifest_digest);
    assert_eq!(first.config_digest, fx.image.config_digest);
    assert_eq!(
        provider.resolve(&format!("{name}:latest")).await.unwrap(),
        first
    );
    let chain = provider
        .layers(&name, Some(&first.pin), &NoProgress, "")
        .await
        .unwrap();
    assert_eq!(chain, fx.image.diff_ids);
    assert_eq!(
        store.resolve_tag(&first.reference).unwrap(),
        Some(fx.image.config_digest.clone())
    );

    // The tag moves on the registry: this build keeps its answer, a new
    // always-pull resolution sees the new image.
    let layout = tempfile::tempdir().unwrap();
    let moved = build_image(
        layout.path(),
        &ImageSpec {
            arch: mybuild_graph::host_arch(),
            marker: "moved",
            ..Default::default()
        },
    );
    fx.registry.push(layout.path(), "busybox:latest", false);
    assert_eq!(provider.resolve(&name).await.unwrap().pin, first.pin);
    let repull = ImageProvider::new(store.clone(), client(), true);
    assert_eq!(
        repull.resolve(&name).await.unwrap().pin,
        moved.manifest_digest
    );

    drop(fx.registry);
    let offline = ImageProvider::new(store.clone(), client(), false);
    let local = offline.resolve(&name).await.unwrap();
    assert_eq!(
        (local.pin.clone(), local.config),
        (fx.image.config_digest.clone(), first.config)
    );
    assert_eq!(
        offline
            .layers(&name, Some(&local.pin), &NoProgress, "")
            .await
            .unwrap(),
        chain
    );
    // An older manifest pin is found through the digest tag, still offline.
    assert_eq!(
        offline
            .layers(&name, Some(&first.pin), &NoProgress, "")
            .await
            .unwrap(),
        chain
    );
    let pulling = ImageProvider::new(store, client(), true);
    assert!(matches!(
        pulling.resolve(&name).await,
        Err(RegistryError::Request { .. })
    ));
}

/// The solver spawns these futures on a multi-threaded runtime.
#[allow(dead_code)]
fn futures_are_send(p: &ImageProvider, c: &RegistryClient, s: &Arc<Store>, i: &ResolvedImage) {
    fn send<T: Send>(_: T) {}
    fn shared<T: Send + Sync>() {}
    shared::<ImageProvider>();
    shared::<RegistryClient>();
    send(p.resolve("x"));
    send(p.layers("x", None, &NoProgress, ""));
    send(c.resolve(&i.reference));
    send(c.pull_layers(s, i, &NoProgress, ""));
}
