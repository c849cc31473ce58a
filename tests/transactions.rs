//! MULTI / EXEC / DISCARD / WATCH / UNWATCH against the real server at 1 and 4 shards: the
//! exact replies (diffed with redis-server, and the key ones spelled out), the bookkeeping
//! (CLIENT LIST, INFO commandstats, COMMAND), and atomicity under concurrency: money moved
//! between accounts on different shards never shows up half moved, to a reader using one MGET
//! or a transaction, and optimistic WATCH increments never lose an update.

mod common;
use common::*;
use redis::Commands;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Transaction scripts: each runs on a fresh connection after FLUSHALL; every reply must be
/// the bytes redis-server 7.0 gives.
const CASES: &[&[&str]] = &[
    &["EXEC"],
    &["DISCARD"],
    &["MULTI", "MULTI", "EXEC"],
    &["MULTI", "WATCH a", "EXEC"],
    &["MULTI", "SET a 1", "NOSUCH x", "EXEC", "GET a"],
    &["MULTI", "GET", "SET b 1", "EXEC", "GET b"],
    &["MULTI", "SET a x", "INCR a", "GET a", "EXEC"],
    &["MULTI", "UNWATCH", "EXEC"],
    &["MULTI a", "EXEC x", "DISCARD z", "WATCH", "UNWATCH x"],
    &["MULTI", "EXEC", "MULTI", "DISCARD", "EXEC"],
    &["MULTI", "SAVE", "EXEC"],
    &["MULTI", "SHUTDOWN", "EXEC"],
    &["WATCH a", "MULTI", "EXEC"],
    &["MULTI", "SET a 1", "EXEC x", "EXEC", "GET a"],
    &["MULTI", "DISCARD x", "EXEC"],
    &["SET w 1", "WATCH w", "SET w 2", "MULTI", "GET w", "EXEC"],
    &["WATCH w", "UNWATCH", "SET w 3", "MULTI", "GET w", "EXEC"],
    &["MULTI", "SET", "DISCARD", "EXEC"],
    &["SET n 1", "WATCH n", "SET n 1", "MULTI", "PING", "EXEC"],
    &["WATCH nokey", "DEL nokey", "MULTI", "PING", "EXEC"],
    &["WATCH nokey", "SETNX nokey 1", "MULTI", "PING", "EXEC"],
    &["SET p 1", "WATCH p", "FLUSHALL", "MULTI", "PING", "EXEC"],
    &["WATCH p", "FLUSHALL", "MULTI", "PING", "EXEC"],
    &["SET e 1", "WATCH e", "RENAME e f", "MULTI", "PING", "EXEC"],
    &["SET e 1", "WATCH f", "RENAME e f", "MULTI", "PING", "EXEC"],
    &[
        "SET e 1",
        "WATCH e",
        "EXPIRE e 100",
        "MULTI",
        "PING",
        "EXEC",
    ],
    &["SET e 1", "WATCH e", "PEXPIRE e 1", "MULTI", "PING", "EXEC"],
    &[
        "MSET k1 1 k2 2 k3 3 k4 4 k5 5",
        "MULTI",
        "INCR k1",
        "INCR k2",
        "MGET k1 k2 k3 k4 k5",
        "DEL k3 k4",
        "RENAME k5 k9",
        "RENAMENX k1 k2",
        "MSETNX k3 a k4 b",
        "DBSIZE",
        "EXISTS k1 k2 k3 k4 k5 k9",
        "EXEC",
        "MGET k1 k2 k3 k4 k5 k9",
    ],
    &[
        "SET x 1",
        "SET y 2",
        "WATCH x y zz",
        "SET y 3",
        "MULTI",
        "SET x 5",
        "EXEC",
        "GET x",
    ],
    &[
        "SET x 1",
        "WATCH x y zz",
        "MULTI",
        "SET x 5",
        "SET y 6",
        "EXEC",
        "MGET x y",
    ],
    &[
        "WATCH a b c d e f g",
        "MULTI",
        "MSET a 1 b 2 c 3 d 4 e 5 f 6 g 7",
        "MSETNX a 1 h 1",
        "RENAMENX a zz",
        "INCRBY h x",
        "EXEC",
        "MGET a b c d e f g h zz",
    ],
    &[
        "MULTI", "SET k v", "EXEC", "DISCARD", "MULTI", "SET k v2", "DISCARD", "GET k",
    ],
    &["MULTI", "SET k v", "QUIT"],
    &["MULTI", "PING", "ECHO hi", "TIME x", "SELECT 0", "EXEC"],
    &[
        "MULTI",
        "SET a 1",
        "ECHO hi",
        "SET b 2",
        "PING",
        "MGET a b c d",
        "EXEC",
    ],
];

