//! Lists across shards: LMOVE / RPOPLPUSH between keys of two shards and LMPOP over keys of
//! several (each holding its shards, as barriers do), and the blocking commands' wait.
//!
//! # Blocking
//! [`Pipeline::block`] runs BLPOP, BRPOP, BLMOVE, BRPOPLPUSH and BLMPOP outside MULTI: it sends
//! `ShardOp::BlockOn` to each shard of the keys in the order of their first key, with one
//! ticket (`cmd::blocking::Ticket`) for all. A shard with data serves the client at once; the
//! others register it. If none served, the connection waits for one of three things:
//! - an answer: a shard that won the ticket served the client from its serving task
//!   ([`serve`]) and sent the reply back on the reply mesh to the connection's waiter slot;
//! - the deadline: the connection wins the ticket itself and answers the timeout's null;
//! - its socket closing, or the server shutting down: it wins the ticket and answers nothing.
//!
//! If the connection loses the race for the ticket, an answer is on its way and it waits for
//! it. Either way it then unregisters from the other shards, so a closed or timed-out client
//! leaves nothing behind. A move to another shard's key is not served by the source shard: the
//! winner wakes the client, which runs the move holding both shards and waits again (with the
//! same deadline) when another client took the element first.

use super::super::mesh::Ctx;
use super::super::slot::key_shard;
use super::barrier::failed;
use super::Pipeline;
use crate::cmd::blocking::{self, Home, Ticket};
use crate::cmd::{self, lists, Args, CmdId};
use crate::resp::reply;
use crate::resp::reply::Out;
use crate::shard::{ShardOp, ShardReply};
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::task::Poll;

/// A bulk reply's bytes (`None` for a null or anything else).
fn bulk_of(r: &[u8]) -> Option<&[u8]> {
    let rest = r.strip_prefix(b"$")?;
    let nl = memchr::memchr(b'\r', rest)?;
    let n: usize = std::str::from_utf8(&rest[..nl]).ok()?.parse().ok()?;
    rest.get(nl + 2..nl + 2 + n)
}

/// A RESP2 reply of bulk strings whose scores (every bulk that parses as a float after the
/// key, in pop replies: `[key, member, score]` or `[key, [[member, score]...]]`) become RESP3
/// doubles.
fn to_resp3_scores(r: &[u8]) -> Vec<u8> {
    // Walk the reply: arrays pass through, bulks alternate member/score after the key.
    let mut out = Vec::with_capacity(r.len());
    let mut i = 0;
    let mut bulks = 0usize;
    let nested = r.starts_with(b"*2\r\n");
    while i < r.len() {
        let nl = match memchr::memchr(b'\n', &r[i..]) {
            Some(n) => i + n + 1,
            None => break,
        };
        if r[i] == b'$' {
            let n: usize = std::str::from_utf8(&r[i + 1..nl - 2])
                .ok()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            let body = &r[nl..nl + n];
            bulks += 1;
            // The key is bulk 1; then member, score pairs.
            let is_score = bulks > 1 && (bulks % 2 == 1);
            let _ = nested;
            if is_score {
                out.push(b',');
                out.extend_from_slice(body);
                out.extend_from_slice(b"\r\n");
            } else {
                out.extend_from_slice(&r[i..nl + n + 2]);
            }
            i = nl + n + 2;
        } else {
            out.extend_from_slice(&r[i..nl]);
            i = nl;
        }
    }
    out
}

/// Passes a part's error reply on to the client, counted as the command's failure.
fn pass_error(ctx: &Ctx, id: CmdId, r: &[u8], out: &mut Out) {
    ctx.shard.borrow_mut().stats.failed[id as usize] += 1;
    out.extend_from_slice(r);
}

enum Woke {
    Answer,
    Timeout,
    Closed,
}

impl Pipeline {
    /// A client command's part on shard `s` now: its reply.
    async fn part_now(
        &mut self,
        ctx: &Ctx,
        s: usize,
        id: CmdId,
        args: &[&[u8]],
        now: u64,
    ) -> Vec<u8> {
        match self.one(ctx, s, ShardOp::Part(id), args, now).await {
            ShardReply::Resp(r) => r,
            ShardReply::Failed(e) => format!("-{e}\r\n").into_bytes(),
            _ => b"-ERR internal error\r\n".to_vec(),
        }
    }

