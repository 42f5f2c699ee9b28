//! The stages a stage needs, found before it is built, so that a chain of
//! thousands of stages (`FROM s1 AS s2`, `COPY --from=s1`) is built bottom
//! up in a loop instead of by one nested call per link, which overflowed
//! the stack. `FROM` and `--from` expand with the global ARGs only, so the
//! dependencies are known without building anything. Whatever this scan
//! cannot see (an ONBUILD trigger's `--from`) is still found, by the nested
//! path, when the stage is built.

use super::mount::mount_from;
use super::stages::Stages;
use crate::instructions::Instruction;
use std::collections::HashSet;

/// The stages stage `i` reads, by index, in instruction order; a name
/// that is a `--build-context` (`named`) reads that context, not a stage.
fn direct(stages: &Stages, i: usize, named: &dyn Fn(&str) -> bool) -> Vec<usize> {
    let def = &stages.defs[i];
    let mut out = Vec::new();
    let stage = |name: &str| {
        let name = stages.meta.expand(name).ok()?;
        if named(&name) {
            return None;
        }
        stages.by_name_or_index(&name)
    };
    if let Some(j) = stage(&def.from.image).filter(|j| *j < i) {
        out.push(j);
    }
    for cmd in &def.commands {
        match &cmd.instruction {
            Instruction::Copy(c) => out.extend(c.from.as_deref().and_then(stage)),
            Instruction::Run(r) => {
                out.extend(r.mounts.iter().filter_map(|m| stage(&mount_from(m)?)));
            }
            _ => {}
        }
    }
    out
}

/// Every stage `i` needs, directly or not, each after the stages it needs
/// (`i` itself excluded), skipping those `built` already has and what only
/// they need. A cycle is left for the build to report.
pub(super) fn build_order(
    stages: &Stages,
    i: usize,
    built: impl Fn(usize) -> bool,
    named: &dyn Fn(&str) -> bool,
) -> Vec<usize> {
    // Only the stages reached are marked: a map, not a vector as long as
    // the Dockerfile, keeps each call as cheap as the stages it visits.
    let mut open: HashSet<usize> = HashSet::from([i]);
    let mut order = Vec::new();
    // (stage, its dependencies, how many of them were visited)
    let mut stack = vec![(i, direct(stages, i, named), 0usize)];
    while let Some((node, deps, next)) = stack.last_mut() {
        match deps.get(*next).copied() {
            Some(dep) => {
                *next += 1;
                if !built(dep) && open.insert(dep) {
                    stack.push((dep, direct(stages, dep, named), 0));
                }
            }
            None => {
                order.push(*node);
                stack.pop();
            }
        }
    }
    order.pop();
    order
}
