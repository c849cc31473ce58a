//! Hash commands: HSET family, HGET family, HDEL, the increments, HRANDFIELD and HSCAN.
//!
//! Each handler parses its arguments as Redis does (arity, then syntax, then numbers), makes
//! one store call and writes one reply; RESP3 gets a map where Redis sends one (HGETALL) and
//! pairs as two-element arrays (HRANDFIELD WITHVALUES).

use super::args::{eq_ic, parse_f64, parse_i64, Args, IntArg};
use super::keys::parse_cursor;
use crate::cmd::state::Shard;
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;
use crate::store::glob_match;

type R = Result<(), CmdError>;

/// The (field, value) pairs from argument 2 on; an odd count is a wrong-arity error.
fn pairs<'a>(a: &Args<'a>, name: &str) -> Result<Vec<(&'a [u8], &'a [u8])>, CmdError> {
    if a.len() % 2 != 0 {
        return Err(CmdError::WrongArity(name.into()));
    }
    Ok((2..a.len())
        .step_by(2)
        .map(|i| (a.get(i), a.get(i + 1)))
        .collect())
}

/// HSET key field value [field value ...]
pub fn hset(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let p = pairs(a, "hset")?;
    let n = sh.store.hset(a.get(1), &p, now)?;
    reply::int(out, n as i64);
    Ok(())
}

/// HMSET key field value [field value ...]
pub fn hmset(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let p = pairs(a, "hmset")?;
    sh.store.hset(a.get(1), &p, now)?;
    reply::ok(out);
    Ok(())
}

/// HSETNX key field value
pub fn hsetnx(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let set = sh.store.hsetnx(a.get(1), a.get(2), a.get(3), now)?;
    reply::int(out, set as i64);
    Ok(())
}

/// HGET key field
pub fn hget(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    match sh
        .store
        .hash_view(a.get(1), now)?
        .and_then(|h| h.get(a.get(2)))
    {
        Some(v) => reply::bulk(out, v),
        None => reply::null(out),
    }
    Ok(())
}

/// HMGET key field [field ...]
pub fn hmget(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let view = sh.store.hash_view(a.get(1), now)?;
    reply::array(out, a.len() - 2);
    for f in a.iter().skip(2) {
        match view.and_then(|h| h.get(f)) {
            Some(v) => reply::bulk(out, v),
            None => reply::null(out),
        }
    }
    Ok(())
}

/// HDEL key field [field ...]
pub fn hdel(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let fields: Vec<&[u8]> = a.iter().skip(2).collect();
    let n = sh.store.hdel(a.get(1), &fields, now)?;
    reply::int(out, n as i64);
    Ok(())
}

/// HEXISTS key field
pub fn hexists(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let found = sh
        .store
        .hash_view(a.get(1), now)?
        .and_then(|h| h.get(a.get(2)));
    reply::int(out, found.is_some() as i64);
    Ok(())
}

/// HLEN key
pub fn hlen(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let n = sh.store.hash_view(a.get(1), now)?.map_or(0, |h| h.len());
    reply::int(out, n as i64);
    Ok(())
}

/// HSTRLEN key field
pub fn hstrlen(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let n = sh
        .store
        .hash_view(a.get(1), now)?
        .and_then(|h| h.get(a.get(2)))
        .map_or(0, <[u8]>::len);
    reply::int(out, n as i64);
    Ok(())
}

/// What HKEYS, HVALS and HGETALL return.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Keys,
    Values,
    Both,
}

/// HKEYS / HVALS / HGETALL key
pub fn hgetall(sh: &mut Shard, a: &Args, now: u64, out: &mut Out, part: Part) -> R {
    let Some(view) = sh.store.hash_view(a.get(1), now)? else {
        match part {
            Part::Both => reply::map(out, 0),
            _ => reply::array(out, 0),
        }
        return Ok(());
    };
    match part {
        Part::Both => reply::map(out, view.len()),
        _ => reply::array(out, view.len()),
    }
    view.for_each(|f, v| match part {
        Part::Keys => reply::bulk(out, f),
        Part::Values => reply::bulk(out, v),
        Part::Both => {
            reply::bulk(out, f);
            reply::bulk(out, v);
        }
    });
    Ok(())
}

