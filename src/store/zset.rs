//! Sorted-set writes: ZADD and ZINCRBY, ZREM, pops, removal of a rank range, storing a
//! computed set. Reads go through [`ZSet`] from [`Store::zset_view`].
//!
//! Every sorted set is a [`ZSet`] in the object table (`store::sorted`). Each write records its
//! effect for the log as `ZADD key score member...` with the scores it left (17 significant
//! digits, which read back to the same double) or `ZREM key member...`.

use super::entry::Enc;
use super::sorted::ZSet;
use super::value::Object;
use super::{Store, StoreError};

/// ZADD's options.
#[derive(Debug, Clone, Copy, Default)]
pub struct ZAddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

/// What a ZADD did.
#[derive(Debug, Default)]
pub struct ZAddResult {
    pub added: usize,
    /// Added or updated (ZADD CH).
    pub changed: usize,
    /// ZADD INCR / ZINCRBY: the new score, `None` when NX/XX/GT/LT refused.
    pub score: Option<f64>,
}

/// A score as the log writes it.
pub fn score_text(s: f64) -> Vec<u8> {
    let mut b = Vec::with_capacity(24);
    crate::resp::reply::format_g17(s, &mut b);
    b
}

impl Store {
    fn zset_slot(&mut self, h: u64, key: &[u8], now_ms: u64) -> Result<Option<u32>, StoreError> {
        match self.lookup(h, key, now_ms) {
            Some(idx) => match self.slab[idx as usize].enc() {
                Some(Enc::ZSetIndex) => Ok(Some(idx)),
                _ => Err(StoreError::WrongType),
            },
            None => Ok(None),
        }
    }

    fn zset_at(&self, idx: u32) -> Result<&ZSet, StoreError> {
        match self.object(idx) {
            Some(Object::ZSet(z)) => Ok(z),
            _ => Err(StoreError::WrongType),
        }
    }

    /// The sorted set at `key`, if any.
    pub fn zset_view(&mut self, key: &[u8], now_ms: u64) -> Result<Option<&ZSet>, StoreError> {
        let h = self.hash(key);
        match self.zset_slot(h, key, now_ms)? {
            Some(idx) => self.zset_at(idx).map(Some),
            None => Ok(None),
        }
    }

    /// The sorted set at `key` without touching the store (several read at once).
    pub fn zset_peek(&self, key: &[u8], now_ms: u64) -> Result<Option<&ZSet>, StoreError> {
        let h = self.hash(key);
        match self.find(h, key) {
            Some(idx) if !self.is_expired(idx, now_ms) => match self.slab[idx as usize].enc() {
                Some(Enc::ZSetIndex) => self.zset_at(idx).map(Some),
                _ => Err(StoreError::WrongType),
            },
            _ => Ok(None),
        }
    }

    fn with_zset<R>(&mut self, idx: u32, f: impl FnOnce(&mut ZSet) -> R) -> Option<R> {
        let o = self.slab[idx as usize].object()?;
        let Some(Some(Object::ZSet(z))) = self.objects.get_mut(o as usize) else {
            return None;
        };
        let before = z.heap();
        let r = f(z);
        let after = z.heap();
        self.obj_bytes = self.obj_bytes - before + after;
        Some(r)
    }

    fn new_zset(&mut self, h: u64, key: &[u8]) -> Result<u32, StoreError> {
        let o = self.new_object(Object::ZSet(ZSet::new()));
        self.insert_typed(h, key, Enc::ZSetIndex, &o.to_le_bytes(), None)
    }

