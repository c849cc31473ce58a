//! CONFIG GET / SET / RESETSTAT: the parameters a client can read and the runtime knobs it can
//! change (checked all before any is applied, so a failed CONFIG SET changes nothing).

use super::args::{eq_ic, Args};
use crate::cmd::state::Shard;
use crate::config::RUNTIME;
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;
use std::sync::atomic::Ordering;

type R = Result<(), CmdError>;

/// A boolean knob as CONFIG GET shows it.
fn yes_no(knob: &std::sync::atomic::AtomicBool) -> String {
    if knob.load(Ordering::Relaxed) {
        "yes"
    } else {
        "no"
    }
    .into()
}

/// The configuration parameters CONFIG GET knows, with their current values.
fn config_params(sh: &Shard) -> Vec<(&'static str, String)> {
    let busy = RUNTIME
        .busy_reply_threshold_ms
        .load(Ordering::Relaxed)
        .to_string();
    vec![
        ("bind", sh.settings.bind.clone()),
        ("port", sh.settings.port.to_string()),
        (
            "save",
            RUNTIME
                .save_rules()
                .iter()
                .map(|(a, b)| format!("{a} {b}"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ("dbfilename", RUNTIME.dbfilename()),
        ("appendonly", yes_no(&RUNTIME.appendonly)),
        ("appendfsync", RUNTIME.appendfsync_name().into()),
        ("dir", RUNTIME.dir()),
        ("databases", "1".into()),
        (
            "maxmemory",
            RUNTIME.maxmemory.load(Ordering::Relaxed).to_string(),
        ),
        ("maxmemory-policy", RUNTIME.policy().name().into()),
        (
            "maxmemory-samples",
            crate::store::EVICTION_SAMPLES.to_string(),
        ),
        (
            "maxclients",
            RUNTIME.maxclients.load(Ordering::Relaxed).to_string(),
        ),
        (
            "timeout",
            RUNTIME.timeout_secs.load(Ordering::Relaxed).to_string(),
        ),
        (
            "tcp-keepalive",
            RUNTIME
                .tcp_keepalive_secs
                .load(Ordering::Relaxed)
                .to_string(),
        ),
        (
            "client-query-buffer-limit",
            RUNTIME
                .query_buffer_limit
                .load(Ordering::Relaxed)
                .to_string(),
        ),
        ("cross-shard-atomic", yes_no(&RUNTIME.cross_shard_atomic)),
        ("protected-mode", yes_no(&RUNTIME.protected_mode)),
        ("requirepass", RUNTIME.requirepass().unwrap_or_default()),
        ("tcp-backlog", sh.settings.tcp_backlog.to_string()),
        (
            "proto-max-bulk-len",
            RUNTIME
                .proto_max_bulk_len
                .load(Ordering::Relaxed)
                .to_string(),
        ),
        ("hz", RUNTIME.hz.load(Ordering::Relaxed).to_string()),
        ("busy-reply-threshold", busy.clone()),
        ("lua-time-limit", busy),
        ("shards", sh.shards.to_string()),
        ("client-output-buffer-limit", output_buffer_limits()),
        (
            "tracking-table-max-keys",
            RUNTIME
                .tracking_table_max_keys
                .load(Ordering::Relaxed)
                .to_string(),
        ),
        ("hash-max-listpack-entries", limit(0)),
        ("hash-max-ziplist-entries", limit(0)),
        ("hash-max-listpack-value", limit(1)),
        ("hash-max-ziplist-value", limit(1)),
        ("set-max-intset-entries", limit(2)),
        ("set-max-listpack-entries", limit(3)),
        ("set-max-listpack-value", limit(4)),
        (
            "list-max-listpack-size",
            (RUNTIME.encoding_limits[5].load(Ordering::Relaxed) as i64).to_string(),
        ),
        (
            "list-max-ziplist-size",
            (RUNTIME.encoding_limits[5].load(Ordering::Relaxed) as i64).to_string(),
        ),
        ("zset-max-listpack-entries", limit(6)),
        ("zset-max-ziplist-entries", limit(6)),
        ("zset-max-listpack-value", limit(7)),
        ("zset-max-ziplist-value", limit(7)),
        ("lazyfree-lazy-eviction", "yes".into()),
        ("lazyfree-lazy-expire", "yes".into()),
        (
            "lazyfree-lazy-server-del",
            yes_no(&RUNTIME.lazyfree_server_del),
        ),
        ("lazyfree-lazy-user-del", yes_no(&RUNTIME.lazyfree_user_del)),
        (
            "lazyfree-lazy-user-flush",
            yes_no(&RUNTIME.lazyfree_user_flush),
        ),
        (
            "notify-keyspace-events",
            super::notify::format_flags(RUNTIME.notify_flags.load(Ordering::Relaxed)),
        ),
    ]
}

/// One of the compact encodings' thresholds (`RUNTIME.encoding_limits[i]`), as text.
fn limit(i: usize) -> String {
    RUNTIME.encoding_limits[i]
        .load(Ordering::Relaxed)
        .to_string()
}

/// `client-output-buffer-limit` as CONFIG GET shows it.
fn output_buffer_limits() -> String {
    let l = &RUNTIME.output_buffer_limits;
    let v = |i: usize| l[i].load(Ordering::Relaxed);
    format!(
        "normal {} {} {} slave {} {} {} pubsub {} {} {}",
        v(0),
        v(1),
        v(2),
        v(3),
        v(4),
        v(5),
        v(6),
        v(7),
        v(8)
    )
}

/// Parses `class hard soft seconds [class hard soft seconds ...]` into (first index in
/// `RUNTIME.output_buffer_limits`, the three values) per class, with Redis's texts.
fn parse_output_buffer_limits(value: &str) -> Result<Vec<(usize, [u64; 3])>, &'static str> {
    let words: Vec<&str> = value.split_whitespace().collect();
    if words.is_empty() || words.len() % 4 != 0 {
        return Err("Wrong number of arguments in buffer limit configuration.");
    }
    let mut out = Vec::new();
    for w in words.chunks(4) {
        let class = match w[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 3,
            "pubsub" => 6,
            _ => return Err("Invalid client class specified in buffer limit configuration."),
        };
        let bad = "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        let hard = crate::config::parse_memory(w[1]).map_err(|_| bad)?;
        let soft = crate::config::parse_memory(w[2]).map_err(|_| bad)?;
        let secs = w[3].parse::<u64>().map_err(|_| bad)?;
        out.push((class, [hard, soft, secs]));
    }
    Ok(out)
}

/// CONFIG GET pattern [pattern ...] | CONFIG SET param value [param value ...]
pub fn config(sh: &mut Shard, a: &Args, out: &mut Out) -> R {
    let sub = a.get(1);
    if eq_ic(sub, "get") {
        if a.len() < 3 {
            return Err(CmdError::WrongArity("config|get".into()));
        }
        let params = config_params(sh);
        let matched: Vec<&(&str, String)> = params
            .iter()
            .filter(|(name, _)| {
                a.iter()
                    .skip(2)
                    .any(|p| crate::store::glob_match(&p.to_ascii_lowercase(), name.as_bytes()))
            })
            .collect();
        reply::map(out, matched.len());
        for (name, value) in matched {
            reply::bulk(out, name.as_bytes());
            reply::bulk(out, value.as_bytes());
        }
    } else if eq_ic(sub, "set") {
        if a.len() < 4 || a.len() % 2 != 0 {
            return Err(CmdError::WrongArity("config|set".into()));
        }
        // Check every pair before applying any, so a failed CONFIG SET changes nothing.
        enum Update {
            Atomic(&'static std::sync::atomic::AtomicU64, u64),
            ProtectedMode(bool),
            CrossShardAtomic(bool),
            Password(Option<String>),
            Flag(&'static std::sync::atomic::AtomicBool, bool),
            Policy(crate::store::Policy),
            SaveRules(Vec<(u64, u64)>),
            OutputLimits(Vec<(usize, [u64; 3])>),
        }
        let mut updates = Vec::new();
        for i in (2..a.len()).step_by(2) {
            let name = String::from_utf8_lossy(a.get(i)).to_ascii_lowercase();
            let value = String::from_utf8_lossy(a.get(i + 1)).into_owned();
            let bad = |why: &str| CmdError::ConfigSetFailed {
                name: name.clone(),
                why: why.to_string(),
            };
            let int = || {
                value
                    .parse::<u64>()
                    .map_err(|_| bad("argument couldn't be parsed into an integer"))
            };
            let mem = || {
                crate::config::parse_memory(&value)
                    .map_err(|_| bad("argument must be a memory value"))
            };
            updates.push(match name.as_str() {
                "proto-max-bulk-len" => Update::Atomic(&RUNTIME.proto_max_bulk_len, mem()?),
                "client-query-buffer-limit" => Update::Atomic(&RUNTIME.query_buffer_limit, mem()?),
                "hz" => Update::Atomic(&RUNTIME.hz, int()?.clamp(1, 500)),
                "busy-reply-threshold" | "lua-time-limit" => {
                    if value.parse::<i64>().is_ok_and(|v| v < 0) {
                        return Err(bad(
                            "argument must be between 0 and 9223372036854775807 inclusive",
                        ));
                    }
                    Update::Atomic(&RUNTIME.busy_reply_threshold_ms, int()?)
                }
                "maxclients" => Update::Atomic(&RUNTIME.maxclients, int()?.max(1)),
                "timeout" => Update::Atomic(&RUNTIME.timeout_secs, int()?),
                "tcp-keepalive" => Update::Atomic(&RUNTIME.tcp_keepalive_secs, int()?),
                "protected-mode" => Update::ProtectedMode(
                    crate::config::parse_yes_no(&value)
                        .map_err(|_| bad("argument must be 'yes' or 'no'"))?,
                ),
                "cross-shard-atomic" => Update::CrossShardAtomic(
                    crate::config::parse_yes_no(&value)
                        .map_err(|_| bad("argument must be 'yes' or 'no'"))?,
                ),
                "requirepass" => Update::Password(Some(value).filter(|v| !v.is_empty())),
                "maxmemory" => Update::Atomic(&RUNTIME.maxmemory, mem()?),
                "maxmemory-policy" => Update::Policy(
                    crate::store::Policy::parse(&value).ok_or_else(|| bad("argument(s) must be one of the following: volatile-lru, allkeys-lru, volatile-lfu, allkeys-lfu, volatile-random, allkeys-random, volatile-ttl, noeviction, allkeys-s3fifo"))?,
                ),
                "hash-max-listpack-entries" | "hash-max-ziplist-entries" => {
                    Update::Atomic(&RUNTIME.encoding_limits[0], int()?)
                }
                "hash-max-listpack-value" | "hash-max-ziplist-value" => {
                    Update::Atomic(&RUNTIME.encoding_limits[1], int()?)
                }
                "set-max-intset-entries" => Update::Atomic(&RUNTIME.encoding_limits[2], int()?),
                "set-max-listpack-entries" => Update::Atomic(&RUNTIME.encoding_limits[3], int()?),
                "set-max-listpack-value" => Update::Atomic(&RUNTIME.encoding_limits[4], int()?),
                "list-max-listpack-size" | "list-max-ziplist-size" => {
                    let v = value
                        .parse::<i64>()
                        .map_err(|_| bad("argument couldn't be parsed into an integer"))?;
                    Update::Atomic(&RUNTIME.encoding_limits[5], v as u64)
                }
                "zset-max-listpack-entries" | "zset-max-ziplist-entries" => {
                    Update::Atomic(&RUNTIME.encoding_limits[6], int()?)
                }
                "zset-max-listpack-value" | "zset-max-ziplist-value" => {
                    Update::Atomic(&RUNTIME.encoding_limits[7], int()?)
                }
                "lazyfree-lazy-user-del" | "lazyfree-lazy-server-del" | "lazyfree-lazy-user-flush"
                | "lazyfree-lazy-eviction" | "lazyfree-lazy-expire" => {
                    let on = crate::config::parse_yes_no(&value)
                        .map_err(|_| bad("argument must be 'yes' or 'no'"))?;
                    match name.as_str() {
                        "lazyfree-lazy-user-del" => Update::Flag(&RUNTIME.lazyfree_user_del, on),
                        "lazyfree-lazy-server-del" => Update::Flag(&RUNTIME.lazyfree_server_del, on),
                        "lazyfree-lazy-user-flush" => Update::Flag(&RUNTIME.lazyfree_user_flush, on),
                        // Expiry and eviction always free large values in steps (README).
                        _ => continue,
                    }
                }
                "tracking-table-max-keys" => Update::Atomic(&RUNTIME.tracking_table_max_keys, int()?),
                "notify-keyspace-events" => Update::Atomic(
                    &RUNTIME.notify_flags,
                    super::notify::parse_flags(&value).ok_or_else(|| {
                        bad("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
                    })?,
                ),
                "client-output-buffer-limit" => Update::OutputLimits(
                    parse_output_buffer_limits(&value).map_err(bad)?,
                ),
                "save" => Update::SaveRules(crate::config::parse_save_rules(&value).map_err(|e| bad(&e))?),
                "appendonly"
                    if value.eq_ignore_ascii_case(&yes_no(&RUNTIME.appendonly)) =>
                {
                    continue
                }
                _ => {
                    return Err(CmdError::ConfigSetUnknown(name))
                }
            });
        }
        for u in updates {
            match u {
                Update::Atomic(knob, v) => knob.store(v, Ordering::Relaxed),
                Update::ProtectedMode(on) => RUNTIME.protected_mode.store(on, Ordering::Relaxed),
                Update::CrossShardAtomic(on) => {
                    RUNTIME.cross_shard_atomic.store(on, Ordering::Relaxed)
                }
                Update::Password(p) => RUNTIME.set_requirepass(p),
                Update::Flag(knob, on) => knob.store(on, Ordering::Relaxed),
                Update::Policy(p) => RUNTIME.set_policy(p),
                Update::SaveRules(r) => RUNTIME.set_save_rules(r),
                Update::OutputLimits(classes) => {
                    for (first, values) in classes {
                        for (k, v) in values.into_iter().enumerate() {
                            RUNTIME.output_buffer_limits[first + k].store(v, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
        // This shard applies memory limits now; the others within one expiry cycle.
        RUNTIME.apply_memory_limits(&mut sh.store, sh.shards);
        super::notify::sync_journals(sh);
        reply::ok(out);
    } else if eq_ic(sub, "resetstat") && a.len() == 2 {
        sh.stats.reset();
        reply::ok(out);
    } else {
        return Err(CmdError::UnknownSubcommand {
            cmd: "CONFIG",
            sub: sub.to_vec(),
        });
    }
    Ok(())
}
