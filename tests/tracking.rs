//! Client-side caching (CLIENT TRACKING) against the real server at 1 and 4 shards: the
//! invalidation pushes of a RESP3 client for keys changed on any shard (once per read), FLUSHALL,
//! expiry, REDIRECT to a RESP2 `__redis__:invalidate` subscriber, BCAST with PREFIX and NOLOOP,
//! OPTIN / OPTOUT with CLIENT CACHING, the bounded table, and the errors and info replies.

mod common;
use common::*;
use std::time::Duration;

fn inval(key: &str) -> String {
    format!(
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n${}\r\n{key}\r\n",
        key.len()
    )
}

/// Reads `n` invalidation pushes; returns their keys, sorted (keys on different shards may
/// arrive in either order).
fn keys_of(r: &mut Raw, n: usize) -> Vec<String> {
    let mut keys: Vec<String> = (0..n)
        .map(|_| {
            let m = r.reply_string();
            assert!(m.starts_with(">2\r\n$10\r\ninvalidate\r\n*1\r\n"), "{m}");
            m.rsplit("\r\n").nth(1).unwrap().to_string()
        })
        .collect();
    keys.sort();
    keys
}

#[test]
fn reads_are_invalidated_once_from_any_shard() {
    each(|s| {
        let mut c = s.raw();
        c.call(&["HELLO", "3"]);
        check(&mut c, &["CLIENT", "TRACKING", "on"], "+OK\r\n");
        let mut w = s.raw();
        let keys = ["k1", "k2", "k3", "k4", "k5", "k6"];
        for k in keys {
            w.call(&["SET", k, "v"]);
            check(&mut c, &["GET", k], "$1\r\nv\r\n");
        }
        for k in keys {
            w.call(&["SET", k, "changed"]);
        }
        assert_eq!(keys_of(&mut c, 6), keys);
        // Not read again: not tracked any more, no second invalidation.
        w.call(&["SET", "k1", "again"]);
        check(&mut c, &["PING"], "+PONG\r\n");
        // MGET over the shards tracks every key; DEL invalidates.
        c.call(&["MGET", "k1", "k2", "k3"]);
        w.call(&["DEL", "k1", "k2", "k3"]);
        assert_eq!(keys_of(&mut c, 3), ["k1", "k2", "k3"]);
        // An expiring key is invalidated when it expires.
        w.call(&["SET", "soon", "v", "PX", "50"]);
        c.call(&["GET", "soon"]);
        assert_eq!(c.reply_string(), inval("soon"));
        // FLUSHALL: one null invalidation.
        c.call(&["GET", "k4"]);
        w.call(&["FLUSHALL"]);
        assert_eq!(c.reply_string(), ">2\r\n$10\r\ninvalidate\r\n_\r\n");
        check(&mut c, &["PING"], "+PONG\r\n");
        check(&mut c, &["CLIENT", "TRACKING", "off"], "+OK\r\n");
        c.call(&["GET", "k5"]);
        w.call(&["SET", "k5", "x"]);
        check(&mut c, &["PING"], "+PONG\r\n");
    });
}

#[test]
fn redirect_to_a_resp2_subscriber() {
    each(|s| {
        let mut r = s.raw();
        let id = int_of(&mut r, &["CLIENT", "ID"]);
        r.call(&["SUBSCRIBE", "__redis__:invalidate"]);
        let mut c = s.raw();
        let id_s = id.to_string();
        check(
            &mut c,
            &["CLIENT", "TRACKING", "on", "REDIRECT", &id_s],
            "+OK\r\n",
        );
        check(&mut c, &["CLIENT", "GETREDIR"], &format!(":{id}\r\n"));
        let mut w = s.raw();
        for k in ["x1", "x2", "x3", "x4"] {
            c.call(&["GET", k]);
            w.call(&["SET", k, "1"]);
        }
        let mut got: Vec<String> = (0..4)
            .map(|_| {
                let m = r.reply_string();
                assert!(
                    m.starts_with("*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n"),
                    "{m}"
                );
                m.rsplit("\r\n").nth(1).unwrap().to_string()
            })
            .collect();
        got.sort();
        assert_eq!(got, ["x1", "x2", "x3", "x4"]);
    });
}

