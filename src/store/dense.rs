//! The table encoding of a big hash or set ("hashtable" in OBJECT ENCODING).
//!
//! Elements live in a slab (`Vec<Option<Box<[u8]>>>`, 16 bytes a slot) and an index
//! (`hashbrown::HashTable<u32>` of slab positions, 4 bytes and a control byte a bucket) finds
//! them by name, as the keyspace itself does (`store` module docs). An element is one
//! allocation: a set member's bytes, or a hash field's length (LEB128), its bytes, then the
//! value's bytes, so a field costs one allocation and no separate value pointer.
//!
//! Because elements never move between insert and delete, HSCAN/SSCAN cursors are slab
//! positions (an element present for the whole walk is returned exactly once), and a random
//! element (SPOP, SRANDMEMBER, HRANDFIELD) is a random position: O(1) while the slab is dense.
//! When it falls under a quarter full it is compacted (positions change, as a Redis rehash
//! may make a SCAN return an element twice).

use super::pack;
use hashbrown::HashTable;

pub struct Dense {
    slots: Vec<Option<Box<[u8]>>>,
    free: Vec<u32>,
    index: HashTable<u32>,
    hasher: ahash::RandomState,
    /// Hash fields (field + value entries) rather than set members.
    pairs: bool,
    /// Sum of the element lengths (for memory accounting).
    bytes: usize,
}

/// A hash element's field and value.
#[inline]
pub(super) fn split_pair(e: &[u8]) -> (&[u8], &[u8]) {
    match pack::entry_at(e, 0) {
        Some((f, at)) => (f, &e[at..]),
        None => (&[], &[]),
    }
}

/// A hash element: field length, field, value.
pub(super) fn make_pair(field: &[u8], value: &[u8]) -> Box<[u8]> {
    let mut v = Vec::with_capacity(pack::len_size(field.len()) + field.len() + value.len());
    pack::push(&mut v, field);
    v.extend_from_slice(value);
    v.into_boxed_slice()
}

impl Dense {
    pub fn new(pairs: bool, capacity: usize) -> Dense {
        Dense {
            slots: Vec::with_capacity(capacity),
            free: Vec::new(),
            index: HashTable::with_capacity(capacity),
            hasher: ahash::RandomState::new(),
            pairs,
            bytes: 0,
        }
    }

