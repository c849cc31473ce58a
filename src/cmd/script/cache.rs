//! The script cache: one process-wide registry of bodies by sha (SCRIPT LOAD, the first EVAL
//! of a body), read when a shard meets a sha it has not compiled, and the SCRIPT command.

use super::{busy, sha1hex, Sha, Shard, EPOCH};
use crate::cmd::Args;
use crate::error::CmdError;
use crate::resp::reply;
use crate::resp::reply::Out;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, RwLock};

pub(super) fn registry() -> &'static RwLock<HashMap<Sha, Arc<[u8]>>> {
    static R: OnceLock<RwLock<HashMap<Sha, Arc<[u8]>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Scripts in the registry and the bytes of their bodies (INFO memory).
pub fn cached_scripts() -> (u64, u64) {
    registry().read().map_or((0, 0), |r| {
        (r.len() as u64, r.values().map(|b| b.len() as u64).sum())
    })
}

pub(super) fn register(sha: &Sha, body: Arc<[u8]>) {
    if let Ok(mut r) = registry().write() {
        r.entry(*sha).or_insert(body);
    }
}

/// SCRIPT LOAD | EXISTS | FLUSH | KILL | HELP, on the connection's shard.
pub fn script(sh: &mut Shard, a: &Args, out: &mut Out) -> Result<(), CmdError> {
    let sub = a.get(1).to_ascii_lowercase();
    let unknown = || CmdError::UnknownSubcommand {
        cmd: "SCRIPT",
        sub: a.get(1).to_vec(),
    };
    match (sub.as_slice(), a.len()) {
        (b"load", 3) => {
            let sha = sha1hex(a.get(2));
            super::with_engine(sh, |engine, _| engine.compile(&sha, a.get(2)))?;
            register(&sha, a.get(2).into());
            reply::bulk(out, &sha);
        }
        (b"exists", n) if n >= 3 => {
            let r = registry()
                .read()
                .map_err(|_| CmdError::Internal("script registry poisoned"))?;
            reply::array(out, n - 2);
            for i in 2..n {
                let given = a.get(i);
                let mut s = [0u8; 40];
                let found = given.len() == 40 && {
                    for (d, c) in s.iter_mut().zip(given) {
                        *d = c.to_ascii_lowercase();
                    }
                    r.contains_key(&s)
                };
                reply::int(out, found as i64);
            }
        }
        (b"flush", 2) | (b"flush", 3) => {
            if a.len() == 3 {
                let mode = a.get(2).to_ascii_lowercase();
                if mode != b"async" && mode != b"sync" {
                    return Err(CmdError::ScriptFlushMode);
                }
            }
            if let Ok(mut r) = registry().write() {
                r.clear();
            }
            EPOCH.fetch_add(1, Ordering::AcqRel);
            if let Some(e) = sh.scripts.as_mut() {
                e.compiled.clear();
            }
            reply::ok(out);
        }
        (b"kill", 2) => {
            // The hook stops it at its next check.
            busy::kill()?;
            reply::ok(out);
        }
        (b"help", 2) => {
            let lines: &[&[u8]] = &[
                b"SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                b"DEBUG (YES|SYNC|NO)",
                b"    Set the debug mode for subsequent scripts executed.",
                b"EXISTS <sha1> [<sha1> ...]",
                b"    Return information about the existence of the scripts in the script cache.",
                b"FLUSH [ASYNC|SYNC]",
                b"    Flush the Lua scripts cache. Very dangerous on replicas.",
                b"    When called without the optional mode argument, the behavior is determined by the",
                b"    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
                b"    * ASYNC: Asynchronously flush the scripts cache.",
                b"    * SYNC: Synchronously flush the scripts cache.",
                b"KILL",
                b"    Kill the currently executing Lua script.",
                b"LOAD <script>",
                b"    Load a script into the scripts cache without executing it.",
                b"HELP",
                b"    Prints this help.",
            ];
            reply::array(out, lines.len());
            for l in lines {
                reply::simple(out, l);
            }
        }
        (b"load" | b"exists" | b"flush" | b"kill" | b"help", _) => {
            return Err(CmdError::WrongArity(format!(
                "script|{}",
                String::from_utf8_lossy(&sub)
            )))
        }
        _ => return Err(unknown()),
    }
    Ok(())
}
