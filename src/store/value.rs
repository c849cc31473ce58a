//! The value model: how a key's value of any type is held, read and moved.
//!
//! # Where a value lives
//! A string is the bytes after its key in the slot's allocation (`store::entry`). Any other type
//! starts with an encoding byte ([`Enc`]): a small value's compact encoding follows in the same
//! allocation (`store::pack`), a big one is an index into the store's object table, which holds
//! the structure ([`Object`]: today the table of a big hash or set, `store::dense`; lists,
//! sorted sets and streams add their own variants). So every type shares the keyspace's slab,
//! index, expiry, eviction, SCAN and snapshot machinery, and only the value's own operations
//! differ per type.
//!
//! # Reading and moving values
//! Commands read through borrowed views ([`HashView`], [`SetView`]) that hide the encoding.
//! Whole values cross the store's edge as an owned [`Value`]: a snapshot's copy, a cross-shard
//! RENAME or COPY, DUMP/RESTORE, and the log's record of a value written whole. An owned value
//! is stored back in the encoding the current limits choose.
//!
//! # What a write changed
//! Every collection write that changes something bumps [`Store::changes`] (WATCH, keyspace
//! notifications and client tracking read whether a command changed its keys from it) and, while
//! the append-only log is on, records its effect as the command that redoes it (`HSET key field
//! value`, `HDEL key field`, `SREM key member`...) for [`Store::take_effects`]: the log never
//! writes a whole collection for a one-field change.

use super::dense::{make_pair, Dense};
use super::entry::{Enc, Slot, Type};
use super::pack::{self, ints};
use super::quick::List;
use super::sorted::ZSet;
pub use super::views::{HashView, Member, SetView};
use super::{Store, StoreError, MAX_STRING_LEN};

/// A structure too big for the slot, in the object table.
pub(super) enum Object {
    /// A hash's or set's table.
    Table(Dense),
    /// A list's chunks (`store::quick`).
    List(List),
    /// A sorted set (`store::sorted`).
    ZSet(ZSet),
}

impl Object {
    pub(super) fn heap(&self) -> usize {
        match self {
            Object::Table(d) => d.heap(),
            Object::List(l) => l.heap(),
            Object::ZSet(z) => z.heap(),
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Object::Table(d) => d.len(),
            Object::List(l) => l.len(),
            Object::ZSet(z) => z.len(),
        }
    }

    fn shed(&mut self, n: usize) -> usize {
        match self {
            Object::Table(d) => d.shed(n),
            Object::List(l) => l.shed(n),
            Object::ZSet(z) => z.shed(n),
        }
    }

    fn remaining(&self) -> usize {
        match self {
            Object::Table(d) => d.remaining(),
            Object::List(l) => l.remaining(),
            Object::ZSet(z) => z.remaining(),
        }
    }

    fn is_shed(&self) -> bool {
        match self {
            Object::Table(d) => d.is_shed(),
            Object::List(l) => l.is_shed(),
            Object::ZSet(z) => z.is_shed(),
        }
    }
}

/// The compact encodings' thresholds, as Redis's `hash-max-listpack-*` and `set-max-*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub hash_entries: usize,
    pub hash_value: usize,
    pub set_intset_entries: usize,
    pub set_entries: usize,
    pub set_value: usize,
    /// `list-max-listpack-size` (Redis's `fill`: negative a byte bound per chunk, positive a
    /// count).
    pub list_fill: i64,
    /// `zset-max-listpack-entries`, `zset-max-listpack-value`.
    pub zset_entries: usize,
    pub zset_value: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            hash_entries: 512,
            hash_value: 64,
            set_intset_entries: 512,
            set_entries: 128,
            set_value: 64,
            list_fill: -2,
            zset_entries: 128,
            zset_value: 64,
        }
    }
}

/// A value owned outside the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(Vec<u8>),
    /// Field, value pairs (distinct fields).
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// Distinct members.
    Set(Vec<Vec<u8>>),
    /// Elements in order.
    List(Vec<Vec<u8>>),
    /// Distinct members and their scores (never NaN).
    ZSet(Vec<(Vec<u8>, f64)>),
}

impl Value {
    pub fn kind(&self) -> Type {
        match self {
            Value::String(_) => Type::String,
            Value::Hash(_) => Type::Hash,
            Value::Set(_) => Type::Set,
            Value::List(_) => Type::List,
            Value::ZSet(_) => Type::ZSet,
        }
    }