    /// LMOVE / RPOPLPUSH (and their one-shot blocking forms) between two shards: check the
    /// source, then the destination, pop, push, holding both.
    pub(super) async fn lmove_across(
        &mut self,
        ctx: &Ctx,
        id: CmdId,
        args: &Args<'_>,
        now: u64,
        out: &mut Out,
    ) {
        ctx.shard.borrow_mut().stats.calls[id as usize] += 1;
        let sides = match id {
            CmdId::Lmove | CmdId::Blmove => lists::move_sides(args, Some(3)),
            _ => Ok((false, true)),
        };
        let sides = match sides.and_then(|s| match id {
            CmdId::Blmove | CmdId::Brpoplpush => {
                blocking::timeout_ms(args.get(blocking::timeout_index(id, args)), now).map(|_| s)
            }
            _ => Ok(s),
        }) {
            Ok(s) => s,
            Err(e) => return failed(ctx, id, &e, out),
        };
        let (src, dst) = (args.get(1), args.get(2));
        let (s_src, s_dst) = (key_shard(src, self.shards), key_shard(dst, self.shards));
        let r = self
            .part_now(ctx, s_src, CmdId::Llen, &[&b"LLEN"[..], src], now)
            .await;
        if r.first() == Some(&b'-') {
            return pass_error(ctx, id, &r, out);
        }
        if r == b":0\r\n" {
            return reply::null(out);
        }
        let r = self
            .part_now(ctx, s_dst, CmdId::Llen, &[&b"LLEN"[..], dst], now)
            .await;
        if r.first() == Some(&b'-') {
            return pass_error(ctx, id, &r, out);
        }
        let (pop, pop_name): (CmdId, &[u8]) = if sides.0 {
            (CmdId::Lpop, b"LPOP")
        } else {
            (CmdId::Rpop, b"RPOP")
        };
        let r = self.part_now(ctx, s_src, pop, &[pop_name, src], now).await;
        let Some(e) = bulk_of(&r).map(<[u8]>::to_vec) else {
            return reply::null(out);
        };
        let (push, push_name): (CmdId, &[u8]) = if sides.1 {
            (CmdId::Lpush, b"LPUSH")
        } else {
            (CmdId::Rpush, b"RPUSH")
        };
        let r = self
            .part_now(ctx, s_dst, push, &[push_name, dst, &e], now)
            .await;
        if r.first() == Some(&b'-') {
            // The destination refused the element (out of memory): say so, never lose it
            // silently.
            eprintln!("corekv: LMOVE could not push to the destination key");
            return pass_error(ctx, id, &r, out);
        }
        reply::bulk(out, &e);
    }

    /// LMPOP / ZMPOP over keys of several shards, and the one-shot BLPOP, BRPOP, BLMPOP,
    /// BZPOPMIN, BZPOPMAX, BZMPOP (in EXEC): the first key in order that holds data is popped,
    /// by its shard running the command's one-key form.
    pub(super) async fn mpop_across(
        &mut self,
        ctx: &Ctx,
        id: CmdId,
        args: &Args<'_>,
        now: u64,
        out: &mut Out,
    ) {
        use crate::cmd::zsets;
        use CmdId::*;
        ctx.shard.borrow_mut().stats.calls[id as usize] += 1;
        let zset = matches!(id, Zmpop | Bzmpop | Bzpopmin | Bzpopmax);
        let single = matches!(id, Blpop | Brpop | Bzpopmin | Bzpopmax);
        let timeout = |i: usize| blocking::timeout_ms(args.get(i), now);
        let parsed = match id {
            Lmpop => lists::mpop_args(args, 1),
            Zmpop => zsets::mpop_args(args, 1),
            Blmpop => timeout(1).and_then(|_| lists::mpop_args(args, 2)),
            Bzmpop => timeout(1).and_then(|_| zsets::mpop_args(args, 2)),
            _ => timeout(args.len() - 1).map(|_| {
                let keys = (1..args.len() - 1).map(|i| args.get(i)).collect();
                (keys, false, 1)
            }),
        };
        let (keys, side, count) = match parsed {
            Ok(p) => p,
            Err(e) => return failed(ctx, id, &e, out),
        };
        let count = itoa::Buffer::new().format(count).as_bytes().to_vec();
        let dir: &[u8] = match (zset, side) {
            (false, true) => b"LEFT",
            (false, false) => b"RIGHT",
            (true, true) => b"MAX",
            (true, false) => b"MIN",
        };
        let (multi_id, multi_name): (CmdId, &[u8]) = if zset {
            (Zmpop, b"ZMPOP")
        } else {
            (Lmpop, b"LMPOP")
        };
        for k in keys {
            let s = key_shard(k, self.shards);
            let r = if single {
                self.part_now(ctx, s, id, &[args.get(0), k, b"0"], now)
                    .await
            } else {
                let part: [&[u8]; 6] = [multi_name, b"1", k, dir, b"COUNT", &count];
                self.part_now(ctx, s, multi_id, &part, now).await
            };
            if r.first() == Some(&b'-') {
                return pass_error(ctx, id, &r, out);
            }
            if r.starts_with(b"*2\r\n") || r.starts_with(b"*3\r\n") {
                // A part run here answers in RESP2 (another shard answers in the hop's
                // protocol): a score in RESP3 is a double.
                if zset && out.resp3() && memchr::memmem::find(&r, b"\r\n,").is_none() {
                    out.extend_from_slice(&to_resp3_scores(&r));
                } else {
                    out.extend_from_slice(&r);
                }
                return;
            }
        }
        reply::null_array(out);
    }

