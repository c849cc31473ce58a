//! Set commands against the real binary at 1 and 4 shards: replies and errors as Redis 7.0
//! gives them (checked against redis-server 7.0.15), RESP3 sets, the intset / packed / table
//! encodings, the multi-key commands with keys on different shards (gathered at the origin),
//! and SMOVE and the STORE forms proven atomic across shards under concurrent readers.

mod common;
use common::*;
use std::collections::HashSet;
use std::time::{Duration, Instant};

const WRONG: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

fn bulk(s: &str) -> String {
    format!("${}\r\n{}\r\n", s.len(), s)
}

fn int(n: i64) -> String {
    format!(":{n}\r\n")
}

/// A set reply's members, sorted (sets have no order).
fn members(con: &mut redis::Connection, args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = redis::cmd(args[0]).arg(&args[1..]).query(con).unwrap();
    v.sort();
    v
}

fn strs(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn semantics(s: &Server) {
    let mut r = s.raw();
    let mut con = s.client();
    check(&mut r, &["SADD", "s", "1", "2", "3", "2"], &int(3));
    check(&mut r, &["OBJECT", "ENCODING", "s"], &bulk("intset"));
    check(&mut r, &["SADD", "s", "x"], &int(1));
    check(&mut r, &["OBJECT", "ENCODING", "s"], &bulk("listpack"));
    check(&mut r, &["SISMEMBER", "s", "x"], &int(1));
    check(&mut r, &["SISMEMBER", "s", "y"], &int(0));
    check(&mut r, &["SISMEMBER", "nokey", "y"], &int(0));
    check(
        &mut r,
        &["SMISMEMBER", "s", "1", "9", "x"],
        "*3\r\n:1\r\n:0\r\n:1\r\n",
    );
    check(&mut r, &["SMISMEMBER", "nokey", "1"], "*1\r\n:0\r\n");
    check(&mut r, &["SCARD", "s"], &int(4));
    check(&mut r, &["SCARD", "nokey"], &int(0));
    assert_eq!(
        members(&mut con, &["SMEMBERS", "s"]),
        strs(&["1", "2", "3", "x"])
    );
    check(&mut r, &["SMEMBERS", "nokey"], "*0\r\n");
    check(&mut r, &["SREM", "s", "1", "1", "nope"], &int(1));
    check(&mut r, &["SREM", "nokey", "1"], &int(0));
    // Intset members are canonical integers only.
    check(
        &mut r,
        &["SADD", "i", "1", "-5", "70000", "9223372036854775807"],
        &int(4),
    );
    check(&mut r, &["OBJECT", "ENCODING", "i"], &bulk("intset"));
    check(&mut r, &["SISMEMBER", "i", "01"], &int(0));
    check(&mut r, &["SISMEMBER", "i", "-5"], &int(1));
    check(&mut r, &["SADD", "i", "01"], &int(1));
    check(&mut r, &["OBJECT", "ENCODING", "i"], &bulk("listpack"));
    check(&mut r, &["SISMEMBER", "i", "1"], &int(1));
    check(&mut r, &["SISMEMBER", "i", "01"], &int(1));
    // SPOP / SRANDMEMBER.
    check(&mut r, &["SPOP", "nokey"], "$-1\r\n");
    check(&mut r, &["SPOP", "nokey", "2"], "*0\r\n");
    check(
        &mut r,
        &["SPOP", "s", "-1"],
        "-ERR value is out of range, must be positive\r\n",
    );
    check(
        &mut r,
        &["SPOP", "s", "x"],
        "-ERR value is out of range, must be positive\r\n",
    );
    check(&mut r, &["SPOP", "s", "1", "2"], "-ERR syntax error\r\n");
    check(&mut r, &["SRANDMEMBER", "nokey"], "$-1\r\n");
    check(&mut r, &["SRANDMEMBER", "nokey", "3"], "*0\r\n");
    check(&mut r, &["SRANDMEMBER", "s", "0"], "*0\r\n");
    check(
        &mut r,
        &["SRANDMEMBER", "s", "x"],
        "-ERR value is not an integer or out of range\r\n",
    );
    let all: HashSet<String> = ["2", "3", "x"].iter().map(|s| s.to_string()).collect();
    let got: Vec<String> = redis::cmd("SRANDMEMBER")
        .arg("s")
        .arg(-10)
        .query(&mut con)
        .unwrap();
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|m| all.contains(m)));
    let got: Vec<String> = redis::cmd("SRANDMEMBER")
        .arg("s")
        .arg(10)
        .query(&mut con)
        .unwrap();
    assert_eq!(got.iter().cloned().collect::<HashSet<_>>(), all);
    let popped: Vec<String> = redis::cmd("SPOP").arg("s").arg(2).query(&mut con).unwrap();
    assert_eq!(popped.len(), 2);
    assert!(popped.iter().all(|m| all.contains(m)));
    let last: String = redis::cmd("SPOP").arg("s").query(&mut con).unwrap();
    assert!(all.contains(&last) && !popped.contains(&last));
    check(&mut r, &["EXISTS", "s"], &int(0));
    // WRONGTYPE both ways and arity.
    check(&mut r, &["SET", "str", "v"], "+OK\r\n");
    for c in [
        vec!["SADD", "str", "a"],
        vec!["SREM", "str", "a"],
        vec!["SISMEMBER", "str", "a"],
        vec!["SMEMBERS", "str"],
        vec!["SCARD", "str"],
        vec!["SPOP", "str"],
        vec!["SINTER", "str", "i"],
        vec!["SUNION", "i", "str"],
        vec!["SDIFF", "nokey", "str"],
        vec!["SINTERCARD", "2", "i", "str"],
        vec!["SMOVE", "str", "i", "a"],
        vec!["SMOVE", "i", "str", "1"],
    ] {
        check(&mut r, &c, WRONG);
    }
    check(&mut r, &["GET", "i"], WRONG);
    check(&mut r, &["HSET", "i", "a", "b"], WRONG);
    check_arity(&mut r, &["SADD", "s"]);
    check_arity(&mut r, &["SINTER"]);
    check_arity(&mut r, &["SMOVE", "a", "b"]);
    check(&mut r, &["TYPE", "i"], "+set\r\n");
}

