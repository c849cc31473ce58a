//! List writes: pushes, pops, LSET, LINSERT, LREM, LTRIM. Reads go through [`List`] borrowed
//! from [`Store::list_view`].
//!
//! A list is always a [`List`] of packed chunks in the object table (`store::quick`): a small
//! list is one chunk, which is what a listpack is, so there is no conversion between encodings
//! and no copy when a list grows past its first chunk. Each write records its effect for the
//! log as the command that redoes it, with indexes made absolute (`LPOP key 3`, `LSET key 7 v`).

use super::entry::Enc;
use super::quick::List;
use super::value::Object;
use super::{Store, StoreError};

fn num(n: impl itoa::Integer) -> Vec<u8> {
    itoa::Buffer::new().format(n).as_bytes().to_vec()
}

impl Store {
    /// Live list slot of `key`, WrongType for another type.
    fn list_slot(&mut self, h: u64, key: &[u8], now_ms: u64) -> Result<Option<u32>, StoreError> {
        match self.lookup(h, key, now_ms) {
            Some(idx) => match self.slab[idx as usize].enc() {
                Some(Enc::ListChunks) => Ok(Some(idx)),
                _ => Err(StoreError::WrongType),
            },
            None => Ok(None),
        }
    }

    fn list_at(&self, idx: u32) -> Result<&List, StoreError> {
        match self.object(idx) {
            Some(Object::List(l)) => Ok(l),
            _ => Err(StoreError::WrongType),
        }
    }

    /// The list at `key`, if any.
    pub fn list_view(&mut self, key: &[u8], now_ms: u64) -> Result<Option<&List>, StoreError> {
        let h = self.hash(key);
        match self.list_slot(h, key, now_ms)? {
            Some(idx) => self.list_at(idx).map(Some),
            None => Ok(None),
        }
    }

    /// Whether `key` holds a list (false when missing), WrongType for another type, without
    /// touching the store.
    pub fn is_list(&self, key: &[u8], now_ms: u64) -> Result<bool, StoreError> {
        let h = self.hash(key);
        match self.find(h, key) {
            Some(idx) if !self.is_expired(idx, now_ms) => match self.slab[idx as usize].enc() {
                Some(Enc::ListChunks) => Ok(true),
                _ => Err(StoreError::WrongType),
            },
            _ => Ok(false),
        }
    }

    /// Runs `f` on the list of slot `idx`, keeping the memory accounting right.
    fn with_list<R>(&mut self, idx: u32, f: impl FnOnce(&mut List, i64) -> R) -> Option<R> {
        let fill = self.limits.list_fill;
        let o = self.slab[idx as usize].object()?;
        let Some(Some(Object::List(l))) = self.objects.get_mut(o as usize) else {
            return None;
        };
        let before = l.heap();
        let r = f(l, fill);
        let after = l.heap();
        self.obj_bytes = self.obj_bytes - before + after;
        Some(r)
    }

    /// LPUSH / RPUSH (`left`), and with `create` false LPUSHX / RPUSHX: the list's new length
    /// (0 when the key is missing and not created).
    pub fn push(
        &mut self,
        key: &[u8],
        elems: &[&[u8]],
        left: bool,
        create: bool,
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        let h = self.hash(key);
        let idx = match self.list_slot(h, key, now_ms)? {
            Some(idx) => {
                self.snapshot_cow(idx);
                idx
            }
            None if !create || elems.is_empty() => return Ok(0),
            None => {
                let o = self.new_object(Object::List(List::new()));
                self.insert_typed(h, key, Enc::ListChunks, &o.to_le_bytes(), None)?
            }
        };
        let n = self
            .with_list(idx, |l, fill| {
                for e in elems {
                    if left {
                        l.push_front(e, fill);
                    } else {
                        l.push_back(e, fill);
                    }
                }
                l.len()
            })
            .unwrap_or(0);
        self.changed(|| {
            let mut c = vec![if left {
                b"LPUSH".to_vec()
            } else {
                b"RPUSH".to_vec()
            }];
            c.push(key.to_vec());
            c.extend(elems.iter().map(|e| e.to_vec()));
            c
        });
        Ok(n)
    }

