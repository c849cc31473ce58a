//! Hash commands against the real binary at 1 and 4 shards: every command's replies and errors
//! as Redis 7.0 gives them (checked against redis-server 7.0.15), RESP3's map and pair replies,
//! the packed encoding turning into a table past the limits (CONFIG SET too), WRONGTYPE both
//! ways, HSCAN walking a big hash exactly once, and the generic commands on hashes.

mod common;
use common::*;
use std::collections::{HashMap, HashSet};

const WRONG: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

fn bulk(s: &str) -> String {
    format!("${}\r\n{}\r\n", s.len(), s)
}

fn int(n: i64) -> String {
    format!(":{n}\r\n")
}

fn semantics(s: &Server) {
    let mut r = s.raw();
    check(&mut r, &["HSET", "h", "a", "1", "b", "2"], &int(2));
    check(&mut r, &["HSET", "h", "a", "10", "c", "3"], &int(1));
    check(&mut r, &["HGET", "h", "a"], &bulk("10"));
    check(&mut r, &["HGET", "h", "zz"], "$-1\r\n");
    check(&mut r, &["HGET", "nokey", "a"], "$-1\r\n");
    check(&mut r, &["HMSET", "h", "d", "4"], "+OK\r\n");
    check(&mut r, &["HSETNX", "h", "d", "x"], &int(0));
    check(&mut r, &["HSETNX", "h", "e", "5"], &int(1));
    check(&mut r, &["HLEN", "h"], &int(5));
    check(&mut r, &["HLEN", "nokey"], &int(0));
    check(
        &mut r,
        &["HMGET", "h", "a", "nope", "e"],
        "*3\r\n$2\r\n10\r\n$-1\r\n$1\r\n5\r\n",
    );
    check(&mut r, &["HMGET", "nokey", "a"], "*1\r\n$-1\r\n");
    check(&mut r, &["HEXISTS", "h", "a"], &int(1));
    check(&mut r, &["HEXISTS", "h", "zz"], &int(0));
    check(&mut r, &["HSTRLEN", "h", "a"], &int(2));
    check(&mut r, &["HSTRLEN", "h", "zz"], &int(0));
    check(&mut r, &["HDEL", "h", "a", "a", "zz"], &int(1));
    check(&mut r, &["HDEL", "nokey", "a"], &int(0));
    check(&mut r, &["HKEYS", "nokey"], "*0\r\n");
    check(&mut r, &["HGETALL", "nokey"], "*0\r\n");
    // Insertion order in the packed encoding, as Redis's listpack.
    check(
        &mut r,
        &["HGETALL", "h"],
        "*8\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\ne\r\n$1\r\n5\r\n",
    );
    check(
        &mut r,
        &["HKEYS", "h"],
        "*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n",
    );
    check(
        &mut r,
        &["HVALS", "h"],
        "*4\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n$1\r\n5\r\n",
    );
    // Increments.
    check(&mut r, &["HINCRBY", "h", "b", "5"], &int(7));
    check(&mut r, &["HINCRBY", "h", "new", "-3"], &int(-3));
    check(
        &mut r,
        &["HINCRBY", "h", "b", "x"],
        "-ERR value is not an integer or out of range\r\n",
    );
    check(&mut r, &["HSET", "h", "s", "abc"], &int(1));
    check(
        &mut r,
        &["HINCRBY", "h", "s", "1"],
        "-ERR hash value is not an integer\r\n",
    );
    check(
        &mut r,
        &["HINCRBYFLOAT", "h", "s", "1"],
        "-ERR hash value is not a float\r\n",
    );
    check(
        &mut r,
        &["HINCRBYFLOAT", "h", "s", "x"],
        "-ERR value is not a valid float\r\n",
    );
    check(
        &mut r,
        &["HSET", "h", "big", "9223372036854775807"],
        &int(1),
    );
    check(
        &mut r,
        &["HINCRBY", "h", "big", "1"],
        "-ERR increment or decrement would overflow\r\n",
    );
    check(&mut r, &["HINCRBYFLOAT", "h", "f", "1.5"], &bulk("1.5"));
    check(&mut r, &["HINCRBYFLOAT", "h", "f", "-1.5"], &bulk("0"));
    check(&mut r, &["HINCRBYFLOAT", "h", "f", "0.1"], &bulk("0.1"));
    check(&mut r, &["HINCRBYFLOAT", "h", "f", "0.2"], &bulk("0.3"));
    // Arity and WRONGTYPE, both ways.
    check_arity(&mut r, &["HSET", "h", "a"]);
    check_arity(&mut r, &["HSET", "h", "a", "1", "b"]);
    check_arity(&mut r, &["HMSET", "h", "a"]);
    check_arity(&mut r, &["HGET", "h"]);
    check_arity(&mut r, &["HDEL", "h"]);
    check(&mut r, &["SET", "str", "v"], "+OK\r\n");
    for c in [
        vec!["HSET", "str", "a", "1"],
        vec!["HGET", "str", "a"],
        vec!["HGETALL", "str"],
        vec!["HLEN", "str"],
        vec!["HDEL", "str", "a"],
        vec!["HINCRBY", "str", "a", "1"],
        vec!["HRANDFIELD", "str"],
        vec!["HSCAN", "str", "0"],
    ] {
        check(&mut r, &c, WRONG);
    }
    for c in [
        vec!["GET", "h"],
        vec!["APPEND", "h", "x"],
        vec!["INCR", "h"],
        vec!["STRLEN", "h"],
        vec!["GETRANGE", "h", "0", "1"],
        vec!["SADD", "h", "x"],
    ] {
        check(&mut r, &c, WRONG);
    }
    // The generic commands treat a hash like any key.
    check(&mut r, &["TYPE", "h"], "+hash\r\n");
    check(&mut r, &["OBJECT", "ENCODING", "h"], &bulk("listpack"));
    check(&mut r, &["EXPIRE", "h", "100"], &int(1));
    assert!(int_of(&mut r, &["TTL", "h"]) > 90);
    check(&mut r, &["PERSIST", "h"], &int(1));
    check(&mut r, &["RENAME", "h", "h2"], "+OK\r\n");
    check(&mut r, &["HGET", "h2", "b"], &bulk("7"));
    check(&mut r, &["RENAME", "h2", "{other}h"], "+OK\r\n");
    check(&mut r, &["HGET", "{other}h", "b"], &bulk("7"));
    check(&mut r, &["HLEN", "{other}h"], &int(8));
    check(&mut r, &["SET", "{other}h", "now a string"], "+OK\r\n");
    check(&mut r, &["GET", "{other}h"], &bulk("now a string"));
    check(&mut r, &["HSET", "gone", "f", "v"], &int(1));
    check(&mut r, &["HDEL", "gone", "f"], &int(1));
    check(&mut r, &["EXISTS", "gone"], &int(0));
    // The last field takes the key with it; a string SET over a hash replaces it.
    check(&mut r, &["HSET", "x", "f", "v"], &int(1));
    check(&mut r, &["DEL", "x"], &int(1));
    check(&mut r, &["HGET", "x", "f"], "$-1\r\n");
}

