//! Resource limits for each sandboxed step, as `docker build --memory`,
//! `--memory-swap`, `--cpu-shares`, `--cpuset-cpus` and `--pids-limit` set
//! them: one cgroup per step, on cgroup v2 or on the v1 controllers,
//! entered by the helper before it starts anything (so nothing it starts
//! is outside), read for OOM kills after the step, and removed. On v1 the
//! helper moves itself in ([`SelfJoin`]), which costs no RCU grace period.
//!
//! Layout: `/sys/fs/cgroup/<parent>/<step>` on v2, and
//! `/sys/fs/cgroup/<controller>/<parent>/<step>` on v1, `<parent>` being
//! `--cgroup-parent` (default `mybuild`).

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROOT: &str = "/sys/fs/cgroup";

/// The process limit when none is given: a fork bomb stops here instead
/// of taking the machine down, and no ordinary build comes near it.
pub const DEFAULT_PIDS_LIMIT: u64 = 8192;

/// What a step may use. `None` is no limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of memory.
    pub memory: Option<u64>,
    /// Bytes of memory plus swap (`-1` in docker: unlimited swap).
    pub memory_swap: Option<i64>,
    /// Relative CPU weight (docker's shares, 2..=262144, 1024 by default).
    pub cpu_shares: Option<u64>,
    /// CPUs the step may run on, as `0-3,5`.
    pub cpuset_cpus: Option<String>,
    /// Processes and threads.
    pub pids: Option<u64>,
    /// The cgroup the steps' cgroups go under.
    pub parent: String,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: None,
            memory_swap: None,
            cpu_shares: None,
            cpuset_cpus: None,
            pids: Some(DEFAULT_PIDS_LIMIT),
            parent: "mybuild".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cgroup limits need cgroup v2 or the v1 {controller} controller at {ROOT}/{controller}"
    )]
    NoController { controller: &'static str },
    #[error("--cgroup-parent {0:?}: a relative path without `..` is needed")]
    BadParent(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CgroupError + '_ {
    move |source| CgroupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    fs::write(path, value).map_err(io(path))
}

/// Which hierarchy this machine has.
fn unified() -> bool {
    Path::new(ROOT).join("cgroup.controllers").exists()
}

/// The cgroup of one step; removed (after its processes are gone) on drop.
#[derive(Debug)]
pub struct StepCgroup {
    dirs: Vec<PathBuf>,
    unified: bool,
    memory: Option<u64>,
}

impl StepCgroup {
    /// Creates the step's cgroup with `limits` set, or `None` when no
    /// limit is asked for.
    pub fn create(limits: &Limits, name: &str) -> Result<Option<StepCgroup>, CgroupError> {
        let wanted = limits.memory.is_some()
            || limits.memory_swap.is_some()
            || limits.cpu_shares.is_some()
            || limits.cpuset_cpus.is_some()
            || limits.pids.is_some();
        if !wanted {
            return Ok(None);
        }
        let parent = Path::new(&limits.parent);
        if parent.is_absolute() || limits.parent.split('/').any(|c| c == "..") {
            return Err(CgroupError::BadParent(limits.parent.clone()));
        }
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(|| sweep_dead(parent));
        let mut cg = StepCgroup {
            dirs: Vec::new(),
            unified: unified(),
            memory: limits.memory,
        };
        if cg.unified {
            cg.create_v2(limits, parent, name)?;
        } else {
            cg.create_v1(limits, parent, name)?;
        }
        Ok(Some(cg))
    }

    fn create_v2(&mut self, l: &Limits, parent: &Path, name: &str) -> Result<(), CgroupError> {
        let controllers = "+memory +pids +cpu +cpuset";
        // Each level hands the controllers down to the next.
        let mut dir = PathBuf::from(ROOT);
        for part in parent.components() {
            let _ = fs::write(dir.join("cgroup.subtree_control"), controllers);
            dir.push(part);
            mkdir(&dir)?;
        }
        let _ = fs::write(dir.join("cgroup.subtree_control"), controllers);
        let dir = dir.join(name);
        mkdir(&dir)?;
        self.dirs.push(dir.clone());
        if let Some(m) = l.memory {
            write(&dir.join("memory.max"), &m.to_string())?;
            if let Some(total) = l.memory_swap {
                let swap = if total < 0 {
                    "max".to_string()
                } else {
                    (total as u64).saturating_sub(m).to_string()
                };
                write(&dir.join("memory.swap.max"), &swap)?;
            }
        }
        if let Some(p) = l.pids {
            write(&dir.join("pids.max"), &p.to_string())?;
        }
        if let Some(shares) = l.cpu_shares {
            // runc's conversion of shares (2..262144) to weight (1..10000).
            let weight = 1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142;
            write(&dir.join("cpu.weight"), &weight.to_string())?;
        }
        if let Some(cpus) = &l.cpuset_cpus {
            write(&dir.join("cpuset.cpus"), cpus)?;
        }
        Ok(())
    }

    fn create_v1(&mut self, l: &Limits, parent: &Path, name: &str) -> Result<(), CgroupError> {
        let mut wants: Vec<&'static str> = Vec::new();
        if l.memory.is_some() {
            wants.push("memory");
        }
        if l.pids.is_some() {
            wants.push("pids");
        }
        if l.cpu_shares.is_some() {
            wants.push("cpu");
        }
        if l.cpuset_cpus.is_some() {
            wants.push("cpuset");
        }
        for controller in wants {
            let base = Path::new(ROOT).join(controller);
            if !base.join("cgroup.procs").exists() {
                return Err(CgroupError::NoController { controller });
            }
            let mut dir = base.clone();
            for part in parent.components().chain(Path::new(name).components()) {
                let above = dir.clone();
                dir.push(part);
                mkdir(&dir)?;
                if controller == "cpuset" {
                    // A new v1 cpuset starts empty: copy what its parent has.
                    for file in ["cpuset.cpus", "cpuset.mems"] {
                        let value = fs::read_to_string(above.join(file)).map_err(io(&above))?;
                        let _ = fs::write(dir.join(file), value.trim());
                    }
                }
            }
            self.dirs.push(dir.clone());
            match controller {
                "memory" => {
                    let m = l.memory.unwrap_or_default();
                    write(&dir.join("memory.limit_in_bytes"), &m.to_string())?;
                    let memsw = dir.join("memory.memsw.limit_in_bytes");
                    if let (Some(total), true) = (l.memory_swap, memsw.exists()) {
                        let v = if total < 0 { -1 } else { total.max(m as i64) };
                        write(&memsw, &v.to_string())?;
                    }
                }
                "pids" => write(&dir.join("pids.max"), &l.pids.unwrap_or(0).to_string())?,
                "cpu" => write(
                    &dir.join("cpu.shares"),
                    &l.cpu_shares.unwrap_or(1024).to_string(),
                )?,
                _ => write(
                    &dir.join("cpuset.cpus"),
                    l.cpuset_cpus.as_deref().unwrap_or(""),
                )?,
            }
        }
        Ok(())
    }

    /// Moves process `pid` (and so everything it starts later) in.
    pub fn add(&self, pid: u32) -> Result<(), CgroupError> {
        for dir in &self.dirs {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// How a single-threaded helper can move itself in, where that is
    /// cheaper than [`StepCgroup::add`]: on v1, a thread writing `0` to a
    /// `tasks` file skips the global lock that moving a process by pid
    /// takes (and its RCU grace period: 5-15 ms a step). `None` on v2,
    /// whose `cgroup.threads` only moves threads within one domain.
    pub fn self_join(&self, required: bool) -> Option<SelfJoin> {
        (!self.unified).then(|| SelfJoin {
            tasks: self.dirs.iter().map(|d| d.join("tasks")).collect(),
            required,
        })
    }

    /// The memory limit, when the kernel's OOM killer ended a process of
    /// the step for reaching it.
    pub fn oom_killed(&self) -> Option<u64> {
        let limit = self.memory?;
        let (file, key) = if self.unified {
            ("memory.events", "oom_kill")
        } else {
            ("memory.oom_control", "oom_kill")
        };
        let dir = self.dirs.iter().find(|d| d.join(file).exists())?;
        let text = fs::read_to_string(dir.join(file)).ok()?;
        let kills = text.lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().parse::<u64>().ok()).flatten()
        })?;
        (kills > 0).then_some(limit)
    }

    /// Whether the step was refused a new process by its pids limit.
    pub fn hit_pids_limit(&self) -> bool {
        self.dirs.iter().any(|d| {
            fs::read_to_string(d.join("pids.events")).is_ok_and(|t| {
                t.lines()
                    .any(|l| l.strip_prefix("max ").is_some_and(|n| n.trim() != "0"))
            })
        })
    }
}

