//! Scripts past busy-reply-threshold against the real server: BUSY for the other clients of
//! their shard (MULTI's EXECABORT included), SCRIPT KILL, UNKILLABLE and SHUTDOWN NOSAVE, a
//! script inside EXEC, and a busy script that wrote cut off by kill -9 (none of its writes
//! come back).

mod common;
use common::*;
use std::time::Duration;

const BUSY: &str =
    "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";

/// Waits until a fresh connection's `GET key` answers BUSY (the script passed the threshold).
fn wait_busy(s: &Server, key: &str) {
    assert!(
        eventually(Duration::from_secs(10), || s.raw().call(&["GET", key])
            == BUSY),
        "the script never turned busy"
    );
}

#[test]
fn a_busy_script_answers_busy_until_script_kill_stops_it() {
    for shards in [1, 4] {
        let s = Server::start_with(shards, &["--busy-reply-threshold", "200"]);
        let mut r = s.raw();
        check(
            &mut r,
            &["CONFIG", "GET", "lua-time-limit"],
            "*2\r\n$14\r\nlua-time-limit\r\n$3\r\n200\r\n",
        );
        check(
            &mut r,
            &["SCRIPT", "KILL"],
            "-NOTBUSY No scripts in execution right now.\r\n",
        );
        let mut busy = s.raw();
        // A loop inside a coroutine inside pcall: hooks are per coroutine, and a busy script is
        // suspended wherever it is (Lua 5.1 itself cannot yield across pcall).
        let body = "return pcall(coroutine.wrap(function() while true do end end))";
        let loaded = r.call(&["SCRIPT", "LOAD", body]);
        let sha = loaded.lines().nth(1).unwrap().to_string();
        busy.send(&cmd(&["EVAL", body, "1", "busykey"]));
        wait_busy(&s, "busykey");
        // Its shard answers BUSY to everything but the commands Redis allows, MULTI included.
        // A connection of another core queues the command; its EXEC waits for the script's end
        // (a transaction never runs beside a busy script, nor in part).
        let mut m = s.raw();
        let mut tx = s.raw();
        let mut queued = false;
        // Until a connection lands on another core (at most 16 tries; at one shard, none can).
        for _ in 0..if shards == 1 { 1 } else { 16 } {
            let mut t = s.raw();
            check(&mut t, &["MULTI"], "+OK\r\n");
            let rep = t.call(&["SET", "busykey", "from-exec"]);
            if rep == "+QUEUED\r\n" {
                t.send(&cmd(&["EXEC"]));
                (tx, queued) = (t, true);
                break;
            }
            assert_eq!(rep, BUSY);
            let abort = format!(
                "-EXECABORT Transaction discarded because of: {}",
                &BUSY[1..]
            );
            assert_eq!(t.call(&["EXEC"]), abort);
        }
        assert_eq!(queued, shards > 1);
        check(&mut m, &["EVAL", "return 1", "1", "busykey"], BUSY);
        check(&mut m, &["SHUTDOWN"], BUSY);
        if shards > 1 {
            // Keys of the other shards carry on (8 connections: some are on other cores).
            let ok = (0..8)
                .flat_map(|c| {
                    let mut r = s.raw();
                    (0..8)
                        .map(|k| r.call(&["SET", &format!("other{c}-{k}"), "v"]))
                        .collect::<Vec<_>>()
                })
                .filter(|rep| rep == "+OK\r\n")
                .count();
            assert!(ok > 0, "no other shard answered while one script was busy");
        }
        check(&mut m, &["SCRIPT", "KILL"], "+OK\r\n");
        assert_eq!(
            busy.reply_string(),
            format!("-ERR Script killed by user with SCRIPT KILL... script: {sha}, on @user_script:1.\r\n")
        );
        check(
            &mut m,
            &["SCRIPT", "KILL"],
            "-NOTBUSY No scripts in execution right now.\r\n",
        );
        if queued {
            assert_eq!(tx.reply_string(), "*1\r\n+OK\r\n");
            check(&mut m, &["GET", "busykey"], "$9\r\nfrom-exec\r\n");
        }
        // The shard that ran it serves again, the killed script's connection too.
        check(&mut busy, &["EVAL", "return 2", "1", "busykey"], ":2\r\n");
        check(&mut m, &["SET", "busykey", "x"], "+OK\r\n");
    }
}

#[test]
fn a_busy_script_that_wrote_is_unkillable_and_shutdown_nosave_stops_it() {
    let s = Server::start_with(2, &["--busy-reply-threshold", "200"]);
    let mut busy = s.raw();
    busy.send(&cmd(&[
        "EVAL",
        "redis.call('set', KEYS[1], 'v') while true do end",
        "1",
        "wrote",
    ]));
    wait_busy(&s, "wrote");
    let mut r = s.raw();
    check(
        &mut r,
        &["SCRIPT", "KILL"],
        "-UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.\r\n",
    );
    r.send(&cmd(&["SHUTDOWN", "NOSAVE"]));
    assert!(r.is_closed());
    let status = s.wait_exit();
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_script_inside_exec_cannot_be_suspended_and_is_stopped_past_the_threshold() {
    let s = Server::start_with(1, &["--busy-reply-threshold", "100"]);
    let mut r = s.raw();
    r.send(&cmd(&["MULTI"]));
    r.send(&cmd(&["EVAL", "while true do end", "0"]));
    r.send(&cmd(&["EXEC"]));
    assert_eq!(r.reply_string(), "+OK\r\n");
    assert_eq!(r.reply_string(), "+QUEUED\r\n");
    let rep = r.reply_string();
    assert!(
        rep.starts_with("*1\r\n-ERR Script killed by user with SCRIPT KILL..."),
        "{rep}"
    );
    check(&mut r, &["PING"], "+PONG\r\n");
}

#[test]
fn a_script_killed_by_a_crash_leaves_none_of_its_writes() {
    let dir = temp_dir("scripting-partial");
    let d = dir.to_str().unwrap();
    let args = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        d,
        "--busy-reply-threshold",
        "200",
    ];
    {
        let s = Server::start_with(1, &args);
        let mut r = s.raw();
        check(
            &mut r,
            &[
                "EVAL",
                "redis.call('set', 'done', 'yes') return redis.call('incr', 'n')",
                "0",
            ],
            ":1\r\n",
        );
        let mut busy = s.raw();
        busy.send(&cmd(&[
            "EVAL",
            "redis.call('set', 'partial', 'x') redis.call('incr', 'n') while true do end",
            "0",
        ]));
        wait_busy(&s, "partial");
        s.kill9();
    }
    let s = Server::start_with(1, &args);
    let mut r = s.raw();
    check(&mut r, &["GET", "done"], "$3\r\nyes\r\n");
    check(&mut r, &["GET", "n"], "$1\r\n1\r\n");
    check(&mut r, &["GET", "partial"], "$-1\r\n");
}
