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

/// kill -9 while clients run cross-shard transactions with `appendfsync always`, three times
/// over the same logs: after each restart every acknowledged transaction is there whole (its
/// receipt key exists) and no transaction is there in part (the accounts' total never
/// changes, whatever was cut). Transfers run as MULTI/EXEC (one pass over held shards), as
/// WATCHed transactions (shards taken first) and as cross-shard MSETs.
#[test]
fn kill9_during_cross_shard_transactions_keeps_them_whole() {
    const ACCOUNTS: usize = 12;
    const EACH: i64 = 100;
    let dir = temp_dir("txn-kill9");
    let accounts: Vec<String> = (0..ACCOUNTS).map(|i| format!("acct:{i}")).collect();
    let total = EACH * ACCOUNTS as i64;
    let mut receipts: Vec<String> = Vec::new();
    for round in 0..3 {
        let s = start(4, &dir, "always");
        let mut c = s.client();
        if round == 0 {
            let pairs: Vec<(String, i64)> = accounts.iter().map(|k| (k.clone(), EACH)).collect();
            let _: () = redis::Commands::mset(&mut c, &pairs).unwrap();
        }
        // Everything acknowledged before the last crash is whole.
        let vals: Vec<i64> = redis::Commands::mget(&mut c, &accounts).unwrap();
        assert_eq!(
            vals.iter().sum::<i64>(),
            total,
            "round {round}: torn: {vals:?}"
        );
        for r in &receipts {
            let e: bool = redis::Commands::exists(&mut c, r).unwrap();
            assert!(e, "round {round}: acknowledged transaction {r} lost");
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let workers: Vec<_> = (0..3)
            .map(|w| {
                let (url, accounts, stop) = (s.url(), accounts.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut acked = Vec::new();
                    let Ok(client) = redis::Client::open(url) else {
                        return acked;
                    };
                    let Ok(mut c) = client.get_connection() else {
                        return acked;
                    };
                    let mut x = 0x9E37_79B9u64 + (w * 7 + round) as u64;
                    let mut i = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let from = &accounts[(x % ACCOUNTS as u64) as usize];
                        let to = &accounts[((x >> 8) % ACCOUNTS as u64) as usize];
                        let receipt = format!("receipt:{round}:{w}:{i}");
                        i += 1;
                        // Ok(true): applied; Ok(false): a WATCHed key changed, not applied.
                        let r: redis::RedisResult<bool> = if w == 1 {
                            redis::cmd("WATCH")
                                .arg(from)
                                .query::<()>(&mut c)
                                .and_then(|_| {
                                    redis::pipe()
                                        .atomic()
                                        .decr(from, 3)
                                        .ignore()
                                        .incr(to, 3)
                                        .ignore()
                                        .set(&receipt, 1)
                                        .ignore()
                                        .query::<Option<()>>(&mut c)
                                        .map(|r| r.is_some())
                                })
                        } else {
                            redis::pipe()
                                .atomic()
                                .decr(from, 1)
                                .ignore()
                                .incr(to, 1)
                                .ignore()
                                .set(&receipt, 1)
                                .ignore()
                                .query::<()>(&mut c)
                                .map(|_| true)
                        };
                        match r {
                            Ok(true) => acked.push(receipt),
                            Ok(false) => {}
                            Err(_) => break, // the server was killed
                        }
                    }
                    acked
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(400 + 150 * round as u64));
        s.kill9();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for w in workers {
            receipts.extend(w.join().unwrap());
        }
    }
    // The final state, once more.
    let s = start(4, &dir, "always");
    let mut c = s.client();
    let vals: Vec<i64> = redis::Commands::mget(&mut c, &accounts).unwrap();
    assert_eq!(
        vals.iter().sum::<i64>(),
        total,
        "after the last crash: {vals:?}"
    );
    assert!(s.stop().success());
}

/// One RESP record.
fn record(args: &[&[u8]]) -> Vec<u8> {
    let mut r = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        r.extend(format!("${}\r\n", a.len()).bytes());
        r.extend_from_slice(a);
        r.extend_from_slice(b"\r\n");
    }
    r
}

/// A key that lives on shard `s` of `shards`.
fn key_on(s: usize, shards: usize, name: &str) -> String {
    (0..)
        .map(|i| format!("{name}{i}"))
        .find(|k| corekv::shard::slot::key_shard(k.as_bytes(), shards) == s)
        .unwrap()
}

/// Logs as a crash can leave them: a transaction whose part is in one shard's log and not in
/// the other's is dropped whole (with a warning), a whole one is applied, a part whose missing
/// partner's log was restarted by a later snapshot is applied (the snapshot holds the other
/// part), and records outside transactions replay as before.
#[test]
fn a_transaction_torn_by_a_crash_is_dropped_whole() {
    let dir = temp_dir("txn-torn");
    let (a0, b0, c0, p0) = (
        key_on(0, 2, "a"),
        key_on(0, 2, "b"),
        key_on(0, 2, "c"),
        key_on(0, 2, "p"),
    );
    let b1 = key_on(1, 2, "b");
    let part = |k: &str| record(&[b"SET", k.as_bytes(), b"v"]);
    let mut log0 = Vec::new();
    log0.extend(record(&[b"__txn", b"1.torn", b"0", b"0,1", &part(&a0)]));
    log0.extend(record(&[b"__txn", b"1.whole", b"0", b"0,1", &part(&b0)]));
    log0.extend(record(&[b"__txn", b"1.excused", b"0", b"0,1", &part(&c0)]));
    log0.extend(record(&[b"SET", p0.as_bytes(), b"plain"]));
    // Shard 1's log has no snapshot base: a part missing there can only have been lost to the
    // crash, so both "torn" and "excused" are dropped; only "whole" has both parts.
    let mut log1 = Vec::new();
    log1.extend(record(&[b"__txn", b"1.whole", b"0", b"0,1", &part(&b1)]));
    std::fs::write(dir.join("appendonly-0-of-2.aof"), &log0).unwrap();
    std::fs::write(dir.join("appendonly-1-of-2.aof"), &log1).unwrap();
    let (_, text) = run_corekv(&[
        "--shards",
        "2",
        "--appendonly",
        "yes",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert!(text.contains("dropping transaction 1.torn"), "{text}");
    assert!(text.contains("dropping transaction 1.excused"), "{text}");
    let s = start(2, &dir, "always");
    let mut raw = s.raw();
    check(&mut raw, &["EXISTS", &a0, &c0], ":0\r\n");
    check(
        &mut raw,
        &["MGET", &b0, &b1],
        "*2\r\n$1\r\nv\r\n$1\r\nv\r\n",
    );
    check(&mut raw, &["GET", &p0], "$5\r\nplain\r\n");
    s.kill9();

    // Now shard 1's log continues from a snapshot of epoch 5: a part missing there from a
    // transaction of epoch 0 is in that snapshot, so the other part is applied.
    let dir = temp_dir("txn-excused");
    let mut log1 = record(&[b"__rdb-base"]);
    log1.extend(record(&[b"__base-epoch", b"5"]));
    std::fs::write(dir.join("appendonly-0-of-2.aof"), &log0).unwrap();
    std::fs::write(dir.join("appendonly-1-of-2.aof"), &log1).unwrap();
    let s = start(2, &dir, "always");
    let mut raw = s.raw();
    check(&mut raw, &["EXISTS", &a0, &c0], ":2\r\n");
    s.kill9();
}
