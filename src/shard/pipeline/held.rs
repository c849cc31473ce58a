//! Held runs: work that spans shards, run in one ordered pass while holding them, and its
//! parts in the append-only logs.
//!
//! ```text
//!   plan every command first: each shard's ops go into its hop (this core's too)
//!   for each shard, ascending:  Acquire + its ops   (the last one: Once = acquire, run, let go)
//!                               this core: take the lock in turn, run its hop
//!   write the replies in order, then let go of the held shards (without waiting, unless
//!   `appendfsync always` must see every part durable first)
//! ```
//! Every part runs while its shard is held and all are held once the last is taken, so the
//! whole is atomic; two shards cost one round trip. A run that only reads holds its shards
//! shared with other readers. Used by EXEC (no WATCH, no dependent cross-shard steps) and by
//! multi-key commands spanning shards, which open a group that the batch's following commands
//! join (`Flow::Atomic`).

use super::prefetch::Plan;
use super::txn::Queue;
use super::{Flow, Pipeline};
use crate::cmd::{self, Args, CmdId, Route};
use crate::resp::reply;
use crate::resp::reply::Out;
use crate::shard::lock;
use crate::shard::mesh::Ctx;
use crate::shard::{ClientInfo, LockStep};
use std::cell::RefCell;

/// With the append-only log on: the shards where the running transaction writes (each logs
/// its part as one record, see `persist::txnlog`) and the snapshot epoch it started in.
#[derive(Default)]
pub struct Wal {
    pub writers: Vec<u16>,
    pub epoch: u64,
    /// This core's part ends when its planning does (a transaction holding nothing).
    pub(super) end_local_after_planning: bool,
}

impl Pipeline {
    /// The batch's commands from one that spans shards on (`Flow::Atomic`) collect here
    /// while they can join: they then run together, holding their shards, in one ordered pass
    /// ([`Pipeline::run_group`]). Commands the connection runs itself, barriers and anything
    /// that must be rejected end the group instead.
    pub(super) fn join_group(
        &mut self,
        client: &RefCell<ClientInfo>,
        id: Option<CmdId>,
        args: &Args,
    ) -> Flow {
        let Some(id) = id else {
            return Flow::EndGroup;
        };
        let spec = id.spec();
        let joins = id.arity_ok(args.len())
            && !matches!(spec.route, Route::Conn | Route::Barrier)
            && (spec.flags & cmd::flags::NO_AUTH != 0 || client.borrow().authenticated);
        if !joins {
            return Flow::EndGroup;
        }
        client.borrow_mut().last_cmd = spec.name;
        self.group.as_mut().expect("a group is open").push(id, args);
        Flow::Continue
    }

    /// Runs the open held group, if any; its replies go into `out` in order.
    pub async fn run_group(
        &mut self,
        ctx: &Ctx,
        client: &RefCell<ClientInfo>,
        now: u64,
        out: &mut Out,
    ) {
        let Some(q) = self.group.take() else {
            return;
        };
        let shards = q.shards(self.shards);
        self.run_held(ctx, client, &q, &shards, false, now, out)
            .await;
    }