    /// ZUNION / ZINTER / ZDIFF / ZINTERCARD, their STORE forms and ZRANGESTORE over keys of
    /// several shards: fetch the inputs (the shards are held), compute here, store the result.
    pub(super) async fn zsets_across(
        &mut self,
        ctx: &Ctx,
        id: CmdId,
        args: &Args<'_>,
        now: u64,
        out: &mut Out,
    ) {
        use crate::cmd::zsets::{self, Op};
        ctx.shard.borrow_mut().stats.calls[id as usize] += 1;
        if id == CmdId::Zrangestore {
            let spec = match zsets::range_spec(args, 3, zsets::Form::Store) {
                Ok(s) => s,
                Err(e) => return failed(ctx, id, &e, out),
            };
            let v = self.fetch_value(ctx, args.get(2), now).await;
            let items = match zsets::select_value(v.as_ref(), &spec) {
                Ok(i) => i,
                Err(e) => return failed(ctx, id, &e, out),
            };
            return self.zstore_at(ctx, id, args.get(1), items, now, out).await;
        }
        let (op, store, card) = match id {
            CmdId::Zunion => (Op::Union, false, false),
            CmdId::Zinter => (Op::Inter, false, false),
            CmdId::Zdiff => (Op::Diff, false, false),
            CmdId::Zunionstore => (Op::Union, true, false),
            CmdId::Zinterstore => (Op::Inter, true, false),
            CmdId::Zdiffstore => (Op::Diff, true, false),
            _ => (Op::Inter, false, true),
        };
        let first = if store { 2 } else { 1 };
        let spec = match zsets::algebra_spec(args, first, op, store, card) {
            Ok(s) => s,
            Err(e) => return failed(ctx, id, &e, out),
        };
        let mut sources = Vec::with_capacity(spec.keys.len());
        for k in spec.keys.clone() {
            let v = self.fetch_value(ctx, k, now).await;
            match zsets::source_of(v) {
                Ok(s) => sources.push(s),
                Err(e) => return failed(ctx, id, &e, out),
            }
        }
        let result = zsets::combine(&spec, &sources);
        if store {
            return self.zstore_at(ctx, id, args.get(1), result, now, out).await;
        }
        zsets::answer(&spec, card, &result, out);
    }

    /// Key `k`'s value, from its shard.
    async fn fetch_value(&mut self, ctx: &Ctx, k: &[u8], now: u64) -> Option<crate::store::Value> {
        let s = key_shard(k, self.shards);
        match self.one(ctx, s, ShardOp::Dump, &[b"", k], now).await {
            ShardReply::Taken(Some((v, _))) => crate::persist::rdb::undump(&v),
            _ => None,
        }
    }

    /// Stores a computed sorted set at `dst` on its shard (replacing it; empty deletes it).
    async fn zstore_at(
        &mut self,
        ctx: &Ctx,
        id: CmdId,
        dst: &[u8],
        items: Vec<(Vec<u8>, f64)>,
        now: u64,
        out: &mut Out,
    ) {
        let n = items.len();
        let payload = crate::persist::rdb::dump(&crate::store::Value::ZSet(items));
        let s = key_shard(dst, self.shards);
        let event = id.spec().name.as_bytes();
        if let ShardReply::Failed(e) = self
            .one(ctx, s, ShardOp::ZStore, &[b"", dst, &payload, event], now)
            .await
        {
            return failed(ctx, id, &e, out);
        }
        reply::int(out, n as i64);
    }

