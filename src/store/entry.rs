//! One slab slot: the private per-key record.
//!
//! 24 bytes: a `Box<[u8]>` holding key bytes followed by the payload (one
//! allocation per key), a `meta` word packing the key length with a tag,
//! and an `aux` word whose meaning depends on whether the slot is live
//! (position in the volatile list, or `NIL`) or free (next free slot).
//!
//! The payload of a string is its bytes (tag `STRING`, the fast path: no
//! extra byte, no extra branch beyond the tag test). Every other type has tag
//! `TYPED`: the payload's first byte is its encoding ([`Enc`]) and the rest is
//! either the compact encoding itself (a small hash or set lives in the same
//! allocation as its key, see `store::pack`) or the 4-byte index of a big
//! value in the store's object table (`store::value`).
//! Nothing outside `store` sees this layout.

/// "No index": end of the free list, or "no TTL" in `aux`.
pub(super) const NIL: u32 = u32::MAX;

/// Keys are at most MAX_STRING_LEN (2^29) bytes, so 30 bits hold the length and
/// the top two bits are free for a type tag.
const LEN_BITS: u32 = 30;
const LEN_MASK: u32 = (1 << LEN_BITS) - 1;
const TAG_STRING: u32 = 0;
const TAG_TYPED: u32 = 1;
const TAG_FREE: u32 = 3;

/// The value type of a key, as TYPE names it. Lists, sorted sets and streams are declared so
/// the encodings and the generic commands have their place; their commands come later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    List,
    Set,
    ZSet,
    Hash,
    Stream,
}

impl Type {
    /// The name Redis' TYPE command and SCAN's TYPE filter use.
    pub fn as_str(self) -> &'static str {
        match self {
            Type::String => "string",
            Type::List => "list",
            Type::Set => "set",
            Type::ZSet => "zset",
            Type::Hash => "hash",
            Type::Stream => "stream",
        }
    }
}

/// How a non-string value is laid out: the first payload byte of a `TYPED` slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Enc {
    /// Field, value, field, value... packed in the slot (`store::pack`).
    HashPack = 1,
    /// The index of a [`super::dense::Dense`] of field/value entries.
    HashTable = 2,
    /// Sorted integers of one width in the slot (`store::pack::ints`).
    SetInts = 3,
    /// Members packed in the slot.
    SetPack = 4,
    /// The index of a [`super::dense::Dense`] of members.
    SetTable = 5,
    /// The index of a [`super::quick::List`] of packed chunks.
    ListChunks = 6,
    /// The index of a [`super::sorted::ZSet`].
    ZSetIndex = 7,
}

impl Enc {
    pub fn from_byte(b: u8) -> Option<Enc> {
        Some(match b {
            1 => Enc::HashPack,
            2 => Enc::HashTable,
            3 => Enc::SetInts,
            4 => Enc::SetPack,
            5 => Enc::SetTable,
            6 => Enc::ListChunks,
            7 => Enc::ZSetIndex,
            _ => return None,
        })
    }

    pub fn kind(self) -> Type {
        match self {
            Enc::HashPack | Enc::HashTable => Type::Hash,
            Enc::SetInts | Enc::SetPack | Enc::SetTable => Type::Set,
            Enc::ListChunks => Type::List,
            Enc::ZSetIndex => Type::ZSet,
        }
    }

    /// Whether the payload ends with spare room and a byte counting it (the packed encodings
    /// that grow an element at a time: see [`Slot::edit_body`]).
    #[inline]
    pub fn has_slack(self) -> bool {
        matches!(self, Enc::HashPack | Enc::SetPack)
    }

    /// Whether the payload is an index into the object table.
    pub fn is_object(self) -> bool {
        matches!(
            self,
            Enc::HashTable | Enc::SetTable | Enc::ListChunks | Enc::ZSetIndex
        )
    }

    /// OBJECT ENCODING's name.
    pub fn name(self) -> &'static str {
        match self {
            Enc::HashPack | Enc::SetPack => "listpack",
            Enc::HashTable | Enc::SetTable => "hashtable",
            Enc::SetInts => "intset",
            // Redis 7.0 names every list so, whatever its size.
            Enc::ListChunks => "quicklist",
            Enc::ZSetIndex => "skiplist",
        }
    }
}

