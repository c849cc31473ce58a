//! Number parsing/formatting with Redis' rules (string2ll, string2ld, and the
//! human-friendly INCRBYFLOAT output).

/// Redis `string2ll` (see `crate::num`).
pub(super) use crate::num::string2ll as parse_i64;

/// Formats `v` into `buf`, returning the used tail (no allocation; INCR is hot).
pub(super) fn fmt_i64(v: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = v.unsigned_abs();
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        pos -= 1;
        buf[pos] = b'-';
    }
    &buf[pos..]
}

/// Redis `string2ld` over f64: not empty, no leading space, parses fully, not
/// NaN, and neither overflows to infinity nor underflows to zero (strtold's
/// ERANGE cases). An explicit "inf" is accepted, as strtold does; INCRBYFLOAT
/// then reports it as NanOrInfinity. Hex floats are not accepted.
pub(super) fn parse_f64(s: &[u8]) -> Option<f64> {
    // MAX_LONG_DOUBLE_CHARS in Redis.
    if s.is_empty() || s.len() >= 5 * 1024 {
        return None;
    }
    let st = std::str::from_utf8(s).ok()?;
    let v: f64 = st.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    let body = st.trim_start_matches(['+', '-']);
    let alpha = body
        .bytes()
        .any(|c| c.is_ascii_alphabetic() && c != b'e' && c != b'E');
    if v.is_infinite() && !alpha {
        return None; // overflow, not an explicit "inf"
    }
    if v == 0.0 {
        let mantissa = body.split(['e', 'E']).next().unwrap_or("");
        if mantissa.bytes().any(|c| (b'1'..=b'9').contains(&c)) {
            return None; // underflow
        }
    }
    Some(v)
}

/// A decimal number: (-1)^neg * digits * 10^exp, digits most significant first.
struct Decimal {
    neg: bool,
    digits: Vec<u8>,
    exp: i64,
}

/// Parses a finite float literal as accepted by `str::parse::<f64>` (already
/// validated) exactly, without rounding.
fn parse_decimal(s: &str) -> Option<Decimal> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut neg = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        neg = b[i] == b'-';
        i += 1;
    }
    let mut digits = Vec::new();
    let mut exp: i64 = 0;
    let mut seen_dot = false;
    while i < b.len() {
        match b[i] {
            c @ b'0'..=b'9' => {
                if !(digits.is_empty() && c == b'0') {
                    digits.push(c - b'0');
                }
                if seen_dot {
                    exp -= 1;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            b'e' | b'E' => break,
            _ => return None,
        }
        i += 1;
    }
    if i < b.len() {
        i += 1;
        let mut eneg = false;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            eneg = b[i] == b'-';
            i += 1;
        }
        let mut e: i64 = 0;
        for &c in &b[i..] {
            if !c.is_ascii_digit() {
                return None;
            }
            // Saturate: a finite non-zero value bounds the useful range anyway.
            e = (e * 10 + i64::from(c - b'0')).min(1 << 40);
        }
        exp += if eneg { -e } else { e };
    }
    if digits.is_empty() {
        exp = 0;
    }
    Some(Decimal { neg, digits, exp })
}

