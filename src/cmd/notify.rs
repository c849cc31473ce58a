//! Keyspace notifications (`notify-keyspace-events`): the shard that owns a key publishes what
//! happened to it, as Redis does, on `__keyspace@0__:<key>` (the event as message) and
//! `__keyevent@0__:<event>` (the key as message), through the same fan-out as PUBLISH
//! (`cmd::pubsub`: delivered on this core at once, forwarded to the others in order).
//!
//! The hook sits in [`crate::cmd::run`], around every command that ran on its shard, so a part
//! of a multi-key command, a command inside EXEC and a script's `redis.call` all notify where
//! the key lives: [`before`] notes what the events depend on (which keys exist, for DEL and
//! `new`; whether GETEX's key had a TTL), [`after_write`] maps the command, its reply and the
//! keys' state to Redis's events. Expiry (lazy and active) and eviction are journaled by the
//! store while notifications are on and published as `expired` and `evicted`. With
//! notifications off (the default) the hook costs one relaxed atomic load per command.
//!
//! New data types add their events in [`after_write`] with their class letter.

use super::args::eq_ic;
use super::state::Shard;
use super::{Args, CmdId};
use crate::cmd::pubsub::{Kind, Outbound};
use crate::config::RUNTIME;
use std::sync::atomic::Ordering;

pub const KEYSPACE: u64 = 1 << 0;
pub const KEYEVENT: u64 = 1 << 1;
pub const GENERIC: u64 = 1 << 2;
pub const STRING: u64 = 1 << 3;
pub const LIST: u64 = 1 << 4;
pub const SET: u64 = 1 << 5;
pub const HASH: u64 = 1 << 6;
pub const ZSET: u64 = 1 << 7;
pub const EXPIRED: u64 = 1 << 8;
pub const EVICTED: u64 = 1 << 9;
pub const STREAM: u64 = 1 << 10;
pub const KEY_MISS: u64 = 1 << 11;
pub const MODULE: u64 = 1 << 12;
pub const NEW: u64 = 1 << 13;
/// `A`: every class but key-miss and new.
pub const ALL: u64 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The class letters, in the order CONFIG GET prints them (after `A` or the classes).
const CLASSES: &[(u8, u64)] = &[
    (b'g', GENERIC),
    (b'$', STRING),
    (b'l', LIST),
    (b's', SET),
    (b'h', HASH),
    (b'z', ZSET),
    (b'x', EXPIRED),
    (b'e', EVICTED),
    (b't', STREAM),
    (b'd', MODULE),
];

/// Parses Redis's flag letters; `None` for an unknown letter.
pub fn parse_flags(s: &str) -> Option<u64> {
    let mut f = 0;
    for c in s.bytes() {
        f |= match c {
            b'A' => ALL,
            b'K' => KEYSPACE,
            b'E' => KEYEVENT,
            b'm' => KEY_MISS,
            b'n' => NEW,
            c => CLASSES.iter().find(|(l, _)| *l == c)?.1,
        };
    }
    Some(f)
}

/// The flags as CONFIG GET shows them (Redis's canonical order).
pub fn format_flags(f: u64) -> String {
    let mut s = String::new();
    if f & ALL == ALL {
        s.push('A');
    } else {
        for &(l, bit) in CLASSES {
            if f & bit != 0 {
                s.push(l as char);
            }
        }
    }
    for (l, bit) in [
        ('n', NEW),
        ('K', KEYSPACE),
        ('E', KEYEVENT),
        ('m', KEY_MISS),
    ] {
        if f & bit != 0 {
            s.push(l);
        }
    }
    s
}

/// The flags now; notifications are on when a channel kind and a class are set.
#[inline]
pub fn flags() -> u64 {
    let f = RUNTIME.notify_flags.load(Ordering::Relaxed);
    if f & (KEYSPACE | KEYEVENT) != 0 && f & !(KEYSPACE | KEYEVENT) != 0 {
        f
    } else {
        0
    }
}

