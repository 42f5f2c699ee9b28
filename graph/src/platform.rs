//! The one table from Rust's architecture names to the OCI/Go names images
//! and registries use (`GOARCH`): every part that picks or writes a platform
//! asks here, so a pull, a load and `TARGETARCH` never disagree.

/// `(std::env::consts::ARCH, OCI architecture)` where the two differ.
const ARCH_NAMES: &[(&str, &str)] = &[
    ("x86_64", "amd64"),
    ("aarch64", "arm64"),
    ("x86", "386"),
    ("loongarch64", "loong64"),
    ("mips64", MIPS64),
    ("powerpc64", PPC64),
];

const PPC64: &str = if cfg!(target_endian = "little") {
    "ppc64le"
} else {
    "ppc64"
};

const MIPS64: &str = if cfg!(target_endian = "little") {
    "mips64le"
} else {
    "mips64"
};

/// The OCI name of an architecture Rust calls `rust_arch`.
pub fn oci_arch(rust_arch: &str) -> &str {
    ARCH_NAMES
        .iter()
        .find(|(rust, _)| *rust == rust_arch)
        .map_or(rust_arch, |(_, oci)| oci)
}

/// The OCI architecture of the machine mybuild runs on, which is the
/// platform it builds for.
pub fn host_arch() -> &'static str {
    oci_arch(std::env::consts::ARCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_go() {
        assert_eq!(oci_arch("x86_64"), "amd64");
        assert_eq!(oci_arch("aarch64"), "arm64");
        assert_eq!(oci_arch("loongarch64"), "loong64");
        assert_eq!(oci_arch("riscv64"), "riscv64");
        assert_eq!(oci_arch("s390x"), "s390x");
    }
}
