//! Tests for the RDB codec: unit tests, property tests, and interop with the
//! real `redis-server` / `redis-check-rdb` (skipped with a message if missing).

use super::*;
use proptest::prelude::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader as StdBufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type TestEntry = (Vec<u8>, Vec<u8>, Option<u64>);
type Expected = HashMap<(u64, Vec<u8>), (Vec<u8>, Option<u64>)>;

fn write_file(entries: &[TestEntry]) -> Vec<u8> {
    let expires = entries.iter().filter(|e| e.2.is_some()).count() as u64;
    let mut w = RdbWriter::new(Vec::new(), entries.len() as u64, expires).unwrap();
    for (k, v, e) in entries {
        w.write_string(k, v, *e).unwrap();
    }
    w.finish().unwrap()
}

fn read_all(bytes: &[u8]) -> Result<Vec<Entry>, RdbError> {
    let mut r = RdbReader::new(bytes)?;
    let mut out = Vec::new();
    while let Some(e) = r.next_entry()? {
        out.push(e);
    }
    Ok(out)
}

/// Builds a file body by hand: `body` follows the header; EOF + checksum are appended.
fn hand_file(version: u32, body: &[u8], checksum: Option<u64>) -> Vec<u8> {
    let mut f = format!("REDIS{version:04}").into_bytes();
    f.extend_from_slice(body);
    f.push(0xFF);
    if version >= 5 {
        let c = checksum.unwrap_or_else(|| crc64(0, &f));
        f.extend_from_slice(&c.to_le_bytes());
    }
    f
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

// ---------------------------------------------------------------- unit tests

#[test]
fn crc64_test_vector() {
    assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    assert_eq!(crc64(0, b""), 0);
    // Incremental == one shot, across the 8-byte slicing boundary.
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
    for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
        assert_eq!(
            crc64(crc64(0, &data[..split]), &data[split..]),
            crc64(0, &data)
        );
    }
}

#[test]
fn int_encodings_match_redis() {
    let enc = |s: &[u8]| {
        let f = write_file(&[(b"k".to_vec(), s.to_vec(), None)]);
        // Value starts after: type(1) + key "k"(2) following the RESIZEDB prefix.
        let pos = f.windows(3).rposition(|w| w == [0, 1, b'k']).unwrap() + 3;
        f[pos..f.len() - 9].to_vec()
    };
    assert_eq!(enc(b"0"), vec![0xC0, 0]);
    assert_eq!(enc(b"-1"), vec![0xC0, 0xFF]);
    assert_eq!(enc(b"127"), vec![0xC0, 127]);
    assert_eq!(enc(b"128"), vec![0xC1, 128, 0]);
    assert_eq!(enc(b"-32768"), vec![0xC1, 0x00, 0x80]);
    assert_eq!(enc(b"40000"), vec![0xC2, 0x40, 0x9C, 0, 0]);
    assert_eq!(enc(b"-2147483648"), vec![0xC2, 0, 0, 0, 0x80]);
    for s in [
        &b"12345678901"[..],
        b"007",
        b"-0",
        b"+1",
        b"1 ",
        b"",
        b"2147483648",
        b"0x10",
    ] {
        let mut expect = vec![s.len() as u8];
        expect.extend_from_slice(s);
        assert_eq!(
            enc(s),
            expect,
            "{:?} must stay a raw string",
            String::from_utf8_lossy(s)
        );
    }
}

#[test]
fn length_encodings_round_trip() {
    for len in [0usize, 1, 63, 64, 16383, 16384, 70_000] {
        let v = vec![b'x'; len];
        let f = write_file(&[(b"k".to_vec(), v.clone(), Some(5))]);
        let got = read_all(&f).unwrap();
        assert_eq!(
            got,
            vec![Entry {
                db: 0,
                key: b"k".to_vec(),
                value: v,
                expire_at_ms: Some(5)
            }]
        );
    }
    // 64-bit length form (0x81), hand-written.
    let mut body = vec![0x00, 0x01, b'k', 0x81];
    body.extend_from_slice(&3u64.to_be_bytes());
    body.extend_from_slice(b"abc");
    let got = read_all(&hand_file(10, &body, None)).unwrap();
    assert_eq!(got[0].value, b"abc");
}

