//! Runs mybuild on a real pseudo-terminal (stdin, stdout and stderr on
//! its slave), optionally typing a reply once some text has appeared:
//! the live progress view and `run -it` / `--on-error=shell` need one.

use nix::pty::{openpty, Winsize};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Text to wait for on the terminal, then the bytes to type.
pub struct Reply<'a> {
    pub after: &'a str,
    pub input: &'a [u8],
}

/// Runs `cmd` on a `cols` x `rows` terminal; returns all it wrote there
/// and how it exited.
pub fn run_on_pty(
    mut cmd: Command,
    (cols, rows): (u16, u16),
    reply: Option<Reply<'_>>,
) -> (String, ExitStatus) {
    let size = Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(&size, None).expect("openpty");
    let side = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup pty slave"));
    cmd.stdin(side(&pty.slave))
        .stdout(side(&pty.slave))
        .stderr(side(&pty.slave));
    let mut child = cmd.spawn().expect("run mybuild");
    // Only the child may hold the slave now, so the master reads to the
    // end once it exits.
    drop(cmd);
    drop(pty.slave);
    let mut writer = std::fs::File::from(pty.master.try_clone().expect("dup pty master"));
    let mut master = std::fs::File::from(pty.master);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (sink, done) = (seen.clone(), std::sync::mpsc::channel());
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // Linux answers EIO, not 0, once the last slave fd is closed.
        while let Ok(n @ 1..) = master.read(&mut buf) {
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        let _ = done.0.send(());
    });
    if let Some(reply) = reply {
        // A guard against hanging the suite, not a timing check.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !String::from_utf8_lossy(&seen.lock().unwrap()).contains(reply.after) {
            assert!(Instant::now() < deadline, "never saw {:?}", reply.after);
            std::thread::sleep(Duration::from_millis(20));
        }
        writer.write_all(reply.input).expect("type into the pty");
    }
    let status = child.wait().expect("wait for mybuild");
    done.1
        .recv_timeout(Duration::from_secs(60))
        .expect("the terminal never closed");
    let out = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    (out, status)
}
