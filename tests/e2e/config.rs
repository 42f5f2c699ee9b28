//! The config file (`MYBUILD_CONFIG`, else `config.toml` in the user's or
//! the system's config directory): each key takes effect on the real
//! binary, flags and environment variables win over it, and a bad file is
//! refused with its name and line.

use crate::util::registry::Registry;
use crate::util::{assert_success, cached_steps, stderr, TestEnv, BIN};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Writes `text` as config file `name` in the test's scratch directory.
fn config_file(env: &TestEnv, name: &str, text: &str) -> PathBuf {
    let path = env.work.path().join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// `mybuild --root <test store> ARGS` with `config` as the config file.
fn with_config(env: &TestEnv, config: &Path, args: &[&str]) -> Output {
    env.cmd()
        .env("MYBUILD_CONFIG", config)
        .env_remove("BUILDKIT_PROGRESS")
        .args(args)
        .output()
        .expect("run mybuild")
}

#[test]
fn the_root_key_places_the_store_and_the_flag_wins() {
    let env = TestEnv::empty();
    let from_file = env.work.path().join("store-from-file");
    let config = config_file(
        &env,
        "root",
        &format!("root = {:?}\n", from_file.to_str().unwrap()),
    );
    let run = |args: &[&str]| {
        Command::new(BIN)
            .env("MYBUILD_CONFIG", &config)
            .env_remove("MYBUILD_ROOT")
            .args(args)
            .output()
            .unwrap()
    };
    assert_success(
        &run(&["bootstrap-busybox"]),
        "bootstrap into root from file",
    );
    assert!(from_file.is_dir(), "no store at the config file's root");
    let images = run(&["images", "--format", "{{.Repository}}"]);
    assert_eq!(String::from_utf8_lossy(&images.stdout).trim(), "busybox");
    // --root wins: the store goes there, and the file's root is not used.
    let flag = env.work.path().join("store-from-flag");
    let out = run(&["--root", flag.to_str().unwrap(), "images", "-q"]);
    assert_success(&out, "images with --root");
    assert!(out.stdout.is_empty(), "--root read the file's store");
}

#[test]
fn the_progress_key_is_the_default_and_flag_and_env_win() {
    let env = TestEnv::new();
    let ctx = env.context("p", "FROM busybox\nLABEL a=b\n", &[]);
    let ctx = ctx.to_str().unwrap();
    let config = config_file(&env, "progress", "progress = \"rawjson\"\n");
    let out = with_config(&env, &config, &["build", ctx]);
    assert_success(&out, "build with progress from the file");
    let log = stderr(&out);
    assert!(
        log.lines().all(|l| l.starts_with('{')),
        "not rawjson:\n{log}"
    );
    let out = with_config(&env, &config, &["build", "--progress=plain", ctx]);
    assert!(stderr(&out).contains("#1 "), "flag lost:\n{}", stderr(&out));
    let out = env
        .cmd()
        .env("MYBUILD_CONFIG", &config)
        .env("BUILDKIT_PROGRESS", "plain")
        .args(["build", ctx])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("#1 "), "env lost:\n{}", stderr(&out));
}

#[test]
fn an_unknown_key_or_a_malformed_file_is_refused_by_name_and_line() {
    let env = TestEnv::empty();
    let config = config_file(&env, "unknown", "root = \"/tmp/x\"\nprogess = \"plain\"\n");
    let out = with_config(&env, &config, &["images"]);
    assert_eq!(out.status.code(), Some(1));
    let want = format!("{}, line 2: unknown key \"progess\"", config.display());
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    let config = config_file(&env, "malformed", "[gc]\nkeep-storage = 10GB\n");
    let out = with_config(&env, &config, &["images"]);
    assert_eq!(out.status.code(), Some(1));
    let want = format!("config file {}, line 2:", config.display());
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
}

#[test]
fn gc_keep_storage_trims_the_build_cache_after_a_build() {
    let env = TestEnv::new();
    let df = "FROM busybox\nRUN head -c 300000 /dev/urandom > /big\n";
    let ctx = env.context("gc", df, &[]);
    let ctx = ctx.to_str().unwrap();
    let keep_all = config_file(&env, "keep-all", "");
    for _ in 0..2 {
        let out = with_config(&env, &keep_all, &["build", "--progress=plain", ctx]);
        assert_success(&out, "build without gc");
    }
    let out = with_config(&env, &keep_all, &["build", "--progress=plain", ctx]);
    assert!(cached_steps(&stderr(&out))
        .iter()
        .any(|s| s.contains("RUN")));
    // keep-storage 1kB: the RUN's cache goes once the build is done.
    let tight = config_file(&env, "tight", "[gc]\nkeep-storage = \"1kB\"\n");
    assert_success(&with_config(&env, &tight, &["build", ctx]), "build with gc");
    let out = with_config(&env, &keep_all, &["build", "--progress=plain", ctx]);
    assert_success(&out, "build after gc");
    let cached = cached_steps(&stderr(&out));
    assert!(!cached.iter().any(|s| s.contains("RUN")), "{cached:?}");
}

