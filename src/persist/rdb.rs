//! Redis RDB snapshot codec (the subset corekv needs: string keys and values).
//!
//! # Why RDB
//! Speaking Redis's own snapshot format lets an operator move data both ways:
//! a `dump.rdb` produced by Redis 7.0 can be loaded into corekv, and a snapshot
//! written by corekv can be checked with `redis-check-rdb` and loaded by
//! `redis-server` 7.0 unchanged.
//!
//! # File layout
//! ```text
//! "REDIS" + 4 ASCII digits (version)
//! { opcode / entry }*
//! 0xFF (EOF) + CRC-64/Jones of every preceding byte, little endian (version >= 5)
//! ```
//! Opcodes: `0xFA` AUX (two strings), `0xFB` RESIZEDB (two lengths), `0xFE`
//! SELECTDB (length), `0xFC` EXPIRETIME_MS (i64 LE, unix ms), `0xFD` EXPIRETIME
//! (i32 LE, unix seconds), `0xF8` IDLE (length), `0xF9` FREQ (one byte), `0xF7`
//! MODULE_AUX, `0xF5` FUNCTION2 (one string: a library's source), `0xF6`
//! FUNCTION (pre-GA 7.0 format). Any other byte is a value type; type `0` is a
//! string entry: key string followed by value string.
//!
//! Lengths: the top two bits of the first byte pick `00` 6-bit, `01` 14-bit
//! (big endian), `10` then `0x80` 32-bit BE / `0x81` 64-bit BE, and `11` a
//! special string encoding in the low six bits: `0` int8, `1` int16 LE,
//! `2` int32 LE (the string is the decimal form of the integer), `3` LZF
//! (compressed length, uncompressed length, compressed bytes).
//!
//! # Subset and why
//! * **Reading** accepts any version 1..=10 (everything Redis 7.0 loads),
//!   every length and string encoding (including LZF), both expiry opcodes,
//!   and skips AUX, RESIZEDB, IDLE, FREQ and FUNCTION2 (the latter is a single
//!   string, so it can be skipped safely; corekv has no scripting). SELECTDB is
//!   tracked and reported in [`Entry::db`]. corekv only stores strings today,
//!   so any other value type, MODULE_AUX (whose payload cannot be skipped
//!   without the module) and pre-GA FUNCTION yield [`RdbError::UnsupportedType`].
//!   A checksum of 0 means "checksumming disabled" and is accepted.
//! * **Writing** always produces version 10 (what Redis 7.0 writes) with a
//!   single database 0, using the int8/16/32 encodings for canonical integer
//!   strings exactly like Redis (`"007"`, `"-0"`, `"+1"` stay strings). LZF is
//!   optional in the format, so the writer never compresses.
//!
//! # Robustness
//! The reader never panics on arbitrary input and never trusts a claimed
//! length for allocation: payloads are read in 64 KiB chunks as the bytes
//! arrive, and an LZF string may only claim what its compressed bytes can
//! expand to. Errors carry the byte offset where the problem was found; a
//! truncated file is [`RdbError::Corrupt`] at the offset where input ran out.

use std::fmt;

use super::rdb_types::{self as types, TYPE_HASH, TYPE_SET};
use crate::store::Value;

pub use super::crc64::crc64;
use std::io::{self, BufReader, BufWriter, Read, Write};

/// RDB version written by this codec (Redis 7.0 writes "REDIS0010").
pub const RDB_VERSION: u32 = 10;

const OP_FUNCTION2: u8 = 0xF5;
const OP_FUNCTION_PRE_GA: u8 = 0xF6;
const OP_MODULE_AUX: u8 = 0xF7;
const OP_IDLE: u8 = 0xF8;
const OP_FREQ: u8 = 0xF9;
const OP_AUX: u8 = 0xFA;
const OP_RESIZEDB: u8 = 0xFB;
const OP_EXPIRETIME_MS: u8 = 0xFC;
const OP_EXPIRETIME: u8 = 0xFD;
const OP_SELECTDB: u8 = 0xFE;
const OP_EOF: u8 = 0xFF;
const TYPE_STRING: u8 = 0;

