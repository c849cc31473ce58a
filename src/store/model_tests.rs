//! Model-based property test: the store against a plain HashMap under random
//! streams of every operation with a moving clock and a tiny key space.

use super::num::{fmt_f64, parse_f64, parse_i64};
use super::*;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

type Model = HashMap<Vec<u8>, (Vec<u8>, Option<u64>)>;

const KEYS: &[&[u8]] = &[b"a", b"b", b"c", b"d", b""];
const VALS: &[&[u8]] = &[
    b"",
    b"0",
    b"1",
    b"-5",
    b"10",
    b"010",
    b" 1",
    b"abc",
    b"1.5",
    b"5.0e3",
    b"9223372036854775807",
    b"hello world",
];

#[derive(Debug, Clone)]
enum Exp {
    Keep,
    Persist,
    /// now + d - 2 (so sometimes in the past)
    At(u64),
}

#[derive(Debug, Clone)]
enum Op {
    Get(usize),
    Set(usize, usize, u8, Exp, bool),
    GetDel(usize),
    GetEx(usize, Option<Exp>),
    Append(usize, usize),
    Strlen(usize),
    IncrBy(usize, i64),
    IncrByFloat(usize, f64),
    GetRange(usize, i64, i64),
    SetRange(usize, usize, usize),
    Exists(usize),
    Del(usize),
    KeyType(usize),
    ExpireAt(usize, u64, u8),
    Persist(usize),
    Ttl(usize),
    ExpireTime(usize),
    Take(usize),
    Put(usize, usize, Option<u64>),
    Rename(usize, usize, bool),
    Scan(usize),
    RandomKey(u64),
    ActiveExpire(usize),
    Flush,
}

fn exp_strategy() -> impl Strategy<Value = Exp> {
    prop_oneof![
        Just(Exp::Keep),
        Just(Exp::Persist),
        (0u64..8).prop_map(Exp::At)
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let k = || 0..KEYS.len();
    let v = || 0..VALS.len();
    prop_oneof![
        4 => k().prop_map(Op::Get),
        6 => (k(), v(), 0u8..3, exp_strategy(), any::<bool>()).prop_map(|(a, b, c, d, e)| Op::Set(a, b, c, d, e)),
        1 => k().prop_map(Op::GetDel),
        2 => (k(), proptest::option::of(exp_strategy())).prop_map(|(a, b)| Op::GetEx(a, b)),
        2 => (k(), v()).prop_map(|(a, b)| Op::Append(a, b)),
        1 => k().prop_map(Op::Strlen),
        3 => (k(), prop_oneof![-3i64..3, Just(i64::MAX), Just(i64::MIN)]).prop_map(|(a, b)| Op::IncrBy(a, b)),
        2 => (k(), prop_oneof![Just(0.1), Just(-1.1), Just(2.5), Just(1e300)]).prop_map(|(a, b)| Op::IncrByFloat(a, b)),
        1 => (k(), prop_oneof![-4i64..6, Just(i64::MIN), Just(i64::MAX)], prop_oneof![-4i64..6, Just(i64::MIN), Just(i64::MAX)])
            .prop_map(|(a, b, c)| Op::GetRange(a, b, c)),
        1 => (k(), 0usize..6, v()).prop_map(|(a, b, c)| Op::SetRange(a, b, c)),
        2 => k().prop_map(Op::Exists),
        2 => k().prop_map(Op::Del),
        1 => k().prop_map(Op::KeyType),
        3 => (k(), 0u64..8, 0u8..5).prop_map(|(a, b, c)| Op::ExpireAt(a, b, c)),
        1 => k().prop_map(Op::Persist),
        2 => k().prop_map(Op::Ttl),
        1 => k().prop_map(Op::ExpireTime),
        1 => k().prop_map(Op::Take),
        1 => (k(), v(), proptest::option::of(0u64..8)).prop_map(|(a, b, c)| Op::Put(a, b, c)),
        2 => (k(), k(), any::<bool>()).prop_map(|(a, b, c)| Op::Rename(a, b, c)),
        1 => (1usize..4).prop_map(Op::Scan),
        1 => any::<u64>().prop_map(Op::RandomKey),
        1 => (0usize..4).prop_map(Op::ActiveExpire),
        1 => Just(Op::Flush),
    ]
}

fn live<'a>(m: &'a Model, k: &[u8], now: u64) -> Option<&'a (Vec<u8>, Option<u64>)> {
    m.get(k).filter(|(_, at)| at.is_none_or(|t| t > now))
}

