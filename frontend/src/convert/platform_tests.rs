//! `--platform` in the frontend: the predefined args, the platform each
//! stage's base is resolved for, and which RUN steps need emulation.

use crate::{compile, BuildPlan, CompileOptions, FrontendError, ImageResolver, ResolvedImage};
use mybuild_graph::{host_arch, NetworkMode, Op};
use serde_json::json;

/// Serves `base` for any architecture, its config saying which.
struct PerArch;

impl ImageResolver for PerArch {
    fn resolve(
        &self,
        reference: &str,
    ) -> Result<ResolvedImage, Box<dyn std::error::Error + Send + Sync>> {
        self.resolve_platform(reference, host_arch())
    }

    fn resolve_platform(
        &self,
        reference: &str,
        arch: &str,
    ) -> Result<ResolvedImage, Box<dyn std::error::Error + Send + Sync>> {
        let config = json!({"architecture": arch, "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": []}});
        let config = config.to_string().into_bytes();
        Ok(ResolvedImage {
            reference: format!("docker.io/library/{reference}:latest"),
            pin: mybuild_graph::Digest::of(&config),
            config,
        })
    }
}

fn build_for(text: &str, arch: &str, multi_platform: bool) -> Result<BuildPlan, FrontendError> {
    let opts = CompileOptions {
        filename: "Dockerfile".into(),
        build_args: Default::default(),
        target: None,
        dockerignore: vec![],
        network: NetworkMode::Host,
        exec_env: Default::default(),
        no_cache_filter: vec![],
        labels: Default::default(),
        named_contexts: Default::default(),
        platform: Some(arch.into()),
        multi_platform,
    };
    compile(text, &opts, &PerArch)
}

/// The environment of the RUN whose command contains `needle`.
fn run_env(plan: &BuildPlan, needle: &str) -> Vec<String> {
    (0..plan.graph.len() as u32)
        .map(|i| &plan.graph.node(mybuild_graph::NodeId(i)).op)
        .find_map(|op| match op {
            Op::Exec(x) if x.args.iter().any(|a| a.contains(needle)) => Some(x.env.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no RUN with {needle}"))
}

const TWO_STAGES: &str = "\
FROM --platform=$BUILDPLATFORM base AS tools
ARG TARGETARCH TARGETPLATFORM BUILDARCH
RUN tools
FROM base
COPY --from=tools /x /x
RUN target
";

#[test]
fn target_args_follow_the_platform_and_only_foreign_runs_need_emulation() {
    let foreign = if host_arch() == "s390x" {
        "riscv64"
    } else {
        "s390x"
    };
    let plan = build_for(TWO_STAGES, foreign, false).unwrap();
    let env = run_env(&plan, "tools");
    assert!(env.contains(&format!("TARGETARCH={foreign}")), "{env:?}");
    assert!(
        env.contains(&format!("TARGETPLATFORM=linux/{foreign}")),
        "{env:?}"
    );
    assert!(
        env.contains(&format!("BUILDARCH={}", host_arch())),
        "{env:?}"
    );
    assert_eq!(plan.config["architecture"], foreign);
    // The $BUILDPLATFORM stage runs natively; the target's RUN does not.
    assert_eq!(plan.emulated.iter().collect::<Vec<_>>(), [foreign]);
    let native = build_for(TWO_STAGES, host_arch(), false).unwrap();
    assert!(native.emulated.is_empty());
}

#[test]
fn a_copy_only_stage_needs_no_emulation_and_scratch_takes_the_platform() {
    let plan = build_for("FROM scratch\nCOPY a /a\n", "s390x", false).unwrap();
    assert!(plan.emulated.is_empty());
    assert_eq!(plan.config["architecture"], "s390x");
}

#[test]
fn several_platforms_name_steps_by_their_stages_platform() {
    let plan = build_for(TWO_STAGES, "s390x", true).unwrap();
    let names: Vec<&String> = plan.steps.keys().collect();
    let host = host_arch();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with(&format!("[linux/{host} tools 2/2] RUN"))),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("[linux/s390x stage-1 3/3] RUN")),
        "{names:?}"
    );
}

#[test]
fn from_platform_of_another_os_is_refused() {
    let err = build_for("FROM --platform=windows/amd64 base\n", "amd64", false).unwrap_err();
    assert!(
        err.to_string().contains("FROM --platform=windows/amd64"),
        "{err}"
    );
}
