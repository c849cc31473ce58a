//! A write's effects, handed to the append-only log: every write is logged by the shard that
//! runs it as the resulting state of each key it touched (see `persist::aof`), so the log
//! never needs to know what a command means.

use super::state::Shard;
use super::{Args, CmdId};

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
    super::for_each_key(id, args, |k| log_key(sh, k, now_ms));
}

/// Logs the state of `key` as it is now (nothing when the log is off).
pub fn log_key(sh: &mut Shard, key: &[u8], now_ms: u64) {
    let expire = match sh.store.expire_time(key, now_ms) {
        crate::store::Ttl::Ms(at) => Some(at),
        _ => None,
    };
    let value = sh.store.get(key, now_ms).ok().flatten().map(<[u8]>::to_vec);
    let Some(log) = sh.aof.as_mut() else { return };
    match (value, expire) {
        (Some(v), Some(at)) => {
            let at = itoa::Buffer::new().format(at).to_owned();
            log.record(&[b"SET", key, &v, b"PXAT", at.as_bytes()]);
        }
        (Some(v), None) => log.record(&[b"SET", key, &v]),
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
