//! The per-core context and the two channel meshes.
//!
//! ```text
//!   core A (origin)                                   core B (owner of the keys)
//!   connection task --Hop--> request mesh A->B --> request task (runs ops on B's Shard)
//!   waiter slot <-- reply task <-- reply mesh B->A <--Hop (same box, replies filled)
//! ```
//! Requests and replies use separate meshes so that replies always drain: a request task that
//! waits to send a reply only waits for the origin's reply task, which never waits on anything.
//! A connection registers one waiter slot for its lifetime; a reply wakes exactly that task.
//! Hops return to the core that allocated them and are kept in a small pool for reuse.

use super::{Hop, Shard};
use glommio::channels::channel_mesh::{Receivers, Senders};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Poll, Waker};

/// The waiter of a hop nobody waits for (a transaction's release): it is recycled on return.
pub const NO_WAITER: u32 = u32::MAX;

/// Most hops kept for reuse per core.
const HOP_POOL_MAX: usize = 256;

#[derive(Default)]
struct Slot {
    generation: u32,
    arrived: Vec<Box<Hop>>,
    waker: Option<Waker>,
}

/// Everything a core's tasks share. Lives in an `Rc`; single-threaded.
pub struct Ctx {
    pub id: usize,
    pub shards: usize,
    pub shard: RefCell<Shard>,
    requests: Option<Senders<Box<Hop>>>,
    replies: Option<Senders<Box<Hop>>>,
    slots: RefCell<Vec<Slot>>,
    free_slots: RefCell<Vec<u32>>,
    pool: RefCell<Vec<Box<Hop>>>,
    /// Set when the server is shutting down: connections finish their batch and close.
    pub stopping: Cell<bool>,
    /// Closed at shutdown, waking every connection parked in a read.
    pub stop_signal: glommio::sync::Semaphore,
    /// Connections alive on this core.
    pub live_connections: Cell<usize>,
    /// Signalled when the last connection closes while stopping (the drain waits for it).
    pub all_closed: glommio::sync::Semaphore,
    /// Snapshots finished since start, and who waits for the next one (SAVE).
    snapshots_done: Cell<u64>,
    snapshot_waiters: RefCell<Vec<Waker>>,
    /// The last snapshot epoch whose entries this shard streamed (once per snapshot).
    pub snapshot_epoch: Cell<u64>,
    /// How far this shard's append-only log is durable, when the log is on.
    pub durability: std::cell::OnceCell<Rc<crate::persist::aof::Durability>>,
    /// Which cross-shard transaction holds this shard, and the work waiting for it.
    pub lock: super::lock::TxnLock,
    /// This context itself, for tasks the lock spawns (set by `spawn_mesh_tasks`).
    this: RefCell<std::rc::Weak<Ctx>>,
    /// This core's hop counters (the same as its shard's, for INFO hops).
    pub hops: Rc<crate::cmd::state::HopCounters>,
    /// The channel to the server layer (unset when a test drives a shard on its own).
    pub control: std::cell::OnceCell<super::control::Control>,
}

impl Ctx {
    pub fn new(
        shard: Shard,
        requests: Option<Senders<Box<Hop>>>,
        replies: Option<Senders<Box<Hop>>>,
    ) -> Self {
        let hops = shard.hops.clone();
        Ctx {
            hops,
            id: shard.id,
            shards: shard.shards,
            shard: RefCell::new(shard),
            requests,
            replies,
            slots: RefCell::new(Vec::new()),
            free_slots: RefCell::new(Vec::new()),
            pool: RefCell::new(Vec::new()),
            stopping: Cell::new(false),
            stop_signal: glommio::sync::Semaphore::new(0),
            live_connections: Cell::new(0),
            all_closed: glommio::sync::Semaphore::new(0),
            snapshots_done: Cell::new(0),
            snapshot_waiters: RefCell::new(Vec::new()),
            durability: std::cell::OnceCell::new(),
            snapshot_epoch: Cell::new(crate::persist::snapshot::epoch()),
            lock: super::lock::TxnLock::default(),
            this: RefCell::new(std::rc::Weak::new()),
            control: std::cell::OnceCell::new(),
        }
    }