#[test]
fn set_commands_reply_as_redis() {
    each(semantics);
}

/// Keys spread over every shard of a 4-shard server (and on the one shard of a 1-shard one).
fn algebra(s: &Server) {
    let mut r = s.raw();
    let mut con = s.client();
    check(&mut r, &["SADD", "a", "1", "2", "3", "x"], &int(4));
    check(&mut r, &["SADD", "b", "2", "3", "4", "x"], &int(4));
    check(&mut r, &["SADD", "c", "3", "x", "y"], &int(3));
    check(&mut r, &["SET", "str", "v"], "+OK\r\n");
    assert_eq!(
        members(&mut con, &["SINTER", "a", "b", "c"]),
        strs(&["3", "x"])
    );
    assert_eq!(members(&mut con, &["SINTER", "a", "nokey"]), strs(&[]));
    assert_eq!(
        members(&mut con, &["SUNION", "a", "b", "c", "nokey"]),
        strs(&["1", "2", "3", "4", "x", "y"])
    );
    assert_eq!(
        members(&mut con, &["SDIFF", "a", "b", "nokey"]),
        strs(&["1"])
    );
    assert_eq!(members(&mut con, &["SDIFF", "nokey", "a"]), strs(&[]));
    check(&mut r, &["SINTERCARD", "3", "a", "b", "c"], &int(2));
    check(
        &mut r,
        &["SINTERCARD", "3", "a", "b", "c", "LIMIT", "1"],
        &int(1),
    );
    check(
        &mut r,
        &["SINTERCARD", "2", "a", "b", "LIMIT", "0"],
        &int(3),
    );
    check(
        &mut r,
        &["SINTERCARD", "0", "a"],
        "-ERR numkeys should be greater than 0\r\n",
    );
    check(
        &mut r,
        &["SINTERCARD", "x", "a"],
        "-ERR numkeys should be greater than 0\r\n",
    );
    check(
        &mut r,
        &["SINTERCARD", "3", "a", "b"],
        "-ERR Number of keys can't be greater than number of args\r\n",
    );
    check(
        &mut r,
        &["SINTERCARD", "1", "a", "LIMIT", "-1"],
        "-ERR LIMIT can't be negative\r\n",
    );
    check(
        &mut r,
        &["SINTERCARD", "1", "a", "LIMIT"],
        "-ERR syntax error\r\n",
    );
    check(
        &mut r,
        &["SINTERCARD", "1", "a", "FOO", "1"],
        "-ERR syntax error\r\n",
    );
    // STORE forms: the destination may be of any type; an empty result deletes it.
    check(&mut r, &["SINTERSTORE", "d", "a", "b"], &int(3));
    assert_eq!(
        members(&mut con, &["SMEMBERS", "d"]),
        strs(&["2", "3", "x"])
    );
    check(&mut r, &["SUNIONSTORE", "str", "a", "c"], &int(5));
    check(&mut r, &["TYPE", "str"], "+set\r\n");
    check(&mut r, &["SDIFFSTORE", "d", "a", "a"], &int(0));
    check(&mut r, &["EXISTS", "d"], &int(0));
    check(&mut r, &["SINTERSTORE", "d", "a", "str"], &int(4));
    check(&mut r, &["SET", "plain", "v"], "+OK\r\n");
    check(&mut r, &["SINTERSTORE", "d", "a", "plain"], WRONG);
    check(&mut r, &["SCARD", "d"], &int(4));
    // SMOVE with Redis's order of checks.
    check(&mut r, &["SMOVE", "nokey", "plain", "1"], &int(0));
    check(&mut r, &["SMOVE", "a", "c", "1"], &int(1));
    check(&mut r, &["SMOVE", "a", "c", "1"], &int(0));
    check(&mut r, &["SISMEMBER", "c", "1"], &int(1));
    check(&mut r, &["SMOVE", "a", "a", "2"], &int(1));
    check(&mut r, &["SMOVE", "a", "a", "zz"], &int(0));
    check(&mut r, &["SMOVE", "c", "fresh", "y"], &int(1));
    check(&mut r, &["SMEMBERS", "fresh"], "*1\r\n$1\r\ny\r\n");
    // The last member moved takes the source key with it.
    check(&mut r, &["SMOVE", "fresh", "c", "y"], &int(1));
    check(&mut r, &["EXISTS", "fresh"], &int(0));
    // RESP3: the algebra answers sets.
    let mut r3 = s.raw();
    assert!(r3.call(&["HELLO", "3"]).starts_with('%'));
    check(&mut r3, &["SINTER", "a", "nokey"], "~0\r\n");
    check(&mut r3, &["SMEMBERS", "nokey"], "~0\r\n");
    check(&mut r3, &["SPOP", "nokey", "1"], "~0\r\n");
    check(&mut r3, &["SRANDMEMBER", "nokey", "1"], "*0\r\n");
    assert!(r3.call(&["SUNION", "a", "b"]).starts_with("~4\r\n"));
}

