//! Each rule on Dockerfiles that break it and on ones that do not.

use super::*;

fn found(text: &str) -> Vec<String> {
    found_with(text, &[])
}

fn found_with(text: &str, args: &[(&str, &str)]) -> Vec<String> {
    let args = args
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lint = lint(text, &args).unwrap();
    lint.warnings.iter().map(Warning::short).collect()
}

#[test]
fn clean_dockerfiles_have_no_warnings() {
    let text = "ARG BASE=busybox\nFROM $BASE AS build\nWORKDIR /src\nENV A=1 B=2\nCOPY . .\n\
                RUN make\nFROM build\nWORKDIR sub\nCMD [\"/app\"]\nEXPOSE 80/tcp\n";
    assert_eq!(found(text), Vec::<String>::new());
    assert_eq!(found("from scratch\ncopy a /b\n"), Vec::<String>::new());
}

#[test]
fn casing_rules() {
    assert_eq!(
        found("FROM scratch AS Build\nFROM scratch as b2\nfrom scratch AS b3\n"),
        [
            "StageNameCasing: Stage name 'Build' should be lowercase (line 1)",
            "FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 2)",
            "FromAsCasing: 'AS' and 'from' keywords' casing do not match (line 3)",
            "ConsistentInstructionCasing: Command 'from' should match the case of the command majority (uppercase) (line 3)",
        ]
    );
    assert_eq!(
        found("frOM scratch as base\nfrom scratch as b2\n"),
        ["ConsistentInstructionCasing: Command 'frOM' should match the case of the command majority (lowercase) (line 1)"]
    );
    assert_eq!(
        found("FROM scratch\nEXPOSE 80/TCP 81/udp\n"),
        ["ExposeProtoCasing: Defined protocol '80/TCP' in EXPOSE instruction should be lowercase (line 2)"]
    );
}

#[test]
fn empty_continuation_lines_are_found_outside_heredocs() {
    let text = "FROM scratch\nCOPY a \\\n\nb /\nCOPY a \\\n  b /\nRUN <<EOF\n\nEOF\n";
    assert_eq!(
        found(text),
        ["NoEmptyContinuation: Empty continuation line (line 4)"]
    );
}

#[test]
fn stage_rules() {
    assert_eq!(
        found("FROM scratch AS b\nFROM scratch AS b\nFROM scratch AS scratch\n"),
        [
            "DuplicateStageName: Duplicate stage name \"b\", stage names should be unique (line 2)",
            "ReservedStageName: Stage name should not use the same name as reserved stage \"scratch\" (line 3)",
        ]
    );
    let multi = "FROM scratch\nENTRYPOINT [\"/a\"]\nCMD [\"/a\"]\nHEALTHCHECK CMD [\"/a\"]\n\
                 ENTRYPOINT [\"/b\"]\nCMD [\"/b\"]\nHEALTHCHECK CMD [\"/b\"]\n";
    let warnings = found(multi);
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings[0].starts_with("MultipleInstructionsDisallowed: Multiple ENTRYPOINT"));
    assert!(warnings[2].ends_with("only the last one will be used (line 4)"));
    // One per stage is fine.
    let staged = "FROM scratch AS a\nCMD [\"/a\"]\nFROM a\nCMD [\"/b\"]\n";
    assert_eq!(found(staged), Vec::<String>::new());
}

#[test]
fn shell_form_cmd_unless_a_shell_is_set_here_or_below() {
    assert_eq!(
        found("FROM scratch\nCMD run\nENTRYPOINT run\n"),
        [
            "JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 2)",
            "JSONArgsRecommended: JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals (line 3)",
        ]
    );
    let shell = "FROM scratch AS base\nSHELL [\"/bin/x\"]\nFROM base\nCMD run\n";
    assert_eq!(found(shell), Vec::<String>::new());
}

