//! The list structure: a deque of packed chunks, like Redis's quicklist of listpacks.
//!
//! A [`Chunk`] is one flat buffer of entries, each its length (LEB128), its bytes, then its
//! length again written backwards, so the chunk reads from either end without an index (the
//! role of a listpack's back-length). The live entries are `buf[head..]`: a pop at the front
//! only moves `head`, a push at the front writes into the room before `head` (a chunk begun at
//! the front is allocated with all its room there), a push or pop at the back is a `Vec` push or
//! truncate. So LPUSH, RPUSH, LPOP and RPOP are O(1) with no memmove, where a listpack moves
//! its whole body for a change at its head.
//!
//! A chunk holds at most `list-max-listpack-size` worth of entries (Redis's `fill`: negative
//! -1..-5 is a byte bound of 4, 8, 16, 32 or 64 KB, positive a count bound); a full end chunk
//! gets a new neighbour. An index (LINDEX, LSET, LRANGE's start) walks chunk counts from the
//! nearer end, then entries inside one chunk. A change in the middle (LSET to another length,
//! LINSERT, LREM) re-packs the chunks it touches, splitting a chunk that outgrew the bound.
//! Memory per element is its bytes plus two framing bytes up to 127 bytes long.

use std::collections::VecDeque;

use super::pack::{len_size, put_len};

/// Byte bound of a chunk for a negative `fill`; `None` for a count bound.
fn byte_bound(fill: i64) -> usize {
    match fill {
        f if f >= 0 => 64 * 1024,
        -1 => 4096,
        -2 => 8192,
        -3 => 16384,
        -4 => 32768,
        _ => 65536,
    }
}

/// Framed size of an entry of `n` bytes.
#[inline]
fn framed(n: usize) -> usize {
    n + 2 * len_size(n)
}

/// Writes an entry's frame into `out` (exactly `framed(e.len())` bytes).
fn frame(out: &mut [u8], e: &[u8]) {
    let mut lead = Vec::with_capacity(10);
    put_len(&mut lead, e.len());
    let l = lead.len();
    out[..l].copy_from_slice(&lead);
    out[l..l + e.len()].copy_from_slice(e);
    for (i, b) in lead.iter().rev().enumerate() {
        out[l + e.len() + i] = *b;
    }
}

/// Reads a forward length at `b[at..]`: (length, bytes of the length).
#[inline]
fn read_fwd(b: &[u8], at: usize) -> (usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    let mut i = at;
    loop {
        let x = b[i];
        n |= ((x & 0x7f) as usize) << shift;
        i += 1;
        if x & 0x80 == 0 {
            return (n, i - at);
        }
        shift += 7;
    }
}

/// Reads a backward length ending at `b[..end]`: (length, bytes of the length).
#[inline]
fn read_back(b: &[u8], end: usize) -> (usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    let mut i = end;
    loop {
        i -= 1;
        let x = b[i];
        n |= ((x & 0x7f) as usize) << shift;
        if x & 0x80 == 0 {
            return (n, end - i);
        }
        shift += 7;
    }
}

/// One packed run of entries.
#[derive(Clone, Default)]
pub(super) struct Chunk {
    buf: Vec<u8>,
    head: usize,
    count: u32,
}

impl Chunk {
    fn data(&self) -> &[u8] {
        &self.buf[self.head..]
    }

    fn bytes(&self) -> usize {
        self.buf.len() - self.head
    }

    fn fits(&self, n: usize, fill: i64) -> bool {
        if self.count == 0 {
            return true;
        }
        if fill > 0 && self.count as i64 >= fill {
            return false;
        }
        self.bytes() + framed(n) <= byte_bound(fill)
    }

    fn push_back(&mut self, e: &[u8]) {
        let at = self.buf.len();
        self.buf.resize(at + framed(e.len()), 0);
        frame(&mut self.buf[at..], e);
        self.count += 1;
    }

    fn push_front(&mut self, e: &[u8]) {
        let need = framed(e.len());
        if self.head < need {
            // Re-seat the entries at the end of a bigger buffer, with room before them.
            let data = self.bytes();
            let cap = (self.buf.capacity() * 2).max(data + need).max(64);
            let mut nb = vec![0u8; cap];
            nb[cap - data..].copy_from_slice(self.data());
            self.buf = nb;
            self.head = cap - data;
        }
        self.head -= need;
        let h = self.head;
        frame(&mut self.buf[h..h + need], e);
        self.count += 1;
    }