#[test]
fn registry_mirrors_are_asked_first_then_the_registry() {
    let env = TestEnv::new();
    let registry = Registry::start();
    let on_mirror = format!("{}/mybuildtest/busybox", registry.addr);
    assert_success(&env.mybuild(&["tag", "busybox", &on_mirror]), "tag");
    assert_success(&env.mybuild(&["push", &on_mirror]), "push to the mirror");
    // A Docker Hub name, found on the mirror after a dead one; with no
    // network to Docker Hub, only the mirror can answer.
    let fresh = TestEnv::empty();
    let config = config_file(
        &fresh,
        "mirrors",
        &format!(
            "[registry-mirrors]\n\"docker.io\" = [\"http://127.0.0.1:1\", \"http://{}\"]\n\"{}\" = [\"http://127.0.0.1:1\"]\n",
            registry.addr, registry.addr
        ),
    );
    let ctx = fresh.context("m", "FROM mybuildtest/busybox\nLABEL via=mirror\n", &[]);
    let out = with_config(
        &fresh,
        &config,
        &["build", "-t", "m", ctx.to_str().unwrap()],
    );
    assert_success(&out, "build FROM a Docker Hub name via the mirror");
    // A mirror that is down: the registry itself answers.
    let df = format!("FROM {on_mirror}\nLABEL via=registry\n");
    let ctx = fresh.context("r", &df, &[]);
    let out = with_config(
        &fresh,
        &config,
        &["build", "-t", "r", ctx.to_str().unwrap()],
    );
    assert_success(&out, "build past a dead mirror");
    // Without the mirror, the Docker Hub name does not resolve here.
    let none = config_file(&fresh, "none", "");
    let ctx = fresh.context("n", "FROM mybuildtest/busybox\nLABEL via=none\n", &[]);
    let out = with_config(&fresh, &none, &["build", "--pull", ctx.to_str().unwrap()]);
    assert!(!out.status.success(), "resolved without a mirror");
}

/// The machine's first non-loopback IPv4 address, if it has one.
fn outside_address() -> Option<String> {
    let out = Command::new("hostname").arg("-I").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .map(str::to_string)
}

/// Forwards connections on `ip:<random port>` to `upstream`, for as long
/// as the test runs; returns `ip:port`.
fn forward(ip: &str, upstream: &str) -> String {
    let listener = TcpListener::bind((ip, 0)).expect("bind the outside address");
    let addr = format!("{ip}:{}", listener.local_addr().unwrap().port());
    let upstream = upstream.to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let pipe = |mut from: TcpStream, mut to: TcpStream| {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                })
            };
            pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
            pipe(server, client);
        }
    });
    addr
}

#[test]
fn insecure_registries_are_spoken_to_over_http() {
    // A test that cannot run fails rather than passing unseen.
    let ip = outside_address()
        .expect("this test needs a non-loopback IPv4 address (`hostname -I` shows none)");
    let env = TestEnv::new();
    let registry = Registry::start();
    let addr = forward(&ip, &registry.addr);
    let name = format!("{addr}/cfg/busybox");
    assert_success(&env.mybuild(&["tag", "busybox", &name]), "tag");
    // Not loopback, so HTTPS by default: the plain registry refuses it.
    let none = config_file(&env, "none", "");
    let out = with_config(&env, &none, &["push", &name]);
    assert!(
        !out.status.success(),
        "pushed over https to a plain registry"
    );
    let config = config_file(
        &env,
        "insecure",
        &format!("insecure-registries = [\"{addr}\"]\n"),
    );
    assert_success(&with_config(&env, &config, &["push", &name]), "push");
    // The build's pulls read it too.
    let fresh = TestEnv::empty();
    let ctx = fresh.context("i", &format!("FROM {name}\nLABEL a=b\n"), &[]);
    let out = with_config(&fresh, &config, &["build", ctx.to_str().unwrap()]);
    assert_success(&out, "build FROM the insecure registry");
}
