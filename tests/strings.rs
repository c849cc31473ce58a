//! Black-box tests of the string commands against the real binary, at every shard count:
//! GET/SET and all SET options, SETNX/SETEX/PSETEX, GETSET/GETDEL/GETEX, MGET/MSET across
//! slots, APPEND/STRLEN, the INCR family, INCRBYFLOAT, GETRANGE/SETRANGE and binary values.
//! Expected replies are Redis 7.0's (checked against redis-server 7.0.15).

mod common;
use common::*;

const OK: &str = "+OK\r\n";
const NIL: &str = "$-1\r\n";
/// A future instant (2100-01-01T00:00:00Z) for EXAT/PXAT, so the replies are exact.
const FUTURE_S: i64 = 4_102_444_800;

fn bulk(s: &str) -> String {
    format!("${}\r\n{}\r\n", s.len(), s)
}

fn int(n: i64) -> String {
    format!(":{n}\r\n")
}

fn err(s: &str) -> String {
    format!("-{s}\r\n")
}

const SYNTAX: &str = "-ERR syntax error\r\n";
const NOT_INT: &str = "-ERR value is not an integer or out of range\r\n";

#[test]
fn get_set_basics() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["GET", "k"], NIL);
        check(&mut r, &["SET", "k", "v"], OK);
        check(&mut r, &["GET", "k"], &bulk("v"));
        check(&mut r, &["set", "k", "w"], OK);
        check(&mut r, &["get", "k"], &bulk("w"));
        check(&mut r, &["SET", "empty", ""], OK);
        check(&mut r, &["GET", "empty"], "$0\r\n\r\n");
        check_arity(&mut r, &["GET"]);
        check_arity(&mut r, &["SET", "k"]);
        let mut con = s.client();
        let v: Option<String> = redis::cmd("GET").arg("k").query(&mut con).unwrap();
        assert_eq!(v.as_deref(), Some("w"));
    });
}

#[test]
fn set_expiry_options() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["SET", "k", "v", "EX", "100"], OK);
        let ttl = int_of(&mut r, &["TTL", "k"]);
        assert!((99..=100).contains(&ttl), "ttl {ttl}");
        check(&mut r, &["SET", "k", "v", "PX", "100000"], OK);
        let pttl = int_of(&mut r, &["PTTL", "k"]);
        assert!((90_000..=100_000).contains(&pttl), "pttl {pttl}");
        let exat = FUTURE_S.to_string();
        check(&mut r, &["SET", "k", "v", "EXAT", &exat], OK);
        check(&mut r, &["EXPIRETIME", "k"], &int(FUTURE_S));
        check(&mut r, &["PEXPIRETIME", "k"], &int(FUTURE_S * 1000));
        let pxat = (FUTURE_S * 1000 + 123).to_string();
        check(&mut r, &["SET", "k", "v", "PXAT", &pxat], OK);
        check(&mut r, &["PEXPIRETIME", "k"], &int(FUTURE_S * 1000 + 123));
        // KEEPTTL keeps it; a plain SET clears it.
        check(&mut r, &["SET", "k", "v2", "KEEPTTL"], OK);
        check(&mut r, &["PEXPIRETIME", "k"], &int(FUTURE_S * 1000 + 123));
        check(&mut r, &["GET", "k"], &bulk("v2"));
        check(&mut r, &["SET", "k", "v3"], OK);
        check(&mut r, &["TTL", "k"], ":-1\r\n");
        // Options are case-insensitive.
        check(&mut r, &["set", "k", "v", "ex", "50"], OK);
        assert!(int_of(&mut r, &["TTL", "k"]) > 0);
    });
}

