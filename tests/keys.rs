//! Black-box tests of the key-space commands against the real binary, at every shard count:
//! multi-key DEL/UNLINK/EXISTS/TOUCH across shards, TYPE, the EXPIRE family and its options,
//! TTL/PTTL/EXPIRETIME, expiry being final, RENAME/RENAMENX within and across shards, KEYS,
//! SCAN (cursor, MATCH, TYPE), RANDOMKEY, DBSIZE/FLUSHDB/FLUSHALL, and one large pipeline.
//! Expected replies are Redis 7.0's (checked against redis-server 7.0.15).

mod common;
use common::*;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const OK: &str = "+OK\r\n";
const NIL: &str = "$-1\r\n";
const NOKEY: &str = "-ERR no such key\r\n";
const SYNTAX: &str = "-ERR syntax error\r\n";
const NOT_INT: &str = "-ERR value is not an integer or out of range\r\n";
/// 2100-01-01T00:00:00Z in milliseconds, for exact EXPIRETIME replies.
const FUTURE_MS: i64 = 4_102_444_800_000;

fn bulk(s: &str) -> String {
    format!("${}\r\n{}\r\n", s.len(), s)
}

fn int(n: i64) -> String {
    format!(":{n}\r\n")
}

fn err(s: &str) -> String {
    format!("-{s}\r\n")
}

/// An integer-reply command over `keys` then `more`, through the redis crate.
fn count(con: &mut redis::Connection, name: &str, keys: &[String], more: &[&str]) -> i64 {
    redis::cmd(name).arg(keys).arg(more).query(con).unwrap()
}

fn sorted_keys(con: &mut redis::Connection, pattern: &str) -> Vec<String> {
    let mut v: Vec<String> = redis::cmd("KEYS").arg(pattern).query(con).unwrap();
    v.sort();
    v
}

/// Every key a full SCAN returns (with extra arguments such as MATCH or TYPE), asserting the
/// cursor comes back to 0 in a bounded number of calls.
fn scan_all(con: &mut redis::Connection, extra: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut out = Vec::new();
    for _ in 0..20_000 {
        let (next, keys): (String, Vec<String>) = redis::cmd("SCAN")
            .arg(&cursor)
            .arg(extra)
            .query(con)
            .unwrap();
        out.extend(keys);
        if next == "0" {
            return out;
        }
        cursor = next;
    }
    panic!("SCAN did not finish within 20000 calls");
}

#[test]
fn del_unlink_exists_touch_multi_shard() {
    each(|s| {
        let mut con = s.client();
        let mut r = s.raw();
        for i in 0..20 {
            check(&mut r, &["SET", &format!("k:{i}"), "v"], OK);
        }
        let all: Vec<String> = (0..20).map(|i| format!("k:{i}")).collect();
        assert_eq!(count(&mut con, "EXISTS", &all, &["nope:1", "nope:2"]), 20);
        // A key named twice counts twice, for EXISTS and TOUCH.
        check(
            &mut r,
            &["EXISTS", "k:1", "k:1", "k:2", "nope", "k:1"],
            ":4\r\n",
        );
        check(&mut r, &["TOUCH", "k:3", "k:3", "nope", "k:4"], ":3\r\n");
        assert_eq!(count(&mut con, "TOUCH", &all, &[]), 20);
        // DEL of a repeated key deletes it once.
        check(&mut r, &["DEL", "k:0", "k:0", "nope"], ":1\r\n");
        assert_eq!(count(&mut con, "DEL", &all[..10], &["nope:3"]), 9);
        assert_eq!(count(&mut con, "UNLINK", &all, &[]), 10);
        assert_eq!(count(&mut con, "EXISTS", &all, &[]), 0);
        check(&mut r, &["DEL", "nope"], ":0\r\n");
        check(&mut r, &["UNLINK", "a", "b", "c"], ":0\r\n");
        check_arity(&mut r, &["DEL"]);
        check_arity(&mut r, &["EXISTS"]);
        check(&mut r, &["DBSIZE"], ":0\r\n");
    });
}

