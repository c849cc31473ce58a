//! A load generator for transactions, for scripts/bench (redis-benchmark cannot send MULTI/EXEC
//! blocks). Each of `--conns` connections sends, one block at a time:
//!
//! ```text
//! MULTI; SET A v; INCR B; GET A; GET B; EXEC
//! ```
//! where A and B are `key:{R}:a` / `key:{R}:b` with one random R per transaction (`--keys one`:
//! the hash tag puts both keys on one shard) or `key:R1:a` / `key:R2:b` with two random numbers
//! (`--keys spread`: usually two shards). Prints one line in redis-benchmark's `--csv` format
//! (rps, latencies in ms), where a "request" is one whole transaction.
//!
//! ```text
//! cargo run --release --example txnload -- --port 6379 --conns 50 -n 100000 --keys one
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

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

/// Length of the complete reply at the start of `b`, if it is all there.
fn reply_len(b: &[u8]) -> Option<usize> {
    let nl = b.iter().position(|&c| c == b'\n')?;
    let head = std::str::from_utf8(&b[1..nl.saturating_sub(1)]).ok()?;
    match b.first()? {
        b'+' | b'-' | b':' => Some(nl + 1),
        b'$' => {
            let n: i64 = head.parse().ok()?;
            if n < 0 {
                return Some(nl + 1);
            }
            let end = nl + 1 + n as usize + 2;
            (b.len() >= end).then_some(end)
        }
        b'*' => {
            let n: i64 = head.parse().ok()?;
            let mut at = nl + 1;
            for _ in 0..n.max(0) {
                at += reply_len(&b[at..])?;
            }
            Some(at)
        }
        _ => panic!("unexpected reply byte {:?}", b[0] as char),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = arg(&args, "--port", "6379").parse().unwrap();
    let conns: usize = arg(&args, "--conns", "50").parse().unwrap();
    let n: usize = arg(&args, "-n", "100000").parse().unwrap();
    let spread = arg(&args, "--keys", "one") == "spread";
    let keyspace: u64 = arg(&args, "-r", "100000").parse().unwrap();
    let depth: usize = arg(&args, "-P", "1").parse::<usize>().unwrap().max(1);
    let started = Instant::now();
    let threads: Vec<_> = (0..conns)
        .map(|t| {
            let per = n / conns + usize::from(t < n % conns);
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                s.set_nodelay(true).unwrap();
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ ((t as u64 + 1) * 0xD1B5_4A32_D192_ED03);
                let mut next = move || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng % keyspace
                };
                let value = [b'x'; 32];
                let (mut block, mut buf) = (Vec::new(), vec![0u8; 64 * 1024]);
                let mut lat = Vec::with_capacity(per);
                let mut sent = 0;
                while sent < per {
                    let n = depth.min(per - sent);
                    sent += n;
                    block.clear();
                    for _ in 0..n {
                        let (a, b) = if spread {
                            (format!("key:{}:a", next()), format!("key:{}:b", next()))
                        } else {
                            let r = next();
                            (format!("key:{{{r}}}:a"), format!("key:{{{r}}}:b"))
                        };
                        resp(&mut block, &[b"MULTI"]);
                        resp(&mut block, &[b"SET", a.as_bytes(), &value]);
                        resp(&mut block, &[b"INCR", b.as_bytes()]);
                        resp(&mut block, &[b"GET", a.as_bytes()]);
                        resp(&mut block, &[b"GET", b.as_bytes()]);
                        resp(&mut block, &[b"EXEC"]);
                    }
                    let t0 = Instant::now();
                    s.write_all(&block).expect("send");
                    let (mut filled, mut replies, mut at) = (0, 0, 0);
                    if buf.len() < 1024 * n {
                        buf.resize(1024 * n, 0);
                    }
                    while replies < 6 * n {
                        match reply_len(&buf[at..filled]) {
                            Some(len) => {
                                assert!(buf[at] != b'-', "error reply");
                                at += len;
                                replies += 1;
                            }
                            None => {
                                let r = s.read(&mut buf[filled..]).expect("read");
                                assert!(r > 0, "server closed the connection");
                                filled += r;
                            }
                        }
                    }
                    assert!(buf[..filled].ends_with(b"\r\n"));
                    let ms = t0.elapsed().as_secs_f64() * 1000.0;
                    lat.extend(std::iter::repeat_n(ms, n));
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<f64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let secs = started.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    let avg = lat.iter().sum::<f64>() / lat.len() as f64;
    println!("\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"");
    println!(
        "\"MULTI/EXEC\",\"{:.2}\",\"{avg:.3}\",\"{:.3}\",\"{:.3}\",\"{:.3}\",\"{:.3}\",\"{:.3}\"",
        n as f64 / secs,
        lat[0],
        pct(0.5),
        pct(0.95),
        pct(0.99),
        lat[lat.len() - 1]
    );
}
