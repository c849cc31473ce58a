//! Busy scripts: a script that runs past `busy-reply-threshold` (5 s) without blocking its
//! shard, as Redis 7 does it.
//!
//! Every script runs on its own machine stack (a [`corosensei`] coroutine, one stack per
//! interpreter, reused), so the instruction hook can suspend it anywhere, even inside a `pcall`
//! or a metamethod, where Lua 5.1 itself cannot yield. Past the threshold the hook suspends
//! the script every [`SLICE`]; the task that started it (the connection, for a script on its
//! own shard, or the request task serving a hop) then lets the executor run for a moment and
//! resumes it ([`resume`]). While it is suspended the shard is marked busy
//! (`Shard::script_busy`): every other command on the shard gets Redis's `-BUSY` error, except
//! those Redis allows (AUTH, HELLO, MULTI, DISCARD, WATCH, UNWATCH, RESET, QUIT, SCRIPT KILL,
//! SHUTDOWN NOSAVE: [`allowed`]); hops that carry a transaction's step or the server's own key
//! work wait for the script to end (see `shard::lock::serve`); background expiry and eviction
//! pause. Nothing else touches the keys, so the script stays atomic.
//!
//! SCRIPT KILL stops a busy script that has not written (at its next hook, with Redis's
//! error); one that wrote answers UNKILLABLE and runs to its end unless SHUTDOWN NOSAVE
//! aborts it. A script started where its caller cannot wait (inside EXEC or a held group)
//! never suspends: past the threshold it is stopped at once if it has not written, and runs
//! to its end otherwise.

use super::{Running, KILLED};
use crate::cmd::{Args, CmdId};
use crate::config::RUNTIME;
use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, Yielder};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a busy script runs between two pauses for the rest of the shard.
pub const SLICE: Duration = Duration::from_millis(2);
/// Size of the stack a script runs on (touched pages only are committed).
pub const STACK_SIZE: usize = 2 << 20;

/// What a script's run returns: (ran without error, the value or the error).
pub type Outcome = mlua::Result<(bool, mlua::Value)>;
pub type Co = Coroutine<(), (), Outcome, DefaultStack>;
pub type ScriptYielder = Yielder<(), ()>;

/// What runs: a script (by its sha) or a function (by its name), as its errors name it.
pub enum Label {
    Sha(super::Sha),
    Function(Box<str>),
}

impl Label {
    pub fn text(&self) -> &str {
        match self {
            Label::Sha(s) => std::str::from_utf8(s).unwrap_or(""),
            Label::Function(name) => name,
        }
    }

    /// Its errors' source, and a function's busy shard answers the FUNCTION KILL variant of BUSY.
    pub fn is_function(&self) -> bool {
        matches!(self, Label::Function(_))
    }
}

/// A script suspended by its hook, with what its end needs.
pub struct Suspended {
    pub co: Co,
    pub label: Label,
    /// Its writes' transaction in this shard's append-only log (0: none, see `run_script`).
    pub log_txn: u64,
    pub nkeys: usize,
    pub nargv: usize,
}

/// The busy function (FUNCTION STATS's `running_script`): its FCALL arguments and when it
/// started. Set and cleared only as a function enters and leaves the busy state (rare).
static RUNNING_FUNCTION: std::sync::Mutex<Option<(Vec<Vec<u8>>, std::time::Instant)>> =
    std::sync::Mutex::new(None);

/// FUNCTION STATS: the busy function's arguments and how long it has run (ms), if any.
pub fn running_function() -> Option<(Vec<Vec<u8>>, u128)> {
    let g = RUNNING_FUNCTION.lock().ok()?;
    g.as_ref()
        .map(|(args, started)| (args.clone(), started.elapsed().as_millis()))
}