#[test]
fn reads_opcodes_and_old_versions() {
    let mut body = Vec::new();
    body.extend_from_slice(&[0xFA, 0x03, b'f', b'o', b'o', 0xC0, 0x05]); // aux foo=5
    body.extend_from_slice(&[0xFE, 0x02, 0xFB, 0x02, 0x01]); // SELECTDB 2, RESIZEDB 2 1
    body.extend_from_slice(&[0xFD]);
    body.extend_from_slice(&1_000_000i32.to_le_bytes()); // EXPIRETIME seconds
    body.extend_from_slice(&[0xF8, 0x40, 0x10]); // IDLE 16
    body.extend_from_slice(&[0x00, 0x01, b'a', 0xC1, 0x39, 0x30]); // a = 12345
    body.extend_from_slice(&[0xF9, 0x07, 0xF5, 0x02, b'x', b'y']); // FREQ 7, FUNCTION2 "xy"
    body.extend_from_slice(&[0xFC]);
    body.extend_from_slice(&(-5i64).to_le_bytes()); // negative ms expire -> 0
    body.extend_from_slice(&[0x00, 0xC0, 0x01, 0x00]); // key "1" = ""
    let want = vec![
        Entry {
            db: 2,
            key: b"a".to_vec(),
            value: b"12345".to_vec(),
            expire_at_ms: Some(1_000_000_000),
        },
        Entry {
            db: 2,
            key: b"1".to_vec(),
            value: vec![],
            expire_at_ms: Some(0),
        },
    ];
    for version in [1, 4, 5, 9, 10] {
        assert_eq!(
            read_all(&hand_file(version, &body, None)).unwrap(),
            want,
            "version {version}"
        );
    }
    // Checksum 0 = disabled.
    assert_eq!(read_all(&hand_file(10, &body, Some(0))).unwrap(), want);
    // Wrong checksum.
    let good = crc64(0, &{
        let mut f = b"REDIS0010".to_vec();
        f.extend_from_slice(&body);
        f.push(0xFF);
        f
    });
    match read_all(&hand_file(10, &body, Some(good ^ 1))) {
        Err(RdbError::ChecksumMismatch { expected, found }) => {
            assert_eq!((expected, found), (good ^ 1, good))
        }
        other => panic!("expected checksum mismatch, got {other:?}"),
    }
}

#[test]
fn rejects_unsupported_types_with_offset() {
    for t in [1u8, 4, 14, 18, 21, 0xF6, 0xF7] {
        let f = hand_file(10, &[0xFE, 0x00, t, 0x01, b'k'], None);
        match read_all(&f) {
            Err(RdbError::UnsupportedType { offset, type_byte }) => {
                assert_eq!((offset, type_byte), (11, t));
                let msg = RdbError::UnsupportedType { offset, type_byte }.to_string();
                assert!(msg.contains("offset 11"), "{msg}");
            }
            other => panic!("type {t}: {other:?}"),
        }
    }
}

#[test]
fn header_errors() {
    assert!(matches!(
        RdbReader::new(&b"RADIS0010"[..]),
        Err(RdbError::BadMagic)
    ));
    assert!(matches!(
        RdbReader::new(&b"hello"[..]),
        Err(RdbError::BadMagic)
    ));
    assert!(matches!(
        RdbReader::new(&b"REDIS00a1"[..]),
        Err(RdbError::BadMagic)
    ));
    assert!(matches!(
        RdbReader::new(&b"REDIS0011"[..]),
        Err(RdbError::UnsupportedVersion(11))
    ));
    assert!(matches!(
        RdbReader::new(&b"REDIS0000"[..]),
        Err(RdbError::UnsupportedVersion(0))
    ));
    assert!(matches!(
        RdbReader::new(&b"REDIS00"[..]),
        Err(RdbError::Corrupt { offset: 7, .. })
    ));
    assert!(matches!(
        RdbReader::new(&b""[..]),
        Err(RdbError::Corrupt { offset: 0, .. })
    ));
}