#[test]
fn multi_key_set_commands_work_across_shards() {
    each(algebra);
}

/// Torn results would show: two sets on different shards hold N members between them while
/// writers move members back and forth with SMOVE; every SUNION / SINTER / SINTERCARD and
/// every SUNIONSTORE copy taken meanwhile must see exactly N members, none in both sets.
#[test]
fn smove_and_the_store_forms_are_atomic_across_shards() {
    let s = Server::start(4);
    let mut setup = s.raw();
    // "left" and "right" live on different shards of 4.
    let (left, right) = ("left", "right");
    assert_ne!(
        corekv::shard::slot::key_shard(left.as_bytes(), 4),
        corekv::shard::slot::key_shard(right.as_bytes(), 4)
    );
    let n = 200;
    let all: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    let mut args = vec!["SADD", left];
    args.extend(all.iter().map(String::as_str));
    check(&mut setup, &args, &int(n as i64));
    let deadline = Instant::now() + Duration::from_secs(3);
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let port = s.port;
            let all = all.clone();
            std::thread::spawn(move || {
                let mut r = Raw::connect(port);
                let mut i = w;
                let mut moved = 0;
                while Instant::now() < deadline {
                    let m = &all[i % all.len()];
                    let (a, b) = if i % 3 == 0 {
                        (right, left)
                    } else {
                        (left, right)
                    };
                    let rep = r.call(&["SMOVE", a, b, m]);
                    assert!(rep == ":1\r\n" || rep == ":0\r\n", "{rep}");
                    moved += (rep == ":1\r\n") as u32;
                    i += 7;
                }
                moved
            })
        })
        .collect();
    let mut con = s.client();
    let mut reads = 0;
    while Instant::now() < deadline {
        let union: Vec<String> = redis::cmd("SUNION")
            .arg(left)
            .arg(right)
            .query(&mut con)
            .unwrap();
        assert_eq!(union.len(), n, "a torn SUNION");
        let inter: Vec<String> = redis::cmd("SINTER")
            .arg(left)
            .arg(right)
            .query(&mut con)
            .unwrap();
        assert!(inter.is_empty(), "a member in both sets: {inter:?}");
        let card: i64 = redis::cmd("SINTERCARD")
            .arg(2)
            .arg(left)
            .arg(right)
            .query(&mut con)
            .unwrap();
        assert_eq!(card, 0);
        let stored: i64 = redis::cmd("SUNIONSTORE")
            .arg("copy")
            .arg(left)
            .arg(right)
            .query(&mut con)
            .unwrap();
        assert_eq!(stored, n as i64, "a torn SUNIONSTORE");
        let (l, r): (i64, i64) = redis::pipe()
            .atomic()
            .cmd("SCARD")
            .arg(left)
            .cmd("SCARD")
            .arg(right)
            .query(&mut con)
            .unwrap();
        assert_eq!(l + r, n as i64, "a torn MULTI");
        reads += 1;
    }
    let moved: u32 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(moved > 10 && reads > 10, "moved {moved}, reads {reads}");
    let copy = members(&mut con, &["SMEMBERS", "copy"]);
    let mut want = all.clone();
    want.sort();
    assert_eq!(copy, want);
}

