//! The host side of `run -t`: takes the pty master the container sends,
//! puts mybuild's terminal in raw mode (restored when done), passes the
//! window size (now and on SIGWINCH) and copies bytes both ways on threads
//! of their own, since terminal reads block.

use anyhow::Context as _;
use nix::sys::termios::{self, SetArg, Termios};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use tokio::signal::unix::{signal, SignalKind};

/// A running relay between mybuild's terminal and the container's pty.
pub(super) struct Relay {
    output: std::thread::JoinHandle<()>,
    winch: tokio::task::JoinHandle<()>,
    _raw: Option<RawMode>,
}

/// The terminal's settings before raw mode, put back on drop.
struct RawMode(Termios);

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSADRAIN, &self.0);
    }
}

impl Relay {
    /// Waits for the master (`None`: the command failed before it had a
    /// terminal) and starts relaying; `stdin`: mybuild's input goes in.
    pub async fn start(socket: OwnedFd, stdin: bool) -> anyhow::Result<Option<Relay>> {
        let master =
            tokio::task::spawn_blocking(move || mybuild_solver::sandbox::receive_master(&socket))
                .await
                .context("the console thread panicked")?
                .context("receiving the container's terminal")?;
        let Some(master) = master else {
            return Ok(None);
        };
        let host_tty = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
        let raw = match host_tty {
            true => {
                copy_size(&master);
                Some(raw_mode()?)
            }
            false => None,
        };
        let copy_of = || master.try_clone().context("duplicating the pty master");
        let mut from_pty = std::fs::File::from(copy_of()?);
        let output = std::thread::spawn(move || copy(&mut from_pty, std::io::stdout()));
        if stdin {
            let to_pty = std::fs::File::from(copy_of()?);
            // Never joined: a read of the terminal cannot be interrupted, and
            // the process ends soon after the container does.
            std::thread::spawn(move || copy(&mut std::io::stdin(), to_pty));
        }
        let mut resized = signal(SignalKind::window_change()).context("handling SIGWINCH")?;
        let winch = tokio::spawn(async move {
            while resized.recv().await.is_some() {
                if host_tty {
                    copy_size(&master);
                }
            }
        });
        Ok(Some(Relay {
            output,
            winch,
            _raw: raw,
        }))
    }

    /// Waits for the container's last output, then restores the terminal.
    pub async fn finish(self) {
        self.winch.abort();
        let output = self.output;
        let _ = tokio::task::spawn_blocking(move || output.join()).await;
    }
}

/// Copies until EOF or an error (EIO on the master once the pty's last
/// user is gone).
fn copy<R: Read, W: Write>(from: &mut R, mut to: W) {
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).and_then(|()| to.flush()).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

fn raw_mode() -> anyhow::Result<RawMode> {
    let saved = termios::tcgetattr(std::io::stdin()).context("reading the terminal's mode")?;
    let mut raw = saved.clone();
    termios::cfmakeraw(&mut raw);
    termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &raw)
        .context("putting the terminal in raw mode")?;
    Ok(RawMode(saved))
}

/// The host terminal's window size onto the pty (which signals the
/// container's foreground job).
fn copy_size(master: &OwnedFd) {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a pointer to a local winsize.
    unsafe {
        if libc::ioctl(std::io::stdin().as_raw_fd(), libc::TIOCGWINSZ, &mut size) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size);
        }
    }
}
