//! A write's effects, handed to the append-only log by the shard that runs it, so the log never
//! needs to know what a command means:
//! - a collection write (hash, set) is logged as the effects the store reported, field by field
//!   (`HSET key field value`, `SREM key member`: see `store::value`), never the whole value;
//! - the expire family as the key's new expiry (`PEXPIREAT key ms`, `PERSIST key`, or `DEL`);
//! - any other write as the resulting state of each key it touched: `SET key value [PXAT ms]`
//!   for a string, `DEL` then the commands that rebuild a collection written whole (RENAME,
//!   a cross-shard move), `DEL` for a key that is gone.

use super::state::Shard;
use super::{Args, CmdId};
use crate::store::Value;

/// Elements per command when the log rebuilds a collection written whole.
const WHOLE_VALUE_CHUNK: usize = 1000;

/// Logs the effect of a successful write command on every key it names.
pub fn log_write(sh: &mut Shard, id: CmdId, args: &Args, now_ms: u64) {
    if sh.aof.is_none() {
        return;
    }
    if matches!(id, CmdId::Flushall | CmdId::Flushdb) {
        if let Some(log) = sh.aof.as_mut() {
            log.record(&[b"FLUSHALL"]);
        }
        return;
    }
    use CmdId::*;
    match id {
        Expire | Pexpire | Expireat | Pexpireat | Persist => log_expiry(sh, args.get(1), now_ms),
        // A bit's change is the command itself (replayed, it sets the same bit).
        Setbit | Bitfield | Pfadd => {
            if let Some(log) = sh.aof.as_mut() {
                let a: Vec<&[u8]> = args.iter().collect();
                log.record(&a);
            }
        }
        _ if matches!(id.spec().group, "hash" | "set" | "list" | "sorted_set") => log_effects(sh),
        _ => super::written_keys(id, args, |k| log_key(sh, k, now_ms)),
    }
}

/// Logs what the store reported the last collection write changed.
pub fn log_effects(sh: &mut Shard) {
    let effects = sh.store.take_effects();
    if let Some(log) = sh.aof.as_mut() {
        for e in &effects {
            let args: Vec<&[u8]> = e.iter().map(Vec::as_slice).collect();
            log.record(&args);
        }
    }
}

/// Logs `key`'s expiry as it is now, or its deletion.
fn log_expiry(sh: &mut Shard, key: &[u8], now_ms: u64) {
    let ttl = sh.store.expire_time(key, now_ms);
    let Some(log) = sh.aof.as_mut() else { return };
    match ttl {
        crate::store::Ttl::Missing => log.record(&[b"DEL", key]),
        crate::store::Ttl::Persistent => log.record(&[b"PERSIST", key]),
        crate::store::Ttl::Ms(at) => {
            let at = itoa::Buffer::new().format(at).to_owned();
            log.record(&[b"PEXPIREAT", key, at.as_bytes()]);
        }
    }
}

/// Logs the state of `key` as it is now (nothing when the log is off).
pub fn log_key(sh: &mut Shard, key: &[u8], now_ms: u64) {
    let expire = match sh.store.expire_time(key, now_ms) {
        crate::store::Ttl::Ms(at) => Some(at),
        _ => None,
    };
    let value = sh.store.value(key, now_ms);
    let Some(log) = sh.aof.as_mut() else { return };
    match (value, expire) {
        (Some(Value::String(v)), Some(at)) => {
            let at = itoa::Buffer::new().format(at).to_owned();
            log.record(&[b"SET", key, &v, b"PXAT", at.as_bytes()]);
        }
        (Some(Value::String(v)), None) => log.record(&[b"SET", key, &v]),
        (Some(v), expire) => {
            log.record(&[b"DEL", key]);
            v.commands(key, WHOLE_VALUE_CHUNK, |c| log.record(c));
            if let Some(at) = expire {
                let at = itoa::Buffer::new().format(at).to_owned();
                log.record(&[b"PEXPIREAT", key, at.as_bytes()]);
            }
        }
        (None, _) => log.record(&[b"DEL", key]),
    }
}

/// Keys the store evicted: logged as `DEL` (with the log on) and published as `evicted`
/// (with keyspace notifications on).
pub fn after_evictions(sh: &mut Shard, now_ms: u64) {
    let keys = sh.store.drain_evicted();
    if keys.is_empty() {
        return;
    }
    if let Some(log) = sh.aof.as_mut() {
        for key in &keys {
            log.record(&[b"DEL", key]);
        }
    }
    super::notify::evicted(sh, &keys, now_ms);
}
