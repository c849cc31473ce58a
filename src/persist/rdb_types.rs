//! RDB value types beyond strings: the hash and set encodings Redis writes, and the DUMP
//! payload format.
//!
//! # Types read
//! | byte | type | payload |
//! |---|---|---|
//! | 1 | LIST | length, then that many strings |
//! | 2 | SET | length, then that many strings |
//! | 10 | LIST_ZIPLIST | one string: a ziplist of elements (Redis before 3.2) |
//! | 14 | LIST_QUICKLIST | node count, then a ziplist string per node (Redis 3.2 to 6.2) |
//! | 18 | LIST_QUICKLIST_2 | node count, then per node a container (1 plain, 2 packed) and a string: the element, or a listpack (Redis 7.0) |
//! | 3 | ZSET | length, then member strings each with its score as a length-prefixed decimal (253 nan, 254 inf, 255 -inf) |
//! | 4 | HASH | length, then field, value strings |
//! | 5 | ZSET_2 | length, then member strings each with its score as 8 little-endian bytes |
//! | 12 | ZSET_ZIPLIST | one string: a ziplist of member, score entries |
//! | 17 | ZSET_LISTPACK | one string: a listpack of member, score entries (Redis 7.0) |
//! | 11 | SET_INTSET | one string: an intset (u32 width, u32 count, little-endian integers) |
//! | 13 | HASH_ZIPLIST | one string: a ziplist of field, value entries (Redis before 7.0) |
//! | 16 | HASH_LISTPACK | one string: a listpack of field, value entries (Redis 7.0) |
//! | 20 | SET_LISTPACK | one string: a listpack of members (Redis 7.2) |
//!
//! corekv writes LIST (1), SET (2), HASH (4) and ZSET_2 (5): every Redis since 2.0 loads them and converts small
//! ones to its compact encodings itself, as corekv does when it loads any of the above.
//!
//! # Blobs are never trusted
//! A listpack, ziplist or intset is parsed with every length checked against the blob, so a
//! damaged or hostile blob is an error, never a panic or an oversized allocation.
//!
//! # DUMP
//! `DUMP key` answers the value's type byte and payload as in an RDB file, then the RDB version
//! (2 bytes, little endian) and a CRC-64 of everything before it (8 bytes, little endian).
//! RESTORE accepts payloads of any RDB version up to corekv's own, as Redis does.

pub const TYPE_LIST: u8 = 1;
pub const TYPE_SET: u8 = 2;
pub const TYPE_ZSET: u8 = 3;
pub const TYPE_ZSET_2: u8 = 5;
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
pub const TYPE_ZSET_LISTPACK: u8 = 17;
pub const TYPE_LIST_ZIPLIST: u8 = 10;
pub const TYPE_LIST_QUICKLIST: u8 = 14;
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;
/// A QUICKLIST_2 node holding one element as a plain string.
pub const QUICKLIST_NODE_PLAIN: u64 = 1;
/// A QUICKLIST_2 node holding a listpack.
pub const QUICKLIST_NODE_PACKED: u64 = 2;
pub const TYPE_HASH: u8 = 4;
pub const TYPE_SET_INTSET: u8 = 11;
pub const TYPE_HASH_ZIPLIST: u8 = 13;
pub const TYPE_HASH_LISTPACK: u8 = 16;
pub const TYPE_SET_LISTPACK: u8 = 20;

fn take<'a>(b: &'a [u8], at: &mut usize, n: usize, what: &str) -> Result<&'a [u8], String> {
    let end = at
        .checked_add(n)
        .filter(|&e| e <= b.len())
        .ok_or_else(|| format!("{what} runs past the end of its blob"))?;
    let s = &b[*at..end];
    *at = end;
    Ok(s)
}

fn int_text(v: i64) -> Vec<u8> {
    itoa::Buffer::new().format(v).as_bytes().to_vec()
}

/// The members of an intset blob, as their decimal text.
pub fn parse_intset(b: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut at = 0;
    let width = u32::from_le_bytes(
        take(b, &mut at, 4, "intset header")?
            .try_into()
            .unwrap_or_default(),
    );
    let count = u32::from_le_bytes(
        take(b, &mut at, 4, "intset header")?
            .try_into()
            .unwrap_or_default(),
    );
    if !matches!(width, 2 | 4 | 8) {
        return Err(format!("intset width {width}"));
    }
    let w = width as usize;
    if (count as usize).checked_mul(w) != Some(b.len() - at) {
        return Err("intset length does not match its count".into());
    }
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let s = take(b, &mut at, w, "intset member")?;
        let v = match w {
            2 => i16::from_le_bytes([s[0], s[1]]) as i64,
            4 => i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as i64,
            _ => i64::from_le_bytes(s.try_into().unwrap_or_default()),
        };
        out.push(int_text(v));
    }
    Ok(out)
}

