//! Redis glob matching (`stringmatchlen`, case-sensitive).
//!
//! Token syntax follows Redis exactly, quirks included: `\x` escapes, `[...]`
//! classes with `^` negation, `a-z` ranges (reversed ranges are swapped), `\`
//! escapes inside classes, and an unterminated class that swallows the rest
//! of the pattern. Matching is iterative with single-star backtracking rather
//! than Redis' recursion, so it is O(pattern * string) with no stack depth
//! limit; every non-`*` token consumes exactly one byte, which is what makes
//! remembering only the last star correct.
//!
//! One intentional difference: a pattern made only of `*` matches the empty
//! string. Redis' matcher alone says no, but KEYS and SCAN special-case `*`
//! so the empty key is listed there; doing it here gives the same result for
//! `*` without callers needing the special case.

/// Redis glob matching (stringmatchlen): `*` `?` `[abc]` `[^abc]` `[a-z]` and
/// `\` escapes; case-sensitive.
pub fn glob_match(pattern: &[u8], s: &[u8]) -> bool {
    let plen = pattern.len();
    let (mut p, mut i) = (0usize, 0usize);
    // (pattern position after the last star, string position it resumes at)
    let mut star: Option<(usize, usize)> = None;
    loop {
        if i == s.len() {
            while p < plen && pattern[p] == b'*' {
                p += 1;
            }
            return p == plen;
        }
        if p < plen {
            if pattern[p] == b'*' {
                while p < plen && pattern[p] == b'*' {
                    p += 1;
                }
                if p == plen {
                    return true;
                }
                star = Some((p, i));
                continue;
            }
            if let Some(next) = match_one(pattern, p, s[i]) {
                p = next;
                i += 1;
                continue;
            }
        }
        match star {
            Some((sp, si)) => {
                // Let the last star absorb one more byte and retry the rest.
                star = Some((sp, si + 1));
                p = sp;
                i = si + 1;
            }
            None => return false,
        }
    }
}

/// Matches the single non-star token at `pattern[p]` against `c`; returns the
/// position after the token on success.
fn match_one(pattern: &[u8], p: usize, c: u8) -> Option<usize> {
    let plen = pattern.len();
    match pattern[p] {
        b'?' => Some(p + 1),
        b'\\' if plen - p >= 2 => (pattern[p + 1] == c).then_some(p + 2),
        b'[' => {
            let mut q = p + 1;
            let negate = q < plen && pattern[q] == b'^';
            if negate {
                q += 1;
            }
            let mut matched = false;
            loop {
                if q >= plen {
                    break;
                }
                if pattern[q] == b'\\' && plen - q >= 2 {
                    q += 1;
                    if pattern[q] == c {
                        matched = true;
                    }
                } else if pattern[q] == b']' {
                    break;
                } else if plen - q >= 3 && pattern[q + 1] == b'-' {
                    let (mut lo, mut hi) = (pattern[q], pattern[q + 2]);
                    if lo > hi {
                        std::mem::swap(&mut lo, &mut hi);
                    }
                    if (lo..=hi).contains(&c) {
                        matched = true;
                    }
                    q += 2;
                } else if pattern[q] == c {
                    matched = true;
                }
                q += 1;
            }
            // Unterminated class: Redis treats the rest of the pattern as
            // the class and ends the pattern there.
            let next = if q >= plen { plen } else { q + 1 };
            (matched != negate).then_some(next)
        }
        lit => (lit == c).then_some(p + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything", true),
            ("**", "x", true),
            ("", "", true),
            ("", "a", false),
            ("a", "", false),
            ("abc", "abc", true),
            ("abc", "abd", false),
            ("abc", "ABC", false),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*", "ba", false),
            ("*a", "ba", true),
            ("*a", "ab", false),
            ("*a*", "xxaxx", true),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h*llo", "hllo", true),
            ("h*llo", "heeeello", true),
            ("h[ae]llo", "hello", true),
            ("h[ae]llo", "hallo", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[a-b]llo", "hcllo", false),
            ("h[b-a]llo", "hallo", true), // reversed range swapped
            ("h\\*llo", "h*llo", true),
            ("h\\*llo", "hello", false),
            ("\\", "\\", true), // trailing backslash is literal
            ("a\\", "a\\", true),
            ("[\\]]", "]", true), // escape inside a class
            ("[\\-]", "-", true),
            ("[a-]", "a", true), // "a-]" is a range a..']', class unterminated
            ("[abc", "b", true), // unterminated class swallows the rest
            ("[abc", "bx", false),
            ("[", "a", false),
            ("[^", "a", true),
            ("[]", "a", false),
            ("[]", "]", false),
            ("[^]", "a", true),
            ("*[0-9]", "key9", true),
            ("*[0-9]", "key", false),
            ("user:*:name", "user:42:name", true),
            ("user:*:name", "user:42:age", false),
            ("*?", "", false),
            ("*?", "a", true),
            ("?*", "a", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            (
                "a*a*a*a*a*a*a*a*b",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                false,
            ),
            ("foo*bar", "foobar", true),
            ("foo*bar", "foo_bar_bar", true),
            ("{a}*", "{a}1", true),
        ];
        for &(p, s, want) in cases {
            assert_eq!(
                glob_match(p.as_bytes(), s.as_bytes()),
                want,
                "pattern {p:?} string {s:?}"
            );
        }
    }

    #[test]
    fn binary_bytes() {
        assert!(glob_match(b"\x00*\xff", b"\x00abc\xff"));
        assert!(glob_match(b"[\x80-\xff]", b"\x90"));
        assert!(!glob_match(b"[\x80-\xff]", b"\x10"));
        assert!(glob_match(b"?", b"\x00"));
    }

    #[test]
    fn pathological_is_fast() {
        let p = "*a".repeat(500) + "b";
        let s = "a".repeat(10_000);
        assert!(!glob_match(p.as_bytes(), s.as_bytes()));
    }
}