#[test]
fn type_and_ttl() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["TYPE", "k"], "+none\r\n");
        check(&mut r, &["TTL", "k"], ":-2\r\n");
        check(&mut r, &["PTTL", "k"], ":-2\r\n");
        check(&mut r, &["EXPIRETIME", "k"], ":-2\r\n");
        check(&mut r, &["PEXPIRETIME", "k"], ":-2\r\n");
        check(&mut r, &["SET", "k", "v"], OK);
        check(&mut r, &["TYPE", "k"], "+string\r\n");
        check(&mut r, &["TTL", "k"], ":-1\r\n");
        check(&mut r, &["PTTL", "k"], ":-1\r\n");
        check(&mut r, &["EXPIRETIME", "k"], ":-1\r\n");
        check(&mut r, &["PEXPIRETIME", "k"], ":-1\r\n");
        check(&mut r, &["EXPIRE", "k", "100"], ":1\r\n");
        let ttl = int_of(&mut r, &["TTL", "k"]);
        assert!((99..=100).contains(&ttl), "ttl {ttl}");
        check(&mut r, &["PEXPIRE", "k", "200000"], ":1\r\n");
        let pttl = int_of(&mut r, &["PTTL", "k"]);
        assert!((190_000..=200_000).contains(&pttl), "pttl {pttl}");
        // EXPIRETIME rounds the millisecond deadline to the nearest second.
        let at = |ms: i64| (FUTURE_MS + ms).to_string();
        check(&mut r, &["SET", "k", "v", "PXAT", &at(123)], OK);
        check(&mut r, &["EXPIRETIME", "k"], &int(FUTURE_MS / 1000));
        check(&mut r, &["PEXPIRETIME", "k"], &int(FUTURE_MS + 123));
        check(&mut r, &["SET", "k", "v", "PXAT", &at(500)], OK);
        check(&mut r, &["EXPIRETIME", "k"], &int(FUTURE_MS / 1000 + 1));
        check(&mut r, &["PEXPIREAT", "k", &at(42)], ":1\r\n");
        check(&mut r, &["PEXPIRETIME", "k"], &int(FUTURE_MS + 42));
        check(
            &mut r,
            &["EXPIREAT", "k", &(FUTURE_MS / 1000 + 10).to_string()],
            ":1\r\n",
        );
        check(&mut r, &["PEXPIRETIME", "k"], &int(FUTURE_MS + 10_000));
        check(&mut r, &["EXPIRETIME", "k"], &int(FUTURE_MS / 1000 + 10));
        // PERSIST
        check(&mut r, &["PERSIST", "k"], ":1\r\n");
        check(&mut r, &["PERSIST", "k"], ":0\r\n");
        check(&mut r, &["PERSIST", "nokey"], ":0\r\n");
        check(&mut r, &["TTL", "k"], ":-1\r\n");
        check(&mut r, &["EXPIRE", "nokey", "100"], ":0\r\n");
        check(&mut r, &["EXISTS", "nokey"], ":0\r\n");
    });
}

