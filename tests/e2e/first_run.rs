//! The first run on a fresh store: a base image that cannot be pulled
//! says what failed, in words (not the registry's raw JSON), and points
//! at `mybuild bootstrap-busybox` when the registry is unreachable.

use crate::util::registry::Registry;
use crate::util::{stderr, TestEnv};

#[test]
fn unreachable_registry_hints_bootstrap_busybox() {
    let env = TestEnv::empty();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let ctx = env.context("c", &format!("FROM {addr}/busybox\n"), &[]);
    let (out, _) = env.build(&ctx, &[]);
    assert!(!out.status.success());
    let log = stderr(&out);
    let error = log.lines().find(|l| l.starts_with("ERROR:")).unwrap();
    assert!(error.contains("Connection refused"), "{log}");
    assert!(error.contains("mybuild bootstrap-busybox"), "{log}");
}

#[test]
fn missing_tag_prints_the_registry_code_and_message() {
    let reg = Registry::start();
    let env = TestEnv::empty();
    let ctx = env.context("c", &format!("FROM {}/nothing:here\n", reg.addr), &[]);
    let (out, _) = env.build(&ctx, &[]);
    assert!(!out.status.success());
    let log = stderr(&out);
    let error = log.lines().find(|l| l.starts_with("ERROR:")).unwrap();
    assert!(
        error.contains("HTTP 404: MANIFEST_UNKNOWN: manifest unknown"),
        "{log}"
    );
    assert!(!log.contains(r#"{"errors""#), "raw JSON body: {log}");
    // Reachable, so no offline hint.
    assert!(!error.contains("bootstrap-busybox"), "{log}");
}
