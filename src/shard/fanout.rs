//! The forwarder of each core: messages the server publishes on a core (a script's PUBLISH,
//! keyspace notifications: see `cmd::pubsub` and `cmd::notify`) wait in that core's outbox and
//! reach the subscribers of every other core through here, one hop per destination core per
//! drain, in order.

use super::mesh::Ctx;
use super::ShardOp;
use crate::cmd::pubsub::{Kind, Outbound};
use std::rc::Rc;
use std::task::Poll;

/// The forwarder of one core: sends the messages the server published here to every other
/// core, one hop per destination per drain, and waits for them before the next drain (so the
/// messages of this core arrive in order everywhere).
pub async fn forward(ctx: Rc<Ctx>) {
    let waiter = ctx.new_waiter();
    let mut back = Vec::new();
    loop {
        let batch = std::future::poll_fn(|cx| {
            let mut sh = ctx.shard.borrow_mut();
            if sh.pubsub.outbox.is_empty() {
                sh.pubsub.forwarder = Some(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(std::mem::take(&mut sh.pubsub.outbox))
            }
        })
        .await;
        if ctx.stopping.get() {
            return;
        }
        let now = crate::clock::now_ms();
        let mut expected = 0;
        for s in (0..ctx.shards).filter(|&s| s != ctx.id) {
            let (listens, monitors) = (
                crate::cmd::pubsub::core_listens(s),
                crate::cmd::pubsub::core_monitors(s),
            );
            let mut hop = ctx.hop(waiter);
            hop.now_ms = now;
            hop.dest = s;
            for f in &batch {
                match f.what {
                    Outbound::Invalidate(d, all) if d.core as usize == s || d.core == u16::MAX => {
                        let op = ShardOp::Invalidate {
                            to: d.to,
                            redirect: d.redirect,
                            all,
                        };
                        hop.push(op, [&b"invalidate"[..], &f.message].into_iter());
                    }
                    Outbound::Monitor if monitors => {
                        hop.push(
                            ShardOp::MonitorLine,
                            [&b"monitor"[..], &f.message].into_iter(),
                        );
                    }
                    Outbound::Message(kind) if listens => {
                        let op = ShardOp::Publish {
                            shard_channel: kind == Kind::Shard,
                        };
                        hop.push(op, [&b"publish"[..], &f.channel, &f.message].into_iter());
                    }
                    _ => {}
                }
            }
            if hop.ops.is_empty() {
                ctx.recycle(hop);
                continue;
            }
            if ctx.send(s, hop).await {
                expected += 1;
            }
        }
        if expected > 0 {
            ctx.wait(waiter, expected, &mut back).await;
        }
        for hop in back.drain(..) {
            ctx.recycle(hop);
        }
    }
}
