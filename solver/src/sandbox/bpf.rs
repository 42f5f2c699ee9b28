//! A seccomp allow-list compiled as a binary search over syscall numbers.
//!
//! A linear filter (one compare per listed syscall) made every RUN step load
//! 1,527 BPF instructions, and the kernel emulates the whole program once per
//! syscall number when it loads it (to cache the always-allowed ones): about
//! 0.55 ms a step. Here runs of neighbouring numbers with the same verdict
//! are merged into one range and the ranges are searched as a balanced
//! tree, so the program is a few hundred instructions and each syscall
//! walks about log2(ranges) compares.

use seccompiler::sock_filter;
use std::collections::BTreeMap;

const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const BPF_JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Offsets in the kernel's `struct seccomp_data`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
const DATA_ARGS: u32 = 16;

/// `(seccomp_data.args[arg] as u32) & mask` compared with `value`: the low
/// half of the argument, as the profile's 32-bit conditions read it (the
/// low half comes first on the little-endian architectures we support).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Check {
    pub arg: u8,
    pub mask: u32,
    pub equal: bool,
    pub value: u32,
}

/// Which syscalls get `on_match` and which `otherwise`. A syscall listed
/// with no rules always matches; one with rules matches when any rule has
/// all of its checks hold.
pub(super) struct Table {
    /// The AUDIT_ARCH_* value; any other architecture kills the process.
    pub arch: u32,
    pub on_match: u32,
    pub otherwise: u32,
    pub syscalls: BTreeMap<u32, Vec<Vec<Check>>>,
}

/// What a range of syscall numbers leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Leaf {
    Ret(u32),
    Rules(Vec<Vec<Check>>),
}

/// Ranges `[start, next start)` covering every u32, in order.
fn ranges(table: &Table) -> Vec<(u32, Leaf)> {
    let mut out = Vec::new();
    set(&mut out, 0, Leaf::Ret(table.otherwise));
    for (nr, rules) in &table.syscalls {
        let leaf = match rules.is_empty() {
            true => Leaf::Ret(table.on_match),
            false => Leaf::Rules(rules.clone()),
        };
        set(&mut out, *nr, leaf);
        if let Some(next) = nr.checked_add(1) {
            set(&mut out, next, Leaf::Ret(table.otherwise));
        }
    }
    out
}

/// Starts a range at `start`: it replaces a range that started there too
/// (now empty), and extends the one before when both lead to the same.
fn set(out: &mut Vec<(u32, Leaf)>, start: u32, leaf: Leaf) {
    if out.last().is_some_and(|(s, _)| *s == start) {
        out.pop();
    }
    if out.last().is_some_and(|(_, l)| *l == leaf) {
        return;
    }
    out.push((start, leaf));
}

/// The whole program: the architecture check, then the search.
pub(super) fn compile(table: &Table) -> Vec<sock_filter> {
    let mut prog = vec![
        stmt(BPF_LD_W_ABS, DATA_ARCH),
        jump(BPF_JEQ_K, table.arch, 1, 0),
        stmt(BPF_RET_K, libc::SECCOMP_RET_KILL_PROCESS),
        stmt(BPF_LD_W_ABS, DATA_NR),
    ];
    prog.extend(search(&ranges(table), table));
    prog
}

/// A balanced search over `ranges` (the syscall number is in A).
fn search(ranges: &[(u32, Leaf)], table: &Table) -> Vec<sock_filter> {
    if let [(_, leaf)] = ranges {
        return leaf_code(leaf, table);
    }
    let mid = ranges.len() / 2;
    let (left, right) = (search(&ranges[..mid], table), search(&ranges[mid..], table));
    let mut out = Vec::with_capacity(left.len() + right.len() + 2);
    match u8::try_from(left.len()) {
        Ok(skip) => out.push(jump(BPF_JGE_K, ranges[mid].0, skip, 0)),
        Err(_) => {
            // Conditional jumps reach 255 instructions; `ja` any distance.
            out.push(jump(BPF_JGE_K, ranges[mid].0, 0, 1));
            out.push(stmt(BPF_JA, left.len() as u32));
        }
    }
    out.extend(left);
    out.extend(right);
    out
}

/// A return, or the rules tried in order, each falling through to the
/// next when one of its checks fails, and `otherwise` after the last.
fn leaf_code(leaf: &Leaf, table: &Table) -> Vec<sock_filter> {
    let rules = match leaf {
        Leaf::Ret(ret) => return vec![stmt(BPF_RET_K, *ret)],
        Leaf::Rules(rules) => rules,
    };
    let mut out = Vec::new();
    for rule in rules {
        let len = rule.iter().map(check_len).sum::<usize>() + 1;
        let mut block = Vec::with_capacity(len);
        for check in rule {
            block.push(stmt(BPF_LD_W_ABS, DATA_ARGS + 8 * u32::from(check.arg)));
            if check.mask != u32::MAX {
                block.push(stmt(BPF_AND_K, check.mask));
            }
            // From the instruction after this jump to the next rule.
            let fail = (len - block.len() - 1) as u8;
            block.push(match check.equal {
                true => jump(BPF_JEQ_K, check.value, 0, fail),
                false => jump(BPF_JEQ_K, check.value, fail, 0),
            });
        }
        block.push(stmt(BPF_RET_K, table.on_match));
        out.extend(block);
    }
    out.push(stmt(BPF_RET_K, table.otherwise));
    out
}

fn check_len(check: &Check) -> usize {
    if check.mask == u32::MAX {
        2
    } else {
        3
    }
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// Runs a classic BPF seccomp program the way the kernel does, for the
/// tests that compare this compiler with the linear one.
#[cfg(test)]
pub(super) fn run(prog: &[sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
    let mut data = Vec::with_capacity(64);
    data.extend(nr.to_ne_bytes());
    data.extend(arch.to_ne_bytes());
    data.extend(0u64.to_ne_bytes());
    for arg in args {
        data.extend(arg.to_ne_bytes());
    }
    let (mut pc, mut a) = (0usize, 0u32);
    loop {
        let ins = &prog[pc];
        pc += 1;
        let k = ins.k;
        match ins.code {
            BPF_LD_W_ABS => {
                let at = k as usize;
                a = u32::from_ne_bytes(data[at..at + 4].try_into().expect("4 bytes"));
            }
            BPF_AND_K => a &= k,
            BPF_JA => pc += k as usize,
            BPF_RET_K => return k,
            code => {
                let taken = match code {
                    BPF_JEQ_K => a == k,
                    BPF_JGE_K => a >= k,
                    c if c == (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16 => a > k,
                    c if c == (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16 => a & k != 0,
                    other => panic!("instruction {other:#x} not interpreted"),
                };
                pc += usize::from(if taken { ins.jt } else { ins.jf });
            }
        }
    }
}
