//! Lua scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT, with Redis 7's semantics;
//! functions (FUNCTION, FCALL) in `function`, on the same interpreter and run path.
//!
//! **One interpreter per shard** (Lua 5.1, vendored through mlua), created on the shard's first
//! script. A script runs on the shard that owns its declared keys (`KEYS`), inside that shard's
//! turn: nothing else runs on the shard meanwhile, so a script is atomic exactly like a
//! command, and its `redis.call`s are plain calls of the command table on that shard
//! ([`crate::cmd::run`]), counted in commandstats and logged to the append-only log as their
//! effects, one write at a time. A script whose declared keys live on several shards holds them
//! (and its own shard) and runs here: a `redis.call` on a key of another held shard suspends
//! its coroutine until the hop that runs it there comes back (`Call::Remote`, driven by
//! `shard::pipeline::cross`). A `redis.call` on a key of a shard it does not hold gets Redis
//! Cluster's "non local key" error (never a silent non-atomic access).
//!
//! **Scripts are known everywhere.** Bodies live in one process-wide registry (sha -> body),
//! written by SCRIPT LOAD and by the first EVAL of a body and read when a shard meets a sha it
//! has not compiled yet; each shard keeps its own compiled functions. SCRIPT FLUSH empties the
//! registry and bumps an epoch that every shard checks before its next script. The registry is
//! a lock on the script-loading path only, never on the data path.
//!
//! **The sandbox** (`sandbox.lua`) gives scripts exactly Redis 7's globals, all read-only, and
//! an instruction hook watches how long a script runs: past `busy-reply-threshold` the script
//! is busy, suspended in time slices while the rest of its shard answers `-BUSY`, and SCRIPT
//! KILL can stop it (see `busy`). The interpreter's memory is capped.

mod busy;
mod cache;
mod convert;
mod function;
mod libs;
mod structlib;

use convert::raised;

use super::{flags, Args, CmdId, Route, Shard};
use crate::error::CmdError;
use busy::hook;
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value};
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Instant;

pub use busy::{abort_busy, allowed as allowed_while_busy, any_busy, busy_error};
pub use cache::{cached_scripts, script};
use cache::{register, registry};
pub use function::{fcall, function, library_codes, recover_functions, LOG_MARKER};
pub use libs::sha1hex;
/// Memory one shard's interpreter may allocate (scripts fail with "not enough memory" past it).
pub const LUA_MEMORY_LIMIT: usize = 64 << 20;
/// The error of a script stopped by the time limit (Redis's text for a killed script).
const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";
/// Interpreter memory past which a full collection follows a script.
const GC_AFTER_BYTES: usize = 8 << 20;
/// VM instructions between two checks of the time limit.
const HOOK_EVERY: u32 = 1000;

type Sha = [u8; 40];

/// Bumped by SCRIPT FLUSH: a shard whose compiled cache is older drops it.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// The state of the script running now, reachable from the Lua callbacks (app data).
struct Running {
    shard: *mut Shard,
    now: u64,
    read_only: bool,
    wrote: bool,
    started: Instant,
    /// Counted in BUSY_CLEAN / BUSY_WROTE (and which).
    busy: Option<bool>,
    /// Its caller can drive it when it is suspended (`Shard::script_yieldable`).
    yieldable: bool,
    /// The coroutine it runs on (null between scripts).
    yielder: *const busy::ScriptYielder,
    /// When its current time slice began.
    last_yield: Instant,
    /// SCRIPT KILL's epoch when it became busy.
    kill_seen: u64,
    /// Stopped by SCRIPT KILL, SHUTDOWN or the time limit, at this line of the script.
    killed: bool,
    killed_line: i64,
    /// Its interpreter is being dropped: stop at the next hook.
    aborting: bool,
    /// A library is loading (FUNCTION LOAD): it fails past this instant.
    load_deadline: Option<Instant>,
    /// A script across shards: the shards it holds (empty: it runs on one shard alone).
    cross: Vec<u16>,
    /// Its `redis.call` waiting for another held shard (the command is in `args_*`, the driver
    /// puts the reply in `reply`).
    remote: Option<usize>,
    /// The error text of the `redis.call` that is raising (see sandbox.lua).
    pending: Option<Vec<u8>>,
    args_data: Vec<u8>,
    args_ranges: Vec<(usize, usize)>,
    reply: Vec<u8>,
}

