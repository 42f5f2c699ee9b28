//! Exports real images from a real store and reads the archives back,
//! checking every digest link: index -> manifest -> config and layers.

use flate2::read::MultiGzDecoder as GzDecoder;
use mybuild_cache::export::{
    export_image, image_manifest, ArchiveFormat, Compression, ExportError,
};
use mybuild_cache::{CompressedBlob, Store};
use mybuild_graph::Digest;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;

fn layer_tar(name: &str, content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1);
    b.append_data(&mut h, name, content).unwrap();
    b.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// An image of two layers: one built locally (no compressed form yet) and
/// one pulled as gzip (the registry blob must be reused, never recompressed).
fn image(s: &Store) -> (Digest, Vec<Digest>, Digest) {
    let local = s
        .import_layer(&layer_tar("local", b"built here")[..], None)
        .unwrap();
    let pulled_tar = layer_tar("pulled", b"from a registry");
    let gz = gzip(&pulled_tar);
    let gz_digest = s.put_blob(&gz).unwrap();
    let blob = CompressedBlob {
        digest: gz_digest.clone(),
        media_type: "application/vnd.docker.image.rootfs.diff.tar.gzip".into(),
        size: gz.len() as u64,
    };
    let pulled = s.import_layer(GzDecoder::new(&gz[..]), Some(blob)).unwrap();
    assert!(
        !s.has_blob(&pulled),
        "uncompressed tar of a pulled layer is not duplicated"
    );
    let diff_ids = vec![pulled, local];
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2024-05-01T00:00:00Z",
        "config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let id = s.put_image(&serde_json::to_vec(&config).unwrap()).unwrap();
    (id, diff_ids, gz_digest)
}

fn files(archive: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut a = tar::Archive::new(fs::File::open(archive).unwrap());
    let mut out = BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(e.path().unwrap().to_string_lossy().into_owned(), data);
    }
    out
}

fn blob<'a>(f: &'a BTreeMap<String, Vec<u8>>, d: &str) -> &'a [u8] {
    let data = &f[&format!("blobs/sha256/{}", d.strip_prefix("sha256:").unwrap())];
    assert_eq!(
        Digest::of(data).as_str(),
        d,
        "blob content matches its name"
    );
    data
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(b).read_to_end(&mut out).unwrap();
    out
}

#[test]
fn oci_archive_links_check_out() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::open(&tmp.path().join("store")).unwrap();
    let (id, diff_ids, gz_digest) = image(&s);
    let names = vec!["127.0.0.1:5000/busybox:v1".to_string()];
    let out = tmp.path().join("img.tar");
    export_image(
        &s,
        &id,
        &names,
        &BTreeMap::new(),
        ArchiveFormat::Oci,
        Compression::Gzip.forced(),
        &out,
    )
    .unwrap();

    let f = files(&out);
    assert!(f.contains_key("oci-layout") && !f.contains_key("manifest.json"));
    let index: Value = serde_json::from_slice(&f["index.json"]).unwrap();
    let desc = &index["manifests"][0];
    assert_eq!(
        desc["annotations"]["org.opencontainers.image.ref.name"],
        "v1"
    );
    assert_eq!(
        desc["annotations"]["io.containerd.image.name"],
        names[0].as_str()
    );
    let manifest_bytes = blob(&f, desc["digest"].as_str().unwrap());
    assert_eq!(desc["size"], manifest_bytes.len());
    let manifest: Value = serde_json::from_slice(manifest_bytes).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(manifest["config"]["digest"], id.as_str());
    blob(&f, id.as_str());
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    assert_eq!(
        layers[0]["digest"],
        gz_digest.as_str(),
        "registry gzip blob reused"
    );
    for (l, diff_id) in layers.iter().zip(&diff_ids) {
        assert_eq!(
            l["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let raw = blob(&f, l["digest"].as_str().unwrap());
        assert_eq!(l["size"], raw.len());
        assert_eq!(&Digest::of(&gunzip(raw)), diff_id);
    }
    let (m, md) = image_manifest(&s, &id, Compression::Gzip, &BTreeMap::new()).unwrap();
    assert_eq!(
        (m.as_slice(), md.as_str()),
        (manifest_bytes, desc["digest"].as_str().unwrap())
    );

    // The local layer's gzip is recorded: a second export compresses nothing.
    let rec = s.layer_record(&diff_ids[1]).unwrap().unwrap();
    assert_eq!(rec.compressed.len(), 1);
    let blobs_before = fs::read_dir(s.root().join("v1/blobs/sha256"))
        .unwrap()
        .count();
    let out2 = tmp.path().join("img2.tar");
    export_image(
        &s,
        &id,
        &names,
        &std::collections::BTreeMap::new(),
        ArchiveFormat::Oci,
        Compression::Gzip.forced(),
        &out2,
    )
    .unwrap();
    assert_eq!(
        fs::read_dir(s.root().join("v1/blobs/sha256"))
            .unwrap()
            .count(),
        blobs_before
    );
    assert_eq!(
        fs::read(&out).unwrap(),
        fs::read(&out2).unwrap(),
        "archives are reproducible"
    );
}

#[test]
fn docker_archive_uncompressed() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::open(&tmp.path().join("store")).unwrap();
    let (id, diff_ids, _) = image(&s);
    let names = vec![
        "docker.io/library/app:1.0".to_string(),
        "127.0.0.1:5000/app:latest".to_string(),
    ];
    let out = tmp.path().join("docker.tar");
    export_image(
        &s,
        &id,
        &names,
        &std::collections::BTreeMap::new(),
        ArchiveFormat::Docker,
        Compression::Uncompressed.forced(),
        &out,
    )
    .unwrap();

    let f = files(&out);
    let m: Value = serde_json::from_slice(&f["manifest.json"]).unwrap();
    assert_eq!(
        m[0]["RepoTags"],
        serde_json::json!(["app:1.0", "127.0.0.1:5000/app:latest"])
    );
    assert_eq!(m[0]["Config"], format!("blobs/sha256/{}", id.hex()));
    for (path, diff_id) in m[0]["Layers"].as_array().unwrap().iter().zip(&diff_ids) {
        assert_eq!(
            &Digest::of(&f[path.as_str().unwrap()]),
            diff_id,
            "uncompressed layer (even the pulled one)"
        );
    }
    let repos: Value = serde_json::from_slice(&f["repositories"]).unwrap();
    assert_eq!(repos["app"]["1.0"], id.hex());
}

