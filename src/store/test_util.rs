//! Helpers shared by the store's unit tests.

use super::*;

/// The tests' clock: a fixed unix time in ms.
pub(super) const T0: u64 = 1_700_000_000_000;

/// SET k v, no expiry, at T0.
pub(super) fn set(s: &mut Store, k: &str, v: &str) {
    s.set(
        k.as_bytes(),
        v.as_bytes(),
        SetCond::Always,
        ExpiryUpdate::Persist,
        false,
        T0,
    )
    .unwrap();
}

/// SET k v PXAT at, at T0.
pub(super) fn set_px(s: &mut Store, k: &str, v: &str, at: u64) {
    s.set(
        k.as_bytes(),
        v.as_bytes(),
        SetCond::Always,
        ExpiryUpdate::At(at),
        false,
        T0,
    )
    .unwrap();
}
