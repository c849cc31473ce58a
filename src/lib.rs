//! # corekv
//!
//! A thread-per-core, shared-nothing, Redis-compatible cache server on glommio (io_uring).
//!
//! ```text
//!             clients (redis-cli, redis-benchmark, memtier, client libraries)
//!                  |  TCP, one SO_REUSEPORT listener per core; the kernel spreads connections
//!    +-------------+-------------+------------------+
//!    | core 0      | core 1      |  ...  core N-1   |   one glommio LocalExecutor per core
//!    | conns       | conns       |                  |   a connection lives on the core that accepted it
//!    | shard 0     | shard 1     |                  |   each shard owns its keys: table, expiry, stats
//!    +------+------+------+------+------------------+
//!           \__ request mesh __/   one Hop per destination shard per batch
//!           \__ reply mesh ____/   a separate mesh, so replies always drain
//! ```
//!
//! ## Life of a request
//! read into the connection's buffer -> parse every complete command in it (pipelining; the
//! arguments stay ranges of the buffer) -> route each key to its shard by Redis Cluster hash slot
//! -> plan the next 16 commands (each name looked up, each key routed and hashed once) and
//! prefetch this core's keys among them (their cache misses overlap)
//! -> commands for this core's keys run inline, in order -> commands for other cores are appended
//! to one [`shard::Hop`] per destination and sent as one message each -> the owning core runs its
//! hop in order (prefetching its keys the same way) and sends the same box back with the replies -> replies are emitted in the
//! client's command order into one output buffer -> one write.
//!
//! ## Atomicity across cores
//! A transaction (MULTI/EXEC) or multi-key command whose keys live on one shard runs there in
//! one go. One whose keys span shards holds them (`shard::lock`): it takes them in ascending
//! order, each taking carrying that shard's work, so no client sees part of it and two can never
//! deadlock; work for a held shard waits in its queue in arrival order (`shard::pipeline::txn`).
//!
//! ## Pushes: pub/sub, keyspace events, MONITOR, invalidations
//! A subscriber (a SUBSCRIBE, MONITOR or CLIENT TRACKING connection) lives on its connection's
//! core and has an inbox there; the connection waits on its socket and its inbox together.
//! PUBLISH travels in the batch's hops to the cores that have subscribers (`cmd::pubsub`);
//! what the server itself publishes on a core (keyspace events from the key's shard, MONITOR
//! lines, a script's PUBLISH, client-side caching invalidations) goes out through that core's
//! forwarder (`shard::fanout`), in order. A subscriber that does not read is closed at its
//! output buffer limit; nobody else waits for it.
//!
//! ## Blocked clients
//! A BLPOP-style command with nothing to pop registers its client on the shards of its keys
//! (FIFO per key) and its connection waits, holding nothing (`shard::pipeline::block`). A write
//! that gives a waited-on key data wakes that shard's serving task, which pops for the
//! longest-waiting client once the write's command, transaction or script is over and sends the
//! reply to the client's core (`cmd::blocking`). A client waiting on several shards is served
//! exactly once through one ticket, an atomic flag its registrations share: the one piece of
//! state two cores touch, and only for blocked clients.
//!
//! ## Ownership rules
//! - A shard's data is touched only by its own core: no Mutex, RwLock or shared map on the data
//!   path. Cross-core work is messages.
//! - Stored values are copied into allocations the store owns; a slice of a read buffer would pin
//!   the whole buffer.
//! - Nothing blocks an executor: background work (active expiry) runs in a low-share task queue.
//! - Time is a parameter of every store operation; the store never reads the clock.
//! - Bad input becomes an error reply; only a framing error closes a connection. A panic on a
//!   request path is a bug.
//!
//! ## Modules
//! - [`config`]: flags, defaults, run-time knobs.
//! - [`clock`]: the one wall clock (read once per batch; time is a parameter below it).
//! - [`server`]: boot, recovery, the background duties (cron), drain and shutdown.
//! - [`net`]: listeners and the connection loop.
//! - [`resp`]: the request parser and the reply encoder.
//! - [`slot`]: key -> hash slot -> shard (Redis Cluster's placement), below every layer that
//!   routes.
//! - [`shard`]: routing, typed hops, the meshes, the transaction lock, WATCH, a
//!   connection's pipeline, how replies are gathered, MULTI/EXEC.
//! - [`cmd`]: the command table, dispatch and one file per command family; `cmd::script` is Lua
//!   scripting (one interpreter per shard); `cmd::pubsub`, `cmd::notify`, `cmd::monitor` and
//!   `cmd::tracking` are what the server pushes to clients.
//! - [`store`]: the shard-local key-value table, entries, expiry, eviction.
//! - [`persist`]: the per-shard append-only log.
//! - [`error`]: client-visible errors with their exact Redis texts.
//! - [`num`]: Redis's integer rule, shared by the parser, the commands and the store.

pub mod clock;
pub mod cmd;
pub mod config;
pub mod error;
pub mod net;
pub mod num;
pub mod persist;
pub mod resp;
pub mod server;
pub mod shard;
pub mod slot;
pub mod store;