#[test]
fn hash_commands_reply_as_redis() {
    each(semantics);
}

fn resp3(s: &Server) {
    let mut r = s.raw();
    assert!(r.call(&["HELLO", "3"]).starts_with('%'));
    check(&mut r, &["HSET", "h", "a", "1", "b", "2"], &int(2));
    check(
        &mut r,
        &["HGETALL", "h"],
        "%2\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n",
    );
    check(&mut r, &["HGETALL", "nokey"], "%0\r\n");
    check(&mut r, &["HGET", "h", "zz"], "_\r\n");
    check(&mut r, &["HRANDFIELD", "nokey"], "_\r\n");
    check(&mut r, &["HRANDFIELD", "nokey", "2"], "*0\r\n");
    let rep = r.call(&["HRANDFIELD", "h", "2", "WITHVALUES"]);
    assert!(rep.starts_with("*2\r\n*2\r\n$1\r\n"), "{rep:?}");
    assert!(rep.contains("$1\r\na\r\n$1\r\n1\r\n") && rep.contains("$1\r\nb\r\n$1\r\n2\r\n"));
}

#[test]
fn resp3_gets_maps_and_pairs() {
    each(resp3);
}

fn randfield(s: &Server) {
    let mut r = s.raw();
    let mut con = s.client();
    for (name, n) in [("small", 5usize), ("large", 500)] {
        let pairs: Vec<(String, String)> =
            (0..n).map(|i| (format!("f{i}"), format!("v{i}"))).collect();
        let _: () = redis::cmd("HSET")
            .arg(name)
            .arg(&pairs)
            .query(&mut con)
            .unwrap();
        let all: HashMap<String, String> = pairs.iter().cloned().collect();
        // One field, a field of the hash.
        let one: String = redis::cmd("HRANDFIELD").arg(name).query(&mut con).unwrap();
        assert!(all.contains_key(&one));
        // Distinct fields, at most the hash's size.
        for count in [1usize, 3, n, n + 10] {
            let got: Vec<String> = redis::cmd("HRANDFIELD")
                .arg(name)
                .arg(count)
                .query(&mut con)
                .unwrap();
            assert_eq!(got.len(), count.min(n));
            assert_eq!(
                got.iter().collect::<HashSet<_>>().len(),
                got.len(),
                "distinct"
            );
            assert!(got.iter().all(|f| all.contains_key(f)));
        }
        // A negative count repeats: exactly |count| picks, with their values.
        let got: Vec<String> = redis::cmd("HRANDFIELD")
            .arg(name)
            .arg(-20)
            .arg("WITHVALUES")
            .query(&mut con)
            .unwrap();
        assert_eq!(got.len(), 40);
        for p in got.chunks(2) {
            assert_eq!(all[&p[0]], p[1]);
        }
    }
    check(&mut r, &["HRANDFIELD", "small", "0"], "*0\r\n");
    check(
        &mut r,
        &["HRANDFIELD", "small", "x"],
        "-ERR value is not an integer or out of range\r\n",
    );
    check(
        &mut r,
        &["HRANDFIELD", "small", "1", "WITHVALUES", "x"],
        "-ERR syntax error\r\n",
    );
    check(
        &mut r,
        &["HRANDFIELD", "small", "1", "BAD"],
        "-ERR syntax error\r\n",
    );
    check(
        &mut r,
        &["HRANDFIELD", "small", "-9223372036854775807", "WITHVALUES"],
        "-ERR value is out of range\r\n",
    );
    check(
        &mut r,
        &["HRANDFIELD", "small", "-9223372036854775808"],
        "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n",
    );
}

