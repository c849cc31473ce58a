//! Functions, as Redis 7.0 has them: FUNCTION LOAD / DELETE / FLUSH / LIST / STATS / KILL /
//! DUMP / RESTORE / HELP, FCALL and FCALL_RO.
//!
//! A library is Lua code that starts with `#!lua name=<library>` and registers functions with
//! `redis.register_function` while it loads (in Redis 7.0's load-time environment, see
//! `sandbox.lua`). Libraries live in one process-wide registry (name -> code and the functions'
//! names, flags and descriptions), written by FUNCTION LOAD on whatever shard the client is on
//! after the library loaded there without error, and bumped in an epoch. Every shard keeps its
//! own loaded copy: before an FCALL, a shard whose copy is older than the epoch loads every
//! library again into its interpreter. So FUNCTION LOAD reaches every shard before it answers,
//! as SCRIPT LOAD does, and no lock is taken on the data path.
//!
//! FCALL routes like EVAL (its keys decide the shard) and runs the function through the same
//! path as a script: the same sandbox, busy handling, effects and errors (named by the
//! function, on `@user_function`). Function names are case-insensitive, library names are not,
//! as in Redis.
//!
//! **Persistence.** Snapshots carry every library (RDB FUNCTION2 opcodes, what Redis 7.0
//! writes). With the append-only log on, every change logs the registry's whole new state on
//! the shard where it ran, as one record `__corekv-functions SEQ CODE...`; SEQ orders the
//! states over all shards' logs (and continues from them after a restart), and recovery keeps
//! the newest state it meets, over the snapshot's ([`recover_functions`]).

use super::{busy, compile_message, run_script, with_engine, Engine, Running, Shard};
use crate::cmd::args::eq_ic;
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;
use mlua::{Function, Table, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// The flags `redis.register_function` knows, with their bits (as sandbox.lua sets them).
const FLAGS: [(&str, u32); 5] = [
    ("no-writes", 1),
    ("allow-oom", 2),
    ("allow-stale", 4),
    ("no-cluster", 8),
    ("allow-cross-slot-keys", 16),
];
const NO_WRITES: u32 = 1;
/// How long a library's code may run while it loads (Redis: 500 ms).
const LOAD_TIMEOUT: Duration = Duration::from_millis(500);
/// RDB_OPCODE_FUNCTION2, and the RDB version of a FUNCTION DUMP payload.
const OP_FUNCTION2: u8 = 245;
const DUMP_RDB_VERSION: u16 = 10;

struct FnMeta {
    name: String,
    description: Option<Vec<u8>>,
    flags: u32,
}

struct Library {
    code: Arc<[u8]>,
    functions: Vec<FnMeta>,
}

fn libraries() -> &'static RwLock<BTreeMap<String, Library>> {
    static L: OnceLock<RwLock<BTreeMap<String, Library>>> = OnceLock::new();
    L.get_or_init(Default::default)
}

/// Bumped by every change of the registry; a shard whose copy is older loads it again.
static EPOCH: AtomicU64 = AtomicU64::new(1);
/// The sequence number of the registry's last logged state (see the module docs).
static SEQ: AtomicU64 = AtomicU64::new(0);
/// During recovery: the sequence number of the state applied so far (0: the snapshot's).
static APPLIED: std::sync::Mutex<Option<u64>> = std::sync::Mutex::new(None);

/// The first argument of a log record holding the registry's state.
pub const LOG_MARKER: &[u8] = b"__corekv-functions";

/// Every library's code (for a snapshot).
pub fn library_codes() -> Vec<Arc<[u8]>> {
    libraries()
        .read()
        .map(|l| l.values().map(|lib| lib.code.clone()).collect())
        .unwrap_or_default()
}

/// A state of the registry to log: its sequence number and every library's code.
type State = (u64, Vec<Arc<[u8]>>);

/// The registry changed (its write lock held): new epoch, and the state to log.
fn changed(libs: &BTreeMap<String, Library>) -> State {
    EPOCH.fetch_add(1, Ordering::AcqRel);
    let seq = SEQ.fetch_add(1, Ordering::AcqRel) + 1;
    (seq, libs.values().map(|l| l.code.clone()).collect())
}

/// Logs the registry's state `seq` on this shard's append-only log, when it is on.
fn log_state(sh: &mut Shard, (seq, codes): State) {
    if let Some(log) = sh.aof.as_mut() {
        let seq = seq.to_string();
        let mut args: Vec<&[u8]> = vec![LOG_MARKER, seq.as_bytes()];
        args.extend(codes.iter().map(|c| &c[..]));
        log.record(&args);
    }
}

