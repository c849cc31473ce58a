//! The command table and dispatch.
//!
//! Command metadata is data: one [`CmdSpec`] per command (name, Redis-convention arity, flags,
//! key positions, how it is routed across shards). `COMMAND`, `INFO commandstats` and the arity
//! check all read this one table. Dispatch is an exhaustive `match` on [`CmdId`].
//!
//! A handler parses its arguments, makes one typed store call on the shard that owns the key and
//! writes the reply; it returns `Err(CmdError)` instead of writing an error, so every error is
//! counted in one place ([`execute`]).
//!
//! Routing ([`Route`]) is decided by the connection before anything runs:
//! - `Conn`: touches only the connection's own state (SELECT, HELLO, CLIENT, QUIT).
//! - `Local`: keyless, runs on the connection's shard (PING, ECHO, TIME, CONFIG, COMMAND).
//! - `Key`: one key; runs on the shard that owns it.
//! - `Multi`: several keys; split by shard into parts that are this same command on a subset of
//!   the keys, then gathered ([`Gather`]).
//! - `All`: runs on every shard, gathered.
//! - `Scan`: routed by its cursor. `Barrier`: one shard runs it whole, or it runs in dependent
//!   steps across shards (see `shard::pipeline`).

pub mod admit;
pub mod args;
pub mod bitmaps;
pub mod blocking;
pub mod config_cmd;
pub mod connection;
mod dispatch;
pub mod docs;
pub mod effects;
pub mod hashes;
pub mod hll;
pub mod keys;
pub mod lcs;
pub mod lists;
pub mod monitor;
pub mod notify;
pub mod pubsub;
pub mod pubsub_query;
pub mod script;
pub mod serialize;
pub mod server;
pub mod sets;
pub mod state;
pub mod strings;
pub mod tracking;
pub mod watch;
pub mod zsets;

pub use args::Args;
pub use state::Shard;

use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;

/// How a multi-shard command's partial replies are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gather {
    /// MGET: one element per key, put back in argument order.
    Elements,
    /// DEL, EXISTS, TOUCH, UNLINK, DBSIZE: integer replies summed.
    SumInt,
    /// MSET, FLUSHALL: every part answers +OK.
    AllOk,
    /// KEYS: arrays concatenated.
    ConcatArrays,
    /// RANDOMKEY: any non-null part.
    AnyNonNull,
    /// INFO: per-shard statistics formatted into one text.
    Info,
    /// CLIENT LIST: per-shard text concatenated into one bulk string.
    ConcatText,
    /// CLIENT KILL addr (the old form): +OK if any shard closed a connection, else an error.
    KilledOrNoSuchClient,
    /// RESET's parts (forgetting watches): every part answers +OK; the reply is +RESET.
    Reset,
    /// PUBLISH / SPUBLISH: the receivers on every core, summed (never holds the shards).
    Receivers,
    /// PUBSUB: each core's names or counts, combined (`cmd::pubsub::gather_query`).
    Pubsub,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Conn,
    Local,
    Key,
    /// Keys from argument 1 with this step (1: every argument is a key, 2: key value pairs).
    Multi {
        step: u8,
        gather: Gather,
    },
    All(Gather),
    Scan,
    /// Keys as declared by first/last/step: one shard runs it whole; keys on several shards make
    /// it a barrier that runs in dependent steps (RENAME, MSETNX).
    Barrier,
    /// EVAL and its family: the keys are the `numkeys` arguments after argument 2; the shard
    /// that owns them runs it whole (the connection's shard when there are none).
    Script,
}

pub mod flags {
    pub const WRITE: u32 = 1;
    pub const READONLY: u32 = 1 << 1;
    pub const FAST: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const DENYOOM: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const LOADING: u32 = 1 << 6;
    pub const STALE: u32 = 1 << 7;
    pub const NO_AUTH: u32 = 1 << 8;
    /// Refused inside MULTI ("Command not allowed inside a transaction").
    pub const NO_MULTI: u32 = 1 << 9;
    pub const PUBSUB: u32 = 1 << 10;
    /// The keys are found from the arguments (SINTERCARD's numkeys), not first/last/step.
    pub const MOVABLE_KEYS: u32 = 1 << 11;
    /// May block the client (BLPOP and family): the connection runs it (`cmd::blocking`).
    pub const BLOCKING: u32 = 1 << 12;

    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MULTI, "no_multi"),
        (MOVABLE_KEYS, "movablekeys"),
    ];
}

pub struct CmdSpec {
    pub name: &'static str,
    /// Redis convention: N means exactly N arguments (name included), -N at least N.
    pub arity: i32,
    pub flags: u32,
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub route: Route,
    pub group: &'static str,
    pub summary: &'static str,
}

macro_rules! commands {
    ($( $id:ident = $name:literal, $arity:expr, $flags:expr, ($fk:expr, $lk:expr, $st:expr), $route:expr, $group:literal, $summary:literal; )*) => {
        /// Every command corekv knows, in table order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum CmdId { $($id),* }

        pub static TABLE: &[CmdSpec] = &[
            $(CmdSpec { name: $name, arity: $arity, flags: $flags, first_key: $fk, last_key: $lk, step: $st,
                        route: $route, group: $group, summary: $summary }),*
        ];

        pub const ALL: &[CmdId] = &[$(CmdId::$id),*];
    };
}

use flags::*;
use Gather::*;
use Route::*;

