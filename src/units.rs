//! Byte sizes in decimal units (1 kB = 1000 B), as Docker and BuildKit
//! print them (each table keeps its own precision; the scaling is here),
//! and sizes read in binary units, as Docker reads them.

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

/// `512MB`, `10GB`, `1.5GiB`, `1048576`: binary units, as Docker reads them.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(format!("invalid size {s:?}: unknown unit {unit:?}")),
    };
    Ok((n * (1u64 << shift) as f64) as u64)
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