fn run_case(port: u16, case: &[&str]) -> Vec<String> {
    let mut flush = Raw::connect(port);
    flush.call(&["FLUSHALL"]);
    let mut r = Raw::connect(port);
    let mut replies = Vec::new();
    for line in case {
        let args: Vec<&str> = line.split(' ').collect();
        replies.push(r.call(&args));
        if line.eq_ignore_ascii_case("quit") {
            break;
        }
    }
    replies
}

#[test]
fn replies_match_redis_server() {
    if !have_tool("redis-server") {
        return;
    }
    let redis = RedisServer::start();
    let want: Vec<Vec<String>> = CASES.iter().map(|c| run_case(redis.port, c)).collect();
    for shards in SHARD_COUNTS {
        let s = Server::start(shards);
        for (case, want) in CASES.iter().zip(&want) {
            assert_eq!(
                &run_case(s.port, case),
                want,
                "case {case:?} at {shards} shards"
            );
        }
    }
}

#[test]
fn the_key_replies() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["EXEC"], "-ERR EXEC without MULTI\r\n");
        check(&mut r, &["MULTI"], "+OK\r\n");
        check(&mut r, &["SET", "a", "x"], "+QUEUED\r\n");
        check(&mut r, &["INCR", "a"], "+QUEUED\r\n");
        check(&mut r, &["MULTI"], "-ERR MULTI calls can not be nested\r\n");
        // A runtime error is that command's entry; the others ran.
        check(
            &mut r,
            &["EXEC"],
            "*2\r\n+OK\r\n-ERR value is not an integer or out of range\r\n",
        );
        check(&mut r, &["MULTI"], "+OK\r\n");
        check_arity(&mut r, &["GET"]);
        check(&mut r, &["SET", "b", "1"], "+QUEUED\r\n");
        check(
            &mut r,
            &["EXEC"],
            "-EXECABORT Transaction discarded because of previous errors.\r\n",
        );
        check(&mut r, &["EXISTS", "b"], ":0\r\n");
        // WATCH: another client's write makes EXEC answer a null array.
        check(&mut r, &["WATCH", "a", "b", "c"], "+OK\r\n");
        let mut other = s.raw();
        check(&mut other, &["SET", "c", "1"], "+OK\r\n");
        check(&mut r, &["MULTI"], "+OK\r\n");
        check(&mut r, &["SET", "b", "2"], "+QUEUED\r\n");
        check(&mut r, &["EXEC"], "*-1\r\n");
        check(&mut r, &["EXISTS", "b"], ":0\r\n");
        // The watch is gone after EXEC.
        check(&mut other, &["SET", "c", "2"], "+OK\r\n");
        check(&mut r, &["MULTI"], "+OK\r\n");
        check(&mut r, &["SET", "b", "2"], "+QUEUED\r\n");
        check(&mut r, &["EXEC"], "*1\r\n+OK\r\n");
    });
}

#[test]
fn a_client_closed_in_multi_leaves_nothing() {
    each(|s| {
        {
            let mut r = s.raw();
            check(&mut r, &["MULTI"], "+OK\r\n");
            check(&mut r, &["SET", "left", "1"], "+QUEUED\r\n");
            check(
                &mut r,
                &["WATCH", "x"],
                "-ERR WATCH inside MULTI is not allowed\r\n",
            );
        }
        let mut r = s.raw();
        check(&mut r, &["GET", "left"], "$-1\r\n");
        // Its watches went with it: a new connection's transaction is unaffected.
        {
            let mut w = s.raw();
            check(&mut w, &["WATCH", "k1", "k2", "k3"], "+OK\r\n");
        }
        check(&mut r, &["SET", "k1", "1"], "+OK\r\n");
        check(&mut r, &["MULTI"], "+OK\r\n");
        check(&mut r, &["MSET", "k2", "2", "k3", "3"], "+QUEUED\r\n");
        check(&mut r, &["EXEC"], "*1\r\n+OK\r\n");
    });
}

