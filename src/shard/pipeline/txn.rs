//! MULTI / EXEC / DISCARD / WATCH / UNWATCH: transactions, atomic across shards.
//!
//! MULTI starts a queue on the connection; every command after it is checked as Redis checks
//! it (unknown name, arity, authentication, commands not allowed in a transaction) and either
//! queued (`+QUEUED`) or rejected, which makes EXEC answer EXECABORT. EXEC then runs the queue
//! as one unit; no other client sees any part of it before all of it:
//!
//! ```text
//!   EXEC, queue on one shard S (or none), nothing watched     -> one atomic hop to S (or inline
//!                                                                on this core): S runs it whole
//!   EXEC, keys on shards {a < b < c} or something watched     -> take a, b, c in that order
//!                                                                (shard::lock), checking WATCH
//!       Acquire a --> a held        (each Acquire also answers: did a watched key change here?)
//!       Acquire b --> b held
//!       Acquire c --> c held        any watched key changed: release all, reply a null array
//!       run the queue: hops tagged with the transaction pass the held shards
//!       Release a, b, c (in one round) --> parked work runs
//! ```
//! Commands without declared keys that read or write the whole keyspace (KEYS, DBSIZE,
//! FLUSHALL, SCAN, RANDOMKEY) take every shard; INFO, CLIENT and keyless commands take none.
//! A runtime error inside EXEC is that command's entry in the reply array; the rest still run.
//!
//! WATCH registers the keys on their shards (`cmd::watch`); the shards holding watched keys
//! join the EXEC's shards, so the check and the commands happen while all of them are held.

use super::prefetch::Plan;
use super::{Flow, Gather, Piece, Pipeline};
use crate::cmd::{self, admit::InMulti, keys, Args, CmdId, Route};
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;
use crate::shard::lock;
use crate::shard::mesh::Ctx;
use crate::shard::slot::key_shard;
use crate::shard::{ClientInfo, LockStep, Shard, ShardOp, ShardReply};
use std::cell::RefCell;

/// The commands queued since MULTI, their arguments copied (the read buffer moves on).
#[derive(Default)]
pub struct Queue {
    pub(super) data: Vec<u8>,
    ranges: Vec<(usize, usize)>,
    /// (command, first range, argument count)
    pub(super) cmds: Vec<(CmdId, u32, u32)>,
    /// A command was rejected while queueing: EXEC answers EXECABORT.
    aborted: bool,
}

impl Queue {
    pub fn len(&self) -> usize {
        self.cmds.len()
    }

    /// Memory the queue holds (CLIENT LIST multi-mem, used_memory, the query buffer limit).
    pub fn bytes(&self) -> usize {
        self.data.capacity()
            + self.ranges.capacity() * std::mem::size_of::<(usize, usize)>()
            + self.cmds.capacity() * std::mem::size_of::<(CmdId, u32, u32)>()
    }

    /// Whether the queue can run in one ordered pass that carries each shard's commands with
    /// its acquisition (`Pipeline::run_held`): no command needs dependent steps across shards.
    fn one_pass(&self, shards: usize) -> bool {
        self.cmds.iter().enumerate().all(|(i, &(id, _, _))| {
            if id.spec().route != Route::Barrier {
                return true;
            }
            let args = Args::new(&self.data, self.ranges_of(i));
            let mut first = None;
            let mut same = true;
            cmd::for_each_key(id, &args, |k| {
                let s = key_shard(k, shards);
                same &= *first.get_or_insert(s) == s;
            });
            same
        })
    }

    pub(super) fn push(&mut self, id: CmdId, args: &Args) {
        let first = self.ranges.len() as u32;
        for a in args.iter() {
            let start = self.data.len();
            self.data.extend_from_slice(a);
            self.ranges.push((start, self.data.len()));
        }
        self.cmds.push((id, first, args.len() as u32));
    }

    pub(super) fn ranges_of(&self, i: usize) -> &[(usize, usize)] {
        let (_, first, argc) = self.cmds[i];
        &self.ranges[first as usize..(first + argc) as usize]
    }

