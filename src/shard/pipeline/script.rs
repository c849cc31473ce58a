//! EVAL, EVALSHA and FCALL in a connection's batch: where a script runs, driving one that turned
//! busy (`Flow::Script`), and a script whose declared keys live on several shards
//! (`Flow::CrossScript`): it runs on this core, atomically, holding every shard of its keys
//! and this one.
//!
//! ```text
//!   connection (this core)                          held shards
//!   hold the key shards + this one (txn T)  ---->   (the transaction lock: nothing else runs)
//!   run the script here; a redis.call on a key of shard S suspends it (its coroutine):
//!     hop {T, the command} --> S runs it --> reply --> the script resumes with it
//!   release every shard                     ---->   the queued work goes on
//! ```
//! Its writes on each shard belong to T, so with the append-only log on each shard logs its
//! part as one record and recovery applies all of T or none of it (`persist::txnlog`), like a
//! cross-shard EXEC. A call whose keys span shards gets CROSSSLOT; a key of a shard the script
//! does not hold (undeclared), Redis Cluster's non-local-key error.

use super::{Ctx, Flow, Pipeline};
use crate::cmd::{self, Args, CmdId, Shard};
use crate::error::CmdError;
use crate::resp::reply::Out;
use crate::shard::slot::key_shard;

impl Pipeline {
    /// A script command: on the shard of its declared keys (this connection's with none), or
    /// across their shards.
    pub(super) fn script(
        &mut self,
        ctx: &Ctx,
        sh: &mut Shard,
        id: CmdId,
        args: &Args,
        now: u64,
        out: &mut Out,
    ) -> Flow {
        let s = match cmd::script::numkeys(args) {
            Ok(0) => Ok(self.me),
            Ok(n) => {
                let s = key_shard(args.get(3), self.shards);
                if (4..3 + n).all(|i| key_shard(args.get(i), self.shards) == s) {
                    Ok(s)
                } else if self.must_hold_shards() {
                    return Flow::CrossScript;
                } else {
                    Err(CmdError::CrossSlot)
                }
            }
            Err(e) => Err(e),
        };
        match s {
            Ok(s) => {
                // Run here, a busy script is suspended and driven by this connection (never
                // inside EXEC or a held group, which cannot wait).
                sh.script_yieldable = !self.atomic && self.txn == 0;
                self.single(ctx, sh, s, id, args, None, now, out);
                sh.script_yieldable = false;
                if sh.script_busy {
                    return Flow::Script;
                }
            }
            Err(e) => self.local_result(sh, Some(id), Err(e), out),
        }
        Flow::Continue
    }

    /// Drives this connection's busy script (see [`Flow::Script`]) to its end and puts its
    /// reply where the command's reply belongs: `out`, or the deferred-local buffer.
    pub async fn drive_script(&mut self, ctx: &Ctx, out: &mut Out) {
        let mut reply = Out::new(self.resp3());
        crate::shard::busy::drive(ctx, &mut reply).await;
        if self.deferred {
            self.local.reply.extend_from_slice(&reply);
            if let Some(end) = self.local.ends.last_mut() {
                *end = self.local.reply.len();
            }
        } else {
            out.extend_from_slice(&reply);
        }
    }

    /// Runs EVAL / EVALSHA / FCALL (`id`, `args`) across the shards of its declared keys.
    pub(super) async fn cross_script(
        &mut self,
        ctx: &Ctx,
        args: &Args<'_>,
        now: u64,
        out: &mut Out,
    ) {
        let Some(id) = CmdId::lookup(args.get(0)) else {
            return;
        };
        let nkeys = cmd::script::numkeys(args).unwrap_or(0);
        let mut shards: Vec<u16> = (3..3 + nkeys)
            .map(|i| key_shard(args.get(i), self.shards) as u16)
            .chain(std::iter::once(self.me as u16))
            .collect();
        shards.sort_unstable();
        shards.dedup();
        let txn = ctx.lock.new_txn(self.me);
        self.acquire(ctx, txn, &shards, None, now).await;
        self.wal_begin(ctx, txn, |_| shards.clone(), true);
        self.txn = txn;
        self.atomic = true;
        let mut reply = Out::new(self.resp3());
        let mut ended = {
            let mut sh = ctx.shard.borrow_mut();
            sh.script_yieldable = true;
            sh.script_cross.clone_from(&shards);
            cmd::execute(&mut sh, id, args, now, &mut reply);
            sh.script_yieldable = false;
            sh.script_cross.clear();
            !sh.script_busy && cmd::script::remote_call(&sh).is_none()
        };
        while !ended {
            let call = cmd::script::remote_call(&ctx.shard.borrow());
            match call {
                Some((target, call_args, resp3)) => {
                    let hop = self.remote(ctx, target, now);
                    hop.reply.set_resp3(resp3);
                    let op = hop.push_op(
                        CmdId::lookup(&call_args[0]).expect("checked by the script"),
                        call_args.iter().map(Vec::as_slice),
                    );
                    let mut hop = self.outgoing[target].take().expect("just made");
                    hop.dest = target;
                    let answer = if ctx.send(target, hop).await {
                        ctx.wait(self.waiter, 1, &mut self.back).await;
                        self.back.pop()
                    } else {
                        None
                    };
                    let mut sh = ctx.shard.borrow_mut();
                    match answer {
                        Some(hop) => {
                            cmd::script::answer_remote(&mut sh, hop.op_reply(op));
                            ctx.recycle(hop);
                        }
                        None => cmd::script::answer_remote(
                            &mut sh,
                            b"-ERR the shard of this key is not reachable\r\n",
                        ),
                    }
                    ended = cmd::script::resume(&mut sh, &mut reply);
                }
                // Busy: one more slice after a pause, like any busy script (the shards stay
                // held meanwhile).
                None => {
                    glommio::timer::sleep(crate::shard::busy::PAUSE).await;
                    ended = cmd::script::resume(&mut ctx.shard.borrow_mut(), &mut reply);
                }
            }
        }
        self.atomic = false;
        self.txn = 0;
        self.release(ctx, txn, &shards, now).await;
        self.wal_clear();
        out.extend_from_slice(&reply);
    }
}
