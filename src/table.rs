//! How the listing commands' tables (`images`, `history`, `ps`) show
//! values: times as ages, long text cut to a column.

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
}
