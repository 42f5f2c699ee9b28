//! Import of archives built in memory: OCI layouts (plain, gzip, nested
//! index), `docker save` layouts (old and new, zstd), mybuild's own
//! exports, and refusal of corrupted content. Hostile archives: `hostile.rs`.

mod fixtures;
mod hostile;

use super::ImportError;
use crate::export::{export_image, ArchiveFormat, Compression};
use fixtures::*;
use mybuild_graph::Digest;
use serde_json::json;
use std::fs;

fn two_layers() -> (Vec<u8>, Vec<u8>) {
    (
        layer_tar(&[("a.txt", b"one\n")]),
        layer_tar(&[("dir/b.txt", b"two\n")]),
    )
}

#[test]
fn oci_layout_with_gzip_and_plain_layers_round_trips() {
    let (tmp, store) = store();
    let (l1, l2) = two_layers();
    let gz1 = gzip(&l1);
    let mut tar = Tar::new();
    let names = json!({"io.containerd.image.name": "docker.io/library/demo:1",
        "org.opencontainers.image.ref.name": "1"});
    let cfg = oci_image(
        &mut tar,
        &[
            (GZIP, gz1.clone(), l1.clone()),
            (TAR, l2.clone(), l2.clone()),
        ],
        names,
    );
    let archive = tar.finish();
    let (r, events) = load(&tmp, &store, &archive);
    let images = r.unwrap();
    assert_eq!(images.len(), 1);
    let id = images[0].id.clone();
    assert_eq!(id, Digest::of(&cfg), "image id is the config digest");
    assert_eq!(images[0].names, ["docker.io/library/demo:1"]);
    let (d1, d2) = (Digest::of(&l1), Digest::of(&l2));
    assert_eq!(store.image_layers(&id).unwrap(), [d1.clone(), d2.clone()]);
    assert!(events.iter().all(|e| !e.existed), "{events:?}");
    let snap1 = store.snapshot_dir(&d1).unwrap();
    assert_eq!(fs::read(snap1.join("a.txt")).unwrap(), b"one\n");
    let snap2 = store.snapshot_dir(&d2).unwrap();
    assert_eq!(fs::read(snap2.join("dir/b.txt")).unwrap(), b"two\n");
    let rec1 = store.layer_record(&d1).unwrap().unwrap();
    assert_eq!(rec1.compressed[0].digest, Digest::of(&gz1));
    assert!(store.has_blob(&Digest::of(&gz1)), "gzip blob kept");
    assert!(store.has_blob(&d2), "plain tar kept as a blob");

    // Again: every layer is already there and only verified.
    let (again, events) = load(&tmp, &store, &archive);
    assert_eq!(again.unwrap()[0].id, id);
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.existed), "{events:?}");

    // mybuild's own exports, both formats, load into a fresh store.
    let name = "docker.io/library/demo:1".to_string();
    for (format, want) in [
        (ArchiveFormat::Oci, "docker.io/library/demo:1"),
        (ArchiveFormat::Docker, "demo:1"),
    ] {
        let out = tmp.path().join("export.tar");
        export_image(
            &store,
            &id,
            std::slice::from_ref(&name),
            &std::collections::BTreeMap::new(),
            format,
            Compression::Gzip.forced(),
            &out,
        )
        .unwrap();
        let (tmp2, other) = fixtures::store();
        let (r, _) = load(&tmp2, &other, &fs::read(&out).unwrap());
        let images = r.unwrap();
        assert_eq!(images[0].id, id, "{format:?}");
        assert_eq!(images[0].names, [want], "{format:?}");
        let snap = other.snapshot_dir(&d2).unwrap();
        assert_eq!(fs::read(snap.join("dir/b.txt")).unwrap(), b"two\n");
    }
}

#[test]
fn nested_index_gives_the_host_platform_image() {
    let (tmp, store) = store();
    let host = layer_tar(&[("host.txt", b"mine\n")]);
    let other = layer_tar(&[("other.txt", b"theirs\n")]);
    let mut tar = Tar::new();
    let mut platform_manifest = |layer: &[u8], arch: &str| {
        let cfg = config(&[Digest::of(layer)]);
        let m = manifest(&cfg, &[(TAR, layer)]);
        tar.blob(layer).blob(&cfg).blob(&m);
        let mut d = desc(MANIFEST, &m);
        d["platform"] = json!({"os": "linux", "architecture": arch});
        (d, cfg)
    };
    let (other_desc, other_cfg) = platform_manifest(&other, "not-this-arch");
    let host_arch = mybuild_graph::host_arch();
    let (host_desc, host_cfg) = platform_manifest(&host, host_arch);
    let nested =
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [other_desc, host_desc]}))
            .unwrap();
    tar.blob(&nested);
    let mut d = desc(INDEX, &nested);
    d["annotations"] = json!({"org.opencontainers.image.ref.name": "example.com/app:2"});
    let mut bare = desc(INDEX, &nested);
    bare["annotations"] = json!({"org.opencontainers.image.ref.name": "latest"});
    let index = json!({"schemaVersion": 2, "manifests": [d, bare]});
    tar.file("index.json", &serde_json::to_vec(&index).unwrap());
    let (r, _) = load(&tmp, &store, &tar.finish());
    let images = r.unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0].id, Digest::of(&host_cfg));
    assert_eq!(images[0].names, ["example.com/app:2"]);
    assert!(images[1].names.is_empty(), "a bare tag names no repository");
    assert!(store.snapshot_dir(&Digest::of(&host)).is_some());
    assert!(store.snapshot_dir(&Digest::of(&other)).is_none());
    assert!(!store.has_blob(&Digest::of(&other_cfg)));
}