#[test]
fn set_nx_xx_get() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["SET", "k", "v", "XX"], NIL);
        check(&mut r, &["GET", "k"], NIL);
        check(&mut r, &["SET", "k", "v", "NX"], OK);
        check(&mut r, &["SET", "k", "w", "NX"], NIL);
        check(&mut r, &["GET", "k"], &bulk("v"));
        check(&mut r, &["SET", "k", "w", "XX"], OK);
        check(&mut r, &["GET", "k"], &bulk("w"));
        // GET returns the old value (nil when there was none) and still sets.
        check(&mut r, &["SET", "g", "1", "GET"], NIL);
        check(&mut r, &["SET", "g", "2", "GET"], &bulk("1"));
        check(&mut r, &["GET", "g"], &bulk("2"));
        // NX GET on an existing key: the old value, and nothing is set.
        check(&mut r, &["SET", "g", "3", "NX", "GET"], &bulk("2"));
        check(&mut r, &["GET", "g"], &bulk("2"));
        // NX GET on a missing key: nil, and it is set.
        check(&mut r, &["SET", "h", "1", "NX", "GET"], NIL);
        check(&mut r, &["GET", "h"], &bulk("1"));
        // XX GET on a missing key: nil, nothing set.
        check(&mut r, &["SET", "x", "1", "XX", "GET"], NIL);
        check(&mut r, &["EXISTS", "x"], ":0\r\n");
        check(
            &mut r,
            &["SET", "h", "2", "XX", "GET", "EX", "100"],
            &bulk("1"),
        );
        assert!(int_of(&mut r, &["TTL", "h"]) > 0);
    });
}

#[test]
fn set_errors() {
    each(|s| {
        let mut r = s.raw();
        let inv = err("ERR invalid expire time in 'set' command");
        for (args, want) in [
            (&["SET", "k", "v", "EX", "0"][..], inv.as_str()),
            (&["SET", "k", "v", "EX", "-1"], &inv),
            (&["SET", "k", "v", "PX", "0"], &inv),
            (&["SET", "k", "v", "EXAT", "0"], &inv),
            (&["SET", "k", "v", "PXAT", "-5"], &inv),
            (&["SET", "k", "v", "EX", "9999999999999999"], &inv),
            (&["SET", "k", "v", "PX", "abc"], NOT_INT),
            (&["SET", "k", "v", "EX", "1.5"], NOT_INT),
            (&["SET", "k", "v", "NX", "XX"], SYNTAX),
            (&["SET", "k", "v", "EX", "10", "PX", "10"], SYNTAX),
            (&["SET", "k", "v", "KEEPTTL", "EX", "10"], SYNTAX),
            (&["SET", "k", "v", "PX", "100", "KEEPTTL"], SYNTAX),
            (&["SET", "k", "v", "EXAT", "100", "PXAT", "100"], SYNTAX),
            (&["SET", "k", "v", "FOO"], SYNTAX),
            (&["SET", "k", "v", "EX"], SYNTAX),
        ] {
            check(&mut r, args, want);
        }
        // No failed SET created the key.
        check(&mut r, &["EXISTS", "k"], ":0\r\n");
    });
}

#[test]
fn setnx_setex_psetex() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["SETNX", "k", "a"], ":1\r\n");
        check(&mut r, &["SETNX", "k", "b"], ":0\r\n");
        check(&mut r, &["GET", "k"], &bulk("a"));
        check(&mut r, &["SETEX", "e", "100", "v"], OK);
        check(&mut r, &["GET", "e"], &bulk("v"));
        let ttl = int_of(&mut r, &["TTL", "e"]);
        assert!((99..=100).contains(&ttl), "ttl {ttl}");
        check(&mut r, &["PSETEX", "p", "100000", "v"], OK);
        let pttl = int_of(&mut r, &["PTTL", "p"]);
        assert!((90_000..=100_000).contains(&pttl), "pttl {pttl}");
        let setex = err("ERR invalid expire time in 'setex' command");
        let psetex = err("ERR invalid expire time in 'psetex' command");
        check(&mut r, &["SETEX", "x", "0", "v"], &setex);
        check(&mut r, &["SETEX", "x", "-5", "v"], &setex);
        check(&mut r, &["PSETEX", "x", "0", "v"], &psetex);
        check(&mut r, &["PSETEX", "x", "-1", "v"], &psetex);
        check(&mut r, &["SETEX", "x", "abc", "v"], NOT_INT);
        check(&mut r, &["PSETEX", "x", "1.0", "v"], NOT_INT);
        check(&mut r, &["EXISTS", "x"], ":0\r\n");
        check_arity(&mut r, &["SETEX", "x", "10"]);
    });
}

#[test]
fn getset_getdel() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["GETSET", "k", "a"], NIL);
        check(&mut r, &["GETSET", "k", "b"], &bulk("a"));
        check(&mut r, &["GET", "k"], &bulk("b"));
        // GETSET is a SET: it clears the TTL.
        check(&mut r, &["SET", "t", "1", "EX", "100"], OK);
        check(&mut r, &["GETSET", "t", "2"], &bulk("1"));
        check(&mut r, &["TTL", "t"], ":-1\r\n");
        check(&mut r, &["GETDEL", "k"], &bulk("b"));
        check(&mut r, &["GETDEL", "k"], NIL);
        check(&mut r, &["EXISTS", "k"], ":0\r\n");
    });
}

