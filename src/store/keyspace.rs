//! Generic key commands: existence, deletion, expiry, rename, and the walks
//! over all keys (SCAN, KEYS, RANDOMKEY, active expiry).

use super::entry::Slot;
use super::glob::glob_match;
use super::{ExpireCond, Store, StoreError, Ttl, Value, MAX_STRING_LEN};

/// RANDOMKEY probes this many random slots before falling back to a linear
/// walk; with a slab at least 1/8 full the fallback is rarer than 2^-8.
const RANDOM_PROBES: usize = 64;

use super::views::below;

/// splitmix64: a tiny, good-enough generator for RANDOMKEY probes.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    super::views::splitmix(*state)
}

impl Store {
    pub fn exists(&mut self, key: &[u8], now_ms: u64) -> bool {
        let h = self.hash(key);
        self.lookup(h, key, now_ms).is_some()
    }

    /// False for missing or expired keys.
    pub fn del(&mut self, key: &[u8], now_ms: u64) -> bool {
        let h = self.hash(key);
        match self.lookup(h, key, now_ms) {
            Some(idx) => {
                self.unlink(h, idx);
                true
            }
            None => false,
        }
    }

    pub fn key_type(&mut self, key: &[u8], now_ms: u64) -> Option<&'static str> {
        let h = self.hash(key);
        let idx = self.lookup(h, key, now_ms)?;
        Some(self.slab[idx as usize].kind().as_str())
    }

    /// EXPIRE family with absolute `at_ms`. True when the timeout was set
    /// (reply 1). A time at or before `now_ms` deletes the key (if `cond`
    /// passes) and also returns true. GT/LT treat "no TTL" as infinite.
    pub fn expire_at(&mut self, key: &[u8], at_ms: u64, cond: ExpireCond, now_ms: u64) -> bool {
        let h = self.hash(key);
        let Some(idx) = self.lookup(h, key, now_ms) else {
            return false;
        };
        let cur = self.expiry_of(idx);
        let pass = match cond {
            ExpireCond::Always => true,
            ExpireCond::Nx => cur.is_none(),
            ExpireCond::Xx => cur.is_some(),
            ExpireCond::Gt => matches!(cur, Some(c) if at_ms > c),
            ExpireCond::Lt => cur.is_none_or(|c| at_ms < c),
        };
        if !pass {
            return false;
        }
        if at_ms <= now_ms {
            self.unlink(h, idx);
        } else {
            self.set_expiry(idx, Some(at_ms));
        }
        true
    }

    /// True if the key had a TTL and it was removed.
    pub fn persist(&mut self, key: &[u8], now_ms: u64) -> bool {
        let h = self.hash(key);
        let Some(idx) = self.lookup(h, key, now_ms) else {
            return false;
        };
        if self.expiry_of(idx).is_none() {
            return false;
        }
        self.set_expiry(idx, None);
        true
    }

    /// Remaining ms.
    pub fn ttl(&mut self, key: &[u8], now_ms: u64) -> Ttl {
        match self.expire_time(key, now_ms) {
            // lookup() guarantees at > now_ms for a live key.
            Ttl::Ms(at) => Ttl::Ms(at.saturating_sub(now_ms)),
            other => other,
        }
    }

    /// Absolute Unix ms.
    pub fn expire_time(&mut self, key: &[u8], now_ms: u64) -> Ttl {
        let h = self.hash(key);
        match self.lookup(h, key, now_ms) {
            None => Ttl::Missing,
            Some(idx) => self.expiry_of(idx).map_or(Ttl::Persistent, Ttl::Ms),
        }
    }

    /// Removes `key`, returning its value and absolute expiry (cross-shard
    /// RENAME, source side).
    pub fn take(&mut self, key: &[u8], now_ms: u64) -> Option<(Value, Option<u64>)> {
        let h = self.hash(key);
        let idx = self.lookup(h, key, now_ms)?;
        let at = self.expiry_of(idx);
        if !self.slab[idx as usize].is_string() {
            let value = self.value_at(idx);
            self.unlink(h, idx);
            return Some((value, at));
        }
        let (data, kl) = self.unlink(h, idx);
        let mut v = data.into_vec();
        v.drain(..kl);
        Some((Value::String(v), at))
    }

    /// Unconditional overwrite (cross-shard RENAME, destination side). An
    /// expiry at or before `now_ms` leaves the key absent. A key or value over
    /// MAX_STRING_LEN (which no other store could have produced) or a full slab is an error,
    /// and the destination is left absent: the caller reports it rather than lose it silently.
    pub fn put(
        &mut self,
        key: &[u8],
        value: &Value,
        expire_at: Option<u64>,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let h = self.hash(key);
        if let Some(idx) = self.lookup(h, key, now_ms) {
            self.unlink(h, idx);
        }
        if matches!(expire_at, Some(t) if t <= now_ms) {
            return Ok(());
        }
        self.insert_value(h, key, value, expire_at).map(|_| ())
    }

    /// Same-shard RENAME/RENAMENX, keeping the TTL. NoSuchKey if `src` is
    /// missing; with `nx` an existing `dst` gives Ok(false); `src == dst` is
    /// Ok(true) for RENAME and Ok(false) for RENAMENX, key unchanged.
    pub fn rename(
        &mut self,
        src: &[u8],
        dst: &[u8],
        nx: bool,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let hs = self.hash(src);
        let Some(si) = self.lookup(hs, src, now_ms) else {
            return Err(StoreError::NoSuchKey);
        };
        if src == dst {
            return Ok(!nx);
        }
        if dst.len() > MAX_STRING_LEN {
            return Err(StoreError::TooLong);
        }
        let hd = self.hash(dst);
        if let Some(di) = self.lookup(hd, dst, now_ms) {
            if nx {
                return Ok(false);
            }
            self.unlink(hd, di);
        }
        let at = self.expiry_of(si);
        let enc = self.slab[si as usize].enc();
        // The payload moves whole: a big value's object stays where it is, named by it.
        let (data, kl) = self.unlink_raw(hs, si, false);
        // Cannot fail: dst length checked, and a slot was just freed.
        match enc {
            None => self.insert(hd, dst, data.get(kl..).unwrap_or(&[]), at)?,
            Some(e) => self.insert_typed(hd, dst, e, Slot::movable_body(&data, kl), at)?,
        };
        Ok(true)
    }

    /// SCAN over slab slots from `cursor`, examining at most `count` (>= 1)
    /// slots. Returns the next cursor, 0 when the walk is complete. Expired
    /// keys passed over are deleted, never emitted.
    pub fn scan(
        &mut self,
        cursor: u64,
        count: usize,
        pattern: Option<&[u8]>,
        type_filter: Option<&[u8]>,
        now_ms: u64,
        emit: &mut dyn FnMut(&[u8]),
    ) -> u64 {
        let len = self.slab.len();
        let Ok(start) = usize::try_from(cursor) else {
            return 0;
        };
        if start >= len {
            return 0;
        }
        let end = start.saturating_add(count.max(1)).min(len);
        self.visit(start, end, pattern, type_filter, now_ms, emit);
        if end >= len {
            0
        } else {
            end as u64
        }
    }

    /// KEYS: every live key matching the glob. O(n); callers that must not
    /// stall the shard should prefer `scan`.
    pub fn keys(&mut self, pattern: &[u8], now_ms: u64, emit: &mut dyn FnMut(&[u8])) {
        let len = self.slab.len();
        self.visit(0, len, Some(pattern), None, now_ms, emit);
    }

    fn visit(
        &mut self,
        start: usize,
        end: usize,
        pattern: Option<&[u8]>,
        type_filter: Option<&[u8]>,
        now_ms: u64,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let pattern = pattern.filter(|p| *p != b"*");
        for i in start..end {
            if self.slab[i].is_free() || self.expire_if_due(i as u32, now_ms) {
                continue;
            }
            let slot = &self.slab[i];
            if let Some(t) = type_filter {
                if t != slot.kind().as_str().as_bytes() {
                    continue;
                }
            }
            if let Some(p) = pattern {
                if !glob_match(p, slot.key()) {
                    continue;
                }
            }
            emit(slot.key());
        }
    }

    /// RANDOMKEY: random slab probes (uniform over live keys while they hit),
    /// then a linear walk from a random point so it always terminates, even
    /// when every key has expired (those are reclaimed on the way). Worst case
    /// O(slab) only for a nearly empty slab.
    pub fn random_key(&mut self, seed: u64, now_ms: u64) -> Option<&[u8]> {
        let mut rng = seed;
        let mut found = None;
        for _ in 0..RANDOM_PROBES {
            if self.table.is_empty() {
                return None;
            }
            let i = below(splitmix(&mut rng), self.slab.len());
            if !self.slab[i].is_free() && !self.expire_if_due(i as u32, now_ms) {
                found = Some(i);
                break;
            }
        }
        if found.is_none() && !self.table.is_empty() {
            let len = self.slab.len();
            let start = below(splitmix(&mut rng), len);
            for k in 0..len {
                let i = (start + k) % len;
                if !self.slab[i].is_free() && !self.expire_if_due(i as u32, now_ms) {
                    found = Some(i);
                    break;
                }
            }
        }
        found.map(|i| self.slab[i].key())
    }

    /// Active expiry: examines up to `budget` volatile keys (each at most once
    /// per call), resuming where the previous call stopped, and deletes the
    /// expired ones. Returns (examined, expired). O(1) with no TTLs at all.
    pub fn active_expire(&mut self, budget: usize, now_ms: u64) -> (usize, usize) {
        let limit = budget.min(self.vol_at.len());
        let (mut examined, mut expired) = (0, 0);
        while examined < limit {
            if self.vol_cursor >= self.vol_at.len() {
                self.vol_cursor = 0;
                if self.vol_at.is_empty() {
                    break;
                }
            }
            examined += 1;
            let pos = self.vol_cursor;
            if self.vol_at[pos] <= now_ms {
                // Swap-remove brings the last entry into `pos`: examine it next
                // without advancing.
                let idx = self.vol_slot[pos];
                let h = self.hash(self.slab[idx as usize].key());
                self.expired_keys += 1;
                self.journal_expired(idx);
                self.unlink(h, idx);
                expired += 1;
            } else {
                self.vol_cursor += 1;
            }
        }
        (examined, expired)
    }
}