#[test]
fn hrandfield_picks_distinct_or_repeated_fields() {
    each(randfield);
}

fn encodings(s: &Server) {
    let mut r = s.raw();
    for i in 0..512 {
        r.call(&["HSET", "h", &format!("f{i}"), "v"]);
    }
    check(&mut r, &["OBJECT", "ENCODING", "h"], &bulk("listpack"));
    r.call(&["HSET", "h", "f512", "v"]);
    check(&mut r, &["OBJECT", "ENCODING", "h"], &bulk("hashtable"));
    check(&mut r, &["HLEN", "h"], &int(513));
    check(&mut r, &["HSET", "v", "f", &"x".repeat(64)], &int(1));
    check(&mut r, &["OBJECT", "ENCODING", "v"], &bulk("listpack"));
    check(&mut r, &["HSET", "v", "g", &"x".repeat(65)], &int(1));
    check(&mut r, &["OBJECT", "ENCODING", "v"], &bulk("hashtable"));
    check(&mut r, &["HGET", "v", "f"], &bulk(&"x".repeat(64)));
    // CONFIG SET reaches every shard (within a cron cycle on the others).
    check(
        &mut r,
        &["CONFIG", "SET", "hash-max-listpack-entries", "2"],
        "+OK\r\n",
    );
    check(
        &mut r,
        &["CONFIG", "GET", "hash-max-listpack-entries"],
        "*2\r\n$25\r\nhash-max-listpack-entries\r\n$1\r\n2\r\n",
    );
    assert!(eventually(std::time::Duration::from_secs(5), || {
        r.call(&["DEL", "{a}t"]);
        r.call(&["HSET", "{a}t", "1", "1", "2", "2", "3", "3"]);
        r.call(&["OBJECT", "ENCODING", "{a}t"]) == bulk("hashtable")
    }));
    check(
        &mut r,
        &["CONFIG", "SET", "hash-max-listpack-entries", "512"],
        "+OK\r\n",
    );
    check(&mut r, &["OBJECT", "ENCODING", "nokey"], "$-1\r\n");
}

#[test]
fn packed_hashes_become_tables_past_the_limits() {
    each(encodings);
}

fn hscan(s: &Server) {
    let mut con = s.client();
    let mut r = s.raw();
    let n = 3000;
    let pairs: Vec<(String, String)> = (0..n)
        .map(|i| (format!("field:{i}"), format!("{i}")))
        .collect();
    let _: () = redis::cmd("HSET")
        .arg("big")
        .arg(&pairs)
        .query(&mut con)
        .unwrap();
    let mut seen = HashMap::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let (next, items): (String, Vec<String>) = redis::cmd("HSCAN")
            .arg("big")
            .arg(&cursor)
            .arg("COUNT")
            .arg(100)
            .query(&mut con)
            .unwrap();
        for p in items.chunks(2) {
            assert!(
                seen.insert(p[0].clone(), p[1].clone()).is_none(),
                "{} twice",
                p[0]
            );
        }
        calls += 1;
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), n);
    assert!(calls > 10, "COUNT is honoured: {calls} calls");
    let (_, items): (String, Vec<String>) = redis::cmd("HSCAN")
        .arg("big")
        .arg(0)
        .arg("MATCH")
        .arg("field:1?")
        .arg("COUNT")
        .arg(10000)
        .query(&mut con)
        .unwrap();
    assert_eq!(items.len(), 20);
    check(&mut r, &["HSCAN", "big", "x"], "-ERR invalid cursor\r\n");
    check(
        &mut r,
        &["HSCAN", "big", "0", "COUNT", "0"],
        "-ERR syntax error\r\n",
    );
    check(
        &mut r,
        &["HSCAN", "big", "0", "MATCH"],
        "-ERR syntax error\r\n",
    );
    check(&mut r, &["HSCAN", "nokey", "0"], "*2\r\n$1\r\n0\r\n*0\r\n");
    check(&mut r, &["HSET", "small", "a", "1"], &int(1));
    check(
        &mut r,
        &["HSCAN", "small", "0"],
        "*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n",
    );
}

#[test]
fn hscan_walks_a_big_hash_once() {
    each(hscan);
}
