//! The wire protocol against the real server: pipelining and reply order across shards, frames
//! split at any byte, inline commands, every framing error (answered, then only that connection
//! closes), hostile lengths that must not make the server allocate, and garbage floods that no
//! other client notices.

mod common;
use common::*;
use std::time::Duration;

fn as_str(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn for_each_shard_count(test: impl Fn(&Server)) {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards);
        test(&s);
    }
}

#[test]
fn pipelined_replies_keep_order_across_shards() {
    for_each_shard_count(|s| {
        let mut raw = s.raw();
        let mut stream = Vec::new();
        let mut expected = String::new();
        for i in 0..500 {
            let key = format!("key:{i}");
            stream.extend(cmd(&["SET", &key, &format!("v{i}")]));
            expected.push_str("+OK\r\n");
            stream.extend(cmd(&["GET", &key]));
            let v = format!("v{i}");
            expected.push_str(&format!("${}\r\n{v}\r\n", v.len()));
            stream.extend(cmd(&["INCR", &format!("n:{}", i % 7)]));
            expected.push_str(&format!(":{}\r\n", i / 7 + 1));
        }
        raw.send(&stream);
        let mut got = String::new();
        for _ in 0..1500 {
            got.push_str(&raw.reply_string());
        }
        assert_eq!(got, expected);
    });
}

#[test]
fn multi_key_commands_gather_in_argument_order_inside_a_pipeline() {
    for_each_shard_count(|s| {
        let mut raw = s.raw();
        let keys: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
        let mut mset = vec!["MSET".to_string()];
        for k in &keys {
            mset.push(k.clone());
            mset.push(format!("={k}"));
        }
        let mut mget = vec!["MGET".to_string()];
        mget.extend(keys.iter().rev().cloned());
        mget.push("missing".into());
        let mut stream = cmd(&as_str(&mset));
        stream.extend(cmd(&as_str(&mget)));
        stream.extend(cmd(&["DEL", "m1", "m2", "nope", "m39"]));
        stream.extend(cmd(&["EXISTS", "m1", "m3", "m3"]));
        stream.extend(cmd(&["DBSIZE"]));
        raw.send(&stream);
        assert_eq!(raw.reply_string(), "+OK\r\n");
        let mut want = format!("*{}\r\n", keys.len() + 1);
        for k in keys.iter().rev() {
            want.push_str(&format!("${}\r\n={k}\r\n", k.len() + 1));
        }
        want.push_str("$-1\r\n");
        assert_eq!(raw.reply_string(), want);
        assert_eq!(raw.reply_string(), ":3\r\n");
        assert_eq!(raw.reply_string(), ":2\r\n");
        assert_eq!(raw.reply_string(), ":37\r\n");
    });
}

#[test]
fn frames_split_at_every_byte() {
    for_each_shard_count(|s| {
        let mut stream = cmd(&["SET", "split:a", "hello world"]);
        stream.extend(b"GET split:a\r\n");
        stream.extend(cmd(&["MGET", "split:a", "split:b", "split:a"]));
        stream.extend(cmd(&["ECHO", "\r\n$3\r\n"]));
        let expected = "+OK\r\n$11\r\nhello world\r\n*3\r\n$11\r\nhello world\r\n$-1\r\n$11\r\nhello world\r\n$6\r\n\r\n$3\r\n\r\n";
        // One byte per write, with TCP_NODELAY: the server sees the frames in many pieces.
        let mut raw = s.raw();
        for b in &stream {
            raw.send(std::slice::from_ref(b));
        }
        let got: String = (0..4).map(|_| raw.reply_string()).collect();
        assert_eq!(got, expected);
        // And every two-piece split, on fresh connections.
        for cut in (1..stream.len()).step_by(3) {
            let mut raw = s.raw();
            raw.send(&stream[..cut]);
            raw.send(&stream[cut..]);
            let got: String = (0..4).map(|_| raw.reply_string()).collect();
            assert_eq!(got, expected, "split at {cut}");
        }
    });
}

#[test]
fn inline_commands_and_empty_frames() {
    for_each_shard_count(|s| {
        let mut raw = s.raw();
        raw.send(b"PING\r\n");
        assert_eq!(raw.reply_string(), "+PONG\r\n");
        raw.send(b"SET inl \"b c\\x41\"\r\nGET inl\n");
        assert_eq!(raw.reply_string(), "+OK\r\n");
        assert_eq!(raw.reply_string(), "$4\r\nb cA\r\n");
        // Empty lines and empty multibulks produce no reply.
        raw.send(b"\r\n   \r\n*0\r\n*-1\r\nPING\r\n");
        assert_eq!(raw.reply_string(), "+PONG\r\n");
        raw.send(b"sEt Inl x\r\n");
        assert_eq!(raw.reply_string(), "+OK\r\n");
    });
}

#[test]
fn command_errors_do_not_close_the_connection() {
    for_each_shard_count(|s| {
        let mut raw = s.raw();
        assert_eq!(
            raw.call(&["NOSUCH", "a", "b"]),
            "-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n"
        );
        assert_eq!(
            raw.call(&["GET"]),
            "-ERR wrong number of arguments for 'get' command\r\n"
        );
        assert_eq!(
            raw.call(&["GET", "a", "b"]),
            "-ERR wrong number of arguments for 'get' command\r\n"
        );
        assert_eq!(
            raw.call(&["MSET", "a", "1", "b"]),
            "-ERR wrong number of arguments for 'mset' command\r\n"
        );
        assert_eq!(
            raw.call(&["SET", "a", "1", "BOGUS"]),
            "-ERR syntax error\r\n"
        );
        raw.send(b"*1\r\n$0\r\n\r\n");
        assert_eq!(
            raw.reply_string(),
            "-ERR unknown command '', with args beginning with: \r\n"
        );
        assert_eq!(raw.call(&["PING"]), "+PONG\r\n");
    });
}

