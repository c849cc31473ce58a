//! Client-side caching (CLIENT TRACKING): the shard that owns a key remembers which clients
//! read it, and tells them when it changes.
//!
//! - Default mode: a read by a tracking client records (client, its core) under the key in the
//!   owning shard's [`Table`] (at most `tracking-table-max-keys` keys per server, split over the
//!   shards; past it a key is dropped and its readers invalidated, as Redis does). A write,
//!   expiry or eviction of the key removes the entry and sends each reader one invalidation.
//! - BCAST: the client's prefixes are registered on every shard; any write of a key under a
//!   prefix invalidates it, without a table entry.
//! - OPTIN / OPTOUT: a read is tracked only after `CLIENT CACHING yes` (OPTIN), or unless after
//!   `CLIENT CACHING no` (OPTOUT); NOLOOP: no invalidation for the client's own writes.
//! - An invalidation travels to the recipient's core like a pub/sub message (delivered at once
//!   on this core, through the forwarder otherwise): a RESP3 push `invalidate [key]` to the
//!   tracking client, or with REDIRECT a `message` on `__redis__:invalidate` to the redirect
//!   client; FLUSHALL sends `invalidate` with a null key.
//!
//! The shard layer says, around each op, who runs it and whether its reads are tracked
//! ([`Caller`]); with nobody tracking the hook costs one relaxed atomic load per command.

use super::state::Shard;
use super::{Args, CmdId};
use crate::config::RUNTIME;
use hashbrown::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Connections with tracking on, over all cores.
static TRACKING: AtomicU64 = AtomicU64::new(0);

#[inline]
pub fn active() -> bool {
    TRACKING.load(Ordering::Relaxed) > 0
}

pub fn started() {
    TRACKING.fetch_add(1, Ordering::Relaxed);
}

pub fn stopped() {
    TRACKING.fetch_sub(1, Ordering::Relaxed);
}

/// Who runs the current op, and whether its reads are tracked.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller {
    pub client: u64,
    /// The tracking settings that apply (when its reads are tracked).
    pub dest: Option<Dest>,
}

/// Where a reader's invalidations go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dest {
    /// The tracking client.
    pub client: u64,
    /// Who gets the message: the client itself, or its REDIRECT target.
    pub to: u64,
    /// The recipient's core (`u16::MAX`: unknown, every core is asked).
    pub core: u16,
    /// The message is a `__redis__:invalidate` pub/sub message (REDIRECT).
    pub redirect: bool,
    pub noloop: bool,
}

/// The keys read by tracking clients on this shard, and the BCAST prefixes.
#[derive(Default)]
pub struct Table {
    keys: HashMap<Box<[u8]>, Vec<Dest>>,
    bcast: Vec<(Vec<u8>, Dest)>,
}

impl Table {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.bcast.is_empty()
    }

    /// Removes client `client`'s BCAST prefixes.
    pub fn remove_prefixes(&mut self, client: u64) {
        self.bcast.retain(|(_, x)| x.client != client);
    }

    /// Registers (`on`) or removes client `d.client`'s BCAST prefixes.
    pub fn set_prefixes(&mut self, d: Dest, prefixes: &[&[u8]], on: bool) {
        self.bcast.retain(|(_, x)| x.client != d.client);
        if on {
            if prefixes.is_empty() {
                self.bcast.push((Vec::new(), d));
            }
            for p in prefixes {
                self.bcast.push((p.to_vec(), d));
            }
        }
    }
}

impl Dest {
    /// The arguments a BCAST registration carries to the other shards.
    pub fn to_args(&self) -> [Vec<u8>; 3] {
        [
            self.to.to_string().into_bytes(),
            self.core.to_string().into_bytes(),
            [self.redirect as u8 + b'0', self.noloop as u8 + b'0'].to_vec(),
        ]
    }

    pub fn from_args(client: u64, a: &Args) -> Option<Dest> {
        let num = |i: usize| std::str::from_utf8(a.get(i)).ok()?.parse::<u64>().ok();
        let flags = a.get(3);
        Some(Dest {
            client,
            to: num(1)?,
            core: num(2)? as u16,
            redirect: flags.first() == Some(&b'1'),
            noloop: flags.get(1) == Some(&b'1'),
        })
    }
}

/// The most keys this shard's table holds.
fn max_keys(shards: usize) -> usize {
    let total = RUNTIME.tracking_table_max_keys.load(Ordering::Relaxed);
    if total == 0 {
        usize::MAX
    } else {
        (total as usize).div_ceil(shards.max(1))
    }
}

/// After a command that succeeded with `reply`: remember what a tracked read read, invalidate
/// what a write changed.
pub fn after_command(sh: &mut Shard, id: CmdId, args: &Args, reply: &[u8], now_ms: u64) {
    let spec = id.spec();
    if spec.flags & super::flags::WRITE != 0 {
        if matches!(id, CmdId::Flushall | CmdId::Flushdb) {
            return invalidate_all(sh, now_ms);
        }
        if !super::wrote(sh, id, args, reply) {
            return;
        }
        let writer = sh.caller.client;
        let mut keys: Vec<&[u8]> = Vec::new();
        super::written_keys(id, args, |k| keys.push(k));
        for k in keys {
            invalidate(sh, k, writer, now_ms);
        }
    } else if let Some(d) = sh.caller.dest {
        if spec.flags & super::flags::READONLY == 0 {
            return;
        }
        let max = max_keys(sh.shards);
        let mut keys: Vec<&[u8]> = Vec::new();
        super::for_each_key(id, args, |k| keys.push(k));
        for k in keys {
            let readers = sh.tracking.keys.entry(k.into()).or_default();
            if !readers.contains(&d) {
                readers.push(d);
            }
        }
        while sh.tracking.keys.len() > max {
            let Some(victim) = sh.tracking.keys.keys().next().cloned() else {
                break;
            };
            invalidate(sh, &victim, 0, now_ms);
        }
    }
}