#[test]
fn bcast_prefixes_noloop_and_optin_optout() {
    each(|s| {
        let mut b = s.raw();
        b.call(&["HELLO", "3"]);
        check(
            &mut b,
            &[
                "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:", "NOLOOP",
            ],
            "+OK\r\n",
        );
        let mut w = s.raw();
        for k in ["user:1", "user:2", "other:1", "user:3"] {
            w.call(&["SET", k, "v"]);
        }
        assert_eq!(keys_of(&mut b, 3), ["user:1", "user:2", "user:3"]);
        // NOLOOP: not told about its own write.
        check(&mut b, &["SET", "user:self", "v"], "+OK\r\n");
        check(&mut b, &["PING"], "+PONG\r\n");
        check(
            &mut b,
            &["CLIENT", "TRACKINGINFO"],
            "%3\r\n$5\r\nflags\r\n~3\r\n$2\r\non\r\n$5\r\nbcast\r\n$6\r\nnoloop\r\n$8\r\nredirect\r\n:0\r\n$8\r\nprefixes\r\n*1\r\n$5\r\nuser:\r\n",
        );
        // OPTIN: only reads right after CLIENT CACHING yes are tracked.
        let mut o = s.raw();
        o.call(&["HELLO", "3"]);
        check(&mut o, &["CLIENT", "TRACKING", "on", "OPTIN"], "+OK\r\n");
        o.call(&["GET", "a1"]);
        check(&mut o, &["CLIENT", "CACHING", "yes"], "+OK\r\n");
        o.call(&["GET", "a2"]);
        o.call(&["GET", "a3"]);
        for k in ["a1", "a2", "a3"] {
            w.call(&["SET", k, "v"]);
        }
        assert_eq!(keys_of(&mut o, 1), ["a2"]);
        check(&mut o, &["PING"], "+PONG\r\n");
        // OPTOUT: every read but the one after CLIENT CACHING no.
        let mut p = s.raw();
        p.call(&["HELLO", "3"]);
        check(&mut p, &["CLIENT", "TRACKING", "on", "OPTOUT"], "+OK\r\n");
        check(&mut p, &["CLIENT", "CACHING", "no"], "+OK\r\n");
        p.call(&["GET", "b1"]);
        p.call(&["GET", "b2"]);
        w.call(&["SET", "b1", "v"]);
        w.call(&["SET", "b2", "v"]);
        assert_eq!(keys_of(&mut p, 1), ["b2"]);
    });
}

#[test]
fn the_table_is_bounded() {
    each(|s| {
        let mut c = s.raw();
        check(
            &mut c,
            &["CONFIG", "SET", "tracking-table-max-keys", "8"],
            "+OK\r\n",
        );
        c.call(&["HELLO", "3"]);
        c.call(&["CLIENT", "TRACKING", "on"]);
        // 40 reads: past the limit, the table drops keys and says so.
        let mut dropped = 0;
        for i in 0..40 {
            c.send(&cmd(&["GET", &format!("t{i}")]));
            loop {
                let m = c.reply_string();
                if m.starts_with(">2") {
                    dropped += 1;
                } else {
                    assert_eq!(m, "_\r\n");
                    break;
                }
            }
        }
        assert!(
            eventually(Duration::from_secs(2), || {
                c.send(&cmd(&["PING"]));
                loop {
                    let m = c.reply_string();
                    if m.starts_with(">2") {
                        dropped += 1;
                    } else {
                        break;
                    }
                }
                dropped >= 40 - 8 - 4
            }),
            "{dropped}"
        );
        check(
            &mut c,
            &["CONFIG", "SET", "tracking-table-max-keys", "1000000"],
            "+OK\r\n",
        );
    });
}

#[test]
fn errors_and_info() {
    each(|s| {
        let mut c = s.raw();
        check(&mut c, &["CLIENT", "GETREDIR"], ":-1\r\n");
        check(
            &mut c,
            &["CLIENT", "TRACKING", "on", "REDIRECT", "987654"],
            "-ERR The client ID you want redirect to does not exist\r\n",
        );
        check(&mut c, &["CLIENT", "GETREDIR"], ":-1\r\n");
        // A redirect client on any core is found (several connections: some on other cores).
        let others: Vec<Raw> = (0..6).map(|_| s.raw()).collect();
        for mut o in others {
            let id = int_of(&mut o, &["CLIENT", "ID"]).to_string();
            check(
                &mut c,
                &["CLIENT", "TRACKING", "on", "REDIRECT", &id],
                "+OK\r\n",
            );
            check(&mut c, &["CLIENT", "GETREDIR"], &format!(":{id}\r\n"));
            check(&mut c, &["CLIENT", "TRACKING", "off"], "+OK\r\n");
        }
        check(
            &mut c,
            &["CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"],
            "-ERR You can't specify both OPTIN mode and OPTOUT mode\r\n",
        );
        check(
            &mut c,
            &["CLIENT", "TRACKING", "on", "PREFIX", "a"],
            "-ERR PREFIX option requires BCAST mode to be enabled\r\n",
        );
        check(&mut c, &["CLIENT", "CACHING", "yes"], "-ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled\r\n");
        check(
            &mut c,
            &["CLIENT", "TRACKING", "maybe"],
            "-ERR syntax error\r\n",
        );
        check(&mut c, &["CLIENT", "TRACKING", "on"], "+OK\r\n");
        check(&mut c, &["CLIENT", "GETREDIR"], ":0\r\n");
        check(&mut c, &["CLIENT", "TRACKINGINFO"], "*6\r\n$5\r\nflags\r\n*1\r\n$2\r\non\r\n$8\r\nredirect\r\n:0\r\n$8\r\nprefixes\r\n*0\r\n");
        check(&mut c, &["CLIENT", "TRACKING", "on", "BCAST"], "-ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.\r\n");
        check(&mut c, &["CLIENT", "TRACKING", "off"], "+OK\r\n");
        check(&mut c, &["CLIENT", "TRACKINGINFO"], "*6\r\n$5\r\nflags\r\n*1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n");
    });
}