/// |a| + |b| or ||a| - |b|| on digit vectors aligned to the same exponent.
fn add_decimals(a: Decimal, b: Decimal) -> String {
    let exp = a.exp.min(b.exp);
    // Align: append zeros so both share `exp`; width bounded by the operands'
    // span (a few hundred digits for finite doubles, < 5 KiB for strings).
    let widen = |d: &Decimal| -> Vec<u8> {
        let mut v = d.digits.clone();
        v.resize(v.len() + (d.exp - exp) as usize, 0);
        v
    };
    let (x, y) = (widen(&a), widen(&b));
    let n = x.len().max(y.len()) + 1;
    let pad = |v: &[u8]| -> Vec<u8> {
        let mut p = vec![0; n - v.len()];
        p.extend_from_slice(v);
        p
    };
    let (x, y) = (pad(&x), pad(&y));
    let (neg, mut out);
    if a.neg == b.neg {
        neg = a.neg;
        out = vec![0u8; n];
        let mut carry = 0;
        for k in (0..n).rev() {
            let s = x[k] + y[k] + carry;
            out[k] = s % 10;
            carry = s / 10;
        }
    } else {
        let (big, small, bneg) = if x >= y {
            (&x, &y, a.neg)
        } else {
            (&y, &x, b.neg)
        };
        neg = bneg;
        out = vec![0u8; n];
        let mut borrow = 0i8;
        for k in (0..n).rev() {
            let mut d = big[k] as i8 - small[k] as i8 - borrow;
            borrow = 0;
            if d < 0 {
                d += 10;
                borrow = 1;
            }
            out[k] = d as u8;
        }
    }
    let mut s = String::with_capacity(n + 24);
    if neg {
        s.push('-');
    }
    let first = out.iter().position(|&d| d != 0).unwrap_or(n - 1);
    s.extend(out[first..].iter().map(|&d| char::from(b'0' + d)));
    s.push('e');
    s.push_str(&exp.to_string());
    s
}

/// INCRBYFLOAT arithmetic: the exact decimal sum of the stored string and the
/// shortest representation of `delta`, rounded once to the nearest f64. This
/// is what makes "1" + -1.1 give -0.1 and 0.1 + 0.2 give 0.3 (as Redis does
/// with long double) rather than the f64 sum's 0.30000000000000004.
/// Returns None when the result is not finite.
pub(super) fn add_float(cur_str: Option<&[u8]>, cur: f64, delta: f64) -> Option<f64> {
    if !(cur + delta).is_finite() || !delta.is_finite() {
        return None;
    }
    let a = match cur_str.and_then(|s| std::str::from_utf8(s).ok()) {
        Some(s) => parse_decimal(s),
        None => parse_decimal("0"),
    };
    let b = parse_decimal(&format!("{delta:e}"));
    let r = match (a, b) {
        (Some(a), Some(b)) => add_decimals(a, b).parse::<f64>().ok()?,
        _ => cur + delta,
    };
    if !r.is_finite() {
        return None;
    }
    // No negative zero ("-0" would be a surprising reply).
    Some(if r == 0.0 { 0.0 } else { r })
}

