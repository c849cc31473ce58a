//! The append-only log against the real server: kill -9 loses nothing acknowledged with
//! `appendfsync always` (also in loops of kill and restart under a writing client), `everysec`
//! loses at most about a second, SIGTERM and SHUTDOWN flush the log, a torn last record is cut
//! off, corruption elsewhere and a changed shard count stop the start with a clear message.

mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

fn start(shards: usize, dir: &std::path::Path, fsync: &str) -> Server {
    Server::start_with(
        shards,
        &[
            "--appendonly",
            "yes",
            "--dir",
            dir.to_str().unwrap(),
            "--appendfsync",
            fsync,
        ],
    )
}

/// Writes `n` keys (SET) and counters (INCR) in pipelined batches; returns what was acknowledged.
fn write_acked(raw: &mut Raw, round: usize, n: usize) -> Vec<(String, String)> {
    let mut acked = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        let mut stream = Vec::new();
        for i in chunk {
            stream.extend(cmd(&["SET", &format!("r{round}:k{i}"), &format!("v{i}")]));
            stream.extend(cmd(&["INCR", "counter"]));
        }
        raw.send(&stream);
        for i in chunk {
            assert_eq!(raw.reply_string(), "+OK\r\n");
            let c = raw.reply_string();
            assert!(c.starts_with(':'));
            acked.push((format!("r{round}:k{i}"), format!("v{i}")));
            acked.push((
                "counter".into(),
                c.trim_start_matches(':').trim().to_string(),
            ));
        }
    }
    acked
}

fn check_acked(raw: &mut Raw, acked: &[(String, String)]) {
    let mut max_counter = 0i64;
    for (k, v) in acked {
        if k == "counter" {
            max_counter = max_counter.max(v.parse().unwrap());
        } else {
            assert_eq!(
                raw.call(&["GET", k]),
                format!("${}\r\n{v}\r\n", v.len()),
                "{k} lost"
            );
        }
    }
    let c: i64 = raw
        .call(&["GET", "counter"])
        .lines()
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap();
    assert!(c >= max_counter, "counter {c} < acknowledged {max_counter}");
}

