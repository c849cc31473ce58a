//! Compact encodings of small collections, kept in the key's own allocation.
//!
//! A small hash or set is one flat byte run after its key, scanned linearly, like Redis's
//! listpack and intset: no per-element allocation, no pointers, a few bytes of framing per
//! element. Past the thresholds (`hash-max-listpack-*`, `set-max-*`) the value moves to a real
//! table (`store::dense`).
//!
//! - **Pack** (hash and set "listpack"): entries back to back, each a length (LEB128: one byte
//!   up to 127) then its bytes. A hash alternates field, value. There is no header: the count is
//!   the number of entries, counted by a scan as short as the thresholds keep it.
//! - **Ints** (set "intset"): a width byte (2, 4 or 8), then the members as little-endian
//!   integers of that width, sorted ascending, so membership is a binary search. Adding a
//!   member that does not fit widens every member (as Redis's intset upgrade does).

/// Appends `n` as LEB128.
#[inline]
pub(super) fn put_len(v: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        v.push((n as u8) | 0x80);
        n >>= 7;
    }
    v.push(n as u8);
}

/// Bytes `put_len(n)` takes.
#[inline]
pub(super) fn len_size(n: usize) -> usize {
    let bits = usize::BITS - (n | 1).leading_zeros();
    bits.div_ceil(7) as usize
}

/// The length at `at` and where its bytes start; `None` on a malformed run (never produced by
/// the store, but never trusted either).
#[inline]
fn read_len(b: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut n = 0usize;
    let mut shift = 0;
    let mut i = at;
    loop {
        let byte = *b.get(i)?;
        i += 1;
        n |= ((byte & 0x7f) as usize).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some((n, i));
        }
        shift += 7;
        if shift > 56 {
            return None;
        }
    }
}

/// The entry at `at`: its bytes and where the next entry starts.
#[inline]
pub(super) fn entry_at(b: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let (n, start) = read_len(b, at)?;
    let end = start.checked_add(n)?;
    Some((b.get(start..end)?, end))
}

/// Appends one entry.
#[inline]
pub(super) fn push(v: &mut Vec<u8>, bytes: &[u8]) {
    put_len(v, bytes.len());
    v.extend_from_slice(bytes);
}

/// Bytes one entry of `n` bytes takes.
#[inline]
pub(super) fn entry_size(n: usize) -> usize {
    len_size(n) + n
}

/// The entries of a pack, in order.
#[derive(Clone)]
pub(super) struct Entries<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let (e, next) = entry_at(self.b, self.at)?;
        self.at = next;
        Some(e)
    }
}

#[inline]
pub(super) fn entries(b: &[u8]) -> Entries<'_> {
    Entries { b, at: 0 }
}

/// Number of entries.
pub(super) fn count(b: &[u8]) -> usize {
    entries(b).count()
}

/// Where a hash's `field` sits: (start of the field entry, start of the value entry, end of
/// the value entry), offsets into `b`.
pub(super) fn find_pair(b: &[u8], field: &[u8]) -> Option<(usize, usize, usize)> {
    let mut at = 0;
    while at < b.len() {
        let (f, vstart) = entry_at(b, at)?;
        let (_, vend) = entry_at(b, vstart)?;
        if super::bytes_eq(f, field) {
            return Some((at, vstart, vend));
        }
        at = vend;
    }
    None
}

/// Where a set's `member` sits: (start, end) of its entry.
pub(super) fn find_entry(b: &[u8], member: &[u8]) -> Option<(usize, usize)> {
    let mut at = 0;
    while at < b.len() {
        let (m, next) = entry_at(b, at)?;
        if super::bytes_eq(m, member) {
            return Some((at, next));
        }
        at = next;
    }
    None
}

/// The `i`-th entry's range (start, end), for random picks.
pub(super) fn nth_range(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let mut at = 0;
    for _ in 0..i {
        at = entry_at(b, at)?.1;
    }
    Some((at, entry_at(b, at)?.1))
}

/// The set "intset" encoding.
pub(super) mod ints {
    /// The narrowest width (2, 4, 8) that holds `v`.
    #[inline]
    pub fn width_for(v: i64) -> u8 {
        if i16::try_from(v).is_ok() {
            2
        } else if i32::try_from(v).is_ok() {
            4
        } else {
            8
        }
    }

    #[inline]
    fn width(b: &[u8]) -> usize {
        match b.first() {
            Some(&w @ (2 | 4 | 8)) => w as usize,
            _ => 8,
        }
    }

    pub fn len(b: &[u8]) -> usize {
        b.len().saturating_sub(1) / width(b)
    }

    #[inline]
    pub fn get(b: &[u8], i: usize) -> i64 {
        let w = width(b);
        let at = 1 + i * w;
        match b.get(at..at + w) {
            Some(s) if w == 2 => i16::from_le_bytes([s[0], s[1]]) as i64,
            Some(s) if w == 4 => i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as i64,
            Some(s) => i64::from_le_bytes(s.try_into().unwrap_or_default()),
            None => 0,
        }
    }

