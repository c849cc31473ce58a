//! RESP3 against the real server at 1 and 4 shards: HELLO and its variants, the golden bytes of
//! every reply type Redis 7 sends differently in RESP3 (null, map, set, double, boolean,
//! verbatim, big number), the switch back with HELLO 2 and RESET, values gathered from other
//! shards in the client's protocol, scripts' conversions, and redis-cli -3.

mod common;
use common::*;

#[test]
fn hello_switches_the_connection_and_its_reply_is_a_map() {
    each(|s| {
        let mut r = s.raw();
        let hello = r.call(&["HELLO", "3", "SETNAME", "r3"]);
        assert!(
            hello.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n"),
            "{hello}"
        );
        assert!(hello.contains("$5\r\nproto\r\n:3\r\n"), "{hello}");
        assert!(hello.ends_with("$7\r\nmodules\r\n*0\r\n"), "{hello}");
        check(&mut r, &["CLIENT", "GETNAME"], "$2\r\nr3\r\n");
        let info = r.call(&["CLIENT", "INFO"]);
        assert!(info.starts_with('=') && info.contains("txt:id="), "{info}");
        assert!(info.contains(" resp=3 "), "{info}");
        // HELLO without a version answers in the current protocol and keeps it.
        assert!(r.call(&["HELLO"]).starts_with("%7\r\n"));
        check(&mut r, &["GET", "nothing"], "_\r\n");
        check(
            &mut r,
            &["HELLO", "4"],
            "-NOPROTO unsupported protocol version\r\n",
        );
        // A failed HELLO leaves the protocol alone.
        check(&mut r, &["GET", "nothing"], "_\r\n");
        assert!(r.call(&["HELLO", "2"]).starts_with("*14\r\n"));
        check(&mut r, &["GET", "nothing"], "$-1\r\n");
        r.call(&["HELLO", "3"]);
        check(&mut r, &["RESET"], "+RESET\r\n");
        check(&mut r, &["GET", "nothing"], "$-1\r\n");
    });
}

#[test]
fn golden_bytes_of_resp3_replies() {
    each(|s| {
        let mut r = s.raw();
        r.call(&["HELLO", "3"]);
        // Keys chosen to land on different shards at 4 shards: gathered elements keep the
        // protocol the owning shard encoded them in.
        r.call(&["MSET", "a", "1", "b", "2", "c", "3"]);
        check(
            &mut r,
            &["MGET", "a", "none1", "b", "none2", "c"],
            "*5\r\n$1\r\n1\r\n_\r\n$1\r\n2\r\n_\r\n$1\r\n3\r\n",
        );
        check(
            &mut r,
            &["CONFIG", "GET", "maxmemory"],
            "%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n",
        );
        let info = r.call(&["INFO", "server"]);
        assert!(
            info.starts_with('=') && info.contains("txt:# Server\r\n"),
            "{info}"
        );
        let list = r.call(&["CLIENT", "LIST"]);
        assert!(list.starts_with('=') && list.contains("txt:id="), "{list}");
        check(&mut r, &["GETDEL", "none"], "_\r\n");
        check(&mut r, &["GETEX", "none"], "_\r\n");
        // A transaction aborted by WATCH: a null, not a null array.
        let mut other = s.raw();
        r.call(&["WATCH", "a"]);
        other.call(&["SET", "a", "changed"]);
        r.call(&["MULTI"]);
        r.call(&["GET", "a"]);
        check(&mut r, &["EXEC"], "_\r\n");
        // The transaction's replies are in RESP3 too.
        r.call(&["MULTI"]);
        r.call(&["GET", "none"]);
        r.call(&["MGET", "a", "none"]);
        check(&mut r, &["EXEC"], "*2\r\n_\r\n*2\r\n$7\r\nchanged\r\n_\r\n");
        let docs = r.call(&["COMMAND", "DOCS", "get"]);
        assert!(docs.starts_with("%1\r\n$3\r\nget\r\n%"), "{docs}");
        let info = r.call(&["COMMAND", "INFO", "get"]);
        assert!(
            info.starts_with("*1\r\n*10\r\n$3\r\nget\r\n:2\r\n~"),
            "{info}"
        );
    });
}

