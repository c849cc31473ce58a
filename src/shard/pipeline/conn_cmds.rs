//! Commands the connection runs itself (Route::Conn): QUIT, SELECT, AUTH, HELLO, CLIENT,
//! SHUTDOWN, the saves, and the transaction commands outside MULTI; and how a reply produced
//! on the connection takes its place among the replies of routed commands.

use super::{txn, Flow, Piece, Pipeline, ShardOp};
use crate::cmd::{self, args::eq_ic, connection, Args, CmdId, Gather};
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;
use crate::shard::mesh::Ctx;
use crate::shard::{ClientInfo, Shard};

/// BGSAVE / BGREWRITEAOF: starts a snapshot (which also restarts the append-only logs).
fn background_save(
    ctx: &Ctx,
    started: &[u8],
    busy: CmdError,
    buf: &mut Vec<u8>,
) -> Result<(), CmdError> {
    super::barrier::start_snapshot(ctx).map_err(|e| match e {
        CmdError::BgsaveInProgress => busy,
        e => e,
    })?;
    reply::simple(buf, started);
    Ok(())
}

impl Pipeline {
    /// The protocol the connection's replies are encoded in (HELLO chose it, RESET restores
    /// RESP2): the connection's buffer, the deferred-local replies and every hop follow it.
    pub fn resp3(&self) -> bool {
        self.resp3
    }

