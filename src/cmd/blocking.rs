//! Blocking commands: who waits for which key on this shard, and serving them.
//!
//! # The wait
//! A client that runs BLPOP (BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) on keys with no data is
//! registered on the shards that own its keys ([`Blocking::register`], reached by
//! `ShardOp::BlockOn`) and its connection waits for a reply, a timeout or its socket's close; it
//! holds nothing else, so every other client and pipeline carries on. Each registration is
//! queued per key in arrival order.
//!
//! # Serving: FIFO per key, exactly once
//! A write that gives a key waiters marks it ready ([`Blocking::mark`]); the shard's serving
//! task then ([`serve_ready`], after the write's command, transaction or script ended, never in
//! the middle of one) pops for the longest-waiting client first, as Redis does, by running the
//! command's one-shot form for that key, so the pop is logged as its effect (`LPOP key 1`),
//! notified and seen by WATCH like any write. The reply goes back to the client's core
//! ([`Blocking::outbox`]).
//!
//! A client waiting on keys of several shards has one [`Ticket`] shared by its registrations:
//! a shard serves it only after winning the ticket (one atomic compare-and-swap, the only
//! state two cores share here), so a client is served exactly once even when two of its keys
//! get data on two cores at the same moment; the losers drop the stale registration. The
//! connection's own timeout and CLIENT UNBLOCK race for the same ticket.
//!
//! BLMOVE / BRPOPLPUSH whose destination lives on another shard is not served by the source
//! shard: the winner of the ticket wakes the client ([`RETRY`]), which runs the move holding
//! both shards (atomic, as LMOVE) and waits again if another client took the element first.

use super::args::{parse_f64, Args};
use super::state::Shard;
use super::CmdId;
use crate::error::CmdError;
use crate::resp::reply::Out;
use hashbrown::HashMap;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Waker;

/// Whether a blocked client has been served (or timed out, or was unblocked): whoever sets it
/// first owns the client's one answer.
pub type Ticket = Arc<AtomicBool>;

/// Wins `t` for the caller; false when someone else already did.
pub fn claim(t: &Ticket) -> bool {
    t.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// A delivery that tells the client to run its move itself (see the module docs).
pub const RETRY: &[u8] = b"\0retry";

/// Where a blocked client's answer goes: its core, its connection's waiter slot there and
/// that slot's generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Home {
    pub core: u16,
    pub slot: u32,
    pub generation: u32,
}

/// An answer for a blocked client on another (or this) core.
pub struct Delivery {
    pub to: Home,
    pub reply: Vec<u8>,
}

/// One client waiting on one key.
struct Waiter {
    client: u64,
    home: Home,
    ticket: Ticket,
    resp3: bool,
    /// The command (name and arguments) as the client sent it.
    args: Rc<Vec<Vec<u8>>>,
    /// Served by waking the client (a move to another shard), not by running it here.
    wake_only: bool,
}

use std::rc::Rc;

/// This shard's blocked clients.
#[derive(Default)]
pub struct Blocking {
    waiting: HashMap<Vec<u8>, VecDeque<Waiter>>,
    /// Keys written since the last serve that have waiters.
    ready: Vec<Vec<u8>>,
    /// Answers for clients, sent on by the shard layer's serving task.
    pub outbox: Vec<Delivery>,
    /// The serving task, parked until there is something to do.
    pub server: Option<Waker>,
    /// Clients of this core's connections blocked now (CLIENT UNBLOCK, INFO, CLIENT LIST).
    pub here: HashMap<u64, (Ticket, Home, bool)>,
}

