//! End-to-end tests of `--platform` (issue 17, item 2): an arm64 image
//! whose RUN ran under binfmt_misc emulation, both platforms pushed as one
//! OCI index to a real registry and read back with skopeo; COPY-only
//! stages that need no emulator; the clear error when one is missing.

use crate::util::registry::{inspect, skopeo, Registry};
use crate::util::{assert_success, read_oci_archive, stderr, Image, TestEnv};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// A RUN on the target's base, a stage on the build platform, and a
/// COPY-only stage.
const APP: &str = "\
FROM --platform=$BUILDPLATFORM busybox AS tools
ARG BUILDARCH TARGETARCH TARGETPLATFORM
RUN echo \"$BUILDARCH $TARGETARCH $TARGETPLATFORM\" > /args
FROM scratch AS files
COPY hello.txt /hello.txt
FROM busybox
RUN uname -m > /arch
COPY --from=files /hello.txt /
COPY --from=tools /args /
";

/// `arch`'s image of `image` in the registry, copied out by skopeo.
fn pull_platform(env: &TestEnv, image: &str, arch: &str) -> Image {
    let dest = env.work.path().join(format!("{arch}.oci.tar"));
    let out = skopeo(&[
        "copy",
        "-q",
        "--src-tls-verify=false",
        "--override-arch",
        arch,
        &format!("docker://{image}"),
        &format!("oci-archive:{}", dest.display()),
    ]);
    assert_success(&out, &format!("skopeo copy {image} ({arch})"));
    read_oci_archive(&dest)
}

/// `build -q --platform PLATFORMS -o OUTPUT CTX`.
fn build_to(env: &TestEnv, ctx: &Path, platforms: &str, output: &str) -> Output {
    let ctx = ctx.to_str().unwrap();
    env.mybuild(&["build", "-q", "--platform", platforms, "-o", output, ctx])
}

fn text(image: &Image, path: &str) -> String {
    let bytes = image
        .file(path)
        .unwrap_or_else(|| panic!("{path} not in the image"));
    String::from_utf8(bytes).unwrap().trim().to_string()
}

/// The platforms an index lists, as `os/arch`.
fn platforms(index: &Value) -> Vec<String> {
    let list = index["manifests"].as_array().expect("an index");
    list.iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn both_platforms_are_pushed_as_one_index_and_arm64_ran_emulated() {
    let env = TestEnv::with_arm64_busybox();
    let registry = Registry::start();
    let ctx = env.context("app", APP, &[("hello.txt", "hello")]);
    let image = format!("{}/app:1", registry.addr);
    let out = env.mybuild(&[
        "build",
        "--progress=plain",
        "--platform",
        "linux/amd64,linux/arm64",
        "-t",
        &image,
        "--push",
        ctx.to_str().unwrap(),
    ]);
    assert_success(&out, "multi-platform build --push");
    let log = stderr(&out);
    assert!(
        log.contains("[linux/arm64 stage-2 2/4] RUN uname -m > /arch"),
        "{log}"
    );

    let index = inspect(&image, &["--raw"]);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(platforms(&index), ["linux/amd64", "linux/arm64"]);
    let arm = inspect(&image, &["--override-arch", "arm64"]);
    assert_eq!(arm["Architecture"], "arm64");
    let amd = inspect(&image, &["--override-arch", "amd64"]);
    assert_eq!(amd["Architecture"], "amd64");

    // uname in the arm64 image's RUN saw an aarch64 machine: qemu ran it.
    let arm = pull_platform(&env, &image, "arm64");
    assert_eq!(arm.config["architecture"], "arm64");
    assert_eq!(text(&arm, "arch"), "aarch64");
    assert_eq!(text(&arm, "hello.txt"), "hello");
    // The $BUILDPLATFORM stage ran natively and saw the target's args.
    assert_eq!(text(&arm, "args"), "amd64 arm64 linux/arm64");
    let amd = pull_platform(&env, &image, "amd64");
    assert_eq!(text(&amd, "arch"), "x86_64");
    assert_eq!(text(&amd, "args"), "amd64 amd64 linux/amd64");
}

#[test]
fn a_single_foreign_platform_is_named_for_that_platform_only() {
    let env = TestEnv::with_arm64_busybox();
    // qemu passes the guest's personality(PER_LINUX32) to the host: the
    // sandbox's seccomp profile must let it through, as Docker's does.
    let dockerfile = "FROM busybox\nRUN uname -m > /arch && linux32 true\n";
    let ctx = env.context("one", dockerfile, &[]);
    let (out, tar) = env.build(&ctx, &["--platform", "linux/arm64", "-t", "one:1"]);
    assert_success(&out, "--platform linux/arm64");
    let image = read_oci_archive(&tar);
    assert_eq!(image.config["architecture"], "arm64");
    assert_eq!(text(&image, "arch"), "aarch64");
    // `FROM one:1` on the host finds no host image of that name.
    let on_host = env.context("host", "FROM one:1\n", &[]);
    let (out, _) = env.build(&on_host, &[]);
    assert!(!out.status.success(), "a host build used the arm64 image");
    // Other platforms' images are prune roots, as tagged ones are (without,
    // prune drops the arm64 image's config and this build fails).
    assert_success(&env.mybuild(&["prune", "-f", "--all"]), "prune --all");
    let arm = env.context("arm", "FROM one:1\nRUN cat /arch\n", &[]);
    let (out, tar) = env.build(&arm, &["--platform", "linux/arm64"]);
    assert_success(&out, "FROM the arm64 image for arm64");
    assert_eq!(read_oci_archive(&tar).config["architecture"], "arm64");
}

#[test]
fn the_oci_output_of_two_platforms_is_an_index() {
    let env = TestEnv::with_arm64_busybox();
    let ctx = env.context("oci", "FROM busybox\nRUN uname -m > /arch\n", &[]);
    let tar = env.work.path().join("both.tar");
    let dest = format!("type=oci,dest={}", tar.display());
    let out = build_to(&env, &ctx, "linux/arm64,linux/amd64", &dest);
    assert_success(&out, "two platforms to an OCI archive");
    let archive = format!("oci-archive:{}", tar.display());
    let raw = skopeo(&["inspect", "--raw", &archive]);
    assert_success(&raw, "skopeo inspect --raw oci-archive");
    let index: Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(platforms(&index), ["linux/arm64", "linux/amd64"]);
    // `-q` prints the index digest, which is the archive's.
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        printed,
        format!("sha256:{}", crate::util::sha256_hex(&raw.stdout))
    );
    let docker_dest = format!(
        "type=docker,dest={}",
        env.work.path().join("d.tar").display()
    );
    let docker = build_to(&env, &ctx, "linux/arm64,linux/amd64", &docker_dest);
    assert!(!docker.status.success());
    assert!(
        stderr(&docker).contains("a docker archive holds one platform"),
        "{}",
        stderr(&docker)
    );
}

