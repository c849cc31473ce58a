//! Read-only views of a hash or a set, whatever their encoding ([`HashView`], [`SetView`]), a
//! set member as stored ([`Member`]), and the random picks the random-member commands use
//! (HRANDFIELD, SRANDMEMBER, SPOP): random positions in a table, a partial shuffle otherwise.

use super::dense::{split_pair, Dense};
use super::pack::{self, ints};

/// A set member as stored: bytes, or an integer of an intset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    Bytes(&'a [u8]),
    Int(i64),
}

impl<'a> Member<'a> {
    /// The member's bytes, formatting an integer into `buf`.
    #[inline]
    pub fn bytes<'b>(&'b self, buf: &'b mut [u8; 20]) -> &'b [u8]
    where
        'a: 'b,
    {
        match self {
            Member::Bytes(b) => b,
            Member::Int(i) => super::num::fmt_i64(*i, buf),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut buf = [0u8; 20];
        self.bytes(&mut buf).to_vec()
    }
}

/// A hash, read-only.
#[derive(Clone, Copy)]
pub enum HashView<'a> {
    Pack(&'a [u8]),
    Table(&'a Dense),
}

impl<'a> HashView<'a> {
    pub fn get(&self, field: &[u8]) -> Option<&'a [u8]> {
        match *self {
            HashView::Pack(b) => {
                let (_, vs, _) = pack::find_pair(b, field)?;
                Some(pack::entry_at(b, vs)?.0)
            }
            HashView::Table(d) => Some(split_pair(d.get(field)?).1),
        }
    }

    pub fn len(&self) -> usize {
        match *self {
            HashView::Pack(b) => pack::count(b) / 2,
            HashView::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every (field, value).
    pub fn for_each(&self, mut f: impl FnMut(&'a [u8], &'a [u8])) {
        match *self {
            HashView::Pack(b) => {
                let mut it = pack::entries(b);
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    f(k, v);
                }
            }
            HashView::Table(d) => d.iter().for_each(|e| {
                let (k, v) = split_pair(e);
                f(k, v)
            }),
        }
    }

    /// Every pair, collected.
    pub fn pairs(&self) -> Vec<(&'a [u8], &'a [u8])> {
        let mut v = Vec::with_capacity(self.len());
        self.for_each(|f, x| v.push((f, x)));
        v
    }

    /// One random pair.
    pub fn random(&self, r: &mut impl FnMut() -> u64) -> Option<(&'a [u8], &'a [u8])> {
        match *self {
            HashView::Pack(b) => {
                let n = pack::count(b) / 2;
                if n == 0 {
                    return None;
                }
                let i = below(r(), n);
                let (s, _) = pack::nth_range(b, i * 2)?;
                let (f, vs) = pack::entry_at(b, s)?;
                Some((f, pack::entry_at(b, vs)?.0))
            }
            HashView::Table(d) => Some(split_pair(d.at(d.random_position(r)?)?)),
        }
    }

    /// `count` distinct random pairs (all of them when `count >= len`), in random order.
    pub fn random_distinct(
        &self,
        count: usize,
        r: &mut impl FnMut() -> u64,
    ) -> Vec<(&'a [u8], &'a [u8])> {
        match *self {
            HashView::Table(d) if count.saturating_mul(3) <= d.len() => {
                d.random_distinct(count, r).map(split_pair).collect()
            }
            _ => {
                let mut all = self.pairs();
                shuffle_prefix(&mut all, count, r);
                all.truncate(count);
                all
            }
        }
    }

    /// HSCAN from `cursor`: (next cursor, pairs seen). A packed hash is returned whole.
    pub fn scan(&self, cursor: u64, count: usize, emit: &mut dyn FnMut(&[u8], &[u8])) -> u64 {
        match *self {
            HashView::Pack(_) => {
                self.for_each(emit);
                0
            }
            HashView::Table(d) => d.scan(cursor, count, &mut |e| {
                let (f, v) = split_pair(e);
                emit(f, v)
            }),
        }
    }
}

/// A set, read-only.
#[derive(Clone, Copy)]
pub enum SetView<'a> {
    Ints(&'a [u8]),
    Pack(&'a [u8]),
    Table(&'a Dense),
}

impl<'a> SetView<'a> {
    pub fn contains(&self, m: &[u8]) -> bool {
        match *self {
            SetView::Ints(b) => pack::as_int(m).is_some_and(|x| ints::search(b, x).is_ok()),
            SetView::Pack(b) => pack::find_entry(b, m).is_some(),
            SetView::Table(d) => d.get(m).is_some(),
        }
    }

    pub fn len(&self) -> usize {
        match *self {
            SetView::Ints(b) => ints::len(b),
            SetView::Pack(b) => pack::count(b),
            SetView::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn for_each(&self, mut f: impl FnMut(Member<'a>)) {
        match *self {
            SetView::Ints(b) => ints::iter(b).for_each(|x| f(Member::Int(x))),
            SetView::Pack(b) => pack::entries(b).for_each(|m| f(Member::Bytes(m))),
            SetView::Table(d) => d.iter().for_each(|m| f(Member::Bytes(m))),
        }
    }

    pub fn members(&self) -> Vec<Member<'a>> {
        let mut v = Vec::with_capacity(self.len());
        self.for_each(|m| v.push(m));
        v
    }

    pub fn random(&self, r: &mut impl FnMut() -> u64) -> Option<Member<'a>> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        match *self {
            SetView::Ints(b) => Some(Member::Int(ints::get(b, below(r(), n)))),
            SetView::Pack(b) => {
                let (s, _) = pack::nth_range(b, below(r(), n))?;
                Some(Member::Bytes(pack::entry_at(b, s)?.0))
            }
            SetView::Table(d) => Some(Member::Bytes(d.at(d.random_position(r)?)?)),
        }
    }

    /// `count` distinct random members (all when `count >= len`), in random order.
    pub fn random_distinct(&self, count: usize, r: &mut impl FnMut() -> u64) -> Vec<Member<'a>> {
        match *self {
            SetView::Table(d) if count.saturating_mul(3) <= d.len() => {
                d.random_distinct(count, r).map(Member::Bytes).collect()
            }
            _ => {
                let mut all = self.members();
                shuffle_prefix(&mut all, count, r);
                all.truncate(count);
                all
            }
        }
    }

    /// SSCAN from `cursor`; a compact set is returned whole.
    pub fn scan(&self, cursor: u64, count: usize, emit: &mut dyn FnMut(Member<'_>)) -> u64 {
        match *self {
            SetView::Table(d) => d.scan(cursor, count, &mut |e| emit(Member::Bytes(e))),
            _ => {
                self.for_each(emit);
                0
            }
        }
    }
}

/// splitmix64's output function.
#[inline]
pub(super) fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stream of random numbers from `seed` (the random-member commands).
pub(super) fn random_source(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix(state)
    }
}

/// Lemire's multiply-shift onto 0..n.
#[inline]
pub(super) fn below(r: u64, n: usize) -> usize {
    ((u128::from(r) * n as u128) >> 64) as usize
}

/// Fisher-Yates over the first `count` positions.
fn shuffle_prefix<T>(v: &mut [T], count: usize, r: &mut impl FnMut() -> u64) {
    let n = v.len();
    for i in 0..count.min(n) {
        let j = i + below(r(), n - i);
        v.swap(i, j);
    }
}
