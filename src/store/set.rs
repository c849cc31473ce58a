//! Set writes: SADD, SREM, SPOP, SMOVE and storing a computed set (the *STORE commands).
//! Reads go through [`SetView`].
//!
//! Encodings follow Redis 7.2's rules: a set of canonical integers is an intset up to
//! `set-max-intset-entries`; a small set of short members is packed up to
//! `set-max-listpack-entries` members of at most `set-max-listpack-value` bytes; anything else
//! is a table. A set only ever moves towards the table.

use super::dense::Dense;
use super::entry::Enc;
use super::pack::{self, ints};
use super::value::Object;
use super::{Member, SetView, Store, StoreError, Value};

impl Store {
    /// Live set slot of `key`, WrongType for another type.
    pub(super) fn set_slot(
        &mut self,
        h: u64,
        key: &[u8],
        now_ms: u64,
    ) -> Result<Option<u32>, StoreError> {
        match self.lookup(h, key, now_ms) {
            Some(idx) => match self.slab[idx as usize].enc() {
                Some(Enc::SetInts | Enc::SetPack | Enc::SetTable) => Ok(Some(idx)),
                _ => Err(StoreError::WrongType),
            },
            None => Ok(None),
        }
    }

    /// A new empty set for `first`, sized for `hint` members (Redis's `setTypeCreate`).
    fn new_set(
        &mut self,
        h: u64,
        key: &[u8],
        first: &[u8],
        hint: usize,
    ) -> Result<u32, StoreError> {
        let lim = self.limits;
        if pack::as_int(first).is_some() && hint <= lim.set_intset_entries {
            self.insert_typed(h, key, Enc::SetInts, &ints::build(&[]), None)
        } else if hint <= lim.set_entries {
            self.insert_typed(h, key, Enc::SetPack, &[], None)
        } else {
            let o = self.new_object(Object::Table(Dense::new(false, hint)));
            self.insert_typed(h, key, Enc::SetTable, &o.to_le_bytes(), None)
        }
    }

    /// Adds one member to set slot `idx`; true when it was new.
    fn set_put(&mut self, idx: u32, m: &[u8]) -> bool {
        let lim = self.limits;
        match self.slab[idx as usize].enc() {
            Some(Enc::SetInts) => {
                let body = self.slab[idx as usize].body();
                if let Some(x) = pack::as_int(m) {
                    let Err(pos) = ints::search(body, x) else {
                        return false;
                    };
                    if ints::len(body) < lim.set_intset_entries {
                        self.edit_packed(idx, |v, start| ints::insert(v, start, pos, x));
                        return true;
                    }
                    self.make_table(idx);
                } else {
                    let n = ints::len(body);
                    let widest = ints::iter(body)
                        .map(|x| itoa::Buffer::new().format(x).len())
                        .max()
                        .unwrap_or(0);
                    if n < lim.set_entries && m.len() <= lim.set_value && widest <= lim.set_value {
                        let mut b = Vec::new();
                        let mut buf = [0u8; 20];
                        for x in ints::iter(body) {
                            pack::push(&mut b, super::num::fmt_i64(x, &mut buf));
                        }
                        self.retype(idx, Enc::SetPack, &b);
                    } else {
                        self.make_table(idx);
                    }
                }
            }
            Some(Enc::SetPack) => {
                let body = self.slab[idx as usize].body();
                if pack::find_entry(body, m).is_some() {
                    return false;
                }
                if pack::count(body) < lim.set_entries && m.len() <= lim.set_value {
                    self.edit_packed(idx, |v, _| pack::push(v, m));
                    return true;
                }
                self.make_table(idx);
            }
            _ => {}
        }
        match self.slab[idx as usize].enc() {
            Some(Enc::SetInts | Enc::SetPack) => self.set_put(idx, m),
            _ => self
                .with_table(idx, |d| d.upsert(m.into()))
                .unwrap_or(false),
        }
    }

    /// Removes one member from set slot `idx`; true when it was there.
    fn set_take(&mut self, idx: u32, m: &[u8]) -> bool {
        match self.slab[idx as usize].enc() {
            Some(Enc::SetInts) => {
                let Some(x) = pack::as_int(m) else {
                    return false;
                };
                let Ok(pos) = ints::search(self.slab[idx as usize].body(), x) else {
                    return false;
                };
                self.edit_packed(idx, |v, start| ints::remove(v, start, pos));
                true
            }
            Some(Enc::SetPack) => match pack::find_entry(self.slab[idx as usize].body(), m) {
                Some((s, e)) => {
                    self.edit_packed(idx, |v, start| {
                        v.drain(start + s..start + e);
                    });
                    true
                }
                None => false,
            },
            _ => self
                .with_table(idx, |d| d.remove(m).is_some())
                .unwrap_or(false),
        }
    }

    /// SADD: how many members were new.
    pub fn sadd(
        &mut self,
        key: &[u8],
        members: &[&[u8]],
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        let h = self.hash(key);
        let mut created = false;
        let idx = match self.set_slot(h, key, now_ms)? {
            Some(idx) => {
                self.snapshot_cow(idx);
                idx
            }
            None => match members.first() {
                // A new packed set of strings is built whole, in one exact allocation.
                Some(first)
                    if !(pack::as_int(first).is_some()
                        && members.len() <= self.limits.set_intset_entries) =>
                {
                    match super::hash::packed_set(members, &self.limits) {
                        Some((body, n)) if members.len() <= self.limits.set_entries => {
                            self.insert_typed(h, key, Enc::SetPack, &body, None)?;
                            self.changed(|| {
                                let mut c = vec![b"SADD".to_vec(), key.to_vec()];
                                c.extend(pack::entries(&body).map(<[u8]>::to_vec));
                                c
                            });
                            return Ok(n);
                        }
                        _ => {
                            created = true;
                            self.new_set(h, key, first, members.len())?
                        }
                    }
                }
                Some(first) => {
                    created = true;
                    self.new_set(h, key, first, members.len())?
                }
                None => return Ok(0),
            },
        };
        // The members themselves are kept only for the log.
        let logging = self.effects.is_some();
        let (mut n, mut added): (usize, Vec<&[u8]>) = (0, Vec::new());
        for m in members {
            if self.set_put(idx, m) {
                n += 1;
                if logging {
                    added.push(m);
                }
            }
        }
        if created {
            self.trim_packed(idx);
        }
        if n > 0 {
            self.changed(|| {
                let mut c = vec![b"SADD".to_vec(), key.to_vec()];
                c.extend(added.iter().map(|m| m.to_vec()));
                c
            });
        }
        Ok(n)
    }