#[test]
fn copy_only_stages_need_no_emulator_and_a_run_names_what_is_missing() {
    let env = TestEnv::new();
    // A fake, empty binfmt_misc: no handler for any architecture.
    let binfmt = env.work.path().join("binfmt");
    std::fs::create_dir_all(&binfmt).unwrap();
    std::fs::write(binfmt.join("status"), "enabled\n").unwrap();
    let copy_only = env.context(
        "copy",
        "FROM scratch\nCOPY hello.txt /\n",
        &[("hello.txt", "hi")],
    );
    let mut cmd = env.cmd();
    let tar = env.work.path().join("s390x.tar");
    cmd.env("MYBUILD_BINFMT_DIR", &binfmt).args([
        "build",
        "--platform",
        "linux/s390x",
        "-o",
        &format!("type=oci,dest={}", tar.display()),
        copy_only.to_str().unwrap(),
    ]);
    let out = cmd.output().unwrap();
    assert_success(&out, "COPY-only build for linux/s390x");
    let image = read_oci_archive(&tar);
    assert_eq!(image.config["architecture"], "s390x");
    assert_eq!(text(&image, "hello.txt"), "hi");

    let run = env.context(
        "run",
        "FROM scratch\nCOPY hello.txt /\nRUN true\n",
        &[("hello.txt", "hi")],
    );
    let mut cmd = env.cmd();
    cmd.env("MYBUILD_BINFMT_DIR", &binfmt).args([
        "build",
        "--platform",
        "linux/s390x",
        run.to_str().unwrap(),
    ]);
    let out = cmd.output().unwrap();
    assert!(
        !out.status.success(),
        "a RUN for s390x ran without an emulator"
    );
    let err = stderr(&out);
    assert!(err.contains("RUN for linux/s390x needs emulation"), "{err}");
    assert!(err.contains("no enabled handler for s390x"), "{err}");
    assert!(err.contains("qemu-user-static"), "{err}");
    // The classic builder has no platforms.
    let out = env.legacy(&copy_only, &["--platform", "linux/s390x"]);
    assert!(!out.status.success(), "--legacy built for s390x");
    assert!(
        stderr(&out).contains("needs the default (BuildKit) mode"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_local_output_of_two_platforms_has_a_directory_each() {
    let env = TestEnv::with_arm64_busybox();
    let ctx = env.context("local", "FROM busybox\nRUN uname -m > /arch\n", &[]);
    let out_dir = env.work.path().join("out");
    let dest = format!("type=local,dest={}", out_dir.display());
    let out = build_to(&env, &ctx, "linux/amd64,linux/arm64", &dest);
    assert_success(&out, "two platforms to a local directory");
    let arch = |dir: &str| std::fs::read_to_string(out_dir.join(dir).join("arch")).unwrap();
    assert_eq!(arch("linux_amd64").trim(), "x86_64");
    assert_eq!(arch("linux_arm64").trim(), "aarch64");
}