/// Turns the store's expiry and eviction journals on or off to follow the flags (the
/// append-only log keeps the eviction journal on for itself).
pub fn sync_journals(sh: &mut Shard) {
    let f = flags();
    let tracking = super::tracking::active();
    sh.store.record_expiries(f & EXPIRED != 0 || tracking);
    let evictions = f & EVICTED != 0 || sh.aof.is_some() || tracking;
    sh.store.record_evictions(evictions);
}

/// Publishes one event of class `class` about `key`.
pub fn emit(sh: &mut Shard, flags: u64, class: u64, event: &[u8], key: &[u8], now_ms: u64) {
    if flags & class == 0 {
        return;
    }
    let mut channel = Vec::with_capacity(16 + key.len().max(event.len()));
    if flags & KEYSPACE != 0 {
        channel.extend_from_slice(b"__keyspace@0__:");
        channel.extend_from_slice(key);
        publish(sh, &channel, event, now_ms);
    }
    if flags & KEYEVENT != 0 {
        channel.clear();
        channel.extend_from_slice(b"__keyevent@0__:");
        channel.extend_from_slice(event);
        publish(sh, &channel, key, now_ms);
    }
}

fn publish(sh: &mut Shard, channel: &[u8], message: &[u8], now_ms: u64) {
    sh.pubsub.publish(Kind::Channel, channel, message, now_ms);
    if sh.shards > 1 {
        sh.pubsub
            .forward(Outbound::Message(Kind::Channel), channel, message);
    }
}

/// What the events of a write depend on, noted before it runs: per key (in key order), whether
/// it existed (for DEL / UNLINK and `new`), or for GETEX whether its key had a TTL.
pub fn before(sh: &mut Shard, flags: u64, id: CmdId, args: &Args, now_ms: u64) -> Vec<bool> {
    let mut v = Vec::new();
    match id {
        CmdId::Getex => {
            let ttl = sh.store.expire_time(args.get(1), now_ms);
            v.push(matches!(ttl, crate::store::Ttl::Ms(_)));
        }
        CmdId::Del | CmdId::Delete | CmdId::Unlink => {
            super::for_each_key(id, args, |k| v.push(sh.store.exists(k, now_ms)))
        }
        _ if flags & NEW != 0 => {
            super::for_each_key(id, args, |k| v.push(sh.store.exists(k, now_ms)))
        }
        _ => {}
    }
    v
}

/// After a command that succeeded with `reply`: a write's events, or a read's key miss.
pub fn after_command(
    sh: &mut Shard,
    flags: u64,
    id: CmdId,
    args: &Args,
    reply: &[u8],
    before: &[bool],
    now_ms: u64,
) {
    if id.spec().flags & super::flags::WRITE != 0 {
        after_write(sh, flags, id, args, reply, before, now_ms);
    } else if flags & KEY_MISS != 0 && id == CmdId::Get && matches!(reply, b"$-1\r\n" | b"_\r\n") {
        emit(sh, flags, KEY_MISS, b"keymiss", args.get(1), now_ms);
    }
}

/// Whether the arguments from `from` on carry an expiry option (EX, PX, EXAT, PXAT).
fn has_expiry_option(args: &Args, from: usize) -> bool {
    args.iter()
        .skip(from)
        .any(|a| eq_ic(a, "ex") || eq_ic(a, "px") || eq_ic(a, "exat") || eq_ic(a, "pxat"))
}

