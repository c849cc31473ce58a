//! Lists and blocking pops against the real binary at 1 and 4 shards: a big list edited in the
//! middle agrees with a model, LMOVE is atomic across shards under concurrent readers, blocked
//! clients are served longest-waiting first and exactly once, wake across shards, time out,
//! are unblocked by CLIENT UNBLOCK, leave nothing behind when they vanish, do not block inside
//! MULTI; a job queue with producers and BRPOP consumers on several shards delivers every item
//! exactly once, also across a kill -9 with `appendfsync always`; lists move between corekv
//! and redis-server with DUMP/RESTORE and snapshots.

mod common;
use common::*;
use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

fn bulk(s: &str) -> String {
    format!("${}\r\n{}\r\n", s.len(), s)
}

fn int(n: i64) -> String {
    format!(":{n}\r\n")
}

fn range(con: &mut redis::Connection, key: &str) -> Vec<String> {
    redis::cmd("LRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query(con)
        .unwrap()
}

/// Two keys that live on different shards of 4.
fn far_apart() -> (&'static str, &'static str) {
    let (a, b) = ("left", "right");
    assert_ne!(
        corekv::shard::slot::key_shard(a.as_bytes(), 4),
        corekv::shard::slot::key_shard(b.as_bytes(), 4)
    );
    (a, b)
}

fn big_list_edits(s: &Server) {
    let mut con = s.client();
    let mut r = s.raw();
    let mut model: VecDeque<String> = VecDeque::new();
    // Small chunks, so edits cross chunk boundaries.
    check(
        &mut r,
        &["CONFIG", "SET", "list-max-listpack-size", "16"],
        "+OK\r\n",
    );
    for i in 0..2000 {
        let v = format!("e{i}");
        if i % 3 == 0 {
            check(
                &mut r,
                &["LPUSH", "edits", &v],
                &int(model.len() as i64 + 1),
            );
            model.push_front(v);
        } else {
            check(
                &mut r,
                &["RPUSH", "edits", &v],
                &int(model.len() as i64 + 1),
            );
            model.push_back(v);
        }
    }
    for i in (0..2000).step_by(97) {
        let idx = i % model.len();
        let v = format!("set{i}");
        check(&mut r, &["LSET", "edits", &idx.to_string(), &v], "+OK\r\n");
        model[idx] = v;
        let pivot = model[(idx * 7) % model.len()].clone();
        let at = model.iter().position(|x| *x == pivot).unwrap();
        model.insert(at, format!("ins{i}"));
        check(
            &mut r,
            &["LINSERT", "edits", "BEFORE", &pivot, &format!("ins{i}")],
            &int(model.len() as i64),
        );
    }
    check(&mut r, &["LREM", "edits", "0", "e10"], &int(1));
    model.retain(|x| x != "e10");
    assert_eq!(range(&mut con, "edits"), Vec::from(model.clone()));
    let mid: Vec<String> = redis::cmd("LRANGE")
        .arg("edits")
        .arg(500)
        .arg(520)
        .query(&mut con)
        .unwrap();
    assert_eq!(
        mid,
        model.iter().skip(500).take(21).cloned().collect::<Vec<_>>()
    );
    check(
        &mut r,
        &["LINDEX", "edits", "-7"],
        &bulk(&model[model.len() - 7]),
    );
    check(&mut r, &["LTRIM", "edits", "100", "-100"], "+OK\r\n");
    let model: Vec<String> = model
        .iter()
        .skip(100)
        .take(model.len() - 199)
        .cloned()
        .collect();
    assert_eq!(range(&mut con, "edits"), model);
    check(&mut r, &["OBJECT", "ENCODING", "edits"], &bulk("quicklist"));
    // MEMORY USAGE sees the elements.
    let mem = int_of(&mut r, &["MEMORY", "USAGE", "edits"]);
    assert!(mem > 1800 * 4, "{mem}");
    check(
        &mut r,
        &["CONFIG", "SET", "list-max-listpack-size", "-2"],
        "+OK\r\n",
    );
    check(&mut r, &["DEL", "edits"], &int(1));
}

#[test]
fn a_big_list_edited_anywhere_agrees_with_a_model() {
    each(big_list_edits);
}

/// N elements in two lists on different shards; writers LMOVE them back and forth; every
/// MULTI/EXEC of both LLENs must add up to N.
#[test]
fn lmove_is_atomic_across_shards() {
    let s = Server::start(4);
    let (left, right) = far_apart();
    let n = 300;
    let mut setup = s.raw();
    let mut args = vec!["RPUSH".to_string(), left.into()];
    args.extend((0..n).map(|i| format!("m{i}")));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    check(&mut setup, &a, &int(n));
    let deadline = Instant::now() + Duration::from_secs(2);
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let port = s.port;
            std::thread::spawn(move || {
                let mut r = Raw::connect(port);
                let mut i = w;
                while Instant::now() < deadline {
                    let (a, b) = if i % 2 == 0 {
                        (left, right)
                    } else {
                        (right, left)
                    };
                    let rep = if i % 5 == 0 {
                        r.call(&["RPOPLPUSH", a, b])
                    } else {
                        r.call(&["LMOVE", a, b, "LEFT", "RIGHT"])
                    };
                    assert!(rep.starts_with('$'), "{rep}");
                    i += 1;
                }
            })
        })
        .collect();
    let mut r = s.raw();
    let mut reads = 0;
    while Instant::now() < deadline {
        r.send(&cmd(&["MULTI"]));
        r.send(&cmd(&["LLEN", left]));
        r.send(&cmd(&["LLEN", right]));
        r.send(&cmd(&["EXEC"]));
        assert_eq!(r.reply_string(), "+OK\r\n");
        r.reply();
        r.reply();
        let exec = r.reply_string();
        let nums: Vec<i64> = exec
            .lines()
            .filter_map(|l| l.strip_prefix(':'))
            .map(|x| x.parse().unwrap())
            .collect();
        assert_eq!(nums.iter().sum::<i64>(), n, "a torn LMOVE: {exec:?}");
        reads += 1;
    }
    for w in writers {
        w.join().unwrap();
    }
    assert!(reads > 10);
    let mut con = s.client();
    let mut all: Vec<String> = range(&mut con, left);
    all.extend(range(&mut con, right));
    all.sort();
    let mut want: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    want.sort();
    assert_eq!(all, want, "every element is in exactly one list");
}