commands! {
    // connection and server
    Ping = "ping", -1, FAST | STALE, (0, 0, 0), Local, "connection", "Returns the server's liveliness response.";
    Echo = "echo", 2, FAST | STALE, (0, 0, 0), Local, "connection", "Returns the given string.";
    Reset = "reset", 1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH, (0, 0, 0), Conn, "connection", "Resets the connection.";
    Quit = "quit", -1, FAST | NO_AUTH | STALE | LOADING, (0, 0, 0), Conn, "connection", "Closes the connection.";
    Select = "select", 2, FAST | LOADING | STALE, (0, 0, 0), Conn, "connection", "Changes the selected database.";
    Auth = "auth", -2, NO_AUTH | FAST | LOADING | STALE, (0, 0, 0), Conn, "connection", "Authenticates the connection.";
    Shutdown = "shutdown", -1, ADMIN | LOADING | STALE | NO_MULTI, (0, 0, 0), Conn, "server", "Synchronously saves the database(s) to disk and shuts down the Redis server.";
    Hello = "hello", -1, FAST | NO_AUTH | LOADING | STALE, (0, 0, 0), Conn, "connection", "Handshakes with the Redis server.";
    Client = "client", -2, LOADING | STALE, (0, 0, 0), Conn, "connection", "A container for client connection commands.";
    // transactions (run by the connection's pipeline: see `shard::pipeline::txn`)
    Multi = "multi", 1, NOSCRIPT | LOADING | STALE | FAST, (0, 0, 0), Conn, "transactions", "Starts a transaction.";
    Exec = "exec", 1, NOSCRIPT | LOADING | STALE, (0, 0, 0), Conn, "transactions", "Executes all commands in a transaction.";
    Discard = "discard", 1, NOSCRIPT | LOADING | STALE | FAST, (0, 0, 0), Conn, "transactions", "Discards a transaction.";
    Watch = "watch", -2, NOSCRIPT | LOADING | STALE | FAST, (1, -1, 1), Conn, "transactions", "Monitors changes to keys to determine the execution of a transaction.";
    Unwatch = "unwatch", 1, NOSCRIPT | LOADING | STALE | FAST, (0, 0, 0), Conn, "transactions", "Forgets about watched keys of a transaction.";
    Command = "command", -1, LOADING | STALE, (0, 0, 0), Local, "server", "Returns detailed information about all commands.";
    Config = "config", -2, ADMIN | LOADING | STALE, (0, 0, 0), Local, "server", "A container for server configuration commands.";
    Info = "info", -1, LOADING | STALE, (0, 0, 0), All(Gather::Info), "server", "Returns information and statistics about the server.";
    Dbsize = "dbsize", 1, READONLY | FAST, (0, 0, 0), All(SumInt), "server", "Returns the number of keys in the database.";
    Flushdb = "flushdb", -1, WRITE, (0, 0, 0), All(AllOk), "server", "Removes all keys from the current database.";
    Flushall = "flushall", -1, WRITE, (0, 0, 0), All(AllOk), "server", "Removes all keys from all databases.";
    Save = "save", 1, ADMIN | NOSCRIPT | NO_MULTI, (0, 0, 0), Conn, "server", "Synchronously saves the database(s) to disk.";
    Bgsave = "bgsave", -1, ADMIN | NOSCRIPT, (0, 0, 0), Conn, "server", "Asynchronously saves the database(s) to disk.";
    Bgrewriteaof = "bgrewriteaof", 1, ADMIN | NOSCRIPT, (0, 0, 0), Conn, "server", "Asynchronously rewrites the append-only file to disk.";
    Lastsave = "lastsave", 1, FAST | LOADING | STALE, (0, 0, 0), Local, "server", "Returns the Unix timestamp of the last successful save to disk.";
    Time = "time", 1, FAST | LOADING | STALE, (0, 0, 0), Local, "server", "Returns the server time.";
    // strings
    Get = "get", 2, READONLY | FAST, (1, 1, 1), Key, "string", "Returns the string value of a key.";
    Set = "set", -3, WRITE | DENYOOM, (1, 1, 1), Key, "string", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.";
    Setnx = "setnx", 3, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "string", "Set the string value of a key only when the key doesn't exist.";
    Setex = "setex", 4, WRITE | DENYOOM, (1, 1, 1), Key, "string", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.";
    Psetex = "psetex", 4, WRITE | DENYOOM, (1, 1, 1), Key, "string", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.";
    Getset = "getset", 3, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "string", "Returns the previous string value of a key after setting it to a new value.";
    Memory = "memory", -3, READONLY, (2, 2, 1), Key, "server", "Estimates the memory usage of a key.";
    Getdel = "getdel", 2, WRITE | FAST, (1, 1, 1), Key, "string", "Returns the string value of a key after deleting the key.";
    Getex = "getex", -2, WRITE | FAST, (1, 1, 1), Key, "string", "Returns the string value of a key after setting its expiration time.";
    Mget = "mget", -2, READONLY | FAST, (1, -1, 1), Multi { step: 1, gather: Elements }, "string", "Atomically returns the string values of one or more keys.";
    Mset = "mset", -3, WRITE | DENYOOM, (1, -1, 2), Multi { step: 2, gather: AllOk }, "string", "Atomically creates or modifies the string values of one or more keys.";
    Msetnx = "msetnx", -3, WRITE | DENYOOM, (1, -1, 2), Barrier, "string", "Atomically modifies the string values of one or more keys only when all keys don't exist.";
    Append = "append", 3, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "string", "Appends a string to the value of a key. Creates the key if it doesn't exist.";
    Strlen = "strlen", 2, READONLY | FAST, (1, 1, 1), Key, "string", "Returns the length of a string value.";
    Incr = "incr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "string", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.";
    Decr = "decr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "string", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.";
    Incrby = "incrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "string", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.";
    Decrby = "decrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "string", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.";
    Incrbyfloat = "incrbyfloat", 3, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "string", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.";
    Getrange = "getrange", 4, READONLY, (1, 1, 1), Key, "string", "Returns a substring of the string stored at a key.";
    Setbit = "setbit", 4, WRITE | DENYOOM, (1, 1, 1), Key, "bitmap", "Sets or clears the bit at offset in the string value stored at key";
    Getbit = "getbit", 3, READONLY | FAST, (1, 1, 1), Key, "bitmap", "Returns the bit value at offset in the string value stored at key";
    Bitcount = "bitcount", -2, READONLY, (1, 1, 1), Key, "bitmap", "Count set bits in a string";
    Bitpos = "bitpos", -3, READONLY, (1, 1, 1), Key, "bitmap", "Find first bit set or clear in a string";
    Bitop = "bitop", -4, WRITE | DENYOOM, (2, -1, 1), Barrier, "bitmap", "Perform bitwise operations between strings";
    Bitfield = "bitfield", -2, WRITE | DENYOOM, (1, 1, 1), Key, "bitmap", "Perform arbitrary bitfield integer operations on strings";
    BitfieldRo = "bitfield_ro", -2, READONLY | FAST, (1, 1, 1), Key, "bitmap", "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD";
    Pfadd = "pfadd", -2, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "hyperloglog", "Adds the specified elements to the specified HyperLogLog.";
    Pfcount = "pfcount", -2, READONLY, (1, -1, 1), Barrier, "hyperloglog", "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).";
    Pfmerge = "pfmerge", -2, WRITE | DENYOOM, (1, -1, 1), Barrier, "hyperloglog", "Merge N different HyperLogLogs into a single one.";
    Lcs = "lcs", -3, READONLY, (1, 2, 1), Barrier, "string", "Find longest common substring";
    Setrange = "setrange", 4, WRITE | DENYOOM, (1, 1, 1), Key, "string", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.";
    // keys
    Del = "del", -2, WRITE, (1, -1, 1), Multi { step: 1, gather: SumInt }, "generic", "Deletes one or more keys.";
    Delete = "delete", -2, WRITE, (1, -1, 1), Multi { step: 1, gather: SumInt }, "generic", "Deletes one or more keys (alias of DEL).";
    Unlink = "unlink", -2, WRITE | FAST, (1, -1, 1), Multi { step: 1, gather: SumInt }, "generic", "Asynchronously deletes one or more keys.";
    Exists = "exists", -2, READONLY | FAST, (1, -1, 1), Multi { step: 1, gather: SumInt }, "generic", "Determines whether one or more keys exist.";
    Touch = "touch", -2, READONLY | FAST, (1, -1, 1), Multi { step: 1, gather: SumInt }, "generic", "Returns the number of existing keys out of those specified after updating the time they were last accessed.";
    Type = "type", 2, READONLY | FAST, (1, 1, 1), Key, "generic", "Determines the type of value stored at a key.";
    Expire = "expire", -3, WRITE | FAST, (1, 1, 1), Key, "generic", "Sets the expiration time of a key in seconds.";
    Pexpire = "pexpire", -3, WRITE | FAST, (1, 1, 1), Key, "generic", "Sets the expiration time of a key in milliseconds.";
    Expireat = "expireat", -3, WRITE | FAST, (1, 1, 1), Key, "generic", "Sets the expiration time of a key to a Unix timestamp.";
    Pexpireat = "pexpireat", -3, WRITE | FAST, (1, 1, 1), Key, "generic", "Sets the expiration time of a key to a Unix milliseconds timestamp.";
    Ttl = "ttl", 2, READONLY | FAST, (1, 1, 1), Key, "generic", "Returns the expiration time in seconds of a key.";
    Pttl = "pttl", 2, READONLY | FAST, (1, 1, 1), Key, "generic", "Returns the expiration time in milliseconds of a key.";
    Expiretime = "expiretime", 2, READONLY | FAST, (1, 1, 1), Key, "generic", "Returns the expiration time of a key as a Unix timestamp.";
    Pexpiretime = "pexpiretime", 2, READONLY | FAST, (1, 1, 1), Key, "generic", "Returns the expiration time of a key as a Unix milliseconds timestamp.";
    Persist = "persist", 2, WRITE | FAST, (1, 1, 1), Key, "generic", "Removes the expiration time of a key.";
    Rename = "rename", 3, WRITE, (1, 2, 1), Barrier, "generic", "Renames a key and overwrites the destination.";
    Renamenx = "renamenx", 3, WRITE | FAST, (1, 2, 1), Barrier, "generic", "Renames a key only when the target key name doesn't exist.";
    Keys = "keys", 2, READONLY, (0, 0, 0), All(ConcatArrays), "generic", "Returns all key names that match a pattern.";
    Scan = "scan", -2, READONLY, (0, 0, 0), Scan, "generic", "Iterates over the key names in the database.";
    // hashes
    Hset = "hset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "hash", "Set the string value of a hash field";
    Hsetnx = "hsetnx", 4, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "hash", "Set the value of a hash field, only if the field does not exist";
    Hget = "hget", 3, READONLY | FAST, (1, 1, 1), Key, "hash", "Get the value of a hash field";
    Hmset = "hmset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "hash", "Set multiple hash fields to multiple values";
    Hmget = "hmget", -3, READONLY | FAST, (1, 1, 1), Key, "hash", "Get the values of all the given hash fields";
    Hdel = "hdel", -3, WRITE | FAST, (1, 1, 1), Key, "hash", "Delete one or more hash fields";
    Hexists = "hexists", 3, READONLY | FAST, (1, 1, 1), Key, "hash", "Determine if a hash field exists";
    Hlen = "hlen", 2, READONLY | FAST, (1, 1, 1), Key, "hash", "Get the number of fields in a hash";
    Hstrlen = "hstrlen", 3, READONLY | FAST, (1, 1, 1), Key, "hash", "Get the length of the value of a hash field";
    Hkeys = "hkeys", 2, READONLY, (1, 1, 1), Key, "hash", "Get all the fields in a hash";
    Hvals = "hvals", 2, READONLY, (1, 1, 1), Key, "hash", "Get all the values in a hash";
    Hgetall = "hgetall", 2, READONLY, (1, 1, 1), Key, "hash", "Get all the fields and values in a hash";
    Hincrby = "hincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "hash", "Increment the integer value of a hash field by the given number";
    Hincrbyfloat = "hincrbyfloat", 4, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "hash", "Increment the float value of a hash field by the given amount";
    Hrandfield = "hrandfield", -2, READONLY, (1, 1, 1), Key, "hash", "Get one or multiple random fields from a hash";
    Hscan = "hscan", -3, READONLY, (1, 1, 1), Key, "hash", "Incrementally iterate hash fields and associated values";
    // sets
    Sadd = "sadd", -3, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "set", "Add one or more members to a set";
    Srem = "srem", -3, WRITE | FAST, (1, 1, 1), Key, "set", "Remove one or more members from a set";
    Sismember = "sismember", 3, READONLY | FAST, (1, 1, 1), Key, "set", "Determine if a given value is a member of a set";
    Smismember = "smismember", -3, READONLY | FAST, (1, 1, 1), Key, "set", "Returns the membership associated with the given elements for a set";
    Scard = "scard", 2, READONLY | FAST, (1, 1, 1), Key, "set", "Get the number of members in a set";
    Smembers = "smembers", 2, READONLY, (1, 1, 1), Key, "set", "Get all the members in a set";
    Spop = "spop", -2, WRITE | FAST, (1, 1, 1), Key, "set", "Remove and return one or multiple random members from a set";
    Srandmember = "srandmember", -2, READONLY, (1, 1, 1), Key, "set", "Get one or multiple random members from a set";
    Sscan = "sscan", -3, READONLY, (1, 1, 1), Key, "set", "Incrementally iterate Set elements";
    Smove = "smove", 4, WRITE | FAST, (1, 2, 1), Barrier, "set", "Move a member from one set to another";
    Sinter = "sinter", -2, READONLY, (1, -1, 1), Barrier, "set", "Intersect multiple sets";
    Sintercard = "sintercard", -3, READONLY | MOVABLE_KEYS, (0, 0, 0), Barrier, "set", "Intersect multiple sets and return the cardinality of the result";
    Sunion = "sunion", -2, READONLY, (1, -1, 1), Barrier, "set", "Add multiple sets";
    Sdiff = "sdiff", -2, READONLY, (1, -1, 1), Barrier, "set", "Subtract multiple sets";
    Sinterstore = "sinterstore", -3, WRITE | DENYOOM, (1, -1, 1), Barrier, "set", "Intersect multiple sets and store the resulting set in a key";
    Sunionstore = "sunionstore", -3, WRITE | DENYOOM, (1, -1, 1), Barrier, "set", "Add multiple sets and store the resulting set in a key";
    Sdiffstore = "sdiffstore", -3, WRITE | DENYOOM, (1, -1, 1), Barrier, "set", "Subtract multiple sets and store the resulting set in a key";
    // lists
    Lpush = "lpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "list", "Prepend one or multiple elements to a list";
    Rpush = "rpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "list", "Append one or multiple elements to a list";
    Lpushx = "lpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "list", "Prepend an element to a list, only if the list exists";
    Rpushx = "rpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "list", "Append an element to a list, only if the list exists";
    Lpop = "lpop", -2, WRITE | FAST, (1, 1, 1), Key, "list", "Remove and get the first elements in a list";
    Rpop = "rpop", -2, WRITE | FAST, (1, 1, 1), Key, "list", "Remove and get the last elements in a list";
    Llen = "llen", 2, READONLY | FAST, (1, 1, 1), Key, "list", "Get the length of a list";
    Lrange = "lrange", 4, READONLY, (1, 1, 1), Key, "list", "Get a range of elements from a list";
    Lindex = "lindex", 3, READONLY, (1, 1, 1), Key, "list", "Get an element from a list by its index";
    Lset = "lset", 4, WRITE | DENYOOM, (1, 1, 1), Key, "list", "Set the value of an element in a list by its index";
    Linsert = "linsert", 5, WRITE | DENYOOM, (1, 1, 1), Key, "list", "Insert an element before or after another element in a list";
    Lrem = "lrem", 4, WRITE, (1, 1, 1), Key, "list", "Remove elements from a list";
    Ltrim = "ltrim", 4, WRITE, (1, 1, 1), Key, "list", "Trim a list to the specified range";
    Lpos = "lpos", -3, READONLY, (1, 1, 1), Key, "list", "Return the index of matching elements on a list";
    Lmove = "lmove", 5, WRITE | DENYOOM, (1, 2, 1), Barrier, "list", "Pop an element from a list, push it to another list and return it";
    Rpoplpush = "rpoplpush", 3, WRITE | DENYOOM, (1, 2, 1), Barrier, "list", "Remove the last element in a list, prepend it to another list and return it";
    Lmpop = "lmpop", -4, WRITE | MOVABLE_KEYS, (0, 0, 0), Barrier, "list", "Pop elements from a list";
    Blpop = "blpop", -3, WRITE | BLOCKING, (1, -2, 1), Barrier, "list", "Remove and get the first element in a list, or block until one is available";
    Brpop = "brpop", -3, WRITE | BLOCKING, (1, -2, 1), Barrier, "list", "Remove and get the last element in a list, or block until one is available";
    Blmove = "blmove", 6, WRITE | DENYOOM | BLOCKING, (1, 2, 1), Barrier, "list", "Pop an element from a list, push it to another list and return it; or block until one is available";
    Brpoplpush = "brpoplpush", 4, WRITE | DENYOOM | BLOCKING, (1, 2, 1), Barrier, "list", "Pop an element from a list, push it to another list and return it; or block until one is available";
    Blmpop = "blmpop", -5, WRITE | MOVABLE_KEYS | BLOCKING, (0, 0, 0), Barrier, "list", "Pop elements from a list, or block until one is available";
    // sorted sets
    Zadd = "zadd", -4, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "sorted_set", "Add one or more members to a sorted set, or update its score if it already exists";
    Zincrby = "zincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), Key, "sorted_set", "Increment the score of a member in a sorted set";
    Zrem = "zrem", -3, WRITE | FAST, (1, 1, 1), Key, "sorted_set", "Remove one or more members from a sorted set";
    Zscore = "zscore", 3, READONLY | FAST, (1, 1, 1), Key, "sorted_set", "Get the score associated with the given member in a sorted set";
    Zmscore = "zmscore", -3, READONLY | FAST, (1, 1, 1), Key, "sorted_set", "Get the score associated with the given members in a sorted set";
    Zcard = "zcard", 2, READONLY | FAST, (1, 1, 1), Key, "sorted_set", "Get the number of members in a sorted set";
    Zcount = "zcount", 4, READONLY | FAST, (1, 1, 1), Key, "sorted_set", "Count the members in a sorted set with scores within the given values";
    Zlexcount = "zlexcount", 4, READONLY | FAST, (1, 1, 1), Key, "sorted_set", "Count the number of members in a sorted set between a given lexicographical range";
    Zrange = "zrange", -4, READONLY, (1, 1, 1), Key, "sorted_set", "Return a range of members in a sorted set";
    Zrangestore = "zrangestore", -5, WRITE | DENYOOM, (1, 2, 1), Barrier, "sorted_set", "Store a range of members from sorted set into another key";
    Zrevrange = "zrevrange", -4, READONLY, (1, 1, 1), Key, "sorted_set", "Return a range of members in a sorted set, by index, with scores ordered from high to low";
    Zrangebyscore = "zrangebyscore", -4, READONLY, (1, 1, 1), Key, "sorted_set", "Return a range of members in a sorted set, by score";
    Zrevrangebyscore = "zrevrangebyscore", -4, READONLY, (1, 1, 1), Key, "sorted_set", "Return a range of members in a sorted set, by score, with scores ordered from high to low";
    Zrangebylex = "zrangebylex", -4, READONLY, (1, 1, 1), Key, "sorted_set", "Return a range of members in a sorted set, by lexicographical range";
    Zrevrangebylex = "zrevrangebylex", -4, READONLY, (1, 1, 1), Key, "sorted_set", "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.";
    Zrank = "zrank", 3, READONLY | FAST, (1, 1, 1), Key, "sorted_set", "Determine the index of a member in a sorted set";
    Zrevrank = "zrevrank", 3, READONLY | FAST, (1, 1, 1), Key, "sorted_set", "Determine the index of a member in a sorted set, with scores ordered from high to low";
    Zremrangebyrank = "zremrangebyrank", 4, WRITE, (1, 1, 1), Key, "sorted_set", "Remove all members in a sorted set within the given indexes";
    Zremrangebyscore = "zremrangebyscore", 4, WRITE, (1, 1, 1), Key, "sorted_set", "Remove all members in a sorted set within the given scores";
    Zremrangebylex = "zremrangebylex", 4, WRITE, (1, 1, 1), Key, "sorted_set", "Remove all members in a sorted set between the given lexicographical range";
    Zpopmin = "zpopmin", -2, WRITE | FAST, (1, 1, 1), Key, "sorted_set", "Remove and return members with the lowest scores in a sorted set";
    Zpopmax = "zpopmax", -2, WRITE | FAST, (1, 1, 1), Key, "sorted_set", "Remove and return members with the highest scores in a sorted set";
    Zmpop = "zmpop", -4, WRITE | MOVABLE_KEYS, (0, 0, 0), Barrier, "sorted_set", "Remove and return members with scores in a sorted set";
    Bzpopmin = "bzpopmin", -3, WRITE | FAST | BLOCKING, (1, -2, 1), Barrier, "sorted_set", "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available";
    Bzpopmax = "bzpopmax", -3, WRITE | FAST | BLOCKING, (1, -2, 1), Barrier, "sorted_set", "Remove and return the member with the highest score from one or more sorted sets, or block until one is available";
    Bzmpop = "bzmpop", -5, WRITE | MOVABLE_KEYS | BLOCKING, (0, 0, 0), Barrier, "sorted_set", "Remove and return members with scores in a sorted set or block until one is available";
    Zrandmember = "zrandmember", -2, READONLY, (1, 1, 1), Key, "sorted_set", "Get one or multiple random elements from a sorted set";
    Zscan = "zscan", -3, READONLY, (1, 1, 1), Key, "sorted_set", "Incrementally iterate sorted sets elements and associated scores";
    Zunion = "zunion", -3, READONLY | MOVABLE_KEYS, (0, 0, 0), Barrier, "sorted_set", "Add multiple sorted sets";
    Zinter = "zinter", -3, READONLY | MOVABLE_KEYS, (0, 0, 0), Barrier, "sorted_set", "Intersect multiple sorted sets";
    Zdiff = "zdiff", -3, READONLY | MOVABLE_KEYS, (0, 0, 0), Barrier, "sorted_set", "Subtract multiple sorted sets";
    Zunionstore = "zunionstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, (0, 0, 0), Barrier, "sorted_set", "Add multiple sorted sets and store the resulting sorted set in a new key";
    Zinterstore = "zinterstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, (0, 0, 0), Barrier, "sorted_set", "Intersect multiple sorted sets and store the resulting sorted set in a new key";
    Zdiffstore = "zdiffstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, (0, 0, 0), Barrier, "sorted_set", "Subtract multiple sorted sets and store the resulting sorted set in a new key";
    Zintercard = "zintercard", -3, READONLY | MOVABLE_KEYS, (0, 0, 0), Barrier, "sorted_set", "Intersect multiple sorted sets and return the cardinality of the result";
    // scripting
    Eval = "eval", -3, NOSCRIPT | STALE, (0, 0, 0), Script, "scripting", "Executes a server-side Lua script.";
    Evalsha = "evalsha", -3, NOSCRIPT | STALE, (0, 0, 0), Script, "scripting", "Executes a server-side Lua script by SHA1 digest.";
    EvalRo = "eval_ro", -3, NOSCRIPT | STALE | READONLY, (0, 0, 0), Script, "scripting", "Executes a read-only server-side Lua script.";
    EvalshaRo = "evalsha_ro", -3, NOSCRIPT | STALE | READONLY, (0, 0, 0), Script, "scripting", "Executes a read-only server-side Lua script by SHA1 digest.";
    Script = "script", -2, NOSCRIPT, (0, 0, 0), Local, "scripting", "A container for Lua scripts management commands.";
    Fcall = "fcall", -3, NOSCRIPT | STALE, (0, 0, 0), Script, "scripting", "Invokes a function.";
    FcallRo = "fcall_ro", -3, NOSCRIPT | STALE | READONLY, (0, 0, 0), Script, "scripting", "Invokes a read-only function.";
    Function = "function", -2, NOSCRIPT, (0, 0, 0), Local, "scripting", "A container for function commands.";
    Dump = "dump", 2, READONLY, (1, 1, 1), Key, "generic", "Return a serialized version of the value stored at the specified key.";
    Restore = "restore", -4, WRITE | DENYOOM, (1, 1, 1), Key, "generic", "Create a key using the provided serialized value, previously obtained using DUMP.";
    Copy = "copy", -3, WRITE | DENYOOM, (1, 2, 1), Barrier, "generic", "Copy a key";
    Object = "object", -2, READONLY, (2, 2, 1), Key, "generic", "A container for object introspection commands";
    Randomkey = "randomkey", 1, READONLY, (0, 0, 0), All(AnyNonNull), "generic", "Returns a random key name from the database.";
    // pub/sub (subscriptions are the connection's: see `cmd::pubsub`)
    Subscribe = "subscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, (0, 0, 0), Conn, "pubsub", "Listens for messages published to channels.";
    Unsubscribe = "unsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, (0, 0, 0), Conn, "pubsub", "Stops listening to messages posted to channels.";
    Psubscribe = "psubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, (0, 0, 0), Conn, "pubsub", "Listens for messages published to channels that match one or more patterns.";
    Punsubscribe = "punsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, (0, 0, 0), Conn, "pubsub", "Stops listening to messages published to channels that match one or more patterns.";
    Ssubscribe = "ssubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, (1, -1, 1), Conn, "pubsub", "Listens for messages published to shard channels.";
    Sunsubscribe = "sunsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, (1, -1, 1), Conn, "pubsub", "Stops listening to messages posted to shard channels.";
    Publish = "publish", 3, PUBSUB | LOADING | STALE | FAST, (0, 0, 0), All(Receivers), "pubsub", "Posts a message to a channel.";
    Spublish = "spublish", 3, PUBSUB | LOADING | STALE | FAST, (1, 1, 1), All(Receivers), "pubsub", "Post a message to a shard channel";
    Monitor = "monitor", 1, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), Conn, "server", "Listens for all requests received by the server in real-time.";
    Pubsub = "pubsub", -2, 0, (0, 0, 0), All(Gather::Pubsub), "pubsub", "A container for Pub/Sub commands.";
}

