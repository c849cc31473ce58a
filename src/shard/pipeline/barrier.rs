//! Commands whose keys live on several shards and need dependent steps (take, then put; check,
//! then write), and SAVE, which waits for the snapshot: each runs alone, after everything before
//! it in the pipeline was flushed. A cross-shard RENAME or MSETNX holds its shards (see
//! `shard::lock`) for all its steps, so it is atomic like Redis's: no client sees the key in
//! neither place, or an MSETNX half done.

use super::super::mesh::Ctx;
use super::super::slot::key_shard;
use super::gather::read_bulk;
use super::Pipeline;
use crate::cmd::{self, args::eq_ic, Args, CmdId};
use crate::error::CmdError;
use crate::resp::reply;
use crate::shard::{hop, ShardOp};

impl Pipeline {
    /// Runs one op on shard `s` now and returns its reply.
    async fn one(&mut self, ctx: &Ctx, s: usize, op: ShardOp, args: &[&[u8]], now: u64) -> Vec<u8> {
        if s == self.me {
            let (data, ranges) = super::owned_args(args);
            let mut out = Vec::new();
            hop::run_internal(
                &mut ctx.shard.borrow_mut(),
                op,
                &Args::new(&data, &ranges),
                now,
                &mut out,
            );
            return out;
        }
        let mut hop = ctx.hop(self.waiter);
        hop.now_ms = now;
        hop.txn = self.txn;
        hop.wal_writers.clone_from(&self.wal.writers);
        hop.wal_epoch = self.wal.epoch;
        hop.push(op, args.iter().copied());
        hop.dest = s;
        if !ctx.send(s, hop).await {
            return b"-ERR internal error: shard unreachable\r\n".to_vec();
        }
        ctx.wait(self.waiter, 1, &mut self.back).await;
        let hop = self.back.pop().expect("one hop came back");
        let r = hop.op_reply(0).to_vec();
        ctx.recycle(hop);
        r
    }

    /// A barrier command whose keys live on several shards, run in dependent steps.
    pub async fn barrier(&mut self, ctx: &Ctx, args: &Args<'_>, now: u64, out: &mut Vec<u8>) {
        if eq_ic(args.get(0), "save") {
            return self.save(ctx, out).await;
        }
        // Outside EXEC (which already holds them), hold the keys' shards for every step.
        let mut held = Vec::new();
        let txn = if self.txn == 0 {
            let id = CmdId::lookup(args.get(0)).unwrap_or(CmdId::Rename);
            cmd::for_each_key(id, args, |k| held.push(key_shard(k, self.shards) as u16));
            held.sort_unstable();
            held.dedup();
            let txn = ctx.lock.new_txn(self.me);
            self.wal_begin(ctx, txn, |_| held.clone(), false);
            self.acquire(ctx, txn, &held, None, now).await;
            self.txn = txn;
            txn
        } else {
            0
        };
        if eq_ic(args.get(0), "msetnx") {
            self.msetnx_across(ctx, args, now, out).await
        } else {
            self.rename_across(ctx, args, now, out).await
        }
        if txn != 0 {
            self.txn = 0;
            self.release(ctx, txn, &held, now).await;
            self.wal_clear();
        }
    }

    /// SAVE: a snapshot like BGSAVE, answered when the file is complete. Only this client
    /// waits; every shard keeps serving.
    async fn save(&mut self, ctx: &Ctx, out: &mut Vec<u8>) {
        use crate::persist::snapshot;
        ctx.shard.borrow_mut().stats.calls[CmdId::Save as usize] += 1;
        if let Err(e) = snapshot::start(self.shards, crate::config::RUNTIME.rdb_path()) {
            let mut sh = ctx.shard.borrow_mut();
            return cmd::write_error(&mut sh, &CmdError::Other(e), out);
        }
        while snapshot::in_progress() {
            glommio::timer::sleep(std::time::Duration::from_millis(2)).await;
        }
        if snapshot::last_ok() {
            reply::ok(out);
        } else {
            reply::error(out, b"ERR Background save failed (see the server log)");
        }
    }