/// Starts `BLPOP args...` on a new connection and waits until the server counts it blocked.
fn blocked(s: &Server, r: &mut Raw, args: &[&str], before: i64) -> Raw {
    let mut c = Raw::connect(s.port);
    c.send(&cmd(args));
    assert!(
        eventually(Duration::from_secs(5), || blocked_clients(r) == before + 1),
        "the client did not block"
    );
    c
}

fn blocked_clients(r: &mut Raw) -> i64 {
    let info = r.call(&["INFO", "clients"]);
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn blocking_semantics(s: &Server) {
    let mut r = s.raw();
    // FIFO: the longest-waiting client is served first, each exactly once.
    let mut waiters = Vec::new();
    for i in 0..3 {
        waiters.push(blocked(s, &mut r, &["BLPOP", "fifo", "0"], i));
    }
    for v in ["one", "two", "three"] {
        assert!(r.call(&["RPUSH", "fifo", v]).starts_with(':'));
    }
    for (w, v) in waiters.iter_mut().zip(["one", "two", "three"]) {
        assert_eq!(
            w.reply_string(),
            format!("*2\r\n{}{}", bulk("fifo"), bulk(v))
        );
    }
    check(&mut r, &["EXISTS", "fifo"], &int(0));
    assert_eq!(blocked_clients(&mut r), 0);
    // A wait on keys of several shards wakes on the key that gets data, then forgets the rest.
    let (a, b) = far_apart();
    let mut w = blocked(s, &mut r, &["BRPOP", a, b, "0"], 0);
    check(&mut r, &["RPUSH", b, "x", "y"], &int(2));
    assert_eq!(w.reply_string(), format!("*2\r\n{}{}", bulk(b), bulk("y")));
    check(&mut r, &["RPUSH", a, "stays"], &int(1));
    std::thread::sleep(Duration::from_millis(50));
    check(&mut r, &["LLEN", a], &int(1));
    check(&mut r, &["DEL", a, b], &int(2));
    // Several waiters on two keys of two shards: pushes to both serve each exactly once.
    let mut ws = Vec::new();
    for i in 0..4 {
        ws.push(blocked(s, &mut r, &["BLPOP", a, b, "0"], i));
    }
    let mut p1 = Raw::connect(s.port);
    let mut p2 = Raw::connect(s.port);
    p1.send(&cmd(&["RPUSH", a, "a1", "a2"]));
    p2.send(&cmd(&["RPUSH", b, "b1", "b2"]));
    p1.reply();
    p2.reply();
    let mut got: Vec<String> = ws.iter_mut().map(|w| w.reply_string()).collect();
    got.sort();
    let mut want: Vec<String> = [(a, "a1"), (a, "a2"), (b, "b1"), (b, "b2")]
        .iter()
        .map(|(k, v)| format!("*2\r\n{}{}", bulk(k), bulk(v)))
        .collect();
    want.sort();
    assert_eq!(got, want);
    check(&mut r, &["EXISTS", a, b], &int(0));
    // Timeouts, with sub-second precision.
    let t = Instant::now();
    check(&mut r, &["BLPOP", "nothing", "0.2"], "*-1\r\n");
    assert!(t.elapsed() >= Duration::from_millis(190));
    check(
        &mut r,
        &["BLMPOP", "0.05", "2", "n1", "n2", "LEFT"],
        "*-1\r\n",
    );
    // BLMOVE to a key of another shard, woken by a push.
    let mut w = blocked(s, &mut r, &["BLMOVE", a, b, "RIGHT", "LEFT", "5"], 0);
    check(&mut r, &["RPUSH", a, "m1", "m2"], &int(2));
    assert_eq!(w.reply_string(), bulk("m2"));
    check(
        &mut r,
        &["LRANGE", b, "0", "-1"],
        &format!("*1\r\n{}", bulk("m2")),
    );
    check(
        &mut r,
        &["LRANGE", a, "0", "-1"],
        &format!("*1\r\n{}", bulk("m1")),
    );
    check(&mut r, &["DEL", a, b], &int(2));
    // BLMPOP with COUNT.
    let mut w = blocked(
        s,
        &mut r,
        &["BLMPOP", "0", "2", a, b, "RIGHT", "COUNT", "2"],
        0,
    );
    check(&mut r, &["RPUSH", b, "1", "2", "3"], &int(3));
    assert_eq!(
        w.reply_string(),
        format!("*2\r\n{}*2\r\n{}{}", bulk(b), bulk("3"), bulk("2"))
    );
    check(&mut r, &["DEL", b], &int(1));
    // CLIENT UNBLOCK: TIMEOUT answers the timeout's null, ERROR the error.
    for (how, want) in [
        ("TIMEOUT", "*-1\r\n".to_string()),
        (
            "ERROR",
            "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n".into(),
        ),
    ] {
        let mut w = blocked(s, &mut r, &["BLPOP", a, b, "0"], 0);
        // Every client but this one: only the blocked one is unblocked.
        let me = int_of(&mut r, &["CLIENT", "ID"]).to_string();
        let list = r.call(&["CLIENT", "LIST"]);
        assert_eq!(list.matches("flags=b").count(), 1, "{list}");
        let ids: Vec<String> = list
            .lines()
            .filter_map(|l| l.split_whitespace().find_map(|f| f.strip_prefix("id=")))
            .map(str::to_string)
            .filter(|id| *id != me)
            .collect();
        let mut unblocked = 0;
        for id in &ids {
            unblocked += int_of(&mut r, &["CLIENT", "UNBLOCK", id, how]);
        }
        assert_eq!(unblocked, 1, "{list}");
        assert_eq!(w.reply_string(), want);
        check(&mut r, &["CLIENT", "UNBLOCK", "999999", how], &int(0));
    }
    // A client that vanishes while blocked leaves nothing behind: the push stays.
    let w = blocked(s, &mut r, &["BLPOP", "vanish", "0"], 0);
    drop(w);
    assert!(eventually(Duration::from_secs(5), || blocked_clients(
        &mut r
    ) == 0));
    check(&mut r, &["RPUSH", "vanish", "kept"], &int(1));
    std::thread::sleep(Duration::from_millis(50));
    check(&mut r, &["LLEN", "vanish"], &int(1));
    check(&mut r, &["DEL", "vanish"], &int(1));
    // Inside MULTI a blocking command does not block.
    r.send(&cmd(&["MULTI"]));
    r.send(&cmd(&["BLPOP", a, b, "0"]));
    r.send(&cmd(&["RPUSH", a, "q"]));
    r.send(&cmd(&["BRPOP", a, b, "0"]));
    r.send(&cmd(&["EXEC"]));
    for _ in 0..4 {
        r.reply();
    }
    assert_eq!(
        r.reply_string(),
        format!("*3\r\n*-1\r\n:1\r\n*2\r\n{}{}", bulk(a), bulk("q"))
    );
    // A key of another type answers WRONGTYPE at once.
    check(&mut r, &["SET", "str", "x"], "+OK\r\n");
    check(
        &mut r,
        &["BLPOP", "str", "0"],
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    check(&mut r, &["DEL", "str"], &int(1));
}

#[test]
fn blocked_clients_are_served_in_order_exactly_once() {
    each(blocking_semantics);
}

/// Producers push unique jobs to queues on several shards; consumers wait with BRPOP on all
/// queues. Every job is delivered exactly once. Then, with `appendfsync always`, the server is
/// killed with SIGKILL and restarted: what is left is exactly what was pushed and not popped.
#[test]
fn a_job_queue_delivers_every_item_exactly_once_across_a_kill() {
    let dir = temp_dir("lists-queue");
    let args = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        dir.to_str().unwrap(),
    ];
    let s = Server::start_with(4, &args);
    let queues = ["q:a", "q:b", "q:c", "q:d"];
    let per = 300;
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let port = s.port;
            std::thread::spawn(move || {
                let mut r = Raw::connect(port);
                let mut got = Vec::new();
                loop {
                    let mut a = vec!["BRPOP"];
                    a.extend(queues);
                    a.push("0.5");
                    let rep = r.call(&a);
                    if rep == "*-1\r\n" {
                        return got;
                    }
                    let v = rep.rsplit("\r\n").nth(1).unwrap().to_string();
                    got.push(v);
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let port = s.port;
            std::thread::spawn(move || {
                let mut r = Raw::connect(port);
                for i in 0..per {
                    let q = queues[i % queues.len()];
                    let rep = r.call(&["LPUSH", q, &format!("job-{p}-{i}")]);
                    assert!(rep.starts_with(':'), "{rep}");
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for c in consumers {
        for v in c.join().unwrap() {
            assert!(seen.insert(v.clone()), "{v} delivered twice");
            total += 1;
        }
    }
    assert_eq!(total, 2 * per, "every job delivered");
    // Now some jobs stay queued, a consumer pops a few, and the server dies.
    let mut r = s.raw();
    for i in 0..50 {
        r.call(&["RPUSH", queues[i % 4], &format!("left-{i}")]);
    }
    let mut popped = HashSet::new();
    for _ in 0..10 {
        let mut a = vec!["BLPOP"];
        a.extend(queues);
        a.push("1");
        let rep = r.call(&a);
        popped.insert(rep.rsplit("\r\n").nth(1).unwrap().to_string());
    }
    drop(r);
    s.kill9();
    let s = Server::start_with(4, &args);
    let mut con = s.client();
    let mut left = HashSet::new();
    for q in queues {
        for v in range(&mut con, q) {
            assert!(left.insert(v));
        }
    }
    let want: HashSet<String> = (0..50)
        .map(|i| format!("left-{i}"))
        .filter(|v| !popped.contains(v))
        .collect();
    assert_eq!(
        left, want,
        "after kill -9, exactly the jobs not popped remain"
    );
}

/// Every list write replays from the log in order.
#[test]
fn the_log_replays_every_list_write() {
    for shards in SHARD_COUNTS {
        let dir = temp_dir(&format!("lists-aof-{shards}"));
        let args = ["--appendonly", "yes", "--dir", dir.to_str().unwrap()];
        let s = Server::start_with(shards, &args);
        let mut r = s.raw();
        let (a, b) = far_apart();
        for c in [
            vec!["RPUSH", "l", "a", "b", "c", "d", "e", "f", "g"],
            vec!["LPUSH", "l", "z"],
            vec!["LSET", "l", "-2", "F"],
            vec!["LINSERT", "l", "AFTER", "c", "c2"],
            vec!["LREM", "l", "1", "d"],
            vec!["LTRIM", "l", "1", "-1"],
            vec!["LPOP", "l"],
            vec!["RPOP", "l", "1"],
            vec!["RPUSH", a, "1", "2", "3"],
            vec!["LMOVE", a, b, "LEFT", "LEFT"],
            vec!["RPOPLPUSH", a, b],
            vec!["LMPOP", "2", "nothing", a, "LEFT"],
            vec!["BLPOP", b, "0"],
            vec!["RPUSHX", b, "x"],
        ] {
            assert!(!r.call(&c).starts_with('-'), "{c:?}");
        }
        let mut con = s.client();
        let want = (range(&mut con, "l"), range(&mut con, a), range(&mut con, b));
        assert_eq!(want.0, ["b", "c", "c2", "e", "F"]);
        drop(r);
        s.stop();
        let s = Server::start_with(shards, &args);
        let mut con = s.client();
        let got = (range(&mut con, "l"), range(&mut con, a), range(&mut con, b));
        assert_eq!(got, want, "after replay at {shards} shards");
    }
}

/// Lists move between redis-server and corekv both ways: DUMP/RESTORE and snapshot files.
#[test]
fn lists_move_between_redis_and_corekv() {
    if !have_tool("redis-server") {
        return;
    }
    let dir = temp_dir("lists-rdb");
    let d = dir.to_str().unwrap();
    let redis = RedisServer::start_in(d);
    let mut rr = Raw::connect(redis.port);
    let mut rcon = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let mut big = vec!["RPUSH".to_string(), "biglist".into()];
    big.extend((0..5000).map(|i| format!("element-{i}")));
    let big: Vec<&str> = big.iter().map(String::as_str).collect();
    rr.call(&big);
    rr.call(&["RPUSH", "small", "a", "12", "-7000", "text"]);
    rr.call(&["RPUSH", "long", &"x".repeat(10_000), "y"]);
    for shards in SHARD_COUNTS {
        let s = Server::start(shards);
        let mut con = s.client();
        for k in ["biglist", "small", "long"] {
            let payload: Vec<u8> = redis::cmd("DUMP").arg(k).query(&mut rcon).unwrap();
            let _: () = redis::cmd("RESTORE")
                .arg(k)
                .arg(0)
                .arg(&payload)
                .query(&mut con)
                .unwrap();
            assert_eq!(range(&mut con, k), range(&mut rcon, k), "{k} into corekv");
            let back: Vec<u8> = redis::cmd("DUMP").arg(k).query(&mut con).unwrap();
            let name = format!("{k}:back{shards}");
            let _: () = redis::cmd("RESTORE")
                .arg(&name)
                .arg(0)
                .arg(&back)
                .query(&mut rcon)
                .unwrap();
            assert_eq!(
                range(&mut rcon, &name),
                range(&mut rcon, k),
                "{k} back into redis"
            );
        }
    }
    // redis-server's snapshot (quicklist of listpacks) loads into corekv, and corekv's loads
    // into redis-server.
    assert_eq!(rr.call(&["SAVE"]), "+OK\r\n");
    let want: Vec<Vec<String>> = ["biglist", "small", "long"]
        .iter()
        .map(|k| range(&mut rcon, k))
        .collect();
    let s = Server::start_with(4, &["--dir", d]);
    let mut con = s.client();
    let got: Vec<Vec<String>> = ["biglist", "small", "long"]
        .iter()
        .map(|k| range(&mut con, k))
        .collect();
    assert_eq!(got, want, "corekv's view of redis-server's dump");
    let mut r = s.raw();
    check(&mut r, &["RPUSH", "small", "more"], &int(5));
    assert_eq!(r.call(&["SAVE"]), "+OK\r\n");
    drop(r);
    s.stop();
    drop(rr);
    drop(rcon);
    drop(redis);
    let redis = RedisServer::start_in(d);
    let mut rcon = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    assert_eq!(range(&mut rcon, "biglist"), want[0]);
    assert_eq!(
        range(&mut rcon, "small"),
        ["a", "12", "-7000", "text", "more"]
    );
}