/// Unless forced, a layer the store holds only gzipped goes in as that
/// blob (BuildKit's default), and only the build's own layer is written in
/// the asked-for form; the archive is still one `docker load` reads.
#[test]
fn unforced_export_keeps_stored_compressed_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::open(&tmp.path().join("store")).unwrap();
    let (id, diff_ids, gz_digest) = image(&s);
    let export = |compression: Compression, name: &str| {
        let out = tmp.path().join(name);
        let no_notes = BTreeMap::new();
        let format = ArchiveFormat::Docker;
        export_image(
            &s,
            &id,
            &[],
            &no_notes,
            format,
            compression.preferred(),
            &out,
        )
        .unwrap();
        let f = files(&out);
        let m: Value = serde_json::from_slice(&f["manifest.json"]).unwrap();
        let paths: Vec<String> = m[0]["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_string())
            .collect();
        (f, paths)
    };
    let (f, paths) = export(Compression::Uncompressed, "plain.tar");
    assert_eq!(paths[0], format!("blobs/sha256/{}", gz_digest.hex()));
    assert_eq!(&Digest::of(&gunzip(&f[&paths[0]])), &diff_ids[0]);
    assert_eq!(
        &Digest::of(&f[&paths[1]]),
        &diff_ids[1],
        "built here: plain"
    );
    // Still plain once a gzip export has made and kept a gzip blob of it:
    // what an archive holds does not depend on earlier exports.
    image_manifest(&s, &id, Compression::Gzip, &BTreeMap::new()).unwrap();
    let gzipped = s.layer_record(&diff_ids[1]).unwrap().unwrap().compressed;
    assert_eq!(gzipped.len(), 1);
    let (f, again) = export(Compression::Uncompressed, "plain-again.tar");
    assert_eq!(again, paths);
    assert_eq!(&Digest::of(&f[&paths[1]]), &diff_ids[1]);

    // Asked for zstd: the pulled layer stays gzip, the local one is zstd.
    let (f, paths) = export(Compression::Zstd, "zstd.tar");
    assert_eq!(paths[0], format!("blobs/sha256/{}", gz_digest.hex()));
    assert!(f[&paths[1]].starts_with(&[0x28, 0xb5, 0x2f, 0xfd]));
    let index: Value = serde_json::from_slice(&f["index.json"]).unwrap();
    let manifest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest: Value = serde_json::from_slice(blob(&f, manifest)).unwrap();
    let types: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd"
        ]
    );
}

