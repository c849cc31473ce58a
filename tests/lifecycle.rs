//! Start-up, background expiry, shutdown, and the real Redis tools (redis-cli,
//! redis-benchmark) against the real server.

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn sigterm_stops_cleanly_even_with_idle_clients() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards);
        let mut idle = s.raw();
        assert_eq!(idle.call(&["SET", "a", "1"]), "+OK\r\n");
        let status = s.stop();
        assert!(status.success(), "exit status {status:?}");
        assert!(idle.is_closed());
    }
}

#[test]
fn acknowledged_pipeline_completes_before_shutdown() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards);
        let mut raw = s.raw();
        let mut stream = Vec::new();
        for i in 0..2000 {
            stream.extend(cmd(&["SET", &format!("sd:{i}"), "v"]));
        }
        raw.send(&stream);
        for _ in 0..2000 {
            assert_eq!(raw.reply_string(), "+OK\r\n");
        }
        assert!(s.stop().success());
    }
}

#[test]
fn active_expiry_frees_keys_nobody_touches() {
    for shards in SHARD_COUNTS {
        let s = Server::start_with(shards, &["--hz", "50"]);
        let mut raw = s.raw();
        let mut stream = Vec::new();
        for i in 0..1000 {
            stream.extend(cmd(&["SET", &format!("exp:{i}"), "v", "PX", "100"]));
        }
        stream.extend(cmd(&["SET", "keeper", "v"]));
        raw.send(&stream);
        for _ in 0..1001 {
            assert_eq!(raw.reply_string(), "+OK\r\n");
        }
        // DBSIZE counts keys not yet reclaimed, so it reaches 1 only through active expiry.
        let freed = eventually(Duration::from_secs(20), || {
            raw.call(&["DBSIZE"]) == ":1\r\n"
        });
        assert!(
            freed,
            "expired keys were not reclaimed: {}",
            raw.call(&["DBSIZE"])
        );
        let info = raw.call(&["INFO", "stats"]);
        assert!(info.contains("expired_keys:1000"), "{info}");
    }
}

#[test]
fn bad_flags_fail_at_start_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_corekv"))
        .args(["--shards", "5000"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--shards 5000"));
    let out = Command::new(env!("CARGO_BIN_EXE_corekv"))
        .args(["--proto-max-bulk-len", "12xb"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn redis_cli_works() {
    if !have_tool("redis-cli") {
        return;
    }
    for shards in SHARD_COUNTS {
        let s = Server::start(shards);
        let port = s.port.to_string();
        let run = |args: &[&str]| {
            let out = Command::new("redis-cli")
                .args(["-p", &port])
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success());
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        assert_eq!(run(&["SET", "cli", "hello"]), "OK");
        assert_eq!(run(&["GET", "cli"]), "hello");
        assert_eq!(run(&["MSET", "x", "1", "y", "2"]), "OK");
        assert_eq!(run(&["MGET", "x", "y", "cli"]), "1\n2\nhello");
        assert_eq!(run(&["DBSIZE"]), "3");
        // Several commands through stdin, as a script would.
        let mut child = Command::new("redis-cli")
            .args(["-p", &port])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"INCR c\nINCR c\nGET c\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n2\n2\n");
        // --pipe mode (mass insertion) parses our replies.
        let mut child = Command::new("redis-cli")
            .args(["-p", &port, "--pipe"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = Vec::new();
        for i in 0..1000 {
            input.extend(cmd(&["SET", &format!("pipe:{i}"), "v"]));
        }
        child.stdin.take().unwrap().write_all(&input).unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("errors: 0, replies: 1000"), "{text}");
    }
}

#[test]
fn redis_benchmark_completes_without_errors() {
    if !have_tool("redis-benchmark") {
        return;
    }
    for shards in [1, 2, 4] {
        let s = Server::start(shards);
        let out = Command::new("redis-benchmark")
            .args([
                "-p",
                &s.port.to_string(),
                "-q",
                "-t",
                "ping,set,get,incr,mset",
                "-r",
                "100000",
                "-P",
                "16",
                "-n",
                "20000",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
        assert!(out.status.success(), "{text}");
        for t in ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET"] {
            assert!(
                text.contains(&format!("{t}:")) || text.contains(&format!("{t} (")),
                "{t} missing in {text}"
            );
        }
        let mut raw = s.raw();
        let stats = raw.call(&["INFO", "stats"]);
        assert!(stats.contains("total_error_replies:0"), "{stats}");
        let keys = raw.call(&["DBSIZE"]);
        assert!(
            keys.trim_start_matches(':').trim().parse::<u64>().unwrap() > 1000,
            "{keys}"
        );
    }
}

/// A second server on a port another one serves must refuse to start, as redis-server does,
/// instead of sharing it through SO_REUSEPORT (the kernel would split clients and keys between
/// the two); the first keeps every client.
#[test]
fn a_second_server_on_a_busy_port_refuses_to_start() {
    for shards in SHARD_COUNTS {
        let first = Server::start(shards);
        let mut c = first.raw();
        check(&mut c, &["SET", "mine", "1"], "+OK\r\n");
        let second = Command::new(env!("CARGO_BIN_EXE_corekv"))
            .args(["--bind", "127.0.0.1", "--port", &first.port.to_string()])
            .output()
            .expect("run a second corekv");
        assert!(
            !second.status.success(),
            "a second server started on a busy port"
        );
        let err = String::from_utf8_lossy(&second.stderr);
        assert!(err.contains("Address already in use"), "{err}");
        // Every new connection still reaches the first server.
        for _ in 0..20 {
            check(&mut first.raw(), &["GET", "mine"], "$1\r\n1\r\n");
        }
        assert!(first.stop().success());
    }
    if !have_tool("redis-server") {
        return;
    }
    // A port redis-server serves is refused just the same.
    let redis = RedisServer::start();
    let second = Command::new(env!("CARGO_BIN_EXE_corekv"))
        .args(["--bind", "127.0.0.1", "--port", &redis.port.to_string()])
        .output()
        .expect("run corekv");
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("Address already in use"));
}
