//! What crosses between cores: a [`Hop`] carries typed work ([`ShardOp`]) to the shard that owns
//! its keys and comes back with the replies.
//!
//! A client command travels as `ShardOp::Cmd` with its arguments; the server's own steps
//! (take and put for a cross-shard RENAME, a shard's statistics or client list, CLIENT KILL,
//! WATCH bookkeeping) are their own variants, so no internal operation sits in the public
//! command table where COMMAND, INFO commandstats or a client could see it.
//!
//! A hop may also carry a step of a transaction ([`Hop::txn`], [`Hop::lock`]): see
//! `shard::lock` for how a shard is held by one transaction at a time.

use super::{pipeline, with_known_hash, Shard};
use crate::cmd::{self, server::ShardCounters, Args, CmdId};
use crate::error::CmdError;
use crate::resp::reply::Out;

/// One unit of work for the shard that runs a hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardOp {
    /// A client command.
    Cmd(CmdId),
    /// The part of a client command that touches this shard's keys (MGET, DEL, MSET over
    /// several shards; DBSIZE, KEYS, FLUSHALL on every shard): runs like the command but is not
    /// counted as a call, since the connection counted the command once, as Redis does.
    Part(CmdId),
    /// Removes key `args[1]`; answers [`ShardReply::Taken`] (RENAME, step 1).
    Take,
    /// Stores key `args[1]` = the value DUMP-encoded in `args[2]`, overwriting, expiring at `expire_at` unix ms
    /// (`u64::MAX`: never) (RENAME or, with `copy`, COPY, step 2); answers `Done` or `Failed`.
    Put { expire_at: u64, copy: bool },
    /// Key `args[1]`'s value and expiry, left in place: [`ShardReply::Taken`] (COPY, step 1).
    Dump,
    /// How many of the keys `args[1..]` exist: [`ShardReply::Count`] (MSETNX, RENAMENX checks;
    /// not a client's EXISTS, so not counted as one).
    CountExisting,
    /// This shard's statistics, for INFO: [`ShardReply::Stats`].
    Stats,
    /// This shard's CLIENT LIST lines: [`ShardReply::Text`].
    Clients,
    /// Closes this shard's connections that match a CLIENT KILL filter (`args[1..6]`):
    /// [`ShardReply::Count`].
    Kill,
    /// A snapshot's cut reached this shard (held by the cut, so no transaction is half done
    /// here): the store begins snapshot `epoch` and the log starts its rotation.
    SnapshotBegin { epoch: u64 },
    /// WATCH: registers `client` on the keys `args[1..]`.
    Watch { client: u64 },
    /// EXEC: [`ShardReply::Changed`] when a key `client` watches here changed since WATCH, and
    /// forgets the client's watches on this shard.
    CheckWatch { client: u64 },
    /// UNWATCH, DISCARD, a closed connection: forgets `client`'s watches on this shard.
    Unwatch { client: u64 },
    /// PUBLISH / SPUBLISH channel `args[1]`, message `args[2]`: delivered to this core's
    /// subscribers; [`ShardReply::Count`] of receivers (see `cmd::pubsub`).
    Publish { shard_channel: bool },
    /// A MONITOR line (`args[1]`) for this core's monitors.
    MonitorLine,
    /// A client-side caching invalidation for client `to` (key `args[1]`, or everything when
    /// `all`), delivered if it is on this core.
    Invalidate { to: u64, redirect: bool, all: bool },
    /// CLIENT TRACKING REDIRECT: whether client `id` is a connection of this core
    /// ([`ShardReply::Count`] 1 or 0).
    HasClient { id: u64 },
    /// CLIENT TRACKING BCAST: registers `client`'s prefixes `args[4..]` with the destination
    /// `args[1..4]` (see `cmd::tracking::Dest`), or (`on` false) removes them.
    TrackPrefixes { client: u64, on: bool },
    /// The members of the sets `args[1..]`: [`ShardReply::Members`] (a cross-shard SINTER and
    /// its family, gathered at the origin).
    Fetch,
    /// Whether `args[1]` is a set: [`ShardReply::Count`] 1, 0 when missing, `Failed` for
    /// another type (SMOVE's checks).
    SetCheck,
    /// A set write of a cross-shard SMOVE or *STORE (`cmd::sets::Step`):
    /// [`ShardReply::Count`] of members added, removed or stored.
    SetWrite { step: cmd::sets::Step },
    /// A PUBSUB query (`cmd::pubsub::Query` code) with the client's arguments:
    /// [`ShardReply::Names`] or [`ShardReply::Counts`].
    Pubsub { query: u32 },
    /// A blocking command (`args`) of `client`: served at once from this shard's keys, or
    /// registered on them (`cmd::blocking::block_on`; the hop carries the client's ticket).
    /// [`ShardReply::Resp`] when served, `Count` 1 registered, 2 retry (a move to another
    /// shard), 0 nothing (the ticket was won elsewhere).
    BlockOn {
        client: u64,
        slot: u32,
        generation: u32,
        resp3: bool,
        wake_only: bool,
    },
    /// Forgets `client`'s registrations for blocking command `args` here.
    Unblock { client: u64 },
    /// CLIENT UNBLOCK: unblocks `client` if it is a connection of this core: `Count` 1 or 0.
    UnblockClient { client: u64, error: bool },
    /// Stores the sorted set DUMP-encoded in `args[2]` at `args[1]` (replacing it; empty
    /// deletes it) as the cross-shard ZUNIONSTORE family's last step, notifying `args[3]`
    /// (the command's event): `Done` or `Failed`.
    ZStore,
}

