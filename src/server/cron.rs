//! A shard's background duties, run every 1/hz s in a low-share task queue so that requests
//! always come first. Each duty is a named function, in the order the loop runs them:
//!
//! | duty | what it does |
//! |---|---|
//! | [`save_rules`] | shard 0 only: starts a snapshot when a `--save` rule is due |
//! | [`snapshot_part`] | writes this shard's part of a snapshot that started |
//! | [`active_expire`] | frees expired keys nobody touches (Redis's adaptive cycle) |
//! | [`evict`] | picks up CONFIG SET maxmemory/policy and evicts while over the limit |
//! | [`lazy_free`] | frees removed large values a step at a time (UNLINK, expiry, eviction) |

use crate::config::RUNTIME;
use crate::persist::snapshot::{self, Msg};
use crate::shard::mesh::Ctx;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Time one active-expiry cycle may take on a shard.
const ACTIVE_EXPIRE_BUDGET_US: u128 = 1000;
/// Keys examined per step of the active-expiry cycle (and evicted per step of [`evict`]).
const ACTIVE_EXPIRE_STEP: usize = 64;
/// Elements freed per step of [`lazy_free`], steps per [`LAZY_FREE_BUDGET_US`], and the pause
/// between two such slices.
const LAZY_FREE_STEP: usize = 1024;
const LAZY_FREE_BUDGET_US: u128 = 500;
const LAZY_FREE_PAUSE_US: u64 = 200;
/// Keys copied per step of a snapshot walk.
const SNAPSHOT_STEP: usize = 256;

/// Starts the duty loop of this shard; it ends when the shard stops.
pub fn spawn(ctx: &Rc<Ctx>) {
    let tq = glommio::executor().create_task_queue(
        glommio::Shares::Static(50),
        glommio::Latency::NotImportant,
        "cron",
    );
    let ctx = ctx.clone();
    let task = async move {
        while !ctx.stopping.get() {
            let hz = RUNTIME.hz.load(Ordering::Relaxed).max(1);
            glommio::timer::sleep(Duration::from_millis(1000 / hz)).await;
            // A busy script is suspended here: nothing may touch its keys (nor start a
            // snapshot's cut) until it ends.
            if ctx.shard.borrow().script_busy {
                continue;
            }
            save_rules(&ctx);
            if !ctx.stopping.get() {
                snapshot_part(&ctx).await;
            }
            crate::cmd::notify::sync_journals(&mut ctx.shard.borrow_mut());
            active_expire(&ctx).await;
            evict(&ctx).await;
            lazy_free(&ctx).await;
        }
    };
    match glommio::spawn_local_into(task, tq) {
        Ok(t) => {
            t.detach();
        }
        Err(e) => eprintln!("corekv: cannot start the background duties: {e}"),
    }
}

/// Shard 0 starts a snapshot when a `--save` rule is due.
fn save_rules(ctx: &Ctx) {
    if ctx.id == 0 {
        snapshot::check_save_rules(|| crate::shard::pipeline::start_snapshot(ctx));
    }
}

/// Frees expired keys nobody touches: examine keys with a TTL in small steps for at most
/// [`ACTIVE_EXPIRE_BUDGET_US`], continuing while more than a quarter of a step was expired
/// (the Redis heuristic).
async fn active_expire(ctx: &Ctx) {
    let start = Instant::now();
    loop {
        let (examined, expired) = {
            let now = crate::clock::now_ms();
            ctx.shard
                .borrow_mut()
                .store
                .active_expire(ACTIVE_EXPIRE_STEP, now)
        };
        {
            let mut sh = ctx.shard.borrow_mut();
            if sh.store.has_expired_journal() {
                crate::cmd::notify::expired(&mut sh, crate::clock::now_ms());
            }
        }
        if examined == 0
            || expired * 4 < examined
            || start.elapsed().as_micros() > ACTIVE_EXPIRE_BUDGET_US
        {
            return;
        }
        glommio::yield_if_needed().await;
    }
}

/// Picks up CONFIG SET maxmemory / policy made on another shard, and evicts in the background
/// while over the limit (writes evict only a little each).
async fn evict(ctx: &Ctx) {
    {
        let mut sh = ctx.shard.borrow_mut();
        let shards = sh.shards;
        RUNTIME.apply_memory_limits(&mut sh.store, shards);
    }
    loop {
        let evicted = {
            let now = crate::clock::now_ms();
            ctx.shard
                .borrow_mut()
                .store
                .evict_step(ACTIVE_EXPIRE_STEP, now)
        };
        if crate::cmd::notify::flags() & crate::cmd::notify::EVICTED != 0
            || crate::cmd::tracking::active()
        {
            let mut sh = ctx.shard.borrow_mut();
            crate::cmd::effects::after_evictions(&mut sh, crate::clock::now_ms());
        }
        if evicted == 0 {
            return;
        }
        glommio::yield_if_needed().await;
    }
}

/// Frees the large values removed since the last cycle in slices of about half a millisecond,
/// pausing between slices so requests run (Redis's lazy free, without a thread: the shard
/// owns its values).
async fn lazy_free(ctx: &Ctx) {
    loop {
        let start = Instant::now();
        loop {
            if ctx.shard.borrow_mut().store.lazy_free_step(LAZY_FREE_STEP) {
                return;
            }
            if start.elapsed().as_micros() > LAZY_FREE_BUDGET_US {
                break;
            }
        }
        // A yield alone may hand the core straight back to this queue (glommio runs a queue
        // for its whole time slice); a short sleep lets requests in before the next slice.
        glommio::timer::sleep(Duration::from_micros(LAZY_FREE_PAUSE_US)).await;
    }
}

/// This shard's part of a save, once the save's cut began it here (see
/// `shard::pipeline::snapshot_cut`) and it has not streamed it yet: walk the store a step at a
/// time (it keeps serving in between) and stream the entries to the writer thread; a full
/// channel means the writer is behind, so wait and retry rather than buffer.
pub async fn snapshot_part(ctx: &Ctx) {
    let begun = ctx.shard.borrow().snapshot_begun;
    if begun != snapshot::epoch() || ctx.snapshot_epoch.replace(begun) == begun {
        return; // no snapshot began here, or this shard already streamed (or is streaming) it
    }
    let Some(tx) = snapshot::sender() else { return };
    let keys = ctx.shard.borrow().store.len() as u64;
    if !send_to_writer(&tx, Msg::Begin(ctx.id, keys)).await {
        return;
    }
    loop {
        let mut entries = Vec::new();
        let done = ctx
            .shard
            .borrow_mut()
            .store
            .snapshot_step(SNAPSHOT_STEP, &mut entries);
        if !send_to_writer(&tx, Msg::Entries(entries)).await {
            return;
        }
        if done {
            send_to_writer(&tx, Msg::Done(ctx.id)).await;
            return;
        }
        glommio::yield_if_needed().await;
    }
}

/// Sends to the snapshot writer without blocking the executor: a full channel means the writer
/// is behind, so wait a little and retry. False when the writer is gone.
async fn send_to_writer(tx: &std::sync::mpsc::SyncSender<Msg>, mut msg: Msg) -> bool {
    loop {
        match tx.try_send(msg) {
            Ok(()) => return true,
            Err(std::sync::mpsc::TrySendError::Full(m)) => {
                msg = m;
                glommio::timer::sleep(Duration::from_micros(200)).await;
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return false,
        }
    }
}
