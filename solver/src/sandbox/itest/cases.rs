//! The test cases; each asserts behaviour that breaks if the feature does.

use crate::fixture::{entries, exec, run, run_on_base, Fixture};
use mybuild_graph::NetworkMode;
use mybuild_solver::sandbox::{SandboxError, Task};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

type Case = (&'static str, fn());

pub const ALL: &[Case] = &[
    (
        "exit_code_and_streams_propagate",
        exit_code_and_streams_propagate,
    ),
    ("written_file_lands_in_upper", written_file_lands_in_upper),
    (
        "deleted_base_file_is_a_whiteout",
        deleted_base_file_is_a_whiteout,
    ),
    (
        "command_is_pid_1_with_hostname",
        command_is_pid_1_with_hostname,
    ),
    ("network_none_sees_only_lo", network_none_sees_only_lo),
    ("numeric_user_owns_files", numeric_user_owns_files),
    (
        "named_user_gets_groups_and_home",
        named_user_gets_groups_and_home,
    ),
    ("caps_match_docker_defaults", caps_match_docker_defaults),
    ("no_stubs_left_in_upper", no_stubs_left_in_upper),
    (
        "missing_user_is_a_clear_error",
        missing_user_is_a_clear_error,
    ),
    (
        "missing_command_is_a_clear_error",
        missing_command_is_a_clear_error,
    ),
    (
        "empty_rootfs_leaves_upper_empty",
        empty_rootfs_leaves_upper_empty,
    ),
    ("many_layers_mount_in_order", many_layers_mount_in_order),
    ("cwd_is_created_for_the_user", cwd_is_created_for_the_user),
    (
        "cwd_closed_to_the_user_is_entered_as_root",
        cwd_closed_to_the_user_is_entered_as_root,
    ),
    ("host_resolver_is_read_only", host_resolver_is_read_only),
    (
        "copies_from_layer_sources",
        crate::filecases::copies_from_layer_sources,
    ),
    (
        "copies_from_host_dir_on_empty_rootfs",
        crate::filecases::copies_from_host_dir_on_empty_rootfs,
    ),
    (
        "file_errors_are_reported",
        crate::filecases::file_errors_are_reported,
    ),
    (
        "missing_layer_names_the_mount_step",
        crate::filecases::missing_layer_names_the_mount_step,
    ),
    (
        "killing_the_caller_kills_the_tree",
        crate::killcase::killing_the_caller_kills_the_tree,
    ),
    (
        "one_zygote_serves_many_steps",
        crate::zygotecase::one_zygote_serves_many_steps,
    ),
    (
        "a_dead_zygote_falls_back_to_exec",
        crate::zygotecase::a_dead_zygote_falls_back_to_exec,
    ),
    ("per_run_overhead_is_small", per_run_overhead_is_small),
    (
        "kernel_paths_are_masked_and_read_only",
        kernel_paths_are_masked_and_read_only,
    ),
];

fn exit_code_and_streams_propagate() {
    let fx = Fixture::new();
    let (out, _) = run_on_base(&fx, exec(&["sh", "-c", "echo out; echo err >&2; exit 3"]));
    assert!(
        matches!(out.result, Err(SandboxError::Exited { code: 3 })),
        "{:?}",
        out.result
    );
    assert_eq!(out.result.unwrap_err().to_string(), "exit code: 3");
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");
}

fn written_file_lands_in_upper() {
    let fx = Fixture::new();
    let (out, upper) = run_on_base(&fx, exec(&["sh", "-c", "echo hi > /newfile"]));
    out.result.unwrap();
    assert_eq!(
        std::fs::read_to_string(upper.join("newfile")).unwrap(),
        "hi\n"
    );
}

fn deleted_base_file_is_a_whiteout() {
    let fx = Fixture::new();
    let (out, upper) = run_on_base(&fx, exec(&["rm", "/hello"]));
    out.result.unwrap();
    let meta = std::fs::symlink_metadata(upper.join("hello")).unwrap();
    assert!(meta.file_type().is_char_device());
    assert_eq!(meta.rdev(), 0);
}

fn command_is_pid_1_with_hostname() {
    let fx = Fixture::new();
    let (out, _) = run_on_base(&fx, exec(&["readlink", "/proc/self"]));
    out.result.unwrap();
    assert_eq!(out.stdout, "1\n");
    // Only stdio reaches the command: every other fd was close-on-exec.
    let (out, _) = run_on_base(
        &fx,
        exec(&["sh", "-c", "ls /proc/self/fd; readlink /proc/self/fd/0"]),
    );
    out.result.unwrap();
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        ["0", "1", "2", "3", "/dev/null"]
    );
    let (out, _) = run_on_base(&fx, exec(&["hostname"]));
    out.result.unwrap();
    assert_eq!(out.stdout, "buildkitsandbox\n");
}

