//! What `docker build` flags add to every RUN's environment: `--add-host`
//! lines in /etc/hosts, `--ulimit`s and the `--shm-size` of /dev/shm. They
//! change what a command sees, so (as in BuildKit, where they are part of
//! the exec op) they are part of the RUN's cache key; a RUN without any of
//! them keeps the key it always had.

use crate::KeyEncoder;

/// `--add-host HOST:IP`: one more /etc/hosts line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HostEntry {
    pub host: String,
    pub ip: String,
}

/// `--ulimit NAME=SOFT[:HARD]`; -1 is unlimited.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Ulimit {
    /// Docker's name: `nofile`, `nproc`, `core`...
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// The RUN environment a build's flags set, the same for every RUN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ExecEnv {
    pub extra_hosts: Vec<HostEntry>,
    pub ulimits: Vec<Ulimit>,
    /// Bytes of the /dev/shm tmpfs; `None` is Docker's 64 MiB.
    pub shm_size: Option<u64>,
}

impl ExecEnv {
    pub fn is_empty(&self) -> bool {
        self.extra_hosts.is_empty() && self.ulimits.is_empty() && self.shm_size.is_none()
    }

    /// Appends the settings to a RUN's key; nothing when there are none,
    /// so keys from before these flags existed stay valid.
    pub fn encode(&self, e: &mut KeyEncoder) {
        if self.is_empty() {
            return;
        }
        e.str("exec-env").u64(self.extra_hosts.len() as u64);
        for h in &self.extra_hosts {
            e.str(&h.host).str(&h.ip);
        }
        e.u64(self.ulimits.len() as u64);
        for u in &self.ulimits {
            // Two's complement keeps -1 (unlimited) distinct from any limit.
            e.str(&u.name).u64(u.soft as u64).u64(u.hard as u64);
        }
        e.opt_u64(self.shm_size);
    }
}
