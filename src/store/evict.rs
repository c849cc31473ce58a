//! maxmemory and eviction.
//!
//! A shard's budget is its share of `maxmemory`; its used memory is the store's own exact
//! accounting (key and value bytes rounded to allocator chunks, slab, table, expiry arrays), so
//! checking it costs nothing. Writes that may grow memory call [`Store::evict_for_write`] first;
//! the background task calls [`Store::evict_step`] with a budget, so eviction is incremental
//! and never stalls a shard.
//!
//! Policies, as Redis names them, approximated like Redis by sampling ([`SAMPLES`] random keys,
//! the worst one goes): `allkeys-lru`, `volatile-lru`, `allkeys-lfu`, `volatile-lfu`,
//! `allkeys-random`, `volatile-random`, `volatile-ttl`, and `noeviction` (writes fail with OOM).
//! Sampling is O(1) per sample because the slab can be indexed at random.
//!
//! `allkeys-s3fifo` is the policy built for caches (S3-FIFO, Yang et al., SOSP'23): new keys
//! enter a small FIFO (10% of keys); a key read again before it leaves is promoted to the main
//! FIFO, others are evicted and remembered in a ghost FIFO of hashes, so a key that comes back
//! soon goes straight to main. Main is a FIFO with 2-bit frequencies (CLOCK-like reinsertion).
//! One-hit wonders and scans leave through the small queue without disturbing the hot set.
//!
//! Per-key access state lives in a parallel `u16` array that exists only while a policy needs
//! it: LRU keeps a seconds clock (wraps after 18 h, like Redis's 24-bit clock after 194 days),
//! LFU an 8-bit minutes clock and an 8-bit logarithmic counter (Redis's scheme, factor 10, decay
//! one per minute), S3-FIFO a 2-bit frequency, a main-queue bit and a 13-bit generation that
//! lets queue entries of reused slots be recognised as stale.

use super::{Store, NIL};
use std::collections::VecDeque;

/// Keys sampled per eviction (Redis's maxmemory-samples default).
pub const SAMPLES: usize = 5;
/// Keys a write may evict before it runs; the background task continues if more is needed.
pub const EVICT_PER_WRITE: usize = 64;
/// New LFU keys start here so that they are not evicted before a second access (Redis).
const LFU_INIT: u8 = 5;
const LFU_LOG_FACTOR: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    NoEviction,
    AllKeysLru,
    VolatileLru,
    AllKeysLfu,
    VolatileLfu,
    AllKeysRandom,
    VolatileRandom,
    VolatileTtl,
    AllKeysS3Fifo,
}

impl Policy {
    pub const ALL: &'static [Policy] = &[
        Policy::NoEviction,
        Policy::AllKeysLru,
        Policy::VolatileLru,
        Policy::AllKeysLfu,
        Policy::VolatileLfu,
        Policy::AllKeysRandom,
        Policy::VolatileRandom,
        Policy::VolatileTtl,
        Policy::AllKeysS3Fifo,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Policy::NoEviction => "noeviction",
            Policy::AllKeysLru => "allkeys-lru",
            Policy::VolatileLru => "volatile-lru",
            Policy::AllKeysLfu => "allkeys-lfu",
            Policy::VolatileLfu => "volatile-lfu",
            Policy::AllKeysRandom => "allkeys-random",
            Policy::VolatileRandom => "volatile-random",
            Policy::VolatileTtl => "volatile-ttl",
            Policy::AllKeysS3Fifo => "allkeys-s3fifo",
        }
    }

    pub fn parse(s: &str) -> Option<Policy> {
        Policy::ALL
            .iter()
            .copied()
            .find(|p| p.name().eq_ignore_ascii_case(s))
    }

    fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    fn tracks_access(self) -> bool {
        !matches!(
            self,
            Policy::NoEviction
                | Policy::AllKeysRandom
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }
}

