//! Auth end to end: a real registry enforcing RS256 Bearer tokens, a token
//! endpoint that wants Basic credentials from `config.json`, and blob GETs
//! redirected to another origin that must never see an Authorization header.

use super::credentials::DockerAuths;
use super::test_gate::{Gate, TokenKeys, REFRESH_TOKEN, SERVICE};
use super::test_registry::{build_image, http_status, ImageSpec, TestRegistry};
use super::*;
use mybuild_cache::Store;
use std::sync::Arc;

const REPO: &str = "private/busybox";

fn client_with_login(registry: &str, user_pass: &str) -> RegistryClient {
    let auth = base64::encode(user_pass.as_bytes());
    client_with_config(serde_json::json!({"auths": {registry: {"auth": auth}}}))
}

fn client_with_config(config: serde_json::Value) -> RegistryClient {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    RegistryClient::with_auths(vec![], DockerAuths::load(&path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_token_flow_keeps_credentials_home() {
    let (data, layout) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let image = build_image(
        layout.path(),
        &ImageSpec {
            arch: mybuild_graph::host_arch(),
            marker: "secret",
            ..Default::default()
        },
    );
    TestRegistry::start_in(data.path(), "").push(layout.path(), &format!("{REPO}:latest"), false);

    let keys = TokenKeys::generate();
    let mut gate = Gate::bind().await;
    let registry = TestRegistry::start_in(
        data.path(),
        &keys.registry_yaml(&format!("http://{}/token", gate.front)),
    );
    let manifest_path = format!("/v2/{REPO}/manifests/latest");
    assert_eq!(
        http_status(&registry.addr, &manifest_path),
        Some(401),
        "registry must enforce tokens"
    );
    let basic = format!("Basic {}", base64::encode(b"alice:s3cret"));
    gate.serve(
        &registry.addr,
        layout.path(),
        keys.sign(REPO),
        basic.clone(),
    );

    let r = Reference::parse(&format!("{}/{REPO}", gate.front)).unwrap();
    let c = client_with_login(&gate.front, "alice:s3cret");
    let img = c.resolve(&r).await.unwrap();
    assert_eq!(img.manifest_digest, image.manifest_digest);
    let (_store_dir, store) = {
        let d = tempfile::tempdir().unwrap();
        let s = Arc::new(Store::open(d.path()).unwrap());
        (d, s)
    };
    assert_eq!(
        c.pull_layers(&store, &img, &NoProgress, "").await.unwrap(),
        image.diff_ids
    );

    let tokens = gate.seen("token");
    assert_eq!(tokens.len(), 1, "one token for the whole pull: {tokens:?}");
    assert_eq!(tokens[0].authorization.as_deref(), Some(basic.as_str()));
    assert!(
        tokens[0].target.contains(&format!("service={SERVICE}")),
        "{}",
        tokens[0].target
    );
    assert!(
        tokens[0]
            .target
            .contains("scope=repository%3Aprivate%2Fbusybox%3Apull"),
        "{}",
        tokens[0].target
    );
    let storage = gate.seen("storage");
    assert_eq!(
        storage.len(),
        3,
        "config and two layers via redirect: {storage:?}"
    );
    assert!(
        storage.iter().all(|s| s.authorization.is_none()),
        "credentials leaked to storage: {storage:?}"
    );
    let front = gate.seen("front");
    assert!(front
        .iter()
        .filter(|s| s.target.contains("/blobs/"))
        .all(|s| s
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer "))));

    let err = client_with_login(&gate.front, "alice:wrong")
        .resolve(&r)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            RegistryError::Auth {
                source: AuthError::TokenStatus { status: 401, .. },
                ..
            }
        ),
        "{err}"
    );
    identity_token_is_refreshed(&gate, &r, &image.manifest_digest).await;
}

/// An identity token (what a credential helper hands out as user
/// `<token>`) is exchanged at the realm with a refresh-token POST.
async fn identity_token_is_refreshed(gate: &Gate, r: &Reference, expected: &mybuild_graph::Digest) {
    let with_token = |token: &str| {
        client_with_config(serde_json::json!({"auths": {&gate.front: {"identitytoken": token}}}))
    };
    let before = gate.seen("token").len();
    let img = with_token(REFRESH_TOKEN).resolve(r).await.unwrap();
    assert_eq!(&img.manifest_digest, expected);
    let tokens = gate.seen("token");
    assert_eq!(tokens.len(), before + 1, "{tokens:?}");
    assert_eq!(
        tokens[before].authorization, None,
        "identity token sent as Basic"
    );
    let err = with_token("stale").resolve(r).await.unwrap_err();
    assert!(
        matches!(
            &err,
            RegistryError::Auth {
                source: AuthError::TokenStatus { status: 401, .. },
                ..
            }
        ),
        "{err}"
    );
}

/// Push with a Bearer token the registry itself enforces: the client asks
/// for a `pull,push` token once, uploads every blob, then re-pushes
/// without uploading anything.
#[tokio::test(flavor = "multi_thread")]
async fn bearer_push_and_repush() {
    let data = tempfile::tempdir().unwrap();
    let keys = TokenKeys::generate();
    let mut gate = Gate::bind().await;
    let registry = TestRegistry::start_in(
        data.path(),
        &keys.registry_yaml(&format!("http://{}/token", gate.front)),
    );
    let basic = format!("Basic {}", base64::encode(b"alice:s3cret"));
    let empty = tempfile::tempdir().unwrap();
    gate.serve(
        &registry.addr,
        empty.path(),
        keys.sign_for(REPO, &["pull", "push"]),
        basic.clone(),
    );

    let (_dir, store) = {
        let d = tempfile::tempdir().unwrap();
        let s = Arc::new(Store::open(d.path()).unwrap());
        (d, s)
    };
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(5);
    h.set_mode(0o644);
    h.set_path("pushed.txt").unwrap();
    h.set_cksum();
    tar.append(&h, &b"hello"[..]).unwrap();
    let diff_id = store
        .import_layer(&tar.into_inner().unwrap()[..], None)
        .unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": mybuild_graph::host_arch(), "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap();
    let config = store.put_image(&config).unwrap();
    let (manifest, digest) = mybuild_cache::export::image_manifest(
        &store,
        &config,
        mybuild_cache::export::Compression::Gzip,
        &std::collections::BTreeMap::new(),
    )
    .unwrap();

    // Through the front: the token realm shares its origin, so the
    // credentials may go there.
    let r = Reference::parse(&format!("{}/{REPO}:v1", gate.front)).unwrap();
    let c = client_with_login(&gate.front, "alice:s3cret");
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    let on: OnPush = Arc::new(move |e| sink.lock().unwrap().push(e));
    let pushed = c
        .push(store.clone(), &r, manifest.clone(), on.clone())
        .await
        .unwrap();
    assert_eq!(pushed, digest);
    let uploaded = |evs: &[PushEvent]| {
        evs.iter()
            .filter(|e| matches!(e, PushEvent::Uploaded { .. }))
            .count()
    };
    assert_eq!(uploaded(&events.lock().unwrap()), 2, "config and layer");
    let tokens = gate.seen("token");
    assert_eq!(tokens.len(), 1, "one token for the whole push: {tokens:?}");
    assert!(
        tokens[0].target.contains("%3Apull%2Cpush"),
        "{}",
        tokens[0].target
    );

    events.lock().unwrap().clear();
    c.push(store.clone(), &r, manifest, on).await.unwrap();
    assert_eq!(
        uploaded(&events.lock().unwrap()),
        0,
        "re-push uploads nothing"
    );
    // (Blob GETs through the front go to its storage, which holds no
    // pushed blobs: read the manifest back instead.)
    let path = format!("{REPO}/manifests/v1");
    let accept = Some(mybuild_cache::oci::OCI_MANIFEST);
    let stored = c.get_small(&r, &path, accept, 1 << 20).await.unwrap();
    assert_eq!(mybuild_graph::Digest::of(&stored), digest);

    // Without credentials the registry refuses the push outright.
    let anon = RegistryClient::with_auths(vec![], DockerAuths::default()).unwrap();
    let other = Reference::parse(&format!("{}/{REPO}:v2", gate.front)).unwrap();
    let (m2, _) = mybuild_cache::export::image_manifest(
        &store,
        &config,
        mybuild_cache::export::Compression::Gzip,
        &std::collections::BTreeMap::new(),
    )
    .unwrap();
    assert!(anon
        .push(store.clone(), &other, m2, Arc::new(|_| {}))
        .await
        .is_err());
}