    #[inline]
    fn name_of(pairs: bool, e: &[u8]) -> &[u8] {
        if pairs {
            split_pair(e).0
        } else {
            e
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Estimated heap bytes: slab, index, elements with their allocation headers.
    pub fn heap(&self) -> usize {
        let buckets = (self.index.capacity() * 8).div_ceil(7);
        self.slots.capacity() * 16
            + self.free.capacity() * 4
            + buckets * 5
            + self.bytes
            + self.index.len() * 16
    }

    fn position(&self, name: &[u8]) -> Option<u32> {
        let h = self.hasher.hash_one(name);
        let (slots, pairs) = (&self.slots, self.pairs);
        self.index
            .find(h, |&i| {
                slots[i as usize]
                    .as_deref()
                    .is_some_and(|e| super::bytes_eq(Self::name_of(pairs, e), name))
            })
            .copied()
    }

    /// The element named `name`.
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        let i = self.position(name)?;
        self.slots[i as usize].as_deref()
    }

    /// Inserts or replaces the element with `e`'s name; true when it was new.
    pub fn upsert(&mut self, e: Box<[u8]>) -> bool {
        let name = Self::name_of(self.pairs, &e);
        if let Some(i) = self.position(name) {
            let slot = &mut self.slots[i as usize];
            self.bytes = self.bytes - slot.as_deref().map_or(0, <[u8]>::len) + e.len();
            *slot = Some(e);
            return false;
        }
        let h = self.hasher.hash_one(name);
        self.bytes += e.len();
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(e);
                i
            }
            None => {
                self.slots.push(Some(e));
                (self.slots.len() - 1) as u32
            }
        };
        let (slots, hasher, pairs) = (&self.slots, &self.hasher, self.pairs);
        self.index.insert_unique(h, i, |&j| {
            hasher.hash_one(
                slots[j as usize]
                    .as_deref()
                    .map_or(&[][..], |e| Self::name_of(pairs, e)),
            )
        });
        true
    }

    /// Removes the element named `name`.
    pub fn remove(&mut self, name: &[u8]) -> Option<Box<[u8]>> {
        let h = self.hasher.hash_one(name);
        let (slots, pairs) = (&self.slots, self.pairs);
        let entry = self
            .index
            .find_entry(h, |&i| {
                slots[i as usize]
                    .as_deref()
                    .is_some_and(|e| super::bytes_eq(Self::name_of(pairs, e), name))
            })
            .ok()?;
        let (i, _) = entry.remove();
        let e = self.slots[i as usize].take()?;
        self.bytes -= e.len();
        self.free.push(i);
        self.maybe_compact();
        Some(e)
    }

    /// Rebuilds the slab without holes once it is under a quarter full.
    fn maybe_compact(&mut self) {
        if self.slots.len() < 64 || self.index.len() * 4 >= self.slots.len() {
            return;
        }
        let old = std::mem::take(&mut self.slots);
        let mut fresh = Dense::new(self.pairs, self.index.len());
        fresh.hasher = self.hasher.clone();
        for e in old.into_iter().flatten() {
            fresh.upsert(e);
        }
        *self = fresh;
    }

    /// Every element, in slab order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.slots.iter().filter_map(|s| s.as_deref())
    }

    /// SCAN from slab position `cursor`, looking at about `count` positions; returns the next
    /// cursor (0 when done).
    pub fn scan(&self, cursor: u64, count: usize, emit: &mut dyn FnMut(&[u8])) -> u64 {
        let Ok(start) = usize::try_from(cursor) else {
            return 0;
        };
        let end = start.saturating_add(count.max(1)).min(self.slots.len());
        for s in self.slots.get(start..end).unwrap_or(&[]) {
            if let Some(e) = s.as_deref() {
                emit(e);
            }
        }
        if end >= self.slots.len() {
            0
        } else {
            end as u64
        }
    }

    /// A random element's position: random probes while the slab is dense, then a walk from a
    /// random point (the slab is at least a quarter full, so probes rarely miss).
    pub fn random_position(&self, mut r: impl FnMut() -> u64) -> Option<u32> {
        let n = self.slots.len();
        if self.index.is_empty() || n == 0 {
            return None;
        }
        let below = |r: u64| ((u128::from(r) * n as u128) >> 64) as usize;
        for _ in 0..32 {
            let i = below(r());
            if self.slots[i].is_some() {
                return Some(i as u32);
            }
        }
        let start = below(r());
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| self.slots[i].is_some())
            .map(|i| i as u32)
    }

    /// `count` distinct random elements (the table holds at least three times as many, so
    /// random picks rarely repeat).
    pub fn random_distinct<'a>(
        &'a self,
        count: usize,
        r: &mut impl FnMut() -> u64,
    ) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut seen = hashbrown::HashSet::with_capacity(count);
        let mut picked = Vec::with_capacity(count);
        while picked.len() < count {
            let Some(p) = self.random_position(&mut *r) else {
                break;
            };
            if seen.insert(p) {
                picked.push(p);
            }
        }
        picked.into_iter().filter_map(move |p| self.at(p))
    }

    pub fn at(&self, pos: u32) -> Option<&[u8]> {
        self.slots.get(pos as usize)?.as_deref()
    }

    /// Drops up to `n` elements without keeping the index (the structure is being freed);
    /// returns how many went.
    pub fn shed(&mut self, n: usize) -> usize {
        if !self.index.is_empty() {
            self.index = HashTable::new();
        }
        let k = n.min(self.slots.len()).max(1);
        let keep = self.slots.len().saturating_sub(k);
        self.slots.truncate(keep);
        if self.slots.is_empty() {
            self.slots = Vec::new();
        }
        k
    }

    /// Elements (with holes) not yet dropped by [`Dense::shed`].
    pub fn remaining(&self) -> usize {
        self.slots.len()
    }

    /// Whether [`Dense::shed`] has dropped everything.
    pub fn is_shed(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether this holds hash fields.
    pub fn is_pairs(&self) -> bool {
        self.pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_insert_find_remove_and_compact() {
        let mut d = Dense::new(false, 0);
        for i in 0..1000 {
            assert!(d.upsert(format!("m{i}").into_bytes().into()));
        }
        assert!(!d.upsert(b"m5".to_vec().into()));
        assert_eq!(d.len(), 1000);
        for i in 0..990 {
            assert!(d.remove(format!("m{i}").as_bytes()).is_some());
        }
        assert!(d.remove(b"m1").is_none());
        assert_eq!(d.len(), 10);
        assert!(d.slots.len() < 100, "compacted: {}", d.slots.len());
        let mut seen: Vec<Vec<u8>> = d.iter().map(<[u8]>::to_vec).collect();
        seen.sort();
        assert_eq!(seen.len(), 10);
        assert!(d.get(b"m995").is_some());
        let mut x = 7u64;
        let p = d
            .random_position(|| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                x
            })
            .unwrap();
        assert!(d.at(p).is_some());
    }

    #[test]
    fn pairs_are_found_by_field() {
        let mut d = Dense::new(true, 0);
        assert!(d.upsert(make_pair(b"f", b"v1")));
        assert!(!d.upsert(make_pair(b"f", b"v2")));
        assert_eq!(split_pair(d.get(b"f").unwrap()), (&b"f"[..], &b"v2"[..]));
        assert!(d.get(b"v2").is_none());
        let mut cur = 0;
        let mut n = 0;
        loop {
            cur = d.scan(cur, 1, &mut |_| n += 1);
            if cur == 0 {
                break;
            }
        }
        assert_eq!(n, 1);
    }
}
