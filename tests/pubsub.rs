//! Pub/sub against the real server at 1 and 4 shards: the golden bytes of every confirmation and
//! message in RESP2 and RESP3, delivery to subscribers on every core in publish order, pattern
//! and shard channels, RESP2's subscribed mode, PUBSUB's queries, idle subscribers woken by a
//! publish, a subscriber that never reads closed by its output buffer limit while everyone else
//! carries on, RESET and disconnects leaving the registry, a script's PUBLISH, and redis-cli -3.

mod common;
use common::*;
use std::io::Read;
use std::time::Duration;

/// Reads one reply and returns it as text.
fn next(r: &mut Raw) -> String {
    r.reply_string()
}

#[test]
fn golden_bytes_in_resp2_and_resp3() {
    each(|s| {
        let mut sub = s.raw();
        let mut publ = s.raw();
        check(
            &mut sub,
            &["UNSUBSCRIBE"],
            "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n",
        );
        check(
            &mut sub,
            &["PUNSUBSCRIBE"],
            "*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n",
        );
        sub.send(&cmd(&["SUBSCRIBE", "news", "sport"]));
        assert_eq!(
            next(&mut sub),
            "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
        );
        assert_eq!(
            next(&mut sub),
            "*3\r\n$9\r\nsubscribe\r\n$5\r\nsport\r\n:2\r\n"
        );
        check(
            &mut sub,
            &["PSUBSCRIBE", "n*"],
            "*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:3\r\n",
        );
        check(
            &mut sub,
            &["SSUBSCRIBE", "{s}1"],
            "*3\r\n$10\r\nssubscribe\r\n$4\r\n{s}1\r\n:1\r\n",
        );
        check(&mut publ, &["PUBLISH", "news", "hello"], ":2\r\n");
        assert_eq!(
            next(&mut sub),
            "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"
        );
        assert_eq!(
            next(&mut sub),
            "*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$5\r\nhello\r\n"
        );
        check(&mut publ, &["SPUBLISH", "{s}1", "x"], ":1\r\n");
        assert_eq!(
            next(&mut sub),
            "*3\r\n$8\r\nsmessage\r\n$4\r\n{s}1\r\n$1\r\nx\r\n"
        );
        check(&mut publ, &["PUBLISH", "other", "x"], ":0\r\n");
        check(
            &mut sub,
            &["UNSUBSCRIBE", "sport"],
            "*3\r\n$11\r\nunsubscribe\r\n$5\r\nsport\r\n:2\r\n",
        );
        check(
            &mut sub,
            &["PUNSUBSCRIBE", "n*"],
            "*3\r\n$12\r\npunsubscribe\r\n$2\r\nn*\r\n:1\r\n",
        );
        check(
            &mut sub,
            &["SUNSUBSCRIBE"],
            "*3\r\n$12\r\nsunsubscribe\r\n$4\r\n{s}1\r\n:0\r\n",
        );
        check(
            &mut sub,
            &["UNSUBSCRIBE"],
            "*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:0\r\n",
        );
        // Out of subscribed mode: any command again.
        check(&mut sub, &["GET", "k"], "$-1\r\n");

        // RESP3: confirmations and messages are pushes, nulls are `_`, and a subscribed
        // connection may run any command.
        let mut s3 = s.raw();
        s3.call(&["HELLO", "3"]);
        check(
            &mut s3,
            &["UNSUBSCRIBE"],
            ">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n",
        );
        check(
            &mut s3,
            &["SUBSCRIBE", "news"],
            ">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n",
        );
        check(
            &mut s3,
            &["PSUBSCRIBE", "*s"],
            ">3\r\n$10\r\npsubscribe\r\n$2\r\n*s\r\n:2\r\n",
        );
        check(
            &mut s3,
            &["SSUBSCRIBE", "sc"],
            ">3\r\n$10\r\nssubscribe\r\n$2\r\nsc\r\n:1\r\n",
        );
        check(&mut s3, &["GET", "k"], "_\r\n");
        check(&mut s3, &["PING"], "+PONG\r\n");
        check(&mut publ, &["PUBLISH", "news", "m"], ":2\r\n");
        assert_eq!(
            next(&mut s3),
            ">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$1\r\nm\r\n"
        );
        assert_eq!(
            next(&mut s3),
            ">4\r\n$8\r\npmessage\r\n$2\r\n*s\r\n$4\r\nnews\r\n$1\r\nm\r\n"
        );
        check(&mut publ, &["SPUBLISH", "sc", "v"], ":1\r\n");
        assert_eq!(
            next(&mut s3),
            ">3\r\n$8\r\nsmessage\r\n$2\r\nsc\r\n$1\r\nv\r\n"
        );
        // Publishing to itself, the connection gets its messages before PUBLISH's reply.
        s3.send(&cmd(&["PUBLISH", "news", "self"]));
        assert_eq!(
            next(&mut s3),
            ">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$4\r\nself\r\n"
        );
        assert_eq!(
            next(&mut s3),
            ">4\r\n$8\r\npmessage\r\n$2\r\n*s\r\n$4\r\nnews\r\n$4\r\nself\r\n"
        );
        assert_eq!(next(&mut s3), ":2\r\n");
        // HELLO 2 while subscribed: messages follow the new protocol.
        s3.call(&["HELLO", "2"]);
        check(&mut publ, &["PUBLISH", "news", "m2"], ":2\r\n");
        assert_eq!(
            next(&mut s3),
            "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nm2\r\n"
        );
    });
}

