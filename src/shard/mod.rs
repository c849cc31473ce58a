//! Shards: the state one core owns, and how work crosses between cores.
//!
//! A [`Shard`] is everything one core owns: its slice of the keyspace, its counters and its
//! clients. It is defined with the commands that run against it (`cmd::state`); this layer
//! only routes and orders work between cores.
//!
//! Work for another core travels as a [`Hop`]: one message per destination shard per batch of
//! parsed commands, carrying copies of the arguments and an empty reply buffer. The destination
//! runs the ops in order, fills the reply buffer and sends the same box back on the reply mesh,
//! so buffers always return to the core that allocated them and are reused.
//!
//! - `control`: the channel between the server layer and the shards (start, stop, drain).
//! - `slot`: key -> hash slot -> shard.
//! - `hop`: the typed work ([`ShardOp`]) a hop carries, and how a shard runs it.
//! - `mesh`: the per-core context, the request and reply meshes, the tasks that serve them.
//! - `fanout`: each core's forwarder of the messages the server publishes there.
//! - `lock`: a shard held by one cross-shard transaction at a time.
//! - `busy`: driving a script past the busy threshold, slice by slice.
//! - `pipeline`: a connection's batch: routing, local execution, gathering replies in order,
//!   and MULTI/EXEC.

pub mod busy;
pub mod control;
pub mod fanout;
pub mod hop;
pub mod lock;
pub mod mesh;
pub mod pipeline;
pub use crate::slot;

pub use hop::{Hop, LockStep, ShardOp, ShardReply, HOP_REPLY_BUDGET};

pub use crate::cmd::state::{with_known_hash, ClientInfo, ServerInfo, Shard, ShardStats};
pub use crate::cmd::watch;
