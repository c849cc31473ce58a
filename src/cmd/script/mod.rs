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
//! `shard::pipeline::script`). A `redis.call` on a key of a shard it does not hold gets Redis
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
mod call;
mod convert;
mod function;
mod libs;
mod run;
mod structlib;

use super::{Args, CmdId, Shard};
use crate::error::CmdError;
use crate::resp::reply::Out;
use busy::hook;
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value};
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Instant;

pub use busy::{abort_busy, allowed as allowed_while_busy, any_busy, busy_error};
pub use cache::{cached_scripts, script};
use cache::{register, registry};
use call::raw_call;
pub use function::{fcall, function, library_codes, recover_functions, LOG_MARKER};
pub use libs::sha1hex;
use run::run_script;
pub use run::{answer_remote, remote_call, resume};
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
    reply: crate::resp::reply::Out,
    /// A function's FCALL arguments (buffers reused), for FUNCTION STATS while it is busy.
    fn_args: Option<(Vec<u8>, Vec<(usize, usize)>)>,
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
            lua.create_function(|lua, v: Value| {
                let resp3 = match v {
                    Value::Integer(n @ (2 | 3)) => n == 3,
                    Value::Number(n) if n == 2.0 || n == 3.0 => n == 3.0,
                    _ => return Err(raise(lua, b"ERR RESP version must be 2 or 3.".to_vec())),
                };
                // The commands of `redis.call` answer in this protocol from now on.
                if let Some(mut r) = lua.app_data_mut::<Running>() {
                    r.reply.set_resp3(resp3);
                }
                Ok(())
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
            reply: crate::resp::reply::Out::new(false),
            fn_args: None,
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
    out: &mut Out,
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
    with_engine(sh, |engine, sh| {
        if engine.suspended.is_some() {
            return Err(CmdError::Busy);
        }
        eval_in(engine, sh, a, nkeys, &sha, how, read_only, now, out)
    })
}

/// Runs `f` with this shard's interpreter (started on first use).
fn with_engine<T>(
    sh: &mut Shard,
    f: impl FnOnce(&mut Engine, &mut Shard) -> Result<T, CmdError>,
) -> Result<T, CmdError> {
    let mut engine = match sh.scripts.take() {
        Some(e) => e,
        None => Box::new(Engine::new().map_err(|_| CmdError::Internal("cannot start Lua"))?),
    };
    let r = f(&mut engine, sh);
    sh.scripts = Some(engine);
    r
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
    out: &mut Out,
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
    let label = busy::Label::Sha(*sha);
    let runner = engine.run.clone();
    run_script(engine, sh, a, nkeys, f, runner, label, read_only, now, out)
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
