//! Pub/sub: who listens to what on this core, and delivering a message to them.
//!
//! A subscriber lives on the core of its connection: SUBSCRIBE, PSUBSCRIBE and SSUBSCRIBE only
//! touch this core's [`Registry`] (no hop), and pattern matching runs here, on the subscriber's
//! core. PUBLISH reaches every core: the connection sends one `ShardOp::Publish`
//! per destination core in the hop of its batch (a batch of publishes is one message per core,
//! never one per subscriber), each core delivers to its own subscribers and answers how many it
//! reached, and the connection sums the counts. Hops from one connection to one core are FIFO
//! and run in order, so messages from one publisher arrive in publish order; the count is
//! exact whenever subscriptions are stable while the message travels (as in Redis, where it is
//! exact because everything is one thread).
//!
//! Messages published by the server itself (a script's PUBLISH, keyspace notifications) go into
//! this core's [`Registry::outbox`]; the core's forwarder task (`shard::fanout`) sends them on,
//! one hop per destination core per drain, in order.
//!
//! Delivery appends the encoded message to the subscriber's pending buffer and wakes its
//! connection, which waits on its socket and this buffer together and writes both. A publisher
//! never waits for a subscriber: one that does not read grows its buffer until
//! `client-output-buffer-limit pubsub` (hard limit, or soft limit held for its seconds) closes
//! it; its buffer is freed at once and the close is counted in INFO
//! (`client_output_buffer_limit_disconnections`).

pub use super::pubsub_query::{parse_query, Query};
use crate::config::RUNTIME;
use crate::resp::reply;
use crate::resp::reply::Out;
use hashbrown::{HashMap, HashSet};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Poll, Waker};

/// The three namespaces: channels, patterns, shard channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

/// What the forwarder carries to the other cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbound {
    /// A message on a channel (`Kind::Channel`, patterns included) or a shard channel.
    Message(Kind),
    /// A MONITOR line.
    Monitor,
    /// A client-side caching invalidation for this destination; `true`: of everything.
    Invalidate(crate::cmd::tracking::Dest, bool),
}

impl Kind {
    pub fn subscribe_verb(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }

    pub fn unsubscribe_verb(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }
}

/// A message kind as it crosses cores: to channel subscribers (and matching patterns), or to
/// shard-channel subscribers.
pub fn kind_code(shard_channel: bool) -> Kind {
    if shard_channel {
        Kind::Shard
    } else {
        Kind::Channel
    }
}

/// Bytes kept in a subscriber's pending buffer between deliveries; beyond it the buffer is
/// dropped once written.
const PENDING_KEEP_CAPACITY: usize = 64 * 1024;

/// One connection's subscriptions and the messages waiting to be written to it.
pub struct Subscriber {
    pub client: u64,
    fd: i32,
    st: RefCell<SubState>,
}

#[derive(Default)]
struct SubState {
    resp3: bool,
    channels: HashSet<Box<[u8]>>,
    patterns: HashSet<Box<[u8]>>,
    shard_channels: HashSet<Box<[u8]>>,
    /// Encoded messages not yet handed to the socket.
    pending: Vec<u8>,
    /// Bytes taken from `pending` by a write still in progress (they count against the limit).
    writing: usize,
    /// Since when (unix ms) the buffer has been over the soft limit.
    soft_since: Option<u64>,
    /// Closed for its output buffer limit.
    closed: bool,
    /// MONITOR: every command's line is appended here too.
    monitor: bool,
    /// CLIENT TRACKING: invalidations are appended here.
    tracking: bool,
    waker: Option<Waker>,
}

impl SubState {
    fn set(&mut self, kind: Kind) -> &mut HashSet<Box<[u8]>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard_channels,
        }
    }
}

impl Subscriber {
    pub fn new(client: u64, fd: i32, resp3: bool) -> Rc<Subscriber> {
        Rc::new(Subscriber {
            client,
            fd,
            st: RefCell::new(SubState {
                resp3,
                ..SubState::default()
            }),
        })
    }

    pub fn set_resp3(&self, resp3: bool) {
        self.st.borrow_mut().resp3 = resp3;
    }

    /// The count a (un)subscribe confirmation reports: channels plus patterns, or shard
    /// channels (as Redis 7 counts them).
    pub fn count(&self, kind: Kind) -> usize {
        let st = self.st.borrow();
        match kind {
            Kind::Shard => st.shard_channels.len(),
            _ => st.channels.len() + st.patterns.len(),
        }
    }

