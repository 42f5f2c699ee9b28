//! `--add-host`: the step's /etc/hosts as a file in the helper's scratch
//! tmpfs, the usual entries (the host's file on the host network, the
//! loopback names otherwise) followed by one `IP<TAB>HOST` line per extra
//! host, as BuildKit writes them.

use super::layout::Layout;
use super::status::{SetupError, StepExt};
use mybuild_graph::HostEntry;
use std::path::PathBuf;

/// BuildKit's hosts file for a step without the host's.
const LOOPBACK: &str =
    "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/// The hosts file to bind on /etc/hosts, or `None` when there are no
/// extra hosts (the host's file, or none, as before).
pub(super) fn write(
    layout: &Layout,
    extra: &[HostEntry],
    host_network: bool,
) -> Result<Option<PathBuf>, SetupError> {
    if extra.is_empty() {
        return Ok(None);
    }
    let base = if host_network {
        std::fs::read_to_string("/etc/hosts").unwrap_or_else(|_| LOOPBACK.to_string())
    } else {
        LOOPBACK.to_string()
    };
    let path = layout.scratch.join("hosts");
    std::fs::write(&path, contents(&base, extra)).step(|| format!("write {}", path.display()))?;
    Ok(Some(path))
}

fn contents(base: &str, extra: &[HostEntry]) -> String {
    let mut text = base.to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for h in extra {
        text.push_str(&format!("{}\t{}\n", h.ip, h.host));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_hosts_follow_the_base_lines() {
        let extra = [HostEntry {
            host: "db".into(),
            ip: "10.1.2.3".into(),
        }];
        assert_eq!(
            contents("127.0.0.1 localhost", &extra),
            "127.0.0.1 localhost\n10.1.2.3\tdb\n"
        );
    }
}
