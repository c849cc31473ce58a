//! Deep pipelines whose replies pass a hop's reply budget (1 MiB), with commands that gather
//! from several shards in between: the replies must all come back, complete and in order, and
//! the server must stay responsive and stop on SIGTERM.
//!
//! A hop that reaches its budget returns unfinished and is sent again for the rest. Before the
//! fix in `Pipeline::flush`, a gather whose part on one shard had run but whose part on another
//! had not was never completed (the resend dropped the part that had run), and the connection's
//! shard spun forever. The first test replays that case on every pair of shards; the second is
//! a bounded random differential test against redis-server.

mod common;
use common::*;
use corekv::shard::slot::key_shard;
use std::io::Write;

/// A value big enough that two replies pass the hop budget.
const BIG: usize = 700_000;

/// The `n`th hash tag (`{tN}` form, braces included) whose keys live on shard `s`.
fn tag_on(s: usize, shards: usize, n: usize) -> String {
    (0..)
        .map(|i| format!("{{t{i}}}"))
        .filter(|t| key_shard(t.as_bytes(), shards) == s)
        .nth(n)
        .unwrap()
}

fn bulk(v: &[u8]) -> Vec<u8> {
    let mut r = format!("${}\r\n", v.len()).into_bytes();
    r.extend_from_slice(v);
    r.extend_from_slice(b"\r\n");
    r
}

/// Sends `stream` from a second thread while this one reads `n` replies, so neither side
/// blocks on a full socket buffer (the server reads its next batch only after writing this one).
fn exchange(raw: &mut Raw, stream: Vec<u8>, n: usize) -> Vec<Vec<u8>> {
    let mut w = raw.stream.try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&stream).expect("send the pipeline"));
    let replies = (0..n).map(|_| raw.reply()).collect();
    writer.join().unwrap();
    replies
}

fn show(r: &[u8]) -> String {
    let s = String::from_utf8_lossy(&r[..r.len().min(120)]).into_owned();
    if r.len() > 120 {
        format!("{s}... ({} bytes)", r.len())
    } else {
        s
    }
}

/// The command of the report, and every other command that gathers from several shards,
/// between big replies of two other shards: `GET T ; GET T ; <gather S T> ; GET S ; GET S ; GET S`.
#[test]
fn gathers_between_big_replies_of_other_shards_complete() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards);
        let pairs: Vec<(usize, usize)> = if shards == 1 {
            vec![(0, 0)]
        } else {
            (0..shards)
                .flat_map(|a| (0..shards).filter(move |&b| b != a).map(move |b| (a, b)))
                .collect()
        };
        for (ps, pt) in pairs {
            let (ts, tt) = (tag_on(ps, shards, 0), tag_on(pt, shards, 1));
            let big_s = vec![b's'; BIG];
            let big_t = vec![b't'; BIG];
            let mut setup = s.raw();
            setup.send(b"*1\r\n$8\r\nFLUSHALL\r\n");
            assert_eq!(setup.reply_string(), "+OK\r\n");
            let k = |t: &str, name: &str| format!("{t}{name}");
            for (key, val) in [
                (k(&ts, "big"), &big_s[..]),
                (k(&tt, "big"), &big_t[..]),
                (k(&ts, "a"), b"A"),
                (k(&tt, "a"), b"B"),
                (k(&ts, "m"), b"1"),
                (k(&tt, "m"), b"2"),
            ] {
                setup.send(&resp(&[b"SET", key.as_bytes(), val]));
                assert_eq!(setup.reply_string(), "+OK\r\n");
            }
            let (sa, ta) = (k(&ts, "a"), k(&tt, "a"));
            let (sm, tm) = (k(&ts, "m"), k(&tt, "m"));
            let (sn, tn) = (k(&ts, "none"), k(&tt, "none"));
            // (gather, its exact reply or None for a reply checked by shape below)
            let gathers: Vec<(Vec<&str>, Option<&str>)> = vec![
                (vec!["MGET", &sa, &ta], Some("*2\r\n$1\r\nA\r\n$1\r\nB\r\n")),
                (vec!["MSET", &sm, "1", &tm, "2"], Some("+OK\r\n")),
                (vec!["DEL", &sn, &tn], Some(":0\r\n")),
                (vec!["UNLINK", &sn, &tn], Some(":0\r\n")),
                (vec!["EXISTS", &sa, &ta, &sn], Some(":2\r\n")),
                (vec!["TOUCH", &sa, &ta], Some(":2\r\n")),
                (vec!["DBSIZE"], Some(":6\r\n")),
                (vec!["KEYS", &sa], None),
                (vec!["RANDOMKEY"], None),
                (vec!["INFO", "keyspace"], None),
            ];
            let mut stream = Vec::new();
            let mut count = 0;
            // Three rounds in one write: a deep pipeline, every gather in each round.
            for _round in 0..3 {
                for (g, _) in &gathers {
                    for key in [k(&tt, "big"), k(&tt, "big")] {
                        stream.extend(cmd(&["GET", &key]));
                    }
                    stream.extend(cmd(g));
                    for _ in 0..3 {
                        stream.extend(cmd(&["GET", &k(&ts, "big")]));
                    }
                    count += 6;
                }
            }
            // Several connections, so the gathers run from shards that own neither key too.
            for _conn in 0..3 {
                let mut raw = s.raw();
                let replies = exchange(&mut raw, stream.clone(), count);
                let mut it = replies.iter();
                for _round in 0..3 {
                    for (g, want) in &gathers {
                        let ctx = format!("shards={shards} S={ps} T={pt} around {g:?}");
                        for _ in 0..2 {
                            assert!(*it.next().unwrap() == bulk(&big_t), "{ctx}");
                        }
                        let got = it.next().unwrap();
                        match want {
                            Some(w) => assert_eq!(show(got), *w, "{ctx}"),
                            None if g[0] == "KEYS" => {
                                assert_eq!(show(got), format!("*1\r\n${}\r\n{sa}\r\n", sa.len()))
                            }
                            None if g[0] == "RANDOMKEY" => {
                                assert!(got.starts_with(b"$") && got.len() < 64, "{ctx}")
                            }
                            None => assert!(
                                String::from_utf8_lossy(got).contains("db0:keys=6,"),
                                "{ctx}: {}",
                                show(got)
                            ),
                        }
                        for _ in 0..3 {
                            assert!(*it.next().unwrap() == bulk(&big_s), "{ctx}");
                        }
                    }
                }
            }
            // Every shard still answers a new client at once.
            for _ in 0..8 {
                assert_eq!(s.raw().call(&["PING"]), "+PONG\r\n");
            }
        }
        assert!(s.stop().success(), "corekv exits cleanly on SIGTERM");
    }
}

