//! A busybox root filesystem as snapshot layers, and helpers to run steps on it.

use mybuild_graph::NetworkMode;
use mybuild_solver::sandbox::{ExecTask, HelperRequest, OutputStream, Sandbox, SandboxError, Task};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "ls", "id", "ip", "grep", "rm", "touch", "readlink", "hostname", "test",
    "wc", "sleep", "stat", "true", "pwd",
];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
const GROUP: &str = "root:x:0:\napp:x:1000:\nextra:x:2000:app\n";

pub struct Fixture {
    pub dir: tempfile::TempDir,
    runs: std::cell::Cell<u32>,
}

pub struct Output {
    pub result: Result<(), SandboxError>,
    pub stdout: String,
    pub stderr: String,
}

impl Fixture {
    /// Snapshots root with a `base` layer: busybox, passwd/group, /tmp and
    /// /hello, but no /proc, /dev, /sys or resolver files.
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().join("snapshots/base");
        std::fs::create_dir_all(base.join("bin")).unwrap();
        std::fs::create_dir_all(base.join("etc")).unwrap();
        std::fs::create_dir_all(base.join("tmp")).unwrap();
        std::fs::set_permissions(base.join("tmp"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        std::fs::copy("/bin/busybox", base.join("bin/busybox"))
            .expect("host /bin/busybox (busybox-static)");
        for applet in APPLETS {
            symlink("busybox", base.join("bin").join(applet)).unwrap();
        }
        std::fs::write(base.join("etc/passwd"), PASSWD).unwrap();
        std::fs::write(base.join("etc/group"), GROUP).unwrap();
        std::fs::write(base.join("hello"), "hello from base\n").unwrap();
        Fixture {
            dir,
            runs: std::cell::Cell::new(0),
        }
    }

    pub fn snapshots(&self) -> PathBuf {
        self.dir.path().join("snapshots")
    }

    /// Adds a layer directory under the snapshots root.
    pub fn layer(&self, name: &str, files: &[(&str, &str)]) {
        for (path, content) in files {
            let path = self.snapshots().join(name).join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        std::fs::create_dir_all(self.snapshots().join(name)).unwrap();
    }

    /// A request with fresh upper/work/merged dirs.
    pub fn request(&self, lowers: &[&str], task: Task) -> HelperRequest {
        let n = self.runs.get() + 1;
        self.runs.set(n);
        let run = self.dir.path().join(format!("run-{n}"));
        for d in ["upper", "work", "merged"] {
            std::fs::create_dir_all(run.join(d)).unwrap();
        }
        HelperRequest {
            snapshots_root: self.snapshots(),
            lowers: lowers.iter().map(PathBuf::from).collect(),
            upper: run.join("upper"),
            work: run.join("work"),
            merged: run.join("merged"),
            task,
        }
    }
}

pub fn exec(args: &[&str]) -> ExecTask {
    ExecTask {
        args: args.iter().map(|a| a.to_string()).collect(),
        env: vec!["PATH=/bin".into()],
        cwd: "/".into(),
        user: String::new(),
        network: NetworkMode::Host,
        hostname: "buildkitsandbox".into(),
        mounts: vec![],
        console: Default::default(),
        env_extra: Default::default(),
    }
}

pub fn sandbox() -> Sandbox {
    Sandbox::with_exe(std::env::current_exe().expect("current exe"))
}

pub fn run(req: &HelperRequest) -> Output {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let result = sandbox().run(req, &mut |stream, data| match stream {
        OutputStream::Stdout => stdout.extend_from_slice(data),
        OutputStream::Stderr => stderr.extend_from_slice(data),
    });
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    Output {
        result,
        stdout: text(stdout),
        stderr: text(stderr),
    }
}

/// Runs `task` on the base layer and returns the output plus the upper dir.
pub fn run_on_base(fx: &Fixture, task: ExecTask) -> (Output, PathBuf) {
    let req = fx.request(&["base"], Task::Exec(task));
    (run(&req), req.upper)
}

pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