#[test]
fn expire_options_and_errors() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["SET", "k", "v"], OK);
        let nxxx = err("ERR NX and XX, GT or LT options at the same time are not compatible");
        let gtlt = err("ERR GT and LT options at the same time are not compatible");
        check(&mut r, &["EXPIRE", "k", "100", "NX", "XX"], &nxxx);
        check(&mut r, &["EXPIRE", "k", "100", "NX", "GT"], &nxxx);
        check(&mut r, &["PEXPIRE", "k", "100", "lt", "nx"], &nxxx);
        check(&mut r, &["EXPIRE", "k", "100", "GT", "LT"], &gtlt);
        check(&mut r, &["PEXPIREAT", "k", "100", "gt", "lt"], &gtlt);
        check(
            &mut r,
            &["EXPIRE", "k", "100", "foo"],
            &err("ERR Unsupported option foo"),
        );
        check(
            &mut r,
            &["EXPIREAT", "k", "100", "NX", "FOO"],
            &err("ERR Unsupported option FOO"),
        );
        check(&mut r, &["EXPIRE", "k", "abc"], NOT_INT);
        check(
            &mut r,
            &["EXPIRE", "k", "9223372036854775807"],
            &err("ERR invalid expire time in 'expire' command"),
        );
        check(
            &mut r,
            &["PEXPIRE", "k", "9223372036854775807"],
            &err("ERR invalid expire time in 'pexpire' command"),
        );
        check(
            &mut r,
            &["EXPIREAT", "k", "9223372036854775807"],
            &err("ERR invalid expire time in 'expireat' command"),
        );
        check_arity(&mut r, &["EXPIRE", "k"]);
        // None of the errors touched the key.
        check(&mut r, &["TTL", "k"], ":-1\r\n");
        // No TTL yet: XX fails, GT fails (no TTL counts as infinite), XX GT and XX LT fail.
        check(&mut r, &["EXPIRE", "k", "100", "XX"], ":0\r\n");
        check(&mut r, &["EXPIRE", "k", "100", "GT"], ":0\r\n");
        check(&mut r, &["EXPIRE", "k", "100", "XX", "GT"], ":0\r\n");
        check(&mut r, &["EXPIRE", "k", "100", "XX", "LT"], ":0\r\n");
        check(&mut r, &["TTL", "k"], ":-1\r\n");
        check(&mut r, &["EXPIRE", "k", "50", "NX"], ":1\r\n");
        check(&mut r, &["EXPIRE", "k", "60", "NX"], ":0\r\n");
        check(&mut r, &["EXPIRE", "k", "200", "GT"], ":1\r\n");
        check(&mut r, &["EXPIRE", "k", "150", "GT"], ":0\r\n");
        check(&mut r, &["EXPIRE", "k", "300", "LT"], ":0\r\n");
        check(&mut r, &["EXPIRE", "k", "100", "LT"], ":1\r\n");
        assert!((99..=100).contains(&int_of(&mut r, &["TTL", "k"])));
        check(&mut r, &["EXPIRE", "k", "300", "XX"], ":1\r\n");
        assert!((299..=300).contains(&int_of(&mut r, &["TTL", "k"])));
        check(&mut r, &["EXPIRE", "k", "400", "XX", "GT"], ":1\r\n");
        check(&mut r, &["EXPIRE", "k", "50", "LT", "XX"], ":1\r\n");
        assert!((49..=50).contains(&int_of(&mut r, &["TTL", "k"])));
        // No TTL: LT sets one (no TTL counts as infinite).
        check(&mut r, &["PERSIST", "k"], ":1\r\n");
        check(&mut r, &["EXPIRE", "k", "100", "LT"], ":1\r\n");
        assert!((99..=100).contains(&int_of(&mut r, &["TTL", "k"])));
        // Options on missing keys.
        check(&mut r, &["EXPIRE", "nokey", "100", "NX"], ":0\r\n");
        check(&mut r, &["EXPIRE", "nokey", "100", "LT"], ":0\r\n");
        check(&mut r, &["EXISTS", "nokey"], ":0\r\n");
    });
}