const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// First RDB version that carries a CRC64 trailer after the EOF opcode.
const FIRST_CHECKSUM_VERSION: u32 = 5;
/// Payloads are read in chunks of this size so a bogus length cannot force a huge allocation.
const READ_CHUNK: u64 = 64 * 1024;
/// Maximum LZF expansion per compressed byte (a 3-byte back reference yields 264 bytes).
const LZF_MAX_RATIO: u64 = 88;

/// Errors produced while reading or writing an RDB file.
#[derive(Debug)]
pub enum RdbError {
    /// Underlying I/O error (also used by the writer for arguments it cannot encode).
    Io(std::io::Error),
    /// The file does not start with `REDIS` followed by four digits.
    BadMagic,
    /// The version is outside 1..=[`RDB_VERSION`].
    UnsupportedVersion(u32),
    /// Malformed or truncated content at `offset`.
    Corrupt { offset: u64, what: String },
    /// A value type or opcode corekv cannot load (anything but strings), at `offset`.
    UnsupportedType { offset: u64, type_byte: u8 },
    /// `expected` is the checksum stored in the file, `found` the one computed over its bytes.
    ChecksumMismatch { expected: u64, found: u64 },
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RdbError::Io(e) => write!(f, "RDB I/O error: {e}"),
            RdbError::BadMagic => {
                f.write_str("not an RDB file: missing \"REDIS\" + version header")
            }
            RdbError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "unsupported RDB version {v} (supported: 1..={RDB_VERSION})"
                )
            }
            RdbError::Corrupt { offset, what } => {
                write!(f, "corrupt RDB at offset {offset}: {what}")
            }
            RdbError::UnsupportedType { offset, type_byte } => write!(
                f,
                "unsupported RDB value type or opcode {type_byte:#04x} at offset {offset} \
                 (corekv only loads string keys)"
            ),
            RdbError::ChecksumMismatch { expected, found } => write!(
                f,
                "RDB checksum mismatch: file says {expected:#018x}, contents hash to {found:#018x}"
            ),
        }
    }
}

impl std::error::Error for RdbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RdbError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for RdbError {
    fn from(e: io::Error) -> Self {
        RdbError::Io(e)
    }
}

fn corrupt(offset: u64, what: impl Into<String>) -> RdbError {
    RdbError::Corrupt {
        offset,
        what: what.into(),
    }
}

