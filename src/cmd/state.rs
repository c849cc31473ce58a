//! What a command runs against: the state one core owns ([`Shard`]), its counters, its
//! clients. Only that core's thread ever touches it (it sits in a `RefCell` inside the core's
//! `shard::mesh::Ctx`, borrowed only between awaits), so nothing here is locked or atomic.

use super::watch;
use super::TABLE;
use crate::store::Store;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

/// Facts about the server that every shard reports (INFO, CONFIG GET).
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub bind: String,
    pub port: u16,
    pub tcp_backlog: i32,
    pub started: Instant,
}

/// Per-shard counters, summed over shards by INFO.
pub struct ShardStats {
    pub calls: Vec<u64>,
    pub failed: Vec<u64>,
    pub errors: Vec<(&'static str, u64)>,
    pub hits: u64,
    pub misses: u64,
    pub connections_received: u64,
    pub rejected_connections: u64,
    pub auth_failures: u64,
    pub protocol_errors: u64,
}

impl ShardStats {
    fn new() -> Self {
        ShardStats {
            calls: vec![0; TABLE.len()],
            failed: vec![0; TABLE.len()],
            errors: Vec::new(),
            hits: 0,
            misses: 0,
            connections_received: 0,
            rejected_connections: 0,
            auth_failures: 0,
            protocol_errors: 0,
        }
    }

    pub fn count_error(&mut self, code: &'static str) {
        match self.errors.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => self.errors.push((code, 1)),
        }
    }

    pub fn reset(&mut self) {
        *self = ShardStats {
            connections_received: 0,
            ..ShardStats::new()
        };
    }
}

/// One core's cross-core hop counters (INFO hops). The shard layer, which sends and serves the
/// hops, updates them through a shared handle (`Cell`s, one thread); INFO sums them over the
/// shards like the other counters. One hop in [`HOP_SAMPLE_EVERY`] is timed: from its send to
/// its destination receiving it, and from the destination's reply to the origin receiving it.
#[derive(Debug, Default)]
pub struct HopCounters {
    pub sent: std::cell::Cell<u64>,
    pub served: std::cell::Cell<u64>,
    pub to_peer_ns: std::cell::Cell<u64>,
    pub to_peer_samples: std::cell::Cell<u64>,
    pub back_ns: std::cell::Cell<u64>,
    pub back_samples: std::cell::Cell<u64>,
}

/// One hop in this many is timed (two clock reads on each side).
pub const HOP_SAMPLE_EVERY: u64 = 16;

impl HopCounters {
    pub fn add(cell: &std::cell::Cell<u64>, n: u64) {
        cell.set(cell.get() + n);
    }
}

/// What CLIENT LIST / CLIENT INFO show about one connection.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub name: String,
    pub lib_name: String,
    pub lib_ver: String,
    pub created_ms: u64,
    pub last_ms: u64,
    pub last_cmd: &'static str,
    /// Passed AUTH / HELLO AUTH, or no password is required.
    pub authenticated: bool,
    /// The connection's socket, so CLIENT KILL and shutdown can close it from outside.
    pub fd: i32,
    /// CLIENT KILL chose this connection.
    pub killed: bool,
    /// Commands queued since MULTI, or `None` outside a transaction.
    pub multi: Option<u32>,
    /// HELLO 3 chose RESP3 (CLIENT LIST's `resp=`, HELLO's `proto`).
    pub resp3: bool,
    /// Channels, patterns and shard channels subscribed (CLIENT LIST's sub, psub, ssub).
    pub subscriptions: (usize, usize, usize),
    /// Waiting in a blocking command (CLIENT LIST's `b` flag).
    pub blocked: bool,
}

impl ClientInfo {
    pub fn write_line(&self, now_ms: u64, s: &mut String) {
        let _ = writeln!(
            s,
            "id={} addr={} laddr={} fd=0 name={} age={} idle={} flags={} db=0 sub={} psub={} ssub={} multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.name,
            now_ms.saturating_sub(self.created_ms) / 1000,
            now_ms.saturating_sub(self.last_ms) / 1000,
            match (self.subscriptions != (0, 0, 0), self.multi.is_some(), self.blocked) {
                (_, _, true) => "b",
                (true, true, _) => "Px",
                (true, false, _) => "P",
                (false, true, _) => "x",
                (false, false, _) => "N",
            },
            self.subscriptions.0,
            self.subscriptions.1,
            self.subscriptions.2,
            self.multi.map_or(-1, i64::from),
            if self.last_cmd.is_empty() { "NULL" } else { self.last_cmd },
            if self.resp3 { 3 } else { 2 },
            self.lib_name,
            self.lib_ver,
        );
    }
}