/// xorshift64*: a seeded stream of choices, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

/// One random command over a small key space spread on every shard: reads, writes, gathers,
/// barriers (cross-shard MSETNX and RENAME), errors, and big values now and then.
fn random_command(rng: &mut Rng, keys: &[String], counters: &[String]) -> Vec<Vec<u8>> {
    let key = |rng: &mut Rng| rng.pick(keys).clone().into_bytes();
    let some_keys = |rng: &mut Rng, max: usize| -> Vec<Vec<u8>> {
        (0..1 + rng.below(max)).map(|_| key(rng)).collect()
    };
    let value = |rng: &mut Rng| -> Vec<u8> {
        if rng.below(8) == 0 {
            let n = 400_000 + rng.below(700_000);
            vec![b'a' + rng.below(26) as u8; n]
        } else {
            format!("v{}", rng.below(1000)).into_bytes()
        }
    };
    let with = |name: &str, rest: Vec<Vec<u8>>| {
        let mut c = vec![name.as_bytes().to_vec()];
        c.extend(rest);
        c
    };
    match rng.below(20) {
        0..=4 => with("GET", vec![key(rng)]),
        5 | 6 => with("SET", vec![key(rng), value(rng)]),
        7 | 8 => with("MGET", some_keys(rng, 6)),
        9 => {
            let mut kv = Vec::new();
            for k in some_keys(rng, 4) {
                kv.push(k);
                kv.push(value(rng));
            }
            with("MSET", kv)
        }
        10 => with(*rng.pick(&["DEL", "UNLINK"]), some_keys(rng, 4)),
        11 => with(*rng.pick(&["EXISTS", "TOUCH"]), some_keys(rng, 5)),
        12 => with(
            *rng.pick(&["INCR", "DECR"]),
            // Mostly counters; sometimes a string key, for the not-an-integer error.
            vec![if rng.below(4) == 0 {
                key(rng)
            } else {
                rng.pick(counters).clone().into_bytes()
            }],
        ),
        13 => with("APPEND", vec![key(rng), b"+x".to_vec()]),
        14 => with(*rng.pick(&["STRLEN", "GETDEL"]), vec![key(rng)]),
        15 => with("GETRANGE", vec![key(rng), b"0".to_vec(), b"9".to_vec()]),
        16 => with("DBSIZE", vec![]),
        17 => {
            let mut kv = Vec::new();
            for k in some_keys(rng, 3) {
                kv.push(k);
                kv.push(value(rng));
            }
            with("MSETNX", kv)
        }
        18 => with(*rng.pick(&["RENAME", "RENAMENX"]), vec![key(rng), key(rng)]),
        _ => with(*rng.pick(&["MGET", "SET"]), vec![]), // wrong arity
    }
}

/// Random pipelines (1 to 300 commands, big values now and then) replayed on corekv and on
/// redis-server: every reply must be the same bytes. Bounded: a fixed seed list and round count.
#[test]
fn random_pipelines_match_redis_server() {
    if !have_tool("redis-server") {
        return;
    }
    let redis = RedisServer::start();
    for (shards, seed) in [(4usize, 0x5eed_0001u64), (4, 0x5eed_0002), (1, 0x5eed_0003)] {
        let s = Server::start(shards);
        let mut rng = Rng(seed);
        let tags: Vec<String> = (0..shards)
            .flat_map(|sh| (0..2).map(move |n| tag_on(sh, shards, n)))
            .collect();
        let keys: Vec<String> = tags.iter().map(|t| format!("{t}k")).collect();
        let counters: Vec<String> = tags.iter().map(|t| format!("{t}n")).collect();
        let mut ours = s.raw();
        let mut theirs = Raw::connect(redis.port);
        for r in [&mut ours, &mut theirs] {
            assert_eq!(r.call(&["FLUSHALL"]), "+OK\r\n");
        }
        for round in 0..24 {
            if round % 4 == 0 {
                // A new connection now and then: it lands on another home shard.
                ours = s.raw();
            }
            let depth = 1 + rng.below(300);
            let cmds: Vec<Vec<Vec<u8>>> = (0..depth)
                .map(|_| random_command(&mut rng, &keys, &counters))
                .collect();
            let mut stream = Vec::new();
            for c in &cmds {
                stream.extend(resp(&c.iter().map(Vec::as_slice).collect::<Vec<_>>()));
            }
            let got = exchange(&mut ours, stream.clone(), depth);
            let want = exchange(&mut theirs, stream, depth);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    g == w,
                    "shards={shards} seed={seed:#x} round={round} command {i} {:?}: corekv {:?}, redis {:?}",
                    String::from_utf8_lossy(&cmds[i][0]),
                    show(g),
                    show(w)
                );
            }
        }
        assert!(s.stop().success(), "corekv exits cleanly on SIGTERM");
    }
}
