//! `mybuild` as an ordinary user (rootless): the user `.ci/rootless-user`
//! makes (subordinate ids in /etc/subuid and /etc/subgid, uidmap
//! installed), a work directory that user owns, and the store at its
//! default place for a non-root user, `$XDG_DATA_HOME/mybuild`.

use super::{assert_success, TestEnv, BIN};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The rootless test user's uid and gid.
pub struct User {
    pub uid: u32,
    pub gid: u32,
}

/// Creates the user once per test run (the script is idempotent).
pub fn user() -> &'static User {
    static USER: OnceLock<User> = OnceLock::new();
    USER.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/rootless-user");
        let out = Command::new("bash").arg(&script).output().expect("run .ci/rootless-user");
        assert!(
            out.status.success(),
            ".ci/rootless-user failed (the rootless tests need root, useradd and the uidmap package): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, &name]).output().expect("run id");
            String::from_utf8_lossy(&out.stdout).trim().parse().expect("numeric id")
        };
        User {
            uid: id("-u"),
            gid: id("-g"),
        }
    })
}

/// One test's rootless environment, beside a root one: `env` is an
/// ordinary [`TestEnv`] (root's store), whose work dir the user owns and
/// where both write contexts and outputs.
pub struct RootlessEnv {
    pub user: &'static User,
    pub env: TestEnv,
}

impl RootlessEnv {
    pub fn new() -> RootlessEnv {
        let user = user();
        let env = TestEnv::empty();
        std::os::unix::fs::chown(env.work.path(), Some(user.uid), Some(user.gid)).unwrap();
        RootlessEnv { user, env }
    }

    /// [`RootlessEnv::new`] with `busybox:latest` in the user's store.
    pub fn with_busybox() -> RootlessEnv {
        let rl = RootlessEnv::new();
        assert_success(&rl.mybuild(&["bootstrap-busybox"]), "bootstrap as the user");
        rl
    }

    /// Where the store must be: `$XDG_DATA_HOME/mybuild`.
    pub fn store(&self) -> PathBuf {
        self.env.work.path().join("data/mybuild")
    }

    /// `mybuild` run by the user through `setpriv`, with no `--root`.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={}", self.user.uid))
            .arg(format!("--regid={}", self.user.gid))
            .arg("--init-groups")
            .arg("--")
            .arg(BIN)
            .env("HOME", self.env.work.path())
            .env("XDG_DATA_HOME", self.env.work.path().join("data"))
            .env("MYBUILD_CONFIG", "/dev/null")
            .env_remove("MYBUILD_ROOT")
            .env_remove("DOCKER_BUILDKIT");
        c
    }

    pub fn mybuild(&self, args: &[&str]) -> Output {
        self.cmd()
            .args(args)
            .output()
            .expect("run mybuild as the rootless user")
    }
}

/// Every layer of an OCI archive as `path type uid:gid mode sha256` lines
/// (mtimes left out), the way owners are compared between builds.
pub fn owner_listing(archive: &Path) -> Vec<Vec<String>> {
    let (_, tars) = super::oci_layer_tars(archive);
    tars.iter()
        .map(|bytes| {
            let mut ar = tar::Archive::new(&bytes[..]);
            let mut lines = Vec::new();
            for e in ar.entries().unwrap() {
                let mut e = e.unwrap();
                let h = e.header().clone();
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut data).unwrap();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned());
                lines.push(format!(
                    "{} {} {}:{} {:o} {} {}",
                    e.path().unwrap().display(),
                    h.entry_type().as_byte() as char,
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                    h.mode().unwrap(),
                    super::sha256_hex(&data),
                    link.unwrap_or_default(),
                ));
            }
            lines
        })
        .collect()
}
