//! Sorted sets against the real binary at 1 and 4 shards: a leaderboard agrees with a model
//! (ranks, ranges by rank, score and member, reverse forms, increments), the algebra works with
//! keys on different shards, BZPOPMIN wakes across shards, every write replays from the log,
//! and sorted sets move between corekv and redis-server with DUMP/RESTORE and snapshots.

mod common;
use common::*;
use std::time::Duration;

fn leaderboard(s: &Server) {
    let mut con = s.client();
    let mut model: Vec<(String, f64)> = Vec::new();
    for i in 0..3000u64 {
        let m = format!("player{}", i % 1000);
        let score = ((i * 7919) % 10007) as f64 / 7.0;
        let _: f64 = redis::cmd("ZINCRBY")
            .arg("board")
            .arg(score)
            .arg(&m)
            .query(&mut con)
            .unwrap();
        match model.iter_mut().find(|(k, _)| *k == m) {
            Some(e) => e.1 += score,
            None => model.push((m, score)),
        }
    }
    model.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
    let all: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg("board")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(&mut con)
        .unwrap();
    assert_eq!(all.len(), model.len());
    for (a, b) in all.iter().zip(&model) {
        assert_eq!(a.0, b.0);
        assert!((a.1 - b.1).abs() < 1e-9);
    }
    for r in [0usize, 1, 499, 998, 999] {
        let rank: usize = redis::cmd("ZRANK")
            .arg("board")
            .arg(&model[r].0)
            .query(&mut con)
            .unwrap();
        assert_eq!(rank, r);
        let rev: usize = redis::cmd("ZREVRANK")
            .arg("board")
            .arg(&model[r].0)
            .query(&mut con)
            .unwrap();
        assert_eq!(rev, model.len() - 1 - r);
    }
    let top: Vec<String> = redis::cmd("ZREVRANGE")
        .arg("board")
        .arg(0)
        .arg(9)
        .query(&mut con)
        .unwrap();
    let want: Vec<String> = model
        .iter()
        .rev()
        .take(10)
        .map(|(m, _)| m.clone())
        .collect();
    assert_eq!(top, want);
    let (lo, hi) = (model[100].1, model[200].1);
    let n: usize = redis::cmd("ZCOUNT")
        .arg("board")
        .arg(lo)
        .arg(hi)
        .query(&mut con)
        .unwrap();
    assert_eq!(
        n,
        model.iter().filter(|(_, s)| *s >= lo && *s <= hi).count()
    );
    let page: Vec<String> = redis::cmd("ZRANGE")
        .arg("board")
        .arg(format!("({lo}"))
        .arg(hi)
        .arg("BYSCORE")
        .arg("LIMIT")
        .arg(5)
        .arg(10)
        .query(&mut con)
        .unwrap();
    let want: Vec<String> = model
        .iter()
        .filter(|(_, s)| *s > lo && *s <= hi)
        .skip(5)
        .take(10)
        .map(|(m, _)| m.clone())
        .collect();
    assert_eq!(page, want);
    let removed: usize = redis::cmd("ZREMRANGEBYRANK")
        .arg("board")
        .arg(0)
        .arg(99)
        .query(&mut con)
        .unwrap();
    assert_eq!(removed, 100);
    let first: Vec<String> = redis::cmd("ZRANGE")
        .arg("board")
        .arg(0)
        .arg(0)
        .query(&mut con)
        .unwrap();
    assert_eq!(first, vec![model[100].0.clone()]);
    let card: usize = redis::cmd("ZCARD").arg("board").query(&mut con).unwrap();
    assert_eq!(card, 900);
    let _: () = redis::cmd("DEL").arg("board").query(&mut con).unwrap();
}

#[test]
fn a_leaderboard_agrees_with_a_model() {
    each(leaderboard);
}

fn across(s: &Server) {
    let mut r = s.raw();
    let (a, b) = ("left", "right");
    check(&mut r, &["ZADD", a, "1", "x", "2", "y"], ":2\r\n");
    check(&mut r, &["ZADD", b, "10", "y", "20", "z"], ":2\r\n");
    check(&mut r, &["ZUNIONSTORE", "dest", "2", a, b], ":3\r\n");
    check(
        &mut r,
        &["ZRANGE", "dest", "0", "-1", "WITHSCORES"],
        "*6\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$2\r\n12\r\n$1\r\nz\r\n$2\r\n20\r\n",
    );
    check(&mut r, &["ZINTERCARD", "2", a, b], ":1\r\n");
    check(&mut r, &["ZDIFF", "2", a, b], "*1\r\n$1\r\nx\r\n");
    check(&mut r, &["ZRANGESTORE", "dest", b, "0", "0"], ":1\r\n");
    check(&mut r, &["ZRANGE", "dest", "0", "-1"], "*1\r\n$1\r\ny\r\n");
    check(
        &mut r,
        &["ZMPOP", "2", "nothing", b, "MAX"],
        "*2\r\n$5\r\nright\r\n*1\r\n*2\r\n$1\r\nz\r\n$2\r\n20\r\n",
    );
    // BZPOPMIN on keys of two shards, woken by a ZADD to the second.
    let mut w = Raw::connect(s.port);
    w.send(&cmd(&["BZPOPMIN", "q1", "q2", "5"]));
    assert!(eventually(Duration::from_secs(5), || {
        r.call(&["INFO", "clients"]).contains("blocked_clients:1")
    }));
    check(&mut r, &["ZADD", "q2", "3", "m"], ":1\r\n");
    assert_eq!(w.reply_string(), "*3\r\n$2\r\nq2\r\n$1\r\nm\r\n$1\r\n3\r\n");
    check(&mut r, &["EXISTS", "q2"], ":0\r\n");
    check(&mut r, &["DEL", a, b, "dest"], ":3\r\n");
}