#[test]
fn expired_keys_are_never_returned() {
    each(|s| {
        let mut r = s.raw();
        let mut con = s.client();
        // A deadline in the past, or a non-positive relative time, deletes at once.
        check(&mut r, &["SET", "past", "v"], OK);
        check(&mut r, &["PEXPIREAT", "past", "1000"], ":1\r\n");
        check(&mut r, &["GET", "past"], NIL);
        check(&mut r, &["EXISTS", "past"], ":0\r\n");
        check(&mut r, &["SET", "neg", "v"], OK);
        check(&mut r, &["EXPIRE", "neg", "-1"], ":1\r\n");
        check(&mut r, &["TTL", "neg"], ":-2\r\n");
        check(&mut r, &["SET", "zero", "v"], OK);
        check(&mut r, &["EXPIREAT", "zero", "0"], ":1\r\n");
        check(&mut r, &["TYPE", "zero"], "+none\r\n");
        check(&mut r, &["SET", "pxat", "v", "PXAT", "1000"], OK);
        check(&mut r, &["GET", "pxat"], NIL);

        // Keys that expire after 1 ms, spread over every shard.
        let keys: Vec<String> = (0..20).map(|i| format!("exp:{i}")).collect();
        for k in &keys {
            check(&mut r, &["SET", k, "v", "PX", "1"], OK);
        }
        let gone = eventually(Duration::from_secs(5), || {
            let v: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(&mut con).unwrap();
            v.iter().all(Option::is_none)
        });
        assert!(gone, "keys set with PX 1 were still readable after 5 s");
        for _ in 0..3 {
            for k in &keys {
                check(&mut r, &["GET", k], NIL);
                check(&mut r, &["TTL", k], ":-2\r\n");
                check(&mut r, &["STRLEN", k], ":0\r\n");
            }
            assert_eq!(count(&mut con, "EXISTS", &keys, &[]), 0);
            assert!(sorted_keys(&mut con, "exp:*").is_empty());
            assert!(scan_all(&mut con, &["MATCH", "exp:*", "COUNT", "5"]).is_empty());
            check(&mut r, &["RANDOMKEY"], NIL);
            check(&mut r, &["GETEX", "exp:0"], NIL);
            check(&mut r, &["RENAME", "exp:1", "other"], NOKEY);
        }
        // A SET on an expired key starts a fresh key without the old TTL.
        check(&mut r, &["SET", "exp:2", "new"], OK);
        check(&mut r, &["TTL", "exp:2"], ":-1\r\n");
        check(&mut r, &["INCR", "exp:3"], ":1\r\n");
        check(&mut r, &["DBSIZE"], ":2\r\n");
    });
}

#[test]
fn rename_same_shard() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["RENAME", "{t}a", "{t}b"], NOKEY);
        check(&mut r, &["RENAMENX", "{t}a", "{t}b"], NOKEY);
        let at = (FUTURE_MS + 5).to_string();
        check(&mut r, &["SET", "{t}a", "1", "PXAT", &at], OK);
        check(&mut r, &["RENAME", "{t}a", "{t}b"], OK);
        check(&mut r, &["GET", "{t}a"], NIL);
        check(&mut r, &["GET", "{t}b"], &bulk("1"));
        check(&mut r, &["PEXPIRETIME", "{t}b"], &int(FUTURE_MS + 5));
        check(&mut r, &["SET", "{t}c", "2"], OK);
        check(&mut r, &["RENAMENX", "{t}b", "{t}c"], ":0\r\n");
        check(&mut r, &["GET", "{t}b"], &bulk("1"));
        check(&mut r, &["GET", "{t}c"], &bulk("2"));
        check(&mut r, &["RENAMENX", "{t}b", "{t}d"], ":1\r\n");
        check(&mut r, &["PEXPIRETIME", "{t}d"], &int(FUTURE_MS + 5));
        check(&mut r, &["EXISTS", "{t}b"], ":0\r\n");
        // RENAME overwrites, and the destination's own TTL goes with it.
        check(&mut r, &["EXPIRE", "{t}c", "100"], ":1\r\n");
        check(&mut r, &["SET", "{t}e", "3"], OK);
        check(&mut r, &["RENAME", "{t}e", "{t}c"], OK);
        check(&mut r, &["GET", "{t}c"], &bulk("3"));
        check(&mut r, &["TTL", "{t}c"], ":-1\r\n");
        // Renaming a key to itself.
        check(&mut r, &["RENAME", "{t}c", "{t}c"], OK);
        check(&mut r, &["RENAMENX", "{t}c", "{t}c"], ":0\r\n");
        check(&mut r, &["GET", "{t}c"], &bulk("3"));
        check(&mut r, &["RENAME", "{t}zz", "{t}zz"], NOKEY);
        check_arity(&mut r, &["RENAME", "{t}c"]);
    });
}

