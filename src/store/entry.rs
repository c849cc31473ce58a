//! One slab slot: the private per-key record.
//!
//! 24 bytes: a `Box<[u8]>` holding key bytes followed by value bytes (one
//! allocation per key), a `meta` word packing the key length with a type tag,
//! and an `aux` word whose meaning depends on whether the slot is live
//! (position in the volatile list, or `NIL`) or free (next free slot).
//! Nothing outside `store` sees this layout, so it can be compacted later
//! (e.g. a thin pointer with inline lengths, or small-string inlining).

/// "No index": end of the free list, or "no TTL" in `aux`.
pub(super) const NIL: u32 = u32::MAX;

/// Keys are at most MAX_STRING_LEN (2^29) bytes, so 30 bits hold the length and
/// the top two bits are free for a type tag.
const LEN_BITS: u32 = 30;
const LEN_MASK: u32 = (1 << LEN_BITS) - 1;
const TAG_STRING: u32 = 0;
const TAG_FREE: u32 = 3;

/// The value type of a key. Only strings exist today; the tag bits and the
/// `WrongType` checks in every string command are the seam for lists/hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
}

impl Type {
    /// The name Redis' TYPE command and SCAN's TYPE filter use.
    pub fn as_str(self) -> &'static str {
        match self {
            Type::String => "string",
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

    #[inline]
    pub(super) fn kind(&self) -> Type {
        // Free slots are never asked; every live tag today is a string.
        Type::String
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
    fn heap_size_estimate() {
        assert_eq!(heap_size(0), 0);
        assert_eq!(heap_size(1), 32);
        assert_eq!(heap_size(48), 64);
    }
}
