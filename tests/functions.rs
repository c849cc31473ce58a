//! Functions against the real server at 1 and 4 shards: FUNCTION LOAD reaches every shard
//! before it answers, FCALL and FCALL_RO with Redis's flags and error texts, LIST / DELETE /
//! REPLACE / FLUSH, a busy function and FUNCTION KILL, and FUNCTION DUMP payloads exchanged
//! with a real redis-server both ways.

mod common;
use common::*;
use std::time::Duration;

const LIB: &str = "#!lua name=counters
redis.register_function('bump', function(keys, args) return redis.call('incrby', keys[1], args[1]) end)
redis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads a counter'}";

#[test]
fn a_loaded_library_runs_on_every_shard() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["FUNCTION", "LOAD", LIB], "$8\r\ncounters\r\n");
        // Fresh connections land on every core; keys live on every shard.
        for i in 0..16 {
            let mut c = s.raw();
            let key = format!("counter:{i}");
            check(&mut c, &["FCALL", "bump", "1", &key, "5"], ":5\r\n");
            check(&mut c, &["FCALL", "BUMP", "1", &key, "2"], ":7\r\n");
            check(&mut c, &["FCALL_RO", "peek", "1", &key], "$1\r\n7\r\n");
            check(
                &mut c,
                &["FCALL_RO", "bump", "1", &key, "1"],
                "-ERR Can not execute a script with write flag using *_ro command.\r\n",
            );
        }
        check(
            &mut r,
            &["FUNCTION", "LOAD", LIB],
            "-ERR Library 'counters' already exists\r\n",
        );
        check(
            &mut r,
            &[
                "FUNCTION",
                "LOAD",
                "#!lua name=other\nredis.register_function('Peek', function() return 1 end)",
            ],
            "-ERR Function Peek already exists\r\n",
        );
        check(
            &mut r,
            &["FCALL", "nope", "0"],
            "-ERR Function not found\r\n",
        );
        check(
            &mut r,
            &["FCALL", "bump", "x"],
            "-ERR Bad number of keys provided\r\n",
        );
        check(
            &mut r,
            &["FCALL", "bump", "1", "{t}k", "notanumber"],
            "-ERR value is not an integer or out of range script: bump, on @user_function:2.\r\n",
        );
        // REPLACE swaps the library everywhere before it answers.
        let v2 = "#!lua name=counters\nredis.register_function('bump', function(keys, args) return 'v2' end)";
        check(
            &mut r,
            &["FUNCTION", "LOAD", "REPLACE", v2],
            "$8\r\ncounters\r\n",
        );
        for i in 0..8 {
            let mut c = s.raw();
            let key = format!("counter:{i}");
            check(&mut c, &["FCALL", "bump", "1", &key, "1"], "$2\r\nv2\r\n");
            check(
                &mut c,
                &["FCALL", "peek", "1", &key],
                "-ERR Function not found\r\n",
            );
        }
        check(
            &mut r,
            &["FUNCTION", "LIST", "WITHCODE"],
            &format!(
                "*1\r\n*8\r\n$12\r\nlibrary_name\r\n$8\r\ncounters\r\n$6\r\nengine\r\n$3\r\nLUA\r\n$9\r\nfunctions\r\n*1\r\n*6\r\n$4\r\nname\r\n$4\r\nbump\r\n$11\r\ndescription\r\n$-1\r\n$5\r\nflags\r\n*0\r\n$12\r\nlibrary_code\r\n${}\r\n{v2}\r\n",
                v2.len()
            ),
        );
        check(&mut r, &["FUNCTION", "DELETE", "counters"], "+OK\r\n");
        check(
            &mut s.raw(),
            &["FCALL", "bump", "1", "k", "1"],
            "-ERR Function not found\r\n",
        );
        check(
            &mut r,
            &["FUNCTION", "DELETE", "counters"],
            "-ERR Library not found\r\n",
        );
        check(&mut r, &["FUNCTION", "LOAD", LIB], "$8\r\ncounters\r\n");
        check(&mut r, &["FUNCTION", "FLUSH"], "+OK\r\n");
        check(&mut r, &["FUNCTION", "LIST"], "*0\r\n");
    });
}