pub(super) struct Slot {
    data: Box<[u8]>,
    meta: u32,
    /// Live: index into the store's volatile arrays, or NIL when persistent.
    /// Free: next free slot, or NIL.
    pub(super) aux: u32,
}

/// glibc's malloc rounds a request up to 16 bytes with an 8-byte header and a
/// 32-byte minimum chunk; used only for the overhead estimate in `Stats`.
pub(super) fn heap_size(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        (len.saturating_add(8 + 15) & !15).max(32)
    }
}

fn concat(key: &[u8], value: &[u8]) -> Box<[u8]> {
    // Exact capacity so into_boxed_slice does not reallocate.
    let mut v = Vec::with_capacity(key.len() + value.len());
    v.extend_from_slice(key);
    v.extend_from_slice(value);
    v.into_boxed_slice()
}

impl Slot {
    /// Caller guarantees `key.len() <= MAX_STRING_LEN`.
    pub(super) fn new_string(key: &[u8], value: &[u8], aux: u32) -> Slot {
        Slot {
            data: concat(key, value),
            meta: key.len() as u32 | (TAG_STRING << LEN_BITS),
            aux,
        }
    }

    #[inline]
    pub(super) fn is_free(&self) -> bool {
        self.meta >> LEN_BITS == TAG_FREE
    }

    /// A typed slot: `Enc` byte then `body`.
    pub(super) fn new_typed(key: &[u8], enc: Enc, body: &[u8], aux: u32) -> Slot {
        let slack = enc.has_slack() as usize;
        let mut v = Vec::with_capacity(key.len() + 1 + body.len() + slack);
        v.extend_from_slice(key);
        v.push(enc as u8);
        v.extend_from_slice(body);
        if slack == 1 {
            v.push(0);
        }
        Slot {
            data: v.into_boxed_slice(),
            meta: key.len() as u32 | (TAG_TYPED << LEN_BITS),
            aux,
        }
    }

    #[inline]
    pub(super) fn is_string(&self) -> bool {
        self.meta >> LEN_BITS == TAG_STRING
    }

    /// The encoding of a typed slot; `None` for a string.
    #[inline]
    pub(super) fn enc(&self) -> Option<Enc> {
        if self.is_string() {
            return None;
        }
        self.data
            .get(self.key_len())
            .and_then(|&b| Enc::from_byte(b))
    }

    #[inline]
    pub(super) fn kind(&self) -> Type {
        // Free slots are never asked.
        self.enc().map_or(Type::String, Enc::kind)
    }

    /// A typed slot's payload after its encoding byte.
    #[inline]
    pub(super) fn body(&self) -> &[u8] {
        self.data
            .get(self.key_len() + 1..self.body_end())
            .unwrap_or(&[])
    }

    /// Where the body ends: before the spare room and its count, for the encodings that keep
    /// some.
    #[inline]
    fn body_end(&self) -> usize {
        let n = self.data.len();
        match self.enc() {
            Some(e) if e.has_slack() => {
                let spare = self.data.last().copied().unwrap_or(0) as usize;
                n.saturating_sub(1 + spare).max(self.key_len() + 1)
            }
            _ => n,
        }
    }

    /// The object index a `HashTable`/`SetTable` slot holds.
    #[inline]
    pub(super) fn object(&self) -> Option<u32> {
        let b = self.body();
        match (self.enc(), b.get(..4)) {
            (Some(e), Some(w)) if e.is_object() => {
                Some(u32::from_le_bytes(w.try_into().unwrap_or_default()))
            }
            _ => None,
        }
    }

    /// Makes the slot a typed value (`enc` then `body`), reusing the allocation when the size
    /// is unchanged.
    pub(super) fn set_typed(&mut self, enc: Enc, body: &[u8]) {
        let kl = self.key_len();
        let slack = enc.has_slack() as usize;
        if self.data.len() == kl + 1 + body.len() + slack {
            self.data[kl] = enc as u8;
            self.data[kl + 1..kl + 1 + body.len()].copy_from_slice(body);
            if slack == 1 {
                self.data[kl + 1 + body.len()] = 0;
            }
        } else {
            let mut v = Vec::with_capacity(kl + 1 + body.len() + slack);
            v.extend_from_slice(&self.data[..kl]);
            v.push(enc as u8);
            v.extend_from_slice(body);
            if slack == 1 {
                v.push(0);
            }
            self.data = v.into_boxed_slice();
        }
        self.meta = kl as u32 | (TAG_TYPED << LEN_BITS);
    }

