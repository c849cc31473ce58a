//! String commands: GET/SET family, APPEND, STRLEN, INCR family, ranges.

use super::num::{add_float, fmt_f64, fmt_i64, parse_f64, parse_i64};
use super::{ExpiryUpdate, SetCond, SetOutcome, Store, StoreError, MAX_STRING_LEN};

impl Store {
    /// Live string slot of `key`, WrongType for other types.
    #[inline]
    fn string_slot(
        &mut self,
        hash: u64,
        key: &[u8],
        now_ms: u64,
    ) -> Result<Option<u32>, StoreError> {
        match self.lookup(hash, key, now_ms) {
            Some(idx) if !self.slab[idx as usize].is_string() => Err(StoreError::WrongType),
            other => Ok(other),
        }
    }

    pub fn get(&mut self, key: &[u8], now_ms: u64) -> Result<Option<&[u8]>, StoreError> {
        let h = self.hash(key);
        let idx = self.string_slot(h, key, now_ms)?;
        Ok(idx.map(|i| self.slab[i as usize].value()))
    }

    /// Redis SET: NX/XX, KEEPTTL = Keep, no option = Persist, EX/PX/EXAT/PXAT =
    /// At. `At(t)` with `t <= now_ms` leaves the key absent but still counts as
    /// written. With `want_old` (GET option / GETSET) a non-string key is a
    /// WrongType error and nothing is written, as in Redis.
    pub fn set(
        &mut self,
        key: &[u8],
        value: &[u8],
        cond: SetCond,
        expiry: ExpiryUpdate,
        want_old: bool,
        now_ms: u64,
    ) -> Result<SetOutcome, StoreError> {
        if key.len() > MAX_STRING_LEN || value.len() > MAX_STRING_LEN {
            return Err(StoreError::TooLong);
        }
        let h = self.hash(key);
        let found = if want_old {
            self.string_slot(h, key, now_ms)?
        } else {
            self.lookup(h, key, now_ms)
        };
        let old = match (want_old, found) {
            (true, Some(i)) => Some(self.slab[i as usize].value().to_vec()),
            _ => None,
        };
        match found {
            Some(idx) => {
                if cond == SetCond::Nx {
                    return Ok(SetOutcome {
                        written: false,
                        old,
                    });
                }
                match expiry {
                    ExpiryUpdate::At(t) if t <= now_ms => {
                        self.unlink(h, idx);
                    }
                    ExpiryUpdate::At(t) => {
                        self.replace_value(idx, value);
                        self.set_expiry(idx, Some(t));
                    }
                    ExpiryUpdate::Persist => {
                        self.replace_value(idx, value);
                        self.set_expiry(idx, None);
                    }
                    ExpiryUpdate::Keep => self.replace_value(idx, value),
                }
            }
            None => {
                if cond == SetCond::Xx {
                    return Ok(SetOutcome {
                        written: false,
                        old,
                    });
                }
                match expiry {
                    ExpiryUpdate::At(t) if t <= now_ms => {}
                    ExpiryUpdate::At(t) => {
                        self.insert(h, key, value, Some(t))?;
                    }
                    ExpiryUpdate::Keep | ExpiryUpdate::Persist => {
                        self.insert(h, key, value, None)?;
                    }
                }
            }
        }
        Ok(SetOutcome { written: true, old })
    }

    pub fn get_del(&mut self, key: &[u8], now_ms: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let h = self.hash(key);
        let Some(idx) = self.string_slot(h, key, now_ms)? else {
            return Ok(None);
        };
        let (data, kl) = self.unlink(h, idx);
        let mut v = data.into_vec();
        v.drain(..kl);
        Ok(Some(v))
    }

    /// GETEX: `None` leaves the TTL alone (as does `Keep`); `At(t <= now)`
    /// deletes the key after reading it (the reply borrows the removed value).
    pub fn get_ex(
        &mut self,
        key: &[u8],
        expiry: Option<ExpiryUpdate>,
        now_ms: u64,
    ) -> Result<Option<&[u8]>, StoreError> {
        let h = self.hash(key);
        let Some(idx) = self.string_slot(h, key, now_ms)? else {
            return Ok(None);
        };
        match expiry {
            None | Some(ExpiryUpdate::Keep) => {}
            Some(ExpiryUpdate::Persist) => self.set_expiry(idx, None),
            Some(ExpiryUpdate::At(t)) if t > now_ms => self.set_expiry(idx, Some(t)),
            Some(ExpiryUpdate::At(_)) => {
                let (data, kl) = self.unlink(h, idx);
                self.graveyard = data;
                return Ok(Some(self.graveyard.get(kl..).unwrap_or(&[])));
            }
        }
        Ok(Some(self.slab[idx as usize].value()))
    }

    pub fn append(&mut self, key: &[u8], value: &[u8], now_ms: u64) -> Result<usize, StoreError> {
        let h = self.hash(key);
        match self.string_slot(h, key, now_ms)? {
            Some(idx) => {
                self.snapshot_cow(idx);
                let slot = &mut self.slab[idx as usize];
                let new_len = slot.value().len().saturating_add(value.len());
                if new_len > MAX_STRING_LEN {
                    return Err(StoreError::TooLong);
                }
                let before = slot.total_len();
                slot.append(value);
                let after = slot.total_len();
                self.account_resize(before, after);
                Ok(new_len)
            }
            None => {
                self.insert(h, key, value, None)?;
                Ok(value.len())
            }
        }
    }

