//! Every knob of the server: its flag, its default and its check, in one place.
//!
//! Start-up flags are parsed by clap into [`Config`]. The few knobs that `CONFIG SET` may change
//! at run time live in [`Runtime`], a set of atomics read by every shard (read-mostly, never
//! locked on the data path).

use clap::Parser;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "corekv",
    version,
    about = "A thread-per-core, Redis-compatible cache server"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// TCP port (0 picks a free one; the chosen port is printed in the ready line).
    #[arg(long, default_value_t = 6379)]
    pub port: u16,

    /// Number of shards (one executor each). Default: the CPUs this process may use that are
    /// free at start, less one left to clients and the network stack when that is under 4
    /// (server::cpus, tuning/cpus.md).
    #[arg(long)]
    pub shards: Option<usize>,

    /// Microseconds an idle executor spins before sleeping. Spinning cuts the cross-core hop
    /// from ~63 us to ~13 us at the cost of a busy core.
    #[arg(long, default_value_t = 0)]
    pub spin_before_park: u64,

    /// Run multi-key commands whose keys live on several shards (MGET, MSET, DEL, EXISTS,
    /// TOUCH, UNLINK, KEYS, DBSIZE, FLUSHALL, RANDOMKEY) atomically, holding their shards, as
    /// Redis does. `no` runs their parts independently (faster, but another client can see a
    /// part of an MSET before the rest). RENAME, MSETNX and MULTI/EXEC are always atomic.
    #[arg(long, default_value = "yes", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub cross_shard_atomic: bool,

    /// Largest bulk string a client may send, in bytes (units: 512mb, 1gb, ...).
    #[arg(long, default_value = "512mb", value_parser = parse_memory)]
    pub proto_max_bulk_len: u64,

    /// Active-expiry cycles per second on each shard.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub hz: u32,

    /// Fields a hash keeps packed in its key's allocation before it becomes a table
    /// (Redis's hash-max-listpack-entries; hash-max-ziplist-entries is an alias)
    #[arg(long, alias = "hash-max-ziplist-entries", default_value_t = 512)]
    pub hash_max_listpack_entries: u64,
    /// Longest field or value (bytes) a packed hash holds (hash-max-listpack-value)
    #[arg(long, alias = "hash-max-ziplist-value", default_value_t = 64)]
    pub hash_max_listpack_value: u64,
    /// Members of a set of integers kept as a sorted array (set-max-intset-entries)
    #[arg(long, default_value_t = 512)]
    pub set_max_intset_entries: u64,
    /// Members a set keeps packed before it becomes a table (set-max-listpack-entries)
    #[arg(long, default_value_t = 128)]
    pub set_max_listpack_entries: u64,
    /// Longest member (bytes) a packed set holds (set-max-listpack-value)
    #[arg(long, default_value_t = 64)]
    pub set_max_listpack_value: u64,
    /// A list chunk's bound: -1..-5 for 4..64 KB, a positive count of elements
    /// (list-max-listpack-size)
    #[arg(long, alias = "list-max-ziplist-size", default_value_t = -2, allow_hyphen_values = true)]
    pub list_max_listpack_size: i64,
    /// Members a sorted set keeps packed (zset-max-listpack-entries)
    #[arg(long, alias = "zset-max-ziplist-entries", default_value_t = 128)]
    pub zset_max_listpack_entries: u64,
    /// Longest member (bytes) a packed sorted set holds (zset-max-listpack-value)
    #[arg(long, alias = "zset-max-ziplist-value", default_value_t = 64)]
    pub zset_max_listpack_value: u64,
    /// DEL frees a large value in steps, like UNLINK (lazyfree-lazy-user-del)
    #[arg(long, default_value = "no", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub lazyfree_lazy_user_del: bool,
    /// A write that overwrites or deletes a large value as a side effect (SET over a hash,
    /// RENAME onto a key, a *STORE) frees it in steps (lazyfree-lazy-server-del)
    #[arg(long, default_value = "no", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub lazyfree_lazy_server_del: bool,
    /// FLUSHALL / FLUSHDB without ASYNC or SYNC free large values in steps
    /// (lazyfree-lazy-user-flush)
    #[arg(long, default_value = "no", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub lazyfree_lazy_user_flush: bool,
    /// Milliseconds a script runs before it counts as busy: other clients of its shard then
    /// get `-BUSY` and SCRIPT KILL may stop it (Redis's busy-reply-threshold).
    #[arg(long, alias = "lua-time-limit", default_value_t = 5000)]
    pub busy_reply_threshold: u64,

    /// Listen backlog of each shard's socket.
    #[arg(long, default_value_t = 1024)]
    pub tcp_backlog: i32,

    /// Pin each shard to its own free CPU (when there are enough of them). Pays on a machine
    /// whose CPUs are the server's alone; hurts where they are shared (tuning/cpus.md).
    #[arg(long)]
    pub pin: bool,

    /// Do not pin (the default since shards stopped pinning themselves; kept for scripts).
    #[arg(long, hide = true)]
    pub no_pin: bool,

    /// Require clients to authenticate (AUTH / HELLO AUTH) with this password, user `default`.
    #[arg(long)]
    pub requirepass: Option<String>,

    /// With no password set, refuse clients that do not connect from a loopback address.
    #[arg(long, default_value = "yes", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub protected_mode: bool,

    /// Most clients connected at once, over all shards; the next one is answered
    /// `-ERR max number of clients reached` and closed.
    #[arg(long, default_value_t = 10000)]
    pub maxclients: u64,

    /// Close a client idle for this many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,

    /// TCP keepalive interval in seconds for client connections (0: off).
    #[arg(long, default_value_t = 300)]
    pub tcp_keepalive: u64,

    /// Memory limit for the data set over all shards (units: 100mb, 2gb; 0: no limit), split
    /// evenly across shards.
    #[arg(long, default_value = "0", value_parser = parse_memory)]
    pub maxmemory: u64,

    /// What happens at maxmemory: noeviction, allkeys-lru, volatile-lru, allkeys-lfu,
    /// volatile-lfu, allkeys-random, volatile-random, volatile-ttl, or allkeys-s3fifo (the one to
    /// use for caches).
    #[arg(long, default_value = "noeviction", value_parser = parse_policy)]
    pub maxmemory_policy: crate::store::Policy,

    /// Keep a per-shard append-only log in --dir and replay it on start.
    #[arg(long, default_value = "no", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub appendonly: bool,

    /// When the log is fsynced: always (group commit before replies), everysec, or no.
    #[arg(long, default_value = "everysec", value_parser = parse_fsync)]
    pub appendfsync: Fsync,

    /// Snapshot file name in --dir (SAVE, BGSAVE, --save rules; loaded on start when the
    /// append-only log is off).
    #[arg(long, default_value = "dump.rdb")]
    pub dbfilename: String,

    /// Snapshot rules "SECONDS CHANGES [SECONDS CHANGES ...]": save when at least CHANGES writes
    /// happened and SECONDS passed since the last save. Empty (the default): no automatic saves.
    #[arg(long, default_value = "")]
    pub save: String,

    /// Directory for persistence files.
    #[arg(long, default_value = ".")]
    pub dir: std::path::PathBuf,

    /// Most bytes buffered for one client's unparsed requests; a client beyond it is closed.
    /// Unauthenticated clients are held to 1 MiB whatever this says.
    #[arg(long, default_value = "1gb", value_parser = parse_memory)]
    pub client_query_buffer_limit: u64,
}

