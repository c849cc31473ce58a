//! Hashes and sets survive restarts: the append-only log replays every hash and set write (and
//! records one-field changes as one-field records, never the whole value), a corekv snapshot
//! with every encoding passes redis-check-rdb and loads into redis-server, and a dump.rdb that
//! redis-server 7.0 wrote with its encodings (listpack, hashtable, intset) loads into corekv.

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

/// Everything a key holds, in a comparable form: type, sorted contents, whether it has a TTL.
fn state(con: &mut redis::Connection, key: &str) -> String {
    let t: String = redis::cmd("TYPE").arg(key).query(con).unwrap();
    let ttl: i64 = redis::cmd("TTL").arg(key).query(con).unwrap();
    let body = match t.as_str() {
        "hash" => {
            let mut v: Vec<(String, String)> = redis::cmd("HGETALL").arg(key).query(con).unwrap();
            v.sort();
            format!("{v:?}")
        }
        "set" => {
            let mut v: Vec<String> = redis::cmd("SMEMBERS").arg(key).query(con).unwrap();
            v.sort();
            format!("{v:?}")
        }
        "string" => redis::cmd("GET").arg(key).query::<String>(con).unwrap(),
        _ => String::new(),
    };
    format!("{t} ttl={} {body}", ttl > 0)
}

const KEYS: &[&str] = &[
    "h:small",
    "h:big",
    "h:long",
    "h:ttl",
    "h:renamed",
    "h:gone",
    "s:ints",
    "s:wide",
    "s:pack",
    "s:big",
    "s:moved",
    "s:stored",
    "s:popped",
    "plain",
];

/// Hash and set writes of every kind, over keys that spread across shards.
fn write_everything(r: &mut Raw) {
    let mut big = vec!["HSET".to_string(), "h:big".into()];
    for i in 0..600 {
        big.push(format!("f{i}"));
        big.push(format!("v{i}"));
    }
    let big: Vec<&str> = big.iter().map(String::as_str).collect();
    for c in [
        vec!["HSET", "h:small", "a", "1", "b", "2", "c", "3"],
        vec!["HDEL", "h:small", "b"],
        vec!["HINCRBY", "h:small", "a", "41"],
        vec!["HINCRBYFLOAT", "h:small", "f", "2.5"],
        vec!["HSETNX", "h:small", "n", "new"],
        vec!["HMSET", "h:long", "k", &"x".repeat(100)],
        vec!["HSET", "h:ttl", "a", "1"],
        vec!["EXPIRE", "h:ttl", "1000"],
        vec!["HSET", "h:tmp", "a", "1"],
        vec!["RENAME", "h:tmp", "h:renamed"],
        vec!["HSET", "h:gone", "a", "1"],
        vec!["HDEL", "h:gone", "a"],
        vec!["SADD", "s:ints", "1", "2", "3", "-4"],
        vec!["SREM", "s:ints", "2"],
        vec!["SADD", "s:wide", "1", "9223372036854775807"],
        vec!["SADD", "s:pack", "a", "b", "c"],
        vec!["SADD", "s:popped", "p1", "p2", "p3", "p4"],
        vec!["SPOP", "s:popped", "2"],
        vec!["SADD", "s:moved", "m"],
        vec!["SMOVE", "s:pack", "s:moved", "a"],
        vec!["SINTERSTORE", "s:stored", "s:moved", "s:pack"],
        vec!["SUNIONSTORE", "s:stored", "s:moved", "s:pack", "s:ints"],
        vec!["SET", "plain", "v"],
    ] {
        let rep = r.call(&c);
        assert!(!rep.starts_with('-'), "{c:?}: {rep}");
    }
    assert_eq!(r.call(&big), ":600\r\n");
    let mut s = vec!["SADD".to_string(), "s:big".into()];
    s.extend((0..700).map(|i| format!("member{i}")));
    let s: Vec<&str> = s.iter().map(String::as_str).collect();
    assert_eq!(r.call(&s), ":700\r\n");
    assert_eq!(r.call(&["SREM", "s:big", "member3"]), ":1\r\n");
}

fn states(s: &Server) -> Vec<String> {
    let mut con = s.client();
    KEYS.iter().map(|k| state(&mut con, k)).collect()
}