#[test]
fn huge_claimed_lengths_do_not_allocate() {
    // 4 GiB (32-bit form) and 2^63 (64-bit form) string lengths with 3 bytes present.
    let mut a = b"REDIS0010\x00\x01k\x80\xff\xff\xff\xff".to_vec();
    a.extend_from_slice(b"abc");
    let mut b = b"REDIS0010\x00\x01k\x81".to_vec();
    b.extend_from_slice(&(1u64 << 63).to_be_bytes());
    b.extend_from_slice(b"abc");
    for f in [a, b] {
        match read_all(&f) {
            Err(RdbError::Corrupt { offset, what }) => {
                assert_eq!(offset, f.len() as u64);
                assert!(what.contains("end of file"), "{what}");
            }
            other => panic!("{other:?}"),
        }
    }
    // LZF claiming 2^40 bytes from 2 compressed bytes is rejected before allocating.
    let f = b"REDIS0010\x00\x01k\xC3\x02\x81\x00\x00\x01\x00\x00\x00\x00\x00\x00a".to_vec();
    assert!(matches!(
        read_all(&f),
        Err(RdbError::Corrupt { offset: 12, .. })
    ));
}

#[test]
fn lzf_decoding() {
    // "aaaaaaaaaa": literal 'a', then back reference distance 1, length 9.
    // ctrl = ((9-2) = 7 -> extended: 7<<5, extra byte 0), distance-1 = 0.
    assert_eq!(
        lzf_decompress(&[0x00, b'a', 0xE0, 0x00, 0x00], 10).unwrap(),
        b"aaaaaaaaaa"
    );
    // "abcabcabc": literal "abc", backref distance 3 (off byte 2), length 6 (ctrl len 4).
    assert_eq!(
        lzf_decompress(&[0x02, b'a', b'b', b'c', 0x80, 0x02], 9).unwrap(),
        b"abcabcabc"
    );
    assert!(lzf_decompress(&[0x02, b'a', b'b', b'c', 0x80, 0x02], 8).is_none()); // overrun
    assert!(lzf_decompress(&[0x02, b'a', b'b', b'c', 0x80, 0x02], 10).is_none()); // short
    assert!(lzf_decompress(&[0x20, 0x05], 3).is_none()); // reference before start
    assert!(lzf_decompress(&[0x05, b'a'], 6).is_none()); // literal past input
                                                         // Through the reader.
    let f = hand_file(
        10,
        &[
            0x00, 0x01, b'k', 0xC3, 0x05, 0x0A, 0x00, b'a', 0xE0, 0x00, 0x00,
        ],
        None,
    );
    assert_eq!(read_all(&f).unwrap()[0].value, b"aaaaaaaaaa");
}

#[test]
fn reader_stays_failed_and_done() {
    let f = write_file(&[(b"k".to_vec(), b"v".to_vec(), None)]);
    let mut r = RdbReader::new(&f[..]).unwrap();
    assert!(r.next_entry().unwrap().is_some());
    assert!(r.next_entry().unwrap().is_none());
    assert!(r.next_entry().unwrap().is_none());
    assert_eq!(r.offset(), f.len() as u64);
    let mut r = RdbReader::new(&f[..f.len() - 3]).unwrap();
    r.next_entry().unwrap();
    assert!(r.next_entry().is_err());
    assert!(r.next_entry().is_err());
}

