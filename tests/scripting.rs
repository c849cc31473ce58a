//! Lua scripting against the real server at 1 and 4 shards: the conversion rules and error
//! texts (byte for byte, as redis-server 7.0 answers; scripts/compat diffs more of them against
//! a live redis-server), the redis crate's `Script` (EVALSHA with the NOSCRIPT fallback), where
//! scripts run across shards, atomicity under concurrency, the sandbox, a script's memory
//! under maxmemory, MULTI around EVAL, and scripted writes surviving a kill -9.

mod common;
use common::*;

const SHA_RETURN_1: &str = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db";

#[test]
fn conversions_and_errors_match_redis() {
    each(|s| {
        let mut r = s.raw();
        check(&mut r, &["SET", "s", "foo"], "+OK\r\n");
        check(&mut r, &["EVAL", "return 1", "0"], ":1\r\n");
        check(&mut r, &["EVAL", "return 3.99", "0"], ":3\r\n");
        check(&mut r, &["EVAL", "return -3.7", "0"], ":-3\r\n");
        check(
            &mut r,
            &["EVAL", "return {1,2,nil,4}", "0"],
            "*2\r\n:1\r\n:2\r\n",
        );
        check(
            &mut r,
            &["EVAL", "return {1,2.9,'a',true,false,{ok='x'}}", "0"],
            "*6\r\n:1\r\n:2\r\n$1\r\na\r\n:1\r\n$-1\r\n+x\r\n",
        );
        check(&mut r, &["EVAL", "return {ok='fine'}", "0"], "+fine\r\n");
        check(
            &mut r,
            &["EVAL", "return {err='bad thing'}", "0"],
            "-bad thing\r\n",
        );
        check(
            &mut r,
            &["EVAL", "return redis.error_reply('My Error')", "0"],
            "-My Error\r\n",
        );
        check(
            &mut r,
            &["EVAL", "return redis.status_reply('FINE')", "0"],
            "+FINE\r\n",
        );
        check(&mut r, &["EVAL", "return nil", "0"], "$-1\r\n");
        check(
            &mut r,
            &[
                "EVAL",
                "return redis.call('get','nokey') == false",
                "1",
                "nokey",
            ],
            ":1\r\n",
        );
        check(
            &mut r,
            &["EVAL", "return redis.call('ping')['ok']", "0"],
            "$4\r\nPONG\r\n",
        );
        check(
            &mut r,
            &["EVAL", "return redis.call('echo', 3.5)", "0"],
            "$3\r\n3.5\r\n",
        );
        check(
            &mut r,
            &["EVAL", "return KEYS[1]..ARGV[1]", "1", "k", "v"],
            "$2\r\nkv\r\n",
        );
        check(
            &mut r,
            &["EVAL", "return redis.call('incr','s')", "1", "s"],
            "-ERR value is not an integer or out of range script: \
             c243b9f46db13ba8f69da41b45a77708832babed, on @user_script:1.\r\n",
        );
        check(
            &mut r,
            &["EVAL", "return redis.pcall('incr','s')", "1", "s"],
            "-ERR value is not an integer or out of range\r\n",
        );
        check(
            &mut r,
            &["EVAL", "error('boom')", "0"],
            "-ERR user_script:1: boom script: 82903a0434f1503e152f89c03c9acd881a0e8150, \
             on @user_script:1.\r\n",
        );
        check(
            &mut r,
            &["EVAL", "error({err='MYCODE x'})", "0"],
            "-MYCODE x script: af8770d671f2c5ed53083977b4ef1859e56cc929, on @user_script:1.\r\n",
        );
        check(
            &mut r,
            &["EVAL", "return redis.call('nosuch')", "0"],
            "-ERR Unknown Redis command called from script script: \
             206396248e12c6e742fd7296250433c8d7343b74, on @user_script:1.\r\n",
        );
        check(
            &mut r,
            &["EVAL", "return redis.call('get')", "0"],
            "-ERR Wrong number of args calling Redis command from script script: \
             f187dee77f607f7cff00bbabc9df38507582c78d, on @user_script:1.\r\n",
        );
        check(
            &mut r,
            &["EVAL", "return 1 +", "0"],
            "-ERR Error compiling script (new function): user_script:1: unexpected symbol \
             near '<eof>'\r\n",
        );
        check(
            &mut r,
            &["EVAL", "return 1", "-1"],
            "-ERR Number of keys can't be negative\r\n",
        );
        check(
            &mut r,
            &["EVAL", "return 1", "2", "a"],
            "-ERR Number of keys can't be greater than number of args\r\n",
        );
        check(
            &mut r,
            &["EVAL", "return 1", "x"],
            "-ERR value is not an integer or out of range\r\n",
        );
        check_arity(&mut r, &["EVAL", "return 1"]);
        check(
            &mut r,
            &["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"],
            "-NOSCRIPT No matching script. Please use EVAL.\r\n",
        );
        check(
            &mut r,
            &["EVAL_RO", "return redis.call('set',KEYS[1],'b')", "1", "a"],
            "-ERR Write commands are not allowed from read-only scripts. script: \
             91dc92c70e55c0375a7afb9a7e8963b89bb7a930, on @user_script:1.\r\n",
        );
        check(
            &mut r,
            &["EVAL", "return redis.REDIS_VERSION", "0"],
            "$6\r\n7.0.15\r\n",
        );
        check(&mut r, &["EVAL", "return bit.band(7, 3)", "0"], ":3\r\n");
        check(
            &mut r,
            &["EVAL", "return cjson.encode({a=1})", "0"],
            "$7\r\n{\"a\":1}\r\n",
        );
        check(
            &mut r,
            &["EVAL", "return redis.sha1hex('')", "0"],
            "$40\r\nda39a3ee5e6b4b0d3255bfef95601890afd80709\r\n",
        );
        // SCRIPT
        check(
            &mut r,
            &["SCRIPT", "LOAD", "return 1"],
            &format!("$40\r\n{SHA_RETURN_1}\r\n"),
        );
        check(
            &mut r,
            &["SCRIPT", "EXISTS", SHA_RETURN_1, "abc"],
            "*2\r\n:1\r\n:0\r\n",
        );
        check(
            &mut r,
            &["EVALSHA", &SHA_RETURN_1.to_uppercase(), "0"],
            ":1\r\n",
        );
        check(
            &mut r,
            &["SCRIPT", "KILL"],
            "-NOTBUSY No scripts in execution right now.\r\n",
        );
        check(
            &mut r,
            &["SCRIPT", "FOO"],
            "-ERR unknown subcommand 'FOO'. Try SCRIPT HELP.\r\n",
        );
        check(
            &mut r,
            &["SCRIPT", "FLUSH", "x"],
            "-ERR SCRIPT FLUSH only support SYNC|ASYNC option\r\n",
        );
        check(&mut r, &["SCRIPT", "FLUSH"], "+OK\r\n");
        check(&mut r, &["SCRIPT", "EXISTS", SHA_RETURN_1], "*1\r\n:0\r\n");
        check(
            &mut r,
            &["EVALSHA", SHA_RETURN_1, "0"],
            "-NOSCRIPT No matching script. Please use EVAL.\r\n",
        );
    });
}