#[test]
fn client_list_commandstats_and_command_table() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["CONFIG", "RESETSTAT"], "+OK\r\n");
        check(&mut r, &["MULTI"], "+OK\r\n");
        check(&mut r, &["SET", "k", "v"], "+QUEUED\r\n");
        check(&mut r, &["CLIENT", "LIST"], "+QUEUED\r\n");
        let exec = r.call(&["EXEC"]);
        assert!(exec.starts_with("*2\r\n+OK\r\n$"), "{exec}");
        assert!(
            exec.contains(" flags=x ") && exec.contains(" multi=2 "),
            "{exec}"
        );
        let list = r.call(&["CLIENT", "LIST"]);
        assert!(
            list.contains(" flags=N ") && list.contains(" multi=-1 "),
            "{list}"
        );
        let info = r.call(&["INFO", "commandstats"]);
        for name in ["multi", "exec", "set"] {
            assert!(
                info.contains(&format!("cmdstat_{name}:calls=1,")),
                "{name}: {info}"
            );
        }
        assert!(!info.contains("cmdstat___"), "{info}");
        let list = r.call(&["COMMAND", "LIST"]);
        assert!(
            !list.contains("__"),
            "an internal command is public: {list}"
        );
        for name in ["multi", "exec", "discard", "watch", "unwatch"] {
            assert!(
                list.contains(&format!("\r\n{name}\r\n")),
                "{name} missing: {list}"
            );
        }
    });
}

/// The steps of a cross-shard MSETNX / RENAMENX / RENAME are the server's own typed ops: only
/// the client's command is counted, as with Redis (no EXISTS or internal op in commandstats).
#[test]
fn cross_shard_steps_are_not_counted_as_commands() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["CONFIG", "RESETSTAT"], "+OK\r\n");
        // a, b, c, d spread over the shards when there are several.
        check(
            &mut r,
            &["MSETNX", "a", "1", "b", "2", "c", "3", "d", "4"],
            ":1\r\n",
        );
        check(&mut r, &["MSETNX", "a", "1", "e", "5"], ":0\r\n");
        check(&mut r, &["RENAMENX", "a", "b"], ":0\r\n");
        check(&mut r, &["RENAMENX", "a", "z"], ":1\r\n");
        check(&mut r, &["RENAME", "z", "y"], "+OK\r\n");
        check(&mut r, &["RENAME", "nosuch", "y"], "-ERR no such key\r\n");
        check(
            &mut r,
            &["MGET", "a", "y", "e"],
            "*3\r\n$-1\r\n$1\r\n1\r\n$-1\r\n",
        );
        let info = r.call(&["INFO", "commandstats"]);
        for (name, calls) in [("msetnx", 2), ("renamenx", 2), ("rename", 2), ("mget", 1)] {
            assert!(
                info.contains(&format!("cmdstat_{name}:calls={calls},")),
                "{name}: {info}"
            );
        }
        for absent in ["cmdstat_exists", "cmdstat_mset:", "cmdstat___"] {
            assert!(!info.contains(absent), "{absent}: {info}");
        }
        let errors = r.call(&["INFO", "errorstats"]);
        assert!(errors.contains("errorstat_ERR:count=1\r\n"), "{errors}");
    });
}

#[test]
fn the_redis_crate_atomic_pipeline() {
    each(|s| {
        let mut c = s.client();
        let (a, b, m): (i64, i64, Vec<Option<i64>>) = redis::pipe()
            .atomic()
            .incr("pa", 5)
            .incr("pb", 7)
            .mget(&["pa", "pb", "pc"])
            .query(&mut c)
            .unwrap();
        assert_eq!((a, b, m), (5, 7, vec![Some(5), Some(7), None]));
        // A transaction with a watched key another client changed returns nil: the crate's
        // `transaction` helper retries until it applies.
        let mut other = s.client();
        let mut tries = 0;
        let v: (i64,) = redis::transaction(&mut c, &["pa"], |con, pipe| {
            tries += 1;
            let cur: i64 = con.get("pa")?;
            if tries == 1 {
                let _: () = other.set("pa", 100).unwrap();
            }
            pipe.set("pa", cur + 1).ignore().get("pa").query(con)
        })
        .unwrap();
        assert_eq!((v.0, tries), (101, 2));
    });
}