/// Human-friendly float text as Redis writes INCRBYFLOAT results ("%.17Lf", then trailing zeros
/// and a trailing '.' removed, "-0" written "0"): plain decimal, no exponent. The digits come from
/// the shortest representation that round-trips (Rust's `Display` for f64, e.g. "10.5", "3",
/// "5000"), rounded half-up to 17 fractional digits in decimal, so f64 noise never shows.
pub(super) fn fmt_f64(v: f64) -> Vec<u8> {
    const FRAC_DIGITS: usize = 17;
    let s = format!("{v}");
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.as_str()),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes().take(FRAC_DIGITS)).collect();
    if frac.len() > FRAC_DIGITS && frac.as_bytes()[FRAC_DIGITS] >= b'5' {
        // Carry the rounding up through the kept digits.
        let mut i = digits.len();
        loop {
            if i == 0 {
                digits.insert(0, b'1');
                break;
            }
            i -= 1;
            if digits[i] == b'9' {
                digits[i] = b'0';
            } else {
                digits[i] += 1;
                break;
            }
        }
    }
    let kept_frac = frac.len().min(FRAC_DIGITS);
    let split = digits.len() - kept_frac;
    let mut out = Vec::with_capacity(digits.len() + 2);
    out.extend_from_slice(&digits[..split]);
    let frac_part: &[u8] = &digits[split..];
    let frac_len = frac_part
        .iter()
        .rposition(|&d| d != b'0')
        .map_or(0, |p| p + 1);
    if frac_len > 0 {
        out.push(b'.');
        out.extend_from_slice(&frac_part[..frac_len]);
    }
    if neg && out.iter().any(|&d| d.is_ascii_digit() && d != b'0') {
        out.insert(0, b'-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string2ll_rules() {
        let ok: &[(&str, i64)] = &[
            ("0", 0),
            ("1", 1),
            ("-1", -1),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
            ("12345678901234567", 12345678901234567),
        ];
        for &(s, v) in ok {
            assert_eq!(parse_i64(s.as_bytes()), Some(v), "{s}");
        }
        let bad = [
            "",
            "-",
            "+1",
            " 1",
            "1 ",
            "010",
            "00",
            "-0",
            "-01",
            "1a",
            "a",
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999",
            "123456789012345678901",
            "1.0",
            "0x10",
        ];
        for s in bad {
            assert_eq!(parse_i64(s.as_bytes()), None, "{s:?}");
        }
    }

    #[test]
    fn fmt_i64_values() {
        let mut b = [0u8; 20];
        for v in [0, 1, -1, 10, -10, i64::MAX, i64::MIN, 1234567890] {
            assert_eq!(fmt_i64(v, &mut b), v.to_string().as_bytes());
        }
    }

    #[test]
    fn string2ld_rules() {
        for s in [
            "1", "1.5", "-1.5", "5.0e3", ".5", "5.", "+1", "1e10", "0", "-0", "0e999999", "inf",
            "-inf",
        ] {
            assert!(parse_f64(s.as_bytes()).is_some(), "{s}");
        }
        for s in [
            "", " 1", "1 ", "abc", "nan", "1e400", "-1e400", "1e-400", "1\x002", "1.2.3", "e5", ".",
        ] {
            assert!(parse_f64(s.as_bytes()).is_none(), "{s:?}");
        }
    }

    fn incr(cur: &str, delta: f64) -> String {
        let c = if cur.is_empty() {
            None
        } else {
            Some(cur.as_bytes())
        };
        let cv = c.map_or(0.0, |s| parse_f64(s).unwrap());
        String::from_utf8(fmt_f64(add_float(c, cv, delta).unwrap())).unwrap()
    }

    #[test]
    fn format_rounds_to_17_fraction_digits_like_redis() {
        let f = |v: f64| String::from_utf8(fmt_f64(v)).unwrap();
        assert_eq!(f(1e-18), "0");
        assert_eq!(f(-1e-18), "0");
        assert_eq!(f(1.5e-17), "0.00000000000000002");
        assert_eq!(f(1e-20), "0");
        assert_eq!(f(10.6), "10.6");
        assert_eq!(f(-0.1), "-0.1");
        assert_eq!(f(0.99999999999999999999), "1");
        assert_eq!(f(5200.0), "5200");
        assert_eq!(f(3e20), "300000000000000000000");
    }

    #[test]
    fn float_arithmetic_and_format() {
        assert_eq!(incr("10.5", 0.1), "10.6");
        assert_eq!(incr("5.0e3", 200.0), "5200");
        assert_eq!(incr("1", -1.1), "-0.1");
        assert_eq!(incr("0.1", 0.2), "0.3");
        assert_eq!(incr("", 1.0), "1");
        assert_eq!(incr("1", 0.25), "1.25");
        assert_eq!(incr("10.5", 1.5), "12");
        assert_eq!(incr("17179869184", 1.5), "17179869185.5");
        assert_eq!(incr("17179869184", 17179869184.0), "34359738368");
        assert_eq!(incr("", 0.30000000000000004), "0.30000000000000004");
        assert_eq!(incr("1e21", 0.0), "1000000000000000000000");
        assert_eq!(incr("0.0000001", 0.0), "0.0000001");
        assert_eq!(incr("-5", 5.0), "0");
        assert_eq!(incr(&(1.0f64 / 41.0).to_string(), -1.0 / 41.0), "0");
        assert!(add_float(None, 0.0, f64::INFINITY).is_none());
        assert!(add_float(Some(b"1.7e308"), 1.7e308, 1.7e308).is_none());
        assert!(add_float(Some(b"inf"), f64::INFINITY, 1.0).is_none());
    }
}