fn big_sets(s: &Server) {
    let mut con = s.client();
    let n = 5000;
    let m: Vec<String> = (0..n).map(|i| format!("member:{i}")).collect();
    let added: i64 = redis::cmd("SADD")
        .arg("big")
        .arg(&m)
        .query(&mut con)
        .unwrap();
    assert_eq!(added, n as i64);
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg("big")
        .query(&mut con)
        .unwrap();
    assert_eq!(enc, "hashtable");
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    loop {
        let (next, items): (String, Vec<String>) = redis::cmd("SSCAN")
            .arg("big")
            .arg(&cursor)
            .arg("COUNT")
            .arg(200)
            .query(&mut con)
            .unwrap();
        for x in items {
            assert!(seen.insert(x), "SSCAN returned a member twice");
        }
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), n);
    let (_, items): (String, Vec<String>) = redis::cmd("SSCAN")
        .arg("big")
        .arg(0)
        .arg("MATCH")
        .arg("member:12?")
        .arg("COUNT")
        .arg(100_000)
        .query(&mut con)
        .unwrap();
    assert_eq!(items.len(), 10);
    // Popping everything empties the set through random picks of the table.
    let mut popped = HashSet::new();
    for _ in 0..n / 500 {
        let p: Vec<String> = redis::cmd("SPOP")
            .arg("big")
            .arg(500)
            .query(&mut con)
            .unwrap();
        assert_eq!(p.len(), 500);
        popped.extend(p);
    }
    assert_eq!(popped.len(), n);
    let exists: i64 = redis::cmd("EXISTS").arg("big").query(&mut con).unwrap();
    assert_eq!(exists, 0);
    // Intsets grow wide and then into a table past set-max-intset-entries.
    let ints: Vec<i64> = (0..600).map(|i| i * 1_000_000_007).collect();
    let _: i64 = redis::cmd("SADD")
        .arg("ints")
        .arg(&ints[..512])
        .query(&mut con)
        .unwrap();
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg("ints")
        .query(&mut con)
        .unwrap();
    assert_eq!(enc, "intset");
    let _: i64 = redis::cmd("SADD")
        .arg("ints")
        .arg(&ints[512..])
        .query(&mut con)
        .unwrap();
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg("ints")
        .query(&mut con)
        .unwrap();
    assert_eq!(enc, "hashtable");
    let card: i64 = redis::cmd("SCARD").arg("ints").query(&mut con).unwrap();
    assert_eq!(card, 600);
    let is: i64 = redis::cmd("SISMEMBER")
        .arg("ints")
        .arg(ints[599])
        .query(&mut con)
        .unwrap();
    assert_eq!(is, 1);
}

