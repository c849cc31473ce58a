//! CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO on the connection, and which of its
//! commands' reads are tracked (see `cmd::tracking`): the shard that runs a read learns it from
//! the connection ([`Shard::caller`] for this core's ops, the hop's `tracked` ops for others).

use super::{Flow, Pipeline};
use crate::cmd::args::eq_ic;
use crate::cmd::tracking::{self, Caller, Dest};
use crate::cmd::{Args, Gather};
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;
use crate::shard::mesh::Ctx;
use crate::shard::{Shard, ShardOp, ShardReply};

impl Pipeline {
    /// Where this connection's invalidations go, while its reads may be tracked.
    pub(super) fn track_dest(&self) -> Option<Dest> {
        let t = &self.track;
        (t.on && !t.bcast).then_some(self.dest())
    }

    fn dest(&self) -> Dest {
        let t = &self.track;
        Dest {
            client: self.client_id,
            to: if t.redirect != 0 {
                t.redirect
            } else {
                self.client_id
            },
            core: if t.redirect != 0 {
                self.redirect_core
            } else {
                self.me as u16
            },
            redirect: t.redirect != 0,
            noloop: t.noloop,
        }
    }

    /// Before each command: who runs it, and whether its reads are tracked (CLIENT CACHING
    /// applies to the next command only).
    pub(super) fn set_caller(&mut self, sh: &mut Shard, client_id: u64, is_caching: bool) {
        self.client_id = client_id;
        // The flag of CLIENT CACHING lasts for the one command after it (which also sees it in
        // CLIENT TRACKINGINFO), as in Redis.
        if std::mem::take(&mut self.caching_used) {
            self.track.caching = None;
        }
        self.track_op = self.track.on && self.track.tracks_next();
        if !is_caching && self.track.caching.is_some() {
            self.caching_used = true;
        }
        sh.caller = Caller {
            client: client_id,
            dest: if self.track_op {
                self.track_dest()
            } else {
                None
            },
        };
    }