    /// Edits a typed slot's body in place through a `Vec` that ends where the body does; `f`
    /// sees the allocation and the offset where the body starts.
    ///
    /// The packed encodings that grow an element at a time keep spare room after the body, its
    /// size in the last byte (at most 16 bytes plus an eighth of the body, and 255): an insert
    /// that fits takes no allocation, and a removal leaves the room for the next insert. So an
    /// SADD or HSET of a new element reallocates only every few inserts, not on each.
    pub(super) fn edit_body<R>(&mut self, f: impl FnOnce(&mut Vec<u8>, usize) -> R) -> R {
        let start = self.key_len() + 1;
        let end = self.body_end();
        let slack = self.enc().is_some_and(Enc::has_slack);
        let mut v = std::mem::take(&mut self.data).into_vec();
        v.truncate(end);
        let before = v.len();
        let r = f(&mut v, start);
        if slack {
            let len = v.len();
            let most = (16 + (len - start) / 8).min(255);
            let grew = len > before;
            // Keep what the allocation has if it is not too much; after a growth past it (or
            // with no room left for the count byte), keep the most: one allocation now saves
            // several later.
            let spare = match v.capacity().checked_sub(len + 1) {
                Some(room) if room <= most => room,
                _ if grew => most,
                _ => 0,
            };
            if v.capacity() < len + spare + 1 {
                v.reserve_exact(len + spare + 1 - v.len());
            }
            v.resize(len + spare, 0);
            v.push(spare as u8);
        }
        self.data = v.into_boxed_slice();
        r
    }

    /// Drops a packed body's spare room (a value built whole in one command keeps none).
    pub(super) fn trim_slack(&mut self) {
        if self.enc().is_some_and(Enc::has_slack) && self.data.last().is_some_and(|&s| s > 0) {
            let end = self.body_end();
            let mut v = std::mem::take(&mut self.data).into_vec();
            v.truncate(end);
            v.push(0);
            self.data = v.into_boxed_slice();
        }
    }

    /// The payload to move this slot's value to another key as is (RENAME): the body, for
    /// [`Slot::new_typed`] to frame again.
    pub(super) fn movable_body(data: &[u8], kl: usize) -> &[u8] {
        let Some(enc) = data.get(kl).and_then(|&b| Enc::from_byte(b)) else {
            return &[];
        };
        let n = data.len();
        let end = if enc.has_slack() {
            let spare = data.last().copied().unwrap_or(0) as usize;
            n.saturating_sub(1 + spare).max(kl + 1)
        } else {
            n
        };
        data.get(kl + 1..end).unwrap_or(&[])
    }

    #[inline]
    pub(super) fn key_len(&self) -> usize {
        (self.meta & LEN_MASK) as usize
    }

    #[inline]
    pub(super) fn key(&self) -> &[u8] {
        self.data.get(..self.key_len()).unwrap_or(&[])
    }

    #[inline]
    pub(super) fn value(&self) -> &[u8] {
        self.data.get(self.key_len()..).unwrap_or(&[])
    }

    /// Asks the CPU to start loading the key and value bytes (first and last cache line).
    #[inline]
    pub(super) fn prefetch_data(&self) {
        if let Some(last) = self.data.len().checked_sub(1) {
            super::prefetch::prefetch(self.data.as_ptr());
            // A packed hash or set is scanned through: its middle lines too (up to 512 bytes).
            if !self.is_string() {
                let mut at = 64;
                while at < last.min(512) {
                    super::prefetch::prefetch(self.data.as_ptr().wrapping_add(at));
                    at += 64;
                }
            }
            super::prefetch::prefetch(self.data.as_ptr().wrapping_add(last));
        }
    }

    /// Bytes of the allocation (key + value).
    #[inline]
    pub(super) fn total_len(&self) -> usize {
        self.data.len()
    }

