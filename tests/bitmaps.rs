//! Bitmaps against redis-server 7.0 itself: random SETBIT streams, BITOP over sources on several
//! shards, random BITFIELD GET/SET/INCRBY/OVERFLOW sequences, then BITCOUNT and BITPOS over random ranges in BYTE and BIT units, compared reply for
//! reply at 1 and 4 shards; SETBIT is
//! logged as itself (a one-bit change to a big bitmap does not log the bitmap) and replays.

mod common;
use common::*;

/// xorshift64: a reproducible stream for the random commands.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

#[test]
fn bitmaps_answer_as_redis_does() {
    if !have_tool("redis-server") {
        return;
    }
    let redis = RedisServer::start();
    for shards in SHARD_COUNTS {
        let s = Server::start(shards);
        let mut c = s.raw();
        let mut rr = Raw::connect(redis.port);
        rr.call(&["FLUSHALL"]);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for key in ["b1", "b2", "b3"] {
            for _ in 0..200 {
                let off = (next(&mut x) % 900).to_string();
                let v = (next(&mut x) % 2).to_string();
                let cmd = ["SETBIT", key, &off, &v];
                assert_eq!(c.call(&cmd), rr.call(&cmd), "{cmd:?}");
            }
        }
        // BITOP over sources on several shards, into a key on yet another.
        for op in ["AND", "OR", "XOR"] {
            for dest in ["dst", "b1"] {
                let cmd = ["BITOP", op, dest, "b1", "b2", "b3", "nokey"];
                assert_eq!(c.call(&cmd), rr.call(&cmd), "{cmd:?}");
                assert_eq!(c.call(&["GET", dest]), rr.call(&["GET", dest]), "{cmd:?}");
            }
        }
        let cmd = ["BITOP", "NOT", "dst", "b2"];
        assert_eq!(c.call(&cmd), rr.call(&cmd));
        assert_eq!(c.call(&["GET", "dst"]), rr.call(&["GET", "dst"]));
        // BITFIELD: random fields, values and overflow rules, the same answers as Redis.
        for _ in 0..300 {
            let mut cmd: Vec<String> = vec!["BITFIELD".into(), "bf".into()];
            for _ in 0..(1 + next(&mut x) % 4) {
                let signed = next(&mut x) % 2 == 0;
                let bits = 1 + next(&mut x) % if signed { 64 } else { 63 };
                let ty = format!("{}{bits}", if signed { "i" } else { "u" });
                let off = if next(&mut x) % 3 == 0 {
                    format!("#{}", next(&mut x) % 8)
                } else {
                    (next(&mut x) % 200).to_string()
                };
                let value = (next(&mut x) as i64 >> (next(&mut x) % 64)).to_string();
                match next(&mut x) % 4 {
                    0 => cmd.extend(["GET".into(), ty, off]),
                    1 => cmd.extend(["SET".into(), ty, off, value]),
                    2 => cmd.extend(["INCRBY".into(), ty, off, value]),
                    _ => cmd.extend([
                        "OVERFLOW".into(),
                        ["WRAP", "SAT", "FAIL"][(next(&mut x) % 3) as usize].into(),
                    ]),
                }
            }
            let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
            assert_eq!(c.call(&cmd), rr.call(&cmd), "{cmd:?}");
        }
        assert_eq!(c.call(&["GET", "bf"]), rr.call(&["GET", "bf"]));
        for _ in 0..400 {
            let key = ["b1", "b2", "b3", "nokey"][(next(&mut x) % 4) as usize];
            let a = (next(&mut x) % 260) as i64 - 130;
            let b = (next(&mut x) % 260) as i64 - 130;
            let (a, b) = (a.to_string(), b.to_string());
            let unit = ["BYTE", "BIT"][(next(&mut x) % 2) as usize];
            let bit = (next(&mut x) % 2).to_string();
            for cmd in [
                vec!["BITCOUNT", key, &a, &b, unit],
                vec!["BITCOUNT", key, &a, &b],
                vec!["BITPOS", key, &bit, &a, &b, unit],
                vec!["BITPOS", key, &bit, &a],
                vec!["BITPOS", key, &bit],
                vec!["GETBIT", key, &a.trim_start_matches('-').to_string()],
            ] {
                assert_eq!(c.call(&cmd), rr.call(&cmd), "{cmd:?} at {shards} shards");
            }
        }
    }
}

#[test]
fn setbit_is_logged_as_itself_and_replays() {
    for shards in SHARD_COUNTS {
        let dir = temp_dir(&format!("bitmap-aof-{shards}"));
        let args = [
            "--appendonly",
            "yes",
            "--dir",
            dir.to_str().unwrap(),
            "--appendfsync",
            "always",
        ];
        let s = Server::start_with(shards, &args);
        let mut r = s.raw();
        check(&mut r, &["SETBIT", "big", "8000000", "1"], ":0\r\n");
        let size = |d: &std::path::Path| -> u64 {
            std::fs::read_dir(d)
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".aof"))
                .map(|e| e.metadata().unwrap().len())
                .sum()
        };
        let before = size(&dir);
        for i in 0..10 {
            check(
                &mut r,
                &["SETBIT", "big", &(i * 3).to_string(), "1"],
                ":0\r\n",
            );
        }
        assert!(
            size(&dir) - before < 1000,
            "10 SETBITs logged {} bytes",
            size(&dir) - before
        );
        check(&mut r, &["BITCOUNT", "big"], ":11\r\n");
        drop(r);
        s.stop();
        let s = Server::start_with(shards, &args);
        let mut r = s.raw();
        check(&mut r, &["BITCOUNT", "big"], ":11\r\n");
        check(&mut r, &["GETBIT", "big", "27"], ":1\r\n");
        check(&mut r, &["STRLEN", "big"], ":1000001\r\n");
    }
}