/// Publishes the events of a write that succeeded with `reply` (see the module docs).
pub fn after_write(
    sh: &mut Shard,
    flags: u64,
    id: CmdId,
    args: &Args,
    reply: &[u8],
    before: &[bool],
    now_ms: u64,
) {
    use CmdId::*;
    if !super::wrote(sh, id, args, reply) {
        return;
    }
    if flags & NEW != 0 && !matches!(id, Del | Delete | Unlink | Getex) {
        let mut i = 0;
        let mut created = Vec::new();
        super::for_each_key(id, args, |k| {
            if !before.get(i).copied().unwrap_or(true) {
                created.push(k);
            }
            i += 1;
        });
        for k in created {
            if sh.store.exists(k, now_ms) {
                emit(sh, flags, NEW, b"new", k, now_ms);
            }
        }
    }
    if args.len() < 2 {
        return; // FLUSHALL and other keyless writes notify nothing
    }
    let key = args.get(1);
    match id {
        Set => {
            emit(sh, flags, STRING, b"set", key, now_ms);
            if has_expiry_option(args, 3) {
                emit(sh, flags, GENERIC, b"expire", key, now_ms);
            }
        }
        Setnx | Getset => emit(sh, flags, STRING, b"set", key, now_ms),
        Setex | Psetex => {
            emit(sh, flags, STRING, b"set", key, now_ms);
            emit(sh, flags, GENERIC, b"expire", key, now_ms);
        }
        Mset | Msetnx => {
            for i in (1..args.len()).step_by(2) {
                emit(sh, flags, STRING, b"set", args.get(i), now_ms);
            }
        }
        Append => emit(sh, flags, STRING, b"append", key, now_ms),
        Setrange => emit(sh, flags, STRING, b"setrange", key, now_ms),
        Setbit => emit(sh, flags, STRING, b"setbit", key, now_ms),
        Pfadd | Pfmerge => emit(sh, flags, STRING, b"pfadd", key, now_ms),
        Bitfield if args.iter().any(|a| eq_ic(a, "set") || eq_ic(a, "incrby")) => {
            emit(sh, flags, STRING, b"setbit", key, now_ms)
        }
        Bitop => {
            let dest = args.get(2);
            if sh.store.exists(dest, now_ms) {
                emit(sh, flags, STRING, b"set", dest, now_ms);
            } else {
                emit(sh, flags, GENERIC, b"del", dest, now_ms);
            }
        }
        Incr | Decr | Incrby | Decrby => emit(sh, flags, STRING, b"incrby", key, now_ms),
        Incrbyfloat => emit(sh, flags, STRING, b"incrbyfloat", key, now_ms),
        Getdel => emit(sh, flags, GENERIC, b"del", key, now_ms),
        Getex => {
            if args.iter().skip(2).any(|a| eq_ic(a, "persist")) {
                if before.first() == Some(&true) {
                    emit(sh, flags, GENERIC, b"persist", key, now_ms);
                }
            } else if has_expiry_option(args, 2) {
                expire_or_del(sh, flags, key, now_ms);
            }
        }
        Expire | Pexpire | Expireat | Pexpireat => expire_or_del(sh, flags, key, now_ms),
        Persist => emit(sh, flags, GENERIC, b"persist", key, now_ms),
        Del | Delete | Unlink => {
            let mut i = 0;
            let mut gone: Vec<&[u8]> = Vec::new();
            super::for_each_key(id, args, |k| {
                if before.get(i).copied().unwrap_or(false) && !gone.contains(&k) {
                    gone.push(k);
                }
                i += 1;
            });
            for k in gone {
                emit(sh, flags, GENERIC, b"del", k, now_ms);
            }
        }
        Rename | Renamenx => {
            emit(sh, flags, GENERIC, b"rename_from", key, now_ms);
            emit(sh, flags, GENERIC, b"rename_to", args.get(2), now_ms);
        }
        Restore => emit(sh, flags, GENERIC, b"restore", key, now_ms),
        Copy => emit(sh, flags, GENERIC, b"copy_to", args.get(2), now_ms),
        Hset | Hmset | Hsetnx => emit(sh, flags, HASH, b"hset", key, now_ms),
        Hincrby => emit(sh, flags, HASH, b"hincrby", key, now_ms),
        Hincrbyfloat => emit(sh, flags, HASH, b"hincrbyfloat", key, now_ms),
        Hdel => removed(sh, flags, HASH, b"hdel", key, now_ms),
        Sadd => emit(sh, flags, SET, b"sadd", key, now_ms),
        Srem => removed(sh, flags, SET, b"srem", key, now_ms),
        Spop => removed(sh, flags, SET, b"spop", key, now_ms),
        Smove => {
            removed(sh, flags, SET, b"srem", key, now_ms);
            emit(sh, flags, SET, b"sadd", args.get(2), now_ms);
        }
        Sinterstore | Sunionstore | Sdiffstore => {
            stored(sh, flags, id.spec().name.as_bytes(), key, now_ms)
        }
        Zadd if args.iter().skip(2).any(|a| eq_ic(a, "incr")) => {
            emit(sh, flags, ZSET, b"zincr", key, now_ms)
        }
        Zadd => emit(sh, flags, ZSET, b"zadd", key, now_ms),
        Zincrby => emit(sh, flags, ZSET, b"zincr", key, now_ms),
        Zrem => removed(sh, flags, ZSET, b"zrem", key, now_ms),
        Zremrangebyrank => removed(sh, flags, ZSET, b"zremrangebyrank", key, now_ms),
        Zremrangebyscore => removed(sh, flags, ZSET, b"zremrangebyscore", key, now_ms),
        Zremrangebylex => removed(sh, flags, ZSET, b"zremrangebylex", key, now_ms),
        Zpopmin => removed(sh, flags, ZSET, b"zpopmin", key, now_ms),
        Zpopmax => removed(sh, flags, ZSET, b"zpopmax", key, now_ms),
        Zunionstore | Zinterstore | Zdiffstore | Zrangestore => {
            if sh.store.exists(key, now_ms) {
                emit(sh, flags, ZSET, id.spec().name.as_bytes(), key, now_ms);
            } else {
                emit(sh, flags, GENERIC, b"del", key, now_ms);
            }
        }
        Zmpop | Bzmpop | Bzpopmin | Bzpopmax => {
            let max = match id {
                Bzpopmax => true,
                Bzpopmin => false,
                // The side as the command parsed it (a key may be named "max").
                _ => {
                    let first = if id == Zmpop { 1 } else { 2 };
                    super::zsets::mpop_args(args, first).is_ok_and(|(_, max, _)| max)
                }
            };
            if let Some(k) = popped_key(reply).or_else(|| popped_key3(reply)) {
                let k = k.to_vec();
                let ev: &[u8] = if max { b"zpopmax" } else { b"zpopmin" };
                removed(sh, flags, ZSET, ev, &k, now_ms);
            }
        }
        Lpush | Lpushx => emit(sh, flags, LIST, b"lpush", key, now_ms),
        Rpush | Rpushx => emit(sh, flags, LIST, b"rpush", key, now_ms),
        Lpop => removed(sh, flags, LIST, b"lpop", key, now_ms),
        Rpop => removed(sh, flags, LIST, b"rpop", key, now_ms),
        Lset => emit(sh, flags, LIST, b"lset", key, now_ms),
        Linsert => emit(sh, flags, LIST, b"linsert", key, now_ms),
        Lrem => removed(sh, flags, LIST, b"lrem", key, now_ms),
        Ltrim => removed(sh, flags, LIST, b"ltrim", key, now_ms),
        Lmove | Blmove | Rpoplpush | Brpoplpush => {
            let (from_left, to_left) = if matches!(id, Lmove | Blmove) {
                (eq_ic(args.get(3), "left"), eq_ic(args.get(4), "left"))
            } else {
                (false, true)
            };
            // Redis notifies the push to the destination first, then the pop.
            let push: &[u8] = if to_left { b"lpush" } else { b"rpush" };
            emit(sh, flags, LIST, push, args.get(2), now_ms);
            let pop: &[u8] = if from_left { b"lpop" } else { b"rpop" };
            removed(sh, flags, LIST, pop, key, now_ms);
        }
        Blpop | Brpop | Lmpop | Blmpop => {
            let left = match id {
                Blpop => true,
                Brpop => false,
                _ => {
                    let first = if id == Lmpop { 1 } else { 2 };
                    super::lists::mpop_args(args, first).is_ok_and(|(_, left, _)| left)
                }
            };
            if let Some(k) = popped_key(reply) {
                let k = k.to_vec();
                removed(
                    sh,
                    flags,
                    LIST,
                    if left { b"lpop" } else { b"rpop" },
                    &k,
                    now_ms,
                );
            }
        }
        _ => {}
    }
}