/// Scripts past the busy threshold that have (not) written, over all shards (SCRIPT KILL).
pub static BUSY_CLEAN: AtomicUsize = AtomicUsize::new(0);
pub static BUSY_WROTE: AtomicUsize = AtomicUsize::new(0);
/// Bumped by SCRIPT KILL: a busy clean script that saw an older value stops.
static KILL_EPOCH: AtomicU64 = AtomicU64::new(0);
/// Set by SHUTDOWN: busy scripts stop, written or not.
static ABORT: AtomicBool = AtomicBool::new(false);

pub fn threshold() -> Duration {
    Duration::from_millis(RUNTIME.busy_reply_threshold_ms.load(Ordering::Relaxed))
}

/// Whether a script is busy on any shard.
pub fn any_busy() -> bool {
    BUSY_CLEAN.load(Ordering::Relaxed) + BUSY_WROTE.load(Ordering::Relaxed) > 0
}

/// SCRIPT KILL: Ok when a busy script that has not written will stop.
pub fn kill() -> Result<(), crate::error::CmdError> {
    if BUSY_CLEAN.load(Ordering::Relaxed) > 0 {
        KILL_EPOCH.fetch_add(1, Ordering::AcqRel);
        Ok(())
    } else if BUSY_WROTE.load(Ordering::Relaxed) > 0 {
        Err(crate::error::CmdError::Unkillable)
    } else {
        Err(crate::error::CmdError::NotBusy)
    }
}

/// The server is shutting down: busy scripts stop at their next hook.
pub fn abort_busy() {
    ABORT.store(true, Ordering::Release);
}

/// Whether a command may run on a shard whose script is busy (Redis's ALLOW_BUSY commands).
/// `function`: the busy script is a function (then FUNCTION KILL and STATS are allowed, not
/// SCRIPT KILL; the other way round for EVAL).
pub fn allowed(id: CmdId, a: &Args, function: bool) -> bool {
    use CmdId::*;
    let sub = |s: &[u8]| a.len() == 2 && a.get(1).eq_ignore_ascii_case(s);
    match id {
        Auth | Hello | Multi | Discard | Watch | Unwatch | Reset | Quit => true,
        Script => !function && sub(b"kill"),
        Function => function && (sub(b"kill") || sub(b"stats")),
        Shutdown => a.iter().skip(1).any(|o| o.eq_ignore_ascii_case(b"nosave")),
        _ => false,
    }
}

impl Running {
    /// Enters the busy state (counted for SCRIPT KILL) once, when the threshold passes.
    fn enter_busy(&mut self) {
        let wrote = self.wrote;
        self.busy = Some(wrote);
        self.kill_seen = KILL_EPOCH.load(Ordering::Acquire);
        if wrote {
            BUSY_WROTE.fetch_add(1, Ordering::Relaxed);
        } else {
            BUSY_CLEAN.fetch_add(1, Ordering::Relaxed);
        }
        if let Some((data, ranges)) = self.fn_args.as_ref().filter(|(_, r)| !r.is_empty()) {
            let args = ranges.iter().map(|&(a, b)| data[a..b].to_vec()).collect();
            if let Ok(mut g) = RUNNING_FUNCTION.lock() {
                *g = Some((args, self.started));
            }
        }
        eprintln!(
            "corekv: a script has run for {} ms on shard {}; {}",
            self.started.elapsed().as_millis(),
            // SAFETY: `shard` is the running script's shard (checked non-null by the caller).
            unsafe { (*self.shard).id },
            if !self.yieldable && !wrote {
                "it cannot be suspended here (EXEC) and is stopped"
            } else {
                "other clients of its shard get BUSY (SCRIPT KILL or SHUTDOWN NOSAVE)"
            }
        );
    }

    /// A busy script that has not written wrote: SCRIPT KILL now answers UNKILLABLE.
    pub(super) fn note_write(&mut self) {
        self.wrote = true;
        if self.busy == Some(false) {
            BUSY_CLEAN.fetch_sub(1, Ordering::Relaxed);
            BUSY_WROTE.fetch_add(1, Ordering::Relaxed);
            self.busy = Some(true);
        }
    }