    /// A BlockOn on shard `s` with `ticket`.
    #[allow(clippy::too_many_arguments)]
    async fn block_on(
        &mut self,
        ctx: &Ctx,
        s: usize,
        args: &Args<'_>,
        ticket: &Ticket,
        home: Home,
        resp3: bool,
        wake_only: bool,
        now: u64,
    ) -> ShardReply {
        if s == self.me {
            let mut sh = ctx.shard.borrow_mut();
            let o = blocking::block_on(
                &mut sh,
                args,
                self.client_id,
                home,
                ticket,
                resp3,
                wake_only,
                now,
            );
            return crate::shard::hop::block_reply(o);
        }
        let mut hop = ctx.hop(self.waiter);
        hop.now_ms = now;
        hop.ticket = Some(ticket.clone());
        hop.client = self.client_id;
        let op = ShardOp::BlockOn {
            client: self.client_id,
            slot: home.slot,
            generation: home.generation,
            resp3,
            wake_only,
        };
        hop.push(op, args.iter());
        hop.dest = s;
        if !ctx.send(s, hop).await {
            return ShardReply::Count(0);
        }
        // An answer from a shard registered before (no ops) may arrive first: it stays in
        // `back` for the wait.
        loop {
            if let Some(i) = self.back.iter().position(|h| !h.ops.is_empty()) {
                let mut hop = self.back.remove(i);
                let r = hop.take_result(0).unwrap_or_default();
                ctx.recycle(hop);
                return r;
            }
            ctx.wait(self.waiter, 1, &mut self.back).await;
        }
    }

    /// Waits until an answer (a hop with no ops) is in `back` and takes it.
    async fn take_answer(&mut self, ctx: &Ctx) -> Box<crate::shard::Hop> {
        loop {
            if let Some(i) = self.back.iter().position(|h| h.ops.is_empty()) {
                return self.back.remove(i);
            }
            ctx.wait(self.waiter, 1, &mut self.back).await;
        }
    }

    /// Runs blocking command `args` outside MULTI: served at once, or waits (see the module
    /// docs). `closed` resolves when the client's socket closes.
    #[allow(clippy::too_many_arguments)]
    pub async fn block(
        &mut self,
        ctx: &Ctx,
        args: &Args<'_>,
        now: u64,
        out: &mut Out,
        closed: impl Future<Output = ()>,
    ) {
        let Some(id) = CmdId::lookup(args.get(0)) else {
            return;
        };
        let checked = blocking::timeout_ms(args.get(blocking::timeout_index(id, args)), now)
            .and_then(|deadline| {
                if id == CmdId::Blmove {
                    lists::move_sides(args, Some(3))?;
                }
                blocking::wait_keys(id, args).map(|k| (deadline, k))
            });
        let (deadline, keys) = match checked {
            Ok(x) => x,
            Err(e) => {
                ctx.shard.borrow_mut().stats.calls[id as usize] += 1;
                return failed(ctx, id, &e, out);
            }
        };
        ctx.shard.borrow_mut().stats.calls[id as usize] += 1;
        let mut shards: Vec<usize> = Vec::new();
        for k in &keys {
            let s = key_shard(k, self.shards);
            if !shards.contains(&s) {
                shards.push(s);
            }
        }
        let moves = matches!(id, CmdId::Blmove | CmdId::Brpoplpush);
        let wake_only =
            moves && key_shard(args.get(2), self.shards) != key_shard(args.get(1), self.shards);
        let resp3 = out.resp3();
        let home = Home {
            core: self.me as u16,
            slot: self.waiter,
            generation: ctx.generation(self.waiter),
        };
        let mut closed = std::pin::pin!(closed);
        let mut now = now;
        loop {
            let ticket: Ticket = Arc::new(AtomicBool::new(false));
            {
                let mut sh = ctx.shard.borrow_mut();
                sh.blocking
                    .here
                    .insert(self.client_id, (ticket.clone(), home, resp3));
                if let Some(c) = sh.clients.get(&self.client_id) {
                    c.borrow_mut().blocked = true;
                }
            }
            let mut answer: Option<Vec<u8>> = None;
            let mut registered = Vec::new();
            let mut incoming = false;
            for &s in &shards {
                match self
                    .block_on(ctx, s, args, &ticket, home, resp3, wake_only, now)
                    .await
                {
                    ShardReply::Resp(r) => {
                        answer = Some(r);
                        break;
                    }
                    ShardReply::Count(1) => registered.push(s),
                    ShardReply::Count(2) => {
                        answer = Some(blocking::RETRY.to_vec());
                        break;
                    }
                    _ => {
                        incoming = true;
                        break;
                    }
                }
            }
            if answer.is_none() {
                let mut woke = Woke::Answer;
                if !incoming && !self.back.iter().any(|h| h.ops.is_empty()) {
                    let waiter = self.waiter;
                    let back = &mut self.back;
                    let wait_answer = async {
                        while !back.iter().any(|h| h.ops.is_empty()) {
                            ctx.wait(waiter, 1, back).await;
                        }
                        Woke::Answer
                    };
                    let timer = async {
                        match deadline {
                            Some(at) => {
                                let left = at.saturating_sub(crate::clock::now_ms());
                                glommio::timer::sleep(std::time::Duration::from_millis(left)).await;
                                Woke::Timeout
                            }
                            None => std::future::pending().await,
                        }
                    };
                    // The socket closing, or the server shutting down.
                    let gone = async {
                        futures_lite::future::or(async { (&mut closed).await }, async {
                            let _ = ctx.stop_signal.acquire(1).await;
                        })
                        .await;
                        Woke::Closed
                    };
                    woke = futures_lite::future::or(
                        wait_answer,
                        futures_lite::future::or(timer, gone),
                    )
                    .await;
                }
                match woke {
                    Woke::Answer => {}
                    Woke::Timeout | Woke::Closed if blocking::claim(&ticket) => {
                        self.unblock(ctx, args, &registered, now).await;
                        if matches!(woke, Woke::Timeout) {
                            reply::null_array(out);
                        }
                        return;
                    }
                    // Lost the race: an answer is on its way.
                    _ => {}
                }
                let mut hop = self.take_answer(ctx).await;
                if let Some(ShardReply::Resp(r)) = hop.take_result(0) {
                    answer = Some(r);
                }
                ctx.recycle(hop);
            }
            self.unblock(ctx, args, &registered, now).await;
            let answer = answer.unwrap_or_default();
            if answer != blocking::RETRY {
                out.extend_from_slice(&answer);
                return;
            }
            // A move to another shard: run it holding both shards.
            now = crate::clock::now_ms();
            let mut moved = Out::new(resp3);
            ctx.shard.borrow_mut().stats.calls[id as usize] -= 1;
            self.barrier(ctx, args, now, &mut moved).await;
            let moved = moved.into_vec();
            if !matches!(&moved[..], b"$-1\r\n" | b"_\r\n") {
                out.extend_from_slice(&moved);
                return;
            }
            if deadline.is_some_and(|at| crate::clock::now_ms() >= at) {
                reply::null_array(out);
                return;
            }
        }
    }