#[test]
fn getex() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["GETEX", "k"], NIL);
        check(&mut r, &["GETEX", "k", "EX", "10"], NIL);
        check(&mut r, &["EXISTS", "k"], ":0\r\n");
        check(&mut r, &["SET", "k", "v"], OK);
        check(&mut r, &["GETEX", "k"], &bulk("v"));
        check(&mut r, &["TTL", "k"], ":-1\r\n");
        check(&mut r, &["GETEX", "k", "EX", "100"], &bulk("v"));
        let ttl = int_of(&mut r, &["TTL", "k"]);
        assert!((99..=100).contains(&ttl), "ttl {ttl}");
        // No option: the TTL stays.
        check(&mut r, &["GETEX", "k"], &bulk("v"));
        assert!(int_of(&mut r, &["TTL", "k"]) > 0);
        check(&mut r, &["GETEX", "k", "PX", "200000"], &bulk("v"));
        let pttl = int_of(&mut r, &["PTTL", "k"]);
        assert!((190_000..=200_000).contains(&pttl), "pttl {pttl}");
        check(
            &mut r,
            &["GETEX", "k", "EXAT", &FUTURE_S.to_string()],
            &bulk("v"),
        );
        check(&mut r, &["EXPIRETIME", "k"], &int(FUTURE_S));
        check(
            &mut r,
            &["GETEX", "k", "PXAT", &(FUTURE_S * 1000 + 7).to_string()],
            &bulk("v"),
        );
        check(&mut r, &["PEXPIRETIME", "k"], &int(FUTURE_S * 1000 + 7));
        check(&mut r, &["GETEX", "k", "PERSIST"], &bulk("v"));
        check(&mut r, &["TTL", "k"], ":-1\r\n");
        for args in [
            &["GETEX", "k", "FOO"][..],
            &["GETEX", "k", "EX", "10", "PX", "10"],
            &["GETEX", "k", "PERSIST", "EX", "10"],
            &["GETEX", "k", "EX"],
        ] {
            check(&mut r, args, SYNTAX);
        }
        let inv = err("ERR invalid expire time in 'getex' command");
        check(&mut r, &["GETEX", "k", "EX", "0"], &inv);
        check(&mut r, &["GETEX", "k", "PX", "0"], &inv);
        check(&mut r, &["GETEX", "k", "EXAT", "-1"], &inv);
        check(&mut r, &["GETEX", "k", "PX", "abc"], NOT_INT);
        // The failed GETEXs left the key alone.
        check(&mut r, &["GET", "k"], &bulk("v"));
        check(&mut r, &["TTL", "k"], ":-1\r\n");
    });
}

#[test]
fn mget_mset_across_slots() {
    each(|s| {
        let mut con = s.client();
        let mut cmd = redis::cmd("MSET");
        for i in 0..50 {
            cmd.arg(format!("key:{i}")).arg(format!("value-{i}"));
        }
        assert_eq!(cmd.query::<String>(&mut con).unwrap(), "OK");
        // In argument order, with missing keys interleaved as nils.
        let mut mget = redis::cmd("MGET");
        let mut want = Vec::new();
        for i in (0..50).rev() {
            mget.arg(format!("key:{i}"));
            want.push(Some(format!("value-{i}")));
            if i % 5 == 0 {
                mget.arg(format!("missing:{i}"));
                want.push(None);
            }
        }
        let got: Vec<Option<String>> = mget.query(&mut con).unwrap();
        assert_eq!(got, want);
        for i in 0..50 {
            let v: Option<String> = redis::cmd("GET")
                .arg(format!("key:{i}"))
                .query(&mut con)
                .unwrap();
            assert_eq!(v, Some(format!("value-{i}")));
        }
        let mut r = s.raw();
        check(
            &mut r,
            &["MGET", "key:1", "nope", "key:1"],
            &format!("*3\r\n{}{NIL}{}", bulk("value-1"), bulk("value-1")),
        );
        // MSET with a repeated key: the last value wins.
        check(&mut r, &["MSET", "dup", "1", "key:7", "x", "dup", "2"], OK);
        check(
            &mut r,
            &["MGET", "dup", "key:7"],
            &format!("*2\r\n{}{}", bulk("2"), bulk("x")),
        );
        let arity = err("ERR wrong number of arguments for 'mset' command");
        check(&mut r, &["MSET", "a"], &arity);
        check(&mut r, &["MSET", "a", "1", "b"], &arity);
        check_arity(&mut r, &["MGET"]);
        check(&mut r, &["EXISTS", "a", "b"], ":0\r\n");
    });
}

