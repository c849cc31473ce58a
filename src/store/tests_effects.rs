//! Lists and sorted sets: random writes on one store with effects recorded, the effects
//! replayed on a second store (as the append-only log does at start), and the two compared
//! value by value, with chunk bounds small enough that lists cross chunks. Also checks every
//! answer against a plain model.

use super::test_util::T0;
use super::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, VecDeque};

const KEYS: &[&[u8]] = &[b"a", b"b"];
const ELEMS: &[&[u8]] = &[b"x", b"y", b"zz", b"", b"a much longer element of the list"];

#[derive(Debug, Clone)]
enum Op {
    Push(usize, bool, Vec<usize>),
    Pop(usize, bool, usize),
    Lset(usize, i64, usize),
    Linsert(usize, bool, usize, usize),
    Lrem(usize, i64, usize),
    Ltrim(usize, i64, i64),
    Zadd(usize, Vec<(i8, usize)>, bool),
    Zrem(usize, Vec<usize>),
    Zpop(usize, bool, usize),
    Zremrank(usize, usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0..KEYS.len();
    let e = 0..ELEMS.len();
    prop_oneof![
        4 => (k.clone(), any::<bool>(), prop::collection::vec(e.clone(), 1..6))
            .prop_map(|(k, l, v)| Op::Push(k, l, v)),
        2 => (k.clone(), any::<bool>(), 0usize..4).prop_map(|(k, l, n)| Op::Pop(k, l, n)),
        1 => (k.clone(), -6i64..6, e.clone()).prop_map(|(k, i, v)| Op::Lset(k, i, v)),
        1 => (k.clone(), any::<bool>(), e.clone(), e.clone())
            .prop_map(|(k, b, p, v)| Op::Linsert(k, b, p, v)),
        1 => (k.clone(), -2i64..3, e.clone()).prop_map(|(k, c, v)| Op::Lrem(k, c, v)),
        1 => (k.clone(), -8i64..8, -8i64..8).prop_map(|(k, a, b)| Op::Ltrim(k, a, b)),
        3 => (k.clone(), prop::collection::vec((-3i8..3, e.clone()), 1..4), any::<bool>())
            .prop_map(|(k, v, incr)| Op::Zadd(k + 2, v, incr)),
        1 => (k.clone(), prop::collection::vec(e.clone(), 1..3)).prop_map(|(k, v)| Op::Zrem(k + 2, v)),
        1 => (k.clone(), any::<bool>(), 0usize..3).prop_map(|(k, m, n)| Op::Zpop(k + 2, m, n)),
        1 => (k, 0usize..3, 0usize..3).prop_map(|(k, a, b)| Op::Zremrank(k + 2, a, b)),
    ]
}

fn key(i: usize) -> Vec<u8> {
    match i {
        0 | 1 => KEYS[i].to_vec(),
        _ => [b"z".as_slice(), KEYS[i - 2]].concat(),
    }
}

/// Replays one logged effect on `s` (the commands the log writes for these types).
fn replay(s: &mut Store, c: &[Vec<u8>]) {
    let n = |b: &[u8]| std::str::from_utf8(b).unwrap().parse::<i64>().unwrap();
    let f = |b: &[u8]| std::str::from_utf8(b).unwrap().parse::<f64>().unwrap();
    let args: Vec<&[u8]> = c[2..].iter().map(Vec::as_slice).collect();
    let k = &c[1];
    match c[0].as_slice() {
        b"LPUSH" | b"RPUSH" => {
            s.push(k, &args, c[0] == b"LPUSH", true, T0).unwrap();
        }
        b"LPOP" | b"RPOP" => {
            s.pop(k, c[0] == b"LPOP", n(args[0]) as usize, T0).unwrap();
        }
        b"LSET" => s.lset(k, n(args[0]), args[1], T0).unwrap(),
        b"LINSERT" => {
            s.linsert(k, args[0] == b"BEFORE", args[1], args[2], T0)
                .unwrap();
        }
        b"LREM" => {
            s.lrem(k, n(args[0]), args[1], T0).unwrap();
        }
        b"LTRIM" => s.ltrim(k, n(args[0]), n(args[1]), T0).unwrap(),
        b"ZADD" => {
            let items: Vec<(f64, &[u8])> = args.chunks(2).map(|p| (f(p[0]), p[1])).collect();
            s.zadd(k, &items, ZAddFlags::default(), T0).unwrap();
        }
        b"ZREM" => {
            s.zrem(k, &args, T0).unwrap();
        }
        b"DEL" => {
            s.del(k, T0);
        }
        other => panic!("unexpected effect {:?}", String::from_utf8_lossy(other)),
    }
}

proptest! {
    #[test]
    fn replayed_effects_rebuild_the_same_lists_and_sorted_sets(ops in prop::collection::vec(op(), 1..120)) {
        let mut a = Store::new();
        let mut b = Store::new();
        let lim = Limits { list_fill: 3, ..Limits::default() };
        a.set_limits(lim);
        b.set_limits(lim);
        a.record_effects(true);
        let mut lists: BTreeMap<Vec<u8>, VecDeque<Vec<u8>>> = BTreeMap::new();
        for o in ops {
            match o {
                Op::Push(k, left, v) => {
                    let items: Vec<&[u8]> = v.iter().map(|&i| ELEMS[i]).collect();
                    let n = a.push(&key(k), &items, left, true, T0).unwrap();
                    let m = lists.entry(key(k)).or_default();
                    for e in &items {
                        if left { m.push_front(e.to_vec()) } else { m.push_back(e.to_vec()) }
                    }
                    prop_assert_eq!(n, m.len());
                }
                Op::Pop(k, left, c) => {
                    let got = a.pop(&key(k), left, c, T0).unwrap();
                    let m = lists.entry(key(k)).or_default();
                    let mut want = Vec::new();
                    for _ in 0..c.min(m.len()) {
                        want.extend(if left { m.pop_front() } else { m.pop_back() });
                    }
                    prop_assert_eq!(got.unwrap_or_default(), want);
                }
                Op::Lset(k, i, v) => { let _ = a.lset(&key(k), i, ELEMS[v], T0); }
                Op::Linsert(k, before, p, v) => { a.linsert(&key(k), before, ELEMS[p], ELEMS[v], T0).unwrap(); }
                Op::Lrem(k, c, v) => { a.lrem(&key(k), c, ELEMS[v], T0).unwrap(); }
                Op::Ltrim(k, s, e) => a.ltrim(&key(k), s, e, T0).unwrap(),
                Op::Zadd(k, v, incr) => {
                    let items: Vec<(f64, &[u8])> = v.iter().map(|&(s, e)| (s as f64 / 2.0, ELEMS[e])).collect();
                    let items = if incr { items[..1].to_vec() } else { items };
                    let f = ZAddFlags { incr, ..Default::default() };
                    a.zadd(&key(k), &items, f, T0).unwrap();
                }
                Op::Zrem(k, v) => {
                    let m: Vec<&[u8]> = v.iter().map(|&i| ELEMS[i]).collect();
                    a.zrem(&key(k), &m, T0).unwrap();
                }
                Op::Zpop(k, max, c) => { a.zpop(&key(k), max, c, T0).unwrap(); }
                Op::Zremrank(k, s, e) => { a.zremove_ranks(&key(k), s, e, false, T0).unwrap(); }
            }
            // Lists after LSET / LINSERT / LREM / LTRIM: the model follows the store.
            for k in 0..2 {
                let got: Option<Vec<Vec<u8>>> = a.list_view(&key(k), T0).unwrap()
                    .map(|l| l.iter().map(<[u8]>::to_vec).collect());
                lists.insert(key(k), got.unwrap_or_default().into());
            }
            for c in a.take_effects() {
                replay(&mut b, &c);
            }
            for k in 0..4 {
                prop_assert_eq!(a.value(&key(k), T0), b.value(&key(k), T0), "key {}", k);
            }
        }
    }
}
