//! The reply encoder, RESP2 and RESP3.
//!
//! Every reply is appended to one contiguous output buffer that the connection writes with a
//! single `write` per batch, so these functions never allocate beyond growing that buffer and
//! never format through `fmt` (integers go through `itoa`).
//!
//! The buffer is an [`Out`]: the bytes plus the protocol of the client they are for. A handler
//! says what it answers (a null, a map of `n` pairs, a set, a double, a boolean, verbatim text, a
//! push) and the encoder writes it the way that protocol spells it, so no handler ever writes
//! protocol bytes itself and a new type gets RESP3 for free. Types that RESP2 and RESP3 spell the
//! same (simple strings, errors, integers, bulk strings, arrays) take the plain `Vec<u8>`, which
//! an `&mut Out` derefs to. A part of a command run on another core encodes into that core's
//! hop buffer, which carries the client's protocol with it.

use std::ops::{Deref, DerefMut};

/// A reply buffer and the protocol its client speaks.
#[derive(Debug, Default, Clone)]
pub struct Out {
    buf: Vec<u8>,
    resp3: bool,
}

impl Out {
    pub fn new(resp3: bool) -> Self {
        Out {
            buf: Vec::new(),
            resp3,
        }
    }

    pub fn with_capacity(cap: usize, resp3: bool) -> Self {
        Out {
            buf: Vec::with_capacity(cap),
            resp3,
        }
    }

    /// Whether replies are encoded as RESP3.
    #[inline]
    pub fn resp3(&self) -> bool {
        self.resp3
    }

    #[inline]
    pub fn set_resp3(&mut self, resp3: bool) {
        self.resp3 = resp3;
    }

    /// Wraps bytes already written (a reused buffer) for a client of protocol `resp3`.
    pub fn from_vec(buf: Vec<u8>, resp3: bool) -> Self {
        Out { buf, resp3 }
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }

    /// Replaces the bytes, keeping the protocol (a buffer dropped for being too big).
    pub fn replace_buf(&mut self, buf: Vec<u8>) {
        self.buf = buf;
    }
}

impl Deref for Out {
    type Target = Vec<u8>;
    #[inline]
    fn deref(&self) -> &Vec<u8> {
        &self.buf
    }
}

impl DerefMut for Out {
    #[inline]
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
}

/// `+OK\r\n`
#[inline]
pub fn ok(out: &mut Vec<u8>) {
    out.extend_from_slice(b"+OK\r\n");
}

/// `+<s>\r\n`. `s` must not contain CR or LF.
#[inline]
pub fn simple(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'+');
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
}

