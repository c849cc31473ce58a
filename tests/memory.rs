//! maxmemory against the real server: under sustained writes past the limit, RSS stays within
//! maxmemory + 10% + a fixed base for every policy; noeviction answers OOM; MEMORY USAGE,
//! INFO memory, and CONFIG SET maxmemory at run time.

mod common;
use common::*;
use std::time::Duration;

fn rss_bytes(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap();
    s.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4096
}

fn info_u64(raw: &mut Raw, section: &str, field: &str) -> u64 {
    let text = raw.call(&["INFO", section]);
    text.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("{field} missing in {text}"))
}

/// Writes `n` keys with 1 KiB values in pipelined batches, all with a TTL when `ttl`.
fn write_load(raw: &mut Raw, prefix: &str, n: usize, ttl: bool) -> usize {
    let value = "x".repeat(1024);
    let mut oom = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut stream = Vec::new();
        for i in chunk {
            let key = format!("{prefix}:{i}");
            if ttl {
                stream.extend(cmd(&["SET", &key, &value, "EX", "100000"]));
            } else {
                stream.extend(cmd(&["SET", &key, &value]));
            }
        }
        raw.send(&stream);
        for _ in chunk {
            let r = raw.reply_string();
            if r.starts_with("-OOM") {
                oom += 1;
            } else {
                assert_eq!(r, "+OK\r\n");
            }
        }
    }
    oom
}

#[test]
fn rss_stays_within_maxmemory_under_sustained_writes_for_every_policy() {
    const MAXMEMORY: u64 = 16 << 20;
    let policies = [
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "allkeys-s3fifo",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ];
    for policy in policies {
        let s = Server::start_with(4, &["--maxmemory", "16mb", "--maxmemory-policy", policy]);
        let mut raw = s.raw();
        let base = rss_bytes(s.pid());
        // ~64 MiB of values: four times the limit.
        let oom = write_load(&mut raw, "k", 64 * 1024, policy.starts_with("volatile"));
        assert_eq!(oom, 0, "{policy}: writes refused");
        let rss = rss_bytes(s.pid());
        assert!(
            rss <= base + MAXMEMORY + MAXMEMORY / 10 + (8 << 20),
            "{policy}: RSS {} MiB over base {} MiB + 16 MiB + 10% + 8 MiB",
            rss >> 20,
            base >> 20
        );
        let used = info_u64(&mut raw, "memory", "used_memory");
        assert!(
            used <= MAXMEMORY + MAXMEMORY / 20,
            "{policy}: used_memory {used}"
        );
        assert!(
            info_u64(&mut raw, "stats", "evicted_keys") > 10_000,
            "{policy}"
        );
        let dbsize: u64 = raw
            .call(&["DBSIZE"])
            .trim_start_matches(':')
            .trim()
            .parse()
            .unwrap();
        assert!(
            dbsize > 5_000 && dbsize < 64 * 1024,
            "{policy}: {dbsize} keys"
        );
    }
}

#[test]
fn noeviction_answers_oom_but_reads_and_deletes_work() {
    for shards in SHARD_COUNTS {
        let s = Server::start_with(shards, &["--maxmemory", "4mb"]);
        let mut raw = s.raw();
        let oom = write_load(&mut raw, "k", 8 * 1024, false);
        assert!(oom > 1000, "only {oom} writes refused");
        assert_eq!(
            raw.call(&["SET", "one-more", "v"]),
            "-OOM command not allowed when used memory > 'maxmemory'.\r\n"
        );
        assert!(raw.call(&["GET", "k:1"]).starts_with("$1024\r\n"));
        assert_eq!(raw.call(&["DEL", "k:1"]), ":1\r\n");
        assert!(raw
            .call(&["INFO", "errorstats"])
            .contains("errorstat_OOM:count="));
        assert_eq!(info_u64(&mut raw, "stats", "evicted_keys"), 0);
        // Raising the limit at run time lets writes in again.
        assert_eq!(raw.call(&["CONFIG", "SET", "maxmemory", "64mb"]), "+OK\r\n");
        assert!(eventually(Duration::from_secs(5), || raw
            .call(&["SET", "after", "v"])
            == "+OK\r\n"));
    }
}

#[test]
fn lowering_maxmemory_at_run_time_evicts_in_the_background() {
    let s = Server::start(4);
    let mut raw = s.raw();
    assert_eq!(write_load(&mut raw, "k", 20_000, false), 0);
    assert_eq!(
        raw.call(&[
            "CONFIG",
            "SET",
            "maxmemory-policy",
            "allkeys-lru",
            "maxmemory",
            "4mb"
        ]),
        "+OK\r\n"
    );
    assert_eq!(
        raw.call(&["CONFIG", "GET", "maxmemory-policy"]),
        "*2\r\n$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lru\r\n"
    );
    // Nobody writes: the shards' background task brings memory under the limit.
    assert!(eventually(Duration::from_secs(10), || info_u64(
        &mut raw,
        "memory",
        "used_memory"
    ) <= 4 << 20));
    assert_eq!(info_u64(&mut raw, "memory", "maxmemory"), 4 << 20);
    assert!(raw
        .call(&["INFO", "memory"])
        .contains("maxmemory_policy:allkeys-lru"));
    assert!(raw
        .call(&["CONFIG", "SET", "maxmemory-policy", "nope"])
        .starts_with("-ERR CONFIG SET failed"));
}

#[test]
fn memory_usage_reports_a_key() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards);
        let mut raw = s.raw();
        raw.call(&["SET", "m", &"v".repeat(1000)]);
        let n: i64 = raw
            .call(&["MEMORY", "USAGE", "m"])
            .trim_start_matches(':')
            .trim()
            .parse()
            .unwrap();
        assert!((1000..1200).contains(&n), "{n}");
        assert_eq!(raw.call(&["MEMORY", "USAGE", "missing"]), "$-1\r\n");
        assert_eq!(
            raw.call(&["MEMORY", "USAGE", "m", "SAMPLES", "5"])
                .starts_with(':'),
            true
        );
        assert!(raw
            .call(&["MEMORY", "DOCTOR", "x"])
            .starts_with("-ERR unknown subcommand 'DOCTOR'"));
    }
}

#[test]
fn connection_buffers_count_in_used_memory() {
    let s = Server::start(2);
    let mut raw = s.raw();
    let before = info_u64(&mut raw, "memory", "mem_clients_normal");
    assert!(before >= 16 * 1024, "one connection's buffers: {before}");
    let mut others: Vec<Raw> = (0..20).map(|_| s.raw()).collect();
    for o in others.iter_mut() {
        assert_eq!(o.call(&["PING"]), "+PONG\r\n");
    }
    let with = info_u64(&mut raw, "memory", "mem_clients_normal");
    assert!(with >= before + 20 * 16 * 1024, "{before} -> {with}");
    assert!(info_u64(&mut raw, "memory", "used_memory") >= with);
    drop(others);
    assert!(eventually(Duration::from_secs(5), || info_u64(
        &mut raw,
        "memory",
        "mem_clients_normal"
    ) <= before + 4096));
}
