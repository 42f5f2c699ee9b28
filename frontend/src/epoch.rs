//! `SOURCE_DATE_EPOCH`: the build arg (buildx fills it from the client's
//! environment) that pins a build's timestamps, as BuildKit reads it. A set
//! value clamps the file times of every layer the build makes (see
//! `FileOp::clamp_mtime`); the caller stamps the image's `created` times.

use std::collections::BTreeMap;

/// The build arg's name.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

#[derive(Debug, thiserror::Error)]
pub enum EpochError {
    #[error(
        "invalid SOURCE_DATE_EPOCH {value:?}: expected a Unix time in whole seconds, e.g. 1700000000"
    )]
    NotSeconds { value: String },
}

/// A `SOURCE_DATE_EPOCH` value: Unix seconds. An empty value means unset
/// (`SOURCE_DATE_EPOCH=` is the usual way to switch it off, as in buildx).
pub fn parse_epoch(value: &str) -> Result<Option<u64>, EpochError> {
    if value.is_empty() {
        return Ok(None);
    }
    // Digits only: u64's parser would also take a leading `+`.
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EpochError::NotSeconds {
            value: value.into(),
        });
    }
    value.parse().map(Some).map_err(|_| EpochError::NotSeconds {
        value: value.into(),
    })
}

/// The epoch the build args set, if any.
pub fn source_date_epoch(build_args: &BTreeMap<String, String>) -> Result<Option<u64>, EpochError> {
    build_args
        .get(SOURCE_DATE_EPOCH)
        .map_or(Ok(None), |v| parse_epoch(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_whole_seconds_and_refuses_the_rest() {
        assert_eq!(parse_epoch("1700000000").unwrap(), Some(1_700_000_000));
        assert_eq!(parse_epoch("0").unwrap(), Some(0));
        assert_eq!(parse_epoch("").unwrap(), None);
        for bad in [
            "abc",
            "-1",
            "+5",
            "1.5",
            " 1",
            "2023-11-14",
            "99999999999999999999",
        ] {
            let e = parse_epoch(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn reads_the_build_arg() {
        let mut args = BTreeMap::new();
        assert_eq!(source_date_epoch(&args).unwrap(), None);
        args.insert(SOURCE_DATE_EPOCH.to_string(), "42".to_string());
        assert_eq!(source_date_epoch(&args).unwrap(), Some(42));
        args.insert(SOURCE_DATE_EPOCH.to_string(), "x".to_string());
        assert!(source_date_epoch(&args).is_err());
    }
}