/// The key at the head of a `[key, member, score]` reply (BZPOPMIN).
fn popped_key3(reply: &[u8]) -> Option<&[u8]> {
    let rest = reply.strip_prefix(b"*3\r\n$")?;
    let nl = memchr::memchr(b'\r', rest)?;
    let n: usize = std::str::from_utf8(&rest[..nl]).ok()?.parse().ok()?;
    rest.get(nl + 2..nl + 2 + n)
}

/// The key at the head of a `[key, ...]` reply (BLPOP, LMPOP).
fn popped_key(reply: &[u8]) -> Option<&[u8]> {
    let rest = reply.strip_prefix(b"*2\r\n$")?;
    let nl = memchr::memchr(b'\r', rest)?;
    let n: usize = std::str::from_utf8(&rest[..nl]).ok()?.parse().ok()?;
    rest.get(nl + 2..nl + 2 + n)
}

/// A removal from a collection: `event`, then `del` if it took the last element.
pub fn removed(sh: &mut Shard, flags: u64, class: u64, event: &[u8], key: &[u8], now_ms: u64) {
    emit(sh, flags, class, event, key, now_ms);
    if !sh.store.exists(key, now_ms) {
        emit(sh, flags, GENERIC, b"del", key, now_ms);
    }
}

/// A set stored whole at `key` (SINTERSTORE...): `event`, or `del` when the result was empty
/// and removed what was there.
pub fn stored(sh: &mut Shard, flags: u64, event: &[u8], key: &[u8], now_ms: u64) {
    if sh.store.exists(key, now_ms) {
        emit(sh, flags, SET, event, key, now_ms);
    } else {
        emit(sh, flags, GENERIC, b"del", key, now_ms);
    }
}