/// Decompresses an LZF block that must expand to exactly `ulen` bytes.
/// Returns `None` on any malformed input (bad back reference, overrun, wrong size).
fn lzf_decompress(input: &[u8], ulen: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(ulen);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            // Literal run of ctrl + 1 bytes.
            let n = ctrl + 1;
            let lit = input.get(i..i + n)?;
            if out.len() + n > ulen {
                return None;
            }
            out.extend_from_slice(lit);
            i += n;
        } else {
            // Back reference: length in the top 3 bits (7 = extended), distance in 13 bits.
            let mut n = ctrl >> 5;
            if n == 7 {
                n += *input.get(i)? as usize;
                i += 1;
            }
            n += 2;
            let back = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            if back > out.len() || out.len() + n > ulen {
                return None;
            }
            let start = out.len() - back;
            // Byte by byte: the source may overlap the bytes being produced.
            for k in 0..n {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    (out.len() == ulen).then_some(out)
}

// ---------------------------------------------------------------------------
// Writer

/// Streams an RDB file: header (magic+version, aux fields redis-ver "7.0.15",
/// redis-bits 64, ctime, used-mem 0, plus "corekv-ver"), then for database 0 a
/// SELECTDB and RESIZEDB opcode (sizes given by the caller or 0), then
/// entries, then EOF + CRC64 checksum of everything before it.
///
/// Output is buffered internally; [`RdbWriter::finish`] flushes and returns the sink.
pub struct RdbWriter<W: Write> {
    out: BufWriter<W>,
    crc: u64,
}

impl<W: Write> RdbWriter<W> {
    /// Writes the header, SELECTDB 0 and RESIZEDB (`keys_hint`, `expires_hint`).
    pub fn new(out: W, keys_hint: u64, expires_hint: u64) -> Result<Self, RdbError> {
        Self::with_functions(out, keys_hint, expires_hint, &[])
    }

    /// Like [`RdbWriter::new`], with the function libraries' code (FUNCTION2 opcodes, before
    /// the database, where Redis 7.0 writes them).
    pub fn with_functions(
        out: W,
        keys_hint: u64,
        expires_hint: u64,
        functions: &[&[u8]],
    ) -> Result<Self, RdbError> {
        let mut w = RdbWriter {
            out: BufWriter::with_capacity(64 * 1024, out),
            crc: 0,
        };
        w.put(format!("REDIS{RDB_VERSION:04}").as_bytes())?;
        let ctime = crate::clock::now_ms() / 1000;
        w.aux(b"redis-ver", b"7.0.15")?;
        w.aux(b"redis-bits", b"64")?;
        w.aux(b"ctime", ctime.to_string().as_bytes())?;
        w.aux(b"used-mem", b"0")?;
        w.aux(b"corekv-ver", env!("CARGO_PKG_VERSION").as_bytes())?;
        for code in functions {
            w.put(&[OP_FUNCTION2])?;
            w.put_len(code.len() as u64)?;
            w.put(code)?;
        }
        w.put(&[OP_SELECTDB])?;
        w.put_len(0)?;
        w.put(&[OP_RESIZEDB])?;
        w.put_len(keys_hint)?;
        w.put_len(expires_hint)?;
        Ok(w)
    }

    /// Writes one string entry, preceded by EXPIRETIME_MS when `expire_at_ms`
    /// (unix time in milliseconds) is given. Expiry values above `i64::MAX`
    /// cannot be represented and are rejected with an `InvalidInput` I/O error.
    pub fn write_string(
        &mut self,
        key: &[u8],
        value: &[u8],
        expire_at_ms: Option<u64>,
    ) -> Result<(), RdbError> {
        self.put_expiry(expire_at_ms)?;
        self.put(&[TYPE_STRING])?;
        self.put_string(key)?;
        self.put_string(value)
    }

    /// Writes one entry of any type (strings as [`RdbWriter::write_string`]; a hash as HASH, a
    /// set as SET: see `rdb_types`).
    pub fn write_value(
        &mut self,
        key: &[u8],
        value: &Value,
        expire_at_ms: Option<u64>,
    ) -> Result<(), RdbError> {
        if let Value::String(v) = value {
            return self.write_string(key, v, expire_at_ms);
        }
        self.put_expiry(expire_at_ms)?;
        let mut b = Vec::new();
        encode_value(&mut b, value);
        self.put(&[b[0]])?;
        self.put_string(key)?;
        self.put(&b[1..])
    }

    /// EXPIRETIME_MS before an entry, when it has one.
    fn put_expiry(&mut self, expire_at_ms: Option<u64>) -> Result<(), RdbError> {
        if let Some(ms) = expire_at_ms {
            let ms = i64::try_from(ms).map_err(|_| {
                RdbError::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "expire_at_ms exceeds i64::MAX",
                ))
            })?;
            self.put(&[OP_EXPIRETIME_MS])?;
            self.put(&ms.to_le_bytes())?;
        }
        Ok(())
    }

    /// Writes the EOF opcode and the checksum, flushes, and returns the sink.
    pub fn finish(mut self) -> Result<W, RdbError> {
        self.put(&[OP_EOF])?;
        let crc = self.crc;
        self.out.write_all(&crc.to_le_bytes())?;
        self.out
            .into_inner()
            .map_err(|e| RdbError::Io(e.into_error()))
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), RdbError> {
        self.crc = crc64(self.crc, bytes);
        self.out.write_all(bytes)?;
        Ok(())
    }

    fn aux(&mut self, key: &[u8], value: &[u8]) -> Result<(), RdbError> {
        self.put(&[OP_AUX])?;
        self.put_string(key)?;
        self.put_string(value)
    }

    fn put_len(&mut self, len: u64) -> Result<(), RdbError> {
        let mut b = Vec::with_capacity(9);
        encode_len(&mut b, len);
        self.put(&b)
    }

    fn put_string(&mut self, s: &[u8]) -> Result<(), RdbError> {
        if let Some(v) = canonical_int(s) {
            if let Ok(x) = i8::try_from(v) {
                return self.put(&[0xC0 | ENC_INT8, x as u8]);
            }
            if let Ok(x) = i16::try_from(v) {
                let b = x.to_le_bytes();
                return self.put(&[0xC0 | ENC_INT16, b[0], b[1]]);
            }
            if let Ok(x) = i32::try_from(v) {
                let b = x.to_le_bytes();
                return self.put(&[0xC0 | ENC_INT32, b[0], b[1], b[2], b[3]]);
            }
        }
        self.put_len(s.len() as u64)?;
        self.put(s)
    }
}