/// Lower-case name -> command, built once. A name is at most 16 bytes, so it is looked up as
/// one 128-bit word (its lower-cased bytes, zero-padded) plus its length, in a small
/// open-addressing table: one multiply and usually one probe per command on the hot path,
/// where a general hash map hashed the name byte by byte (about 2% of a pipelined GET's CPU).
struct NameTable {
    /// (packed name, length, index in `ALL` + 1); an index of 0 marks an empty slot.
    slots: Box<[(u128, u8, u16)]>,
}

/// Longest command name the table holds (and the longest a client name can match).
const MAX_NAME: usize = 16;
const NAME_TABLE_BITS: u32 = 10;

impl NameTable {
    fn build() -> NameTable {
        let mut slots = vec![(0u128, 0u8, 0u16); 1 << NAME_TABLE_BITS].into_boxed_slice();
        for (i, id) in ALL.iter().enumerate() {
            let spec = id.spec();
            let (packed, len) = pack_name(spec.name.as_bytes()).expect("command names fit");
            let mut at = name_slot(packed, len);
            while slots[at].2 != 0 {
                at = (at + 1) & (slots.len() - 1);
            }
            slots[at] = (packed, len, i as u16 + 1);
        }
        NameTable { slots }
    }

    #[inline]
    fn get(&self, packed: u128, len: u8) -> Option<CmdId> {
        let mut at = name_slot(packed, len);
        loop {
            let (p, l, i) = self.slots[at];
            if i == 0 {
                return None;
            }
            if p == packed && l == len {
                return Some(ALL[i as usize - 1]);
            }
            at = (at + 1) & (self.slots.len() - 1);
        }
    }
}

