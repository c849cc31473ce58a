//! The hooks every write feeds, for hashes and sets, at 1 and 4 shards: keyspace notifications
//! (the same events, in the same order, as redis-server 7.0.15 publishes for the same script,
//! including cross-shard SMOVE, SINTERSTORE and COPY), WATCH (an HSET that rewrites a field with
//! its own value still aborts EXEC, a write that changes nothing does not), and client tracking
//! (reading a hash or a set tracks it; changing it invalidates it).

mod common;
use common::*;

/// Reads keyevent messages until `n` arrived: (event, key) pairs.
fn events(r: &mut Raw, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|_| {
            let m = r.reply_string();
            let parts: Vec<&str> = m.split("\r\n").collect();
            assert_eq!(parts[2], "pmessage", "{m}");
            let event = parts[6].trim_start_matches("__keyevent@0__:").to_string();
            (event, parts[8].to_string())
        })
        .collect()
}

/// Lists and sorted sets: redis-server 7.0.15's events for the same script, key by key.
#[test]
fn list_and_sorted_set_writes_notify_as_redis_does() {
    each(|s| {
        let mut c = s.raw();
        let mut sub = s.raw();
        check(
            &mut c,
            &["CONFIG", "SET", "notify-keyspace-events", "KEA"],
            "+OK\r\n",
        );
        sub.call(&["PSUBSCRIBE", "__keyevent@0__:*"]);
        for cmd in [
            vec!["RPUSH", "l", "a", "b", "c"],
            vec!["LPUSH", "l", "z"],
            vec!["LPUSHX", "l", "y"],
            vec!["RPUSHX", "nol", "y"],
            vec!["LSET", "l", "0", "Y"],
            vec!["LINSERT", "l", "BEFORE", "a", "i"],
            vec!["LREM", "l", "1", "i"],
            vec!["LTRIM", "l", "1", "-1"],
            vec!["LPOP", "l"],
            vec!["RPOP", "l", "1"],
            vec!["RPUSH", "m", "1", "2"],
            vec!["LMOVE", "m", "n", "LEFT", "RIGHT"],
            vec!["RPOPLPUSH", "m", "n"],
            vec!["LMPOP", "1", "n", "LEFT", "COUNT", "5"],
            vec!["BLPOP", "l", "0"],
            vec!["LPOP", "l", "9"],
            vec!["ZADD", "zs", "1", "a", "2", "b", "3", "c"],
            vec!["ZADD", "zs", "1", "a"],
            vec!["ZINCRBY", "zs", "1", "a"],
            vec!["ZADD", "zs", "INCR", "1", "b"],
            vec!["ZREM", "zs", "c"],
            vec!["ZPOPMIN", "zs"],
            vec!["ZADD", "zs", "5", "x", "6", "y"],
            vec!["ZREMRANGEBYRANK", "zs", "0", "0"],
            vec!["ZREMRANGEBYSCORE", "zs", "5", "5"],
            vec!["ZADD", "zs", "0", "p", "0", "q"],
            vec!["ZREMRANGEBYLEX", "zs", "[p", "[p"],
            vec!["ZUNIONSTORE", "zu", "1", "zs"],
            vec!["ZINTERSTORE", "zu", "1", "nozs"],
            vec!["ZRANGESTORE", "zr", "zs", "0", "-1"],
            vec!["ZMPOP", "1", "zs", "MAX"],
            vec!["BZPOPMIN", "zs", "0"],
            vec!["ZPOPMAX", "zr"],
            // Keys named like the side arguments.
            vec!["RPUSH", "left", "a", "b"],
            vec!["LMPOP", "1", "left", "RIGHT"],
            vec!["ZADD", "max", "1", "a", "2", "b"],
            vec!["ZMPOP", "1", "max", "MIN"],
        ] {
            let rep = c.call(&cmd);
            assert!(!rep.starts_with('-'), "{cmd:?}: {rep}");
        }
        let got = events(&mut sub, 41);
        // redis-server 7.0.15's events for this script.
        let want: Vec<(&str, &str)> = vec![
            ("rpush", "l"),
            ("lpush", "l"),
            ("lpush", "l"),
            ("lset", "l"),
            ("linsert", "l"),
            ("lrem", "l"),
            ("ltrim", "l"),
            ("lpop", "l"),
            ("rpop", "l"),
            ("rpush", "m"),
            ("rpush", "n"),
            ("lpop", "m"),
            ("lpush", "n"),
            ("rpop", "m"),
            ("del", "m"),
            ("lpop", "n"),
            ("del", "n"),
            ("lpop", "l"),
            ("lpop", "l"),
            ("del", "l"),
            ("zadd", "zs"),
            ("zincr", "zs"),
            ("zincr", "zs"),
            ("zrem", "zs"),
            ("zpopmin", "zs"),
            ("zadd", "zs"),
            ("zremrangebyrank", "zs"),
            ("zremrangebyscore", "zs"),
            ("zadd", "zs"),
            ("zremrangebylex", "zs"),
            ("zunionstore", "zu"),
            ("del", "zu"),
            ("zrangestore", "zr"),
            ("zpopmax", "zs"),
            ("zpopmin", "zs"),
            ("del", "zs"),
            ("zpopmax", "zr"),
            ("rpush", "left"),
            ("rpop", "left"),
            ("zadd", "max"),
            ("zpopmin", "max"),
        ];
        for key in ["l", "m", "n", "zs", "zu", "zr", "left", "max"] {
            let mine: Vec<&str> = got
                .iter()
                .filter(|(_, k)| k == key)
                .map(|(e, _)| e.as_str())
                .collect();
            let theirs: Vec<&str> = want
                .iter()
                .filter(|(_, k)| *k == key)
                .map(|(e, _)| *e)
                .collect();
            assert_eq!(mine, theirs, "events on {key} at {} shards", s.shards);
        }
        if s.shards == 1 {
            let all: Vec<(&str, &str)> =
                got.iter().map(|(e, k)| (e.as_str(), k.as_str())).collect();
            assert_eq!(all, want);
        }
    });
}