/// The entries of a listpack blob.
pub fn parse_listpack(b: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut at = 0;
    let total = u32::from_le_bytes(
        take(b, &mut at, 4, "listpack header")?
            .try_into()
            .unwrap_or_default(),
    );
    take(b, &mut at, 2, "listpack header")?;
    if total as usize != b.len() {
        return Err("listpack size does not match its blob".into());
    }
    let mut out = Vec::new();
    loop {
        let start = at;
        let e = take(b, &mut at, 1, "listpack entry")?[0];
        let value = if e == 0xFF {
            if at != b.len() {
                return Err("bytes after the listpack's end".into());
            }
            return Ok(out);
        } else if e & 0x80 == 0 {
            int_text(i64::from(e & 0x7F))
        } else if e & 0xC0 == 0x80 {
            take(b, &mut at, (e & 0x3F) as usize, "listpack string")?.to_vec()
        } else if e & 0xE0 == 0xC0 {
            let lo = take(b, &mut at, 1, "listpack int")?[0];
            let v = (((e & 0x1F) as u16) << 8 | lo as u16) as i64;
            int_text(if v >= 1 << 12 { v - (1 << 13) } else { v })
        } else if e & 0xF0 == 0xE0 {
            let lo = take(b, &mut at, 1, "listpack string length")?[0];
            let n = ((e & 0x0F) as usize) << 8 | lo as usize;
            take(b, &mut at, n, "listpack string")?.to_vec()
        } else {
            match e {
                0xF0 => {
                    let n = u32::from_le_bytes(
                        take(b, &mut at, 4, "listpack length")?
                            .try_into()
                            .unwrap_or_default(),
                    );
                    take(b, &mut at, n as usize, "listpack string")?.to_vec()
                }
                0xF1 => {
                    let s = take(b, &mut at, 2, "listpack int")?;
                    int_text(i16::from_le_bytes([s[0], s[1]]) as i64)
                }
                0xF2 => {
                    let s = take(b, &mut at, 3, "listpack int")?;
                    let v = i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8;
                    int_text(v as i64)
                }
                0xF3 => {
                    let s = take(b, &mut at, 4, "listpack int")?;
                    int_text(i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as i64)
                }
                0xF4 => {
                    let s = take(b, &mut at, 8, "listpack int")?;
                    int_text(i64::from_le_bytes(s.try_into().unwrap_or_default()))
                }
                other => return Err(format!("listpack entry encoding {other:#04x}")),
            }
        };
        // The back length: the entry's size (encoding and data), 7 bits a byte.
        let len = at - start;
        let back = match len {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        };
        take(b, &mut at, back, "listpack back length")?;
        out.push(value);
    }
}

/// The entries of a ziplist blob.
pub fn parse_ziplist(b: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut at = 0;
    let total = u32::from_le_bytes(
        take(b, &mut at, 4, "ziplist header")?
            .try_into()
            .unwrap_or_default(),
    );
    take(b, &mut at, 6, "ziplist header")?;
    if total as usize != b.len() {
        return Err("ziplist size does not match its blob".into());
    }
    let mut out = Vec::new();
    loop {
        let p = take(b, &mut at, 1, "ziplist entry")?[0];
        if p == 0xFF {
            if at != b.len() {
                return Err("bytes after the ziplist's end".into());
            }
            return Ok(out);
        }
        if p == 0xFE {
            take(b, &mut at, 4, "ziplist previous length")?;
        }
        let e = take(b, &mut at, 1, "ziplist encoding")?[0];
        let value = match e >> 6 {
            0 => take(b, &mut at, (e & 0x3F) as usize, "ziplist string")?.to_vec(),
            1 => {
                let lo = take(b, &mut at, 1, "ziplist length")?[0];
                let n = ((e & 0x3F) as usize) << 8 | lo as usize;
                take(b, &mut at, n, "ziplist string")?.to_vec()
            }
            2 => {
                let s = take(b, &mut at, 4, "ziplist length")?;
                let n = u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize;
                take(b, &mut at, n, "ziplist string")?.to_vec()
            }
            _ => match e {
                0xC0 => {
                    let s = take(b, &mut at, 2, "ziplist int")?;
                    int_text(i16::from_le_bytes([s[0], s[1]]) as i64)
                }
                0xD0 => {
                    let s = take(b, &mut at, 4, "ziplist int")?;
                    int_text(i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as i64)
                }
                0xE0 => {
                    let s = take(b, &mut at, 8, "ziplist int")?;
                    int_text(i64::from_le_bytes(s.try_into().unwrap_or_default()))
                }
                0xF0 => {
                    let s = take(b, &mut at, 3, "ziplist int")?;
                    int_text((i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8) as i64)
                }
                0xFE => {
                    let s = take(b, &mut at, 1, "ziplist int")?;
                    int_text(s[0] as i8 as i64)
                }
                0xF1..=0xFD => int_text(i64::from(e & 0x0F) - 1),
                other => return Err(format!("ziplist entry encoding {other:#04x}")),
            },
        };
        out.push(value);
    }
}

