//! Image references (`alpine`, `user/app:1.2`, `host:5000/x@sha256:..`)
//! parsed and normalised the way Docker does, so that the same image always
//! gets the same name in cache keys and in the local store.

use mybuild_graph::Digest;
use std::fmt;
use std::net::IpAddr;

/// The registry Docker assumes when a reference names none.
pub const DOCKER_HUB: &str = "docker.io";
const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("image reference is empty")]
    Empty,
    #[error("image reference {0:?}: repository name must be lowercase")]
    Uppercase(String),
    #[error("image reference {reference:?}: invalid repository path component {component:?}")]
    BadComponent {
        reference: String,
        component: String,
    },
    #[error("image reference {reference:?}: invalid registry host {host:?}")]
    BadHost { reference: String, host: String },
    #[error("image reference {reference:?}: invalid tag {tag:?} (allowed: [A-Za-z0-9_.-], at most 128, not starting with '.' or '-')")]
    BadTag { reference: String, tag: String },
    #[error("image reference {reference:?}: invalid digest: {reason}")]
    BadDigest { reference: String, reason: String },
    #[error("image reference {0:?}: repository name longer than 255 characters")]
    TooLong(String),
}

/// A fully normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Registry host with optional port, e.g. `docker.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// Repository path, e.g. `library/alpine`.
    pub repository: String,
    /// `latest` when the reference names neither tag nor digest.
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// The hex digits when this "reference" is really an image id as
    /// Docker accepts one (`3d668fb42cbf`, 12 to 64 digits, or
    /// `sha256:<64 digits>`), which parsing turned into a Hub name.
    pub fn image_id_prefix(&self) -> Option<&str> {
        if self.registry != "docker.io" || self.digest.is_some() {
            return None;
        }
        let hex = |s: &str, min: usize| {
            (min..=64).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let tag = self.tag.as_deref()?;
        match self.repository.strip_prefix("library/")? {
            "sha256" if hex(tag, 64) => Some(tag),
            name if tag == "latest" && hex(name, 12) => Some(name),
            _ => None,
        }
    }

    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (rest, digest) = split_digest(s)?;
        let (name, tag) = split_tag(s, rest)?;
        let (registry, repository) = split_registry(s, name)?;
        validate_repository(s, &repository)?;
        let tag = match (tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (tag, _) => tag.map(str::to_string),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The short form Docker prints: `alpine:latest`, `user/x:1`,
    /// `127.0.0.1:5000/busybox:latest`.
    pub fn familiar(&self) -> String {
        // The store shortens its normalised names the same way.
        mybuild_cache::familiar(&self.to_string()).to_string()
    }

    /// [`Reference::familiar`] of a name given as text, such as a name in
    /// the local store; text that is no reference is shown as it is.
    pub fn familiar_name(name: &str) -> String {
        Reference::parse(name).map_or_else(|_| name.to_string(), |r| r.familiar())
    }

    /// True for registries on this machine (127.0.0.0/8, `localhost`,
    /// `[::1]`, any port): they are spoken to over plain HTTP.
    pub fn is_loopback(&self) -> bool {
        host_is_loopback(&self.registry)
    }

    /// `:tag`, `@digest` or both, as they follow the name.
    fn suffix(&self) -> String {
        let mut out = String::new();
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest.as_str());
        }
        out
    }

    /// What the registry API calls this image in `/manifests/<reference>`:
    /// the digest when there is one (it is what gets verified), else the tag.
    pub(crate) fn api_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_string(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}{}", self.registry, self.repository, self.suffix())
    }
}

/// Host part of `host[:port]` / `[v6]:port`, brackets removed.
pub(crate) fn host_without_port(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    registry.split(':').next().unwrap_or(registry)
}

pub(crate) fn host_is_loopback(registry: &str) -> bool {
    let host = host_without_port(registry);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

fn split_digest(s: &str) -> Result<(&str, Option<Digest>), ReferenceError> {
    let Some((rest, digest)) = s.split_once('@') else {
        return Ok((s, None));
    };
    let digest = Digest::parse(digest).map_err(|e| ReferenceError::BadDigest {
        reference: s.to_string(),
        reason: e.to_string(),
    })?;
    Ok((rest, Some(digest)))
}

/// The tag is after the last ':' that comes after the last '/', so a
/// registry port (`host:5000/x`) is never mistaken for one.
fn split_tag<'a>(s: &str, rest: &'a str) -> Result<(&'a str, Option<&'a str>), ReferenceError> {
    let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    let Some(colon) = rest[last_slash..].rfind(':') else {
        return Ok((rest, None));
    };
    let (name, tag) = (&rest[..last_slash + colon], &rest[last_slash + colon + 1..]);
    let valid = !tag.is_empty()
        && tag.len() <= MAX_TAG_LEN
        && !tag.starts_with(['.', '-'])
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !valid {
        return Err(ReferenceError::BadTag {
            reference: s.to_string(),
            tag: tag.to_string(),
        });
    }
    Ok((name, Some(tag)))
}

/// Docker's rule: the first component is a registry host when it contains
/// '.' or ':', is `localhost`, or has uppercase letters (repositories can't).
fn split_registry(s: &str, name: &str) -> Result<(String, String), ReferenceError> {
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest)) if looks_like_host(first) => (first.to_string(), rest.to_string()),
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    let registry = if registry == "index.docker.io" {
        DOCKER_HUB.to_string()
    } else {
        registry
    };
    if !valid_host(&registry) {
        return Err(ReferenceError::BadHost {
            reference: s.to_string(),
            host: registry,
        });
    }
    let repository = if registry == DOCKER_HUB && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository
    };
    Ok((registry, repository))
}

