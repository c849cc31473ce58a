//! Set commands.
//!
//! Single-key commands make one store call. The algebra (SINTER, SUNION, SDIFF, SINTERCARD and
//! the STORE forms) works on [`Operand`]s: a set read in place when its key lives on this
//! shard, or the members another shard sent (`shard::pipeline` gathers them, holding the shards,
//! and calls [`algebra`] at the origin), so both paths compute the same answer the same way.

use super::args::{eq_ic, parse_i64, Args};
use super::hashes::scan_options;
use super::keys::parse_cursor;
use crate::cmd::state::Shard;
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;
use crate::store::{glob_match, Member, SetView};

type R = Result<(), CmdError>;

/// SADD key member [member ...]
pub fn sadd(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let m: Vec<&[u8]> = a.iter().skip(2).collect();
    let n = sh.store.sadd(a.get(1), &m, now)?;
    reply::int(out, n as i64);
    Ok(())
}

/// SREM key member [member ...]
pub fn srem(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let m: Vec<&[u8]> = a.iter().skip(2).collect();
    let n = sh.store.srem(a.get(1), &m, now)?;
    reply::int(out, n as i64);
    Ok(())
}

/// SISMEMBER key member
pub fn sismember(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let found = sh
        .store
        .set_view(a.get(1), now)?
        .is_some_and(|s| s.contains(a.get(2)));
    reply::int(out, found as i64);
    Ok(())
}

/// SMISMEMBER key member [member ...]
pub fn smismember(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let view = sh.store.set_view(a.get(1), now)?;
    reply::array(out, a.len() - 2);
    for m in a.iter().skip(2) {
        reply::int(out, view.is_some_and(|s| s.contains(m)) as i64);
    }
    Ok(())
}

/// SCARD key
pub fn scard(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let n = sh.store.set_view(a.get(1), now)?.map_or(0, |s| s.len());
    reply::int(out, n as i64);
    Ok(())
}

fn member(out: &mut Vec<u8>, m: Member<'_>) {
    let mut buf = [0u8; 20];
    reply::bulk(out, m.bytes(&mut buf));
}

/// SMEMBERS key
pub fn smembers(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    match sh.store.set_view(a.get(1), now)? {
        Some(s) => {
            reply::set(out, s.len());
            s.for_each(|m| member(out, m));
        }
        None => reply::set(out, 0),
    }
    Ok(())
}

/// SPOP key [count]
pub fn spop(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    if a.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = if a.len() == 3 {
        let c = parse_i64(a.get(2))
            .ok_or(CmdError::Plain("value is out of range, must be positive"))?;
        if c < 0 {
            return Err(CmdError::Plain("value is out of range, must be positive"));
        }
        Some(c as usize)
    } else {
        None
    };
    let popped = sh.store.spop(a.get(1), count.unwrap_or(1), now)?;
    match (count, popped) {
        (None, Some(p)) if !p.is_empty() => reply::bulk(out, &p[0]),
        (None, _) => reply::null(out),
        (Some(_), p) => {
            let p = p.unwrap_or_default();
            reply::set(out, p.len());
            for m in &p {
                reply::bulk(out, m);
            }
        }
    }
    Ok(())
}