fn network_none_sees_only_lo() {
    let fx = Fixture::new();
    let mut task = exec(&["ip", "-o", "link"]);
    task.network = NetworkMode::None;
    let (out, _) = run_on_base(&fx, task);
    out.result.unwrap();
    let links: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(links.len(), 1, "{}", out.stdout);
    assert!(
        links[0].starts_with("1: lo: <LOOPBACK,UP"),
        "{}",
        out.stdout
    );
}

fn numeric_user_owns_files() {
    let fx = Fixture::new();
    let mut task = exec(&["touch", "/tmp/owned"]);
    task.user = "1000:1000".into();
    let (out, upper) = run_on_base(&fx, task);
    out.result.unwrap();
    let meta = std::fs::metadata(upper.join("tmp/owned")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1000, 1000));
    let mut task = exec(&["id"]);
    task.user = "4242".into();
    let (out, _) = run_on_base(&fx, task);
    out.result.unwrap();
    // As runc: a user absent from passwd gets gid 0 and no supplementary groups.
    assert_eq!(out.stdout, "uid=4242 gid=0(root)\n");
}

fn named_user_gets_groups_and_home() {
    let fx = Fixture::new();
    let mut task = exec(&["sh", "-c", "id; echo $HOME"]);
    task.user = "app".into();
    let (out, _) = run_on_base(&fx, task);
    out.result.unwrap();
    assert_eq!(
        out.stdout,
        "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)\n/home/app\n"
    );
}

