//! Byte sizes in decimal units (1 kB = 1000 B), as Docker and BuildKit
//! print them. Each table keeps its own precision; the scaling is here.

const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];

/// `bytes` in the largest unit that keeps the value below 1000.
pub fn scaled(bytes: u64) -> (f64, &'static str) {
    let (mut v, mut u) = (bytes as f64, 0);
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    (v, UNITS[u])
}

/// A size as Docker's image tables show it: `999B`, `4.400MB`, `12GB`
/// (three decimals at most, `.000` dropped).
pub(crate) fn human_size(bytes: u64) -> String {
    match scaled(bytes) {
        (_, "B") => format!("{bytes}B"),
        (v, unit) => format!("{v:.3}{unit}").replace(".000", ""),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scales_by_thousands() {
        assert_eq!(super::scaled(999), (999.0, "B"));
        assert_eq!(super::scaled(1500), (1.5, "kB"));
        assert_eq!(super::scaled(2_000_000), (2.0, "MB"));
    }

    #[test]
    fn human_sizes_as_docker_tables_show_them() {
        assert_eq!(super::human_size(999), "999B");
        assert_eq!(super::human_size(4_400_000), "4.400MB");
    }
}