/// "3600 1 300 100" -> [(3600, 1), (300, 100)]; "" -> no rules.
pub fn parse_save_rules(s: &str) -> Result<Vec<(u64, u64)>, String> {
    let nums: Vec<u64> = s
        .split_whitespace()
        .map(|w| {
            w.parse::<u64>()
                .map_err(|_| format!("invalid save rule number '{w}'"))
        })
        .collect::<Result<_, _>>()?;
    if nums.len() % 2 != 0 {
        return Err("save rules come in pairs: SECONDS CHANGES".into());
    }
    Ok(nums.chunks(2).map(|c| (c[0], c[1])).collect())
}

/// `appendfsync`: when the append-only log is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    Always,
    EverySec,
    No,
}

impl Fsync {
    pub fn parse(s: &str) -> Option<Fsync> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(Fsync::Always),
            "everysec" => Some(Fsync::EverySec),
            "no" => Some(Fsync::No),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::EverySec => "everysec",
            Fsync::No => "no",
        }
    }
}

pub fn parse_fsync(s: &str) -> Result<Fsync, String> {
    Fsync::parse(s).ok_or_else(|| format!("appendfsync must be always, everysec or no, not '{s}'"))
}

pub fn parse_policy(s: &str) -> Result<crate::store::Policy, String> {
    crate::store::Policy::parse(s).ok_or_else(|| format!("unknown maxmemory policy '{s}'"))
}