#[test]
fn resp2_subscribed_mode_allows_only_the_subscribe_family() {
    each(|s| {
        let mut r = s.raw();
        r.call(&["SUBSCRIBE", "a"]);
        let refused = |name: &str| {
            format!("-ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n")
        };
        check(&mut r, &["GET", "k"], &refused("get"));
        check(&mut r, &["PUBLISH", "a", "x"], &refused("publish"));
        check(&mut r, &["MULTI"], &refused("multi"));
        check(&mut r, &["PING"], "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
        check(&mut r, &["PING", "hi"], "*2\r\n$4\r\npong\r\n$2\r\nhi\r\n");
        // Unknown commands and wrong arity are refused first, as in Redis.
        check_arity(&mut r, &["GET"]);
        // RESET leaves subscribed mode and the registry.
        check(&mut r, &["RESET"], "+RESET\r\n");
        check(&mut r, &["GET", "k"], "$-1\r\n");
        check(
            &mut r,
            &["PUBSUB", "NUMSUB", "a"],
            "*2\r\n$1\r\na\r\n:0\r\n",
        );
        // SUBSCRIBE inside MULTI answers in EXEC's array.
        r.call(&["MULTI"]);
        check(&mut r, &["SUBSCRIBE", "t"], "+QUEUED\r\n");
        check(
            &mut r,
            &["EXEC"],
            "*1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nt\r\n:1\r\n",
        );
        check(&mut r, &["PING"], "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
        check(&mut r, &["QUIT"], "+OK\r\n");
        assert!(r.is_closed());
    });
}

#[test]
fn publish_reaches_subscribers_on_every_core_in_order() {
    each(|s| {
        // Enough connections that, at 4 shards, every core has subscribers.
        let mut subs: Vec<Raw> = (0..12).map(|_| s.raw()).collect();
        for (i, r) in subs.iter_mut().enumerate() {
            if i % 2 == 0 {
                check(
                    r,
                    &["SUBSCRIBE", "orders"],
                    "*3\r\n$9\r\nsubscribe\r\n$6\r\norders\r\n:1\r\n",
                );
            } else {
                check(
                    r,
                    &["PSUBSCRIBE", "ord*"],
                    "*3\r\n$10\r\npsubscribe\r\n$4\r\nord*\r\n:1\r\n",
                );
            }
        }
        let mut admin = s.raw();
        check(
            &mut admin,
            &["PUBSUB", "NUMSUB", "orders", "none"],
            "*4\r\n$6\r\norders\r\n:6\r\n$4\r\nnone\r\n:0\r\n",
        );
        check(&mut admin, &["PUBSUB", "NUMPAT"], ":1\r\n");
        check(
            &mut admin,
            &["PUBSUB", "CHANNELS"],
            "*1\r\n$6\r\norders\r\n",
        );
        check(&mut admin, &["PUBSUB", "CHANNELS", "x*"], "*0\r\n");
        let info = admin.call(&["INFO", "stats"]);
        assert!(
            info.contains("pubsub_channels:1\r\npubsub_patterns:1\r\n"),
            "{info}"
        );
        // Two publishers, each pipelining its messages: every subscriber sees each publisher's
        // messages in publish order, and every PUBLISH counts all 12 receivers.
        let mut p1 = s.raw();
        let mut p2 = s.raw();
        const N: usize = 300;
        let mut batch1 = Vec::new();
        let mut batch2 = Vec::new();
        for i in 0..N {
            batch1.extend(cmd(&["PUBLISH", "orders", &format!("a{i}")]));
            batch2.extend(cmd(&["PUBLISH", "orders", &format!("b{i}")]));
        }
        p1.send(&batch1);
        p2.send(&batch2);
        for _ in 0..N {
            assert_eq!(next(&mut p1), ":12\r\n");
            assert_eq!(next(&mut p2), ":12\r\n");
        }
        for (i, r) in subs.iter_mut().enumerate() {
            let (mut a, mut b) = (0, 0);
            for _ in 0..2 * N {
                let m = next(r);
                let body = m.rsplit("\r\n").nth(1).unwrap().to_string();
                if i % 2 == 1 {
                    assert!(
                        m.starts_with("*4\r\n$8\r\npmessage\r\n$4\r\nord*\r\n$6\r\norders\r\n"),
                        "{m}"
                    );
                }
                if body.starts_with('a') {
                    assert_eq!(body, format!("a{a}"), "subscriber {i}");
                    a += 1;
                } else {
                    assert_eq!(body, format!("b{b}"), "subscriber {i}");
                    b += 1;
                }
            }
            assert_eq!((a, b), (N, N));
        }
        // A disconnected subscriber leaves the registry of its core.
        drop(subs);
        assert!(eventually(Duration::from_secs(5), || {
            admin.call(&["PUBSUB", "NUMSUB", "orders"]) == "*2\r\n$6\r\norders\r\n:0\r\n"
                && admin.call(&["PUBSUB", "NUMPAT"]) == ":0\r\n"
        }));
        check(&mut admin, &["PUBLISH", "orders", "x"], ":0\r\n");
    });
}

#[test]
fn a_publish_skips_cores_without_subscribers() {
    each(|s| {
        let mut c = s.raw();
        let sent = |c: &mut Raw| -> i64 {
            let info = c.call(&["INFO", "hops"]);
            let line = info.lines().find(|l| l.starts_with("hops_sent:")).unwrap();
            line["hops_sent:".len()..].trim().parse().unwrap()
        };
        let quiet = {
            let a = sent(&mut c);
            sent(&mut c) - a
        };
        let a = sent(&mut c);
        for _ in 0..50 {
            check(&mut c, &["PUBLISH", "nobody", "x"], ":0\r\n");
        }
        // Nobody subscribed anywhere: no PUBLISH crossed a core (only INFO's own hops did).
        assert_eq!(sent(&mut c) - a, quiet);
    });
}

#[test]
fn an_idle_subscriber_is_woken_and_timeouts_spare_it() {
    each(|s| {
        let mut admin = s.raw();
        check(&mut admin, &["CONFIG", "SET", "timeout", "1"], "+OK\r\n");
        let mut sub = s.raw();
        sub.call(&["SUBSCRIBE", "wake"]);
        // Idle past the timeout: a subscriber is never closed for it (as in Redis).
        std::thread::sleep(Duration::from_millis(2200));
        let mut p = s.raw();
        check(&mut p, &["PUBLISH", "wake", "up"], ":1\r\n");
        assert_eq!(
            next(&mut sub),
            "*3\r\n$7\r\nmessage\r\n$4\r\nwake\r\n$2\r\nup\r\n"
        );
        check(&mut p, &["CONFIG", "SET", "timeout", "0"], "+OK\r\n");
    });
}

#[test]
fn shard_channels_and_pubsub_queries() {
    each(|s| {
        let mut a = s.raw();
        let mut b = s.raw();
        a.call(&["SSUBSCRIBE", "s1", "s2"]);
        next(&mut a);
        b.call(&["SSUBSCRIBE", "s1"]);
        b.call(&["SUBSCRIBE", "s1"]);
        let mut q = s.raw();
        let mut chans = q.call(&["PUBSUB", "SHARDCHANNELS"]);
        assert!(
            chans == "*2\r\n$2\r\ns1\r\n$2\r\ns2\r\n" || chans == "*2\r\n$2\r\ns2\r\n$2\r\ns1\r\n",
            "{chans}"
        );
        chans = q.call(&["PUBSUB", "SHARDCHANNELS", "*2"]);
        assert_eq!(chans, "*1\r\n$2\r\ns2\r\n");
        check(
            &mut q,
            &["PUBSUB", "SHARDNUMSUB", "s1", "s2", "s3"],
            "*6\r\n$2\r\ns1\r\n:2\r\n$2\r\ns2\r\n:1\r\n$2\r\ns3\r\n:0\r\n",
        );
        check(
            &mut q,
            &["PUBSUB", "NUMSUB", "s1"],
            "*2\r\n$2\r\ns1\r\n:1\r\n",
        );
        check(&mut q, &["PUBSUB", "SHARDNUMSUB"], "*0\r\n");
        // Shard and plain channels are separate namespaces.
        check(&mut q, &["SPUBLISH", "s1", "x"], ":2\r\n");
        check(&mut q, &["PUBLISH", "s1", "y"], ":1\r\n");
        let info = q.call(&["INFO", "stats"]);
        assert!(info.contains("pubsubshard_channels:2\r\n"), "{info}");
        check(
            &mut q,
            &["PUBSUB", "NUMPAT", "x"],
            "-ERR wrong number of arguments for 'pubsub|numpat' command\r\n",
        );
        check(
            &mut q,
            &["PUBSUB", "FOO"],
            "-ERR unknown subcommand 'FOO'. Try PUBSUB HELP.\r\n",
        );
        check_arity(&mut q, &["PUBLISH", "a"]);
        check_arity(&mut q, &["SUBSCRIBE"]);
        assert!(q
            .call(&["PUBSUB", "HELP"])
            .starts_with("*14\r\n+PUBSUB <subcommand>"));
    });
}

#[test]
fn a_subscriber_that_never_reads_is_closed_and_nobody_else_notices() {
    each(|s| {
        let mut admin = s.raw();
        check(
            &mut admin,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub 1mb 256kb 60",
            ],
            "+OK\r\n",
        );
        check(&mut admin, &["CONFIG", "GET", "client-output-buffer-limit"], "*2\r\n$26\r\nclient-output-buffer-limit\r\n$65\r\nnormal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 262144 60\r\n");
        // The stuck subscriber: a tiny receive buffer, and it never reads.
        let stuck = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        socket2::SockRef::from(&stuck)
            .set_recv_buffer_size(4096)
            .unwrap();
        let mut stuck = Raw::from_stream(stuck);
        check(
            &mut stuck,
            &["SUBSCRIBE", "flood"],
            "*3\r\n$9\r\nsubscribe\r\n$5\r\nflood\r\n:1\r\n",
        );
        let mut good = s.raw();
        good.call(&["SUBSCRIBE", "flood"]);
        let mut other = s.raw();
        let mut p = s.raw();
        let msg = "x".repeat(8192);
        // 24 MB published (more than the kernel's socket buffers take): the stuck one passes
        // its 1 MB hard limit and is closed; the good subscriber, which reads, gets every
        // message, and other clients carry on.
        for i in 0..3000 {
            p.send(&cmd(&["PUBLISH", "flood", &msg]));
            let n = next(&mut p);
            assert!(n == ":2\r\n" || n == ":1\r\n", "{n}");
            assert!(
                next(&mut good).ends_with(&format!("{msg}\r\n")),
                "message {i}"
            );
            if i % 100 == 0 {
                check(&mut other, &["SET", "k", "v"], "+OK\r\n");
            }
        }
        check(&mut p, &["PUBLISH", "flood", "x"], ":1\r\n");
        let info = admin.call(&["INFO", "stats"]);
        assert!(
            info.contains("client_output_buffer_limit_disconnections:1\r\n"),
            "{info}"
        );
        // The closed subscriber's connection is gone from the server (whatever the kernel
        // had buffered for it is all it gets).
        assert!(eventually(Duration::from_secs(5), || {
            admin
                .call(&["INFO", "clients"])
                .contains("connected_clients:4\r\n")
        }));
        drop(stuck);
        // The soft limit: over it for longer than its seconds closes a subscriber too.
        check(
            &mut admin,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub 0 16kb 1",
            ],
            "+OK\r\n",
        );
        let slow = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        socket2::SockRef::from(&slow)
            .set_recv_buffer_size(4096)
            .unwrap();
        let mut slow = Raw::from_stream(slow);
        slow.call(&["SUBSCRIBE", "soft"]);
        let mut closed = false;
        for _ in 0..2000 {
            if p.call(&["PUBLISH", "soft", &msg]) == ":0\r\n" {
                closed = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(closed, "soft limit never closed the slow subscriber");
        check(
            &mut admin,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub 32mb 8mb 60",
            ],
            "+OK\r\n",
        );
        check(&mut other, &["GET", "k"], "$1\r\nv\r\n");
    });
}

#[test]
fn a_scripts_publish_reaches_every_core() {
    each(|s| {
        let mut subs: Vec<Raw> = (0..8).map(|_| s.raw()).collect();
        for r in subs.iter_mut() {
            r.call(&["SUBSCRIBE", "fromlua"]);
        }
        let mut c = s.raw();
        let n = int_of(
            &mut c,
            &[
                "EVAL",
                "return redis.call('PUBLISH', 'fromlua', ARGV[1])",
                "0",
                "hi",
            ],
        );
        // Only the receivers on the script's own core are counted (maybe none); every
        // subscriber gets the message, the other cores through the forwarder.
        assert!((0..=8).contains(&n), "{n}");
        for r in subs.iter_mut() {
            assert_eq!(
                next(r),
                "*3\r\n$7\r\nmessage\r\n$7\r\nfromlua\r\n$2\r\nhi\r\n"
            );
        }
    });
}

#[test]
fn redis_cli_resp3_subscriber() {
    if !have_tool("redis-cli") {
        return;
    }
    each(|s| {
        let mut child = std::process::Command::new("redis-cli")
            .args(["-3", "-p", &s.port.to_string(), "SUBSCRIBE", "cli"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut p = s.raw();
        assert!(eventually(Duration::from_secs(5), || {
            p.call(&["PUBSUB", "NUMSUB", "cli"]) == "*2\r\n$3\r\ncli\r\n:1\r\n"
        }));
        check(&mut p, &["PUBLISH", "cli", "from-publisher"], ":1\r\n");
        std::thread::sleep(Duration::from_millis(300));
        child.kill().unwrap();
        let mut text = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        let _ = child.wait();
        assert!(
            text.contains("subscribe") && text.contains("from-publisher"),
            "{text}"
        );
    });
}

#[test]
fn subscribers_that_vanish_mid_stream_hurt_nobody() {
    each(|s| {
        let mut admin = s.raw();
        // Subscribers with many channels and patterns each, then gone without a goodbye
        // (reset) while a publisher floods them.
        let mut subs: Vec<Raw> = (0..40).map(|_| s.raw()).collect();
        for (i, r) in subs.iter_mut().enumerate() {
            let mut args: Vec<String> = vec!["SUBSCRIBE".into()];
            args.extend((0..200).map(|c| format!("ch{c}")));
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            r.send(&cmd(&refs));
            for _ in 0..200 {
                r.reply();
            }
            r.call(&["PSUBSCRIBE", &format!("ch{i}*"), "c?1*"]);
            r.reply();
        }
        let mut p = s.raw();
        let mut batch = Vec::new();
        for i in 0..2000 {
            batch.extend(cmd(&[
                "PUBLISH",
                &format!("ch{}", i % 200),
                &"m".repeat(200),
            ]));
        }
        p.send(&batch);
        // Half of them vanish at once (RST), the rest read a little and then close.
        for (i, r) in subs.drain(..).enumerate() {
            if i % 2 == 0 {
                socket2::SockRef::from(&r.stream)
                    .set_linger(Some(std::time::Duration::ZERO))
                    .unwrap();
            }
            drop(r);
        }
        for _ in 0..2000 {
            let n = next(&mut p);
            assert!(n.starts_with(':'), "{n}");
        }
        // The server carries on, and forgets them all.
        check(&mut admin, &["PING"], "+PONG\r\n");
        assert!(eventually(Duration::from_secs(5), || {
            admin.call(&["PUBSUB", "NUMSUB", "ch1"]) == "*2\r\n$3\r\nch1\r\n:0\r\n"
                && admin.call(&["PUBSUB", "NUMPAT"]) == ":0\r\n"
                && admin
                    .call(&["INFO", "clients"])
                    .contains("connected_clients:2\r\n")
        }));
        check(&mut p, &["PUBLISH", "ch1", "x"], ":0\r\n");
    });
}
