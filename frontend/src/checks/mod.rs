//! Build checks: BuildKit's Dockerfile lint rules, run on the syntax tree
//! before anything is built.
//!
//! A build prints what they find as warnings; `--check` prints them in
//! full instead of building. `# check=skip=A,B;error=true` (or the
//! `BUILDKIT_DOCKERFILE_CHECK` build arg, which replaces the directive)
//! skips rules, or all of them, and turns any warning into a failed build.
//! Rule names, descriptions and messages are BuildKit's, so scripts and
//! `skip=` lists written for it work unchanged.

mod casing;
mod from;
mod policy;
mod stages;

pub use policy::{CheckPolicy, PolicyError};

use crate::parser::{parse, Node, ParseError};
use std::collections::BTreeMap;

/// The build arg that overrides the `# check=` directive.
pub const CHECK_BUILD_ARG: &str = "BUILDKIT_DOCKERFILE_CHECK";

/// One rule: BuildKit's name, description and documentation page.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    pub name: &'static str,
    pub description: &'static str,
    slug: &'static str,
}

impl Rule {
    pub fn url(&self) -> String {
        format!("https://docs.docker.com/go/dockerfile/rule/{}/", self.slug)
    }
}

macro_rules! rules {
    ($($id:ident $name:literal $slug:literal $desc:literal;)*) => {
        $(pub(crate) const $id: Rule = Rule { name: $name, description: $desc, slug: $slug };)*
        /// Every rule mybuild checks, by name.
        pub const RULES: &[Rule] = &[$($id),*];
    };
}

rules! {
    STAGE_NAME_CASING "StageNameCasing" "stage-name-casing"
        "Stage names should be lowercase";
    FROM_AS_CASING "FromAsCasing" "from-as-casing"
        "The 'as' keyword should match the case of the 'from' keyword";
    NO_EMPTY_CONTINUATION "NoEmptyContinuation" "no-empty-continuation"
        "Empty continuation lines will become errors in a future release";
    CONSISTENT_INSTRUCTION_CASING "ConsistentInstructionCasing" "consistent-instruction-casing"
        "All commands within the Dockerfile should use the same casing (either upper or lower)";
    DUPLICATE_STAGE_NAME "DuplicateStageName" "duplicate-stage-name"
        "Stage names should be unique";
    RESERVED_STAGE_NAME "ReservedStageName" "reserved-stage-name"
        "Reserved words should not be used as stage names";
    JSON_ARGS_RECOMMENDED "JSONArgsRecommended" "json-args-recommended"
        "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals";
    MAINTAINER_DEPRECATED "MaintainerDeprecated" "maintainer-deprecated"
        "The MAINTAINER instruction is deprecated, use a label instead to define an image author";
    UNDEFINED_ARG_IN_FROM "UndefinedArgInFrom" "undefined-arg-in-from"
        "FROM command must use declared ARGs";
    WORKDIR_RELATIVE_PATH "WorkdirRelativePath" "workdir-relative-path"
        "Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes";
    MULTIPLE_INSTRUCTIONS_DISALLOWED "MultipleInstructionsDisallowed" "multiple-instructions-disallowed"
        "Multiple instructions of the same type should not be used in the same stage";
    LEGACY_KEY_VALUE_FORMAT "LegacyKeyValueFormat" "legacy-key-value-format"
        "Legacy key/value format with whitespace separator should not be used";
    REDUNDANT_TARGET_PLATFORM "RedundantTargetPlatform" "redundant-target-platform"
        "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior";
    SECRETS_USED_IN_ARG_OR_ENV "SecretsUsedInArgOrEnv" "secrets-used-in-arg-or-env"
        "Sensitive data should not be used in the ARG or ENV commands";
    INVALID_DEFAULT_ARG_IN_FROM "InvalidDefaultArgInFrom" "invalid-default-arg-in-from"
        "Default value for global ARG results in an empty or invalid base image name";
    FROM_PLATFORM_FLAG_CONST_DISALLOWED "FromPlatformFlagConstDisallowed" "from-platform-flag-const-disallowed"
        "FROM --platform flag should not use a constant value";
    EXPOSE_PROTO_CASING "ExposeProtoCasing" "expose-proto-casing"
        "Protocol in EXPOSE instruction should be lowercase";
}