/// Recovery: the libraries of a snapshot (`seq` 0) or of a log record (`seq` > 0) become the
/// registry unless a newer state was applied already (shards recover in parallel).
pub fn recover_functions<C: AsRef<[u8]>>(seq: u64, codes: &[C]) -> Result<(), String> {
    let mut applied = APPLIED
        .lock()
        .map_err(|_| "function recovery poisoned".to_string())?;
    if applied.is_some_and(|a| seq <= a) {
        return Ok(());
    }
    let mut engine = Engine::new().map_err(|e| format!("cannot start Lua: {e}"))?;
    let mut libs = BTreeMap::new();
    for code in codes {
        let code = code.as_ref();
        let fail = |e: CmdError| format!("cannot load a function library: {e}");
        let name = library_name(code).map_err(fail)?;
        let fns = load_in(&mut engine, code).map_err(fail)?;
        let functions = fns.into_iter().map(|(m, _)| m).collect();
        libs.insert(
            name,
            Library {
                code: code.into(),
                functions,
            },
        );
    }
    *libraries()
        .write()
        .map_err(|_| "function registry poisoned".to_string())? = libs;
    EPOCH.fetch_add(1, Ordering::AcqRel);
    SEQ.fetch_max(seq, Ordering::AcqRel);
    *applied = Some(seq);
    Ok(())
}

fn poisoned() -> CmdError {
    CmdError::Internal("function registry poisoned")
}

/// One interpreter's loaded libraries and what loading needs.
pub struct Loaded {
    fenv: Table,
    load: Function,
    pub(super) run: Function,
    /// Lowercased function name -> (callback, flags).
    by_name: hashbrown::HashMap<String, (Function, u32)>,
    epoch: u64,
}

impl Loaded {
    pub fn new(fx: &Table) -> mlua::Result<Loaded> {
        Ok(Loaded {
            fenv: fx.raw_get("fenv")?,
            load: fx.raw_get("load")?,
            run: fx.raw_get("run")?,
            by_name: hashbrown::HashMap::new(),
            epoch: 0,
        })
    }
}

fn err(msg: impl Into<String>) -> CmdError {
    CmdError::Function(msg.into())
}

fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