/// An expiry set in the past deletes the key: `del`; otherwise `expire`.
fn expire_or_del(sh: &mut Shard, flags: u64, key: &[u8], now_ms: u64) {
    if sh.store.exists(key, now_ms) {
        emit(sh, flags, GENERIC, b"expire", key, now_ms);
    } else {
        emit(sh, flags, GENERIC, b"del", key, now_ms);
    }
}

/// Publishes `expired` for the keys the store expired since the last call.
pub fn expired(sh: &mut Shard, now_ms: u64) {
    let keys = sh.store.drain_expired();
    let f = flags();
    for k in &keys {
        emit(sh, f, EXPIRED, b"expired", k, now_ms);
    }
    if super::tracking::active() {
        super::tracking::removed(sh, &keys, now_ms);
    }
}

/// Publishes `evicted` for keys eviction removed (`keys`, drained by the caller).
pub fn evicted(sh: &mut Shard, keys: &[Vec<u8>], now_ms: u64) {
    let f = flags();
    for k in keys {
        emit(sh, f, EVICTED, b"evicted", k, now_ms);
    }
    if super::tracking::active() {
        super::tracking::removed(sh, keys, now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_in_redis_order() {
        let cases = [
            ("KEA", "AKE"),
            ("Ex", "xE"),
            ("Kg$", "g$K"),
            ("AKEm", "AKEm"),
            ("Kn", "nK"),
            ("Kdtexzhsl$g", "AK"),
            ("Kmnd", "dnKm"),
            ("", ""),
        ];
        for (input, shown) in cases {
            assert_eq!(format_flags(parse_flags(input).unwrap()), shown, "{input}");
        }
        assert_eq!(parse_flags("KExq"), None);
    }
}