/// A name's bytes lower-cased into one word, and its length; `None` if it is empty or too long
/// to be a command.
#[inline]
fn pack_name(name: &[u8]) -> Option<(u128, u8)> {
    if name.is_empty() || name.len() > MAX_NAME {
        return None;
    }
    let mut lower = [0u8; MAX_NAME];
    for (d, s) in lower.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    Some((u128::from_le_bytes(lower), name.len() as u8))
}

#[inline]
fn name_slot(packed: u128, len: u8) -> usize {
    let mixed = (packed as u64) ^ ((packed >> 64) as u64).rotate_left(31) ^ len as u64;
    (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - NAME_TABLE_BITS)) as usize
}

fn name_table() -> &'static NameTable {
    static TABLE: std::sync::OnceLock<NameTable> = std::sync::OnceLock::new();
    TABLE.get_or_init(NameTable::build)
}

impl CmdId {
    #[inline]
    pub fn spec(self) -> &'static CmdSpec {
        &TABLE[self as usize]
    }

    #[inline]
    pub fn from_index(i: usize) -> CmdId {
        ALL[i]
    }

    /// Looks a command up by name, case-insensitively.
    #[inline]
    pub fn lookup(name: &[u8]) -> Option<CmdId> {
        let (packed, len) = pack_name(name)?;
        name_table().get(packed, len)
    }

    pub fn arity_ok(self, argc: usize) -> bool {
        let arity = self.spec().arity;
        if arity >= 0 {
            argc == arity as usize
        } else {
            argc >= (-arity) as usize
        }
    }
}

