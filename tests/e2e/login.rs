//! Registry credentials from the CLI's side: a real `docker-registry` on
//! loopback behind htpasswd (Basic) auth, a fake `docker-credential-test`
//! helper script on the PATH of the mybuild process only, and `login` /
//! `logout` writing the Docker config or going through the helper.

use crate::util::registry::Registry;
use crate::util::{assert_success, stderr, stdout, TestEnv};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tempfile::TempDir;

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-pw";

/// A credential helper backed by `secret.json` beside it: `get` answers
/// with it for `server` (else "not found"), `store` writes it, `erase`
/// removes it; every call and its stdin go to `calls`.
const HELPER: &str = r#"#!/bin/sh
d="$(dirname "$0")"
in="$(cat)"
echo "$1 $in" >> "$d/calls"
case "$1" in
  get) if [ -f "$d/secret.json" ] && [ "$in" = "$(cat "$d/server")" ]; then
         cat "$d/secret.json"
       else
         echo "credentials not found in native keychain"; exit 1
       fi ;;
  store) printf '%s' "$in" > "$d/secret.json" ;;
  erase) rm -f "$d/secret.json" ;;
esac
"#;

/// A Docker config dir, a bin dir for helpers, and the store: each test's own.
struct Creds {
    env: TestEnv,
    config: TempDir,
    bin: TempDir,
    registry: Registry,
}

impl Creds {
    fn new() -> Creds {
        let registry = Registry::start_with_login(USER, PASSWORD);
        let bin = tempfile::tempdir().unwrap();
        std::fs::write(bin.path().join("server"), &registry.addr).unwrap();
        Creds {
            env: TestEnv::new(),
            config: tempfile::tempdir().unwrap(),
            bin,
            registry,
        }
    }

    /// Installs `docker-credential-<name>` with `script` as its body.
    fn helper(&self, name: &str, script: &str) {
        let p = self.bin.path().join(format!("docker-credential-{name}"));
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Seeds the `test` helper with the right credentials.
    fn helper_knows_login(&self) {
        let secret = serde_json::json!({
            "ServerURL": self.registry.addr, "Username": USER, "Secret": PASSWORD
        });
        std::fs::write(self.bin.path().join("secret.json"), secret.to_string()).unwrap();
    }

    fn set_config(&self, config: serde_json::Value) {
        std::fs::write(self.config_file(), config.to_string()).unwrap();
    }

    fn config_file(&self) -> PathBuf {
        self.config.path().join("config.json")
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.bin.path().join("calls")).unwrap_or_default()
    }

    /// mybuild with this test's config and helpers on its PATH.
    fn cmd(&self) -> Command {
        let path = std::env::var("PATH").unwrap_or_default();
        let mut c = self.env.cmd();
        c.env("DOCKER_CONFIG", self.config.path())
            .env("PATH", format!("{}:{path}", self.bin.path().display()));
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run mybuild")
    }

    /// Tags the bootstrapped busybox as `<registry>/<name>` and pushes it.
    fn push(&self, name: &str) -> Output {
        let image = format!("{}/{name}", self.registry.addr);
        assert_success(&self.run(&["tag", "busybox", &image]), "tag");
        self.run(&["push", &image])
    }