    /// Replaces the value, reusing the allocation when the size is unchanged
    /// (the common SET-overwrite and INCR case), and makes the key a string.
    pub(super) fn set_string(&mut self, value: &[u8]) {
        let kl = self.key_len();
        if self.data.len() - kl == value.len() {
            self.data[kl..].copy_from_slice(value);
        } else {
            self.data = concat(&self.data[..kl], value);
        }
        self.meta = kl as u32 | (TAG_STRING << LEN_BITS);
    }

    /// Appends to the value; goes through Vec so the allocator's realloc can
    /// grow in place (glibc often can, and uses mremap for large blocks).
    pub(super) fn append(&mut self, extra: &[u8]) {
        let mut v = std::mem::take(&mut self.data).into_vec();
        v.reserve_exact(extra.len());
        v.extend_from_slice(extra);
        self.data = v.into_boxed_slice();
    }

    /// SETRANGE: zero-extend the value to at least `offset + bytes.len()` and
    /// write `bytes` at `offset`. Caller has bounded the sizes.
    pub(super) fn write_at(&mut self, offset: usize, bytes: &[u8]) {
        let kl = self.key_len();
        let start = kl + offset;
        let need = start + bytes.len();
        if need > self.data.len() {
            let mut v = std::mem::take(&mut self.data).into_vec();
            v.resize(need, 0);
            self.data = v.into_boxed_slice();
        }
        self.data[start..need].copy_from_slice(bytes);
    }

    /// Frees the slot, handing back its allocation (so a caller can still
    /// return the value it held).
    pub(super) fn release(&mut self, next: u32) -> Box<[u8]> {
        let data = std::mem::take(&mut self.data);
        self.meta = TAG_FREE << LEN_BITS;
        self.aux = next;
        data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 24);
    }

    #[test]
    fn set_string_in_place_and_resize() {
        let mut s = Slot::new_string(b"key", b"abc", NIL);
        assert_eq!(s.key(), b"key");
        assert_eq!(s.value(), b"abc");
        s.set_string(b"xyz");
        assert_eq!(s.value(), b"xyz");
        s.set_string(b"longer value");
        assert_eq!(s.key(), b"key");
        assert_eq!(s.value(), b"longer value");
        s.append(b"!");
        assert_eq!(s.value(), b"longer value!");
        s.write_at(15, b"zz");
        assert_eq!(s.value(), b"longer value!\0\0zz");
        assert!(!s.is_free());
        let b = s.release(7);
        assert_eq!(&b[..3], b"key");
        assert!(s.is_free());
        assert_eq!(s.aux, 7);
    }

    #[test]
    fn packed_bodies_keep_spare_room_for_the_next_insert() {
        let mut s = Slot::new_typed(b"key", Enc::SetPack, &[], NIL);
        assert_eq!(s.body(), b"");
        // Grow one byte at a time: the allocation changes only when the room runs out.
        let mut reallocs = 0;
        for i in 0..200u8 {
            let at = s.data.as_ptr();
            s.edit_body(|v, _| v.push(i));
            reallocs += (s.data.as_ptr() != at) as usize;
            assert_eq!(s.body().len(), i as usize + 1);
            assert_eq!(*s.body().last().unwrap(), i);
            assert_eq!(s.key(), b"key");
        }
        assert!(reallocs < 30, "{reallocs} reallocations for 200 inserts");
        let spare = *s.data.last().unwrap() as usize;
        assert_eq!(s.data.len(), 3 + 1 + 200 + spare + 1);
        // A removal keeps the room; trimming drops it.
        s.edit_body(|v, start| {
            v.remove(start);
        });
        assert_eq!(s.body()[0], 1);
        s.trim_slack();
        assert_eq!(s.data.len(), 3 + 1 + 199 + 1);
        assert_eq!(Slot::movable_body(&s.data, 3), s.body());
        // Encodings without spare room are untouched.
        let mut t = Slot::new_typed(b"k", Enc::SetInts, &[2], NIL);
        t.edit_body(|v, _| v.extend_from_slice(&[1, 0]));
        assert_eq!(t.body(), &[2, 1, 0]);
        assert_eq!(t.data.len(), 1 + 1 + 3);
    }

    #[test]
    fn heap_size_estimate() {
        assert_eq!(heap_size(0), 0);
        assert_eq!(heap_size(1), 32);
        assert_eq!(heap_size(48), 64);
    }
}
