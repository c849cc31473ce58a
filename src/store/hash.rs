//! Hash writes: HSET family, HDEL, HINCRBY, HINCRBYFLOAT. Reads go through [`HashView`].
//!
//! A hash starts packed in its key's allocation (`store::pack`) and moves to a table
//! (`store::dense`) once it holds more than `hash-max-listpack-entries` fields or a field or
//! value longer than `hash-max-listpack-value` bytes; it never moves back (as in Redis).

use super::dense::make_pair;
use super::entry::Enc;
use super::num::{add_float, fmt_f64, fmt_i64, parse_f64, parse_i64};
use super::pack;
use super::{HashView, Store, StoreError};

/// The packed body of a new hash of `pairs` (a later pair of the same field wins) and its
/// field count; `None` when it would not stay packed under `lim`.
fn packed_hash(pairs: &[(&[u8], &[u8])], lim: &super::Limits) -> Option<(Vec<u8>, usize)> {
    let mut b = Vec::new();
    let mut n = 0;
    for (f, v) in pairs {
        if f.len() > lim.hash_value || v.len() > lim.hash_value {
            return None;
        }
        match pack::find_pair(&b, f) {
            Some((_, vs, ve)) => {
                let mut e = Vec::with_capacity(pack::entry_size(v.len()));
                pack::push(&mut e, v);
                b.splice(vs..ve, e);
            }
            None if n < lim.hash_entries => {
                pack::push(&mut b, f);
                pack::push(&mut b, v);
                n += 1;
            }
            None => return None,
        }
    }
    Some((b, n))
}

/// The packed body of a new set of `members` and its size; `None` when it would not be a
/// packed (non-integer) set under `lim`.
pub(super) fn packed_set(members: &[&[u8]], lim: &super::Limits) -> Option<(Vec<u8>, usize)> {
    let mut b = Vec::new();
    let mut n = 0;
    for m in members {
        if m.len() > lim.set_value {
            return None;
        }
        if pack::find_entry(&b, m).is_none() {
            if n >= lim.set_entries {
                return None;
            }
            pack::push(&mut b, m);
            n += 1;
        }
    }
    Some((b, n))
}

impl Store {
    /// Live hash slot of `key`, WrongType for another type.
    fn hash_slot(&mut self, h: u64, key: &[u8], now_ms: u64) -> Result<Option<u32>, StoreError> {
        match self.lookup(h, key, now_ms) {
            Some(idx) => match self.slab[idx as usize].enc() {
                Some(Enc::HashPack | Enc::HashTable) => Ok(Some(idx)),
                _ => Err(StoreError::WrongType),
            },
            None => Ok(None),
        }
    }

    /// The hash slot of `key`, created empty (packed) when absent.
    fn hash_slot_or_new(&mut self, h: u64, key: &[u8], now_ms: u64) -> Result<u32, StoreError> {
        match self.hash_slot(h, key, now_ms)? {
            Some(idx) => {
                self.snapshot_cow(idx);
                Ok(idx)
            }
            None => self.insert_typed(h, key, Enc::HashPack, &[], None),
        }
    }

    /// Sets one field of hash slot `idx`; true when the field is new. With `only_new` an
    /// existing field is left alone.
    fn hash_put(&mut self, idx: u32, field: &[u8], value: &[u8], only_new: bool) -> bool {
        let lim = self.limits;
        if self.slab[idx as usize].enc() == Some(Enc::HashPack) {
            if field.len() > lim.hash_value || value.len() > lim.hash_value {
                self.make_table(idx);
            } else {
                let body = self.slab[idx as usize].body();
                match pack::find_pair(body, field) {
                    Some(_) if only_new => return false,
                    Some((_, vs, ve)) => {
                        self.edit_packed(idx, |v, start| {
                            let mut e = Vec::with_capacity(pack::entry_size(value.len()));
                            pack::push(&mut e, value);
                            v.splice(start + vs..start + ve, e);
                        });
                        return false;
                    }
                    None if pack::count(body) / 2 < lim.hash_entries => {
                        self.edit_packed(idx, |v, _| {
                            pack::push(v, field);
                            pack::push(v, value);
                        });
                        return true;
                    }
                    None => self.make_table(idx),
                }
            }
        }
        self.with_table(idx, |d| {
            if only_new && d.get(field).is_some() {
                false
            } else {
                d.upsert(make_pair(field, value))
            }
        })
        .unwrap_or(false)
    }

    /// HSET / HMSET: sets every pair; returns how many fields were new.
    pub fn hset(
        &mut self,
        key: &[u8],
        pairs: &[(&[u8], &[u8])],
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        let h = self.hash(key);
        let created = self.hash_slot(h, key, now_ms)?.is_none();
        let built = if created {
            packed_hash(pairs, &self.limits)
        } else {
            None
        };
        let added = match built {
            // A new small hash is built whole, in one exact allocation.
            Some((body, n)) => {
                self.insert_typed(h, key, Enc::HashPack, &body, None)?;
                n
            }
            None => {
                let idx = self.hash_slot_or_new(h, key, now_ms)?;
                let mut added = 0;
                for (f, v) in pairs {
                    added += self.hash_put(idx, f, v, false) as usize;
                }
                added
            }
        };
        if !pairs.is_empty() {
            self.changed(|| {
                let mut c = vec![b"HSET".to_vec(), key.to_vec()];
                for (f, v) in pairs {
                    c.push(f.to_vec());
                    c.push(v.to_vec());
                }
                c
            });
        }
        Ok(added)
    }

