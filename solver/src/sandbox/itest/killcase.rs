//! Killing the caller must take the whole sandbox down. The test re-runs
//! this binary as a "driver" that starts a long command in the sandbox, then
//! SIGKILLs the driver and checks the command disappears.

use crate::fixture::{exec, sandbox, Fixture};
use mybuild_solver::sandbox::{HelperRequest, Task};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Driver mode: run the request in `path`, announce the first output.
pub fn driver(path: &str) -> ! {
    let req: HelperRequest = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let _ = sandbox().run(&req, &mut |_, _| {
        println!("started");
        let _ = std::io::stdout().flush();
    });
    std::process::exit(0)
}

/// Pids whose command line is exactly `args`.
fn find(args: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want))
        .collect()
}

pub fn killing_the_caller_kills_the_tree() {
    let fx = Fixture::new();
    let marker = format!("{}", 900_000 + std::process::id());
    let script = format!("echo started; sleep {marker} & exec sleep {marker}");
    let req = fx.request(&["base"], Task::Exec(exec(&["sh", "-c", &script])));
    let req_path = fx.dir.path().join("driver-request.json");
    std::fs::write(&req_path, serde_json::to_vec(&req).unwrap()).unwrap();
    let mut driver = Command::new(std::env::current_exe().unwrap())
        .args(["__driver", req_path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(driver.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "started\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    while find(&["sleep", &marker]).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "sandboxed sleeps never showed up"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    driver.kill().unwrap();
    driver.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !find(&["sleep", &marker]).is_empty() {
        assert!(
            Instant::now() < deadline,
            "sandboxed processes survived their caller"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