/// Each framing error: the commands before it are answered, then the error, then only that
/// connection is closed.
#[test]
fn framing_errors_answer_then_close_only_that_connection() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"*abc\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*3000000000\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$-5\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$4294967296\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\nfoo\r\n",
            "-ERR Protocol error: expected '$', got 'f'\r\n",
        ),
        (
            b"SET a \"unbalanced\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ];
    for_each_shard_count(|s| {
        let mut bystander = s.raw();
        assert_eq!(bystander.call(&["SET", "bystander", "1"]), "+OK\r\n");
        for (bytes, err) in cases {
            let mut raw = s.raw();
            let mut stream = b"PING\r\n".to_vec();
            stream.extend_from_slice(bytes);
            raw.send(&stream);
            assert_eq!(
                raw.reply_string(),
                "+PONG\r\n",
                "case {:?}",
                String::from_utf8_lossy(bytes)
            );
            assert_eq!(
                raw.reply_string(),
                *err,
                "case {:?}",
                String::from_utf8_lossy(bytes)
            );
            assert!(
                raw.is_closed(),
                "connection must close after {:?}",
                String::from_utf8_lossy(bytes)
            );
            assert_eq!(
                bystander.call(&["INCR", "bystander"]).starts_with(':'),
                true
            );
        }
    });
}

#[test]
fn oversized_inline_and_count_lines_are_refused() {
    for_each_shard_count(|s| {
        let mut raw = s.raw();
        raw.send(&vec![b'a'; 70 * 1024]);
        assert_eq!(
            raw.reply_string(),
            "-ERR Protocol error: too big inline request\r\n"
        );
        assert!(raw.is_closed());
        let mut raw = s.raw();
        let mut line = b"*".to_vec();
        line.extend(vec![b'1'; 70 * 1024]);
        raw.send(&line);
        assert_eq!(
            raw.reply_string(),
            "-ERR Protocol error: too big mbulk count string\r\n"
        );
        assert!(raw.is_closed());
    });
}

fn rss_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap();
    s.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4
}

/// Claimed lengths cost nothing until the bytes arrive; clients that vanish mid-frame leave no
/// trace, and a well-behaved client on the same server is unaffected.
#[test]
fn hostile_lengths_and_vanishing_clients_keep_memory_bounded() {
    for_each_shard_count(|s| {
        let mut good = s.raw();
        let before = rss_kb(s.pid());
        for i in 0..200 {
            let mut raw = s.raw();
            match i % 4 {
                0 => raw.send(b"*1000000000\r\n$3\r\nGET\r\n"),
                1 => raw.send(b"*2\r\n$3\r\nGET\r\n$536870912\r\nabc"),
                2 => raw.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000000\r\n"),
                _ => raw.send(b"*2\r\n$4\r\nECHO\r\n$10\r\nhal"),
            }
            drop(raw); // vanish mid-frame
            if i % 50 == 0 {
                assert_eq!(good.call(&["PING"]), "+PONG\r\n");
            }
        }
        assert_eq!(good.call(&["SET", "after", "ok"]), "+OK\r\n");
        assert_eq!(good.call(&["GET", "after"]), "$2\r\nok\r\n");
        let after = rss_kb(s.pid());
        assert!(
            after < before + 64 * 1024,
            "RSS grew from {before} kB to {after} kB"
        );
    });
}

#[test]
fn garbage_flood_does_not_disturb_other_clients() {
    for_each_shard_count(|s| {
        let mut good = s.raw();
        let mut seed = 0x1234_5678_9abc_def0u64;
        for round in 0..50 {
            let mut bytes = Vec::with_capacity(4096);
            for _ in 0..4096 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                bytes.push((seed & 0xff) as u8);
            }
            let mut bad = s.raw();
            bad.send(&bytes);
            drop(bad);
            let key = format!("good:{round}");
            assert_eq!(good.call(&["SET", &key, "x"]), "+OK\r\n");
            assert_eq!(good.call(&["GET", &key]), "$1\r\nx\r\n");
        }
    });
}

#[test]
fn big_values_and_deep_pipelines() {
    for_each_shard_count(|s| {
        let mut raw = s.raw();
        let big = vec![b'v'; 10 << 20];
        raw.send(&resp(&[b"SET", b"big", &big]));
        assert_eq!(raw.reply_string(), "+OK\r\n");
        raw.send(&cmd(&["GET", "big"]));
        let r = raw.reply();
        assert_eq!(r.len(), big.len() + format!("${}\r\n\r\n", big.len()).len());
        // 20,000 commands in one write: far more than one read buffer.
        let mut stream = Vec::new();
        for i in 0..20_000 {
            stream.extend(cmd(&["INCR", &format!("deep:{}", i % 100)]));
        }
        raw.send(&stream);
        for i in 0..20_000 {
            assert_eq!(raw.reply_string(), format!(":{}\r\n", i / 100 + 1));
        }
        raw.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
    });
}
