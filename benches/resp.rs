//! Throughput of the RESP2 request parser and reply encoder on typical cache traffic.

use corekv::resp::parse::{Batch, Limits, Parser};
use corekv::resp::reply;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

fn multibulk(args: &[&[u8]], out: &mut Vec<u8>) {
    reply::array(out, args.len());
    for a in args {
        reply::bulk(out, a);
    }
}

fn bench_parse(c: &mut Criterion) {
    let value = [b'v'; 32];
    let mut gets = Vec::new();
    let mut sets = Vec::new();
    for i in 0..1000 {
        let key = format!("key:{i:06}");
        multibulk(&[b"GET", key.as_bytes()], &mut gets);
        multibulk(&[b"SET", key.as_bytes(), &value], &mut sets);
    }
    let keys: Vec<String> = (0..100).map(|i| format!("key:{i:06}")).collect();
    let mut mget_args: Vec<&[u8]> = vec![b"MGET"];
    mget_args.extend(keys.iter().map(|k| k.as_bytes()));
    let mut mget = Vec::new();
    multibulk(&mget_args, &mut mget);

    let mut g = c.benchmark_group("parse");
    let limits = Limits::default();
    for (name, input, elems) in [
        ("get_x1000", &gets, 1000u64),
        ("set_x1000", &sets, 1000),
        ("mget_100_keys", &mget, 101),
    ] {
        g.throughput(Throughput::Elements(elems));
        let mut parser = Parser::new();
        let mut batch = Batch::default();
        let mut buf = input.clone();
        g.bench_function(name, |b| {
            b.iter(|| {
                batch.clear();
                let n = parser
                    .parse(black_box(&mut buf), 0, &limits, &mut batch)
                    .unwrap();
                assert_eq!(n, buf.len());
                black_box(&batch);
            })
        });
    }
    g.finish();
}

fn bench_encode(c: &mut Criterion) {
    let value = [b'v'; 32];
    let mut g = c.benchmark_group("encode");
    let mut out = Vec::with_capacity(64 * 1024);
    g.throughput(Throughput::Elements(1000));
    g.bench_function("bulk32_x1000", |b| {
        b.iter(|| {
            out.clear();
            for _ in 0..1000 {
                reply::bulk(&mut out, black_box(&value));
            }
            black_box(&out);
        })
    });
    g.bench_function("int_x1000", |b| {
        b.iter(|| {
            out.clear();
            for i in 0..1000i64 {
                reply::int(&mut out, black_box(i * 37));
            }
            black_box(&out);
        })
    });
    g.throughput(Throughput::Elements(100));
    g.bench_function("mget_reply_100", |b| {
        b.iter(|| {
            out.clear();
            reply::array(&mut out, 100);
            for _ in 0..100 {
                reply::bulk(&mut out, black_box(&value));
            }
            black_box(&out);
        })
    });
    g.finish();
}

criterion_group!(benches, bench_parse, bench_encode);
criterion_main!(benches);