    /// SREM: how many members were removed; the key goes with its last member.
    pub fn srem(
        &mut self,
        key: &[u8],
        members: &[&[u8]],
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        let h = self.hash(key);
        let Some(idx) = self.set_slot(h, key, now_ms)? else {
            return Ok(0);
        };
        self.snapshot_cow(idx);
        let mut removed: Vec<&[u8]> = Vec::new();
        for m in members {
            if self.set_take(idx, m) {
                removed.push(m);
            }
        }
        if !removed.is_empty() {
            self.changed(|| {
                let mut c = vec![b"SREM".to_vec(), key.to_vec()];
                c.extend(removed.iter().map(|m| m.to_vec()));
                c
            });
            self.drop_if_empty(h, idx);
        }
        Ok(removed.len())
    }

    /// SPOP: removes and returns up to `count` random members (`None` when the key is missing).
    pub fn spop(
        &mut self,
        key: &[u8],
        count: usize,
        now_ms: u64,
    ) -> Result<Option<Vec<Vec<u8>>>, StoreError> {
        let h = self.hash(key);
        let Some(idx) = self.set_slot(h, key, now_ms)? else {
            return Ok(None);
        };
        self.snapshot_cow(idx);
        let mut r = super::views::random_source(self.next_random());
        let view = self.set_view_at(idx)?;
        let picked: Vec<Vec<u8>> = if count >= view.len() {
            view.members().iter().map(Member::to_vec).collect()
        } else {
            view.random_distinct(count, &mut r)
                .iter()
                .map(Member::to_vec)
                .collect()
        };
        for m in &picked {
            self.set_take(idx, m);
        }
        if !picked.is_empty() {
            // Redis propagates SPOP as the SREM of what it popped.
            self.changed(|| {
                let mut c = vec![b"SREM".to_vec(), key.to_vec()];
                c.extend(picked.iter().cloned());
                c
            });
            self.drop_if_empty(h, idx);
        }
        Ok(Some(picked))
    }

    /// SRANDMEMBER: `count` None one member, n >= 0 up to n distinct, n < 0 |n| with repeats.
    /// False when the key is missing.
    pub fn srandmember(
        &mut self,
        key: &[u8],
        count: Option<i64>,
        now_ms: u64,
        emit: &mut dyn FnMut(Member<'_>),
    ) -> Result<bool, StoreError> {
        let mut r = super::views::random_source(self.next_random());
        let Some(view): Option<SetView<'_>> = self.set_view(key, now_ms)? else {
            return Ok(false);
        };
        match count {
            None => {
                if let Some(m) = view.random(&mut r) {
                    emit(m);
                }
            }
            Some(n) if n >= 0 => {
                for m in view.random_distinct(n as usize, &mut r) {
                    emit(m);
                }
            }
            Some(n) => {
                for _ in 0..n.unsigned_abs() {
                    if let Some(m) = view.random(&mut r) {
                        emit(m);
                    }
                }
            }
        }
        Ok(true)
    }

    /// SMOVE within this store: Ok(true) when the member moved (or, with `src == dst`, is
    /// there). A `dst` of another type is WrongType even when nothing would move.
    pub fn smove(
        &mut self,
        src: &[u8],
        dst: &[u8],
        member: &[u8],
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let hs = self.hash(src);
        let Some(si) = self.set_slot(hs, src, now_ms)? else {
            // Redis checks the destination's type only when the source exists.
            return Ok(false);
        };
        let hd = self.hash(dst);
        self.set_slot(hd, dst, now_ms)?;
        if src == dst {
            return Ok(self.set_view_at(si)?.contains(member));
        }
        self.snapshot_cow(si);
        if !self.set_take(si, member) {
            return Ok(false);
        }
        self.changed(|| vec![b"SREM".to_vec(), src.to_vec(), member.to_vec()]);
        self.drop_if_empty(hs, si);
        self.sadd(dst, &[member], now_ms)?;
        Ok(true)
    }

    /// Stores `members` (distinct) as the set `key`, replacing whatever was there; an empty
    /// result deletes the key. Returns the set's size. The log records it whole (`DEL`, then
    /// `SADD` in chunks), since it is a new value.
    pub fn store_set(
        &mut self,
        key: &[u8],
        members: Vec<Vec<u8>>,
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        let h = self.hash(key);
        let existed = match self.lookup(h, key, now_ms) {
            Some(idx) => {
                self.unlink(h, idx);
                true
            }
            None => false,
        };
        let n = members.len();
        let value = Value::Set(members);
        if n > 0 || existed {
            self.change_seq += 1;
            if let Some(e) = self.effects.as_mut() {
                e.push(vec![b"DEL".to_vec(), key.to_vec()]);
                value.commands(key, 1000, |c| {
                    e.push(c.iter().map(|a| a.to_vec()).collect())
                });
            }
        }
        self.insert_value(h, key, &value, None)?;
        Ok(n)
    }
}