#[test]
fn scripts_are_known_on_every_shard() {
    each(|s| {
        // Loaded through one connection (one shard), run on keys of every shard.
        let mut con = s.client();
        let sha: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg("return redis.call('INCR', KEYS[1])")
            .query(&mut con)
            .unwrap();
        for i in 0..32 {
            let n: i64 = redis::cmd("EVALSHA")
                .arg(&sha)
                .arg(1)
                .arg(format!("k{i}"))
                .query(&mut con)
                .unwrap();
            assert_eq!(n, 1);
        }
        // The redis crate's Script: EVALSHA, then EVAL's fallback (SCRIPT LOAD) on NOSCRIPT.
        let script = redis::Script::new("return redis.call('SET', KEYS[1], ARGV[1])");
        for i in 0..32 {
            let _: () = script.key(format!("s{i}")).arg(i).invoke(&mut con).unwrap();
        }
        let v: String = redis::cmd("GET").arg("s7").query(&mut con).unwrap();
        assert_eq!(v, "7");
        // EVAL caches the body for EVALSHA on any shard.
        let _: i64 = redis::cmd("EVAL")
            .arg("return 7")
            .arg(0)
            .query(&mut con)
            .unwrap();
        let exists: Vec<bool> = redis::cmd("SCRIPT")
            .arg("EXISTS")
            .arg(redis::Script::new("return 7").get_hash())
            .query(&mut con)
            .unwrap();
        assert_eq!(exists, vec![true]);
    });
}

