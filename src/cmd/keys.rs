//! Key-space commands: DEL, EXISTS, TYPE, expiry, RENAME, KEYS, SCAN, RANDOMKEY, and the two
//! internal operations that move a key between shards for a cross-shard RENAME.

use super::args::{eq_ic, parse_i64, Args, IntArg};
use crate::cmd::state::Shard;
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;
use crate::store::{ExpireCond, Ttl};

type R = Result<(), CmdError>;

/// DEL / UNLINK key [key ...] (on this shard's share of the keys)
pub fn del(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let n = a.iter().skip(1).filter(|k| sh.store.del(k, now)).count();
    reply::int(out, n as i64);
    Ok(())
}

/// EXISTS / TOUCH key [key ...]: a key named twice counts twice, as in Redis.
pub fn exists(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let n = a.iter().skip(1).filter(|k| sh.store.exists(k, now)).count();
    reply::int(out, n as i64);
    Ok(())
}

/// TYPE key
pub fn key_type(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let t = sh.store.key_type(a.get(1), now).unwrap_or("none");
    reply::simple(out, t.as_bytes());
    Ok(())
}

/// EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT key time [NX|XX|GT|LT]
pub fn expire(
    sh: &mut Shard,
    a: &Args,
    now: u64,
    out: &mut Out,
    unit_ms: i64,
    absolute: bool,
) -> R {
    let cmd = match (unit_ms, absolute) {
        (1000, false) => "expire",
        (1, false) => "pexpire",
        (1000, true) => "expireat",
        _ => "pexpireat",
    };
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in a.iter().skip(3) {
        if eq_ic(opt, "nx") {
            nx = true;
        } else if eq_ic(opt, "xx") {
            xx = true;
        } else if eq_ic(opt, "gt") {
            gt = true;
        } else if eq_ic(opt, "lt") {
            lt = true;
        } else {
            return Err(CmdError::UnsupportedOption(opt.to_vec()));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::ExpireOptionsNxXx);
    }
    if gt && lt {
        return Err(CmdError::ExpireOptionsGtLt);
    }
    let mut when = a.i64_at(2)?;
    if unit_ms == 1000 {
        if when > i64::MAX / 1000 || when < i64::MIN / 1000 {
            return Err(CmdError::InvalidExpire(cmd));
        }
        when *= 1000;
    }
    let base = if absolute { 0 } else { now as i64 };
    if when > i64::MAX - base {
        return Err(CmdError::InvalidExpire(cmd));
    }
    when += base;
    // XX together with GT or LT is allowed: XX is implied by the comparison.
    let cond = if nx {
        ExpireCond::Nx
    } else if gt {
        ExpireCond::Gt
    } else if lt {
        ExpireCond::Lt
    } else if xx {
        ExpireCond::Xx
    } else {
        ExpireCond::Always
    };
    if xx && (gt || lt) && !sh.store.exists(a.get(1), now) {
        reply::int(out, 0);
        return Ok(());
    }
    let at = when.max(0) as u64;
    let set = if xx && lt {
        // LT treats "no expiry" as infinite and would set it; XX forbids that.
        matches!(sh.store.ttl(a.get(1), now), Ttl::Ms(_))
            && sh.store.expire_at(a.get(1), at, cond, now)
    } else {
        sh.store.expire_at(a.get(1), at, cond, now)
    };
    reply::int(out, set as i64);
    Ok(())
}

/// TTL / PTTL (remaining) and EXPIRETIME / PEXPIRETIME (absolute).
pub fn ttl(sh: &mut Shard, a: &Args, now: u64, out: &mut Out, absolute: bool, unit_ms: u64) -> R {
    let t = if absolute {
        sh.store.expire_time(a.get(1), now)
    } else {
        sh.store.ttl(a.get(1), now)
    };
    let v = match t {
        Ttl::Missing => -2,
        Ttl::Persistent => -1,
        // Seconds are rounded to the nearest one, for TTL and EXPIRETIME alike (as Redis does).
        Ttl::Ms(ms) if unit_ms == 1000 => (ms.saturating_add(500) / 1000) as i64,
        Ttl::Ms(ms) => (ms / unit_ms) as i64,
    };
    reply::int(out, v);
    Ok(())
}

/// PERSIST key
pub fn persist(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let done = sh.store.persist(a.get(1), now);
    reply::int(out, done as i64);
    Ok(())
}

/// RENAME / RENAMENX when both keys live on this shard.
pub fn rename(sh: &mut Shard, a: &Args, now: u64, out: &mut Out, nx: bool) -> R {
    let renamed = sh.store.rename(a.get(1), a.get(2), nx, now)?;
    if nx {
        reply::int(out, renamed as i64);
    } else {
        reply::ok(out);
    }
    Ok(())
}

/// KEYS pattern (on this shard)
pub fn keys(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let mut body = Vec::new();
    let mut n = 0usize;
    sh.store.keys(a.get(1), now, &mut |k| {
        reply::bulk(&mut body, k);
        n += 1;
    });
    reply::array(out, n);
    out.extend_from_slice(&body);
    Ok(())
}