    /// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member... (flags already checked for
    /// conflicts by the command).
    pub fn zadd(
        &mut self,
        key: &[u8],
        items: &[(f64, &[u8])],
        f: ZAddFlags,
        now_ms: u64,
    ) -> Result<ZAddResult, StoreError> {
        let h = self.hash(key);
        let idx = match self.zset_slot(h, key, now_ms)? {
            Some(idx) => {
                self.snapshot_cow(idx);
                idx
            }
            None if f.xx || items.is_empty() => return Ok(ZAddResult::default()),
            None => self.new_zset(h, key)?,
        };
        let mut res = ZAddResult::default();
        // The effect is built only while the log wants it.
        let logging = self.effects.is_some();
        let mut effect: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), key.to_vec()];
        let mut changed = false;
        let mut nan = false;
        self.with_zset(idx, |z| {
            for &(score, member) in items {
                let old = z.score(member);
                let new = match (old, f.incr) {
                    (Some(o), true) => o + score,
                    _ => score,
                };
                if new.is_nan() {
                    nan = true;
                    return;
                }
                // -0 is stored as 0, as Redis answers it.
                let new = new + 0.0;
                let allowed = match old {
                    None => !f.xx,
                    Some(o) => !f.nx && !(f.gt && new <= o) && !(f.lt && new >= o),
                };
                if !allowed {
                    continue;
                }
                if f.incr {
                    res.score = Some(new);
                }
                match old {
                    None => {
                        z.insert(member, new);
                        res.added += 1;
                        res.changed += 1;
                    }
                    Some(o) if o != new => {
                        z.insert(member, new);
                        res.changed += 1;
                    }
                    Some(_) => continue,
                }
                changed = true;
                if logging {
                    effect.push(score_text(new));
                    effect.push(member.to_vec());
                }
            }
        });
        if changed {
            self.changed(|| effect);
        }
        self.drop_if_empty(h, idx);
        if nan {
            return Err(StoreError::NanOrInfinity);
        }
        Ok(res)
    }

    /// ZREM key member...: how many went.
    pub fn zrem(
        &mut self,
        key: &[u8],
        members: &[&[u8]],
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        let h = self.hash(key);
        let Some(idx) = self.zset_slot(h, key, now_ms)? else {
            return Ok(0);
        };
        self.snapshot_cow(idx);
        let mut gone: Vec<&[u8]> = Vec::new();
        self.with_zset(idx, |z| {
            for m in members {
                if z.remove(m).is_some() {
                    gone.push(m);
                }
            }
        });
        if !gone.is_empty() {
            self.changed(|| {
                let mut c = vec![b"ZREM".to_vec(), key.to_vec()];
                c.extend(gone.iter().map(|m| m.to_vec()));
                c
            });
            self.drop_if_empty(h, idx);
        }
        Ok(gone.len())
    }

    /// Removes the members of ranks `start..=end` (ascending order, already clamped):
    /// ZREMRANGEBYRANK/SCORE/LEX and the pops. Returns them with their scores, in order.
    pub fn zremove_ranks(
        &mut self,
        key: &[u8],
        start: usize,
        end: usize,
        from_top: bool,
        now_ms: u64,
    ) -> Result<Vec<(Vec<u8>, f64)>, StoreError> {
        let h = self.hash(key);
        let Some(idx) = self.zset_slot(h, key, now_ms)? else {
            return Ok(Vec::new());
        };
        let z = self.zset_at(idx)?;
        if start > end || start >= z.len() {
            return Ok(Vec::new());
        }
        let end = end.min(z.len() - 1);
        let mut picked: Vec<(Vec<u8>, f64)> = z
            .iter_from(start)
            .take(end - start + 1)
            .map(|(m, s)| (m.to_vec(), s))
            .collect();
        if from_top {
            picked.reverse();
        }
        self.snapshot_cow(idx);
        self.with_zset(idx, |z| {
            for (m, _) in &picked {
                z.remove(m);
            }
        });
        self.changed(|| {
            let mut c = vec![b"ZREM".to_vec(), key.to_vec()];
            c.extend(picked.iter().map(|(m, _)| m.clone()));
            c
        });
        self.drop_if_empty(h, idx);
        Ok(picked)
    }

    /// ZPOPMIN / ZPOPMAX: up to `count` members from one end (`None`: the key is missing).
    pub fn zpop(
        &mut self,
        key: &[u8],
        max: bool,
        count: usize,
        now_ms: u64,
    ) -> Result<Option<Vec<(Vec<u8>, f64)>>, StoreError> {
        let h = self.hash(key);
        let Some(idx) = self.zset_slot(h, key, now_ms)? else {
            return Ok(None);
        };
        let n = self.zset_at(idx)?.len();
        let take = count.min(n);
        if take == 0 {
            return Ok(Some(Vec::new()));
        }
        let (s, e) = if max {
            (n - take, n - 1)
        } else {
            (0, take - 1)
        };
        self.zremove_ranks(key, s, e, max, now_ms).map(Some)
    }

    /// Stores `items` (distinct members) as the sorted set `key`, replacing what was there; an
    /// empty result deletes it. Returns the size.
    pub fn zstore(
        &mut self,
        key: &[u8],
        items: &[(Vec<u8>, f64)],
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        let existed = self.del(key, now_ms);
        if items.is_empty() {
            if existed {
                self.changed(|| vec![b"DEL".to_vec(), key.to_vec()]);
            }
            return Ok(0);
        }
        let h = self.hash(key);
        let idx = self.new_zset(h, key)?;
        self.with_zset(idx, |z| {
            for (m, s) in items {
                z.insert(m, *s);
            }
        });
        self.changed(|| vec![b"DEL".to_vec(), key.to_vec()]);
        for part in items.chunks(1000) {
            self.changed(|| {
                let mut c = vec![b"ZADD".to_vec(), key.to_vec()];
                for (m, s) in part {
                    c.push(score_text(*s));
                    c.push(m.clone());
                }
                c
            });
        }
        Ok(items.len())
    }
}