/// What a write may do after eviction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteAdmission {
    /// Under the limit (or progress was made; the background task goes on).
    Allowed,
    /// Over the limit and nothing can be evicted: the write answers OOM.
    OutOfMemory,
}

pub(super) struct Evictor {
    pub(super) policy: Policy,
    /// Bytes this shard may use; 0 means no limit.
    pub(super) limit: usize,
    hot: Vec<u16>,
    rng: u64,
    pub(super) evicted_keys: u64,
    /// Keys evicted since the last drain, kept only while the append-only log needs them.
    pub(super) journal: Option<Vec<Vec<u8>>>,
    /// The time of the store's latest operation (inserts have no clock parameter of their own).
    pub(super) now_ms: u64,
    /// Bytes held by the shard's connection buffers (reported by the connections).
    pub(super) client_bytes: usize,
    /// Bytes held by the shard's Lua interpreter (reported by its scripts).
    pub(super) script_bytes: usize,
    small: VecDeque<(u32, u16)>,
    main: VecDeque<(u32, u16)>,
    ghost: VecDeque<u64>,
    ghost_set: hashbrown::HashSet<u64>,
}

impl Default for Evictor {
    fn default() -> Self {
        Evictor {
            policy: Policy::NoEviction,
            limit: 0,
            hot: Vec::new(),
            rng: 0x2545_F491_4F6C_DD1D,
            evicted_keys: 0,
            journal: None,
            now_ms: 0,
            client_bytes: 0,
            script_bytes: 0,
            small: VecDeque::new(),
            main: VecDeque::new(),
            ghost: VecDeque::new(),
            ghost_set: hashbrown::HashSet::new(),
        }
    }
}

const S3_FREQ: u16 = 0b11;
const S3_MAIN: u16 = 0b100;
const S3_GEN_SHIFT: u16 = 3;

impl Evictor {
    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    fn lru_clock(now_ms: u64) -> u16 {
        (now_ms / 1000) as u16
    }

    fn lfu_minutes(now_ms: u64) -> u8 {
        (now_ms / 60_000) as u8
    }

    /// The LFU counter after decaying one per elapsed minute.
    fn lfu_decayed(word: u16, now_ms: u64) -> u8 {
        let (minutes, counter) = ((word >> 8) as u8, word as u8);
        let elapsed = Self::lfu_minutes(now_ms).wrapping_sub(minutes);
        counter.saturating_sub(elapsed)
    }

    /// Records an access to slot `idx`.
    #[inline]
    pub(super) fn touch(&mut self, idx: u32, now_ms: u64) {
        if !self.policy.tracks_access() {
            return;
        }
        let i = idx as usize;
        if i >= self.hot.len() {
            return;
        }
        match self.policy {
            Policy::AllKeysLru | Policy::VolatileLru => self.hot[i] = Self::lru_clock(now_ms),
            Policy::AllKeysLfu | Policy::VolatileLfu => {
                let mut c = Self::lfu_decayed(self.hot[i], now_ms);
                if c < u8::MAX {
                    // Logarithmic: the higher the counter, the less likely it grows.
                    let base = c.saturating_sub(LFU_INIT) as u32;
                    let r = (self.next_random() % 1_000_000) as u32;
                    if r < 1_000_000 / (base * LFU_LOG_FACTOR + 1) {
                        c += 1;
                    }
                }
                self.hot[i] = (Self::lfu_minutes(now_ms) as u16) << 8 | c as u16;
            }
            Policy::AllKeysS3Fifo => {
                let w = self.hot[i];
                self.hot[i] = (w & !S3_FREQ) | ((w & S3_FREQ) + 1).min(S3_FREQ);
            }
            _ => {}
        }
    }

