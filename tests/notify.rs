//! Keyspace notifications against the real server at 1 and 4 shards: CONFIG SET / GET of
//! notify-keyspace-events, the events of writes on keys spread over every shard (in order per
//! key), `expired` by lazy and by active expiry, `evicted`, `new` and `keymiss`, RESP3 pushes,
//! and nothing at all while notifications are off.

mod common;
use common::*;
use std::time::Duration;

/// Reads messages until `n` arrived; returns (channel, payload) pairs.
fn messages(r: &mut Raw, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|_| {
            let m = r.reply_string();
            let parts: Vec<&str> = m.split("\r\n").collect();
            // [*4|>4, $8, pmessage, $n, pattern, $n, channel, $n, payload, ""]
            assert!(parts[2] == "pmessage", "{m}");
            (parts[6].to_string(), parts[8].to_string())
        })
        .collect()
}

/// The keyevent events of `key`, in arrival order.
fn events_of(msgs: &[(String, String)], key: &str) -> Vec<String> {
    msgs.iter()
        .filter(|(c, p)| c.starts_with("__keyevent@0__:") && p == key)
        .map(|(c, _)| c["__keyevent@0__:".len()..].to_string())
        .collect()
}

#[test]
fn config_flags_in_redis_order() {
    each(|s| {
        let mut r = s.raw();
        let get = |r: &mut Raw| {
            let v = r.call(&["CONFIG", "GET", "notify-keyspace-events"]);
            v.rsplit("\r\n").nth(1).unwrap().to_string()
        };
        assert_eq!(get(&mut r), "");
        for (set, shown) in [
            ("KEA", "AKE"),
            ("Ex", "xE"),
            ("Kg$", "g$K"),
            ("Kmnd", "dnKm"),
        ] {
            check(
                &mut r,
                &["CONFIG", "SET", "notify-keyspace-events", set],
                "+OK\r\n",
            );
            assert_eq!(get(&mut r), shown);
        }
        check(
            &mut r,
            &["CONFIG", "SET", "notify-keyspace-events", "KExq"],
            "-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.\r\n",
        );
        assert_eq!(get(&mut r), "dnKm");
        check(
            &mut r,
            &["CONFIG", "SET", "notify-keyspace-events", ""],
            "+OK\r\n",
        );
    });
}