#[test]
fn append_strlen() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["STRLEN", "k"], ":0\r\n");
        check(&mut r, &["APPEND", "k", "abc"], ":3\r\n");
        check(&mut r, &["APPEND", "k", "de"], ":5\r\n");
        check(&mut r, &["APPEND", "k", ""], ":5\r\n");
        check(&mut r, &["GET", "k"], &bulk("abcde"));
        check(&mut r, &["STRLEN", "k"], ":5\r\n");
        // APPEND keeps the TTL.
        check(&mut r, &["SET", "t", "x", "EX", "100"], OK);
        check(&mut r, &["APPEND", "t", "y"], ":2\r\n");
        assert!(int_of(&mut r, &["TTL", "t"]) > 0);
        // An integer value appends as its text.
        check(&mut r, &["SET", "n", "12"], OK);
        check(&mut r, &["APPEND", "n", "3"], ":3\r\n");
        check(&mut r, &["INCR", "n"], ":124\r\n");
        check(&mut r, &["STRLEN", "n"], ":3\r\n");
    });
}

#[test]
fn incr_decr() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["INCR", "n"], ":1\r\n");
        check(&mut r, &["INCRBY", "n", "10"], ":11\r\n");
        check(&mut r, &["DECR", "n"], ":10\r\n");
        check(&mut r, &["DECRBY", "n", "25"], ":-15\r\n");
        check(&mut r, &["INCRBY", "n", "-5"], ":-20\r\n");
        check(&mut r, &["GET", "n"], &bulk("-20"));
        check(&mut r, &["DECR", "fresh"], ":-1\r\n");
        // INCR keeps the TTL.
        check(&mut r, &["SET", "t", "5", "EX", "100"], OK);
        check(&mut r, &["INCR", "t"], ":6\r\n");
        assert!(int_of(&mut r, &["TTL", "t"]) > 0);
        let overflow = err("ERR increment or decrement would overflow");
        check(&mut r, &["SET", "max", "9223372036854775807"], OK);
        check(&mut r, &["INCR", "max"], &overflow);
        check(&mut r, &["INCRBY", "max", "1"], &overflow);
        check(&mut r, &["GET", "max"], &bulk("9223372036854775807"));
        check(&mut r, &["SET", "min", "-9223372036854775808"], OK);
        check(&mut r, &["DECR", "min"], &overflow);
        check(&mut r, &["DECRBY", "min", "1"], &overflow);
        check(&mut r, &["INCRBY", "min", "-1"], &overflow);
        check(&mut r, &["INCRBY", "min", "9223372036854775807"], ":-1\r\n");
        // Negating i64::MIN for DECRBY cannot be done.
        check(
            &mut r,
            &["DECRBY", "min", "-9223372036854775808"],
            &err("ERR decrement would overflow"),
        );
        for v in [
            "abc",
            " 1",
            "1 ",
            "1.5",
            "",
            "9223372036854775808",
            "0x10",
            "+-1",
        ] {
            check(&mut r, &["SET", "s", v], OK);
            check(&mut r, &["INCR", "s"], NOT_INT);
            check(&mut r, &["DECRBY", "s", "1"], NOT_INT);
        }
        check(&mut r, &["INCRBY", "n", "abc"], NOT_INT);
        check(&mut r, &["INCRBY", "n", "9223372036854775808"], NOT_INT);
        check(&mut r, &["DECRBY", "n", "1.0"], NOT_INT);
        check(&mut r, &["GET", "n"], &bulk("-20"));
    });
}