#[test]
fn rename_across_shards() {
    each(|s| {
        let mut r = s.raw();
        let mut con = s.client();
        // 40 pairs: at 4 shards most land on different shards.
        for i in 0..40 {
            let (src, dst) = (format!("src:{i}"), format!("dst:{i}"));
            let at = (FUTURE_MS + i).to_string();
            check(&mut r, &["SET", &src, &format!("v{i}"), "PXAT", &at], OK);
            if i % 2 == 0 {
                check(&mut r, &["SET", &dst, "old", "EX", "1000"], OK);
            }
            if i % 3 == 0 {
                check(&mut r, &["RENAME", &src, &dst], OK);
            } else {
                let want = if i % 2 == 0 { ":0\r\n" } else { ":1\r\n" };
                check(&mut r, &["RENAMENX", &src, &dst], want);
                if i % 2 == 0 {
                    // Refused: both keys unchanged.
                    check(&mut r, &["GET", &src], &bulk(&format!("v{i}")));
                    check(&mut r, &["GET", &dst], &bulk("old"));
                    continue;
                }
            }
            check(&mut r, &["GET", &src], NIL);
            check(&mut r, &["EXISTS", &src], ":0\r\n");
            check(&mut r, &["GET", &dst], &bulk(&format!("v{i}")));
            check(&mut r, &["PEXPIRETIME", &dst], &int(FUTURE_MS + i));
            // And back again, without a TTL this time.
            check(&mut r, &["PERSIST", &dst], ":1\r\n");
            check(&mut r, &["RENAME", &dst, &src], OK);
            check(&mut r, &["TTL", &src], ":-1\r\n");
            check(&mut r, &["GET", &src], &bulk(&format!("v{i}")));
            check(&mut r, &["EXISTS", &dst], ":0\r\n");
        }
        for i in 0..40 {
            check(
                &mut r,
                &["RENAME", &format!("none:{i}"), &format!("dst:{i}")],
                NOKEY,
            );
            check(
                &mut r,
                &["RENAMENX", &format!("none:{i}"), &format!("x:{i}")],
                NOKEY,
            );
        }
        // Every src key exists once more; dst only where RENAMENX was refused.
        let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        let refused = (0..40).filter(|i| i % 3 != 0 && i % 2 == 0).count() as i64;
        assert_eq!(n, 40 + refused);
        // A binary value moves intact (bin:a and bin:b are on different shards at 4).
        let val: &[u8] = b"x\r\n\0y";
        let _: () = redis::cmd("SET")
            .arg("bin:a")
            .arg(val)
            .query(&mut con)
            .unwrap();
        check(&mut r, &["RENAME", "bin:a", "bin:b"], OK);
        let got: Vec<u8> = redis::cmd("GET").arg("bin:b").query(&mut con).unwrap();
        assert_eq!(got, val);
    });
}

#[test]
fn keys_patterns() {
    each(|s| {
        let mut con = s.client();
        let names = [
            "hello", "hallo", "hbllo", "hxllo", "heeeello", "user:1", "user:2", "user:10",
            "admin:1",
        ];
        for n in names {
            let _: () = redis::cmd("SET").arg(n).arg("v").query(&mut con).unwrap();
        }
        let cases: &[(&str, &[&str])] = &[
            ("h?llo", &["hallo", "hbllo", "hello", "hxllo"]),
            ("h*llo", &["hallo", "hbllo", "heeeello", "hello", "hxllo"]),
            ("h[ae]llo", &["hallo", "hello"]),
            ("h[^e]llo", &["hallo", "hbllo", "hxllo"]),
            ("h[a-b]llo", &["hallo", "hbllo"]),
            ("user:*", &["user:1", "user:10", "user:2"]),
            ("user:?", &["user:1", "user:2"]),
            ("*:1", &["admin:1", "user:1"]),
            ("user:1*", &["user:1", "user:10"]),
            ("nomatch*", &[]),
            ("hello", &["hello"]),
        ];
        for (pat, want) in cases {
            assert_eq!(sorted_keys(&mut con, pat), *want, "KEYS {pat}");
        }
        let mut all: Vec<&str> = names.to_vec();
        all.sort();
        assert_eq!(sorted_keys(&mut con, "*"), all);
        let mut r = s.raw();
        check_arity(&mut r, &["KEYS"]);
        check(&mut r, &["FLUSHALL"], OK);
        check(&mut r, &["KEYS", "*"], "*0\r\n");
    });
}