#[test]
fn kill9_with_always_loses_nothing_acknowledged_even_in_loops() {
    for shards in SHARD_COUNTS {
        let dir = temp_dir(&format!("always-{shards}"));
        let mut all_acked = Vec::new();
        for round in 0..3 {
            let s = start(shards, &dir, "always");
            let mut raw = s.raw();
            check_acked(&mut raw, &all_acked);
            all_acked.extend(write_acked(&mut raw, round, 600));
            // Expiry and deletes survive too.
            assert_eq!(raw.call(&["SET", "ttl", "x", "PX", "500000"]), "+OK\r\n");
            assert_eq!(raw.call(&["DEL", &format!("r{round}:k0")]), ":1\r\n");
            all_acked.retain(|(k, _)| k != &format!("r{round}:k0"));
            s.kill9();
        }
        let s = start(shards, &dir, "always");
        let mut raw = s.raw();
        check_acked(&mut raw, &all_acked);
        assert_eq!(raw.call(&["EXISTS", "r0:k0", "r1:k0", "r2:k0"]), ":0\r\n");
        let pttl: i64 = raw
            .call(&["PTTL", "ttl"])
            .trim_start_matches(':')
            .trim()
            .parse()
            .unwrap();
        assert!(pttl > 400_000 && pttl <= 500_000, "{pttl}");
        let info = raw.call(&["INFO", "persistence"]);
        assert!(info.contains("aof_enabled:1"), "{info}");
        let size: u64 = info
            .lines()
            .find_map(|l| l.strip_prefix("aof_current_size:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(size > 10_000, "{info}");
    }
}

#[test]
fn kill9_with_everysec_loses_at_most_about_a_second() {
    let dir = temp_dir("everysec");
    let s = start(4, &dir, "everysec");
    let mut raw = s.raw();
    let early = write_acked(&mut raw, 0, 500);
    // Writes acknowledged more than a second and a half before the crash must be on disk.
    std::thread::sleep(Duration::from_millis(1600));
    let _late = write_acked(&mut raw, 1, 200);
    s.kill9();
    let s = start(4, &dir, "everysec");
    let mut raw = s.raw();
    check_acked(&mut raw, &early);
}

#[test]
fn sigterm_and_shutdown_flush_the_log() {
    let dir = temp_dir("flush");
    let s = start(2, &dir, "no");
    let mut raw = s.raw();
    let acked = write_acked(&mut raw, 0, 300);
    assert!(s.stop().success());
    let s = start(2, &dir, "no");
    let mut raw = s.raw();
    check_acked(&mut raw, &acked);
    let more = write_acked(&mut raw, 1, 100);
    raw.send(&cmd(&["SHUTDOWN"]));
    assert!(raw.is_closed());
    assert!(s.stop().success());
    let s = start(2, &dir, "no");
    let mut raw = s.raw();
    check_acked(&mut raw, &acked);
    check_acked(&mut raw, &more);
}

fn run_corekv(args: &[&str]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_corekv"))
        .args(["--port", "0", "--bind", "127.0.0.1"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A server that starts is stopped again; one that fails exits by itself.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout);
            return (status.success(), text);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (
        true,
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn a_torn_last_record_is_cut_off_and_other_damage_stops_the_start() {
    let dir = temp_dir("torn");
    let s = start(1, &dir, "always");
    let mut raw = s.raw();
    assert_eq!(raw.call(&["SET", "a", "1"]), "+OK\r\n");
    assert_eq!(raw.call(&["SET", "b", "2"]), "+OK\r\n");
    s.kill9();
    let file = dir.join("appendonly-0-of-1.aof");
    let good_len = std::fs::metadata(&file).unwrap().len();
    // A crash in the middle of writing a record.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    std::io::Write::write_all(&mut f, b"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$5\r\nhal").unwrap();
    drop(f);
    let s = start(1, &dir, "always");
    let mut raw = s.raw();
    assert_eq!(
        raw.call(&["MGET", "a", "b", "c"]),
        "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n"
    );
    s.kill9();
    assert_eq!(
        std::fs::metadata(&file).unwrap().len(),
        good_len,
        "the torn record was not cut off"
    );
    // Damage before the end: the start fails and says where.
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[0] = b'#';
    std::fs::write(&file, &bytes).unwrap();
    let (ok, text) = run_corekv(&[
        "--shards",
        "1",
        "--appendonly",
        "yes",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert!(!ok, "started on a corrupt log: {text}");
    assert!(
        text.contains("appendonly-0-of-1.aof") && text.contains("offset"),
        "{text}"
    );
}

#[test]
fn a_changed_shard_count_is_refused() {
    let dir = temp_dir("layout");
    let s = start(2, &dir, "everysec");
    assert_eq!(s.raw().call(&["SET", "a", "1"]), "+OK\r\n");
    assert!(s.stop().success());
    let (ok, text) = run_corekv(&[
        "--shards",
        "4",
        "--appendonly",
        "yes",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(text.contains("--shards 2"), "{text}");
}

#[test]
fn a_snapshot_restarts_the_log_and_a_restart_loads_both() {
    for shards in SHARD_COUNTS {
        let dir = temp_dir(&format!("rotate-{shards}"));
        let s = start(shards, &dir, "always");
        let mut raw = s.raw();
        let before = write_acked(&mut raw, 0, 2000);
        let log_size = || -> u64 {
            (0..shards)
                .map(|i| {
                    std::fs::metadata(dir.join(format!("appendonly-{i}-of-{shards}.aof")))
                        .map_or(0, |m| m.len())
                })
                .sum()
        };
        let big = log_size();
        assert_eq!(
            raw.call(&["BGREWRITEAOF"]),
            "+Background append only file rewriting started\r\n"
        );
        assert!(eventually(Duration::from_secs(20), || raw
            .call(&["INFO", "persistence"])
            .contains("rdb_bgsave_in_progress:0")));
        // Writes after the snapshot go to the new log.
        let after = write_acked(&mut raw, 1, 100);
        assert!(
            eventually(Duration::from_secs(10), || log_size() < big / 2),
            "the log did not start over: {} -> {}",
            big,
            log_size()
        );
        s.kill9();
        let s = start(shards, &dir, "always");
        let mut raw = s.raw();
        check_acked(&mut raw, &before);
        check_acked(&mut raw, &after);
    }
}