fn looks_like_host(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

fn valid_host(registry: &str) -> bool {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        ("v6", after.strip_prefix(':'))
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (registry, None),
        }
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let port_ok = match port {
        None => true,
        Some(p) => !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()),
    };
    host_ok && port_ok
}

fn validate_repository(s: &str, repository: &str) -> Result<(), ReferenceError> {
    if repository.len() > MAX_NAME_LEN {
        return Err(ReferenceError::TooLong(s.to_string()));
    }
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ReferenceError::Uppercase(s.to_string()));
    }
    for component in repository.split('/') {
        if !valid_component(component) {
            return Err(ReferenceError::BadComponent {
                reference: s.to_string(),
                component: component.to_string(),
            });
        }
    }
    Ok(())
}

/// `[a-z0-9]+` runs joined by one '.', one or two '_', or any number of '-'.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn normalises_like_docker() {
        let cases: &[(&str, &str, &str)] = &[
            ("alpine", "docker.io/library/alpine:latest", "alpine:latest"),
            (
                "alpine:3.19",
                "docker.io/library/alpine:3.19",
                "alpine:3.19",
            ),
            ("user/x", "docker.io/user/x:latest", "user/x:latest"),
            (
                "docker.io/alpine",
                "docker.io/library/alpine:latest",
                "alpine:latest",
            ),
            (
                "index.docker.io/library/alpine",
                "docker.io/library/alpine:latest",
                "alpine:latest",
            ),
            (
                "ghcr.io/o/r/sub:v1",
                "ghcr.io/o/r/sub:v1",
                "ghcr.io/o/r/sub:v1",
            ),
            ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
            (
                "127.0.0.1:5000/busybox",
                "127.0.0.1:5000/busybox:latest",
                "127.0.0.1:5000/busybox:latest",
            ),
            (
                "[::1]:5000/a_b__c.d-e---f",
                "[::1]:5000/a_b__c.d-e---f:latest",
                "[::1]:5000/a_b__c.d-e---f:latest",
            ),
            ("host:5000/x:tag", "host:5000/x:tag", "host:5000/x:tag"),
        ];
        for (input, full, familiar) in cases {
            let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), *full, "display of {input}");
            assert_eq!(r.familiar(), *familiar, "familiar of {input}");
        }
    }

    #[test]
    fn digests_with_and_without_tag() {
        let r = Reference::parse(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_ref().unwrap().as_str(), D);
        assert_eq!(r.to_string(), format!("docker.io/library/busybox@{D}"));
        assert_eq!(r.api_reference(), D);
        let r = Reference::parse(&format!("127.0.0.1:5000/b:1@{D}")).unwrap();
        assert_eq!(
            (r.registry.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", Some("1"))
        );
        assert_eq!(r.familiar(), format!("127.0.0.1:5000/b:1@{D}"));
    }

    #[test]
    fn familiar_names_of_text() {
        let name = Reference::familiar_name("docker.io/library/busybox:latest");
        assert_eq!(name, "busybox:latest");
        assert_eq!(Reference::familiar_name("Not A Ref"), "Not A Ref");
    }

    #[test]
    fn rejects_bad_references() {
        assert_eq!(Reference::parse(""), Err(ReferenceError::Empty));
        assert!(matches!(
            Reference::parse("Alpine"),
            Err(ReferenceError::Uppercase(_))
        ));
        assert!(matches!(
            Reference::parse("user/App"),
            Err(ReferenceError::Uppercase(_))
        ));
        assert!(matches!(
            Reference::parse("a//b"),
            Err(ReferenceError::BadComponent { .. })
        ));
        assert!(matches!(
            Reference::parse("a/-b"),
            Err(ReferenceError::BadComponent { .. })
        ));
        assert!(matches!(
            Reference::parse("a..b"),
            Err(ReferenceError::BadComponent { .. })
        ));
        assert!(matches!(
            Reference::parse("a:"),
            Err(ReferenceError::BadTag { .. })
        ));
        assert!(matches!(
            Reference::parse("a:-x"),
            Err(ReferenceError::BadTag { .. })
        ));
        assert!(matches!(
            Reference::parse("a@sha256:12"),
            Err(ReferenceError::BadDigest { .. })
        ));
        assert!(matches!(
            Reference::parse("a@md5:x"),
            Err(ReferenceError::BadDigest { .. })
        ));
        assert!(matches!(
            Reference::parse("host:port/x"),
            Err(ReferenceError::BadHost { .. })
        ));
        assert!(matches!(
            Reference::parse(&"a".repeat(300)),
            Err(ReferenceError::TooLong(_))
        ));
        let err = Reference::parse("Busybox").unwrap_err().to_string();
        assert!(
            err.contains("lowercase") && err.contains("Busybox"),
            "{err}"
        );
    }

    #[test]
    fn loopback_detection() {
        for yes in [
            "127.0.0.1:5000/x",
            "127.1.2.3/x",
            "localhost:1/x",
            "localhost/x",
            "[::1]:5000/x",
        ] {
            assert!(Reference::parse(yes).unwrap().is_loopback(), "{yes}");
        }
        for no in [
            "alpine",
            "10.0.0.1:5000/x",
            "example.com/x",
            "localhost.example.com/x",
        ] {
            assert!(!Reference::parse(no).unwrap().is_loopback(), "{no}");
        }
    }
}