/// Parses `s` as an integer only if formatting it back yields the same bytes
/// (Redis's `string2ll` + `ll2string` round-trip rule, max 11 characters).
fn canonical_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 11 {
        return None;
    }
    let v: i64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    let mut buf = [0u8; 24];
    let mut cur = &mut buf[..];
    write!(cur, "{v}").ok()?;
    let n = 24 - cur.len();
    (&buf[..n] == s).then_some(v)
}

/// Appends `value`'s RDB type byte and payload.
pub fn encode_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(v) => {
            out.push(TYPE_STRING);
            encode_string(out, v);
        }
        Value::Hash(pairs) => {
            out.push(TYPE_HASH);
            encode_len(out, pairs.len() as u64);
            for (f, v) in pairs {
                encode_string(out, f);
                encode_string(out, v);
            }
        }
        Value::List(items) => {
            out.push(types::TYPE_LIST);
            encode_len(out, items.len() as u64);
            for e in items {
                encode_string(out, e);
            }
        }
        Value::ZSet(items) => {
            out.push(types::TYPE_ZSET_2);
            encode_len(out, items.len() as u64);
            for (m, s) in items {
                encode_string(out, m);
                out.extend(s.to_le_bytes());
            }
        }
        Value::Set(members) => {
            out.push(TYPE_SET);
            encode_len(out, members.len() as u64);
            for m in members {
                encode_string(out, m);
            }
        }
    }
}

