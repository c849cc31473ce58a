//! RESP2 reply encoder.
//!
//! Every reply is appended to one contiguous output buffer (`Vec<u8>`) that the connection writes
//! with a single `write` per batch, so these functions never allocate beyond growing that buffer
//! and never format through `fmt` (integers go through `itoa`).

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

/// `$-1\r\n`, the RESP2 null bulk string.
#[inline]
pub fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(b"$-1\r\n");
}

/// `*-1\r\n`, the RESP2 null array.
#[inline]
pub fn null_array(out: &mut Vec<u8>) {
    out.extend_from_slice(b"*-1\r\n");
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

    fn enc(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut v = Vec::new();
        f(&mut v);
        v
    }

    #[test]
    fn golden_bytes() {
        assert_eq!(enc(ok), b"+OK\r\n");
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