/// Runs a shard-level command (any route but `Conn`) against `shard`, writing its reply to `out`.
/// Errors are written here and counted by code.
///
/// A panic in a handler is a bug; it must not take the shard's thread (and every connection
/// and hop that depends on it) down. It is caught here, logged, and answered as an error; the
/// reply bytes the handler may have written are discarded.
pub fn execute(shard: &mut Shard, id: CmdId, args: &Args, now_ms: u64, out: &mut Out) {
    run(shard, id, args, now_ms, true, out)
}

/// [`execute`], counting the call (and its failure) in commandstats only when `counted`: the
/// parts of a command split over shards are not counted, the connection counts the command.
pub fn run(shard: &mut Shard, id: CmdId, args: &Args, now_ms: u64, counted: bool, out: &mut Out) {
    // A busy script is suspended on this shard: nothing else touches its keys meanwhile.
    if shard.script_busy && !script::allowed_while_busy(id, args, shard.busy_function) {
        return write_error(shard, &script::busy_error(shard), out);
    }
    let count = counted as u64;
    shard.stats.calls[id as usize] += count;
    // Writes that may grow memory make room first (or fail with OOM), like Redis.
    if id.spec().flags & DENYOOM != 0 {
        let admission = shard.store.evict_for_write(now_ms);
        effects::after_evictions(shard, now_ms);
        if admission == crate::store::WriteAdmission::OutOfMemory {
            shard.stats.failed[id as usize] += count;
            return write_error(shard, &CmdError::OutOfMemory, out);
        }
    }
    let start = out.len();
    // Keyspace notifications: one relaxed load when they are off (`notify`).
    let notify = notify::flags();
    let writes = id.spec().flags & WRITE != 0;
    if tracking::active() {
        notify::sync_journals(shard);
    }
    let before = if notify != 0 {
        // CONFIG SET on another shard turned them on: journal expiries here from now on.
        notify::sync_journals(shard);
        if writes {
            notify::before(shard, notify, id, args, now_ms)
        } else {
            Vec::new()
        }
    } else {
        Vec::new()
    };
    shard.changes_before = shard.store.changes();
    if writes {
        shard.store.set_free_sync(frees_at_once(id, args));
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        dispatch::dispatch(shard, id, args, now_ms, out)
    }));
    shard.store.set_free_sync(false);
    if shard.store.has_expired_journal() {
        notify::expired(shard, now_ms);
    }
    let err = match result {
        Ok(Ok(())) => {
            if notify != 0 || tracking::active() {
                // Like a handler, the hook must never take the shard's thread down.
                let reply = &out[start..];
                let hook = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    if notify != 0 {
                        notify::after_command(shard, notify, id, args, reply, &before, now_ms);
                    }
                    if tracking::active() {
                        tracking::after_command(shard, id, args, reply, now_ms);
                    }
                }));
                if hook.is_err() {
                    eprintln!(
                        "corekv: BUG: keyspace notification for '{}' panicked",
                        id.spec().name
                    );
                }
            }
            if writes {
                if shard.aof.is_some() {
                    effects::log_write(shard, id, args, now_ms);
                }
                if !shard.watch.is_empty() && wrote(shard, id, args, &out[start..]) {
                    written_keys(id, args, |k| shard.watch.touch(k));
                }
                if shard.blocking.has_waiters() {
                    written_keys(id, args, |k| shard.blocking.mark(k));
                }
                count_dirty(shard.id);
            }
            return;
        }
        Ok(Err(e)) => {
            // A collection write that failed part way still logs what it changed.
            if shard.aof.is_some() {
                effects::log_effects(shard);
            }
            e
        }
        Err(_) => {
            out.truncate(start);
            eprintln!(
                "corekv: shard {}: BUG: '{}' panicked; answered with an error",
                shard.id,
                id.spec().name
            );
            CmdError::Panicked(id.spec().name)
        }
    };
    shard.stats.failed[id as usize] += count;
    write_error(shard, &err, out);
}