    /// MSETNX over several shards: ask every shard whether any of its keys exists, then set
    /// (the shards are held throughout).
    async fn msetnx_across(&mut self, ctx: &Ctx, args: &Args<'_>, now: u64, out: &mut Vec<u8>) {
        ctx.shard.borrow_mut().stats.calls[CmdId::Msetnx as usize] += 1;
        let mut by_shard: Vec<Vec<&[u8]>> = vec![Vec::new(); self.shards];
        for i in (1..args.len()).step_by(2) {
            by_shard[key_shard(args.get(i), self.shards)].extend([args.get(i), args.get(i + 1)]);
        }
        for (s, kv) in by_shard.iter().enumerate().filter(|(_, kv)| !kv.is_empty()) {
            let mut exists: Vec<&[u8]> = vec![b"exists"];
            exists.extend(kv.iter().step_by(2));
            if self
                .one(ctx, s, ShardOp::Cmd(CmdId::Exists), &exists, now)
                .await
                != b":0\r\n"
            {
                return reply::int(out, 0);
            }
        }
        for (s, kv) in by_shard.iter().enumerate().filter(|(_, kv)| !kv.is_empty()) {
            let mut mset: Vec<&[u8]> = vec![b"mset"];
            mset.extend(kv.iter().copied());
            self.one(ctx, s, ShardOp::Cmd(CmdId::Mset), &mset, now)
                .await;
        }
        reply::int(out, 1);
    }

    /// RENAME / RENAMENX between keys on different shards: check, take, put (the two shards
    /// are held throughout).
    async fn rename_across(&mut self, ctx: &Ctx, args: &Args<'_>, now: u64, out: &mut Vec<u8>) {
        let nx = eq_ic(args.get(0), "renamenx");
        let id = if nx { CmdId::Renamenx } else { CmdId::Rename };
        let (src, dst) = (args.get(1), args.get(2));
        let (s_src, s_dst) = (key_shard(src, self.shards), key_shard(dst, self.shards));
        ctx.shard.borrow_mut().stats.calls[id as usize] += 1;
        let fail = |ctx: &Ctx, e: CmdError, out: &mut Vec<u8>| {
            let mut sh = ctx.shard.borrow_mut();
            sh.stats.failed[id as usize] += 1;
            cmd::write_error(&mut sh, &e, out);
        };
        if nx
            && self
                .one(
                    ctx,
                    s_src,
                    ShardOp::Cmd(CmdId::Exists),
                    &[b"exists", src],
                    now,
                )
                .await
                != b":1\r\n"
        {
            return fail(ctx, CmdError::NoSuchKey, out);
        }
        if nx
            && self
                .one(
                    ctx,
                    s_dst,
                    ShardOp::Cmd(CmdId::Exists),
                    &[b"exists", dst],
                    now,
                )
                .await
                == b":1\r\n"
        {
            return reply::int(out, 0);
        }
        let taken = self.one(ctx, s_src, ShardOp::Take, &[b"", src], now).await;
        let Some((value, expire)) = parse_taken(&taken) else {
            return fail(ctx, CmdError::NoSuchKey, out);
        };
        let put = ShardOp::Put {
            expire_at: u64::try_from(expire).unwrap_or(u64::MAX),
        };
        let stored = self.one(ctx, s_dst, put, &[b"", dst, value], now).await;
        if stored.first() == Some(&b'-') {
            // The destination refused the value (it cannot hold it): say so, never lose it
            // silently. The source key is already gone, as after a RENAME onto a full store.
            eprintln!("corekv: RENAME could not store the destination key");
            out.extend_from_slice(&stored);
            return;
        }
        if nx {
            reply::int(out, 1);
        } else {
            reply::ok(out);
        }
    }
}

/// `*2\r\n$<n>\r\n<value>\r\n:<expire>\r\n` -> (value, expire)
fn parse_taken(r: &[u8]) -> Option<(&[u8], i64)> {
    let r = r.strip_prefix(b"*2\r\n")?;
    let (value, rest) = read_bulk(r)?;
    let value = value?;
    Some((value, reply::parse_int(rest)?))
}
