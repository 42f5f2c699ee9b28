//! Integration tests of the sandbox against a real busybox rootfs. This is a
//! `harness = false` test binary because the helper must be a binary whose
//! `main` dispatches `__sandbox` before anything else runs: the test binary
//! re-executes itself as the helper.

mod cases;
mod filecases;
mod fixture;
mod killcase;
mod zygotecase;

use std::panic::{catch_unwind, AssertUnwindSafe};

fn main() {
    if std::env::args().nth(1).as_deref() == Some("__sandbox") {
        mybuild_solver::sandbox::helper_main();
    }
    if std::env::args().nth(1).as_deref() == Some(mybuild_solver::sandbox::ZYGOTE_ARG) {
        mybuild_solver::sandbox::zygote_main();
    }
    if std::env::args().nth(1).as_deref() == Some("__driver") {
        killcase::driver(&std::env::args().nth(2).expect("request path"));
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in cases::ALL {
            println!("{name}: test");
        }
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        // Failing, not skipping: a green run must mean the sandbox was tested.
        eprintln!("sandbox tests need root (namespaces, overlayfs): run cargo test as root");
        std::process::exit(1);
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let selected = cases::ALL.iter().filter(|(name, _)| {
        filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
    });
    let (mut passed, mut failed) = (0, Vec::new());
    for (name, case) in selected {
        match catch_unwind(AssertUnwindSafe(case)) {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len()
    );
    if !failed.is_empty() {
        println!("failures: {failed:?}");
        std::process::exit(101);
    }
}
