//! Whether this process runs in a user namespace (rootless mybuild, or any
//! `unshare --user` around it). Several parts of the store behave
//! differently there: overlayfs keeps its attributes under `user.overlay.`
//! (the `trusted.` namespace needs real root), and device nodes cannot be
//! made.

use std::sync::OnceLock;

/// True unless `/proc/self/uid_map` is the initial namespace's identity
/// map (`0 0 4294967295`). Read once: a process does not change its user
/// namespace after its first store access (rootless entry happens in
/// `main`, before anything asks).
pub fn in_user_namespace() -> bool {
    static IN_USERNS: OnceLock<bool> = OnceLock::new();
    *IN_USERNS.get_or_init(|| match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => !is_initial_map(&map),
        // No /proc: nothing says otherwise, assume the host's namespace.
        Err(_) => false,
    })
}

fn is_initial_map(map: &str) -> bool {
    let fields: Vec<&str> = map.split_whitespace().collect();
    fields == ["0", "0", "4294967295"]
}

#[cfg(test)]
mod tests {
    use super::is_initial_map;

    #[test]
    fn only_the_full_identity_map_is_the_initial_namespace() {
        assert!(is_initial_map("         0          0 4294967295\n"));
        assert!(!is_initial_map("         0       1000          1\n"));
        assert!(!is_initial_map(
            "0 1000 1\n         1     100000      65536\n"
        ));
    }
}