#[test]
fn a_busy_function_answers_busy_until_function_kill() {
    let s = Server::start_with(1, &["--busy-reply-threshold", "200"]);
    let mut r = s.raw();
    let spin = "#!lua name=spin\nredis.register_function{function_name='spin', callback=function() while true do end end, flags={'no-writes'}}";
    check(&mut r, &["FUNCTION", "LOAD", spin], "$4\r\nspin\r\n");
    check(
        &mut r,
        &["FUNCTION", "LOAD", "#!lua name=slow\nwhile true do end"],
        "-ERR Error registering functions: ERR FUNCTION LOAD timeout\r\n",
    );
    let mut busy = s.raw();
    busy.send(&cmd(&["FCALL", "spin", "0"]));
    let text = "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n";
    assert!(eventually(Duration::from_secs(10), || s
        .raw()
        .call(&["GET", "k"])
        == text));
    check(&mut r, &["SCRIPT", "KILL"], text);
    // FUNCTION STATS names the busy function, its command and how long it has run.
    let stats = r.call(&["FUNCTION", "STATS"]);
    assert!(
        stats.starts_with("*4\r\n$14\r\nrunning_script\r\n*6\r\n$4\r\nname\r\n$4\r\nspin\r\n$7\r\ncommand\r\n*3\r\n$5\r\nFCALL\r\n$4\r\nspin\r\n$1\r\n0\r\n$11\r\nduration_ms\r\n:"),
        "{stats}"
    );
    check(&mut r, &["FUNCTION", "KILL"], "+OK\r\n");
    assert_eq!(
        busy.reply_string(),
        "-ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:2.\r\n"
    );
    check(&mut r, &["GET", "k"], "$-1\r\n");
    assert!(r
        .call(&["FUNCTION", "STATS"])
        .starts_with("*4\r\n$14\r\nrunning_script\r\n$-1\r\n"));
}

#[test]
fn function_dump_payloads_cross_between_redis_and_corekv() {
    if !have_tool("redis-server") {
        eprintln!("skipped: no redis-server");
        return;
    }
    let redis = RedisServer::start();
    let mut rr = Raw::connect(redis.port);
    // Long enough code that redis-server compresses it (LZF) in its payload.
    let body: String = (0..8)
        .map(|i| format!("redis.register_function('f{i}', function() return {i} end)\n"))
        .collect();
    let lib = format!("#!lua name=many\n{body}");
    check(&mut rr, &["FUNCTION", "LOAD", &lib], "$4\r\nmany\r\n");
    let payload = {
        rr.send(&cmd(&["FUNCTION", "DUMP"]));
        bulk_of(&rr.reply())
    };
    for shards in SHARD_COUNTS {
        let s = Server::start(shards);
        let mut r = s.raw();
        let restore = |r: &mut Raw, payload: &[u8], policy: &[u8]| -> String {
            let mut args: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", payload];
            if !policy.is_empty() {
                args.push(policy);
            }
            r.send(&resp(&args));
            r.reply_string()
        };
        assert_eq!(restore(&mut r, &payload, b""), "+OK\r\n");
        check(&mut s.raw(), &["FCALL", "f7", "0"], ":7\r\n");
        assert_eq!(
            restore(&mut r, &payload, b""),
            "-ERR Library 'many' already exists\r\n"
        );
        assert_eq!(restore(&mut r, &payload, b"REPLACE"), "+OK\r\n");
        assert_eq!(
            restore(&mut r, b"nonsense-payload", b""),
            "-ERR DUMP payload version or checksum are wrong\r\n"
        );
        // corekv's own payload restores into redis-server.
        r.send(&cmd(&["FUNCTION", "DUMP"]));
        let ours = bulk_of(&r.reply());
        check(&mut rr, &["FUNCTION", "FLUSH"], "+OK\r\n");
        assert_eq!(restore(&mut rr, &ours, b""), "+OK\r\n");
        check(&mut rr, &["FCALL", "f3", "0"], ":3\r\n");
    }
}

