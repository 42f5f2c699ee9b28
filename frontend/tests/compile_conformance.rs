//! Compiles the conformance Dockerfiles (`../../shared/conformance/cases`,
//! required) against a fake resolver serving a busybox-like base, then
//! checks the image config against BuildKit's recorded golden config and
//! the graph against our golden dumps in `testdata/graphs/<case>.graph`.
//!
//! Regenerate the graph dumps after an intended change with
//! `MYBUILD_BLESS=1 cargo test -p mybuild-frontend --test compile_conformance`.

use mybuild_frontend::{compile, CompileOptions, ImageResolver, ResolvedImage};
use mybuild_graph::{Digest, NetworkMode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const BASE: &str = "127.0.0.1:5000/busybox:latest";

/// Serves the conformance base image; every other reference is unknown.
struct FakeResolver;

impl ImageResolver for FakeResolver {
    fn resolve(
        &self,
        reference: &str,
    ) -> Result<ResolvedImage, Box<dyn std::error::Error + Send + Sync>> {
        if reference != BASE {
            return Err(format!("{reference}: not found").into());
        }
        let config = json!({
            "architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [Digest::of(b"layer").to_string()]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "make-base.py"}]
        });
        Ok(ResolvedImage {
            reference: reference.into(),
            pin: Digest::of(b"manifest"),
            config: config.to_string().into_bytes(),
        })
    }
}

const FIELDS: [&str; 12] = [
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "OnBuild",
    "Shell",
];

fn conformance() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance")
}

fn options(case: &Path) -> CompileOptions {
    let spec: Value = fs::read(case.join("case.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(json!({}));
    let build_args: BTreeMap<String, String> = spec["args"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    CompileOptions {
        filename: "Dockerfile".into(),
        build_args,
        target: spec["target"].as_str().map(str::to_string),
        dockerignore: vec![],
        network: NetworkMode::Host,
        exec_env: Default::default(),
        no_cache_filter: vec![],
        labels: Default::default(),
        named_contexts: Default::default(),
        platform: None,
        multi_platform: false,
    }
}

/// Failing cases whose error BuildKit reports before running anything.
const COMPILE_ERRORS: [&str; 2] = ["error-undefined-stage", "error-unknown-instruction"];

#[test]
fn conformance_cases_compile_to_golden_config_and_graph() {
    let dir = conformance();
    assert!(
        dir.exists(),
        "{} not found: these goldens are checked against the team's shared fixtures, \
         which sit beside the checkout (../shared)",
        dir.display()
    );
    let update = std::env::var_os("MYBUILD_BLESS").is_some_and(|v| v == "1");
    let graphs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/graphs");
    fs::create_dir_all(&graphs).unwrap();
    let mut failures = Vec::new();
    let mut cases: Vec<PathBuf> = fs::read_dir(dir.join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let text = fs::read_to_string(case.join("Dockerfile"))
            .unwrap()
            .replace("@BASE@", BASE);
        let golden: Value = serde_json::from_slice(
            &fs::read(dir.join("golden").join(format!("{name}.json"))).unwrap(),
        )
        .unwrap();
        let result = compile(&text, &options(&case), &FakeResolver);
        if COMPILE_ERRORS.contains(&name.as_str()) {
            match result {
                Err(e) => assert!(e.to_string().starts_with("Dockerfile:2:"), "{name}: {e}"),
                Ok(_) => failures.push(format!("{name}: compiled, expected an error")),
            }
            continue;
        }
        let plan = match result {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        if golden.get("error").is_none() {
            for field in FIELDS {
                let want = golden["config"].get(field).cloned().unwrap_or(Value::Null);
                let got = plan.config["config"]
                    .get(field)
                    .cloned()
                    .unwrap_or(Value::Null);
                if want != got {
                    failures.push(format!("{name}: config.{field}: want {want}, got {got}"));
                }
            }
        }
        let dump = format!("{}target n{}\n", plan.graph, plan.target.0);
        let path = graphs.join(format!("{name}.graph"));
        if update {
            fs::write(&path, &dump).unwrap();
        } else if fs::read_to_string(&path).unwrap_or_default() != dump {
            failures.push(format!(
                "{name}: graph differs from {}:\n{dump}",
                path.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