/// `-<msg>\r\n`. `msg` starts with the error code (`ERR ...`, `WRONGTYPE ...`). CR and LF inside
/// the message are replaced by spaces, as Redis does, so that one error is always one line.
pub fn error(out: &mut Vec<u8>, msg: &[u8]) {
    out.push(b'-');
    let start = out.len();
    out.extend_from_slice(msg);
    for b in &mut out[start..] {
        if *b == b'\r' || *b == b'\n' {
            *b = b' ';
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// `:<n>\r\n`
#[inline]
pub fn int(out: &mut Vec<u8>, n: i64) {
    out.push(b':');
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `$<len>\r\n<bytes>\r\n`
#[inline]
pub fn bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 16);
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(bytes.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// A bulk string holding the decimal digits of `n` (Redis answers INCRBYFLOAT, CONFIG GET values
/// and some INFO-like fields this way).
#[inline]
pub fn bulk_int(out: &mut Vec<u8>, n: i64) {
    bulk(out, itoa::Buffer::new().format(n).as_bytes());
}

/// A missing value: `$-1\r\n` (the RESP2 null bulk string) or `_\r\n`.
#[inline]
pub fn null(out: &mut Out) {
    let bytes: &[u8] = if out.resp3 { b"_\r\n" } else { b"$-1\r\n" };
    out.extend_from_slice(bytes);
}

/// A missing array (EXEC aborted by WATCH): `*-1\r\n` or `_\r\n`.
#[inline]
pub fn null_array(out: &mut Out) {
    let bytes: &[u8] = if out.resp3 { b"_\r\n" } else { b"*-1\r\n" };
    out.extend_from_slice(bytes);
}

fn header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The header of a map of `pairs` key-value pairs that follow: `%<pairs>` in RESP3, a flat array
/// of `2 * pairs` elements in RESP2.
#[inline]
pub fn map(out: &mut Out, pairs: usize) {
    if out.resp3 {
        header(out, b'%', pairs);
    } else {
        header(out, b'*', pairs * 2);
    }
}

/// The header of a set of `len` elements: `~<len>` in RESP3, an array in RESP2.
#[inline]
pub fn set(out: &mut Out, len: usize) {
    let tag = if out.resp3 { b'~' } else { b'*' };
    header(out, tag, len);
}

/// The header of an out-of-band push of `len` elements (pub/sub messages, invalidations):
/// `><len>` in RESP3, an array in RESP2.
#[inline]
pub fn push(out: &mut Out, len: usize) {
    let tag = if out.resp3 { b'>' } else { b'*' };
    header(out, tag, len);
}

/// A boolean: `#t` / `#f` in RESP3, the integers 1 / 0 in RESP2.
#[inline]
pub fn boolean(out: &mut Out, v: bool) {
    if out.resp3 {
        let bytes: &[u8] = if v { b"#t\r\n" } else { b"#f\r\n" };
        out.extend_from_slice(bytes);
    } else {
        int(out, v as i64);
    }
}

/// A double, formatted as Redis 7.0 does (`%.17g`, `inf`, `-inf`): `,<d>` in RESP3, a bulk string
/// in RESP2.
pub fn double(out: &mut Out, v: f64) {
    let mut digits = Vec::with_capacity(24);
    format_g17(v, &mut digits);
    if out.resp3 {
        out.push(b',');
        out.extend_from_slice(&digits);
        out.extend_from_slice(b"\r\n");
    } else {
        bulk(out, &digits);
    }
}

/// Text meant for humans (INFO, CLIENT LIST, CLIENT INFO): a verbatim string of format `txt` in
/// RESP3 (`=<len>\r\ntxt:<text>\r\n`), a bulk string in RESP2.
pub fn verbatim(out: &mut Out, text: &[u8]) {
    if out.resp3 {
        out.reserve(text.len() + 16);
        header(out, b'=', text.len() + 4);
        out.extend_from_slice(b"txt:");
        out.extend_from_slice(text);
        out.extend_from_slice(b"\r\n");
    } else {
        bulk(out, text);
    }
}

/// Verbatim text of a given three-letter format (`txt`, `mkd`), from a script.
pub fn verbatim_as(out: &mut Out, format: &[u8], text: &[u8]) {
    if out.resp3 && format.len() == 3 {
        header(out, b'=', text.len() + 4);
        out.extend_from_slice(format);
        out.push(b':');
        out.extend_from_slice(text);
        out.extend_from_slice(b"\r\n");
    } else {
        bulk(out, text);
    }
}

/// A big number given as its digits: `(<digits>` in RESP3, a bulk string in RESP2.
pub fn big_number(out: &mut Out, digits: &[u8]) {
    if out.resp3 {
        out.push(b'(');
        out.extend_from_slice(digits);
        out.extend_from_slice(b"\r\n");
    } else {
        bulk(out, digits);
    }
}

/// C's `%.17g`: 17 significant digits, trailing zeros dropped, exponent form below 1e-4 and from
/// 1e17 on (`1.0000000000000001e+17`); `inf`, `-inf` and `nan` spelled as Redis sends them.
pub fn format_g17(v: f64, buf: &mut Vec<u8>) {
    use std::io::Write;
    if v.is_nan() {
        buf.extend_from_slice(b"nan");
        return;
    }
    if v.is_infinite() {
        buf.extend_from_slice(if v > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    if v == 0.0 {
        buf.extend_from_slice(if v.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    // Integral values below 2^53 print as the integer (what %.17g gives them), without the
    // general path's formatting: scores are often counts or timestamps.
    if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
        buf.extend_from_slice(itoa::Buffer::new().format(v as i64).as_bytes());
        return;
    }
    // Round to 17 significant digits once; the exponent decides the form, as in C.
    let sci = format!("{v:.16e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..17).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(buf, "{}e{}{:02}", trim(mantissa), sign, exp.abs());
    } else {
        let decimals = (16 - exp).max(0) as usize;
        let _ = write!(buf, "{}", trim(&format!("{v:.decimals$}")));
    }
}

/// `*<len>\r\n`, the header of an array whose `len` elements follow.
#[inline]
pub fn array(out: &mut Vec<u8>, len: usize) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Reads back an integer reply (`:<n>\r\n`) that this module encoded; `None` for any other
/// reply. Used when per-shard partial replies are combined (DEL, EXISTS, DBSIZE sum them).
pub fn parse_int(reply: &[u8]) -> Option<i64> {
    let body = reply.strip_prefix(b":")?.strip_suffix(b"\r\n")?;
    atoi::atoi::<i64>(body)
}

/// The length of the one complete reply at the start of `r` (any RESP2 or RESP3 type this
/// module encodes), or `None` when `r` does not start with a whole one. Lets a gather copy the
/// elements another core encoded, in the client's protocol, without decoding them.
pub fn value_len(r: &[u8]) -> Option<usize> {
    let tag = *r.first()?;
    let nl = memchr::memchr(b'\n', r)?;
    let head = r.get(1..nl.checked_sub(1)?)?;
    let after = nl + 1;
    match tag {
        b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => Some(after),
        b'$' | b'=' => {
            let n: i64 = atoi::atoi(head)?;
            if n < 0 {
                return Some(after);
            }
            let end = after + n as usize + 2;
            (end <= r.len()).then_some(end)
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n: i64 = atoi::atoi(head)?;
            let n = if tag == b'%' { n * 2 } else { n };
            let mut at = after;
            for _ in 0..n.max(0) {
                at += value_len(&r[at..])?;
            }
            Some(at)
        }
        _ => None,
    }
}

/// Formats a float the way Redis replies to INCRBYFLOAT: plain decimal notation, no exponent,
/// shortest digits that round-trip, no trailing `.0`.
pub fn format_float(v: f64, buf: &mut Vec<u8>) {
    use std::io::Write;
    if v == v.trunc() && v.abs() < 1e17 {
        // Integral values print without a fractional part, like Redis's "%.17Lg"-then-trim.
        let _ = write!(buf, "{}", v as i64);
    } else {
        let _ = write!(buf, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl FnOnce(&mut Out)) -> Vec<u8> {
        let mut v = Out::new(false);
        f(&mut v);
        v.into_vec()
    }

    fn enc3(f: impl FnOnce(&mut Out)) -> Vec<u8> {
        let mut v = Out::new(true);
        f(&mut v);
        v.into_vec()
    }

    #[test]
    fn resp3_golden_bytes() {
        assert_eq!(enc3(null), b"_\r\n");
        assert_eq!(enc3(null_array), b"_\r\n");
        assert_eq!(enc3(|o| map(o, 2)), b"%2\r\n");
        assert_eq!(enc(|o| map(o, 2)), b"*4\r\n");
        assert_eq!(enc3(|o| set(o, 3)), b"~3\r\n");
        assert_eq!(enc(|o| set(o, 3)), b"*3\r\n");
        assert_eq!(enc3(|o| push(o, 3)), b">3\r\n");
        assert_eq!(enc(|o| push(o, 3)), b"*3\r\n");
        assert_eq!(enc3(|o| boolean(o, true)), b"#t\r\n");
        assert_eq!(enc3(|o| boolean(o, false)), b"#f\r\n");
        assert_eq!(enc(|o| boolean(o, true)), b":1\r\n");
        assert_eq!(enc3(|o| double(o, 1.5)), b",1.5\r\n");
        assert_eq!(enc(|o| double(o, 1.5)), b"$3\r\n1.5\r\n");
        assert_eq!(enc3(|o| double(o, f64::INFINITY)), b",inf\r\n");
        assert_eq!(enc3(|o| double(o, f64::NEG_INFINITY)), b",-inf\r\n");
        assert_eq!(enc3(|o| verbatim(o, b"a\r\nb")), b"=8\r\ntxt:a\r\nb\r\n");
        assert_eq!(enc(|o| verbatim(o, b"ab")), b"$2\r\nab\r\n");
        // Types both protocols spell alike stay alike.
        assert_eq!(enc3(|o| bulk(o, b"x")), b"$1\r\nx\r\n");
        assert_eq!(enc3(|o| int(o, 7)), b":7\r\n");
    }

    #[test]
    fn doubles_like_printf_g17() {
        let f = |v: f64| {
            let mut b = Vec::new();
            format_g17(v, &mut b);
            String::from_utf8(b).unwrap()
        };
        assert_eq!(f(1.5), "1.5");
        assert_eq!(f(0.1), "0.10000000000000001");
        assert_eq!(f(3.0), "3");
        assert_eq!(f(-2.25), "-2.25");
        assert_eq!(f(1e17), "1e+17");
        assert_eq!(f(123456789.0), "123456789");
        assert_eq!(f(1e-5), "1.0000000000000001e-05");
        assert_eq!(f(0.0001), "0.0001");
        assert_eq!(f(1e300), "1.0000000000000001e+300");
        assert_eq!(f(0.0), "0");
    }

    #[test]
    fn golden_bytes() {
        assert_eq!(enc(|o| ok(o)), b"+OK\r\n");
        assert_eq!(enc(|o| simple(o, b"PONG")), b"+PONG\r\n");
        assert_eq!(
            enc(|o| error(o, b"ERR bad\r\nthing")),
            b"-ERR bad  thing\r\n"
        );
        assert_eq!(enc(|o| int(o, -42)), b":-42\r\n");
        assert_eq!(enc(|o| int(o, i64::MIN)), b":-9223372036854775808\r\n");
        assert_eq!(enc(|o| bulk(o, b"")), b"$0\r\n\r\n");
        assert_eq!(enc(|o| bulk(o, b"a\r\nb")), b"$4\r\na\r\nb\r\n");
        assert_eq!(enc(|o| bulk_int(o, 100)), b"$3\r\n100\r\n");
        assert_eq!(enc(null), b"$-1\r\n");
        assert_eq!(enc(null_array), b"*-1\r\n");
        assert_eq!(enc(|o| array(o, 3)), b"*3\r\n");
    }

    #[test]
    fn value_lengths() {
        for v in [
            &b"+OK\r\n"[..],
            b"$3\r\nabc\r\n",
            b"$-1\r\n",
            b"_\r\n",
            b"*2\r\n$1\r\na\r\n_\r\n",
            b"%1\r\n$1\r\na\r\n:1\r\n",
            b"=6\r\ntxt:ab\r\n",
        ] {
            let mut long = v.to_vec();
            long.extend_from_slice(b":9\r\n");
            assert_eq!(value_len(&long), Some(v.len()), "{v:?}");
        }
        assert_eq!(value_len(b"$3\r\nab"), None);
        assert_eq!(value_len(b"*2\r\n:1\r\n"), None);
    }

    #[test]
    fn int_round_trip() {
        for n in [0, 1, -1, i64::MAX, i64::MIN, 1234567] {
            assert_eq!(parse_int(&enc(|o| int(o, n))), Some(n));
        }
        assert_eq!(parse_int(b"+OK\r\n"), None);
        assert_eq!(parse_int(b":12"), None);
    }

    #[test]
    fn floats_like_redis() {
        let f = |v: f64| {
            let mut b = Vec::new();
            format_float(v, &mut b);
            String::from_utf8(b).unwrap()
        };
        assert_eq!(f(10.5), "10.5");
        assert_eq!(f(3.0), "3");
        assert_eq!(f(-0.1), "-0.1");
        assert_eq!(f(5.0e3), "5000");
        assert_eq!(f(3e17), "300000000000000000");
    }
}
