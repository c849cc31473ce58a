//! RESP2, the Redis protocol: the incremental request parser and the reply encoder.

pub mod args;
pub mod parse;

pub use args::Args;
pub mod reply;
