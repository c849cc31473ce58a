//! Store micro-benchmarks on a 1,000,000-key table (16-byte keys, 32-byte
//! values), plus a bytes-per-key report (stats() and RSS growth).

use corekv::store::{ExpiryUpdate, SetCond, Store};
use criterion::{black_box, Criterion};

const N: usize = 1_000_000;
const NOW: u64 = 1_700_000_000_000;

fn key(i: usize) -> [u8; 16] {
    let mut k = *b"key:000000000000";
    let mut n = i;
    for b in k[4..].iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

fn value(i: usize) -> [u8; 32] {
    let mut v = [b'v'; 32];
    v[..16].copy_from_slice(&key(i));
    v
}

fn fill(s: &mut Store, n: usize) {
    for i in 0..n {
        s.set(
            &key(i),
            &value(i),
            SetCond::Always,
            ExpiryUpdate::Persist,
            false,
            NOW,
        )
        .unwrap();
    }
}

/// A fixed pseudo-random visiting order, so lookups are not slab-sequential.
fn order(n: usize) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n as u32).collect();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

fn rss_bytes() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn memory_report() {
    let before = rss_bytes();
    let mut s = Store::new();
    fill(&mut s, N);
    let after = rss_bytes();
    let st = s.stats();
    eprintln!("== memory, {N} keys, 16-byte keys, 32-byte values ==");
    eprintln!(
        "stats: data {} B/key, overhead {:.1} B/key, total {:.1} B/key",
        st.data_bytes / N,
        st.overhead_bytes as f64 / N as f64,
        (st.data_bytes + st.overhead_bytes) as f64 / N as f64
    );
    if let (Some(b), Some(a)) = (before, after) {
        eprintln!(
            "RSS growth: {:.1} B/key ({} MiB)",
            (a - b) as f64 / N as f64,
            (a - b) >> 20
        );
    }
    let mut t = Store::new();
    let before = rss_bytes();
    for i in 0..N {
        t.set(
            &key(i),
            &value(i),
            SetCond::Always,
            ExpiryUpdate::At(NOW + 1000 + i as u64),
            false,
            NOW,
        )
        .unwrap();
    }
    let after = rss_bytes();
    if let (Some(b), Some(a)) = (before, after) {
        eprintln!(
            "RSS growth, every key with a TTL: {:.1} B/key",
            (a - b) as f64 / N as f64
        );
    }
    drop(t);
    drop(s);
}

fn benches(c: &mut Criterion) {
    let mut s = Store::new();
    fill(&mut s, N);
    let ord = order(N);
    let keys: Vec<[u8; 16]> = ord.iter().map(|&i| key(i as usize)).collect();
    let misses: Vec<[u8; 16]> = ord.iter().map(|&i| key(i as usize + N)).collect();
    let vals: Vec<[u8; 32]> = ord.iter().map(|&i| value(i as usize + 7)).collect();

    let mut g = c.benchmark_group("store_1M");
    let mut i = 0usize;
    g.bench_function("get_hit", |b| {
        b.iter(|| {
            i = (i + 1) % N;
            black_box(s.get(&keys[i], NOW).unwrap().map(|v| v.len()))
        })
    });
    g.bench_function("get_miss", |b| {
        b.iter(|| {
            i = (i + 1) % N;
            black_box(s.get(&misses[i], NOW).unwrap().is_none())
        })
    });
    g.bench_function("set_overwrite", |b| {
        b.iter(|| {
            i = (i + 1) % N;
            black_box(
                s.set(
                    &keys[i],
                    &vals[i],
                    SetCond::Always,
                    ExpiryUpdate::Persist,
                    false,
                    NOW,
                )
                .unwrap()
                .written,
            )
        })
    });
    drop(s);

    // Counters: a second 1M-key table whose values are integers.
    let mut ctr = Store::new();
    for k in &keys {
        ctr.set(
            k,
            b"1000",
            SetCond::Always,
            ExpiryUpdate::Persist,
            false,
            NOW,
        )
        .unwrap();
    }
    g.bench_function("incr", |b| {
        b.iter(|| {
            i = (i + 1) % N;
            black_box(ctr.incr_by(&keys[i], 1, NOW).unwrap())
        })
    });
    g.finish();
}

fn main() {
    memory_report();
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
