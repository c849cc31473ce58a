//! A connection's batch of commands: route, run, gather, in order.
//!
//! For every parsed command the connection calls [`Pipeline::command`], synchronously:
//! - a command for this core's keys runs inline at once. While nothing is waiting on another
//!   core its reply goes straight into the output buffer (the all-local fast path: no copy);
//! - a command for another core's keys is appended to that core's [`Hop`] (one per destination
//!   per batch) and a placeholder [`Piece`] keeps its place in the reply order;
//! - a multi-key command whose keys span cores is split into parts, one per core, each being the
//!   same command on that core's keys; an all-shard command gets a part on every core. Once all
//!   parts are back they are combined ([`Gather`]) into the one reply Redis would give.
//!
//! Then [`Pipeline::flush`] sends the hops, waits for all of them, and writes every deferred
//! reply into the output buffer in command order. Each core runs its ops in the order they were
//! planned and channels are FIFO, so commands on one key always run in the client's order.
//!
//! A cross-shard RENAME needs two dependent steps (take the value, then store it), so it is a
//! barrier: everything before it is flushed, it runs alone (holding its shards, see
//! `shard::lock`), and planning resumes after it. MULTI queues commands and EXEC runs them
//! atomically (see `txn`). Commands on every shard are in `broadcast`; the subscribe family,
//! PUBLISH and RESP2's subscribed mode in `subscribe`.

mod barrier;
mod block;
pub use block::serve as serve_blocked;
mod broadcast;
mod conn_cmds;
mod gather;
mod held;
pub mod prefetch;
mod script;
mod subscribe;
mod track;
mod txn;

pub use barrier::{snapshot_cut, start_snapshot};

use super::mesh::Ctx;
use super::slot::key_shard;
use super::{hop, with_known_hash, ClientInfo, Hop, Shard, ShardOp, ShardReply};
use crate::cmd::{self, admit::Admission, Args, CmdId, Gather, Route};
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;
use gather::{gather, Part};
use prefetch::Plan;

/// Arguments built by the server itself (internal parts, barrier steps), laid out like parsed
/// ones: bytes back to back and their ranges.
fn owned_args<T: AsRef<[u8]>>(parts: &[T]) -> (Vec<u8>, Vec<(usize, usize)>) {
    let mut data = Vec::new();
    let mut ranges = Vec::with_capacity(parts.len());
    for p in parts {
        let start = data.len();
        data.extend_from_slice(p.as_ref());
        ranges.push((start, data.len()));
    }
    (data, ranges)
}

/// Capacity of the deferred-local reply buffer kept between batches.
const LOCAL_KEEP_CAPACITY: usize = 64 * 1024;

/// Where one command's reply will come from.
enum Piece {
    /// One op's reply on one shard.
    One { shard: u16, op: u32 },
    /// Parts `parts[a..b]` combined by `kind`; for `Elements`, `order[c..d]` gives the shard of
    /// each key in argument order.
    Gather {
        kind: Gather,
        parts: (u32, u32),
        order: (u32, u32),
        info: u32,
    },
}

/// What the connection does after planning a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Reply written; close the connection after writing the output (QUIT).
    Close,
    /// Flush, then run this command with [`Pipeline::barrier`].
    Barrier,
    /// Flush, then run the transaction with [`Pipeline::exec`].
    Exec,
    /// Flush, then start a held group with this multi-shard command ([`Pipeline::finish`]):
    /// it and the batch's following commands run together, holding their shards.
    Atomic,
    /// A held group is open and this command cannot join it: run the group
    /// ([`Pipeline::run_group`]), then plan this command again.
    EndGroup,
    /// A script that ran here is busy and suspended: drive it to its end
    /// ([`Pipeline::drive_script`]) before anything else of this connection.
    Script,
    /// Flush, then run this script across the shards of its keys (`script`).
    CrossScript,
    /// Flush, then run this blocking command with [`Pipeline::block`]: it may wait.
    Block,
}

/// The shard id of a piece whose reply was produced on the connection while the local shard's
/// ops are collected in a hop (see `Pipeline::local_as_hop`).
const READY: u16 = u16::MAX;

