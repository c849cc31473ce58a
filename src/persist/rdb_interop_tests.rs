//! Interop of the RDB codec with the real `redis-server` and `redis-check-rdb` (each test is
//! skipped with a message when they are not installed): Redis loads what we write, and we read
//! what Redis writes (LZF strings, FREQ/IDLE opcodes, FUNCTION2, several databases).

use super::tests::{now_ms, write_file, Expected, TestEntry};
use super::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader as StdBufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn redis_available(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIPPED: {tool} is not installed; interop test not run");
    }
    ok
}

struct TempDir(PathBuf);
impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("corekv-rdb-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Debug, PartialEq)]
enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Resp>),
}

struct Conn {
    r: StdBufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    fn connect(port: u16) -> std::io::Result<Conn> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Conn {
            r: StdBufReader::new(s.try_clone()?),
            w: s,
        })
    }
    fn cmd(&mut self, args: &[&[u8]]) -> Resp {
        let mut m = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            m.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            m.extend_from_slice(a);
            m.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&m).unwrap();
        self.read()
    }
    fn read(&mut self) -> Resp {
        let mut line = String::new();
        self.r.read_line(&mut line).unwrap();
        let (kind, rest) = line.trim_end().split_at(1);
        match kind {
            "+" => Resp::Simple(rest.to_string()),
            "-" => Resp::Error(rest.to_string()),
            ":" => Resp::Int(rest.parse().unwrap()),
            "$" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Resp::Bulk(None);
                }
                let mut b = vec![0; n as usize + 2];
                self.r.read_exact(&mut b).unwrap();
                b.truncate(n as usize);
                Resp::Bulk(Some(b))
            }
            "*" => Resp::Array(
                (0..rest.parse::<i64>().unwrap())
                    .map(|_| self.read())
                    .collect(),
            ),
            _ => panic!("bad RESP line {line:?}"),
        }
    }
    fn int(&mut self, args: &[&[u8]]) -> i64 {
        match self.cmd(args) {
            Resp::Int(i) => i,
            other => panic!("{:?} -> {other:?}", String::from_utf8_lossy(args[0])),
        }
    }
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(dir: &Path, dbfile: &str, extra: &[&str]) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new("redis-server");
        cmd.arg("--dir").arg(dir).args(["--dbfilename", dbfile]);
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]);
        cmd.args(["--daemonize", "no", "--logfile", ""]).args(extra);
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut c) = Conn::connect(port) {
                if c.cmd(&[b"PING"]) == Resp::Simple("PONG".into()) {
                    return server;
                }
            }
            if let Ok(Some(st)) = server.child.try_wait() {
                panic!("redis-server exited early: {st}");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not come up on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    fn conn(&self) -> Conn {
        Conn::connect(self.port).unwrap()
    }
    fn shutdown(mut self) {
        let mut c = self.conn();
        let _ = c.w.write_all(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Deterministic xorshift bytes (incompressible payloads).
fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn interop_redis_loads_our_file() {
    if !redis_available("redis-server") || !redis_available("redis-check-rdb") {
        return;
    }
    let dir = TempDir::new("ours");
    let far = now_ms() + 10 * 365 * 24 * 3600 * 1000;
    let mut entries: Vec<TestEntry> = Vec::new();
    for i in 0..1000u64 {
        let key = format!("key:{i}").into_bytes();
        let value = match i % 10 {
            0 if i % 100 == 0 => pseudo_random(i, 100_000),
            0..=2 => (i as i64 * 7919 - 3000).to_string().into_bytes(),
            3 => {
                ["007", "12345678901", "-0", "", "+5", "-2147483648"][(i / 10 % 6) as usize].into()
            }
            4 => pseudo_random(i, 300),
            _ => format!("value-{i}").into_bytes(),
        };
        let expire = (i % 7 == 0).then_some(far + i);
        entries.push((key, value, expire));
    }
    entries[1].0 = vec![0, 0xff, b'\r', b'\n', 0x80]; // binary key
    entries[2].0 = b"42".to_vec(); // int-like key
    let file = dir.0.join("ours.rdb");
    std::fs::write(&file, write_file(&entries)).unwrap();

    let out = Command::new("redis-check-rdb").arg(&file).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "redis-check-rdb failed:\n{text}");
    assert!(text.contains("1000 keys read"), "{text}");
    assert!(
        text.contains(&format!(
            "{} expires",
            entries.iter().filter(|e| e.2.is_some()).count()
        )),
        "{text}"
    );

    let server = Server::start(&dir.0, "ours.rdb", &[]);
    let mut c = server.conn();
    assert_eq!(c.int(&[b"DBSIZE"]), 1000);
    let now = now_ms();
    for (i, (k, v, e)) in entries.iter().enumerate() {
        if i % 13 != 0 && i % 10 != 3 && i % 100 != 0 && i > 2 {
            continue;
        }
        assert_eq!(
            c.cmd(&[b"GET", k]),
            Resp::Bulk(Some(v.clone())),
            "GET key #{i}"
        );
        let pttl = c.int(&[b"PTTL", k]);
        match e {
            None => assert_eq!(pttl, -1, "key #{i}"),
            Some(at) => {
                let want = (*at - now) as i64;
                assert!(
                    (want - 60_000..=want).contains(&pttl),
                    "key #{i}: pttl {pttl} want ~{want}"
                );
            }
        }
    }
    server.shutdown();
}

#[test]
fn interop_we_load_redis_dump() {
    if !redis_available("redis-server") {
        return;
    }
    // allkeys-lru / allkeys-lfu make Redis emit IDLE / FREQ opcodes before each key.
    for policy in ["noeviction", "allkeys-lru", "allkeys-lfu"] {
        let dir = TempDir::new(&format!("theirs-{policy}"));
        let server = Server::start(&dir.0, "dump.rdb", &["--maxmemory-policy", policy]);
        let mut c = server.conn();
        let mut want: Expected = HashMap::new();
        let mut compressible_bytes = 0usize;
        for db in [0u64, 3] {
            assert_eq!(
                c.cmd(&[b"SELECT", db.to_string().as_bytes()]),
                Resp::Simple("OK".into())
            );
            for i in 0..400u64 {
                let key = if i == 7 {
                    vec![0xff, 0, b'k']
                } else {
                    format!("k{db}:{i}").into_bytes()
                };
                let value: Vec<u8> = match i % 8 {
                    0 => (i as i64 - 200).to_string().into_bytes(),
                    1 => ((i as i64) << 20).to_string().into_bytes(),
                    2 => ["12345678901", "007", "-0", "", "9223372036854775807"]
                        [(i / 8 % 5) as usize]
                        .into(),
                    3 | 4 => {
                        let v = [b"a".repeat(1000), format!("{i}").into_bytes()].concat();
                        compressible_bytes += v.len();
                        v
                    }
                    5 => pseudo_random(
                        i,
                        if i % 40 == 5 {
                            70_000
                        } else {
                            100 + i as usize * 10
                        },
                    ),
                    6 => b"abcabcabc-hello-world-".repeat(50),
                    _ => format!("value {i}").into_bytes(),
                };
                assert_eq!(c.cmd(&[b"SET", &key, &value]), Resp::Simple("OK".into()));
                if i % 3 == 0 {
                    let ms = (1_000_000_000 + i * 1000).to_string();
                    assert_eq!(c.int(&[b"PEXPIRE", &key, ms.as_bytes()]), 1);
                }
                let at = c.int(&[b"PEXPIRETIME", &key]);
                want.insert((db, key), (value, (at >= 0).then_some(at as u64)));
            }
        }
        // A Lua library makes Redis write a FUNCTION2 opcode.
        let lib = b"#!lua name=corekvtest\nredis.register_function('f', function() return 1 end)";
        assert_eq!(
            c.cmd(&[b"FUNCTION", b"LOAD", lib]),
            Resp::Bulk(Some(b"corekvtest".to_vec()))
        );
        assert_eq!(c.cmd(&[b"SAVE"]), Resp::Simple("OK".into()));
        server.shutdown();

        let bytes = std::fs::read(dir.0.join("dump.rdb")).unwrap();
        assert!(bytes.starts_with(b"REDIS0010"));
        let total: usize = want.values().map(|v| v.0.len()).sum();
        assert!(
            bytes.len() < total - compressible_bytes / 2,
            "dump does not look LZF-compressed"
        );
        let mut r = RdbReader::new(&bytes[..]).unwrap();
        let mut seen = 0;
        while let Some(e) = r.next_entry().unwrap() {
            let (v, exp) = want
                .get(&(e.db, e.key.clone()))
                .unwrap_or_else(|| panic!("unexpected key {e:?}"));
            assert_eq!(
                &e.value,
                &crate::store::Value::String(v.clone()),
                "value of {:?} ({policy})",
                String::from_utf8_lossy(&e.key)
            );
            assert_eq!(
                &e.expire_at_ms,
                exp,
                "expiry of {:?} ({policy})",
                String::from_utf8_lossy(&e.key)
            );
            seen += 1;
        }
        assert_eq!(seen, want.len(), "{policy}");
        assert_eq!(r.offset(), bytes.len() as u64);
    }
}