    /// (channels, patterns, shard channels), for CLIENT LIST.
    pub fn counts(&self) -> (usize, usize, usize) {
        let st = self.st.borrow();
        (
            st.channels.len(),
            st.patterns.len(),
            st.shard_channels.len(),
        )
    }

    /// Whether the connection is in subscribed mode (any subscription).
    pub fn subscribed(&self) -> bool {
        let st = self.st.borrow();
        !(st.channels.is_empty() && st.patterns.is_empty() && st.shard_channels.is_empty())
    }

    /// Whether the connection must wait on this subscriber (subscribed, monitoring, or
    /// messages left).
    pub fn active(&self) -> bool {
        {
            let st = self.st.borrow();
            if st.monitor || st.tracking || !st.pending.is_empty() {
                return true;
            }
        }
        self.subscribed()
    }

    pub fn names(&self, kind: Kind) -> Vec<Box<[u8]>> {
        self.st.borrow_mut().set(kind).iter().cloned().collect()
    }

    /// Closed by its output buffer limit: the connection ends.
    pub fn closed(&self) -> bool {
        self.st.borrow().closed
    }

    pub fn pending_len(&self) -> usize {
        self.st.borrow().pending.len()
    }

    /// Resolves once a message is waiting or the subscriber was closed.
    pub async fn ready(&self) {
        std::future::poll_fn(|cx| {
            let mut st = self.st.borrow_mut();
            if !st.pending.is_empty() || st.closed {
                Poll::Ready(())
            } else {
                st.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Moves the waiting messages to the end of `out`; they count as being written until
    /// [`Subscriber::written`].
    pub fn drain_into(&self, out: &mut Vec<u8>) {
        let mut st = self.st.borrow_mut();
        if st.pending.is_empty() {
            return;
        }
        out.extend_from_slice(&st.pending);
        st.writing += st.pending.len();
        st.pending.clear();
        if st.pending.capacity() > PENDING_KEEP_CAPACITY {
            st.pending = Vec::new();
        }
    }

    /// The messages drained so far reached the socket.
    pub fn written(&self) {
        self.st.borrow_mut().writing = 0;
    }

    /// Appends one message (`verb`, then `fields` as bulk strings) in the subscriber's protocol,
    /// then applies the output buffer limit. Returns false when the subscriber is (now) closed.
    fn deliver(&self, verb: &[u8], fields: &[&[u8]], now_ms: u64, reg_closed: &mut u64) -> bool {
        self.append(
            |out| {
                reply::push(out, 1 + fields.len());
                reply::bulk(out, verb);
                for f in fields {
                    reply::bulk(out, f);
                }
            },
            now_ms,
            reg_closed,
        )
    }

    /// Appends what `encode` writes (in the subscriber's protocol), then applies the output
    /// buffer limit. Returns false when the subscriber is (now) closed.
    fn append(&self, encode: impl FnOnce(&mut Out), now_ms: u64, reg_closed: &mut u64) -> bool {
        let mut st = self.st.borrow_mut();
        if st.closed {
            return false;
        }
        let mut out = Out::from_vec(std::mem::take(&mut st.pending), st.resp3);
        encode(&mut out);
        st.pending = out.into_vec();
        let used = (st.pending.len() + st.writing) as u64;
        let (hard, soft, soft_secs) = pubsub_limits();
        let over_soft = soft > 0 && used > soft;
        if !over_soft {
            st.soft_since = None;
        }
        let soft_expired = over_soft && {
            let since = *st.soft_since.get_or_insert(now_ms);
            now_ms.saturating_sub(since) > soft_secs * 1000
        };
        if (hard > 0 && used > hard) || soft_expired {
            st.closed = true;
            st.pending = Vec::new();
            *reg_closed += 1;
            eprintln!(
                "corekv: closing client {}: pubsub output buffer limit reached ({used} bytes)",
                self.client
            );
            // SAFETY: fd is the live connection's socket (the registry forgets a subscriber
            // before its connection closes the socket); shutting it down ends a stuck write.
            unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) };
        }
        if let Some(w) = st.waker.take() {
            w.wake();
        }
        !st.closed
    }
}

/// `client-output-buffer-limit pubsub`: (hard bytes, soft bytes, soft seconds).
fn pubsub_limits() -> (u64, u64, u64) {
    let l = &RUNTIME.output_buffer_limits;
    (
        l[6].load(Ordering::Relaxed),
        l[7].load(Ordering::Relaxed),
        l[8].load(Ordering::Relaxed),
    )
}

/// Subscriptions (channels, patterns and shard channels, counted per connection) on each core,
/// so a PUBLISH skips the cores where nobody listens: with subscribers on one core, a publish
/// costs one hop instead of one per core. Written by its core on (un)subscribe (Release), read
/// by publishers (Acquire): a subscription confirmed to its client is seen by any PUBLISH that
/// starts after. Cores beyond [`MAX_TRACKED_CORES`] are always sent to.
static SUBSCRIPTIONS: [AtomicU64; MAX_TRACKED_CORES] =
    [const { AtomicU64::new(0) }; MAX_TRACKED_CORES];
pub const MAX_TRACKED_CORES: usize = 1024;

/// Monitors on each core (MONITOR), so a command's line crosses only to cores that have one,
/// and nothing at all is formatted while nobody monitors.
static MONITORS: [AtomicU64; MAX_TRACKED_CORES] = [const { AtomicU64::new(0) }; MAX_TRACKED_CORES];
/// Monitors over all cores (one relaxed load per command when there are none).
static ANY_MONITOR: AtomicU64 = AtomicU64::new(0);

/// Whether anyone monitors (checked before a command's line is formatted).
#[inline]
pub fn monitoring() -> bool {
    ANY_MONITOR.load(Ordering::Relaxed) > 0
}

/// Whether core `core` may have a monitor.
#[inline]
pub fn core_monitors(core: usize) -> bool {
    core >= MAX_TRACKED_CORES || MONITORS[core].load(Ordering::Acquire) > 0
}

/// Whether core `core` may have a subscriber (a PUBLISH must reach it).
#[inline]
pub fn core_listens(core: usize) -> bool {
    core >= MAX_TRACKED_CORES || SUBSCRIPTIONS[core].load(Ordering::Acquire) > 0
}

/// Hashes names the same way on every core (INFO dedups them).
static NAME_HASH: ahash::RandomState = ahash::RandomState::with_seeds(1, 2, 3, 4);

type Listeners = HashMap<Box<[u8]>, HashMap<u64, Rc<Subscriber>>>;

/// A message the server published on this core, to be delivered on the other cores.
pub struct Forward {
    pub what: Outbound,
    pub channel: Vec<u8>,
    pub message: Vec<u8>,
}

/// This core's subscriptions: channel, pattern and shard channel to the subscribers of this
/// core's connections.
#[derive(Default)]
pub struct Registry {
    channels: Listeners,
    patterns: Listeners,
    shard_channels: Listeners,
    /// Subscribers closed for their output buffer limit.
    pub limit_disconnections: u64,
    /// Messages for the other cores (sent by `shard::fanout`).
    pub outbox: Vec<Forward>,
    /// The forwarder task, waiting for messages.
    pub forwarder: Option<Waker>,
    /// The core this registry belongs to (its entry in `SUBSCRIPTIONS`).
    core: usize,
    /// This core's MONITOR connections.
    monitors: HashMap<u64, Rc<Subscriber>>,
    /// This core's connections with CLIENT TRACKING on.
    trackers: HashMap<u64, Rc<Subscriber>>,
}

impl Registry {
    pub fn new(core: usize) -> Registry {
        Registry {
            core,
            ..Registry::default()
        }
    }

    fn count(&self, delta: i64) {
        if let Some(c) = SUBSCRIPTIONS.get(self.core) {
            if delta > 0 {
                c.fetch_add(delta as u64, Ordering::Release);
            } else {
                c.fetch_sub((-delta) as u64, Ordering::Release);
            }
        }
    }

    fn listeners(&mut self, kind: Kind) -> &mut Listeners {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard_channels,
        }
    }

    /// Adds `sub` to `name`; false when it was already subscribed.
    pub fn subscribe(&mut self, sub: &Rc<Subscriber>, kind: Kind, name: &[u8]) -> bool {
        if !sub.st.borrow_mut().set(kind).insert(name.into()) {
            return false;
        }
        self.listeners(kind)
            .entry(name.into())
            .or_default()
            .insert(sub.client, sub.clone());
        self.count(1);
        true
    }

    /// Removes `sub` from `name`; false when it was not subscribed.
    pub fn unsubscribe(&mut self, sub: &Subscriber, kind: Kind, name: &[u8]) -> bool {
        if !sub.st.borrow_mut().set(kind).remove(name) {
            return false;
        }
        let listeners = self.listeners(kind);
        if let Some(subs) = listeners.get_mut(name) {
            subs.remove(&sub.client);
            if subs.is_empty() {
                listeners.remove(name);
            }
        }
        self.count(-1);
        true
    }

    /// Makes `sub` a monitor (MONITOR).
    pub fn add_monitor(&mut self, sub: &Rc<Subscriber>) {
        if std::mem::replace(&mut sub.st.borrow_mut().monitor, true) {
            return;
        }
        self.monitors.insert(sub.client, sub.clone());
        if let Some(c) = MONITORS.get(self.core) {
            c.fetch_add(1, Ordering::Release);
        }
        ANY_MONITOR.fetch_add(1, Ordering::Release);
    }

    fn remove_monitor(&mut self, sub: &Subscriber) {
        if !std::mem::replace(&mut sub.st.borrow_mut().monitor, false) {
            return;
        }
        self.monitors.remove(&sub.client);
        if let Some(c) = MONITORS.get(self.core) {
            c.fetch_sub(1, Ordering::Release);
        }
        ANY_MONITOR.fetch_sub(1, Ordering::Release);
    }

    /// Appends a MONITOR line (already formatted, `+...\r\n`) to this core's monitors.
    pub fn monitor_line(&mut self, line: &[u8], now_ms: u64) {
        let closed = &mut self.limit_disconnections;
        for m in self.monitors.values() {
            m.append(|out| out.extend_from_slice(line), now_ms, closed);
        }
    }

    /// Forgets every subscription of `sub` (its connection closed, or RESET).
    pub fn remove(&mut self, sub: &Subscriber) {
        self.remove_monitor(sub);
        self.remove_tracker(sub);
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in sub.names(kind) {
                self.unsubscribe(sub, kind, &name);
            }
        }
    }