fn to_update(e: &Exp, now: u64) -> ExpiryUpdate {
    match *e {
        Exp::Keep => ExpiryUpdate::Keep,
        Exp::Persist => ExpiryUpdate::Persist,
        Exp::At(d) => ExpiryUpdate::At((now + d).saturating_sub(2)),
    }
}

fn run(ops: Vec<(u64, Op)>) {
    let mut s = Store::new();
    let mut m: Model = HashMap::new();
    let mut now = 1_000u64;
    for (dt, op) in ops {
        now += dt;
        apply(&mut s, &mut m, now, &op);
        s.check_invariants();
        let snap = s.live_snapshot(now);
        let want: HashMap<_, _> = m
            .iter()
            .filter(|(k, _)| live(&m, k, now).is_some())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(snap, want, "after {op:?} at {now}");
        assert!(
            want.len() <= s.len() && s.len() <= m.len(),
            "len bounds after {op:?}"
        );
    }
}

fn apply(s: &mut Store, m: &mut Model, now: u64, op: &Op) {
    let key = |i: usize| KEYS[i].to_vec();
    match *op {
        Op::Get(k) => {
            assert_eq!(
                s.get(KEYS[k], now).unwrap(),
                live(m, KEYS[k], now).map(|e| &e.0[..])
            );
        }
        Op::Set(k, v, c, ref e, want_old) => {
            let cond = [SetCond::Always, SetCond::Nx, SetCond::Xx][c as usize];
            let upd = to_update(e, now);
            let cur = live(m, KEYS[k], now).cloned();
            let out = s.set(KEYS[k], VALS[v], cond, upd, want_old, now).unwrap();
            let go = match cond {
                SetCond::Always => true,
                SetCond::Nx => cur.is_none(),
                SetCond::Xx => cur.is_some(),
            };
            assert_eq!(out.written, go);
            assert_eq!(
                out.old,
                if want_old {
                    cur.as_ref().map(|c| c.0.clone())
                } else {
                    None
                }
            );
            if go {
                let at = match upd {
                    ExpiryUpdate::Keep => cur.and_then(|c| c.1),
                    ExpiryUpdate::Persist => None,
                    ExpiryUpdate::At(t) => Some(t),
                };
                if at.is_some_and(|t| t <= now) {
                    m.remove(KEYS[k]);
                } else {
                    m.insert(key(k), (VALS[v].to_vec(), at));
                }
            }
        }
        Op::GetDel(k) => {
            let want = live(m, KEYS[k], now).map(|e| e.0.clone());
            assert_eq!(s.get_del(KEYS[k], now).unwrap(), want);
            if want.is_some() {
                m.remove(KEYS[k]);
            }
        }
        Op::GetEx(k, ref e) => {
            let upd = e.as_ref().map(|e| to_update(e, now));
            let want = live(m, KEYS[k], now).cloned();
            assert_eq!(
                s.get_ex(KEYS[k], upd, now).unwrap().map(|v| v.to_vec()),
                want.as_ref().map(|w| w.0.clone())
            );
            if let Some((val, at)) = want {
                match upd {
                    None | Some(ExpiryUpdate::Keep) => {}
                    Some(ExpiryUpdate::Persist) => {
                        m.insert(key(k), (val, None));
                    }
                    Some(ExpiryUpdate::At(t)) if t > now => {
                        m.insert(key(k), (val, Some(t)));
                    }
                    Some(ExpiryUpdate::At(_)) => {
                        let _ = at;
                        m.remove(KEYS[k]);
                    }
                }
            }
        }
        Op::Append(k, v) => {
            let (mut val, at) = live(m, KEYS[k], now).cloned().unwrap_or_default();
            val.extend_from_slice(VALS[v]);
            assert_eq!(s.append(KEYS[k], VALS[v], now), Ok(val.len()));
            m.insert(key(k), (val, at));
        }
        Op::Strlen(k) => {
            assert_eq!(
                s.strlen(KEYS[k], now),
                Ok(live(m, KEYS[k], now).map_or(0, |e| e.0.len()))
            );
        }
        Op::IncrBy(k, d) => {
            let cur = live(m, KEYS[k], now).cloned();
            let parsed = match &cur {
                Some((v, _)) => parse_i64(v).ok_or(StoreError::NotInteger),
                None => Ok(0),
            };
            let want = parsed.and_then(|c| c.checked_add(d).ok_or(StoreError::Overflow));
            assert_eq!(s.incr_by(KEYS[k], d, now), want);
            if let Ok(n) = want {
                m.insert(key(k), (n.to_string().into_bytes(), cur.and_then(|c| c.1)));
            }
        }
        Op::IncrByFloat(k, d) => {
            let cur = live(m, KEYS[k], now).cloned();
            let base = match &cur {
                Some((v, _)) => parse_f64(v),
                None => Some(0.0),
            };
            let got = s.incr_by_float(KEYS[k], d, now);
            match base {
                None => assert_eq!(got, Err(StoreError::NotFloat)),
                Some(b) if !(b + d).is_finite() => assert_eq!(got, Err(StoreError::NanOrInfinity)),
                Some(b) => {
                    let r = got.unwrap();
                    let tol = (b.abs() + d.abs()) * 1e-15;
                    assert!((r - (b + d)).abs() <= tol, "{b} + {d} = {r}");
                    m.insert(key(k), (fmt_f64(r), cur.and_then(|c| c.1)));
                }
            }
        }
        Op::GetRange(k, a, b) => {
            let v = live(m, KEYS[k], now)
                .map(|e| e.0.clone())
                .unwrap_or_default();
            let len = v.len() as i128;
            let norm = |x: i64| {
                let x = i128::from(x);
                (if x < 0 { x + len } else { x }).max(0)
            };
            let want: &[u8] = if (a < 0 && b < 0 && a > b) || len == 0 {
                &[]
            } else {
                let (st, en) = (norm(a), norm(b).min(len - 1));
                if st > en {
                    &[]
                } else {
                    &v[st as usize..=en as usize]
                }
            };
            assert_eq!(s.get_range(KEYS[k], a, b, now).unwrap(), want);
        }
        Op::SetRange(k, off, v) => {
            let cur = live(m, KEYS[k], now).cloned();
            let got = s.set_range(KEYS[k], off, VALS[v], now).unwrap();
            if VALS[v].is_empty() {
                assert_eq!(got, cur.map_or(0, |c| c.0.len()));
            } else {
                let (mut val, at) = cur.unwrap_or_default();
                if val.len() < off + VALS[v].len() {
                    val.resize(off + VALS[v].len(), 0);
                }
                val[off..off + VALS[v].len()].copy_from_slice(VALS[v]);
                assert_eq!(got, val.len());
                m.insert(key(k), (val, at));
            }
        }
        Op::Exists(k) => assert_eq!(s.exists(KEYS[k], now), live(m, KEYS[k], now).is_some()),
        Op::Del(k) => {
            let want = live(m, KEYS[k], now).is_some();
            assert_eq!(s.del(KEYS[k], now), want);
            if want {
                m.remove(KEYS[k]);
            }
        }
        Op::KeyType(k) => {
            assert_eq!(
                s.key_type(KEYS[k], now),
                live(m, KEYS[k], now).map(|_| "string")
            );
        }
        Op::ExpireAt(k, d, c) => {
            let at = (now + d).saturating_sub(2);
            let cond = [
                ExpireCond::Always,
                ExpireCond::Nx,
                ExpireCond::Xx,
                ExpireCond::Gt,
                ExpireCond::Lt,
            ][c as usize];
            let cur = live(m, KEYS[k], now).cloned();
            let pass = cur.as_ref().is_some_and(|(_, e)| match cond {
                ExpireCond::Always => true,
                ExpireCond::Nx => e.is_none(),
                ExpireCond::Xx => e.is_some(),
                ExpireCond::Gt => e.is_some_and(|e| at > e),
                ExpireCond::Lt => e.is_none_or(|e| at < e),
            });
            assert_eq!(s.expire_at(KEYS[k], at, cond, now), pass);
            if pass {
                if at <= now {
                    m.remove(KEYS[k]);
                } else if let Some(e) = m.get_mut(KEYS[k]) {
                    e.1 = Some(at);
                }
            }
        }
        Op::Persist(k) => {
            let had = live(m, KEYS[k], now).is_some_and(|e| e.1.is_some());
            assert_eq!(s.persist(KEYS[k], now), had);
            if had {
                m.get_mut(KEYS[k]).unwrap().1 = None;
            }
        }
        Op::Ttl(k) => {
            let want = match live(m, KEYS[k], now) {
                None => Ttl::Missing,
                Some((_, None)) => Ttl::Persistent,
                Some((_, Some(t))) => Ttl::Ms(t - now),
            };
            assert_eq!(s.ttl(KEYS[k], now), want);
        }
        Op::ExpireTime(k) => {
            let want = match live(m, KEYS[k], now) {
                None => Ttl::Missing,
                Some((_, None)) => Ttl::Persistent,
                Some((_, Some(t))) => Ttl::Ms(*t),
            };
            assert_eq!(s.expire_time(KEYS[k], now), want);
        }
        Op::Take(k) => {
            let want = live(m, KEYS[k], now).cloned();
            assert_eq!(
                s.take(KEYS[k], now),
                want.clone().map(|(v, at)| (Value::String(v), at))
            );
            if want.is_some() {
                m.remove(KEYS[k]);
            }
        }
        Op::Put(k, v, d) => {
            let at = d.map(|d| (now + d).saturating_sub(2));
            s.put(KEYS[k], &Value::String(VALS[v].to_vec()), at, now)
                .unwrap();
            if at.is_some_and(|t| t <= now) {
                m.remove(KEYS[k]);
            } else {
                m.insert(key(k), (VALS[v].to_vec(), at));
            }
        }
        Op::Rename(a, b, nx) => {
            let src = live(m, KEYS[a], now).cloned();
            let dst_live = live(m, KEYS[b], now).is_some();
            let want = match src {
                None => Err(StoreError::NoSuchKey),
                Some(_) if a == b => Ok(!nx),
                Some(_) if nx && dst_live => Ok(false),
                Some(e) => {
                    m.remove(KEYS[a]);
                    m.insert(key(b), e);
                    Ok(true)
                }
            };
            assert_eq!(s.rename(KEYS[a], KEYS[b], nx, now), want);
        }
        Op::Scan(count) => {
            let mut got = Vec::new();
            let mut c = 0;
            loop {
                c = s.scan(c, count, None, None, now, &mut |k| got.push(k.to_vec()));
                if c == 0 {
                    break;
                }
            }
            let set: HashSet<_> = got.iter().cloned().collect();
            assert_eq!(set.len(), got.len(), "no duplicates");
            let want: HashSet<_> = m
                .keys()
                .filter(|k| live(m, k, now).is_some())
                .cloned()
                .collect();
            assert_eq!(set, want);
        }
        Op::RandomKey(seed) => {
            let got = s.random_key(seed, now).map(|k| k.to_vec());
            match got {
                Some(k) => assert!(live(m, &k, now).is_some()),
                None => assert!(m.keys().all(|k| live(m, k, now).is_none())),
            }
        }
        Op::ActiveExpire(budget) => {
            let (ex, gone) = s.active_expire(budget, now);
            assert!(gone <= ex && ex <= budget);
        }
        Op::Flush => {
            s.flush();
            m.clear();
        }
    }
}

impl Store {
    /// Live entries without touching expiry state (tests only).
    fn live_snapshot(&self, now: u64) -> Model {
        let mut out = HashMap::new();
        for (i, slot) in self.slab.iter().enumerate() {
            if slot.is_free() || self.is_expired(i as u32, now) {
                continue;
            }
            out.insert(
                slot.key().to_vec(),
                (slot.value().to_vec(), self.expiry_of(i as u32)),
            );
        }
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn store_matches_model(ops in proptest::collection::vec((0u64..3, op_strategy()), 1..200)) {
        run(ops);
    }
}