    /// Forgets this client's registrations on `shards` and its entry among this core's
    /// blocked clients.
    async fn unblock(&mut self, ctx: &Ctx, args: &Args<'_>, shards: &[usize], now: u64) {
        {
            let mut sh = ctx.shard.borrow_mut();
            sh.blocking.here.remove(&self.client_id);
            if let Some(c) = sh.clients.get(&self.client_id) {
                c.borrow_mut().blocked = false;
            }
        }
        let a: Vec<&[u8]> = args.iter().collect();
        for &s in shards {
            let op = ShardOp::Unblock {
                client: self.client_id,
            };
            self.one(ctx, s, op, &a, now).await;
        }
    }
}

/// Each core's serving task: serves the clients blocked on keys that writes made ready, in
/// order, never inside a transaction (it takes its turn on the shard's lock like a
/// connection), and delivers the answers (after they are durable with `appendfsync always`).
pub async fn serve(ctx: Rc<Ctx>) {
    loop {
        std::future::poll_fn(|cx| {
            let mut sh = ctx.shard.borrow_mut();
            if sh.blocking.has_work() {
                Poll::Ready(())
            } else {
                sh.blocking.server = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        if ctx.stopping.get() {
            return;
        }
        while ctx.shard.borrow().script_busy {
            glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
        }
        let deliveries = {
            let _turn = crate::shard::lock::turn(&ctx, 0).await;
            let mut sh = ctx.shard.borrow_mut();
            cmd::blocking::serve_ready(&mut sh, crate::clock::now_ms());
            std::mem::take(&mut sh.blocking.outbox)
        };
        if deliveries.is_empty() {
            continue;
        }
        ctx.wait_durable().await;
        for d in deliveries {
            let mut hop: Box<crate::shard::Hop> = Box::default();
            hop.origin = d.to.core as usize;
            hop.waiter = d.to.slot;
            hop.generation = d.to.generation;
            hop.results.push((0, ShardReply::Resp(d.reply)));
            if hop.origin == ctx.id {
                ctx.deliver_here(hop);
            } else {
                ctx.reply_to_origin(hop).await;
            }
        }
    }
}
