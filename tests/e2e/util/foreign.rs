//! A foreign platform for the multi-platform tests: an arm64 base image
//! made from Debian's `busybox-static:arm64` (which `.ci/install` unpacks
//! to [`ARM64_BUSYBOX`]), its RUN steps emulated through binfmt_misc's
//! `qemu-aarch64` handler (Debian's `qemu-user-static`). A missing part
//! fails the test with what to install, never skips it.

use super::{assert_success, TestEnv};
use std::path::Path;

/// Where `.ci/install` puts the arm64 busybox; `MYBUILD_TEST_ARM64_BUSYBOX`
/// names another.
pub const ARM64_BUSYBOX: &str = "/usr/local/lib/mybuild-test/arm64/busybox";

const QEMU_AARCH64: &str = "/proc/sys/fs/binfmt_misc/qemu-aarch64";

impl TestEnv {
    /// A fresh store holding `busybox:latest` for the host and for
    /// linux/arm64.
    pub fn with_arm64_busybox() -> TestEnv {
        let busybox =
            std::env::var("MYBUILD_TEST_ARM64_BUSYBOX").unwrap_or_else(|_| ARM64_BUSYBOX.into());
        assert!(
            Path::new(&busybox).is_file(),
            "no arm64 busybox at {busybox}: run .ci/install (it unpacks Debian's busybox-static:arm64)"
        );
        let handler = std::fs::read_to_string(QEMU_AARCH64).unwrap_or_default();
        assert!(
            handler.starts_with("enabled")
                && handler
                    .lines()
                    .any(|l| l.starts_with("flags: ") && l.contains('F')),
            "no enabled binfmt_misc handler with the F flag at {QEMU_AARCH64}: run .ci/install \
             (it installs qemu-user-static and registers qemu-aarch64)"
        );
        let env = TestEnv::new();
        let args = [
            "bootstrap-busybox",
            "--platform",
            "linux/arm64",
            "--busybox",
            &busybox,
        ];
        assert_success(
            &env.mybuild(&args),
            "bootstrap-busybox --platform linux/arm64",
        );
        env
    }
}
