//! The subscribe family, run by the connection itself: a subscriber lives on its connection's
//! core, so (UN)SUBSCRIBE, P(UN)SUBSCRIBE and S(UN)SUBSCRIBE touch only this core's registry
//! (see `cmd::pubsub`). Also RESP2's subscribed mode: while subscribed, only the subscribe
//! family, PING, QUIT and RESET run, and PING answers `[pong, message]`.

use super::{Flow, Pipeline};
use crate::cmd::pubsub::{confirm, Kind, Subscriber};
use crate::cmd::{Args, CmdId, Gather};
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;
use crate::shard::mesh::Ctx;
use crate::shard::ShardOp;
use crate::shard::{ClientInfo, Shard};
use std::cell::RefCell;
use std::rc::Rc;

impl Pipeline {
    /// The connection's subscriber while it must wait on it (subscribed or messages left).
    pub fn subscriber(&self) -> Option<Rc<Subscriber>> {
        self.sub.as_ref().filter(|s| s.active()).cloned()
    }

    /// The connection's inbox, created at its first SUBSCRIBE, MONITOR or CLIENT TRACKING.
    pub(super) fn inbox(&mut self) -> Rc<Subscriber> {
        let (id, fd, resp3) = (self.client_id, self.client_fd, self.resp3);
        self.sub
            .get_or_insert_with(|| Subscriber::new(id, fd, resp3))
            .clone()
    }

    /// RESP2 and subscribed: only the subscribe family, PING, QUIT and RESET may run.
    pub(super) fn subscribed_mode_refuses(&self, id: CmdId, args: &Args) -> Option<CmdError> {
        if self.resp3 || !self.sub.as_ref().is_some_and(|s| s.subscribed()) {
            return None;
        }
        use CmdId::*;
        match id {
            Subscribe | Unsubscribe | Psubscribe | Punsubscribe | Ssubscribe | Sunsubscribe
            | Ping | Quit | Reset => None,
            // A container's subcommand is named `container|sub`, as Redis 7 names it.
            Client | Config | Command | Script | Function | Memory | Pubsub if args.len() > 1 => {
                Some(CmdError::SubscribedContext(format!(
                    "{}|{}",
                    id.spec().name,
                    String::from_utf8_lossy(args.get(1)).to_ascii_lowercase()
                )))
            }
            _ => Some(CmdError::SubscribedContext(id.spec().name.to_string())),
        }
    }

    /// PING in RESP2 subscribed mode: `[pong, message or ""]`.
    pub(super) fn subscribed_ping(&self, args: &Args) -> Option<Vec<u8>> {
        if self.resp3 || args.len() > 2 || !self.sub.as_ref().is_some_and(|s| s.subscribed()) {
            return None;
        }
        let mut buf = Vec::new();
        reply::array(&mut buf, 2);
        reply::bulk(&mut buf, b"pong");
        reply::bulk(&mut buf, if args.len() == 2 { args.get(1) } else { b"" });
        Some(buf)
    }

    pub(super) fn subscribe_command(
        &mut self,
        sh: &mut Shard,
        client: &RefCell<ClientInfo>,
        id: CmdId,
        args: &Args,
        out: &mut Out,
    ) -> Flow {
        let (kind, subscribing) = match id {
            CmdId::Subscribe => (Kind::Channel, true),
            CmdId::Psubscribe => (Kind::Pattern, true),
            CmdId::Ssubscribe => (Kind::Shard, true),
            CmdId::Unsubscribe => (Kind::Channel, false),
            CmdId::Punsubscribe => (Kind::Pattern, false),
            _ => (Kind::Shard, false),
        };
        let sub = self.inbox();
        let mut buf = Out::new(self.resp3);
        if subscribing {
            for name in args.iter().skip(1) {
                sh.pubsub.subscribe(&sub, kind, name);
                confirm(&mut buf, kind.subscribe_verb(), Some(name), sub.count(kind));
            }
        } else {
            let names: Vec<Box<[u8]>> = if args.len() > 1 {
                args.iter().skip(1).map(Box::from).collect()
            } else {
                sub.names(kind)
            };
            if names.is_empty() {
                confirm(&mut buf, kind.unsubscribe_verb(), None, sub.count(kind));
            }
            for name in &names {
                sh.pubsub.unsubscribe(&sub, kind, name);
                confirm(
                    &mut buf,
                    kind.unsubscribe_verb(),
                    Some(name),
                    sub.count(kind),
                );
            }
        }
        client.borrow_mut().subscriptions = sub.counts();
        let bytes = buf.into_vec();
        self.local_result(sh, Some(id), Ok(&bytes), out);
        Flow::Continue
    }