impl ShardOp {
    /// The server's own ops that touch no key, only server state (INFO's and CLIENT's parts,
    /// WATCH bookkeeping, pub/sub, MONITOR, client-side caching): they may run while a
    /// transaction holds the shard or a script is busy there.
    pub fn is_bookkeeping(&self) -> bool {
        matches!(
            self,
            ShardOp::Stats
                | ShardOp::Clients
                | ShardOp::Kill
                | ShardOp::Watch { .. }
                | ShardOp::Unwatch { .. }
                | ShardOp::Publish { .. }
                | ShardOp::Pubsub { .. }
                | ShardOp::MonitorLine
                | ShardOp::Invalidate { .. }
                | ShardOp::TrackPrefixes { .. }
                | ShardOp::HasClient { .. }
                | ShardOp::Unblock { .. }
                | ShardOp::UnblockClient { .. }
        )
    }
}

/// The typed result of one of the server's own ops. A client command's result is its reply,
/// encoded once for the client into [`Hop::reply`]; the server's own results never become
/// RESP, so nothing parses a reply to learn what happened on another shard.
#[derive(Debug, Default)]
pub enum ShardReply {
    /// A client command's reply (only when one runs through `run_internal` on its own).
    Resp(Vec<u8>),
    /// Put, Watch, Unwatch: done.
    #[default]
    Done,
    /// The op failed with this error (a Put the store cannot hold).
    Failed(CmdError),
    /// Take: the key's value (DUMP-encoded, so any type crosses) and absolute expiry (unix ms), or `None` when it did not exist.
    Taken(Option<(Vec<u8>, Option<u64>)>),
    /// CountExisting: keys that exist; Kill: connections closed.
    Count(u64),
    /// CheckWatch: whether a key the client watches here changed.
    Changed(bool),
    /// Stats: this shard's counters.
    Stats(Box<ShardCounters>),
    /// Clients: this shard's CLIENT LIST lines.
    Text(String),
    /// Fetch: each set's members, `None` for a missing key.
    Members(Vec<Option<Vec<Vec<u8>>>>),
    /// Pubsub: this core's channel or pattern names.
    Names(Vec<Vec<u8>>),
    /// Pubsub: each channel asked with its subscribers on this core.
    Counts(Vec<(Vec<u8>, u64)>),
}

/// What a hop does to its destination's transaction lock around its ops (see `shard::lock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockStep {
    /// Plain work: runs when the shard is free (or held by this hop's transaction).
    #[default]
    None,
    /// Waits until the shard is free, holds it for `Hop::txn`, then runs the ops.
    Acquire,
    /// Runs the ops (the shard is held by `Hop::txn`), then frees the shard.
    Release,
    /// Acquire, run, release in one step (the last shard a transaction takes).
    Once,
}