    /// Delivers `message` on `channel` to this core's subscribers: channel (and matching
    /// pattern) subscribers for [`Kind::Channel`], shard-channel subscribers for
    /// [`Kind::Shard`]. Returns how many received it.
    pub fn publish(&mut self, kind: Kind, channel: &[u8], message: &[u8], now_ms: u64) -> u64 {
        let mut n = 0;
        let closed = &mut self.limit_disconnections;
        let (direct, verb) = match kind {
            Kind::Shard => (&self.shard_channels, &b"smessage"[..]),
            _ => (&self.channels, &b"message"[..]),
        };
        if let Some(subs) = direct.get(channel) {
            for s in subs.values() {
                n += s.deliver(verb, &[channel, message], now_ms, closed) as u64;
            }
        }
        if kind == Kind::Channel {
            for (pattern, subs) in &self.patterns {
                if crate::store::glob_match(pattern, channel) {
                    for s in subs.values() {
                        n += s.deliver(b"pmessage", &[pattern, channel, message], now_ms, closed)
                            as u64;
                    }
                }
            }
        }
        n
    }

    /// Queues a message the server published here for the other cores, waking the forwarder.
    pub fn forward(&mut self, what: Outbound, channel: &[u8], message: &[u8]) {
        self.outbox.push(Forward {
            what,
            channel: channel.to_vec(),
            message: message.to_vec(),
        });
        if let Some(w) = self.forwarder.take() {
            w.wake();
        }
    }

