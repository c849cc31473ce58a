//! Connection and server commands that clients send on connect (HELLO, CLIENT, COMMAND, CONFIG,
//! INFO, SELECT) and the all-shard commands, against the real server at 1 and 4 shards.

mod common;
use common::*;

fn for_each_shard_count(test: impl Fn(&Server)) {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards);
        test(&s);
    }
}

#[test]
fn ping_echo_time_select_quit() {
    for_each_shard_count(|s| {
        let mut raw = s.raw();
        assert_eq!(raw.call(&["PING"]), "+PONG\r\n");
        assert_eq!(raw.call(&["PING", "hi"]), "$2\r\nhi\r\n");
        assert_eq!(
            raw.call(&["PING", "a", "b"]),
            "-ERR wrong number of arguments for 'ping' command\r\n"
        );
        assert_eq!(raw.call(&["ECHO", "x y"]), "$3\r\nx y\r\n");
        assert_eq!(raw.call(&["SELECT", "0"]), "+OK\r\n");
        assert_eq!(
            raw.call(&["SELECT", "1"]),
            "-ERR DB index is out of range\r\n"
        );
        assert_eq!(
            raw.call(&["SELECT", "x"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        let t = raw.call(&["TIME"]);
        assert!(t.starts_with("*2\r\n$10\r\n"), "{t}");
        assert_eq!(raw.call(&["QUIT"]), "+OK\r\n");
        assert!(raw.is_closed());
    });
}

#[test]
fn hello_and_client_commands() {
    for_each_shard_count(|s| {
        let mut raw = s.raw();
        let hello = raw.call(&["HELLO", "2", "SETNAME", "me"]);
        assert!(
            hello.starts_with("*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n"),
            "{hello}"
        );
        assert!(hello.contains("$5\r\nproto\r\n:2\r\n"));
        assert_eq!(
            raw.call(&["HELLO", "4"]),
            "-NOPROTO unsupported protocol version\r\n"
        );
        assert_eq!(
            raw.call(&["HELLO", "x"]),
            "-ERR Protocol version is not an integer or out of range\r\n"
        );
        assert_eq!(
            raw.call(&["HELLO", "2", "BOGUS"]),
            "-ERR Syntax error in HELLO option 'BOGUS'\r\n"
        );
        assert_eq!(raw.call(&["CLIENT", "GETNAME"]), "$2\r\nme\r\n");
        assert_eq!(
            raw.call(&["CLIENT", "SETNAME", "bad name"]),
            "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
        );
        assert_eq!(raw.call(&["CLIENT", "SETNAME", "worker-1"]), "+OK\r\n");
        assert_eq!(
            raw.call(&["CLIENT", "SETINFO", "LIB-NAME", "corekv-tests"]),
            "+OK\r\n"
        );
        assert_eq!(
            raw.call(&["CLIENT", "SETINFO", "LIB-VER", "1.0"]),
            "+OK\r\n"
        );
        let id = raw.call(&["CLIENT", "ID"]);
        assert!(id.starts_with(':'));
        let info = raw.call(&["CLIENT", "INFO"]);
        assert!(
            info.contains("name=worker-1") && info.contains("lib-name=corekv-tests"),
            "{info}"
        );
        assert!(
            info.contains(&format!("id={} ", id.trim_start_matches(':').trim())),
            "{info}"
        );
        assert_eq!(
            raw.call(&["CLIENT", "NOSUCH"]),
            "-ERR unknown subcommand 'NOSUCH'. Try CLIENT HELP.\r\n"
        );
        // CLIENT LIST sees connections on every shard.
        let others: Vec<Raw> = (0..6).map(|_| s.raw()).collect();
        let mut others = others;
        for o in others.iter_mut() {
            assert_eq!(o.call(&["PING"]), "+PONG\r\n");
        }
        let list = raw.call(&["CLIENT", "LIST"]);
        assert!(list.matches("id=").count() >= 7, "{list}");
        assert!(list.contains("name=worker-1"));
    });
}

#[test]
fn command_and_config() {
    for_each_shard_count(|s| {
        let mut con = s.client();
        let count: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut con).unwrap();
        let all: Vec<redis::Value> = redis::cmd("COMMAND").query(&mut con).unwrap();
        assert_eq!(all.len() as i64, count);
        assert!(count >= 50);
        let mut raw = s.raw();
        let info = raw.call(&["COMMAND", "INFO", "get", "nosuch"]);
        assert!(
            info.starts_with("*2\r\n*10\r\n$3\r\nget\r\n:2\r\n"),
            "{info}"
        );
        assert!(info.ends_with("*-1\r\n"));
        let docs = raw.call(&["COMMAND", "DOCS", "set"]);
        assert!(
            docs.starts_with("*2\r\n$3\r\nset\r\n") && docs.contains("summary"),
            "{docs}"
        );
        // redis-cli builds its interactive hints from these argument specs.
        assert!(docs.contains("$9\r\narguments\r\n"), "{docs}");
        assert!(docs.contains("$5\r\ntoken\r\n$2\r\nEX\r\n"), "{docs}");
        assert!(docs.contains("$4\r\ntype\r\n$5\r\noneof\r\n"), "{docs}");
        assert_eq!(
            raw.call(&["CONFIG", "GET", "save"]),
            "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"
        );
        assert_eq!(
            raw.call(&["CONFIG", "GET", "appendonly"]),
            "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"
        );
        let port = raw.call(&["CONFIG", "GET", "port"]);
        assert!(port.contains(&s.port.to_string()));
        assert_eq!(raw.call(&["CONFIG", "SET", "hz", "20"]), "+OK\r\n");
        assert_eq!(
            raw.call(&["CONFIG", "GET", "hz"]),
            "*2\r\n$2\r\nhz\r\n$2\r\n20\r\n"
        );
        assert_eq!(raw.call(&["CONFIG", "SET", "save", ""]), "+OK\r\n");
        assert_eq!(
            raw.call(&["CONFIG", "SET", "nosuch", "1"]),
            "-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n"
        );
        assert_eq!(
            raw.call(&["CONFIG", "GET"]),
            "-ERR wrong number of arguments for 'config|get' command\r\n"
        );
        assert_eq!(
            raw.call(&["CONFIG", "NOSUCH"]),
            "-ERR unknown subcommand 'NOSUCH'. Try CONFIG HELP.\r\n"
        );
    });
}

fn info_field(info: &str, name: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
}

#[test]
fn info_aggregates_every_shard() {
    for_each_shard_count(|s| {
        let mut con = s.client();
        for i in 0..100 {
            let _: () = redis::cmd("SET")
                .arg(format!("k{i}"))
                .arg(i)
                .query(&mut con)
                .unwrap();
        }
        let _: () = redis::cmd("EXPIRE")
            .arg("k1")
            .arg(100)
            .query(&mut con)
            .unwrap();
        let _: redis::RedisResult<()> = redis::cmd("INCR").arg("k1").arg("extra").query(&mut con);
        let _: Option<String> = redis::cmd("GET").arg("nope").query(&mut con).unwrap();
        let info: String = redis::cmd("INFO").query(&mut con).unwrap();
        assert_eq!(
            info_field(&info, "redis_version").as_deref(),
            Some("7.0.15")
        );
        assert!(info_field(&info, "corekv_version").is_some());
        assert_eq!(
            info_field(&info, "db0").as_deref(),
            Some("keys=100,expires=1,avg_ttl=0")
        );
        assert!(
            info_field(&info, "keyspace_misses")
                .unwrap()
                .parse::<u64>()
                .unwrap()
                >= 1
        );
        assert!(info_field(&info, "errorstat_ERR").is_some(), "{info}");
        assert!(info.contains("# Shards"));
        assert_eq!(
            info.matches("shard").filter(|_| true).count() >= s.shards,
            true
        );
        let all: String = redis::cmd("INFO").arg("all").query(&mut con).unwrap();
        let set_calls = info_field(&all, "cmdstat_set").unwrap();
        assert!(set_calls.starts_with("calls=100,"), "{set_calls}");
        let only: String = redis::cmd("INFO").arg("keyspace").query(&mut con).unwrap();
        assert!(
            only.starts_with("# Keyspace") && !only.contains("# Server"),
            "{only}"
        );
        let dbsize: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        assert_eq!(dbsize, 100);
        let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
        let dbsize: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        assert_eq!(dbsize, 0);
    });
}

#[test]
fn info_hops_counts_the_cross_core_hops() {
    for_each_shard_count(|s| {
        let mut con = s.client();
        for i in 0..200 {
            let _: Option<String> = redis::cmd("GET")
                .arg(format!("hop{i}"))
                .query(&mut con)
                .unwrap();
        }
        let info: String = redis::cmd("INFO").arg("hops").query(&mut con).unwrap();
        let n = |f: &str| -> f64 { info_field(&info, f).unwrap().trim().parse().unwrap() };
        assert!(info.starts_with("# Hops"), "{info}");
        // INFO's own gather is a hop to each other shard, counted by some shards before
        // their counters are read and by others after.
        assert!(
            n("hops_served") - n("hops_sent") <= s.shards as f64,
            "{info}"
        );
        if s.shards == 1 {
            assert_eq!(n("hops_sent"), 0.0, "{info}");
        } else {
            // One GET in a connection's batch: each GET for another shard's key is one hop
            // (about 3 in 4 of 200 at 4 shards), and one in 16 hops is timed.
            assert!((100.0..=200.0).contains(&n("hops_sent")), "{info}");
            assert!(n("hop_samples") >= 1.0, "{info}");
            assert!(n("hop_to_peer_us_avg") > 0.0, "{info}");
        }
        // Not a default section.
        let default: String = redis::cmd("INFO").query(&mut con).unwrap();
        assert!(!default.contains("# Hops"));
    });
}

#[test]
fn default_placement_is_reported_and_unpinned() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_corekv"))
        .args(["--bind", "127.0.0.1", "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let line = std::io::BufReader::new(out)
        .lines()
        .map(Result::unwrap)
        .find(|l| l.contains(" ready: listening on "))
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    // "N shard(s) (C CPUs, F free[, one left ...]; --shards N to choose), not pinned"
    assert!(line.contains(" CPUs, ") && line.contains(" free"), "{line}");
    assert!(line.ends_with("not pinned"), "{line}");
}