    fn pop_front(&mut self) -> Option<Vec<u8>> {
        if self.count == 0 {
            return None;
        }
        let (n, l) = read_fwd(&self.buf, self.head);
        let s = self.head + l;
        let v = self.buf[s..s + n].to_vec();
        self.head = s + n + l;
        self.count -= 1;
        Some(v)
    }

    fn pop_back(&mut self) -> Option<Vec<u8>> {
        if self.count == 0 {
            return None;
        }
        let end = self.buf.len();
        let (n, l) = read_back(&self.buf, end);
        let s = end - l - n;
        let v = self.buf[s..s + n].to_vec();
        self.buf.truncate(s - l);
        self.count -= 1;
        Some(v)
    }

    /// The entries front to back.
    pub(super) fn iter(&self) -> ChunkIter<'_> {
        ChunkIter {
            b: &self.buf,
            at: self.head,
            end: self.buf.len(),
        }
    }

    /// Entry `i` (walked from the nearer end).
    fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.count as usize {
            return None;
        }
        if i <= self.count as usize / 2 {
            self.iter().nth(i)
        } else {
            self.iter().nth_back(self.count as usize - 1 - i)
        }
    }

    /// Builds chunks of `entries` in order, each within `fill`, sized exactly.
    fn pack<'a>(entries: impl Iterator<Item = &'a [u8]>, fill: i64, out: &mut Vec<Chunk>) {
        let mut c = Chunk::default();
        for e in entries {
            if !c.fits(e.len(), fill) {
                c.buf.shrink_to_fit();
                out.push(std::mem::take(&mut c));
            }
            c.push_back(e);
        }
        if c.count > 0 {
            c.buf.shrink_to_fit();
            out.push(c);
        }
    }
}

/// A chunk's entries, from either end.
#[derive(Clone)]
pub(super) struct ChunkIter<'a> {
    b: &'a [u8],
    at: usize,
    end: usize,
}

impl<'a> Iterator for ChunkIter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.at >= self.end {
            return None;
        }
        let (n, l) = read_fwd(self.b, self.at);
        let s = self.at + l;
        self.at = s + n + l;
        Some(&self.b[s..s + n])
    }
}

impl<'a> DoubleEndedIterator for ChunkIter<'a> {
    #[inline]
    fn next_back(&mut self) -> Option<&'a [u8]> {
        if self.at >= self.end {
            return None;
        }
        let (n, l) = read_back(self.b, self.end);
        let s = self.end - l - n;
        self.end = s - l;
        Some(&self.b[s..s + n])
    }
}

