//! The strict number parsing Redis applies to a command's arguments ([`Args`] itself is the
//! parser's, in `resp::args`).

use crate::error::CmdError;

pub use crate::resp::args::Args;

/// Integer arguments, with Redis's error when one is not.
pub trait IntArg {
    fn i64_at(&self, i: usize) -> Result<i64, CmdError>;
}

impl IntArg for Args<'_> {
    fn i64_at(&self, i: usize) -> Result<i64, CmdError> {
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