#[test]
fn scripts_convert_resp3_both_ways() {
    each(|s| {
        let mut r = s.raw();
        r.call(&["HELLO", "3"]);
        let eval = |r: &mut Raw, src: &str, keys: &[&str]| {
            let n = keys.len().to_string();
            let mut args = vec!["EVAL", src, &n];
            args.extend_from_slice(keys);
            r.call(&args)
        };
        assert_eq!(eval(&mut r, "return {double=3.5}", &[]), ",3.5\r\n");
        assert_eq!(
            eval(&mut r, "return {map={a=1}}", &[]),
            "%1\r\n$1\r\na\r\n:1\r\n"
        );
        assert_eq!(
            eval(&mut r, "return {set={x=true}}", &[]),
            "~1\r\n$1\r\nx\r\n"
        );
        assert_eq!(
            eval(&mut r, "return {big_number='12345678901234567890'}", &[]),
            "(12345678901234567890\r\n"
        );
        assert_eq!(
            eval(
                &mut r,
                "return {verbatim_string={format='txt', string='hi'}}",
                &[]
            ),
            "=6\r\ntxt:hi\r\n"
        );
        assert_eq!(eval(&mut r, "return false", &[]), "_\r\n");
        assert_eq!(eval(&mut r, "redis.setresp(3) return false", &[]), "#f\r\n");
        assert_eq!(eval(&mut r, "redis.setresp(3) return true", &[]), "#t\r\n");
        // RESP3 replies inside the script: a null is nil, a map is {map = ...}; on another
        // shard's key too (the script holds it and the hop answers in the script's protocol).
        for (missing, present) in [("m1", "p1"), ("m2", "p2"), ("m3", "p3"), ("m4", "p4")] {
            r.call(&["SET", present, "v"]);
            let keys = [missing, present];
            assert_eq!(
                eval(
                    &mut r,
                    "redis.setresp(3) return {redis.call('get', KEYS[1]) == nil, redis.call('get', KEYS[2])}",
                    &keys
                ),
                "*2\r\n#t\r\n$1\r\nv\r\n"
            );
            assert_eq!(
                eval(
                    &mut r,
                    "return {redis.call('get', KEYS[1]) == false, redis.call('get', KEYS[2])}",
                    &keys
                ),
                "*2\r\n:1\r\n$1\r\nv\r\n"
            );
        }
    });
}

#[test]
fn redis_cli_speaks_resp3() {
    if !have_tool("redis-cli") || !have_tool("redis-server") {
        return;
    }
    let redis = RedisServer::start();
    // redis-cli's human-readable form shows each RESP3 type its own way ("(double) 1.5",
    // "(true)", "1# key => value"): the same output as against redis-server is the check.
    let cli = |port: u16, args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .args(["-3", "--no-raw", "-p", &port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let lines: &[&[&str]] = &[
        &["SET", "a", "1"],
        &["GET", "none"],
        &["MGET", "a", "none", "b"],
        &["CONFIG", "GET", "maxmemory"],
        &["EVAL", "return {double=1.5}", "0"],
        &["EVAL", "redis.setresp(3) return true", "0"],
        &["EVAL", "return {map={k='v'}}", "0"],
        &["EVAL", "return {set={x=true}}", "0"],
        &["HELLO", "4"],
    ];
    for shards in SHARD_COUNTS {
        let s = Server::start(shards);
        for args in lines {
            let want = cli(redis.port, args);
            assert!(!want.is_empty(), "{args:?}");
            assert_eq!(cli(s.port, args), want, "{args:?}");
        }
        assert!(cli(s.port, &["INFO", "server"]).contains("redis_version:"));
    }
}
