//! Rules about what stages hold: their names, repeated or shell-form
//! CMD/ENTRYPOINT/HEALTHCHECK, relative WORKDIRs, deprecated or legacy
//! forms, and secrets in ARG/ENV names.

use super::rules::{
    stages, Findings, DUPLICATE_STAGE_NAME, JSON_ARGS_RECOMMENDED, LEGACY_KEY_VALUE_FORMAT,
    MAINTAINER_DEPRECATED, MULTIPLE_INSTRUCTIONS_DISALLOWED, RESERVED_STAGE_NAME,
    SECRETS_USED_IN_ARG_OR_ENV, WORKDIR_RELATIVE_PATH,
};
use crate::parser::Node;

/// Names BuildKit keeps for itself.
const RESERVED: [&str; 2] = ["scratch", "context"];

/// Words that make an ARG or ENV name look like it holds a secret, unless
/// a word says it is public.
const SECRET_WORDS: [&str; 11] = [
    "apikey",
    "auth",
    "credential",
    "credentials",
    "key",
    "password",
    "pass",
    "pword",
    "passwd",
    "secret",
    "token",
];

/// What a stage hands to the stages built on it.
#[derive(Clone, Copy, Default)]
struct Inherited {
    shell: bool,
    absolute_workdir: bool,
}

pub(super) fn check(nodes: &[Node], out: &mut Findings) {
    let mut names: Vec<(String, Inherited)> = Vec::new();
    for stage in stages(nodes) {
        let from = &stage[0];
        let base = from.args.first().map(|b| b.to_ascii_lowercase());
        let inherited = (names.iter().rev())
            .find(|(n, _)| Some(n) == base.as_ref())
            .map(|(_, i)| *i)
            .unwrap_or_default();
        let state = check_stage(stage, inherited, out);
        if let [_, _, name] = from.args.as_slice() {
            let name = name.to_ascii_lowercase();
            stage_name(&name, from.start_line, &names, out);
            names.push((name, state));
        }
    }
    for node in nodes {
        match node.command().as_str() {
            "maintainer" => {
                let detail = "Maintainer instruction is deprecated in favor of using label";
                out.add(&MAINTAINER_DEPRECATED, node.start_line, detail);
            }
            "env" | "label" => legacy_key_value(node, out),
            _ => {}
        }
        if matches!(node.command().as_str(), "arg" | "env") {
            secrets(node, out);
        }
    }
}

fn stage_name(name: &str, line: usize, earlier: &[(String, Inherited)], out: &mut Findings) {
    if earlier.iter().any(|(n, _)| n == name) {
        let detail = format!("Duplicate stage name {name:?}, stage names should be unique");
        out.add(&DUPLICATE_STAGE_NAME, line, detail);
    }
    if RESERVED.contains(&name) {
        let detail = format!("Stage name should not use the same name as reserved stage {name:?}");
        out.add(&RESERVED_STAGE_NAME, line, detail);
    }
}

/// The rules that look at one stage in order; returns what it hands on.
fn check_stage(stage: &[Node], mut state: Inherited, out: &mut Findings) -> Inherited {
    for (i, node) in stage.iter().enumerate() {
        let command = node.command();
        match command.as_str() {
            "shell" => state.shell = true,
            "workdir" => {
                let dir = node.args.first().map(String::as_str).unwrap_or_default();
                if dir.starts_with('/') || dir.starts_with('$') {
                    state.absolute_workdir = true;
                } else if !state.absolute_workdir {
                    let detail =
                        format!("Relative workdir {dir:?} can have unexpected results if the base image changes");
                    out.add(&WORKDIR_RELATIVE_PATH, node.start_line, detail);
                }
            }
            "cmd" | "entrypoint" | "healthcheck" => {
                let upper = command.to_ascii_uppercase();
                if command != "healthcheck" && !node.json && !state.shell {
                    let detail = format!(
                        "JSON arguments recommended for {upper} to prevent unintended behavior related to OS signals"
                    );
                    out.add(&JSON_ARGS_RECOMMENDED, node.start_line, detail);
                }
                if stage[i + 1..].iter().any(|n| n.command() == command) {
                    let detail = format!(
                        "Multiple {upper} instructions should not be used in the same stage because only the last one will be used"
                    );
                    out.add(&MULTIPLE_INSTRUCTIONS_DISALLOWED, node.start_line, detail);
                }
            }
            _ => {}
        }
    }
    state
}

/// `ENV key value` / `LABEL key value`: the parser marks a pair written
/// without `=` by an empty separator.
fn legacy_key_value(node: &Node, out: &mut Findings) {
    if node
        .args
        .chunks(3)
        .any(|c| c.get(2).is_some_and(|s| s.is_empty()))
    {
        let upper = node.command().to_ascii_uppercase();
        let detail = format!(
            "\"{upper} key=value\" should be used instead of legacy \"{upper} key value\" format"
        );
        out.add(&LEGACY_KEY_VALUE_FORMAT, node.start_line, detail);
    }
}

/// ARG and ENV names with a secret-like word (`DB_PASSWORD`, `apikey`).
fn secrets(node: &Node, out: &mut Findings) {
    let upper = node.command().to_ascii_uppercase();
    let names: Vec<&str> = if upper == "ENV" {
        node.args.chunks(3).map(|c| c[0].as_str()).collect()
    } else {
        (node.args.iter())
            .map(|a| a.split_once('=').map_or(a.as_str(), |(k, _)| k))
            .collect()
    };
    for name in names {
        let words: Vec<String> = name.split('_').map(str::to_ascii_lowercase).collect();
        let secret = words.iter().any(|w| SECRET_WORDS.contains(&w.as_str()));
        if secret && !words.iter().any(|w| w == "public") {
            let detail =
                format!("Do not use ARG or ENV instructions for sensitive data ({upper} {name:?})");
            out.add(&SECRETS_USED_IN_ARG_OR_ENV, node.start_line, detail);
        }
    }
}
