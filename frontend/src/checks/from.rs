//! Rules about FROM's words: undeclared or badly defaulted build args in
//! the image name, and `--platform` values.

use super::rules::{
    Findings, FROM_PLATFORM_FLAG_CONST_DISALLOWED, INVALID_DEFAULT_ARG_IN_FROM,
    REDUNDANT_TARGET_PLATFORM, UNDEFINED_ARG_IN_FROM,
};
use crate::parser::Node;
use crate::shell_lex::Lexer;
use std::cell::RefCell;

/// The platform args BuildKit defines for FROM without an ARG.
const BUILTIN: [&str; 8] = [
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
];

pub(super) fn check(nodes: &[Node], escape: char, out: &mut Findings) {
    let lexer = Lexer::new(escape);
    let globals = global_args(nodes, &lexer);
    for node in nodes.iter().filter(|n| n.command() == "from") {
        let Some(image) = node.args.first() else {
            continue;
        };
        let platform =
            (node.flags.iter()).find_map(|f| f.trim_start_matches('-').strip_prefix("platform="));
        for word in std::iter::once(image.as_str()).chain(platform) {
            for name in referenced(&lexer, word) {
                undeclared(&name, &globals, node.start_line, out);
            }
        }
        default_image(&lexer, image, &globals, node.start_line, out);
        if let Some(platform) = platform {
            platform_flag(node, platform, out);
        }
    }
}

/// The ARGs before the first FROM, with their defaults (quotes removed).
fn global_args(nodes: &[Node], lexer: &Lexer) -> Vec<(String, Option<String>)> {
    let mut args = Vec::new();
    for node in nodes.iter().take_while(|n| n.command() != "from") {
        if node.command() != "arg" {
            continue;
        }
        for word in &node.args {
            let (name, default) = match word.split_once('=') {
                Some((k, v)) => (
                    k,
                    Some(lexer.process_word(v, &|_| None).unwrap_or_default()),
                ),
                None => (word.as_str(), None),
            };
            args.push((name.to_string(), default));
        }
    }
    args
}

/// The variables `word` expands.
fn referenced(lexer: &Lexer, word: &str) -> Vec<String> {
    let seen = RefCell::new(Vec::new());
    let _ = lexer.process_word(word, &|name| {
        seen.borrow_mut().push(name.to_string());
        None
    });
    seen.into_inner()
}

fn undeclared(name: &str, globals: &[(String, Option<String>)], line: usize, out: &mut Findings) {
    let known = globals.iter().map(|(n, _)| n.as_str()).chain(BUILTIN);
    if known.clone().any(|k| k == name) {
        return;
    }
    let mut detail = format!("FROM argument '{name}' is not declared");
    if let Some(close) = suggest(name, known) {
        detail.push_str(&format!(" (did you mean {close}?)"));
    }
    out.add(&UNDEFINED_ARG_IN_FROM, line, detail);
}

/// The known name closest to `name`, if it is close: a third of its
/// letters or fewer differ.
fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.len() / 3).max(1);
    (known.map(|k| {
        (
            edit_distance(&name.to_ascii_lowercase(), &k.to_ascii_lowercase()),
            k,
        )
    }))
    .filter(|(d, _)| *d <= limit)
    .min_by_key(|(d, _)| *d)
    .map(|(_, k)| k)
}

/// Levenshtein distance over bytes (ARG names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The image name with only the global ARGs' defaults must be a valid
/// reference, or a build without `--build-arg` fails.
fn default_image(
    lexer: &Lexer,
    image: &str,
    globals: &[(String, Option<String>)],
    line: usize,
    out: &mut Findings,
) {
    if !image.contains('$') {
        return;
    }
    let lookup = |name: &str| {
        (globals.iter().rev())
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.clone())
    };
    let Ok(expanded) = lexer.process_word(image, &lookup) else {
        return;
    };
    if !valid_reference(&expanded) {
        let detail =
            format!("Default value for ARG {image} results in empty or invalid base image name");
        out.add(&INVALID_DEFAULT_ARG_IN_FROM, line, detail);
    }
}

/// A plausible image reference: a lowercase name, then an optional
/// `:tag` and `@algorithm:hex` digest, neither empty.
fn valid_reference(r: &str) -> bool {
    let (rest, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    let digest_ok = digest.is_none_or(|d| {
        d.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty() && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
        })
    });
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    let tag_ok = tag.is_none_or(|t| {
        !t.is_empty()
            && t.len() <= 128
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    });
    let name_ok = !name.is_empty()
        && !name.starts_with('/')
        && !name.ends_with('/')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/:".contains(&b));
    digest_ok && tag_ok && name_ok
}

/// `--platform=$TARGETPLATFORM` says the default; a constant platform
/// builds for one platform whatever was asked, unless the stage is named
/// for it (`AS build-arm64`).
fn platform_flag(node: &Node, platform: &str, out: &mut Findings) {
    if platform == "$TARGETPLATFORM" || platform == "${TARGETPLATFORM}" {
        let detail = format!(
            "Setting platform to predefined {platform} in FROM is redundant as this is the default behavior"
        );
        out.add(&REDUNDANT_TARGET_PLATFORM, node.start_line, detail);
        return;
    }
    if platform.contains('$') {
        return;
    }
    let stage = match node.args.as_slice() {
        [_, _, name] => name.to_ascii_lowercase(),
        _ => String::new(),
    };
    let mut parts = platform.split('/').map(str::to_ascii_lowercase);
    let named = parts
        .by_ref()
        .take(2)
        .any(|p| !p.is_empty() && stage.contains(&p));
    if !named {
        let detail = format!("FROM --platform flag should not use constant value {platform:?}");
        out.add(
            &FROM_PLATFORM_FLAG_CONST_DISALLOWED,
            node.start_line,
            detail,
        );
    }
}