/// The shard a SCAN cursor points into and the position inside that shard's table. Cursors
/// interleave shards (`pos * shards + shard`), so cursor 0 starts at shard 0 and one cursor walks
/// every shard in turn.
pub fn scan_cursor_shard(cursor: u64, shards: usize) -> usize {
    (cursor % shards as u64) as usize
}

pub fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    // Like Redis's strtoul: an optional sign, then digits; "-1" wraps to the largest cursor.
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(CmdError::InvalidCursor);
    }
    let v: u64 = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(CmdError::InvalidCursor)?;
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type] (the part of the walk in this shard)
pub fn scan(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let cursor = parse_cursor(a.get(1))?;
    let mut pattern = None;
    let mut type_filter = None;
    let mut count = 10usize;
    let mut i = 2;
    while i < a.len() {
        let opt = a.get(i);
        if i + 1 >= a.len() {
            return Err(CmdError::Syntax);
        }
        let val = a.get(i + 1);
        if eq_ic(opt, "count") {
            let c = parse_i64(val).ok_or(CmdError::NotInteger)?;
            if c < 1 {
                return Err(CmdError::Syntax);
            }
            count = c as usize;
        } else if eq_ic(opt, "match") {
            // "*" matches everything: skip the matcher, as Redis does.
            pattern = if val == b"*" { None } else { Some(val) };
        } else if eq_ic(opt, "type") {
            type_filter = Some(val);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let shards = sh.shards as u64;
    let pos = cursor / shards;
    let mut body = Vec::new();
    let mut n = 0usize;
    let next_pos = sh
        .store
        .scan(pos, count, pattern, type_filter, now, &mut |k| {
            reply::bulk(&mut body, k);
            n += 1;
        });
    let next = if next_pos != 0 {
        next_pos * shards + sh.id as u64
    } else if sh.id + 1 < sh.shards {
        sh.id as u64 + 1
    } else {
        0
    };
    reply::array(out, 2);
    reply::bulk(out, itoa::Buffer::new().format(next).as_bytes());
    reply::array(out, n);
    out.extend_from_slice(&body);
    Ok(())
}

/// RANDOMKEY (on this shard)
pub fn randomkey(sh: &mut Shard, now: u64, out: &mut Out) -> R {
    let seed = sh.next_random();
    match sh.store.random_key(seed, now) {
        Some(k) => reply::bulk(out, k),
        None => reply::null(out),
    }
    Ok(())
}

/// `ShardOp::Take` (`args[1]` is the key): removes the key and answers its value and absolute
/// expiry (unix ms), or `None` when it does not exist.
pub fn shard_take(sh: &mut Shard, a: &Args, now: u64) -> Option<(Vec<u8>, Option<u64>)> {
    sh.store
        .take(a.get(1), now)
        .map(|(v, at)| (crate::persist::rdb::dump(&v), at))
}

/// OBJECT ENCODING | REFCOUNT | IDLETIME | FREQ key, OBJECT HELP
pub fn object(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    let sub = a.get(1);
    if eq_ic(sub, "help") && a.len() == 2 {
        const HELP: &[&str] = &[
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Prints this help.",
        ];
        reply::array(out, HELP.len());
        for l in HELP {
            reply::simple(out, l.as_bytes());
        }
        return Ok(());
    }
    let known = ["encoding", "refcount", "idletime", "freq"];
    if a.len() != 3 && known.iter().any(|k| eq_ic(sub, k)) {
        let name = String::from_utf8_lossy(sub).to_ascii_lowercase();
        return Err(CmdError::WrongArity(format!("object|{name}")));
    }
    if a.len() != 3 || !known.iter().any(|k| eq_ic(sub, k)) {
        return Err(CmdError::UnknownSubcommand {
            cmd: "OBJECT",
            sub: sub.to_vec(),
        });
    }
    let key = a.get(2);
    let Some((idle, freq)) = sh.store.access_info(key, now) else {
        reply::null(out);
        return Ok(());
    };
    if eq_ic(sub, "encoding") {
        match sh.store.encoding(key, now) {
            Some(e) => reply::bulk(out, e.as_bytes()),
            None => reply::null(out),
        }
    } else if eq_ic(sub, "refcount") {
        // Redis shares the integers 0..9999 (refcount INT_MAX) when no LRU/LFU policy needs
        // per-key access data.
        let shared = match sh.store.get(key, now) {
            Ok(Some(v)) => {
                parse_i64(v).is_some_and(|n| (0..10000).contains(&n))
                    && sh.store.encoding(key, now) == Some("int")
            }
            _ => false,
        };
        reply::int(out, if shared { i32::MAX as i64 } else { 1 });
    } else if eq_ic(sub, "idletime") {
        if sh.store.lfu_policy() {
            return Err(CmdError::Plain("An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
        }
        reply::int(out, idle as i64);
    } else {
        match freq {
            Some(f) => reply::int(out, f as i64),
            None => return Err(CmdError::Plain("An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")),
        }
    }
    Ok(())
}
