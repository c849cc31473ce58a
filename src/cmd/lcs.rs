//! LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]: the longest common subsequence
//! of two strings, by the classic dynamic-programming table, walked back from its end to give
//! the string or the matching ranges exactly as Redis 7.0 orders them (last match first).
//!
//! The table takes (len1 + 1) x (len2 + 1) cells of 4 bytes; a pair of strings whose table
//! would pass [`MAX_TABLE_BYTES`] is refused with Redis's "insufficient memory" error rather
//! than allowed to take the shard's memory (Redis tries the allocation). Keys on two shards
//! are read by a barrier (`shard::pipeline`) and computed at the origin with the same code.

use super::args::{eq_ic, parse_i64, Args};
use crate::cmd::state::Shard;
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;

type R = Result<(), CmdError>;

/// LCS's own text for a key that is not a string.
pub const NOT_STRINGS: CmdError = CmdError::Plain("The specified keys must contain string values");

/// The largest DP table LCS builds.
pub const MAX_TABLE_BYTES: u64 = 256 << 20;

struct Opts {
    len: bool,
    idx: bool,
    min: u64,
    with_len: bool,
}

fn options(a: &Args) -> Result<Opts, CmdError> {
    let mut o = Opts {
        len: false,
        idx: false,
        min: 0,
        with_len: false,
    };
    let mut j = 3;
    while j < a.len() {
        let opt = a.get(j);
        if eq_ic(opt, "idx") {
            o.idx = true;
        } else if eq_ic(opt, "len") {
            o.len = true;
        } else if eq_ic(opt, "withmatchlen") {
            o.with_len = true;
        } else if eq_ic(opt, "minmatchlen") && j + 1 < a.len() {
            o.min = parse_i64(a.get(j + 1)).ok_or(CmdError::NotInteger)?.max(0) as u64;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if o.idx && o.len {
        return Err(CmdError::Plain(
            "If you want both the length and indexes, please just use IDX.",
        ));
    }
    Ok(o)
}

/// LCS with both keys on this shard.
pub fn lcs(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let not_string = |e| match e {
        crate::store::StoreError::WrongType => NOT_STRINGS,
        e => CmdError::from(e),
    };
    let x = sh
        .store
        .get(a.get(1), now)
        .map_err(not_string)?
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let y = sh
        .store
        .get(a.get(2), now)
        .map_err(not_string)?
        .unwrap_or_default();
    reply_for(&x, y, a, out)
}

/// The reply to LCS `a` over the strings `x` and `y` (missing keys are empty strings).
pub fn reply_for(x: &[u8], y: &[u8], a: &Args, out: &mut Out) -> R {
    let o = options(a)?;
    let (n, m) = (x.len(), y.len());
    let cells = (n as u64 + 1) * (m as u64 + 1);
    if cells.saturating_mul(4) > MAX_TABLE_BYTES {
        return Err(CmdError::Plain(
            "Insufficient memory, transient memory for LCS exceeds available memory",
        ));
    }
    let w = m + 1;
    let mut dp = vec![0u32; cells as usize];
    for i in 1..=n {
        for j in 1..=m {
            dp[i * w + j] = if x[i - 1] == y[j - 1] {
                dp[(i - 1) * w + j - 1] + 1
            } else {
                dp[(i - 1) * w + j].max(dp[i * w + j - 1])
            };
        }
    }
    let total = dp[n * w + m];
    if o.len {
        reply::int(out, total as i64);
        return Ok(());
    }
    // Walk back from the end, collecting the string and the ranges (Redis's order).
    let mut result = vec![0u8; total as usize];
    let mut k = total as usize;
    let (mut i, mut j) = (n, m);
    let none = n;
    let (mut a0, mut a1, mut b0, mut b1) = (none, 0, 0, 0);
    let mut ranges: Vec<[usize; 5]> = Vec::new();
    while i > 0 && j > 0 {
        let mut emit = false;
        if x[i - 1] == y[j - 1] {
            result[k - 1] = x[i - 1];
            if a0 == none {
                (a0, a1, b0, b1) = (i - 1, i - 1, j - 1, j - 1);
            } else if a0 == i && b0 == j {
                a0 -= 1;
                b0 -= 1;
            } else {
                emit = true;
            }
            if a0 == 0 || b0 == 0 {
                emit = true;
            }
            k -= 1;
            i -= 1;
            j -= 1;
        } else {
            if dp[(i - 1) * w + j] > dp[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a0 != none {
                emit = true;
            }
        }
        if emit {
            let len = a1 - a0 + 1;
            if o.min == 0 || len as u64 >= o.min {
                ranges.push([a0, a1, b0, b1, len]);
            }
            a0 = none;
        }
    }
    if !o.idx {
        reply::bulk(out, &result);
        return Ok(());
    }
    reply::map(out, 2);
    reply::bulk(out, b"matches");
    reply::array(out, ranges.len());
    for r in &ranges {
        reply::array(out, 2 + o.with_len as usize);
        reply::array(out, 2);
        reply::int(out, r[0] as i64);
        reply::int(out, r[1] as i64);
        reply::array(out, 2);
        reply::int(out, r[2] as i64);
        reply::int(out, r[3] as i64);
        if o.with_len {
            reply::int(out, r[4] as i64);
        }
    }
    reply::bulk(out, b"len");
    reply::int(out, total as i64);
    Ok(())
}
