//! The shard-local key-value store.
//!
//! # Role and ownership
//! One `Store` per shard (per core). It is owned and touched only by that
//! shard's thread, so there are no locks, `Arc`s or atomics here; the store
//! knows nothing of RESP or sockets. Time is always a parameter (`now_ms`,
//! Unix milliseconds): the store never reads a clock, which keeps it
//! deterministic and testable.
//!
//! # Layout
//! * A slab `Vec<Slot>` of 24-byte slots with an intrusive free list. A live
//!   slot holds ONE heap allocation (`Box<[u8]>`) with the key bytes followed
//!   by the value (a string's bytes; for other types an encoding byte and a
//!   compact encoding, or the index of a big value's structure: see `value`),
//!   the key length packed with a type tag in a `u32`, and a `u32`
//!   back-pointer into the volatile list (or `NIL`).
//! * An index `hashbrown::HashTable<u32>` of slab indices: 4 bytes plus one
//!   control byte per bucket. Hashes are not stored; the table's rehash
//!   closure recomputes them from the key in the slab (growth is rare and
//!   amortised; lookups compare keys through the slab anyway). One
//!   `ahash::RandomState` per store, randomly seeded at creation so clients
//!   cannot pick colliding keys, fixed for the store's life.
//!
//! Per 16-byte key with a 32-byte value that is 24 (slot) + ~5-11 (table
//! between 7/8 and 7/16 load) + 16 (malloc header and rounding of the 48-byte
//! allocation): about 50 bytes of overhead, ~100 bytes per key in RSS all
//! told (Redis: ~140 for the same key).
//!
//! # Why entries never move
//! A key stays in its slab slot from insert to delete (freed slots are reused
//! by later inserts). So SCAN's cursor is just a slab index: a key present for
//! the whole walk sits at one fixed index and is visited exactly once, and
//! there is no rehash-order trickery as in Redis' reverse-binary cursor.
//! RANDOMKEY is a random slab index, and the expiry back-pointers stay valid.
//! The slab does not shrink (only `flush` releases it); a freed slot costs 24
//! bytes until reused.
//!
//! # Expiry
//! Expiry times live outside the slot, in two parallel arrays (`vol_slot`:
//! slab index, `vol_at`: absolute ms) with the slot's `aux` pointing back at
//! its position; removal is swap-remove plus fixing the moved entry's
//! back-pointer. Chosen over an 8-byte field in every slot because most cache
//! keys in many workloads have no TTL (they pay 0 extra bytes; volatile keys
//! pay 12), and because active expiry then walks a dense `u64` array of
//! deadlines instead of striding through the slab and its allocations: it
//! touches a slot only for keys that are actually expired, and costs nothing
//! when no key has a TTL.
//! A key whose expiry is <= `now_ms` is logically absent: every access path
//! deletes it lazily (counted in `expired_keys`), and `active_expire` reclaims
//! the ones nobody touches, a budget at a time.
//!
//! # Never blocking, never panicking
//! Walks over all keys (`scan`, `active_expire`) are cursor/budget based so
//! the shard can yield between steps. `keys` and `flush` are O(n) by nature;
//! the caller decides when to run them. No input panics: indices and lengths
//! use checked/saturating arithmetic, and sizes are bounded by
//! `MAX_STRING_LEN` before anything is allocated.

/// The table encoding of big hashes and sets.
mod dense;
mod entry;
mod evict;
mod glob;
mod hash;
mod keyspace;
mod list;
mod num;
mod pack;
mod prefetch;
mod quick;
mod set;
mod snapshot;
mod sorted;
mod strings;
mod value;
mod views;
mod zset;

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod test_util;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_effects;
#[cfg(test)]
mod tests_types;
#[cfg(test)]
mod tests_walks;

use entry::{heap_size, Slot, NIL};

use hashbrown::HashTable;

