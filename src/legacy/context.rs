//! The classic builder's first line, `Sending build context to Docker
//! daemon  3.072kB`: the size of the context as the tar the docker CLI
//! would have sent. mybuild sends nothing (the context is read in place),
//! so the size is counted, not made.

use mybuild_solver::context::Dockerignore;
use std::path::Path;

const BLOCK: u64 = 512;

/// The tar's size: a header block per entry, file data padded to blocks,
/// and the two zero blocks that end an archive.
pub fn tar_size(context: &Path, ignore: &Dockerignore) -> u64 {
    let mut total = 2 * BLOCK;
    let mut stack = vec![(context.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if ignore.is_excluded(&path) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            total += BLOCK;
            if meta.is_dir() {
                stack.push((entry.path(), path));
            } else if meta.is_file() {
                total += meta.len().div_ceil(BLOCK) * BLOCK;
            }
        }
    }
    total
}

/// Docker's `HumanSizeWithPrecision(n, 4)`: decimal units, four
/// significant digits (`3.072kB`, `512B`, `1.235MB`).
pub fn human_size(bytes: u64) -> String {
    let (v, unit) = crate::units::scaled(bytes);
    format!("{}{unit}", significant(v, 4))
}

/// `%.4g` without Go's exponent form (values here are below 1000).
fn significant(v: f64, digits: usize) -> String {
    let int_digits = if v >= 1.0 {
        (v.log10().floor() as usize) + 1
    } else {
        1
    };
    let decimals = digits.saturating_sub(int_digits);
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_docker() {
        assert_eq!(human_size(3072), "3.072kB");
        assert_eq!(human_size(4096), "4.096kB");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(1_234_567), "1.235MB");
        assert_eq!(human_size(10_000), "10kB");
    }

    #[test]
    fn counts_the_context_as_a_tar() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("Dockerfile"), vec![b'x'; 253]).unwrap();
        std::fs::write(tmp.path().join("app.conf"), b"port 6379\n").unwrap();
        std::fs::create_dir(tmp.path().join("skip")).unwrap();
        std::fs::write(tmp.path().join("skip/big"), vec![0; 5000]).unwrap();
        let none = Dockerignore::new(&[]).unwrap();
        let skip = Dockerignore::new(&["skip".to_string()]).unwrap();
        // The reference transcript's context: two small files, 3.072kB.
        assert_eq!(tar_size(tmp.path(), &skip), 3072);
        assert_eq!(tar_size(tmp.path(), &none), 3072 + 512 + 512 + 5120);
    }
}
