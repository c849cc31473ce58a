//! The one wall clock. Store operations never read it: the connection reads it once per batch
//! and passes `now_ms` down (and across cores in each hop), so time stays a parameter.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    since_epoch().as_millis() as u64
}

/// Unix time as (seconds, microseconds of the second), for TIME.
pub fn now_secs_micros() -> (u64, u32) {
    let d = since_epoch();
    (d.as_secs(), d.subsec_micros())
}
