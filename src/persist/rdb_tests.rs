//! Tests for the RDB codec: unit tests and property tests (interop with the real Redis tools is
//! in rdb_interop_tests.rs).

use super::*;
use crate::store::Value;
use proptest::prelude::*;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

pub(super) type TestEntry = (Vec<u8>, Vec<u8>, Option<u64>);
pub(super) type Expected = HashMap<(u64, Vec<u8>), (Vec<u8>, Option<u64>)>;

pub(super) fn write_file(entries: &[TestEntry]) -> Vec<u8> {
    let expires = entries.iter().filter(|e| e.2.is_some()).count() as u64;
    let mut w = RdbWriter::new(Vec::new(), entries.len() as u64, expires).unwrap();
    for (k, v, e) in entries {
        w.write_string(k, v, *e).unwrap();
    }
    w.finish().unwrap()
}

pub(super) fn read_all(bytes: &[u8]) -> Result<Vec<Entry>, RdbError> {
    let mut r = RdbReader::new(bytes)?;
    let mut out = Vec::new();
    while let Some(e) = r.next_entry()? {
        out.push(e);
    }
    Ok(out)
}

/// Builds a file body by hand: `body` follows the header; EOF + checksum are appended.
pub(super) fn hand_file(version: u32, body: &[u8], checksum: Option<u64>) -> Vec<u8> {
    let mut f = format!("REDIS{version:04}").into_bytes();
    f.extend_from_slice(body);
    f.push(0xFF);
    if version >= 5 {
        let c = checksum.unwrap_or_else(|| crc64(0, &f));
        f.extend_from_slice(&c.to_le_bytes());
    }
    f
}

pub(super) fn now_ms() -> u64 {
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
                value: Value::String(v),
                expire_at_ms: Some(5)
            }]
        );
    }
    // 64-bit length form (0x81), hand-written.
    let mut body = vec![0x00, 0x01, b'k', 0x81];
    body.extend_from_slice(&3u64.to_be_bytes());
    body.extend_from_slice(b"abc");
    let got = read_all(&hand_file(10, &body, None)).unwrap();
    assert_eq!(got[0].value, Value::String(b"abc".to_vec()));
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
            value: Value::String(b"12345".to_vec()),
            expire_at_ms: Some(1_000_000_000),
        },
        Entry {
            db: 2,
            key: b"1".to_vec(),
            value: Value::String(vec![]),
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
    for t in [9u8, 15, 21, 0xF6, 0xF7] {
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
    assert_eq!(
        read_all(&f).unwrap()[0].value,
        Value::String(b"aaaaaaaaaa".to_vec())
    );
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
            prop_assert_eq!(&g.value, &Value::String(v.clone()));
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