/// HINCRBY key field increment
pub fn hincrby(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let delta = a.i64_at(3)?;
    let v = sh.store.hincrby(a.get(1), a.get(2), delta, now)?;
    reply::int(out, v);
    Ok(())
}

/// HINCRBYFLOAT key field increment
pub fn hincrbyfloat(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let delta = parse_f64(a.get(3)).ok_or(CmdError::NotFloat)?;
    if !delta.is_finite() {
        return Err(CmdError::Plain("value is NaN or Infinity"));
    }
    let v = sh.store.hincrbyfloat(a.get(1), a.get(2), delta, now)?;
    reply::bulk(out, &v);
    Ok(())
}

/// HRANDFIELD key [count [WITHVALUES]]
pub fn hrandfield(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    if a.len() > 4 {
        return Err(CmdError::Syntax);
    }
    let with_values = a.len() == 4;
    if with_values && !eq_ic(a.get(3), "withvalues") {
        return Err(CmdError::Syntax);
    }
    let count = if a.len() >= 3 {
        let c = parse_i64(a.get(2)).ok_or(CmdError::NotInteger)?;
        if c == i64::MIN {
            return Err(CmdError::Plain(
                "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ));
        }
        if with_values && c < -(i64::MAX / 2) {
            return Err(CmdError::Plain("value is out of range"));
        }
        Some(c)
    } else {
        None
    };
    let mut body = Vec::new();
    let mut n = 0usize;
    let resp3 = out.resp3();
    let found = sh.store.hrandfield(a.get(1), count, now, &mut |f, v| {
        n += 1;
        if with_values {
            if resp3 {
                reply::array(&mut body, 2);
            }
            reply::bulk(&mut body, f);
            reply::bulk(&mut body, v);
        } else {
            reply::bulk(&mut body, f);
        }
    })?;
    match count {
        None if !found => reply::null(out),
        None => out.extend_from_slice(&body),
        Some(_) => {
            reply::array(out, if with_values && !resp3 { n * 2 } else { n });
            out.extend_from_slice(&body);
        }
    }
    Ok(())
}

/// The options of HSCAN / SSCAN: (MATCH pattern, COUNT).
pub fn scan_options<'a>(a: &Args<'a>) -> Result<(Option<&'a [u8]>, usize), CmdError> {
    let mut pattern = None;
    let mut count = 10usize;
    let mut i = 3;
    while i < a.len() {
        if i + 1 >= a.len() {
            return Err(CmdError::Syntax);
        }
        let (opt, val) = (a.get(i), a.get(i + 1));
        if eq_ic(opt, "count") {
            let c = parse_i64(val).ok_or(CmdError::NotInteger)?;
            if c < 1 {
                return Err(CmdError::Syntax);
            }
            count = c as usize;
        } else if eq_ic(opt, "match") {
            pattern = (val != b"*").then_some(val);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok((pattern, count))
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]
pub fn hscan(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let cursor = parse_cursor(a.get(2))?;
    let (pattern, count) = scan_options(a)?;
    let mut body = Vec::new();
    let mut n = 0;
    let next = match sh.store.hash_view(a.get(1), now)? {
        Some(view) => view.scan(cursor, count, &mut |f, v| {
            if pattern.is_none_or(|p| glob_match(p, f)) {
                reply::bulk(&mut body, f);
                reply::bulk(&mut body, v);
                n += 2;
            }
        }),
        None => 0,
    };
    reply::array(out, 2);
    reply::bulk(out, itoa::Buffer::new().format(next).as_bytes());
    reply::array(out, n);
    out.extend_from_slice(&body);
    Ok(())
}