/// The `tasks` files a helper writes `0` to before it reads anything
/// else of its request, so nothing it starts is outside its step's cgroup.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SelfJoin {
    tasks: Vec<PathBuf>,
    /// Limits were asked for: failing to join fails the step. The default
    /// limits are best-effort, as with [`StepCgroup::add`].
    required: bool,
}

impl SelfJoin {
    /// Nothing to join: the caller moves the helper in, or there is no cgroup.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Moves the calling thread in; only a single-threaded process (the
    /// helper) moves as a whole this way.
    pub fn join(&self) -> Result<(), CgroupError> {
        for tasks in &self.tasks {
            let joined = write(tasks, "0");
            // Without `required`, a step runs under whatever limits applied.
            if self.required {
                joined?;
            }
        }
        Ok(())
    }
}

/// Removes the cgroups of steps whose mybuild was killed (SIGKILL runs
/// no drop): `step-<pid>-<n>` of a pid that no longer exists, now empty.
fn sweep_dead(parent: &Path) {
    let bases: Vec<PathBuf> = if unified() {
        vec![Path::new(ROOT).join(parent)]
    } else {
        ["memory", "pids", "cpu", "cpuset"]
            .iter()
            .map(|c| Path::new(ROOT).join(c).join(parent))
            .collect()
    };
    for base in bases {
        let Ok(entries) = fs::read_dir(&base) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix("step-")
                .and_then(|rest| rest.split('-').next())
                .and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
                // Fails harmlessly while a process is still inside.
                let _ = fs::remove_dir(entry.path());
            }
        }
    }
}