/// One batch of operations from one connection for one destination shard, and on the way back
/// their replies. Boxed and recycled by the origin core.
#[derive(Default)]
pub struct Hop {
    /// The shard that sent it and gets it back.
    pub origin: usize,
    /// The shard that runs it.
    pub dest: usize,
    /// The waiting connection's slot on the origin shard, and that slot's generation (a hop
    /// that outlived its connection must not wake the slot's next owner).
    pub waiter: u32,
    pub generation: u32,
    /// The origin batch's clock (unix ms): every part of a command sees the same time, and
    /// time stays a parameter across cores.
    pub now_ms: u64,
    /// The transaction this hop belongs to (0: none). A shard held by a transaction runs only
    /// that transaction's hops; others wait in its queue.
    pub txn: u64,
    pub lock: LockStep,
    /// The transaction only reads: it holds the shard shared with other readers.
    pub shared: bool,
    /// Runs every op in one go, ignoring [`HOP_REPLY_BUDGET`] (a transaction's ops).
    pub atomic: bool,
    /// With the log on: the shards where transaction `txn` writes, and the snapshot epoch it
    /// started in. A writer shard logs its part as one record (see `persist::txnlog`).
    pub wal_writers: Vec<u16>,
    pub wal_epoch: u64,
    /// Argument bytes of every op, back to back.
    pub data: Vec<u8>,
    /// Byte ranges of the arguments in `data`.
    pub ranges: Vec<(usize, usize)>,
    /// (operation, index of its first range, argument count), run in this order.
    pub ops: Vec<(ShardOp, u32, u32)>,
    /// Replies of the client commands among the ops back to back, filled by the destination.
    pub reply: Out,
    /// Results of the server's own ops (op index, result), in op order.
    pub results: Vec<(u32, ShardReply)>,
    /// End offset in `reply` of each op's reply, from op `first_op` on.
    pub ends: Vec<usize>,
    /// When this hop is one of the timed ones: the instant its current leg began (the send, or
    /// the destination's reply). See `cmd::state::HopCounters`.
    pub timed: Option<std::time::Instant>,
    /// Ops before this one ran in an earlier trip and their replies were consumed. A hop stops
    /// once its replies pass [`HOP_REPLY_BUDGET`] and is sent again for the rest, so a pipeline
    /// of big replies never pins more than about that much memory per hop.
    pub first_op: u32,
    /// The connection that sent it (CLIENT TRACKING's NOLOOP), and where the invalidations of
    /// its tracked reads go; `tracked`: the ops whose reads are tracked, ascending.
    pub client: u64,
    pub track_dest: Option<cmd::tracking::Dest>,
    pub tracked: Vec<u32>,
    /// A blocked client's ticket (`ShardOp::BlockOn`, see `cmd::blocking`).
    pub ticket: Option<cmd::blocking::Ticket>,
}

/// Reply bytes a hop may collect before it returns unfinished (at least one op always runs).
pub const HOP_REPLY_BUDGET: usize = 1 << 20;

impl Hop {
    pub fn clear(&mut self) {
        self.data.clear();
        self.ranges.clear();
        self.ops.clear();
        self.reply.clear();
        self.results.clear();
        self.ends.clear();
        self.first_op = 0;
        self.txn = 0;
        self.lock = LockStep::None;
        self.shared = false;
        self.atomic = false;
        self.wal_writers.clear();
        self.wal_epoch = 0;
        self.timed = None;
        self.client = 0;
        self.track_dest = None;
        self.tracked.clear();
        self.ticket = None;
    }

