//! `ADD <url>`: downloads a file over HTTP(S) into a one-file layer. The
//! body is written and hashed on a blocking thread as it streams in, checked
//! against `--checksum` when given, and only then committed to the store.

use mybuild_cache::{Store, StoreError};
use mybuild_graph::{Digest, HttpSource};
use reqwest::header::LAST_MODIFIED;
use sha2::{Digest as _, Sha256};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("GET {url}: {source}")]
    Request { url: String, source: reqwest::Error },
    #[error("GET {url}: server answered {status}")]
    Status { url: String, status: u16 },
    #[error("ADD {url}: checksum mismatch: expected {expected}, got {actual}")]
    Checksum {
        url: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("ADD {url}: write {path}: {source}")]
    Write {
        url: String,
        path: String,
        source: std::io::Error,
    },
    #[error("ADD {url}: {source}")]
    Store { url: String, source: StoreError },
    #[error("ADD {url}: download thread failed: {message}")]
    Join { url: String, message: String },
}

/// Downloads `src` and commits it as a layer; returns its diff_id.
pub async fn fetch(
    client: &reqwest::Client,
    store: &Arc<Store>,
    src: &HttpSource,
) -> Result<Digest, FetchError> {
    let url = src.url.clone();
    let request = |source| FetchError::Request {
        url: url.clone(),
        source,
    };
    let mut response = client.get(&src.url).send().await.map_err(request)?;
    if !response.status().is_success() {
        return Err(FetchError::Status {
            url,
            status: response.status().as_u16(),
        });
    }
    let modified = response
        .headers()
        .get(LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(last_modified);
    let wd = store.work_dir().map_err(|source| FetchError::Store {
        url: url.clone(),
        source,
    })?;
    // The frontend names the file; refuse anything but one plain name.
    if src.filename.is_empty()
        || src.filename.contains('/')
        || src.filename == "."
        || src.filename == ".."
    {
        return Err(FetchError::Write {
            url,
            path: src.filename.clone(),
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        });
    }
    let path = wd.upper().join(&src.filename);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
    let writer = {
        let (path, url) = (path.clone(), url.clone());
        tokio::task::spawn_blocking(move || write_body(&path, &url, rx, modified))
    };
    while let Some(chunk) = response.chunk().await.map_err(request)? {
        if tx.send(chunk.to_vec()).is_err() {
            break; // the writer failed; its error is reported below
        }
    }
    drop(tx);
    let join = |e: tokio::task::JoinError| FetchError::Join {
        url: url.clone(),
        message: e.to_string(),
    };
    let actual = writer.await.map_err(join)??;
    if let Some(expected) = &src.checksum {
        if *expected != actual {
            return Err(FetchError::Checksum {
                url,
                expected: expected.clone(),
                actual,
            });
        }
    }
    let store2 = store.clone();
    // The work dir moves into the commit: if this future is dropped (a
    // failed branch cancels the build), the blocking commit still owns the
    // files it is packing, and only then are they removed.
    let committed = tokio::task::spawn_blocking(move || {
        let diff = store2.commit_upper(&wd.upper());
        drop(wd);
        diff
    })
    .await
    .map_err(join)?;
    committed.map_err(|source| FetchError::Store { url, source })
}

/// A `Last-Modified` value in any of the three formats RFC 9110 allows
/// (IMF-fixdate, RFC 850, asctime); one that does not parse is as good as
/// none.
///
/// Go's `http.ParseTime` (BuildKit) checks the weekday's spelling but not
/// that it matches the date, while `httpdate` refuses a wrong one; so a
/// date that fails is tried again with each weekday in its place.
fn last_modified(value: &str) -> Option<SystemTime> {
    const DAYS: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    if let Ok(t) = httpdate::parse_http_date(value) {
        return Some(t);
    }
    // The weekday ends at the first comma (IMF-fixdate, RFC 850) or space
    // (asctime).
    let end = value.find([',', ' '])?;
    let (day, rest) = value.split_at(end);
    let long = day.len() > 3;
    if !DAYS.iter().any(|d| *d == day || d[..3] == *day) {
        return None;
    }
    DAYS.iter().find_map(|d| {
        let name = if long { d } else { &d[..3] };
        httpdate::parse_http_date(&format!("{name}{rest}")).ok()
    })
}

/// Writes the streamed body to `path` (mode 0600, as Docker's ADD of a URL)
/// and returns its sha256.
fn write_body(
    path: &std::path::Path,
    url: &str,
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    modified: Option<SystemTime>,
) -> Result<Digest, FetchError> {
    let err = |source| FetchError::Write {
        url: url.to_string(),
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::File::create(path).map_err(err)?;
    let mut hasher = Sha256::new();
    for chunk in rx {
        hasher.update(&chunk);
        file.write_all(&chunk).map_err(err)?;
    }
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(err)?;
    // Without Last-Modified the time is fixed, so the same body always
    // makes the same layer (and the steps after it stay cached).
    file.set_modified(modified.unwrap_or(UNIX_EPOCH))
        .map_err(err)?;
    Ok(Digest::from_sha256(hasher.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> Option<u64> {
        let t = last_modified(s)?;
        Some(t.duration_since(UNIX_EPOCH).unwrap().as_secs())
    }

    #[test]
    fn imf_fixdate_parses() {
        assert_eq!(secs("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
    }

    #[test]
    fn rfc850_date_parses() {
        assert_eq!(secs("Sunday, 06-Nov-94 08:49:37 GMT"), Some(784_111_777));
    }

    #[test]
    fn asctime_date_parses() {
        assert_eq!(secs("Sun Nov  6 08:49:37 1994"), Some(784_111_777));
    }

    #[test]
    fn a_wrong_weekday_is_ignored_as_go_does() {
        assert_eq!(secs("Mon, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(secs("Friday, 06-Nov-94 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(secs("Tue Nov  6 08:49:37 1994"), Some(784_111_777));
        assert_eq!(secs("Xyz, 06 Nov 1994 08:49:37 GMT"), None);
    }

    #[test]
    fn other_dates_are_refused() {
        assert_eq!(secs("yesterday"), None);
        assert_eq!(secs("Sun, 06 Nov 1994 08:49:37 PST"), None);
    }
}