pub struct Pipeline {
    me: usize,
    shards: usize,
    waiter: u32,
    deferred: bool,
    outgoing: Vec<Option<Box<Hop>>>,
    /// Replies of ops run on this core while others are pending (uses `reply` and `ends` only).
    local: Hop,
    pieces: Vec<Piece>,
    /// Pieces before this one are already in the output (a flush can stop early).
    next_piece: usize,
    parts: Vec<(u16, u32)>,
    order: Vec<u16>,
    back: Vec<Box<Hop>>,
    by_shard: Vec<Option<Box<Hop>>>,
    scratch_ranges: Vec<(usize, usize)>,
    key_shards: Vec<u16>,
    /// The transaction whose shards this connection holds (0: none); its hops pass them.
    txn: u64,
    /// Hops run whole, ignoring the reply budget (while EXEC runs).
    atomic: bool,
    /// Commands queued since MULTI.
    multi: Option<txn::Queue>,
    /// Shards where this connection has watched keys, ascending.
    watched: Vec<u16>,
    /// This core's ops are collected in `outgoing[me]` instead of running at once (a held run:
    /// they run when the transaction holds this shard, in its turn).
    local_as_hop: bool,
    /// A held group: commands of the batch collected to run together (see `Flow::Atomic`).
    group: Option<txn::Queue>,
    /// With the log on, the running transaction's writer shards (see `persist::txnlog`).
    wal: held::Wal,
    /// HELLO 3 switched this connection to RESP3.
    resp3: bool,
    /// This connection's subscriptions and waiting messages, from its first SUBSCRIBE on.
    sub: Option<std::rc::Rc<crate::cmd::pubsub::Subscriber>>,
    /// CLIENT TRACKING (see `track`): the settings, this connection's id, whether the command
    /// being planned has its reads tracked, the REDIRECT client's core (`u16::MAX`: unknown),
    /// and BCAST prefixes to remove from every shard at close.
    track: cmd::tracking::Settings,
    client_id: u64,
    track_op: bool,
    redirect_core: u16,
    bcast_left: bool,
    caching_used: bool,
    /// The REDIRECT client found on another core by the barrier step (see `track`).
    redirect_resolved: Option<u64>,
    client_fd: i32,
    /// EXEC is running the queue: a blocking command runs once, never blocks.
    in_exec: bool,
}

impl Pipeline {
    pub fn new(ctx: &Ctx, waiter: u32) -> Self {
        Pipeline {
            me: ctx.id,
            shards: ctx.shards,
            waiter,
            deferred: false,
            outgoing: (0..ctx.shards).map(|_| None).collect(),
            local: Hop::default(),
            pieces: Vec::new(),
            next_piece: 0,
            parts: Vec::new(),
            order: Vec::new(),
            back: Vec::new(),
            by_shard: (0..ctx.shards).map(|_| None).collect(),
            scratch_ranges: Vec::new(),
            key_shards: Vec::new(),
            txn: 0,
            atomic: false,
            multi: None,
            watched: Vec::new(),
            local_as_hop: false,
            group: None,
            wal: held::Wal::default(),
            resp3: false,
            sub: None,
            track: Default::default(),
            client_id: 0,
            track_op: false,
            redirect_core: u16::MAX,
            bcast_left: false,
            caching_used: false,
            redirect_resolved: None,
            client_fd: -1,
            in_exec: false,
        }
    }

    /// Memory held by this connection's MULTI queue.
    pub fn queued_bytes(&self) -> usize {
        self.multi.as_ref().map_or(0, txn::Queue::bytes)
    }

    /// The transaction this connection's work belongs to (0: none).
    pub fn txn(&self) -> u64 {
        self.txn
    }

    /// Bytes of replies held for commands not yet written (run here while others are pending).
    pub fn pending_bytes(&self) -> usize {
        self.local.reply.len()
    }

    /// Commands whose replies are not in the output buffer yet.
    pub fn pending_ops(&self) -> usize {
        self.pieces.len() - self.next_piece + self.group.as_ref().map_or(0, txn::Queue::len)
    }