    fn login(&self, password: &str) -> Output {
        let mut child = self
            .cmd()
            .args(["login", &self.registry.addr, "-u", USER, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run mybuild login");
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{password}").unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    }
}

fn assert_failed_with(out: &Output, what: &str, needles: &[&str]) {
    assert!(!out.status.success(), "{what} succeeded:\n{}", stderr(out));
    let err = stderr(out);
    for n in needles {
        assert!(err.contains(n), "{what}: no {n:?} in:\n{err}");
    }
}

#[test]
fn credential_helper_lets_build_push_and_push_in() {
    let c = Creds::new();
    // Without credentials the registry's 401 is reported, naming it.
    let out = c.push("anon:1");
    assert_failed_with(
        &out,
        "anonymous push",
        &["no credentials for", &c.registry.addr],
    );

    c.helper("test", HELPER);
    c.helper_knows_login();
    c.set_config(serde_json::json!({"credsStore": "test"}));
    let ctx = c
        .env
        .context("app", "FROM busybox\nRUN echo hi > /hi\n", &[]);
    let image = format!("{}/app:1", c.registry.addr);
    let ctx_s = ctx.to_string_lossy().into_owned();
    let out = c.run(&["build", "--progress=plain", "-t", &image, "--push", &ctx_s]);
    assert_success(&out, "build --push with a credential helper");
    assert_success(&c.push("pushed:1"), "push with a credential helper");
    // Asked once per process (build, push), for the registry's host.
    let get = format!("get {}\n", c.registry.addr);
    assert_eq!(c.calls(), get.repeat(2));
    let err = stderr(&out) + &stdout(&out);
    assert!(!err.contains(PASSWORD), "secret in output:\n{err}");
}

#[test]
fn cred_helpers_entry_beats_creds_store() {
    let c = Creds::new();
    c.helper("test", HELPER);
    c.helper_knows_login();
    c.helper(
        "wrong",
        "#!/bin/sh\necho '{\"Username\":\"alice\",\"Secret\":\"nope\"}'\n",
    );
    c.set_config(serde_json::json!({
        "credsStore": "wrong",
        "credHelpers": {c.registry.addr.as_str(): "test"},
    }));
    assert_success(&c.push("x:1"), "push with credHelpers");
    // And the store alone, with the wrong password, is refused.
    c.set_config(serde_json::json!({"credsStore": "wrong"}));
    let out = c.push("y:1");
    assert_failed_with(
        &out,
        "push with the wrong helper",
        &[&c.registry.addr, "401"],
    );
}

#[test]
fn a_failing_or_missing_helper_is_named() {
    let c = Creds::new();
    c.helper("test", "#!/bin/sh\necho 'keychain is locked' >&2\nexit 2\n");
    c.set_config(serde_json::json!({"credsStore": "test"}));
    let out = c.push("x:1");
    let addr = c.registry.addr.as_str();
    assert_failed_with(
        &out,
        "push with a failing helper",
        &["docker-credential-test", addr, "keychain is locked"],
    );
    c.set_config(serde_json::json!({"credHelpers": {addr: "absent"}}));
    let out = c.push("x:1");
    assert_failed_with(
        &out,
        "push with a missing helper",
        &["docker-credential-absent", addr, "not found on PATH"],
    );
}

#[test]
fn login_through_helper_then_push_then_logout() {
    let c = Creds::new();
    c.helper("test", HELPER);
    c.set_config(serde_json::json!({"credsStore": "test", "experimental": "enabled"}));
    let out = c.login("wrong-password");
    assert_failed_with(
        &out,
        "login with a wrong password",
        &["incorrect username or password", &c.registry.addr],
    );
    assert_eq!(c.calls(), "", "a failed login stored something");

    let out = c.login(PASSWORD);
    assert_success(&out, "login");
    assert_eq!(stdout(&out), "Login Succeeded\n");
    let stored = format!(
        "store {{\"ServerURL\":\"{}\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}\n",
        c.registry.addr
    );
    assert_eq!(c.calls(), stored);
    let config = std::fs::read_to_string(c.config_file()).unwrap();
    assert!(!config.contains(PASSWORD), "{config}");
    assert!(config.contains("\"experimental\": \"enabled\""), "{config}");
    assert_success(&c.push("x:1"), "push after login");

    let out = c.run(&["logout", &c.registry.addr]);
    assert_success(&out, "logout");
    let removing = format!("Removing login credentials for {}\n", c.registry.addr);
    assert_eq!(stdout(&out), removing);
    assert!(c.calls().ends_with(&format!("erase {}\n", c.registry.addr)));
    assert!(!c.bin.path().join("secret.json").exists());
    let out = c.run(&["logout", &c.registry.addr]);
    assert_eq!(
        stdout(&out),
        format!("Not logged in to {}\n", c.registry.addr)
    );
}

#[test]
fn login_without_helper_writes_config_json() {
    let c = Creds::new();
    let out = c.login("wrong-password");
    assert!(!out.status.success());
    assert!(!c.config_file().exists(), "a failed login wrote the config");

    let out = c.run(&["login", &c.registry.addr, "-u", USER, "-p", PASSWORD]);
    assert_success(&out, "login -p");
    let err = stderr(&out);
    assert!(
        err.contains("WARNING! Using --password via the CLI is insecure"),
        "{err}"
    );
    assert!(err.contains("stored unencrypted"), "{err}");
    let mode = std::fs::metadata(c.config_file())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.config_file()).unwrap()).unwrap();
    assert!(
        config["auths"][c.registry.addr.as_str()]["auth"].is_string(),
        "{config}"
    );
    assert_success(&c.push("x:1"), "push after login");

    assert_success(&c.run(&["logout", &c.registry.addr]), "logout");
    assert_failed_with(&c.push("y:1"), "push after logout", &["no credentials for"]);
    assert_config_has_no_auths(&c.config_file());
}

fn assert_config_has_no_auths(path: &Path) {
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(config["auths"], serde_json::json!({}), "{config}");
}