/// Pairs up a flat field, value list (a hash's listpack or ziplist).
pub fn pairs(flat: Vec<Vec<u8>>) -> Result<Vec<(Vec<u8>, Vec<u8>)>, String> {
    if flat.len() % 2 != 0 {
        return Err("a hash blob with an odd number of entries".into());
    }
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(f), Some(v)) = (it.next(), it.next()) {
        out.push((f, v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blobs as redis-server 7.0 wrote them (`DEBUG` off, read from its dump.rdb).
    #[test]
    fn listpack_of_strings_and_integers() {
        // A listpack of "a", 5, "hello", -300, 70000.
        let mut body = Vec::new();
        body.extend([0x81, b'a', 2]); // 6-bit string
        body.extend([0x05, 1]); // 7-bit uint
        body.extend([0x85]);
        body.extend(b"hello");
        body.push(6);
        let v: i16 = -300;
        let enc = (v as u16) & 0x1FFF;
        body.extend([0xC0 | (enc >> 8) as u8, enc as u8, 2]); // 13-bit int
        body.extend([0xF2, 0x70, 0x11, 0x01, 4]); // 24-bit int 70000
        body.push(0xFF);
        let mut blob = ((body.len() + 6) as u32).to_le_bytes().to_vec();
        blob.extend(5u16.to_le_bytes());
        blob.extend(body);
        let got = parse_listpack(&blob).unwrap();
        let want: Vec<&[u8]> = vec![b"a", b"5", b"hello", b"-300", b"70000"];
        assert_eq!(got, want);
        // Truncations and bad sizes are errors, never panics.
        for cut in 0..blob.len() {
            assert!(parse_listpack(&blob[..cut]).is_err());
        }
    }

    #[test]
    fn intset_blob() {
        let mut b = 2u32.to_le_bytes().to_vec();
        b.extend(3u32.to_le_bytes());
        for v in [-5i16, 1, 300] {
            b.extend(v.to_le_bytes());
        }
        let want: Vec<&[u8]> = vec![b"-5", b"1", b"300"];
        assert_eq!(parse_intset(&b).unwrap(), want);
        assert!(parse_intset(&b[..b.len() - 1]).is_err());
    }

    #[test]
    fn ziplist_blob() {
        let mut body = Vec::new();
        body.extend([0u8, 0x02, b'h', b'i']); // prevlen 0, 6-bit string "hi"
        body.extend([4u8, 0xF3]); // immediate 2
        body.extend([2u8, 0xC0, 0x39, 0x30]); // int16 12345
        body.push(0xFF);
        let mut blob = ((body.len() + 10) as u32).to_le_bytes().to_vec();
        blob.extend([0u8; 4]);
        blob.extend(3u16.to_le_bytes());
        blob.extend(body);
        let want: Vec<&[u8]> = vec![b"hi", b"2", b"12345"];
        assert_eq!(parse_ziplist(&blob).unwrap(), want);
        for cut in 0..blob.len() {
            assert!(parse_ziplist(&blob[..cut]).is_err());
        }
    }
}

#[cfg(test)]
mod fuzz {
    use crate::persist::rdb::{dump, undump};
    use crate::store::Value;
    use proptest::prelude::*;

    fn values() -> Vec<Value> {
        vec![
            Value::String(b"hello".to_vec()),
            Value::String(b"12345".to_vec()),
            Value::Hash(vec![
                (b"f".to_vec(), b"v".to_vec()),
                (b"n".to_vec(), b"-7".to_vec()),
            ]),
            Value::Set(vec![b"a".to_vec(), b"300".to_vec()]),
        ]
    }

    proptest! {
        /// RESTORE's input is a client's bytes: a damaged payload is refused (or, if its
        /// checksum still matches by chance, decoded), never a panic.
        #[test]
        fn damaged_payloads_never_panic(which in 0usize..4, at in 0usize..64, byte: u8, cut in 0usize..64) {
            let mut p = dump(&values()[which]);
            let i = at % p.len();
            p[i] = byte;
            let _ = undump(&p);
            p.truncate(cut.min(p.len()));
            let _ = undump(&p);
        }

        /// The same with the checksum recomputed, so the payload parser itself sees the damage.
        #[test]
        fn damaged_bodies_with_good_checksums_never_panic(which in 0usize..4, at in 0usize..64, byte: u8) {
            let good = dump(&values()[which]);
            let mut body = good[..good.len() - 8].to_vec();
            let i = at % (body.len() - 2);
            body[i] = byte;
            let crc = crate::persist::rdb::crc64(0, &body);
            body.extend(crc.to_le_bytes());
            let _ = undump(&body);
        }

        /// Arbitrary blobs into the listpack, ziplist and intset parsers.
        #[test]
        fn blobs_never_panic(b in prop::collection::vec(any::<u8>(), 0..80)) {
            let _ = super::parse_listpack(&b);
            let _ = super::parse_ziplist(&b);
            let _ = super::parse_intset(&b);
        }
    }

    #[test]
    fn every_value_round_trips() {
        for v in values() {
            assert_eq!(undump(&dump(&v)), Some(v));
        }
    }
}