#[test]
fn scan_cursor_match_type() {
    each(|s| {
        let mut con = s.client();
        let mut set = HashSet::new();
        let mut mset = redis::cmd("MSET");
        for i in 0..1000 {
            let k = format!("{}:{i}", if i % 10 == 0 { "odd" } else { "scan" });
            mset.arg(&k).arg(i);
            set.insert(k);
        }
        let _: () = mset.query(&mut con).unwrap();
        let got = scan_all(&mut con, &["COUNT", "7"]);
        let seen: HashSet<String> = got.iter().cloned().collect();
        assert!(
            seen.is_subset(&set),
            "SCAN returned keys never set: {:?}",
            seen.difference(&set).take(5).collect::<Vec<_>>()
        );
        assert_eq!(
            seen.len(),
            1000,
            "SCAN missed {:?}",
            set.difference(&seen).take(5).collect::<Vec<_>>()
        );
        // Default COUNT too.
        let seen: HashSet<String> = scan_all(&mut con, &[]).into_iter().collect();
        assert_eq!(seen, set);
        // MATCH filters, and still finds every match.
        let odd: HashSet<String> = scan_all(&mut con, &["MATCH", "odd:*", "COUNT", "7"])
            .into_iter()
            .collect();
        let want: HashSet<String> = set
            .iter()
            .filter(|k| k.starts_with("odd:"))
            .cloned()
            .collect();
        assert_eq!(odd.len(), 100);
        assert_eq!(odd, want);
        // TYPE filters.
        let strings: HashSet<String> = scan_all(&mut con, &["TYPE", "string", "COUNT", "50"])
            .into_iter()
            .collect();
        assert_eq!(strings, set);
        assert!(scan_all(&mut con, &["TYPE", "hash"]).is_empty());
        assert!(scan_all(&mut con, &["MATCH", "odd:*", "TYPE", "list"]).is_empty());
        let mut r = s.raw();
        check(&mut r, &["SCAN", "abc"], &err("ERR invalid cursor"));
        check(&mut r, &["SCAN", "0", "COUNT", "0"], SYNTAX);
        check(&mut r, &["SCAN", "0", "COUNT", "abc"], NOT_INT);
        check(&mut r, &["SCAN", "0", "foo"], SYNTAX);
        check(&mut r, &["SCAN", "0", "MATCH"], SYNTAX);
        check_arity(&mut r, &["SCAN"]);
        check(&mut r, &["FLUSHALL"], OK);
        // An empty db: no keys. (Redis answers cursor 0 at once; an empty page with a non-zero
        // cursor is within SCAN's contract, so only the full iteration is checked.)
        assert!(scan_all(&mut con, &[]).is_empty());
    });
}

#[test]
fn randomkey_dbsize_flush() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["RANDOMKEY"], NIL);
        check(&mut r, &["DBSIZE"], ":0\r\n");
        // One key on one shard: RANDOMKEY must always find it.
        check(&mut r, &["SET", "only", "v"], OK);
        for _ in 0..10 {
            check(&mut r, &["RANDOMKEY"], &bulk("only"));
        }
        let mut con = s.client();
        let keys: HashSet<String> = (0..100)
            .map(|i| format!("rk:{i}"))
            .chain(["only".to_string()])
            .collect();
        for k in &keys {
            let _: () = redis::cmd("SET").arg(k).arg("v").query(&mut con).unwrap();
        }
        for _ in 0..30 {
            let k: Option<String> = redis::cmd("RANDOMKEY").query(&mut con).unwrap();
            let k = k.expect("RANDOMKEY on a non-empty db returned nil");
            assert!(keys.contains(&k), "RANDOMKEY returned {k:?}");
        }
        check(&mut r, &["DBSIZE"], ":101\r\n");
        check(&mut r, &["FLUSHDB"], OK);
        check(&mut r, &["DBSIZE"], ":0\r\n");
        check(&mut r, &["RANDOMKEY"], NIL);
        check(&mut r, &["GET", "rk:1"], NIL);
        for k in &keys {
            let _: () = redis::cmd("SET").arg(k).arg("v").query(&mut con).unwrap();
        }
        check(&mut r, &["DBSIZE"], ":101\r\n");
        check(&mut r, &["FLUSHALL"], OK);
        check(&mut r, &["DBSIZE"], ":0\r\n");
        check(&mut r, &["KEYS", "*"], "*0\r\n");
        check(&mut r, &["SET", "a", "1"], OK);
        check(&mut r, &["FLUSHALL", "ASYNC"], OK);
        check(&mut r, &["SET", "a", "1"], OK);
        check(&mut r, &["FLUSHDB", "SYNC"], OK);
        check(&mut r, &["EXISTS", "a"], ":0\r\n");
        check(&mut r, &["FLUSHALL", "foo"], SYNTAX);
        check(&mut r, &["FLUSHDB", "foo"], SYNTAX);
        check_arity(&mut r, &["DBSIZE", "x"]);
        check_arity(&mut r, &["RANDOMKEY", "x"]);
    });
}