    /// Elements (1 for a string).
    pub fn len(&self) -> usize {
        match self {
            Value::String(_) => 1,
            Value::Hash(p) => p.len(),
            Value::Set(m) | Value::List(m) => m.len(),
            Value::ZSet(z) => z.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The commands that rebuild this value at `key` from nothing, at most `chunk` elements
    /// each (the log's record of a value written whole: RENAME, COPY, RESTORE).
    pub fn commands(&self, key: &[u8], chunk: usize, mut emit: impl FnMut(&[&[u8]])) {
        let chunk = chunk.max(1);
        match self {
            Value::String(v) => emit(&[b"SET", key, v]),
            Value::Hash(pairs) => {
                for part in pairs.chunks(chunk) {
                    let mut args: Vec<&[u8]> = vec![b"HSET", key];
                    for (f, v) in part {
                        args.push(f);
                        args.push(v);
                    }
                    emit(&args);
                }
            }
            Value::Set(members) => {
                for part in members.chunks(chunk) {
                    let mut args: Vec<&[u8]> = vec![b"SADD", key];
                    args.extend(part.iter().map(Vec::as_slice));
                    emit(&args);
                }
            }
            Value::List(items) => {
                for part in items.chunks(chunk) {
                    let mut args: Vec<&[u8]> = vec![b"RPUSH", key];
                    args.extend(part.iter().map(Vec::as_slice));
                    emit(&args);
                }
            }
            Value::ZSet(items) => {
                for part in items.chunks(chunk) {
                    let scores: Vec<Vec<u8>> = part
                        .iter()
                        .map(|(_, s)| super::zset::score_text(*s))
                        .collect();
                    let mut args: Vec<&[u8]> = vec![b"ZADD", key];
                    for ((m, _), s) in part.iter().zip(&scores) {
                        args.push(s);
                        args.push(m);
                    }
                    emit(&args);
                }
            }
        }
    }
}

/// How a set of these members is best encoded under `lim`.
pub(super) fn set_encoding_for<'m>(
    members: impl Iterator<Item = &'m [u8]> + Clone,
    n: usize,
    lim: &Limits,
) -> Enc {
    if n <= lim.set_intset_entries && members.clone().all(|m| pack::as_int(m).is_some()) {
        Enc::SetInts
    } else if n <= lim.set_entries && members.clone().all(|m| m.len() <= lim.set_value) {
        Enc::SetPack
    } else {
        Enc::SetTable
    }
}

impl Store {
    /// The compact encodings' thresholds in force (CONFIG SET hash-max-listpack-entries...).
    pub fn set_limits(&mut self, lim: Limits) {
        self.limits = lim;
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// A counter every collection write that changed something bumps: a command changed its
    /// keys when it differs before and after.
    #[inline]
    pub fn changes(&self) -> u64 {
        self.change_seq
    }

    /// Records effects for the log from now on (or stops).
    pub fn record_effects(&mut self, on: bool) {
        if on != self.effects.is_some() {
            self.effects = on.then(Vec::new);
        }
    }

    /// The effects recorded since the last call, as commands.
    pub fn take_effects(&mut self) -> Vec<Vec<Vec<u8>>> {
        match self.effects.as_mut() {
            Some(e) if !e.is_empty() => std::mem::take(e),
            _ => Vec::new(),
        }
    }

    /// Notes a change (and its effect, while the log wants them).
    #[inline]
    pub(super) fn changed(&mut self, effect: impl FnOnce() -> Vec<Vec<u8>>) {
        self.change_seq += 1;
        if let Some(e) = self.effects.as_mut() {
            e.push(effect());
        }
    }

    /// The object a typed slot points at.
    #[inline]
    pub(super) fn object(&self, idx: u32) -> Option<&Object> {
        let o = self.slab[idx as usize].object()?;
        self.objects.get(o as usize)?.as_ref()
    }

    pub(super) fn new_object(&mut self, obj: Object) -> u32 {
        self.obj_bytes += obj.heap();
        match self.object_free.pop() {
            Some(i) => {
                self.objects[i as usize] = Some(obj);
                i
            }
            None => {
                self.objects.push(Some(obj));
                (self.objects.len() - 1) as u32
            }
        }
    }

    /// Frees the object of slot `idx`, if it has one.
    pub(super) fn drop_object(&mut self, idx: u32) {
        if let Some(o) = self.slab[idx as usize].object() {
            if let Some(d) = self.objects.get_mut(o as usize).and_then(Option::take) {
                self.obj_bytes -= d.heap();
                self.free_big(d);
            }
            self.object_free.push(o);
        }
    }

    /// Runs `f` on the table of slot `idx`, keeping the memory accounting right.
    pub(super) fn with_table<R>(&mut self, idx: u32, f: impl FnOnce(&mut Dense) -> R) -> Option<R> {
        let o = self.slab[idx as usize].object()?;
        let Some(Some(Object::Table(d))) = self.objects.get_mut(o as usize) else {
            return None;
        };
        let before = d.heap();
        let r = f(d);
        let after = d.heap();
        self.obj_bytes = self.obj_bytes - before + after;
        Some(r)
    }

    /// Elements in slot `idx`'s object (0 for none).
    pub(super) fn object_len(&self, idx: u32) -> usize {
        self.object(idx).map_or(0, Object::len)
    }

    /// Heap bytes of slot `idx`'s object (0 for none).
    pub(super) fn object_heap(&self, idx: u32) -> usize {
        self.object(idx).map_or(0, Object::heap)
    }

    /// A hash's view; WrongType for another type.
    pub(super) fn hash_view_at(&self, idx: u32) -> Result<HashView<'_>, StoreError> {
        let slot = &self.slab[idx as usize];
        match slot.enc() {
            Some(Enc::HashPack) => Ok(HashView::Pack(slot.body())),
            Some(Enc::HashTable) => match self.object(idx) {
                Some(Object::Table(d)) => Ok(HashView::Table(d)),
                _ => Err(StoreError::WrongType),
            },
            _ => Err(StoreError::WrongType),
        }
    }

