//! Hostile and broken archives: unsafe names, links, conflicting
//! duplicates, missing blobs, oversized metadata, truncation, non-tars.

use super::fixtures::*;
use crate::import::{import_reader, ImportError, JSON_LIMIT};
use mybuild_graph::Digest;
use serde_json::json;

/// A valid one-layer OCI image in `tar`, returning its layer tar.
fn valid(tar: &mut Tar) -> Vec<u8> {
    let l = layer_tar(&[("a.txt", b"a\n")]);
    oci_image(tar, &[(TAR, l.clone(), l.clone())], json!({}));
    l
}

fn docker_manifest(cfg: &[u8], layers: &[&str]) -> Vec<u8> {
    let m = json!([{"Config": blob_name(cfg), "RepoTags": ["x:1"], "Layers": layers}]);
    serde_json::to_vec(&m).unwrap()
}

#[test]
fn unsafe_entry_names_are_refused() {
    for name in ["../evil", "blobs/../../evil", "/etc/evil"] {
        let (tmp, store) = store();
        let mut tar = Tar::new();
        valid(&mut tar);
        tar.file(name, b"x");
        let (r, _) = load(&tmp, &store, &tar.finish());
        match r {
            Err(ImportError::UnsafePath { entry, .. }) => assert_eq!(entry, name),
            other => panic!("{name}: {other:?}"),
        }
        assert!(store.images().unwrap().is_empty());
        assert!(!tmp.path().join("evil").exists());
    }
    // A manifest naming a path outside the archive root.
    let (tmp, store) = store();
    let l = layer_tar(&[("a.txt", b"a\n")]);
    let cfg = config(&[Digest::of(&l)]);
    let mut tar = Tar::new();
    tar.blob(&l).blob(&cfg);
    tar.file(
        "manifest.json",
        &docker_manifest(&cfg, &["../../etc/passwd"]),
    );
    let (r, _) = load(&tmp, &store, &tar.finish());
    assert!(
        matches!(&r, Err(ImportError::UnsafePath { entry, .. }) if entry == "../../etc/passwd"),
        "{r:?}"
    );
}

#[test]
fn linked_blobs_are_refused() {
    let (tmp, store) = store();
    let l = layer_tar(&[("a.txt", b"a\n")]);
    let cfg = config(&[Digest::of(&l)]);
    let mut tar = Tar::new();
    tar.file("real.tar", &l)
        .symlink("1/layer.tar", "../real.tar")
        .blob(&cfg);
    tar.file("manifest.json", &docker_manifest(&cfg, &["1/layer.tar"]));
    let (r, _) = load(&tmp, &store, &tar.finish());
    assert!(
        matches!(&r, Err(ImportError::NotAFile { entry, kind: "symlink", .. }) if entry == "1/layer.tar"),
        "{r:?}"
    );
}

#[test]
fn conflicting_duplicates_are_refused_identical_ones_are_not() {
    let (tmp, store) = store();
    let mut tar = Tar::new();
    valid(&mut tar);
    tar.file("./oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let (r, _) = load(&tmp, &store, &tar.finish());
    assert_eq!(r.unwrap().len(), 1, "an identical repeat is harmless");

    let mut tar = Tar::new();
    valid(&mut tar);
    tar.file("index.json", br#"{"manifests": []}"#);
    let (r, _) = load(&tmp, &store, &tar.finish());
    assert!(
        matches!(&r, Err(ImportError::DuplicateEntry { entry, .. }) if entry == "index.json"),
        "{r:?}"
    );
}

#[test]
fn missing_blob_is_named() {
    let (tmp, store) = store();
    let l = layer_tar(&[("a.txt", b"a\n")]);
    let cfg = config(&[Digest::of(&l)]);
    let m = manifest(&cfg, &[(TAR, &l)]);
    let mut tar = Tar::new();
    tar.blob(&cfg).blob(&m);
    let index = json!({"schemaVersion": 2, "manifests": [desc(MANIFEST, &m)]});
    tar.file("index.json", &serde_json::to_vec(&index).unwrap());
    let (r, _) = load(&tmp, &store, &tar.finish());
    let err = r.unwrap_err();
    assert!(
        matches!(&err, ImportError::MissingEntry { entry, .. } if *entry == blob_name(&l)),
        "{err:?}"
    );
    assert!(err.to_string().contains(&blob_name(&l)), "{err}");
}

#[test]
fn oversized_metadata_is_refused() {
    let (tmp, store) = store();
    let mut big = b"{\"manifests\": []}".to_vec();
    big.resize(JSON_LIMIT as usize + 1, b' ');
    let mut tar = Tar::new();
    tar.file("index.json", &big);
    let (r, _) = load(&tmp, &store, &tar.finish());
    assert!(
        matches!(r, Err(ImportError::TooLarge { size, .. }) if size == JSON_LIMIT + 1),
        "{r:?}"
    );
}

#[test]
fn truncated_and_non_archives_are_refused() {
    let (tmp, store) = store();
    let mut tar = Tar::new();
    tar.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    tar.blob(&big);
    let mut archive = tar.finish();
    archive.truncate(archive.len() - 100_000);
    let (r, _) = load(&tmp, &store, &archive);
    assert!(
        matches!(&r, Err(ImportError::Truncated { entry, .. }) if *entry == blob_name(&big)),
        "{r:?}"
    );
    let (r, _) = load(&tmp, &store, &[7u8; 1536]);
    assert!(matches!(r, Err(ImportError::Tar { .. })), "{r:?}");
    let (r, _) = load(&tmp, &store, &Tar::new().finish());
    assert!(matches!(r, Err(ImportError::NotAnImage { .. })), "{r:?}");
}

#[test]
fn streams_are_spooled_and_the_copy_vanishes() {
    let (_tmp, store) = store();
    let mut tar = Tar::new();
    let l = valid(&mut tar);
    let archive = tar.finish();
    let images = import_reader(&store, &archive[..], "standard input", &mut |_| {}).unwrap();
    assert_eq!(store.image_layers(&images[0].id).unwrap(), [Digest::of(&l)]);
    assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    let err = import_reader(
        &store,
        &archive[..archive.len() / 2],
        "standard input",
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("standard input"), "{err}");
}