#[test]
fn hash_and_set_writes_notify_as_redis_does() {
    each(|s| {
        let mut c = s.raw();
        let mut sub = s.raw();
        check(
            &mut c,
            &["CONFIG", "SET", "notify-keyspace-events", "KEA"],
            "+OK\r\n",
        );
        sub.call(&["PSUBSCRIBE", "__keyevent@0__:*"]);
        for cmd in [
            vec!["HSET", "h", "a", "1"],
            vec!["HSET", "h", "a", "1"],
            vec!["HSETNX", "h", "a", "2"],
            vec!["HINCRBY", "h", "n", "1"],
            vec!["HINCRBYFLOAT", "h", "f", "1.5"],
            vec!["HDEL", "h", "a", "n", "f"],
            vec!["SADD", "s", "1", "2"],
            vec!["SADD", "s", "1"],
            vec!["SREM", "s", "1"],
            vec!["SPOP", "s"],
            vec!["SADD", "x", "a"],
            vec!["SMOVE", "x", "y", "a"],
            vec!["SINTERSTORE", "d", "y", "y"],
            vec!["SINTERSTORE", "d", "nokey"],
            vec!["COPY", "y", "z"],
            vec!["SPOP", "y", "5"],
        ] {
            let rep = c.call(&cmd);
            assert!(!rep.starts_with('-'), "{cmd:?}: {rep}");
        }
        let got = events(&mut sub, 19);
        // Events on one key come in order; keys on different shards may interleave, so compare
        // each key's own sequence (the whole list is redis-server 7.0.15's for this script).
        let want: Vec<(&str, &str)> = vec![
            ("hset", "h"),
            ("hset", "h"),
            ("hincrby", "h"),
            ("hincrbyfloat", "h"),
            ("hdel", "h"),
            ("del", "h"),
            ("sadd", "s"),
            ("srem", "s"),
            ("spop", "s"),
            ("del", "s"),
            ("sadd", "x"),
            ("srem", "x"),
            ("del", "x"),
            ("sadd", "y"),
            ("sinterstore", "d"),
            ("del", "d"),
            ("copy_to", "z"),
            ("spop", "y"),
            ("del", "y"),
        ];
        for key in ["h", "s", "x", "y", "d", "z"] {
            let of = |v: Vec<(String, String)>| -> Vec<String> {
                v.into_iter()
                    .filter(|(_, k)| k == key)
                    .map(|(e, _)| e)
                    .collect()
            };
            let w = want
                .iter()
                .map(|(e, k)| (e.to_string(), k.to_string()))
                .collect();
            assert_eq!(of(got.clone()), of(w), "events of {key}");
        }
        check(&mut sub, &["PING"], "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    });
}

#[test]
fn watch_sees_every_hash_and_set_change() {
    each(|s| {
        let mut c = s.raw();
        let mut w = s.raw();
        check(&mut w, &["HSET", "h", "f", "v"], ":1\r\n");
        check(&mut w, &["SADD", "s", "m"], ":1\r\n");
        // HSET answers 0 (no new field) yet it wrote: EXEC aborts, as in Redis.
        check(&mut c, &["WATCH", "h"], "+OK\r\n");
        check(&mut w, &["HSET", "h", "f", "v"], ":0\r\n");
        check(&mut c, &["MULTI"], "+OK\r\n");
        check(&mut c, &["PING"], "+QUEUED\r\n");
        check(&mut c, &["EXEC"], "*-1\r\n");
        // A removal of nothing changes nothing: EXEC runs.
        check(&mut c, &["WATCH", "s"], "+OK\r\n");
        check(&mut w, &["SREM", "s", "absent"], ":0\r\n");
        check(&mut w, &["SADD", "s", "m"], ":0\r\n");
        check(&mut c, &["MULTI"], "+OK\r\n");
        check(&mut c, &["PING"], "+QUEUED\r\n");
        check(&mut c, &["EXEC"], "*1\r\n+PONG\r\n");
        // A cross-shard SMOVE touches both sets.
        check(&mut c, &["WATCH", "{t}dst"], "+OK\r\n");
        check(&mut w, &["SMOVE", "s", "{t}dst", "m"], ":1\r\n");
        check(&mut c, &["MULTI"], "+OK\r\n");
        check(&mut c, &["PING"], "+QUEUED\r\n");
        check(&mut c, &["EXEC"], "*-1\r\n");
    });
}

#[test]
fn tracked_hash_and_set_reads_are_invalidated() {
    each(|s| {
        let mut c = s.raw();
        c.call(&["HELLO", "3"]);
        check(&mut c, &["CLIENT", "TRACKING", "on"], "+OK\r\n");
        let mut w = s.raw();
        check(&mut w, &["HSET", "h", "f", "v"], ":1\r\n");
        check(&mut w, &["SADD", "s", "m"], ":1\r\n");
        check(&mut c, &["HGET", "h", "f"], "$1\r\nv\r\n");
        check(&mut c, &["SISMEMBER", "s", "m"], ":1\r\n");
        check(&mut w, &["HINCRBY", "h", "n", "1"], ":1\r\n");
        assert_eq!(
            c.reply_string(),
            ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nh\r\n"
        );
        check(&mut w, &["SINTERSTORE", "s", "s", "{x}other"], ":0\r\n");
        assert_eq!(
            c.reply_string(),
            ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\ns\r\n"
        );
        check(&mut c, &["PING"], "+PONG\r\n");
    });
}
