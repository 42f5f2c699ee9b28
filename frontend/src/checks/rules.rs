//! The rules (BuildKit's names, descriptions and pages), the warnings
//! they raise, and what the rule files share.

use crate::parser::Node;

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
    /// BuildKit's one-line form: `Rule: detail (line N)`.
    pub fn short(&self) -> String {
        format!("{}: {} (line {})", self.rule.name, self.detail, self.line)
    }
}

/// The warnings found so far.
#[derive(Default)]
pub(super) struct Findings(pub(super) Vec<Warning>);

impl Findings {
    pub(super) fn add(&mut self, rule: &'static Rule, line: usize, detail: impl Into<String>) {
        self.0.push(Warning {
            rule,
            detail: detail.into(),
            line,
        });
    }
}

/// The keyword of `node` is all upper- or all lowercase.
pub(super) fn cased(word: &str, upper: bool) -> bool {
    if upper {
        word == word.to_ascii_uppercase()
    } else {
        word == word.to_ascii_lowercase()
    }
}

/// Splits the instructions into stages: each starts at a FROM (ARGs before
/// the first FROM are global and belong to none).
pub(super) fn stages(nodes: &[Node]) -> Vec<&[Node]> {
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