#[test]
fn workdir_maintainer_and_legacy_key_values() {
    assert_eq!(
        found("FROM scratch\nWORKDIR app/\nMAINTAINER me\nENV k v\nLABEL a=b\n"),
        [
            "WorkdirRelativePath: Relative workdir \"app/\" can have unexpected results if the base image changes (line 2)",
            "MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label (line 3)",
            "LegacyKeyValueFormat: \"ENV key=value\" should be used instead of legacy \"ENV key value\" format (line 4)",
        ]
    );
}

#[test]
fn secret_like_names_in_arg_and_env() {
    let text = "FROM scratch\nARG SECRET_PASSPHRASE\nENV password=x sunflower=y\n\
                ARG a_token=1 public_key=2 monkey=3\n";
    assert_eq!(
        found(text),
        [
            "SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ARG \"SECRET_PASSPHRASE\") (line 2)",
            "SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ENV \"password\") (line 3)",
            "SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ARG \"a_token\") (line 4)",
        ]
    );
}

#[test]
fn from_args_and_platforms() {
    assert_eq!(
        found("FROM --platform=$BULIDPLATFORM scratch\n"),
        ["UndefinedArgInFrom: FROM argument 'BULIDPLATFORM' is not declared (did you mean BUILDPLATFORM?) (line 1)"]
    );
    assert_eq!(
        found("ARG tag=latest\nFROM busybox:${tag}${version} AS b\n"),
        ["UndefinedArgInFrom: FROM argument 'version' is not declared (line 2)"]
    );
    assert_eq!(
        found("ARG VERSION\nFROM busybox:$VERSION\nFROM $VERSION\n"),
        [
            "InvalidDefaultArgInFrom: Default value for ARG busybox:$VERSION results in empty or invalid base image name (line 2)",
            "InvalidDefaultArgInFrom: Default value for ARG $VERSION results in empty or invalid base image name (line 3)",
        ]
    );
    assert_eq!(
        found("ARG V\nFROM busybox:stable${V}\n"),
        Vec::<String>::new()
    );
    assert_eq!(
        found("FROM --platform=${TARGETPLATFORM} scratch\nFROM --platform=linux/amd64 scratch\n\
               FROM --platform=linux/amd64 scratch AS build-amd64\n"),
        [
            "RedundantTargetPlatform: Setting platform to predefined ${TARGETPLATFORM} in FROM is redundant as this is the default behavior (line 1)",
            "FromPlatformFlagConstDisallowed: FROM --platform flag should not use constant value \"linux/amd64\" (line 2)",
        ]
    );
}

#[test]
fn the_policy_skips_rules_and_makes_warnings_fatal() {
    let text =
        "#check=skip=ConsistentInstructionCasing;error=true\nFROM scratch as base\ncopy a b\n";
    let lint = lint(text, &BTreeMap::new()).unwrap();
    assert_eq!(lint.warnings.len(), 1);
    assert_eq!(lint.warnings[0].rule.name, "FromAsCasing");
    assert_eq!(lint.directive_line, Some(1));
    assert_eq!(
        lint.violation().as_deref(),
        Some("lint violation found for rules: FromAsCasing")
    );
    // The build arg replaces the directive.
    let skip_all = [(CHECK_BUILD_ARG, "skip=all")];
    assert_eq!(found_with(text, &skip_all), Vec::<String>::new());
    let text = "#check=skip=all\nFROM scratch as base\n";
    assert_eq!(found(text), Vec::<String>::new());
    let warn = [(CHECK_BUILD_ARG, "error=false")];
    assert_eq!(found_with(text, &warn).len(), 1);
    for bad in ["error=maybe", "skip", "colour=red"] {
        let e = CheckPolicy::parse(bad).unwrap_err().to_string();
        assert!(e.contains(bad.split('=').next().unwrap()), "{bad}: {e}");
    }
}

#[test]
fn every_rule_has_a_documentation_page() {
    for rule in RULES {
        assert!(rule
            .url()
            .starts_with("https://docs.docker.com/go/dockerfile/rule/"));
        assert!(!rule.description.is_empty());
    }
    assert_eq!(RULES.len(), 17);
}
