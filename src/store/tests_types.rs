//! Hashes and sets against a plain model, with limits small enough that every stream crosses
//! the compact/table thresholds; values are also taken out and put back (RENAME across shards,
//! RESTORE), which rebuilds them in whatever encoding their size calls for, so conversions run
//! both ways. Every step checks the store's invariants and its answers against the model.

use super::test_util::T0;
use super::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq)]
enum M {
    Str(Vec<u8>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
}

const KEYS: &[&[u8]] = &[b"a", b"b", b"c"];
const NAMES: &[&[u8]] = &[
    b"1",
    b"2",
    b"-3",
    b"70000",
    b"9223372036854775807",
    b"007",
    b"x",
    b"yy",
    b"",
    b"a long member past the tiny value limit",
];

#[derive(Debug, Clone)]
enum Op {
    Hset(usize, Vec<(usize, usize)>),
    Hdel(usize, Vec<usize>),
    Hincr(usize, usize, i64),
    Sadd(usize, Vec<usize>),
    Srem(usize, Vec<usize>),
    Spop(usize, usize),
    Smove(usize, usize, usize),
    Store(usize, Vec<usize>),
    SetStr(usize),
    Del(usize),
    Rename(usize, usize),
    Move(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0..KEYS.len();
    let n = 0..NAMES.len();
    prop_oneof![
        (
            k.clone(),
            prop::collection::vec((n.clone(), n.clone()), 1..6)
        )
            .prop_map(|(k, p)| Op::Hset(k, p)),
        (k.clone(), prop::collection::vec(n.clone(), 1..4)).prop_map(|(k, f)| Op::Hdel(k, f)),
        (k.clone(), n.clone(), -3i64..3).prop_map(|(k, f, d)| Op::Hincr(k, f, d)),
        (k.clone(), prop::collection::vec(n.clone(), 1..7)).prop_map(|(k, m)| Op::Sadd(k, m)),
        (k.clone(), prop::collection::vec(n.clone(), 1..4)).prop_map(|(k, m)| Op::Srem(k, m)),
        (k.clone(), 0usize..4).prop_map(|(k, c)| Op::Spop(k, c)),
        (k.clone(), k.clone(), n.clone()).prop_map(|(a, b, m)| Op::Smove(a, b, m)),
        (k.clone(), prop::collection::vec(k.clone(), 1..3)).prop_map(|(d, s)| Op::Store(d, s)),
        k.clone().prop_map(Op::SetStr),
        k.clone().prop_map(Op::Del),
        (k.clone(), k.clone()).prop_map(|(a, b)| Op::Rename(a, b)),
        (k.clone(), k.clone()).prop_map(|(a, b)| Op::Move(a, b)),
    ]
}

fn tiny() -> Limits {
    Limits {
        hash_entries: 3,
        hash_value: 8,
        set_intset_entries: 4,
        set_entries: 3,
        set_value: 8,
        list_fill: 2,
        zset_entries: 3,
        zset_value: 8,
    }
}

fn wrong<T>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::WrongType))
}

fn check(s: &mut Store, m: &BTreeMap<Vec<u8>, M>) {
    s.check_invariants();
    assert_eq!(s.len(), m.len());
    for k in KEYS {
        let want = m.get(*k);
        match (s.value(k, T0), want) {
            (None, None) => {}
            (Some(Value::String(v)), Some(M::Str(w))) => assert_eq!(&v, w),
            (Some(Value::Hash(p)), Some(M::Hash(w))) => {
                let got: BTreeMap<_, _> = p.into_iter().collect();
                assert_eq!(&got, w);
                let view = s.hash_view(k, T0).unwrap().unwrap();
                assert_eq!(view.len(), w.len());
                for n in NAMES {
                    assert_eq!(view.get(n), w.get(*n).map(Vec::as_slice));
                }
            }
            (Some(Value::Set(v)), Some(M::Set(w))) => {
                let got: BTreeSet<_> = v.into_iter().collect();
                assert_eq!(&got, w);
                let view = s.set_view(k, T0).unwrap().unwrap();
                assert_eq!(view.len(), w.len());
                for n in NAMES {
                    assert_eq!(view.contains(n), w.contains(*n));
                }
            }
            (got, want) => panic!("{:?}: {got:?} vs {want:?}", String::from_utf8_lossy(k)),
        }
    }
}