    pub fn strlen(&mut self, key: &[u8], now_ms: u64) -> Result<usize, StoreError> {
        let h = self.hash(key);
        Ok(self
            .string_slot(h, key, now_ms)?
            .map_or(0, |i| self.slab[i as usize].value().len()))
    }

    /// INCRBY/DECRBY/INCR/DECR. Missing key counts as 0; keeps the TTL.
    pub fn incr_by(&mut self, key: &[u8], delta: i64, now_ms: u64) -> Result<i64, StoreError> {
        let h = self.hash(key);
        let found = self.string_slot(h, key, now_ms)?;
        let cur = match found {
            Some(idx) => {
                parse_i64(self.slab[idx as usize].value()).ok_or(StoreError::NotInteger)?
            }
            None => 0,
        };
        let new = cur.checked_add(delta).ok_or(StoreError::Overflow)?;
        let mut buf = [0u8; 20];
        let text = fmt_i64(new, &mut buf);
        match found {
            Some(idx) => self.replace_value(idx, text),
            None => {
                self.insert(h, key, text, None)?;
            }
        }
        Ok(new)
    }

    /// INCRBYFLOAT. The sum is computed exactly in decimal and rounded once to
    /// f64, then stored in Redis' human-friendly form (plain decimal, no
    /// exponent, no trailing zeros). Formatting the returned f64 with `{}`
    /// reproduces the stored bytes exactly. Keeps the TTL.
    pub fn incr_by_float(
        &mut self,
        key: &[u8],
        delta: f64,
        now_ms: u64,
    ) -> Result<f64, StoreError> {
        let h = self.hash(key);
        let found = self.string_slot(h, key, now_ms)?;
        let new = match found {
            Some(idx) => {
                let v = self.slab[idx as usize].value();
                let cur = parse_f64(v).ok_or(StoreError::NotFloat)?;
                add_float(Some(v), cur, delta)
            }
            None => add_float(None, 0.0, delta),
        }
        .ok_or(StoreError::NanOrInfinity)?;
        let text = fmt_f64(new);
        match found {
            Some(idx) => self.replace_value(idx, &text),
            None => {
                self.insert(h, key, &text, None)?;
            }
        }
        Ok(new)
    }

    /// GETRANGE with Redis' index rules; missing key or empty range -> empty.
    pub fn get_range(
        &mut self,
        key: &[u8],
        start: i64,
        end: i64,
        now_ms: u64,
    ) -> Result<&[u8], StoreError> {
        let h = self.hash(key);
        let Some(idx) = self.string_slot(h, key, now_ms)? else {
            return Ok(&[]);
        };
        let v = self.slab[idx as usize].value();
        if start < 0 && end < 0 && start > end {
            return Ok(&[]);
        }
        let len = v.len() as i128;
        let (mut s, mut e) = (i128::from(start), i128::from(end));
        if s < 0 {
            s += len;
        }
        if e < 0 {
            e += len;
        }
        s = s.max(0);
        e = e.max(0);
        if e >= len {
            e = len - 1;
        }
        if len == 0 || s > e {
            return Ok(&[]);
        }
        Ok(&v[s as usize..=e as usize])
    }

    /// SETRANGE: zero-pads; an empty value never creates the key and returns
    /// the current length; offset + len > MAX_STRING_LEN is TooLong, checked
    /// before any allocation.
    pub fn set_range(
        &mut self,
        key: &[u8],
        offset: usize,
        value: &[u8],
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        let h = self.hash(key);
        let found = self.string_slot(h, key, now_ms)?;
        if value.is_empty() {
            return Ok(found.map_or(0, |i| self.slab[i as usize].value().len()));
        }
        offset
            .checked_add(value.len())
            .filter(|&e| e <= MAX_STRING_LEN)
            .ok_or(StoreError::TooLong)?;
        let idx = match found {
            Some(idx) => idx,
            None => self.insert(h, key, &[], None)?,
        };
        self.snapshot_cow(idx);
        let slot = &mut self.slab[idx as usize];
        let before = slot.total_len();
        slot.write_at(offset, value);
        let after = slot.total_len();
        let len = slot.value().len();
        self.account_resize(before, after);
        Ok(len)
    }

    /// SETBIT: sets bit `offset` (bit 0 is the top bit of byte 0) of the string at `key`,
    /// zero-extending it (or creating it); returns the bit's old value.
    pub fn set_bit(
        &mut self,
        key: &[u8],
        offset: u64,
        on: bool,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let byte = usize::try_from(offset / 8).map_err(|_| StoreError::TooLong)?;
        let mask = 0x80u8 >> (offset % 8);
        let h = self.hash(key);
        let found = self.string_slot(h, key, now_ms)?;
        let old = found
            .and_then(|i| self.slab[i as usize].value().get(byte).copied())
            .unwrap_or(0);
        let new = if on { old | mask } else { old & !mask };
        self.set_range(key, byte, &[new], now_ms)?;
        Ok(old & mask != 0)
    }
}