/// `key` changed (by `writer`, 0 for the server itself): its readers and the BCAST clients
/// whose prefix it has are told.
pub fn invalidate(sh: &mut Shard, key: &[u8], writer: u64, now_ms: u64) {
    let mut to: Vec<Dest> = sh.tracking.keys.remove(key).unwrap_or_default();
    to.extend(
        sh.tracking
            .bcast
            .iter()
            .filter(|(p, _)| key.starts_with(p))
            .map(|(_, d)| *d),
    );
    to.dedup();
    for d in to {
        if d.noloop && d.client == writer {
            continue;
        }
        send(sh, d, Some(key), now_ms);
    }
}

/// FLUSHALL (its part on every shard): this shard forgets its readers, and shard 0's part
/// tells every tracking client on every core, once (a null key: drop everything).
fn invalidate_all(sh: &mut Shard, now_ms: u64) {
    sh.tracking.keys.clear();
    if sh.id != 0 {
        return;
    }
    sh.pubsub.invalidate_everyone(now_ms);
    if sh.shards > 1 {
        let everyone = Dest {
            client: 0,
            to: 0,
            core: u16::MAX,
            redirect: false,
            noloop: false,
        };
        sh.pubsub.forward_invalidation(everyone, None);
    }
}

fn send(sh: &mut Shard, d: Dest, key: Option<&[u8]>, now_ms: u64) {
    if d.core as usize == sh.id || d.core == u16::MAX || sh.shards == 1 {
        sh.pubsub.invalidation(d.to, d.redirect, key, now_ms);
    }
    if d.core as usize != sh.id && sh.shards > 1 {
        sh.pubsub.forward_invalidation(d, key);
    }
}

/// Keys the store expired or evicted (drained by the caller).
pub fn removed(sh: &mut Shard, keys: &[Vec<u8>], now_ms: u64) {
    for k in keys {
        invalidate(sh, k, 0, now_ms);
    }
}

/// A connection's CLIENT TRACKING settings.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub on: bool,
    pub redirect: u64,
    pub bcast: bool,
    pub prefixes: Vec<Vec<u8>>,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// CLIENT CACHING yes/no, for the next command only.
    pub caching: Option<bool>,
}

impl Settings {
    /// Whether the next read is tracked.
    pub fn tracks_next(&self) -> bool {
        self.on
            && !self.bcast
            && if self.optin {
                self.caching == Some(true)
            } else if self.optout {
                self.caching != Some(false)
            } else {
                true
            }
    }
}

/// Parses `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT]
/// [NOLOOP]` into new settings, with Redis's errors (`current`: the connection's settings now).
pub fn parse(current: &Settings, a: &Args) -> Result<Settings, crate::error::CmdError> {
    use super::args::eq_ic;
    use crate::error::CmdError;
    let on = if eq_ic(a.get(2), "on") {
        true
    } else if eq_ic(a.get(2), "off") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let mut s = Settings {
        on,
        ..Settings::default()
    };
    let mut i = 3;
    while i < a.len() {
        let o = a.get(i);
        if eq_ic(o, "redirect") && i + 1 < a.len() {
            s.redirect = crate::num::string2ll(a.get(i + 1))
                .filter(|&v| v >= 0)
                .ok_or(CmdError::NotInteger)? as u64;
            i += 1;
        } else if eq_ic(o, "prefix") && i + 1 < a.len() {
            s.prefixes.push(a.get(i + 1).to_vec());
            i += 1;
        } else if eq_ic(o, "bcast") {
            s.bcast = true;
        } else if eq_ic(o, "optin") {
            s.optin = true;
        } else if eq_ic(o, "optout") {
            s.optout = true;
        } else if eq_ic(o, "noloop") {
            s.noloop = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if !on {
        return Ok(s);
    }
    let tracking_error = |m: &str| CmdError::Tracking(m.to_string());
    if current.on && current.bcast != s.bcast {
        return Err(tracking_error("You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    if s.optin && s.optout {
        return Err(tracking_error(
            "You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if (s.optin && current.optout) || (s.optout && current.optin) {
        return Err(tracking_error("You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    if !s.prefixes.is_empty() && !s.bcast {
        return Err(tracking_error(
            "PREFIX option requires BCAST mode to be enabled",
        ));
    }
    if s.bcast && (s.optin || s.optout) {
        return Err(tracking_error(
            "OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    Ok(s)
}

/// CLIENT TRACKINGINFO's reply.
pub fn info(s: &Settings, out: &mut crate::resp::reply::Out) {
    use crate::resp::reply;
    let mut flags: Vec<&str> = Vec::new();
    if !s.on {
        flags.push("off");
    } else {
        flags.push("on");
        if s.bcast {
            flags.push("bcast");
        }
        if s.optin {
            flags.push("optin");
            if s.caching == Some(true) {
                flags.push("caching-yes");
            }
        }
        if s.optout {
            flags.push("optout");
            if s.caching == Some(false) {
                flags.push("caching-no");
            }
        }
        if s.noloop {
            flags.push("noloop");
        }
    }
    reply::map(out, 3);
    reply::bulk(out, b"flags");
    reply::set(out, flags.len());
    for f in flags {
        reply::bulk(out, f.as_bytes());
    }
    reply::bulk(out, b"redirect");
    reply::int(out, if s.on { s.redirect as i64 } else { -1 });
    reply::bulk(out, b"prefixes");
    reply::array(out, s.prefixes.len());
    for p in &s.prefixes {
        reply::bulk(out, p);
    }
}
