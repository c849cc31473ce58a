//! Commands whose keys live on several shards and need dependent steps (take, then put; check,
//! then write), and SAVE, which waits for the snapshot: each runs alone, after everything before
//! it in the pipeline was flushed. A cross-shard RENAME or MSETNX holds its shards (see
//! `shard::lock`) for all its steps, so it is atomic like Redis's: no client sees the key in
//! neither place, or an MSETNX half done.

use super::super::mesh::Ctx;
use super::super::slot::key_shard;
use super::Pipeline;
use crate::cmd::{self, args::eq_ic, Args, CmdId};
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;
use crate::shard::{hop, LockStep, ShardOp, ShardReply};

/// A barrier command `id` failed with `e`: counted in its failed calls and errorstats, answered.
pub(super) fn failed(ctx: &Ctx, id: CmdId, e: &CmdError, out: &mut Out) {
    let mut sh = ctx.shard.borrow_mut();
    sh.stats.failed[id as usize] += 1;
    cmd::write_error(&mut sh, e, out);
}

impl Pipeline {
    /// Runs one op on shard `s` now and returns its result (a client command's as `Resp`).
    pub(super) async fn one(
        &mut self,
        ctx: &Ctx,
        s: usize,
        op: ShardOp,
        args: &[&[u8]],
        now: u64,
    ) -> ShardReply {
        if s == self.me {
            let (data, ranges) = super::owned_args(args);
            let mut sh = ctx.shard.borrow_mut();
            return hop::run_internal(&mut sh, op, &Args::new(&data, &ranges), now);
        }
        let mut hop = ctx.hop(self.waiter);
        hop.now_ms = now;
        hop.txn = self.txn;
        hop.wal_writers.clone_from(&self.wal.writers);
        hop.wal_epoch = self.wal.epoch;
        hop.push(op, args.iter().copied());
        hop.dest = s;
        if !ctx.send(s, hop).await {
            return ShardReply::Failed(CmdError::Internal("shard unreachable"));
        }
        ctx.wait(self.waiter, 1, &mut self.back).await;
        let mut hop = self.back.pop().expect("one hop came back");
        let r = match op {
            ShardOp::Cmd(_) | ShardOp::Part(_) => ShardReply::Resp(hop.op_reply(0).to_vec()),
            _ => hop.take_result(0).unwrap_or_default(),
        };
        ctx.recycle(hop);
        r
    }

