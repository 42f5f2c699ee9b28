//! Golden tests of the parser dump.
//!
//! - BuildKit's fixtures in `../../shared/parser-fixtures` (required):
//!   every `testfiles/<case>/Dockerfile` must dump to `result` byte for byte,
//!   and every `testfiles-negative/<case>/Dockerfile` must be rejected.
//! - Our own fixtures in `testdata/parser/<case>/{Dockerfile,result}`
//!   (heredocs, BOM, CRLF, flags). Regenerate them after an intended change
//!   with `MYBUILD_BLESS=1 cargo test -p mybuild-frontend --test parser_fixtures`
//!   and review the diff.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

fn dump_file(path: &Path) -> Result<String, String> {
    let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
    mybuild_frontend::parse(&text)
        .map(|df| mybuild_frontend::dump(&df))
        .map_err(|e| e.to_string())
}

#[test]
fn buildkit_fixtures_dump_byte_for_byte() {
    let dir = root().join("../shared/parser-fixtures");
    assert!(
        dir.exists(),
        "{} not found: these goldens are checked against the team's shared fixtures, \
         which sit beside the checkout (../shared)",
        dir.display()
    );
    let mut failures = Vec::new();
    let positives = cases(&dir.join("testfiles"));
    for case in &positives {
        let want = fs::read_to_string(case.join("result")).unwrap();
        match dump_file(&case.join("Dockerfile")) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!(
                "{}:\n--- want\n{want}--- got\n{got}",
                case.display()
            )),
            Err(e) => failures.push(format!("{}: {e}", case.display())),
        }
    }
    let negatives = cases(&dir.join("testfiles-negative"));
    for case in &negatives {
        if let Ok(got) = dump_file(&case.join("Dockerfile")) {
            failures.push(format!("{}: accepted, dumped {got:?}", case.display()));
        }
    }
    assert_eq!(
        positives.len() + negatives.len(),
        37,
        "fixture count changed"
    );
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn own_fixtures_match_golden() {
    let dir = root().join("testdata/parser");
    let update = std::env::var_os("MYBUILD_BLESS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    let all = cases(&dir);
    assert!(
        all.len() >= 8,
        "expected our parser fixtures in {}",
        dir.display()
    );
    for case in all {
        let got = dump_file(&case.join("Dockerfile")).unwrap_or_else(|e| format!("error: {e}\n"));
        let result = case.join("result");
        if update {
            fs::write(&result, &got).unwrap();
            continue;
        }
        let want = fs::read_to_string(&result).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "{}:\n--- want\n{want}--- got\n{got}",
                case.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