/// One shard's interpreter and its compiled scripts.
pub struct Engine {
    lua: Lua,
    run: Function,
    compiled: hashbrown::HashMap<Sha, Function>,
    /// KEYS and ARGV, refilled for every script (see `eval_in`).
    keys: Table,
    argv: Table,
    epoch: u64,
    /// The stack scripts run on, kept between scripts.
    stack: Option<corosensei::stack::DefaultStack>,
    /// A busy script between two of its time slices.
    suspended: Option<busy::Suspended>,
    /// The function libraries loaded in this interpreter.
    functions: function::Loaded,
}

fn script_error(msg: &str) -> mlua::Error {
    mlua::Error::runtime(msg.to_string())
}

/// Raises `{err = msg}` from a Rust function, as Redis's C functions do (see `take_pending` in
/// sandbox.lua).
fn raise(lua: &Lua, msg: Vec<u8>) -> mlua::Error {
    let text = String::from_utf8_lossy(&msg).into_owned();
    if let Some(mut r) = lua.app_data_mut::<Running>() {
        r.pending = Some(msg);
    }
    script_error(&text)
}

impl Engine {
    pub fn new() -> mlua::Result<Engine> {
        // SAFETY: the debug library is loaded for the sandbox's own message handler only; it is
        // removed from the globals below and scripts never see it.
        let lua = unsafe {
            Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
                LuaOptions::new(),
            )
        };
        lua.set_memory_limit(LUA_MEMORY_LIMIT)?;
        // Scripts make short-lived garbage (arguments, replies): let the heap grow to 4x its
        // live size before a collection cycle (Lua's default: 2x), which halves the
        // collector's share of a small script without changing what it can reach.
        lua.gc_set_pause(400);
        let take_pending = lua.create_function(|lua, ()| {
            lua.app_data_mut::<Running>()
                .and_then(|mut r| r.pending.take())
                .map(|p| lua.create_string(p))
                .transpose()
        })?;
        let log = lua.create_function(|_, (level, msg): (i64, String)| {
            if level >= 2 {
                eprintln!("corekv: script: {msg}");
            }
            Ok(())
        })?;
        let hook_thread = lua.create_function(|_, t: mlua::Thread| {
            t.set_hook(
                HookTriggers::new().every_nth_instruction(HOOK_EVERY),
                |lua, _| hook(lua),
            )
        })?;
        #[allow(clippy::type_complexity)]
        let (_env, g, redis, protect, run, fx): (
            Table,
            Table,
            Table,
            Function,
            Function,
            Table,
        ) = lua
            .load(include_str!("sandbox.lua"))
            .set_name("=sandbox")
            .call((take_pending, log, hook_thread))?;
        redis.raw_set(
            "call",
            lua.create_function(|lua, args: mlua::MultiValue| {
                let (v, failed) = raw_call(lua, args)?;
                if !failed {
                    return Ok(v);
                }
                let Value::Table(t) = v else {
                    return Err(script_error("ERR unknown error"));
                };
                let msg = t.raw_get::<mlua::String>("err")?.as_bytes().to_vec();
                Err(raise(lua, msg))
            })?,
        )?;
        redis.raw_set(
            "setresp",
            lua.create_function(|lua, v: Value| match v {
                Value::Integer(2 | 3) => Ok(()),
                Value::Number(n) if n == 2.0 || n == 3.0 => Ok(()),
                _ => Err(raise(lua, b"ERR RESP version must be 2 or 3.".to_vec())),
            })?,
        )?;
        redis.raw_set(
            "pcall",
            lua.create_function(|lua, args: mlua::MultiValue| Ok(raw_call(lua, args)?.0))?,
        )?;
        redis.raw_set(
            "sha1hex",
            lua.create_function(|lua, s: mlua::String| lua.create_string(sha1hex(&s.as_bytes())))?,
        )?;
        let lredis: Table = fx.raw_get("lredis")?;
        for t in [&redis, &lredis] {
            t.raw_set("REDIS_VERSION", crate::cmd::server::REDIS_VERSION)?;
            t.raw_set("REDIS_VERSION_NUM", redis_version_num())?;
        }
        redis.raw_set(
            "acl_check_cmd",
            lua.create_function(|_, name: mlua::String| {
                Ok(CmdId::lookup(&name.as_bytes()).is_some())
            })?,
        )?;
        g.raw_set("redis", protect.call::<Table>(redis)?)?;
        g.raw_set("bit", protect.call::<Table>(libs::bit(&lua)?)?)?;
        g.raw_set("cjson", protect.call::<Table>(libs::cjson(&lua)?)?)?;
        g.raw_set("cmsgpack", protect.call::<Table>(libs::cmsgpack(&lua)?)?)?;
        g.raw_set("struct", protect.call::<Table>(structlib::lib(&lua)?)?)?;
        // Nothing of the bootstrap's environment stays reachable from a global.
        lua.globals().raw_set("debug", Value::Nil)?;
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            |lua, _| hook(lua),
        )?;
        let env = _env;
        lua.set_named_registry_value("corekv_env", env)?;
        // The running script's state lives in the interpreter for good (no allocation per
        // script); `shard` is null between scripts.
        lua.set_app_data(Running {
            shard: std::ptr::null_mut(),
            now: 0,
            read_only: false,
            wrote: false,
            started: Instant::now(),
            busy: None,
            yieldable: false,
            yielder: std::ptr::null(),
            last_yield: Instant::now(),
            kill_seen: 0,
            killed: false,
            killed_line: 0,
            aborting: false,
            load_deadline: None,
            cross: Vec::new(),
            remote: None,
            pending: None,
            args_data: Vec::new(),
            args_ranges: Vec::new(),
            reply: Vec::new(),
        });
        let (keys, argv) = (lua.create_table()?, lua.create_table()?);
        Ok(Engine {
            lua,
            run,
            compiled: hashbrown::HashMap::new(),
            keys,
            argv,
            epoch: EPOCH.load(Ordering::Acquire),
            stack: None,
            suspended: None,
            functions: function::Loaded::new(&fx)?,
        })
    }

    /// Memory the interpreter holds (INFO's used_memory_lua).
    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }

    fn compile(&mut self, sha: &Sha, body: &[u8]) -> Result<Function, CmdError> {
        if let Some(f) = self.compiled.get(sha) {
            return Ok(f.clone());
        }
        let env: Table = self
            .lua
            .named_registry_value("corekv_env")
            .map_err(|_| CmdError::Internal("script environment missing"))?;
        let f = self
            .lua
            .load(body)
            .set_name("@user_script")
            .set_mode(mlua::ChunkMode::Text)
            .set_environment(env)
            .into_function()
            .map_err(|e| CmdError::ScriptCompile(compile_message(&e)))?;
        self.compiled.insert(*sha, f.clone());
        Ok(f)
    }
}

