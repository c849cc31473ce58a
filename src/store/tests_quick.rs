//! The chunked list against a `VecDeque` model (every operation, several chunk bounds) and its
//! memory per element.

use super::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    PushBack(Vec<u8>),
    PushFront(Vec<u8>),
    PopBack,
    PopFront,
    Set(usize, Vec<u8>),
    Insert(usize, Vec<u8>),
    Remove(Vec<u8>, usize, bool),
    Trim(usize, usize),
}

fn elem() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(b'a'..b'd', 0..3),
        1 => prop::collection::vec(any::<u8>(), 100..300),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => elem().prop_map(Op::PushBack),
        4 => elem().prop_map(Op::PushFront),
        2 => Just(Op::PopBack),
        2 => Just(Op::PopFront),
        1 => (any::<usize>(), elem()).prop_map(|(i, e)| Op::Set(i, e)),
        1 => (any::<usize>(), elem()).prop_map(|(i, e)| Op::Insert(i, e)),
        1 => (elem(), 0usize..4, any::<bool>()).prop_map(|(e, n, b)| Op::Remove(e, n, b)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Op::Trim(a, b)),
    ]
}

proptest! {
    #[test]
    fn the_chunked_list_behaves_like_a_vecdeque(
        ops in prop::collection::vec(op(), 1..400),
        fill in prop_oneof![Just(-1i64), Just(-2), Just(3), Just(1)],
    ) {
        let mut l = List::new();
        let mut m: VecDeque<Vec<u8>> = VecDeque::new();
        for o in ops {
            match o {
                Op::PushBack(e) => { l.push_back(&e, fill); m.push_back(e); }
                Op::PushFront(e) => { l.push_front(&e, fill); m.push_front(e); }
                Op::PopBack => prop_assert_eq!(l.pop_back(), m.pop_back()),
                Op::PopFront => prop_assert_eq!(l.pop_front(), m.pop_front()),
                Op::Set(i, e) => {
                    if m.is_empty() { prop_assert!(!l.set(0, &e, fill)); continue; }
                    let i = i % m.len();
                    prop_assert!(l.set(i, &e, fill));
                    m[i] = e;
                }
                Op::Insert(i, e) => {
                    let i = i % (m.len() + 1);
                    l.insert(i, &e, fill);
                    m.insert(i, e);
                }
                Op::Remove(e, n, back) => {
                    let mut left = if n == 0 { usize::MAX } else { n };
                    let mut gone = 0;
                    if back {
                        let mut k = m.len();
                        while k > 0 && left > 0 { k -= 1; if m[k] == e { m.remove(k); left -= 1; gone += 1; } }
                    } else {
                        let mut k = 0;
                        while k < m.len() && left > 0 { if m[k] == e { m.remove(k); left -= 1; gone += 1; } else { k += 1; } }
                    }
                    prop_assert_eq!(l.remove(&e, n, back, fill), gone);
                }
                Op::Trim(a, b) => {
                    if m.is_empty() { continue; }
                    let a = a % m.len();
                    let b = a + b % (m.len() - a);
                    l.trim(a, b);
                    m = m.iter().skip(a).take(b - a + 1).cloned().collect();
                }
            }
            prop_assert_eq!(l.len(), m.len());
            let got: Vec<&[u8]> = l.iter().collect();
            let want: Vec<&[u8]> = m.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(&got, &want);
            let rev: Vec<&[u8]> = l.iter().rev().collect();
            let want_rev: Vec<&[u8]> = m.iter().rev().map(Vec::as_slice).collect();
            prop_assert_eq!(rev, want_rev);
            for i in 0..m.len() {
                prop_assert_eq!(l.get(i), Some(m[i].as_slice()));
            }
            if !m.is_empty() {
                let s = m.len() / 3;
                let from: Vec<&[u8]> = l.iter_from(s).collect();
                prop_assert_eq!(&from[..], &want[s..]);
                let back: Vec<&[u8]> = l.iter_back_from(s).collect();
                let wb: Vec<&[u8]> = want[..=s].iter().rev().copied().collect();
                prop_assert_eq!(back, wb);
            }
            let caps: usize = l.chunks.iter().map(|c| c.buf.capacity()).sum();
            prop_assert_eq!(caps, l.caps);
            prop_assert!(l.chunks.iter().all(|c| c.count > 0));
            if fill > 0 {
                prop_assert!(l.chunks.iter().all(|c| c.count as i64 <= fill));
            }
        }
    }
}

#[test]
fn a_long_list_costs_about_its_bytes_plus_two_per_element() {
    let mut l = List::new();
    let e = [b'x'; 16];
    for _ in 0..100_000 {
        l.push_back(&e, -2);
    }
    let per = l.heap() as f64 / 100_000.0;
    assert!(per < 18.5, "{per} bytes per element");
    let mut f = List::new();
    for _ in 0..100_000 {
        f.push_front(&e, -2);
    }
    let per = f.heap() as f64 / 100_000.0;
    assert!(per < 18.5, "{per} bytes per element pushed at the front");
}
