//! `mybuild version`: what was built, from what, with what, laid out as
//! `docker version` lays out its client section.

/// The lines `mybuild version` prints.
pub fn report() -> String {
    let rows = [
        ("Version:", env!("CARGO_PKG_VERSION")),
        ("Git commit:", env!("MYBUILD_GIT_COMMIT")),
        ("Rust version:", env!("MYBUILD_RUSTC_VERSION")),
        ("Target:", env!("MYBUILD_TARGET")),
    ];
    let mut out = String::from("Client: mybuild\n");
    for (label, value) in rows {
        out.push_str(&format!(" {label:<19}{value}\n"));
    }
    out.push_str(&format!(" {:<19}{}\n", "OS/Arch:", os_arch()));
    out
}

/// `linux/amd64`: Go's names, as Docker prints `OS/Arch`.
fn os_arch() -> String {
    format!("{}/{}", std::env::consts::OS, mybuild_graph::host_arch())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_field_has_a_value() {
        let r = super::report();
        assert!(
            r.starts_with("Client: mybuild\n Version:           0."),
            "{r}"
        );
        for label in ["Git commit:", "Rust version:", "Target:", "OS/Arch:"] {
            let line = r.lines().find(|l| l.trim_start().starts_with(label));
            let value = line.map(|l| l[20..].trim());
            assert!(value.is_some_and(|v| !v.is_empty()), "{label} in {r}");
        }
    }
}