/// Whether write `id` frees the large values it removes at once, as Redis does with the
/// `lazyfree-lazy-*` knob for it set to `no` (the default); UNLINK and FLUSHALL ASYNC always
/// free in steps.
fn frees_at_once(id: CmdId, args: &Args) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    let rt = &crate::config::RUNTIME;
    match id {
        CmdId::Unlink => false,
        CmdId::Del | CmdId::Delete => !rt.lazyfree_user_del.load(Relaxed),
        CmdId::Flushall | CmdId::Flushdb => {
            let mode = args.iter().nth(1);
            match mode {
                Some(m) if args::eq_ic(m, "async") => false,
                Some(m) if args::eq_ic(m, "sync") => true,
                _ => !rt.lazyfree_user_flush.load(Relaxed),
            }
        }
        _ => !rt.lazyfree_server_del.load(Relaxed),
    }
}

/// Calls `f` with every key a write `id` may change: its keys, except for the commands that
/// only read all but their destination (SINTERSTORE and the like).
pub fn written_keys<'a>(id: CmdId, args: &Args<'a>, mut f: impl FnMut(&'a [u8])) {
    use CmdId::*;
    match id {
        Sinterstore | Sunionstore | Sdiffstore | Zunionstore | Zinterstore | Zdiffstore
        | Zrangestore
            if args.len() > 1 =>
        {
            f(args.get(1))
        }
        Copy | Bitop if args.len() > 2 => f(args.get(2)),
        Pfmerge if args.len() > 1 => f(args.get(1)),
        _ => for_each_key(id, args, f),
    }
}