fn mkdir(dir: &Path) -> Result<(), CgroupError> {
    match fs::create_dir(dir) {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => Err(io(dir)(e)),
        _ => Ok(()),
    }
}

impl Drop for StepCgroup {
    /// Kills anything still inside (a step's orphans are killed with its
    /// PID namespace, but may still be exiting), then removes the cgroups.
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        for dir in &self.dirs {
            loop {
                let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
                    // SAFETY: plain syscall; the pid is in the step's cgroup.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                match fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == ErrorKind::NotFound => break,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(_) => break,
                }
            }
        }
    }
}

/// `512MiB`-style size for messages.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes;
    for unit in &UNITS[..3] {
        if value < 1024 || value & 1023 != 0 {
            return format!("{value}{unit}");
        }
        value /= 1024;
    }
    format!("{value}{}", UNITS[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_docker_prints_them() {
        assert_eq!(human(512 << 20), "512MiB");
        assert_eq!(human(3 << 30), "3GiB");
        assert_eq!(human(1000), "1000B");
    }

    #[test]
    fn no_limit_means_no_cgroup_and_bad_parents_are_refused() {
        let none = Limits {
            pids: None,
            ..Limits::default()
        };
        assert!(StepCgroup::create(&none, "x").unwrap().is_none());
        let bad = Limits {
            parent: "../escape".into(),
            ..Limits::default()
        };
        assert!(matches!(
            StepCgroup::create(&bad, "x"),
            Err(CgroupError::BadParent(_))
        ));
    }
}
