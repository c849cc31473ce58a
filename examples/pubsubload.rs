//! A pub/sub load generator, for scripts/pubsub-bench (redis-benchmark cannot subscribe).
//!
//! `--subs N` connections SUBSCRIBE to one channel (each on its own thread, reading), then one
//! publisher connection sends `-n` PUBLISH commands in batches of `--pipeline` (waiting for each
//! batch's replies before the next). Each message carries the time it was sent; each subscriber
//! records, per message, the time from send to receive. Prints one line:
//!
//! ```text
//! published=<n> delivered=<n*subs> pub_per_s=<..> deliveries_per_s=<..> p50_us=<..> p99_us=<..>
//! ```
//! and fails if any subscriber missed a message or got one out of order.
//!
//! ```text
//! cargo run --release --example pubsubload -- --port 6379 --subs 10 -n 100000 --pipeline 16
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

fn resp(out: &mut Vec<u8>, parts: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", parts.len()).as_bytes());
    for p in parts {
        out.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
}

/// Reads exactly `want` `\r\n`-terminated lines' worth of replies of one kind: counts lines.
fn read_lines(s: &mut TcpStream, buf: &mut Vec<u8>, lines: usize) {
    let mut seen = 0;
    let mut chunk = [0u8; 65536];
    loop {
        seen += buf.iter().filter(|&&c| c == b'\n').count();
        if seen >= lines {
            buf.clear();
            return;
        }
        buf.clear();
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = arg(&args, "--port", "6379").parse().unwrap();
    let subs: usize = arg(&args, "--subs", "1").parse().unwrap();
    let n: usize = arg(&args, "-n", "100000").parse().unwrap();
    let pipeline: usize = arg(&args, "--pipeline", "16").parse().unwrap();
    let size: usize = arg(&args, "--size", "32").parse().unwrap();
    let channel = b"bench:channel";
    let epoch = Instant::now();
    let ready = Arc::new(Barrier::new(subs + 1));
    let mut handles = Vec::new();
    for _ in 0..subs {
        let ready = ready.clone();
        handles.push(std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            s.set_nodelay(true).unwrap();
            let mut cmd = Vec::new();
            resp(&mut cmd, &[b"SUBSCRIBE", channel]);
            s.write_all(&cmd).unwrap();
            let mut buf = Vec::new();
            // *3 $9 subscribe $13 bench:channel :1 -> 6 lines
            read_lines(&mut s, &mut buf, 6);
            ready.wait();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut lat = Vec::with_capacity(n);
            let mut next_seq = 0usize;
            let mut pending: Vec<u8> = Vec::new();
            let mut chunk = vec![0u8; 1 << 16];
            while next_seq < n {
                let r = s.read(&mut chunk).expect("subscriber read");
                assert!(r > 0, "subscriber closed");
                let now = epoch.elapsed().as_nanos() as u64;
                pending.extend_from_slice(&chunk[..r]);
                // Each message: *3\r\n$7\r\nmessage\r\n$13\r\nbench:channel\r\n$L\r\n<seq>:<ns>:pad\r\n
                let mut at = 0;
                loop {
                    let rest = &pending[at..];
                    let Some(body) = parse_message(rest) else {
                        break;
                    };
                    let (len, payload) = body;
                    let text = std::str::from_utf8(payload).unwrap();
                    let mut it = text.split(':');
                    let seq: usize = it.next().unwrap().parse().unwrap();
                    let sent: u64 = it.next().unwrap().parse().unwrap();
                    assert_eq!(seq, next_seq, "message out of order");
                    next_seq += 1;
                    lat.push(now.saturating_sub(sent));
                    at += len;
                }
                pending.drain(..at);
            }
            lat
        }));
    }
    ready.wait();
    let mut p = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    p.set_nodelay(true).unwrap();
    let started = Instant::now();
    let mut batch = Vec::new();
    let mut buf = Vec::new();
    let mut seq = 0;
    while seq < n {
        batch.clear();
        let k = pipeline.min(n - seq);
        for _ in 0..k {
            let mut payload = format!("{seq}:{}:", epoch.elapsed().as_nanos()).into_bytes();
            payload.resize(payload.len().max(size), b'x');
            resp(&mut batch, &[b"PUBLISH", channel, &payload]);
            seq += 1;
        }
        p.write_all(&batch).unwrap();
        read_lines(&mut p, &mut buf, k);
    }
    let published_in = started.elapsed();
    let mut all: Vec<u64> = Vec::with_capacity(n * subs);
    for h in handles {
        all.extend(h.join().expect("subscriber"));
    }
    let delivered_in = started.elapsed();
    all.sort_unstable();
    let pct = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)] as f64 / 1000.0;
    println!(
        "published={n} delivered={} pub_per_s={:.0} deliveries_per_s={:.0} p50_us={:.1} p99_us={:.1}",
        all.len(),
        n as f64 / published_in.as_secs_f64(),
        all.len() as f64 / delivered_in.as_secs_f64(),
        pct(0.50),
        pct(0.99)
    );
}

/// One `message` push at the start of `b`: (its length, its payload).
fn parse_message(b: &[u8]) -> Option<(usize, &[u8])> {
    let mut at = 0;
    let line = |b: &[u8], at: &mut usize| -> Option<usize> {
        let nl = b[*at..].iter().position(|&c| c == b'\n')? + *at;
        let v = std::str::from_utf8(&b[*at + 1..nl - 1])
            .ok()?
            .parse()
            .ok()?;
        *at = nl + 1;
        Some(v)
    };
    if b.first() != Some(&b'*') && b.first() != Some(&b'>') {
        return None;
    }
    let parts = line(b, &mut at)?;
    let mut last = &b[0..0];
    for _ in 0..parts {
        let len = line(b, &mut at)?;
        if b.len() < at + len + 2 {
            return None;
        }
        last = &b[at..at + len];
        at += len + 2;
    }
    Some((at, last))
}