fn compile_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// 7.0.15 as Redis encodes it: 0x00MMmmpp.
fn redis_version_num() -> i64 {
    let mut parts = crate::cmd::server::REDIS_VERSION
        .split('.')
        .map(|p| p.parse::<i64>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (a << 16) | (b << 8) | c
}

/// `redis.call` / `redis.pcall` (the Lua wrappers raise or return): runs one command on this
/// shard and returns (reply as Lua, whether it is an error).
fn raw_call(lua: &Lua, args: mlua::MultiValue) -> mlua::Result<(Value, bool)> {
    let (shard, now, read_only, mut data, mut ranges, mut out, cross) = {
        let mut r = lua
            .app_data_mut::<Running>()
            .filter(|r| !r.shard.is_null())
            .ok_or_else(|| script_error("ERR redis.call outside a script"))?;
        (
            r.shard,
            r.now,
            r.read_only,
            std::mem::take(&mut r.args_data),
            std::mem::take(&mut r.args_ranges),
            std::mem::take(&mut r.reply),
            std::mem::take(&mut r.cross),
        )
    };
    let result = call_one(
        lua,
        args,
        (shard, &cross),
        now,
        read_only,
        &mut data,
        &mut ranges,
        &mut out,
    );
    let (mut r, yielder) = match lua.app_data_mut::<Running>() {
        Some(r) => {
            let y = r.yielder;
            (r, y)
        }
        None => return Err(script_error("ERR redis.call outside a script")),
    };
    r.args_data = data;
    r.args_ranges = ranges;
    r.reply = out;
    r.cross = cross;
    let result = match result? {
        Call::Done(v, failed, wrote) => (v, failed, wrote),
        Call::Remote { target, writes } => {
            // The driver runs the command on its shard (held by this script) and resumes us
            // with its reply.
            r.remote = Some(target);
            drop(r);
            // SAFETY: as in the hook: `yielder` is this coroutine's and nothing borrowed from
            // the interpreter is held across the switch.
            unsafe { (*yielder).suspend(()) };
            r = lua
                .app_data_mut::<Running>()
                .ok_or_else(|| script_error("ERR redis.call outside a script"))?;
            let reply = std::mem::take(&mut r.reply);
            drop(r);
            let converted = convert::reply_to_lua(lua, &reply);
            r = lua
                .app_data_mut::<Running>()
                .ok_or_else(|| script_error("ERR redis.call outside a script"))?;
            r.reply = reply;
            let (v, failed) = converted?;
            (v, failed, writes && !failed)
        }
    };
    if let (_, false, true) = result {
        r.note_write();
    }
    Ok((result.0, result.1))
}

/// What one `redis.call` did.
enum Call {
    /// Ran here: the reply, whether it is an error, whether the command wrote.
    Done(Value, bool, bool),
    /// Must run on another shard that this script holds (`args_*` hold the command).
    Remote { target: usize, writes: bool },
}

/// Returns (reply, whether it is an error, whether the command wrote).
#[allow(clippy::too_many_arguments)]
fn call_one(
    lua: &Lua,
    args: mlua::MultiValue,
    (shard, cross): (*mut Shard, &[u16]),
    now: u64,
    read_only: bool,
    data: &mut Vec<u8>,
    ranges: &mut Vec<(usize, usize)>,
    out: &mut Vec<u8>,
) -> mlua::Result<Call> {
    let fail = |lua: &Lua, msg: &str| -> mlua::Result<Call> {
        let t = lua.create_table()?;
        t.raw_set("err", msg)?;
        Ok(Call::Done(Value::Table(t), true, false))
    };
    data.clear();
    ranges.clear();
    for v in args.into_iter() {
        let start = data.len();
        match &v {
            Value::String(s) => data.extend_from_slice(&s.as_bytes()),
            Value::Integer(_) | Value::Number(_) => {
                if let Some(s) = lua.coerce_string(v.clone())? {
                    data.extend_from_slice(&s.as_bytes());
                }
            }
            _ => {
                return fail(
                    lua,
                    "ERR Lua redis lib command arguments must be strings or integers",
                )
            }
        }
        ranges.push((start, data.len()));
    }
    if ranges.is_empty() {
        return fail(
            lua,
            "ERR Please specify at least one argument for this redis lib call",
        );
    }
    let a = Args::new(data, ranges);
    let Some(id) = CmdId::lookup(a.get(0)) else {
        return fail(lua, "ERR Unknown Redis command called from script");
    };
    if !id.arity_ok(a.len()) {
        return fail(
            lua,
            "ERR Wrong number of args calling Redis command from script",
        );
    }
    let spec = id.spec();
    // SAFETY: `shard` points at the shard whose `eval` is running this script: `eval` holds
    // the only `&mut Shard` and does not touch it until the script returns.
    let sh = unsafe { &mut *shard };
    if spec.flags & flags::NOSCRIPT != 0
        || matches!(spec.route, Route::Conn | Route::Script)
        || (sh.shards > 1 && matches!(spec.route, Route::All(_) | Route::Scan))
    {
        return fail(lua, "ERR This Redis command is not allowed from script");
    }
    let writes = spec.flags & flags::WRITE != 0;
    if read_only && writes {
        return fail(
            lua,
            "ERR Write commands are not allowed from read-only scripts.",
        );
    }
    if sh.shards > 1 {
        // Every key on one shard: this one, or (a script across shards) one it holds.
        let (mut target, mut one) = (None, true);
        super::for_each_key(id, &a, |k| {
            let s = crate::slot::key_shard(k, sh.shards);
            one &= *target.get_or_insert(s) == s;
        });
        let target = target.unwrap_or(sh.id);
        let held = |s: usize| s == sh.id || cross.contains(&(s as u16));
        if !one && !cross.is_empty() {
            return fail(lua, "CROSSSLOT Keys in request don't hash to the same slot");
        }
        if !one || !held(target) {
            return fail(
                lua,
                "ERR Script attempted to access a non local key in a cluster node",
            );
        }
        if target != sh.id {
            return Ok(Call::Remote { target, writes });
        }
    }
    out.clear();
    // The interpreter's memory counts towards maxmemory: a write that would pass it with
    // what the script holds now is refused (OOM) or makes room, like any other.
    if writes {
        sh.store.set_script_bytes(lua.used_memory());
    }
    super::run(sh, id, &a, now, true, out);
    let (v, failed) = convert::reply_to_lua(lua, out)?;
    Ok(Call::Done(v, failed, writes && !failed))
}

/// Which script command, for [`eval`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Eval {
    Body,
    Sha,
}

