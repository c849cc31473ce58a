//! Batch prefetch: hints that start a batch's cache misses before its commands run.
//!
//! A lookup is three dependent cache misses: the index's bucket (control byte and slab index),
//! the slab slot, and the key and value bytes. Run one command after another, a pipelined batch
//! on a table bigger than the cache waits for them one at a time (41% of the shard's samples
//! for pipelined GETs on 100,000 keys). A caller with a batch of keys runs every stage for all
//! keys before the next stage:
//! 1. [`Store::prefetch_bucket`]: hashes the key and asks for its bucket's cache lines,
//!    computed from the hash alone (no load waits);
//! 2. [`Store::prefetch_slots`]: probes the index (now in cache) and asks for the candidates'
//!    slots;
//! 3. [`Store::prefetch_entries`]: asks for the candidates' key and value bytes.
//!
//! The loads of different keys are then in flight together. All of it is hints: nothing read
//! here decides anything, and a prefetch of a wrong address neither faults nor changes the
//! store, so a stale [`IndexLayout`] costs only the hint.

use super::Store;

/// Where hashbrown keeps the index: control bytes from `ctrl`, and the element of bucket `i`
/// just below them at `ctrl - (i + 1) * 4` (hashbrown 0.17's layout; if it changed, stage 1
/// would merely fetch the wrong lines).
#[derive(Clone, Copy)]
pub(super) struct IndexLayout {
    ctrl: usize,
    buckets: usize,
}

/// A hint to start loading the cache line at `p`; never faults, whatever the address.
#[inline(always)]
pub(super) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint: it reads nothing architecturally and cannot fault.
    #[allow(unused_unsafe)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl Store {
    /// The index's layout, computed again whenever the bucket count changed (growth moves the
    /// buckets; `flush` and `reserve` reset it).
    fn index_layout(&self) -> Option<IndexLayout> {
        let buckets = self.table.num_buckets();
        if let Some(l) = self.index_layout.get() {
            if l.buckets == buckets {
                return Some(l);
            }
        }
        let i = self.table.iter_buckets().next()?;
        let elem = self.table.get_bucket(i)? as *const u32 as usize;
        let l = IndexLayout {
            ctrl: elem + (i + 1) * std::mem::size_of::<u32>(),
            buckets,
        };
        self.index_layout.set(Some(l));
        Some(l)
    }

    /// Forgets the index layout (the table was replaced or reallocated).
    pub(super) fn reset_index_layout(&self) {
        self.index_layout.set(None);
    }

    /// The hash of `key` in this store. It never changes for the store's life (`flush` keeps
    /// the hasher), so a batch can compute it once while planning and hand it to the command
    /// with [`Store::set_known_hash`].
    #[inline]
    pub fn key_hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The running command's key `key` has hash `hash` (from [`Store::key_hash`]): lookups of
    /// exactly this slice (same address and length) use it instead of hashing again. Cleared
    /// by [`Store::clear_known_hash`] as soon as the command has run, so a later key that
    /// reuses the address cannot pick up a stale hash.
    #[inline]
    pub fn set_known_hash(&mut self, key: &[u8], hash: u64) {
        self.known_hash = Some((key.as_ptr() as usize, key.len(), hash));
    }

    #[inline]
    pub fn clear_known_hash(&mut self) {
        self.known_hash = None;
    }

    /// Stage 1: hashes `key`, asks for the cache lines of its home bucket (control bytes and
    /// elements of its probe group), and returns the hash for the next stages.
    #[inline]
    pub fn prefetch_bucket(&self, key: &[u8]) -> u64 {
        let h = self.key_hash(key);
        self.prefetch_bucket_of(h);
        h
    }

    /// Stage 1 for a key whose hash is already known.
    #[inline]
    pub fn prefetch_bucket_of(&self, h: u64) {
        if let Some(l) = self.index_layout() {
            let pos = (h as usize) & (l.buckets - 1);
            prefetch(l.ctrl.wrapping_add(pos) as *const u8);
            // The group's 16 elements end just below the bucket's: up to two lines.
            let elem = l.ctrl.wrapping_sub((pos + 1) * std::mem::size_of::<u32>());
            prefetch(elem as *const u8);
            prefetch(elem.wrapping_sub(15 * std::mem::size_of::<u32>()) as *const u8);
        }
    }

    /// Stage 2: probes the index for `hash` and asks for the candidate slots.
    #[inline]
    pub fn prefetch_slots(&self, hash: u64) {
        for &i in self.table.iter_hash(hash) {
            prefetch(self.slab.as_ptr().wrapping_add(i as usize));
        }
    }

    /// Stage 3: asks for the key and value bytes of the candidate slots for `hash`.
    #[inline]
    pub fn prefetch_entries(&self, hash: u64) {
        for &i in self.table.iter_hash(hash) {
            if let Some(slot) = self.slab.get(i as usize) {
                slot.prefetch_data();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::set;
    use super::*;

    /// The layout formula agrees with hashbrown for every full bucket (if hashbrown changed its
    /// layout, prefetching would silently stop helping; this says so).
    #[test]
    fn index_layout_matches_hashbrown() {
        let mut s = Store::new();
        for i in 0..5000 {
            set(&mut s, &format!("key:{i}"), "v");
        }
        let l = s.index_layout().expect("non-empty table");
        let mut seen = 0;
        for i in s.table.iter_buckets() {
            let elem = s.table.get_bucket(i).unwrap() as *const u32 as usize;
            assert_eq!(elem, l.ctrl - (i + 1) * 4);
            seen += 1;
        }
        assert_eq!(seen, 5000);
        // Prefetching never changes what is stored.
        for i in 0..5000 {
            let h = s.prefetch_bucket(format!("key:{i}").as_bytes());
            s.prefetch_slots(h);
            s.prefetch_entries(h);
        }
        s.check_invariants();
    }
}
