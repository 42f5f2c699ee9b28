//! Whether the kernel can run another architecture's programs: a RUN step
//! of a foreign platform's image execs that image's binaries, which only
//! works through a binfmt_misc handler (an emulator such as Debian's
//! `qemu-user-static`). Checked before a build starts, so a missing
//! emulator is one clear error instead of "exec format error" in a step.

use std::path::{Path, PathBuf};

/// Where binfmt_misc is mounted; tests point `MYBUILD_BINFMT_DIR` at a
/// directory of fake entries instead.
const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

#[derive(Debug, thiserror::Error)]
pub enum BinfmtError {
    #[error(
        "RUN for linux/{arch} needs emulation, but binfmt_misc is not mounted at {dir} \
         (as root: `mount -t binfmt_misc binfmt_misc {dir}`, then install Debian's \
         qemu-user-static, whose handlers register with the F flag)"
    )]
    NotMounted { arch: String, dir: PathBuf },
    #[error(
        "RUN for linux/{arch} needs emulation, but {dir} has no enabled handler for {arch} \
         ELF binaries (install Debian's qemu-user-static and register its handler with the \
         F flag, e.g. `update-binfmts --enable`; handlers seen: {seen})"
    )]
    NoHandler {
        arch: String,
        dir: PathBuf,
        seen: String,
    },
    #[error("RUN for linux/{arch}: mybuild does not know the ELF machine of {arch}")]
    UnknownArch { arch: String },
}

/// The ELF `e_machine` of an OCI architecture, as it appears in a
/// little-endian (or, for s390x and ppc64, big-endian) header.
fn elf_machine(arch: &str) -> Option<[u8; 2]> {
    Some(match arch {
        "amd64" => [0x3e, 0x00],
        "arm64" => [0xb7, 0x00],
        "arm" => [0x28, 0x00],
        "386" => [0x03, 0x00],
        "ppc64le" => [0x15, 0x00],
        "riscv64" => [0xf3, 0x00],
        "loong64" => [0x02, 0x01],
        "mips64le" => [0x08, 0x00],
        "s390x" => [0x00, 0x16],
        "ppc64" => [0x00, 0x15],
        _ => return None,
    })
}

/// Ok when an enabled binfmt_misc entry matches `arch`'s ELF binaries.
pub fn check_emulation(arch: &str) -> Result<(), BinfmtError> {
    let dir = std::env::var_os("MYBUILD_BINFMT_DIR")
        .map_or_else(|| PathBuf::from(BINFMT_DIR), PathBuf::from);
    check_in(&dir, arch)
}

fn check_in(dir: &Path, arch: &str) -> Result<(), BinfmtError> {
    let machine =
        elf_machine(arch).ok_or_else(|| BinfmtError::UnknownArch { arch: arch.into() })?;
    if !dir.join("status").exists() {
        return Err(BinfmtError::NotMounted {
            arch: arch.into(),
            dir: dir.into(),
        });
    }
    let mut seen = Vec::new();
    let entries = std::fs::read_dir(dir).map_or_else(|_| Vec::new(), |d| d.flatten().collect());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "status" || name == "register" {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        match handles(&text, machine) {
            Handles::Yes => return Ok(()),
            // The interpreter is opened in the sandbox's mount namespace,
            // where its path does not exist.
            Handles::WithoutFixBinary => seen.push(format!("{name} (without the F flag)")),
            Handles::No => seen.push(name),
        }
    }
    seen.sort();
    Err(BinfmtError::NoHandler {
        arch: arch.into(),
        dir: dir.into(),
        seen: if seen.is_empty() {
            "none".into()
        } else {
            seen.join(", ")
        },
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Handles {
    Yes,
    /// It matches, but its interpreter is looked up at exec time.
    WithoutFixBinary,
    No,
}

/// Whether an entry (the text of `/proc/sys/fs/binfmt_misc/NAME`) is
/// enabled and matches ELF files of `machine`: its magic at offset 0
/// starts with the ELF signature and holds `machine` at bytes 18..20.
fn handles(entry: &str, machine: [u8; 2]) -> Handles {
    if entry.lines().next() != Some("enabled") {
        return Handles::No;
    }
    let field = |key: &str| {
        entry
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
            .unwrap_or("")
    };
    let magic = hex::decode(field("magic ")).unwrap_or_default();
    let elf = magic.starts_with(b"\x7fELF") && magic.get(18..20) == Some(&machine[..]);
    if !elf || !matches!(field("offset "), "" | "0") {
        Handles::No
    } else if field("flags:").contains('F') {
        Handles::Yes
    } else {
        Handles::WithoutFixBinary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AARCH64: &str = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POF\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n";

    fn fake(entries: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("status"), "enabled\n").unwrap();
        for (name, text) in entries {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn an_enabled_qemu_entry_handles_its_architecture_only() {
        let dir = fake(&[("qemu-aarch64", AARCH64)]);
        check_in(dir.path(), "arm64").unwrap();
        let err = check_in(dir.path(), "s390x").unwrap_err().to_string();
        assert!(err.contains("no enabled handler for s390x"), "{err}");
        assert!(err.contains("qemu-user-static"), "{err}");
        assert!(err.contains("qemu-aarch64"), "{err}");
    }

    #[test]
    fn a_disabled_entry_does_not_count() {
        let disabled = AARCH64.replacen("enabled", "disabled", 1);
        let dir = fake(&[("qemu-aarch64", &disabled)]);
        assert!(matches!(
            check_in(dir.path(), "arm64"),
            Err(BinfmtError::NoHandler { .. })
        ));
    }

    #[test]
    fn an_entry_without_the_fix_binary_flag_is_named_as_such() {
        let no_f = AARCH64.replace("flags: POF", "flags: P");
        let dir = fake(&[("qemu-aarch64", &no_f)]);
        let err = check_in(dir.path(), "arm64").unwrap_err().to_string();
        assert!(err.contains("qemu-aarch64 (without the F flag)"), "{err}");
    }

    #[test]
    fn unmounted_binfmt_misc_says_how_to_mount_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_in(dir.path(), "arm64").unwrap_err().to_string();
        assert!(err.contains("mount -t binfmt_misc"), "{err}");
    }
}