/// Keys of the accounts, spread over every shard.
fn accounts() -> Vec<String> {
    (0..16).map(|i| format!("acct:{i}")).collect()
}

#[test]
fn transfers_across_shards_never_tear() {
    const EACH: i64 = 100;
    const WRITERS: usize = 3;
    const TRANSFERS: usize = 300;
    let s = Server::start(4);
    let keys = accounts();
    let total = EACH * keys.len() as i64;
    {
        let mut c = s.client();
        let pairs: Vec<(String, i64)> = keys.iter().map(|k| (k.clone(), EACH)).collect();
        let _: () = c.mset(&pairs).unwrap();
    }
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for w in 0..WRITERS {
        let (url, keys) = (s.url(), keys.clone());
        threads.push(std::thread::spawn(move || {
            let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut x = 0x9E37_79B9u64 + w as u64;
            for _ in 0..TRANSFERS {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let from = &keys[(x % 16) as usize];
                let to = &keys[((x >> 8) % 16) as usize];
                let amount = (x >> 16) % 7;
                let _: () = redis::pipe()
                    .atomic()
                    .decr(from, amount)
                    .ignore()
                    .incr(to, amount)
                    .ignore()
                    .query(&mut c)
                    .unwrap();
            }
        }));
    }
    for mode in 0..2 {
        let (url, keys, done, reads) = (s.url(), keys.clone(), done.clone(), reads.clone());
        threads.push(std::thread::spawn(move || {
            let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
            while !done.load(Ordering::Relaxed) {
                let vals: Vec<i64> = if mode == 0 {
                    c.mget(&keys).unwrap()
                } else {
                    let mut p = redis::pipe();
                    p.atomic();
                    for k in &keys {
                        p.get(k);
                    }
                    p.query(&mut c).unwrap()
                };
                assert_eq!(vals.iter().sum::<i64>(), total, "a torn read: {vals:?}");
                reads.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let writers: Vec<_> = threads.drain(..WRITERS).collect();
    for t in writers {
        t.join().expect("writer");
    }
    done.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("reader: a torn read");
    }
    let mut c = s.client();
    let vals: Vec<i64> = c.mget(&keys).unwrap();
    assert_eq!(vals.iter().sum::<i64>(), total);
    assert!(reads.load(Ordering::Relaxed) > 0);
    assert!(s.stop().success());
}

#[test]
fn watched_increments_lose_no_update() {
    const THREADS: usize = 4;
    const TRIES: usize = 60;
    for shards in SHARD_COUNTS {
        let s = Server::start(shards);
        let applied = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (url, applied) = (s.url(), applied.clone());
                std::thread::spawn(move || {
                    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
                    for _ in 0..TRIES {
                        // Two keys on (usually) different shards: the locked path.
                        let _: () = redis::cmd("WATCH")
                            .arg("ctr")
                            .arg("mirror")
                            .query(&mut c)
                            .unwrap();
                        let v: Option<i64> = c.get("ctr").unwrap();
                        let v = v.unwrap_or(0);
                        let r: Option<()> = redis::pipe()
                            .atomic()
                            .set("ctr", v + 1)
                            .ignore()
                            .set("mirror", v + 1)
                            .ignore()
                            .query(&mut c)
                            .unwrap();
                        if r.is_some() {
                            applied.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut c = s.client();
        let (ctr, mirror): (i64, i64) = (c.get("ctr").unwrap(), c.get("mirror").unwrap());
        let n = applied.load(Ordering::Relaxed) as i64;
        assert!(n > 0);
        assert_eq!((ctr, mirror), (n, n), "shards = {shards}");
    }
}

#[test]
fn cross_shard_rename_is_never_seen_half_done() {
    let s = Server::start(4);
    // Two keys on different shards.
    let (a, b) = (
        "ren:a",
        (0..)
            .map(|i| format!("ren:b{i}"))
            .find(|k| {
                corekv::shard::slot::key_shard(k.as_bytes(), 4)
                    != corekv::shard::slot::key_shard(b"ren:a", 4)
            })
            .unwrap(),
    );
    let mut c = s.client();
    let _: () = c.set(a, "v").unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (url, b, done) = (s.url(), b.clone(), done.clone());
        std::thread::spawn(move || {
            let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut n = 0;
            while !done.load(Ordering::Relaxed) {
                let e: i64 = redis::cmd("EXISTS").arg(a).arg(&b).query(&mut c).unwrap();
                assert_eq!(e, 1, "the key was in neither place or in both");
                n += 1;
            }
            n
        })
    };
    for _ in 0..300 {
        let _: () = c.rename(a, &b).unwrap();
        let _: () = c.rename(&b, a).unwrap();
    }
    done.store(true, Ordering::Relaxed);
    assert!(reader.join().expect("reader") > 0);
}

/// Every locking path at once on 4 shards (transactions in one pass, WATCHed transactions that
/// take their shards first, cross-shard MGET groups in deep pipelines, cross-shard RENAME), with
/// fixed work per thread: nothing deadlocks (every call answers within the client's timeout),
/// the money is all there, and the renamed key is always in exactly one place.
#[test]
fn all_locking_paths_together_never_deadlock() {
    const EACH: i64 = 50;
    let s = Server::start(4);
    let keys = accounts();
    let total = EACH * keys.len() as i64;
    {
        let mut c = s.client();
        let pairs: Vec<(String, i64)> = keys.iter().map(|k| (k.clone(), EACH)).collect();
        let _: () = c.mset(&pairs).unwrap();
        let _: () = c.set("mix:a", "v").unwrap();
    }
    let connect = |url: String| {
        let c = redis::Client::open(url).unwrap();
        let c = c
            .get_connection_with_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        c
    };
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let (url, keys) = (s.url(), keys.clone());
            std::thread::spawn(move || {
                let mut c = connect(url);
                let mut x = 0x2545_F491u64 + t as u64;
                for i in 0..120 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let (from, to) = (&keys[(x % 16) as usize], &keys[((x >> 8) % 16) as usize]);
                    match (t + i) % 4 {
                        0 => {
                            let _: () = redis::pipe()
                                .atomic()
                                .decr(from, 1)
                                .ignore()
                                .incr(to, 1)
                                .ignore()
                                .query(&mut c)
                                .unwrap();
                        }
                        1 => loop {
                            let _: () =
                                redis::cmd("WATCH").arg(from).arg(to).query(&mut c).unwrap();
                            let f: i64 = c.get(from).unwrap();
                            let done: Option<()> = redis::pipe()
                                .atomic()
                                .set(from, f - 2)
                                .ignore()
                                .incr(to, 2)
                                .ignore()
                                .query(&mut c)
                                .unwrap();
                            if done.is_some() {
                                break;
                            }
                        },
                        2 => {
                            // A deep pipeline of cross-shard MGETs: one held group.
                            let mut p = redis::pipe();
                            for _ in 0..8 {
                                p.cmd("MGET").arg(&keys);
                            }
                            let sums: Vec<Vec<i64>> = p.query(&mut c).unwrap();
                            for v in sums {
                                assert_eq!(v.iter().sum::<i64>(), total, "torn: {v:?}");
                            }
                        }
                        _ => {
                            let (a, b) = ("mix:a", "mix:b");
                            // Another worker may have moved it already: "no such key" is
                            // the only error allowed.
                            for (from, to) in [(a, b), (b, a)] {
                                let r: redis::RedisResult<()> = c.rename(from, to);
                                if let Err(e) = r {
                                    assert!(e.to_string().contains("no such key"), "{e}");
                                }
                            }
                            let e: i64 = redis::cmd("EXISTS").arg(a).arg(b).query(&mut c).unwrap();
                            assert_eq!(e, 1);
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a worker failed (deadlock or torn read)");
    }
    let mut c = s.client();
    let vals: Vec<i64> = c.mget(&keys).unwrap();
    assert_eq!(vals.iter().sum::<i64>(), total);
    assert!(s.stop().success());
}

/// RESET ends MULTI, forgets watches and the name, and with a password set the connection
/// must authenticate again.
#[test]
fn reset_deauthenticates_when_a_password_is_set() {
    let s = Server::start_with(4, &["--requirepass", "pw"]);
    let mut r = s.raw();
    check(&mut r, &["AUTH", "pw"], "+OK\r\n");
    check(&mut r, &["SET", "k", "1"], "+OK\r\n");
    check(&mut r, &["RESET"], "+RESET\r\n");
    check(
        &mut r,
        &["GET", "k"],
        "-NOAUTH Authentication required.\r\n",
    );
    check(&mut r, &["AUTH", "pw"], "+OK\r\n");
    check(&mut r, &["GET", "k"], "$1\r\n1\r\n");
}

/// A MULTI queue cannot grow without bound: over maxmemory nothing is queued (OOM, then
/// EXECABORT, as Redis does), and a queue past the query buffer limit closes that client only.
#[test]
fn the_multi_queue_is_bounded() {
    for shards in [1, 4] {
        let s = Server::start_with(shards, &["--maxmemory-policy", "noeviction"]);
        let mut r = s.raw();
        let big = "x".repeat(64 * 1024);
        for i in 0..64 {
            check(&mut r, &["SET", &format!("fill:{i}"), &big], "+OK\r\n");
        }
        // Now well over the limit, with nothing that may be evicted.
        check(&mut r, &["CONFIG", "SET", "maxmemory", "1mb"], "+OK\r\n");
        check(&mut r, &["MULTI"], "+OK\r\n");
        check(
            &mut r,
            &["GET", "fill:0"],
            "-OOM command not allowed when used memory > 'maxmemory'.\r\n",
        );
        check(
            &mut r,
            &["EXEC"],
            "-EXECABORT Transaction discarded because of previous errors.\r\n",
        );
        check(&mut r, &["PING"], "+PONG\r\n");
        assert!(s.stop().success());

        let s = Server::start_with(shards, &["--client-query-buffer-limit", "1mb"]);
        let mut r = s.raw();
        let mut other = s.raw();
        check(&mut r, &["MULTI"], "+OK\r\n");
        let value = "v".repeat(100 * 1024);
        let mut closed = false;
        for n in 0..20 {
            r.send(&cmd(&["SET", &format!("q:{n}"), &value]));
            if r.is_closed() {
                closed = true;
                break;
            }
        }
        assert!(closed, "a 2 MB MULTI queue was accepted under a 1 MB limit");
        check(&mut other, &["PING"], "+PONG\r\n");
        check(&mut other, &["DBSIZE"], ":0\r\n");
        assert!(s.stop().success());
    }
}

/// --cross-shard-atomic is a run-time knob too (CONFIG GET / SET), and both modes answer alike.
#[test]
fn cross_shard_atomic_is_settable_at_run_time() {
    let s = Server::start(4);
    let mut r = s.raw();
    check(
        &mut r,
        &["CONFIG", "GET", "cross-shard-atomic"],
        "*2\r\n$18\r\ncross-shard-atomic\r\n$3\r\nyes\r\n",
    );
    for mode in ["no", "yes"] {
        check(
            &mut r,
            &["CONFIG", "SET", "cross-shard-atomic", mode],
            "+OK\r\n",
        );
        check(
            &mut r,
            &["CONFIG", "GET", "cross-shard-atomic"],
            &format!(
                "*2\r\n$18\r\ncross-shard-atomic\r\n${}\r\n{mode}\r\n",
                mode.len()
            ),
        );
        check(&mut r, &["MSET", "a", "1", "b", "2", "c", "3"], "+OK\r\n");
        check(
            &mut r,
            &["MGET", "a", "b", "c"],
            "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n",
        );
        check(&mut r, &["DEL", "a", "b", "c"], ":3\r\n");
    }
    check(
        &mut r,
        &["CONFIG", "SET", "cross-shard-atomic", "maybe"],
        "-ERR CONFIG SET failed (possibly related to argument 'cross-shard-atomic') - argument must be 'yes' or 'no'\r\n",
    );
    assert!(s.stop().success());
}
