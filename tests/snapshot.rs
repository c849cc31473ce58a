//! Snapshots in Redis's RDB format against the real tools: SAVE/BGSAVE/LASTSAVE, redis-check-rdb
//! accepts the file, redis-server loads it with the same keys, values and TTLs, corekv loads a
//! dump.rdb written by redis-server (spreading keys over its shards), a snapshot taken under a
//! writing client is whole, and --save rules trigger saves.

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

fn start(shards: usize, dir: &std::path::Path, extra: &[&str]) -> Server {
    let mut args = vec!["--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start_with(shards, &args)
}

fn fill(raw: &mut Raw, n: usize) {
    let mut stream = Vec::new();
    for i in 0..n {
        stream.extend(cmd(&["SET", &format!("key:{i}"), &format!("value-{i}")]));
        if i % 10 == 0 {
            stream.extend(cmd(&["PEXPIREAT", &format!("key:{i}"), "4102444800000"]));
        }
    }
    raw.send(&stream);
    for i in 0..n {
        assert_eq!(raw.reply_string(), "+OK\r\n");
        if i % 10 == 0 {
            assert_eq!(raw.reply_string(), ":1\r\n");
        }
    }
}

fn check(raw: &mut Raw, n: usize) {
    assert_eq!(raw.call(&["DBSIZE"]), format!(":{n}\r\n"));
    for i in (0..n).step_by(7) {
        let v = format!("value-{i}");
        assert_eq!(
            raw.call(&["GET", &format!("key:{i}")]),
            format!("${}\r\n{v}\r\n", v.len())
        );
        let want = if i % 10 == 0 {
            ":4102444800000\r\n".to_string()
        } else {
            ":-1\r\n".to_string()
        };
        assert_eq!(
            raw.call(&["PEXPIRETIME", &format!("key:{i}")]),
            want,
            "key:{i}"
        );
    }
}

#[test]
fn save_then_load_in_corekv_at_another_shard_count() {
    let dir = temp_dir("save");
    let s = start(4, &dir, &[]);
    let mut raw = s.raw();
    fill(&mut raw, 3000);
    let before: i64 = raw
        .call(&["LASTSAVE"])
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap();
    assert_eq!(raw.call(&["SAVE"]), "+OK\r\n");
    let after: i64 = raw
        .call(&["LASTSAVE"])
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap();
    assert!(after >= before);
    assert!(raw
        .call(&["INFO", "persistence"])
        .contains("rdb_last_bgsave_status:ok"));
    assert!(s.stop().success());
    for shards in SHARD_COUNTS {
        let s = start(shards, &dir, &[]);
        check(&mut s.raw(), 3000);
    }
}

#[test]
fn bgsave_under_a_writing_client_gives_a_whole_file() {
    let dir = temp_dir("bgsave");
    let s = start(4, &dir, &[]);
    let mut raw = s.raw();
    fill(&mut raw, 20_000);
    assert_eq!(raw.call(&["BGSAVE"]), "+Background saving started\r\n");
    // Rewrite every key while the save runs.
    let mut writer = s.raw();
    let mut stream = Vec::new();
    for i in 0..20_000 {
        stream.extend(cmd(&["SET", &format!("key:{i}"), "changed"]));
    }
    writer.send(&stream);
    for _ in 0..20_000 {
        assert_eq!(writer.reply_string(), "+OK\r\n");
    }
    assert!(eventually(Duration::from_secs(20), || raw
        .call(&["INFO", "persistence"])
        .contains("rdb_bgsave_in_progress:0")));
    assert!(s.stop().success());
    let s = start(2, &dir, &[]);
    let mut raw = s.raw();
    assert_eq!(raw.call(&["DBSIZE"]), ":20000\r\n");
    for i in (0..20_000).step_by(97) {
        let v = raw.call(&["GET", &format!("key:{i}")]);
        assert!(
            v == format!("${}\r\nvalue-{i}\r\n", format!("value-{i}").len())
                || v == "$7\r\nchanged\r\n",
            "key:{i} = {v}"
        );
    }
}

#[test]
fn redis_tools_accept_corekv_snapshots_and_corekv_loads_redis_dumps() {
    if !have_tool("redis-server") || !have_tool("redis-check-rdb") {
        return;
    }
    let dir = temp_dir("interop");
    let s = start(4, &dir, &[]);
    let mut raw = s.raw();
    fill(&mut raw, 2000);
    assert_eq!(raw.call(&["SAVE"]), "+OK\r\n");
    drop(s);
    let dump = dir.join("dump.rdb");
    let checked = Command::new("redis-check-rdb").arg(&dump).output().unwrap();
    let text = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success() && text.contains("2000 keys read"),
        "{text}"
    );
    // redis-server loads it: same keys, values, TTLs.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--dir",
            dir.to_str().unwrap(),
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
    let mut r = None;
    assert!(eventually(Duration::from_secs(10), || {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(_) => {
                r = Some(Raw::connect(port));
                true
            }
            Err(_) => false,
        }
    }));
    let mut r = r.unwrap();
    assert!(eventually(Duration::from_secs(10), || r.call(&["PING"]) == "+PONG\r\n"));
    check(&mut r, 2000);
    // And redis-server writes a dump that corekv loads, keys spread over 4 shards.
    assert_eq!(r.call(&["SET", "from-redis", "12345"]), "+OK\r\n");
    assert_eq!(r.call(&["SET", "big", &"abc".repeat(2000)]), "+OK\r\n");
    assert_eq!(r.call(&["SAVE"]), "+OK\r\n");
    r.send(&cmd(&["SHUTDOWN", "NOSAVE"]));
    let _ = redis.wait();
    let s = start(4, &dir, &[]);
    let mut raw = s.raw();
    assert_eq!(raw.call(&["DBSIZE"]), ":2002\r\n");
    assert_eq!(raw.call(&["GET", "from-redis"]), "$5\r\n12345\r\n");
    assert_eq!(raw.call(&["STRLEN", "big"]), ":6000\r\n");
    check_sample(&mut raw);
}