/// The number of keys of an EVAL-family command, checked against its arguments.
pub fn numkeys(a: &Args) -> Result<usize, CmdError> {
    let n = crate::num::string2ll(a.get(2)).ok_or_else(|| {
        if a.get(0).len() >= 5 && a.get(0)[..5].eq_ignore_ascii_case(b"fcall") {
            CmdError::BadNumKeys
        } else {
            CmdError::NotInteger
        }
    })?;
    if n < 0 {
        return Err(CmdError::NumKeysNegative);
    }
    if n as usize > a.len() - 3 {
        return Err(CmdError::NumKeysTooMany);
    }
    Ok(n as usize)
}

/// EVAL / EVALSHA / EVAL_RO / EVALSHA_RO, on the shard that owns the script's keys.
pub fn eval(
    sh: &mut Shard,
    a: &Args,
    now: u64,
    out: &mut Vec<u8>,
    how: Eval,
    read_only: bool,
) -> Result<(), CmdError> {
    let nkeys = numkeys(a)?;
    let sha: Sha = match how {
        Eval::Body => sha1hex(a.get(1)),
        Eval::Sha => {
            let given = a.get(1);
            if given.len() != 40 {
                return Err(CmdError::NoScript);
            }
            let mut s = [0u8; 40];
            for (d, c) in s.iter_mut().zip(given) {
                *d = c.to_ascii_lowercase();
            }
            s
        }
    };
    let mut engine = match sh.scripts.take() {
        Some(e) => e,
        None => Box::new(Engine::new().map_err(|_| CmdError::Internal("cannot start Lua"))?),
    };
    if engine.suspended.is_some() {
        sh.scripts = Some(engine);
        return Err(CmdError::Busy);
    }
    let result = eval_in(&mut engine, sh, a, nkeys, &sha, how, read_only, now, out);
    sh.scripts = Some(engine);
    result
}