    pub(super) fn leave_busy(&mut self) {
        if self.busy.is_some() && self.fn_args.as_ref().is_some_and(|(_, r)| !r.is_empty()) {
            if let Ok(mut g) = RUNNING_FUNCTION.lock() {
                *g = None;
            }
        }
        match self.busy.take() {
            Some(false) => BUSY_CLEAN.fetch_sub(1, Ordering::Relaxed),
            Some(true) => BUSY_WROTE.fetch_sub(1, Ordering::Relaxed),
            None => 0,
        };
    }
}

/// The line of the user script running now (for the killed script's error).
fn script_line(lua: &mlua::Lua) -> i64 {
    (0..16)
        .filter_map(|level| {
            lua.inspect_stack(level, |d| {
                let source = d.source().source;
                matches!(source.as_deref(), Some("@user_script" | "@user_function"))
                    .then(|| d.current_line().unwrap_or(0) as i64)
            })
            .flatten()
        })
        .next()
        .unwrap_or(0)
}

/// The instruction hook (every `HOOK_EVERY` instructions, on every coroutine of a script):
/// enters the busy state past the threshold, stops a killed or aborted script, and suspends a
/// busy one every [`SLICE`] when its caller can wait.
pub(super) fn hook(lua: &mlua::Lua) -> mlua::Result<mlua::VmState> {
    let Some(mut r) = lua.app_data_mut::<Running>() else {
        return Ok(mlua::VmState::Continue);
    };
    if let Some(deadline) = r.load_deadline {
        if Instant::now() < deadline {
            return Ok(mlua::VmState::Continue);
        }
        r.load_deadline = None;
        r.pending = Some(b"ERR FUNCTION LOAD timeout".to_vec());
        return Err(mlua::Error::runtime("FUNCTION LOAD timeout"));
    }
    if r.shard.is_null() && !r.aborting {
        return Ok(mlua::VmState::Continue);
    }
    if r.busy.is_none() {
        if r.aborting {
            r.busy = Some(r.wrote);
        } else if r.started.elapsed() >= threshold() {
            r.enter_busy();
        } else {
            return Ok(mlua::VmState::Continue);
        }
    }
    let stop = r.aborting
        || ABORT.load(Ordering::Acquire)
        || (!r.wrote && (!r.yieldable || KILL_EPOCH.load(Ordering::Acquire) != r.kill_seen));
    if stop {
        r.killed = true;
        drop(r);
        let line = script_line(lua);
        if let Some(mut r) = lua.app_data_mut::<Running>() {
            r.killed_line = line;
        }
        return Err(mlua::Error::runtime(KILLED));
    }
    if r.yieldable && !r.yielder.is_null() && r.last_yield.elapsed() >= SLICE {
        let y = r.yielder;
        drop(r);
        // SAFETY: `yielder` belongs to the coroutine running this hook (set when it started,
        // cleared when it ends), and nothing borrowed from the interpreter is held across the
        // switch. The coroutine is always resumed until it returns (never dropped suspended,
        // see `Engine`'s Drop).
        unsafe { (*y).suspend(()) };
    }
    Ok(mlua::VmState::Continue)
}

/// The BUSY error for a shard whose script is busy (the FUNCTION KILL text for a function).
pub fn busy_error(sh: &crate::cmd::Shard) -> crate::error::CmdError {
    if sh.busy_function {
        crate::error::CmdError::BusyFunction
    } else {
        crate::error::CmdError::Busy
    }
}

/// A fresh stack for scripts, or the engine's kept one.
pub fn stack(kept: &mut Option<DefaultStack>) -> std::io::Result<DefaultStack> {
    match kept.take() {
        Some(s) => Ok(s),
        None => DefaultStack::new(STACK_SIZE),
    }
}

/// Marks the start of a time slice (after a resume).
pub(super) fn slice_starts(r: &mut Running) {
    r.last_yield = Instant::now();
}