#[test]
fn truncating_large_values_is_corrupt() {
    // 14-bit, 32-bit lengths and multi-chunk payloads, cut at sampled points.
    let f = write_file(&[
        (b"a".to_vec(), vec![7; 20_000], Some(1)),
        (b"b".to_vec(), vec![9; 200_000], None),
        (b"c".to_vec(), b"123".to_vec(), None),
    ]);
    for cut in (0..f.len()).step_by(997).chain(f.len() - 40..f.len()) {
        match read_all(&f[..cut]) {
            Err(RdbError::Corrupt { offset, .. }) => assert_eq!(offset, cut as u64),
            other => panic!("cut {cut}: {other:?}"),
        }
    }
}

#[test]
fn rejects_unrepresentable_expiry() {
    let mut w = RdbWriter::new(Vec::new(), 0, 0).unwrap();
    assert!(matches!(
        w.write_string(b"k", b"v", Some(u64::MAX)),
        Err(RdbError::Io(_))
    ));
}

// ------------------------------------------------------------ property tests

fn small_value_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..100),
        2 => any::<i64>().prop_map(|v| v.to_string().into_bytes()),
        1 => "[-+0-9]{0,12}".prop_map(String::into_bytes),
    ]
}

fn value_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..200),
        2 => any::<i64>().prop_map(|v| v.to_string().into_bytes()),
        2 => "[-+0-9]{0,12}".prop_map(String::into_bytes),
        1 => Just(b"007".to_vec()),
        1 => Just(Vec::new()),
        1 => prop::collection::vec(any::<u8>(), 16_380..16_400),
    ]
}

fn entries_strategy(max: usize) -> impl Strategy<Value = Vec<TestEntry>> {
    prop::collection::vec(
        (
            value_strategy(),
            value_strategy(),
            prop::option::of(0..=i64::MAX as u64),
        ),
        0..max,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn prop_round_trip(entries in entries_strategy(40)) {
        let f = write_file(&entries);
        let got = read_all(&f).unwrap();
        prop_assert_eq!(got.len(), entries.len());
        for (g, (k, v, e)) in got.iter().zip(&entries) {
            prop_assert_eq!(g.db, 0);
            prop_assert_eq!(&g.key, k);
            prop_assert_eq!(&g.value, v);
            prop_assert_eq!(g.expire_at_ms, *e);
        }
    }

    #[test]
    fn prop_every_truncation_is_corrupt_with_offset(
        entries in prop::collection::vec(
            (small_value_strategy(), small_value_strategy(), prop::option::of(0..=i64::MAX as u64)),
            0..6,
        )
    ) {
        let f = write_file(&entries);
        for cut in 0..f.len() {
            match read_all(&f[..cut]) {
                Err(RdbError::Corrupt { offset, what }) => {
                    prop_assert!(offset <= cut as u64, "offset {} > cut {}: {}", offset, cut, what)
                }
                other => prop_assert!(false, "cut {}: expected Corrupt, got {:?}", cut, other),
            }
        }
    }

    #[test]
    fn prop_arbitrary_bytes_never_panic(tail in prop::collection::vec(any::<u8>(), 0..400), raw in any::<bool>()) {
        let mut f = if raw { Vec::new() } else { b"REDIS0010".to_vec() };
        f.extend_from_slice(&tail);
        if let Err(RdbError::Corrupt { offset, .. } | RdbError::UnsupportedType { offset, .. }) = read_all(&f) {
            prop_assert!(offset <= f.len() as u64);
        }
    }

    #[test]
    fn prop_mutated_files_never_panic(
        entries in entries_strategy(6),
        muts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut f = write_file(&entries);
        for (i, b) in muts {
            let i = i.index(f.len());
            f[i] = b;
        }
        if let Err(RdbError::Corrupt { offset, .. } | RdbError::UnsupportedType { offset, .. }) = read_all(&f) {
            prop_assert!(offset <= f.len() as u64);
        }
    }
}

// ------------------------------------------------------------- interop tests

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
                v,
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
