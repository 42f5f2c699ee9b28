//! `--ssh default|ID[=SOCKET|KEY[,KEY...]]`, as buildx takes it: the agents
//! `RUN --mount=type=ssh` may use. An id without a path is the caller's
//! `$SSH_AUTH_SOCK`; a socket is an agent already running; key files are
//! loaded into an `ssh-agent` of the build's own (OpenSSH's, so every key
//! type and a passphrase prompt work as they do for `ssh-add`), stopped
//! when the build ends. Keys never reach the sandbox: steps talk to the
//! agent through a socket, as with BuildKit.

use anyhow::{bail, Context as _};
use std::collections::BTreeMap;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The agents of one build: each id's socket, and the `ssh-agent`s started
/// for key files (stopped on drop).
#[derive(Default)]
pub(super) struct SshAgents {
    sockets: BTreeMap<String, PathBuf>,
    started: Vec<KeyAgent>,
}

impl SshAgents {
    /// Each id's agent socket, for the solver.
    pub(super) fn sockets(&self) -> BTreeMap<String, PathBuf> {
        self.sockets.clone()
    }
}

/// One `--ssh` spec split into its id and paths.
fn parse(spec: &str) -> anyhow::Result<(String, Vec<PathBuf>)> {
    let (id, paths) = match spec.split_once('=') {
        Some((id, paths)) => (id, paths.split(',').map(PathBuf::from).collect()),
        None => (spec, Vec::new()),
    };
    if id.is_empty() || id.contains(',') {
        bail!("--ssh {spec:?}: want default|ID[=SOCKET|KEY[,KEY...]]");
    }
    if paths.iter().any(|p: &PathBuf| p.as_os_str().is_empty()) {
        bail!("--ssh {spec:?}: an empty path");
    }
    Ok((id.to_string(), paths))
}

/// What the paths of one spec are: one agent socket, or key files.
enum Source {
    Socket(PathBuf),
    Keys(Vec<PathBuf>),
}

fn classify(id: &str, paths: Vec<PathBuf>) -> anyhow::Result<Source> {
    if paths.is_empty() {
        let sock = std::env::var_os("SSH_AUTH_SOCK").filter(|s| !s.is_empty());
        let Some(sock) = sock else {
            bail!(
                "--ssh {id}: SSH_AUTH_SOCK is not set; start an agent (ssh-agent) \
                 or name a socket or key file (--ssh {id}=$HOME/.ssh/id_ed25519)"
            );
        };
        return Ok(Source::Socket(PathBuf::from(sock)));
    }
    let mut keys = Vec::new();
    for p in &paths {
        let meta = std::fs::metadata(p).with_context(|| format!("--ssh {id}={}", p.display()))?;
        if meta.file_type().is_socket() {
            if paths.len() > 1 {
                bail!(
                    "--ssh {id}: {} is an agent socket, which must be the only path",
                    p.display()
                );
            }
            return Ok(Source::Socket(p.clone()));
        }
        if !meta.is_file() {
            bail!(
                "--ssh {id}={}: neither an agent socket nor a key file",
                p.display()
            );
        }
        keys.push(p.clone());
    }
    Ok(Source::Keys(keys))
}

/// Starts what `specs` need. Blocking: it waits for `ssh-agent` to listen.
pub(super) fn start(specs: &[String]) -> anyhow::Result<SshAgents> {
    let mut agents = SshAgents::default();
    for spec in specs {
        let (id, paths) = parse(spec)?;
        if agents.sockets.contains_key(&id) {
            bail!("--ssh {id} is given twice");
        }
        let socket = match classify(&id, paths)? {
            Source::Socket(s) => s,
            Source::Keys(keys) => {
                let agent = KeyAgent::start(&id, &keys)?;
                let s = agent.socket();
                agents.started.push(agent);
                s
            }
        };
        agents.sockets.insert(id, socket);
    }
    Ok(agents)
}

/// An `ssh-agent` holding the key files of one id, in a private directory.
struct KeyAgent {
    child: Child,
    dir: PathBuf,
}

impl KeyAgent {
    fn start(id: &str, keys: &[PathBuf]) -> anyhow::Result<Self> {
        let template = std::env::temp_dir().join("mybuild-agent-XXXXXX");
        let dir = nix::unistd::mkdtemp(&template)
            .with_context(|| format!("--ssh {id}: make a directory for its agent"))?;
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(dir.join("agent.sock"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e).with_context(|| {
                    format!(
                        "--ssh {id}: key files are served by OpenSSH's ssh-agent \
                         (Debian package openssh-client); starting it failed"
                    )
                });
            }
        };
        let agent = KeyAgent { child, dir };
        agent.wait_listening(id)?;
        agent.add(id, keys)?;
        Ok(agent)
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("agent.sock")
    }

    fn wait_listening(&self, id: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.socket().exists() {
            if Instant::now() > deadline {
                bail!("--ssh {id}: ssh-agent did not start listening within 10 s");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// `ssh-add`s the keys; a passphrase is asked for on the terminal.
    fn add(&self, id: &str, keys: &[PathBuf]) -> anyhow::Result<()> {
        let out = Command::new("ssh-add")
            .arg("-q")
            .args(keys)
            .env("SSH_AUTH_SOCK", self.socket())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("--ssh {id}: run ssh-add (package openssh-client)"))?;
        if !out.status.success() {
            let names: Vec<String> = keys.iter().map(|k| k.display().to_string()).collect();
            bail!(
                "--ssh {id}={}: ssh-add could not load the key: {}",
                names.join(","),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }
}

impl Drop for KeyAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_split_into_id_and_paths() {
        assert_eq!(parse("default").unwrap(), ("default".into(), vec![]));
        let (id, paths) = parse("gh=/a/k1,/a/k2").unwrap();
        assert_eq!(id, "gh");
        assert_eq!(paths, [PathBuf::from("/a/k1"), PathBuf::from("/a/k2")]);
        assert!(parse("=x").is_err());
        assert!(parse("a=").is_err());
        assert!(parse("a=x,,y").is_err());
    }

    #[test]
    fn paths_are_a_socket_or_key_files() {
        let tmp = tempfile::tempdir().unwrap();
        let sock = tmp.path().join("s");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let key = tmp.path().join("k");
        std::fs::write(&key, "not checked here").unwrap();
        assert!(
            matches!(classify("a", vec![sock.clone()]).unwrap(), Source::Socket(s) if s == sock)
        );
        assert!(
            matches!(classify("a", vec![key.clone()]).unwrap(), Source::Keys(k) if k == [key.clone()])
        );
        let both = classify("a", vec![key, sock]).err().unwrap().to_string();
        assert!(both.contains("must be the only path"), "{both}");
        let missing = classify("a", vec![tmp.path().join("none")]).err().unwrap();
        assert!(format!("{missing:#}").contains("none"), "{missing:#}");
        let dir = classify("a", vec![tmp.path().to_path_buf()]).err().unwrap();
        assert!(dir.to_string().contains("neither"), "{dir}");
    }

    #[test]
    fn twice_the_same_id_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let sock = tmp.path().join("s");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let spec = format!("a={}", sock.display());
        let e = start(&[spec.clone(), spec]).err().unwrap();
        assert!(e.to_string().contains("twice"), "{e}");
    }
}