    /// Runs `q` holding `shards` (ascending), in one pass: the commands are planned first with
    /// every shard's ops collected in its hop (this core's too); then each shard in order is
    /// taken and runs its ops in the same step (the last remote one is also let go in that
    /// step); this core's share runs when its turn comes. Every part runs while its shard is
    /// held and all are held when the last is taken, so the whole is atomic; for two shards it
    /// costs one round trip. Then the replies are written in order and the shards let go
    /// (the remote ones without waiting).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_held(
        &mut self,
        ctx: &Ctx,
        client: &RefCell<ClientInfo>,
        q: &Queue,
        shards: &[u16],
        header: bool,
        now: u64,
        out: &mut Out,
    ) {
        let txn = ctx.lock.new_txn(self.me);
        // A run that only reads holds its shards shared with other readers.
        let shared = q
            .cmds
            .iter()
            .all(|&(id, _, _)| id.spec().flags & cmd::flags::WRITE == 0);
        self.wal_begin(ctx, txn, |n| q.writers(n), false);
        self.txn = txn;
        self.atomic = true;
        self.local_as_hop = true;
        self.deferred = true;
        if header {
            reply::array(out, q.cmds.len());
        }
        for (i, &(id, _, _)) in q.cmds.iter().enumerate() {
            let plan = Plan {
                id: Some(id),
                key: None,
            };
            let flow = self.command(ctx, client, &q.data, q.ranges_of(i), plan, now, out);
            debug_assert!(matches!(flow, Flow::Continue | Flow::Close), "{flow:?}");
        }
        let last = shards.last().copied();
        let mut held = Vec::with_capacity(shards.len());
        for &s in shards {
            let s = s as usize;
            let mut hop = self.outgoing[s]
                .take()
                .unwrap_or_else(|| ctx.hop(self.waiter));
            hop.reply.set_resp3(self.resp3());
            hop.txn = txn;
            hop.atomic = true;
            hop.shared = shared;
            hop.now_ms = now;
            hop.dest = s;
            if s == self.me {
                ctx.lock.acquire(txn, shared).await;
                if self.wal.writers.contains(&(s as u16)) {
                    if let Some(log) = ctx.shard.borrow_mut().aof.as_mut() {
                        log.begin_txn(txn);
                    }
                }
                hop.execute(&mut ctx.shard.borrow_mut());
                self.by_shard[s] = Some(hop);
                held.push(s);
                continue;
            }
            hop.lock = if Some(s as u16) == last {
                LockStep::Once
            } else {
                LockStep::Acquire
            };
            if !ctx.send(s, hop).await {
                continue;
            }
            if Some(s as u16) != last {
                held.push(s);
            }
            ctx.wait(self.waiter, 1, &mut self.back).await;
            if let Some(hop) = self.back.pop() {
                self.by_shard[s] = Some(hop);
            }
        }
        // This core's keyless commands (PING, ECHO, CONFIG...) when it holds no key here.
        if let Some(mut hop) = self.outgoing[self.me].take() {
            hop.execute(&mut ctx.shard.borrow_mut());
            self.by_shard[self.me] = Some(hop);
        }
        // Parts on shards outside the transaction (INFO, CLIENT LIST) go out with the flush:
        // keyless, admitted even where another transaction holds a shard, so waiting for them
        // cannot deadlock.
        self.flush_whole(ctx, out).await;
        self.atomic = false;
        self.txn = 0;
        let wait = self.wait_releases();
        let mut expected = 0;
        for s in held {
            if s == self.me {
                self.wal_end_local(ctx, txn);
                lock::release_local(ctx, txn, shared).await;
            } else {
                let mut hop = ctx.hop(self.waiter);
                hop.txn = txn;
                hop.shared = shared;
                hop.lock = LockStep::Release;
                hop.dest = s;
                hop.wal_writers.clone_from(&self.wal.writers);
                hop.wal_epoch = self.wal.epoch;
                if !wait {
                    hop.waiter = crate::shard::mesh::NO_WAITER;
                }
                if ctx.send(s, hop).await && wait {
                    expected += 1;
                }
            }
        }
        if expected > 0 {
            // `appendfsync always`: each shard answers once its part is durable.
            ctx.wait(self.waiter, expected, &mut self.back).await;
            for hop in self.back.drain(..) {
                ctx.recycle(hop);
            }
        }
        self.wal_clear();
    }
}

impl Pipeline {
    /// Starts logging transaction `txn` of `q` as parts (when the log is on and it writes).
    pub(super) fn wal_begin(
        &mut self,
        ctx: &Ctx,
        txn: u64,
        writers: impl FnOnce(usize) -> Vec<u16>,
        local_now: bool,
    ) {
        if !crate::config::RUNTIME
            .appendonly
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let writers = writers(self.shards);
        if writers.is_empty() {
            return;
        }
        self.wal.writers = writers;
        self.wal.epoch = crate::persist::snapshot::epoch();
        if local_now && self.wal.writers.contains(&(self.me as u16)) {
            if let Some(log) = ctx.shard.borrow_mut().aof.as_mut() {
                log.begin_txn(txn);
            }
        }
    }

    /// This core's part of `txn` is done: logged as one record.
    pub(super) fn wal_end_local(&mut self, ctx: &Ctx, txn: u64) {
        if self.wal.writers.contains(&(self.me as u16)) {
            if let Some(log) = ctx.shard.borrow_mut().aof.as_mut() {
                log.end_txn(txn, &self.wal.writers, self.wal.epoch);
            }
        }
    }

    pub(super) fn wal_clear(&mut self) {
        self.wal.writers.clear();
        self.wal.end_local_after_planning = false;
    }

    /// With `appendfsync always`, a transaction's reply waits until every part is durable, so
    /// its releases are waited for (each shard answers once its part is durable).
    pub(super) fn wait_releases(&self) -> bool {
        !self.wal.writers.is_empty() && crate::config::RUNTIME.appendfsync_name() == "always"
    }
}