#[allow(clippy::too_many_arguments)]
fn eval_in(
    engine: &mut Engine,
    sh: &mut Shard,
    a: &Args,
    nkeys: usize,
    sha: &Sha,
    how: Eval,
    read_only: bool,
    now: u64,
    out: &mut Vec<u8>,
) -> Result<(), CmdError> {
    let epoch = EPOCH.load(Ordering::Acquire);
    if engine.epoch != epoch {
        engine.compiled.clear();
        engine.epoch = epoch;
    }
    let f = match engine.compiled.get(sha) {
        Some(f) => f.clone(),
        None => match how {
            Eval::Body => {
                let f = engine.compile(sha, a.get(1))?;
                register(sha, a.get(1).into());
                f
            }
            Eval::Sha => {
                let body = registry()
                    .read()
                    .map_err(|_| CmdError::Internal("script registry poisoned"))?
                    .get(sha)
                    .cloned()
                    .ok_or(CmdError::NoScript)?;
                engine.compile(sha, &body)?
            }
        },
    };
    let label = std::str::from_utf8(sha).unwrap_or("").into();
    let runner = engine.run.clone();
    run_script(
        engine,
        sh,
        a,
        nkeys,
        f,
        (runner, false),
        label,
        read_only,
        now,
        out,
    )
}

