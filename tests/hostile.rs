//! What a RUN step must not reach on the host (issue 13), each checked with
//! a sentinel outside the rootfs that has to stay untouched.

mod util;

use std::os::unix::fs::FileTypeExt;
use std::process::Command;
use util::{assert_success, read_oci_archive, stderr, TestEnv};

/// A loop device over a file holding a sentinel, detached when dropped.
struct Loop {
    dev: String,
    file: tempfile::NamedTempFile,
}

impl Loop {
    fn new() -> Loop {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut data = vec![0u8; 64 * 1024];
        data[..17].copy_from_slice(b"SENTINEL-ON-HOST!");
        std::fs::write(file.path(), &data).unwrap();
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(file.path())
            .output()
            .expect("losetup (util-linux) is needed: the test attacks a real loop device");
        assert!(
            out.status.success(),
            "losetup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dev = String::from_utf8(out.stdout).unwrap().trim().to_string();
        Loop { dev, file }
    }

    /// (major, minor) of the device.
    fn numbers(&self) -> (u64, u64) {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&self.dev).unwrap();
        assert!(meta.file_type().is_block_device());
        let rdev = meta.rdev();
        (libc::major(rdev) as u64, libc::minor(rdev) as u64)
    }

    fn content(&self) -> Vec<u8> {
        std::fs::read(self.file.path()).unwrap()
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

/// Issue 13 item 1: with CAP_MKNOD and no device policy, a RUN step read
/// and wrote a host loop device's backing file through `mknod`, and wrote
/// to the kernel log through /dev/kmsg (1:11). mknod itself must still
/// succeed, as under Docker; only opening such a node must fail, wherever
/// it is: made by the step, shipped in an earlier layer, or in a cache
/// mount. The default devices keep working.
#[test]
fn device_nodes_other_than_the_defaults_cannot_be_opened() {
    let lo = Loop::new();
    let before = lo.content();
    let (major, minor) = lo.numbers();
    let env = TestEnv::new();
    let marker = std::process::id();
    let attack = format!(
        "head -c 17 /tmp/lp > /tmp/read 2>/dev/null; \
                  printf PWNED | dd of=/tmp/lp bs=1 seek=100 conv=notrunc 2>/dev/null; \
                  echo mybuild-kmsg-probe-$((6*7))-{marker} > /tmp/kmsg"
    );
    let df = format!(
        "FROM busybox AS made\n\
         RUN mknod /tmp/lp b {major} {minor} && mknod /tmp/kmsg c 1 11 && echo mknod-ok > /mknod; \
             {attack}; true\n\
         FROM made\n\
         RUN {attack}; true\n\
         RUN --mount=type=cache,target=/c mknod /c/lp b {major} {minor}; \
             head -c 17 /c/lp > /tmp/cache-read 2>/dev/null; true\n\
         RUN head -c 4 /dev/urandom | wc -c > /defaults && echo ok > /dev/null \
             && cat /dev/zero | head -c 3 | wc -c >> /defaults\n"
    );
    let ctx = env.context("devices", &df, &[]);
    let (out, archive) = env.build(&ctx, &[]);
    assert_success(&out, "build");
    let img = read_oci_archive(&archive);
    assert_eq!(
        img.file("mknod").unwrap(),
        b"mknod-ok\n",
        "mknod must succeed"
    );
    for read in ["tmp/read", "tmp/cache-read"] {
        let got = img.file(read).unwrap_or_default();
        assert!(
            !got.windows(8).any(|w| w == b"SENTINEL"),
            "{read}: the host device was read"
        );
    }
    assert_eq!(lo.content(), before, "the host device was written");
    assert_eq!(img.file("defaults").unwrap(), b"4\n3\n");
    let dmesg = Command::new("dmesg").output().expect("dmesg");
    let log = String::from_utf8_lossy(&dmesg.stdout);
    assert!(dmesg.status.success(), "dmesg: {}", stderr(&dmesg));
    assert!(
        !log.contains(&format!("mybuild-kmsg-probe-42-{marker}")),
        "the step wrote to the host's kernel log"
    );
}