    /// Routes and (for this core's keys) runs one command whose arguments are `ranges` of `buf`,
    /// with what planning learned about it (`plan`: the command, its key's shard and hash).
    #[allow(clippy::too_many_arguments)]
    pub fn command(
        &mut self,
        ctx: &Ctx,
        client: &std::cell::RefCell<ClientInfo>,
        buf: &[u8],
        ranges: &[(usize, usize)],
        plan: Plan,
        now: u64,
        out: &mut Out,
    ) -> Flow {
        let mut sh = ctx.shard.borrow_mut();
        let sh = &mut *sh;
        let args = Args::new(buf, ranges);
        if self.group.is_some() {
            return self.join_group(client, plan.id, &args);
        }
        let authenticated = {
            let mut c = client.borrow_mut();
            if let Some(id) = plan.id {
                c.last_cmd = id.spec().name;
            }
            self.client_id = c.id;
            self.client_fd = c.fd;
            c.authenticated
        };
        let id = match cmd::admit::admit(plan.id, &args, authenticated) {
            Admission::Run(id) => id,
            Admission::Reject(Some(id), e) => return self.reject(sh, client, id, e, out),
            Admission::Reject(None, e) => {
                self.local_result(sh, None, Err(e), out);
                self.flag_multi();
                return Flow::Continue;
            }
        };
        let spec = id.spec();
        if let Some(e) = self.subscribed_mode_refuses(id, &args) {
            return self.reject(sh, client, id, e, out);
        }
        if id == CmdId::Ping {
            if let Some(pong) = self.subscribed_ping(&args) {
                self.local_result(sh, Some(id), Ok(&pong), out);
                return Flow::Continue;
            }
        }
        if sh.script_busy && !cmd::script::allowed_while_busy(id, &args, sh.busy_function) {
            let e = cmd::script::busy_error(sh);
            return self.reject(sh, client, id, e, out);
        }
        // CLIENT TRACKING: who runs this command and whether its reads are tracked.
        if self.track.on {
            let caching = id == CmdId::Client && cmd::args::eq_ic(args.get(1), "caching");
            self.set_caller(sh, self.client_id, caching);
        } else if sh.caller.client != 0 || sh.caller.dest.is_some() {
            sh.caller = cmd::tracking::Caller::default();
        }
        // MONITOR: the command's line (queued commands show when EXEC runs them).
        if cmd::pubsub::monitoring() && self.multi.is_none() && id != CmdId::Reset {
            let who = client.borrow().addr.clone();
            cmd::monitor::feed(sh, id, &args, &who, now);
        }
        if self.multi.is_some() {
            if let Some(flow) = self.queue(ctx, sh, client, id, &args, now, out) {
                return flow;
            }
        }
        match spec.route {
            Route::Local => self.single(ctx, sh, self.me, id, &args, None, now, out),
            // A container whose subcommand takes no key (OBJECT HELP) runs where it is.
            Route::Key if spec.first_key as usize >= args.len() => {
                self.single(ctx, sh, self.me, id, &args, None, now, out)
            }
            Route::Key => {
                let key = args.get(spec.first_key as usize);
                let (s, hash) = match plan.key {
                    Some(k) => (k.shard as usize, k.hash.map(|h| (key, h))),
                    None => (key_shard(key, self.shards), None),
                };
                self.single(ctx, sh, s, id, &args, hash, now, out)
            }
            Route::Multi { step, gather } => {
                return self.multi(ctx, sh, id, &args, step as usize, gather, now, out);
            }
            Route::All(gather) => return self.all(ctx, sh, id, &args, gather, now, out),
            Route::Scan => match cmd::keys::parse_cursor(args.get(1)) {
                Ok(c) => {
                    let s = cmd::keys::scan_cursor_shard(c, self.shards);
                    self.single(ctx, sh, s, id, &args, None, now, out)
                }
                Err(e) => self.local_result(sh, Some(id), Err(e), out),
            },
            Route::Barrier if spec.flags & cmd::flags::BLOCKING != 0 && !self.in_exec => {
                return Flow::Block;
            }
            Route::Barrier => {
                // Where its keys live (none: a malformed SINTERCARD, answered where it is).
                let mut shards_of = None::<(usize, bool)>;
                cmd::for_each_key(id, &args, |k| {
                    let ks = key_shard(k, self.shards);
                    shards_of = Some(match shards_of {
                        None => (ks, true),
                        Some((s, same)) => (s, same && s == ks),
                    });
                });
                if let Some((s, true)) = shards_of {
                    self.single(ctx, sh, s, id, &args, None, now, out)
                } else if shards_of.is_none() {
                    self.single(ctx, sh, self.me, id, &args, None, now, out)
                } else if id == CmdId::Msetnx && args.len() % 2 == 0 {
                    self.local_result(
                        sh,
                        Some(id),
                        Err(CmdError::WrongArity("msetnx".into())),
                        out,
                    );
                } else {
                    return Flow::Barrier;
                }
            }
            Route::Script => return self.script(ctx, sh, id, &args, now, out),
            Route::Conn => return self.conn_command(ctx, sh, client, id, &args, now, out),
        }
        Flow::Continue
    }

