//! The transaction lock: a shard is held by at most one cross-shard transaction at a time.
//!
//! ```text
//!   coordinator (the EXEC's connection, any core)          shards, in ascending id order
//!   acquire 0 --Hop{Acquire}--> shard 0: free? hold for T, reply   (else park the hop)
//!   acquire 2 --Hop{Acquire}--> shard 2: ...
//!   run the queued commands: hops tagged T pass the held shards; local ones run inline
//!   release   --Hop{Release}--> every held shard: free, then run the parked hops in order
//! ```
//! While shard S is held by transaction T, nothing but T touches S's keys: a hop from anyone
//! else is parked in S's queue (in arrival order) and runs when T releases S; a connection of
//! S's own core waits before running a command inline ([`TxnLock::wait_admitted`]). So no
//! client sees part of T before all of it: every part of T ran while all its shards were held.
//!
//! Fairness: everything that waits for a held shard waits in one queue in arrival order:
//! remote hops, this core's transactions and this core's connections waiting to run a command
//! inline ([`turn`]), so none starves. When the shard is let go, the queue runs in order: plain
//! hops at once, waiting connections are given their turn (the next transaction takes the
//! shard only once every connection given a turn has run its command), and the first
//! transaction in line takes the shard.
//!
//! Deadlock is impossible by construction: a transaction takes its shards in ascending order
//! and never waits for anything else while holding them but replies of hops that held shards
//! admit; a parked hop never blocks the stream it came on (it waits in the queue, not in the
//! task), so a holder's own hops always get through. A transaction holds its shards for one
//! uninterrupted step, never across a client round trip.
//!
//! A transaction whose keys are all on one shard takes no lock at all: its commands travel as
//! one atomic hop (or run inline), which the shard runs in one go. When no command needs
//! dependent steps, each Acquire carries that shard's commands and the last one is an
//! acquire-run-release in one step (`LockStep::Once`): two shards cost one round trip, and the
//! releases are sent without waiting. Hops that touch no key (INFO's and CLIENT's parts, WATCH
//! bookkeeping) run even on a held shard, so a holder waiting for them cannot deadlock.

use super::hop::{Hop, LockStep};
use super::mesh::Ctx;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// A place in the queue for this core: a transaction to take the shard, or a connection's
/// command to run inline.
struct LocalTurn {
    /// The transaction that takes the shard, 0 for a connection's plain command.
    txn: u64,
    /// It only reads (a shared hold).
    shared: bool,
    granted: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// What waits for the shard, in arrival order.
enum Parked {
    Hop(Box<Hop>),
    Local(Rc<LocalTurn>),
}

/// What a queued entry needs of the shard to go on.
#[derive(PartialEq)]
enum Needs {
    /// Nothing held (a plain hop or command, or a writing transaction).
    Free,
    /// No writer holds it (a reading transaction).
    NoWriter,
}

impl Parked {
    /// Whether it takes the shard when its turn comes, and how.
    fn takes(&self) -> Option<Needs> {
        let (takes, shared) = match self {
            Parked::Hop(h) => (
                matches!(h.lock, LockStep::Acquire | LockStep::Once),
                h.shared,
            ),
            Parked::Local(t) => (t.txn != 0, t.shared),
        };
        takes.then_some(if shared { Needs::NoWriter } else { Needs::Free })
    }
}

#[derive(Default)]
pub struct TxnLock {
    /// The writing transaction holding this shard, 0 when none.
    holder: Cell<u64>,
    /// Reading transactions holding this shard together (never with a writer).
    readers: Cell<u32>,
    /// Work that arrived while the shard was held (or behind such work), in arrival order.
    parked: RefCell<VecDeque<Parked>>,
    /// Connections given their turn that have not run their command yet: no transaction takes
    /// the shard meanwhile.
    turns: Cell<usize>,
    /// Transactions started on this core (for unique ids).
    started: Cell<u64>,
}

impl TxnLock {
    /// A transaction id unique over all cores: this core's count and its id.
    pub fn new_txn(&self, core: usize) -> u64 {
        let n = self.started.get() + 1;
        self.started.set(n);
        (n << 12) | (core as u64 + 1)
    }

    /// Whether work of transaction `txn` (0: none) may touch this shard now.
    #[inline]
    pub fn admits(&self, txn: u64) -> bool {
        let h = self.holder.get();
        (h == 0 && self.readers.get() == 0) || (h != 0 && h == txn)
    }

    #[inline]
    pub fn held(&self) -> bool {
        self.holder.get() != 0 || self.readers.get() != 0
    }

    /// Whether a transaction may take the shard now (`shared`: a reading one).
    fn can_take(&self, shared: bool) -> bool {
        self.holder.get() == 0
            && (shared || self.readers.get() == 0)
            && self.turns.get() == 0
            && self.parked.borrow().is_empty()
    }

    /// Holds this shard for `txn` (this core's transaction; `shared` if it only reads),
    /// waiting its turn in the queue.
    pub async fn acquire(&self, txn: u64, shared: bool) {
        if self.can_take(shared) {
            self.take(txn, shared);
            return;
        }
        wait_turn(self, txn, shared).await;
    }