    /// Queues an invalidation for a client on another core (`core` `u16::MAX`: every core).
    pub fn forward_invalidation(&mut self, d: crate::cmd::tracking::Dest, key: Option<&[u8]>) {
        self.outbox.push(Forward {
            what: Outbound::Invalidate(d, key.is_none()),
            channel: Vec::new(),
            message: key.unwrap_or_default().to_vec(),
        });
        if let Some(w) = self.forwarder.take() {
            w.wake();
        }
    }

    /// A connection that tracks keys (its invalidations are pushed to it).
    pub fn add_tracker(&mut self, sub: &Rc<Subscriber>) {
        sub.st.borrow_mut().tracking = true;
        self.trackers.insert(sub.client, sub.clone());
    }

    pub fn remove_tracker(&mut self, sub: &Subscriber) {
        sub.st.borrow_mut().tracking = false;
        self.trackers.remove(&sub.client);
    }

    /// FLUSHALL: every tracking client of this core (and every `__redis__:invalidate`
    /// subscriber, the REDIRECT targets) is told to drop everything.
    pub fn invalidate_everyone(&mut self, now_ms: u64) {
        let mut to: Vec<(u64, bool)> = self.trackers.keys().map(|&c| (c, false)).collect();
        if let Some(subs) = self.channels.get(&b"__redis__:invalidate"[..]) {
            to.extend(subs.keys().map(|&c| (c, true)));
        }
        for (c, redirect) in to {
            self.invalidation(c, redirect, None, now_ms);
        }
    }

