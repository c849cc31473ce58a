//! Arguments of one command, and the strict number parsing Redis applies to them.
//!
//! [`Args`] is a view: byte ranges into a buffer that is either the connection's read buffer
//! (commands run on the connection's own shard, zero-copy) or the data of a cross-shard message.

use crate::error::CmdError;

#[derive(Clone, Copy)]
pub struct Args<'a> {
    buf: &'a [u8],
    ranges: &'a [(usize, usize)],
}

impl<'a> Args<'a> {
    pub fn new(buf: &'a [u8], ranges: &'a [(usize, usize)]) -> Self {
        Args { buf, ranges }
    }

    /// Argument `i` (0 is the command name). Callers index within the arity already checked.
    #[inline]
    pub fn get(&self, i: usize) -> &'a [u8] {
        let (s, e) = self.ranges[i];
        &self.buf[s..e]
    }

    /// The buffer the ranges point into.
    pub fn buf(&self) -> &'a [u8] {
        self.buf
    }

    pub fn ranges(&self) -> &'a [(usize, usize)] {
        self.ranges
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let buf = self.buf;
        self.ranges.iter().map(move |&(s, e)| &buf[s..e])
    }

    /// The lower-case command name, for error texts.
    pub fn name_lower(&self) -> String {
        String::from_utf8_lossy(self.get(0)).to_ascii_lowercase()
    }

    pub fn i64_at(&self, i: usize) -> Result<i64, CmdError> {
        parse_i64(self.get(i)).ok_or(CmdError::NotInteger)
    }
}

/// Redis `string2ll` (see `crate::num`).
pub use crate::num::string2ll as parse_i64;

/// Redis `string2ld` for arguments: a complete float with no spaces; not NaN.
pub fn parse_f64(b: &[u8]) -> Option<f64> {
    if b.is_empty()
        || b.len() > 5000
        || b[0].is_ascii_whitespace()
        || b[b.len() - 1].is_ascii_whitespace()
    {
        return None;
    }
    let s = std::str::from_utf8(b).ok()?;
    // Rust accepts "inf"/"infinity"/"nan" like strtold; Redis rejects NaN only.
    let v: f64 = s.parse().ok()?;
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

#[inline]
pub fn eq_ic(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_like_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b"9223372036854775808"[..],
            b"-9223372036854775809",
            b"+1",
            b" 1",
            b"1 ",
            b"01",
            b"-0",
            b"",
            b"-",
            b"1a",
            b"1.0",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn floats() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"5.0e3"), Some(5000.0));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"abc"), None);
        assert_eq!(parse_f64(b""), None);
    }
}