#[test]
fn scripts_across_shards_run_atomically() {
    let s = Server::start(4);
    let mut r = s.raw();
    // acct:0..7 live on the four shards; transfers move amounts between any two of them while
    // readers check that the total never changes, through a script and through MGET.
    let accounts: Vec<String> = (0..8).map(|i| format!("acct:{i}")).collect();
    for a in &accounts {
        check(&mut r, &["SET", a, "1000"], "+OK\r\n");
    }
    let transfer = "local from = tonumber(redis.call('get', KEYS[1])) \
                    redis.call('set', KEYS[1], from - ARGV[1]) \
                    return redis.call('incrby', KEYS[2], ARGV[1])";
    let total = "local t = 0 for i = 1, #KEYS do t = t + tonumber(redis.call('get', KEYS[i])) end \
                 return t";
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (url, accounts) = (s.url(), accounts.clone());
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                let sc = redis::Script::new(transfer);
                for i in 0..300usize {
                    let from = &accounts[(i * 3 + t) % 8];
                    let to = &accounts[(i * 5 + t + 1) % 8];
                    if from != to {
                        let _: i64 = sc.key(from).key(to).arg(7).invoke(&mut con).unwrap();
                    }
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (url, accounts) = (s.url(), accounts.clone());
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                let sc = redis::Script::new(total);
                for _ in 0..300 {
                    let mut inv = sc.prepare_invoke();
                    for a in &accounts {
                        inv.key(a);
                    }
                    let sum: i64 = inv.invoke(&mut con).unwrap();
                    assert_eq!(sum, 8000, "a script saw a transfer half done");
                    let values: Vec<i64> =
                        redis::cmd("MGET").arg(&accounts).query(&mut con).unwrap();
                    assert_eq!(
                        values.iter().sum::<i64>(),
                        8000,
                        "MGET saw a transfer half done"
                    );
                }
            })
        })
        .collect();
    for t in writers.into_iter().chain(readers) {
        t.join().unwrap();
    }
    // A call whose keys span shards, or an undeclared key of a shard the script does not
    // hold: Redis Cluster's errors, never a silent non-atomic access.
    let reply = r.call(&[
        "EVAL",
        "return redis.call('mget', KEYS[1], KEYS[2])",
        "2",
        "acct:0",
        "acct:1",
    ]);
    assert!(
        reply.starts_with("-CROSSSLOT Keys in request don't hash to the same slot"),
        "{reply}"
    );
    let reply = r.call(&["EVAL", "return redis.call('get', 'a')", "1", "b"]);
    assert!(
        reply.starts_with("-ERR Script attempted to access a non local key in a cluster node"),
        "{reply}"
    );
    // DBSIZE, KEYS and friends see every shard; inside a script they would see one.
    let reply = r.call(&["EVAL", "return redis.call('dbsize')", "0"]);
    assert!(
        reply.starts_with("-ERR This Redis command is not allowed from script"),
        "{reply}"
    );
    // With cross-shard atomicity off, keys on several shards are refused.
    check(
        &mut r,
        &["CONFIG", "SET", "cross-shard-atomic", "no"],
        "+OK\r\n",
    );
    check(
        &mut r,
        &["EVAL", "return 1", "2", "acct:0", "acct:1"],
        "-CROSSSLOT Keys in request don't hash to the same slot\r\n",
    );
}