    /// Delivers an invalidation of `key` (`None`: everything) to client `to` if it is on this
    /// core: a RESP3 push `invalidate`, or (`redirect`) a `message` on `__redis__:invalidate`
    /// when it subscribed to that channel.
    pub fn invalidation(&mut self, to: u64, redirect: bool, key: Option<&[u8]>, now_ms: u64) {
        const CHANNEL: &[u8] = b"__redis__:invalidate";
        let target = if redirect {
            self.channels
                .get(CHANNEL)
                .and_then(|subs| subs.get(&to))
                .or_else(|| self.trackers.get(&to))
                .cloned()
        } else {
            self.trackers.get(&to).cloned()
        };
        let Some(sub) = target else { return };
        let resp3 = sub.st.borrow().resp3;
        let subscribed = sub.st.borrow().channels.contains(CHANNEL);
        let encode = |out: &mut Out| {
            if resp3 {
                reply::push(out, 2);
                reply::bulk(out, b"invalidate");
            } else {
                reply::push(out, 3);
                reply::bulk(out, b"message");
                reply::bulk(out, CHANNEL);
            }
            match key {
                Some(k) => {
                    reply::array(out, 1);
                    reply::bulk(out, k);
                }
                None => reply::null_array(out),
            }
        };
        // RESP2 without the channel: nowhere to put it (as in Redis).
        if resp3 || subscribed {
            sub.append(encode, now_ms, &mut self.limit_disconnections);
        }
    }

    /// Active channel (or shard channel) names matching `pattern` (all without one).
    pub fn channel_names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let l = match kind {
            Kind::Shard => &self.shard_channels,
            _ => &self.channels,
        };
        l.keys()
            .filter(|c| pattern.is_none_or(|p| crate::store::glob_match(p, c)))
            .map(|c| c.to_vec())
            .collect()
    }

    pub fn pattern_names(&self) -> Vec<Vec<u8>> {
        self.patterns.keys().map(|p| p.to_vec()).collect()
    }

    /// Each of `channels` with its subscribers on this core.
    pub fn numsub<'a>(
        &self,
        kind: Kind,
        channels: impl Iterator<Item = &'a [u8]>,
    ) -> Vec<(Vec<u8>, u64)> {
        let l = match kind {
            Kind::Shard => &self.shard_channels,
            _ => &self.channels,
        };
        channels
            .map(|c| (c.to_vec(), l.get(c).map_or(0, |s| s.len() as u64)))
            .collect()
    }

    /// Hashes of this core's channel, pattern and shard channel names, for INFO (which counts
    /// the distinct names over all cores).
    pub fn name_hashes(&self) -> [Vec<u64>; 3] {
        let h = |l: &Listeners| {
            l.keys()
                .map(|k| NAME_HASH.hash_one(k))
                .collect::<Vec<u64>>()
        };
        [
            h(&self.channels),
            h(&self.patterns),
            h(&self.shard_channels),
        ]
    }
}

/// Writes a (un)subscribe confirmation: `[verb, name or null, count]`, a push in RESP3.
pub fn confirm(out: &mut Out, verb: &[u8], name: Option<&[u8]>, count: usize) {
    reply::push(out, 3);
    reply::bulk(out, verb);
    match name {
        Some(n) => reply::bulk(out, n),
        None => reply::null(out),
    }
    reply::int(out, count as i64);
}

/// PUBLISH / SPUBLISH run on one shard (a script's call): delivered here at once and forwarded
/// to the other cores; answers the receivers on this core (see the module docs).
pub fn publish_here(
    sh: &mut crate::cmd::Shard,
    a: &crate::cmd::Args,
    kind: Kind,
    now_ms: u64,
    out: &mut Out,
) {
    let n = sh.pubsub.publish(kind, a.get(1), a.get(2), now_ms);
    if sh.shards > 1 {
        sh.pubsub
            .forward(Outbound::Message(kind), a.get(1), a.get(2));
    }
    reply::int(out, n as i64);
}