/// The library name from the code's `#!lua name=...` line.
fn library_name(code: &[u8]) -> Result<String, CmdError> {
    if !code.starts_with(b"#!") {
        return Err(err("Missing library metadata"));
    }
    let Some(nl) = code.iter().position(|&c| c == b'\n') else {
        return Err(err("Invalid library metadata"));
    };
    let mut parts = code[2..nl].split(|&c| c == b' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or_default();
    let mut name = None;
    for p in parts {
        match p.strip_prefix(b"name=") {
            Some(n) => name = Some(n),
            None => {
                return Err(err(format!(
                    "Invalid metadata value given: {}",
                    String::from_utf8_lossy(p)
                )))
            }
        }
    }
    if !engine.eq_ignore_ascii_case(b"lua") {
        return Err(err(format!(
            "Engine '{}' not found",
            String::from_utf8_lossy(engine)
        )));
    }
    let name = name.ok_or_else(|| err("Invalid library metadata"))?;
    if !valid_name(name) {
        return Err(err("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"));
    }
    Ok(String::from_utf8_lossy(name).into_owned())
}

/// Runs a library's code in this interpreter: its functions, or Redis's error.
fn load_in(engine: &mut Engine, code: &[u8]) -> Result<Vec<(FnMeta, Function)>, CmdError> {
    // The shebang line becomes a comment, so lines keep their numbers in errors.
    let mut src = Vec::with_capacity(code.len() + 2);
    src.extend_from_slice(b"--");
    src.extend_from_slice(code);
    let chunk = engine
        .lua
        .load(&src[..])
        .set_name("@user_function")
        .set_mode(mlua::ChunkMode::Text)
        .set_environment(engine.functions.fenv.clone())
        .into_function()
        .map_err(|e| err(format!("Error compiling function: {}", compile_message(&e))))?;
    let set_deadline = |engine: &Engine, d: Option<Instant>| {
        if let Some(mut r) = engine.lua.app_data_mut::<Running>() {
            r.load_deadline = d;
        }
    };
    set_deadline(engine, Some(Instant::now() + LOAD_TIMEOUT));
    let result = engine.functions.load.call::<(bool, Value)>(chunk);
    set_deadline(engine, None);
    let registered = match result {
        Ok((true, Value::Table(t))) => t,
        Ok((false, Value::String(e))) => {
            return Err(err(format!(
                "Error registering functions: {}",
                e.to_string_lossy()
            )))
        }
        Ok((_, other)) => return Err(err(format!("Error registering functions: {other:?}"))),
        Err(e) => return Err(err(format!("Error registering functions: ERR {e}"))),
    };
    let mut fns = Vec::new();
    for entry in registered.sequence_values::<Table>() {
        let entry = entry.map_err(|_| CmdError::Internal("bad function registration"))?;
        let get = || -> mlua::Result<(FnMeta, Function)> {
            let description: Option<mlua::String> = entry.raw_get("description")?;
            Ok((
                FnMeta {
                    name: entry.raw_get("name")?,
                    description: description.map(|d| d.as_bytes().to_vec()),
                    flags: entry.raw_get("flags")?,
                },
                entry.raw_get("callback")?,
            ))
        };
        fns.push(get().map_err(|_| CmdError::Internal("bad function registration"))?);
    }
    if fns.is_empty() {
        return Err(err("No functions registered"));
    }
    Ok(fns)
}

/// Brings this interpreter's libraries up to the registry.
fn refresh(engine: &mut Engine) {
    let epoch = EPOCH.load(Ordering::Acquire);
    if engine.functions.epoch == epoch {
        return;
    }
    let codes: Vec<Arc<[u8]>> = libraries()
        .read()
        .map(|l| l.values().map(|lib| lib.code.clone()).collect())
        .unwrap_or_default();
    engine.functions.by_name.clear();
    for code in codes {
        // Each loaded without error when it was registered.
        if let Ok(fns) = load_in(engine, &code) {
            for (meta, f) in fns {
                let key = meta.name.to_ascii_lowercase();
                engine.functions.by_name.insert(key, (f, meta.flags));
            }
        }
    }
    engine.functions.epoch = epoch;
}

/// FCALL / FCALL_RO (`read_only`), on the shard that owns the function's keys.
pub fn fcall(
    sh: &mut Shard,
    a: &crate::cmd::Args,
    now: u64,
    out: &mut Out,
    read_only: bool,
) -> Result<(), CmdError> {
    let nkeys = super::numkeys(a)?;
    with_engine(sh, |engine, sh| {
        if engine.suspended.is_some() {
            return Err(CmdError::Busy);
        }
        refresh(engine);
        let name = String::from_utf8_lossy(a.get(1)).to_ascii_lowercase();
        let (f, flags) = engine
            .functions
            .by_name
            .get(&name)
            .cloned()
            .ok_or_else(|| err("Function not found"))?;
        if read_only && flags & NO_WRITES == 0 {
            return Err(err(
                "Can not execute a script with write flag using *_ro command.",
            ));
        }
        let label = busy::Label::Function(String::from_utf8_lossy(a.get(1)).into());
        let runner = engine.functions.run.clone();
        let no_writes = flags & NO_WRITES != 0;
        run_script(engine, sh, a, nkeys, f, runner, label, no_writes, now, out)
    })
}

/// Registers libraries (already loaded here without error) under the registry's write lock:
/// fails with nothing changed on a name collision. `replace`: a library of the same name is
/// replaced; `flush`: every other library goes first.
fn commit(
    new: Vec<(String, Arc<[u8]>, Vec<FnMeta>)>,
    replace: bool,
    flush: bool,
) -> Result<State, CmdError> {
    let mut libs = libraries().write().map_err(|_| poisoned())?;
    if flush {
        libs.clear();
    }
    for (i, (name, _, fns)) in new.iter().enumerate() {
        if !replace && libs.contains_key(name) {
            return Err(err(format!("Library '{name}' already exists")));
        }
        let taken = |f: &FnMeta| {
            let key = f.name.to_ascii_lowercase();
            let other_lib = libs.iter().find(|(lib, l)| {
                *lib != name
                    && l.functions
                        .iter()
                        .any(|g| g.name.eq_ignore_ascii_case(&key))
            });
            let other_new = new[..i]
                .iter()
                .any(|(_, _, g)| g.iter().any(|g| g.name.eq_ignore_ascii_case(&key)));
            other_lib.is_some() || other_new
        };
        if let Some(f) = fns.iter().find(|f| taken(f)) {
            return Err(err(format!("Function {} already exists", f.name)));
        }
    }
    for (name, code, functions) in new {
        libs.insert(name, Library { code, functions });
    }
    Ok(changed(&libs))
}

type R = Result<(), CmdError>;

/// FUNCTION LOAD [REPLACE] code.
fn load(sh: &mut Shard, a: &crate::cmd::Args, out: &mut Out) -> R {
    let code = a.get(a.len() - 1);
    let mut replace = false;
    for opt in (2..a.len() - 1).map(|i| a.get(i)) {
        if !eq_ic(opt, "replace") {
            return Err(err(format!(
                "Unknown option given: {}",
                String::from_utf8_lossy(opt)
            )));
        }
        replace = true;
    }
    let name = library_name(code)?;
    let exists = libraries()
        .read()
        .map_err(|_| poisoned())?
        .contains_key(&name);
    if exists && !replace {
        return Err(err(format!("Library '{name}' already exists")));
    }
    let fns = with_engine(sh, |engine, _| load_in(engine, code))?;
    let metas = fns.into_iter().map(|(m, _)| m).collect();
    let state = commit(vec![(name.clone(), code.into(), metas)], replace, false)?;
    log_state(sh, state);
    reply::bulk(out, name.as_bytes());
    Ok(())
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE].
fn list(a: &crate::cmd::Args, out: &mut Out) -> R {
    let (mut pattern, mut with_code) = (None, false);
    let mut i = 2;
    while i < a.len() {
        let opt = a.get(i);
        if eq_ic(opt, "withcode") {
            with_code = true;
        } else if eq_ic(opt, "libraryname") {
            i += 1;
            if i >= a.len() {
                return Err(err("library name argument was not given"));
            }
            pattern = Some(a.get(i).to_ascii_lowercase());
        } else {
            return Err(err(format!(
                "Unknown argument {}",
                String::from_utf8_lossy(opt)
            )));
        }
        i += 1;
    }
    let libs = libraries().read().map_err(|_| poisoned())?;
    let shown: Vec<_> = libs
        .iter()
        .filter(|(name, _)| {
            pattern
                .as_ref()
                .is_none_or(|p| crate::store::glob_match(p, name.to_ascii_lowercase().as_bytes()))
        })
        .collect();
    reply::array(out, shown.len());
    for (name, lib) in shown {
        reply::map(out, if with_code { 4 } else { 3 });
        reply::bulk(out, b"library_name");
        reply::bulk(out, name.as_bytes());
        reply::bulk(out, b"engine");
        reply::bulk(out, b"LUA");
        reply::bulk(out, b"functions");
        reply::array(out, lib.functions.len());
        for f in &lib.functions {
            reply::map(out, 3);
            reply::bulk(out, b"name");
            reply::bulk(out, f.name.as_bytes());
            reply::bulk(out, b"description");
            match &f.description {
                Some(d) => reply::bulk(out, d),
                None => reply::null(out),
            }
            reply::bulk(out, b"flags");
            let set: Vec<_> = FLAGS.iter().filter(|(_, b)| f.flags & b != 0).collect();
            reply::set(out, set.len());
            for (flag, _) in set {
                reply::simple(out, flag.as_bytes());
            }
        }
        if with_code {
            reply::bulk(out, b"library_code");
            reply::bulk(out, &lib.code);
        }
    }
    Ok(())
}

/// FUNCTION DUMP: every library's code as an RDB function opcode, then the RDB version and a
/// CRC64 of it all (the payload redis-server's FUNCTION RESTORE takes).
fn dump(out: &mut Out) -> R {
    let libs = libraries().read().map_err(|_| poisoned())?;
    let mut payload = Vec::new();
    for lib in libs.values() {
        payload.push(OP_FUNCTION2);
        crate::persist::rdb::encode_plain_string(&mut payload, &lib.code);
    }
    payload.extend_from_slice(&DUMP_RDB_VERSION.to_le_bytes());
    let crc = crate::persist::crc64::crc64(0, &payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    reply::bulk(out, &payload);
    Ok(())
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE].
fn restore(sh: &mut Shard, a: &crate::cmd::Args, out: &mut Out) -> R {
    let (mut flush, mut replace) = (false, false);
    if a.len() == 4 {
        let p = a.get(3);
        if eq_ic(p, "flush") {
            flush = true;
        } else if eq_ic(p, "replace") {
            replace = true;
        } else if !eq_ic(p, "append") {
            return Err(err(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ));
        }
    }
    let payload = a.get(2);
    let bad = || err("DUMP payload version or checksum are wrong");
    if payload.len() < 10 {
        return Err(bad());
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..].try_into().map_err(|_| bad())?);
    let computed = crate::persist::crc64::crc64(0, &payload[..payload.len() - 8]);
    if version > DUMP_RDB_VERSION || (crc != 0 && crc != computed) {
        return Err(bad());
    }
    let mut codes = Vec::new();
    let mut at = 0;
    while at < body.len() {
        if body[at] != OP_FUNCTION2 {
            return Err(err("given type is not a function"));
        }
        let (code, used) = crate::persist::rdb::decode_string(&body[at + 1..])
            .map_err(|_| err("payload version or checksum are wrong"))?;
        at += 1 + used;
        codes.push(code);
    }
    let mut new: Vec<(String, Arc<[u8]>, Vec<FnMeta>)> = Vec::new();
    for code in codes {
        let name = library_name(&code)?;
        if new.iter().any(|(n, _, _)| *n == name) {
            return Err(err(format!("Library '{name}' already exists")));
        }
        let fns = with_engine(sh, |engine, _| load_in(engine, &code))?;
        new.push((name, code.into(), fns.into_iter().map(|(m, _)| m).collect()));
    }
    let state = commit(new, replace, flush)?;
    log_state(sh, state);
    reply::ok(out);
    Ok(())
}

/// FUNCTION's subcommands, on the connection's shard.
pub fn function(sh: &mut Shard, a: &crate::cmd::Args, out: &mut Out) -> R {
    let sub = a.get(1).to_ascii_lowercase();
    let arity = || CmdError::WrongArity(format!("function|{}", String::from_utf8_lossy(&sub)));
    match sub.as_slice() {
        b"load" if a.len() >= 3 => load(sh, a, out),
        b"delete" if a.len() == 3 => {
            let name = String::from_utf8_lossy(a.get(2)).into_owned();
            let state = {
                let mut libs = libraries().write().map_err(|_| poisoned())?;
                libs.remove(&name).ok_or_else(|| err("Library not found"))?;
                changed(&libs)
            };
            log_state(sh, state);
            reply::ok(out);
            Ok(())
        }
        b"flush" if a.len() <= 3 => {
            if a.len() == 3 && !eq_ic(a.get(2), "async") && !eq_ic(a.get(2), "sync") {
                return Err(err("FUNCTION FLUSH only supports SYNC|ASYNC option"));
            }
            let state = {
                let mut libs = libraries().write().map_err(|_| poisoned())?;
                libs.clear();
                changed(&libs)
            };
            log_state(sh, state);
            reply::ok(out);
            Ok(())
        }
        b"list" => list(a, out),
        b"stats" if a.len() == 2 => {
            let libs = libraries().read().map_err(|_| poisoned())?;
            let functions: usize = libs.values().map(|l| l.functions.len()).sum();
            reply::map(out, 2);
            reply::bulk(out, b"running_script");
            match busy::running_function() {
                Some((args, ms)) => {
                    reply::map(out, 3);
                    reply::bulk(out, b"name");
                    reply::bulk(out, args.get(1).map_or(&b""[..], Vec::as_slice));
                    reply::bulk(out, b"command");
                    reply::array(out, args.len());
                    for a in &args {
                        reply::bulk(out, a);
                    }
                    reply::bulk(out, b"duration_ms");
                    reply::int(out, ms as i64);
                }
                None => reply::null(out),
            }
            reply::bulk(out, b"engines");
            reply::map(out, 1);
            reply::bulk(out, b"LUA");
            reply::map(out, 2);
            reply::bulk(out, b"libraries_count");
            reply::int(out, libs.len() as i64);
            reply::bulk(out, b"functions_count");
            reply::int(out, functions as i64);
            Ok(())
        }
        b"kill" if a.len() == 2 => {
            busy::kill()?;
            reply::ok(out);
            Ok(())
        }
        b"dump" if a.len() == 2 => dump(out),
        b"restore" if a.len() == 3 || a.len() == 4 => restore(sh, a, out),
        b"help" if a.len() == 2 => {
            reply::array(out, HELP.len());
            for l in HELP {
                reply::simple(out, l.as_bytes());
            }
            Ok(())
        }
        b"load" | b"delete" | b"flush" | b"stats" | b"kill" | b"dump" | b"restore" | b"help" => {
            Err(arity())
        }
        _ => Err(CmdError::UnknownSubcommand {
            cmd: "FUNCTION",
            sub: a.get(1).to_vec(),
        }),
    }
}

const HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];