    /// With `appendfsync always`: waits until everything this shard logged so far is durable
    /// (group commit). Returns at once otherwise, or when nothing new was logged.
    pub async fn wait_durable(&self) {
        let Some(d) = self.durability.get() else {
            return;
        };
        let target = {
            let sh = self.shard.borrow();
            match sh.aof.as_ref() {
                Some(log) if log.fsync == crate::persist::aof::Fsync::Always => log.appended(),
                _ => return,
            }
        };
        d.wait_for(target).await;
    }

    /// A waiter slot for a new connection.
    pub fn new_waiter(&self) -> u32 {
        if let Some(w) = self.free_slots.borrow_mut().pop() {
            return w;
        }
        let mut slots = self.slots.borrow_mut();
        slots.push(Slot::default());
        slots.len() as u32 - 1
    }

    pub fn free_waiter(&self, w: u32) {
        let mut slots = self.slots.borrow_mut();
        let slot = &mut slots[w as usize];
        slot.waker = None;
        slot.generation = slot.generation.wrapping_add(1);
        let stale: Vec<Box<Hop>> = slot.arrived.drain(..).collect();
        drop(slots);
        stale.into_iter().for_each(|h| self.recycle(h));
        self.free_slots.borrow_mut().push(w);
    }

    /// An empty hop from the pool.
    pub fn hop(&self, waiter: u32) -> Box<Hop> {
        let mut h = self.pool.borrow_mut().pop().unwrap_or_default();
        h.origin = self.id;
        h.waiter = waiter;
        h.generation = self.slots.borrow()[waiter as usize].generation;
        h
    }

    pub fn recycle(&self, mut hop: Box<Hop>) {
        let mut pool = self.pool.borrow_mut();
        // Do not keep the buffers of a rare huge batch alive forever.
        if pool.len() < HOP_POOL_MAX && hop.data.capacity() + hop.reply.capacity() < 1 << 20 {
            hop.clear();
            pool.push(hop);
        }
    }

    /// Sends a hop to the shard that will run it. Returns false (and logs) if it could not be
    /// sent: the mesh is closed, which happens only after every shard has drained, so a caller
    /// must then not wait for the hop's reply.
    pub async fn send(&self, dest: usize, mut hop: Box<Hop>) -> bool {
        let sent = self.hops.sent.get();
        self.hops.sent.set(sent + 1);
        if sent % crate::cmd::state::HOP_SAMPLE_EVERY == 0 {
            hop.timed = Some(std::time::Instant::now());
        }
        let Some(senders) = self.requests.as_ref() else {
            eprintln!(
                "corekv: shard {}: bug: a hop to shard {dest} with one shard",
                self.id
            );
            return false;
        };
        match senders.send_to(dest, hop).await {
            Ok(()) => true,
            Err(_) => {
                eprintln!(
                    "corekv: shard {}: cannot send to shard {dest}: mesh closed",
                    self.id
                );
                false
            }
        }
    }

    /// This context as an `Rc`, once the meshes are served (see `spawn_mesh_tasks`) or
    /// [`Ctx::set_this`] was called.
    pub fn this(&self) -> Option<Rc<Ctx>> {
        self.this.borrow().upgrade()
    }

    /// How many snapshots finished since start (see [`Ctx::snapshot_done_after`]).
    pub fn snapshots_done(&self) -> u64 {
        self.snapshots_done.get()
    }

    /// A snapshot's file is complete or failed (`ToShard::SnapshotDone`): wakes SAVE's waiters
    /// and the log flusher (which ends its rotation).
    pub fn snapshot_finished(&self) {
        self.snapshots_done.set(self.snapshots_done.get() + 1);
        for w in self.snapshot_waiters.borrow_mut().drain(..) {
            w.wake();
        }
        if let Some(log) = self.shard.borrow_mut().aof.as_mut() {
            log.wake_flusher();
        }
    }

