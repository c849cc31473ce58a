//! Recovery: a shard's data from the snapshot and its append-only log, before it listens.
//!
//! The snapshot is the base when the log is off, or when the log continues from it (a rotation
//! happened; after a crash mid-rotation both log files are replayed in order, which is safe
//! because every record sets a key's whole state). Logged commands run through
//! `cmd::execute` like a client's, with logging off; the log (`persist::aof`) only reads them.

use crate::cmd::{self, CmdId, Shard};
use crate::config::RUNTIME;
use crate::persist::{aof, snapshot, txnlog::Verdicts};
use crate::resp::Args;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Loads `shard`'s keys: the snapshot when it is the base, then the log at `log` (when on).
pub fn recover(shard: &mut Shard, log: Option<&Path>, verdicts: &Verdicts) -> Result<(), String> {
    let (me, shards) = (shard.id, shard.shards);
    let base = log.is_none_or(|p| aof::continues_from_snapshot(p) || aof::new_path(p).exists());
    if base {
        let path = RUNTIME.rdb_path();
        if path.exists() {
            let started = Instant::now();
            let owns = |key: &[u8]| crate::shard::slot::key_shard(key, shards) == me;
            let (n, functions) = snapshot::load(&mut shard.store, &path, shards, owns)?;
            if me == 0 {
                // The snapshot's libraries are the base; a newer state in a log replaces them.
                cmd::script::recover_functions(0, &functions)?;
            }
            println!(
                "corekv: shard {me}: loaded {n} keys from {} in {} ms",
                path.display(),
                started.elapsed().as_millis()
            );
        }
    }
    let Some(path) = log else { return Ok(()) };
    let started = Instant::now();
    let mut n = replay(shard, path, verdicts)?;
    let unfinished = aof::new_path(path);
    if unfinished.exists() {
        // A crash during a rotation: its records go on after the old log's, in one file.
        n += replay(shard, &unfinished, verdicts)?;
        append_and_remove(&unfinished, path)?;
    }
    println!(
        "corekv: shard {me}: loaded {n} commands from {} in {} ms, {} keys",
        path.display(),
        started.elapsed().as_millis(),
        shard.store.len()
    );
    Ok(())
}

/// Replays one log file into `shard` (its log is off while it does).
fn replay(shard: &mut Shard, path: &Path, verdicts: &Verdicts) -> Result<u64, String> {
    let saved = shard.aof.take();
    let now = crate::clock::now_ms();
    let mut out = crate::resp::reply::Out::new(false);
    let mut apply = |args: &Args| -> Result<(), String> {
        if args.get(0) == cmd::script::LOG_MARKER && args.len() >= 2 {
            let seq = crate::num::string2ll(args.get(1))
                .filter(|&s| s > 0)
                .ok_or("a function record without its sequence number")?;
            let codes: Vec<&[u8]> = args.iter().skip(2).collect();
            return cmd::script::recover_functions(seq as u64, &codes);
        }
        let name = || String::from_utf8_lossy(args.get(0)).into_owned();
        let id =
            CmdId::lookup(args.get(0)).ok_or_else(|| format!("unknown command '{}'", name()))?;
        out.clear();
        cmd::execute(shard, id, args, now, &mut out);
        if out.first() == Some(&b'-') {
            let why = String::from_utf8_lossy(&out);
            return Err(format!("replaying '{}' failed: {}", name(), why.trim_end()));
        }
        Ok(())
    };
    let result = aof::replay(path, verdicts, &mut apply);
    shard.aof = saved;
    result
}

/// Appends `from` to `to` (fsynced) and removes `from`.
fn append_and_remove(from: &PathBuf, to: &Path) -> Result<(), String> {
    let bytes = std::fs::read(from).map_err(|e| e.to_string())?;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(to)
        .map_err(|e| e.to_string())?;
    std::io::Write::write_all(&mut f, &bytes)
        .and_then(|_| f.sync_data())
        .map_err(|e| e.to_string())?;
    std::fs::remove_file(from).map_err(|e| e.to_string())
}