/// `yes`/`no` flags, as redis.conf spells them.
pub fn parse_yes_no(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" => Ok(true),
        "no" | "false" | "0" => Ok(false),
        _ => Err(format!("expected yes or no, got '{s}'")),
    }
}

impl Config {
    /// The CPUs this process may run on (its affinity mask), in order.
    pub fn available_cpus() -> Vec<usize> {
        core_affinity::get_core_ids()
            .map(|ids| ids.into_iter().map(|c| c.id).collect())
            .filter(|v: &Vec<usize>| !v.is_empty())
            .unwrap_or_else(|| {
                (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
            })
    }

    pub fn validate(&self) -> Result<(), String> {
        let n = self.shards.unwrap_or(1);
        if n > 1024 {
            return Err(format!("--shards {n} is more than the 1024 supported"));
        }
        parse_save_rules(&self.save)?;
        if self.proto_max_bulk_len < 1024 * 1024 {
            return Err("--proto-max-bulk-len must be at least 1mb".into());
        }
        Ok(())
    }
}

/// Parses a Redis-style memory amount: `1024`, `100kb`, `512mb`, `2gb`, `1k`, `1m`, `1g`
/// (k/m/g are powers of 1000, kb/mb/gb powers of 1024, as in redis.conf).
pub fn parse_memory(s: &str) -> Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("invalid memory amount '{s}'"))?;
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return Err(format!("invalid memory unit in '{s}'")),
    };
    n.checked_mul(mul)
        .ok_or_else(|| format!("memory amount '{s}' is too large"))
}

/// A counter on its own cache line, so shards counting their writes never share one.
#[repr(align(128))]
#[derive(Default)]
pub struct Padded(pub AtomicU64);

/// The save rules' write counts, one per shard (see [`Runtime::dirty`]).
pub struct DirtyCounts(std::sync::OnceLock<Box<[Padded]>>);

impl DirtyCounts {
    /// Sizes the counters for `shards` shards (once, at start).
    pub fn init(&self, shards: usize) {
        let _ = self.0.set((0..shards).map(|_| Padded::default()).collect());
    }

