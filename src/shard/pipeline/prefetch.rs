//! Batch prefetch: start the cache misses of a batch's keys before running its commands.
//!
//! A key lookup is three dependent cache misses (hash index, slab slot, key and value bytes);
//! run one command after another, a pipelined batch of GETs on a table bigger than the cache
//! waits for them one at a time. Before a chunk of commands runs, [`prefetch`] walks the
//! chunk's keys owned by this core in the store's three stages (see `store::prefetch`): the
//! loads of different keys are then in flight together, and the commands themselves find their
//! data in cache. Nothing is read for the result and nothing changes: a key written by an
//! earlier command of the chunk, or a key on another core, merely goes unfetched.

use super::super::mesh::Ctx;
use super::super::slot::key_shard;
use crate::cmd::{Args, CmdId, Route};
use crate::resp::parse::Batch;
use crate::store::Store;
use std::ops::Range;

/// Commands per prefetch chunk: enough to overlap the misses of a pipeline of 16, few enough
/// that the chunk's data is still in the cache when its commands run.
pub const CHUNK: usize = 16;
/// Most keys prefetched per chunk (an MGET of thousands of keys is fetched as it runs).
const MAX_KEYS: usize = 64;

/// Prefetches the keys of the commands `range` of a connection's `batch` that this core owns.
pub fn prefetch(ctx: &Ctx, buf: &[u8], batch: &Batch, range: Range<usize>) {
    let lone = range.len() == 1;
    let cmds = range.filter_map(|i| {
        let args = Args::new(buf, batch.cmd_args(i));
        CmdId::lookup(args.get(0)).map(|id| (id, args))
    });
    let (me, shards) = (ctx.id, ctx.shards);
    prefetch_keys(
        &ctx.shard.borrow().store,
        without_lone_key(cmds, lone),
        |key| key_shard(key, shards) == me,
    );
}

/// Prefetches the keys of a hop's ops (all of them this core's) before they run.
pub fn prefetch_ops<'a>(store: &Store, ops: impl ExactSizeIterator<Item = (CmdId, Args<'a>)>) {
    let lone = ops.len() == 1;
    prefetch_keys(store, without_lone_key(ops, lone), |_| true);
}

/// Drops a lone single-key command: prefetching its one key would only be its lookup, done
/// twice. (A lone multi-key command, an MGET, still gains: its keys' misses overlap.)
fn without_lone_key<'a>(
    cmds: impl Iterator<Item = (CmdId, Args<'a>)>,
    lone: bool,
) -> impl Iterator<Item = (CmdId, Args<'a>)> {
    cmds.filter(move |(id, _)| !(lone && matches!(id.spec().route, Route::Key)))
}

/// Runs the store's three prefetch stages over the keys of `cmds` that `mine` accepts.
fn prefetch_keys<'a>(
    store: &Store,
    cmds: impl Iterator<Item = (CmdId, Args<'a>)>,
    mine: impl Fn(&[u8]) -> bool,
) {
    let mut hashes = [0u64; MAX_KEYS];
    let mut n = 0;
    for (id, args) in cmds {
        let spec = id.spec();
        let (first, step) = match spec.route {
            Route::Key => (spec.first_key as usize, usize::MAX),
            Route::Multi { step, .. } => (spec.first_key as usize, step as usize),
            _ => continue,
        };
        let mut k = first;
        while k < args.len() && n < MAX_KEYS {
            let key = args.get(k);
            if mine(key) {
                hashes[n] = store.prefetch_bucket(key);
                n += 1;
            }
            k = k.saturating_add(step);
        }
    }
    for &h in &hashes[..n] {
        store.prefetch_slots(h);
    }
    for &h in &hashes[..n] {
        store.prefetch_entries(h);
    }
}