/// Everything one core owns.
pub struct Shard {
    pub id: usize,
    pub shards: usize,
    pub store: Store,
    pub stats: ShardStats,
    /// Live connections of this core; each connection shares its entry and updates it in place.
    pub clients: hashbrown::HashMap<u64, std::rc::Rc<std::cell::RefCell<ClientInfo>>>,
    pub settings: Arc<ServerInfo>,
    /// The append-only log's in-memory side, when persistence is on.
    pub aof: Option<crate::persist::aof::AofLog>,
    /// Keys watched by connections (of any core) for their next EXEC.
    pub watch: watch::WatchTable,
    /// This core's hop counters (shared with the shard layer's context).
    pub hops: std::rc::Rc<HopCounters>,
    /// This shard's Lua interpreter, from its first script on (`cmd::script`).
    pub scripts: Option<Box<super::script::Engine>>,
    /// A script past the busy threshold is suspended between two of its time slices: other
    /// work on this shard gets `-BUSY` (see `cmd::script::busy`).
    pub script_busy: bool,
    /// The busy script is a function (FCALL).
    pub busy_function: bool,
    /// The caller of the command running now can drive a suspended script to its end (a
    /// connection's own command or a plain hop; never inside EXEC or a held group).
    pub script_yieldable: bool,
    /// The shards a script across shards holds while it runs here (see
    /// `shard::pipeline::Pipeline::cross_script`); empty otherwise.
    pub script_cross: Vec<u16>,
    /// The last snapshot this shard's store began (at the snapshot's cut, see
    /// `shard::pipeline::snapshot_cut`); the background duty then streams its entries.
    pub snapshot_begun: u64,
    /// This core's subscribers (`cmd::pubsub`).
    pub pubsub: super::pubsub::Registry,
    /// Clients blocked on this shard's keys, and this core's blocked connections (`cmd::blocking`).
    pub blocking: super::blocking::Blocking,
    /// Keys read by tracking clients, BCAST prefixes (`cmd::tracking`).
    pub tracking: super::tracking::Table,
    /// Who runs the current op (set by the shard layer around each op).
    pub caller: super::tracking::Caller,
    /// The store's change counter when the running command began (see [`super::wrote`]).
    pub changes_before: u64,
    rng: u64,
}

impl Shard {
    pub fn new(id: usize, shards: usize, settings: Arc<ServerInfo>) -> Self {
        Shard {
            id,
            shards,
            store: Store::new(),
            stats: ShardStats::new(),
            clients: hashbrown::HashMap::new(),
            settings,
            aof: None,
            watch: watch::WatchTable::default(),
            hops: std::rc::Rc::default(),
            scripts: None,
            script_busy: false,
            busy_function: false,
            script_yieldable: false,
            script_cross: Vec::new(),
            snapshot_begun: 0,
            pubsub: super::pubsub::Registry::new(id),
            blocking: Default::default(),
            tracking: Default::default(),
            caller: Default::default(),
            changes_before: 0,
            rng: 0x9E37_79B9_7F4A_7C15 ^ (id as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
        }
    }

    /// xorshift64*: cheap randomness for RANDOMKEY, no syscall.
    pub fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Runs `f` (one command) with its key's hash from planning, when there is one, so the store
/// does not hash the key again (see `Store::set_known_hash`); the hash is forgotten right after.
pub fn with_known_hash<R>(
    shard: &mut Shard,
    known: Option<(&[u8], u64)>,
    f: impl FnOnce(&mut Shard) -> R,
) -> R {
    if let Some((key, hash)) = known {
        shard.store.set_known_hash(key, hash);
    }
    let r = f(shard);
    shard.store.clear_known_hash();
    r
}