fn log_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".aof"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn the_log_replays_every_hash_and_set_write() {
    for shards in SHARD_COUNTS {
        let dir = temp_dir(&format!("types-aof-{shards}"));
        let args = [
            "--appendonly",
            "yes",
            "--dir",
            dir.to_str().unwrap(),
            "--appendfsync",
            "always",
        ];
        let s = Server::start_with(shards, &args);
        let mut r = s.raw();
        write_everything(&mut r);
        // A one-field change to a 600-field hash logs one field, not the hash.
        let before = log_bytes(&dir);
        for i in 0..10 {
            assert_eq!(
                r.call(&["HSET", "h:big", "f1", &format!("changed{i}")]),
                ":0\r\n"
            );
        }
        assert_eq!(r.call(&["SADD", "s:big", "one-more"]), ":1\r\n");
        let grown = log_bytes(&dir) - before;
        assert!(grown < 600, "11 small writes grew the log by {grown} bytes");
        let want = states(&s);
        drop(r);
        s.stop();
        let s = Server::start_with(shards, &args);
        assert_eq!(states(&s), want, "after replay at {shards} shards");
        let mut r = s.raw();
        assert_eq!(r.call(&["HGET", "h:big", "f1"]), "$8\r\nchanged9\r\n");
        assert_eq!(
            r.call(&["OBJECT", "ENCODING", "h:big"]),
            "$9\r\nhashtable\r\n"
        );
        assert_eq!(
            r.call(&["OBJECT", "ENCODING", "s:ints"]),
            "$6\r\nintset\r\n"
        );
    }
}