    /// Appends a client command whose arguments are copied from `args`.
    pub fn push_op<'a>(&mut self, id: CmdId, args: impl Iterator<Item = &'a [u8]>) -> u32 {
        self.push(ShardOp::Cmd(id), args)
    }

    /// Appends an op whose arguments are copied from `args`.
    pub fn push<'a>(&mut self, op: ShardOp, args: impl Iterator<Item = &'a [u8]>) -> u32 {
        let first = self.ranges.len() as u32;
        for a in args {
            let start = self.data.len();
            self.data.extend_from_slice(a);
            self.ranges.push((start, self.data.len()));
        }
        let argc = self.ranges.len() as u32 - first;
        self.ops.push((op, first, argc));
        self.ops.len() as u32 - 1
    }

    /// The reply of op `i` once the hop came back with it done.
    pub fn op_reply(&self, i: u32) -> &[u8] {
        let k = (i - self.first_op) as usize;
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        &self.reply[start..self.ends[k]]
    }

    /// The result of op `i` when it is one of the server's own ops and ran in the last trip.
    pub fn result(&self, i: u32) -> Option<&ShardReply> {
        self.results.iter().find(|(op, _)| *op == i).map(|(_, r)| r)
    }

    /// Takes the result of op `i` out of the hop (see [`Hop::result`]).
    pub fn take_result(&mut self, i: u32) -> Option<ShardReply> {
        let k = self.results.iter().position(|(op, _)| *op == i)?;
        Some(self.results.swap_remove(k).1)
    }

    /// Whether op `i` ran in the last trip (its reply is here).
    pub fn op_done(&self, i: u32) -> bool {
        i >= self.first_op && ((i - self.first_op) as usize) < self.ends.len()
    }

    /// Whether every op is bookkeeping ([`ShardOp::is_bookkeeping`]): such a hop may run while
    /// a transaction holds the shard.
    pub fn keyless(&self) -> bool {
        self.ops.iter().all(|(op, _, _)| op.is_bookkeeping()) && !self.ops.is_empty()
    }

    /// Whether every op has run.
    pub fn finished(&self) -> bool {
        self.first_op as usize + self.ends.len() >= self.ops.len()
    }

    /// Whether a busy script on the destination may meet this hop (asked only while one is):
    /// plain client commands (they answer `-BUSY` there) and keyless bookkeeping. A transaction's step or the server's own
    /// key work waits for the script's end instead (see `lock::serve`).
    pub fn plain(&self) -> bool {
        self.lock == LockStep::None
            && self.txn == 0
            && !self.atomic
            && self.ops.iter().all(|(op, _, _)| {
                matches!(op, ShardOp::Cmd(_) | ShardOp::Part(_)) || op.is_bookkeeping()
            })
    }

    /// Runs the ops from `first_op` on `shard` (the destination) at the hop's `now_ms`, filling
    /// the replies, until all ran or (unless the hop is atomic) the replies pass
    /// [`HOP_REPLY_BUDGET`]. Returns true when a script among them is busy and suspended: its
    /// reply is not complete yet (see [`Hop::execute_more`]).
    pub fn execute(&mut self, shard: &mut Shard) -> bool {
        self.reply.clear();
        self.results.clear();
        self.ends.clear();
        self.execute_more(shard)
    }

    /// Runs on from the first op of this trip that has not run (after a suspended script's
    /// reply was appended to `reply` and its end pushed).
    pub fn execute_more(&mut self, shard: &mut Shard) -> bool {
        let now_ms = self.now_ms;
        let first_op = self.first_op;
        let start = self.ends.len();
        // Only a script that starts while the shard is not busy can suspend.
        let can_suspend = !shard.script_busy;
        let pending = &self.ops[self.first_op as usize..];
        let (data, ranges) = (&self.data, &self.ranges);
        let op_args = |first: u32, argc: u32| {
            crate::cmd::Args::new(data, &ranges[first as usize..(first + argc) as usize])
        };
        let mut plans = [pipeline::prefetch::Plan::default(); pipeline::prefetch::CHUNK];
        for (i, &(op, first, argc)) in pending.iter().enumerate().skip(start) {
            if (i - start) % pipeline::prefetch::CHUNK == 0 {
                let chunk = &pending[i..pending.len().min(i + pipeline::prefetch::CHUNK)];
                // Chunks of client commands only are planned (the server's own ops are rare).
                let plain = chunk
                    .iter()
                    .all(|(op, _, _)| matches!(op, ShardOp::Cmd(_) | ShardOp::Part(_)));
                if plain {
                    pipeline::prefetch::plan_ops(
                        &shard.store,
                        shard.id,
                        chunk.iter().map(|&(op, first, argc)| {
                            let (ShardOp::Cmd(id) | ShardOp::Part(id)) = op else {
                                unreachable!()
                            };
                            (id, op_args(first, argc))
                        }),
                        &mut plans,
                    );
                } else {
                    plans = [pipeline::prefetch::Plan::default(); pipeline::prefetch::CHUNK];
                }
            }
            let args = op_args(first, argc);
            let index = first_op + i as u32;
            shard.caller = cmd::tracking::Caller {
                client: self.client,
                dest: self
                    .track_dest
                    .filter(|_| self.tracked.binary_search(&index).is_ok()),
            };
            match op {
                ShardOp::Cmd(id) | ShardOp::Part(id) => {
                    let known = plans[(i - start) % pipeline::prefetch::CHUNK]
                        .key
                        .and_then(|k| k.hash)
                        .map(|h| (args.get(id.spec().first_key as usize), h));
                    let counted = matches!(op, ShardOp::Cmd(_));
                    with_known_hash(shard, known, |shard| {
                        cmd::run(shard, id, &args, now_ms, counted, &mut self.reply)
                    });
                    if can_suspend && shard.script_busy {
                        return true;
                    }
                }
                ShardOp::BlockOn {
                    client,
                    slot,
                    generation,
                    resp3,
                    wake_only,
                } => {
                    let home = cmd::blocking::Home {
                        core: self.origin as u16,
                        slot,
                        generation,
                    };
                    let r = match self.ticket.as_ref() {
                        Some(t) => block_reply(cmd::blocking::block_on(
                            shard, &args, client, home, t, resp3, wake_only, now_ms,
                        )),
                        None => ShardReply::Count(0),
                    };
                    self.results.push((first_op + i as u32, r));
                }
                other => {
                    let r = run_internal(shard, other, &args, now_ms);
                    self.results.push((first_op + i as u32, r));
                }
            }
            self.ends.push(self.reply.len());
            if self.reply.len() >= HOP_REPLY_BUDGET && !self.atomic {
                break;
            }
        }
        false
    }
}

