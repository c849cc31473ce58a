//! List commands.
//!
//! Each single-key command is one store call (`store::list`). LMOVE and RPOPLPUSH between keys
//! of one shard pop and push here; between shards `shard::pipeline` runs them in steps holding
//! both shards (check both, pop, push), so no client sees the element in neither list.
//!
//! The blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) run here only as their
//! one-shot form: inside MULTI or a script, where Redis never blocks, and when a shard serves a
//! waiting client (`cmd::blocking`). The wait itself is the connection's (`shard::pipeline`).

use super::args::{eq_ic, parse_i64, Args};
use crate::cmd::state::Shard;
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;

type R = Result<(), CmdError>;

fn int_arg(b: &[u8]) -> Result<i64, CmdError> {
    parse_i64(b).ok_or(CmdError::NotInteger)
}

/// LPUSH / RPUSH / LPUSHX / RPUSHX key element [element ...]
pub fn push(sh: &mut Shard, a: &Args, left: bool, create: bool, now: u64, out: &mut Out) -> R {
    let elems: Vec<&[u8]> = a.iter().skip(2).collect();
    let n = sh.store.push(a.get(1), &elems, left, create, now)?;
    reply::int(out, n as i64);
    Ok(())
}

/// LPOP / RPOP key [count]
pub fn pop(sh: &mut Shard, a: &Args, left: bool, now: u64, out: &mut Out) -> R {
    if a.len() > 3 {
        return Err(CmdError::WrongArity(
            if left { "lpop" } else { "rpop" }.into(),
        ));
    }
    let count = if a.len() == 3 {
        match parse_i64(a.get(2)) {
            Some(c) if c >= 0 => Some(c as usize),
            _ => return Err(CmdError::Plain("value is out of range, must be positive")),
        }
    } else {
        None
    };
    let popped = sh.store.pop(a.get(1), left, count.unwrap_or(1), now)?;
    match (count, popped) {
        (None, Some(p)) if !p.is_empty() => reply::bulk(out, &p[0]),
        (None, _) => reply::null(out),
        (Some(_), None) => reply::null_array(out),
        (Some(_), Some(p)) => {
            reply::array(out, p.len());
            for e in &p {
                reply::bulk(out, e);
            }
        }
    }
    Ok(())
}

/// LLEN key
pub fn llen(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let n = sh.store.list_view(a.get(1), now)?.map_or(0, |l| l.len());
    reply::int(out, n as i64);
    Ok(())
}

/// Redis's range rule: negative indexes count from the end, the range is clamped; `None`
/// when empty.
fn clamp(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let s = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let e = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    (s <= e && s < len && e >= 0).then_some((s as usize, e as usize))
}

/// LRANGE key start stop
pub fn lrange(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let (start, stop) = (int_arg(a.get(2))?, int_arg(a.get(3))?);
    match sh.store.list_view(a.get(1), now)? {
        Some(l) => match clamp(start, stop, l.len()) {
            Some((s, e)) => {
                reply::array(out, e - s + 1);
                for v in l.iter_from(s).take(e - s + 1) {
                    reply::bulk(out, v);
                }
            }
            None => reply::array(out, 0),
        },
        None => reply::array(out, 0),
    }
    Ok(())
}

/// LINDEX key index
pub fn lindex(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let i = int_arg(a.get(2))?;
    let v = sh.store.list_view(a.get(1), now)?.and_then(|l| {
        let i = if i < 0 { l.len() as i64 + i } else { i };
        usize::try_from(i).ok().and_then(|i| l.get(i))
    });
    match v {
        Some(v) => reply::bulk(out, v),
        None => reply::null(out),
    }
    Ok(())
}

/// LSET key index element
pub fn lset(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let i = int_arg(a.get(2))?;
    sh.store.lset(a.get(1), i, a.get(3), now)?;
    reply::ok(out);
    Ok(())
}

/// LINSERT key BEFORE|AFTER pivot element
pub fn linsert(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let before = if eq_ic(a.get(2), "before") {
        true
    } else if eq_ic(a.get(2), "after") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let n = sh
        .store
        .linsert(a.get(1), before, a.get(3), a.get(4), now)?;
    reply::int(out, n);
    Ok(())
}

/// LREM key count element
pub fn lrem(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let count = int_arg(a.get(2))?;
    let n = sh.store.lrem(a.get(1), count, a.get(3), now)?;
    reply::int(out, n as i64);
    Ok(())
}

