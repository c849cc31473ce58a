//! Unit tests for the walks over all keys: SCAN, KEYS, RANDOMKEY, active expiry.

use super::*;
use std::collections::HashSet;

use super::test_util::{set, set_px, T0};

fn scan_all(s: &mut Store, count: usize, pattern: Option<&[u8]>, now: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut c = 0;
    loop {
        c = s.scan(c, count, pattern, None, now, &mut |k| out.push(k.to_vec()));
        if c == 0 {
            return out;
        }
    }
}

#[test]
fn scan_basic_pattern_type_and_expiry() {
    let mut s = Store::new();
    for i in 0..50 {
        set(&mut s, &format!("user:{i}"), "v");
        set(&mut s, &format!("item:{i}"), "v");
    }
    set_px(&mut s, "user:exp", "v", T0 + 1);
    let all = scan_all(&mut s, 7, None, T0 + 1);
    assert_eq!(all.len(), 100);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 100);
    let users = scan_all(&mut s, 1, Some(b"user:*"), T0 + 1);
    assert_eq!(users.len(), 50);
    assert_eq!(s.len(), 100, "expired key reclaimed by the walk");
    let mut n = 0;
    let mut c = 0;
    loop {
        c = s.scan(c, 1000, None, Some(b"string"), T0, &mut |_| n += 1);
        if c == 0 {
            break;
        }
    }
    assert_eq!(n, 100);
    let mut n = 0;
    assert_eq!(s.scan(0, 1000, None, Some(b"list"), T0, &mut |_| n += 1), 0);
    assert_eq!(n, 0);
    // Cursors past the end, absurd cursors, and count 0 are all safe.
    assert_eq!(s.scan(u64::MAX, 10, None, None, T0, &mut |_| {}), 0);
    assert_eq!(s.scan(1 << 40, 10, None, None, T0, &mut |_| {}), 0);
    assert_eq!(s.scan(0, 0, None, None, T0, &mut |_| {}), 1);
    let empty = &mut Store::new();
    assert_eq!(empty.scan(0, 10, None, None, T0, &mut |_| panic!()), 0);
}

#[test]
fn scan_with_concurrent_changes_returns_stable_keys() {
    let mut s = Store::new();
    for i in 0..1000 {
        set(&mut s, &format!("stable:{i}"), "v");
        set(&mut s, &format!("churn:{i}"), "v");
    }
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut c = 0;
    let mut round = 0u64;
    loop {
        c = s.scan(c, 13, None, None, T0, &mut |k| seen.push(k.to_vec()));
        // Delete some churn keys and insert new ones (which reuse freed slots
        // anywhere in the slab) between steps.
        for j in 0..5 {
            let k = round * 5 + j;
            s.del(format!("churn:{k}").as_bytes(), T0);
            set(&mut s, &format!("new:{round}:{j}"), "v");
        }
        round += 1;
        if c == 0 {
            break;
        }
    }
    let stable: Vec<_> = seen.iter().filter(|k| k.starts_with(b"stable:")).collect();
    assert_eq!(stable.len(), 1000, "every stable key exactly once");
    assert_eq!(stable.iter().collect::<HashSet<_>>().len(), 1000);
    s.check_invariants();
}

#[test]
fn keys_and_glob() {
    let mut s = Store::new();
    for k in ["foo", "foobar", "bar", "", "f\\o"] {
        set(&mut s, k, "v");
    }
    set_px(&mut s, "fooexp", "v", T0 + 1);
    let mut got = |p: &str| {
        let mut v = Vec::new();
        s.keys(p.as_bytes(), T0 + 1, &mut |k| {
            v.push(String::from_utf8(k.to_vec()).unwrap())
        });
        v.sort();
        v
    };
    assert_eq!(got("foo*"), vec!["foo", "foobar"]);
    assert_eq!(got("*"), vec!["", "bar", "f\\o", "foo", "foobar"]);
    assert_eq!(got("?ar"), vec!["bar"]);
    assert_eq!(got("f\\\\o"), vec!["f\\o"]);
    assert_eq!(got("nomatch"), Vec::<String>::new());
}

#[test]
fn random_key_behaviour() {
    let mut s = Store::new();
    assert_eq!(s.random_key(1, T0), None);
    for i in 0..100 {
        set(&mut s, &format!("k{i}"), "v");
    }
    let mut seen = HashSet::new();
    for seed in 0..2000 {
        seen.insert(s.random_key(seed, T0).unwrap().to_vec());
    }
    assert!(seen.len() > 90, "roughly uniform: saw {}", seen.len());
    // Sparse slab: delete all but one; the fallback walk still finds it.
    for i in 1..100 {
        s.del(format!("k{i}").as_bytes(), T0);
    }
    for seed in 0..50 {
        assert_eq!(s.random_key(seed, T0), Some(&b"k0"[..]));
    }
    // All keys expired: terminates, returns None, reclaims them.
    let mut s = Store::new();
    for i in 0..1000 {
        set_px(&mut s, &format!("k{i}"), "v", T0 + 1);
    }
    assert_eq!(s.random_key(7, T0 + 1), None);
    assert_eq!(s.len(), 0);
    s.check_invariants();
}

#[test]
fn active_expire_budgets() {
    let mut s = Store::new();
    assert_eq!(s.active_expire(100, T0), (0, 0), "cheap without TTLs");
    for i in 0..1000u64 {
        set(&mut s, &format!("p{i}"), "v");
        set_px(&mut s, &format!("v{i}"), "v", T0 + 1 + (i % 2) * 1000);
    }
    assert_eq!(s.stats().volatile_keys, 1000);
    let (ex, gone) = s.active_expire(100, T0 + 1);
    assert_eq!(ex, 100);
    assert!((40..=60).contains(&gone), "about half due: {gone}");
    let mut total = gone;
    for _ in 0..100 {
        let (_, g) = s.active_expire(100, T0 + 1);
        total += g;
    }
    assert_eq!(total, 500);
    assert_eq!(s.len(), 1500);
    assert_eq!(s.stats().expired_keys, 500);
    // Budget larger than the volatile set examines each once.
    assert_eq!(s.active_expire(1_000_000, T0 + 1), (500, 0));
    assert_eq!(s.active_expire(1_000_000, T0 + 2000), (500, 500));
    assert_eq!(s.stats().volatile_keys, 0);
    assert_eq!(s.active_expire(0, T0), (0, 0));
    s.check_invariants();
}
