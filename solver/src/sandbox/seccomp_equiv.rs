//! Proves the search-tree filters allow and refuse exactly what the
//! linear filters seccompiler builds from the same profile do: every
//! syscall number 0..=1023 (and some far outside), on both architectures
//! seccompiler and the profile cover, with the arguments the conditional
//! rules look at.

use super::*;
use seccompiler::{
    sock_filter, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

const ARCHES: [(TargetArch, u32); 2] = [
    (TargetArch::x86_64, 0xC000_003E),
    (TargetArch::aarch64, 0xC000_00B7),
];

fn rule(arg: u8, op: SeccompCmpOp, value: u64) -> SeccompRule {
    let cond = SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value).unwrap();
    SeccompRule::new(vec![cond]).unwrap()
}

/// The profile as it was written for seccompiler (a linear filter).
fn linear_profile(arch: TargetArch) -> Vec<sock_filter> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (_, nr) in ALLOWED.iter().chain(ALLOWED_ARCH) {
        rules.insert(*nr, Vec::new());
    }
    rules.insert(SYS_IO_PGETEVENTS, Vec::new());
    let clone_rule = rule(CLONE_FLAGS_ARG, SeccompCmpOp::MaskedEq(NAMESPACE_FLAGS), 0);
    rules.insert(libc::SYS_clone, vec![clone_rule]);
    rules.insert(libc::SYS_clone3, Vec::new());
    let personas = PERSONALITIES.iter().map(|p| rule(0, SeccompCmpOp::Eq, *p));
    rules.insert(libc::SYS_personality, personas.collect());
    rules.insert(libc::SYS_socket, vec![rule(0, SeccompCmpOp::Ne, AF_VSOCK)]);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        arch,
    );
    filter.unwrap().try_into().unwrap()
}

fn linear_clone3(arch: TargetArch) -> Vec<sock_filter> {
    let rules = BTreeMap::from([(libc::SYS_clone3, Vec::new())]);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    );
    filter.unwrap().try_into().unwrap()
}

/// Argument vectors that take each conditional rule both ways, with and
/// without the high halves set (the profile compares low halves only).
fn arg_cases() -> Vec<[u64; 6]> {
    let mut firsts: Vec<u64> = vec![0, 1, 2, AF_VSOCK, 0x11, 0xdead_beef, u64::MAX];
    firsts.extend(PERSONALITIES);
    firsts.extend([0x1_0000_0008, 0x9, 0x20001]);
    for flag in 0..32 {
        firsts.push(1 << flag);
        firsts.push((1 << flag) | 0x11);
    }
    firsts.push(NAMESPACE_FLAGS);
    let highs = [0u64, 0xffff_ffff_0000_0000];
    let mut out = Vec::new();
    for first in &firsts {
        for high in highs {
            out.push([first | high, first | high, 0, 0, 0, 0]);
            out.push([first | high, 0x7E02_0000, 7, 0, 0, 0]);
        }
    }
    out
}

fn numbers() -> Vec<u32> {
    let mut nrs: Vec<u32> = (0..=1023).collect();
    nrs.extend([
        0x4000_0000,
        0x4000_0001,
        0x4000_0038,
        0x7fff_ffff,
        u32::MAX - 1,
        u32::MAX,
    ]);
    nrs
}

#[test]
fn tree_filters_decide_every_syscall_as_the_linear_ones() {
    let all_args = arg_cases();
    let few_args = [all_args[0], all_args[all_args.len() - 1]];
    let conditional = [libc::SYS_clone, libc::SYS_personality, libc::SYS_socket].map(|n| n as u32);
    let pairs = |arch: TargetArch, audit: u32| {
        [
            (linear_profile(arch), bpf::compile(&profile(audit))),
            (linear_clone3(arch), bpf::compile(&clone3_enosys(audit))),
        ]
    };
    for (arch, audit) in ARCHES {
        for (linear, tree) in pairs(arch, audit) {
            assert!(
                tree.len() <= linear.len(),
                "{} vs {}",
                tree.len(),
                linear.len()
            );
            for seen_arch in [audit, 0xC000_003E, 0xC000_00B7, 0x4000_0003] {
                for nr in numbers() {
                    let args = match conditional.contains(&nr) {
                        true => &all_args[..],
                        false => &few_args[..],
                    };
                    for a in args {
                        let want = bpf::run(&linear, nr, seen_arch, *a);
                        let got = bpf::run(&tree, nr, seen_arch, *a);
                        assert_eq!(
                            got, want,
                            "{arch:?} nr {nr} arch {seen_arch:#x} args {a:x?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn the_tree_allows_and_refuses_what_the_profile_says() {
    let tree = bpf::compile(&profile(AUDIT_ARCH));
    let eperm = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    let verdict =
        |nr: libc::c_long, a0: u64| bpf::run(&tree, nr as u32, AUDIT_ARCH, [a0, 0, 0, 0, 0, 0]);
    assert_eq!(verdict(libc::SYS_read, 0), libc::SECCOMP_RET_ALLOW);
    assert_eq!(verdict(libc::SYS_mount, 0), eperm);
    assert_eq!(verdict(libc::SYS_clone, 0x11), libc::SECCOMP_RET_ALLOW);
    assert_eq!(verdict(libc::SYS_clone, 0x2000_0000), eperm);
    assert_eq!(verdict(libc::SYS_personality, 0x8), libc::SECCOMP_RET_ALLOW);
    assert_eq!(verdict(libc::SYS_personality, 0x9), eperm);
    assert_eq!(verdict(libc::SYS_socket, AF_VSOCK), eperm);
    assert_eq!(verdict(libc::SYS_socket, 2), libc::SECCOMP_RET_ALLOW);
    let wrong_arch = bpf::run(&tree, 0, 0x4000_0003, [0; 6]);
    assert_eq!(wrong_arch, libc::SECCOMP_RET_KILL_PROCESS);
}

#[test]
fn the_tree_is_a_fraction_of_the_linear_filter() {
    let tree = bpf::compile(&profile(AUDIT_ARCH)).len();
    let linear = linear_profile(TargetArch::x86_64).len();
    println!("profile: {tree} instructions as a tree, {linear} linear");
    assert!(tree * 3 < linear, "{tree} vs {linear}");
}