    fn take(&self, txn: u64, shared: bool) {
        if shared {
            self.readers.set(self.readers.get() + 1);
        } else {
            self.holder.set(txn);
        }
    }

    /// Lets go of a hold by `txn`; returns whether the shard is free now.
    fn let_go(&self, txn: u64, shared: bool) -> bool {
        if shared {
            self.readers.set(self.readers.get().saturating_sub(1));
        } else if self.holder.get() == txn {
            self.holder.set(0);
        }
        self.holder.get() == 0 && self.readers.get() == 0
    }

    /// Whether `hop` may run now, by its lock step and the shard's state.
    fn runnable(&self, hop: &Hop) -> bool {
        let mine = hop.txn != 0 && self.holder.get() == hop.txn;
        let idle = !self.held() && self.parked.borrow().is_empty();
        match hop.lock {
            LockStep::Acquire | LockStep::Once => self.can_take(hop.shared),
            LockStep::None => idle || mine || hop.keyless(),
            LockStep::Release => mine || (hop.shared && self.readers.get() > 0),
        }
    }
}

/// Queues this core's turn (a transaction `txn`, or 0 for a plain command) and waits for it.
async fn wait_turn(lock: &TxnLock, txn: u64, shared: bool) {
    let turn = Rc::new(LocalTurn {
        txn,
        shared,
        granted: Cell::new(false),
        waker: RefCell::new(None),
    });
    lock.parked
        .borrow_mut()
        .push_back(Parked::Local(turn.clone()));
    std::future::poll_fn(|cx| {
        if turn.granted.get() {
            Poll::Ready(())
        } else {
            *turn.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    })
    .await
}

/// A connection's turn to run a command inline on its own core's keys; drop it once the
/// command ran (the shard's queue then goes on).
pub struct Turn {
    ctx: Option<Rc<Ctx>>,
}

/// Waits until this core's connection may run a command of transaction `txn` (0: none)
/// inline: at once when the shard is free or held by `txn`, else in its turn in the queue.
pub async fn turn(ctx: &Ctx, txn: u64) -> Turn {
    if ctx.lock.admits(txn) {
        return Turn { ctx: None };
    }
    wait_turn(&ctx.lock, 0, false).await;
    Turn { ctx: ctx.this() }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let Some(ctx) = self.ctx.take() else {
            return;
        };
        let lock = &ctx.lock;
        lock.turns.set(lock.turns.get() - 1);
        if lock.turns.get() == 0 && !lock.held() && !lock.parked.borrow().is_empty() {
            // The last connection given a turn is done: the queue goes on (replies need a task).
            glommio::spawn_local(async move {
                let mut done = Vec::new();
                drain(&ctx, &mut done);
                reply_all(&ctx, done).await;
            })
            .detach();
        }
    }
}

/// Runs a hop with no lock step and no transaction from its first op not run in this trip.
/// Returns true when one of its scripts turned busy and is suspended (see [`serve_busy`]).
fn run_plain(ctx: &Ctx, hop: &mut Hop, more: bool) -> bool {
    let mut sh = ctx.shard.borrow_mut();
    sh.script_yieldable = true;
    let suspended = if more {
        hop.execute_more(&mut sh)
    } else {
        hop.execute(&mut sh)
    };
    sh.script_yieldable = false;
    suspended
}

/// Runs `hop` on this shard, applying its lock step. Returns whether it freed the shard.
fn run(ctx: &Ctx, hop: &mut Hop) -> bool {
    if matches!(hop.lock, LockStep::Acquire | LockStep::Once) {
        ctx.lock.take(hop.txn, hop.shared);
    }
    // A transaction's writes on this shard are logged as one part, ended when it is done here:
    // when it lets go, or at once for a transaction that holds nothing (one shard, one hop).
    let writer = hop.txn != 0 && hop.wal_writers.contains(&(ctx.id as u16));
    let ends = match hop.lock {
        LockStep::Release | LockStep::Once => true,
        LockStep::Acquire => false,
        LockStep::None => ctx.lock.holder.get() != hop.txn,
    };
    {
        let mut sh = ctx.shard.borrow_mut();
        if writer {
            if let Some(log) = sh.aof.as_mut() {
                log.begin_txn(hop.txn);
            }
        }
        hop.execute(&mut sh);
        if writer && ends {
            if let Some(log) = sh.aof.as_mut() {
                log.end_txn(hop.txn, &hop.wal_writers, hop.wal_epoch);
            }
        }
    }
    matches!(hop.lock, LockStep::Release | LockStep::Once) && ctx.lock.let_go(hop.txn, hop.shared)
}

/// The shard is free: runs the queue in order (replies of hops that ran go into `done`) until
/// a transaction takes the shard, or until one is next while connections given a turn have
/// not run yet (the last of them resumes the queue, see `Turn`).
#[allow(clippy::vec_box)] // hops travel boxed through the meshes
fn drain(ctx: &Ctx, done: &mut Vec<Box<Hop>>) {
    let lock = &ctx.lock;
    while lock.holder.get() == 0 {
        let needs = match lock.parked.borrow().front() {
            None => break,
            Some(p) => p.takes(),
        };
        // Readers go on together; anything else waits for them to finish, and a transaction
        // also for this core's connections given a turn.
        let go = match needs {
            Some(Needs::NoWriter) => lock.turns.get() == 0,
            Some(Needs::Free) => lock.turns.get() == 0 && lock.readers.get() == 0,
            None => lock.readers.get() == 0,
        };
        if !go {
            break;
        }
        let Some(next) = lock.parked.borrow_mut().pop_front() else {
            break;
        };
        match next {
            Parked::Hop(mut hop) => {
                run(ctx, &mut hop);
                done.push(hop);
            }
            // Nobody waits for it any more (its connection is gone).
            Parked::Local(turn) if Rc::strong_count(&turn) == 1 => {}
            Parked::Local(turn) => {
                if turn.txn != 0 {
                    lock.take(turn.txn, turn.shared);
                } else {
                    lock.turns.set(lock.turns.get() + 1);
                }
                turn.granted.set(true);
                if let Some(w) = turn.waker.borrow_mut().take() {
                    w.wake();
                }
            }
        }
    }
}

/// A hop arrived from another core: runs it (and, when it frees the shard, the work queued
/// behind it) and sends the replies, or queues it until the shard's holder lets go. Returns
/// the hop when a busy script is involved (one of its own turned busy, or it must wait for
/// one to end): the caller goes on with [`serve_busy`] in a task of its own, so that the
/// stream it came on keeps flowing (other hops answer -BUSY meanwhile).
pub async fn serve(ctx: &Ctx, mut hop: Box<Hop>) -> Option<Handoff> {
    // A transaction's step or the server's own key work waits for a busy script's end
    // (plain commands run and answer -BUSY; see `cmd::script::busy`).
    if ctx.shard.borrow().script_busy && !hop.plain() {
        return Some(Handoff::Wait(hop));
    }
    let simple = hop.lock == LockStep::None && hop.txn == 0 && !hop.atomic;
    if !ctx.lock.runnable(&hop) {
        ctx.lock.parked.borrow_mut().push_back(Parked::Hop(hop));
        return None;
    }
    // The queue runs before any reply is sent, so nothing overtakes it meanwhile; no
    // allocation unless something was queued.
    let mut done = Vec::new();
    if simple {
        if run_plain(ctx, &mut hop, false) {
            return Some(Handoff::Suspended(hop));
        }
    } else if run(ctx, &mut hop) {
        drain(ctx, &mut done);
    }
    ctx.wait_durable().await;
    ctx.reply_to_origin(hop).await;
    reply_all(ctx, done).await;
    None
}

/// A hop [`serve`] hands back, to finish with [`serve_busy`].
pub enum Handoff {
    /// One of its scripts is busy and suspended.
    Suspended(Box<Hop>),
    /// It must wait for the shard's busy script to end.
    Wait(Box<Hop>),
}

/// Finishes a hop [`serve`] handed back: drives its suspended script to its end and runs the
/// rest of its ops, or waits for the shard's busy script to end and serves it.
pub async fn serve_busy(ctx: &Ctx, handoff: Handoff) {
    let mut hop = match handoff {
        Handoff::Suspended(hop) => hop,
        Handoff::Wait(hop) => return wait_and_serve(ctx, hop).await,
    };
    {
        loop {
            super::busy::drive(ctx, &mut hop.reply).await;
            hop.ends.push(hop.reply.len());
            if hop.reply.len() >= super::HOP_REPLY_BUDGET
                || hop.finished()
                || !run_plain(ctx, &mut hop, true)
            {
                break;
            }
        }
        ctx.wait_durable().await;
        ctx.reply_to_origin(hop).await;
    }
}

async fn wait_and_serve(ctx: &Ctx, mut hop: Box<Hop>) {
    loop {
        while ctx.shard.borrow().script_busy {
            glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
        }
        match serve(ctx, hop).await {
            None => return,
            Some(Handoff::Wait(h)) => hop = h,
            Some(suspended) => return Box::pin(serve_busy(ctx, suspended)).await,
        }
    }
}

/// Lets go of this shard's hold by `txn` (this core's own transaction) and runs what was
/// queued once it is free.
pub async fn release_local(ctx: &Ctx, txn: u64, shared: bool) {
    if !shared && ctx.lock.holder.get() != txn {
        return;
    }
    if !ctx.lock.let_go(txn, shared) {
        return;
    }
    let mut done = Vec::new();
    drain(ctx, &mut done);
    reply_all(ctx, done).await;
}

#[allow(clippy::vec_box)]
async fn reply_all(ctx: &Ctx, done: Vec<Box<Hop>>) {
    for hop in done {
        // Replies of logged writes leave only once the log covers them (always).
        ctx.wait_durable().await;
        ctx.reply_to_origin(hop).await;
    }
}