pub use entry::Type;
pub use evict::{Policy, WriteAdmission, SAMPLES as EVICTION_SAMPLES};
pub use glob::glob_match;
pub use quick::List;
pub use snapshot::SnapEntry;
pub use sorted::ZSet;
pub use value::{Limits, Value, LAZY_FREE_THRESHOLD};
pub use views::{HashView, Member, SetView};
pub use zset::{score_text, ZAddFlags, ZAddResult};

/// Largest string value (and key) in bytes, as Redis' proto-max-bulk-len.
pub const MAX_STRING_LEN: usize = 512 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    WrongType,
    NotInteger,
    NotFloat,
    Overflow,
    NanOrInfinity,
    TooLong,
    NoSuchKey,
    /// HINCRBY on a field that is not an integer.
    HashNotInteger,
    /// HINCRBYFLOAT on a field that is not a float.
    HashNotFloat,
    /// LSET past the list's end.
    OutOfRange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetCond {
    Always,
    Nx,
    Xx,
}

/// What SET/GETEX do to the expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryUpdate {
    Keep,
    Persist,
    /// Absolute Unix ms.
    At(u64),
}

/// Redis EXPIRE options; no TTL counts as infinite for GT/LT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpireCond {
    Always,
    Nx,
    Xx,
    Gt,
    Lt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    Missing,
    Persistent,
    /// Remaining ms (`ttl`) or absolute Unix ms (`expire_time`).
    Ms(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetOutcome {
    pub written: bool,
    /// The previous value, only when `want_old`.
    pub old: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub keys: usize,
    pub volatile_keys: usize,
    pub expired_keys: u64,
    /// Key + value bytes.
    pub data_bytes: usize,
    /// Estimate of slab + table + volatile arrays + allocation headers.
    pub overhead_bytes: usize,
}

/// Slab indices are u32 and NIL is reserved.
const MAX_SLOTS: usize = NIL as usize;

pub struct Store {
    table: HashTable<u32>,
    slab: Vec<Slot>,
    free_head: u32,
    /// Parallel arrays of volatile keys: slab index and absolute expiry ms.
    vol_slot: Vec<u32>,
    vol_at: Vec<u64>,
    /// Where `active_expire` resumes in the volatile arrays.
    vol_cursor: usize,
    hasher: ahash::RandomState,
    expired_keys: u64,
    /// Keys removed by expiry (lazy or active), kept while someone needs them (keyspace
    /// notifications: see [`Store::record_expiries`]).
    expired_journal: Option<Vec<Vec<u8>>>,
    data_bytes: usize,
    heap_bytes: usize,
    /// Allocation of the last key deleted by a read that must still return its
    /// value (GETEX with a past time), so the reply can borrow from the store.
    graveyard: Box<[u8]>,
    /// maxmemory policy, budget and per-key access state (see `evict`).
    evict: evict::Evictor,
    /// The snapshot in progress, if any (see `snapshot`).
    snap: snapshot::Snapshot,
    /// Where the index's buckets sit, for prefetching (see `prefetch`).
    index_layout: std::cell::Cell<Option<prefetch::IndexLayout>>,
    /// The hash of the key the running command was planned with (address, length, hash), so
    /// the command does not hash it again (see `Store::set_known_hash`).
    known_hash: Option<(usize, usize, u64)>,
    /// Big values' structures (see `value`), indexed from their slots, with a free list.
    objects: Vec<Option<value::Object>>,
    object_free: Vec<u32>,
    /// Heap bytes of the objects.
    obj_bytes: usize,
    /// The compact encodings' thresholds.
    limits: value::Limits,
    /// Bumped by every collection write that changed something.
    change_seq: u64,
    /// Effects of collection writes as commands, while the log wants them.
    effects: Option<Vec<Vec<Vec<u8>>>>,
    /// Big structures being freed a step at a time.
    lazy_free: Vec<value::Object>,
    /// State of the random-member commands' generator.
    rng: u64,
    /// Free large values at once rather than in steps (the running command's lazyfree knob).
    free_sync: bool,
}

/// Key equality for the index probe. Keys of 8 to 16 bytes (the common case for cache keys)
/// compare as two overlapping 8-byte words, inline; others go to the slice comparison (a
/// `memcmp` call, whose call overhead was most of its 1.6% of a pipelined GET profile).
/// Keys of 17 to 32 bytes take four overlapping words, and field names and members (`store::pack`)
/// use the same comparison.
#[inline(always)]
fn key_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().unwrap());
    if (8..=16).contains(&n) {
        return word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8);
    }
    if (17..=32).contains(&n) {
        return word(a, 0) == word(b, 0)
            && word(a, 8) == word(b, 8)
            && word(a, n - 16) == word(b, n - 16)
            && word(a, n - 8) == word(b, n - 8);
    }
    if n < 8 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    a == b
}

