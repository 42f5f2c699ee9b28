//! Auth end to end: a real registry enforcing RS256 Bearer tokens, a token
//! endpoint that wants Basic credentials from `config.json`, and blob GETs
//! redirected to another origin that must never see an Authorization header.

use super::credentials::DockerAuths;
use super::test_gate::{Gate, TokenKeys, SERVICE};
use super::test_registry::{build_image, http_status, ImageSpec, TestRegistry};
use super::*;
use mybuild_cache::Store;
use std::sync::Arc;

const REPO: &str = "private/busybox";

fn client_with_login(registry: &str, user_pass: &str) -> RegistryClient {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let auth =
        serde_json::json!({"auths": {registry: {"auth": base64::encode(user_pass.as_bytes())}}});
    std::fs::write(&path, auth.to_string()).unwrap();
    RegistryClient::with_auths(vec![], DockerAuths::load(&path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_token_flow_keeps_credentials_home() {
    let (data, layout) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let image = build_image(
        layout.path(),
        &ImageSpec {
            arch: build_arch(),
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
    assert_eq!(c.pull_layers(&store, &img).await.unwrap(), image.diff_ids);

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
}