/// Appends a string with the integer encodings Redis uses for canonical integers.
pub fn encode_string(out: &mut Vec<u8>, s: &[u8]) {
    if let Some(v) = canonical_int(s) {
        if let Ok(x) = i8::try_from(v) {
            return out.extend([0xC0 | ENC_INT8, x as u8]);
        }
        if let Ok(x) = i16::try_from(v) {
            let b = x.to_le_bytes();
            return out.extend([0xC0 | ENC_INT16, b[0], b[1]]);
        }
        if let Ok(x) = i32::try_from(v) {
            let b = x.to_le_bytes();
            return out.extend([0xC0 | ENC_INT32, b[0], b[1], b[2], b[3]]);
        }
    }
    encode_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// DUMP's payload for `value`: type and payload, RDB version, CRC-64.
pub fn dump(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(&mut out, value);
    out.extend((RDB_VERSION as u16).to_le_bytes());
    let crc = crc64(0, &out);
    out.extend(crc.to_le_bytes());
    out
}

/// Reads a DUMP payload back: `None` when its version or checksum is wrong or it does not
/// parse whole ("DUMP payload version or checksum are wrong").
pub fn undump(payload: &[u8]) -> Option<Value> {
    let n = payload.len().checked_sub(10)?;
    let (body, trailer) = payload.split_at(n);
    let version = u16::from_le_bytes([trailer[0], trailer[1]]);
    if u32::from(version) > RDB_VERSION {
        return None;
    }
    let crc = u64::from_le_bytes(trailer[2..].try_into().ok()?);
    if crc64(0, &payload[..n + 2]) != crc {
        return None;
    }
    let (&t, rest) = body.split_first()?;
    let mut r = RdbReader {
        src: Src {
            inner: BufReader::new(rest),
            off: 0,
            crc: 0,
        },
        version: u32::from(version),
        db: 0,
        state: State::Running,
        keys_hint: 0,
        functions: Vec::new(),
    };
    let v = r.value(t).ok()?;
    (r.src.off == rest.len() as u64).then_some(v)
}

/// Appends an RDB length (6, 14, 32 or 64 bits).
pub fn encode_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.extend_from_slice(&[0x40 | (len >> 8) as u8, len as u8]);
    } else if let Ok(l) = u32::try_from(len) {
        out.push(0x80);
        out.extend_from_slice(&l.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Appends `s` as an RDB string with a plain length (FUNCTION DUMP's library code).
pub fn encode_plain_string(out: &mut Vec<u8>, s: &[u8]) {
    encode_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Reads one RDB string (any encoding Redis writes: plain, integer, LZF) from the start of
/// `bytes`; returns it and how many bytes it took (FUNCTION RESTORE's payload).
pub fn decode_string(bytes: &[u8]) -> Result<(Vec<u8>, usize), RdbError> {
    let mut r = RdbReader {
        src: Src {
            inner: BufReader::new(bytes),
            off: 0,
            crc: 0,
        },
        version: RDB_VERSION,
        db: 0,
        state: State::Running,
        keys_hint: 0,
        functions: Vec::new(),
    };
    let s = r.string("function code")?;
    Ok((s, r.src.off as usize))
}

// ---------------------------------------------------------------------------
// Reader

/// One string key loaded from an RDB file.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Database number from the last SELECTDB (0 if none).
    pub db: u64,
    pub key: Vec<u8>,
    pub value: Value,
    /// Absolute unix expiry in milliseconds (negative stored values clamp to 0: already expired).
    pub expire_at_ms: Option<u64>,
}

/// Byte source that tracks the offset and the running CRC of everything read.
struct Src<R> {
    inner: R,
    off: u64,
    crc: u64,
}

impl<R: Read> Read for Src<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc = crc64(self.crc, &buf[..n]);
        self.off += n as u64;
        Ok(n)
    }
}

enum Len {
    Plain(u64),
    Encoded(u8),
}

#[derive(PartialEq, Eq)]
enum State {
    Running,
    Done,
    Failed,
}

/// Streams entries out of an RDB file (any Redis version 1..=10 that Redis 7.0
/// can load, as far as strings go). Input is buffered internally.
pub struct RdbReader<R: Read> {
    src: Src<BufReader<R>>,
    version: u32,
    db: u64,
    state: State,
    /// Sum of the key counts of RESIZEDB opcodes seen so far (a sizing hint for loaders).
    keys_hint: u64,
    /// The function libraries' code met so far (FUNCTION2 opcodes).
    functions: Vec<Vec<u8>>,
}

impl<R: Read> RdbReader<R> {
    /// Reads and checks the magic and version.
    pub fn new(input: R) -> Result<Self, RdbError> {
        let mut r = RdbReader {
            src: Src {
                inner: BufReader::with_capacity(64 * 1024, input),
                off: 0,
                crc: 0,
            },
            version: 0,
            db: 0,
            state: State::Running,
            keys_hint: 0,
            functions: Vec::new(),
        };
        let mut head = [0u8; 9];
        let mut got = 0;
        while got < head.len() {
            match r.src.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(RdbError::Io(e)),
            }
        }
        let magic_len = got.min(5);
        if head[..magic_len] != b"REDIS"[..magic_len] {
            return Err(RdbError::BadMagic);
        }
        if got < head.len() {
            return Err(corrupt(got as u64, "truncated header"));
        }
        let digits = &head[5..];
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(RdbError::BadMagic);
        }
        let version = digits
            .iter()
            .fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
        if !(1..=RDB_VERSION).contains(&version) {
            return Err(RdbError::UnsupportedVersion(version));
        }
        r.version = version;
        Ok(r)
    }

    /// The function libraries' code read so far (all of it once the entries are done).
    pub fn take_functions(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.functions)
    }

    /// Version number from the file header.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Bytes consumed from the input so far.
    /// Keys announced by RESIZEDB opcodes read so far (0 when the writer gave no hint).
    pub fn keys_hint(&self) -> u64 {
        self.keys_hint
    }

    pub fn offset(&self) -> u64 {
        self.src.off
    }

    /// Next string entry, skipping aux fields, RESIZEDB, FUNCTION2, SELECTDB
    /// (tracked into [`Entry::db`]), IDLE and FREQ; returns `None` at EOF after
    /// verifying the checksum (a stored checksum of 0 means "disabled" and is
    /// accepted). Non-string value types, MODULE_AUX and pre-GA FUNCTION give
    /// [`RdbError::UnsupportedType`]. After any error the reader stays failed.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, RdbError> {
        match self.state {
            State::Done => return Ok(None),
            State::Failed => {
                return Err(corrupt(
                    self.src.off,
                    "reader stopped after an earlier error",
                ))
            }
            State::Running => {}
        }
        let res = self.read_entry();
        match &res {
            Err(_) => self.state = State::Failed,
            Ok(None) => self.state = State::Done,
            Ok(Some(_)) => {}
        }
        res
    }

    fn read_entry(&mut self) -> Result<Option<Entry>, RdbError> {
        let mut expire_at_ms = None;
        loop {
            let at = self.src.off;
            let op = self.array::<1>("opcode")?[0];
            match op {
                OP_EXPIRETIME_MS => {
                    let ms = i64::from_le_bytes(self.array("millisecond expire time")?);
                    expire_at_ms = Some(ms.max(0) as u64);
                }
                OP_EXPIRETIME => {
                    let secs = i32::from_le_bytes(self.array("second expire time")?);
                    expire_at_ms = Some((i64::from(secs) * 1000).max(0) as u64);
                }
                OP_SELECTDB => self.db = self.plain_len("SELECTDB database number")?,
                OP_RESIZEDB => {
                    let keys = self.plain_len("RESIZEDB hash table size")?;
                    self.plain_len("RESIZEDB expire table size")?;
                    self.keys_hint = self.keys_hint.saturating_add(keys);
                }
                OP_AUX => {
                    self.string("aux field name")?;
                    self.string("aux field value")?;
                }
                OP_IDLE => {
                    self.plain_len("IDLE time")?;
                }
                OP_FREQ => {
                    self.array::<1>("FREQ counter")?;
                }
                OP_FUNCTION2 => {
                    let code = self.string("FUNCTION2 library code")?;
                    self.functions.push(code);
                }
                OP_EOF => {
                    self.check_trailer()?;
                    return Ok(None);
                }
                TYPE_STRING
                | TYPE_SET
                | TYPE_HASH
                | types::TYPE_SET_INTSET
                | types::TYPE_HASH_ZIPLIST
                | types::TYPE_HASH_LISTPACK
                | types::TYPE_SET_LISTPACK
                | types::TYPE_LIST
                | types::TYPE_LIST_ZIPLIST
                | types::TYPE_LIST_QUICKLIST
                | types::TYPE_LIST_QUICKLIST_2
                | types::TYPE_ZSET
                | types::TYPE_ZSET_2
                | types::TYPE_ZSET_ZIPLIST
                | types::TYPE_ZSET_LISTPACK => {
                    let key = self.string("key")?;
                    let value = self.value(op)?;
                    return Ok(Some(Entry {
                        db: self.db,
                        key,
                        value,
                        expire_at_ms,
                    }));
                }
                // MODULE_AUX / pre-GA FUNCTION payloads cannot be skipped without
                // understanding them.
                OP_MODULE_AUX | OP_FUNCTION_PRE_GA => {
                    return Err(RdbError::UnsupportedType {
                        offset: at,
                        type_byte: op,
                    })
                }
                // Any other byte is a non-string value type (list, hash, stream, ...).
                type_byte => {
                    return Err(RdbError::UnsupportedType {
                        offset: at,
                        type_byte,
                    })
                }
            }
        }
    }

    /// A value of RDB type `t` (see `rdb_types`); other types are [`RdbError::UnsupportedType`].
    fn value(&mut self, t: u8) -> Result<Value, RdbError> {
        let at = self.src.off;
        let bad = |what: String| corrupt(at, what);
        Ok(match t {
            TYPE_STRING => Value::String(self.string("string value")?),
            TYPE_SET => {
                let n = self.plain_len("set size")?;
                let mut members = Vec::new();
                let mut seen = hashbrown::HashSet::new();
                for _ in 0..n {
                    let m = self.string("set member")?;
                    if seen.insert(m.clone()) {
                        members.push(m);
                    } else {
                        return Err(bad("a set with a duplicate member".into()));
                    }
                }
                Value::Set(members)
            }
            TYPE_HASH => {
                let n = self.plain_len("hash size")?;
                let mut pairs = Vec::new();
                let mut seen = hashbrown::HashSet::new();
                for _ in 0..n {
                    let f = self.string("hash field")?;
                    let v = self.string("hash value")?;
                    if !seen.insert(f.clone()) {
                        return Err(bad("a hash with a duplicate field".into()));
                    }
                    pairs.push((f, v));
                }
                Value::Hash(pairs)
            }
            types::TYPE_SET_INTSET => {
                let blob = self.string("intset")?;
                Value::Set(types::parse_intset(&blob).map_err(bad)?)
            }
            types::TYPE_SET_LISTPACK => {
                let blob = self.string("set listpack")?;
                Value::Set(types::parse_listpack(&blob).map_err(bad)?)
            }
            types::TYPE_HASH_LISTPACK => {
                let blob = self.string("hash listpack")?;
                Value::Hash(types::pairs(types::parse_listpack(&blob).map_err(bad)?).map_err(bad)?)
            }
            types::TYPE_HASH_ZIPLIST => {
                let blob = self.string("hash ziplist")?;
                Value::Hash(types::pairs(types::parse_ziplist(&blob).map_err(bad)?).map_err(bad)?)
            }
            types::TYPE_ZSET | types::TYPE_ZSET_2 => {
                let n = self.plain_len("sorted set size")?;
                let mut items = Vec::new();
                let mut seen = hashbrown::HashSet::new();
                for _ in 0..n {
                    let m = self.string("sorted set member")?;
                    let s = if t == types::TYPE_ZSET_2 {
                        f64::from_le_bytes(self.array::<8>("sorted set score")?)
                    } else {
                        let [len] = self.array::<1>("sorted set score")?;
                        match len {
                            253 => f64::NAN,
                            254 => f64::INFINITY,
                            255 => f64::NEG_INFINITY,
                            n => {
                                let mut b = vec![0u8; n as usize];
                                self.fill(&mut b, "sorted set score")?;
                                std::str::from_utf8(&b)
                                    .ok()
                                    .and_then(|x| x.parse::<f64>().ok())
                                    .ok_or_else(|| {
                                        bad("a sorted set score that is not a number".into())
                                    })?
                            }
                        }
                    };
                    if s.is_nan() {
                        return Err(bad("a sorted set score that is NaN".into()));
                    }
                    if !seen.insert(m.clone()) {
                        return Err(bad("a sorted set with a duplicate member".into()));
                    }
                    items.push((m, s));
                }
                Value::ZSet(items)
            }
            types::TYPE_ZSET_ZIPLIST | types::TYPE_ZSET_LISTPACK => {
                let blob = self.string("sorted set blob")?;
                let flat = if t == types::TYPE_ZSET_LISTPACK {
                    types::parse_listpack(&blob)
                } else {
                    types::parse_ziplist(&blob)
                }
                .map_err(bad)?;
                let pairs = types::pairs(flat).map_err(bad)?;
                let mut items = Vec::with_capacity(pairs.len());
                for (m, s) in pairs {
                    let s = std::str::from_utf8(&s)
                        .ok()
                        .and_then(|x| x.parse::<f64>().ok())
                        .filter(|x| !x.is_nan())
                        .ok_or_else(|| bad("a sorted set score that is not a number".into()))?;
                    items.push((m, s));
                }
                Value::ZSet(items)
            }
            types::TYPE_LIST => {
                let n = self.plain_len("list length")?;
                let mut items = Vec::new();
                for _ in 0..n {
                    items.push(self.string("list element")?);
                }
                Value::List(items)
            }
            types::TYPE_LIST_ZIPLIST => {
                let blob = self.string("list ziplist")?;
                Value::List(types::parse_ziplist(&blob).map_err(bad)?)
            }
            types::TYPE_LIST_QUICKLIST | types::TYPE_LIST_QUICKLIST_2 => {
                let nodes = self.plain_len("quicklist node count")?;
                let mut items = Vec::new();
                for _ in 0..nodes {
                    let container = if t == types::TYPE_LIST_QUICKLIST_2 {
                        self.plain_len("quicklist node container")?
                    } else {
                        types::QUICKLIST_NODE_PACKED
                    };
                    let blob = self.string("quicklist node")?;
                    match container {
                        types::QUICKLIST_NODE_PLAIN => items.push(blob),
                        types::QUICKLIST_NODE_PACKED if t == types::TYPE_LIST_QUICKLIST => {
                            items.extend(types::parse_ziplist(&blob).map_err(bad)?)
                        }
                        types::QUICKLIST_NODE_PACKED => {
                            items.extend(types::parse_listpack(&blob).map_err(bad)?)
                        }
                        c => return Err(bad(format!("quicklist node container {c}"))),
                    }
                }
                Value::List(items)
            }
            type_byte => {
                return Err(RdbError::UnsupportedType {
                    offset: at,
                    type_byte,
                })
            }
        })
    }

    /// Called right after the EOF opcode was consumed (the CRC includes it).
    fn check_trailer(&mut self) -> Result<(), RdbError> {
        if self.version < FIRST_CHECKSUM_VERSION {
            return Ok(());
        }
        let computed = self.src.crc;
        let stored = u64::from_le_bytes(self.array("checksum")?);
        if stored != 0 && stored != computed {
            return Err(RdbError::ChecksumMismatch {
                expected: stored,
                found: computed,
            });
        }
        Ok(())
    }

    fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<(), RdbError> {
        self.src.read_exact(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                corrupt(
                    self.src.off,
                    format!("unexpected end of file while reading {what}"),
                )
            } else {
                RdbError::Io(e)
            }
        })
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], RdbError> {
        let mut b = [0u8; N];
        self.fill(&mut b, what)?;
        Ok(b)
    }

    /// Reads `len` bytes in chunks, so memory grows only as the bytes actually arrive.
    fn bytes(&mut self, len: u64, what: &str) -> Result<Vec<u8>, RdbError> {
        let mut v = Vec::new();
        let mut left = len;
        while left > 0 {
            let n = left.min(READ_CHUNK) as usize;
            let old = v.len();
            v.resize(old + n, 0);
            self.fill(&mut v[old..], what)?;
            left -= n as u64;
        }
        Ok(v)
    }

    fn len_or_encoding(&mut self, what: &str) -> Result<Len, RdbError> {
        let at = self.src.off;
        let b = self.array::<1>(what)?[0];
        Ok(match b >> 6 {
            0 => Len::Plain(u64::from(b & 0x3f)),
            1 => Len::Plain((u64::from(b & 0x3f) << 8) | u64::from(self.array::<1>(what)?[0])),
            2 => match b {
                0x80 => Len::Plain(u64::from(u32::from_be_bytes(self.array(what)?))),
                0x81 => Len::Plain(u64::from_be_bytes(self.array(what)?)),
                _ => {
                    return Err(corrupt(
                        at,
                        format!("invalid length prefix {b:#04x} for {what}"),
                    ))
                }
            },
            _ => Len::Encoded(b & 0x3f),
        })
    }

    fn plain_len(&mut self, what: &str) -> Result<u64, RdbError> {
        let at = self.src.off;
        match self.len_or_encoding(what)? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(e) => Err(corrupt(
                at,
                format!("unexpected string encoding {e} for {what}"),
            )),
        }
    }

    fn string(&mut self, what: &str) -> Result<Vec<u8>, RdbError> {
        let at = self.src.off;
        match self.len_or_encoding(what)? {
            Len::Plain(n) => self.bytes(n, what),
            Len::Encoded(ENC_INT8) => {
                Ok((self.array::<1>(what)?[0] as i8).to_string().into_bytes())
            }
            Len::Encoded(ENC_INT16) => Ok(i16::from_le_bytes(self.array(what)?)
                .to_string()
                .into_bytes()),
            Len::Encoded(ENC_INT32) => Ok(i32::from_le_bytes(self.array(what)?)
                .to_string()
                .into_bytes()),
            Len::Encoded(ENC_LZF) => {
                let clen = self.plain_len(what)?;
                let ulen = self.plain_len(what)?;
                if ulen > clen.saturating_mul(LZF_MAX_RATIO) {
                    return Err(corrupt(
                        at,
                        format!("LZF {what} claims {ulen} bytes from only {clen} compressed bytes"),
                    ));
                }
                let packed = self.bytes(clen, what)?;
                let ulen =
                    usize::try_from(ulen).map_err(|_| corrupt(at, "LZF length too large"))?;
                lzf_decompress(&packed, ulen)
                    .ok_or_else(|| corrupt(at, format!("invalid LZF-compressed {what}")))
            }
            Len::Encoded(e) => Err(corrupt(
                at,
                format!("unknown string encoding {e} for {what}"),
            )),
        }
    }
}

#[cfg(test)]
#[path = "rdb_interop_tests.rs"]
mod interop_tests;
#[cfg(test)]
#[path = "rdb_tests.rs"]
mod tests;
