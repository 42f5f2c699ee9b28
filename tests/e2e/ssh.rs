//! Issue 16: `--ssh` and `RUN --mount=type=ssh`. A step lists the agent's
//! keys with OpenSSH's own `ssh-add -l` (the host's binary and libraries,
//! bound in from the context and started through the host's dynamic
//! loader, so the busybox base needs no ssh), from a key file given to
//! `--ssh` and from an agent already running (`$SSH_AUTH_SOCK`).

use crate::util::{assert_success, read_oci_archive, stderr, TestEnv};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A new ed25519 key without a passphrase: its path and `ssh-keygen -l`'s
/// fingerprint line for it ("256 SHA256:... comment (ED25519)").
fn keypair(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen (openssh-client, installed by .ci/install)");
    assert!(made.success(), "ssh-keygen");
    let fp = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&key)
        .output()
        .unwrap();
    assert!(fp.status.success(), "ssh-keygen -l");
    (key, String::from_utf8(fp.stdout).unwrap())
}

/// Copies the host's `ssh-add` and the shared objects it loads into
/// `ctx/h`, and returns the loader's file name there.
fn host_ssh_add(ctx: &Path) -> String {
    let h = ctx.join("h");
    std::fs::create_dir_all(&h).unwrap();
    let bin = PathBuf::from("/usr/bin/ssh-add");
    std::fs::copy(&bin, h.join("ssh-add")).unwrap();
    let ldd = Command::new("ldd").arg(&bin).output().unwrap();
    assert!(ldd.status.success(), "ldd ssh-add");
    let mut loader = None;
    for line in String::from_utf8(ldd.stdout).unwrap().lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
        // "/lib64/ld-linux-x86-64.so.2 (0x...)".
        let Some(path) = line.split_whitespace().find(|w| w.starts_with('/')) else {
            continue;
        };
        let name = Path::new(path)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        std::fs::copy(path, h.join(&name)).unwrap();
        if name.starts_with("ld-linux") {
            loader = Some(name);
        }
    }
    loader.expect("ldd names the dynamic loader")
}

/// `ssh-agent -D` on a socket in `dir`, holding `key`.
fn agent_with(dir: &Path, key: &Path) -> (Child, PathBuf) {
    let sock = dir.join("agent.sock");
    let child = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .spawn()
        .expect("ssh-agent");
    for _ in 0..500 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let added = Command::new("ssh-add")
        .arg("-q")
        .arg(key)
        .env("SSH_AUTH_SOCK", &sock)
        .status()
        .unwrap();
    assert!(added.success(), "ssh-add into the test's agent");
    (child, sock)
}

fn build(env: &TestEnv, ctx: &Path, auth_sock: Option<&Path>, extra: &[&str]) -> (Output, PathBuf) {
    let archive = env.work.path().join("ssh.oci.tar");
    let mut cmd = env.cmd();
    cmd.args(["build", "--progress=plain", "--no-cache", "--output"])
        .arg(format!("type=oci,dest={}", archive.display()))
        .args(extra)
        .arg(ctx);
    match auth_sock {
        Some(s) => cmd.env("SSH_AUTH_SOCK", s),
        None => cmd.env_remove("SSH_AUTH_SOCK"),
    };
    (cmd.output().expect("run mybuild"), archive)
}

#[test]
fn ssh_mounts_reach_the_agent_from_a_key_file_or_a_socket() {
    let env = TestEnv::new();
    let ctx = env.work.path().join("ssh");
    std::fs::create_dir_all(&ctx).unwrap();
    let loader = host_ssh_add(&ctx);
    let df = format!(
        "FROM busybox\n\
         RUN --mount=type=bind,source=h,target=/h --mount=type=ssh \
         /h/{loader} --library-path /h /h/ssh-add -l > /keys; \
         echo \"$SSH_AUTH_SOCK\" > /sock; stat -c '%a %u %g %F' $SSH_AUTH_SOCK > /stat\n\
         RUN --mount=type=ssh,id=other,uid=1000,gid=100,mode=0660,target=/o.sock \
         stat -c '%a %u %g %F' /o.sock > /other || echo none > /other\n"
    );
    std::fs::write(ctx.join("Dockerfile"), df).unwrap();
    let keys = env.work.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let (key, fingerprint) = keypair(&keys, "from-file");

    // A key file: served by an agent of the build's own.
    let spec = format!("default={}", key.display());
    let (out, archive) = build(&env, &ctx, None, &["--ssh", &spec]);
    assert_success(&out, "build with --ssh default=KEY");
    let img = read_oci_archive(&archive);
    assert_eq!(
        String::from_utf8(img.file("keys").unwrap()).unwrap(),
        fingerprint
    );
    assert_eq!(img.file("sock").unwrap(), b"/run/buildkit/ssh_agent.0\n");
    assert_eq!(img.file("stat").unwrap(), b"600 0 0 socket\n");
    assert_eq!(
        img.file("other").unwrap(),
        b"none\n",
        "an optional agent not given mounts nothing"
    );
    for layer in &img.layers {
        assert!(
            !layer
                .keys()
                .any(|p| p.starts_with("run/") || p.starts_with("o.sock") || p.starts_with("h/")),
            "a mount point leaked into a layer: {:?}",
            layer.keys().collect::<Vec<_>>()
        );
    }

    // An agent already running, as $SSH_AUTH_SOCK; a second id with the
    // owner and mode the step asks for.
    let (other_key, other_fp) = keypair(&keys, "from-agent");
    let (mut agent, sock) = agent_with(&keys, &other_key);
    let other = format!("other={}", sock.display());
    let (out, archive) = build(
        &env,
        &ctx,
        Some(&sock),
        &["--ssh", "default", "--ssh", &other],
    );
    let _ = agent.kill();
    let _ = agent.wait();
    assert_success(&out, "build with --ssh default ($SSH_AUTH_SOCK)");
    let img = read_oci_archive(&archive);
    assert_eq!(
        String::from_utf8(img.file("keys").unwrap()).unwrap(),
        other_fp
    );
    assert_eq!(img.file("other").unwrap(), b"660 1000 100 socket\n");
}

#[test]
fn a_required_agent_that_is_not_given_fails_and_bad_specs_are_named() {
    let env = TestEnv::new();
    let ctx = env.context(
        "ssh-required",
        "FROM busybox\nRUN --mount=type=ssh,id=deploy,required true\n",
        &[],
    );
    let (out, _) = build(&env, &ctx, None, &[]);
    assert!(!out.status.success(), "a required agent is missing");
    let err = stderr(&out);
    assert!(err.contains("ssh agent \"deploy\" is required"), "{err}");

    let (out, _) = build(&env, &ctx, None, &["--ssh", "default"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("SSH_AUTH_SOCK is not set"),
        "{}",
        stderr(&out)
    );

    let missing = env.work.path().join("no-such-key");
    let spec = format!("deploy={}", missing.display());
    let (out, _) = build(&env, &ctx, None, &["--ssh", &spec]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no-such-key"), "{}", stderr(&out));

    let junk = env.work.path().join("junk-key");
    std::fs::write(&junk, "not a key\n").unwrap();
    let spec = format!("deploy={}", junk.display());
    let (out, _) = build(&env, &ctx, None, &["--ssh", &spec]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("ssh-add could not load the key"),
        "{}",
        stderr(&out)
    );

    let out = env.legacy(&ctx, &["--ssh", "default"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--ssh needs BuildKit mode"),
        "{}",
        stderr(&out)
    );
}