    /// CLIENT TRACKING | CACHING | GETREDIR | TRACKINGINFO.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn client_tracking(
        &mut self,
        ctx: &Ctx,
        sh: &mut Shard,
        args: &Args,
        now: u64,
        buf: &mut Out,
    ) -> Result<Option<Flow>, CmdError> {
        let sub = args.get(1);
        let n = args.len();
        if eq_ic(sub, "getredir") && n == 2 {
            let r = if self.track.on {
                self.track.redirect as i64
            } else {
                -1
            };
            reply::int(buf, r);
            return Ok(None);
        }
        if eq_ic(sub, "trackinginfo") && n == 2 {
            tracking::info(&self.track, buf);
            return Ok(None);
        }
        if eq_ic(sub, "caching") && n == 3 {
            if !(self.track.on && (self.track.optin || self.track.optout)) {
                return Err(CmdError::Tracking("CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled".into()));
            }
            let yes = if eq_ic(args.get(2), "yes") {
                true
            } else if eq_ic(args.get(2), "no") {
                false
            } else {
                return Err(CmdError::Syntax);
            };
            self.track.caching = Some(yes);
            reply::ok(buf);
            return Ok(None);
        }
        if !eq_ic(sub, "tracking") || n < 3 {
            let name = String::from_utf8_lossy(sub).to_ascii_lowercase();
            return Err(CmdError::WrongArity(format!("client|{name}")));
        }
        let new = tracking::parse(&self.track, args)?;
        let (was_on, was_bcast) = (self.track.on, self.track.bcast);
        if new.on && new.redirect != 0 {
            // The redirect client's core: this one, or the one the barrier step found (which
            // then plans this command again); none: Redis's error.
            let resolved = self.redirect_resolved.take();
            if sh.clients.contains_key(&new.redirect) {
                self.redirect_core = self.me as u16;
            } else if resolved == Some(new.redirect) {
                // The barrier step found it and set `redirect_core`.
            } else if resolved.is_none() && self.shards > 1 {
                return Ok(Some(Flow::Barrier));
            } else {
                return Err(CmdError::Tracking(
                    "The client ID you want redirect to does not exist".into(),
                ));
            }
        }
        let sub = self.inbox();
        let caching = self.track.caching;
        self.track = new;
        self.track.caching = caching.filter(|_| self.track.on);
        if self.track.on && !was_on {
            tracking::started();
        }
        if !self.track.on && was_on {
            tracking::stopped();
        }
        if self.track.on && self.track.redirect == 0 {
            sh.pubsub.add_tracker(&sub);
        } else {
            sh.pubsub.remove_tracker(&sub);
        }
        // BCAST prefixes live on every shard (a write anywhere checks them).
        if self.track.bcast || was_bcast {
            let d = self.dest();
            let mut part: Vec<Vec<u8>> = vec![b"track".to_vec()];
            part.extend(d.to_args());
            part.extend(self.track.prefixes.iter().cloned());
            let op = ShardOp::TrackPrefixes {
                client: self.client_id,
                on: self.track.on,
            };
            sh.stats.calls[crate::cmd::CmdId::Client as usize] += 1;
            let (data, ranges) = super::owned_args(&part);
            let part = Args::new(&data, &ranges);
            self.on_every_shard(ctx, sh, op, &part, Gather::AllOk, 0, now);
            return Ok(Some(Flow::Continue));
        }
        reply::ok(buf);
        Ok(None)
    }

    /// The barrier step of CLIENT TRACKING ... REDIRECT id for a client not on this core: asks
    /// the other cores which one has it, then runs the command with that core (or answers
    /// Redis's error when none has it).
    pub(super) async fn tracking_redirect(
        &mut self,
        ctx: &Ctx,
        args: &Args<'_>,
        now: u64,
        out: &mut Out,
    ) {
        let redirect = tracking::parse(&self.track, args).map_or(0, |t| t.redirect);
        let others: Vec<u16> = (0..self.shards as u16)
            .filter(|&s| s as usize != self.me)
            .collect();
        let op = ShardOp::HasClient { id: redirect };
        let found = self
            .on_shards(ctx, &others, 0, crate::shard::LockStep::None, Some(op), now)
            .await;
        let core = others
            .iter()
            .zip(found)
            .find(|(_, r)| matches!(r, Some(ShardReply::Count(1))))
            .map(|(&s, _)| s);
        // Found: run it knowing the core; not found: the command answers the error.
        self.redirect_resolved = core.map(|c| {
            self.redirect_core = c;
            redirect
        });
        if core.is_none() {
            self.redirect_resolved = Some(u64::MAX);
        }
        let mut buf = Out::new(self.resp3);
        let res = {
            let mut sh = ctx.shard.borrow_mut();
            self.client_tracking(ctx, &mut sh, args, now, &mut buf)
        };
        self.redirect_resolved = None;
        let mut sh = ctx.shard.borrow_mut();
        match res {
            Ok(Some(_)) => {
                drop(sh);
                self.flush_whole(ctx, out).await;
            }
            Ok(None) => {
                let bytes = buf.into_vec();
                self.local_result(&mut sh, Some(crate::cmd::CmdId::Client), Ok(&bytes), out);
            }
            Err(e) => self.local_result(&mut sh, Some(crate::cmd::CmdId::Client), Err(e), out),
        }
    }

    /// RESET: tracking off (BCAST prefixes on the other shards are removed when the
    /// connection closes).
    pub(super) fn reset_tracking(&mut self, sh: &mut Shard) {
        if self.track.on {
            tracking::stopped();
            self.bcast_left |= self.track.bcast;
            sh.tracking.remove_prefixes(self.client_id);
        }
        self.track = tracking::Settings::default();
    }

    /// The connection ended: tracking off, and its BCAST prefixes leave every shard.
    pub async fn close_tracking(&mut self, ctx: &Ctx, now: u64) {
        if self.track.on {
            tracking::stopped();
            self.bcast_left |= self.track.bcast;
            self.track = tracking::Settings::default();
        }
        if std::mem::take(&mut self.bcast_left) {
            let all: Vec<u16> = (0..self.shards as u16).collect();
            let op = ShardOp::TrackPrefixes {
                client: self.client_id,
                on: false,
            };
            self.on_shards(ctx, &all, 0, crate::shard::LockStep::None, Some(op), now)
                .await;
        }
    }
}