    /// LPOP / RPOP: up to `count` elements from one end (`None` when the key is missing); the
    /// key goes with its last element.
    pub fn pop(
        &mut self,
        key: &[u8],
        left: bool,
        count: usize,
        now_ms: u64,
    ) -> Result<Option<Vec<Vec<u8>>>, StoreError> {
        let h = self.hash(key);
        let Some(idx) = self.list_slot(h, key, now_ms)? else {
            return Ok(None);
        };
        if count == 0 {
            return Ok(Some(Vec::new()));
        }
        self.snapshot_cow(idx);
        let out = self
            .with_list(idx, |l, _| {
                let n = count.min(l.len());
                let mut out = Vec::with_capacity(n);
                for _ in 0..n {
                    let e = if left { l.pop_front() } else { l.pop_back() };
                    out.extend(e);
                }
                out
            })
            .unwrap_or_default();
        if !out.is_empty() {
            let n = out.len();
            self.changed(|| {
                let op = if left {
                    b"LPOP".to_vec()
                } else {
                    b"RPOP".to_vec()
                };
                vec![op, key.to_vec(), num(n)]
            });
            self.drop_if_empty(h, idx);
        }
        Ok(Some(out))
    }

    /// LSET key index value.
    pub fn lset(
        &mut self,
        key: &[u8],
        index: i64,
        v: &[u8],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let h = self.hash(key);
        let Some(idx) = self.list_slot(h, key, now_ms)? else {
            return Err(StoreError::NoSuchKey);
        };
        let len = self.list_at(idx)?.len() as i64;
        let i = if index < 0 { len + index } else { index };
        if i < 0 || i >= len {
            return Err(StoreError::OutOfRange);
        }
        self.snapshot_cow(idx);
        self.with_list(idx, |l, fill| l.set(i as usize, v, fill));
        self.changed(|| vec![b"LSET".to_vec(), key.to_vec(), num(i), v.to_vec()]);
        Ok(())
    }

    /// LINSERT: the new length, -1 when the pivot is not there, 0 when the key is missing.
    pub fn linsert(
        &mut self,
        key: &[u8],
        before: bool,
        pivot: &[u8],
        v: &[u8],
        now_ms: u64,
    ) -> Result<i64, StoreError> {
        let h = self.hash(key);
        let Some(idx) = self.list_slot(h, key, now_ms)? else {
            return Ok(0);
        };
        let Some(at) = self.list_at(idx)?.position(pivot) else {
            return Ok(-1);
        };
        self.snapshot_cow(idx);
        let at = if before { at } else { at + 1 };
        let n = self
            .with_list(idx, |l, fill| {
                l.insert(at, v, fill);
                l.len()
            })
            .unwrap_or(0);
        self.changed(|| {
            let side = if before {
                b"BEFORE".to_vec()
            } else {
                b"AFTER".to_vec()
            };
            vec![
                b"LINSERT".to_vec(),
                key.to_vec(),
                side,
                pivot.to_vec(),
                v.to_vec(),
            ]
        });
        Ok(n as i64)
    }

    /// LREM key count element: how many went.
    pub fn lrem(
        &mut self,
        key: &[u8],
        count: i64,
        v: &[u8],
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        let h = self.hash(key);
        let Some(idx) = self.list_slot(h, key, now_ms)? else {
            return Ok(0);
        };
        if self.list_at(idx)?.position(v).is_none() {
            return Ok(0);
        }
        self.snapshot_cow(idx);
        let limit = count.unsigned_abs().min(usize::MAX as u64) as usize;
        let n = self
            .with_list(idx, |l, fill| l.remove(v, limit, count < 0, fill))
            .unwrap_or(0);
        if n > 0 {
            self.changed(|| vec![b"LREM".to_vec(), key.to_vec(), num(count), v.to_vec()]);
            self.drop_if_empty(h, idx);
        }
        Ok(n)
    }

    /// LTRIM key start stop (Redis's index rules; an empty range deletes the key).
    pub fn ltrim(
        &mut self,
        key: &[u8],
        start: i64,
        stop: i64,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let h = self.hash(key);
        let Some(idx) = self.list_slot(h, key, now_ms)? else {
            return Ok(());
        };
        let len = self.list_at(idx)?.len() as i64;
        let s = if start < 0 {
            (len + start).max(0)
        } else {
            start
        };
        let e = if stop < 0 {
            len + stop
        } else {
            stop.min(len - 1)
        };
        if s == 0 && e == len - 1 {
            return Ok(());
        }
        self.snapshot_cow(idx);
        if s > e || s >= len {
            self.with_list(idx, |l, _| l.trim(0, 0));
            self.with_list(idx, |l, _| l.pop_front());
        } else {
            self.with_list(idx, |l, _| l.trim(s as usize, e as usize));
        }
        self.changed(|| vec![b"LTRIM".to_vec(), key.to_vec(), num(start), num(stop)]);
        self.drop_if_empty(h, idx);
        Ok(())
    }
}
