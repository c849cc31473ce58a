//! Authentication, client limits and hostile clients against the real server at 1 and 4 shards:
//! requirepass/AUTH/HELLO AUTH, the unauthenticated limits, maxclients, idle timeout, the query
//! buffer limit, a client that never reads, CLIENT KILL, SHUTDOWN and the INFO counters.

mod common;
use common::*;
use std::time::Duration;

fn info_field(info: &str, name: &str) -> Option<u64> {
    info.lines().find_map(|l| {
        l.strip_prefix(&format!("{name}:"))
            .and_then(|v| v.trim().parse().ok())
    })
}

#[test]
fn requirepass_gates_every_command_but_auth_hello_quit() {
    for shards in SHARD_COUNTS {
        let s = Server::start_with(shards, &["--requirepass", "s3cret"]);
        let mut raw = s.raw();
        assert_eq!(
            raw.call(&["GET", "k"]),
            "-NOAUTH Authentication required.\r\n"
        );
        assert_eq!(raw.call(&["PING"]), "-NOAUTH Authentication required.\r\n");
        assert_eq!(
            raw.call(&["MSET", "a", "1", "b", "2"]),
            "-NOAUTH Authentication required.\r\n"
        );
        // Unknown commands and wrong arity are reported first, as Redis does.
        assert!(raw
            .call(&["NOPE"])
            .starts_with("-ERR unknown command 'NOPE'"));
        assert_eq!(
            raw.call(&["AUTH", "wrong"]),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        );
        assert_eq!(
            raw.call(&["AUTH", "other", "s3cret"]),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        );
        assert_eq!(raw.call(&["AUTH", "a", "b", "c"]), "-ERR syntax error\r\n");
        assert!(raw
            .call(&["HELLO", "2"])
            .starts_with("-NOAUTH HELLO must be called with the client already authenticated"));
        assert_eq!(
            raw.call(&["HELLO", "2", "AUTH", "default", "nope"]),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        );
        assert_eq!(raw.call(&["AUTH", "s3cret"]), "+OK\r\n");
        assert_eq!(raw.call(&["SET", "k", "v"]), "+OK\r\n");
        assert_eq!(raw.call(&["GET", "k"]), "$1\r\nv\r\n");
        let mut raw2 = s.raw();
        assert!(raw2
            .call(&["HELLO", "2", "AUTH", "default", "s3cret"])
            .starts_with("*14\r\n"));
        assert_eq!(raw2.call(&["MGET", "k", "x"]), "*2\r\n$1\r\nv\r\n$-1\r\n");
        let mut raw3 = s.raw();
        assert_eq!(raw3.call(&["QUIT"]), "+OK\r\n");
        assert!(raw3.is_closed());
        let stats = raw.call(&["INFO", "stats"]);
        assert_eq!(
            info_field(&stats, "acl_access_denied_auth"),
            Some(3),
            "{stats}"
        );
        // The redis crate authenticates through the URL.
        let c = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{}/", s.port)).unwrap();
        let mut con = c.get_connection().unwrap();
        let v: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
        assert_eq!(v, "v");
    }
}

#[test]
fn without_a_password_auth_says_so_and_everything_is_open() {
    let s = Server::start(1);
    let mut raw = s.raw();
    assert!(raw
        .call(&["AUTH", "x"])
        .starts_with("-ERR AUTH <password> called without any password configured"));
    assert_eq!(raw.call(&["AUTH", "default", "anything"]), "+OK\r\n");
    assert_eq!(raw.call(&["PING"]), "+PONG\r\n");
}

#[test]
fn unauthenticated_clients_cannot_make_the_server_allocate() {
    for shards in SHARD_COUNTS {
        let s = Server::start_with(shards, &["--requirepass", "pw"]);
        let mut raw = s.raw();
        raw.send(b"*11\r\n");
        assert_eq!(
            raw.reply_string(),
            "-ERR Protocol error: unauthenticated multibulk length\r\n"
        );
        assert!(raw.is_closed());
        let mut raw = s.raw();
        raw.send(b"*2\r\n$3\r\nGET\r\n$16385\r\n");
        assert_eq!(
            raw.reply_string(),
            "-ERR Protocol error: unauthenticated bulk length\r\n"
        );
        assert!(raw.is_closed());
        // After AUTH in the same packet, big frames are fine again.
        let mut raw = s.raw();
        let mut stream = cmd(&["AUTH", "pw"]);
        stream.extend(resp(&[b"SET", b"big", &vec![b'x'; 100_000]]));
        stream.extend(cmd(&["STRLEN", "big"]));
        raw.send(&stream);
        assert_eq!(raw.reply_string(), "+OK\r\n");
        assert_eq!(raw.reply_string(), "+OK\r\n");
        assert_eq!(raw.reply_string(), ":100000\r\n");
        let stats = raw.call(&["INFO", "stats"]);
        assert_eq!(
            info_field(&stats, "total_protocol_errors"),
            Some(2),
            "{stats}"
        );
    }
}

