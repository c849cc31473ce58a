//! HyperLogLog against redis-server 7.0 itself, at 1 and 4 shards: the same counts for the same
//! elements (small sets, where Redis is sparse, and 200,000 elements, where it is dense), PFCOUNT
//! and PFMERGE over keys on several shards, and HLLs moved both ways with DUMP/RESTORE keep their
//! counts (Redis's sparse form read by corekv, corekv's dense form read by Redis).

mod common;
use common::*;

#[test]
fn counts_match_redis_and_survive_dump_restore() {
    if !have_tool("redis-server") {
        return;
    }
    let redis = RedisServer::start();
    for shards in SHARD_COUNTS {
        let s = Server::start(shards);
        let mut c = s.raw();
        let mut rr = Raw::connect(redis.port);
        rr.call(&["FLUSHALL"]);
        // Small HLLs (Redis keeps them sparse) and a big one (dense), on different shards.
        for (key, n) in [("small1", 10usize), ("small2", 300), ("big", 200_000)] {
            for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
                let mut cmd = vec!["PFADD".to_string(), key.to_string()];
                cmd.extend(chunk.iter().map(|i| format!("{key}-element-{i}")));
                let a: Vec<&str> = cmd.iter().map(String::as_str).collect();
                assert_eq!(c.call(&a), rr.call(&a), "PFADD into {key}");
            }
            let cmd = ["PFCOUNT", key];
            assert_eq!(c.call(&cmd), rr.call(&cmd), "PFCOUNT {key}");
        }
        for cmd in [
            vec!["PFCOUNT", "small1", "small2", "big"],
            vec!["PFMERGE", "merged", "small1", "small2", "big", "nokey"],
            vec!["PFCOUNT", "merged"],
            vec!["PFADD", "small1", "small2-element-7", "fresh"],
            vec!["PFCOUNT", "small1"],
        ] {
            assert_eq!(c.call(&cmd), rr.call(&cmd), "{cmd:?}");
        }
        // DUMP/RESTORE both ways keeps the count.
        let mut rcon = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
            .unwrap()
            .get_connection()
            .unwrap();
        let mut con = s.client();
        for key in ["small2", "big"] {
            let from_redis: Vec<u8> = redis::cmd("DUMP").arg(key).query(&mut rcon).unwrap();
            let name = format!("{key}:from-redis");
            let _: () = redis::cmd("RESTORE")
                .arg(&name)
                .arg(0)
                .arg(&from_redis)
                .query(&mut con)
                .unwrap();
            let want: i64 = redis::cmd("PFCOUNT").arg(key).query(&mut rcon).unwrap();
            let got: i64 = redis::cmd("PFCOUNT").arg(&name).query(&mut con).unwrap();
            assert_eq!(got, want, "{key} restored from Redis");
            // A write to Redis's sparse form goes on from the same registers.
            let cmd = ["PFADD", &name, "one-more"];
            let a = c.call(&cmd);
            let b = rr.call(&["PFADD", key, "one-more"]);
            assert_eq!(a, b);
            assert_eq!(c.call(&["PFCOUNT", &name]), rr.call(&["PFCOUNT", key]));
            let from_corekv: Vec<u8> = redis::cmd("DUMP").arg(&name).query(&mut con).unwrap();
            let back = format!("{key}:back");
            let _: () = redis::cmd("RESTORE")
                .arg(&back)
                .arg(0)
                .arg(&from_corekv)
                .query(&mut rcon)
                .unwrap();
            let got: i64 = redis::cmd("PFCOUNT").arg(&back).query(&mut rcon).unwrap();
            let want: i64 = redis::cmd("PFCOUNT").arg(key).query(&mut rcon).unwrap();
            assert_eq!(got, want, "{key} restored into Redis");
        }
        // A damaged HLL is Redis's error, not a panic.
        let mut bad = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        bad.push(0x7f); // a run of 128 zero registers, then nothing: short of 16,384
        let _: () = redis::cmd("SET")
            .arg("bad")
            .arg(&bad)
            .query(&mut con)
            .unwrap();
        assert_eq!(
            c.call(&["PFCOUNT", "bad"]),
            "-INVALIDOBJ Corrupted HLL object detected\r\n"
        );
        assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    }
}