    /// Runs `op` on this core into the deferred-local buffer; returns its op index there.
    fn run_deferred(&mut self, sh: &mut Shard, op: ShardOp, args: &Args, now: u64) -> u32 {
        let i = self.local.ends.len() as u32;
        match op {
            ShardOp::Cmd(id) | ShardOp::Part(id) => {
                let counted = matches!(op, ShardOp::Cmd(_));
                cmd::run(sh, id, args, now, counted, &mut self.local.reply);
            }
            op => match hop::run_internal(sh, op, args, now) {
                ShardReply::Resp(r) => self.local.reply.extend_from_slice(&r),
                r => self.local.results.push((i, r)),
            },
        }
        self.local.ends.push(self.local.reply.len());
        i
    }

    fn remote(&mut self, ctx: &Ctx, s: usize, now: u64) -> &mut Hop {
        let waiter = self.waiter;
        let track = self.track.on.then(|| (self.client_id, self.track_dest()));
        let hop = self.outgoing[s].get_or_insert_with(|| ctx.hop(waiter));
        hop.now_ms = now;
        hop.reply.set_resp3(self.resp3);
        hop.txn = self.txn;
        hop.atomic = self.atomic;
        if hop.wal_writers != self.wal.writers {
            hop.wal_writers.clone_from(&self.wal.writers);
        }
        hop.wal_epoch = self.wal.epoch;
        if let Some((client, dest)) = track {
            hop.client = client;
            hop.track_dest = dest;
        }
        hop
    }

    /// A command that runs whole on shard `s`. `known` is its key with the key's hash in this
    /// core's store, when planning computed it.
    #[allow(clippy::too_many_arguments)]
    fn single(
        &mut self,
        ctx: &Ctx,
        sh: &mut Shard,
        s: usize,
        id: CmdId,
        args: &Args,
        known: Option<(&[u8], u64)>,
        now: u64,
        out: &mut Out,
    ) {
        if s == self.me && !self.local_as_hop {
            with_known_hash(sh, known, |sh| {
                if self.deferred {
                    let op = self.run_deferred(sh, ShardOp::Cmd(id), args, now);
                    self.pieces.push(Piece::One {
                        shard: s as u16,
                        op,
                    });
                } else {
                    cmd::execute(sh, id, args, now, out);
                }
            });
        } else {
            self.deferred = true;
            let track_op = self.track_op;
            let hop = self.remote(ctx, s, now);
            let op = hop.push_op(id, args.iter());
            if track_op {
                hop.tracked.push(op);
            }
            self.pieces.push(Piece::One {
                shard: s as u16,
                op,
            });
        }
    }