#[test]
fn writes_on_every_shard_notify_in_order_per_key() {
    each(|s| {
        let mut c = s.raw();
        // Off: nothing is published.
        let mut sub = s.raw();
        sub.call(&["PSUBSCRIBE", "__key*__:*"]);
        c.call(&["SET", "quiet", "1"]);
        check(
            &mut c,
            &["CONFIG", "SET", "notify-keyspace-events", "KEA"],
            "+OK\r\n",
        );
        let keys: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
        for k in &keys {
            c.call(&["SET", k, "1"]);
            c.call(&["INCR", k]);
            c.call(&["EXPIRE", k, "100"]);
            c.call(&["PERSIST", k]);
            c.call(&["APPEND", k, "x"]);
        }
        // A DEL over every shard: one `del` per key that existed.
        let mut del = vec!["DEL"];
        del.extend(keys.iter().map(String::as_str));
        del.push("never-existed");
        check(&mut c, &del, ":8\r\n");
        // A cross-shard RENAME and an MSET over the shards.
        c.call(&["SET", "{a}src", "v"]);
        check(&mut c, &["RENAME", "{a}src", "{b}dst"], "+OK\r\n");
        check(
            &mut c,
            &["MSET", "m1", "1", "m2", "2", "m3", "3"],
            "+OK\r\n",
        );
        check(&mut c, &["EXPIRE", "m1", "-1"], ":1\r\n");
        // Every event twice (keyspace and keyevent): 8 keys x 6, RENAME's 3, MSET's 3, a del.
        let msgs = messages(&mut sub, 2 * (8 * 6 + 3 + 3 + 1));
        assert!(!msgs
            .iter()
            .any(|(c, p)| c.contains("quiet") || p == "quiet"));
        for k in &keys {
            assert_eq!(
                events_of(&msgs, k),
                ["set", "incrby", "expire", "persist", "append", "del"],
                "{k}"
            );
            let space: Vec<&str> = msgs
                .iter()
                .filter(|(ch, _)| ch == &format!("__keyspace@0__:{k}"))
                .map(|(_, p)| p.as_str())
                .collect();
            assert_eq!(
                space,
                ["set", "incrby", "expire", "persist", "append", "del"]
            );
        }
        assert_eq!(events_of(&msgs, "{a}src"), ["set", "rename_from"]);
        assert_eq!(events_of(&msgs, "{b}dst"), ["rename_to"]);
        assert_eq!(events_of(&msgs, "m1"), ["set", "del"]);
        assert_eq!(events_of(&msgs, "m2"), ["set"]);
        check(
            &mut c,
            &["CONFIG", "SET", "notify-keyspace-events", ""],
            "+OK\r\n",
        );
        c.call(&["SET", "quiet", "2"]);
        check(&mut c, &["PING"], "+PONG\r\n");
        // Nothing more arrives: the next thing the subscriber reads is its own PING's reply.
        check(&mut sub, &["PING"], "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    });
}

#[test]
fn expiry_lazy_and_active_and_eviction_notify() {
    each(|s| {
        let mut c = s.raw();
        check(
            &mut c,
            &["CONFIG", "SET", "notify-keyspace-events", "Exe"],
            "+OK\r\n",
        );
        let mut sub = s.raw();
        sub.call(&["HELLO", "3"]);
        sub.call(&[
            "SUBSCRIBE",
            "__keyevent@0__:expired",
            "__keyevent@0__:evicted",
        ]);
        sub.reply();
        // Lazy: GET finds the key expired.
        c.call(&["SET", "lazy", "v", "PX", "30"]);
        std::thread::sleep(Duration::from_millis(60));
        check(&mut c, &["GET", "lazy"], "$-1\r\n");
        assert_eq!(
            sub.reply_string(),
            ">3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:expired\r\n$4\r\nlazy\r\n"
        );
        // Active: nobody touches the keys; the expiry cycle finds them, on every shard.
        for i in 0..6 {
            c.call(&["SET", &format!("active{i}"), "v", "PX", "20"]);
        }
        let mut expired: Vec<String> = (0..6)
            .map(|_| {
                let m = sub.reply_string();
                assert!(m.contains("__keyevent@0__:expired"), "{m}");
                m.rsplit("\r\n").nth(1).unwrap().to_string()
            })
            .collect();
        expired.sort();
        assert_eq!(
            expired,
            (0..6).map(|i| format!("active{i}")).collect::<Vec<_>>()
        );
        // Eviction: over maxmemory, allkeys-random drops keys and says which.
        check(
            &mut c,
            &["CONFIG", "SET", "maxmemory-policy", "allkeys-random"],
            "+OK\r\n",
        );
        let used: u64 = {
            let info = c.call(&["INFO", "memory"]);
            let line = info
                .lines()
                .find(|l| l.starts_with("used_memory:"))
                .unwrap();
            line["used_memory:".len()..].trim().parse().unwrap()
        };
        let limit = (used + (2 << 20)).to_string();
        check(&mut c, &["CONFIG", "SET", "maxmemory", &limit], "+OK\r\n");
        let value = "x".repeat(1000);
        for i in 0..6000 {
            c.call(&["SET", &format!("fill{i}"), &value]);
        }
        let m = sub.reply_string();
        assert!(
            m.contains("__keyevent@0__:evicted") && m.contains("fill"),
            "{m}"
        );
        check(&mut c, &["CONFIG", "SET", "maxmemory", "0"], "+OK\r\n");
        check(
            &mut c,
            &["CONFIG", "SET", "maxmemory-policy", "noeviction"],
            "+OK\r\n",
        );
        check(
            &mut c,
            &["CONFIG", "SET", "notify-keyspace-events", ""],
            "+OK\r\n",
        );
    });
}

#[test]
fn new_and_keymiss_events() {
    each(|s| {
        let mut c = s.raw();
        check(
            &mut c,
            &["CONFIG", "SET", "notify-keyspace-events", "Enm$"],
            "+OK\r\n",
        );
        let mut sub = s.raw();
        sub.call(&["PSUBSCRIBE", "__keyevent@0__:*"]);
        c.call(&["SET", "fresh", "1"]);
        c.call(&["SET", "fresh", "2"]);
        c.call(&["GET", "missing"]);
        let msgs = messages(&mut sub, 4);
        // In order per key (keys on different shards arrive in either order).
        assert_eq!(events_of(&msgs, "fresh"), ["new", "set", "set"]);
        assert_eq!(events_of(&msgs, "missing"), ["keymiss"]);
        check(
            &mut c,
            &["CONFIG", "SET", "notify-keyspace-events", ""],
            "+OK\r\n",
        );
    });
}
