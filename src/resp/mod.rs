//! RESP2, the Redis protocol: the incremental request parser and the reply encoder.

pub mod parse;
pub mod reply;