#[test]
fn docker_save_layouts_old_and_new() {
    let (tmp, store) = store();
    let (l1, l2) = two_layers();
    let cfg = config(&[Digest::of(&l1), Digest::of(&l2)]);
    let id = Digest::of(&cfg);
    let manifest = json!([{"Config": format!("{}.json", id.hex()),
        "RepoTags": ["busybox:latest", "busybox:latest", "me/x:2"],
        "Layers": ["1111/layer.tar", "./2222/layer.tar"]}]);
    let mut tar = Tar::new();
    tar.file("1111/layer.tar", &l1)
        .file("2222/layer.tar", &gzip(&l2))
        .file(&format!("{}.json", id.hex()), &cfg)
        .file("repositories", br#"{"busybox":{"latest":"x"}}"#)
        .file("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    let (r, _) = load(&tmp, &store, &tar.finish());
    let images = r.unwrap();
    assert_eq!(images[0].id, id);
    assert_eq!(images[0].names, ["busybox:latest", "me/x:2"]);
    let snap = store.snapshot_dir(&Digest::of(&l2)).unwrap();
    assert_eq!(fs::read(snap.join("dir/b.txt")).unwrap(), b"two\n");

    // Docker 25+: content-addressed paths; here with a zstd layer.
    let (tmp, store) = fixtures::store();
    let l3 = layer_tar(&[("z.txt", b"zstd\n")]);
    let z3 = zstd(&l3);
    let cfg = config(&[Digest::of(&l3)]);
    let manifest = json!([{"Config": blob_name(&cfg), "RepoTags": null,
        "Layers": [blob_name(&z3)]}]);
    let mut tar = Tar::new();
    tar.blob(&z3)
        .blob(&cfg)
        .file("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    let (r, _) = load(&tmp, &store, &tar.finish());
    let images = r.unwrap();
    assert_eq!(images[0].id, Digest::of(&cfg));
    assert!(images[0].names.is_empty());
    let snap = store.snapshot_dir(&Digest::of(&l3)).unwrap();
    assert_eq!(fs::read(snap.join("z.txt")).unwrap(), b"zstd\n");
    assert!(
        store.has_blob(&Digest::of(&l3)),
        "zstd layers are kept uncompressed"
    );
}

#[test]
fn wrong_diff_id_is_refused_and_no_image_is_stored() {
    let (tmp, store) = store();
    let (good, l2) = two_layers();
    let evil = layer_tar(&[("a.txt", b"evil\n")]);
    let good_cfg = config(&[Digest::of(&good)]);
    // The second image's config promises `l2` but its layer holds `evil`.
    let bad_cfg = config(&[Digest::of(&l2)]);
    let manifest = json!([
        {"Config": blob_name(&good_cfg), "RepoTags": ["good:1"], "Layers": [blob_name(&good)]},
        {"Config": blob_name(&bad_cfg), "RepoTags": ["bad:1"], "Layers": [blob_name(&evil)]},
    ]);
    let mut tar = Tar::new();
    tar.blob(&good).blob(&evil).blob(&good_cfg).blob(&bad_cfg);
    tar.file("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    let (r, _) = load(&tmp, &store, &tar.finish());
    let err = r.unwrap_err();
    match &err {
        ImportError::DiffIdMismatch {
            entry, expected, ..
        } => {
            assert_eq!(*entry, blob_name(&evil));
            assert_eq!(*expected, Digest::of(&l2));
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("image.tar") && msg.contains(&blob_name(&evil)),
        "{msg}"
    );
    assert!(!store.has_blob(&Digest::of(&good_cfg)), "no config stored");
    assert!(!store.has_blob(&Digest::of(&bad_cfg)));
    assert!(store.images().unwrap().is_empty());
}

/// Overwrites the one occurrence of `from` in `archive` with `to`.
fn patch(archive: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let at = archive.windows(from.len()).position(|w| w == from).unwrap();
    archive[at..at + from.len()].copy_from_slice(to);
}

#[test]
fn tampered_blobs_fail_their_descriptor_digest() {
    let l1 = layer_tar(&[("a.txt", b"one\n")]);
    let gz = gzip(&l1);
    for what in ["layer", "config"] {
        let (tmp, store) = store();
        let mut tar = Tar::new();
        let cfg = oci_image(&mut tar, &[(GZIP, gz.clone(), l1.clone())], json!({}));
        let mut archive = tar.finish();
        let (entry, from, to) = if what == "layer" {
            // Another gzip header mtime: the same tar inside, another digest.
            let mut forged = gz.clone();
            forged[4] ^= 1;
            (blob_name(&gz), gz.clone(), forged)
        } else {
            let forged = String::from_utf8(cfg.clone()).unwrap();
            let forged = forged.replace("/bin/sh", "/bin/xx").into_bytes();
            (blob_name(&cfg), cfg.clone(), forged)
        };
        patch(&mut archive, &from, &to);
        let (r, _) = load(&tmp, &store, &archive);
        assert!(
            matches!(&r, Err(ImportError::DigestMismatch { entry: e, .. }) if *e == entry),
            "{what}: {r:?}"
        );
        assert!(store.images().unwrap().is_empty());
        assert!(!store.has_blob(&Digest::of(&cfg)), "{what}");
    }
}