    pub(super) fn set_resp3(&mut self, resp3: bool, out: &mut Out) {
        self.resp3 = resp3;
        out.set_resp3(resp3);
        self.local.reply.set_resp3(resp3);
        if let Some(sub) = &self.sub {
            sub.set_resp3(resp3);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn conn_command(
        &mut self,
        ctx: &Ctx,
        sh: &mut Shard,
        client: &std::cell::RefCell<ClientInfo>,
        id: CmdId,
        args: &Args,
        now: u64,
        out: &mut Out,
    ) -> Flow {
        if matches!(
            id,
            CmdId::Subscribe
                | CmdId::Unsubscribe
                | CmdId::Psubscribe
                | CmdId::Punsubscribe
                | CmdId::Ssubscribe
                | CmdId::Sunsubscribe
        ) {
            return self.subscribe_command(sh, client, id, args, out);
        }
        let mut buf = Out::from_vec(std::mem::take(&mut self.local.data), self.resp3());
        buf.clear();
        let res = match id {
            CmdId::Quit => {
                reply::ok(&mut buf);
                Ok(())
            }
            CmdId::Select => connection::select(args, &mut buf),
            CmdId::Auth => connection::auth(sh, &mut client.borrow_mut(), args, &mut buf),
            CmdId::Hello => connection::hello(sh, &mut client.borrow_mut(), args, &mut buf),
            // Only SHUTDOWN NOSAVE may stop a server whose script is busy (on any shard).
            CmdId::Shutdown
                if cmd::script::any_busy() && !cmd::script::allowed_while_busy(id, args, false) =>
            {
                Err(CmdError::Busy)
            }
            CmdId::Shutdown => connection::shutdown(args, &mut buf),
            CmdId::Save => return Flow::Barrier,
            // The log is rewritten by taking a snapshot: each shard's log then starts over from it.
            CmdId::Bgrewriteaof
                if !crate::config::RUNTIME
                    .appendonly
                    .load(std::sync::atomic::Ordering::Relaxed) =>
            {
                Err(CmdError::AofDisabled)
            }
            CmdId::Multi => {
                self.multi = Some(txn::Queue::default());
                client.borrow_mut().multi = Some(0);
                reply::ok(&mut buf);
                Ok(())
            }
            CmdId::Reset => {
                // Like Redis: out of MULTI, no watches, no name, authenticated only if no
                // password is needed.
                sh.stats.calls[id as usize] += 1;
                self.end_multi(client);
                self.drop_subscriptions(sh, client);
                self.reset_tracking(sh);
                // Shown after it ran (a monitor's own RESET is not shown to it), as in Redis.
                if cmd::pubsub::monitoring() {
                    let who = client.borrow().addr.clone();
                    cmd::monitor::feed(sh, id, args, &who, now);
                }
                let client_id = {
                    let mut c = client.borrow_mut();
                    c.name.clear();
                    c.authenticated = !crate::config::RUNTIME.password_set();
                    c.resp3 = false;
                    c.id
                };
                self.set_resp3(false, out);
                self.drop_watches_reply(ctx, sh, client_id, Gather::Reset, now, out);
                self.local.data = buf.into_vec();
                return Flow::Continue;
            }
            CmdId::Monitor => {
                let sub = self.inbox();
                sh.pubsub.add_monitor(&sub);
                reply::ok(&mut buf);
                Ok(())
            }
            CmdId::Exec => Err(CmdError::ExecWithoutMulti),
            CmdId::Discard => Err(CmdError::DiscardWithoutMulti),
            CmdId::Watch => {
                self.watch(ctx, sh, client, args, now);
                self.local.data = buf.into_vec();
                return Flow::Continue;
            }
            CmdId::Unwatch => {
                self.unwatch(ctx, sh, client, now, out);
                self.local.data = buf.into_vec();
                return Flow::Continue;
            }
            CmdId::Bgrewriteaof => background_save(
                ctx,
                b"Background append only file rewriting started",
                CmdError::AofRewriteInProgress,
                &mut buf,
            ),
            // SCHEDULE starts now when no save runs (nothing is queued behind a running one).
            CmdId::Bgsave => background_save(
                ctx,
                b"Background saving started",
                CmdError::BgsaveInProgress,
                &mut buf,
            ),
            CmdId::Client if eq_ic(args.get(1), "list") => {
                let flow = self.all(ctx, sh, id, args, Gather::ConcatText, now, out);
                self.local.data = buf.into_vec();
                return flow;
            }
            CmdId::Client if eq_ic(args.get(1), "unblock") => {
                match connection::parse_unblock(args) {
                    Ok((target, error)) => {
                        sh.stats.calls[id as usize] += 1;
                        let op = ShardOp::UnblockClient {
                            client: target,
                            error,
                        };
                        self.on_every_shard(ctx, sh, op, args, Gather::SumInt, 0, now);
                        self.local.data = buf.into_vec();
                        return Flow::Continue;
                    }
                    Err(e) => Err(e),
                }
            }
            CmdId::Client if eq_ic(args.get(1), "kill") => {
                let caller = client.borrow().id;
                match connection::parse_kill(caller, args) {
                    Ok(filter) => {
                        let gather = if filter.old_form {
                            Gather::KilledOrNoSuchClient
                        } else {
                            Gather::SumInt
                        };
                        sh.stats.calls[id as usize] += 1;
                        let (data, ranges) = super::owned_args(&filter.args);
                        let kill_args = Args::new(&data, &ranges);
                        self.on_every_shard(ctx, sh, ShardOp::Kill, &kill_args, gather, 0, now);
                        self.local.data = buf.into_vec();
                        return Flow::Continue;
                    }
                    Err(e) => Err(e),
                }
            }
            CmdId::Client
                if ["tracking", "caching", "getredir", "trackinginfo"]
                    .iter()
                    .any(|s| eq_ic(args.get(1), s)) =>
            {
                match self.client_tracking(ctx, sh, args, now, &mut buf) {
                    Ok(Some(flow)) => {
                        self.local.data = buf.into_vec();
                        return flow;
                    }
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            _ => connection::client(&mut client.borrow_mut(), args, &mut buf),
        };
        let ok = res.is_ok();
        if id == CmdId::Hello && ok {
            self.set_resp3(buf.resp3(), out);
        }
        let written = std::mem::take(&mut buf).into_vec();
        self.local_result(sh, Some(id), res.map(|_| written.as_slice()), out);
        self.local.data = written;
        if id == CmdId::Shutdown && ok {
            cmd::script::abort_busy();
            if let Some(control) = ctx.control.get() {
                control.request_stop();
            }
        }
        if id == CmdId::Quit || (id == CmdId::Shutdown && ok) {
            Flow::Close
        } else {
            Flow::Continue
        }
    }

    /// Emits a reply produced on the connection itself (errors before routing, connection
    /// commands), counting it like any command.
    pub(super) fn local_result(
        &mut self,
        sh: &mut Shard,
        id: Option<CmdId>,
        res: Result<&[u8], CmdError>,
        out: &mut Out,
    ) {
        if let Some(id) = id {
            sh.stats.calls[id as usize] += 1;
        }
        let dest = if self.deferred {
            &mut self.local.reply
        } else {
            &mut *out
        };
        match res {
            Ok(bytes) => dest.extend_from_slice(bytes),
            Err(e) => {
                if let Some(id) = id {
                    sh.stats.failed[id as usize] += 1;
                }
                cmd::write_error(sh, &e, dest);
            }
        }
        if self.deferred {
            self.local.ends.push(self.local.reply.len());
            let op = self.local.ends.len() as u32 - 1;
            let shard = if self.local_as_hop {
                super::READY
            } else {
                self.me as u16
            };
            self.pieces.push(Piece::One { shard, op });
        }
    }

    /// Rejects a command before it runs (arity, authentication, not allowed in MULTI): the
    /// error is its reply, and inside MULTI the transaction is flagged to abort, as in Redis. A
    /// rejected EXEC answers EXECABORT and ends the transaction.
    pub(super) fn reject(
        &mut self,
        sh: &mut Shard,
        client: &std::cell::RefCell<ClientInfo>,
        id: CmdId,
        e: CmdError,
        out: &mut Out,
    ) -> Flow {
        if id == CmdId::Exec {
            self.end_multi(client);
            let e = CmdError::ExecAbortBecause(e.to_string());
            self.local_result(sh, Some(id), Err(e), out);
            return Flow::Continue;
        }
        self.local_result(sh, Some(id), Err(e), out);
        self.flag_multi();
        Flow::Continue
    }
}
