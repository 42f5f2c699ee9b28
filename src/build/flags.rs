//! Value parsers for the `docker build`/`buildx build` flags that scripts
//! pass (`--label`, `--annotation`, `--add-host`, `--ulimit`, `--platform`,
//! `--allow`), each reading its flag as buildx does and refusing what
//! mybuild cannot do with a message naming the value.

use mybuild_graph::{HostEntry, Ulimit};
use std::net::IpAddr;

/// `--label KEY=VALUE` (a bare `KEY` is an empty label, as in docker).
pub(super) fn label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').unwrap_or((s, ""));
    if k.is_empty() {
        return Err(format!("invalid label {s:?}: empty key"));
    }
    Ok((k.to_string(), v.to_string()))
}

/// `--annotation [manifest:]KEY=VALUE`: an annotation of the image
/// manifest. buildx's other targets (`index:`, `manifest-descriptor:`,
/// per-platform `manifest[...]:`) annotate an index or its entries, which
/// mybuild does not do yet (a multi-platform build's index has none), so
/// they are refused.
pub(super) fn annotation(s: &str) -> Result<(String, String), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("invalid annotation {s:?}: expected KEY=VALUE"))?;
    let key = match key.split_once(':') {
        Some(("manifest", k)) => k,
        Some((kind, _)) if is_annotation_target(kind) => {
            return Err(format!(
                "--annotation {s:?}: only manifest annotations are supported \
                 (index and descriptor annotations are not supported yet)"
            ))
        }
        // A key may itself hold a colon (`org.example:x`).
        _ => key,
    };
    if key.is_empty() {
        return Err(format!("invalid annotation {s:?}: empty key"));
    }
    Ok((key.to_string(), value.to_string()))
}

fn is_annotation_target(kind: &str) -> bool {
    let base = kind.split_once('[').map_or(kind, |(b, _)| b);
    matches!(
        base,
        "index" | "manifest" | "index-descriptor" | "manifest-descriptor"
    )
}

/// `--add-host HOST:IP` (or `HOST=IP`); the IP may be IPv6 (`h:::1`).
pub(super) fn add_host(s: &str) -> Result<HostEntry, String> {
    let (host, ip) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .ok_or_else(|| format!("invalid argument {s:?} for --add-host: expected HOST:IP"))?;
    if host.is_empty() {
        return Err(format!("invalid argument {s:?} for --add-host: empty host"));
    }
    if ip == "host-gateway" {
        return Err(format!(
            "--add-host {s:?}: host-gateway needs a Docker daemon's gateway address; \
             give the IP instead"
        ));
    }
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let addr: IpAddr = ip
        .parse()
        .map_err(|_| format!("invalid IP address {ip:?} in --add-host {s:?}"))?;
    Ok(HostEntry {
        host: host.to_string(),
        ip: addr.to_string(),
    })
}

/// Docker's ulimit names.
const ULIMITS: [&str; 15] = [
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// `--ulimit NAME=SOFT[:HARD]`, as `docker run --ulimit`; -1 is unlimited.
pub(super) fn ulimit(s: &str) -> Result<Ulimit, String> {
    let (name, limits) = s
        .split_once('=')
        .ok_or_else(|| format!("invalid ulimit argument: {s}"))?;
    if !ULIMITS.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    let num = |v: &str| {
        v.parse::<i64>()
            .ok()
            .filter(|n| *n >= -1)
            .ok_or_else(|| format!("invalid ulimit argument: {s}"))
    };
    let (soft, hard) = (num(soft)?, num(hard)?);
    let unlimited = |n: i64| n == -1;
    if !unlimited(hard) && (unlimited(soft) || soft > hard) {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// `--platform A,B` (repeatable): the OCI architectures to build, in the
/// order given, once each. Every linux platform is accepted; one other
/// than the host's runs its RUN steps under binfmt_misc emulation.
pub(super) fn platforms(values: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for p in values.iter().flat_map(|v| v.split(',')).map(str::trim) {
        if p.is_empty() {
            continue;
        }
        let arch = mybuild_graph::platform_arch(p).ok_or_else(|| {
            format!(
                "--platform {p}: not a platform mybuild builds for \
                 (linux/ARCH, e.g. linux/amd64 or linux/arm64; no other OS or variant)"
            )
        })?;
        if !out.contains(&arch) {
            out.push(arch);
        }
    }
    Ok(out)
}

/// `--allow`: the entitlements a build may use. `network.host` is what
/// every RUN already has unless `--network none`; `security.insecure`
/// (`RUN --security=insecure`) is not supported.
pub(super) fn check_allow(entitlement: &str) -> Result<(), String> {
    match entitlement {
        "network.host" => Ok(()),
        "security.insecure" => Err(
            "--allow security.insecure: RUN --security=insecure is not supported by mybuild"
                .to_string(),
        ),
        other => Err(format!(
            "--allow {other}: unknown entitlement (network.host or security.insecure)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_annotations() {
        assert_eq!(label("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(label("a"), Ok(("a".into(), "".into())));
        assert!(label("=x").is_err());
        assert_eq!(annotation("manifest:k=v"), Ok(("k".into(), "v".into())));
        assert_eq!(annotation("org.x:y=1"), Ok(("org.x:y".into(), "1".into())));
        assert!(annotation("index:k=v")
            .unwrap_err()
            .contains("only manifest"));
        assert!(annotation("manifest[linux/amd64]:k=v").is_err());
        assert!(annotation("k").is_err());
    }

    #[test]
    fn add_host_forms() {
        let entry = |host: &str, ip: &str| HostEntry {
            host: host.into(),
            ip: ip.into(),
        };
        assert_eq!(add_host("db:10.0.0.2"), Ok(entry("db", "10.0.0.2")));
        assert_eq!(add_host("db=10.0.0.2"), Ok(entry("db", "10.0.0.2")));
        assert_eq!(add_host("v6:::1"), Ok(entry("v6", "::1")));
        assert_eq!(add_host("v6=[::1]"), Ok(entry("v6", "::1")));
        assert!(add_host("db:nope").is_err() && add_host("db").is_err());
        assert!(add_host("gw:host-gateway")
            .unwrap_err()
            .contains("host-gateway"));
    }

    #[test]
    fn ulimit_forms() {
        let u = ulimit("nofile=1024:2048").unwrap();
        assert_eq!((u.name.as_str(), u.soft, u.hard), ("nofile", 1024, 2048));
        let u = ulimit("nproc=50").unwrap();
        assert_eq!((u.soft, u.hard), (50, 50));
        assert_eq!(ulimit("core=-1").unwrap().hard, -1);
        assert!(ulimit("nofile=2048:1024").is_err());
        assert!(ulimit("bogus=1")
            .unwrap_err()
            .contains("invalid ulimit type"));
        assert!(ulimit("nofile").is_err() && ulimit("nofile=x").is_err());
    }

    #[test]
    fn platforms_are_listed_once_in_order() {
        let host = mybuild_graph::host_arch();
        let got = platforms(&["local,linux/arm64".into(), "linux/aarch64/v8".into()]).unwrap();
        assert_eq!(got, vec![host.to_string(), "arm64".to_string()]);
        let err = platforms(&["windows/amd64".into()]).unwrap_err();
        assert!(err.contains("windows/amd64"), "{err}");
    }

    #[test]
    fn entitlements() {
        assert!(check_allow("network.host").is_ok());
        assert!(check_allow("security.insecure").is_err());
        assert!(check_allow("device").is_err());
    }
}