    /// Waits until a snapshot finished after `seen` (a value of [`Ctx::snapshots_done`]) and
    /// none is running. Without a control channel (a shard driven by a test) it polls.
    pub async fn snapshot_done_after(&self, seen: u64) {
        use crate::persist::snapshot::in_progress;
        if self.control.get().is_none() {
            while in_progress() {
                glommio::timer::sleep(std::time::Duration::from_millis(2)).await;
            }
            return;
        }
        std::future::poll_fn(|cx| {
            if self.snapshots_done.get() > seen && !in_progress() {
                Poll::Ready(())
            } else {
                self.snapshot_waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Lets tasks this context spawns hold it (the server calls it once at start).
    pub fn set_this(ctx: &Rc<Ctx>) {
        *ctx.this.borrow_mut() = Rc::downgrade(ctx);
    }

    /// Sends a hop that ran here back to the core that sent it.
    pub async fn reply_to_origin(&self, mut hop: Box<Hop>) {
        let origin = hop.origin;
        if hop.timed.is_some() {
            hop.timed = Some(std::time::Instant::now());
        }
        if let Some(tx) = self.replies.as_ref() {
            // The mesh lives until every shard has finished, so a send cannot fail while we run.
            let _ = tx.send_to(origin, hop).await;
        }
    }

    /// Waits until `expected` hops came back to waiter slot `w`, moving them into `into`.
    pub async fn wait(&self, w: u32, expected: usize, into: &mut Vec<Box<Hop>>) {
        std::future::poll_fn(|cx| {
            let mut slots = self.slots.borrow_mut();
            let slot = &mut slots[w as usize];
            if slot.arrived.len() >= expected {
                into.append(&mut slot.arrived);
                slot.waker = None;
                Poll::Ready(())
            } else {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Records a timed hop's leg that ended now (into `ns` / `samples`).
    fn time_leg(hop: &Hop, ns: &Cell<u64>, samples: &Cell<u64>) {
        if let Some(t) = hop.timed {
            use crate::cmd::state::HopCounters;
            HopCounters::add(ns, t.elapsed().as_nanos() as u64);
            HopCounters::add(samples, 1);
        }
    }

    /// The current generation of waiter slot `w` (a blocked client's address for its answer).
    pub fn generation(&self, w: u32) -> u32 {
        self.slots.borrow()[w as usize].generation
    }

    /// Hands a hop to waiter slot `hop.waiter` of this core (a blocked client's answer).
    pub fn deliver_here(&self, hop: Box<Hop>) {
        self.deliver(hop)
    }

    fn deliver(&self, mut hop: Box<Hop>) {
        Self::time_leg(&hop, &self.hops.back_ns, &self.hops.back_samples);
        hop.timed = None;
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots.get_mut(hop.waiter as usize) else {
            drop(slots);
            return self.recycle(hop);
        };
        if slot.generation != hop.generation {
            drop(slots);
            return self.recycle(hop);
        }
        slot.arrived.push(hop);
        if let Some(w) = slot.waker.take() {
            w.wake();
        }
    }
}

/// Spawns the tasks that serve the meshes on this core: one per peer and direction.
pub fn spawn_mesh_tasks(
    ctx: &Rc<Ctx>,
    mut requests: Receivers<Box<Hop>>,
    mut replies: Receivers<Box<Hop>>,
) {
    *ctx.this.borrow_mut() = Rc::downgrade(ctx);
    for (_peer, rx) in requests.streams() {
        let ctx = ctx.clone();
        glommio::spawn_local(async move {
            while let Some(hop) = rx.recv().await {
                crate::cmd::state::HopCounters::add(&ctx.hops.served, 1);
                Ctx::time_leg(&hop, &ctx.hops.to_peer_ns, &ctx.hops.to_peer_samples);
                if let Some(hop) = super::lock::serve(&ctx, hop).await {
                    let ctx = ctx.clone();
                    glommio::spawn_local(async move { super::lock::serve_busy(&ctx, hop).await })
                        .detach();
                }
            }
        })
        .detach();
    }
    for (_peer, rx) in replies.streams() {
        let ctx = ctx.clone();
        glommio::spawn_local(async move {
            while let Some(hop) = rx.recv().await {
                ctx.deliver(hop);
            }
        })
        .detach();
    }
}

impl Ctx {
    /// Closes this core's sending side of both meshes (after every shard has drained).
    pub fn close_meshes(&self) {
        if let Some(s) = &self.requests {
            s.close();
        }
        if let Some(s) = &self.replies {
            s.close();
        }
    }
}

impl crate::persist::aof::LogOwner for Ctx {
    fn with_log<R>(&self, f: impl FnOnce(&mut crate::persist::aof::AofLog) -> R) -> Option<R> {
        self.shard.borrow_mut().aof.as_mut().map(f)
    }
}
