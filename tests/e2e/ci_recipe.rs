//! README's "In CI" recipe, run as written: the fenced block between the
//! `ci-recipe` markers goes to `bash -euo pipefail` on two fresh runners
//! (empty store, no login) in turn, against a real registry that wants a
//! login. The second must take its steps from the first's registry cache.

use crate::util::registry::Registry;
use crate::util::{assert_success, cached_steps, stderr, stdout, TestEnv, BIN};
use std::path::Path;
use std::process::{Command, Output};

const USER: &str = "ci";
const PASSWORD: &str = "ci-secret";

/// The shell lines between the markers, without the fence.
fn recipe() -> String {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    let start = text
        .find("<!-- ci-recipe:start -->")
        .expect("no start marker");
    let end = text.find("<!-- ci-recipe:end -->").expect("no end marker");
    let block = &text[start..end];
    let body = block.split_once("```sh\n").expect("no ```sh fence").1;
    body.rsplit_once("```")
        .expect("no closing fence")
        .0
        .to_string()
}

/// One fresh runner: its own store and Docker config, mybuild on PATH.
fn run_recipe(registry: &str, ctx: &Path) -> Output {
    let (root, docker_config) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    Command::new("bash")
        .args(["-euo", "pipefail", "-c", &recipe()])
        .current_dir(ctx)
        .env("PATH", path)
        .env("MYBUILD_ROOT", root.path())
        .env("MYBUILD_CONFIG", "/dev/null")
        .env("DOCKER_CONFIG", docker_config.path())
        .env("REGISTRY", registry)
        .env("REGISTRY_USER", USER)
        .env("REGISTRY_PASSWORD", PASSWORD)
        .env_remove("BUILDKIT_PROGRESS")
        .env_remove("DOCKER_BUILDKIT")
        .output()
        .expect("run bash")
}

/// Puts the test store's busybox on the registry, for the recipe's FROM.
fn push_base(env: &TestEnv, registry: &Registry, base: &str) {
    let docker_config = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: &str| {
        let mut c = env.cmd();
        c.env("DOCKER_CONFIG", docker_config.path()).args(args);
        c.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let login = ["login", &registry.addr, "-u", USER, "--password-stdin"];
    assert_success(&run(&login, PASSWORD), "login");
    assert_success(&run(&["tag", "busybox", base], ""), "tag");
    assert_success(&run(&["push", base], ""), "push the base");
}

#[test]
fn the_readme_ci_recipe_runs_as_written_and_reuses_the_registry_cache() {
    let registry = Registry::start_with_login(USER, PASSWORD);
    let env = TestEnv::new();
    let base = format!("{}/base/busybox", registry.addr);
    push_base(&env, &registry, &base);
    let df = format!("FROM {base}\nRUN echo built > /built\n");
    let ctx = env.context("app", &df, &[]);

    let first = run_recipe(&registry.addr, &ctx);
    assert_success(&first, "the recipe on a fresh runner");
    let pushed = format!("pushed {}/myapp@sha256:", registry.addr);
    assert!(stdout(&first).contains(&pushed), "{}", stdout(&first));
    assert!(cached_steps(&stderr(&first)).is_empty());

    let second = run_recipe(&registry.addr, &ctx);
    assert_success(&second, "the recipe on a second fresh runner");
    assert!(stdout(&second).contains(&pushed), "{}", stdout(&second));
    let cached = cached_steps(&stderr(&second));
    assert!(
        cached.iter().any(|s| s.contains("RUN echo built")),
        "no step from the registry cache: {cached:?}\n{}",
        stderr(&second)
    );
}