    /// Counts one write of `shard` (no-op before `init`).
    #[inline]
    pub fn add(&self, shard: usize) {
        if let Some(c) = self.0.get().and_then(|c| c.get(shard)) {
            c.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every shard's count.
    pub fn read(&self) -> Vec<u64> {
        self.0.get().map_or_else(Vec::new, |c| {
            c.iter().map(|p| p.0.load(Ordering::Relaxed)).collect()
        })
    }

    pub fn total(&self) -> u64 {
        self.read().iter().sum()
    }

    /// A snapshot covered the writes counted in `counts` (from [`DirtyCounts::read`]).
    pub fn subtract(&self, counts: &[u64]) {
        if let Some(c) = self.0.get() {
            for (p, n) in c.iter().zip(counts) {
                p.0.fetch_sub(*n, Ordering::Relaxed);
            }
        }
    }
}

/// Knobs that `CONFIG SET` changes while the server runs. Read per connection or per batch,
/// never locked on the data path (the password is read only when a connection starts or
/// authenticates).
pub struct Runtime {
    pub proto_max_bulk_len: AtomicU64,
    pub hz: AtomicU64,
    /// Milliseconds before a running script counts as busy (busy-reply-threshold).
    pub busy_reply_threshold_ms: AtomicU64,
    pub protected_mode: AtomicBool,
    pub maxclients: AtomicU64,
    pub timeout_secs: AtomicU64,
    pub tcp_keepalive_secs: AtomicU64,
    pub query_buffer_limit: AtomicU64,
    /// Bytes over all shards (0: none); each shard applies its share.
    pub maxmemory: AtomicU64,
    /// Index into `Policy::ALL`.
    pub maxmemory_policy: AtomicU64,
    pub appendonly: AtomicBool,
    /// Index into always/everysec/no.
    pub appendfsync: AtomicU64,
    requirepass: RwLock<Option<String>>,
    dir: RwLock<String>,
    dbfilename: RwLock<String>,
    /// (seconds, changes) pairs of the --save rules.
    save_rules: RwLock<Vec<(u64, u64)>>,
    /// Writes since the last snapshot, counted only while save rules exist: one counter per
    /// shard, each written only by its shard, summed when read.
    pub dirty: DirtyCounts,
    pub has_save_rules: AtomicBool,
    /// --cross-shard-atomic.
    pub cross_shard_atomic: AtomicBool,
    /// client-output-buffer-limit: (hard bytes, soft bytes, soft seconds) for the classes
    /// normal, replica and pubsub, in that order. Only pubsub is enforced (`cmd::pubsub`).
    pub output_buffer_limits: [AtomicU64; 9],
    /// notify-keyspace-events as `cmd::notify` flag bits (0: off).
    pub notify_flags: AtomicU64,
    /// tracking-table-max-keys (0: no limit), over all shards.
    pub tracking_table_max_keys: AtomicU64,
    /// hash-max-listpack-entries, hash-max-listpack-value, set-max-intset-entries,
    /// set-max-listpack-entries, set-max-listpack-value, list-max-listpack-size (an i64 in
    /// two's complement), zset-max-listpack-entries, zset-max-listpack-value (see
    /// `store::Limits`).
    pub encoding_limits: [AtomicU64; 8],
    /// lazyfree-lazy-user-del, lazyfree-lazy-server-del, lazyfree-lazy-user-flush.
    pub lazyfree_user_del: AtomicBool,
    pub lazyfree_server_del: AtomicBool,
    pub lazyfree_user_flush: AtomicBool,
}

pub static RUNTIME: Runtime = Runtime {
    proto_max_bulk_len: AtomicU64::new(512 * 1024 * 1024),
    hz: AtomicU64::new(10),
    busy_reply_threshold_ms: AtomicU64::new(5000),
    protected_mode: AtomicBool::new(true),
    maxclients: AtomicU64::new(10000),
    timeout_secs: AtomicU64::new(0),
    tcp_keepalive_secs: AtomicU64::new(300),
    query_buffer_limit: AtomicU64::new(1 << 30),
    maxmemory: AtomicU64::new(0),
    maxmemory_policy: AtomicU64::new(0),
    appendonly: AtomicBool::new(false),
    appendfsync: AtomicU64::new(1),
    requirepass: RwLock::new(None),
    dir: RwLock::new(String::new()),
    dbfilename: RwLock::new(String::new()),
    save_rules: RwLock::new(Vec::new()),
    dirty: DirtyCounts(std::sync::OnceLock::new()),
    has_save_rules: AtomicBool::new(false),
    cross_shard_atomic: AtomicBool::new(true),
    output_buffer_limits: [
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(256 << 20),
        AtomicU64::new(64 << 20),
        AtomicU64::new(60),
        AtomicU64::new(32 << 20),
        AtomicU64::new(8 << 20),
        AtomicU64::new(60),
    ],
    notify_flags: AtomicU64::new(0),
    tracking_table_max_keys: AtomicU64::new(1_000_000),
    encoding_limits: [
        AtomicU64::new(512),
        AtomicU64::new(64),
        AtomicU64::new(512),
        AtomicU64::new(128),
        AtomicU64::new(64),
        AtomicU64::new(-2i64 as u64),
        AtomicU64::new(128),
        AtomicU64::new(64),
    ],
    lazyfree_user_del: AtomicBool::new(false),
    lazyfree_server_del: AtomicBool::new(false),
    lazyfree_user_flush: AtomicBool::new(false),
};

impl Runtime {
    pub fn init(cfg: &Config) {
        RUNTIME
            .proto_max_bulk_len
            .store(cfg.proto_max_bulk_len, Ordering::Relaxed);
        RUNTIME.hz.store(cfg.hz as u64, Ordering::Relaxed);
        let limits = [
            cfg.hash_max_listpack_entries,
            cfg.hash_max_listpack_value,
            cfg.set_max_intset_entries,
            cfg.set_max_listpack_entries,
            cfg.set_max_listpack_value,
            cfg.list_max_listpack_size as u64,
            cfg.zset_max_listpack_entries,
            cfg.zset_max_listpack_value,
        ];
        for (knob, v) in RUNTIME.encoding_limits.iter().zip(limits) {
            knob.store(v, Ordering::Relaxed);
        }
        RUNTIME
            .lazyfree_user_del
            .store(cfg.lazyfree_lazy_user_del, Ordering::Relaxed);
        RUNTIME
            .lazyfree_server_del
            .store(cfg.lazyfree_lazy_server_del, Ordering::Relaxed);
        RUNTIME
            .lazyfree_user_flush
            .store(cfg.lazyfree_lazy_user_flush, Ordering::Relaxed);
        RUNTIME
            .busy_reply_threshold_ms
            .store(cfg.busy_reply_threshold, Ordering::Relaxed);
        RUNTIME
            .protected_mode
            .store(cfg.protected_mode, Ordering::Relaxed);
        RUNTIME.maxclients.store(cfg.maxclients, Ordering::Relaxed);
        RUNTIME.timeout_secs.store(cfg.timeout, Ordering::Relaxed);
        RUNTIME
            .tcp_keepalive_secs
            .store(cfg.tcp_keepalive, Ordering::Relaxed);
        RUNTIME
            .query_buffer_limit
            .store(cfg.client_query_buffer_limit, Ordering::Relaxed);
        RUNTIME.set_requirepass(cfg.requirepass.clone());
        RUNTIME.maxmemory.store(cfg.maxmemory, Ordering::Relaxed);
        RUNTIME.set_policy(cfg.maxmemory_policy);
        RUNTIME.appendonly.store(cfg.appendonly, Ordering::Relaxed);
        RUNTIME
            .cross_shard_atomic
            .store(cfg.cross_shard_atomic, Ordering::Relaxed);
        let f = match cfg.appendfsync {
            Fsync::Always => 0,
            Fsync::EverySec => 1,
            Fsync::No => 2,
        };
        RUNTIME.appendfsync.store(f, Ordering::Relaxed);
        if let Ok(mut f) = RUNTIME.dbfilename.write() {
            f.clone_from(&cfg.dbfilename);
        }
        if let Ok(rules) = parse_save_rules(&cfg.save) {
            RUNTIME.set_save_rules(rules);
        }
        if let Ok(mut d) = RUNTIME.dir.write() {
            *d = std::fs::canonicalize(&cfg.dir)
                .unwrap_or_else(|_| cfg.dir.clone())
                .display()
                .to_string();
        }
    }

    pub fn appendfsync_name(&self) -> &'static str {
        ["always", "everysec", "no"][self.appendfsync.load(Ordering::Relaxed).min(2) as usize]
    }

    pub fn dbfilename(&self) -> String {
        self.dbfilename
            .read()
            .map(|d| d.clone())
            .unwrap_or_default()
    }

    /// The snapshot file: --dir joined with --dbfilename.
    pub fn rdb_path(&self) -> std::path::PathBuf {
        std::path::Path::new(&self.dir()).join(self.dbfilename())
    }

    pub fn save_rules(&self) -> Vec<(u64, u64)> {
        self.save_rules
            .read()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    pub fn set_save_rules(&self, rules: Vec<(u64, u64)>) {
        self.has_save_rules
            .store(!rules.is_empty(), Ordering::Relaxed);
        if let Ok(mut r) = self.save_rules.write() {
            *r = rules;
        }
    }

    pub fn dir(&self) -> String {
        self.dir.read().map(|d| d.clone()).unwrap_or_default()
    }

    pub fn policy(&self) -> crate::store::Policy {
        let i = self.maxmemory_policy.load(Ordering::Relaxed) as usize;
        crate::store::Policy::ALL
            .get(i)
            .copied()
            .unwrap_or(crate::store::Policy::NoEviction)
    }

    pub fn set_policy(&self, p: crate::store::Policy) {
        let i = crate::store::Policy::ALL
            .iter()
            .position(|q| *q == p)
            .unwrap_or(0);
        self.maxmemory_policy.store(i as u64, Ordering::Relaxed);
    }

    /// Applies maxmemory and its policy to one shard's store (its share of the limit).
    pub fn apply_memory_limits(&self, store: &mut crate::store::Store, shards: usize) {
        let limit = (self.maxmemory.load(Ordering::Relaxed) / shards.max(1) as u64) as usize;
        store.set_eviction(self.policy(), limit);
        let l = |i: usize| self.encoding_limits[i].load(Ordering::Relaxed) as usize;
        store.set_limits(crate::store::Limits {
            hash_entries: l(0),
            hash_value: l(1),
            set_intset_entries: l(2).min(1 << 30),
            set_entries: l(3),
            set_value: l(4),
            list_fill: self.encoding_limits[5].load(Ordering::Relaxed) as i64,
            zset_entries: l(6),
            zset_value: l(7),
        });
    }

    /// Whether clients must authenticate.
    pub fn password_set(&self) -> bool {
        self.requirepass.read().map_or(true, |p| p.is_some())
    }

    pub fn requirepass(&self) -> Option<String> {
        self.requirepass.read().ok().and_then(|p| p.clone())
    }

    /// Sets or (with None or an empty password) clears the password for new authentications.
    pub fn set_requirepass(&self, pass: Option<String>) {
        if let Ok(mut p) = self.requirepass.write() {
            *p = pass.filter(|p| !p.is_empty());
        }
    }

    /// Checks a password in time independent of where it differs (only the length can show).
    pub fn password_matches(&self, given: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        match self.requirepass.read() {
            Ok(p) => match p.as_deref() {
                Some(p) => bool::from(p.as_bytes().ct_eq(given)),
                None => true,
            },
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("100").unwrap(), 100);
        assert_eq!(parse_memory("1k").unwrap(), 1000);
        assert_eq!(parse_memory("1kb").unwrap(), 1024);
        assert_eq!(parse_memory("512mb").unwrap(), 512 << 20);
        assert_eq!(parse_memory("2GB").unwrap(), 2 << 30);
        assert!(parse_memory("12xb").is_err());
        assert!(parse_memory("mb").is_err());
        assert!(parse_memory("99999999999999gb").is_err());
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::parse_from(["corekv"]);
        assert_eq!(c.port, 6379);
        assert_eq!(c.proto_max_bulk_len, 512 << 20);
        c.validate().unwrap();
    }
}
