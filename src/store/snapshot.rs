//! Point-in-time snapshots without fork.
//!
//! `snapshot_begin` marks every live slot as pending in a bitset (one bit per slot). From then
//! on the shard keeps serving: `snapshot_step` walks the slab a budget at a time, copying pending
//! entries out; and before any change to a pending slot (overwrite, expiry change, append,
//! delete, eviction, flush) its current state is copied first. So every key is copied exactly
//! once, as it was when the snapshot began; keys created afterwards (their slots are not
//! pending) are left out. The shard never stops; the extra memory is the copies waiting to be
//! written, at most the keys changed during the walk plus one step.

use super::{Store, Value};

/// One key as the snapshot saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapEntry {
    pub key: Vec<u8>,
    pub value: Value,
    pub expire_at: Option<u64>,
}

#[derive(Default)]
pub(super) struct Snapshot {
    active: bool,
    pending: Vec<u64>,
    pos: usize,
    copied: Vec<SnapEntry>,
}

impl Store {
    /// Starts a snapshot of every key live now.
    pub fn snapshot_begin(&mut self) {
        let mut pending = vec![0u64; self.slab.len().div_ceil(64)];
        for (i, s) in self.slab.iter().enumerate() {
            if !s.is_free() {
                pending[i / 64] |= 1 << (i % 64);
            }
        }
        self.snap = Snapshot {
            active: true,
            pending,
            pos: 0,
            copied: Vec::new(),
        };
    }

    pub fn snapshot_active(&self) -> bool {
        self.snap.active
    }

    /// Moves up to about `budget` entries (copies made before writes first, then the walk) into
    /// `out`. Returns true when the snapshot is complete (and no longer active).
    pub fn snapshot_step(&mut self, budget: usize, out: &mut Vec<SnapEntry>) -> bool {
        if !self.snap.active {
            return true;
        }
        out.append(&mut self.snap.copied);
        let mut n = 0;
        while n < budget && self.snap.pos < self.slab.len() {
            let i = self.snap.pos;
            self.snap.pos += 1;
            if self.take_pending(i) {
                out.push(self.entry_at(i as u32));
                n += 1;
            }
        }
        if self.snap.pos >= self.slab.len() {
            self.snap = Snapshot::default();
            return true;
        }
        false
    }

    fn take_pending(&mut self, i: usize) -> bool {
        let (w, b) = (i / 64, 1u64 << (i % 64));
        match self.snap.pending.get_mut(w) {
            Some(word) if *word & b != 0 => {
                *word &= !b;
                true
            }
            _ => false,
        }
    }

    fn entry_at(&self, idx: u32) -> SnapEntry {
        let slot = &self.slab[idx as usize];
        SnapEntry {
            key: slot.key().to_vec(),
            value: self.value_at(idx),
            expire_at: self.expiry_of(idx),
        }
    }

    /// Called before slot `idx` changes: copies it first if the snapshot still needs it.
    #[inline]
    pub(super) fn snapshot_cow(&mut self, idx: u32) {
        if self.snap.active && self.take_pending(idx as usize) {
            let e = self.entry_at(idx);
            self.snap.copied.push(e);
        }
    }

    /// Before a flush: copies every key the snapshot still needs.
    pub(super) fn snapshot_cow_all(&mut self) {
        if !self.snap.active {
            return;
        }
        for i in 0..self.slab.len() {
            self.snapshot_cow(i as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::store::test_util::{set, T0 as T};
    use crate::store::{ExpireCond, Store};

    #[test]
    fn the_snapshot_is_the_state_at_its_start_whatever_happens_during_the_walk() {
        let mut s = Store::new();
        for i in 0..1000 {
            set(&mut s, &format!("k{i}"), &format!("v{i}"));
        }
        s.expire_at(b"k7", T + 5000, ExpireCond::Always, T);
        s.snapshot_begin();
        let mut out = Vec::new();
        assert!(!s.snapshot_step(10, &mut out));
        // Changes during the walk: overwrite, append, delete, expiry, new keys, eviction-like
        // deletes, and a rename; none must show in the snapshot.
        for i in (0..1000).step_by(3) {
            set(&mut s, &format!("k{i}"), "changed");
        }
        s.append(b"k1", b"-more", T).unwrap();
        s.set_range(b"k2", 0, b"XX", T).unwrap();
        s.del(b"k4", T);
        s.persist(b"k7", T);
        s.rename(b"k5", b"k5b", false, T).unwrap();
        for i in 0..500 {
            set(&mut s, &format!("new{i}"), "n");
        }
        while !s.snapshot_step(7, &mut out) {}
        assert!(!s.snapshot_active());
        let mut got: Vec<(String, String, Option<u64>)> = out
            .into_iter()
            .map(|e| {
                (
                    String::from_utf8(e.key).unwrap(),
                    match e.value {
                        crate::store::Value::String(v) => String::from_utf8(v).unwrap(),
                        other => panic!("{other:?}"),
                    },
                    e.expire_at,
                )
            })
            .collect();
        got.sort();
        let mut want: Vec<(String, String, Option<u64>)> = (0..1000)
            .map(|i| {
                (
                    format!("k{i}"),
                    format!("v{i}"),
                    if i == 7 { Some(T + 5000) } else { None },
                )
            })
            .collect();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn flush_during_a_snapshot_keeps_what_the_snapshot_needs() {
        let mut s = Store::new();
        for i in 0..100 {
            set(&mut s, &format!("k{i}"), "v");
        }
        s.snapshot_begin();
        let mut out = Vec::new();
        s.snapshot_step(10, &mut out);
        s.flush();
        set(&mut s, "after", "x");
        while !s.snapshot_step(10, &mut out) {}
        assert_eq!(out.len(), 100);
        assert!(out.iter().all(|e| e.key != b"after"));
    }
}
