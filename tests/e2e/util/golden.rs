//! Golden files under `testdata/<dir>/`, for the binary's unit tests and
//! the end-to-end tests alike. `MYBUILD_BLESS=1 cargo test` rewrites them
//! from what the code prints now.

use std::path::Path;

pub fn assert_golden(dir: &str, name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(dir)
        .join(name);
    if std::env::var_os("MYBUILD_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (MYBUILD_BLESS=1 writes it)", path.display()));
    assert!(
        want == actual,
        "{} differs (MYBUILD_BLESS=1 rewrites it):\n--- want\n{want}\n--- got\n{actual}",
        path.display()
    );
}