    /// A key was inserted at slot `idx` (with hash `hash`).
    pub(super) fn on_insert(&mut self, idx: u32, hash: u64, now_ms: u64) {
        if !self.policy.tracks_access() {
            return;
        }
        let i = idx as usize;
        if self.hot.len() <= i {
            self.hot.resize(i + 1, 0);
        }
        match self.policy {
            Policy::AllKeysLru | Policy::VolatileLru => self.hot[i] = Self::lru_clock(now_ms),
            Policy::AllKeysLfu | Policy::VolatileLfu => {
                self.hot[i] = (Self::lfu_minutes(now_ms) as u16) << 8 | LFU_INIT as u16;
            }
            Policy::AllKeysS3Fifo => {
                let generation = ((self.hot[i] >> S3_GEN_SHIFT).wrapping_add(1)) & 0x1fff;
                let in_ghost = self.ghost_set.remove(&hash);
                self.hot[i] = generation << S3_GEN_SHIFT | if in_ghost { S3_MAIN } else { 0 };
                if in_ghost {
                    self.main.push_back((idx, generation));
                } else {
                    self.small.push_back((idx, generation));
                }
            }
            _ => {}
        }
    }

    fn live_entry(
        &self,
        store_free: impl Fn(u32) -> bool,
        (idx, generation): (u32, u16),
        main: bool,
    ) -> bool {
        let w = self.hot.get(idx as usize).copied().unwrap_or(0);
        !store_free(idx) && (w >> S3_GEN_SHIFT) == generation && ((w & S3_MAIN) != 0) == main
    }
}

impl Store {
    /// Sets the policy and this shard's byte budget (0: unlimited). Switching policy resets the
    /// access history (new keys start fresh), as there is nothing meaningful to carry over.
    pub fn set_eviction(&mut self, policy: Policy, limit_bytes: usize) {
        if policy != self.evict.policy {
            let ev = &mut self.evict;
            ev.policy = policy;
            ev.hot = Vec::new();
            ev.small.clear();
            ev.main.clear();
            ev.ghost.clear();
            ev.ghost_set.clear();
            if policy.tracks_access() {
                ev.hot = vec![0; self.slab.len()];
                if policy == Policy::AllKeysS3Fifo {
                    // Existing keys start in the main queue, in slab order.
                    for (i, s) in self.slab.iter().enumerate() {
                        if !s.is_free() {
                            ev.hot[i] = S3_MAIN;
                            ev.main.push_back((i as u32, 0));
                        }
                    }
                }
            }
        }
        self.evict.limit = limit_bytes;
    }

    pub fn eviction_policy(&self) -> Policy {
        self.evict.policy
    }

    /// Bytes this shard uses: entries (rounded to allocator chunks), slab, table, expiry and
    /// eviction state, plus what its connections' buffers hold ([`Store::add_client_bytes`]),
    /// which count towards maxmemory as in Redis.
    pub fn used_memory(&self) -> usize {
        let s = self.stats();
        s.data_bytes
            + s.overhead_bytes
            + self.evict.hot.capacity() * 2
            + (self.evict.small.capacity() + self.evict.main.capacity()) * 8
            + self.evict.client_bytes
            + self.evict.script_bytes
    }

    /// The shard's Lua interpreter holds `bytes` now (counted towards maxmemory).
    pub fn set_script_bytes(&mut self, bytes: usize) {
        self.evict.script_bytes = bytes;
    }

    /// Connection buffers of this shard grew (positive) or shrank (negative) by `delta` bytes.
    pub fn add_client_bytes(&mut self, delta: isize) {
        self.evict.client_bytes = self.evict.client_bytes.saturating_add_signed(delta);
    }

    /// Bytes held by this shard's connection buffers.
    pub fn client_bytes(&self) -> usize {
        self.evict.client_bytes
    }

    /// Keeps the keys that eviction removes, for [`Store::drain_evicted`] (the append-only log
    /// records them as deletions).
    pub fn record_evictions(&mut self, on: bool) {
        if on != self.evict.journal.is_some() {
            self.evict.journal = on.then(Vec::new);
        }
    }