#[test]
fn config_set_requirepass_applies_to_new_connections() {
    let s = Server::start(4);
    let mut admin = s.raw();
    assert_eq!(
        admin.call(&["CONFIG", "SET", "requirepass", "later"]),
        "+OK\r\n"
    );
    assert_eq!(admin.call(&["PING"]), "+PONG\r\n");
    let mut fresh = s.raw();
    assert_eq!(
        fresh.call(&["PING"]),
        "-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(fresh.call(&["AUTH", "later"]), "+OK\r\n");
    assert_eq!(
        admin.call(&["CONFIG", "GET", "requirepass"]),
        "*2\r\n$11\r\nrequirepass\r\n$5\r\nlater\r\n"
    );
    assert_eq!(admin.call(&["CONFIG", "SET", "requirepass", ""]), "+OK\r\n");
    assert_eq!(s.raw().call(&["PING"]), "+PONG\r\n");
}

#[test]
fn maxclients_refuses_the_extra_client_and_recovers() {
    for shards in SHARD_COUNTS {
        let s = Server::start_with(shards, &["--maxclients", "20"]);
        let mut held: Vec<Raw> = (0..20).map(|_| s.raw()).collect();
        for c in held.iter_mut() {
            assert_eq!(c.call(&["PING"]), "+PONG\r\n");
        }
        let mut extra = s.raw();
        assert_eq!(
            extra.reply_string(),
            "-ERR max number of clients reached\r\n"
        );
        assert!(extra.is_closed());
        drop(held.pop());
        assert!(eventually(Duration::from_secs(5), || {
            let mut again = s.raw();
            again.send(&cmd(&["PING"]));
            again.reply_string() == "+PONG\r\n"
        }));
        let stats = held[0].call(&["INFO", "stats"]);
        assert!(
            info_field(&stats, "rejected_connections").unwrap() >= 1,
            "{stats}"
        );
    }
}

#[test]
fn a_connection_storm_leaves_a_well_behaved_client_unaffected() {
    let s = Server::start_with(4, &["--maxclients", "1000"]);
    let mut good = s.raw();
    assert_eq!(good.call(&["SET", "steady", "1"]), "+OK\r\n");
    // 2,000 connection attempts at once: 1,000 are served, the rest refused, none hang.
    let storm: Vec<std::net::TcpStream> = (0..2000)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", s.port)).ok())
        .collect();
    assert!(
        storm.len() >= 1900,
        "only {} connects succeeded",
        storm.len()
    );
    assert_eq!(good.call(&["INCR", "steady"]), ":2\r\n");
    drop(storm);
    assert!(eventually(Duration::from_secs(10), || good
        .call(&["INFO", "clients"])
        .contains("connected_clients:1\r\n")));
    assert_eq!(good.call(&["GET", "steady"]), "$1\r\n2\r\n");
}

#[test]
fn idle_clients_are_closed_after_the_timeout() {
    let s = Server::start_with(2, &["--timeout", "1"]);
    let mut idle = s.raw();
    assert_eq!(idle.call(&["PING"]), "+PONG\r\n");
    idle.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert!(
        idle.is_closed(),
        "an idle client must be closed after --timeout"
    );
}

#[test]
fn the_query_buffer_limit_closes_only_the_offender() {
    for shards in SHARD_COUNTS {
        let s = Server::start_with(shards, &["--client-query-buffer-limit", "1mb"]);
        let mut good = s.raw();
        let mut big = s.raw();
        let mut frame = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n".to_vec();
        frame.extend(vec![b'x'; 2_000_000]);
        let _ = big.stream.write_all_ignoring_errors(&frame);
        assert!(big.is_closed());
        assert_eq!(good.call(&["PING"]), "+PONG\r\n");
    }
}

fn rss_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap();
    s.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4
}

