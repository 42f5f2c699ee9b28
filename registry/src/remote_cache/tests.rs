//! Pins the exact bytes of a cache export (manifest, config, `index.json`
//! of a local layout): digests depend on them.

use super::{format, local};
use mybuild_cache::Store;
use mybuild_graph::Digest;
use std::sync::Arc;

fn layer_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(2);
    h.set_mode(0o644);
    h.set_mtime(1);
    b.append_data(&mut h, "f", &b"hi"[..]).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn export_bytes_are_pinned() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&tmp.path().join("store")).unwrap());
    let diff_id = store.import_layer(&layer_tar()[..], None).unwrap();
    let key = Digest::of(b"key");
    let (manifest, config) =
        format::build(&store, "test", vec![(key.clone(), vec![diff_id.clone()])]).unwrap();
    let layer = store.layer_record(&diff_id).unwrap().unwrap().compressed[0].clone();
    let (gz, gz_size) = (layer.digest, layer.size);
    let want_config = format!(
        r#"{{"version":1,"layers":[{{"diff_id":"{diff_id}","digest":"{gz}","size":{gz_size},"media_type":"application/vnd.oci.image.layer.v1.tar+gzip"}}],"records":[{{"key":"{key}","chain":[0]}}]}}"#
    );
    assert_eq!(String::from_utf8(config.clone()).unwrap(), want_config);
    let want_manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.mybuild.cache.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{gz}","size":{gz_size}}}]}}"#,
        Digest::of(&config),
        config.len()
    );
    assert_eq!(String::from_utf8(manifest.clone()).unwrap(), want_manifest);

    let dir = tmp.path().join("layout");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(local::write(&store, &dir, "test", &manifest, &config))
        .unwrap();
    let index = std::fs::read_to_string(dir.join("index.json")).unwrap();
    let want_index = format!(
        r#"{{"manifests":[{{"annotations":{{"org.opencontainers.image.ref.name":"latest"}},"digest":"{}","mediaType":"application/vnd.oci.image.manifest.v1+json","size":{}}}],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}}"#,
        Digest::of(&manifest),
        manifest.len()
    );
    assert_eq!(index, want_index);
    let read = local::read_config(&dir, "test").unwrap();
    assert_eq!(read.records.len(), 1);
}

#[test]
fn foreign_manifests_are_named() {
    let image =
        br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json"}}"#;
    assert!(format::foreign(image).unwrap().starts_with("an image"));
    let bk = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.buildkit.cacheconfig.v0"}]}"#;
    assert!(format::foreign(bk).unwrap().contains("BuildKit cache"));
    let bk_manifest = br#"{"config":{"mediaType":"application/vnd.buildkit.cacheconfig.v0"}}"#;
    assert!(format::foreign(bk_manifest)
        .unwrap()
        .contains("BuildKit cache"));
    let index = br#"{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json"}]}"#;
    assert_eq!(format::foreign(index).unwrap(), "an image index");
    let ours = br#"{"config":{"mediaType":"application/vnd.mybuild.cache.config.v1+json"}}"#;
    assert_eq!(format::foreign(ours), None);
}

#[test]
fn inline_records_are_prefixes_of_the_image() {
    use mybuild_cache::oci::{Descriptor, ImageManifest};
    let (l1, l2, other) = (Digest::of(b"1"), Digest::of(b"2"), Digest::of(b"x"));
    let (k1, k2, k3) = (Digest::of(b"k1"), Digest::of(b"k2"), Digest::of(b"k3"));
    let records = vec![
        (k2.clone(), vec![l1.clone(), l2.clone()]),
        (k1.clone(), vec![l1.clone()]),
        (k3, vec![other]), // another stage's: not in the image
    ];
    let value = super::inline::records_value(&records, &[l1.clone(), l2.clone()]);
    let config = serde_json::json!({
        "rootfs": {"type": "layers", "diff_ids": [l1, l2]},
        super::inline::INLINE_KEY: value,
    });
    let layer = |d: &str| {
        Descriptor::new(
            "application/vnd.oci.image.layer.v1.tar+gzip",
            Digest::of(d.as_bytes()),
            9,
        )
    };
    let manifest = ImageManifest::new(layer("c"), vec![layer("g1"), layer("g2")]);
    let bytes = serde_json::to_vec(&config).unwrap();
    let c = super::inline::from_image("t", &manifest, &bytes)
        .unwrap()
        .unwrap();
    assert_eq!(c.records.len(), 2);
    let chain = |k: &Digest| &c.records.iter().find(|r| &r.key == k).unwrap().chain;
    assert_eq!(chain(&k1), &vec![0]);
    assert_eq!(chain(&k2), &vec![0, 1]);
    assert_eq!(c.layers[1].digest, Digest::of(b"g2"));
    let plain = br#"{"rootfs":{"diff_ids":[]}}"#;
    assert!(super::inline::from_image("t", &manifest, plain)
        .unwrap()
        .is_none());
}