impl Blocking {
    /// Whether any client waits on a key of this shard (one branch per write when none does).
    #[inline]
    pub fn has_waiters(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Registers `client` on `keys` (of this shard).
    #[allow(clippy::too_many_arguments)]
    pub fn register(
        &mut self,
        keys: &[&[u8]],
        client: u64,
        home: Home,
        ticket: &Ticket,
        resp3: bool,
        args: Vec<Vec<u8>>,
        wake_only: bool,
    ) {
        let args = Rc::new(args);
        for k in keys {
            let q = self.waiting.entry_ref(*k).or_default();
            if q.iter()
                .any(|w| w.client == client && Arc::ptr_eq(&w.ticket, ticket))
            {
                continue;
            }
            q.push_back(Waiter {
                client,
                home,
                ticket: ticket.clone(),
                resp3,
                args: args.clone(),
                wake_only,
            });
        }
    }

    /// Forgets `client`'s registrations on `keys`.
    pub fn unregister(&mut self, keys: &[&[u8]], client: u64) {
        for k in keys {
            if let Some(q) = self.waiting.get_mut(*k) {
                q.retain(|w| w.client != client);
                if q.is_empty() {
                    self.waiting.remove(*k);
                }
            }
        }
    }

    /// `key` was written: if someone waits on it, it is served after the running command.
    #[inline]
    pub fn mark(&mut self, key: &[u8]) {
        if self.waiting.contains_key(key) && !self.ready.iter().any(|k| k == key) {
            self.ready.push(key.to_vec());
            self.wake();
        }
    }

    /// Wakes the serving task.
    pub fn wake(&mut self) {
        if let Some(w) = self.server.take() {
            w.wake();
        }
    }

    /// Whether the serving task has work.
    pub fn has_work(&self) -> bool {
        !self.ready.is_empty() || !self.outbox.is_empty()
    }

    /// Clients registered on this shard (each once).
    pub fn waiting_clients(&self) -> usize {
        let mut ids: Vec<u64> = self.waiting.values().flatten().map(|w| w.client).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }
}

/// A blocking command's timeout argument: the deadline in unix ms, `None` for forever (0), with
/// Redis's errors. Like Redis on x86, a timeout too large to count in milliseconds is negative.
pub fn timeout_ms(arg: &[u8], now: u64) -> Result<Option<u64>, CmdError> {
    let Some(secs) = parse_f64(arg) else {
        return Err(CmdError::Plain("timeout is not a float or out of range"));
    };
    let ms = secs * 1000.0;
    if !ms.is_finite() || ms >= 9.223_372_036_854_775e18 || ms <= -9.223_372_036_854_775e18 {
        return Err(CmdError::Plain("timeout is negative"));
    }
    let ms = ms as i64;
    if ms < 0 {
        return Err(CmdError::Plain("timeout is negative"));
    }
    if ms == 0 {
        return Ok(None);
    }
    if ms > i64::MAX - now as i64 {
        return Err(CmdError::Plain("timeout is out of range"));
    }
    Ok(Some(now + ms as u64))
}

/// The keys a blocking command waits on, and whether it moves to a destination key.
pub fn wait_keys<'a>(id: CmdId, a: &Args<'a>) -> Result<Vec<&'a [u8]>, CmdError> {
    use CmdId::*;
    Ok(match id {
        Blpop | Brpop | Bzpopmin | Bzpopmax => (1..a.len() - 1).map(|i| a.get(i)).collect(),
        Bzmpop => super::zsets::mpop_args(a, 2)?.0,
        Blmove | Brpoplpush => vec![a.get(1)],
        Blmpop => super::lists::mpop_args(a, 2)?.0,
        _ => Vec::new(),
    })
}

/// The timeout argument's index.
pub fn timeout_index(id: CmdId, a: &Args) -> usize {
    match id {
        CmdId::Blmpop | CmdId::Bzmpop => 1,
        _ => a.len() - 1,
    }
}

/// The one-shot form of blocked command `args` for its ready key `key`.
fn one_shot(args: &[Vec<u8>], key: &[u8]) -> Vec<Vec<u8>> {
    let id = CmdId::lookup(&args[0]);
    match id {
        Some(CmdId::Blpop | CmdId::Brpop | CmdId::Bzpopmin | CmdId::Bzpopmax) => {
            vec![args[0].clone(), key.to_vec(), b"0".to_vec()]
        }
        Some(CmdId::Blmpop | CmdId::Bzmpop) => {
            // BLMPOP timeout numkeys k... dir [COUNT n] -> BLMPOP 0 1 key dir [COUNT n]
            let n = crate::num::string2ll(&args[2]).unwrap_or(1).max(1) as usize;
            let mut v = vec![args[0].clone(), b"0".to_vec(), b"1".to_vec(), key.to_vec()];
            v.extend(args.iter().skip(3 + n).cloned());
            v
        }
        _ => args.to_vec(),
    }
}

/// Serves the waiters of the keys marked ready, longest-waiting first, while their keys hold
/// data (see the module docs).
pub fn serve_ready(sh: &mut Shard, now: u64) {
    while !sh.blocking.ready.is_empty() {
        let ready = std::mem::take(&mut sh.blocking.ready);
        for key in ready {
            serve_key(sh, &key, now);
        }
    }
}

/// Whether blocking command `args` waits for a sorted set (else a list).
fn wants_zset(args: &[Vec<u8>]) -> bool {
    matches!(
        CmdId::lookup(&args[0]),
        Some(CmdId::Bzpopmin | CmdId::Bzpopmax | CmdId::Bzmpop)
    )
}

/// Whether `key` holds what `args` waits for: data of its type (`Err` for another type).
fn data_for(sh: &mut Shard, args: &[Vec<u8>], key: &[u8], now: u64) -> Result<bool, ()> {
    if wants_zset(args) {
        match sh.store.zset_view(key, now) {
            Ok(z) => Ok(z.is_some_and(|z| !z.is_empty())),
            Err(_) => Err(()),
        }
    } else {
        match sh.store.list_view(key, now) {
            Ok(l) => Ok(l.is_some_and(|l| !l.is_empty())),
            Err(_) => Err(()),
        }
    }
}

