//! Batch planning and prefetch: look each command up once, and start the cache misses of a
//! batch's keys before running its commands.
//!
//! A key lookup is three dependent cache misses (hash index, slab slot, key and value bytes);
//! run one command after another, a pipelined batch of GETs on a table bigger than the cache
//! waits for them one at a time. Before a chunk of commands runs, [`plan`] walks the chunk once:
//! - it finds each command in the command table and, for a single-key command, the shard that
//!   owns the key and (when this core owns it) the key's hash. The results go into a [`Plan`]
//!   per command, which the pipeline uses instead of looking the name up, routing the key and
//!   hashing it a second time;
//! - it runs the store's three prefetch stages (see `store::prefetch`) over the keys this core
//!   owns, so the loads of different keys are in flight together and the commands find their
//!   data in cache.
//!
//! The prefetches are hints: nothing read for them decides anything. A key written by an earlier
//! command of the chunk, or a key on another core, merely goes unfetched. The plan's facts stay
//! true while the chunk runs: the command table is static, slots never move between shards, and
//! a store keeps its hasher for its life.

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

/// What planning learned about one command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The command, or `None` for an unknown name.
    pub id: Option<CmdId>,
    /// For a single-key command ([`Route::Key`]) with its key present: the shard that owns the
    /// key, and its hash in this core's store when that shard is this core.
    pub key: Option<KeyPlan>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyPlan {
    pub shard: u16,
    pub hash: Option<u64>,
}

/// Plans the commands `range` of a connection's `batch` into `plans` (one per command, in
/// order) and prefetches the keys among them that this core owns.
pub fn plan(ctx: &Ctx, buf: &[u8], batch: &Batch, range: Range<usize>, plans: &mut [Plan]) {
    plan_commands(ctx, range.map(|i| Args::new(buf, batch.cmd_args(i))), plans);
}

/// Plans one command on its own (nothing is prefetched for a lone single-key command).
pub fn plan_one(ctx: &Ctx, args: Args) -> Plan {
    let mut plan = [Plan::default()];
    plan_commands(ctx, std::iter::once(args), &mut plan);
    plan[0]
}

/// Plans commands parsed on this core: their keys may belong to any shard.
fn plan_commands<'a>(ctx: &Ctx, cmds: impl ExactSizeIterator<Item = Args<'a>>, plans: &mut [Plan]) {
    let (me, shards) = (ctx.id, ctx.shards);
    plan_keys(
        &ctx.shard.borrow().store,
        cmds.map(|args| (CmdId::lookup(args.get(0)), args)),
        |key| key_shard(key, shards),
        me,
        plans,
    );
}

/// Plans a hop's ops (all of them this core's) into `plans` and prefetches their keys.
pub fn plan_ops<'a>(
    store: &Store,
    me: usize,
    ops: impl ExactSizeIterator<Item = (CmdId, Args<'a>)>,
    plans: &mut [Plan],
) {
    plan_keys(store, ops.map(|(id, a)| (Some(id), a)), |_| me, me, plans);
}

/// The plan of each command, then the store's three prefetch stages over the keys `owner` puts
/// on `me`. A lone single-key command is planned but not prefetched: prefetching its one key
/// would only be its lookup, done twice. (A lone multi-key command, an MGET, still gains: its
/// keys' misses overlap.)
fn plan_keys<'a>(
    store: &Store,
    cmds: impl ExactSizeIterator<Item = (Option<CmdId>, Args<'a>)>,
    owner: impl Fn(&[u8]) -> usize,
    me: usize,
    plans: &mut [Plan],
) {
    let lone = cmds.len() == 1;
    let mut hashes = [0u64; MAX_KEYS];
    let mut n = 0;
    for ((id, args), plan) in cmds.zip(plans.iter_mut()) {
        *plan = Plan { id, key: None };
        let Some(id) = id else { continue };
        let spec = id.spec();
        let first = spec.first_key as usize;
        match spec.route {
            Route::Key if first < args.len() => {
                let key = args.get(first);
                let shard = owner(key);
                let hash = (shard == me).then(|| store.key_hash(key));
                plan.key = Some(KeyPlan {
                    shard: shard as u16,
                    hash,
                });
                match hash {
                    Some(h) if !lone && n < MAX_KEYS => {
                        store.prefetch_bucket_of(h);
                        hashes[n] = h;
                        n += 1;
                    }
                    _ => {}
                }
            }
            Route::Multi { step, .. } => {
                let mut k = first;
                while k < args.len() && n < MAX_KEYS {
                    let key = args.get(k);
                    if owner(key) == me {
                        hashes[n] = store.prefetch_bucket(key);
                        n += 1;
                    }
                    k = k.saturating_add(step as usize);
                }
            }
            // A script's declared keys: its redis.calls then find them in cache, as a
            // pipeline's GETs do.
            Route::Script if args.len() >= 3 => {
                let nkeys = crate::cmd::script::numkeys(&args).unwrap_or(0);
                for k in 3..3 + nkeys {
                    let key = args.get(k);
                    if n < MAX_KEYS && owner(key) == me {
                        hashes[n] = store.prefetch_bucket(key);
                        n += 1;
                    }
                }
            }
            _ => {}
        }
    }
    for &h in &hashes[..n] {
        store.prefetch_slots(h);
    }
    for &h in &hashes[..n] {
        store.prefetch_entries(h);
    }
}
