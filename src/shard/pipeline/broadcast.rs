//! Commands that run on every shard (Route::All): DBSIZE, KEYS, FLUSHALL, RANDOMKEY as parts
//! of the client's command; INFO, CLIENT LIST, PUBLISH and PUBSUB as the server's own typed
//! ops; all gathered into one reply (see `gather`).

use super::{owned_args, Flow, Piece, Pipeline};
use crate::cmd::{self, Args, CmdId, Gather};
use crate::resp::reply::Out;
use crate::shard::mesh::Ctx;
use crate::shard::{Shard, ShardOp};

impl Pipeline {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn all(
        &mut self,
        ctx: &Ctx,
        sh: &mut Shard,
        id: CmdId,
        args: &Args,
        gather: Gather,
        now: u64,
        out: &mut Out,
    ) -> Flow {
        let (part, info) = match gather {
            Gather::Info => (ShardOp::Stats, cmd::server::info_sections(args)),
            Gather::ConcatText => (ShardOp::Clients, 0),
            // PUBLISH and PUBSUB's queries: see `subscribe`.
            Gather::Receivers => return self.publish(ctx, sh, id, args, now, out),
            Gather::Pubsub => return self.pubsub_query(ctx, sh, id, args, now, out),
            _ => (ShardOp::Part(id), 0),
        };
        if part == ShardOp::Part(id) {
            if self.shards == 1 {
                self.single(ctx, sh, self.me, id, args, None, now, out);
                return Flow::Continue;
            }
            if self.must_hold_shards() {
                return Flow::Atomic;
            }
            // The client's own command runs on every shard (DBSIZE, KEYS, FLUSHALL, RANDOMKEY).
            // Counted once, here.
            sh.stats.calls[id as usize] += 1;
            self.on_every_shard(ctx, sh, part, args, gather, info, now);
            return Flow::Continue;
        }
        // The connection counts the client's command; the parts are the server's own ops.
        sh.stats.calls[id as usize] += 1;
        let (data, ranges) = owned_args(&[b""]);
        self.on_every_shard(ctx, sh, part, &Args::new(&data, &ranges), gather, info, now);
        Flow::Continue
    }

    /// Runs `part` (arguments `part_args`, the first being its name or a placeholder) on every
    /// shard and gathers the replies.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_every_shard(
        &mut self,
        ctx: &Ctx,
        sh: &mut Shard,
        part: ShardOp,
        part_args: &Args,
        gather: Gather,
        info: u32,
        now: u64,
    ) {
        let all = 0..self.shards;
        self.on_shards_gathered(ctx, sh, all, part, part_args, gather, info, now);
    }

    /// [`Pipeline::on_every_shard`] on the shards `shards` only.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_shards_gathered(
        &mut self,
        ctx: &Ctx,
        sh: &mut Shard,
        shards: impl IntoIterator<Item = usize>,
        part: ShardOp,
        part_args: &Args,
        gather: Gather,
        info: u32,
        now: u64,
    ) {
        self.deferred = true;
        let parts_start = self.parts.len() as u32;
        for s in shards {
            let op = if s == self.me && !self.local_as_hop {
                self.run_deferred(sh, part, part_args, now)
            } else {
                self.remote(ctx, s, now).push(part, part_args.iter())
            };
            self.parts.push((s as u16, op));
        }
        self.pieces.push(Piece::Gather {
            kind: gather,
            parts: (parts_start, self.parts.len() as u32),
            order: (0, 0),
            info,
        });
    }
}