#[test]
fn sorted_set_algebra_and_blocking_pops_work_across_shards() {
    each(across);
}

fn zrange_all(con: &mut redis::Connection, k: &str) -> Vec<(String, f64)> {
    redis::cmd("ZRANGE")
        .arg(k)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(con)
        .unwrap()
}

#[test]
fn the_log_replays_every_sorted_set_write() {
    for shards in SHARD_COUNTS {
        let dir = temp_dir(&format!("zsets-aof-{shards}"));
        let args = ["--appendonly", "yes", "--dir", dir.to_str().unwrap()];
        let s = Server::start_with(shards, &args);
        let mut r = s.raw();
        for c in [
            vec!["ZADD", "z", "1", "a", "2", "b", "3", "c", "0.1", "d"],
            vec!["ZINCRBY", "z", "0.2", "d"],
            vec!["ZADD", "z", "GT", "5", "a"],
            vec!["ZREM", "z", "b"],
            vec!["ZPOPMAX", "z"],
            vec!["ZADD", "left", "1", "x"],
            vec!["ZADD", "right", "2", "x", "3", "y"],
            vec!["ZUNIONSTORE", "u", "2", "left", "right"],
            vec!["ZREMRANGEBYSCORE", "right", "3", "3"],
            vec!["BZPOPMIN", "left", "0"],
        ] {
            assert!(!r.call(&c).starts_with('-'), "{c:?}");
        }
        let mut con = s.client();
        let keys = ["z", "left", "right", "u"];
        let want: Vec<Vec<(String, f64)>> = keys.iter().map(|k| zrange_all(&mut con, k)).collect();
        drop(r);
        s.stop();
        let s = Server::start_with(shards, &args);
        let mut con = s.client();
        let got: Vec<Vec<(String, f64)>> = keys.iter().map(|k| zrange_all(&mut con, k)).collect();
        assert_eq!(got, want, "after replay at {shards} shards");
        assert_eq!(got[0][0], ("d".to_string(), 0.30000000000000004));
    }
}

#[test]
fn sorted_sets_move_between_redis_and_corekv() {
    if !have_tool("redis-server") {
        return;
    }
    let dir = temp_dir("zsets-rdb");
    let d = dir.to_str().unwrap();
    let redis = RedisServer::start_in(d);
    let mut rr = Raw::connect(redis.port);
    let mut rcon = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    // A small one (listpack in Redis) and a big one (skiplist).
    rr.call(&["ZADD", "small", "1", "a", "-2.5", "b", "inf", "c"]);
    let mut big = vec!["ZADD".to_string(), "big".into()];
    for i in 0..2000 {
        big.push(format!("{}", (i * 37 % 1000) as f64 / 3.0));
        big.push(format!("member-{i}"));
    }
    let big: Vec<&str> = big.iter().map(String::as_str).collect();
    rr.call(&big);
    for shards in SHARD_COUNTS {
        let s = Server::start(shards);
        let mut con = s.client();
        for k in ["small", "big"] {
            let payload: Vec<u8> = redis::cmd("DUMP").arg(k).query(&mut rcon).unwrap();
            let _: () = redis::cmd("RESTORE")
                .arg(k)
                .arg(0)
                .arg(&payload)
                .query(&mut con)
                .unwrap();
            assert_eq!(
                zrange_all(&mut con, k),
                zrange_all(&mut rcon, k),
                "{k} into corekv"
            );
            let back: Vec<u8> = redis::cmd("DUMP").arg(k).query(&mut con).unwrap();
            let name = format!("{k}:back{shards}");
            let _: () = redis::cmd("RESTORE")
                .arg(&name)
                .arg(0)
                .arg(&back)
                .query(&mut rcon)
                .unwrap();
            assert_eq!(
                zrange_all(&mut rcon, &name),
                zrange_all(&mut rcon, k),
                "{k} back"
            );
        }
    }
    assert_eq!(rr.call(&["SAVE"]), "+OK\r\n");
    let want = (zrange_all(&mut rcon, "small"), zrange_all(&mut rcon, "big"));
    let s = Server::start_with(4, &["--dir", d]);
    let mut con = s.client();
    assert_eq!(
        (zrange_all(&mut con, "small"), zrange_all(&mut con, "big")),
        want
    );
    let mut r = s.raw();
    check(&mut r, &["ZADD", "small", "7", "d"], ":1\r\n");
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
    assert_eq!(zrange_all(&mut rcon, "big"), want.1);
    assert_eq!(zrange_all(&mut rcon, "small").len(), 4);
}
