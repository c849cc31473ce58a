//! DUMP, RESTORE and COPY: a value leaves or enters the store whole, as an owned
//! [`Value`](crate::store::Value), in Redis's serialized format (`persist::rdb::dump`: the RDB
//! type and payload, the RDB version, a CRC-64), so migration tools that copy keys with
//! DUMP/RESTORE work between Redis and corekv in both directions. A COPY between keys on two
//! shards is a barrier (`shard::pipeline`): the source's value crosses as the same payload.

use super::args::{eq_ic, parse_i64, Args};
use crate::cmd::state::Shard;
use crate::error::CmdError;
use crate::persist::rdb;
use crate::resp::reply;
use crate::resp::reply::Out;
use crate::store::Ttl;

type R = Result<(), CmdError>;

/// DUMP key
pub fn dump(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    match sh.store.value(a.get(1), now) {
        Some(v) => reply::bulk(out, &rdb::dump(&v)),
        None => reply::null(out),
    }
    Ok(())
}

/// RESTORE's options: (replace, absolute ttl).
fn restore_options(a: &Args) -> Result<(bool, bool), CmdError> {
    let (mut replace, mut absttl, mut idle, mut freq) = (false, false, false, false);
    let mut i = 4;
    while i < a.len() {
        let o = a.get(i);
        if eq_ic(o, "replace") {
            replace = true;
        } else if eq_ic(o, "absttl") {
            absttl = true;
        } else if eq_ic(o, "idletime") && i + 1 < a.len() && !freq {
            idle = true;
            i += 1;
            match parse_i64(a.get(i)) {
                Some(v) if v >= 0 => {}
                Some(_) => return Err(CmdError::Plain("Invalid IDLETIME value, must be >= 0")),
                None => return Err(CmdError::NotInteger),
            }
        } else if eq_ic(o, "freq") && i + 1 < a.len() && !idle {
            freq = true;
            i += 1;
            match parse_i64(a.get(i)) {
                Some(v) if (0..=255).contains(&v) => {}
                Some(_) => {
                    return Err(CmdError::Plain(
                        "Invalid FREQ value, must be >= 0 and <= 255",
                    ))
                }
                None => return Err(CmdError::NotInteger),
            }
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok((replace, absttl))
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
pub fn restore(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let (replace, absttl) = restore_options(a)?;
    let ttl = parse_i64(a.get(2)).ok_or(CmdError::NotInteger)?;
    if ttl < 0 {
        return Err(CmdError::Plain("Invalid TTL value, must be >= 0"));
    }
    let key = a.get(1);
    if !replace && sh.store.exists(key, now) {
        return Err(CmdError::BusyKey);
    }
    let value = rdb::undump(a.get(3)).ok_or(CmdError::Plain(
        "DUMP payload version or checksum are wrong",
    ))?;
    let expire = match ttl {
        0 => None,
        t if absttl => Some(t as u64),
        t => Some(now.saturating_add(t as u64)),
    };
    // A time already past leaves the key absent (and removes what REPLACE would replace).
    sh.store.put(key, &value, expire, now)?;
    reply::ok(out);
    Ok(())
}

/// COPY's options: whether REPLACE was given (DB may only name database 0).
pub fn copy_options(a: &Args) -> Result<bool, CmdError> {
    let mut replace = false;
    let mut i = 3;
    while i < a.len() {
        if eq_ic(a.get(i), "replace") {
            replace = true;
        } else if eq_ic(a.get(i), "db") && i + 1 < a.len() {
            i += 1;
            match parse_i64(a.get(i)) {
                Some(0) => {}
                Some(_) => return Err(CmdError::DbIndexOutOfRange),
                None => return Err(CmdError::NotInteger),
            }
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if a.get(1) == a.get(2) {
        return Err(CmdError::Plain(
            "source and destination objects are the same",
        ));
    }
    Ok(replace)
}

/// COPY source destination [DB destination-db] [REPLACE] (both keys on this shard)
pub fn copy(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let replace = copy_options(a)?;
    let (src, dst) = (a.get(1), a.get(2));
    let Some(value) = sh.store.value(src, now) else {
        reply::int(out, 0);
        return Ok(());
    };
    if !replace && sh.store.exists(dst, now) {
        reply::int(out, 0);
        return Ok(());
    }
    let expire = match sh.store.expire_time(src, now) {
        Ttl::Ms(at) => Some(at),
        _ => None,
    };
    sh.store.put(dst, &value, expire, now)?;
    reply::int(out, 1);
    Ok(())
}