/// Where the numkeys argument of a sorted-set command with movable keys is, and whether
/// argument 1 is a destination key.
fn zset_numkeys_at(id: CmdId) -> Option<(usize, bool)> {
    use CmdId::*;
    match id {
        Zunion | Zinter | Zdiff | Zintercard | Zmpop => Some((1, false)),
        Zunionstore | Zinterstore | Zdiffstore => Some((2, true)),
        Bzmpop => Some((2, false)),
        _ => None,
    }
}

/// Calls `f` with every key argument of `id` (by its declared first/last/step).
pub fn for_each_key<'a>(id: CmdId, args: &Args<'a>, mut f: impl FnMut(&'a [u8])) {
    let spec = id.spec();
    if spec.route == Route::Script {
        if let Ok(n) = script::numkeys(args) {
            (3..3 + n).for_each(|i| f(args.get(i)));
        }
        return;
    }
    if id == CmdId::Sintercard {
        if let Ok((keys, _)) = sets::intercard_args(args) {
            keys.into_iter().for_each(f);
        }
        return;
    }
    if let Some((first, store)) = zset_numkeys_at(id) {
        if args.len() > first {
            if store {
                f(args.get(1));
            }
            if let Some(n) = args::parse_i64(args.get(first)).filter(|n| *n > 0) {
                (first + 1..(first + 1 + n as usize).min(args.len())).for_each(|i| f(args.get(i)));
            }
        }
        return;
    }
    if matches!(id, CmdId::Lmpop | CmdId::Blmpop) {
        let first = if id == CmdId::Lmpop { 1 } else { 2 };
        if let Ok((keys, _, _)) = lists::mpop_args(args, first) {
            keys.into_iter().for_each(f);
        }
        return;
    }
    if spec.first_key <= 0 {
        return;
    }
    let last = if spec.last_key < 0 {
        args.len() as i32 + spec.last_key
    } else {
        spec.last_key
    };
    let mut i = spec.first_key;
    while i <= last && (i as usize) < args.len() {
        f(args.get(i as usize));
        i += spec.step.max(1);
    }
}