    /// HSETNX: true when the field was set.
    pub fn hsetnx(
        &mut self,
        key: &[u8],
        field: &[u8],
        value: &[u8],
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let h = self.hash(key);
        let idx = self.hash_slot_or_new(h, key, now_ms)?;
        let set = self.hash_put(idx, field, value, true);
        if set {
            self.changed(|| {
                vec![
                    b"HSET".to_vec(),
                    key.to_vec(),
                    field.to_vec(),
                    value.to_vec(),
                ]
            });
        }
        Ok(set)
    }

    /// HDEL: how many of `fields` were removed; the key goes with its last field.
    pub fn hdel(&mut self, key: &[u8], fields: &[&[u8]], now_ms: u64) -> Result<usize, StoreError> {
        let h = self.hash(key);
        let Some(idx) = self.hash_slot(h, key, now_ms)? else {
            return Ok(0);
        };
        self.snapshot_cow(idx);
        let mut removed: Vec<&[u8]> = Vec::new();
        for f in fields {
            let gone = if self.slab[idx as usize].enc() == Some(Enc::HashPack) {
                match pack::find_pair(self.slab[idx as usize].body(), f) {
                    Some((fs, _, ve)) => {
                        self.edit_packed(idx, |v, start| {
                            v.drain(start + fs..start + ve);
                        });
                        true
                    }
                    None => false,
                }
            } else {
                self.with_table(idx, |d| d.remove(f).is_some())
                    .unwrap_or(false)
            };
            if gone {
                removed.push(f);
            }
        }
        if !removed.is_empty() {
            self.changed(|| {
                let mut c = vec![b"HDEL".to_vec(), key.to_vec()];
                c.extend(removed.iter().map(|f| f.to_vec()));
                c
            });
            self.drop_if_empty(h, idx);
        }
        Ok(removed.len())
    }

    /// Deletes a collection key left empty by a removal.
    pub(super) fn drop_if_empty(&mut self, h: u64, idx: u32) {
        let empty = match self.slab[idx as usize].enc() {
            Some(Enc::HashPack | Enc::SetPack) => self.slab[idx as usize].body().is_empty(),
            Some(Enc::SetInts) => super::pack::ints::len(self.slab[idx as usize].body()) == 0,
            Some(_) => self.object_len(idx) == 0,
            None => false,
        };
        if empty {
            self.unlink(h, idx);
        }
    }

    /// The current value of `field` copied out (for the increments).
    fn field_value(&self, idx: u32, field: &[u8]) -> Option<Vec<u8>> {
        self.hash_view_at(idx).ok()?.get(field).map(<[u8]>::to_vec)
    }

    /// HINCRBY: the new value.
    pub fn hincrby(
        &mut self,
        key: &[u8],
        field: &[u8],
        delta: i64,
        now_ms: u64,
    ) -> Result<i64, StoreError> {
        let h = self.hash(key);
        let existing = self.hash_slot(h, key, now_ms)?;
        let cur = match existing.and_then(|idx| self.field_value(idx, field)) {
            Some(v) => parse_i64(&v).ok_or(StoreError::HashNotInteger)?,
            None => 0,
        };
        let new = cur.checked_add(delta).ok_or(StoreError::Overflow)?;
        let mut buf = [0u8; 20];
        let text = fmt_i64(new, &mut buf).to_vec();
        let idx = self.hash_slot_or_new(h, key, now_ms)?;
        self.hash_put(idx, field, &text, false);
        self.changed(|| vec![b"HSET".to_vec(), key.to_vec(), field.to_vec(), text.clone()]);
        Ok(new)
    }

    /// HINCRBYFLOAT: the new value's text.
    pub fn hincrbyfloat(
        &mut self,
        key: &[u8],
        field: &[u8],
        delta: f64,
        now_ms: u64,
    ) -> Result<Vec<u8>, StoreError> {
        let h = self.hash(key);
        let existing = self.hash_slot(h, key, now_ms)?;
        let new = match existing.and_then(|idx| self.field_value(idx, field)) {
            Some(v) => {
                let cur = parse_f64(&v).ok_or(StoreError::HashNotFloat)?;
                add_float(Some(&v), cur, delta)
            }
            None => add_float(None, 0.0, delta),
        }
        .ok_or(StoreError::NanOrInfinity)?;
        let text = fmt_f64(new);
        let idx = self.hash_slot_or_new(h, key, now_ms)?;
        self.hash_put(idx, field, &text, false);
        self.changed(|| vec![b"HSET".to_vec(), key.to_vec(), field.to_vec(), text.clone()]);
        Ok(text)
    }

    /// A random u64 for the random-member commands (splitmix64 over the store's own state).
    pub(super) fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(1);
        super::views::splitmix(self.rng.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// HRANDFIELD: with `count` None one field; Some(n >= 0) up to n distinct; Some(n < 0)
    /// |n| fields with repeats. Calls `emit` with each (field, value) chosen; false when the
    /// key is missing.
    pub fn hrandfield(
        &mut self,
        key: &[u8],
        count: Option<i64>,
        now_ms: u64,
        emit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<bool, StoreError> {
        let mut r = super::views::random_source(self.next_random());
        let Some(view): Option<HashView<'_>> = self.hash_view(key, now_ms)? else {
            return Ok(false);
        };
        match count {
            None => {
                if let Some((f, v)) = view.random(&mut r) {
                    emit(f, v);
                }
            }
            Some(n) if n >= 0 => {
                for (f, v) in view.random_distinct(n as usize, &mut r) {
                    emit(f, v);
                }
            }
            Some(n) => {
                for _ in 0..n.unsigned_abs() {
                    if let Some((f, v)) = view.random(&mut r) {
                        emit(f, v);
                    }
                }
            }
        }
        Ok(true)
    }
}