fn caps_match_docker_defaults() {
    let fx = Fixture::new();
    let (out, _) = run_on_base(
        &fx,
        exec(&["grep", "-E", "^(Cap|NoNewPrivs)", "/proc/self/status"]),
    );
    out.result.unwrap();
    assert!(
        out.stdout.contains("CapBnd:\t00000000a80425fb"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("CapEff:\t00000000a80425fb"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("CapInh:\t0000000000000000"),
        "{}",
        out.stdout
    );
    let mut task = exec(&["grep", "^Cap", "/proc/self/status"]);
    task.user = "1000".into();
    let (out, _) = run_on_base(&fx, task);
    out.result.unwrap();
    assert!(
        out.stdout.contains("CapBnd:\t00000000a80425fb"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("CapEff:\t0000000000000000"),
        "{}",
        out.stdout
    );
}

fn no_stubs_left_in_upper() {
    let fx = Fixture::new();
    let script = "test -c /dev/null && test -L /dev/fd && test -d /dev/pts && test -e /proc/1 && test -e /etc/resolv.conf";
    let (out, upper) = run_on_base(&fx, exec(&["sh", "-c", script]));
    out.result.unwrap();
    for stub in ["proc", "dev", "sys", "etc/resolv.conf", "etc/hosts"] {
        assert!(!upper.join(stub).exists(), "stub /{stub} left in upper");
    }
    // Not even the copied-up /etc the resolver stubs were created in.
    assert_eq!(entries(&upper), Vec::<String>::new());
    let (out, upper) = run_on_base(&fx, exec(&["sh", "-c", "echo x > /etc/extra"]));
    out.result.unwrap();
    assert_eq!(entries(&upper), ["etc"]);
    assert_eq!(
        entries(&upper.join("etc")),
        ["extra"],
        "only the command's file, no stubs"
    );
}

fn missing_user_is_a_clear_error() {
    let fx = Fixture::new();
    let mut task = exec(&["true"]);
    task.user = "nobodyhere".into();
    let (out, _) = run_on_base(&fx, task);
    match out.result {
        Err(SandboxError::Setup { step, message }) => {
            assert_eq!(step, "resolve user");
            assert!(
                message.contains("unable to find user nobodyhere"),
                "{message}"
            );
        }
        other => panic!("expected a setup error, got {other:?}"),
    }
}

fn missing_command_is_a_clear_error() {
    let fx = Fixture::new();
    let (out, _) = run_on_base(&fx, exec(&["no-such-tool", "--flag"]));
    match out.result {
        Err(SandboxError::Setup { step, message }) => {
            assert_eq!(step, "exec");
            assert!(
                message.contains("\"no-such-tool\": executable file not found in $PATH"),
                "{message}"
            );
        }
        other => panic!("expected a setup error, got {other:?}"),
    }
}

fn empty_rootfs_leaves_upper_empty() {
    let fx = Fixture::new();
    let req = fx.request(&[], Task::Exec(exec(&["sh"])));
    let out = run(&req);
    assert!(
        matches!(out.result, Err(SandboxError::Setup { ref step, .. }) if step == "exec"),
        "{:?}",
        out.result
    );
    assert_eq!(entries(&req.upper), Vec::<String>::new());
    assert_eq!(
        entries(&req.merged),
        Vec::<String>::new(),
        "merged must stay empty on disk"
    );
}

fn many_layers_mount_in_order() {
    let fx = Fixture::new();
    let mut names = Vec::new();
    for i in 0..150 {
        let name = format!("layer-{i:03}-padding-to-make-the-option-string-long");
        fx.layer(
            &name,
            &[
                (&format!("layers/{i}"), "x"),
                ("hello", &format!("layer {i}\n")),
            ],
        );
        names.push(name);
    }
    // Top-most first: the last layer written wins.
    let mut lowers: Vec<&str> = names.iter().rev().map(String::as_str).collect();
    lowers.push("base");
    let req = fx.request(
        &lowers,
        Task::Exec(exec(&["sh", "-c", "ls /layers | wc -l; cat /hello"])),
    );
    let out = run(&req);
    out.result.unwrap();
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        ["150", "layer", "149"]
    );
}

fn cwd_is_created_for_the_user() {
    let fx = Fixture::new();
    let mut task = exec(&["sh", "-c", "pwd; touch mine"]);
    task.user = "app".into();
    task.cwd = "/home/app/src".into();
    let (out, upper) = run_on_base(&fx, task);
    out.result.unwrap();
    assert_eq!(out.stdout, "/home/app/src\n");
    let meta = std::fs::metadata(upper.join("home/app/src/mine")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1000, 1000));
}

/// As runc (and so Docker): a working directory the user may not enter is
/// entered before the user is switched (found by tests/differential).
fn cwd_closed_to_the_user_is_entered_as_root() {
    let fx = Fixture::new();
    let closed = fx.snapshots().join("base/closed");
    std::fs::create_dir(&closed).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut task = exec(&["sh", "-c", "id -u; touch /tmp/ran"]);
    task.user = "1000".into();
    task.cwd = "/closed".into();
    let (out, upper) = run_on_base(&fx, task);
    out.result.unwrap();
    assert_eq!(out.stdout, "1000\n");
    assert!(upper.join("tmp/ran").exists());
}

fn host_resolver_is_read_only() {
    let fx = Fixture::new();
    let before = std::fs::read("/etc/resolv.conf").unwrap_or_default();
    let (out, _) = run_on_base(
        &fx,
        exec(&["sh", "-c", "echo nameserver 6.6.6.6 >> /etc/resolv.conf"]),
    );
    assert!(
        matches!(out.result, Err(SandboxError::Exited { .. })),
        "{:?}",
        out.result
    );
    assert_eq!(
        std::fs::read("/etc/resolv.conf").unwrap_or_default(),
        before
    );
}

fn per_run_overhead_is_small() {
    let fx = Fixture::new();
    let start = std::time::Instant::now();
    let runs = 20;
    for _ in 0..runs {
        run_on_base(&fx, exec(&["true"])).0.result.unwrap();
    }
    let each = start.elapsed() / runs;
    println!("    per-run overhead: {each:?}");
    // Generous bound for a loaded 2-core CI box; typical is a few ms.
    assert!(
        each < std::time::Duration::from_millis(250),
        "{each:?} per run"
    );
}

fn kernel_paths_are_masked_and_read_only() {
    // Unmasked, these have content on the host (this kernel may lack kcore
    // and sysrq-trigger; masking skips what does not exist).
    assert!(!std::fs::read("/proc/timer_list").unwrap().is_empty());
    assert!(std::fs::read_dir("/sys/firmware").unwrap().next().is_some());
    let fx = Fixture::new();
    let script = "echo 1 > /proc/sys/kernel/domainname; echo sysctl=$?; \\
        wc -c < /proc/timer_list; ls /sys/firmware | wc -l";
    let (out, _) = run_on_base(&fx, exec(&["sh", "-c", script]));
    out.result.unwrap();
    let lines: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(lines, ["sysctl=1", "0", "0"], "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.stderr
    );
}