#[test]
fn a_client_that_never_reads_pins_bounded_memory() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards);
        let mut good = s.raw();
        good.send(&resp(&[b"SET", b"big", &vec![b'v'; 1 << 20]]));
        assert_eq!(good.reply_string(), "+OK\r\n");
        let before = rss_kb(s.pid());
        // 3,000 GETs of a 1 MiB value (3 GiB of replies) from a client that never reads.
        let mut hog = s.raw();
        let mut stream = Vec::new();
        for _ in 0..3000 {
            stream.extend(cmd(&["GET", "big"]));
        }
        hog.stream.set_nonblocking(true).unwrap();
        let _ = hog.stream.write_all_ignoring_errors(&stream);
        for i in 0..20 {
            assert_eq!(good.call(&["INCR", &format!("n{i}")]), ":1\r\n");
        }
        let after = rss_kb(s.pid());
        assert!(
            after < before + 64 * 1024,
            "RSS grew from {before} kB to {after} kB"
        );
        drop(hog);
        assert_eq!(good.call(&["PING"]), "+PONG\r\n");
    }
}

#[test]
fn client_kill_by_id_and_address() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards);
        let mut admin = s.raw();
        let mut victims: Vec<Raw> = (0..3).map(|_| s.raw()).collect();
        let ids: Vec<String> = victims
            .iter_mut()
            .map(|v| {
                v.call(&["CLIENT", "ID"])
                    .trim_start_matches(':')
                    .trim()
                    .to_string()
            })
            .collect();
        assert_eq!(admin.call(&["CLIENT", "KILL", "ID", &ids[0]]), ":1\r\n");
        assert!(victims[0].is_closed());
        let info = victims[1].call(&["CLIENT", "INFO"]);
        let addr = info
            .split_whitespace()
            .find_map(|f| f.strip_prefix("addr="))
            .unwrap()
            .to_string();
        assert_eq!(admin.call(&["CLIENT", "KILL", &addr]), "+OK\r\n");
        assert!(victims[1].is_closed());
        assert_eq!(
            admin.call(&["CLIENT", "KILL", "127.0.0.1:1"]),
            "-ERR No such client\r\n"
        );
        assert_eq!(
            admin.call(&["CLIENT", "KILL", "ID", "0"]),
            "-ERR client-id should be greater than 0\r\n"
        );
        // SKIPME yes (the default) spares the caller; SKIPME no closes it after the reply.
        let my_id = admin
            .call(&["CLIENT", "ID"])
            .trim_start_matches(':')
            .trim()
            .to_string();
        assert_eq!(admin.call(&["CLIENT", "KILL", "ID", &my_id]), ":0\r\n");
        assert_eq!(victims[2].call(&["PING"]), "+PONG\r\n");
        assert_eq!(
            admin.call(&["CLIENT", "KILL", "ID", &my_id, "SKIPME", "no"]),
            ":1\r\n"
        );
        assert!(admin.is_closed());
    }
}

#[test]
fn shutdown_stops_the_server_gracefully() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards);
        let mut raw = s.raw();
        assert_eq!(
            raw.call(&["SHUTDOWN", "ABORT"]),
            "-ERR No shutdown in progress.\r\n"
        );
        assert_eq!(raw.call(&["SHUTDOWN", "BOGUS"]), "-ERR syntax error\r\n");
        raw.send(&cmd(&["SHUTDOWN", "NOSAVE"]));
        assert!(raw.is_closed());
        let pid = s.pid();
        let gone = eventually(Duration::from_secs(10), || {
            !std::path::Path::new(&format!("/proc/{pid}/stat")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map_or(true, |st| st.contains(") Z "))
        });
        assert!(gone, "server still running after SHUTDOWN");
        assert!(s.stop().success());
    }
}

/// `write_all` that stops at the first error (the server may close the connection midway).
trait WriteIgnoring {
    fn write_all_ignoring_errors(&mut self, bytes: &[u8]) -> std::io::Result<()>;
}

impl WriteIgnoring for std::net::TcpStream {
    fn write_all_ignoring_errors(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !bytes.is_empty() && std::time::Instant::now() < deadline {
            match self.write(bytes) {
                Ok(0) => break,
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