/// Whether the write command `id` that just ran on `sh` and answered `reply` changed its keys:
/// a collection command by the store's own report (HSET of an existing field answers 0 and
/// still changed it), others by their reply ([`modified`]).
pub(crate) fn wrote(sh: &Shard, id: CmdId, args: &Args, reply: &[u8]) -> bool {
    if matches!(id.spec().group, "hash" | "set" | "list" | "sorted_set") {
        sh.store.changes() != sh.changes_before
    } else {
        modified(id, args, reply)
    }
}

/// Whether a write command that succeeded with `reply` changed its keys (for WATCH: Redis
/// marks a key only when a write really touched it). A write that did nothing answers 0 or
/// null: DEL of a missing key, SETNX / MSETNX / RENAMENX / EXPIRE / PERSIST that did not
/// apply, SET NX|XX that did not set. SET ... GET and GETSET answer null for a missing key they
/// did create.
pub(crate) fn modified(id: CmdId, args: &Args, reply: &[u8]) -> bool {
    // SETBIT answers the old bit: 0 does not mean nothing changed.
    if id == CmdId::Setbit {
        return true;
    }
    match reply {
        b":0\r\n" => false,
        b"$-1\r\n" | b"_\r\n" => match id {
            CmdId::Getset => true,
            CmdId::Set => args.iter().skip(3).any(|a| args::eq_ic(a, "get")),
            _ => false,
        },
        _ => true,
    }
}

/// A save rule's dirty count (this shard's own counter).
fn count_dirty(shard: usize) {
    if crate::config::RUNTIME
        .has_save_rules
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        crate::config::RUNTIME.dirty.add(shard);
    }
}

/// The server's own write of `keys` (a cross-shard RENAME's take and put): logged, seen by
/// WATCH and counted like a client's write.
pub fn after_write(shard: &mut Shard, keys: &[&[u8]], now_ms: u64) {
    for k in keys {
        if shard.aof.is_some() {
            effects::log_key(shard, k, now_ms);
        }
        shard.watch.touch(k);
        shard.blocking.mark(k);
    }
    count_dirty(shard.id);
}

/// Writes `e` as an error reply and counts it in the shard's errorstats.
pub fn write_error(shard: &mut Shard, e: &CmdError, out: &mut Out) {
    shard.stats.count_error(e.code());
    reply::error(out, e.to_string().as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        assert_eq!(TABLE.len(), ALL.len());
        for (i, id) in ALL.iter().enumerate() {
            let s = id.spec();
            assert_eq!(*id as usize, i);
            assert_eq!(s.name, s.name.to_ascii_lowercase());
            assert!(s.arity != 0, "{}", s.name);
            assert_eq!(CmdId::lookup(s.name.to_uppercase().as_bytes()), Some(*id));
            assert!(!s.name.starts_with('_'), "no internal command in the table");
            // Commands routed by key have their key positions declared.
            if (matches!(s.route, Route::Key | Route::Multi { .. } | Route::Barrier)
                || *id == CmdId::Watch)
                && s.flags & MOVABLE_KEYS == 0
            {
                assert!(s.first_key >= 1, "{}", s.name);
            }
            if let Route::Multi { step, .. } = s.route {
                assert_eq!(step as i32, s.step, "{}", s.name);
            }
        }
        assert!(CmdId::lookup(b"nosuchcommand").is_none());
        assert!(CmdId::lookup(b"").is_none());
    }

    /// Names are packed zero-padded into one word: the length keeps a name with trailing NULs,
    /// a prefix or an extension from matching, and mixed case still matches.
    #[test]
    fn lookup_matches_exact_names_only() {
        assert_eq!(CmdId::lookup(b"GeT"), Some(CmdId::Get));
        assert_eq!(CmdId::lookup(b"get\0"), None);
        assert_eq!(CmdId::lookup(b"ge"), None);
        assert_eq!(CmdId::lookup(b"gett"), None);
        assert_eq!(CmdId::lookup(b"\0get"), None);
        assert_eq!(CmdId::lookup(b"INCRBYFLOAT"), Some(CmdId::Incrbyfloat));
        assert_eq!(CmdId::lookup(&[b'a'; 17]), None);
        let longest = ALL.iter().map(|id| id.spec().name.len()).max().unwrap();
        assert!(longest <= MAX_NAME);
        // Every name, with every byte's case flipped in turn, finds its command.
        for id in ALL {
            let name = id.spec().name.as_bytes();
            for i in 0..name.len() {
                let mut n = name.to_vec();
                n[i] = n[i].to_ascii_uppercase();
                assert_eq!(CmdId::lookup(&n), Some(*id));
            }
        }
    }

    #[test]
    fn arity() {
        assert!(CmdId::Get.arity_ok(2));
        assert!(!CmdId::Get.arity_ok(3));
        assert!(CmdId::Set.arity_ok(3));
        assert!(CmdId::Set.arity_ok(9));
        assert!(!CmdId::Set.arity_ok(2));
    }
}