fn check_sample(raw: &mut Raw) {
    assert_eq!(raw.call(&["GET", "key:7"]), "$7\r\nvalue-7\r\n");
    assert_eq!(raw.call(&["PEXPIRETIME", "key:10"]), ":4102444800000\r\n");
}

#[test]
fn save_rules_trigger_a_snapshot() {
    let dir = temp_dir("rules");
    let s = start(2, &dir, &["--save", "1 5"]);
    let mut raw = s.raw();
    assert_eq!(
        raw.call(&["CONFIG", "GET", "save"]),
        "*2\r\n$4\r\nsave\r\n$3\r\n1 5\r\n"
    );
    fill(&mut raw, 10);
    assert!(eventually(Duration::from_secs(10), || dir
        .join("dump.rdb")
        .exists()));
    assert!(eventually(Duration::from_secs(5), || raw
        .call(&["INFO", "persistence"])
        .contains("rdb_changes_since_last_save:0")));
    assert_eq!(raw.call(&["CONFIG", "SET", "save", ""]), "+OK\r\n");
    assert_eq!(raw.call(&["BGSAVE"]), "+Background saving started\r\n");
}

#[test]
fn shutdown_takes_a_snapshot_when_save_rules_are_set() {
    for shards in SHARD_COUNTS {
        let dir = temp_dir(&format!("shutdown-save-{shards}"));
        let s = start(shards, &dir, &["--save", "3600 1000000"]);
        let mut raw = s.raw();
        fill(&mut raw, 500);
        assert!(!dir.join("dump.rdb").exists());
        assert!(s.stop().success());
        assert!(
            dir.join("dump.rdb").exists(),
            "SIGTERM with save rules must leave a snapshot"
        );
        let s = start(shards, &dir, &[]);
        check(&mut s.raw(), 500);
    }
}

/// A snapshot taken while clients move amounts between accounts on different shards inside
/// MULTI/EXEC holds every transaction whole or not at all: each saved file, loaded on its own,
/// has the same total. Without the snapshot's cut, the shards begin their parts at different
/// moments and transfers in between show up half done.
#[test]
fn snapshots_never_hold_part_of_a_transaction() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    const EACH: i64 = 1000;
    const SAVES: usize = 6;
    let dir = temp_dir("snapcut");
    let s = start(4, &dir, &[]);
    let keys: Vec<String> = (0..16).map(|i| format!("acct:{i}")).collect();
    let total = EACH * keys.len() as i64;
    {
        let mut c = s.client();
        let pairs: Vec<(String, i64)> = keys.iter().map(|k| (k.clone(), EACH)).collect();
        let _: () = redis::Commands::mset(&mut c, &pairs).unwrap();
    }
    let done = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3u64 {
        let (url, keys, done) = (s.url(), keys.clone(), done.clone());
        writers.push(std::thread::spawn(move || {
            let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut x = 0x9E37_79B9u64 + w;
            let mut n = 0u64;
            while !done.load(Ordering::Relaxed) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let from = &keys[(x % 16) as usize];
                let to = &keys[((x >> 8) % 16) as usize];
                let amount = 1 + (x >> 16) % 9;
                let _: () = redis::pipe()
                    .atomic()
                    .decr(from, amount)
                    .ignore()
                    .incr(to, amount)
                    .ignore()
                    .query(&mut c)
                    .unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut raw = s.raw();
    let mut copies = Vec::new();
    for i in 0..SAVES {
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(raw.call(&["SAVE"]), "+OK\r\n");
        let copy = temp_dir(&format!("snapcut-{i}"));
        std::fs::copy(dir.join("dump.rdb"), copy.join("dump.rdb")).unwrap();
        copies.push(copy);
    }
    done.store(true, Ordering::Relaxed);
    let transfers: u64 = writers.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(transfers > 0);
    assert!(s.stop().success());
    for copy in copies {
        let loaded = start(1, &copy, &[]);
        let mut c = loaded.client();
        let vals: Vec<i64> = redis::Commands::mget(&mut c, &keys).unwrap();
        assert_eq!(
            vals.iter().sum::<i64>(),
            total,
            "a snapshot holds part of a transaction: {vals:?}"
        );
        assert!(loaded.stop().success());
    }
}
