//! Redis's integer rule (`string2ll`), in one place for the parser, the commands and the store.

/// Redis `string2ll`: optional '-', then "0" or a digit string without a leading zero, at most
/// 20 bytes, fitting an i64 ("-0", '+', spaces and anything else are rejected).
#[inline]
pub fn string2ll(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    if !matches!(digits.first(), Some(b'1'..=b'9')) {
        return None;
    }
    let mut v = 0u64;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(d as u64)?;
    }
    match neg {
        // 2^63 is allowed and wraps to i64::MIN.
        true if v <= i64::MAX as u64 + 1 => Some((v as i64).wrapping_neg()),
        false if v <= i64::MAX as u64 => Some(v as i64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::string2ll;

    #[test]
    fn redis_rules() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"-1"), Some(-1));
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-0",
            b"+1",
            b"01",
            b" 1",
            b"1 ",
            b"-",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"1a",
            b"1.0",
            b"123456789012345678901",
        ] {
            assert_eq!(string2ll(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
