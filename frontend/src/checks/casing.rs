//! How instructions are written: keyword and stage-name casing, empty
//! continuation lines, EXPOSE protocols.

use super::rules::{
    cased, Findings, CONSISTENT_INSTRUCTION_CASING, EXPOSE_PROTO_CASING, FROM_AS_CASING,
    NO_EMPTY_CONTINUATION, STAGE_NAME_CASING,
};
use crate::parser::Node;

pub(super) fn check(nodes: &[Node], text: &str, out: &mut Findings) {
    instruction_casing(nodes, out);
    for node in nodes {
        match node.command().as_str() {
            "from" => from_casing(node, out),
            "expose" => expose_casing(node, out),
            _ => {}
        }
    }
    empty_continuations(nodes, text, out);
}

/// Keywords not in the case most keywords are written in (uppercase when
/// as many are upper as lower); a mixed-case one is never in it.
fn instruction_casing(nodes: &[Node], out: &mut Findings) {
    let upper = nodes.iter().filter(|n| cased(&n.keyword, true)).count();
    let lower = nodes.iter().filter(|n| cased(&n.keyword, false)).count();
    let majority_lower = lower > upper;
    let name = if majority_lower {
        "lowercase"
    } else {
        "uppercase"
    };
    for node in nodes {
        if !cased(&node.keyword, !majority_lower) {
            let detail = format!(
                "Command '{}' should match the case of the command majority ({name})",
                node.keyword
            );
            out.add(&CONSISTENT_INSTRUCTION_CASING, node.start_line, detail);
        }
    }
}

/// `FROM x as y`: `as` cased like `FROM` (when FROM is one case at all),
/// and a lowercase stage name.
fn from_casing(node: &Node, out: &mut Findings) {
    let [_, as_kw, name] = node.args.as_slice() else {
        return;
    };
    if !as_kw.eq_ignore_ascii_case("as") {
        return;
    }
    let kw = &node.keyword;
    let clash =
        (cased(kw, true) && !cased(as_kw, true)) || (cased(kw, false) && !cased(as_kw, false));
    if clash {
        let detail = format!("'{as_kw}' and '{kw}' keywords' casing do not match");
        out.add(&FROM_AS_CASING, node.start_line, detail);
    }
    if !cased(name, false) {
        let detail = format!("Stage name '{name}' should be lowercase");
        out.add(&STAGE_NAME_CASING, node.start_line, detail);
    }
}

/// `EXPOSE 80/TCP`: the protocol is lowercase.
fn expose_casing(node: &Node, out: &mut Findings) {
    for port in &node.args {
        if port
            .split_once('/')
            .is_some_and(|(_, proto)| !cased(proto, false))
        {
            let detail =
                format!("Defined protocol '{port}' in EXPOSE instruction should be lowercase");
            out.add(&EXPOSE_PROTO_CASING, node.start_line, detail);
        }
    }
}

/// A blank line inside an instruction continued over several lines (not
/// in a heredoc's body, where blank lines are content); the warning names
/// the line after the blank ones.
fn empty_continuations(nodes: &[Node], text: &str, out: &mut Findings) {
    let lines: Vec<&str> = text.lines().collect();
    for node in nodes.iter().filter(|n| n.heredocs.is_empty()) {
        let inner = (node.start_line + 1)..=node.end_line;
        let mut after_blank = false;
        for n in inner {
            let blank = lines.get(n - 1).is_none_or(|l| l.trim().is_empty());
            if blank {
                after_blank = true;
            } else if after_blank {
                out.add(&NO_EMPTY_CONTINUATION, n, "Empty continuation line");
                after_blank = false;
            }
        }
    }
}
