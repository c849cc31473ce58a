//! Server and connection commands: PING, TIME, FLUSH*, COMMAND, CONFIG, INFO, HELLO, CLIENT,
//! SELECT.
//!
//! INFO is gathered: every shard answers `ShardOp::Stats` with its named counters
//! ([`stats`], [`ShardCounters`]); the connection adds them up and formats the text
//! ([`format_info`]).

use super::args::{eq_ic, Args};
use super::{flags, CmdId, TABLE};
use crate::cmd::state::Shard;
use crate::config::RUNTIME;
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

type R = Result<(), CmdError>;

/// The Redis version corekv answers to clients that check it.
pub const REDIS_VERSION: &str = "7.0.15";
pub const COREKV_VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn ping(a: &Args, out: &mut Out) -> R {
    match a.len() {
        1 => reply::simple(out, b"PONG"),
        2 => reply::bulk(out, a.get(1)),
        _ => return Err(CmdError::WrongArity("ping".into())),
    }
    Ok(())
}

pub use crate::clock::now_ms;

pub fn time(out: &mut Out) -> R {
    let (secs, micros) = crate::clock::now_secs_micros();
    reply::array(out, 2);
    reply::bulk(out, itoa::Buffer::new().format(secs).as_bytes());
    reply::bulk(out, itoa::Buffer::new().format(micros).as_bytes());
    Ok(())
}

/// FLUSHDB / FLUSHALL [ASYNC|SYNC] (on this shard)
pub fn flush(sh: &mut Shard, a: &Args, out: &mut Out) -> R {
    if a.len() > 2 || (a.len() == 2 && !eq_ic(a.get(1), "async") && !eq_ic(a.get(1), "sync")) {
        return Err(CmdError::Syntax);
    }
    sh.store.flush();
    // glibc keeps freed memory in its arenas; give it back to the OS after a flush.
    // SAFETY: malloc_trim only releases free memory of the allocator.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::malloc_trim(0);
    }
    reply::ok(out);
    Ok(())
}

