//! `RUN --mount=type=ssh`: a socket of the step's own, forwarding every
//! connection to the agent the build was given (`--ssh`). A socket of its
//! own rather than a bind of the agent's: the step asks for the owner and
//! mode it needs (BuildKit's default is root's, 0600), the agent's path is
//! never shown, and the socket goes away with the step.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The file name of the socket inside [`AgentProxy::dir`].
pub(crate) const SOCKET_NAME: &str = "agent.sock";

/// A listening socket forwarding to `upstream`, for as long as it lives.
pub(crate) struct AgentProxy {
    dir: PathBuf,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl AgentProxy {
    /// Listens in a new private directory under the system's temporary
    /// directory (a socket path must stay under 108 bytes, so not in the
    /// store), with the socket owned by `uid:gid` with `mode`.
    pub(crate) fn start(upstream: &Path, mode: u32, uid: u32, gid: u32) -> io::Result<Self> {
        let template = std::env::temp_dir().join("mybuild-ssh-XXXXXX");
        let dir = nix::unistd::mkdtemp(&template).map_err(io::Error::from)?;
        let made = Self::listen(&dir, upstream, mode, (uid, gid));
        if made.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        made
    }

    fn listen(dir: &Path, upstream: &Path, mode: u32, owner: (u32, u32)) -> io::Result<Self> {
        let path = dir.join(SOCKET_NAME);
        let listener = UnixListener::bind(&path)?;
        std::os::unix::fs::chown(&path, Some(owner.0), Some(owner.1))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7777))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, upstream) = (stop.clone(), upstream.to_path_buf());
        let accept = std::thread::Builder::new()
            .name("ssh-agent-proxy".into())
            .spawn(move || accept_loop(&listener, &upstream, &flag))?;
        Ok(AgentProxy {
            dir: dir.to_path_buf(),
            stop,
            accept: Some(accept),
        })
    }

    /// The directory holding the socket ([`SOCKET_NAME`]).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for AgentProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so the thread sees the flag.
        let _ = UnixStream::connect(self.dir.join(SOCKET_NAME));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn accept_loop(listener: &UnixListener, upstream: &Path, stop: &AtomicBool) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = conn else { continue };
        let upstream = upstream.to_path_buf();
        // One thread a connection: an agent conversation is a few small
        // messages, and a step opens few of them.
        let _ = std::thread::Builder::new()
            .name("ssh-agent-conn".into())
            .spawn(move || forward(client, &upstream));
    }
}

/// Copies both ways until either side closes. An agent that cannot be
/// reached closes the client's connection, as a dead agent socket would.
fn forward(client: UnixStream, upstream: &Path) {
    let Ok(agent) = UnixStream::connect(upstream) else {
        return;
    };
    let (Ok(mut client_r), Ok(mut agent_w)) = (client.try_clone(), agent.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let _ = io::copy(&mut client_r, &mut agent_w);
        let _ = agent_w.shutdown(std::net::Shutdown::Write);
    });
    let (mut agent_r, mut client_w) = (agent, client);
    let _ = io::copy(&mut agent_r, &mut client_w);
    let _ = client_w.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::MetadataExt;

    /// An "agent" that answers every message with its bytes reversed.
    fn fake_agent(path: &Path) -> JoinHandle<()> {
        let listener = UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming().take(2) {
                let mut c = conn.unwrap();
                let mut buf = [0u8; 5];
                c.read_exact(&mut buf).unwrap();
                buf.reverse();
                c.write_all(&buf).unwrap();
            }
        })
    }

    #[test]
    fn forwards_each_connection_with_the_asked_owner_and_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let upstream = tmp.path().join("agent");
        let agent = fake_agent(&upstream);
        let proxy = AgentProxy::start(&upstream, 0o640, 7, 8).unwrap();
        let sock = proxy.dir().join(SOCKET_NAME);
        let meta = std::fs::metadata(&sock).unwrap();
        assert_eq!(
            (meta.mode() & 0o7777, meta.uid(), meta.gid()),
            (0o640, 7, 8)
        );
        for msg in [b"hello", b"agent"] {
            let mut c = UnixStream::connect(&sock).unwrap();
            c.write_all(msg).unwrap();
            let mut back = Vec::new();
            c.read_to_end(&mut back).unwrap();
            let mut want = msg.to_vec();
            want.reverse();
            assert_eq!(back, want);
        }
        agent.join().unwrap();
        let dir = proxy.dir().to_path_buf();
        drop(proxy);
        assert!(!dir.exists(), "the socket goes with the proxy");
    }

    #[test]
    fn a_dead_agent_closes_the_connection() {
        let tmp = tempfile::tempdir().unwrap();
        let proxy = AgentProxy::start(&tmp.path().join("none"), 0o600, 0, 0).unwrap();
        let mut c = UnixStream::connect(proxy.dir().join(SOCKET_NAME)).unwrap();
        let mut back = Vec::new();
        assert_eq!(c.read_to_end(&mut back).unwrap(), 0);
    }
}
