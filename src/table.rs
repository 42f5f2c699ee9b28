//! How the listing commands' tables (`images`, `history`, `ps`) show
//! values: times as ages, long text cut to a column, columns aligned as
//! Docker's tabwriter aligns them.

use std::time::{Duration, SystemTime};

/// "3 hours ago", from an RFC 3339 UTC time like `2024-01-02T03:04:05Z`;
/// text that is no such time is shown as it is.
pub(crate) fn ago(rfc3339: &str, now: SystemTime) -> String {
    let Some(then) = parse_utc(rfc3339) else {
        return rfc3339.to_string();
    };
    let secs = now.duration_since(then).map_or(0, |d| d.as_secs());
    let (n, unit) = match secs {
        s if s < 60 => (s, "second"),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86400 => (s / 3600, "hour"),
        s if s < 86400 * 14 => (s / 86400, "day"),
        s if s < 86400 * 60 => (s / (86400 * 7), "week"),
        s if s < 86400 * 365 * 2 => (s / (86400 * 30), "month"),
        s => (s / (86400 * 365), "year"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// The whole second of `YYYY-MM-DDTHH:MM:SS[.frac]Z`; whatever follows
/// the seconds (a fraction, the zone) is not read.
fn parse_utc(s: &str) -> Option<SystemTime> {
    let head = s.get(..19)?;
    // humantime reads years from 1970 on; an earlier one (Go's zero time,
    // 0001-01-01, is common) is read whole 400-year cycles later, where
    // the calendar repeats, and moved back.
    let year: u64 = head.get(..4)?.parse().ok()?;
    let cycles = 1970u64.saturating_sub(year).div_ceil(400);
    let shifted = format!("{:04}{}", year + 400 * cycles, head.get(4..)?);
    let t = humantime::parse_rfc3339_weak(&shifted).ok()?;
    t.checked_sub(Duration::from_secs(CYCLE_SECS * cycles))
}

/// An RFC 3339 UTC time to the nanosecond, for ordering images by it.
pub(crate) fn parse_time(s: &str) -> Option<SystemTime> {
    let whole = parse_utc(s)?;
    let frac = s.get(19..).and_then(|r| r.strip_prefix('.')).unwrap_or("");
    let digits: String = frac
        .chars()
        .take_while(char::is_ascii_digit)
        .take(9)
        .collect();
    let nanos: u64 = format!("{digits:0<9}").parse().ok()?;
    Some(whole + Duration::from_nanos(nanos))
}

/// Docker's `CreatedAt`: `2024-01-02 03:04:05 +0000 UTC`.
pub(crate) fn created_at(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..19)) {
        (Some(date), Some(time)) if parse_utc(rfc3339).is_some() => {
            format!("{date} {time} +0000 UTC")
        }
        _ => rfc3339.to_string(),
    }
}

/// Rows of tab-separated cells as Docker's tables print them (Go's
/// tabwriter with minimum width 10 and padding 3): each column as wide
/// as its widest cell plus 3, the last column not padded.
pub(crate) fn columns(rows: &[String]) -> String {
    let cells: Vec<Vec<&str>> = rows.iter().map(|r| r.split('\t').collect()).collect();
    let mut widths = Vec::new();
    for row in &cells {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            let w = (cell.chars().count() + 3).max(10);
            match widths.get_mut(i) {
                Some(have) if *have < w => *have = w,
                Some(_) => {}
                None => widths.push(w),
            }
        }
    }
    let mut out = String::new();
    for row in &cells {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(widths[i] - cell.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// 400 Gregorian years, in seconds.
const CYCLE_SECS: u64 = 146_097 * 86_400;

/// `s` cut to `max` characters, the last one an ellipsis (Docker's tables).
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn times_read_as_ago() {
        let at = |secs| Some(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(parse_utc("1970-01-02T00:00:01Z"), at(86401));
        assert_eq!(parse_utc("2024-03-01T00:00:00.5Z"), at(1_709_251_200));
        let now = UNIX_EPOCH + Duration::from_secs(1_709_251_200 + 7200);
        assert_eq!(ago("2024-03-01T00:00:00Z", now), "2 hours ago");
        assert_eq!(ago("2024-03-01T00:00:00.9Z", now), "2 hours ago");
        assert_eq!(ago("2024-03-01T01:59:59Z", now), "1 second ago");
        assert_eq!(ago("2024-03-01T03:00:00Z", now), "0 seconds ago");
        assert_eq!(ago("not a time", now), "not a time");
        // Before 1970: Go's zero time, and the last second before the epoch.
        let before = |secs| Some(UNIX_EPOCH - Duration::from_secs(secs));
        assert_eq!(parse_utc("0001-01-01T00:00:00Z"), before(719_162 * 86_400));
        assert_eq!(parse_utc("1969-12-31T23:59:59Z"), before(1));
        assert_eq!(parse_utc("1600-02-29T12:00:00Z"), before(11_670_955_200));
        assert_eq!(ago("0001-01-01T00:00:00Z", now), "2024 years ago");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }

    #[test]
    fn precise_times_and_created_at() {
        let t = parse_time("2024-03-01T00:00:00.25Z").unwrap();
        let base = parse_time("2024-03-01T00:00:00Z").unwrap();
        assert_eq!(t.duration_since(base).unwrap(), Duration::from_millis(250));
        assert_eq!(
            created_at("2024-03-01T04:05:06.7Z"),
            "2024-03-01 04:05:06 +0000 UTC"
        );
    }

    #[test]
    fn columns_align_like_tabwriter() {
        let rows = ["A\tBBBBBBBBBBBB\tC".to_string(), "long-cell\tb\tc".into()];
        let want = format!(
            "{:<12}{:<15}C\n{:<12}{:<15}c\n",
            "A",
            "B".repeat(12),
            "long-cell",
            "b"
        );
        assert_eq!(columns(&rows), want);
        // Short columns are still 10 wide.
        assert_eq!(columns(&["a\tb".to_string()]), format!("{:<10}b\n", "a"));
    }
}