#[test]
fn corrupt_blob_aborts_export_without_leftovers() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::open(&tmp.path().join("store")).unwrap();
    let (id, diff_ids, gz_digest) = image(&s);
    let len = fs::metadata(s.blob_path(&gz_digest)).unwrap().len() as usize;
    fs::write(s.blob_path(&gz_digest), vec![0u8; len]).unwrap();
    let dir = tmp.path().join("out");
    fs::create_dir(&dir).unwrap();
    let err = export_image(
        &s,
        &id,
        &[],
        &std::collections::BTreeMap::new(),
        ArchiveFormat::Oci,
        Compression::Gzip.forced(),
        &dir.join("x.tar"),
    )
    .unwrap_err();
    assert!(matches!(err, ExportError::DigestMismatch { .. }), "{err}");
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        0,
        "no archive, no temp file"
    );
    assert!(s.layer_record(&diff_ids[0]).unwrap().is_some());
}

/// Digests depend on these bytes: index.json, manifest.json, repositories
/// and the image manifest must serialise exactly as pinned here (key
/// order, omitted fields), whatever types build them.
#[test]
fn metadata_bytes_are_pinned() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::open(&tmp.path().join("store")).unwrap();
    let (id, _, _) = image(&s);
    let names = vec![
        "docker.io/library/app:1.0".to_string(),
        "127.0.0.1:5000/app:latest".to_string(),
        "docker.io/me/x@sha256:0000000000000000000000000000000000000000000000000000000000000000"
            .to_string(),
    ];
    let out = tmp.path().join("docker.tar");
    export_image(
        &s,
        &id,
        &names,
        &std::collections::BTreeMap::new(),
        ArchiveFormat::Docker,
        Compression::Gzip.forced(),
        &out,
    )
    .unwrap();
    let f = files(&out);
    let text = |k: &str| String::from_utf8(f[k].clone()).unwrap();
    let (manifest, manifest_digest) =
        image_manifest(&s, &id, Compression::Gzip, &BTreeMap::new()).unwrap();
    let pinned = [
        ("index.json", text("index.json")),
        ("manifest.json", text("manifest.json")),
        ("repositories", text("repositories")),
        ("manifest", String::from_utf8(manifest).unwrap()),
    ];
    let m = "sha256:9f7987c0601b3de956b05c0b86d3903ac1bd4137ff62ccef7514265846945295";
    let cfg = "a731a1a82027c4d592727c1f29cb50c0bcbe9c7983e0f3f4318dfa81f38da271";
    let l1 = "5452eaed3741fa70e006a5268dc0a9d3902587aac958693f27792bffefff6bed";
    let l2 = "29bc13fb62df0c5a49d6630b14c2db88ac1652763156b977bc7873733854dbc8";
    let mt = "application/vnd.oci.image.manifest.v1+json";
    let entry = |ann: &str| {
        format!(r#"{{"mediaType":"{mt}","digest":"{m}","size":554,"annotations":{{{ann}}}}}"#)
    };
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{},{},{}]}}"#,
        entry(
            r#""io.containerd.image.name":"docker.io/library/app:1.0","org.opencontainers.image.ref.name":"1.0""#
        ),
        entry(
            r#""io.containerd.image.name":"127.0.0.1:5000/app:latest","org.opencontainers.image.ref.name":"latest""#
        ),
        entry(
            r#""io.containerd.image.name":"docker.io/me/x@sha256:0000000000000000000000000000000000000000000000000000000000000000""#
        ),
    );
    let docker = format!(
        r#"[{{"Config":"blobs/sha256/{cfg}","RepoTags":["app:1.0","127.0.0.1:5000/app:latest"],"Layers":["blobs/sha256/{l1}","blobs/sha256/{l2}"]}}]"#
    );
    let repos = format!(r#"{{"127.0.0.1:5000/app":{{"latest":"{cfg}"}},"app":{{"1.0":"{cfg}"}}}}"#);
    let gz = "application/vnd.oci.image.layer.v1.tar+gzip";
    let image = format!(
        r#"{{"schemaVersion":2,"mediaType":"{mt}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{cfg}","size":282}},"layers":[{{"mediaType":"{gz}","digest":"sha256:{l1}","size":115}},{{"mediaType":"{gz}","digest":"sha256:{l2}","size":90}}]}}"#
    );
    let want = [index, docker, repos, image];
    for ((what, got), want) in pinned.iter().zip(&want) {
        assert_eq!(got, want, "{what}");
    }
    assert_eq!(manifest_digest.as_str(), m);
    assert_eq!(
        Digest::of(&fs::read(&out).unwrap()).as_str(),
        "sha256:e0af95c61b76d185038a49062aa4a0281d029c9a7357f113046e0c1bd23ea76c",
        "the whole archive"
    );
}