/// A list: chunks in order, the element count and the heap the chunks hold.
#[derive(Clone, Default)]
pub struct List {
    chunks: VecDeque<Chunk>,
    len: usize,
    /// Sum of the chunks' buffer capacities.
    caps: usize,
    /// Elements already freed by a lazy free (see [`List::shed`]).
    shed_count: usize,
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    /// A list of `items` in order, packed under `fill`.
    pub fn from_items<'a>(items: impl Iterator<Item = &'a [u8]>, fill: i64) -> List {
        let mut out = Vec::new();
        Chunk::pack(items, fill, &mut out);
        let mut l = List::new();
        for c in out {
            l.len += c.count as usize;
            l.caps += c.buf.capacity();
            l.chunks.push_back(c);
        }
        l
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Chunks (OBJECT ENCODING, DEBUG-like checks).
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Heap bytes held.
    pub fn heap(&self) -> usize {
        self.caps + self.chunks.capacity() * std::mem::size_of::<Chunk>()
    }

    fn recap(&mut self, before: usize, after: usize) {
        self.caps = self.caps + after - before;
    }

    pub fn push_back(&mut self, e: &[u8], fill: i64) {
        let fits = self.chunks.back().is_some_and(|c| c.fits(e.len(), fill));
        if !fits {
            // A list past one chunk is long: give the new chunk its whole room at once.
            let cap = if self.chunks.is_empty() {
                0
            } else {
                byte_bound(fill).min(8192)
            };
            self.caps += cap;
            self.chunks.push_back(Chunk {
                buf: Vec::with_capacity(cap),
                head: 0,
                count: 0,
            });
        }
        let c = self.chunks.back_mut().expect("a chunk");
        let before = c.buf.capacity();
        c.push_back(e);
        let after = c.buf.capacity();
        self.recap(before, after);
        self.len += 1;
    }

    pub fn push_front(&mut self, e: &[u8], fill: i64) {
        let fits = self.chunks.front().is_some_and(|c| c.fits(e.len(), fill));
        if !fits {
            let cap = if self.chunks.is_empty() {
                0
            } else {
                byte_bound(fill).min(8192)
            };
            let cap = cap.max(framed(e.len()));
            self.caps += cap;
            self.chunks.push_front(Chunk {
                buf: vec![0u8; cap],
                head: cap,
                count: 0,
            });
        }
        let c = self.chunks.front_mut().expect("a chunk");
        let before = c.buf.capacity();
        c.push_front(e);
        let after = c.buf.capacity();
        self.recap(before, after);
        self.len += 1;
    }

    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        let c = self.chunks.front_mut()?;
        let v = c.pop_front()?;
        if c.count == 0 {
            let cap = c.buf.capacity();
            self.caps -= cap;
            self.chunks.pop_front();
        }
        self.len -= 1;
        Some(v)
    }

    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        let c = self.chunks.back_mut()?;
        let v = c.pop_back()?;
        if c.count == 0 {
            let cap = c.buf.capacity();
            self.caps -= cap;
            self.chunks.pop_back();
        }
        self.len -= 1;
        Some(v)
    }

    /// The chunk holding element `i` and `i`'s place in it, walking from the nearer end.
    fn locate(&self, i: usize) -> Option<(usize, usize)> {
        if i >= self.len {
            return None;
        }
        if i < self.len / 2 {
            let mut i = i;
            for (ci, c) in self.chunks.iter().enumerate() {
                if i < c.count as usize {
                    return Some((ci, i));
                }
                i -= c.count as usize;
            }
        } else {
            let mut back = self.len - 1 - i;
            for (ci, c) in self.chunks.iter().enumerate().rev() {
                if back < c.count as usize {
                    return Some((ci, c.count as usize - 1 - back));
                }
                back -= c.count as usize;
            }
        }
        None
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let (ci, j) = self.locate(i)?;
        self.chunks[ci].get(j)
    }

    /// The elements from index `start` on, front to back.
    pub fn iter_from(&self, start: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let (ci, j) = self.locate(start).unwrap_or((self.chunks.len(), 0));
        self.chunks
            .range(ci..)
            .enumerate()
            .flat_map(move |(k, c)| c.iter().skip(if k == 0 { j } else { 0 }))
    }

    /// All elements front to back.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        self.chunks.iter().flat_map(Chunk::iter)
    }

    /// The elements from index `end` down to the front, back to front.
    pub fn iter_back_from(&self, end: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let (ci, j) = self.locate(end).unwrap_or((0, usize::MAX));
        let skip_last = |c: &Chunk| c.count as usize - 1 - j;
        let first_skip = if j == usize::MAX {
            0
        } else {
            skip_last(&self.chunks[ci])
        };
        let upto = if j == usize::MAX { 0 } else { ci + 1 };
        self.chunks
            .range(..upto)
            .rev()
            .enumerate()
            .flat_map(move |(k, c)| c.iter().rev().skip(if k == 0 { first_skip } else { 0 }))
    }

    /// Replaces chunk `ci` by the chunks `f` leaves of its entries (re-packed under `fill`).
    fn rewrite(&mut self, ci: usize, fill: i64, f: impl FnOnce(&mut Vec<Vec<u8>>)) {
        let old = &self.chunks[ci];
        let mut items: Vec<Vec<u8>> = old.iter().map(<[u8]>::to_vec).collect();
        let (old_count, old_cap) = (old.count as usize, old.buf.capacity());
        f(&mut items);
        let mut packed = Vec::new();
        Chunk::pack(items.iter().map(Vec::as_slice), fill, &mut packed);
        self.len = self.len - old_count + items.len();
        self.caps -= old_cap;
        self.chunks.remove(ci);
        for (k, c) in packed.into_iter().enumerate() {
            self.caps += c.buf.capacity();
            self.chunks.insert(ci + k, c);
        }
    }

    /// Sets element `i` to `v`; false when out of range.
    pub fn set(&mut self, i: usize, v: &[u8], fill: i64) -> bool {
        let Some((ci, j)) = self.locate(i) else {
            return false;
        };
        self.rewrite(ci, fill, |items| items[j] = v.to_vec());
        true
    }

    /// Inserts `v` so that it becomes element `i` (0..=len).
    pub fn insert(&mut self, i: usize, v: &[u8], fill: i64) {
        if i == 0 {
            return self.push_front(v, fill);
        }
        if i >= self.len {
            return self.push_back(v, fill);
        }
        let Some((ci, j)) = self.locate(i) else {
            return;
        };
        self.rewrite(ci, fill, |items| items.insert(j, v.to_vec()));
    }

    /// Index of the first element equal to `v`.
    pub fn position(&self, v: &[u8]) -> Option<usize> {
        self.iter().position(|e| e == v)
    }

    /// Removes up to `limit` elements equal to `v` (0: all), from the back when `from_back`;
    /// how many went.
    pub fn remove(&mut self, v: &[u8], limit: usize, from_back: bool, fill: i64) -> usize {
        let mut left = if limit == 0 { usize::MAX } else { limit };
        let mut removed = 0;
        let n = self.chunks.len();
        let order: Vec<usize> = if from_back {
            (0..n).rev().collect()
        } else {
            (0..n).collect()
        };
        // Indexes shift as chunks split or vanish: rewrite from the far side of the walk first
        // is not possible for a bounded count, so collect the touched chunks' new contents and
        // rebuild them in one pass at the end.
        let mut plans: Vec<(usize, Vec<Vec<u8>>)> = Vec::new();
        for ci in order {
            if left == 0 {
                break;
            }
            let c = &self.chunks[ci];
            if !c.iter().any(|e| e == v) {
                continue;
            }
            let mut items: Vec<Vec<u8>> = c.iter().map(<[u8]>::to_vec).collect();
            let before = items.len();
            if from_back {
                let mut k = items.len();
                while k > 0 && left > 0 {
                    k -= 1;
                    if items[k] == v {
                        items.remove(k);
                        left -= 1;
                    }
                }
            } else {
                let mut k = 0;
                while k < items.len() && left > 0 {
                    if items[k] == v {
                        items.remove(k);
                        left -= 1;
                    } else {
                        k += 1;
                    }
                }
            }
            removed += before - items.len();
            plans.push((ci, items));
        }
        plans.sort_by(|a, b| b.0.cmp(&a.0));
        for (ci, items) in plans {
            self.rewrite(ci, fill, move |x| *x = items);
        }
        removed
    }

    /// Keeps elements `start..=end` (already clamped, `start <= end < len`).
    pub fn trim(&mut self, start: usize, end: usize) {
        let back = self.len - 1 - end;
        self.drop_front(start);
        self.drop_back(back);
    }

    fn drop_front(&mut self, mut n: usize) {
        while n > 0 {
            let Some(c) = self.chunks.front() else { return };
            if c.count as usize <= n {
                n -= c.count as usize;
                self.len -= c.count as usize;
                self.caps -= c.buf.capacity();
                self.chunks.pop_front();
            } else {
                for _ in 0..n {
                    self.pop_front();
                }
                return;
            }
        }
    }

    fn drop_back(&mut self, mut n: usize) {
        while n > 0 {
            let Some(c) = self.chunks.back() else { return };
            if c.count as usize <= n {
                n -= c.count as usize;
                self.len -= c.count as usize;
                self.caps -= c.buf.capacity();
                self.chunks.pop_back();
            } else {
                for _ in 0..n {
                    self.pop_back();
                }
                return;
            }
        }
    }

    /// Frees up to `n` elements' worth of chunks (a lazy free's step); how many went.
    pub fn shed(&mut self, n: usize) -> usize {
        let mut done = 0;
        while done < n.max(1) {
            let Some(c) = self.chunks.pop_back() else {
                break;
            };
            done += c.count as usize;
            self.caps -= c.buf.capacity();
        }
        self.shed_count += done;
        done
    }

    pub fn remaining(&self) -> usize {
        self.len.saturating_sub(self.shed_count)
    }

    pub fn is_shed(&self) -> bool {
        self.chunks.is_empty()
    }
}

#[cfg(test)]
#[path = "tests_quick.rs"]
mod tests;
