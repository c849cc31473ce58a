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
use std::ops::Range;

/// Commands per prefetch chunk: enough to overlap the misses of a pipeline of 16, few enough
/// that the chunk's data is still in the cache when its commands run.
pub const CHUNK: usize = 16;
/// Most keys prefetched per chunk (an MGET of thousands of keys is fetched as it runs).
const MAX_KEYS: usize = 64;

/// Prefetches the keys of the commands `range` of `batch` that this core owns. `hashes` is
/// scratch space kept by the caller so that nothing is allocated per batch.
pub fn prefetch(ctx: &Ctx, buf: &[u8], batch: &Batch, range: Range<usize>, hashes: &mut Vec<u64>) {
    hashes.clear();
    let one_command = range.len() == 1;
    let sh = ctx.shard.borrow();
    let store = &sh.store;
    for i in range {
        let args = Args::new(buf, batch.cmd_args(i));
        let Some(id) = CmdId::lookup(args.get(0)) else {
            continue;
        };
        let spec = id.spec();
        let (first, step) = match spec.route {
            // A lone single-key command gains nothing: prefetching it would be its lookup.
            Route::Key if one_command => return,
            Route::Key => (spec.first_key as usize, usize::MAX),
            Route::Multi { step, .. } => (spec.first_key as usize, step as usize),
            _ => continue,
        };
        let mut k = first;
        while k < args.len() && hashes.len() < MAX_KEYS {
            let key = args.get(k);
            if key_shard(key, ctx.shards) == ctx.id {
                hashes.push(store.prefetch_bucket(key));
            }
            k = k.saturating_add(step);
        }
    }
    for &h in hashes.iter() {
        store.prefetch_slots(h);
    }
    for &h in hashes.iter() {
        store.prefetch_entries(h);
    }
}