    pub(super) fn set_view_at(&self, idx: u32) -> Result<SetView<'_>, StoreError> {
        let slot = &self.slab[idx as usize];
        match slot.enc() {
            Some(Enc::SetInts) => Ok(SetView::Ints(slot.body())),
            Some(Enc::SetPack) => Ok(SetView::Pack(slot.body())),
            Some(Enc::SetTable) => match self.object(idx) {
                Some(Object::Table(d)) => Ok(SetView::Table(d)),
                _ => Err(StoreError::WrongType),
            },
            _ => Err(StoreError::WrongType),
        }
    }

    /// The hash at `key`, if any.
    pub fn hash_view(
        &mut self,
        key: &[u8],
        now_ms: u64,
    ) -> Result<Option<HashView<'_>>, StoreError> {
        let h = self.hash(key);
        match self.lookup(h, key, now_ms) {
            None => Ok(None),
            Some(idx) => self.hash_view_at(idx).map(Some),
        }
    }

    /// The set at `key`, if any.
    pub fn set_view(&mut self, key: &[u8], now_ms: u64) -> Result<Option<SetView<'_>>, StoreError> {
        let h = self.hash(key);
        match self.lookup(h, key, now_ms) {
            None => Ok(None),
            Some(idx) => self.set_view_at(idx).map(Some),
        }
    }

    /// The set at `key` without touching the store (an expired key reads as missing but is
    /// not reclaimed): several sets can be read at once (SINTER, SUNION, SDIFF).
    pub fn set_peek(&self, key: &[u8], now_ms: u64) -> Result<Option<SetView<'_>>, StoreError> {
        let h = self.hash(key);
        match self.find(h, key) {
            Some(idx) if !self.is_expired(idx, now_ms) => self.set_view_at(idx).map(Some),
            _ => Ok(None),
        }
    }

    /// The value of slot `idx`, copied out.
    pub(super) fn value_at(&self, idx: u32) -> Value {
        let slot = &self.slab[idx as usize];
        match slot.kind() {
            Type::String => Value::String(slot.value().to_vec()),
            Type::Hash => match self.hash_view_at(idx) {
                Ok(v) => Value::Hash(
                    v.pairs()
                        .into_iter()
                        .map(|(f, x)| (f.to_vec(), x.to_vec()))
                        .collect(),
                ),
                Err(_) => Value::Hash(Vec::new()),
            },
            Type::Set => match self.set_view_at(idx) {
                Ok(v) => Value::Set(v.members().iter().map(Member::to_vec).collect()),
                Err(_) => Value::Set(Vec::new()),
            },
            Type::List => Value::List(match self.object(idx) {
                Some(Object::List(l)) => l.iter().map(<[u8]>::to_vec).collect(),
                _ => Vec::new(),
            }),
            Type::ZSet => Value::ZSet(match self.object(idx) {
                Some(Object::ZSet(z)) => z.iter().map(|(m, s)| (m.to_vec(), s)).collect(),
                _ => Vec::new(),
            }),
            Type::Stream => Value::Set(Vec::new()),
        }
    }

    /// The value at `key`, copied out (DUMP, COPY, the log's record of a whole value).
    pub fn value(&mut self, key: &[u8], now_ms: u64) -> Option<Value> {
        let h = self.hash(key);
        let idx = self.lookup(h, key, now_ms)?;
        Some(self.value_at(idx))
    }

    /// OBJECT ENCODING's name for `key`'s value.
    pub fn encoding(&mut self, key: &[u8], now_ms: u64) -> Option<&'static str> {
        let h = self.hash(key);
        let idx = self.lookup(h, key, now_ms)?;
        let slot = &self.slab[idx as usize];
        Some(match slot.enc() {
            Some(e) => e.name(),
            None => string_encoding(slot.value()),
        })
    }

    /// Inserts `value` at the absent `key` in the encoding the limits choose. An empty
    /// collection is not stored (Redis never keeps one).
    pub(super) fn insert_value(
        &mut self,
        hash: u64,
        key: &[u8],
        value: &Value,
        expire_at: Option<u64>,
    ) -> Result<Option<u32>, StoreError> {
        let (enc, body) = match value {
            Value::String(v) => return self.insert(hash, key, v, expire_at).map(Some),
            Value::Hash(p) if p.is_empty() => return Ok(None),
            Value::Set(m) | Value::List(m) if m.is_empty() => return Ok(None),
            Value::ZSet(z) if z.is_empty() => return Ok(None),
            Value::ZSet(items) => {
                let mut z = ZSet::new();
                for (m, s) in items {
                    z.insert(m, *s);
                }
                let o = self.new_object(Object::ZSet(z));
                (Enc::ZSetIndex, o.to_le_bytes().to_vec())
            }
            Value::List(items) => {
                let l = List::from_items(items.iter().map(Vec::as_slice), self.limits.list_fill);
                let o = self.new_object(Object::List(l));
                (Enc::ListChunks, o.to_le_bytes().to_vec())
            }
            Value::Hash(pairs) => {
                let lim = self.limits;
                if pairs.len() <= lim.hash_entries
                    && pairs
                        .iter()
                        .all(|(f, v)| f.len() <= lim.hash_value && v.len() <= lim.hash_value)
                {
                    let mut b = Vec::new();
                    for (f, v) in pairs {
                        pack::push(&mut b, f);
                        pack::push(&mut b, v);
                    }
                    (Enc::HashPack, b)
                } else {
                    let mut d = Dense::new(true, pairs.len());
                    for (f, v) in pairs {
                        d.upsert(make_pair(f, v));
                    }
                    let o = self.new_object(Object::Table(d));
                    (Enc::HashTable, o.to_le_bytes().to_vec())
                }
            }
            Value::Set(members) => {
                let lim = self.limits;
                match set_encoding_for(members.iter().map(Vec::as_slice), members.len(), &lim) {
                    Enc::SetInts => {
                        let mut vals: Vec<i64> =
                            members.iter().filter_map(|m| pack::as_int(m)).collect();
                        vals.sort_unstable();
                        vals.dedup();
                        (Enc::SetInts, ints::build(&vals))
                    }
                    Enc::SetPack => {
                        let mut b = Vec::new();
                        for m in members {
                            pack::push(&mut b, m);
                        }
                        (Enc::SetPack, b)
                    }
                    _ => {
                        let mut d = Dense::new(false, members.len());
                        for m in members {
                            d.upsert(m.clone().into_boxed_slice());
                        }
                        let o = self.new_object(Object::Table(d));
                        (Enc::SetTable, o.to_le_bytes().to_vec())
                    }
                }
            }
        };
        self.insert_typed(hash, key, enc, &body, expire_at)
            .map(Some)
    }

    /// Inserts an absent key holding a typed body.
    pub(super) fn insert_typed(
        &mut self,
        hash: u64,
        key: &[u8],
        enc: Enc,
        body: &[u8],
        expire_at: Option<u64>,
    ) -> Result<u32, StoreError> {
        if key.len() > MAX_STRING_LEN {
            return Err(StoreError::TooLong);
        }
        let idx = self.insert(hash, key, &[], expire_at)?;
        let slot = &mut self.slab[idx as usize];
        let before = slot.total_len();
        *slot = Slot::new_typed(key, enc, body, slot.aux);
        let after = slot.total_len();
        self.account_resize(before, after);
        Ok(idx)
    }

    /// Replaces a typed slot's encoding and body (conversion), accounting the bytes.
    pub(super) fn retype(&mut self, idx: u32, enc: Enc, body: &[u8]) {
        let slot = &mut self.slab[idx as usize];
        let before = slot.total_len();
        slot.set_typed(enc, body);
        let after = slot.total_len();
        self.account_resize(before, after);
    }

    /// Edits slot `idx`'s compact body in place, accounting the bytes.
    pub(super) fn edit_packed<R>(
        &mut self,
        idx: u32,
        f: impl FnOnce(&mut Vec<u8>, usize) -> R,
    ) -> R {
        let slot = &mut self.slab[idx as usize];
        let before = slot.total_len();
        let r = slot.edit_body(f);
        let after = slot.total_len();
        self.account_resize(before, after);
        r
    }

    /// Drops the spare room of slot `idx`'s packed body (a value created whole by one command).
    pub(super) fn trim_packed(&mut self, idx: u32) {
        let slot = &mut self.slab[idx as usize];
        let before = slot.total_len();
        slot.trim_slack();
        let after = slot.total_len();
        self.account_resize(before, after);
    }

    /// Moves slot `idx`'s packed hash or set into a table.
    pub(super) fn make_table(&mut self, idx: u32) {
        let pairs = self.slab[idx as usize].kind() == Type::Hash;
        let mut d;
        match self.slab[idx as usize].enc() {
            Some(Enc::HashPack) => {
                let b = self.slab[idx as usize].body();
                d = Dense::new(true, pack::count(b) / 2);
                let mut it = pack::entries(b);
                while let (Some(f), Some(v)) = (it.next(), it.next()) {
                    d.upsert(make_pair(f, v));
                }
            }
            Some(Enc::SetPack) => {
                let b = self.slab[idx as usize].body();
                d = Dense::new(false, pack::count(b));
                for m in pack::entries(b) {
                    d.upsert(m.into());
                }
            }
            Some(Enc::SetInts) => {
                let b = self.slab[idx as usize].body();
                d = Dense::new(false, ints::len(b));
                let mut buf = [0u8; 20];
                for x in ints::iter(b) {
                    d.upsert(super::num::fmt_i64(x, &mut buf).into());
                }
            }
            _ => return,
        }
        debug_assert_eq!(d.is_pairs(), pairs);
        let o = self.new_object(Object::Table(d));
        let enc = if pairs { Enc::HashTable } else { Enc::SetTable };
        self.retype(idx, enc, &o.to_le_bytes());
    }

    /// Frees a big structure a piece at a time from the cron's lazy-free duty when it is large
    /// (see [`Store::lazy_free_step`]), at once when small or when the running command frees
    /// synchronously ([`Store::set_free_sync`]).
    pub(super) fn free_big(&mut self, d: Object) {
        if !self.free_sync && d.len() > LAZY_FREE_THRESHOLD {
            self.lazy_free.push(d);
        }
    }

    /// Whether the values the next writes remove are freed at once (a `lazyfree-lazy-*` knob
    /// set to `no` for the running command) or in steps (UNLINK, expiry, eviction, FLUSHALL
    /// ASYNC, and the default between commands).
    pub fn set_free_sync(&mut self, on: bool) {
        self.free_sync = on;
    }

    /// Frees up to `budget` elements of the structures waiting to be freed; true when none
    /// wait any more.
    pub fn lazy_free_step(&mut self, budget: usize) -> bool {
        let mut left = budget;
        while left > 0 {
            let Some(d) = self.lazy_free.last_mut() else {
                return true;
            };
            left = left.saturating_sub(d.shed(left));
            if d.is_shed() {
                self.lazy_free.pop();
            }
        }
        self.lazy_free.is_empty()
    }

    /// Whether structures wait to be freed.
    pub fn lazy_free_pending(&self) -> usize {
        self.lazy_free.iter().map(Object::remaining).sum()
    }
}

/// Structures with more elements than this are freed in steps (UNLINK, expiry, eviction, a
/// flush), like Redis's lazy free: the shard keeps answering while they go.
pub const LAZY_FREE_THRESHOLD: usize = 64;

/// Redis's string encodings: `int` for a canonical integer, `embstr` up to 44 bytes, `raw`.
fn string_encoding(v: &[u8]) -> &'static str {
    if v.len() <= 20 && crate::num::string2ll(v).is_some() {
        "int"
    } else if v.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}
