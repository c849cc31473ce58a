//! Shards: the state one core owns, and how work crosses between cores.
//!
//! A [`Shard`] is everything one core owns: its slice of the keyspace ([`Store`]), its counters
//! and its clients. Only that core's thread ever touches it (it sits in a `RefCell` inside the
//! core's [`mesh::Ctx`], borrowed only between awaits), so nothing here is locked or atomic.
//!
//! Work for another core travels as a [`Hop`]: one message per destination shard per batch of
//! parsed commands, carrying copies of the arguments and an empty reply buffer. The destination
//! runs the ops in order, fills the reply buffer and sends the same box back on the reply mesh,
//! so buffers always return to the core that allocated them and are reused.
//!
//! - `slot`: key -> hash slot -> shard.
//! - `mesh`: the per-core context, the request and reply meshes, the tasks that serve them.
//! - `pipeline`: a connection's batch: routing, local execution, gathering replies in order.

pub mod mesh;
pub mod pipeline;
pub mod slot;

use crate::cmd::{CmdId, TABLE};
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
}

impl ClientInfo {
    pub fn write_line(&self, now_ms: u64, s: &mut String) {
        let _ = writeln!(
            s,
            "id={} addr={} laddr={} fd=0 name={} age={} idle={} flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp=2 lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.name,
            now_ms.saturating_sub(self.created_ms) / 1000,
            now_ms.saturating_sub(self.last_ms) / 1000,
            if self.last_cmd.is_empty() { "NULL" } else { self.last_cmd },
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

/// One batch of operations from one connection for one destination shard, and on the way back
/// their replies. Boxed and recycled by the origin core.
#[derive(Default)]
pub struct Hop {
    /// The shard that sent it and gets it back.
    pub origin: usize,
    /// The shard that runs it.
    pub dest: usize,
    /// The waiting connection's slot on the origin shard, and that slot's generation (a hop
    /// that outlived its connection must not wake the slot's next owner).
    pub waiter: u32,
    pub generation: u32,
    /// The origin batch's clock (unix ms): every part of a command sees the same time, and
    /// time stays a parameter across cores.
    pub now_ms: u64,
    /// Argument bytes of every op, back to back.
    pub data: Vec<u8>,
    /// Byte ranges of the arguments in `data`.
    pub ranges: Vec<(usize, usize)>,
    /// (command, index of its first range, argument count), run in this order.
    pub ops: Vec<(CmdId, u32, u32)>,
    /// Replies of the ops back to back, filled by the destination.
    pub reply: Vec<u8>,
    /// End offset in `reply` of each op's reply, from op `first_op` on.
    pub ends: Vec<usize>,
    /// Ops before this one ran in an earlier trip and their replies were consumed. A hop stops
    /// once its replies pass [`HOP_REPLY_BUDGET`] and is sent again for the rest, so a pipeline
    /// of big replies never pins more than about that much memory per hop.
    pub first_op: u32,
}

/// Reply bytes a hop may collect before it returns unfinished (at least one op always runs).
pub const HOP_REPLY_BUDGET: usize = 1 << 20;

impl Hop {
    pub fn clear(&mut self) {
        self.data.clear();
        self.ranges.clear();
        self.ops.clear();
        self.reply.clear();
        self.ends.clear();
        self.first_op = 0;
    }

    /// Appends an op whose arguments are copied from `args`.
    pub fn push_op<'a>(&mut self, id: CmdId, args: impl Iterator<Item = &'a [u8]>) -> u32 {
        let first = self.ranges.len() as u32;
        for a in args {
            let start = self.data.len();
            self.data.extend_from_slice(a);
            self.ranges.push((start, self.data.len()));
        }
        let argc = self.ranges.len() as u32 - first;
        self.ops.push((id, first, argc));
        self.ops.len() as u32 - 1
    }

    /// The reply of op `i` once the hop came back with it done.
    pub fn op_reply(&self, i: u32) -> &[u8] {
        let k = (i - self.first_op) as usize;
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        &self.reply[start..self.ends[k]]
    }

    /// Whether op `i` ran in the last trip (its reply is here).
    pub fn op_done(&self, i: u32) -> bool {
        i >= self.first_op && ((i - self.first_op) as usize) < self.ends.len()
    }

    /// Whether every op has run.
    pub fn finished(&self) -> bool {
        self.first_op as usize + self.ends.len() >= self.ops.len()
    }

    /// Runs the ops from `first_op` on `shard` (the destination) at the hop's `now_ms`, filling
    /// the replies, until all ran or the replies pass [`HOP_REPLY_BUDGET`].
    pub fn execute(&mut self, shard: &mut Shard) {
        let now_ms = self.now_ms;
        self.reply.clear();
        self.ends.clear();
        let pending = &self.ops[self.first_op as usize..];
        let (data, ranges) = (&self.data, &self.ranges);
        let op_args = |first: u32, argc: u32| {
            crate::cmd::Args::new(data, &ranges[first as usize..(first + argc) as usize])
        };
        let mut plans = [pipeline::prefetch::Plan::default(); pipeline::prefetch::CHUNK];
        for (i, &(id, first, argc)) in pending.iter().enumerate() {
            if i % pipeline::prefetch::CHUNK == 0 {
                let chunk = &pending[i..pending.len().min(i + pipeline::prefetch::CHUNK)];
                pipeline::prefetch::plan_ops(
                    &shard.store,
                    shard.id,
                    chunk
                        .iter()
                        .map(|&(id, first, argc)| (id, op_args(first, argc))),
                    &mut plans,
                );
            }
            let args = op_args(first, argc);
            let known = plans[i % pipeline::prefetch::CHUNK]
                .key
                .and_then(|k| k.hash)
                .map(|h| (args.get(id.spec().first_key as usize), h));
            with_known_hash(shard, known, |shard| {
                crate::cmd::execute(shard, id, &args, now_ms, &mut self.reply)
            });
            self.ends.push(self.reply.len());
            if self.reply.len() >= HOP_REPLY_BUDGET {
                break;
            }
        }
    }
}
