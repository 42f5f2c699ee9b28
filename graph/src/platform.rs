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

/// The OCI architecture a `--platform` or `FROM --platform` value names,
/// in the forms BuildKit normalises (`local`, `linux/amd64`, `amd64`,
/// `linux/x86_64`, `linux/arm64/v8`, any case); `None` for another OS or a
/// variant mybuild cannot tell apart (`linux/amd64/v3`, `linux/arm/v6`).
pub fn platform_arch(p: &str) -> Option<String> {
    let lower = p.trim().to_ascii_lowercase();
    if lower == "local" {
        return Some(host_arch().to_string());
    }
    let parts: Vec<&str> = lower.split('/').collect();
    let (os, arch, variant) = match parts.as_slice() {
        [arch] => ("linux", *arch, ""),
        [os, arch] => (*os, *arch, ""),
        [os, arch, variant] => (*os, *arch, *variant),
        _ => return None,
    };
    // BuildKit also takes the kernel's names (x86_64, aarch64).
    let arch = oci_arch(arch);
    // The variants BuildKit normalises away for these architectures.
    let plain_variant = match arch {
        "amd64" => matches!(variant, "" | "v1"),
        "arm64" => matches!(variant, "" | "v8"),
        _ => variant.is_empty(),
    };
    let known = !arch.is_empty() && arch.chars().all(|c| c.is_ascii_alphanumeric());
    (os == "linux" && plain_variant && known).then(|| arch.to_string())
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

    #[test]
    fn platforms_normalise_as_buildkit_does() {
        assert_eq!(platform_arch("local").as_deref(), Some(host_arch()));
        assert_eq!(platform_arch("linux/x86_64").as_deref(), Some("amd64"));
        assert_eq!(platform_arch("linux/arm64/v8").as_deref(), Some("arm64"));
        assert_eq!(platform_arch("Linux/AMD64/v1").as_deref(), Some("amd64"));
        assert_eq!(platform_arch("arm64").as_deref(), Some("arm64"));
        assert_eq!(platform_arch("linux/s390x").as_deref(), Some("s390x"));
        assert_eq!(platform_arch("linux/amd64/v3"), None);
        assert_eq!(platform_arch("windows/amd64"), None);
        assert_eq!(platform_arch("linux/"), None);
        assert_eq!(platform_arch("a/b/c/d"), None);
    }
}