fn start_redis(dir: &std::path::Path) -> (std::process::Child, Raw, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--dir",
            dir.to_str().unwrap(),
        ])
        .args([
            "--dbfilename",
            "dump.rdb",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    let mut r = Raw::connect(port);
    assert!(eventually(Duration::from_secs(10), || r.call(&["PING"]) == "+PONG\r\n"));
    (child, r, port)
}

#[test]
fn snapshots_of_hashes_and_sets_move_between_corekv_and_redis() {
    if !have_tool("redis-server") || !have_tool("redis-check-rdb") {
        return;
    }
    let dir = temp_dir("types-rdb");
    let s = Server::start_with(4, &["--dir", dir.to_str().unwrap()]);
    let mut r = s.raw();
    write_everything(&mut r);
    let want = states(&s);
    assert_eq!(r.call(&["SAVE"]), "+OK\r\n");
    drop(r);
    s.stop();
    let checked = Command::new("redis-check-rdb")
        .arg(dir.join("dump.rdb"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success() && text.contains("RDB looks OK"),
        "{text}"
    );
    // redis-server loads corekv's file: the same keys and contents.
    let (mut redis, mut rr, port) = start_redis(&dir);
    let mut con = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let got: Vec<String> = KEYS.iter().map(|k| state(&mut con, k)).collect();
    assert_eq!(got, want, "redis-server's view of corekv's snapshot");
    // Redis chose its own encodings on load.
    assert_eq!(
        rr.call(&["OBJECT", "ENCODING", "h:small"]),
        "$8\r\nlistpack\r\n"
    );
    assert_eq!(
        rr.call(&["OBJECT", "ENCODING", "s:ints"]),
        "$6\r\nintset\r\n"
    );
    assert_eq!(
        rr.call(&["OBJECT", "ENCODING", "s:big"]),
        "$9\r\nhashtable\r\n"
    );
    // And redis-server's own dump (listpack and hashtable hashes, intset and hashtable sets)
    // loads into corekv over 4 shards.
    assert_eq!(
        rr.call(&["HSET", "r:lp", "a", "1", "b", "-20000", "c", "text"]),
        ":3\r\n"
    );
    let mut args = vec!["HSET".to_string(), "r:ht".into()];
    for i in 0..1000 {
        args.push(format!("f{i}"));
        args.push(format!("{}", i * 1000));
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(rr.call(&a), ":1000\r\n");
    assert_eq!(
        rr.call(&["SADD", "r:is", "1", "70000", "-5000000000"]),
        ":3\r\n"
    );
    assert_eq!(rr.call(&["SADD", "r:hs", "x", "y", "z"]), ":3\r\n");
    assert_eq!(
        rr.call(&["OBJECT", "ENCODING", "r:lp"]),
        "$8\r\nlistpack\r\n"
    );
    assert_eq!(rr.call(&["OBJECT", "ENCODING", "r:is"]), "$6\r\nintset\r\n");
    let redis_keys = ["r:lp", "r:ht", "r:is", "r:hs", "h:small", "s:big"];
    let from_redis: Vec<String> = redis_keys.iter().map(|k| state(&mut con, k)).collect();
    assert_eq!(rr.call(&["SAVE"]), "+OK\r\n");
    rr.send(&cmd(&["SHUTDOWN", "NOSAVE"]));
    let _ = redis.wait();
    let s = Server::start_with(4, &["--dir", dir.to_str().unwrap()]);
    let mut con = s.client();
    let got: Vec<String> = redis_keys.iter().map(|k| state(&mut con, k)).collect();
    assert_eq!(got, from_redis, "corekv's view of redis-server's dump");
    let mut r = s.raw();
    assert_eq!(
        r.call(&["OBJECT", "ENCODING", "r:ht"]),
        "$9\r\nhashtable\r\n"
    );
    assert_eq!(r.call(&["OBJECT", "ENCODING", "r:is"]), "$6\r\nintset\r\n");
    assert_eq!(r.call(&["HGET", "r:lp", "b"]), "$6\r\n-20000\r\n");
}

/// Migration tools copy keys with DUMP + RESTORE: every type moves from redis-server to corekv
/// and back, whatever encoding Redis serialized it in (listpack, intset, hashtable, strings
/// with integer or LZF encodings), with TTLs; COPY works within and across shards.
#[test]
fn dump_and_restore_move_keys_between_redis_and_corekv() {
    if !have_tool("redis-server") {
        return;
    }
    let redis = RedisServer::start();
    let mut rr = Raw::connect(redis.port);
    let mut rcon = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let long = "abcdefghij".repeat(50);
    let mut big_hash = vec!["HSET".to_string(), "big".into()];
    for i in 0..600 {
        big_hash.push(format!("f{i}"));
        big_hash.push(format!("{i}"));
    }
    let big_hash: Vec<&str> = big_hash.iter().map(String::as_str).collect();
    for c in [
        vec!["SET", "str", "hello"],
        vec!["SET", "num", "12345"],
        vec!["SET", "long", &long],
        vec!["HSET", "lp", "a", "1", "b", "text"],
        vec!["SADD", "is", "1", "2", "-70000"],
        vec!["SADD", "hs", "x", "y"],
        vec!["PEXPIRE", "hs", "100000"],
    ] {
        assert!(!rr.call(&c).starts_with('-'), "{c:?}");
    }
    rr.call(&big_hash);
    let keys = ["str", "num", "long", "lp", "is", "hs", "big"];
    for shards in SHARD_COUNTS {
        let s = Server::start(shards);
        let mut con = s.client();
        for k in keys {
            let payload: Vec<u8> = redis::cmd("DUMP").arg(k).query(&mut rcon).unwrap();
            let pttl: i64 = redis::cmd("PTTL").arg(k).query(&mut rcon).unwrap();
            let ttl = pttl.max(0);
            let _: () = redis::cmd("RESTORE")
                .arg(k)
                .arg(ttl)
                .arg(&payload)
                .query(&mut con)
                .unwrap();
            assert_eq!(state(&mut con, k), state(&mut rcon, k), "{k} into corekv");
            // Back: corekv's payload restores in redis-server under another name.
            let back: Vec<u8> = redis::cmd("DUMP").arg(k).query(&mut con).unwrap();
            let name = format!("{k}:back{shards}");
            let _: () = redis::cmd("RESTORE")
                .arg(&name)
                .arg(ttl)
                .arg(&back)
                .query(&mut rcon)
                .unwrap();
            assert_eq!(
                state(&mut rcon, &name),
                state(&mut rcon, k),
                "{k} back into redis"
            );
        }
        let mut r = s.raw();
        assert_eq!(
            r.call(&["RESTORE", "str", "0", "x"]),
            "-BUSYKEY Target key name already exists.\r\n"
        );
        assert_eq!(
            r.call(&["RESTORE", "new", "0", "garbage"]),
            "-ERR DUMP payload version or checksum are wrong\r\n"
        );
        assert_eq!(
            r.call(&["RESTORE", "new", "-1", "x"]),
            "-ERR Invalid TTL value, must be >= 0\r\n"
        );
        // COPY within a shard and across shards (a hash tag pins one pair together).
        assert_eq!(r.call(&["COPY", "lp", "{lp}copy"]), ":1\r\n");
        assert_eq!(r.call(&["COPY", "lp", "{lp}copy"]), ":0\r\n");
        assert_eq!(r.call(&["COPY", "big", "big2"]), ":1\r\n");
        assert_eq!(r.call(&["COPY", "hs", "hs2", "REPLACE"]), ":1\r\n");
        assert_eq!(r.call(&["COPY", "nokey", "x"]), ":0\r\n");
        assert_eq!(
            r.call(&["COPY", "lp", "lp"]),
            "-ERR source and destination objects are the same\r\n"
        );
        assert_eq!(
            r.call(&["COPY", "lp", "x", "DB", "1"]),
            "-ERR DB index is out of range\r\n"
        );
        assert_eq!(state(&mut con, "{lp}copy"), state(&mut con, "lp"));
        assert_eq!(state(&mut con, "big2"), state(&mut con, "big"));
        assert_eq!(state(&mut con, "hs2"), state(&mut con, "hs"));
        // The copy is its own value.
        assert_eq!(r.call(&["HSET", "big2", "f0", "changed"]), ":0\r\n");
        assert_eq!(r.call(&["HGET", "big", "f0"]), "$1\r\n0\r\n");
    }
}
