//! Issue 17: BuildKit's build checks: the summary after a build, `--check`
//! / `--call=check` reports, and `# check=` policies (skip, error=true),
//! also given as the `BUILDKIT_DOCKERFILE_CHECK` build arg.

use crate::util::{assert_success, stderr, stdout, TestEnv};

const WARNED: &str = "FROM busybox as Build\nENV k v\nRUN touch /ran\nCMD echo hi\n";

#[test]
fn check_reports_every_warning_in_full_and_builds_nothing() {
    let env = TestEnv::new();
    let ctx = env.context("ctx", WARNED, &[]);
    for flag in ["--check", "--call=check"] {
        let out = env.mybuild(&["build", flag, "-t", "never", ctx.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{flag}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.starts_with("Check complete, 4 warnings have been found!\n"),
            "{text}"
        );
        let block = "WARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/\n\
                     JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals\n\
                     JSON arguments recommended for CMD to prevent unintended behavior related to OS signals\n\
                     Dockerfile:4\n--------------------\n   2 |     ENV k v\n   3 |     RUN touch /ran\n\
                     \u{20}  4 | >>> CMD echo hi\n   5 |     \n--------------------\n";
        assert!(text.contains(block), "{text}");
        for rule in ["FromAsCasing", "StageNameCasing", "LegacyKeyValueFormat"] {
            assert!(
                text.contains(&format!("WARNING: {rule} - ")),
                "{rule}: {text}"
            );
        }
        assert!(stderr(&out).contains("4 build check warning(s) found in Dockerfile"));
    }
    let images = stdout(&env.mybuild(&["images"]));
    assert!(!images.contains("never"), "nothing is built: {images}");
    let clean = env.context("clean", "FROM busybox\nCMD [\"true\"]\n", &[]);
    let out = env.mybuild(&["build", "--check", clean.to_str().unwrap()]);
    assert_success(&out, "--check of a clean Dockerfile");
    assert_eq!(stdout(&out), "Check complete, no warnings found.\n");
}

#[test]
fn a_build_ends_with_the_warnings_unless_quiet() {
    let env = TestEnv::new();
    let ctx = env.context("ctx", WARNED, &[]);
    let (out, _) = env.build(&ctx, &[]);
    assert_success(&out, "build with warnings");
    let err = stderr(&out);
    let summary = "\n 4 warnings found (use --check to expand):\n \
                   - FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)\n \
                   - StageNameCasing: Stage name 'Build' should be lowercase (line 1)\n \
                   - LegacyKeyValueFormat: \"ENV key=value\" should be used instead of legacy \"ENV key value\" format (line 2)\n \
                   - JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 4)\n";
    assert!(err.ends_with(summary), "{err}");
    let out = env.mybuild(&["build", "-q", ctx.to_str().unwrap()]);
    assert_success(&out, "quiet build");
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let out = env.legacy(&ctx, &[]);
    assert_success(&out, "legacy build");
    assert!(
        !stdout(&out).contains("warnings found"),
        "the classic builder has no checks"
    );
}

#[test]
fn check_policies_skip_rules_or_fail_the_build() {
    let env = TestEnv::new();
    let fatal =
        format!("# check=skip=JSONArgsRecommended,LegacyKeyValueFormat;error=true\n{WARNED}");
    let ctx = env.context("fatal", &fatal, &[]);
    let (out, _) = env.build(&ctx, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("ERROR: lint violation found for rules: FromAsCasing, StageNameCasing"),
        "{err}"
    );
    assert!(err.contains(" 2 warnings found"), "{err}");
    assert!(
        err.contains("Dockerfile:1\n--------------------\n   1 | >>> # check="),
        "{err}"
    );
    assert!(!err.contains("RUN touch"), "nothing ran: {err}");
    // The build arg replaces the directive.
    let (out, archive) = env.build(&ctx, &["--build-arg", "BUILDKIT_DOCKERFILE_CHECK=skip=all"]);
    assert_success(&out, "skip=all from the build arg");
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert!(archive.exists());
    let bad = env.context("bad", "# check=error=maybe\nFROM busybox\n", &[]);
    let (out, _) = env.build(&bad, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("error=maybe is not a boolean"),
        "{}",
        stderr(&out)
    );
}