#[test]
fn incrbyfloat() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["INCRBYFLOAT", "f", "3"], &bulk("3"));
        check(&mut r, &["SET", "f", "10.5"], OK);
        check(&mut r, &["INCRBYFLOAT", "f", "0.1"], &bulk("10.6"));
        check(&mut r, &["GET", "f"], &bulk("10.6"));
        check(&mut r, &["SET", "f", "5.0e3"], OK);
        check(&mut r, &["INCRBYFLOAT", "f", "200"], &bulk("5200"));
        check(&mut r, &["SET", "f", "10"], OK);
        check(&mut r, &["INCRBYFLOAT", "f", "1.1"], &bulk("11.1"));
        check(&mut r, &["INCRBYFLOAT", "f", "-5e-1"], &bulk("10.6"));
        check(&mut r, &["SET", "f", "1"], OK);
        check(&mut r, &["INCRBYFLOAT", "f", "-1"], &bulk("0"));
        check(&mut r, &["SET", "f", "3.0"], OK);
        check(&mut r, &["INCRBYFLOAT", "f", "0"], &bulk("3"));
        check(&mut r, &["SET", "f", "1.5"], OK);
        check(&mut r, &["INCRBYFLOAT", "f", "1.5"], &bulk("3"));
        // The result is stored as text, which INCR then accepts.
        check(&mut r, &["INCR", "f"], ":4\r\n");
        let bad = err("ERR value is not a valid float");
        check(&mut r, &["INCRBYFLOAT", "f", "abc"], &bad);
        check(&mut r, &["SET", "s", "abc"], OK);
        check(&mut r, &["INCRBYFLOAT", "s", "1"], &bad);
        check(
            &mut r,
            &["INCRBYFLOAT", "f", "inf"],
            &err("ERR increment would produce NaN or Infinity"),
        );
        check(&mut r, &["GET", "f"], &bulk("4"));
    });
}

/// Redis formats an INCRBYFLOAT result with at most 17 digits after the point ("%.17Lf", then
/// trailing zeros cut), so tiny values round to "0", and that text is what is stored.
#[test]
fn incrbyfloat_rounds_to_17_decimals() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["INCRBYFLOAT", "t1", "1e-18"], &bulk("0"));
        check(&mut r, &["GET", "t1"], &bulk("0"));
        check(&mut r, &["INCRBYFLOAT", "t2", "-1e-18"], &bulk("0"));
        check(
            &mut r,
            &["INCRBYFLOAT", "t3", "1.5e-17"],
            &bulk("0.00000000000000002"),
        );
        check(&mut r, &["SET", "t4", "1e-20"], OK);
        check(&mut r, &["INCRBYFLOAT", "t4", "0"], &bulk("0"));
    });
}

#[test]
fn getrange() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["SET", "s", "This is a string"], OK);
        check(&mut r, &["GETRANGE", "s", "0", "3"], &bulk("This"));
        check(&mut r, &["GETRANGE", "s", "-3", "-1"], &bulk("ing"));
        check(
            &mut r,
            &["GETRANGE", "s", "0", "-1"],
            &bulk("This is a string"),
        );
        check(
            &mut r,
            &["GETRANGE", "s", "-100", "-1"],
            &bulk("This is a string"),
        );
        check(&mut r, &["GETRANGE", "s", "10", "100"], &bulk("string"));
        check(&mut r, &["GETRANGE", "s", "5", "3"], &bulk(""));
        check(&mut r, &["GETRANGE", "s", "100", "200"], &bulk(""));
        check(&mut r, &["GETRANGE", "s", "-1", "-2"], &bulk(""));
        check(&mut r, &["GETRANGE", "nokey", "0", "-1"], &bulk(""));
        check(&mut r, &["GETRANGE", "s", "abc", "1"], NOT_INT);
    });
}

#[test]
fn setrange() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["SET", "k", "Hello World"], OK);
        check(&mut r, &["SETRANGE", "k", "6", "Redis"], ":11\r\n");
        check(&mut r, &["GET", "k"], &bulk("Hello Redis"));
        // Past the end of a missing key: zero bytes pad.
        check(&mut r, &["SETRANGE", "p", "5", "hi"], ":7\r\n");
        assert_eq!(r.call(&["GET", "p"]).as_bytes(), b"$7\r\n\0\0\0\0\0hi\r\n");
        check(&mut r, &["SETRANGE", "k", "13", "!"], ":14\r\n");
        assert_eq!(
            r.call(&["GET", "k"]).as_bytes(),
            b"$14\r\nHello Redis\0\0!\r\n"
        );
        // An empty value does not create a missing key.
        check(&mut r, &["SETRANGE", "e", "0", ""], ":0\r\n");
        check(&mut r, &["SETRANGE", "e", "10", ""], ":0\r\n");
        check(&mut r, &["EXISTS", "e"], ":0\r\n");
        check(&mut r, &["SETRANGE", "k", "0", ""], ":14\r\n");
        check(
            &mut r,
            &["SETRANGE", "k", "-1", "x"],
            &err("ERR offset is out of range"),
        );
        check(&mut r, &["SETRANGE", "k", "abc", "x"], NOT_INT);
        check(
            &mut r,
            &["SETRANGE", "k", "536870912", "x"],
            &err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"),
        );
        check(&mut r, &["STRLEN", "k"], ":14\r\n");
    });
}