#[test]
fn pipeline_of_200_mixed_commands() {
    each(|s| {
        let mut r = s.raw();
        let mut model: HashMap<String, String> = HashMap::new();
        let mut wire = Vec::new();
        let mut want = Vec::new();
        let key = |n: usize| format!("key:{}", n % 37);
        for i in 0..200usize {
            let (args, reply): (Vec<String>, String) = match i % 8 {
                0 => {
                    model.insert(key(i), format!("v{i}"));
                    (vec!["SET".into(), key(i), format!("v{i}")], OK.into())
                }
                1 => {
                    let k = key(i * 7);
                    let rep = model.get(&k).map_or(NIL.to_string(), |v| bulk(v));
                    (vec!["GET".into(), k], rep)
                }
                2 => {
                    let k = format!("ctr:{}", i % 11);
                    let v = model.get(&k).map_or(0, |v| v.parse::<i64>().unwrap()) + 1;
                    model.insert(k.clone(), v.to_string());
                    (vec!["INCR".into(), k], int(v))
                }
                3 => {
                    let (a, b) = (key(i * 3), key(i * 5));
                    let n = model.remove(&a).is_some() as i64 + model.remove(&b).is_some() as i64;
                    (vec!["DEL".into(), a, b], int(n))
                }
                4 => (
                    vec!["NOSUCHCMD".into(), format!("a{i}"), "b".into()],
                    format!("-ERR unknown command 'NOSUCHCMD', with args beginning with: 'a{i}' 'b' \r\n"),
                ),
                5 if i % 16 == 5 => (vec!["GET".into()], err("ERR wrong number of arguments for 'get' command")),
                5 => (
                    vec!["INCR".into(), "ctr:0".into(), "x".into()],
                    err("ERR wrong number of arguments for 'incr' command"),
                ),
                6 => {
                    let ks = [key(i), key(i + 1), format!("ctr:{}", i % 11), key(i + 2)];
                    let mut rep = format!("*{}\r\n", ks.len());
                    for k in &ks {
                        rep += &model.get(k).map_or(NIL.to_string(), |v| bulk(v));
                    }
                    let mut args = vec!["MGET".to_string()];
                    args.extend(ks);
                    (args, rep)
                }
                _ => {
                    let ks = [key(i), format!("ctr:{}", i % 11), key(i), "missing".to_string()];
                    let n = ks.iter().filter(|k| model.contains_key(*k)).count() as i64;
                    let mut args = vec!["EXISTS".to_string()];
                    args.extend(ks);
                    (args, int(n))
                }
            };
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            wire.extend(cmd(&refs));
            want.push((args, reply));
        }
        r.send(&wire);
        for (i, (args, reply)) in want.iter().enumerate() {
            assert_eq!(&r.reply_string(), reply, "pipelined reply #{i} to {args:?}");
        }
        // The connection is still in sync afterwards.
        check(&mut r, &["PING"], "+PONG\r\n");
        assert_eq!(int_of(&mut r, &["DBSIZE"]), model.len() as i64);
    });
}