    /// A barrier command whose keys live on several shards, run in dependent steps.
    pub async fn barrier(&mut self, ctx: &Ctx, args: &Args<'_>, now: u64, out: &mut Out) {
        if eq_ic(args.get(0), "save") {
            return self.save(ctx, out).await;
        }
        if eq_ic(args.get(0), "client") {
            return self.tracking_redirect(ctx, args, now, out).await;
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
        let id = CmdId::lookup(args.get(0));
        if eq_ic(args.get(0), "msetnx") {
            self.msetnx_across(ctx, args, now, out).await
        } else if matches!(id, Some(CmdId::Pfcount | CmdId::Pfmerge)) {
            self.hll_across(ctx, id.unwrap_or(CmdId::Pfcount), args, now, out)
                .await
        } else if id == Some(CmdId::Bitop) {
            self.bitop_across(ctx, args, now, out).await
        } else if id == Some(CmdId::Lcs) {
            self.lcs_across(ctx, args, now, out).await
        } else if id == Some(CmdId::Copy) {
            self.copy_across(ctx, args, now, out).await
        } else if matches!(
            id,
            Some(CmdId::Lmove | CmdId::Rpoplpush | CmdId::Blmove | CmdId::Brpoplpush)
        ) {
            let id = id.unwrap_or(CmdId::Lmove);
            self.lmove_across(ctx, id, args, now, out).await
        } else if matches!(
            id,
            Some(
                CmdId::Lmpop
                    | CmdId::Blmpop
                    | CmdId::Blpop
                    | CmdId::Brpop
                    | CmdId::Zmpop
                    | CmdId::Bzmpop
                    | CmdId::Bzpopmin
                    | CmdId::Bzpopmax
            )
        ) {
            let id = id.unwrap_or(CmdId::Lmpop);
            self.mpop_across(ctx, id, args, now, out).await
        } else if let Some(id) = id.filter(|id| id.spec().group == "sorted_set") {
            self.zsets_across(ctx, id, args, now, out).await
        } else if id == Some(CmdId::Smove) {
            self.smove_across(ctx, args, now, out).await
        } else if let Some(id) = id.filter(|id| id.spec().group == "set") {
            self.sets_across(ctx, id, args, now, out).await
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
    async fn save(&mut self, ctx: &Ctx, out: &mut Out) {
        use crate::persist::snapshot;
        ctx.shard.borrow_mut().stats.calls[CmdId::Save as usize] += 1;
        let seen = ctx.snapshots_done();
        if let Err(e) = start_snapshot(ctx) {
            let mut sh = ctx.shard.borrow_mut();
            return cmd::write_error(&mut sh, &e, out);
        }
        ctx.snapshot_done_after(seen).await;
        if snapshot::last_ok() {
            reply::ok(out);
        } else {
            let mut sh = ctx.shard.borrow_mut();
            cmd::write_error(&mut sh, &CmdError::SaveFailed, out);
        }
    }

    /// MSETNX over several shards: ask every shard whether any of its keys exists, then set
    /// (the shards are held throughout).
    async fn msetnx_across(&mut self, ctx: &Ctx, args: &Args<'_>, now: u64, out: &mut Out) {
        ctx.shard.borrow_mut().stats.calls[CmdId::Msetnx as usize] += 1;
        let mut by_shard: Vec<Vec<&[u8]>> = vec![Vec::new(); self.shards];
        for i in (1..args.len()).step_by(2) {
            by_shard[key_shard(args.get(i), self.shards)].extend([args.get(i), args.get(i + 1)]);
        }
        for (s, kv) in by_shard.iter().enumerate().filter(|(_, kv)| !kv.is_empty()) {
            let mut keys: Vec<&[u8]> = vec![b""];
            keys.extend(kv.iter().step_by(2));
            if !matches!(
                self.one(ctx, s, ShardOp::CountExisting, &keys, now).await,
                ShardReply::Count(0)
            ) {
                return reply::int(out, 0);
            }
        }
        for (s, kv) in by_shard.iter().enumerate().filter(|(_, kv)| !kv.is_empty()) {
            let mut mset: Vec<&[u8]> = vec![b"mset"];
            mset.extend(kv.iter().copied());
            self.one(ctx, s, ShardOp::Part(CmdId::Mset), &mset, now)
                .await;
        }
        reply::int(out, 1);
    }

    /// SINTER, SUNION, SDIFF, SINTERCARD and the STORE forms over several shards: each shard
    /// sends its sets' members (one op per shard), the origin computes the result as a
    /// single-shard command does (`cmd::sets::algebra`), and a STORE form stores it on the
    /// destination's shard; the shards are held throughout, so it is atomic.
    async fn sets_across(
        &mut self,
        ctx: &Ctx,
        id: CmdId,
        args: &Args<'_>,
        now: u64,
        out: &mut Out,
    ) {
        use cmd::sets::{algebra, Algebra, Operand};
        ctx.shard.borrow_mut().stats.calls[id as usize] += 1;
        let fail = |ctx: &Ctx, e: CmdError, out: &mut Out| failed(ctx, id, &e, out);
        let (op, keys, dst, limit) = match id {
            CmdId::Sintercard => match cmd::sets::intercard_args(args) {
                Ok((keys, limit)) => (Algebra::Inter, keys, None, limit),
                Err(e) => return fail(ctx, e, out),
            },
            _ => {
                let op = match id {
                    CmdId::Sinter | CmdId::Sinterstore => Algebra::Inter,
                    CmdId::Sunion | CmdId::Sunionstore => Algebra::Union,
                    _ => Algebra::Diff,
                };
                let store = matches!(
                    id,
                    CmdId::Sinterstore | CmdId::Sunionstore | CmdId::Sdiffstore
                );
                let from = if store { 2 } else { 1 };
                let keys: Vec<&[u8]> = args.iter().skip(from).collect();
                (op, keys, store.then(|| args.get(1)), 0)
            }
        };
        // One fetch per shard, its keys in argument order.
        let mut fetched: Vec<Option<Vec<Vec<u8>>>> = vec![None; keys.len()];
        for s in 0..self.shards {
            let mine: Vec<usize> = (0..keys.len())
                .filter(|&i| key_shard(keys[i], self.shards) == s)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let mut fa: Vec<&[u8]> = vec![b""];
            fa.extend(mine.iter().map(|&i| keys[i]));
            match self.one(ctx, s, ShardOp::Fetch, &fa, now).await {
                ShardReply::Members(m) => {
                    for (&i, v) in mine.iter().zip(m) {
                        fetched[i] = v;
                    }
                }
                ShardReply::Failed(e) => return fail(ctx, e, out),
                _ => return fail(ctx, CmdError::Internal("unexpected fetch reply"), out),
            }
        }
        let operands: Vec<Operand<'_>> = fetched
            .iter()
            .map(|m| match m {
                Some(m) => Operand::Sent(m.iter().map(Vec::as_slice).collect()),
                None => Operand::Missing,
            })
            .collect();
        let members = algebra(op, &operands, limit);
        let Some(dst) = dst else {
            if id == CmdId::Sintercard {
                return reply::int(out, members.len() as i64);
            }
            return cmd::sets::reply_members(out, &members);
        };
        let mut sa: Vec<&[u8]> = vec![b"", dst];
        sa.extend(members.iter().map(Vec::as_slice));
        let step = ShardOp::SetWrite {
            step: cmd::sets::Step::Store(id),
        };
        match self
            .one(ctx, key_shard(dst, self.shards), step, &sa, now)
            .await
        {
            ShardReply::Count(n) => reply::int(out, n as i64),
            ShardReply::Failed(e) => fail(ctx, e, out),
            _ => fail(ctx, CmdError::Internal("unexpected store reply"), out),
        }
    }

    /// PFCOUNT / PFMERGE over keys on several shards: each HLL is read where it lives, the origin
    /// merges; PFMERGE stores the result on the destination's shard (a SETRANGE part, keeping
    /// its TTL, with every hook a client's write gets); the shards are held throughout.
    async fn hll_across(&mut self, ctx: &Ctx, id: CmdId, args: &Args<'_>, now: u64, out: &mut Out) {
        ctx.shard.borrow_mut().stats.calls[id as usize] += 1;
        let fail = |ctx: &Ctx, e: CmdError, out: &mut Out| failed(ctx, id, &e, out);
        let mut strings = Vec::new();
        for key in args.iter().skip(1) {
            let s = key_shard(key, self.shards);
            match self.one(ctx, s, ShardOp::Dump, &[b"", key], now).await {
                ShardReply::Taken(Some((dump, _))) => match crate::persist::rdb::undump(&dump) {
                    Some(crate::store::Value::String(v)) => strings.push(Some(v)),
                    _ => return fail(ctx, CmdError::WrongType, out),
                },
                _ => strings.push(None),
            }
        }
        let regs = match cmd::hll::registers_of(&strings) {
            Ok(r) => r,
            Err(e) => return fail(ctx, e, out),
        };
        if id == CmdId::Pfcount {
            return reply::int(out, cmd::hll::union_count(&regs) as i64);
        }
        let dest = args.get(1);
        let value = cmd::hll::merged(&regs);
        let write: [&[u8]; 4] = [b"setrange", dest, b"0", &value];
        let part = ShardOp::Part(CmdId::Setrange);
        if let ShardReply::Resp(r) = self
            .one(ctx, key_shard(dest, self.shards), part, &write, now)
            .await
        {
            if r.first() == Some(&b'-') {
                return fail(
                    ctx,
                    CmdError::Internal("PFMERGE could not store its result"),
                    out,
                );
            }
        }
        reply::ok(out);
    }

    /// BITOP over keys on several shards: each source is read where it lives, the origin
    /// computes (`cmd::bitmaps`), and the destination's shard stores it as a SET (or a DEL for
    /// an empty result), with every hook a client's write gets; the shards are held throughout.
    async fn bitop_across(&mut self, ctx: &Ctx, args: &Args<'_>, now: u64, out: &mut Out) {
        let id = CmdId::Bitop;
        ctx.shard.borrow_mut().stats.calls[id as usize] += 1;
        let fail = |ctx: &Ctx, e: CmdError, out: &mut Out| failed(ctx, id, &e, out);
        let (code, dest, keys) = match cmd::bitmaps::bitop_args(args) {
            Ok(a) => a,
            Err(e) => return fail(ctx, e, out),
        };
        let mut sources = Vec::with_capacity(keys.len());
        for key in keys {
            let s = key_shard(key, self.shards);
            match self.one(ctx, s, ShardOp::Dump, &[b"", key], now).await {
                ShardReply::Taken(Some((dump, _))) => match crate::persist::rdb::undump(&dump) {
                    Some(crate::store::Value::String(v)) => sources.push(v),
                    _ => return fail(ctx, CmdError::WrongType, out),
                },
                _ => sources.push(Vec::new()),
            }
        }
        let result = cmd::bitmaps::bitop_result(code, &sources);
        let s_dest = key_shard(dest, self.shards);
        let (op, write): (CmdId, Vec<&[u8]>) = if result.is_empty() {
            (CmdId::Del, vec![b"del", dest])
        } else {
            (CmdId::Set, vec![b"set", dest, &result])
        };
        if let ShardReply::Resp(r) = self.one(ctx, s_dest, ShardOp::Part(op), &write, now).await {
            if r.first() == Some(&b'-') {
                return fail(
                    ctx,
                    CmdError::Internal("BITOP could not store its result"),
                    out,
                );
            }
        }
        reply::int(out, result.len() as i64);
    }

    /// LCS of two strings on different shards: each is read where it lives, the origin
    /// computes (`cmd::lcs`).
    async fn lcs_across(&mut self, ctx: &Ctx, args: &Args<'_>, now: u64, out: &mut Out) {
        let id = CmdId::Lcs;
        ctx.shard.borrow_mut().stats.calls[id as usize] += 1;
        let fail = |ctx: &Ctx, e: CmdError, out: &mut Out| failed(ctx, id, &e, out);
        let mut strings = Vec::with_capacity(2);
        for key in [args.get(1), args.get(2)] {
            let s = key_shard(key, self.shards);
            let value = match self.one(ctx, s, ShardOp::Dump, &[b"", key], now).await {
                ShardReply::Taken(Some((dump, _))) => crate::persist::rdb::undump(&dump),
                _ => Some(crate::store::Value::String(Vec::new())),
            };
            match value {
                Some(crate::store::Value::String(v)) => strings.push(v),
                _ => return fail(ctx, cmd::lcs::NOT_STRINGS, out),
            }
        }
        if let Err(e) = cmd::lcs::reply_for(&strings[0], &strings[1], args, out) {
            fail(ctx, e, out);
        }
    }

    /// COPY between keys on different shards: read the source (left in place), check the
    /// destination unless REPLACE, put (the two shards are held throughout).
    async fn copy_across(&mut self, ctx: &Ctx, args: &Args<'_>, now: u64, out: &mut Out) {
        let id = CmdId::Copy;
        ctx.shard.borrow_mut().stats.calls[id as usize] += 1;
        let fail = |ctx: &Ctx, e: CmdError, out: &mut Out| failed(ctx, id, &e, out);
        let replace = match cmd::serialize::copy_options(args) {
            Ok(r) => r,
            Err(e) => return fail(ctx, e, out),
        };
        let (src, dst) = (args.get(1), args.get(2));
        let (s_src, s_dst) = (key_shard(src, self.shards), key_shard(dst, self.shards));
        let ShardReply::Taken(Some((value, expire))) =
            self.one(ctx, s_src, ShardOp::Dump, &[b"", src], now).await
        else {
            return reply::int(out, 0);
        };
        if !replace
            && matches!(
                self.one(ctx, s_dst, ShardOp::CountExisting, &[b"", dst], now).await,
                ShardReply::Count(n) if n > 0
            )
        {
            return reply::int(out, 0);
        }
        let put = ShardOp::Put {
            copy: true,
            expire_at: expire.unwrap_or(u64::MAX),
        };
        if let ShardReply::Failed(e) = self.one(ctx, s_dst, put, &[b"", dst, &value], now).await {
            return fail(ctx, e, out);
        }
        reply::int(out, 1);
    }

    /// SMOVE between sets on different shards: check both sides, remove, add (the two shards
    /// are held throughout), with Redis's order of checks.
    async fn smove_across(&mut self, ctx: &Ctx, args: &Args<'_>, now: u64, out: &mut Out) {
        let id = CmdId::Smove;
        ctx.shard.borrow_mut().stats.calls[id as usize] += 1;
        let fail = |ctx: &Ctx, e: CmdError, out: &mut Out| failed(ctx, id, &e, out);
        let (src, dst, member) = (args.get(1), args.get(2), args.get(3));
        let (s_src, s_dst) = (key_shard(src, self.shards), key_shard(dst, self.shards));
        match self
            .one(ctx, s_src, ShardOp::SetCheck, &[b"", src], now)
            .await
        {
            ShardReply::Count(0) => return reply::int(out, 0),
            ShardReply::Failed(e) => return fail(ctx, e, out),
            _ => {}
        }
        if let ShardReply::Failed(e) = self
            .one(ctx, s_dst, ShardOp::SetCheck, &[b"", dst], now)
            .await
        {
            return fail(ctx, e, out);
        }
        let remove = ShardOp::SetWrite {
            step: cmd::sets::Step::Remove,
        };
        match self.one(ctx, s_src, remove, &[b"", src, member], now).await {
            ShardReply::Count(1) => {}
            ShardReply::Failed(e) => return fail(ctx, e, out),
            _ => return reply::int(out, 0),
        }
        let add = ShardOp::SetWrite {
            step: cmd::sets::Step::Add,
        };
        if let ShardReply::Failed(e) = self.one(ctx, s_dst, add, &[b"", dst, member], now).await {
            return fail(ctx, e, out);
        }
        reply::int(out, 1);
    }

    /// RENAME / RENAMENX between keys on different shards: check, take, put (the two shards
    /// are held throughout).
    async fn rename_across(&mut self, ctx: &Ctx, args: &Args<'_>, now: u64, out: &mut Out) {
        let nx = eq_ic(args.get(0), "renamenx");
        let id = if nx { CmdId::Renamenx } else { CmdId::Rename };
        let (src, dst) = (args.get(1), args.get(2));
        let (s_src, s_dst) = (key_shard(src, self.shards), key_shard(dst, self.shards));
        ctx.shard.borrow_mut().stats.calls[id as usize] += 1;
        let fail = |ctx: &Ctx, e: CmdError, out: &mut Out| failed(ctx, id, &e, out);
        let exists = |r: ShardReply| matches!(r, ShardReply::Count(n) if n > 0);
        if nx
            && !exists(
                self.one(ctx, s_src, ShardOp::CountExisting, &[b"", src], now)
                    .await,
            )
        {
            return fail(ctx, CmdError::NoSuchKey, out);
        }
        if nx
            && exists(
                self.one(ctx, s_dst, ShardOp::CountExisting, &[b"", dst], now)
                    .await,
            )
        {
            return reply::int(out, 0);
        }
        let ShardReply::Taken(Some((value, expire))) =
            self.one(ctx, s_src, ShardOp::Take, &[b"", src], now).await
        else {
            return fail(ctx, CmdError::NoSuchKey, out);
        };
        let put = ShardOp::Put {
            copy: false,
            expire_at: expire.unwrap_or(u64::MAX),
        };
        if let ShardReply::Failed(e) = self.one(ctx, s_dst, put, &[b"", dst, &value], now).await {
            // The destination refused the value (it cannot hold it): say so, never lose it
            // silently. The source key is already gone, as after a RENAME onto a full store.
            eprintln!("corekv: RENAME could not store the destination key");
            return fail(ctx, e, out);
        }
        if nx {
            reply::int(out, 1);
        } else {
            reply::ok(out);
        }
    }
}

/// The cut of snapshot `epoch`: holds every shard, in ascending order like a transaction,
/// beginning the snapshot on each as it is taken, then frees them all. Transactions hold their
/// shards the same way (two-phase, ascending), so each one is wholly before the cut (all its
/// writes are in the snapshot) or wholly after it (none are): a snapshot never holds part of a
/// transaction. Each shard then streams its entries from its background duty.
pub async fn snapshot_cut(ctx: &Ctx, epoch: u64) {
    let waiter = ctx.new_waiter();
    let mut pipe = Pipeline::new(ctx, waiter);
    let all: Vec<u16> = (0..ctx.shards as u16).collect();
    let txn = ctx.lock.new_txn(ctx.id);
    let now = crate::clock::now_ms();
    for &s in &all {
        if s as usize == ctx.id {
            ctx.lock.acquire(txn, false).await;
            hop::begin_snapshot(&mut ctx.shard.borrow_mut(), epoch);
        } else {
            let op = ShardOp::SnapshotBegin { epoch };
            pipe.on_shards(ctx, &[s], txn, LockStep::Acquire, Some(op), now)
                .await;
        }
    }
    pipe.release(ctx, txn, &all, now).await;
    ctx.free_waiter(waiter);
}

/// Starts a snapshot (SAVE, BGSAVE, BGREWRITEAOF, a save rule): the writer thread, then the cut
/// in a task of this core.
pub fn start_snapshot(ctx: &Ctx) -> Result<(), CmdError> {
    use crate::persist::snapshot::{self, StartError};
    let Some(ctx) = ctx.this() else {
        return Err(CmdError::Internal("the shard is not running"));
    };
    let control = ctx.control.get().cloned();
    let done = move || {
        if let Some(c) = control {
            c.broadcast(crate::shard::control::ToShard::SnapshotDone);
        }
    };
    let functions = crate::cmd::script::library_codes();
    let path = crate::config::RUNTIME.rdb_path();
    let epoch = snapshot::start(ctx.shards, path, functions, done).map_err(|e| match e {
        StartError::InProgress => CmdError::BgsaveInProgress,
        StartError::Thread(why) => CmdError::CannotStartSave(why),
    })?;
    glommio::spawn_local(async move {
        // The caller may hold the shard's state (a command running): start on a later turn.
        futures_lite::future::yield_now().await;
        snapshot_cut(&ctx, epoch).await
    })
    .detach();
    Ok(())
}