#[test]
fn big_sets_scan_once_and_pop_empty() {
    each(big_sets);
}

fn lazyfree_pending(r: &mut Raw) -> i64 {
    let info = r.call(&["INFO", "memory"]);
    let line = info
        .lines()
        .find(|l| l.starts_with("lazyfree_pending_objects:"))
        .unwrap();
    line["lazyfree_pending_objects:".len()..]
        .trim()
        .parse()
        .unwrap()
}

/// UNLINK of a million-member set frees it in steps (the shard answers in between; the worst
/// PING is printed, not asserted); DEL with `lazyfree-lazy-user-del no` frees it at once.
#[test]
fn a_large_set_is_freed_in_steps() {
    let s = Server::start(1);
    let mut r = s.raw();
    let batch = 10_000;
    let fill = |r: &mut Raw| {
        for b in 0..100 {
            let mut args: Vec<String> = vec!["SADD".into(), "huge".into()];
            args.extend((0..batch).map(|i| format!("member-{}", b * batch + i)));
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            r.send(&cmd(&a));
        }
        for _ in 0..100 {
            assert_eq!(r.reply_string(), int(batch as i64));
        }
    };
    fill(&mut r);
    check(&mut r, &["SCARD", "huge"], &int(1_000_000));
    // UNLINK and INFO in one batch: INFO runs before any background step.
    let mut both = cmd(&["UNLINK", "huge"]);
    both.extend(cmd(&["INFO", "memory"]));
    r.send(&both);
    assert_eq!(r.reply_string(), int(1));
    let info = r.reply_string();
    assert!(
        info.contains("lazyfree_pending_objects:1000000\r\n"),
        "{info}"
    );
    let mut worst = Duration::ZERO;
    let start = Instant::now();
    while lazyfree_pending(&mut r) > 0 {
        let t = Instant::now();
        check(&mut r, &["PING"], "+PONG\r\n");
        worst = worst.max(t.elapsed());
        assert!(start.elapsed() < Duration::from_secs(30), "never freed");
    }
    eprintln!("worst PING while freeing a million members: {worst:?}");
    check(&mut r, &["EXISTS", "huge"], &int(0));
    fill(&mut r);
    check(&mut r, &["DEL", "huge"], &int(1));
    assert_eq!(
        lazyfree_pending(&mut r),
        0,
        "DEL frees at once with lazyfree-lazy-user-del no"
    );
    check(
        &mut r,
        &["CONFIG", "SET", "lazyfree-lazy-user-del", "yes"],
        "+OK\r\n",
    );
    fill(&mut r);
    let mut both = cmd(&["DEL", "huge"]);
    both.extend(cmd(&["INFO", "memory"]));
    r.send(&both);
    assert_eq!(r.reply_string(), int(1));
    assert!(r
        .reply_string()
        .contains("lazyfree_pending_objects:1000000\r\n"));
}