/// SRANDMEMBER key [count]
pub fn srandmember(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    if a.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = if a.len() == 3 {
        let c = parse_i64(a.get(2)).ok_or(CmdError::NotInteger)?;
        if c == i64::MIN {
            return Err(CmdError::Plain(
                "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ));
        }
        Some(c)
    } else {
        None
    };
    let mut body = Vec::new();
    let mut n = 0usize;
    let found = sh.store.srandmember(a.get(1), count, now, &mut |m| {
        n += 1;
        member(&mut body, m);
    })?;
    match count {
        None if !found => reply::null(out),
        None => out.extend_from_slice(&body),
        Some(_) => {
            reply::array(out, n);
            out.extend_from_slice(&body);
        }
    }
    Ok(())
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]
pub fn sscan(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let cursor = parse_cursor(a.get(2))?;
    let (pattern, count) = scan_options(a)?;
    let mut body = Vec::new();
    let mut n = 0;
    let next = match sh.store.set_view(a.get(1), now)? {
        Some(view) => view.scan(cursor, count, &mut |m| {
            let mut buf = [0u8; 20];
            let b = m.bytes(&mut buf);
            if pattern.is_none_or(|p| glob_match(p, b)) {
                reply::bulk(&mut body, b);
                n += 1;
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

/// SMOVE source destination member (both keys on this shard)
pub fn smove(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let moved = sh.store.smove(a.get(1), a.get(2), a.get(3), now)?;
    reply::int(out, moved as i64);
    Ok(())
}

/// A set operand: read in place, or members sent by another shard; `Missing` is the empty set.
pub enum Operand<'a> {
    Missing,
    Here(SetView<'a>),
    Sent(hashbrown::HashSet<&'a [u8]>),
}

impl Operand<'_> {
    fn len(&self) -> usize {
        match self {
            Operand::Missing => 0,
            Operand::Here(v) => v.len(),
            Operand::Sent(s) => s.len(),
        }
    }

    fn contains(&self, m: &[u8]) -> bool {
        match self {
            Operand::Missing => false,
            Operand::Here(v) => v.contains(m),
            Operand::Sent(s) => s.contains(m),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8])) {
        match self {
            Operand::Missing => {}
            Operand::Here(v) => v.for_each(|m| {
                let mut buf = [0u8; 20];
                f(m.bytes(&mut buf))
            }),
            Operand::Sent(s) => s.iter().for_each(|m| f(m)),
        }
    }
}

/// Which set operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algebra {
    Inter,
    Union,
    Diff,
}

/// The members of `op` over `sets` (in argument order), stopping after `limit` for an
/// intersection (SINTERCARD's LIMIT; 0 is no limit).
pub fn algebra(op: Algebra, sets: &[Operand<'_>], limit: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    match op {
        Algebra::Inter => {
            if sets.iter().any(|s| s.len() == 0) {
                return out;
            }
            let mut order: Vec<usize> = (0..sets.len()).collect();
            order.sort_by_key(|&i| sets[i].len());
            let (first, rest) = order.split_first().expect("at least one key");
            sets[*first].for_each(|m| {
                if (limit == 0 || out.len() < limit) && rest.iter().all(|&j| sets[j].contains(m)) {
                    out.push(m.to_vec());
                }
            });
        }
        Algebra::Union => {
            let mut seen = hashbrown::HashSet::new();
            for s in sets {
                s.for_each(|m| {
                    if !seen.contains(m) {
                        seen.insert(m.to_vec());
                        out.push(m.to_vec());
                    }
                });
            }
        }
        Algebra::Diff => {
            let (first, rest) = sets.split_first().expect("at least one key");
            first.for_each(|m| {
                if !rest.iter().any(|s| s.contains(m)) {
                    out.push(m.to_vec());
                }
            });
        }
    }
    out
}

/// The operands of `keys`, all on this shard; WRONGTYPE if any is not a set.
fn local_operands<'s>(
    sh: &'s Shard,
    keys: &[&[u8]],
    now: u64,
) -> Result<Vec<Operand<'s>>, CmdError> {
    keys.iter()
        .map(|k| match sh.store.set_peek(k, now)? {
            Some(v) => Ok(Operand::Here(v)),
            None => Ok(Operand::Missing),
        })
        .collect()
}

/// Writes the members as SINTER / SUNION / SDIFF answer them.
pub fn reply_members(out: &mut Out, members: &[Vec<u8>]) {
    reply::set(out, members.len());
    for m in members {
        reply::bulk(out, m);
    }
}

/// SINTER / SUNION / SDIFF key [key ...] (keys on this shard)
pub fn combine(sh: &mut Shard, a: &Args, now: u64, out: &mut Out, op: Algebra) -> R {
    let keys: Vec<&[u8]> = a.iter().skip(1).collect();
    let members = algebra(op, &local_operands(sh, &keys, now)?, 0);
    reply_members(out, &members);
    Ok(())
}

/// SINTERSTORE / SUNIONSTORE / SDIFFSTORE destination key [key ...] (keys on this shard)
pub fn combine_store(sh: &mut Shard, a: &Args, now: u64, out: &mut Out, op: Algebra) -> R {
    let keys: Vec<&[u8]> = a.iter().skip(2).collect();
    let members = algebra(op, &local_operands(sh, &keys, now)?, 0);
    let n = sh.store.store_set(a.get(1), members, now)?;
    reply::int(out, n as i64);
    Ok(())
}

/// SINTERCARD's keys and LIMIT: (keys, limit).
pub fn intercard_args<'a>(a: &Args<'a>) -> Result<(Vec<&'a [u8]>, usize), CmdError> {
    let numkeys = match parse_i64(a.get(1)) {
        Some(n) if n > 0 => n as usize,
        _ => return Err(CmdError::Plain("numkeys should be greater than 0")),
    };
    if numkeys > a.len() - 2 {
        return Err(CmdError::Plain(
            "Number of keys can't be greater than number of args",
        ));
    }
    let keys: Vec<&[u8]> = (2..2 + numkeys).map(|i| a.get(i)).collect();
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < a.len() {
        if eq_ic(a.get(i), "limit") && i + 1 < a.len() {
            limit = match parse_i64(a.get(i + 1)) {
                Some(l) if l >= 0 => l as usize,
                _ => return Err(CmdError::Plain("LIMIT can't be negative")),
            };
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok((keys, limit))
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit] (keys on this shard)
pub fn intercard(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let (keys, limit) = intercard_args(a)?;
    let n = algebra(Algebra::Inter, &local_operands(sh, &keys, now)?, limit).len();
    reply::int(out, n as i64);
    Ok(())
}

/// A set write one step of a cross-shard command makes on this shard (the shards are held).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// SMOVE's removal from the source: `args[1]` key, `args[2]` member.
    Remove,
    /// SMOVE's addition to the destination.
    Add,
    /// A *STORE's result (`args[2..]`) stored at `args[1]`, by command `cmd`.
    Store(super::CmdId),
}

/// Runs `step` and the hooks a client's write gets in [`super::run`] (log, WATCH, keyspace
/// events, client tracking, the save rules' count); answers how many members it added,
/// removed or stored.
pub fn write_step(sh: &mut Shard, step: Step, a: &Args, now: u64) -> Result<u64, CmdError> {
    let key = a.get(1);
    let before = sh.store.changes();
    let n = match step {
        Step::Remove => sh.store.srem(key, &[a.get(2)], now),
        Step::Add => sh.store.sadd(key, &[a.get(2)], now),
        Step::Store(_) => {
            sh.store
                .store_set(key, a.iter().skip(2).map(<[u8]>::to_vec).collect(), now)
        }
    };
    if sh.aof.is_some() {
        super::effects::log_effects(sh);
    }
    let n = n?;
    if sh.store.changes() == before {
        return Ok(n as u64);
    }
    sh.watch.touch(key);
    let flags = super::notify::flags();
    if flags != 0 {
        use super::notify::{emit, removed, stored, SET};
        match step {
            Step::Remove => removed(sh, flags, SET, b"srem", key, now),
            Step::Add => emit(sh, flags, SET, b"sadd", key, now),
            Step::Store(id) => stored(sh, flags, id.spec().name.as_bytes(), key, now),
        }
    }
    if super::tracking::active() {
        let writer = sh.caller.client;
        super::tracking::invalidate(sh, key, writer, now);
    }
    super::count_dirty(sh.id);
    Ok(n as u64)
}

/// The members of the sets `args[1..]` (`None` for a missing key), for a cross-shard
/// SINTER/SUNION/SDIFF/SINTERCARD/*STORE gathered at the origin; WRONGTYPE if one is not a set.
pub fn fetch(sh: &mut Shard, a: &Args, now: u64) -> Result<Vec<Option<Vec<Vec<u8>>>>, CmdError> {
    let mut out = Vec::with_capacity(a.len() - 1);
    for k in a.iter().skip(1) {
        out.push(
            sh.store
                .set_view(k, now)?
                .map(|v| v.members().iter().map(Member::to_vec).collect()),
        );
    }
    Ok(out)
}

/// SMOVE's checks on one side: whether `args[1]` is a set (false: missing); WRONGTYPE if it
/// holds another type.
pub fn check(sh: &mut Shard, a: &Args, now: u64) -> Result<bool, CmdError> {
    Ok(sh.store.set_view(a.get(1), now)?.is_some())
}
