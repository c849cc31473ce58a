//! Persistence (off by default: corekv is an in-memory cache unless asked).
//!
//! - `aof`: the per-shard append-only log, replayed on start.

pub mod aof;
