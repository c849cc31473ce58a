//! MONITOR against the real server at 1 and 4 shards: every command executed on any core, in
//! Redis's line format (quoting, AUTH redacted, administrative commands hidden, a transaction's
//! commands when EXEC runs them, a script's calls as `[0 lua]`), until RESET.

mod common;
use common::*;

/// Reads one MONITOR line and returns what follows its timestamp.
fn line(m: &mut Raw) -> String {
    let l = m.reply_string();
    assert!(l.starts_with('+') && l.ends_with("\r\n"), "{l:?}");
    let (stamp, rest) = l[1..l.len() - 2].split_once(' ').unwrap();
    let (secs, micros) = stamp.split_once('.').unwrap();
    assert!(
        secs.parse::<u64>().unwrap() > 1_600_000_000 && micros.len() == 6,
        "{l}"
    );
    rest.to_string()
}

#[test]
fn monitor_streams_every_core_in_redis_format() {
    each(|s| {
        let mut m = s.raw();
        check(&mut m, &["MONITOR"], "+OK\r\n");
        let mut c = s.raw();
        let me = {
            let info = c.call(&["CLIENT", "INFO"]);
            let at = info.find("addr=").unwrap() + 5;
            info[at..].split(' ').next().unwrap().to_string()
        };
        // `CLIENT INFO` itself is the first line.
        assert_eq!(line(&mut m), format!("[0 {me}] \"CLIENT\" \"INFO\""));
        // Keys on every shard: each command shows once, in order for this connection.
        for k in ["a", "b", "c", "d", "e"] {
            c.call(&["SET", k, "x \"y\"\n"]);
        }
        for k in ["a", "b", "c", "d", "e"] {
            assert_eq!(
                line(&mut m),
                format!("[0 {me}] \"SET\" \"{k}\" \"x \\\"y\\\"\\n\"")
            );
        }
        // Administrative commands are not shown; AUTH's arguments are redacted.
        c.call(&["CONFIG", "GET", "maxmemory"]);
        c.call(&["AUTH", "secret"]);
        assert_eq!(line(&mut m), format!("[0 {me}] \"AUTH\" \"(redacted)\""));
        // A transaction: MULTI, its commands when EXEC runs them, then EXEC.
        c.call(&["MULTI"]);
        c.call(&["INCR", "a1"]);
        c.call(&["INCR", "b1"]);
        c.call(&["EXEC"]);
        for want in [
            "\"MULTI\"",
            "\"INCR\" \"a1\"",
            "\"INCR\" \"b1\"",
            "\"EXEC\"",
        ] {
            assert_eq!(line(&mut m), format!("[0 {me}] {want}"));
        }
        // A script and its calls (shown by the core that ran each: the script's own line and
        // its call's may arrive in either order when they ran on different cores).
        c.call(&["EVAL", "return redis.call('get', KEYS[1])", "1", "a"]);
        let mut two = [line(&mut m), line(&mut m)];
        two.sort();
        assert_eq!(
            two,
            [
                format!("[0 {me}] \"EVAL\" \"return redis.call('get', KEYS[1])\" \"1\" \"a\""),
                "[0 lua] \"get\" \"a\"".to_string()
            ]
        );
        // Another connection's commands show too.
        let mut other = s.raw();
        other.call(&["PING"]);
        let l = line(&mut m);
        assert!(l.ends_with("] \"PING\"") && !l.contains(&me), "{l}");
        // RESET stops monitoring: the next thing the monitor reads is its own reply.
        check(&mut m, &["RESET"], "+RESET\r\n");
        c.call(&["SET", "after", "1"]);
        check(&mut m, &["PING"], "+PONG\r\n");
    });
}

#[test]
fn redis_cli_monitor() {
    if !have_tool("redis-cli") {
        return;
    }
    each(|s| {
        let mut child = std::process::Command::new("redis-cli")
            .args(["-p", &s.port.to_string(), "MONITOR"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut c = s.raw();
        std::thread::sleep(std::time::Duration::from_millis(300));
        c.call(&["SET", "from-cli-test", "v"]);
        std::thread::sleep(std::time::Duration::from_millis(300));
        child.kill().unwrap();
        let mut text = String::new();
        use std::io::Read;
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        let _ = child.wait();
        assert!(text.contains("\"SET\" \"from-cli-test\" \"v\""), "{text}");
    });
}