fn command_info(id: CmdId, out: &mut Out) {
    let s = id.spec();
    reply::array(out, 10);
    reply::bulk(out, s.name.as_bytes());
    reply::int(out, s.arity as i64);
    let names: Vec<&str> = flags::NAMES
        .iter()
        .filter(|(f, _)| s.flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    reply::set(out, names.len());
    for n in names {
        reply::simple(out, n.as_bytes());
    }
    reply::int(out, s.first_key as i64);
    reply::int(out, s.last_key as i64);
    reply::int(out, s.step as i64);
    reply::set(out, 1);
    reply::simple(out, format!("@{}", s.group).as_bytes());
    reply::set(out, 0); // tips
    reply::set(out, 0); // key specs
    reply::set(out, 0); // subcommands
}

fn public_commands() -> impl Iterator<Item = CmdId> {
    super::ALL.iter().copied()
}

/// COMMAND [COUNT | INFO name... | DOCS name... | LIST]
pub fn command(a: &Args, out: &mut Out) -> R {
    if a.len() == 1 {
        reply::array(out, public_commands().count());
        public_commands().for_each(|id| command_info(id, out));
        return Ok(());
    }
    let sub = a.get(1);
    if eq_ic(sub, "count") && a.len() == 2 {
        reply::int(out, public_commands().count() as i64);
    } else if eq_ic(sub, "list") && a.len() == 2 {
        reply::array(out, public_commands().count());
        public_commands().for_each(|id| reply::bulk(out, id.spec().name.as_bytes()));
    } else if eq_ic(sub, "info") {
        if a.len() == 2 {
            reply::array(out, public_commands().count());
            public_commands().for_each(|id| command_info(id, out));
        } else {
            reply::array(out, a.len() - 2);
            for name in a.iter().skip(2) {
                match CmdId::lookup(name) {
                    Some(id) => command_info(id, out),
                    None => reply::null_array(out),
                }
            }
        }
    } else if eq_ic(sub, "docs") {
        let ids: Vec<CmdId> = if a.len() == 2 {
            public_commands().collect()
        } else {
            a.iter().skip(2).filter_map(CmdId::lookup).collect()
        };
        reply::map(out, ids.len());
        for id in ids {
            reply::bulk(out, id.spec().name.as_bytes());
            super::docs::write_doc(id, out);
        }
    } else {
        return Err(CmdError::UnknownSubcommand {
            cmd: "COMMAND",
            sub: sub.to_vec(),
        });
    }
    Ok(())
}

/// MEMORY USAGE key [SAMPLES count]
pub fn memory(sh: &mut Shard, a: &Args, now: u64, out: &mut Out) -> R {
    if !eq_ic(a.get(1), "usage") {
        return Err(CmdError::UnknownSubcommand {
            cmd: "MEMORY",
            sub: a.get(1).to_vec(),
        });
    }
    if a.len() != 3 && !(a.len() == 5 && eq_ic(a.get(3), "samples")) {
        return Err(CmdError::Syntax);
    }
    match sh.store.memory_usage(a.get(2), now) {
        Some(n) => reply::int(out, n as i64),
        None => reply::null(out),
    }
    Ok(())
}

/// One shard's counters for INFO, by name; INFO adds them up over the shards.
#[derive(Debug, Clone, Default)]
pub struct ShardCounters {
    pub keys: u64,
    pub volatile_keys: u64,
    pub expired_keys: u64,
    pub hits: u64,
    pub misses: u64,
    pub data_bytes: u64,
    pub clients: u64,
    pub connections_received: u64,
    pub commands: u64,
    pub error_replies: u64,
    pub rejected_connections: u64,
    pub auth_failures: u64,
    pub protocol_errors: u64,
    pub evicted_keys: u64,
    pub used_memory: u64,
    /// The shard's Lua interpreter (0 before its first script).
    pub lua_memory: u64,
    pub client_bytes: u64,
    /// Calls and failed calls per command, indexed like [`TABLE`].
    pub calls: Vec<u64>,
    pub failed: Vec<u64>,
    /// Error replies by error code (the first word of the error).
    pub errors: Vec<(&'static str, u64)>,
    /// Cross-core hops sent and served, and the sampled time of their two legs (ns, samples).
    pub hops_sent: u64,
    pub hops_served: u64,
    pub hop_to_peer: (u64, u64),
    pub hop_back: (u64, u64),
    /// Hashes of this shard's channel, pattern and shard channel names (INFO counts the
    /// distinct ones over the shards), and its subscribers closed for their output limit.
    pub pubsub_names: [Vec<u64>; 3],
    pub pubsub_limit_disconnections: u64,
    /// Elements of removed large values still being freed in steps.
    pub lazyfree_pending: u64,
    /// Connections of this core blocked in BLPOP and family.
    pub blocked_clients: u64,
}

impl ShardCounters {
    /// Adds `o` into `self` (the sum over shards).
    pub fn add(&mut self, o: &ShardCounters) {
        self.keys += o.keys;
        self.volatile_keys += o.volatile_keys;
        self.expired_keys += o.expired_keys;
        self.hits += o.hits;
        self.misses += o.misses;
        self.data_bytes += o.data_bytes;
        self.clients += o.clients;
        self.connections_received += o.connections_received;
        self.commands += o.commands;
        self.error_replies += o.error_replies;
        self.rejected_connections += o.rejected_connections;
        self.auth_failures += o.auth_failures;
        self.protocol_errors += o.protocol_errors;
        self.evicted_keys += o.evicted_keys;
        self.used_memory += o.used_memory;
        self.lua_memory += o.lua_memory;
        self.client_bytes += o.client_bytes;
        self.hops_sent += o.hops_sent;
        self.hops_served += o.hops_served;
        self.hop_to_peer.0 += o.hop_to_peer.0;
        self.hop_to_peer.1 += o.hop_to_peer.1;
        self.hop_back.0 += o.hop_back.0;
        self.hop_back.1 += o.hop_back.1;
        for (mine, theirs) in self.pubsub_names.iter_mut().zip(&o.pubsub_names) {
            mine.extend_from_slice(theirs);
            mine.sort_unstable();
            mine.dedup();
        }
        self.pubsub_limit_disconnections += o.pubsub_limit_disconnections;
        self.lazyfree_pending += o.lazyfree_pending;
        self.blocked_clients += o.blocked_clients;
        add_columns(&mut self.calls, &o.calls);
        add_columns(&mut self.failed, &o.failed);
        for &(code, n) in &o.errors {
            match self.errors.iter_mut().find(|(c, _)| *c == code) {
                Some((_, m)) => *m += n,
                None => self.errors.push((code, n)),
            }
        }
    }
}

fn add_columns(sum: &mut Vec<u64>, v: &[u64]) {
    if sum.len() < v.len() {
        sum.resize(v.len(), 0);
    }
    for (s, x) in sum.iter_mut().zip(v) {
        *s += x;
    }
}

/// This shard's counters, for INFO.
pub fn stats(sh: &Shard) -> ShardCounters {
    let st = sh.store.stats();
    ShardCounters {
        keys: st.keys as u64,
        volatile_keys: st.volatile_keys as u64,
        expired_keys: st.expired_keys,
        hits: sh.stats.hits,
        misses: sh.stats.misses,
        data_bytes: st.data_bytes as u64,
        clients: sh.clients.len() as u64,
        connections_received: sh.stats.connections_received,
        commands: sh.stats.calls.iter().sum(),
        error_replies: sh.stats.errors.iter().map(|(_, n)| n).sum(),
        rejected_connections: sh.stats.rejected_connections,
        auth_failures: sh.stats.auth_failures,
        protocol_errors: sh.stats.protocol_errors,
        evicted_keys: sh.store.evicted_keys(),
        used_memory: sh.store.used_memory() as u64,
        lua_memory: sh.scripts.as_ref().map_or(0, |e| e.used_memory() as u64),
        client_bytes: sh.store.client_bytes() as u64,
        calls: sh.stats.calls.clone(),
        failed: sh.stats.failed.clone(),
        errors: sh.stats.errors.clone(),
        hops_sent: sh.hops.sent.get(),
        hops_served: sh.hops.served.get(),
        hop_to_peer: (sh.hops.to_peer_ns.get(), sh.hops.to_peer_samples.get()),
        hop_back: (sh.hops.back_ns.get(), sh.hops.back_samples.get()),
        pubsub_names: sh.pubsub.name_hashes(),
        pubsub_limit_disconnections: sh.pubsub.limit_disconnections,
        lazyfree_pending: sh.store.lazy_free_pending() as u64,
        blocked_clients: sh.blocking.here.len() as u64,
    }
}

const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
    "commandstats",
    "shards",
    "hops",
];
const DEFAULT_SECTIONS: u32 = (1 << 11) - 1 | 1 << 12;

/// INFO [section ...] as a bit set over [`SECTIONS`].
pub fn info_sections(a: &Args) -> u32 {
    if a.len() == 1 {
        return DEFAULT_SECTIONS;
    }
    let mut mask = 0;
    for arg in a.iter().skip(1) {
        if eq_ic(arg, "all") || eq_ic(arg, "everything") {
            mask |= u32::MAX;
        } else if eq_ic(arg, "default") {
            mask |= DEFAULT_SECTIONS;
        } else if let Some(i) = SECTIONS.iter().position(|s| eq_ic(arg, s)) {
            mask |= 1 << i;
        }
    }
    mask
}

/// Adds up the shards' counters and writes INFO's text for `sections`.
pub fn format_info(
    sections: u32,
    per_shard: &[&ShardCounters],
    info: &crate::cmd::state::ServerInfo,
    out: &mut Out,
) {
    let mut t = ShardCounters::default();
    for c in per_shard {
        t.add(c);
    }
    let on =
        |name: &str| sections & (1 << SECTIONS.iter().position(|s| *s == name).unwrap_or(31)) != 0;
    let mut s = String::with_capacity(4096);
    let uptime = info.started.elapsed().as_secs();
    let rss = rss_bytes();
    let used = t.used_memory;
    let peak = PEAK_USED.fetch_max(used, Ordering::Relaxed).max(used);
    let maxmemory = RUNTIME.maxmemory.load(Ordering::Relaxed);
    if on("server") {
        let _ = write!(
            s,
            "# Server\r\nredis_version:{REDIS_VERSION}\r\ncorekv_version:{COREKV_VERSION}\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmultiplexing_api:io_uring\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{}\r\nshards:{}\r\nexecutable:{}\r\n\r\n",
            std::env::consts::OS,
            std::env::consts::ARCH,
            std::process::id(),
            info.port,
            uptime / 86400,
            RUNTIME.hz.load(Ordering::Relaxed),
            per_shard.len(),
            std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
        );
    }
    if on("clients") {
        let _ = write!(
            s,
            "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:{}\r\n\r\n",
            t.clients,
            RUNTIME.maxclients.load(Ordering::Relaxed),
            t.blocked_clients,
        );
    }
    if on("memory") {
        let lua = t.lua_memory;
        let (scripts, scripts_bytes) = super::script::cached_scripts();
        let frag = if used > 0 {
            rss as f64 / used as f64
        } else {
            1.0
        };
        let _ = write!(
            s,
            "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_lua:{lua}\r\nused_memory_lua_human:{}\r\nused_memory_scripts:{scripts_bytes}\r\nused_memory_scripts_human:{}\r\nnumber_of_cached_scripts:{scripts}\r\nused_memory_dataset:{}\r\nmem_clients_normal:{}\r\nmaxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_fragmentation_ratio:{frag:.2}\r\nlazyfree_pending_objects:{}\r\n\r\n",
            human(used),
            human(rss),
            human(peak),
            human(lua),
            human(scripts_bytes),
            t.data_bytes,
            t.client_bytes,
            human(maxmemory),
            RUNTIME.policy().name(),
            t.lazyfree_pending,
        );
    }
    if on("persistence") {
        let _ = write!(
            s,
            "# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\naof_enabled:{}\r\naof_fsync:{}\r\naof_rewrite_in_progress:0\r\naof_current_size:{}\r\n\r\n",
            RUNTIME.dirty.total(),
            crate::persist::snapshot::in_progress() as u8,
            crate::persist::snapshot::last_save(),
            if crate::persist::snapshot::last_ok() { "ok" } else { "err" },
            RUNTIME.appendonly.load(Ordering::Relaxed) as u8,
            RUNTIME.appendfsync_name(),
            aof_size(per_shard.len()),
        );
    }
    if on("stats") {
        let _ = write!(
            s,
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\ntotal_error_replies:{}\r\nacl_access_denied_auth:{}\r\ntotal_protocol_errors:{}\r\nclient_output_buffer_limit_disconnections:{}\r\n\r\n",
            t.connections_received,
            t.commands,
            t.rejected_connections,
            t.expired_keys,
            t.evicted_keys,
            t.hits,
            t.misses,
            t.pubsub_names[0].len(),
            t.pubsub_names[1].len(),
            t.pubsub_names[2].len(),
            t.error_replies,
            t.auth_failures,
            t.protocol_errors,
            t.pubsub_limit_disconnections,
        );
    }
    if on("replication") {
        s.push_str("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n");
    }
    if on("cpu") {
        let (user, sys) = cpu_seconds();
        let _ = write!(
            s,
            "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n\r\n"
        );
    }
    if on("modules") {
        s.push_str("# Modules\r\n\r\n");
    }
    if on("commandstats") {
        s.push_str("# Commandstats\r\n");
        for (i, spec) in TABLE.iter().enumerate() {
            let calls = t.calls.get(i).copied().unwrap_or(0);
            if calls > 0 {
                let failed = t.failed.get(i).copied().unwrap_or(0);
                let _ = write!(
                    s,
                    "cmdstat_{}:calls={calls},usec=0,usec_per_call=0.00,rejected_calls=0,failed_calls={failed}\r\n",
                    spec.name
                );
            }
        }
        s.push_str("\r\n");
    }
    if on("errorstats") {
        s.push_str("# Errorstats\r\n");
        // Every code seen, in code order (Redis keeps them in a radix tree).
        t.errors.sort_unstable();
        for (code, n) in &t.errors {
            if *n > 0 {
                let _ = write!(s, "errorstat_{code}:count={n}\r\n");
            }
        }
        s.push_str("\r\n");
    }
    if on("cluster") {
        s.push_str("# Cluster\r\ncluster_enabled:0\r\n\r\n");
    }
    if on("keyspace") {
        s.push_str("# Keyspace\r\n");
        if t.keys > 0 {
            let _ = write!(
                s,
                "db0:keys={},expires={},avg_ttl=0\r\n",
                t.keys, t.volatile_keys
            );
        }
        s.push_str("\r\n");
    }
    if on("hops") {
        let avg_us = |(ns, n): (u64, u64)| {
            if n == 0 {
                0.0
            } else {
                ns as f64 / n as f64 / 1000.0
            }
        };
        let _ = write!(
            s,
            "# Hops\r\nhops_sent:{}\r\nhops_served:{}\r\nhop_samples:{}\r\nhop_to_peer_us_avg:{:.2}\r\nhop_back_us_avg:{:.2}\r\n\r\n",
            t.hops_sent,
            t.hops_served,
            t.hop_to_peer.1,
            avg_us(t.hop_to_peer),
            avg_us(t.hop_back),
        );
    }
    if on("shards") {
        s.push_str("# Shards\r\n");
        for (i, v) in per_shard.iter().enumerate() {
            let _ = write!(
                s,
                "shard{i}:keys={},expires={},clients={},commands={}\r\n",
                v.keys, v.volatile_keys, v.clients, v.commands
            );
        }
        s.push_str("\r\n");
    }
    // Redis ends the text without the last blank line.
    while s.ends_with("\r\n\r\n") {
        s.truncate(s.len() - 2);
    }
    reply::verbatim(out, s.as_bytes());
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}G", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.2}M", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else {
        format!("{bytes}B")
    }
}

/// Bytes in the append-only log files of all shards (0 when the log is off).
fn aof_size(shards: usize) -> u64 {
    if !RUNTIME.appendonly.load(Ordering::Relaxed) {
        return 0;
    }
    let dir = std::path::PathBuf::from(RUNTIME.dir());
    (0..shards)
        .map(|i| crate::persist::aof::file_path(&dir, i, shards))
        .flat_map(|p| [crate::persist::aof::new_path(&p), p])
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// Highest used_memory INFO has reported.
static PEAK_USED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Resident set size of the process, from /proc/self/statm.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn cpu_seconds() -> (f64, f64) {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (0.0, 0.0);
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_utime), t(ru.ru_stime))
}

/// __clients: this shard's CLIENT LIST lines.
pub fn client_lines(sh: &Shard) -> String {
    let now = now_ms();
    let mut text = String::new();
    let mut ids: Vec<u64> = sh.clients.keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        if let Ok(c) = sh.clients[&id].try_borrow() {
            c.write_line(now, &mut text);
        }
    }
    text
}