    /// PUBLISH / SPUBLISH: one part per core that has subscribers (none: `0` at once), each
    /// delivering to its own; the counts are summed. It never holds the shards.
    pub(super) fn publish(
        &mut self,
        ctx: &Ctx,
        sh: &mut Shard,
        id: CmdId,
        args: &Args,
        now: u64,
        out: &mut Out,
    ) -> Flow {
        use crate::cmd::pubsub::core_listens;
        sh.stats.calls[id as usize] += 1;
        if !(0..self.shards).any(core_listens) {
            self.local_result(sh, None, Ok(b":0\r\n"), out);
            return Flow::Continue;
        }
        let op = ShardOp::Publish {
            shard_channel: id == CmdId::Spublish,
        };
        // The client's own arguments: copied only into the hops of the cores that listen.
        let listening = (0..self.shards).filter(|&s| core_listens(s));
        self.on_shards_gathered(ctx, sh, listening, op, args, Gather::Receivers, 0, now);
        self.own_messages_first(sh, out);
        Flow::Continue
    }

    /// PUBSUB CHANNELS / NUMSUB / NUMPAT / SHARDCHANNELS / SHARDNUMSUB: every core's part,
    /// combined (HELP and argument errors answered here).
    pub(super) fn pubsub_query(
        &mut self,
        ctx: &Ctx,
        sh: &mut Shard,
        id: CmdId,
        args: &Args,
        now: u64,
        out: &mut Out,
    ) -> Flow {
        let mut help = Out::new(self.resp3);
        let q = match crate::cmd::pubsub::parse_query(args, &mut help) {
            Ok(Some(q)) => q,
            Ok(None) => {
                let help = help.into_vec();
                self.local_result(sh, Some(id), Ok(&help), out);
                return Flow::Continue;
            }
            Err(e) => {
                self.local_result(sh, Some(id), Err(e), out);
                return Flow::Continue;
            }
        };
        sh.stats.calls[id as usize] += 1;
        let op = ShardOp::Pubsub { query: q.code() };
        self.on_every_shard(ctx, sh, op, args, Gather::Pubsub, q.code(), now);
        Flow::Continue
    }

    /// A PUBLISH this connection just ran on its own core may have delivered to itself: those
    /// messages (and any that came before) go before the PUBLISH's reply, as in Redis.
    pub(super) fn own_messages_first(&mut self, sh: &mut Shard, out: &mut Out) {
        let Some(sub) = self.sub.clone() else {
            return;
        };
        if sub.pending_len() == 0 || !self.deferred || self.pieces.is_empty() {
            return;
        }
        let mut mine = Vec::new();
        sub.drain_into(&mut mine);
        sub.written();
        self.local_result(sh, None, Ok(&mine), out);
        let n = self.pieces.len();
        self.pieces.swap(n - 1, n - 2);
    }

    /// RESET and a closed connection: every subscription of this connection is forgotten.
    pub(super) fn drop_subscriptions(&mut self, sh: &mut Shard, client: &RefCell<ClientInfo>) {
        if let Some(sub) = &self.sub {
            sh.pubsub.remove(sub);
            client.borrow_mut().subscriptions = (0, 0, 0);
        }
    }

    /// The connection ended: its subscriber leaves this core's registry.
    pub fn close_subscriber(&mut self, sh: &mut Shard) {
        if let Some(sub) = self.sub.take() {
            sh.pubsub.remove(&sub);
        }
    }
}