/// One violation: the rule, what exactly is wrong, and the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub rule: &'static Rule,
    pub detail: String,
    pub line: usize,
}

impl Warning {
    fn new(rule: &'static Rule, detail: impl Into<String>, line: usize) -> Warning {
        Warning {
            rule,
            detail: detail.into(),
            line,
        }
    }

    /// BuildKit's one-line form: `Rule: detail (line N)`.
    pub fn short(&self) -> String {
        format!("{}: {} (line {})", self.rule.name, self.detail, self.line)
    }
}

/// What the checks found in one Dockerfile, under its policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    /// By line, then by message.
    pub warnings: Vec<Warning>,
    /// `error=true`: any warning fails the build.
    pub fatal: bool,
    /// The line of the `# check=` directive, where a fatal lint points.
    pub directive_line: Option<usize>,
}

impl Lint {
    /// `lint violation found for rules: A, B` when warnings are fatal.
    pub fn violation(&self) -> Option<String> {
        if !self.fatal || self.warnings.is_empty() {
            return None;
        }
        let mut names: Vec<&str> = self.warnings.iter().map(|w| w.rule.name).collect();
        names.sort_unstable();
        names.dedup();
        Some(format!(
            "lint violation found for rules: {}",
            names.join(", ")
        ))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Runs every rule the policy keeps over `text`.
pub fn lint(text: &str, build_args: &BTreeMap<String, String>) -> Result<Lint, CheckError> {
    let df = parse(text)?;
    let directive = df.directives.iter().find(|(n, _)| n == "check");
    let policy = match build_args.get(CHECK_BUILD_ARG) {
        Some(value) => CheckPolicy::parse(value)?,
        None => match directive {
            Some((_, value)) => CheckPolicy::parse(value)?,
            None => CheckPolicy::default(),
        },
    };
    let mut warnings = Vec::new();
    casing::check(&df.instructions, text, &mut warnings);
    stages::check(&df.instructions, &mut warnings);
    from::check(&df.instructions, df.escape, &mut warnings);
    warnings.retain(|w| policy.keeps(w.rule.name));
    warnings.sort_by(|a, b| (a.line, &a.detail).cmp(&(b.line, &b.detail)));
    let directive_line = directive.and_then(|_| directive_line(text));
    Ok(Lint {
        warnings,
        fatal: policy.error,
        directive_line,
    })
}

/// The line of the `# check=` directive among the leading comment lines.
fn directive_line(text: &str) -> Option<usize> {
    text.lines()
        .take_while(|l| l.trim_start().starts_with('#'))
        .position(|l| {
            let body = l.trim_start()[1..].trim_start();
            body.to_ascii_lowercase().starts_with("check")
        })
        .map(|i| i + 1)
}

/// The keyword of `node` is all upper- or all lowercase.
fn cased(word: &str, upper: bool) -> bool {
    if upper {
        word == word.to_ascii_uppercase()
    } else {
        word == word.to_ascii_lowercase()
    }
}

/// Splits the instructions into stages: each starts at a FROM (ARGs before
/// the first FROM are global and belong to none).
fn stages(nodes: &[Node]) -> Vec<&[Node]> {
    let starts: Vec<usize> = (nodes.iter().enumerate())
        .filter(|(_, n)| n.command() == "from")
        .map(|(i, _)| i)
        .collect();
    let ends = starts.iter().skip(1).copied().chain([nodes.len()]);
    starts
        .iter()
        .zip(ends)
        .map(|(&s, e)| &nodes[s..e])
        .collect()
}

#[cfg(test)]
mod tests;