fn apply(s: &mut Store, m: &mut BTreeMap<Vec<u8>, M>, op: &Op) {
    let key = |i: usize| KEYS[i].to_vec();
    match op {
        Op::Hset(k, pairs) => {
            let p: Vec<(&[u8], &[u8])> = pairs.iter().map(|&(f, v)| (NAMES[f], NAMES[v])).collect();
            match m.entry(key(*k)).or_insert_with(|| M::Hash(BTreeMap::new())) {
                M::Hash(h) => {
                    let mut added = 0;
                    for (f, v) in &p {
                        added += h.insert(f.to_vec(), v.to_vec()).is_none() as usize;
                    }
                    assert_eq!(s.hset(KEYS[*k], &p, T0), Ok(added));
                }
                _ => assert!(wrong(s.hset(KEYS[*k], &p, T0))),
            }
        }
        Op::Hdel(k, fields) => {
            let f: Vec<&[u8]> = fields.iter().map(|&i| NAMES[i]).collect();
            match m.get_mut(KEYS[*k]) {
                Some(M::Hash(h)) => {
                    let n = f
                        .iter()
                        .copied()
                        .collect::<BTreeSet<&[u8]>>()
                        .into_iter()
                        .filter(|x| h.remove(*x).is_some())
                        .count();
                    assert_eq!(s.hdel(KEYS[*k], &f, T0), Ok(n));
                    if h.is_empty() {
                        m.remove(KEYS[*k]);
                    }
                }
                None => assert_eq!(s.hdel(KEYS[*k], &f, T0), Ok(0)),
                _ => assert!(wrong(s.hdel(KEYS[*k], &f, T0))),
            }
        }
        Op::Hincr(k, f, d) => {
            let got = s.hincrby(KEYS[*k], NAMES[*f], *d, T0);
            match m.entry(key(*k)).or_insert_with(|| M::Hash(BTreeMap::new())) {
                M::Hash(h) => {
                    let cur = h.get(NAMES[*f]).map(|v| crate::num::string2ll(v));
                    match cur {
                        Some(None) => assert_eq!(got, Err(StoreError::HashNotInteger)),
                        cur => match cur.flatten().unwrap_or(0).checked_add(*d) {
                            Some(n) => {
                                assert_eq!(got, Ok(n));
                                h.insert(NAMES[*f].to_vec(), n.to_string().into_bytes());
                            }
                            None => assert_eq!(got, Err(StoreError::Overflow)),
                        },
                    }
                    if h.is_empty() {
                        m.remove(KEYS[*k]);
                    }
                }
                _ => assert!(wrong(got)),
            }
        }
        Op::Sadd(k, members) => {
            let v: Vec<&[u8]> = members.iter().map(|&i| NAMES[i]).collect();
            match m.entry(key(*k)).or_insert_with(|| M::Set(BTreeSet::new())) {
                M::Set(set) => {
                    let n = v.iter().filter(|x| set.insert(x.to_vec())).count();
                    assert_eq!(s.sadd(KEYS[*k], &v, T0), Ok(n));
                }
                _ => assert!(wrong(s.sadd(KEYS[*k], &v, T0))),
            }
        }
        Op::Srem(k, members) => {
            let v: Vec<&[u8]> = members.iter().map(|&i| NAMES[i]).collect();
            match m.get_mut(KEYS[*k]) {
                Some(M::Set(set)) => {
                    let n = v
                        .iter()
                        .copied()
                        .collect::<BTreeSet<&[u8]>>()
                        .into_iter()
                        .filter(|x| set.remove(*x))
                        .count();
                    assert_eq!(s.srem(KEYS[*k], &v, T0), Ok(n));
                    if set.is_empty() {
                        m.remove(KEYS[*k]);
                    }
                }
                None => assert_eq!(s.srem(KEYS[*k], &v, T0), Ok(0)),
                _ => assert!(wrong(s.srem(KEYS[*k], &v, T0))),
            }
        }
        Op::Spop(k, c) => match m.get_mut(KEYS[*k]) {
            Some(M::Set(set)) => {
                let popped = s.spop(KEYS[*k], *c, T0).unwrap().unwrap();
                assert_eq!(popped.len(), (*c).min(set.len()));
                for p in &popped {
                    assert!(set.remove(p), "popped a member it did not have");
                }
                if set.is_empty() {
                    m.remove(KEYS[*k]);
                }
            }
            None => assert_eq!(s.spop(KEYS[*k], *c, T0), Ok(None)),
            _ => assert!(wrong(s.spop(KEYS[*k], *c, T0))),
        },
        Op::Smove(a, b, x) => {
            let got = s.smove(KEYS[*a], KEYS[*b], NAMES[*x], T0);
            let src = m.get(KEYS[*a]).cloned();
            let dst_ok = matches!(m.get(KEYS[*b]), None | Some(M::Set(_)));
            match src {
                None => assert_eq!(got, Ok(false)),
                Some(M::Set(_)) if !dst_ok => assert!(wrong(got)),
                Some(M::Set(mut set)) => {
                    if a == b {
                        assert_eq!(got, Ok(set.contains(NAMES[*x])));
                    } else if set.remove(NAMES[*x]) {
                        assert_eq!(got, Ok(true));
                        if set.is_empty() {
                            m.remove(KEYS[*a]);
                        } else {
                            m.insert(key(*a), M::Set(set));
                        }
                        match m.entry(key(*b)).or_insert_with(|| M::Set(BTreeSet::new())) {
                            M::Set(d) => {
                                d.insert(NAMES[*x].to_vec());
                            }
                            _ => unreachable!(),
                        }
                    } else {
                        assert_eq!(got, Ok(false));
                    }
                }
                Some(_) => assert!(wrong(got)),
            }
        }
        Op::Store(dst, srcs) => {
            // SUNIONSTORE semantics, computed by the model.
            let mut union = BTreeSet::new();
            for &i in srcs {
                match m.get(KEYS[i]) {
                    Some(M::Set(set)) => union.extend(set.iter().cloned()),
                    None => {}
                    Some(_) => return,
                }
            }
            let n = union.len();
            assert_eq!(
                s.store_set(KEYS[*dst], union.iter().cloned().collect(), T0),
                Ok(n)
            );
            if n == 0 {
                m.remove(KEYS[*dst]);
            } else {
                m.insert(key(*dst), M::Set(union));
            }
        }
        Op::SetStr(k) => {
            s.set(
                KEYS[*k],
                b"str",
                SetCond::Always,
                ExpiryUpdate::Persist,
                false,
                T0,
            )
            .unwrap();
            m.insert(key(*k), M::Str(b"str".to_vec()));
        }
        Op::Del(k) => {
            assert_eq!(s.del(KEYS[*k], T0), m.remove(KEYS[*k]).is_some());
        }
        Op::Rename(a, b) => match m.remove(KEYS[*a]) {
            Some(v) => {
                assert_eq!(s.rename(KEYS[*a], KEYS[*b], false, T0), Ok(true));
                m.insert(key(*b), v);
            }
            None => assert_eq!(
                s.rename(KEYS[*a], KEYS[*b], false, T0),
                Err(StoreError::NoSuchKey)
            ),
        },
        Op::Move(a, b) => {
            // A cross-shard RENAME: take the value out, put it back as an owned value.
            match s.take(KEYS[*a], T0) {
                Some((v, at)) => {
                    s.put(KEYS[*b], &v, at, T0).unwrap();
                    let mv = m.remove(KEYS[*a]).unwrap();
                    m.insert(key(*b), mv);
                }
                None => assert!(!m.contains_key(KEYS[*a])),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn hashes_and_sets_match_the_model(ops in prop::collection::vec(op(), 1..60)) {
        let mut s = Store::new();
        s.set_limits(tiny());
        let mut m = BTreeMap::new();
        for op in &ops {
            apply(&mut s, &mut m, op);
            check(&mut s, &m);
        }
    }
}

#[test]
fn encodings_follow_the_limits() {
    let mut s = Store::new();
    s.set_limits(tiny());
    s.sadd(b"s", &[b"1", b"2"], T0).unwrap();
    assert_eq!(s.encoding(b"s", T0), Some("intset"));
    s.sadd(b"s", &[b"x"], T0).unwrap();
    assert_eq!(s.encoding(b"s", T0), Some("listpack"));
    s.sadd(b"s", &[b"y"], T0).unwrap();
    assert_eq!(s.encoding(b"s", T0), Some("hashtable"));
    s.sadd(b"i", &[b"1", b"2", b"3", b"4"], T0).unwrap();
    assert_eq!(s.encoding(b"i", T0), Some("intset"));
    s.sadd(b"i", &[b"5"], T0).unwrap();
    assert_eq!(s.encoding(b"i", T0), Some("hashtable"));
    s.hset(b"h", &[(b"f", b"v")], T0).unwrap();
    assert_eq!(s.encoding(b"h", T0), Some("listpack"));
    s.hset(b"h", &[(b"f", b"a value too long")], T0).unwrap();
    assert_eq!(s.encoding(b"h", T0), Some("hashtable"));
    // A big value rebuilt small (taken and put back after shrinking) is compact again.
    s.hdel(b"h", &[b"f"], T0).unwrap();
    assert_eq!(s.encoding(b"h", T0), None, "the last field took the key");
    s.sadd(b"big", &[b"a", b"b", b"c", b"d"], T0).unwrap();
    s.srem(b"big", &[b"a", b"b"], T0).unwrap();
    assert_eq!(s.encoding(b"big", T0), Some("hashtable"));
    let (v, at) = s.take(b"big", T0).unwrap();
    s.put(b"big", &v, at, T0).unwrap();
    assert_eq!(s.encoding(b"big", T0), Some("listpack"));
    s.check_invariants();
}

#[test]
fn effects_are_the_fine_grained_commands() {
    let mut s = Store::new();
    s.record_effects(true);
    s.hset(b"h", &[(b"f", b"1"), (b"g", b"2")], T0).unwrap();
    s.hdel(b"h", &[b"f", b"nope"], T0).unwrap();
    s.hincrby(b"h", b"g", 5, T0).unwrap();
    s.sadd(b"s", &[b"a", b"a", b"b"], T0).unwrap();
    s.srem(b"s", &[b"zz"], T0).unwrap();
    let e: Vec<Vec<String>> = s
        .take_effects()
        .into_iter()
        .map(|c| {
            c.into_iter()
                .map(|a| String::from_utf8(a).unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        e,
        vec![
            vec!["HSET", "h", "f", "1", "g", "2"],
            vec!["HDEL", "h", "f"],
            vec!["HSET", "h", "g", "7"],
            vec!["SADD", "s", "a", "b"],
        ]
    );
    let before = s.changes();
    s.srem(b"s", &[b"zz"], T0).unwrap();
    s.hset(b"h", &[(b"g", b"7")], T0).unwrap();
    assert_eq!(
        s.changes(),
        before + 1,
        "HSET of the same value still counts as a write"
    );
}

#[test]
fn a_big_collection_is_freed_in_steps() {
    let mut s = Store::new();
    let members: Vec<Vec<u8>> = (0..10_000).map(|i| format!("m{i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = members.iter().map(Vec::as_slice).collect();
    s.sadd(b"big", &refs, T0).unwrap();
    assert!(s.del(b"big", T0));
    assert_eq!(s.lazy_free_pending(), 10_000);
    let mut steps = 0;
    while !s.lazy_free_step(1000) {
        steps += 1;
    }
    assert!(steps >= 9, "{steps}");
    assert_eq!(s.lazy_free_pending(), 0);
}