/// Runs `f` (a script's chunk, or a function) through `runner` (the sandbox's `run` or
/// `run_fn`; `function`: it is a function) with KEYS = `a[3..3 + nkeys]` and ARGV = the rest; `label` names it in errors
/// (a sha, or a function's name).
#[allow(clippy::too_many_arguments)]
fn run_script(
    engine: &mut Engine,
    sh: &mut Shard,
    a: &Args,
    nkeys: usize,
    f: Function,
    (runner, function): (Function, bool),
    label: Box<str>,
    read_only: bool,
    now: u64,
    out: &mut Vec<u8>,
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
        function,
        log_txn,
        nkeys,
        nargv: a.len() - 3 - nkeys,
    };
    step(engine, sh, s, out);
    Ok(())
}

/// Runs a script's coroutine until it returns (its reply goes into `out`) or its hook suspends
/// it (kept in the engine, the shard marked busy). Returns whether it returned.
fn step(engine: &mut Engine, sh: &mut Shard, mut s: busy::Suspended, out: &mut Vec<u8>) -> bool {
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
                sh.busy_function = engine.suspended.as_ref().is_some_and(|s| s.function);
                sh.script_busy = true;
            }
            false
        }
        corosensei::CoroutineResult::Return(outcome) => {
            let busy::Suspended {
                co,
                label,
                function,
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
            let source = if function {
                "@user_function"
            } else {
                "@user_script"
            };
            finish(engine, sh, outcome, (&label, source), nkeys, nargv, out);
            true
        }
    }
}

/// Resumes this shard's suspended script for one more time slice. Returns whether it ended
/// (its reply is then in `out`); false: it is suspended again (or there was none to resume:
/// true).
pub fn resume(sh: &mut Shard, out: &mut Vec<u8>) -> bool {
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
pub fn remote_call(sh: &Shard) -> Option<(usize, Vec<Vec<u8>>)> {
    let engine = sh.scripts.as_ref()?;
    let r = engine.lua.app_data_ref::<Running>()?;
    let target = r.remote?;
    let args = Args::new(&r.args_data, &r.args_ranges);
    Some((target, args.iter().map(<[u8]>::to_vec).collect()))
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
    out: &mut Vec<u8>,
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
    if let Some(mut r) = lua.app_data_mut::<Running>() {
        r.shard = std::ptr::null_mut();
        killed = r.killed.then_some(r.killed_line);
        r.leave_busy();
    }
    match result {
        // Stopped by SCRIPT KILL or the time limit: the hook may have raised inside the
        // message handler too.
        _ if killed.is_some() => {
            let line = killed.unwrap_or(0);
            raised(sh, KILLED.as_bytes(), sha, source, line, out);
        }
        Ok((true, v)) => convert::lua_to_reply(&v, out),
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

#[cfg(test)]
mod tests {
    #[test]
    fn an_interpreter_starts_sandboxed() {
        let e = super::Engine::new().unwrap();
        assert!(e.used_memory() > 0);
        assert!(e
            .lua
            .globals()
            .raw_get::<mlua::Value>("debug")
            .unwrap()
            .is_nil());
    }
}