/// A [`ShardOp::BlockOn`]'s outcome as its reply.
pub fn block_reply(o: cmd::blocking::BlockOutcome) -> ShardReply {
    use cmd::blocking::BlockOutcome::*;
    match o {
        Served(r) => ShardReply::Resp(r),
        Registered => ShardReply::Count(1),
        Retry => ShardReply::Count(2),
        Gone => ShardReply::Count(0),
    }
}

/// Runs one of the server's own ops (or, as `Resp`, a client command) on `sh`.
pub fn run_internal(sh: &mut Shard, op: ShardOp, a: &Args, now: u64) -> ShardReply {
    match op {
        ShardOp::Cmd(id) | ShardOp::Part(id) => {
            let mut out = Out::new(false);
            cmd::run(sh, id, a, now, matches!(op, ShardOp::Cmd(_)), &mut out);
            ShardReply::Resp(out.into_vec())
        }
        ShardOp::Take => {
            let taken = cmd::keys::shard_take(sh, a, now);
            cmd::after_write(sh, &[a.get(1)], now);
            let notify = cmd::notify::flags();
            if taken.is_some() && notify != 0 {
                let g = cmd::notify::GENERIC;
                cmd::notify::emit(sh, notify, g, b"rename_from", a.get(1), now);
            }
            ShardReply::Taken(taken)
        }
        ShardOp::Dump => {
            let v = sh.store.value(a.get(1), now).map(|v| {
                let at = match sh.store.expire_time(a.get(1), now) {
                    crate::store::Ttl::Ms(at) => Some(at),
                    _ => None,
                };
                (crate::persist::rdb::dump(&v), at)
            });
            ShardReply::Taken(v)
        }
        ShardOp::Put { expire_at, copy } => {
            let expire = (expire_at != u64::MAX).then_some(expire_at);
            let Some(value) = crate::persist::rdb::undump(a.get(2)) else {
                return ShardReply::Failed(CmdError::Internal("a moved value did not decode"));
            };
            match sh.store.put(a.get(1), &value, expire, now) {
                Ok(()) => {
                    cmd::after_write(sh, &[a.get(1)], now);
                    let notify = cmd::notify::flags();
                    if notify != 0 {
                        let g = cmd::notify::GENERIC;
                        cmd::notify::emit(
                            sh,
                            notify,
                            g,
                            if copy { b"copy_to" } else { b"rename_to" },
                            a.get(1),
                            now,
                        );
                    }
                    ShardReply::Done
                }
                Err(e) => {
                    let e = CmdError::from(e);
                    sh.stats.count_error(e.code());
                    ShardReply::Failed(e)
                }
            }
        }
        ShardOp::CountExisting => {
            ShardReply::Count(a.iter().skip(1).filter(|k| sh.store.exists(k, now)).count() as u64)
        }
        ShardOp::Fetch => match cmd::sets::fetch(sh, a, now) {
            Ok(m) => ShardReply::Members(m),
            Err(e) => ShardReply::Failed(e),
        },
        ShardOp::SetCheck => match cmd::sets::check(sh, a, now) {
            Ok(found) => ShardReply::Count(found as u64),
            Err(e) => ShardReply::Failed(e),
        },
        ShardOp::SetWrite { step } => match cmd::sets::write_step(sh, step, a, now) {
            Ok(n) => ShardReply::Count(n),
            Err(e) => ShardReply::Failed(e),
        },
        ShardOp::Stats => ShardReply::Stats(Box::new(cmd::server::stats(sh))),
        ShardOp::Clients => ShardReply::Text(cmd::server::client_lines(sh)),
        ShardOp::Kill => ShardReply::Count(cmd::connection::shard_kill(sh, a)),
        ShardOp::BlockOn { .. } => ShardReply::Count(0),
        ShardOp::ZStore => {
            let Some(crate::store::Value::ZSet(items)) = crate::persist::rdb::undump(a.get(2))
            else {
                return ShardReply::Failed(CmdError::Internal("a moved value did not decode"));
            };
            let before = sh.store.changes();
            if let Err(e) = sh.store.zstore(a.get(1), &items, now) {
                return ShardReply::Failed(e.into());
            }
            // The log records the key's new state whole (DEL, then ZADD chunks).
            sh.store.take_effects();
            if sh.store.changes() != before {
                cmd::after_write(sh, &[a.get(1)], now);
                let notify = cmd::notify::flags();
                if notify != 0 {
                    if items.is_empty() {
                        let g = cmd::notify::GENERIC;
                        cmd::notify::emit(sh, notify, g, b"del", a.get(1), now);
                    } else {
                        let z = cmd::notify::ZSET;
                        cmd::notify::emit(sh, notify, z, a.get(3), a.get(1), now);
                    }
                }
            }
            ShardReply::Done
        }
        ShardOp::Unblock { client } => {
            if let Some(id) = CmdId::lookup(a.get(0)) {
                if let Ok(keys) = cmd::blocking::wait_keys(id, a) {
                    sh.blocking.unregister(&keys, client);
                }
            }
            ShardReply::Done
        }
        ShardOp::UnblockClient { client, error } => {
            ShardReply::Count(cmd::blocking::unblock_client(sh, client, error) as u64)
        }
        ShardOp::SnapshotBegin { epoch } => {
            begin_snapshot(sh, epoch);
            ShardReply::Done
        }
        ShardOp::Watch { client } => {
            for key in a.iter().skip(1) {
                let existed = sh.store.exists(key, now);
                sh.watch.add(client, key, existed);
            }
            ShardReply::Done
        }
        ShardOp::CheckWatch { client } => {
            let Shard { watch, store, .. } = sh;
            ShardReply::Changed(watch.check_and_forget(client, |key| store.exists(key, now)))
        }
        ShardOp::Unwatch { client } => {
            sh.watch.forget(client);
            ShardReply::Done
        }
        ShardOp::Publish { shard_channel } => {
            let kind = cmd::pubsub::kind_code(shard_channel);
            ShardReply::Count(sh.pubsub.publish(kind, a.get(1), a.get(2), now))
        }
        ShardOp::MonitorLine => {
            sh.pubsub.monitor_line(a.get(1), now);
            ShardReply::Done
        }
        ShardOp::Invalidate {
            to: 0, all: true, ..
        } => {
            sh.pubsub.invalidate_everyone(now);
            ShardReply::Done
        }
        ShardOp::Invalidate { to, redirect, all } => {
            let key = (!all).then(|| a.get(1));
            sh.pubsub.invalidation(to, redirect, key, now);
            ShardReply::Done
        }
        ShardOp::HasClient { id } => ShardReply::Count(sh.clients.contains_key(&id) as u64),
        ShardOp::TrackPrefixes { client, on: false } => {
            sh.tracking.remove_prefixes(client);
            ShardReply::Done
        }
        ShardOp::TrackPrefixes { client, on } => {
            if let Some(d) = cmd::tracking::Dest::from_args(client, a) {
                let prefixes: Vec<&[u8]> = a.iter().skip(4).collect();
                sh.tracking.set_prefixes(d, &prefixes, on);
            }
            ShardReply::Done
        }
        ShardOp::Pubsub { query } => {
            use cmd::pubsub::{Kind, Query};
            let r = &sh.pubsub;
            let pattern = (a.len() > 2).then(|| a.get(2));
            match Query::from_code(query) {
                Query::Channels => ShardReply::Names(r.channel_names(Kind::Channel, pattern)),
                Query::ShardChannels => ShardReply::Names(r.channel_names(Kind::Shard, pattern)),
                Query::Numpat => ShardReply::Names(r.pattern_names()),
                Query::Numsub => ShardReply::Counts(r.numsub(Kind::Channel, a.iter().skip(2))),
                Query::ShardNumsub => ShardReply::Counts(r.numsub(Kind::Shard, a.iter().skip(2))),
            }
        }
    }
}

/// This shard's store begins snapshot `epoch` (point in time: see `store::snapshot`), and the
/// log starts over from this point once the snapshot is complete (BGREWRITEAOF).
pub fn begin_snapshot(sh: &mut Shard, epoch: u64) {
    if sh.snapshot_begun >= epoch {
        return;
    }
    sh.snapshot_begun = epoch;
    sh.store.snapshot_begin();
    if let Some(log) = sh.aof.as_mut() {
        log.begin_rotation(epoch);
    }
}