    /// The shards where the queued commands write, ascending.
    pub(super) fn writers(&self, shards: usize) -> Vec<u16> {
        let mut out = Vec::new();
        for (i, &(id, _, _)) in self.cmds.iter().enumerate() {
            // A script may write (its flags cannot tell); a read-only one cannot.
            let spec = id.spec();
            if spec.flags & cmd::flags::WRITE == 0
                && (spec.route != Route::Script || spec.flags & cmd::flags::READONLY != 0)
            {
                continue;
            }
            let args = Args::new(&self.data, self.ranges_of(i));
            match id.spec().route {
                Route::All(_) => out.extend(0..shards as u16),
                _ => cmd::for_each_key(id, &args, |k| out.push(key_shard(k, shards) as u16)),
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The shards whose keys the queued commands read or write, ascending.
    pub(super) fn shards(&self, shards: usize) -> Vec<u16> {
        let mut out = Vec::new();
        for (i, &(id, _, _)) in self.cmds.iter().enumerate() {
            let args = Args::new(&self.data, self.ranges_of(i));
            let spec = id.spec();
            match spec.route {
                Route::Key | Route::Multi { .. } | Route::Barrier | Route::Script => {
                    cmd::for_each_key(id, &args, |k| out.push(key_shard(k, shards) as u16))
                }
                Route::All(Gather::Info | Gather::ConcatText) | Route::Local | Route::Conn => {}
                Route::All(_) => out.extend(0..shards as u16),
                Route::Scan => {
                    if let Ok(c) = keys::parse_cursor(args.get(1)) {
                        out.push(keys::scan_cursor_shard(c, shards) as u16);
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

impl Pipeline {
    /// Inside MULTI: handles `id` the way Redis does there (queue it, or run it now for the
    /// transaction commands and QUIT). Returns `None` when the command runs normally.
    pub(super) fn queue(
        &mut self,
        ctx: &Ctx,
        sh: &mut Shard,
        client: &RefCell<ClientInfo>,
        id: CmdId,
        args: &Args,
        now: u64,
        out: &mut Out,
    ) -> Option<Flow> {
        match cmd::admit::in_multi(id) {
            InMulti::Exec => return Some(Flow::Exec),
            InMulti::RunNow => return None,
            InMulti::Discard => {
                sh.stats.calls[id as usize] += 1;
                self.end_multi(client);
                let client_id = client.borrow().id;
                self.drop_watches_reply(ctx, sh, client_id, Gather::AllOk, 0, out);
                return Some(Flow::Continue);
            }
            InMulti::Refuse(e) => self.local_result(sh, Some(id), Err(e), out),
            InMulti::Abort(e) => return Some(self.reject(sh, client, id, e, out)),
            InMulti::Queue => {
                // Like Redis: over maxmemory nothing is queued (the queue would grow without
                // bound), and the transaction is flagged to abort.
                let admission = sh.store.evict_for_write(now);
                cmd::effects::after_evictions(sh, now);
                if admission == crate::store::WriteAdmission::OutOfMemory {
                    return Some(self.reject(sh, client, id, CmdError::OutOfMemory, out));
                }
                let q = self.multi.as_mut().expect("in MULTI");
                q.push(id, args);
                // The queue counts against the client's query buffer limit, as the commands
                // would if they were still unread: past it the client is closed.
                let limit = crate::config::RUNTIME
                    .query_buffer_limit
                    .load(std::sync::atomic::Ordering::Relaxed);
                if q.bytes() as u64 > limit {
                    eprintln!(
                        "corekv: closing client {}: MULTI queue over the query buffer limit ({limit} bytes)",
                        client.borrow().id
                    );
                    self.end_multi(client);
                    return Some(Flow::Close);
                }
                let n = q.cmds.len() as u32;
                client.borrow_mut().multi = Some(n);
                self.local_result(sh, None, Ok(b"+QUEUED\r\n"), out);
            }
        }
        Some(Flow::Continue)
    }

    /// A command was rejected inside MULTI: EXEC will answer EXECABORT.
    pub(super) fn flag_multi(&mut self) {
        if let Some(q) = self.multi.as_mut() {
            q.aborted = true;
        }
    }

    pub(super) fn end_multi(&mut self, client: &RefCell<ClientInfo>) {
        self.multi = None;
        client.borrow_mut().multi = None;
    }

    /// WATCH key...: registers the keys on their shards.
    pub(super) fn watch(
        &mut self,
        ctx: &Ctx,
        sh: &mut Shard,
        client: &RefCell<ClientInfo>,
        args: &Args,
        now: u64,
    ) {
        sh.stats.calls[CmdId::Watch as usize] += 1;
        let op = ShardOp::Watch {
            client: client.borrow().id,
        };
        let shards: Vec<u16> = (1..args.len())
            .map(|i| key_shard(args.get(i), self.shards) as u16)
            .collect();
        self.deferred = true;
        let parts_start = self.parts.len() as u32;
        let mut picks = Vec::with_capacity(args.len());
        for (k, &s) in shards.iter().enumerate() {
            if shards[..k].contains(&s) {
                continue;
            }
            picks.clear();
            picks.push(0);
            picks.extend((k..shards.len()).filter(|&j| shards[j] == s).map(|j| j + 1));
            let i = self.part(ctx, sh, s as usize, op, args, &picks, now);
            self.parts.push((s, i));
            if let Err(at) = self.watched.binary_search(&s) {
                self.watched.insert(at, s);
            }
        }
        self.pieces.push(Piece::Gather {
            kind: Gather::AllOk,
            parts: (parts_start, self.parts.len() as u32),
            order: (0, 0),
            info: 0,
        });
    }

    /// UNWATCH: forgets every watched key.
    pub(super) fn unwatch(
        &mut self,
        ctx: &Ctx,
        sh: &mut Shard,
        client: &RefCell<ClientInfo>,
        now: u64,
        out: &mut Out,
    ) {
        sh.stats.calls[CmdId::Unwatch as usize] += 1;
        let client_id = client.borrow().id;
        self.drop_watches_reply(ctx, sh, client_id, Gather::AllOk, now, out);
    }

    /// Forgets the connection's watches on every shard, as part of the batch; replies +OK
    /// (`kind` AllOk) or +RESET (`kind` Reset).
    pub(super) fn drop_watches_reply(
        &mut self,
        ctx: &Ctx,
        sh: &mut Shard,
        client_id: u64,
        kind: Gather,
        now: u64,
        out: &mut Out,
    ) {
        if self.watched.is_empty() {
            let text: &[u8] = if kind == Gather::Reset {
                b"+RESET\r\n"
            } else {
                b"+OK\r\n"
            };
            return self.local_result(sh, None, Ok(text), out);
        }
        self.deferred = true;
        let parts_start = self.parts.len() as u32;
        let op = ShardOp::Unwatch { client: client_id };
        for s in std::mem::take(&mut self.watched) {
            let i = if s as usize == self.me && !self.local_as_hop {
                self.run_deferred(sh, op, &Args::new(&[], &[(0, 0)]), now)
            } else {
                self.remote(ctx, s as usize, now)
                    .push(op, std::iter::once(&b""[..]))
            };
            self.parts.push((s, i));
        }
        self.pieces.push(Piece::Gather {
            kind,
            parts: (parts_start, self.parts.len() as u32),
            order: (0, 0),
            info: 0,
        });
    }

    /// The connection closes: forgets its watches everywhere (nothing is left behind).
    pub async fn close(&mut self, ctx: &Ctx, client_id: u64) {
        self.multi = None;
        if self.watched.is_empty() {
            return;
        }
        let shards = std::mem::take(&mut self.watched);
        let op = ShardOp::Unwatch { client: client_id };
        self.on_shards(
            ctx,
            &shards,
            0,
            LockStep::None,
            Some(op),
            crate::cmd::server::now_ms(),
        )
        .await;
    }

    /// EXEC: runs the queued commands as one atomic unit (see the module docs).
    pub async fn exec(&mut self, ctx: &Ctx, client: &RefCell<ClientInfo>, now: u64, out: &mut Out) {
        let q = self.multi.take().unwrap_or_default();
        let client_id = client.borrow().id;
        ctx.shard.borrow_mut().stats.calls[CmdId::Exec as usize] += 1;
        if q.aborted {
            client.borrow_mut().multi = None;
            let watched = std::mem::take(&mut self.watched);
            let op = ShardOp::Unwatch { client: client_id };
            self.on_shards(ctx, &watched, 0, LockStep::None, Some(op), now)
                .await;
            let mut sh = ctx.shard.borrow_mut();
            sh.stats.failed[CmdId::Exec as usize] += 1;
            return cmd::write_error(&mut sh, &CmdError::ExecAbort, out);
        }
        let mut shards = q.shards(self.shards);
        if shards.len() <= 1 && self.watched.is_empty() {
            // One shard or none: one atomic hop, or inline here once no transaction holds us.
            let txn = ctx.lock.new_txn(self.me);
            if shards.first().is_none_or(|&s| s as usize == self.me) {
                let turn = lock::turn(ctx, 0).await;
                self.wal_begin(ctx, txn, |n| q.writers(n), true);
                self.wal.end_local_after_planning = true;
                self.txn = if self.wal.writers.is_empty() { 0 } else { txn };
                self.atomic = true;
                self.run_queue(ctx, client, &q, now, out).await;
                self.atomic = false;
                drop(turn);
            } else {
                self.wal_begin(ctx, txn, |n| q.writers(n), false);
                self.txn = if self.wal.writers.is_empty() { 0 } else { txn };
                self.atomic = true;
                self.run_queue(ctx, client, &q, now, out).await;
                self.atomic = false;
            }
            self.txn = 0;
            self.wal_clear();
        } else if self.watched.is_empty() && q.one_pass(self.shards) {
            self.run_held(ctx, client, &q, &shards, true, now, out)
                .await;
        } else {
            shards.extend_from_slice(&self.watched);
            shards.sort_unstable();
            shards.dedup();
            let txn = ctx.lock.new_txn(self.me);
            let dirty = self.acquire(ctx, txn, &shards, Some(client_id), now).await;
            self.watched.clear();
            if dirty {
                reply::null_array(out);
            } else {
                self.wal_begin(ctx, txn, |n| q.writers(n), true);
                self.txn = txn;
                self.atomic = true;
                self.run_queue(ctx, client, &q, now, out).await;
                self.atomic = false;
                self.txn = 0;
            }
            self.release(ctx, txn, &shards, now).await;
            self.wal_clear();
        }
        client.borrow_mut().multi = None;
        // MONITOR shows EXEC after the commands it ran, as Redis does.
        if cmd::pubsub::monitoring() {
            let who = client.borrow().addr.clone();
            let (data, ranges) = super::owned_args(&[b"EXEC"]);
            let mut sh = ctx.shard.borrow_mut();
            cmd::monitor::feed(&mut sh, CmdId::Exec, &Args::new(&data, &ranges), &who, now);
        }
    }

    /// Runs the queue through the normal planning (so gathers, barriers and local commands
    /// behave as outside MULTI), under the reply array's header.
    async fn run_queue(
        &mut self,
        ctx: &Ctx,
        client: &RefCell<ClientInfo>,
        q: &Queue,
        now: u64,
        out: &mut Out,
    ) {
        reply::array(out, q.cmds.len());
        self.in_exec = true;
        for (i, &(id, _, _)) in q.cmds.iter().enumerate() {
            let ranges = q.ranges_of(i);
            let plan = Plan {
                id: Some(id),
                key: None,
            };
            if self.command(ctx, client, &q.data, ranges, plan, now, out) == Flow::Barrier {
                self.flush_whole(ctx, out).await;
                self.barrier(ctx, &Args::new(&q.data, ranges), now, out)
                    .await;
            }
        }
        self.in_exec = false;
        if std::mem::take(&mut self.wal.end_local_after_planning) {
            // A transaction holding nothing: this core's part ran inline, all of it above.
            let txn = self.txn;
            self.wal_end_local(ctx, txn);
        }
        self.flush_whole(ctx, out).await;
    }

    /// Runs what [`Pipeline::command`] asked for when it returned [`Flow::Barrier`],
    /// [`Flow::Exec`], [`Flow::Atomic`] (opens a held group) or [`Flow::EndGroup`] (runs it;
    /// then the caller plans the same command again). Nothing for the other flows. Call it
    /// once everything pending is flushed; the connection loop and the in-process tests do.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish(
        &mut self,
        flow: Flow,
        ctx: &Ctx,
        client: &RefCell<ClientInfo>,
        buf: &[u8],
        ranges: &[(usize, usize)],
        now: u64,
        out: &mut Out,
    ) {
        match flow {
            Flow::Barrier => self.barrier(ctx, &Args::new(buf, ranges), now, out).await,
            Flow::Exec => self.exec(ctx, client, now, out).await,
            Flow::Atomic => {
                let mut q = Queue::default();
                q.push(
                    CmdId::lookup(Args::new(buf, ranges).get(0)).expect("a known command"),
                    &Args::new(buf, ranges),
                );
                self.group = Some(q);
            }
            Flow::EndGroup => self.run_group(ctx, client, now, out).await,
            Flow::Script => self.drive_script(ctx, out).await,
            Flow::CrossScript => {
                self.cross_script(ctx, &Args::new(buf, ranges), now, out)
                    .await
            }
            Flow::Block => {
                let args = Args::new(buf, ranges);
                self.block(ctx, &args, now, out, std::future::pending())
                    .await
            }
            Flow::Continue | Flow::Close => {}
        }
    }

    /// Flushes until every pending reply is in `out` (atomic hops never stop early).
    pub(super) async fn flush_whole(&mut self, ctx: &Ctx, out: &mut Out) {
        while !self.flush(ctx, out).await {
            glommio::yield_if_needed().await;
        }
    }

    /// Holds `shards` (ascending) for `txn`, one after the other; for EXEC (`watcher` is the
    /// client), checks the keys it watches on each. Returns whether a watched key changed.
    pub(super) async fn acquire(
        &mut self,
        ctx: &Ctx,
        txn: u64,
        shards: &[u16],
        watcher: Option<u64>,
        now: u64,
    ) -> bool {
        let mut dirty = false;
        let client_id = watcher.unwrap_or(0);
        for &s in shards {
            let check = watcher.is_some() && self.watched.binary_search(&s).is_ok();
            if s as usize == self.me {
                ctx.lock.acquire(txn, false).await;
                if self.wal.writers.contains(&s) {
                    if let Some(log) = ctx.shard.borrow_mut().aof.as_mut() {
                        log.begin_txn(txn);
                    }
                }
                if check {
                    let mut sh = ctx.shard.borrow_mut();
                    let Shard { watch, store, .. } = &mut *sh;
                    dirty |= watch.check_and_forget(client_id, |k| store.exists(k, now));
                }
                continue;
            }
            let op = check.then_some(ShardOp::CheckWatch { client: client_id });
            let replies = self
                .on_shards(ctx, &[s], txn, LockStep::Acquire, op, now)
                .await;
            dirty |= check && !matches!(replies.first(), Some(Some(ShardReply::Changed(false))));
        }
        dirty
    }

    /// Frees `shards` from `txn`: the remote ones in one round, then this core's.
    pub(super) async fn release(&mut self, ctx: &Ctx, txn: u64, shards: &[u16], now: u64) {
        self.on_shards(ctx, shards, txn, LockStep::Release, None, now)
            .await;
        if shards.iter().any(|&s| s as usize == self.me) {
            self.wal_end_local(ctx, txn);
            lock::release_local(ctx, txn, false).await;
        }
    }

    /// Sends one hop to each of `shards` but this core (with `op`, if any, as its only op),
    /// waits for all of them and returns their op results in order (`None` for a shard that
    /// had no op or could not be reached).
    pub(super) async fn on_shards(
        &mut self,
        ctx: &Ctx,
        shards: &[u16],
        txn: u64,
        step: LockStep,
        op: Option<ShardOp>,
        now: u64,
    ) -> Vec<Option<ShardReply>> {
        let mut expected = 0;
        for &s in shards {
            if s as usize == self.me {
                if let Some(op) = op.filter(|_| step == LockStep::None) {
                    let mut sh = ctx.shard.borrow_mut();
                    crate::shard::hop::run_internal(&mut sh, op, &Args::new(&[], &[(0, 0)]), now);
                }
                continue;
            }
            let mut hop = ctx.hop(self.waiter);
            hop.now_ms = now;
            hop.txn = txn;
            hop.lock = step;
            hop.dest = s as usize;
            hop.wal_writers.clone_from(&self.wal.writers);
            hop.wal_epoch = self.wal.epoch;
            if let Some(op) = op {
                hop.push(op, std::iter::once(&b""[..]));
            }
            if ctx.send(s as usize, hop).await {
                expected += 1;
            }
        }
        if expected > 0 {
            ctx.wait(self.waiter, expected, &mut self.back).await;
        }
        let mut replies: Vec<Option<ShardReply>> = shards.iter().map(|_| None).collect();
        for mut hop in self.back.drain(..) {
            if let Some(k) = shards.iter().position(|&s| s as usize == hop.dest) {
                if op.is_some() && hop.op_done(0) {
                    replies[k] = hop.take_result(0);
                }
            }
            ctx.recycle(hop);
        }
        replies
    }
}