/// The bytes of a bulk string reply.
fn bulk_of(reply: &[u8]) -> Vec<u8> {
    assert_eq!(reply[0], b'$', "{:?}", String::from_utf8_lossy(reply));
    let nl = reply.iter().position(|&c| c == b'\n').unwrap();
    reply[nl + 1..reply.len() - 2].to_vec()
}

/// `#!lua name=NAME` with one function `FN` answering `value`.
fn one_function_lib(name: &str, function: &str, value: i64) -> String {
    format!(
        "#!lua name={name}\nredis.register_function('{function}', function() return {value} end)"
    )
}

#[test]
fn libraries_survive_kill_9_with_the_log_and_a_restart_from_a_snapshot() {
    let dir = temp_dir("functions-aof");
    let d = dir.to_str().unwrap();
    {
        let s = Server::start_with(
            4,
            &["--appendonly", "yes", "--appendfsync", "always", "--dir", d],
        );
        // Changes from connections on different cores land in different shards' logs; the
        // newest state must win on replay whatever the order the logs are read in.
        for round in 0..6 {
            let mut c = s.raw();
            let lib = one_function_lib("kept", "kept_fn", round);
            check(
                &mut c,
                &["FUNCTION", "LOAD", "REPLACE", &lib],
                "$4\r\nkept\r\n",
            );
            let gone = one_function_lib(&format!("gone{round}"), &format!("gone_fn{round}"), 0);
            check(
                &mut c,
                &["FUNCTION", "LOAD", &gone],
                &format!("$5\r\ngone{round}\r\n"),
            );
            check(
                &mut s.raw(),
                &["FUNCTION", "DELETE", &format!("gone{round}")],
                "+OK\r\n",
            );
        }
        s.kill9();
    }
    {
        let s = Server::start_with(4, &["--appendonly", "yes", "--dir", d]);
        let mut r = s.raw();
        check(&mut r, &["FCALL", "kept_fn", "0"], ":5\r\n");
        check(
            &mut r,
            &["FCALL", "gone_fn5", "0"],
            "-ERR Function not found\r\n",
        );
        let lib = one_function_lib("later", "later_fn", 7);
        check(&mut r, &["FUNCTION", "LOAD", &lib], "$5\r\nlater\r\n");
        // A rewrite puts the libraries in the snapshot the new logs continue from.
        check(
            &mut r,
            &["BGREWRITEAOF"],
            "+Background append only file rewriting started\r\n",
        );
        assert!(eventually(Duration::from_secs(20), || {
            s.raw()
                .call(&["INFO", "persistence"])
                .contains("rdb_bgsave_in_progress:0")
        }));
        s.kill9();
    }
    {
        let s = Server::start_with(4, &["--appendonly", "yes", "--dir", d]);
        let mut r = s.raw();
        check(&mut r, &["FCALL", "kept_fn", "0"], ":5\r\n");
        check(&mut r, &["FCALL", "later_fn", "0"], ":7\r\n");
        check(&mut r, &["SAVE"], "+OK\r\n");
        s.stop();
    }
    // The snapshot alone (log off) carries them too, and redis-server loads corekv's file.
    let s = Server::start_with(1, &["--dir", d]);
    check(&mut s.raw(), &["FCALL", "later_fn", "0"], ":7\r\n");
    drop(s);
    if have_tool("redis-server") {
        let redis = RedisServer::start_in(d);
        check(
            &mut Raw::connect(redis.port),
            &["FCALL", "kept_fn", "0"],
            ":5\r\n",
        );
    }
}