fn serve_key(sh: &mut Shard, key: &[u8], now: u64) {
    loop {
        let Some(q) = sh.blocking.waiting.get_mut(key) else {
            return;
        };
        let Some(w) = q.front() else {
            sh.blocking.waiting.remove(key);
            return;
        };
        if w.ticket.load(Ordering::Acquire) {
            q.pop_front();
            continue;
        }
        let args = w.args.clone();
        if data_for(sh, &args, key, now) != Ok(true) {
            return;
        }
        let q = sh.blocking.waiting.get_mut(key).expect("queue");
        let w = q.pop_front().expect("waiter");
        if q.is_empty() {
            sh.blocking.waiting.remove(key);
        }
        if !claim(&w.ticket) {
            continue;
        }
        if w.wake_only {
            sh.blocking.outbox.push(Delivery {
                to: w.home,
                reply: RETRY.to_vec(),
            });
            continue;
        }
        let reply = run_one_shot(sh, &w.args, key, w.resp3, now);
        sh.blocking.outbox.push(Delivery { to: w.home, reply });
    }
}

/// Runs the one-shot form of `args` for `key` as the server's own call (not counted again).
fn run_one_shot(sh: &mut Shard, args: &[Vec<u8>], key: &[u8], resp3: bool, now: u64) -> Vec<u8> {
    let cmd = one_shot(args, key);
    let id = CmdId::lookup(&cmd[0]).unwrap_or(CmdId::Blpop);
    let (data, ranges) = flatten(&cmd);
    let mut out = Out::new(resp3);
    super::run(sh, id, &Args::new(&data, &ranges), now, false, &mut out);
    out.into_vec()
}

fn flatten(cmd: &[Vec<u8>]) -> (Vec<u8>, Vec<(usize, usize)>) {
    let mut data = Vec::new();
    let mut ranges = Vec::new();
    for a in cmd {
        let s = data.len();
        data.extend_from_slice(a);
        ranges.push((s, data.len()));
    }
    (data, ranges)
}

/// What [`block_on`] did.
pub enum BlockOutcome {
    /// Served at once: the reply.
    Served(Vec<u8>),
    /// Data is there but the move must run from the client (see [`RETRY`]).
    Retry,
    /// Registered: the client waits.
    Registered,
    /// The ticket was already won elsewhere: nothing done.
    Gone,
}

/// `ShardOp::BlockOn`: serves blocked command `args` at once from the first of its keys on
/// this shard that holds data (winning `ticket` first), or registers it on them.
#[allow(clippy::too_many_arguments)]
pub fn block_on(
    sh: &mut Shard,
    args: &Args,
    client: u64,
    home: Home,
    ticket: &Ticket,
    resp3: bool,
    wake_only: bool,
    now: u64,
) -> BlockOutcome {
    let Some(id) = CmdId::lookup(args.get(0)) else {
        return BlockOutcome::Gone;
    };
    let Ok(keys) = wait_keys(id, args) else {
        return BlockOutcome::Gone;
    };
    let mine: Vec<&[u8]> = keys
        .into_iter()
        .filter(|k| crate::slot::key_shard(k, sh.shards) == sh.id)
        .collect();
    let owned: Vec<Vec<u8>> = args.iter().map(<[u8]>::to_vec).collect();
    for k in &mine {
        // A key of another type answers WRONGTYPE at once, as in Redis.
        match data_for(sh, &owned, k, now) {
            Err(()) => {
                if !claim(ticket) {
                    return BlockOutcome::Gone;
                }
                let mut out = Out::new(resp3);
                super::write_error(sh, &CmdError::WrongType, &mut out);
                return BlockOutcome::Served(out.into_vec());
            }
            Ok(true) => {
                if !claim(ticket) {
                    return BlockOutcome::Gone;
                }
                if wake_only {
                    return BlockOutcome::Retry;
                }
                return BlockOutcome::Served(run_one_shot(sh, &owned, k, resp3, now));
            }
            _ => {}
        }
    }
    if ticket.load(Ordering::Acquire) {
        return BlockOutcome::Gone;
    }
    sh.blocking
        .register(&mine, client, home, ticket, resp3, owned, wake_only);
    BlockOutcome::Registered
}

/// `ShardOp::UnblockClient` (CLIENT UNBLOCK) on this core: unblocks `client` if it is one of
/// this core's blocked connections, answering it the timeout's null or the error.
pub fn unblock_client(sh: &mut Shard, client: u64, error: bool) -> bool {
    let Some((ticket, home, resp3)) = sh.blocking.here.get(&client).cloned() else {
        return false;
    };
    if !claim(&ticket) {
        return false;
    }
    let mut out = Out::new(resp3);
    if error {
        crate::resp::reply::error(&mut out, b"UNBLOCKED client unblocked via CLIENT UNBLOCK");
        sh.stats.count_error("UNBLOCKED");
    } else {
        crate::resp::reply::null_array(&mut out);
    }
    sh.blocking.outbox.push(Delivery {
        to: home,
        reply: out.into_vec(),
    });
    sh.blocking.wake();
    true
}
