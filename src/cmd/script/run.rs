//! Running a script or a function: its coroutine on the interpreter's stack, each time slice
//! (`step`, `resume`), the `redis.call` it waits for on another shard, and its end (`finish`).

use super::convert::{self, raised};
use super::{busy, Engine, Running, GC_AFTER_BYTES, KILLED};
use crate::cmd::{Args, Shard};
use crate::error::CmdError;
use crate::resp::reply::Out;
use mlua::{Function, Table, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Runs `f` (a script's chunk, or a function) through `runner` (the sandbox's `run` or
/// `run_fn`) with KEYS = `a[3..3 + nkeys]` and ARGV = the rest; `label` names it in errors.
#[allow(clippy::too_many_arguments)]
pub(super) fn run_script(
    engine: &mut Engine,
    sh: &mut Shard,
    a: &Args,
    nkeys: usize,
    f: Function,
    runner: Function,
    label: busy::Label,
    read_only: bool,
    now: u64,
    out: &mut Out,
) -> Result<(), CmdError> {
    let lua = &engine.lua;
    // KEYS and ARGV: the engine's two tables refilled, which spares the allocator and the
    // collector a table per call. A script may write to them; `clean` below hands the next
    // script fresh tables whenever this one left anything of its own there.
    let fill = |t: &Table, from: usize, to: usize| -> mlua::Result<()> {
        for (i, j) in (from..to).enumerate() {
            t.raw_set(i + 1, lua.create_string(a.get(j))?)?;
        }
        for i in (to - from + 1)..=t.raw_len() {
            t.raw_set(i, Value::Nil)?;
        }
        Ok(())
    };
    if fill(&engine.keys, 3, 3 + nkeys).is_err() || fill(&engine.argv, 3 + nkeys, a.len()).is_err()
    {
        return Err(CmdError::Internal(
            "script arguments do not fit in Lua's memory",
        ));
    }
    if let Some(mut r) = lua.app_data_mut::<Running>() {
        r.shard = sh as *mut Shard;
        r.now = now;
        r.read_only = read_only;
        r.wrote = false;
        r.started = Instant::now();
        r.last_yield = r.started;
        r.busy = None;
        r.yieldable = sh.script_yieldable;
        r.cross.clone_from(&sh.script_cross);
        r.remote = None;
        r.killed = false;
        r.killed_line = 0;
        r.pending = None;
        // A function keeps its FCALL arguments for FUNCTION STATS (buffers reused).
        if label.is_function() {
            let (data, ranges) = r.fn_args.get_or_insert_with(Default::default);
            data.clear();
            ranges.clear();
            for arg in a.iter() {
                let start = data.len();
                data.extend_from_slice(arg);
                ranges.push((start, data.len()));
            }
        } else if let Some((_, ranges)) = r.fn_args.as_mut() {
            ranges.clear();
        }
    }
    // With the log on, a script alone on its shard logs its writes as one transaction record:
    // after a crash all of them are there or none (inside EXEC or across shards, the enclosing
    // transaction's record holds them already).
    let log_txn = match sh.aof.as_mut() {
        Some(log) if sh.script_cross.is_empty() => {
            static NEXT: AtomicU64 = AtomicU64::new(1);
            let txn = (1 << 63) | (NEXT.fetch_add(1, Ordering::Relaxed) << 12) | (sh.id as u64 + 1);
            log.begin_txn(txn);
            txn
        }
        _ => 0,
    };
    let stack = busy::stack(&mut engine.stack)
        .map_err(|_| CmdError::Internal("cannot allocate a script stack"))?;
    let (lua2, run, keys, argv) = (
        lua.clone(),
        runner,
        engine.keys.clone(),
        engine.argv.clone(),
    );
    let co = busy::Co::with_stack(stack, move |y: &busy::ScriptYielder, ()| {
        if let Some(mut r) = lua2.app_data_mut::<Running>() {
            r.yielder = y as *const busy::ScriptYielder;
        }
        let outcome = run.call::<(bool, Value)>((f, &keys, &argv));
        if let Some(mut r) = lua2.app_data_mut::<Running>() {
            r.yielder = std::ptr::null();
        }
        outcome
    });
    let s = busy::Suspended {
        co,
        label,
        log_txn,
        nkeys,
        nargv: a.len() - 3 - nkeys,
    };
    step(engine, sh, s, out);
    Ok(())
}

/// Runs a script's coroutine until it returns (its reply goes into `out`) or its hook suspends
/// it (kept in the engine, the shard marked busy). Returns whether it returned.
fn step(engine: &mut Engine, sh: &mut Shard, mut s: busy::Suspended, out: &mut Out) -> bool {
    sh.script_busy = false;
    match s.co.resume(()) {
        corosensei::CoroutineResult::Yield(()) => {
            let mut remote = false;
            if let Some(mut r) = engine.lua.app_data_mut::<Running>() {
                r.shard = std::ptr::null_mut();
                remote = r.remote.is_some();
            }
            engine.suspended = Some(s);
            // Waiting for another shard's reply is not busy (this shard is held meanwhile).
            if !remote {
                sh.busy_function = engine
                    .suspended
                    .as_ref()
                    .is_some_and(|s| s.label.is_function());
                sh.script_busy = true;
            }
            false
        }
        corosensei::CoroutineResult::Return(outcome) => {
            let busy::Suspended {
                co,
                label,
                log_txn,
                nkeys,
                nargv,
            } = s;
            engine.stack = Some(co.into_stack());
            // A script that left much garbage behind: collect it now, so that it does not
            // count towards maxmemory until the collector's next cycle.
            if engine.lua.used_memory() > GC_AFTER_BYTES {
                let _ = engine.lua.gc_collect();
            }
            sh.store.set_script_bytes(engine.lua.used_memory());
            if let Some(log) = sh.aof.as_mut().filter(|_| log_txn != 0) {
                log.end_local_txn(log_txn, sh.id as u16, crate::persist::snapshot::epoch());
            }
            let source = if label.is_function() {
                "@user_function"
            } else {
                "@user_script"
            };
            finish(
                engine,
                sh,
                outcome,
                (label.text(), source),
                nkeys,
                nargv,
                out,
            );
            true
        }
    }
}

/// Resumes this shard's suspended script for one more time slice. Returns whether it ended
/// (its reply is then in `out`); false: it is suspended again (or there was none to resume:
/// true).
pub fn resume(sh: &mut Shard, out: &mut Out) -> bool {
    let Some(mut engine) = sh.scripts.take() else {
        sh.script_busy = false;
        return true;
    };
    let Some(s) = engine.suspended.take() else {
        sh.scripts = Some(engine);
        sh.script_busy = false;
        return true;
    };
    if let Some(mut r) = engine.lua.app_data_mut::<Running>() {
        r.shard = sh as *mut Shard;
        busy::slice_starts(&mut r);
    }
    let ended = step(&mut engine, sh, s, out);
    sh.scripts = Some(engine);
    ended
}

/// The `redis.call` a suspended script across shards waits for: the shard to run it on and
/// its arguments.
/// The script's pending `redis.call` on another shard: that shard, the command, and whether the
/// script reads replies in RESP3 (`redis.setresp(3)`).
pub fn remote_call(sh: &Shard) -> Option<(usize, Vec<Vec<u8>>, bool)> {
    let engine = sh.scripts.as_ref()?;
    let r = engine.lua.app_data_ref::<Running>()?;
    let target = r.remote?;
    let args = Args::new(&r.args_data, &r.args_ranges);
    Some((
        target,
        args.iter().map(<[u8]>::to_vec).collect(),
        r.reply.resp3(),
    ))
}

/// The reply of the script's pending `redis.call` on another shard (resume it next).
pub fn answer_remote(sh: &mut Shard, reply: &[u8]) {
    if let Some(engine) = sh.scripts.as_ref() {
        if let Some(mut r) = engine.lua.app_data_mut::<Running>() {
            r.remote = None;
            r.reply.clear();
            r.reply.extend_from_slice(reply);
        }
    }
}

/// A script's end: its reply or error into `out`, and the engine ready for the next one.
fn finish(
    engine: &mut Engine,
    sh: &mut Shard,
    result: busy::Outcome,
    (sha, source): (&str, &str),
    nkeys: usize,
    nargv: usize,
    out: &mut Out,
) {
    let lua = &engine.lua;
    // Only the arguments may be in the tables now (same count, nothing in the hash part).
    let clean = |t: &Table, n: usize| {
        t.raw_len() == n && t.pairs::<Value, Value>().take(n + 1).count() == n
    };
    if !clean(&engine.keys, nkeys) || !clean(&engine.argv, nargv) {
        if let (Ok(k), Ok(v)) = (lua.create_table(), lua.create_table()) {
            (engine.keys, engine.argv) = (k, v);
        }
    }
    let mut killed = None;
    let mut script_resp3 = false;
    if let Some(mut r) = lua.app_data_mut::<Running>() {
        r.shard = std::ptr::null_mut();
        killed = r.killed.then_some(r.killed_line);
        script_resp3 = r.reply.resp3();
        r.reply.set_resp3(false);
        r.leave_busy();
    }
    match result {
        // Stopped by SCRIPT KILL or the time limit: the hook may have raised inside the
        // message handler too.
        _ if killed.is_some() => {
            let line = killed.unwrap_or(0);
            raised(sh, KILLED.as_bytes(), sha, source, line, out);
        }
        Ok((true, v)) => convert::lua_to_reply(&v, script_resp3, out),
        Ok((false, Value::Table(e))) => {
            let msg: Vec<u8> = e
                .raw_get::<mlua::String>("err")
                .map(|s| s.as_bytes().to_vec())
                .unwrap_or_else(|_| b"ERR unknown error".to_vec());
            let line: i64 = e.raw_get("line").unwrap_or(0);
            let source: String = e.raw_get("source").unwrap_or_default();
            raised(sh, &msg, sha, &source, line, out);
        }
        Ok((false, other)) => {
            // Errors the message handler never saw (out of memory).
            let text = match other {
                Value::String(s) => s.to_string_lossy(),
                v => format!("{v:?}"),
            };
            raised(sh, format!("ERR {text}").as_bytes(), sha, source, 0, out);
        }
        Err(e) => raised(sh, format!("ERR {e}").as_bytes(), sha, source, 0, out),
    }
}

impl Drop for Engine {
    /// A suspended script is run to its end (its hook stops it at once): its stack holds
    /// interpreter frames that must not be unwound from outside.
    fn drop(&mut self) {
        if let Some(mut s) = self.suspended.take() {
            if let Some(mut r) = self.lua.app_data_mut::<Running>() {
                r.aborting = true;
            }
            while let corosensei::CoroutineResult::Yield(()) = s.co.resume(()) {}
        }
    }
}
