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

#[cfg(test)]
mod tests {
    #[test]
    fn scales_by_thousands() {
        assert_eq!(super::scaled(999), (999.0, "B"));
        assert_eq!(super::scaled(1500), (1.5, "kB"));
        assert_eq!(super::scaled(2_000_000), (2.0, "MB"));
    }
}
