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
//! Deadlock is impossible by construction: a transaction takes its shards in ascending order
//! and never waits for anything else while holding them but replies of hops that held shards
//! admit; a parked hop never blocks the stream it came on (it waits in the queue, not in the
//! task), so a holder's own hops always get through. A transaction holds its shards for one
//! uninterrupted step, never across a client round trip.
//!
//! A transaction whose keys are all on one shard takes no lock at all: its commands travel as
//! one atomic hop (or run inline), which the shard runs in one go.

use super::hop::{Hop, LockStep};
use super::mesh::Ctx;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::task::{Poll, Waker};

#[derive(Default)]
pub struct TxnLock {
    /// The transaction holding this shard, 0 when free.
    holder: Cell<u64>,
    /// Hops that arrived while another transaction held the shard, in arrival order.
    parked: RefCell<VecDeque<Box<Hop>>>,
    /// This core's connections waiting for the shard to be free.
    waiters: RefCell<Vec<Waker>>,
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
        h == 0 || h == txn
    }

    #[inline]
    pub fn held(&self) -> bool {
        self.holder.get() != 0
    }

    /// Waits until work of `txn` (0: none) may touch this shard.
    pub async fn wait_admitted(&self, txn: u64) {
        std::future::poll_fn(|cx| {
            if self.admits(txn) {
                Poll::Ready(())
            } else {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Holds this shard for `txn`, waiting until it is free.
    pub async fn acquire(&self, txn: u64) {
        std::future::poll_fn(|cx| {
            if self.holder.get() == 0 && self.parked.borrow().is_empty() {
                self.holder.set(txn);
                Poll::Ready(())
            } else {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Whether `hop` may run now, by its lock step and the shard's state.
    fn runnable(&self, hop: &Hop) -> bool {
        let free = self.holder.get() == 0 && self.parked.borrow().is_empty();
        match hop.lock {
            LockStep::Acquire => free,
            _ => free || (hop.txn != 0 && self.holder.get() == hop.txn),
        }
    }
}

/// Runs `hop` on this shard, applying its lock step. Returns whether it freed the shard.
fn run(ctx: &Ctx, hop: &mut Hop) -> bool {
    if hop.lock == LockStep::Acquire {
        ctx.lock.holder.set(hop.txn);
    }
    hop.execute(&mut ctx.shard.borrow_mut());
    if hop.lock == LockStep::Release && ctx.lock.holder.get() == hop.txn {
        ctx.lock.holder.set(0);
        return true;
    }
    false
}

/// The shard was freed: runs parked hops in order until one holds it again (their replies go
/// into `done`), and wakes this core's waiting connections if it stays free.
#[allow(clippy::vec_box)] // hops travel boxed through the meshes
fn drain(ctx: &Ctx, done: &mut Vec<Box<Hop>>) {
    while ctx.lock.holder.get() == 0 {
        let Some(mut hop) = ctx.lock.parked.borrow_mut().pop_front() else {
            break;
        };
        run(ctx, &mut hop);
        done.push(hop);
    }
    if ctx.lock.holder.get() == 0 {
        for w in ctx.lock.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

/// A hop arrived from another core: runs it (and, when it frees the shard, the hops parked
/// behind it) and sends the replies, or parks it until the shard's holder lets go.
pub async fn serve(ctx: &Ctx, mut hop: Box<Hop>) {
    if !ctx.lock.runnable(&hop) {
        ctx.lock.parked.borrow_mut().push_back(hop);
        return;
    }
    let freed = run(ctx, &mut hop);
    let mut done = vec![hop];
    if freed {
        drain(ctx, &mut done);
    }
    reply_all(ctx, done).await;
}

/// Frees this shard from `txn` (held by this core's own connection) and runs what was parked.
pub async fn release_local(ctx: &Ctx, txn: u64) {
    if ctx.lock.holder.get() != txn {
        return;
    }
    ctx.lock.holder.set(0);
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