    /// One part of a split command: `op` with argument 0 and the given argument indices.
    #[allow(clippy::too_many_arguments)]
    fn part(
        &mut self,
        ctx: &Ctx,
        sh: &mut Shard,
        s: usize,
        op: ShardOp,
        args: &Args,
        picks: &[usize],
        now: u64,
    ) -> u32 {
        if s == self.me && !self.local_as_hop {
            let mut ranges = std::mem::take(&mut self.scratch_ranges);
            ranges.clear();
            let all = args.ranges();
            ranges.extend(picks.iter().map(|&i| all[i]));
            let i = self.run_deferred(sh, op, &Args::new(args.buf(), &ranges), now);
            self.scratch_ranges = ranges;
            i
        } else {
            let track_op = self.track_op;
            let hop = self.remote(ctx, s, now);
            let i = hop.push(op, picks.iter().map(|&i| args.get(i)));
            if track_op {
                hop.tracked.push(i);
            }
            i
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn multi(
        &mut self,
        ctx: &Ctx,
        sh: &mut Shard,
        id: CmdId,
        args: &Args,
        step: usize,
        gather: Gather,
        now: u64,
        out: &mut Out,
    ) -> Flow {
        if (args.len() - 1) % step != 0 {
            let name = id.spec().name.to_string();
            self.local_result(sh, Some(id), Err(CmdError::WrongArity(name)), out);
            return Flow::Continue;
        }
        let mut key_shards = std::mem::take(&mut self.key_shards);
        key_shards.clear();
        key_shards.extend(
            (1..args.len())
                .step_by(step)
                .map(|i| key_shard(args.get(i), self.shards) as u16),
        );
        let first = key_shards[0];
        if key_shards.iter().all(|&s| s == first) {
            self.key_shards = key_shards;
            self.single(ctx, sh, first as usize, id, args, None, now, out);
            return Flow::Continue;
        }
        if self.must_hold_shards() {
            self.key_shards = key_shards;
            return Flow::Atomic;
        }
        self.deferred = true;
        // The connection counts the command once; its parts are not counted where they run.
        sh.stats.calls[id as usize] += 1;
        let parts_start = self.parts.len() as u32;
        let mut picks = Vec::with_capacity(args.len());
        for (k, &s) in key_shards.iter().enumerate() {
            if key_shards[..k].contains(&s) {
                continue;
            }
            picks.clear();
            picks.push(0);
            for (j, _) in key_shards
                .iter()
                .enumerate()
                .skip(k)
                .filter(|(_, &t)| t == s)
            {
                picks.extend((0..step).map(|d| 1 + j * step + d));
            }
            let op = self.part(ctx, sh, s as usize, ShardOp::Part(id), args, &picks, now);
            self.parts.push((s, op));
        }
        let order_start = self.order.len() as u32;
        if gather == Gather::Elements {
            self.order.extend_from_slice(&key_shards);
        }
        self.pieces.push(Piece::Gather {
            kind: gather,
            parts: (parts_start, self.parts.len() as u32),
            order: (order_start, self.order.len() as u32),
            info: 0,
        });
        self.key_shards = key_shards;
        Flow::Continue
    }

    /// Whether a command spanning shards must first hold them: atomic mode is on and this
    /// connection is not already running under held shards (EXEC, or an atomic command).
    fn must_hold_shards(&self) -> bool {
        self.txn == 0
            && !self.atomic
            && crate::config::RUNTIME
                .cross_shard_atomic
                .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sends every pending hop, waits for all of them and writes the deferred replies, in order,
    /// into `out`. Returns false when a hop stopped at its reply budget: the caller writes `out`
    /// to the client (waiting until it reads) and calls `flush` again, which sends on the hops
    /// the first unwritten reply waits for (see `resend_blocked`). No command is planned in
    /// between, and each call writes at least one more reply or runs at least one more op.
    pub async fn flush(&mut self, ctx: &Ctx, out: &mut Out) -> bool {
        if !self.deferred {
            return true;
        }
        let mut expected = 0;
        for s in 0..self.shards {
            if let Some(mut hop) = self.outgoing[s].take() {
                hop.dest = s;
                // A hop that cannot be sent is lost: its pieces are answered with an error
                // below (`resend_blocked` finds nothing to resend) instead of waited for.
                if ctx.send(s, hop).await {
                    expected += 1;
                }
            }
        }
        if expected > 0 {
            ctx.wait(self.waiter, expected, &mut self.back).await;
        }
        for hop in self.back.drain(..) {
            let d = hop.dest;
            self.by_shard[d] = Some(hop);
        }
        let settings = ctx.shard.borrow().settings.clone();
        while let Some(piece) = self.pieces.get(self.next_piece) {
            match *piece {
                Piece::One { shard, op } => {
                    if !self.done(shard, op) {
                        break;
                    }
                    out.extend_from_slice(self.reply_of(shard, op));
                }
                Piece::Gather {
                    kind,
                    parts,
                    order,
                    info,
                } => {
                    let parts = &self.parts[parts.0 as usize..parts.1 as usize];
                    if !parts.iter().all(|&(s, op)| self.done(s, op)) {
                        break;
                    }
                    let order = &self.order[order.0 as usize..order.1 as usize];
                    let replies: Vec<Part> = parts
                        .iter()
                        .map(|&(s, op)| Part {
                            shard: s,
                            resp: self.reply_of(s, op),
                            typed: self.result_of(s, op),
                        })
                        .collect();
                    gather(kind, &replies, order, info, &settings, out);
                }
            }
            self.next_piece += 1;
        }
        if self.next_piece < self.pieces.len() {
            if self.resend_blocked() {
                return false;
            }
            // Unreachable by construction (see `resend_blocked`); if it ever happens, answer
            // the stuck command with an error and move on rather than wait forever.
            eprintln!("corekv: bug: a deferred reply has no hop that can produce it");
            reply::error(
                out,
                CmdError::Internal("shard reply lost")
                    .to_string()
                    .as_bytes(),
            );
            self.next_piece += 1;
            return false;
        }
        for slot in self.by_shard.iter_mut() {
            if let Some(hop) = slot.take() {
                ctx.recycle(hop);
            }
        }
        self.pieces.clear();
        self.next_piece = 0;
        self.parts.clear();
        self.order.clear();
        self.local.reply.clear();
        self.local.results.clear();
        self.local.ends.clear();
        self.local_as_hop = false;
        if self.local.reply.capacity() > LOCAL_KEEP_CAPACITY {
            self.local.reply.replace_buf(Vec::new());
        }
        self.deferred = false;
        true
    }

    /// The first unwritten reply waits on hops that stopped at their reply budget: sends on,
    /// from their first op not run yet, exactly the hops whose op for that reply has not run.
    /// Returns whether any was sent (then the next `flush` makes progress).
    ///
    /// A hop whose op for the blocked reply already ran is left alone, replies and all: they
    /// are needed (for a gather, its other parts are still missing) and a resend would drop
    /// them. A hop that is sent on loses nothing either: its op `n` for the blocked reply has
    /// not run, ops run in order, so every reply it holds is of an op before `n`; a piece has
    /// at most one op per shard, so those ops belong to pieces before the blocked one, which are
    /// all written. Each trip runs at least one op, so a pipeline always finishes.
    fn resend_blocked(&mut self) -> bool {
        match self.pieces[self.next_piece] {
            Piece::One { shard, op } => self.send_on(shard, op),
            Piece::Gather { parts: (a, b), .. } => {
                let mut resent = false;
                for i in a as usize..b as usize {
                    let (s, op) = self.parts[i];
                    resent |= self.send_on(s, op);
                }
                resent
            }
        }
    }

    /// Queues shard `s`'s hop again, from its first op not run, when op `op` has not run yet.
    fn send_on(&mut self, s: u16, op: u32) -> bool {
        let s = s as usize;
        if s == self.me || s >= self.shards || self.done(s as u16, op) {
            return false;
        }
        match self.by_shard[s].take() {
            // Not finished and `op` still ahead: it will run on this trip or a later one.
            Some(mut hop) if !hop.finished() && op >= hop.first_op => {
                hop.first_op += hop.ends.len() as u32;
                self.outgoing[s] = Some(hop);
                true
            }
            // The reply was dropped (cannot happen, see above): never resend in a loop.
            other => {
                self.by_shard[s] = other;
                false
            }
        }
    }

    /// Whether op `op` of shard `shard` has its reply here.
    fn done(&self, shard: u16, op: u32) -> bool {
        self.is_local(shard)
            || self.by_shard[shard as usize]
                .as_ref()
                .is_some_and(|h| h.op_done(op))
    }

    /// Whether a piece on `shard` has its reply in `self.local`.
    fn is_local(&self, shard: u16) -> bool {
        shard == READY || (shard as usize == self.me && !self.local_as_hop)
    }

    fn result_of(&self, shard: u16, op: u32) -> Option<&ShardReply> {
        if self.is_local(shard) {
            self.local.result(op)
        } else {
            self.by_shard[shard as usize].as_ref()?.result(op)
        }
    }

    fn reply_of(&self, shard: u16, op: u32) -> &[u8] {
        if self.is_local(shard) {
            self.local.op_reply(op)
        } else {
            self.by_shard[shard as usize]
                .as_ref()
                .map_or(crate::error::SHARD_REPLY_MISSING, |h| h.op_reply(op))
        }
    }
}
