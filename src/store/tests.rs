//! Per-operation unit tests with explicit clocks.

use super::*;

use super::test_util::{set, set_px, T0};

fn get(s: &mut Store, k: &str, now: u64) -> Option<String> {
    s.get(k.as_bytes(), now)
        .unwrap()
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

#[test]
fn get_set_basic() {
    let mut s = Store::new();
    assert!(s.is_empty());
    assert_eq!(get(&mut s, "k", T0), None);
    set(&mut s, "k", "v");
    assert_eq!(get(&mut s, "k", T0), Some("v".into()));
    set(&mut s, "k", "longer value");
    assert_eq!(get(&mut s, "k", T0), Some("longer value".into()));
    set(&mut s, "", "");
    assert_eq!(s.get(b"", T0).unwrap(), Some(&b""[..]));
    assert_eq!(s.len(), 2);
    s.check_invariants();
}

#[test]
fn set_conditions_and_old_value() {
    let mut s = Store::new();
    let o = s
        .set(b"k", b"1", SetCond::Xx, ExpiryUpdate::Persist, true, T0)
        .unwrap();
    assert_eq!(
        o,
        SetOutcome {
            written: false,
            old: None
        }
    );
    assert!(!s.exists(b"k", T0));
    let o = s
        .set(b"k", b"1", SetCond::Nx, ExpiryUpdate::Persist, true, T0)
        .unwrap();
    assert_eq!(
        o,
        SetOutcome {
            written: true,
            old: None
        }
    );
    let o = s
        .set(b"k", b"2", SetCond::Nx, ExpiryUpdate::Persist, true, T0)
        .unwrap();
    assert_eq!(
        o,
        SetOutcome {
            written: false,
            old: Some(b"1".to_vec())
        }
    );
    let o = s
        .set(b"k", b"3", SetCond::Xx, ExpiryUpdate::Persist, true, T0)
        .unwrap();
    assert_eq!(
        o,
        SetOutcome {
            written: true,
            old: Some(b"1".to_vec())
        }
    );
    let o = s
        .set(
            b"k",
            b"4",
            SetCond::Always,
            ExpiryUpdate::Persist,
            false,
            T0,
        )
        .unwrap();
    assert_eq!(
        o,
        SetOutcome {
            written: true,
            old: None
        }
    );
    assert_eq!(get(&mut s, "k", T0), Some("4".into()));
}

#[test]
fn set_expiry_modes() {
    let mut s = Store::new();
    set_px(&mut s, "k", "v", T0 + 100);
    assert_eq!(s.ttl(b"k", T0), Ttl::Ms(100));
    // KEEPTTL keeps it, plain SET clears it.
    s.set(b"k", b"w", SetCond::Always, ExpiryUpdate::Keep, false, T0)
        .unwrap();
    assert_eq!(s.ttl(b"k", T0 + 10), Ttl::Ms(90));
    s.set(
        b"k",
        b"x",
        SetCond::Always,
        ExpiryUpdate::Persist,
        false,
        T0,
    )
    .unwrap();
    assert_eq!(s.ttl(b"k", T0), Ttl::Persistent);
    // KEEPTTL on a new key: no TTL.
    s.set(b"n", b"x", SetCond::Always, ExpiryUpdate::Keep, false, T0)
        .unwrap();
    assert_eq!(s.ttl(b"n", T0), Ttl::Persistent);
    // An absolute time in the past: written, but absent (existing and new).
    let o = s
        .set(b"k", b"y", SetCond::Always, ExpiryUpdate::At(T0), true, T0)
        .unwrap();
    assert_eq!(
        o,
        SetOutcome {
            written: true,
            old: Some(b"x".to_vec())
        }
    );
    assert!(!s.exists(b"k", T0));
    let o = s
        .set(
            b"z",
            b"y",
            SetCond::Always,
            ExpiryUpdate::At(T0 - 5),
            false,
            T0,
        )
        .unwrap();
    assert!(o.written);
    assert!(!s.exists(b"z", T0));
    assert_eq!(s.len(), 1);
    s.check_invariants();
}

#[test]
fn lazy_expiry_at_exact_deadline() {
    let mut s = Store::new();
    set_px(&mut s, "k", "v", T0 + 10);
    assert_eq!(get(&mut s, "k", T0 + 9), Some("v".into()));
    assert_eq!(s.len(), 1);
    assert_eq!(get(&mut s, "k", T0 + 10), None);
    assert_eq!(s.len(), 0);
    assert_eq!(s.stats().expired_keys, 1);
    // Expired keys are absent to every command, and SET NX sees them as absent.
    set_px(&mut s, "k", "v", T0 + 10);
    assert!(!s.exists(b"k", T0 + 10));
    set_px(&mut s, "k", "v", T0 + 10);
    let o = s
        .set(
            b"k",
            b"new",
            SetCond::Nx,
            ExpiryUpdate::Persist,
            true,
            T0 + 11,
        )
        .unwrap();
    assert_eq!(
        o,
        SetOutcome {
            written: true,
            old: None
        }
    );
    assert_eq!(s.stats().expired_keys, 3);
    s.check_invariants();
}

#[test]
fn get_del_and_get_ex() {
    let mut s = Store::new();
    set(&mut s, "k", "v");
    assert_eq!(s.get_del(b"k", T0).unwrap(), Some(b"v".to_vec()));
    assert_eq!(s.get_del(b"k", T0).unwrap(), None);
    set(&mut s, "k", "v");
    assert_eq!(s.get_ex(b"k", None, T0).unwrap(), Some(&b"v"[..]));
    assert_eq!(
        s.get_ex(b"k", Some(ExpiryUpdate::At(T0 + 50)), T0).unwrap(),
        Some(&b"v"[..])
    );
    assert_eq!(s.ttl(b"k", T0), Ttl::Ms(50));
    assert_eq!(
        s.get_ex(b"k", Some(ExpiryUpdate::Keep), T0).unwrap(),
        Some(&b"v"[..])
    );
    assert_eq!(s.ttl(b"k", T0), Ttl::Ms(50));
    assert_eq!(
        s.get_ex(b"k", Some(ExpiryUpdate::Persist), T0).unwrap(),
        Some(&b"v"[..])
    );
    assert_eq!(s.ttl(b"k", T0), Ttl::Persistent);
    assert_eq!(
        s.get_ex(b"k", Some(ExpiryUpdate::At(T0)), T0).unwrap(),
        Some(&b"v"[..])
    );
    assert!(!s.exists(b"k", T0));
    assert_eq!(s.get_ex(b"k", None, T0).unwrap(), None);
    s.check_invariants();
}

#[test]
fn append_and_strlen() {
    let mut s = Store::new();
    assert_eq!(s.strlen(b"k", T0), Ok(0));
    assert_eq!(s.append(b"k", b"abc", T0), Ok(3));
    assert_eq!(s.append(b"k", b"de", T0), Ok(5));
    assert_eq!(s.append(b"k", b"", T0), Ok(5));
    assert_eq!(get(&mut s, "k", T0), Some("abcde".into()));
    assert_eq!(s.strlen(b"k", T0), Ok(5));
    // APPEND keeps the TTL.
    s.expire_at(b"k", T0 + 5, ExpireCond::Always, T0);
    s.append(b"k", b"f", T0).unwrap();
    assert_eq!(s.ttl(b"k", T0), Ttl::Ms(5));
    s.check_invariants();
}

#[test]
fn incr_rules() {
    let mut s = Store::new();
    assert_eq!(s.incr_by(b"n", 1, T0), Ok(1));
    assert_eq!(s.incr_by(b"n", -11, T0), Ok(-10));
    assert_eq!(get(&mut s, "n", T0), Some("-10".into()));
    for bad in [
        "010",
        " 1",
        "1 ",
        "+1",
        "",
        "abc",
        "1.0",
        "-0",
        "99999999999999999999",
    ] {
        set(&mut s, "b", bad);
        assert_eq!(
            s.incr_by(b"b", 1, T0),
            Err(StoreError::NotInteger),
            "{bad:?}"
        );
        assert_eq!(get(&mut s, "b", T0), Some(bad.into()), "unchanged");
    }
    set(&mut s, "m", "9223372036854775807");
    assert_eq!(s.incr_by(b"m", 1, T0), Err(StoreError::Overflow));
    assert_eq!(s.incr_by(b"m", 0, T0), Ok(i64::MAX));
    set(&mut s, "m", "-9223372036854775808");
    assert_eq!(s.incr_by(b"m", -1, T0), Err(StoreError::Overflow));
    assert_eq!(s.incr_by(b"m", i64::MAX, T0), Ok(-1));
    assert_eq!(s.incr_by(b"z", i64::MIN, T0), Ok(i64::MIN));
    set(&mut s, "zero", "0");
    assert_eq!(s.incr_by(b"zero", 5, T0), Ok(5));
    // Keeps the TTL.
    set_px(&mut s, "t", "5", T0 + 100);
    assert_eq!(s.incr_by(b"t", 1, T0), Ok(6));
    assert_eq!(s.ttl(b"t", T0), Ttl::Ms(100));
    s.check_invariants();
}

#[test]
fn incr_by_float_rules() {
    let mut s = Store::new();
    let f = |s: &mut Store, k: &str| get(s, k, T0).unwrap();
    set(&mut s, "a", "10.5");
    assert_eq!(s.incr_by_float(b"a", 0.1, T0), Ok(10.6));
    assert_eq!(f(&mut s, "a"), "10.6");
    set(&mut s, "b", "5.0e3");
    assert_eq!(s.incr_by_float(b"b", 200.0, T0), Ok(5200.0));
    assert_eq!(f(&mut s, "b"), "5200");
    assert_eq!(s.incr_by_float(b"new", 1.0, T0), Ok(1.0));
    assert_eq!(s.incr_by_float(b"new", 0.25, T0), Ok(1.25));
    assert_eq!(f(&mut s, "new"), "1.25");
    set(&mut s, "c", "1");
    assert_eq!(s.incr_by_float(b"c", -1.1, T0), Ok(-0.1));
    assert_eq!(f(&mut s, "c"), "-0.1");
    set(&mut s, "d", "3");
    assert_eq!(s.incr_by_float(b"d", 0.0, T0), Ok(3.0));
    assert_eq!(f(&mut s, "d"), "3");
    for bad in ["", " 1", "1 ", "abc", "nan", "1\x002", "1e400"] {
        set(&mut s, "x", bad);
        assert_eq!(
            s.incr_by_float(b"x", 1.0, T0),
            Err(StoreError::NotFloat),
            "{bad:?}"
        );
    }
    set(&mut s, "x", "inf");
    assert_eq!(
        s.incr_by_float(b"x", 1.0, T0),
        Err(StoreError::NanOrInfinity)
    );
    set(&mut s, "x", "1");
    assert_eq!(
        s.incr_by_float(b"x", f64::INFINITY, T0),
        Err(StoreError::NanOrInfinity)
    );
    assert_eq!(
        s.incr_by_float(b"x", f64::NAN, T0),
        Err(StoreError::NanOrInfinity)
    );
    assert_eq!(s.incr_by_float(b"x", 1.7e308, T0), Ok(1.7e308));
    assert_eq!(
        s.incr_by_float(b"x", 1.7e308, T0),
        Err(StoreError::NanOrInfinity)
    );
    // "No negative zero".
    s.incr_by_float(b"nz", 0.25, T0).unwrap();
    s.incr_by_float(b"nz", -0.25, T0).unwrap();
    assert_eq!(f(&mut s, "nz"), "0");
    // Returned f64 formatted with {} equals the stored bytes.
    let r = s.incr_by_float(b"q", 1e-7, T0).unwrap();
    assert_eq!(format!("{r}"), f(&mut s, "q"));
    assert_eq!(f(&mut s, "q"), "0.0000001");
    // Keeps the TTL.
    set_px(&mut s, "t", "1.5", T0 + 100);
    s.incr_by_float(b"t", 1.0, T0).unwrap();
    assert_eq!(s.ttl(b"t", T0), Ttl::Ms(100));
    s.check_invariants();
}

#[test]
fn get_range_rules() {
    let mut s = Store::new();
    set(&mut s, "k", "Hello World");
    let mut r =
        |a: i64, b: i64| String::from_utf8(s.get_range(b"k", a, b, T0).unwrap().to_vec()).unwrap();
    assert_eq!(r(0, 3), "Hell");
    assert_eq!(r(-3, -1), "rld");
    assert_eq!(r(0, -1), "Hello World");
    assert_eq!(r(10, 100), "d");
    assert_eq!(r(5, 3), "");
    assert_eq!(r(-1, -5), "");
    assert_eq!(r(-100, 2), "Hel");
    assert_eq!(r(-100, -100), "H"); // both clamp to 0
    assert_eq!(r(11, 20), "");
    assert_eq!(r(i64::MIN, i64::MAX), "Hello World");
    assert_eq!(r(i64::MAX, i64::MAX), "");
    assert_eq!(r(i64::MIN, i64::MIN), "H");
    assert_eq!(s.get_range(b"missing", 0, -1, T0), Ok(&b""[..]));
    set(&mut s, "e", "");
    assert_eq!(s.get_range(b"e", 0, -1, T0), Ok(&b""[..]));
}

#[test]
fn set_range_rules() {
    let mut s = Store::new();
    assert_eq!(s.set_range(b"k", 5, b"", T0), Ok(0));
    assert!(!s.exists(b"k", T0), "empty value never creates the key");
    assert_eq!(s.set_range(b"k", 3, b"ab", T0), Ok(5));
    assert_eq!(s.get(b"k", T0).unwrap(), Some(&b"\0\0\0ab"[..]));
    assert_eq!(s.set_range(b"k", 0, b"xy", T0), Ok(5));
    assert_eq!(s.get(b"k", T0).unwrap(), Some(&b"xy\0ab"[..]));
    assert_eq!(s.set_range(b"k", 4, b"ZZZ", T0), Ok(7));
    assert_eq!(s.get(b"k", T0).unwrap(), Some(&b"xy\0aZZZ"[..]));
    assert_eq!(s.set_range(b"k", usize::MAX, b"", T0), Ok(7));
    assert_eq!(
        s.set_range(b"k", MAX_STRING_LEN, b"a", T0),
        Err(StoreError::TooLong)
    );
    assert_eq!(
        s.set_range(b"k", usize::MAX, b"a", T0),
        Err(StoreError::TooLong)
    );
    assert_eq!(
        s.set_range(b"new", MAX_STRING_LEN - 1, b"ab", T0),
        Err(StoreError::TooLong)
    );
    assert!(!s.exists(b"new", T0));
    s.check_invariants();
}

#[test]
fn expire_conditions() {
    let mut s = Store::new();
    assert!(
        !s.expire_at(b"k", T0 + 10, ExpireCond::Always, T0),
        "missing key"
    );
    set(&mut s, "k", "v");
    assert!(
        !s.expire_at(b"k", T0 + 10, ExpireCond::Xx, T0),
        "XX without TTL"
    );
    assert!(
        !s.expire_at(b"k", T0 + 10, ExpireCond::Gt, T0),
        "GT: no TTL is infinite"
    );
    assert!(
        s.expire_at(b"k", T0 + 100, ExpireCond::Lt, T0),
        "LT: anything < infinite"
    );
    assert!(
        !s.expire_at(b"k", T0 + 50, ExpireCond::Nx, T0),
        "NX with TTL"
    );
    assert!(s.expire_at(b"k", T0 + 50, ExpireCond::Xx, T0));
    assert!(!s.expire_at(b"k", T0 + 50, ExpireCond::Gt, T0), "GT equal");
    assert!(s.expire_at(b"k", T0 + 60, ExpireCond::Gt, T0));
    assert!(!s.expire_at(b"k", T0 + 60, ExpireCond::Lt, T0), "LT equal");
    assert!(s.expire_at(b"k", T0 + 40, ExpireCond::Lt, T0));
    assert_eq!(s.expire_time(b"k", T0), Ttl::Ms(T0 + 40));
    assert!(s.persist(b"k", T0));
    assert!(!s.persist(b"k", T0));
    assert!(s.expire_at(b"k", T0 + 40, ExpireCond::Nx, T0));
    // A past time deletes the key, if the condition passes.
    assert!(!s.expire_at(b"k", T0 - 1, ExpireCond::Gt, T0));
    assert!(s.exists(b"k", T0));
    assert!(s.expire_at(b"k", T0, ExpireCond::Always, T0));
    assert!(!s.exists(b"k", T0));
    assert_eq!(s.stats().expired_keys, 0, "explicit deletion is not expiry");
    s.check_invariants();
}

#[test]
fn ttl_missing_vs_persistent() {
    let mut s = Store::new();
    assert_eq!(s.ttl(b"k", T0), Ttl::Missing);
    assert_eq!(s.expire_time(b"k", T0), Ttl::Missing);
    set(&mut s, "k", "v");
    assert_eq!(s.ttl(b"k", T0), Ttl::Persistent);
    assert_eq!(s.expire_time(b"k", T0), Ttl::Persistent);
    s.expire_at(b"k", T0 + 1000, ExpireCond::Always, T0);
    assert_eq!(s.ttl(b"k", T0 + 1), Ttl::Ms(999));
    assert_eq!(s.expire_time(b"k", T0 + 1), Ttl::Ms(T0 + 1000));
    assert_eq!(s.ttl(b"k", T0 + 1000), Ttl::Missing);
    assert_eq!(s.key_type(b"k", T0), None);
    set(&mut s, "k", "v");
    assert_eq!(s.key_type(b"k", T0), Some("string"));
}

#[test]
fn del_and_exists() {
    let mut s = Store::new();
    assert!(!s.del(b"k", T0));
    set(&mut s, "k", "v");
    assert!(s.exists(b"k", T0));
    assert!(s.del(b"k", T0));
    assert!(!s.del(b"k", T0));
    set_px(&mut s, "e", "v", T0 + 1);
    assert!(!s.del(b"e", T0 + 1), "expired counts as missing");
    s.check_invariants();
}

#[test]
fn take_and_put() {
    let mut s = Store::new();
    set_px(&mut s, "k", "v", T0 + 100);
    assert_eq!(
        s.take(b"k", T0),
        Some((Value::String(b"v".to_vec()), Some(T0 + 100)))
    );
    assert_eq!(s.take(b"k", T0), None);
    set(&mut s, "p", "v");
    assert_eq!(s.take(b"p", T0), Some((Value::String(b"v".to_vec()), None)));
    set_px(&mut s, "d", "old", T0 + 5);
    s.put(b"d", &Value::String(b"new".to_vec()), None, T0)
        .unwrap();
    assert_eq!(get(&mut s, "d", T0), Some("new".into()));
    assert_eq!(s.ttl(b"d", T0), Ttl::Persistent);
    s.put(b"d", &Value::String(b"newer".to_vec()), Some(T0 + 7), T0)
        .unwrap();
    assert_eq!(s.expire_time(b"d", T0), Ttl::Ms(T0 + 7));
    s.put(b"d", &Value::String(b"gone".to_vec()), Some(T0), T0)
        .unwrap();
    assert!(!s.exists(b"d", T0));
    s.check_invariants();
}

#[test]
fn rename_rules() {
    let mut s = Store::new();
    assert_eq!(s.rename(b"a", b"b", false, T0), Err(StoreError::NoSuchKey));
    assert_eq!(s.rename(b"a", b"a", false, T0), Err(StoreError::NoSuchKey));
    set_px(&mut s, "a", "1", T0 + 100);
    assert_eq!(s.rename(b"a", b"a", false, T0), Ok(true));
    assert_eq!(s.rename(b"a", b"a", true, T0), Ok(false));
    assert_eq!(s.rename(b"a", b"b", false, T0), Ok(true));
    assert!(!s.exists(b"a", T0));
    assert_eq!(get(&mut s, "b", T0), Some("1".into()));
    assert_eq!(s.ttl(b"b", T0), Ttl::Ms(100), "rename keeps TTL");
    set(&mut s, "c", "2");
    assert_eq!(s.rename(b"b", b"c", true, T0), Ok(false));
    assert_eq!(get(&mut s, "c", T0), Some("2".into()));
    assert_eq!(s.rename(b"b", b"c", false, T0), Ok(true));
    assert_eq!(get(&mut s, "c", T0), Some("1".into()));
    assert_eq!(s.ttl(b"c", T0), Ttl::Ms(100));
    // Overwriting a destination with a TTL drops the destination's TTL.
    set(&mut s, "p", "3");
    set_px(&mut s, "q", "4", T0 + 5);
    assert_eq!(s.rename(b"p", b"q", false, T0), Ok(true));
    assert_eq!(s.ttl(b"q", T0), Ttl::Persistent);
    // An expired destination does not block NX.
    set_px(&mut s, "x", "5", T0 + 1);
    assert_eq!(s.rename(b"q", b"x", true, T0 + 1), Ok(true));
    assert_eq!(s.len(), 2);
    s.check_invariants();
}

#[test]
fn flush_resets() {
    let mut s = Store::new();
    for i in 0..100 {
        set_px(&mut s, &format!("k{i}"), "v", T0 + i);
    }
    s.flush();
    assert_eq!(s.len(), 0);
    let st = s.stats();
    assert_eq!((st.keys, st.volatile_keys, st.data_bytes), (0, 0, 0));
    assert_eq!(s.active_expire(10, T0 + 1000), (0, 0));
    set(&mut s, "k", "v");
    assert_eq!(get(&mut s, "k", T0), Some("v".into()));
    s.check_invariants();
}

#[test]
fn slots_are_reused_and_stats_add_up() {
    let mut s = Store::new();
    for i in 0..100 {
        set(&mut s, &format!("k{i:02}"), "0123456789");
    }
    let st = s.stats();
    assert_eq!(st.keys, 100);
    assert_eq!(st.data_bytes, 100 * 13);
    assert!(st.overhead_bytes > 100 * 24);
    for i in 0..50 {
        s.del(format!("k{i:02}").as_bytes(), T0);
    }
    for i in 0..50 {
        set(&mut s, &format!("n{i:02}"), "x");
    }
    assert_eq!(s.slab.len(), 100, "freed slots reused");
    assert_eq!(s.stats().data_bytes, 50 * 13 + 50 * 4);
    s.check_invariants();
}

#[test]
fn oversize_inputs_do_not_panic() {
    let mut s = Store::new();
    let big = vec![0u8; MAX_STRING_LEN + 1];
    assert_eq!(
        s.set(
            &big,
            b"v",
            SetCond::Always,
            ExpiryUpdate::Persist,
            false,
            T0
        )
        .unwrap_err(),
        StoreError::TooLong
    );
    assert_eq!(
        s.set(
            b"k",
            &big,
            SetCond::Always,
            ExpiryUpdate::Persist,
            false,
            T0
        )
        .unwrap_err(),
        StoreError::TooLong
    );
    assert_eq!(s.append(b"k", &big, T0), Err(StoreError::TooLong));
    set(&mut s, "k", "v");
    assert_eq!(
        s.append(b"k", &big[..MAX_STRING_LEN], T0),
        Err(StoreError::TooLong)
    );
    assert_eq!(s.rename(b"k", &big, false, T0), Err(StoreError::TooLong));
    assert_eq!(
        s.put(&big, &Value::String(b"v".to_vec()), None, T0),
        Err(StoreError::TooLong)
    );
    assert_eq!(s.len(), 1);
    assert_eq!(s.ttl(b"k", u64::MAX), Ttl::Persistent);
    assert!(s.expire_at(b"k", u64::MAX, ExpireCond::Always, 0));
    assert_eq!(s.ttl(b"k", 0), Ttl::Ms(u64::MAX));
    assert!(
        s.expire_at(b"k", 0, ExpireCond::Always, 0),
        "0 <= now deletes"
    );
    assert!(!s.exists(b"k", 0));
    s.check_invariants();
}

/// The inline key comparison agrees with slice equality for every length around its 8..=16
/// window, and for keys that differ in any one byte (first word, last word, the overlap).
#[test]
fn key_eq_matches_slice_equality() {
    for n in 0..=24usize {
        let a: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        assert!(key_eq(&a, &a.clone()));
        for i in 0..n {
            let mut b = a.clone();
            b[i] ^= 1;
            assert!(!key_eq(&a, &b), "len {n}, byte {i}");
        }
        let mut longer = a.clone();
        longer.push(0);
        assert!(!key_eq(&a, &longer));
        assert!(!key_eq(&longer, &a));
    }
}

/// A planned hash is used for exactly the key slice it was given, and forgotten when cleared:
/// the next key at the same address (the next batch in the same read buffer) hashes afresh.
#[test]
fn known_hash_applies_to_its_slice_until_cleared() {
    let mut s = Store::new();
    set(&mut s, "aa", "first");
    set(&mut s, "bb", "second");
    let mut buf = *b"aa";
    let h = s.key_hash(&buf);
    s.set_known_hash(&buf, h);
    assert_eq!(s.get(&buf, T0).unwrap(), Some(&b"first"[..]));
    // A wrong planned hash would be believed: the memo is what the lookup uses.
    s.set_known_hash(&buf, h ^ (0x7f << 57)); // another tag: the index cannot match it
    assert_eq!(s.get(&buf, T0).unwrap(), None);
    s.clear_known_hash();
    buf.copy_from_slice(b"bb");
    assert_eq!(s.get(&buf, T0).unwrap(), Some(&b"second"[..]));
    // Another slice with the same bytes is not the planned one: it hashes itself.
    s.set_known_hash(&buf, h);
    assert_eq!(s.get(&b"bb".to_vec(), T0).unwrap(), Some(&b"second"[..]));
    s.clear_known_hash();
}
