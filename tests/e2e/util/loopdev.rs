//! A real loop device for the device-policy tests.

use std::os::unix::fs::FileTypeExt;
use std::process::Command;

/// A loop device over a file holding a sentinel, detached when dropped.
pub struct Loop {
    pub dev: String,
    file: tempfile::NamedTempFile,
}

impl Loop {
    pub fn new() -> Loop {
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
    pub fn numbers(&self) -> (u64, u64) {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&self.dev).unwrap();
        assert!(meta.file_type().is_block_device());
        let rdev = meta.rdev();
        (libc::major(rdev) as u64, libc::minor(rdev) as u64)
    }

    pub fn content(&self) -> Vec<u8> {
        std::fs::read(self.file.path()).unwrap()
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}