    /// Binary search: `Ok(position)` when present, `Err(insertion point)` otherwise.
    pub fn search(b: &[u8], v: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, len(b));
        while lo < hi {
            let mid = (lo + hi) / 2;
            match get(b, mid).cmp(&v) {
                std::cmp::Ordering::Equal => return Ok(mid),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Err(lo)
    }

    pub fn iter(b: &[u8]) -> impl Iterator<Item = i64> + '_ {
        (0..len(b)).map(move |i| get(b, i))
    }

    fn put(v: &mut Vec<u8>, x: i64, w: usize) {
        v.extend_from_slice(&x.to_le_bytes()[..w]);
    }

    /// A new intset body of sorted, distinct `vals`.
    pub fn build(vals: &[i64]) -> Vec<u8> {
        let w = vals.iter().map(|&v| width_for(v)).max().unwrap_or(2);
        let mut out = Vec::with_capacity(1 + vals.len() * w as usize);
        out.push(w);
        for &x in vals {
            put(&mut out, x, w as usize);
        }
        out
    }

    /// Inserts `x` (absent) at sorted position `pos` in the body at `v[start..]`, widening when
    /// it does not fit.
    pub fn insert(v: &mut Vec<u8>, start: usize, pos: usize, x: i64) {
        let body = &v[start..];
        let w = width(body);
        if (width_for(x) as usize) > w {
            let mut vals: Vec<i64> = iter(body).collect();
            vals.insert(pos, x);
            let nb = build(&vals);
            v.truncate(start);
            v.extend_from_slice(&nb);
            return;
        }
        let at = start + 1 + pos * w;
        let bytes = x.to_le_bytes();
        // Exactly the room needed, so the slot's boxed slice need not shrink afterwards.
        v.reserve_exact(w);
        v.splice(at..at, bytes[..w].iter().copied());
    }

    /// Removes the member at `pos` from the body at `v[start..]`.
    pub fn remove(v: &mut Vec<u8>, start: usize, pos: usize) {
        let w = width(&v[start..]);
        let at = start + 1 + pos * w;
        v.drain(at..at + w);
    }
}

/// Redis's "can this member live in an intset": the canonical decimal form of an i64.
#[inline]
pub(super) fn as_int(member: &[u8]) -> Option<i64> {
    if member.is_empty() || member.len() > 20 {
        return None;
    }
    crate::num::string2ll(member)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip() {
        for n in [0usize, 1, 127, 128, 300, 16383, 16384, 1 << 20, 1 << 29] {
            let mut v = Vec::new();
            put_len(&mut v, n);
            assert_eq!(v.len(), len_size(n), "{n}");
            assert_eq!(read_len(&v, 0), Some((n, v.len())));
        }
        assert_eq!(read_len(&[0x80], 0), None);
    }

    #[test]
    fn pairs_are_found_and_counted() {
        let mut v = Vec::new();
        for (f, x) in [("a", "1"), ("bb", ""), ("", "zz")] {
            push(&mut v, f.as_bytes());
            push(&mut v, x.as_bytes());
        }
        assert_eq!(count(&v), 6);
        let (f, vs, ve) = find_pair(&v, b"bb").unwrap();
        assert_eq!(entry_at(&v, f).unwrap().0, b"bb");
        assert_eq!(entry_at(&v, vs).unwrap(), (&b""[..], ve));
        assert!(find_pair(&v, b"1").is_none(), "values are not fields");
        assert_eq!(
            entry_at(&v, find_pair(&v, b"").unwrap().1).unwrap().0,
            b"zz"
        );
    }

    #[test]
    fn ints_stay_sorted_and_widen() {
        let mut v = vec![0u8; 3];
        let start = 3;
        v.extend(ints::build(&[]));
        for x in [5i64, -3, 100, 70000, i64::MIN, 6] {
            let pos = ints::search(&v[start..], x).unwrap_err();
            ints::insert(&mut v, start, pos, x);
        }
        let got: Vec<i64> = ints::iter(&v[start..]).collect();
        assert_eq!(got, vec![i64::MIN, -3, 5, 6, 100, 70000]);
        assert_eq!(v[start], 8);
        let pos = ints::search(&v[start..], 6).unwrap();
        ints::remove(&mut v, start, pos);
        assert_eq!(ints::search(&v[start..], 6), Err(3));
        assert_eq!(ints::len(&v[start..]), 5);
    }

    #[test]
    fn only_canonical_integers_are_ints() {
        assert_eq!(as_int(b"12"), Some(12));
        assert_eq!(as_int(b"-9223372036854775808"), Some(i64::MIN));
        for s in ["012", "+1", "-0", " 1", "1.0", "", "9223372036854775808"] {
            assert_eq!(as_int(s.as_bytes()), None, "{s}");
        }
    }
}