/// [`key_eq`] for the value model's element comparisons.
#[inline(always)]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    key_eq(a, b)
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub fn new() -> Self {
        Store {
            table: HashTable::new(),
            index_layout: std::cell::Cell::new(None),
            known_hash: None,
            slab: Vec::new(),
            free_head: NIL,
            vol_slot: Vec::new(),
            vol_at: Vec::new(),
            vol_cursor: 0,
            hasher: ahash::RandomState::new(),
            expired_keys: 0,
            expired_journal: None,
            data_bytes: 0,
            heap_bytes: 0,
            graveyard: Box::default(),
            evict: evict::Evictor::default(),
            snap: snapshot::Snapshot::default(),
            objects: Vec::new(),
            object_free: Vec::new(),
            obj_bytes: 0,
            limits: value::Limits::default(),
            change_seq: 0,
            effects: None,
            lazy_free: Vec::new(),
            rng: ahash::RandomState::new().hash_one(0u8),
            free_sync: false,
        }
    }

    /// Keys stored, including expired ones not yet reclaimed (like DBSIZE).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn stats(&self) -> Stats {
        let cap = self.table.capacity();
        // hashbrown keeps capacity = buckets*7/8 (buckets-1 when tiny).
        let buckets = match cap {
            0 => 0,
            c if c < 8 => c + 1,
            c => c / 7 * 8,
        };
        let table = if buckets == 0 { 0 } else { buckets * 5 + 16 };
        let slab = self.slab.capacity() * std::mem::size_of::<Slot>();
        let vol = self.vol_slot.capacity() * 4 + self.vol_at.capacity() * 8;
        Stats {
            keys: self.table.len(),
            volatile_keys: self.vol_at.len(),
            expired_keys: self.expired_keys,
            data_bytes: self.data_bytes + self.obj_bytes,
            overhead_bytes: table
                + slab
                + vol
                + (self.heap_bytes - self.data_bytes)
                + self.objects.capacity() * std::mem::size_of::<Option<value::Object>>(),
        }
    }

    /// Makes room for `additional` more keys at once (loading a snapshot of known size), so the
    /// table does not rehash again and again while it fills.
    pub fn reserve(&mut self, additional: usize) {
        let (slab, hasher) = (&self.slab, &self.hasher);
        self.table
            .reserve(additional, |&i| hasher.hash_one(slab[i as usize].key()));
        self.slab.reserve(additional);
    }

    /// Drops everything. O(n); the caller decides when.
    pub fn flush(&mut self) {
        self.snapshot_cow_all();
        self.table = HashTable::new();
        self.reset_index_layout();
        self.slab = Vec::new();
        self.free_head = NIL;
        self.vol_slot = Vec::new();
        self.vol_at = Vec::new();
        self.vol_cursor = 0;
        self.data_bytes = 0;
        self.heap_bytes = 0;
        self.graveyard = Box::default();
        for d in std::mem::take(&mut self.objects).into_iter().flatten() {
            self.free_big(d);
        }
        self.object_free = Vec::new();
        self.obj_bytes = 0;
        let (policy, limit) = (self.evict.policy, self.evict.limit);
        let (evicted, client_bytes) = (self.evict.evicted_keys, self.evict.client_bytes);
        let script_bytes = self.evict.script_bytes;
        self.evict = evict::Evictor::default();
        self.evict.evicted_keys = evicted;
        self.evict.client_bytes = client_bytes;
        self.evict.script_bytes = script_bytes;
        self.set_eviction(policy, limit);
    }

    // ---- internals shared by the command files ----

    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        match self.known_hash {
            Some((at, len, h)) if at == key.as_ptr() as usize && len == key.len() => h,
            _ => self.hasher.hash_one(key),
        }
    }

    /// Slot index of `key` regardless of expiry.
    #[inline]
    fn find(&self, hash: u64, key: &[u8]) -> Option<u32> {
        let slab = &self.slab;
        self.table
            .find(hash, |&i| key_eq(slab[i as usize].key(), key))
            .copied()
    }

    #[inline]
    fn expiry_of(&self, idx: u32) -> Option<u64> {
        let aux = self.slab[idx as usize].aux;
        (aux != NIL).then(|| self.vol_at[aux as usize])
    }

    #[inline]
    fn is_expired(&self, idx: u32, now_ms: u64) -> bool {
        matches!(self.expiry_of(idx), Some(at) if at <= now_ms)
    }

    /// Live slot of `key`; an expired one is deleted on the way (lazy expiry).
    #[inline]
    fn lookup(&mut self, hash: u64, key: &[u8], now_ms: u64) -> Option<u32> {
        // Every write looks its key up first, so inserts read the time from here.
        self.evict.now_ms = now_ms;
        let idx = self.find(hash, key)?;
        if self.is_expired(idx, now_ms) {
            self.expired_keys += 1;
            self.journal_expired(idx);
            self.unlink(hash, idx);
            return None;
        }
        self.evict.touch(idx, now_ms);
        Some(idx)
    }

    #[inline]
    fn journal_expired(&mut self, idx: u32) {
        if let Some(j) = self.expired_journal.as_mut() {
            j.push(self.slab[idx as usize].key().to_vec());
        }
    }

    /// Keeps the keys that expiry removes, for [`Store::drain_expired`] (keyspace
    /// notifications publish them as `expired`).
    pub fn record_expiries(&mut self, on: bool) {
        if on != self.expired_journal.is_some() {
            self.expired_journal = on.then(Vec::new);
        }
    }

    /// Keys expired since the last call (only while [`Store::record_expiries`] is on).
    pub fn drain_expired(&mut self) -> Vec<Vec<u8>> {
        match self.expired_journal.as_mut() {
            Some(j) if !j.is_empty() => std::mem::take(j),
            _ => Vec::new(),
        }
    }

    /// Whether expired keys wait in the journal.
    #[inline]
    pub fn has_expired_journal(&self) -> bool {
        self.expired_journal.as_ref().is_some_and(|j| !j.is_empty())
    }

    /// Lazily expires the slot at `idx` if due; true if it was removed.
    fn expire_if_due(&mut self, idx: u32, now_ms: u64) -> bool {
        if self.is_expired(idx, now_ms) {
            let h = self.hash(self.slab[idx as usize].key());
            self.expired_keys += 1;
            self.journal_expired(idx);
            self.unlink(h, idx);
            true
        } else {
            false
        }
    }

    /// Inserts a key known to be absent. Errors only for oversize keys or a
    /// full slab (u32 indices).
    fn insert(
        &mut self,
        hash: u64,
        key: &[u8],
        value: &[u8],
        expire_at: Option<u64>,
    ) -> Result<u32, StoreError> {
        if key.len() > MAX_STRING_LEN || value.len() > MAX_STRING_LEN {
            return Err(StoreError::TooLong);
        }
        let idx = if self.free_head != NIL {
            let idx = self.free_head;
            self.free_head = self.slab[idx as usize].aux;
            self.slab[idx as usize] = Slot::new_string(key, value, NIL);
            idx
        } else {
            if self.slab.len() >= MAX_SLOTS {
                return Err(StoreError::TooLong);
            }
            self.slab.push(Slot::new_string(key, value, NIL));
            (self.slab.len() - 1) as u32
        };
        self.account_add(key.len() + value.len());
        let (slab, hasher) = (&self.slab, &self.hasher);
        self.table
            .insert_unique(hash, idx, |&i| hasher.hash_one(slab[i as usize].key()));
        if let Some(at) = expire_at {
            self.set_expiry(idx, Some(at));
        }
        let now = self.evict.now_ms;
        self.evict.on_insert(idx, hash, now);
        Ok(idx)
    }

    /// Removes the slot from the table and frees it; returns its allocation
    /// and key length so callers can still hand out the value.
    fn unlink(&mut self, hash: u64, idx: u32) -> (Box<[u8]>, usize) {
        self.unlink_raw(hash, idx, true)
    }

    /// [`Store::unlink`]; with `drop_object` false a big value's object stays allocated, for a
    /// caller that moves the slot's payload (which names it) to another key (RENAME).
    fn unlink_raw(&mut self, hash: u64, idx: u32, drop_object: bool) -> (Box<[u8]>, usize) {
        self.snapshot_cow(idx);
        if let Ok(e) = self.table.find_entry(hash, |&i| i == idx) {
            e.remove();
        }
        self.set_expiry(idx, None);
        if drop_object {
            self.drop_object(idx);
        }
        let slot = &mut self.slab[idx as usize];
        let kl = slot.key_len();
        let data = slot.release(self.free_head);
        self.free_head = idx;
        self.account_sub(data.len());
        (data, kl)
    }

    fn set_expiry(&mut self, idx: u32, at: Option<u64>) {
        self.snapshot_cow(idx);
        let aux = self.slab[idx as usize].aux;
        match (aux != NIL, at) {
            (true, Some(t)) => self.vol_at[aux as usize] = t,
            (false, Some(t)) => {
                self.slab[idx as usize].aux = self.vol_at.len() as u32;
                self.vol_slot.push(idx);
                self.vol_at.push(t);
            }
            (true, None) => {
                let pos = aux as usize;
                self.vol_slot.swap_remove(pos);
                self.vol_at.swap_remove(pos);
                if let Some(&moved) = self.vol_slot.get(pos) {
                    self.slab[moved as usize].aux = pos as u32;
                }
                self.slab[idx as usize].aux = NIL;
            }
            (false, None) => {}
        }
    }

    /// Replaces a live slot's value, keeping the byte accounting right.
    fn replace_value(&mut self, idx: u32, value: &[u8]) {
        self.snapshot_cow(idx);
        self.drop_object(idx);
        let slot = &mut self.slab[idx as usize];
        let before = slot.total_len();
        slot.set_string(value);
        let after = slot.total_len();
        self.account_resize(before, after);
    }

    #[inline]
    fn account_add(&mut self, n: usize) {
        self.data_bytes += n;
        self.heap_bytes += heap_size(n);
    }

    #[inline]
    fn account_sub(&mut self, n: usize) {
        self.data_bytes -= n;
        self.heap_bytes -= heap_size(n);
    }

    #[inline]
    fn account_resize(&mut self, before: usize, after: usize) {
        if before != after {
            self.account_sub(before);
            self.account_add(after);
        }
    }

    /// Cross-checks slab, table, volatile arrays, free list and byte counts.
    #[cfg(test)]
    fn check_invariants(&self) {
        let mut live = 0;
        let mut data = 0;
        for (i, s) in self.slab.iter().enumerate() {
            if s.is_free() {
                continue;
            }
            live += 1;
            data += s.total_len();
            assert_eq!(self.find(self.hash(s.key()), s.key()), Some(i as u32));
            if s.aux != NIL {
                assert_eq!(self.vol_slot[s.aux as usize], i as u32);
            }
        }
        assert_eq!(live, self.table.len());
        assert_eq!(data, self.data_bytes);
        assert_eq!(self.vol_slot.len(), self.vol_at.len());
        for &v in &self.vol_slot {
            assert!(!self.slab[v as usize].is_free());
        }
        let mut free = 0;
        let mut f = self.free_head;
        while f != NIL {
            assert!(self.slab[f as usize].is_free());
            free += 1;
            f = self.slab[f as usize].aux;
        }
        assert_eq!(free + live, self.slab.len());
    }
}
