//! Persistence (off by default: corekv is an in-memory cache unless asked).
//!
//! - `aof`: the per-shard append-only log, replayed on start.
//! - `crc64`: the checksum of RDB files.
//! - `rdb`: the Redis RDB file format (strings with expiry), read and written.
//! - `rdb_types`: RDB's hash and set encodings (also in Redis's dumps) and DUMP payloads.
//! - `snapshot`: SAVE/BGSAVE without fork, one RDB file from every shard; loading it on start.
//! - `txnlog`: a transaction's parts in the shard logs, applied all or nothing on start.

pub mod aof;
pub mod crc64;
pub mod rdb;
pub mod rdb_types;
pub mod snapshot;
pub mod txnlog;