/// LTRIM key start stop
pub fn ltrim(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let (start, stop) = (int_arg(a.get(2))?, int_arg(a.get(3))?);
    sh.store.ltrim(a.get(1), start, stop, now)?;
    reply::ok(out);
    Ok(())
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
pub fn lpos(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let (mut rank, mut count, mut maxlen) = (1i64, None::<usize>, 0usize);
    let mut i = 3;
    while i < a.len() {
        if i + 1 >= a.len() {
            return Err(CmdError::Syntax);
        }
        let v = a.get(i + 1);
        if eq_ic(a.get(i), "rank") {
            rank = int_arg(v)?;
            if rank == 0 {
                return Err(CmdError::Plain(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if eq_ic(a.get(i), "count") {
            let c = int_arg(v)?;
            if c < 0 {
                return Err(CmdError::Plain("COUNT can't be negative"));
            }
            count = Some(c as usize);
        } else if eq_ic(a.get(i), "maxlen") {
            let m = int_arg(v)?;
            if m < 0 {
                return Err(CmdError::Plain("MAXLEN can't be negative"));
            }
            maxlen = m as usize;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let want = a.get(2);
    let mut found = Vec::new();
    if let Some(l) = sh.store.list_view(a.get(1), now)? {
        let limit = match count {
            Some(0) => usize::MAX,
            Some(c) => c,
            None => 1,
        };
        let scan = if maxlen == 0 {
            l.len()
        } else {
            maxlen.min(l.len())
        };
        let mut skip = rank.unsigned_abs() - 1;
        let mut visit = |idx: usize, e: &[u8]| {
            if e == want {
                if skip > 0 {
                    skip -= 1;
                } else {
                    found.push(idx);
                }
            }
            found.len() < limit
        };
        if rank > 0 {
            for (k, e) in l.iter().take(scan).enumerate() {
                if !visit(k, e) {
                    break;
                }
            }
        } else {
            let n = l.len();
            for (k, e) in l.iter().rev().take(scan).enumerate() {
                if !visit(n - 1 - k, e) {
                    break;
                }
            }
        }
    }
    match count {
        None => match found.first() {
            Some(&i) => reply::int(out, i as i64),
            None => reply::null(out),
        },
        Some(_) => {
            reply::array(out, found.len());
            for i in found {
                reply::int(out, i as i64);
            }
        }
    }
    Ok(())
}

/// A LEFT|RIGHT argument: true for LEFT.
pub fn side(b: &[u8]) -> Result<bool, CmdError> {
    if eq_ic(b, "left") {
        Ok(true)
    } else if eq_ic(b, "right") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// The directions of LMOVE / BLMOVE (`at`: index of the first), or RPOPLPUSH's.
pub fn move_sides(a: &Args, at: Option<usize>) -> Result<(bool, bool), CmdError> {
    match at {
        Some(i) => Ok((side(a.get(i))?, side(a.get(i + 1))?)),
        None => Ok((false, true)),
    }
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT, RPOPLPUSH source destination (and the
/// one-shot BLMOVE / BRPOPLPUSH): both keys on this shard.
pub fn lmove(sh: &mut Shard, a: &Args, sides: (bool, bool), now: u64, out: &mut Out) -> R {
    let (src, dst) = (a.get(1), a.get(2));
    if !sh.store.is_list(src, now)? {
        reply::null(out);
        return Ok(());
    }
    sh.store.is_list(dst, now)?;
    let Some(mut e) = sh.store.pop(src, sides.0, 1, now)? else {
        reply::null(out);
        return Ok(());
    };
    let Some(e) = e.pop() else {
        reply::null(out);
        return Ok(());
    };
    sh.store.push(dst, &[&e], sides.1, true, now)?;
    reply::bulk(out, &e);
    Ok(())
}

/// What LMPOP / BLMPOP (`first`: index of numkeys) asks: keys, LEFT, count.
pub fn mpop_args<'a>(a: &Args<'a>, first: usize) -> Result<(Vec<&'a [u8]>, bool, usize), CmdError> {
    mpop_args_with(a, first, side)
}

/// The shape LMPOP and ZMPOP share: numkeys at `first`, the keys, a side that `which` reads
/// (LEFT|RIGHT, MIN|MAX, as `which` reads it), then `[COUNT count]`.
pub fn mpop_args_with<'a>(
    a: &Args<'a>,
    first: usize,
    which: fn(&[u8]) -> Result<bool, CmdError>,
) -> Result<(Vec<&'a [u8]>, bool, usize), CmdError> {
    let numkeys = match parse_i64(a.get(first)) {
        Some(n) if n > 0 => n as usize,
        _ => return Err(CmdError::Plain("numkeys should be greater than 0")),
    };
    let dir_at = first + 1 + numkeys;
    if numkeys > a.len().saturating_sub(first + 2) {
        return Err(CmdError::Syntax);
    }
    let keys = (first + 1..dir_at).map(|i| a.get(i)).collect();
    let left = which(a.get(dir_at))?;
    let mut count = None;
    let mut i = dir_at + 1;
    while i < a.len() {
        if eq_ic(a.get(i), "count") && i + 1 < a.len() && count.is_none() {
            count = Some(match parse_i64(a.get(i + 1)) {
                Some(c) if c > 0 => c as usize,
                _ => return Err(CmdError::Plain("count should be greater than 0")),
            });
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok((keys, left, count.unwrap_or(1)))
}

/// Writes `[key, [elements]]` (LMPOP's reply).
pub fn mpop_reply(out: &mut Out, key: &[u8], elems: &[Vec<u8>]) {
    reply::array(out, 2);
    reply::bulk(out, key);
    reply::array(out, elems.len());
    for e in elems {
        reply::bulk(out, e);
    }
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count] (and one-shot BLMPOP, `first` 2):
/// keys on this shard.
pub fn lmpop(sh: &mut Shard, a: &Args, first: usize, now: u64, out: &mut Out) -> R {
    let (keys, left, count) = mpop_args(a, first)?;
    for k in keys {
        if let Some(p) = sh.store.pop(k, left, count, now)? {
            if !p.is_empty() {
                mpop_reply(out, k, &p);
                return Ok(());
            }
        }
    }
    reply::null_array(out);
    Ok(())
}

/// One-shot BLPOP / BRPOP key [key ...] timeout: keys on this shard.
pub fn bpop(sh: &mut Shard, a: &Args, left: bool, now: u64, out: &mut Out) -> R {
    super::blocking::timeout_ms(a.get(a.len() - 1), now)?;
    for i in 1..a.len() - 1 {
        let k = a.get(i);
        if let Some(mut p) = sh.store.pop(k, left, 1, now)? {
            if let Some(e) = p.pop() {
                reply::array(out, 2);
                reply::bulk(out, k);
                reply::bulk(out, &e);
                return Ok(());
            }
        }
    }
    reply::null_array(out);
    Ok(())
}