#[test]
fn large_and_binary_values() {
    each(|s| {
        let mut con = s.client();
        let big: Vec<u8> = (0..1024 * 1024)
            .map(|i: u32| (i.wrapping_mul(31) % 251) as u8)
            .collect();
        let _: () = redis::cmd("SET")
            .arg("big")
            .arg(&big)
            .query(&mut con)
            .unwrap();
        let got: Vec<u8> = redis::cmd("GET").arg("big").query(&mut con).unwrap();
        assert!(
            got == big,
            "1 MB value did not round-trip (len {})",
            got.len()
        );
        let n: i64 = redis::cmd("STRLEN").arg("big").query(&mut con).unwrap();
        assert_eq!(n, 1024 * 1024);

        let mut r = s.raw();
        let val: &[u8] = b"a\r\nb\0c\r\n$-1\r\n";
        r.send(&resp(&[b"SET", b"bin\0key\r\n", val]));
        assert_eq!(r.reply_string(), OK);
        r.send(&resp(&[b"GET", b"bin\0key\r\n"]));
        let mut want = format!("${}\r\n", val.len()).into_bytes();
        want.extend_from_slice(val);
        want.extend_from_slice(b"\r\n");
        assert_eq!(r.reply(), want);
        r.send(&resp(&[b"STRLEN", b"bin\0key\r\n"]));
        assert_eq!(r.reply_string(), int(val.len() as i64));
        r.send(&resp(&[b"APPEND", b"bin\0key\r\n", b"\0"]));
        assert_eq!(r.reply_string(), int(val.len() as i64 + 1));
        r.send(&resp(&[b"GETRANGE", b"bin\0key\r\n", b"1", b"5"]));
        assert_eq!(r.reply(), b"$5\r\n\r\nb\0c\r\n");
        // Bytes that are not UTF-8 round-trip through the redis crate too.
        let raw_bytes: Vec<u8> = (0..=255u8).collect();
        let _: () = redis::cmd("SET")
            .arg(&raw_bytes[..])
            .arg(&raw_bytes[..])
            .query(&mut con)
            .unwrap();
        let got: Vec<u8> = redis::cmd("GET")
            .arg(&raw_bytes[..])
            .query(&mut con)
            .unwrap();
        assert_eq!(got, raw_bytes);
    });
}

/// LCS builds a table of (len1 + 1) x (len2 + 1) cells: a pair of strings whose table would pass
/// 256 MiB is refused with Redis's error instead of taking the shard's memory, and the shard
/// answers normally afterwards; a large pair under the bound is computed.
#[test]
fn lcs_refuses_a_table_past_its_bound() {
    each(|s| {
        let mut r = s.raw();
        let a = "ab".repeat(5_000);
        let b = "ba".repeat(5_000);
        assert_eq!(r.call(&["SET", "{l}a", &a]), "+OK\r\n");
        assert_eq!(r.call(&["SET", "{l}b", &b]), "+OK\r\n");
        assert_eq!(
            r.call(&["LCS", "{l}a", "{l}b", "LEN"]),
            "-ERR Insufficient memory, transient memory for LCS exceeds available memory\r\n"
        );
        assert_eq!(r.call(&["SET", "{l}c", &"ab".repeat(2_000)]), "+OK\r\n");
        assert_eq!(r.call(&["SET", "{l}d", &"ba".repeat(2_000)]), "+OK\r\n");
        assert_eq!(r.call(&["LCS", "{l}c", "{l}d", "LEN"]), ":3999\r\n");
        assert_eq!(r.call(&["PING"]), "+PONG\r\n");
    });
}
