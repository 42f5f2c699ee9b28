//! How often and how patiently a request is retried, for every kind of
//! request (pulls, pushes, token fetches).

use std::time::Duration;

/// Attempts per request: the first try and three retries.
pub(crate) const ATTEMPTS: u32 = 4;

/// The wait before retry `attempt + 1`: 100 ms, then four times longer each time.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100 * 4u64.pow(attempt))
}