#[test]
fn scripts_are_atomic_under_concurrency() {
    each(|s| {
        // A read-modify-write in a script: without atomicity concurrent clients lose updates.
        let script = "local v = tonumber(redis.call('get', KEYS[1]) or '0') \
                      redis.call('set', KEYS[1], v + 1) return v + 1";
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let url = s.url();
                let script = script.to_string();
                std::thread::spawn(move || {
                    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                    let sc = redis::Script::new(&script);
                    for i in 0..500 {
                        // Two counters on (at 4 shards) different shards.
                        let key = if (i + t) % 2 == 0 { "{c}one" } else { "two" };
                        let _: i64 = sc.key(key).invoke(&mut con).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut con = s.client();
        let one: i64 = redis::cmd("GET").arg("{c}one").query(&mut con).unwrap();
        let two: i64 = redis::cmd("GET").arg("two").query(&mut con).unwrap();
        assert_eq!(one + two, 2000);
        assert_eq!(one, 1000);
    });
}

#[test]
fn the_sandbox_holds() {
    each(|s| {
        let mut r = s.raw();
        let escapes = [
            "return os.time()",
            "return io.open('/etc/passwd')",
            "return require('os')",
            "return dofile('/etc/passwd')",
            "return loadfile('/etc/passwd')",
            "return debug.getinfo(1)",
            "return getfenv(1)",
            "return setfenv(1, {})",
            "return newproxy()",
            "return module('x')",
            "return print('x')",
            "return loadstring('return os')()",
            "return loadstring(string.dump(function() end))()",
            "x = 1",
            "redis = nil",
            "string.rep = nil",
            "rawset(_G, 'x', 1)",
            "rawset(redis, 'call', 1)",
            "getmetatable('').__index = {}",
            "setmetatable(_G, nil)",
            "local t = {} while true do t[#t + 1] = string.rep('x', 1024 * 1024) .. #t end",
            "return string.rep('x', 1024 * 1024 * 1024)",
        ];
        for src in escapes {
            let reply = r.call(&["EVAL", src, "0"]);
            assert!(reply.starts_with("-"), "{src} answered {reply:?}");
        }
        // Nothing a script tried changed the next script's world, KEYS and ARGV included.
        check(
            &mut r,
            &[
                "EVAL",
                "KEYS.x = 'leak' ARGV[5] = 'leak' return 1",
                "1",
                "k",
            ],
            ":1\r\n",
        );
        check(
            &mut r,
            &[
                "EVAL",
                "return {tostring(KEYS.x), #ARGV, tostring(ARGV[5])}",
                "0",
            ],
            "*3\r\n$3\r\nnil\r\n:0\r\n$3\r\nnil\r\n",
        );
        check(
            &mut r,
            &["EVAL", "return string.upper(type(redis.call))", "0"],
            "$8\r\nFUNCTION\r\n",
        );
        check(
            &mut r,
            &["EVAL", "return ('abc'):upper()", "0"],
            "$3\r\nABC\r\n",
        );
        check(&mut r, &["PING"], "+PONG\r\n");
    });
}

#[test]
fn multi_around_eval_and_scripted_writes_survive_kill_9() {
    let dir = temp_dir("scripting-aof");
    let d = dir.to_str().unwrap();
    {
        let s = Server::start_with(
            4,
            &["--appendonly", "yes", "--appendfsync", "always", "--dir", d],
        );
        let mut r = s.raw();
        check(&mut r, &["MULTI"], "+OK\r\n");
        check(
            &mut r,
            &["EVAL", "return redis.call('incrby', KEYS[1], 5)", "1", "m"],
            "+QUEUED\r\n",
        );
        check(&mut r, &["INCR", "m"], "+QUEUED\r\n");
        check(&mut r, &["EXEC"], "*2\r\n:5\r\n:6\r\n");
        for i in 0..50 {
            let key = format!("w{i}");
            check(
                &mut r,
                &[
                    "EVAL",
                    "redis.call('set', KEYS[1], ARGV[1]) return redis.call('incr', KEYS[1])",
                    "1",
                    &key,
                    "10",
                ],
                ":11\r\n",
            );
        }
        // Scripts across shards: each one's parts are one transaction in the logs.
        check(
            &mut r,
            &["MSET", "x:0", "100", "x:1", "100", "x:2", "100"],
            "+OK\r\n",
        );
        for i in 0..30 {
            let (from, to) = (format!("x:{}", i % 3), format!("x:{}", (i + 1) % 3));
            let rep = r.call(&[
                "EVAL",
                "redis.call('decrby', KEYS[1], 1) return redis.call('incrby', KEYS[2], 1)",
                "2",
                &from,
                &to,
            ]);
            assert!(rep.starts_with(':'), "{rep}");
        }
        check(
            &mut r,
            &[
                "EVAL",
                "redis.call('set', KEYS[1], 'p') return redis.call('set', KEYS[2], 'q')",
                "2",
                "x:0",
                "x:1",
            ],
            "+OK\r\n",
        );
        s.kill9();
    }
    let s = Server::start_with(4, &["--appendonly", "yes", "--dir", d]);
    let mut r = s.raw();
    check(&mut r, &["GET", "m"], "$1\r\n6\r\n");
    for i in 0..50 {
        check(&mut r, &["GET", &format!("w{i}")], "$2\r\n11\r\n");
    }
    check(
        &mut r,
        &["MGET", "x:0", "x:1", "x:2"],
        "*3\r\n$1\r\np\r\n$1\r\nq\r\n$3\r\n100\r\n",
    );
}

#[test]
fn what_a_script_allocates_counts_towards_maxmemory() {
    let s = Server::start_with(
        1,
        &["--maxmemory", "48mb", "--maxmemory-policy", "noeviction"],
    );
    let mut r = s.raw();
    let value = "v".repeat(100_000);
    for i in 0..200 {
        check(&mut r, &["SET", &format!("big{i}"), &value], "+OK\r\n");
    }
    // About 20 MB of keys: a script that holds 40 MB more cannot write.
    let hog = "local t = {} for i = 1, 40 do t[i] = string.rep('x', 1024 * 1024) .. i end \
               return redis.call('set', 'after', #t)";
    let reply = r.call(&["EVAL", hog, "0"]);
    assert!(
        reply.starts_with("-OOM command not allowed when used memory > 'maxmemory'."),
        "{reply}"
    );
    // Its garbage is collected when it ends: writes go on.
    check(&mut r, &["SET", "after", "1"], "+OK\r\n");
    let reply = r.call(&["EVAL", "return redis.call('set', 'small', 'x')", "0"]);
    assert_eq!(reply, "+OK\r\n");
}