    pub fn drain_evicted(&mut self) -> Vec<Vec<u8>> {
        self.evict
            .journal
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    pub fn evicted_keys(&self) -> u64 {
        self.evict.evicted_keys
    }

    fn over_limit(&self) -> bool {
        self.evict.limit != 0 && self.used_memory() > self.evict.limit
    }

    /// Called before a write that may grow memory: evicts up to [`EVICT_PER_WRITE`] keys while
    /// over the limit. `OutOfMemory` when over the limit and nothing could be evicted.
    pub fn evict_for_write(&mut self, now_ms: u64) -> WriteAdmission {
        if !self.over_limit() {
            return WriteAdmission::Allowed;
        }
        if self.evict_step(EVICT_PER_WRITE, now_ms) == 0 && self.over_limit() {
            WriteAdmission::OutOfMemory
        } else {
            WriteAdmission::Allowed
        }
    }

    /// Evicts up to `budget` keys while over the limit; returns how many went.
    pub fn evict_step(&mut self, budget: usize, now_ms: u64) -> usize {
        let mut n = 0;
        while n < budget && self.over_limit() {
            let Some(idx) = self.pick_victim(now_ms) else {
                break;
            };
            let h = self.hash(self.slab[idx as usize].key());
            let (data, kl) = self.unlink(h, idx);
            if let Some(j) = self.evict.journal.as_mut() {
                j.push(data[..kl].to_vec());
            }
            self.evict.evicted_keys += 1;
            n += 1;
        }
        n
    }

    fn random_live_slot(&mut self) -> Option<u32> {
        if self.table.is_empty() {
            return None;
        }
        for _ in 0..64 {
            let i = (self.evict.next_random() % self.slab.len() as u64) as u32;
            if !self.slab[i as usize].is_free() {
                return Some(i);
            }
        }
        // A sparse slab: walk from a random point.
        let start = (self.evict.next_random() % self.slab.len() as u64) as usize;
        (0..self.slab.len())
            .map(|k| ((start + k) % self.slab.len()) as u32)
            .find(|&i| !self.slab[i as usize].is_free())
    }

    fn random_volatile_slot(&mut self) -> Option<(u32, u64)> {
        if self.vol_slot.is_empty() {
            return None;
        }
        let p = (self.evict.next_random() % self.vol_slot.len() as u64) as usize;
        Some((self.vol_slot[p], self.vol_at[p]))
    }

    /// Chooses the key to evict under the current policy (None: nothing evictable).
    fn pick_victim(&mut self, now_ms: u64) -> Option<u32> {
        let policy = self.evict.policy;
        match policy {
            Policy::NoEviction => None,
            Policy::AllKeysS3Fifo => self.s3fifo_victim(),
            Policy::AllKeysRandom => self.random_live_slot(),
            Policy::VolatileRandom => self.random_volatile_slot().map(|(i, _)| i),
            _ => {
                // Sample and keep the worst: oldest access (LRU), lowest count (LFU), nearest
                // expiry (TTL).
                let mut best: Option<(u32, u64)> = None;
                for _ in 0..SAMPLES {
                    let (idx, at) = if policy.volatile() {
                        match self.random_volatile_slot() {
                            Some(x) => x,
                            None => break,
                        }
                    } else {
                        match self.random_live_slot() {
                            Some(i) => (i, 0),
                            None => break,
                        }
                    };
                    let w = self.evict.hot.get(idx as usize).copied().unwrap_or(0);
                    // Higher score = better victim.
                    let score = match policy {
                        Policy::AllKeysLru | Policy::VolatileLru => {
                            Evictor::lru_clock(now_ms).wrapping_sub(w) as u64
                        }
                        Policy::AllKeysLfu | Policy::VolatileLfu => {
                            255 - Evictor::lfu_decayed(w, now_ms) as u64
                        }
                        _ => u64::MAX - at,
                    };
                    if best.is_none_or(|(_, s)| score > s) {
                        best = Some((idx, score));
                    }
                }
                best.map(|(i, _)| i)
            }
        }
    }

    fn s3fifo_victim(&mut self) -> Option<u32> {
        // Bounded: every key is looked at a few times at most (frequencies are 2 bits).
        for _ in 0..(4 * (self.evict.small.len() + self.evict.main.len()) + 8) {
            let live = self.table.len().max(1);
            let from_small = !self.evict.small.is_empty()
                && (self.evict.small.len() * 10 >= live || self.evict.main.is_empty());
            let (queue_main, entry) = if from_small {
                (false, self.evict.small.pop_front()?)
            } else {
                (true, self.evict.main.pop_front()?)
            };
            let slab = &self.slab;
            if !self.evict.live_entry(
                |i| slab.get(i as usize).is_none_or(|s| s.is_free()),
                entry,
                queue_main,
            ) {
                continue; // stale: the key was deleted or its slot reused
            }
            let (idx, generation) = entry;
            let w = self.evict.hot[idx as usize];
            let freq = w & S3_FREQ;
            if !queue_main {
                if freq > 0 {
                    // Read again while in the small queue: promote to main.
                    self.evict.hot[idx as usize] = (w & !S3_FREQ) | S3_MAIN;
                    self.evict.main.push_back((idx, generation));
                    continue;
                }
                // A one-hit wonder: evict, remember its hash in the ghost queue.
                let h = self.hash(self.slab[idx as usize].key());
                self.evict.ghost_set.insert(h);
                self.evict.ghost.push_back(h);
                while self.evict.ghost.len() > self.evict.main.len().max(16) {
                    if let Some(old) = self.evict.ghost.pop_front() {
                        self.evict.ghost_set.remove(&old);
                    }
                }
                return Some(idx);
            }
            if freq > 0 {
                self.evict.hot[idx as usize] = w - 1;
                self.evict.main.push_back((idx, generation));
                continue;
            }
            return Some(idx);
        }
        None
    }

    /// OBJECT IDLETIME / FREQ: `key`'s seconds idle (tracked under an LRU policy; 0 otherwise)
    /// and its LFU counter (under an LFU policy), read without counting as an access.
    pub fn access_info(&self, key: &[u8], now_ms: u64) -> Option<(u64, Option<u8>)> {
        let idx = self.find(self.hash(key), key)?;
        if self.is_expired(idx, now_ms) {
            return None;
        }
        let w = self.evict.hot.get(idx as usize).copied().unwrap_or(0);
        Some(match self.evict.policy {
            Policy::AllKeysLru | Policy::VolatileLru => {
                (Evictor::lru_clock(now_ms).wrapping_sub(w) as u64, None)
            }
            Policy::AllKeysLfu | Policy::VolatileLfu => (0, Some(Evictor::lfu_decayed(w, now_ms))),
            _ => (0, None),
        })
    }

    /// Whether an LFU policy is in force (OBJECT FREQ needs one, IDLETIME refuses one).
    pub fn lfu_policy(&self) -> bool {
        matches!(self.evict.policy, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    /// MEMORY USAGE: bytes attributed to `key` (its allocation, slot, table share, expiry).
    pub fn memory_usage(&mut self, key: &[u8], now_ms: u64) -> Option<usize> {
        let h = self.hash(key);
        let idx = self.lookup(h, key, now_ms)?;
        let slot = &self.slab[idx as usize];
        let expiry = if slot.aux != NIL { 12 } else { 0 };
        Some(
            super::entry::heap_size(slot.total_len())
                + std::mem::size_of::<super::entry::Slot>()
                + 5
                + expiry
                + self.object_heap(idx),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ExpiryUpdate, SetCond};

    const T: u64 = 1_700_000_000_000;

    fn fill(s: &mut Store, n: usize, now: u64, ttl: bool) {
        for i in 0..n {
            let exp = if ttl {
                ExpiryUpdate::At(now + 1_000_000 + i as u64)
            } else {
                ExpiryUpdate::Persist
            };
            s.set(
                format!("key:{i}").as_bytes(),
                &[b'v'; 100],
                SetCond::Always,
                exp,
                false,
                now,
            )
            .unwrap();
            s.evict_step(usize::MAX, now);
        }
    }

    #[test]
    fn every_policy_keeps_memory_under_the_limit() {
        for &p in Policy::ALL.iter().filter(|p| **p != Policy::NoEviction) {
            let mut s = Store::new();
            s.set_eviction(p, 200_000);
            fill(&mut s, 10_000, T, true);
            assert!(
                s.used_memory() <= 200_000 + 4096,
                "{p:?}: {}",
                s.used_memory()
            );
            assert!(s.evicted_keys() > 0, "{p:?}");
            assert!(s.len() > 100, "{p:?} kept only {}", s.len());
        }
    }

    #[test]
    fn noeviction_refuses_writes_and_volatile_needs_ttls() {
        let mut s = Store::new();
        s.set_eviction(Policy::NoEviction, 50_000);
        fill(&mut s, 2_000, T, false);
        assert_eq!(s.evict_for_write(T), WriteAdmission::OutOfMemory);
        let mut s = Store::new();
        s.set_eviction(Policy::VolatileLru, 50_000);
        fill(&mut s, 2_000, T, false);
        assert_eq!(s.evict_for_write(T), WriteAdmission::OutOfMemory);
        assert_eq!(s.evicted_keys(), 0);
    }

    #[test]
    fn lru_prefers_idle_keys() {
        let mut s = Store::new();
        s.set_eviction(Policy::AllKeysLru, 0);
        fill(&mut s, 2_000, T, false);
        // Touch the first half much later; then squeeze the store to a quarter.
        for i in 0..1_000 {
            s.get(format!("key:{i}").as_bytes(), T + 3_600_000).unwrap();
        }
        let limit = s.used_memory() / 2;
        s.set_eviction(Policy::AllKeysLru, limit);
        s.evict_step(usize::MAX, T + 3_600_000);
        let hot_left = (0..1_000)
            .filter(|i| s.exists(format!("key:{i}").as_bytes(), T + 3_600_000))
            .count();
        let cold_left = (1_000..2_000)
            .filter(|i| s.exists(format!("key:{i}").as_bytes(), T + 3_600_000))
            .count();
        assert!(hot_left > 2 * cold_left, "hot {hot_left} cold {cold_left}");
    }

    #[test]
    fn s3fifo_protects_reused_keys_from_a_scan() {
        let mut s = Store::new();
        s.set_eviction(Policy::AllKeysS3Fifo, 0);
        // A hot set read twice, then a long scan of one-time keys under a tight limit.
        for i in 0..500 {
            s.set(
                format!("hot:{i}").as_bytes(),
                &[b'h'; 100],
                SetCond::Always,
                ExpiryUpdate::Persist,
                false,
                T,
            )
            .unwrap();
        }
        for _ in 0..2 {
            for i in 0..500 {
                s.get(format!("hot:{i}").as_bytes(), T).unwrap();
            }
        }
        let limit = s.used_memory() * 2;
        s.set_eviction(Policy::AllKeysS3Fifo, limit);
        for i in 0..20_000 {
            s.set(
                format!("scan:{i}").as_bytes(),
                &[b's'; 100],
                SetCond::Always,
                ExpiryUpdate::Persist,
                false,
                T,
            )
            .unwrap();
            s.evict_step(usize::MAX, T);
            if i % 100 == 0 {
                for j in 0..500 {
                    s.get(format!("hot:{j}").as_bytes(), T).unwrap();
                }
            }
        }
        let hot_left = (0..500)
            .filter(|i| s.exists(format!("hot:{i}").as_bytes(), T))
            .count();
        assert!(
            hot_left > 450,
            "only {hot_left} of 500 hot keys survived the scan"
        );
        assert!(s.used_memory() <= limit + 4096);
    }
}
