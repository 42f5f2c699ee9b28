use super::*;

fn ignore(text: &str) -> Dockerignore {
    Dockerignore::new(&Dockerignore::parse(text)).unwrap()
}

#[test]
fn parse_cleans_and_skips_comments() {
    let text = "\u{feff}# comment\n\n  /docs/  \n! keep/./x \nbuild//out/../bin\n!/abs\n";
    assert_eq!(
        Dockerignore::parse(text),
        vec!["docs", "!keep/x", "build/bin", "!abs"]
    );
}

#[test]
fn conformance_case_rules() {
    let ig =
        ignore("# comment\nlogs/*\n!logs/keep.log\n**/*.o\nbuild\n*.env\ndocs/\n!docs/readme.md\n");
    let table = [
        ("logs/a.log", true),
        ("logs/keep.log", false),
        ("logs", false),
        ("top.o", true),
        ("src/deep/x.o", true),
        ("src/deep/y.c", false),
        ("src/main.c", false),
        ("build", true),
        ("build/out", true),
        ("secret.env", true),
        ("sub/secret.env", false),
        ("docs", true),
        ("docs/readme.md", false),
        ("docs/other.md", true),
        ("Dockerfile", false),
        (".dockerignore", false),
    ];
    for (path, want) in table {
        assert_eq!(ig.is_excluded(path), want, "{path}");
    }
}

#[test]
fn star_stays_in_one_segment_but_doublestar_spans() {
    let ig = ignore("*.md\n");
    assert!(ig.is_excluded("README.md"));
    assert!(!ig.is_excluded("docs/guide.md"));
    let ig = ignore("docs/*.md\n");
    assert!(ig.is_excluded("docs/guide.md"));
    assert!(!ig.is_excluded("docs/sub/guide.md"));
    assert!(!ig.is_excluded("README.md"));
    let ig = ignore("docs/**/*.md\n");
    assert!(ig.is_excluded("docs/guide.md"));
    assert!(ig.is_excluded("docs/a/b/guide.md"));
    assert!(!ig.is_excluded("other/guide.md"));
    let ig = ignore("a/**\n");
    assert!(ig.is_excluded("a/x/y") && !ig.is_excluded("ab"));
}

#[test]
fn last_match_wins_and_exceptions_reinclude() {
    let ig = ignore("*\n!src\nsrc/*.tmp\n");
    assert!(ig.is_excluded("Dockerfile"));
    assert!(!ig.is_excluded("src"));
    assert!(!ig.is_excluded("src/main.rs"));
    assert!(ig.is_excluded("src/x.tmp"));
    assert!(ig.has_exceptions());
    assert!(!ignore("a\n").has_exceptions());
}

#[test]
fn directory_pattern_excludes_everything_below() {
    let ig = ignore("node_modules\n");
    assert!(ig.is_excluded("node_modules/a/b/c.js"));
    assert!(!ig.is_excluded("src/node_modules/x"));
    let ig = ignore("**/node_modules\n");
    assert!(ig.is_excluded("src/node_modules/x"));
}

#[test]
fn classes_and_question_marks() {
    let ig = ignore("file[0-9].txt\n?.log\n");
    assert!(ig.is_excluded("file3.txt") && !ig.is_excluded("filex.txt"));
    assert!(ig.is_excluded("a.log") && !ig.is_excluded("ab.log"));
}

#[test]
fn bad_patterns_are_errors() {
    assert!(Dockerignore::new(&["!".to_string()]).is_err());
    assert!(Dockerignore::new(&["[abc".to_string()]).is_err());
}

#[test]
fn go_clean_matches_filepath_clean() {
    assert_eq!(go_clean("a/../../b"), "../b");
    assert_eq!(go_clean("/../a//b/"), "/a/b");
    assert_eq!(go_clean("./"), ".");
}
